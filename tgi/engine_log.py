"""At which level the supervisor passes on a line that an engine process printed.

Engines (TGI, vLLM, llama.cpp, the stand-in) print their own logs; the supervisor relays
each line under `tgi.supervisor.engine`. The health checks poll every ready engine every
few seconds, and engines that keep an access log print one line per probe: those lines go
to debug level, so the supervisor's log shows loading, serving and failures. A line that
the engine itself marks as a warning or an error (or a traceback) is relayed as a warning,
so failures stay visible with the log at WARNING.
"""

from __future__ import annotations

import logging
import re

_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # TGI colours its level words on a terminal
# An engine's own level word, as TGI (" WARN "), Python logging and uvicorn ("WARNING:")
# and the stand-in print it; upper case only, so generated text or "0 errors" never match.
_PROBLEM = re.compile(r"\b(?:WARN|WARNING|ERROR|CRITICAL|FATAL|PANIC|Traceback)\b")
# A successful probe in an access log: the stand-in's `GET /health 200 1ms`, uvicorn's
# `"GET /health HTTP/1.1" 200 OK`, llama.cpp's `GET /health 127.0.0.1 200`.
_ROUTINE = re.compile(
    r"\b(?:GET|HEAD) /(?:health|ping|info|v1/models|metrics)\b(?:[ ?][^\n]*?)?[\s\"]200\b"
)


def relay_level(line: str) -> int:
    """The logging level for one line of an engine's output."""
    line = _ANSI.sub("", line)
    if _PROBLEM.search(line):
        return logging.WARNING
    if _ROUTINE.search(line):
        return logging.DEBUG
    return logging.INFO
