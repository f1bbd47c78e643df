"""Log analysis on real TensorFlow logs published by users (tests/fixtures/logs, with SOURCE.md and expect.json)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfdoctor.checks import Facts
from tfdoctor.model import Status
from tfdoctor.probes.tensorflow import facts_from_record
from tfdoctor.tflog import analyse_log

LOGS = Path(__file__).parent / "fixtures" / "logs"
EXPECT = json.loads((LOGS / "expect.json").read_text()) if (LOGS / "expect.json").exists() else {}


def test_there_are_at_least_ten_distinct_real_failure_logs():
    failures = [name for name, e in EXPECT.items() if not name.startswith("healthy")]
    assert len(failures) >= 10
    assert all((LOGS / name).is_file() for name in EXPECT)


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_log_holds_the_expected_message_kinds(name):
    expect = EXPECT[name]
    got = analyse_log((LOGS / name).read_text(encoding="utf-8", errors="replace"))
    missing = set(expect.get("messages", ())) - set(got.kinds)
    assert not missing, f"{name}: not recognised: {sorted(missing)}"
    if "missing_libraries" in expect:
        assert list(got.missing_libraries) == expect["missing_libraries"]
    if "cuda_error" in expect:
        assert got.cuda_error == expect["cuda_error"]
    if "compute_capability" in expect:
        assert expect["compute_capability"] in got.compute_capabilities


def test_acceptance_log_names_cuinit_no_device():
    got = analyse_log((LOGS / "cuinit_no_device_kernel_driver_tf2_10.log").read_text())
    m = got.first("cuinit-error")
    assert m is not None and "cuda_driver.cc:271] failed call to cuInit: CUDA_ERROR_NO_DEVICE" in m.line
    assert got.cuda_error == "CUDA_ERROR_NO_DEVICE"
    assert got.has("kernel-driver-not-running")


def test_new_tf_cuinit_line_gives_the_numeric_code():
    got = analyse_log("E0000 00:00:1 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call "
                      "to cuInit: UNKNOWN ERROR (303)\n")
    assert got.cuda_error == "UNKNOWN ERROR (303)" and got.cuda_error_code == 303


def _log_only(name: str):
    """What a snapshot holding only this tensorflow.log gives the checks."""
    rec = {"ended": None, "result": None, "log_only": True, "log": (LOGS / name).read_text()}
    return facts_from_record(rec)


def _run(fid: str, tf, **others):
    from tfdoctor import catalogue

    return catalogue.get(fid).func(Facts({"tensorflow": tf, **others}))


def test_log_alone_names_missing_libraries_and_their_pip_packages():
    tf = _log_only("many_libs_missing_tf2_8.log")
    assert tf.source == "log-only"
    f = _run("tf.cuda-libs", tf)
    assert f.status == Status.FAIL
    assert "libcudart.so.11.0" in f.summary and "libcudnn.so.8" in f.summary
    assert any("nvidia-cudnn-cu11" in c for c in f.fix.commands)


def test_tensorrt_libraries_are_optional():
    """libnvinfer (TensorRT) is used only by TF-TRT: TensorFlow's own next line says so. A log that misses only it
    names no missing CUDA library (ufoym/deepo#129, tests/cases/ok-docker-deepo-tf21-libnvinfer6-warning)."""
    log = ("W tensorflow/stream_executor/platform/default/dso_loader.cc:55] Could not load dynamic library "
           "'libnvinfer.so.6'; dlerror: libnvinfer.so.6: cannot open shared object file: No such file or directory\n"
           "W tensorflow/stream_executor/platform/default/dso_loader.cc:55] Could not load dynamic library "
           "'libnvinfer_plugin.so.6'; dlerror: libnvinfer_plugin.so.6: cannot open shared object file\n"
           "W tensorflow/stream_executor/platform/default/dso_loader.cc:55] Could not load dynamic library "
           "'libcudnn.so.7'; dlerror: libcudnn.so.7: cannot open shared object file: No such file or directory\n")
    a = analyse_log(log)
    assert a.missing_libraries == ("libcudnn.so.7",)
    assert a.missing_optional == ("libnvinfer.so.6", "libnvinfer_plugin.so.6")
    assert analyse_log(log.split("\n", 2)[0]).missing_libraries == ()


def test_log_alone_with_an_old_gpu_names_the_newest_tensorflow_for_it():
    tf = _log_only("gpu_below_min_cc30.log")
    f = _run("compat.compute-capability", tf)
    assert f.status == Status.FAIL
    assert "3.0" in f.summary


def test_log_alone_with_a_blackwell_gpu_warns_about_ptx_jit():
    tf = _log_only("no_kernel_binaries_cc12_tf2_21.log")
    f = _run("compat.compute-capability", tf)
    assert f.status == Status.WARN
    assert "CUDA_CACHE_MAXSIZE" in " ".join(f.fix.commands)


def test_log_alone_healthy_gpu_is_ok():
    tf = _log_only("healthy_tf2_17_h200.log")
    assert _run("tf.gpu-visible", tf).status == Status.OK


def test_log_alone_cudnn_mismatch_names_both_versions():
    tf = _log_only("cudnn_version_mismatch_tf2_18.log")
    f = _run("tf.cuda-libs", tf)
    assert f.status == Status.FAIL
    assert "9.1.0" in f.summary and "9.3.0" in f.summary


def test_log_alone_cpu_only_machine_is_not_a_failure():
    tf = _log_only("cuda_drivers_not_found_tf2_15.log")
    f = _run("tf.gpu-visible", tf, pci=SimpleNamespace(nvidia_devices=()))
    assert f.status == Status.INFO


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text):
    analyse_log(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([
    "failed call to cuInit: ", "Could not load dynamic library '", "compute capability: ", "(303)", "CUDA_ERROR_",
    "Loaded runtime CuDNN library: ", " but source was compiled with: ", "Ignoring visible gpu device (",
    "Created device /job:localhost/replica:0/task:0/device:GPU:0 with ", "\n", "'", "9.", "x",
]), max_size=30).map("".join))
def test_fragments_of_known_messages_never_raise(text):
    analyse_log(text)
    facts_from_record({"log_only": True, "log": text})
