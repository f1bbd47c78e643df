"""Stop 29 (wave 31): what blind batch 54 and the corpus's misses showed missing.

Every line below is a real line from the public thread named beside it. The snapshots around them are hand-built in
tmp_path (a state synthesised for the test, as docs/snapshot-format.md describes)."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _root_fail, _snapshot

# ollama/ollama#1756 (the ThinkStation S30 thread): Ollama's runner lists a Tesla K80 (3.7); no ARCHS line
K80 = ("Jan  1 20:22:43 thinkstation-s30 ollama[911]: ggml_init_cublas: found 3 CUDA devices:\n"
       "Jan  1 20:22:43 thinkstation-s30 ollama[911]:   Device 0: Tesla K80, compute capability 3.7\n")
# pytorch/pytorch#103832: the nvidia-cublas-cu11 wheel's libcublas beside a CUDA 11.3 image's libcublasLt
CUBLAS_WHEEL = ("OSError: /root/.cache/pypoetry/virtualenvs/my-env-jEFYeG2G-py3.10/lib/python3.10/site-packages/torch/"
                "lib/../../nvidia/cublas/lib/libcublas.so.11: undefined symbol: cublasLtGetStatusString, version "
                "libcublasLt.so.11\n")
# microsoft/onnxruntime#8594 and PaddlePaddle/PaddleSeg#3215: the loader's other wording
CUBLAS_CONDA = ("OSError: /home/gpu/anaconda3/envs/FXM/lib/python3.7/lib-dynload/../../libcublas.so.11: symbol "
                "free_gemm_select version libcublasLt.so.11 not defined in file libcublasLt.so.11 with link time "
                "reference\n")
CUBLAS_TOOLKIT = ("python: relocation error: /usr/local/cuda-11.1/lib64/libcublas.so: symbol runGemmShortApi, version "
                  "libcublasLt.so.11 not defined in file libcublasLt.so.11 with link time reference\n")
# NVIDIA/nvidia-container-toolkit#885: rootless Podman, a CDI spec naming a render node the host no longer has
CDI_NODE = ("Error: setting up CDI devices: failed to inject devices: failed to stat CDI host device "
            "\"/dev/dri/renderD129\": no such file or directory\n")
PODMAN = "commands/podman_run_--rm_--device_nvidia.com%2Fgpu=all_ubuntu_nvidia-smi"


def test_a_kepler_in_ggml_device_list_is_below_the_released_builds(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": K80}))
    f = report.get("compat.compute-capability")
    assert f.status.value == "warn" and report.root_cause is None  # a warning, and nothing failed before it
    assert "Tesla K80 is compute capability 3.7" in f.summary and "from 5.0 (Maxwell) up" in f.summary
    assert "CMAKE_CUDA_ARCHITECTURES=37" in f.fix.summary
    assert any("Device 0: Tesla K80" in e.line for e in f.evidence)


def test_a_maxwell_or_a_kepler_beside_a_newer_gpu_is_not_called_a_failure(tmp_path):
    newer = K80.replace("Device 0: Tesla K80, compute capability 3.7", "Device 0: Tesla M60, compute capability 5.2")
    assert _check(_snapshot(tmp_path, {"commands/pasted-text": newer})).get(
        "compat.compute-capability").status.value not in ("warn", "fail")
    both = K80 + "Jan  1 20:22:43 thinkstation-s30 ollama[911]:   Device 1: Tesla P40, compute capability 6.1\n"
    assert _check(_snapshot(tmp_path, {"commands/pasted-text": both}, "two")).get(
        "compat.compute-capability").status.value not in ("warn", "fail")


def test_libcublas_paired_with_another_releases_cublaslt_is_two_cuda_copies_mixed(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": CUBLAS_WHEEL}, "cuda.libraries")
    assert "libcublasLt.so.11" in f.summary and "two copies of CUDA 11 libraries" in f.summary
    assert "nvidia/cublas/lib" in f.summary
    assert any("ldconfig -p" in c for c in f.fix.commands)
    assert not any("pypoetry" in c for c in f.fix.commands)  # no machine text in a command


def test_the_loaders_symbol_not_defined_wording_reads_the_same(tmp_path):
    for i, line in enumerate((CUBLAS_CONDA, CUBLAS_TOOLKIT)):
        report = _check(_snapshot(tmp_path, {"tensorflow.log": line}, f"s{i}"))
        f = report.get("cuda.libraries")
        assert f.status.value == "fail" and report.root_cause.id == "cuda.libraries", f.summary
        assert "libcublasLt.so.11" in f.summary


def test_a_cublas_symbol_of_its_own_library_is_not_a_mix(tmp_path):
    # an undefined symbol versioned by libcublas itself (not libcublasLt) says nothing about cuBLASLt
    line = CUBLAS_WHEEL.replace("version libcublasLt.so.11", "version libcublas.so.11")
    f = _check(_snapshot(tmp_path, {"tensorflow.log": line})).get("cuda.libraries")
    assert "libcublasLt" not in f.summary


def test_a_cdi_spec_naming_a_device_node_the_host_lost_is_stale(tmp_path):
    f = _root_fail(tmp_path, {PODMAN: "", PODMAN + ".err": CDI_NODE, PODMAN + ".rc": "125\n"}, "container.toolkit")
    assert "/dev/dri/renderD129" in f.summary and "device node" in f.summary
    assert "sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml" in f.fix.commands


# rigaya/NVEnc#704: NVEncC 8.07 built with CUDA 12.4, on a GT 640's 470 driver
NVENCC = ("Failed to init EncoderRunCtx error: cudaErrorInsufficientDriver: This indicates that the installed NVIDIA "
          "CUDA driver is older than the CUDA runtime library. This is not a supported configuration. Users should "
          "install an updated NVIDIA display driver to allow the application to run.\n\n"
          "NVEnc (x64) 8.07 (r3354) by rigaya, Jun 23 2025 13:22:28 (gcc 13.3.0/Linux)\n"
          "  [NVENC API v13.0, CUDA 12.4]\n")


def test_a_programs_banner_names_the_cuda_the_insufficient_driver_falls_short_of(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": NVENCC}, "compat.driver-cuda")
    assert "CUDA 12.4" in f.summary and "550.54.14" in f.summary
    assert "550.54.14 or newer" in f.fix.summary and "from driver 525.60.13 on" in f.fix.summary


# What blind batch 55 showed missing.

# int-brain-lab/ibl-sorter#41: the system CUDA's cuSOLVER beside an older nvidia-cublas-cu12 wheel
CUSOLVER = ("ImportError: /usr/local/cuda/targets/x86_64-linux/lib/libcusolver.so.11: undefined symbol: "
            "cublasSetEnvironmentMode, version libcublas.so.12\n")
# davisking/dlib#2719: cuDNN's loader, in the dynamic loader's 'not defined' wording
CUDNN_NOT_DEFINED = ("Could not load library libcudnn_cnn_train.so.8. Error: /usr/local/cuda-11.1/targets/x86_64-linux/"
                     "lib/libcudnn_ops_train.so.8: symbol _Z22cudnnGenericOpTensorNdILi3EE13cudnnStatus_tP12cudnnCont"
                     "ext16cudnnGenericOp_t21cudnnNanPropagation_tPKdPKvPK17cudnnTensorStructS8_S8_SB_S8_S8_SB_Pv, "
                     "version libcudnn_ops_infer.so.8 not defined in file libcudnn_ops_infer.so.8 with link time "
                     "reference\nAborted\n")
# tensorflow/tensorrt#85: the PyPI TensorFlow 1.13.1 (TensorRT 5.0.2) on a machine with TensorRT 5.1.2
TRT = "WARNING:tensorflow:TensorRT mismatch. Compiled against version 5.0.2, but loaded 5.1.2. Things may not work.\n"
# NordicHPC/sonar#72: `nvidia-smi -L` on a node of four RTX 2080 Ti, one of them failing
SMI_L = ("Unable to determine the device handle for gpu 0000:18:00.0: Unknown Error\n"
         "GPU 1: NVIDIA GeForce RTX 2080 Ti (UUID: GPU-f0f3ae96-fe93-f5c8-4295-bf657e5a25da)\n"
         "GPU 2: NVIDIA GeForce RTX 2080 Ti (UUID: GPU-99c4f278-11da-052d-ac5c-3490b58ade04)\n"
         "GPU 3: NVIDIA GeForce RTX 2080 Ti (UUID: GPU-3c748ed6-c6b6-6ef0-ad7d-fe109cff16bc)\n")


def test_a_cuda_library_needing_a_newer_copy_of_another_names_its_wheel(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": CUSOLVER}, "cuda.libraries")
    assert "libcusolver.so.11" in f.summary and "libcublas.so.12" in f.summary and "CUDA 12" in f.summary
    assert "nvidia-cublas-cu12" in f.fix.summary
    assert f.fix.alternatives and f.fix.alternatives[0].commands == ("python3 -m pip install -U nvidia-cublas-cu12",)
    assert "ldconfig -p | grep -E 'libcublas\\.so'" in f.fix.commands


def test_cudnns_loader_in_the_not_defined_wording_is_two_cudnns_mixed(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": CUDNN_NOT_DEFINED}, "cuda.libraries")
    assert "libcudnn_cnn_train.so.8" in f.summary and "/usr/local/cuda-11.1/targets/x86_64-linux/lib" in f.summary


def test_tensorflow_compiled_against_another_tensorrt_warns(tmp_path):
    f = _check(_snapshot(tmp_path, {"tensorflow.log": TRT})).get("tf.cuda-libs")
    assert f.status.value == "warn" and "TensorRT 5.0.2" in f.summary and "TensorRT 5.1.2" in f.summary
    assert "Install TensorRT 5.0.2" in f.fix.summary


def test_one_gpu_without_a_device_handle_among_listed_ones_fails(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/nvidia-smi_-L": SMI_L}))
    assert report.get("nvml.devices").status.value == "fail" and report.root_cause.id == "nvml.devices"


# What blind batch 56 showed missing.

# DreamTechAI/Direct3D-S2#32: an RTX 5090 under a PyTorch build without sm_120
TORCH_SM120 = ("NVIDIA GeForce RTX 5090 with CUDA capability sm_120 is not compatible with the current PyTorch "
               "installation.\nThe current PyTorch install supports CUDA capabilities sm_50 sm_60 sm_61 sm_70 sm_75 "
               "sm_80 sm_86 sm_90.\n")
# ollama/ollama#7989: a VM without CPU passthrough (the line as the answer quoted it, cut)
OLLAMA_AVX = "msg=\"CPU does not have minimum vector extensions, GPU inference disa\n"
# Frogging-Family/nvidia-all#44: 465.31's DKMS build on a self-built 5.12.10 kernel without its headers
SYS_CLOSE = ("/var/lib/dkms/nvidia/465.31/build/nvidia/nv-caps.c: In function \u2018nv_cap_close_fd\u2019:\n"
             "/var/lib/dkms/nvidia/465.31/build/nvidia/nv-caps.c:598:5: error: implicit declaration of function "
             "\u2018sys_close\u2019 [-Werror=implicit-function-declaration]\n")


def test_a_pytorch_build_without_the_gpus_architecture_names_the_wheel_index(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": TORCH_SM120}, "compat.compute-capability")
    assert "CUDA 12.8 or newer" in f.fix.summary and "cu128" in f.fix.summary
    assert f.fix.commands == ("python3 -m pip install --upgrade torch --index-url "
                              "https://download.pytorch.org/whl/cu128",)


def test_the_wheel_index_is_the_first_at_or_above_the_cuda_needed():
    from tfdoctor.checks.compat import _torch_index_for

    assert [_torch_index_for(c) for c in ("12.8", "11.8", "12.0", "11.1")] == ["cu128", "cu118", "cu121", "cu111"]
    assert _torch_index_for("14.0") is None and _torch_index_for(None) is None


def test_ollama_saying_the_cpu_lacks_vector_extensions_is_cpu_avx(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": OLLAMA_AVX}))
    f = report.get("cpu.avx")
    assert f.status.value == "fail" and report.root_cause.id == "cpu.avx"
    assert "disabled GPU inference" in f.summary and "host-passthrough" in f.fix.alternatives[0].when


def test_known_cpu_flags_outrank_the_programs_words(tmp_path):
    flags = ("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) CPU\nflags\t\t: fpu vme de pse tsc msr sse sse2 ssse3 "
             "sse4_1 sse4_2 avx avx2 fma\n")
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": OLLAMA_AVX, "files/proc/cpuinfo": flags}))
    assert report.get("cpu.avx").status.value == "ok"


def test_an_implicit_declaration_in_the_module_build_offers_the_kernels_headers(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": SYS_CLOSE}, "driver.dkms")
    assert "for the running kernel" in f.summary and "$(uname -r)" not in f.summary
    alt = next(a for a in f.fix.alternatives if "headers" in a.when)
    assert "implicit declaration" in alt.when and alt.commands


# What blind batch 57 showed missing.

# pytorch/pytorch#123835: PyPI's PyTorch 2.2.2 on a GH200 (aarch64), its collect_env report
COLLECT_ENV = ("PyTorch version: 2.2.2\nIs debug build: False\nCUDA used to build PyTorch: Could not collect\n"
               "ROCM used to build PyTorch: N/A\n\nOS: Ubuntu 22.04.4 LTS (aarch64)\n"
               "Is CUDA available: False\nCUDA runtime version: 12.1.105\nCUDA_MODULE_LOADING set to: N/A\n"
               "GPU models and configuration: GPU 0: NVIDIA GH200 480GB\nNvidia driver version: 550.54.15\n")
ENV_KEY = "commands/python_-m_torch.utils.collect_env"


def test_collect_env_saying_no_cuda_build_and_no_cuda_is_a_cpu_only_pytorch(tmp_path):
    f = _root_fail(tmp_path, {ENV_KEY: COLLECT_ENV}, "tf.cuda-build")
    assert "CPU-only build" in f.summary and "collect_env" in f.summary
    assert "aarch64" in f.fix.summary and "python3 -m pip uninstall -y torch" in f.fix.commands


def test_collect_env_without_a_gpu_is_not_a_false_alarm(tmp_path):
    # a CPU machine's report (the vLLM CPU threads): no NVIDIA GPU in it, so a CPU build is as it should be
    cpu_only = COLLECT_ENV.replace("GPU models and configuration: GPU 0: NVIDIA GH200 480GB\n",
                                   "GPU models and configuration: Could not collect\n")
    report = _check(_snapshot(tmp_path, {ENV_KEY: cpu_only}))
    assert report.get("tf.cuda-build").status.value not in ("fail", "warn")


def test_either_collect_env_line_alone_says_nothing_of_the_build(tmp_path):
    # vllm#11978: a vendor build printed 'Could not collect' with CUDA available
    available = COLLECT_ENV.replace("Is CUDA available: False", "Is CUDA available: True")
    report = _check(_snapshot(tmp_path, {ENV_KEY: available}))
    assert report.get("tf.cuda-build").status.value != "fail"


# What blind batch 58 showed missing.

# JeffSHF/ColabDock#28: a plain `pip install jax` beside driver 550
JAX_CPU = "An NVIDIA GPU may be present on this machine, but a CUDA-enabled jaxlib is not installed. Falling back to cpu.\n"
# jax-ml/jax#14606: conda's transaction choosing conda-forge's CPU jaxlib
CONDA_JAXLIB = ("The following NEW packages will be INSTALLED:\n"
                "  jax                conda-forge/noarch::jax-0.4.4-pyhd8ed1ab_0\n"
                "  jaxlib             conda-forge/linux-64::jaxlib-0.4.4-cpu_py311h7146453_1\n")
# PlasmaControl/DESC#1534: jax/jaxlib 0.4.38 with the 0.5.0 CUDA plugins
PJRT = ("RuntimeError: Unable to initialize backend 'cuda': INVALID_ARGUMENT: Unexpected PJRT_Client_Create_Args size: "
        "expected 88, got 72. The plugin is likely built with a later version than the framework. This plugin is built "
        "with PJRT API version 0.64.\n")
CONDA_LIST = ("jax                       0.4.38                   pypi_0    pypi\n"
              "jax-cuda12-pjrt           0.5.0                    pypi_0    pypi\n"
              "jax-cuda12-plugin         0.5.0                    pypi_0    pypi\n"
              "jaxlib                    0.4.38                   pypi_0    pypi\n")
# jax-ml/jax#26750 and epaillas/acm#152: the plugin's initialize() failing, for a version and for no GPU
PLUGIN_INIT = "Jax plugin configuration error: Exception when calling jax_plugins.xla_cuda12.initialize()\n"
NO_DEVICE = "RuntimeError: jaxlib/cuda/versions_helpers.cc:113: operation cuInit(0) failed: CUDA_ERROR_NO_DEVICE\n"
# mamba-org/mamba#4068: conda's __cuda=12.8 and a package built for a newer CUDA
MAMBA = ("I have the ` __cuda=12.8=0` virtual package which matches the output of nvidia-smi, but when installing "
         "packages that use cuda (OpenMM in this example) `cuda-version=12.9` gets pulled in\n")
PTX = "CUDA platform error: Error loading CUDA module: CUDA_ERROR_UNSUPPORTED_PTX_VERSION (222)\n"


def test_jax_without_a_cuda_jaxlib_is_not_a_cuda_build(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": JAX_CPU, "commands/pip_list": "jax      0.4.30\njaxlib   0.4.30\n"},
                   "tf.cuda-build")
    assert "JAX has no CUDA backend" in f.summary
    assert f.fix.commands == ("python3 -m pip install -U 'jax[cuda12]'",)


def test_jaxs_warning_alone_is_information(tmp_path):
    # kohya-colab: a notebook that imports JAX but trains with PyTorch on the GPU ('you can ignore it')
    report = _check(_snapshot(tmp_path, {"tensorflow.log": JAX_CPU}))
    f = report.get("tf.cuda-build")
    assert f.status.value == "info" and "only if your program computes with JAX" in f.summary
    assert report.root_cause is None


def test_conda_choosing_the_cpu_jaxlib_gives_condas_cuda_variant(tmp_path):
    key = "commands/conda_install_jax_cuda-nvcc_-c_conda-forge_-c_nvidia"
    f = _root_fail(tmp_path, {key: CONDA_JAXLIB}, "tf.cuda-build")
    assert "CPU variant of jaxlib" in f.summary
    assert f.fix.commands == ("conda install -c conda-forge jax 'jaxlib=*=*cuda*'",)


def test_a_jax_cuda_plugin_of_another_release_than_jaxlib(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": PJRT, "commands/conda_list": CONDA_LIST}, "python.framework-conflicts")
    assert "jaxlib 0.4.38" in f.summary and "jax-cuda12-plugin 0.5.0" in f.summary
    assert f.fix.commands == ("python3 -m pip install 'jax[cuda12]==0.4.38'",)
    # JAX's own words alone are enough
    report = _check(_snapshot(tmp_path, {"tensorflow.log": PJRT}, "words"))
    f = report.get("python.framework-conflicts")
    assert f.status.value == "fail" and report.root_cause.id == f.id and "JAX's own words" in f.summary


def test_a_plugin_that_failed_to_initialise_warns_unless_cuda_found_no_device(tmp_path):
    f = _check(_snapshot(tmp_path, {"tensorflow.log": PLUGIN_INIT})).get("python.framework-conflicts")
    assert f.status.value == "warn" and "most often" in f.summary
    report = _check(_snapshot(tmp_path, {"tensorflow.log": PLUGIN_INIT + NO_DEVICE}, "nodev"))
    assert report.get("python.framework-conflicts").status.value not in ("warn", "fail")


def test_condas_virtual_cuda_gives_the_pin_beside_a_newer_driver(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": PTX, "commands/pasted-text": MAMBA}, "compat.driver-cuda")
    alt = f.fix.alternatives[0]
    assert "12.8" in alt.when and alt.commands == ("conda install 'cuda-version=12.8'",)


def test_a_dunder_name_at_a_lines_start_is_not_markdown_emphasis():
    from tfdoctor.triage.segmenter import _clean

    assert _clean("__init__() got an unexpected keyword argument 'syntax'").startswith("__init__()")
    assert _clean("**Error**") == "Error"


# What blind batch 59 showed missing.

# ProGamerGov/dream-creator#21 and ogkalu2/comic-translate#210: another vendor's GPU, named in the reporter's words
AMD_TORCH = "I have AMD GPU I get this error \"Torch not compiled with CUDA enabled\"\n"
RADEON = ("Radeon GPU and Cuda incompatibility\n")
ULTRALYTICS = ("ValueError: Invalid CUDA 'device=0' requested. Use 'device=cpu' or pass valid CUDA device(s) if "
               "available, i.e. 'device=0' or 'device=0,1,2,3' for Multi-GPU.\ntorch.cuda.is_available(): False\n")
# kata-containers/kata-containers#11875: a confidential guest kernel without CONFIG_FW_LOADER
GSP_NO_IMAGE = ("[   1.281895] NVRM: GPU 0000:02:00.0: RmInitAdapter failed! (0x61:0x56:1892)\n"
                "[   1.287764] NVRM: RmFetchGspRmImages: No firmware image found\n")


def test_another_vendors_gpu_named_where_a_program_asked_for_cuda_is_no_nvidia_gpu(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": AMD_TORCH}, "pci.nvidia-gpu")
    assert "no NVIDIA GPU" in f.summary
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": RADEON, "tensorflow.log": ULTRALYTICS}, "radeon"))
    assert report.root_cause.id == "pci.nvidia-gpu"


def test_a_named_intel_gpu_without_any_gpu_work_is_no_alarm(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": "I have an Intel UHD graphics card and 16 GB RAM\n"}))
    assert report.get("pci.nvidia-gpu").status.value != "fail" and report.root_cause is None


def test_no_gsp_firmware_image_is_the_firmware_missing(tmp_path):
    f = _root_fail(tmp_path, {"commands/dmesg": GSP_NO_IMAGE}, "driver.nvidia-module")
    assert "GSP firmware" in f.summary
    assert any("CONFIG_FW_LOADER=y" in a.when for a in f.fix.alternatives)


def test_nvmls_own_words_for_a_library_of_another_version(tmp_path):
    # XuehaiPan/nvitop#41: after `apt install nvidia-cuda-toolkit` on Ubuntu 22.04
    f = _root_fail(tmp_path, {"commands/nvitop": "NVML ERROR: RM has detected an NVML/RM version mismatch.\n"},
                   "nvml.init")
    assert "different versions" in f.summary and "sudo reboot" in f.fix.commands


# What blind batch 60 showed missing.

# microsoft/WSL#6096: tensorflow-directml on Windows 10 build 19042 (no GPU support for WSL yet)
D3D12 = "ImportError: libd3d12.so: cannot open shared object file: No such file or directory\n"
# ROCmSoftwarePlatform/tensorflow#55: hiptensorflow ignoring a Hawaii card
ROCM_ISA = ("Ignoring visible gpu device (device: 0, name: Device 67a1, pci bus id: 0000:04:00.0) with AMDGPU ISA "
            "gfx701. The minimum required AMDGPU ISA is gfx803.\n")


def test_a_wsl_only_library_missing_under_wsl_is_the_gpu_not_reaching_wsl(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": D3D12,
                              "files/proc/version": "Linux version 4.19.128-microsoft-standard\n"}, "env.wsl")
    assert "CUDA cannot reach the GPU" in f.summary and any("libd3d12.so" in e.line for e in f.evidence)


def test_tensorflows_rocm_build_naming_an_amd_gpu_is_no_nvidia_gpu(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": ROCM_ISA}, "pci.nvidia-gpu")
    assert "no NVIDIA GPU" in f.summary


def test_triage_leaves_an_nvml_clients_error_to_the_catalogue():
    from tfdoctor.triage import triage_text

    paste = ("I installed nvcc with `sudo apt install nvidia-cuda-toolkit`, now nvitop says:\n\n"
             "NVML ERROR: RM has detected an NVML/RM version mismatch.\n")
    report = triage_text(paste).report
    assert report.root_cause is not None and report.root_cause.id == "nvml.init"


def test_a_loader_error_in_markdown_bold_is_still_the_loaders():
    from tfdoctor.triage import triage_text

    # microsoft/onnxruntime#6379: the error quoted in **bold** in the text
    paste = ("**_Error_**: **OSError: libcudnn.so.8: cannot open shared object file: No such file or directory** "
             "while importing.\n")
    report = triage_text(paste).report
    assert report.root_cause is not None and "libcudnn.so.8" in report.root_cause.summary


def test_another_vendors_gpu_named_beside_an_nvidia_one_is_no_verdict(tmp_path):
    paste = "I have an Intel GPU and an NVIDIA GeForce MX150 in this laptop\n" + AMD_TORCH.split(" I get")[1]
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": paste}))
    assert report.get("pci.nvidia-gpu").status.value != "fail"


def test_xid_79_explains_an_adapter_that_failed_to_initialise(tmp_path):
    # Cyridd/cmpunlocker#4: RmInitAdapter failures after the GPU fell off the bus (Xid 79 named by the reporter)
    dmesg = ("[   21.091872] NVRM: GPU 0000:01:00.0: RmInitAdapter failed! (0x22:0x56:894)\n"
             "[   21.238204] NVRM: osInitNvMapping: *** Cannot attach gpu\n")
    report = _check(_snapshot(tmp_path, {"commands/dmesg": dmesg,
                                         "commands/pasted-text": "Xid 79 after the PCIe link retrains\n"}))
    assert report.root_cause.id == "gpu.xid" and "fallen off the bus" in report.root_cause.summary
    alone = _check(_snapshot(tmp_path, {"commands/dmesg": dmesg}, "alone"))
    assert alone.root_cause.id == "driver.nvidia-module"


def test_triage_prefers_a_later_nvidia_smi_failure_to_a_cut_table():
    from tfdoctor.triage import triage_text

    # NVIDIA/nvidia-docker#1671: nvidia-smi worked in the container (its table cut here), then failed after
    # `systemctl daemon-reload` on the host
    paste = ("root@098b49afe624:/# nvidia-smi\n"
             "+-----------------------------------------------------------------------------+\n"
             "| NVIDIA-SMI 510.68.02    Driver Version: 510.68.02    CUDA Version: 11.6     |\n"
             "|-------------------------------+----------------------+----------------------+\n\n"
             "then on the host: sudo systemctl daemon-reload\n\n"
             "root@098b49afe624:/# nvidia-smi\n"
             "Failed to initialize NVML: Unknown Error\n")
    result = triage_text(paste)
    kept = [r for r in result.recognised if r.kind == "nvidia-smi" and r.target == "commands/nvidia-smi"]
    assert len(kept) == 1 and kept[0].first > 5
    assert result.report.root_cause is not None
