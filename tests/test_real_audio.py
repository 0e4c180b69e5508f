"""Sound for real: a 440 Hz tone through musiclab's playback, captured by its live input.

No fake modules: a real PulseAudio server with a null sink runs for this test, PortAudio
(``libportaudio2``) reaches it through ALSA's pulse plugin, musiclab's :class:`Player` plays
into the sink and its :class:`SoundDeviceSource` records the sink's monitor; the live
analysis must find A4. Skipped with the reason where the server cannot start (no
``pulseaudio``/``libportaudio2``/ALSA pulse plugin); ``.ci/run`` installs them.
"""

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

CHILD = textwrap.dedent("""
    import json, time
    import numpy as np
    from musiclab.analysis.streaming import AnalysisParams, StreamingAnalyzer
    from musiclab.audio.playback import Player
    from musiclab.audio.sources import SoundDeviceSource

    sr = 48000
    t = np.arange(int(sr * 2.5)) / sr
    tone = (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    # the default input: the null sink's monitor; a busy machine can stall PulseAudio for over the
    # app's 1.5-s "device lost" limit (tested with injected sources elsewhere), so allow 10 s here
    src = SoundDeviceSource(sr=sr, stall_s=10.0)
    src.start()
    player = Player()  # the real sounddevice output stream
    ok, device = player.available()
    player.load(tone, sr, "A4")
    player.play()
    ana = StreamingAnalyzer(AnalysisParams(sr=sr, n_fft=4096, hop=1024))
    chroma, power = [], []
    # record until 2 s after the tone first arrives (a busy machine may start the stream late),
    # at most 20 s: a tone that never arrives fails the test below
    t0, first = time.monotonic(), None
    while time.monotonic() - t0 < 20.0 and (first is None or time.monotonic() - first < 2.0):
        time.sleep(0.05)
        ana.push(src.read())
        b = ana.process()
        if b is not None:
            chroma.append(b.chroma)
            power.append(b.power)
            if first is None and float(np.max(b.power)) > 1e-8:
                first = time.monotonic()
    src.stop()
    player.close()
    power = np.concatenate(power)
    loud = power.sum(axis=1) > 0.01 * power.sum(axis=1).max()
    mean_power = power[loud].mean(axis=0)
    peak_hz = float(ana.bin_frequencies()[int(np.argmax(mean_power))])
    pcs = np.concatenate(chroma)[loud].mean(axis=0)
    print(json.dumps({"output": device, "input": src.name, "frames": int(loud.sum()),
                      "peak_hz": peak_hz, "chroma_argmax": int(np.argmax(pcs)),
                      "overflows": src.overflows}))
""")


@pytest.fixture(scope="module")
def pulse_env(tmp_path_factory):
    exe = shutil.which("pulseaudio")
    if exe is None:
        pytest.skip("no pulseaudio binary (Debian: pulseaudio libasound2-plugins libportaudio2)")
    if not any(Path(d).glob("libasound_module_pcm_pulse.so")
               for d in ("/usr/lib/x86_64-linux-gnu/alsa-lib", "/usr/lib/aarch64-linux-gnu/alsa-lib",
                         "/usr/lib/alsa-lib")):
        pytest.skip("ALSA's pulse plugin is missing (Debian: libasound2-plugins)")
    root = tmp_path_factory.mktemp("pulse")
    home, run = root / "home", root / "run"
    home.mkdir()
    run.mkdir()
    (home / ".asoundrc").write_text("pcm.!default { type pulse }\nctl.!default { type pulse }\n")
    sock = run / "pulse.sock"
    env = dict(os.environ, HOME=str(home), XDG_RUNTIME_DIR=str(run), PULSE_SERVER=f"unix:{sock}")
    server = subprocess.Popen(
        [exe, "-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit", "--log-target=stderr",
         "-L", "module-null-sink sink_name=musiclab_null rate=48000",
         "-L", f"module-native-protocol-unix auth-anonymous=1 socket={sock}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            if sock.exists() or server.poll() is not None:
                break
            time.sleep(0.05)
        if server.poll() is not None or not sock.exists():
            pytest.skip(f"the PulseAudio server did not start: {server.stderr.read()[-400:] if server.stderr else ''}")
        pactl = shutil.which("pactl")
        if pactl:
            subprocess.run([pactl, "set-default-sink", "musiclab_null"], env=env, timeout=10)
            subprocess.run([pactl, "set-default-source", "musiclab_null.monitor"], env=env, timeout=10)
        yield env
    finally:
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()


def test_a_tone_played_by_musiclab_is_heard_by_its_live_input(pulse_env):
    import json

    try:
        out = subprocess.run([sys.executable, "-c", CHILD], env=pulse_env, capture_output=True, text=True,
                             timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("playback/capture through the real server hung")
    if "PortAudio library not found" in out.stderr or "libportaudio" in out.stderr:
        pytest.skip("libportaudio2 is not installed")
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["frames"] >= 20, res  # the tone arrived: ~1 s of loud frames
    assert abs(res["peak_hz"] - 440.0) < 48000 / 4096 * 1.5, res
    assert res["chroma_argmax"] == 9, res  # A
