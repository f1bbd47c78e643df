"""Each GPU's measured matmul rate against its published peak for the precision TensorFlow used (issue 11).

The peaks are tfdoctor/knowledge/gpu_peaks.json (sourced, dense, unknown where no NVIDIA figure was read). Below
PEAK_FLOOR of the peak, the bench names the likely cause it can see from the NVML sample taken while the GPU was
busy (tfdoctor/bench/causes.py). Pure functions: no I/O besides the knowledge file.
"""

from __future__ import annotations

from dataclasses import dataclass

from tfdoctor.bench.causes import nvml_causes
from tfdoctor.bench.results import BenchRun, DeviceResult
from tfdoctor.knowledge.gpu_peaks import UNSUPPORTED, GpuPeak, peak_for_name

# below this share of the published peak, a GPU is named as under-performing (issue 11)
PEAK_FLOOR = 0.70
# the matmul size that comes near a big GPU's peak; a smaller one (a short budget) is named as a cause
FULL_MATMUL_N = 8192
LABEL = {"fp32": "FP32", "tf32": "TF32", "fp16": "FP16 tensor-core", "bf16": "BF16 tensor-core"}


@dataclass(frozen=True)
class PeakComparison:
    """One GPU's matmul rate against the table. `fraction` None when there is nothing to compare (`unknown` says
    why); `causes` only when `below_floor`."""

    device: str
    name: str
    model: str | None = None
    precision: str | None = None
    peak_tflops: float | None = None
    measured_tflops: float | None = None
    fraction: float | None = None
    source: str | None = None
    status: str | None = None
    unknown: str | None = None
    causes: tuple[str, ...] = ()
    matmul_n: int | None = None

    @property
    def below_floor(self) -> bool:
        return self.fraction is not None and self.fraction < PEAK_FLOOR

    def json_fields(self) -> dict:
        """The `matmul_vs_peak` entry of `tfdoctor bench --json`."""
        return {"model": self.model, "precision": self.precision, "peak_tflops": self.peak_tflops,
                "measured_tflops": None if self.measured_tflops is None else round(self.measured_tflops, 2),
                "fraction": None if self.fraction is None else round(self.fraction, 3),
                "below_floor": self.below_floor, "floor": PEAK_FLOOR, "source": self.source, "status": self.status,
                "unknown": self.unknown, "causes": list(self.causes)}


def first_url(text: str | None) -> str | None:
    """The first https:// address in a source string (for a one-line citation)."""
    if not text or "https://" not in text:
        return None
    tail = text[text.index("https://"):]
    for stop in (" ", ";", ",", ")", "\""):
        tail = tail.split(stop, 1)[0]
    return tail


def matmul_precision(setting: str, tf32_enabled, compute_capability, row: GpuPeak | None) -> tuple[str | None, str]:
    """Which published peak applies to the bench's matmul: (precision, "") or (None, why it cannot be told).

    fp32 runs as TF32 on the tensor cores of Ampere and newer while TensorFlow's TF32 execution is on (its default);
    mixed_float16 and mixed_bfloat16 compute in float16 / bfloat16 with FP32 accumulation."""
    if setting == "mixed_float16":
        return "fp16", ""
    if setting == "mixed_bfloat16":
        return "bf16", ""
    if row is not None and row.peak("tf32") == UNSUPPORTED:
        return "fp32", ""
    major = compute_capability[0] if compute_capability else None
    if major is None and row is not None:
        try:
            major = int(row.compute_capability.split(".")[0])
        except ValueError:
            major = None
    if major is not None and major < 8:
        return "fp32", ""
    if tf32_enabled is True:
        return "tf32", ""
    if tf32_enabled is False:
        return "fp32", ""
    return None, "TensorFlow did not say whether TF32 execution is on, so the FP32 and TF32 peaks cannot be told apart"


def compare(gpu: DeviceResult, run: BenchRun, facts=None) -> PeakComparison:
    """The comparison for one benchmarked GPU; `facts` its NVML sample (or None when NVML was not read)."""
    base = {"device": gpu.device, "name": gpu.name, "matmul_n": gpu.matmul_n}
    row = peak_for_name(gpu.name)
    if row is None:
        return PeakComparison(**base, unknown=f"{gpu.name} is not in tfdoctor's table of published peaks")
    precision, why = matmul_precision(str(run.settings.get("precision") or "fp32"),
                                      run.tensorflow.get("tf32_enabled"), gpu.compute_capability, row)
    base.update(model=row.model, source=first_url(row.source), status=row.status)
    if precision is None:
        return PeakComparison(**base, unknown=why)
    peak = row.peak(precision)
    if peak == UNSUPPORTED:
        return PeakComparison(**base, precision=precision,
                              unknown=f"the {row.model} has no {LABEL[precision]} path")
    if peak is None:
        return PeakComparison(**base, precision=precision,
                              unknown=f"no published {LABEL[precision]} peak for the {row.model} was read into "
                                      "tfdoctor's table")
    if not gpu.matmul_gflops:
        return PeakComparison(**base, precision=precision, peak_tflops=peak,
                              unknown="the matmul rate was not measured" + (f" ({gpu.matmul_error})"
                                                                            if gpu.matmul_error else ""))
    measured = gpu.matmul_gflops / 1000.0
    fraction = measured / peak
    causes: tuple[str, ...] = ()
    if fraction < PEAK_FLOOR:
        found = nvml_causes(facts, child_pid=run.child_pid, board_power_w=row.board_power_w)
        if gpu.matmul_n and gpu.matmul_n < FULL_MATMUL_N:
            found.append(f"the matmul was only {gpu.matmul_n}x{gpu.matmul_n} (the time budget left no room for "
                         f"{FULL_MATMUL_N}x{FULL_MATMUL_N}), too small to come near the peak: raise --max-time")
        if not found:
            found = [("NVML could not be read while it ran, so no cause can be seen (install nvidia-ml-py for "
                      "tfdoctor, or watch `nvidia-smi -q -d PERFORMANCE,POWER` during a run)") if facts is None else
                     ("NVML showed none of the usual causes while it ran (clock event reasons, power limit, PCIe "
                      "link and other processes looked normal)")]
        causes = tuple(found)
    return PeakComparison(**base, precision=precision, peak_tflops=peak, measured_tflops=measured,
                          fraction=fraction, causes=causes)


def peak_comparisons(run: BenchRun, nvml_gpus: dict | None = None) -> dict[str, PeakComparison]:
    """A comparison per measured GPU, keyed by its TensorFlow device ("/GPU:0")."""
    nvml_gpus = nvml_gpus or {}
    return {g.device: compare(g, run, nvml_gpus.get(g.device)) for g in run.gpus if g.error is None}


def peak_warning(c: PeakComparison) -> str | None:
    """The warning line for a GPU below PEAK_FLOOR of its peak, with its likely cause; None otherwise."""
    if not c.below_floor:
        return None
    label = f"GPU {c.device.rsplit(':', 1)[-1]} ({c.name})"
    cite = f"{c.model}, {c.source}" if c.source else c.model
    return (f"{label} reaches {c.fraction:.0%} of its published {LABEL[c.precision]} peak in a dense matmul "
            f"({c.measured_tflops:,.1f} of {c.peak_tflops:,.1f} TFLOP/s; {cite}), below {PEAK_FLOOR:.0%}: likely "
            "cause: " + "; ".join(c.causes) + ".")
