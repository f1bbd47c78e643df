"""The Python API: `tfdoctor.check(...)` returns the same Report that `tfdoctor check` prints (docs/api.md).

Nothing here is imported at start-up: `import tfdoctor` stays as cheap as the version string, and this module
imports the engine only when `check` is called.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from tfdoctor.model import Report

HOSTNAME_MODES = ("keep", "redact")
MAX_NODE_NAME = 253  # a DNS name is at most 253 characters; a longer "host name" is not one


def node_name() -> str | None:
    """This node's name as the fleet knows it: $TFDOCTOR_NODE_NAME when set (in a Kubernetes pod the host name is
    the pod's, so the DaemonSet passes spec.nodeName there), else `socket.gethostname()`; None when there is none."""
    import os
    import socket

    name = os.environ.get("TFDOCTOR_NODE_NAME", "").strip()
    if not name:
        try:
            name = socket.gethostname()
        except OSError:
            return None
    name = "".join(c for c in name if c.isprintable() and not c.isspace())[:MAX_NODE_NAME]
    return name or None


def raw_check(host, *, snapshot: str | None = None, no_tf: bool = False, python: str | None = None,
              tf_timeout: float = 90.0, deadline_s: float | None = None, require_gpu: bool = False,
              only=(), skip=(), debug: bool = False, progress=None, invocation=None) -> Report:
    """Probes, checks and diagnosis on `host`, not yet redacted. Raises SnapshotError for a damaged snapshot.
    `progress` receives the events of tfdoctor/progress.py as the check runs; `invocation` (tfdoctor.invocation) is
    how fixes write the tfdoctor command (None: the form that works wherever tfdoctor is on the PATH)."""
    from tfdoctor.engine import CheckOptions, check_host
    from tfdoctor.probes import ProbeOptions

    deadline = time.monotonic() + deadline_s if deadline_s else None
    try:
        report = check_host(host, ProbeOptions(no_tf=bool(no_tf), python=python, tf_timeout=tf_timeout),
                            CheckOptions(require_gpu=require_gpu, only=tuple(only), skip=tuple(skip), debug=debug,
                                         invocation=invocation),
                            deadline, progress)
    finally:
        if hasattr(host, "close"):
            host.close()
    report.meta["source"] = {"host": host.name, **({"snapshot": str(snapshot)} if snapshot else {})}
    return report


def redacted(report: Report, *, snapshot: str | None = None, hostname: str = "redact") -> Report:
    """The report as it may leave the machine. `hostname="keep"` keeps this node's name (and records it in
    meta["node"]); everything else (GPU UUIDs and serials, MAC and IP addresses, home directories) is always
    redacted. A replayed snapshot has no live node name to keep: it is redacted either way."""
    from tfdoctor.redact import Redactor, live_redactor
    from tfdoctor.report import redact_report

    if hostname not in HOSTNAME_MODES:
        raise ValueError(f"hostname must be one of {HOSTNAME_MODES}, not {hostname!r}")
    if snapshot:
        return redact_report(report, Redactor())
    redactor = live_redactor()
    if hostname == "redact":
        return redact_report(report, redactor)
    out = redact_report(report, Redactor(hostnames=(), homes=redactor.homes, extra=dict(redactor.extra),
                                         users=redactor.users))
    node = node_name()
    if node:
        out.meta["node"] = node
        out.meta.setdefault("source", {})["node"] = node
    return out


def check(snapshot: str | None = None, *, tf: bool = True, python: str | None = None, tf_timeout: float = 90.0,
          timeout: float | None = None, require_gpu: bool = False, only=(), skip=(),
          hostname: str = "redact") -> Report:
    """Diagnose this machine (or replay `snapshot`, a directory or .tar.gz) and return the Report.

    The same run as `tfdoctor check`, without printing: `tf=False` is `--no-tf`, `python` is `--python`,
    `timeout` bounds every probe (seconds, default 60; with the TensorFlow probe at least `tf_timeout + 15`),
    `only`/`skip` take finding ids, areas or id prefixes (`tf`, `pci`) and choose what is
    reported, not what is diagnosed, `hostname` is `--hostname` ("redact", the default, or "keep").
    Raises ValueError for an unknown finding id, area or hostname mode, and tfdoctor.host.SnapshotError for a
    snapshot that cannot be read. Unlike the CLI there is no watchdog that ends the process: a driver call hung
    in the kernel can still block the calling thread past `timeout`.
    """
    from tfdoctor import catalogue
    from tfdoctor.host import LiveHost, open_snapshot

    if hostname not in HOSTNAME_MODES:
        raise ValueError(f"hostname must be one of {HOSTNAME_MODES}, not {hostname!r}")
    only, skip = (only,) if isinstance(only, str) else tuple(only), (skip,) if isinstance(skip, str) else tuple(skip)
    for name in (*only, *skip):
        catalogue.resolve(name)  # UnknownName, a ValueError, names the close matches
    no_tf = not tf
    deadline_s = timeout if timeout is not None else (60.0 if (no_tf or snapshot) else max(60.0, tf_timeout + 15))
    if not no_tf:
        tf_timeout = min(tf_timeout, max(1.0, deadline_s - 5))
    from tfdoctor.invocation import current

    host = open_snapshot(str(snapshot)) if snapshot else LiveHost()
    report = raw_check(host, snapshot=str(snapshot) if snapshot else None, no_tf=no_tf, python=python,
                       tf_timeout=tf_timeout, deadline_s=deadline_s, require_gpu=require_gpu, only=only, skip=skip,
                       invocation=None if snapshot else current())
    return redacted(report, snapshot=str(snapshot) if snapshot else None, hostname=hostname)
