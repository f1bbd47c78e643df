"""Stop 32 (wave 34): what blind batch 76 and later showed missing.

Every line below is a real line from the public thread named beside it. The snapshots around them are hand-built in
tmp_path (a state synthesised for the test, as docs/snapshot-format.md describes)."""

from __future__ import annotations

import json

from tests.test_stated_evidence import _check, _root_fail, _snapshot

# zju3dv/EnvGS#4: driver 470.161.03 and the OptiX 7.7 SDK (which needs 530.41)
OPTIX_ABI = ("/root/code/EnvGS/submodule/diff-surfel-tracing/optix_tracer/optix_wrapper.cpp:175 Optix Error: "
             "'Unsupported ABI version'\nSegmentation fault\n")
SMI_470 = "Driver Version: 470.161.03   CUDA Version: 11.8\n"
# owl-project/NVISII#40: the same refusal as a number (7801)
OPTIX_7801 = "Optix call (optixInit()) failed with code 7801 (line 150)\n"
# pythonlessons/TensorFlow-2.x-YOLOv3#105: a TF-TRT conversion on TensorFlow 2.1 without TensorRT 6
TRT_ABORT = ("W tensorflow/stream_executor/platform/default/dso_loader.cc:59] Could not load dynamic library "
             "'libnvinfer.so.6'; dlerror: libnvinfer.so.6: cannot open shared object file: No such file or directory\n"
             "2020-12-01 15:51:57.871503: F tensorflow/compiler/tf2tensorrt/stub/nvinfer_stub.cc:49] "
             "getInferLibVersion symbol not found.\nAborted (core dumped)\n")
# the same TensorFlow's optional TensorRT, with nothing using it (tensorflow/compiler/tf2tensorrt/utils/py_utils.cc)
TRT_OPTIONAL = ("W tensorflow/stream_executor/platform/default/dso_loader.cc:59] Could not load dynamic library "
                "'libnvinfer.so.6'; dlerror: libnvinfer.so.6: cannot open shared object file: No such file or "
                "directory\n")
# tensorflow/tensorflow#36974: the devel-gpu image's LD_LIBRARY_PATH
STUBS_FIRST = ("/usr/local/cuda/extras/CUPTI/lib64:/usr/local/cuda/lib64:/usr/local/cuda/lib64/stubs:"
               "/usr/include/x64_64-linux-gnu:/usr/local/nvidia/lib:/usr/local/nvidia/lib64")
# NVIDIA/DALI#2362: DALI's video reader in a container started without the video capability
DALI = ("[/opt/dali/dali/operators/reader/loader/video_loader.h:182] Assert on \"lib_handle_\" failed: Failed to load "
        "libnvcuvid.so, needed by the VideoReader operator. If you are running in a Docker container, please refer to "
        "https://github.com/NVIDIA/nvidia-docker/wiki/Usage\n")
# Askannz/optimus-manager#41: a GeForce 820M (Fermi) knocked off the bus by a PCI reset
FALLEN = ("[  +0,000150] NVRM: The NVIDIA GPU 0000:04:00.0\n"
          "              NVRM: (PCI ID: 10de:1140) installed in this system has\n"
          "              NVRM: fallen off the bus and is not responding to commands.\n"
          "[  +0,000045] nvidia: probe of 0000:04:00.0 failed with error -1\n"
          "[  +0,000014] NVRM: The NVIDIA probe routine failed for 1 device(s).\n"
          "[  +0,000001] NVRM: None of the NVIDIA graphics adapters were initialized!\n")
LSPCI_820M = "04:00.0 3D controller [0302]: NVIDIA Corporation GF117M [GeForce 820M] [10de:1140] (rev a1)\n"


def test_optix_refusing_its_abi_is_a_driver_older_than_the_programs_optix_sdk(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": OPTIX_ABI, "commands/nvidia-smi": SMI_470}, "compat.driver-cuda")
    assert "470.161.03" in f.summary and "OptiX SDK" in f.summary
    assert "R530.41" in f.fix.summary and f.fix.verify == ("nvidia-smi",)
    assert any("Unsupported ABI version" in e.line for e in f.evidence)
    assert any("older OptiX" in a.when for a in f.fix.alternatives)


def test_optix_refusal_by_number_without_the_driver_version_still_says_the_driver_is_older(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": OPTIX_7801}, "compat.driver-cuda")
    assert f.summary.startswith("The NVIDIA driver is older than the OptiX SDK")


def test_tf_trt_aborting_without_its_tensorrt_fails_the_cuda_libraries_and_names_the_release(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": TRT_ABORT}, "tf.cuda-libs")
    assert "TensorRT 6 (libnvinfer.so.6)" in f.summary and "aborted" in f.summary
    assert "TensorRT 6" in f.fix.summary and f.fix.verify == ("ldconfig -p | grep libnvinfer",)
    assert f.evidence[0].line.endswith("getInferLibVersion symbol not found.")


def test_tensorrt_missing_with_nothing_using_it_stays_optional(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": TRT_OPTIONAL}))
    assert report.get("tf.cuda-libs").status.value not in ("fail", "warn")
    assert report.root_cause is None


def test_the_cuda_stubs_folder_ahead_of_the_drivers_library_warns_in_cuda_libcuda(tmp_path):
    report = _check(_snapshot(tmp_path, {"env.json": json.dumps({"LD_LIBRARY_PATH": STUBS_FIRST})}))
    f = report.get("cuda.libcuda")
    assert f.status.value == "warn" and "stubs/" in f.summary
    # the fix is the same path without the stubs folder, built from validated parts only
    assert ("export LD_LIBRARY_PATH=/usr/local/cuda/extras/CUPTI/lib64:/usr/local/cuda/lib64:"
            "/usr/include/x64_64-linux-gnu:/usr/local/nvidia/lib:/usr/local/nvidia/lib64") in f.fix.commands


def test_the_stubs_folder_after_the_drivers_library_is_not_reached_for_libcuda(tmp_path):
    after = "/usr/local/nvidia/lib64:/usr/local/cuda/lib64/stubs"
    report = _check(_snapshot(tmp_path, {"env.json": json.dumps({"LD_LIBRARY_PATH": after})}))
    assert report.get("cuda.libcuda").status.value == "skip"


def test_a_folder_merely_named_like_stubs_is_not_the_stubs_folder(tmp_path):
    report = _check(_snapshot(tmp_path, {"env.json": '{"LD_LIBRARY_PATH": "/opt/mystubs/lib:/usr/local/cuda/lib64"}'}))
    assert report.get("cuda.libcuda").status.value == "skip"


def test_dali_without_libnvcuvid_asks_for_the_video_capability(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": DALI}))
    f = report.get("container.capabilities")
    assert f.status.value == "warn" and f.summary.startswith("libnvcuvid.so could not be loaded")
    assert "`video`" in f.summary and not [g for g in report.findings if g.status.value == "fail"]
    assert any("NVIDIA_DRIVER_CAPABILITIES=compute,video,utility" in c for c in f.fix.commands)


def test_dali_in_a_container_whose_capabilities_lack_video_fails(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": DALI,
                              "env.json": '{"NVIDIA_VISIBLE_DEVICES": "all", '
                                          '"NVIDIA_DRIVER_CAPABILITIES": "compute,utility"}'},
                   "container.capabilities")
    assert "video" in f.summary


def test_a_probe_refusal_the_log_explains_is_not_the_open_modules_refusal(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/dmesg": FALLEN, "commands/lspci": LSPCI_820M}))
    rec = report.get("driver.recommended")
    assert rec.status.value != "fail", rec.summary
    assert report.root_cause.id == "driver.nvidia-module"
    assert report.get("nvml.devices").status.value == "fail" and "lost" in report.get("nvml.devices").summary


def test_an_unexplained_probe_refusal_of_a_pre_turing_gpu_still_names_the_open_modules(tmp_path):
    unexplained = "".join(line for line in FALLEN.splitlines(keepends=True) if "NVRM: The NVIDIA GPU" not in line
                          and "PCI ID" not in line and "fallen off" not in line)
    report = _check(_snapshot(tmp_path, {"commands/dmesg": unexplained, "commands/lspci": LSPCI_820M}))
    rec = report.get("driver.recommended")
    assert rec.status.value == "fail" and "open kernel modules" in rec.summary


# jax-ml/jax#10349: an A100 that PyTorch uses, a CPU-only jaxlib left installed (the line as the reporter's terminal
# wrapped it)
JAX_NO_CUDA = ("RuntimeError: Backend 'gpu' failed to initialize: NOT_FOUND: Could not find \n"
               "registered platform with name: \"cuda\". Available platform names are: \nHost Interpreter\n")
# tinygrad/tinygrad#7729: CUDA 11.5's ptxas on PATH given PTX ISA 8.5
PTXAS_TOOLKIT = ("ptxas /tmp/tinycuda_03fe6308def2ec1dd6c3b1a96681a0fc.ptx, line 9; fatal   : Unsupported .version "
                 "8.5; current version is '7.5'\nptxas fatal   : Ptx assembly aborted due to errors\n")
# NVIDIA/numba-cuda#120: the driver's JIT compiler (its input is 'application ptx input')
PTXAS_DRIVER = "ptxas application ptx input, line 9; fatal   : Unsupported .version 8.5; current version is '8.4'\n"
# wencolani/CrossE#2: a P100 whose memory is held while nvidia-smi lists no process
SMI_HELD = """+-----------------------------------------------------------------------------+
| NVIDIA-SMI 410.48                 Driver Version: 410.48                    |
|-------------------------------+----------------------+----------------------+
| GPU  Name        Persistence-M| Bus-Id        Disp.A | Volatile Uncorr. ECC |
| Fan  Temp  Perf  Pwr:Usage/Cap|         Memory-Usage | GPU-Util  Compute M. |
|===============================+======================+======================|
|   0  Tesla P100-SXM2...  Off  | 00000000:05:00.0 Off |                    0 |
| N/A   36C    P0    41W / 300W |  12799MiB / 16280MiB |      0%      Default |
+-------------------------------+----------------------+----------------------+

+-----------------------------------------------------------------------------+
| Processes:                                                       GPU Memory |
|  GPU       PID   Type   Process name                             Usage      |
|=============================================================================|
+-----------------------------------------------------------------------------+
"""
# keras-team/keras#8545: TensorFlow refused a 158 MB allocation (GPU memory held until a reboot)
OOM = ("E tensorflow/stream_executor/cuda/cuda_driver.cc:924] failed to allocate 158.06M (165740544 bytes) from "
       "device: CUDA_ERROR_OUT_OF_MEMORY\n")


def test_jax_asking_for_the_gpu_without_a_cuda_platform_is_a_cpu_only_jaxlib(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": JAX_NO_CUDA}, "tf.cuda-build")
    assert "This JAX has no CUDA backend" in f.summary
    assert "python3 -m pip install -U 'jax[cuda12]'" in f.fix.commands


def test_a_toolkit_ptxas_older_than_the_ptx_names_the_cuda_whose_ptxas_it_needs(tmp_path):
    f = _root_fail(tmp_path, {"commands/python3_run.py": PTXAS_TOOLKIT}, "tf.cuda-libs")
    assert "CUDA 11.5's" in f.summary and "CUDA 12.5's ptxas" in f.summary
    assert f.fix.verify == ("command -v ptxas", "ptxas --version") and not f.fix.commands


def test_the_drivers_jit_refusing_ptx_is_not_the_toolkits_ptxas(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/python3_run.py": PTXAS_DRIVER,
                                         "commands/nvidia-smi": "Driver Version: 550.54.15    CUDA Version: 12.4\n"}))
    assert report.get("tf.cuda-libs").status.value != "fail"
    assert report.root_cause.id == "compat.driver-cuda"


def test_memory_held_with_no_process_listed_is_no_ok(tmp_path):
    f = _check(_snapshot(tmp_path, {"commands/nvidia-smi": SMI_HELD})).get("gpu.memory-in-use")
    # where it ran (a container hides the host's processes) is not recorded: said, not alarmed
    assert f.status.value == "info" and "12799 of 16280 MiB" in " ".join(f.details)


def test_memory_held_with_no_process_listed_where_cuda_ran_out_is_the_cause(tmp_path):
    f = _root_fail(tmp_path, {"commands/nvidia-smi": SMI_HELD, "tensorflow.log": OOM}, "gpu.memory-in-use")
    assert "no process" in f.summary and "ran out of memory" in f.summary


# koszullab/instaGRAAL#10: CUDA 10.0's runfile on a 128-CPU server without an NVIDIA GPU
INSTALLER_NO_GPU = ("WARNING: You do not appear to have an NVIDIA GPU supported by the 410.48\n\n"
                    "         NVIDIA Linux graphics driver installed in this system.  For\n")
# gridhead/nvidia-auto-installer-for-fedora-linux#99: Fedora 35 on its old 5.14.10 kernel
DNF_NO_DEVEL = ("All matches were filtered out by exclude filtering for argument: kernel-devel\n"
                "Error: Unable to find a match: kernel-headers kernel-devel\n")
# pop-os/system76-power#350: DKMS's pointer to the failed NVIDIA build's log, the rest of its output not pasted
NVIDIA_MAKE_LOG = "Consult /var/lib/dkms/nvidia/515.48.07/build/make.log for more information.\n"
# pop-os/pop#1338: another module's (Broadcom's wifi) build
BCMWL_MAKE_LOG = "Consult /var/lib/dkms/bcmwl/6.30.223.271+bdcom/build/make.log for more information.\n"


def test_the_installer_finding_no_supported_gpu_warns_that_there_may_be_none(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": INSTALLER_NO_GPU}))
    f = report.get("pci.nvidia-gpu")
    assert f.status.value == "warn" and "driver 410.48" in f.summary and "may have no NVIDIA GPU" in f.summary
    assert f.fix.verify == ("lspci -nn | grep -i nvidia",)


def test_unversioned_kernel_devel_dnf_cannot_find_is_a_module_that_cannot_be_built(tmp_path):
    f = _root_fail(tmp_path, {"commands/nvautoinstall_driver": DNF_NO_DEVEL,
                              "commands/uname_-r": "5.14.10-300.fc35.x86_64\n"}, "driver.dkms")
    assert "headers cannot be installed" in f.summary


def test_dkms_pointing_at_the_nvidia_modules_make_log_is_its_build_failing(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": NVIDIA_MAKE_LOG}, "driver.dkms")
    assert "could not build the NVIDIA 515.48.07 module" in f.summary
    assert any("make.log" in e.line for e in f.evidence)


def test_dkms_pointing_at_another_modules_make_log_says_nothing_of_nvidia(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": BCMWL_MAKE_LOG}))
    assert report.get("driver.dkms").status.value != "fail" and report.root_cause is None


# Kyubyong/tacotron#5: a program pinned its queue to the GPU, and TensorFlow had only the CPU
NO_GPU0 = ("InvalidArgumentError (see above for traceback): Cannot assign a device to node 'batch': Could not satisfy "
           "explicit device specification '/device:GPU:0' because no devices matching that specification are "
           "registered in this process; available devices: /job:localhost/replica:0/task:0/cpu:0\n")
# xl-sr/CAL#4: Keras' CuDNNGRU where TensorFlow registered no GPU
CUDNN_RNN_CPU = ("tensorflow.python.framework.errors_impl.InvalidArgumentError: No OpKernel was registered to support "
                 "Op 'CudnnRNN' with these attrs.  Registered devices: [CPU], Registered kernels:\n"
                 "  <no registered kernels>\n")
# fizyr/keras-retinanet#135: TensorFlow 1.x without libcudnn.so.5
NATIVE_RUNTIME = ("ImportError: libcudnn.so.5: cannot open shared object file: No such file or directory\n"
                  "Failed to load the native TensorFlow runtime.\n")


def test_an_op_pinned_to_a_gpu_tensorflow_does_not_have_says_it_registered_none(tmp_path):
    for i, log in enumerate((NO_GPU0, CUDNN_RNN_CPU)):
        f = _check(_snapshot(tmp_path, {"tensorflow.log": log}, name=f"s{i}")).get("tf.gpu-visible")
        # whether the machine has a GPU was not recorded: a warning, not a failure
        assert f.status.value == "warn" and "did not register a GPU" in f.summary, (i, f.summary)


def test_tensorflow_1x_failing_to_import_for_a_cuda_library_fails_import_caused_by_the_library(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": NATIVE_RUNTIME}))
    imp, libs = report.get("tf.import"), report.get("tf.cuda-libs")
    assert imp.status.value == "fail" and "libcudnn.so.5" in imp.summary and imp.caused_by == "tf.cuda-libs"
    assert libs.status.value == "fail" and report.root_cause.id == "tf.cuda-libs"


# OHF-Voice/wyoming-piper#32: the package depends on the CPU build of ONNX Runtime
ORT_CPU = ("/.venv/lib/python3.11/site-packages/onnxruntime/capi/onnxruntime_inference_collection.py:121: UserWarning: "
           "Specified provider 'CUDAExecutionProvider' is not in available provider names.Available providers: "
           "'AzureExecutionProvider, CPUExecutionProvider'\n")
SMI_HEADER = "| NVIDIA-SMI 535.161.07             Driver Version: 535.161.07   CUDA Version: 12.2     |\n"
# Comfy-Org/ComfyUI#2640 and HAMM3REXTREME/ComfyUI-Installer#6: PyTorch's CUDA build on machines without NVIDIA
NO_DRIVER = ("RuntimeError: Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and "
             "installed a driver from http://www.nvidia.com/Download/index.aspx\n")
# eaplatanios/tensorflow_scala#93: CUDA 9.1's cuBLAS where TensorFlow's binaries need CUDA 9.0's
VERSION_NODE = "/lib64/libcublas.so.9.0: version `libcublas.so.9.0' not found\n"
# apache/mxnet#347: the R package of a CUDA 7.0 build, started from RStudio
CUDART70 = ("  error: unable to load shared object '/home/u/R/x86_64-pc-linux-gnu-library/3.2/mxnet/libs/libmxnet.so':\n"
            "  libcudart.so.7.0: cannot open shared object file: No such file or directory\n")


def test_onnx_runtime_without_its_cuda_provider_is_a_cpu_build_that_warns_where_no_gpu_is_known(tmp_path):
    f = _check(_snapshot(tmp_path, {"tensorflow.log": ORT_CPU})).get("tf.cuda-build")
    assert f.status.value == "warn" and "CPU-only build" in f.summary and "AzureExecutionProvider" in f.summary
    assert f.fix.commands == ("python3 -m pip uninstall -y onnxruntime onnxruntime-gpu",
                              "python3 -m pip install onnxruntime-gpu")


def test_onnx_runtime_without_its_cuda_provider_fails_beside_a_working_driver(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": ORT_CPU, "commands/nvidia-smi": SMI_HEADER}, "tf.cuda-build")
    assert "ONNX Runtime" in f.summary


def test_another_vendors_gpu_in_the_reporters_words_is_why_pytorch_found_no_nvidia_driver(tmp_path):
    for i, said in enumerate(("I am running arch linux with an AMD Radeon 7900xt GPU.\n",
                              "- System GPU: Intel Corporation HD Graphics 530\n")):
        report = _check(_snapshot(tmp_path, {"tensorflow.log": NO_DRIVER, "commands/pasted-text": said},
                                  name=f"s{i}"))
        assert report.root_cause.id == "pci.nvidia-gpu", (said, report.root_cause)


def test_a_cpu_and_an_nvidia_gpu_named_together_still_say_nvidia(tmp_path):
    # (a sentence written for this test: the prose pattern's `with an` must not make an Intel CPU the only GPU)
    report = _check(_snapshot(tmp_path, {"tensorflow.log": NO_DRIVER, "commands/pasted-text":
                                         "a workstation with an Intel CPU and NVIDIA GPU\n"}))
    assert report.root_cause is None or report.root_cause.id != "pci.nvidia-gpu"


def test_a_cuda_library_lacking_its_own_version_node_is_another_releases(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": VERSION_NODE}, "tf.cuda-libs")
    assert "libcublas.so.9.0" in f.summary and "CUDA 9.0" in f.fix.summary


def test_a_missing_cuda_library_of_an_old_release_offers_its_toolkit_folder_on_the_loader_path(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": CUDART70}, "tf.cuda-libs")
    alt = next(a for a in f.fix.alternatives if "LD_LIBRARY_PATH" in a.when)
    assert alt.commands == ("ls -d /usr/local/cuda-7.0/lib64",
                            "export LD_LIBRARY_PATH=/usr/local/cuda-7.0/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
