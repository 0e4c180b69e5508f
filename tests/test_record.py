"""Record from the microphone (issue 18, item 1) and bad input for transcription ("Bad input").

The take core with an injected source (no sound card): the length limit, the level, silence,
a vanished device, the WAV kept and exported. In the Composer: Record… records from an
injected source, shows the level, keeps the take and transcribes it like a dropped file (Play
then plays the take before the continuation); no input device, a silent take and Stop early.
And what transcription says for generated speech-like sound, a synthetic drum loop, a
microphone's noise floor and a 1-second clip."""

import numpy as np
import pytest

from musiclab.audio.sources import FakeSource
from musiclab.errors import NoAudioDeviceError

from test_composer_gui import tab  # noqa: F401 - the Composer tab fixture
from test_transcribe import TUNE, midi_bytes

SLOW = 240000
SR = 44100


def tune(sr=SR):
    from musiclab.audio.synth import render_midi

    return render_midi(midi_bytes(TUNE), sr=sr)


def test_take_drains_the_source_up_to_its_length():
    from musiclab.audio.record import Take

    y = (0.5 * np.sin(2 * np.pi * 440 * np.arange(SR * 3) / SR)).astype(np.float32)
    src = FakeSource(y, SR, block=512)
    take = Take(src, seconds=2.0)  # not started: the test pumps the blocks itself, as a sound card would
    assert take.poll() == -np.inf and take.recorded == 0  # nothing delivered yet
    src.pump(50)
    lvl = take.poll()
    assert take.frames == 50 * 512 and lvl == pytest.approx(20 * np.log10(0.5), abs=0.1)
    src.pump(400)  # more than the ring holds between polls would be lost; 2 s of 3 is kept
    take.poll()
    assert take.full and take.frames == 2 * SR
    assert np.array_equal(take.samples(), y[: 2 * SR]) and take.problem() == ""
    silent = Take(FakeSource(np.full(SR, 1e-4, np.float32), SR), 1.0)
    silent.source.pump(100)
    silent.poll()
    assert "silent" in silent.problem() and "-80 dBFS" in silent.problem()
    assert "Nothing was recorded" in Take(FakeSource(y, SR), 1.0).problem()
    gone = Take(FakeSource(y, SR, fail_after=3), 2.0)
    gone.source.pump(10)
    with pytest.raises(NoAudioDeviceError, match="disappeared"):
        gone.poll()


def test_record_blocking_save_and_export(tmp_path):
    import soundfile as sf

    from musiclab.audio.record import export_take, record, save_take, takes_dir

    y = tune()[: SR * 2]
    src = FakeSource(y, SR, block=1024)
    levels = []
    rec, sr = record(src, seconds=1.0, poll_s=0.02, on_level=levels.append)  # the source's thread, real time
    assert sr == SR and len(rec) == SR and np.array_equal(rec, y[:SR]) and levels
    path = save_take(rec, sr)
    assert path.parent == takes_dir() and path.name.startswith("take ") and path.suffix == ".wav"
    back, sr2 = sf.read(str(path), dtype="float32")
    assert sr2 == SR and np.allclose(back, rec, atol=1e-4)
    assert save_take(rec, sr) != path  # a second take in the same second gets its own name
    flac = export_take(path, tmp_path / "my take.flac")
    assert sf.info(str(flac)).format == "FLAC" and sf.info(str(flac)).frames == SR
    wav = export_take(path, tmp_path / "copy.wav")
    assert wav.read_bytes() == path.read_bytes()
    with pytest.raises(Exception, match="gone"):
        export_take(tmp_path / "missing.wav", tmp_path / "x.wav")


def test_record_a_take_and_continue_it(tab, qtbot, tmp_path):  # noqa: F811
    box = tab.transcribe_box
    y = tune()
    box.source_factory = lambda: FakeSource(y, SR, block=1024, name="Test microphone")
    box.seconds_spin.setValue(7)
    box.record_btn.click()
    assert box.recording and box.record_btn.text() == "Stop" and not box.open_btn.isEnabled()
    qtbot.waitUntil(lambda: box.take is not None and box.take.recorded > 1.0, timeout=10000)
    assert box.level.value() > -30  # the meter moves while recording
    assert "Recording from 'Test microphone'" in box.info.text()
    qtbot.waitUntil(lambda: not box.recording, timeout=20000)  # stops by itself at 7 s
    assert box.record_btn.text() == "Record…" and box.save_job is not None
    qtbot.waitUntil(lambda: box.take_path is not None and box.job is not None and box.job.done, timeout=SLOW)
    assert box.job.state == "done", box.job.message
    tr = tab.transcription
    assert tr is not None and tr.name.startswith("take ") and tr.seconds == pytest.approx(7.0, abs=0.01)
    heard = [e[0][0] for e in tr.events if e[0]]
    assert heard == [p for q, _d, p in TUNE if 0.5 + q * 0.5 < 6.8][: len(heard)] and len(heard) >= 12
    assert tab.gen_box.primer_mode() == "dropped" and box.export_take_btn.isEnabled()
    assert np.allclose(tr.audio[:SR], y[:SR], atol=1e-3)  # the take itself, for "recording, then continuation"
    out = box.export_take(tmp_path / "exported.wav")
    qtbot.waitUntil(lambda: out.done, timeout=30000)
    assert out.state == "done" and (tmp_path / "exported.wav").stat().st_size > SR


def test_no_device_silence_and_stop_early(tab, qtbot):  # noqa: F811
    box = tab.transcribe_box

    def no_device():
        raise NoAudioDeviceError("Audio input is unavailable: the PortAudio library was not found.")

    box.source_factory = no_device
    assert box.start_recording() is False
    assert not box.recording and "PortAudio" in box.info.text()
    assert any("PortAudio" in t and err for t, err in tab.ctx.log)
    box.source_factory = lambda: FakeSource(np.zeros(SR * 3, np.float32), SR, block=1024)
    box.start_recording(2)
    qtbot.waitUntil(lambda: not box.recording, timeout=20000)
    assert "silent" in box.info.text() and box.save_job is None and tab.transcription is None
    box.source_factory = lambda: FakeSource(tune(), SR, block=1024)
    box.start_recording(8)
    qtbot.waitUntil(lambda: box.take is not None and box.take.recorded > 1.5, timeout=20000)
    box.record_btn.click()  # Stop
    assert not box.recording
    job = box.save_job
    qtbot.waitUntil(lambda: job.done and box.job is not None and box.job.done, timeout=SLOW)
    assert 1.5 < tab.transcription.seconds < 5.0
    vanishing = FakeSource(tune(), SR, block=1024, fail_after=40)
    box.source_factory = lambda: vanishing
    box.start_recording(5)
    qtbot.waitUntil(lambda: not box.recording, timeout=20000)
    assert "disappeared" in box.info.text()


# -- bad input for transcription (generated here, as a microphone would deliver it) -------------
TSR = 22050


def speechlike(seconds=4.0, sr=TSR, seed=0):
    """A voice-like buzz: a glottal pulse train with a gliding pitch (100-180 Hz) through three
    formant resonators, in syllables of ~0.15 s, with breath noise."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f0 = 130 + 40 * np.sin(2 * np.pi * 0.7 * t) + 15 * np.sin(2 * np.pi * 3.1 * t)
    pulses = (np.diff(np.floor(np.cumsum(f0 / sr)), prepend=0) > 0).astype(float)
    y = np.zeros(n)
    for fc, bw in ((500, 80), (1500, 120), (2500, 150)):
        r, th = np.exp(-np.pi * bw / sr), 2 * np.pi * fc / sr
        y += lfilter([1 - r], [1, -2 * r * np.cos(th), r * r], pulses)
    syl = (np.sin(2 * np.pi * 4.0 * t) > -0.2) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
    y = y * syl + 0.02 * rng.standard_normal(n) * syl
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


def drum_loop(seconds=4.0, sr=TSR, bpm=120, seed=1):
    """Hi-hats on the eighths, a kick (a falling sine) on 1 and 3, a snare (noise + 190 Hz) on 2 and 4."""
    rng = np.random.default_rng(seed)
    n, y, half = int(seconds * sr), np.zeros(int(seconds * sr)), 30.0 / bpm
    for k in range(int(seconds / half)):
        s = int(k * half * sr)
        tt = np.arange(min(int(0.3 * sr), n - s)) / sr
        y[s:s + len(tt)] += 0.3 * rng.standard_normal(len(tt)) * np.exp(-tt * 60)
        if k % 4 == 0:
            y[s:s + len(tt)] += 0.9 * np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-tt * 30)) / sr) * np.exp(-tt * 12)
        elif k % 4 == 2:
            y[s:s + len(tt)] += 0.6 * rng.standard_normal(len(tt)) * np.exp(-tt * 25) \
                + 0.3 * np.sin(2 * np.pi * 190 * tt) * np.exp(-tt * 30)
    return (0.8 * y / np.max(np.abs(y))).astype(np.float32)


def test_bad_input_gives_a_clear_message():
    from musiclab.transcribe import transcribe

    speech = transcribe(speechlike(), sr=TSR)
    assert speech.empty and "No notes found" in speech.message and "speech" in speech.message
    drums = transcribe(drum_loop(), sr=TSR)  # the network hears a stray note or two in the kick
    assert drums.empty and "No clear notes" in drums.message and "drum loop" in drums.message
    rng = np.random.default_rng(2)
    floor = (10 ** (-60 / 20) * rng.standard_normal(TSR * 4)).astype(np.float32)  # a quiet room, -60 dBFS rms
    quiet = transcribe(floor, sr=TSR)
    assert quiet.empty and "very quiet" in quiet.message and "dBFS" in quiet.message
    silent = transcribe(np.zeros(TSR * 2, np.float32), sr=TSR)
    assert silent.empty and "silent" in silent.message
    # a 1-second clip: the nearest sensible result (its two notes), no crash
    y = tune(TSR)[int(0.45 * TSR): int(1.45 * TSR)]
    one = transcribe(y, sr=TSR)
    assert not one.empty and [n.pitch for n in one.notes][:2] == [67, 69]
    # a quiet but real melody is still transcribed, with the note about the level
    soft = transcribe(tune(TSR)[: TSR * 4] * 0.01, sr=TSR)
    assert not soft.empty and "very quiet" in soft.message
    assert [e[0][0] for e in soft.events if e[0]][:4] == [p for *_, p in TUNE][:4]
