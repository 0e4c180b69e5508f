"""The Emotion workbench: a thin tab (:mod:`.tab`) over three panels (:mod:`.files_panel`,
:mod:`.eval_panel`, :mod:`.train_panel`) and the Qt-free :mod:`musiclab.emotion.session`."""

from .tab import EmotionTab

__all__ = ["EmotionTab"]
