"""The stitcher workbench's operations: plain core functions, no Qt.

The tab hands them to its service thread (``svc.submit(session.build, ...)``) and the CLI or
a test calls them directly. Each returns a new object and never mutates the caller's pool or
chain, so an error or a Cancel leaves what the user already has untouched. Every function
takes ``should_stop`` and ``on_progress``; :func:`train` also ``on_partial`` (loss points).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from ..errors import Cancelled
from ..jobs import OnPartial, OnProgress, ShouldStop, check_stop, report
from .chain import (Chain, ChainRules, Rendered, build_chain, render_to_length,
                    seam_report, swap)
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


def add_demo_songs(songs: Sequence[Song], chunking: str, root: Optional[str | Path] = None,
                   should_stop: ShouldStop = None, on_progress: OnProgress = None) -> Pool:
    """The current songs plus the demo music of ``shared/data/audio`` (or ``root``)."""
    from .pool import StitcherError, demo_song_paths

    paths = demo_song_paths(Path(root) if root else None)
    if not paths:
        raise StitcherError("The demo folder shared/data/audio was not found.")
    return add_songs(songs, paths, chunking, should_stop=should_stop, on_progress=on_progress)


def rechunk(songs: Sequence[Song], chunking: str, should_stop: ShouldStop = None,
            on_progress: OnProgress = None) -> Pool:
    return build_pool(list(songs), chunking, should_stop=should_stop, on_progress=on_progress)


def encode(pool: Pool, scorer: str, model: Optional[str] = None, should_stop: ShouldStop = None,
           on_progress: OnProgress = None):
    from .scorers import get_scorer

    from .cache import encode_cached

    sc = get_scorer(scorer, model)
    check_stop(should_stop)
    # the learned scorer's per-chunk embeddings come from the disk cache where the songs were encoded before
    return encode_cached(sc, pool, should_stop=should_stop, on_progress=on_progress)


@dataclass
class Built:
    chain: Chain
    rendered: Rendered
    seams: dict
    pool: Optional[Pool] = None  # the pool and edge codes it was built from (for swaps)
    enc: object = None
    #: the seam audit (:func:`musiclab.stitcher.seams.audit_rendered`) of the song: share of
    #: audible joins, per join why; None where it could not run
    audit: Optional[dict] = None
    #: the Emotion model's rating of the song (:func:`rate_mood`: quadrant, plane point, timeline and,
    #: with a mood path, the curve and the distance to it); None until rated
    mood: Optional[dict] = None


#: natural moments in the seam audit's reference for a built song (the CLI's default is 1000)
AUDIT_MOMENTS = 400


def build(pool: Pool, enc, rules: ChainRules, crossfade_ms: float = 60.0, beat_align: bool = True,
          should_stop: ShouldStop = None, on_progress: OnProgress = None,
          audit_moments: int = AUDIT_MOMENTS) -> Built:
    """Chain, render (at the sources' quality, joins engineered with ``beat_align``), measure
    the seams and audit the joins (``audit_moments=0``: no audit)."""
    chain = build_chain(pool, enc, rules, should_stop=should_stop, on_progress=on_progress)
    return _finish(pool, enc, chain, rules, crossfade_ms, beat_align, should_stop, on_progress, audit_moments)


def swap_and_rebuild(pool: Pool, enc, chain: Chain, k: int, new_item: int, rules: ChainRules,
                     crossfade_ms: float = 60.0, beat_align: bool = True, should_stop: ShouldStop = None,
                     on_progress: OnProgress = None, audit_moments: int = AUDIT_MOMENTS) -> Built:
    ch = swap(pool, enc, chain, k, new_item, rules, should_stop=should_stop, on_progress=on_progress)
    return _finish(pool, enc, ch, rules, crossfade_ms, beat_align, should_stop, on_progress, audit_moments)


def _finish(pool, enc, chain, rules, crossfade_ms, beat_align, should_stop, on_progress,
            audit_moments: int = AUDIT_MOMENTS) -> Built:
    report(on_progress, 0, 2, "rendering")
    chain, r = render_to_length(pool, enc, chain, rules, crossfade_ms, beat_align, should_stop=should_stop)
    check_stop(should_stop)
    report(on_progress, 1, 2, "measuring seams")
    seams = seam_report(pool, r, chain)
    audit = None
    if audit_moments > 0:
        report(on_progress, 1, 2, "auditing the joins")
        try:
            from .seams import audit_rendered

            audit = audit_rendered(pool, r, chain, moments=audit_moments, should_stop=should_stop)
        except Cancelled:
            raise
        except Exception:  # the audit is a measure, never a reason to lose the song
            audit = None
    report(on_progress, 2, 2, "built")
    return Built(chain, r, seams, pool, enc, audit)


def export(built: Built, path: str | Path) -> list[Path]:
    """Write the built song to ``path`` (any audio format :func:`~musiclab.audio.io.save_audio`
    writes) with a CSV of the chunks used beside it, or only the CSV where ``path`` ends in
    ``.csv``; returns the files written."""
    from ..audio.io import save_audio
    from .chain import write_csv

    p = Path(path)
    if p.suffix.lower() == ".csv":
        return [write_csv(p, built.pool, built.rendered, built.chain)]
    save_audio(p, built.rendered.audio, built.rendered.sr)
    return [p, write_csv(p.with_suffix(".csv"), built.pool, built.rendered, built.chain)]


def alternatives(built: Built, k: int, rules: ChainRules, count: int = 8, should_stop: ShouldStop = None,
                 on_progress: OnProgress = None) -> tuple[int, list[tuple[int, float, float]]]:
    """The next-best chunks at join ``k`` of ``built`` (best first by the search's own join
    cost, the current one left out): ``(k, [(chunk, score, cost), ...])``. Scoring a row can be slow (the seed scorer runs an LSTM
    over every candidate), so the tab runs this in a job."""
    from .chain import alternatives_with_costs

    check_stop(should_stop)
    return k, alternatives_with_costs(built.pool, built.enc, built.chain, k, count=count, rules=rules)


def chunk_moods(pool: Pool, model: Optional[str] = None, should_stop: ShouldStop = None,
                on_progress: OnProgress = None) -> dict:
    """Every chunk's emotion, predicted once (cached with the pool and on disk by content):
    ``{"xy", "probs", "model"}`` (:func:`.mood.predict_chunk_moods`). It is kept on the pool
    itself, so a build afterwards reads it."""
    from .mood import predict_chunk_moods

    return predict_chunk_moods(pool, model, should_stop=should_stop, on_progress=on_progress)


def rate_mood(built: Built, path=None, model: Optional[str] = None, should_stop: ShouldStop = None,
              on_progress: OnProgress = None) -> dict:
    """The built song rated by the Emotion model against ``path`` (a :class:`.mood.MoodPath` or
    None): :func:`.mood.rate_built`. The caller stores it (``built.mood``) on its own thread."""
    from .mood import rate_built

    return rate_built(built, path, model, should_stop=should_stop, on_progress=on_progress)


def train(songs: Sequence[Song], out: str | Path, steps: int = 600, on_partial: OnPartial = None,
          should_stop: ShouldStop = None, on_progress: OnProgress = None) -> str:
    """Train a learned scorer on the pool's songs and save it; returns the path.

    ``on_partial((step, loss))`` receives a point of the (smoothed) training loss every few steps."""
    from .train import EDGE_RECIPE, train_edge

    def on_loss(step, loss):
        if on_partial is not None:
            on_partial((int(step), float(loss)))

    scorer, _hist = train_edge(list(songs), steps=steps, on_loss=on_loss, threads=1,
                               should_stop=should_stop, on_progress=on_progress, **EDGE_RECIPE)
    return str(scorer.to_file(out))
