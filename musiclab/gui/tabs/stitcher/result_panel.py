"""The Stitcher's right side (:class:`ResultPanel`): a song of the pool with its chunks, the
built song coloured by source song, and below them the selected join (:class:`.JoinPanel`)
and the seams with Play and Export (:class:`SeamsPanel`)."""

from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ...widgets.stitcher_timeline import ResultTimeline, SongTimeline, fmt_seconds, pretty_name, song_color
from .chain_panel import JoinPanel
from .common import SEAM_FIELDS

NO_SONG = "<b>Song</b> — pick a song in the pool"
NOTHING_BUILT = "<b>Result</b> — nothing built yet"


class ResultPanel(QWidget):
    """``song_view`` (click a chunk: ``chunk_clicked``) above ``result_view`` (click a join:
    ``join_clicked``, elsewhere ``seek_requested``), with titles and the legend of songs used;
    ``join`` and ``seams`` below."""

    def __init__(self, parent=None):
        super().__init__(parent)
        v = QVBoxLayout(self)
        v.setContentsMargins(4, 4, 4, 4)
        v.setSpacing(3)
        self.song_title = QLabel(NO_SONG)
        v.addWidget(self.song_title)
        self.song_view = SongTimeline()
        self.song_view.setMinimumHeight(110)
        v.addWidget(self.song_view, 2)
        self.result_title = QLabel(NOTHING_BUILT)
        v.addWidget(self.result_title)
        self.result_view = ResultTimeline()
        self.result_view.setMinimumHeight(140)
        self.result_view.setToolTip(self.result_view.toolTip() + "\nAlt+Left / Alt+Right step through the joins.")
        v.addWidget(self.result_view, 3)
        self.legend = QLabel("")
        self.legend.setWordWrap(True)
        v.addWidget(self.legend)
        self.join = JoinPanel()
        self.seams = SeamsPanel()
        bottom = QHBoxLayout()
        bottom.addWidget(self.join, 3)
        bottom.addWidget(self.seams, 2)
        v.addLayout(bottom, 2)

    def show_song(self, pool, row: int) -> None:
        """Song ``row`` of ``pool`` with its chunks (``pool`` None: the empty state)."""
        if pool is None:
            self.song_view.set_song(None, 22050, [])
            self.song_title.setText(NO_SONG)
            return
        if not 0 <= row < len(pool.songs):
            return
        s, sr = pool.songs[row], pool.sr
        spans = [(i, c.start / sr, c.end / sr) for i, c in enumerate(pool.chunks) if c.song == row]
        self.song_view.set_song(s.y, sr, spans)
        self.song_title.setText(f"<b>{pretty_name(s.name, 70)}</b> — {fmt_seconds(s.duration)}, {len(spans)} chunks "
                                f"({pool.chunking}) · click a chunk to hear it")

    def show_built(self, built, fmt: Callable[[float], str]) -> None:
        """The built song, its seams, and no join selected."""
        self.seams.show_seams(built)
        self.join.clear()
        r, ch, pool = built.rendered, built.chain, built.pool
        segs = [(a, b, pool.chunks[i].song) for a, b, i, _s, _e in r.segments]
        # each join labelled with the cost the search minimised (read through ``fmt``: "% clean")
        joins = [(t, ch.cost_at(k + 1), built.seams["joins"][k]["z"] if k < len(built.seams["joins"]) else None)
                 for k, t in enumerate(r.joins)]
        self.result_view.score_fmt = fmt
        self.result_view.set_result(r.y, r.sr, segs, joins)
        self.result_view.set_cursor(None)
        used = sorted({pool.chunks[i].song for i in ch.items})
        self.legend.setText("&nbsp;&nbsp; ".join(
            f"<span style='color:{song_color(s).name()}'>■</span>&nbsp;{pretty_name(pool.songs[s].name, 34)}"
            for s in used))
        self.legend.setToolTip("\n".join(pool.songs[s].name for s in used))
        dur = len(r.y) / r.sr
        self.result_title.setText(f"<b>Result</b> — {fmt_seconds(dur)}, {len(ch.items)} chunks from {len(used)} "
                                  f"song{'s' if len(used) != 1 else ''} · click a join for alternatives, "
                                  "elsewhere to move the cursor")


def _num(x, fmt: str) -> str:
    try:
        return format(float(x), fmt)
    except (TypeError, ValueError):
        return "—"


CLEAN_SHARE = 0.08  # the goal: at most 8 % of the joins audible (natural music: ~5 %)


def audit_text(audit) -> str:
    """The audit's verdict; the ✓ only where it says the song is clean."""
    if not audit or not audit.get("joins"):
        return "— (no audit)"
    share = audit.get("share_audible") or 0.0
    ok = share <= CLEAN_SHARE
    txt = (f"{audit['audible']} of {audit['joins']} ({100 * share:.1f} %) "
           + ("<span style='color:#3a9a4a'>✓ (goal ≤ 8 %)</span>" if ok else "(goal ≤ 8 %)"))
    w = audit.get("worst")
    if w and w.get("audible"):
        txt += f"<br>worst at {fmt_seconds(w['time'])}: {w['why']}"
    return txt


class SeamsPanel(QGroupBox):
    """How good the seams are (novelty z-scores, sample jumps), Play / pause and Export."""

    def __init__(self, parent=None):
        super().__init__("Seams and export", parent)
        v = QVBoxLayout(self)
        v.setSpacing(4)
        form = QFormLayout()
        form.setVerticalSpacing(2)
        self.seam_fields: dict[str, QLabel] = {}
        for key, label, tip in SEAM_FIELDS:
            w = QLabel("—")
            w.setToolTip(tip)
            lab = QLabel(label)
            lab.setToolTip(tip)
            form.addRow(lab, w)
            self.seam_fields[key] = w
        self.audit_label = QLabel("—")
        self.audit_label.setWordWrap(True)
        self.audit_label.setToolTip("The seam audit: a join is audible when its tempo, beat, key, loudness, timbre "
                                    "or flux change lies beyond what the source songs do at ~95 % of their own "
                                    "moments (natural music: ~5 % audible). ✓ only when at most 8 % are audible.")
        lab = QLabel("Audible joins")
        lab.setToolTip(self.audit_label.toolTip())
        form.addRow(lab, self.audit_label)
        v.addLayout(form)
        v.addStretch(1)
        self.btn_play = QPushButton("Play / pause result  (Space)")
        self.btn_play.setToolTip("Play the built song with the transport (Space); click the result to move the cursor")
        v.addWidget(self.btn_play)
        row = QHBoxLayout()
        self.btn_wav = QPushButton("WAV…")
        self.btn_wav.setToolTip("Export the song as WAV, with a CSV of the chunks used next to it (Ctrl+E)")
        self.btn_mp3 = QPushButton("MP3…")
        self.btn_mp3.setToolTip("Export the song as MP3, with a CSV of the chunks used next to it")
        self.btn_csv = QPushButton("CSV…")
        self.btn_csv.setToolTip("Export only the list of chunks used (source, start, end, score)")
        self.btn_mood = QPushButton("Mood ▸")
        self.btn_mood.setToolTip("Hand the built song to the Emotion tab: where it sits on the valence/arousal "
                                 "plane, per track and over time")
        self.btn_ab = QPushButton("A/B…")
        self.btn_ab.setToolTip("Compare a source song (the one selected in the pool when the result uses it, else "
                               "the one it uses most) with the stitched song: spectrogram, emotion over time, and "
                               "one transport that switches between them at the same position")
        row.addWidget(QLabel("Export"))
        for b in (self.btn_wav, self.btn_mp3, self.btn_csv, self.btn_mood, self.btn_ab):
            row.addWidget(b)
        v.addLayout(row)
        self.setMinimumWidth(300)

    def show_seams(self, built) -> None:
        sm = built.seams
        joins = sm.get("joins") or []
        self.seam_fields["joins"].setText(str(len(built.rendered.joins)))
        med = sm.get("median_z")
        self.seam_fields["median_z"].setText(f"z {_num(med, '+.2f')} (goal ≤ 1)")  # the ✓ is the audit's
        self.audit_label.setText(audit_text(getattr(built, "audit", None)))
        if joins:
            worst = max(range(len(joins)), key=lambda k: joins[k]["z"])
            self.seam_fields["max_z"].setText(f"z {joins[worst]['z']:+.2f} at {fmt_seconds(joins[worst]['time'])} "
                                              f"(join {worst + 1})")
        else:
            self.seam_fields["max_z"].setText("—")
        self.seam_fields["jump"].setText(f"{_num(sm.get('max_jump'), '.3f')} "
                                         f"(sources: {_num(sm.get('source_jump_p99'), '.3f')})")

    def set_enabled_for(self, has_built: bool) -> None:
        for b in (self.btn_play, self.btn_wav, self.btn_mp3, self.btn_csv, self.btn_mood, self.btn_ab):
            b.setEnabled(has_built)
