"""benchmark.stream_floor: battles streamed by the arena's clients with no web app, over
real stand-in engines (a short run; the figures themselves are in docs/benchmarks.md)."""

from __future__ import annotations

import asyncio
import json

import pytest

from benchmark.stream_floor import FloorConfig, main, measure

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("protocol", "reader"),
    [("tgi", "client"), ("tgi", "raw"), ("openai", "client"), ("openai", "raw")],
)
def test_every_battle_streams_both_sides_in_full(protocol: str, reader: str) -> None:
    cfg = FloorConfig(
        voters=2,
        duration_s=1.0,
        protocol=protocol,  # type: ignore[arg-type]
        reader=reader,  # type: ignore[arg-type]
        pairs=1,
        token_interval_s=0.005,
        max_new_tokens=16,
        warmup_s=0.2,
    )
    result = asyncio.run(measure(cfg))
    assert result["errors"] == 0, result["first_errors"]
    assert result["battles"] >= 2
    assert result["tokens"] == result["battles"] * 2 * 16  # both sides, every token
    assert result["p50_slowdown"] >= 0.9  # a battle cannot beat the engines' own pace
    assert result["client_us_per_token"] > 0
    assert result["ideal_s"] == pytest.approx(0.08)


def test_command_prints_one_json_object_last(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--voters", "1", "--duration", "0.5", "--pairs", "1", "--token-interval", "0.005"]
    assert main([*argv, "--max-new-tokens", "8"]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["voters"] == 1 and last["battles"] >= 1 and last["errors"] == 0


def test_bad_arguments_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--voters", "0"])
    assert exit_info.value.code == 2
    assert "--voters" in capsys.readouterr().err
