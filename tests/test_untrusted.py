"""Client text made storable, client values made safe for logs, one record per log line."""

from __future__ import annotations

import io
import logging

import duckdb

from app.core.logs import MAX_MESSAGE_CHARS, OneRecordPerLine
from app.core.untrusted import clean_text, quoted
from app.web.client_errors import handle_event_error


def test_lone_surrogates_become_replacement_characters_and_nothing_else_changes() -> None:
    text = "Der var \ud800engang \udfff 😀 \x00 \ufffe"
    cleaned = clean_text(text)
    assert cleaned == "Der var \ufffdengang \ufffd 😀 \x00 \ufffe"
    cleaned.encode("utf-8")  # valid now
    con = duckdb.connect()
    assert con.execute("SELECT ?", [cleaned]).fetchone() == (cleaned,)


def test_quoted_values_stay_on_one_line_and_short() -> None:
    assert quoted("swe") == "'swe'"
    forged = "swe\n2026-01-01 INFO admin logged in" + "x" * 10_000
    line = quoted(forged)
    assert "\n" not in line and len(line) < 260 and line.endswith("(9835 more characters)")


def _logger(stream: io.StringIO, name: str) -> logging.Logger:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(OneRecordPerLine("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def test_every_line_after_a_record_s_first_is_indented_and_long_messages_are_cut() -> None:
    stream = io.StringIO()
    log = _logger(stream, "test.untrusted.format")
    log.warning("value %s", "x\nINFO forged: admin logged in")
    log.info("big %s", "y" * 50_000)
    try:
        raise ValueError("swe\nINFO forged: from a traceback")
    except ValueError:
        log.exception("failed")
    lines = stream.getvalue().splitlines()
    records = [line for line in lines if not line.startswith(" ")]
    assert [r.split(":")[0] for r in records] == [
        "WARNING test.untrusted.format",
        "INFO test.untrusted.format",
        "ERROR test.untrusted.format",
    ]
    assert not any(line.startswith("INFO forged") for line in lines)
    assert len(records[1]) < MAX_MESSAGE_CHARS + 100 and "more characters" in records[1]


def test_a_value_panel_refuses_is_one_line_and_a_bug_of_ours_keeps_its_traceback(
    caplog,  # type: ignore[no-untyped-def]
) -> None:
    from panel.util import indexOf

    try:
        indexOf("swe\nforged", ["dan"])
    except ValueError as exc:
        panel_error = exc
    try:
        clean_text(None)  # type: ignore[arg-type]  # fails inside our own module
    except TypeError as exc:
        our_error = exc
    with caplog.at_level(logging.WARNING, logger="app.web.client_errors"):
        handle_event_error(panel_error)
        handle_event_error(our_error)
    first, second = caplog.records
    assert first.levelno == logging.WARNING and first.exc_info is None
    assert "\n" not in first.getMessage() and "'swe\\nforged not in list'" in first.getMessage()
    assert second.levelno == logging.ERROR and second.exc_info is not None
