"""Writing files so that a crash, ``kill -9``, Ctrl-C or full disk never leaves a half-written
one where a model, gallery or report is expected.

A file is written into a temporary ``.<name>.<pid>.<random>.lookalike-partial`` beside its
target, flushed to disk, then renamed over the target (``os.replace`` is atomic): readers see
the old file or the new one, never a mix. A writer holds an advisory lock on its temporary
file; temporary files whose writer has died (killed, power cut) are deleted by the next write
into the same folder. Nothing ever loads a ``*.lookalike-partial`` file.

Test-only hook: with ``LOOKALIKE_TEST_PAUSE_AT=<point>[:<n>]`` in the environment, the
``n``-th time (default first) this process reaches the named point (:func:`pause_point`), it
writes its pid to the file ``$LOOKALIKE_TEST_PAUSE_FILE`` and waits while that file exists
(at most ``$LOOKALIKE_TEST_PAUSE_SECONDS``, default 120), so that a test can ``kill -9`` it at
exactly that moment, or let another process run meanwhile (tests/test_faults.py). Without
both variables the hook does nothing.
Points: ``model-save`` (model temp file half written), ``write`` (any other file),
``gallery-save`` (gallery marker / index temp file half written), ``gallery-batch-start``
(before an enrolment transaction), ``gallery-batch`` (inside it, rows inserted, not
committed), ``cache-put`` (inside an embedding cache transaction, not committed),
``cluster-batch`` (a Dask worker halfway through a batch of photos), ``cluster-result`` (the
client, after taking a batch's results). With ``$LOOKALIKE_TEST_PAUSE_ONCE`` set, only the first
process to get there stops (the others, e.g. a restarted worker, go on).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from lookalike.errors import LookalikeError

PARTIAL = ".lookalike-partial"

_pause_hits: dict[str, int] = {}


def pause_point(name: str) -> None:
    """Test-only: stop here when ``LOOKALIKE_TEST_PAUSE_AT`` names this point (module doc)."""
    spec = os.environ.get("LOOKALIKE_TEST_PAUSE_AT")
    if not spec:
        return
    point, _, nth = spec.partition(":")
    if point != name:
        return
    _pause_hits[name] = _pause_hits.get(name, 0) + 1
    if _pause_hits[name] != (int(nth) if nth else 1):
        return
    marker = os.environ.get("LOOKALIKE_TEST_PAUSE_FILE")
    if not marker:
        return
    if os.environ.get("LOOKALIKE_TEST_PAUSE_ONCE"):  # one process of many (cluster workers)
        try:
            os.close(os.open(f"{marker}.claimed", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
    tmp = f"{marker}.{os.getpid()}"
    with open(tmp, "w") as fh:
        fh.write(f"{os.getpid()} {name}\n")
    os.replace(tmp, marker)
    deadline = time.monotonic() + float(os.environ.get("LOOKALIKE_TEST_PAUSE_SECONDS", "120"))
    while os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.02)  # the test kills this process, or deletes the marker to resume


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


def disk_full(err: BaseException, path: str | Path | None = None) -> bool:
    """Whether ``err`` (an OSError or a SQLite error) means the disk holding ``path`` is full.
    SQLite reports some full disks as I/O errors (e.g. growing its shared-memory file): those
    count when the disk has under 1 MiB free."""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    name = getattr(err, "sqlite_errorname", "") or ""
    if name == "SQLITE_FULL" or "disk is full" in str(err):
        return True
    if path is not None and (name.startswith("SQLITE_IOERR") or "disk I/O error" in str(err)):
        import shutil

        p = Path(path)
        while not p.exists() and p != p.parent:
            p = p.parent
        with contextlib.suppress(OSError):
            return shutil.disk_usage(p).free < (1 << 20)
    return False


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def clean_partials(folder: str | Path) -> list[Path]:
    """Delete temporary files in ``folder`` left by writers that died (their lock is free and
    their process is gone). Returns what was deleted."""
    removed = []
    for f in Path(folder).glob(f".*{PARTIAL}"):
        try:
            pid = int(f.name[: -len(PARTIAL)].rsplit(".", 2)[-2])
        except (ValueError, IndexError):
            continue
        if remove_abandoned(f, pid):
            removed.append(f)
    return removed


def remove_abandoned(path: Path, pid: int) -> bool:
    """Remove ``path`` (a temporary file or folder that process ``pid`` wrote, holding a lock
    on it meanwhile) if its writer died: its process is gone and its lock is free (a live
    writer on another host sharing the folder holds it). Whether it was removed."""
    if pid == os.getpid() or process_alive(pid):
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    except OSError:
        return False  # a live writer holds it, or it went meanwhile
    finally:
        os.close(fd)
    return True


class _PausingWriter:
    """Test hook: a file object that stops after its first write (see :func:`pause_point`)."""

    def __init__(self, fh: IO[bytes], point: str):
        self._fh, self._point, self._paused = fh, point, False

    def write(self, data: Any) -> int:
        n = self._fh.write(data)
        if not self._paused:
            self._paused = True
            self._fh.flush()
            pause_point(self._point)
        return n

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


def _write_error(err: OSError, path: Path, error: type[LookalikeError], example: str,
                 written: int) -> LookalikeError:
    """One line saying what went wrong writing ``path`` and what to do."""
    opt = example.split()[0] if example.startswith("-") else None
    elsewhere = f"choose another {opt} on a disk with room" if opt else \
        "write it to a disk with room"
    if disk_full(err):
        size = f" ({written / 1e6:.1f} MB written)" if written >= 100_000 else ""
        return error(f"no space left on device writing it{size}; nothing was changed", path,
                     f"free some space or {elsewhere}")
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = "the disk is read-only" if err.errno == errno.EROFS else "permission denied"
        return error(f"{why} writing it; nothing was changed", path,
                     f"check the folder's permissions or {elsewhere.replace(' with room', '')}")
    if err.errno == errno.ENAMETOOLONG:
        return error("the file name is too long for this file system; nothing was changed",
                     path, "choose a shorter name")
    return error(f"cannot be written ({err.strerror or err}); nothing was changed", path,
                 "check free disk space and permissions")


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], object], *,
                 error: type[LookalikeError] = LookalikeError,
                 example: str = "out.png", point: str = "write") -> Path:
    """Write a file through ``write(fileobj)`` into a temporary file beside ``path``, then
    rename it over ``path``: the old file stays whole until the new one is. User mistakes and
    OS failures (full disk, permissions) become one-line ``error``s (``example`` is a file name
    to suggest — or an option such as ``-o people.lookalike``); the temporary file is removed.
    ``point`` names the write for the test-only pause hook (module doc)."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        if path.is_dir():
            raise error("is a folder", path, f"give a file name, e.g. {example}")
        if not folder.exists():
            raise error(f"folder {folder} does not exist", path, "create it first")
    except OSError as err:  # e.g. a name too long for the file system
        raise _write_error(err, path, error, example, 0) from None
    with contextlib.suppress(OSError):
        clean_partials(folder)
    written = 0
    try:
        # (the name shortened: a 255-byte file name must still get a temporary beside it)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:120]}.{os.getpid()}.",
                                   suffix=PARTIAL, dir=folder)
    except OSError as err:
        raise _write_error(err, path, error, example, 0) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            with contextlib.suppress(OSError):  # released when closed or the process dies
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            write(_PausingWriter(fh, point) if os.environ.get(
                "LOOKALIKE_TEST_PAUSE_AT", "").split(":")[0] == point else fh)
            fh.flush()
            written = fh.tell()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp makes 0600; these are ordinary files
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            written = written or os.stat(tmp).st_size
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise _write_error(err, path, error, example, written) from None
        raise
    with contextlib.suppress(OSError):  # make the rename durable
        fsync_path(folder)
    return path


def fsync_path(path: str | Path) -> None:
    """Flush a file (its bytes) or a folder (its entries: a rename into it) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
