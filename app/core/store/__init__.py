"""The battle log: one DuckDB file, written by one thread, readable by analysts.

`BattleStore` is what the app uses (record a battle, record a vote); `export_battles` is
what the `export` command uses; `migrations` owns the schema.
"""

from app.core.store.battle_store import BattleStore
from app.core.store.database import StoreClosedError, StoreError, StoreLockedError
from app.core.store.export import export_battles
from app.core.store.records import BattleRecord, VoteOutcome, VoteRefusal

__all__ = [
    "BattleRecord",
    "BattleStore",
    "StoreClosedError",
    "StoreError",
    "StoreLockedError",
    "VoteOutcome",
    "VoteRefusal",
    "export_battles",
]
