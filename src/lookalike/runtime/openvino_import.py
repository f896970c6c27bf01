"""Importing OpenVINO (without its telemetry) and the one ``openvino.Core`` of a process."""

from __future__ import annotations

import sys
import threading

_import_lock = threading.Lock()  # one import of openvino at a time
_core_lock = threading.Lock()  # one Core made per process
_core = None


def import_openvino():
    """``import openvino`` without its telemetry: importing openvino imports its model converter,
    which starts ``openvino_telemetry`` (a forked process that posts to Google Analytics —
    network traffic at run time, which lookalike never makes; tests/test_offline.py). With that
    package hidden during the import, openvino uses its own no-op stub.

    The model converter itself (``openvino.tools.ovc``, which lookalike never calls) is not
    imported either: 60–130 ms of every process's start (its command-line parser and
    telemetry set-up; bench/studies/speed/NOTES-startup.md). ``openvino.convert_model`` stays
    callable: it imports the converter on first call."""
    if "openvino" in sys.modules and sys.modules["openvino"] is not None:
        return sys.modules["openvino"]
    with _import_lock:
        hidden = {}
        for name in ("openvino_telemetry", "openvino_telemetry.backend", "openvino.tools.ovc"):
            if name not in sys.modules:
                hidden[name] = sys.modules[name] = None  # type: ignore[assignment]
        try:
            import openvino
        finally:
            for name in hidden:
                if sys.modules.get(name, 0) is None:
                    del sys.modules[name]
        if not hasattr(openvino, "convert_model"):
            openvino.convert_model = _convert_model
    return openvino


def _convert_model(*args, **kwargs):
    """``openvino.convert_model``, its converter imported on first call (see
    :func:`import_openvino`)."""
    from openvino.tools.ovc import convert_model

    return convert_model(*args, **kwargs)


def openvino_available() -> bool:
    try:
        import_openvino()
    except ImportError:
        return False
    return True


def ov_core():
    """The process's ``openvino.Core`` (made on first use)."""
    global _core
    if _core is None:
        with _core_lock:
            if _core is None:
                _core = import_openvino().Core()
    return _core
