"""The command line as a user meets it: exit codes, formats, quiet mode, selection, and a live run here."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from tests.conftest import SNAPSHOTS
from tfdoctor import __version__, catalogue
from tfdoctor.cli import app

runner = CliRunner()
QUADRO = str(SNAPSHOTS / "quadro-p2000-no-driver")
HEALTHY = str(SNAPSHOTS / "healthy-single-gpu")


def run(*args):
    return runner.invoke(app, list(args))


def test_help_and_version():
    assert run("--help").exit_code == 0
    res = run("--version")
    assert res.exit_code == 0 and __version__ in res.stdout


def test_list_checks_names_every_finding():
    res = run("check", "--list-checks")
    assert res.exit_code == 0
    for fid in catalogue.ids():
        assert fid in res.stdout


def test_unknown_finding_id_is_a_usage_error():
    res = run("check", "--only", "driver.nope")
    assert res.exit_code == 2 and "unknown finding id" in res.stderr


def test_two_output_formats_is_a_usage_error():
    assert run("check", "--json", "--markdown", "--from", QUADRO).exit_code == 2


def test_console_report_shows_root_cause_fix_and_summary():
    res = run("check", "--from", QUADRO, "--no-tf")
    assert res.exit_code == 1
    out = res.stdout
    assert "Root cause" in out and "sudo apt install nvidia-driver-470" in out
    assert "caused by driver.nvidia-module" in out
    assert "Skipped" in out  # skips are listed together at the end
    assert "\x1b[" not in out  # no colour codes when not a terminal


def test_verbose_adds_details():
    quiet = run("check", "--from", QUADRO, "--no-tf").stdout
    verbose = run("check", "--from", QUADRO, "--no-tf", "-v").stdout
    assert "NVIDIA-SMI has failed" in verbose and len(verbose) > len(quiet)


def test_quiet_prints_one_line_per_failure_and_nothing_on_success():
    res = run("check", "--from", QUADRO, "--no-tf", "--quiet")
    assert res.exit_code == 1
    lines = res.stdout.strip().splitlines()
    assert lines and all(line.startswith("FAIL ") for line in lines)
    assert any("driver.nvidia-module" in line for line in lines)
    ok = run("check", "--from", HEALTHY, "--no-tf", "--quiet")
    assert ok.exit_code == 0 and ok.stdout == ""


def test_strict_fails_on_warnings():
    # the warning (a container without GPU devices) rests on the pasted TensorFlow log: not --no-tf
    scenario = str(SNAPSHOTS / "container-no-dev-nvidia")
    assert run("check", "--from", scenario).exit_code == 0
    assert run("check", "--from", scenario, "--strict").exit_code == 1


def test_require_gpu_turns_no_gpu_into_a_failure():
    scenario = str(SNAPSHOTS / "no-nvidia-gpu")
    assert run("check", "--from", scenario, "--no-tf").exit_code == 0
    res = run("check", "--from", scenario, "--no-tf", "--require-gpu", "--quiet")
    assert res.exit_code == 1 and "pci.nvidia-gpu" in res.stdout


def test_markdown_report_for_a_bug_report():
    res = run("check", "--from", QUADRO, "--no-tf", "--markdown")
    assert res.exit_code == 1
    assert "**Root cause:**" in res.stdout and "```sh" in res.stdout
    assert "| ❌ fail | `driver.nvidia-module` |" in res.stdout


def test_report_to_a_file(tmp_path):
    out = tmp_path / "report.json"
    res = run("check", "--from", QUADRO, "--no-tf", "--json", "-o", str(out))
    assert res.exit_code == 1 and res.stdout == ""
    assert json.loads(out.read_text())["summary"]["root_cause"] == "driver.nvidia-module"


def test_json_report_carries_findings_with_fixes():
    data = json.loads(run("check", "--from", QUADRO, "--no-tf", "--json").stdout)
    f = {x["id"]: x for x in data["findings"]}["driver.nvidia-module"]
    assert f["status"] == "fail" and f["root_cause"] is True
    assert f["fix"]["commands"][:2] == ["sudo apt install nvidia-driver-470", "sudo reboot"]
    assert data["summary"]["exit_code"] == 1


def test_reports_redact_the_hostname_from_a_pasted_log():
    res = run("check", "--from", QUADRO, "--json")
    assert "sustc-HG" not in res.stdout


def test_explain_prints_the_catalogue_text():
    res = run("explain", "driver.nouveau")
    assert res.exit_code == 0 and "blacklist nouveau" in res.stdout and "Why it matters" in res.stdout
    assert run("explain", "no.such-id").exit_code == 2


def test_live_check_on_this_machine_without_gpu():
    """CI has no NVIDIA GPU: pci.nvidia-gpu is info, the exit status is 0 and the JSON is valid."""
    proc = subprocess.run([sys.executable, "-m", "tfdoctor", "check", "--json", "--no-tf"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    by = {f["id"]: f for f in data["findings"]}
    assert by["pci.nvidia-gpu"]["status"] == "info"
    assert by["cpu.avx"]["status"] in ("ok", "info")
    assert by["system.python"]["status"] == "ok"
    assert data["source"]["host"] == "live"


def test_internal_errors_print_one_line_without_traceback(monkeypatch, capsys):
    import tfdoctor.cli as cli

    def broken(**kw):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(cli, "_raw_check", broken)  # the run behind check (and run_check)
    monkeypatch.setattr(sys, "argv", ["tfdoctor", "check", "--no-tf"])
    try:
        cli.main()
    except SystemExit as exc:
        assert exc.code == 2
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: kaboom" in err and "Traceback" not in err


def test_the_watchdog_ends_with_the_command(monkeypatch):
    """A check run in-process (the Python API, a notebook, this test runner) must not leave its watchdog behind:
    a timer that outlived its command once ended the whole pytest run with os._exit(1) a minute later."""
    import threading

    from tfdoctor import cli

    started = []
    real = cli._start_watchdog

    def spy(seconds):
        timer = real(seconds)
        started.append(timer)
        return timer

    monkeypatch.setattr(cli, "_start_watchdog", spy)
    assert run("check", "--from", QUADRO, "--no-tf").exit_code == 1
    assert run("check", "--from", HEALTHY, "--no-tf").exit_code == 0
    assert len(started) == 2
    for timer in started:
        timer.join(2)
        assert not timer.is_alive() and timer.finished.is_set()
    assert not [t for t in threading.enumerate() if isinstance(t, threading.Timer) and t in started]


def test_quiet_with_a_console_report_file_writes_the_file(tmp_path):
    out = tmp_path / "report.txt"
    res = run("check", "--from", str(SNAPSHOTS / "dkms-not-built"), "--no-tf", "-q", "-o", str(out))
    assert res.exit_code == 1 and res.output.startswith("FAIL driver.dkms")
    assert "driver.dkms" in out.read_text() and f"tfdoctor {__version__}" in out.read_text()
