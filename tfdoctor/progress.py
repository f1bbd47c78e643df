"""The events a check reports while it runs, for whoever shows progress (the CLI on a terminal).

Plain data: the engine emits them and imports no display; tfdoctor/report/progress.py draws them with rich, and only
when a terminal is attached. An area's findings here are a preview (the evidence of later probes may still change
them); the report is computed once more at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ProbeStarted:
    probe: str
    title: str


@dataclass(frozen=True)
class ProbeStep:
    """A slow probe began a step: `text` names it for a person ("importing TensorFlow with /usr/bin/python3")."""

    probe: str
    title: str
    text: str


@dataclass(frozen=True)
class ProbeDone:
    probe: str
    title: str
    seconds: float
    failure: str | None = None  # why it gave nothing (a timeout, an exception, --no-tf)


@dataclass(frozen=True)
class AreaDone:
    """Every probe an area's checks read has ended: its findings as they stand."""

    area: str
    title: str
    findings: list = field(default_factory=list)
