"""Training loop: truncated BPTT over a stream of pieces, transposition augmentation,
early stopping on a validation split by piece, best checkpoint written atomically,
resumable from that checkpoint.

Conditioned models (``meta["conditions"]``, :func:`.model.add_conditions`): every piece's
condition is read from its file name (:func:`piece_condition`: the prefix before the first
``_``, e.g. EMOPIA's ``Q3_…``) and fed with each of its sub-tokens; a share ``cond_dropout``
of the training pieces (drawn anew every epoch) is fed as unconditioned, so generating
without a condition stays the corpus's unconditioned model. Grouped ("score") conditions
(``--conditions score``: style, key signature, mode, metre, :func:`score_conditions`) are
read from what the files say (:mod:`.labels`); each group is left out on its own for a share
``cond_dropout`` of the pieces, and a transposed piece's key moves with it."""

from __future__ import annotations

import datetime as _dt
import math
import random
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import MusiclabError
from ..jobs import OnPartial, OnProgress, ShouldStop, check_stop, report
from . import encoding as enc
from .events import seed_token
from .stream import Stream, draw_shifts, from_pieces, stream_batches


def _stream_event(pieces, rng: Optional[random.Random], representation: str = "sequential") -> list[int]:
    out: list[int] = []
    for p in pieces:
        shift = 0
        if rng is not None:
            ps = [x for e in p.events for x in e[0]]
            if ps:
                lo, hi = max(-5, -min(ps)), min(6, 127 - max(ps))
                if lo <= hi:
                    shift = rng.randint(lo, hi)
        out.extend(enc.encode_piece(p.events, shift, representation))
    return out


def _stream_seed(pieces, index: dict, rng: Optional[random.Random] = None) -> list[int]:
    out: list[int] = []
    for p in pieces:
        out.append(0)
        out.extend(index.get(seed_token(e), 1) for e in p.events)
    return out


_EVENT_ARCHS = enc.EVENT_ARCHS


def _rep(model) -> str:
    return "timed" if model.arch == "event-lstm-timed" else "sequential"


@dataclass(frozen=True)
class LossPoint:
    """What a training loop hands its ``on_partial``: a running training loss (``kind``
    "train", every few steps, at a fractional epoch) or an epoch's validation loss
    (``kind`` "val", with the epoch's full ``record``)."""

    kind: str
    epoch: float
    loss: float
    record: Optional[dict] = None


def _batches(stream: list[int], batch: int, seq_len: int, with_pos: bool = False, timed: bool = False):
    """(x, y) chunks of ``batch`` parallel rows of ``stream``; with ``with_pos`` (x, y, pos)
    where pos are the metrical positions of x (computed over the whole stream)."""
    import torch

    data = torch.tensor(stream, dtype=torch.long)
    posd = torch.tensor(enc.positions(stream, timed=timed), dtype=torch.long) if with_pos else None
    n = (len(data) - 1) // batch
    if n < 2:
        batch = max(1, (len(data) - 1) // max(2, seq_len // 4))
        n = (len(data) - 1) // batch
    x = data[: n * batch].reshape(batch, n)
    y = data[1 : n * batch + 1].reshape(batch, n)
    pos = posd[: n * batch].reshape(batch, n) if with_pos else None
    for s in range(0, n, seq_len):
        if with_pos:
            yield x[:, s : s + seq_len], y[:, s : s + seq_len], pos[:, s : s + seq_len]
        else:
            yield x[:, s : s + seq_len], y[:, s : s + seq_len]


def piece_condition(conditions, name: str) -> int:
    """The condition id (1-based; 0 = none) of a piece named ``name`` for a model whose
    conditions are ``conditions``: the file name's prefix before the first ``_`` (EMOPIA's
    ``Q1_…``..``Q4_…``), matched case-insensitively; 0 when it names none of them."""
    if not conditions:
        return 0
    base = Path(str(name).split("#", 1)[0]).name
    head = base.split("_", 1)[0].strip().lower() if "_" in base else ""
    for i, c in enumerate(conditions):
        if head == str(c).lower():
            return i + 1
    return 0


def is_grouped(conditions) -> bool:
    """Whether condition names are grouped (``group:value``, :mod:`.labels`)."""
    return bool(conditions) and any(":" in str(c) for c in conditions)


def score_conditions(pieces, min_pieces: int = 20) -> list:
    """Grouped condition names for ``pieces`` from their files' own labels
    (:func:`.labels.piece_labels`): every style present, the 12 key signatures (transposition
    moves a piece's key, so all are trained), both modes, and each metre at least
    ``min_pieces`` pieces have."""
    from collections import Counter

    from .labels import MODES, PC_NAMES, piece_labels

    styles, metres = Counter(), Counter()
    for p in pieces:
        lab = piece_labels(p.source, p.name)
        if lab["style"]:
            styles[lab["style"]] += 1
        if lab["metre"]:
            metres[lab["metre"]] += 1
    out = [f"style:{s}" for s in sorted(styles)] + [f"key:{k}" for k in PC_NAMES] + [f"mode:{m}" for m in MODES]
    out += [f"metre:{m}" for m in sorted(metres, key=lambda m: (int(m.split("/")[1]), int(m.split("/")[0])))
            if metres[m] >= min_pieces]
    return out


def piece_condition_ids(conditions, source: str, name: str, shift: int = 0, labels: Optional[dict] = None) -> tuple:
    """One id per condition group (0 = the piece's file does not say, or the net does not know
    the value) of a piece transposed by ``shift`` semitones (its key moves with it)."""
    from .labels import groups_of, piece_labels, shift_key

    lab = labels if labels is not None else piece_labels(source, name)
    index = {c.lower(): i + 1 for i, c in enumerate(conditions)}
    out = []
    for g in groups_of(conditions):
        v = lab.get(g)
        if g == "key":
            v = shift_key(v, shift)
        out.append(index.get(f"{g}:{v}".lower(), 0) if v is not None else 0)
    return tuple(out)


def _cond_batches(batches, stream, ids, batch: int, seq_len: int, rows: Optional[slice] = None):
    """``batches`` (of :func:`.stream.stream_batches` over ``stream``) with one more tensor:
    the condition id of every input sub-token (``ids``: one per stream item, or a tuple of one
    per condition group: then (B, T, G)), cut exactly as the stream is."""
    import torch

    lens = np.diff(stream.starts)
    full = np.repeat(np.asarray(ids, dtype=np.int64), lens, axis=0)
    from .stream import batch_geometry

    batch, n, mine = batch_geometry(len(stream), batch, seq_len, rows)
    for s, b in zip(range(0, n, seq_len), batches):
        w = min(seq_len, n - s)
        c = np.stack([full[r * n + s : r * n + s + w] for r in mine])
        yield (*b, torch.from_numpy(c))


def _detach(state):
    if state is None:
        return None
    if hasattr(state, "detach"):  # a tensor, or a pointer net's state (keys and all)
        return state.detach()
    if isinstance(state, tuple) and len(state) == 2 and hasattr(state[0], "detach"):
        return (state[0].detach(), state[1].detach())
    return tuple(_detach(s) for s in state)


def _targets(y, arch):
    y = y.clone()
    y[y == (enc.BOS if arch in _EVENT_ARCHS else 0)] = -100
    return y


def evaluate_loss(model, pieces, seq_len: int = 256, batch: int = 16, should_stop: ShouldStop = None) -> dict:
    """Mean NLL per predicted sub-token and per event on ``pieces`` (no augmentation)."""
    import torch
    import torch.nn.functional as F

    net = model.net
    net.eval()
    ev = model.arch in _EVENT_ARCHS
    conds = list(model.meta.get("conditions") or []) if ev else []
    if ev:
        items = from_pieces(pieces, _rep(model))
        st = Stream(items, timed=_rep(model) == "timed")
        batches = stream_batches(st, batch, seq_len, with_pos=True)
        if conds:
            ids = ([piece_condition_ids(conds, it.source, it.name) for it in items] if is_grouped(conds)
                   else [piece_condition(conds, it.name) for it in items])
            batches = _cond_batches(batches, st, ids, batch, seq_len)
    else:
        stream = _stream_seed(pieces, {t: i + 2 for i, t in enumerate(model.seed_vocab)})
        batches = _batches(stream, batch, seq_len)
    total = 0.0
    n_tok = n_ev = 0
    state = None
    with torch.inference_mode():
        for x, y, *pos in batches:
            check_stop(should_stop)
            if conds:
                logits, state = net(x, state, pos[0], pos[1])
            else:
                logits, state = net(x, state, pos[0]) if ev else net(x, state)
            t = _targets(y, model.arch)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), t.reshape(-1), ignore_index=-100, reduction="sum")
            total += float(loss)
            n_tok += int((t != -100).sum())
            n_ev += int(((t >= enc.D0) & (t < enc.DT0)).sum()) if ev else int((t != -100).sum())
    return {"loss": total / max(n_tok, 1), "nats_per_event": total / max(n_ev, 1)}


def train_model(
    model,
    train_pieces: list,
    val_pieces: list,
    out_path,
    epochs: int = 20,
    seq_len: int = 128,
    batch: int = 32,
    lr: float = 2e-3,
    augment: bool = True,
    patience: int = 4,
    time_budget: Optional[float] = None,
    history: Optional[list] = None,
    start_epoch: int = 0,
    best_val: float = math.inf,
    seed: int = 0,
    should_stop: ShouldStop = None,
    on_progress: OnProgress = None,
    on_partial: OnPartial = None,
    resume: bool = False,
    max_steps: Optional[int] = None,
    cond_dropout: float = 0.15,
) -> dict:
    """Train ``model`` (a :class:`~.model.ComposerModel`) in place; the best model by
    validation loss is saved to ``out_path`` after every improvement. ``history``: the
    epoch records of earlier runs (resume; not modified). ``on_partial`` receives a
    :class:`LossPoint` every 5 steps (running training loss) and after every epoch
    (validation loss). Returns a summary dict whose ``history`` holds one record per epoch,
    the earlier ones first.

    After every epoch the whole training state (weights, optimiser, scheduler, random
    generators, patience) is written atomically beside ``out_path`` (:func:`resume_path`);
    ``resume=True`` continues from it exactly, so a killed run ends with the weights an
    uninterrupted one would have. Under ``torchrun`` (:mod:`musiclab.distributed`) every rank
    trains on its rows of each global batch of ``batch`` rows and only rank 0 writes files.
    ``max_steps`` stops after that many optimiser steps (tests). Conditioned models: see the
    module doc (``cond_dropout``: the share of training pieces fed without their condition)."""
    import torch
    import torch.nn.functional as F

    from ..distributed import shard_rows, world, wrap
    from .model import save_composer

    w = world()
    if not w.is_main:  # one progress line and one loss curve: rank 0's
        on_progress = on_partial = None

    if not train_pieces:
        raise MusiclabError("No training pieces: the corpus yielded no events.")
    if not val_pieces:
        val_pieces = train_pieces[-max(1, len(train_pieces) // 10) :]
    history = list(history or [])
    rng = random.Random(seed)
    torch.manual_seed(seed)
    net = model.net
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    seed_index = {t: i + 2 for i, t in enumerate(model.seed_vocab)}
    t0 = time.monotonic()
    bad = 0
    rp = resume_path(out_path)
    if resume and rp.is_file():
        st = _load_resume(rp)
        net.load_state_dict(st["net"])
        opt.load_state_dict(st["opt"])
        sched.load_state_dict(st["sched"])
        rng.setstate(_to_rng_state(st["py_rng"]))
        torch.set_rng_state(st["torch_rng"])
        start_epoch, best_val, bad = int(st["epoch"]), float(st["best_val"]), int(st["bad"])
        history = list(st["history"])
    dnet = wrap(net, w)
    steps_done = 0
    events_seen = 0
    # estimate steps per epoch for progress
    ev = model.arch in _EVENT_ARCHS
    timed = _rep(model) == "timed"
    if ev:  # pieces as sub-token sources: a store's are read from disk when a row reaches them
        items = from_pieces(train_pieces, _rep(model))
        n_stream = sum(it.length for it in items)
        n_events = sum(it.n_events for it in items)
    else:
        n_stream = len(_stream_seed(train_pieces, seed_index))
        n_events = sum(len(p.events) for p in train_pieces)
    conds = list(model.meta.get("conditions") or []) if ev else []
    labels = {}
    grouped = is_grouped(conds)
    if conds and grouped:  # each piece's labels from its file; ids per epoch (the key moves with the shift)
        from .labels import piece_labels

        labels = {id(it): piece_labels(it.source, it.name) for it in items}
        base = [piece_condition_ids(conds, "", "", 0, labels[id(it)]) for it in items]
        model.meta["condition_pieces"] = {c: sum(1 for v in base if i + 1 in v) for i, c in enumerate(conds)}
        model.meta["cond_dropout"] = float(cond_dropout)
    elif conds:
        labels = {id(it): piece_condition(conds, it.name) for it in items}
        model.meta["condition_pieces"] = {c: sum(1 for v in labels.values() if v == i + 1)
                                          for i, c in enumerate(conds)}
        model.meta["cond_dropout"] = float(cond_dropout)
    steps_per_epoch = max(1, math.ceil(((n_stream - 1) // batch) / seq_len))
    ev_per_tok = n_events / max(1, n_stream)
    total_steps = steps_per_epoch * max(1, epochs - start_epoch)
    stopped_by = "epochs"
    epoch = start_epoch
    for epoch in range(start_epoch, epochs):
        net.train()
        if ev:
            order = list(items)
            rng.shuffle(order)
            stream = Stream(order, draw_shifts(order, rng if augment else None), timed=timed)
            rows = slice(w.rank, None, w.size) if w.distributed else None  # this rank's rows only
            batches = stream_batches(stream, batch, seq_len, with_pos=True, rows=rows)
            if conds and grouped:  # every group dropped on its own for a share of the pieces
                crng = random.Random(f"{seed}:{epoch}:cond")
                ids = [tuple(v if crng.random() >= cond_dropout else 0
                             for v in piece_condition_ids(conds, "", "", sh, labels[id(it)]))
                       for it, sh in zip(order, stream.shifts)]
                batches = _cond_batches(batches, stream, ids, batch, seq_len, rows=rows)
            elif conds:  # each piece's condition, or none for a share drawn per epoch (own generator)
                crng = random.Random(f"{seed}:{epoch}:cond")
                ids = [labels[id(it)] if crng.random() >= cond_dropout else 0 for it in order]
                batches = _cond_batches(batches, stream, ids, batch, seq_len, rows=rows)
        else:
            order = list(train_pieces)
            rng.shuffle(order)
            batches = _batches(_stream_seed(order, seed_index), batch, seq_len)
        state = None
        tl = 0.0
        tn = 0
        for x, y, *pos in batches:
            if w.distributed:
                if w.any(bool(should_stop and should_stop())):
                    check_stop(lambda: True)
            else:
                check_stop(should_stop)
            if not ev:  # the event stream gave this rank's rows already
                x, y = shard_rows(x, w), shard_rows(y, w)
                pos = [shard_rows(q, w) for q in pos]
            if conds:
                logits, state = dnet(x, state, pos[0], pos[1])
            else:
                logits, state = dnet(x, state, pos[0]) if ev else dnet(x, state)
            state = _detach(state)
            t = _targets(y, model.arch)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), t.reshape(-1), ignore_index=-100,
                                   reduction="sum")
            # the mean over the *global* batch's tokens: DDP averages gradients over ranks
            n_global = w.sum(float((t != -100).sum())) if w.distributed else float((t != -100).sum())
            loss = loss * (w.size / max(n_global, 1.0))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            tl += w.sum(float(loss.detach()) / w.size) if w.distributed else float(loss.detach())
            tn += 1
            steps_done += 1
            if on_partial is not None and tn % 5 == 0:
                on_partial(LossPoint("train", epoch + min(1.0, tn / steps_per_epoch), tl / tn))
            events_seen += x.numel() * ev_per_tok
            el = time.monotonic() - t0
            left = el / steps_done * (total_steps - steps_done)
            if time_budget:
                left = min(left, max(0.0, time_budget - el))
            report(
                on_progress,
                steps_done,
                total_steps,
                f"epoch {epoch + 1}/{epochs}, loss {tl / tn:.3f}, {int(left // 60)}m{int(left % 60):02d}s left",
            )
            if time_budget and w.any(el > time_budget):
                stopped_by = "time budget"
                break
            if max_steps is not None and steps_done >= max_steps:
                stopped_by = "max steps"
                break
        if on_partial is not None and tn % 5:  # the epoch's last running loss (short epochs have no other)
            on_partial(LossPoint("train", epoch + min(1.0, tn / steps_per_epoch), tl / tn))
        vl = evaluate_loss(model, val_pieces, should_stop=should_stop)
        sched.step(vl["loss"])
        rec = {
            "epoch": epoch + 1,
            "train_loss": tl / max(tn, 1),
            "val_loss": vl["loss"],
            "val_nats_per_event": vl["nats_per_event"],
            "seconds": time.monotonic() - t0,
        }
        history.append(rec)
        if on_partial is not None:
            on_partial(LossPoint("val", float(epoch + 1), float(vl["loss"]), dict(rec)))
        improved = vl["loss"] < best_val - 1e-4
        if improved:
            best_val = vl["loss"]
            bad = 0
            model.meta["val"] = {"loss": vl["loss"], "nats_per_event": vl["nats_per_event"], "epoch": epoch + 1}
            model.meta["trained"] = _dt.date.today().isoformat()
            if w.is_main:
                save_composer(model, out_path,
                              train_state={"epoch": epoch + 1, "best_val": best_val, "history": list(history)})
        else:
            bad += 1
        if w.is_main:
            _save_resume(rp, {"net": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                              "py_rng": _from_rng_state(rng.getstate()), "torch_rng": torch.get_rng_state(),
                              "epoch": epoch + 1, "best_val": best_val, "bad": bad, "history": list(history)})
        w.barrier()
        if stopped_by in ("time budget", "max steps"):
            break
        if bad >= patience:
            stopped_by = "early stopping"
            break
    el = time.monotonic() - t0
    return {
        "epochs": epoch + 1,
        "best_val_loss": best_val,
        "stopped_by": stopped_by,
        "seconds": el,
        "train_events_per_s": events_seen / el if el > 0 else None,
        "history": history,
        "out": str(out_path),
    }


def resume_path(out_path) -> Path:
    """Where :func:`train_model` keeps the full state of the last finished epoch."""
    p = Path(out_path)
    return p.with_name(p.name + ".resume")


def _from_rng_state(st) -> list:
    version, internal, gauss = st
    return [int(version), [int(v) for v in internal], gauss]


def _to_rng_state(st) -> tuple:
    version, internal, gauss = st
    return (int(version), tuple(int(v) for v in internal), gauss)


def _save_resume(path: Path, state: dict) -> None:
    import os

    import torch

    tmp = path.with_name(path.name + f".{os.getpid()}.partial")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _load_resume(path: Path) -> dict:
    import torch

    try:
        st = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise MusiclabError(f"'{path.name}' is not a musiclab training state ({type(exc).__name__}: {exc}).") from exc
    need = {"net", "opt", "sched", "py_rng", "torch_rng", "epoch", "best_val", "bad", "history"}
    if not isinstance(st, dict) or not need <= set(st):
        raise MusiclabError(f"'{path.name}' is not a musiclab training state (keys missing).")
    return st


def attach_copy(out_path, pieces: list, should_stop: ShouldStop = None, on_progress: OnProgress = None,
                source: str = "validation pieces") -> Optional[dict]:
    """Fit the self-copy mixture (:mod:`.selfcopy`) of the model in ``out_path`` on ``pieces``
    (which its LSTM was not trained on) and rewrite the file (training state kept). Returns
    the fit report, or None for a model without an event LSTM or without pieces."""
    from .evaluate import event_records, fit_copy
    from .model import load_composer, save_composer

    model = load_composer(out_path, with_train_state=True)
    if model.arch not in _EVENT_ARCHS or _rep(model) == "timed" or not pieces:
        return None  # the copy fit scores sequential events only
    total = sum(len(p.events) for p in pieces)
    records = event_records(model, pieces, should_stop=should_stop, on_progress=on_progress, total_events=total)
    params, info = fit_copy(records)
    model.set_copy(params, fit_on=source, fit_pieces=len(pieces), fit_events=info["events"])
    save_composer(model, out_path, train_state=model.extra.get("train_state"))
    return info


def prepare_model(preset: str, train_pieces: list, val_pieces: list, sources: list, init=None,
                  conditions: Optional[list] = None, condition_kind: str = "mood", **meta):
    """A fresh (or ``init``-initialised) model with its trigram and 8-gram hashes;
    ``conditions``: condition names the net takes (:func:`.model.add_conditions`; each piece's
    is read from its file name, :func:`piece_condition`)."""
    from .model import PRESETS, load_composer, new_model, upgrade_to_metre
    from .stats import fit_trigram, ngram_hashes

    def evs():  # piece by piece: a store's pieces are decoded one at a time, never all at once
        return (p.events for p in train_pieces)

    if init is not None:
        base = load_composer(init)
        model = base
        want = PRESETS.get(preset, {}).get("arch")
        if want == "event-lstm-timed" and model.arch in ("event-lstm", "event-lstm-v2"):
            from .model import to_timed

            model = to_timed(model)  # same weights; the onset sub-tokens start as the durations
            model.meta["preset"] = preset
        if (want == "event-lstm-timed") != (model.arch == "event-lstm-timed"):
            raise MusiclabError(f"--init {Path(str(init)).name} uses the {_rep(model)} event representation; "
                                f"preset {preset!r} needs the other one (their vocabularies differ).")
        if PRESETS.get(preset, {}).get("arch") == "event-lstm-v2" and model.arch == "event-lstm":
            model = upgrade_to_metre(model)  # keep the init's sizes, add the metre inputs
        if want == "event-lstm-ptr" and model.arch != "event-lstm-ptr":
            from .model import to_pointer

            hp = PRESETS[preset]
            model = to_pointer(model, hp["ptr_dim"], hp["memory"])  # same LSTM, a pointer beside it
            model.meta["preset"] = preset
        model.meta["finetuned_from"] = str(Path(str(init)).name)
        model.meta.setdefault("pretrain_sources", model.meta.get("sources"))
    else:
        seed_vocab = sorted({seed_token(e) for e in (x for ev in evs() for x in ev)}) if preset == "seed" else None
        model = new_model(preset, seed_vocab)
    if conditions:
        from .model import add_conditions

        if model.arch not in _EVENT_ARCHS:
            raise MusiclabError(f"Conditions need an event model (preset {preset!r} is not one).")
        if [str(c).lower() for c in conditions] == ["score"]:  # style, key, mode and metre from the files
            conditions, condition_kind = score_conditions(train_pieces), "score"
        model = add_conditions(model, conditions, condition_kind)
        if is_grouped(model.conditions):
            got = [any(piece_condition_ids(model.conditions, p.source, p.name)) for p in train_pieces]
        else:
            got = [piece_condition(model.conditions, p.name) for p in train_pieces]
        if not any(got) and is_grouped(model.conditions):
            raise MusiclabError("No training piece's file gives a style, key or metre the conditions name.")
        if not any(got):
            raise MusiclabError(f"No training piece's file name starts with one of the conditions "
                                f"{', '.join(model.conditions)} and '_' (e.g. EMOPIA's Q1_…).")
    model.meta.update(meta)
    model.meta["sources"] = [str(s) for s in sources]
    model.meta["train_pieces"] = len(train_pieces)
    model.meta["val_pieces"] = len(val_pieces)
    model.meta["train_events"] = sum(p.n_events if hasattr(p, "n_events") else len(p.events) for p in train_pieces)
    model.meta["val_piece_names"] = [p.name for p in val_pieces][:5000]
    model.trigram = fit_trigram(evs())
    new_h = ngram_hashes(evs())
    if init is not None and model.ngram_hashes is not None:
        new_h = np.union1d(model.ngram_hashes, new_h).astype(np.uint32)
    model.ngram_hashes = new_h
    return model


def train_on_corpus(
    corpus,
    preset: str,
    out_path,
    epochs: int = 20,
    seq_len: int = 128,
    resume: bool = False,
    time_budget: Optional[float] = None,
    sources: Optional[list] = None,
    should_stop: ShouldStop = None,
    on_progress: OnProgress = None,
    on_partial: OnPartial = None,
) -> dict:
    """Split ``corpus`` by piece, build (or resume) a model and train it (GUI entry point).

    Loss points go to ``on_partial`` (:class:`LossPoint`); on resume the earlier epochs are
    handed to it first, so a plot shows the whole run. Torch's thread count is left as the
    process set it (once, at start)."""
    from .events import split_by_piece
    from .model import load_composer

    train, val = split_by_piece(corpus.pieces, 0.1)
    if len(train) < 1:
        raise MusiclabError("The corpus has no usable pieces to train on.")
    history: list = []
    start_epoch, best = 0, math.inf
    if resume and Path(out_path).is_file():
        model = load_composer(out_path, with_train_state=True)
        ts = model.extra.get("train_state", {})
        start_epoch = int(ts.get("epoch", 0))
        best = float(ts.get("best_val", math.inf))
        history = [h for h in ts.get("history", []) if isinstance(h, dict)]
        if on_partial is not None:
            for h in history:
                if "epoch" in h and "val_loss" in h:
                    on_partial(LossPoint("val", float(h["epoch"]), float(h["val_loss"]), dict(h)))
    else:
        model = prepare_model(preset, train, val, sources or [], command="GUI")
    res = train_model(model, train, val, out_path, epochs=epochs, seq_len=seq_len, history=history,
                      start_epoch=start_epoch, best_val=best, time_budget=time_budget,
                      should_stop=should_stop, on_progress=on_progress, on_partial=on_partial)
    if Path(out_path).is_file():
        try:
            res["copy"] = attach_copy(out_path, val, should_stop=should_stop, on_progress=on_progress)
        except MusiclabError as exc:  # the trained network is saved either way
            res["copy"] = None
            res["copy_error"] = str(exc)
    res["train_pieces"], res["val_pieces"] = len(train), len(val)
    return res


def key_prior(labels) -> dict:
    """How often each key (``"G|major"``) is the key of the training pieces, per style and over
    all (``""``), untransposed: what "any key" means when generating (:func:`.session.draw_key`),
    since transposition augmentation taught the net every key equally."""
    out: dict = {"": {}}
    for lab in labels:
        if not (lab.get("key") and lab.get("mode")):
            continue
        k = f"{lab['key']}|{lab['mode']}"
        styles = [""] + ([lab["style"]] if lab.get("style") else [])
        for st in styles:
            d = out.setdefault(st, {})
            d[k] = d.get(k, 0) + 1
    return out


def key_profile(pieces, labels) -> dict:
    """Per mode, how the note time of ``pieces`` (untransposed; ``labels``: each piece's
    :func:`.labels.piece_labels`) falls on the 12 pitch classes counted up from its key
    signature's major tonic (0 = do, 9 = la), as shares (one quarter added to every class, so
    none is zero): the key profile generation tilts towards (:func:`.generate.key_bias_vector`).
    Pieces without a key or mode are left out; a mode no piece has is absent."""
    from .labels import PC_NAMES

    hist: dict = {}
    for p, lab in zip(pieces, labels):
        if not (lab.get("key") in PC_NAMES and lab.get("mode") in ("major", "minor")):
            continue
        h = hist.setdefault(lab["mode"], np.zeros(12))
        t = PC_NAMES.index(lab["key"])
        for ev in p.events:
            d = float(Fraction(ev[2])) if len(ev) > 2 else 0.0
            for q in ev[0]:
                h[(int(q) - t) % 12] += d
    return {m: [float(x) for x in (h + 0.25) / (h + 0.25).sum()] for m, h in sorted(hist.items())}


def style_chords(pieces, labels) -> dict:
    """Per style, the share of the events of ``pieces`` that sound two or more pitches (the
    chords of Nottingham's accompaniment; O'Neill's and Ryan's melodies have none)."""
    n: dict = {}
    for p, lab in zip(pieces, labels):
        st = lab.get("style")
        if not st:
            continue
        c = n.setdefault(st, [0, 0])
        c[0] += sum(1 for ev in p.events if len(ev[0]) >= 2)
        c[1] += len(p.events)
    return {st: c[0] / c[1] for st, c in sorted(n.items()) if c[1]}


def style_range(pieces, labels, shifts: tuple = (-5, 6), share: float = 0.001) -> dict:
    """Per style, the pitches its tunes use as the network learnt them: from the ``share``
    quantile to the ``1 - share`` quantile of the note pitches of ``pieces``, widened by the
    transposition augmentation's ``shifts`` (:func:`.stream.draw_shifts`). O'Neill's and Ryan's
    fiddle tunes: 52-91 and 52-92, MIDI pitch."""
    by: dict = {}
    for p, lab in zip(pieces, labels):
        if lab.get("style"):
            by.setdefault(lab["style"], []).extend(q for ev in p.events for q in ev[0])
    out = {}
    for st, ps in sorted(by.items()):
        if ps:
            lo, hi = np.quantile(np.asarray(ps, dtype=np.float64), [share, 1.0 - share])
            out[st] = [int(max(0, np.floor(lo) + shifts[0])), int(min(127, np.ceil(hi) + shifts[1]))]
    return out


def _head_batch(items, shifts, ids, head: int):
    """(x, y, pos, cond) of the first ``head`` + 1 sub-tokens of each piece (padded; targets of
    padding ignored): BOS first, each piece transposed by its shift; ``cond`` (B, 1, G)."""
    import torch

    rows = [it.tokens(sh)[: head + 1] for it, sh in zip(items, shifts)]
    T = max(len(r) for r in rows)
    x = torch.full((len(rows), T), enc.PAD, dtype=torch.long)
    for i, r in enumerate(rows):
        x[i, : len(r)] = torch.from_numpy(np.asarray(r, dtype=np.int64))
    pos = torch.tensor([enc.positions(r.tolist()) + [0] * (T - len(r)) for r in rows], dtype=torch.long)
    y = x[:, 1:].clone()
    y[y == enc.PAD] = -100
    y[y == enc.BOS] = -100
    cond = torch.tensor(ids, dtype=torch.long).reshape(len(rows), 1, -1)
    return x[:, :-1], y, pos[:, :-1], cond


def fit_conditions(model, train_pieces: list, val_pieces: list, head: int = 64, epochs: int = 30, lr: float = 1e-2,
                   batch: int = 64, cond_dropout: float = 0.3, augment: bool = True, seed: int = 0,
                   balance: Optional[str] = None, time_budget: Optional[float] = None,
                   should_stop: ShouldStop = None, on_progress: OnProgress = None) -> dict:
    """Teach a model's condition input what the opening of a piece should be, everything else
    frozen (grouped, "score" conditions; :func:`score_conditions`). After the first bars the
    music itself tells the network its key and metre, so training the whole net leaves the
    condition embeddings small (their only use is at the start); here only ``cond`` learns,
    on the first ``head`` sub-tokens of every piece (transposed with its key, each group left
    out for a share ``cond_dropout``), so what was asked for decides how a tune begins and the
    rest follows from it. Keeps the best epoch by validation loss on the openings (each
    piece told its own labels); returns a report with the validation loss told and untold.
    ``balance`` (a group, e.g. ``"mode"``): every epoch draws the pieces of each value of that
    group equally often (the rarer values' pieces repeated, each once before any twice), so a
    value few tunes have (minor: 13 % of the fiddle tunes) is learnt as well as the common one."""
    import torch
    import torch.nn.functional as F

    conds = list(model.meta.get("conditions") or [])
    if not is_grouped(conds) or not hasattr(model.net, "cond"):
        raise MusiclabError(f"Model '{model.name}' has no style/key/metre input (train it with --conditions score).")
    from .labels import groups_of, piece_labels

    net = model.net
    items = from_pieces(train_pieces, _rep(model))
    vitems = from_pieces(val_pieces, _rep(model))
    labels = {id(it): piece_labels(it.source, it.name) for it in items + vitems}
    G = len(groups_of(conds))
    for p in net.parameters():
        p.requires_grad_(False)
    w = net.cond.weight
    w.requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr)
    rng = random.Random(seed)

    def val_loss(told: bool) -> float:
        net.eval()
        tot = n = 0.0
        with torch.inference_mode():
            for s in range(0, len(vitems), batch):
                part = vitems[s : s + batch]
                ids = [piece_condition_ids(conds, "", "", 0, labels[id(it)]) if told else (0,) * G for it in part]
                x, y, pos, c = _head_batch(part, [0] * len(part), ids, head)
                lp, _ = net(x, None, pos, c)
                tot += float(F.cross_entropy(lp.reshape(-1, lp.shape[-1]), y.reshape(-1), ignore_index=-100,
                                             reduction="sum"))
                n += float((y != -100).sum())
        return tot / max(n, 1.0)

    untold = val_loss(False)
    best, best_w = val_loss(True), w.detach().clone()
    history = [{"epoch": 0, "val_told": best, "val_untold": untold}]
    by_value: dict = {}
    if balance:
        if balance not in groups_of(conds):
            raise MusiclabError(f"Cannot balance on '{balance}': the model's condition groups are "
                                f"{', '.join(groups_of(conds))}.")
        for it in items:
            v = labels[id(it)].get(balance)
            if v is not None:
                by_value.setdefault(v, []).append(it)
    per_value = max((len(v) for v in by_value.values()), default=0)
    epoch_len = len(items) + sum(per_value - len(v) for v in by_value.values())
    t0 = time.monotonic()
    steps = max(1, math.ceil(epoch_len / batch)) * epochs
    done = 0
    for epoch in range(epochs):
        net.eval()  # no dropout: the frozen net as it generates
        order = list(items)
        for v in by_value.values():  # the rarer values' pieces again, up to the commonest's count
            extra = per_value - len(v)
            while extra > 0:
                more = rng.sample(v, min(extra, len(v)))
                order += more
                extra -= len(more)
        rng.shuffle(order)
        shifts = draw_shifts(order, rng if augment else None)
        tl = tn = 0.0
        for s in range(0, len(order), batch):
            check_stop(should_stop)
            part, sh = order[s : s + batch], shifts[s : s + batch]
            ids = [tuple(v if rng.random() >= cond_dropout else 0
                         for v in piece_condition_ids(conds, "", "", k, labels[id(it)])) for it, k in zip(part, sh)]
            x, y, pos, c = _head_batch(part, sh, ids, head)
            lp, _ = net(x, None, pos, c)
            loss = F.cross_entropy(lp.reshape(-1, lp.shape[-1]), y.reshape(-1), ignore_index=-100)
            opt.zero_grad()
            loss.backward()
            w.grad[0] = 0.0  # row 0 is "not given": stays zero
            opt.step()
            tl += float(loss.detach())
            tn += 1
            done += 1
            report(on_progress, done, steps, f"epoch {epoch + 1}/{epochs}, loss {tl / tn:.3f}")
        vl = val_loss(True)
        history.append({"epoch": epoch + 1, "train": tl / max(tn, 1), "val_told": vl, "val_untold": untold})
        if vl < best - 1e-5:
            best, best_w = vl, w.detach().clone()
        if time_budget and time.monotonic() - t0 > time_budget:
            break
    with torch.no_grad():
        w.copy_(best_w)
    w.requires_grad_(False)
    for p in net.parameters():
        p.requires_grad_(True)
    if hasattr(model, "_np_cache"):
        del model._np_cache
    train_labels = [labels[id(it)] for it in items]  # items are train_pieces, one for one
    model.meta["key_prior"] = key_prior(train_labels)
    model.meta["key_profile"] = key_profile(train_pieces, train_labels)
    model.meta["style_chords"] = style_chords(train_pieces, train_labels)
    model.meta["style_range"] = style_range(train_pieces, train_labels)
    rep = {"head": head, "epochs": len(history) - 1, "lr": lr, "cond_dropout": cond_dropout, "balance": balance,
           "pieces_per_epoch": len(order) if history[1:] else len(items),
           "val_pieces": len(vitems), "train_pieces": len(items), "val_told": best, "val_untold": untold,
           "seconds": time.monotonic() - t0}
    model.meta["condition_fit"] = rep
    return {**rep, "history": history}
