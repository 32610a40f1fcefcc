"""`finerag demo` as a user runs it, started when the test session starts and run beside it.

The reading-model demo is most of the suite's time and all of it computation: on a 2-core
machine the other tests leave the cores idle while they start services and wait on queues.
So the session starts the demo as soon as collection has selected a quality test
(`tests/conftest.py`), at a lower scheduling priority, so the other tests run as fast as alone
and the demo takes the time they leave; the quality tests run last and wait for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

# The demo yields the cores to the tests it runs beside (nice 19: about 1.5% of a core's share
# against a default-priority process that wants it).
NICENESS = 19
# Alone the demo takes about 35 minutes on 2 fp32 cores (12 in bf16); beside the suite, up to
# that plus the time of the suite's other tests (its training took 3x as long there in bf16).
TIMEOUT_S = 4800


@dataclass
class Finished:
    """The demo's exit code and what it printed."""

    returncode: int
    stdout: str
    stderr: str


class BackgroundDemo:
    """One `finerag demo --out OUT` child process, its output in files under OUT."""

    def __init__(self, out: Path, popen: subprocess.Popen[bytes]) -> None:
        self.out = out
        self._popen = popen
        self._started = time.monotonic()

    @classmethod
    def start(cls, out: Path) -> BackgroundDemo:
        out.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "FINERAG_DATA_DIR": str(out / "data")}
        with (out / "stdout.log").open("wb") as stdout, (out / "stderr.log").open("wb") as stderr:
            popen = subprocess.Popen(
                [
                    "nice",
                    "-n",
                    str(NICENESS),
                    sys.executable,
                    "-m",
                    "finerag",
                    "demo",
                    "--out",
                    str(out),
                ],
                env=env,
                stdout=stdout,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
            )
        return cls(out, popen)

    def wait(self) -> Finished:
        """Block until the demo ends (killed past TIMEOUT_S from its start)."""
        left = TIMEOUT_S - (time.monotonic() - self._started)
        try:
            returncode = self._popen.wait(timeout=max(1.0, left))
        except subprocess.TimeoutExpired:
            self.stop()
            returncode = -9
        return Finished(
            returncode,
            (self.out / "stdout.log").read_text(errors="replace"),
            (self.out / "stderr.log").read_text(errors="replace"),
        )

    def stop(self) -> None:
        """Kill the demo if it still runs (the session ends before its tests did)."""
        if self._popen.poll() is None:
            self._popen.kill()
            self._popen.wait()


# Where the session keeps the demo it started (tests/conftest.py).
BACKGROUND_DEMO = pytest.StashKey[BackgroundDemo]()
