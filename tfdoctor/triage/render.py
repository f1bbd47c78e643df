"""How `tfdoctor triage` prints: the console report of `check` with what was recognised in the paste (and from
which lines), or the JSON report of `check` with a `triage` object (schema: tfdoctor/schema/report.schema.json)."""

from __future__ import annotations

import json

MAX_LISTED = 40  # segments the console lists; a paste with more is a log pasted many times over


def console_text_lines(result) -> list[str]:
    """The "Recognised in the paste" section, as plain lines (the console adds colour)."""
    from tfdoctor.triage.recognisers import KINDS

    lines = []
    used = result.used
    total = result.paste.text.count("\n") + 1 if result.paste.text else 0
    covered = {n for r in used if r.first for n in range(r.first, r.last + 1)}
    if used:
        lines.append(f"Recognised in the paste ({len(covered)} of {total} lines):")
    else:
        lines.append(f"Recognised in the paste: nothing tfdoctor reads ({total} lines of prose or other output)")
    shown = result.recognised if len(result.recognised) <= MAX_LISTED else result.recognised[:MAX_LISTED - 5]
    for r in shown:
        where = "" if not r.first else (f"line {r.first}" if r.first == r.last else f"lines {r.first}-{r.last}")
        cmd = f" `{r.command}`" if r.command else ""
        if r.target:
            lines.append(f"  {where:>13}  {KINDS.get(r.kind, r.kind)}{cmd} -> {r.target}"
                         + (f" ({r.note})" if r.note else ""))
        else:
            lines.append(f"  {where:>13}  {KINDS.get(r.kind, r.kind)}{cmd}: {r.note or 'not used'}")
    if len(shown) < len(result.recognised):
        lines.append(f"  ... and {len(result.recognised) - len(shown)} more (every one is in --json)")
    for note in result.notes:
        lines.append(f"  Note: {note}")
    return lines


def console(result, verbose: bool = False, file=None, width: int | None = None) -> None:
    """Print the report as `check` does, with the recognised segments after the heading."""
    from rich.markup import escape

    from tfdoctor.report import console as console_report

    section = console_text_lines(result)

    def preamble(con) -> None:
        con.print(f"[bold]{escape(section[0])}[/bold]")
        for line in section[1:]:
            con.print(f"[dim]{escape(line)}[/dim]" if ": not used" in line or "Note:" in line else escape(line))
        con.print()

    console_report.render(result.report, verbose=verbose, file=file, width=width, preamble=preamble)


def json_text(result, strict: bool = False) -> str:
    """The JSON report of `check`, plus the `triage` object."""
    from tfdoctor.report.json import report_dict
    from tfdoctor.triage.reply import questions

    doc = report_dict(result.report, strict)
    triage = result.to_dict()
    triage["next"] = [q.to_dict() for q in questions(result.report, bool(result.used), result.not_installed)]
    doc["triage"] = triage
    return json.dumps(doc, indent=2, default=str) + "\n"
