#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
Call cycles between the source files of src/ (docs/architecture.md: every
file calls only downwards).  Reads the object files of a build: a file
"calls" another when it uses a function the other defines (nm).  Prints
every strongly connected component of more than one file and exits 1 if
there is one.

  file-cycles.py BUILD_DIR
"""
import os
import subprocess
import sys


def objects(build):
    for dirpath, _, files in os.walk(os.path.join(build, "src")):
        for f in files:
            if f.endswith(".c.o"):
                yield os.path.join(dirpath, f)


def source_name(obj):
    # src/libdc-core.a.p/core_host.c.o -> core/host.c
    base = os.path.basename(obj)[:-2]
    d, _, f = base.partition("_")
    return d + "/" + f


def main():
    build = sys.argv[1]
    defined, used = {}, {}
    for obj in objects(build):
        name = source_name(obj)
        out = subprocess.run(["nm", "--defined-only", "-g", obj], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in "TDBR":
                defined.setdefault(parts[2], set()).add(name)
        out = subprocess.run(["nm", "-u", obj], capture_output=True, text=True, check=True).stdout
        used[name] = {line.split()[-1] for line in out.splitlines() if line.strip()}
    graph = {f: set() for f in used}
    for f, syms in used.items():
        for s in syms:
            for g in defined.get(s, ()):
                if g != f:
                    graph[f].add(g)
    # Tarjan's strongly connected components.
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    for comp in sccs:
        print("cycle: " + " <-> ".join(comp))
        for f in comp:
            print("  %s -> %s" % (f, ", ".join(sorted(g for g in graph[f] if g in comp))))
    return 1 if sccs else 0


if __name__ == "__main__":
    sys.exit(main())
