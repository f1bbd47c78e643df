"""Wave 23, group F: messages that NVIDIA's kernel module and container library print, read from their source
(NVIDIA/open-gpu-kernel-modules kernel-open/nvidia/nv.c; NVIDIA/libnvidia-container src/error.c and src/driver.c):
the module's 'None of the NVIDIA devices were initialized' and 'rm_init_adapter failed, device minor number N' (and
their older wordings), and nvidia-container-cli's CUDA-era (before 1.1.0) initialisation errors. Every line is a real
line from the public thread named beside it; the snapshots around them are hand-built in tmp_path."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _root_fail, _snapshot


def _ids(line: str) -> list[str]:
    from tfdoctor import evidence

    return [e.id for e in evidence.catalogue() if e.pattern.search(line.strip())]


# ------------------------------------------------------------------ the kernel module took no GPU
PROBE_FAILED = "[   28.109101] NVRM: The NVIDIA probe routine failed for 1 device(s).\n"  # system76/firmware-open#66
NONE_INITIALISED = "[   28.109102] NVRM: None of the NVIDIA devices were initialized.\n"  # system76/firmware-open#66
NONE_INITIALISED_OLD = "[  666.186441] NVRM: None of the NVIDIA graphics adapters were initialized!\n"  # ironhide#141


def test_none_initialised_alone_says_the_module_took_no_gpu_as_the_probe_failure_does(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    alone = _root_fail(tmp_path / "a", {"commands/dmesg": NONE_INITIALISED}, "driver.nvidia-module")
    both = _root_fail(tmp_path / "b", {"commands/dmesg": PROBE_FAILED + NONE_INITIALISED}, "driver.nvidia-module")
    assert alone.summary == both.summary
    assert any("None of the NVIDIA devices were initialized" in line for line in alone.details)


def test_the_older_wording_is_the_same_message(tmp_path):
    f = _root_fail(tmp_path, {"commands/dmesg": NONE_INITIALISED_OLD}, "driver.nvidia-module")
    assert any("graphics adapters were initialized" in line for line in f.details)


def test_a_none_initialised_line_in_prose_is_not_read(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": "none of the nvidia devices were initialized, "
                                                                  "says my friend\n"}))
    assert report.get("driver.nvidia-module").status.value != "fail"


# ------------------------------------------------------------------ a GPU the module could not bring up, per open()
RM_INIT_MINOR = ("Feb 09 15:47:06 debian kernel: NVRM: GPU 0000:13:00.0: rm_init_adapter failed, device minor "
                 "number 0\n")  # NVIDIA/cuda-samples#104
RM_INIT_MINOR_OLD = "NVRM: rm_init_adapter failed for device bearing minor number 0\n"  # Bumblebee#628
RM_INIT = "Feb 09 15:47:06 debian kernel: NVRM: GPU 0000:13:00.0: RmInitAdapter failed! (0x26:0x56:1463)\n"  # same


def test_rm_init_adapter_minor_reads_as_the_rminitadapter_failure_it_follows(tmp_path):
    for line in (RM_INIT_MINOR, RM_INIT_MINOR_OLD):
        assert _ids(line) == ["nvrm-rm-init-adapter-minor"], line
    alone = _check(_snapshot(tmp_path, {"commands/dmesg": RM_INIT_MINOR}, "alone"))
    with_rm = _check(_snapshot(tmp_path, {"commands/dmesg": RM_INIT}, "rm"))
    # the GPU is there and a driver is installed, as the RmInitAdapter line alone establishes
    for report in (alone, with_rm):
        assert report.get("pci.nvidia-gpu").status.value == "ok"
        assert report.get("driver.recommended").status.value == "ok"


def test_rm_init_adapter_minor_is_cited_when_nvidia_smi_cannot_reach_the_driver(tmp_path):
    files = {"commands/dmesg": RM_INIT_MINOR,
             "commands/nvidia-smi": "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
                                    "Make sure that the latest NVIDIA driver is installed and running.\n",
             "commands/nvidia-smi.rc": "9\n"}
    report = _check(_snapshot(tmp_path, files))
    f = report.get("driver.nvidia-module")
    assert f.status.value == "fail"
    assert any("rm_init_adapter failed, device minor number 0" in line for line in f.details)


# ------------------------------------------------------------------ a GPU the module says is gone
GPU_IS_LOST = ("[   35.564060] NVRM: nvCheckOkFailedNoLog: Check failed: GPU lost from the bus [NV_ERR_GPU_IS_LOST] "
               "(0x0000000F) returned from nvdEngineDumpCallbackHelper(pGpu, pPrbEnc, pNvDumpState, pEngineCallback) @ "
               "nv_debug_dump.c:274\n")  # openwall/john#5835
FALLEN_NO_XID = ("[ 1843.308145] NVRM: The NVIDIA GPU 0000:b3:00.0\n"
                 "               NVRM: (PCI ID: 10de:26b5) installed in this system has\n"
                 "               NVRM: fallen off the bus and is not responding to commands.\n")  # NVIDIA/NVSentinel#155
XID_79 = ("[ 1843.308145] NVRM: Xid (PCI:0000:44:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the "
          "bus.\n")  # the Xid form NVSentinel#155's maintainer names


def test_the_rm_status_gpu_is_lost_is_a_lost_gpu(tmp_path):
    assert _ids(GPU_IS_LOST) == ["nvrm-status-gpu-is-lost"]
    f = _root_fail(tmp_path, {"commands/dmesg": GPU_IS_LOST}, "nvml.devices")
    assert "lost" in f.summary and "reseat" in f.fix.summary


def test_fallen_off_the_bus_without_an_xid_is_a_lost_gpu_too(tmp_path):
    f = _root_fail(tmp_path, {"commands/dmesg": FALLEN_NO_XID}, "nvml.devices")
    assert any("fallen off the bus" in line for line in f.details)


def test_an_xid_79_is_left_to_gpu_xid(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/dmesg": XID_79}))
    assert report.get("nvml.devices").status.value != "fail"
    assert report.get("gpu.xid").status.value == "fail"


def test_nvml_listing_the_gpus_outranks_an_old_kernel_line(tmp_path):
    smi = ("+-----------------------------------------------------------------------------+\n"
           "| NVIDIA-SMI 535.54.03              Driver Version: 535.54.03    CUDA Version: 12.2     |\n"
           "|   0  NVIDIA GeForce RTX 3090        Off | 00000000:01:00.0 Off |                  N/A |\n")
    report = _check(_snapshot(tmp_path, {"commands/dmesg": GPU_IS_LOST, "commands/nvidia-smi": smi}))
    f = report.get("nvml.devices")
    assert not (f.status.value == "fail" and "lost" in f.summary), f.summary


# ------------------------------------------------------------------ nvidia-container-cli before 1.1.0 (it ran cuInit)
CLI_CUDA_UNKNOWN = "  nvidia-container-cli: initialization error: cuda error: unknown error\n"  # nvidia-docker#1060
CLI_CUDA_NO_DEVICE = (  # NVIDIA/nvidia-docker#1235
    'docker: Error response from daemon: OCI runtime create failed: container_linux.go:349: starting container '
    'process caused "process_linux.go:449: container init caused \\"process_linux.go:432: running prestart hook 0 '
    'caused \\\\\\"error running hook: exit status 1, stdout: , stderr: nvidia-container-cli: initialization error: '
    'cuda error: no cuda-capable device is detected\\\\\\\\n\\\\\\"\\"": unknown.\n')
CLI_LIBCUDA = "nvidia-container-cli: initialization error: load library failed: libcuda.so.1\n"  # nvidia-docker#539
CLI_LIBCUDA_DEBUG = ("E0116 15:56:51.763612 1363 driver.c:196] could not start driver service: load library failed: "
                     "libcuda.so.1: cannot open shared object file: no such file or directory\n")  # meta-tegra#1456


def test_the_container_library_cuda_unknown_error_is_cudas_999_on_the_host():
    from tfdoctor.triage import triage_text

    result = triage_text("```\n" + CLI_CUDA_UNKNOWN + "```\n")
    assert any(r.kind == "container" for r in result.used)
    root = result.report.root_cause
    assert root is not None and root.id == "cuda.device-nodes" and "999" in root.summary
    assert any("nvidia_uvm" in c or "nvidia-uvm" in c for c in root.fix.commands + root.fix.verify)


def test_the_container_library_finding_no_cuda_device_is_cuinit_100():
    from tfdoctor import evidence
    from tfdoctor.triage import triage_text

    assert _ids(CLI_CUDA_NO_DEVICE) == ["container-cli-cuda-no-device"]
    entry = next(e for e in evidence.catalogue() if e.id == "container-cli-cuda-no-device")
    assert dict(entry.claims)["cuda.init_error"] == "100"  # CUDA_ERROR_NO_DEVICE, as cuGetErrorString words it
    result = triage_text(CLI_CUDA_NO_DEVICE)
    assert any(r.kind == "container" for r in result.used)
    # CUDA_ERROR_NO_DEVICE is a symptom (cuda.init leaves it to the findings that explain it): no wrong root cause
    root = result.report.root_cause
    assert root is None or root.id not in ("cuda.init", "driver.nvidia-module")


def test_the_container_library_not_finding_libcuda_is_the_drivers_cuda_library_missing():
    from tfdoctor.triage import triage_text

    for text in (CLI_LIBCUDA, CLI_LIBCUDA_DEBUG):
        root = triage_text(text).report.root_cause
        assert root is not None and root.id == "cuda.init" and "libcuda.so.1" in root.summary, (text, root)


def test_the_nvml_era_messages_keep_their_own_readings():
    # libnvidia-container 1.1.0 and later: the same failures through NVML, read by the entries that were there
    lines = {"nvidia-container-cli: initialization error: load library failed: libnvidia-ml.so.1: cannot open shared "
             "object file: no such file or directory: unknown.": "container-cli-libnvidia-ml",
             "nvidia-container-cli: initialization error: cuda error: forward compatibility was attempted on non "
             "supported HW": "cuda-compat-unsupported"}
    for line, want in lines.items():
        assert _ids(line) == [want]
