"""A Markdown report for pasting into a bug report (GitHub renders the table and the collapsed facts)."""

from __future__ import annotations

import json

from tfdoctor import __version__, catalogue
from tfdoctor.model import Report, Status
from tfdoctor.report import to_plain

_BADGE = {Status.OK: "✅ ok", Status.INFO: "ℹ️ info", Status.WARN: "⚠️ warn", Status.FAIL: "❌ fail",
          Status.ERROR: "💥 error", Status.SKIP: "⏭️ skip"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    """A line inside an inline code span: no backticks or newlines to break out of it."""
    return _cell(text).replace("`", "'")[:400]


def _fix_blocks(fix, indent: str) -> list[str]:
    """The commands, each alternative (instead of them), and the verify step, as shell blocks."""
    def block(cmds):
        return [f"{indent}```sh", *[f"{indent}{c}" for c in cmds], f"{indent}```"] if cmds else []

    out = block(fix.commands)
    for alt in fix.alternatives:
        out += [f"{indent}Or instead, {alt.when}:", *block(alt.commands)]
    if fix.verify:
        out += [f"{indent}Verify:", *block(fix.verify)]
    return out + ([""] if out and not indent else [])


def render(report: Report) -> str:
    """The report as Markdown; every outside string is sanitised first (report/sanitize.py)."""
    from tfdoctor.report.sanitize import report as sanitized

    report = sanitized(report)
    out = [f"## tfdoctor {__version__} report", ""]
    src = report.meta.get("source", {})
    if src.get("snapshot"):
        out += [f"Replayed from snapshot `{src['snapshot']}`.", ""]
    root = report.root_cause
    if root:
        out += [f"**Root cause:** {root.summary} (`{root.id}`)", ""]
        if root.fix:
            out += [f"**Fix:** {root.fix.summary}", ""]
            out += _fix_blocks(root.fix, "")
    out += ["| Status | Finding | Summary |", "|---|---|---|"]
    for f in report.findings:
        note = f" (caused by `{f.caused_by}`)" if f.caused_by else ""
        out.append(f"| {_BADGE[f.status]} | `{f.id}` | {_cell(f.summary)}{note} |")
    out.append("")
    fixes = [f for f in report.findings if f.fix and f.status in (Status.FAIL, Status.WARN) and not f.root_cause]
    if fixes:
        out += ["### Other fixes", ""]
        for f in fixes:
            out += [f"- `{f.id}`: {f.fix.summary}"]
            out += _fix_blocks(f.fix, "  ")
        out.append("")
    with_evidence = [f for f in report.findings if f.evidence and f.status in (Status.FAIL, Status.WARN)]
    if with_evidence:
        out += ["<details><summary>Evidence</summary>", ""]
        for f in with_evidence:
            out += [f"**`{f.id}`** rests on:", ""]
            out += [f"- `{_cell(e.source)}{':' + str(e.line_no) if e.line_no else ''}`: `{_code(e.line)}`"
                    for e in f.evidence] + [""]
        out += ["</details>", ""]
    detailed = [f for f in report.findings if f.details]
    if detailed:
        out += ["<details><summary>Details</summary>", ""]
        for f in detailed:
            spec = catalogue.get(f.id)
            out += [f"**{spec.title if spec else f.id}** (`{f.id}`)", ""]
            out += [f"- {_cell(d)}" for d in f.details] + [""]
        out += ["</details>", ""]
    out += ["<details><summary>Facts</summary>", "", "```json",
            json.dumps(to_plain(report.facts), indent=1, default=str)[:60000], "```", "", "</details>", ""]
    return "\n".join(out)
