"""What NVML showed while a GPU was being timed that would slow it down, in words for a person. Pure functions.

`facts` is the NVML view of one GPU (`tfdoctor.probes.nvml.GpuFacts`, or a dict with the same field names), sampled
while that GPU was busy: an idle GPU drops its PCIe link to a low generation and reports "idle" as its clock event
reason, so a sample taken afterwards would cry wolf.
"""

from __future__ import annotations

import math

# Clock event reasons that do not slow a busy GPU down: idle (no work), application clocks (a user setting),
# display clock and sync boost (informational). The rest (power cap, thermal, HW slowdown) do.
HARMLESS_THROTTLE = frozenset({"gpu_idle", "applications_clocks_setting", "display_clock_setting", "sync_boost"})
THROTTLE_CAUSE = {
    "sw_power_cap": "the board is at its power limit",
    "hw_slowdown": "hardware slowdown (power brake or overheating)",
    "sw_thermal_slowdown": "the GPU is too hot (software thermal slowdown)",
    "hw_thermal_slowdown": "the GPU is too hot (hardware thermal slowdown)",
    "hw_power_brake_slowdown": "the power supply asserted the power brake",
}
# a power limit this far below the model's published board power is a cap someone set (nvidia-smi -pl, a BMC)
POWER_CAP_SHARE = 0.9


def field(facts, name: str):
    """One NVML field of `facts` (a GpuFacts or a dict), None when absent."""
    return facts.get(name) if isinstance(facts, dict) else getattr(facts, name, None)


def _num(value) -> float | None:
    """A finite number from a JSON value (a child's or NVML's record), else None (booleans, text, NaN, infinity)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def nvml_causes(facts, *, child_pid: int | None = None, board_power_w: float | None = None) -> list[str]:
    """Each thing in `facts` that slows the GPU down, as a phrase: PCIe link below its maximum, clocks held down
    (and why), a power limit set below the model's board power, other processes on the GPU (the benchmark's own
    process, `child_pid`, excluded). Empty when NVML showed none of them."""
    if facts is None:
        return []
    causes: list[str] = []
    gen, gen_max = field(facts, "pcie_gen"), field(facts, "pcie_gen_max")
    width, width_max = field(facts, "pcie_width"), field(facts, "pcie_width_max")
    if isinstance(width, int) and isinstance(width_max, int) and width < width_max:
        causes.append(f"its PCIe link runs at x{width} of x{width_max} (seat the card in a full-width slot, check "
                      "the riser)")
    if isinstance(gen, int) and isinstance(gen_max, int) and gen < gen_max:
        causes.append(f"its PCIe link runs at gen {gen} of gen {gen_max} while busy (check the slot and the BIOS PCIe "
                      "setting)")
    limit, draw = _num(field(facts, "power_limit_w")), _num(field(facts, "power_w"))
    reasons = [str(r) for r in (field(facts, "throttle_reasons") or ()) if r not in HARMLESS_THROTTLE]
    if reasons:
        parts = []
        for r in reasons:
            text = THROTTLE_CAUSE.get(r, r)
            if r == "sw_power_cap" and limit:
                text += f" ({limit:g} W limit" + (f", drawing {draw:g} W)" if draw else ")")
            parts.append(text)
        causes.append("its clocks were held down: " + ", ".join(parts))
    board = _num(board_power_w)
    if limit and board and limit < POWER_CAP_SHARE * board:
        causes.append(f"a power cap: its power limit is {limit:g} W, below this model's {board:g} W board power "
                      "(`nvidia-smi -q -d POWER` shows the default and the enforced limit)")
    others = [p for p in (field(facts, "processes") or ()) if field(p, "pid") != child_pid]
    if others:
        names = ", ".join(f"{field(p, 'name') or '?'} (pid {field(p, 'pid')})" for p in others[:3])
        causes.append(f"{len(others)} other process(es) use it: {names}")
    return causes
