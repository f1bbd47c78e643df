"""The shipped Slurm health check (docs/examples/slurm-healthcheck.sh) against a real one-node Slurm cluster.

munged, slurmctld and slurmd (Debian's packages, installed by .ci/run) are started by hand on 127.0.0.1 in a
temporary directory, with HealthCheckProgram set to the shipped script and HealthCheckInterval=2. The script runs
the real tfdoctor, which replays a snapshot chosen by the test: a node without an NVIDIA GPU (a failure with
--require-gpu), then a healthy one. slurmd itself runs the script, and the test reads the node's state back with
the real scontrol. Where the daemons cannot start here, the test is skipped with the reason."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from tests.daemons import Daemons, free_port, log_tail, require, wait_for

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "docs/examples/slurm-healthcheck.sh"
FAILING = ROOT / "tests/fixtures/snapshots/no-nvidia-gpu"
PASSING = ROOT / "tests/fixtures/snapshots/healthy-single-gpu"
START_S = 30
ACT_S = 30

pytestmark = pytest.mark.timeout(180)


def _conf(d: Path, node: str, ctl_port: int, d_port: int, program: Path) -> str:
    return textwrap.dedent(f"""\
        ClusterName=tfdoctor-test
        SlurmctldHost={node}(127.0.0.1)
        SlurmctldPort={ctl_port}
        SlurmdPort={d_port}
        AuthType=auth/munge
        AuthInfo=socket={d}/munge.sock
        CredType=cred/munge
        StateSaveLocation={d}/state
        SlurmdSpoolDir={d}/spool
        SlurmctldPidFile={d}/slurmctld.pid
        SlurmdPidFile={d}/slurmd.pid
        SlurmctldLogFile={d}/slurmctld.log
        SlurmdLogFile={d}/slurmd.log
        SlurmUser=root
        SlurmdUser=root
        ProctrackType=proctrack/linuxproc
        TaskPlugin=task/none
        JobAcctGatherType=jobacct_gather/none
        MpiDefault=none
        ReturnToService=2
        HealthCheckProgram={program}
        HealthCheckInterval=2
        HealthCheckNodeState=ANY
        SchedulerType=sched/builtin
        SelectType=select/linear
        NodeName={node} NodeAddr=127.0.0.1 CPUs=1 State=UNKNOWN
        PartitionName=debug Nodes=ALL Default=YES State=UP
        """)


@pytest.fixture
def slurm():
    tools = require("munged", "slurmctld", "slurmd", "scontrol")
    if os.geteuid() != 0:
        pytest.skip("slurmd must run as root to run a HealthCheckProgram (CI runs as root)")
    node = subprocess.run(["hostname", "-s"], capture_output=True, text=True).stdout.strip()
    if not node:
        pytest.skip("this machine has no host name for Slurm's NodeName")
    d = Path(tempfile.mkdtemp(prefix="tfd-slurm-"))  # short: the munge socket path must fit in sun_path
    daemons = Daemons()
    try:
        for sub in ("state", "spool", "bin"):
            (d / sub).mkdir()
        key = d / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        mode = d / "mode"
        mode.write_text(str(FAILING))
        # The stand-in is the real tfdoctor; only --from is added, so that the test picks the machine state.
        tfdoctor = d / "bin/tfdoctor"
        tfdoctor.write_text(f'#!/bin/bash\nexport PYTHONPATH={ROOT}\n'
                            f'exec {sys.executable} -m tfdoctor "$@" --from "$(cat {mode})"\n')
        tfdoctor.chmod(0o755)
        program = d / "healthcheck"
        # slurmd starts each health check in a process group of its own: note it, to end it with the cluster
        program.write_text(f"#!/bin/bash\necho $$ >> {d}/healthcheck.pgids\n"
                           f"export SLURM_CONF={d}/slurm.conf TFDOCTOR={tfdoctor}\n"
                           f"echo \"ran $(date +%s) node=$SLURMD_NODENAME\" >> {d}/healthcheck.log\n"
                           f"exec /bin/bash {SCRIPT} >> {d}/healthcheck.log 2>&1\n")
        program.chmod(0o755)
        conf = d / "slurm.conf"
        conf.write_text(_conf(d, node, free_port(), free_port(), program))
        env = {**os.environ, "SLURM_CONF": str(conf)}

        munge_log = d / "munged.log"
        munged = daemons.start("munged", [tools["munged"], "--foreground", "--force", f"--key-file={key}",
                                          f"--socket={d}/munge.sock", f"--pid-file={d}/munged.pid",
                                          f"--log-file={munge_log}", f"--seed-file={d}/munge.seed"],
                               d / "munged.out", env)
        if not wait_for(lambda: (d / "munge.sock").exists() or munged.poll() is not None, 10) or munged.poll():
            daemons.check_alive("munged", munged, munge_log)
        ctl = daemons.start("slurmctld", [tools["slurmctld"], "-D", "-i", "-f", str(conf)], d / "slurmctld.out", env)
        slurmd = daemons.start("slurmd", [tools["slurmd"], "-D", "-f", str(conf)], d / "slurmd.out", env)

        def registered():
            for name, proc, log in (("slurmctld", ctl, d / "slurmctld.log"), ("slurmd", slurmd, d / "slurmd.log")):
                daemons.check_alive(name, proc, log)
            out = scontrol(env, "show", "node", node)
            return out if "State=" in out and "UNKNOWN" not in out and "NOT_RESPONDING" not in out else None

        if not wait_for(registered, START_S, 0.5):
            pytest.skip(f"the one-node Slurm cluster did not come up within {START_S} s: "
                        f"slurmctld: {log_tail(d / 'slurmctld.log', 4)}; slurmd: {log_tail(d / 'slurmd.log', 4)}")
        yield {"node": node, "env": env, "mode": mode, "dir": d}
    finally:
        daemons.stop()
        end_health_checks(d / "healthcheck.pgids")
        shutil.rmtree(d, ignore_errors=True)


def end_health_checks(pgids: Path) -> None:
    """A health check still running when slurmd stops (its scontrol retrying a stopped slurmctld) is ended."""
    try:
        groups = {int(line) for line in pgids.read_text().split() if line.isdigit()}
    except OSError:
        return
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


def scontrol(env, *args: str) -> str:
    proc = subprocess.run(["scontrol", *args], env=env, capture_output=True, text=True, timeout=20)
    return proc.stdout


def node_state(env, node) -> tuple[str, str | None]:
    out = scontrol(env, "show", "node", node)
    state = re.search(r"\bState=(\S+)", out)
    reason = re.search(r"^\s*Reason=(.*) \[[^]]*\]\s*$", out, re.M)
    return (state.group(1) if state else ""), (reason.group(1) if reason else None)


def test_real_slurm_drains_a_failing_node_with_tfdoctors_reason_and_resumes_it(slurm):
    env, node = slurm["env"], slurm["node"]
    expected = subprocess.run([sys.executable, "-m", "tfdoctor", "check", "--quiet", "--require-gpu", "--no-tf",
                               "--from", str(FAILING)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert expected.returncode == 1, expected.stderr
    reason = "tfdoctor: " + expected.stdout.splitlines()[0][:200]

    # 1. slurmd runs the health check, tfdoctor fails: the node is drained with tfdoctor's one-line reason.
    drained = wait_for(lambda: (s := node_state(env, node)) and "DRAIN" in s[0] and s[1] and s, ACT_S, 0.5)
    log = (slurm["dir"] / "healthcheck.log").read_text(errors="replace")
    assert drained, f"not drained within {ACT_S} s: {node_state(env, node)}; health check log: {log[-800:]}"
    assert drained[1] == reason
    assert f"node={node}" in log  # slurmd itself ran the shipped script, with SLURMD_NODENAME set

    # 2. the machine is repaired: the next health check resumes the node and clears the reason.
    slurm["mode"].write_text(str(PASSING))
    resumed = wait_for(lambda: (s := node_state(env, node)) and "DRAIN" not in s[0] and s, ACT_S, 0.5)
    assert resumed, f"not resumed within {ACT_S} s: {node_state(env, node)}"
    assert resumed[1] is None

    # 3. a reason a person set is left alone by a passing check.
    scontrol(env, "update", f"NodeName={node}", "State=DRAIN", "Reason=replacing fans -- bob")
    assert wait_for(lambda: node_state(env, node)[1] == "replacing fans -- bob", 10, 0.5)
    runs = (slurm["dir"] / "healthcheck.log").read_text().count("ran ")
    assert wait_for(lambda: (slurm["dir"] / "healthcheck.log").read_text().count("ran ") >= runs + 2, 20, 0.5)
    state, kept = node_state(env, node)
    assert "DRAIN" in state and kept == "replacing fans -- bob"
