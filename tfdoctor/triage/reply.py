"""`tfdoctor triage --reply`: a short Markdown answer to post in the thread the paste came from.

What the paste shows, the likely root cause with the lines it rests on, the fix commands, how to verify, and, when
the evidence cannot decide, exactly which command's output to paste next. The questions come from the checks
themselves: a check that skips for want of evidence says what would settle it ("paste the output of `lsmod`"); the
reply asks only those that matter to the diagnosis (the checks upstream of it, or of TensorFlow seeing the GPU when
nothing failed).
"""

from __future__ import annotations

from dataclasses import dataclass

from tfdoctor import textmatch

MAX_QUESTIONS = 4
# "paste the output of `lspci -nnk | grep -iA3 nvidia`", "paste the flags line of `grep -m1 flags /proc/cpuinfo`"
_ASK = textmatch.compile(r"[Pp]aste (?:the (?:output|flags line) of |its output)?[ ]?`(?P<cmd>[^`\n]{1,200})`")
_ASK_ITS = textmatch.compile(r"`(?P<cmd>[^`\n]{1,200})` was not recorded \(paste its output")
# When nothing is wrong in what was pasted and no GPU was seen: the outputs that settle the most, first.
NOTHING_FOUND_ORDER = ("nvml.init", "pci.nvidia-gpu", "driver.nvidia-module", "driver.nouveau",
                       "env.cuda-visible-devices", "driver.dkms", "driver.secure-boot", "env.container", "env.wsl",
                       "cpu.avx")
# What to ask for when the paste shows nothing tfdoctor reads: the outputs that settle the most questions.
BASICS = ("nvidia-smi", "lspci -nnk | grep -iA3 nvidia", "sudo dmesg | grep -iE 'nvrm|nvidia|nouveau'")


@dataclass(frozen=True)
class Question:
    """An output to paste next, and the finding it would settle."""

    command: str
    finding: str
    why: str

    def to_dict(self) -> dict:
        return {"paste": self.command, "finding": self.finding, "why": self.why}


def _upstream(finding_id: str) -> list[str]:
    """Every finding upstream of this one (the catalogue's `after` chains), nearest first."""
    from tfdoctor import catalogue

    after = {s.id: tuple(s.after) for s in catalogue.entries()}
    out: list[str] = []
    todo = list(after.get(finding_id, ()))
    while todo:
        fid = todo.pop(0)
        if fid not in out:
            out.append(fid)
            todo.extend(after.get(fid, ()))
    return out


def diagnosis(report):
    """The report's diagnosis: its root cause, else the first warning nothing else explains (as the corpus scores)."""
    from tfdoctor.model import Status

    if report.root_cause is not None:
        return report.root_cause
    return next((f for f in report.findings if f.status == Status.WARN and not f.caused_by), None)


def questions(report, recognised_any: bool = True, not_installed=()) -> list[Question]:
    """The outputs to paste next: what the skipped checks that matter to the diagnosis ask for (never the output of
    a tool the paste shows is not installed)."""
    from tfdoctor.model import Status

    if not recognised_any:
        return [Question(cmd, "", "nothing in the paste was an output tfdoctor reads") for cmd in BASICS]
    diag = diagnosis(report)
    if diag is None:
        if any(f.status in (Status.OK, Status.INFO) for f in report.findings
               if f.id in ("tf.gpu-visible", "nvml.devices", "pci.nvidia-gpu")):
            return []  # the paste shows the GPU and nothing wrong: there is nothing to narrow down
        relevant = [fid for fid in NOTHING_FOUND_ORDER if fid in {*_upstream("tf.gpu-visible"), "tf.gpu-visible"}]
    else:
        relevant = _upstream(diag.id)  # nearest upstream first: what could explain the diagnosis
    out: list[Question] = []
    seen: set[str] = set()
    for fid in relevant:
        f = report.get(fid)
        if f is None or f.status != Status.SKIP:
            continue
        m = _ASK.search(f.summary) or _ASK_ITS.search(f.summary)
        if m is None:
            continue
        cmd = m.group("cmd").strip()
        if cmd in seen or cmd.split(" ", 1)[0] in not_installed:
            continue
        seen.add(cmd)
        out.append(Question(cmd, f.id, f.summary))
        if len(out) >= MAX_QUESTIONS:
            break
    return out


def _code(text: str) -> str:
    """Inline code that survives any backticks in the text."""
    text = text.replace("\n", " ")
    fence = "``" if "`" in text else "`"
    return f"{fence}{' ' if fence == '``' else ''}{text}{' ' if fence == '``' else ''}{fence}"


def _lines(r) -> str:
    if not r.first:
        return ""
    return f"line {r.first}" if r.first == r.last else f"lines {r.first}-{r.last}"


def render(result) -> str:
    """The Markdown answer."""
    from tfdoctor import __version__
    from tfdoctor.model import Status
    from tfdoctor.triage.recognisers import KINDS

    report = result.report
    used = result.used
    out: list[str] = []
    from tfdoctor.docs import DOCS_URL

    out.append(f"**What the paste shows** (read by [tfdoctor]({DOCS_URL}) {__version__}):")
    out.append("")
    if used:
        for r in used:
            what = KINDS.get(r.kind, r.kind)
            cmd = f" from {_code(r.command)}" if r.command and not r.command.startswith(("import ", "print")) else ""
            note = f": {r.note}" if r.note else ""
            out.append(f"- {what}{cmd}{note} ({_lines(r)})" if _lines(r) else f"- {what}{cmd}{note}")
    else:
        out.append("- no output of a tool tfdoctor reads (nvidia-smi, lspci, the kernel log, a TensorFlow log...)")
    out.append("")
    diag = diagnosis(report)
    if diag is not None:
        label = "Likely root cause" if diag.status == Status.FAIL else "What stands out"
        out.append(f"**{label}:** {diag.summary} (`{diag.id}`)")
        evidence = list(diag.evidence)[:4]
        if evidence:
            out.append("")
            out.append("It rests on:")
            out.append("```")
            out.extend(e.line for e in evidence)
            out.append("```")
        for d in (diag.details[:2] if not evidence else ()):
            if d and len(d) < 400:
                out.append("")
                out.append(d)
        fix = diag.fix
        if fix is not None:
            out.append("")
            out.append(f"**Fix:** {fix.summary}")
            if fix.commands:
                out += ["```sh", *fix.commands, "```"]
            for alt in fix.alternatives:
                out.append(f"Or instead, {alt.when}:")
                out += ["```sh", *alt.commands, "```"]
            if fix.verify:
                out.append("**Verify:**")
                out += ["```sh", *fix.verify, "```"]
        others = [f for f in report.findings if f.caused_by == diag.id]
        if others:
            out.append("")
            out.append(f"This also explains: {', '.join(f'`{f.id}`' for f in others)}.")
    else:
        out.append("**No problem found in what was pasted.**" if used else
                   "**Nothing here tells what is wrong yet.**")
    asks = questions(report, bool(used), result.not_installed)
    if asks:
        out.append("")
        out.append("**To narrow it down, please paste the output of:**" if diag is not None else
                   "**Please paste the output of:**")
        for q in asks:
            out.append(f"- {_code(q.command)}")
    out.append("")
    return "\n".join(out)
