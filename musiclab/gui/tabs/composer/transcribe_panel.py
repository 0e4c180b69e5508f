"""The Composer's "Audio → primer" box: transcribe a recording (a job) and prime the model with it."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton

from ....transcribe import Transcription, transcribe

#: the opening of a longer recording that is transcribed (the primer of a continuation)
MAX_SECONDS = 60.0
GRIDS = (("1/16 notes", 4), ("1/8 notes", 2))


class TranscribePanel(QGroupBox):
    """"Open audio…" + options; ``transcribed(tr)`` is called on the GUI thread with a
    :class:`~musiclab.transcribe.Transcription` that has notes (an empty one only sets the text)."""

    def __init__(self, ctx, service, ask_paths: Callable[[], list], transcribed: Callable[[Transcription], None]):
        super().__init__("Audio → primer")
        self.ctx, self.svc = ctx, service
        self._ask_paths, self._transcribed = ask_paths, transcribed
        self.job = None  # the running (or last) transcription
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
