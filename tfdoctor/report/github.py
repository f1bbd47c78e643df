"""GitHub Actions output: workflow-command annotations and the job summary (docs/ci.md, "GitHub Actions").

When GITHUB_ACTIONS is "true" (the runner sets it in every step), `tfdoctor check` also
- prints one `::error` annotation per failed (and errored) finding and one `::warning` per warning, on stderr, so
  that stdout stays exactly what was asked for (a JSON report, or nothing in --quiet mode); the runner reads
  workflow commands from both streams;
- appends the Markdown report to the file named by GITHUB_STEP_SUMMARY, which the run's summary page shows.

Annotation text is escaped as actions/toolkit's `issueCommand` escapes it (`%`, CR, LF in the message; also `:`
and `,` in properties): a finding's text can never end the command early or start a second one on a new line.
"""

from __future__ import annotations

import os

from tfdoctor.model import Finding, Report, Status

MAX_MESSAGE = 4000  # annotations are meant to be short; a runaway detail must not flood the log
MAX_SUMMARY_BYTES = 1024 * 1024  # GitHub rejects a step summary over 1 MiB


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _clean(text: str) -> str:
    """No control characters (a terminal escape in a tool's output) in what the runner prints."""
    from tfdoctor.report.sanitize import clean

    return clean(text)


def _message(f: Finding) -> str:
    lines = [f.summary]
    if f.caused_by:
        lines.append(f"Caused by {f.caused_by}: fix that first.")
    if f.fix:
        from tfdoctor.report import fix_text_lines

        lines.append(f"Fix: {f.fix.summary}")
        lines += fix_text_lines(f.fix)
    text = _clean("\n".join(lines))
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def annotations(report: Report) -> str:
    """Workflow commands, one line each: `::error title=tfdoctor <id>::...` for fail and error, `::warning` for warn."""
    out = []
    for f in report.findings:
        if f.status in (Status.FAIL, Status.ERROR):
            level = "error"
        elif f.status == Status.WARN:
            level = "warning"
        else:
            continue
        suffix = " (root cause)" if f.root_cause else ""
        title = _escape_property(_clean(f"tfdoctor {f.id}{suffix}"))
        out.append(f"::{level} title={title}::{_escape_data(_message(f))}")
    return "".join(line + "\n" for line in out)


def step_summary(report: Report) -> str:
    from tfdoctor.report import markdown

    text = markdown.render(report)
    data = text.encode("utf-8")
    if len(data) > MAX_SUMMARY_BYTES:
        text = data[: MAX_SUMMARY_BYTES - 100].decode("utf-8", "ignore") + "\n\n(truncated)\n"
    return text


def active(environ=None) -> bool:
    return (environ if environ is not None else os.environ).get("GITHUB_ACTIONS") == "true"


def emit(report: Report, stderr, environ=None) -> None:
    """Print the annotations on `stderr` and append the summary to $GITHUB_STEP_SUMMARY (when set)."""
    environ = environ if environ is not None else os.environ
    stderr.write(annotations(report))
    stderr.flush()
    path = environ.get("GITHUB_STEP_SUMMARY")
    if path:
        try:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(step_summary(report))
        except OSError as exc:
            stderr.write(f"tfdoctor: could not append to GITHUB_STEP_SUMMARY: {exc.strerror or exc}\n")
