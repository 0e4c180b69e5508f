"""Step 4 of the Stitcher: the chaining rules (:class:`BuildPanel`), and a join of the built
song with the next-best chunks for it (:class:`JoinPanel`)."""

from __future__ import annotations

from typing import Callable, Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout,
                               QHeaderView, QLabel, QPushButton, QSpinBox, QTreeWidget, QTreeWidgetItem,
                               QVBoxLayout)

from ....stitcher.chain import BUILD_DEFAULTS, ChainRules  # numpy only: start-up stays light
from ...widgets.stitcher_timeline import fmt_seconds, pretty_name
from .common import JOIN_TIP, NO_JOIN, text_color


_DEFAULTS = BUILD_DEFAULTS["rules"]  # the tuned search the Build panel starts from


def _row(*widgets) -> QHBoxLayout:
    row = QHBoxLayout()
    for w in widgets:
        row.addWidget(QLabel(w) if isinstance(w, str) else w)
    return row


class BuildPanel(QGroupBox):
    """Length, start chunk, search, reuse, song variety, key/tempo, crossfade and seed:
    :meth:`rules` turns them into :class:`~musiclab.stitcher.chain.ChainRules`."""

    def __init__(self, parent=None):
        super().__init__("4 · Build", parent)
        f = QFormLayout(self)
        f.setVerticalSpacing(4)
        self.start_chunk = QSpinBox()
        self.start_chunk.setRange(-1, 1_000_000)
        self.start_chunk.setValue(-1)
        self.start_chunk.setSpecialValueText("random")
        self.start_chunk.setToolTip("Index of the first chunk (click a chunk in the song view to pick it)")
        self.minutes = QDoubleSpinBox()
        self.minutes.setRange(0.1, 60)
        self.minutes.setValue(3.0)
        self.minutes.setSuffix(" min")
        self.minutes.setToolTip("Length of the new song")
        self.method = QComboBox()
        self.method.addItems(["greedy", "beam"])
        self.method.setCurrentText(_DEFAULTS.method)  # beam: measured on unseen clips (issue 15)
        self.method.setToolTip("greedy: best next chunk each time; beam: keeps several chains and picks the best")
        self.beam = QSpinBox()
        self.beam.setRange(2, 32)
        self.beam.setValue(_DEFAULTS.beam)
        self.beam.setToolTip("Beam width (beam search only)")
        self.method.currentTextChanged.connect(lambda m: self.beam.setEnabled(m == "beam"))
        self.beam.setEnabled(self.method.currentText() == "beam")
        self.reuse = QSpinBox()
        self.reuse.setRange(1, 20)
        self.reuse.setToolTip("How often one chunk may appear in the result")
        self.max_run = QSpinBox()
        self.max_run.setRange(0, 100)
        self.max_run.setValue(1)
        self.max_run.setToolTip("How many natural successors (the original order) may follow in a row")
        self.max_same_song = QSpinBox()
        self.max_same_song.setRange(0, 1000)
        self.max_same_song.setValue(_DEFAULTS.max_same_song)  # a new song mixes the pool by default
        self.max_same_song.setToolTip("Song variety: after this many chunks of one source song in a row, prefer a "
                                      "chunk of another song (0 = no preference). A preference, not a rule: it never "
                                      "forces a join the scorer rates near zero")
        self.variety_weight = QDoubleSpinBox()
        self.variety_weight.setRange(0.0, 20.0)
        self.variety_weight.setSingleStep(0.5)
        self.variety_weight.setValue(_DEFAULTS.variety_weight)
        self.variety_weight.setToolTip("How much the search pays to change song: join cost per chunk beyond the "
                                       "preferred run (in the scorer's standard deviations; 0 = variety is free to "
                                       "ignore)")
        self.stay_key = QCheckBox("stay in key")
        self.stay_key.setToolTip("Only chunks in the key of the start chunk")
        self.stay_tempo = QCheckBox("stay in tempo")
        self.stay_tempo.setToolTip("Only chunks at about the tempo of the start chunk")
        self.crossfade = QSpinBox()
        self.crossfade.setRange(2, 2000)
        self.crossfade.setValue(60)
        self.crossfade.setSuffix(" ms")
        self.crossfade.setToolTip("Equal-power crossfade at every join")
        self.beat_align = QCheckBox("DJ joins")
        self.beat_align.setToolTip("Engineer every join: cut on the best-matching pair of beats (±1 beat), "
                                   "time-stretch the incoming chunk to the running tempo (Rubber Band, at most "
                                   "±8 %), match loudness, and choose the crossfade from the material (the value "
                                   "here is the nominal length: shorter on transients, longer on sustained sound)")
        self.beat_align.setChecked(True)
        self.seed = QSpinBox()
        self.seed.setRange(0, 1_000_000)
        self.seed.setToolTip("Same seed, same pool, same settings: the same song")
        f.addRow("Length", _row(self.minutes, "from chunk", self.start_chunk))
        f.addRow("Search", _row(self.method, "width", self.beam))
        f.addRow("Reuse", _row(self.reuse, "× per chunk, runs of", self.max_run))
        f.addRow("Songs", _row("prefer a change after", self.max_same_song, "chunks, weight", self.variety_weight))
        f.addRow("Rules", _row(self.stay_key, self.stay_tempo))
        f.addRow("Crossfade", _row(self.crossfade, self.beat_align))
        f.addRow("Random seed", self.seed)
        self.tradeoff = QLabel("—")
        self.tradeoff.setWordWrap(True)
        self.tradeoff.setToolTip("What the search traded: songs used, the longest run of one song, the mean join "
                                 "cost it minimised (lower is smoother) and how much it had to stretch")
        f.addRow("Trade-off", self.tradeoff)

    def rules(self):
        start = self.start_chunk.value()
        return ChainRules(target_s=self.minutes.value() * 60, start=None if start < 0 else start,
                          seed=self.seed.value(), method=self.method.currentText(), beam=self.beam.value(),
                          reuse=self.reuse.value(), max_run=self.max_run.value(),
                          max_same_song=self.max_same_song.value(), variety_weight=self.variety_weight.value(),
                          stay_key=self.stay_key.isChecked(), stay_tempo=self.stay_tempo.isChecked(),
                          boundary_weight=_DEFAULTS.boundary_weight)

    def render_args(self) -> tuple[float, bool]:
        """``(crossfade_ms, beat_align)`` for :func:`musiclab.stitcher.session.build`."""
        return float(self.crossfade.value()), self.beat_align.isChecked()

    def show_tradeoff(self, built) -> None:
        """The trade-off the search made for ``built`` (None: nothing built)."""
        self.tradeoff.setText(tradeoff_text(built) if built is not None else "—")

    def set_pool_size(self, n: int) -> None:
        self.start_chunk.setMaximum(max(0, n - 1))


def tradeoff_text(built) -> str:
    """"3 songs, longest run 5 chunks, mean join cost -1.20, stretched 12 of 40 joins (max 6 %)"."""
    import math

    pool, ch = built.pool, built.chain
    songs = [pool.chunks[i].song for i in ch.items]
    longest = run = 0
    for k, s in enumerate(songs):
        run = run + 1 if k and s == songs[k - 1] else 1
        longest = max(longest, run)
    costs = [c for c in ch.costs[1:] if isinstance(c, float) and math.isfinite(c)]
    info = built.rendered.join_info
    st = [abs(j["stretch_pct"]) for j in info if j.get("stretch_pct")]
    txt = (f"{len(set(songs))} song{'s' if len(set(songs)) != 1 else ''}, longest run {longest} chunk"
           f"{'s' if longest != 1 else ''}")
    if costs:
        txt += f", mean join cost {sum(costs) / len(costs):+.2f}"
    if info:
        txt += f", stretched {len(st)} of {len(info)} joins" + (f" (max {max(st):.0f} %)" if st else "")
    audit = getattr(built, "audit", None)
    if audit and audit.get("joins"):
        txt += f"; audit: {audit['audible']} of {audit['joins']} joins audible"
    return txt


def join_roughness(j: dict) -> str:
    """What makes a join rough, in units a musician reads (from the render's join plan)."""
    parts = []
    if j.get("tempo_pct") is not None:
        t = f"tempo {j['tempo_pct']:+.1f} %"
        if j.get("stretch_pct"):
            t += f" (stretched {j['stretch_pct']:+.1f} %)"
        parts.append(t)
    if j.get("beat_offset"):
        parts.append(f"cut moved {j['beat_offset']} beats, beat match {j.get('beat_match', 0) or 0:.2f}")
    if j.get("key_relation"):
        parts.append(f"key: {j['key_relation']}" + (f", shifted {j['shift_st']:+d} st" if j.get("shift_st") else ""))
    if j.get("loudness_db") is not None:
        parts.append(f"loudness {j['loudness_db']:+.1f} dB (gain {j.get('gain_db') or 0:+.1f} dB)")
    if j.get("timbre") is not None:
        parts.append(f"timbre {j['timbre']:.2f}")
    if j.get("fade_ms"):
        parts.append(f"crossfade {j['fade_ms']} ms")
    return " · ".join(parts)


class JoinPanel(QGroupBox):
    """One join of the built song and its alternatives, best first; Hear / Swap buttons."""

    def __init__(self, parent=None):
        super().__init__("Join", parent)
        v = QVBoxLayout(self)
        v.setSpacing(4)
        self.join_label = QLabel(NO_JOIN)
        self.join_label.setWordWrap(True)
        self.join_label.setMinimumHeight(self.join_label.fontMetrics().height() * 2 + 4)
        self.join_label.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        v.addWidget(self.join_label)
        self.alt_list = QTreeWidget()
        self.alt_list.setColumnCount(4)
        self.alt_list.setHeaderLabels(["Join", "Chunk", "Song", "From – to"])
        self.alt_list.headerItem().setToolTip(0, JOIN_TIP)
        self.alt_list.setRootIsDecorated(False)
        self.alt_list.setUniformRowHeights(True)
        self.alt_list.setAlternatingRowColors(True)
        self.alt_list.setTextElideMode(Qt.ElideMiddle)
        self.alt_list.setToolTip("Next-best chunks for this join, ranked by the same join cost the search used "
                                 "(scorer, tempo, key, variety), best first.\n"
                                 "Enter or double-click swaps one in and rebuilds the rest; H hears it.")
        hdr = self.alt_list.header()
        hdr.setStretchLastSection(False)
        hdr.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        hdr.setSectionResizeMode(1, QHeaderView.ResizeToContents)
        hdr.setSectionResizeMode(2, QHeaderView.Stretch)
        hdr.setSectionResizeMode(3, QHeaderView.ResizeToContents)
        v.addWidget(self.alt_list)
        self.btn_hear = QPushButton("Hear alternative  (H)")
        self.btn_hear.setToolTip("Play the selected alternative chunk on its own")
        self.btn_swap = QPushButton("Swap in, rebuild the rest  (Enter)")
        self.btn_swap.setToolTip("Put the selected chunk after this join and rebuild the chain from there")
        v.addLayout(_row(self.btn_hear, self.btn_swap))

    def clear(self) -> None:
        self.alt_list.clear()
        self.join_label.setText(NO_JOIN)

    def show_join(self, built, k: int, fmt: Callable[[float], str],
                  clean: Optional[Callable[[float], str]] = None) -> None:
        """Describe join ``k`` of ``built``; its alternatives follow (:meth:`show_alternatives`)."""
        ch, pool = built.chain, built.pool
        a, b = ch.items[k - 1], ch.items[k]
        j = built.seams["joins"][k - 1] if k - 1 < len(built.seams["joins"]) else None
        sa, sb = pool.chunks[a].song, pool.chunks[b].song
        col = lambda song: text_color(song).name()  # noqa: E731
        where = f" at {fmt_seconds(j['time'])}" if j else ""
        cost = ch.cost_at(k) if hasattr(ch, "cost_at") else float("nan")
        score = ""
        if j:
            p = clean(cost) if clean is not None and cost == cost else ""
            score = (f" · join cost <b>{cost:+.2f}</b> (what the search minimised{', ' + p if p else ''})"
                     if cost == cost else "") + f" · scorer {fmt(j['score'])} · novelty z {j['z']:+.2f}"
        rough = join_roughness(j) if j else ""
        audit = getattr(built, "audit", None)
        verdict = ""
        if audit and k - 1 < len(audit.get("rows", [])):
            r = audit["rows"][k - 1]
            verdict = ("<br><span style='color:#d9534f'>audible: " + r["why"] + "</span>" if r["audible"]
                       else "<br><span style='color:#3a9a4a'>not audible by the seam audit</span>")
        self.join_label.setText(
            f"<b>Join {k}</b>{where}: chunk {a} (<span style='color:{col(sa)}'>{pretty_name(pool.songs[sa].name, 28)}"
            f"</span>) → chunk {b} (<span style='color:{col(sb)}'>{pretty_name(pool.songs[sb].name, 28)}</span>)"
            f"{score}" + (f"<br>{rough}" if rough else "") + verdict)
        self.alt_list.clear()

    def show_alternatives(self, built, k: int, alts: list[tuple], fmt: Callable[[float], str]) -> None:
        """``alts``: ``(chunk, score, cost)`` ranked by the search's cost; ``fmt`` reads a cost."""
        pool = built.pool
        natural = pool.successor(built.chain.items[k - 1])
        self.alt_list.clear()
        for i, _sc, cost in alts:
            c = pool.chunks[i]
            song = pretty_name(pool.songs[c.song].name) + ("  (its original continuation)" if i == natural else "")
            it = QTreeWidgetItem([fmt(cost), str(i), song,
                                  f"{fmt_seconds(c.start / pool.sr)} – {fmt_seconds(c.end / pool.sr)}"])
            it.setData(0, Qt.UserRole, i)
            it.setForeground(2, text_color(c.song))
            it.setToolTip(2, pool.songs[c.song].path)
            it.setTextAlignment(0, Qt.AlignRight | Qt.AlignVCenter)
            it.setTextAlignment(1, Qt.AlignRight | Qt.AlignVCenter)
            self.alt_list.addTopLevelItem(it)
        if self.alt_list.topLevelItemCount():
            self.alt_list.setCurrentItem(self.alt_list.topLevelItem(0))

    def selected(self) -> Optional[int]:
        it = self.alt_list.currentItem()
        return None if it is None else int(it.data(0, Qt.UserRole))

    def set_busy(self, has_built: bool, busy: bool) -> None:
        has_alt = self.alt_list.currentItem() is not None
        self.btn_swap.setEnabled(has_built and not busy and has_alt)
        self.btn_hear.setEnabled(has_built and has_alt)
