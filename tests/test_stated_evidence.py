"""Conclusions from evidence people paste besides the probes' own outputs: the TensorFlow release pip printed or the
issue template states, TensorFlow's 'possibly insufficient driver version', a kernel-release that names WSL 1, the
kernel's invalid-opcode trap inside a TensorFlow library, a kernel build tree without headers, TensorRT's optional
libraries. Every line below is a real line from the public thread named beside it; the snapshots around them are
hand-built in tmp_path (a state synthesised for the test, as docs/snapshot-format.md describes)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.corpus import diagnosis_of

CUDNN_FAILED = (  # localminimum/QANet#5 (TensorFlow 1.5 on driver 384.69)
    "2018-03-23 11:55:55.959752: E tensorflow/stream_executor/cuda/cuda_dnn.cc:385] could not create cudnn handle: "
    "CUDNN_STATUS_NOT_INITIALIZED\n"
    "2018-03-23 11:55:55.959970: E tensorflow/stream_executor/cuda/cuda_dnn.cc:393] possibly insufficient driver "
    "version: {driver}\n")


def _snapshot(tmp_path: Path, files: dict[str, str], name: str = "snap") -> str:
    root = tmp_path / name
    root.mkdir()
    (root / "manifest.json").write_text(json.dumps({"format": "tfdoctor-snapshot", "version": 1,
                                                    "source": "hand-built"}))
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return str(root)


def _check(path: str):
    from tfdoctor.cli import run_check

    return run_check(from_=path, deadline_s=30)


def _root_fail(tmp_path, files: dict, fid: str):
    """Check a hand-built snapshot of these files: finding `fid` fails and is the root cause; return it."""
    report = _check(_snapshot(tmp_path, files))
    f = report.get(fid)
    assert f.status.value == "fail" and report.root_cause.id == fid, (f.status.value, f.summary, report.root_cause)
    return f


def test_a_stated_tensorflow_release_decides_whether_the_driver_is_too_old(tmp_path):
    snap = _snapshot(tmp_path, {"tensorflow.log": CUDNN_FAILED.format(driver="384.69.0"),
                                "commands/pasted-text": "tensorflow version: 1.5.0\nCUDA: 9.0\n"})
    f = _check(snap).get("compat.driver-cuda")
    assert f.status.value == "fail" and "384.69" in f.summary and "384.81" in f.summary  # CUDA 9.0's floor
    assert any("tensorflow version: 1.5.0" in e.line for e in f.evidence)


def test_a_stated_release_whose_cuda_the_driver_runs_is_no_driver_problem(tmp_path):
    # tensorflow/tensorflow#22056: TensorFlow 1.10.1 (CUDA 9.0) on driver 390.77 printed the same suspicion
    snap = _snapshot(tmp_path, {"tensorflow.log": CUDNN_FAILED.format(driver="390.77.0"),
                                "commands/pasted-text": "- TensorFlow version: 1.10.1\n"})
    report = _check(snap)
    f = report.get("compat.driver-cuda")
    assert f.status.value == "ok" and "390.77" in f.summary
    d = diagnosis_of(report)
    assert d is None or d.id != "compat.driver-cuda"


def test_tensorflows_suspicion_alone_is_a_warning_not_a_verdict(tmp_path):
    snap = _snapshot(tmp_path, {"tensorflow.log": CUDNN_FAILED.format(driver="390.87.0")})
    f = _check(snap).get("compat.driver-cuda")
    assert f.status.value == "warn" and "cannot be checked" in f.summary
    assert f.fix.alternatives and "GPU memory" in f.fix.alternatives[0].when


def test_pip_and_the_issue_template_state_the_release():
    from tfdoctor.evidence import Source, observe

    text = ("- TensorFlow version (use command below): v2.3.0-rc1-2368-gc1ffa3658f 2.3.0\n"  # ROCm/ROCm#1217
            "tensorflow-gpu      1.8.0\n"
            "Successfully installed tensorflow-2.16.1 keras-3.3.3\n"
            "TensorFlow installed from (source or binary): pip, tensorflow-2.4.0-cp38-cp38-manylinux2010_x86_64.whl\n")
    obs = observe(Source("any", "paste", text)) + observe(Source("tensorflow", "paste", text))
    found = sorted(o.group("tf_version") or o.group("wheel_version") for o in obs
                   if o.message in ("tf-version-stated", "pip-tensorflow-version"))
    assert found == ["1.8.0", "2.16.1", "2.3.0", "2.4.0"]


def test_a_wsl1_kernel_release_alone_says_wsl1(tmp_path):
    # microsoft/WSL#5554: `uname -r` under WSL 1, the only sign of it in the thread
    snap = _snapshot(tmp_path, {"commands/uname_-r": "4.4.0-19041-Microsoft\n",
                                "commands/nvidia-smi": "NVIDIA-SMI has failed because it couldn't communicate with the "
                                                       "NVIDIA driver. Make sure that the latest NVIDIA driver is "
                                                       "installed and running.\n",
                                "commands/nvidia-smi.rc": "9\n"})
    report = _check(snap)
    assert report.get("env.wsl").status.value == "fail" and report.root_cause.id == "env.wsl"


def test_an_invalid_opcode_in_a_tensorflow_library_on_an_avx_only_cpu(tmp_path):
    # tensorflow/tensorflow#45744: TensorFlow 2.4.0 on an i5-3230M (AVX, no AVX2/FMA)
    flags = "fpu vme de pse tsc msr pae sse sse2 ssse3 sse4_1 sse4_2 popcnt aes xsave avx f16c rdrand lahf_lm"
    trap = ("traps: python[434569] trap invalid opcode ip:7fb785029c48 sp:7ffd15a859a0 error:0 in "
            "libtensorflow_framework.so.2[7fb7842a2000+1c55000]\n")
    snap = _snapshot(tmp_path, {"files/proc/cpuinfo": f"model name\t: Intel(R) Core(TM) i5-3230M CPU\nflags\t\t: "
                                                      f"{flags}\n", "commands/dmesg": trap})
    f = _check(snap).get("cpu.avx")
    assert f.status.value == "fail" and "AVX2" in f.summary and f.evidence
    # the same CPU without the crash: only informational
    snap2 = _snapshot(tmp_path, {"files/proc/cpuinfo": f"flags\t\t: {flags}\n"}, name="no-crash")
    assert _check(snap2).get("cpu.avx").status.value == "info"


def test_a_kernel_build_tree_without_autoconf_h_means_missing_headers(tmp_path):
    # zen-kernel/zen-kernel#305 (maintainer: "Install the kernel headers and the error will go away")
    text = ("Error! Bad return status for module build on kernel: 6.2.6-zen1-1-zen (x86_64)\n"
            "<command-line>: fatal error: /lib/modules/6.2.6-zen1-1-zen/build/include/linux/autoconf.h: No such file "
            "or directory\n")
    f = _check(_snapshot(tmp_path, {"commands/pasted-text": text})).get("driver.dkms")
    assert f.status.value == "fail" and "headers" in f.summary and "6.2.6-zen1-1-zen" in f.summary
    assert any("linux-zen-headers" in c for c in f.fix.commands)


def test_tensorrt_alone_missing_is_no_finding(tmp_path):
    log = ("2020-02-06 17:27:31.522769: W tensorflow/stream_executor/platform/default/dso_loader.cc:55] Could not load "
           "dynamic library 'libnvinfer.so.6'; dlerror: libnvinfer.so.6: cannot open shared object file: No such file "
           "or directory\n"
           "2020-02-06 17:27:31.522969: W tensorflow/compiler/tf2tensorrt/utils/py_utils.cc:30] Cannot dlopen some "
           "TensorRT libraries. If you would like to use Nvidia GPU with TensorRT, please make sure the missing "
           "libraries mentioned above are installed properly.\n")  # ufoym/deepo#129
    report = _check(_snapshot(tmp_path, {"tensorflow.log": log}))
    assert report.get("tf.cuda-libs").status.value not in ("fail", "warn")
    assert diagnosis_of(report) is None


def test_cuda_saying_uncorrectable_ecc_is_a_memory_error_without_nvml(tmp_path):
    # nagadit/DeepFaceLab_Linux#89 (the reporter: "it was a hardware problem")
    log = ("F tensorflow/stream_executor/lib/statusor.cc:34] Attempting to fetch value instead of handling error "
           "Internal: failed initializing StreamExecutor for CUDA device ordinal 0: Internal: failed call to "
           "cuDevicePrimaryCtxRetain: CUDA_ERROR_ECC_UNCORRECTABLE: uncorrectable ECC error encountered\n")
    report = _check(_snapshot(tmp_path, {"tensorflow.log": log}))
    f = report.get("gpu.memory-errors")
    assert f.status.value == "fail" and f.evidence and report.root_cause.id == "gpu.memory-errors"
    assert "sudo nvidia-smi -r" in f.fix.commands and f.fix.alternatives[0].commands == ("sudo reboot",)


def test_modprobe_failing_on_nvidia_uvm_says_so(tmp_path):
    # Bumblebee-Project/Bumblebee#623 (the reporter's confirmed fix: load the uvm module)
    text = "pycuda._driver.Error: cuInit failed: unknown\nmodprobe: FATAL: Module nvidia-uvm not found.\n"
    f = _check(_snapshot(tmp_path, {"commands/pasted-text": text})).get("cuda.device-nodes")
    assert f.status.value == "fail" and "nvidia_uvm" in f.summary
    assert "sudo modprobe nvidia-uvm" in f.fix.commands
