"""Processes and files: the one bounded way tfdoctor runs a program, and the one register of what it has started.

Every child process tfdoctor starts is tracked here, and so is every temporary file or directory it makes, so that
a deadline, an interrupt (SIGINT, SIGTERM) or the watchdog can end them all (`cleanup()`): nothing tfdoctor starts
outlives it, and nothing it writes to a temporary place stays behind.

- `run_bounded`: a program in its own process group, with a deadline and byte/line caps applied while reading its
  output; the whole group (and descendants that left it, found through psutil) is killed at the deadline, when the
  output floods, and when the program exits leaving a grandchild that holds its pipes open.
- `deadline(at)`: the time by which whatever runs in this thread must be over (a probe's deadline); `run_bounded`
  never waits past it.
- `write_atomic`: a file replaced through a temporary file and a rename, every write checked and made durable.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# -- the register of children and temporary paths ---------------------------------------------------------------

_lock = threading.RLock()  # re-entrant: a signal handler may run in the main thread while it holds the lock
_children: dict[int, subprocess.Popen] = {}
_temps: dict[str, None] = {}  # insertion-ordered set
_sweep_descendants = False  # set by the CLI: every descendant of this process is tfdoctor's own
_closing = False  # set by `cleanup`: no child may start any more (a probe thread racing the exit)
_ever_started = False  # whether this process started any child through run_bounded


class Closing(OSError):
    """A program was not started because tfdoctor is ending."""


def track(proc: subprocess.Popen) -> None:
    """Remember a child (started with start_new_session=True) until `untrack`: `cleanup` kills its group."""
    with _lock:
        _children[proc.pid] = proc


def untrack(proc: subprocess.Popen) -> None:
    with _lock:
        _children.pop(proc.pid, None)


def tracked() -> list[subprocess.Popen]:
    """The children started and not yet finished with (for tests and the cleanup)."""
    with _lock:
        return list(_children.values())


def register_temp(path: str | os.PathLike) -> str:
    """Remember a temporary file or directory: `cleanup` removes it unless `release_temp` came first."""
    path = os.fspath(path)
    with _lock:
        _temps[path] = None
    return path


def release_temp(path: str | os.PathLike) -> None:
    with _lock:
        _temps.pop(os.fspath(path), None)


def remove_temp(path: str | os.PathLike) -> None:
    """Remove a registered temporary file or directory (whichever it is) and forget it."""
    path = os.fspath(path)
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except OSError:
        pass
    release_temp(path)


def own_descendants(on: bool = True) -> None:
    """Declare that every descendant of this process is tfdoctor's (the CLI, not a library inside someone else's
    program): `cleanup` then also ends children that were orphaned and re-parented here. On Linux this process
    becomes a child subreaper, so that a daemonising grandchild is re-parented to tfdoctor instead of to init."""
    global _sweep_descendants
    if _sweep_descendants == on:
        return
    _sweep_descendants = on
    with contextlib.suppress(Exception):  # not Linux, or no ctypes: the process groups still cover most cases
        import ctypes

        PR_SET_CHILD_SUBREAPER = 36
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0)


def _descendants(pid: int) -> list:
    """Every living descendant of `pid`, whatever process group or session it moved to (psutil walks the parent
    links; a process group cannot follow a grandchild that called setsid)."""
    try:
        import psutil

        return psutil.Process(pid).children(recursive=True)
    except Exception:  # psutil missing, the process already gone: the process group is all there is
        return []


def _pipe_holders(inodes: set[int]) -> list[int]:
    """The processes (other than this one) that hold one of these pipes open: a grandchild that left the process
    group and whose parent is gone is found by the pipe it still writes to (read from /proc; Linux)."""
    wanted = {f"pipe:[{i}]" for i in inodes}
    me = os.getpid()
    found = []
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return found
    for pid in pids:
        if pid == me:
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                    found.append(pid)
                    break
            except OSError:
                continue
    return found


def _kill_processes(procs: list) -> None:
    for p in procs:
        with contextlib.suppress(Exception):  # psutil checks the process is still the same one (start time)
            p.kill()


def kill_group(proc: subprocess.Popen, term_grace_s: float = 0.0) -> None:
    """End a child started with start_new_session=True, everything in its process group, and every descendant
    that left the group.

    With a grace, SIGTERM the group first and SIGKILL what is left after it; without one, SIGKILL at once (a tool
    stuck in the kernel on a lost GPU will not answer SIGTERM anyway).
    """
    descendants = _descendants(proc.pid)
    try:
        pgid = os.getpgid(proc.pid)
    except OSError:
        pgid = proc.pid  # the leader is gone (or a zombie): its group id is its pid, and may still have members
    if pgid == os.getpgrp():
        pgid = None  # never signal our own group
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
        break
    if pgid is not None:
        # the leader is gone; grandchildren in the group may not be: finish them off
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
    _kill_processes(descendants + _descendants(proc.pid))
    untrack(proc)


def kill_children(wait_s: float = 1.0) -> None:
    """SIGKILL every tracked child's group and every descendant that left it (and, in the CLI, every other
    descendant of tfdoctor) at once, then wait up to `wait_s` in all for them to go (a process stuck in the kernel
    dies only when its call returns: the wait is bounded, not endless)."""
    procs = tracked()
    doomed: list = []
    for p in procs:
        doomed += _descendants(p.pid)
        with contextlib.suppress(OSError):
            os.killpg(p.pid, signal.SIGKILL)
    if _sweep_descendants and _has_children():
        doomed += _descendants(os.getpid())
    _kill_processes(doomed)
    end = time.monotonic() + wait_s
    for p in procs:
        with contextlib.suppress(Exception):
            p.wait(timeout=max(0.0, end - time.monotonic()))
        untrack(p)


def _has_children() -> bool:
    """Whether this process has a child now, read from /proc without importing psutil (the common answer at the end
    of a run is no, and psutil costs a start-up's worth of milliseconds); True when /proc cannot tell."""
    if not _ever_started:
        return False  # nothing was started, so nothing can have been re-parented here
    me = str(os.getpid())
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/children", "rb") as fh:
                if fh.read(64).strip():
                    return True
        return False
    except OSError:
        pass  # a kernel without CONFIG_PROC_CHILDREN: look at every process's parent
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return True
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                stat_line = fh.read(512)
        except OSError:
            continue
        fields = stat_line[stat_line.rfind(b")") + 2:].split()
        if len(fields) > 1 and fields[1].decode() == me:
            return True
    return False


def cleanup(final: bool = True) -> None:
    """What every exit path runs (normal end, interrupt, watchdog): kill every child, remove every temporary path.
    `final` (the process is ending): from now on `run_bounded` starts nothing, so that a probe thread racing the
    exit cannot leave a child behind."""
    global _closing
    if final:
        with _lock:
            _closing = True
    kill_children()
    with _lock:
        temps = list(_temps)
    for path in reversed(temps):
        remove_temp(path)


# -- critical sections -------------------------------------------------------------------------------------------

_critical_depth = 0
_critical_ended = 0.0  # time.monotonic() when the last critical block ended
_deferred: list[int] = []


@contextlib.contextmanager
def critical():
    """A block that an interrupt must not cut in half (fix-nouveau's write and its rollback): a SIGINT or SIGTERM
    that arrives inside it is held (`defer_signal`) and delivered again when the outermost block ends."""
    global _critical_depth, _critical_ended
    _critical_depth += 1
    try:
        yield
    finally:
        _critical_depth -= 1
        _critical_ended = time.monotonic()
        if _critical_depth == 0 and _deferred:
            signum = _deferred.pop()
            _deferred.clear()
            signal.raise_signal(signum)


def in_critical(grace_s: float = 0.0) -> bool:
    """Whether a critical block is running, or ended less than `grace_s` ago."""
    return _critical_depth > 0 or time.monotonic() - _critical_ended < grace_s


def defer_signal(signum: int) -> bool:
    """Hold a signal for later when inside a critical block; False when there is none (handle it now)."""
    if _critical_depth > 0:
        _deferred.append(signum)
        return True
    return False


# -- deadlines ---------------------------------------------------------------------------------------------------

_local = threading.local()


@contextlib.contextmanager
def deadline(at: float | None):
    """Within this block (in this thread), nothing started through `run_bounded` runs past `at` (time.monotonic());
    an earlier deadline already in force stays in force."""
    before = getattr(_local, "at", None)
    _local.at = at if before is None else (before if at is None else min(at, before))
    try:
        yield
    finally:
        _local.at = before


def current_deadline() -> float | None:
    return getattr(_local, "at", None)


class DeadlineExceeded(Exception):
    """Raised inside a probe's thread that goes on working after its deadline (tfdoctor.textmatch checks): the engine
    has already given up on it, and a thread still matching text when the process ends would crash the exit."""


def check_deadline() -> None:
    """Raise DeadlineExceeded when this thread's deadline has passed (cheap: one thread-local read)."""
    at = getattr(_local, "at", None)
    if at is not None and time.monotonic() > at:
        raise DeadlineExceeded("the probe's deadline has passed")


def remaining(timeout: float) -> float:
    """`timeout`, shortened to what is left before this thread's deadline (never below zero)."""
    at = current_deadline()
    if at is None:
        return max(0.0, timeout)
    return max(0.0, min(timeout, at - time.monotonic()))


def inherit_deadline(func: Callable) -> Callable:
    """`func`, to run in another thread under the calling thread's deadline."""
    at = current_deadline()

    def run(*args, **kwargs):
        with deadline(at):
            return func(*args, **kwargs)

    return run


# -- the bounded runner ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Caps:
    """How much of a stream is kept: `head` keeps the first max_bytes (and max_lines lines), else the last
    max_bytes. A head stream that reaches its cap ends the program (it flooded: the rest would be dropped anyway)."""

    max_bytes: int
    max_lines: int = 0  # 0: no line cap
    head: bool = True


class _Sink:
    def __init__(self, caps: Caps):
        self.caps = caps
        self.buf = bytearray()
        self.lines = 0
        self.truncated = False
        self.full = False

    def add(self, chunk: bytes) -> None:
        caps = self.caps
        if not caps.head:
            self.buf += chunk
            if len(self.buf) > 2 * caps.max_bytes:
                del self.buf[: len(self.buf) - caps.max_bytes]
                self.truncated = True
            return
        if self.full:
            self.truncated = True
            return
        room = caps.max_bytes - len(self.buf)
        if len(chunk) > room:
            chunk, self.truncated, self.full = chunk[:room], True, True
        if caps.max_lines:
            n = chunk.count(b"\n")
            if self.lines + n >= caps.max_lines:
                # keep up to and including the max_lines-th newline
                cut = -1
                for _ in range(caps.max_lines - self.lines):
                    cut = chunk.index(b"\n", cut + 1)
                chunk = chunk[: cut + 1]
                self.truncated = self.full = True
                n = caps.max_lines - self.lines
            self.lines += n
        self.buf += chunk

    def value(self) -> bytes:
        if not self.caps.head and len(self.buf) > self.caps.max_bytes:
            return bytes(self.buf[-self.caps.max_bytes:])
        return bytes(self.buf)


@dataclass(frozen=True)
class Ran:
    """How a program ran. `rc` is None when it did not start (`error` says why) or was killed at its deadline."""

    rc: int | None
    stdout: bytes = b""
    stderr: bytes = b""
    timed_out: bool = False
    duration_s: float = 0.0
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    error: OSError | None = None


MAX_PARTIAL_LINE = 64 * 1024  # a stderr "line" without a newline is passed on in pieces of this size
AFTER_EXIT_S = 1.0  # after the program exits, how long a grandchild may keep its pipes open before it is killed


def run_bounded(argv, timeout: float, *, env: dict | None = None, stdout_caps: Caps, stderr_caps: Caps,
                on_stderr_line: Callable[[str], None] | None = None, term_grace_s: float = 0.0,
                after_exit_s: float = AFTER_EXIT_S) -> Ran:
    """Run `argv` (no shell) in its own session with stdin closed, read its output under the caps, and end it and
    everything it started by `timeout` seconds or this thread's deadline, whichever is first.

    Never raises for the program's sake: a program that cannot be started comes back with `error` set.
    """
    global _ever_started
    start = time.monotonic()
    limit = remaining(timeout)
    if limit <= 0:
        return Ran(None, timed_out=True)  # the deadline has passed: not even started
    # Started and tracked under the lock that `cleanup` takes: a child is either tracked before the cleanup reads
    # the register, or never started at all.
    with _lock:
        if _closing:
            return Ran(None, error=Closing(4, "tfdoctor is ending; not started"))
        _ever_started = True
        try:
            proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=env, start_new_session=True, close_fds=True)
        except OSError as exc:
            return Ran(None, error=exc)
        track(proc)
    sinks = {"out": _Sink(stdout_caps), "err": _Sink(stderr_caps)}
    partial = bytearray()
    timed_out = flooded = False
    end = start + limit
    exited_at: float | None = None
    sel = selectors.DefaultSelector()
    try:
        sel.register(proc.stdout, selectors.EVENT_READ, "out")
        sel.register(proc.stderr, selectors.EVENT_READ, "err")
        while sel.get_map():
            now = time.monotonic()
            if now >= end:
                timed_out = True
                break
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > after_exit_s:
                break  # the program is gone; whatever still holds its pipes is a grandchild, ended below
            for key, _ in sel.select(timeout=min(end - now, 0.1 if exited_at is not None else 0.25)):
                try:
                    chunk = os.read(key.fileobj.fileno(), 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                sink = sinks[key.data]
                sink.add(chunk)
                if key.data == "err" and on_stderr_line is not None:
                    partial += chunk
                    *lines, rest = bytes(partial).split(b"\n")
                    if len(rest) > MAX_PARTIAL_LINE:
                        lines.append(rest)
                        rest = b""
                    partial[:] = rest
                    for line in lines:
                        with contextlib.suppress(Exception):  # a display callback must not stop the run
                            on_stderr_line(line.decode("utf-8", errors="replace"))
                if sink.full:
                    flooded = True
            if flooded:
                break
    finally:
        sel_open = bool(sel.get_map())
        holders: list[int] = []
        if sel_open and proc.poll() is not None:
            # the program is gone but its pipes are not: whoever holds them is ours, wherever it moved
            with contextlib.suppress(OSError):
                holders = _pipe_holders({os.fstat(k.fileobj.fileno()).st_ino for k in sel.get_map().values()})
        sel.close()
        if timed_out or flooded or proc.poll() is None or sel_open:
            kill_group(proc, term_grace_s if timed_out else 0.0)
        else:
            # It exited and closed its output: end whatever it left behind in its group (no psutil: this is the
            # common path, and must stay cheap).
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
        for pid in holders:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for stream in (proc.stdout, proc.stderr):
            with contextlib.suppress(OSError):
                stream.close()
        untrack(proc)
    rc = None if timed_out else proc.returncode
    return Ran(rc, sinks["out"].value(), sinks["err"].value(), timed_out, time.monotonic() - start,
               sinks["out"].truncated, sinks["err"].truncated)


# -- files -------------------------------------------------------------------------------------------------------

def _write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is written (a write may be short: a full disk, a signal)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:
            raise OSError(28, "No space left on device (a write wrote nothing)")
        view = view[n:]


def fsync_dir(directory: str) -> None:
    """Make a rename or unlink in `directory` durable."""
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


TEMP_MARK = ".tfdoctor-"


def temp_name(path: str) -> str:
    """The temporary name `write_atomic` uses beside `path`: a dot first and .tmp last, so that neither modprobe
    (*.conf) nor node_exporter (*.prom) ever reads a half-written file, with this process's id and a random part."""
    directory, name = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".{name}{TEMP_MARK}{os.getpid()}-{os.urandom(4).hex()}.tmp")


def remove_stale_temps(path: str, dir_fd: int | None = None) -> list[str]:
    """Remove the temporary files that a killed tfdoctor (SIGKILL, power loss) left beside `path`: those whose
    process is gone. Returns what was removed."""
    directory, name = os.path.split(os.path.abspath(path))
    prefix = f".{name}{TEMP_MARK}"
    removed = []
    try:
        entries = os.listdir(dir_fd if dir_fd is not None else directory)
    except OSError:
        return removed
    for entry in entries:
        if not (entry.startswith(prefix) and entry.endswith(".tmp")):
            continue
        pid_text = entry[len(prefix):].split("-", 1)[0]
        if not pid_text.isdigit() or (int(pid_text) != os.getpid() and _alive(int(pid_text))):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry if dir_fd is not None else os.path.join(directory, entry), dir_fd=dir_fd)
            removed.append(os.path.join(directory, entry))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def write_atomic(path: str, data: bytes, mode: int = 0o644, *, owner: tuple[int, int] | None = None,
                 mtime_ns: tuple[int, int] | None = None, dir_fd: int | None = None) -> None:
    """Replace `path` with `data` through a temporary file in the same directory and a rename.

    The mode is set explicitly (the umask cannot change it), `owner` (uid, gid) and `mtime_ns` (atime, mtime) are
    kept when given; every write is checked (looping until all bytes are written, then the size verified), and the
    data, then the rename, are made durable (fsync of the file and of the directory). The temporary file is created
    exclusively (O_EXCL never follows a planted symlink) and removed on any failure, interrupts included.

    With `dir_fd` (a directory opened by the caller), every operation happens inside that directory, on the base
    name of `path`: swapping a component of `path` for a symlink afterwards cannot redirect the write.
    """
    directory = os.path.dirname(os.path.abspath(path))
    tmp = temp_name(path)
    name, tmp_name = (os.path.basename(path), os.path.basename(tmp)) if dir_fd is not None else (path, tmp)
    register_temp(tmp)
    try:
        fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=dir_fd)
        try:
            _write_all(fd, data)
            size = os.fstat(fd).st_size
            if size != len(data):
                raise OSError(5, f"wrote {size} of {len(data)} bytes")
            if owner is not None:
                os.fchown(fd, *owner)
            os.fchmod(fd, mode)
            os.fsync(fd)
            if mtime_ns is not None:
                os.utime(fd, ns=mtime_ns)
        finally:
            os.close(fd)
        os.replace(tmp_name, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name, dir_fd=dir_fd)
        release_temp(tmp)
        raise
    release_temp(tmp)
    with contextlib.suppress(OSError):  # some file systems cannot fsync a directory; the data is already synced
        if dir_fd is not None:
            os.fsync(dir_fd)
        else:
            fsync_dir(directory)
