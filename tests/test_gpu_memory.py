"""GPU memory for the residency model: an explicit setting, else nvidia-smi, else 80 GB."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest

from app.core.settings import Settings
from tgi.gpu_memory import QUERY, gpu_memory_gb
from tgi.service import build_supervisor


def _settings(**supervisor: object) -> Settings:
    return Settings(supervisor=supervisor)  # type: ignore[arg-type]


def _never(argv: list[str]) -> str:
    raise AssertionError(f"nvidia-smi should not be asked: {argv}")


def _missing(argv: list[str]) -> str:
    raise FileNotFoundError(argv[0])


def test_an_explicit_setting_wins_over_nvidia_smi() -> None:
    assert gpu_memory_gb(_settings(launcher="tgi", gpu_memory_gb=24), _never) == 24
    assert gpu_memory_gb(_settings(launcher="tgi", gpu_memory_gb=[80, 40]), _never) == [80, 40]


def test_nvidia_smi_gives_each_gpus_memory_in_gb() -> None:
    asked: list[list[str]] = []

    def two_l4(argv: list[str]) -> str:
        asked.append(argv)
        return "23034\n23034\n"

    assert gpu_memory_gb(_settings(launcher="vllm"), two_l4) == [22.5, 22.5]
    assert asked == [QUERY]


def test_without_nvidia_smi_it_says_so_and_plans_with_80_gb(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="tgi.supervisor"):
        assert gpu_memory_gb(_settings(launcher="tgi"), _missing) == 80.0
    assert "nvidia-smi not found: GPU memory taken as 80 GB per GPU" in caplog.text


def test_a_failing_or_garbled_nvidia_smi_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    def failing(argv: list[str]) -> str:
        raise subprocess.CalledProcessError(9, argv)

    with caplog.at_level(logging.WARNING, logger="tgi.supervisor"):
        assert gpu_memory_gb(_settings(launcher="tgi"), failing) == 80.0
        assert gpu_memory_gb(_settings(launcher="tgi"), lambda argv: "No devices\n") == 80.0
        assert gpu_memory_gb(_settings(launcher="tgi"), lambda argv: "0\n1\n") == 80.0
    assert "nvidia-smi failed" in caplog.text and "nvidia-smi said 'No devices'" in caplog.text


def test_engines_without_local_gpus_do_not_ask() -> None:
    assert gpu_memory_gb(_settings(launcher="standin"), _never) == 80.0
    assert gpu_memory_gb(_settings(launcher="slurm"), _never) == 80.0


def test_the_supervisor_plans_with_what_nvidia_smi_on_path_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "nvidia-smi"
    fake.write_text('#!/bin/sh\n[ "$1" = --query-gpu=memory.total ] && printf "81920\\n46068\\n"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    supervisor = build_supervisor(_settings(launcher="tgi"))
    assert supervisor.memory.total_gb(0) == 80.0
    assert supervisor.memory.total_gb(1) == 45.0
