"""The Chunk stitcher tab: pool -> chunks -> scorer -> chain -> seamless new song.

A thin shell: the panels show and edit, :mod:`musiclab.stitcher.session` does the work, and
every operation is one job on the tab's service (``svc.submit(...)`` with callbacks on the
returned :class:`~musiclab.gui.services.base.Job`). A build that needs the chunk edges
encoded first chains two jobs: the encoding's ``on_result`` submits the build. With the Mood path
step on, a pool whose chunks have no predicted emotions yet gets them first (a third job), and
every built song is rated by the Emotion model afterwards (a job that holds nothing up).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QSplitter

from ...widgets.stitcher_timeline import fmt_seconds
from ..base import WorkbenchTab, audio_filter
from ...widgets.mood_path import MoodTimeline
from .common import format_join, format_score
from .mood_panel import MoodPanel
from .result_panel import ResultPanel
from .side_panel import SidePanel

RESULT_LABEL = "stitched song"
#: at most this many songs of the last session's pool are decoded again at start
RESTORE_MAX_SONGS = 100
ALTERNATIVES = "alternatives"  # the ``latest`` name of the alternatives job: a new join supersedes it
CHUNK_MOODS = "chunk-moods"  # the chunks' emotions (mood path): a new pool supersedes it
MOOD_RATE = "mood-rate"  # the built song's mood: a new build supersedes it


def _session():
    """:mod:`musiclab.stitcher.session`, imported on first use (start-up stays light)."""
    from ....stitcher import session

    return session


class StitcherTab(WorkbenchTab):
    key = "stitcher"
    title = "Stitcher"

    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.svc = ctx.make_service("stitcher")
        self.pool = None  # musiclab.stitcher.pool.Pool
        self.enc = None  # the pool's edge codes for ``enc_key`` (scorer, model, pool)
        self.enc_key = None
        self.built = None  # musiclab.stitcher.session.Built
        self.model_path: Optional[str] = None  # a scorer trained on the pool, else the shipped default
        self._built_kind = "similarity"  # what the built song's scores are (see format_score)
        self._built_calibrated = False  # joins read as "% clean" (see format_join)
        self._sel_join: Optional[int] = None
        self._chunk_play: Optional[tuple[str, float]] = None  # (label, start s) of a chunk playing alone
        self.side = SidePanel()
        self.result_panel = ResultPanel()
        self.pool_panel, self.train_panel, self.build_panel = self.side.pool, self.side.train, self.side.build
        self.join_panel, self.seams_panel = self.result_panel.join, self.result_panel.seams
        self.btn_build, self.status_label = self.side.btn_build, self.side.status_label
        self.song_view, self.result_view = self.result_panel.song_view, self.result_panel.result_view
        # step 5, the mood path (issue 18), under step 4; the song's mood timeline under the result
        self.mood_panel = MoodPanel()
        lv = self.side.inner.layout()
        lv.insertWidget(lv.indexOf(self.build_panel) + 1, self.mood_panel)
        self.mood_view = MoodTimeline()
        self.mood_view.setMinimumHeight(90)
        rl = self.result_panel.layout()
        rl.insertWidget(rl.indexOf(self.result_panel.legend) + 1, self.mood_view, 2)
        self._built_path = None  # the mood path the shown song was built along
        self._mood_jobs: list = []  # chunk emotions / the song's rating: what the panel's Cancel stops
        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.addWidget(self.side)
        self.splitter.addWidget(self.result_panel)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setCollapsible(0, False)
        self.splitter.setCollapsible(1, False)
        side_w = self.side.preferred_width()  # steps 1-4 whole; the result panel takes the rest
        self.splitter.setSizes([side_w, 1280 - side_w])
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.splitter)
        self._connect()
        self._update_buttons()

    # -- UI ---------------------------------------------------------------------------------
    def _connect(self) -> None:
        pp, tp, jp, sp = self.pool_panel, self.train_panel, self.join_panel, self.seams_panel
        pp.song_list.currentRowChanged.connect(self._show_song)
        pp.btn_demo.clicked.connect(self.load_demo_pool)
        pp.btn_add.clicked.connect(self._add_files)
        pp.btn_folder.clicked.connect(self._add_folder)
        pp.btn_remove.clicked.connect(self._remove_songs)
        pp.btn_cut.clicked.connect(lambda: self.recut())
        tp.scorer.currentIndexChanged.connect(lambda _i: self._invalidate_enc())
        tp.btn_train.clicked.connect(self.train)
        tp.btn_cancel.clicked.connect(lambda: self.svc.cancel())
        self.btn_build.clicked.connect(self.build)
        self.song_view.chunk_clicked.connect(self._play_chunk)
        self.result_view.join_clicked.connect(self._select_join)
        self.result_view.seek_requested.connect(self._seek)
        jp.alt_list.itemDoubleClicked.connect(lambda _it, _c: self.swap_selected())
        jp.alt_list.currentItemChanged.connect(lambda *_a: self._update_buttons())
        jp.btn_hear.clicked.connect(self._hear_alt)
        jp.btn_swap.clicked.connect(self.swap_selected)
        sp.btn_play.clicked.connect(self._play_result)
        sp.btn_wav.clicked.connect(lambda: self.export_to(kind=".wav"))
        sp.btn_mp3.clicked.connect(lambda: self.export_to(kind=".mp3"))
        sp.btn_csv.clicked.connect(lambda: self.export_to(kind=".csv"))
        sp.btn_mood.clicked.connect(self.rate_mood)
        self.mood_panel.rate_requested.connect(lambda: self.rate_chunks())
        self.mood_panel.cancel_requested.connect(self._cancel_mood)
        sp.btn_ab.clicked.connect(self.compare_ab)

        # keys that only make sense where the focus is: Del in the pool, Enter / H in the alternatives
        local = [(Qt.Key_Delete, pp.song_list, self._remove_songs), (Qt.Key_Return, jp.alt_list, self.swap_selected),
                 (Qt.Key_Enter, jp.alt_list, self.swap_selected), (Qt.Key_H, jp.alt_list, self._hear_alt)]
        for key, widget, slot in local:
            QShortcut(QKeySequence(key), widget, slot).setContext(Qt.WidgetShortcut)
        for key, slot in (("Ctrl+B", self.build), ("Alt+Right", lambda: self._step_join(+1)),
                          ("Alt+Left", lambda: self._step_join(-1))):
            QShortcut(QKeySequence(key), self, slot)

    def set_chunking(self, spec: str) -> None:
        self.pool_panel.set_chunking(spec)

    def rules(self):
        """The Build panel's rules, with the Mood path panel's path and weight where it is on (and a
        chunk allowed twice, or the Build panel's reuse where higher: :func:`.mood.path_rules`)."""
        from ....stitcher.mood import path_rules

        r = self.build_panel.rules()
        path = self.mood_panel.path()
        if path is None:
            return r
        return path_rules(r, path, self.mood_panel.weight())

    def _busy(self) -> bool:
        """A job that changes the pool or the result is queued or running (finding the
        alternatives at a join or rating the built song's mood does not count: they only fill
        a list or a label)."""
        return any(j.latest not in (ALTERNATIVES, MOOD_RATE) for j in self.svc.jobs())

    def _update_buttons(self) -> None:
        busy = self._busy()
        has_pool = self.pool is not None and len(self.pool.chunks) > 0
        has_built = self.built is not None
        self.side.set_busy(has_pool, busy)
        self.pool_panel.set_busy(has_pool, self.pool is not None, busy)
        self.train_panel.set_busy(has_pool, busy)
        self.train_panel.btn_cancel.setEnabled(self.svc.is_busy())
        self.join_panel.set_busy(has_built, busy)
        self.seams_panel.set_enabled_for(has_built)
        live = {id(j) for j in self.svc.jobs()}
        self._mood_jobs = [j for j in self._mood_jobs if id(j) in live]
        self.mood_panel.set_busy(has_pool, busy, rating=bool(self._mood_jobs))

    # -- jobs -----------------------------------------------------------------------------------
    def _run(self, fn: Callable, *args, label: str, **kw):
        """Submit one job; its progress, failure and cancellation show in the status line.
        (The window reports a failure once; here it is only noted next to the Build button,
        and the pool and the result stay as they were.)"""
        job = self.svc.submit(fn, *args, label=label, **kw)
        self.status_label.setText(f"{label}… (Esc cancels)")
        job.on_progress(lambda done, total, msg: self._progress(label, done, total, msg))
        job.on_error(lambda msg: self.status_label.setText(
            f"<span style='color:#d9534f'>⚠ {label} failed: {msg}</span>"))
        job.on_cancel(lambda: self.status_label.setText("Cancelled; the pool and the result are as they were."))
        job.on_finished(self._update_buttons)
        self._update_buttons()
        return job

    def _progress(self, label: str, done: int, total: int, message: str) -> None:
        pct = f" {100 * done / total:.0f}%" if total > 0 else ""
        self.status_label.setText(f"{label}{pct}: {message} (Esc cancels)")

    # -- pool ---------------------------------------------------------------------------------
    def open_files(self, paths: list[Path]) -> None:
        self.add_paths(paths)

    def add_paths(self, paths) -> None:
        songs = self.pool.songs if self.pool is not None else []
        self._run(_session().add_songs, list(songs), [str(p) for p in paths], self.pool_panel.chunking(),
                  label="Loading songs").on_result(self._set_pool)

    def load_demo_pool(self) -> None:
        songs = self.pool.songs if self.pool is not None else []
        self._run(_session().add_demo_songs, list(songs), self.pool_panel.chunking(),
                  label="Loading songs").on_result(self._set_pool)

    def _add_files(self) -> None:
        files = self.ask_open_paths("Add songs", audio_filter())
        if files:
            self.add_paths(files)

    def _add_folder(self) -> None:
        d = self.ask_folder("Add a folder of songs")
        if d:
            self.add_paths([d])

    def _remove_songs(self) -> None:
        if self.pool is None:
            return
        rows = self.pool_panel.selected_rows()
        if not rows:
            return
        keep = [s for k, s in enumerate(self.pool.songs) if k not in rows]
        if not keep:
            self.pool = None
            self._invalidate_enc()
            self._refresh_pool()
            return
        self.recut(songs=keep)

    def recut(self, songs=None) -> None:
        if self.pool is None and songs is None:
            return
        self._run(_session().rechunk, list(songs if songs is not None else self.pool.songs),
                  self.pool_panel.chunking(), label="Cutting songs").on_result(self._set_pool)

    def _set_pool(self, pool) -> None:
        from ....stitcher.mood import chunk_moods

        self.pool = pool
        self._invalidate_enc()
        self.mood_panel.set_chunk_moods(chunk_moods(pool))
        skipped = [m[len("skipped:"):].strip() for m in pool.messages if m.startswith("skipped")]
        notes = [m for m in pool.messages if not m.startswith("skipped")]
        if skipped:  # one message for all bad files (not one dialog per file)
            n = len(skipped)
            self.ctx.notify(f"Stitcher skipped {n} file{'s' if n > 1 else ''}: " + " ".join(skipped), error=True)
        if notes:
            self.ctx.notify("Stitcher: " + " ".join(notes))
        self._refresh_pool()
        self.status_label.setText(f"Pool ready: {pool.summary()}."
                                  + (f" {len(skipped)} file(s) skipped." if skipped else ""))

    def _invalidate_enc(self) -> None:
        self.enc, self.enc_key = None, None

    # -- mood path ----------------------------------------------------------------------------
    def rate_chunks(self, then: Optional[Callable[[], None]] = None):
        """Predict the pool's chunk emotions in a job (once per pool: cached with it and on disk),
        show them on the mood plane, then call ``then()``. Returns the Job (None without a pool)."""
        if self.pool is None:
            return None
        pool = self.pool

        def done(moods) -> None:
            if pool is not self.pool:
                return  # another pool by now
            self.mood_panel.set_chunk_moods(moods)
            if then is not None:
                then()

        job = self._run(_session().chunk_moods, pool, label="Rating chunk moods", latest=CHUNK_MOODS)
        job.on_result(done)
        self._mood_jobs.append(job)
        self._update_buttons()
        return job

    def _cancel_mood(self) -> None:
        for j in list(self._mood_jobs):
            self.svc.cancel(j)

    def _rate_built(self, built, path) -> None:
        """The built song's mood (the Emotion model on its audio) against ``path``, in a job that
        does not hold up the tab; shown in the Mood path panel and the mood timeline."""
        job = self.svc.submit(_session().rate_mood, built, path, label="Rating the song's mood", latest=MOOD_RATE)

        def rated(rep) -> None:
            built.mood = rep
            if built is self.built:
                self.mood_panel.show_result(rep)
                self.mood_view.set_report(rep)

        job.on_result(rated)
        job.on_error(lambda msg: self.mood_panel.result_label.setText(f"Could not rate the song's mood: {msg}"))
        job.on_finished(self._update_buttons)
        self._mood_jobs.append(job)
        self._update_buttons()

    def _refresh_pool(self) -> None:
        self.pool_panel.show_pool(self.pool)
        self.result_panel.show_song(self.pool, 0)
        self.build_panel.set_pool_size(len(self.pool.chunks) if self.pool is not None else 0)
        self._update_buttons()

    def _show_song(self, row: int) -> None:
        self.result_panel.show_song(self.pool, row)

    def _play_chunk(self, i: int) -> None:
        if self.pool is None:
            return
        c = self.pool.chunks[i]
        self.build_panel.start_chunk.setValue(i)
        label = f"chunk {i} of {self.pool.songs[c.song].name}"
        self._chunk_play = (label, c.start / self.pool.sr)
        self.ctx.player.play(self.pool.chunk_audio(i).copy(), self.pool.sr, label, owner=self)

    def _score_fmt(self, s: float) -> str:
        return format_score(s, self._built_kind)

    def _join_fmt(self, cost: float) -> str:
        """A join cost as "92 % clean" where the calibration holds (the shipped learned scorer)."""
        return format_join(cost, self._built_calibrated)

    # -- scorer / training --------------------------------------------------------------------
    def _scorer_key(self):
        return (self.train_panel.scorer_name(), self.model_path, id(self.pool))

    def _with_enc(self, then: Callable[[], None]) -> None:
        """Call ``then()`` once the pool's chunk edges are encoded for the current scorer
        (at once, or when the encoding job is done; again if the pool or the scorer changed)."""
        if self.pool is None:
            return
        key = self._scorer_key()
        if self.enc is not None and self.enc_key == key:
            then()
            return

        def encoded(enc) -> None:
            self.enc, self.enc_key = enc, key
            self._with_enc(then)  # the pool or the scorer may have changed meanwhile: encode again

        model = self.model_path if key[0] == "edge" else None
        self._run(_session().encode, self.pool, key[0], model,
                  label="Encoding chunk edges").on_result(encoded)

    def train(self) -> None:
        from ....paths import user_models_dir

        if self.pool is None or self._busy():
            return
        out = user_models_dir("stitcher") / f"pool-{time.strftime('%Y%m%d-%H%M%S')}.pt"
        self.train_panel.start_training()
        job = self._run(_session().train, list(self.pool.songs), str(out),
                        steps=self.train_panel.train_steps.value(), label="Training scorer")
        job.on_partial(self.train_panel.add_loss_point).on_result(self._trained)

    def _trained(self, path: str) -> None:
        self.model_path = path
        self.train_panel.set_model(path)
        self.train_panel.set_scorer("edge")
        self._invalidate_enc()
        self.ctx.notify(f"Stitcher: trained scorer saved to {path}")

    # -- build / swap -----------------------------------------------------------------------
    def build(self) -> None:
        if self.pool is None or self._busy():
            return

        from ....stitcher.mood import chunk_moods

        rules = self.rules()
        self._built_path = rules.mood_path

        def go() -> None:
            self._run(_session().build, self.pool, self.enc, rules,
                      *self.build_panel.render_args(), label="Building song").on_result(self._set_built)

        if rules.mood_path is not None and chunk_moods(self.pool) is None:
            self.rate_chunks(then=lambda: self._with_enc(go))  # the search needs every chunk's emotion
            return
        self._with_enc(go)

    def _set_built(self, built, keep: Optional[int] = None) -> None:
        """Show ``built``; ``keep``: the join to select again (after a swap)."""
        self.built = built
        dur = len(built.rendered.y) / built.rendered.sr
        self.status_label.setText(f"Built {fmt_seconds(dur)} from {len(built.chain.items)} chunks. Space plays it.")
        self._built_kind = getattr(built.enc, "score_kind", "similarity")  # the scores' kind at build time
        if keep is None:  # a new build (a swap keeps the scorer): is "% clean" calibrated for it?
            self._built_calibrated = self.train_panel.scorer_name() == "edge" and not self.model_path
        self._sel_join = None
        self.result_panel.show_built(built, lambda c: format_join(c, self._built_calibrated, short=True))
        self.build_panel.show_tradeoff(built)
        self.mood_panel.show_result(built.mood)
        self.mood_view.set_report(built.mood)
        if built.mood is None:
            self._rate_built(built, getattr(self, "_built_path", None))
        self.playable_changed.emit()
        self._update_buttons()
        if keep is not None and 1 <= keep < len(built.chain.items):
            self._select_join(keep)

    def _select_join(self, k: int) -> None:
        """Select join ``k``: described at once, its alternatives scored in a job (with the
        seed scorer that is an LSTM over every candidate) and listed when they arrive."""
        if self.built is None or not 1 <= k < len(self.built.chain.items):
            return
        built = self.built
        self._sel_join = k
        self.result_view.select_join(k)
        self.join_panel.show_join(built, k, self._score_fmt,
                                  lambda c: self._join_fmt(c) if self._built_calibrated else "")
        job = self.svc.submit(_session().alternatives, built, k, self.rules(), count=8,
                              label="Finding alternatives", latest=ALTERNATIVES)
        job.on_result(lambda res: self._show_alternatives(built, *res))
        job.on_error(lambda msg: self.status_label.setText(
            f"<span style='color:#d9534f'>⚠ Finding alternatives failed: {msg}</span>"))
        job.on_finished(self._update_buttons)
        self._update_buttons()

    def _show_alternatives(self, built, k: int, alts: list[tuple[int, float]]) -> None:
        if built is not self.built or k != self._sel_join:
            return  # another song or another join by now
        self.join_panel.show_alternatives(built, k, alts, self._join_fmt)
        self._update_buttons()

    def _step_join(self, step: int) -> None:
        if self.built is None or len(self.built.chain.items) < 2:
            return
        n = len(self.built.chain.items) - 1
        k = (self._sel_join or (0 if step > 0 else n + 1)) + step
        self._select_join(min(n, max(1, k)))
        if self._sel_join is not None:
            self.join_panel.alt_list.setFocus()

    def selected_alternative(self) -> Optional[int]:
        return self.join_panel.selected()

    def _hear_alt(self) -> None:
        i = self.selected_alternative()
        if i is not None and self.built is not None:
            pool = self.built.pool
            self._chunk_play = None
            self.ctx.player.play(pool.chunk_audio(i).copy(), pool.sr, f"alternative chunk {i}", owner=self)

    def swap_selected(self) -> None:
        i = self.selected_alternative()
        if i is None or self.built is None or self._sel_join is None or self._busy():
            return
        b, k = self.built, self._sel_join
        self._run(_session().swap_and_rebuild, b.pool, b.enc, b.chain, k, i, self.rules(),
                  *self.build_panel.render_args(), label="Swapping a chunk").on_result(
            lambda built: self._set_built(built, keep=k))

    # -- transport -------------------------------------------------------------------------
    def playable_audio(self):
        if self.built is None:
            return None
        return self.built.rendered.y, self.built.rendered.sr, RESULT_LABEL

    def _play_result(self) -> None:
        if self.built is None:
            return
        act = getattr(self.window(), "act_play", None)
        p = self.ctx.player
        if act is not None and getattr(p, "label", "") in ("", RESULT_LABEL):
            act.trigger()  # the window's transport: same as Space (play / pause, seek slider, time)
            return
        if getattr(p, "owner", None) is self and getattr(p, "label", "") == RESULT_LABEL:
            p.toggle()
        else:
            r = self.built.rendered
            self._chunk_play = None
            p.play(r.y, r.sr, RESULT_LABEL, owner=self)

    def _seek(self, seconds: float) -> None:
        self.result_view.set_cursor(seconds)
        p = self.ctx.player
        if self.built is not None and getattr(p, "owner", None) is self:
            p.seek(seconds)

    def on_playback_position(self, seconds: float) -> None:
        """The window calls this while this tab owns the player: the cursor follows in the
        song view for a chunk played alone, in the result for the built song."""
        label = getattr(self.ctx.player, "label", "")
        if self._chunk_play is not None and label == self._chunk_play[0]:
            self.song_view.set_cursor(self._chunk_play[1] + seconds)
        elif not label.startswith("alternative chunk"):
            self.result_view.set_cursor(seconds)
            self.mood_view.set_position(seconds)

    # -- export ---------------------------------------------------------------------------------
    def export(self) -> None:
        self.export_to()

    def export_to(self, path: Optional[str] = None, kind: Optional[str] = None) -> Optional[Path]:
        """Write the built song (and its CSV) to ``path``, or where a save dialog says."""
        if self.built is None:
            self.ctx.notify("Nothing to export in Stitcher yet: build a song first.")
            return None
        if path is None:
            filt = {".wav": "WAV (*.wav)", ".mp3": "MP3 (*.mp3)", ".csv": "CSV (*.csv)"}
            kind = kind or ".wav"
            path, _ = self.ask_save_path("Export the stitched song", f"stitched-seed{self.build_panel.seed.value()}"
                                         f"{kind}", ";;".join(filt.values()), filt.get(kind, ""))
            if path is None:
                return None
        p = Path(path)
        try:
            written = _session().export(self.built, p)
        except Exception as exc:  # a bad name, a full disk, no MP3 encoder: say so, keep the result
            self.ctx.notify(f"'{p.name}': could not be written ({exc}).", error=True)
            return None
        extra = "".join(f" and {w.name}" for w in written[1:])
        self.ctx.notify(f"Stitcher: exported {p}{extra}")
        return p

    def rate_mood(self):
        """Write the built song to the user folder (a job) and hand it to the Emotion tab, which
        predicts its quadrant and its timeline. Returns the Job (or None)."""
        from ....paths import user_data_dir

        if self.built is None:
            self.ctx.notify("Nothing to rate yet: build a song first.")
            return None
        out = user_data_dir() / "results" / f"stitched-seed{self.build_panel.seed.value()}.wav"

        def write(built, path, should_stop=None, on_progress=None):
            path.parent.mkdir(parents=True, exist_ok=True)
            _session().export(built, path)
            return path

        job = self.svc.submit(write, self.built, out, label="Preparing the song for the Emotion tab")
        job.on_result(lambda path: self.ctx.send_to("emotion", [path]))
        job.on_error(lambda msg: self.status_label.setText(f"Could not hand the song to Emotion: {msg}"))
        return job

    def compare_ab(self):
        """A/B: a source song (the pool's selected one if used, else the most used) against the
        built song, in a window of its own (helper C). Returns the dialog, or None."""
        from ....analysis.compare import stitcher_pair
        from ...widgets.ab_compare import open_ab

        if self.built is None:
            self.ctx.notify("Nothing to compare yet: build a song first.")
            return None
        a, b = stitcher_pair(self.built, self.pool_panel.song_list.currentRow())
        return open_ab(self, self.ctx, a, b, title="A/B — Stitcher: source song vs stitched song")

    # -- settings / lifetime ------------------------------------------------------------------
    def persist(self) -> dict:
        b = self.build_panel
        return {"scorer": self.train_panel.scorer, "minutes": b.minutes, "crossfade_ms": b.crossfade,
                "method": b.method, "reuse": b.reuse, "max_run": b.max_run, "max_same_song": b.max_same_song,
                "beam": b.beam, "beat_align": b.beat_align, "variety_weight": b.variety_weight,
                "stay_key": b.stay_key, "stay_tempo": b.stay_tempo, "mood_weight": self.mood_panel.weight_slider}

    def save_settings(self, settings: QSettings) -> None:
        super().save_settings(settings)
        settings.setValue("chunking", self.pool_panel.chunking())  # one spec for the kind + its values
        settings.setValue("splitter", self.splitter.saveState())
        settings.setValue("mood_on", self.mood_panel.isChecked())
        settings.setValue("mood_path", self.mood_panel.path_spec())
        # the pool as paths, not audio: a restart decodes and cuts them again in a job
        songs = self.pool.songs if self.pool is not None else []
        settings.setValue("pool", json.dumps([str(s.path) for s in songs if s.path]))

    def restore_settings(self, settings: QSettings) -> None:
        from ....stitcher.pool import StitcherError

        super().restore_settings(settings)
        if settings.contains("chunking"):
            try:
                self.set_chunking(settings.value("chunking", "", type=str))
            except StitcherError:
                pass  # a spec from another version: keep the defaults
        if settings.contains("splitter"):
            self.splitter.restoreState(settings.value("splitter", QByteArray(), type=QByteArray))
        self.mood_panel.setChecked(settings.value("mood_on", False, type=bool))
        if settings.contains("mood_path"):
            try:
                self.mood_panel.set_path_spec(settings.value("mood_path", "", type=str))
            except Exception:  # a path from another version: keep the preset
                pass
        try:
            saved = json.loads(settings.value("pool", "[]", type=str) or "[]")
        except ValueError:
            saved = []
        if isinstance(saved, list) and saved and self.pool is None:
            self.restore_pool([str(p) for p in saved])

    def restore_pool(self, paths: list[str]):
        """Decode and cut the songs of the last session's pool again (those still there, at
        most :data:`RESTORE_MAX_SONGS`) in a job; returns it (None when none is left)."""
        given = [Path(p) for p in paths if p]
        keep = [p for p in given if p.is_file()][:RESTORE_MAX_SONGS]
        left = len(given) - len(keep)
        if not keep:
            self.status_label.setText(f"The {left} song(s) of the last session's pool are gone.")
            return None
        job = self._run(_session().add_songs, [], [str(p) for p in keep], self.pool_panel.chunking(),
                        label="Restoring the pool")
        job.on_result(self._set_pool)
        if left:
            job.on_finished(lambda: self.status_label.setText(
                self.status_label.text() + f" {left} song(s) of the last session not restored."))
        return job

    def shutdown(self) -> None:
        self.svc.cancel()
