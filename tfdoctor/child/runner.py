"""Run a child script (tfdoctor/child/*.py) under any Python, isolated, and say how it ended.

The child may crash the interpreter (SIGILL on a CPU without AVX, SIGSEGV in a CUDA library), hang in cuInit, or
print junk; none of that may reach the tfdoctor process. So the child runs through tfdoctor.proc.run_bounded: its
own session (process group), a deadline after which the whole group and every descendant is killed (no grandchild
survives; an interrupt of tfdoctor kills it too), output read under caps (an endlessly printing interpreter is
stopped at MAX_STDOUT), and its stdout must be exactly one JSON document. The last MAX_STDERR bytes of stderr are
kept because that is TensorFlow's log, and the end is where the fatal line is.

Used by the TensorFlow probe (`run_tf_probe`) and by `tfdoctor bench`.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tfdoctor.proc import Caps, run_bounded

CHILD_DIR = Path(__file__).resolve().parent
MAX_STDERR = 2 * 1024 * 1024  # keep the last 2 MB of the log: the end is where the fatal line is
MAX_STDOUT = 4 * 1024 * 1024  # the child's one JSON document is a few KB; more is a flood, and it is stopped
TERM_GRACE_S = 2.0
MAX_LOG_LINES = 5_000  # lines of TensorFlow's log kept for the analysis (a real one is a few hundred)

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
    try:
        rss_before = _children_maxrss_mb()
    except Exception:
        rss_before = None
    ran = run_bounded(argv, timeout, env=full_env, stdout_caps=Caps(MAX_STDOUT), stderr_caps=Caps(MAX_STDERR, head=False),
                      on_stderr_line=on_stderr_line, term_grace_s=TERM_GRACE_S)
    if ran.error is not None:
        exc = ran.error
        if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
            return ChildResult("not-found", None, None, None, "", f"{exe}: {exc.strerror or exc}", 0.0)
        if isinstance(exc, PermissionError):
            return ChildResult("not-found", None, None, None, "", f"{exe}: {exc.strerror or exc} (not executable)", 0.0)
        return ChildResult("not-found", None, None, None, "", f"{exe}: {exc}", 0.0)  # ENOEXEC and friends
    peak = None
    if rss_before is not None:
        try:
            after = _children_maxrss_mb()
            # ru_maxrss of children is a max over all waited children: a delta of 0 means this one was smaller
            peak = after if after > rss_before else None
        except Exception:
            peak = None
    stdout = ran.stdout.decode("utf-8", errors="replace")
    stderr = ran.stderr.decode("utf-8", errors="replace")
    duration = ran.duration_s
    if ran.timed_out:
        return ChildResult("timeout", None, None, None, stdout, stderr, duration, None, peak)
    if ran.stdout_truncated:  # an endless stream on stdout: stopped at the cap, never one JSON document
        return ChildResult("garbage", ran.rc, None, None, stdout[:4096], stderr, duration, None, peak)
    rc = ran.rc
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
    return _parse_one_json(line[len(CHILD_MARKER):]) if line.startswith(CHILD_MARKER) else None


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
    if log.count("\n") > MAX_LOG_LINES:  # a flood, not a log: its end is where the fatal line is
        log = "".join(log.splitlines(keepends=True)[-MAX_LOG_LINES:])
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
