"""The engine: probes concurrently with deadlines, crashes and hangs become findings, diagnosis finds one root."""

from __future__ import annotations

import time

from tests.conftest import FakeHost
from tfdoctor import catalogue
from tfdoctor.diagnosis import diagnose
from tfdoctor.engine import CheckOptions, ProbeOptions, check_host, run_probes
from tfdoctor.model import Finding, Status, fail, ok, warn
from tfdoctor.probes import PROBES, ProbeSpec, load_all

load_all()  # register the real probes first, so that the tests below replace them


def test_a_crashing_probe_becomes_error_findings_and_the_rest_still_runs(monkeypatch):
    def boom(host, ctx):
        raise RuntimeError("sysfs exploded")

    monkeypatch.setitem(PROBES, "pci", ProbeSpec("pci", boom, (), 5, "PCI"))
    report = check_host(FakeHost(), ProbeOptions(no_tf=True), CheckOptions())
    f = report.get("pci.nvidia-gpu")
    assert f.status == Status.ERROR and "sysfs exploded" in " ".join(f.details)
    assert report.get("cpu.avx").status != Status.ERROR  # others unaffected
    assert not any("Traceback" in d for d in f.details)  # only with --debug
    debug = check_host(FakeHost(), ProbeOptions(no_tf=True), CheckOptions(debug=True))
    assert any("Traceback" in d for d in debug.get("pci.nvidia-gpu").details)


def test_a_hung_probe_times_out_as_a_finding(monkeypatch):
    def hang(host, ctx):
        time.sleep(30)

    monkeypatch.setitem(PROBES, "driver", ProbeSpec("driver", hang, (), 0.3, "driver"))
    t0 = time.monotonic()
    report = check_host(FakeHost(), ProbeOptions(no_tf=True), CheckOptions())
    assert time.monotonic() - t0 < 5
    f = report.get("driver.nouveau")
    assert f.status == Status.ERROR and "did not finish" in " ".join(f.details)


def test_probes_run_concurrently(monkeypatch):
    def slow(name):
        def probe(host, ctx):
            time.sleep(0.5)
            return None
        return ProbeSpec(name, probe, (), 5, name)

    for name in ("cpu", "env", "nvml"):
        monkeypatch.setitem(PROBES, name, slow(name))
    t0 = time.monotonic()
    run_probes(FakeHost(), ProbeOptions(no_tf=True), {"cpu", "env", "nvml"})
    assert time.monotonic() - t0 < 1.2


def test_a_crashing_check_becomes_an_error_finding(monkeypatch):
    import dataclasses

    from tfdoctor.checks import CHECKS

    def broken(facts):
        raise KeyError("flags")

    monkeypatch.setitem(CHECKS, "cpu.avx", dataclasses.replace(catalogue.get("cpu.avx"), func=broken))
    report = check_host(FakeHost(files={"/proc/cpuinfo": "flags : avx\n"}), ProbeOptions(no_tf=True), CheckOptions())
    assert report.get("cpu.avx").status == Status.ERROR
    assert report.get("cpu.features").status != Status.ERROR


def test_only_and_skip_select_findings():
    report = check_host(FakeHost(), ProbeOptions(no_tf=True), CheckOptions(only=("cpu",), skip=("cpu.features",)))
    assert [f.id for f in report.findings] == ["cpu.avx"]


def test_no_tf_skips_tensorflow_findings_with_the_reason():
    report = check_host(FakeHost(), ProbeOptions(no_tf=True), CheckOptions(only=("tf.installed",)))
    assert report.get("tf.installed").status == Status.SKIP
    assert "--no-tf" in report.get("tf.installed").summary


def test_diagnosis_points_downstream_failures_at_the_most_upstream_one():
    upstream = {"b": ("a",), "c": ("b",), "d": ()}
    out = diagnose([fail("a", "A"), fail("b", "B"), warn("c", "C"), fail("d", "D")], upstream)
    by = {f.id: f for f in out}
    assert by["a"].root_cause and by["a"].caused_by is None
    assert by["b"].caused_by == "a" and by["c"].caused_by == "a"
    assert by["d"].caused_by is None and not by["d"].root_cause  # independent, but not the first


def test_a_failure_its_check_says_follows_from_a_later_finding_points_there_without_a_cycle():
    # b is reported first and sits upstream of c in the catalogue, but b's failure, its check says, follows from c's
    # (b = `import tensorflow`, c = the CUDA library it could not load)
    upstream = {"b": ("a",), "c": ("b",)}
    out = diagnose([ok("a", "A"), fail("b", "B").with_(caused_by="c"), fail("c", "C"), warn("d", "D")],
                   {**upstream, "d": ("c",)})
    by = {f.id: f for f in out}
    assert by["b"].caused_by == "c" and not by["b"].root_cause
    assert by["c"].caused_by is None and by["c"].root_cause  # not caused by b, whose failure it explains
    assert by["d"].caused_by == "c"


def test_a_declared_cause_that_did_not_fail_is_ignored():
    out = diagnose([fail("b", "B").with_(caused_by="c"), ok("c", "C")], {"c": ("b",)})
    by = {f.id: f for f in out}
    assert by["b"].root_cause and by["b"].caused_by is None


def test_diagnosis_without_failures_has_no_root():
    out = diagnose([ok("a", "A"), warn("b", "B")], {"b": ("a",)})
    assert not any(f.root_cause for f in out) and all(f.caused_by is None for f in out)


def test_every_upstream_id_exists_in_the_catalogue():
    ids = set(catalogue.ids())
    for spec in catalogue.entries():
        assert set(spec.after) <= ids, (spec.id, set(spec.after) - ids)
        assert spec.what and spec.why and spec.fix


def test_finding_ids_follow_the_naming_rule():
    import re

    for fid in catalogue.ids():
        assert re.fullmatch(r"[a-z]+\.[a-z0-9]+(-[a-z0-9]+)*", fid), fid


def test_required_catalogue_ids_exist():
    required = {"system.os", "system.python", "env.container", "env.wsl", "env.cuda-visible-devices", "cpu.avx",
                "cpu.features", "pci.nvidia-gpu", "driver.nouveau", "driver.nvidia-module", "driver.recommended",
                "driver.secure-boot", "driver.dkms", "nvml.init", "nvml.devices", "tf.installed", "tf.import",
                "tf.cuda-build", "tf.cuda-libs", "tf.gpu-visible", "compat.driver-cuda", "compat.compute-capability",
                "compat.python"}
    assert required <= set(catalogue.ids())


def test_findings_are_plain_data():
    f = Finding("x.y", Status.OK, "fine")
    assert f.with_(summary="other").summary == "other" and f.summary == "fine"


def test_with_require_gpu_a_hung_gpu_probe_is_a_failure_the_diagnosis_sees(monkeypatch):
    def hang(host, ctx):
        time.sleep(30)

    monkeypatch.setitem(PROBES, "nvml", ProbeSpec("nvml", hang, (), 0.3, "nvml"))
    report = check_host(FakeHost(), ProbeOptions(no_tf=True), CheckOptions(require_gpu=True, only=("nvml",)))
    f = report.get("nvml.init")
    assert f.status == Status.FAIL and "did not finish" in f.summary
    # the selection names the root cause the full check names (pci.nvidia-gpu reads NVML too, and is upstream)
    full = check_host(FakeHost(), ProbeOptions(no_tf=True), CheckOptions(require_gpu=True))
    assert report.root_cause is not None and full.root_cause is not None
    assert report.root_cause.id == full.root_cause.id and "did not finish" in report.root_cause.summary
    assert report.exit_code() == 1
    relaxed = check_host(FakeHost(), ProbeOptions(no_tf=True), CheckOptions(only=("nvml",)))
    assert relaxed.get("nvml.init").status == Status.ERROR


def test_a_check_declared_on_a_helper_is_refused():
    """A helper put between `@check(...)` and its check function would take the check's place (it happened twice):
    the decorator refuses any function not named check_* (a public helper slipped in the same way a third time)."""
    import pytest

    from tfdoctor.checks import CHECKS, check

    with pytest.raises(ValueError, match="_helper"):
        @check("test.misplaced", area="gpu", title="t", needs=(), what="w", why="y", fix="f")
        def _helper(facts):
            return None
    with pytest.raises(ValueError, match="gpu0_node_missing"):
        @check("test.misplaced", area="gpu", title="t", needs=(), what="w", why="y", fix="f")
        def gpu0_node_missing(facts):
            return None
    assert "test.misplaced" not in CHECKS
