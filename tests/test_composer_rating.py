"""Every Composer result rated (issue 18, item 3): the Emotion model's prediction of audio in
memory equals its prediction of the same audio as a file; the part after the primer, the
comparison with the mood asked for and its words; in the tab, a rendered tune is rated in a
job next to what was asked, a newer tune supersedes an older rating, and a missing Emotion
model is a note, not an error."""

from types import SimpleNamespace

import numpy as np
import pytest

from test_composer_gui import fake_result, tab  # noqa: F401 - the Composer tab fixture

SLOW = 180000


def tones(seconds: float, sr: int = 22050, seed: int = 0) -> np.ndarray:
    """A few seconds of a changing chord of sines (some music-like material for the model)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = np.zeros_like(t)
    for k in range(int(seconds * 2)):
        f = 220 * 2 ** (rng.integers(0, 12) / 12)
        m = (t >= k * 0.5) & (t < k * 0.5 + 0.45)
        y[m] += 0.3 * np.sin(2 * np.pi * f * t[m]) * np.exp(-4 * (t[m] - k * 0.5))
    return y.astype(np.float32)


def test_in_memory_rating_matches_the_file_prediction(tmp_path):
    import soundfile as sf

    from musiclab.emotion.predict import predict_file
    from musiclab.emotion.rate import rate_audio

    y = tones(22.0)
    wav = tmp_path / "tones.wav"
    sf.write(str(wav), y, 22050, subtype="FLOAT")
    f = predict_file(wav, "default")
    r = rate_audio(y, 22050, "tones", "default")
    assert r["quadrant"] == f["quadrant"] and r["duration"] == pytest.approx(f["duration"], abs=1e-3)
    assert len(r["segments"]) == len(f["segments"]) == 3  # 10 s windows, hop 5 s: 0, 5, 10 (and 12 to the end)
    assert [s["start"] for s in r["segments"]] == [s["start"] for s in f["segments"]]
    assert np.allclose([r["probs"][q] for q in "Q1 Q2 Q3 Q4".split()],
                       [f["probs"][q] for q in "Q1 Q2 Q3 Q4".split()], atol=2e-3)
    # another rate: resampled from 44.1 kHz, the same within resampling noise
    from musiclab.audio.io import resample

    r44 = rate_audio(resample(y, 22050, 44100), 44100, "tones", "default")
    assert np.allclose([r44["probs"][q] for q in r44["probs"]], [r["probs"][q] for q in r["probs"]], atol=0.03)


def fake_rating(seg_probs, seconds_each=5.0):
    from musiclab.emotion.model import va_from_probs

    segs = []
    for k, p in enumerate(seg_probs):
        v, a = va_from_probs(np.array(p))
        segs.append({"start": k * seconds_each, "end": k * seconds_each + 10.0, "probs": list(p),
                     "valence": float(v), "arousal": float(a)})
    mean = np.mean(seg_probs, axis=0)
    q = "Q" + str(int(np.argmax(mean)) + 1)
    return {"name": "x", "duration": segs[-1]["end"], "probs": dict(zip(("Q1", "Q2", "Q3", "Q4"), mean)),
            "quadrant": q, "valence": 0.0, "arousal": 0.0, "warnings": [], "segments": segs}


def test_the_part_after_the_primer_and_the_request():
    from musiclab.emotion.rate import compare_with_request, normal_quadrant, part_rating, rating_text

    happy, sad = [0.7, 0.1, 0.1, 0.1], [0.05, 0.1, 0.8, 0.05]
    r = fake_rating([happy, happy, sad, sad, sad])  # windows at 0, 5, 10, 15, 20 s; the tune ends at 30 s
    assert r["quadrant"] == "Q3"
    part = part_rating(r, 12.0)  # windows mostly after 12 s: those at 10, 15 and 20 s
    assert [s["start"] for s in part["segments"]] == [10.0, 15.0, 20.0]
    assert part["quadrant"] == "Q3" and part["probs"]["Q3"] == pytest.approx(0.8)
    opening = part_rating(r, 0.0, 4.0)  # no window lies mostly inside the first 4 s: the whole rating
    assert opening["segments"] == r["segments"]
    c = compare_with_request(part, "Q3")
    assert c["hit"] and c["valence_hit"] and c["arousal_hit"] and c["x"] < 0 and c["y"] < 0
    miss = compare_with_request(part, "Q4")  # calm: the arousal half is right, the valence half is not
    assert not miss["hit"] and miss["arousal_hit"] and not miss["valence_hit"]
    text = rating_text(part, "Q3", "the generated part")
    assert "predicted <b>Q3 sad</b>" in text and "asked: <b>Q3 sad</b>" in text and "\u2713" in text
    assert "right arousal half" in rating_text(part, "Q4")
    assert "asked" not in rating_text(part, None)
    assert [normal_quadrant(x) for x in ("Q2", "q4 calm", 3, None, "sad", 7)] == ["Q2", "Q4", "Q3", None, None, None]


def test_a_missing_model_is_a_reason_not_a_crash():
    from musiclab.emotion.rate import rate_or_reason

    r = rate_or_reason(tones(3.0), 22050, "tones", "no-such-emotion-model")
    assert "unrated" in r and "No Emotion model" in r["unrated"] and "no-such-emotion-model" in r["unrated"]
    empty = rate_or_reason(np.zeros(0, np.float32), 22050, "nothing", "default")
    assert "no audio" in empty["unrated"]


def primed_result(seconds=14.0, held=2):
    """A result with a primer of ``2 + held`` quarters (at 120 BPM) and audio, asked to be sad."""
    res = fake_result(seconds=seconds)
    res.primer = [((60,), "C4", "1.0", "0.0"), ((62,), "D4", "1.0", "1.0"), ((64,), "E4", f"{held}.0", "1.0")]
    res.events = [((67,), "G4", "1.0", f"{held}.0")] + [((67,), "G4", "1.0", "1.0")] * 3
    res.audio = tones(seconds, sr=44100, seed=3)
    res.settings = SimpleNamespace(mood="Q3")  # what helper A's GenerateSettings.mood carries
    return res


def test_the_tab_rates_every_rendered_tune(tab, qtbot):
    view = tab.view
    res = primed_result(seconds=30.0, held=20)  # the continuation starts at quarter 22: 11 s
    tab.result = res
    tab.playable_changed.emit()  # what the generate chain does once the audio is rendered
    job = tab.rate_job
    assert job is not None and job.label == "Rating the tune's mood" and "rating" in view.rating_label.text()
    assert view.ab_btn.isEnabled()
    qtbot.waitUntil(lambda: job.done, timeout=SLOW)
    assert job.state == "done", job.message
    assert view.rating is job.value and view.rating_timeline.isVisible()
    text = view.rating_label.text()
    assert "predicted" in text and "asked: <b>Q3 sad</b>" in text
    assert "generated part (from 11 s)" in text  # the windows at 10, 15 and 20 s
    assert abs(view._cont_line.value() - 11.0) < 1e-6 and view._cont_line.isVisible()
    assert len(view.rating["segments"]) == 5  # the timeline: the whole tune
    # the same audio again: no second rating; a newer render supersedes a running one
    tab.playable_changed.emit()
    assert tab.rate_job is job
    other = primed_result(seconds=12.0)
    tab.result = other
    tab.playable_changed.emit()
    first = tab.rate_job
    newer = primed_result(seconds=11.0)
    tab.result = newer
    tab.playable_changed.emit()
    second = tab.rate_job
    qtbot.waitUntil(lambda: first.done and second.done, timeout=SLOW)
    assert first.state == "cancelled" and second.state == "done"
    assert view.rating is second.value and abs(view.rating["duration"] - 11.0) < 0.05
    # playback moves the timeline's cursor with the roll's
    tab.on_playback_position(3.0)
    assert view.rating_timeline._cursor.isVisible() and abs(view.rating_timeline._cursor.value() - 3.0) < 1e-9


def test_no_emotion_model_is_a_note_in_the_panel(tab, qtbot):
    tab.emotion_model = "no-such-emotion-model"
    res = primed_result(seconds=6.0)
    res.settings = None  # nothing asked
    tab.result = res
    tab.playable_changed.emit()
    job = tab.rate_job
    qtbot.waitUntil(lambda: job.done, timeout=SLOW)
    assert job.state == "done"  # not an error for the window to report
    assert "not rated" in tab.view.rating_label.text() and "No Emotion model" in tab.view.rating_label.text()
    assert not tab.view.rating_timeline.isVisible() and tab.view.rating is None
    assert not any(err for _t, err in tab.ctx.log)
