#!/usr/bin/env python3
"""check-layers.py [OBJDIR | BIN] - hold the code to its house plan (docs/DESIGN.md).

Four rules, each printed as "ok" or with every offender, from the source tree
and the object files the build left in OBJDIR (default build/test; given the
binary BIN, the folder it was linked in, as tests/run-all.sh passes it):

  includes  a file includes only headers of its own folder or of a lower layer
            (LAYERS below); siblings on one layer never include each other.
  cycles    no two modules (folder/name: .c, .h and a private _internal.h
            together) include each other or call each other, directly or
            through others.
  calls     from the symbol tables: no object calls or reads a symbol defined
            in a higher layer or a sibling folder; in engine/, a primitive
            never uses what an operation (engine/op_*.c) defines, and no
            operation uses another operation's symbols.
  sizes     no source file above MAX_LINES lines unless listed in WHOLE with
            the reason it reads better whole.

Exit 0 when every rule holds, 1 otherwise, 2 on a usage error. The last line
is "LAYERS: N passed, M failed" (one per rule) for tests/run-all.sh.
"""
import os
import re
import subprocess
import sys

# Lowest first. A folder may use its own layer's folder and any lower layer.
LAYERS = [
    ["common"],            # err, fsutil, failpoint, clock: no project includes
    ["db"],                # SQLite catalog: the only place with SQL
    ["engine"],            # store, capture, archive; operations in op_*.c
    ["offsite", "alerts"],  # outbound services on top of the engine
    ["conf"],              # the config file: top level, then each module's section
    ["routes", "cli"],     # the two fronts' logic (routes never see libmicrohttpd)
    ["server"],            # the HTTP daemon, jobs, metrics; main.c composes all
]
MAX_LINES = 800
# Files that are one concern and read better whole: path -> why.
WHOLE = {
}

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RANK = {d: i for i, layer in enumerate(LAYERS) for d in layer}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def sources():
    for d in RANK:
        top = os.path.join(REPO, d)
        if not os.path.isdir(top):
            continue
        for name in sorted(os.listdir(top)):
            if name.endswith((".c", ".h")):
                yield d + "/" + name


def folder(path):
    return path.split("/", 1)[0]


def module(path):
    """folder/name: a .c with its .h, and a private NAME_internal.h with NAME."""
    m = os.path.splitext(path)[0]
    return m[:-len("_internal")] if m.endswith("_internal") else m


def is_op(path):
    return path.startswith("engine/op_") and path.endswith(".c")


def includes_of(path):
    """The project headers PATH includes, as repo-relative paths."""
    with open(os.path.join(REPO, path), encoding="utf-8") as f:
        text = f.read()
    out = []
    for inc in INCLUDE.findall(text):
        target = os.path.normpath(os.path.join(os.path.dirname(path), inc))
        if os.path.exists(os.path.join(REPO, target)):
            out.append(target)
    return out


def may_use(user, used):
    """Whether a file in USER's folder may use one in USED's folder."""
    fu, fd = folder(user), folder(used)
    if fu == fd:
        return True
    if fd not in RANK:
        return True      # not a layered folder (tests, generated)
    return RANK[fd] < RANK[fu]


def check_includes(files):
    bad = []
    for f in files:
        for t in includes_of(f):
            if not may_use(f, t):
                bad.append("%s includes %s (%s is not below %s)" % (f, t, folder(t), folder(f)))
    return bad


def include_graph(files):
    graph = {}
    for f in files:
        m = module(f)
        graph.setdefault(m, set())
        for t in includes_of(f):
            if module(t) != m:
                graph[m].add(module(t))
    return graph


def call_graph(syms):
    owner = {}
    for f, (defined, _) in syms.items():
        for s in defined:
            owner.setdefault(s, f)
    graph = {}
    for f, (_, undefined) in syms.items():
        m = module(f)
        graph.setdefault(m, set())
        for s in undefined:
            d = owner.get(s)
            if d is not None and module(d) != m:
                graph[m].add(module(d))
    return graph


def circles(graph):
    # Tarjan's strongly connected components; any with two or more modules is a circle.
    index, low, stack, on, sccs, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
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
    return sccs


def check_cycles(files, syms):
    bad = ["modules include each other: " + " <-> ".join(c) for c in circles(include_graph(files))]
    bad += ["modules call each other: " + " <-> ".join(c) for c in circles(call_graph(syms))]
    return bad


def symbols(objdir, files):
    """{object path: (defined set, undefined set)} from nm, for each .c in FILES."""
    out = {}
    for f in files:
        if not f.endswith(".c"):
            continue
        obj = os.path.join(objdir, f[:-2] + ".o")
        if not os.path.exists(obj):
            raise SystemExit("check-layers: %s is missing (build first: make build/test/statesnap)" % obj)
        nm = subprocess.run(["nm", "-P", obj], capture_output=True, text=True, check=True).stdout
        defined, undefined = set(), set()
        for line in nm.splitlines():
            parts = line.split()
            if len(parts) < 2:
                continue
            name, kind = parts[0], parts[1]
            if kind == "U":
                undefined.add(name)
            elif kind in "TDBRCGSV":     # global text, data, bss, rodata, common, small
                defined.add(name)
        out[f] = (defined, undefined)
    return out


def check_calls(syms):
    owner = {}
    for f, (defined, _) in syms.items():
        for s in defined:
            owner.setdefault(s, f)
    bad = []
    for f, (_, undefined) in sorted(syms.items()):
        for s in sorted(undefined):
            d = owner.get(s)
            if d is None or d == f:
                continue
            if not may_use(f, d):
                bad.append("%s uses %s from %s" % (f, s, d))
            elif folder(f) == "engine" and is_op(d) and not is_op(f):
                bad.append("%s (a primitive) uses %s from the operation %s" % (f, s, d))
            elif is_op(f) and is_op(d):
                bad.append("%s uses %s from another operation, %s" % (f, s, d))
    return bad


def check_sizes(files):
    bad = []
    for f in files:
        if not f.endswith(".c"):
            continue
        with open(os.path.join(REPO, f), encoding="utf-8") as fh:
            n = sum(1 for _ in fh)
        if n > MAX_LINES and f not in WHOLE:
            bad.append("%s has %d lines (over %d; split it by concern or list it in WHOLE with why)"
                       % (f, n, MAX_LINES))
    return bad


def main(argv):
    if len(argv) > 2:
        print("usage: scripts/check-layers.py [OBJDIR | BIN]", file=sys.stderr)
        return 2
    objdir = argv[1] if len(argv) == 2 else os.path.join(REPO, "build", "test")
    if os.path.isfile(objdir):
        objdir = os.path.dirname(os.path.abspath(objdir))
    files = list(sources())
    syms = symbols(objdir, files)
    results = [
        ("includes", check_includes(files)),
        ("cycles", check_cycles(files, syms)),
        ("calls", check_calls(syms)),
        ("sizes", check_sizes(files)),
    ]
    failed = 0
    for name, bad in results:
        if bad:
            failed += 1
            print("%s: %d problem%s" % (name, len(bad), "" if len(bad) == 1 else "s"))
            for b in bad:
                print("  " + b)
        else:
            print("%s: ok" % name)
    print("LAYERS: %d passed, %d failed" % (len(results) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
