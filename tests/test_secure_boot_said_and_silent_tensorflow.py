"""Secure Boot from whatever shows it (the kernel's boot lines, another module refused for its key, the reporter's
own words), a module that did not load as the driver's own fallback service or the reporter says it, a TensorFlow
that ran without a GPU and printed nothing of its CUDA platform (a CPU-only build), and nvidia-smi's 'No devices
were found' read as NVML working with no GPU. Every quoted line is from the public thread named beside it; the
snapshots around them are hand-built in tmp_path (a state synthesised for the test)."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _root_fail, _snapshot
from tfdoctor.evidence import Source, observe

SMI_9 = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest "
         "NVIDIA driver is installed and running.\n")
LSMOD_NO_NVIDIA = "Module                  Size  Used by\nsnd_hda_intel          53248  4\n"


def _ids(kind: str, text: str) -> list[str]:
    return [o.message for o in observe(Source(kind, "test", text))]


# -- another module refused for its signature: the kernel refuses locally built modules -------------------------
# tuxedocomputers/tuxedo-keyboard#186 (every DKMS module refused; Secure Boot off was the answer)
TUXEDO = "Aug 04 19:34:09 linux-tuxedo dkms.systemd[1627]: modprobe: ERROR: could not insert 'clevo_acpi': Key was " \
         "rejected by service\n"


def test_another_module_refused_for_its_key_is_read_and_the_nvidia_one_is_not_claimed_by_it():
    assert _ids("modprobe", TUXEDO) == ["modprobe-other-module-key-rejected"]
    # insmod's form (juliagoda/CH341SER#47)
    assert _ids("modprobe", "insmod: ERROR: could not insert module ch34x.ko: Key was rejected by service\n") == [
        "modprobe-other-module-key-rejected"]
    # the NVIDIA module's refusal stays modprobe-key-rejected's, in both forms
    assert _ids("modprobe", "modprobe: ERROR: could not insert 'nvidia': Key was rejected by service\n") == [
        "modprobe-key-rejected"]
    assert "modprobe-other-module-key-rejected" not in _ids(
        "modprobe", "modprobe: ERROR: could not insert 'nvidia_uvm': Key was rejected by service\n")


def test_another_module_refused_fails_secure_boot_when_nvidia_is_not_loaded(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": TUXEDO, "commands/lsmod": LSMOD_NO_NVIDIA,
                                         "commands/nvidia-smi": SMI_9, "commands/nvidia-smi.rc": "9\n"}))
    f = report.get("driver.secure-boot")
    assert f.status.value == "fail" and report.root_cause.id == "driver.secure-boot"
    assert "refuses locally built modules" in f.summary
    assert any("clevo_acpi" in e.line for e in f.evidence)
    assert any(c.startswith("sudo mokutil --import ") for c in f.fix.commands)


def test_another_module_refused_only_warns_when_nothing_shows_the_nvidia_module(tmp_path):
    f = _check(_snapshot(tmp_path, {"commands/pasted-text": TUXEDO})).get("driver.secure-boot")
    assert f.status.value == "warn" and "was not recorded" in f.summary


def test_another_module_refused_is_no_problem_where_the_nvidia_module_is_loaded(tmp_path):
    lsmod = "Module                  Size  Used by\nnvidia              56455168  2\n"
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": TUXEDO, "commands/lsmod": lsmod}))
    assert report.get("driver.secure-boot").status.value == "ok"


# -- Secure Boot as the kernel says it at boot -----------------------------------------------------------------
def test_the_kernels_boot_lines_say_secure_boot_is_on():
    # Start9Labs/start-technologies#3702; gridhead/nvidia-auto-installer-for-fedora-linux#288
    assert _ids("kernel", "Kernel is locked down from EFI Secure Boot\n") == ["kernel-locked-down-secure-boot"]
    assert _ids("kernel", "[    0.000000] secureboot: Secure boot enabled\n") == ["kernel-locked-down-secure-boot"]
    assert _ids("kernel", "[    0.000000] secureboot: Secure boot disabled\n") == []


def test_secure_boot_on_and_nvidia_smi_quoted_short_is_the_refused_module(tmp_path):
    # Start9Labs/start-technologies#3702: mokutil says enabled, nvidia-smi's message quoted in prose
    paste = ("Every GPU service then fails in a way that points somewhere else entirely, and `nvidia-smi` reports "
             "\"couldn't communicate with the NVIDIA driver\".\n")
    report = _check(_snapshot(tmp_path, {"commands/mokutil_--sb-state": "SecureBoot enabled\n",
                                         "commands/dmesg": "Kernel is locked down from EFI Secure Boot\n",
                                         "commands/pasted-text": paste}))
    f = report.get("driver.secure-boot")
    assert f.status.value == "fail" and report.root_cause.id == "driver.secure-boot"
    assert "(as stated)" not in f.summary


# -- Secure Boot and the module's state as the reporter states them ----------------------------------------------
def test_secure_boot_stated_on_and_off():
    on = ["Secure Boot: Enabled",  # deepin-community/kernel#2144
          "- NVIDIA DGX Spark (GB10), AMI BIOS `5.36_0ACUM018`, **Secure Boot enabled**",  # Start9Labs#3702
          "Now the system boots but my nvidia driver cant load because of secure boot."]
    for line in on:
        assert "secure-boot-stated" in _ids("tensorflow", line + "\n"), line
    for line in ("Secure Boot: Disabled", "there is high potential for Secure Boot to be enabled",
                 "Secure Boot enabled? no", "secure boot on my laptop is off"):
        assert "secure-boot-stated" not in _ids("tensorflow", line + "\n"), line
    assert "secure-boot-stated-off" in _ids("tensorflow", "Secure Boot: Disabled\n")


def test_a_stated_secure_boot_and_a_stated_refusal_fail_secure_boot(tmp_path):
    # NVIDIA/yum-packaging-precompiled-kmod#67
    paste = ("The driver module still fails to load with secure boot on, and checking the signing key of ko files "
             "shows they are singed by Nvidia instead of Red Hat.\n")
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": paste}))
    f = report.get("driver.secure-boot")
    assert f.status.value == "fail" and "(as stated)" in f.summary
    assert report.root_cause.id == "driver.secure-boot"


def test_secure_boot_stated_off_clears_it(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": "- Secure Boot: Disabled\n",
                                         "commands/nvidia-smi": SMI_9, "commands/nvidia-smi.rc": "9\n"}))
    assert report.get("driver.secure-boot").status.value == "ok"
    assert report.root_cause is None or report.root_cause.id != "driver.secure-boot"


def test_the_fallback_services_message_with_secure_boot_on(tmp_path):
    # fady-saied/Nvidia-Fedora-Guide#6 shape: RPM Fusion's nvidia-fallback.service said it, the user says SB is on
    assert _ids("kernel", "NVIDIA kernel module missing. Falling back to nouveau\n") == [
        "nvidia-fallback-module-missing"]
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": "NVIDIA kernel module missing\n\nmy system:\n"
                                                                 "- secure boot enabled\n"}))
    assert report.root_cause is not None and report.root_cause.id == "driver.secure-boot"


def test_nvidia_smi_alone_does_not_blame_secure_boot(tmp_path):
    # the same message with nothing about Secure Boot: it stays unknown
    report = _check(_snapshot(tmp_path, {"commands/nvidia-smi": SMI_9, "commands/nvidia-smi.rc": "9\n"}))
    assert report.get("driver.secure-boot").status.value == "skip"


# -- a TensorFlow that printed nothing of its CUDA platform -----------------------------------------------------
# tensorflow/tensorflow#311 (a source build without --config=cuda)
NO_KNOWN = ("I tensorflow/core/common_runtime/local_device.cc:25] Local device intra op parallelism threads: 8\n"
            "I tensorflow/core/common_runtime/direct_session.cc:45] Direct session inter op parallelism threads: 8\n"
            "Device mapping: no known devices.\n")
# tensorflow/tensorflow#255 (a CUDA build on a machine without a working driver)
CUINIT = ("E tensorflow/stream_executor/cuda/cuda_driver.cc:466] failed call to cuInit: CUDA_ERROR_NO_DEVICE\n")


def test_no_gpu_and_no_cuda_line_is_the_mark_of_a_cpu_only_build(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": NO_KNOWN}))
    f = report.get("tf.cuda-build")
    assert f.status.value == "warn" and "CPU-only" in f.summary
    assert any("no known devices" in e.line for e in f.evidence)
    assert any("is_built_with_cuda" in c for c in f.fix.commands)


def test_a_tensorflow_1x_release_is_told_the_gpu_package(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": NO_KNOWN,
                                         "commands/pasted-text": "- TensorFlow version: 1.4.0\n"}))
    f = report.get("tf.cuda-build")
    assert any("tensorflow-gpu==1.4.*" in c for c in f.fix.commands)


def test_a_cuda_line_means_it_is_a_cuda_build(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": CUINIT + NO_KNOWN}))
    assert report.get("tf.cuda-build").status.value != "warn"


def test_an_empty_gpu_list_in_a_repl_is_read_across_its_two_lines(tmp_path):
    # KumaTea/tensorflow-aarch64#6: the call, then its answer `[]` on the next line
    repl = ">>> tf.config.list_physical_devices('GPU')\n[]\n>>> \n"
    assert _ids("tensorflow", repl) == ["tf-list-gpus-empty"]
    assert _ids("tensorflow", ">>> tf.config.list_physical_devices('GPU')\n[PhysicalDevice(name='/physical_device:"
                              "GPU:0', device_type='GPU')]\n") == ["tf-physical-device-gpu"]
    f = _check(_snapshot(tmp_path, {"commands/pasted-text": repl})).get("tf.cuda-build")
    assert f.status.value == "warn"


# -- nvidia-smi's 'No devices were found': NVML works, the driver took no GPU ------------------------------------
def test_no_devices_found_is_nvml_devices_not_nvml_init(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/nvidia-smi": "No devices were found\n",
                                         "commands/nvidia-smi.rc": "6\n"}))
    assert report.get("nvml.init").status.value == "info"
    f = report.get("nvml.devices")
    assert f.status.value == "fail" and "No devices were found" in f.summary
    assert report.root_cause.id == "nvml.devices"


# -- EXCLUSIVE_THREAD: StreamExecutor does not work in it (its owner, tensorflow/tensorflow#526) ----------------------
# tensorflow/tensorflow#1088: a Tesla K40m in 'E. Thread' mode, TensorFlow 0.7
K40M_SMI = ("+------------------------------------------------------+                       \n"
            "| NVIDIA-SMI 352.39     Driver Version: 352.39         |                       \n"
            "|-------------------------------+----------------------+----------------------+\n"
            "| GPU  Name        Persistence-M| Bus-Id        Disp.A | Volatile Uncorr. ECC |\n"
            "| Fan  Temp  Perf  Pwr:Usage/Cap|         Memory-Usage | GPU-Util  Compute M. |\n"
            "|===============================+======================+======================|\n"
            "|   0  Tesla K40m          Off  | 0000:08:00.0     Off |                    0 |\n"
            "| N/A   20C    P8    19W / 235W |     23MiB / 11519MiB |      0%    E. Thread |\n"
            "+-------------------------------+----------------------+----------------------+\n")
CTX_216 = ("I am still seeing the same cuda error for tensorflow 0.7. The error is ```Check failed: CUDA_SUCCESS == "
           "dynload::cuCtxSetCurrent(context) (0 vs. 216)```\n")


def test_the_two_word_compute_modes_of_nvidia_smis_table_are_read():
    from tfdoctor.probes.nvidia_smi import parse_nvidia_smi_table as parse_table

    assert parse_table(K40M_SMI).gpus[0].compute_mode == "E. Thread"
    assert parse_table(K40M_SMI.replace("E. Thread", "E. Process")).gpus[0].compute_mode == "E. Process"


def test_exclusive_thread_mode_fails_compute_mode(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/nvidia-smi": K40M_SMI, "commands/nvidia-smi.rc": "0\n"}))
    f = report.get("gpu.compute-mode")
    assert f.status.value == "fail" and "EXCLUSIVE_THREAD" in f.summary
    assert "sudo nvidia-smi -i 0 -c DEFAULT" in f.fix.commands
    # EXCLUSIVE_PROCESS, free, is not a failure
    free = _check(_snapshot(tmp_path, {"commands/nvidia-smi": K40M_SMI.replace("E. Thread", "E. Process"),
                                       "commands/nvidia-smi.rc": "0\n"}, name="free"))
    assert free.get("gpu.compute-mode").status.value == "info"


def test_context_already_in_use_alone_names_the_exclusive_thread_mode(tmp_path):
    assert "cuda-context-already-in-use" in _ids("cuda", CTX_216)
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": CTX_216}))
    f = report.get("gpu.compute-mode")
    assert f.status.value == "fail" and "216" in f.summary
    assert any("0 vs. 216" in e.line for e in f.evidence)


# -- cuDNN's own loader: the cuDNN major a program was built for is missing -------------------------------------------
def test_cudnn_8_sublibrary_missing_is_cudnn_8_not_installed(tmp_path):
    # SYSTRAN/faster-whisper#885 (cuDNN 9.2 installed, faster-whisper needs cuDNN 8)
    line = ("Could not load library libcudnn_ops_infer.so.8. Error: libcudnn_ops_infer.so.8: cannot open shared "
            "object file: No such file or directory\nAborted (core dumped)\n")
    assert _ids("cuda", line) == ["cudnn-sublibrary-missing"]
    # the sub-library looking for libcuda.so (WSL2) stays the other message's
    assert "cudnn-sublibrary-missing" not in _ids(
        "cuda", "Could not load library libcudnn_cnn_infer.so.8. Error: libcuda.so: cannot open shared object file: "
                "No such file or directory\n")
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": line,
                                         "files/etc/os-release": 'ID=ubuntu\nVERSION_ID="22.04"\n'}))
    f = report.get("cuda.libraries")
    assert f.status.value == "fail" and report.root_cause.id == "cuda.libraries"
    assert "cuDNN 8" in f.summary and f.fix.commands == ("sudo apt install libcudnn8",)
    assert any("nvidia-cudnn-cu12==8.*" in c for a in f.fix.alternatives for c in a.commands)


def test_cudnn_9_missing_on_arch_is_the_distributions_cudnn(tmp_path):
    # QuentinFuxa/WhisperLiveKit#271 (CachyOS): the answer was `sudo pacman -S cuda cudnn`
    line = "Unable to load any of {libcudnn_ops.so.9.1.0, libcudnn_ops.so.9.1, libcudnn_ops.so.9, libcudnn_ops.so}\n"
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": line, "files/etc/os-release": "ID=arch\n"}))
    f = report.get("cuda.libraries")
    assert "cuDNN 9" in f.summary and f.fix.commands == ("sudo pacman -S cudnn",)


# -- batch 11's general capabilities (the runtime's unknown device, GKE's installer, XLA's PTX compiler, FFmpeg's
# cuInit) ---------------------------------------------------------------------------------------------------------
def test_a_gpu_the_container_runtime_does_not_know_fails_visible_devices(tmp_path):
    # DeepLabCut/Docker4DeepLabCut2.0#39 (GPU=1 on a one-GPU machine); NVIDIA/enroot#207 (a Slurm allocation)
    line = ("docker: Error response from daemon: OCI runtime create failed: container_linux.go:367: starting container "
            "process caused: process_linux.go:495: container init caused: Running hook #1:: error running hook: exit "
            "status 1, stdout: , stderr: nvidia-container-cli: device error: 1: unknown device: unknown.\n")
    assert "container-cli-unknown-device" in _ids("container", line)
    f = _root_fail(tmp_path, {"commands/pasted-text": line}, "env.cuda-visible-devices")
    assert "device 1" in f.summary and "nvidia-smi -L" in f.fix.commands
    enroot = _check(_snapshot(tmp_path, {"commands/pasted-text": "nvidia-container-cli: device error: 4: unknown device\n",
                                         "env.json": '{"NVIDIA_VISIBLE_DEVICES": "0,1,4,5"}'}, name="enroot"))
    assert "NVIDIA_VISIBLE_DEVICES='0,1,4,5'" in enroot.get("env.cuda-visible-devices").summary


def test_gkes_installer_choosing_a_driver_too_old_for_the_gpu(tmp_path):
    # substratusai/runbooks#37: COS's default 470 on an L4 node
    log = ("W0625 05:36:32.745071    5389 install.go:488] \n\nDriver version 470.182.03 doesn't support L4 GPU "
           "devices.\n\nI0625 05:36:32.745276    5389 installer.go:424] Getting the R525 GPU driver version\n")
    f = _root_fail(tmp_path, {"commands/kubectl_logs_nvidia-driver-installer": log}, "driver.recommended")
    assert "470.182.03" in f.summary and "L4" in f.summary
    assert any("daemonset-preloaded-latest.yaml" in c for c in f.fix.commands)


def test_xla_saying_the_driver_is_older_than_its_ptx_compiler_warns_driver_cuda(tmp_path):
    # conda-forge/tensorflow-feedstock#417 (XLA's wording since 2024); TensorFlow 2.18's wheels use CUDA 12.5
    log = ("W external/local_xla/xla/service/gpu/nvptx_compiler.cc:930] The NVIDIA driver's CUDA version is 12.4 which "
           "is older than the PTX compiler version 12.5.82. Because the driver is older than the PTX compiler version, "
           "XLA is disabling parallel compilation, which may slow down compilation. You should update your NVIDIA "
           "driver or use the NVIDIA-provided CUDA forward compatibility packages.\n")
    f = _check(_snapshot(tmp_path, {"tensorflow.log": log})).get("compat.driver-cuda")
    assert f.status.value == "warn" and "12.4" in f.summary and "12.5" in f.summary
    assert "555" in f.fix.summary  # CUDA 12.5's toolkit driver, 555.42.x


def test_ffmpegs_cuinit_wording_gives_the_code_and_3_gets_the_hmm_fix(tmp_path):
    # NVIDIA/open-gpu-kernel-modules#797 (570 open modules, HMM); jellyfin/jellyfin#9504 (the NO_DEVICE form)
    assert "cuinit-code-printed" in _ids("cuda", "cu->cuInit(0) failed -> CUDA_ERROR_NO_DEVICE: no CUDA-capable "
                                                 "device is detected\n")
    line = "`cu->cuInit(0) failed -> CUDA_ERROR_NOT_INITIALIZED: initialization`\n"
    f = _check(_snapshot(tmp_path, {"commands/pasted-text": line})).get("cuda.init")
    assert f.status.value == "fail" and "(3)" in f.summary
    assert any("uvm_disable_hmm=1" in c for c in f.fix.commands)


def test_nvidia_smi_denied_in_a_container_is_selinux_on_fedora(tmp_path):
    # NVIDIA/nvidia-container-toolkit#33: Fedora 36, moby-engine, `docker run --gpus all ... nvidia-smi`
    key = "commands/docker_run_--rm_--gpus_all_--runtime_nvidia_nvidia%2Fcuda:11.0.3-base-ubuntu20.04_nvidia-smi"
    report = _check(_snapshot(tmp_path, {key: "Failed to initialize NVML: Insufficient Permissions\n",
                                         "files/etc/os-release": "ID=fedora\nVERSION_ID=36\n"}))
    f = report.get("nvml.init")
    assert f.status.value == "fail" and report.root_cause.id == "nvml.init"
    assert "SELinux" in f.summary and f.fix.commands == ("sudo setsebool -P container_use_devices on",)
    assert any("--security-opt label=disable" in c for a in f.fix.alternatives for c in a.commands)
    # on the host itself (a pasted nvidia-smi run by a user outside the device group): the permission fix
    host = _check(_snapshot(tmp_path, {"commands/pasted-text": "Failed to initialize NVML: Insufficient Permissions\n"},
                            name="host")).get("nvml.init")
    assert host.status.value == "fail" and "sudo usermod -aG video,render $USER" in host.fix.commands


def test_an_insufficient_driver_in_a_container_is_first_the_container_without_the_gpu(tmp_path):
    # SYSTRAN/faster-whisper#1229 (Unraid, driver 565.77, the container started without NVIDIA_VISIBLE_DEVICES)
    line = "> RuntimeError: CUDA failed with error CUDA driver version is insufficient for CUDA runtime version\n"
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": line, "files/.dockerenv": ""}))
    c, d = report.get("env.container"), report.get("compat.driver-cuda")
    assert c.status.value == "warn" and "started without GPU access" in c.summary
    assert d.status.value == "warn" and "may be older" in d.summary
    from tests.corpus import diagnosis_of

    assert diagnosis_of(report).id == "env.container"
    # CUDA's runtime prints this of a libcuda it cannot load at all: it does not say a driver is loaded
    from tfdoctor.evidence import catalogue

    claims = dict(next(e for e in catalogue() if e.id == "driver-insufficient").claims)
    assert "driver.loaded" not in claims and claims["driver.too_old_for_cuda"] is True


def test_pytorchs_out_of_memory_is_read():
    # facebookresearch/denoiser#135
    assert "out-of-memory" in _ids("tensorflow", "RuntimeError: CUDA out of memory. Tried to allocate 752.00 MiB (GPU "
                                                 "0; 14.76 GiB total capacity; 9.84 GiB already allocated)\n")


def test_the_container_runtime_finding_no_wsl_adapter_fails_env_wsl(tmp_path):
    # AbdBarho/stable-diffusion-webui-docker#117 (WSL 1: 'WSL2 has GPU support, WSL1 doesn't')
    line = ("nvidia-container-cli: initialization error: WSL environment detected but no adapters were found: "
            "unknown\n")
    f = _root_fail(tmp_path, {"commands/pasted-text": line}, "env.wsl")
    assert any("no adapters were found" in e.line for e in f.evidence)


def test_little_free_memory_when_tensorflow_started_and_an_oom_is_memory_held_by_others(tmp_path):
    # tensorflow/tensorflow#8170 (TensorFlow 1.0, GTX 1080: 190 MiB of 7.92 GiB free)
    log = ("I tensorflow/core/common_runtime/gpu/gpu_device.cc:885] Found device 0 with properties: \n"
           "name: GeForce GTX 1080\nmajor: 6 minor: 1 memoryClockRate (GHz) 1.7335\npciBusID 0000:01:00.0\n"
           "Total memory: 7.92GiB\nFree memory: 190.31MiB\n"
           "E tensorflow/stream_executor/cuda/cuda_driver.cc:1002] failed to allocate 190.31M (199557120 bytes) from "
           "device: CUDA_ERROR_OUT_OF_MEMORY\n")
    report = _check(_snapshot(tmp_path, {"tensorflow.log": log}))
    f = report.get("gpu.memory-in-use")
    assert f.status.value == "fail" and "190 of 8110 MiB" in f.summary
    # the same start without an out-of-memory error is no failure (a Jetson's 'free memory' is its shared RAM)
    calm = _check(_snapshot(tmp_path, {"tensorflow.log": log.rsplit("E tensorflow", 1)[0]}, name="calm"))
    assert calm.get("gpu.memory-in-use").status.value not in ("fail", "warn")


def test_a_crash_looping_device_plugin_that_registers_by_hand_is_the_default_runtime(tmp_path):
    # NVIDIA/k8s-device-plugin#13 (flx42: set "default-runtime": "nvidia")
    pods = ("NAME                                   READY     STATUS             RESTARTS   AGE\n"
            "nvidia-device-plugin-daemonset-csjxw   0/1       CrashLoopBackOff   12         39m\n")
    by_hand = ("2017/12/08 06:41:44 Loading NVML\n2017/12/08 06:41:45 Starting to serve on "
               "/var/lib/kubelet/device-plugins/nvidia.sock\n2017/12/08 06:41:45 Registered device plugin with Kubelet\n")
    key = "commands/docker_run_--runtime=nvidia_-it_nvidia%2Fk8s-device-plugin:1.8"
    report = _check(_snapshot(tmp_path, {"commands/kubectl_get_pods_-n_kube-system": pods, key: by_hand}))
    f = report.get("container.toolkit")
    assert f.status.value == "fail" and "default runtime" in f.summary
    assert "sudo nvidia-ctk runtime configure --runtime=docker --set-as-default" in f.fix.commands
    alone = _check(_snapshot(tmp_path, {"commands/kubectl_get_pods_-n_kube-system": pods}, name="alone"))
    assert alone.get("container.toolkit").status.value == "warn"


def test_pytorchs_memory_breakdown_tells_whether_other_processes_hold_the_gpu(tmp_path):
    # LISTatSNU/FastMRI_challenge#238: 7.92 GiB total, 24.56 MiB free, 86 MiB held by PyTorch: others held the rest
    held_by_others = ("Tried to allocate 216.00 MiB (GPU 0; 7.92 GiB total capacity; 69.17 MiB already allocated; "
                      "24.56 MiB free; 86.00 MiB reserved in total by PyTorch)\n")
    f = _check(_snapshot(tmp_path, {"commands/pasted-text": held_by_others})).get("gpu.memory-in-use")
    assert f.status.value == "fail" and "other processes held 8000 of 8110 MiB" in f.summary
    # PyTorch 2.1's form (Synthintel0/MyGirlGPT#11): this process holds most of it: a batch too large, not others
    own = ("torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 32.00 MiB. GPU 0 has a total capacty of "
           "4.00 GiB of which 41.56 MiB is free. Including non-PyTorch memory, this process has 3.44 GiB memory in "
           "use.\n")
    assert "torch-oom-breakdown" in _ids("tensorflow", own)
    g = _check(_snapshot(tmp_path, {"commands/pasted-text": own}, name="own")).get("gpu.memory-in-use")
    assert g.status.value != "fail"


def test_a_pasted_nvidia_smi_header_without_gpu_rows_is_no_missing_gpu(tmp_path):
    # mlverse/torch#336: the reporter pasted nvidia-smi's header and elided the rest
    head = ("+-----------------------------------------------------------------------------+\n"
            "| NVIDIA-SMI 450.66       Driver Version: 450.66       CUDA Version: 11.0     |\n")
    report = _check(_snapshot(tmp_path, {"commands/nvidia-smi": head, "commands/nvidia-smi.rc": "0\n"}))
    assert report.get("nvml.devices").status.value == "skip"


# -- batch 14's container messages -----------------------------------------------------------------------------------
def test_an_ngc_containers_banner_names_the_driver_it_needs(tmp_path):
    # NVIDIA/TensorRT-LLM#23: the banner wraps over two lines
    banner = ("ERROR: This container was built for NVIDIA Driver Release 535.86 or later, but\n"
              "       version 510.85.02 was detected and compatibility mode is UNAVAILABLE.\n")
    f = _root_fail(tmp_path, {"commands/pasted-text": banner, "files/.dockerenv": ""}, "compat.driver-cuda")
    assert "510.85.02" in f.summary and "535.86" in f.summary


def test_a_rootless_engine_denied_the_device_cgroup_needs_no_cgroups(tmp_path):
    # NVIDIA/nvidia-docker#1155
    err = ("docker: Error response from daemon: OCI runtime create failed: ... stderr: nvidia-container-cli: mount "
           "error: open failed: /sys/fs/cgroup/devices/user.slice/devices.allow: permission denied: unknown.\n")
    report = _check(_snapshot(tmp_path, {"commands/docker_run_--gpus_all_ubuntu_nvidia-smi.err": err,
                                         "commands/docker_run_--gpus_all_ubuntu_nvidia-smi.rc": "125\n",
                                         "commands/docker_run_--gpus_all_ubuntu_nvidia-smi": ""}))
    f = report.get("container.toolkit")
    assert f.status.value == "fail" and report.root_cause.id == "container.toolkit"
    assert f.fix.commands == ("sudo nvidia-ctk config --set nvidia-container-cli.no-cgroups --in-place",)


def test_an_unresolvable_cdi_device_is_a_missing_spec_or_an_engine_too_old_for_it(tmp_path):
    # NVIDIA/nvidia-container-toolkit#1940 (Podman 4.9.3, toolkit 1.19.1: nvidia-ctk lists the device)
    err = "Error: setting up CDI devices: unresolvable CDI devices nvidia.com/gpu=0\n"
    key = "commands/podman_run_--rm_--device_nvidia.com%2Fgpu=0_ubuntu_nvidia-smi"
    listed = "INFO[0000] Found 3 CDI devices\nnvidia.com/gpu=0\nnvidia.com/gpu=all\n"
    report = _check(_snapshot(tmp_path, {key + ".err": err, key: "", key + ".rc": "125\n",
                                         "commands/nvidia-ctk_cdi_list": listed}))
    f = report.get("container.toolkit")
    assert f.status.value == "fail" and "engine is older" in f.summary
    bare = _check(_snapshot(tmp_path, {key + ".err": err, key: "", key + ".rc": "125\n"}, name="bare"))
    g = bare.get("container.toolkit")
    assert g.status.value == "fail" and g.fix.commands == ("sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml",)


def test_nvidia_smi_dash_l_counts_the_gpus_a_cuda_visible_devices_index_is_checked_against(tmp_path):
    # pytorch/pytorch#80876: seven GPUs listed, CUDA_VISIBLE_DEVICES=1 set in the script: no GPU hidden
    listing = ("GPU 0: NVIDIA GeForce RTX 3090 \nGPU 1: NVIDIA GeForce RTX 3090 \nGPU 2: NVIDIA TITAN RTX\n"
               "GPU 3: Quadro GV100\nGPU 4: NVIDIA RTX A6000\nGPU 5: NVIDIA TITAN RTX\nGPU 6: NVIDIA RTX A6000\n")
    report = _check(_snapshot(tmp_path, {"commands/nvidia-smi_-L": listing,
                                         "env.json": '{"CUDA_VISIBLE_DEVICES": "1"}'}))
    f = report.get("env.cuda-visible-devices")
    assert f.status.value == "info" and "of 7" in f.summary
    # triage places a pasted `nvidia-smi -L` where the evidence layer reads it
    from tfdoctor.triage import triage_paste
    from tfdoctor.triage.paste import Paste

    paste = ("The GPUs installed on my server are as follows\n\n```bash\n> nvidia-smi -L\n" + listing + "```\n\n"
             "```python\nimport os\nos.environ[\"CUDA_VISIBLE_DEVICES\"] = \"1\"\n```\n")
    res = triage_paste(Paste("paste.txt", paste, len(paste), False, 0))
    assert res.report.get("env.cuda-visible-devices").status.value == "info"


def test_an_ldconfig_the_runtime_cannot_run_is_the_toolkits_configuration(tmp_path):
    # NVIDIA/nvidia-docker#587 (Debian 8): '@/sbin/ldconfig' -> '@/sbin/ldconfig.real'
    line = ("Failed to run nvidia/cuda:8.0 via nvidia-docker2. nvidia-container-cli: ldcache error: process "
            "/sbin/ldconfig failed with error code: 127\n")
    f = _check(_snapshot(tmp_path, {"commands/pasted-text": line})).get("container.toolkit")
    assert f.status.value == "fail" and "ldcache" in f.summary
    assert any('ldconfig = "@/sbin/ldconfig.real"' in c for c in f.fix.commands)
    # the other way round: the configured .real does not exist here
    g = _check(_snapshot(tmp_path, {"commands/pasted-text": line.replace("/sbin/ldconfig failed",
                                                                        "/sbin/ldconfig.real failed")},
                         name="real")).get("container.toolkit")
    assert any('ldconfig = "@/sbin/ldconfig"|' in c for c in g.fix.commands)


def test_an_image_requirement_naming_a_brand_is_a_driver_too_old_for_the_images_cuda(tmp_path):
    # NVIDIA/nvidia-docker#861 (nvidia/cuda with CUDA 10.0 on an older driver: 'Cuda 10 has some...' requirements)
    err = ("stderr: exec command: [/usr/bin/nvidia-container-cli --load-kmods configure --ldconfig=@/sbin/ldconfig.real "
           "--device=all --compute --utility --require=cuda>=10.0 brand=tesla,driver>=384,driver<385 --pid=3088 "
           "/var/lib/docker/overlay2/x/merged]\\\\nnvidia-container-cli: requirement error: unsatisfied condition: "
           "brand = tesla\\\\n\": unknown.\n")
    f = _check(_snapshot(tmp_path, {"commands/pasted-text": err})).get("compat.driver-cuda")
    assert f.status.value == "fail" and "CUDA 10.0" in f.summary and "410" in f.summary


def test_driver_files_baked_into_the_image_block_the_container(tmp_path):
    # lambdal/lambda-stack-dockerfiles#15; NVIDIA/nvidia-container-toolkit#371
    err = ("nvidia-container-cli: mount error: file creation failed: /var/lib/docker/overlay2/40c7/merged/usr/lib/"
           "x86_64-linux-gnu/libnvidia-ml.so.1: file exists: unknown.\n")
    f = _check(_snapshot(tmp_path, {"commands/pasted-text": err})).get("container.toolkit")
    assert f.status.value == "fail" and "driver files" in f.summary
    assert not any("IMAGE" in c for c in (*f.fix.commands, *f.fix.verify))


def test_dpkg_saying_the_nvidia_dkms_package_failed_with_status_10_is_a_failed_build(tmp_path):
    # NVIDIA/nvidia-container-toolkit#361 (Debian 12); status 1 is another script error (NVIDIA/nvidia-installer#17)
    out = ("dpkg: error processing package nvidia-kernel-dkms (--configure):\n"
           " installed nvidia-kernel-dkms package post-installation script subprocess returned error exit status 10\n")
    _root_fail(tmp_path, {"commands/pasted-text": out, "files/etc/os-release": "ID=debian\n"}, "driver.dkms")
    assert "dpkg-nvidia-dkms-postinst-failed" not in _ids("dkms", out.replace("status 10", "status 1"))


def test_another_modules_failed_dkms_build_is_not_the_nvidia_modules(tmp_path):
    # pop-os/pop#1338: Broadcom's bcmwl failed to build, not the NVIDIA module
    out = ("Building initial module for 5.8.0-7625-generic\n"
           "ERROR (dkms apport): kernel package linux-headers-5.8.0-7625-generic is not supported\n"
           "Error! Bad return status for module build on kernel: 5.8.0-7625-generic (x86_64)\n"
           "Consult /var/lib/dkms/bcmwl/6.30.223.271+bdcom/build/make.log for more information.\n")
    lsmod = "Module                  Size  Used by\nsnd_hda_intel          53248  4\n"
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": out, "commands/lsmod": lsmod}))
    assert report.get("driver.dkms").status.value != "fail"
    # the same lines naming the NVIDIA module's make.log are its failure
    nvidia = out.replace("/bcmwl/6.30.223.271+bdcom/", "/nvidia/470.82.00/")
    again = _check(_snapshot(tmp_path, {"commands/pasted-text": nvidia, "commands/lsmod": lsmod}, name="nv"))
    assert again.get("driver.dkms").status.value == "fail"
