"""Which engine output lines the supervisor relays at which level (`tgi.engine_log`)."""

from __future__ import annotations

import logging

import pytest

from tgi.engine_log import relay_level

ROUTINE = [
    "2026-01-01 10:00:00,123 standin[41000] INFO GET /health 200 1ms",  # the stand-in
    "2026-01-01 10:00:00,124 standin[41000] INFO GET /info 200 0ms",
    'INFO:     127.0.0.1:51234 - "GET /health HTTP/1.1" 200 OK',  # vLLM (uvicorn)
    'INFO:     127.0.0.1:51234 - "GET /v1/models HTTP/1.1" 200 OK',
    "srv  log_server_r: request: GET /health 127.0.0.1 200",  # llama.cpp server
]
PROBLEMS = [
    "2026-01-01 10:00:00,125 standin[41000] WARNING POST /generate_stream 503 2ms",
    "2026-01-01 10:00:00,126 standin[41000] ERROR fault exit:1: exiting with status 1",
    "2026-01-01T10:00:00.1Z  WARN text_generation_router::infer: queue is full",  # TGI
    "\x1b[31mERROR\x1b[0m text_generation_launcher: Shard 0 failed to start",
    "Traceback (most recent call last):",
    'INFO:     127.0.0.1:51234 - "GET /health HTTP/1.1" 200 OK ERROR',
]
NEWS = [
    "2026-01-01 10:00:00,127 standin[41000] INFO ready: serving HPLT/x on http://h:1",
    "2026-01-01 10:00:00,128 standin[41000] INFO POST /generate_stream 200 912ms",
    "2026-01-01 10:00:00,129 standin[41000] INFO GET /health 503 1ms",  # a failed probe
    'INFO:     127.0.0.1:51234 - "GET /healthz HTTP/1.1" 200 OK',  # not a probe route
    "INFO text_generation_router: Connected, 0 errors so far",  # lower case: no alarm
]


@pytest.mark.parametrize("line", ROUTINE)
def test_successful_probes_go_to_debug(line: str) -> None:
    assert relay_level(line) == logging.DEBUG


@pytest.mark.parametrize("line", PROBLEMS)
def test_what_the_engine_marks_as_a_problem_is_a_warning(line: str) -> None:
    assert relay_level(line) == logging.WARNING


@pytest.mark.parametrize("line", NEWS)
def test_everything_else_is_info(line: str) -> None:
    assert relay_level(line) == logging.INFO
