"""Is an engine ready to serve a model? One HTTP test for TGI, vLLM and the stand-in.

Used by the supervisor (readiness after a launch, health while it runs) and by the app's
remote-engines mode (`app/arena/remote_engines.py`), so an engine counts as ready the same way
wherever it runs.
"""

from __future__ import annotations

import httpx


class HttpProbe:
    """Is the engine at `url` ready to serve `model_id`?

    Connection refused means still loading. Ready means `GET /health` answers 200 and
    `GET /info` names the model (TGI, the stand-in) or, for OpenAI-compatible engines
    without `/info`, `GET /v1/models` lists it. A different model id on that port (another
    engine squatting on it) is never taken for ready. Returns None when ready, else a short
    reason for error messages.
    """

    def __init__(self, timeout_s: float = 3.0, headers: dict[str, str] | None = None) -> None:
        self._client = httpx.AsyncClient(timeout=timeout_s, trust_env=False, headers=headers)

    async def __call__(self, url: str, model_id: str) -> str | None:
        return await probe_engine(self._client, url, model_id)

    async def aclose(self) -> None:
        await self._client.aclose()


async def probe_engine(client: httpx.AsyncClient, url: str, model_id: str) -> str | None:
    """`HttpProbe`'s test with a caller's client: None when ready, else why not."""
    try:
        health = await client.get(f"{url}/health")
        if health.status_code != 200:
            return f"/health answered {health.status_code}"
        info = await client.get(f"{url}/info")
        if info.status_code == 200:
            served = info.json().get("model_id")
            return None if served == model_id else f"/info names {served!r}"
        models = await client.get(f"{url}/v1/models")
        if models.status_code == 200:
            ids = [m.get("id") for m in models.json().get("data", [])]
            return None if model_id in ids else f"/v1/models lists {ids}"
        return f"/info answered {info.status_code}"
    except httpx.ConnectError:
        return "not accepting connections yet"
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        return f"{type(exc).__name__}: {exc}"
