"""GPU slots: which GPU serves which model family, and what each slot holds right now.

Slot 0 serves the MultiSynt side of every battle and slot 1 the HPLT side, so the two
models of a battle load in parallel on two GPUs; with one GPU everything shares slot 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.registry import load_registry
from tgi.engine import Engine, EngineState
from tgi.load_history import LoadHistory
from tgi.residency import MemoryModel

SLOT_OF_FAMILY = {"multisynt": 0, "hplt": 1}


def family_lookup(registry_path: Path | None = None) -> Callable[[str], str]:
    """model id -> family, from the registry at `registry_path` (None: the built-in one,
    as for `Settings.registry_path`); the lookup raises KeyError for a model it does not
    list."""
    registry = load_registry(registry_path)

    def family_of(model_id: str) -> str:
        return registry.contender(model_id).family

    return family_of


@dataclass(eq=False)
class Slot:
    gpu: int
    family: str
    # Resident, asleep or failed, by model.
    engines: dict[str, Engine] = field(default_factory=dict)
    stopping: list[Engine] = field(default_factory=list)

    def resident(self) -> list[Engine]:
        return [e for e in self.engines.values() if e.resident]

    def has(self, model_id: str) -> bool:
        engine = self.engines.get(model_id)
        return engine is not None and engine.resident

    def sleeping(self) -> list[Engine]:
        """Asleep or falling asleep: holding host memory, not GPU memory."""
        return [e for e in self.engines.values() if e.sleeping]

    def all_engines(self) -> list[Engine]:
        return [*self.engines.values(), *self.stopping]

    def status(
        self,
        memory: MemoryModel,
        history: LoadHistory,
        now: float,
        wakes: LoadHistory | None = None,
    ) -> dict[str, Any]:
        """This slot in `GET /status`: capacity, memory in use, every engine (a waking
        engine's estimate from `wakes`, the others' from `history`)."""

        def expected(e: Engine) -> float:
            waking = wakes is not None and e.state is EngineState.WAKING
            return (wakes if waking else history).estimate(e.model_id)  # type: ignore[union-attr]

        return {
            "gpu": self.gpu,
            "family": self.family,
            "capacity": memory.engines_fitting(self.gpu),
            "memory_gb": memory.capacity_gb(self.gpu),
            "memory_used_gb": round(sum(e.memory_gb for e in self.resident()), 2),
            "asleep": len(self.sleeping()),
            "engines": [e.as_status(expected(e), now) for e in self.all_engines()],
        }
