"""Engine start-up through Slurm: sbatch to a ready engine, and the supervisor's share.

Starts `oellm-arena supervisor` with `ARENA_SUPERVISOR__LAUNCHER=slurm` and stand-in
engines (no simulated load time unless `--startup-delay`), one engine per GPU, and plays
`--rounds` language switches: each acquires a pair of models nothing has loaded, so both
are submitted as fresh jobs (the previous pair is cancelled). Per engine:

    queue_s    = job start (its endpoint file is written) - acquire sent
                 (sbatch, and Slurm scheduling the job)
    start_s    = the engine opened its port (the stand-in's `ready_at`) - job start
                 (the interpreter, imports and the simulated load on the node)
    overhead_s = acquire answered - the later engine's `ready_at`
                 (the supervisor noticing: endpoint file, readiness probe, HTTP)
    total_s    = acquire answered - acquire sent (what a voter waits)

Prints one JSON object (medians and every round) as its last line. Needs a running Slurm
(deploy/slurm/local-cluster.sh start).

    uv run python -m benchmark.slurm_startup [--rounds 6] [--startup-delay 0]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

PAIRS = [
    ["MultiSynt/nemotron-cc-swedish-tower9b", "HPLT/hplt2c_swe_checkpoints"],
    ["MultiSynt/nemotron-cc-finnish-tower9b", "HPLT/hplt2c_fin_checkpoints"],
    ["MultiSynt/nemotron-cc-danish-tower9b", "HPLT/hplt2c_dan_checkpoints"],
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(state_dir: Path, startup_delay: float, poll_s: float) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {
        **os.environ,
        "ARENA_SUPERVISOR__LAUNCHER": "slurm",
        "ARENA_SLURM__ENGINE": "standin",
        "ARENA_SLURM__STATE_DIR": str(state_dir),
        "ARENA_SLURM__POLL_S": str(poll_s),
        "ARENA_SLURM__TIME_LIMIT": "15:00",
        "ARENA_SUPERVISOR__MODELS_PER_GPU": "1",
        "ARENA_SUPERVISOR__FIRST_ENGINE_PORT": str(_free_port()),
        "ARENA_STANDIN__STARTUP_DELAY_S": str(startup_delay),
        "ARENA_STANDIN__TOKEN_INTERVAL_S": "0",
    }
    log = (state_dir / "supervisor.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "supervisor", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"the supervisor did not answer; see {state_dir / 'supervisor.log'}")


def _round(client: httpx.Client, models: list[str], state_dir: Path) -> dict[str, object]:
    before = {p.name for p in state_dir.rglob("*.endpoint")}
    sent = time.time()
    resp = client.post("/acquire", json={"models": models, "holder": "bench", "timeout_s": 120})
    answered = time.time()
    resp.raise_for_status()
    lease = resp.json()
    # A job's endpoint file ("host port") is written the moment the job starts on its node.
    started = {}
    for path in state_dir.rglob("*.endpoint"):
        if path.name not in before:
            started[path.read_text().split()[1]] = path.stat().st_mtime
    queue, start, ready = [], [], []
    for url in lease["endpoints"].values():
        ready_at = client.get(f"{url}/standin/faults").json()["ready_at"]
        job_start = started[url.rsplit(":", 1)[1]]
        queue.append(job_start - sent)
        start.append(ready_at - job_start)
        ready.append(ready_at)
    client.post("/release", json={"lease_id": lease["lease_id"]})
    return {
        "models": models,
        "total_s": round(answered - sent, 3),
        "queue_s": round(max(queue), 3),
        "start_s": round(max(start), 3),
        "overhead_s": round(answered - max(ready), 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="language switches to time")
    parser.add_argument("--startup-delay", type=float, default=0.0, help="stand-in load, s")
    parser.add_argument("--poll-s", type=float, default=1.0, help="ARENA_SLURM__POLL_S")
    parser.add_argument("--keep", type=Path, help="keep the state and logs in this directory")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="slurm-startup-") as tmp:
        state_dir = args.keep or Path(tmp)
        state_dir.mkdir(parents=True, exist_ok=True)
        proc, url = _start(state_dir, args.startup_delay, args.poll_s)
        rounds = []
        try:
            with httpx.Client(base_url=url, timeout=150) as client:
                for i in range(args.rounds):
                    rounds.append(_round(client, PAIRS[i % len(PAIRS)], state_dir))
                    print(json.dumps(rounds[-1]), file=sys.stderr)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    keys = ("total_s", "queue_s", "start_s", "overhead_s")
    medians = {k: round(statistics.median(float(r[k]) for r in rounds), 3) for k in keys}
    print(json.dumps({"rounds": len(rounds), "median": medians, "per_round": rounds}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
