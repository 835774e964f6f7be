"""Pick the engine client for the configured protocol."""

from __future__ import annotations

from app.core.inference.base import EngineClient
from app.core.inference.openai_client import OpenAIClient
from app.core.inference.tgi_client import TGIClient
from app.core.settings import EngineSettings


def make_client(url: str, model_id: str, settings: EngineSettings) -> EngineClient:
    """A client streaming `model_id` from the engine at `url`, speaking `settings.protocol`."""
    if settings.protocol == "openai":
        return OpenAIClient(url, settings, model_id)
    if settings.protocol == "tgi":
        return TGIClient(url, settings)
    raise ValueError(f"unknown engine protocol {settings.protocol!r} (expected 'tgi' or 'openai')")
