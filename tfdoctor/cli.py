"""Command line: parse options, pick a Host, call one function, pick a reporter. Nothing else.

Start-up is kept light: TensorFlow is never imported here, and reporters import rich only when they print.
"""

from __future__ import annotations

import contextlib
import enum
import os
import sys
from pathlib import Path

import typer

from tfdoctor import __version__

app = typer.Typer(
    name="tfdoctor",
    help="A doctor for TensorFlow on Linux machines with NVIDIA GPUs: finds the one root cause and prints the fix.",
    no_args_is_help=True,
    add_completion=False,  # `tfdoctor completion SHELL` instead: no extra options on every command
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
REPORT_MARGIN_S = 0.5  # of --timeout, kept for writing the report after the probes' deadline


class OutputFormat(str, enum.Enum):
    console = "console"
    json = "json"
    markdown = "markdown"
    junit = "junit"
    prometheus = "prometheus"


class HostnameMode(str, enum.Enum):
    keep = "keep"
    redact = "redact"


# The formats a fleet reads (a CI server's test view, Prometheus, a scheduler's health check): they keep the node
# name unless --hostname redact. Reports meant to be pasted (console, JSON, Markdown) and snapshots redact it unless
# --hostname keep.
FLEET_FORMATS = ("junit", "prometheus", "quiet")


def _die(message: str, code: int = EXIT_USAGE):
    from tfdoctor.report.sanitize import clean

    print(f"tfdoctor: {clean(message, newlines=False)}", file=sys.stderr)
    raise typer.Exit(code)


def check_seconds(value: float | None, flag: str, die=None) -> float | None:
    """A time limit given on the command line: a finite number of seconds above 0 (None: not given). Anything else
    (nan, inf, 0, -5) is a usage error: inf would switch the watchdog off, and a negative limit is no limit."""
    import math

    if value is None or (math.isfinite(value) and value > 0):
        return value
    (die or _die)(f"{flag} must be a number of seconds above 0, not {value}")
    return None


class Interrupted(BaseException):
    """SIGINT or SIGTERM: unwinds the command (so that fix-nouveau can roll back) after every child was killed."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


_said_interrupted = []


def _interrupted_exit(code: int) -> None:
    """Clean up and say so, once (the main thread and the backstop timer may both get here)."""
    from tfdoctor import proc
    from tfdoctor.report.progress import restore_terminal

    restore_terminal()  # a progress display hid the cursor
    proc.cleanup()
    if not _said_interrupted:
        _said_interrupted.append(code)
        print("tfdoctor: interrupted", file=sys.stderr)
        sys.stderr.flush()


def _on_signal(signum, frame):
    """Ctrl-C or SIGTERM: kill every child group at once, then unwind; if unwinding does not end the process within
    a moment (something blocked), clean up and exit from a timer instead."""
    import signal
    import threading
    import time

    from tfdoctor import proc

    if proc.defer_signal(signum):  # inside a write and its rollback (fix-nouveau): delivered again right after it
        proc.kill_children(wait_s=0.3)
        return
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut a rollback short
    proc.kill_children(wait_s=0.3)
    code = 128 + signum

    def backstop():
        end = time.monotonic() + 60
        # a rollback in progress finishes first, and the command then has a moment to report it and exit
        while proc.in_critical(grace_s=0.6) and time.monotonic() < end:
            time.sleep(0.05)
        _interrupted_exit(code)
        os._exit(code)  # after the cleanup: children killed, temporary files removed

    timer = threading.Timer(0.6, backstop)
    timer.daemon = True
    timer.start()
    raise Interrupted(signum)


def _install_signal_handlers() -> dict:
    """Interrupts end every child and temporary file (the CLI's process only); returns what to restore."""
    import atexit
    import signal

    from tfdoctor import proc

    proc.own_descendants()
    atexit.register(proc.cleanup)  # at the very end of the process: also a child a probe thread started meanwhile
    return {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}


def _restore_signal_handlers(previous: dict) -> None:
    """`main` called in-process (tests, a wrapper) gives the caller back its handlers and its own children."""
    import signal

    from tfdoctor import proc

    for sig, handler in previous.items():
        signal.signal(sig, handler)
    proc.own_descendants(False)


def _version_callback(value: bool):
    if value:
        print(f"tfdoctor {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                 help="Print the version and exit."),
):
    """tfdoctor: check, bench, fix-nouveau, snapshot, triage, explain."""


def _write_atomic(path: str, text: str) -> None:
    """Write a report file (atomically); a failure ends the run with one plain line and exit 2."""
    from tfdoctor.proc import write_atomic

    try:
        if os.path.isdir(path):
            raise IsADirectoryError(21, "Is a directory", path)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text.encode("utf-8", errors="replace"))
    except OSError as exc:
        _die(f"cannot write {path}: {exc.strerror or exc}")


def _start_watchdog(seconds: float):
    """Whatever hangs (a driver call stuck in the kernel), the run ends after `seconds` plus a grace second.

    Returns the timer: the command cancels it when it ends, so that a process that goes on after the command (the
    Python API, a test runner invoking the CLI in-process) is never ended by a timer left over from it.
    """
    import threading

    def fire():
        from tfdoctor.report.progress import restore_terminal

        restore_terminal()  # a progress display hid the cursor; os._exit runs no cleanup

        from tfdoctor import proc

        print(f"tfdoctor: the check did not finish within {seconds:.0f} s (--timeout); "
              "a driver call may be hung", file=sys.stderr)
        sys.stderr.flush()
        # The main thread is stuck (a call that never returns): kill every child group and remove the temporary
        # files here, then end the process. os._exit only after that cleanup, never instead of it.
        proc.cleanup()
        sys.stdout.flush()
        os._exit(EXIT_FAIL)

    # "within --timeout plus a second" counts from the start of the process, not of this command
    timer = threading.Timer(max(seconds / 2, seconds + 1.0 - _process_age_s() - 0.1), fire)
    timer.daemon = True
    timer.start()
    return timer


def _process_age_s() -> float:
    """How long this process has run (Python's start-up and imports included); 0 when /proc cannot say."""
    try:
        with open("/proc/self/stat", "rb") as fh:
            stat_line = fh.read(1024)
        with open("/proc/uptime", "rb") as fh:
            uptime = float(fh.read(64).split()[0])
        start_ticks = int(stat_line[stat_line.rfind(b")") + 2:].split()[19])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def list_checks(as_json: bool = False) -> None:
    """Every finding id with its title, then the areas with the id prefixes that --only/--skip also take."""
    from tfdoctor import catalogue
    from tfdoctor.checks import AREAS

    areas = [{"area": a, "title": catalogue.area_title(a), "aliases": list(catalogue.area_aliases(a)),
              "prefixes": list(catalogue.area_prefixes(a)), "ids": list(catalogue.area_ids(a))} for a in AREAS]
    if as_json:
        import json

        rows = [{"id": s.id, "area": s.area, "title": s.title, "needs": list(s.needs), "after": list(s.after)}
                for s in catalogue.entries()]
        print(json.dumps({"checks": rows, "areas": areas}, indent=2))
        return
    for spec in catalogue.entries():
        print(f"{spec.id:28} {spec.title}")
    print()
    print("Areas (--only and --skip take an area, an id prefix such as tf or pci, or a finding id):")
    for a in areas:
        names = ", ".join([a["area"], *a["aliases"]])
        print(f"  {names:18} {a['title']:24} {', '.join(p + '.*' for p in a['prefixes'])}  "
              f"({len(a['ids'])} check{'s' if len(a['ids']) != 1 else ''})")


def _check_selection(only: list[str], skip: list[str]) -> None:
    """Every --only/--skip name is a finding id, an area or an id prefix; else one line with the close matches."""
    from tfdoctor import catalogue

    for name in [*only, *skip]:
        try:
            catalogue.resolve(name)
        except catalogue.UnknownName as exc:
            _die(str(exc))


@app.command()
def check(
    json_out: bool = typer.Option(False, "--json", help="Print the JSON report (schema_version 1) on stdout."),
    markdown: bool = typer.Option(False, "--markdown", help="Print a Markdown report to paste into a bug report."),
    fmt: OutputFormat | None = typer.Option(None, "--format", help="Report format on stdout."),
    junit: str | None = typer.Option(None, "--junit", metavar="FILE", help="Also write a JUnit XML report to FILE."),
    prometheus: str | None = typer.Option(None, "--prometheus", metavar="FILE",
                                          help="Also write Prometheus text metrics to FILE (atomically)."),
    output: str | None = typer.Option(None, "-o", "--output", metavar="FILE",
                                      help="Write the report to FILE instead of stdout."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Show every detail line."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Print nothing on success and one line per failure "
                               "(with --json/--markdown/--format, only together with -o FILE)."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 on warnings too."),
    require_gpu: bool = typer.Option(False, "--require-gpu", help="No usable NVIDIA GPU is a failure."),
    only: list[str] = typer.Option([], "--only", metavar="ID", help="Show only these finding ids, areas or id "
                                   "prefixes (tf, pci...); the checks they depend on still run, so the verdict "
                                   "and root cause stay those of the full check."),
    skip: list[str] = typer.Option([], "--skip", metavar="ID", help="Do not show these finding ids, areas or id "
                                   "prefixes."),
    list_: bool = typer.Option(False, "--list-checks", help="List every finding id and the areas, and exit."),
    from_: str | None = typer.Option(None, "--from", metavar="PATH",
                                     help="Replay a snapshot (directory or .tar.gz) instead of this machine."),
    no_tf: bool = typer.Option(False, "--no-tf", help="Do not run the TensorFlow probe (fast)."),
    python: str | None = typer.Option(None, "--python", metavar="PATH",
                                      help="Probe TensorFlow in this interpreter (e.g. a project's .venv/bin/python)."),
    tf_timeout: float = typer.Option(90.0, "--tf-timeout", metavar="SECONDS", help="Time limit for the TensorFlow probe."),
    timeout: float | None = typer.Option(None, "--timeout", metavar="SECONDS",
                                         help="Time limit for the whole check (default 60; with the TensorFlow "
                                              "probe, at least --tf-timeout + 15)."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of crashed probes and checks."),
    hostname: HostnameMode | None = typer.Option(
        None, "--hostname", help="keep or redact this node's name. Default: JUnit, Prometheus and --quiet keep it, "
        "console, JSON and Markdown redact it."),
):
    """Diagnose this machine (or a snapshot): PCI, driver, NVML, CPU, TensorFlow. Exit 0 ok, 1 fail, 2 usage."""
    if list_:
        with _reader_may_leave():
            list_checks(as_json=json_out or fmt == OutputFormat.json)
        raise typer.Exit(EXIT_OK)
    chosen = [f for f, on in ((OutputFormat.json, json_out), (OutputFormat.markdown, markdown)) if on]
    if fmt is not None:
        chosen.append(fmt)
    if len(set(chosen)) > 1:
        _die("choose one output format (--json, --markdown or --format)")
    out_format = chosen[0] if chosen else OutputFormat.console
    if quiet and out_format != OutputFormat.console and not output:
        # Both on stdout would mix the quiet lines into the report: honour both only when the report goes to a file.
        _die(f"--quiet prints one line per failure on stdout; to also write the {out_format.value} report, "
             f"add -o FILE")

    check_seconds(timeout, "--timeout")
    check_seconds(tf_timeout, "--tf-timeout")
    _check_selection(only, skip)
    if from_ and python:
        _die("--python picks an interpreter on this machine, but --from replays a snapshot's record: use one or the "
             "other")

    deadline_s = timeout if timeout is not None else (60.0 if (no_tf or from_ or quiet) else max(60.0, tf_timeout + 15))
    if not no_tf:
        # the TensorFlow child must end (and be killed with its process group) before the whole check's deadline
        tf_timeout = min(tf_timeout, max(1.0, deadline_s - 5))
    watchdog = _start_watchdog(deadline_s)
    try:
        show_progress = out_format == OutputFormat.console and not quiet and not output
        # the probes end a moment before --timeout, so that the report is written within it (whatever overran)
        raw = _with_progress(show_progress, "Replaying the snapshot" if from_ else "Checking this machine",
                             lambda progress: _raw_check(
                                 from_=from_, no_tf=no_tf, python=python, tf_timeout=tf_timeout,
                                 deadline_s=deadline_s - min(REPORT_MARGIN_S, deadline_s / 10),
                                 require_gpu=require_gpu, only=tuple(only), skip=tuple(skip), debug=debug,
                                 progress=progress))
        from tfdoctor.api import redacted

        # Two views of one run: `report` for what is pasted (redacts the node name unless --hostname keep), `fleet` for
        # what a fleet reads (keeps it unless --hostname redact).
        report = redacted(raw, snapshot=from_, hostname="keep" if hostname == HostnameMode.keep else "redact")
        fleet = redacted(raw, snapshot=from_, hostname="redact" if hostname == HostnameMode.redact else "keep")
        code = report.exit_code(strict)

        if junit:
            from tfdoctor.report import junit as junit_report

            _write_atomic(junit, junit_report.render(fleet))
        if prometheus:
            from tfdoctor.report import prometheus as prom_report

            _write_atomic(prometheus, prom_report.render(fleet))
        from tfdoctor.report import github

        if github.active():
            github.emit(report, sys.stderr)

        with _reader_may_leave():
            _print_report(report, fleet, out_format, output=output, quiet=quiet, verbose=verbose, strict=strict)
        raise typer.Exit(code)
    finally:
        watchdog.cancel()


def _emit(output: str | None, text: str | None, render_console) -> None:
    """Write a report to -o FILE (atomically) or stdout: `text`, or what `render_console(file=..., width=...)`
    prints (rich's console report; 100 columns in a file)."""
    if text is None and output:
        import io

        buf = io.StringIO()
        render_console(file=buf, width=100)
        text = buf.getvalue()
    if text is None:
        render_console()
    elif output:
        _write_atomic(output, text)
    else:
        sys.stdout.write(text)


def _print_report(report, fleet, out_format: OutputFormat, *, output, quiet: bool, verbose: bool,
                  strict: bool) -> None:
    """Write the chosen report to stdout or -o FILE (and, with --quiet, the one-line-per-failure view)."""
    text: str | None = None
    to_stdout = not output
    if out_format == OutputFormat.json:
        from tfdoctor.report import json as json_report

        text = json_report.render(report, strict)
    elif out_format == OutputFormat.markdown:
        from tfdoctor.report import markdown as md_report
        from tfdoctor.report.console import _utf8

        text = md_report.render(report, ascii_only=to_stdout and not _utf8(sys.stdout))
    elif out_format == OutputFormat.junit:
        from tfdoctor.report import junit as junit_report

        text = junit_report.render(fleet)
    elif out_format == OutputFormat.prometheus:
        from tfdoctor.report import prometheus as prom_report

        text = prom_report.render(fleet)
    from tfdoctor.report import console

    if quiet:
        if output:  # the report goes to the file, the one-line-per-failure view to the terminal
            _emit(output, text, lambda **kw: console.render(report, verbose=verbose, **kw))
        console.render_quiet(fleet, strict)
    else:
        _emit(output, text, lambda **kw: console.render(report, verbose=verbose, **kw))
    if to_stdout:
        sys.stdout.flush()  # a reader that went away shows here, inside the caller's guard


@contextlib.contextmanager
def _reader_may_leave():
    """Around what a command prints on stdout: if the reader exits early (`| head`), stop quietly (see below)."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        _reader_went_away()


def _reader_went_away() -> None:
    """The program reading stdout exited (`tfdoctor check | head -1`). Like deno and ripgrep, not an error: stdout
    goes to /dev/null so that nothing more is written (and Python's final flush is quiet), and the command ends with
    its own exit status: check's verdict does not depend on how much of the report was read."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def open_host(from_: str | None, deadline_s: float | None = None):
    """The Host for a run: a snapshot replay, or this machine. Snapshot errors end the run with one line."""
    import time

    from tfdoctor.host import LiveHost, SnapshotError, open_snapshot

    if not from_:
        return LiveHost()
    try:
        return open_snapshot(from_, time.monotonic() + deadline_s if deadline_s else None)
    except SnapshotError as exc:
        _die(str(exc))


def _with_progress(show: bool, title: str, func):
    """`func(progress)`, with a live display on the terminal as `progress` when `show` and stdout is a terminal,
    else with None (piped output, machine formats and --quiet get nothing extra)."""
    from tfdoctor.report import progress as live

    if not (show and live.wanted(sys.stdout)):
        return func(None)
    return live.run_with_progress(func, title=title)


def _raw_check(*, from_=None, no_tf=False, python=None, tf_timeout=90.0, deadline_s=None, require_gpu=False,
               only=(), skip=(), debug=False, host=None, progress=None):
    """The whole check, not yet redacted; a damaged snapshot ends the run with one line."""
    from tfdoctor.api import raw_check
    from tfdoctor.host import SnapshotError
    from tfdoctor.invocation import current

    host = host or open_host(from_, deadline_s)
    try:
        return raw_check(host, snapshot=from_, no_tf=no_tf, python=python, tf_timeout=tf_timeout,
                         deadline_s=deadline_s, require_gpu=require_gpu, only=only, skip=skip, debug=debug,
                         progress=progress, invocation=None if from_ else current())
    except SnapshotError as exc:
        _die(str(exc))


def run_check(*, from_=None, no_tf=False, python=None, tf_timeout=90.0, deadline_s=None, require_gpu=False,
              only=(), skip=(), debug=False, host=None, hostname="redact"):
    """Run the whole check and return the redacted Report (used by the CLI and by `bench` and tests)."""
    from tfdoctor.api import redacted

    raw = _raw_check(from_=from_, no_tf=no_tf, python=python, tf_timeout=tf_timeout, deadline_s=deadline_s,
                     require_gpu=require_gpu, only=only, skip=skip, debug=debug, host=host)
    return redacted(raw, snapshot=from_, hostname=hostname)


@app.command()
def snapshot(
    output: str = typer.Option(..., "-o", "--output", metavar="PATH",
                               help="Where to write the snapshot: a new directory, or a name ending in .tar.gz."),
    no_tf: bool = typer.Option(False, "--no-tf", help="Do not run the TensorFlow probe."),
    python: str | None = typer.Option(None, "--python", metavar="PATH", help="Interpreter for the TensorFlow probe."),
    tf_timeout: float = typer.Option(90.0, "--tf-timeout", metavar="SECONDS"),
    force: bool = typer.Option(False, "--force", help="Replace an existing .tar.gz (a directory is never replaced)."),
):
    """Record everything the probes read on this machine (redacted), to replay with check --from."""
    check_seconds(tf_timeout, "--tf-timeout")
    from tfdoctor.engine import CheckOptions, check_host
    from tfdoctor.host import RecordingHost, SnapshotError, check_snapshot_dest
    from tfdoctor.probes import ProbeOptions
    from tfdoctor.redact import live_redactor

    try:
        check_snapshot_dest(output, force)  # before a minute of probing, not after
    except SnapshotError as exc:
        _die(str(exc))
    existed = os.path.lexists(output)
    host = RecordingHost()
    watchdog = _start_watchdog(60.0 if no_tf else max(60.0, tf_timeout + 15))
    try:
        report = _with_progress(True, "Recording this machine", lambda progress: check_host(
            host, ProbeOptions(no_tf=no_tf, python=python, tf_timeout=tf_timeout), CheckOptions(), None, progress))
        try:
            path = host.write_snapshot(output, live_redactor(), force=force)
        except SnapshotError as exc:
            _die(str(exc))
        except OSError as exc:
            _die(f"cannot write {output}: {exc.strerror or exc}")
        counts = report.counts()
        verb = "Replaced" if existed and force and not os.path.isdir(path) else "Wrote"
        print(f"{verb} snapshot {path} ({counts['fail']} failed, {counts['warn']} warnings when recorded). "
              f"Replay it with: tfdoctor check --from {path}")
    finally:
        watchdog.cancel()


@app.command()
def triage(
    file: str = typer.Argument("-", metavar="[FILE|-]", help="The paste: a text file, or - (the default) for "
                                                             "standard input."),
    json_out: bool = typer.Option(False, "--json", help="Print the JSON report (check's schema, plus `triage`)."),
    reply: bool = typer.Option(False, "--reply", help="Print a short Markdown answer to post in the thread."),
    save_snapshot: str | None = typer.Option(None, "--save-snapshot", metavar="DIR",
                                             help="Keep the snapshot built from the paste in DIR (a new directory; "
                                                  "replay it with check --from DIR)."),
    output: str | None = typer.Option(None, "-o", "--output", metavar="FILE",
                                      help="Write the report to FILE instead of stdout."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Show every detail line."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 on warnings too."),
):
    """Diagnose a pasted bug report (nvidia-smi, lspci, dmesg, a TensorFlow log... with prose between): what it
    shows, the root cause, the fix. Nothing in the paste is run. Exit 0 ok, 1 fail, 2 unreadable input."""
    if json_out and reply:
        _die("choose one output: --json or --reply")
    from tfdoctor.host import SnapshotError
    from tfdoctor.triage import render as triage_render
    from tfdoctor.triage import reply as triage_reply
    from tfdoctor.triage import triage_paste
    from tfdoctor.triage.paste import PasteError, read_paste

    if file == "-" and sys.stdin.isatty():
        print("tfdoctor: reading the paste from standard input (end it with Ctrl-D)", file=sys.stderr)
    watchdog = _start_watchdog(60.0)
    try:
        try:
            result = triage_paste(read_paste(file), save_snapshot)
        except (PasteError, SnapshotError) as exc:
            _die(str(exc))
        text = (triage_render.json_text(result, strict) if json_out else
                triage_reply.render(result) if reply else None)
        _emit(output, text, lambda **kw: triage_render.console(result, verbose=verbose, **kw))
        raise typer.Exit(result.report.exit_code(strict))
    finally:
        watchdog.cancel()


@app.command()
def explain(finding_id: str = typer.Argument(..., metavar="ID", help="A finding id, e.g. driver.nouveau.")):
    """Print the documentation of a finding: what it checks, why it matters, how to fix it."""
    from tfdoctor import catalogue
    from tfdoctor.docs import explain_text

    spec = catalogue.get(finding_id)
    if spec is None:
        close = catalogue.close_names(finding_id, catalogue.ids())
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        _die(f"unknown finding id {finding_id!r}{hint} (see tfdoctor check --list-checks)")
    with _reader_may_leave():
        print(explain_text(spec))


@app.command()
def summarize(
    reports: list[str] = typer.Argument(..., metavar="REPORT.json...",
                                        help="JSON reports from tfdoctor check --json (one per node)."),
    json_out: bool = typer.Option(False, "--json", help="Print the fleet view as JSON."),
):
    """Many nodes' JSON reports in, one fleet view out: nodes grouped by root cause, the fix once per group.
    Exit 0 all passed, 1 a node failed, 2 an unreadable report."""
    from tfdoctor import summarize as fleet

    view = fleet.summarize(reports)
    with _reader_may_leave():
        sys.stdout.write(fleet.render_json(view) if json_out else fleet.render_text(view))
    raise typer.Exit(fleet.exit_code(view))


COMPLETE_VAR = "_TFDOCTOR_COMPLETE"


def _completion_init() -> None:
    """Typer's completion classes (they complete option values such as --hostname's choices); registered only
    when completing, so that start-up stays as it is."""
    from typer._completion_classes import completion_init

    completion_init()


class Shell(str, enum.Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


@app.command()
def completion(shell: Shell = typer.Argument(..., help="bash, zsh or fish.")):
    """Print the shell completion script. bash: `eval "$(tfdoctor completion bash)"` in ~/.bashrc;
    zsh: the same in ~/.zshrc; fish: `tfdoctor completion fish > ~/.config/fish/completions/tfdoctor.fish`."""
    from typer._completion_shared import get_completion_script

    script = get_completion_script(prog_name="tfdoctor", complete_var=COMPLETE_VAR, shell=shell.value)
    with _reader_may_leave():
        sys.stdout.write(script if script.endswith("\n") else script + "\n")


def _register_plugins() -> None:
    from tfdoctor.bench.command import bench
    from tfdoctor.fix.command import fix_nouveau

    app.command("bench")(bench)
    app.command("fix-nouveau")(fix_nouveau)


_register_plugins()


def _safe_streams() -> None:
    """A terminal or pipe that cannot encode Unicode (PYTHONIOENCODING=ascii, LANG=C with an old Python) gets "?" for
    what it cannot show, never a UnicodeEncodeError: the reporters already choose ASCII marks there."""
    for stream in (sys.stdout, sys.stderr):
        enc = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
        if enc not in ("utf8", "utf8sig") and hasattr(stream, "reconfigure"):
            with contextlib.suppress(ValueError, OSError):
                stream.reconfigure(errors="replace")


def _exit_past_overrunning_threads(code, threads_before: set) -> None:
    """The run is over but a probe thread it started is still busy (a tool that flooded its output, a call stuck in the
    driver): the engine gave up on it at its deadline. Letting the interpreter finalise under a thread that is inside
    a C++ extension (RE2) aborts the process ("terminate called without an active exception"), so after the same
    cleanup as every other exit (children killed, temporary files removed, output flushed) the process ends here."""
    import threading

    from tfdoctor import proc

    ours = [t for t in threading.enumerate() if t not in threads_before and t.is_alive() and t.daemon
            and t.name.startswith(("probe-", "tfdoctor-"))]
    if not ours:
        return
    for t in ours:
        t.join(0.05)
    if not any(t.is_alive() for t in ours):
        return
    proc.cleanup()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    status = code if isinstance(code, int) else (0 if code is None else EXIT_USAGE)
    os._exit(status)


def main() -> None:
    """Console-script entry point: usage errors exit 2, internal errors print one line unless --debug."""
    if COMPLETE_VAR in os.environ:
        _completion_init()
    _safe_streams()
    import threading

    from tfdoctor import proc

    previous = _install_signal_handlers()
    threads_before = set(threading.enumerate())
    try:
        app(standalone_mode=True, complete_var=COMPLETE_VAR)
    except SystemExit as exc:
        _exit_past_overrunning_threads(exc.code, threads_before)
        raise
    except Interrupted as exc:
        _interrupted_exit(128 + exc.signum)
        sys.exit(128 + exc.signum)
    except KeyboardInterrupt:  # a Ctrl-C before the handler was installed
        _interrupted_exit(130)
        sys.exit(130)
    except BrokenPipeError:  # a command that printed outside _reader_may_leave (bench, fix-nouveau)
        _reader_went_away()
        sys.exit(EXIT_OK)
    except Exception as exc:  # the last line of defence: no traceback for the user unless --debug
        if "--debug" in sys.argv:
            raise
        from tfdoctor.report.sanitize import clean

        print(clean(f"tfdoctor: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
                    newlines=False), file=sys.stderr)
        sys.exit(EXIT_USAGE)
    finally:
        proc.cleanup(final=False)  # whatever a probe left running at its deadline, and every temporary file
        _restore_signal_handlers(previous)
