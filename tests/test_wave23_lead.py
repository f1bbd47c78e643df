"""Wave 23 (stop 21), the lead's own: nvidia-smi's MIG mode change that a GPU client blocks. Every message line below
is a real line from the public thread named beside it; the snapshots around them are hand-built in tmp_path (a state
synthesised for the test, as docs/snapshot-format.md describes)."""

from __future__ import annotations

from pathlib import Path

from tests.test_stated_evidence import _check, _snapshot

# NVIDIA/gpu-operator#118: nvidia-persistenced held the GPU, so the pending MIG disable could not be applied
PENDING_DISABLE = ("Warning: MIG mode is in pending disable state for GPU 00000000:C1:00.0:In use by another client\n"
                   "00000000:C1:00.0 is currently being used by one or more other processes (e.g. CUDA application or a "
                   "monitoring application such as another instance of nvidia-smi). Please first kill all processes "
                   "using the device and retry the command or reboot the system to make MIG mode effective.\n"
                   "All done.\n")
# NVIDIA/gpu-operator#1845: the same for enabling MIG on an A100
PENDING_ENABLE = "Warning: MIG mode is in pending enable state for GPU 00000001:00:00.0:In use by another client\n"
# the reset refused on its own says nothing of MIG (gpu-operator#118's second command)
RESET_REFUSED = "GPU 00000000:C1:00.0 is currently in use by another process.\n"


def test_a_pending_mig_change_that_a_client_blocks_is_the_diagnosis(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/nvidia-smi_-mig_DISABLED": PENDING_DISABLE}))
    f = report.get("gpu.mig")
    assert f.status.value == "warn" and "disable MIG" in f.summary and "old MIG mode" in f.summary
    assert f.evidence and "pending disable" in f.evidence[0].line
    assert "sudo systemctl stop nvidia-persistenced" in f.fix.commands and "sudo nvidia-smi -r" in f.fix.commands
    assert report.root_cause is None or report.root_cause.id == "gpu.mig"
    # no machine text (the bus id) in any command
    assert not any("C1:00" in c for c in (*f.fix.commands, *f.fix.verify))


def test_the_enable_form_names_the_change_it_waits_for(tmp_path):
    f = _check(_snapshot(tmp_path, {"commands/pasted-text": PENDING_ENABLE})).get("gpu.mig")
    assert f.status.value == "warn" and "enable MIG" in f.summary


def test_a_refused_reset_alone_is_not_read_as_mig(tmp_path):
    f = _check(_snapshot(tmp_path, {"commands/nvidia-smi_--gpu-reset": RESET_REFUSED})).get("gpu.mig")
    assert f.status.value != "warn"


def test_a_pasted_nvidia_smi_command_other_than_the_table_is_read_for_its_messages():
    from tfdoctor.triage import triage_text

    result = triage_text("$ nvidia-smi -mig DISABLED\n" + PENDING_DISABLE)
    assert result.report.get("gpu.mig").status.value == "warn"
    assert any(r.target == "commands/nvidia-smi_-mig_DISABLED" for r in result.recognised)



# NVIDIA/nccl#1488: the Fabric Manager stopped and started again without a GPU reset; NCCL's NVLS set-up fails
NVLS = ("node23:12098:12141 [2] transport/nvls.cc:244 NCCL WARN Cuda failure 1 'invalid argument'\n"
        "node23:12098:12141 [2] NCCL INFO transport/nvls.cc:394 -> 1\n")
# NVIDIA/nccl-tests#276: the same on an H200, code 999 (the line as posted, its closing quote lost)
NVLS_999 = "gpu47:4962:5097 [1] transport/nvls.cc:223 NCCL WARN Cuda failure 999 'unknown error\n"
# ray-project/ray_lightning#24: NCCL's P2P transport failing (two GPUs without peer access): not NVLS, says nothing of
# the fabric
P2P = ("z-pc:909608:910337 [0] transport/p2p.cc:238 NCCL WARN failed to open CUDA IPC handle : 217 peer access is not "
       "supported between these two devices\n")


def test_nccl_failing_to_set_up_nvls_is_the_fabric_restarted_without_a_reset(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": NVLS}))
    f = report.get("gpu.fabric")
    assert f.status.value == "fail" and report.root_cause.id == "gpu.fabric"
    assert "NVLS" in f.summary and "without a GPU reset" in f.summary
    assert f.fix.commands == ("sudo systemctl stop nvidia-fabricmanager", "sudo nvidia-smi -r",
                              "sudo systemctl start nvidia-fabricmanager")
    assert any("NCCL_NVLS_ENABLE=0" in c for a in f.fix.alternatives for c in a.commands)
    assert len(f.details) == 1  # the line once, though it is evidence of two beliefs


def test_the_nvls_line_with_an_unknown_error_is_read_too(tmp_path):
    assert _check(_snapshot(tmp_path, {"commands/pasted-text": NVLS_999})).get("gpu.fabric").status.value == "fail"


def test_another_nccl_transport_failing_is_not_read_as_the_fabric(tmp_path):
    assert _check(_snapshot(tmp_path, {"commands/pasted-text": P2P})).get("gpu.fabric").status.value != "fail"


# Crosstalk-Solutions/project-nomad#735: the hook ran and found no NVML on a host without a working driver
CLI_NO_NVML = ("failed to create task for container: failed to create shim task: OCI runtime create failed: runc create "
               "failed: unable to start container process: error during container init: error running prestart hook "
               "#0: exit status 1, stdout: , stderr: Auto-detected mode as 'legacy' nvidia-container-cli: "
               "initialization error: load library failed: libnvidia-ml.so.1: cannot open shared object file: no such "
               "file or directory\n")
UBUNTU = 'NAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\nID_LIKE=debian\n'  # /etc/os-release's own fields


def test_the_hook_finding_no_nvml_is_no_host_driver_or_a_snapped_docker_not_a_missing_toolkit(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": CLI_NO_NVML, "files/etc/os-release": UBUNTU}))
    f = report.get("env.container")
    assert f.status.value == "fail" and report.root_cause.id == "env.container"
    assert "hook ran" in f.summary and "no working NVIDIA driver" in f.summary and "snap" in f.summary
    assert "Toolkit is missing" not in f.summary
    assert f.fix.commands[-1] == "sudo reboot"  # the driver's install, for this distribution
    assert any("sudo snap remove docker" in a.commands for a in f.fix.alternatives)


def test_with_the_host_driver_answering_the_snapped_docker_is_what_is_left(tmp_path):
    smi = (Path(__file__).parent / "fixtures" / "snapshots" / "healthy-single-gpu" / "commands" / "nvidia-smi").read_text()
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": CLI_NO_NVML, "commands/nvidia-smi": smi,
                                         "files/etc/os-release": UBUNTU}))
    f = report.get("env.container")
    assert f.status.value == "fail" and "driver answers on the host" in f.summary
    assert f.fix.commands[:2] == ("sudo snap remove docker", "sudo apt install docker.io")


# canonical/nvidia-prime#20 (and most pastes of all): nvidia-smi is there, the module is not loaded
SMI_NO_DRIVER = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest "
                 "NVIDIA driver is installed and running.\n")



def test_a_module_not_loaded_offers_ubuntus_prime_profile_as_an_alternative(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/nvidia-smi": SMI_NO_DRIVER, "commands/nvidia-smi.rc": "9\n",
                                         "files/etc/os-release": UBUNTU}))
    f = report.get("driver.nvidia-module")
    assert f.status.value == "fail" and report.root_cause.id == "driver.nvidia-module"
    assert f.fix.commands[-1] == "sudo reboot"  # installing the driver stays the first fix (nvidia-utils alone
    # gives nvidia-smi without a driver)
    assert any(a.commands == ("sudo prime-select nvidia", "sudo reboot") for a in f.fix.alternatives)


def test_no_prime_alternative_off_ubuntu(tmp_path):
    fedora = 'NAME="Fedora Linux"\nVERSION_ID=40\nID=fedora\n'  # /etc/os-release's own fields
    report = _check(_snapshot(tmp_path, {"commands/nvidia-smi": SMI_NO_DRIVER, "commands/nvidia-smi.rc": "9\n",
                                         "files/etc/os-release": fedora}))
    f = report.get("driver.nvidia-module")
    assert not any("prime-select" in c for a in f.fix.alternatives for c in a.commands)
