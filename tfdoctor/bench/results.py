"""From the bench child's JSON to figures per device, speed-ups and warnings. Pure functions: no I/O.

The child reports times; everything derived (images/s, GFLOP/s, speed-up, warnings) is computed here so that it is
tested without TensorFlow or a GPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tfdoctor.bench.causes import _num, nvml_causes
from tfdoctor.bench.model import ModelCount, layer_table

# CV above this after the time budget: the figure is reported with a warning (the machine was busy)
CV_WARN = 0.05
# fewer timed windows than this: no spread is reported ("too few samples"), the figure is flagged
MIN_WINDOWS = 5
@dataclass(frozen=True)
class DeviceResult:
    """One benchmarked device. Times in ms per training step; `cv` is a fraction (0.02 = 2 %)."""

    device: str
    kind: str  # "cpu" | "gpu"
    name: str
    images_per_second: float | None = None
    step_ms_median: float | None = None
    step_ms_p10: float | None = None
    step_ms_p90: float | None = None
    cv: float | None = None
    gflops: float | None = None
    matmul_gflops: float | None = None
    error: str | None = None
    compute_capability: tuple[int, ...] | None = None
    timing: dict = field(default_factory=dict)
    windows: int = 0  # timed windows the figures come from
    min_windows: int = MIN_WINDOWS
    status: str = "measured"  # measured | failed | over-budget | not-run
    matmul_error: str | None = None
    matmul_n: int | None = None

    @property
    def too_few_samples(self) -> bool:
        """Measured, but from fewer windows than a spread needs: the CV is not reported."""
        return self.error is None and 0 < self.windows < self.min_windows

    def json_fields(self) -> dict:
        """Exactly the per-device fields of `tfdoctor bench --json`."""
        return {
            "device": self.device,
            "name": self.name,
            "images_per_second": _round(self.images_per_second, 1),
            "step_ms_median": _round(self.step_ms_median, 3),
            "step_ms_p10": _round(self.step_ms_p10, 3),
            "step_ms_p90": _round(self.step_ms_p90, 3),
            "cv": _round(self.cv, 4),
            "gflops": _round(self.gflops, 2),
            "matmul_gflops": _round(self.matmul_gflops, 1),
            "windows": self.windows,
            "too_few_samples": self.too_few_samples,
        }


@dataclass(frozen=True)
class BenchRun:
    """A whole run: settings, per-device results, the model's FLOP count, and why no GPU was benchmarked."""

    settings: dict
    devices: tuple[DeviceResult, ...]
    count: ModelCount | None
    gpu_absent_reason: str | None = None
    tensorflow: dict = field(default_factory=dict)
    import_s: float | None = None
    child_s: float | None = None
    peak_rss_mb: float | None = None
    child_pid: int | None = None

    @property
    def cpu(self) -> DeviceResult | None:
        return next((d for d in self.devices if d.kind == "cpu" and d.error is None), None)

    @property
    def gpus(self) -> tuple[DeviceResult, ...]:
        return tuple(d for d in self.devices if d.kind == "gpu")


def _round(value, digits):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return round(float(value), digits)


def images_per_second(batch_size: int, step_ms: float | None) -> float | None:
    """Images per second of a training step: batch / step time."""
    if not step_ms or step_ms <= 0:
        return None
    return batch_size * 1000.0 / step_ms


def achieved_gflops(flops_per_step: int, step_ms: float | None) -> float | None:
    """GFLOP/s reached: the analytic FLOPs of one step over its median time."""
    if not step_ms or step_ms <= 0 or not flops_per_step:
        return None
    return flops_per_step / (step_ms / 1000.0) / 1e9


def over_budget_text(raw: dict, model: str) -> str:
    """Why a device has no figure: its budget ran out before one timed window, and what to do about it."""
    over = raw.get("over_budget") if isinstance(raw.get("over_budget"), dict) else {}
    budget = _num(over.get("budget_s"))
    elapsed = _num(over.get("elapsed_s"))
    phase = str(over.get("phase") or "warm-up")
    budget_txt = f"{budget:g} s" if budget else "time"
    text = f"{model} could not finish one timed window inside its {budget_txt} budget: {phase} was still running"
    if elapsed is not None:
        text += f" at {elapsed:.1f} s"
    step = _num(over.get("last_step_s"))
    if step:
        text += f" (one step takes about {step:.1f} s)"
    return text + ". No figure is reported; raise --max-time or lower --batch-size."


def device_result(raw: dict, batch_size: int, count: ModelCount | None, model: str = "the model",
                  min_windows: int = MIN_WINDOWS) -> DeviceResult:
    """One device's figures from the child's record for it."""
    device = str(raw.get("device", "?"))
    kind = "gpu" if "GPU" in device.upper() else "cpu"
    name = str(raw.get("name") or device)
    cc = raw.get("compute_capability")
    cc_t = tuple(int(v) for v in cc) if isinstance(cc, list) and all(isinstance(v, int) for v in cc) else None
    if raw.get("error"):
        return DeviceResult(device, kind, name, error=str(raw["error"]), compute_capability=cc_t, status="failed")
    if raw.get("not_run"):
        return DeviceResult(device, kind, name, error=str(raw["not_run"]), compute_capability=cc_t, status="not-run")
    timing = raw.get("timing") if isinstance(raw.get("timing"), dict) else {}
    window_ms = timing.get("window_ms") if isinstance(timing.get("window_ms"), list) else []
    kept = timing.get("kept_windows")
    windows = kept if isinstance(kept, int) and not isinstance(kept, bool) and kept >= 0 else len(window_ms)
    median = _num(timing.get("step_ms_median")) if windows else None
    if not median:
        if raw.get("over_budget"):
            return DeviceResult(device, kind, name, error=over_budget_text(raw, model), compute_capability=cc_t,
                                timing=timing, status="over-budget")
        return DeviceResult(device, kind, name, error="no timed window was recorded", compute_capability=cc_t,
                            timing=timing, status="failed")
    matmul = raw.get("matmul") if isinstance(raw.get("matmul"), dict) else {}
    matmul_error = str(matmul["error"]) if matmul.get("error") else None
    if not matmul and raw.get("over_budget"):
        matmul_error = "the budget ran out while the matmul rate was being measured"
    few = windows < min_windows
    return DeviceResult(
        device=device, kind=kind, name=name,
        images_per_second=images_per_second(batch_size, median),
        step_ms_median=median,
        step_ms_p10=None if few else _num(timing.get("step_ms_p10")),
        step_ms_p90=None if few else _num(timing.get("step_ms_p90")),
        cv=None if few else _num(timing.get("cv")),
        gflops=achieved_gflops(count.flops_per_step, median) if count else None,
        matmul_gflops=_num(matmul.get("gflops")),
        compute_capability=cc_t,
        timing=timing,
        windows=windows,
        matmul_n=matmul.get("n") if isinstance(matmul.get("n"), int) else None,
        min_windows=min_windows,
        matmul_error=matmul_error,
    )


def bench_run(data: dict, *, peak_rss_mb: float | None = None) -> BenchRun:
    """The whole run from the child's JSON document (the FLOP count from the layers it built)."""
    settings = data.get("settings") if isinstance(data.get("settings"), dict) else {}
    batch = int(settings.get("batch_size") or 0)
    raws = [d for d in (data.get("devices") or []) if isinstance(d, dict)]
    count = None
    for raw in raws:
        if isinstance(raw.get("layers"), list) and raw["layers"]:
            classes = (raw.get("model") or {}).get("classes")
            count = layer_table(raw["layers"], batch, classes if isinstance(classes, int) else None)
            break
    tf_info = data.get("tensorflow") if isinstance(data.get("tensorflow"), dict) else {}
    model = {"convnet": "The conv-net", "resnet50": "ResNet50"}.get(str(settings.get("model")), "The model")
    min_windows = settings.get("min_windows")
    min_windows = min_windows if isinstance(min_windows, int) and min_windows > 0 else MIN_WINDOWS
    return BenchRun(
        settings=settings,
        devices=tuple(device_result(raw, batch, count, model, min_windows) for raw in raws),
        count=count,
        gpu_absent_reason=data.get("gpu_absent_reason"),
        tensorflow=tf_info,
        import_s=_num(data.get("import_s")),
        child_s=_num(data.get("total_s")),
        peak_rss_mb=peak_rss_mb,
        child_pid=data.get("pid") if isinstance(data.get("pid"), int) else None,
    )


def speedups(run: BenchRun) -> dict[str, float]:
    """Images/s of each GPU over the CPU's (only when both were measured)."""
    cpu = run.cpu
    if cpu is None or not cpu.images_per_second:
        return {}
    return {g.device: g.images_per_second / cpu.images_per_second for g in run.gpus if g.images_per_second}


def verdict(run: BenchRun) -> str:
    """The one line a person reads: 'GPU 0 (NVIDIA ...) is 14.2x faster than the CPU'."""
    ups = speedups(run)
    if ups:
        parts = []
        for g in run.gpus:
            if g.device in ups:
                factor = ups[g.device]
                label = f"GPU {g.device.rsplit(':', 1)[-1]} ({g.name})"
                if factor >= 1:
                    parts.append(f"{label} is {factor:.1f}x faster than the CPU")
                else:
                    parts.append(f"{label} is {1 / factor:.1f}x SLOWER than the CPU")
        return "; ".join(parts) + "."
    measured = [d for d in run.devices if d.images_per_second]
    if len(measured) == 1:
        d = measured[0]
        return f"{d.name} trains {d.images_per_second:,.0f} images/s ({run.settings.get('model', 'model')}, " \
               f"batch {run.settings.get('batch_size')})."
    return "Nothing was measured."


def gpu_warnings(run: BenchRun, nvml_gpus: dict | None = None, peaks: dict | None = None) -> list[str]:
    """Warnings with their likely cause: a device that failed or ran out of its budget, too few samples, an unstable
    measurement, a GPU slower than the CPU, a GPU below its published matmul peak (`peaks`: the comparisons of
    tfdoctor/bench/peak.py), and what NVML showed (PCIe link below its maximum, clocks held down, a power cap, other
    processes on the GPU).

    `nvml_gpus` maps a TensorFlow device ("/GPU:0") to the NVML facts of that GPU (`GpuFacts`, or a dict with the
    same fields), sampled while it was being timed (an idle GPU lowers its PCIe link speed, so an idle sample would
    cry wolf).
    """
    out: list[str] = []
    ups = speedups(run)
    nvml_gpus = nvml_gpus or {}
    peaks = peaks or {}
    budget = run.settings.get("max_time_s")
    for d in run.devices:
        if d.status == "over-budget":
            out.append(f"{d.device} ({d.name}): {d.error}")
            continue
        if d.status == "not-run":
            out.append(f"{d.device} ({d.name}) was {d.error}.")
            continue
        if d.error:
            out.append(f"{d.device} ({d.name}) could not be benchmarked: {d.error.splitlines()[0][:300]}")
            continue
        if d.too_few_samples:
            if d.timing.get("stopped_by") == "windows":
                why, more = "as --windows asked", f"ask for at least {d.min_windows} with --windows"
            else:
                fit = f" in its {budget:g} s budget" if isinstance(budget, (int, float)) else ""
                why, more = f"all that fit{fit}", "raise --max-time"
            out.append(f"{d.device}: too few samples: {d.windows} timed window(s) ({why}); at least {d.min_windows} "
                       f"are needed for a spread, so no CV is reported and the figure is a rough one: {more}.")
        elif d.cv is not None and d.cv > CV_WARN:
            out.append(f"{d.device}: the step time varied by {d.cv:.1%} between windows (over {CV_WARN:.0%}): "
                       "another program was probably using this device or the CPU; the median is still reported.")
    from tfdoctor.bench.peak import peak_warning

    for g in run.gpus:
        if g.error:
            continue
        label = f"GPU {g.device.rsplit(':', 1)[-1]} ({g.name})"
        causes = nvml_causes(nvml_gpus.get(g.device), child_pid=run.child_pid)
        factor = ups.get(g.device)
        below = peak_warning(peaks[g.device]) if g.device in peaks else None
        if factor is not None and factor < 1:
            why = "; ".join(causes) if causes else ("the model may be too small to keep the GPU busy (try "
                                                     "--model resnet50 or a larger --batch-size), or TensorFlow "
                                                     "JIT-compiles PTX for this GPU (run tfdoctor check)")
            out.append(f"{label} is slower than the CPU: likely cause: {why}.")
        if below:
            out.append(below)
        elif causes and not (factor is not None and factor < 1):
            out.append(f"{label} may be slower than it should be: " + "; ".join(causes) + ".")
    return out


def to_json(run: BenchRun, warnings: list[str], no_gpu_line: str | None, peaks: dict | None = None) -> dict:
    """The `--json` document: per device exactly the named fields, plus settings, speed-ups, the FLOP count and each
    GPU's matmul rate against its published peak."""
    ups = speedups(run)
    return {
        "settings": {**run.settings, "tensorflow": run.tensorflow.get("version")},
        "devices": [d.json_fields() for d in run.devices if d.error is None],
        "speedup_vs_cpu": {k: round(v, 2) for k, v in ups.items()},
        "flops_per_step": run.count.flops_per_step if run.count else None,
        "failed_devices": [{"device": d.device, "name": d.name, "status": d.status, "error": d.error}
                           for d in run.devices if d.error],
        "matmul_vs_peak": {k: c.json_fields() for k, c in (peaks or {}).items()},
        "no_gpu": no_gpu_line,
        "warnings": warnings,
        "verdict": verdict(run),
    }
