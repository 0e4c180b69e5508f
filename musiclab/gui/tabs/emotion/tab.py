"""The Emotion workbench: where a song sits on the valence/arousal plane, and how sure
the model is. A thin shell around three panels — Analyse (files -> table, plane,
timeline), Evaluate (a labelled folder -> metrics, confusion matrix, ROC) and Train
(fine-tune or train a model in the background) — over one Qt-free
:class:`~musiclab.emotion.session.EmotionSession`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QSettings
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QLabel, QTabWidget, QVBoxLayout, QWidget

from ....emotion.session import EmotionSession
from ..base import WorkbenchTab
from .eval_panel import EvalPanel
from .files_panel import FilesPanel
from .train_panel import TrainPanel


class EmotionTab(WorkbenchTab):
    key = "emotion"
    title = "Emotion"

    def __init__(self, ctx, parent: Optional[QWidget] = None):
        super().__init__(ctx, parent)
        self.session = EmotionSession()
        self.svc = ctx.make_service("emotion")  # analysis, evaluation, training: one after another
        self.audio_svc = ctx.make_service("emotion-audio")  # decoding for playback, never behind a batch
        self.files = FilesPanel(self)
        self.evaluation = EvalPanel(self)
        self.training = TrainPanel(self)
        self.pages = QTabWidget()
        self.pages.setDocumentMode(True)
        self.pages.addTab(self.files, "Analyse")
        self.pages.addTab(self.evaluation, "Evaluate")
        self.pages.addTab(self.training, "Train")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.pages)
        self.refresh_models()
        QShortcut(QKeySequence("Ctrl+Shift+O"), self, activated=self.files.add_folder_dialog)

    # -- what the panels share ------------------------------------------------------------------
    @property
    def results(self) -> list[dict]:
        return self.session.results

    @property
    def last_eval(self) -> Optional[dict]:
        return self.session.last_eval

    @property
    def last_train(self) -> Optional[dict]:
        return self.session.last_train

    def track(self, job, status: QLabel, text: str):
        """Show a job of :attr:`svc` in ``status`` and the Analyse page's Cancel. A failure only
        changes the status text: the window reports it (once)."""
        self.files.btn_cancel.setEnabled(True)
        status.setText(text)
        job.on_progress(lambda done, total, msg: status.setText(
            (f"{100 * done / total:.0f}% " if total else "") + msg))
        job.on_error(lambda msg: status.setText("Failed: " + msg[:120]))
        job.on_cancel(lambda: status.setText("Cancelled"))
        job.on_finished(lambda: self.files.btn_cancel.setEnabled(self.svc.is_busy()))
        return job

    def refresh_models(self) -> None:
        from ....emotion.model import available

        box = self.files.model_box
        current = box.currentText() or "default"
        names = list(available().keys())
        if "default" in names:
            names.remove("default")
            names.insert(0, "default")
        box.blockSignals(True)
        box.clear()
        box.addItems(names or ["default"])
        box.setCurrentIndex(max(0, box.findText(current)))
        box.blockSignals(False)

    def model_name(self) -> str:
        """The model chosen on the Analyse page, as a path when it is a known model."""
        from ....emotion.model import available

        name = self.files.model_box.currentText() or "default"
        return str(available().get(name, name))

    # -- the window's hooks ----------------------------------------------------------------------
    def open_files(self, paths: list[Path]) -> None:
        paths = [Path(p) for p in paths]
        if paths:
            self.pages.setCurrentIndex(0)
            self.files.analyse(paths)

    def start_evaluation(self, source: Optional[str] = None):
        return self.evaluation.start(source)

    def start_training(self, sources: Optional[list] = None, out: Optional[Path] = None):
        return self.training.start(sources, out)

    def export_csv(self, path) -> Path:
        return self.files.export_csv(path)

    def export(self) -> None:
        if not self.results:
            self.ctx.notify("Nothing to export in Emotion yet: analyse some files first.")
            return
        path, _ = self.ask_save_path("Export emotion results", "emotion.csv", "CSV (*.csv)")
        if path:
            try:
                self.export_csv(path)
                self.ctx.notify(f"Exported {len(self.results)} results to '{path.name}'.")
            except OSError as exc:
                self.ctx.notify(f"'{path.name}': could not write ({exc}).", error=True)

    def playable_audio(self):
        return self.files.playable_audio()

    def on_playback_position(self, seconds: float) -> None:
        self.files.on_playback_position(seconds)

    # -- settings --------------------------------------------------------------------------------
    def persist(self) -> dict:
        t = self.training
        return {"model": self.files.model_box, "eval_path": self.evaluation.path, "train_path": t.path,
                "arch": t.arch_box, "epochs": t.epochs, "val_fraction": t.val_frac, "out_name": t.out_name}

    def save_settings(self, settings: QSettings) -> None:
        super().save_settings(settings)
        settings.setValue("page", self.pages.currentIndex())
        settings.setValue("files", json.dumps(self.session.paths()))  # paths, not predictions or audio

    def restore_settings(self, settings: QSettings) -> None:
        super().restore_settings(settings)
        self.pages.setCurrentIndex(settings.value("page", 0, type=int))
        try:
            saved = json.loads(settings.value("files", "[]", type=str) or "[]")
        except ValueError:
            saved = []
        if isinstance(saved, list) and saved and not self.results:
            self.restore_table([str(p) for p in saved])

    def restore_table(self, paths: list[str]):
        """Re-predict the files of the last session (those still there) in a job."""
        keep, left = EmotionSession.restorable(paths)
        if not keep:
            self.files.status.setText(f"The {left} file(s) of the last session are gone.")
            return None
        job = self.files.analyse(keep, what="Restoring")
        if left:
            job.on_finished(lambda: self.files.status.setText(
                self.files.status.text() + f"; {left} file(s) of the last session not restored"))
        return job

    def shutdown(self) -> None:
        self.svc.cancel()
        self.audio_svc.cancel()
