"""stdout as the shell gives it: a reader that goes away (`| head -1`), a 7-bit encoding; and the repository's own
references to files that must exist."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SNAPSHOTS

ROOT = Path(__file__).resolve().parents[1]
HEALTHY = str(SNAPSHOTS / "healthy-single-gpu")
QUADRO = str(SNAPSHOTS / "quadro-p2000-no-driver")
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _with_closed_stdout(*args: str) -> subprocess.CompletedProcess:
    """Run tfdoctor with stdout a pipe whose reader is already gone: every write fails with EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, "-m", "tfdoctor", *args], stdout=write_end, stderr=subprocess.PIPE,
                              text=True, cwd=ROOT, env=ENV, timeout=120)
    finally:
        os.close(write_end)


@pytest.mark.parametrize("args", [(), ("-v",), ("--json",), ("--markdown",), ("--format", "junit")])
def test_a_reader_that_goes_away_ends_check_quietly_with_its_own_status(args):
    ok = _with_closed_stdout("check", "--from", HEALTHY, *args)
    assert (ok.returncode, ok.stderr) == (0, "")
    failing = _with_closed_stdout("check", "--from", QUADRO, *args)
    assert (failing.returncode, failing.stderr) == (1, "")


@pytest.mark.parametrize("args", [("check", "--list-checks"), ("explain", "driver.nouveau"),
                                  ("completion", "bash")])
def test_other_commands_end_quietly_with_status_0(args):
    res = _with_closed_stdout(*args)
    assert (res.returncode, res.stderr) == (0, "")


@pytest.mark.parametrize("args", [(), ("-v",), ("--markdown",), ("--json",), ("--format", "junit"),
                                  ("--format", "prometheus"), ("-q",)])
def test_an_ascii_only_stdout_gets_an_ascii_report_and_no_crash(args):
    res = subprocess.run([sys.executable, "-m", "tfdoctor", "check", "--from", QUADRO, *args], capture_output=True,
                         cwd=ROOT, env={**ENV, "PYTHONIOENCODING": "ascii"}, timeout=120)
    assert res.returncode == 1, res.stderr  # the verdict, not a crash (2)
    assert res.stderr == b""
    res.stdout.decode("ascii")  # every byte is 7-bit
    if args in ((), ("-v",)):
        assert b"[X] NVIDIA kernel driver" in res.stdout and b"?" not in res.stdout.split(b"\n")[0]


def test_explain_on_an_ascii_terminal():
    res = subprocess.run([sys.executable, "-m", "tfdoctor", "explain", "driver.nouveau"], capture_output=True,
                         cwd=ROOT, env={**ENV, "PYTHONIOENCODING": "ascii"}, timeout=120)
    assert res.returncode == 0 and res.stderr == b""


def test_files_named_in_ci_and_in_source_notes_exist():
    """The CI script's comments and the stand-in interpreters' SOURCE.md name files: each must exist."""
    ci = (ROOT / ".ci" / "run").read_text()
    named = set(re.findall(r"\btests/[\w/.-]+\.py\b", ci))
    assert named, "the CI script names its tests"
    for rel in named:
        assert (ROOT / rel).is_file(), rel
    interpreters = ROOT / "tests" / "fixtures" / "interpreters"
    table = (interpreters / "SOURCE.md").read_text()
    for name in re.findall(r"^\| `([^`]+)`(?:, `([^`]+)`)*", table, flags=re.M):
        for stand_in in filter(None, name):
            assert (interpreters / stand_in).is_file(), stand_in
    for name in re.findall(r"`(tf_[a-z-]+|sig[a-z]+|hang|garbage|exit_nonzero)`", table):
        assert (interpreters / name).is_file(), name
