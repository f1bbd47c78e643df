"""Timing windows and statistics: warm-up excluded, stop on a stable spread, stop on the budget."""

from __future__ import annotations

import math

import pytest

from tfdoctor.bench.stats import (
    Timing,
    WindowPolicy,
    coefficient_of_variation,
    percentile,
    run_windows,
    should_stop,
    steps_for_window,
    summarize,
)


class FakeDevice:
    """A device whose steps take given durations, on a fake clock: step i takes durations(i) seconds."""

    def __init__(self, durations):
        self.now = 0.0
        self.steps = 0
        self.durations = durations
        self.syncs = 0

    def clock(self):
        return self.now

    def run_steps(self, n):
        for _ in range(n):
            self.now += self.durations(self.steps)
            self.steps += 1
        self.syncs += 1  # the real run_steps reads the loss back once per call


def test_percentiles_interpolate_like_numpy():
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert percentile(values, 50) == 3.0
    assert percentile(values, 10) == pytest.approx(1.4)
    assert percentile(values, 90) == pytest.approx(4.6)
    assert math.isnan(percentile([], 50))


def test_cv_is_sample_stdev_over_mean():
    assert coefficient_of_variation([10.0, 10.0, 10.0]) == 0.0
    assert coefficient_of_variation([9.0, 11.0]) == pytest.approx(math.sqrt(2) / 10)
    assert coefficient_of_variation([5.0]) == 0.0


def test_summary_is_in_milliseconds():
    s = summarize([0.010, 0.011, 0.012])
    assert s.median_ms == pytest.approx(11.0)
    assert s.windows == 3


def test_window_length_is_calibrated_from_the_last_warmup_step():
    assert steps_for_window(0.02, WindowPolicy(window_s=0.5)) == 25
    assert steps_for_window(2.0, WindowPolicy(window_s=0.5)) == 1
    assert steps_for_window(0.02, WindowPolicy(steps_per_window=4)) == 4


def test_warmup_steps_are_not_timed():
    # the first step (tracing) takes 5 s, later ones 10 ms: the median must not see the 5 s
    dev = FakeDevice(lambda i: 5.0 if i == 0 else 0.010)
    timing = run_windows(dev.run_steps, WindowPolicy(warmup_steps=3, warmup_s=0, min_time_s=0.5, max_time_s=60),
                         clock=dev.clock)
    assert timing.warmup_steps == 3
    assert summarize(timing.window_s).median_ms == pytest.approx(10.0)
    assert timing.stopped_by == "stable"
    assert dev.syncs == timing.warmup_steps + len(timing.window_s)  # every window ends with a sync


def test_stops_as_soon_as_the_spread_is_stable_and_enough_was_timed():
    dev = FakeDevice(lambda i: 0.020)
    policy = WindowPolicy(warmup_steps=1, warmup_s=0, window_s=0.2, min_windows=5, min_time_s=1.0, max_time_s=60)
    timing = run_windows(dev.run_steps, policy, clock=dev.clock)
    assert timing.stopped_by == "stable"
    assert len(timing.window_s) == 5
    assert timing.timed_s >= 1.0


def test_a_noisy_device_stops_at_the_budget_with_its_spread():
    dev = FakeDevice(lambda i: 0.010 if (i // 10) % 2 else 0.030)  # alternating windows: CV far above 3 %
    policy = WindowPolicy(warmup_steps=1, warmup_s=0, window_s=0.1, steps_per_window=10, max_time_s=5.0)
    timing = run_windows(dev.run_steps, policy, clock=dev.clock)
    assert timing.stopped_by == "budget"
    assert dev.now < 5.0 + 0.5  # bounded: at most one window past the budget
    assert coefficient_of_variation(timing.kept(policy.keep_windows)) > 0.05


def test_statistics_use_the_last_kept_windows_only():
    timing = Timing(window_s=[1.0] * 3 + [0.01] * 10)
    assert timing.kept(10) == [0.01] * 10


def test_exact_window_count_for_a_short_run():
    dev = FakeDevice(lambda i: 0.5)
    timing = run_windows(dev.run_steps, WindowPolicy(warmup_steps=1, warmup_s=0, steps_per_window=2, windows=3),
                         clock=dev.clock)
    assert timing.stopped_by == "windows"
    assert len(timing.window_s) == 3 and timing.steps_timed == 6


def test_a_step_longer_than_the_budget_still_gives_two_windows():
    dev = FakeDevice(lambda i: 10.0)
    timing = run_windows(dev.run_steps, WindowPolicy(warmup_steps=1, warmup_s=0, max_time_s=5.0), clock=dev.clock)
    assert len(timing.window_s) == 1 or timing.stopped_by == "budget"
    assert len(timing.window_s) <= 2


def test_should_stop_waits_for_min_windows():
    policy = WindowPolicy(min_windows=5, min_time_s=0, max_time_s=100)
    assert should_stop(Timing(window_s=[0.01] * 4, timed_s=10), policy, 10) is None
    assert should_stop(Timing(window_s=[0.01] * 5, timed_s=10), policy, 10) == "stable"
