"""The Live tab's left-hand panel: the stacked views and the read-out under the mouse."""

from __future__ import annotations

from typing import Callable, Optional

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ....analysis.session import FileResult, mel_band_hz
from ...widgets.live_views import LiveViews

HINT = "Move the mouse over a view to read time, frequency, note and level."


class ViewsPanel(QWidget):
    def __init__(self, value_at: Callable[[str, int, int], Optional[float]], parent=None):
        super().__init__(parent)
        self.views = LiveViews(self)
        self.views.set_value_source(value_at)
        self.readout = QLabel(HINT)
        self.readout.setStyleSheet("font-family: monospace; padding: 2px;")
        self.views.cursor_moved.connect(self.readout.setText)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.views, 1)
        lay.addWidget(self.readout)

    def show_empty(self, axes: dict, history_s: float) -> None:
        """Axes from 0 to Nyquist and over the history, before any audio arrives."""
        self.views.show_empty(axes["nyquist"], history_s, axes["mel_freqs"], axes["fmin"], axes["fmax"],
                              axes["scale"])

    def show_scroll(self, scroll) -> None:
        """Point the axes at a new scrolling history (a source started, settings changed)."""
        m = scroll.mapper
        p = scroll.params
        self.views.set_freq_axes(m.scale, m.edges_hz[0], m.edges_hz[-1], mel_band_hz(p.n_mels, p.fmin, p.fmax),
                                 m.rows, m.edges_hz)

    def refresh_scroll(self, scroll) -> None:
        imgs = {k: scroll.image(k) for k in ("stft", "mel", "chroma", "wave")}
        p = scroll.params
        self.views.show_live(imgs, scroll.seconds, p.hop / p.sr)

    def show_file(self, r: FileResult) -> None:
        e = r.edges_hz
        self.views.set_freq_axes(r.settings.freq_scale, e[0], e[-1], r.mel_freqs, len(e) - 1, e)
        self.views.show_file(r.images, r.hop / r.sr, r.duration, r.envelope, r.beat_times, r.images["beat"])
