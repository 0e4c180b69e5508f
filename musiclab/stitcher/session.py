"""Jobs the GUI hands to its service thread: plain core functions, no Qt.

Each returns a new object and never mutates the caller's pool or chain, so an error or
a Cancel leaves what the user already has untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from ..jobs import OnProgress, ShouldStop, check_stop, report
from .chain import Chain, ChainRules, Rendered, build_chain, render_to_length, seam_report, swap
from .pool import Pool, Song, build_pool, load_songs


def add_songs(songs: Sequence[Song], paths: Sequence[str | Path], chunking: str,
              should_stop: ShouldStop = None, on_progress: OnProgress = None) -> Pool:
    """The current songs plus the newly decoded ``paths`` (bad files are skipped with a
    message in ``pool.messages``), cut with ``chunking``."""
    known = {s.path for s in songs}
    new, msgs = load_songs([p for p in paths if str(p) not in known], should_stop=should_stop,
                           on_progress=on_progress)
    allsongs = list(songs) + new
    if not allsongs:
        from .pool import StitcherError

        raise StitcherError("No usable song. " + " ".join(msgs))
    return build_pool(allsongs, chunking, msgs, should_stop=should_stop, on_progress=on_progress)


def rechunk(songs: Sequence[Song], chunking: str, should_stop: ShouldStop = None,
            on_progress: OnProgress = None) -> Pool:
    return build_pool(list(songs), chunking, should_stop=should_stop, on_progress=on_progress)


def encode(pool: Pool, scorer: str, model: Optional[str] = None, should_stop: ShouldStop = None,
           on_progress: OnProgress = None):
    from .scorers import get_scorer

    sc = get_scorer(scorer, model)
    check_stop(should_stop)
    return sc.encode(pool, should_stop=should_stop, on_progress=on_progress)


@dataclass
class Built:
    chain: Chain
    rendered: Rendered
    seams: dict
    pool: Optional[Pool] = None  # the pool and edge codes it was built from (for swaps)
    enc: object = None


def build(pool: Pool, enc, rules: ChainRules, crossfade_ms: float = 60.0, beat_align: bool = True,
          should_stop: ShouldStop = None, on_progress: OnProgress = None) -> Built:
    chain = build_chain(pool, enc, rules, should_stop=should_stop, on_progress=on_progress)
    return _finish(pool, enc, chain, rules, crossfade_ms, beat_align, should_stop, on_progress)


def swap_and_rebuild(pool: Pool, enc, chain: Chain, k: int, new_item: int, rules: ChainRules,
                     crossfade_ms: float = 60.0, beat_align: bool = True, should_stop: ShouldStop = None,
                     on_progress: OnProgress = None) -> Built:
    ch = swap(pool, enc, chain, k, new_item, rules, should_stop=should_stop, on_progress=on_progress)
    return _finish(pool, enc, ch, rules, crossfade_ms, beat_align, should_stop, on_progress)


def _finish(pool, enc, chain, rules, crossfade_ms, beat_align, should_stop, on_progress) -> Built:
    report(on_progress, 0, 2, "rendering")
    chain, r = render_to_length(pool, enc, chain, rules, crossfade_ms, beat_align, should_stop=should_stop)
    check_stop(should_stop)
    report(on_progress, 1, 2, "measuring seams")
    seams = seam_report(pool, r, chain)
    report(on_progress, 2, 2, "built")
    return Built(chain, r, seams, pool, enc)


def train(songs: Sequence[Song], out: str | Path, steps: int = 600, on_loss=None,
          should_stop: ShouldStop = None, on_progress: OnProgress = None) -> str:
    """Train a learned scorer on the pool's songs and save it; returns the path."""
    from .train import EDGE_RECIPE, train_edge

    scorer, _hist = train_edge(list(songs), steps=steps, on_loss=on_loss, threads=1,
                               should_stop=should_stop, on_progress=on_progress, **EDGE_RECIPE)
    return str(scorer.to_file(out))
