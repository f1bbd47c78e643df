"""Plain data that flows from probes to checks to reporters: findings and the report.

Facts are per-probe dataclasses (see tfdoctor/probes/); a Finding is what a check concludes from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum


class Status(str, Enum):
    """How a finding turned out. Order matters: later is worse (for the area's mark and the exit status)."""

    OK = "ok"
    INFO = "info"
    SKIP = "skip"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Status.OK: 0, Status.INFO: 1, Status.SKIP: 2, Status.WARN: 3, Status.ERROR: 4, Status.FAIL: 5}


@dataclass(frozen=True)
class Alternative:
    """Another way to the same end, used instead of the main commands (never after them): when it applies, and its
    own commands in order."""

    when: str
    commands: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"when": self.when, "commands": list(self.commands)}


@dataclass(frozen=True)
class Fix:
    """What to do: one sentence, then the exact commands for this machine, in order; alternatives that replace
    them ("either ... or ..."), each with when it applies; and the commands that show the fix worked."""

    summary: str
    commands: tuple[str, ...] = ()
    alternatives: tuple[Alternative, ...] = ()
    verify: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"summary": self.summary, "commands": list(self.commands),
                "alternatives": [a.to_dict() for a in self.alternatives], "verify": list(self.verify)}

    def map(self, text_fn, command_fn=None) -> Fix:
        """The same fix with `text_fn` applied to its prose (summary, each alternative's when) and `command_fn`
        (default: `text_fn`) to every command: the one place that knows every string a Fix holds."""
        command_fn = command_fn or text_fn
        return Fix(text_fn(self.summary), tuple(command_fn(c) for c in self.commands),
                   tuple(Alternative(text_fn(a.when), tuple(command_fn(c) for c in a.commands))
                         for a in self.alternatives),
                   tuple(command_fn(c) for c in self.verify))

    def text(self) -> str:
        """Everything the fix tells the user, as one string (for searching it)."""
        parts = [self.summary, *self.commands, *self.verify]
        for alt in self.alternatives:
            parts += [alt.when, *alt.commands]
        return " ".join(parts)


@dataclass(frozen=True)
class Finding:
    """One check's conclusion. `caused_by` is filled in by the diagnosis, never by a check."""

    id: str
    status: Status
    summary: str
    details: tuple[str, ...] = ()
    fix: Fix | None = None
    caused_by: str | None = None
    root_cause: bool = False
    # why: the lines of the machine's outputs this conclusion rests on (tfdoctor.machine.Evidence)
    evidence: tuple = ()

    def with_(self, **changes) -> Finding:
        return replace(self, **changes)

    def or_evidence(self, evidence: tuple) -> Finding:
        """This finding, with `evidence` where it is a warning or a failure that names none of its own."""
        if self.evidence or not evidence or self.status not in (Status.WARN, Status.FAIL):
            return self
        return replace(self, evidence=tuple(evidence))


def ok(id: str, summary: str, *details: str) -> Finding:
    return Finding(id, Status.OK, summary, tuple(details))


def info(id: str, summary: str, *details: str, fix: Fix | None = None) -> Finding:
    return Finding(id, Status.INFO, summary, tuple(details), fix)


def warn(id: str, summary: str, *details: str, fix: Fix | None = None) -> Finding:
    return Finding(id, Status.WARN, summary, tuple(details), fix)


def fail(id: str, summary: str, *details: str, fix: Fix | None = None) -> Finding:
    return Finding(id, Status.FAIL, summary, tuple(details), fix)


def told_fail(id: str, summary: str, told, fix: Fix | None = None, *details: str) -> Finding:
    """A failing finding drawn from one belief of the machine model (`told`): its first two evidence lines as details
    (then `details`), and all of its evidence."""
    return Finding(id, Status.FAIL, summary, tuple(e.describe() for e in told.evidence[:2]) + tuple(details), fix,
                   evidence=tuple(told.evidence))


def skip(id: str, summary: str, *details: str) -> Finding:
    return Finding(id, Status.SKIP, summary, tuple(details))


@dataclass
class Report:
    """Everything a reporter needs: the findings in catalogue order, the facts they came from, and run metadata."""

    findings: list[Finding]
    facts: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    @property
    def root_cause(self) -> Finding | None:
        return next((f for f in self.findings if f.root_cause), None)

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in Status}
        for f in self.findings:
            out[f.status.value] += 1
        return out

    def get(self, finding_id: str) -> Finding | None:
        return next((f for f in self.findings if f.id == finding_id), None)

    def exit_code(self, strict: bool = False) -> int:
        bad = {Status.FAIL} | ({Status.WARN, Status.ERROR} if strict else set())
        return 1 if any(f.status in bad for f in self.findings) else 0
