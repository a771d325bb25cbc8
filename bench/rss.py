"""Peak resident memory of a process tree, sampled from a separate process.

``python -m bench.rss PID INTERVAL`` prints the tree's RSS (bytes) once it is ready,
samples it every INTERVAL seconds until its standard input closes, then prints the
peak.  Sampling from the runner's own process (a thread) held the runner's GIL while
the client timed a response's first byte: walking /proc costs milliseconds, and more
for a server with more processes (ssikg's workers), so the sampler itself skewed the
first-byte comparison.  Here it costs the client nothing; the tree's members are
looked up again every 0.1 s (a worker may be replaced) and each sample reads one small
/proc file per member.
"""

from __future__ import annotations

import os
import sys
import threading
import time

import psutil

PAGE = os.sysconf("SC_PAGE_SIZE")


def members(pid: int) -> list[int]:
    try:
        root = psutil.Process(pid)
        return [pid, *(child.pid for child in root.children(recursive=True))]
    except psutil.Error:
        return []


def rss(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", "rb") as statm:
                total += int(statm.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):  # a process may end while being sampled
            pass
    return total


def sample(pid: int, interval: float, stop: threading.Event) -> int:
    pids, looked_up = members(pid), time.monotonic()
    peak = rss(pids)
    while not stop.wait(interval):
        if time.monotonic() - looked_up > 0.1:
            pids, looked_up = members(pid), time.monotonic()
        peak = max(peak, rss(pids))
    return max(peak, rss(members(pid)))


def main(argv: list[str]) -> None:
    pid, interval = int(argv[0]), float(argv[1])
    stop = threading.Event()
    print(rss(members(pid)), flush=True)
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    print(sample(pid, interval, stop), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
