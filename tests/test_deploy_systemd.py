"""The systemd units and their environment file: the commands they run are valid
`oellm-arena` invocations, the settings load, the hardening is there, systemd accepts them."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from pydantic import BaseModel

from app.cli import main
from app.core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SYSTEMD = ROOT / "deploy" / "systemd"
APP_UNIT = SYSTEMD / "oellm-arena.service"
SUPERVISOR_UNIT = SYSTEMD / "oellm-arena-supervisor.service"
BACKUP_UNIT = SYSTEMD / "oellm-arena-backup.service"
BACKUP_TIMER = SYSTEMD / "oellm-arena-backup.timer"
ENV_EXAMPLE = SYSTEMD / "oellm-arena.env.example"
INSTALL_ROOT = "/opt/oellm-arena"
OELLM_ARENA = Path(sys.executable).parent / "oellm-arena"

# ARENA_* names in the env file that are not Settings fields: the app unit's command line
# and tgi/launch.sh's environment.
NOT_SETTINGS = {
    "ARENA_WEB_PORT",
    "ARENA_WEB_PREFIX",
    "ARENA_PUBLIC_ORIGIN",
    "ARENA_MODEL_CACHE",
    "ARENA_TGI_IMAGE",
    "ARENA_VLLM_IMAGE",
    "ARENA_MAX_INPUT_TOKENS",
    "ARENA_MAX_TOTAL_TOKENS",
    "ARENA_MAX_CONCURRENT_REQUESTS",
}


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """Sections of a unit file: key -> every value given (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{path.name}: {line!r} outside a section"
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not key=value: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def parse_env(path: Path, include_commented: bool = False) -> dict[str, str]:
    env: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if include_commented and re.match(r"#[A-Z_]+=", line):
            line = line[1:]
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", key), f"bad line {raw!r}"
        env[key] = value
    return env


def expand(command: str, env: dict[str, str]) -> list[str]:
    """A unit's command line as systemd runs it: ${VAR} and $VAR from the environment
    file, $$ for a literal $, %% for a literal %, then split into words."""
    assert not re.search(r"%[^%]", command.replace("%%", "")), "unexpected specifier"
    command = command.replace("%%", "%")

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(2)
        assert name in env, f"{name} is used by a unit but not set in {ENV_EXAMPLE.name}"
        return env[name]

    return shlex.split(re.sub(r"\$\$|\$\{(\w+)\}|\$(\w+)", sub, command))


def check_cli(args: list[str]) -> click.Context:
    """Parse `oellm-arena ARGS` fully (types included) without running it."""
    name, *rest = args
    assert name in main.commands, f"oellm-arena has no command {name!r}"
    return main.commands[name].make_context(name, rest)


UNITS = [APP_UNIT, SUPERVISOR_UNIT]


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_units_restart_log_to_the_journal_and_are_hardened(unit: Path) -> None:
    u = parse_unit(unit)
    svc = u["Service"]
    assert svc["User"] == ["oellm-arena"] and svc["Group"] == ["oellm-arena"]
    assert svc["Restart"] == ["on-failure"]
    assert svc["StandardOutput"] == svc["StandardError"] == ["journal"]
    assert svc["EnvironmentFile"] == ["/etc/oellm-arena/oellm-arena.env"]
    assert svc["WorkingDirectory"] == [INSTALL_ROOT]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "StateDirectory": "oellm-arena",
        "CapabilityBoundingSet": "",
    }.items():
        assert svc[key] == [value], key
    assert u["Install"]["WantedBy"] == ["multi-user.target"]
    assert "StartLimitBurst" in u["Unit"]  # a crash loop ends, visibly, in `failed`


def test_only_the_supervisor_may_use_docker_and_the_app_starts_after_it() -> None:
    sup, app = parse_unit(SUPERVISOR_UNIT), parse_unit(APP_UNIT)
    assert sup["Service"]["SupplementaryGroups"] == ["docker"]
    assert "docker.service" in " ".join(sup["Unit"]["After"] + sup["Unit"]["Requires"])
    assert "SupplementaryGroups" not in app["Service"]
    assert app["Service"]["PrivateDevices"] == ["yes"]  # no GPU, no docker for the app
    assert "oellm-arena-supervisor.service" in " ".join(app["Unit"]["After"])
    assert app["Unit"]["Requires"] == ["oellm-arena-supervisor.service"]


def test_the_units_run_valid_oellm_arena_commands() -> None:
    env = parse_env(ENV_EXAMPLE)
    app_args = expand(parse_unit(APP_UNIT)["Service"]["ExecStart"][0], env)
    sup_args = expand(parse_unit(SUPERVISOR_UNIT)["Service"]["ExecStart"][0], env)
    assert app_args[0] == sup_args[0] == f"{INSTALL_ROOT}/.venv/bin/oellm-arena"

    serve = check_cli(app_args[1:])
    assert serve.command.name == "serve"
    assert serve.params["host"] == "127.0.0.1"  # only nginx reaches the app
    assert serve.params["port"] == int(env["ARENA_WEB_PORT"])
    assert serve.params["prefix"] == env["ARENA_WEB_PREFIX"] == "/oellmarena"
    assert serve.params["allow_websocket_origin"] == (env["ARENA_PUBLIC_ORIGIN"],)
    assert check_cli(sup_args[1:]).command.name == "supervisor"

    # And the installed command accepts them (its --help after them parses every name).
    for args in (app_args, sup_args):
        result = subprocess.run(
            [str(OELLM_ARENA), *args[1:], "--help"], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        assert "Usage: oellm-arena" in result.stdout


def test_the_app_refuses_to_start_with_the_example_salt() -> None:
    env = parse_env(ENV_EXAMPLE)
    (pre,) = parse_unit(APP_UNIT)["Service"]["ExecStartPre"]
    args = expand(pre, env)
    assert args[:2] == ["/bin/sh", "-c"]
    assert env["ARENA_SESSION_SALT"] not in " ".join(args)  # the shell expands it, not systemd

    def run(salt: str | None) -> subprocess.CompletedProcess[str]:
        child = {"PATH": os.environ["PATH"]} | ({"ARENA_SESSION_SALT": salt} if salt else {})
        return subprocess.run(args, env=child, capture_output=True, text=True, timeout=10)

    refused = run(env["ARENA_SESSION_SALT"])
    assert refused.returncode == 1 and "ARENA_SESSION_SALT" in refused.stderr
    assert run(None).returncode == 1
    assert run("4f1c0e9a7b3d2c8e").returncode == 0


def test_the_backup_copies_a_snapshot_daily_and_keeps_two_weeks(tmp_path: Path) -> None:
    unit, timer = parse_unit(BACKUP_UNIT), parse_unit(BACKUP_TIMER)
    svc = unit["Service"]
    assert svc["Type"] == ["oneshot"] and svc["User"] == ["oellm-arena"]
    assert svc["ProtectSystem"] == ["strict"]
    assert svc["ReadWritePaths"] == ["/var/backups/oellm-arena"]
    assert timer["Timer"]["Persistent"] == ["true"]
    assert timer["Install"]["WantedBy"] == ["timers.target"]
    prune = expand(svc["ExecStartPost"][0], {})
    assert prune[:2] == ["/usr/bin/find", "/var/backups/oellm-arena"] and "-delete" in prune

    # The command the shell runs, with a stand-in oellm-arena that prints its arguments.
    (command,) = svc["ExecStart"]
    args = expand(command, parse_env(ENV_EXAMPLE))
    assert args[:2] == ["/bin/sh", "-c"]
    fake = tmp_path / "oellm-arena"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    fake.chmod(0o755)
    script = args[2].replace(f"{INSTALL_ROOT}/.venv/bin/oellm-arena", str(fake))
    result = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr
    printed = result.stdout.splitlines()
    ctx = check_cli(printed)
    assert ctx.command.name == "snapshot"
    assert re.fullmatch(
        r"/var/backups/oellm-arena/arena-\d{8}T\d{4}Z\.duckdb", str(ctx.params["out"])
    )


def _is_setting(name: str) -> bool:
    model: type[BaseModel] = Settings
    parts = name.removeprefix("ARENA_").lower().split("__")
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        annotation = field.annotation
        if i < len(parts) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return False
            model = annotation
    return True


def test_the_env_example_holds_real_settings_that_load(monkeypatch: pytest.MonkeyPatch) -> None:
    env = parse_env(ENV_EXAMPLE)
    every = parse_env(ENV_EXAMPLE, include_commented=True)
    unknown = [
        k for k in every if k.startswith("ARENA_") and k not in NOT_SETTINGS and not _is_setting(k)
    ]
    assert unknown == []
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.db_path == Path("/var/lib/oellm-arena/arena.duckdb")
    assert settings.supervisor.url == f"http://127.0.0.1:{settings.supervisor.port}"
    assert settings.supervisor.launcher == "tgi"
    assert settings.trusted_proxies == ["127.0.0.1", "::1"]
    assert str(settings.supervisor.load_history_path).startswith("/var/lib/oellm-arena/")
    # Secrets are placeholders, never real values.
    assert env["ARENA_SESSION_SALT"].startswith("CHANGE-ME")
    assert every["HF_TOKEN"] == "CHANGE-ME" and "HF_TOKEN" not in env
    # The signing secret has no usable placeholder: left unset, `serve` refuses to start.
    assert every["ARENA_SECRET_KEY"] == "CHANGE-ME" and "ARENA_SECRET_KEY" not in env
    assert settings.secret_key.get_secret_value() == ""


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    if not OELLM_ARENA.exists():
        pytest.skip(f"{OELLM_ARENA} is missing: run the tests with `uv run`")
    # Installed at /opt/oellm-arena in production; here the checkout is the install (its
    # environment may be named .venv-3.11 and the like, as .ci/run names them), and a stub
    # docker.service stands in for Docker's unit.
    venv = Path(sys.executable).parent.parent
    install = venv.parent
    every = [*UNITS, BACKUP_UNIT, BACKUP_TIMER]
    for unit in every:
        text = unit.read_text().replace(f"{INSTALL_ROOT}/.venv/", f"{venv}/")
        (tmp_path / unit.name).write_text(text.replace(INSTALL_ROOT, str(install)))
    (tmp_path / "docker.service").write_text("[Service]\nExecStart=/bin/true\n")
    result = subprocess.run(
        [analyze, "verify", *(str(tmp_path / u.name) for u in every)],
        env={**os.environ, "SYSTEMD_UNIT_PATH": f"{tmp_path}:"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # no warning either (unknown keys...)
