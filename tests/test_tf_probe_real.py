"""The real TensorFlow child on this CPU-only machine: real build info, no GPU, the missing libraries named."""

from __future__ import annotations

import importlib.util
import sys
from types import SimpleNamespace

import pytest

from tfdoctor.checks import Facts
from tfdoctor.model import Status

pytestmark = [
    pytest.mark.tensorflow,
    pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="tensorflow is not installed"),
]


@pytest.fixture(scope="module")
def record():
    from tfdoctor.child.runner import run_tf_probe

    return run_tf_probe(None, 120)


@pytest.fixture(scope="module")
def facts(record):
    from tfdoctor.probes.tensorflow import facts_from_record

    cpu = SimpleNamespace(flags=frozenset({"avx", "avx2", "fma"}), model="test CPU")
    return facts_from_record(record, None, cpu)


def test_child_reports_version_location_and_interpreter(record, facts):
    assert record["ended"]["how"] == "ok"
    assert facts.imported is True
    assert facts.version and facts.version[0].isdigit()
    assert facts.location and facts.location.endswith("tensorflow")
    assert facts.python_version == "{}.{}.{}".format(*sys.version_info[:3])
    assert facts.python_executable


def test_child_reports_the_real_build_info(facts):
    b = facts.build
    assert b is not None and b.is_cuda_build is True
    from tfdoctor.knowledge import loader as kb

    known = kb.tf_build(facts.version)
    assert known is not None
    assert b.cuda_version.startswith(known.cuda)
    assert b.cudnn_version == known.cudnn.split(".")[0]
    assert b.compute_capabilities  # e.g. sm_60 ... compute_90 on 2.21
    if facts.version.startswith("2.21."):
        assert b.cuda_version == "12.5.1"
        assert b.compute_capabilities == ("sm_60", "sm_70", "sm_80", "sm_89", "compute_90")


def test_no_gpu_and_the_cpu_matmul_ran(facts):
    assert facts.gpus == ()
    assert "CPU:0" in facts.physical_devices
    assert facts.cpu_matmul_ok is True


def test_dlopen_attempts_name_the_missing_cuda_libraries(facts):
    by_name = {a.soname: a for a in facts.library_attempts}
    cuda_major = facts.build.cuda_version.split(".")[0]
    assert "libcuda.so.1" in by_name
    if cuda_major == "12":
        assert "libcudart.so.12" in by_name and "libcublas.so.12" in by_name
    assert f"libcudnn.so.{facts.build.cudnn_version}" in by_name
    # this machine has no NVIDIA driver and no CUDA libraries
    assert not by_name["libcuda.so.1"].loaded
    assert "cannot open shared object file" in (by_name["libcuda.so.1"].error or "")


def test_verbose_dso_logging_names_libcuda_in_the_log(facts):
    # TF_CPP_VMODULE=dso_loader=1 makes newer TensorFlow print the library it failed to load
    assert "libcuda.so.1" in facts.log.missing_libraries
    assert facts.log.has("cudart-stub-no-driver") or facts.log.has("cuinit-error")


def test_tf_findings_on_a_machine_without_a_gpu(facts):
    from tfdoctor import catalogue

    by_probe = {
        "tensorflow": facts,
        "pci": SimpleNamespace(nvidia_devices=()),
        "nvml": SimpleNamespace(init_ok=False, gpus=(), driver_version=None),
        "env": SimpleNamespace(cuda_visible_devices=None, container=None),
    }
    f = Facts(by_probe)
    got = {fid: catalogue.get(fid).func(f) for fid in
           ("tf.installed", "tf.import", "tf.cuda-build", "tf.cuda-libs", "tf.gpu-visible", "compat.python",
            "compat.driver-cuda", "compat.compute-capability")}
    assert got["tf.installed"].status == Status.OK
    assert got["tf.import"].status == Status.OK
    assert got["tf.cuda-build"].status == Status.OK
    assert got["tf.cuda-libs"].status == Status.INFO
    assert got["tf.gpu-visible"].status == Status.INFO
    assert "CPU" in got["tf.gpu-visible"].summary
    assert got["compat.python"].status == Status.OK
    assert got["compat.driver-cuda"].status == Status.SKIP
    assert got["compat.compute-capability"].status == Status.SKIP
    # with --require-gpu the same machine fails
    assert catalogue.get("tf.gpu-visible").func(Facts(by_probe, require_gpu=True)).status == Status.FAIL


def test_tfdoctor_process_never_imports_tensorflow():
    import subprocess

    code = ("import sys; from tfdoctor.probes import load_all; load_all(); from tfdoctor import catalogue; "
            "catalogue.entries(); from tfdoctor.child.runner import run_tf_probe; r = run_tf_probe(None, 120); "
            "assert r['ended']['how'] == 'ok', r['ended']; assert 'tensorflow' not in sys.modules; print('clean')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert out.stdout.strip() == "clean", out.stderr[-2000:]
