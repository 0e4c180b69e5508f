"""The Composer's "Audio → primer" box: transcribe a recording (a job) and prime the model with it.

"Record…" records a take from the microphone first (:mod:`musiclab.audio.record`): a GUI
timer drains the input's ring buffer into the take and drives the level meter; at the set
length (or Stop) the take is written to a WAV in the cache folder (a job) and transcribed like
a dropped file, so Play can play it before the continuation; "Export take…" saves a copy."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton,
)

from ....audio import record as rec
from ....errors import NoAudioDeviceError
from ....transcribe import Transcription, transcribe

#: the opening of a longer recording that is transcribed (the primer of a continuation)
MAX_SECONDS = 60.0
GRIDS = (("1/16 notes", 4), ("1/8 notes", 2))


class TranscribePanel(QGroupBox):
    """"Open audio…" + options; ``transcribed(tr)`` is called on the GUI thread with a
    :class:`~musiclab.transcribe.Transcription` that has notes (an empty one only sets the text)."""

    def __init__(self, ctx, service, ask_paths: Callable[[], list], transcribed: Callable[[Transcription], None],
                 ask_save: Optional[Callable[[str], Optional[Path]]] = None):
        super().__init__("Audio → primer")
        self.ctx, self.svc = ctx, service
        self._ask_paths, self._transcribed, self._ask_save = ask_paths, transcribed, ask_save
        self.job = None  # the running (or last) transcription
        #: makes the input to record from: the microphone; tests put a FakeSource here
        self.source_factory: Callable[[], object] = rec.open_microphone
        self.take: Optional[rec.Take] = None  # the take being recorded
        self.take_path: Optional[Path] = None  # the last take, as a WAV in the cache folder
        self.save_job = None
        self._timer = QTimer(self)
        self._timer.setInterval(50)
        self._timer.timeout.connect(self._tick)
        f = QFormLayout(self)
        row = QHBoxLayout()
        self.open_btn = QPushButton("Transcribe audio…")
        self.open_btn.setToolTip("Turn a recording into notes (Basic Pitch, offline) and continue it with the model. "
                                 "You can also drop an audio file on this tab.")
        self.melody_check = QCheckBox("melody only")
        self.melody_check.setChecked(True)
        self.melody_check.setToolTip("Keep the top voice (one note at a time); off: every note the model hears, "
                                     "chords included")
        row.addWidget(self.open_btn, 1)
        row.addWidget(self.melody_check)
        f.addRow(row)
        row = QHBoxLayout()
        self.record_btn = QPushButton("Record…")
        self.record_btn.setToolTip("Record a few seconds from the microphone (the default input device), then "
                                   "transcribe the take and continue it. Press again to stop early.")
        self.seconds_spin = QDoubleSpinBox()
        self.seconds_spin.setRange(1.0, rec.MAX_SECONDS)
        self.seconds_spin.setValue(rec.DEFAULT_SECONDS)
        self.seconds_spin.setDecimals(0)
        self.seconds_spin.setSuffix(" s")
        self.seconds_spin.setToolTip("How long to record")
        self.level = QProgressBar()
        self.level.setRange(-60, 0)
        self.level.setValue(-60)
        self.level.setTextVisible(False)
        self.level.setMaximumHeight(12)
        self.level.setToolTip("Input level while recording (peak, \u221260 \u2026 0 dBFS)")
        self.export_take_btn = QPushButton("Export take…")
        self.export_take_btn.setToolTip("Save the last recorded take as WAV, FLAC or MP3")
        self.export_take_btn.setEnabled(False)
        row.addWidget(self.record_btn)
        row.addWidget(self.seconds_spin)
        row.addWidget(self.level, 1)
        row.addWidget(self.export_take_btn)
        f.addRow(row)
        self.grid_combo = QComboBox()
        for text, sub in GRIDS:
            self.grid_combo.addItem(text, sub)
        self.grid_combo.setToolTip("Onsets and lengths are rounded to this grid of the tracked beat")
        f.addRow("Grid", self.grid_combo)
        self.original_first = QCheckBox("Play the recording, then the continuation")
        self.original_first.setChecked(True)
        self.original_first.setToolTip("Play plays the original audio up to where the continuation starts, "
                                       "then the generated part")
        f.addRow(self.original_first)
        self.info = QLabel("Drop a recording (WAV, FLAC, OGG, MP3) on this tab to continue it.")
        self.info.setWordWrap(True)
        f.addRow(self.info)
        self.open_btn.clicked.connect(self.ask_and_transcribe)
        self.record_btn.clicked.connect(self.toggle_record)
        self.export_take_btn.clicked.connect(self._export_take_clicked)

    def ask_and_transcribe(self) -> None:
        paths = self._ask_paths()
        if paths:
            self.transcribe_file(paths[0])

    def transcribe_file(self, path) -> object:
        """Transcribe ``path`` in a job (a newer one replaces it); returns the :class:`Job`."""
        p = Path(path)
        self.info.setText(f"Transcribing '{p.name}'…")
        self.job = self.svc.submit(transcribe, p, melody=self.melody_check.isChecked(),
                                   subdivision=int(self.grid_combo.currentData() or 4), max_seconds=MAX_SECONDS,
                                   keep_audio=True, label=f"Transcribing {p.name}", latest="transcribe")
        self.job.on_result(self._done)
        self.job.on_error(lambda msg: self.info.setText(f"Could not transcribe '{p.name}': {msg}"))
        self.job.on_cancel(lambda: self.info.setText("Transcription cancelled."))
        return self.job

    def _done(self, tr: Transcription) -> None:
        if tr.empty:
            self.info.setText(tr.message or f"No notes found in '{tr.name}'.")
            self.ctx.notify(tr.message or "No notes found.", error=True)
            return
        text = (f"<b>{tr.name}</b>: {len(tr.notes)} notes → {len(tr.events)} events at {tr.tempo:.0f} BPM "
                f"({'melody' if tr.melody else 'all voices'}, {tr.seconds:.1f} s).")
        if tr.message:
            text += f" <i>{tr.message}</i>"
        self.info.setText(text)
        if tr.message:
            self.ctx.notify(tr.message)
        self._transcribed(tr)

    def original_audio(self) -> Optional[bool]:
        return self.original_first.isChecked()

    # -- recording from the microphone -------------------------------------------------------
    @property
    def recording(self) -> bool:
        return self.take is not None

    def toggle_record(self) -> None:
        if self.recording:
            self.finish_recording()
        else:
            self.start_recording()

    def start_recording(self, seconds: Optional[float] = None) -> bool:
        """Open the input and record ``seconds`` (the box's value); False (and a message) when
        there is no input device."""
        if self.recording:
            return True
        secs = float(seconds if seconds is not None else self.seconds_spin.value())
        try:
            take = rec.Take(self.source_factory(), secs)
            take.start()
        except NoAudioDeviceError as exc:
            self._record_failed(str(exc))
            return False
        self.take = take
        self.record_btn.setText("Stop")
        self.open_btn.setEnabled(False)
        self.info.setText(f"Recording from '{getattr(take.source, 'name', 'input')}'… 0.0 / {secs:.0f} s")
        self._timer.start()
        return True

    def _tick(self) -> None:
        take = self.take
        if take is None:
            self._timer.stop()
            return
        try:
            lvl = take.poll()
        except NoAudioDeviceError as exc:
            self._stop_take()
            self._record_failed(str(exc))
            return
        self.level.setValue(int(max(-60.0, min(0.0, lvl))) if lvl > -60 else -60)
        self.info.setText(f"Recording from '{getattr(take.source, 'name', 'input')}'… "
                          f"{take.recorded:.1f} / {take.seconds:.0f} s (press Stop to end early)")
        src = take.source
        if take.full or (getattr(src, "finished", False) and src.available() == 0):
            self.finish_recording()

    def _stop_take(self) -> Optional[rec.Take]:
        self._timer.stop()
        take, self.take = self.take, None
        if take is not None:
            take.stop()
        self.record_btn.setText("Record…")
        self.open_btn.setEnabled(True)
        self.level.setValue(-60)
        return take

    def finish_recording(self):
        """End the take: write it to a WAV (a job), then transcribe it. Returns the save Job
        (None when there was nothing to keep)."""
        take = self.take
        if take is None:
            return None
        try:
            take.poll()
        except NoAudioDeviceError:
            pass  # keep what arrived before the device went
        self._stop_take()
        why = take.problem()
        if why:
            self._record_failed(why)
            return None
        y, sr = take.samples(), take.sr
        self.info.setText(f"Recorded {len(y) / sr:.1f} s; saving the take…")
        self.save_job = self.svc.submit(rec.save_take, y, sr, label="Saving the take", latest="record-save")
        self.save_job.on_result(self._take_saved)
        self.save_job.on_error(lambda msg: self.info.setText(f"Could not keep the take: {msg}"))
        return self.save_job

    def _take_saved(self, path) -> None:
        self.take_path = Path(path)
        self.export_take_btn.setEnabled(True)
        self.export_take_btn.setToolTip(f"Save a copy of '{self.take_path.name}' (kept in {self.take_path.parent})")
        self.transcribe_file(self.take_path)

    def _record_failed(self, message: str) -> None:
        self.info.setText(message)
        self.ctx.notify(message, error=True)

    def _export_take_clicked(self) -> None:
        if self.take_path is None or self._ask_save is None:
            return
        dst = self._ask_save(self.take_path.name)
        if dst is not None:
            self.export_take(dst)

    def export_take(self, dst):
        """Copy (or convert) the last take to ``dst`` in a job; returns the Job (None: no take)."""
        if self.take_path is None:
            self.ctx.notify("Nothing recorded yet: press Record… first.")
            return None
        d = Path(dst)
        job = self.svc.submit(rec.export_take, self.take_path, d, label=f"Exporting {d.name}")
        job.on_result(lambda out: self.ctx.notify(f"Exported the take to {Path(out).name}."))
        job.on_error(lambda msg: self.info.setText(f"Could not export the take: {msg}"))
        return job

    def shutdown(self) -> None:
        self._stop_take()
