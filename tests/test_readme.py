"""The README's commands, typed verbatim: the set-up in a fresh clone and a fresh venv, and the test command that
.ci/run runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def code_block(heading: str, index: int = 0) -> list[str]:
    section = README[README.index(heading):]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    return [line for line in blocks[index].splitlines() if line.strip()]


def system_python() -> str | None:
    """The distribution's python3 when it is externally managed (PEP 668), which is what a newcomer types into."""
    for candidate in ("/usr/bin/python3",):
        if os.access(candidate, os.X_OK):
            probe = subprocess.run([candidate, "-c", "import os, sysconfig; print(os.path.exists(os.path.join("
                                    "sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED')))"],
                                   capture_output=True, text=True, timeout=30)
            if probe.stdout.strip() == "True":
                return candidate
    return None


def test_setup_is_two_commands_that_never_install_from_an_index():
    lines = code_block("## Set-up")
    assert lines == ["sudo apt-get install -y python3-venv",
                     "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/tfdoctor check"]


def test_ci_runs_the_readmes_test_command():
    (line,) = code_block("## Set-up", 1)
    assert line == "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest"
    ci = (ROOT / ".ci/run").read_text()
    assert "python3 -m venv .venv" in ci and "PY=.venv/bin/python" in ci
    assert "\"$PY\" -m pip install -e '.[test]'" in ci and '"$PY" -m pytest -rs' in ci


@pytest.mark.timeout(600)
def test_readme_setup_typed_verbatim_in_a_fresh_clone(tmp_path):
    """Clone this checkout (what is committed), then run the README's set-up lines as they are written, with the
    distribution's python3 first on PATH when it is externally managed (Debian 12, Ubuntu 24.04)."""
    if shutil.which("git") is None or shutil.which("bash") is None:
        pytest.skip("git and bash are needed")
    clone = tmp_path / "tfdoctor"
    proc = subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        pytest.skip(f"this checkout cannot be cloned: {proc.stderr.strip()[:200]}")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PIP_USER")}
    python = system_python()
    if python:
        env["PATH"] = f"{Path(python).parent}:{env.get('PATH', '')}"
        # why the README does not say `pip install .`: PEP 668 refuses it here
        refused = subprocess.run([python, "-m", "pip", "install", "."], cwd=clone, env=env, capture_output=True,
                                 text=True, timeout=120)
        assert refused.returncode != 0 and "externally-managed-environment" in refused.stdout + refused.stderr
    apt_line, setup_line = code_block("## Set-up")
    if os.geteuid() == 0 and shutil.which("apt-get"):
        line = apt_line if shutil.which("sudo") else apt_line.removeprefix("sudo ")
        apt = subprocess.run(["bash", "-c", line], env=env, capture_output=True, text=True, timeout=300)
        assert apt.returncode == 0, apt.stderr[-2000:]
    elif subprocess.run(["python3", "-m", "venv", "--help"], env=env, capture_output=True).returncode != 0:
        pytest.skip("python3-venv is not installed and this test cannot install it (not root)")
    proc = subprocess.run(["bash", "-c", setup_line], cwd=clone, env=env, capture_output=True, text=True,
                          timeout=500)
    out = proc.stdout + proc.stderr
    if proc.returncode not in (0, 1) and re.search(r"Failed to establish a new connection|Temporary failure in name "
                                                   r"resolution|No matching distribution found", out):
        pytest.skip("no package index reachable for tfdoctor's dependencies: " + out.strip().splitlines()[-1][:200])
    # `tfdoctor check` ran: exit 0 (healthy) or 1 (it found a problem on this machine), a report, no traceback
    assert proc.returncode in (0, 1), out[-3000:]
    assert "tfdoctor 0.1.0 · checking this machine" in proc.stdout
    assert "Traceback" not in out and "externally-managed" not in out
    assert (clone / ".venv/bin/tfdoctor").exists()
    version = subprocess.run([str(clone / ".venv/bin/tfdoctor"), "--version"], capture_output=True, text=True,
                             timeout=60, env=env)
    assert version.stdout.strip() == "tfdoctor 0.1.0"
