"""One TLS context for every engine connection.

httpx builds a fresh `ssl.SSLContext` for each client it creates unless given one, and
loading the CA bundle costs 35-45 ms of CPU. The arena opens a client per stream (two per
battle; closing it is what tells the engine to stop), so without a shared context a
battle spent ~90 ms of the event loop's time before the first token
(`uv run python -m benchmark.stream_floor --voters 5 --protocol openai`).
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """httpx's default verification (the certifi bundle, or `SSL_CERT_FILE` /
    `SSL_CERT_DIR` from the environment), built once per process."""
    return httpx.create_ssl_context()
