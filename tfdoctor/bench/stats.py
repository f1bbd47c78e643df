"""Timing windows and their statistics, with no TensorFlow and no tfdoctor import.

The bench child (`tfdoctor/child/tf_bench.py`) loads this file by path, so it must stay standard-library only and
import nothing from the tfdoctor package: the child may run under another interpreter (`--python`) where tfdoctor is
not installed. The parent imports it as `tfdoctor.bench.stats` for tests and for the report.

A *window* is a run of `steps` training steps that ends by reading the loss back to the host (which waits for the
device to finish every queued step), timed with a monotonic clock. Its figure is seconds per step. Windows repeat
until enough time was measured and the last few agree (a small coefficient of variation), or the time budget is spent.

The budget is a hard limit counted from the device's start (model build and warm-up included): no warm-up step or
window is started when the last one says it would end past the deadline, and the window length is chosen so that the
minimum number of windows fits. What cannot be predicted (a first step that alone outlasts the budget) is the bench
child's watchdog's business (tfdoctor/child/tf_bench.py).
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
    - `max_time_s`: hard budget for warm-up plus windows (from `run_windows`'s `started`): a window that would end past
      it is not started, whatever the spread or `windows`.
    - `windows`: exact number of windows (ignores the CV rule), e.g. for a short test run.
    - `margin`: a window is started only when its predicted length times (1 + margin) fits in what is left.
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
    margin: float = 0.1

    @property
    def windows_wanted(self) -> int:
        """Windows the budget must leave room for: the exact count when one is asked, else the minimum."""
        return max(1, self.windows if self.windows is not None else self.min_windows)


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
    last_step_s: float = math.nan  # the latest warm-up step, or the latest window's seconds per step

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

    `elapsed_s` counts from the device's start (build and warm-up included). The budget ends the run even when the
    spread never settled or fewer windows than asked were timed (the report then says too few samples); whether the
    next window fits in what is left is `window_fits`'s question.
    """
    n = len(timing.window_s)
    if policy.windows is not None and n >= policy.windows:
        return "windows"
    if elapsed_s >= policy.max_time_s:
        return "budget"
    if policy.windows is not None:
        return None
    if n < policy.min_windows or timing.timed_s < policy.min_time_s:
        return None
    cv = coefficient_of_variation(timing.kept(policy.keep_windows))
    if not math.isnan(cv) and cv <= policy.target_cv:
        return "stable"
    return None


def window_fits(steps: int, step_s: float, left_s: float, margin: float = 0.1) -> bool:
    """Whether `steps` steps of `step_s` seconds, plus the margin, end within the `left_s` seconds left."""
    if math.isnan(step_s) or step_s < 0:
        return left_s > 0
    return steps * step_s * (1.0 + margin) <= left_s


def steps_that_fit(step_s: float, left_s: float, windows: int, policy: WindowPolicy) -> int:
    """Steps per window: about `policy.window_s` long, but short enough that `windows` windows fit in `left_s`
    (never fewer than 1). A fixed `steps_per_window` is kept as asked."""
    steps = steps_for_window(step_s, policy)
    if policy.steps_per_window or not step_s or step_s <= 0 or math.isnan(step_s):
        return steps
    fit = int(left_s / (windows * step_s * (1.0 + policy.margin)))
    return max(1, min(steps, fit))


def run_windows(
    run_steps: Callable[[int], None],
    policy: WindowPolicy,
    clock: Callable[[], float] = time.perf_counter,
    on_window: Callable[[Timing, float], None] | None = None,
    *,
    started: float | None = None,
    timing: Timing | None = None,
    on_warmup: Callable[[Timing, float], None] | None = None,
) -> Timing:
    """Warm up, then time windows of steps until `should_stop` says so or the next window would not fit the budget.

    `run_steps(n)` must run n training steps AND wait for the device (read the loss back): the window's time is
    taken around that call, so whatever is still queued on a GPU when it returns would be missed. `started`: the
    `clock()` value the budget counts from (default: now); the device's start, so that building the model counts.
    `timing`: the object to fill (a watchdog may read it while this runs). `on_warmup` gets the timing and the
    elapsed seconds after each warm-up step, `on_window` after the warm-up and after each window (progress display).

    Warm-up always runs one step (it traces the function, and the timed windows must never include that); it ends
    early when another warm-up step would leave too little of the budget for the windows. No window is started that
    the latest step time says would end past the budget: a device too slow for even one window in its budget ends
    with no window and `stopped_by` "budget", never with a made-up figure.
    """
    timing = timing if timing is not None else Timing()
    start = clock() if started is None else started
    deadline = start + policy.max_time_s
    warm_start = clock()
    wanted = policy.windows_wanted
    # warm-up: the first step traces the function (and compiles it with XLA, autotunes cuDNN); excluded from timing
    while True:
        t0 = clock()
        run_steps(1)
        timing.last_step_s = clock() - t0
        timing.warmup_steps += 1
        timing.warmup_s = clock() - warm_start
        if on_warmup:
            on_warmup(timing, clock() - start)
        if timing.warmup_steps >= policy.warmup_steps and timing.warmup_s >= policy.warmup_s:
            break
        # one more warm-up step must leave room for the windows (one step each at the least)
        if not window_fits(wanted + 1, timing.last_step_s, deadline - clock(), policy.margin):
            break
    timing.steps_per_window = steps_that_fit(timing.last_step_s, deadline - clock(), wanted, policy)
    if on_window:
        on_window(timing, clock() - start)
    while True:
        if not window_fits(timing.steps_per_window, timing.last_step_s, deadline - clock(), policy.margin):
            timing.stopped_by = "budget"
            return timing
        t0 = clock()
        run_steps(timing.steps_per_window)
        took = clock() - t0
        timing.window_s.append(took / timing.steps_per_window)
        timing.last_step_s = took / timing.steps_per_window
        timing.timed_s += took
        timing.steps_timed += timing.steps_per_window
        elapsed = clock() - start
        if on_window:
            on_window(timing, elapsed)
        why = should_stop(timing, policy, elapsed)
        if why:
            timing.stopped_by = why
            return timing
