"""Stop 23 (wave 25): log records run together on one line, NVRM lines that name their own GPU or function, a GPU the
loaded module could not initialise, and nvidia-smi's `CUDA Version: N/A` inside a container.

Every line below is a real line from the public thread named beside it; where a test puts lines together on one line
(a progress bar's carriage return, a forum's rendering of a pasted log as one paragraph) it says so. The snapshots
around them are hand-built in tmp_path (a state synthesised for the test, as docs/snapshot-format.md describes)."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _root_fail, _snapshot
from tfdoctor.evidence import Source, kernel_messages, observe, split_records

# thanh-guong/master-thesis#7: a notebook runner's progress bar, then TensorFlow's records, on one line as posted
PROGRESS = ("Executing:  18%|█▊        | 7/39 [00:06<00:19,  1.68cell/s]2024-12-24 17:27:03.412631: W "
            "tensorflow/stream_executor/platform/default/dso_loader.cc:64] Could not load dynamic library "
            "'cudart64_110.dll'; dlerror: cudart64_110.dll not found")

# tensorflow/tensorflow#40816 (TensorFlow 2.2 on two TITAN Xp): two records of its log
TF40816 = ("2020-06-26 12:33:16.916743: W tensorflow/stream_executor/platform/default/dso_loader.cc:55] Could not load "
           "dynamic library 'libcudart.so.10.1'; dlerror: libcudart.so.10.1: cannot open shared object file: No such "
           "file or directory",
           "2020-06-26 12:33:16.916777: W tensorflow/stream_executor/platform/default/dso_loader.cc:55] Could not load "
           "dynamic library 'libcublas.so.10'; dlerror: libcublas.so.10: cannot open shared object file: No such file "
           "or directory")

# ublue-os/bazzite#4494 (595.58.03 open modules, RTX 4060): the five NVRM lines as the reporter quoted them
BAZZITE = ("NVRM: GPU0 s_executeBooterUcode_TU102: Booter failed with non-zero error code: 0xb\n"
           "NVRM: GPU0 _kgspBootGspRm: unexpected WPR2 already up, cannot proceed with booting GSP\n"
           "NVRM: GPU0 _kgspBootGspRm: (the GPU is likely in a bad state and may need to be reset)\n"
           "NVRM: GPU0 RmInitAdapter: Cannot initialize GSP firmware RM\n"
           "NVRM: GPU 0000:05:00.0: RmInitAdapter failed! (0x62:0x40:2168)\n")

# NVIDIA/open-gpu-kernel-modules#696: one message the module printed over several NVRM lines (no prefix)
OPEN_NO_GSP = ("NVRM: The NVIDIA GPU 0000:02:00.0 (PCI ID: 10de:1b82)\n"
               "NVRM: installed in this system is not supported by open\n"
               "NVRM: nvidia.ko because it does not include the required GPU\n"
               "NVRM: System Processor (GSP).\n")

# OCR-D/ocrd_anybaseocr#50: nvidia-smi inside the ocrd/all:maximum container (an ubuntu:18.04 base image)
SMI_NA = ("Tue Mar  3 12:34:38 2020       \n"
          "+-----------------------------------------------------------------------------+\n"
          "| NVIDIA-SMI 440.33.01    Driver Version: 440.33.01    CUDA Version: N/A      |\n"
          "|-------------------------------+----------------------+----------------------+\n")
OCRD_LOG = "12:34:27.990 ERROR OcrdAnybaseocrDewarper - Your system has no CUDA installed. No GPU detected.\n"


def _libraries(text: str) -> list[str]:
    return [o.group("library") for o in observe(Source("tensorflow", "tensorflow.log", text))
            if o.message == "dso-load-failed"]


def test_a_record_after_a_progress_bar_is_read_as_its_own_line():
    assert split_records(PROGRESS)[0].endswith("1.68cell/s]")
    assert split_records(PROGRESS)[1].startswith("2024-12-24 17:27:03.412631: W tensorflow/")
    assert _libraries(PROGRESS) == ["cudart64_110.dll"]


def test_records_run_together_are_each_read():
    # the test runs the two records into one line, as a forum renders a log pasted without a code block
    assert _libraries("\n".join(TF40816)) == ["libcudart.so.10.1", "libcublas.so.10"]
    assert _libraries(" ".join(TF40816)) == ["libcudart.so.10.1", "libcublas.so.10"]


def test_a_line_that_is_one_record_is_not_cut():
    assert split_records(TF40816[0]) == [TF40816[0]]
    # a path or a bracket inside a message is no record start
    line = "I tried `sudo modprobe nvidia` and got [Errno 2] No such file or directory: 'nvidia.ko'"
    assert split_records(line) == [line]


def test_a_message_repeated_on_a_line_is_read_each_time():
    # tensorflow/tensorflow#8170 (TensorFlow 1.0, GTX 1080): the device's two memory lines, which the test runs
    # together as a rendered paragraph does; both are the same catalogue message
    text = "Total memory: 7.92GiB Free memory: 190.31MiB"
    got = [o for o in observe(Source("tensorflow", "tensorflow.log", text)) if o.message == "tf-device-memory"]
    assert [(o.group("total"), o.group("free2")) for o in got] == [("7.92", None), (None, "190.31")]


def test_nvrm_lines_that_name_their_gpu_or_function_are_messages_of_their_own():
    msgs = [m for _, m in kernel_messages(BAZZITE)]
    assert len(msgs) == 5 and msgs[-1] == "NVRM: GPU 0000:05:00.0: RmInitAdapter failed! (0x62:0x40:2168)"
    got = {o.message for o in observe(Source("kernel", "dmesg", BAZZITE))}
    assert {"nvrm-rm-init-failed", "nvrm-gsp-rm-init-failed"} <= got


def test_one_nvrm_message_over_several_lines_is_still_joined():
    msgs = [m for _, m in kernel_messages(OPEN_NO_GSP)]
    assert len(msgs) == 1 and "not supported by open nvidia.ko because" in msgs[0]


def test_a_gpu_whose_gsp_firmware_did_not_start_fails_the_module_check(tmp_path):
    f = _root_fail(tmp_path, {"commands/dmesg": BAZZITE}, "driver.nvidia-module")
    assert "GSP firmware did not start" in f.summary
    assert "sudo poweroff" in f.fix.commands and f.fix.verify
    assert any("RmInitAdapter" in e.line for e in f.evidence)


def test_rm_init_adapter_without_gsp_lines_fails_with_the_generic_reading(tmp_path):
    # Bumblebee-Project/Bumblebee#628: the 340-era driver's wording of the same event
    lines = ("NVRM: RmInitAdapter failed! (0x30:0xffffffff:747)\n"
             "NVRM: rm_init_adapter failed for device bearing minor number 0\n")
    f = _root_fail(tmp_path, {"commands/dmesg": lines}, "driver.nvidia-module")
    assert "could not initialise the GPU" in f.summary and "GSP" not in f.summary


def test_a_gpu_answering_since_outweighs_an_old_init_failure(tmp_path):
    # the same kernel lines beside nvidia-smi listing the GPU (synthesised state: the GPU came up at a later open);
    # the listing line is nvidia-smi -L's form (open-gpu-kernel-modules#421)
    snap = _snapshot(tmp_path, {"commands/dmesg": BAZZITE,
                                "commands/nvidia-smi_-L": "GPU 0: NVIDIA RTX A3000 Laptop GPU (UUID: "
                                                          "GPU-00000000-0000-0000-0000-000000000000)\n"})
    f = _check(snap).get("driver.nvidia-module")
    assert f.status.value != "fail" or "initialise" not in f.summary


def test_cuda_version_na_in_a_container_is_the_missing_compute_capability(tmp_path):
    f = _root_fail(tmp_path, {"files/.dockerenv": "", "commands/nvidia-smi": SMI_NA, "commands/pasted-text": OCRD_LOG},
                   "container.capabilities")
    assert "compute" in f.summary and any("CUDA Version: N/A" in e.line for e in f.evidence)


def test_cuda_version_na_on_a_host_is_not_read_as_a_container_setting(tmp_path):
    snap = _snapshot(tmp_path, {"commands/nvidia-smi": SMI_NA})
    assert _check(snap).get("container.capabilities").status.value != "fail"


# OCR-D/ocrd_all#220: `pip show` of both distributions in one venv of OCR-D's CUDA image, and TensorFlow's log there
PIP_SHOW_CPU = "Name: tensorflow\nVersion: 1.15.4\n"
PIP_SHOW_GPU = "Name: tensorflow-gpu\nVersion: 1.15.4\n"
OCRD_TF_LOG = ("2020-11-23 08:55:21.355369: I tensorflow/compiler/xla/service/service.cc:176]   StreamExecutor device "
               "(0): Host, Default Version\nFalse\n")


def test_tensorflow_and_tensorflow_gpu_before_2_1_in_one_environment_is_the_cpu_build(tmp_path):
    f = _root_fail(tmp_path, {"commands/pip_show_tensorflow": PIP_SHOW_CPU,
                              "commands/pip_show_tensorflow-gpu": PIP_SHOW_GPU, "tensorflow.log": OCRD_TF_LOG},
                   "tf.cuda-build")
    assert "TensorFlow 1.15" in f.summary
    assert f.fix.commands[-1].endswith("pip install 'tensorflow-gpu==1.15.*'")
    assert any("pip uninstall -y tensorflow tensorflow-gpu" in c for c in f.fix.commands)


def test_the_two_distributions_of_a_2x_release_are_not_read_as_a_cpu_build(tmp_path):
    # tensorflow/tensorflow#30254's `tensorflow-gpu      1.8.0` beside tensorflow/tensorflow#44701's
    # `tensorflow             2.3.1` (the pair is synthesised): a 2.x release in the environment is a CUDA build
    snap = _snapshot(tmp_path, {"commands/pip_list": "tensorflow             2.3.1\ntensorflow-gpu      1.8.0\n"})
    f = _check(snap).get("tf.cuda-build")
    assert "share one package folder" not in f.summary


def test_only_the_gpu_distribution_is_no_conflict(tmp_path):
    snap = _snapshot(tmp_path, {"commands/pip_show_tensorflow-gpu": PIP_SHOW_GPU})
    f = _check(snap).get("tf.cuda-build")
    assert "share one package folder" not in f.summary


# pop-os/pop#2369: two sentences of the report, each quoting a program's message; the test runs them into one line,
# as a forum renders a paragraph
POPOS = ("After the reboot, my second screen wasn't working so I run `nvidia-smi` and I got the error `NVIDIA-SMI has "
         "failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is "
         "installed and running.`",
         "I tried `sudo modprobe nvidia` which resulted in this error `modprobe: FATAL: Module nvidia not found in "
         "directory /lib/modules/5.17.5-76051705-generic` which means there are no nvidia modules for kernel 5.17.5")


def test_a_sentence_quoting_two_programs_gives_each_its_output(tmp_path):
    from tfdoctor.triage.segmenter import segment

    for text in ("\n".join(POPOS), " ".join(POPOS)):
        kinds = {s.kind for s in segment(text).segments}
        assert {"nvidia-smi", "modprobe"} <= kinds, (text[:40], kinds)


# -- batch 25's capabilities -------------------------------------------------------------------------------------

def test_the_loader_naming_the_object_that_needs_a_cuda_library_is_read(tmp_path):
    # bytedeco/javacpp-presets#392: TensorFlow's Java bindings (JNI library linked against CUDA 8.0) on a machine
    # without CUDA
    line = ("java.lang.UnsatisfiedLinkError: ..... libjnitensorflow.so: libcudart.so.8.0: cannot open shared object "
            "file\n")
    f = _root_fail(tmp_path, {"commands/pasted-text": line}, "tf.cuda-libs")
    assert "libcudart.so.8.0" in " ".join(f.details) + f.summary


# rwth-i6/returnn#1500: dmesg -H on a Slurm node after a fatal PCIe error on the GPU's root port
AER = ("[  +0.000844] nvidia 0000:03:00.0: AER: can't recover (no error_detected callback)\n"
       "[  +0.000001] snd_hda_intel 0000:03:00.1: AER: can't recover (no error_detected callback)\n"
       "[  +0.000008] pcieport 0000:00:03.0: AER: device recovery failed\n"
       "[  +0.000004] pcieport 0000:00:03.0: PCIe Bus Error: severity=Uncorrected (Fatal), type=Transaction Layer, "
       "(Requester ID)\n")


def test_dmesg_h_relative_stamps_are_a_kernel_prefix():
    msgs = [m for _, m in kernel_messages(AER)]
    assert msgs[0] == "nvidia 0000:03:00.0: AER: can't recover (no error_detected callback)"
    assert msgs[2] == "pcieport 0000:00:03.0: AER: device recovery failed"


def test_a_gpu_the_kernel_could_not_recover_from_a_fatal_pcie_error_is_lost(tmp_path):
    f = _root_fail(tmp_path, {"commands/dmesg": AER}, "nvml.devices")
    assert "fatal PCIe error" in f.summary and any("0000:03:00.0" in e.line for e in f.evidence)
    # the sound function of the same card is not the GPU
    assert not any("snd_hda_intel" in e.line for e in f.evidence)


def test_nccl_27s_wording_of_a_full_dev_shm_is_read(tmp_path):
    # NVIDIA/nccl#342 (NCCL 2.7.3 in nvidia/cuda:10.1-devel-ubuntu18.04, Docker's default 64 MB /dev/shm)
    lines = ("include/shm.h:28 NCCL WARN Call to posix_fallocate failed: No space left on device\n"
             "include/shm.h:48 NCCL WARN Error while creating shared memory segment "
             "nccl-shm-recv-250a7cc850ba9298-0-1-3 (size 9637888)\n")
    f = _root_fail(tmp_path, {"commands/pasted-text": lines}, "env.container")
    assert any("/dev/shm" in c for c in (*f.fix.commands, f.fix.summary))


# OE4T/meta-tegra#1456: nvidia-container-cli's debug log on a Jetson AGX Xavier (a Yocto image without
# tegra-libraries-cuda)
JETSON_CLI = ("I0116 15:56:51.761083 1362 nvc.c:281] initializing library context (version=0.11.0+jetpack, "
              "build=1b60893021cd00c87f201d11eb207215afa3ab11)\n"
              "I0116 15:56:51.762404 1363 driver.c:134] starting driver service\n"
              "E0116 15:56:51.763612 1363 driver.c:196] could not start driver service: load library failed: "
              "libcuda.so.1: cannot open shared object file: no such file or directory\n")


def test_a_jetson_without_l4ts_libcuda_is_told_to_install_it_not_a_kernel_module(tmp_path):
    snap = _snapshot(tmp_path, {"commands/cat_log": JETSON_CLI})
    report = _check(snap)
    assert report.get("driver.nvidia-module").status.value == "skip"
    f = report.get("cuda.init")
    assert f.status.value == "fail" and report.root_cause.id == "cuda.init"
    assert "sudo apt install nvidia-l4t-cuda" in f.fix.commands
    assert any("tegra-libraries-cuda" in a.when for a in f.fix.alternatives)


def test_the_same_missing_libcuda_elsewhere_keeps_the_driver_reading(tmp_path):
    # the same log without the Jetson build's version (the test drops `+jetpack`: a synthesised state)
    snap = _snapshot(tmp_path, {"commands/cat_log": JETSON_CLI.replace("0.11.0+jetpack", "0.11.0")})
    f = _check(snap).get("cuda.init")
    assert f.status.value == "fail" and not any("l4t" in c for c in f.fix.commands)


def test_an_l4t_kernel_release_is_a_jetson(tmp_path):
    # `4.9.140-tegra`: the kernel release L4T R32 (JetPack 4.x) ships (a synthesised snapshot around it)
    snap = _snapshot(tmp_path, {"commands/uname_-r": "4.9.140-tegra\n",
                                "commands/cat_log": JETSON_CLI.replace("0.11.0+jetpack", "0.11.0")})
    report = _check(snap)
    assert report.get("driver.nvidia-module").status.value == "skip"
    assert "sudo apt install nvidia-l4t-cuda" in report.get("cuda.init").fix.commands


def test_an_image_for_another_architecture_is_the_containers_problem(tmp_path):
    # NVIDIA/nvidia-docker#1116: `docker run --runtime=nvidia nvidia/cuda` (x86_64 only) on a Jetson TX2
    snap = {"commands/docker_run_--rm_--runtime=nvidia_nvidia%2Fcuda":
            'standard_init_linux.go:211: exec user process caused "exec format error"\n'}
    f = _root_fail(tmp_path, snap, "env.container")
    assert "another CPU architecture" in f.summary and "uname -m" in f.fix.commands[0]
    assert "l4t" not in f.fix.summary  # nothing here showed a Jetson


# -- batch 26's capabilities -------------------------------------------------------------------------------------

def test_a_compile_error_in_the_modules_own_source_outside_dkms_is_a_failed_build(tmp_path):
    # NixOS/nixpkgs#396716: the Nix builder's log of nvidia-x11 565.77 against Linux 6.14
    log = ("error: builder for '/nix/store/y96bachhn2cs13yw0f88gvqi7083vq5m-nvidia-x11-565.77-6.14.drv' failed with "
           "exit code 2;\n"
           "       > nvidia-drm/nvidia-drm-drv.c:1907:6: error: 'struct drm_driver' has no member named 'date'\n")
    f = _root_fail(tmp_path, {"commands/pasted-text": log}, "driver.dkms")
    assert f.summary.startswith("The NVIDIA module could not be built") and "DKMS" not in f.summary
    assert not any(v.startswith("dkms") for v in f.fix.verify)


def test_a_compile_error_in_another_modules_source_is_not_the_nvidia_build(tmp_path):
    # the same compiler line for another module's file (the test renames the folder: a synthesised line)
    log = "       > mydriver/mydriver-drv.c:1907:6: error: 'struct drm_driver' has no member named 'date'\n"
    f = _check(_snapshot(tmp_path, {"commands/pasted-text": log})).get("driver.dkms")
    assert f.status.value != "fail"


def test_an_unlicensed_vgpu_is_the_finding(tmp_path):
    # NVIDIA/gpu-operator#220: nvidia-smi -q in an OKD VM on VMware vGPU
    q = ("    vGPU Software Licensed Product\n"
         "        Product Name                      : NVIDIA Virtual Compute Server\n"
         "        License Status                    : Unlicensed\n")
    f = _root_fail(tmp_path, {"commands/nvidia-smi_-q": q}, "nvml.devices")
    assert "no license" in f.summary and "sudo systemctl restart nvidia-gridd" in f.fix.commands
    # the grace period's wording, when the vGPU still runs in full (the test rewrites the line: synthesised)
    grace = q.replace(": Unlicensed", ": Unlicensed (Unrestricted)")
    f = _check(_snapshot(tmp_path, {"commands/nvidia-smi_-q": grace}, "grace")).get("nvml.devices")
    assert "no license" not in f.summary


def test_a_cudnn_sublibrary_from_another_installation_is_the_mixed_cudnn(tmp_path):
    # pytorch/pytorch#119989: PyTorch 2.1.2+cu121's wheel cuDNN beside the image's /usr/local/cuda/lib64 cuDNN 8
    line = ("Could not load library libcudnn_cnn_train.so.8. Error: /usr/local/cuda/lib64/libcudnn_cnn_train.so.8: "
            "undefined symbol: _ZN5cudnn3cnn34layerNormFwd_execute_internal_implERKNS_7backend11VariantPackEP11CUstream_"
            "stRNS0_18LayerNormFwdParamsERKNS1_20NormForwardOperationEmb, version libcudnn_cnn_infer.so.8\n")
    f = _root_fail(tmp_path, {"commands/python_main.py": line}, "cuda.libraries")
    assert "/usr/local/cuda/lib64" in f.summary and "cuDNN 9" in f.fix.summary
    # the folder from the log is shown, never put into a command
    assert not any("/usr/local/cuda/lib64" in c for c in f.fix.commands)


# -- batch 27's capabilities -------------------------------------------------------------------------------------

# microsoft/WSL#40715: the dxg module's boot-time ioctl failures on a working WSL2 machine (Quadro P4000)
DXG = ("[    3.897712] misc dxg: dxgk: dxgkio_is_feature_enabled:    Ioctl failed: -22  (EINVAL)\n"
       "[    3.902435] misc dxg: dxgk: dxgkio_query_adapter_info:    Ioctl failed: -22  (EINVAL)  x3\n")


def test_wsl_whose_library_folder_was_not_recorded_is_no_missing_library(tmp_path):
    snap = _snapshot(tmp_path, {"commands/uname_-r": "6.6.114.1-microsoft-standard-WSL2\n", "commands/dmesg": DXG})
    f = _check(snap).get("env.wsl")
    assert f.status.value == "info" and "not recorded" in f.summary


def test_wsl_with_cuda_failing_says_so_from_the_failure_not_the_folder(tmp_path):
    # the same WSL kernel beside nvidia-smi's own failure (a synthesised pair; nvidia-smi's line is its usual one)
    snap = {"commands/uname_-r": "6.6.114.1-microsoft-standard-WSL2\n",
            "commands/nvidia-smi": "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
                                   "Make sure that the latest NVIDIA driver is installed and running.\n",
            "commands/nvidia-smi.rc": "9\n"}
    f = _root_fail(tmp_path, snap, "env.wsl")
    assert "cannot reach the GPU" in f.summary and "missing from /usr/lib/wsl/lib" not in f.summary


def test_ollamas_nvml_driver_not_loaded_is_the_driver_not_answering(tmp_path):
    # ollama/ollama#1898 (under WSL2, as the reporter says: a native libnvidia-ml shadowed the Windows driver's)
    log = ("Jan 08 19:28:33 HOST ollama[178990]: 2024/01/08 19:28:33 gpu.go:39: CUDA not detected: nvml vram init "
           "failure: 9\n")
    got = {o.message for o in observe(Source("cuda", "journalctl -u ollama", log))}
    assert "ollama-nvml-driver-not-loaded" in got
    f = _root_fail(tmp_path, {"commands/journalctl_-u_ollama": log,
                              "commands/pasted-text": "I was unable to get Ollama to recognize my RTX 5000 under WSL "
                                                      "even though other programs have no problem.\n"}, "env.wsl")
    assert "cannot reach the GPU" in f.summary


def test_an_unversioned_libcuda_missing_under_wsl_is_fixed_on_the_loader_path(tmp_path):
    # bitsandbytes-foundation/bitsandbytes#336 (Windows 10, RTX 4090, nvidia-smi working)
    out = ("CUDA SETUP: WARNING! libcuda.so not found! Do you have a CUDA driver installed? If you are on a cluster, "
           "make sure you are on a CUDA machine!\n")
    f = _root_fail(tmp_path, {"commands/python_-m_bitsandbytes": out,
                              "commands/pasted-text": "WSL CUDA install on Windows 10: GPU not detected\n"}, "env.wsl")
    assert f.fix.commands == ("export LD_LIBRARY_PATH=/usr/lib/wsl/lib:$LD_LIBRARY_PATH",)


# -- batch 28's capabilities -------------------------------------------------------------------------------------

# access-ci-org/Basic_Cluster#34: `lsmod | egrep 'nvidia|nouveau'` on a healthy Warewulf GPU node (driver 390)
LSMOD_NO_UVM = ("nvidia              14660907  0\n"
                "ipmi_msghandler        56728  2 ipmi_devintf,nvidia\n")


def test_a_module_listing_without_nvidia_uvm_is_no_failure_by_itself(tmp_path):
    # nvidia-modprobe loads nvidia_uvm at the first CUDA program: a listing before one ran does not show it
    f = _check(_snapshot(tmp_path, {"commands/lsmod": LSMOD_NO_UVM})).get("cuda.device-nodes")
    assert f.status.value == "info" and "not loaded yet" in f.summary


def test_the_same_listing_beside_cuda_failing_is_the_uvm_failure(tmp_path):
    # beside CUDA's 999 as nccl-tests print it (NVIDIA/pyxis#81; the pair is synthesised)
    log = "compute-od-gpu-dy-p4d-24xlarge-1: Test CUDA failure common.cu:1045 'unknown error'\n"
    snap = _snapshot(tmp_path, {"commands/lsmod": LSMOD_NO_UVM, "commands/pasted-text": log})
    f = _check(snap).get("cuda.device-nodes")
    assert f.status.value == "fail" and "nvidia_uvm" in f.summary


def test_a_check_aimed_at_nvidia_uvm_that_prints_nothing_is_the_failure(tmp_path):
    # NixOS/nixpkgs#334180 (open 555 modules): `lsmod | grep nvidia_uvm` printed nothing, then `lsmod | grep nvidia`
    text = ("$ lsmod | grep nvidia_uvm\n$ lsmod | grep nvidia\nnvidia_drm            122880  1\n"
            "nvidia_modeset       1916928  1 nvidia_drm\n")
    f = _check(_snapshot(tmp_path, {"commands/pasted-text": text})).get("cuda.device-nodes")
    assert f.status.value == "fail" and "nvidia_uvm" in f.summary


# NVIDIA/gpu-operator#492: an 8-GPU VM whose firmware left two GPUs without BAR1; the module loaded and took the others
BAR_TWO = ("[83260.063553] NVRM: This PCI I/O region assigned to your NVIDIA device is invalid:\n"
           "               NVRM: BAR1 is 0M @ 0x0 (PCI:0000:14:00.0)\n"
           "[83260.063557] nvidia: probe of 0000:14:00.0 failed with error -1\n"
           "[83260.106438] NVRM: The NVIDIA probe routine failed for 2 device(s).\n"
           "[83260.106441] NVRM: loading NVIDIA UNIX x86_64 Kernel Module  510.108.03  Thu Oct 20 05:10:45 UTC 2022\n")
SMI_HEADER_510 = ("+-----------------------------------------------------------------------------+\n"
                  "| NVIDIA-SMI 510.108.03   Driver Version: 510.108.03   CUDA Version: 11.6     |\n"
                  "|-------------------------------+----------------------+----------------------+\n")


def test_gpus_the_loaded_module_refused_for_want_of_a_bar_still_fail(tmp_path):
    # the module answers (nvidia-smi's header, the table cut as posted) while two GPUs have no BAR1
    f = _root_fail(tmp_path, {"commands/dmesg": BAR_TWO, "commands/nvidia-smi": SMI_HEADER_510},
                   "driver.nvidia-module")
    assert "no PCI memory region" in f.summary


def test_a_cut_nvidia_smi_table_in_a_paste_gives_its_header(tmp_path):
    # OCR-D/ocrd_anybaseocr#50: the container's nvidia-smi, pasted without its GPU rows
    from tfdoctor.triage import triage_file

    paste = tmp_path / "paste.txt"
    paste.write_text("root@0123456789ab:/data/ocrd_test# nvidia-smi\n" + SMI_NA)
    report = triage_file(str(paste))
    assert report.get("container.capabilities").status.value == "fail"
    assert report.get("nvml.devices").status.value == "skip"  # the missing rows are no GPU missing


def test_a_line_read_twice_is_one_line_of_evidence(tmp_path):
    # tensorflow/tensorflow#8170 (TensorFlow 1.0, GTX 1080): the device block and the refused allocation, the block run
    # into one line by the test (as a rendered paragraph does): both memory readings come from that one line
    log = ("I tensorflow/core/common_runtime/gpu/gpu_device.cc:885] Found device 0 with properties: name: GeForce GTX "
           "1080 major: 6 minor: 1 memoryClockRate (GHz) 1.7335 pciBusID 0000:01:00.0 Total memory: 7.92GiB Free "
           "memory: 190.31MiB\n"
           "E tensorflow/stream_executor/cuda/cuda_driver.cc:1002] failed to allocate 190.31M (199557120 bytes) from "
           "device: CUDA_ERROR_OUT_OF_MEMORY\n")
    f = _root_fail(tmp_path, {"tensorflow.log": log}, "gpu.memory-in-use")
    assert "190 of 8110 MiB" in f.summary
    assert len(f.evidence) == len(set(f.evidence)) == 2
