"""The battle log: one DuckDB file, written by one thread, readable by analysts.

`BattleStore` is what the app uses (record a battle, record a vote); `export_battles` is
what the `export` command uses; `migrations` owns the schema.
"""

from app.store.battle_store import BattleStore
from app.store.database import StoreClosedError, StoreError, StoreLockedError
from app.store.export import export_battles
from app.store.records import BattleRecord, VoteOutcome, VoteRefusal

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
