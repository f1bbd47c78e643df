"""--only/--skip choose what is shown and what decides the exit status, never the diagnosis."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.conftest import SNAPSHOTS, snapshot_dirs
from tfdoctor import catalogue
from tfdoctor.api import raw_check
from tfdoctor.checks import AREAS
from tfdoctor.cli import app
from tfdoctor.host import open_snapshot
from tfdoctor.model import Status

runner = CliRunner()
QUADRO = str(SNAPSHOTS / "quadro-p2000-no-driver")
NO_GPU = str(SNAPSHOTS / "no-nvidia-gpu")


def _check(snapshot, **kw):
    return raw_check(open_snapshot(snapshot), snapshot=snapshot, **kw)


@pytest.mark.parametrize("snapshot", snapshot_dirs(), ids=lambda p: p.name)
def test_a_selection_shows_the_findings_of_the_full_check_and_its_root_cause(snapshot):
    full = _check(str(snapshot))
    by_id = {f.id: f for f in full.findings}
    for name in [*AREAS, "tf", "pci", "env", "nvml.devices", "tf.gpu-visible"]:
        part = _check(str(snapshot), only=(name,))
        for f in part.findings:  # every finding reads exactly as in the full check
            assert (f.status, f.summary, f.caused_by) == (by_id[f.id].status, by_id[f.id].summary,
                                                          by_id[f.id].caused_by), (name, f.id)
        root = part.root_cause
        if root is not None:  # the selection's root cause is one the full check names as independent
            assert by_id[root.id].status == Status.FAIL and by_id[root.id].caused_by is None, (name, root.id)
        if full.exit_code() == 0:
            assert part.exit_code() == 0, name


def test_only_tensorflow_on_a_machine_without_a_driver_fails_with_the_driver_as_root_cause():
    # before: the selection passed (1 warning) although the full check fails
    full = _check(QUADRO)
    part = _check(QUADRO, only=("tensorflow",))
    assert full.exit_code() == 1 and part.exit_code() == 1
    assert part.root_cause.id == full.root_cause.id == "driver.nvidia-module"
    # the root cause is brought in (its fix is the one to run); nothing else from outside the selection
    assert {f.id for f in part.findings} - set(catalogue.area_ids("tensorflow")) == {"driver.nvidia-module"}
    assert part.get("tf.gpu-visible").status == Status.FAIL


def test_only_nvml_on_a_machine_without_a_gpu_passes_as_the_full_check_does():
    assert _check(NO_GPU).exit_code() == 0
    part = _check(NO_GPU, only=("nvml",))
    assert part.exit_code() == 0 and part.root_cause is None
    assert [f.id for f in part.findings] == ["nvml.init", "nvml.devices"]


def test_skip_takes_the_same_names_and_keeps_the_verdict():
    part = _check(QUADRO, skip=("tf", "pci", "env"))
    ids = {f.id for f in part.findings}
    assert not ids & {"tf.installed", "pci.nvidia-gpu", "env.container"} and "system.os" in ids
    assert part.exit_code() == 1 and part.root_cause.id == "driver.nvidia-module"


def test_id_prefixes_are_area_aliases_derived_from_the_catalogue():
    assert catalogue.area_aliases("tensorflow") == ("tf",)
    # the GPU hardware area holds pci.nvidia-gpu and the gpu.* data-centre findings: no one prefix names it all
    assert catalogue.area_aliases("gpu") == ()
    assert catalogue.resolve("pci") == ("pci.nvidia-gpu",)
    assert catalogue.area_aliases("system") == ()  # system.* and env.*: no one prefix names the whole area
    assert catalogue.resolve("tf") == catalogue.area_ids("tensorflow")
    assert catalogue.resolve("env") == tuple(i for i in catalogue.ids() if i.startswith("env."))
    assert catalogue.resolve("driver.dkms") == ("driver.dkms",)


@pytest.mark.parametrize(("typo", "meant"), [("tensorflo", "tensorflow"), ("driver.noveau", "driver.nouveau"),
                                              ("nvml.int", "nvml.init")])
def test_an_unknown_name_is_a_usage_error_that_suggests_the_close_one(typo, meant):
    res = runner.invoke(app, ["check", "--only", typo, "--from", QUADRO])
    assert res.exit_code == 2
    assert f"did you mean '{meant}'" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    with pytest.raises(ValueError, match=meant):
        catalogue.resolve(typo)


def test_skip_tf_and_skip_pci_are_accepted():
    res = runner.invoke(app, ["check", "--from", QUADRO, "--skip", "tf", "--skip", "pci"])
    assert res.exit_code == 1, res.stderr
    assert "tf.gpu-visible" not in res.stdout and "pci.nvidia-gpu" not in res.stdout


def test_list_checks_lists_the_areas_with_their_aliases():
    res = runner.invoke(app, ["check", "--list-checks"])
    assert res.exit_code == 0
    text = res.stdout
    assert "Areas" in text and "tensorflow, tf" in text and "pci.*, gpu.*" in text
    doc = json.loads(runner.invoke(app, ["check", "--list-checks", "--json"]).stdout)
    areas = {a["area"]: a for a in doc["areas"]}
    assert set(areas) == set(AREAS)
    assert areas["tensorflow"]["aliases"] == ["tf"] and areas["system"]["prefixes"] == ["system", "env", "container"]
    assert sorted(i for a in areas.values() for i in a["ids"]) == sorted(catalogue.ids())
