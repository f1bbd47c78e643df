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


def test_a_quoted_loader_refusal_of_a_library_the_log_shows_opened_is_not_a_missing_library(tmp_path):
    # the log path reads the rest of the paste for libraries the loader refused: one TensorFlow's own log shows opened
    # is from another run, not missing
    log = ("2021-03-01 10:00:00.000000: I tensorflow/stream_executor/platform/default/dso_loader.cc:49] Successfully "
           "opened dynamic library libcudart.so.11.0\n")
    paste = "Earlier I got: ImportError: libcudart.so.11.0: cannot open shared object file: No such file or directory\n"
    f = _check(_snapshot(tmp_path, {"tensorflow.log": log, "commands/pasted-text": paste})).get("tf.cuda-libs")
    assert f.status.value != "fail", f.summary
    other = paste.replace("libcudart.so.11.0", "libcublas.so.11")  # one it did not open is still read
    f = _check(_snapshot(tmp_path, {"tensorflow.log": log, "commands/pasted-text": other}, "other")).get("tf.cuda-libs")
    assert f.status.value == "fail" and "libcublas.so.11" in f.summary


def test_jax_refusing_an_older_cudnn_does_not_state_that_another_copy_was_loaded_first(tmp_path):
    # a JAX built for a local CUDA refuses the only cuDNN installed just the same: the line does not show a second copy
    text = "Found cuDNN version 8500, but JAX was built against version 8600, which is newer.\n"
    f = _check(_snapshot(tmp_path, {"commands/pasted-text": text})).get("cuda.libraries")
    assert f.status.value == "fail" and "another copy was loaded first" not in f.summary
    assert "the only cuDNN installed" in f.summary


def test_a_newer_cudnn_refused_ahead_of_the_appended_pip_cudnn_is_not_called_older(tmp_path):
    # TensorFlow refuses another major, newer too: a system cuDNN 9 found ahead of the wheel's 8.9
    append = ("echo 'export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$CONDA_PREFIX/lib/:$CUDNN_PATH/lib' >> "
              "$CONDA_PREFIX/etc/conda/activate.d/env_vars.sh\n")
    line = ("2023-06-01 15:58:54.130390: E tensorflow/compiler/xla/stream_executor/cuda/cuda_dnn.cc:417] Loaded "
            "runtime CuDNN library: 9.1.0 but source was compiled with: 8.9.4.  CuDNN library needs to have matching "
            "major version and equal or higher minor version.\n")
    f = _check(_snapshot(tmp_path, {"tensorflow.log": line, "commands/pasted-text": append})).get(
        "python.ld-library-path")
    assert f.status.value == "fail" and "older than the build" not in f.summary, f.summary
    older = line.replace("9.1.0", "8.1.1")
    f = _check(_snapshot(tmp_path, {"tensorflow.log": older, "commands/pasted-text": append}, "older")).get(
        "python.ld-library-path")
    assert f.status.value == "fail" and "older than the build" in f.summary


def _ids(line: str) -> list[str]:
    from tfdoctor import evidence

    return [e.id for e in evidence.catalogue() if e.pattern.search(line)]


def test_an_lsmod_grep_that_prints_nothing_with_nvidia_uvm_loaded_is_not_read():
    # lsmod prints `nvidia_uvm`: `grep nvidia-uvm` finds nothing even with it loaded, and `grep -q` never prints
    assert "lsmod-grep-uvm-empty" in _ids("$ lsmod | grep nvidia_uvm\n$ nvidia-smi\n")
    assert "lsmod-grep-uvm-empty" in _ids("$ lsmod | grep -i nvidia_uvm\n$ nvidia-smi\n")
    for text in ("$ lsmod | grep nvidia-uvm\n$ nvidia-smi\n", "$ lsmod | grep -q nvidia_uvm\n$ echo $?\n0\n",
                 "$ lsmod | grep -v nvidia_uvm\n$ nvidia-smi\n"):
        assert "lsmod-grep-uvm-empty" not in _ids(text), text


def test_an_about_panel_without_an_nvidia_gpu_makes_none_likely_not_certain(tmp_path):
    # GNOME's About panel lists the GPUs a graphics driver drives: a hybrid laptop's NVIDIA GPU with no working driver
    # is missing from it as well
    about = "Graphics Mesa Intel® Xe Graphics (TGL GT2)\n"
    refused = 'docker: Error response from daemon: could not select device driver "" with capabilities: [[gpu]].\n'
    f = _check(_snapshot(tmp_path, {"commands/pasted-text": about + refused})).get("pci.nvidia-gpu")
    assert f.status.value == "fail" and "most likely has no NVIDIA GPU" in f.summary
    assert "(or virtual machine) has no NVIDIA GPU" not in f.summary
    stated = _check(_snapshot(tmp_path, {"commands/pasted-text": "GPU: AMD Radeon RX 580\n" + refused}, "stated"))
    assert "(or virtual machine) has no NVIDIA GPU" in stated.get("pci.nvidia-gpu").summary  # as before


def test_an_add_on_wheel_refused_is_not_tensorflow_refused(tmp_path):
    # tensorflow_addons or tensorflow_io_gcs_filesystem refused by pip says nothing of TensorFlow's own wheel
    for name, wheel in (("addons", "tensorflow_addons-0.20.0-cp311-cp311-manylinux2014_x86_64"),
                        ("io", "tensorflow_io_gcs_filesystem-0.31.0-cp311-cp311-linux_aarch64")):
        assert "pip-wheel-not-supported" not in _ids(f"ERROR: {wheel}.whl is not a supported wheel on this platform.")
        text = f"- Python version: 3.11\nERROR: {wheel}.whl is not a supported wheel on this platform.\n"
        f = _check(_snapshot(tmp_path, {"commands/pasted-text": text}, name)).get("tf.installed")
        assert f.status.value != "fail", (name, f.summary)
    for wheel in ("tensorflow_gpu-1.14.0-cp36-cp36m-linux_x86_64", "tensorflow-1.14.0-cp36-cp36m-manylinux1_x86_64",
                  "intel_tensorflow-2.4.0-cp38-cp38-manylinux2010_x86_64"):
        assert "pip-wheel-not-supported" in _ids(f"ERROR: {wheel}.whl is not a supported wheel on this platform."), wheel
