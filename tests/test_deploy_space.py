"""The Docker Space, checked without a Docker engine: the Dockerfile's instructions, its
start script's command lines (parsed by the real CLI), and what the image is told to copy."""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_deploy_systemd import check_cli

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
START = ROOT / "deploy" / "space" / "start.sh"
VENV_BIN = Path(sys.executable).parent


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#") or not line:
            continue
        pending += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            word, _, rest = pending.partition(" ")
            out.append((word.upper(), rest.strip()))
            pending = ""
    return out


def test_the_image_is_python_311_slim_with_uv_on_port_7860() -> None:
    steps = instructions()
    assert steps[0] == ("FROM", "python:3.11-slim")
    assert ("EXPOSE", "7860") in steps
    assert ("USER", "user") in steps  # Spaces run as uid 1000
    syncs = [args for word, args in steps if word == "RUN" and "uv sync" in args]
    assert syncs and all("--frozen" in s and "--no-dev" in s for s in syncs)
    uv = [args for word, args in steps if word == "COPY" and "astral-sh/uv" in args]
    assert len(uv) == 1 and ":latest" not in uv[0]  # a pinned uv


def test_every_copied_path_exists_and_is_in_the_build_context() -> None:
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for word, args in instructions():
        if word != "COPY" or "--from=" in args:
            continue
        *sources, _dest = [a for a in args.split() if not a.startswith("--")]
        for source in sources:
            assert source == "." or (ROOT / source).exists(), source
            assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), source
    # What the project build needs is not ignored.
    for needed in ("pyproject.toml", "uv.lock", "README.md", "LICENSE", "app", "tgi", "deploy"):
        assert needed not in ignored


def test_the_cmd_is_the_start_script_and_it_is_executable() -> None:
    steps = dict(instructions())
    workdir = steps["WORKDIR"]
    cmd = json.loads(steps["CMD"])  # exec form: signals reach the app directly
    assert cmd == [f"{workdir}/deploy/space/start.sh"]
    assert START.stat().st_mode & stat.S_IXUSR
    shellcheck = shutil.which("shellcheck")
    if shellcheck:
        result = subprocess.run([shellcheck, str(START)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout


def _start_args(tmp_path: Path, **env: str) -> tuple[int, list[str], str]:
    """Run start.sh with a stand-in `oellm-arena` that prints its arguments."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir(exist_ok=True)
    fake = fake_bin / "oellm-arena"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    fake.chmod(0o755)
    child = {"PATH": f"{fake_bin}:{os.environ['PATH']}", **env}
    result = subprocess.run([str(START)], env=child, capture_output=True, text=True, timeout=30)
    return result.returncode, result.stdout.splitlines(), result.stderr


def test_by_default_the_space_runs_the_demo_on_7860(tmp_path: Path) -> None:
    code, args, err = _start_args(tmp_path)
    assert code == 0, err
    assert args == ["demo", "--host", "0.0.0.0", "--port", "7860"]
    ctx = check_cli(args)
    assert (ctx.command.name, ctx.params["port"], ctx.params["host"]) == ("demo", 7860, "0.0.0.0")


def test_on_a_space_the_websocket_origin_is_the_space_host(tmp_path: Path) -> None:
    code, args, err = _start_args(tmp_path, SPACE_HOST="oellm-arena.hf.space")
    assert code == 0, err
    ctx = check_cli(args)
    assert ctx.params["allow_websocket_origin"] == ("oellm-arena.hf.space",)


def test_serve_mode_against_remote_engines(tmp_path: Path) -> None:
    code, args, err = _start_args(
        tmp_path,
        ARENA_SPACE_MODE="serve",
        PORT="8080",
        ARENA_ALLOW_WEBSOCKET_ORIGIN="arena.example.org, arena.example.org:8443",
    )
    assert code == 0, err
    ctx = check_cli(args)
    assert ctx.command.name == "serve" and ctx.params["port"] == 8080
    assert ctx.params["allow_websocket_origin"] == ("arena.example.org", "arena.example.org:8443")


@pytest.mark.parametrize("env", [{"ARENA_SPACE_MODE": "supervisor"}, {"PORT": "80; rm"}])
def test_the_start_script_refuses_bad_settings(tmp_path: Path, env: dict[str, str]) -> None:
    code, args, err = _start_args(tmp_path, **env)
    assert code == 2 and args == [] and "error" in err


def test_the_real_cli_accepts_the_start_scripts_command(tmp_path: Path) -> None:
    if not (VENV_BIN / "oellm-arena").exists():
        pytest.skip("oellm-arena is not installed: run the tests with `uv run`")
    for mode in ("demo", "serve"):
        env = {
            "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
            "ARENA_SPACE_MODE": mode,
            "SPACE_HOST": "oellm-arena.hf.space",
        }
        result = subprocess.run(
            [str(START), "--help"], env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        assert f"Usage: oellm-arena {mode}" in result.stdout
