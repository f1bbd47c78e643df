"""Messages that say what is wrong in the words of the program that found it: TensorFlow's CUDA diagnostician (`kernel
version X does not match DSO version Y`, `kernel reported version is: X`), its multiprocessor limit, `DNN library is
not found`, the kernel's lockdown refusing an unsigned module, PyTorch's `driver on your system is too old`, and NVML's
`GPU access blocked by the operating system` (WSL2). Every quoted line is from the public thread named beside it; the
snapshots around them are hand-built in tmp_path (a state synthesised for the test)."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _root_fail, _snapshot

# tensorflow/tensorflow#22525 (TensorFlow 1.x): libcuda 375.66 loaded while module 384.130 runs
DIAG_OLDER_DSO = (
    "2018-09-26 16:20:01.273306: E tensorflow/stream_executor/cuda/cuda_driver.cc:406] failed call to cuInit: "
    "CUDA_ERROR_NO_DEVICE\n"
    "2018-09-26 16:20:01.273480: I tensorflow/stream_executor/cuda/cuda_diagnostics.cc:189] libcuda reported version "
    "is: 375.66.0\n"
    "2018-09-26 16:20:01.273659: I tensorflow/stream_executor/cuda/cuda_diagnostics.cc:193] kernel reported version "
    "is: 384.130.0\n"
    "2018-09-26 16:20:01.273681: E tensorflow/stream_executor/cuda/cuda_diagnostics.cc:303] kernel version 384.130.0 "
    "does not match DSO version 375.66.0 -- cannot find working devices in this configuration\n")

# tensorflow/tensorflow#48722 (the 2.5.0-gpu image on a host with driver 455): the library is the newer one
DIAG_NEWER_DSO = (
    "E tensorflow/stream_executor/cuda/cuda_driver.cc:328] failed call to cuInit: CUDA_ERROR_NO_DEVICE: no "
    "CUDA-capable device is detected\n"
    "E tensorflow/stream_executor/cuda/cuda_diagnostics.cc:313] kernel version 455.32.0 does not match DSO version "
    "460.73.1 -- cannot find working devices in this configuration\n")


def test_an_older_libcuda_than_the_module_is_a_stale_library_not_a_reboot(tmp_path):
    # the libcuda is what CUDA's diagnostician named: cuda.libcuda, not NVML, which nothing showed failing (stop 30)
    f = _root_fail(tmp_path, {"tensorflow.log": DIAG_OLDER_DSO}, "cuda.libcuda")
    assert "375.66" in f.summary and "384.130" in f.summary and "older" in f.summary
    assert "sudo reboot" not in f.fix.commands and any(c.startswith("ldconfig -p") for c in f.fix.commands)
    assert any("does not match DSO version" in e.line for e in f.evidence)


def test_a_newer_libcuda_than_the_module_is_a_reboot_owed(tmp_path):
    f = _check(_snapshot(tmp_path, {"tensorflow.log": DIAG_NEWER_DSO})).get("nvml.init")
    assert f.status.value == "fail" and "different versions" in f.summary
    assert f.fix.commands == ("sudo reboot",)


def test_the_kernel_version_tensorflow_read_is_the_driver_version(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": DIAG_OLDER_DSO}))
    assert report.get("driver.nvidia-module").status.value == "ok"  # /proc/driver/nvidia/version was there
    from tfdoctor.checks.compat import driver_version_seen
    from tfdoctor.evidence import TENSORFLOW_LOG, Source, observe
    from tfdoctor.machine import Machine

    class Facts:  # no probe recorded the driver: only what TensorFlow's diagnostician printed
        driver = nvml = None
        machine = Machine(observations=tuple(observe(Source(TENSORFLOW_LOG, "tensorflow.log", DIAG_OLDER_DSO))))

    assert driver_version_seen(Facts()) == "384.130"  # TensorFlow's 384.130.0


# RinCat/RTL88x2BU-Linux-Driver#114: the kernel's lockdown refusing an unsigned module under Secure Boot
LOCKDOWN = "[  398.381052] Lockdown: modprobe: unsigned module loading is restricted; see man kernel_lockdown.7\n"
SMI_9 = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA "
         "driver is installed and running.\n")


def test_lockdown_refusing_an_unsigned_module_is_secure_boot(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/dmesg": LOCKDOWN, "commands/nvidia-smi": SMI_9,
                                         "commands/nvidia-smi.rc": "9\n"}))
    f = report.get("driver.secure-boot")
    assert f.status.value == "fail" and report.root_cause.id == "driver.secure-boot"
    assert any("unsigned module loading is restricted" in e.line for e in f.evidence)


def test_lockdown_alone_in_the_log_does_not_fail_a_working_driver(tmp_path):
    # the same line, but nvidia-smi answers: the refused module was another one (a Wi-Fi driver in that thread)
    smi = ("+-----------------------------------------------------------------------------+\n"
           "| NVIDIA-SMI 470.86       Driver Version: 470.86       CUDA Version: 11.4     |\n"
           "|-------------------------------+----------------------+----------------------+\n")
    report = _check(_snapshot(tmp_path, {"commands/dmesg": LOCKDOWN, "commands/nvidia-smi": smi,
                                         "commands/nvidia-smi.rc": "0\n"}))
    assert report.root_cause is None or report.root_cause.id != "driver.nvidia-module"


# lllyasviel/Fooocus#1313: PyTorch built for a newer CUDA than driver 470.86 (CUDA 11.4) runs
TORCH_TOO_OLD = ("RuntimeError: The NVIDIA driver on your system is too old (found version 11040). Please update your "
                 "GPU driver by downloading and installing a new version from the URL: "
                 "http://www.nvidia.com/Download/index.aspx Alternatively, go to: https://pytorch.org to install a "
                 "PyTorch version that has been compiled with your version of the CUDA driver.\n")


def test_pytorchs_driver_too_old_is_a_driver_older_than_the_cuda_in_use(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": TORCH_TOO_OLD}, "compat.driver-cuda")
    assert any("found version 11040" in e.line for e in f.evidence)


# tensorflow/text#1167: TensorFlow 2.12 with cuDNN 8.0.5 on the path, built with 8.6.0
DNN_NOT_FOUND = ("2023-06-19 17:03:27.841329: W tensorflow/core/framework/op_kernel.cc:1830] OP_REQUIRES failed at "
                 "conv_ops.cc:1068 : UNIMPLEMENTED: DNN library is not found.\n")
CUDNN_MISMATCH = ("2023-06-19 17:03:27.840554: E tensorflow/compiler/xla/stream_executor/cuda/cuda_dnn.cc:417] Loaded "
                  "runtime CuDNN library: 8.0.5 but source was compiled with: 8.6.0.  CuDNN library needs to have "
                  "matching major version and equal or higher minor version.\n")


def test_dnn_library_not_found_is_cudnn_not_the_gpu(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": DNN_NOT_FOUND,
                                         "commands/pip_show_tensorflow": "Name: tensorflow\nVersion: 2.15.0\n"}))
    f = report.get("tf.cuda-libs")
    assert f.status.value == "fail" and report.root_cause.id == "tf.cuda-libs" and "cuDNN" in f.summary
    assert report.get("driver.nvidia-module").status.value != "fail"


def test_with_the_version_line_beside_it_the_mismatch_is_named(tmp_path):
    f = _check(_snapshot(tmp_path, {"tensorflow.log": CUDNN_MISMATCH + DNN_NOT_FOUND})).get("tf.cuda-libs")
    assert "cuDNN 8.0.5 is loaded but TensorFlow was built with cuDNN 8.6.0" in f.summary


# tensorflow/tensorflow#43104: two GPUs; TensorFlow leaves the 6-SM GTX 1050 Ti out and uses GPU 0
SMALL_GPU = ("2020-09-10 11:03:32.321394: I tensorflow/core/common_runtime/gpu/gpu_device.cc:1843] Ignoring visible gpu "
             "device (device: 1, name: GeForce GTX 1050 Ti, pci bus id: 0000:05:00.0, compute capability: 6.1) with "
             "core count: 6. The minimum required count is 8. You can adjust this requirement with the env var "
             "TF_MIN_GPU_MULTIPROCESSOR_COUNT.\n")


def test_a_small_gpu_left_out_beside_a_bigger_one_is_not_a_failure(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": SMALL_GPU}))
    f = report.get("tf.gpu-visible")
    assert f.status.value == "info" and report.root_cause is None
    assert f.fix.commands == ("export TF_MIN_GPU_MULTIPROCESSOR_COUNT=6",)


# microsoft/WSL#10289 / #9938: nvidia-smi inside WSL2
BLOCKED = ("Failed to initialize NVML: GPU access blocked by the operating system\n"
           "Failed to properly shut down NVML: GPU access blocked by the operating system\n")


def test_gpu_access_blocked_by_the_operating_system_is_wsl_not_a_linux_driver_fault(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/nvidia-smi": BLOCKED, "commands/nvidia-smi.rc": "255\n"}))
    f = report.get("nvml.init")
    assert f.status.value == "fail" and "blocks access to the GPU" in f.summary
    assert not any("dmesg" in c for c in f.fix.commands) and any("wsl --update" in c for c in f.fix.commands)
    wsl = report.get("env.wsl")
    # WSL is the root cause (the GPU does not reach it: staralt/dxgkrnl-dkms#7's Hyper-V guest too), NVML its symptom
    assert wsl.status.value == "fail" and "This is WSL" in wsl.summary and report.root_cause.id == "env.wsl"
    assert f.caused_by == "env.wsl" and any("wsl --update" in c for c in wsl.fix.commands)


def test_the_classifier_names_the_kind():
    from tfdoctor.probes.nvidia_smi import classify_nvidia_smi_failure

    assert classify_nvidia_smi_failure(255, BLOCKED)[0] == "blocked-by-os"


def test_ldconfigs_complaint_about_wsl_libcuda_says_wsl2_and_nothing_is_wrong(tmp_path):
    # mahbub-aumi/tensorflow-cuda-wsl-ubuntu24.04#2: printed by every ldconfig run inside WSL2
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": "/sbin/ldconfig.real: /usr/lib/wsl/lib/libcuda.so.1 "
                                                                   "is not a symbolic link\n"}))
    assert report.get("env.wsl").status.value == "info" and report.root_cause is None


# microsoft/WSL#10289: the reporter says where they run; the output alone would read as a Linux driver not loaded
WSL_SAID = ("I tried to check my nvidia driver version within ubuntu 22.04 installed on the WSL2 subsystem installed on "
            "Windows 11\n")


def test_wsl_stated_with_the_driver_not_answering_is_wsl_not_a_linux_module(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": WSL_SAID, "commands/nvidia-smi": SMI_9,
                                         "commands/nvidia-smi.rc": "9\n"}))
    f = report.get("env.wsl")
    assert f.status.value == "fail" and report.root_cause.id == "env.wsl" and "as the reporter states" in f.summary
    assert report.get("driver.nvidia-module").status.value == "skip"
    assert any("wsl -l -v" in c for c in f.fix.commands)


def test_wsl_stated_on_a_working_machine_is_only_information(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": WSL_SAID}))
    assert report.get("env.wsl").status.value == "info" and report.root_cause is None


def test_an_empty_wsl_template_field_says_nothing():
    from tfdoctor.evidence import TENSORFLOW_LOG, Source, observe

    # the bug template of a home-server thread: the field left empty
    assert not [o for o in observe(Source(TENSORFLOW_LOG, "paste", " - WSL version (if applicable):\n"))
                if o.message == "wsl-stated"]


# OpenTalker/SadTalker#323: cuDNN 8 asks for libcuda.so by its unversioned name; numba/numba#6777: numba's cuInit
CUDNN_LIBCUDA = ("Could not load library libcudnn_cnn_infer.so.8. Error: libcuda.so: cannot open shared object file: "
                 "No such file or directory\n")
NUMBA_100 = "CudaAPIError: [100] Call to cuInit results in CUDA_ERROR_NO_DEVICE\n"


def test_cudnn_not_finding_libcuda_so_under_wsl_puts_the_wsl_folder_on_the_path(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": "Hi, I am using WSL2 with Python 3.11\n" + CUDNN_LIBCUDA},
                   "env.wsl")
    # the loader path is the fix itself where the driver answers (stop 23), an alternative otherwise
    assert any("/usr/lib/wsl/lib" in c for c in (*f.fix.commands, *(c for a in f.fix.alternatives for c in a.commands)))


def test_numbas_cuinit_code_is_read(tmp_path):
    from tfdoctor.evidence import ANY, Source, observe

    obs = [o for o in observe(Source(ANY, "paste", NUMBA_100)) if o.message == "cuinit-code-printed"]
    assert obs and obs[0].group("error") == "CUDA_ERROR_NO_DEVICE"
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": "on my WSL 2 install\n" + NUMBA_100}))
    assert report.root_cause.id == "env.wsl"
