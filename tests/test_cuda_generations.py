"""A CUDA too old for the GPU, a driver too old for a program's PTX, and the NVIDIA module's source too old for the
kernel. Every quoted line is from the public thread named beside it; the snapshots around them are hand-built in
tmp_path (a state synthesised for the test)."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _snapshot

# ComputationalRadiationPhysics/cuda_memtest#31 (maintainer: 'compiled with CUDA 11.3 but the driver on your system
# is older'); the nvidia-smi header of lllyasviel/Fooocus#1313 for the driver beside it
PTX = ("[05/23/2021 18:30:06][computer][0]:ERROR: CUDA error: the provided PTX was compiled with an unsupported "
       "toolchain., line 148, file /var/tmp/pamac-build-user/cuda_memtest/src/cuda_memtest/cuda_memtest.cu\n")
SMI_HEADER = ("+-----------------------------------------------------------------------------+\n"
              "| NVIDIA-SMI 470.86       Driver Version: 470.86       CUDA Version: 11.4     |\n"
              "|-------------------------------+----------------------+----------------------+\n")


def test_ptx_from_a_newer_toolkit_is_a_driver_too_old(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": PTX}))
    f = report.get("compat.driver-cuda")
    assert f.status.value == "fail" and report.root_cause.id == "compat.driver-cuda"
    assert "compiled the program's PTX" in f.summary


def test_numbas_bare_222_is_the_same(tmp_path):
    # numba/numba#8961 wording of the code (older Numba names 222 UNKNOWN_CUDA_ERROR)
    line = "numba.cuda.cudadrv.driver.LinkerError: [222] Call to cuLinkAddData results in UNKNOWN_CUDA_ERROR\n"
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": line, "commands/nvidia-smi": SMI_HEADER}))
    f = report.get("compat.driver-cuda")
    assert f.status.value == "fail" and "470.86" in f.summary


# void-linux/void-packages#55238: the compiler's error inside DKMS's build of the 390 module for a newer kernel
COMPILE = ("/var/lib/dkms/nvidia/390.157/build/conftest/functions.h:76:2: error: #error wait_on_bit_lock() conftest "
           "failed!\n")


def test_a_compile_error_in_the_nvidia_modules_source_is_a_dkms_failure(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": COMPILE, "commands/uname_-r": "6.14.0_1\n"}))
    f = report.get("driver.dkms")
    assert f.status.value == "fail" and report.root_cause.id == "driver.dkms"
    assert "390.157" in f.summary and "legacy branch" in f.summary


def test_an_old_branch_that_is_not_a_legacy_one_is_not_called_legacy(tmp_path):
    line = COMPILE.replace("390.157", "418.74")
    f = _check(_snapshot(tmp_path, {"commands/pasted-text": line, "commands/uname_-r": "5.3.18\n"})).get("driver.dkms")
    assert "418.74" in f.summary and "legacy" not in f.summary and "old branch" in f.summary


# tensorflow/tensorflow#3430 (TensorFlow 0.9's device properties); tensorflow/tensorflow#48722's template field
PROPS = ("I tensorflow/core/common_runtime/gpu/gpu_init.cc:102] Found device 0 with properties:\n"
         "name: GeForce GTX 1080\n"
         "major: 6 minor: 1 memoryClockRate (GHz) 1.7335\n")


def test_a_cuda_older_than_the_gpus_architecture_fails(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": PROPS,
                                         "commands/pasted-text": "- CUDA/cuDNN version: 7.5/4\n"}))
    f = report.get("compat.compute-capability")
    assert f.status.value == "fail" and report.root_cause.id == "compat.compute-capability"
    assert "CUDA 7.5" in f.summary and "8.0" in f.summary and "Pascal" in f.summary


def test_a_cuda_of_the_same_major_architecture_runs_through_binary_compatibility(tmp_path):
    # 8.6 (RTX 30xx) with CUDA 11.0: sm_80 code runs on 8.6, no failure
    log = PROPS.replace("major: 6 minor: 1", "major: 8 minor: 6")
    f = _check(_snapshot(tmp_path, {"tensorflow.log": log, "commands/pasted-text": "- CUDA/cuDNN version: 11.0/8.0\n"})) \
        .get("compat.compute-capability")
    assert f.status.value != "fail"


def test_the_runtime_tensorflow_opened_outranks_what_is_stated(tmp_path):
    # DrSleep/tensorflow-deeplab-resnet#208's loader line: TensorFlow opened CUDA 8.0's runtime, whatever was stated
    opened = "I tensorflow/stream_executor/dso_loader.cc:101] successfully opened CUDA library libcudart.so.8.0 locally\n"
    f = _check(_snapshot(tmp_path, {"tensorflow.log": opened + PROPS,
                                    "commands/pasted-text": "- CUDA/cuDNN version: 7.5/4\n"})) \
        .get("compat.compute-capability")
    assert f.status.value != "fail"


def test_nvidia_smi_q_cuda_version_is_not_the_toolkit():
    from tfdoctor.evidence import TENSORFLOW_LOG, Source, observe

    line = "CUDA Version                              : 12.2\n"  # nvidia-smi -q: the driver's CUDA, padded colon
    assert not [o for o in observe(Source(TENSORFLOW_LOG, "paste", line)) if o.message == "cuda-version-stated"]


def test_triage_keeps_the_words_before_a_message_recognised_mid_line():
    from tfdoctor.triage import triage_text

    # numba/numba#6777's traceback line, pasted inside a WSL2 question: the code (100) and its words survive triage
    text = ("Cuda works fine in PyTorch on my WSL 2 install but it doesn't work for numba.\n```\n"
            "CudaAPIError: [100] Call to cuInit results in CUDA_ERROR_NO_DEVICE\n```\n")
    report = triage_text(text).report
    assert report.root_cause is not None and report.root_cause.id == "env.wsl"


# karpathy/nanoGPT#157: torch.compile (inductor) on a GTX 1080
TRITON = ("RuntimeError: Found NVIDIA GeForce GTX 1080 which is too old to be supported by the triton GPU compiler, "
          "which is used as the backend. Triton only supports devices of CUDA Capability >= 7.0, but your device is of "
          "CUDA capability 6.1\n")


def test_a_gpu_below_tritons_minimum_is_compute_capability_not_the_driver(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": TRITON}))
    f = report.get("compat.compute-capability")
    assert f.status.value == "fail" and report.root_cause.id == "compat.compute-capability"
    assert "GTX 1080" in f.summary and "6.1" in f.summary and f.fix.commands == ("export TORCHDYNAMO_DISABLE=1",)
    assert report.get("driver.nvidia-module").status.value != "fail"


# NVIDIA/nvidia-docker#723 (Azure N-series, persistence mode off)
TIMEOUT = "nvidia-container-cli: initialization error: driver error: timed out\n"


def test_the_container_library_timing_out_on_the_driver_is_persistence_mode(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": TIMEOUT}))
    f = report.get("gpu.persistence-mode")
    assert f.status.value == "fail" and report.root_cause.id == "gpu.persistence-mode"
    assert f.fix.commands == ("sudo systemctl enable --now nvidia-persistenced",)


def test_pytorchs_driver_too_old_without_its_version(tmp_path):
    # Comfy-Org/ComfyUI#6226's title: the message without '(found version ...)'
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": "RuntimeError: The NVIDIA driver on your system is too "
                                                                   "old\n"}))
    assert report.root_cause.id == "compat.driver-cuda"


# pytorch/pytorch#159954: PyTorch's wording of cuInit's 999 (the fix its users report: reload nvidia_uvm)
TORCH_999 = ("/home/krish/miniconda3/envs/ass-test/lib/python3.10/site-packages/torch/cuda/__init__.py:174: UserWarning: "
             "CUDA initialization: CUDA unknown error - this may be due to an incorrectly set up environment, e.g. "
             "changing env variable CUDA_VISIBLE_DEVICES after program start. Setting the available devices to be "
             "zero. (Triggered internally at /pytorch/c10/cuda/CUDAFunctions.cpp:109.)\n")


def test_pytorchs_cuda_unknown_error_points_at_nvidia_uvm(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": TORCH_999}))
    assert report.root_cause.id == "cuda.device-nodes" and "999" in report.root_cause.summary


# Hellod035/LeggedLab#26: an RTX 5090 with a PyTorch build that stops at sm_90
SM120 = "NVIDIA GeForce RTX 5090 with CUDA capability sm_120 is not compatible with the current PyTorch installation.\n"


def test_a_pytorch_build_without_the_gpus_architecture(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": SM120}))
    f = report.get("compat.compute-capability")
    assert f.status.value == "fail" and report.root_cause.id == "compat.compute-capability"
    assert "sm_120" in f.summary and "CUDA 12.8" in f.fix.summary


# google/seq2seq#270: TensorFlow could not even create its context
CTX_OOM = ("E tensorflow/core/common_runtime/direct_session.cc:137] Internal: failed initializing StreamExecutor for CUDA "
           "device ordinal 0: Internal: failed call to cuDevicePrimaryCtxRetain: CUDA_ERROR_OUT_OF_MEMORY; total memory "
           "reported: 18446744073709551615\n")


def test_out_of_memory_at_context_creation_is_memory_held_by_others(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": CTX_OOM}))
    f = report.get("gpu.memory-in-use")
    assert f.status.value == "fail" and report.root_cause.id == "gpu.memory-in-use"


def test_an_ordinary_allocation_failure_is_not_read_as_memory_held_at_start(tmp_path):
    # tensorflow/tensorflow#12237: allocations failing while running are TensorFlow's own appetite
    line = ("2017-08-12 08:25:14.841699: E tensorflow/stream_executor/cuda/cuda_driver.cc:924] failed to allocate 90.48M "
            "(94873600 bytes) from device: CUDA_ERROR_OUT_OF_MEMORY\n")
    f = _check(_snapshot(tmp_path, {"tensorflow.log": line})).get("gpu.memory-in-use")
    assert f.status.value != "fail"


# iot-salzburg/gpu-jupyter#22: inside a container started without --gpus, the shell finds no nvidia-smi
def test_no_nvidia_smi_inside_a_container_is_a_container_without_the_gpu(tmp_path):
    report = _check(_snapshot(tmp_path, {"files/.dockerenv": "",
                                         "commands/nvidia-smi.err": "/bin/bash: nvidia-smi: command not found\n",
                                         "commands/nvidia-smi.rc": "127\n"}))
    f = report.get("env.container")
    assert f.status.value == "fail" and report.root_cause.id == "env.container"


def test_no_nvidia_smi_on_a_host_is_not_a_container_problem(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/nvidia-smi.err": "bash: nvidia-smi: command not found\n",
                                         "commands/nvidia-smi.rc": "127\n"}))
    assert report.get("env.container").status.value != "fail"
