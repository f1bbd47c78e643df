"""The corpus of real cases (tests/cases/): accuracy may not fall below the floor recorded beside it, and no healthy
machine may be given a root cause."""

from __future__ import annotations

import json

import pytest

from tests.corpus import FLOOR_FILE, case_dirs, healthy_params, score

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


@pytest.mark.parametrize("case", healthy_params(CASES))
def test_no_healthy_machine_gets_a_root_cause(case):
    ok, why = score(case)
    assert ok, why


def test_a_module_built_for_the_kernel_but_not_loaded_is_not_called_a_pending_reboot_when_secure_boot_is_unknown():
    # deepin: DKMS built the module for the running kernel, nvidia-smi cannot reach it, mokutil was not pasted.
    # Nothing shows a reboot is pending; the kernel may as well refuse the module (it did: Secure Boot).
    from pathlib import Path

    from tests.corpus import replay_case

    case = Path(__file__).parent / "cases" / "drv-secure-boot-machine-keyring-deepin"
    found = {f.id: f for f in replay_case(case).findings}["driver.nvidia-module"]
    assert "reboot is owed" not in found.summary and "Secure Boot state was not recorded" in found.summary
    assert found.fix.commands[0] == "sudo modprobe nvidia" and "mokutil --sb-state" in found.fix.verify
