"""The default report: grouped by area with a mark per finding, like `flutter doctor`.

Fixes print under the failing finding; findings caused by another point to it instead of repeating its fix;
skips are listed together at the end; `-v` adds the details. Colour follows rich's rules (NO_COLOR, non-tty).
"""

from __future__ import annotations

import sys

from tfdoctor import __version__, catalogue
from tfdoctor.model import Finding, Report, Status
from tfdoctor.report import ALTERNATIVE, VERIFY, fix_command_set

MARKS = {
    Status.OK: ("✓", "green"),
    Status.INFO: ("•", "cyan"),
    Status.WARN: ("!", "yellow"),
    Status.FAIL: ("✗", "red"),
    Status.ERROR: ("☠", "red"),
    Status.SKIP: ("-", "dim"),
}
ASCII_MARKS = {Status.OK: "ok", Status.INFO: "i", Status.WARN: "!", Status.FAIL: "X", Status.ERROR: "E", Status.SKIP: "-"}


def _utf8(stream) -> bool:
    enc = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
    return enc in ("utf8", "utf_8")


# What a terminal that cannot show Unicode (PYTHONIOENCODING=ascii, LANG=C on an old system) gets instead; anything
# else outside its encoding becomes "?" (the stream's own error handler, set by the CLI).
_ASCII = str.maketrans({"·": "-", "…": "...", "–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"',
                        "≥": ">=", "≤": "<=", "×": "x", "→": "->", "\u00a0": " "})


def ascii_text(text: str) -> str:
    """Text for a 7-bit terminal: the common typographic characters spelled in ASCII."""
    return text.translate(_ASCII)


def summary_line(report: Report) -> str:
    c = report.counts()
    parts = []
    for key, label in (("fail", "failed"), ("error", "errors"), ("warn", "warnings"), ("ok", "ok"), ("info", "info"),
                       ("skip", "skipped")):
        if c.get(key):
            parts.append(f"{c[key]} {label}")
    return ", ".join(parts) or "no findings"


class _Fixes:
    """Prints each fix's commands once. The root cause's fix is printed in full at the end ("Fix it first"), so its
    finding only names it; a fix whose every command is already printed, or is in the root cause's fix, names where
    instead of repeating the block."""

    def __init__(self, report: Report):
        self.root = report.root_cause
        self.root_commands = fix_command_set(self.root.fix) if self.root is not None else set()
        self.printed: dict[str, str] = {}  # command -> the finding whose fix printed it

    def print_under(self, console, f: Finding, escape) -> None:
        fix = f.fix
        if self.root is not None and f.id == self.root.id:
            console.print("        [bold]Fix:[/bold] [dim]below, under \"Fix it first\"[/dim]")
            return
        console.print(f"        [bold]Fix:[/bold] {escape(fix.summary)}")
        mine = fix_command_set(fix)
        if not mine:
            return
        if self.root is not None and mine <= self.root_commands:
            console.print(f"          [dim](its commands are in the fix of {self.root.id}, below)[/dim]")
            return
        owner = {self.printed[c] for c in mine if c in self.printed}
        if mine <= set(self.printed) and len(owner) == 1:
            console.print(f"          [dim](the same commands as the fix of {owner.pop()}, above)[/dim]")
            return
        print_fix_commands(console, fix, "          ", escape)
        for c in mine:
            self.printed.setdefault(c, f.id)


def render(report: Report, verbose: bool = False, file=None, width: int | None = None, preamble=None) -> None:
    """Print the report to `file` (default stdout). Every outside string is sanitised first (report/sanitize.py).
    `preamble(console)`, when given, prints after the heading (`tfdoctor triage` lists what it recognised in the
    paste there)."""
    from rich.console import Console
    from rich.markup import escape as rich_escape

    from tfdoctor.report.sanitize import report as sanitized

    report = sanitized(report, facts=False)  # the console prints findings and meta, never the facts
    file = file or sys.stdout
    console = Console(file=file, highlight=False, soft_wrap=True, width=width)
    console.on_broken_pipe = _reader_went_away  # `tfdoctor check | head -1`: see _reader_went_away
    utf8 = _utf8(file)

    def escape(text: str) -> str:
        return rich_escape(text if utf8 else ascii_text(text))

    def mark(status: Status) -> str:
        sym, colour = MARKS[status]
        sym = sym if utf8 else ASCII_MARKS[status]
        return f"[{colour}]{sym}[/{colour}]"

    dot = "·" if utf8 else "-"
    src = report.meta.get("source", {})
    where = (f"the paste {src.get('paste')}" if src.get("paste") else
             f"replay of snapshot {src.get('snapshot')}" if src.get("snapshot") else "this machine")
    console.print(f"[bold]tfdoctor {__version__}[/bold] {dot} checking {escape(where)}")
    selection = report.meta.get("selection")
    if selection:
        chosen = " ".join([*(f"--only {n}" for n in selection.get("only", [])),
                           *(f"--skip {n}" for n in selection.get("skip", []))])
        console.print(f"[dim](showing {len(selection.get('shown', []))} of {len(catalogue.ids())} checks: "
                      f"{escape(chosen)}; the checks they depend on ran too, so the verdict is the full check's)"
                      "[/dim]")
    if not verbose:
        command = "triage" if src.get("paste") else "check"
        console.print(f"[dim](to see every detail, run tfdoctor {command} -v)[/dim]")
    console.print()
    if preamble is not None:
        preamble(console)

    fixes = _Fixes(report)
    shown = [f for f in report.findings if f.status != Status.SKIP or verbose]
    by_area: dict[str, list[Finding]] = {}
    for f in shown:
        spec = catalogue.get(f.id)
        by_area.setdefault(spec.area if spec else f.id.split(".")[0], []).append(f)

    for area, items in by_area.items():
        worst = max((f.status for f in items), key=lambda s: s.rank)
        console.print(f"[bold]\\[{mark(worst)}] {escape(catalogue.area_title(area))}[/bold]")
        for f in items:
            tag = " [bold red](root cause)[/bold red]" if f.root_cause else ""
            console.print(f"    {mark(f.status)} {escape(f.summary)} [dim]{f.id}[/dim]{tag}")
            if f.caused_by and f.status in (Status.FAIL, Status.WARN, Status.ERROR):
                console.print(f"        [dim]caused by {f.caused_by}: fix that first[/dim]")
            if verbose or f.status in (Status.ERROR,) or (f.status in (Status.FAIL, Status.WARN) and not f.caused_by):
                for d in f.details if (verbose or f.status == Status.ERROR) else ():
                    for i, line in enumerate(d.splitlines() or [""]):
                        console.print(f"        {dot if i == 0 else ' '} {escape(line)}")
            if verbose and f.evidence and f.status in (Status.FAIL, Status.WARN):
                console.print("        [dim]Evidence:[/dim]")
                for e in f.evidence:
                    where = f"{e.source}:{e.line_no}" if e.line_no else e.source
                    console.print(f"          [dim]{escape(where)}:[/dim] {escape(e.line)}")
            if f.fix and (f.status in (Status.FAIL, Status.WARN, Status.INFO)) and (verbose or not f.caused_by):
                fixes.print_under(console, f, escape)
        console.print()

    skipped = [f for f in report.findings if f.status == Status.SKIP]
    if skipped and not verbose:
        console.print("[bold]Skipped[/bold] [dim](not failures)[/dim]")
        for f in skipped:
            console.print(f"    {mark(Status.SKIP)} [dim]{f.id}:[/dim] {escape(f.summary)}")
        console.print()

    missing = report.meta.get("tools_not_found") or []
    if missing:
        where = ("Not in the paste" if src.get("paste") else
                 "Not in the snapshot" if src.get("snapshot") else "Not installed here")
        console.print(f"[dim]{where} (the facts they give were skipped): {escape(', '.join(missing))}[/dim]")
    for item in report.meta.get("needs_root") or []:
        console.print(f"[dim]Not readable without root: {escape(item)}[/dim]")
    if missing or report.meta.get("needs_root"):
        console.print()

    root = report.root_cause
    if root is not None:
        console.print(f"[bold red]Root cause:[/bold red] {escape(root.summary)} [dim]({root.id})[/dim]")
        others = [f for f in report.findings if f.caused_by == root.id]
        if others:
            console.print(f"[dim]{len(others)} other finding(s) follow from it: "
                          f"{', '.join(f.id for f in others)}[/dim]")
        if root.fix:
            console.print(f"[bold]Fix it first:[/bold] {escape(root.fix.summary)}")
            print_fix_commands(console, root.fix, "  ", escape)
    counts = report.counts()
    colour = "red" if counts["fail"] else ("yellow" if counts["warn"] or counts["error"] else "green")
    dur = report.meta.get("duration_s")
    tail = f" [dim]({dur:.2f} s)[/dim]" if isinstance(dur, (int, float)) else ""
    verdict = "No issues found!" if not (counts["fail"] or counts["warn"] or counts["error"]) else "Issues found."
    console.print(f"[{colour}]{verdict}[/{colour}] {summary_line(report)}{tail}")


def print_fix_commands(console, fix, indent: str, escape=None) -> None:
    """The commands in order; each alternative, used instead of them (never after them), with when it applies; then
    the commands that show the fix worked."""
    if escape is None:
        from rich.markup import escape
    for cmd in fix.commands:
        console.print(f"{indent}[cyan]$ {escape(cmd)}[/cyan]")
    for alt in fix.alternatives:
        console.print(f"{indent}[bold]{escape(ALTERNATIVE.format(when=alt.when))}[/bold]")
        for cmd in alt.commands:
            console.print(f"{indent}  [cyan]$ {escape(cmd)}[/cyan]")
    if fix.verify:
        console.print(f"{indent}[bold]{VERIFY}[/bold]")
        for cmd in fix.verify:
            console.print(f"{indent}  [cyan]$ {escape(cmd)}[/cyan]")


def _reader_went_away() -> None:
    """rich's default, when stdout's reader is gone, is to exit with status 1; raise BrokenPipeError instead, so that
    the command decides (cli.py ends with the check's own exit status)."""
    raise BrokenPipeError("the reader of stdout went away")


def render_quiet(report: Report, strict: bool = False, file=None) -> None:
    """Health-check mode: nothing on success, one line per failure (a summary's control characters and newlines
    shown escaped: one finding is one line, whatever a tool printed)."""
    from tfdoctor.report.sanitize import clean

    file = file or sys.stdout
    bad = {Status.FAIL} | ({Status.WARN, Status.ERROR} if strict else set())
    for f in report.findings:
        if f.status in bad:
            cause = f" (caused by {f.caused_by})" if f.caused_by else ""
            print(clean(f"{f.status.value.upper()} {f.id}: {f.summary}{cause}", newlines=False), file=file)
