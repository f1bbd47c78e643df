"""Wave 23, group E: messages TensorFlow's and XLA's GPU set-up code prints that the catalogue did not read, found by
going through the code that prints them (cuda_diagnostics.cc, gpu_device.cc with the cudart stub, XLA's PTX
compilation providers). Every log line below is a real line from the public thread named beside it; the snapshots
around them are hand-built in tmp_path (the machine boundary: what the machine printed)."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _root_fail, _snapshot

# ------------------------------------------------------------------ cuda_diagnostics.cc: the module's /proc file, no node
_NO_NODE = (  # NVIDIA/nvidia-docker#1330: tensorflow/tensorflow:latest-gpu-jupyter started with plain `docker run`
    "2020-06-24 21:27:37.458905: I tensorflow/stream_executor/platform/default/dso_loader.cc:44] Successfully opened "
    "dynamic library libcuda.so.1\n"
    "2020-06-24 21:27:37.458946: E tensorflow/stream_executor/cuda/cuda_driver.cc:313] failed call to cuInit: UNKNOWN "
    "ERROR (-1)\n"
    "2020-06-24 21:27:37.458987: I tensorflow/stream_executor/cuda/cuda_diagnostics.cc:163] no NVIDIA GPU device is "
    "present: /dev/nvidia0 does not exist\n")


def test_the_modules_proc_file_without_dev_nvidia0_names_both_places_where_unknown(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": _NO_NODE}, "cuda.device-nodes")
    assert "/dev/nvidia0" in f.summary and "container" in f.summary
    assert "--gpus all" in f.fix.summary
    assert any("nvidia-modprobe" in c for a in f.fix.alternatives for c in a.commands)
    assert any("no NVIDIA GPU device is present" in e.line for e in f.evidence)


def test_inside_a_container_it_is_the_container_started_without_the_gpu(tmp_path):
    # the same lines where the snapshot shows a Docker container: env.container says it, not a host fix
    report = _check(_snapshot(tmp_path, {"tensorflow.log": _NO_NODE, "files/.dockerenv": ""}))
    assert report.get("cuda.device-nodes").status.value != "fail"
    assert report.root_cause is not None and report.root_cause.id == "env.container", report.root_cause


def test_the_line_is_not_read_as_a_loaded_driver(tmp_path):
    # inside a container /proc/driver/nvidia/version is the host's: the line says nothing of this machine's driver
    from tfdoctor.evidence import Source, observe

    obs = observe(Source("tensorflow", "tensorflow.log", _NO_NODE))
    (o,) = [o for o in obs if o.message == "tf-no-gpu-device-node"]
    assert o.group("node") == "/dev/nvidia0"
    assert "driver.loaded" not in dict(o.claims)


def test_kernel_driver_not_running_is_still_its_own_message():
    # deepmedic/deepmedic#128's neighbour: without /proc/driver/nvidia/version TensorFlow prints the other line
    from tfdoctor.evidence import Source, observe

    line = ("2017-06-13 00:53:55.614764: I tensorflow/stream_executor/cuda/cuda_diagnostics.cc:145] kernel driver does "
            "not appear to be running on this host (pc): /proc/driver/nvidia/version does not exist\n")
    ids = {o.message for o in observe(Source("tensorflow", "tensorflow.log", line))}
    assert "tf-no-gpu-device-node" not in ids and "kernel-driver-not-running" in ids


# ------------------------------------------------------------------ gpu_device.cc through the cudart stub
def test_the_cudart_stubs_status_is_a_missing_cuda_runtime(tmp_path):
    # tensorflow/tensorflow#34354 (TensorFlow 2.0 with CUDA 10.1 installed; maintainer: 'TensorFlow supports CUDA 10.0')
    log = ("tensorflow.python.framework.errors_impl.InternalError: cudaGetDevice() failed. Status: cudaGetErrorString "
           "symbol not found.\n")
    f = _root_fail(tmp_path, {"tensorflow.log": log}, "tf.cuda-libs")
    assert "libcudart" in f.summary
    assert any("tf.__version__" in c for c in f.fix.commands)  # (get_build_info came with 2.3)
    assert "CUDA 10.0" in f.fix.summary


def test_the_cudart_stubs_status_quoted_without_a_log(tmp_path):
    # tensorflow/tensorflow#32381's title, as a person quotes it
    files = {"commands/pasted-text": "I get cudaGetDevice() failed. Status: cudaGetErrorString symbol not found. "
                                     "when testing if tensorflow 2.0 can recognize my GPU\n"}
    f = _root_fail(tmp_path, files, "tf.cuda-libs")
    assert "libcudart" in f.summary


def test_another_cudart_status_is_not_read_as_a_missing_runtime(tmp_path):
    # the same call failing for a reason the CUDA runtime names (a Myriad cluster page): not the stub's answer
    log = ("tensorflow.python.framework.errors_impl.InternalError: CUDA runtime implicit initialization on GPU:0 "
           "failed. Status: device kernel image is invalid\n")
    f = _check(_snapshot(tmp_path, {"tensorflow.log": log})).get("tf.cuda-libs")
    assert "libcudart" not in f.summary


# ------------------------------------------------------------------ XLA's PTX compilation providers
_NO_PTX = (  # wutzebaer/tensorflow-5090#3 (TensorFlow 2.20-dev, RTX 5060 Ti): the device is created, XLA cannot compile
    "I0000 00:00:1748720218.610720      27 gpu_device.cc:2019] Created device /job:localhost/replica:0/task:0/device:"
    "GPU:0 with 13272 MB memory:  -> device: 0, name: NVIDIA GeForce RTX 5060 Ti, pci bus id: 0000:2b:00.0, compute "
    "capability: 12.0\n"
    "2025-05-31 19:37:00.138606: W tensorflow/core/framework/op_kernel.cc:1855] OP_REQUIRES failed at xla_ops.cc:590 "
    ": UNAVAILABLE: No PTX compilation provider is available. Neither ptxas/nvlink nor nvjtlink is available.\n")


def test_no_ptx_compilation_provider_is_xla_missing_ptxas(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": _NO_PTX}))
    f = report.get("tf.cuda-libs")
    assert f.status.value == "warn" and "ptxas" in f.summary
    assert any("nvidia-cuda-nvcc-cu12" in c for c in f.fix.commands)
    assert report.get("tf.gpu-visible").status.value == "ok"  # the GPU itself was registered


def test_no_ptx_compilation_provider_quoted_without_a_log(tmp_path):
    # the same post's own script printed XLA's message after 'Fehler:'
    files = {"commands/pasted-text": "Fehler:\nNo PTX compilation provider is available. Neither ptxas/nvlink nor "
                                     "nvjtlink is available. As a fallback you can enable JIT compilation in the CUDA "
                                     "driver via the flag `--xla_gpu_unsafe_fallback_to_driver_on_ptxas_not_found`. "
                                     "Details:\n"}
    f = _check(_snapshot(tmp_path, files)).get("tf.cuda-libs")
    assert f.status.value == "warn" and "ptxas" in f.summary


# ------------------------------------------------------------------ the placer: no /device:GPU:0 in this process
_PLACER_XLA = (  # LiyaoTang/contrastBoundary#4 (a SLURM node, TensorFlow 1.15-2.3 era): XLA_GPU but no GPU device
    "tensorflow.python.framework.errors_impl.InvalidArgumentError: Cannot assign a device for operation gpu_0/model/"
    "resnet_backbone/res1_input_conv/L2Loss: node gpu_0/model/resnet_backbone/res1_input_conv/L2Loss (defined at "
    "/export/home/contrastBoundary/tensorflow/models/basic_operators.py:128) was explicitly assigned to /device:GPU:0 "
    "but available devices are [ /job:localhost/replica:0/task:0/device:CPU:0, /job:localhost/replica:0/task:0/device:"
    "XLA_CPU:0, /job:localhost/replica:0/task:0/device:XLA_GPU:0 ]. Make sure the device specification refers to a "
    "valid device.\n")


def test_gpu0_missing_beside_an_xla_gpu_is_tensorflows_cuda_libraries(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": _PLACER_XLA}, "tf.cuda-libs")
    assert "XLA_GPU" in f.summary
    assert any("explicitly assigned to /device:GPU:0" in e.line for e in f.evidence)


def test_the_placers_refusal_says_tensorflow_registered_no_gpu():
    from tfdoctor.evidence import Source, observe

    # tensorflow/tensorflow#3269: a maintainer's GPU test on a build whose CUDA set-up did not work (TensorFlow 0.x)
    old = ("Actual: Invalid argument: Cannot assign a device to node 'n/_2': Could not satisfy explicit device "
           "specification '/job:localhost/replica:0/task:0/gpu:0' because no devices matching that specification are "
           "registered in this process; available devices: /job:localhost/replica:0/task:0/cpu:0\n")
    # infocusp/tf_cnnvis#14: TensorFlow 1.2-1.13's wording
    mid = ("InvalidArgumentError: Cannot assign a device for operation 'fake_var_3': Operation was explicitly assigned "
           "to /device:GPU:0 but available devices are [ /job:localhost/replica:0/task:0/cpu:0 ]. Make sure the device "
           "specification refers to a valid device.\n")
    for text in (_PLACER_XLA, old, mid):
        (o,) = [o for o in observe(Source("tensorflow", "tensorflow.log", text))
                if o.message == "tf-gpu0-not-registered"]
        assert dict(o.claims)["tf.sees_gpu"] is False


def test_other_placer_refusals_say_nothing_of_the_gpu():
    from tfdoctor.evidence import Source, observe

    lines = (
        # tensorflow/models#4548: an op without a GPU kernel, the GPU itself registered
        "InvalidArgumentError (see above for traceback): Cannot assign a device for operation 'InceptionV4/Logits/"
        "Predictions': Could not satisfy explicit device specification '/device:GPU:0' because no supported kernel "
        "for GPU devices is available.\n",
        # tensorflow/tensorflow#26208: a remote worker's GPU, not this machine's
        "Could not satisfy explicit device specification '/job:worker/task:0/gpu:0' because no devices matching that "
        "specification are registered in this process; available devices: /job:worker/replica:0/task:0/cpu:0\n")
    for text in lines:
        assert not [o for o in observe(Source("tensorflow", "tensorflow.log", text))
                    if o.message == "tf-gpu0-not-registered"]


# ------------------------------------------------------------------ XLA's newer wording of the ptxas fallback
def test_xlas_driver_fallback_for_a_ptxas_too_old_is_no_failure(tmp_path):
    # openxla/xla#5932 (an H800, compute capability 9.0, with an older ptxas): XLA compiles through the driver instead
    log = ("2023-09-26 23:49:25.317379: W external/xla/xla/stream_executor/gpu/asm_compiler.cc:231] Falling back to "
           "the CUDA driver for PTX compilation; ptxas does not support CC 9.0\n"
           "2023-09-26 23:49:25.317533: W external/xla/xla/stream_executor/gpu/redzone_allocator.cc:322] "
           "UNIMPLEMENTED: ptxas ptxas too old. Falling back to the driver to compile.\n")
    from tfdoctor.evidence import Source, observe

    obs = [o for o in observe(Source("tensorflow", "tensorflow.log", log)) if o.message == "xla-ptxas-fallback-to-driver"]
    assert len(obs) == 2 and obs[0].group("cc") == "9.0"
    assert dict(obs[0].claims) == {"gpu.present": True, "driver.loaded": True}
    report = _check(_snapshot(tmp_path, {"tensorflow.log": log}))
    assert report.root_cause is None or report.root_cause.status.value not in ("fail", "warn"), report.root_cause


# ------------------------------------------------------------------ cuda_dnn.cc (0.x-1.x): a cuDNN function not found
def test_a_cudnn_function_not_found_is_the_cudnn_tensorflow_was_built_for_missing(tmp_path):
    # udacity/CarND-Term1-Starter-Kit#76: TensorFlow in an nvidia/cuda:8.0-cudnn5-runtime image without its cuDNN
    log = ("F tensorflow/stream_executor/cuda/cuda_dnn.cc:221] Check failed: s.ok() could not find cudnnCreate in cudnn "
           "DSO; dlerror: /root/miniconda3/envs/carnd-term1/lib/python3.5/site-packages/tensorflow/python/"
           "_pywrap_tensorflow.so: undefined symbol: cudnnCreate\n")
    f = _root_fail(tmp_path, {"tensorflow.log": log}, "tf.cuda-libs")
    assert "cudnnCreate" in f.summary and "cuDNN" in f.summary


def test_a_named_missing_cudnn_library_still_comes_first(tmp_path):
    # the loader's lines from tensorflow/tensorflow#24 and the fatal from #722, which points to #24 (both TensorFlow
    # 0.6): where the loader named the library, that name leads
    log = ("I tensorflow/stream_executor/dso_loader.cc:93] Couldn't open CUDA library libcudnn.so.6.5. LD_LIBRARY_PATH: "
           "/usr/local/cuda-7.0/lib64\n"
           "I tensorflow/stream_executor/cuda/cuda_dnn.cc:1382] Unable to load cuDNN DSO\n"
           "F tensorflow/stream_executor/cuda/cuda_dnn.cc:207] could not find cudnnCreate in cudnn DSO; dlerror: /usr/"
           "local/lib/python2.7/site-packages/tensorflow/python/_pywrap_tensorflow.so: undefined symbol: cudnnCreate\n")
    f = _root_fail(tmp_path, {"tensorflow.log": log}, "tf.cuda-libs")
    assert "libcudnn.so.6.5" in f.summary
