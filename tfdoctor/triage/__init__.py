"""tfdoctor triage: diagnose a pasted bug report.

A maintainer, a lab admin or a forum helper has what the user pasted, not the machine: `nvidia-smi` output, half a
TensorFlow log, `lspci | grep -i nvidia`, prose in between. `triage` reads that text (tfdoctor.triage.paste: bounded,
sanitised), finds the outputs in it by their content (tfdoctor.triage.segmenter and .recognisers), writes each where
the probe that reads it looks for it in a hand-built snapshot (tfdoctor.triage.snapshot; docs/snapshot-format.md),
and runs the same diagnosis as `tfdoctor check --from` on it (tfdoctor.api). Nothing from the paste is executed.
Names the paste reveals (prompts, journal host fields) are redacted before anything is written or shown.

    from tfdoctor.triage import triage_text
    result = triage_text(open("issue.txt").read())
    result.report.root_cause, result.recognised
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from tfdoctor.model import Report
    from tfdoctor.triage.paste import Paste
    from tfdoctor.triage.snapshot import Recognised

DEADLINE_S = 30.0


@dataclass
class TriageResult:
    """The report of a paste, with what was recognised in it and from which lines."""

    report: Report
    paste: Paste
    recognised: list[Recognised] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the reader had to leave out
    snapshot: str | None = None  # where the snapshot was saved (--save-snapshot), else None
    not_installed: tuple[str, ...] = ()  # tools the paste shows are not installed (`nvidia-smi: command not found`)

    @property
    def used(self) -> list[Recognised]:
        return [r for r in self.recognised if r.target]

    def to_dict(self) -> dict:
        """The `triage` object of the JSON report."""
        return {
            "input": self.paste.name,
            "bytes_read": self.paste.bytes_read,
            "truncated": self.paste.truncated,
            "lines": self.paste.text.count("\n") + 1 if self.paste.text else 0,
            "notes": list(self.notes),
            "segments": [r.to_dict() for r in self.recognised],
            "snapshot": self.snapshot,
        }


def _scan_assignments(lines, covered: set[int], scan) -> list[tuple[int, str, str]]:
    """CUDA_VISIBLE_DEVICES as the code or shell in the paste sets it (the first assignment: the one the program
    ran with; later ones are often the fix), outside the outputs already recognised (an `env` listing)."""
    from tfdoctor.triage import recognisers as rz
    from tfdoctor.triage.scan import group

    for i, m in scan.finditer(rz.CVD_ASSIGNMENT):
        if lines[i].no in covered:
            continue
        # (the pattern's three forms: an assignment statement, a command's prefix, an inline code span)
        for name_group, value_group in (("name", "value"), ("name2", "value2"), ("name3", "value3")):
            name, value = group(m, name_group), group(m, value_group)
            if name and value is not None:
                return [(lines[i].no, name, value)]
    return []


def _scan_inline_kernels(lines, covered: set[int], scan) -> list[tuple[int, str]]:
    """The kernel release quoted inline ("`uname -r`: `5.15.0-91-generic`") or on a "Kernel: ..." line, outside the
    outputs already recognised."""
    from tfdoctor.triage import recognisers as rz
    from tfdoctor.triage.scan import group

    for i, m in scan.finditer(rz.INLINE_KERNEL):
        if lines[i].no not in covered:
            return [(lines[i].no, group(m, "release") or "")]
    return []


def plan(paste: Paste):
    """Recognise the outputs in a paste: (snapshot plan, notes). Redacted; nothing runs."""
    from tfdoctor.triage import redaction, segmenter
    from tfdoctor.triage.snapshot import add_leftover, plan_snapshot

    learned = redaction.learn(paste.text)
    text = redaction.PasteRedactor(learned)(paste.text)
    found = segmenter.segment(text)
    covered = {n for s in found.segments for n in range(s.first, s.last + 1)}  # line numbers of recognised outputs
    snapshot_plan = plan_snapshot(found.segments, _scan_assignments(found.lines, covered, found.scan),
                                  learned.container_hosts, _scan_inline_kernels(found.lines, covered, found.scan))
    add_leftover(snapshot_plan, list(found.lines))
    return snapshot_plan, paste.notes()


def triage_paste(paste: Paste, save_snapshot: str | Path | None = None) -> TriageResult:
    """Recognise the outputs in a paste, build a snapshot of them and diagnose it as `check --from` would.

    `save_snapshot`: a new directory to keep the snapshot in (editable, replayable with `check --from`); without it
    the snapshot lives in a temporary directory removed before this returns. Raises SnapshotError when the
    directory cannot be written.
    """
    from tfdoctor.api import raw_check
    from tfdoctor.host import SnapshotError, check_snapshot_dest, open_snapshot
    from tfdoctor.triage.snapshot import write_snapshot

    tmp = None
    if save_snapshot is not None:
        # the rules of `snapshot -o`, before any work: an existing file, a folder in use or a missing parent refused
        dest, as_tar = check_snapshot_dest(save_snapshot)
        if as_tar:
            raise SnapshotError(f"{save_snapshot}: --save-snapshot writes a directory (a name without .tar.gz); "
                                "pack it afterwards with tar if you need one file")
    snapshot_plan, notes = plan(paste)
    if save_snapshot is None:
        tmp = tempfile.mkdtemp(prefix="tfdoctor-triage-")
        dest = Path(tmp) / "snapshot"
    try:
        write_snapshot(snapshot_plan, dest, paste.name)
        # The paste was redacted before any of it was written (the snapshot rules, and the names the paste itself
        # reveals), so the report, made of that text and of the checks' own words, has nothing left to redact:
        # `check --from`'s second pass over every fact would change nothing (and costs seconds on a large log).
        report = raw_check(open_snapshot(dest), snapshot=str(dest), deadline_s=DEADLINE_S)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    report.meta["source"] = {"host": "paste", "paste": paste.name,
                             **({"snapshot": str(save_snapshot)} if save_snapshot is not None else {})}
    missing = tuple(sorted(k[len("commands/"):-len(".rc")].split("_")[0] for k, v in snapshot_plan.files.items()
                           if k.startswith("commands/") and k.endswith(".rc") and v.strip() == "127"))
    return TriageResult(report, paste, snapshot_plan.recognised, notes,
                        str(save_snapshot) if save_snapshot is not None else None, missing)


def triage_text(text: str, name: str = "-", save_snapshot: str | Path | None = None) -> TriageResult:
    """Triage text already in memory (the Python API)."""
    from tfdoctor.triage.paste import from_text

    return triage_paste(from_text(text, name), save_snapshot)


def triage_file(path: str, save_snapshot: str | Path | None = None) -> Report:
    """The report of a paste file (what `tfdoctor triage FILE` prints); raises PasteError for an unreadable one."""
    from tfdoctor.triage.paste import read_paste

    return triage_paste(read_paste(path), save_snapshot).report
