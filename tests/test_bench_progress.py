"""Progress that keeps moving, a hard budget kept by the child's watchdog, and a missing GPU that is one line and a
non-zero exit (issue 14). No TensorFlow here: the child's watchdog runs in a plain Python child, and the CLI test
stands in for the bench child at the process boundary (run_child) with a document in the child's format
(synthesised).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from typer.testing import CliRunner

from tfdoctor.bench.command import PROGRESS_PREFIX, ProgressState, parse_progress
from tfdoctor.child.runner import ChildResult, child_script
from tfdoctor.cli import app

# ----------------------------------------------------------------------------- the parent's display


def test_the_display_moves_on_its_own_clock_between_child_events():
    state = ProgressState(started=100.0)
    text, frac = state.line(102.5)
    assert text == "importing TensorFlow 2.5 s" and frac == 0.0
    state.on_event({"event": "imported", "seconds": 3.0}, now=103.0)
    state.on_event({"event": "device-start", "device": "/CPU:0", "index": 0, "count": 1, "budget_s": 20.0}, now=104.0)
    state.on_event({"event": "phase", "device": "/CPU:0", "phase": "first step (tracing the training step)"}, now=106.0)
    # no event for ten seconds (a 20-second first step): the elapsed time and the bar still advance
    early, later = state.line(108.0), state.line(114.0)
    assert early[0] == "CPU 0: first step (tracing the training step) 4/20 s"
    assert later[0] == "CPU 0: first step (tracing the training step) 10/20 s"
    assert later[1] > early[1] and later[1] == 0.5


def test_devices_split_the_bar_and_windows_show_their_spread():
    state = ProgressState(started=0.0)
    state.on_event({"event": "device-start", "device": "/GPU:0", "index": 0, "count": 2, "budget_s": 10.0}, now=0.0)
    state.on_event({"event": "window", "device": "/GPU:0", "windows": 3, "cv": 0.021}, now=5.0)
    text, frac = state.line(5.0)
    assert text == "GPU 0: timing window 4, CV 2.1% 5/10 s" and frac == 0.25
    state.on_event({"event": "device-done", "device": "/GPU:0", "index": 0, "count": 2}, now=6.0)
    state.on_event({"event": "device-start", "device": "/CPU:0", "index": 1, "count": 2, "budget_s": 10.0}, now=6.0)
    assert state.line(11.0) == ("CPU 0: building the model 5/10 s", 0.75)


def test_progress_lines_are_told_from_the_log_and_bounded():
    assert parse_progress(PROGRESS_PREFIX + '{"event": "tick", "device": "/CPU:0", "phase": "x"}')["event"] == "tick"
    assert parse_progress('@tfdoctor-bench ["not", "an", "event"]') is None
    state = ProgressState(started=0.0)
    state.on_event({"event": "device-start", "device": "/CPU:0", "budget_s": 5}, now=0.0)
    state.on_event({"event": "tick", "device": "/CPU:0", "phase": "p" * 500}, now=1.0)
    assert len(state.line(1.0)[0]) < 120


# ----------------------------------------------------------------------------- the child's heartbeat and watchdog

_CHILD = textwrap.dedent("""
    import importlib.util, sys, time
    spec = importlib.util.spec_from_file_location("tf_bench", sys.argv[1])
    tf_bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tf_bench)
    doc = {"ok": False, "pid": 1, "_started": time.perf_counter()}
    watch = tf_bench.Watch(doc, tick_s=0.05)
    gpu = {"device": "/GPU:0", "kind": "gpu", "name": "a GPU"}
    cpu = {"device": "/CPU:0", "kind": "cpu", "name": "a CPU"}
    watch.pending = [gpu, cpu]
    watch.start()
    # GPU 0 finishes inside its budget
    out = watch.start_device(gpu, 5.0, None, None)
    out["timing"] = {"kept_windows": 5}
    watch.end_device({**gpu, **out})
    # the CPU's first step never ends (TensorFlow cannot interrupt it): only the watchdog can end the run
    watch.start_device(cpu, float(sys.argv[2]), None, None)
    watch.set_phase("first step (tracing the training step)")
    time.sleep(600)
    print("not reached")
""")


def test_a_step_that_outlasts_the_budget_ends_the_run_with_what_was_measured():
    proc = subprocess.run([sys.executable, "-c", _CHILD, child_script("tf_bench.py"), "0.5"], capture_output=True,
                          text=True, timeout=120)  # the timeout only guards against a hang; nothing is timed here
    assert proc.returncode == 0
    doc = json.loads(proc.stdout)
    gpu, cpu = sorted(doc["devices"], key=lambda d: d["device"], reverse=True)
    assert gpu["device"] == "/GPU:0" and gpu["timing"] == {"kept_windows": 5} and "over_budget" not in gpu
    assert cpu["device"] == "/CPU:0"
    assert cpu["over_budget"]["budget_s"] == 0.5
    assert cpu["over_budget"]["phase"] == "first step (tracing the training step)"
    assert [d["device"] for d in doc["devices"]] == ["/CPU:0", "/GPU:0"]  # the report's order, CPU first
    events = [parse_progress(ln) for ln in proc.stderr.splitlines()]
    assert any(e and e["event"] == "over-budget" and e["device"] == "/CPU:0" for e in events)


def test_the_heartbeat_speaks_while_a_step_runs():
    script = _CHILD.replace("time.sleep(600)", "time.sleep(1.0); watch.finish(); sys.exit(0)")
    proc = subprocess.run([sys.executable, "-c", script, child_script("tf_bench.py"), "60"], capture_output=True,
                          text=True, timeout=120)
    events = [e for e in (parse_progress(ln) for ln in proc.stderr.splitlines()) if e]
    ticks = [e for e in events if e["event"] == "tick" and e["device"] == "/CPU:0"]
    # one second of a 0.05 s heartbeat: a tick is expected long before; one is enough to show it speaks mid-step
    assert ticks and all(t["phase"] == "first step (tracing the training step)" for t in ticks)
    doc = json.loads(proc.stdout)
    assert len(doc["devices"]) == 1  # finished normally: the device still running is not reported as measured


# ----------------------------------------------------------------------------- a requested device that is absent

_NO_GPU_DOC = {"ok": True, "pid": 77, "import_s": 3.1, "gpus": [], "gpu_discovery_s": 0.4,
               "gpu_absent_reason": "TensorFlow 2.21.0 is built with CUDA but found no usable GPU",
               "tensorflow": {"version": "2.21.0", "cuda_build": True},
               "settings": {"model": "convnet", "batch_size": 128, "precision": "fp32", "jit": False, "device": "gpu"},
               "devices": [], "total_s": 3.6}


def _fake_child(monkeypatch, data):
    def run_child(python, script, args, timeout, env=None, on_stderr_line=None):
        return ChildResult("ok", 0, None, None, json.dumps(data), "", 3.6, data, 400.0)

    monkeypatch.setattr("tfdoctor.child.runner.run_child", run_child)


def test_device_gpu_without_a_gpu_is_one_line_and_exit_1(monkeypatch):
    _fake_child(monkeypatch, _NO_GPU_DOC)
    res = CliRunner().invoke(app, ["bench", "--device", "gpu"])
    assert res.exit_code == 1
    assert res.stdout == ""  # no empty table
    assert res.stderr.strip().splitlines() == [
        "tfdoctor bench: no GPU to benchmark: TensorFlow 2.21.0 is built with CUDA but found no usable GPU. "
        "Run `tfdoctor check` to see why."]


def test_device_gpu_without_a_gpu_in_json_still_prints_the_document(monkeypatch):
    _fake_child(monkeypatch, _NO_GPU_DOC)
    res = CliRunner().invoke(app, ["bench", "--device", "gpu", "--json"])
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    assert doc["devices"] == [] and doc["no_gpu"].startswith("No GPU was benchmarked")
    assert doc["child"]["gpu_discovery_s"] == 0.4


def test_device_all_without_a_gpu_still_measures_the_cpu_and_exits_0(monkeypatch):
    from tfdoctor.bench.model import convnet_records

    data = dict(_NO_GPU_DOC, settings=dict(_NO_GPU_DOC["settings"], device="all"), devices=[
        {"device": "/CPU:0", "kind": "cpu", "name": "AMD EPYC", "layers": convnet_records(),
         "model": {"classes": 10}, "timing": {"step_ms_median": 40.0, "step_ms_p10": 39.0, "step_ms_p90": 41.0,
                                              "cv": 0.01, "window_ms": [40.0] * 6, "kept_windows": 6}}])
    _fake_child(monkeypatch, data)
    res = CliRunner().invoke(app, ["bench"])
    assert res.exit_code == 0
    assert "No GPU was benchmarked: TensorFlow 2.21.0 is built with CUDA but found no usable GPU." in res.stdout
