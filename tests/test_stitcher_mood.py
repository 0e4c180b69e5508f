"""Stitch along a mood path (issue 18, item 4): the path, the search's mood term, the chunk-emotion
cache, the CLI and the Mood path panel."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf

from musiclab.stitcher import cache, mood
from musiclab.stitcher.chain import ChainRules, alternatives_with_costs, build_chain, join_costs, render_to_length
from musiclab.stitcher.mood import MoodPath, MoodPathError, planned_report, set_chunk_moods
from musiclab.stitcher.pool import SR, build_pool
from test_stitcher_joins import Flat, mk

#: four songs, each with one mood (plane coordinates)
MOODS = [(0.3, -0.6), (0.5, 0.7), (-0.5, -0.5), (-0.5, 0.6)]
CALM_TO_EXCITED = "0.3,-0.6;0.5,0.7"


def tone(seconds: float, f: float, seed: int = 0) -> np.ndarray:
    r = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    y = 0.3 * np.sin(2 * np.pi * f * t) + 0.02 * r.standard_normal(len(t))
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


def synthetic_pool(seconds: float = 16.0):
    songs = [mk(f"s{k}", tone(seconds, 220.0 * (k + 1), k)) for k in range(len(MOODS))]
    pool = build_pool(songs, "fixed:2")
    s = np.array([c.song for c in pool.chunks])
    enc = Flat(np.random.default_rng(0).random((len(s), len(s))))
    return pool, s, enc


RULES = ChainRules(target_s=28.0, start=None, seed=3, reuse=1, max_run=0, tempo_weight=0.0, key_weight=0.0,
                   context_weight=0.0, boundary_weight=0.0)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test writes its cache entries into its own temporary folder."""
    monkeypatch.setenv("MUSICLAB_CACHE", str(tmp_path / "cache"))


def inject(pool, s, jitter: float = 0.05):
    r = np.random.default_rng(1)
    xy = np.array([MOODS[k] for k in s]) + jitter * r.standard_normal((len(s), 2))
    return set_chunk_moods(pool, xy)


# -- the path ---------------------------------------------------------------------------------------

def test_path_interpolates_and_parses_names_and_points():
    p = MoodPath.parse(CALM_TO_EXCITED)
    assert p.warnings == [] and p.points.shape == (2, 2)
    assert np.allclose(p.at(0.0), [0.3, -0.6]) and np.allclose(p.at(1.0), [0.5, 0.7])
    assert np.allclose(p.at(0.5), [0.4, 0.05]) and np.allclose(p.at(7.0), [0.5, 0.7])  # clamped past the end
    q = MoodPath.parse("sad; calm ;excited")
    assert np.allclose(q.times, [0, 0.5, 1]) and np.allclose(q.at(0.5), mood.MOODS["calm"])
    assert MoodPath.parse(p.spec()).points.tolist() == p.points.tolist()


def test_points_outside_the_plane_are_clipped_with_a_warning():
    p = MoodPath.parse("2,0;0.5,-3")
    assert np.allclose(p.points, [[1.0, 0.0], [0.5, -1.0]])
    assert len(p.warnings) == 1 and "outside" in p.warnings[0] and "(2, 0)" in p.warnings[0]


@pytest.mark.parametrize("spec", ["0.1,0.2", "", "a,b;0,0", "0.1;0.2", "1,2,3;0,0", "nan,0;0,0"])
def test_bad_paths_are_a_clear_error(spec):
    with pytest.raises(MoodPathError) as e:
        MoodPath.parse(spec)
    assert len(str(e.value)) > 20


def test_times_must_not_go_backwards():
    with pytest.raises(MoodPathError, match="backwards"):
        MoodPath.make([(0, 0), (1, 1)], times=[0.8, 0.2])
    assert MoodPath.make([(0, 0), (1, 1)], times=[-0.5, 1.0]).warnings


# -- the search ---------------------------------------------------------------------------------------

def test_the_path_cost_moves_the_chain_towards_the_curve():
    pool, s, enc = synthetic_pool()
    inject(pool, s)
    path = MoodPath.parse(CALM_TO_EXCITED)
    for method in ("greedy", "beam"):
        rules = replace(RULES, method=method, beam=4)
        plain = build_chain(pool, enc, rules)
        led = build_chain(pool, enc, replace(rules, mood_path=path, mood_weight=3.0))
        d_plain = planned_report(pool, plain.items, path, rules.target_s)["mean_distance"]
        d_led = planned_report(pool, led.items, path, rules.target_s)["mean_distance"]
        assert d_led < 0.5 * d_plain, (method, d_led, d_plain)
        half = len(led.items) // 2
        first, second = s[led.items[:half]], s[led.items[half:]]
        # calm (song 0) leads the first half, excited (song 1) the second; sad and tense stay out
        assert np.mean(first == 0) > 0.5 and np.mean(second == 1) > 0.5, (first, second)
        assert not np.isin(s[led.items], [2, 3]).any()
        # the chain's costs keep the join's own part; the search ranked by join + mood
        c = join_costs(pool, enc, led, 3, replace(rules, mood_path=path, mood_weight=3.0))
        c0 = join_costs(pool, enc, led, 3, rules)
        assert np.isfinite(led.costs[3]) and led.costs[3] == pytest.approx(c0[led.items[3]])
        assert c[led.items[3]] > c0[led.items[3]]
        # the alternatives show the join's own cost too (their match %), not join + mood
        alts = alternatives_with_costs(pool, enc, led, 3, 5, replace(rules, mood_path=path, mood_weight=3.0))
        assert alts and all(cost == pytest.approx(c0[i]) for i, _s, cost in alts)
        cj = join_costs(pool, enc, led, 3, replace(rules, mood_path=path, mood_weight=3.0), join_only=True)
        assert np.allclose(cj[np.isfinite(c0)], c0[np.isfinite(c0)])


def test_a_higher_weight_follows_the_curve_more_closely():
    pool, s, enc = synthetic_pool()
    inject(pool, s, jitter=0.3)
    path = MoodPath.parse("sad;happy")
    d = [planned_report(pool, build_chain(pool, enc, replace(RULES, mood_path=path, mood_weight=w)).items,
                        path, RULES.target_s)["mean_distance"] for w in (0.0, 0.5, 5.0)]
    assert d[2] < d[1] < d[0]


def test_a_mood_build_reuses_chunks_and_follows_a_scarce_mood_closer():
    # 4 calm and 4 excited chunks for a 12-chunk song going calm -> excited: each used once, the
    # song must take sad or tense chunks; with the mood build's reuse (2) it need not
    pool, s, enc = synthetic_pool(8.0)
    assert len(pool.chunks) == 16
    inject(pool, s)
    path = MoodPath.parse(CALM_TO_EXCITED)
    base = replace(RULES, target_s=24.0)
    r = mood.path_rules(base, path)
    assert r.reuse == mood.DEFAULT_REUSE == 2 and r.mood_weight == mood.DEFAULT_WEIGHT and r.mood_path is path
    assert mood.path_rules(replace(base, reuse=3), path).reuse == 3  # a higher reuse is kept
    assert mood.path_rules(base, None) is base and mood.path_rules(base, path, 0.0) is base
    for method in ("greedy", "beam"):
        once = build_chain(pool, enc, replace(base, method=method, mood_path=path, mood_weight=mood.DEFAULT_WEIGHT))
        twice = build_chain(pool, enc, replace(r, method=method))
        assert np.bincount(once.items).max() == 1 and np.bincount(twice.items).max() == 2
        d1 = planned_report(pool, once.items, path, base.target_s)["mean_distance"]
        d2 = planned_report(pool, twice.items, path, base.target_s)["mean_distance"]
        # (the start is drawn among the five chunks nearest the path's start: one may be sad)
        assert np.isin(s[once.items[1:]], [2, 3]).sum() >= 2 and not np.isin(s[twice.items[1:]], [2, 3]).any()
        assert d2 < d1 - 0.1, (method, d1, d2)


def test_no_path_is_exactly_todays_chain(monkeypatch):
    pool, s, enc = synthetic_pool()

    def no_model(*a, **k):
        raise AssertionError("the chunk emotions must not be needed without a mood path")

    monkeypatch.setattr(mood, "predict_chunk_moods", no_model)
    for rules in (RULES, replace(RULES, method="beam", beam=4), ChainRules(target_s=30.0, seed=5)):
        ref = build_chain(pool, enc, rules)
        for off in (replace(rules, mood_path=None, mood_weight=3.0),
                    replace(rules, mood_path=MoodPath.parse(CALM_TO_EXCITED), mood_weight=0.0)):
            ch = build_chain(pool, enc, off)
            assert ch.items == ref.items
            assert np.array_equal(np.array(ch.costs), np.array(ref.costs), equal_nan=True)
    # chunk emotions present on the pool change nothing either
    inject(pool, s)
    assert build_chain(pool, enc, RULES).items == build_chain(pool, enc, replace(RULES, mood_weight=2.0)).items


def test_the_start_chunk_is_near_the_paths_start():
    pool, s, enc = synthetic_pool()
    inject(pool, s)
    for seed in range(4):
        ch = build_chain(pool, enc, replace(RULES, seed=seed, mood_path=MoodPath.parse("tense;sad"),
                                            mood_weight=2.0))
        assert s[ch.items[0]] == 3


def test_a_pool_with_no_chunk_near_the_mood_gives_the_nearest_and_says_so():
    pool, s, enc = synthetic_pool()
    set_chunk_moods(pool, np.tile([-0.8, -0.8], (len(s), 1)) + 0.01 * np.arange(len(s))[:, None] / len(s))
    path = MoodPath.parse("excited;happy")
    ch = build_chain(pool, enc, replace(RULES, mood_path=path, mood_weight=3.0))
    assert len(ch.items) > 5
    rep = planned_report(pool, ch.items, path, RULES.target_s)
    assert rep["floor"] > 1.5 and "No chunk of the pool is near the requested mood" in rep["message"]
    assert f"{rep['floor']:.2f}" in rep["message"]
    # a pool that has the mood: no such message
    inject(pool, s)
    ok = planned_report(pool, build_chain(pool, enc, replace(RULES, mood_path=path, mood_weight=3.0)).items,
                        path, RULES.target_s)
    assert "No chunk" not in ok["message"]


def test_render_to_length_keeps_the_paths_span():
    pool, s, enc = synthetic_pool()
    inject(pool, s)
    path = MoodPath.parse(CALM_TO_EXCITED)
    rules = replace(RULES, target_s=30.0, mood_path=path, mood_weight=3.0)
    seen = []
    orig = build_chain

    def spy(pool_, enc_, rules_=None, *a, **k):
        seen.append(rules_)
        return orig(pool_, enc_, rules_, *a, **k)

    import musiclab.stitcher.chain as chain_mod

    ch = build_chain(pool, enc, replace(rules, target_s=20.0))  # short: render_to_length must chain more
    try:
        chain_mod.build_chain = spy
        ch2, r = render_to_length(pool, enc, ch, rules, 60.0, beat_align=False, quality="analysis")
    finally:
        chain_mod.build_chain = orig
    assert len(ch2.items) > len(ch.items) and seen
    assert all(x.mood_span_s == 30.0 for x in seen)


def test_set_chunk_moods_is_validated():
    pool, s, _ = synthetic_pool()
    with pytest.raises(MoodPathError):
        set_chunk_moods(pool, np.zeros((len(s) - 1, 2)))
    with pytest.raises(MoodPathError):
        set_chunk_moods(pool, np.full((len(s), 2), np.nan))


# -- chunk emotions: predicted once, cached by content ----------------------------------------------

class FakeEmotion:
    """An Emotion model stand-in: P(Q1) rises with the window's loudness, counted calls."""

    name = "fake.pt"
    meta = {"arch": "fake", "v": 1}
    needs_frame_features = False
    needs_audio = True

    def __init__(self):
        self.calls = 0
        self.windows = 0

    def predict_windows(self, logmel, ff, starts, win, audio=None):
        self.calls += 1
        self.windows += len(starts)
        out = []
        for st in starts:
            seg = audio[st * 512: st * 512 + win * 512]
            rms = float(np.sqrt(np.mean(seg ** 2))) if len(seg) else 0.0
            p1 = min(0.9, 0.1 + 2 * rms)
            out.append([p1, 0.1, 0.1, 0.9 - p1 + 0.1])
        p = np.array(out)
        return p / p.sum(axis=1, keepdims=True)


@pytest.fixture
def fake_model(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICLAB_CACHE", str(tmp_path / "cache"))
    cache.STATS.clear()
    m = FakeEmotion()
    monkeypatch.setattr(mood, "_model", lambda model=None: m)
    return m


def test_chunk_moods_are_predicted_once_per_song_and_cached(fake_model, tmp_path):
    pool, s, _ = synthetic_pool(12.0)
    got = mood.predict_chunk_moods(pool)
    assert got["xy"].shape == (len(s), 2) and got["probs"].shape == (len(s), 4)
    assert fake_model.calls == len(MOODS) and fake_model.windows == len(s)  # one batch per song
    assert cache.STATS.get("moods_miss") == len(MOODS)
    # the same pool again: nothing predicted (kept on the pool)
    assert mood.predict_chunk_moods(pool) is got and fake_model.calls == len(MOODS)
    # a new pool of the same songs: read from disk, equal
    pool2, _, _ = synthetic_pool(12.0)
    again = mood.predict_chunk_moods(pool2)
    assert fake_model.calls == len(MOODS) and cache.STATS.get("moods_hit") == len(MOODS)
    assert np.array_equal(again["probs"], got["probs"]) and np.array_equal(again["xy"], got["xy"])
    # other chunk spans are another entry
    pool3 = build_pool(pool.songs, "fixed:3")
    mood.predict_chunk_moods(pool3)
    assert fake_model.calls == 2 * len(MOODS)


def test_chunk_moods_stop_when_asked(fake_model):
    from musiclab.errors import Cancelled

    pool, _, _ = synthetic_pool(8.0)
    seen = []
    with pytest.raises(Cancelled):
        mood.predict_chunk_moods(pool, should_stop=lambda: len(seen) >= 2,
                                 on_progress=lambda d, t, m: seen.append((d, t)))
    assert fake_model.calls < len(MOODS)


def test_the_real_emotion_model_rates_chunks_and_a_result(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICLAB_CACHE", str(tmp_path / "cache"))
    songs = [mk("lo", tone(12.0, 110.0, 0)), mk("hi", tone(12.0, 1760.0, 1))]
    pool = build_pool(songs, "fixed:3")
    m = mood.predict_chunk_moods(pool)
    assert m["xy"].shape == (len(pool.chunks), 2) and np.all(np.abs(m["xy"]) <= 1)
    assert np.allclose(m["probs"].sum(axis=1), 1.0, atol=1e-3)
    y = np.concatenate([s.y for s in songs])
    rep = mood.result_report(y, SR, MoodPath.parse("calm;excited"))
    assert rep["quadrant"] in ("Q1", "Q2", "Q3", "Q4") and len(rep["segments"]) >= 3
    seg = rep["segments"][0]
    assert seg["distance"] == pytest.approx(np.hypot(seg["valence"] - seg["want"][0],
                                                     seg["arousal"] - seg["want"][1]), abs=1e-3)
    assert rep["mean_distance"] == pytest.approx(np.mean([s["distance"] for s in rep["segments"]]), abs=1e-3)


# -- the CLI ---------------------------------------------------------------------------------------------

def _songs_on_disk(tmp_path):
    d = tmp_path / "songs"
    d.mkdir()
    for k in range(3):
        sf.write(d / f"t{k}.wav", tone(10.0, 220.0 * (k + 1), k), SR)
    return d


def test_cli_build_along_a_mood_path_reports_the_result(tmp_path, monkeypatch, capsys, fake_model):
    from musiclab.cli import main

    d = _songs_on_disk(tmp_path)
    out = tmp_path / "o.wav"
    rc = main(["stitcher", "build", "--songs", str(d), "--out", str(out), "--minutes", "0.4",
               "--chunking", "fixed:2", "--scorer", "boundary", "--mood-path", "0.3,-0.6;0.5,0.7;2,0",
               "--mood-weight", "2", "--json"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    res = json.loads(cap.out.strip().splitlines()[-1])
    m = res["mood"]
    assert m["weight"] == 2.0 and m["path"]["points"][2] == [1.0, 0.0] and m["warnings"]
    assert m["reuse"] == mood.DEFAULT_REUSE  # no --reuse: a chunk may appear twice along a path
    assert "outside" in cap.err
    assert m["segments"] and all({"t", "valence", "arousal", "want", "distance"} <= set(s) for s in m["segments"])
    assert m["mean_distance"] == pytest.approx(np.mean([s["distance"] for s in m["segments"]]), abs=1e-3)
    assert m["quadrant"] in ("Q1", "Q2", "Q3", "Q4") and m["planned_distance"] is not None
    assert out.is_file()


def test_cli_rejects_a_bad_mood_path(tmp_path, capsys):
    from musiclab.cli import main

    d = _songs_on_disk(tmp_path)
    rc = main(["stitcher", "stitch", "--songs", str(d), "--out", str(tmp_path / "o.wav"), "--mood-path", "0.5,0.5"])
    assert rc == 2 and "at least two points" in capsys.readouterr().err


# -- the GUI ------------------------------------------------------------------------------------------

REPORT = {"model": "fake.pt", "duration": 60.0, "quadrant": "Q1", "mood": "happy / excited", "xy": [0.31, 0.12],
          "segments": [{"start": 5.0 * k, "end": 5.0 * k + 10, "t": 5.0 * k + 5,
                        "valence": 0.3 + 0.02 * k, "arousal": -0.6 + 0.12 * k} for k in range(11)],
          "path": {"points": [[0.3, -0.6], [0.5, 0.7]], "times": [0.0, 1.0]}, "mean_distance": 0.12,
          "asked": "Q4 → Q1"}


@pytest.fixture
def gui_tab(qtbot, tmp_path):
    pytest.importorskip("pyqtgraph")
    from conftest import tab_context
    from musiclab.gui.tabs.stitcher import StitcherTab

    ctx = tab_context(tmp_path)
    t = StitcherTab(ctx)
    qtbot.addWidget(t)
    t.resize(1280, 900)
    t.show()
    yield t
    t.svc.shutdown()


def test_mood_panel_shows_an_injected_result_and_the_timeline(qtbot, tmp_path):
    pytest.importorskip("pyqtgraph")
    from musiclab.gui.tabs.stitcher.mood_panel import MoodPanel, result_text
    from musiclab.gui.widgets.mood_path import MoodTimeline

    p = MoodPanel()
    qtbot.addWidget(p)
    assert p.path() is None  # off by default: today's search
    p.setChecked(True)
    path = p.path()
    assert np.allclose(path.points, [[0.3, -0.6], [0.5, 0.7]]) and p.weight() == mood.DEFAULT_WEIGHT
    p.preset.setCurrentText("sad → happy")
    assert np.allclose(p.path().points, [[-0.5, -0.5], [0.5, 0.5]])
    i = p.plane.add_point(0.0, 0.1)
    assert i == 1 and len(p.path().points) == 3 and p.preset.currentText().startswith("custom")
    assert not p.plane.remove_point(0) and p.plane.remove_point(1) and len(p.plane.points()) == 2
    p.set_weight(15)
    assert p.weight() == 15.0  # the default (10) is not the slider's end
    p.set_weight(0)
    assert p.path() is None
    p.set_weight(4)
    p.set_chunk_moods({"xy": np.array([[0.1, 0.2], [-0.5, 0.4]]), "model": "fake.pt"})
    assert p.plane.chunk_count() == 2 and "2 chunks rated" in p.chunks_label.text()
    p.show_result(REPORT)
    txt = p.result_label.text()
    assert "Q4 calm" in txt and "Q1 happy" in txt and "+0.31" in txt and "0.12" in txt
    assert "no mood path" in result_text({**REPORT, "asked": None})
    tl = MoodTimeline()
    qtbot.addWidget(tl)
    assert tl.isHidden()  # nothing to show before a song is rated
    tl.set_report(REPORT)
    assert not tl.isHidden() and "arousal" in tl.getPlotItem().titleLabel.text
    x, y = tl.got_a.getData()
    assert len(x) == 11 and y[0] == pytest.approx(-0.6)
    wx, wy = tl.want_a.getData()
    assert wx[-1] == pytest.approx(60.0) and wy[0] == pytest.approx(-0.6) and wy[-1] == pytest.approx(0.7)
    tl.set_report(None)
    assert len(tl.got_v.getData()[0] or []) == 0 and tl.isHidden()


def test_the_tab_builds_along_the_path_with_the_chunk_job_first(gui_tab, qtbot, tmp_path, fake_model):
    from musiclab.stitcher.pool import build_pool as bp

    t = gui_tab
    pool, s, _ = synthetic_pool(10.0)
    t._set_pool(pool)
    t.train_panel.set_scorer("boundary")
    t.build_panel.minutes.setValue(0.4)
    t.mood_panel.setChecked(True)
    r = t.rules()
    assert r.mood_path is not None and r.mood_weight == mood.DEFAULT_WEIGHT
    assert t.build_panel.rules().reuse == 1 and r.reuse == mood.DEFAULT_REUSE  # a chunk twice along a path
    assert not t.mood_view.isVisible()  # no empty mood plot before a song is built
    t.build()
    qtbot.waitUntil(lambda: t.built is not None and t.built.mood is not None, timeout=240000)  # a busy 2-core machine
    assert mood.chunk_moods(pool) is not None and t.mood_panel.plane.chunk_count() == len(pool.chunks)
    rep = t.built.mood
    assert t.mood_view.isVisible()
    assert rep["path"]["points"] == [[0.3, -0.6], [0.5, 0.7]] and rep["mean_distance"] is not None
    assert "asked" in t.mood_panel.result_label.text()
    assert len(t.mood_view.got_v.getData()[0]) == len(rep["segments"])
    t.grab().save(str(tmp_path / "tab.png"))
    # off again: the rules carry no path
    t.mood_panel.setChecked(False)
    assert t.rules().mood_path is None and t.rules().reuse == 1
    del bp


def test_chunk_prices_make_a_scarce_mood_dear_and_a_plentiful_one_free():
    # 6 calm chunks, 1 excited one, 6 in between; a song of 8 slots going calm -> excited: the last two
    # slots both want the excited chunk
    xy = np.array([MOODS[0]] * 6 + [MOODS[1]] + [(0.4, 0.05)] * 6, float)
    path = MoodPath.parse(CALM_TO_EXCITED)
    p = mood.chunk_prices(xy, np.full(len(xy), 2.0), path, 16.0, reuse=1)
    assert p.shape == (len(xy),) and np.all(p >= 0)
    # its price is what the loser of the two slots pays for the neutral chunk instead (0.41 - 0.25)
    assert p[6] == pytest.approx(0.164, abs=0.01)
    assert max(p[:6].max(), p[7:].max()) < 0.02  # calm and neutral chunks are plentiful: free
    # reuse 2: the excited chunk can serve both slots, it is no longer scarce
    assert mood.chunk_prices(xy, np.full(len(xy), 2.0), path, 16.0, reuse=2)[6] < 0.02
    # the search with prices keeps the excited chunks for the end
    pool, s, enc = synthetic_pool(8.0)
    assert len(pool.chunks) == 16
    xy = np.array([MOODS[0] if k < 2 else MOODS[1] if k == 2 else (0.4, 0.05) for k in s], float)
    xy += 0.01 * np.random.default_rng(0).standard_normal(xy.shape)
    set_chunk_moods(pool, xy)
    rules = replace(RULES, target_s=24.0, mood_path=path, mood_weight=6.0)
    ch = build_chain(pool, enc, rules)
    late = [k for k, i in enumerate(ch.items) if s[i] == 2]
    assert late and min(late) >= len(ch.items) // 2, [int(s[i]) for i in ch.items]
