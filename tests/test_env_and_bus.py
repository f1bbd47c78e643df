"""The interpreter's virtualenv and PEP 668 state, the PCI bus read from sysfs without lspci, and container advice
only when the host has a GPU to give."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import SNAPSHOTS, FakeHost
from tfdoctor.api import raw_check
from tfdoctor.host import LiveHost, open_snapshot
from tfdoctor.model import Status
from tfdoctor.probes import ProbeContext, ProbeOptions
from tfdoctor.probes.env import PYTHON_INFO, probe_env, virtualenv_of
from tfdoctor.probes.pci import probe_pci

NO_LSPCI = SNAPSHOTS / "container-no-lspci-cpu-only"


def _info(python: str) -> dict:
    out = subprocess.run([python, "-I", "-S", "-c", PYTHON_INFO], capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout)


def test_a_venv_is_found_although_the_probe_runs_the_interpreter_without_site(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    info = _info(str(venv / "bin" / "python"))
    assert info["prefix"] == info["base_prefix"]  # what -S gives: the reason "(no virtualenv)" was wrong
    assert info["venv"] == str(venv) and info["externally_managed"] is False
    facts = probe_env(LiveHost(), ProbeContext(ProbeOptions(python=str(venv / "bin" / "python"))))
    assert facts.python.virtualenv == str(venv)


@pytest.mark.skipif(not os.path.exists("/usr/bin/python3"), reason="no system python3 here")
def test_a_system_interpreter_reports_whether_the_distribution_manages_it():
    info = _info("/usr/bin/python3")
    marker = subprocess.run(["/usr/bin/python3", "-I", "-S", "-c",
                             "import sysconfig,os;print(os.path.join(sysconfig.get_path('stdlib'),"
                             "'EXTERNALLY-MANAGED'))"], capture_output=True, text=True, timeout=60).stdout.strip()
    assert info["venv"] is None and info["externally_managed"] is os.path.exists(marker)


def test_the_current_interpreter_is_not_a_venv_unless_it_is():
    info = _info(sys.executable)
    assert (info["venv"] is not None) == (sys.prefix != sys.base_prefix)
    expected = (sys.prefix == sys.base_prefix
                and os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")))
    assert info["externally_managed"] is expected


@pytest.mark.parametrize(("info", "activated", "conda", "venv"), [
    ({"prefix": "/p/.venv", "base_prefix": "/usr"}, None, None, "/p/.venv"),  # an old snapshot's answer
    ({"prefix": "/usr", "base_prefix": "/usr", "venv": None, "executable": "/p/.venv/bin/python"}, "/p/.venv", None,
     "/p/.venv"),
    ({"prefix": "/opt/conda/envs/tf", "base_prefix": "/opt/conda/envs/tf", "executable":
      "/opt/conda/envs/tf/bin/python"}, None, "/opt/conda/envs/tf", "/opt/conda/envs/tf"),
    ({"prefix": "/usr", "base_prefix": "/usr", "executable": "/usr/bin/python3"}, "/p/.venv", None, None),
])
def test_virtualenv_of_reads_every_answer(info, activated, conda, venv):
    assert virtualenv_of(info, activated, conda) == venv


def test_system_python_says_virtualenv_in_a_venv(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    report = raw_check(LiveHost(), no_tf=True, python=str(venv / "bin" / "python"), only=("system.python",))
    f = report.get("system.python")
    assert f.status == Status.OK and f"virtualenv {venv}" in f.summary and "no virtualenv" not in f.summary


def test_without_lspci_the_bus_is_read_from_sysfs_and_holds_no_gpu():
    report = raw_check(open_snapshot(str(NO_LSPCI)))
    pci = report.facts["pci"]
    assert pci.source == "sysfs" and pci.lspci == "missing" and pci.devices == ()
    gpu = report.get("pci.nvidia-gpu")
    assert gpu.status == Status.INFO and gpu.summary.startswith("No NVIDIA GPU on the PCI bus")
    container = report.get("env.container")
    assert container.status == Status.INFO and container.fix is None
    assert report.exit_code() == 0


def test_a_required_gpu_on_a_bus_without_one_is_a_gpu_failure_not_container_advice():
    report = raw_check(open_snapshot(str(NO_LSPCI)), require_gpu=True)
    assert report.get("pci.nvidia-gpu").status == Status.FAIL and report.root_cause.id == "pci.nvidia-gpu"
    container = report.get("env.container")
    assert container.status == Status.INFO and container.fix is None


def test_a_bus_with_only_other_devices_is_read():
    host = FakeHost(files={"/sys/bus/pci/devices/0000:00:03.0/class": "0x020000\n"})
    facts = probe_pci(host, ProbeContext(ProbeOptions()))
    assert facts.source == "sysfs" and facts.nvidia_devices == ()
    assert probe_pci(FakeHost(), ProbeContext(ProbeOptions())).source == "none"  # nothing readable: unknown


def _without_sysfs(tmp_path: Path) -> str:
    """The same recording with the PCI bus unreadable (/sys masked, as hardened container runtimes do)."""
    dest = tmp_path / "snap"
    shutil.copytree(NO_LSPCI, dest)
    shutil.rmtree(dest / "files" / "sys")
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest["listings"].pop("/sys/bus/pci/devices")
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return str(dest)


def test_no_container_advice_when_nothing_shows_the_host_has_a_gpu(tmp_path):
    snap = _without_sysfs(tmp_path)
    report = raw_check(open_snapshot(snap), snapshot=snap)
    assert report.facts["pci"].source == "none"
    container = report.get("env.container")
    assert container.status == Status.INFO and container.fix is None, container
    assert "nothing shows the host has one" in container.summary
    # asked for a GPU, the same container is told how to get one
    strict = raw_check(open_snapshot(snap), snapshot=snap, require_gpu=True)
    fix = strict.get("env.container").fix
    assert strict.get("env.container").status == Status.FAIL and "--gpus all" in fix.summary
    assert fix.verify == ("docker run --rm --gpus all nvidia/cuda:12.5.1-base-ubuntu22.04 nvidia-smi",)


def test_the_container_advice_stays_where_a_pasted_log_shows_a_gpu_was_wanted():
    report = raw_check(open_snapshot(str(SNAPSHOTS / "container-no-dev-nvidia")))
    f = report.get("env.container")
    assert f.status == Status.WARN and f.fix is not None
