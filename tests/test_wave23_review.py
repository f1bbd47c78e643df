"""Wave 23 review: defects found in the merged wave-23 change, each with the test that failed before its mend. The
snapshots are hand-built in tmp_path (a state synthesised for the test, as docs/snapshot-format.md describes); the
machine lines are those of the wave-23 tests' public threads."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _snapshot

GTX1080_LSPCI = ("0000:01:00.0 VGA compatible controller [0300]: NVIDIA Corporation GP104 [GeForce GTX 1080] "
                 "[10de:1b80] (rev a1)\n\tKernel modules: nouveau, nvidia\n")
RM_INIT = "Feb 09 15:47:06 debian kernel: NVRM: GPU 0000:01:00.0: RmInitAdapter failed! (0x26:0x56:1463)\n"
RM_INIT_MINOR = ("Feb 09 15:47:06 debian kernel: NVRM: GPU 0000:01:00.0: rm_init_adapter failed, device minor "
                 "number 0\n")
NONE_INITIALISED = "[   28.109102] NVRM: None of the NVIDIA devices were initialized.\n"


def test_none_initialised_after_rminitadapter_is_not_the_open_module_refusing_a_pre_turing_gpu(tmp_path):
    # 'None of the NVIDIA devices were initialized' follows an RmInitAdapter failure too: the module took the GPU and
    # could not bring it up, which explains the failure; driver.recommended must not blame the open modules
    for name, dmesg in (("rm", RM_INIT + NONE_INITIALISED), ("minor", RM_INIT_MINOR + NONE_INITIALISED)):
        report = _check(_snapshot(tmp_path, {"commands/lspci_-nnk": GTX1080_LSPCI, "commands/dmesg": dmesg}, name))
        rec = report.get("driver.recommended")
        assert rec.status.value != "fail", (name, rec.summary)
        assert report.root_cause.id == "driver.nvidia-module", (name, report.root_cause)


def test_a_nouveau_chip_name_is_read_in_capitals_only():
    # Mesa prints the chip as `NV%02X` (NV137, NVE7); nv12 (a pixel format), nvcc or nvdec beside another vendor's GPU
    # are no NVIDIA GPU
    from tfdoctor.machine import stated_nvidia

    assert stated_nvidia("Mesa Intel(R) UHD Graphics 620 (KBL GT2) / NV137") is True
    assert stated_nvidia("Gallium 0.4 on NVE7") is True
    assert stated_nvidia("AMD Radeon RX 580 (nv12 hw decode)") is False
    assert stated_nvidia("Intel UHD Graphics 630, no nvcc") is False


def test_304_named_by_a_later_call_is_not_cuinit_failing(tmp_path):
    # CUDA_ERROR_OPERATING_SYSTEM is any call's answer: an IPC handle refused inside a working process is not cuInit's
    smi = "NVIDIA-SMI 535.104.05             Driver Version: 535.104.05   CUDA Version: 12.2\n"
    line = ("RuntimeError: cuIpcOpenMemHandle failed: CUDA_ERROR_OPERATING_SYSTEM: OS call failed or operation not "
            "supported on this OS\n")
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": line, "commands/nvidia-smi": smi}))
    assert report.get("cuda.init").status.value != "fail", report.get("cuda.init").summary
    # PyTorch's own wording of its first call is still read as 304
    torch = ("UserWarning: CUDA initialization: Unexpected error from cudaGetDeviceCount(). Did you run some cuda "
             "functions before calling NumCudaDevices() that might have already set an error? Error 304: OS call "
             "failed or operation not supported on this OS (Triggered internally at ../c10/cuda/CUDAFunctions.cpp:109.)\n")
    f = _check(_snapshot(tmp_path, {"commands/pasted-text": torch}, "torch")).get("cuda.init")
    assert f.status.value == "fail" and "304" in f.summary
