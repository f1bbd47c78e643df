"""Stop 28 (wave 30): what blind batch 48 showed missing.

Every line below is a real line from the public thread named beside it. The snapshots around them are hand-built in
tmp_path (a state synthesised for the test, as docs/snapshot-format.md describes)."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _root_fail, _snapshot

# xanmod/linux#65: nvidia-dkms 440.100's make.log for a PREEMPT_RT kernel
RT_LOG = ("DKMS make.log for nvidia-440.100 for kernel 5.6.17-rt10-xanmod1 (x86_64)\n"
          "The kernel you are installing for is a PREEMPT_RT kernel!\n\n"
          "The NVIDIA driver does not support real-time kernels. If you\n"
          "are using a stock distribution kernel, please install\n"
          "*** Failed PREEMPT_RT sanity\n")
# NVIDIA/gpu-operator#729: driver 535.54.03 on a newer Azure kernel
GPL_ONLY = "ERROR: modpost: GPL-incompatible module nvidia.ko uses GPL-only symbol 'rcu_read_unlock_strict'\n"
# negativo17/nvidia-driver#188: `akmods --rebuild --force` by hand (no 'akmods: ' prefix)
AKMODS = ("Checking kmods exist for 6.17.10-300.fc43.aarch64 [  OK  ]\n"
          "Building and installing nvidia-kmod [FAILED]\n"
          "Building rpms failed; see /var/cache/akmods/nvidia/590.44.01-1-for-6.17.10-300.fc43.aarch64.failed.log "
          "for details\n")
# omacom/omarchy#2039: Arch's ollama package on two GTX 1080 Ti (compute capability 6.1)
GGML = ("/build/ollama/src/ollama/ml/backend/ggml/ggml/src/ggml-cuda/common.cuh:106: ggml was not compiled with any "
        "CUDA arch <= 610\n")
# JuliaGPU/CUDA.jl#3079: CUDA.jl 5.11 on a V100 with driver 580, then CUDA's 999
CUDAJL = ("\u250c Error: Your Tesla V100-PCIE-32GB GPU (compute capability 7.0) is not supported on CUDA 13+.\n"
          "\u2502 Please use a device with at least capability 7.5, or downgrade your NVIDIA driver to below v580.\n"
          "ERROR: CUDA error: unknown error (code 999, ERROR_UNKNOWN)\n")
SMI_580 = "Driver Version: 580.126.09     CUDA Version: 13.0\n"
# junxnone/tio#189: TensorFlow's first CUDA call out of memory; nvidia-smi cut after GPU 2 (no Processes section)
TF_INIT_OOM = ("tensorflow.python.framework.errors_impl.InternalError: CUDA runtime implicit initialization on GPU:0 "
               "failed. Status: out of memory\n")
SMI_FULL = """Sat Dec  1 03:16:11 2018
+-----------------------------------------------------------------------------+
| NVIDIA-SMI 410.78       Driver Version: 410.78       CUDA Version: 10.0     |
|-------------------------------+----------------------+----------------------+
| GPU  Name        Persistence-M| Bus-Id        Disp.A | Volatile Uncorr. ECC |
| Fan  Temp  Perf  Pwr:Usage/Cap|         Memory-Usage | GPU-Util  Compute M. |
|===============================+======================+======================|
|   0  GeForce GTX 108...  Off  | 00000000:02:00.0 Off |                  N/A |
| 23%   34C    P8    19W / 250W |  11004MiB / 11178MiB |      0%      Default |
+-------------------------------+----------------------+----------------------+
|   1  GeForce GTX 108...  Off  | 00000000:04:00.0 Off |                  N/A |
| 23%   38C    P8    20W / 250W |  10766MiB / 11178MiB |      0%      Default |
+-------------------------------+----------------------+----------------------+
|   2  GeForce GTX 108...  Off  | 00000000:83:00.0 Off |                  N/A |
| 23%   38C    P8    21W / 250W |    432MiB / 11178MiB |      0%      Default |
"""
# NVIDIA/gpu-operator#129: an A100 with MIG on (the ECC cell reads 'On'), the table cut; the validator's vectorAdd
SMI_MIG = """+-----------------------------------------------------------------------------+
| NVIDIA-SMI 450.80.02    Driver Version: 450.80.02    CUDA Version: 11.0     |
|-------------------------------+----------------------+----------------------+
| GPU  Name        Persistence-M| Bus-Id        Disp.A | Volatile Uncorr. ECC |
| Fan  Temp  Perf  Pwr:Usage/Cap|         Memory-Usage | GPU-Util  Compute M. |
|                               |                      |               MIG M. |
|===============================+======================+======================|
|   0  A100-PCIE-40GB      On   | 00000000:D8:00.0 Off |                   On |
"""
BUSY = "Failed to allocate device vector A (error code all CUDA-capable devices are busy or unavailable)!\n"


def test_nvidias_preempt_rt_check_is_a_build_refused_for_a_real_time_kernel(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": RT_LOG}, "driver.dkms")
    assert "PREEMPT_RT" in f.summary and "real-time" in f.summary
    assert "without the PREEMPT_RT patch set" in f.fix.summary
    # building anyway is NVIDIA-unsupported: an alternative, never the fix
    assert not any("IGNORE_PREEMPT_RT_PRESENCE" in c for c in f.fix.commands)
    assert any("IGNORE_PREEMPT_RT_PRESENCE=1" in c for a in f.fix.alternatives for c in a.commands)
    assert {e.message for e in f.evidence} == {"nvidia-preempt-rt-refused"}


def test_a_gpl_only_symbol_is_a_driver_older_than_the_kernel(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": GPL_ONLY}, "driver.dkms")
    assert "does not compile against this kernel" in f.summary
    assert "newer driver" in f.fix.summary
    assert [e.message for e in f.evidence] == ["modpost-gpl-only-symbol"]


def test_akmods_run_by_hand_is_an_akmods_build_failure_with_a_fedora_fix(tmp_path):
    f = _root_fail(tmp_path, {"commands/akmods_--rebuild_--force": AKMODS}, "driver.dkms")
    assert f.summary.startswith("akmods could not build the NVIDIA module for kernel 6.17.10-300.fc43.aarch64")
    assert f.fix.commands[0].startswith("sudo dnf upgrade --refresh 'akmod-nvidia*'")
    assert "sudo akmods --force --kernels 6.17.10-300.fc43.aarch64" in f.fix.commands


def test_a_dkms_failure_on_a_fedora_kernel_installs_fedoras_driver(tmp_path):
    # no os-release: the failed kernel's flavour (.fc43.) names the distribution the driver comes from
    log = "Error! Bad return status for module build on kernel: 6.17.10-300.fc43.x86_64 (x86_64)\n"
    f = _root_fail(tmp_path, {"commands/pasted-text": log}, "driver.dkms")
    assert any("akmod-nvidia" in c for c in f.fix.commands)


def test_ggml_without_the_gpus_architecture_is_a_build_without_kernels_for_it(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": GGML}, "compat.compute-capability")
    assert "compute capability 6.1" in f.summary and "ggml" in f.summary
    assert "CMAKE_CUDA_ARCHITECTURES=61" in f.fix.summary


def test_cuda_jl_refusing_the_gpu_is_the_cause_of_the_999_after_it(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": CUDAJL, "commands/nvidia-smi": SMI_580}))
    f = report.get("compat.compute-capability")
    assert report.root_cause is f and f.status.value == "fail"
    assert "CUDA 13" in f.summary and "compute capability 7.0" in f.summary
    assert f.fix.commands == ("julia -e 'using CUDA; CUDA.set_runtime_version!(v\"12\")'",)
    # CUDA's 999 after the software refused the GPU is no unified-memory module missing
    assert report.get("cuda.device-nodes").status.value != "fail"


def test_a_999_alone_still_asks_for_nvidia_uvm(tmp_path):
    log = "ERROR: CUDA error: unknown error (code 999, ERROR_UNKNOWN)\n"
    report = _check(_snapshot(tmp_path, {"tensorflow.log": log, "commands/nvidia-smi": SMI_580}))
    assert report.get("cuda.device-nodes").status.value == "fail"


def test_tensorflows_first_cuda_call_out_of_memory_on_a_full_gpu_is_memory_held_by_others(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": TF_INIT_OOM, "commands/nvidia-smi": SMI_FULL}, "gpu.memory-in-use")
    assert "GPUs 0,1" in f.summary or "GPU 0" in f.summary
    assert "GPU 0: 11004 of 11178 MiB in use" in f.details
    assert not any("GPU 2" in d for d in f.details)  # 432 MiB in use: not what failed
    assert [e.message for e in f.evidence] == ["tf-runtime-init-out-of-memory"]


def test_a_cut_table_never_says_no_process_holds_memory(tmp_path):
    # the same table without an error: who holds GPUs 0 and 1 is unknown, and is said to be
    f = _check(_snapshot(tmp_path, {"commands/nvidia-smi": SMI_FULL})).get("gpu.memory-in-use")
    assert f.status.value == "info" and "was not recorded" in f.summary
    assert "No other process" not in f.summary


def test_every_device_busy_with_mig_on_and_its_instances_unrecorded_is_mig(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/nvidia-smi": SMI_MIG, "tensorflow.log": BUSY}))
    f = report.get("gpu.mig")
    assert report.root_cause is f and f.status.value == "fail"
    assert "every device busy or unavailable" in f.summary
    assert any("-mig 0" in c for c in f.fix.commands + tuple(c for a in f.fix.alternatives for c in a.commands))
    assert report.get("gpu.compute-mode").status.value == "info"


def test_every_device_busy_without_mig_still_reads_the_compute_mode(tmp_path):
    smi = SMI_MIG.replace("|                   On |", "|                    0 |")
    report = _check(_snapshot(tmp_path, {"commands/nvidia-smi": smi, "tensorflow.log": BUSY}))
    assert report.get("gpu.compute-mode").status.value == "fail"
    assert report.get("gpu.mig").status.value != "fail"


# What blind batch 49 showed missing.

# pytorch/pytorch#80637: a cuDNN 8.0.3 folder first on LD_LIBRARY_PATH, the torch 1.12 cu113 wheel bundling 8.3.2
TORCH_CUDNN = ("Traceback (most recent call last):\n  File \"<stdin>\", line 1, in <module>\n"
               "RuntimeError: cuDNN version incompatibility: PyTorch was compiled against (8, 3, 2) but linked against "
               "(8, 0, 3)\n")
FAIR_LD = ("/public/apps/cudnn/v8.0.3.33-cuda.11.0/cuda/lib64:/public/apps/cuda/11.0/lib64:/usr/local/cuda/lib64:"
           "/usr/local/cuda/lib64::/public/slurm/20.11.8/lib:/public/slurm/20.11.8/lib")
TORCH_KEY = "commands/python_-c_import torch; torch.backends.cudnn.version()"
# facefusion/facefusion-docker#9: cuDNN 8 in a container without libnvrtc.so
NVRTC = ("facefusion-docker-facefusion-cuda-1  | Could not load library libcudnn_cnn_infer.so.8. Error: libnvrtc.so: "
         "cannot open shared object file: No such file or directory\n")
# huggingface/text-embeddings-inference#47: an image on CUDA 12.2 and a GeForce on driver 525 (CUDA 12.0)
COMPAT_804 = "forward compatibility was attempted on non supported HW\n"
SMI_525 = ("+-----------------------------------------------------------------------------+\n"
           "| NVIDIA-SMI 525.105.17   Driver Version: 525.105.17   CUDA Version: 12.0     |\n")


def test_a_python_commands_traceback_is_read_with_the_frameworks_catalogue(tmp_path):
    report = _check(_snapshot(tmp_path, {TORCH_KEY: "", TORCH_KEY + ".err": TORCH_CUDNN, TORCH_KEY + ".rc": "1\n"}))
    f = report.get("cuda.libraries")
    assert report.root_cause is f and "built against cuDNN 8.3.2 but loaded cuDNN 8.0.3" in f.summary
    assert [e.message for e in f.evidence] == ["torch-cudnn-version-incompatibility"]
    assert f.evidence[0].source == "python -c import torch; torch.backends.cudnn.version()"


def test_pytorchs_cudnn_shadowed_with_ld_library_path_recorded_names_the_folder(tmp_path):
    import json

    files = {TORCH_KEY: "", TORCH_KEY + ".err": TORCH_CUDNN, TORCH_KEY + ".rc": "1\n",
             "env.json": json.dumps({"LD_LIBRARY_PATH": FAIR_LD})}
    report = _check(_snapshot(tmp_path, files))
    f = report.get("python.ld-library-path")
    assert report.root_cause is f and "shadows the cuDNN PyTorch bundles" in f.summary
    assert f.fix.commands[0] == ("export LD_LIBRARY_PATH=/public/apps/cuda/11.0/lib64:/usr/local/cuda/lib64:"
                                 "/usr/local/cuda/lib64:/public/slurm/20.11.8/lib:/public/slurm/20.11.8/lib")
    assert report.get("cuda.libraries").status.value == "info"


def test_a_cudnn_sub_library_missing_nvrtc_is_a_cuda_library_missing(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": NVRTC}, "cuda.libraries")
    assert "libcudnn_cnn_infer.so.8 could not load libnvrtc.so" in f.summary and "NVRTC" in f.summary
    assert "unversioned" in f.fix.summary and f.fix.commands == ("ldconfig -p | grep libnvrtc",)


def test_804_from_a_programs_words_is_a_driver_older_than_the_programs_cuda(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": COMPAT_804, "commands/nvidia-smi": SMI_525}))
    f = report.get("compat.driver-cuda")
    assert report.root_cause is f and "driver 525.105.17 (CUDA 12.0)" in f.summary
    assert "data-centre GPUs" in f.fix.summary
    assert any("CUDA 12.0 or older" in a.when for a in f.fix.alternatives)
    assert report.get("cuda.libcuda").status.value == "info"


# What blind batch 50 showed missing.

# google-deepmind/open_spiel#137: pip before 19.0 sees TensorFlow's releases up to the last manylinux1 wheels
OLD_PIP = ("  Could not find a version that satisfies the requirement tensorflow<2.0,>=1.15 (from -r requirements.txt "
           "(line 3)) (from versions: 0.12.1, 1.0.0, 1.0.1, 1.13.1, 1.13.2, 1.14.0rc0, 1.14.0rc1, 1.14.0, 2.0.0a0, "
           "2.0.0b0, 2.0.0b1)\n"
           "No matching distribution found for tensorflow<2.0,>=1.15 (from -r requirements.txt (line 3))\n")
PIP_KEY = "commands/pip3_install_--upgrade_-r_requirements.txt"
# tensorflow/tensorflow#12187: a cp35 wheel given to an Anaconda Python 3.6
CP35 = "tensorflow_gpu-1.3.0rc2-cp35-cp35m-manylinux1_x86_64.whl is not a supported wheel on this platform. \n"
CP35_KEY = ("commands/pip_install_--upgrade_https:%2F%2Fstorage.googleapis.com%2Ftensorflow%2Flinux%2Fgpu%2F"
            "tensorflow_gpu-1.3.0rc2-cp35-cp35m-manylinux1_x86_64.whl")
# Softcatala/whisper-ctranslate2#74: CTranslate2 3.x (CUDA 11) on Colab's CUDA 12 runtime
CT2 = "RuntimeError: Library libcublas.so.11 is not found or cannot be loaded\n"
# RosettaCommons/RFdiffusion#208: DGL's CUDA 12.1 libraries loaded before JAX's 12.2
JAX_CUDA = ("CUDA backend failed to initialize: Found CUDA version 12010, but JAX was built against version 12020, "
            "which is newer. The copy of CUDA that is installed must be at least as new as the version against which "
            "JAX was built. (Set TF_CPP_MIN_LOG_LEVEL=0 and rerun for more info.)\n")


def test_pip_offering_releases_up_to_the_last_manylinux1_wheels_is_pip_too_old(tmp_path):
    report = _check(_snapshot(tmp_path, {PIP_KEY: "", PIP_KEY + ".err": OLD_PIP, PIP_KEY + ".rc": "1\n"}))
    f = report.get("tf.installed")
    assert report.root_cause is f and "ends at 2.0.0b1" in f.summary.replace("end at", "ends at")
    assert f.fix.commands == ("python3 -m pip install --upgrade pip",)
    assert report.get("compat.python").status.value == "skip"


def test_pip_offering_nothing_is_still_the_python_or_platform(tmp_path):
    err = ("ERROR: Could not find a version that satisfies the requirement tensorflow==1.15 (from versions: none)\n"
           "ERROR: No matching distribution found for tensorflow==1.15\n")
    key = "commands/pip3_install_tensorflow==1.15"
    report = _check(_snapshot(tmp_path, {key: "", key + ".err": err, key + ".rc": "1\n"}))
    assert report.get("tf.installed").status.value != "fail"
    f = report.get("compat.python")
    assert report.root_cause is f and "TensorFlow 1.15 needs Python" in f.summary


def test_an_upper_bound_names_the_newest_release_below_it(tmp_path):
    err = ("ERROR: Could not find a version that satisfies the requirement tensorflow<2.0 (from versions: none)\n")
    key = "commands/pip_install_tensorflow<2.0"
    f = _root_fail(tmp_path, {key: "", key + ".err": err, key + ".rc": "1\n"}, "compat.python")
    assert "TensorFlow 1.15 needs Python" in f.summary


def test_a_wheel_for_another_python_is_compat_python_naming_the_wheels_python(tmp_path):
    f = _root_fail(tmp_path, {CP35_KEY: "", CP35_KEY + ".err": CP35, CP35_KEY + ".rc": "1\n",
                              "commands/pasted-text": "- Python version: 3.6\n"},
                   "compat.python")
    assert "built for Python 3.5 (cp35)" in f.summary and "this interpreter is Python 3.6" in f.summary


def test_a_wheel_for_this_pythons_tag_is_still_the_platform(tmp_path):
    f = _root_fail(tmp_path, {CP35_KEY: "", CP35_KEY + ".err": CP35, CP35_KEY + ".rc": "1\n",
                              "commands/pasted-text": "- Python version: 3.5.2\n"}, "tf.installed")
    assert "platform" in f.summary


def test_ctranslate2s_missing_library_is_a_cuda_library_missing_with_its_name_in_the_fix(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": CT2}, "tf.cuda-libs")
    assert "libcublas.so.11" in f.summary and "libcublas.so.11" in f.fix.summary
    assert [e.message for e in f.evidence] == ["ctranslate2-library-not-found"]


def test_jax_finding_an_older_cuda_than_its_build_is_cuda_libraries(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": JAX_CUDA}, "cuda.libraries")
    assert "built against CUDA 12.2 but found CUDA 12.1" in f.summary
    assert f.fix.commands[0] == "python3 -m pip install --upgrade 'jax[cuda12]'"


# What blind batch 51 showed missing.

# pytorch/pytorch#31353: PyTorch 1.3's out-of-memory breakdown, whose `cached` is beyond what is allocated
TORCH13_OOM = ("RuntimeError: CUDA out of memory. Tried to allocate 1.86 GiB (GPU 0; 31.72 GiB total capacity; 24.58 GiB "
               "already allocated; 1.28 GiB free; 5.08 GiB cached)\n")
# linuxserver/docker-plex#340: FFmpeg inside a container given NVIDIA_VISIBLE_DEVICES only
PLEX = ("Oct 21, 2022 16:01:12.613 [0x7f1c07a08b38] ERROR - [Req#225/Transcode] [FFMPEG] - Cannot load "
        "libnvidia-encode.so.1\n"
        "Oct 21, 2022 16:01:12.613 [0x7f1c07a08b38] ERROR - [Req#225/Transcode] [FFMPEG] - The minimum required Nvidia "
        "driver for nvenc is 418.30 or newer\n")
# fuchaojie.com/2022/06/CUDAVersion: Isaac Gym Preview 3's PhysX on driver 460.32.03
PHYSX = ("/buildAgent/work/45f70df4210b2e3e/source/cudamanager/src/CudaContextManager.cpp (635) : warning : CUDA driver "
         "version is 11020, expected at least 11040.\n")
SMI_460 = "| NVIDIA-SMI 460.32.03 Driver Version: 460.32.03 CUDA Version: 11.2 |\n"


def test_pytorch_13s_cached_memory_is_the_programs_own(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": TORCH13_OOM}))
    assert report.get("gpu.memory-in-use").status.value != "fail"
    assert report.root_cause is None


def test_nvenc_library_missing_in_a_container_without_the_video_capability(tmp_path):
    import json

    report = _check(_snapshot(tmp_path, {"commands/pasted-text": PLEX,
                                         "env.json": json.dumps({"NVIDIA_VISIBLE_DEVICES": "all"})}))
    f = report.get("container.capabilities")
    assert report.root_cause is f and "is not set" in f.summary and "video" in f.summary
    assert "NVIDIA_DRIVER_CAPABILITIES=compute,video,utility" in f.fix.commands[0]
    # FFmpeg's minimum is printed after any failed load: no driver too old is claimed
    assert report.get("compat.driver-cuda").status.value == "warn"


def test_nvenc_library_missing_with_the_video_capability_is_not_the_capability(tmp_path):
    import json

    env = json.dumps({"NVIDIA_VISIBLE_DEVICES": "all", "NVIDIA_DRIVER_CAPABILITIES": "compute,video,utility"})
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": PLEX, "env.json": env}))
    assert report.get("container.capabilities").status.value != "fail"
    f = report.get("compat.driver-cuda")
    assert f.status.value == "warn" and "could not load the driver's libnvidia-encode.so.1" in f.summary


def test_physx_naming_an_older_cuda_than_it_needs_is_a_driver_too_old(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": PHYSX, "commands/nvidia-smi": SMI_460}, "compat.driver-cuda")
    assert "older than CUDA 11.4 needs" in f.summary and "460.32.03" in f.summary


def test_triage_reads_an_echoed_ld_library_path_after_a_prompt_with_a_status_field():
    from tfdoctor.triage import plan
    from tfdoctor.triage.paste import from_text

    text = ("LD_LIBRARY_PATH:\n```\n(py38) [0] rzou@devfair0317:~/binaries_test  $ echo $LD_LIBRARY_PATH\n"
            "/public/apps/cudnn/v8.0.3.33-cuda.11.0/cuda/lib64:/usr/local/cuda/lib64::/public/slurm/20.11.8/lib\n```\n")
    snapshot_plan, _ = plan(from_text(text))
    assert snapshot_plan.env == {"LD_LIBRARY_PATH": "/public/apps/cudnn/v8.0.3.33-cuda.11.0/cuda/lib64:"
                                                    "/usr/local/cuda/lib64::/public/slurm/20.11.8/lib"}


def test_triage_does_not_take_an_echo_of_two_variables_or_a_shell_word():
    from tfdoctor.triage import plan
    from tfdoctor.triage.paste import from_text

    for text in ("```\n$ echo $LD_LIBRARY_PATH $PATH\n/usr/lib:/usr/bin\n```\n",
                 "```\n$ echo $LD_LIBRARY_PATH\n$(rm -rf ~)\n```\n"):
        snapshot_plan, _ = plan(from_text(text))
        assert "LD_LIBRARY_PATH" not in snapshot_plan.env


# What blind batch 52 showed missing.

# pytorch/torchtitan#853: NCCL 2.21.5's 'Last error:' names the shared-memory segment and no errno
NCCL_SHM = ("  Last error:\n"
            "  Error while creating shared memory segment /dev/shm/nccl-1YsMbG (size 7340384)\n")
# ComputationalRadiationPhysics/picongpu#2704: the X server on the same Quadro
TIMEOUT = ("'ret = cudaEventQuery( event.m_spEventImpl->m_CudaEvent)' returned error  : 'cudaErrorLaunchTimeout': "
           "'the launch timed out and was terminated'!\n")
# lhelontra/tensorflow-on-arm#13 (the system's libstdc++) and lakshayg/tensorflow-build-archived#1 (the bare form)
GLIBCXX_SYSTEM = ("ImportError: /usr/lib/arm-linux-gnueabihf/libstdc++.so.6: version `GLIBCXX_3.4.22' not found "
                  "(required by /usr/local/lib/python2.7/dist-packages/tensorflow/python/_pywrap_tensorflow_internal.so)\n")
GLIBCXX_BARE = "mainly libstdc++.so.6: version `GLIBCXX_3.4.22' not found \n"
# tensorflow/tensorflow#49 and #59665
PROTOBUF_OLD = " __init__() got an unexpected keyword argument 'syntax'\n"
PROTOBUF_NEW = ("Cannot import tensorflow after latest tensorboard release: TypeError: Descriptors cannot not be created "
                "directly\n")
# NVIDIA developer forum 108848: a GRID T4-2Q vGPU whose memory the desktop's processes hold
SMI_DESKTOP = """+-----------------------------------------------------------------------------+
| NVIDIA-SMI 440.43       Driver Version: 440.43       CUDA Version: 10.2     |
|-------------------------------+----------------------+----------------------+
| GPU  Name        Persistence-M| Bus-Id        Disp.A | Volatile Uncorr. ECC |
| Fan  Temp  Perf  Pwr:Usage/Cap|         Memory-Usage | GPU-Util  Compute M. |
|===============================+======================+======================|
|   0  GRID T4-2Q          On   | 00000000:02:02.0  On |                  N/A |
| N/A   N/A    P8    N/A /  N/A |   1597MiB /  2032MiB |      5%      Default |
+-------------------------------+----------------------+----------------------+

+-----------------------------------------------------------------------------+
| Processes:                                                       GPU Memory |
|  GPU       PID   Type   Process name                             Usage      |
|=============================================================================|
|    0     57230      G   /usr/lib/xorg/Xorg                           423MiB |
|    0     57309      G   /usr/bin/gnome-shell                         145MiB |
|    0     63736      G   ...request-channel-token=42824295405078622   383MiB |
|    0     73870    C+G   ...se/.nvm/versions/node/v12.10.0/bin/node   236MiB |
|    0     73872    C+G   ...se/.nvm/versions/node/v12.10.0/bin/node   133MiB |
+-----------------------------------------------------------------------------+
"""


def test_ncclss_shared_memory_segment_it_could_not_create_is_a_small_dev_shm(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": NCCL_SHM}, "env.container")
    assert "/dev/shm is too small" in f.summary and "--shm-size=1g" in f.fix.summary


def test_a_shared_memory_segment_refused_for_another_errno_is_not_a_small_dev_shm(tmp_path):
    log = ("misc/shmutils.cc:132 NCCL WARN Error while creating shared memory segment /dev/shm/nccl-aBcDeF (size "
           "9637888), error: Permission denied (13)\n")
    report = _check(_snapshot(tmp_path, {"tensorflow.log": log}))
    assert report.get("env.container").status.value != "fail"


def test_a_launch_that_timed_out_is_the_display_watchdog(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": TIMEOUT}, "gpu.xid")
    assert "display watchdog" in f.summary
    assert f.fix.commands[0] == "nvidia-smi --query-gpu=index,name,display_active --format=csv"
    assert any("Interactive" in a.when for a in f.fix.alternatives)


def test_the_systems_old_libstdcxx_quoted_in_a_paste_is_tf_import_with_the_distributions_fix(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": GLIBCXX_SYSTEM}, "tf.import")
    assert "system's C++ runtime" in f.summary and "GLIBCXX_3.4.22" in f.summary
    assert f.fix.commands == ("sudo apt install --only-upgrade libstdc++6",)
    assert [e.message for e in f.evidence] == ["tf-import-glibcxx-not-found"]


def test_the_bare_loader_line_is_read_only_where_it_ends(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": GLIBCXX_BARE}, "tf.import")
    assert any("libstdc++6" in c for a in f.fix.alternatives for c in a.commands)
    other = "libstdc++.so.6: version `GLIBCXX_3.4.29' not found (required by /usr/bin/some-other-tool)\n"
    (tmp_path / "b").mkdir()
    report = _check(_snapshot(tmp_path / "b", {"commands/pasted-text": other}))
    assert report.get("tf.import").status.value != "fail"


def test_protobuf_too_old_and_too_new_are_told_apart(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    old = _root_fail(tmp_path / "a", {"commands/pasted-text": PROTOBUF_OLD}, "tf.import")
    assert "older" in old.summary and old.fix.commands == ("python3 -m pip install --upgrade 'protobuf>=3'",)
    new = _root_fail(tmp_path / "b", {"commands/pasted-text": PROTOBUF_NEW}, "tf.import")
    assert "too new" in new.summary and new.fix.commands == ("python3 -m pip install 'protobuf==3.20.*'",)


def test_the_desktops_graphics_processes_holding_memory_without_a_failure_is_information(tmp_path):
    f = _check(_snapshot(tmp_path, {"commands/nvidia-smi": SMI_DESKTOP})).get("gpu.memory-in-use")
    assert f.status.value == "info" and "desktop's graphics processes" in f.summary


def test_a_compute_process_holding_the_memory_still_warns(tmp_path):
    smi = SMI_DESKTOP.replace("  C+G   ...se/.nvm/versions/node/v12.10.0/bin/node   236MiB",
                              "    C   python                                       236MiB")
    f = _check(_snapshot(tmp_path, {"commands/nvidia-smi": smi})).get("gpu.memory-in-use")
    assert f.status.value == "warn"


# What blind batch 53 showed missing.

# gpustack/llama-box#44: two Tesla M60 (5.2) under a build whose CUDA architectures start at 6.0
GGML_ARCHS = ("0.00.026.062 I ggml_cuda_init: found 2 CUDA devices:\n"
              "0.00.026.212 I   Device 0: Tesla M60, compute capability 5.2, VMM: yes\n"
              "0.00.026.356 I   Device 1: Tesla M60, compute capability 5.2, VMM: yes\n"
              "system_info: CUDA : ARCHS = 600,610,700,750,800,860,890,900 | F16 = 1 | USE_GRAPHS = 1 | "
              "PEER_MAX_BATCH_SIZE = 128 | CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | "
              "LLAMAFILE = 1 |\n")
# microsoft/MInference#51: a Tesla V100S under FlashAttention 2
FLASH = "RuntimeError: FlashAttention only supports Ampere GPUs or newer.\n"
# invoke-ai/InvokeAI#5065: an update that left torch 2.1.0+cpu where xFormers was built for +cu121
XFORMERS = ("WARNING[XFORMERS]: xFormers can't load C++/CUDA extensions. xFormers was built for:\n"
            "    PyTorch 2.1.0+cu121 with CUDA 1201 (you have 2.1.0+cpu)\n"
            "    Python  3.10.11 (you have 3.10.6)\n")


def test_a_gpu_older_than_the_lowest_ggml_architecture_has_no_kernels(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": GGML_ARCHS}, "compat.compute-capability")
    assert "from compute capability 6.0 up" in f.summary and "Tesla M60 is 5.2" in f.summary
    assert "CMAKE_CUDA_ARCHITECTURES=52" in f.fix.summary


def test_a_gpu_inside_the_ggml_architectures_is_not_refused(tmp_path):
    log = GGML_ARCHS.replace("Tesla M60, compute capability 5.2", "Tesla P40, compute capability 6.1")
    report = _check(_snapshot(tmp_path, {"tensorflow.log": log}))
    assert report.get("compat.compute-capability").status.value != "fail"


def test_flash_attention_refusing_a_pre_ampere_gpu(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": FLASH}, "compat.compute-capability")
    assert "Ampere (compute capability 8.0)" in f.summary and "sdpa" in f.fix.summary


def test_xformers_naming_a_cpu_pytorch_gives_the_cuda_build_it_was_made_for(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": XFORMERS}, "tf.cuda-build")
    assert "2.1.0+cpu" in f.summary
    assert f.fix.commands[1] == ("python3 -m pip install 'torch==2.1.0' --index-url "
                                 "https://download.pytorch.org/whl/cu121")


def test_pips_versions_list_wrapped_over_lines_is_read_whole(tmp_path):
    # GeekAlexis/FastMOT#8: the terminal wrapped pip's list mid-list
    err = ("  Could not find a version that satisfies the requirement tensorflow==1.15.2 (from -r requirement.txt "
           "(line 5)) (from versions: 0.12.1, 1.0.0, 1.0.1, 1.1.0rc0, 1.1.0rc1, 1.1.0rc2, 1.1.0, 1.2.0rc0,\n"
           " 1.2.0rc1, 1.13.1, 1.13.2, 1.14.0rc0, 1.14.0rc1, 1.14.0, 2.0.0a0, 2.0.0b0, 2.0.0b1)\n"
           "No matching distribution found for tensorflow==1.15.2 (from -r requirement.txt (line 5))\n")
    key = "commands/pip3_install_-r_requirement.txt"
    f = _root_fail(tmp_path, {key: "Collecting tensorflow==1.15.2\n", key + ".err": err, key + ".rc": "1\n"},
                   "tf.installed")
    assert "end at 2.0.0b1" in f.summary
