"""The dashboard's colours, defined once: every chart and the page take them from here.

The palette is Okabe and Ito's ("Color Universal Design", 2002; the nine colours of R's
`palette.colors("Okabe-Ito")`), chosen to stay distinct for the common forms of colour
blindness. Each outcome, family and source has ONE colour, whatever the data: a chart
never assigns colours in the order categories happen to appear, so "HPLT better" is the
same vermillion in every chart, for every filter, data set and interface language.

This module imports nothing heavy, so the page's HTML (the answer block's legend) uses the
same colours as the hvplot charts without loading hvplot.
"""

from __future__ import annotations

OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "grey": "#999999",
}

# The two sides of the research question: MultiSynt (translated data) and HPLT (native).
FAMILY_COLORS = {"multisynt": OKABE_ITO["blue"], "hplt": OKABE_ITO["vermillion"]}

# A MultiSynt-vs-HPLT vote's outcome, seen from the MultiSynt side (`summaries`' codes), in
# the order charts stack and list them. A MultiSynt win takes MultiSynt's colour, an HPLT
# win HPLT's; the two votes that prefer neither are the neutral grey and a purple far
# from both.
OUTCOMES = ("win", "loss", "tie", "both_bad")
OUTCOME_COLORS = {
    "win": FAMILY_COLORS["multisynt"],
    "loss": FAMILY_COLORS["hplt"],
    "tie": OKABE_ITO["grey"],
    "both_bad": OKABE_ITO["reddish_purple"],
}

# Where votes came from (the votes-per-day chart): neither side's colour.
SOURCE_COLORS = {"arena": OKABE_ITO["bluish_green"], "legacy": OKABE_ITO["orange"]}

# Estimates that are not about a family (the position bias).
NEUTRAL = OKABE_ITO["black"]
