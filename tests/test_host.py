"""The one door to the machine: replay reads only inside a snapshot, damaged snapshots get one-line errors,
and a recorded snapshot replays to the same findings."""

from __future__ import annotations

import io
import json
import os
import tarfile

import pytest
from typer.testing import CliRunner

from tests.conftest import SNAPSHOTS
from tfdoctor.cli import app, run_check
from tfdoctor.host import LiveHost, RecordingHost, ReplayHost, SnapshotError, command_key
from tfdoctor.redact import Redactor

MANIFEST = {"format": "tfdoctor-snapshot", "version": 1}


def write_snapshot(root, files=None, manifest=MANIFEST):
    root.mkdir(parents=True, exist_ok=True)
    if manifest is not None:
        (root / "manifest.json").write_text(json.dumps(manifest) if isinstance(manifest, dict) else manifest)
    for rel, text in (files or {}).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def test_command_key_joins_argv_and_escapes_slashes():
    assert command_key(["lspci", "-nnk"]) == "lspci_-nnk"
    assert command_key(["/usr/bin/nvidia-smi"]) == "%2Fusr%2Fbin%2Fnvidia-smi"


def test_replay_reads_commands_with_stderr_and_exit_status(tmp_path):
    root = write_snapshot(tmp_path / "s", {"commands/nvidia-smi": "NVIDIA-SMI has failed\n",
                                            "commands/nvidia-smi.rc": "9\n", "commands/dkms_status.err": "oops"})
    host = ReplayHost(root)
    res = host.run(["nvidia-smi"])
    assert (res.rc, res.stdout) == (9, "NVIDIA-SMI has failed\n")
    assert host.run(["dkms", "status"]).stderr == "oops"
    assert host.run(["lspci", "-nnk"]).missing  # absent = not installed on that machine


def test_replay_never_escapes_the_snapshot(tmp_path):
    root = write_snapshot(tmp_path / "s", {"files/etc/os-release": "ID=ubuntu\n"})
    (tmp_path / "secret").write_text("top secret")
    host = ReplayHost(root)
    assert host.read("/etc/os-release") == "ID=ubuntu\n"
    assert host.read("/../../secret") is None
    assert host.read("../../../secret") is None
    assert host.run(["..", "..", "secret"]).missing
    os.symlink(tmp_path / "secret", root / "files" / "link")
    assert host.read("/link") is None  # a symlink pointing outside is not followed


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (None, "no manifest.json"),
        ("{not json", "not valid JSON"),
        ({"format": "something-else", "version": 1}, "does not say format"),
        ({"format": "tfdoctor-snapshot", "version": 7}, "version 7 is not supported"),
    ],
)
def test_damaged_snapshot_gets_one_clear_line(tmp_path, manifest, message):
    root = write_snapshot(tmp_path / "s", manifest=manifest)
    with pytest.raises(SnapshotError, match=message):
        ReplayHost(root)
    res = CliRunner().invoke(app, ["check", "--from", str(root)])
    assert res.exit_code == 2
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_binary_junk_is_not_a_snapshot(tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(os.urandom(4096))
    res = CliRunner().invoke(app, ["check", "--from", str(junk)])
    assert res.exit_code == 2
    assert "not a snapshot" in res.stderr


def test_bad_json_in_env_or_nvml_record_is_reported(tmp_path):
    root = write_snapshot(tmp_path / "s", {"nvml.json": "[1, 2"})
    res = CliRunner().invoke(app, ["check", "--from", str(root), "--no-tf"])
    assert res.exit_code == 2 and "nvml.json is not valid JSON" in res.stderr


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)


def _file(name, data=b"x"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def test_tarball_with_path_escape_is_refused(tmp_path):
    bad = tmp_path / "bad.tar.gz"
    _tar(bad, [_file("manifest.json", json.dumps(MANIFEST).encode()), _file("../../etc/passwd")])
    with pytest.raises(SnapshotError, match="escapes the snapshot"):
        ReplayHost(bad)


def test_tarball_with_absolute_symlink_is_refused(tmp_path):
    bad = tmp_path / "bad.tar.gz"
    link = tarfile.TarInfo("files/etc/os-release")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    _tar(bad, [_file("manifest.json", json.dumps(MANIFEST).encode()), (link, None)])
    with pytest.raises(SnapshotError, match="holds a link"):
        ReplayHost(bad)


def test_tarball_snapshot_replays_like_the_directory(tmp_path):
    src = SNAPSHOTS / "quadro-p2000-no-driver"
    tgz = tmp_path / "quadro.tar.gz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(src, arcname="quadro")  # a folder at the top is accepted too
    a = run_check(from_=str(src), no_tf=True)
    b = run_check(from_=str(tgz), no_tf=True)
    assert [(f.id, f.status, f.summary) for f in a.findings] == [(f.id, f.status, f.summary) for f in b.findings]


def test_live_host_turns_missing_tools_and_timeouts_into_results():
    host = LiveHost()
    assert host.run(["tfdoctor-no-such-tool-xyz"]).missing
    slow = host.run(["sleep", "5"], timeout=0.2)
    assert slow.timed_out and slow.rc == 124
    assert host.read("/nonexistent/file") is None
    with pytest.raises(ValueError):
        host.env("HOME")  # not on the allow-list


def test_recorded_snapshot_replays_to_the_same_findings(tmp_path):
    """A snapshot of this machine, replayed, gives the findings the live run gave."""
    host = RecordingHost()
    live = run_check(host=host, no_tf=True)
    host.write_snapshot(tmp_path / "snap", Redactor())
    replayed = run_check(from_=str(tmp_path / "snap"), no_tf=True)
    strip = [(f.id, f.status) for f in live.findings if f.id != "system.python"]
    assert strip == [(f.id, f.status) for f in replayed.findings if f.id != "system.python"]
    manifest = json.loads((tmp_path / "snap" / "manifest.json").read_text())
    assert manifest["format"] == "tfdoctor-snapshot" and manifest["version"] == 1
    env = json.loads((tmp_path / "snap" / "env.json").read_text())
    assert set(env) <= set(__import__("tfdoctor.host", fromlist=["ALLOWED_ENV"]).ALLOWED_ENV)


def test_snapshot_command_writes_a_tarball(tmp_path):
    out = tmp_path / "machine.tar.gz"
    res = CliRunner().invoke(app, ["snapshot", "-o", str(out), "--no-tf"])
    assert res.exit_code == 0, res.output
    assert tarfile.is_tarfile(out)
    res2 = CliRunner().invoke(app, ["check", "--from", str(out), "--json", "--no-tf"])
    assert json.loads(res2.stdout)["schema_version"] == 2
