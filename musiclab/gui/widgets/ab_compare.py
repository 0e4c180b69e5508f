"""A/B: an original and what was made of it, side by side, with one transport.

:class:`ABCompareView` shows two :class:`~musiclab.analysis.compare.AbItem` (A = the primer
or the source song, B = the continuation or the stitched song): each side's mel spectrogram
(one dB reference for both, :func:`musiclab.analysis.compare.spectrograms`) and its emotion
timeline (:func:`musiclab.emotion.rate.rate_or_reason`), computed in jobs on the service it
is given. Play / pause plays the chosen side through the app's player; switching A ⇄ B goes
on at the same position (:func:`~musiclab.analysis.compare.switch_position`), playing or
paused as it was. :func:`open_ab` opens (or reuses) a non-modal window with the view.
"""

from __future__ import annotations

import weakref
from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import (
    QButtonGroup, QDialog, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget,
)

from ...analysis.compare import FLOOR_DB, AbItem, spectrograms, switch_position
from .emotion_timeline import EmotionTimeline
from .live_views import make_lut

SIDE_COLOURS = {"A": "#6fa8dc", "B": "#f6b26b"}
HZ_TICKS = (100, 250, 500, 1000, 2000, 4000, 8000)


def fmt_time(s: float) -> str:
    s = max(0.0, float(s))
    return f"{int(s // 60)}:{s % 60:04.1f}"


class SideView(QWidget):
    """One side: title, spectrogram (with a playback cursor) and emotion timeline."""

    def __init__(self, key: str, parent=None):
        super().__init__(parent)
        self.key = key
        v = QVBoxLayout(self)
        v.setContentsMargins(2, 2, 2, 2)
        v.setSpacing(2)
        self.title = QLabel(f"<b style='color:{SIDE_COLOURS[key]}'>{key}</b>")
        self.title.setTextInteractionFlags(Qt.TextSelectableByMouse)
        v.addWidget(self.title)
        self.spec = pg.PlotWidget(background="#1e1f22")
        pi = self.spec.getPlotItem()
        pi.setLabel("bottom", "time", units="s")
        pi.setLabel("left", "Hz (mel)")
        pi.setMouseEnabled(x=True, y=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setLookupTable(make_lut("inferno"))
        self.spec.addItem(self.image)
        self.spec_cursor = pg.InfiniteLine(0, angle=90, pen=pg.mkPen("#ffffff", width=1))
        self.spec_cursor.setVisible(False)
        self.spec.addItem(self.spec_cursor)
        self.spec.setToolTip("Mel spectrogram (librosa, 96 bands), dB against the louder side's maximum: "
                             "a side that looks darker is quieter. Click to play from there.")
        v.addWidget(self.spec, 3)
        self.timeline = EmotionTimeline()
        self.timeline.setMinimumHeight(120)
        v.addWidget(self.timeline, 2)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        v.addWidget(self.note)
        self.item: Optional[AbItem] = None
        self.rating: Optional[dict] = None
        self.spectrogram = None

    def set_item(self, it: AbItem) -> None:
        self.item, self.rating, self.spectrogram = it, None, None
        self.title.setText(f"<b style='color:{SIDE_COLOURS[self.key]}'>{self.key}</b> — {it.title} "
                           f"({fmt_time(it.duration)})")
        self.title.setToolTip(it.title)
        self.image.clear()
        self.timeline.set_result(None)
        self.timeline.getPlotItem().setTitle("Emotion over time: rating…", color="#bbbbbb", size="10pt")
        self.note.setText("")

    def show_spectrogram(self, sp) -> None:
        self.spectrogram = sp
        self.image.setImage(sp.image, autoLevels=False, levels=(FLOOR_DB, 0.0))
        n_bands = sp.image.shape[0]
        self.image.setRect(QRectF(0.0, 0.0, sp.frames * sp.seconds_per_frame, float(n_bands)))
        ticks = []
        for hz in HZ_TICKS:
            k = int(np.searchsorted(sp.band_hz, hz))
            if 0 < k < n_bands:
                ticks.append((k + 0.5, f"{hz // 1000}k" if hz >= 1000 else str(hz)))
        pi = self.spec.getPlotItem()
        pi.getAxis("left").setTicks([ticks])
        pi.setYRange(0, n_bands, padding=0)
        pi.setXRange(0, max(sp.duration, 0.5), padding=0.01)

    def show_rating(self, r: dict) -> None:
        if r.get("unrated"):
            self.rating = None
            self.timeline.set_result(None)
            self.timeline.getPlotItem().setTitle("Emotion: not rated", color="#bbbbbb", size="10pt")
            self.note.setText(f"<i>Not rated: {r['unrated']}</i>")
            return
        from ...emotion.rate import rating_text

        self.rating = r
        self.timeline.set_result(r)
        self.timeline.getPlotItem().setXRange(0, max(r.get("duration", 0.0), 0.5), padding=0.01)
        self.note.setText(rating_text(r))

    def set_cursor(self, seconds: Optional[float]) -> None:
        self.spec_cursor.setVisible(seconds is not None)
        if seconds is not None:
            self.spec_cursor.setValue(seconds)
        self.timeline.set_position(seconds)


class ABCompareView(QWidget):
    """A (left) and B (right) over one transport: Play / pause, A, B, the position."""

    def __init__(self, player, service, emotion_model: str = "default", parent=None):
        super().__init__(parent)
        self.player, self.svc, self.emotion_model = player, service, emotion_model
        self.jobs: list = []
        self.active = "A"
        self._pos = 0.0  # the position while this view does not hold the player
        v = QVBoxLayout(self)
        v.setContentsMargins(4, 4, 4, 4)
        sides = QHBoxLayout()
        self.sides = {"A": SideView("A"), "B": SideView("B")}
        for s in self.sides.values():
            sides.addWidget(s, 1)
        v.addLayout(sides, 1)
        row = QHBoxLayout()
        self.play_btn = QPushButton("Play")
        self.play_btn.setToolTip("Play / pause the side chosen (A or B)")
        row.addWidget(self.play_btn)
        self.group = QButtonGroup(self)
        self.btn = {}
        for key in ("A", "B"):
            b = QPushButton(key)
            b.setCheckable(True)
            b.setMinimumWidth(48)
            b.setStyleSheet(f"QPushButton:checked {{ background: {SIDE_COLOURS[key]}; color: black; "
                            "font-weight: bold; }")
            b.setToolTip(f"Listen to {key}; playback goes on at the same position")
            self.group.addButton(b)
            self.btn[key] = b
            row.addWidget(b)
        self.btn["A"].setChecked(True)
        self.pos_label = QLabel("0:00.0")
        self.pos_label.setMinimumWidth(200)
        row.addWidget(self.pos_label)
        row.addStretch(1)
        self.status = QLabel("")
        self.status.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
        row.addWidget(self.status, 2)
        v.addLayout(row)
        self.play_btn.clicked.connect(self.toggle_play)
        self.btn["A"].clicked.connect(lambda: self.switch_to("A"))
        self.btn["B"].clicked.connect(lambda: self.switch_to("B"))
        for key, s in self.sides.items():
            s.timeline.seek_requested.connect(lambda t, k=key: self.seek(t, k))
            s.spec.scene().sigMouseClicked.connect(lambda ev, k=key: self._spec_clicked(ev, k))
        sig = getattr(player, "position_changed", None)
        if sig is not None:
            sig.connect(self._on_position)
        sig = getattr(player, "state_changed", None)
        if sig is not None:
            sig.connect(lambda _s: self._update_play_text())

    # -- content ---------------------------------------------------------------------------
    def set_items(self, a: AbItem, b: AbItem) -> list:
        """Show ``a`` and ``b`` and start their jobs (spectrograms; each side's emotion);
        returns the jobs. A newer call supersedes the jobs of an earlier one."""
        if self.owns_player():
            self.player.stop()
        self.items = {"A": a, "B": b}
        for key, it in self.items.items():
            self.sides[key].set_item(it)
        self._pos = 0.0
        self._show_position(0.0)
        self.status.setText("Computing the spectrograms and the emotion of each side…")
        tag = f"ab-{id(self)}"
        spec = self.svc.submit(spectrograms, [a, b], label="A/B spectrograms", latest=f"{tag}-spec")
        spec.on_result(self._spectrograms)
        spec.on_error(lambda msg: self.status.setText(f"Spectrograms failed: {msg}"))
        self.jobs = [spec]
        from ...emotion.rate import rate_or_reason

        for key, it in self.items.items():
            job = self.svc.submit(rate_or_reason, it.y, it.sr, it.name, self.emotion_model,
                                  label=f"A/B emotion of {key}", latest=f"{tag}-emotion-{key}")
            job.on_result(lambda r, k=key, it=it: self._rated(k, it, r))
            job.on_error(lambda msg, k=key: self.sides[k].note.setText(f"<i>Not rated: {msg}</i>"))
            self.jobs.append(job)
        for j in self.jobs:
            j.on_finished(self._settle)
        return self.jobs

    def _spectrograms(self, specs: list) -> None:
        for key, sp in zip(("A", "B"), specs):
            self.sides[key].show_spectrogram(sp)

    def _rated(self, key: str, it: AbItem, r: dict) -> None:
        if self.items.get(key) is it:
            self.sides[key].show_rating(r)

    def _settle(self) -> None:
        if all(j.done for j in self.jobs):
            self.status.setText("")

    # -- transport ---------------------------------------------------------------------------
    def owns_player(self) -> bool:
        return getattr(self.player, "owner", None) is self

    def position(self) -> float:
        if self.owns_player():
            return float(getattr(self.player, "position", self._pos))
        return self._pos

    def _label(self, key: str) -> str:
        return f"A/B {key}: {self.items[key].title}"

    def _load(self, key: str, at: float, play: bool) -> None:
        it = self.items[key]
        p = self.player
        if hasattr(p, "load"):
            p.load(it.y, it.sr, self._label(key), owner=self)
            p.seek(at)
            if play:
                p.play()
        else:  # a player that only plays what it is given
            p.play(it.y, it.sr, self._label(key), owner=self)
            p.seek(at)
            if not play:
                p.toggle()
        self._pos = at

    def toggle_play(self) -> None:
        if not hasattr(self, "items"):
            return
        p = self.player
        if self.owns_player() and getattr(p, "label", "") == self._label(self.active):
            p.toggle()
        else:
            self._load(self.active, self._pos, play=True)
        self._update_play_text()

    def switch_to(self, key: str) -> None:
        """Listen to ``key`` from the same position (playing on if it was playing)."""
        if key not in ("A", "B") or not hasattr(self, "items"):
            return
        self.btn[key].setChecked(True)
        if key == self.active and self.owns_player():
            return
        was_playing = self.owns_player() and getattr(self.player, "state", "") == "playing"
        held = self.owns_player() and getattr(self.player, "state", "stopped") in ("playing", "paused")
        at = switch_position(self.position(), self.items[key].duration)
        self.active = key
        if held:
            self._load(key, at, play=was_playing)
        else:
            self._pos = at
        self._show_position(at)
        self._update_play_text()

    def seek(self, seconds: float, key: Optional[str] = None) -> None:
        if key is not None and key != self.active:
            self.switch_to(key)
        at = switch_position(seconds, self.items[self.active].duration)
        if self.owns_player():
            self.player.seek(at)
        self._pos = at
        self._show_position(at)

    def _spec_clicked(self, ev, key: str) -> None:
        vb = self.sides[key].spec.getPlotItem().vb
        if vb.sceneBoundingRect().contains(ev.scenePos()):
            self.seek(float(vb.mapSceneToView(ev.scenePos()).x()), key)

    def _on_position(self, seconds: float) -> None:
        if not self.owns_player():
            return
        self._pos = float(seconds)
        self._show_position(seconds)

    def _show_position(self, seconds: float) -> None:
        if not hasattr(self, "items"):
            return
        for key, side in self.sides.items():
            side.set_cursor(min(seconds, self.items[key].duration) if key == self.active else None)
        self.pos_label.setText(f"<b style='color:{SIDE_COLOURS[self.active]}'>{self.active}</b> "
                               f"{fmt_time(seconds)} / {fmt_time(self.items[self.active].duration)}")

    def _update_play_text(self) -> None:
        playing = self.owns_player() and getattr(self.player, "state", "") == "playing"
        self.play_btn.setText("Pause" if playing else "Play")

    def stop(self) -> None:
        if self.owns_player():
            self.player.stop()
        for j in self.jobs:
            j.cancel()


class ABCompareDialog(QDialog):
    """A window around an :class:`ABCompareView`; closing it stops what it plays."""

    def __init__(self, player, service, title: str = "A/B", parent=None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setModal(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.view = ABCompareView(player, service, parent=self)
        lay.addWidget(self.view)
        self.resize(1200, 640)

    def closeEvent(self, ev) -> None:  # noqa: N802 - Qt's name
        self.view.stop()
        super().closeEvent(ev)


_dialogs: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def ab_service(ctx):
    """The one service the A/B windows of an app compute on (made on first use)."""
    svc = getattr(ctx, "_ab_service", None)
    if svc is None:
        svc = ctx.make_service("ab-compare")
        ctx._ab_service = svc
    return svc


def open_ab(parent: QWidget, ctx, a: AbItem, b: AbItem, title: str = "A/B") -> ABCompareDialog:
    """Show ``a`` against ``b`` in ``parent``'s A/B window (made once, then reused)."""
    dlg = _dialogs.get(parent)
    if dlg is None:
        dlg = ABCompareDialog(ctx.player, ab_service(ctx), title, parent)
        _dialogs[parent] = dlg
    dlg.setWindowTitle(title)
    dlg.view.set_items(a, b)
    dlg.show()
    dlg.raise_()
    return dlg
