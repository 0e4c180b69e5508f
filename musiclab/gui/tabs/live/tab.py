"""The Live tab: scrolling spectrogram, mel spectrogram, chromagram and waveform.

A thin shell around two panels (:class:`ViewsPanel` left, :class:`SettingsPanel` right)
and a Qt-free :class:`~musiclab.analysis.session.LiveSession` that holds the work: the
open file and its analysis, the live engine and its history.

Sources: an input device (sounddevice), a generated test signal, the file the transport
is playing (the view follows the playhead), or a whole file (a zoomable view with beat
lines and a beat-synchronised chromagram, decoded and analysed in a job on the "live"
service at the file's own rate). A ~50 Hz QTimer drains the live source; the audio
callback only copies into a ring buffer. Tests inject a
:class:`~musiclab.audio.sources.FakeSource` with :meth:`LiveTab.set_source`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout

from ....analysis.session import DEFAULT_LIVE_SR, FileResult, LiveSession, analyse, demo_signal
from ....audio.sources import AudioSource, FakeSource, FileSource
from ....errors import MusiclabError, NoAudioDeviceError
from ..base import WorkbenchTab
from .settings_panel import MODES, SettingsPanel
from .views_panel import ViewsPanel

EXPORT_FILTERS = ("PNG image (*.png);;Mel matrix NPY (*.mel.npy);;Chroma matrix NPY (*.chroma.npy);;"
                  "STFT matrix NPY (*.stft.npy);;Mel matrix CSV (*.mel.csv);;Chroma matrix CSV (*.chroma.csv)")
#: the settings panel's widgets, reachable on the tab too (tab.nfft_box, tab.start_btn, ...)
PANEL_WIDGETS = ("mode_box", "device_box", "refresh_btn", "start_btn", "freeze_btn", "level", "stats_label",
                 "source_msg", "nfft_box", "hop_spin", "overlap_box", "window_box", "mels_spin", "fmin_spin",
                 "fmax_spin", "rate_box", "scale_box", "dbmin_spin", "dbmax_spin", "cmap_box", "history_spin",
                 "view_checks", "beats_check", "export_btn", "file_label")


class LiveTab(WorkbenchTab):
    key = "live"
    title = "Live"

    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.session = LiveSession()
        self._source: Optional[AudioSource] = None
        self._rendered = False
        self._devices: list[dict] = []
        self._service = None
        self._restore_playing = False  # a restart in "playing" mode: follow the transport once decoded
        self.views_panel = ViewsPanel(self._value_at)
        self.views = self.views_panel.views
        self.readout = self.views_panel.readout
        self.settings_panel = sp = SettingsPanel()
        for name in PANEL_WIDGETS:
            setattr(self, name, getattr(sp, name))
        lay = QHBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.views_panel, 1)
        lay.addWidget(sp)

        sp.mode_box.currentIndexChanged.connect(self._mode_changed)
        sp.refresh_btn.clicked.connect(self.refresh_devices)
        sp.start_btn.clicked.connect(self._start_clicked)
        sp.freeze_btn.toggled.connect(self.set_frozen)
        sp.export_btn.clicked.connect(self.export)
        sp.analysis_changed.connect(self._analysis_changed)
        sp.display_changed.connect(self._apply_display)
        sp.views_changed.connect(self._apply_views)
        QShortcut(QKeySequence("F"), self, activated=sp.freeze_btn.toggle)
        QShortcut(QKeySequence("Ctrl+R"), self, activated=sp.start_btn.click)
        # Ctrl+E is the window's File > Export, which calls self.export

        self._timer = QTimer(self)
        self._timer.setInterval(20)  # 50 Hz, like Friture
        self._timer.timeout.connect(self._tick)
        self._reanalyse = QTimer(self)
        self._reanalyse.setSingleShot(True)
        self._reanalyse.setInterval(300)
        self._reanalyse.timeout.connect(self._submit_file_analysis)
        self.session.settings = sp.settings()
        self._update_mode_widgets()
        self.refresh_devices()
        self._apply_display()
        self._apply_views()
        self._show_empty()

    # ------------------------------------------------------------------ helpers
    def mode(self) -> str:
        return self.settings_panel.mode()

    def _value_at(self, key: str, col: int, row: int) -> Optional[float]:
        return self.session.value_at(key, col, row, live=self.views.mode == "live")

    def _live_sr(self) -> int:
        """The rate the next live source will likely run at (for the empty axes)."""
        idx = self.device_box.currentData()
        dev = next((d for d in self._devices if d["index"] == idx), None)
        if self.mode() == "device" and dev and dev.get("default_sr"):
            return int(dev["default_sr"])
        return DEFAULT_LIVE_SR

    def _show_empty(self) -> None:
        self.views_panel.show_empty(self.session.empty_axes(self._live_sr()), self.history_spin.value())

    def _update_mode_widgets(self) -> None:
        m = self.mode()
        live = m in ("device", "test")
        self.device_box.setEnabled(m == "device")
        self.refresh_btn.setEnabled(m == "device")
        self.start_btn.setEnabled(live)
        self.level.setEnabled(live)

    def _mode_changed(self) -> None:
        self.stop_source()
        self._update_mode_widgets()
        m = self.mode()
        s = self.session
        if m == "file" and s.result is not None and s.result.settings == self.settings_panel.settings():
            self._show_file_analysis()
        elif m == "file" and (s.path is not None or s.result is not None):
            self._submit_file_analysis()
        elif m == "playing":
            self._start_playing_source()
        elif self.views.mode == "file":
            self._show_empty()

    def refresh_devices(self) -> None:
        from ....audio.sources import list_input_devices

        self._devices, msg = list_input_devices()
        self.device_box.clear()
        for d in self._devices:
            self.device_box.addItem(f"{d['name']} ({d['channels']} ch, {d['default_sr']:.0f} Hz)", d["index"])
            if d.get("default"):
                self.device_box.setCurrentIndex(self.device_box.count() - 1)
        if not self._devices:
            self.device_box.addItem("(no input device)", None)
        self.source_msg.setText("" if self._devices else msg)

    # ------------------------------------------------------------------ live sources
    def set_source(self, source: AudioSource, start: bool = True) -> None:
        """Use ``source`` (tests inject a FakeSource) and start draining it."""
        self.stop_source()
        self._source = source
        try:
            self._make_engine()
            if start:
                source.start()
        except NoAudioDeviceError as exc:
            self._source_failed(str(exc))
            return
        self._timer.start()
        self.start_btn.setChecked(True)
        self.start_btn.setText("Stop")
        self.source_msg.setText("")

    def _make_engine(self) -> None:
        self.session.settings = self.settings_panel.settings()
        self.session.start_live(self._source, self.history_spin.value())
        self.views_panel.show_scroll(self.session.scroll)
        self.views.set_playhead(None)

    def stop_source(self) -> None:
        self._timer.stop()
        if self._source is not None:
            try:
                self._source.close()
            except Exception:
                pass
        self._source = None
        self.session.stop_live()
        self.start_btn.setChecked(False)
        self.start_btn.setText("Start")

    def _source_failed(self, message: str) -> None:
        """A device failed (not a job): say so here and in the status bar."""
        self.stop_source()
        self.source_msg.setText(message)
        self.ctx.notify(message, error=True)

    def _start_clicked(self, checked: bool) -> None:
        if not checked:
            self.stop_source()
            return
        m = self.mode()
        if m == "test":
            sr = DEFAULT_LIVE_SR
            self.set_source(FakeSource(demo_signal(sr), sr, block=512, loop=True, name="Test signal"))
        elif m == "device":
            idx = self.device_box.currentData()
            if idx is None and not self._devices:
                self.start_btn.setChecked(False)
                self._source_failed(self.source_msg.text() or "No audio input device is available.")
                return
            try:
                from ....audio.sources import SoundDeviceSource

                src = SoundDeviceSource(device=idx, channels=2)
            except NoAudioDeviceError as exc:
                self._source_failed(str(exc))
                return
            self.set_source(src)

    def _start_playing_source(self) -> None:
        audio = self.session.audio
        if audio is None:
            self.source_msg.setText("Open a file (File ▸ Open or drop it here), then press Play.")
            return
        prefill = self.settings_panel.settings().params(audio.sr).n_fft
        self.set_source(FileSource(audio.y, audio.sr, name=audio.name, prefill=prefill), start=False)
        self.source_msg.setText(f"Following the transport through '{audio.name}'.")

    def set_frozen(self, frozen: bool) -> None:
        self.session.frozen = bool(frozen)
        if self.freeze_btn.isChecked() != self.session.frozen:
            self.freeze_btn.setChecked(self.session.frozen)

    def _tick(self) -> None:
        if self.session.engine is None:
            return
        try:
            batch = self.session.poll()
        except NoAudioDeviceError as exc:
            self._source_failed(str(exc))
            return
        except Exception as exc:  # never let a timer tick crash the app
            self._source_failed(f"Live analysis stopped: {type(exc).__name__}: {exc}")
            return
        src = self._source
        lvl = float(np.max(src.level_db)) if len(src.level_db) else -60.0
        self.level.setValue(int(max(-60, min(0, lvl if np.isfinite(lvl) else -60))))
        self.stats_label.setText(f"{src.overflows} overflow(s), {src.dropped_blocks} dropped block(s)")
        if batch is not None and not self.session.frozen:
            self.refresh_view()
        if isinstance(src, FileSource) and src.finished:
            self.source_msg.setText(f"'{src.name}' ended.")
        elif isinstance(src, FakeSource) and src.finished:
            self.source_msg.setText("The test signal ended.")
            self._timer.stop()

    def refresh_view(self) -> None:
        if self.session.scroll is None:
            return
        self.views_panel.refresh_scroll(self.session.scroll)
        self._rendered = True

    # ------------------------------------------------------------------ parameters
    def _analysis_changed(self) -> None:
        self.session.settings = self.settings_panel.settings()
        if self._source is not None:
            try:
                self._make_engine()
            except (ValueError, MusiclabError) as exc:
                self.source_msg.setText(str(exc))
        elif self.views.mode == "live" and self.session.scroll is None:
            self._show_empty()
        if self.mode() == "file" and (self.session.path is not None or self.session.result is not None):
            self._reanalyse.start()

    def _apply_display(self) -> None:
        self.views.set_colormap(self.cmap_box.currentData())
        self.views.set_db_range(self.dbmin_spin.value(), self.dbmax_spin.value())
        if self.session.scroll is not None and self.views.mode == "live":
            self.refresh_view()

    def _apply_views(self) -> None:
        self.views.set_visible_views(self.settings_panel.visible_views())
        self.views.set_beats_visible(self.beats_check.isChecked())
        if self.session.scroll is not None and self.views.mode == "live":
            self.refresh_view()

    # ------------------------------------------------------------------ files
    def open_files(self, paths: list[Path]) -> None:
        """Decode and analyse the first file in a job on the "live" service."""
        if not paths:
            return
        path = Path(paths[0])
        if len(paths) > 1:  # one view, one file: say so rather than drop the others silently
            self.ctx.notify(f"Live shows one file at a time: opening '{path.name}' "
                            f"({len(paths) - 1} other file(s) not opened).")
        self.session.open(path)
        self.file_label.setText(f"<b>{path.name}</b><br>loading…")
        if self.mode() != "file":
            self.settings_panel.set_mode("file", signal=False)
            self.stop_source()
            self._update_mode_widgets()
        self._submit_file_analysis()

    def _svc(self):
        if self._service is None:
            self._service = self.ctx.make_service("live")
        return self._service

    def _submit_file_analysis(self) -> None:
        """Analyse the open file with the current settings; a newer request supersedes an
        older one inside the service. The decoded audio is reused once there is some."""
        self._reanalyse.stop()
        self.session.settings = self.settings_panel.settings()
        try:
            source, settings, prev = self.session.analysis_args()
        except MusiclabError:
            return
        name = getattr(source, "name", "")
        self.source_msg.setText(f"Analysing '{name}'…")
        job = self._svc().submit(analyse, source, settings, prev, label=f"Analysing {name}", latest="analysis")
        job.on_result(self._analysis_done).on_error(self._analysis_failed)

    def _analysis_done(self, result: FileResult) -> None:
        if self.session.accept(result):
            a = result.audio
            self.file_label.setText(f"<b>{a.name}</b><br>{a.duration:.1f} s, {a.sr} Hz")
            self.playable_changed.emit()
        self.source_msg.setText(result.summary())
        if self.mode() == "file":
            self._show_file_analysis()
        elif self._restore_playing and self.mode() == "playing":
            self._restore_playing = False
            self._start_playing_source()

    def _analysis_failed(self, message: str) -> None:
        """The window reports the failure once; here only the tab's own status text."""
        self.source_msg.setText(message)
        if self.session.result is None:
            self.file_label.setText("")
        self.session.failed()
        self._restore_playing = False

    def _show_file_analysis(self) -> None:
        self.views_panel.show_file(self.session.result)
        self._rendered = True

    def playable_audio(self):
        a = self.session.audio
        return None if a is None else (a.y, a.sr, a.name)

    def on_playback_position(self, seconds: float) -> None:
        if self.mode() == "playing" and isinstance(self._source, FileSource):
            self._source.advance_to(seconds)
        elif self.mode() == "file":
            self.views.set_playhead(seconds)

    # ------------------------------------------------------------------ export
    def export(self) -> None:
        if self.ctx.headless:
            return
        path, _ = self.ask_save_path("Export view or features", "musiclab-live.png", EXPORT_FILTERS)
        if path is None:
            return
        try:
            out = self.export_to(path)
        except (MusiclabError, OSError, ValueError) as exc:
            self.ctx.notify(f"Export failed: {exc}", error=True)
            return
        self.ctx.notify(f"Exported {out}")

    def export_to(self, path, feature: Optional[str] = None) -> Path:
        """PNG of the views, or a feature matrix (.npy / .csv) from the session; the feature
        is taken from ``feature`` or the name (``x.mel.npy``, ``x.chroma.csv``; default mel)."""
        p = Path(path)
        if p.suffix.lower() == ".png":
            p.parent.mkdir(parents=True, exist_ok=True)
            if not self.views.grab().save(str(p)):
                raise MusiclabError(f"Could not write '{p.name}'.")
            return p
        return self.session.export(p, feature, live=self.views.mode == "live")

    # ------------------------------------------------------------------ settings / lifetime
    def persist(self) -> dict:
        return self.settings_panel.persist()

    def save_settings(self, settings: QSettings) -> None:
        super().save_settings(settings)
        settings.setValue("mode", self.mode())
        path = self.session.path  # the path only (None after a failed open): audio is decoded again
        settings.setValue("file", str(path) if path is not None else "")

    def restore_settings(self, settings: QSettings) -> None:
        """The mode and the open file of the last session: the file is decoded and analysed
        again in a job (a file that is gone leaves a note, and the mode falls back to the
        input device for a whole-file view)."""
        super().restore_settings(settings)
        mode = settings.value("mode", "device", type=str)
        if mode not in MODES:
            return
        saved = settings.value("file", "", type=str) or ""
        path = Path(saved) if saved else None
        if path is not None and path.is_file() and self.session.path is None:
            if mode in ("file", "playing"):
                self.open_files([path])  # whole-file mode, analysed in a job
                if mode == "playing":  # follow the transport once the file is decoded
                    self.settings_panel.set_mode("playing", signal=False)
                    self._update_mode_widgets()
                    self._restore_playing = True
                return
            self.session.open(path)  # a live mode: analysed only when a file view is chosen
            self.file_label.setText(f"<b>{path.name}</b><br>(from the last session)")
        elif path is not None and self.session.path is None:
            self.source_msg.setText(f"'{path.name}' of the last session is gone.")
        if mode != "file":  # a whole-file view needs a file
            self.settings_panel.set_mode(mode)

    def first_render_done(self) -> bool:
        return self._rendered or self.mode() == "device"

    def shutdown(self) -> None:
        self._reanalyse.stop()
        self.stop_source()
