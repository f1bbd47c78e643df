"""Fix commands that paste: how tfdoctor itself is run (sudo's secure_path), pip and PEP 668, alternatives as
alternatives, each fix printed once."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from tests.conftest import SNAPSHOTS, snapshot_dirs
from tfdoctor import invocation
from tfdoctor.api import raw_check, redacted
from tfdoctor.checks.commands import NEW_VENV_PYTHON, pip_fix, tfdoctor_command
from tfdoctor.cli import app
from tfdoctor.host import LiveHost, open_snapshot
from tfdoctor.invocation import Invocation
from tfdoctor.model import Alternative, Fix
from tfdoctor.report import console, junit, markdown

QUADRO = str(SNAPSHOTS / "quadro-p2000-no-driver")
DEBIAN = SimpleNamespace(os_id="debian", os_id_like=(), python=None)
FEDORA = SimpleNamespace(os_id="fedora", os_id_like=(), python=None)


def _facts(inv=None, env=DEBIAN, tf=None):
    return SimpleNamespace(invocation=inv, env=env, tensorflow=tf)


@pytest.mark.parametrize(("inv", "env", "expected"), [
    # a distribution's package or a system-wide pip: sudo finds it
    (Invocation("/usr/bin/tfdoctor", True, "/usr/bin/python3"), DEBIAN, "sudo tfdoctor fix-nouveau"),
    (Invocation("/usr/local/bin/tfdoctor", True, "/usr/bin/python3"), DEBIAN, "sudo tfdoctor fix-nouveau"),
    # Fedora's secure_path has no /usr/local/bin
    (Invocation("/usr/local/bin/tfdoctor", True, "/usr/bin/python3"), FEDORA,
     'sudo "$(command -v tfdoctor)" fix-nouveau'),
    # pipx and venv installs: on the user's PATH, never on sudo's
    (Invocation("/home/ana/.local/bin/tfdoctor", True, "/home/ana/.local/share/pipx/venvs/tfdoctor/bin/python"),
     DEBIAN, 'sudo "$(command -v tfdoctor)" fix-nouveau'),
    # run by its full path, not found on the PATH: that path
    (Invocation("/home/ana/proj/.venv/bin/tfdoctor", False, "/home/ana/proj/.venv/bin/python"), DEBIAN,
     "sudo /home/ana/proj/.venv/bin/tfdoctor fix-nouveau"),
    # python -m tfdoctor: the same way under sudo
    (Invocation(None, None, "/home/ana/proj/.venv/bin/python"), DEBIAN,
     "sudo /home/ana/proj/.venv/bin/python -m tfdoctor fix-nouveau"),
    # a replay: how tfdoctor is installed there is unknown; this works wherever it is on the PATH
    (None, DEBIAN, 'sudo "$(command -v tfdoctor)" fix-nouveau'),
])
def test_the_tfdoctor_command_under_sudo_is_the_one_that_runs_here(inv, env, expected):
    assert tfdoctor_command(_facts(inv, env), "fix-nouveau", sudo=True) == expected


def test_the_tfdoctor_command_without_sudo():
    pipx = Invocation("/home/ana/.local/bin/tfdoctor", True, "/x/bin/python")
    assert tfdoctor_command(_facts(pipx), "check", "--python", ".venv/bin/python") == \
        "tfdoctor check --python .venv/bin/python"
    assert tfdoctor_command(_facts(Invocation(None, None, "/opt/py/bin/python")), "check") == \
        "/opt/py/bin/python -m tfdoctor check"
    assert tfdoctor_command(_facts(None), "check") == "tfdoctor check"


def test_this_process_is_read_as_it_was_started(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "tfdoctor"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    monkeypatch.setattr(sys, "argv", [str(script), "check"])
    inv = invocation.current()
    assert inv.script == str(script) and inv.on_path is True and inv.python == sys.executable
    monkeypatch.setenv("PATH", "/nonexistent")
    assert invocation.current().on_path is False
    monkeypatch.setattr(sys, "argv", ["/somewhere/tfdoctor/__main__.py", "check"])  # python -m tfdoctor
    assert invocation.current() == Invocation(None, None, sys.executable)
    monkeypatch.setattr(sys, "argv", ["/home/a b/tfdoctor", "check"])  # a path that would need quoting: not used
    assert invocation.current().script is None
    monkeypatch.chdir(tmp_path)  # `bin/tfdoctor check`, typed relative to the current folder
    monkeypatch.setattr(sys, "argv", ["bin/tfdoctor", "check"])
    assert invocation.current().script == str(script)


def _tf(exe="/usr/bin/python3", managed=True, version="3.11.2"):
    return SimpleNamespace(python_executable=exe, python=exe, python_version=version, externally_managed=managed)


def test_pip_into_an_externally_managed_python_goes_to_a_new_venv():
    fix = Fix("Replace it with the CUDA build.", ("/usr/bin/python3 -m pip uninstall -y tensorflow-cpu",
                                                  "/usr/bin/python3 -m pip install 'tensorflow[and-cuda]==2.21.*'"))
    out = pip_fix(_facts(None, DEBIAN, _tf()), fix)
    assert out.commands == ("sudo apt install python3.11-venv", "/usr/bin/python3 -m venv ~/.venvs/tensorflow",
                            f"{NEW_VENV_PYTHON} -m pip install 'tensorflow[and-cuda]==2.21.*'")
    assert "PEP 668" in out.summary and out.verify == ('tfdoctor check --python ~/.venvs/tensorflow/bin/python',)
    # a venv, or a Python pip may install into: unchanged
    assert pip_fix(_facts(None, DEBIAN, _tf(managed=False)), fix) is fix
    # Fedora ships venv with Python: no apt line
    assert pip_fix(_facts(None, FEDORA, _tf()), fix).commands[0] == "/usr/bin/python3 -m venv ~/.venvs/tensorflow"


def test_tfdoctors_own_pipx_venv_is_not_where_tensorflow_goes():
    exe = "/home/ana/.local/share/pipx/venvs/tfdoctor/bin/python"
    fix = Fix("Install TensorFlow.", (f"{exe} -m pip install 'tensorflow==2.21.*'",))
    out = pip_fix(_facts(None, DEBIAN, _tf(exe=exe, managed=False)), fix)
    assert out.commands[-1] == f"{NEW_VENV_PYTHON} -m pip install 'tensorflow==2.21.*'" and "pipx" in out.summary


def test_alternatives_that_run_pip_get_their_own_venv():
    fix = Fix("New driver, or older TensorFlow.", ("sudo apt install nvidia-driver-570", "sudo reboot"),
              (Alternative("to keep driver 470", ("/usr/bin/python3 -m pip install 'tensorflow==2.14.*'",)),))
    out = pip_fix(_facts(None, FEDORA, _tf()), fix)
    assert out.commands == fix.commands  # nothing of pip in them
    assert out.alternatives[0].commands == ("/usr/bin/python3 -m venv ~/.venvs/tensorflow",
                                            f"{NEW_VENV_PYTHON} -m pip install 'tensorflow==2.14.*'")


@pytest.mark.skipif(not os.path.exists("/usr/bin/python3"), reason="no system python3 here")
def test_this_machines_system_python_gets_a_fix_that_pastes():
    """A real run: the TensorFlow child under /usr/bin/python3 (no TensorFlow there), which reports PEP 668 itself."""
    report = raw_check(LiveHost(), python="/usr/bin/python3", only=("tf.installed",),
                       invocation=Invocation(None, None, "/usr/bin/python3"))
    f = report.get("tf.installed")
    managed = report.facts["tensorflow"].externally_managed
    assert f.status.value == "fail" and managed is not None
    pip = [c for c in f.fix.commands if " -m pip " in c]
    if managed:
        assert pip and all(c.startswith(NEW_VENV_PYTHON) for c in pip)
        assert "/usr/bin/python3 -m venv ~/.venvs/tensorflow" in f.fix.commands
    else:
        assert pip and all(c.startswith("/usr/bin/python3 -m pip") for c in pip)


def test_the_replay_of_a_machine_without_mokutil_says_it_is_not_in_the_snapshot():
    report = raw_check(open_snapshot(str(SNAPSHOTS / "container-no-lspci-cpu-only")))
    assert report.get("driver.secure-boot").summary.startswith("mokutil is not in the snapshot")


BAD_COMMENTS = ("# alternative", "# verify", "# or", "instead", "apt-mark hold")


@pytest.mark.parametrize("snapshot", snapshot_dirs(), ids=lambda p: p.name)
def test_no_fix_hides_an_alternative_or_a_verify_step_in_a_command(snapshot):
    for require_gpu in (False, True):
        report = raw_check(open_snapshot(str(snapshot)), require_gpu=require_gpu)
        for f in report.findings:
            if f.fix is None:
                continue
            commands = [*f.fix.commands, *f.fix.verify, *(c for a in f.fix.alternatives for c in a.commands)]
            for c in commands:
                assert not any(bad in c.lower() for bad in BAD_COMMENTS), (f.id, c)


def test_checks_build_no_command_with_comment_alternatives():
    """The same, read from the source: a fix added later cannot bring the pattern back."""
    root = Path(__file__).resolve().parents[1] / "tfdoctor" / "checks"
    for path in root.glob("*.py"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split('"""')[0]
            if '"' in code or "'" in code:
                for bad in ("   # alternative", "   # verify", "   # or", "# instead of", "apt-mark hold"):
                    assert bad not in code or code.strip().startswith("#"), f"{path.name}:{n}: {line.strip()}"


def _console(report, verbose=False) -> str:
    out = io.StringIO()
    console.render(report, verbose=verbose, file=out, width=200)
    return out.getvalue()


def test_each_fix_is_printed_once_and_alternatives_as_alternatives():
    report = redacted(raw_check(open_snapshot(QUADRO), snapshot=QUADRO), snapshot=QUADRO)
    text = _console(report)
    # the install was printed three times (driver.recommended, the root cause, "Fix it first"): now once, at the end
    assert text.count("$ sudo apt install nvidia-driver-470") == 1
    assert text.index("Fix it first") < text.index("$ sudo apt install nvidia-driver-470")
    assert "(its commands are in the fix of driver.nvidia-module, below)" in text
    # the rebuild is an alternative, used instead, and marked so; not a step after the reboot
    lines = text.splitlines()
    alt = next(i for i, ln in enumerate(lines) if ln.strip().startswith("Or instead (a driver was installed"))
    assert lines[alt - 1].strip() == "$ sudo reboot" and lines[alt + 1].strip() == "$ sudo apt install dkms " \
        "linux-headers-$(uname -r)"
    # verbose prints the fixes of caused findings too, still without repeating the root cause's block
    assert _console(report, verbose=True).count("$ sudo apt install nvidia-driver-470") == 1


def test_markdown_and_junit_carry_alternatives_and_verify_steps():
    report = redacted(raw_check(open_snapshot(str(SNAPSHOTS / "nouveau-bound"))), snapshot="x")
    f = report.get("driver.nouveau")
    assert f.fix.alternatives and f.fix.alternatives[0].when == "by hand"  # survived redaction
    md = markdown.render(report)
    assert "Or instead (by hand):" in md
    xml = junit.render(report)
    assert "Or instead (by hand)" in xml


def test_from_and_python_together_are_refused_with_one_line():
    res = CliRunner().invoke(app, ["check", "--from", QUADRO, "--python", "/usr/bin/python3"])
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1 and "--from" in res.stderr


def test_verify_lines_rerun_tfdoctor_the_way_it_was_installed():
    """A verify line is a command like any other: `python -m tfdoctor` when tfdoctor was started that way."""
    from tfdoctor.checks.commands import verify_only
    from tfdoctor.checks.cuda import _uvm_fix, fabricmanager_fix

    venv = _facts(Invocation(None, None, "/opt/py/bin/python"))
    venv.datacentre = SimpleNamespace(fabricmanager_installed=True)
    venv.driver = venv.nvml = None
    assert verify_only(venv, "python.ld-library-path", "cuda.libraries") == \
        "/opt/py/bin/python -m tfdoctor check --only python.ld-library-path,cuda.libraries"
    assert "/opt/py/bin/python -m tfdoctor check --only cuda.init" in _uvm_fix(venv).verify
    assert "/opt/py/bin/python -m tfdoctor check --only cuda.init" in fabricmanager_fix(venv).verify
    assert "tfdoctor check --only cuda.init" in _uvm_fix(_facts(None)).verify  # a replay: the PATH form
