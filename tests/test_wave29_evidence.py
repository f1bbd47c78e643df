"""Stop 27 (wave 29): what the corpus's misses and blind batch 41 showed missing.

Every line below is a real line from the public thread named beside it. The snapshots around them are hand-built in
tmp_path (a state synthesised for the test, as docs/snapshot-format.md describes)."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _root_fail, _snapshot

# tensorflow/tensorflow#40800: a free-form 'System information' list ('please try using CUDA 10.1')
TF22_BARE = ("**System information**\nLinux Ubuntu 18.04\nTensorFlow 2.2.0 (installed using pip)\nPython 3.6.9\n"
             "Cuda 10.0/ cuDNN 7.6.5\nGPU: nVIDIA GTX 1080 Ti\n")
# leejet/stable-diffusion.cpp#1352: the container started without `--gpus all`
LD_SO = ("/sd-cli: error while loading shared libraries: libcuda.so.1: cannot open shared object file: No such file "
         "or directory\n")
# google/jax#13570: an RTX 4080 with a ptxas from before CUDA 11.8
PTXAS_89 = ("2022-12-08 11:37:51.345475: W external/org_tensorflow/tensorflow/compiler/xla/stream_executor/gpu/"
            "asm_compiler.cc:231] Falling back to the CUDA driver for PTX compilation; ptxas does not support CC 8.9\n")
KERNEL_NOT_FOUND = ("2022-12-08 11:37:51.352219: E external/org_tensorflow/tensorflow/compiler/xla/stream_executor/"
                    "cuda/cuda_driver.cc:628] failed to get PTX kernel \"broadcast\" from module: CUDA_ERROR_NOT_FOUND: "
                    "named symbol not found\n")
# NVIDIA/nvidia-docker#1420: a comma missing after "dns" (klueska: 'You are missing a comma')
DAEMON_JSON = ('{\n    "dns" : ["172.17.0.1"]\n    "runtimes": {\n        "nvidia": {\n'
               '            "path": "nvidia-container-runtime",\n            "runtimeArgs": []\n        }\n    }\n}\n')
# mudler/LocalAI#11973: Compose's device reservation without `compute`
COMPOSE = ("    # deploy:\n    #   resources:\n    #     reservations:\n    #       devices:\n"
           "    #         - driver: nvidia\n    #           count: 1\n    #           capabilities: [gpu, utility]\n")


def test_a_bare_system_information_list_states_tensorflow_and_cuda(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": TF22_BARE}, "tf.cuda-libs")
    assert "CUDA 10.1" in f.summary and "10.0" in f.summary and "libcudart.so.10.1" in f.summary
    assert [e.line for e in f.evidence] == ["TensorFlow 2.2.0 (installed using pip)", "Cuda 10.0/ cuDNN 7.6.5"]


def test_a_sentence_that_goes_on_after_the_versions_states_nothing(tmp_path):
    # the same thread's next sentence: a release tried, not a system-information line
    text = ("TensorFlow 2.2 with cuda 10.0 but it does not seem to be able to detect cuda packages\n"
            "CUDA 10.0 is what the old guide installs\n")
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": text}))
    assert report.get("tf.cuda-libs").status.value not in ("fail", "warn")
    assert not [e for f in report.findings for e in f.evidence if (e.message or "").endswith("-stated-bare")]


def test_a_container_started_without_a_gpu_request_lacks_libcuda(tmp_path):
    key = "commands/docker_run_-it_--rm_ghcr.io%2Fleejet%2Fstable-diffusion.cpp:master-cuda"
    # ld.so exits 127 when a library is missing: the recorded stderr is still what the program printed
    f = _root_fail(tmp_path, {key: "", key + ".err": LD_SO, key + ".rc": "127\n"}, "env.container")
    assert "without a GPU request" in f.summary and "libcuda.so.1" in f.summary
    assert "--gpus all" in f.fix.summary and any("--gpus all" in c for c in f.fix.verify)
    assert [e.line for e in f.evidence] == [LD_SO.strip()]


def test_the_same_error_under_a_gpu_request_is_not_a_container_without_one(tmp_path):
    key = "commands/docker_run_--rm_--gpus_all_ghcr.io%2Fleejet%2Fstable-diffusion.cpp:master-cuda"
    report = _check(_snapshot(tmp_path, {key: "", key + ".err": LD_SO, key + ".rc": "127\n"}))
    assert report.get("env.container").status.value != "fail"
    assert report.get("cuda.init").status.value == "fail"  # the library is missing all the same


def test_a_ptxas_that_predates_the_gpu_fails_where_its_kernel_is_missing(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": PTXAS_89 + KERNEL_NOT_FOUND}, "compat.compute-capability")
    assert "8.9" in f.summary and "CUDA 11.8" in f.summary
    assert f.fix.commands == ("python3 -m pip install 'nvidia-cuda-nvcc-cu11>=11.8'",)
    assert [e.message for e in f.evidence] == ["xla-ptxas-fallback-to-driver", "xla-ptx-kernel-not-found"]


def test_the_ptxas_fallback_alone_is_no_failure(tmp_path):
    # the fallback is meant to work (tensorflow#43888): without a missing kernel after it, information only
    report = _check(_snapshot(tmp_path, {"tensorflow.log": PTXAS_89}))
    f = report.get("compat.compute-capability")
    assert f.status.value == "info" and "not a failure" in f.summary
    assert report.root_cause is None


def test_an_invalid_daemon_json_fails_where_docker_itself_was_not_recorded(tmp_path):
    f = _root_fail(tmp_path, {"files/etc/docker/daemon.json": DAEMON_JSON}, "container.toolkit")
    assert "not valid JSON" in f.summary and "line 3" in " ".join(f.details)
    assert f.fix.commands[0] == "sudo python3 -m json.tool /etc/docker/daemon.json"


def test_triage_reads_a_pasted_daemon_json():
    from tfdoctor.triage import triage_text

    report = triage_text("```\n$ cat /etc/docker/daemon.json\n" + DAEMON_JSON + "```\n").report
    assert report.root_cause is not None and report.root_cause.id == "container.toolkit"


def test_a_gpu_request_without_compute_fails_the_containers_capabilities(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": COMPOSE}, "container.capabilities")
    assert "without `compute`" in f.summary
    assert any("capabilities: [gpu, compute, utility]" in a.when for a in f.fix.alternatives)


def test_a_gpu_request_with_compute_or_gpu_alone_is_no_finding(tmp_path):
    for i, line in enumerate(("capabilities: [gpu]", "capabilities: [gpu, compute, utility]",
                              '"Capabilities":[["gpu","compute","utility"]]')):
        report = _check(_snapshot(tmp_path, {"commands/pasted-text": line + "\n"}, str(i)))
        assert report.get("container.capabilities").status.value != "fail", line


def test_triage_reads_a_commands_output_from_the_next_code_block():
    from tfdoctor.triage import triage_text

    # leejet/stable-diffusion.cpp#1352: the command in a ```bash block, what it printed in the next block
    text = ("Run\n```bash\n$ docker run -it --rm ghcr.io/leejet/stable-diffusion.cpp:master-cuda\n```\n```\n" + LD_SO
            + "```\n")
    report = triage_text(text).report
    assert report.root_cause is not None and report.root_cause.id == "env.container"
    # prose between the two blocks ends the command's output: the error is not the command's then
    apart = text.replace("```\n```\n", "```\nThen it printed, in another run:\n```\n")
    assert triage_text(apart).report.get("env.container").status.value != "fail"


# scitix/sichek#51: the NCCL test fails only where it includes GPU1
RESET = ("[Sun Jan 11 09:52:01 2026] NVRM: nvAssertOkFailedNoLog: Assertion failed: Reset required "
         "[NV_ERR_RESET_REQUIRED] (0x00000062) returned from status @ kernel_channel.c:2874 \n")
BUSY = "Test CUDA failure common.cu:1007\n'CUDA-capable device(s) is/are busy or unavailable'\n"


def test_a_gpu_the_driver_says_needs_a_reset_is_the_root_cause(tmp_path):
    f = _root_fail(tmp_path, {"commands/dmesg": RESET, "tensorflow.log": BUSY}, "gpu.xid")
    assert "NV_ERR_RESET_REQUIRED" in f.summary and "sudo nvidia-smi -r" in f.fix.commands
    report = _check(_snapshot(tmp_path, {"commands/dmesg": RESET, "tensorflow.log": BUSY}, "again"))
    # 'busy or unavailable' is that GPU's state, not a compute mode nobody read
    assert report.get("gpu.compute-mode").status.value == "info"
    # without the kernel's line, the compute mode is the usual cause still
    alone = _check(_snapshot(tmp_path, {"tensorflow.log": BUSY}, "alone"))
    assert alone.get("gpu.compute-mode").status.value == "fail"


# jax-ml/jax#17217: a second JAX process, the first had taken the GPU's memory
DNN_OOM = ("E external/xla/xla/stream_executor/cuda/cuda_dnn.cc:413] There was an error before creating cudnn handle "
           "(2): cudaErrorMemoryAllocation : out of memory\n")


def test_cudnn_without_memory_warns_that_the_gpu_was_taken(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": DNN_OOM}))
    f = report.get("gpu.memory-in-use")
    assert f.status.value == "warn" and "lack of GPU memory" in f.summary
    assert "export XLA_PYTHON_CLIENT_PREALLOCATE=false" in f.fix.alternatives[0].commands
    # cuDNN's other failures (an internal error) say nothing of memory
    other = ("2017-10-30 17:55:23.525428: E tensorflow/stream_executor/cuda/cuda_dnn.cc:371] could not create cudnn "
             "handle: CUDNN_STATUS_INTERNAL_ERROR\n")
    assert _check(_snapshot(tmp_path, {"tensorflow.log": other}, "other")).get("gpu.memory-in-use").status.value \
        != "warn"


# huggingface/community-events#118: TensorFlow 2.11 on a Lambda Cloud machine, PyTorch sees the GPU
LAMBDA = ("NVIDIA-SMI 515.65.01    \nDriver Version: 515.65.01    \nCUDA Version: 11.7\nTensorFlow: 2.11.0\n")
LISTED = 'tf.config.list_logical_devices("GPU") []\n'
SMI_515 = ("+-----------------------------------------------------------------------------+\n"
           "| NVIDIA-SMI 515.65.01    Driver Version: 515.65.01    CUDA Version: 11.7     |\n"
           "|-------------------------------+----------------------+----------------------+\n")


def test_tensorflow_listing_no_gpu_beside_a_working_driver_warns_of_its_libraries(tmp_path):
    files = {"commands/pasted-text": LAMBDA, "tensorflow.log": LISTED, "commands/nvidia-smi": SMI_515}
    report = _check(_snapshot(tmp_path, files))
    f = report.get("tf.cuda-libs")
    assert f.status.value == "warn" and "CUDA 11.2" in f.summary and "cuDNN 8.1" in f.summary
    assert f.fix.commands[0] == "conda install -c conda-forge cudatoolkit=11.2 'cudnn>=8.1,<9'"
    # a log that says more (a library it could not load) is read by the rules that name it instead
    said = LISTED + ("2023-03-09 10:00:00.000000: W tensorflow/compiler/xla/stream_executor/platform/default/"
                     "dso_loader.cc:64] Could not load dynamic library 'libcudnn.so.8'; dlerror: libcudnn.so.8: "
                     "cannot open shared object file: No such file or directory\n")
    other = _check(_snapshot(tmp_path, {**files, "tensorflow.log": said}, "said")).get("tf.cuda-libs")
    assert "libcudnn.so.8" in other.summary
    # no working driver shown: nothing to infer from
    alone = _check(_snapshot(tmp_path, {"commands/pasted-text": "TensorFlow: 2.11.0\n", "tensorflow.log": LISTED},
                             "alone"))
    assert alone.get("tf.cuda-libs").status.value != "warn"


# HIT-SCIR/ltp#468 (a CPU-only machine) and magicquill's RuntimeError: PyTorch's warning while it probes, its error
# when a program asks for the GPU
PROBE = ("UserWarning: CUDA initialization: Found no NVIDIA driver on your system. Please check that you have an "
         "NVIDIA GPU and installed a driver\n")
RAISED = ("RuntimeError: Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and installed "
          "a driver from http://www.nvidia.com/Download/index.aspx\n")


def test_pytorchs_probe_warning_alone_is_no_failure(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": PROBE}))
    assert report.root_cause is None and report.get("cuda.init").status.value != "fail"
    # the same words raised as an error: a program that wanted the GPU found no driver
    raised = _check(_snapshot(tmp_path, {"tensorflow.log": RAISED}, "raised"))
    assert raised.root_cause.id == "cuda.init" and "libcuda.so.1" in raised.root_cause.summary
    # the warning where a GPU is shown (nvidia-smi's table): the missing libcuda is a problem there
    smi = ("| NVIDIA-SMI 535.104.05   Driver Version: 535.104.05   CUDA Version: 12.2     |\n"
           "|   0  NVIDIA GeForce RTX 3090     Off | 00000000:01:00.0 Off |                  N/A |\n")
    shown = _check(_snapshot(tmp_path, {"tensorflow.log": PROBE, "commands/pasted-text": smi}, "shown"))
    assert shown.get("cuda.init").status.value == "fail"


# computational-cell-analytics/micro-sam#356 (conda-forge's CPU variant); pytorch#30664 (PyTorch's own words)
CONDA_CPU = "pytorch                   2.1.0           cpu_generic_py311h8354fdb_2    conda-forge\n"
CONDA_CUDA = "pytorch                   2.1.0           cuda120_py311h3ec9f49_300    conda-forge\n"
NOT_COMPILED = "AssertionError: Torch not compiled with CUDA enabled\n"


def test_a_cpu_variant_of_pytorch_is_not_a_cuda_build(tmp_path):
    f = _root_fail(tmp_path, {"commands/conda_list": CONDA_CPU}, "tf.cuda-build")
    assert "PyTorch is a CPU-only build" in f.summary and "conda lists" in f.summary
    assert f.fix.commands == ("conda install -c conda-forge 'pytorch=*=cuda*'",)
    said = _check(_snapshot(tmp_path, {"tensorflow.log": NOT_COMPILED}, "said")).get("tf.cuda-build")
    assert said.status.value == "fail" and said.fix.commands[-1] == "python3 -m pip install torch"


def test_a_cuda_variant_or_prose_about_cpu_only_builds_is_no_finding(tmp_path):
    for i, text in enumerate((CONDA_CUDA, "CPU-only version of Tensorflow/CUDA object issues\n")):
        report = _check(_snapshot(tmp_path, {"commands/conda_list" if i == 0 else "commands/pasted-text": text},
                                  str(i)))
        assert report.get("tf.cuda-build").status.value != "fail", text


def test_a_cdi_device_root_resolves_and_the_user_cannot_is_an_unreadable_spec(tmp_path):
    # podman-container-tools/podman#17539: rootful Podman lists the GPU, rootless cannot resolve the device
    user = "commands/podman_run_-ti_--rm_--device=nvidia.com%2Fgpu=0_ubuntu:18.04_nvidia-smi_-L"
    root = "commands/sudo_podman_run_-ti_--rm_--device=nvidia.com%2Fgpu=0_ubuntu:18.04_nvidia-smi_-L"
    files = {user: "", user + ".err": "Error: setting up CDI devices: unresolvable CDI devices nvidia.com/gpu=0\n",
             user + ".rc": "125\n",
             root: "GPU 0: Tesla P100-PCIE-16GB (UUID: GPU-00000000-0000-0000-0000-000000000000) \n"}
    f = _root_fail(tmp_path, files, "container.toolkit")
    assert "not readable by the user" in f.summary and f.fix.commands == ("sudo chmod 644 /etc/cdi/nvidia.yaml",)
    # the user's run alone: no spec names the device
    alone = _check(_snapshot(tmp_path, {k: v for k, v in files.items() if k != root}, "alone")).get("container.toolkit")
    assert "no CDI spec names it" in alone.summary


def test_another_programs_missing_kernel_image_is_not_called_tensorflows(tmp_path):
    # OpenRAL/openral#167: torch 2.9.1+cu128 on a Jetson Thor (sm_110)
    log = ("torch 2.9.1+cu128   arch_list: ['sm_80', 'sm_90', 'sm_100', 'sm_120']\n"
           ">>> a @ b  ->  CUDA error: no kernel image is available for execution on the device\n")
    f = _root_fail(tmp_path, {"tensorflow.log": log}, "compat.compute-capability")
    assert f.summary.startswith("The program's CUDA build") and "TensorFlow" not in f.fix.summary


SMI_418 = ("+-----------------------------------------------------------------------------+\n"
           "| NVIDIA-SMI 418.67       Driver Version: 418.67       CUDA Version: 10.1     |\n"
           "|-------------------------------+----------------------+----------------------+\n"
           "| GPU  Name        Persistence-M| Bus-Id        Disp.A | Volatile Uncorr. ECC |\n"
           "| Fan  Temp  Perf  Pwr:Usage/Cap|         Memory-Usage | GPU-Util  Compute M. |\n"
           "|===============================+======================+======================|\n"
           "|   0  Tesla V100-SXM2...  On   | 00000000:89:00.0 Off |                    0 |\n"
           "| N/A   32C    P0    41W / 300W |      0MiB / 32480MiB |      0%      Default |\n"
           "+-------------------------------+----------------------+----------------------+\n")


def test_condas_cudatoolkit_newer_than_the_driver_runs(tmp_path):
    # ai4d-iasc/trixie#6: cudatoolkit=10.2 on a node whose driver 418.67 runs CUDA 10.1 ('use cudatoolkit=10.1')
    files = {"commands/pasted-text": "conda install pytorch torchvision cudatoolkit=10.2 -c pytorch\n",
             "commands/nvidia-smi": SMI_418}
    f = _root_fail(tmp_path, files, "python.conda-cudatoolkit")
    assert "10.2" in f.summary and "440.33" in f.summary and "418.67" in f.summary
    assert f.fix.commands == ("conda install 'cudatoolkit=10.1'",)
    # a toolkit the driver runs is no finding
    fits = {**files, "commands/pasted-text": "conda install pytorch torchvision cudatoolkit=10.1 -c pytorch\n"}
    assert _check(_snapshot(tmp_path, fits, "fits")).get("python.conda-cudatoolkit").status.value != "fail"


def test_paddles_cudnn_call_without_cudnn_is_cudnn_off_the_loader_path(tmp_path):
    # PaddlePaddle/PaddleOCR#63: 'add the path of libcudnn.so in /etc/profile' - 'Solved'
    log = ("Error: Cannot load cudnn shared library. Cannot invoke method cudnnGetVersion at "
           "(/paddle/paddle/fluid/platform/dynload/cudnn.cc:63)\n")
    f = _root_fail(tmp_path, {"tensorflow.log": log}, "cuda.libraries")
    assert "LD_LIBRARY_PATH" in f.summary and "ldconfig -p | grep libcudnn" in f.fix.commands


def test_nvidia_uvm_refused_by_the_kernel_is_no_module_to_load_again(tmp_path):
    # AOSC-Dev/aosc-os-abbs#2594: Linux 5.9 does not export what driver 455.38's nvidia_uvm needs
    dmesg = ("[95755.008404] nvidia_uvm: module uses symbols from proprietary module nvidia, inheriting taint.\n"
             "[95755.008691] nvidia_uvm: Unknown symbol radix_tree_preloads (err -2)\n")
    f = _root_fail(tmp_path, {"commands/dmesg": dmesg}, "cuda.device-nodes")
    assert "radix_tree_preloads" in f.fix.summary and "sudo modprobe nvidia-uvm" not in f.fix.commands


def test_a_libcuda_without_the_programs_entry_point_is_a_driver_too_old(tmp_path):
    # trexminer/T-Rex#95: a CUDA 11.1 build on driver 440.100 ('will only work with v455+')
    err = ("/home/rik/Downloads/trex/t-rex: symbol lookup error: /home/rik/Downloads/trex/t-rex: undefined symbol: "
           "cuDevicePrimaryCtxSetFlags_v2\n")
    f = _root_fail(tmp_path, {"commands/pasted-text": err}, "compat.driver-cuda")
    assert "cuDevicePrimaryCtxSetFlags_v2" in f.summary
    # cuDNN's and cuBLAS's own symbols are libraries' business, not the driver's
    other = "ImportError: libfoo.so: undefined symbol: cudnnGetVersion_v8\n"
    assert _check(_snapshot(tmp_path, {"commands/pasted-text": other}, "o")).get("compat.driver-cuda").status.value \
        != "fail"


def test_a_modprobe_refused_for_its_key_shows_the_module_not_loaded(tmp_path):
    # pop-os/linux#447: the MOK lands in the .platform keyring, not .machine
    files = {"commands/modprobe_nvidia": "", "commands/modprobe_nvidia.rc": "1\n",
             "commands/modprobe_nvidia.err": "modprobe: ERROR: could not insert 'nvidia': Key was rejected by service\n",
             "commands/dmesg": "Loading of module with unavailable key is rejected\n"}
    report = _check(_snapshot(tmp_path, files))
    assert report.root_cause.id == "driver.secure-boot"
    assert report.get("driver.nvidia-module").status.value == "fail"


def test_a_cuda_programs_own_insufficient_driver_number_with_the_drivers_version(tmp_path):
    # ethereum-mining/ethminer#1640: built with CUDA 10.0 on driver 396.54 (nvidia-driver-410 fixed it)
    files = {"commands/pasted-text": "CUDA error: Insufficient CUDA driver: 9020\n",
             "files/proc/driver/nvidia/version": "NVRM version: NVIDIA UNIX x86_64 Kernel Module  396.54\n"}
    f = _root_fail(tmp_path, files, "compat.driver-cuda")
    assert "396.54" in f.summary and "410.48" in f.fix.summary


def test_tensorflow_running_a_graph_beside_a_working_driver_and_silent_about_cuda(tmp_path):
    # comprna/CHEUI#9: TensorFlow 2.4 logged its CPU lines and its first graph, nothing of CUDA, next to driver 460
    log = ("2022-12-02 09:45:16.648827: I tensorflow/compiler/mlir/mlir_graph_optimization_pass.cc:116] None of the "
           "MLIR optimization passes are enabled (registered 2)\n"
           "2022-12-02 09:45:16.650310: I tensorflow/core/platform/profile_utils/cpu_utils.cc:112] CPU Frequency: "
           "2400000000 Hz\n")
    smi = SMI_515.replace("515.65.01", "460.73.01").replace("11.7", "11.2")
    report = _check(_snapshot(tmp_path, {"tensorflow.log": log, "commands/nvidia-smi": smi}))
    f = report.get("tf.cuda-build")
    assert f.status.value == "warn" and "CPU-only" in f.summary
    # without a driver shown, a graph on the CPU is no sign of anything
    alone = _check(_snapshot(tmp_path, {"tensorflow.log": log}, "alone"))
    assert alone.get("tf.cuda-build").status.value != "warn"


def test_triage_does_not_take_a_scripts_next_line_for_nvidia_smis_output():
    from tfdoctor.triage import triage_text

    # ai4d-iasc/trixie#6: a job script runs `nvidia-smi` then `python test.py`; the table comes in a later block
    text = ("```\n#SBATCH --gres=gpu:4\n\nmodule load cuda-10.2.89-gcc-9.2.0-fa5atrg\nnvidia-smi\npython test.py\n```\n"
            "and get the following output:\n```\n" + SMI_418 + "```\n"
            "I installed pytorch via:\nconda install pytorch torchvision cudatoolkit=10.2 -c pytorch\n")
    report = triage_text(text).report
    assert report.root_cause is not None and report.root_cause.id == "python.conda-cudatoolkit"


def test_a_pytorch_tensor_on_a_gpu_shows_nothing_was_hidden(tmp_path):
    # pytorch/pytorch#3900: CUDA_VISIBLE_DEVICES=5 and the tensor prints '(GPU 0)' ('Not a bug')
    files = {"tensorflow.log": "Variable containing:\n  2.5000 -13.2386\n[torch.cuda.FloatTensor of size 1x2 (GPU 0)]\n",
             "env.json": '{"CUDA_VISIBLE_DEVICES": "5"}'}
    report = _check(_snapshot(tmp_path, files))
    assert report.get("env.cuda-visible-devices").status.value == "info" and report.root_cause is None


def test_a_gpu_numbered_three_in_a_cut_table_means_at_least_four(tmp_path):
    # tensorflow/tensorflow#473: CUDA_VISIBLE_DEVICES=3 picks a Tesla K10 (compute capability 3.0), which TensorFlow
    # ignores; the pasted nvidia-smi shows only its row, in EXCLUSIVE_THREAD mode
    smi = ("|   3  Tesla K10.G2.8GB    Off  | 0000:45:00.0     Off |                    0 |\n"
           "| N/A   34C    P0    43W / 117W |     50MiB /  3583MiB |      0%    E. Thread |\n")
    log = ("I tensorflow/core/common_runtime/gpu/gpu_device.cc:669] Ignoring gpu device (device: 0, name: Tesla "
           "K10.G2.8GB, pci bus id: 0000:45:00.0) with Cuda compute capability 3.0. The minimum required Cuda "
           "capability is 3.5.\n")
    files = {"tensorflow.log": log, "env.json": '{"CUDA_VISIBLE_DEVICES": "3"}', "commands/nvidia-smi": smi}
    report = _check(_snapshot(tmp_path, files))
    assert report.get("env.cuda-visible-devices").status.value != "fail"
    assert report.root_cause.id == "compat.compute-capability"
    assert report.get("gpu.compute-mode").status.value == "warn"


def test_ffmpegs_nvenc_minimum_met_by_the_driver_is_a_missing_library_not_an_old_driver(tmp_path):
    # OpenMediaVault/Jellyfin (driver 418.74): the host lacked Debian's libnvidia-encode1, not a newer driver
    line = "[h264_nvenc @ 0x55855d101140] The minimum required Nvidia driver for nvenc is 418.30 or newer\n"
    smi = ("| NVIDIA-SMI 418.74       Driver Version: 418.74       CUDA Version: 10.1     |\n")
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": line + smi}))
    f = report.get("compat.driver-cuda")
    assert f.status.value == "warn" and "libnvidia-encode.so.1" in f.summary and "meets the minimum" in f.summary
    # a driver older than the minimum is the driver's fault, as before
    old = _check(_snapshot(tmp_path, {"commands/pasted-text": line + smi.replace("418.74", "410.48")}, "old"))
    assert old.get("compat.driver-cuda").status.value == "fail"
