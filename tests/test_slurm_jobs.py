"""The Slurm job script and its quoting, run by bash here (no Slurm needed), and the
launcher's settings: what each engine payload is, and the refusals.

The script is executed for real with a payload that prints its argv as JSON, so a value
that escaped its quotes would show as a changed argument or as a file created by the
injected command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.arena.engine_status import battle_readiness
from app.arena.round_prep import describe_readiness, generate_allowed
from app.core.i18n import Translator, load_catalogue
from app.core.settings import Settings
from tgi.service import build_launcher
from tgi.slurm_jobs import JobOptions, JobScript, job_name, parse_scontrol
from tgi.slurm_launcher import _read_endpoint, payload_argv

HOSTILE = [
    "a'; rm -rf / #",
    '"; touch {pwned} ; echo "',
    "$(touch {pwned})",
    "`touch {pwned}`",
    "two words\tand\na newline",
    "--port={port}",
    "*",
    "~root",
    "${HOME}",
    "",
]


def _run_script(tmp_path: Path, payload: list[str], *, beat_age_s: float = 0.0, **kw: object):
    endpoint = tmp_path / "job.endpoint"
    heartbeat = tmp_path / "heartbeat"
    heartbeat.touch()
    if beat_age_s:
        old = time.time() - beat_age_s
        os.utime(heartbeat, (old, old))
    script = JobScript(payload, endpoint, heartbeat, **kw)  # type: ignore[arg-type]
    path = tmp_path / "job.sh"
    path.write_text(script.render())
    return path, endpoint


def test_hostile_values_reach_the_payload_unchanged_and_run_nothing(tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    values = [v.replace("{pwned}", str(pwned)) for v in HOSTILE]
    printer = "import json, sys; print(json.dumps(sys.argv[1:]))"
    path, endpoint = _run_script(
        tmp_path,
        [sys.executable, "-c", printer, *values],
        env={"ARENA_X": "a'; touch " + str(pwned) + " #"},
        workdir=tmp_path / "dir with 'quotes' and $(touch x)",
    )
    (tmp_path / "dir with 'quotes' and $(touch x)").mkdir()
    done = subprocess.run(["bash", str(path)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    argv = json.loads(done.stdout.strip().splitlines()[-1])
    # The port the job picked replaces the placeholder, and only there.
    port = argv[values.index("--port={port}")].removeprefix("--port=")
    assert port.isdigit() and 20000 <= int(port) < 60000
    assert argv == [v.replace("{port}", port) for v in values]
    assert not pwned.exists()
    assert not (tmp_path / "x").exists()
    assert not endpoint.exists()  # removed when the engine ended
    assert "engine on " in done.stderr and f":{port}" in done.stderr


def test_the_container_runtime_is_found_on_the_node_whatever_its_path(tmp_path: Path) -> None:
    odd = tmp_path / "tools & more"  # bash 5.2 would put the match where a bare & stands
    odd.mkdir()
    (odd / "apptainer").write_text('#!/bin/sh\nprintf "%s\\n" "$0" "$@"\n')
    (odd / "apptainer").chmod(0o755)
    path, _ = _run_script(tmp_path, ["{container_runtime}", "run", "x&y"])
    env = {**os.environ, "PATH": f"{odd}:/usr/bin:/bin"}
    done = subprocess.run(["bash", str(path)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [str(odd / "apptainer"), "run", "x&y"]


def test_the_endpoint_file_says_host_and_port_while_the_engine_runs(tmp_path: Path) -> None:
    path, endpoint = _run_script(tmp_path, ["sleep", "30"])
    proc = subprocess.Popen(["bash", str(path)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not endpoint.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        host, port, *address = endpoint.read_text().split()
        assert host and port.isdigit() and len(address) <= 1  # no address where none is set
        proc.send_signal(signal.SIGTERM)  # scancel: the engine gets it, the job ends
        assert proc.wait(10) != 0
    finally:
        proc.kill()
        proc.wait()


def test_the_endpoint_file_gives_the_url_by_name_or_by_address(tmp_path: Path) -> None:
    path = tmp_path / "job.endpoint"
    assert _read_endpoint(path) is None  # not running yet
    path.write_text("localhost 23456 10.0.0.7\n")
    assert _read_endpoint(path) == "http://localhost:23456"
    path.write_text("no-such-node.invalid 23456 10.0.0.7\n")
    assert _read_endpoint(path) == "http://10.0.0.7:23456"
    path.write_text("gpu7 23456\n")  # no address: the name as it is
    assert _read_endpoint(path) == "http://gpu7:23456"
    path.write_text("gpu7\n")
    assert _read_endpoint(path) is None


def test_a_stale_heartbeat_ends_the_job(tmp_path: Path) -> None:
    path, _ = _run_script(tmp_path, ["sleep", "60"], beat_age_s=100, heartbeat_timeout_s=45)
    started = time.monotonic()
    done = subprocess.run(["bash", str(path)], capture_output=True, text=True, timeout=30)
    assert time.monotonic() - started < 15
    assert done.returncode != 0
    assert "no heartbeat from the supervisor" in done.stderr


def test_a_fresh_heartbeat_keeps_the_job(tmp_path: Path) -> None:
    path, _ = _run_script(tmp_path, ["sleep", "3"], heartbeat_timeout_s=45)
    done = subprocess.run(["bash", str(path)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "no heartbeat" not in done.stderr


def test_a_bad_environment_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not an environment variable name"):
        JobScript(["true"], tmp_path / "e", tmp_path / "h", env={"A;B": "x"}).render()


def test_sbatch_options_are_single_arguments(tmp_path: Path) -> None:
    options = JobOptions(
        partition="gpu'; rm -rf / #", account="acc", time_limit="1:00:00", extra=("--qos=x y",)
    )
    argv = options.sbatch_argv(
        job_name("HPLT/hplt2c_swe_checkpoints"), tmp_path / "j.sh", tmp_path / "j.log"
    )
    assert argv[:2] == ["sbatch", "--parsable"]
    assert "--job-name=oellm-arena-HPLT_hplt2c_swe_checkpoints" in argv
    assert "--partition=gpu'; rm -rf / #" in argv
    assert "--gres=gpu:1" in argv and "--time=1:00:00" in argv and "--account=acc" in argv
    assert "--qos=x y" in argv and argv[-1] == str(tmp_path / "j.sh")
    gpus = JobOptions(gpu_option="gpus").sbatch_argv("n", tmp_path / "j.sh", tmp_path / "o")
    assert "--gpus=1" in gpus and "--gres=gpu:1" not in gpus


def test_job_names_carry_the_prefix_and_no_odd_characters() -> None:
    assert job_name("MultiSynt/nemotron-cc-swedish-tower9b") == (
        "oellm-arena-MultiSynt_nemotron-cc-swedish-tower9b"
    )
    assert job_name("a b'$(x)") == "oellm-arena-a_b_x_"


@pytest.mark.parametrize(
    ("line", "state", "code"),
    [
        ("JobId=7 JobName=x JobState=PENDING Reason=Resources ExitCode=0:0", "PENDING", None),
        ("JobId=7 JobState=RUNNING Reason=None BatchHost=gpu3 ExitCode=0:0", "RUNNING", None),
        ("JobId=7 JobState=COMPLETED Reason=None ExitCode=0:0", "COMPLETED", 0),
        ("JobId=7 JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0", "FAILED", 3),
        ("JobId=7 JobState=CANCELLED Reason=None ExitCode=0:15", "CANCELLED", -15),
        ("JobId=7 JobState=TIMEOUT Reason=TimeLimit ExitCode=0:0", "TIMEOUT", 1),
    ],
)
def test_scontrol_lines(line: str, state: str, code: int | None) -> None:
    info = parse_scontrol(7, line)
    assert (info.state, info.exit_code) == (state, code)
    assert info.ended == (code is not None)


def _settings(**slurm: object) -> Settings:
    return Settings(slurm=slurm)  # type: ignore[arg-type]


def test_payloads_for_each_engine() -> None:
    model = "HPLT/hplt2c_swe_checkpoints"
    standin = payload_argv(_settings(engine="standin"), model)
    assert standin[1:3] == ["-m", "tgi.standin.engine"]
    assert standin[standin.index("--port") + 1] == "{port}"
    assert standin[standin.index("--host") + 1] == "0.0.0.0"
    tgi = payload_argv(_settings(engine="tgi", memory_fraction=0.8), model)
    assert tgi[:3] == ["{container_runtime}", "run", "--nv"]
    assert "docker://ghcr.io/huggingface/text-generation-inference:3.3.5" in tgi
    assert tgi[tgi.index("--model-id") + 1] == model
    assert tgi[tgi.index("--cuda-memory-fraction") + 1] == "0.80"
    vllm = payload_argv(_settings(engine="vllm"), model)
    assert vllm[:3] == ["vllm", "serve", model]
    assert vllm[vllm.index("--served-model-name") + 1] == model
    command = Settings(
        slurm={"engine": "command"},  # type: ignore[arg-type]
        supervisor={"launch_command": "my-engine --model {model_id} --port {port} --as {name}"},  # type: ignore[arg-type]
    )
    assert payload_argv(command, model) == [
        "my-engine",
        "--model",
        model,
        "--port",
        "{port}",
        "--as",
        "oellm-arena-HPLT_hplt2c_swe_checkpoints",
    ]


def test_the_slurm_launcher_without_sbatch_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    settings = Settings(supervisor={"launcher": "slurm"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="launcher 'slurm' needs sbatch"):
        build_launcher(settings)


def test_a_command_engine_without_a_command_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for tool in ("sbatch", "scontrol", "squeue", "scancel"):
        (tmp_path / tool).write_text("#!/bin/sh\n")
        (tmp_path / tool).chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    settings = Settings(supervisor={"launcher": "slurm"}, slurm={"engine": "command"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs ARENA_SUPERVISOR__LAUNCH_COMMAND"):
        build_launcher(settings)


def test_bad_slurm_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="engine"):
        _settings(engine="docker")
    with pytest.raises(ValueError, match="gpu_option"):
        _settings(gpu_option="gpu")


def _status(*engines: dict) -> dict:
    return {"slots": [{"gpu": 0, "engines": list(engines)}], "queue": []}


def test_a_pending_job_reads_as_waiting_for_a_gpu_with_its_place() -> None:
    models = ["ms", "hp"]
    status = _status(
        {
            "model": "ms",
            "state": "pending",
            "waiting": {"job_id": 9, "reason": "Resources", "queue_position": 2},
        },
        {"model": "hp", "state": "ready"},
    )
    readiness = battle_readiness(status, models)
    assert (readiness.state, readiness.ready, readiness.queue_position) == ("waiting_gpu", False, 2)
    assert not generate_allowed(readiness, {"ms": "pending", "hp": "ready"})
    t = Translator(load_catalogue(), "eng")
    text = describe_readiness(t, readiness, "Swedish", False)
    assert text == "Waiting for a free GPU for the Swedish models (number 2 in line)…"
    # Loading beats waiting for the voter's message only when nothing waits.
    status["slots"][0]["engines"][0] = {"model": "ms", "state": "loading", "eta_seconds": 3}
    assert battle_readiness(status, models).state == "loading"
    unknown_place = _status(
        {"model": "ms", "state": "pending", "waiting": None}, {"model": "hp", "state": "pending"}
    )
    plain = battle_readiness(unknown_place, models)
    assert (plain.state, plain.queue_position) == ("waiting_gpu", None)
    assert (
        describe_readiness(t, plain, "Swedish", False)
        == "Waiting for a free GPU for the Swedish models…"
    )
