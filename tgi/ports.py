"""Engine ports: which port each engine gets, and why two supervisors never pick the same.

TGI, vLLM and the stand-in cannot be told "bind any free port and tell me which" (their
URL must be known before they answer), so the supervisor picks a port and passes it on.
A port that is free when it is picked is not bound until the engine has loaded (seconds
for the stand-in, minutes for TGI), so two supervisors on one machine (two demos, a
test run next to a demo) checking "is it free?" would both see the same port free and
hand it to both engines: one engine then fails to bind, and the other supervisor's probe
finds an engine serving the same model on that port and takes it for its own.

So a port is *claimed* before it is checked: an exclusive `flock` on a file named after
the port in a directory every supervisor on the machine shares (the system's temporary
directory), held for as long as an engine of this supervisor holds the port. The kernel
drops the lock when the supervisor exits, however it exits, so no claim outlives it. A
port is handed out only when this process holds the claim and nothing has bound it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import tempfile
import weakref
from collections.abc import Collection
from pathlib import Path

log = logging.getLogger("tgi.supervisor")

CLAIMS_DIR_NAME = "oellm-arena-engine-ports"
LAST_PORT = 65535


def default_claims_dir() -> Path:
    """The directory every supervisor on this machine claims engine ports in."""
    return Path(tempfile.gettempdir()) / CLAIMS_DIR_NAME


def port_is_free(host: str, port: int) -> bool:
    """Can a server bind `port` now? (SO_REUSEADDR, like the servers, so TIME_WAIT is free.)"""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


class EnginePorts:
    """The engine ports of one supervisor, claimed machine-wide (see the module docs)."""

    def __init__(self, host: str, first: int, claims_dir: Path | None = None) -> None:
        self.host = host
        self.first = first
        self._claims: dict[int, int] = {}  # port -> the open file descriptor holding its lock
        self._dir: Path | None = self._prepare(claims_dir or default_claims_dir())
        # A supervisor dropped without `close` (tests) still lets go of its claims.
        weakref.finalize(self, _close_all, self._claims)

    @staticmethod
    def _prepare(directory: Path) -> Path | None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(PermissionError):  # another user's directory: use it
                directory.chmod(0o1777)  # shared by every user's supervisors, like /tmp
        except OSError as exc:
            log.warning(
                "cannot claim engine ports in %s (%s): another supervisor on this machine "
                "may pick the same port",
                directory,
                exc,
            )
            return None
        return directory

    def claim(self) -> int:
        """The first port from `first` that no supervisor claims and nothing has bound;
        claimed until `keep_only` lets go of it."""
        for port in range(self.first, LAST_PORT + 1):
            if port in self._claims or not self._lock(port):
                continue
            if port_is_free(self.host, port):
                return port
            self._unlock(port)  # bound by something that is no engine of ours: skip it
        raise RuntimeError(f"no free port from {self.first} for an engine")

    def keep_only(self, ports: Collection[int]) -> None:
        """Let go of every claimed port not in `ports` (the ports engines still hold)."""
        for port in [p for p in self._claims if p not in ports]:
            self._unlock(port)

    def claimed(self) -> set[int]:
        return set(self._claims)

    def close(self) -> None:
        self.keep_only(())

    def _lock(self, port: int) -> bool:
        if self._dir is None:  # no shared directory: claims are this process's own
            self._claims[port] = -1
            return True
        try:
            fd = os.open(self._dir / f"{port}.lock", os.O_RDONLY | os.O_CREAT, 0o644)
        except OSError:
            return False  # another user's lock file we may not open: theirs
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False  # another supervisor holds it
        self._claims[port] = fd
        return True

    def _unlock(self, port: int) -> None:
        fd = self._claims.pop(port)
        if fd >= 0:
            os.close(fd)  # closing the descriptor drops the lock


def _close_all(claims: dict[int, int]) -> None:
    for fd in claims.values():
        if fd >= 0:
            os.close(fd)
    claims.clear()
