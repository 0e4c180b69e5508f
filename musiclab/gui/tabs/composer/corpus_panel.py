"""The Composer's corpus: built-in corpora or the MIDI files the user opened, read in a job."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Sequence

from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QListWidget, QPushButton

from ....composer.events import Corpus
from ....composer.session import DROPPED, ComposerSession, read_corpus, skipped_message

NO_CORPUS = "No corpus loaded. Drop MIDI files or folders here, or pick one and press Load."


def _n(k: int, word: str) -> str:
    return f"{k:,} {word}" + ("" if k == 1 else "s")


class CorpusPanel(QGroupBox):
    """``corpus_combo`` + Load, a summary line and the list of skipped files.

    ``loaded(name, corpus)`` is called on the GUI thread when a corpus has been read and
    handed to the session."""

    def __init__(self, ctx, session: ComposerSession, service, loaded: Callable[[str, Corpus], None],
                 busy: Callable[[], bool]):
        super().__init__("Corpus")
        self.ctx, self.session, self.svc = ctx, session, service
        self._loaded, self._busy = loaded, busy
        f = QFormLayout(self)
        self.corpus_combo = QComboBox()
        self.corpus_combo.setToolTip("Built-in corpora, or the MIDI files/folders you dropped on this tab")
        self.load_corpus_btn = QPushButton("Load")
        self.load_corpus_btn.setToolTip("Read the corpus (parsed pieces are cached; first time can take minutes)")
        row = QHBoxLayout()
        row.addWidget(self.corpus_combo, 1)
        row.addWidget(self.load_corpus_btn)
        f.addRow("Source", row)
        self.corpus_info = QLabel(NO_CORPUS)
        self.corpus_info.setWordWrap(True)
        f.addRow(self.corpus_info)
        self.skipped_list = QListWidget()
        self.skipped_list.setMaximumHeight(70)
        self.skipped_list.setToolTip("Files that were skipped, and why")
        f.addRow("Skipped", self.skipped_list)
        self.load_corpus_btn.clicked.connect(self.load_selected)
        self._fill()

    def _fill(self) -> None:
        from ....composer.events import builtin_corpus_names

        self.corpus_combo.clear()
        for name in builtin_corpus_names():
            self.corpus_combo.addItem(name, name)
        self.corpus_combo.addItem(DROPPED, DROPPED)

    # -- reading ---------------------------------------------------------------------------
    def load_selected(self) -> None:
        name = self.corpus_combo.currentData()
        if name == DROPPED:
            if not self.session.dropped:
                self.ctx.notify("Drop MIDI files or folders on the Composer tab first.")
                return
            self.load(DROPPED, self.session.dropped)
        else:
            self.load(name, [], builtin=True)

    def load_dropped(self, paths: Sequence[Path]) -> None:
        self.corpus_combo.setCurrentIndex(self.corpus_combo.findData(DROPPED))
        self.load(DROPPED, list(paths))

    def load(self, name: str, paths: Sequence, builtin: bool = False) -> None:
        if self._busy():
            self.ctx.notify("The Composer is training; cancel it before reading another corpus.")
            return
        self.corpus_info.setText(f"Reading {name}… (parsed pieces are cached for next time)")
        sources = [str(p) for p in paths] or [name]
        job = self.svc.submit(read_corpus, list(paths), name if builtin else None, label=f"Reading {name}",
                              latest="composer-corpus")
        job.on_result(lambda corpus: self._show(name, corpus, sources))
        job.on_error(lambda msg: self.corpus_info.setText(f"Could not read the corpus: {msg}"))
        job.on_cancel(lambda: self.corpus_info.setText("Reading cancelled."))

    def _show(self, name: str, corpus: Corpus, sources: list) -> None:
        self.session.set_corpus(name, corpus, sources)
        s = corpus.summary()
        self.corpus_info.setText(
            f"<b>{name}</b>: {_n(s['pieces'], 'piece')}, {s['events']:,} events, {s['distinct_tokens']:,} distinct "
            f"seed tokens; {_n(s['skipped'], 'file')} skipped.")
        self.skipped_list.clear()
        for path, reason in corpus.skipped[:500]:
            self.skipped_list.addItem(f"{Path(path).name}: {reason}")
        if corpus.skipped:  # one message per read, naming the files (an error for files the user chose)
            self.ctx.notify(skipped_message(corpus.skipped), error=name == DROPPED)
        self._loaded(name, corpus)

    def select(self, name: Optional[str]) -> None:
        i = self.corpus_combo.findText(name or "")
        if i >= 0:
            self.corpus_combo.setCurrentIndex(i)
