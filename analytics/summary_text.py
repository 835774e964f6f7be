"""`oellm-arena summary --format table`: the pooled verdicts as a terminal reads them."""

from __future__ import annotations

import math

from analytics.verdicts import Difference, Summary, Verdict

SAID = {
    "multisynt": "MultiSynt more fluent",
    "hplt": "HPLT more fluent",
    "open": "no clear difference yet",
    "too_few": "too few votes",
}
HEADER = (
    f"{'':<24}{'win rate':>9}{'95% interval':>17}{'Elo':>6}{'decisive':>10}  {'verdict':<24}needed"
)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%" if math.isfinite(x) else "-"


def _needed(n: int | None, said: str) -> str:
    if said == "too_few":
        return "-"
    if n == 0:
        return "decided"
    return f"{n:,}" if n is not None else "?"


def _line(name: str, v: Verdict) -> str:
    interval = f"{_pct(v.ci_low)} to {_pct(v.ci_high)}" if v.verdict != "too_few" else "-"
    elo = v.elo[0]
    elo_text = f"{elo:+.0f}" if elo is not None else "-"
    return (
        f"{name[:23]:<24}{_pct(v.win_rate):>9}{interval:>17}{elo_text:>6}{v.decisive:>10}  "
        f"{SAID[v.verdict]:<24}{_needed(v.votes_needed, v.verdict)}"
    )


def _difference(d: Difference) -> str:
    if d.verdict == "too_few":
        said = "too few votes"
    elif d.verdict == "open":
        said = "no clear difference yet"
    else:
        said = f"{d.a if d.verdict == 'a' else d.b} better"
    points = f"{100 * d.difference:+.1f} points" if math.isfinite(d.difference) else "-"
    interval = (
        f"({100 * d.ci_low:+.1f} to {100 * d.ci_high:+.1f})" if d.verdict != "too_few" else ""
    )
    langs = f"{len(d.languages)} languages"
    needed = _needed(d.votes_needed, "too_few" if d.verdict == "too_few" else "open")
    needed = "decided" if d.verdict in ("a", "b") else needed
    return f"{d.a + ' - ' + d.b:<24}{points:>13} {interval:<17} {langs:<14}{said:<26}{needed}"


def format_summary(summary: Summary) -> str:
    """The verdicts as plain text: overall, per system, systems against each other, and
    per language (each system indented under its language)."""
    if not summary.cells:
        return "No voted MultiSynt-vs-HPLT battles match."
    o = summary.overall
    lines = [
        "MultiSynt against HPLT: MultiSynt's share of decisive votes "
        f"({len(o.languages)} languages, each weighing the same; without the multilingual "
        "experiment)",
        HEADER,
        "-" * len(HEADER),
        _line("All MultiSynt models", o),
    ]
    lines += [_line(f"MultiSynt {s}", v) for s, v in summary.systems.items()]
    if summary.differences:
        lines += ["", "Translation systems against each other (difference of win rates)"]
        lines += [_difference(d) for d in summary.differences]
    lines += ["", "Per language", HEADER, "-" * len(HEADER)]
    for lv in summary.languages:
        name = lv.language if lv.pooled else f"{lv.language} (apart)"
        lines.append(_line(name, lv.overall))
        if len(lv.systems) > 1:
            lines += [_line(f"  {s}", v) for s, v in lv.systems.items()]
    lines += [
        "",
        "Ties and 'both bad' are not decisive. Elo: the win rate as a rating difference "
        "(400 = 10:1 odds). needed: decisive votes still needed to tell it from parity "
        "with 80% power at the current estimate.",
    ]
    return "\n".join(lines)
