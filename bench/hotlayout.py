#!/usr/bin/env python3
"""Regenerate the list of hot functions in csrc/layout.ld.

Usage: bench/hotlayout.py LIBDIR   (LIBDIR holds the libraft.so that
bench/bench runs with, built from the current source; run from the repo root)

Runs a few small bench runs under callgrind, collects the functions of
libraft.so that executed and writes them, without their symbol hashes, between
the HOT markers of csrc/layout.ld: first those of plain cluster runs, then those
snapshots and catch-up add. Rebuild afterwards. Rerun it when functions are
added or renamed: a hot function missing from the list lands among the cold
code and keeps another 64 KB window of text resident.
"""
import os
import re
import subprocess
import sys
import tempfile

GROUPS = [
    [
        "-s heartbeat -n 101 -r 30",
        "-s election -n 101 -r 2",
        "-s replicate -n 3 -a 0 -e 2000",
        "-s replicate -n 3 -a 1 -e 2000",
        "-s replicate -n 101 -a 1 -e 50",
        "-s lookup -n 3 -r 1000",
    ],
    ["-s snapshot -n 3 -a 1 -l 2000 -r 2", "-s catchup -n 3 -a 0 -l 3000"],
]
BEGIN, END = "/* HOT BEGIN (bench/hotlayout.py) */", "/* HOT END */"


def executed(cg):
    """Names (or 0x addresses) of libraft.so functions with cost in `cg`."""
    names, obs, fns, cur = set(), {}, {}, None
    for line in open(cg):
        m = re.match(r"^(c?ob|c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if not m:
            continue
        kind, i, name = m.groups()
        table = obs if kind.endswith("ob") else fns
        if name:
            table[i] = name
        if kind == "ob":
            cur = obs[i]
        elif kind == "fn" and cur and cur.endswith("libraft.so"):
            names.add(re.sub(r"'\d+$", "", fns[i]))
    return names


def symbols(lib):
    """(address, demangled, mangled) of every text symbol of `lib`."""
    out = []
    for flags in (["-C"], []):
        run = subprocess.run(["nm", "--defined-only", *flags, lib], capture_output=True, text=True)
        out.append(run.stdout.splitlines())
    syms = []
    for d, r in zip(*out):
        p, q = d.split(" ", 2), r.split(" ", 2)
        if len(p) == 3 and p[1] in "tT":
            syms.append((int(p[0], 16), p[2], q[2]))
    return sorted(syms)


def pattern(mangled):
    """The symbol without its hash, as a linker-script wildcard."""
    if mangled.startswith("_ZN"):
        return re.sub(r"17h[0-9a-f]{16}E$", "17h*", mangled)
    if mangled.startswith("_R"):
        return re.sub(r"Cs[0-9A-Za-z]+_", "Cs*_", mangled)
    return mangled


def main():
    libdir = os.path.abspath(sys.argv[1])
    lib = os.path.join(libdir, "libraft.so")
    env = dict(os.environ, LD_LIBRARY_PATH=libdir)
    syms, seen, lines = symbols(lib), set(), []
    with tempfile.TemporaryDirectory() as tmp:
        for g, runs in enumerate(GROUPS):
            names = set()
            for k, args in enumerate(runs):
                cg = os.path.join(tmp, f"{g}-{k}.cg")
                cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={cg}", "bench/bench"]
                subprocess.run(cmd + args.split(), env=env, check=True, capture_output=True)
                names |= executed(cg)
            addrs = {a for a, d, _ in syms if d in names or "0x%016x" % a in names}
            for a, _, m in syms:
                p = pattern(m)
                if a in addrs and p not in seen and "ARGV_INIT_ARRAY" not in p:
                    seen.add(p)
                    lines.append(f"    *(.text.{p} .text.unlikely.{p})")
    path = "csrc/layout.ld"
    text = open(path).read()
    head, rest = text.split(BEGIN)
    tail = rest.split(END)[1]
    open(path, "w").write(head + BEGIN + "\n" + "\n".join(lines) + "\n    " + END + tail)
    print(f"{len(lines)} hot functions written to {path}")


if __name__ == "__main__":
    main()
