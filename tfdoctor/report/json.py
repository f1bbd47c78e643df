"""The JSON report (schema: tfdoctor/schema/report.schema.json, documented in docs/json-report.md)."""

from __future__ import annotations

import json
import time

from tfdoctor import __version__
from tfdoctor.model import Report, Status
from tfdoctor.report import finding_dict, to_plain

SCHEMA_VERSION = 2


def overall_status(report: Report) -> str:
    """fail, error, warn or ok: info and skip findings leave a machine ok."""
    worst = max((f.status for f in report.findings if f.status not in (Status.INFO, Status.SKIP)),
                key=lambda s: s.rank, default=Status.OK)
    return worst.value


def report_dict(report: Report, strict: bool = False) -> dict:
    root = report.root_cause
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "tfdoctor", "version": __version__},
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "source": report.meta.get("source", {"host": report.meta.get("host", "live")}),
        "summary": {
            "status": overall_status(report),
            "exit_code": report.exit_code(strict),
            "counts": report.counts(),
            "root_cause": root.id if root else None,
        },
        "findings": [finding_dict(f) for f in report.findings],
        "facts": to_plain(report.facts),
        "meta": {k: v for k, v in to_plain(report.meta).items() if k != "source"},
    }


def render(report: Report, strict: bool = False) -> str:
    return json.dumps(report_dict(report, strict), indent=2, sort_keys=False, default=str) + "\n"
