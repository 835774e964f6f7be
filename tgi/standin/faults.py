"""Fault injection for the stand-in engine: what can go wrong, and when.

Specs (one at a time; `--fault SPEC` at start-up, or `POST /standin/fault` at runtime):

| spec             | effect on each generation request                                          |
|------------------|----------------------------------------------------------------------------|
| `error:STATUS`   | answer HTTP STATUS with TGI's ErrorResponse before anything is streamed     |
| `overloaded`     | what TGI does when its queue is full: 429 `Model is overloaded` on          |
|                  | `/generate`; HTTP 200 and one in-stream error event on streaming routes     |
| `disconnect:N`   | stream N tokens, then close the TCP connection (no final event, no last    |
|                  | chunk: the client sees an incomplete chunked read)                          |
| `stream-error:N` | stream N tokens, then TGI's in-stream error event (error_type `generation`)|
| `stall:N`        | stream N tokens, then stay silent with the connection open                  |
| `never-ready`    | process-level (start-up only): the port never opens, the process lives     |
| `exit:N`         | process-level: the process exits with status 1 after N seconds             |

N for the stream faults is clamped to (tokens - 1), so the final event is never sent.
On `/generate` (no stream) the stream faults wait as long as N tokens would take, then
drop the connection / answer 424 / hang.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SPEC = re.compile(
    r"^(?:(?P<flag>overloaded|never-ready)"
    r"|(?P<kind>error|disconnect|stream-error|stall|exit):(?P<arg>\d+(?:\.\d+)?))$"
)
STREAM_KINDS = ("disconnect", "stream-error", "stall")
PROCESS_KINDS = ("never-ready", "exit")
SPEC_HELP = (
    "error:STATUS",
    "overloaded",
    "disconnect:N",
    "stream-error:N",
    "stall:N",
    "never-ready",
    "exit:SECONDS",
)


class FaultSpecError(ValueError):
    """A fault spec that does not parse; the message lists the accepted forms."""


@dataclass(frozen=True)
class Fault:
    """One parsed fault spec: `kind` plus its number (status, tokens or seconds)."""

    kind: str
    arg: float = 0.0

    @property
    def spec(self) -> str:
        if self.kind in ("overloaded", "never-ready"):
            return self.kind
        number = int(self.arg) if self.arg == int(self.arg) else self.arg
        return f"{self.kind}:{number}"

    @property
    def is_process_level(self) -> bool:
        return self.kind in PROCESS_KINDS

    @property
    def status(self) -> int:
        return int(self.arg)

    def cut_after(self, n_tokens: int) -> int | None:
        """For stream faults: after how many tokens the fault strikes (None: not a stream
        fault)."""
        if self.kind not in STREAM_KINDS:
            return None
        return max(0, min(int(self.arg), n_tokens - 1))


def parse_fault(spec: str) -> Fault:
    match = _SPEC.match(spec.strip())
    if not match:
        raise FaultSpecError(f"bad fault spec {spec!r}; expected one of: {', '.join(SPEC_HELP)}")
    if match["flag"]:
        return Fault(match["flag"])
    kind, arg = match["kind"], float(match["arg"])
    if kind != "exit" and arg != int(arg):
        raise FaultSpecError(f"bad fault spec {spec!r}: {kind} takes a whole number")
    if kind == "error" and not 400 <= arg <= 599:
        raise FaultSpecError(f"bad fault spec {spec!r}: STATUS must be 400..599")
    return Fault(kind, arg)


class FaultState:
    """The request-level fault in force, and how many more requests it applies to."""

    def __init__(self, fault: Fault | None = None, times: int | None = None) -> None:
        self.fault: Fault | None = None
        self.remaining: int | None = None
        self.injected = 0
        self.set(fault, times)

    def set(self, fault: Fault | None, times: int | None = None) -> None:
        """Apply `fault` to the next `times` generation requests (all when None)."""
        if fault is not None and fault.is_process_level:
            raise FaultSpecError(f"{fault.spec} is a process-level fault, not a request fault")
        if times is not None and times < 0:
            raise FaultSpecError("times must be >= 0")
        self.fault = fault if times != 0 else None
        self.remaining = times if fault is not None and times != 0 else None

    def take(self) -> Fault | None:
        """The fault for the generation request that just arrived (and count it)."""
        fault = self.fault
        if fault is None:
            return None
        self.injected += 1
        if self.remaining is not None:
            self.remaining -= 1
            if self.remaining <= 0:
                self.fault, self.remaining = None, None
        return fault

    def describe(self) -> dict[str, object]:
        return {
            "fault": self.fault.spec if self.fault else None,
            "remaining": self.remaining,
            "injected": self.injected,
            "specs": list(SPEC_HELP),
        }
