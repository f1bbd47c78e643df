"""Health-check mode for schedulers: silent on success, one line per failure, exit 1, and never longer than
--timeout whatever hangs. Also runs the Slurm example script with stand-in `scontrol` and `tfdoctor` commands."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOTS = ROOT / "tests/fixtures/snapshots"
SLURM_SCRIPT = ROOT / "docs/examples/slurm-healthcheck.sh"
SHOW_NODE = (ROOT / "tests/fixtures/slurm/scontrol-show-node-down.txt").read_text()
BASH = shutil.which("bash")

# A tfdoctor with extra checks registered through the public decorators (the real catalogue stays as it is), so
# the contract of the health-check mode is tested whatever the real checks find on this machine. FAKE_MODE picks
# what the fake checks do: pass, fail, warn, hang-probe (a probe that never returns), hang-check (a check that
# never returns: only the watchdog can end that).
FAKE_TFDOCTOR = textwrap.dedent('''
    import os, sys, time
    sys.path.insert(0, {root!r})
    from tfdoctor import catalogue
    from tfdoctor.checks import check
    from tfdoctor.model import Fix, fail, ok, warn
    from tfdoctor.probes import probe

    MODE = os.environ.get("FAKE_MODE", "pass")
    catalogue.entries()

    @probe("fakeprobe", timeout=300)
    def fakeprobe(host, ctx):
        if MODE == "hang-probe":
            time.sleep(3600)
        return {{"mode": MODE}}

    DOC = dict(area="system", needs=("fakeprobe",), what="w", why="y", fix="f")

    @check("system.fake-a", title="Fake A", **DOC)
    def check_fake_a(facts):
        if MODE == "hang-check":
            time.sleep(3600)
        if MODE == "fail":
            return fail("system.fake-a", "fake A is broken", fix=Fix("repair A", ("sudo repair-a",)))
        return ok("system.fake-a", "fake A works")

    @check("system.fake-b", title="Fake B", **DOC)
    def check_fake_b(facts):
        if MODE == "fail":
            return fail("system.fake-b", "fake B is broken too")
        if MODE == "warn":
            return warn("system.fake-b", "fake B is slow")
        return ok("system.fake-b", "fake B works")

    from tfdoctor.cli import main
    main()
''')


def run_fake(tmp_path: Path, mode: str, *args: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess, float]:
    prog = tmp_path / "fake_tfdoctor.py"
    prog.write_text(FAKE_TFDOCTOR.format(root=str(ROOT)))
    argv = [sys.executable, str(prog), "check", "--quiet", "--only", "system.fake-a", "--only", "system.fake-b",
            *args]
    return run_bounded(argv, {**os.environ, "FAKE_MODE": mode}, timeout)


def run_bounded(argv, env, timeout) -> tuple[subprocess.CompletedProcess, float]:
    """Run in a new process group and remove the whole group afterwards (a hung stand-in must not outlive us)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    elapsed = time.monotonic() - t0
    return subprocess.CompletedProcess(argv, proc.returncode, out, err), elapsed


def test_quiet_prints_nothing_and_exits_0_when_healthy(tmp_path):
    proc, _ = run_fake(tmp_path, "pass")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_quiet_prints_one_line_per_failure_and_exits_1(tmp_path):
    proc, _ = run_fake(tmp_path, "fail")
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == ["FAIL system.fake-a: fake A is broken", "FAIL system.fake-b: fake B is broken too"]


def test_warnings_pass_unless_strict(tmp_path):
    proc, _ = run_fake(tmp_path, "warn")
    assert (proc.returncode, proc.stdout) == (0, "")
    proc, _ = run_fake(tmp_path, "warn", "--strict")
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == ["WARN system.fake-b: fake B is slow"]


def test_a_probe_that_never_returns_ends_at_the_timeout_as_an_error(tmp_path):
    proc, elapsed = run_fake(tmp_path, "hang-probe", "--timeout", "3", "--strict")
    assert elapsed < 3 + 4, elapsed
    assert proc.returncode == 1
    assert [line.split(":")[0] for line in proc.stdout.splitlines()] == ["ERROR system.fake-a", "ERROR system.fake-b"]


def test_a_check_that_never_returns_is_ended_by_the_watchdog(tmp_path):
    proc, elapsed = run_fake(tmp_path, "hang-check", "--timeout", "2")
    assert elapsed < 2 + 4, elapsed
    assert proc.returncode == 1
    assert "did not finish within 2 s" in proc.stderr


def test_live_check_with_a_hanging_nvidia_smi_ends_within_the_timeout(tmp_path):
    # A stand-in nvidia-smi that ignores SIGTERM and never answers, as a hung driver does. Whatever the probes do
    # with it, the whole check must end within --timeout plus the watchdog's grace.
    if BASH is None:
        pytest.skip("bash not installed")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for name in ("nvidia-smi", "nvidia-debugdump"):
        tool = fake_bin / name
        tool.write_text("#!/bin/bash\ntrap '' TERM INT\nwhile :; do sleep 1; done\n")
        tool.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}"}
    argv = [sys.executable, "-m", "tfdoctor", "check", "--quiet", "--require-gpu", "--no-tf", "--timeout", "4"]
    proc, elapsed = run_bounded(argv, env, timeout=60)
    assert elapsed < 4 + 4, elapsed
    # A node whose GPU could not be checked must not pass a health check: with --require-gpu, the GPU, driver and
    # NVML findings of a timed-out probe are failures.
    assert proc.returncode == 1
    assert "nvml.init" in proc.stdout, proc.stdout
    # ...and the stand-in, which ignores SIGTERM in a session of its own, does not outlive tfdoctor (every run of
    # this suite used to leave one behind).
    assert leftovers(fake_bin) == []


def leftovers(marker, grace_s: float = 3.0) -> list:
    """Processes whose command line mentions `marker` (a test's tmp path), after a grace for the kill to land."""
    import psutil

    end = time.monotonic() + grace_s
    while True:
        alive = []
        for p in psutil.process_iter(["cmdline", "status"]):
            cmd = " ".join(p.info["cmdline"] or ())
            if str(marker) in cmd and p.info["status"] != psutil.STATUS_ZOMBIE:
                alive.append(cmd)
        if not alive or time.monotonic() > end:
            return alive
        time.sleep(0.1)


@pytest.mark.parametrize("name", ["no-nvidia-gpu", "gpu-fell-off-bus", "healthy-single-gpu"])
def test_replayed_snapshots_print_exactly_their_failed_findings(name):
    snapshot = SNAPSHOTS / name
    if not (snapshot / "manifest.json").exists():
        pytest.skip("snapshot fixture not present")
    base = [sys.executable, "-m", "tfdoctor", "check", "--require-gpu", "--from", str(snapshot)]
    quiet = subprocess.run([*base, "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    report = json.loads(subprocess.run([*base, "--json"], cwd=ROOT, capture_output=True, text=True,
                                       timeout=60).stdout)
    failed = [f for f in report["findings"] if f["status"] == "fail"]
    assert quiet.returncode == (1 if failed else 0) == report["summary"]["exit_code"]
    lines = quiet.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [f"FAIL {f['id']}" for f in failed]
    for line, f in zip(lines, failed, strict=True):
        assert f["summary"] in line
        assert (f"(caused by {f['caused_by']})" in line) == bool(f["caused_by"])


# --- the Slurm example, run with stand-ins ---------------------------------------------------------------------

SCONTROL = textwrap.dedent('''\
    #!{python}
    # Stand-in scontrol: `show node` prints a real published output with the Reason line this state gives;
    # `update` records the call. State lives in $SCONTROL_STATE (json).
    import json, os, sys
    path = os.environ["SCONTROL_STATE"]
    state = json.load(open(path))
    args = sys.argv[1:]
    state["calls"].append(args)
    if args[:2] == ["show", "node"]:
        lines = []
        for line in open({show!r}).read().splitlines():
            if line.strip().startswith("Reason="):
                if state["reason"]:
                    lines.append("   Reason=" + state["reason"] + " [root@2024-12-02T10:32:49]")
            else:
                lines.append(line)
        print("\\n".join(lines))
    elif args[:1] == ["update"]:
        kv = dict(a.split("=", 1) for a in args[1:])
        state["reason"] = None if kv.get("State") == "RESUME" else kv.get("Reason")
    json.dump(state, open(path, "w"))
''')

FAKE_CLI = '#!/bin/bash\necho "$@" >> "$FAKE_ARGS"\nprintf "%s" "$FAKE_OUT"\nprintf "%s" "$FAKE_ERR" >&2\nexit "$FAKE_RC"\n'


def run_slurm_script(tmp_path: Path, *, out="", err="", rc=0, reason=None, real_snapshot=None):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "scontrol").write_text(SCONTROL.format(python=sys.executable,
                                                      show=str(ROOT / "tests/fixtures/slurm/scontrol-show-node-down.txt")))
    # with real_snapshot: the real tfdoctor, replaying a snapshot instead of reading this machine
    cli = f'#!/bin/bash\nexec {sys.executable} -m tfdoctor "$@" --from {real_snapshot}\n' if real_snapshot else FAKE_CLI
    (bin_dir / "tfdoctor").write_text(cli)
    (bin_dir / "logger").write_text("#!/bin/bash\nexit 0\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    state = tmp_path / "scontrol.json"
    state.write_text(json.dumps({"reason": reason, "calls": []}))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SCONTROL_STATE": str(state),
           "SLURMD_NODENAME": "slurmw2", "FAKE_OUT": out, "FAKE_ERR": err, "FAKE_RC": str(rc),
           "FAKE_ARGS": str(tmp_path / "args"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([BASH, str(SLURM_SCRIPT)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=90)
    return proc, json.loads(state.read_text())


needs_bash = pytest.mark.skipif(BASH is None, reason="bash not installed")


@needs_bash
def test_slurm_script_drains_with_the_first_failure_as_reason(tmp_path):
    out = "FAIL driver.nvidia-module: The nvidia kernel module is not loaded\nFAIL nvml.init: NVML cannot start " \
          "(caused by driver.nvidia-module)\n"
    proc, state = run_slurm_script(tmp_path, out=out, rc=1)
    assert proc.returncode == 1
    updates = [c for c in state["calls"] if c[0] == "update"]
    assert updates == [["update", "NodeName=slurmw2", "State=DRAIN",
                        "Reason=tfdoctor: FAIL driver.nvidia-module: The nvidia kernel module is not loaded"]]
    assert (tmp_path / "args").read_text().split() == ["check", "--quiet", "--require-gpu", "--no-tf", "--timeout",
                                                       "45"]


@needs_bash
def test_slurm_script_drains_a_hung_check_with_the_watchdog_line(tmp_path):
    err = "tfdoctor: the check did not finish within 45 s (--timeout); a driver call may be hung\n"
    proc, state = run_slurm_script(tmp_path, err=err, rc=1)
    assert state["reason"] == "tfdoctor: " + err.strip()


@needs_bash
def test_slurm_script_resumes_only_nodes_it_drained(tmp_path):
    proc, state = run_slurm_script(tmp_path, rc=0, reason="tfdoctor: FAIL gpu.x: gone")
    assert proc.returncode == 0 and state["reason"] is None
    assert ["update", "NodeName=slurmw2", "State=RESUME"] in state["calls"]


@needs_bash
def test_slurm_script_leaves_a_reason_a_person_set(tmp_path):
    proc, state = run_slurm_script(tmp_path, rc=0, reason="Not responding")
    assert not [c for c in state["calls"] if c[0] == "update"]
    proc, state = run_slurm_script(tmp_path, out="FAIL gpu.x: gone\n", rc=1, reason="replacing fans -- bob")
    assert proc.returncode == 1
    assert not [c for c in state["calls"] if c[0] == "update"]
    assert state["reason"] == "replacing fans -- bob"


@needs_bash
def test_slurm_script_does_not_drain_when_tfdoctor_itself_breaks(tmp_path):
    proc, state = run_slurm_script(tmp_path, err="tfdoctor: internal error: boom\n", rc=2)
    assert proc.returncode == 0
    assert not [c for c in state["calls"] if c[0] == "update"]


@needs_bash
def test_slurm_script_with_the_real_tfdoctor_drains_a_node_without_gpu(tmp_path):
    snapshot = SNAPSHOTS / "no-nvidia-gpu"
    if not snapshot.exists():
        pytest.skip("snapshot fixture not present")
    proc, state = run_slurm_script(tmp_path, real_snapshot=snapshot)
    assert proc.returncode == 1, proc.stderr
    assert state["reason"].startswith("tfdoctor: FAIL ")
    direct = subprocess.run([sys.executable, "-m", "tfdoctor", "check", "--quiet", "--require-gpu", "--no-tf",
                             "--from", str(snapshot)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert state["reason"] == "tfdoctor: " + direct.stdout.splitlines()[0][:200]
