"""Sampling with the LSTM state kept from step to step, and writing MIDI.

Temperature, top-k and top-p act on every sub-token distribution (pitches, then the
duration); the canonical-order mask is always applied. The random seed makes a result
reproducible.

Silence: a generation never holds more than ``max_silence_bars`` bars (default 2, of
``beats_per_bar`` quarters) without a sounding note, unless the primer itself has a longer
silence (then that is the limit): rests (and, in the timed representation, onset gaps) that
would go past it are masked before sampling.

MIDI: events are placed by their onsets (:func:`.events.onsets`): a timed event starts ``dt``
after the previous event's onset, a sequential one where everything before it has ended (the
seed's behaviour, for models of the ``sequential`` representation).
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import MusiclabError
from ..jobs import OnProgress, ShouldStop, check_stop, report
from . import encoding as enc
from .events import onsets, seed_token


def _filter_logits(logits, temperature: float, top_k: int, top_p: float):
    import torch

    if temperature <= 0:
        out = torch.full_like(logits, -float("inf"))
        out[logits.argmax()] = 0.0
        return out
    logits = logits / max(temperature, 1e-4)
    if top_k and top_k > 0 and top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits = torch.where(logits < kth, torch.tensor(-float("inf")), logits)
    if top_p is not None and 0 < top_p < 1:
        sl, si = torch.sort(logits, descending=True)
        probs = torch.softmax(sl, -1)
        cum = torch.cumsum(probs, -1)
        remove = cum - probs > top_p
        sl = torch.where(remove, torch.tensor(-float("inf")), sl)
        logits = torch.full_like(logits, -float("inf")).scatter(0, si, sl)
    return logits


def generate(
    model,
    primer: list,
    length: int,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int = 0,
    should_stop: ShouldStop = None,
    on_progress: OnProgress = None,
    repeat: float = 1.0,
    max_silence_bars: Optional[float] = 2.0,
    beats_per_bar: float = 4.0,
) -> list:
    """``length`` new events after ``primer`` (a list of events; may be empty).

    Models with a self-copy mixture (:mod:`.selfcopy`) sample each event from
    ``(1 - r·λ) p_lstm + r·λ p_copy`` with ``r = repeat`` (0: the LSTM alone; 1: as fitted):
    a coin with probability ``r·λ`` decides whether the event is copied from what followed
    the same context earlier in the piece (primer included), or drawn from the LSTM. Only
    events that were not copied themselves are copied, so a passage comes back once (AA'),
    then the music moves on (the eval's mixture has no such rule: real pieces are scored
    as they are).
    Temperature, top-k and top-p act on the LSTM part; with temperature 0 the copy is
    taken whenever ``r·λ`` > 0.5. ``max_silence_bars`` (None: no limit): see the module
    doc. Timed models (``model.representation == "timed"``) return events with onsets
    (``dt``, relative to the previous event, the first one to the primer's last event)."""
    import torch

    net = model.net
    net.eval()
    gen = torch.Generator().manual_seed(int(seed) % (2**63))
    out: list = []
    limit = silence_limit(primer, max_silence_bars, beats_per_bar)
    with torch.inference_mode():
        if model.arch in ("event-lstm", "event-lstm-v2", "event-lstm-timed"):
            out = _generate_event_np(model, primer, length, temperature, top_k, top_p, seed, should_stop, on_progress,
                                     repeat, limit)
        else:
            index = {t: i + 2 for i, t in enumerate(model.seed_vocab)}
            ids = [0] + [index.get(seed_token(e), 1) for e in primer]
            logits, state = net(torch.tensor([ids], dtype=torch.long))
            last = logits[0, -1, 2:]
            rest_ids = [i for i, t in enumerate(model.seed_vocab) if t.startswith("rest ")]
            rest_durs = np.array([float(Fraction(model.seed_vocab[i].split()[1])) for i in rest_ids])
            clock = _Silence(primer)
            while len(out) < length:
                if limit is not None and rest_ids:
                    bad = [i for i, d in zip(rest_ids, rest_durs) if clock.silence() + d > limit + 1e-9]
                    if bad and len(bad) < last.numel():
                        last = last.clone()
                        last[bad] = -float("inf")
                lg = _filter_logits(last, temperature, top_k, top_p)
                w = int(torch.multinomial(torch.softmax(lg, -1), 1, generator=gen))
                out.append(_from_seed_token(model.seed_vocab[w]))
                clock.push(out[-1])
                logits, state = net(torch.tensor([[w + 2]], dtype=torch.long), state)
                last = logits[0, -1, 2:]
                if len(out) % 50 == 0:
                    check_stop(should_stop)
                    report(on_progress, len(out), length, "generating")
    report(on_progress, length, length, "done")
    return out


class _NpLSTM:
    """The event LSTM as numpy matrices: one step costs microseconds, not a torch call."""

    def __init__(self, net):
        sd = {k: v.detach().float().numpy() for k, v in net.state_dict().items()}
        self.emb = sd["emb.weight"]
        self.metre = bool(getattr(net, "metre", False))
        if self.metre:
            self.pos4, self.pos3 = sd["pos4.weight"], sd["pos3.weight"]
        self.layers = []
        for i in range(net.layers):
            self.layers.append((sd[f"lstm.weight_ih_l{i}"], sd[f"lstm.weight_hh_l{i}"],
                                sd[f"lstm.bias_ih_l{i}"] + sd[f"lstm.bias_hh_l{i}"]))
        self.W, self.b = sd["out.weight"], sd["out.bias"]
        self.timed = bool(getattr(net, "timed", False))
        self.mask = np.where(enc.allowed_matrix("timed" if self.timed else "sequential"), 0.0, -1e4).astype(np.float32)
        self.H = net.hidden

    def step(self, tok, state, pos: int = 0):
        """One input sub-token (with the metrical onset ``pos`` of the event it leads to, see
        :func:`.encoding.positions`) -> masked logits, new state."""
        x = self.emb[tok]
        if self.metre:
            x = x + self.pos4[pos % enc.BAR4] + self.pos3[pos % enc.BAR3]
        new = []
        for (wi, wh, b), (h, c) in zip(self.layers, state):
            g = wi @ x + wh @ h + b
            H = self.H
            i = 1 / (1 + np.exp(-g[:H]))
            f = 1 / (1 + np.exp(-g[H : 2 * H]))
            gg = np.tanh(g[2 * H : 3 * H])
            o = 1 / (1 + np.exp(-g[3 * H :]))
            c = f * c + i * gg
            h = o * np.tanh(c)
            new.append((h, c))
            x = h
        return self.W @ x + self.b + self.mask[tok], new


def _np_filter_sample(lg, temperature, top_k, top_p, rng):
    if temperature <= 0:
        return int(np.argmax(lg))
    lg = lg.astype(np.float64) / max(temperature, 1e-4)
    if top_k and 0 < top_k < lg.size:
        kth = np.partition(lg, -top_k)[-top_k]
        lg = np.where(lg < kth, -np.inf, lg)
    p = np.exp(lg - lg.max())
    p /= p.sum()
    if top_p is not None and 0 < top_p < 1:
        order = np.argsort(-p)
        cum = np.cumsum(p[order])
        keep = order[: int(np.searchsorted(cum, top_p)) + 1]
        q = np.zeros_like(p)
        q[keep] = p[keep]
        p = q / q.sum()
    return int(rng.choice(p.size, p=p))


class _Silence:
    """Where the music stands in time while events are appended: the onset of the last
    event, where the next sequential event starts (``cursor``) and where the last sounding
    note ends (``sound_end``)."""

    def __init__(self, primer=()):
        self.last = 0.0
        self.cursor = 0.0
        self.sound_end = 0.0
        self.rests = 0  # consecutive rest events at the end
        for ev in primer:
            self.push(ev)

    def next_onset(self, dt_steps: Optional[int] = None) -> float:
        return self.cursor if dt_steps is None else self.last + dt_steps / enc.DUR_STEPS

    def silence(self, dt_steps: Optional[int] = None) -> float:
        """Quarters without sound from the last note's end to the next event's onset."""
        return max(0.0, self.next_onset(dt_steps) - self.sound_end)

    def push(self, ev) -> None:
        t = onsets([ev], start=self.last, cursor=self.cursor)[0]
        d = float(Fraction(ev[2]))
        if ev[0]:
            self.sound_end = max(self.sound_end, t + max(d, 1 / 12))
            self.rests = 0
        else:
            self.rests += 1
        self.last = t
        self.cursor = max(self.cursor, t + d)


def longest_silence(events) -> float:
    """The longest stretch (quarters) without a sounding note in ``events`` as written
    (from the start to the first note, between notes, and after the last one to the end)."""
    notes = sorted(events_to_notes(events))
    end = events_length_quarters(events)
    best, cover = 0.0, 0.0
    for start, length, _ in notes:
        best = max(best, start - cover)
        cover = max(cover, start + length)
    return max(best, end - cover, 0.0)


def silence_limit(primer, max_silence_bars: Optional[float] = 2.0, beats_per_bar: float = 4.0) -> Optional[float]:
    """The most quarters of silence a generation may hold: ``max_silence_bars`` bars, or the
    primer's longest silence if that is longer; None = no limit."""
    if max_silence_bars is None:
        return None
    lim = float(max_silence_bars) * float(beats_per_bar)
    if primer:
        lim = max(lim, longest_silence(primer))
    return lim


def _generate_event_np(model, primer, length, temperature, top_k, top_p, seed, should_stop, on_progress,
                       repeat: float = 1.0, limit: Optional[float] = None):
    from .selfcopy import Tracker

    npl = getattr(model, "_np_cache", None)
    if npl is None or npl[0] is not model.net:
        npl = (model.net, _NpLSTM(model.net))
        try:
            model._np_cache = npl
        except Exception:
            pass
    lstm = npl[1]
    timed = lstm.timed
    rep = "timed" if timed else "sequential"
    rng = np.random.default_rng(int(seed) % (2**63))
    state = [(np.zeros(lstm.H, np.float32), np.zeros(lstm.H, np.float32)) for _ in lstm.layers]
    logits = None
    pos = 0
    for tok in enc.encode_piece(primer, representation=rep):
        pos = enc.next_pos(tok, pos, timed)
        logits, state = lstm.step(tok, state, pos)
    clock = _Silence(primer)
    eps = 1e-9
    steps = np.arange(enc.MAX_DUR_K + 1)
    copy = getattr(model, "copy", None) if not timed else None
    strength = min(max(float(repeat), 0.0), 1.0) if copy is not None else 0.0
    tracker = Tracker() if strength > 0 else None
    if tracker is not None:
        for ev in primer:
            tracker.push(enc.event_key(ev))
    out: list = []
    cur: list[int] = []
    dt_steps: Optional[int] = None  # timed: the current event's onset step

    def emit(pitches, k):
        ev = _make_event(tuple(pitches), k)
        if timed:
            ev = ev + (enc.dur_string(dt_steps or 0),)
        out.append(ev)
        clock.push(ev)

    while len(out) < length:
        if tracker is not None and not cur:
            L, ids, p = tracker.distribution(copy.beta, originals_only=True)
            lam = strength * copy.lam_for(L)
            take = (lam > 0.5) if temperature <= 0 else (lam > 0 and rng.random() < lam)
            if take and ids.size:
                if temperature <= 0:
                    pick = int(ids[int(np.argmax(p))])
                else:
                    q = p ** (1.0 / max(temperature, 1e-4))
                    pick = int(ids[int(rng.choice(ids.size, p=q / q.sum()))])
                key = tracker.keys[pick]
                if key is not None and limit is not None and not key[0] \
                        and clock.silence() + key[1] / enc.DUR_STEPS > limit + eps:
                    key = None  # a copied rest would go past the silence limit: let the LSTM choose
                if key is not None:
                    pitches, k = key
                    for tok in enc.key_tokens(key):
                        pos = enc.next_pos(tok, pos, timed)
                        logits, state = lstm.step(tok, state, pos)
                    emit(pitches, k)
                    tracker.push(key, original=False)
                    if len(out) % 50 == 0:
                        check_stop(should_stop)
                        report(on_progress, len(out), length, "generating")
                    continue
        lg = logits
        n_pitch = sum(1 for t in cur if enc.P0 <= t < enc.REST)
        if n_pitch >= 11 and cur[-1] < enc.REST:  # close an over-long chord with a duration
            lg = lg.copy()
            lg[: enc.D0] = -1e9
            lg[enc.DT0:] = -1e9
        if limit is not None:
            lg = _mask_silence(lg, cur, clock, limit, timed, dt_steps, steps, eps)
        tok = _np_filter_sample(lg, temperature, top_k, top_p, rng)
        cur.append(tok)
        if timed and tok >= enc.DT0:
            dt_steps = tok - enc.DT0
        elif enc.is_dur(tok):
            pitches, k = enc.decode_event(cur)
            emit(pitches, k)
            if tracker is not None:
                tracker.push(enc.event_key(out[-1]))
            cur = []
            dt_steps = None
            if len(out) % 50 == 0:
                check_stop(should_stop)
                report(on_progress, len(out), length, "generating")
        pos = enc.next_pos(tok, pos, timed)
        logits, state = lstm.step(tok, state, pos)
    return out


def _mask_silence(lg, cur, clock, limit, timed, dt_steps, steps, eps):
    """Mask the sub-tokens that would hold silence past ``limit`` quarters."""
    if timed and not cur:  # the onset step: no gap past the limit
        bad = clock.last + steps / enc.DUR_STEPS - clock.sound_end > limit + eps
        bad[0] = False
        if bad.any():
            lg = lg.copy()
            lg[enc.DT0 + steps[bad]] = -1e9
        return lg
    first = (not cur) if not timed else (len(cur) == 1 and cur[0] >= enc.DT0)
    if first:
        sil = clock.silence(dt_steps if timed else None)
        if sil + 1 / enc.DUR_STEPS > limit + eps or (timed and clock.rests >= 4):
            lg = lg.copy()
            lg[enc.REST] = -1e9
        return lg
    if not timed and cur == [enc.REST]:  # a rest's duration: not past the limit
        sil = clock.silence()
        bad = sil + steps / enc.DUR_STEPS > limit + eps
        bad[0] = False
        if bad.any():
            lg = lg.copy()
            lg[enc.D0 + steps[bad]] = -1e9
    return lg


_NAMES = ["C", "C#", "D", "E-", "E", "F", "F#", "G", "G#", "A", "B-", "B"]


def _pitch_name(m: int) -> str:
    return f"{_NAMES[m % 12]}{m // 12 - 1}"


def _make_event(pitches: tuple, k: int) -> tuple:
    dur = enc.dur_string(k)
    if not pitches:
        return ((), "rest", dur)
    if len(pitches) == 1:
        return (pitches, _pitch_name(pitches[0]), dur)
    pcs = sorted({p % 12 for p in pitches})
    return (tuple(pitches), ".".join(str(p) for p in pcs), dur)


def _from_seed_token(tok: str) -> tuple:
    """Seed token -> event (chords from normalOrder are voiced around middle C)."""
    pitch, dur = tok.rsplit(" ", 1)
    if pitch == "rest":
        return ((), "rest", dur)
    if "." in pitch or pitch.isdigit():
        pcs = [int(x) for x in pitch.split(".")]
        ps, last = [], 59
        for pc in pcs:
            m = 60 + pc
            while m <= last:
                m += 12
            ps.append(m)
            last = m
        return (tuple(ps), pitch, dur)
    from music21 import pitch as m21pitch

    return ((int(m21pitch.Pitch(pitch).midi),), pitch, dur)


# --------------------------------------------------------------------------- output
def events_to_notes(events: list) -> list[tuple[float, float, int]]:
    """(start quarter, length quarter, pitch) for every sounding note, placed by the events'
    onsets (:func:`.events.onsets`: events with ``dt`` where they started; events without it
    one after another, each where everything before it ended, as in the seed)."""
    notes = []
    for t, ev in zip(onsets(events), events):
        d = float(Fraction(ev[2]))
        for p in ev[0]:
            notes.append((t, max(d, 1 / 12), int(p)))
    return notes


def continuation_notes(primer: list, events: list) -> tuple[list, list, float]:
    """Notes of a primer and of its continuation, both placed as they are written together
    (``primer + events``), and where the continuation starts (its first event's onset; the
    primer's end when it has none)."""
    times = onsets(list(primer) + list(events))
    notes = events_to_notes(list(primer) + list(events))
    n_primer = sum(len(e[0]) for e in primer)
    t0 = times[len(primer)] if events else events_length_quarters(primer)
    return notes[:n_primer], notes[n_primer:], float(t0)


def events_length_quarters(events: list) -> float:
    """Where the events end (quarters): the latest onset + duration (for events without
    onsets, the sum of their durations)."""
    end = 0.0
    for t, ev in zip(onsets(events), events):
        end = max(end, t + float(Fraction(ev[2])))
    return float(end)


def events_to_midi_bytes(events: list, tempo: float = 120.0, program: int = 0, velocity: int = 90) -> bytes:
    import mido

    tpq = 480
    mf = mido.MidiFile(ticks_per_beat=tpq)
    tr = mido.MidiTrack()
    mf.tracks.append(tr)
    tempo = min(max(float(tempo), 20.0), 400.0)
    tr.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo), time=0))
    tr.append(mido.Message("program_change", program=int(program) % 128, channel=0, time=0))
    msgs = []
    for start, length, p in events_to_notes(events):
        on = int(round(start * tpq))
        off = int(round((start + length) * tpq))
        msgs.append((on, 1, p))
        msgs.append((max(off - 1, on + 1), 0, p))
    msgs.sort(key=lambda m: (m[0], m[1]))
    now = 0
    for tick, is_on, p in msgs:
        tr.append(mido.Message("note_on" if is_on else "note_off", note=p, velocity=velocity if is_on else 0,
                               channel=0, time=tick - now))
        now = tick
    tr.append(mido.MetaMessage("end_of_track", time=tpq))
    buf = io.BytesIO()
    mf.save(file=buf)
    return buf.getvalue()


def write_output(events: list, path, tempo: float = 120.0, program: int = 0) -> Path:
    """Write .mid/.midi, or render .wav/.mp3/.flac/.ogg through the SoundFont."""
    import os

    p = Path(path)
    data = events_to_midi_bytes(events, tempo, program)
    ext = p.suffix.lower()
    if ext in (".mid", ".midi"):
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, p)
        return p
    if ext in (".wav", ".mp3", ".flac", ".ogg"):
        from ..audio.io import save_audio
        from ..audio.synth import render_midi

        y = render_midi(data, sr=44100)
        return save_audio(p, y, 44100)
    raise MusiclabError(f"Cannot write '{p.name}': choose .mid, .wav or .mp3.")
