"""How long voters wait for models: naive relaunching against the supervisor's policy.

Replays a window of the real legacy vote log (`arena_results.csv`: its languages, models
and arrival times, duplicates dropped, sped up) through the real supervisor process
(`oellm-arena supervisor`) with stand-in engines whose start-up time follows model size,
once per policy:

- **naive**: one engine per GPU (`models_per_gpu=1`), relaunched whenever a battle needs
  another model; the MultiSynt variant is the one the old arena drew (the log's).
- **sleeping**: the policy below, with engines put to sleep (vLLM's sleep mode, level 1)
  when evicted instead of stopped, within `--host-memory-gb` of host memory, and woken in
  `WAKE_S_PER_B` x 2.15 seconds (real) when a battle needs them; cold starts as below. The
  supervisor prewarms (`supervisor.prewarm`: every registry model loaded once at start,
  then asleep), and the replay starts once that is done, as voters would after it
  (`--no-prewarm`: without it, the first use of each model is a cold start).
- **policy**: residency by memory (default 80 GB GPUs: four ~16 GB engines each, LRU
  eviction) and cost-aware matchmaking (`app.arena.matchmaking.choose_variant`: variants kept
  balanced within `slack`, loaded ones preferred, from `/status` at each battle). With
  `--typing-s T` the pairing is drawn and prefetched T real seconds before Generate, as
  the page can do when the voter picks a language (off by default: the log does not say
  when voters picked their language).

The `--warm-up` battles before the window (12) are played first, untimed, so the engines
are those a running arena would have. Each battle of the window then acquires its two
models at its (scaled) arrival time, holds them for the generation time, and releases
them. Measured per battle:

    wait     = acquire answered - acquire sent                 (what the voter waits)
    overhead = acquire answered - max(acquire sent + time queued for room,
                                      the moment the engine itself opened its port)

`overhead` is the supervisor's own cost on top of engine readiness (probe interval,
bookkeeping, HTTP), read against the stand-in's own `ready_at`. Battles arrive open-loop
at the log's times; gaps longer than `--gap-cap-s` (idle time, when every load has long
finished) are shortened to it. The stand-in's interpreter start (measured once) is
subtracted from the simulated load time so that start-up plus delay matches the target.

    uv run python -m benchmark.supervisor_sim [--start 180] [--battles 60] [--speedup 60]
        [--load-s-per-b 20] [--out results.json]

The default window (60 battles in 8 languages) runs in about four minutes on a 2-core
machine (three policies); `--start 0 --battles 600` replays the whole log.

Why this module is long: it is one experiment, from the log's window to the printed
comparison of three policies; its parts (the window, the supervisor process, the replay,
the summary) are used nowhere else.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from analytics.data import LEGACY_CSV
from app.arena.matchmaking import choose_variant
from app.core.registry import Registry, load_registry
from benchmark.harness import free_port
from tgi.residency import params_billion

POLICIES = ("naive", "policy", "sleeping")
# vLLM's published wake times (sleep mode blog, 0.6B model on an A100: 0.26 s from level 1,
# 0.85 s from level 2), scaled to the arena's 2.15B models by their weight (the wake copies
# the weights back from host memory): 0.93 s and 3.05 s.
WAKE_S_PER_B = {1: 0.26 / 0.6, 2: 0.85 / 0.6}


@dataclass(frozen=True)
class Battle:
    index: int
    arrival_s: float  # scaled, from the first battle of the window
    language: str
    multisynt: str  # the variant the old arena drew
    hplt: str


@dataclass
class Outcome:
    index: int
    language: str
    models: list[str]
    wait_s: float
    overhead_s: float
    queued_s: float
    error: str | None = None


def load_battles(
    path: Path, registry: Registry, start: int, count: int, speedup: float, gap_cap_s: float
) -> list[Battle]:
    """The window [start, start+count) of the log in time order, one row per battle."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    seen: set[tuple[str, ...]] = set()
    unique = []
    for row in rows:  # the old app logged some votes twice, seconds apart
        key = tuple(v for k, v in row.items() if k != "Timestamp")
        if key not in seen:
            seen.add(key)
            unique.append(row)
    unique.sort(key=lambda r: r["Timestamp"])
    window = unique[start : start + count]
    battles: list[Battle] = []
    clock, previous = 0.0, None
    for i, row in enumerate(window):
        when = datetime.fromisoformat(row["Timestamp"])
        if previous is not None:
            clock += min((when - previous).total_seconds(), gap_cap_s) / speedup
        previous = when
        hplt = row["Model_B_Name"]
        language = registry.contender(hplt).language  # the models say which language
        battles.append(Battle(start + i, round(clock, 3), language, row["Model_A_Name"], hplt))
    return battles


def standin_floor_s() -> float:
    """Seconds from spawning a stand-in (no delay) to its answering: the interpreter start."""
    port = free_port()
    argv = [sys.executable, "-m", "tgi.standin.engine", "--model-id", "HPLT/hplt2c_swe_checkpoints"]
    argv += ["--port", str(port), "--startup-delay", "0", "--token-interval", "0"]
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.monotonic() - started < 30:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    return time.monotonic() - started
            time.sleep(0.01)
        raise RuntimeError("the stand-in engine did not start within 30 s")
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def supervisor(env_overrides: dict[str, str]) -> Iterator[str]:
    """A real supervisor process with stand-in engines; yields its URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env.update(
        ARENA_SUPERVISOR__LAUNCHER="standin",
        ARENA_SUPERVISOR__FIRST_ENGINE_PORT=str(free_port()),
        ARENA_STANDIN__TOKEN_INTERVAL_S="0",
        PYTHONUNBUFFERED="1",
        **env_overrides,
    )
    url = f"http://127.0.0.1:{port}"
    with tempfile.NamedTemporaryFile(prefix="supervisor-sim-", suffix=".log") as log:
        cmd = [
            sys.executable,
            "-m",
            "app.cli",
            "supervisor",
            "--port",
            str(port),
            "--log-level",
            "WARNING",
        ]
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"supervisor did not start:\n{Path(log.name).read_text()}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                time.sleep(0.05)
            yield url
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def resident(status: dict[str, Any]) -> set[str]:
    states = ("ready", "loading")
    return {e["model"] for s in status["slots"] for e in s["engines"] if e["state"] in states}


async def replay(
    url: str,
    warm_up: Sequence[Battle],
    battles: Sequence[Battle],
    policy: str,
    generation_s: float,
    registry: Registry,
    typing_s: float = 0.0,
) -> tuple[list[Outcome], dict[str, Any]]:
    """Play `warm_up` one after another untimed (the engines a running arena would have
    loaded), then `battles` at their arrival times; the outcomes and launch counts."""
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:
        counts: Counter[str] = Counter()
        await prewarmed(client)

        async def pairing(b: Battle) -> list[str]:
            multisynt = b.multisynt
            if policy != "naive":
                loaded = resident((await client.get("/status")).json())
                lang = registry.language(b.language)
                multisynt = choose_variant(lang, counts=counts, loaded=loaded).model_id
            counts[multisynt] += 1
            return [multisynt, b.hplt]

        for b in warm_up:
            lease = (await client.post("/acquire", json={"models": await pairing(b)})).json()
            await client.post("/release", json={"lease_id": lease["lease_id"]})
        launches_before = (await client.get("/status")).json()["launches"]
        counts.clear()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        tasks = []

        async def voter(b: Battle) -> Outcome:
            # With `typing_s`, the page picks the pairing and prefetches its models when
            # the voter picks the language, `typing_s` before they press Generate.
            await asyncio.sleep(max(0.0, t0 + b.arrival_s - typing_s - loop.time()))
            models = await pairing(b)
            if typing_s > 0:
                await client.post("/prefetch", json={"models": models})
                await asyncio.sleep(max(0.0, t0 + b.arrival_s - loop.time()))
            return await one_battle(client, b, models, generation_s)

        for b in battles:  # started in arrival order, so pairings are drawn in that order
            await asyncio.sleep(max(0.0, t0 + b.arrival_s - typing_s - loop.time()))
            tasks.append(asyncio.create_task(voter(b)))
        outcomes = await asyncio.gather(*tasks)
        status = (await client.get("/status")).json()
    launches = status["launches"] - launches_before
    return list(outcomes), {"launches": launches, "variants": dict(counts)}


async def prewarmed(client: httpx.AsyncClient, timeout_s: float = 600.0) -> None:
    """Until the supervisor's prewarm (if any) has loaded every model once."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = (await client.get("/status")).json().get("prewarm", {})
        if done.get("done", 0) + done.get("failed", 0) >= done.get("total", 0):
            return
        await asyncio.sleep(0.5)
    raise RuntimeError(f"prewarm not finished within {timeout_s:.0f} s")


async def one_battle(
    client: httpx.AsyncClient, battle: Battle, models: list[str], generation_s: float
) -> Outcome:
    sent = time.time()
    resp = await client.post("/acquire", json={"models": models, "holder": f"sim-{battle.index}"})
    answered = time.time()
    if resp.status_code != 200:
        err = resp.text[:200]
        return Outcome(battle.index, battle.language, models, answered - sent, 0.0, 0.0, err)
    lease = resp.json()
    ready_at = []
    for engine_url in lease["endpoints"].values():
        stats = (await client.get(f"{engine_url}/standin/faults")).json()
        ready_at.append(stats["ready_at"])
    await asyncio.sleep(generation_s)
    await client.post("/release", json={"lease_id": lease["lease_id"]})
    room_at = sent + lease.get("queued_s", 0.0)
    overhead = answered - max(room_at, *ready_at)
    return Outcome(
        battle.index, battle.language, models, answered - sent, overhead, lease["queued_s"]
    )


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summarise(outcomes: list[Outcome], extra: dict[str, Any], speedup: float) -> dict[str, Any]:
    ok = [o for o in outcomes if o.error is None]
    waits = [o.wait_s for o in ok]
    overheads = [o.overhead_s for o in ok]
    by_language: dict[str, Counter[str]] = {}
    for model, n in extra["variants"].items():
        by_language.setdefault(model.rsplit("-", 1)[0], Counter())[model] = n
    return {
        "battles": len(outcomes),
        "errors": len(outcomes) - len(ok),
        "wait_median_s": statistics.median(waits),
        "wait_p95_s": percentile(waits, 0.95),
        "wait_max_s": max(waits),
        "wait_mean_s": statistics.fmean(waits),
        "waited_share": sum(w > 0.1 for w in waits) / len(waits),
        "wait_median_real_s": statistics.median(waits) * speedup,
        "wait_p95_real_s": percentile(waits, 0.95) * speedup,
        "launches": extra["launches"],
        "overhead_median_s": statistics.median(overheads),
        "overhead_p95_s": percentile(overheads, 0.95),
        "overhead_max_s": max(overheads),
        "variants": extra["variants"],
    }


def run_policy(
    policy: str,
    warm_up: Sequence[Battle],
    battles: Sequence[Battle],
    args: argparse.Namespace,
    per_b: float,
) -> dict[str, Any]:
    env = {"ARENA_STANDIN__STARTUP_DELAY_S": "0"}
    env["ARENA_STANDIN__STARTUP_S_PER_BILLION_PARAMS"] = f"{per_b:.4f}"
    if policy == "naive":
        env["ARENA_SUPERVISOR__MODELS_PER_GPU"] = "1"
    else:
        env["ARENA_SUPERVISOR__GPU_MEMORY_GB"] = str(args.gpu_memory_gb)
        env["ARENA_SUPERVISOR__ENGINE_HEADROOM_GB"] = str(args.engine_headroom_gb)
    if policy == "sleeping":
        wake_s = WAKE_S_PER_B[1] * params_billion(battles[0].hplt) / args.speedup
        env["ARENA_SUPERVISOR__SLEEP_LEVEL"] = "1"
        env["ARENA_SUPERVISOR__HOST_MEMORY_GB"] = str(args.host_memory_gb)
        env["ARENA_STANDIN__WAKE_S_LEVEL1"] = f"{wake_s:.4f}"
        env["ARENA_STANDIN__SLEEP_S"] = "0"
        env["ARENA_SUPERVISOR__PREWARM"] = "false" if args.no_prewarm else "true"
    registry = load_registry()
    generation_s = args.generation_s / args.speedup
    typing_s = args.typing_s / args.speedup if policy != "naive" else 0.0
    with supervisor(env) as url:
        outcomes, extra = asyncio.run(
            replay(url, warm_up, battles, policy, generation_s, registry, typing_s)
        )
    summary = summarise(outcomes, extra, args.speedup)
    summary["outcomes"] = [asdict(o) for o in outcomes]
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.supervisor_sim", description=__doc__)
    parser.add_argument("--csv", type=Path, default=LEGACY_CSV, help="legacy arena_results.csv")
    parser.add_argument("--start", type=int, default=180, help="first battle of the window")
    parser.add_argument("--battles", type=int, default=60, help="battles in the window")
    parser.add_argument(
        "--warm-up", type=int, default=12, help="battles before the window, played untimed"
    )
    parser.add_argument("--speedup", type=float, default=60.0, help="real seconds per sim second")
    parser.add_argument(
        "--load-s-per-b", type=float, default=20.0, help="real load seconds per billion params"
    )
    parser.add_argument("--gap-cap-s", type=float, default=90.0, help="longest real gap kept")
    parser.add_argument("--generation-s", type=float, default=5.0, help="real generation time")
    parser.add_argument("--policies", default=",".join(POLICIES), help="naive,policy")
    parser.add_argument(
        "--typing-s",
        type=float,
        default=0.0,
        help="policy: real seconds between picking the language (prefetch) and Generate",
    )
    parser.add_argument("--gpu-memory-gb", type=float, default=80.0, help="policy: per GPU")
    parser.add_argument(
        "--engine-headroom-gb", type=float, default=12.0, help="policy: per engine over weights"
    )
    parser.add_argument(
        "--host-memory-gb",
        type=float,
        default=256.0,
        help="sleeping: host memory for sleepers (a 2-GPU server's 256 GB: all 52 models)",
    )
    parser.add_argument(
        "--no-prewarm", action="store_true", help="sleeping: without the start-up prewarm"
    )
    parser.add_argument("--out", type=Path, help="write every figure and battle as JSON")
    args = parser.parse_args(argv)

    registry = load_registry()
    warm_from = max(0, args.start - args.warm_up)
    warm_up = load_battles(
        args.csv, registry, warm_from, args.start - warm_from, args.speedup, args.gap_cap_s
    )
    battles = load_battles(
        args.csv, registry, args.start, args.battles, args.speedup, args.gap_cap_s
    )
    if not battles:
        parser.error("the window is empty")
    floor = standin_floor_s()
    target = args.load_s_per_b * params_billion(battles[0].hplt) / args.speedup
    per_b = max(0.0, target - floor) / params_billion(battles[0].hplt)
    effective = max(target, floor)
    languages = Counter(b.language for b in battles)
    print(
        f"{len(battles)} battles (log rows {args.start}..{args.start + len(battles) - 1}), "
        f"{len(languages)} languages {dict(languages.most_common())}, "
        f"{battles[-1].arrival_s:.0f} s of arrivals at {args.speedup:g}x after "
        f"{len(warm_up)} warm-up battles; a 2.15B model loads in {effective:.2f} s "
        f"({effective * args.speedup:.0f} s real; stand-in start-up {floor:.2f} s "
        f"+ {per_b * 2.15:.2f} s delay)",
        flush=True,
    )
    results: dict[str, Any] = {"settings": {k: str(v) for k, v in vars(args).items()}}
    results["load_s"] = effective
    for policy in args.policies.split(","):
        started = time.monotonic()
        results[policy] = summary = run_policy(policy, warm_up, battles, args, per_b)
        print(
            f"{policy:>7}: wait median {summary['wait_median_s']:.2f} s, "
            f"p95 {summary['wait_p95_s']:.2f} s (real: {summary['wait_median_real_s']:.0f} s, "
            f"{summary['wait_p95_real_s']:.0f} s), mean {summary['wait_mean_s']:.2f} s, "
            f"{summary['waited_share']:.0%} of battles wait; launches {summary['launches']}; "
            f"overhead median {summary['overhead_median_s'] * 1000:.0f} ms, "
            f"p95 {summary['overhead_p95_s'] * 1000:.0f} ms, "
            f"max {summary['overhead_max_s'] * 1000:.0f} ms; errors {summary['errors']} "
            f"({time.monotonic() - started:.0f} s)",
            flush=True,
        )
    for policy in ("policy", "sleeping"):
        if "naive" not in results or policy not in results:
            continue
        naive, ours = results["naive"], results[policy]
        ratio = naive["wait_median_s"] / max(ours["wait_median_s"], 1e-6)
        p95_ratio = naive["wait_p95_s"] / max(ours["wait_p95_s"], 1e-6)
        mean_ratio = naive["wait_mean_s"] / max(ours["wait_mean_s"], 1e-6)
        prefix = "" if policy == "policy" else "sleeping_"
        results[f"{prefix}median_wait_ratio"] = ratio
        results[f"{prefix}p95_wait_ratio"] = p95_ratio
        results[f"{prefix}mean_wait_ratio"] = mean_ratio
        print(
            f"{policy}: median wait {ratio:.0f}x lower than naive (mean {mean_ratio:.1f}x, "
            f"p95 {p95_ratio:.1f}x); launches {naive['launches']} -> {ours['launches']}"
        )
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
        print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
