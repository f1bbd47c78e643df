"""Short real runs of `tfdoctor bench` on the CPU: the figures, progress events during warm-up, a budget too short for
ResNet50's first step, and the no-GPU path on a machine without one. No test asserts a time: the bench's speed is
measured by benchmarks/bench_vs_keras_fit.py."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from tfdoctor.bench.model import convnet_records, layer_table
from tfdoctor.child.runner import child_script

pytestmark = pytest.mark.tensorflow
needs_tf = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="TensorFlow is not installed")

SHORT = ["--steps", "2", "--windows", "5", "--warmup", "1", "--min-time", "0"]


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
                        "cv", "gflops", "matmul_gflops", "windows", "too_few_samples"}
    assert cpu["windows"] == 5 and cpu["too_few_samples"] is False
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
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert proc.stdout == ""  # no empty table
    [line] = [ln for ln in proc.stderr.splitlines() if ln.startswith("tfdoctor bench:")]
    assert line.startswith("tfdoctor bench: no GPU to benchmark: ") and line.endswith("Run `tfdoctor check` to see why.")
    proc = _bench("--device", "gpu", "--require-gpu", "--json", *SHORT)
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["devices"] == []
    # with the CPU in the run, the missing GPU is a line in the report, not a failure
    proc = _bench("--device", "all", *SHORT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "No GPU was benchmarked" in proc.stdout


@needs_tf
def test_progress_events_arrive_during_warm_up():
    from tfdoctor.bench.command import parse_progress

    proc = subprocess.run([sys.executable, child_script("tf_bench.py"), "--device", "cpu", "--batch-size", "16",
                           "--warmup-steps", "3", "--steps", "2", "--windows", "5", "--min-time", "0",
                           "--matmul-s", "0", "--tick-s", "0.2"],
                          capture_output=True, text=True, timeout=240, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    events = [e for e in (parse_progress(ln) for ln in proc.stderr.splitlines()) if e]
    kinds = [e["event"] for e in events]
    start, first_window = kinds.index("device-start"), kinds.index("window")
    phases = [e["phase"] for e in events[start:first_window] if e["event"] == "phase"]
    # before the first timed window the display has heard of every warm-up stage, not silence
    assert phases[:3] == ["building the model", "first step (tracing the training step)", "warm-up step 2"]
    assert "warm-up step 3" in phases
    assert all(e.get("budget_s") == 15.0 for e in events[start:first_window] if e["event"] in ("phase", "tick"))


@needs_tf
def test_resnet50_whose_first_step_outlasts_the_budget_says_so_plainly():
    # 3 s cannot hold ResNet50's model build and first step on a CPU: the child's watchdog ends the run, and the
    # report says why instead of a figure
    proc = _bench("--model", "resnet50", "--device", "cpu", "--max-time", "3", "--json", "--timeout", "200",
                  timeout=260)
    assert proc.returncode == 1, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    assert doc["devices"] == []
    [failed] = doc["failed_devices"]
    assert failed["status"] == "over-budget"
    assert failed["error"].startswith("ResNet50 could not finish one timed window inside its 3 s budget")
    assert doc["verdict"] == "Nothing was measured."


def test_missing_interpreter_is_one_line_and_exit_1():
    proc = _bench("--python", "/nonexistent/bin/python", "--device", "cpu", timeout=30)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("tfdoctor bench: the Python interpreter /nonexistent/bin/python was not")
    assert "Traceback" not in proc.stderr


def test_require_gpu_with_device_cpu_is_a_usage_error():
    proc = _bench("--device", "cpu", "--require-gpu", timeout=30)
    assert proc.returncode == 2
