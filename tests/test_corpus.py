"""The corpus of real cases (tests/cases/): accuracy may not fall below the floor recorded beside it, and no healthy
machine may be given a root cause."""

from __future__ import annotations

import json

import pytest

from tests.corpus import FLOOR_FILE, case_dirs, score

CASES = case_dirs()


def test_every_case_carries_its_source_and_its_paste():
    for d in CASES:
        assert (d / "SOURCE.md").is_file() and (d / "snapshot" / "manifest.json").is_file(), d
        expect = json.loads((d / "expect.json").read_text())
        assert "root_cause" in expect and expect.get("written_before_run") is True, d


def test_accuracy_is_at_least_the_recorded_floor():
    floor = float(FLOOR_FILE.read_text().strip())
    results = [(d.name, *score(d)) for d in CASES]
    right = sum(ok for _, ok, _ in results)
    misses = "\n".join(f"{n}: {why}" for n, ok, why in results if not ok)
    assert right / max(len(results), 1) >= floor, f"{right}/{len(results)} right, floor {floor}\n{misses}"


@pytest.mark.parametrize("case", [d for d in CASES if json.loads((d / "expect.json").read_text())["root_cause"]
                                  is None], ids=lambda d: d.name)
def test_no_healthy_machine_gets_a_root_cause(case):
    ok, why = score(case)
    assert ok, why
