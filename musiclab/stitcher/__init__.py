"""Chunk stitcher workbench core. No Qt.

- :mod:`.pool` - songs (any format/rate/channels -> mono 22.05 kHz) cut into chunks
  (fixed seconds, n beats/bars from librosa's beat tracker, or pydub silence splitting)
- :mod:`.features` - uncentred STFT frame features of chunk edges, batched in torch
- :mod:`.scorers` - transition scorers (learned default, boundary cosine, random);
  :mod:`.seed` - the seed study's CNN-LSTM preset
- :mod:`.train` - contrastive training on random cut points; :mod:`.train_default`
  reproduces the shipped models
- :mod:`.evaluate` - successor-ranking evaluation (MRR, top-1/5, AUC)
- :mod:`.chain` - greedy/beam chaining, swaps, crossfaded beat-aligned rendering, seam report
- :mod:`.session` - the jobs the GUI runs on its service thread
- :mod:`.cli` - ``musiclab-cli stitcher train|stitch|eval``
"""
