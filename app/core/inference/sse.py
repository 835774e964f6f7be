"""Server-sent events: the `data:` payloads of an event stream, one string per event.

Follows the SSE framing rules that matter for inference engines: `data:` lines of one event
are joined with newlines, an empty line ends an event, `:` lines are comments (keep-alives),
other fields (`event:`, `id:`, `retry:`) are ignored. huggingface_hub parses TGI's stream
itself; this is used for the OpenAI-compatible one.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

DONE = "[DONE]"


async def sse_data(lines: AsyncIterable[str]) -> AsyncIterator[str]:
    """Yield the data of each event in `lines` (as produced by `aiter_lines`)."""
    data: list[str] = []
    async for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value.removeprefix(" "))
    if data:  # the stream ended without the blank line after the last event
        yield "\n".join(data)
