"""``musiclab-cli analyze``: a spectrogram, mel spectrogram or chromagram of a file.

Imports nothing heavy at module level (librosa is loaded by the handler).
"""

from __future__ import annotations

import sys

FEATURE_CHOICES = ("stft", "mel", "chroma", "beat-chroma")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="STFT / mel / chroma / beat-synchronous chroma of an audio file",
        description="Compute one feature matrix with librosa (center=True, librosa's defaults) and "
        "print its summary. stft and mel are in dB re the maximum; chroma is 0..1 per frame. "
        "--out writes the (bins, frames) matrix as .npy, or a .csv with one row per frame.",
    )
    p.add_argument("file", help="audio file (WAV, FLAC, OGG, MP3, ...)")
    p.add_argument("--feature", choices=FEATURE_CHOICES, default="mel")
    p.add_argument("--n-fft", type=int, default=2048, help="FFT size, 256..16384 (default 2048)")
    p.add_argument("--hop", type=int, default=512, help="hop length in samples (default 512)")
    p.add_argument("--n-mels", type=int, default=128, help="mel bands (default 128)")
    p.add_argument("--sr", type=int, default=22050,
                   help="resample to this rate before analysis; 0 keeps the file's rate (default 22050)")
    p.add_argument("--linear", action="store_true", help="stft/mel as linear magnitude/power instead of dB")
    p.add_argument("--out", help="write the feature matrix to OUT.npy or OUT.csv")
    p.add_argument("--json", action="store_true",
                   help='print {"sr", "frames", "hop", "bins", "mean", "labels"} as the last line')
    p.set_defaults(func=run)


def run(args) -> int:
    from ..audio.io import load_audio
    from ..jobs import json_line
    from ..errors import MusiclabError
    from .features import compute_feature, save_feature

    if not 256 <= args.n_fft <= 16384:
        print("error: --n-fft must be between 256 and 16384", file=sys.stderr)
        return 2
    if not 1 <= args.hop <= args.n_fft:
        print("error: --hop must be between 1 and --n-fft", file=sys.stderr)
        return 2
    if not 1 <= args.n_mels <= 512:
        print("error: --n-mels must be between 1 and 512", file=sys.stderr)
        return 2
    if args.out and not args.out.lower().endswith((".npy", ".csv")):
        print("error: --out must end in .npy or .csv", file=sys.stderr)
        return 2
    y, sr = load_audio(args.file, sr=args.sr or None, mono=True)
    if len(y) == 0:
        raise MusiclabError(f"'{args.file}' contains no audio samples.")
    print(f"analyzing {args.file}: {len(y) / sr:.2f} s at {sr} Hz, feature {args.feature}", file=sys.stderr)
    feat = compute_feature(y, sr, args.feature, n_fft=args.n_fft, hop=args.hop, n_mels=args.n_mels,
                           db=not args.linear)
    if args.out:
        try:
            path = save_feature(feat, args.out)
        except (OSError, ValueError) as exc:
            raise MusiclabError(f"Could not write '{args.out}' ({exc}).") from exc
        print(f"wrote {path} ({feat.bins} x {feat.frames})", file=sys.stderr)
    if feat.tempo is not None:
        print(f"tempo {feat.tempo:.1f} BPM, {len(feat.beat_times)} beats", file=sys.stderr)
    summary = feat.summary()
    if args.json:
        print(json_line(summary))
    else:
        print(f"{summary['frames']} frames x {summary['bins']} bins, hop {summary['hop']} at {summary['sr']} Hz ({feat.unit})")
        if args.feature in ("chroma", "beat-chroma"):
            print("mean: " + "  ".join(f"{lab}={m:.2f}" for lab, m in zip(summary["labels"], summary["mean"])))
    return 0
