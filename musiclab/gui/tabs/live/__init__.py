"""The Live workbench tab, made of panels: ``tab.py`` (the shell), ``settings_panel.py``,
``views_panel.py`` and ``inputs.py`` (wheel-safe spin boxes and combos). The work itself
lives in the Qt-free :mod:`musiclab.analysis.session`."""

from .tab import LiveTab

__all__ = ["LiveTab"]
