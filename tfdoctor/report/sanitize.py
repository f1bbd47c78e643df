"""The one sanitiser for text that came from outside (snapshots, pastes, tool outputs, the TensorFlow child) before it
reaches a terminal, a Markdown or JUnit file, a Prometheus label, a CI annotation or the fleet summary.

A tool's output or a snapshot can carry terminal escape sequences: ESC [ 8 m conceals what follows, OSC sequences set
the window title or make links (OSC 8), ESC [ 2 J clears the screen, a bare CR rewrites the line. rich strips only
some of them. Here every C0 control character but newline and tab, DEL, every C1 control (U+0080-U+009F, whose
CSI U+009B is ESC [ on some terminals), the Unicode bidirectional overrides and isolates (text that reads one way and
runs another: "Trojan Source"), the line and paragraph separators, and lone surrogates (which make a UTF-8 stream
fail half-way through a report) are shown escaped instead: `\\x1b`, `\\u202e`. Nothing is removed silently, so a
concealed payload becomes visible. JSON output is not sanitised here: JSON escapes every control character itself.
"""

from __future__ import annotations

import dataclasses
import functools

_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))


@functools.lru_cache(maxsize=2)
def _table(newlines: bool) -> dict[int, str]:
    table: dict[int, str] = {}
    for cp in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)):
        table[cp] = f"\\x{cp:02x}"
    for cp in (*_BIDI, 0x2028, 0x2029, 0xFEFF):
        table[cp] = f"\\u{cp:04x}"
    for cp in range(0xD800, 0xE000):
        table[cp] = f"\\u{cp:04x}"
    del table[0x09]  # a tab is harmless
    if newlines:
        del table[0x0A]
    return table


def clean(text: object, newlines: bool = True) -> str:
    """`text` with every control character, bidi override and lone surrogate shown escaped. `newlines=False` for
    what must stay one line (a --quiet line, a label, an error message): newlines are escaped too."""
    if not isinstance(text, str):
        text = str(text)
    if text.isascii() and text.isprintable():
        return text  # the common case, without a pass over a table
    return text.translate(_table(newlines))


def value(obj, newlines: bool = True):
    """Every string inside a JSON-like value (dicts, lists, tuples, dataclasses of facts), cleaned."""
    if isinstance(obj, str):
        return clean(obj, newlines)
    if isinstance(obj, dict):
        return {clean(k) if isinstance(k, str) else k: value(v, newlines) for k, v in obj.items()}
    if isinstance(obj, list):
        return [value(v, newlines) for v in obj]
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
        return tuple(value(v, newlines) for v in obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        try:
            changes = {f.name: value(getattr(obj, f.name), newlines) for f in dataclasses.fields(obj) if f.init}
            return dataclasses.replace(obj, **changes)
        except (TypeError, ValueError):
            return obj
    return obj


def fix(f):
    """A Fix whose every command is one line: a newline in machine text inside a command (even in a `#` comment)
    would start a second command when pasted into a shell."""
    return f.map(clean, lambda c: clean(c, newlines=False))


def report(rep, facts: bool = True):
    """A copy of a Report whose every outside string (summaries, details, fixes, evidence, facts, meta) is clean.
    `facts=False` for a reporter that prints no facts (the console): they are passed on untouched."""
    from tfdoctor.model import Report

    findings = []
    for f in rep.findings:
        findings.append(dataclasses.replace(
            f, summary=clean(f.summary), details=tuple(clean(d) for d in f.details),
            fix=fix(f.fix) if f.fix is not None else None, caused_by=clean(f.caused_by) if f.caused_by else None,
            evidence=tuple(value(e) for e in f.evidence)))
    return Report(findings=findings, facts=value(rep.facts) if facts else rep.facts, meta=value(rep.meta))
