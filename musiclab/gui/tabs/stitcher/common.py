"""What the Stitcher panels share: choices, texts, colours and how a score reads."""

from __future__ import annotations

import math

from PySide6.QtGui import QColor

from ...widgets.stitcher_timeline import song_color

SCORERS = [("edge", "Learned (default model)"), ("boundary", "Boundary similarity (hand-made)"),
           ("seed", "Seed CNN-LSTM (preset)"), ("random", "Random (chance)")]
CHUNKINGS = [("beats", "Beats"), ("bars", "Bars (4 beats)"), ("fixed", "Fixed length"), ("silence", "On silence")]
EMPTY_POOL = "Empty pool: press <b>Demo pool</b>, add files or a folder, or drop songs on the window."
NO_JOIN = "Click a join (dashed line) in the result, or press Alt+Right, to see the next-best chunks."

SEAM_FIELDS = [
    ("joins", "Joins", "Number of joins in the built song"),
    ("median_z", "Median seam novelty", "Spectral novelty at each join as a z-score against ordinary moments "
     "inside the source songs.\n≤ 1: a join is no more surprising than the music itself."),
    ("max_z", "Roughest seam", "The join with the highest novelty z-score (drawn red in the result if above 2)"),
    ("jump", "Largest sample jump", "Largest sample-to-sample jump at a join, against the 99th percentile "
     "of jumps inside the source songs (a crossfade keeps it small: no clicks)"),
]


def text_color(song: int) -> QColor:
    """The song's colour, darkened where it would be pale as text on a light list."""
    c = song_color(song)
    return c.darker(150) if c.lightness() > 150 else c


def format_score(s: float, kind: str) -> str:
    """A scorer's raw score as a number: the learned default's pool-normalised
    log-probability (``kind == "logprob"``, a share of the pool, not a probability that the
    join sounds right) or another scorer's similarity. Never a percentage: that is
    :func:`format_join`'s, from a calibration."""
    if not math.isfinite(s):
        return "–"
    if kind == "logprob":
        return f"{s:+.2f}"
    return f"{s:.2f}"


def format_join(cost: float, calibrated: bool, short: bool = False) -> str:
    """A join as the user reads it: where the scorer is calibrated (the shipped learned
    model), the probability that the seam audit finds the join clean, from the join cost the
    search minimised (:func:`musiclab.stitcher.chain.match_probability`); else that cost.
    ``short``: the label over a join in the timeline ("97%")."""
    if not math.isfinite(cost):
        return "–"
    if calibrated:
        from ....stitcher.chain import match_probability

        p = match_probability(cost, "edge")
        return f"{100.0 * p:.0f}%" if short else f"{100.0 * p:.0f} % clean"
    return f"{cost:+.1f}" if short else f"cost {cost:+.2f}"


JOIN_TIP = ("% clean: the calibrated probability that the seam audit finds the join inaudible, from the join "
            "cost the search minimised (Platt scaling fitted on 568 joins of unseen clips built with the Build "
            "panel's defaults and the shipped learned model; on other unseen clips it reads 0.93 where 0.92 were "
            "clean, 0.86 where 0.71 were). Other scorers and pool-trained models show the cost itself (lower is "
            "smoother).")
