"""Where resources, user data and caches live."""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "musiclab"


def resources_dir() -> Path:
    """The ``resources/`` folder: shipped models, icons, style sheet.

    ``MUSICLAB_RESOURCES`` overrides; a frozen (PyInstaller) app finds it beside its
    files; a source checkout or editable install finds it at the repository root.
    """
    env = os.environ.get("MUSICLAB_RESOURCES")
    if env:
        return Path(env)
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def shared_data_dir() -> Path:
    """``../shared/data`` beside the checkout (demo material), or ``MUSICLAB_DATA``."""
    env = os.environ.get("MUSICLAB_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def user_data_dir() -> Path:
    """Trained models and other things the user made (platformdirs)."""
    env = os.environ.get("MUSICLAB_USER_DATA")
    if env:
        p = Path(env)
    else:
        import platformdirs

        p = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    p.mkdir(parents=True, exist_ok=True)
    return p


def user_models_dir(kind: str) -> Path:
    p = user_data_dir() / "models" / kind
    p.mkdir(parents=True, exist_ok=True)
    return p


def user_cache_dir() -> Path:
    env = os.environ.get("MUSICLAB_CACHE")
    if env:
        p = Path(env)
    else:
        import platformdirs

        p = Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))
    p.mkdir(parents=True, exist_ok=True)
    return p


def exports_dir() -> Path:
    import platformdirs

    p = Path(platformdirs.user_music_dir()) / APP_NAME
    return p
