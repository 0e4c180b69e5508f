"""The Composer workbench tab, made of panels (see :mod:`.tab`)."""

from .tab import ComposerTab

__all__ = ["ComposerTab"]
