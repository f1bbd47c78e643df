"""Stop 33 (wave 35): what blind batch 83 and the corpus' misses showed missing.

Every line below is a real line from the public thread named beside it. The snapshots around them are hand-built in
tmp_path (states synthesised for the test, as docs/snapshot-format.md describes): where a test puts lines of two threads
side by side, it says so."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _root_fail, _snapshot
from tfdoctor.evidence import Source, observe

# openmm/openmm#3756: OpenMM 7.7's testInstallation on a Quadro K2000 (compute capability 3.0) under CUDA 11.4
NVRTC_ARCH = "CUDA platform error: Error compiling program: nvrtc: error: invalid value for --gpu-architecture (-arch)\n"
SMI_470_HEADER = "NVIDIA-SMI 470.141.03   Driver Version: 470.141.03   CUDA Version: 11.4\n"
# NVIDIA/nvidia-docker#177: nvidia-smi on a Quadro K4000 (GK106, compute capability 3.0)
SMI_K4000 = ("+------------------------------------------------------+\n"
             "| NVIDIA-SMI 352.39     Driver Version: 352.39         |\n"
             "|-------------------------------+----------------------+----------------------+\n"
             "| GPU  Name        Persistence-M| Bus-Id        Disp.A | Volatile Uncorr. ECC |\n"
             "| Fan  Temp  Perf  Pwr:Usage/Cap|         Memory-Usage | GPU-Util  Compute M. |\n"
             "|===============================+======================+======================|\n"
             "|   0  Quadro K4000        Off  | 0000:03:00.0     Off |                  N/A |\n")
# docker-archive/compose-cli#1107: TensorFlow 2.4's loader opening CUDA 11's runtime
OPENED_CUDART_11 = ("2021-01-06 16:28:38.933571: I tensorflow/stream_executor/platform/default/dso_loader.cc:49] "
                    "Successfully opened dynamic library libcudart.so.11.0\n")
# tensorflow/tensorflow#52988: the issue template's line
STATED_CUDA_112 = "- CUDA/cuDNN version: 11.2/8.1\n"
# NVIDIA/object-detection-tensorrt-example#2: an NGC image's start-up check on a Xeon X3470 (2009)
NGC_NO_AVX = ("ERROR: This container was built for CPUs supporting at least the AVX instruction set, but\n"
              "       the CPU detected was Intel(R) Xeon(R) CPU           X3470  @ 2.93GHz, which does not report\n"
              "       support for AVX.  An Illegal Instrution exception at runtime is likely to result.\n")
# jrottenberg/ffmpeg#233: h264_nvenc in a compose service that was not given the GPU
FFMPEG_LIBCUDA = "Cannot load libcuda.so.1\n"
# Kyubyong/bytenet_translation#2: TensorFlow 1.1/1.2's wording of the CPU-feature guard
OLD_FEATURE_GUARD = ("2017-06-14 19:57:14.658704: W tensorflow/core/platform/cpu_feature_guard.cc:45] The TensorFlow "
                     "library wasn't compiled to use SSE4.1 instructions, but these are available on your machine and "
                     "could speed up CPU computations.")


def test_nvrtc_refusing_the_gpus_architecture_fails_the_compute_capability(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": NVRTC_ARCH, "commands/nvidia-smi": SMI_470_HEADER},
                   "compat.compute-capability")
    assert "NVRTC" in f.summary and "no longer supports" in f.summary and "older than the GPU" in f.summary
    assert f.evidence[0].line.endswith("invalid value for --gpu-architecture (-arch)")
    assert "the driver is not the problem" in f.fix.summary


def test_nvrtc_refusal_on_a_kepler_under_cuda_11_says_which_way(tmp_path):
    # two threads' lines side by side: the K4000's nvidia-smi row and a CUDA 11 runtime TensorFlow opened
    f = _root_fail(tmp_path, {"tensorflow.log": OPENED_CUDART_11 + NVRTC_ARCH, "commands/nvidia-smi": SMI_K4000},
                   "compat.compute-capability")
    assert f.summary.startswith("CUDA 11.0 (the CUDA runtime TensorFlow opened) no longer supports compute "
                                "capability 3.0 (Kepler): CUDA 11.0 dropped it")
    assert "CUDA 10.2 or older" in f.fix.summary


def test_a_cuda_runtime_that_dropped_the_gpu_fails_where_a_program_opened_it(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": OPENED_CUDART_11, "commands/nvidia-smi": SMI_K4000},
                   "compat.compute-capability")
    assert "CUDA 11.0 dropped it" in f.summary
    assert any("libcudart.so.11.0" in e.line for e in f.evidence)


def test_a_stated_cuda_that_dropped_the_gpu_only_warns(tmp_path):
    # people also quote nvidia-smi's driver-API number as "their" CUDA: a warning, not a failure
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": STATED_CUDA_112, "commands/nvidia-smi": SMI_K4000}))
    f = report.get("compat.compute-capability")
    assert f.status.value == "warn" and f.summary.startswith("CUDA 11.2 (as stated) no longer supports")


def test_a_cuda_that_still_supports_the_gpu_says_nothing_of_dropping_it(tmp_path):
    # Kepler's 3.0 went with CUDA 11.0; under CUDA 10.x nothing is dropped
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": "- CUDA/cuDNN version: 10.1/7.6\n",
                                         "commands/nvidia-smi": SMI_K4000}))
    f = report.get("compat.compute-capability")
    assert "dropped" not in f.summary and f.status.value not in ("fail", "warn")


def test_the_last_cuda_before_a_release_that_dropped_an_architecture():
    from tfdoctor.knowledge import loader

    assert [loader.cuda_before(v) for v in ("11.0", "12.0", "13.0", "9.0")] == ["10.2", "11.8", "12.9", "8.0"]
    assert loader.cuda_before("7.0") is None and loader.cuda_before("") is None


def test_an_ngc_containers_no_avx_check_fails_cpu_avx_in_its_own_words(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": NGC_NO_AVX}, "cpu.avx")
    assert f.summary.startswith("NVIDIA's container found no AVX on this CPU")
    assert "use a CPU with AVX" in f.fix.summary and any("host-passthrough" in a.when for a in f.fix.alternatives)


def test_ffmpeg_unable_to_load_libcuda_in_a_container_is_a_container_without_the_gpu(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": FFMPEG_LIBCUDA, "files/.dockerenv": ""}))
    assert report.root_cause.id == "env.container"
    assert report.get("cuda.init").status.value == "fail"


def test_ffmpegs_message_is_a_whole_line_not_a_sentence_about_it():
    said = observe(Source("cuda", "t", "I cannot load libcuda.so.1 since the upgrade\n"))
    assert not any(o.message == "ffmpeg-cannot-load-libcuda" for o in said)
    told = observe(Source("cuda", "t", "[h264_nvenc @ 0x55d0c1a2b3c0] Cannot load libcuda.so.1\n"))
    assert [o.message for o in told] == ["ffmpeg-cannot-load-libcuda"]


def test_tensorflow_1_0_to_1_5s_cpu_feature_guard_wording_is_read():
    obs = observe(Source("tensorflow+cuda", "tensorflow.log", OLD_FEATURE_GUARD))
    assert [o.message for o in obs] == ["cpu-feature-guard"] and obs[0].group("instructions") == "SSE4.1"
    # the fatal sibling stays its own message
    fatal = observe(Source("tensorflow+cuda", "tensorflow.log", "F tensorflow/core/platform/cpu_feature_guard.cc:37] "
                           "The TensorFlow library was compiled to use AVX instructions, but these aren't available "
                           "on your machine."))
    assert [o.message for o in fatal] == ["cpu-missing-instructions"]


# brokeDude2901/dxgkrnl_ubuntu#1: an Ubuntu 20.04 Hyper-V guest given the GPU by GPU-P, booted on the stock kernel
GPU_P_LSPCI = "be44:00:00.0 3D controller: Microsoft Corporation Device 008e\n"
GPU_P_SMI = ("Failed to initialize NVML: GPU access blocked by the operating system \n"
             "Failed to properly shut down NVML: GPU access blocked by the operating system \n")
# isaac-sim/IsaacSim#211: NVIDIA's PyPI placeholder package under WSL2, on a PC whose only GPU is an Intel Xe
ISAAC_WSL = ("      Operating System: Linux 6.6.87.2-microsoft-standard-WSL2\n"
             "      CPU Architecture: x86_64\n"
             "      Error in running nvidia-smi:\n"
             "I am using WSL2 at the moment along with python 3.10 and Ubuntu 22.04. \n"
             "GPU Name: Intel XE Graphics card\n")
# tensorflow/tensorflow#42738: conda's CPU (mkl) tensorflow and pip's tensorflow-gpu in one environment
CONDA_AND_PIP = ("tensorflow                2.2.0           mkl_py37h6e9ce2d_0  \n"
                 "tensorflow-base           2.2.0           mkl_py37hd506778_0  \n"
                 "tensorflow-gpu            2.2.0                     <pip>\n")


def test_hyper_v_paravirtual_gpu_on_the_bus_is_not_no_nvidia_gpu(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/lspci": GPU_P_LSPCI, "commands/nvidia-smi": GPU_P_SMI,
                                         "commands/nvidia-smi.rc": "255\n"}))
    assert report.get("nvml.init").status.value == "fail"  # NVML refused: not "no NVIDIA GPU on the PCI bus"
    assert report.get("pci.nvidia-gpu").status.value == "info"


def test_a_gpu_p_guest_on_a_kernel_that_is_not_wsls_is_told_it_needs_dxgkrnl(tmp_path):
    f = _root_fail(tmp_path, {"commands/lspci": GPU_P_LSPCI, "commands/nvidia-smi": GPU_P_SMI,
                              "commands/nvidia-smi.rc": "255\n", "commands/uname_-r": "5.15.0-41-generic\n"}, "env.wsl")
    assert "(5.15.0-41-generic) is not WSL's" in f.summary and "dxgkrnl" in f.summary
    assert f.fix.verify == ("ls -l /dev/dxg", "nvidia-smi")
    assert not any("wsl --" in c for c in f.fix.commands)


def test_under_a_wsl_kernel_the_blocked_gpu_stays_wsls_own_finding(tmp_path):
    f = _root_fail(tmp_path, {"commands/lspci": GPU_P_LSPCI, "commands/nvidia-smi": GPU_P_SMI,
                              "commands/nvidia-smi.rc": "255\n",
                              "commands/uname_-r": "6.6.87.2-microsoft-standard-WSL2\n"}, "env.wsl")
    assert "dxgkrnl" not in f.summary


def test_under_wsl_a_host_gpu_named_as_intels_is_no_nvidia_gpu(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": ISAAC_WSL}))
    f = report.get("pci.nvidia-gpu")
    assert f.status.value == "fail" and report.root_cause.id == "pci.nvidia-gpu"
    assert "Windows host of this WSL has no NVIDIA GPU" in f.summary
    assert any("Intel XE Graphics card" in e.line for e in f.evidence)
    assert "NVIDIA driver" not in report.get("env.wsl").summary


def test_conda_cpu_tensorflow_beside_pips_tensorflow_gpu_is_not_stated_as_a_cpu_build(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/conda_list": CONDA_AND_PIP}))
    f = report.get("tf.cuda-build")
    assert f.status.value == "info" and "whichever was installed last" in f.summary
    assert report.root_cause is None
    # conda's CPU variant alone stays a CPU build
    alone = _check(_snapshot(tmp_path, {"commands/conda_list": CONDA_AND_PIP.rsplit("tensorflow-gpu", 1)[0]}, "alone"))
    assert alone.get("tf.cuda-build").status.value == "fail"


# tensorflow/tensorflow#62 (TensorFlow 0.5, CUDA 7.0, cuDNN v3 installed): a message only TensorFlow 0.x and 1.x print
UNABLE_CUDNN_DSO = ("I tensorflow/stream_executor/dso_loader.cc:77] LD_LIBRARY_PATH: :/usr/local/cuda-7.0/lib64\n"
                    "I tensorflow/stream_executor/cuda/cuda_dnn.cc:1062] Unable to load cuDNN DSO.\n")


def test_tensorflow_0x_and_1xs_cudnn_messages_never_ask_for_get_build_info(tmp_path):
    # tf.sysconfig.get_build_info() came with TensorFlow 2.3: a release that printed this has none
    f = _root_fail(tmp_path, {"tensorflow.log": UNABLE_CUDNN_DSO}, "tf.cuda-libs")
    text = f.fix.text()
    assert "get_build_info" not in text and "tf.__version__" in text


def test_a_known_1x_release_names_the_cudnn_it_was_built_with(tmp_path):
    # the same message beside a stated release (tensorflow.org's tested builds: 1.5 with cuDNN 7 and CUDA 9.0)
    f = _root_fail(tmp_path, {"tensorflow.log": UNABLE_CUDNN_DSO,
                              "commands/pasted-text": "tensorflow version: 1.5.0\n"}, "tf.cuda-libs")
    assert f.fix.summary.startswith("Install cuDNN 7, the version TensorFlow 1.5 was built with (with CUDA 9.0)")


# ROCm/tensorflow-upstream#237: TensorFlow's ROCm build on an AMD APU (the name carries a comma)
ROCM_LOG = ("2018-11-11 22:30:37.207465: I tensorflow/core/common_runtime/gpu/gpu_device.cc:1524] Found device 0 with "
            "properties: \nname: AMD A10-8700P Radeon R6, 10 Compute Cores 4C+6G\nAMDGPU ISA: gfx801\n"
            "memoryClockRate (GHz) 0.8\npciBusID 0000:00:01.0\nTotal memory: 7.31GiB\nFree memory: 7.06GiB\n"
            "2018-11-11 22:30:37.207580: I tensorflow/core/common_runtime/gpu/gpu_device.cc:1605] Ignoring visible gpu "
            "device (device: 0, name: AMD A10-8700P Radeon R6, 10 Compute Cores 4C+6G, pci bus id: 0000:00:01.0) with "
            "AMDGPU ISA gfx801. The minimum required AMDGPU ISA is gfx803.\n")
# NVIDIA/nvidia-docker#431: a VirtualBox VM without a GPU, Ubuntu's branch-numbered module
MODPROBE_375 = "modprobe: ERROR: could not insert 'nvidia_375': No such device\n"


def test_a_rocm_builds_device_lines_are_amds_and_say_no_nvidia_gpu_is_there(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": ROCM_LOG}, "pci.nvidia-gpu")
    assert any("gfx801" in e.line for e in f.evidence)
    # without the ROCm marks the same 'Found device' line is a GPU TensorFlow found
    cuda_like = ROCM_LOG.split("AMDGPU ISA: gfx801\n")[0] + "\n"
    report = _check(_snapshot(tmp_path, {"tensorflow.log": cuda_like}, "cuda"))
    assert report.get("pci.nvidia-gpu").status.value == "ok"


def test_modprobes_no_such_device_for_a_branch_numbered_module_is_no_gpu_it_can_drive(tmp_path):
    _root_fail(tmp_path, {"commands/modprobe_nvidia.err": MODPROBE_375, "commands/modprobe_nvidia.rc": "1\n"},
               "pci.nvidia-gpu")
    # the unified-memory module's own refusal stays its own
    said = observe(Source("modprobe", "m", "modprobe: ERROR: could not insert 'nvidia_331_updates_uvm': No such device"))
    assert [o.message for o in said] == ["modprobe-uvm-failed"]


# wang-xinyu/tensorrtx#1610 (TensorRT 8.2 on an RTX 4090) and DDTRobot/tita_rl_sim2sim2real#7 (TensorRT 10.7, RTX 5070 Ti)
TRT_SM_HEX = ("[12/12/2024-10:15:17] [E] [TRT] 1: [caskUtils.cpp::trtSmToCask::147] Error Code 1: Internal Error "
              "(Unsupported SM: 0x809)\n")
TRT_SM_120 = ("[07/19/2025-23:34:55] [E] Error[9]: IBuilder::buildSerializedNetwork: Error Code 9: API Usage Error "
              "(Target GPU SM 120 is not supported by this TensorRT release.)  \n")
# NVIDIA/retinanet-examples#314: an engine built with TensorRT 8.0.0, loaded by 8.0.1
TRT_ENGINE = ("The engine plan file is not compatible with this version of TensorRT, expecting library version 8.0.0 got "
              "8.0.1, please rebuild.\n")
# mindprince/nvidia_gpu_prometheus_exporter#13: the exporter's pod on a node whose Docker does not default to nvidia
GONVML = ("couldn't initialize gonvml: could not load NVML library Make sure NVML is in the shared library search "
          "path\n")


def test_tensorrt_refusing_the_gpus_sm_is_a_tensorrt_older_than_the_gpu(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": TRT_SM_HEX}, "compat.compute-capability")
    assert "TensorRT release in use does not support compute capability 8.9 (Ada Lovelace)" in f.summary
    assert "rebuild the engine" in f.fix.summary
    newer = _check(_snapshot(tmp_path, {"tensorflow.log": TRT_SM_120}, "sm120"))
    assert newer.root_cause.id == "compat.compute-capability"
    assert "compute capability 12.0 (Blackwell)" in newer.root_cause.summary


def test_a_tensorrt_engine_from_another_release_is_rebuilt_not_the_driver(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": TRT_ENGINE}, "cuda.libraries")
    assert "built with TensorRT 8.0.0 and this program loads TensorRT 8.0.1" in f.summary
    assert "Rebuild the engine" in f.fix.summary and "driver and CUDA are not the problem" in f.fix.summary


def test_a_pod_that_could_not_load_nvml_needs_the_nvidia_runtime_as_the_nodes_default(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/nvidia_gpu_prometheus_exporter": GONVML}))
    assert report.get("container.toolkit").status.value == "fail"
    assert "daemon.json" in report.get("container.toolkit").fix.text()


# jupyter/notebook#3451: the notebook's Python is not the one TensorFlow was installed for
NO_MODULE = "ImportError: no module named 'tensorflow'\n"
# chainer/chainer#4813: NVRTC's companion library off the loader path (the script ran with sudo)
NVRTC_BUILTINS = ("Exception in main training loop: nvrtc: error: failed to open libnvrtc-builtins.so.\n"
                  "  Make sure that libnvrtc-builtins.so is installed correctly.\n")


def test_no_module_named_tensorflow_is_tensorflow_missing_for_the_interpreter_that_ran(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": NO_MODULE}, "tf.installed")
    assert "has no TensorFlow" in f.summary and "another interpreter" in f.summary
    assert any("ipykernel install" in c for a in f.fix.alternatives for c in a.commands)
    assert "tf.__version__" in f.fix.verify[0]
    # a damaged installation (a submodule missing) is not this
    said = observe(Source("tensorflow+cuda", "t", "ModuleNotFoundError: No module named 'tensorflow.python.eager'"))
    assert not any(o.message == "tf-module-not-found" for o in said)


def test_nvrtc_unable_to_open_its_builtins_is_a_cuda_library_off_the_loader_path(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": NVRTC_BUILTINS}, "tf.cuda-libs")
    assert "libnvrtc-builtins.so" in f.summary
    # another program's libraries are checked in the loader cache, not with TensorFlow's import
    assert f.fix.verify == ("ldconfig -p | grep -E 'libnvrtc-builtins'   # each library listed",)


# tensorflow/tensorflow#17301: TensorFlow 1.5.0's wheel (NumPy C API 0xc) over numpy 1.13.3 (0xb)
NUMPY_OLD = "RuntimeError: module compiled against API version 0xc but this version of numpy is 0xb\n"
# tensorflow/tensorflow#1402: the pip wheel on CentOS 6.5 (glibc 2.12)
GLIBC_216 = ("ImportError: /lib64/libc.so.6: version `GLIBC_2.16' not found (required by /data/apps/anaconda/lib/"
             "python2.7/site-packages/tensorflow/python/_pywrap_tensorflow.so)\n")


def test_a_numpy_older_than_the_wheel_was_built_against_fails_the_import(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": NUMPY_OLD}, "tf.import")
    assert "NumPy is older than TensorFlow" in f.summary
    assert f.fix.commands == ("python3 -m pip install --upgrade 'numpy<2'",)


def test_a_glibc_too_old_for_the_wheel_offers_building_from_source(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": GLIBC_216}, "tf.import")
    assert "glibc 2.16" in f.summary and "build TensorFlow from source" in f.fix.summary
