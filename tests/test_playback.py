"""Playback core with an injected output stream (no sound card)."""

import numpy as np
import pytest

from musiclab.audio.playback import Player
from musiclab.errors import NoAudioDeviceError

from conftest import FakeOutputStream


def test_plays_pauses_seeks_and_finishes(fake_player):
    sr = 1000
    y = np.linspace(-1, 1, 2000, dtype=np.float32)
    fake_player.load(y, sr, "ramp")
    fake_player.play()
    assert fake_player.state == "playing"
    stream = FakeOutputStream.instances[-1]
    assert stream.active and stream.channels == 2
    out = stream.pull(500)
    assert np.allclose(out[:, 0], y[:500]) and np.allclose(out[:, 1], y[:500])
    assert fake_player.position == pytest.approx(0.5)
    fake_player.pause()
    assert fake_player.state == "paused" and not stream.active
    fake_player.seek(1.5)
    fake_player.play()
    out = stream.pull(800)
    assert np.allclose(out[:500, 0], y[1500:]) and np.all(out[500:] == 0)
    assert fake_player.state == "stopped" and fake_player.finished()


def test_finished_playback_restarts_from_the_top(fake_player):
    fake_player.load(np.ones(100, dtype=np.float32) * 0.5, 100)
    fake_player.play()
    FakeOutputStream.instances[-1].pull(200)
    assert fake_player.finished()
    fake_player.play()
    out = FakeOutputStream.instances[-1].pull(10)
    assert np.allclose(out, 0.5) and fake_player.position == pytest.approx(0.1)


def test_stereo_input_and_clipping(fake_player):
    y = np.stack([np.full(10, 2.0), np.full(10, -0.5)]).astype(np.float32)
    fake_player.load(y, 10)
    fake_player.play()
    out = FakeOutputStream.instances[-1].pull(10)
    assert np.allclose(out[:, 0], 1.0) and np.allclose(out[:, 1], -0.5)


def test_no_device_is_a_typed_error():
    def broken(**kwargs):
        raise NoAudioDeviceError("No audio output: test device is gone.")

    p = Player(stream_factory=broken)
    p.load(np.zeros(10, dtype=np.float32), 10)
    with pytest.raises(NoAudioDeviceError, match="gone"):
        p.play()
    assert p.state == "stopped"


REAL_PLAYBACK = """
import time, numpy as np
from musiclab.audio.playback import Player, import_sounddevice
from musiclab.errors import NoAudioDeviceError
try:
    import_sounddevice()
except NoAudioDeviceError as exc:
    print('SKIP', exc); raise SystemExit(0)
p = Player()
ok, name = p.available()
assert ok, name
p.load(np.zeros(11025, dtype=np.float32), 22050, 'silence')
p.play()
t0 = time.monotonic()
while not p.finished() and time.monotonic() - t0 < 10:
    time.sleep(0.05)
assert p.finished(), (p.state, p.position)
p.play()  # a finished stream is reopened and plays again from the top
t0 = time.monotonic()
while not p.finished() and time.monotonic() - t0 < 10:
    time.sleep(0.05)
assert p.finished(); p.stop(); assert p.position == 0
print('OK', name)
"""


def test_real_portaudio_playback_on_alsa_null_device(tmp_path):
    """Runs the real sounddevice path against ALSA's null device (skips without PortAudio)."""
    import subprocess
    import sys
    from pathlib import Path

    alsa = Path("/usr/share/alsa/alsa.conf")
    if not alsa.exists():
        pytest.skip("no ALSA configuration on this machine")
    conf = tmp_path / "asound.conf"
    conf.write_text(f"<{alsa}>\npcm.!default {{ type null }}\n")
    import os

    env = dict(os.environ, ALSA_CONFIG_PATH=str(conf))
    out = subprocess.run([sys.executable, "-c", REAL_PLAYBACK], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    if out.stdout.startswith("SKIP"):
        pytest.skip(out.stdout.strip())
    assert out.stdout.startswith("OK")
