"""Stop 30 (wave 32): what blind batch 62 showed missing.

Every line below is a real line from the public thread named beside it. The snapshots around them are hand-built in
tmp_path (a state synthesised for the test, as docs/snapshot-format.md describes)."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _root_fail, _snapshot

# nitishsrivastava/deepnet#28: cudamat, after a kernel update without a reboot
NO_DEVICE = "cudamat.cudamat.CUDAMatException: CUDA error: no CUDA-capable device is detected\n"
# flatpak/flatpak#6047: OBS Studio 31's NVENC encoder in a Flatpak sandbox, nvidia_uvm not loaded on the host
OBS_CUINIT = 'init_cuda_ctx: CUDA call "cu->cuInit(0)" failed with CUDA_ERROR_UNKNOWN (999): unknown error\n'
# sddm/sddm#1493: openSUSE's 470.94 packages set NVreg_DeviceFileGID=33, a group the machine did not have
LS_GID33 = ("crw-rw---- 1 root 33 195,   0 Jan 15 13:55 /dev/nvidia0\n"
            "crw-rw---- 1 root 33 195, 255 Jan 15 13:55 /dev/nvidiactl\n"
            "crw-rw---- 1 root 33 195, 254 Jan 15 13:55 /dev/nvidia-modeset\n"
            "crw-rw---- 1 root video      239,   0 Jan 15 13:55 /dev/nvidia-uvm\n")
LS_KEY = "commands/ls_-l_%2Fdev%2Fnvidia*"
# NVIDIA/nvidia-container-toolkit#1679: a CUDA sample on a Jetson Thor whose cuda-compat libcuda came first
SAMPLE_803 = ('CUDA error at /usr/samples/Samples/0_Introduction/simpleStreams/../../../Common/helper_cuda.h:816 '
              'code=803(cudaErrorSystemDriverMismatch) "cudaGetDeviceCount(&device_count)"\n')
LDCONFIG = ("\tlibcuda.so.1 (libc6,AArch64) => /usr/local/cuda-13.0/compat/libcuda.so.1\n"
            "\tlibcuda.so.1 (libc6,AArch64) => /usr/lib/aarch64-linux-gnu/nvidia/libcuda.so.1\n")
# containers/toolbox#1694: the CDI generator finds no libcuda of the loaded module's version
CDI_LIBCUDA = ('level=debug msg="Generating Container Device Interface for NVIDIA: failed to get containerEdits: '
               'failed to create discoverer for common entities: failed to create discoverer for driver files: '
               'failed to create discoverer for driver libraries: failed to get libraries for driver version: '
               'failed to locate libcuda.so.575.57.08: pattern libcuda.so.575.57.08 not found\\nlibcuda.so.575.57.08: '
               'not found"\nError: failed to get Container Device Interface containerEdits for NVIDIA\n')
LSMOD = ("nvidia_uvm           4218880  4\nnvidia_drm            159744  5\n"
         "nvidia_modeset       2150400  1 nvidia_drm\nnvidia              12976128  9 nvidia_uvm,nvidia_modeset\n")
# filecoin-project/rust-gpu-tools#79: rustacuda's name for CUDA_ERROR_NO_BINARY_FOR_GPU, on a Tesla K80
RUST = ("thread 'main' panicked at 'called `Result::unwrap()` on an `Err` value: Cuda(NoBinaryForGpu)', "
        "examples/add.rs:10:76\n")
# TensorFlow's issue template as tensorflow/tensorflow#25403 filled it in, with another release, CUDA and GPU
# (a state synthesised for the test: the lines' form is real, these values are not one reporter's)
TEMPLATE = ("- TensorFlow version (use command below): v2.3.0-rc2-23-gb36436b087 2.3.0\n"
            "- CUDA/cuDNN version: CUDA 10.1, cudnn 7.6.5\n"
            "- GPU model and memory:  GeForce RTX 3080\n")


def test_no_cuda_device_with_nothing_else_recorded_warns_on_cuda_init(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": NO_DEVICE}))
    f = report.get("cuda.init")
    assert f.status.value == "warn" and report.root_cause is None
    assert "no CUDA device (100" in f.summary and any("verify commands" in d for d in f.details)
    assert "nvidia-smi -L" in f.fix.verify
    assert any("no CUDA-capable device" in e.line for e in f.evidence)


def test_no_cuda_device_where_no_driver_is_loaded_is_left_to_the_driver_finding(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": NO_DEVICE, "commands/lsmod": "snd_hda_intel 45056 0\n"}))
    assert report.get("cuda.init").status.value != "warn"


def test_no_cuda_device_on_a_machine_without_a_gpu_to_expect_says_nothing(tmp_path):
    # TensorFlow's own cuInit line on a CPU-only machine: no program asked for the GPU (gpu.wanted unset)
    line = ("E tensorflow/stream_executor/cuda/cuda_driver.cc:271] failed call to cuInit: CUDA_ERROR_NO_DEVICE: no "
            "CUDA-capable device is detected\n")
    f = _check(_snapshot(tmp_path, {"tensorflow.log": line})).get("cuda.init")
    assert f.status.value not in ("warn", "fail") or "100" in f.summary


def test_obs_cuinit_wording_is_cuinit_failing_and_999_points_at_nvidia_uvm(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": OBS_CUINIT}))
    assert report.get("cuda.init").status.value == "fail"
    assert "CUDA_ERROR_UNKNOWN" in report.get("cuda.init").summary
    f = report.get("cuda.device-nodes")
    assert f.status.value == "fail" and report.root_cause.id == "cuda.device-nodes"
    assert "sudo modprobe nvidia-uvm" in f.fix.commands


def test_device_nodes_of_a_group_without_a_name_only_root_can_open(tmp_path):
    f = _root_fail(tmp_path, {LS_KEY: LS_GID33}, "cuda.device-nodes")
    assert "group 33" in f.summary and "only root" in f.summary
    assert "grep -rn NVreg_DeviceFile /etc/modprobe.d /usr/lib/modprobe.d" in f.fix.commands
    assert any("sudo groupadd --gid 33 nvidia-users" in c for a in f.fix.alternatives for c in a.commands)
    assert any("/dev/nvidiactl" in e.line for e in f.evidence)


def test_device_nodes_of_a_named_group_or_open_to_all_are_no_failure(tmp_path):
    named = LS_GID33.replace("root 33 ", "root video ")
    f = _check(_snapshot(tmp_path, {LS_KEY: named})).get("cuda.device-nodes")
    assert f.status.value != "fail"
    world = LS_GID33.replace("crw-rw----", "crw-rw-rw-")
    f = _check(_snapshot(tmp_path, {LS_KEY: world}, "world")).get("cuda.device-nodes")
    assert f.status.value != "fail"


def test_cuda_samples_enum_name_for_803_is_a_libcuda_not_the_drivers(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": SAMPLE_803, "commands/ldconfig_-p": LDCONFIG}, "cuda.libcuda")
    assert "803" in f.summary
    assert any("compat" in c for c in f.fix.commands)


def test_cdi_generator_without_the_drivers_libcuda_is_libcuda_missing(tmp_path):
    key = "commands/toolbox_run_ls"
    report = _check(_snapshot(tmp_path, {key: "", key + ".err": CDI_LIBCUDA, key + ".rc": "1\n",
                                         "commands/lsmod": LSMOD}))
    f = report.get("cuda.init")
    assert f.status.value == "fail" and report.root_cause.id == "cuda.init"
    assert "libcuda.so.1" in f.summary and "cannot be loaded" in f.summary
    assert report.get("driver.nvidia-module").status.value == "ok"


def test_rustacuda_no_binary_for_gpu_is_a_build_without_the_gpus_kernels(tmp_path):
    key = "commands/cargo_run_--example_add"
    f = _root_fail(tmp_path, {key: RUST, key + ".rc": "101\n"}, "compat.compute-capability")
    assert "no kernel image" in f.summary


def test_a_stated_cuda_older_than_the_stated_gpus_major_is_a_cuda_that_predates_the_gpu(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": TEMPLATE}, "compat.compute-capability")
    # (CUDA 11.0's kernels for 8.0 run on 8.6: binary compatibility within a major)
    assert "CUDA 10.1" in f.summary and "8.6" in f.summary and "needs CUDA 11.0 or newer" in f.summary


def test_a_stated_cuda_of_the_gpus_major_is_not_called_too_old(tmp_path):
    # CUDA 11.0 has kernels for 8.0, which run on 8.6 (binary compatibility within a major)
    text = TEMPLATE.replace("CUDA 10.1", "CUDA 11.0")
    f = _check(_snapshot(tmp_path, {"commands/pasted-text": text})).get("compat.compute-capability")
    assert f.status.value != "fail"


# snowzach/doods2#92: a PyTorch wheel under a TensorFlow 2.7 GPU image's CUDA 11.2 libcudart
TORCH_CUDART = ("ImportError: /usr/local/lib/python3.8/dist-packages/torch/lib/libtorch_cuda.so: undefined symbol: "
                "cudaGraphDebugDotPrint, version libcudart.so.11.0\n")
# PaddlePaddle/PaddleSlim#1619: Paddle's padded wording of cuDNN 8's sub-library mix
PADDLE_CUDNN = ("Could not load library libcudnn_cnn_train.so.8.     Error: /home/zjl/anaconda3/envs/paddle/bin/../lib/"
                "libcudnn_ops_train.so.8 :undefined symbol: _ZN5cudnn3ops26JoinInternalPriorityStreamEP12cudnnContexti "
                ", version libcudnn_ops_infer.so.8\n")
# Sygil-Dev/sygil-webui#490: Ubuntu 18.04's docker-compose 1.17.1
COMPOSE_ERR = ("The Compose file './docker-compose.yaml' is invalid because:\n"
               "services.stable-diffusion.deploy.resources.reservations value Additional properties are not allowed "
               "('devices' was unexpected)\n")
# NVIDIA/nvidia-persistenced#11: GH200, the daemon run as a non-root user
PERSISTENCED = ("Aug 27 21:35:25 ubuntu nvidia-persistenced[1405]: Started (1405)\n"
                "Aug 27 21:35:25 ubuntu nvidia-persistenced[1405]: NUMA: Enabling NUMA memory Auto-Online due to GPU "
                "requirement\n"
                "Aug 27 21:35:25 ubuntu nvidia-persistenced[1405]: NUMA: Failed to open "
                "/sys/devices/system/memory/auto_online_blocks: Permission denied\n"
                "Aug 27 21:35:25 ubuntu nvidia-persistenced[1405]: NUMA: Failed to enable NUMA memory Auto-Online\n"
                "Aug 27 21:35:25 ubuntu nvidia-persistenced[1400]: nvidia-persistenced failed to initialize. Check "
                "syslog for more details.\n")


def test_a_frameworks_library_needing_a_newer_libcudart_of_its_major_is_two_cuda_copies_mixed(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": TORCH_CUDART}, "cuda.libraries")
    assert "libtorch_cuda.so" in f.summary and "libcudart.so.11" in f.summary
    assert "the CUDA release it was built with" in f.summary
    assert any("nvidia-cuda-runtime-cu11" in c for a in f.fix.alternatives for c in a.commands)


def test_paddles_padded_cudnn_loader_line_is_a_cudnn_mix(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": PADDLE_CUDNN}, "cuda.libraries")
    assert "libcudnn_cnn_train.so.8" in f.summary and "another cuDNN installation" in f.summary


def test_compose_without_gpu_device_reservations_is_an_old_compose(tmp_path):
    key = "commands/docker-compose_up"
    files = {key: "", key + ".err": COMPOSE_ERR, key + ".rc": "1\n",
             "commands/docker-compose_version": "docker-compose version 1.17.1, build unknown\n",
             "files/etc/os-release": 'ID=ubuntu\nVERSION_ID="18.04"\n'}
    f = _root_fail(tmp_path, files, "container.toolkit")
    assert "older than 1.28" in f.summary
    assert f.fix.commands == ("sudo apt install docker-compose-plugin",)
    assert any("docker compose version" in v for v in f.fix.verify)


def test_a_persistence_daemon_that_failed_to_start_warns_and_says_why(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/journalctl": PERSISTENCED}))
    f = report.get("gpu.persistence-mode")
    assert f.status.value == "warn" and report.root_cause is None
    assert "failed to start" in f.summary and "must run as root" in f.summary
    assert "journalctl -u nvidia-persistenced -b --no-pager" in f.fix.commands
    plain = PERSISTENCED.splitlines()[-1] + "\n"
    f = _check(_snapshot(tmp_path, {"commands/journalctl": plain}, "plain")).get("gpu.persistence-mode")
    assert f.status.value == "warn" and "root" not in f.summary


# Genesis-Embodied-AI/genesis-world#114: Taichi's CUDA driver wrapper under WSL2
TAICHI = ("[E 12/20/24 08:45:40.689 2984] [cuda_driver.h:operator()@92] CUDA Error CUDA_ERROR_NO_DEVICE: no "
          "CUDA-capable device is detected while calling init (cuInit)\n")
# tensorflow/tensorflow#12416: the loader's line as pasted, without the colon after the library
NO_COLON = "ImportError: libcudnn.so.6 cannot open shared object file: No such file or directory\n"
# NVIDIA/DIGITS#799: Caffe's CHECK of a CUDA runtime call, 30 = cudaErrorUnknown before CUDA 11
CAFFE_30 = ("F0528 22:26:23.117558 13844 syncedmem.hpp:18] Check failed: error == cudaSuccess (30 vs. 0) unknown "
            "error\n")
# D34DC3N73R/netdata-glibc#6 and tensorflow/tensorflow#103: musl's loader on glibc builds
MUSL_SMI = ("Error relocating /usr/bin/nvidia-smi: __strtok_r: symbol not found\n"
            "Error relocating /usr/bin/nvidia-smi: __strdup: symbol not found\n")
MUSL_TF = ("ImportError: Error relocating /usr/lib/python2.7/site-packages/tensorflow/python/_pywrap_tensorflow.so: "
           "__isnanf: symbol not found\n")


def test_taichis_cuinit_wording_gives_cudas_code(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": TAICHI}))
    f = report.get("cuda.init")
    assert f.status.value == "warn" and "(100" in f.summary


def test_a_loader_line_without_its_colon_is_still_a_missing_library(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": NO_COLON}, "tf.cuda-libs")
    assert "libcudnn.so.6" in f.summary


def test_caffes_30_vs_0_unknown_error_points_at_nvidia_uvm(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": CAFFE_30}, "cuda.device-nodes")
    assert any("nvidia-modprobe" in c for c in f.fix.commands)


def test_musls_loader_on_a_glibc_build_is_the_c_library(tmp_path):
    for i, (key, text) in enumerate((("commands/pasted-text", MUSL_SMI), ("tensorflow.log", MUSL_TF))):
        report = _check(_snapshot(tmp_path, {key: text}, f"s{i}"))
        f = report.get("system.os")
        assert f.status.value == "fail" and report.root_cause.id == "system.os", f.summary
        assert "musl" in f.summary and "glibc" in f.summary
        assert any("apk add gcompat" in c for a in f.fix.alternatives for c in a.commands)
    # a home folder redacted to ~ (triage) reads the same
    redacted = MUSL_TF.replace("/usr/lib/python2.7", "~/.local/lib/python2.7")
    assert _check(_snapshot(tmp_path, {"tensorflow.log": redacted}, "home")).get("system.os").status.value == "fail"


# NVIDIA/open-gpu-kernel-modules#1200: an RTX 5080 on 595.71.05 after a GSP heartbeat timeout
XID154 = ("[12345.678] NVRM: Xid (PCI:0000:01:00): 154, GPU recovery action changed from 0x0 (None) to 0x1 (GPU Reset "
          "Required)\n")
# NVIDIA/nvidia-docker#95: nvidia-docker 1's volume still held the old driver's libcuda after an upgrade
DSO_OLDER = ("E tensorflow/stream_executor/cuda/cuda_diagnostics.cc:229] kernel version 361.42 does not match DSO version "
             "352.79 -- cannot find working devices in this configuration\n")


def test_xid_154_naming_a_reset_is_a_gpu_that_needs_one(tmp_path):
    f = _root_fail(tmp_path, {"commands/dmesg": XID154}, "gpu.xid")
    assert "Xid 154 (GPU Recovery Action Changed)" in f.summary
    assert any("nvidia-smi -r" in c for c in f.fix.commands)


def test_xid_154_back_to_none_is_no_error(tmp_path):
    back = XID154.replace("from 0x0 (None) to 0x1 (GPU Reset Required)", "from 0x1 (GPU Reset Required) to 0x0 (None)")
    f = _check(_snapshot(tmp_path, {"commands/dmesg": back})).get("gpu.xid")
    assert f.status.value not in ("warn", "fail"), f.summary


def test_an_older_libcuda_than_the_kernel_module_is_cuda_libcuda_not_nvml(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": DSO_OLDER}))
    f = report.get("cuda.libcuda")
    assert f.status.value == "fail" and report.root_cause.id == "cuda.libcuda"
    assert "352" in f.summary and "361" in f.summary
    assert report.get("nvml.init").status.value == "skip"


# PaddlePaddle/Paddle#35857, illinois-scicomp/machine-shop-maintenance#11, NVIDIA/dcgm-exporter#427
CUPTI = ("/paddle/paddle/fluid/platform/device_tracer.cc:131: error: function dynload::cuptiActivityEnable("
         "CUPTI_ACTIVITY_KIND_MEMCPY) failed with error CUPTI_ERROR_INSUFFICIENT_PRIVILEGES.\n")
NVPROF = ("==708142== Warning: ERR_NVGPUCTRPERM - The user does not have permission to profile on the target device. "
          "See the following link for instructions to enable permissions and get more information: "
          "https://developer.nvidia.com/ERR_NVGPUCTRPERM\n")
DCGM = ("Warning #2: dcgm-exporter doesn't have sufficient privileges to expose profiling metrics. To get profiling "
        "metrics with dcgm-exporter, use --cap-add SYS_ADMIN\n")
# leptonai/gpud#117: Xid 45, then a task hung in the kernel
HUNG = ("[Sat Oct 12 18:35:32 2024] NVRM: Xid (PCI:0000:61:00): 45, pid=1496200, name=distprovers-gpu, Ch 0000000a\n"
        "[Sat Oct 12 18:38:44 2024] INFO: task cache_mgr_event:620917 blocked for more than 120 seconds.\n"
        "[Sat Oct 12 18:38:44 2024]       Tainted: P           OE     5.15.0-97-generic #107-Ubuntu\n")
# pytorch/pytorch#43281: PyTorch 1.5's THC wording of 999 after the machine sat idle
THC_999 = ("RuntimeError: cuda runtime error (999) : unknown error at "
           "/opt/conda/conda-bld/pytorch_1591914886554/work/aten/src/THC/THCGeneral.cpp:47\n")


def test_a_profiler_refused_the_counters_warns_with_the_drivers_option(tmp_path):
    for i, line in enumerate((CUPTI, NVPROF)):
        report = _check(_snapshot(tmp_path, {"tensorflow.log": line}, f"s{i}"))
        f = report.get("driver.nvidia-module")
        assert f.status.value == "warn" and report.root_cause is None, f.summary
        assert "NVreg_RestrictProfilingToAdminUsers" in f.summary
        assert any("NVreg_RestrictProfilingToAdminUsers=0" in c for c in f.fix.commands)
        assert any("SYS_ADMIN" in a.when for a in f.fix.alternatives)


def test_a_profiler_refused_in_a_container_names_cap_sys_admin(tmp_path):
    key = "commands/docker_run_--gpus_all_--rm_-p_9400:9400_nvcr.io%2Fnvidia%2Fk8s%2Fdcgm-exporter:3.3.9-3.6.1-ubuntu22.04"
    report = _check(_snapshot(tmp_path, {key: DCGM}))
    f = report.get("env.container")
    assert f.status.value == "warn" and "CAP_SYS_ADMIN" in f.summary
    assert "--cap-add SYS_ADMIN" in f.fix.summary
    assert report.get("driver.nvidia-module").status.value != "warn"  # said once, where it is fixed first


def test_an_xid_then_a_task_hung_in_the_kernel_is_a_stuck_driver(tmp_path):
    f = _root_fail(tmp_path, {"commands/dmesg": HUNG}, "gpu.xid")
    assert "hung in the kernel" in f.summary and f.fix.commands == ("sudo reboot",)
    # a hung task before any Xid says nothing about the GPU
    lines = HUNG.splitlines()
    before = "\n".join([lines[1], lines[2], lines[0]]) + "\n"
    f = _check(_snapshot(tmp_path, {"commands/dmesg": before}, "before")).get("gpu.xid")
    assert "hung" not in f.summary


def test_thcs_999_wording_points_at_nvidia_uvm_but_30_alone_does_not(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": THC_999}, "cuda.device-nodes")
    assert any("nvidia-uvm" in c for c in f.fix.commands)
    # 30 in PyTorch's wording is also what a CUDA context used after fork() gives (a healthy corpus case)
    thirty = THC_999.replace("(999)", "(30)")
    f = _check(_snapshot(tmp_path, {"tensorflow.log": thirty}, "thirty")).get("cuda.device-nodes")
    assert f.status.value != "fail"


# jeffheaton/docker-stylegan2-ada#1: CUDA 10's nvcc in a TensorFlow 1 image on an RTX 3090
NVCC = "nvcc fatal : Value 'sm_86' is not defined for option 'gpu-architecture'\n"
# canonical/microk8s-core-addons#251: Ubuntu's packaging names the container CLI nvidia-container-cli.real
CLI_REAL = ("Error: failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create "
            "failed: unable to start container process: error during container init: error running hook #0: error "
            "running hook: exit status 1, stdout: , stderr: Auto-detected mode as 'legacy' nvidia-container-cli.real: "
            "initialization error: load library failed: libnvidia-ml.so.1: cannot open shared object file: no such file "
            "or directory: unknown\n")


def test_an_nvcc_that_does_not_know_the_gpus_architecture_predates_the_gpu(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": NVCC}, "compat.compute-capability")
    assert "sm_86" in f.summary and "needs CUDA 11.1 or newer" in f.summary


def test_ptxas_not_knowing_the_architecture_is_left_to_xlas_fallback(tmp_path):
    # XLA falls back to the driver's JIT when its ptxas does not know the GPU: no failure by itself
    line = "ptxas fatal   : Value 'sm_86' is not defined for option 'gpu-name'\n"
    f = _check(_snapshot(tmp_path, {"tensorflow.log": line})).get("compat.compute-capability")
    assert f.status.value != "fail"


def test_the_container_clis_real_binary_name_reads_the_same(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": CLI_REAL}))
    f = report.get("env.container")
    assert f.status.value == "fail" and "libnvidia-ml.so.1" in f.summary
