"""What matchmaking reads from the battle log: votes per model, and each MultiSynt
model's decisive record against its reference.

Each is one grouped scan of the voted, completed battles, run on a reader cursor
(`BattleStore.read`); the arena caches the result for minutes and adds its own votes in
between, so these run a few times an hour, never per click.
"""

from __future__ import annotations

import duckdb

_VOTED = "winner IS NOT NULL AND status = 'completed'"


def votes_per_model(cur: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Model id -> voted battles it fought (both sides counted)."""
    rows = cur.execute(
        "SELECT model, count(*) FROM ("
        f" SELECT model_a AS model FROM battles WHERE {_VOTED}"
        " UNION ALL"
        f" SELECT model_b FROM battles WHERE {_VOTED}"
        ") GROUP BY model"
    ).fetchall()
    return {str(model): int(n) for model, n in rows}


def decisive_per_model(cur: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int]]:
    """MultiSynt model id -> (its wins, the reference's wins) over voted, completed
    MultiSynt-against-HPLT battles; ties and "both bad" say nothing about which is more
    fluent, so they are left out. The multilingual experiment's native mixture counts as
    the reference (family `hplt`), as everywhere in the log."""
    rows = cur.execute(
        f"""
        SELECT CASE WHEN family_a = 'multisynt' THEN model_a ELSE model_b END AS model,
               count(*) FILTER (WHERE (winner = 'model_a') = (family_a = 'multisynt')),
               count(*) FILTER (WHERE (winner = 'model_a') <> (family_a = 'multisynt'))
        FROM battles
        WHERE {_VOTED} AND winner IN ('model_a', 'model_b')
          AND ((family_a = 'multisynt' AND family_b = 'hplt')
            OR (family_a = 'hplt' AND family_b = 'multisynt'))
        GROUP BY model
        """
    ).fetchall()
    return {str(model): (int(wins), int(losses)) for model, wins, losses in rows}
