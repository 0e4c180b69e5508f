"""Classification metrics of the study material (precision, recall, F1, ROC) and
Spearman correlation for numeric valence/arousal. numpy only (scipy for Spearman)."""

from __future__ import annotations

from typing import Optional

import numpy as np

QUADRANTS = ("Q1", "Q2", "Q3", "Q4")


def confusion(y_true, y_pred, n: int = 4) -> np.ndarray:
    cm = np.zeros((n, n), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        cm[int(t), int(p)] += 1
    return cm


def roc_curve(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """One-vs-rest ROC: ``(fpr, tpr, auc)``; auc is NaN when a class is absent."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    P, N = positive.sum(), (~positive).sum()
    if P == 0 or N == 0:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0]), float("nan")
    order = np.argsort(-scores, kind="mergesort")
    s, pos = scores[order], positive[order]
    tps = np.cumsum(pos)
    fps = np.cumsum(~pos)
    distinct = np.r_[np.where(np.diff(s))[0], len(s) - 1]
    tpr = np.r_[0.0, tps[distinct] / P]
    fpr = np.r_[0.0, fps[distinct] / N]
    auc = float(np.trapezoid(tpr, fpr)) if hasattr(np, "trapezoid") else float(np.trapz(tpr, fpr))
    return fpr, tpr, auc


def log_loss(y_true, probs) -> float:
    """Mean negative log probability given to the true class (probabilities clipped at 1e-12)."""
    probs = np.asarray(probs, dtype=np.float64)
    y_true = np.asarray(y_true, dtype=np.int64)
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y_true)), y_true], 1e-12, 1.0))))


def spearman(a, b) -> float:
    from scipy.stats import spearmanr

    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def evaluate(y_true, probs, valence: Optional[np.ndarray] = None, arousal: Optional[np.ndarray] = None,
             with_roc: bool = True) -> dict:
    """Metrics dict with the keys of ``emotion eval --json`` (plus ``auc``/``roc``, and ``log_loss`` and
    ``mean_confidence``: the mean top probability, to set against the accuracy)."""
    y_true = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    y_pred = probs.argmax(axis=1)
    cm = confusion(y_true, y_pred)
    per = {}
    f1s = []
    for i, q in enumerate(QUADRANTS):
        tp = cm[i, i]
        prec = tp / cm[:, i].sum() if cm[:, i].sum() else 0.0
        rec = tp / cm[i, :].sum() if cm[i, :].sum() else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per[q] = {"precision": round(float(prec), 4), "recall": round(float(rec), 4), "f1": round(float(f1), 4)}
        if cm[i, :].sum():
            f1s.append(f1)
    high_t, high_p = y_true <= 1, y_pred <= 1
    pos_t, pos_p = np.isin(y_true, (0, 3)), np.isin(y_pred, (0, 3))
    out = {
        "clips": int(len(y_true)),
        "accuracy": round(float((y_pred == y_true).mean()) if len(y_true) else 0.0, 4),
        "macro_f1": round(float(np.mean(f1s)) if f1s else 0.0, 4),
        "arousal_accuracy": round(float((high_t == high_p).mean()) if len(y_true) else 0.0, 4),
        "valence_accuracy": round(float((pos_t == pos_p).mean()) if len(y_true) else 0.0, 4),
        "per_class": per,
        "confusion": cm.tolist(),
    }
    if len(y_true):  # how sure the model was, against how often it was right
        out["log_loss"] = round(log_loss(y_true, probs), 4)
        out["mean_confidence"] = round(float(probs.max(axis=1).mean()), 4)
    if with_roc:
        roc, auc = {}, {}
        for i, q in enumerate(QUADRANTS):
            fpr, tpr, a = roc_curve(probs[:, i], y_true == i)
            roc[q] = {"fpr": [round(float(x), 4) for x in fpr], "tpr": [round(float(x), 4) for x in tpr]}
            auc[q] = round(a, 4) if np.isfinite(a) else float("nan")
        out["auc"] = auc
        out["roc"] = roc
    if valence is not None and arousal is not None:
        from .model import va_from_probs

        v, a = va_from_probs(probs)
        out["spearman_valence"] = round(spearman(v, valence), 4)
        out["spearman_arousal"] = round(spearman(a, arousal), 4)
    return out
