"""`tfdoctor summarize REPORT.json...`: many nodes' JSON reports in, one fleet view out (docs/ci.md).

Nodes are grouped by their root cause; each group prints its node count, its nodes, and the fix once. A node's name
is the report's `source.node` (written by `tfdoctor check --json --hostname keep`), else the file name without
`.json` (so `reports/gpu07.json` is node `gpu07`).

Every report is untrusted input: files are read up to MAX_BYTES, must be tfdoctor JSON reports (any schema_version:
only `source`, `summary` and the findings' id, title, status, summary and fix are read, which every version has),
and every string printed is stripped of control characters and bounded. A file that cannot be read is shown in
the view as unreadable, never silently dropped.

Exit status: 0 every node passed, 1 at least one node failed, 2 a usage error or at least one unreadable report.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

MAX_BYTES = 16 * 1024 * 1024
MAX_TEXT = 500
MAX_NODE = 253
HEALTHY = "healthy"


def _text(value: object, limit: int = MAX_TEXT) -> str:
    from tfdoctor.report.sanitize import clean

    text = clean(str(value)[: limit * 2], newlines=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Node:
    name: str
    path: str
    exit_code: int
    status: str
    root_cause: str | None
    finding: dict | None  # the root cause finding, or the first failed one


@dataclass
class Group:
    key: str
    status: str
    title: str
    summary: str
    fixes: list = field(default_factory=list)
    nodes: list = field(default_factory=list)


class ReportError(ValueError):
    pass


def _node_name(path: str, doc: dict) -> str:
    source = doc.get("source")
    node = source.get("node") if isinstance(source, dict) else None
    if isinstance(node, str) and node.strip():
        return _text(node.strip(), MAX_NODE)
    base = os.path.basename(path)
    return _text(base[:-5] if base.endswith(".json") else base, MAX_NODE)


def load(path: str) -> Node:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ReportError(exc.strerror or str(exc)) from None
    if len(data) > MAX_BYTES:
        raise ReportError(f"larger than {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ReportError(f"not JSON ({_text(exc, 120)})") from None
    version = doc.get("schema_version") if isinstance(doc, dict) else None
    if (not isinstance(version, int) or isinstance(version, bool) or version < 1
            or not isinstance(doc.get("summary"), dict) or not isinstance(doc.get("findings"), list)):
        raise ReportError("not a tfdoctor JSON report; write one with tfdoctor check --json")
    summary = doc["summary"]
    findings = [f for f in doc.get("findings") or [] if isinstance(f, dict)]
    root = summary.get("root_cause") if isinstance(summary.get("root_cause"), str) else None
    exit_code = summary.get("exit_code") if summary.get("exit_code") in (0, 1) else 1
    finding = next((f for f in findings if f.get("id") == root), None) if root else None
    if finding is None and exit_code:
        finding = next((f for f in findings if f.get("status") == "fail"), None)
    status = summary.get("status") if isinstance(summary.get("status"), str) else "unknown"
    return Node(_node_name(path, doc), path, exit_code, _text(status, 20), _text(root, 100) if root else None,
                finding)


def _fix(finding: dict | None) -> dict | None:
    fix = finding.get("fix") if finding else None
    if not isinstance(fix, dict) or not isinstance(fix.get("summary"), str):
        return None
    def commands(value) -> list[str]:
        return [_text(c) for c in (value if isinstance(value, list) else [])[:20] if isinstance(c, str)]

    alternatives = [{"when": _text(a["when"]), "commands": commands(a.get("commands"))}
                    for a in (fix.get("alternatives") if isinstance(fix.get("alternatives"), list) else [])[:10]
                    if isinstance(a, dict) and isinstance(a.get("when"), str)]
    return {"summary": _text(fix["summary"]), "commands": commands(fix.get("commands")),
            "alternatives": alternatives, "verify": commands(fix.get("verify"))}


def summarize(paths: list[str]) -> dict:
    """The fleet view as a JSON-ready dict (what `--json` prints)."""
    groups: dict[str, Group] = {}
    unreadable = []
    nodes = []
    for path in paths:
        try:
            node = load(path)
        except ReportError as exc:
            unreadable.append({"file": _text(path), "error": _text(exc)})
            continue
        nodes.append(node)
        f = node.finding
        if node.exit_code == 0:
            key, title, summary = HEALTHY, "no failed finding", ""
            if node.root_cause and f:  # a warning named as the cause: still healthy, but say which
                key = node.root_cause
                title, summary = _text(f.get("title", key)), _text(f.get("summary", ""))
        else:
            fid = node.root_cause or (_text(f.get("id", "?"), 100) if f else "?")
            key = fid
            title = _text(f.get("title", fid)) if f else fid
            summary = _text(f.get("summary", "")) if f else ""
        group = groups.get(key)
        if group is None:
            group = groups[key] = Group(key, "fail" if node.exit_code else node.status, title, summary)
        elif node.exit_code:
            group.status = "fail"
        fix = _fix(f)
        if fix and fix not in group.fixes:
            group.fixes.append(fix)
        group.nodes.append(node.name)
    ordered = sorted(groups.values(), key=lambda g: (g.status != "fail", g.key == HEALTHY, -len(g.nodes), g.key))
    failing = sum(1 for n in nodes if n.exit_code)
    return {
        "nodes": len(nodes),
        "failing": failing,
        "passing": len(nodes) - failing,
        "unreadable": unreadable,
        "groups": [{"root_cause": None if g.key == HEALTHY else g.key, "status": g.status, "title": g.title,
                    "summary": g.summary, "count": len(g.nodes), "nodes": sorted(g.nodes), "fixes": g.fixes}
                   for g in ordered],
    }


def exit_code(view: dict) -> int:
    if view["unreadable"]:
        return 2
    return 1 if view["failing"] else 0


def render_text(view: dict) -> str:
    from tfdoctor.model import Alternative, Fix
    from tfdoctor.report import fix_text_lines

    lines = [f"{view['nodes']} node(s): {view['failing']} failing, {view['passing']} passing"
             + (f", {len(view['unreadable'])} unreadable report(s)" if view["unreadable"] else "")]
    for g in view["groups"]:
        lines.append("")
        if g["root_cause"] is None:
            lines.append(f"{g['count']} node(s) healthy")
        else:
            mark = "FAIL" if g["status"] == "fail" else g["status"].upper()
            lines.append(f"{g['count']} node(s) {mark} {g['root_cause']}: {g['summary'] or g['title']}")
        lines.append("  nodes: " + ", ".join(g["nodes"]))
        for fix in g["fixes"]:
            lines.append(f"  Fix: {fix['summary']}")
            lines += fix_text_lines(Fix(fix["summary"], tuple(fix["commands"]),
                                        tuple(Alternative(a["when"], tuple(a["commands"]))
                                              for a in fix.get("alternatives", [])),
                                        tuple(fix.get("verify") or ())), "    ")
    if view["unreadable"]:
        lines += ["", "Unreadable reports (not counted):"]
        lines += [f"  {u['file']}: {u['error']}" for u in view["unreadable"]]
    return "\n".join(lines) + "\n"


def render_json(view: dict) -> str:
    return json.dumps({"summary_version": 1, **view}, indent=2) + "\n"
