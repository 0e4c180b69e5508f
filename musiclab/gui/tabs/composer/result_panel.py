"""The Composer's right side: what was made (or opened), its piano roll and the loss plot."""

from __future__ import annotations

import math
from typing import Optional

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSplitter, QVBoxLayout, QWidget

from ....composer.events import Piece
from ....composer.session import Result, piece_preview, roll_notes
from ...widgets.composer_loss import LossPlotWidget
from ...widgets.composer_pianoroll import PianoRollWidget
from ...widgets.emotion_timeline import EmotionTimeline

RATING_TIP = ("The Emotion model's prediction of the rendered tune (SoundFont audio, 10 s windows, hop 5 s): the "
              "quadrant with the highest mean probability and the plane position the Emotion tab draws "
              "(v = valence, a = arousal, each log10 of its odds / 4, \u22121 \u2026 +1). With a primer, "
              "the headline is the generated part only (the windows that lie mostly after the primer); the "
              "timeline below covers the whole tune, the dashed line marks where the continuation starts. "
              "'asked' is the mood set for the generation, \u2713 when the predicted quadrant is the one asked.")

INTRO = "Press Generate to hear the shipped 'folk' model."


def result_text(result: Result, status: str = "") -> str:
    """The line under a result: what it is, how long, how much of it is copied."""
    cop = result.copied
    cop_s = "n/a (fewer than 8 events)" if cop is None else f"{cop:.0%}"
    if result.audio is not None:
        length = f"{result.seconds:.1f} s"
        lufs = result.loudness.get("lufs") if result.loudness else None
        if lufs is not None and math.isfinite(lufs):
            length += f" at {lufs:.1f} LUFS (true peak {result.loudness['true_peak_dbfs']:.1f} dBFS)"
    else:
        length = status or "audio not rendered yet"
    asked = _asked_text(getattr(getattr(result, "settings", None), "score", None))
    text = (f"<b>{result.model_name}</b>: {len(result.events)} events generated after a {len(result.primer)}-event "
            f"primer{asked}, seed {result.seed}, {length}. "
            f"<b>Copied</b>: {cop_s} of its 8-event n-grams occur verbatim in the training data")
    if result.self_repeated is not None:
        text += f"; <b>repeats itself</b>: {result.self_repeated:.0%} of them occurred earlier in this result."
    else:
        text += "."
    return text


def _asked_text(score) -> str:
    """", asked for O'Neill's (Irish), E minor, 6/8" (style, key and metre of a score model's request)."""
    if not score:
        return ""
    from ....composer.labels import STYLE_TITLES, key_title

    parts = []
    if score.get("style"):
        parts.append(STYLE_TITLES.get(score["style"], score["style"]))
    if score.get("key"):
        parts.append(key_title(score["key"], score.get("mode") or "major"))
    elif score.get("mode"):
        parts.append(f"a {score['mode']} key")
    if score.get("metre"):
        parts.append(score["metre"])
    return ", asked for " + ", ".join(parts) if parts else ""


FEATURE_WORDS = {
    "pitch_class_hist": "pitch classes", "interval_hist": "melodic intervals", "note_length_hist": "note lengths",
    "ioi_hist": "rhythm (onset gaps)", "pitch_range": "pitch range", "pitch_count": "pitches used",
    "in_key": "staying in key", "metric_regularity": "on-beat onsets", "bar_rhythm_repetition": "repeated bar rhythms",
    "phrase_repetition": "repeated phrases", "longest_repeated_note": "repeated notes", "silence_share": "silence",
}


def musicality_text(rep: dict) -> str:
    """One line: the tune's mean OA against its corpus, the real tunes' figure, the weakest features."""
    if rep.get("reason"):
        return f"<b>Musicality</b>: not judged ({rep['reason']})."
    ceiling = rep.get("ceiling")
    real = f"; real tunes of the corpus score {ceiling:.2f}" if ceiling is not None else ""
    weak = ", ".join(f"{FEATURE_WORDS.get(k, k)} {v:.2f}" for k, v in rep.get("weakest", []))
    return (f"<b>Musicality</b> against {rep.get('reference_name', 'its corpus')}: <b>{rep['mean_oa']:.2f}</b>{real} "
            f"(1 = as close as the corpus's own tunes). Furthest from the corpus: {weak}.")


class ResultPanel(QWidget):
    """``result_label`` over the piano roll (``roll``) and the loss plot (``loss_plot``)."""

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.result_label = QLabel(INTRO)
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lay.addWidget(self.result_label)
        #: "how this tune compares with its corpus" (the musicality judge), filled by a job
        self.musicality_label = QLabel("")
        self.musicality_label.setWordWrap(True)
        self.musicality_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.musicality_label.setToolTip(
            "Overlapped area (OA) of this tune's feature distances to its model's corpus against the corpus's own "
            "distances (Yang & Lerch 2018, MGEval): 1 = as close to the corpus as its own tunes are. "
            "Real tunes of the corpus, judged the same way, give the 'real tunes' figure. "
            "The whole comparison: musiclab-cli composer judge DIR --reference CORPUS")
        self.musicality_label.hide()
        lay.addWidget(self.musicality_label)
        #: the Emotion model's rating of the rendered tune, filled by a job; "A/B…" compares primer and continuation
        row = QHBoxLayout()
        self.rating_label = QLabel("")
        self.rating_label.setWordWrap(True)
        self.rating_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.rating_label.setToolTip(RATING_TIP)
        row.addWidget(self.rating_label, 1)
        self.ab_btn = QPushButton("A/B…")
        self.ab_btn.setToolTip("Compare the primer (the original recording when it came from one) with the "
                               "continuation: spectrogram, emotion over time, and one transport that switches "
                               "between them at the same position")
        self.ab_btn.setEnabled(False)
        row.addWidget(self.ab_btn)
        lay.addLayout(row)
        self.rating_timeline = EmotionTimeline()
        self.rating_timeline.setFixedHeight(130)
        self.rating_timeline.hide()
        self._cont_line = pg.InfiniteLine(0, angle=90, pen=pg.mkPen("#bbbbbb", width=1, style=Qt.DashLine))
        self._cont_line.setVisible(False)
        self.rating_timeline.addItem(self._cont_line)
        lay.addWidget(self.rating_timeline)
        split = QSplitter(Qt.Vertical)
        self.roll = PianoRollWidget()
        split.addWidget(self.roll)
        self.loss_plot = LossPlotWidget()
        split.addWidget(self.loss_plot)
        split.setSizes([520, 220])
        lay.addWidget(split, 1)
        #: what the roll shows: "result", "preview" or "" (nothing yet)
        self.showing = ""

    def set_status(self, text: str) -> None:
        self.result_label.setText(text)

    #: (events, name) of a transcribed recording: a result primed with it says so in the roll's legend
    transcribed_primer = None

    def show_result(self, result: Result, status: str = "") -> None:
        n = roll_notes(result.primer, result.events, result.tempo)
        label = "primer"
        tp = self.transcribed_primer
        if tp is not None and result.primer and list(result.primer) == list(tp[0][: len(result.primer)]):
            label = f"{tp[1]}: primer"
        self.roll.set_notes(n.primer, n.continuation, n.seconds_per_quarter, n.boundary_quarters, primer_label=label)
        self.result_label.setText(result_text(result, status))
        self.showing = "result"

    def update_text(self, result: Result, status: str = "") -> None:
        self.result_label.setText(result_text(result, status))

    def show_piece(self, piece: Piece, primer_len: Optional[int], tempo: float) -> None:
        """An opened piece before any Generate: its primer part and the rest in grey."""
        n = piece_preview(piece, primer_len, tempo)
        self.roll.set_notes(n.primer, n.continuation, n.seconds_per_quarter, n.boundary_quarters,
                            primer_label=n.primer_label, cont_label=n.continuation_label, preview=True)
        used = "" if primer_len is None else f"; its first {min(primer_len, len(piece.events))} events prime the model"
        self.result_label.setText(
            f"<b>{piece.name}</b>: {len(piece.events)} events{used}. Press Generate to continue it.")
        self.showing = "preview"

    def note_transcription(self, tr) -> None:
        """Say under the roll that the primer shown is a transcribed recording (after :meth:`show_piece`)."""
        grid = "1/16" if tr.subdivision >= 4 else "1/8"
        text = (f"<b>Primer: {tr.name}</b> — {len(tr.notes)} notes heard in {tr.seconds:.1f} s "
                f"({'the top voice' if tr.melody else 'all voices'}), placed on a {grid}-note grid of the tracked "
                f"beat ({tr.tempo:.0f} BPM): {len(tr.events)} events. Press Generate to continue it.")
        if tr.message:
            text += f"<br><i>{tr.message}</i>"
        self.result_label.setText(text)

    def show_musicality(self, rep: Optional[dict], text: str = "") -> None:
        """The judge's report on the shown result (None with ``text``: a note, e.g. "judging…")."""
        if rep is None:
            self.musicality_label.setText(text)
            self.musicality_label.setVisible(bool(text))
            return
        self.musicality_label.setText(musicality_text(rep))
        self.musicality_label.show()

    #: the rating shown (the whole tune's prediction dict) and the asked mood, for tests and the A/B view
    rating = None

    def show_rating(self, rating: Optional[dict], text: str = "", asked=None, part_from: float = 0.0) -> None:
        """The Emotion model's rating of the shown tune; None with ``text``: a note ("rating…",
        "not rated: …"), the timeline hidden. ``part_from``: where the continuation starts (s)."""
        from ....emotion.rate import part_rating, rating_text

        self.rating = rating
        if rating is None:
            self.rating_label.setText(text)
            self.rating_timeline.hide()
            return
        part = part_rating(rating, part_from) if part_from > 0 else rating
        lo, _hi = part.get("part", (0.0, 0.0))
        what = f"the generated part (from {lo:.0f} s)" if lo > 0 else "the tune"
        self.rating_label.setText(rating_text(part, asked, what))
        self.rating_timeline.set_result(rating)
        self._cont_line.setValue(part_from)
        self._cont_line.setVisible(part_from > 0)
        self.rating_timeline.show()

    def set_cursor(self, seconds: float) -> None:
        """The playback position in the roll and in the emotion timeline."""
        self.roll.set_cursor(seconds)
        if self.rating_timeline.isVisible():
            self.rating_timeline.set_position(seconds)

    def set_loss(self, steps: list, epochs: list) -> None:
        self.loss_plot.set_history(steps, epochs)
