"""One client flooding the arena, and what another voter and the app's memory see meanwhile.

A real `oellm-arena demo`, behind the project's nginx site (when nginx is installed) and
on the app port, as on a Docker Space, each route on a fresh demo. First the flood runs
alone while the app's resident memory is sampled: its growth per flooding client. Then a
second voter loads the arena page (the page, its websocket, the document:
`BokehPageClient.connect`) once a second, each time from an address of its own, in
alternating quiet and flooded windows. Each flooding client, from one address, does its
worst: page loads from `--concurrency` tasks back to back over keep-alive connections,
and websocket messages announcing a thousand buffers followed by 10 MB frames.

    uv run python -m benchmark.flood [--via nginx,direct] [--flooders 1] [--window 12] [--rounds 3]

The flooders run in their own processes at the lowest CPU priority: on one machine they
stand in for clients elsewhere (nginx and the app keep their priority). The last output
line is one JSON object: per route, the second voter's median and p90 page-load time,
quiet and flooded, their ratio, the app's CPU share, the memory the app grew by per
flooding client, and what the flooders got. docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError

from benchmark.bokeh_client import BokehPageClient, ProtocolFailure
from benchmark.harness import free_port, run_demo
from benchmark.nginx_proxy import NGINX, configure, run_nginx
from benchmark.proc_cpu import cpu_seconds

MB = 1 << 20


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


# ---- the flooding client (in its own process) -------------------------------------------


class _Flooder:
    """One flooding client: one address, one keep-alive HTTP connection pool (cheaper for
    it than a TLS handshake per request, as an attacker would do it), counts of what it got."""

    def __init__(self, url: str, address: str, verify: bool, until: float) -> None:
        self.url, self.address, self.verify, self.until = url, address, verify, until
        self.seen: Counter[str] = Counter()
        transport = httpx.AsyncHTTPTransport(local_address=address, verify=verify)
        self.http = httpx.AsyncClient(trust_env=False, transport=transport, timeout=60)

    def client(self) -> BokehPageClient:
        return BokehPageClient(
            self.url, http=self.http, local_address=self.address, verify=self.verify
        )

    async def page_loads(self) -> None:
        await asyncio.sleep(0.5)  # the buffer messages first, while a page is to be had
        while time.monotonic() < self.until:
            client = self.client()
            try:
                await client.connect(timeout_s=60)
                self.seen["page loaded"] += 1
            except ProtocolFailure as exc:
                self.seen["refused: " + str(exc).split(" answered ")[-1][:40]] += 1
            except Exception as exc:
                self.seen[f"error: {type(exc).__name__}"] += 1
            finally:
                await client.close()

    async def buffer_messages(self) -> None:
        """A message announcing 1,000 buffers, then 10 MB frames, again and again."""
        header = json.dumps({"msgid": "flood", "msgtype": "PATCH-DOC", "num_buffers": 1000})
        payload = b"\0" * (10 * MB)
        buffers = [f for i in range(15) for f in (json.dumps({"id": f"b{i}"}), payload)]
        while time.monotonic() < self.until:
            client = self.client()
            try:
                await client.connect(timeout_s=60)
            except Exception:
                await client.close()
                await asyncio.sleep(0.05)
                continue
            sent = 0
            try:
                for fragment in [header, "{}", '{"events": []}', *buffers]:
                    await client.send_fragment(fragment)
                    sent += 1
            except (WebSocketClosedError, StreamClosedError, ProtocolFailure):
                pass
            await client.wait_until(lambda: False, 2)
            closed = "closed by the server" if client.closed else "kept"
            self.seen[f"buffer message: {closed}"] += 1
            self.seen["buffer message: frames sent"] += sent
            await client.close()


def _flood(
    url: str, address: str, verify: bool, seconds: float, concurrency: int, out: Any
) -> None:
    # The lowest CPU priority: on one machine, the flooding client stands in for one
    # elsewhere; nginx and the app keep theirs.
    os.nice(19)

    async def run() -> Counter[str]:
        flooder = _Flooder(url, address, verify, time.monotonic() + seconds)
        tasks = [flooder.page_loads() for _ in range(concurrency)]
        await asyncio.gather(flooder.buffer_messages(), *tasks)
        await flooder.http.aclose()
        return flooder.seen

    out.put(dict(asyncio.run(run())))


# ---- the measuring side ------------------------------------------------------------------


async def _page_load(url: str, address: str, verify: bool) -> float:
    client = BokehPageClient(url, local_address=address, verify=verify)
    start = time.perf_counter()
    try:
        await client.connect(timeout_s=60)
        return time.perf_counter() - start
    finally:
        await client.close()


def _second_voter(url: str, verify: bool, addresses: Iterator[str], seconds: float) -> list[float]:
    """Page-load times of a voter who loads the page about once a second, each time from
    a fresh address (so its own sessions never meet the per-address cap)."""

    async def run() -> list[float]:
        times: list[float] = []
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            times.append(await _page_load(url, next(addresses), verify))
            await asyncio.sleep(max(0.0, 1.0 - times[-1]))
        return times

    return asyncio.run(run())


@contextlib.contextmanager
def _sampling_rss(pid: int) -> Iterator[list[int]]:
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.1):
            samples.append(rss_bytes(pid))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


def _summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median_s": round(statistics.median(ordered), 3),
        "p90_s": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 3),
        "n": len(ordered),
    }


def _start_flooders(
    url: str, verify: bool, addresses: list[str], seconds: float, concurrency: int
) -> tuple[list[Any], Any]:
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_flood, args=(url, a, verify, seconds, concurrency, results))
        for a in addresses
    ]
    for proc in procs:
        proc.start()
    return procs, results


def _join_flooders(procs: list[Any], results: Any) -> list[dict[str, int]]:
    got = [results.get(timeout=180) for _ in procs]
    for proc in procs:
        proc.join(30)
    return got


def measure_route(
    url: str, verify: bool, pid: int, flooders: int, window_s: float, rounds: int, concurrency: int
) -> dict[str, Any]:
    """Memory first (flooders alone), then `rounds` of a quiet and a flooded window of the
    second voter; each flood from fresh addresses, so each starts with its full share."""
    voters = (f"127.1.{i // 250}.{i % 250 + 2}" for i in range(10_000))
    _second_voter(url, verify, voters, 3)  # warm-up: the first page builds are slower
    baseline = rss_bytes(pid)
    with _sampling_rss(pid) as samples:
        procs, results = _start_flooders(
            url, verify, [f"127.2.0.{2 + i}" for i in range(flooders)], window_s, concurrency
        )
        memory_flood = _join_flooders(procs, results)
    grown = max(samples, default=baseline) - baseline

    quiet: list[float] = []
    flooded: list[float] = []
    cpu = {"quiet": 0.0, "flooded": 0.0, "flooders": 0.0}
    wall = {"quiet": 0.0, "flooded": 0.0}
    got: list[dict[str, int]] = []
    for r in range(rounds):
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        quiet += _second_voter(url, verify, voters, window_s)
        cpu["quiet"] += cpu_seconds(pid) - cpu0
        wall["quiet"] += time.monotonic() - t0
        addresses = [f"127.2.{r + 1}.{2 + i}" for i in range(flooders)]
        procs, results = _start_flooders(url, verify, addresses, window_s + 2, concurrency)
        time.sleep(1)  # the flood under way (its processes started)
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        flood0 = sum(cpu_seconds(proc.pid or 0) for proc in procs)
        flooded += _second_voter(url, verify, voters, window_s)
        cpu["flooded"] += cpu_seconds(pid) - cpu0
        cpu["flooders"] += sum(cpu_seconds(proc.pid or 0) for proc in procs) - flood0
        wall["flooded"] += time.monotonic() - t0
        got += _join_flooders(procs, results)
    quiet_s, flooded_s = _summary(quiet), _summary(flooded)
    return {
        "quiet": quiet_s,
        "flooded": flooded_s,
        "ratio_median": round(flooded_s["median_s"] / quiet_s["median_s"], 2),
        "ratio_p90": round(flooded_s["p90_s"] / quiet_s["p90_s"], 2),
        "app_cpu_share": {
            "quiet": round(cpu["quiet"] / wall["quiet"], 2),
            "flooded": round(cpu["flooded"] / wall["flooded"], 2),
        },
        "flooder_cpu_share": round(cpu["flooders"] / wall["flooded"], 2),
        "rss_baseline_mb": round(baseline / MB, 1),
        "rss_growth_mb_per_flooder": round(grown / MB / flooders, 1),
        "memory_flood": memory_flood,
        "fairness_floods": got,
    }


def run(
    vias: Sequence[str], flooders: int, window_s: float, rounds: int, concurrency: int
) -> dict[str, Any]:
    """Each route on a fresh demo, so each starts from the same memory."""
    report: dict[str, Any] = {
        "flooders": flooders,
        "concurrency": concurrency,
        "window_s": window_s,
        "rounds": rounds,
    }
    for via in vias:
        with tempfile.TemporaryDirectory(prefix="arena-flood-") as tmp:
            https_port = free_port()
            origin = ["--allow-websocket-origin", f"localhost:{https_port}"]
            with run_demo(Path(tmp), prefix="/oellmarena", extra_args=origin) as demo:
                pid = demo.proc.pid
                if via == "direct":
                    report[via] = measure_route(
                        demo.url, True, pid, flooders, window_s, rounds, concurrency
                    )
                else:
                    upstream = demo.url.split("//", 1)[1].split("/", 1)[0]
                    proxy = configure(Path(tmp) / "nginx", upstream, https_port=https_port)
                    with run_nginx(proxy):
                        url = f"{proxy.https}/oellmarena/arena"
                        report[via] = measure_route(
                            url, False, pid, flooders, window_s, rounds, concurrency
                        )
                demo.stop()
        print(f"{via}: {json.dumps(report[via])}", file=sys.stderr, flush=True)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.flood", description=__doc__)
    default_via = "nginx,direct" if NGINX else "direct"
    parser.add_argument("--via", default=default_via, help=f"routes (default {default_via})")
    parser.add_argument("--flooders", type=int, default=1, help="flooding clients (addresses)")
    parser.add_argument("--window", type=float, default=12.0, help="seconds per window")
    parser.add_argument("--rounds", type=int, default=3, help="quiet and flooded windows")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="concurrent page loads per flooder"
    )
    args = parser.parse_args(argv)
    vias = [v.strip() for v in args.via.split(",") if v.strip()]
    if not set(vias) <= {"nginx", "direct"} or ("nginx" in vias and NGINX is None):
        parser.error("--via takes nginx and/or direct (nginx needs Debian's nginx installed)")
    print(json.dumps(run(vias, args.flooders, args.window, args.rounds, args.concurrency)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
