"""From the bench child's JSON to figures per device, speed-ups and warnings. Pure functions: no I/O.

The child reports times; everything derived (images/s, GFLOP/s, speed-up, warnings) is computed here so that it is
tested without TensorFlow or a GPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tfdoctor.bench.model import ModelCount, layer_table

# CV above this after the time budget: the figure is reported with a warning (the machine was busy)
CV_WARN = 0.05
# Clock event reasons that do not slow a busy GPU down: idle (no work), application clocks (a user setting),
# display clock and sync boost (informational). The rest (power cap, thermal, HW slowdown) do.
_HARMLESS_THROTTLE = {"gpu_idle", "applications_clocks_setting", "display_clock_setting", "sync_boost"}
_THROTTLE_CAUSE = {
    "sw_power_cap": "the board is at its power limit",
    "hw_slowdown": "hardware slowdown (power brake or overheating)",
    "sw_thermal_slowdown": "the GPU is too hot (software thermal slowdown)",
    "hw_thermal_slowdown": "the GPU is too hot (hardware thermal slowdown)",
    "hw_power_brake_slowdown": "the power supply asserted the power brake",
}


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


def _num(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


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


def device_result(raw: dict, batch_size: int, count: ModelCount | None) -> DeviceResult:
    """One device's figures from the child's record for it."""
    device = str(raw.get("device", "?"))
    kind = "gpu" if "GPU" in device.upper() else "cpu"
    name = str(raw.get("name") or device)
    cc = raw.get("compute_capability")
    cc_t = tuple(int(v) for v in cc) if isinstance(cc, list) and all(isinstance(v, int) for v in cc) else None
    if raw.get("error"):
        return DeviceResult(device, kind, name, error=str(raw["error"]), compute_capability=cc_t)
    timing = raw.get("timing") if isinstance(raw.get("timing"), dict) else {}
    median = _num(timing.get("step_ms_median"))
    matmul = raw.get("matmul") if isinstance(raw.get("matmul"), dict) else {}
    return DeviceResult(
        device=device, kind=kind, name=name,
        images_per_second=images_per_second(batch_size, median),
        step_ms_median=median,
        step_ms_p10=_num(timing.get("step_ms_p10")),
        step_ms_p90=_num(timing.get("step_ms_p90")),
        cv=_num(timing.get("cv")),
        gflops=achieved_gflops(count.flops_per_step, median) if count else None,
        matmul_gflops=_num(matmul.get("gflops")),
        compute_capability=cc_t,
        timing=timing,
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
    return BenchRun(
        settings=settings,
        devices=tuple(device_result(raw, batch, count) for raw in raws),
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


def _get(obj, name):
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def gpu_warnings(run: BenchRun, nvml_gpus: dict | None = None) -> list[str]:
    """Warnings with their likely cause: a GPU slower than the CPU, PCIe link below its maximum, clock throttling,
    other processes on the GPU, an unstable measurement, a device that failed.

    `nvml_gpus` maps a TensorFlow device ("/GPU:0") to the NVML facts of that GPU (`GpuFacts`, or a dict with the
    same fields), sampled while it was being timed (an idle GPU lowers its PCIe link speed, so an idle sample would
    cry wolf).
    """
    out: list[str] = []
    ups = speedups(run)
    nvml_gpus = nvml_gpus or {}
    for d in run.devices:
        if d.error:
            out.append(f"{d.device} ({d.name}) could not be benchmarked: {d.error.splitlines()[0][:300]}")
            continue
        if d.cv is not None and d.cv > CV_WARN:
            out.append(f"{d.device}: the step time varied by {d.cv:.1%} between windows (over {CV_WARN:.0%}): "
                       "another program was probably using this device or the CPU; the median is still reported.")
    for g in run.gpus:
        if g.error:
            continue
        label = f"GPU {g.device.rsplit(':', 1)[-1]} ({g.name})"
        facts = nvml_gpus.get(g.device)
        causes = []
        if facts is not None:
            gen, gen_max = _get(facts, "pcie_gen"), _get(facts, "pcie_gen_max")
            width, width_max = _get(facts, "pcie_width"), _get(facts, "pcie_width_max")
            if isinstance(width, int) and isinstance(width_max, int) and width < width_max:
                causes.append(f"its PCIe link runs at x{width} of x{width_max} (seat the card in a full-width slot, "
                              "check the riser)")
            if isinstance(gen, int) and isinstance(gen_max, int) and gen < gen_max:
                causes.append(f"its PCIe link runs at gen {gen} of gen {gen_max} while busy (check the slot and the "
                              "BIOS PCIe setting)")
            reasons = [r for r in (_get(facts, "throttle_reasons") or ()) if r not in _HARMLESS_THROTTLE]
            if reasons:
                causes.append("its clocks were held down: " + ", ".join(_THROTTLE_CAUSE.get(r, r) for r in reasons))
            others = [p for p in (_get(facts, "processes") or ()) if _get(p, "pid") != run.child_pid]
            if others:
                names = ", ".join(f"{_get(p, 'name') or '?'} (pid {_get(p, 'pid')})" for p in others[:3])
                causes.append(f"{len(others)} other process(es) use it: {names}")
        factor = ups.get(g.device)
        if factor is not None and factor < 1:
            why = "; ".join(causes) if causes else ("the model may be too small to keep the GPU busy (try "
                                                     "--model resnet50 or a larger --batch-size), or TensorFlow "
                                                     "JIT-compiles PTX for this GPU (run tfdoctor check)")
            out.append(f"{label} is slower than the CPU: likely cause: {why}.")
        elif causes:
            out.append(f"{label} may be slower than it should be: " + "; ".join(causes) + ".")
    return out


def to_json(run: BenchRun, warnings: list[str], no_gpu_line: str | None) -> dict:
    """The `--json` document: per device exactly the named fields, plus settings, speed-ups and the FLOP count."""
    ups = speedups(run)
    return {
        "settings": {**run.settings, "tensorflow": run.tensorflow.get("version")},
        "devices": [d.json_fields() for d in run.devices if d.error is None],
        "speedup_vs_cpu": {k: round(v, 2) for k, v in ups.items()},
        "flops_per_step": run.count.flops_per_step if run.count else None,
        "failed_devices": [{"device": d.device, "name": d.name, "error": d.error} for d in run.devices if d.error],
        "no_gpu": no_gpu_line,
        "warnings": warnings,
        "verdict": verdict(run),
    }
