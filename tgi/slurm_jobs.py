"""Slurm, as the supervisor uses it: the engine job's script, and sbatch, scontrol, squeue
and scancel run as plain argv (never through a shell).

The job script is generated per engine. Every value that comes from settings or from a
model id is quoted with `shlex.quote`, so nothing reaches the job's shell unquoted; the
two values only the node knows (its free port, the container runtime) are substituted
into the payload's argv *after* it is a bash array, as plain strings that are never
evaluated again. The script:

1. picks a free port on its node and writes `host port address` to the endpoint file (as
   soon as the job runs: the supervisor's usual readiness probe tells loading from ready;
   the address, the node's first, serves a supervisor that cannot resolve the host name);
2. runs the payload (the engine) in the background and, every two seconds, checks the
   supervisor's heartbeat file: older than `heartbeat_timeout_s` (a supervisor killed
   outright) and the engine is stopped and the job ends;
3. passes SIGTERM (scancel, the time limit) on to the engine, and exits with its status.
"""

from __future__ import annotations

import asyncio
import math
import re
import shlex
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

JOB_PREFIX = "oellm-arena"
PORT_PLACEHOLDER = "{port}"
RUNTIME_PLACEHOLDER = "{container_runtime}"
# Job states after which the job will never run again (scontrol's JobState).
TERMINAL_STATES = frozenset(
    {
        "BOOT_FAIL",
        "CANCELLED",
        "COMPLETED",
        "DEADLINE",
        "FAILED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "TIMEOUT",
    }
)
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class SlurmError(RuntimeError):
    """A Slurm command failed; the message names the command and what it said."""


def job_name(model_id: str) -> str:
    """`oellm-arena-<model>` with only characters every Slurm tool shows as they are."""
    return f"{JOB_PREFIX}-{_SAFE_NAME.sub('_', model_id)}"[:120]


@dataclass(frozen=True)
class JobOptions:
    """What sbatch is asked for (from `SlurmSettings`)."""

    partition: str | None = None
    account: str | None = None
    time_limit: str = "12:00:00"
    gpu_option: str = "gres"  # "gres": --gres=gpu:1, "gpus": --gpus=1
    extra: Sequence[str] = ()

    def sbatch_argv(self, name: str, script: Path, output: Path) -> list[str]:
        """The sbatch command line for one engine job (an argv: no shell sees it)."""
        argv = ["sbatch", "--parsable", f"--job-name={name}", f"--time={self.time_limit}"]
        argv.append("--gres=gpu:1" if self.gpu_option == "gres" else "--gpus=1")
        if self.partition:
            argv.append(f"--partition={self.partition}")
        if self.account:
            argv.append(f"--account={self.account}")
        argv += [f"--output={output}", "--open-mode=append", f"--chdir={script.parent}"]
        return [*argv, *self.extra, str(script)]


@dataclass(frozen=True)
class JobScript:
    """One engine job: its payload argv and the files it shares with the supervisor."""

    payload: Sequence[str]
    endpoint_file: Path
    heartbeat_file: Path
    heartbeat_timeout_s: float = 45.0
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: Path | None = None

    def render(self) -> str:
        q = shlex.quote
        exports = "".join(f"export {name}={q(value)}\n" for name, value in self.env.items())
        for name in self.env:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"not an environment variable name: {name!r}")
        workdir = f"cd {q(str(self.workdir))} || exit 1\n" if self.workdir else ""
        payload = " ".join(q(part) for part in self.payload)
        return _TEMPLATE.format(
            endpoint_file=q(str(self.endpoint_file)),
            heartbeat_file=q(str(self.heartbeat_file)),
            heartbeat_timeout_s=max(1, math.ceil(self.heartbeat_timeout_s)),
            exports=exports,
            workdir=workdir,
            payload=payload,
            port_placeholder=q(PORT_PLACEHOLDER),
            runtime_placeholder=q(RUNTIME_PLACEHOLDER),
        )


_TEMPLATE = """\
#!/bin/bash
# An OELLM Arena engine job, written by the supervisor (tgi/slurm_jobs.py).
set -u
endpoint_file={endpoint_file}
heartbeat_file={heartbeat_file}
heartbeat_timeout_s={heartbeat_timeout_s}
{exports}{workdir}payload=({payload})

# A port nothing on this node listens on (the engine binds it once loaded).
port=""
for _ in $(seq 500); do
  candidate=$((20000 + RANDOM % 40000))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
    port=$candidate
    break
  fi
done
[ -n "$port" ] || {{ echo "oellm-arena job: no free port on $(hostname)" >&2; exit 1; }}
runtime=$(command -v apptainer || command -v singularity || echo apptainer)
port_placeholder={port_placeholder}
runtime_placeholder={runtime_placeholder}
for i in "${{!payload[@]}}"; do
  payload[i]=${{payload[i]//"$port_placeholder"/"$port"}}  # quoted: no & expansion (bash 5.2)
  payload[i]=${{payload[i]//"$runtime_placeholder"/"$runtime"}}
done

host=$(hostname)  # the short name: -f would ask DNS, which a node may lack
address=$(hostname -I 2>/dev/null | cut -d ' ' -f 1)  # for a supervisor that cannot resolve $host
echo "oellm-arena job ${{SLURM_JOB_ID:-?}}: engine on $host:$port ($address)" >&2
printf '%s %s %s\\n' "$host" "$port" "$address" >"$endpoint_file.tmp"
mv -f "$endpoint_file.tmp" "$endpoint_file"

"${{payload[@]}}" &
engine=$!
stopping=""
trap 'stopping=1; kill -TERM "$engine" 2>/dev/null' TERM INT HUP
while [ -z "$stopping" ] && kill -0 "$engine" 2>/dev/null; do
  beat=$(stat -c %Y "$heartbeat_file" 2>/dev/null || echo 0)
  age=$(($(date +%s) - beat))
  if [ "$age" -gt "$heartbeat_timeout_s" ]; then
    echo "oellm-arena job: no heartbeat from the supervisor for $age s: stopping the engine" >&2
    kill -TERM "$engine" 2>/dev/null
    break
  fi
  sleep 2 &
  wait $! 2>/dev/null
done
wait "$engine"
code=$?
rm -f "$endpoint_file"
exit "$code"
"""


def require_tools(tools: Sequence[str] = ("sbatch", "scontrol", "squeue", "scancel")) -> None:
    """ValueError naming the Slurm commands missing from PATH (a launcher that cannot work)."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise ValueError(
            f"launcher 'slurm' needs {', '.join(missing)} on PATH (install Slurm's client "
            "commands, or run deploy/slurm/local-cluster.sh start)"
        )


async def run(argv: Sequence[str], timeout_s: float = 30.0) -> str:
    """Run a Slurm command; its stdout, or SlurmError with what it printed."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise SlurmError(f"{shlex.join(argv)}: no answer in {timeout_s:.0f} s") from None
    if proc.returncode != 0:
        said = (err or out).decode(errors="replace").strip()
        raise SlurmError(f"{shlex.join(argv)} exited {proc.returncode}: {said}")
    return out.decode(errors="replace")


async def submit(options: JobOptions, name: str, script: Path, output: Path) -> int:
    """sbatch the script; the job id."""
    out = await run(options.sbatch_argv(name, script, output))
    first = out.strip().split(";")[0]  # --parsable: "id" or "id;cluster"
    if not first.isdigit():
        raise SlurmError(f"sbatch answered {out.strip()!r}, not a job id")
    return int(first)


async def cancel(job_id: int) -> None:
    await run(["scancel", str(job_id)])


@dataclass(frozen=True)
class JobInfo:
    """What scontrol says about one job."""

    job_id: int
    state: str  # PENDING, RUNNING, CANCELLED, ... ("GONE": purged from the controller)
    reason: str = ""
    exit_code: int | None = None  # for ended jobs: the status, negative for a signal
    node: str = ""

    @property
    def ended(self) -> bool:
        return self.state in TERMINAL_STATES or self.state == "GONE"


def parse_scontrol(job_id: int, text: str) -> JobInfo:
    """Parse `scontrol -o show job ID` (one line of key=value pairs)."""
    fields = dict(
        pair.split("=", 1) for pair in text.split() if "=" in pair and not pair.startswith("=")
    )
    state = fields.get("JobState", "UNKNOWN").split("+")[0]
    exit_code = None
    if state in TERMINAL_STATES:
        status, _, sig = fields.get("ExitCode", "0:0").partition(":")
        exit_code = -int(sig) if sig.isdigit() and int(sig) else int(status or 0)
        if exit_code == 0 and state != "COMPLETED":
            exit_code = 1  # cancelled or timed out before the script said anything
    node = fields.get("BatchHost", "")
    return JobInfo(job_id, state, fields.get("Reason", ""), exit_code, node)


async def job_info(job_id: int) -> JobInfo:
    try:
        text = await run(["scontrol", "-o", "show", "job", str(job_id)])
    except SlurmError as exc:
        if "Invalid job id" in str(exc):
            return JobInfo(job_id, "GONE", exit_code=1)
        raise
    return parse_scontrol(job_id, text)


async def queue_position(job_id: int, partition: str | None = None) -> int | None:
    """The job's place among the pending jobs of its partition (1: next), by priority."""
    argv = ["squeue", "-h", "-t", "PD", "-o", "%i", "--sort=-p,i"]
    if partition:
        argv.append(f"--partition={partition}")
    ids = (await run(argv)).split()
    return ids.index(str(job_id)) + 1 if str(job_id) in ids else None
