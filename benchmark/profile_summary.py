"""Top functions of a py-spy profile in raw (collapsed stack) format, as text.

`oellm-arena loadtest --profile PATH` writes py-spy's raw format: one line per distinct
stack, `frame;frame;...;frame COUNT`. A flame graph shows it best (`flamegraph.pl`,
speedscope); this prints the two lists a report needs, without either:

    uv run python -m benchmark.profile_summary PATH [--top 25] [--under FUNCTION]

self: where the samples were taken; inclusive: samples with the function anywhere on the
stack (leaving out entry points and the event loop, on every stack). Frames are shortened
to `function (package/module.py)`. Idle samples (a thread waiting in `select` or on a
lock) are left out, so percentages are of busy time.

py-spy's non-blocking sampling sometimes reads a stack only part of the way up, most often
inside a coroutine resumed by the event loop: such a sample has no entry point at its root.
The summary counts them: their inclusive shares are missing from the functions above the
cut, so async code (the engine clients above all) is undercounted by up to that much
(27 % of the busy samples at 50 voters; `benchmark.stream_floor` measures the clients directly).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path
from typing import NamedTuple

_FRAME = re.compile(r"(?P<fn>.*) \((?P<path>.*?):\d+\)$")
_OURS = re.compile(r".*/(app|benchmark|tgi|analytics)/")
# Frames on nearly every stack (entry points, the event loop itself): not informative.
OUTER = (
    "click/",
    "<frozen runpy>",
    "app/cli/main.py",
    "asyncio/",
    "tornado/platform",
    "threading.py",
)
OUTER_FUNCTIONS = ("serve_app (", "thread (")
IDLE = ("select (selectors.py", "EpollSelector.select", "Condition.wait", "Event.wait")
# Where a whole stack starts: the main module, or a thread's bootstrap.
ROOTS = ("_run_module_as_main (", "Thread._bootstrap (", "<module> (")


class Summary(NamedTuple):
    busy: int  # busy samples
    own: Counter[str]  # samples taken in each function
    inclusive: Counter[str]  # samples with the function anywhere on the stack
    cut: int  # busy samples whose stack py-spy read only part of the way up


def short(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    path = re.sub(r".*site-packages/", "", match["path"])
    path = _OURS.sub(r"\1/", path)
    return f"{match['fn']} ({path})"


def summarise(path: Path, under: str | None = None) -> Summary:
    """The counts of the stacks through `under` (all stacks without it)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    busy = cut = 0
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
        cut += 0 if frames[0].startswith(ROOTS) else n
        own[frames[-1]] += n
        for frame in set(frames):
            if not frame.startswith(OUTER_FUNCTIONS) and not any(o in frame for o in OUTER):
                inclusive[frame] += n
    return Summary(busy, own, inclusive, cut)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--under", help="only stacks through this function (substring)")
    args = parser.parse_args(argv)
    busy, own, inclusive, cut = summarise(args.path, args.under)
    print(f"{busy} busy samples")
    if cut:
        print(
            f"{100 * cut / busy:.0f}% of them with a cut stack (no entry point at the root): "
            "the inclusive shares of async code are undercounted by up to that much"
        )
    for title, counts in (("self", own), ("inclusive", inclusive)):
        print(f"--- {title}")
        for frame, n in counts.most_common(args.top):
            print(f"{100 * n / max(busy, 1):5.1f}%  {frame}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
