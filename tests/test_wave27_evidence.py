"""Stop 25 (wave 27): what blind batch 35 and the corpus's misses showed missing.

Every line below is a real line from the public thread named beside it. The snapshots around them are hand-built in
tmp_path (a state synthesised for the test, as docs/snapshot-format.md describes)."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _root_fail, _snapshot
from tfdoctor.evidence import ANY, Source, observe

# BichenWuUCB/squeezeDet#77: another user's job held the GPU ('Someone else was running something on the server')
REFUSED = "failed to allocate 106.88M (112066560 bytes) from device: CUDA_ERROR_OUT_OF_MEMORY"
# TensorFlow's allocator running out on the program's own tensors (the out-of-memory entry's example, as
# bfc_allocator.cc prints it: shared/reference/knowledge.md 6)
OWN = "Allocator (GPU_0_bfc) ran out of memory trying to allocate 2.00GiB"


def test_cuda_refusing_the_device_allocation_is_memory_already_taken(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": REFUSED + "\n"}))
    f = report.get("gpu.memory-in-use")
    # a warning naming both readings: another process, or the program's own earlier reservation (tensorflow#30912)
    assert f.status.value == "warn" and "106.88M" in f.summary and "another process" in f.summary
    assert "own" in f.summary and [e.line for e in f.evidence] == [REFUSED]
    assert "nvidia-smi" in f.fix.text() and "TF_FORCE_GPU_ALLOW_GROWTH" in f.fix.text()


def test_a_refusal_beside_the_programs_own_allocator_running_out_is_no_finding(tmp_path):
    # with memory growth the program's own tensors can fill the GPU: then the refusal proves nothing about others
    report = _check(_snapshot(tmp_path, {"tensorflow.log": REFUSED + "\n" + OWN + "\n"}, "own"))
    assert report.get("gpu.memory-in-use").status.value not in ("fail", "warn")


# voidlinux/void-packages#5745 (the console after upgrading 375.26 -> 378.13); void-packages#4473's form (.ko named)
MODESET = "nvidia-modeset: Version mismatch: nvidia.ko(378.13) nvidia-modeset(375.26)"
MODESET_KO = "Version mismatch: nvidia.ko(410.73) nvidia-modeset.ko(390.87)"


def test_nvidia_modules_of_two_releases_are_a_module_build_that_left_the_old_one(tmp_path):
    f = _root_fail(tmp_path, {"commands/dmesg": MODESET + "\n"}, "driver.dkms")
    assert "378.13" in f.summary and "375.26" in f.summary
    assert [e.line for e in f.evidence] == [MODESET]
    assert "dkms remove nvidia/375.26" in f.fix.summary  # the older release is the stale one
    assert not any("<" in c for c in f.fix.commands)  # no placeholder to type
    assert "nvidia_modeset" in " ".join(f.fix.verify)
    report = _check(_snapshot(tmp_path, {"commands/dmesg": MODESET_KO + "\n"}, "ko"))
    assert report.root_cause.id == "driver.dkms" and "390.87" in report.root_cause.fix.summary


# NVIDIA/cuda-samples#44: building CUDA 11's samples with the CUDA 10.0 toolkit on a healthy AWS machine
SAMPLE_MAKE = ("nvcc fatal   : Unsupported gpu architecture 'compute_80'\n"
               "Makefile:311: recipe for target 'p2pBandwidthLatencyTest.o' failed\n"
               "make: *** [p2pBandwidthLatencyTest.o] Error 1\n")


def test_a_make_error_outside_a_kernel_module_build_is_not_the_driver(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/make": SAMPLE_MAKE, "commands/make.rc": "2\n"}))
    assert report.get("driver.dkms").status.value != "fail"
    assert report.root_cause is None
    # the kernel Makefile's own targets and a DKMS build directory are still a module build that failed
    # (void-packages#53759; pop-os' 535 build in the corpus)
    for line in ("make: *** [Makefile:80: modules] Error 2",
                 "make[1]: *** [Makefile:2038: /var/lib/dkms/nvidia/535.98/build] Error 2"):
        assert "dkms-make-error" in [o.message for o in observe(Source(ANY, "make", line))], line


def test_nvidia_docker_beta_names_the_images_cuda_first(tmp_path):
    # NVIDIA/nvidia-docker#68: CUDA 7.5 image, driver supporting 6.5 ('You are trying to run CUDA toolkit 7.5 on a
    # CUDA driver 6.5')
    line = "nvidia-docker | 2016/04/09 00:07:59 Error: unsupported CUDA version: 7.5 < 6.5"
    f = _root_fail(tmp_path, {"commands/nvidia-docker_run_--rm_nvidia%2Fcuda_nvidia-smi": line + "\n"},
                   "compat.driver-cuda")
    assert "CUDA 7.5" in f.summary
    assert "CUDA 6.5 or older" in f.fix.text()


def test_nvidia_dockers_uvm_error_without_its_question(tmp_path):
    # NVIDIA/nvidia-docker#75: the first releases printed the error alone; the module was missing
    line = "nvidia-docker | 2016/07/13 23:40:32 Error: Could not load UVM kernel module"
    f = _root_fail(tmp_path, {"commands/nvidia-docker_run_--rm_nvidia%2Fcuda_nvidia-smi": line + "\n"},
                   "cuda.device-nodes")
    assert "nvidia_uvm" in f.summary and "uvm" in f.fix.text()


def test_the_dynamic_loaders_own_words_for_a_missing_cuda_runtime(tmp_path):
    # mozilla/DeepSpeech#1981: a native program linked against CUDA 10.0's runtime on a CUDA 9.0 machine
    line = ("./native_client/deepspeech: error while loading shared libraries: libcudart.so.10.0: cannot open shared "
            "object file: No such file or directory")
    f = _root_fail(tmp_path, {"commands/pasted-text": line + "\n"}, "tf.cuda-libs")
    assert "libcudart.so.10.0" in f.summary


def test_the_open_modules_refusal_without_its_nvrm_prefix(tmp_path):
    # siderolabs/extensions#114: Talos' kernel log as quoted, without NVRM:, the sentence wrapped
    text = ("Open nvidia.ko is only ready for use on Data Center GPUs. \n"
            "To force use of Open nvidia.ko on other GPUs, see the \n"
            "'OpenRmEnableUnsupportedGpus' kernel module parameter described\n"
            "in the README \n"
            "GPU 0000:07:00.0: RmInitAdapter failed!\n")
    report = _check(_snapshot(tmp_path, {"commands/dmesg": text}))
    assert report.root_cause is not None and report.root_cause.id in ("driver.nvidia-module", "driver.recommended")
    assert "OpenRmEnableUnsupportedGpus" in report.root_cause.fix.text() or "open" in report.root_cause.summary


def test_cuda_visible_devices_set_on_the_command_after_a_prompt(tmp_path):
    # pytorch/examples#115 (the README's command, run from a conda prompt on a one-GPU machine)
    from tfdoctor.triage import recognisers as rz

    for line, value in (("(py35) ~/pytorch/examples/mnist$ CUDA_VISIBLE_DEVICES=2 python main.py", "2"),
                        ("$ CUDA_VISIBLE_DEVICES=1 python ./scripts/ray_cuda_issue.py 1  # 0.8.5", "1"),
                        ("root@box:~# CUDA_VISIBLE_DEVICES=0,1 python train.py", "0,1")):
        m = rz.CVD_ASSIGNMENT.search(line)
        assert m is not None and m.group("value2") == value, line
    # a comment or a quote is not a command that ran
    for line in ("# CUDA_VISIBLE_DEVICES=1 python train.py", "> CUDA_VISIBLE_DEVICES=1 python train.py"):
        assert rz.CVD_ASSIGNMENT.search(line) is None, line


def test_nvml_failing_with_nothing_else_recorded_shows_what_nvidia_smi_said(tmp_path):
    # the Hyper-V GPU-PV case in the corpus (nvidia-smi inside a Linux guest whose Windows host blocks the GPU)
    said = "Failed to initialize NVML: GPU access blocked by the operating system"
    report = _check(_snapshot(tmp_path, {"commands/nvidia-smi": said + "\n", "commands/nvidia-smi.rc": "255\n"}))
    f = report.get("nvml.init")
    assert f.status.value == "fail" and [(e.source, e.line) for e in f.evidence] == [("nvidia-smi", said)]


def test_a_cpu_without_avx_shows_its_flags_as_evidence(tmp_path):
    # the start of the flags line tensorflow/tensorflow#46496's reporter posted (a Core 2 Quad Q9650); the model name
    # line beside it is synthesised for the test (the reporter named the CPU in prose only)
    flags = ("flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx "
             "fxsr sse sse2 ht tm pbe syscall nx lm\n")
    report = _check(_snapshot(tmp_path, {"files/proc/cpuinfo": "model name\t: Intel(R) Core(TM)2 Quad CPU    Q9650\n"
                                         + flags}))
    f = report.get("cpu.avx")
    assert f.status.value == "fail"
    assert f.evidence[0].source == "/proc/cpuinfo" and "Q9650" in f.evidence[0].line
    assert "flags without avx" in f.evidence[0].line and "sse2" in f.evidence[0].line


def test_ldd_naming_cuda_libraries_not_found(tmp_path):
    # arch4edu/arch4edu#24: libmxnet.so built against CUDA 10.0 after Arch's cuda package moved to 10.1
    text = "\tlibcudart.so.10.0 => not found\n\tlibcublas.so.10.0 => not found\n"
    f = _root_fail(tmp_path, {"commands/ldd_%2Fusr%2Flib%2Fpython3.7%2Fsite-packages%2Fmxnet%2Flibmxnet.so": text},
                   "tf.cuda-libs")
    assert "libcudart.so.10.0" in f.summary and "libcublas.so.10.0" in f.summary
    assert "10.0" in f.fix.text()


def test_a_programs_loader_not_finding_the_unversioned_cudnn(tmp_path):
    # PaddlePaddle/Paddle#24805: LD_LIBRARY_PATH named /usr/lcoal/cuda-10.1/lib64 ('lcoal -> local')
    line = ("W0529 03:50:54.756090 56933 dynamic_loader.cc:179] Failed to find dynamic library: libcudnn.so ( "
            "libcudnn.so: cannot open shared object file: No such file or directory )")
    f = _root_fail(tmp_path, {"tensorflow.log": line + "\n",
                              "env.json": '{"LD_LIBRARY_PATH": "/usr/lcoal/cuda-10.1/lib64:"}'}, "cuda.libraries")
    assert "libcudnn.so" in f.summary and "LD_LIBRARY_PATH" in f.summary
    assert any("/usr/lcoal/cuda-10.1/lib64" in d for d in f.details)
    assert "missing: $d" in " ".join(f.fix.commands)  # the command lists the folders that do not exist
    assert "cuDNN 9" not in f.summary  # no major was named: none is assumed


# Syllo/nvtop#441: `ldconfig -p | grep libnvidia-ml` on WSL2 with a Linux stub beside the Windows driver's library
LDCONFIG_WSL = ("        libnvidia-ml.so.1 (libc6,x86-64) => /usr/lib/wsl/lib/libnvidia-ml.so.1\n"
                "        libnvidia-ml.so.1 (libc6,x86-64) => /usr/lib/libnvidia-ml.so.1\n"
                "        libnvidia-ml.so (libc6,x86-64) => /usr/lib/libnvidia-ml.so\n")


def test_a_linux_copy_of_the_driver_library_beside_wsls_own(tmp_path):
    f = _root_fail(tmp_path, {"commands/ldconfig_-p": LDCONFIG_WSL}, "env.wsl")
    assert "/usr/lib/libnvidia-ml.so.1" in f.summary and "libnvidia-ml.so.1" in f.summary
    assert "dpkg -S libnvidia-ml.so.1" in f.fix.commands  # the library's own name, not the machine's path
    assert len(f.evidence) == 2
    # only the Windows driver's copy: WSL, and nothing wrong
    report = _check(_snapshot(tmp_path, {"commands/ldconfig_-p": LDCONFIG_WSL.splitlines()[0] + "\n"}, "wsl-only"))
    assert report.get("env.wsl").status.value == "info" and report.root_cause is None


def test_the_ngc_banner_naming_a_driver_branch_alone_wrapped_and_quoted(tmp_path):
    # triton-inference-server/server#139: the 19.02 banner as the reporter quoted it (Markdown `> `), wrapped
    from tfdoctor.triage import triage_file

    paste = tmp_path / "paste.txt"
    paste.write_text("The error msg is :\n\n"
                     "> ERROR: This container was built for NVIDIA Driver Release 410 or later, but\n"
                     ">        version 396.26 was detected and compatibility mode is UNAVAILABLE.\n"
                     "> \n"
                     ">        [[CUDA Driver UNAVAILABLE (cuInit(0) returned 999)]]\n")
    report = triage_file(str(paste))
    f = report.get("compat.driver-cuda")
    assert f.status.value == "fail" and report.root_cause.id == "compat.driver-cuda"
    assert "396.26" in f.summary and "410" in f.summary


def test_a_wrapped_message_is_read_from_its_own_lines_once():
    # the banner again, after another line: the two lines that hold it, not three beginning with the line before
    text = ("project or file.\n"
            "ERROR: This container was built for NVIDIA Driver Release 410 or later, but\n"
            "       version 396.26 was detected and compatibility mode is UNAVAILABLE.\n")
    obs = [o for o in observe(Source(ANY, "docker", text)) if o.message == "ngc-driver-too-old"]
    assert len(obs) == 1 and obs[0].line_no == 2 and obs[0].line.startswith("ERROR: This container")


def test_nvidia_detect_saying_no_driver_supports_the_card(tmp_path):
    # linuxdeepin/developer-center#14043: an RTX 5050 Mobile on deepin 25 with the packaged 580.119.02
    text = ("Detected NVIDIA GPUs:\n01:00.0 VGA compatible controller [0300]: NVIDIA Corporation GB207M [GeForce RTX "
            "5050 Max-Q / Mobile] [10de:2d98] (rev a1)\n\nChecking card:  NVIDIA Corporation GB207M [GeForce RTX 5050 "
            "Max-Q / Mobile] (rev a1)\nUh oh. Your card is not supported by any driver version up to 580.119.02.\n")
    f = _root_fail(tmp_path, {"commands/nvidia-detect": text}, "driver.recommended")
    assert "580.119.02" in f.summary and "newer driver branch" in f.summary


def test_xbps_dkms_hook_failing_without_naming_the_kernel(tmp_path):
    # void-linux/void-packages#24705: the legacy 390 module on every 5.8 kernel
    f = _root_fail(tmp_path, {"commands/pasted-text": "Building DKMS module: nvidia-390.138... FAILED!\n"},
                   "driver.dkms")
    assert any("nvidia-390.138" in e.line for e in f.evidence)


def test_slurmd_waiting_for_a_gpu_device_file(tmp_path):
    # fgci-org/ansible-role-cuda#3: slurmd at boot, before anything created the nodes
    text = ("Jul  8 15:11:04 gpu slurmd[5421]: error: Waiting for gres.conf file /dev//nvidia0\n"
            "Jul  8 15:11:23 gpu slurmd[5421]: fatal: can't stat gres.conf file /dev//nvidia0: No such file or "
            "directory\n")
    f = _root_fail(tmp_path, {"commands/journalctl_-u_slurmd": text}, "cuda.device-nodes")
    assert "/dev/nvidia0 " in f.summary and "sudo nvidia-modprobe -c=0" in f.fix.commands
    assert "slurmd" in f.fix.summary


def test_no_nvidia_device_on_the_bus_is_no_gpu_not_a_missing_uvm(tmp_path):
    # pytorch/pytorch#1154: a VirtualBox VM with CUDA installed and no GPU (nvidia-modprobe's words, then CUDA's error)
    text = ("NVIDIA: no NVIDIA devices found\nTHCudaCheck FAIL file=torch/csrc/autograd/engine.cpp line=359 error=30 : "
            "unknown error\n")
    report = _check(_snapshot(tmp_path, {"commands/python_autograd_tutorial.py": text}))
    assert report.root_cause is not None and report.root_cause.id == "pci.nvidia-gpu"
    assert report.get("cuda.device-nodes").status.value != "fail"


def test_gke_installing_no_driver_on_an_auto_provisioned_node(tmp_path):
    # GoogleCloudPlatform/container-engine-accelerators#407: the device plugin's init container
    text = "GPU driver auto installation is disabled.\nWaiting for GPU driver libraries to be available.\n"
    f = _root_fail(tmp_path, {"commands/kubectl_logs_nvidia-gpu-device-plugin_-c_nvidia-driver-installer": text},
                   "driver.nvidia-module")
    assert "gke-gpu-driver-version" in f.fix.summary and "GKE" in f.summary


def test_an_exporters_nvidia_smi_failing_stands_for_nvml(tmp_path):
    # utkuozdemir/nvidia_gpu_exporter#105: the exporter's `nvidia-smi --help-query-gpu` in an EKS pod, exit 12
    said = ("NVIDIA-SMI couldn't find libnvidia-ml.so library in your system. Please make sure that the NVIDIA Display "
            "Driver is properly installed and present in your system.\n")
    report = _check(_snapshot(tmp_path, {"commands/nvidia-smi_--help-query-gpu.err": said,
                                         "commands/nvidia-smi_--help-query-gpu.rc": "12\n"}))
    f = report.get("nvml.init")
    assert f.status.value == "fail" and "libnvidia-ml" in f.summary + " ".join(f.details)


def test_nvidia_ctk_finding_no_cdi_device(tmp_path):
    # xencon/aixcl#1118: Podman reaches the GPU through CDI only; no spec was generated
    f = _root_fail(tmp_path, {"commands/pasted-text": "- nvidia-ctk cdi list shows: Found 0 CDI devices\n"},
                   "container.toolkit")
    assert "sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml" in f.fix.commands
    # a listing that names a device says a spec exists
    report = _check(_snapshot(tmp_path, {"commands/nvidia-ctk_cdi_list": "INFO[0000] Found 0 CDI devices\n"
                                         "nvidia.com/gpu=all\n"}, "listed"))
    assert report.get("container.toolkit").status.value != "fail"


def test_ffmpegs_nvenc_naming_the_driver_it_needs(tmp_path):
    # AlphaAtlas/VapourSynthColab#4: an updated FFmpeg on Colab's P100 driver
    text = ("[hevc_nvenc @ 0x560aa0890480] Driver does not support the required nvenc API version. Required: 9.1 "
            "Found: 9.0\n[hevc_nvenc @ 0x560aa0890480] The minimum required Nvidia driver for nvenc is 435.21 or "
            "newer\n")
    f = _root_fail(tmp_path, {"commands/pasted-text": text}, "compat.driver-cuda")
    assert "435.21" in f.summary and "NVENC" in f.summary and "nv-codec-headers" in f.fix.text()


def test_the_kernel_modprobe_names_when_it_finds_no_module(tmp_path):
    # Witko/nvidia-xrun#144 (the modprobe lines as posted, the prose shortened): no uname was pasted, but modprobe
    # names the running kernel's module directory; its -zen flavour is Arch's linux-zen
    from tfdoctor.triage import triage_file

    paste = tmp_path / "paste.txt"
    paste.write_text("I am on arch.\n\nmodprobe: ERROR: could not find module by name 'nvidia'\n\n"
                     "modprobe: FATAL: nvidia_drm not found in directory /lib/modules/5.5.9-zen1-2-zen\n")
    report = triage_file(str(paste))
    f = report.get("driver.dkms")
    assert f.status.value == "fail" and "5.5.9-zen1-2-zen" in f.summary
    assert "nvidia-dkms" in f.fix.text() and "linux-zen-headers" in f.fix.text()


def test_a_cut_flags_line_is_no_evidence_of_a_cpu_without_avx(tmp_path):
    # mudler/LocalAI's report in the corpus (srv-localai-...): the stored flags line stops after six flags
    cut = "model name\t: AMD Ryzen Threadripper PRO 5975WX 32-Cores\nflags\t\t: fpu vme de pse tsc msr\n"
    report = _check(_snapshot(tmp_path, {"files/proc/cpuinfo": cut}))
    f = report.get("cpu.avx")
    assert f.status.value == "skip" and "cut" in f.summary
    assert "unknown" in report.get("cpu.features").summary
    # with TensorFlow's illegal instruction beside it, the crash still names the missing AVX, and says the line was cut
    report = _check(_snapshot(tmp_path, {"files/proc/cpuinfo": cut,
                                         "tensorflow.log": "Illegal instruction (core dumped)\n"}, "crashed"))
    f = report.get("cpu.avx")
    assert f.status.value == "fail" and any("was cut" in d for d in f.details)


def test_an_xid_naming_a_process_shows_cuda_found_a_gpu_under_the_variable(tmp_path):
    # pytorch/pytorch#51382 (an 8-GPU server with one faulty GPU; the kernel log line as posted):
    # CUDA_VISIBLE_DEVICES=7, and the kernel log's Xid 31 names the process that ran on the GPU
    xid = ("[Fri Jan 29 23:42:34 2021] NVRM: Xid (PCI:0000:db:00): 31, pid=13641, Ch 00000008, intr 00000000. MMU "
           "Fault: ENGINE GRAPHICS GPCCLIENT_T1_10 faulted @\n")
    report = _check(_snapshot(tmp_path, {"commands/dmesg": xid, "env.json": '{"CUDA_VISIBLE_DEVICES": "7"}'}))
    assert report.get("env.cuda-visible-devices").status.value == "info"
    # without it, the index alone still warns that it may hide every GPU
    report = _check(_snapshot(tmp_path, {"env.json": '{"CUDA_VISIBLE_DEVICES": "7"}'}, "alone"))
    assert report.get("env.cuda-visible-devices").status.value == "warn"
