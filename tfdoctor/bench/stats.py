"""Timing windows and their statistics, with no TensorFlow and no tfdoctor import.

The bench child (`tfdoctor/child/tf_bench.py`) loads this file by path, so it must stay standard-library only and
import nothing from the tfdoctor package: the child may run under another interpreter (`--python`) where tfdoctor is
not installed. The parent imports it as `tfdoctor.bench.stats` for tests and for the report.

A *window* is a run of `steps` training steps that ends by reading the loss back to the host (which waits for the
device to finish every queued step), timed with a monotonic clock. Its figure is seconds per step. Windows repeat
until enough time was measured and the last few agree (a small coefficient of variation), or the time budget is spent.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class WindowPolicy:
    """When to stop timing one device.

    - `warmup_steps`, `warmup_s`: steps before timing starts (tracing, XLA compilation, cuDNN autotuning, thread
      pools): at least this many steps AND at least this long.
    - `window_s`: aim of one window's duration; steps per window are chosen from the last warm-up step.
    - `steps_per_window`: fixed steps per window (skips that calibration), e.g. for a short test run.
    - `min_windows`, `min_time_s`: at least this many windows and this much timed time.
    - `keep_windows`: statistics use the last this-many windows (the earlier ones count as extra warm-up).
    - `target_cv`: stop as soon as the kept windows' coefficient of variation is at most this.
    - `max_time_s`: budget for warm-up plus windows; reached, timing stops whatever the spread.
    - `windows`: exact number of windows (ignores the CV rule), e.g. for a short test run.
    """

    warmup_steps: int = 3
    warmup_s: float = 1.0
    window_s: float = 0.5
    steps_per_window: int | None = None
    min_windows: int = 5
    min_time_s: float = 3.0
    keep_windows: int = 10
    target_cv: float = 0.03
    max_time_s: float = 15.0
    windows: int | None = None


@dataclass(frozen=True)
class Summary:
    """Statistics of the kept windows, in milliseconds per step."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    mean_ms: float
    cv: float
    windows: int


@dataclass
class Timing:
    """What one device's timing produced (mutable while it runs; the child turns it into JSON)."""

    warmup_steps: int = 0
    warmup_s: float = 0.0
    steps_per_window: int = 0
    window_s: list[float] = field(default_factory=list)  # seconds per step of each window, in order
    timed_s: float = 0.0
    steps_timed: int = 0
    stopped_by: str = ""  # "stable" | "windows" | "budget"

    def kept(self, keep: int) -> list[float]:
        """The windows the statistics are computed from: the last `keep`."""
        return self.window_s[-keep:] if keep > 0 else list(self.window_s)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between the closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def coefficient_of_variation(values: list[float]) -> float:
    """Sample standard deviation over the mean; 0 for fewer than two values, nan for an empty or zero mean."""
    if not values:
        return math.nan
    mean = statistics.fmean(values)
    if mean <= 0:
        return math.nan
    if len(values) < 2:
        return 0.0
    return statistics.stdev(values) / mean


def summarize(seconds_per_step: list[float]) -> Summary:
    """Median, p10, p90, mean (ms per step) and CV of windows given in seconds per step."""
    ms = [s * 1000.0 for s in seconds_per_step]
    if not ms:
        return Summary(math.nan, math.nan, math.nan, math.nan, math.nan, 0)
    return Summary(
        median_ms=statistics.median(ms),
        p10_ms=percentile(ms, 10),
        p90_ms=percentile(ms, 90),
        mean_ms=statistics.fmean(ms),
        cv=coefficient_of_variation(ms),
        windows=len(ms),
    )


def steps_for_window(step_s: float, policy: WindowPolicy) -> int:
    """Steps per window so that one window lasts about `policy.window_s`, given one step's duration."""
    if policy.steps_per_window:
        return max(1, int(policy.steps_per_window))
    if not step_s or step_s <= 0 or math.isnan(step_s):
        return 1
    return max(1, min(10_000, round(policy.window_s / step_s)))


def should_stop(timing: Timing, policy: WindowPolicy, elapsed_s: float) -> str | None:
    """Why timing stops now ("windows", "budget", "stable"), or None to time another window.

    `elapsed_s` counts warm-up and windows; the budget ends the run even when the spread never settled, but never
    before two windows were timed (one window has no spread), unless even the warm-up used the whole budget.
    """
    n = len(timing.window_s)
    if policy.windows is not None:
        return "windows" if n >= policy.windows else None
    if elapsed_s >= policy.max_time_s and n >= 2:
        return "budget"
    if elapsed_s >= 2 * policy.max_time_s and n >= 1:
        return "budget"
    if n < policy.min_windows or timing.timed_s < policy.min_time_s:
        return None
    cv = coefficient_of_variation(timing.kept(policy.keep_windows))
    if not math.isnan(cv) and cv <= policy.target_cv:
        return "stable"
    return None


def run_windows(
    run_steps: Callable[[int], None],
    policy: WindowPolicy,
    clock: Callable[[], float] = time.perf_counter,
    on_window: Callable[[Timing, float], None] | None = None,
) -> Timing:
    """Warm up, then time windows of steps until `should_stop` says so.

    `run_steps(n)` must run n training steps AND wait for the device (read the loss back): the window's time is
    taken around that call, so whatever is still queued on a GPU when it returns would be missed. `on_window` gets
    the timing so far and the elapsed seconds after the warm-up and after each window (progress display).
    """
    timing = Timing()
    start = clock()
    last_step_s = math.nan
    # warm-up: the first step traces the function (and compiles it with XLA, autotunes cuDNN); excluded from timing
    while True:
        t0 = clock()
        run_steps(1)
        last_step_s = clock() - t0
        timing.warmup_steps += 1
        timing.warmup_s = clock() - start
        if timing.warmup_steps >= policy.warmup_steps and timing.warmup_s >= policy.warmup_s:
            break
        if timing.warmup_s >= policy.max_time_s:
            break
    timing.steps_per_window = steps_for_window(last_step_s, policy)
    if on_window:
        on_window(timing, clock() - start)
    while True:
        t0 = clock()
        run_steps(timing.steps_per_window)
        took = clock() - t0
        timing.window_s.append(took / timing.steps_per_window)
        timing.timed_s += took
        timing.steps_timed += timing.steps_per_window
        elapsed = clock() - start
        if on_window:
            on_window(timing, elapsed)
        why = should_stop(timing, policy, elapsed)
        if why:
            timing.stopped_by = why
            return timing
