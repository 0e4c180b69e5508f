"""musiclab: see, hear and train deep-learning models of music.

The packages outside :mod:`musiclab.gui` are the Qt-free core: they never import
PySide6 or pyqtgraph, so they run headless (CLI, tests, batch jobs).
"""

__version__ = "0.1.0"
