"""`tgi/launch.sh`: the exact docker command for both engines, its refusals, and what it runs.

Never a real docker: every test puts fake `docker` and `nvidia-smi` shell scripts first on
PATH (or leaves them out on purpose). The fake docker records each call's argv, one
argument per line, so the assertions compare argv lists exactly.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAUNCH = REPO / "tgi" / "launch.sh"
TGI_IMAGE = "ghcr.io/huggingface/text-generation-inference:3.3.5"
VLLM_IMAGE = "vllm/vllm-openai:v0.11.0"
END = "--end--"

FAKE_DOCKER = f"""#!/usr/bin/env bash
# Fake docker for tests: records its argv, answers like docker would.
printf '%s\\n' "$@" {END} >> "$FAKE_DOCKER_LOG"
case "$1" in
  info) exit "${{FAKE_DOCKER_INFO_STATUS:-0}}" ;;
  container) [ "$3" = "${{FAKE_DOCKER_EXISTING:-}}" ] && exit 0; exit 1 ;;
  run) echo 0123456789abcdef; exit 0 ;;
  *) exit 0 ;;
esac
"""
FAKE_NVIDIA_SMI = """#!/usr/bin/env bash
printf '%s\\n' ${FAKE_GPUS:-0 1}
"""
TOOLS = ("bash", "cat", "grep", "paste", "sed", "tr")


def tgi_argv(gpu: int, port: int, model: str, *, detach: str = "-d") -> list[str]:
    return [
        "docker", "run", detach, "--name", f"arena-gpu{gpu}-{port}",
        "--gpus", f"device={gpu}", "--shm-size", "1g", "-p", f"127.0.0.1:{port}:80",
        "-v", "/models:/data", "-e", "HF_TOKEN", "-e", "HF_HOME=/data", TGI_IMAGE,
        "--model-id", model, "--revision", "main", "--dtype", "bfloat16",
        "--max-input-tokens", "1536", "--max-total-tokens", "2048",
        "--max-batch-prefill-tokens", "2048", "--max-concurrent-requests", "64",
    ]  # fmt: skip


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    """A PATH directory holding only the tools launch.sh needs, plus fake docker/nvidia-smi."""
    path = tmp_path / "bin"
    path.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, f"{tool} is needed to run launch.sh"
        (path / tool).symlink_to(found)
    for name, text in (("docker", FAKE_DOCKER), ("nvidia-smi", FAKE_NVIDIA_SMI)):
        (path / name).write_text(text)
        (path / name).chmod(0o755)
    return path


class Launch:
    def __init__(self, bin_dir: Path, tmp_path: Path) -> None:
        self.bin_dir = bin_dir
        self.log = tmp_path / "docker-calls.log"
        self.env = {
            "PATH": str(bin_dir),
            "HOME": str(tmp_path),
            "FAKE_DOCKER_LOG": str(self.log),
            "ARENA_MODEL_CACHE": "/models",
            "HF_TOKEN": "hf_secret_value",
        }

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(LAUNCH), *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=20,
        )

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        calls, current = [], []
        for line in self.log.read_text().splitlines():
            if line == END:
                calls.append(current)
                current = []
            else:
                current.append(line)
        return calls


@pytest.fixture
def launch(bin_dir: Path, tmp_path: Path) -> Launch:
    return Launch(bin_dir, tmp_path)


def dry_run_argv(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("#"), result.stdout
    return shlex.split(lines[1])


def test_dry_run_tgi_argv_is_exact(launch: Launch) -> None:
    model = "HPLT/hplt2c_swe_checkpoints"
    result = launch("--gpu", "1", "--model-id", model, "--port", "8701", "--dry-run")
    assert dry_run_argv(result) == tgi_argv(1, 8701, model)
    assert "docker rm --force arena-gpu1-8701" in result.stdout.splitlines()[0]
    assert "hf_secret_value" not in result.stdout + result.stderr  # passed by name only
    assert launch.calls() == []  # a dry run starts nothing


def test_dry_run_vllm_argv_is_exact(launch: Launch) -> None:
    model = "MultiSynt/nemotron-cc-swedish-tower9b"
    result = launch(
        "--engine", "vllm", "--gpu", "0", "--model-id", model, "--port", "8700",
        "--revision", "v1.0", "--memory-fraction", "0.2", "--name", "sv-ms", "--dry-run",
    )  # fmt: skip
    assert dry_run_argv(result) == [
        "docker", "run", "-d", "--name", "sv-ms", "--gpus", "device=0", "--shm-size", "1g",
        "-p", "127.0.0.1:8700:8000", "-v", "/models:/data", "-e", "HF_TOKEN", "-e", "HF_HOME=/data",
        VLLM_IMAGE, "--model", model, "--revision", "v1.0", "--served-model-name", model,
        "--dtype", "bfloat16", "--max-model-len", "2048", "--max-num-seqs", "64",
        "--gpu-memory-utilization", "0.2",
    ]  # fmt: skip


def test_vllm_sleep_mode(launch: Launch) -> None:
    model = "MultiSynt/nemotron-cc-swedish-tower9b"
    base = ("--engine", "vllm", "--gpu", "0", "--model-id", model, "--port", "8700")
    argv = dry_run_argv(launch(*base, "--sleep-mode", "--dry-run"))
    plain = dry_run_argv(launch(*base, "--dry-run"))
    # The dev-mode routes exist inside the container only, never in the host's environment.
    assert argv[argv.index(VLLM_IMAGE) - 2 : argv.index(VLLM_IMAGE)] == [
        "-e", "VLLM_SERVER_DEV_MODE=1",
    ]  # fmt: skip
    assert argv[-1] == "--enable-sleep-mode"
    at = plain.index(VLLM_IMAGE)  # otherwise the same command
    dev_mode = ["-e", "VLLM_SERVER_DEV_MODE=1"]
    assert argv == [*plain[:at], *dev_mode, *plain[at:], "--enable-sleep-mode"]
    refused = launch("--gpu", "0", "--model-id", model, "--port", "8700", "--sleep-mode")
    assert refused.returncode == 2 and "TGI has no sleep mode" in refused.stderr


def test_dry_run_options_and_environment(launch: Launch, tmp_path: Path) -> None:
    cache = tmp_path / "model cache"  # a space: quoted in the printed command
    result = launch(
        "--gpu=0", "--model-id=HPLT/hplt2c_fin_checkpoints", "--port=9000",
        "--memory-fraction=.25", "--foreground", "--dry-run",
        ARENA_TGI_IMAGE="registry.local/tgi:pinned", ARENA_MODEL_CACHE=str(cache),
        ARENA_MAX_CONCURRENT_REQUESTS="16",
    )  # fmt: skip
    argv = dry_run_argv(result)
    assert argv[:4] == ["docker", "run", "--rm", "--name"]  # foreground: attached, no -d
    assert "-d" not in argv
    assert argv[argv.index("-v") + 1] == f"{cache}:/data"
    assert "registry.local/tgi:pinned" in argv and TGI_IMAGE not in argv
    assert argv[argv.index("--max-concurrent-requests") + 1] == "16"
    assert argv[-2:] == ["--cuda-memory-fraction", ".25"]


def test_the_engine_port_is_published_on_loopback_unless_opened(launch: Launch) -> None:
    args = ("--gpu", "0", "--model-id", "a/b", "--port", "8700", "--dry-run")
    loopback = dry_run_argv(launch(*args))
    assert loopback[loopback.index("-p") + 1] == "127.0.0.1:8700:80"
    opened = dry_run_argv(launch(*args, "--publish-address", "0.0.0.0"))
    assert opened[opened.index("-p") + 1] == "0.0.0.0:8700:80"
    by_env = dry_run_argv(launch(*args, "--engine=vllm", ARENA_PUBLISH_ADDRESS="10.1.2.3"))
    assert by_env[by_env.index("-p") + 1] == "10.1.2.3:8700:8000"
    flag_wins = dry_run_argv(
        launch(*args, "--publish-address=127.0.0.1", ARENA_PUBLISH_ADDRESS="0.0.0.0")
    )
    assert flag_wins[flag_wins.index("-p") + 1] == "127.0.0.1:8700:80"
    refused = launch(*args, "--publish-address", "0.0.0.0; id")
    assert refused.returncode == 2 and "must be an IPv4 address" in refused.stderr


def test_dry_run_needs_neither_docker_nor_a_gpu(launch: Launch, bin_dir: Path) -> None:
    (bin_dir / "docker").unlink()
    (bin_dir / "nvidia-smi").unlink()
    result = launch("--gpu", "0", "--model-id", "a/b", "--port", "80", "--dry-run")
    assert result.returncode == 0 and "docker run -d" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model-id", "a/b", "--port", "1"], "--gpu is required"),
        (["--gpu", "0", "--port", "1"], "--model-id is required"),
        (["--gpu", "0", "--model-id", "a/b"], "--port is required"),
        (["--gpu", "x", "--model-id", "a/b", "--port", "1"], "--gpu must be a GPU index"),
        (["--gpu", "0", "--model-id", "a/b", "--port", "0"], "--port must be a TCP port"),
        (["--gpu", "0", "--model-id", "a/b", "--port", "65536"], "--port must be a TCP port"),
        (["--gpu", "0", "--model-id", "a b", "--port", "1"], "is not a model id"),
        (["--gpu", "0", "--model-id", "a/b", "--port", "1", "--engine", "sglang"], "tgi or vllm"),
        (["--gpu", "0", "--model-id", "a/b", "--port", "1", "--memory-fraction", "0"], "(0, 1]"),
        (["--gpu", "0", "--model-id", "a/b", "--port", "1", "--memory-fraction", "1.5"], "(0, 1]"),
        (["--gpu", "0", "--model-id", "a/b", "--port", "1", "--name", "-x"], "container name"),
        (["--gpu", "0", "--model-id", "a/b", "--port", "1", "--revision", "$(id)"], "revision"),
        (["--gpu", "0", "--model-id", "a/b", "--port", "1", "--bogus"], "unknown argument"),
        (["--gpu"], "--gpu needs a value"),
    ],
)
def test_bad_arguments_are_refused(launch: Launch, args: list[str], message: str) -> None:
    result = launch(*args, "--dry-run")
    assert result.returncode == 2
    assert message in result.stderr and "--help" in result.stderr
    assert result.stdout == ""


def test_bad_token_limits_are_refused(launch: Launch) -> None:
    result = launch(
        "--gpu", "0", "--model-id", "a/b", "--port", "1", "--dry-run",
        ARENA_MAX_INPUT_TOKENS="4096",
    )  # fmt: skip
    assert result.returncode == 2 and "must be below ARENA_MAX_TOTAL_TOKENS" in result.stderr


def test_help(launch: Launch) -> None:
    result = launch("--help")
    assert result.returncode == 0 and "usage: launch.sh --gpu N" in result.stdout


ARGS = ("--gpu", "0", "--model-id", "HPLT/hplt2c_swe_checkpoints", "--port", "8700")


def test_missing_docker(launch: Launch, bin_dir: Path) -> None:
    (bin_dir / "docker").unlink()
    result = launch(*ARGS)
    assert result.returncode == 3 and "docker not found on PATH" in result.stderr


def test_docker_daemon_not_answering(launch: Launch) -> None:
    result = launch(*ARGS, FAKE_DOCKER_INFO_STATUS="1")
    assert result.returncode == 3 and "daemon does not answer" in result.stderr
    assert launch.calls() == [["info"]]


def test_missing_nvidia_smi(launch: Launch, bin_dir: Path) -> None:
    (bin_dir / "nvidia-smi").unlink()
    result = launch(*ARGS)
    assert result.returncode == 4 and "nvidia-smi not found" in result.stderr
    assert ["run"] not in [c[:1] for c in launch.calls()]


def test_gpu_that_does_not_exist(launch: Launch) -> None:
    result = launch("--gpu", "3", "--model-id", "a/b", "--port", "8700", FAKE_GPUS="0 1")
    assert result.returncode == 4
    assert "GPU 3 not found (this machine has: 0,1)" in result.stderr


def test_starts_detached_replacing_an_older_container(launch: Launch) -> None:
    result = launch(*ARGS, FAKE_DOCKER_EXISTING="arena-gpu0-8700")
    assert result.returncode == 0, result.stderr
    assert "replacing the older container arena-gpu0-8700" in result.stderr
    assert launch.calls() == [
        ["info"],
        ["container", "inspect", "arena-gpu0-8700"],
        ["rm", "--force", "arena-gpu0-8700"],
        tgi_argv(0, 8700, "HPLT/hplt2c_swe_checkpoints")[1:],
    ]


def test_foreground_runs_attached_and_removes_nothing_new(launch: Launch) -> None:
    result = launch(*ARGS, "--foreground")
    assert result.returncode == 0, result.stderr
    calls = launch.calls()
    assert calls[:2] == [["info"], ["container", "inspect", "arena-gpu0-8700"]]
    assert calls[2] == tgi_argv(0, 8700, "HPLT/hplt2c_swe_checkpoints", detach="--rm")[1:]
    assert len(calls) == 3  # no older container: nothing removed


def test_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    result = subprocess.run(
        [shellcheck, str(LAUNCH), str(REPO / ".ci" / "run")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    assert result.returncode == 0, result.stdout + result.stderr
