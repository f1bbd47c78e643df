"""Run the probes (concurrently, each with a deadline), then the checks, then the diagnosis.

A probe that raises or overruns becomes an error record; every check that needed it becomes an `error` finding
with the text, and the rest of the report still prints.

`--only/--skip` choose what the report shows and what decides the exit status, never the diagnosis: every check
upstream of a selected one (the catalogue's `after`) runs too, so a selection's root cause is the full check's.

A caller that shows progress passes `progress`, a callable that receives the events of tfdoctor/progress.py (a probe
started, the step a slow probe is in, a probe finished, an area's findings as they stand). Nothing here prints.
"""

from __future__ import annotations

import contextlib
import threading
import time
import traceback
from dataclasses import dataclass, field
from types import SimpleNamespace

from tfdoctor import catalogue, proc, safe
from tfdoctor import progress as events
from tfdoctor.checks import Facts
from tfdoctor.diagnosis import diagnose
from tfdoctor.host import SnapshotError
from tfdoctor.model import Finding, Report, Status
from tfdoctor.probes import ProbeContext, ProbeOptions, load_all


@dataclass(frozen=True)
class ProbeFailure:
    probe: str
    kind: str  # "exception" | "timeout" | "skipped"
    message: str
    traceback: str = ""


@dataclass(frozen=True)
class CheckOptions:
    require_gpu: bool = False
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    debug: bool = False
    invocation: object = None  # tfdoctor.invocation.Invocation of a live run: how a fix says "run tfdoctor again"


@dataclass
class ProbeRun:
    facts: dict = field(default_factory=dict)
    failures: dict = field(default_factory=dict)
    durations: dict = field(default_factory=dict)
    fatal: Exception | None = None  # a damaged snapshot: the whole run stops with one line


def probes_needed(finding_ids: list[str]) -> set[str]:
    """The probes (with what they need) that the given findings read."""
    specs = load_all()
    needed: set[str] = set()
    for fid in finding_ids:
        spec = catalogue.get(fid)
        if spec:
            needed.update(spec.needs)
    stack = list(needed)
    while stack:
        name = stack.pop()
        for dep in specs[name].needs if name in specs else ():
            if dep not in needed:
                needed.add(dep)
                stack.append(dep)
    return needed


def _emit(progress, event) -> None:
    """Hand an event to the caller's progress display; a display that fails must not stop the check."""
    if progress is not None:
        with contextlib.suppress(Exception):  # the display is the caller's; the diagnosis goes on without it
            progress(event)


def run_probes(host, options: ProbeOptions, names: set[str], deadline: float | None = None, progress=None,
               on_done=None) -> ProbeRun:
    """Run the named probes; each starts as soon as the probes it needs are done. Never hangs past a deadline.

    `progress` receives ProbeStarted/ProbeStep/ProbeDone events; `on_done(run)` is called (from this thread, with
    the run's lock held, so that the facts stand still) after each probe ends or is given up on."""
    specs = load_all()
    run = ProbeRun()
    if options.no_tf:
        names = names - {"tensorflow"}
        run.failures["tensorflow"] = ProbeFailure("tensorflow", "skipped", "the TensorFlow probe was not run (--no-tf)")
    pending = {n for n in names if n in specs}
    started: dict[str, float] = {}
    lock = threading.Condition()

    def work(spec):
        t0 = time.monotonic()

        def step(text: str) -> None:
            _emit(progress, events.ProbeStep(spec.name, spec.title, text))

        ctx = ProbeContext(options, {n: run.facts.get(n) for n in spec.needs}, step if progress else None)
        try:
            # every command and child the probe starts ends by the probe's deadline (tfdoctor.proc.run_bounded)
            with proc.deadline(started[spec.name] + limit_of(spec.name)):
                result, failure = spec.func(host, ctx), None
        except SnapshotError as exc:
            result, failure = None, ProbeFailure(spec.name, "exception", str(exc))
            run.fatal = exc
        except proc.DeadlineExceeded:
            result, failure = None, ProbeFailure(
                spec.name, "timeout", f"the {spec.name} probe did not finish within {max(0.0, limit_of(spec.name)):.0f} s")
        except Exception as exc:
            result = None
            failure = ProbeFailure(spec.name, "exception", f"{type(exc).__name__}: {exc}", traceback.format_exc())
        with lock:
            if spec.name not in run.durations:  # not already given up on as timed out
                if failure is None:
                    run.facts[spec.name] = result
                else:
                    run.failures[spec.name] = failure
                run.durations[spec.name] = time.monotonic() - t0
            lock.notify_all()

    def limit_of(name: str) -> float:
        limit = options.tf_timeout + 15 if name == "tensorflow" else specs[name].timeout
        if deadline is not None:
            limit = min(limit, deadline - started[name])
        return limit

    told: set[str] = set()

    def tell() -> None:  # called with the lock held
        finished = [n for n in run.durations if n not in told and n in pending]
        for name in finished:
            told.add(name)
            failure = run.failures.get(name)
            _emit(progress, events.ProbeDone(name, specs[name].title, run.durations[name],
                                             failure.message if failure else None))
        if finished and on_done is not None:
            with contextlib.suppress(Exception):  # a preview for the display: it must not stop the check
                on_done(run)

    with lock:
        while pending - set(run.durations):
            now = time.monotonic()
            # The TensorFlow probe is the slowest: start it first so the others run while it imports.
            for name in sorted(pending - set(started), key=lambda n: n != "tensorflow"):
                if all(d not in pending or d in run.durations for d in specs[name].needs):
                    started[name] = now
                    _emit(progress, events.ProbeStarted(name, specs[name].title))
                    threading.Thread(target=work, args=(specs[name],), name=f"probe-{name}", daemon=True).start()
            for name in [n for n in started if n not in run.durations]:
                if now - started[name] > limit_of(name):
                    run.failures[name] = ProbeFailure(
                        name, "timeout", f"the {name} probe did not finish within {max(0.0, limit_of(name)):.0f} s")
                    run.durations[name] = now - started[name]
            tell()
            lock.wait(0.02)
        tell()
    if run.fatal is not None:
        raise run.fatal
    return run


def selected_checks(options: CheckOptions) -> list:
    """The catalogue entries that --only/--skip (ids, areas or id prefixes) leave, in catalogue order. Raises
    catalogue.UnknownName for a name that is none of them."""
    chosen = set(catalogue.select(options.only, options.skip))
    return [spec for spec in catalogue.entries() if spec.id in chosen]


def checks_to_run(options: CheckOptions) -> list:
    """The selected checks and every check upstream of them: what the diagnosis needs to name the same root cause as
    the full check."""
    ids = set(catalogue.upstream_closure(spec.id for spec in selected_checks(options)))
    return [spec for spec in catalogue.entries() if spec.id in ids]


# With --require-gpu, a GPU, driver or NVML finding that could not be checked is a failure: a hung `nvidia-smi` or
# NVML call ends as a timed-out probe, and a scheduler's health check must not pass a node whose GPU it could not
# confirm. Errors elsewhere (CPU, system) stay errors, so a crash in tfdoctor itself cannot drain a healthy node.
GPU_AREAS = ("gpu", "driver", "nvml", "cuda")


def _error(spec, options: CheckOptions, summary: str, details: tuple[str, ...]) -> Finding:
    if options.require_gpu and spec.area in GPU_AREAS:
        # the reason belongs on the one line a scheduler shows
        return Finding(spec.id, Status.FAIL, f"{summary} ({details[0].splitlines()[0]})", details)
    return Finding(spec.id, Status.ERROR, summary, details)


def host_is_complete(host) -> bool:
    """Is absence evidence on this host? Not in a snapshot built by hand from a paste (DESIGN: unknown is a value)."""
    manifest = getattr(host, "manifest", None)
    return not (isinstance(manifest, dict) and manifest.get("source") == "hand-built")


def _with_evidence(finding: Finding, spec, machine) -> Finding:
    return finding.or_evidence(machine.area_evidence(spec.area))


def _with_refused(finding: Finding, refused) -> Finding:
    """A finding whose check refused machine text for its commands says so, and is at least a warning: a tool that
    prints a shell command where a package name belongs is worth a look."""
    status = Status.WARN if finding.status in (Status.OK, Status.INFO) else finding.status
    return finding.with_(status=status, details=finding.details + safe.details_for(refused))


def run_checks(run: ProbeRun, options: CheckOptions, complete: bool = True, specs=None,
               replay: bool = False) -> list[Finding]:
    """The given checks (default: the selected ones and those upstream of them), in catalogue order, each isolated
    from the others' crashes."""
    from tfdoctor.machine import build_machine

    machine = build_machine(run.facts, complete)
    facts = Facts(run.facts, require_gpu=options.require_gpu, machine=machine, invocation=options.invocation,
                  replay=replay)
    findings: list[Finding] = []
    for spec in checks_to_run(options) if specs is None else specs:
        failed = [run.failures[n] for n in spec.needs if n in run.failures]
        if failed:
            f = failed[0]
            if f.kind == "skipped":
                findings.append(Finding(spec.id, Status.SKIP, f.message))
            else:
                findings.append(_error(spec, options, f"{spec.title}: could not be checked",
                                       (f.message,) + ((f.traceback,) if options.debug and f.traceback else ())))
            continue
        try:
            with safe.collecting() as refused:  # machine text a check refused to put in a command (tfdoctor/safe.py)
                finding = spec.func(facts)
            if finding.id != spec.id:
                finding = finding.with_(id=spec.id)
            if refused:
                finding = _with_refused(finding, refused)
            finding = _with_evidence(finding, spec, machine)
        except Exception as exc:
            details = (f"{type(exc).__name__}: {exc}",)
            if options.debug:
                details += (traceback.format_exc(),)
            finding = _error(spec, options, f"{spec.title}: the check crashed", details)
        findings.append(finding)
    return findings


def diagnose_all(findings: list[Finding]) -> list[Finding]:
    upstream = {spec.id: spec.after for spec in catalogue.entries()}
    return diagnose(findings, upstream)


def selection_view(findings: list[Finding], shown: set[str]) -> list[Finding]:
    """What a selection shows: the selected findings, plus the upstream finding that a selected one was caused by
    (it is the root cause of what the user asked about, and its fix is the one to run). The root cause is the first
    of the selection's failures, in report order, that nothing upstream explains, as the full check names it."""
    if shown >= {f.id for f in findings}:
        return findings
    chosen = [f for f in findings if f.id in shown]
    causes = {f.caused_by for f in chosen if f.caused_by}
    heads = causes | {f.id for f in chosen if f.status == Status.FAIL and not f.caused_by}
    root = next((f.id for f in findings if f.id in heads), None)
    return [f.with_(root_cause=f.id == root) for f in findings if f.id in shown or f.id in causes]


def _probes_for(specs, host) -> set[str]:
    """The probes a set of checks needs. Every quick probe runs whatever the selection (the machine model merges
    them all, and together they take a fraction of a second); the TensorFlow child only when a check to run reads it,
    or on a replay, where it is a file."""
    names = set(load_all()) - {"tensorflow"}
    if "tensorflow" in probes_needed([s.id for s in specs]) or getattr(host, "manifest", None) is not None:
        names.add("tensorflow")
    return names


class _AreaProgress:
    """Tells the progress display each area's findings as soon as the probes its checks (and theirs upstream) read
    are done. A preview: the report's findings are computed once more at the end, from every fact."""

    def __init__(self, progress, specs, shown: set[str], options: CheckOptions, complete: bool, probes: set[str],
                 replay: bool):
        self.progress, self.options, self.complete, self.replay = progress, options, complete, replay
        self.pending: list[tuple[str, list, set[str]]] = []
        for area in dict.fromkeys(s.area for s in specs if s.id in shown):
            mine = [s.id for s in specs if s.area == area and s.id in shown]
            closure = [s for s in specs if s.id in set(catalogue.upstream_closure(mine))]
            self.pending.append((area, closure, probes_needed([s.id for s in closure]) & probes))

    def __call__(self, run: ProbeRun) -> None:
        ended = set(run.durations) | set(run.failures)
        # in report order, like flutter doctor: an area waits for the areas above it
        while self.pending and self.pending[0][2] <= ended:
            area, closure, _ = self.pending.pop(0)
            findings = diagnose_all(run_checks(run, self.options, self.complete, closure, self.replay))
            _emit(self.progress, events.AreaDone(area, catalogue.area_title(area),
                                                 [f for f in findings if catalogue.get(f.id).area == area]))


def _needs_root(facts: dict, options: CheckOptions) -> list[str]:
    from tfdoctor.checks.commands import tfdoctor_command

    driver = facts.get("driver")
    err = (getattr(driver, "kernel_log_error", None) or "").lower()
    out = []
    if err and any(w in err for w in ("permission", "not permitted", "insufficient")):
        how = SimpleNamespace(invocation=options.invocation, env=facts.get("env"))  # all tfdoctor_command reads
        again = tfdoctor_command(how, "check", sudo=True)
        out.append(f"the kernel log ({getattr(driver, 'kernel_log_error', '')}): run `{again}` to include it")
    return out


def check_host(host, probe_options: ProbeOptions, check_options: CheckOptions,
               deadline: float | None = None, progress=None) -> Report:
    """The whole of `tfdoctor check` short of printing: probes, checks, diagnosis. `progress`: see the module."""
    t0 = time.monotonic()
    shown = {spec.id for spec in selected_checks(check_options)}
    specs = checks_to_run(check_options)
    complete = host_is_complete(host)
    replay = getattr(host, "manifest", None) is not None
    probes = _probes_for(specs, host)  # the evidence layer (`sources`) is among them: it always runs
    on_done = _AreaProgress(progress, specs, shown, check_options, complete, probes, replay) if progress else None
    run = run_probes(host, probe_options, probes, deadline, progress, on_done)
    findings = selection_view(diagnose_all(run_checks(run, check_options, complete, specs, replay)), shown)
    meta = {
        "host": host.name,
        "duration_s": round(time.monotonic() - t0, 3),
        "probe_durations_s": {k: round(v, 3) for k, v in sorted(run.durations.items())},
        "probe_failures": {k: {"kind": v.kind, "message": v.message} for k, v in run.failures.items()},
        # Tools that were not installed (their facts are missing, never a failure by themselves), and what could
        # not be read without root.
        "tools_not_found": sorted(t for t in set(getattr(host, "missing_tools", ())) - set(getattr(host, "found_tools", ()))
                                  if not t.startswith("python")),
        "needs_root": _needs_root(run.facts, check_options),
    }
    if check_options.only or check_options.skip:
        meta["selection"] = {"only": list(check_options.only), "skip": list(check_options.skip),
                             "shown": sorted(shown), "ran": [s.id for s in specs]}
    return Report(findings=findings, facts=run.facts, meta=meta)
