"""The ten longest functions and the ten largest files under src/ at a git revision, for
closing notes (issue 23). Functions are measured from their `fn` line to the brace that
closes them, by counting braces: a heuristic, good enough to compare two revisions.

    python3 scripts/lib/longest.py REV
"""
import re,subprocess,sys
rev=sys.argv[1]
files=subprocess.run(['git','ls-tree','-r','--name-only',rev,'src'],capture_output=True,text=True).stdout.split()
fns=[];sizes=[]
for f in files:
    if not f.endswith('.rs'): continue
    text=subprocess.run(['git','show',f'{rev}:{f}'],capture_output=True,text=True).stdout
    lines=text.split('\n'); sizes.append((len(lines)-1,f))
    i=0
    while i<len(lines):
        m=re.match(r'\s*(pub(\([^)]*\))? )?(async )?fn (\w+)',lines[i])
        if m and not lines[i].strip().startswith('//'):
            depth=0; started=False; j=i
            while j<len(lines):
                for ch in lines[j]:
                    if ch=='{': depth+=1; started=True
                    elif ch=='}': depth-=1
                if started and depth==0: break
                if not started and lines[j].rstrip().endswith(';'): break
                j+=1
            if started: fns.append((j-i+1,f"{f}:{i+1} {m.group(4)}"))
            i+=1
        else: i+=1
fns.sort(reverse=True); sizes.sort(reverse=True)
print("functions:"); [print(f"  {n:4d} {w}") for n,w in fns[:10]]
print("files:"); [print(f"  {n:4d} {w}") for n,w in sizes[:10]]
