"""Reporters: each takes the same Report and renders it (console, json, markdown, junit, prometheus)."""

from __future__ import annotations

import dataclasses
import enum

from tfdoctor import catalogue
from tfdoctor.model import Finding, Report
from tfdoctor.redact import Redactor


def to_plain(value):
    """Facts (dataclasses, enums, tuples) as JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_plain(v) for v in value]
    return value


ALTERNATIVE = "Or instead ({when}):"
VERIFY = "Check that it worked:"


def fix_text_lines(fix, indent: str = "  ") -> list[str]:
    """A fix's commands as plain text lines: the commands in order, each alternative (used instead of them, with when
    it applies), then the commands that show it worked. For the text reporters (JUnit, GitHub, fleet summary)."""
    out = [f"{indent}$ {c}" for c in fix.commands]
    for alt in fix.alternatives:
        out.append(indent + ALTERNATIVE.format(when=alt.when))
        out += [f"{indent}  $ {c}" for c in alt.commands]
    if fix.verify:
        out.append(indent + VERIFY)
        out += [f"{indent}  $ {c}" for c in fix.verify]
    return out


def fix_command_set(fix) -> set[str]:
    """Every command a fix prints (main, alternatives, verify): to tell whether two fixes would print the same."""
    return {*fix.commands, *(c for a in fix.alternatives for c in a.commands), *fix.verify} if fix else set()


def finding_dict(f: Finding) -> dict:
    spec = catalogue.get(f.id)
    return {
        "id": f.id,
        "area": spec.area if spec else f.id.split(".")[0],
        "title": spec.title if spec else f.id,
        "status": f.status.value,
        "summary": f.summary,
        "details": list(f.details),
        "fix": f.fix.to_dict() if f.fix else None,
        "caused_by": f.caused_by,
        "root_cause": f.root_cause,
        "evidence": [e.to_dict() for e in f.evidence],
    }


def redact_report(report: Report, redactor: Redactor) -> Report:
    """A copy of the report with secrets removed from every text and fact."""
    import json
    from dataclasses import replace

    plain_facts = to_plain(report.facts)
    redactor = redactor.learn(json.dumps(plain_facts, default=str)
                              + " ".join(" ".join((f.summary, *f.details)) for f in report.findings))
    findings = []
    for f in report.findings:
        fix = f.fix.map(redactor) if f.fix else None
        evidence = tuple(replace(e, line=redactor(e.line), source=redactor(e.source)) for e in f.evidence)
        findings.append(f.with_(summary=redactor(f.summary), details=tuple(redactor(d) for d in f.details), fix=fix,
                                evidence=evidence))
    return Report(findings=findings, facts=redactor.obj(plain_facts), meta=redactor.obj(to_plain(report.meta)))
