"""Start real processes for integration tests: a command, a readiness URL, a clean kill.

Reusable by any service's tests: `ManagedProcess.start([...], env=..., ready_url=...)` starts a
command in its own process group, waits until `ready_url` answers 200 (failing early, with the
process's log, if it exits), and `stop()` / `kill()` end it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import httpx

PYTHON = sys.executable

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(
    predicate: Callable[[], T | None], *, timeout_s: float, interval_s: float = 0.2, what: str = ""
) -> T:
    """Poll `predicate()` until it returns something truthy; return that, or fail after timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what or predicate}")
        time.sleep(interval_s)


class ManagedProcess:
    """A child process with its log file; ends with its whole process group."""

    def __init__(self, name: str, popen: subprocess.Popen[bytes], log_path: Path) -> None:
        self.name = name
        self.popen = popen
        self.log_path = log_path

    @classmethod
    def start(
        cls,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log_dir: Path,
        ready_url: str | None = None,
        ready_timeout_s: float = 120.0,
    ) -> ManagedProcess:
        """Start `argv`; when `ready_url` is given, return once it answers 200."""
        log_path = log_dir / f"{name}.log"
        log_file = log_path.open("ab")
        popen = subprocess.Popen(
            list(argv),
            env=dict(env),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so kill reaches its children
        )
        log_file.close()
        process = cls(name, popen, log_path)
        if ready_url:
            try:
                process.wait_ready(ready_url, ready_timeout_s)
            except BaseException:
                process.kill()
                raise
        return process

    def log_tail(self, lines: int = 40) -> str:
        """The end of the process's output, for failure messages."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, url: str, timeout_s: float) -> None:
        """Wait until `url` answers 200; fail with the log if the process exits first."""

        def answered() -> bool:
            if self.popen.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.popen.returncode}:\n{self.log_tail()}"
                )
            try:
                return httpx.get(url, timeout=2.0).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(answered, timeout_s=timeout_s, what=f"{self.name} at {url}")

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the process group at once (what a crash looks like) and reap it."""
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
