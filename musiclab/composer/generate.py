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
seed's behaviour). Event models of the ``sequential`` representation return their events with
onsets too, read as their training data was written (:class:`_Voices`: for melody + chords a
chord sounds with the melody note before it; for polyphonic piano a rest takes no time), so
melody and chords keep their time; ``voices=False`` gives the seed's placement.

Conditions: a model with a condition input (``model.conditions``, e.g. the mood quadrants
``Q1``..``Q4`` of ``emopia``) takes ``condition=`` (a name; None = unconditioned): its
embedding is fed with every sub-token, the primer's included. ``guidance`` > 1 pushes the
sampled distribution further from the unconditioned one (classifier-free guidance: logits
``u + g·(c − u)`` from two LSTM states, conditioned ``c`` and unconditioned ``u``). A model
with a key profile (``meta["key_profile"]``, :func:`.train.key_profile`) and a key bias for
the asked mode (``meta["key_bias"]``, e.g. ``{"minor": 0.5}``) also tilts every pitch
sub-token towards the asked key: log-probabilities + ``a·log(profile share of its pitch
class)``, renormalised among the pitches so the chance of a pitch against a rest or a
duration stays the net's (:func:`key_bias_vector`). The net alone follows a major key but
hardly a minor one (it writes the relative major in the right signature). A style whose
training tunes are melody only (``meta["style_chords"]``) gets events of one pitch
(:func:`melody_only`), and every style keeps to the pitch range of its tunes
(``meta["style_range"]``, :func:`style_pitch_mask`).

Form: ``form="aabb"`` builds the tune from strains of ``strain_bars`` bars, each written once
and played again (:func:`_strains`); ``"free"`` writes one event after another.
"""

from __future__ import annotations

import copy
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
    form: str = "free",
    strain_bars: int = 8,
    voices: Optional[str] = None,
    condition: Optional[str] = None,
    guidance: float = 1.0,
    pointer: Optional[float] = None,
    cadence: bool = True,
) -> list:
    """``length`` new events after ``primer`` (a list of events; may be empty; form "aabb":
    about that many, see below).

    ``pointer`` (pointer nets, ``event-lstm-ptr``): the weight of the net's own pointer vote in
    sampling (1 = as trained and scored by eval, 0 = its LSTM part alone); None = the model's
    own (:func:`model_pointer`). Sampled freely at full weight a pointer net copies its own
    copies and locks into a loop, so its file names a lower weight chosen by musicality.

    ``condition``: the name of one of the model's conditions (``model.conditions``, e.g. a
    mood quadrant ``"Q3"``); None = unconditioned; a model without conditions given one is a
    :class:`~musiclab.errors.MusiclabError`. A model with score conditions (style, key, mode,
    metre) takes ``{group: value}`` (e.g. ``{"key": "G", "mode": "minor", "metre": "6/8"}``) or a
    list of names (``["key:G", "metre:6/8"]``); a metre asked for is also the AABB form's bar.
    ``guidance``: see the module doc (1 = plain).

    ``form``: ``"free"`` (one event after another) or ``"aabb"``: the tune is built from
    strains of ``strain_bars`` bars, each written once and then played again (A A B B C C …,
    as folk tunes are), every strain primed by everything before it; the bar is the metre the
    first strain (or the primer) shows (4/4, 3/4, 6/8), events of a strain end within it. An
    AABB tune ends where a strain or its repeat ends, the one nearest ``length`` events (at
    least one strain), on a bar line; with ``cadence`` (melody models: folk, fiddle) every
    strain's last bar closes on a held tonic (:func:`_strains`). Event models only (the seed's
    LSTM ignores it).

    ``voices`` (sequential event models): return the events with onsets (``dt``) that keep
    their time (:class:`_Voices`): ``"melody"`` (a chord sounds with the melody note before
    it), ``"sounding"`` (a rest takes no time) or ``False`` (one after another, the seed's
    placement: events without ``dt``); None = the reading the model's training data fits
    (:func:`placement_for`).

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
    cond = _condition_id(model, condition)
    with torch.inference_mode():
        if model.arch in enc.EVENT_ARCHS:
            out = _generate_event_np(model, primer, length, temperature, top_k, top_p, seed, should_stop, on_progress,
                                     repeat, limit, form=check_form(form), strain_bars=strain_bars,
                                     voices=_check_voices(model, voices), condition=cond,
                                     guidance=float(guidance),
                                     pointer=model_pointer(model) if pointer is None else pointer,
                                     bar=requested_bar(condition), cadence=bool(cadence))
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


def requested_bar(condition) -> Optional[float]:
    """Quarters per bar of the metre a condition asks for (``{"metre": "6/8"}`` or a name
    ``"metre:6/8"`` among a list): the AABB form's bar; None when no metre is asked for."""
    names = []
    if isinstance(condition, dict):
        names = [f"{g}:{v}" for g, v in condition.items() if v not in (None, "")]
    elif isinstance(condition, str):
        names = [condition]
    elif isinstance(condition, (list, tuple)):
        names = [str(c) for c in condition if c not in (None, "")]
    from .labels import metre_tuple

    for n in names:
        if n.startswith("metre:"):
            nd = metre_tuple(n[6:])
            if nd is None or nd[1] == 0:
                return None
            q = nd[0] * 4.0 / nd[1]
            return q if 0 < q <= 16 else None
    return None


def asked_value(model, cond, group: str) -> Optional[str]:
    """The value of ``group`` (``"style"``, ``"key"`` ...) that condition ids ``cond`` (a tuple
    per group, see :func:`_condition_id`) ask for; None when it is not asked."""
    groups = list(getattr(model, "condition_groups", []) or [])
    if not isinstance(cond, tuple) or group not in groups or not cond[groups.index(group)]:
        return None
    from .labels import value_of

    return value_of(model.conditions[cond[groups.index(group)] - 1])


def key_bias_vector(model, cond) -> Optional[np.ndarray]:
    """The pitch-class tilt for condition ids ``cond`` (a tuple per group, see
    :func:`_condition_id`): 128 values, one per MIDI pitch, ``a·(log share − mean log share)``
    of the asked mode's key profile rotated to the asked key signature; None when the model
    has no profile or bias for it, or key or mode is not asked."""
    meta = getattr(model, "meta", None) or {}
    prof, bias = meta.get("key_profile"), meta.get("key_bias")
    key, mode = (asked_value(model, cond, "key"), asked_value(model, cond, "mode")) if prof and bias else (None, None)
    if not key or not mode:
        return None
    from .labels import PC_NAMES

    a = float(bias.get(mode, 0.0) or 0.0)
    if a <= 0 or mode not in prof or key not in PC_NAMES:
        return None
    lp = np.log(np.asarray(prof[mode], dtype=np.float64))
    lp -= lp.mean()
    t = PC_NAMES.index(key)
    return (a * lp[(np.arange(128) - t) % 12]).astype(np.float32)


#: below this share of events with two or more pitches, a collection is melody only
MELODY_ONLY_SHARE = 0.005
#: melody only: chords drawn again at most this often per event, then a pitch is closed at once
_CHORD_TRIES = 8


def melody_only(model, cond) -> bool:
    """Whether the style asked for in condition ids ``cond`` is a melody-only collection: its
    training tunes (``meta["style_chords"]``, :func:`.train.style_chords`) have almost no
    event of two or more pitches (O'Neill's and Ryan's have none). Its tunes are then written
    one note at a time: the net, told the style, still wrote chords into some of them (3 and 2
    of 10 tunes asked for O'Neill's and Ryan's, seeds 0-9, ``benchmarks/composer_conditions.py``). An event the net draws as a chord
    is drawn again from where it began (up to :data:`_CHORD_TRIES` times; then the first pitch
    is closed with a duration)."""
    shares = (getattr(model, "meta", None) or {}).get("style_chords")
    style = asked_value(model, cond, "style") if shares else None
    share = shares.get(style) if style else None
    return share is not None and float(share) < MELODY_ONLY_SHARE


def style_pitch_mask(model, cond) -> Optional[np.ndarray]:
    """For the style asked for in ``cond``: 0 on the pitch sub-tokens within the style's range
    (``meta["style_range"]``, :func:`.train.style_range`), -1e9 on those outside, 0 on every
    other sub-token; None when no style is asked or the file has no range for it. The net,
    asked for O'Neill's or Ryan's, still wrote 17 % and 8 % of its notes below G3, down to C2
    (Nottingham's accompaniment; seeds 0-9, chords included; their real tunes: none)."""
    ranges = (getattr(model, "meta", None) or {}).get("style_range")
    style = asked_value(model, cond, "style") if ranges else None
    r = ranges.get(style) if style else None
    if not r:
        return None
    mask = np.zeros(enc.vocab_size(getattr(model, "representation", "sequential")), np.float32)
    mask[enc.P0 : enc.P0 + int(r[0])] = -1e9
    mask[enc.P0 + int(r[1]) + 1 : enc.REST] = -1e9
    return mask


def _condition_id(model, condition):
    """The net's id of ``condition`` (0 = none), or a clear error for a model without it.
    A model with grouped conditions (``model.condition_groups``) also takes a list of names or
    a ``{group: value}`` dict and gets a tuple of ids, one per group (0 when none is given)."""
    if condition is None or condition == "" or (isinstance(condition, (dict, list, tuple))
                                                and not any(v not in (None, "") for v in
                                                            (condition.values() if isinstance(condition, dict)
                                                             else condition))):
        return 0
    fn = getattr(model, "condition_id", None)
    if fn is None or model.arch not in enc.EVENT_ARCHS:
        raise MusiclabError(f"Model '{getattr(model, 'name', '?')}' takes no condition input.")
    if isinstance(condition, str) and len(model.condition_groups) <= 1:
        return fn(condition)
    ids = model.condition_ids(condition)
    return ids if any(ids) else 0


class _NpLSTM:
    """The event LSTM as numpy matrices: one step costs microseconds, not a torch call."""

    def __init__(self, net):
        sd = {k: v.detach().float().numpy() for k, v in net.state_dict().items()}
        self.emb = sd["emb.weight"]
        self.metre = bool(getattr(net, "metre", False))
        if self.metre:
            self.pos4, self.pos3 = sd["pos4.weight"], sd["pos3.weight"]
        # per layer W_ih, W_hh and one bias, their gate rows put in the order i, f, o, g (torch's:
        # i, f, g, o) so that one sigmoid covers three gates. (Not one [W_ih | W_hh] product:
        # OpenBLAS splits a matrix-vector product that large over threads, which is 4x slower
        # when the other cores are busy.)
        H = net.hidden
        order = np.r_[0 : 2 * H, 3 * H : 4 * H, 2 * H : 3 * H]
        self.layers = []
        for i in range(net.layers):
            self.layers.append(tuple(np.ascontiguousarray(a[order]) for a in (
                sd[f"lstm.weight_ih_l{i}"], sd[f"lstm.weight_hh_l{i}"],
                sd[f"lstm.bias_ih_l{i}"] + sd[f"lstm.bias_hh_l{i}"])))
        self._cond_rows: dict = {}  # a tuple of condition ids -> the sum of their rows
        self.W, self.b = sd["out.weight"], sd["out.bias"]
        self.cond = sd.get("cond.weight")  # (conditions + 1, emb), row 0 zero; None: no condition input
        self.timed = bool(getattr(net, "timed", False))
        allowed = enc.allowed_matrix("timed" if self.timed else "sequential")
        self.mask = np.where(allowed, 0.0, -1e4).astype(np.float32)
        self.allowed = np.asarray(allowed, dtype=np.float64)
        self.H = net.hidden
        self.ptr = "wq.weight" in sd  # a pointer net (model.PointerLSTM)
        if self.ptr:
            self.memory, self.d = int(net.memory), int(net.ptr_dim)
            self.tau = np.float32(np.exp(sd["log_tau"]))
            # one matrix-vector product for the logits, the key, the query and the gate
            self.V = self.W.shape[0]
            self.W = np.concatenate([self.W, sd["wk.weight"], sd["wq.weight"], sd["gate.weight"]]).astype(np.float32)
            self.b = np.concatenate([self.b, sd["wk.bias"], sd["wq.bias"], sd["gate.bias"]]).astype(np.float32)

    def initial_state(self) -> list:
        """The state before the first sub-token: per layer (h, c); a pointer net's also holds
        its memory (:class:`_NpMem`, entries used, the last position's key)."""
        st = [(np.zeros(self.H, np.float32), np.zeros(self.H, np.float32)) for _ in self.layers]
        if self.ptr:
            st.append((None, 0, None))
        return st

    def step(self, tok, state, pos: int = 0, cond: int = 0, ptr_scale: float = 1.0, logits: bool = True):
        """One input sub-token (with the metrical onset ``pos`` of the event it leads to, see
        :func:`.encoding.positions`, and the condition id ``cond``, 0 = none) -> masked logits
        (a pointer net: masked log-probabilities), new state. ``ptr_scale`` (pointer nets): the
        weight of the pointer's vote, 1 = as trained, 0 = the LSTM part alone. ``logits=False``:
        only the new state (None for the logits), for sub-tokens fed rather than sampled."""
        x = self.emb[tok]
        if self.metre:
            x = x + self.pos4[pos % enc.BAR4] + self.pos3[pos % enc.BAR3]
        if cond and self.cond is not None:  # an id, or one id per condition group (row 0 is zero)
            if isinstance(cond, (int, np.integer)):
                x = x + self.cond[cond]
            else:
                row = self._cond_rows.get(cond)
                if row is None:
                    row = self._cond_rows[cond] = self.cond[list(cond)].sum(0)
                x = x + row
        H = self.H
        new = []
        for (wi, wh, b), (h, c) in zip(self.layers, state):
            g = wi @ x + wh @ h + b
            s = 1.0 / (1.0 + np.exp(-g[: 3 * H]))  # input, forget, output gates
            c = s[H : 2 * H] * c + s[:H] * np.tanh(g[3 * H :])
            h = s[2 * H :] * np.tanh(c)
            new.append((h, c))
            x = h
        if not self.ptr:
            return (self.W @ x + self.b + self.mask[tok] if logits else None), new
        y = self.W @ x + self.b
        V, d = self.V, self.d
        # the pointer (model.PointerLSTM.forward, one step): the pending key's next sub-token is tok
        mem, n, kp = state[-1]
        if tok == enc.BOS or mem is None:
            mem, n = _NpMem(d), 0
        elif kp is not None:
            mem = mem.push(n, kp, tok)
            n += 1
        lo = max(0, n - self.memory)
        k = y[V : V + d]
        k = k / max(float(np.sqrt(k @ k)), 1e-12)
        new.append((mem, n, k))
        if not logits:
            return None, new
        logits = y[:V] + self.mask[tok]
        pv = np.exp(logits - logits.max())
        if n > lo:
            q = y[V + d : V + 2 * d]
            sc = (mem.K[lo:n] @ q) * (self.tau / max(float(np.sqrt(q @ q)), 1e-12))
            a = np.exp(sc - sc.max())
            a /= a.sum()
            g = 1.0 / (1.0 + np.exp(-float(y[V + 2 * d])))
            g = 1.0 - ptr_scale * (1.0 - g)
            p = (g / pv.sum()) * pv + (1.0 - g) * np.bincount(mem.V[lo:n], weights=a, minlength=V)
            p *= self.allowed[tok]  # masked continuations the pointer voted for are dropped
        else:
            p = pv
        logits = (np.log(np.maximum(p / p.sum(), 1e-30)) + self.mask[tok]).astype(np.float32)  # log-probabilities
        return logits, new


class _NpMem:
    """A pointer net's keys and next sub-tokens, grown in place. A state refers to its first
    ``n`` entries; writing where a later state has written already (a snapshot restored) copies
    first, so every state saved earlier stays valid."""

    def __init__(self, d: int, cap: int = 256):
        self.K = np.zeros((cap, d), np.float32)
        self.V = np.zeros(cap, np.int64)
        self.n = 0

    def push(self, n: int, k, v: int) -> "_NpMem":
        mem = self
        if n != self.n:
            mem = _NpMem(self.K.shape[1], max(256, 2 * n))
            mem.K[:n], mem.V[:n], mem.n = self.K[:n], self.V[:n], n
        if n >= mem.K.shape[0]:
            mem.K = np.concatenate([mem.K, np.zeros_like(mem.K)])
            mem.V = np.concatenate([mem.V, np.zeros_like(mem.V)])
        mem.K[n], mem.V[n] = k, v
        mem.n = n + 1
        return mem


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
        self.chord = False  # the last event was a chord (two or more pitches)
        self.pitch: Optional[int] = None  # the last single note's pitch (the melody's, with chords)
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
        self.chord = len(ev[0]) >= 2
        if len(ev[0]) == 1:
            self.pitch = int(ev[0][0])
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


def _token_kind(tok: str) -> str:
    pitch = tok.rsplit(" ", 1)[0]
    if pitch == "rest":
        return "rest"
    return "chord" if ("." in pitch or pitch.isdigit()) else "note"


PLACEMENTS = ("melody", "sounding")


def _check_voices(model, voices) -> Optional[str]:
    if voices is None or voices is True:
        pl = placement_for(model)
        return None if pl == "sequential" else pl
    if not voices:
        return None
    if voices not in PLACEMENTS:
        raise MusiclabError(f"Unknown placement '{voices}': choose {' or '.join(PLACEMENTS)}.")
    return voices


def placement_for(model) -> str:
    """How a sequential model's events are placed (:class:`_Voices`): what its model file says
    (``meta["placement"]``: ``"melody"``, ``"sounding"`` or ``"sequential"`` = one event after
    another, as the seed and chorale slices are written), else ``"melody"`` when its training
    data reads as melody + chords (:func:`voices_fit`), else ``"sounding"``."""
    pl = (getattr(model, "meta", None) or {}).get("placement")
    if pl in PLACEMENTS or pl == "sequential":
        return str(pl)
    return "melody" if voices_fit(model) else "sounding"


def model_pointer(model) -> float:
    """A pointer net's pointer weight for generation (``meta["generate_pointer"]``, chosen by the
    musicality of its tunes; 1.0 when the file names none), in [0, 1]."""
    try:
        v = float((getattr(model, "meta", None) or {}).get("generate_pointer", 1.0))
    except (TypeError, ValueError):
        v = 1.0
    return min(max(v if np.isfinite(v) else 1.0, 0.0), 1.0)


def model_form(model) -> str:
    """The form a model's card recommends (``meta["form"]``, e.g. ``"free"`` for chorales, which
    are not built of repeated strains); ``"aabb"`` when it says nothing."""
    f = str((getattr(model, "meta", None) or {}).get("form", "aabb")).strip().lower()
    return f if f in FORMS else "aabb"


def model_legato(model) -> bool:
    """Whether a model's events are slices of held voices (``meta["legato"]``): a pitch sounding
    on in the next event is then written as one held note, not struck again."""
    return bool((getattr(model, "meta", None) or {}).get("legato", False))


def voices_fit(model) -> bool:
    """Whether a sequential model's training data reads as melody + chords (:class:`_Voices`):
    in the seed-token bigram counts stored with it (``model.trigram``), at least 90 % of the
    chords follow a single note and at most 10 % of the events are rests (Nottingham: 97.8 %
    and 1.1 %; the jazz piano: 31 % and 39 %). False without those counts. Cached per model."""
    hit = getattr(model, "_voices_fit", None)
    if hit is not None and hit[0] is model.trigram:
        return hit[1]
    ok = False
    tri = getattr(model, "trigram", None)
    try:
        toks = list(tri["tokens"])
        kinds = [_token_kind(t) if t != "<s>" else "start" for t in toks]
        big = np.asarray(tri["bigram"]).reshape(-1, 3)
        counts: dict = {}
        for a, b, c in big.tolist():
            key = (kinds[int(a)], kinds[int(b)])
            counts[key] = counts.get(key, 0) + int(c)
        total = sum(counts.values())
        chords = sum(v for (a, b), v in counts.items() if b == "chord")
        rests = sum(v for (a, b), v in counts.items() if b == "rest")
        ok = total > 0 and chords > 0 and counts.get(("note", "chord"), 0) >= 0.9 * chords and rests <= 0.1 * total
    except (TypeError, KeyError, IndexError, ValueError):
        ok = False
    try:
        model._voices_fit = (tri, ok)
    except Exception:
        pass
    return ok


class _Voices:
    """Where a sequential model's events sound when they keep their time (times in 1/12
    quarters). Two readings of the event stream (see :func:`placement_for`):

    * ``"melody"`` (melody + chords, the folk tunes): the events come in the order of the
      training data (onset order, a chord right after the melody note it sounds with), so a
      chord (two or more pitches) starts with the event before it, and a note or rest where
      the melody's previous note or rest ended; a rest before the first note that follows
      another rest is the accompaniment's (it starts with it). On the 65 Nottingham
      validation tunes this places 97.7 % of the events at their true onsets (60 tunes
      exactly; the 869 training tunes: 96.0 %, 800 exactly), where the seed's
      one-after-another placement leaves each chord alone after its bar's melody.
    * ``"sounding"`` (polyphonic piano, the jazz pieces): most rests of such a stream are one
      voice resting while others play (39 % of the jazz events are rests), so a rest takes no
      time; notes and chords follow one another as in the seed. Real jazz pieces placed so
      resemble their corpus at least as much as placed one after another (judge mean OA
      0.843 vs 0.775 for the 35 training pieces against the 6 validation ones; 0.833 vs
      0.800 the other way round; their true timing: 0.81 and 0.84), and a tune no longer
      goes quiet for every rest of one voice.
    """

    def __init__(self, primer=(), mode: str = "melody"):
        self.mode = mode
        self.prev = 0  # onset of the last event
        self.mel_end = 0  # where the next event of the line starts (the melody's, or the last sound's, end)
        self.started = False  # a sounding event seen
        self.lead = 0  # rests before the first sounding event
        if primer:
            times = onsets(primer)
            self.prev = int(round(times[-1] * enc.DUR_STEPS))
            if mode == "melody":
                ends = [t + float(Fraction(e[2])) for t, e in zip(times, primer) if len(e[0]) < 2]
            else:
                ends = [t + float(Fraction(e[2])) for t, e in zip(times, primer) if e[0]]
            self.mel_end = int(round((max(ends) if ends else times[-1]) * enc.DUR_STEPS))
            self.started = any(e[0] for e in primer)
            self.lead = sum(1 for e in primer if not e[0]) if not self.started else 0

    def is_melody(self, n_pitches: int) -> bool:
        """Whether an event of ``n_pitches`` pitches moves the line on (and so must end within
        a strain)."""
        if self.mode != "melody":
            return n_pitches > 0
        return n_pitches < 2 and not (n_pitches == 0 and not self.started and self.lead >= 1)

    def place(self, ev) -> tuple:
        """``ev`` (pitches, name, dur) with its onset ``dt`` (the state moves on)."""
        k = int(round(float(Fraction(ev[2])) * enc.DUR_STEPS))
        line = self.is_melody(len(ev[0]))
        if self.mode == "melody":
            t = max(self.mel_end, self.prev) if line else self.prev
        else:
            t = max(self.mel_end, self.prev)
        if line:
            self.mel_end = t + k
        if ev[0]:
            self.started = True
        else:
            self.lead += 1
        dt = t - self.prev
        self.prev = t
        return tuple(ev[:3]) + (enc.dur_string(dt),)


class _EventSampler:
    """One generation with an event LSTM (numpy), step by step: :meth:`feed` teaches it events
    (the primer, a repeated strain), :meth:`sample` draws the next one. Keeps the LSTM state,
    the metrical position, the clock (:class:`_Silence`, the model's own time), the self-copy
    tracker and, for sequential models with ``voices``, the :class:`_Voices` placement of the
    events it returns (then with ``dt``) together."""

    def __init__(self, model, primer, temperature, top_k, top_p, seed, repeat: float = 1.0,
                 limit: Optional[float] = None, voices: Optional[str] = "melody", condition: int = 0,
                 guidance: float = 1.0, pointer: float = 1.0):
        from .selfcopy import Tracker

        npl = getattr(model, "_np_cache", None)
        if npl is None or npl[0] is not model.net:
            npl = (model.net, _NpLSTM(model.net))
            try:
                model._np_cache = npl
            except Exception:
                pass
        self.lstm = lstm = npl[1]
        self.timed = lstm.timed
        self.temperature, self.top_k, self.top_p, self.limit = temperature, top_k, top_p, limit
        self.rng = np.random.default_rng(int(seed) % (2**63))
        self.state = lstm.initial_state()
        self.logits = None
        self.pos = 0
        self.cond = condition if isinstance(condition, tuple) else int(condition)
        self.guidance = float(guidance)
        self.ptr_scale = min(max(float(pointer), 0.0), 1.0)
        # classifier-free guidance: an unconditioned twin state beside the conditioned one
        self.ustate = lstm.initial_state() \
            if (self.cond and abs(self.guidance - 1.0) > 1e-6) else None
        self.key_bias = key_bias_vector(model, self.cond)
        self.melody_only = melody_only(model, self.cond)
        self.range_mask = style_pitch_mask(model, self.cond)
        rep = "timed" if self.timed else "sequential"
        self._feed_tokens(enc.encode_piece(primer, representation=rep))
        self.clock = _Silence(primer)
        self.voices = _Voices(primer, voices) if (voices and not self.timed) else None
        self.copy = getattr(model, "copy", None) if not self.timed else None
        self.strength = min(max(float(repeat), 0.0), 1.0) if self.copy is not None else 0.0
        self.tracker = Tracker() if self.strength > 0 else None
        if self.tracker is not None:
            for ev in primer:
                self.tracker.push(enc.event_key(ev))
        self.steps = np.arange(enc.MAX_DUR_K + 1)
        #: (origin, bar) in :meth:`now`'s time: melody notes and rests end by the next bar line
        #: (the metre the user asked for, :func:`_strains`); None = only a boundary limits them
        self.bar_lines: Optional[tuple[float, float]] = None

    def _step(self, tok: int, need: bool = True) -> None:
        """Feed one sub-token; ``need=False``: another one follows before anything is sampled,
        so its logits are not computed."""
        self.pos = enc.next_pos(tok, self.pos, self.timed)
        self.logits, self.state = self.lstm.step(tok, self.state, self.pos, self.cond, self.ptr_scale, need)
        if self.ustate is not None:
            u, self.ustate = self.lstm.step(tok, self.ustate, self.pos, 0, self.ptr_scale, need)
            if need:
                self.logits = u + self.guidance * (self.logits - u)  # masks (-1e4) stay masked for g >= 0
        if need and self.key_bias is not None:
            lg = self.logits = np.array(self.logits, dtype=np.float32)
            seg = lg[enc.P0 : enc.P0 + 128]
            m = float(seg.max())
            before = m + np.log(np.exp(seg - m).sum())
            seg = seg + self.key_bias
            m = float(seg.max())
            lg[enc.P0 : enc.P0 + 128] = seg - (m + np.log(np.exp(seg - m).sum())) + before

    def _feed_tokens(self, toks) -> None:
        toks = list(toks)
        for i, tok in enumerate(toks):
            self._step(tok, need=i == len(toks) - 1)

    def _snapshot(self):
        return self.logits, self.state, self.pos, self.ustate

    def _restore(self, snap) -> None:
        self.logits, self.state, self.pos, self.ustate = snap

    def checkpoint(self):
        """Everything a later :meth:`rewind` needs to go back here (the random generator goes
        on: a passage written again from a checkpoint comes out different)."""
        tr = self.tracker.copy() if self.tracker is not None else None
        return self._snapshot(), copy.copy(self.clock), copy.copy(self.voices), tr

    def rewind(self, cp) -> None:
        """Back to checkpoint ``cp``, which stays valid (its parts are copied, not taken)."""
        snap, clock, voices, tr = cp
        self._restore(snap)
        self.clock, self.voices = copy.copy(clock), copy.copy(voices)
        self.tracker = tr.copy() if tr is not None else None

    def now(self) -> float:
        """Where the next event of the tune starts (quarters; the melody's time with voices)."""
        if self.voices is not None:
            return self.voices.mel_end / enc.DUR_STEPS
        return self.clock.cursor

    def last_onset(self) -> float:
        return self.voices.prev / enc.DUR_STEPS if self.voices is not None else self.clock.last

    def _out(self, ev):
        """What the caller gets: the event, placed by the voices when they are on."""
        self.clock.push(tuple(ev[:3]) if not self.timed else ev)
        return self.voices.place(ev) if self.voices is not None else ev

    def feed(self, ev, original: bool = True):
        """Teach the model one event as if it had sampled it (``original=False``: a repeat,
        which the self-copy does not copy again). Returns it as :meth:`sample` would."""
        toks = enc.encode_event(ev)
        if toks is None:
            return None
        if self.timed:
            toks = [enc.DT0 + (enc.dt_index(ev) or 0)] + toks
        self._feed_tokens(toks)
        if self.tracker is not None:
            self.tracker.push(enc.event_key(ev), original=original)
        return self._out(ev)

    def _make(self, pitches, k, dt_steps):
        ev = _make_event(tuple(pitches), k)
        if self.timed:
            ev = ev + (enc.dur_string(dt_steps or 0),)
        return ev

    def _limit(self, onset: float, boundary: float) -> float:
        """Where a melody note or rest that starts at ``onset`` must end by: ``boundary``, or
        the next bar line before it when :attr:`bar_lines` is set."""
        if self.bar_lines is None:
            return boundary
        origin, bar = self.bar_lines
        nxt = origin + (np.floor((onset - origin) / bar + 1e-9) + 1.0) * bar
        return min(boundary, float(nxt))

    def sample(self, boundary: Optional[float] = None, at: Optional[float] = None,
               close: Optional[int] = None):
        """The next event (appended to the model's context), or None when ``boundary``
        (quarters from the start, in :meth:`now`'s time) is given and the next event would
        start at or after it (the model's context is then left as it was; with voices one chord
        under the last melody note may still come). With a boundary, notes and rests of the
        melody end within it (a strain ends exactly there), and with :attr:`bar_lines` within
        their bar (sequential models; a copied event that would cross a bar line is left to the
        network). ``at`` (timed models): the event
        starts there (its onset step is not sampled), e.g. a new strain on its first beat.
        ``close`` (a pitch class; sequential models with a boundary): the event is one note of
        that pitch class, the one nearest the melody's last note, held to the boundary, not
        copied."""
        eps = 1e-9
        clock, timed, voices = self.clock, self.timed, self.voices
        chord_only = False  # voices at the boundary: only the last note's chord may still come
        if boundary is not None and not timed:
            if self.now() >= boundary - eps:
                if voices is None:
                    return None
                chord_only = True
        if chord_only and (self.melody_only or self.clock.chord):
            return None  # only a chord under the last note could still come (one: it has come)
        tracker = self.tracker
        if close is not None and (timed or boundary is None or chord_only):
            close = None
        if tracker is not None and not (timed and at is not None) and close is None:
            L, ids, p = tracker.distribution(self.copy.beta, originals_only=True)
            lam = self.strength * self.copy.lam_for(L)
            temperature = self.temperature
            take = (lam > 0.5) if temperature <= 0 else (lam > 0 and self.rng.random() < lam)
            if take and ids.size:
                if temperature <= 0:
                    pick = int(ids[int(np.argmax(p))])
                else:
                    q = p ** (1.0 / max(temperature, 1e-4))
                    pick = int(ids[int(self.rng.choice(ids.size, p=q / q.sum()))])
                key = tracker.keys[pick]
                if key is not None and self.limit is not None and not key[0] \
                        and clock.silence() + key[1] / enc.DUR_STEPS > self.limit + eps:
                    key = None  # a copied rest would go past the silence limit: let the LSTM choose
                if key is not None and boundary is not None:
                    melody = voices.is_melody(len(key[0])) if voices is not None else True
                    if chord_only and melody:
                        return None
                    if melody and self.now() + key[1] / enc.DUR_STEPS > self._limit(self.now(), boundary) + eps:
                        key = None  # it would run past the end of the strain (or its bar)
                    elif not melody and self.bar_lines is not None and voices is not None and \
                            voices.prev / enc.DUR_STEPS + key[1] / enc.DUR_STEPS > \
                            self._limit(voices.prev / enc.DUR_STEPS, np.inf) + eps:
                        key = None  # a chord that would sound past its bar line
                if key is not None:
                    pitches, k = key
                    self._feed_tokens(enc.key_tokens(key))
                    tracker.push(key, original=False)
                    return self._out(self._make(pitches, k, None))
        snap = self._snapshot()
        cur: list[int] = []
        dt_steps: Optional[int] = None
        onset = self.now()
        tries = 0  # melody only: chords drawn and thrown away (then a chord's first note is closed)
        while True:
            lg = self.logits
            n_pitch = sum(1 for t in cur if enc.P0 <= t < enc.REST)
            if self.range_mask is not None:
                lg = lg + self.range_mask[: lg.shape[0]]
            most = 1 if (self.melody_only and tries >= _CHORD_TRIES) else 11
            if n_pitch >= most and cur[-1] < enc.REST:  # close a (too long) chord with a duration
                lg = lg.copy()
                lg[: enc.D0] = -1e9
                lg[enc.DT0:] = -1e9
            if self.limit is not None:
                lg = _mask_silence(lg, cur, clock, self.limit, timed, dt_steps, self.steps, eps)
            if boundary is not None and cur and (not timed or len(cur) >= 2) and not chord_only \
                    and (voices is None or voices.is_melody(n_pitch)):
                room = int(round((self._limit(onset, boundary) - onset) * enc.DUR_STEPS))  # no bar lines when timed
                if 1 <= room < enc.MAX_DUR_K:  # melody durations that end within the strain (and bar)
                    lg = _cap_duration(lg, room, hold=self.bar_lines is not None)
                if room >= 1:  # and move on: a line of zero-length notes would never reach the end
                    lg = lg.copy()
                    lg[enc.D0] = -1e9
            if self.bar_lines is not None and not timed and voices is not None and voices.mode == "melody" \
                    and n_pitch >= 2 and cur[-1] < enc.REST:  # a chord (under the last note) ends by its bar line
                c_on = voices.prev / enc.DUR_STEPS
                room = int(round((self._limit(c_on, np.inf) - c_on) * enc.DUR_STEPS))
                if 1 <= room < enc.MAX_DUR_K:
                    lg = _cap_duration(lg, room, hold=True)
            if close is not None:  # the strain's last note: the pitch class given, held to the end
                room = int(round((boundary - onset) * enc.DUR_STEPS))
                lg = lg.copy()
                if not cur:  # the tonic nearest the melody's last note (the net's choice when two are)
                    pc = (np.arange(128) - int(close)) % 12
                    bad = pc != 0
                    if clock.pitch is not None:
                        dist = np.abs(np.arange(128) - clock.pitch)
                        bad |= dist > dist[~bad].min()
                    lg[enc.P0 : enc.P0 + 128][bad] = -1e9
                    lg[: enc.P0] = -1e9
                    lg[enc.REST :] = -1e9
                elif 1 <= room <= enc.MAX_DUR_K:
                    keep = lg[enc.D0 + room]
                    lg[:] = -1e9
                    lg[enc.D0 + room] = keep
            if timed and not cur and at is not None:
                tok = enc.DT0 + int(min(max(round((at - clock.last) * enc.DUR_STEPS), 0), enc.MAX_DUR_K))
            else:
                tok = _np_filter_sample(lg, self.temperature, self.top_k, self.top_p, self.rng)
            if timed and tok >= enc.DT0:
                dt_steps = tok - enc.DT0
                onset = clock.last + dt_steps / enc.DUR_STEPS
                if boundary is not None and onset >= boundary - eps:
                    return None  # the next strain starts here; nothing was fed
            if chord_only and enc.is_dur(tok) and voices.is_melody(n_pitch):
                self._restore(snap)  # a melody event: it belongs to the next strain
                return None
            cur.append(tok)
            self._step(tok)
            if enc.is_dur(tok):
                pitches, k = enc.decode_event(cur)
                if self.melody_only and len(pitches) >= 2 and tries < _CHORD_TRIES:
                    # draw again from where the event began: an event of one pitch or a rest, as
                    # the net would write it (a chord cut to its first, lowest, note is a bass note)
                    self._restore(snap)
                    cur, dt_steps, onset, tries = [], None, self.now(), tries + 1
                    continue
                ev = self._make(pitches, k, dt_steps)
                if tracker is not None:
                    tracker.push(enc.event_key(ev))
                return self._out(ev)


FORMS = ("free", "aabb")


def check_form(form) -> str:
    """A form name (:data:`FORMS`, case-insensitive; None = free) or a clear error."""
    f = "free" if form is None else str(form).strip().lower()
    if f not in FORMS:
        raise MusiclabError(f"Unknown form '{form}': choose {' or '.join(FORMS)}.")
    return f


def _bar_quarters(events) -> float:
    """Quarters per bar of ``events`` as the MIDI writer will judge their metre (4/4: 4, 3/4
    and 6/8: 3)."""
    try:
        from .midifile import estimate_time_signature

        num, den = estimate_time_signature(events_to_notes(events))
        q = num * 4.0 / den
        return q if q > 0 else 4.0
    except Exception:  # no metre estimate: common time
        return 4.0


def _generate_event_np(model, primer, length, temperature, top_k, top_p, seed, should_stop, on_progress,
                       repeat: float = 1.0, limit: Optional[float] = None, form: str = "free",
                       strain_bars: int = 8, voices: Optional[str] = "melody", condition: int = 0,
                       guidance: float = 1.0, pointer: float = 1.0, bar: Optional[float] = None,
                       cadence: bool = True):
    s = _EventSampler(model, primer, temperature, top_k, top_p, seed, repeat, limit, voices=voices,
                      condition=condition, guidance=guidance, pointer=pointer)
    out: list = []

    def push(ev):
        out.append(ev)
        if len(out) % 50 == 0:
            check_stop(should_stop)
            report(on_progress, len(out), length, "generating")

    if form == "free":
        grid = np.inf if (bar and not s.timed) else None
        if grid is not None:  # the metre asked for: no note, rest or chord across its bar lines
            s.bar_lines = (0.0, float(bar))
        while len(out) < length:
            push(s.sample(boundary=grid))
        return out
    tonic = None
    if s.voices is not None and s.voices.mode == "melody":  # a tune: its strains close on the tonic
        def tonic(events):
            return tune_tonic(model, s.cond, events)
    ended = _strains(s, primer, out, push, length, strain_bars, bar, tonic=tonic if cadence else None)
    if ended is None or s.voices is None:
        return out
    # the bar line the MIDI writer will draw: the metre asked for, else its estimate of the whole
    # tune (which may differ from the first strain's: 8 bars of 3/4 are 6 of 4/4)
    written = bar or _bar_quarters(list(primer) + out)
    return _end_tune(out, primer, ended[0], written, hold=s.voices.mode == "melody")


def _end_tune(out: list, primer, end: float, bar: float, hold: bool = True) -> list:
    """``out`` (placed events after ``primer``) ending on a bar line: with ``hold`` (a melody
    with chords), the last melody note (and the chord under it) held to the first bar line at
    or after ``end`` (a tune that began with a pickup ends with a bar that the pickup did not
    fill, so its last note is held through it, as the corpus's tunes are written); every note
    cut there (a chord would ring on)."""
    times = onsets(list(primer) + out)[len(primer):]
    stop = float(np.ceil((end - 1e-9) / bar) * bar) if bar > 0 else end
    last = next((i for i in range(len(out) - 1, -1, -1) if len(out[i][0]) == 1), None) if hold else None
    if last is not None and any(not ev[0] for ev in out[last + 1:]):
        last = None  # the tune ends with a rest: nothing is held
    res = []
    for t, ev in zip(times, out):
        k = int(round(float(Fraction(ev[2])) * enc.DUR_STEPS))
        room = int(round((stop - t) * enc.DUR_STEPS))
        if ev[0] and room > 0 and (room < k or (last is not None and abs(t - times[last]) < 1e-9)):
            ev = _make_event(tuple(ev[0]), min(room, enc.MAX_DUR_K)) + tuple(ev[3:])
        res.append(ev)
    return res


CADENCE_TRIES = 8  # a strain's last bar drawn again at most this often to end on a held tonic


def tune_tonic(model, cond, events) -> tuple[int, str]:
    """(tonic pitch class, mode) of a tune so far: the key asked for (``cond``, score
    conditions), the key signature's two keys told apart by the notes when only the signature
    is asked, else the Krumhansl-Schmuckler estimate of ``events``' notes (duration-weighted)."""
    from .judge import estimate_key
    from .labels import tonic_pc

    key, mode = asked_value(model, cond, "key"), asked_value(model, cond, "mode")
    modes = (mode,) if mode in ("major", "minor") else ("major", "minor")
    if key is not None:
        cands = [(tonic_pc(key, m), m) for m in modes]
    else:
        cands = [(t, m) for m in modes for t in range(12)]
    if len(cands) == 1:
        return cands[0]
    notes = events_to_notes(events)
    if not notes:
        return cands[0]
    t, m, _ = estimate_key(np.array([n[2] for n in notes]), np.array([n[1] for n in notes]), cands)
    return t, m


CADENCE_BEST = 5  # cadence_score of a strain that closes on a held tonic


def cadence_score(strain, tonic: tuple[int, str]) -> int:
    """How a strain (its events) ends, from its last melody note (the last event of one pitch):
    2 × (2 = the tonic, 1 = the third or fifth of the tonic chord, 0 = another note) + 1 when
    it lasts a beat (a quarter) or more, as 92 % of the Nottingham tunes' last notes do; 0 when
    the strain has no such note. :data:`CADENCE_BEST` = a held tonic."""
    t, mode = tonic
    for ev in reversed(strain):
        if len(ev[0]) == 1:
            d = (int(ev[0][0]) - t) % 12
            pitch = 2 if d == 0 else (1 if d in ((4 if mode == "major" else 3), 7) else 0)
            return 2 * pitch + (float(Fraction(ev[2])) >= 1.0 - 1e-9)
    return 0


def _write_strain(s: _EventSampler, primer, out, strain, push, start, end, bar, cap, tonic) -> Optional[float]:
    """Write the rest of a strain that ends at ``end`` (appending to ``out`` and ``strain``);
    with ``tonic`` (see :func:`_strains`), its last bar closes on the tonic. Returns where the
    strain's first event starts (the model's time) when it was written here, else None."""
    eps = 1e-9
    t_first = None
    cp, key, tries, best, marks = None, None, 0, None, []
    while len(out) < cap:
        if tonic is not None and strain:
            if cp is None and s.now() >= end - bar - eps:
                key = tonic(list(primer) + out)  # the last bar starts: where a retry goes back to
                cp = (s.checkpoint(), len(out), len(strain))
            if cp is not None:
                marks.append((s.now(), s.checkpoint(), len(out), len(strain)))
        ev = s.sample(boundary=end, at=start if (s.timed and not strain and out) else None)
        if ev is None:
            if cp is None:
                break
            score = cadence_score(strain, key)
            if score < CADENCE_BEST and (best is None or score > best[0]):
                best = (score, s.checkpoint(), out[cp[1]:], strain[cp[2]:], marks)
            if score < CADENCE_BEST and tries < CADENCE_TRIES:  # the last bar again, from where it began
                s.rewind(cp[0])
                del out[cp[1]:], strain[cp[2]:]
                tries, marks = tries + 1, []
                continue
            if score < CADENCE_BEST:  # no draw closed on a held tonic: the best one, closed by hand
                s.rewind(best[1])
                del out[cp[1]:], strain[cp[2]:]
                out.extend(best[2])
                strain.extend(best[3])
                held = [m for m in best[4] if end - m[0] >= 1.0 - eps]  # a note that can last a beat
                if held:
                    _, mcp, n_out, n_str = held[-1]
                    s.rewind(mcp)
                    del out[n_out:], strain[n_str:]
                    ev = s.sample(boundary=end, close=key[0])
                    while ev is not None and len(out) < cap:  # the tonic, then a chord under it
                        strain.append(ev)
                        push(ev)
                        ev = s.sample(boundary=end)
            break
        if not strain:
            t_first = s.last_onset()
        strain.append(ev)
        push(ev)
    return t_first


def _end_here(n: int, more: float, length: int) -> bool:
    """Whether a tune of ``n`` events should end here rather than after ``more`` events more:
    ``length`` reached, or ending here is nearer to it."""
    return n >= length or n + more - length > length - n


def _strains(s: _EventSampler, primer, out, push, length: int, strain_bars: int,
             bar_hint: Optional[float] = None, tonic=None) -> Optional[tuple[float, float]]:
    """Form "AABB": strains of ``strain_bars`` bars, each written and then played again
    (A A B B C C …), every new strain primed by all that came before. The bar length is the
    metre asked for (``bar_hint``, quarters), else the one the first strain (or the primer)
    shows; a primed generation first completes the
    primer's bar, then the strains start on the bar grid. From scratch, the first strain starts
    with the first note (rests before it, a pickup, are played once).

    With a metre asked for, its bar lines run from the tune's start (where the MIDI file's bars
    are drawn) and no melody note, rest or chord sounds across one: a longer duration the
    network draws is held to the bar line (:func:`_cap_duration`); a pickup and the rest of its
    bar are played once and the first strain starts on the next bar line. (Asked for 3/4, 23 %
    of the notes crossed a bar line, real 3/4 tunes 2 %; a metre reader heard 3/4 in 5 of 10
    tunes, now 10 of 10.) In any form, when the first sound is a chord on the leading rest, the
    first strain's repeats open with that rest too, so their melody keeps the bar grid.

    The tune ends where a strain (or its repeat) ends, at the one nearest ``length`` events (at
    least one strain), never in the middle of a phrase. ``tonic`` (a callable: events
    so far -> (tonic pitch class, mode), see :func:`tune_tonic`; None = no cadences): a
    strain's last bar is drawn again, up to :data:`CADENCE_TRIES` times, until its last melody
    note is the tonic held a beat or more (:func:`cadence_score`); when no draw does, the best
    one is closed by hand: its last note that starts a beat or more before the strain's end
    becomes the tonic nearest the note before it, held to the end. So every strain closes as
    the tunes of the corpus do (the network still writes the bar's approach). Returns where the tune ends (the last
    strain's end, in :meth:`_EventSampler.now`'s time) and the bar, None when it stopped
    elsewhere (the event cap)."""
    bars = max(1, int(strain_bars))
    cap = max(2 * length, length + 256)  # events: chords take no time, so a strain's events are capped
    eps = 1e-9
    strain: list = []
    opening: list = []  # what the first strain's repeat plays before it (see below)
    t0 = 0.0
    if length <= 0:
        return None
    grid = bool(bar_hint) and not s.timed  # the metre the user asked for: its bar lines from the start
    if grid:
        s.bar_lines = (0.0, float(bar_hint))  # no melody note, rest or chord sounds across one
    if primer:
        bar = bar_hint or _bar_quarters(primer)
        start = float(np.ceil((s.now() - eps) / bar) * bar)
        while len(out) < cap:  # the rest of the primer's bar
            ev = s.sample(boundary=start)
            if ev is None:
                break
            push(ev)
    else:
        bar = bar_hint
        lead: list = []
        for _ in range(64):  # leading rests (a pickup): before the first strain
            ev = s.sample(boundary=s._limit(s.now(), np.inf) if grid else None)
            if ev[0]:
                break
            push(ev)
            lead.append(ev)
        start = t0 = s.last_onset()
        push(ev)
        if grid and start > float(np.floor((start + eps) / bar) * bar) + eps:
            # a pickup: it and the rest of its bar are played once, then the strains start on the
            # bar grid (as after a primer)
            start = float(np.ceil((start - eps) / bar) * bar)
            while len(out) < cap:
                ev = s.sample(boundary=start)
                if ev is None:
                    break
                push(ev)
        else:
            strain.append(ev)
            if lead and s.voices is not None and not s.voices.is_melody(len(ev[0])):
                # the first sound is a chord, on the leading rest (a rest on the bar's first beat,
                # not a pickup): the strain's repeats open with that rest too, or their melody
                # would come in that much early, off the bar grid
                opening = [lead[0]]
    n0, strains = len(out) - len(strain), 0  # events before the strains; strains played (repeats too)
    while len(out) < cap:
        if bar is None:  # the first strain: written up to 3 bars of 4/4, then its metre decides
            while len(out) < cap:
                ev = s.sample(boundary=start + 12.0)
                if ev is None:
                    break
                if not strain:
                    t0 = s.last_onset()
                strain.append(ev)
                push(ev)
            bar = _bar_quarters(strain)
        end = start + bars * bar
        t_first = _write_strain(s, primer, out, strain, push, start, end, bar, cap, tonic)
        t0 = t0 if t_first is None else t_first
        if not strain:  # nothing fits (cannot happen with a working model): go on freely
            while len(out) < length:
                push(s.sample())
            return None
        strains += 1
        if _end_here(len(out), len(strain), length):
            return end, bar
        for ev in opening:
            push(s.feed(ev, original=False))
        opening = []
        for i, ev in enumerate(strain):  # the repeat, a strain later
            if len(out) >= cap:
                return None
            if s.timed and i == 0:
                t = t0 + (end - start)
                ev = ev[:3] + (enc.dur_string(max(0, int(round((t - s.clock.last) * enc.DUR_STEPS)))),)
            push(s.feed(ev, original=False))
        strains += 1
        if _end_here(len(out), (len(out) - n0) / strains, length):  # the next strain: as long as the average
            return end + bars * bar, bar
        start = end + bars * bar
        strain = []
    return None


def _cap_duration(lg, room: int, hold: bool = False):
    """``lg`` (logits of the next sub-token) with no duration longer than ``room`` steps;
    ``hold``: what the longer ones had goes to ``room`` itself (a note or chord the network
    meant to sound on is held to the bar line, not made shorter at random)."""
    lg = lg.copy()
    tail = lg[enc.D0 + room : enc.D0 + enc.MAX_DUR_K + 1]
    if hold:
        top = float(tail.max())
        lg[enc.D0 + room] = top + float(np.log(np.exp(tail - top).sum()))
    lg[enc.D0 + room + 1 : enc.D0 + enc.MAX_DUR_K + 1] = -1e9
    return lg


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


def events_to_midi_bytes(events: list, tempo: float = 120.0, program: int = 0, velocity: int = 90,
                         primer_events: int = 0, name: Optional[str] = None, time_signature=None,
                         key: Optional[str] = None, legato: bool = False) -> bytes:
    """MIDI bytes of ``events`` (:func:`.midifile.write_midi_bytes`: the first ``primer_events``
    are the "primer" track, the rest the continuation track ``name``; tempo, time signature and
    key signature, estimated from the notes when not given)."""
    from .midifile import write_midi_bytes

    return write_midi_bytes(events, tempo=tempo, program=program, velocity=velocity, primer_events=primer_events,
                            name=name, time_signature=time_signature, key=key, legato=legato)


def write_output(events: list, path, tempo: float = 120.0, program: int = 0, primer_events: int = 0,
                 name: Optional[str] = None, time_signature=None, key: Optional[str] = None) -> Path:
    """Write .mid/.midi (:func:`events_to_midi_bytes`), or render .wav/.mp3/.flac/.ogg through
    the SoundFont (both tracks)."""
    import os

    p = Path(path)
    data = events_to_midi_bytes(events, tempo, program, primer_events=primer_events, name=name,
                                time_signature=time_signature, key=key)
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
