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
    cut: list[str] = []
    out = {
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
        "facts": _bounded(to_plain(report.facts), "facts", cut),
        "meta": {k: v for k, v in to_plain(report.meta).items() if k != "source"},
    }
    if cut:
        out["meta"]["truncated"] = cut[:50] + ([f"and {len(cut) - 50} more places"] if len(cut) > 50 else [])
    return out


# A report stays readable whatever it was fed: a megabyte of log read into the facts (its lines, every message
# recognised in it) is cut here, and meta.truncated says where and how much. The findings are never cut.
MAX_ITEMS = 500
MAX_CHARS = 64 * 1024


def _bounded(value, path: str, cut: list[str]):
    if isinstance(value, dict):
        return {k: _bounded(v, f"{path}.{k}", cut) for k, v in value.items()}
    if isinstance(value, list):
        if len(value) > MAX_ITEMS:
            cut.append(f"{path}: the first {MAX_ITEMS} of {len(value)} items")
            value = value[:MAX_ITEMS]
        return [_bounded(v, f"{path}[]", cut) for v in value]
    if isinstance(value, str) and len(value) > MAX_CHARS:
        cut.append(f"{path}: the first {MAX_CHARS} of {len(value)} characters")
        return value[:MAX_CHARS]
    return value


def render(report: Report, strict: bool = False) -> str:
    return json.dumps(report_dict(report, strict), indent=2, sort_keys=False, default=str) + "\n"
