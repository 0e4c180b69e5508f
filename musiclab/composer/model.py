"""The networks and their model files.

* ``event-lstm`` (preset ``default``): sub-token embeddings -> 2-layer LSTM with dropout ->
  linear over the factorised vocabulary (see :mod:`.encoding`), logits masked to
  canonical continuations.
* ``event-lstm-v2`` (presets ``default``, ``large``, ``small``): the same, plus the metre: every
  input sub-token also gets two learnt embeddings of the onset of the event being predicted
  (position in a 4-quarter bar and in a 3-quarter bar, 1/12-quarter steps, counted from the
  piece's start), added to the sub-token embedding. ``event-lstm`` files (no metre) still load.
* ``event-lstm-timed`` (preset ``timed``): ``event-lstm-v2`` over the *timed* event
  representation (:mod:`.encoding`: every event also carries its onset relative to the previous
  event, so notes that sound together are written together); ``meta["representation"]`` is
  ``"timed"`` and loading checks it matches the architecture. The other event archs are
  ``"sequential"`` (the seed's: each event starts where the previous one ended).
* **Conditions** (any event arch): a model file whose ``meta["conditions"]`` names a
  vocabulary of conditions (e.g. ``["Q1", "Q2", "Q3", "Q4"]``, the EMOPIA mood quadrants;
  ``meta["condition_kind"]`` says what they are, ``"mood"``) has one more learnt embedding,
  ``cond`` (row 0 = no condition, fixed at zero; row ``i`` = ``conditions[i - 1]``), added to
  every step's input. It is zero-initialised (:func:`add_conditions`), so a net given
  conditions computes exactly what it did before, and generating without a condition is the
  unconditioned model. Files without ``conditions`` (folk, jazz) load and run as before.
  **Grouped conditions** (``meta["condition_kind"]`` ``"score"``): names ``group:value``
  (``style:oneills``, ``key:G``, ``mode:minor``, ``metre:6/8``; :mod:`.labels`); a piece
  gives at most one of each group, and the input is the sum of their embeddings (``cond``
  of shape (B, T, G), 0 = that group not given).
* ``event-lstm-ptr`` (preset ``pointer``): ``event-lstm-v2`` plus a learnt **pointer** over the
  piece's own past (:class:`PointerLSTM`): at every step a query from the top LSTM layer is
  matched against a key of every earlier position of the same piece (at most ``memory``
  sub-tokens back; cosine similarity of projections, a learnt temperature); the softmax over
  those positions votes for the sub-token that *followed*
  each of them, and a learnt gate mixes that vote with the LSTM's softmax:
  ``p = g p_lstm + (1 - g) p_ptr``. So the network itself can copy a strain it has heard
  (the hand-fitted self-copy mixture of :mod:`.selfcopy` stays a separate, optional layer on
  top). Its forward returns masked log-probabilities (valid logits); its state carries the
  keys (:class:`PtrState`). :func:`to_pointer` turns a sequential model into one with the same
  LSTM weights and a new pointer (query and key projections starting equal, gate half open).
* ``seed-lstm`` (preset ``seed``): the seed study's network for comparison: one scalar per
  step (token index / vocabulary size), LSTM 512 -> 1024 -> 1024, batch norm, dropout 0.3,
  dense 512 + ReLU, batch norm, dropout, softmax over the seed's tokens.

torch is imported lazily; import this module only where torch is fine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from ..errors import ModelFileError, MusiclabError
from ..models import load_model_file, load_state_checked, make_meta, resolve_model, save_model
from . import encoding as enc
from .selfcopy import CopyParams

KIND = "composer"
ARCHS = ("event-lstm", "event-lstm-v2", "event-lstm-timed", "event-lstm-ptr", "seed-lstm")
EVENT_ARCHS = enc.EVENT_ARCHS
SEQUENTIAL_ARCHS = enc.SEQUENTIAL_ARCHS


def arch_representation(arch: str) -> str:
    """The event representation an architecture reads and writes."""
    return "timed" if arch == "event-lstm-timed" else "sequential"

PRESETS = {
    "default": {"arch": "event-lstm-v2", "emb": 128, "hidden": 256, "layers": 2, "dropout": 0.3},
    "large": {"arch": "event-lstm-v2", "emb": 192, "hidden": 384, "layers": 2, "dropout": 0.3},
    "small": {"arch": "event-lstm-v2", "emb": 64, "hidden": 128, "layers": 2, "dropout": 0.2},
    "pointer": {"arch": "event-lstm-ptr", "emb": 128, "hidden": 256, "layers": 2, "dropout": 0.3,
                "ptr_dim": 64, "memory": 1024},
    "timed": {"arch": "event-lstm-timed", "emb": 128, "hidden": 256, "layers": 2, "dropout": 0.3},
    "timed-small": {"arch": "event-lstm-timed", "emb": 64, "hidden": 128, "layers": 2, "dropout": 0.2},
    "default-v1": {"arch": "event-lstm", "emb": 128, "hidden": 256, "layers": 2, "dropout": 0.3},
    "seed": {"arch": "seed-lstm"},
}


class EventLSTM(nn.Module):
    def __init__(self, vocab: int = enc.VOCAB, emb: int = 128, hidden: int = 384, layers: int = 2,
                 dropout: float = 0.3, metre: bool = False, representation: str = "sequential",
                 conditions: int = 0):
        super().__init__()
        self.conditions = int(conditions)
        self.vocab, self.hidden, self.layers, self.metre = vocab, hidden, layers, metre
        self.representation = representation
        self.timed = representation == "timed"
        self.emb = nn.Embedding(vocab, emb)
        if metre:
            # zero-initialised: a v2 net starts as the v1 net with the same weights
            self.pos4 = nn.Embedding(enc.BAR4, emb)
            self.pos3 = nn.Embedding(enc.BAR3, emb)
            nn.init.zeros_(self.pos4.weight)
            nn.init.zeros_(self.pos3.weight)
        if self.conditions:
            # row 0 = no condition (kept at zero); zero-initialised: the net starts unconditioned
            self.cond = nn.Embedding(self.conditions + 1, emb, padding_idx=0)
            nn.init.zeros_(self.cond.weight)
        self.lstm = nn.LSTM(emb, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, vocab)
        mask = torch.zeros(vocab, vocab)
        mask[~torch.from_numpy(enc.allowed_matrix(representation))] = -1e4
        self.register_buffer("mask", mask, persistent=False)

    def positions(self, x):
        """Metrical positions of a (B, T) batch that starts at a piece start (``BOS``)."""
        return torch.tensor([enc.positions(row, timed=self.timed) for row in x.tolist()],
                            dtype=torch.long).reshape(x.shape)

    def embed(self, x, pos=None, cond=None):
        """Input vectors (no dropout). ``pos``: (B, T) positions (:func:`.encoding.positions`);
        None = computed from ``x`` as if it started a piece. ``cond``: condition ids (0 = none),
        an int, (B,) or (B, T); None = no condition."""
        e = self.emb(x)
        if self.metre:
            if pos is None:
                pos = self.positions(x)
            e = e + self.pos4(pos % enc.BAR4) + self.pos3(pos % enc.BAR3)
        if cond is not None and self.conditions:
            c = torch.as_tensor(cond, dtype=torch.long)
            if c.dim() == 0:
                c = c.expand(x.shape[0])
            if c.dim() == 1:
                c = c.unsqueeze(1).expand(x.shape)
            e = e + (self.cond(c).sum(-2) if c.dim() == 3 else self.cond(c))  # (B, T, G): one id per group
        return e

    def forward(self, x, state=None, pos=None, cond=None):
        """x: (B, T) sub-token ids -> masked logits (B, T, V), new state. ``pos``: see :meth:`embed`
        (needed by metre nets whenever ``x`` does not start at a piece start); ``cond``: the
        condition ids (:meth:`embed`)."""
        e = self.drop(self.embed(x, pos, cond))
        y, state = self.lstm(e, state)
        logits = self.out(self.drop(y)) + self.mask[x]
        return logits, state


@dataclass
class PtrState:
    """The state of a :class:`PointerLSTM` between calls, for B rows: the LSTM's ``h``/``c``
    (layers, B, H) and the pointer's memory: keys ``K`` (B, M, d) of earlier positions whose
    next sub-token ``V`` (B, M) is known, their piece ids ``P`` and absolute positions ``Q``
    (B, M; ``P`` = -1: empty slot); the key ``kp`` (B, d) of the last position (its next
    sub-token is the next input), with its piece id ``pp`` and position ``qp`` (B,)."""

    h: torch.Tensor
    c: torch.Tensor
    K: torch.Tensor
    V: torch.Tensor
    P: torch.Tensor
    Q: torch.Tensor
    kp: torch.Tensor
    pp: torch.Tensor
    qp: torch.Tensor

    def detach(self) -> "PtrState":
        return PtrState(*(t.detach() for t in self._fields()))

    def rows(self, idx) -> "PtrState":
        """The state of rows ``idx`` (a 1-D index tensor; rows may repeat)."""
        idx = torch.as_tensor(idx, dtype=torch.long)
        return PtrState(self.h[:, idx].contiguous(), self.c[:, idx].contiguous(), self.K[idx], self.V[idx],
                        self.P[idx], self.Q[idx], self.kp[idx], self.pp[idx], self.qp[idx])

    def _fields(self):
        return (self.h, self.c, self.K, self.V, self.P, self.Q, self.kp, self.pp, self.qp)


def state_rows(state, idx):
    """Rows ``idx`` of an event net's state: an LSTM's ``(h, c)`` or a :class:`PtrState`."""
    if isinstance(state, PtrState):
        return state.rows(idx)
    idx = torch.as_tensor(idx, dtype=torch.long)
    return state[0][:, idx].contiguous(), state[1][:, idx].contiguous()


class PointerLSTM(EventLSTM):
    """:class:`EventLSTM` (with metre) plus a pointer over the piece's past (module doc)."""

    def __init__(self, vocab: int = enc.VOCAB, emb: int = 128, hidden: int = 256, layers: int = 2,
                 dropout: float = 0.3, conditions: int = 0, ptr_dim: int = 64, memory: int = 1024):
        super().__init__(vocab, emb, hidden, layers, dropout, metre=True, representation="sequential",
                         conditions=conditions)
        self.ptr_dim, self.memory = int(ptr_dim), int(memory)
        self.wq = nn.Linear(hidden, self.ptr_dim)
        self.wk = nn.Linear(hidden, self.ptr_dim)
        self.gate = nn.Linear(hidden, 1)
        self.log_tau = nn.Parameter(torch.tensor(math.log(20.0)))
        # cosine attention between projections of the LSTM's top-layer output, the query and key
        # projections starting equal (a random orthogonal one): at the start the pointer already
        # looks for the earlier moments whose context was most like the present one (on folk's
        # LSTM that alone picks the right next sub-token 80 % of the time); the gate starts half open
        nn.init.orthogonal_(self.wk.weight, generator=torch.Generator().manual_seed(0))  # reproducible
        with torch.no_grad():
            self.wq.weight.copy_(self.wk.weight)
        nn.init.zeros_(self.wq.bias)
        nn.init.zeros_(self.wk.bias)
        nn.init.zeros_(self.gate.weight)
        nn.init.zeros_(self.gate.bias)

    def empty_state(self, batch: int) -> PtrState:
        L, H, d = self.layers, self.hidden, self.ptr_dim
        z = torch.zeros(batch, dtype=torch.long)
        return PtrState(torch.zeros(L, batch, H), torch.zeros(L, batch, H), torch.zeros(batch, 0, d),
                        torch.zeros(batch, 0, dtype=torch.long), torch.zeros(batch, 0, dtype=torch.long),
                        torch.zeros(batch, 0, dtype=torch.long), torch.zeros(batch, d), z - 1, z - 1)

    def forward(self, x, state=None, pos=None, cond=None):
        """x: (B, T) -> masked log-probabilities (B, T, V) of the next sub-token, new
        :class:`PtrState` (``state``: a :class:`PtrState`, or None at piece starts)."""
        B, T = x.shape
        if state is None:
            state = self.empty_state(B)
        e = self.drop(self.embed(x, pos, cond))
        y, (h, c) = self.lstm(e, (state.h, state.c))
        yd = self.drop(y)
        mask = self.mask[x]
        logits = self.out(yd) + mask
        q = nn.functional.normalize(self.wq(yd), dim=-1)
        k = nn.functional.normalize(self.wk(yd), dim=-1)
        pid = state.pp.clamp_min(0).unsqueeze(1) + torch.cumsum((x == enc.BOS).long(), 1)  # (B, T)
        qpos = state.qp.unsqueeze(1) + 1 + torch.arange(T).unsqueeze(0)  # absolute positions (B, T)
        # candidates: the carried memory, the pending last position (its next sub-token = x[:, 0]),
        # and this window's positions but the last (their next sub-tokens are inputs here)
        Kc = torch.cat([state.K, state.kp.unsqueeze(1), k[:, :-1]], 1)
        Vc = torch.cat([state.V, x[:, :1], x[:, 1:]], 1)
        Pc = torch.cat([state.P, state.pp.unsqueeze(1), pid[:, :-1]], 1)
        Qc = torch.cat([state.Q, state.qp.unsqueeze(1), qpos[:, :-1]], 1)
        dist = qpos.unsqueeze(2) - Qc.unsqueeze(1)  # (B, T, N): > 0 for earlier positions
        # pid >= 0, so empty slots (piece id -1) never match
        valid = (Pc.unsqueeze(1) == pid.unsqueeze(2)) & (dist > 0) & (dist <= self.memory)
        S = torch.matmul(q, Kc.transpose(1, 2)) * self.log_tau.exp()
        S = S.masked_fill(~valid, -1e9)
        any_valid = valid.any(-1, keepdim=True)
        A = torch.softmax(S, -1) * any_valid
        g = torch.sigmoid(self.gate(yd))
        g = torch.where(any_valid, g, torch.ones_like(g))
        p = g * torch.softmax(logits, -1)
        p = p.scatter_add(2, Vc.unsqueeze(1).expand(B, T, Vc.shape[1]), (1 - g) * A)
        # masked continuations the pointer voted for are dropped: renormalise over the allowed ones
        logp = torch.log_softmax(torch.log(p.clamp_min(1e-30)) + mask, -1)
        # the new memory: every candidate but those out of reach of the next window
        keep = max(0, Kc.shape[1] - self.memory)
        new = PtrState(h, c, Kc[:, keep:], Vc[:, keep:], Pc[:, keep:], Qc[:, keep:], k[:, -1], pid[:, -1],
                       qpos[:, -1])
        return logp, new

    def boundary_states(self, x, pos, bounds, cond=None) -> PtrState:
        """The states after positions ``bounds`` of one piece ``x`` (1, T) that starts at its
        ``BOS`` (what the net would carry had it been run up to each of them), one row each."""
        states = []
        st = None
        at = 0
        for b in bounds:
            _, st = self.forward(x[:, at : b + 1], st, pos[:, at : b + 1], cond)
            states.append(st)
            at = b + 1
        N, M = len(states), max(s.K.shape[1] for s in states)
        d = self.ptr_dim

        def pad(t, fill, shape):  # empty slots first: the memory's truncation drops them before real keys
            out = torch.full((1,) + shape, fill, dtype=t.dtype)
            if t.shape[1]:
                out[:, shape[0] - t.shape[1] :] = t
            return out

        K = torch.cat([pad(s.K, 0.0, (M, d)) for s in states])
        V = torch.cat([pad(s.V, 0, (M,)) for s in states])
        P = torch.cat([pad(s.P, -1, (M,)) for s in states])
        Q = torch.cat([pad(s.Q, 0, (M,)) for s in states])
        return PtrState(torch.cat([s.h for s in states], 1), torch.cat([s.c for s in states], 1), K, V, P, Q,
                        torch.cat([s.kp for s in states]), torch.cat([s.pp for s in states]),
                        torch.cat([s.qp for s in states]))


class SeedLSTM(nn.Module):
    """The seed's architecture, applied at every step (many-to-many)."""

    def __init__(self, vocab: int):
        super().__init__()
        self.vocab = vocab  # number of input ids (tokens + BOS + UNK)
        self.l1 = nn.LSTM(1, 512, batch_first=True)
        self.l2 = nn.LSTM(512, 1024, batch_first=True)
        self.l3 = nn.LSTM(1024, 1024, batch_first=True)
        self.rdrop = nn.Dropout(0.3)
        self.bn1 = nn.BatchNorm1d(1024)
        self.d1 = nn.Linear(1024, 512)
        self.bn2 = nn.BatchNorm1d(512)
        self.drop = nn.Dropout(0.3)
        self.out = nn.Linear(512, vocab)

    def forward(self, x, state=None):
        s1, s2, s3 = state if state is not None else (None, None, None)
        v = (x.float() / self.vocab).unsqueeze(-1)
        y, s1 = self.l1(v, s1)
        y, s2 = self.l2(self.rdrop(y), s2)
        y, s3 = self.l3(y, s3)
        b, t, h = y.shape
        z = self.drop(self.bn1(y.reshape(b * t, h)))
        z = self.drop(self.bn2(torch.relu(self.d1(z))))
        return self.out(z).reshape(b, t, -1), (s1, s2, s3)


@dataclass
class ComposerModel:
    """A loaded composer model: network + what eval and the copy metric need."""

    net: nn.Module
    meta: dict
    path: Optional[Path] = None
    seed_vocab: list = field(default_factory=list)  # seed-lstm: token strings (ids offset by 2)
    trigram: Optional[dict] = None
    ngram_hashes: Optional[np.ndarray] = None  # sorted uint32 hashes of training 8-grams
    extra: dict = field(default_factory=dict)
    copy: Optional[CopyParams] = None  # the self-copy mixture (:mod:`.selfcopy`), if fitted

    def set_copy(self, params: Optional[CopyParams], **info) -> None:
        """Attach (or with None remove) the copy mixture; ``info`` is stored beside it."""
        self.copy = params
        if params is None:
            self.meta.pop("copy", None)
        else:
            self.meta["copy"] = params.to_meta(**info)

    @property
    def arch(self) -> str:
        return self.meta["arch"]

    @property
    def representation(self) -> str:
        """``"timed"`` (events carry onsets) or ``"sequential"`` (the seed's)."""
        return arch_representation(self.meta["arch"])

    @property
    def name(self) -> str:
        return self.path.stem if self.path else "untitled"

    @property
    def conditions(self) -> list:
        """The condition names the net takes (``meta["conditions"]``; empty: none)."""
        return list(self.meta.get("conditions") or [])

    @property
    def condition_kind(self) -> str:
        return str(self.meta.get("condition_kind") or "condition")

    @property
    def condition_groups(self) -> list:
        """The groups of the net's conditions in order (:func:`.labels.group_of`): ``[""]`` for
        ungrouped ones (the mood quadrants), e.g. ``["style", "key", "mode", "metre"]``."""
        from .labels import groups_of

        return groups_of(self.conditions)

    def condition_values(self, group: str) -> list:
        """The values the net knows for ``group`` (``"key"`` -> ``["C", "Db", ...]``)."""
        from .labels import group_of, value_of

        return [value_of(c) for c in self.conditions if group_of(c) == group]

    def condition_ids(self, spec) -> tuple:
        """One id per condition group (0 = not given) for ``spec``: None, a name, a list of
        names or a ``{group: value}`` dict (values may be None); at most one name per group."""
        from .labels import group_of

        groups = self.condition_groups
        out = [0] * len(groups)
        if spec is None or spec == "":
            return tuple(out)
        if isinstance(spec, dict):
            names = [f"{g}:{v}" if g else str(v) for g, v in spec.items() if v not in (None, "")]
        elif isinstance(spec, str):
            names = [spec]
        else:
            names = [n for n in spec if n not in (None, "")]
        for n in names:
            i = self.condition_id(n)
            g = groups.index(group_of(self.conditions[i - 1]))
            if out[g]:
                raise MusiclabError(f"Model '{self.name}': two conditions of one group asked for "
                                    f"({self.conditions[out[g] - 1]!r}, {self.conditions[i - 1]!r}).")
            out[g] = i
        return tuple(out)

    def condition_id(self, name: Optional[str]) -> int:
        """The net's id of condition ``name`` (0 for None = unconditioned), or a clear error."""
        if name is None or name == "":
            return 0
        conds = self.conditions
        if not conds:
            raise MusiclabError(f"Model '{self.name}' takes no {self.condition_kind} input: choose a model "
                                f"trained with one (e.g. emopia), or no {self.condition_kind}.")
        key = str(name).strip()
        for i, c in enumerate(conds):
            if c.lower() == key.lower():
                return i + 1
        raise MusiclabError(f"Model '{self.name}' knows no {self.condition_kind} {name!r} "
                            f"(choose {', '.join(conds)}).")


MAX_CONDITIONS = 64


def check_conditions(conds, filename: str = "model", arch: Optional[str] = None) -> list:
    """A model file's ``meta["conditions"]`` validated: None -> []; else a list of 1 to
    :data:`MAX_CONDITIONS` distinct non-empty strings (event archs only), or ModelFileError."""
    if conds is None:
        return []
    if not isinstance(conds, (list, tuple)) or not conds or len(conds) > MAX_CONDITIONS:
        raise ModelFileError(f"'{filename}' has invalid conditions metadata (a list of 1-{MAX_CONDITIONS} names "
                             f"expected, found {type(conds).__name__}).")
    if not all(isinstance(c, str) and c.strip() and len(c) <= 40 for c in conds):
        raise ModelFileError(f"'{filename}' has invalid condition names {list(conds)!r}.")
    if len({c.lower() for c in conds}) != len(conds):
        raise ModelFileError(f"'{filename}' names a condition twice ({list(conds)!r}).")
    if arch is not None and arch not in EVENT_ARCHS:
        raise ModelFileError(f"'{filename}': conditions need an event model, not {arch!r}.")
    return list(conds)


def build_net(hp: dict, seed_vocab_size: int = 0, conditions: int = 0) -> nn.Module:
    if hp["arch"] == "event-lstm-ptr":
        ptr_dim, memory = int(hp["ptr_dim"]), int(hp["memory"])
        if not (1 <= ptr_dim <= 1024 and 1 <= memory <= 100_000):
            raise ModelFileError(f"Pointer sizes out of range (ptr_dim {ptr_dim}, memory {memory}).")
        return PointerLSTM(enc.VOCAB, hp["emb"], hp["hidden"], hp["layers"], hp["dropout"], conditions=conditions,
                           ptr_dim=ptr_dim, memory=memory)
    if hp["arch"] in EVENT_ARCHS:
        rep = arch_representation(hp["arch"])
        return EventLSTM(enc.vocab_size(rep), hp["emb"], hp["hidden"], hp["layers"], hp["dropout"],
                         metre=hp["arch"] in ("event-lstm-v2", "event-lstm-timed"), representation=rep,
                         conditions=conditions)
    if conditions:
        raise ModelFileError(f"Conditions need an event model, not {hp['arch']!r}.")
    if hp["arch"] == "seed-lstm":
        return SeedLSTM(seed_vocab_size + 2)
    raise ModelFileError(f"Unknown composer architecture {hp['arch']!r}.")


def model_to_dict(model: ComposerModel, half: bool = True, train_state: Optional[dict] = None) -> dict:
    sd = {k: (v.half() if half and v.is_floating_point() else v).clone() for k, v in model.net.state_dict().items()}
    obj: dict[str, Any] = {"meta": model.meta, "state_dict": sd}
    if model.seed_vocab:
        obj["seed_vocab"] = list(model.seed_vocab)
    if model.trigram is not None:
        obj["trigram"] = model.trigram
    if model.ngram_hashes is not None:
        obj["ngram_hashes"] = torch.from_numpy(model.ngram_hashes.astype(np.int64).astype(np.int32))
    if train_state is not None:
        obj["train_state"] = train_state
    return obj


def save_composer(model: ComposerModel, path, half: bool = True, train_state: Optional[dict] = None) -> Path:
    return save_model(model_to_dict(model, half, train_state), path)


def load_composer(name_or_path: str | Path, with_train_state: bool = False) -> ComposerModel:
    p = resolve_model(KIND, str(name_or_path))
    obj = load_model_file(p, KIND, ARCHS)
    meta = obj["meta"]
    hp = meta.get("hparams")
    if not isinstance(hp, dict) or hp.get("arch") != meta["arch"]:
        raise ModelFileError(f"'{p.name}' has no valid hyper-parameters.")
    rep = meta.get("representation")
    want = arch_representation(meta["arch"]) if meta["arch"] in EVENT_ARCHS else None
    if rep is not None and rep != want:
        raise ModelFileError(f"'{p.name}': its metadata says representation {rep!r}, but {meta['arch']!r} "
                             f"uses {want!r}.")
    seed_vocab = list(obj.get("seed_vocab", []))
    conds = check_conditions(meta.get("conditions"), p.name, meta["arch"])
    try:
        net = build_net(hp, len(seed_vocab), conditions=len(conds))
    except (KeyError, TypeError) as exc:
        raise ModelFileError(f"'{p.name}' has incomplete hyper-parameters ({exc}).") from exc
    sd = {k: (v.float() if v.is_floating_point() else v) for k, v in obj["state_dict"].items()}
    load_state_checked(net, sd, p.name)
    net.eval()
    hashes = obj.get("ngram_hashes")
    m = ComposerModel(
        net=net,
        meta=meta,
        path=p,
        seed_vocab=seed_vocab,
        trigram=obj.get("trigram"),
        ngram_hashes=None if hashes is None else np.sort(hashes.numpy().astype(np.uint32)),
    )
    if meta.get("copy") is not None:
        if hp["arch"] not in EVENT_ARCHS:
            raise ModelFileError(f"'{p.name}': a copy mixture needs an event model, not {hp['arch']!r}.")
        m.copy = CopyParams.from_meta(meta["copy"], p.name)
    check_key_profile(meta, p.name)
    if with_train_state and isinstance(obj.get("train_state"), dict):
        m.extra["train_state"] = obj["train_state"]
    return m


def check_key_profile(meta: dict, filename: str = "model") -> None:
    """A model file's ``key_profile`` (per mode, 12 positive shares: how the training tunes'
    note time falls on the pitch classes above their key signature's major tonic) and
    ``key_bias`` (per mode, how strongly generation leans on it, 0-4) are checked: None is
    fine, anything else malformed is a :class:`ModelFileError`; so is a malformed
    ``style_chords`` (per style, the share of events that are chords) or ``style_range`` (per
    style, the lowest and highest pitch)."""
    chords = meta.get("style_chords")
    if chords is not None and not (isinstance(chords, dict) and all(
            isinstance(k, str) and isinstance(v, (int, float)) and 0 <= v <= 1 for k, v in chords.items())):
        raise ModelFileError(f"'{filename}' has invalid style chord shares (a style -> share from 0 to 1 expected).")
    rng = meta.get("style_range")
    if rng is not None and not (isinstance(rng, dict) and all(
            isinstance(k, str) and isinstance(v, (list, tuple)) and len(v) == 2
            and all(isinstance(x, int) and 0 <= x <= 127 for x in v) and v[0] <= v[1] for k, v in rng.items())):
        raise ModelFileError(f"'{filename}' has invalid style pitch ranges (a style -> [lowest, highest] MIDI "
                             f"pitch expected).")
    prof, bias = meta.get("key_profile"), meta.get("key_bias")
    if prof is not None:
        ok = isinstance(prof, dict) and all(
            m in ("major", "minor") and isinstance(v, (list, tuple)) and len(v) == 12
            and all(isinstance(x, (int, float)) and math.isfinite(x) and x > 0 for x in v)
            for m, v in prof.items())
        if not ok:
            raise ModelFileError(f"'{filename}' has an invalid key profile (per mode, 12 positive numbers expected).")
    if bias is not None:
        ok = isinstance(bias, dict) and all(
            m in ("major", "minor") and isinstance(v, (int, float)) and math.isfinite(v) and 0 <= v <= 4
            for m, v in bias.items())
        if not ok or (bias and prof is None) or any(m not in (prof or {}) for m, v in bias.items() if v):
            raise ModelFileError(f"'{filename}' has an invalid key bias (per mode, 0-4, for a mode its key "
                                 f"profile has).")


def new_model(preset: str, seed_vocab: Optional[list] = None, **meta_extra) -> ComposerModel:
    if preset not in PRESETS:
        raise ModelFileError(f"Unknown preset {preset!r} (choose {', '.join(PRESETS)}).")
    hp = dict(PRESETS[preset])
    sv = list(seed_vocab or [])
    net = build_net(hp, len(sv))
    meta = make_meta(KIND, hp["arch"], hparams=hp, preset=preset, **meta_extra)
    if hp["arch"] in EVENT_ARCHS:
        meta["representation"] = arch_representation(hp["arch"])
    return ComposerModel(net=net, meta=meta, seed_vocab=sv)


def add_conditions(model: ComposerModel, names, kind: str = "mood") -> ComposerModel:
    """The same model with a condition input over ``names`` (zero-initialised, so it computes
    exactly what it did before until trained). A model that already has exactly these
    conditions is returned as it is; other conditions are an error."""
    names = check_conditions(list(names), model.name, model.arch)
    have = model.conditions
    if have:
        if [c.lower() for c in have] != [c.lower() for c in names]:
            raise MusiclabError(f"Model '{model.name}' already has conditions {have}, not {names}.")
        return model
    hp = dict(model.meta["hparams"])
    net = build_net(hp, conditions=len(names))
    missing, unexpected = net.load_state_dict(model.net.state_dict(), strict=False)
    if unexpected or set(missing) - {"cond.weight"}:
        raise ModelFileError(f"cannot add conditions to {model.name!r}: state does not match ({missing}, {unexpected})")
    model.net = net
    model.meta["conditions"] = list(names)
    model.meta["condition_kind"] = str(kind)
    if hasattr(model, "_np_cache"):
        del model._np_cache
    return model


def to_timed(model: ComposerModel) -> ComposerModel:
    """A sequential event model -> ``event-lstm-timed`` with the same sizes and weights: the
    pitch, rest and duration sub-tokens keep their embeddings and output rows, each new onset
    sub-token ``DT0 + k`` (k/12 quarters since the previous onset) starts as a copy of the
    duration sub-token ``D0 + k`` (the same time grid), metre embeddings are kept (zero when
    the model had none), conditions are kept. Fine-tuning then learns the onsets."""
    if model.arch == "event-lstm-timed":
        return model
    if model.arch not in EVENT_ARCHS or model.arch == "event-lstm-ptr":
        raise ModelFileError(f"cannot convert {model.arch!r} to the timed representation")
    hp = dict(model.meta["hparams"], arch="event-lstm-timed")
    net = build_net(hp, conditions=len(model.conditions))
    old = model.net.state_dict()
    new = net.state_dict()
    n_old = old["emb.weight"].shape[0]
    k = enc.MAX_DUR_K + 1
    with torch.no_grad():
        for key, val in old.items():
            if key in ("emb.weight", "out.weight", "out.bias"):
                t = new[key]
                t[:n_old] = val
                t[enc.DT0:enc.DT0 + k] = val[enc.D0:enc.D0 + k]
            elif key in new and new[key].shape == val.shape:
                new[key].copy_(val)
            else:
                raise ModelFileError(f"cannot convert {model.name!r}: {key} does not fit")
    net.load_state_dict(new)
    model.net = net
    model.meta["arch"] = "event-lstm-timed"
    model.meta["hparams"] = hp
    model.meta["representation"] = "timed"
    model.meta["converted_from"] = "sequential"
    model.set_copy(None)  # the copy mixture scores sequential events only
    if hasattr(model, "_np_cache"):
        del model._np_cache
    return model


def to_pointer(model: ComposerModel, ptr_dim: int = 64, memory: int = 1024) -> ComposerModel:
    """A sequential event model -> ``event-lstm-ptr`` with the same LSTM, embeddings, metre and
    output weights (zero metre embeddings for a model without them) and a new pointer
    (:class:`PointerLSTM`'s initialisation: it starts as 0.5 x the LSTM's softmax + 0.5 x a vote
    of the earlier moments most like the present). Conditions are kept; the copy mixture,
    fitted for the old net, is removed (fit it again after fine-tuning)."""
    if model.arch == "event-lstm-ptr":
        return model
    if model.arch not in ("event-lstm", "event-lstm-v2"):
        raise ModelFileError(f"cannot add a pointer to {model.arch!r} (a sequential event model is needed)")
    hp = {k: model.meta["hparams"][k] for k in ("emb", "hidden", "layers", "dropout")}
    hp.update(arch="event-lstm-ptr", ptr_dim=int(ptr_dim), memory=int(memory))
    net = build_net(hp, conditions=len(model.conditions))
    missing, unexpected = net.load_state_dict(model.net.state_dict(), strict=False)
    allowed = {"pos4.weight", "pos3.weight", "wq.weight", "wq.bias", "wk.weight", "wk.bias", "gate.weight",
               "gate.bias", "log_tau"}
    if unexpected or set(missing) - allowed:
        raise ModelFileError(f"cannot add a pointer to {model.name!r}: state does not match ({missing}, {unexpected})")
    net.train(model.net.training)
    model.net = net
    model.meta["converted_from"] = model.meta["arch"]
    model.meta["arch"] = "event-lstm-ptr"
    model.meta["hparams"] = hp
    model.meta["representation"] = "sequential"
    model.set_copy(None)
    if hasattr(model, "_np_cache"):
        del model._np_cache
    return model


def upgrade_to_metre(model: ComposerModel) -> ComposerModel:
    """An ``event-lstm`` model -> ``event-lstm-v2`` with the same weights and zero metre
    embeddings (so it starts out computing exactly what the old one did)."""
    if model.arch != "event-lstm":
        return model
    hp = dict(model.meta["hparams"], arch="event-lstm-v2")
    net = build_net(hp, conditions=len(model.conditions))
    missing, unexpected = net.load_state_dict(model.net.state_dict(), strict=False)
    if unexpected or set(missing) - {"pos4.weight", "pos3.weight"}:
        raise ModelFileError(f"cannot upgrade {model.name!r}: state does not match ({missing}, {unexpected})")
    model.net = net
    model.meta["arch"] = "event-lstm-v2"
    model.meta["hparams"] = hp
    model.meta["upgraded_from"] = "event-lstm"
    return model
