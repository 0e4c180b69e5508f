"""Training streams its material: from pieces in memory or from an event store on disk.

The lazy stream must cut exactly the batches the in-memory stream gave (same rows, same
transpositions, same metrical positions), a model trained from an event store must equal
one trained from the MIDI files it was ingested from, and the stream must not read the
whole store to start.
"""

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from conftest import DATA  # noqa: E402

NOTTINGHAM = DATA / "midi" / "nottingham"


def _files(n):
    files = sorted(NOTTINGHAM.glob("*.mid"))[:n]
    if len(files) < n:
        pytest.skip(f"needs {n} Nottingham MIDI files in {NOTTINGHAM}")
    return files


def _corpus(files):
    from musiclab.composer.events import load_corpus

    c = load_corpus([str(f) for f in files], workers=1)
    assert len(c.pieces) == len(files)
    return c.pieces


@pytest.mark.parametrize("representation", ["sequential", "timed"])
def test_the_lazy_stream_cuts_the_batches_the_whole_stream_cut(representation):
    from musiclab.composer import encoding as enc
    from musiclab.composer.stream import Stream, draw_shifts, from_pieces, stream_batches
    from musiclab.composer.train import _batches, _stream_event

    pieces = _corpus(_files(8))
    timed = representation == "timed"
    order = list(pieces)
    random.Random(3).shuffle(order)
    whole = _stream_event(order, random.Random(7), representation)
    items = from_pieces(order, representation)
    stream = Stream(items, draw_shifts(items, random.Random(7)), timed=timed, cache=4)
    assert len(stream) == len(whole)
    assert any(draw_shifts(items, random.Random(7)))  # augmentation really moved something
    ref = list(_batches(whole, 5, 37, with_pos=True, timed=timed))
    got = list(stream_batches(stream, 5, 37, with_pos=True))
    assert len(got) == len(ref) > 3
    for (x0, y0, p0), (x1, y1, p1) in zip(ref, got):
        assert torch.equal(x0, x1) and torch.equal(y0, y1) and torch.equal(p0, p1)
    # the positions are the whole stream's, not reset at every window
    assert torch.equal(torch.tensor(enc.positions(whole, timed=timed))[: ref[0][2].shape[1]], ref[0][2][0])


def _ingest(files, out):
    from musiclab.composer.ingest import ingest

    index = ingest([str(f) for f in files], out, workers=1, shard_size=3)
    assert index["pieces"] == len(files) and not index["skipped"]
    return index


def _weights(model):
    return {k: v.detach().clone() for k, v in model.net.state_dict().items()}


def test_training_from_an_event_store_equals_training_from_its_midi_files(tmp_path):
    from musiclab.composer.stream import from_store, open_store
    from musiclab.composer.train import prepare_model, train_model

    files = _files(9)
    pieces = sorted(_corpus(files), key=lambda p: p.source)
    _ingest(files, tmp_path / "store")
    store = open_store(tmp_path / "store")
    items = sorted(from_store(store), key=lambda p: p.source)
    assert [Path(p.source).name for p in items] == [Path(p.source).name for p in pieces]
    # what the store gives back is what the MIDI files give (names as music21 spells them)
    assert [tuple(e) for e in items[0].events] == [tuple(e[:3]) for e in pieces[0].events]

    def run(train, val, out):
        torch.manual_seed(0)
        model = prepare_model("small", train, val, ["x"])
        res = train_model(model, train, val, out, epochs=1, seq_len=32, batch=4, augment=True, seed=0,
                          max_steps=6, patience=99)
        assert res["stopped_by"] == "max steps"
        return model

    m_mid = run(pieces[:7], pieces[7:], tmp_path / "a.pt")
    m_store = run(items[:7], items[7:], tmp_path / "b.pt")
    assert m_mid.trigram is not None and m_store.meta["train_events"] == m_mid.meta["train_events"]
    wa, wb = _weights(m_mid), _weights(m_store)
    assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) < 1e-6
    # and it really trained (the weights moved from their initialisation)
    torch.manual_seed(0)
    w0 = _weights(prepare_model("small", items[:7], items[7:], ["x"]))
    assert max(float((w0[k] - wb[k]).abs().max()) for k in w0) > 1e-3


def test_the_stream_reads_only_the_pieces_under_the_current_step(tmp_path):
    from musiclab.composer.stream import Stream, from_store, open_store, stream_batches

    files = _files(12)
    _ingest(files, tmp_path / "store")
    items = from_store(open_store(tmp_path / "store"))
    stream = Stream(items, cache=8)
    batches = stream_batches(stream, 2, 16, with_pos=True)
    next(batches)
    assert 1 <= stream.loaded <= 4  # two rows, each at the start of its part: a piece or two each
    for _ in batches:
        pass
    assert stream.loaded >= len(items)  # by the end every piece was read
    assert len(stream._cache) <= 8


def test_cli_ingests_then_trains_from_the_store(tmp_path):
    from musiclab.composer.model import load_composer

    files = _files(10)
    src = tmp_path / "midi"
    src.mkdir()
    for f in files:
        (src / f.name).write_bytes(f.read_bytes())
    (src / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    store = tmp_path / "store"
    cmd = [sys.executable, "-m", "musiclab.cli", "composer"]
    r = subprocess.run(cmd + ["ingest", str(src), "--out", str(store), "--workers", "1", "--json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout.strip().splitlines()[-1])
    assert info["pieces"] == 10 and info["skipped"] == 1 and "broken.mid" in r.stderr
    out = tmp_path / "m.pt"
    r = subprocess.run(cmd + ["train", "--store", str(store), "--preset", "small", "--epochs", "1",
                              "--max-steps", "3", "--batch", "4", "--seq-len", "32", "--val-fraction", "0.2",
                              "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["train_pieces"] + res["val_pieces"] == 10 and res["val_pieces"] >= 1
    model = load_composer(out)
    assert model.meta["sources"] == [str(store)] and model.meta["train_events"] > 0
    r = subprocess.run(cmd + ["train", "--store", str(store), "--preset", "timed-small", "--out",
                              str(tmp_path / "t.pt")], capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "onsets" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "notastore"
    bad.mkdir()
    r = subprocess.run(cmd + ["train", "--store", str(bad), "--out", str(tmp_path / "x.pt")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "not an event store" in r.stderr and "Traceback" not in r.stderr
