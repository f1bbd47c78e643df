"""The driver-API record: what tfdoctor/child/cuda_probe.py reported, and how the child ended (the snapshot's
`cuda.json`, documented in docs/snapshot-format.md).

The child runs under the diagnosed interpreter with `-I -S` (no site, no .pth files: it needs only the standard
library) in its own process group with a deadline, so a cuInit that hangs on a broken GPU, or a libcuda that
crashes the interpreter, costs tfdoctor nothing but this record saying so.
"""

from __future__ import annotations

import sys

RECORD_VERSION = 1
CHILD_FLAGS = ("-I", "-S")


def collect_live(python: str | None, timeout: float) -> dict:
    """Run the driver-API child under `python` (default: tfdoctor's own interpreter) and return its record."""
    from tfdoctor.child.runner import child_script, run_child

    res = run_child(python, child_script("cuda_probe.py"), [], timeout, interpreter_flags=CHILD_FLAGS)
    record: dict = {
        "version": RECORD_VERSION,
        "ended": {"how": res.how, "rc": res.rc, "signal_name": res.signal_name,
                  "duration_s": round(res.duration_s, 3), "timeout_s": timeout, "python": python or sys.executable},
        "result": res.data,
    }
    if res.how != "ok" and res.stderr.strip():
        record["stderr"] = res.stderr[-2048:]
    if res.data is None and res.stdout.strip():
        record["stdout"] = res.stdout[:2048]
    return record
