"""Run the probes (concurrently, each with a deadline), then the checks, then the diagnosis.

A probe that raises or overruns becomes an error record; every check that needed it becomes an `error` finding
with the text, and the rest of the report still prints.
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field

from tfdoctor import catalogue, proc, safe
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


def run_probes(host, options: ProbeOptions, names: set[str], deadline: float | None = None) -> ProbeRun:
    """Run the named probes; each starts as soon as the probes it needs are done. Never hangs past a deadline."""
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
        ctx = ProbeContext(options, {n: run.facts.get(n) for n in spec.needs})
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

    with lock:
        while pending - set(run.durations):
            now = time.monotonic()
            # The TensorFlow probe is the slowest: start it first so the others run while it imports.
            for name in sorted(pending - set(started), key=lambda n: n != "tensorflow"):
                if all(d not in pending or d in run.durations for d in specs[name].needs):
                    started[name] = now
                    threading.Thread(target=work, args=(specs[name],), name=f"probe-{name}", daemon=True).start()
            for name in [n for n in started if n not in run.durations]:
                if now - started[name] > limit_of(name):
                    run.failures[name] = ProbeFailure(
                        name, "timeout", f"the {name} probe did not finish within {max(0.0, limit_of(name)):.0f} s")
                    run.durations[name] = now - started[name]
            lock.wait(0.02)
    if run.fatal is not None:
        raise run.fatal
    return run


def selected_checks(options: CheckOptions) -> list:
    """The catalogue entries that --only/--skip (ids or areas) leave, in catalogue order."""
    def named(spec, names):
        return spec.id in names or spec.area in names

    return [spec for spec in catalogue.entries()
            if (not options.only or named(spec, options.only)) and not named(spec, options.skip)]


# With --require-gpu, a GPU, driver or NVML finding that could not be checked is a failure: a hung `nvidia-smi` or
# NVML call ends as a timed-out probe, and a scheduler's health check must not pass a node whose GPU it could not
# confirm. Errors elsewhere (CPU, system) stay errors, so a crash in tfdoctor itself cannot drain a healthy node.
GPU_AREAS = ("gpu", "driver", "nvml")


def _error(spec, options: CheckOptions, summary: str, details: tuple[str, ...]) -> Finding:
    if options.require_gpu and spec.area in GPU_AREAS:
        # the reason belongs on the one line a scheduler shows
        return Finding(spec.id, Status.FAIL, f"{summary} ({details[0].splitlines()[0]})", details)
    return Finding(spec.id, Status.ERROR, summary, details)


# The beliefs a finding of each area rests on, when its check named no evidence of its own.
_AREA_QUESTIONS = {
    "gpu": ("gpu.present", "gpu.lost"),
    "driver": ("driver.loaded", "driver.installed", "driver.module_for_kernel", "driver.nouveau_holds",
               "driver.module_rejected", "secure_boot.enabled", "driver.library_mismatch"),
    "nvml": ("driver.loaded", "driver.library_mismatch", "gpu.lost"),
    "tensorflow": ("tf.sees_gpu", "tf.libraries_missing", "tf.import_crashed"),
    "compat": ("tf.sees_gpu", "gpu.present"),
    "system": ("container", "wsl", "container.toolkit"),
    "cpu": ("cpu.tf_instructions_missing",),
}


def host_is_complete(host) -> bool:
    """Is absence evidence on this host? Not in a snapshot built by hand from a paste (DESIGN: unknown is a value)."""
    manifest = getattr(host, "manifest", None)
    return not (isinstance(manifest, dict) and manifest.get("source") == "hand-built")


def _with_evidence(finding: Finding, spec, machine) -> Finding:
    if finding.evidence or finding.status not in (Status.WARN, Status.FAIL):
        return finding
    return finding.with_(evidence=machine.evidence(*_AREA_QUESTIONS.get(spec.area, ())))


def _with_refused(finding: Finding, refused) -> Finding:
    """A finding whose check refused machine text for its commands says so, and is at least a warning: a tool that
    prints a shell command where a package name belongs is worth a look."""
    status = Status.WARN if finding.status in (Status.OK, Status.INFO) else finding.status
    return finding.with_(status=status, details=finding.details + safe.details_for(refused))


def run_checks(run: ProbeRun, options: CheckOptions, complete: bool = True) -> list[Finding]:
    """Every selected check, in catalogue order, each isolated from the others' crashes."""
    from tfdoctor.machine import build_machine

    machine = build_machine(run.facts, complete)
    facts = Facts(run.facts, require_gpu=options.require_gpu, machine=machine)
    findings: list[Finding] = []
    for spec in selected_checks(options):
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


def _needs_root(facts: dict) -> list[str]:
    driver = facts.get("driver")
    err = (getattr(driver, "kernel_log_error", None) or "").lower()
    out = []
    if err and any(w in err for w in ("permission", "not permitted", "insufficient")):
        out.append(f"the kernel log ({getattr(driver, 'kernel_log_error', '')}): run `sudo tfdoctor check` to include it")
    return out


def check_host(host, probe_options: ProbeOptions, check_options: CheckOptions,
               deadline: float | None = None) -> Report:
    """The whole of `tfdoctor check` short of printing: probes, checks, diagnosis."""
    t0 = time.monotonic()
    selected = [spec.id for spec in selected_checks(check_options)]
    # the evidence layer reads what every other probe's tools printed; it always runs
    run = run_probes(host, probe_options, probes_needed(selected) | {"sources"}, deadline)
    findings = diagnose_all(run_checks(run, check_options, host_is_complete(host)))
    meta = {
        "host": host.name,
        "duration_s": round(time.monotonic() - t0, 3),
        "probe_durations_s": {k: round(v, 3) for k, v in sorted(run.durations.items())},
        "probe_failures": {k: {"kind": v.kind, "message": v.message} for k, v in run.failures.items()},
        # Tools that were not installed (their facts are missing, never a failure by themselves), and what could
        # not be read without root.
        "tools_not_found": sorted(t for t in set(getattr(host, "missing_tools", ())) - set(getattr(host, "found_tools", ()))
                                  if not t.startswith("python")),
        "needs_root": _needs_root(run.facts),
    }
    return Report(findings=findings, facts=run.facts, meta=meta)
