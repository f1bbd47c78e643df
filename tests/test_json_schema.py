"""The JSON report's schema is shipped in the package, and real reports (this machine, every snapshot) match it."""

from __future__ import annotations

import importlib.resources
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from tfdoctor.checks import AREAS
from tfdoctor.model import Finding, Fix, Report, Status
from tfdoctor.report import json as json_report

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOTS = sorted(p for p in (ROOT / "tests/fixtures/snapshots").glob("*") if (p / "manifest.json").exists())


@pytest.fixture(scope="module")
def schema() -> dict:
    text = importlib.resources.files("tfdoctor").joinpath("schema/report.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def validate(doc: dict, schema: dict) -> None:
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(doc)


def test_schema_is_a_valid_draft_2020_12_schema(schema):
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema_version"]["const"] == json_report.SCHEMA_VERSION


def test_schema_ships_as_package_data():
    # tomllib is 3.11+; the line is simple enough to read as text
    lines = (ROOT / "pyproject.toml").read_text().splitlines()
    start = lines.index("[tool.setuptools.package-data]")
    assert any(line.startswith("tfdoctor") and '"schema/*.json"' in line for line in lines[start:start + 4])


def test_schema_knows_every_status_and_area(schema):
    assert schema["$defs"]["status"]["enum"] == [s.value for s in Status]
    assert schema["$defs"]["area"]["enum"] == list(AREAS)


def test_every_catalogue_id_matches_the_schemas_id_pattern(schema):
    from tfdoctor import catalogue

    pattern = schema["$defs"]["finding_id"]["pattern"]
    for fid in catalogue.ids():
        jsonschema.validate(fid, {"type": "string", "pattern": pattern})


def test_live_no_tf_report_on_this_machine_validates(schema):
    proc = subprocess.run([sys.executable, "-m", "tfdoctor", "check", "--json", "--no-tf"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads(proc.stdout)
    validate(doc, schema)
    assert doc["summary"]["exit_code"] == proc.returncode


@pytest.mark.parametrize("snapshot", SNAPSHOTS, ids=lambda p: p.name)
def test_replayed_snapshot_report_validates(snapshot, schema):
    proc = subprocess.run([sys.executable, "-m", "tfdoctor", "check", "--json", "--from", str(snapshot)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads(proc.stdout)
    validate(doc, schema)
    assert doc["source"]["snapshot"] == str(snapshot)


def test_report_with_every_status_validates(schema):
    report = Report(
        findings=[Finding("driver.nouveau", s, "x", ("d",), Fix("do", ("cmd",)) if s == Status.FAIL else None,
                          caused_by="pci.nvidia-gpu" if s == Status.ERROR else None, root_cause=s == Status.FAIL)
                  for s in Status],
        facts={"nvml": {"gpus": [{"index": 0, "name": "Tesla T4", "temperature_c": None}]}},
        meta={"duration_s": 0.1, "probe_durations_s": {"pci": 0.01},
              "probe_failures": {"tensorflow": {"kind": "skipped", "message": "--no-tf"}}},
    )
    validate(json.loads(json_report.render(report)), schema)


@pytest.mark.parametrize("breakage", [
    lambda d: d["findings"][0].pop("status"),
    lambda d: d["findings"][0].update(status="bad"),
    lambda d: d["findings"][0].update(id="Not An Id"),
    lambda d: d["summary"].update(exit_code=3),
    lambda d: d["findings"][0].update(fix={"summary": "x"}),
    lambda d: d.pop("facts"),
])
def test_schema_rejects_broken_reports(breakage, schema):
    doc = json.loads(json_report.render(Report(findings=[Finding("driver.nouveau", Status.OK, "fine")])))
    validate(doc, schema)
    breakage(doc)
    with pytest.raises(jsonschema.ValidationError):
        validate(doc, schema)


def test_a_megabyte_of_log_is_cut_in_the_facts_and_the_report_says_where(schema, tmp_path):
    # a real TensorFlow log from the corpus, repeated to about a megabyte: its lines and every message recognised
    # in them would otherwise be in the facts several times over
    log = (ROOT / "tests/cases/ok-t4-tf24-memory-question/paste.txt").read_text(encoding="utf-8")
    paste = tmp_path / "paste.txt"
    paste.write_text(log * (1_000_000 // len(log) + 1), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "tfdoctor", "triage", "--json", str(paste)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads(proc.stdout)
    validate(doc, schema)
    assert len(proc.stdout) < 2_000_000
    cut = doc["meta"]["truncated"]
    assert "facts.tensorflow.log_lines: the first 500 of " in " ".join(cut)
    assert len(doc["facts"]["tensorflow"]["log_lines"]) == json_report.MAX_ITEMS


def test_a_small_report_is_not_cut(schema):
    report = Report(findings=[Finding("tf.installed", Status.OK, "TensorFlow 2.16.1")],
                    facts={"tensorflow": {"log_lines": ["a"] * 10}})
    doc = json_report.report_dict(report)
    assert "truncated" not in doc["meta"] and doc["facts"]["tensorflow"]["log_lines"] == ["a"] * 10
