"""The numba warm-up process: runs once per installation, writes its marker, can be switched off."""

import sys

from musiclab import warmup


def test_warmup_runs_once_and_can_be_switched_off(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MUSICLAB_NO_WARMUP", raising=False)
    marker = warmup.marker_path()
    assert str(tmp_path) in str(marker) and "librosa" in marker.name and not marker.exists()
    proc = warmup.start_in_background()
    assert proc is not None and proc.args[:3] == [sys.executable, "-m", "musiclab.warmup"]
    assert proc.wait(timeout=300) == 0
    assert marker.exists()
    assert warmup.start_in_background() is None  # already warm
    marker.unlink()
    monkeypatch.setenv("MUSICLAB_NO_WARMUP", "1")
    assert warmup.start_in_background() is None


def test_cache_dir_follows_the_user_cache_when_librosa_is_read_only(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setattr(warmup.os, "access", lambda p, mode: False)
    warmup.configure_cache_dir()
    assert warmup.os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / "cache" / "numba")
    monkeypatch.setenv("NUMBA_CACHE_DIR", "/somewhere/else")
    warmup.configure_cache_dir()  # a user's own setting wins
    assert warmup.os.environ["NUMBA_CACHE_DIR"] == "/somewhere/else"
