"""Console output of `tfdoctor bench`: the device table, the verdict, the warnings, and with -v the model layer by
layer. rich is imported inside the functions (start-up stays light).

The device table is plain text laid out here (`table_lines`), so that it never truncates a number: columns are
dropped, in a fixed order, until the rest fits the terminal (the p10-p90 range, then the names, which move below the
table); below the width of the figures themselves each device gets its own block of lines. When the output is not a
terminal there is no width: every column, the names inline, nothing wrapped, no bar.
"""

from __future__ import annotations

import math

from tfdoctor.bench.model import ModelCount
from tfdoctor.bench.results import BenchRun, DeviceResult, verdict

BAR_WIDTH = 12
MODEL_TITLE = {"convnet": "conv-net (2 conv + 1 dense)", "resnet50": "ResNet50"}
GAP = "  "  # between columns
STATUS_TEXT = {"failed": "failed", "over-budget": "over budget", "not-run": "not run"}


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


def clean(text: str, ascii_only: bool = False) -> str:
    """Machine text (a device name) made safe for a terminal: control characters become "?"."""
    out = "".join(ch if ch.isprintable() else "?" for ch in str(text))
    if ascii_only:
        from tfdoctor.report.console import ascii_text

        out = ascii_text(out).encode("ascii", "replace").decode("ascii")
    return out


def device_label(d: DeviceResult) -> str:
    return "CPU" if d.kind == "cpu" else f"GPU {d.device.rsplit(':', 1)[-1]}"


def _cells(d: DeviceResult, peaks: dict, top: float | None, bars: bool) -> dict:
    """The table's cells for one device, by column key."""
    cells = {"device": device_label(d), "name": d.name}
    if d.error:
        cells["images/s"] = STATUS_TEXT.get(d.status, "failed")
        return cells
    ips = d.images_per_second
    cells["images/s"] = _fmt(ips, ",.0f" if ips is not None and ips >= 100 else ",.1f")
    cells["bar"] = bar(d.images_per_second, top) if bars else ""
    cells["ms/step"] = _fmt(d.step_ms_median, ",.2f")
    if d.step_ms_p10 is not None and d.step_ms_p90 is not None:
        cells["p10-p90"] = f"{_fmt(d.step_ms_p10, ',.1f')}-{_fmt(d.step_ms_p90, ',.1f')}"
    cells["CV"] = f"n={d.windows}" if d.too_few_samples else _fmt(d.cv * 100 if d.cv is not None else None, ".1f") + "%"
    cells["GFLOP/s"] = _fmt(d.gflops, ",.1f")
    cells["matmul"] = _fmt(d.matmul_gflops, ",.0f")
    c = peaks.get(d.device)
    if c is not None and c.fraction is not None:
        cells["peak"] = f"{c.fraction:.0%}"
    return cells


# (key, header, right-aligned); the order of the columns in the table
_COLUMNS = (("device", "device", False), ("images/s", "images/s", True), ("bar", "", False),
            ("ms/step", "ms/step", True), ("p10-p90", "p10-p90", True), ("CV", "CV", True),
            ("GFLOP/s", "GFLOP/s", True), ("matmul", "matmul", True), ("peak", "peak", True), ("name", "name", False))
# columns that go when the width is short, first to go first
_OPTIONAL = ("bar", "name", "p10-p90")


def table_lines(run: BenchRun, width: int | None = None, bars: bool = False, peaks: dict | None = None,
                ascii_only: bool = False) -> list[str]:
    """The device table as plain lines, none longer than `width` (None: no limit, names inline, for a pipe).

    Numbers are never cut: optional columns go first (bar, then names, which are listed below the table instead,
    then the p10-p90 range); if even the figures do not fit, each device becomes a block of "key: value" lines."""
    peaks = peaks or {}
    measured = [d for d in run.devices if d.images_per_second]
    top = max((d.images_per_second for d in measured), default=None)
    rows = [_cells(d, peaks, top, bars) for d in run.devices]
    for r in rows:
        r["name"] = clean(r["name"], ascii_only)
    keys = [k for k, _, _ in _COLUMNS if k == "device" or k == "images/s" or any(r.get(k) for r in rows)]
    headers = {k: h for k, h, _ in _COLUMNS}
    right = {k for k, _, r in _COLUMNS if r}

    def widths(cols):
        return {k: max([len(headers[k])] + [len(r.get(k, "")) for r in rows]) for k in cols}

    def total(cols):
        w = widths(cols)
        return sum(w.values()) + len(GAP) * (len(cols) - 1)

    cols = list(keys)
    if width is not None:
        for k in _OPTIONAL:
            if k in cols and total(cols) > width:
                cols.remove(k)
        if total(cols) > width:
            return _blocks(rows, keys, headers, width)
    w = widths(cols)

    def line(cells):
        parts = []
        for k in cols:
            text = cells.get(k, "")
            last = k == cols[-1]
            parts.append(text.rjust(w[k]) if k in right else (text if last else text.ljust(w[k])))
        return GAP.join(parts).rstrip()

    out = [line(headers), *[line(r) for r in rows]]
    if "name" not in cols:
        out += [f"{r['device']}: {r['name']}" for r in rows]
    return out


def _blocks(rows: list[dict], keys: list[str], headers: dict, width: int) -> list[str]:
    """The narrowest layout: per device its label and name, then one "key: value" per line."""
    out = []
    for r in rows:
        out.append(f"{r['device']}: {r['name']}")
        for k in keys:
            if k in ("device", "name", "bar") or not r.get(k):
                continue
            out.append(f"  {headers[k]}: {r[k]}")
    return out


def render(run: BenchRun, warnings: list[str], no_gpu_line: str | None, verbose: bool = False, file=None,
           width: int | None = None, peaks: dict | None = None) -> None:
    """Print the report of a run. `width`: the terminal's columns (None: rich's guess on a terminal, no limit for the
    table when the output is not a terminal)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from tfdoctor.report.console import _utf8

    console = Console(file=file, width=width, highlight=False)
    terminal = console.is_terminal
    ascii_only = not _utf8(console.file)
    table_width = console.width if (terminal or width is not None) else None
    console.print(Text("tfdoctor bench: ", style="bold") + Text(clean(settings_line(run), ascii_only)), soft_wrap=True)
    if verbose and run.count:
        c = run.count
        table = Table(title=f"Model: {c.params:,} parameters, {_human(c.flops_per_step)} per training step "
                            f"(batch {c.batch_size}; forward {_human(c.forward_flops_per_image)} per image)",
                      title_justify="left")
        # the figures never wrap or shorten; the layer name and kind fold when the terminal is narrow
        for col, justify, fold in (("layer", "left", True), ("kind", "left", True), ("output", "right", False),
                                   ("params", "right", False), ("FLOPs/step", "right", False),
                                   ("share", "right", False)):
            table.add_column(col, justify=justify, overflow="fold" if fold else "ignore", no_wrap=not fold)
        for row in model_rows(c):
            table.add_row(*(Text(v) for v in row))
        console.print(table)
        console.print("FLOPs/step = per-image forward x (1 + input gradient + weight gradient) x batch; "
                      "see docs/bench.md.", style="dim")
    measured = [d for d in run.devices if d.images_per_second]
    lines = table_lines(run, width=table_width, bars=terminal and not ascii_only, peaks=peaks, ascii_only=ascii_only)
    for i, text in enumerate(lines):
        console.print(Text(text, style="bold" if i == 0 else ""), soft_wrap=True)
    notes = ["ms/step: median of the timed windows", "GFLOP/s: the step's counted FLOPs / median time",
             "matmul: this device's dense matmul GFLOP/s"]
    if any(c.fraction is not None for c in (peaks or {}).values()):
        notes.append("peak: matmul over the GPU's published peak for this precision")
    if any(d.too_few_samples for d in run.devices):
        notes.append("n=k: only k timed windows, too few for a spread")
    if measured:
        console.print("; ".join(notes) + ".", style="dim", soft_wrap=not terminal)
    if verbose:
        for d in run.devices:
            t = d.timing
            if t:
                console.print(f"{d.device}: {t.get('warmup_steps')} warm-up steps ({_fmt(t.get('warmup_s'), '.1f')} s)"
                              f" not timed; {t.get('kept_windows')} of {len(t.get('window_ms') or [])} windows of "
                              f"{t.get('steps_per_window')} steps kept; {t.get('steps_timed')} steps in "
                              f"{_fmt(t.get('timed_s'), '.1f')} s timed; stopped: {t.get('stopped_by')}.",
                              style="dim")
        for c in (peaks or {}).values():
            if c.fraction is None and c.unknown:
                console.print(Text(f"{c.device}: no peak comparison: {clean(c.unknown, ascii_only)}.", style="dim"))
        if run.import_s is not None:
            console.print(f"TensorFlow import {run.import_s:.1f} s; child {_fmt(run.child_s, '.1f')} s; child peak "
                          f"memory {_fmt(run.peak_rss_mb, ',.0f')} MB.", style="dim")
    # soft_wrap: these lines are meant to be grepped and pasted whole; the terminal wraps them, rich does not
    console.print(Text(clean(verdict(run), ascii_only), style="bold"), soft_wrap=True)
    if no_gpu_line:
        console.print(Text(clean(no_gpu_line, ascii_only)), soft_wrap=True)
    for w in warnings:
        console.print(Text("warning: ", style="yellow bold") + Text(clean(w, ascii_only)), soft_wrap=True)
