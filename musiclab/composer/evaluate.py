"""``composer eval``: score every event of every piece given the events before it.

Default model: the LSTM runs through each piece once (state kept); at every event
boundary the event's NLL is the sum of its sub-token NLLs, and a beam search over
sub-tokens from that state gives the model's top-5 events (top-1 = the best beam).
Seed model: softmax over its tokens; tokens it never saw are misses (OOV).
"""

from __future__ import annotations

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


def beam_topk(net, h, c, first_logp, beam: int = 8, k: int = 5, max_len: int = 14, pos=None):
    """Beam search over sub-tokens for N start states at once.

    h, c: (layers, N, H) states; first_logp: (N, V) log-probs of the first sub-token;
    pos: (N,) metrical onsets of the events (metre nets; constant within an event).
    Returns a list (len N) of up to ``k`` (tokens tuple, logp) completed events, best first.
    """
    import torch

    N, V = first_logp.shape
    B = beam
    scores, toks = first_logp.topk(B, dim=1)  # (N, B)
    seqs = toks.unsqueeze(-1)  # (N, B, 1)
    done = toks >= enc.D0
    L, _, H = h.shape
    h = h.unsqueeze(2).expand(L, N, B, H).reshape(L, N * B, H).contiguous()
    c = c.unsqueeze(2).expand(L, N, B, H).reshape(L, N * B, H).contiguous()
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
        logits, (h2, c2) = net(last, (h, c), bpos) if bpos is not None else net(last, (h, c))
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
        h = h2[:, gidx, :]
        c = c2[:, gidx, :]
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

    H, C: (layers, N, hidden) states before N events; first_logp: (N, V); pos: (N,) onsets
    (metre nets); items: list of (n, tokens). Returns a list of floats (one per item)."""
    import torch

    out: list[float] = []
    metre = getattr(net, "metre", False)
    for s in range(0, len(items), chunk):
        part = items[s : s + chunk]
        idx = torch.tensor([n for n, _ in part], dtype=torch.long)
        lens = torch.tensor([len(t) for _, t in part], dtype=torch.long)
        T = int(lens.max())
        toks = torch.full((len(part), T), enc.PAD, dtype=torch.long)
        for r, (_, t) in enumerate(part):
            toks[r, : len(t)] = torch.tensor(t, dtype=torch.long)
        lp = first_logp[idx].gather(1, toks[:, :1]).squeeze(1)
        h = H[:, idx].contiguous()
        c = C[:, idx].contiguous()
        bpos = pos[idx].reshape(-1, 1) if metre else None
        for t in range(1, T):
            active = lens > t
            if not bool(active.any()):
                break
            x = toks[:, t - 1 : t]
            logits, (h, c) = net(x, (h, c), bpos) if metre else net(x, (h, c))
            step = torch.log_softmax(logits[:, 0, :], -1).gather(1, toks[:, t : t + 1]).squeeze(1)
            lp = lp + torch.where(active, step, torch.zeros_like(step))
        out.extend(lp.tolist())
    return out


def event_records(model, pieces, beam: int = 8, copy_support: int = 12, should_stop=None, on_progress=None,
                  total_events: int = 0):
    """What scoring needs, computed once per corpus: for every piece, its event keys (None =
    not representable) and, per representable event, the LSTM log-prob of the true event and
    of a candidate set (the beam's top 5 plus the events the piece's own history suggests,
    see :mod:`.selfcopy`)."""
    import torch

    from .selfcopy import piece_copy_stats

    net = model.net
    out = []
    done_events = 0
    with torch.inference_mode():
        for piece in pieces:
            check_stop(should_stop)
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
            hs, cs = [], []
            state = None
            pos = 0
            bpos = [b[1] for b in bounds]
            for bp in bpos:
                seg = x[:, pos : bp + 1]
                _, state = net.lstm(net.embed(seg, mpos[:, pos : bp + 1]), state)
                hs.append(state[0][:, 0])
                cs.append(state[1][:, 0])
                pos = bp + 1
            H = torch.stack(hs, 1)
            C = torch.stack(cs, 1)
            first = logp[bpos]  # (N, V)
            epos = mpos[0, bpos]  # (N,) onset of each event
            cands: list[dict] = []
            for s in range(0, len(bounds), 512):
                check_stop(should_stop)
                res = beam_topk(net, H[:, s : s + 512].contiguous(), C[:, s : s + 512].contiguous(), first[s : s + 512],
                                beam=beam, pos=epos[s : s + 512])
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
                for (n, k), lp in zip(where, score_sequences(net, H, C, first, epos, items)):
                    cands[n][k] = lp
            for n, (ei, bp) in enumerate(bounds):
                L = len(toks_per_event[ei])
                rec["events"][ei] = (float(tok_lp[bp : bp + L].sum()), cands[n])
            done_events += len(piece.events)
            report(on_progress, done_events, total_events, piece.name)
    return out


def combine(records, copy=None) -> tuple[int, int, int, int, float]:
    """(events, representable, top-1 hits, top-5 hits, NLL sum) of ``records``
    (:func:`event_records`), with the copy mixture ``copy`` (:class:`.selfcopy.CopyParams`)
    or the LSTM alone (None)."""
    import math

    from .selfcopy import piece_copy_stats

    n = n_repr = h1 = h5 = 0
    nll = 0.0
    for rec in records:
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
             use_copy: bool = True) -> dict:
    total = corpus.n_events
    pieces = corpus.pieces
    if model.arch in ("event-lstm", "event-lstm-v2"):
        records = event_records(model, pieces, beam, should_stop=should_stop, on_progress=on_progress,
                                total_events=total)
        n, n_repr, h1, h5, nll = combine(records, model.copy if use_copy else None)
    else:
        n, n_repr, h1, h5, nll = _score_seed_model(model, pieces, should_stop, on_progress, total)
    base = {"top1": None, "nll_per_event": None}
    if model.trigram is not None:
        tg = Trigram(model.trigram).score([p.events for p in pieces])
        base = {"top1": tg["top1"], "nll_per_event": tg["nll_per_event"]}
    return {
        "pieces": len(pieces),
        "skipped": len(corpus.skipped),
        "events": n,
        "top1": h1 / n if n else None,
        "top5": h5 / n if n else None,
        "nll_per_event": nll / n_repr if n_repr else None,
        "oov_rate": 1 - n_repr / n if n else None,
        "baselines": {"trigram": base},
    }
