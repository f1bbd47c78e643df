"""States left behind and GPUs refused: a stale DKMS tree of an old NVIDIA version, device nodes numbered from 1, the
NVIDIA module refusing a GPU (no PCI memory region; a pre-Turing GPU offered to the open module), and a pasted
nvidia-smi whose 'other process' is the TensorFlow program itself. Every quoted line is from the public thread named
beside it; the snapshots around them are hand-built in tmp_path (a state synthesised for the test)."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _root_fail, _snapshot

# negativo17/nvidia-driver#56 (Fedora 28): `dkms status` after upgrades; pop-os/system76-driver#336: another module's
STALE_NVIDIA = ("Error! Could not locate dkms.conf file.\n"
                "File: /var/lib/dkms/nvidia/390.48/source/dkms.conf does not exist.\n")
STALE_OTHER = ("Error! Could not locate dkms.conf file.\n"
               "File: /var/lib/dkms/system76/1.0.18~1743109511~24.04~8b1da53/source/dkms.conf does not exist.\n"
               "nvidia/570.172.08, 6.12.10-76061203-generic, x86_64: installed\n"
               "nvidia/570.172.08, 6.16.3-76061603-generic, x86_64: installed\n")


def test_a_stale_nvidia_tree_blocks_dkms(tmp_path):
    f = _root_fail(tmp_path, {"commands/dkms_status": STALE_NVIDIA}, "driver.dkms")
    assert "390.48" in f.summary
    assert f.fix.commands[:2] == ("sudo rm -r /var/lib/dkms/nvidia/390.48", "sudo dkms autoinstall")


def test_another_modules_stale_tree_is_not_the_nvidia_modules_problem(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/dkms_status": STALE_OTHER,
                                         "commands/uname_-r": "6.16.3-76061603-generic\n"}))
    f = report.get("driver.dkms")
    assert f.status.value != "fail" and "stale" not in f.summary


def test_a_hostile_version_never_reaches_the_command(tmp_path):
    line = "File: /var/lib/dkms/nvidia/390.48;reboot/source/dkms.conf does not exist.\n"
    f = _check(_snapshot(tmp_path, {"commands/dkms_status": line})).get("driver.dkms")
    assert not any(";" in c for c in f.fix.commands) if f.fix else True


# NixOS/nixpkgs#87788: the node listing and nvidia-smi on the machine whose udev rule numbered the nodes from 1
LS_FROM_1 = ("/dev/nvidia1  /dev/nvidiactl       /dev/nvidia-uvm\n"
             "/dev/nvidia2  /dev/nvidia-modeset  /dev/nvidia-uvm-tools\n")


def test_gpu_nodes_numbered_from_1_explain_no_devices_found(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/ls_%2Fdev%2Fnvidia*": LS_FROM_1,
                                         "commands/nvidia-smi": "No devices were found\n",
                                         "commands/nvidia-smi.rc": "6\n"}))
    f = report.get("cuda.device-nodes")
    assert f.status.value == "fail" and report.root_cause.id == "cuda.device-nodes"
    assert "/dev/nvidia0 is missing" in f.summary and "sudo nvidia-modprobe -c 0" in f.fix.commands
    assert report.get("nvml.init").status.value == "info"


def test_a_pasted_ls_of_the_nodes_is_the_dev_listing(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/ls_-l_%2Fdev%2Fnvidia*": LS_FROM_1.replace("nvidia1", "nvidia0"),
                                         "commands/nvidia-smi": "No devices were found\n",
                                         "commands/nvidia-smi.rc": "6\n"}))
    assert report.get("cuda.device-nodes").status.value != "fail"  # /dev/nvidia0 is there: not this cause
    assert report.get("nvml.devices").status.value == "fail"  # NVML started; the driver took no GPU


# system76/firmware-open#66: an eGPU whose BAR0 the firmware left unassigned
BAR = ("[   28.109029] NVRM: This PCI I/O region assigned to your NVIDIA device is invalid:\n"
       "               NVRM: BAR0 is 0M @ 0x0 (PCI:0000:06:00.0)\n"
       "[   28.109032] NVRM: The system BIOS may have misconfigured your GPU.\n"
       "[   28.109040] nvidia: probe of 0000:06:00.0 failed with error -1\n"
       "[   28.109101] NVRM: The NVIDIA probe routine failed for 1 device(s).\n"
       "[   28.109102] NVRM: None of the NVIDIA devices were initialized.\n")


def test_an_unassigned_pci_region_is_the_firmwares_not_the_drivers(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/dmesg": BAR}))
    f = report.get("driver.nvidia-module")
    assert f.status.value == "fail" and report.root_cause.id == "driver.nvidia-module"
    assert "no PCI memory region" in f.summary and "pci=realloc" in f.fix.summary
    assert report.get("driver.recommended").status.value != "fail"


# NVIDIA/open-gpu-kernel-modules#696 names the GPU (10de:1b82, a Pascal GTX 1070 Ti) in the open module's refusal;
# here only its first line survived, beside the probe failure of system76/firmware-open#66
CUT = ("NVRM: The NVIDIA GPU 0000:02:00.0 (PCI ID: 10de:1b82)\n"
       "[   28.109101] NVRM: The NVIDIA probe routine failed for 1 device(s).\n"
       "[   28.109102] NVRM: None of the NVIDIA devices were initialized.\n")


def test_a_pre_turing_gpu_refused_with_nothing_else_said_is_the_open_module(tmp_path):
    f = _root_fail(tmp_path, {"commands/dmesg": CUT}, "driver.recommended")
    assert "Pascal" in f.summary and "open kernel modules" in f.summary


def test_a_turing_gpu_refused_is_not_blamed_on_the_open_module(tmp_path):
    # the same lines with a Turing GPU's id (10de:1e87, RTX 2080): the open module drives it, so something else did
    report = _check(_snapshot(tmp_path, {"commands/dmesg": CUT.replace("10de:1b82", "10de:1e87")}))
    assert "open kernel modules" not in report.get("driver.recommended").summary


# OpenNMT/OpenNMT-tf#168 family: TensorFlow 1.x registered the K80 and nvidia-smi, pasted while it ran, shows python
TF_LOG = ("2018-07-13 14:50:43.171825: I tensorflow/core/common_runtime/gpu/gpu_device.cc:1435] Adding visible gpu "
          "devices: 0\n")
SMI = ("+-----------------------------------------------------------------------------+\n"
       "| NVIDIA-SMI 396.26                 Driver Version: 396.26                    |\n"
       "|-------------------------------+----------------------+----------------------+\n"
       "| GPU  Name        Persistence-M| Bus-Id        Disp.A | Volatile Uncorr. ECC |\n"
       "| Fan  Temp  Perf  Pwr:Usage/Cap|         Memory-Usage | GPU-Util  Compute M. |\n"
       "|===============================+======================+======================|\n"
       "|   0  Tesla K80           Off  | 00000000:00:1E.0 Off |                    0 |\n"
       "| N/A   39C    P0    73W / 149W |   8118MiB / 11441MiB |      0%      Default |\n"
       "+-------------------------------+----------------------+----------------------+\n"
       "                                                                               \n"
       "+-----------------------------------------------------------------------------+\n"
       "| Processes:                                                       GPU Memory |\n"
       "|  GPU       PID   Type   Process name                             Usage      |\n"
       "|=============================================================================|\n"
       "|    0      5044      C   python                                      8107MiB |\n"
       "+-----------------------------------------------------------------------------+\n")


def test_memory_held_by_the_tensorflow_program_that_was_pasted_is_not_another_process(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": TF_LOG, "commands/nvidia-smi": SMI}))
    f = report.get("gpu.memory-in-use")
    assert f.status.value == "info" and report.root_cause is None


def test_without_tensorflows_log_the_same_table_still_warns(tmp_path):
    f = _check(_snapshot(tmp_path, {"commands/nvidia-smi": SMI})).get("gpu.memory-in-use")
    assert f.status.value == "warn"


def test_triage_keeps_dkmss_file_line_with_its_error():
    from tfdoctor.triage import triage_text

    # negativo17/nvidia-driver#56, as the reporter pasted it under a `$ dkms status` prompt
    result = triage_text("```\n$ dkms status\n" + STALE_NVIDIA + "```\n")
    assert result.report.root_cause is not None and result.report.root_cause.id == "driver.dkms"


def test_a_path_quoted_in_prose_is_not_a_listing_that_shows_it():
    from tfdoctor.triage import triage_text

    # NixOS/nixpkgs#87788: "`/dev/nvidia0` is created" is the expected behaviour, not what ls showed
    text = ("**Expected behavior**\n`/dev/nvidia0` is created\n\n```\n$ nvidia-smi \nNo devices were found\n"
            "$ ls /dev/nvidia*\n" + LS_FROM_1 + "```\n")
    report = triage_text(text).report
    assert report.root_cause is not None and report.root_cause.id == "cuda.device-nodes"
