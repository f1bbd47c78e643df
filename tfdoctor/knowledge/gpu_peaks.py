"""Published peak TFLOP/s per NVIDIA GPU model and precision (gpu_peaks.json), for `tfdoctor bench`.

Standard library only, parsed once. A GPU is found by its exact CUDA/NVML name (case and a leading "NVIDIA " or
"Tesla " aside), never by substring: "GeForce RTX 4070 Ti" must not get the RTX 4070's figures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_FILE = Path(__file__).resolve().parent / "gpu_peaks.json"
PRECISIONS = ("fp32", "tf32", "fp16", "bf16")
UNSUPPORTED = "unsupported"


@dataclass(frozen=True)
class GpuPeak:
    """One GPU model's published dense peaks. `tflops[p]`: a number, None (unknown) or UNSUPPORTED."""

    model: str
    names: tuple[str, ...]
    architecture: str
    compute_capability: str
    tflops: dict
    board_power_w: float | None
    status: str
    source: str
    read_via: str
    note: str = ""

    def peak(self, precision: str) -> float | str | None:
        """TFLOP/s for `precision` ("fp32", "tf32", "fp16", "bf16"), UNSUPPORTED, or None when unknown."""
        value = self.tflops.get(precision)
        if value == UNSUPPORTED:
            return UNSUPPORTED
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def normalize_name(name: str) -> str:
    """A device name as the table matches it: case folded, spaces collapsed, a leading NVIDIA/Tesla dropped."""
    text = " ".join(str(name).split()).casefold()
    for prefix in ("nvidia ", "tesla "):
        if text.startswith(prefix):
            text = text[len(prefix):]
    return text


@cache
def gpu_peaks() -> tuple[GpuPeak, ...]:
    """Every row of gpu_peaks.json."""
    with _FILE.open(encoding="utf-8") as fh:
        data = json.load(fh)
    return tuple(
        GpuPeak(model=r["model"], names=tuple(r["names"]), architecture=r["architecture"],
                compute_capability=r["compute_capability"], tflops=dict(r["tflops"]),
                board_power_w=r.get("board_power_w"), status=r["status"], source=r["source"],
                read_via=r.get("read_via", ""), note=r.get("note", ""))
        for r in data["gpus"])


@cache
def _by_name() -> dict[str, GpuPeak]:
    return {normalize_name(n): row for row in gpu_peaks() for n in row.names}


def peak_for_name(name: str | None) -> GpuPeak | None:
    """The table's row for a device name ("NVIDIA A100-SXM4-40GB"), or None when the model is not in the table."""
    if not name:
        return None
    return _by_name().get(normalize_name(name))
