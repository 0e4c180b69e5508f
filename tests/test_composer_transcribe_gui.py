"""Composer: a recording dropped on the tab is transcribed in a job, its notes appear in the
piano roll as the primer, Generate continues them and Play plays the recording, then the
continuation; bad recordings give the tab's own message and leave the primer alone."""

import numpy as np

from tests.test_composer_gui import tab  # noqa: F401 - the Composer tab fixture
from tests.test_transcribe import midi_bytes

SLOW = 240000  # ms: transcription, model load, generation and rendering on a busy 2-core machine
TUNE = [(0, 1, 67), (1, 0.5, 69), (1.5, 0.5, 71), (2, 1, 72), (3, 1, 76), (4, 0.5, 74), (4.5, 0.5, 72),
        (5, 1, 71), (6, 1, 69), (7, 1, 67), (8, 2, 72)]


def rendered_tune(path, bpm=120.0):
    """The tune through the SoundFont, written as WAV (on the test's thread, not by GUI code)."""
    import soundfile as sf

    from musiclab.audio.synth import render_midi

    sf.write(str(path), render_midi(midi_bytes(TUNE, bpm=bpm), sr=44100), 44100)
    return path


def finished(qtbot, job, timeout=SLOW):
    qtbot.waitUntil(lambda: job.done, timeout=timeout)
    return job


def legend(roll) -> list:
    return [lab.text for _, lab in roll.legend.items]


def test_dropped_recording_primes_and_is_continued(tab, qtbot, tmp_path):
    wav = rendered_tune(tmp_path / "my tune's take.wav")
    assert tab.accepts(wav) and tab.accepts(tmp_path / "x.mid") and not tab.accepts(tmp_path / "x.txt")
    tab.open_files([wav])  # what the window does with audio dropped on the Composer
    job = tab.transcribe_box.job
    assert job is not None and job.label.startswith("Transcribing")
    assert finished(qtbot, job).state == "done", job.message
    tr = tab.transcription
    assert tr is not None and not tr.empty
    assert [e[0][0] for e in tr.events if e[0]] == [p for *_, p in TUNE]
    g, view = tab.gen_box, tab.view
    # the transcription is the primer: the whole of it, at its tempo, shown in the roll as the primer
    assert g.primer_mode() == "dropped" and g.primer_len.value() == len(tr.events)
    assert abs(g.tempo_spin.value() - tr.tempo) < 0.5
    assert tab.session.primer_events("dropped", 0, g.primer_len.value()) == tr.events
    assert view.showing == "preview" and view.roll.n_notes == len(TUNE)
    assert any("transcribed" in t and "primer" in t for t in legend(view.roll))
    assert "Primer: my tune's take.wav (transcribed)" in view.result_label.text()
    assert "my tune's take.wav" in tab.transcribe_box.info.text()
    # Generate continues it
    g.length_spin.setValue(24)
    g.seed_spin.setValue(7)
    tab.generate()
    qtbot.waitUntil(lambda: tab.result is not None and tab.audio is not None, timeout=SLOW)
    res = tab.result
    assert res.primer == tr.events and 12 <= len(res.events) <= 150  # AABB: the strain end nearest 24
    assert view.showing == "result" and view.roll.n_notes > len(TUNE)
    assert any("transcribed" in t and "primer" in t for t in legend(view.roll))
    # Play: the recording up to where the continuation starts, then the continuation
    samples, sr, label = tab.playable_audio()
    assert sr == 44100 and "then" in label
    assert len(samples) > len(tr.audio) * 0.5 and not np.array_equal(samples[: len(res.audio)], res.audio)
    assert np.allclose(samples[: sr], tr.audio[: sr])
    tab.transcribe_box.original_first.setChecked(False)
    samples2, _, label2 = tab.playable_audio()
    assert samples2 is res.audio and "then" not in label2


def test_bad_recordings_keep_the_primer(tab, qtbot, tmp_path):
    import soundfile as sf

    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    job = finished(qtbot, tab.transcribe_file(empty))
    assert job.state == "error"
    assert "Could not transcribe 'empty.wav'" in tab.transcribe_box.info.text()
    silent = tmp_path / "silence.wav"
    sf.write(str(silent), np.zeros(44100 * 2, np.float32), 44100)
    job = finished(qtbot, tab.transcribe_file(silent))
    assert job.state == "done" and job.value.empty
    assert "silent" in tab.transcribe_box.info.text()
    assert tab.transcription is None and tab.session.dropped_corpus is None
    assert any("silent" in text and err for text, err in tab.ctx.log)
    # a newer transcription replaces a running one
    wav = rendered_tune(tmp_path / "tune.wav")
    first = tab.transcribe_file(wav)
    second = tab.transcribe_file(wav)
    finished(qtbot, second)
    assert first.state == "cancelled" and second.state == "done"
    assert tab.transcription is second.value


def test_window_routes_audio_to_the_composer(main_window, qtbot, tmp_path):
    wav = rendered_tune(tmp_path / "routed.wav")
    comp = main_window.tab_by_key["composer"]
    main_window.tabs.setCurrentWidget(comp)
    job = main_window.open_paths([wav])
    qtbot.waitUntil(lambda: job.done, timeout=60000)
    assert main_window.last_routed.get("composer") == [wav]
    t = comp.transcribe_box.job
    assert t is not None
    finished(qtbot, t)
    assert comp.transcription is not None and comp.gen_box.primer_mode() == "dropped"
