"""How the bench child ended, in one line for a person (the same classification as the TensorFlow probe's)."""

from __future__ import annotations

from tfdoctor.child.runner import ChildResult

_CHECK = "run `tfdoctor check` to see why"


def child_failure(res: ChildResult, python: str) -> str | None:
    """None when the child printed its document; otherwise why the benchmark could not run, with what to do."""
    data = res.data if isinstance(res.data, dict) else None
    if res.how == "ok" and data and data.get("ok"):
        return None
    if res.how == "not-found":
        return f"the Python interpreter {python} was not found or cannot run ({res.stderr.strip()[:200]})"
    if data and data.get("stage") == "import":
        from tfdoctor.probes.tensorflow import classify_import_error

        text = "\n".join(str(data.get(k) or "") for k in ("error", "traceback")) + "\n" + res.stderr[-4000:]
        failure = classify_import_error(text, str(data.get("error_type") or ""))
        if failure.kind == "not-installed":
            return f"TensorFlow is not installed for {python} (install it with: {python} -m pip install tensorflow)"
        return f"TensorFlow could not be imported by {python}: {failure.line} ({_CHECK})"
    if res.how == "signal":
        if res.signal_name == "SIGILL":
            return ("TensorFlow was killed by SIGILL (illegal instruction): this TensorFlow build needs CPU "
                    f"instructions (AVX/AVX2) this CPU lacks ({_CHECK})")
        if res.signal_name == "SIGKILL":
            return ("the benchmark was killed by SIGKILL, most likely by the kernel's out-of-memory killer: try a "
                    "smaller --batch-size")
        return f"the benchmark crashed: {res.describe()} ({_CHECK})"
    if res.how == "timeout":
        return (f"the benchmark {res.describe()} (a GPU call may be hung; raise --timeout for a large model, or "
                f"{_CHECK})")
    if res.how == "garbage":
        return f"the benchmark child {res.describe()}: {res.stdout.strip()[:200]!r}"
    tail = [ln for ln in res.stderr.splitlines() if ln.strip() and not ln.startswith("@tfdoctor-bench ")]
    last = tail[-1].strip()[:300] if tail else ""
    return f"the benchmark {res.describe()}" + (f": {last}" if last else "") + f" ({_CHECK})"
