"""The analysts' SQL views (schema `analytics`), as shipped by migration m004.

Frozen like the migration that runs it: to change a view, add `VIEWS_V2` here and a new
migration that runs it (`CREATE OR REPLACE VIEW`), never edit this text, so a database
migrated last year and one migrated today end with the same definitions.

`vote_date` is the UTC day of the vote, whatever the session's time zone (computed from
the epoch: a time zone conversion is ten times slower on a million rows).

Every view counts only completed battles that were voted on; failed or unvoted battles
never enter a number. Rates are among decisive votes (wins / (wins + losses)); ties and
"both bad" are counted in their own columns. Intervals are 95% Wilson score intervals,
computed in SQL so that the duckdb CLI shows the same numbers as the dashboard.
"""

from __future__ import annotations

_Z = 1.959963984540054  # the 97.5% standard normal quantile


def _wilson(k: str, n: str, bound: str) -> str:
    """SQL for one end of the Wilson interval of `k` successes in `n` trials (NULL if n=0)."""
    sign = "-" if bound == "low" else "+"
    z2 = _Z * _Z
    return (
        f"CASE WHEN ({n}) > 0 THEN greatest(0.0, least(1.0, "
        f"(({k}) / ({n}) + {z2} / (2.0 * ({n})) {sign} {_Z} * sqrt(({k}) / ({n}) * "
        f"(1 - ({k}) / ({n})) / ({n}) + {z2} / (4.0 * ({n}) * ({n})))) / (1 + {z2} / ({n}))"
        "))::DOUBLE END"
    )


def _rate_columns(wins: str, losses: str, prefix: str = "") -> str:
    decisive = f"({wins} + {losses})"
    return (
        f"CASE WHEN {decisive} > 0 THEN {wins} / {decisive} END AS {prefix}win_rate, "
        f"{_wilson(wins, decisive, 'low')} AS {prefix}ci_low, "
        f"{_wilson(wins, decisive, 'high')} AS {prefix}ci_high"
    )


VOTED_BATTLES = """
CREATE OR REPLACE VIEW analytics.voted_battles AS
SELECT
    battle_id,
    created_at,
    voted_at,
    DATE '1970-01-01' + CAST(epoch_us(voted_at) // 86400000000 AS INTEGER) AS vote_date,
    language,
    source,
    prompt,
    model_a,
    model_b,
    family_a,
    family_b,
    variant_a,
    variant_b,
    response_a,
    response_b,
    winner,
    CASE winner WHEN 'model_a' THEN 'left' WHEN 'model_b' THEN 'right' ELSE winner END
        AS winner_position,
    CASE WHEN family_a = 'multisynt' AND family_b = 'hplt' THEN 'left'
         WHEN family_a = 'hplt' AND family_b = 'multisynt' THEN 'right' END
        AS multisynt_position,
    CASE WHEN family_a = 'multisynt' AND family_b = 'hplt' THEN model_a
         WHEN family_a = 'hplt' AND family_b = 'multisynt' THEN model_b END
        AS multisynt_model,
    CASE WHEN family_a = 'multisynt' AND family_b = 'hplt' THEN variant_a
         WHEN family_a = 'hplt' AND family_b = 'multisynt' THEN variant_b END
        AS multisynt_variant,
    CASE WHEN family_a = 'multisynt' AND family_b = 'hplt' THEN model_b
         WHEN family_a = 'hplt' AND family_b = 'multisynt' THEN model_a END
        AS hplt_model,
    CASE
        WHEN NOT ((family_a = 'multisynt' AND family_b = 'hplt')
               OR (family_a = 'hplt' AND family_b = 'multisynt')) THEN NULL
        WHEN winner IN ('tie', 'both_bad') THEN winner
        WHEN (winner = 'model_a') = (family_a = 'multisynt') THEN 'win'
        ELSE 'loss'
    END AS multisynt_outcome,
    ttft_ms_a,
    ttft_ms_b,
    duration_ms_a,
    duration_ms_b,
    tokens_a,
    tokens_b,
    flags
FROM main.battles
WHERE status = 'completed' AND winner IS NOT NULL
"""

SIDES = """
CREATE OR REPLACE VIEW analytics.sides AS
SELECT battle_id, voted_at, vote_date, language, source,
       'a' AS side, 'left' AS position,
       model_a AS model, family_a AS family, variant_a AS variant,
       model_b AS opponent, family_b AS opponent_family,
       CASE winner WHEN 'model_a' THEN 'win' WHEN 'model_b' THEN 'loss' ELSE winner END
           AS outcome,
       flags
FROM analytics.voted_battles
UNION ALL
SELECT battle_id, voted_at, vote_date, language, source,
       'b' AS side, 'right' AS position,
       model_b AS model, family_b AS family, variant_b AS variant,
       model_a AS opponent, family_a AS opponent_family,
       CASE winner WHEN 'model_b' THEN 'win' WHEN 'model_a' THEN 'loss' ELSE winner END
           AS outcome,
       flags
FROM analytics.voted_battles
"""

_OUTCOME_COUNTS = """
    count(*) AS battles,
    count(*) FILTER (WHERE outcome = 'win') AS wins,
    count(*) FILTER (WHERE outcome = 'loss') AS losses,
    count(*) FILTER (WHERE outcome = 'tie') AS ties,
    count(*) FILTER (WHERE outcome = 'both_bad') AS both_bad
"""

WIN_RATES_BY_LANGUAGE = f"""
CREATE OR REPLACE VIEW analytics.win_rates_by_language AS
WITH c AS (
    SELECT language, family, {_OUTCOME_COUNTS}
    FROM analytics.sides GROUP BY language, family
)
SELECT *, {_rate_columns("wins", "losses")}
FROM c ORDER BY language, family
"""

_MULTISYNT_COUNTS = """
    count(*) AS battles,
    count(*) FILTER (WHERE multisynt_outcome = 'win') AS multisynt_wins,
    count(*) FILTER (WHERE multisynt_outcome = 'loss') AS hplt_wins,
    count(*) FILTER (WHERE multisynt_outcome = 'tie') AS ties,
    count(*) FILTER (WHERE multisynt_outcome = 'both_bad') AS both_bad
"""

WIN_RATES_BY_VARIANT = f"""
CREATE OR REPLACE VIEW analytics.win_rates_by_variant AS
WITH c AS (
    SELECT multisynt_variant AS variant, {_MULTISYNT_COUNTS}
    FROM analytics.voted_battles
    WHERE multisynt_outcome IS NOT NULL AND language <> 'mul'
    GROUP BY multisynt_variant
)
SELECT *, {_rate_columns("multisynt_wins", "hplt_wins", "multisynt_")}
FROM c ORDER BY variant
"""

WIN_RATES_BY_LANGUAGE_VARIANT = f"""
CREATE OR REPLACE VIEW analytics.win_rates_by_language_variant AS
WITH c AS (
    SELECT language, multisynt_variant AS variant, multisynt_model, hplt_model,
           {_MULTISYNT_COUNTS}
    FROM analytics.voted_battles
    WHERE multisynt_outcome IS NOT NULL
    GROUP BY language, multisynt_variant, multisynt_model, hplt_model
)
SELECT *, {_rate_columns("multisynt_wins", "hplt_wins", "multisynt_")}
FROM c ORDER BY language, variant
"""

_POSITION_COUNTS = """
    count(*) AS battles,
    count(*) FILTER (WHERE winner = 'model_a') AS left_wins,
    count(*) FILTER (WHERE winner = 'model_b') AS right_wins,
    count(*) FILTER (WHERE winner = 'tie') AS ties,
    count(*) FILTER (WHERE winner = 'both_bad') AS both_bad
"""

POSITION_BIAS = f"""
CREATE OR REPLACE VIEW analytics.position_bias AS
WITH c AS (SELECT {_POSITION_COUNTS} FROM analytics.voted_battles)
SELECT *, {_rate_columns("left_wins", "right_wins", "left_")} FROM c
"""

POSITION_BIAS_BY_LANGUAGE = f"""
CREATE OR REPLACE VIEW analytics.position_bias_by_language AS
WITH c AS (SELECT language, {_POSITION_COUNTS} FROM analytics.voted_battles GROUP BY language)
SELECT *, {_rate_columns("left_wins", "right_wins", "left_")} FROM c ORDER BY language
"""

VOTES_PER_DAY = """
CREATE OR REPLACE VIEW analytics.votes_per_day AS
SELECT vote_date, language, source,
       count(*) AS votes,
       count(*) FILTER (WHERE multisynt_outcome = 'win') AS multisynt_wins,
       count(*) FILTER (WHERE multisynt_outcome = 'loss') AS hplt_wins,
       count(*) FILTER (WHERE winner = 'tie') AS ties,
       count(*) FILTER (WHERE winner = 'both_bad') AS both_bad
FROM analytics.voted_battles
GROUP BY vote_date, language, source
ORDER BY vote_date, language, source
"""

VIEWS_V1: tuple[str, ...] = (
    "CREATE SCHEMA IF NOT EXISTS analytics",
    VOTED_BATTLES,
    SIDES,
    WIN_RATES_BY_LANGUAGE,
    WIN_RATES_BY_VARIANT,
    WIN_RATES_BY_LANGUAGE_VARIANT,
    POSITION_BIAS,
    POSITION_BIAS_BY_LANGUAGE,
    VOTES_PER_DAY,
)

VIEW_NAMES: tuple[str, ...] = (
    "voted_battles",
    "sides",
    "win_rates_by_language",
    "win_rates_by_variant",
    "win_rates_by_language_variant",
    "position_bias",
    "position_bias_by_language",
    "votes_per_day",
)
