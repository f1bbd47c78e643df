"""CPU probe: model, instruction-set flags (AVX, AVX2, FMA, AVX-512, AMX...), core count and memory.

Read from /proc/cpuinfo and /proc/meminfo through the Host (which is what psutil reads on Linux too), so that a
snapshot replays them.
"""

from __future__ import annotations

from dataclasses import dataclass

from tfdoctor.probes import probe


@dataclass(frozen=True)
class CpuFacts:
    source: str  # "cpuinfo" | "none"
    model: str | None
    vendor: str | None
    arch: str  # "x86" | "arm" | "unknown"
    flags: frozenset[str]
    logical_cpus: int | None
    physical_cores: int | None
    memory_total_bytes: int | None


def parse_cpuinfo(text: str) -> dict:
    """The first processor block's model/vendor/flags and the processor and core counts."""
    model = vendor = None
    flags: set[str] = set()
    logical = 0
    cores: set[tuple[str, str]] = set()
    phys = core = None
    arch = "unknown"
    for line in (text or "").splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            if phys is not None and core is not None:
                cores.add((phys, core))
            phys = core = None
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "processor":
            logical += 1
        elif key == "model name" and model is None:
            model = value
        elif key == "vendor_id" and vendor is None:
            vendor = value
        elif key == "flags" and not flags:
            flags = set(value.split())
            arch = "x86"
        elif key == "features" and not flags:
            flags = set(value.split())
            arch = "arm"
        elif key == "cpu implementer" and vendor is None:
            vendor, arch = f"ARM implementer {value}", "arm"
        elif key == "physical id":
            phys = value
        elif key == "core id":
            core = value
    if phys is not None and core is not None:
        cores.add((phys, core))
    return {"model": model, "vendor": vendor, "flags": frozenset(flags), "logical": logical or None,
            "cores": len(cores) or None, "arch": arch}


def parse_meminfo_total(text: str) -> int | None:
    for line in (text or "").splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            try:
                return int(parts[1]) * 1024
            except (IndexError, ValueError):
                return None
    return None


@probe("cpu", timeout=5, title="CPU")
def probe_cpu(host, ctx) -> CpuFacts:
    text = host.read("/proc/cpuinfo")
    info = parse_cpuinfo(text or "")
    return CpuFacts(
        source="cpuinfo" if text else "none",
        model=info["model"],
        vendor=info["vendor"],
        arch=info["arch"],
        flags=info["flags"],
        logical_cpus=info["logical"],
        physical_cores=info["cores"],
        memory_total_bytes=parse_meminfo_total(host.read("/proc/meminfo") or ""),
    )
