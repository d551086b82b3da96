"""CPU time used by a process tree, from /proc: robust where req/s is not.

Other work on a shared machine steals cores and lowers req/s, but barely changes how much CPU
one request costs. CPU per request is what to compare between runs and between code versions.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    with contextlib.suppress(OSError):
        # The command name is in parentheses and may contain spaces; fields after it are fixed.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return None


def children(pid: int) -> list[int]:
    """The direct children of `pid`."""
    found = [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None and fields[1] == str(pid)
    ]
    return sorted(found)


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` and its live descendants, plus what its reaped children used."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        fields = _stat(current)
        if fields is None:
            continue
        # utime, stime, cutime, cstime are fields 14-17 of /proc/PID/stat (index 11-14 after the name).
        total += sum(int(value) for value in fields[11:15]) / _TICKS
        pending.extend(children(current))
    return total


def connections_per_process(pids: list[int], port: int) -> list[int]:
    """How many established TCP connections to local `port` each of `pids` holds (from /proc).

    gunicorn's workers accept from one shared socket, and wrk opens all its connections at once: one
    worker can take most of them. Its requests then wait behind more neighbours than the other's,
    which shows in p99 while both workers are equally busy.
    """
    established = "01"
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == established and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    counts = []
    for pid in pids:
        count = 0
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = str(fd.readlink())
                    if target.startswith("socket:[") and target[8:-1] in inodes:
                        count += 1
        counts.append(count)
    return counts


def machine_cpu_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot, from the first line of /proc/stat.

    Two readings around a run give the share of every core that was busy, whoever used it: whether
    the CPU was full (issue 17's "scales until the CPU is full") is a property of the machine.
    """
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # noqa: PLR2004 - idle and iowait
    # guest and guest_nice (fields 9 and 10) are already counted in user and nice.
    total = sum(fields[:8])
    return total - idle, total
