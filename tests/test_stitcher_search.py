"""The stitcher's search defaults, its extra cost terms and the calibrated "match %" (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest

from musiclab.stitcher.chain import (BUILD_DEFAULTS, MATCH_CALIBRATION, ChainRules, build_chain, chunk_context,
                                     join_costs, match_probability)
from musiclab.stitcher.pool import SR, build_pool
from musiclab.stitcher.scorers import BoundaryScorer, Encoded, MixedEncoded, get_scorer
from tests.test_stitcher_joins import Flat, mk


def tone(seconds: float, f: float, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    r = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    y = 0.3 * np.sin(2 * np.pi * f * t) + noise * r.standard_normal(len(t))
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


def test_build_defaults_are_the_tuned_search():
    r = BUILD_DEFAULTS["rules"]
    assert r.method == "beam" and r.beam >= 2 and r.max_same_song == 4 and r.variety_weight == 1.0
    assert r.boundary_weight == 0.0 and BUILD_DEFAULTS["chunking"] == "beats:8" and BUILD_DEFAULTS["beat_align"]


def test_match_probability_is_monotone_and_only_for_its_scorer():
    xs = np.linspace(-5, 15, 200)
    p = match_probability(xs)
    assert np.all((p > 0) & (p < 1)) and np.all(np.diff(p) < 0)  # a higher cost is never more likely clean
    assert MATCH_CALIBRATION["a"] < 0
    assert match_probability(-3.0) > 0.95 and match_probability(10.0) < 0.1  # cheap joins are clean, costly are not
    assert match_probability(0.0) == pytest.approx(1 / (1 + np.exp(-MATCH_CALIBRATION["b"])))
    assert np.isnan(match_probability(float("nan"))) and match_probability(float("inf")) == 0.0
    assert match_probability(0.0, scorer="boundary") is None  # not calibrated for other scorers


def test_boundary_weight_turns_the_search_towards_the_boundary_cosines_choice():
    # three songs: "a" and "b" sound alike (same tone), "c" is noise; the scorer (flat matrix)
    # prefers c after a, the boundary cosine prefers b: with the boundary term the search follows it
    songs = [mk("a", tone(8, 440.0)), mk("b", tone(8, 440.0, 0.01, 1)), mk("c", tone(8, 440.0, 0.8, 2))]
    pool = build_pool(songs, "fixed:2")
    s = np.array([c.song for c in pool.chunks])
    m = np.where(s[None, :] == 2, 1.0, 0.0) + 0.01 * np.random.default_rng(0).random((len(s), len(s)))
    base = dict(target_s=4.0, start=0, max_run=0, context_weight=0.0, tempo_weight=0.0, key_weight=0.0)
    plain = build_chain(pool, Flat(m), ChainRules(**base, boundary_weight=0.0))
    assert s[plain.items[1]] == 2
    mixed = build_chain(pool, Flat(m), ChainRules(**base, boundary_weight=3.0))
    assert s[mixed.items[1]] != 2
    # the cost the search used is the one join_costs reports
    c = join_costs(pool, Flat(m), mixed, 1, ChainRules(**base, boundary_weight=3.0))
    assert c[mixed.items[1]] == pytest.approx(mixed.costs[1]) and int(np.argmin(c)) == mixed.items[1]


def test_jump_and_exit_costs_penalise_timbre_jumps():
    songs = [mk("a", tone(8, 440.0)), mk("b", tone(8, 445.0, 0.01, 1)), mk("c", tone(8, 3000.0, 0.9, 2))]
    pool = build_pool(songs, "fixed:2")
    cx = chunk_context(pool)
    assert "exit_dt" in cx and len(cx["exit_dt"]) == len(pool.chunks)
    s = np.array([c.song for c in pool.chunks])
    m = np.zeros((len(s), len(s)))
    base = dict(target_s=4.0, start=0, max_run=0, tempo_weight=0.0, key_weight=0.0, boundary_weight=0.0,
                context_weight=0.0)
    off = join_costs(pool, Flat(m), build_chain(pool, Flat(m), ChainRules(**base)), 1, ChainRules(**base))
    on_rules = ChainRules(**base, jump_weight=5.0, jump_limit=1.5, exit_weight=0.0)
    on = join_costs(pool, Flat(m), build_chain(pool, Flat(m), on_rules), 1, on_rules)
    ok = np.isfinite(on) & np.isfinite(off)
    far, near = (s == 2) & ok, (s == 1) & ok
    assert far.any() and near.any()
    # the noise song's chunks cost more with the jump term, the similar song's do not
    assert np.mean((on - off)[far]) > 1.0 + np.mean((on - off)[near])


def test_mixed_scorer_combines_row_z_scores():
    a = Flat(np.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0], [1.0, 1.0, 1.5]]))
    b = Flat(np.array([[0.0, 10.0, 20.0], [0.0, 0.0, 0.0], [5.0, 1.0, 1.0]]))
    mix = MixedEncoded([a, b], [1.0, 1.0])
    row = mix.scores([0])[0]
    assert np.argmax(row) == 2 and row[2] == pytest.approx(2 * 1.2247, abs=1e-3)
    assert mix.pair(1, 0) == pytest.approx(float(mix.scores([1])[0, 0]))
    assert get_scorer("edge+boundary").name == "edge+boundary"
    pool = build_pool([mk("a", tone(6, 440.0)), mk("b", tone(6, 660.0, 0.1, 1))], "fixed:2")
    enc = get_scorer("edge+boundary").encode(pool)
    assert enc.scores([0]).shape == (1, len(pool.chunks)) and np.all(np.isfinite(enc.scores([0])))
    assert isinstance(BoundaryScorer().encode(pool), Encoded)
