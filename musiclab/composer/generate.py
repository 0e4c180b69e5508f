"""Sampling with the LSTM state kept from step to step, and writing MIDI.

Temperature, top-k and top-p act on every sub-token distribution (pitches, then the
duration); the canonical-order mask is always applied. The random seed makes a result
reproducible.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import MusiclabError
from ..jobs import OnProgress, ShouldStop, check_stop, report
from . import encoding as enc
from .events import seed_token


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
    taken whenever ``r·λ`` > 0.5."""
    import torch

    net = model.net
    net.eval()
    gen = torch.Generator().manual_seed(int(seed) % (2**63))
    out: list = []
    with torch.inference_mode():
        if model.arch in ("event-lstm", "event-lstm-v2"):
            out = _generate_event_np(model, primer, length, temperature, top_k, top_p, seed, should_stop, on_progress,
                                     repeat)
        else:
            index = {t: i + 2 for i, t in enumerate(model.seed_vocab)}
            ids = [0] + [index.get(seed_token(e), 1) for e in primer]
            logits, state = net(torch.tensor([ids], dtype=torch.long))
            last = logits[0, -1, 2:]
            while len(out) < length:
                lg = _filter_logits(last, temperature, top_k, top_p)
                w = int(torch.multinomial(torch.softmax(lg, -1), 1, generator=gen))
                out.append(_from_seed_token(model.seed_vocab[w]))
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
        self.mask = np.where(enc.allowed_matrix(), 0.0, -1e4).astype(np.float32)
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


def _generate_event_np(model, primer, length, temperature, top_k, top_p, seed, should_stop, on_progress,
                       repeat: float = 1.0):
    from .selfcopy import Tracker

    npl = getattr(model, "_np_cache", None)
    if npl is None or npl[0] is not model.net:
        npl = (model.net, _NpLSTM(model.net))
        try:
            model._np_cache = npl
        except Exception:
            pass
    lstm = npl[1]
    rng = np.random.default_rng(int(seed) % (2**63))
    state = [(np.zeros(lstm.H, np.float32), np.zeros(lstm.H, np.float32)) for _ in lstm.layers]
    logits = None
    pos = 0
    for tok in enc.encode_piece(primer):
        pos = enc.next_pos(tok, pos)
        logits, state = lstm.step(tok, state, pos)
    copy = getattr(model, "copy", None)
    strength = min(max(float(repeat), 0.0), 1.0) if copy is not None else 0.0
    tracker = Tracker() if strength > 0 else None
    if tracker is not None:
        for ev in primer:
            tracker.push(enc.event_key(ev))
    out: list = []
    cur: list[int] = []
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
                if key is not None:
                    pitches, k = key
                    for tok in enc.key_tokens(key):
                        pos = enc.next_pos(tok, pos)
                        logits, state = lstm.step(tok, state, pos)
                    out.append(_make_event(tuple(pitches), k))
                    tracker.push(key, original=False)
                    if len(out) % 50 == 0:
                        check_stop(should_stop)
                        report(on_progress, len(out), length, "generating")
                    continue
        lg = logits
        if len(cur) >= 11:  # close an over-long chord with a duration
            lg = lg.copy()
            lg[: enc.D0] = -1e9
        tok = _np_filter_sample(lg, temperature, top_k, top_p, rng)
        cur.append(tok)
        if tok >= enc.D0:
            pitches, k = enc.decode_event(cur)
            out.append(_make_event(pitches, k))
            if tracker is not None:
                tracker.push(enc.event_key(out[-1]))
            cur = []
            if len(out) % 50 == 0:
                check_stop(should_stop)
                report(on_progress, len(out), length, "generating")
        pos = enc.next_pos(tok, pos)
        logits, state = lstm.step(tok, state, pos)
    return out


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
    """(start quarter, length quarter, pitch) for every sounding note; offsets advance
    by each event's duration, as in the seed."""
    notes = []
    t = 0.0
    for ev in events:
        d = float(Fraction(ev[2]))
        for p in ev[0]:
            notes.append((t, max(d, 1 / 12), int(p)))
        t += d
    return notes


def events_length_quarters(events: list) -> float:
    return float(sum(float(Fraction(e[2])) for e in events))


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
