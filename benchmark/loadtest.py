"""How many concurrent voters one arena server carries: N simulated voters over the
real websocket protocol, checked against the battle log afterwards.

Each voter is a real browser session on `/arena` (`benchmark/arena_voter.py` over
`benchmark/bokeh_client.py`), choosing languages in the proportions of the legacy vote
log, generating, waiting until the vote buttons are enabled, voting, starting a new round,
for `duration_s`. With `standin=True` it runs `oellm-arena demo` itself (stand-in engines
at a known pace, every model of the chosen languages loaded before the clock starts, the
abuse limits raised), so that each battle's ideal duration is known:

    slowdown = (click on Generate -> vote buttons enabled) / (tokens x token interval)

where tokens is the longer side's count in the battle log. 1.0 would be a server that adds
nothing to what the engines need on their own. After the run the server is stopped and
every vote the page confirmed is looked up in the DuckDB file: `lost_votes` are confirmed
votes missing there, `duplicate_votes` battles with more than one row or votes nobody
confirmed. CPU shares are of one core, from /proc, over the measured window.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx

from app.core.registry import load_registry
from benchmark.arena_voter import ArenaVoter, RoundResult
from benchmark.bokeh_client import BokehPageClient
from benchmark.harness import run_demo, warm_up
from benchmark.loadtest_mix import language_mix
from benchmark.loadtest_report import check_votes, percentile, read_battles, spread_ms, summarise
from benchmark.proc_cpu import CpuMeter, cpu_seconds

Log = Callable[[str], None]
REPO = Path(__file__).resolve().parents[1]


CONNECTS_AT_ONCE = 8


def arrival_s(rng: random.Random, cycle_s: float, left_s: float) -> float:
    """When a voter plays first: anywhere in one cycle (battle + pause), as in a steady
    state, so that voters who pause between rounds do not all start at once; never past
    the end of the window."""
    return max(0.0, min(rng.uniform(0, cycle_s), left_s))


def pause_s(rng: random.Random, think_s: float, left_s: float) -> float:
    """A voter's pause before the next round: exponential with mean `think_s` (0: none),
    cut at the end of the window (a pause past it would only idle)."""
    return max(0.0, min(rng.expovariate(1 / think_s), left_s)) if think_s > 0 else 0.0


@dataclass
class LoadTestConfig:
    voters: int
    duration_s: float = 60.0
    standin: bool = True
    url: str | None = None  # an arena page already running (when not `standin`)
    db_path: Path | None = None  # its battle log, read after the run if it can be opened
    server_pid: int | None = None  # for its CPU share, when not `standin`
    supervisor_url: str | None = None  # probed for responsiveness, when not `standin`
    token_interval_s: float = 0.03
    max_new_tokens: int = 112
    languages: Sequence[str] | None = None  # restrict the legacy mix to these codes
    think_s: float = 0.0  # pause between rounds
    double_click_rate: float = 0.1
    round_timeout_s: float | None = None  # a page silent this long is stuck (default 10x ideal)
    seed: int = 1
    workdir: Path | None = None  # where the demo keeps its DB and log (default: temp)
    extra_env: dict[str, str] = field(default_factory=dict)  # for the demo process
    profile_path: Path | None = None  # py-spy's raw (collapsed) stacks of the server
    profile_args: Sequence[str] = ()  # more py-spy options, e.g. ("--idle",)


def code_version() -> str:
    """The commit measured, plus a hash of the uncommitted changes under app/ and tgi/
    (`+dirty.<hash>`): figures compare only between runs of the same code."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    rev = git("rev-parse", "--short", "HEAD") or "unknown"
    diff = git("diff", "HEAD", "--", "app", "tgi")
    untracked = git("ls-files", "--others", "--exclude-standard", "--", "app", "tgi")
    if not diff and not untracked:
        return rev
    digest = hashlib.sha256((diff + untracked).encode()).hexdigest()[:8]
    return f"{rev}+dirty.{digest}"


def port_block(size: int, low: int = 20000, high: int = 32000) -> int:
    """The first of `size` consecutive free ports below the kernel's ephemeral range.

    Forty-odd engines on ports taken from the ephemeral range collide with the app's own
    outgoing connections (an engine then fails to bind, three times over).
    """
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(low, high - size)
        if all(_bindable(port) for port in range(base, base + size)):
            return base
    raise RuntimeError(f"no {size} consecutive free ports in {low}..{high}")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def demo_env(cfg: LoadTestConfig, engines: int) -> dict[str, str]:
    """The demo's settings for a load test: limits out of the way, every model resident."""
    return {
        "ARENA_SUPERVISOR__FIRST_ENGINE_PORT": str(port_block(2 * engines + 10)),
        "ARENA_GENERATION__MAX_NEW_TOKENS": str(cfg.max_new_tokens),
        "ARENA_TRUST__BATTLES_PER_MINUTE_PER_SESSION": "1000000",
        "ARENA_TRUST__BATTLES_PER_HOUR_PER_ADDRESS": "1000000",
        # Every simulated voter comes from this machine: one address.
        "ARENA_TRUST__SESSIONS_PER_ADDRESS": "1000000",
        # 40-odd 16 GB stand-ins: room for all, so no battle waits for a load.
        "ARENA_SUPERVISOR__GPU_MEMORY_GB": "2000",
        "ARENA_SESSION_SALT": "loadtest",
        **cfg.extra_env,
    }


async def _probe(measure: Callable[[], Awaitable[float]], into: list[float]) -> None:
    """Sample a round trip every 0.2 s (the server's responsiveness, as one sees it)."""
    while True:
        with contextlib.suppress(Exception):
            into.append(await measure())
        await asyncio.sleep(0.2)


async def _supervisor_rtt(http: httpx.AsyncClient, url: str) -> float:
    start = time.perf_counter()
    (await http.get(f"{url}/health")).raise_for_status()
    return time.perf_counter() - start


async def _drive(
    cfg: LoadTestConfig, target: _Target, mix: list[tuple[str, float]], tag: str, log: Log
) -> tuple[list[RoundResult], dict[str, Any]]:
    """Connect the voters, let them play for `cfg.duration_s`, return what they saw."""
    rng = random.Random(cfg.seed)
    registry = load_registry()
    ideal = cfg.max_new_tokens * cfg.token_interval_s
    zero = time.monotonic()
    results: list[RoundResult] = []
    clients: list[BokehPageClient] = []
    rtts: dict[str, list[float]] = {"server_rtt_ms": [], "supervisor_rtt_ms": []}
    page_cpu: float | None = None  # the server's CPU seconds per page opened
    async with httpx.AsyncClient(trust_env=False, timeout=60.0) as http:

        async def voter(i: int) -> ArenaVoter:
            client = BokehPageClient(target.url, http=http)
            clients.append(client)
            await client.connect()
            return ArenaVoter(
                client,
                i,
                registry,
                mix,
                tag=tag,
                rng=random.Random(rng.random()),
                round_timeout_s=cfg.round_timeout_s or max(30.0, 10 * ideal),
                double_click_rate=cfg.double_click_rate,
                clock_zero=zero,
            )

        async def play(v: ArenaVoter, deadline: float) -> None:
            cycle = ideal + cfg.think_s
            await asyncio.sleep(arrival_s(v.rng, cycle, deadline - time.monotonic()))
            while time.monotonic() < deadline:
                result = await v.play_round()
                results.append(result)
                if result.outcome == "closed":
                    return
                await asyncio.sleep(pause_s(v.rng, cfg.think_s, deadline - time.monotonic()))

        async def report() -> None:
            while True:
                await asyncio.sleep(10)
                done = [r.votable_s / ideal for r in results if r.votable_s and not r.warmup]
                p95 = percentile(done, 95) or 0.0
                log(f"  {len(done)} battles votable, p95 slowdown so far {p95:.2f}")

        background: list[asyncio.Task[None]] = []
        try:
            # One unmeasured battle first: the server's first battle pays one-off imports.
            first = await voter(-1)
            results.append(await first.play_round(warmup=True))
            # A few pages at a time: each costs the server a page build, and a hundred built
            # at once would each wait past the connect timeout.
            opening = asyncio.Semaphore(CONNECTS_AT_ONCE)

            async def connected(i: int) -> ArenaVoter:
                async with opening:
                    return await voter(i)

            started, server_pid = time.monotonic(), target.cpu.server_pid
            page_cpu = cpu_seconds(server_pid) if server_pid else None
            voters = list(await asyncio.gather(*(connected(i) for i in range(cfg.voters))))
            if server_pid and page_cpu is not None:  # what opening a page costs the server
                page_cpu = round((cpu_seconds(server_pid) - page_cpu) / cfg.voters, 3)
            log(
                f"{len(voters)} voters connected in {time.monotonic() - started:.1f} s; "
                f"measuring for {cfg.duration_s:g} s"
            )
            probe = await voter(-2)  # a page that only pings
            background.append(
                asyncio.create_task(_probe(probe.client.round_trip, rtts["server_rtt_ms"]))
            )
            if target.supervisor_url:
                sup = functools.partial(_supervisor_rtt, http, target.supervisor_url)
                background.append(asyncio.create_task(_probe(sup, rtts["supervisor_rtt_ms"])))
            background.append(asyncio.create_task(report()))
            target.cpu.start()
            profiler = start_profiler(cfg, target.cpu.server_pid)
            deadline = time.monotonic() + cfg.duration_s
            try:
                await asyncio.gather(*(play(v, deadline) for v in voters))
            finally:
                target.cpu.stop()
                stop_profiler(profiler)
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    extra: dict[str, Any] = {name: spread_ms(values) for name, values in rtts.items()}
    extra["protocol_errors"] = sum(len(c.errors) for c in clients)
    extra["server_cpu_s_per_page"] = page_cpu
    return results, extra


def start_profiler(cfg: LoadTestConfig, pid: int | None) -> subprocess.Popen[bytes] | None:
    """py-spy sampling the server for the measured window (non-blocking: it must not slow
    the server it measures), when `cfg.profile_path` is set."""
    if cfg.profile_path is None or pid is None:
        return None
    exe = [shutil.which("py-spy")] if shutil.which("py-spy") else ["uvx", "py-spy"]
    cmd = [*exe, "record", "-p", str(pid), "--nonblocking", "--format", "raw", "-r", "50"]
    cmd += ["-o", str(cfg.profile_path), *cfg.profile_args]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # type: ignore[arg-type]


def stop_profiler(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None:
        return
    proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()


@dataclass
class _Target:
    url: str
    cpu: CpuMeter
    supervisor_url: str | None = None


def run_loadtest(cfg: LoadTestConfig, log: Log | None = None) -> dict[str, Any]:
    """Run the load test and return its summary (the JSON object the command prints)."""
    say: Log = log or (lambda text: print(text, file=sys.stderr, flush=True))
    registry = load_registry()
    mix = language_mix(registry, cfg.languages)
    tag = uuid.uuid4().hex[:8]
    exit_code = None
    with ExitStack() as stack:
        if cfg.standin:
            workdir = cfg.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
            models = [c.model_id for code, _ in mix for c in registry.language(code).contenders]
            demo = stack.enter_context(
                run_demo(
                    workdir,
                    token_interval_s=cfg.token_interval_s,
                    startup_delay_s=0.2,
                    extra_env=demo_env(cfg, len(models)),
                    start_timeout_s=120.0,
                )
            )
            say(f"demo on {demo.url}; loading {len(models)} stand-in engines")
            warm_up(demo.supervisor_url, models, timeout_s=60.0 + 2.0 * len(models))
            target = _Target(demo.url, CpuMeter(demo.proc.pid), demo.supervisor_url)
            db_path: Path | None = demo.db_path
        else:
            if not cfg.url:
                raise ValueError("without standin, give the arena page's URL")
            target = _Target(cfg.url, CpuMeter(cfg.server_pid), cfg.supervisor_url)
            db_path = cfg.db_path
        results, extra = asyncio.run(_drive(cfg, target, mix, tag, say))
        if cfg.standin:
            exit_code = demo.stop()
        logged, note = None, None
        if db_path is not None and db_path.exists():
            try:
                logged = read_battles(db_path, tag)
            except duckdb.Error as exc:
                note = f"battle log not readable ({exc}); stop the server to check the votes"
    summary = summarise(
        results,
        logged,
        voters=cfg.voters,
        duration_s=cfg.duration_s,
        token_interval_s=cfg.token_interval_s,
        max_new_tokens=cfg.max_new_tokens,
    )
    audit = check_votes(results, logged) if logged is not None else {}
    shares = target.cpu.shares()
    server_share, battles = shares.get("server_cpu_share"), summary["battles"]
    summary.update(
        lost_votes=audit.get("lost_votes"),
        duplicate_votes=audit.get("duplicate_votes"),
        unconfirmed_votes=audit.get("unconfirmed_votes"),
        db_battles=audit.get("db_battles"),
        db_votes=audit.get("db_votes"),
        **shares,
        # The robust cost figure: a busy machine stretches latencies, much less this.
        server_cpu_s_per_battle=(
            round(server_share * cfg.duration_s / battles, 3) if server_share and battles else None
        ),
        cores=os.cpu_count(),
        **extra,
        languages={code: round(w, 3) for code, w in mix},
        server_exit_code=exit_code,
        run_tag=tag,
        code_version=code_version(),
        settings_changed=dict(cfg.extra_env),  # what an A/B run changed on the server
    )
    if note:
        summary["note"] = note
    return summary
