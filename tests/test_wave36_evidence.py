"""Stop 34 (wave 36): what blind batch 90 and the corpus' misses showed missing.

Every line below is a real line from the public thread named beside it. The snapshots around them are hand-built in
tmp_path (states synthesised for the test, as docs/snapshot-format.md describes): where a test puts lines of two threads
side by side, it says so."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _root_fail, _snapshot

# flathub/com.obsproject.Studio#172: OBS's Flatpak FFmpeg (nv-codec-headers 11.1) on a driver offering NVENC API 11.0
NVENC_API_111 = ("[h264_nvenc @ 0x559ac46d6a40] Driver does not support the required nvenc API version. Required: "
                 "11.1 Found: 11.0\n"
                 "[h264_nvenc @ 0x559ac46d6a40] The minimum required Nvidia driver for nvenc is (unknown) or newer\n")
# BtbN/FFmpeg-Builds#382: the reporter's retyping of the same message (FFmpeg 7.0, Debian 12's driver 535)
NVENC_API_122_RETYPED = 'ffmpeg n7.0 "driver does not support required nvenc api. required 12.2 found 12.1"\n'
# AlphaAtlas/VapourSynthColab#4: FFmpeg naming the minimum driver itself
NVENC_API_91 = ("[hevc_nvenc @ 0x560aa0890480] Driver does not support the required nvenc API version. Required: 9.1 "
                "Found: 9.0\n"
                "[hevc_nvenc @ 0x560aa0890480] The minimum required Nvidia driver for nvenc is 435.21 or newer\n")
# Theano/Theano#6503: the driver's JIT (driver 375.66) refusing CUDA 9's PTX
JIT_PTX_60 = "ptxas application ptx input, line 9; fatal   : Unsupported .version 6.0; current version is '5.0'\n"
# mattshma/bigdata#108: nvidia-smi (bind-mounted from the host) inside a container started with plain `docker run`
DOCKER_RUN_KEY = "commands/sudo_docker_run_-v_%2Fusr%2Fbin:%2Fusr%2Flocal%2Fnvidia%2Fbin_-p_8888:8888_MY_DOCKER_IMAGE"
SMI_NO_DRIVER = ("$ nvidia-smi\nNVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure "
                 "that the latest NVIDIA driver is installed and running.\n")
# ValveSoftware/SteamOS#707: SteamOS's dkms autoinstaller, 'Error! echo' on a line of its own
STEAMOS_DKMS = ("dkms: running auto installation service for kernel 4.11.0-0.steamos.57-amd64:Error! echo\n"
                "Your kernel headers for kernel 4.11.0-0.steamos.57-amd64 cannot be found at\n"
                "/lib/modules/4.11.0-0.steamos.57-amd64/build or /lib/modules/4.11.0-0.steamos.57-amd64/source.\n")
# tensorflow/tensorflow#17048: TensorFlow 1.5 after earlier (Ctrl-Z'd) interpreters kept the GPU's memory; the
# reporter's line has no byte count
REFUSED_NO_BYTES = "failed to allocate 72.50M from device: CUDA_ERROR_OUT_OF_MEMORY\n"


def test_an_nvenc_api_older_than_ffmpegs_fails_with_the_driver_its_table_names(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": NVENC_API_111}, "compat.driver-cuda")
    assert "offers NVENC API 11.0" in f.summary and "NVENC API 11.1, driver 470.57.02 or newer" in f.summary
    assert f.fix.summary.startswith("Install NVIDIA driver 470.57.02 or newer")
    assert any("Required: 11.1 Found: 11.0" in e.line for e in f.evidence)


def test_a_retyped_nvenc_api_message_is_read_too(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": NVENC_API_122_RETYPED}, "compat.driver-cuda")
    assert "NVENC API 12.2, driver 550.54.14 or newer" in f.summary and "offers NVENC API 12.1" in f.summary


def test_ffmpegs_own_minimum_wins_over_the_table(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": NVENC_API_91}, "compat.driver-cuda")
    assert "driver 435.21 or newer" in f.summary


def test_an_nvenc_api_newer_than_the_table_names_no_driver_number(tmp_path):
    line = ("[h264_nvenc @ 0x1] Driver does not support the required nvenc API version. Required: 13.0 Found: 12.2\n")
    f = _root_fail(tmp_path, {"commands/pasted-text": line}, "compat.driver-cuda")
    assert "NVENC API 13.0)" in f.summary
    assert f.fix.summary.startswith("Install a newer NVIDIA driver (one that offers NVENC API 13.0)")


def test_nvenc_minimum_table():
    from tfdoctor.knowledge import loader

    assert loader.nvenc_min_driver("12.2") == "550.54.14"
    assert loader.nvenc_min_driver("9.1") == "435.21"
    assert loader.nvenc_min_driver("13.0") is None and loader.nvenc_min_driver("") is None


def test_the_drivers_jit_refusing_newer_ptx_warns_of_a_driver_too_old(tmp_path):
    # nothing else on the machine: the JIT's own name for its input points at the driver, a warning (a toolkit's PTX
    # compiler library names its input so too; test_wave28_evidence: a newer driver known says it is not the driver)
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": JIT_PTX_60}))
    f = report.get("compat.driver-cuda")
    assert f.status.value == "warn" and "ISA 6.0, written by CUDA 9.0's toolkit" in f.summary and "384.81" in f.summary


def test_a_toolkit_ptxas_refusal_is_not_the_driver(tmp_path):
    line = "ptxas /tmp/tempfile-x.ptx, line 5; fatal   : Unsupported .version 8.5; current version is '7.5'\n"
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": line}))
    assert report.get("compat.driver-cuda").status.value != "fail"


def test_nvidia_smi_that_cannot_reach_the_driver_in_a_container_started_without_a_gpu(tmp_path):
    f = _root_fail(tmp_path, {DOCKER_RUN_KEY: SMI_NO_DRIVER}, "env.container")
    assert "nvidia-smi could not reach the driver" in f.summary
    report = _check(_snapshot(tmp_path, {DOCKER_RUN_KEY: SMI_NO_DRIVER}, name="again"))
    assert report.get("driver.nvidia-module").caused_by == "env.container"


def test_the_same_nvidia_smi_failure_on_the_host_is_the_driver(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/nvidia-smi": SMI_NO_DRIVER}))
    assert report.get("env.container").status.value != "fail"
    assert report.root_cause is not None and report.root_cause.id == "driver.nvidia-module"


def test_dkms_missing_headers_with_steamos_error_echo_line(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": STEAMOS_DKMS}, "driver.dkms")
    assert any("Your kernel headers for kernel 4.11.0-0.steamos.57-amd64" in e.line for e in f.evidence)


def test_a_refused_device_allocation_without_its_byte_count(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": REFUSED_NO_BYTES}))
    f = report.get("gpu.memory-in-use")
    assert f.status.value == "warn" and "(72.50M)" in f.summary


# Jip-Hop/jailmaker#127: nvidia-container-cli naming the library by its path (an empty placeholder in a jail)
CLI_NVML_PATH = ("nvidia-container-cli: initialization error: load library failed: "
                 "/usr/lib/x86_64-linux-gnu/nvidia/current/libnvidia-ml.so.1: file too short\n")


def test_nvidia_container_cli_naming_nvml_by_its_path(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": CLI_NVML_PATH}))
    f = report.get("container.toolkit")
    assert f.status.value == "fail" and any("file too short" in e.line for e in f.evidence)
    assert report.root_cause.id in ("container.toolkit", "env.container")


# ValveSoftware/Proton#2428: Steam's system information on a GTX 980 Ti with the nvidia package installed, not in use
STEAM_SYSINFO_NOUVEAU = "    Driver:  nouveau NV120\n    Driver Version:  4.3 (\n"
LSPCI_980TI = "01:00.0 VGA compatible controller: NVIDIA Corporation GM200 [GeForce GTX 980 Ti] (rev a1)\n"
# supertuxkart/stk-code#2555: glxinfo on a GT 610 driven by nouveau
GLXINFO_NOUVEAU = "OpenGL vendor string: nouveau\nOpenGL renderer string: Gallium 0.4 on NVD9\n"


def test_steams_system_information_showing_nouveau_fails_driver_nouveau(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": STEAM_SYSINFO_NOUVEAU, "commands/lspci": LSPCI_980TI},
                   "driver.nouveau")
    assert any("nouveau NV120" in e.line for e in f.evidence)


def test_steams_opengl_driver_version_is_not_the_nvidia_driver(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": STEAM_SYSINFO_NOUVEAU}))
    assert report.get("driver.nvidia-module").status.value != "ok"
    assert not any("4.3" in (f.summary or "") for f in report.findings if f.id.startswith(("driver.", "nvml.")))


def test_glxinfo_naming_nouveau_as_the_opengl_vendor(tmp_path):
    f = _root_fail(tmp_path, {"commands/glxinfo": GLXINFO_NOUVEAU, "commands/lspci": LSPCI_980TI}, "driver.nouveau")
    assert any(e.line == "OpenGL vendor string: nouveau" for e in f.evidence)


def test_mesa_failing_to_load_nouveau_is_not_nouveau_in_use(tmp_path):
    # bayasdev/envycontrol#226: glxinfo's fallback to llvmpipe on a machine whose NVIDIA driver works
    report = _check(_snapshot(tmp_path, {"commands/glxinfo": "failed to load driver: nouveau\n",
                                         "commands/lspci": LSPCI_980TI}))
    assert report.get("driver.nouveau").status.value != "fail"


# MrMEEE/bumblebee-Old-and-abbandoned#71: the X server's NVIDIA driver after modprobe found no module
XORG_MODULE_NOT_LOADED = ("FATAL: Module nvidia not found.\n"
                          "(EE) NVIDIA: Failed to load the NVIDIA kernel module. Please check your\n"
                          "(EE) NVIDIA:     system's kernel log for additional error messages.\n"
                          "(EE) Failed to load module \"nvidia\" (module-specific error, 0)\n")


def test_the_x_servers_nvidia_driver_failing_to_load_the_kernel_module(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": XORG_MODULE_NOT_LOADED,
                                         "commands/lspci": LSPCI_980TI}))
    assert report.root_cause is not None and report.root_cause.id.startswith("driver.")
    f = report.get("driver.nvidia-module")
    assert f.status.value == "fail"
    assert any("Failed to load the NVIDIA kernel module" in e.line for e in f.evidence) or \
        any("Module nvidia not found" in e.line for e in f.evidence)


def test_the_x_server_alone_saying_the_module_did_not_load(tmp_path):
    line = "[  1531.556](EE) NVIDIA: Failed to load the NVIDIA kernel module. Please check your\n"
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": line, "commands/lspci": LSPCI_980TI}))
    assert report.get("driver.nvidia-module").status.value == "fail"


# NVIDIA/warp#219: wp.init() finding the toolkit's stub libcuda first
WARP_STUB = ("Warp CUDA error: Failed to get driver entry point 'cuDriverGetVersion' (CUDA error 34)\n"
             "Warp CUDA error: Failed to get driver entry point 'cuInit' (CUDA error 34)\n")
# urchade/GLiNER#267: both ONNX Runtime distributions in one venv
ORT_BOTH = "$ pip freeze | grep onnxruntime\nonnxruntime==1.22.0\nonnxruntime-gpu==1.22.0\n"
# opencv/opencv#18229: OpenCV 4.4's pip wheel asked for the DNN module's CUDA backend
OPENCV_NO_CUDA = ("[ WARN:0] global /tmp/pip-req-build-sw_3pm_8/opencv/modules/dnn/src/dnn.cpp (1429) setUpNet DNN "
                  "module was not built with CUDA backend; switching to CPU\n")


def test_warps_cuda_error_34_is_the_stub_libcuda(tmp_path):
    f = _root_fail(tmp_path, {"commands/python": WARP_STUB}, "cuda.libcuda")
    assert any("CUDA error 34" in e.line for e in f.evidence)


def test_both_onnxruntime_distributions_in_one_environment(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": ORT_BOTH}))
    f = report.get("tf.cuda-build")
    assert f.status.value == "warn" and "onnxruntime-gpu" in f.summary
    assert f.fix.commands[0] == "python3 -m pip uninstall -y onnxruntime onnxruntime-gpu"


def test_both_onnxruntime_distributions_with_a_gpu_fail(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": ORT_BOTH, "commands/lspci": LSPCI_980TI}, "tf.cuda-build")
    assert len(f.evidence) == 2


def test_onnxruntime_gpu_alone_is_not_a_pair(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": "onnxruntime-gpu==1.22.0\n"}))
    assert report.get("tf.cuda-build").status.value not in ("warn", "fail")


def test_opencv_without_its_cuda_backend(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": OPENCV_NO_CUDA}))
    f = report.get("tf.cuda-build")
    assert f.status.value == "warn" and "OpenCV was built without CUDA" in f.summary
    assert "OPENCV_DNN_CUDA=ON" in f.fix.summary
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": OPENCV_NO_CUDA, "commands/lspci": LSPCI_980TI},
                              name="gpu"))
    assert report.get("tf.cuda-build").status.value == "fail" and report.root_cause.id == "tf.cuda-build"
