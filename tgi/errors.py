"""The errors the supervisor reports; `kind` and `http_status` are a stable API.

The HTTP API answers `{"error": message, "kind": kind}` with `http_status`, and the app
maps `kind` to what a voter reads (`app/arena/engines.py`).
"""

from __future__ import annotations

from typing import ClassVar


class SupervisorError(Exception):
    """Base of every error the supervisor reports."""

    kind: ClassVar[str] = "supervisor_error"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, *, log_tail: list[str] | None = None) -> None:
        super().__init__(message)
        self.log_tail = log_tail or []


class BadRequest(SupervisorError):
    kind = "bad_request"
    http_status = 400


class UnknownModel(SupervisorError):
    kind = "unknown_model"
    http_status = 404


class UnknownLease(SupervisorError):
    kind = "unknown_lease"
    http_status = 404


class EngineFailed(SupervisorError):
    """The engine for a requested model failed to start or died; `log_tail` says why."""

    kind = "engine_failed"
    http_status = 503


class ShuttingDown(SupervisorError):
    kind = "shutting_down"
    http_status = 503


class AcquireTimeout(SupervisorError):
    kind = "timeout"
    http_status = 504
