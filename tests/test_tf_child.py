"""The TensorFlow child runs isolated: every way it can end is classified, none reaches tfdoctor."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from tfdoctor.child.runner import child_script, run_child, run_tf_probe, split_child_markers
from tfdoctor.probes.tensorflow import facts_from_record

INTERPRETERS = Path(__file__).parent / "fixtures" / "interpreters"
PROBE = child_script("tf_probe.py")


@pytest.fixture(autouse=True)
def _test_python(monkeypatch):
    # the tf_* stand-ins run the real child under this interpreter
    monkeypatch.setenv("TFDOCTOR_TEST_PYTHON", sys.executable)


def stand_in(name: str) -> str:
    return str(INTERPRETERS / name)


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper is dead for our purpose)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.parametrize("name,signame", [("sigill", "SIGILL"), ("sigsegv", "SIGSEGV"), ("sigabrt", "SIGABRT")])
def test_child_killed_by_signal_is_classified_with_the_signal_name(name, signame):
    res = run_child(stand_in(name), PROBE, [], timeout=10)
    assert res.how == "signal"
    assert res.signal_name == signame
    assert res.data is None


def test_hanging_child_is_killed_at_the_timeout_with_its_whole_process_group(tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    start = time.monotonic()
    res = run_child(stand_in("hang"), PROBE, [], timeout=2, env={"HANG_PID_FILE": str(pid_file)})
    took = time.monotonic() - start
    assert res.how == "timeout"
    assert took < 2 + 2.0 + 3  # timeout + SIGTERM grace + slack
    assert "waiting forever" in res.stderr
    grandchild = int(pid_file.read_text())
    time.sleep(0.2)
    assert not _alive(grandchild)


def test_garbage_on_stdout_is_not_taken_for_a_report():
    res = run_child(stand_in("garbage"), PROBE, [], timeout=10)
    assert res.how == "garbage"
    assert res.data is None
    assert "sitecustomize" in res.stdout


def test_interpreter_that_cannot_start_is_an_exit_with_its_stderr():
    res = run_child(stand_in("exit_nonzero"), PROBE, [], timeout=10)
    assert res.how == "exit"
    assert res.rc == 1
    assert "No module named 'encodings'" in res.stderr


def test_missing_interpreter_is_not_found():
    res = run_child("/nonexistent/bin/python3", PROBE, [], timeout=10)
    assert res.how == "not-found"
    rec = run_tf_probe("/nonexistent/bin/python3", 10)
    facts = facts_from_record(rec, "/nonexistent/bin/python3")
    assert facts.ended == "not-found"


def test_stderr_lines_are_streamed_to_the_callback():
    seen = []
    run_child(stand_in("sigabrt"), PROBE, [], timeout=10, on_stderr_line=seen.append)
    assert any("cuda_driver.cc" in line for line in seen)


def test_child_markers_are_separated_from_the_log():
    log, marks = split_child_markers('I tf line\ntfdoctor-child: {"step": "import"}\ntfdoctor-child: not json\n')
    assert marks == [{"step": "import"}]
    assert log == "I tf line\ntfdoctor-child: not json\n"


def test_sigill_in_import_keeps_the_interpreter_recorded_before_the_crash():
    rec = run_tf_probe(stand_in("tf_sigill"), 30)
    assert rec["ended"]["how"] == "signal" and rec["ended"]["signal_name"] == "SIGILL"
    assert rec["ended"]["step"] == "import"
    assert rec["early"]["interpreter"]["version"] == "{}.{}.{}".format(*sys.version_info[:3])
    facts = facts_from_record(rec, cpu=None)
    assert facts.imported is False
    assert facts.python_version == "{}.{}.{}".format(*sys.version_info[:3])


def test_hang_in_import_says_which_step_hung():
    rec = run_tf_probe(stand_in("tf_hang"), 2)
    assert rec["ended"]["how"] == "timeout"
    assert rec["ended"]["step"] == "import"


@pytest.mark.parametrize("mode,kind", [
    ("not-installed", "not-installed"),
    ("numpy-abi", "numpy-abi"),
    ("protobuf", "protobuf"),
    ("glibc", "glibc"),
])
def test_import_failures_are_reported_as_json_and_classified(mode, kind):
    rec = run_tf_probe(stand_in(f"tf_{mode}"), 30)
    assert rec["ended"]["how"] == "ok", rec
    assert rec["result"]["import"]["ok"] is False
    facts = facts_from_record(rec)
    assert facts.imported is False
    assert facts.import_failure.kind == kind
    assert facts.installed is (kind != "not-installed")


def test_child_stdout_holds_only_json_even_when_the_child_prints(tmp_path):
    # a child script that prints through print() and through the C-level fd 1 after the redirect
    script = tmp_path / "noisy.py"
    script.write_text(Path(PROBE).read_text().replace(
        'mark(report, "import", early=True)',
        'mark(report, "import", early=True); print("noise"); os.write(1, b"fd noise\\n")'))
    env = {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    res = run_child(sys.executable, str(script), [], timeout=120, env=env)
    assert res.how == "ok", res.stderr[-2000:]
    assert "noise" in res.stderr
