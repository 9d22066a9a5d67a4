#!/usr/bin/env python3
"""Run a command; print its wall time and the peak RSS of its process tree.

`tree_rss.py -- CMD ARGS...` polls every 20 ms the summed resident set of
the command and every process below it (Spark's JVM is a child of the
Python driver), so that engines that fork count whole. Prints one line:
`wall X s, peak RSS Y MiB (process tree)`. Exits with the command's status.
"""
import os
import subprocess
import sys
import time


def tree_rss_kib(root: int) -> int:
    children = {}
    rss = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
            with open(f"/proc/{d}/status") as f:
                status = f.read()
        except OSError:
            continue
        ppid = int(st.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(d))
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss[int(d)] = int(line.split()[1])
    total, todo = 0, [root]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(children.get(p, []))
    return total


def main() -> int:
    cmd = sys.argv[sys.argv.index("--") + 1 :]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    peak = 0
    while p.poll() is None:
        peak = max(peak, tree_rss_kib(p.pid))
        time.sleep(0.02)
    wall = time.monotonic() - t0
    print(f"wall {wall:.1f} s, peak RSS {peak / 1024:.0f} MiB (process tree)")
    return p.returncode


if __name__ == "__main__":
    sys.exit(main())
