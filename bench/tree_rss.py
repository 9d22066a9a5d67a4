#!/usr/bin/env python3
"""Run a command; print its wall time and the peak RSS of its process tree.

`tree_rss.py [--limit S] -- CMD ARGS...` polls every 250 ms the summed
resident set of the command and every process below it (Spark's JVM is a
child of the Python driver), so that engines that fork count whole. Prints
one line: `wall X s, peak RSS Y MiB (process tree)`. Exits with the
command's status; past `--limit` seconds the whole tree is killed, the
line says so and the exit status is 124.
"""
import os
import signal
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
    sep = sys.argv.index("--")
    limit = float(sys.argv[sys.argv.index("--limit") + 1]) if "--limit" in sys.argv[:sep] else None
    cmd = sys.argv[sep + 1 :]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, start_new_session=True)
    peak = 0
    while p.poll() is None:
        peak = max(peak, tree_rss_kib(p.pid))
        if limit is not None and time.monotonic() - t0 > limit:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            print(f"stopped after {limit:.0f} s (did not finish), peak RSS {peak / 1024:.0f} MiB (process tree)")
            return 124
        time.sleep(0.25)
    wall = time.monotonic() - t0
    print(f"wall {wall:.1f} s, peak RSS {peak / 1024:.0f} MiB (process tree)")
    return p.returncode


if __name__ == "__main__":
    sys.exit(main())
