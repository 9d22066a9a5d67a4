#!/usr/bin/env python3
"""Run a command and print its peak memory, the file mapping apart.

`peak_rss.py -- CMD ARGS...` polls /proc/PID/status every millisecond for
RssAnon (heap, stacks: what the process allocates) and RssFile (pages of
mapped files: a memory-mapped capture counts here, and is page cache that
other readers share), and takes the peak RSS (VmHWM) from the kernel at the
end. Prints one line: `peak RSS X MiB (anonymous Y MiB, file-backed Z MiB)`;
the two parts are the largest seen while polling.
"""
import os
import subprocess
import sys
import time


def field(status: str, name: str) -> int:
    for line in status.splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


def main() -> int:
    cmd = sys.argv[sys.argv.index("--") + 1 :]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    anon = file = 0
    path = f"/proc/{p.pid}/status"
    while True:
        pid, status, usage = os.wait4(p.pid, os.WNOHANG)
        if pid != 0:
            break
        try:
            with open(path) as f:
                s = f.read()
            anon = max(anon, field(s, "RssAnon"))
            file = max(file, field(s, "RssFile"))
        except OSError:
            pass
        time.sleep(0.001)
    hwm = usage.ru_maxrss
    code = os.waitstatus_to_exitcode(status)
    print(f"peak RSS {hwm / 1024:.0f} MiB (anonymous {anon / 1024:.0f} MiB, "
          f"file-backed {file / 1024:.0f} MiB)")
    return code


if __name__ == "__main__":
    sys.exit(main())
