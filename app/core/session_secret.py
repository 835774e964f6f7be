"""The secret that signs browser sessions (`ARENA_SECRET_KEY`).

Bokeh's server names each browser session by a token: a session id and a payload (the
page request's headers, an expiry). Unsigned, a client can write its own and open a
websocket without loading the page. With a secret, the server signs every id and token it
makes (HMAC-SHA256) and refuses any other; the secret must stay the same across restarts
for pages that are open to reconnect, and secret, so nobody else can sign.

`serve` requires it from the environment. `demo` keeps one in a file beside the battle log
(created mode 0600 on first run), so a laptop needs no setup and a restarted demo keeps
its pages.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

MIN_SECRET_BYTES = 32
HOW_TO_MAKE = "make one with `uv run bokeh secret` (or `openssl rand -base64 33`)"


class SecretError(ValueError):
    """The secret is missing, too short, or its file cannot be used; the message says why."""


def check_secret(value: str, name: str) -> str:
    """`value` if long enough to sign with; SecretError naming `name` otherwise."""
    if len(value.encode()) < MIN_SECRET_BYTES:
        raise SecretError(f"{name} must be at least {MIN_SECRET_BYTES} bytes: {HOW_TO_MAKE}")
    return value


def make_secret() -> str:
    """A new random secret: 32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(MIN_SECRET_BYTES)


def demo_secret_path(db_path: Path) -> Path:
    """Where `demo` keeps its secret: beside the battle log (`arena.secret_key`)."""
    return db_path.with_suffix(".secret_key")


def load_or_create(path: Path) -> str:
    """The secret in `path`, made (readable by its owner only) when the file is absent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text().strip()
        return check_secret(value, f"the secret in {path} (delete the file to make a new one)")
    with os.fdopen(fd, "w") as out:
        value = make_secret()
        out.write(value + "\n")
    return value
