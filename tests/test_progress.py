"""Live progress on a terminal: each area's line as it completes, the slow step named, nothing extra when piped."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from tests.conftest import SNAPSHOTS
from tfdoctor import catalogue
from tfdoctor import progress as events
from tfdoctor.api import raw_check
from tfdoctor.checks import AREAS
from tfdoctor.cli import app
from tfdoctor.host import LiveHost, open_snapshot
from tfdoctor.probes import ProbeContext, ProbeOptions
from tfdoctor.probes.tensorflow import step_text, tensorflow_probe
from tfdoctor.report.progress import LiveProgress

ROOT = Path(__file__).resolve().parents[1]
QUADRO = str(SNAPSHOTS / "quadro-p2000-no-driver")
INTERPRETERS = Path(__file__).parent / "fixtures" / "interpreters"


def _events(snapshot: str, **kw) -> list:
    seen: list = []
    raw_check(open_snapshot(snapshot), snapshot=snapshot, progress=seen.append, **kw)
    return seen


def test_the_engine_reports_every_area_once_in_report_order_and_every_probe():
    seen = _events(QUADRO)
    areas = [e.area for e in seen if isinstance(e, events.AreaDone)]
    assert areas == list(AREAS)
    started = {e.probe for e in seen if isinstance(e, events.ProbeStarted)}
    done = {e.probe for e in seen if isinstance(e, events.ProbeDone)}
    assert started == done and {"pci", "driver", "nvml", "tensorflow"} <= done
    # an area is told after the probes it reads, never before
    first_area = next(i for i, e in enumerate(seen) if isinstance(e, events.AreaDone))
    env_done = next(i for i, e in enumerate(seen) if isinstance(e, events.ProbeDone) and e.probe == "env")
    assert env_done < first_area


def test_an_areas_preview_has_its_findings_with_the_final_statuses_on_a_replay():
    seen = _events(QUADRO)
    report = raw_check(open_snapshot(QUADRO), snapshot=QUADRO)
    for e in (e for e in seen if isinstance(e, events.AreaDone)):
        assert [(f.id, f.status) for f in e.findings] == [
            (f.id, f.status) for f in report.findings if catalogue.get(f.id).area == e.area]


def test_a_selection_reports_only_its_areas():
    seen = _events(QUADRO, only=("tf",))
    assert [e.area for e in seen if isinstance(e, events.AreaDone)] == ["tensorflow"]


def test_the_display_draws_each_area_line_and_erases_itself():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system=None, legacy_windows=False)
    with LiveProgress(console, "Replaying the snapshot") as display:
        raw_check(open_snapshot(QUADRO), snapshot=QUADRO, progress=display)
    text = out.getvalue()
    assert "Replaying the snapshot" in text
    positions = [text.index(f"] {catalogue.area_title(a)}") for a in AREAS]
    assert positions == sorted(positions)  # drawn in report order
    assert "[✗] NVIDIA kernel driver" in text and "[✓] GPU hardware" in text
    assert text.rstrip().endswith("\x1b[2K") or "\x1b[2K" in text[-200:]  # the region is erased at the end


def test_the_display_names_the_slow_step_with_its_seconds():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    display = LiveProgress(console)
    display(events.ProbeStarted("tensorflow", "TensorFlow (child process)"))
    display(events.ProbeStep("tensorflow", "TensorFlow (child process)", "importing TensorFlow with ~/.venv/bin/python"))
    lines = [str(t) for t in display.render_lines()]
    assert any("importing TensorFlow with ~/.venv/bin/python … " in ln and ln.endswith(" s") for ln in lines)
    display(events.ProbeDone("tensorflow", "TensorFlow (child process)", 2.0))
    assert not any("importing" in str(t) for t in display.render_lines())


def test_an_ascii_terminal_gets_ascii_marks_and_spinner():
    out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    display = LiveProgress(Console(file=out, force_terminal=True, width=100, color_system=None))
    display(events.ProbeStep("tensorflow", "TensorFlow", "importing TensorFlow with /usr/bin/python3"))
    text = "\n".join(str(t) for t in display.render_lines())
    text.encode("ascii")  # nothing a 7-bit terminal cannot show
    assert "..." in text


def test_the_tensorflow_probe_names_its_step_and_interpreter_as_the_child_reaches_it(monkeypatch):
    monkeypatch.setenv("TFDOCTOR_TEST_PYTHON", sys.executable)
    steps: list[str] = []
    python = str(INTERPRETERS / "tf_not-installed")  # the real child; `import tensorflow` fails at once
    ctx = ProbeContext(ProbeOptions(python=python, tf_timeout=60), {}, steps.append)
    facts = tensorflow_probe(LiveHost(), ctx)
    assert facts.installed is False
    assert steps[0].startswith("starting ") and steps[0].endswith("tf_not-installed")
    # the child reports the interpreter it really is (the stand-in execs the test's Python)
    assert steps[1] == step_text({"step": "import", "interpreter": {"executable": sys.executable}}, python)
    assert steps[1].startswith("importing TensorFlow with ")


def test_step_text_shows_the_home_folder_as_tilde_and_nothing_unprintable(monkeypatch):
    monkeypatch.setenv("HOME", "/home/ana")
    mark = {"step": "import", "interpreter": {"executable": "/home/ana/.venv/bin/python\x1b[31m"}}
    assert step_text(mark, "python3") == "importing TensorFlow with ~/.venv/bin/python?[31m"
    assert step_text({"step": "no-such-step"}, "python3") is None


def test_piped_output_and_machine_formats_get_no_progress():
    runner = CliRunner()
    res = runner.invoke(app, ["check", "--from", QUADRO])
    assert "Replaying the snapshot" not in res.stdout and res.stdout.startswith("tfdoctor ")


def _in_pty(*args: str, timeout: float = 120) -> str:
    """Run tfdoctor with its stdout and stderr on a pseudo-terminal; everything it wrote."""
    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color", "COLUMNS": "100"}
    proc = subprocess.Popen([sys.executable, "-m", "tfdoctor", *args], stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=slave, cwd=ROOT, env=env, close_fds=True)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
    finally:
        proc.kill()
        proc.wait()
        os.close(master)
    return b"".join(chunks).decode("utf-8", errors="replace")


def test_on_a_terminal_check_draws_progress_then_prints_the_report():
    text = _in_pty("check", "--from", QUADRO)
    assert "Replaying the snapshot…" in text
    assert "] NVIDIA kernel driver" in text  # an area's progress line
    assert "Root cause:" in text and text.index("Replaying the snapshot…") < text.index("Root cause:")


@pytest.mark.parametrize("fmt", [["--json"], ["--format", "junit"], ["-q"]])
def test_on_a_terminal_machine_formats_and_quiet_get_nothing_extra(fmt):
    text = _in_pty("check", "--from", QUADRO, *fmt)
    assert "Replaying the snapshot" not in text and "\x1b[?25l" not in text  # no live region, no hidden cursor
    if fmt == ["--json"]:
        json.loads(text.replace("\r\n", "\n"))


def test_snapshot_shows_progress_on_a_terminal(tmp_path):
    text = _in_pty("snapshot", "--no-tf", "-o", str(tmp_path / "snap"))
    assert "Recording this machine…" in text and "Wrote snapshot" in text


def test_on_a_terminal_a_hung_import_is_named_while_it_hangs(monkeypatch):
    monkeypatch.setenv("TFDOCTOR_TEST_PYTHON", sys.executable)  # the stand-in runs the real child under it
    text = _in_pty("check", "--python", str(INTERPRETERS / "tf_hang"), "--tf-timeout", "2", "--only", "tf")
    assert "importing TensorFlow with " in text  # the spinner's line while the child hangs in `import tensorflow`
    assert "did not finish within" in text and "Root cause:" in text  # then the report
    assert text.rfind("\x1b[?25h") > text.rfind("\x1b[?25l")  # the cursor is shown again


def test_restore_terminal_shows_the_cursor_of_a_display_left_running():
    from tfdoctor.report.progress import restore_terminal

    out = io.StringIO()
    display = LiveProgress(Console(file=out, force_terminal=True, width=80, color_system=None))
    display.__enter__()
    try:
        restore_terminal()
        assert out.getvalue().rfind("\x1b[?25h") > out.getvalue().rfind("\x1b[?25l") >= 0
    finally:
        display.__exit__(None, None, None)


def test_the_slow_step_reaches_the_terminal_without_escape_sequences():
    """An interpreter path is machine text: a title-setting escape in it is shown escaped, never sent raw."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    display = LiveProgress(console)
    display(events.ProbeStarted("tensorflow", "TensorFlow (child process)"))
    display(events.ProbeStep("tensorflow", "TensorFlow (child process)", "importing TensorFlow with /x\x1b]0;owned\x07"))
    lines = [str(t) for t in display.render_lines()]
    assert not any("\x1b" in ln or "\x07" in ln for ln in lines)
    assert any("\\x1b" in ln for ln in lines)
