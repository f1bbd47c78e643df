"""Stop 26 (wave 28): what the corpus's misses and blind batch 39 showed missing.

Every line below is a real line from the public thread named beside it. The snapshots around them are hand-built in
tmp_path (a state synthesised for the test, as docs/snapshot-format.md describes)."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _root_fail, _snapshot

# tensorflow/tensorflow#28022: TensorFlow 2.0.0-alpha0 from pip on CUDA 9.2 ('Just installed Cuda 10.0 with tensorflow
# 2.0 and it works')
TF20_STATED = ("- TensorFlow version: 2.0.0-alpha0\n- Python version: 3.5\n"
               "- CUDA/cuDNN version: cuda 9.2\n")
# tensorflow/tensorflow#58681 (issue form): TensorFlow 2.11 with CUDA 12.0 ('tensorflow was looking for CUDA 11
# libraries, instead of 12')
TF211_STATED = ("### Tensorflow Version\n\nv2.11.0-rc2-17-gd5b57ca93e5 2.11.0\n\n### Python version\n\n3.10.6\n\n"
                "### CUDA/cuDNN version\n\n12.0\n")
# tensorflow/tensorflow#65842: TensorFlow 2.16.1 in conda on WSL2 with CUDA 11.5 ('Use pip install
# tensorflow[and-cuda]')
TF216_STATED = "### TensorFlow version\n\n2.16.1\n\n### CUDA/cuDNN version\n\nCUDA 11.5 \n"


def test_a_stated_cuda_that_is_not_the_releases_fails_its_libraries(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": TF20_STATED}, "tf.cuda-libs")
    assert "CUDA 10.0" in f.summary and "9.2" in f.summary and "libcudart.so.10.0" in f.summary
    assert [e.line for e in f.evidence] == ["- TensorFlow version: 2.0.0-alpha0", "- CUDA/cuDNN version: cuda 9.2"]
    # CUDA 10.0's libraries from NVIDIA's repository, pinned by soname; an upgrade is only an alternative
    assert f.fix.commands == ("sudo apt install cuda-cudart-10-0 cuda-cublas-10-0 libcudnn7",)
    assert any("[and-cuda]" in c for a in f.fix.alternatives for c in a.commands)
    assert "list_physical_devices('GPU')" in " ".join(f.fix.verify)


def test_cuda_12_does_not_serve_a_release_built_for_cuda_11(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": TF211_STATED}, "tf.cuda-libs")
    assert "CUDA 11.2" in f.summary and "12.0" in f.summary and "libcudart.so.11.0" in f.summary
    # TensorFlow's pip guide for 2.5-2.13: conda's CUDA and cuDNN, its lib folder on the loader path
    assert f.fix.commands[0] == "conda install -c conda-forge cudatoolkit=11.2 'cudnn>=8.1,<9'"
    assert "LD_LIBRARY_PATH" in f.fix.commands[-1]


def test_from_214_a_stated_older_cuda_only_warns_and_points_at_the_wheels(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": TF216_STATED}))
    f = report.get("tf.cuda-libs")
    assert f.status.value == "warn" and "[and-cuda]" in f.summary
    assert f.fix.commands == ("python3 -m pip install 'tensorflow[and-cuda]==2.16.*'",)


def test_a_stated_cuda_that_serves_the_release_or_is_the_drivers_is_no_finding(tmp_path):
    # CUDA 11.8 serves a build for 11.2 (sonames carry the major since CUDA 11): tensorflow#61468's form
    same_major = "- TensorFlow version: 2.11.0\n- CUDA/cuDNN version: 11.8/8.7.0.84\n"
    # the CUDA nvidia-smi's header names is the driver's, not an installed toolkit's
    smi = ("- TensorFlow version: 2.2.0\n- CUDA/cuDNN version: 11.4\n"
           "| NVIDIA-SMI 470.57.02    Driver Version: 470.57.02    CUDA Version: 11.4     |\n")
    for i, text in enumerate((same_major, smi)):
        report = _check(_snapshot(tmp_path, {"commands/pasted-text": text}, str(i)))
        assert report.get("tf.cuda-libs").status.value not in ("fail", "warn"), text


def test_a_stated_mismatch_says_nothing_where_the_libraries_loaded(tmp_path):
    # TensorFlow 2.0's own log opening the runtime (tensorflow#33727): whatever the reporter states, the library loaded
    log = ("2019-10-26 15:53:18.413380: I tensorflow/stream_executor/platform/default/dso_loader.cc:44] Successfully "
           "opened dynamic library libcudart.so.10.0\n")
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": TF20_STATED, "tensorflow.log": log}))
    assert report.get("tf.cuda-libs").status.value not in ("fail", "warn")
    # a container image brings its own CUDA
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": TF20_STATED, "files/.dockerenv": ""}, "c"))
    assert report.get("tf.cuda-libs").status.value not in ("fail", "warn")


def test_nvidia_smi_cut_before_its_table_is_no_failure_under_wsl(tmp_path):
    # tensorflow#58681: the stored paste of nvidia-smi ends after its date line; the reporter says it is WSL2
    report = _check(_snapshot(tmp_path, {"commands/nvidia-smi": "Sun Jan\n", "commands/pasted-text":
                                         "WSL2 Ubuntu 22.04\n"}))
    assert report.get("env.wsl").status.value not in ("fail", "warn")
    assert report.get("nvml.init").status.value == "skip"


def test_a_source_build_says_nothing_of_the_releases_tested_cuda(tmp_path):
    # tensorflow#48069: TensorFlow 1.15 built from source against CUDA 10.2 (the release's tested CUDA is 10.0)
    text = ("* TensorFlow installed from (source or binary): source\n* TensorFlow version: v1.15.0\n"
            "* CUDA/cuDNN version: 10.2.89\n")
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": text}))
    assert report.get("tf.cuda-libs").status.value not in ("fail", "warn")


# numba/numba#3794: numba's PTX from cudatoolkit 10.0 on driver 390.87 ('works only with cudatools = 9.0')
PTX63 = "ptxas application ptx input, line 9; fatal   : Unsupported .version 6.3; current version is '6.1'"
SMI_390 = "| NVIDIA-SMI 390.87                 Driver Version: 390.87                    |\n"


def test_ptx_newer_than_the_drivers_jit_needs_the_driver_of_its_cuda(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": PTX63 + "\n", "commands/nvidia-smi": SMI_390}, "compat.driver-cuda")
    # PTX ISA 6.3 is CUDA 10.0's, whose toolkit driver is 410.48; 390.87 runs CUDA 9.1 (PTX 6.1)
    assert "6.3" in f.summary and "CUDA 10.0" in f.summary and "410.48" in f.summary and "CUDA 9.1" in f.summary
    assert [e.line for e in f.evidence] == [PTX63]
    assert any("9.1" in a.when for a in f.fix.alternatives)  # or keep the driver: a toolkit no newer than its CUDA


def test_a_ptxas_refusal_that_is_not_the_drivers_says_nothing(tmp_path):
    # the same refusal with a driver whose own PTX is newer (CUDA 12.4's 550): a toolkit's ptxas, not the driver's
    smi = "| NVIDIA-SMI 550.54.15              Driver Version: 550.54.15      CUDA Version: 12.4     |\n"
    report = _check(_snapshot(tmp_path, {"tensorflow.log": PTX63 + "\n", "commands/nvidia-smi": smi}))
    assert report.get("compat.driver-cuda").status.value != "fail"
    # and with no driver version at all nothing settles which assembler refused
    report = _check(_snapshot(tmp_path, {"tensorflow.log": PTX63 + "\n"}, "bare"))
    assert report.get("compat.driver-cuda").status.value != "fail"


def test_the_ptx_table_and_the_newest_cuda_of_a_driver():
    from tfdoctor.knowledge import loader as kb

    assert (kb.cuda_for_ptx("6.3"), kb.cuda_for_ptx("8.6"), kb.cuda_for_ptx("9.9")) == ("10.0", "12.7", None)
    assert kb.newest_cuda_for_driver("390.87") == "9.1" and kb.newest_cuda_for_driver("525.60.13") == "12.0"
    assert kb.newest_cuda_for_driver("garbage") is None


# Frogging-Family/nvidia-all#76: clang 13 building 495.44 for a kernel built with clang 12 (downgrading clang fixed it)
CLANG_MAKE_LOG = ("  CC [M]  /var/lib/dkms/nvidia/495.44/build/nvidia/nv.o\n"
                  "clang-13: error: unsupported option '-mrecord-mcount' for target 'x86_64-pc-linux-gnu'\n"
                  "make[2]: *** [scripts/Makefile.build:272: /var/lib/dkms/nvidia/495.44/build/nvidia/nv.o] Error 1\n")
# Plippo/asus-wmi-screenpad#41: gcc 11.3 building for Arch's 5.19 kernel, built by gcc 12.2
GCC_MAKE_LOG = ("warning: the compiler differs from the one used to build the kernel\n"
                "  The kernel was built by: gcc (GCC) 12.2.0\n"
                "  You are using:           gcc (GCC) 11.3.0\n"
                "gcc: error: unrecognized command-line option ‘-ftrivial-auto-var-init=zero’\n")
UBUNTU = 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="22.04"\n'


def test_a_compiler_rejecting_the_kernels_flags_is_not_the_kernels_compiler(tmp_path):
    f = _root_fail(tmp_path, {"files/var/lib/dkms/nvidia/495.44/build/make.log": CLANG_MAKE_LOG}, "driver.dkms")
    assert "clang-13" in f.summary and "-mrecord-mcount" in f.summary
    assert f.evidence[0].line.startswith("clang-13: error")
    assert "cat /proc/version" in f.fix.commands[0]
    # the kernel build's own warning names the compiler: its major version's digits make the package to install
    (tmp_path / "g").mkdir()
    f = _root_fail(tmp_path / "g", {"files/var/lib/dkms/nvidia/535.98/build/make.log": GCC_MAKE_LOG,
                                    "files/etc/os-release": UBUNTU}, "driver.dkms")
    assert "gcc 12" in f.fix.summary and f.fix.commands[0] == "sudo apt install gcc-12"


def test_a_compiler_error_of_another_flag_or_build_is_no_module_failure():
    from tfdoctor.evidence import ANY, Source, observe

    for line in ("gcc: error: unrecognized command-line option '-foo'", "clang: error: unknown argument: '-fbar'"):
        assert "compiler-rejects-kernel-flag" not in [o.message for o in observe(Source(ANY, "make", line))]


def test_pythons_oserror_naming_a_missing_cuda_library(tmp_path):
    # microsoft/onnxruntime#6379: onnxruntime-gpu 1.5.1 (cuDNN 8) on Colab's CUDA 10.1 / cuDNN 7
    line = "OSError: libcudnn.so.8: cannot open shared object file: No such file or directory"
    report = _check(_snapshot(tmp_path, {"tensorflow.log": line + "\n"}))
    assert report.root_cause is not None and "libcudnn.so.8" in report.root_cause.summary


def test_an_application_xid_once_is_the_applications_and_again_the_gpus(tmp_path):
    # xtknight/vdpau-va-driver-vp9#2: one MMU fault from the author's own decoder code (a healthy machine)
    one = ("NVRM: Xid (PCI:0000:00:06): 31, pid=2708, Ch 0000003d, intr 10000000. MMU Fault: ENGINE NVDEC "
           "HUBCLIENT_NVDEV faulted @ 0x0_00000000. Fault is of type FAULT_PDE ACCESS_TYPE_READ\n")
    f = _check(_snapshot(tmp_path, {"commands/dmesg": one})).get("gpu.xid")
    assert f.status.value == "info" and "31" in f.summary
    # pytorch#51382: the same Xid 31 from three processes on one GPU of eight: the GPU is suspect
    again = "".join(f"NVRM: Xid (PCI:0000:db:00): 31, pid={p}, Ch 00000008, intr 00000000.\n"
                    for p in (13641, 14323, 33275))
    f = _check(_snapshot(tmp_path, {"commands/dmesg": again}, "again")).get("gpu.xid")
    assert f.status.value == "warn"


def test_tensorflows_log_of_its_devices_shows_the_import_worked(tmp_path):
    # conda-forge/tensorflow-feedstock#410: the log goes on to the GPU it found, then a library it could not load
    log = ("2025-01-12 22:03:03.896258: I tensorflow/core/common_runtime/gpu/gpu_device.cc:2219] Found device 0 with "
           "properties: \n"
           "2025-01-12 22:03:03.896484: I external/local_tsl/tsl/platform/default/dso_loader.cc:70] Could not load "
           "dynamic library 'libcublas.so.12'\n")
    report = _check(_snapshot(tmp_path, {"tensorflow.log": log}))
    assert report.get("tf.import").status.value == "ok"
    assert report.root_cause.id == "tf.cuda-libs"
    # a traceback alone says nothing of the import having worked
    cut = "Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n"
    assert _check(_snapshot(tmp_path, {"tensorflow.log": cut}, "cut")).get("tf.import").status.value == "skip"


def test_another_nvidia_smi_failing_with_nvmls_unknown_error_stands_for_nvml(tmp_path):
    # NVIDIA/nvidia-container-toolkit#1227: inside a container after `systemctl daemon-reload`
    report = _check(_snapshot(tmp_path, {"commands/nvidia-smi_-L": "Failed to initialize NVML: Unknown Error\n",
                                         "commands/nvidia-smi_-L.rc": "255\n"}))
    assert report.get("nvml.init").status.value == "fail"
    # exit status 0 with unreadable output is no failure
    report = _check(_snapshot(tmp_path, {"commands/nvidia-smi_-L": "Sun Jan\n", "commands/nvidia-smi_-L.rc": "0\n"},
                              "zero"))
    assert report.get("nvml.init").status.value != "fail"


def test_triage_reads_an_assignment_in_an_inline_code_span():
    # jax-ml/jax#37668: 'When you use a GPU enabled version of `jax` and set `CUDA_VISIBLE_DEVICES=''`,`jax` crashes'
    from tfdoctor.triage import recognisers as rz

    m = rz.CVD_ASSIGNMENT.search("When you use a GPU enabled version of `jax` and set `CUDA_VISIBLE_DEVICES=''`,"
                                 "`jax` crashes on use with the following error:")
    assert m is not None and m.group("value3") == ""
    m = rz.CVD_ASSIGNMENT.search("I ran it with `CUDA_VISIBLE_DEVICES=1` on the second card")
    assert m is not None and m.group("value3") == "1"
    # the name inside longer code is not an assignment alone
    assert rz.CVD_ASSIGNMENT.search("see `os.environ.get('CUDA_VISIBLE_DEVICES')` in the code") is None
