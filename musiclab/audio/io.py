"""Load, stream, inspect and save audio files. No Qt.

Arrays follow librosa's convention: float32, mono audio has shape ``(n,)`` and
multi-channel audio ``(channels, n)``. Decoding goes through soundfile (libsndfile:
WAV, FLAC, OGG/Vorbis/Opus, MP3, AIFF, ...); files libsndfile cannot read fall back to
ffmpeg (the binary shipped by imageio-ffmpeg) when it is available. Resampling uses soxr.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, asdict
from pathlib import Path
from typing import Iterator, Optional, Union

import numpy as np

from ..errors import AudioFileError, Cancelled, MusiclabError
from ..jobs import OnProgress, ShouldStop, check_stop, report, slow_call

PathLike = Union[str, os.PathLike]

AUDIO_EXTENSIONS = {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc"}
MIDI_EXTENSIONS = {".mid", ".midi", ".kar"}
SAVE_FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"),
                ".ogg": ("OGG", "VORBIS"), ".mp3": ("MP3", "MPEG_LAYER_III")}

#: Refuse to decode more than this many samples into memory at once (about 1.5 GiB of
#: float32): longer material must be streamed with :func:`iter_blocks`.
MAX_SAMPLES_IN_MEMORY = 400_000_000


def is_audio_file(path: PathLike) -> bool:
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


def is_midi_file(path: PathLike) -> bool:
    return Path(path).suffix.lower() in MIDI_EXTENSIONS


@dataclass
class AudioInfo:
    path: str
    format: str
    subtype: str
    duration: float
    sample_rate: int
    channels: int
    frames: int
    peak_dbfs: Optional[float] = None

    def to_dict(self) -> dict:
        return asdict(self)


def _name(path: PathLike) -> str:
    return Path(path).name


def _check_exists(path: PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise AudioFileError(f"'{p.name}': file not found ({p}).")
    if p.is_dir():
        raise AudioFileError(f"'{p.name}' is a folder, not an audio file.")
    if p.stat().st_size == 0:
        raise AudioFileError(f"'{p.name}' is empty (0 bytes).")
    if is_midi_file(p):
        raise AudioFileError(f"'{p.name}' is a MIDI file, not audio: open it in the Composer tab.")
    return p


def _open_sf(path: Path):
    import soundfile as sf

    try:
        return sf.SoundFile(str(path))
    except Exception as exc:  # libsndfile says why in its message
        raise AudioFileError(
            f"'{path.name}' is not a readable audio file or it is damaged ({_short(exc)})."
        ) from exc


def _short(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return msg[:200]


def _ffmpeg_exe() -> Optional[str]:
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:
        return None


def _is_text(path: Path, n: int = 4096) -> bool:
    """Whether the file starts like text (no audio container does): printable UTF-8 only."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(n)
    except OSError:
        return False
    if not head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a multi-byte character cut by the 4 KB window is still text
        if exc.start < len(head) - 4:
            return False
        text = head[:exc.start].decode("utf-8")
    return all(ch.isprintable() or ch in "\t\n\r\f" for ch in text)


def _ffmpeg_decode(path: Path, sr: Optional[int], mono: bool) -> tuple[np.ndarray, int]:
    """Decode with ffmpeg to float32 PCM (for formats libsndfile does not know)."""
    if _is_text(path):  # a renamed text file: say so at once instead of starting ffmpeg for it
        raise AudioFileError(f"'{path.name}' is a text file, not audio.")
    exe = _ffmpeg_exe()
    if exe is None:
        raise AudioFileError(f"'{path.name}': this format needs ffmpeg, which is not installed.")
    probe = subprocess.run([exe, "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    import re

    m = re.search(r"Audio: .*?, (\d+) Hz, ([^,]+),", probe.stderr)
    if m is None:
        raise AudioFileError(f"'{path.name}' contains no audio stream that ffmpeg can read.")
    native_sr = int(m.group(1))
    layout = m.group(2).strip()
    channels = {"mono": 1, "stereo": 2}.get(layout.split("(")[0], None)
    out_sr = sr or native_sr
    cmd = [exe, "-hide_banner", "-loglevel", "error", "-i", str(path), "-f", "f32le", "-ar", str(out_sr)]
    if mono:
        cmd += ["-ac", "1"]
        channels = 1
    elif channels is None:
        cmd += ["-ac", "2"]
        channels = 2
    cmd += ["-"]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0 or not proc.stdout:
        raise AudioFileError(f"'{path.name}' could not be decoded ({proc.stderr.decode(errors='replace')[:200]}).")
    y = np.frombuffer(proc.stdout, dtype=np.float32)
    y = y[: len(y) - len(y) % channels].reshape(-1, channels).T
    return (y[0] if channels == 1 else np.ascontiguousarray(y)), out_sr


def resample(y: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample along the last axis with soxr (high quality)."""
    if sr_in == sr_out:
        return y.astype(np.float32, copy=False)
    import soxr

    if y.ndim == 1:
        return soxr.resample(y, sr_in, sr_out).astype(np.float32, copy=False)
    return np.ascontiguousarray(soxr.resample(y.T, sr_in, sr_out).T, dtype=np.float32)


def audio_info(path: PathLike, peak: bool = True, should_stop: ShouldStop = None) -> AudioInfo:
    """Describe a file; with ``peak`` the whole file is streamed once to find its peak."""
    slow_call("audio_info")
    p = _check_exists(path)
    try:
        f = _open_sf(p)
    except AudioFileError:
        y, sr = _ffmpeg_decode(p, None, mono=False)
        ch = 1 if y.ndim == 1 else y.shape[0]
        n = y.shape[-1]
        pk = float(np.max(np.abs(y))) if n else 0.0
        return AudioInfo(str(p), p.suffix.lstrip(".").upper(), "ffmpeg", n / sr, sr, ch, n,
                         _dbfs(pk) if peak else None)
    with f:
        info = AudioInfo(str(p), f.format, f.subtype, f.frames / f.samplerate if f.samplerate else 0.0,
                         f.samplerate, f.channels, f.frames)
    if peak:
        pk = 0.0
        for block, _sr in iter_blocks(p, 65536, mono=False, should_stop=should_stop):
            if block.size:
                pk = max(pk, float(np.max(np.abs(block))))
        info.peak_dbfs = _dbfs(pk)
    return info


def _dbfs(peak: float) -> float:
    return round(float(20 * np.log10(peak)), 2) if peak > 0 else float("-inf")


def load_audio(
    path: PathLike,
    sr: Optional[int] = None,
    mono: bool = True,
    offset: float = 0.0,
    duration: Optional[float] = None,
) -> tuple[np.ndarray, int]:
    """Read (part of) a file as float32 at ``sr`` (native rate if None).

    Raises :class:`AudioFileError` with a readable message for anything that is not
    decodable audio. Whole files longer than :data:`MAX_SAMPLES_IN_MEMORY` samples are
    refused; use ``offset``/``duration`` or :func:`iter_blocks` for those.
    """
    slow_call("load_audio")
    p = _check_exists(path)
    try:
        f = _open_sf(p)
    except AudioFileError as sf_err:
        try:
            y, native = _ffmpeg_decode(p, None, mono)
        except AudioFileError:
            raise sf_err
        start = int(offset * native)
        stop = None if duration is None else start + int(duration * native)
        y = y[..., start:stop]
        return (resample(y, native, sr) if sr else y), (sr or native)
    with f:
        native = f.samplerate
        start = max(0, int(round(offset * native)))
        frames = f.frames - start if duration is None else int(round(duration * native))
        frames = max(0, min(frames, max(0, f.frames - start)))
        if frames * f.channels > MAX_SAMPLES_IN_MEMORY:
            raise AudioFileError(
                f"'{p.name}' is too long to load at once ({f.frames / native / 60:.0f} min); "
                "it is processed in segments instead."
            )
        try:
            f.seek(start)
            data = f.read(frames, dtype="float32", always_2d=True)
        except Exception as exc:
            raise AudioFileError(f"'{p.name}' is damaged or truncated ({_short(exc)}).") from exc
    y = data.mean(axis=1) if mono else np.ascontiguousarray(data.T)
    if not mono and y.shape[0] == 1:
        y = y[0]
    y = y.astype(np.float32, copy=False)
    if sr and sr != native:
        y = resample(y, native, sr)
    return y, (sr or native)


def iter_blocks(
    path: PathLike,
    block_frames: int,
    sr: Optional[int] = None,
    mono: bool = True,
    should_stop: ShouldStop = None,
    on_progress: OnProgress = None,
) -> Iterator[tuple[np.ndarray, int]]:
    """Stream a file in blocks of about ``block_frames`` output samples.

    Memory stays bounded whatever the file's length. Blocks are float32 with the same
    shape convention as :func:`load_audio`; resampling is done by a streaming soxr
    resampler, so block boundaries leave no artefacts.
    """
    p = _check_exists(path)
    f = _open_sf(p)
    with f:
        native = f.samplerate
        out_sr = sr or native
        rs = None
        if out_sr != native:
            import soxr

            rs = soxr.ResampleStream(native, out_sr, 1 if mono else f.channels, dtype="float32")
        in_block = max(1, int(block_frames * native / out_sr))
        total = f.frames
        done = 0
        while True:
            check_stop(should_stop)
            try:
                data = f.read(in_block, dtype="float32", always_2d=True)
            except Exception as exc:
                raise AudioFileError(f"'{p.name}' is damaged or truncated ({_short(exc)}).") from exc
            last = len(data) < in_block
            x = data.mean(axis=1, keepdims=True) if mono else data
            if rs is not None:
                x = rs.resample_chunk(np.ascontiguousarray(x), last=last)
            done += len(data)
            report(on_progress, done, total, p.name)
            if len(x):
                yield (x[:, 0].copy() if (mono or x.shape[1] == 1) else np.ascontiguousarray(x.T)), out_sr
            if last:
                break


def save_audio(path: PathLike, y: np.ndarray, sr: int) -> Path:
    """Write WAV, FLAC, OGG (Vorbis) or MP3, chosen by the extension. Returns the path.

    The file is written next to its destination and renamed into place, so an error
    never leaves a half-written file under the user's chosen name.
    """
    import soundfile as sf

    p = Path(path)
    ext = p.suffix.lower()
    if ext not in SAVE_FORMATS:
        raise AudioFileError(
            f"Cannot save '{p.name}': choose one of {', '.join(sorted(SAVE_FORMATS))}."
        )
    fmt, subtype = SAVE_FORMATS[ext]
    data = np.asarray(y, dtype=np.float32)
    if data.ndim == 2:
        data = data.T  # soundfile wants (frames, channels)
    data = np.clip(np.nan_to_num(data), -1.0, 1.0)
    if ext == ".mp3" and sr not in (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000):
        data = resample(data.T if data.ndim == 2 else data, sr, 44100)
        data = data.T if data.ndim == 2 else data
        sr = 44100
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.stem}.partial{ext}")
    try:
        sf.write(str(tmp), data, sr, format=fmt, subtype=subtype)
        os.replace(tmp, p)
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise AudioFileError(f"Could not write '{p.name}' ({_short(exc)}).") from exc
    return p


def expand_paths(paths, extensions=None) -> list[Path]:
    """Expand folders (recursively, sorted) into files; keep files as given."""
    exts = extensions or (AUDIO_EXTENSIONS | MIDI_EXTENSIONS)
    out: list[Path] = []
    for item in paths:
        p = Path(item)
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in exts))
        else:
            out.append(p)
    return out


@dataclass
class ProbedFile:
    """One file of a drop: what it is (``kind``: "audio", "midi" or "") and why it cannot be
    opened (``problem``, empty when it can); ``info`` for readable audio."""

    path: Path
    kind: str
    problem: str = ""
    info: Optional[AudioInfo] = None


def probe_paths(paths, should_stop: ShouldStop = None, on_progress: OnProgress = None) -> list[ProbedFile]:
    """Expand folders and probe each file once (headers only): the work behind a drop.

    A folder with nothing musiclab opens, a missing file, an unreadable audio file and an
    unsupported type each come back with a ``problem`` naming the file; nothing raises.
    """
    given = [Path(p) for p in paths]
    files = expand_paths(given)
    out: list[ProbedFile] = []
    for p in given:
        if p.is_dir() and not any(f.is_relative_to(p) for f in files):
            out.append(ProbedFile(p, "", f"'{p.name}': the folder holds no audio or MIDI files."))
    n = len(files)
    for i, f in enumerate(files):
        check_stop(should_stop)
        report(on_progress, i, n, f.name)
        if not f.exists():
            out.append(ProbedFile(f, "", f"'{f.name}': file not found."))
        elif is_midi_file(f):
            out.append(ProbedFile(f, "midi"))
        elif is_audio_file(f):
            try:
                out.append(ProbedFile(f, "audio", info=audio_info(f, peak=False)))
            except Cancelled:
                raise
            except MusiclabError as exc:
                out.append(ProbedFile(f, "audio", str(exc)))
        else:
            out.append(ProbedFile(
                f, "", f"'{f.name}': unsupported file type '{f.suffix or '(none)'}' — musiclab opens "
                f"audio ({', '.join(sorted(AUDIO_EXTENSIONS))}) and MIDI (.mid, .midi)."))
    report(on_progress, n, n, "")
    return out
