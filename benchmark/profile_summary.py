"""Top functions of a py-spy profile in raw (collapsed stack) format, as text.

`oellm-arena loadtest --profile PATH` writes py-spy's raw format: one line per distinct
stack, `frame;frame;...;frame COUNT`. A flame graph shows it best (`flamegraph.pl`,
speedscope); this prints the two lists a report needs, without either:

    uv run python -m benchmark.profile_summary PATH [--top 25] [--under FUNCTION]

self: where the samples were taken; inclusive: samples with the function anywhere on the
stack (leaving out entry points and the event loop, on every stack). Frames are shortened
to `function (package/module.py)`. Idle samples (a thread waiting in `select` or on a
lock) are left out, so percentages are of busy time.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"(?P<fn>.*) \((?P<path>.*?):\d+\)$")
_OURS = re.compile(r".*/(app|benchmark|tgi|analytics)/")
# Frames on nearly every stack (entry points, the event loop itself): not informative.
OUTER = ("click/", "<frozen runpy>", "app/cli.py", "asyncio/", "tornado/platform", "threading.py")
OUTER_FUNCTIONS = ("serve_app (", "thread (")
IDLE = ("select (selectors.py", "EpollSelector.select", "Condition.wait", "Event.wait")


def short(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    path = re.sub(r".*site-packages/", "", match["path"])
    path = _OURS.sub(r"\1/", path)
    return f"{match['fn']} ({path})"


def summarise(path: Path, under: str | None = None) -> tuple[int, Counter[str], Counter[str]]:
    """(busy samples, self counts, inclusive counts), restricted to stacks through `under`."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    busy = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip() or " " not in line:
            continue
        stack, count = line.rsplit(" ", 1)
        frames = [short(f) for f in stack.split(";")]
        if any(frames[-1].startswith(idle) for idle in IDLE):
            continue
        if under and not any(under in f for f in frames):
            continue
        n = int(count)
        busy += n
        own[frames[-1]] += n
        for frame in set(frames):
            if not frame.startswith(OUTER_FUNCTIONS) and not any(o in frame for o in OUTER):
                inclusive[frame] += n
    return busy, own, inclusive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--under", help="only stacks through this function (substring)")
    args = parser.parse_args(argv)
    busy, own, inclusive = summarise(args.path, args.under)
    print(f"{busy} busy samples")
    for title, counts in (("self", own), ("inclusive", inclusive)):
        print(f"--- {title}")
        for frame, n in counts.most_common(args.top):
            print(f"{100 * n / max(busy, 1):5.1f}%  {frame}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
