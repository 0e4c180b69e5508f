"""A disk cache of what the stitcher computes once per song and never needs to compute again. No Qt.

Entries live in ``user_cache_dir()/stitcher`` (:mod:`musiclab.paths`; ``MUSICLAB_CACHE`` moves it)
as ``.npz`` files read with ``allow_pickle=False`` (numbers and text only, never objects):

* ``beats-*``: the beat tracker's beats and tempo of a song (:func:`musiclab.stitcher.pool.ensure_beats`);
* ``analysis-*``: the join engineering's song analysis (:class:`.joins.SongAnalysis`: frame chroma,
  MFCC, onset strength, beats, beat period, integrated loudness) that the cost search and the cuts
  use. The cumulative K-weighted energy (one float64 per sample: 50 MB for a 5-minute song) is not
  stored; it is recomputed from the song's audio the first time a join needs it
  (:class:`CachedAnalysis`), which costs a small fraction of the analysis;
* ``feats-*``: the edge features (log-mel, chroma, onset frames at every chunk's end and start;
  :func:`.features.edge_features` without the peak channels) that the boundary cosine and the
  search's boundary costs use;
* ``edges-*``: the learned scorer's end/start embeddings of one song's chunks, keyed by the model's
  weights as well (:func:`encode_cached`); ``poolnorm-*``: the pool normalisation (Sinkhorn row and
  column terms) of one set of songs, chunk spans and model;
* ``moods-*``: the Emotion model's quadrant probabilities of one song's chunks (a 10 s window centred
  on each), keyed by the chunk spans and the Emotion model (:func:`cached_chunk_moods`, the mood path).

An entry's name is the song's content fingerprint (:func:`musiclab.fingerprint.fingerprint` of its
file: a moved or copied song is a hit; an in-memory song without a file uses a hash of its audio),
a hash of the analysis parameters and :data:`FORMAT`. Inside, the entry records the decoded audio's
length, rate and a hash of its samples; an entry that does not match, cannot be read, or has the
wrong shapes is ignored (and overwritten by the recomputed one), never an error. Writes go to a
temporary file first and are renamed into place, so a crash never leaves half an entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np

#: bump when what an entry holds, or how it is computed, changes
FORMAT = 1

#: counts of what the cache did in this process (``{"analysis_hit": n, ...}``), for tests and benchmarks
STATS: dict[str, int] = {}


def _count(what: str) -> None:
    STATS[what] = STATS.get(what, 0) + 1


def enabled() -> bool:
    """``MUSICLAB_STITCHER_CACHE=0`` turns the disk cache off (everything is recomputed)."""
    return os.environ.get("MUSICLAB_STITCHER_CACHE", "1").strip().lower() not in ("0", "no", "off", "false")


def cache_dir() -> Optional[Path]:
    """``user_cache_dir()/stitcher`` (created), or None where it cannot be made."""
    if not enabled():
        return None
    try:
        from ..paths import user_cache_dir

        d = user_cache_dir() / "stitcher"
        d.mkdir(parents=True, exist_ok=True)
        return d
    except OSError:
        return None


# -- keys ----------------------------------------------------------------------------------------

def audio_hash(y: np.ndarray, sr: int) -> str:
    """A hash of (about 100,000 of) the decoded samples, their count and rate."""
    y = np.ascontiguousarray(y, dtype=np.float32)
    h = hashlib.sha1(y[:: max(1, len(y) // 100_000)].tobytes())
    h.update(str((len(y), int(sr))).encode())
    return h.hexdigest()[:16]


def song_key(song) -> str:
    """The song's file fingerprint (moves and copies keep it), else a hash of its audio.
    Memoised on the song (a song's audio never changes)."""
    d = song.__dict__
    k = d.get("_cache_key")
    if k is None:
        k = None
        p = Path(song.path) if getattr(song, "path", "") else None
        if p is not None and p.is_file():
            try:
                from ..fingerprint import fingerprint

                k = fingerprint(p)
            except OSError:
                k = None
        if k is None:
            k = "y" + audio_hash(song.y, song.sr)
        d["_cache_key"] = k
    return k


def song_audio_hash(song) -> str:
    d = song.__dict__
    h = d.get("_audio_hash")
    if h is None:
        h = d["_audio_hash"] = audio_hash(song.y, song.sr)
    return h


def params_hash(params: dict) -> str:
    return hashlib.sha1(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _entry(kind: str, song, params: dict) -> Optional[Path]:
    d = cache_dir()
    if d is None:
        return None
    name = f"{kind}-v{FORMAT}-{song_key(song)}-{params_hash(params)}.npz"
    return d / "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _meta(song, params: dict, **extra) -> str:
    return json.dumps({"format": FORMAT, "n": int(len(song.y)), "sr": int(song.sr),
                       "audio": song_audio_hash(song), "params": params, **extra}, sort_keys=True, default=str)


def _read(path: Optional[Path], song, params: dict) -> Optional[dict]:
    """The arrays of an entry that belongs to ``song`` (same audio, same parameters), else None."""
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        meta = json.loads(str(data.pop("meta")))
        want = json.loads(_meta(song, params))
        if any(meta.get(k) != want[k] for k in ("format", "n", "sr", "audio", "params")):
            return None
        data["_meta"] = meta
        return data
    except Exception:  # corrupt, truncated, foreign: recomputed by the caller
        return None


def _write(path: Optional[Path], meta: str, **arrays) -> bool:
    if path is None:
        return False
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=str(path.parent))
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, meta=np.array(meta), **arrays)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return True
    except OSError:
        return False


def _compact(x: np.ndarray) -> np.ndarray:
    """float64 arrays whose values are all float32 numbers are stored as float32 (lossless)."""
    x = np.asarray(x)
    if x.dtype == np.float64:
        x32 = x.astype(np.float32)
        if np.array_equal(x32.astype(np.float64), x, equal_nan=True):
            return x32
    return x


# -- beats ---------------------------------------------------------------------------------------

def _beat_params(song) -> dict:
    from .pool import HOP

    try:
        import librosa

        ver = librosa.__version__
    except Exception:  # pragma: no cover
        ver = "?"
    return {"what": "beat_track", "sr": int(song.sr), "hop": HOP, "librosa": ver}


def load_beats(song) -> Optional[tuple[np.ndarray, float]]:
    d = _read(_entry("beats", song, _beat_params(song)), song, _beat_params(song))
    if d is None:
        _count("beats_miss")
        return None
    try:
        beats = np.asarray(d["beats"], np.int64).reshape(-1)
        tempo = float(np.asarray(d["tempo"]).reshape(-1)[0])
        if len(beats) and (beats.min() < 0 or beats.max() > len(song.y) or np.any(np.diff(beats) < 0)):
            return None
    except Exception:
        return None
    _count("beats_hit")
    return beats, tempo


def save_beats(song, beats: np.ndarray, tempo: float) -> bool:
    p = _beat_params(song)
    return _write(_entry("beats", song, p), _meta(song, p), beats=np.asarray(beats, np.int64),
                  tempo=np.array([float(tempo)]))


# -- the join engineering's song analysis ----------------------------------------------------------

def _analysis_params(song) -> dict:
    from .features import N_FFT, N_MELS
    from .pool import HOP

    p = _beat_params(song)
    p.update(what="song_analysis", n_fft=N_FFT, n_mels=N_MELS, mfcc="1..12")
    return p


KW_BLOCK = 4096  # samples per block of the stored K-weighting checkpoints


def _kw_stages(sr: int):
    """pyloudnorm's two K-weighting stages as ``[(b, a, gain), ...]`` (what
    :func:`.seams._k_weighted` applies), or None where pyloudnorm is missing."""
    try:
        import pyloudnorm

        return [(np.asarray(st.b, np.float64), np.asarray(st.a, np.float64), float(st.passband_gain))
                for st in pyloudnorm.Meter(sr)._filters.values()]
    except Exception:
        return None


def kw_checkpoints(y: np.ndarray, sr: int, cumsq: np.ndarray, block: int = KW_BLOCK):
    """Every ``block`` samples: the cumulative K-weighted energy and the two filters' states, so that
    any value of ``cumsq`` can later be recomputed exactly from one block of audio
    (:class:`KwCumsum`). None where the blockwise filtering does not reproduce ``cumsq`` bit for bit."""
    from scipy.signal import lfilter

    stages = _kw_stages(sr)
    if stages is None:
        return None
    n = len(y)
    nb = n // block + 1
    states = np.zeros((nb, len(stages), 2), np.float64)
    zi = [np.zeros(2, np.float64) for _ in stages]
    for j in range(nb):
        for k in range(len(stages)):
            states[j, k] = zi[k]
        if j * block >= n:
            break
        z = np.asarray(y[j * block: (j + 1) * block], dtype=np.float64)
        for k, (b, a, g) in enumerate(stages):
            z, zi[k] = lfilter(b, a, z, zi=zi[k])
            z = g * z
    heads = np.asarray(cumsq[0: n + 1: block], np.float64)
    chk = KwCumsum(y, sr, heads, states, block)
    # spot checks against the full computation: a few block ends (the last one above all)
    for s in sorted({n, max(0, n - 1), min(n, block + 7), n // 2 + 13}):
        if chk[s] != cumsq[s]:
            return None
    return heads, states


class KwCumsum:
    """``cumsq`` (the cumulative squared K-weighted signal, ``n + 1`` values) without holding it: the
    value at sample ``s`` is recomputed from the stored value and filter states at the start of its
    block and the audio of that block (the same filters, in the same order, as the whole-song
    computation: the same numbers). Supports ``len``, integer indexing and ``np.asarray``."""

    def __init__(self, y: np.ndarray, sr: int, heads: np.ndarray, states: np.ndarray, block: int = KW_BLOCK):
        self._y, self._sr, self._heads, self._states, self._block = y, int(sr), heads, states, int(block)
        self._stages = _kw_stages(sr)
        self._blocks: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._y) + 1

    def _block_cumsum(self, j: int) -> np.ndarray:
        c = self._blocks.get(j)
        if c is None:
            from scipy.signal import lfilter

            B = self._block
            z = np.asarray(self._y[j * B: (j + 1) * B], dtype=np.float64)
            for k, (b, a, g) in enumerate(self._stages):
                z, _ = lfilter(b, a, z, zi=self._states[j, k].copy())
                z = g * z
            c = np.cumsum(np.concatenate([[self._heads[j]], z * z]))
            if len(self._blocks) > 64:
                self._blocks.clear()
            self._blocks[j] = c
        return c

    def __getitem__(self, s):
        if isinstance(s, slice) or not np.isscalar(s) and np.ndim(s):
            return np.asarray(self)[s]
        s = int(s)
        if s < 0:
            s += len(self)
        if not 0 <= s < len(self):
            raise IndexError(s)
        j, m = divmod(s, self._block)
        if m == 0:
            return np.float64(self._heads[j])
        return np.float64(self._block_cumsum(j)[m])

    def __array__(self, dtype=None, copy=None):
        from .joins import _k_weighted

        kw = _k_weighted(self._y, self._sr)
        full = np.concatenate([[0.0], np.cumsum(kw * kw)])
        return full.astype(dtype) if dtype is not None else full


def _analysis_class():
    from .joins import SongAnalysis

    class CachedAnalysis(SongAnalysis):
        """A :class:`.joins.SongAnalysis` read from the disk cache: ``kw_cumsq`` (the cumulative
        K-weighted energy) is recomputed from the song's audio the first time it is used."""

        _from_cache = True

        def __init__(self, y: np.ndarray, sr: int, **fields):
            self._y, self._sr, self._kw = y, int(sr), None
            for k, v in fields.items():
                setattr(self, k, v)

        @property
        def kw_cumsq(self) -> np.ndarray:
            if self._kw is None and getattr(self, "_kw_chk", None) is not None:
                self._kw = KwCumsum(self._y, self._sr, *self._kw_chk)
            if self._kw is None:
                from .joins import _k_weighted

                kw = _k_weighted(self._y, self._sr)
                self._kw = np.concatenate([[0.0], np.cumsum(kw * kw)])
            return self._kw

        @kw_cumsq.setter
        def kw_cumsq(self, v) -> None:
            self._kw = v

    return CachedAnalysis


_CLS: list = []


def cached_analysis_class():
    if not _CLS:
        _CLS.append(_analysis_class())
    return _CLS[0]


def load_analysis(song):
    """The song's analysis from the disk cache (a :class:`.joins.SongAnalysis`), or None."""
    params = _analysis_params(song)
    d = _read(_entry("analysis", song, params), song, params)
    if d is None:
        _count("analysis_miss")
        return None
    try:
        from .features import N_FFT
        from .pool import HOP

        n = len(song.y)
        T = 1 + (n - N_FFT) // HOP if n >= N_FFT else 0
        chroma = np.asarray(d["chroma"], np.float64)
        mfcc = np.asarray(d["mfcc"], np.float64)
        flux = np.asarray(d["flux"], np.float64)
        beats = np.asarray(d["beats"], np.int64).reshape(-1)
        period, lufs = (float(x) for x in np.asarray(d["scalars"], np.float64).reshape(-1)[:2])
        chk = None
        if "kw_heads" in d and "kw_states" in d:
            heads, states = np.asarray(d["kw_heads"], np.float64), np.asarray(d["kw_states"], np.float64)
            nb = n // KW_BLOCK + 1
            if heads.shape == (nb,) and states.shape == (nb, 2, 2) and np.isfinite(heads).all() \
                    and np.isfinite(states).all() and _kw_stages(song.sr) is not None:
                chk = (heads, states)
        if chroma.shape != (12, T) or mfcc.shape != (12, T) or flux.shape != (T,):
            return None
        if not (np.isfinite(chroma).all() and np.isfinite(mfcc).all() and np.isfinite(flux).all()):
            return None
        if len(beats) and (beats.min() < 0 or beats.max() > n):
            return None
    except Exception:
        return None
    _count("analysis_hit")
    return cached_analysis_class()(song.y, song.sr, chroma=chroma, mfcc=mfcc, flux=flux, beats=beats,
                                   period=period, lufs=lufs, _kw_chk=chk)


def save_analysis(song, a) -> bool:
    if getattr(a, "_from_cache", False):
        return False
    params = _analysis_params(song)
    try:
        arrays = dict(chroma=_compact(a.chroma), mfcc=_compact(a.mfcc), flux=_compact(a.flux),
                      beats=np.asarray(a.beats, np.int64), scalars=np.array([a.period, a.lufs], np.float64))
        chk = kw_checkpoints(song.y, song.sr, a.kw_cumsq)
        if chk is not None:
            arrays.update(kw_heads=chk[0], kw_states=chk[1])
    except Exception:
        return False
    ok = _write(_entry("analysis", song, params), _meta(song, params), **arrays)
    if ok:
        _count("analysis_saved")
    return ok


def clear(kind: Optional[str] = None) -> int:
    """Delete the cache's entries (of one ``kind``: "beats", "analysis", "edges"); returns how many."""
    d = cache_dir()
    if d is None:
        return 0
    n = 0
    for p in d.glob(f"{kind + '-' if kind else ''}*.npz"):
        try:
            p.unlink()
            n += 1
        except OSError:
            pass
    return n


# -- edge features (without the peak channels) -----------------------------------------------------

def _chunks_by_song(pool) -> dict[int, list[int]]:
    """Chunk indices per song, songs in the order of their first chunk."""
    by_song: dict[int, list[int]] = {}
    for i, c in enumerate(pool.chunks):
        by_song.setdefault(c.song, []).append(i)
    return by_song


def _read_ends_starts(path: Path, song, params: dict, shape_ok) -> tuple:
    """A cached ``(ends, starts)`` pair of float32 arrays of the same, finite, ``shape_ok`` shape,
    or ``(None, None)`` (missing, foreign or damaged: recomputed by the caller)."""
    d = _read(path, song, params)
    if d is None:
        return None, None
    try:
        e, s = np.asarray(d["ends"], np.float32), np.asarray(d["starts"], np.float32)
    except Exception:
        return None, None
    if e.shape != s.shape or not shape_ok(e) or not np.isfinite(e).all() or not np.isfinite(s).all():
        return None, None
    return e, s


def cached_edge_features(pool, frames: int, trim: int, batch: int, compute):
    """:func:`.features.edge_features` (no peaks) song by song through the disk cache, or None where
    the cache is off. ``compute(sub_pool, frames, trim, batch, False)`` computes one song's."""
    import torch

    from .features import N_CHANNELS, N_FFT, N_MELS
    from .pool import HOP, Pool

    if cache_dir() is None or not len(pool.chunks):
        return None
    by_song = _chunks_by_song(pool)
    E = torch.zeros(len(pool.chunks), N_CHANNELS, frames)
    S = torch.zeros_like(E)
    for si, idx in by_song.items():
        song = pool.songs[si]
        spans = hashlib.sha1(np.array([(pool.chunks[i].start, pool.chunks[i].end) for i in idx],
                                      np.int64).tobytes()).hexdigest()[:16]
        params = {"what": "edge_features", "frames": int(frames), "trim": int(trim), "spans": spans,
                  "chunks": len(idx), "n_fft": N_FFT, "n_mels": N_MELS, "hop": HOP, "channels": N_CHANNELS}
        path = _entry("feats", song, params)
        e, s = _read_ends_starts(path, song, params, lambda a: a.shape == (len(idx), N_CHANNELS, frames))
        if e is None:
            _count("feats_miss")
            sub = Pool(songs=pool.songs, chunks=[pool.chunks[i] for i in idx], chunking=pool.chunking, sr=pool.sr)
            te, ts = compute(sub, frames, trim, batch, False)
            e, s = te.numpy().astype(np.float32), ts.numpy().astype(np.float32)
            _write(path, _meta(song, params), ends=e, starts=s)
        else:
            _count("feats_hit")
        ix = torch.as_tensor(idx, dtype=torch.long)
        E[ix], S[ix] = torch.from_numpy(e), torch.from_numpy(s)
    return E, S


# -- the learned scorer's edge embeddings ---------------------------------------------------------

def model_hash(scorer) -> Optional[str]:
    """A hash of a learned scorer's weights and configuration (memoised on the scorer), or None
    for scorers that are not a net with end/start encoders."""
    net = getattr(scorer, "net", None)
    if net is None or not hasattr(net, "embed_end") or not hasattr(net, "embed_start"):
        return None
    h = scorer.__dict__.get("_cache_model_hash")
    if h is None:
        s = hashlib.sha1()
        for k, v in sorted(net.state_dict().items()):
            s.update(k.encode())
            t = v.detach().cpu().contiguous()
            s.update(str((tuple(t.shape), str(t.dtype))).encode())
            s.update(t.numpy().tobytes())
        s.update(str((type(net).__name__, getattr(net, "frames", None), getattr(net, "peaks", None),
                      getattr(scorer, "pool_norm", None))).encode())
        h = scorer.__dict__["_cache_model_hash"] = s.hexdigest()[:16]
    return h


def _edge_params(scorer, pool, idx: list[int], trim: int, mh: str) -> dict:
    spans = hashlib.sha1(np.array([(pool.chunks[i].start, pool.chunks[i].end) for i in idx],
                                  np.int64).tobytes()).hexdigest()[:16]
    return {"what": "edge_embeddings", "model": mh, "frames": int(scorer.net.frames),
            "peaks": bool(scorer.net.peaks), "trim": int(trim), "spans": spans, "chunks": len(idx)}


def embed_song(scorer, pool, idx: list[int], trim: int = 0, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """End/start embeddings of the chunks ``idx`` (one song's), as :meth:`.scorers.EdgeScorer.encode`
    computes them (edge features, then the net in batches)."""
    import torch

    from .features import edge_features
    from .pool import Pool

    sub = Pool(songs=pool.songs, chunks=[pool.chunks[i] for i in idx], chunking=pool.chunking, sr=pool.sr)
    fe, fs = edge_features(sub, scorer.net.frames, trim, peaks=bool(scorer.net.peaks))
    ends, starts = [], []
    with torch.inference_mode():
        for k in range(0, len(fe), batch):
            ends.append(scorer.net.embed_end(fe[k: k + batch]))
            starts.append(scorer.net.embed_start(fs[k: k + batch]))
    return torch.cat(ends).numpy().astype(np.float32), torch.cat(starts).numpy().astype(np.float32)


def encode_cached(scorer, pool, trim: int = 0, should_stop=None, on_progress=None):
    """``scorer.encode(pool)`` with the learned scorer's per-chunk embeddings read from / written to the
    disk cache, song by song (keyed by the song, its chunk spans and the model's weights). Scorers
    that are not such a net (boundary, seed, random) just encode."""
    from ..jobs import check_stop, report

    mh = model_hash(scorer)
    if mh is None or cache_dir() is None or not len(pool.chunks):
        return scorer.encode(pool, trim=trim, should_stop=should_stop, on_progress=on_progress)
    from .encoded import Encoded, PoolNormalized

    by_song = _chunks_by_song(pool)
    E = S = None
    pool_key = hashlib.sha1()
    for k, (si, idx) in enumerate(by_song.items()):
        check_stop(should_stop)
        report(on_progress, k, len(by_song), "edge features")
        song = pool.songs[si]
        params = _edge_params(scorer, pool, idx, trim, mh)
        pool_key.update(json.dumps([song_key(song), song_audio_hash(song), params], sort_keys=True).encode())
        path = _entry("edges", song, params)
        e, s = _read_ends_starts(path, song, params, lambda a: a.ndim == 2 and len(a) == len(idx))
        if e is None:
            _count("edges_miss")
            e, s = embed_song(scorer, pool, idx, trim)
            _write(path, _meta(song, params), ends=e, starts=s)
        else:
            _count("edges_hit")
        if E is None:
            E = np.zeros((len(pool.chunks), e.shape[1]), np.float32)
            S = np.zeros_like(E)
        if e.shape[1] != E.shape[1]:  # pragma: no cover - a model hash collision
            return scorer.encode(pool, trim=trim, should_stop=should_stop, on_progress=on_progress)
        E[idx], S[idx] = e, s
    report(on_progress, len(by_song), len(by_song), "edges encoded")
    # what EdgeScorer.encode does with the embeddings; the pool normalisation of the same songs,
    # chunks and model is read back too
    if getattr(scorer, "pool_norm", "none") == "sinkhorn" and len(E) > 1:
        tau = 1.0 / float(scorer.net.logit_scale.detach().exp())
        path = cache_dir() / f"poolnorm-v{FORMAT}-{pool_key.hexdigest()[:24]}.npz"
        got = _read_poolnorm(path, len(E), tau)
        if got is not None:
            _count("poolnorm_hit")
            return PoolNormalized.from_biases(E, S, tau, *got)
        enc = PoolNormalized(E, S, tau=tau)
        _write(path, json.dumps({"format": FORMAT, "n": len(E), "tau": tau}), row_bias=enc.row_bias,
               col_bias=enc.col_bias, iterations=np.array([enc.iterations]))
        return enc
    return Encoded(E, S)


def _read_poolnorm(path: Path, n: int, tau: float):
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            rb, cb = np.asarray(z["row_bias"], np.float64), np.asarray(z["col_bias"], np.float64)
            it = int(np.asarray(z["iterations"]).reshape(-1)[0])
        if meta.get("format") != FORMAT or meta.get("n") != n or meta.get("tau") != tau:
            return None
        if rb.shape != (n,) or cb.shape != (n,) or not (np.isfinite(rb).all() and np.isfinite(cb).all()):
            return None
        return rb, cb, it
    except Exception:
        return None


# -- the chunks' predicted emotions (mood path, issue 18) -------------------------------------------

def cached_chunk_moods(pool, model_key: str, context_s: float, compute, should_stop=None,
                       on_progress=None) -> np.ndarray:
    """Quadrant probabilities ``(n_chunks, 4)`` of the pool's chunks, song by song through the disk
    cache (``moods-*``, keyed by the song's content, its chunk spans, the Emotion model and the
    window): ``compute(idx)`` predicts one song's chunks ``idx`` (one batch) where there is no entry."""
    from ..jobs import check_stop, report

    by_song = _chunks_by_song(pool)
    out = np.full((len(pool.chunks), 4), 0.25)
    use_disk = cache_dir() is not None
    for k, (si, idx) in enumerate(by_song.items()):
        check_stop(should_stop)
        report(on_progress, k, len(by_song), f"chunk moods: {pool.songs[si].name}")
        song = pool.songs[si]
        spans = hashlib.sha1(np.array([(pool.chunks[i].start, pool.chunks[i].end) for i in idx],
                                      np.int64).tobytes()).hexdigest()[:16]
        params = {"what": "chunk_moods", "model": model_key, "context_s": float(context_s), "spans": spans,
                  "chunks": len(idx), "pool_sr": int(pool.sr)}
        path = _entry("moods", song, params) if use_disk else None
        got = None
        d = _read(path, song, params)
        if d is not None:
            try:
                p = np.asarray(d["probs"], np.float64)
                if p.shape == (len(idx), 4) and np.isfinite(p).all() and (p >= 0).all():
                    got = p
            except Exception:
                got = None
        if got is None:
            _count("moods_miss")
            got = np.asarray(compute(idx), np.float32).astype(np.float64)  # as a hit will read it back
            _write(path, _meta(song, params), probs=got.astype(np.float32))
        else:
            _count("moods_hit")
        out[idx] = got
    report(on_progress, len(by_song), len(by_song), "chunk moods")
    return out
