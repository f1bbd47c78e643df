"""Prometheus text exposition format, for node_exporter's textfile collector (`--prometheus FILE`).

Metric design (documented in docs/ci.md):
- `tfdoctor_finding_status{id, area, status}`: one-hot across the six statuses (ok, info, skip, warn, fail, error),
  like kube-state-metrics' `kube_pod_status_phase`, so an alert is `tfdoctor_finding_status{status="fail"} == 1`
  and a dashboard can count with `sum by (status)`. A numeric code would force every query to know our ordering.
- `tfdoctor_findings{status}`: how many findings have each status.
- `tfdoctor_check_ok`: 1 when the check passed (exit status 0), else 0.
- `tfdoctor_root_cause_info{id}`: 1 for the root cause, absent when there is none.
- `tfdoctor_node_info{nodename}`: 1, naming the node (like node_exporter's `node_uname_info{nodename}`), absent
  when the name is redacted (--hostname redact, or a replayed snapshot). A label on one info metric rather than on
  every series: the series keep their identity if a node is renamed, and PromQL joins it where a query needs it.
- `tfdoctor_last_run_timestamp_seconds`, `tfdoctor_check_duration_seconds`, `tfdoctor_build_info{version}`.
- Per GPU, from the NVML facts: labels `gpu` and `pci_bus_id` as dcgm-exporter names them, so dashboards can
  join the two, and `model_name` (dcgm-exporter's `modelName` in snake case, so that `promtool check metrics` is
  clean); values in base units (bytes, celsius, watts, ratio 0..1).
No sample carries a timestamp: the textfile collector rejects them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

from tfdoctor import __version__, catalogue
from tfdoctor.model import Report, Status

MIB = 1024 * 1024

# (metric name, type, help, NVML fact key, scale). Each fact is optional: a GPU that does not support a field
# (None, "N/A", absent) simply has no sample for it.
GPU_METRICS: tuple[tuple[str, str, str, str, float], ...] = (
    ("tfdoctor_gpu_memory_used_bytes", "gauge", "GPU framebuffer memory in use, from NVML.", "memory_used_mib", MIB),
    ("tfdoctor_gpu_memory_total_bytes", "gauge", "GPU framebuffer memory in total, from NVML.", "memory_total_mib",
     MIB),
    ("tfdoctor_gpu_temperature_celsius", "gauge", "GPU core temperature, from NVML.", "temperature_c", 1.0),
    ("tfdoctor_gpu_power_watts", "gauge", "GPU power draw, from NVML.", "power_w", 1.0),
    ("tfdoctor_gpu_utilization_ratio", "gauge", "Fraction of the last sample period a kernel ran on the GPU (0..1), "
     "from NVML.", "utilization_gpu_pct", 0.01),
    ("tfdoctor_gpu_pcie_link_generation", "gauge", "Current PCIe link generation (drops when idle).", "pcie_gen", 1.0),
    ("tfdoctor_gpu_pcie_link_generation_max", "gauge", "Maximum PCIe link generation of the GPU and slot.",
     "pcie_gen_max", 1.0),
    ("tfdoctor_gpu_pcie_link_width_lanes", "gauge", "Current PCIe link width in lanes.", "pcie_width", 1.0),
    ("tfdoctor_gpu_pcie_link_width_lanes_max", "gauge", "Maximum PCIe link width in lanes.", "pcie_width_max", 1.0),
)
ECC_METRIC = "tfdoctor_gpu_ecc_errors_total"
ECC_KEYS = (("corrected", "ecc_corrected"), ("uncorrected", "ecc_uncorrected"))


def escape_label_value(value: object) -> str:
    """Escape a label value as the exposition format requires (backslash, double quote, newline), after the
    sanitiser has shown its control characters escaped (a GPU name from a snapshot can hold ESC or BEL)."""
    from tfdoctor.report.sanitize import clean

    return clean(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _labels(pairs: Iterable[tuple[str, object]]) -> str:
    inner = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in pairs)
    return "{" + inner + "}" if inner else ""


def _number(value: object) -> float | None:
    """A finite number from a fact, or None (bools, "N/A", NaN and junk are not numbers here)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _fmt(value: float) -> str:
    return str(int(value)) if value == int(value) and abs(value) < 2**53 else repr(value)


class _Writer:
    def __init__(self):
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_: str, samples: list[tuple[str, dict | list, float]]) -> None:
        """One metric family; nothing at all when it has no samples (HELP alone would say nothing). A value that
        overflowed on the way (a damaged report's 1e303 MiB, in bytes) is not a measurement: its sample is left out."""
        samples = [s for s in samples if math.isfinite(s[2])]
        if not samples:
            return
        self.lines += [f"# HELP {name} {_escape_help(help_)}", f"# TYPE {name} {kind}"]
        for sample_name, labels, value in samples:
            pairs = labels.items() if isinstance(labels, dict) else labels
            self.lines.append(f"{sample_name}{_labels(pairs)} {_fmt(value)}")


def _gpus(facts: dict) -> list[dict]:
    nvml = facts.get("nvml") if isinstance(facts, dict) else None
    gpus = nvml.get("gpus") if isinstance(nvml, dict) else None
    return [g for g in gpus if isinstance(g, dict)] if isinstance(gpus, list) else []


def _gpu_labels(gpu: dict, position: int) -> list[tuple[str, object]]:
    index = gpu.get("index")
    labels: list[tuple[str, object]] = [("gpu", index if isinstance(index, int) and not isinstance(index, bool)
                                         else position)]
    labels.append(("model_name", gpu.get("name") or ""))
    labels.append(("pci_bus_id", gpu.get("pci_bus_id") or ""))
    return labels


def render(report: Report, now: float | None = None) -> str:
    """The report as Prometheus text metrics (ends with a newline, as the textfile collector expects)."""
    w = _Writer()
    statuses = [s.value for s in Status]
    areas = {}
    for f in report.findings:
        spec = catalogue.get(f.id)
        areas[f.id] = spec.area if spec else f.id.split(".")[0]
    w.family("tfdoctor_finding_status", "gauge",
             "Status of each tfdoctor finding: 1 for the status it has, 0 for the others.",
             [("tfdoctor_finding_status", [("id", f.id), ("area", areas[f.id]), ("status", s)],
               1.0 if f.status.value == s else 0.0) for f in report.findings for s in statuses])
    counts = report.counts()
    w.family("tfdoctor_findings", "gauge", "Number of tfdoctor findings with each status.",
             [("tfdoctor_findings", {"status": s}, float(counts.get(s, 0))) for s in statuses])
    w.family("tfdoctor_check_ok", "gauge", "1 when tfdoctor check passed (no failed finding), else 0.",
             [("tfdoctor_check_ok", {}, 1.0 if report.exit_code() == 0 else 0.0)])
    root = report.root_cause
    w.family("tfdoctor_root_cause_info", "gauge", "The finding tfdoctor names as the root cause (1 when there is one).",
             [("tfdoctor_root_cause_info", {"id": root.id}, 1.0)] if root else [])
    node = report.meta.get("node")
    w.family("tfdoctor_node_info", "gauge", "The node tfdoctor checked (always 1; absent when its name is redacted).",
             [("tfdoctor_node_info", {"nodename": node}, 1.0)] if isinstance(node, str) and node else [])
    w.family("tfdoctor_last_run_timestamp_seconds", "gauge", "Unix time when tfdoctor check wrote these metrics.",
             [("tfdoctor_last_run_timestamp_seconds", {}, round(time.time() if now is None else now, 3))])
    duration = _number(report.meta.get("duration_s"))
    w.family("tfdoctor_check_duration_seconds", "gauge", "How long tfdoctor check took.",
             [("tfdoctor_check_duration_seconds", {}, duration)] if duration is not None else [])
    w.family("tfdoctor_build_info", "gauge", "The tfdoctor version that wrote these metrics (always 1).",
             [("tfdoctor_build_info", {"version": __version__}, 1.0)])

    gpus = _gpus(report.facts)
    if isinstance((report.facts or {}).get("nvml"), dict) and "gpus" in report.facts["nvml"]:
        w.family("tfdoctor_gpus", "gauge", "Number of GPUs NVML reports.", [("tfdoctor_gpus", {}, float(len(gpus)))])
    for name, kind, help_, key, scale in GPU_METRICS:
        samples = []
        for pos, gpu in enumerate(gpus):
            value = _number(gpu.get(key))
            if value is not None:
                samples.append((name, _gpu_labels(gpu, pos), value * scale))
        w.family(name, kind, help_, samples)
    ecc = []
    for pos, gpu in enumerate(gpus):
        for kind, key in ECC_KEYS:
            value = _number(gpu.get(key))
            if value is not None:
                ecc.append((ECC_METRIC, [*_gpu_labels(gpu, pos), ("error_type", kind)], value))
    w.family(ECC_METRIC, "counter", "ECC memory errors NVML has counted on the GPU (resets when the driver reloads).",
             ecc)
    return "\n".join(w.lines) + "\n"
