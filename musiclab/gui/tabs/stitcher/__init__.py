"""The Stitcher workbench: a tab (:class:`StitcherTab`) made of panels.

``pool_panel`` (songs and chunking), ``train_panel`` (scorer and training), ``chain_panel``
(chaining rules; a join and its alternatives), ``result_panel`` (song and result views;
seams and export); the work itself is in :mod:`musiclab.stitcher.session`.
"""

from .tab import StitcherTab

__all__ = ["StitcherTab"]
