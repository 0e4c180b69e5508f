"""The Stitcher's Mood path step (issue 18): stitch along a valence/arousal curve.

:class:`MoodPanel` (a checkable group: off = today's search exactly) holds the path on a small
plane (:class:`~musiclab.gui.widgets.mood_path.MoodPathPlane`: start and end mood, extra points),
presets, the weight, "Rate chunks" with Cancel (the chunk-emotion job runs on the stitcher's
service; the tab submits it) and what the built song became next to what was asked
(:func:`result_text`). The song's predicted timeline over the requested curve is a
:class:`~musiclab.gui.widgets.mood_path.MoodTimeline` the tab places under the result."""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QGroupBox, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout)

from ...widgets.mood_path import MoodPathPlane

#: the weight slider's steps: value / 2 = the mood weight (0 .. 20; the default, 10, in the middle)
WEIGHT_STEPS = 40
PRESETS = {"calm → excited": [(0.3, -0.6), (0.5, 0.7)], "sad → happy": [(-0.5, -0.5), (0.5, 0.5)],
           "excited → calm": [(0.5, 0.7), (0.3, -0.6)], "tense → calm": [(-0.5, 0.6), (0.3, -0.6)],
           "calm → excited → calm": [(0.3, -0.6), (0.5, 0.7), (0.3, -0.6)]}
CUSTOM = "custom (drag the points)"


def _default_weight() -> float:
    from ....stitcher.mood import DEFAULT_WEIGHT  # numpy only

    return DEFAULT_WEIGHT


def result_text(rep: Optional[dict]) -> str:
    """"asked Q4 calm → Q1 happy · got Q1 (+0.31, +0.12) · mean distance 0.38" (HTML)."""
    from ...widgets.emotion_plane import QUADRANT_COLOURS, SHORT_TITLES

    if not rep:
        return "<span style='color:#999'>Build a song to see its mood.</span>"

    def q(name):
        return f"<b style='color:{QUADRANT_COLOURS.get(name, '#ccc')}'>{SHORT_TITLES.get(name, name)}</b>"

    x, y = rep["xy"]
    got = f"got {q(rep['quadrant'])} at ({x:+.2f}, {y:+.2f})"
    if rep.get("asked"):
        a, b = rep["asked"].split(" → ")
        txt = f"asked {q(a)} → {q(b)} · {got} · mean distance {rep['mean_distance']:.2f}"
    else:
        txt = f"{got} (no mood path asked)"
    msg = (rep.get("planned") or {}).get("message")
    if msg:
        txt += f"<br><span style='color:#e0a040'>{msg}</span>"
    return txt


class MoodPanel(QGroupBox):
    """``rate_requested`` when the user asks for the chunks' emotions; ``cancel_requested`` for
    Cancel. :meth:`path` is the :class:`~musiclab.stitcher.mood.MoodPath` to follow, or None when
    the panel is off."""

    rate_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent=None):
        super().__init__("5 · Mood path", parent)
        self.setCheckable(True)
        self.setChecked(False)
        self.setToolTip("Stitch along a mood: the search also minimises the distance of each chunk's predicted "
                        "emotion to this curve at its time in the song. Off: the search is exactly as without.")
        v = QVBoxLayout(self)
        v.setSpacing(4)
        row = QHBoxLayout()
        row.addWidget(QLabel("Preset"))
        self.preset = QComboBox()
        self.preset.addItems(list(PRESETS) + [CUSTOM])
        row.addWidget(self.preset, 1)
        v.addLayout(row)
        self.plane = MoodPathPlane()
        self.plane.setMinimumSize(220, 220)
        self.plane.setMaximumHeight(300)
        v.addWidget(self.plane)
        wrow = QHBoxLayout()
        wrow.addWidget(QLabel("Weight"))
        self.weight_slider = QSlider(Qt.Horizontal)
        self.weight_slider.setRange(0, WEIGHT_STEPS)
        self.weight_slider.setValue(int(round(_default_weight() * 2)))
        self.weight_slider.setToolTip("How much following the mood counts against smooth joins (0 = not at all; "
                                      f"{_default_weight():g} = the default, chosen on TUNE pools). With a path "
                                      "each chunk may appear twice (or the Build panel's reuse, if higher)")
        self.weight_label = QLabel("")
        self.weight_label.setMinimumWidth(30)
        wrow.addWidget(self.weight_slider, 1)
        wrow.addWidget(self.weight_label)
        v.addLayout(wrow)
        brow = QHBoxLayout()
        self.btn_rate = QPushButton("Rate chunks")
        self.btn_rate.setToolTip("Predict every chunk's emotion with the Emotion model (once per pool; cached)")
        self.btn_cancel = QPushButton("Cancel")
        self.btn_cancel.setEnabled(False)
        brow.addWidget(self.btn_rate)
        brow.addWidget(self.btn_cancel)
        v.addLayout(brow)
        self.chunks_label = QLabel("Chunks not rated yet (a build rates them first).")
        self.chunks_label.setWordWrap(True)
        self.chunks_label.setStyleSheet("color: palette(mid);")
        v.addWidget(self.chunks_label)
        self.result_label = QLabel(result_text(None))
        self.result_label.setWordWrap(True)
        self.result_label.setTextFormat(Qt.RichText)
        v.addWidget(self.result_label)
        self.preset.currentTextChanged.connect(self._preset)
        self.plane.path_changed.connect(self._edited)
        self.weight_slider.valueChanged.connect(self._show_weight)
        self.btn_rate.clicked.connect(self.rate_requested)
        self.btn_cancel.clicked.connect(self.cancel_requested)
        self.toggled.connect(self._toggled)
        self._setting = False
        self._preset(self.preset.currentText())
        self._show_weight()
        self._toggled(self.isChecked())

    # -- values ------------------------------------------------------------------------------
    def weight(self) -> float:
        return self.weight_slider.value() / 2.0

    def set_weight(self, w: float) -> None:
        self.weight_slider.setValue(int(round(max(0.0, min(WEIGHT_STEPS / 2.0, float(w))) * 2)))

    def path(self):
        """The path to follow (:class:`~musiclab.stitcher.mood.MoodPath`), or None when off."""
        if not self.isChecked() or self.weight() <= 0:
            return None
        from ....stitcher.mood import MoodPath

        return MoodPath.make(self.plane.points())

    def path_spec(self) -> str:
        return ";".join(f"{v:.3f},{a:.3f}" for v, a in self.plane.points())

    def set_path_spec(self, spec: str) -> None:
        from ....stitcher.mood import MoodPath

        p = MoodPath.parse(spec)
        self._setting = True
        try:
            self.plane.set_points([tuple(x) for x in p.points])
            match = next((k for k, pts in PRESETS.items() if len(pts) == len(p.points)
                          and all(abs(a - b) < 1e-3 for q, r in zip(pts, p.points) for a, b in zip(q, r))), CUSTOM)
            self.preset.setCurrentText(match)
        finally:
            self._setting = False

    # -- showing ---------------------------------------------------------------------------------
    def set_chunk_moods(self, moods: Optional[dict]) -> None:
        """The pool's rated chunks (``{"xy", "model"}``) as grey dots, or None (not rated)."""
        if moods is None:
            self.plane.set_chunk_moods(None)
            self.chunks_label.setText("Chunks not rated yet (a build rates them first).")
        else:
            self.plane.set_chunk_moods(moods["xy"])
            self.chunks_label.setText(f"{len(moods['xy'])} chunks rated by the Emotion model "
                                      f"({moods.get('model', '?')}): grey dots.")

    def show_result(self, rep: Optional[dict]) -> None:
        self.result_label.setText(result_text(rep))
        self.plane.set_result_point(tuple(rep["xy"]) if rep else None)

    def set_busy(self, has_pool: bool, busy: bool, rating: bool) -> None:
        self.btn_rate.setEnabled(has_pool and not busy)
        self.btn_cancel.setEnabled(rating)

    # -- slots -------------------------------------------------------------------------------------
    def _preset(self, name: str) -> None:
        if self._setting or name not in PRESETS:
            return
        self._setting = True
        try:
            self.plane.set_points(PRESETS[name])
        finally:
            self._setting = False

    def _edited(self, _points) -> None:
        if not self._setting:
            self._setting = True
            try:
                self.preset.setCurrentText(CUSTOM)
            finally:
                self._setting = False

    def _show_weight(self, *_):
        self.weight_label.setText(f"{self.weight():g}")

    def _toggled(self, on: bool) -> None:
        self.plane.set_editable(on)
