"""Child-process hygiene shared by everything that spawns processes."""

from __future__ import annotations

import ctypes
import ctypes.util
import signal
import sys

_PR_SET_PDEATHSIG = 1


def child_preexec() -> None:
    """Run in a child before exec: on Linux, have the kernel send it SIGTERM when its parent
    dies, so engines and supervisors never outlive a killed demo or supervisor."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
