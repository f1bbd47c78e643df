"""Timing windows and statistics: warm-up excluded, stop on a stable spread, a hard budget per device."""

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
    steps_that_fit,
    summarize,
    window_fits,
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
    assert dev.now <= 5.0  # hard: no window was started that would end past the budget
    assert coefficient_of_variation(timing.kept(policy.keep_windows)) > 0.05


def test_the_budget_counts_from_the_device_start_model_build_included():
    # the model took 3 s to build before run_windows was called: only 2 s of a 5 s budget are left
    dev = FakeDevice(lambda i: 0.1)
    dev.now = 3.0
    policy = WindowPolicy(warmup_steps=1, warmup_s=0, window_s=0.2, min_windows=5, min_time_s=10, max_time_s=5.0)
    timing = run_windows(dev.run_steps, policy, clock=dev.clock, started=0.0)
    assert dev.now <= 5.0
    assert timing.stopped_by == "budget"
    assert len(timing.window_s) >= 5  # windows were shortened so that five fit in what was left


def test_windows_are_sized_so_that_the_minimum_number_fits():
    # 0.3 s steps, 0.5 s windows asked, but a 3 s budget: windows of one step, at least five of them
    dev = FakeDevice(lambda i: 0.3)
    policy = WindowPolicy(warmup_steps=1, warmup_s=0, window_s=0.5, min_windows=5, min_time_s=10, max_time_s=3.0)
    timing = run_windows(dev.run_steps, policy, clock=dev.clock)
    assert timing.steps_per_window == 1
    assert len(timing.window_s) >= 5
    assert dev.now <= 3.0


def test_warmup_is_cut_short_to_leave_room_for_the_windows():
    # asked: 3 warm-up steps and 10 s of warm-up; with 1 s steps an 8 s budget has room for 2 of them and 5 windows
    dev = FakeDevice(lambda i: 1.0)
    policy = WindowPolicy(warmup_steps=3, warmup_s=10, min_windows=5, min_time_s=0, max_time_s=8.0)
    timing = run_windows(dev.run_steps, policy, clock=dev.clock)
    assert timing.warmup_steps == 2
    assert len(timing.window_s) >= 5
    assert dev.now <= 8.0


def test_a_step_longer_than_the_budget_gives_no_window_not_a_made_up_one():
    dev = FakeDevice(lambda i: 10.0)
    timing = run_windows(dev.run_steps, WindowPolicy(warmup_steps=1, warmup_s=0, max_time_s=5.0), clock=dev.clock)
    assert timing.window_s == []
    assert timing.stopped_by == "budget"
    assert timing.warmup_steps == 1  # the first (tracing) step is never timed
    assert math.isnan(summarize(timing.window_s).median_ms)


def test_an_exact_window_count_still_keeps_the_budget():
    dev = FakeDevice(lambda i: 1.0)
    policy = WindowPolicy(warmup_steps=1, warmup_s=0, steps_per_window=1, windows=10, max_time_s=4.0)
    timing = run_windows(dev.run_steps, policy, clock=dev.clock)
    assert timing.stopped_by == "budget" and len(timing.window_s) < 10
    assert dev.now <= 4.0


def test_window_fits_with_a_margin():
    assert window_fits(10, 0.1, 1.2)
    assert not window_fits(10, 0.1, 1.05)  # 1.0 s plus 10 % margin is 1.1 s
    assert steps_that_fit(0.01, 1.0, 5, WindowPolicy(window_s=0.5)) == 18  # 1 s / (5 windows * 11 ms)


def test_statistics_use_the_last_kept_windows_only():
    timing = Timing(window_s=[1.0] * 3 + [0.01] * 10)
    assert timing.kept(10) == [0.01] * 10


def test_exact_window_count_for_a_short_run():
    dev = FakeDevice(lambda i: 0.5)
    timing = run_windows(dev.run_steps, WindowPolicy(warmup_steps=1, warmup_s=0, steps_per_window=2, windows=3),
                         clock=dev.clock)
    assert timing.stopped_by == "windows"
    assert len(timing.window_s) == 3 and timing.steps_timed == 6


def test_should_stop_waits_for_min_windows():
    policy = WindowPolicy(min_windows=5, min_time_s=0, max_time_s=100)
    assert should_stop(Timing(window_s=[0.01] * 4, timed_s=10), policy, 10) is None
    assert should_stop(Timing(window_s=[0.01] * 5, timed_s=10), policy, 10) == "stable"
