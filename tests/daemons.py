"""Start real daemons (munge, slurmctld, slurmd, node_exporter, Prometheus) on 127.0.0.1 for a test, bounded in
time, and stop them. Where one cannot start, the test is skipped with the reason (and the daemon's log tail), so
`pytest -rs` shows why; never a silent pass."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require(*tools: str) -> dict[str, str]:
    """The paths of these executables, or skip naming the missing ones and how CI installs them."""
    found = {t: shutil.which(t) or next((p for p in (f"/usr/sbin/{t}", f"/usr/bin/{t}") if os.access(p, os.X_OK)),
                                         None) for t in tools}
    missing = [t for t, p in found.items() if not p]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (.ci/run installs the Debian packages slurmctld slurmd "
                    f"munge prometheus prometheus-node-exporter)")
    return found  # type: ignore[return-value]


def log_tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return "(no log)"
    return " | ".join(text)


class Daemons:
    """Processes started in their own process groups; stop() ends each group (TERM, then KILL)."""

    def __init__(self):
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], log: Path, env=None) -> subprocess.Popen:
        fh = open(log, "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)
        fh.close()
        self.procs.append((name, proc))
        return proc

    def check_alive(self, name: str, proc: subprocess.Popen, log: Path) -> None:
        if proc.poll() is not None:
            pytest.skip(f"{name} could not start here (exit {proc.returncode}): {log_tail(log)}")

    def stop(self) -> None:
        for _, proc in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 2  # then KILL: their state lives in a temporary directory
        for _, proc in reversed(self.procs):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


def wait_for(predicate, timeout: float, interval: float = 0.25):
    """predicate()'s first truthy value within `timeout` seconds, else None."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)
