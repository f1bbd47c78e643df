"""The device table fits the terminal without cutting a number, and a pipe gets one plain line per device.

Issue 14: at 60 columns the old rich table truncated the figures, and when piped the device name wrapped into three
lines. The child documents here are written in the bench child's own format (synthesised, no run produced them).
"""

from __future__ import annotations

import io

import pytest

from tfdoctor.bench.model import convnet_records
from tfdoctor.bench.peak import peak_comparisons
from tfdoctor.bench.report import clean, render, table_lines
from tfdoctor.bench.results import bench_run

LONG_CPU = "AMD EPYC 7B13 64-Core Processor"
LONG_GPU = "NVIDIA A100-SXM4-80GB"


def _device(device, name, median_ms, windows=10, matmul=100.0, cc=None):
    return {"device": device, "name": name, "layers": convnet_records(), "model": {"classes": 10},
            "compute_capability": cc,
            "timing": {"step_ms_median": median_ms, "step_ms_p10": median_ms * 0.95, "step_ms_p90": median_ms * 1.05,
                       "cv": 0.012, "window_ms": [median_ms] * windows, "kept_windows": windows},
            "matmul": {"gflops": matmul, "n": 8192 if "GPU" in device else 1024}}


def _run():
    doc = {"ok": True, "pid": 1, "tensorflow": {"version": "2.21.0", "tf32_enabled": True},
           "settings": {"model": "resnet50", "batch_size": 64, "precision": "fp32", "max_time_s": 120},
           "devices": [_device("/CPU:0", LONG_CPU, 20859.28, matmul=66.3),
                       _device("/GPU:0", LONG_GPU, 123.456, matmul=143520.0, cc=[8, 0]),
                       _device("/GPU:1", LONG_GPU, 98765.4321, windows=2, matmul=12345.0, cc=[8, 0])]}
    run = bench_run(doc)
    return run, peak_comparisons(run, {})


def _figures(run, peaks):
    """Every figure the table must show whole, per device label."""
    return {"CPU": ["20,859.28", "66"], "GPU 0": ["123.46", "143,520", "92%"], "GPU 1": ["98,765.43", "n=2"]}


@pytest.mark.parametrize("width", [60, 72, 80, 100])
def test_no_line_is_wider_than_the_terminal_and_no_figure_is_cut(width):
    run, peaks = _run()
    lines = table_lines(run, width=width, peaks=peaks)
    names = {f"CPU: {LONG_CPU}", f"GPU 0: {LONG_GPU}", f"GPU 1: {LONG_GPU}"}
    for line in lines:
        if line not in names:  # a name listed under the table may be longer: the terminal wraps a name, not a figure
            assert len(line) <= width, (width, line)
    text = "\n".join(lines)
    for label, figures in _figures(run, peaks).items():
        row = next((ln for ln in lines if ln.startswith(label + " ")), None) or text
        for figure in figures:
            assert figure in row, (width, label, figure)


def test_at_60_columns_the_names_move_below_the_table():
    run, peaks = _run()
    lines = table_lines(run, width=60, peaks=peaks)
    assert lines[0].split()[:2] == ["device", "images/s"]
    assert f"CPU: {LONG_CPU}" in lines and f"GPU 0: {LONG_GPU}" in lines


def test_narrower_than_the_figures_each_device_gets_its_own_lines():
    run, peaks = _run()
    lines = table_lines(run, width=30, peaks=peaks)
    assert f"GPU 0: {LONG_GPU}" in lines
    assert "  ms/step: 20,859.28" in lines and "  matmul: 143,520" in lines
    assert all(len(ln) <= 30 for ln in lines if not ln.startswith(("CPU:", "GPU")))


def test_piped_output_keeps_each_device_on_one_line_with_its_name():
    run, peaks = _run()
    out = io.StringIO()  # not a terminal: no width, no bar
    render(run, [], None, file=out, peaks=peaks)
    lines = out.getvalue().splitlines()
    header = next(i for i, ln in enumerate(lines) if ln.startswith("device "))
    assert lines[header].rstrip().endswith("name")
    rows = lines[header + 1:header + 4]
    assert [r.split()[0] for r in rows] == ["CPU", "GPU", "GPU"]
    assert rows[0].endswith(LONG_CPU) and "20,859.28" in rows[0]
    assert rows[1].endswith(LONG_GPU) and "92%" in rows[1]
    # never wrapped over several lines: wherever a part of a name shows, the whole name is on that line
    assert all(LONG_GPU in ln for ln in lines if "A100" in ln or "SXM4" in ln)
    assert all(LONG_CPU in ln for ln in lines if "EPYC" in ln or "64-Core" in ln)
    assert "█" not in out.getvalue()


def test_a_device_name_cannot_drive_the_terminal():
    assert clean("evil\x1b[2J\x07name") == "evil?[2J?name"
    assert clean("NVIDIA GeForce RTX 4090 — ×", ascii_only=True) == "NVIDIA GeForce RTX 4090 - x"
    run = bench_run({"settings": {"model": "convnet", "batch_size": 128}, "tensorflow": {},
                     "devices": [_device("/CPU:0", "[bold]x[/bold]\x1b]0;t\x07", 40.0)]})
    out = io.StringIO()
    render(run, [], None, file=out)
    assert "\x1b" not in out.getvalue() and "[bold]x[/bold]" in out.getvalue()
