"""Prometheus text metrics, read back with the official prometheus_client text parser."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from tfdoctor.model import Finding, Report, Status
from tfdoctor.report import prometheus

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOTS = sorted(p for p in (ROOT / "tests/fixtures/snapshots").glob("*") if (p / "manifest.json").exists())

# NVML facts in the shape the NVML probe reports them (after redaction: plain dicts). Values are those of a
# Tesla T4; the second GPU reports what an old GeForce without ECC or power readings reports: nothing (None).
T4 = {"index": 0, "name": "Tesla T4", "pci_bus_id": "00000000:00:1E.0", "memory_used_mib": 0,
      "memory_total_mib": 15109, "temperature_c": 31, "power_w": 9.71, "utilization_gpu_pct": 0, "pcie_gen": 1,
      "pcie_gen_max": 3, "pcie_width": 16, "pcie_width_max": 16, "ecc_corrected": 0, "ecc_uncorrected": 0}
OLD = {"index": 1, "name": 'GeForce "GT" 710\\x', "pci_bus_id": "00000000:02:00.0", "memory_used_mib": 200,
       "memory_total_mib": 2001, "temperature_c": "N/A", "power_w": None, "utilization_gpu_pct": 7,
       "ecc_corrected": None}


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def sample_report(gpus=(T4, OLD)) -> Report:
    return Report(
        findings=[
            Finding("system.os", Status.OK, "Ubuntu"),
            Finding("driver.nouveau", Status.FAIL, "nouveau is bound", root_cause=True),
            Finding("gpu.pcie-link", Status.WARN, "x8"),
            Finding("tensorflow.import", Status.SKIP, "--no-tf"),
        ],
        facts={"nvml": {"gpus": list(gpus)}},
        meta={"duration_s": 1.25},
    )


def samples(fam) -> list:
    return list(fam.samples)


def test_finding_status_is_one_hot_across_all_statuses():
    fam = families(prometheus.render(sample_report()))["tfdoctor_finding_status"]
    assert fam.type == "gauge" and fam.documentation
    by_id: dict[str, dict[str, float]] = {}
    for s in samples(fam):
        by_id.setdefault(s.labels["id"], {})[s.labels["status"]] = s.value
    assert set(by_id) == {"system.os", "driver.nouveau", "gpu.pcie-link", "tensorflow.import"}
    for values in by_id.values():
        assert set(values) == {s.value for s in Status}
        assert sum(values.values()) == 1
    assert by_id["driver.nouveau"]["fail"] == 1 and by_id["gpu.pcie-link"]["warn"] == 1
    areas = {s.labels["id"]: s.labels["area"] for s in samples(fam)}
    assert areas["driver.nouveau"] == "driver"


def test_run_level_gauges():
    fams = families(prometheus.render(sample_report(), now=1700000000.5))
    assert samples(fams["tfdoctor_check_ok"])[0].value == 0
    assert samples(fams["tfdoctor_last_run_timestamp_seconds"])[0].value == 1700000000.5
    assert samples(fams["tfdoctor_check_duration_seconds"])[0].value == 1.25
    assert samples(fams["tfdoctor_root_cause_info"])[0].labels == {"id": "driver.nouveau"}
    counts = {s.labels["status"]: s.value for s in samples(fams["tfdoctor_findings"])}
    assert counts == {"ok": 1, "info": 0, "skip": 1, "warn": 1, "fail": 1, "error": 0}
    healthy = Report(findings=[Finding("system.os", Status.OK, "Ubuntu")])
    fams = families(prometheus.render(healthy))
    assert samples(fams["tfdoctor_check_ok"])[0].value == 1
    assert "tfdoctor_root_cause_info" not in fams


def test_gpu_facts_in_base_units_with_dcgm_exporter_labels():
    fams = families(prometheus.render(sample_report()))
    (used0, used1) = samples(fams["tfdoctor_gpu_memory_used_bytes"])
    assert used0.labels == {"gpu": "0", "model_name": "Tesla T4", "pci_bus_id": "00000000:00:1E.0"}
    assert used1.value == 200 * 1024 * 1024
    assert samples(fams["tfdoctor_gpu_memory_total_bytes"])[0].value == 15109 * 1024 * 1024
    assert samples(fams["tfdoctor_gpu_power_watts"])[0].value == pytest.approx(9.71)
    util = {s.labels["gpu"]: s.value for s in samples(fams["tfdoctor_gpu_utilization_ratio"])}
    assert util == {"0": 0.0, "1": pytest.approx(0.07)}
    assert samples(fams["tfdoctor_gpu_pcie_link_generation_max"])[0].value == 3
    assert samples(fams["tfdoctor_gpu_pcie_link_width_lanes"])[0].value == 16
    assert samples(fams["tfdoctor_gpus"])[0].value == 2


def test_unsupported_fields_have_no_sample_rather_than_zero():
    fams = families(prometheus.render(sample_report()))
    temps = samples(fams["tfdoctor_gpu_temperature_celsius"])
    assert [s.labels["gpu"] for s in temps] == ["0"]  # "N/A" on GPU 1
    assert [s.labels["gpu"] for s in samples(fams["tfdoctor_gpu_power_watts"])] == ["0"]  # None on GPU 1
    assert [s.labels["gpu"] for s in samples(fams["tfdoctor_gpu_pcie_link_generation"])] == ["0"]  # key absent


def test_ecc_errors_are_a_counter_by_error_type():
    fam = families(prometheus.render(sample_report()))["tfdoctor_gpu_ecc_errors"]
    assert fam.type == "counter"
    got = {(s.labels["gpu"], s.labels["error_type"]): s.value for s in samples(fam)}
    assert got == {("0", "corrected"): 0, ("0", "uncorrected"): 0}


def test_label_values_are_escaped():
    fams = families(prometheus.render(sample_report()))
    names = {s.labels["model_name"] for s in samples(fams["tfdoctor_gpu_memory_used_bytes"])}
    assert names == {"Tesla T4", 'GeForce "GT" 710\\x'}


def test_every_family_has_help_and_type_and_no_sample_has_a_timestamp():
    text = prometheus.render(sample_report())
    helps = {line.split()[2] for line in text.splitlines() if line.startswith("# HELP ")}
    types = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    assert helps == types
    for fam in text_string_to_metric_families(text):
        assert fam.documentation
        for s in fam.samples:
            assert s.timestamp is None
            assert s.name.startswith("tfdoctor_")
    assert text.endswith("\n")


@pytest.mark.parametrize("facts", [{}, {"nvml": None}, {"nvml": {"error": "NVML_ERROR_LIBRARY_NOT_FOUND"}},
                                   {"nvml": {"gpus": "junk"}}, {"nvml": {"gpus": [None, 3, {}]}}])
def test_missing_or_broken_nvml_facts_give_no_gpu_metrics(facts):
    report = Report(findings=[Finding("system.os", Status.OK, "Ubuntu")], facts=facts)
    fams = families(prometheus.render(report))
    assert not [n for n in fams if n.startswith("tfdoctor_gpu_")]
    assert samples(fams["tfdoctor_check_ok"])[0].value == 1


_values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=8))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.fixed_dictionaries({}, optional={
    "index": _values, "name": st.one_of(st.none(), st.text()), "pci_bus_id": st.one_of(st.none(), st.text()),
    "memory_used_mib": _values, "temperature_c": _values, "power_w": _values, "ecc_uncorrected": _values}),
    max_size=3), st.text())
def test_any_facts_and_summaries_still_parse(gpus, summary):
    report = Report(findings=[Finding("driver.x", Status.FAIL, summary)], facts={"nvml": {"gpus": gpus}})
    fams = families(prometheus.render(report))
    assert "tfdoctor_finding_status" in fams


@pytest.mark.parametrize("snapshot", SNAPSHOTS, ids=lambda p: p.name)
def test_replayed_snapshot_parses(snapshot):
    from tfdoctor.cli import run_check

    report = run_check(from_=str(snapshot))
    fams = families(prometheus.render(report))
    statuses = [s for s in fams["tfdoctor_finding_status"].samples if s.value == 1]
    assert len(statuses) == len(report.findings)


def test_cli_writes_the_textfile_atomically(tmp_path):
    snapshot = ROOT / "tests/fixtures/snapshots/healthy-single-gpu"
    if not snapshot.exists():
        pytest.skip("snapshot fixture not present")
    out = tmp_path / "textfile" / "tfdoctor.prom"
    proc = subprocess.run([sys.executable, "-m", "tfdoctor", "check", "--quiet", "--from", str(snapshot),
                           "--prometheus", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode in (0, 1), proc.stderr
    fams = families(out.read_text())
    assert samples(fams["tfdoctor_check_ok"])[0].value == (1 if proc.returncode == 0 else 0)
    assert [p.name for p in out.parent.iterdir()] == ["tfdoctor.prom"]


def test_format_prometheus_prints_on_stdout():
    snapshot = ROOT / "tests/fixtures/snapshots/no-nvidia-gpu"
    if not snapshot.exists():
        pytest.skip("snapshot fixture not present")
    proc = subprocess.run([sys.executable, "-m", "tfdoctor", "check", "--format", "prometheus", "--from",
                           str(snapshot)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "tfdoctor_check_ok" in families(proc.stdout)


def test_a_value_that_overflows_when_scaled_is_left_out():
    # hypothesis found it: 1e303 MiB is finite, in bytes it is infinity, which int() cannot take
    report = Report(findings=[], facts={"nvml": {"gpus": [{"index": 0, "name": "x", "memory_used_mib": 1e303,
                                                            "temperature_c": 40}]}})
    text = prometheus.render(report)
    assert "memory_used" not in text and "Inf" not in text and "temperature" in text
    assert families(text)  # and the exposition still parses
