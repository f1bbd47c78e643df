"""The driver-API child (run for real on this machine, which has no libcuda), its record, and the cuda.* findings
over recorded child documents (tests/fixtures/cuda, see its SOURCE.md) replayed through snapshots."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from tfdoctor.child import cuda_probe
from tfdoctor.child.runner import CHILD_DIR
from tfdoctor.cli import run_check
from tfdoctor.model import Status
from tfdoctor.probes.cuda import CudaFacts, driver_version_string, facts_from_record
from tfdoctor.probes.cuda_record import collect_live

CUDA = FIXTURES / "cuda"


def record(name: str) -> dict:
    return json.loads((CUDA / name).read_text())


# -- the child, for real --------------------------------------------------------------------------------------------


def test_child_without_libcuda_says_so_and_stops_before_cuinit():
    rec = collect_live(None, 20)
    assert rec["ended"]["how"] == "ok" and rec["ended"]["python"] == sys.executable
    result = rec["result"]
    assert result["libcuda"]["loaded"] is False and "libcuda.so.1" in result["libcuda"]["error"]
    assert "init" not in result and "libraries" not in result  # returned at once: no cuInit, no library loads
    facts = facts_from_record(rec)
    assert facts.source == "child" and facts.libcuda_loaded is False and facts.init_rc is None


def test_child_under_a_missing_interpreter_is_a_fact_not_a_crash(tmp_path):
    facts = facts_from_record(collect_live(str(tmp_path / "no-python"), 5))
    assert facts.source == "none" and "interpreter" in facts.problem and "not found" in facts.problem


def test_the_tensorflow_child_records_the_same_driver_api_facts():
    spec = importlib.util.spec_from_file_location("tf_probe_under_test", CHILD_DIR / "tf_probe.py")
    tf_probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tf_probe)
    out = tf_probe.driver_api()  # what the TensorFlow child adds after TensorFlow initialised CUDA
    assert out["probe"] == "tfdoctor.cuda_probe" and out["libcuda"]["loaded"] is False


def test_libraries_are_found_where_tensorflows_loader_looks_first(tmp_path):
    """LD_LIBRARY_PATH before the pip folders before the system, with a real shared object standing in by name."""
    import _ctypes

    first, pip = tmp_path / "ld", tmp_path / "pip"
    first.mkdir()
    pip.mkdir()
    for d in (first, pip):
        os.symlink(_ctypes.__file__, d / "libcudnn.so.9")
    lib, soname, where, error = cuda_probe.load_library(("libcudnn.so.9",), [str(first)], [str(pip)])
    assert lib is not None and soname == "libcudnn.so.9" and where == "LD_LIBRARY_PATH" and error is None
    (first / "libcudnn.so.9").unlink()
    assert cuda_probe.load_library(("libcudnn.so.9",), [str(first)], [str(pip)])[2] == "pip"
    (pip / "libcudnn.so.9").unlink()
    lib, soname, where, error = cuda_probe.load_library(("libcudnn.so.9",), [str(first)], [str(pip)])
    assert lib is None and "libcudnn.so.9" in error


def test_version_numbers_decode_as_the_libraries_define_them():
    assert cuda_probe._version_cudnn(90300) == "9.3.0"  # cuDNN 9: major*10000 + minor*100 + patch
    assert cuda_probe._version_cudnn(8907) == "8.9.7"  # cuDNN <= 8: major*1000 + minor*100 + patch
    assert cuda_probe._version_cublaslt(120503) == "12.5.3"
    assert driver_version_string(12040) == "12.4" and driver_version_string(11020) == "11.2"
    assert driver_version_string(None) is None and driver_version_string(-1) is None


def test_device_nodes_and_groups_are_read_without_a_gpu():
    out = cuda_probe.device_nodes()
    assert out == {} or all(k.startswith("nvidia") for k in out)


# -- records ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.name for p in CUDA.glob("*.json")))
def test_every_recorded_document_becomes_facts(name):
    facts = facts_from_record(record(name))
    assert isinstance(facts, CudaFacts)
    if name != "timeout.json":
        assert facts.source == "child" and facts.libcuda_loaded is True and facts.init_rc is not None


def test_facts_name_the_library_kinds_from_their_paths():
    assert facts_from_record(record("stub-libcuda-34.json")).libcuda_kind == "stub"
    compat = facts_from_record(record("geforce-compat-804.json"))
    assert compat.libcuda_kind == "compat" and compat.libcuda_file_version == "550.54.15"
    ok = facts_from_record(record("rtx4090-pip-wheels-ok.json"))
    assert ok.libcuda_kind == "driver" and ok.library("cudnn").version == "9.3.0" and ok.library("cudnn").source == "pip"


@pytest.mark.parametrize("junk", [None, [], "x", {"ended": "x"}, {"ended": {}, "result": []},
                                  {"result": {"libcuda": "x", "init": 3, "devices": {"a": 1}, "device_nodes": []}}])
def test_malformed_records_never_raise(junk):
    assert isinstance(facts_from_record(junk), CudaFacts)


# -- findings, through a replayed snapshot ------------------------------------------------------------------------

OS_RELEASE = 'ID=ubuntu\nVERSION_ID="22.04"\nPRETTY_NAME="Ubuntu 22.04.4 LTS"\n'


def proc_version(v: str) -> str:
    return f"NVRM version: NVIDIA UNIX x86_64 Kernel Module  {v}  Tue Mar  5 22:23:56 UTC 2024\n"


def snapshot(tmp_path: Path, cuda: str | dict | None = None, files=None, commands=None, env=None, exists=None,
             source="recorded") -> Path:
    root = tmp_path / "snap"
    root.mkdir()
    (root / "manifest.json").write_text(json.dumps({"format": "tfdoctor-snapshot", "version": 1, "source": source,
                                                    "exists": exists or {}}))
    if cuda is not None:
        (root / "cuda.json").write_text(json.dumps(record(cuda) if isinstance(cuda, str) else cuda))
    for path, text in (files or {}).items():
        target = root / "files" / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    for key, (rc, out) in (commands or {}).items():
        (root / "commands").mkdir(exist_ok=True)
        (root / "commands" / key).write_text(out)
        if rc:
            (root / "commands" / f"{key}.rc").write_text(str(rc))
    (root / "env.json").write_text(json.dumps(env or {}))
    return root


def modules(*names: str) -> str:
    return "".join(f"{n} 1 0 - Live 0x0000000000000000\n" for n in names)


def check(path: Path, *ids: str):
    report = run_check(from_=str(path), deadline_s=30, only=ids)
    return report


def test_cuinit_names_the_code_and_the_fabric_manager_is_the_root_cause(tmp_path):
    # An HGX H100 node: the NVSwitch at 0000:07:00.0 as `lspci -Dnn` prints it ("GH100 [H100 NVSwitch]
    # [10de:22a3]", a public RHEL 9.4 setup note), the Fabric Manager installed but inactive, cuInit -> 802.
    snap = snapshot(tmp_path, "h100-hgx-802.json",
                    files={"/proc/modules": modules("nvidia_uvm", "nvidia"), "/etc/os-release": OS_RELEASE,
                           "/proc/driver/nvidia/version": proc_version("545.23.08")},
                    commands={"lspci_-nnk": (0, "0000:07:00.0 Bridge [0680]: NVIDIA Corporation GH100 [H100 NVSwitch] "
                                                "[10de:22a3] (rev a1)\n"),
                              "systemctl_is-active_nvidia-fabricmanager": (3, "inactive\n")},
                    exists={"/usr/bin/nv-fabricmanager": True})
    report = check(snap)
    init, fabric = report.get("cuda.init"), report.get("gpu.fabric")
    assert init.status is Status.FAIL and "CUDA_ERROR_SYSTEM_NOT_READY (802)" in init.summary
    assert fabric.status is Status.FAIL and report.root_cause.id == "gpu.fabric"
    assert init.caused_by == "gpu.fabric"
    assert fabric.fix.commands == ("sudo apt install nvidia-fabricmanager-545",
                                   "sudo systemctl enable --now nvidia-fabricmanager") or \
        fabric.fix.commands[-1] == "sudo systemctl enable --now nvidia-fabricmanager"
    assert "systemctl is-active nvidia-fabricmanager" in fabric.fix.verify
    assert any("inactive" in d for d in fabric.details)


def test_uvm_not_loaded_explains_cuda_error_unknown(tmp_path):
    snap = snapshot(tmp_path, "uvm-missing-999.json",
                    files={"/proc/modules": modules("nvidia_drm", "nvidia_modeset", "nvidia"),
                           "/proc/driver/nvidia/version": proc_version("430.50")})
    report = check(snap)
    nodes, init = report.get("cuda.device-nodes"), report.get("cuda.init")
    assert nodes.status is Status.FAIL and "nvidia_uvm" in nodes.summary
    assert nodes.fix.commands[0] == "sudo modprobe nvidia-uvm" and "ls -l /dev/nvidia-uvm" in nodes.fix.verify
    assert init.status is Status.FAIL and "CUDA_ERROR_UNKNOWN (999)" in init.summary
    assert init.caused_by == "cuda.device-nodes"


def test_a_user_outside_the_device_group_is_told_to_join_it(tmp_path):
    snap = snapshot(tmp_path, "nodes-group-video.json",
                    files={"/proc/modules": modules("nvidia_uvm", "nvidia"),
                           "/proc/driver/nvidia/version": proc_version("535.129.03")})
    f = check(snap, "cuda.device-nodes").get("cuda.device-nodes")
    assert f.status is Status.FAIL and "/dev/nvidiactl" in f.summary
    assert f.fix.commands == ("sudo usermod -aG video $USER",) and "mode 0660, group video" in f.details[0]


def test_the_stub_libcuda_is_taken_off_ld_library_path(tmp_path):
    snap = snapshot(tmp_path, "stub-libcuda-34.json",
                    files={"/proc/modules": modules("nvidia_uvm", "nvidia"),
                           "/proc/driver/nvidia/version": proc_version("555.42.06")},
                    env={"LD_LIBRARY_PATH": "/usr/local/cuda-12.5/lib64/stubs:/usr/local/cuda-12.5/lib64"})
    report = check(snap)
    lib, init = report.get("cuda.libcuda"), report.get("cuda.init")
    assert lib.status is Status.FAIL and "stub" in lib.summary
    assert lib.fix.commands[0] == "export LD_LIBRARY_PATH=/usr/local/cuda-12.5/lib64"
    assert "sudo ldconfig" in lib.fix.commands
    assert init.status is Status.FAIL and "CUDA_ERROR_STUB_LIBRARY (34)" in init.summary
    assert init.caused_by == "cuda.libcuda"


def test_a_forward_compatibility_libcuda_on_a_geforce_names_the_driver_to_install(tmp_path):
    snap = snapshot(tmp_path, "geforce-compat-804.json",
                    files={"/proc/modules": modules("nvidia_uvm", "nvidia"), "/etc/os-release": OS_RELEASE,
                           "/proc/driver/nvidia/version": proc_version("525.147.05")})
    f = check(snap, "cuda.libcuda").get("cuda.libcuda")
    assert f.status is Status.FAIL and "550.54.15" in f.summary and "(804)" in f.summary
    assert f.fix.commands == ("grep -rn compat /etc/ld.so.conf /etc/ld.so.conf.d/", "sudo ldconfig")
    assert f.fix.alternatives[0].commands == ("sudo apt install nvidia-driver-550", "sudo reboot")


def test_a_libcuda_of_another_driver_version_fails(tmp_path):
    rec = record("rtx4090-pip-wheels-ok.json")
    snap = snapshot(tmp_path, rec, files={"/proc/modules": modules("nvidia_uvm", "nvidia"),
                                          "/etc/os-release": OS_RELEASE,
                                          "/proc/driver/nvidia/version": proc_version("550.67")})
    f = check(snap, "cuda.libcuda").get("cuda.libcuda")
    assert f.status is Status.FAIL and "550.54.15" in f.summary and "550.67" in f.summary
    assert "sudo apt install --reinstall libnvidia-compute-550" in f.fix.commands


def test_mig_without_instances_leaves_cuda_with_no_device(tmp_path):
    snap = snapshot(tmp_path, "a100-mig-no-instances.json",
                    files={"/proc/modules": modules("nvidia_uvm", "nvidia"),
                           "/proc/driver/nvidia/version": proc_version("550.127.08")})
    f = check(snap, "cuda.init").get("cuda.init")
    assert f.status is Status.FAIL and "sees no device" in f.summary
    assert "nvidia-smi -L" in f.fix.verify and "MIG enabled without instances" in f.fix.summary


VENV = {"python-info": (0, json.dumps({"version": "3.11.9", "executable": "/venv/bin/python", "prefix": "/venv",
                                       "base_prefix": "/usr"})),
        "python-site": (0, json.dumps({"site": ["/venv/lib/python3.11/site-packages"], "prefix": "/venv",
                                       "conda": False}))}


def site_with_tf(version="2.21.0") -> dict:
    return {f"/venv/lib/python3.11/site-packages/tensorflow-{version}.dist-info/METADATA": "Name: tensorflow\n"}


def test_healthy_driver_api_and_the_libraries_tensorflow_needs(tmp_path):
    snap = snapshot(tmp_path, "rtx4090-pip-wheels-ok.json",
                    files={"/proc/modules": modules("nvidia_uvm", "nvidia"),
                           "/proc/driver/nvidia/version": proc_version("550.54.15"), **site_with_tf()},
                    commands=VENV)
    report = check(snap)
    init, libs, lib = report.get("cuda.init"), report.get("cuda.libraries"), report.get("cuda.libcuda")
    assert init.status is Status.OK and "NVIDIA GeForce RTX 4090" in init.summary and "12.4 driver API" in init.summary
    assert lib.status is Status.OK
    assert libs.status is Status.OK and "cuDNN 9.3.0" in libs.summary and "TensorFlow 2.21.0" in libs.summary


def test_a_cudnn_older_than_tensorflows_build_fails_with_the_pinned_install(tmp_path):
    snap = snapshot(tmp_path, "cudnn91-ld-library-path.json",
                    files={"/proc/modules": modules("nvidia_uvm", "nvidia"),
                           "/proc/driver/nvidia/version": proc_version("550.54.15"), **site_with_tf()},
                    commands=VENV)
    f = check(snap, "cuda.libraries").get("cuda.libraries")
    assert f.status is Status.FAIL and "cuDNN 9.1.0 is older than the 9.3" in f.summary
    assert f.fix.commands == ("/venv/bin/python -m pip install 'tensorflow[and-cuda]==2.21.*'",)


def test_a_cuinit_that_never_returns_is_a_failure(tmp_path):
    snap = snapshot(tmp_path, "timeout.json", files={"/proc/modules": modules("nvidia_uvm", "nvidia")})
    f = check(snap, "cuda.init").get("cuda.init")
    assert f.status is Status.FAIL and "did not return" in f.summary


def test_old_snapshots_without_a_driver_api_record_skip_and_say_why(tmp_path):
    snap = snapshot(tmp_path, None, files={"/proc/modules": modules("nvidia")})
    f = check(snap, "cuda.init").get("cuda.init")
    assert f.status is Status.SKIP and "not recorded" in f.summary


@pytest.mark.parametrize("code", [3, 34, 46, 100, 101, 222, 303, 802, 803, 804, 999])
def test_every_code_is_named_from_the_sourced_table(code):
    from tfdoctor.checks.cuda import code_text
    from tfdoctor.knowledge.loader import cuda_error

    err = cuda_error(code)
    assert err is not None and err.source.startswith("NVIDIA CUDA Driver API")
    assert code_text(code).startswith(f"{err.name} ({code}): ")


def test_no_child_is_started_where_no_nvidia_gpu_can_be():
    from types import SimpleNamespace

    from tests.conftest import FakeHost
    from tfdoctor.probes import ProbeContext, ProbeOptions
    from tfdoctor.probes.cuda import probe_cuda

    class Counting(FakeHost):
        asked = 0

        def cuda(self, python, timeout):
            Counting.asked += 1
            return record("rtx4090-pip-wheels-ok.json")

    bare_bus = SimpleNamespace(source="sysfs", nvidia_devices=())
    facts = probe_cuda(Counting(), ProbeContext(ProbeOptions(), {"pci": bare_bus}))
    assert facts.source == "none" and "not asked" in facts.problem and Counting.asked == 0
    # a device node (a container's GPU, WSL2's /dev/dxg) or an unread bus: CUDA is asked
    for host, pci in ((Counting(files={"/dev/nvidiactl": ""}), bare_bus),
                      (Counting(), SimpleNamespace(source="none", nvidia_devices=()))):
        assert probe_cuda(host, ProbeContext(ProbeOptions(), {"pci": pci})).source == "child"
    assert Counting.asked == 2


def test_a_forward_compatibility_libcuda_on_debian_gets_debians_driver_not_ubuntus_package(tmp_path):
    # Debian has no nvidia-driver-<branch> packages: its driver is `nvidia-driver` (fixes.install_branch)
    debian = 'ID=debian\nVERSION_ID="12"\n'
    snap = snapshot(tmp_path, "geforce-compat-804.json",
                    files={"/proc/modules": modules("nvidia_uvm", "nvidia"), "/etc/os-release": debian,
                           "/proc/driver/nvidia/version": proc_version("525.147.05")})
    f = check(snap, "cuda.libcuda").get("cuda.libcuda")
    commands = f.fix.alternatives[0].commands
    assert commands and not any("nvidia-driver-5" in c for c in commands)
    assert any(c.startswith("sudo apt install") and "nvidia-driver" in c for c in commands)
