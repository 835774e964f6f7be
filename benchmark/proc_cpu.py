"""CPU time of the server, of the processes it started, and of this client, from /proc.

A load test on a small machine shares its cores between the web app, the engines and the
simulated voters (and whatever else runs there: `other_cpu_share`); the shares say which
of them was busy. A share is CPU seconds over wall
seconds of the measured window, so 1.0 is one core fully used.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (its finished children not included)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, grandchildren, ...)."""
    found: list[int] = []
    stack = [pid]
    while stack:
        parent = stack.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except (FileNotFoundError, ProcessLookupError):
                continue
            found.extend(kids)
            stack.extend(kids)
    return found


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (everything but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / _TICK


class CpuMeter:
    """CPU shares of a server process, its descendants and this process over a window."""

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid
        self._start: tuple[float, float, dict[int, float], float, float] | None = None
        self._shares: dict[str, float | None] = {
            "server_cpu_share": None,
            "engines_cpu_share": None,
            "client_cpu_share": None,
            "other_cpu_share": None,
        }

    def _sample(self) -> tuple[float, float, dict[int, float], float, float]:
        pid = self.server_pid
        server = cpu_seconds(pid) if pid else 0.0
        kids = {k: cpu_seconds(k) for k in descendants(pid)} if pid else {}
        return time.monotonic(), server, kids, time.process_time(), machine_busy_seconds()

    def start(self) -> None:
        self._start = self._sample()

    def stop(self) -> None:
        if self._start is None:
            return
        t0, server0, kids0, own0, busy0 = self._start
        t1, server1, kids1, own1, busy1 = self._sample()
        wall = max(t1 - t0, 1e-9)
        server = server1 - server0
        engines = sum(v - kids0.get(k, 0.0) for k, v in kids1.items())
        own = own1 - own0
        self._shares["client_cpu_share"] = round(own / wall, 3)
        if self.server_pid:
            self._shares["server_cpu_share"] = round(server / wall, 3)
            self._shares["engines_cpu_share"] = round(engines / wall, 3)
        # Whatever else ran on the machine meanwhile (other users, tests): noise to report.
        other = (busy1 - busy0) - server - engines - own
        self._shares["other_cpu_share"] = round(max(other, 0.0) / wall, 3)

    def shares(self) -> dict[str, float | None]:
        return dict(self._shares)
