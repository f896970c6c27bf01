"""The ``lookalike`` command of this environment, and a way to stop it at a named point."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

#: The `lookalike` command of this environment.
SCRIPT = Path(sys.executable).parent / "lookalike"
CMD = [str(SCRIPT)] if SCRIPT.is_file() else [
    sys.executable, "-c", "import sys; from lookalike.cli import main; sys.exit(main())"]


class Paused:
    """A ``lookalike`` process stopped at a named point (``LOOKALIKE_TEST_PAUSE_AT``)."""

    def __init__(self, args: list, env: dict, point: str, tmp: Path, wait: float = 120):
        self.marker = tmp / f"pause-{uuid.uuid4().hex[:8]}"
        env = dict(env, LOOKALIKE_TEST_PAUSE_AT=point, LOOKALIKE_TEST_PAUSE_FILE=str(self.marker))
        self.proc = subprocess.Popen(CMD + [str(a) for a in args], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        deadline = time.monotonic() + wait
        while not self.marker.exists():
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                pytest.fail(f"exited (rc {self.proc.returncode}) before reaching {point}:\n"
                            f"{out}\n{err}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"never reached {point}")
            time.sleep(0.02)

    def kill(self) -> None:
        """``kill -9`` the process (and any worker it started)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        assert self.proc.returncode == -signal.SIGKILL

    def resume(self) -> subprocess.CompletedProcess:
        self.marker.unlink(missing_ok=True)
        out, err = self.proc.communicate(timeout=180)
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err)
