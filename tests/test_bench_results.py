"""Figures, verdict, warnings and failure lines of `tfdoctor bench`, without TensorFlow and without a GPU.

The child documents here are written in the bench child's own format (tfdoctor's format, not a tool's output). The
NVML facts come from the real `healthy-multi-gpu` snapshot (other users' processes on GPUs 4-7) or are stand-ins
built with the real `GpuFacts` dataclass, for the states no fixture shows (a narrow PCIe link, a power cap).
"""

from __future__ import annotations

import dataclasses
import io

import pytest

from tests.conftest import SNAPSHOTS
from tfdoctor.bench.command import NvmlSampler, child_args, match_nvml_gpu, no_gpu_line, parse_progress
from tfdoctor.bench.model import convnet_records
from tfdoctor.bench.outcome import child_failure
from tfdoctor.bench.report import bar, render, table_lines
from tfdoctor.bench.results import bench_run, gpu_warnings, speedups, to_json, verdict
from tfdoctor.child.runner import ChildResult
from tfdoctor.host import open_snapshot
from tfdoctor.probes import ProbeContext, ProbeOptions
from tfdoctor.probes.nvml import GpuFacts, probe_nvml

JSON_FIELDS = {"device", "name", "images_per_second", "step_ms_median", "step_ms_p10", "step_ms_p90", "cv",
               "gflops", "matmul_gflops", "windows", "too_few_samples"}


def _device(device, name, median_ms, cv=0.01, matmul=100.0, **extra):
    return {"device": device, "name": name, "layers": convnet_records(), "model": {"classes": 10},
            "timing": {"step_ms_median": median_ms, "step_ms_p10": median_ms * 0.95, "step_ms_p90": median_ms * 1.05,
                       "cv": cv, "window_ms": [median_ms] * 5, "kept_windows": 5},
            "matmul": {"gflops": matmul}, **extra}


def _doc(*devices, batch=128, reason=None):
    return {"ok": True, "pid": 4242, "settings": {"model": "convnet", "batch_size": batch, "precision": "fp32",
                                                  "jit": False, "device": "all"},
            "tensorflow": {"version": "2.21.0"}, "devices": list(devices), "gpu_absent_reason": reason}


def test_images_per_second_is_batch_over_step_time():
    run = bench_run(_doc(_device("/CPU:0", "EPYC", 40.0)))
    cpu = run.cpu
    assert cpu.images_per_second == pytest.approx(128 / 0.040)
    assert cpu.gflops == pytest.approx(2_839_029_368 / 0.040 / 1e9)


def test_json_has_exactly_the_named_fields_per_device():
    run = bench_run(_doc(_device("/CPU:0", "EPYC", 40.0), _device("/GPU:0", "NVIDIA A100", 2.5)))
    doc = to_json(run, [], None)
    assert [set(d) for d in doc["devices"]] == [JSON_FIELDS, JSON_FIELDS]
    assert doc["speedup_vs_cpu"] == {"/GPU:0": 16.0}
    assert doc["settings"]["batch_size"] == 128


def test_verdict_names_the_gpu_and_its_speedup():
    run = bench_run(_doc(_device("/CPU:0", "EPYC", 42.6), _device("/GPU:0", "NVIDIA GeForce RTX 3090", 3.0)))
    assert verdict(run) == "GPU 0 (NVIDIA GeForce RTX 3090) is 14.2x faster than the CPU."


def test_a_gpu_slower_than_the_cpu_is_a_warning_with_a_cause():
    run = bench_run(_doc(_device("/CPU:0", "EPYC", 10.0), _device("/GPU:0", "Quadro K620", 20.0)))
    assert speedups(run)["/GPU:0"] == pytest.approx(0.5)
    assert "SLOWER" in verdict(run)
    [warning] = gpu_warnings(run)
    assert warning.startswith("GPU 0 (Quadro K620) is slower than the CPU: likely cause:")


def test_narrow_pcie_link_and_power_cap_are_named():
    run = bench_run(_doc(_device("/CPU:0", "EPYC", 40.0), _device("/GPU:0", "Tesla T4", 8.0)))
    # stand-in facts: a T4 in an x1 riser, at its power limit, sampled while busy
    facts = GpuFacts(index=0, name="Tesla T4", pcie_gen=3, pcie_gen_max=3, pcie_width=1, pcie_width_max=16,
                     throttle_reasons=("sw_power_cap",))
    [warning] = gpu_warnings(run, {"/GPU:0": facts})
    assert "x1 of x16" in warning and "power limit" in warning


def test_idle_and_application_clock_reasons_are_not_warnings():
    run = bench_run(_doc(_device("/CPU:0", "EPYC", 40.0), _device("/GPU:0", "Tesla T4", 8.0)))
    facts = GpuFacts(index=0, name="Tesla T4", pcie_gen=3, pcie_gen_max=3, pcie_width=16, pcie_width_max=16,
                     throttle_reasons=("gpu_idle", "applications_clocks_setting"))
    assert gpu_warnings(run, {"/GPU:0": facts}) == []


def test_other_processes_on_the_gpu_from_a_real_snapshot():
    nvml = probe_nvml(open_snapshot(str(SNAPSHOTS / "healthy-multi-gpu")), ProbeContext(ProbeOptions(no_tf=True)))
    tf_name = "Tesla P100-SXM2-16GB"
    busy = match_nvml_gpu(nvml, "/GPU:4", tf_name)
    idle = match_nvml_gpu(nvml, "/GPU:0", tf_name)
    assert busy is not None and busy.processes and idle is not None and not idle.processes
    run = bench_run(_doc(_device("/CPU:0", "EPYC", 40.0), _device("/GPU:0", tf_name, 5.0),
                         _device("/GPU:4", tf_name, 5.0)))
    [warning] = gpu_warnings(run, {"/GPU:0": idle, "/GPU:4": busy})
    assert warning.startswith("GPU 4") and "1 other process(es) use it" in warning


def test_the_benchmark_itself_is_not_an_other_process():
    run = bench_run(_doc(_device("/CPU:0", "EPYC", 40.0), _device("/GPU:0", "Tesla T4", 8.0)))
    facts = {"name": "Tesla T4", "processes": [{"pid": 4242, "name": "python"}]}
    assert gpu_warnings(run, {"/GPU:0": facts}) == []


def test_unstable_timing_is_a_warning():
    run = bench_run(_doc(_device("/CPU:0", "EPYC", 40.0, cv=0.12)))
    [warning] = gpu_warnings(run)
    assert "varied by 12.0%" in warning


def _one_window(ms=20859.28):
    """A device that fit one timed window in its budget (ResNet50 on a CPU): what the old report showed as
    "20859.28 (20859.3–20859.3) 0.0%"."""
    return {"device": "/CPU:0", "name": "AMD EPYC", "layers": convnet_records(), "model": {"classes": 10},
            "timing": {"step_ms_median": ms, "step_ms_p10": ms, "step_ms_p90": ms, "cv": 0.0, "window_ms": [ms],
                       "kept_windows": 1, "stopped_by": "budget", "steps_per_window": 1},
            "matmul": {"gflops": 66.3}}


def test_one_window_is_flagged_too_few_samples_never_a_zero_cv():
    doc = _doc(_one_window())
    doc["settings"]["max_time_s"] = 20
    run = bench_run(doc)
    cpu = run.cpu
    assert cpu.windows == 1 and cpu.too_few_samples
    assert cpu.cv is None and cpu.step_ms_p10 is None and cpu.step_ms_p90 is None
    assert cpu.step_ms_median == pytest.approx(20859.28)  # the one figure there is, flagged
    [warning] = gpu_warnings(run)
    assert warning.startswith("/CPU:0: too few samples: 1 timed window(s) (all that fit in its 20 s budget)")
    assert "raise --max-time" in warning
    fields = to_json(run, [warning], None)["devices"][0]
    assert fields["cv"] is None and fields["too_few_samples"] is True and fields["windows"] == 1
    out = io.StringIO()
    render(run, [warning], None, file=out, width=120)
    text = out.getvalue()
    assert "0.0%" not in text and "20859.3–20859.3" not in text and "20,859.3-20,859.3" not in text
    [row] = [ln for ln in text.splitlines() if ln.startswith("CPU ")]
    assert "20,859.28" in row and "n=1" in row


def test_windows_asked_with_a_flag_are_flagged_with_the_flag_to_raise():
    raw = _device("/CPU:0", "EPYC", 40.0)
    raw["timing"].update(window_ms=[40.0] * 3, kept_windows=3, stopped_by="windows")
    run = bench_run(_doc(raw))
    [warning] = gpu_warnings(run)
    assert "(as --windows asked)" in warning and "ask for at least 5 with --windows" in warning


def test_a_device_over_its_budget_has_no_figure_and_says_why():
    raw = {"device": "/CPU:0", "kind": "cpu", "name": "AMD EPYC", "layers": convnet_records(),
           "model": {"classes": 1000}, "timing": {"window_ms": [], "kept_windows": 0, "stopped_by": "over-budget",
                                                  "step_ms_median": None},
           "over_budget": {"budget_s": 20.0, "elapsed_s": 20.1, "phase": "first step (tracing the training step)",
                           "warmup_steps": 0, "last_step_s": None}}
    doc = _doc(raw)
    doc["settings"]["model"] = "resnet50"
    run = bench_run(doc)
    [cpu] = run.devices
    assert cpu.status == "over-budget" and cpu.images_per_second is None and cpu.step_ms_median is None
    [warning] = gpu_warnings(run)
    assert warning == ("/CPU:0 (AMD EPYC): ResNet50 could not finish one timed window inside its 20 s budget: first "
                       "step (tracing the training step) was still running at 20.1 s. No figure is reported; raise "
                       "--max-time or lower --batch-size.")
    doc_json = to_json(run, [warning], None)
    assert doc_json["devices"] == [] and doc_json["failed_devices"][0]["status"] == "over-budget"
    assert verdict(run) == "Nothing was measured."
    out = io.StringIO()
    render(run, [warning], None, file=out, width=60)
    assert "over budget" in out.getvalue()


def test_a_device_not_reached_is_listed_as_not_run():
    gpu = _device("/GPU:0", "NVIDIA A100-SXM4-40GB", 2.5)
    cpu = {"device": "/CPU:0", "kind": "cpu", "name": "AMD EPYC",
           "not_run": "not run: the benchmark stopped when /GPU:0 ran past its time budget"}
    run = bench_run(_doc(cpu, gpu))
    assert run.devices[0].status == "not-run"
    assert "/CPU:0 (AMD EPYC) was not run: the benchmark stopped when /GPU:0 ran past its time budget." in (
        gpu_warnings(run))


def test_a_failed_device_is_reported_and_the_others_still_count():
    run = bench_run(_doc(_device("/CPU:0", "EPYC", 40.0),
                         {"device": "/GPU:0", "name": "Tesla T4", "error": "ResourceExhaustedError: OOM when..."}))
    assert any("could not be benchmarked: ResourceExhaustedError" in w for w in gpu_warnings(run))
    assert to_json(run, [], None)["failed_devices"][0]["device"] == "/GPU:0"
    assert no_gpu_line(run, "all").startswith("No GPU was benchmarked: every GPU failed")


def test_no_gpu_says_why_in_one_line_and_points_to_check():
    run = bench_run(_doc(_device("/CPU:0", "EPYC", 40.0),
                         reason="this TensorFlow (2.21.0) is built without CUDA support"))
    line = no_gpu_line(run, "all")
    assert line == ("No GPU was benchmarked: this TensorFlow (2.21.0) is built without CUDA support. "
                    "Run `tfdoctor check` to see why.")
    assert no_gpu_line(run, "cpu") is None


def test_console_report_has_table_verdict_and_layers_with_v():
    run = bench_run(_doc(_device("/CPU:0", "AMD EPYC 7B13", 40.0), _device("/GPU:0", "NVIDIA A100-SXM4-40GB", 2.5)))
    out = io.StringIO()
    render(run, ["a warning"], None, verbose=True, file=out, width=120)
    text = out.getvalue()
    assert "GPU 0 (NVIDIA A100-SXM4-40GB) is 16.0x faster than the CPU." in text
    assert "conv2d_1" in text and "13×13×64" in text and "18,496" in text
    assert "warning: a warning" in text
    # the bar of images/s is drawn on a terminal only (a pipe gets plain columns)
    assert "█" not in text
    assert any("█" in line for line in table_lines(run, width=120, bars=True))


def test_bar_is_proportional():
    assert bar(50, 100, width=10) == "█" * 5
    assert bar(100, 100, width=10) == "█" * 10
    assert bar(None, 100) == ""


def test_progress_lines_are_told_from_tensorflow_log_lines():
    assert parse_progress('@tfdoctor-bench {"event": "window", "device": "/GPU:0", "windows": 3}')["windows"] == 3
    assert parse_progress("I0000 00:00:1.0 cpu_feature_guard.cc:210] This TensorFlow binary...") is None
    assert parse_progress("@tfdoctor-bench not json") is None


def test_nvml_is_sampled_once_per_gpu_while_it_is_busy():
    calls = []
    facts = type("Facts", (), {"gpus": (GpuFacts(index=0, name="Tesla T4"),)})()

    def collect():
        calls.append(1)
        return facts

    sampler = NvmlSampler(collect)
    sampler.on_event({"event": "gpu-name", "device": "/GPU:0", "name": "Tesla T4"})
    sampler.on_event({"event": "window", "device": "/CPU:0", "windows": 5})
    sampler.on_event({"event": "window", "device": "/GPU:0", "windows": 1})  # still warming up
    sampler.on_event({"event": "window", "device": "/GPU:0", "windows": 2})
    sampler.on_event({"event": "window", "device": "/GPU:0", "windows": 3})
    assert sampler.wait() == {"/GPU:0": facts.gpus[0]}
    assert calls == [1]


def test_gpu_path_uses_the_same_child_arguments_as_the_cpu_path():
    common = dict(model="convnet", batch_size=128, precision="mixed_float16", jit=True, min_time=3.0,
                  max_time=15.0, steps=None, windows=None, warmup=3, matmul_s=1.0)
    cpu, gpu = child_args(device="cpu", **common), child_args(device="gpu", **common)
    assert [a for a in cpu if a != "cpu"] == [a for a in gpu if a != "gpu"]
    assert "--jit" in cpu and "mixed_float16" in cpu


def _ended(how, **kw):
    base = dict(how=how, rc=None, signal=None, signal_name=None, stdout="", stderr="", duration_s=1.0)
    return ChildResult(**{**base, **kw})


def test_how_the_child_ended_becomes_one_line():
    python = "/opt/venv/bin/python"
    assert "was not found" in child_failure(_ended("not-found", stderr="No such file"), python)
    missing = {"ok": False, "stage": "import", "error_type": "ModuleNotFoundError",
               "error": "No module named 'tensorflow'"}
    line = child_failure(_ended("exit", rc=3, data=missing), python)
    assert line == ("TensorFlow is not installed for /opt/venv/bin/python "
                    "(install it with: /opt/venv/bin/python -m pip install tensorflow)")
    assert "AVX" in child_failure(_ended("signal", rc=-4, signal=4, signal_name="SIGILL"), python)
    assert "out-of-memory" in child_failure(_ended("signal", rc=-9, signal=9, signal_name="SIGKILL"), python)
    assert "--timeout" in child_failure(_ended("timeout", duration_s=300.0), python)
    assert child_failure(_ended("ok", rc=0, data={"ok": True}), python) is None


def test_settings_and_figures_survive_a_replace():
    # the dataclasses are frozen: a derived copy keeps its figures
    run = bench_run(_doc(_device("/CPU:0", "EPYC", 40.0)))
    assert dataclasses.replace(run.cpu, name="x").images_per_second == run.cpu.images_per_second
