"""Residency by memory, the load-time history and the lease book, as plain functions."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from app.core.registry import load_registry
from tgi.engine import Engine
from tgi.leases import LeaseBook
from tgi.load_history import LoadHistory
from tgi.residency import MemoryModel, choose_victims, params_billion


def engine(model: str, gb: float, last_used: float, leased: bool = False) -> Engine:
    e = Engine(model, 0, 1, "http://x", memory_gb=gb, last_used=last_used)
    if leased:
        e.leases["l1"] = "battle"
    return e


@pytest.mark.parametrize(
    ("model", "params"),
    [
        ("HPLT/hplt2c_swe_checkpoints", 2.15),
        ("MultiSynt/nemotron-cc-swedish-tower9b", 2.15),  # "9b" names the translator
        ("MultiSynt/nemotron-cc-swedish-tower72b", 2.15),
        ("MultiSynt/2B-1TT-tower9b-mixture", 2.0),
        ("meta-llama/Llama-3.1-8B", 8.0),
        ("Qwen/Qwen2.5-0.5B-Instruct", 0.5),
    ],
)
def test_params_from_the_model_id(model: str, params: float) -> None:
    assert params_billion(model) == params


def test_default_sizes_fit_four_registry_models_per_80_gb_gpu() -> None:
    memory = MemoryModel()
    for model in load_registry().all_models():
        assert 16 <= memory.model_gb(model) <= 16.3  # 4.3 GB of bf16 weights + 12 GB
    assert memory.engines_fitting(0) == 4
    assert memory.fraction("HPLT/hplt2c_swe_checkpoints", 0) == 0.2
    assert MemoryModel(max_engines=2).engines_fitting(0) == 2


def test_sizes_per_gpu_and_overrides() -> None:
    memory = MemoryModel(
        gpu_memory_gb=[80, 40], reserve_gb=4, overrides={"HPLT/*": 20, "exact/model": 5}
    )
    assert memory.capacity_gb(0) == 76 and memory.capacity_gb(1) == 36
    assert memory.capacity_gb(5) == 36  # GPUs beyond the list take the last size
    assert memory.model_gb("HPLT/hplt2c_fin_checkpoints") == 20
    assert memory.model_gb("exact/model") == 5
    assert memory.fraction("HPLT/hplt2c_fin_checkpoints", 1) == 0.5
    assert memory.check_fits(1, ["HPLT/a", "HPLT/b"]) is not None  # 40 GB > 36 GB
    assert memory.check_fits(0, ["HPLT/a", "HPLT/b"]) is None
    assert "models_per_gpu" in (MemoryModel(max_engines=1).check_fits(0, ["a", "b"]) or "")


def test_victims_are_least_recently_used_unleased_and_only_as_many_as_needed() -> None:
    a, b, c = engine("a", 10, 1.0), engine("b", 10, 2.0), engine("c", 10, 3.0)
    assert choose_victims([a, b, c], [10], set(), 40, None) == []
    assert choose_victims([a, b, c], [10], set(), 30, None) == [a]
    assert choose_victims([a, b, c], [20], set(), 30, None) == [a, b]
    assert choose_victims([a, b, c], [10], {"a"}, 30, None) == [b]  # the request needs a
    a.leases["l1"] = "battle"
    assert choose_victims([a, b, c], [10], set(), 30, None) == [b]
    assert choose_victims([a, b, c], [30], set(), 30, None) is None  # a is leased: wait
    assert choose_victims([a, b, c], [1], set(), 100, 3) == [b]  # the count cap


def test_load_history_median_fallbacks_and_file(tmp_path: Path) -> None:
    path = tmp_path / "loads.json"
    history = LoadHistory(default_s=60, keep=3, path=path)
    assert history.estimate("m1") == 60
    for seconds in (40, 100, 42, 44):  # keeps the last 3: 100, 42, 44
        history.record("m1", seconds)
    assert history.estimate("m1") == 44
    history.record("m2", 10)
    assert history.estimate("m2") == 10
    assert history.estimate("never-loaded") == 43  # median over every model's samples
    assert json.loads(path.read_text()) == {"m1": [100, 42, 44], "m2": [10]}
    again = LoadHistory(default_s=60, keep=3, path=path)  # a restarted supervisor
    assert again.measured() == {"m1": 44, "m2": 10}
    path.write_text("{not json")
    assert LoadHistory(default_s=7, path=path).estimate("m1") == 7  # unreadable: afresh


async def test_lease_book_expiry_and_renewal() -> None:
    expired: list[str] = []
    book = LeaseBook(0.05, lambda lease: expired.append(lease.lease_id))
    book.add("short", "b1", {"m": "u"})
    long = book.add("long", "b2", {"m": "u"}, ttl_s=0.05)
    assert book.renew("long", 30) is long and long.ttl_s == 30
    for _ in range(200):
        if expired:
            break
        await asyncio.sleep(0.01)
    assert expired == ["short"] and len(book) == 1
    assert book.pop("long") is long and book.pop("long") is None
    assert book.renew("short") is None
