"""Console output of `tfdoctor bench`: the device table with a bar of images/s, the verdict, the warnings, and with
-v the model layer by layer. rich is imported inside the functions (start-up stays light)."""

from __future__ import annotations

import math

from tfdoctor.bench.model import ModelCount
from tfdoctor.bench.results import BenchRun, verdict

BAR_WIDTH = 12
MODEL_TITLE = {"convnet": "conv-net (2 conv + 1 dense)", "resnet50": "ResNet50"}


def bar(value: float | None, top: float | None, width: int = BAR_WIDTH) -> str:
    """A bar of `width` cells for value/top, eighths of a cell for the tail."""
    if not value or not top or top <= 0 or not math.isfinite(value):
        return ""
    cells = max(0.0, min(1.0, value / top)) * width
    full = int(cells)
    eighths = int(round((cells - full) * 8))
    if eighths == 8:
        full, eighths = full + 1, 0
    return "█" * full + (" ▏▎▍▌▋▊▉"[eighths] if eighths else "")


def settings_line(run: BenchRun) -> str:
    """What was run: model, batch, precision, XLA, TensorFlow version."""
    s = run.settings
    model = MODEL_TITLE.get(s.get("model"), s.get("model"))
    return (f"{model}, batch {s.get('batch_size')}, {s.get('precision')}, XLA {'on' if s.get('jit') else 'off'}"
            f" — TensorFlow {run.tensorflow.get('version', '?')}")


def _fmt(value, spec: str, none: str = "—") -> str:
    return format(value, spec) if isinstance(value, (int, float)) and math.isfinite(value) else none


def model_rows(count: ModelCount) -> list[tuple[str, str, str, str, str, str]]:
    """(layer, kind, output shape, params, FLOPs per training step, share) per layer, for -v."""
    total = count.flops_per_step or 1
    rows = []
    for layer in count.layers:
        step = layer.train_flops * count.batch_size
        shape = "×".join(str(d) for d in layer.output_shape)
        rows.append((layer.name, layer.kind + ("" if layer.counted else " (not counted)"), shape,
                     f"{layer.params:,}", _human(step), f"{step / total:.1%}"))
    rows.append(("optimizer", "Adam update", "", "", _human(count.optimizer_flops),
                 f"{count.optimizer_flops / total:.1%}"))
    return rows


def _human(flops: float) -> str:
    for unit, scale in (("GFLOP", 1e9), ("MFLOP", 1e6), ("kFLOP", 1e3)):
        if flops >= scale:
            return f"{flops / scale:,.2f} {unit}"
    return f"{flops:,.0f} FLOP"


def render(run: BenchRun, warnings: list[str], no_gpu_line: str | None, verbose: bool = False, file=None,
           width: int | None = None) -> None:
    """Print the report of a run."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=file, width=width, highlight=False)
    console.print(Text("tfdoctor bench: ", style="bold") + Text(settings_line(run)))
    if verbose and run.count:
        c = run.count
        table = Table(title=f"Model: {c.params:,} parameters, {_human(c.flops_per_step)} per training step "
                            f"(batch {c.batch_size}; forward {_human(c.forward_flops_per_image)} per image)",
                      title_justify="left")
        for col, justify in (("layer", "left"), ("kind", "left"), ("output", "right"), ("params", "right"),
                             ("FLOPs/step", "right"), ("share", "right")):
            table.add_column(col, justify=justify)
        for row in model_rows(c):
            table.add_row(*row)
        console.print(table)
        console.print("FLOPs/step = per-image forward × (1 + input gradient + weight gradient) × batch; "
                      "see docs/bench.md.", style="dim")
    measured = [d for d in run.devices if d.images_per_second]
    top = max((d.images_per_second for d in measured), default=None)
    table = Table(show_edge=False, pad_edge=False, box=None, collapse_padding=True)
    # the figures never wrap; on a narrow terminal the name (last) wraps instead
    for col, justify in (("device", "left"), ("images/s", "right"), ("", "left"), ("ms/step (p10–p90)", "right"),
                         ("CV", "right"), ("GFLOP/s", "right"), ("matmul", "right")):
        table.add_column(col, justify=justify, no_wrap=True)
    table.add_column("name", justify="left")
    for d in run.devices:
        label = "CPU" if d.kind == "cpu" else f"GPU {d.device.rsplit(':', 1)[-1]}"
        if d.error:
            table.add_row(label, "failed", "", "", "", "", "", d.name)
            continue
        table.add_row(
            label, _fmt(d.images_per_second, ",.0f"), bar(d.images_per_second, top),
            f"{_fmt(d.step_ms_median, '.2f')} ({_fmt(d.step_ms_p10, '.1f')}–{_fmt(d.step_ms_p90, '.1f')})",
            _fmt(d.cv * 100 if d.cv is not None else None, ".1f") + "%",
            _fmt(d.gflops, ",.1f"), _fmt(d.matmul_gflops, ",.0f"), d.name)
    console.print(table)
    console.print("ms/step: median of the timed windows; GFLOP/s: the step's counted FLOPs / median time; "
                  "matmul: this device's dense matmul GFLOP/s, for scale.", style="dim")
    if verbose:
        for d in run.devices:
            t = d.timing
            if t:
                console.print(f"{d.device}: {t.get('warmup_steps')} warm-up steps ({_fmt(t.get('warmup_s'), '.1f')} s)"
                              f" not timed; {t.get('kept_windows')} of {len(t.get('window_ms') or [])} windows of "
                              f"{t.get('steps_per_window')} steps kept; {t.get('steps_timed')} steps in "
                              f"{_fmt(t.get('timed_s'), '.1f')} s timed; stopped: {t.get('stopped_by')}.",
                              style="dim")
        if run.import_s is not None:
            console.print(f"TensorFlow import {run.import_s:.1f} s; child {_fmt(run.child_s, '.1f')} s; child peak "
                          f"memory {_fmt(run.peak_rss_mb, ',.0f')} MB.", style="dim")
    # soft_wrap: these lines are meant to be grepped and pasted whole; the terminal wraps them, rich does not
    console.print(Text(verdict(run), style="bold"), soft_wrap=True)
    if no_gpu_line:
        console.print(no_gpu_line, soft_wrap=True)
    for w in warnings:
        console.print(Text("warning: ", style="yellow bold") + Text(w), soft_wrap=True)
