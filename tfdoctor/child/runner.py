"""Run a child script (tfdoctor/child/*.py) under any Python, isolated, and say how it ended.

The child may crash the interpreter (SIGILL on a CPU without AVX, SIGSEGV in a CUDA library), hang in cuInit, or
print junk; none of that may reach the tfdoctor process. So the child gets its own session (process group), a
deadline after which the whole group is killed (no grandchild survives), and its stdout must be exactly one JSON
document. Everything it wrote on stderr is kept (bounded) because that is TensorFlow's log.

Used by the TensorFlow probe (`run_tf_probe`) and by `tfdoctor bench`.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tfdoctor.proc import kill_group

CHILD_DIR = Path(__file__).resolve().parent
MAX_STDERR = 2 * 1024 * 1024  # keep the last 2 MB of the log: the end is where the fatal line is
MAX_STDOUT = 16 * 1024 * 1024
TERM_GRACE_S = 2.0

# TensorFlow's log at full verbosity without flooding it: level 0 shows INFO lines (cudart_stub, cpu_feature_guard,
# gpu_device), and VMODULE raises only the modules that name a missing library or explain cuInit. Newer TSL logs
# "Could not load dynamic library" only at VLOG(1) in dso_loader.cc (knowledge.md §6); a global
# TF_CPP_MAX_VLOG_LEVEL=1 would print thousands of unrelated lines.
TF_LOG_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "0",
    "TF_CPP_VMODULE": "dso_loader=1,cuda_diagnostics=1,cuda_dso_loader=1,cudart_stub=1,cuda_platform=1",
    "PYTHONUNBUFFERED": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    # The probe's small matmul must not reserve most of the GPU's memory: the NVML probe runs at the same time
    # and would report it as another process holding the GPU.
    "TF_FORCE_GPU_ALLOW_GROWTH": "true",
}


@dataclass(frozen=True)
class ChildResult:
    """How a child ended. `how`: ok | exit (nonzero rc) | signal | timeout | not-found | garbage."""

    how: str
    rc: int | None
    signal: int | None
    signal_name: str | None
    stdout: str
    stderr: str
    duration_s: float
    data: dict | None = None
    peak_rss_mb: float | None = None

    def describe(self) -> str:
        """One line for a person: how the child ended."""
        if self.how == "ok":
            return f"finished in {self.duration_s:.1f} s"
        if self.how == "signal":
            return f"killed by {self.signal_name or self.signal} after {self.duration_s:.1f} s"
        if self.how == "timeout":
            return f"did not finish within {self.duration_s:.0f} s and was killed"
        if self.how == "not-found":
            return "the Python interpreter was not found"
        if self.how == "garbage":
            return "printed something that is not one JSON document"
        return f"exited with status {self.rc}"


def child_script(name: str) -> str:
    """Absolute path of tfdoctor/child/<name>."""
    return str(CHILD_DIR / name)


def _signal_name(num: int) -> str | None:
    try:
        return signal.Signals(num).name
    except ValueError:
        return None


def _children_maxrss_mb() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # Linux reports KiB, macOS bytes
    return ru / (1024 * 1024) if sys.platform == "darwin" else ru / 1024


def _parse_one_json(text: str) -> dict | None:
    """The single JSON object on stdout, or None when stdout is anything else."""
    stripped = text.strip()
    if not stripped:
        return None
    try:
        value = json.loads(stripped)
    except (json.JSONDecodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def run_child(
    python: str | None,
    script: str,
    args: list[str],
    timeout: float,
    env: dict | None = None,
    on_stderr_line: Callable[[str], None] | None = None,
    interpreter_flags: tuple[str, ...] = (),
) -> ChildResult:
    """Run `python script *args` in its own process group with a deadline, and classify how it ended.

    `env` entries are added to (not replacing) the current environment. `on_stderr_line` is called with each
    stderr line as it arrives (for progress display); exceptions it raises are ignored. `interpreter_flags` go
    before the script (`-I -S`: a stdlib-only child starts without the virtualenv's site and .pth files).
    """
    exe = python or sys.executable
    argv = [exe, *interpreter_flags, script, *[str(a) for a in args]]
    full_env = dict(os.environ)
    if env:
        full_env.update({k: str(v) for k, v in env.items()})
    start = time.monotonic()
    try:
        rss_before = _children_maxrss_mb()
    except Exception:
        rss_before = None
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            start_new_session=True,
            close_fds=True,
        )
    except (FileNotFoundError, NotADirectoryError) as exc:
        return ChildResult("not-found", None, None, None, "", f"{exe}: {exc.strerror or exc}", 0.0)
    except PermissionError as exc:
        return ChildResult("not-found", None, None, None, "", f"{exe}: {exc.strerror or exc} (not executable)", 0.0)
    except OSError as exc:  # ENOEXEC (not a program) and friends
        return ChildResult("not-found", None, None, None, "", f"{exe}: {exc}", 0.0)

    out_chunks: list[bytes] = []
    out_size = 0
    err_buf = bytearray()
    partial = b""
    timed_out = False
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, "out")
    sel.register(proc.stderr, selectors.EVENT_READ, "err")
    deadline = start + timeout
    open_streams = 2
    while open_streams:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        for key, _ in sel.select(timeout=min(remaining, 0.5)):
            chunk = os.read(key.fileobj.fileno(), 65536)
            if not chunk:
                sel.unregister(key.fileobj)
                open_streams -= 1
                continue
            if key.data == "out":
                if out_size < MAX_STDOUT:
                    out_chunks.append(chunk)
                    out_size += len(chunk)
            else:
                err_buf += chunk
                if len(err_buf) > MAX_STDERR * 2:
                    del err_buf[: len(err_buf) - MAX_STDERR]
                if on_stderr_line is not None:
                    partial += chunk
                    *lines, partial = partial.split(b"\n")
                    for line in lines:
                        with contextlib.suppress(Exception):  # a display callback must not stop the child
                            on_stderr_line(line.decode("utf-8", errors="replace"))
    sel.close()
    if timed_out:
        kill_group(proc, TERM_GRACE_S)
    else:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_group(proc, TERM_GRACE_S)
    for stream in (proc.stdout, proc.stderr):
        with contextlib.suppress(OSError):
            stream.close()
    if not timed_out:
        # the leader exited; a daemonised grandchild holding no pipe would otherwise outlive us
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
    duration = time.monotonic() - start
    peak = None
    if rss_before is not None:
        try:
            after = _children_maxrss_mb()
            # ru_maxrss of children is a max over all waited children: a delta of 0 means this one was smaller
            peak = after if after > rss_before else None
        except Exception:
            peak = None
    stdout = b"".join(out_chunks).decode("utf-8", errors="replace")
    stderr = bytes(err_buf[-MAX_STDERR:]).decode("utf-8", errors="replace")
    rc = proc.returncode
    if timed_out:
        return ChildResult("timeout", None, None, None, stdout, stderr, duration, None, peak)
    if rc is not None and rc < 0:
        num = -rc
        return ChildResult("signal", rc, num, _signal_name(num), stdout, stderr, duration, None, peak)
    data = _parse_one_json(stdout)
    if rc != 0:
        return ChildResult("exit", rc, None, None, stdout, stderr, duration, data, peak)
    if data is None:
        return ChildResult("garbage", rc, None, None, stdout, stderr, duration, None, peak)
    return ChildResult("ok", rc, None, None, stdout, stderr, duration, data, peak)


CHILD_MARKER = "tfdoctor-child: "  # same as tf_probe.MARKER: the child's progress lines on stderr


def split_child_markers(stderr: str) -> tuple[str, list[dict]]:
    """Separate the child's progress lines (step reached, interpreter seen before the import) from the log."""
    log_lines = []
    marks: list[dict] = []
    for line in stderr.splitlines(keepends=True):
        value = parse_child_marker(line)
        if value is not None:
            marks.append(value)
            continue
        log_lines.append(line)
    return "".join(log_lines), marks


def parse_child_marker(line: str) -> dict | None:
    """One progress line of the child (`tfdoctor-child: {"step": ...}`) as a dict; None for a log line."""
    if not line.startswith(CHILD_MARKER):
        return None
    try:
        value = json.loads(line[len(CHILD_MARKER):])
    except (json.JSONDecodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def run_tf_probe(python: str | None, timeout: float, on_step: Callable[[dict], None] | None = None) -> dict:
    """Run the TensorFlow child probe; the record that `Host.tensorflow()` returns and snapshots store.

    `on_step` is called with each progress line the child prints ({"step": "import", "interpreter": ...}) as it
    arrives, for a progress display.

    {"ended": {how, rc, signal, signal_name, duration_s, timeout_s, python, peak_rss_mb, step},
     "early": {interpreter, distributions} seen before `import tensorflow` (kept when the child dies),
     "result": the child's JSON or None, "stdout": first 4 KB of stdout when it was not JSON,
     "log": the child's stderr (TensorFlow's log)}
    """
    def on_line(line: str) -> None:
        mark = parse_child_marker(line)
        if mark is not None and on_step is not None:
            on_step(mark)

    res = run_child(python, child_script("tf_probe.py"), [], timeout, env=TF_LOG_ENV,
                    on_stderr_line=on_line if on_step is not None else None)
    log, marks = split_child_markers(res.stderr)
    early = next((m for m in marks if "interpreter" in m), None)
    record: dict = {
        "ended": {
            "how": res.how,
            "rc": res.rc,
            "signal": res.signal,
            "signal_name": res.signal_name,
            "duration_s": round(res.duration_s, 3),
            "timeout_s": timeout,
            "python": python or sys.executable,
            "peak_rss_mb": round(res.peak_rss_mb, 1) if res.peak_rss_mb is not None else None,
            "step": marks[-1].get("step") if marks else None,
        },
        "early": {k: early.get(k) for k in ("interpreter", "distributions")} if early else None,
        "result": res.data,
        "log": log,
    }
    if res.data is None and res.stdout.strip():
        record["stdout"] = res.stdout[:4096]
    return record
