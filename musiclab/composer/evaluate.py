"""``composer eval``: score every event of every piece given the events before it.

Default model: the LSTM runs through each piece once (state kept); at every event
boundary the event's NLL is the sum of its sub-token NLLs, and a beam search over
sub-tokens from that state gives the model's top-5 events (top-1 = the best beam).
Timed models (``event-lstm-timed``): the same unit (pitches + duration), the onset sub-token
marginalised (:func:`timed_event_records`), and onset accuracy beside it.
Seed model: softmax over its tokens; tokens it never saw are misses (OOV).
"""

from __future__ import annotations

from typing import Optional

from ..errors import MusiclabError
from ..jobs import OnProgress, ShouldStop, check_stop, report
from . import encoding as enc
from .events import seed_token
from .stats import Trigram


def _stack_states(states):
    import torch

    h = torch.stack([s[0] for s in states], 1)
    c = torch.stack([s[1] for s in states], 1)
    return h, c


def _as_state(h, c):
    """An event net's state from the ``(h, c)`` arguments of the functions below: the LSTM's
    pair, or (``c`` None) a whole state passed as ``h`` (an ``(h, c)`` pair or a pointer net's
    :class:`~.model.PtrState`)."""
    return h if c is None else (h, c)


def beam_topk(net, h, c, first_logp, beam: int = 8, k: int = 5, max_len: int = 14, pos=None):
    """Beam search over sub-tokens for N start states at once.

    h, c: (layers, N, H) states (or ``h`` a whole state of N rows, :func:`_as_state`, and
    ``c`` None); first_logp: (N, V) log-probs of the first sub-token;
    pos: (N,) metrical onsets of the events (metre nets; constant within an event).
    Returns a list (len N) of up to ``k`` (tokens tuple, logp) completed events, best first.
    """
    import torch

    from .model import state_rows

    N, V = first_logp.shape
    B = beam
    scores, toks = first_logp.topk(B, dim=1)  # (N, B)
    seqs = toks.unsqueeze(-1)  # (N, B, 1)
    done = toks >= enc.D0
    state = state_rows(_as_state(h, c), torch.arange(N).repeat_interleave(B))
    neg = torch.tensor(-1e9)
    bpos = None
    if getattr(net, "metre", False):
        if pos is None:
            raise ValueError("beam_topk: a metre net needs the events' positions")
        bpos = pos.reshape(N, 1).expand(N, B).reshape(-1, 1)
    for _ in range(max_len - 1):
        if bool(done.all()):
            break
        last = seqs[:, :, -1].reshape(-1, 1)
        logits, state2 = net(last, state, bpos) if bpos is not None else net(last, state)
        logp = torch.log_softmax(logits[:, 0, :], dim=-1).reshape(N, B, V)
        cand = scores.unsqueeze(-1) + logp
        # finished beams stay as they are (one candidate: PAD, same score)
        cand = torch.where(done.unsqueeze(-1), neg, cand)
        cand[..., enc.PAD] = torch.where(done, scores, neg)
        flat = cand.reshape(N, B * V)
        scores, idx = flat.topk(B, dim=1)
        parent = idx // V
        tok = idx % V
        seqs = torch.cat([torch.gather(seqs, 1, parent.unsqueeze(-1).expand(-1, -1, seqs.shape[-1])), tok.unsqueeze(-1)], -1)
        pdone = torch.gather(done, 1, parent)
        done = pdone | (tok >= enc.D0)
        gidx = (parent + torch.arange(N).unsqueeze(1) * B).reshape(-1)
        state = state_rows(state2, gidx)
    out = []
    seqs_l = seqs.tolist()
    sc = scores.tolist()
    dn = done.tolist()
    for i in range(N):
        res = []
        for b in range(B):
            if dn[i][b]:
                res.append((tuple(t for t in seqs_l[i][b] if t != enc.PAD), sc[i][b]))
        res.sort(key=lambda r: -r[1])
        out.append(res[:k])
    return out


def score_sequences(net, H, C, first_logp, pos, items, chunk: int = 4096):
    """LSTM log-probabilities of given events from given boundary states.

    H, C: (layers, N, hidden) states before N events (or ``H`` a whole state, :func:`_as_state`,
    and ``C`` None); first_logp: (N, V); pos: (N,) onsets
    (metre nets); items: list of (n, tokens). Returns a list of floats (one per item)."""
    import torch

    from .model import PtrState, state_rows

    out: list[float] = []
    metre = getattr(net, "metre", False)
    if isinstance(_as_state(H, C), PtrState):  # a pointer net's state holds its keys: smaller chunks
        chunk = min(chunk, 256)
    for s in range(0, len(items), chunk):
        part = items[s : s + chunk]
        idx = torch.tensor([n for n, _ in part], dtype=torch.long)
        lens = torch.tensor([len(t) for _, t in part], dtype=torch.long)
        T = int(lens.max())
        toks = torch.full((len(part), T), enc.PAD, dtype=torch.long)
        for r, (_, t) in enumerate(part):
            toks[r, : len(t)] = torch.tensor(t, dtype=torch.long)
        lp = first_logp[idx].gather(1, toks[:, :1]).squeeze(1)
        state = state_rows(_as_state(H, C), idx)
        bpos = pos[idx].reshape(-1, 1) if metre else None
        for t in range(1, T):
            active = lens > t
            if not bool(active.any()):
                break
            x = toks[:, t - 1 : t]
            logits, state = net(x, state, bpos) if metre else net(x, state)
            step = torch.log_softmax(logits[:, 0, :], -1).gather(1, toks[:, t : t + 1]).squeeze(1)
            lp = lp + torch.where(active, step, torch.zeros_like(step))
        out.extend(lp.tolist())
    return out


class _Conditioned:
    """A conditioned net seen as an unconditioned one: every call gets the same condition ids
    (one per group, shape (1, 1, G), broadcast over rows and steps)."""

    def __init__(self, net, ids):
        import torch

        self.net = net
        self.cond = torch.tensor(list(ids), dtype=torch.long).reshape(1, 1, -1)

    def __call__(self, x, state=None, pos=None):
        return self.net(x, state, pos, self.cond)

    def embed(self, x, pos=None):
        return self.net.embed(x, pos, self.cond)

    def boundary_states(self, x, pos, bounds):
        return self.net.boundary_states(x, pos, bounds, self.cond)

    def __getattr__(self, name):
        return getattr(self.net, name)


def piece_condition_spec(model, piece, condition):
    """The condition ids one piece is scored with: ``condition`` None = none; ``"labels"`` =
    what the piece's own file says (style, key, mode, metre; grouped models) or its file-name
    prefix (mood models); anything else is passed to ``model.condition_ids``."""
    if condition is None or not getattr(model, "conditions", None):
        return None
    from .train import is_grouped, piece_condition, piece_condition_ids

    if condition == "labels":
        if is_grouped(model.conditions):
            ids = piece_condition_ids(model.conditions, piece.source, piece.name)
        else:
            ids = (piece_condition(model.conditions, piece.name),)
    else:
        ids = model.condition_ids(condition)
    return ids if any(ids) else None


def event_records(model, pieces, beam: int = 8, copy_support: int = 12, should_stop=None, on_progress=None,
                  total_events: int = 0, condition=None):
    """What scoring needs, computed once per corpus: for every piece, its event keys (None =
    not representable) and, per representable event, the LSTM log-prob of the true event and
    of a candidate set (the beam's top 5 plus the events the piece's own history suggests,
    see :mod:`.selfcopy`). ``condition`` (conditioned models): see :func:`piece_condition_spec`."""
    import torch

    from .model import state_rows
    from .selfcopy import piece_copy_stats

    ptr = model.arch == "event-lstm-ptr"
    out = []
    done_events = 0
    with torch.inference_mode():
        for piece in pieces:
            check_stop(should_stop)
            ids = piece_condition_spec(model, piece, condition)
            net = model.net if ids is None else _Conditioned(model.net, ids)
            keys = [enc.event_key(e) for e in piece.events]
            toks_per_event = [enc.encode_event(e) for e in piece.events]
            rec = {"keys": keys, "events": {}}
            out.append(rec)
            stream = [enc.BOS]
            bounds = []  # (event index, position of the token before the event)
            for i, t in enumerate(toks_per_event):
                if t is None:
                    continue
                bounds.append((i, len(stream) - 1))
                stream.extend(t)
            if not bounds:
                done_events += len(piece.events)
                continue
            x = torch.tensor(stream, dtype=torch.long).unsqueeze(0)
            mpos = torch.tensor(enc.positions(stream), dtype=torch.long).unsqueeze(0)
            logits, _ = net(x, None, mpos)
            logp = torch.log_softmax(logits[0], -1)  # (T, V)
            tgt = x[0, 1:]
            tok_lp = logp[:-1].gather(1, tgt.unsqueeze(1)).squeeze(1)  # log-prob of token t+1
            # states at the boundaries: run the LSTM event by event
            bpos = [b[1] for b in bounds]
            if ptr:  # a pointer net's states carry its keys: the net's own boundary states
                states = net.boundary_states(x, mpos, bpos)
            else:
                hs, cs = [], []
                state = None
                pos = 0
                for bp in bpos:
                    seg = x[:, pos : bp + 1]
                    _, state = net.lstm(net.embed(seg, mpos[:, pos : bp + 1]), state)
                    hs.append(state[0][:, 0])
                    cs.append(state[1][:, 0])
                    pos = bp + 1
                states = (torch.stack(hs, 1), torch.stack(cs, 1))
            first = logp[bpos]  # (N, V)
            epos = mpos[0, bpos]  # (N,) onset of each event
            cands: list[dict] = []
            step = 64 if ptr else 512
            for s in range(0, len(bounds), step):
                check_stop(should_stop)
                sl = torch.arange(s, min(s + step, len(bounds)))
                res = beam_topk(net, state_rows(states, sl), None, first[s : s + step], beam=beam,
                                pos=epos[s : s + step])
                for r in res:
                    cands.append({enc.decode_event(tk): lp for tk, lp in r})
            # the piece's own suggestions that the beam did not return: score them exactly
            _, dists, _ = piece_copy_stats(keys, 1.0, top=copy_support)
            items, where = [], []
            for n, (ei, _) in enumerate(bounds):
                for k in dists[ei]:
                    if k is not None and k not in cands[n]:
                        items.append((n, enc.key_tokens(k)))
                        where.append((n, k))
            if items:
                for (n, k), lp in zip(where, score_sequences(net, states, None, first, epos, items)):
                    cands[n][k] = lp
            for n, (ei, bp) in enumerate(bounds):
                L = len(toks_per_event[ei])
                rec["events"][ei] = (float(tok_lp[bp : bp + L].sum()), cands[n])
            done_events += len(piece.events)
            report(on_progress, done_events, total_events, piece.name)
    return out


def timed_event_records(model, pieces, beam: int = 8, dt_branches: int = 4, copy_support: int = 12,
                        should_stop=None, on_progress=None, total_events: int = 0):
    """:func:`event_records` for a model of the ``timed`` representation, on the same unit as a
    sequential model's: the event's pitches + duration (``event_key``), its onset marginalised.

    A timed event is ``DT pitches… DUR``, so p(pitches, dur | history) = Σ_j p(DT=j | history)
    · p(pitches, dur | history, DT=j). The sum runs over ``dt_branches`` onsets: the model's
    most likely ones plus the true one (every event's), so the probability is a lower bound of
    the exact marginal (its NLL an upper bound: the figure never flatters the model); the
    share of the onset distribution the branches cover is reported (``dt_mass``). Top-1/top-5:
    the candidates of a beam search under each branch (and the piece's own suggestions, as
    for sequential models) ranked by the same branch sum (a candidate missing from a branch's
    beam counts 0 there). Beside it, per event: the onset's log-prob (``lp_dt``), whether the
    most likely onset is the true one (onset accuracy), and the full timed event's
    log-prob (``lp_joint`` = onset + pitches + duration, chained as the encoding defines).
    Records as :func:`event_records` (so :func:`combine` and :func:`fit_copy` take them), plus
    ``rec["onset"] = {event index: (lp_dt, hit, lp_joint, dt_mass)}``."""
    import math

    import torch

    from .selfcopy import piece_copy_stats

    net = model.net
    out = []
    done_events = 0
    with torch.inference_mode():
        for piece in pieces:
            check_stop(should_stop)
            keys = [enc.event_key(e) for e in piece.events]
            toks = enc.encode_piece(piece.events, representation="timed")
            rec = {"keys": keys, "events": {}, "onset": {}}
            out.append(rec)
            # which piece event every encoded event is (unrepresentable ones are dropped)
            idx = [i for i, e in enumerate(piece.events) if enc.encode_event(e) is not None]
            bounds = []  # (event index, position of the token before the event's DT)
            for t in range(1, len(toks)):
                if toks[t] >= enc.DT0:
                    bounds.append((idx[len(bounds)], t - 1))
            if not bounds:
                done_events += len(piece.events)
                continue
            x = torch.tensor(toks, dtype=torch.long).unsqueeze(0)
            mpos = torch.tensor(enc.positions(toks, timed=True), dtype=torch.long).unsqueeze(0)
            logits, _ = net(x, None, mpos)
            logp = torch.log_softmax(logits[0], -1)
            tok_lp = logp[:-1].gather(1, x[0, 1:].unsqueeze(1)).squeeze(1)
            hs, cs, state, pos_t = [], [], None, 0
            for _, bp in bounds:
                _, state = net.lstm(net.embed(x[:, pos_t : bp + 1], mpos[:, pos_t : bp + 1]), state)
                hs.append(state[0][:, 0])
                cs.append(state[1][:, 0])
                pos_t = bp + 1
            H, C = torch.stack(hs, 1), torch.stack(cs, 1)
            bpos = [b[1] for b in bounds]
            dt_lp = logp[bpos][:, enc.DT0 :]  # (N, 193): log p(DT = j)
            base_pos = mpos[0, bpos]  # onset of the previous event
            true_j = [int(toks[bp + 1]) - enc.DT0 for bp in bpos]
            M = max(1, int(dt_branches))
            top_j = dt_lp.topk(min(M, dt_lp.shape[1]), dim=1).indices.tolist()
            branches = []  # (event n, j)
            for n in range(len(bounds)):
                js = list(dict.fromkeys(top_j[n][: M - 1] + [true_j[n]] + top_j[n][M - 1 :]))[:M]
                if true_j[n] not in js:
                    js[-1] = true_j[n]
                branches.extend((n, j) for j in js)
            _, dists, _ = piece_copy_stats(keys, 1.0, top=copy_support)
            sums: list[dict] = [dict() for _ in bounds]  # key -> Σ_j p(j) p(key | j)
            p_true = [0.0] * len(bounds)
            mass = [0.0] * len(bounds)
            for s in range(0, len(branches), 512):
                check_stop(should_stop)
                part = branches[s : s + 512]
                rows = torch.tensor([n for n, _ in part], dtype=torch.long)
                js = torch.tensor([j for _, j in part], dtype=torch.long)
                h0, c0 = H[:, rows].contiguous(), C[:, rows].contiguous()
                ppos = (base_pos[rows] + js) % enc.POS_MOD
                lg, (h1, c1) = net((enc.DT0 + js).reshape(-1, 1), (h0, c0), ppos.reshape(-1, 1))
                first = torch.log_softmax(lg[:, 0, :], -1)
                res = beam_topk(net, h1, c1, first, beam=beam, pos=ppos)
                items = []
                for r, (n, j) in enumerate(part):
                    items.append((r, enc.key_tokens(keys[bounds[n][0]])))
                    for k in dists[bounds[n][0]]:
                        if k is not None:
                            items.append((r, enc.key_tokens(k)))
                scored = score_sequences(net, h1, c1, first, ppos, items)
                cond: list[dict] = [dict() for _ in part]
                for (r, tk), lp in zip(items, scored):
                    cond[r][enc.decode_event(tk)] = lp
                for r, cands in enumerate(res):
                    for tk, lp in cands:
                        cond[r].setdefault(enc.decode_event(tk), lp)
                for r, (n, j) in enumerate(part):
                    pj = math.exp(float(dt_lp[n, j]))
                    mass[n] += pj
                    for k, lp in cond[r].items():
                        sums[n][k] = sums[n].get(k, 0.0) + pj * math.exp(lp)
                    p_true[n] += pj * math.exp(cond[r][keys[bounds[n][0]]])
            for n, (ei, bp) in enumerate(bounds):
                L = len(enc.encode_event(piece.events[ei])) + 1
                cands = {k: math.log(max(v, 1e-300)) for k, v in sums[n].items()}
                rec["events"][ei] = (math.log(max(p_true[n], 1e-300)), cands)
                rec["onset"][ei] = (float(dt_lp[n, true_j[n]]), top_j[n][0] == true_j[n],
                                    float(tok_lp[bp : bp + L].sum()), mass[n])
            done_events += len(piece.events)
            report(on_progress, done_events, total_events, piece.name)
    return out


def onset_summary(records) -> dict:
    """Onset figures of :func:`timed_event_records`: ``onset_accuracy`` (the most likely onset on
    the 1/12 grid is the true one), ``onset_nll`` (nats per event), ``joint_nll_per_event``
    (the whole timed event: onset + pitches + duration), ``dt_mass`` (mean share of the onset
    distribution the marginal's branches cover)."""
    vals = [v for rec in records for v in rec.get("onset", {}).values()]
    if not vals:
        return {"events": 0, "onset_accuracy": None, "onset_nll": None, "joint_nll_per_event": None,
                "dt_mass": None}
    n = len(vals)
    return {"events": n, "onset_accuracy": sum(1 for v in vals if v[1]) / n,
            "onset_nll": -sum(v[0] for v in vals) / n, "joint_nll_per_event": -sum(v[2] for v in vals) / n,
            "dt_mass": sum(v[3] for v in vals) / n}


def combine(records, copy=None, hits: Optional[dict] = None) -> tuple[int, int, int, int, float]:
    """(events, representable, top-1 hits, top-5 hits, NLL sum) of ``records``
    (:func:`event_records`), with the copy mixture ``copy`` (:class:`.selfcopy.CopyParams`)
    or the LSTM alone (None). ``hits``: filled with ``(record index, event index) -> top-1 hit``
    for every representable event (what :mod:`benchmarks.composer_lead` buckets)."""
    import math

    from .selfcopy import piece_copy_stats

    n = n_repr = h1 = h5 = 0
    nll = 0.0
    for ri, rec in enumerate(records):
        keys = rec["keys"]
        n += len(keys)
        dists = ptrue = Ls = None
        if copy is not None and rec["events"]:
            Ls, dists, ptrue = piece_copy_stats(keys, copy.beta)
        for ei, (lp_true, cands) in rec["events"].items():
            key = keys[ei]
            n_repr += 1
            if copy is None:
                nll -= lp_true
                ranked = sorted(cands.items(), key=lambda kv: -kv[1])
            else:
                lam = copy.lam_for(int(Ls[ei]))
                d = dists[ei]
                nll -= math.log(max((1 - lam) * math.exp(lp_true) + lam * ptrue[ei], 1e-300))
                sc = {k: (1 - lam) * math.exp(lp) + lam * d.get(k, 0.0) for k, lp in cands.items()}
                ranked = sorted(sc.items(), key=lambda kv: -kv[1])
            top = [k for k, _ in ranked[:5]]
            if top and top[0] == key:
                h1 += 1
            if hits is not None:
                hits[(ri, ei)] = bool(top and top[0] == key)
            if key in top:
                h5 += 1
    return n, n_repr, h1, h5, nll


def fit_copy(records, betas=(0.25, 0.5, 1.0, 2.0, 4.0)):
    """Fit the copy mixture (:mod:`.selfcopy`) to ``records`` of pieces the LSTM was not
    trained on: the ``beta`` of highest likelihood and, for it, one mixing weight per bucket.
    Returns (CopyParams, report dict)."""
    import math

    import numpy as np

    from .selfcopy import CopyParams, bucket, fit_lambdas, piece_copy_stats

    best = None
    for beta in betas:
        bs, pm, pc = [], [], []
        for rec in records:
            if not rec["events"]:
                continue
            Ls, _, ptrue = piece_copy_stats(rec["keys"], beta)
            for ei, (lp_true, _) in rec["events"].items():
                bs.append(bucket(int(Ls[ei])))
                pm.append(math.exp(lp_true))
                pc.append(ptrue[ei])
        if not bs:
            raise MusiclabError("No representable events to fit the copy mixture on.")
        lam, ll = fit_lambdas(np.asarray(bs), np.asarray(pm), np.asarray(pc))
        if best is None or ll > best[2]:
            best = (beta, lam, ll, len(bs))
    beta, lam, ll, ne = best
    return CopyParams(beta, lam), {"beta": beta, "events": ne, "nll_per_event": -ll / ne}


def _score_seed_model(model, pieces, should_stop, on_progress, total_events):
    import torch

    index = {t: i + 2 for i, t in enumerate(model.seed_vocab)}
    net = model.net
    n = n_repr = h1 = h5 = 0
    nll = 0.0
    with torch.inference_mode():
        for piece in pieces:
            check_stop(should_stop)
            ids = [index.get(seed_token(e), 1) for e in piece.events]
            x = torch.tensor([0] + ids[:-1], dtype=torch.long).unsqueeze(0)
            logits, _ = net(x)
            logp = torch.log_softmax(logits[0, :, 2:], -1)  # only real tokens are predictable
            top5 = logp.topk(min(5, logp.shape[-1]), -1).indices.tolist()
            for t, w in enumerate(ids):
                n += 1
                if w < 2:
                    continue
                n_repr += 1
                nll -= float(logp[t, w - 2])
                if top5[t][0] == w - 2:
                    h1 += 1
                if (w - 2) in top5[t]:
                    h5 += 1
            report(on_progress, n, total_events, piece.name)
    return n, n_repr, h1, h5, nll


def evaluate(model, corpus, beam: int = 8, should_stop: ShouldStop = None, on_progress: OnProgress = None,
             use_copy: bool = True, fight: bool = False, cross_fit: bool = False, dt_branches: int = 4,
             condition=None) -> dict:
    """Top-1/top-5/NLL of ``model`` on ``corpus`` (with its copy mixture unless ``use_copy`` is
    False). ``fight``: add ``in_sample`` (how many pieces the model trained on or chose its
    checkpoint/mixture on) and ``fair_fight`` (:func:`fair_fight`; ``cross_fit`` too).
    Timed models (:func:`timed_event_records`, ``dt_branches`` onsets in the marginal): the
    same unit, plus ``onset`` (:func:`onset_summary`), ``representation`` and ``unit``.
    ``condition`` (sequential conditioned models): what the network is told per piece
    (:func:`piece_condition_spec`; ``"labels"`` = each piece's own); None = unconditioned."""
    total = corpus.n_events
    pieces = corpus.pieces
    records = None
    timed = model.arch == "event-lstm-timed"
    if model.arch in enc.SEQUENTIAL_ARCHS:
        records = event_records(model, pieces, beam, should_stop=should_stop, on_progress=on_progress,
                                total_events=total, condition=condition)
        n, n_repr, h1, h5, nll = combine(records, model.copy if use_copy else None)
    elif timed:
        records = timed_event_records(model, pieces, beam, dt_branches=dt_branches, should_stop=should_stop,
                                      on_progress=on_progress, total_events=total)
        n, n_repr, h1, h5, nll = combine(records, model.copy if use_copy else None)
    else:
        n, n_repr, h1, h5, nll = _score_seed_model(model, pieces, should_stop, on_progress, total)
    base = {"top1": None, "nll_per_event": None}
    if model.trigram is not None:
        tg = Trigram(model.trigram).score([p.events for p in pieces])
        base = {"top1": tg["top1"], "nll_per_event": tg["nll_per_event"]}
    res = {
        "pieces": len(pieces),
        "skipped": len(corpus.skipped),
        "events": n,
        "top1": h1 / n if n else None,
        "top5": h5 / n if n else None,
        "nll_per_event": nll / n_repr if n_repr else None,
        "oov_rate": 1 - n_repr / n if n else None,
        "baselines": {"trigram": base},
    }
    if condition is not None and getattr(model, "conditions", None):
        res["condition"] = ("each piece's own labels (its file's style, key signature, mode, metre)"
                            if condition == "labels" else condition)
        res["conditioned_pieces"] = sum(piece_condition_spec(model, p, condition) is not None for p in pieces)
    if model.arch == "event-lstm-ptr":
        res["network"] = ("LSTM + its learnt pointer over the piece's past (event-lstm-ptr): the 'lstm' rows (and "
                          "the figures with --no-copy) are this network alone, 'lstm_copy' adds the hand-fitted "
                          "copy mixture")
    if timed:
        res["representation"] = "timed"
        res["unit"] = TIMED_UNIT
        res["onset"] = onset_summary(records)
    if fight:
        ff, ins = fair_fight(model, corpus, records, cross_fit=cross_fit, should_stop=should_stop)
        seen = set(ins["validation"]) | set(ins["trained"])
        res["in_sample"] = {"pieces": sum(p.name in seen for p in pieces),
                            "trained": len(ins["trained"]), "validation": len(ins["validation"]),
                            "unseen": sum(p.name not in seen for p in pieces),
                            "names": sorted(seen)[:200], "sources_missing": ins["sources_missing"]}
        res["fair_fight"] = ff
    return res


#: How a timed model's figures relate to a sequential model's (reported with them).
TIMED_UNIT = ("top-1/top-5/nats per event: the event's pitches + duration, as for sequential models, with the "
              "timed model's onset sub-token marginalised over its most likely onsets plus the true one (a lower "
              "bound of the probability); onset: the onset sub-token alone (1/12-quarter grid); "
              "joint_nll_per_event: onset + pitches + duration")


# --------------------------------------------------------------------------- the fair fight
#: What the baseline rows are scored on (reported with the figures).
BASELINE_UNIT = ("LSTM rows: the model's events (exact pitches + duration); trigram and copy rows: the seed's "
                 "tokens (chords as pitch classes), a coarser unit, which favours the baselines")


def _base_tokens(model, pieces):
    """Per piece: trigram ids of its seed tokens (None = not in the training vocabulary) and
    the tokens themselves (the copy's keys)."""
    tg = Trigram(model.trigram)
    out = []
    for p in pieces:
        toks = [seed_token(e) for e in p.events]
        out.append((toks, [tg.index.get(t) for t in toks]))
    return tg, out


def _base_dists(tg, ids, base: str):
    """The base model's distribution before every event of one piece (views into caches)."""
    u = v = 0
    for w in ids:
        yield tg.dist(u, v) if base == "trigram" else tg.p1
        if w is not None and w > 0:
            u, v = v, w
        else:
            u, v = v, 0


def fit_base_copy(model, pieces, base: str, betas=(0.25, 0.5, 1.0, 2.0, 4.0)):
    """The copy mixture of a baseline (``base`` = "trigram" or "unigram", both the model's stored
    counts of its training pieces) fitted by maximum likelihood on ``pieces``, exactly as
    :func:`fit_copy` fits the LSTM's (over the events the baseline knows)."""
    import numpy as np

    from .selfcopy import CopyParams, bucket, fit_lambdas, piece_copy_stats

    tg, toks = _base_tokens(model, pieces)
    pms = []
    for _, ids in toks:
        pms.append([float(d[w]) if w else 0.0 for d, w in zip(_base_dists(tg, ids, base), ids)])
    best = None
    for beta in betas:
        bs, pm, pc = [], [], []
        for (keys, ids), pmi in zip(toks, pms):
            Ls, _, ptrue = piece_copy_stats(keys, beta)
            for i, w in enumerate(ids):
                if w:
                    bs.append(bucket(int(Ls[i])))
                    pm.append(pmi[i])
                    pc.append(ptrue[i])
        if not bs:
            raise MusiclabError("No known events to fit the baseline's copy mixture on.")
        lam, ll = fit_lambdas(np.asarray(bs), np.asarray(pm), np.asarray(pc))
        if best is None or ll > best[2]:
            best = (beta, lam, ll)
    return CopyParams(best[0], best[1])


def score_base(model, pieces, base: str = "trigram", copy=None, hits: Optional[dict] = None) -> dict:
    """top-1 / top-5 (over all events; an event outside the training vocabulary is a miss unless
    the copy proposes it) and NLL per event (over the events the baseline knows) of the stored
    trigram or unigram of the model's training pieces, alone or with the copy mixture ``copy``.
    ``hits``: filled with ``(piece index, event index) -> top-1 hit`` for every event."""
    import math

    import numpy as np

    from .selfcopy import piece_copy_stats

    tg, toks = _base_tokens(model, pieces)
    n = known = h1 = h5 = 0
    nll = 0.0
    for pi, (keys, ids) in enumerate(toks):
        if copy is not None:
            Ls, dists, ptrue = piece_copy_stats(keys, copy.beta)
        for i, (d, w) in enumerate(zip(_base_dists(tg, ids, base), ids)):
            n += 1
            lam = copy.lam_for(int(Ls[i])) if copy is not None else 0.0
            if lam > 0:
                mixed = (1 - lam) * d
                extra = {}
                for k, pk in dists[i].items():
                    j = tg.index.get(k)
                    if j:
                        mixed[j] += lam * pk
                    else:
                        extra[k] = lam * pk
                top = np.argpartition(-mixed, 5)[:5] if mixed.size > 5 else np.arange(mixed.size)
                cand = [(float(mixed[j]), tg.tokens[j]) for j in top] + [(p, k) for k, p in extra.items()]
                p_true = (1 - lam) * (float(d[w]) if w else 0.0) + lam * ptrue[i]
            else:
                top = np.argpartition(-d, 5)[:5] if d.size > 5 else np.arange(d.size)
                cand = [(float(d[j]), tg.tokens[j]) for j in top]
                p_true = float(d[w]) if w else 0.0
            cand.sort(key=lambda c: -c[0])
            ranked = [k for _, k in cand[:5]]
            if ranked and ranked[0] == keys[i]:
                h1 += 1
            if hits is not None:
                hits[(pi, i)] = bool(ranked and ranked[0] == keys[i])
            if keys[i] in ranked:
                h5 += 1
            if w:
                known += 1
                nll -= math.log(max(p_true, 1e-300))
    return {"top1": h1 / n if n else None, "top5": h5 / n if n else None,
            "nll_per_event": nll / known if known else None, "oov_rate": 1 - known / n if n else None, "events": n}


def _row(n, n_repr, h1, h5, nll) -> dict:
    return {"top1": h1 / n if n else None, "top5": h5 / n if n else None,
            "nll_per_event": nll / n_repr if n_repr else None, "oov_rate": 1 - n_repr / n if n else None,
            "events": n}


def fight_rows(model, records, pieces, lstm_copy, base_copies: dict) -> dict:
    """Every contender on the same pieces: the LSTM alone and with its copy mixture, the
    trigram alone and with its copy mixture, the copy alone (on the unigram)."""
    return {
        "lstm": _row(*combine(records)) if records is not None else None,
        "lstm_copy": _row(*combine(records, lstm_copy)) if records is not None and lstm_copy is not None else None,
        "trigram": score_base(model, pieces, "trigram"),
        "trigram_copy": score_base(model, pieces, "trigram", base_copies.get("trigram")),
        "copy": score_base(model, pieces, "unigram", base_copies.get("unigram")),
    }


# --------------------------------------------------------------------------- in-sample pieces
def _resolve_source(s: str):
    from pathlib import Path

    from ..paths import resources_dir, shared_data_dir

    from .events import M21_PREFIX, corpus_path

    if str(s).startswith(M21_PREFIX):
        c = corpus_path(s)
        return c if c.exists() else None
    p = Path(s)
    cands = [p]
    if not p.is_absolute():
        cands.append(resources_dir().parent / p)
    txt = str(s).replace("\\", "/")
    if "shared/data/" in txt:
        cands.append(shared_data_dir() / txt.split("shared/data/", 1)[1])
    for c in cands:
        if c.exists():
            return c
    return None


def _file_hash(path) -> str | None:
    import hashlib

    try:
        with open(path, "rb") as fh:
            return hashlib.sha1(fh.read()).hexdigest()
    except OSError:
        return None


def model_training_files(model) -> tuple[list, list]:
    """(files found, sources not found) of the data the model (and the model it was fine-tuned
    from) trained on, from its metadata ``sources`` / ``pretrain_sources``."""
    from .events import find_score_files

    srcs = list(model.meta.get("sources") or []) + list(model.meta.get("pretrain_sources") or [])
    files, missing = [], []
    for s in dict.fromkeys(str(x) for x in srcs):
        r = _resolve_source(s)
        if r is None:
            missing.append(s)
        else:
            files.extend(find_score_files([r]))
    uniq = {}
    for f in files:
        uniq.setdefault(f.resolve(), f)
    return list(uniq.values()), missing


def in_sample_pieces(model, pieces) -> dict:
    """Which of ``pieces`` the model has seen: ``validation`` (named in its
    ``val_piece_names``: its checkpoint and its copy mixture were chosen on them) and
    ``trained`` (a file of its training sources, same name or same bytes; pieces of the
    sources not named as validation pieces are training pieces). Returns
    ``{"validation": [...names], "trained": [...names], "sources_missing": [...]}``."""
    from pathlib import Path

    val = set(model.meta.get("val_piece_names") or [])
    train_names = set(model.meta.get("train_piece_names") or [])
    files, missing = model_training_files(model)
    names = {f.name for f in files}
    hashes = {h for h in (_file_hash(f) for f in files) if h}
    out_val, out_tr = [], []
    hcache: dict = {}
    for p in pieces:
        if p.name in val:
            out_val.append(p.name)
            continue
        src = Path(p.source)
        if src not in hcache:
            hcache[src] = _file_hash(src)
        if p.name in train_names or src.name in names or (hcache[src] and hcache[src] in hashes):
            out_tr.append(p.name)
    return {"validation": out_val, "trained": out_tr, "sources_missing": missing}


def _validation_pieces(model, pieces, should_stop=None):
    """The model's validation pieces: those among ``pieces``, plus the rest read from its sources."""
    from .events import load_corpus

    val = set(model.meta.get("val_piece_names") or [])
    got = [p for p in pieces if p.name in val]
    missing = val - {p.name for p in got}
    if missing:
        files, _ = model_training_files(model)
        want = [f for f in files if f.name in missing or any(m.startswith(f.name + "#") for m in missing)]
        if want:
            extra = load_corpus(want, should_stop=should_stop)
            got.extend(p for p in extra.pieces if p.name in missing)
    return got


def cross_fit_halves(n: int) -> tuple:
    """The two (fit, score) splits of ``n`` pieces the cross-fitted figures use: even-indexed
    pieces fit and odd ones are scored, then the other way round."""
    halves = ([i for i in range(n) if i % 2 == 0], [i for i in range(n) if i % 2 == 1])
    return halves, halves[::-1]


def fair_fight(model, corpus, records=None, cross_fit: bool = False, should_stop: ShouldStop = None) -> tuple:
    """``composer eval``'s fair fight: beside the LSTM, the trigram with the same kind of copy
    mixture and the copy alone, all from the model's own training data (the trigram/unigram
    counts stored in the model file), each mixture fitted the way the model's own was (on
    the model's validation pieces; the model's own parameters when those cannot be read).
    Figures for every piece of ``corpus`` and, separately, for the pieces the model never saw;
    with ``cross_fit`` also with every mixture fitted on one half of ``corpus`` and scored on
    the other (both ways), so no mixture parameter is fitted on the events it scores.
    Returns (report, :func:`in_sample_pieces` of ``corpus``)."""
    pieces = corpus.pieces
    ins = in_sample_pieces(model, pieces)
    if model.trigram is None:
        return {"available": False, "reason": "the model file has no trigram counts"}, ins
    seen = set(ins["validation"]) | set(ins["trained"])
    fit_pieces = _validation_pieces(model, pieces, should_stop)
    base_copies, how = {}, None
    if fit_pieces:
        try:
            base_copies = {b: fit_base_copy(model, fit_pieces, b) for b in ("trigram", "unigram")}
            how = f"fitted on the model's {len(fit_pieces)} validation pieces, as the LSTM's mixture"
        except MusiclabError:
            base_copies = {}
    if not base_copies and model.copy is not None:
        base_copies = {"trigram": model.copy, "unigram": model.copy}
        how = "the LSTM's own mixture parameters (the validation pieces could not be read)"
    out = {
        "available": True,
        "unit": BASELINE_UNIT,
        "counts": "trigram and unigram: the model's stored counts of its training pieces",
        "copy_fit": how,
        "lstm_copy_fit": (model.meta.get("copy") or {}).get("fit_on"),
        "all": fight_rows(model, records, pieces, model.copy, base_copies),
    }
    idx = [i for i, p in enumerate(pieces) if p.name not in seen]
    if seen and idx:
        out["unseen"] = fight_rows(model, [records[i] for i in idx] if records is not None else None,
                                   [pieces[i] for i in idx], model.copy, base_copies)
        out["unseen"]["pieces"] = len(idx)
    elif not seen:
        out["unseen"] = dict(out["all"], pieces=len(pieces))
    else:
        out["unseen"] = None  # every piece is in-sample
    if cross_fit and len(pieces) >= 2:
        tot: dict = {}
        for a, b in cross_fit_halves(len(pieces)):
            pa, pb = [pieces[i] for i in a], [pieces[i] for i in b]
            lc = fit_copy([records[i] for i in a])[0] if records is not None else None
            bc = {k: fit_base_copy(model, pa, k) for k in ("trigram", "unigram")}
            rows = fight_rows(model, [records[i] for i in b] if records is not None else None, pb, lc, bc)
            for k, r in rows.items():
                if r is None:
                    continue
                t = tot.setdefault(k, {"events": 0, "h1": 0.0, "h5": 0.0})
                t["events"] += r["events"]
                t["h1"] += (r["top1"] or 0) * r["events"]
                t["h5"] += (r["top5"] or 0) * r["events"]
                t.setdefault("nll", []).append((r["nll_per_event"], r["events"] * (1 - (r["oov_rate"] or 0))))
        out["cross_fit"] = {k: {"top1": t["h1"] / t["events"], "top5": t["h5"] / t["events"],
                                "nll_per_event": sum(a * w for a, w in t["nll"] if a is not None) /
                                max(sum(w for a, w in t["nll"] if a is not None), 1e-9),
                                "oov_rate": 1 - sum(w for _, w in t["nll"]) / t["events"],
                                "events": t["events"]} for k, t in tot.items()}
    return out, ins
