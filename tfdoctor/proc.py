"""Process and file helpers shared by the Host, the child runner and fix-nouveau."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess


def kill_group(proc: subprocess.Popen, term_grace_s: float = 0.0) -> None:
    """End a child started with start_new_session=True and everything it started.

    With a grace, SIGTERM the group first and SIGKILL what is left after it; without one, SIGKILL at once (a tool
    stuck in the kernel on a lost GPU will not answer SIGTERM anyway).
    """
    try:
        pgid = os.getpgid(proc.pid)
    except OSError:
        pgid = None
    steps = ((signal.SIGTERM, term_grace_s),) if term_grace_s > 0 else ()
    for sig, wait in (*steps, (signal.SIGKILL, 5.0)):
        with contextlib.suppress(OSError):
            if pgid is not None:
                os.killpg(pgid, sig)
            else:
                proc.send_signal(sig)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        if pgid is not None:
            # the leader is gone; grandchildren in the group may not be: finish them off
            with contextlib.suppress(OSError):
                os.killpg(pgid, signal.SIGKILL)
        return


def write_atomic(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write `data` to `path` through a temporary file in the same directory and a rename, with `mode` set
    explicitly (the umask cannot change it) and the data and the rename made durable.

    The temporary name starts with a dot and ends in .tmp, so neither modprobe (*.conf) nor node_exporter (*.prom)
    ever reads a half-written file.
    """
    directory, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(directory, f".{name}.tfdoctor-{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.write(fd, data)
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
