"""A short real run of `tfdoctor bench` on the CPU (a few steps), and the no-GPU path on a machine without one."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from tfdoctor.bench.model import convnet_records, layer_table

pytestmark = pytest.mark.tensorflow
needs_tf = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="TensorFlow is not installed")

SHORT = ["--steps", "2", "--windows", "3", "--warmup", "1", "--min-time", "0"]


def _bench(*args, timeout=240):
    return subprocess.run([sys.executable, "-m", "tfdoctor", "bench", *args], capture_output=True, text=True,
                          timeout=timeout)


@needs_tf
def test_short_cpu_run_reports_consistent_positive_figures():
    proc = _bench("--device", "cpu", "--json", "--batch-size", "32", *SHORT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    [cpu] = doc["devices"]
    assert set(cpu) == {"device", "name", "images_per_second", "step_ms_median", "step_ms_p10", "step_ms_p90",
                        "cv", "gflops", "matmul_gflops"}
    assert cpu["device"] == "/CPU:0"
    for key in ("images_per_second", "step_ms_median", "step_ms_p10", "step_ms_p90", "gflops", "matmul_gflops"):
        assert cpu[key] > 0, key
    assert cpu["cv"] >= 0
    assert cpu["step_ms_p10"] <= cpu["step_ms_median"] <= cpu["step_ms_p90"]
    # images/s = batch / step time, and GFLOP/s = counted FLOPs / step time
    assert cpu["images_per_second"] == pytest.approx(32 * 1000 / cpu["step_ms_median"], rel=1e-3)
    assert cpu["gflops"] == pytest.approx(doc["flops_per_step"] / cpu["step_ms_median"] / 1e6, rel=1e-3)
    # the model the child built is the one written out by hand
    assert doc["flops_per_step"] == layer_table(convnet_records(), batch_size=32).flops_per_step
    assert doc["settings"]["batch_size"] == 32 and doc["settings"]["model"] == "convnet"
    assert doc["settings"]["precision"] == "fp32" and doc["settings"]["jit"] is False
    assert doc["speedup_vs_cpu"] == {}
    assert doc["no_gpu"] is None  # --device cpu: no GPU was asked for


@needs_tf
def test_gpu_asked_on_a_machine_without_one(tmp_path):
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    proc = _bench("--device", "gpu", "-v", *SHORT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("No GPU was benchmarked")]
    assert len(lines) == 1 and "tfdoctor check" in proc.stdout
    proc = _bench("--device", "gpu", "--require-gpu", "--json", *SHORT)
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["devices"] == []


def test_missing_interpreter_is_one_line_and_exit_1():
    proc = _bench("--python", "/nonexistent/bin/python", "--device", "cpu", timeout=30)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("tfdoctor bench: the Python interpreter /nonexistent/bin/python was not")
    assert "Traceback" not in proc.stderr


def test_require_gpu_with_device_cpu_is_a_usage_error():
    proc = _bench("--device", "cpu", "--require-gpu", timeout=30)
    assert proc.returncode == 2
