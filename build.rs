//! tch links libtorch but writes no rpath; without one every binary, test and bench fails
//! to start (`libtorch_cpu.so: cannot open`). Point the runtime linker at `$LIBTORCH/lib`.

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-changed=build.rs");
    if let Ok(dir) = std::env::var("LIBTORCH") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}/lib");
    }
}
