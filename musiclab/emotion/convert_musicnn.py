"""Convert a musicnn TensorFlow checkpoint of the musicnn package (``MSD_musicnn`` or
``MTT_musicnn``) into the float32 tensor file musiclab ships
(``resources/pretrained/msd-musicnn.pt``, ``mtt-musicnn.pt``). No Qt, no TensorFlow: the
checkpoint's tensor bundle (an SSTable index of BundleEntryProto records and a raw data
file) is read directly.

    python -m musiclab.emotion.convert_musicnn --wheel musicnn-0.1.0-py3-none-any.whl \\
        --backbone msd --out resources/pretrained/msd-musicnn.pt
    python -m musiclab.emotion.convert_musicnn --wheel musicnn-0.1.0-py3-none-any.whl \\
        --backbone mtt --out resources/pretrained/mtt-musicnn.pt

(``pip download musicnn==0.1.0 --no-deps`` fetches the wheel; ``--ckpt DIR`` takes an
unpacked ``musicnn/MSD_musicnn`` or ``musicnn/MTT_musicnn`` folder instead.)
"""

from __future__ import annotations

import argparse
import hashlib
import struct
import zipfile
from pathlib import Path

import numpy as np

_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64}


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _block_entries(data: bytes, offset: int, size: int):
    """Key/value pairs of one uncompressed SSTable block."""
    block = data[offset:offset + size]
    if data[offset + size] != 0:
        raise ValueError("compressed checkpoint index blocks are not supported")
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * n_restarts
    i, key = 0, b""
    while i < end:
        shared, i = _varint(block, i)
        unshared, i = _varint(block, i)
        vlen, i = _varint(block, i)
        key = key[:shared] + block[i:i + unshared]
        i += unshared
        yield key, block[i:i + vlen]
        i += vlen


def _fields(msg: bytes):
    """(field number, wire type, value) of a protobuf message."""
    i = 0
    while i < len(msg):
        tag, i = _varint(msg, i)
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            v, i = _varint(msg, i)
        elif wt == 1:
            v = msg[i:i + 8]
            i += 8
        elif wt == 2:
            n, i = _varint(msg, i)
            v = msg[i:i + n]
            i += n
        elif wt == 5:
            v = msg[i:i + 4]
            i += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wt}")
        yield num, wt, v


def read_bundle(index: bytes, data: bytes) -> dict[str, np.ndarray]:
    """All tensors of a TensorFlow V2 checkpoint (index file bytes, data shard bytes)."""
    footer = index[-48:]
    if struct.unpack_from("<Q", footer, 40)[0] != 0xDB4775248B80FB57:
        raise ValueError("not a TensorFlow checkpoint index (bad magic number)")
    j = 0
    _, j = _varint(footer, j)  # metaindex offset
    _, j = _varint(footer, j)  # metaindex size
    idx_off, j = _varint(footer, j)
    idx_size, j = _varint(footer, j)
    out = {}
    for _, handle in _block_entries(index, idx_off, idx_size):
        off, k = _varint(handle, 0)
        size, _ = _varint(handle, k)
        for key, value in _block_entries(index, off, size):
            if not key:  # the bundle header
                continue
            dtype, shape, offset, nbytes = None, [], 0, 0
            for num, _, v in _fields(value):
                if num == 1:
                    dtype = v
                elif num == 2:
                    for dn, _, dv in _fields(v):
                        if dn == 2:
                            shape.append(next((x for n2, _, x in _fields(dv) if n2 == 1), 0))
                elif num == 4:
                    offset = v
                elif num == 5:
                    nbytes = v
            if dtype not in _DTYPES:
                continue
            arr = np.frombuffer(data[offset:offset + nbytes], dtype=_DTYPES[dtype]).reshape(shape)
            out[key.decode()] = arr.copy()
    return out


def to_state_dict(tf: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Map the checkpoint's variables onto :func:`musiclab.emotion.musicnn.build`'s names."""
    sd = {}

    def bn(dst, src):
        sd[f"{dst}.weight"] = tf[f"{src}/gamma"]
        sd[f"{dst}.bias"] = tf[f"{src}/beta"]
        sd[f"{dst}.running_mean"] = tf[f"{src}/moving_mean"]
        sd[f"{dst}.running_var"] = tf[f"{src}/moving_variance"]

    bn("bn_in", "batch_normalization")
    for i, name in enumerate(["t74", "t77", "s1", "s2", "s3"]):
        sd[f"{name}.weight"] = tf[f"conv2d{'_' + str(i) if i else ''}/kernel"].transpose(3, 2, 0, 1)
        sd[f"{name}.bias"] = tf[f"conv2d{'_' + str(i) if i else ''}/bias"]
        bn(f"bn_{name}", f"batch_normalization_{i + 1}")
    for i, name in enumerate(["m1", "m2", "m3"]):
        k = tf[f"conv2d_{i + 5}/kernel"]  # (7, in, 1, out)
        sd[f"{name}.weight"] = k[:, :, 0, :].transpose(2, 1, 0)
        sd[f"{name}.bias"] = tf[f"conv2d_{i + 5}/bias"]
        bn(f"bn_{name}", f"batch_normalization_{i + 6}")
    bn("bn_pool", "batch_normalization_9")
    sd["dense.weight"] = tf["dense/kernel"].T
    sd["dense.bias"] = tf["dense/bias"]
    bn("bn_dense", "batch_normalization_10")
    sd["out.weight"] = tf["dense_1/kernel"].T
    sd["out.bias"] = tf["dense_1/bias"]
    return sd


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--wheel", help="musicnn-0.1.0-py3-none-any.whl")
    src.add_argument("--ckpt", help="an unpacked musicnn/MSD_musicnn or musicnn/MTT_musicnn folder")
    ap.add_argument("--backbone", choices=["msd", "mtt"], default="msd",
                    help="msd = MSD_musicnn (Million Song Dataset), mtt = MTT_musicnn (MagnaTagATune)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    from .musicnn import BACKBONES, build

    folder, tags = BACKBONES[a.backbone]
    if a.wheel:
        with zipfile.ZipFile(a.wheel) as z:
            index = z.read(f"musicnn/{folder}/.index")
            data = z.read(f"musicnn/{folder}/.data-00000-of-00001")
    else:
        index = (Path(a.ckpt) / ".index").read_bytes()
        data = (Path(a.ckpt) / ".data-00000-of-00001").read_bytes()
    import torch

    from ..models import load_state_checked

    sd = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in to_state_dict(read_bundle(index, data)).items()}
    net = build()
    for k in list(net.state_dict()):
        if k.endswith("num_batches_tracked"):
            sd[k] = torch.tensor(0)
    load_state_checked(net, sd, folder)
    meta = {
        "kind": "pretrained", "arch": f"{a.backbone}-musicnn", "tags": tags,
        "source": f"musicnn 0.1.0 (Pons & Serra 2019), {folder} checkpoint, ISC licence",
        "checkpoint_sha256": hashlib.sha256(data).hexdigest(),
    }
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"meta": meta, "state_dict": sd}, out)
    n = sum(v.numel() for k, v in sd.items() if v.is_floating_point())
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, {n:,} parameters)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
