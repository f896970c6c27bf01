"""Writing files so that a crash, Ctrl-C or full disk never leaves a half-written one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from .errors import LookalikeError


def umask() -> int:
    """The process umask, read without changing it where Linux allows (threads may be
    creating files meanwhile; ``os.umask`` is process-wide)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], object], *,
                 error: type[LookalikeError] = LookalikeError,
                 example: str = "out.png") -> Path:
    """Write a file through ``write(fileobj)`` into a temporary file beside ``path``, then
    rename it over ``path``: the old file stays whole until the new one is. User mistakes and
    OS failures become one-line ``error``s (``example`` is a file name to suggest)."""
    path = Path(path)
    if path.is_dir():
        raise error("is a folder", path, f"give a file name, e.g. {example}")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.exists():
        raise error(f"folder {folder} does not exist", path, "create it first")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp makes 0600; these are ordinary files
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise error(f"cannot be written ({err.strerror or err})", path,
                        "check free disk space and permissions") from None
        raise
    with contextlib.suppress(OSError):  # make the rename durable
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    return path
