"""Shared fixtures. No test touches a real database: ARENA_DB_PATH points into tmp_path."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in list(os.environ):
        if key.startswith("ARENA_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("ARENA_DB_PATH", str(tmp_path / "arena.duckdb"))
    yield


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "arena.duckdb"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium through Playwright, one per test module (`benchmark.harness`)."""
    from benchmark.harness import chromium

    with chromium() as b:
        yield b
