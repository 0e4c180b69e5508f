"""Model files: find them by name, save them atomically, load them safely.

A model file is a ``torch.save``-d dict of plain data::

    {"meta": {"format": "musiclab-model", "version": 1, "kind": "composer", "arch": ..., ...},
     "state_dict": {name: tensor, ...}, ...any other tensors / lists / numbers / strings}

It is loaded with ``torch.load(weights_only=True)``, which refuses anything that would
run code, and checked for the expected ``kind`` before use. Shipped models live in
``resources/models/<kind>/<name>.pt`` next to a model card ``<name>.md``; models a user
trains go to the user data folder, ``models/<kind>/``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Optional

from .errors import ModelFileError
from .paths import resources_dir, user_models_dir

FORMAT = "musiclab-model"


def shipped_models_dir(kind: str) -> Path:
    return resources_dir() / "models" / kind


def list_models(kind: str) -> dict[str, Path]:
    """Name -> path for shipped models, then user models (user names win)."""
    found: dict[str, Path] = {}
    for folder in (shipped_models_dir(kind), user_models_dir(kind)):
        if folder.is_dir():
            for p in sorted(folder.glob("*.pt")):
                found[p.stem] = p
    return found


def resolve_model(kind: str, name_or_path: str) -> Path:
    """A path to an existing file, or the name of a shipped/user model of ``kind``."""
    p = Path(name_or_path).expanduser()
    if p.suffix == ".pt" or os.sep in name_or_path or p.exists():
        if not p.is_file():
            raise ModelFileError(f"Model file '{p}' not found.")
        return p
    models = list_models(kind)
    if name_or_path not in models:
        names = ", ".join(sorted(models)) or "none"
        raise ModelFileError(f"No {kind} model named '{name_or_path}' (available: {names}).")
    return models[name_or_path]


def make_meta(kind: str, arch: str, **extra: Any) -> dict:
    return {"format": FORMAT, "version": 1, "kind": kind, "arch": arch, **extra}


def save_model(obj: dict, path: os.PathLike | str) -> Path:
    """Write atomically: a crash mid-write never destroys the previous file."""
    import torch

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, p)
    return p


def load_model_file(path: os.PathLike | str, kind: str, archs: Optional[Iterable[str]] = None) -> dict:
    """Load a model dict without unpickling code and check that it is a ``kind`` model."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"Model file '{p.name}' not found.")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(
            f"'{p.name}' is not a musiclab model file, or it is damaged or contains code "
            f"that musiclab refuses to run ({first})."
        ) from exc
    if not isinstance(obj, dict) or not isinstance(obj.get("meta"), dict) or obj["meta"].get("format") != FORMAT:
        raise ModelFileError(f"'{p.name}' is not a musiclab model file (no musiclab metadata).")
    meta = obj["meta"]
    if meta.get("kind") != kind:
        raise ModelFileError(f"'{p.name}' is a {meta.get('kind')!r} model, not a {kind!r} model.")
    if archs is not None and meta.get("arch") not in set(archs):
        raise ModelFileError(f"'{p.name}' has an unknown architecture {meta.get('arch')!r}.")
    if "state_dict" in obj and not isinstance(obj["state_dict"], dict):
        raise ModelFileError(f"'{p.name}' has no valid weights.")
    return obj


def load_state_checked(module, state_dict: dict, filename: str) -> None:
    """``module.load_state_dict`` with a readable message on a shape/key mismatch."""
    try:
        module.load_state_dict(state_dict, strict=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:300]
        raise ModelFileError(f"'{filename}' does not fit its declared architecture ({first}).") from exc


class _MetaUnpickler:
    """Reads a torch model file's pickled dict without torch and without running code: tensors
    become None, and only plain containers may be built (anything else is refused)."""

    _ALLOWED = {("collections", "OrderedDict")}

    @classmethod
    def load(cls, data: bytes):
        import io
        import pickle

        class U(pickle.Unpickler):
            def find_class(self, module, name):
                if (module, name) in cls._ALLOWED:
                    import collections

                    return collections.OrderedDict
                if module.split(".")[0] == "torch":
                    return lambda *a, **k: None  # tensor rebuilds and storage types: no data needed
                raise pickle.UnpicklingError(f"{module}.{name} is not allowed")

            def persistent_load(self, pid):
                return None

        return U(io.BytesIO(data)).load()


def read_meta(path) -> dict:
    """The ``meta`` dict of a musiclab model file, read without importing torch (cheap, safe);
    a file that is not one is a :class:`~musiclab.errors.ModelFileError`."""
    import zipfile

    p = Path(path)
    try:
        with zipfile.ZipFile(p) as z:
            name = next(n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl")
            obj = _MetaUnpickler.load(z.read(name))
    except Exception as exc:  # noqa: BLE001 - not a zip, no data.pkl, refused or broken pickle
        raise ModelFileError(f"'{p.name}' is not a readable musiclab model file ({type(exc).__name__}).") from exc
    meta = obj.get("meta") if isinstance(obj, dict) else None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"'{p.name}' is not a musiclab model file (no musiclab metadata).")
    return meta
