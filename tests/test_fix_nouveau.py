"""`tfdoctor fix-nouveau` against temporary system images (--root), with stand-in initramfs tools.

Every test builds a root under tmp_path (see tests/fixtures/roots/SOURCE.md for what is real and what is
synthesised), runs the real command through the CLI, and looks at the files and at the stand-ins' argument logs.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tfdoctor import __version__
from tfdoctor.cli import app
from tfdoctor.fix import command as fix_command
from tfdoctor.fix import nouveau as nv

FIXTURES = Path(__file__).parent / "fixtures" / "roots"
KERNEL = "6.8.0-31-generic"
TARGET_REL = "etc/modprobe.d/blacklist-nouveau.conf"

PROC_MODULES_NOUVEAU = """\
nouveau 3694592 0 - Live 0x0000000000000000
mxm_wmi 12288 1 nouveau, Live 0x0000000000000000
drm_ttm_helper 12288 1 nouveau, Live 0x0000000000000000
ttm 110592 2 nouveau,drm_ttm_helper, Live 0x0000000000000000
video 73728 1 nouveau, Live 0x0000000000000000
wmi 40960 3 mxm_wmi,nouveau,video, Live 0x0000000000000000
"""
PROC_MODULES_NOVA = """\
nova_drm 16384 0 - Live 0x0000000000000000
nova_core 65536 1 nova_drm, Live 0x0000000000000000
"""
PROC_MODULES_NVIDIA = """\
nvidia_drm 126976 0 - Live 0x0000000000000000
nvidia_modeset 1556480 1 nvidia_drm, Live 0x0000000000000000
nvidia 56807424 1 nvidia_modeset, Live 0x0000000000000000
"""
CMDLINE = f"BOOT_IMAGE=/boot/vmlinuz-{KERNEL} root=UUID=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0 ro quiet splash\n"


@dataclass
class Root:
    path: Path
    log: Path

    def p(self, rel: str) -> Path:
        return self.path / rel

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


def _script(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def make_root(tmp_path: Path, *, distro: str = "ubuntu", loaded: str = PROC_MODULES_NOUVEAU, driver: bool = True,
              nova: bool = False, tool: str | None = "auto", tool_fails: bool = False, bound: str = "nouveau",
              distro_blacklist: str | None = None, cmdline: str = CMDLINE) -> Root:
    """A system image under tmp_path/root; stand-in tools log their argv to tmp_path/calls.log."""
    root = tmp_path / "root"
    log = tmp_path / "calls.log"
    etc = root / "etc"
    (etc / "modprobe.d").mkdir(parents=True)
    os_release = "ubuntu-22.04-os-release" if distro == "ubuntu" else "fedora-38-os-release"
    (etc / "os-release").write_bytes((FIXTURES / os_release).read_bytes())
    libmp = root / "lib" / "modprobe.d"
    libmp.mkdir(parents=True)
    (libmp / "systemd.conf").write_bytes((FIXTURES / "systemd-252.conf").read_bytes())
    if distro_blacklist:
        (libmp / "nvidia-graphics-drivers.conf").write_bytes((FIXTURES / distro_blacklist).read_bytes())
        (etc / "modprobe.d" / "nvidia-graphics-drivers-kms.conf").write_bytes(
            (FIXTURES / "nvidia-graphics-drivers-kms-595.conf").read_bytes())
    proc = root / "proc"
    (proc / "sys" / "kernel").mkdir(parents=True)
    (proc / "sys" / "kernel" / "osrelease").write_text(KERNEL + "\n")
    (proc / "cmdline").write_text(cmdline)
    (proc / "modules").write_text(loaded)
    deps = ["kernel/drivers/gpu/drm/drm.ko.zst:"]
    if driver:
        deps.append("kernel/drivers/video/nvidia.ko: kernel/drivers/gpu/drm/drm.ko.zst")
    if nova:
        deps.append("kernel/drivers/gpu/nova-core/nova_core.ko.zst:")
        deps.append("kernel/drivers/gpu/drm/nova/nova_drm.ko.zst: kernel/drivers/gpu/drm/drm.ko.zst")
    deps.append("kernel/drivers/gpu/drm/nouveau/nouveau.ko.zst: kernel/drivers/gpu/drm/drm.ko.zst")
    mods = root / "lib" / "modules" / KERNEL
    mods.mkdir(parents=True)
    (mods / "modules.dep").write_text("\n".join(deps) + "\n")
    dev = root / "sys" / "bus" / "pci" / "devices" / "0000:01:00.0"
    dev.mkdir(parents=True)
    (dev / "vendor").write_text("0x10de\n")
    (dev / "device").write_text("0x1e84\n")
    (dev / "class").write_text("0x030000\n")
    if bound:
        os.symlink(f"../../../bus/pci/drivers/{bound}", dev / "driver")
    if tool == "auto":
        tool = "update-initramfs" if distro == "ubuntu" else "dracut"
    if tool:
        where = "usr/sbin" if tool == "update-initramfs" else "usr/bin"
        body = f'printf "%s\\n" "{tool} $*" >> "{log}"\n'
        body += 'echo "E: failed to build the initramfs (stand-in)" >&2\nexit 1\n' if tool_fails else "exit 0\n"
        _script(root / where / tool, body)
    return Root(root, log)


@pytest.fixture
def standin_chroot(tmp_path, monkeypatch):
    """A `chroot` on PATH that logs and runs DIR/<tool> directly (a temporary root has no shell to chroot into)."""
    bindir = tmp_path / "bin"
    log = tmp_path / "calls.log"
    _script(bindir / "chroot", f'printf "chroot %s\\n" "$*" >> "{log}"\nroot=$1; shift; tool=$1; shift\n'
                               'exec "$root$tool" "$@"\n')
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    return bindir


@pytest.fixture
def as_root(monkeypatch):
    monkeypatch.setattr(fix_command, "_euid", lambda: 0)


def run_cli(root: Root | Path, *args: str, input: str | None = None):
    path = root.path if isinstance(root, Root) else root
    return CliRunner().invoke(app, ["fix-nouveau", "--root", str(path), *args], input=input)


def tree_digest(path: Path) -> str:
    """A hash of every name, mode, link target and file content under path."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            st_ = p.lstat()
            h.update(f"{p.relative_to(path)}|{st_.st_mode:o}".encode())
            if stat.S_ISLNK(st_.st_mode):
                h.update(os.readlink(p).encode())
            elif stat.S_ISREG(st_.st_mode):
                h.update(p.read_bytes())
    return h.hexdigest()


def expected_file(*lines: str, backup: str | None = None) -> str:
    head = [f"# Written by tfdoctor fix-nouveau {__version__} on {date.today().isoformat()}. "
            "Remove with: tfdoctor fix-nouveau --undo"]
    if backup:
        head.append(f"# The file it replaced is kept as {backup}; --undo puts it back.")
    return "\n".join([*head, "blacklist nouveau", "options nouveau modeset=0", *lines]) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# --dry-run
# ---------------------------------------------------------------------------------------------------------------
def test_dry_run_prints_state_file_and_commands_and_changes_nothing(tmp_path, as_root, standin_chroot):
    r = make_root(tmp_path)
    before = tree_digest(r.path)
    res = run_cli(r, "--dry-run")
    assert res.exit_code == 0, res.output
    out = res.output
    assert "Ubuntu 22.04.2 LTS" in out
    assert "nouveau:          loaded; bound to 0000:01:00.0 (nouveau)" in out
    assert "Blacklisted in:   nowhere" in out
    assert "update-initramfs (/usr/sbin/update-initramfs; Debian/Ubuntu use initramfs-tools)" in out
    assert "NVIDIA driver:    installed" in out
    assert expected_file() in out  # the whole file, verbatim
    assert f"Would run: chroot {r.path} /usr/sbin/update-initramfs -u" in out
    assert "reboot is needed" in out
    assert tree_digest(r.path) == before
    assert r.calls() == []


def test_dry_run_needs_no_root(tmp_path, monkeypatch):
    monkeypatch.setattr(fix_command, "_euid", lambda: 1000)
    r = make_root(tmp_path)
    res = run_cli(r, "--dry-run")
    assert res.exit_code == 0, res.output
    assert "not running as root" in res.output and f"sudo chroot {r.path} /usr/sbin/update-initramfs -u" in res.output


def test_dry_run_without_driver_warns_that_the_real_run_would_refuse(tmp_path, as_root):
    r = make_root(tmp_path, driver=False)
    res = run_cli(r, "--dry-run")
    assert res.exit_code == 0
    assert "NVIDIA driver:    not found" in res.output
    assert "without --force the real run would refuse" in res.output


# ---------------------------------------------------------------------------------------------------------------
# Applying
# ---------------------------------------------------------------------------------------------------------------
def test_apply_writes_exact_content_mode_0644_and_runs_update_initramfs(tmp_path, as_root, standin_chroot):
    r = make_root(tmp_path)
    old_umask = os.umask(0o077)  # the mode must not depend on the caller's umask
    try:
        res = run_cli(r, "--yes")
    finally:
        os.umask(old_umask)
    assert res.exit_code == 0, res.output
    target = r.p(TARGET_REL)
    assert target.read_text() == expected_file()
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert r.calls() == [f"chroot {r.path} /usr/sbin/update-initramfs -u", "update-initramfs -u"]
    assert "Reboot for the blacklist to take effect." in res.output
    # No temporary or backup files are left behind.
    assert sorted(os.listdir(r.p("etc/modprobe.d"))) == ["blacklist-nouveau.conf"]


def test_second_run_changes_nothing(tmp_path, as_root, standin_chroot):
    r = make_root(tmp_path)
    assert run_cli(r, "--yes").exit_code == 0
    after_first = tree_digest(r.path)
    calls = r.calls()
    res = run_cli(r, "--yes")
    assert res.exit_code == 0, res.output
    assert "already blacklisted where it counts: nothing to write" in res.output
    assert f"{r.path}/{TARGET_REL}: blacklist nouveau" not in res.output  # paths are shown as the system sees them
    assert "/etc/modprobe.d/blacklist-nouveau.conf: blacklist nouveau" in res.output
    assert tree_digest(r.path) == after_first
    assert r.calls() == calls  # the initramfs was not rebuilt again


def test_distro_package_blacklist_counts_and_nothing_is_written(tmp_path, as_root, standin_chroot):
    r = make_root(tmp_path, distro_blacklist="nvidia-graphics-drivers-535-server.conf")
    before = tree_digest(r.path)
    res = run_cli(r, "--yes")
    assert res.exit_code == 0, res.output
    assert "/lib/modprobe.d/nvidia-graphics-drivers.conf: blacklist nouveau" in res.output
    assert "/lib/modprobe.d/nvidia-graphics-drivers.conf: alias nouveau off" in res.output
    assert "nothing to write" in res.output
    assert "nouveau is still loaded: reboot" in res.output
    assert tree_digest(r.path) == before and r.calls() == []


def test_kernel_command_line_blacklist_counts(tmp_path, as_root, standin_chroot):
    r = make_root(tmp_path, cmdline=CMDLINE.strip() + " modprobe.blacklist=nouveau\n", loaded=PROC_MODULES_NVIDIA,
                  bound="nvidia")
    res = run_cli(r, "--yes")
    assert res.exit_code == 0
    assert "/proc/cmdline: modprobe.blacklist=nouveau" in res.output
    assert not r.p(TARGET_REL).exists()


def test_blacklist_in_a_file_not_ending_in_conf_is_the_common_mistake(tmp_path, as_root, standin_chroot):
    r = make_root(tmp_path)
    r.p("etc/modprobe.d/blacklist-nouveau").write_text("blacklist nouveau\n")
    res = run_cli(r, "--yes")
    assert res.exit_code == 0, res.output
    assert "Blacklists that do NOT count:" in res.output
    assert "/etc/modprobe.d/blacklist-nouveau: blacklist nouveau — modprobe reads only files whose name ends in .conf" \
        in res.output
    assert r.p(TARGET_REL).read_text() == expected_file()
    assert r.p("etc/modprobe.d/blacklist-nouveau").read_text() == "blacklist nouveau\n"  # not ours: untouched


def test_existing_file_is_backed_up_and_undo_restores_its_exact_bytes(tmp_path, as_root, standin_chroot):
    r = make_root(tmp_path)
    original = b"# my notes\n#blacklist nouveau\r\noptions snd_hda_intel power_save=0\n\xff\n"
    target = r.p(TARGET_REL)
    target.write_bytes(original)
    target.chmod(0o600)
    res = run_cli(r, "--yes")
    assert res.exit_code == 0, res.output
    backup = r.p(TARGET_REL + ".tfdoctor-backup")
    assert backup.read_bytes() == original and stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert target.read_text() == expected_file(backup="blacklist-nouveau.conf.tfdoctor-backup")
    assert "Kept the file it replaced as" in res.output

    res = run_cli(r, "--undo", "--yes")
    assert res.exit_code == 0, res.output
    assert target.read_bytes() == original
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not backup.exists()
    assert r.calls()[-1] == "update-initramfs -u"


def test_own_file_is_rewritten_without_a_backup_when_nova_appears(tmp_path, as_root, standin_chroot):
    r = make_root(tmp_path, nova=False)
    r.p(TARGET_REL).write_bytes(b"# mine\n")
    assert run_cli(r, "--yes").exit_code == 0
    # A new kernel with nova arrives: tfdoctor's own file is rewritten; the user's original stays the backup.
    deps = r.p(f"lib/modules/{KERNEL}/modules.dep")
    deps.write_text(deps.read_text() + "kernel/drivers/gpu/nova-core/nova_core.ko.zst:\n")
    res = run_cli(r, "--yes")
    assert res.exit_code == 0, res.output
    assert r.p(TARGET_REL).read_text() == expected_file("blacklist nova_core", "blacklist nova_drm",
                                                        backup="blacklist-nouveau.conf.tfdoctor-backup")
    assert sorted(os.listdir(r.p("etc/modprobe.d"))) == ["blacklist-nouveau.conf",
                                                          "blacklist-nouveau.conf.tfdoctor-backup"]
    assert run_cli(r, "--undo", "--yes").exit_code == 0
    assert r.p(TARGET_REL).read_bytes() == b"# mine\n"


def test_undo_removes_a_file_that_replaced_nothing(tmp_path, as_root, standin_chroot):
    r = make_root(tmp_path)
    before = tree_digest(r.path)
    assert run_cli(r, "--yes").exit_code == 0
    res = run_cli(r, "--undo", "--yes")
    assert res.exit_code == 0, res.output
    assert tree_digest(r.path) == before
    assert r.calls() == [f"chroot {r.path} /usr/sbin/update-initramfs -u", "update-initramfs -u"] * 2


def test_undo_leaves_a_file_without_the_header_alone(tmp_path, as_root, standin_chroot):
    r = make_root(tmp_path)
    r.p(TARGET_REL).write_text("blacklist nouveau\noptions nouveau modeset=0\n")
    before = tree_digest(r.path)
    res = run_cli(r, "--undo", "--yes")
    # nothing of tfdoctor's to undo: left alone, and not an error (so that --undo can be repeated)
    assert res.exit_code == 0
    assert "was not written by tfdoctor" in res.output and "left alone" in res.output
    assert tree_digest(r.path) == before and r.calls() == []


def test_undo_with_nothing_written_is_a_no_op(tmp_path, as_root):
    r = make_root(tmp_path)
    res = run_cli(r, "--undo", "--yes")
    assert res.exit_code == 0
    assert "nothing to undo" in res.output


def test_undo_dry_run_changes_nothing(tmp_path, as_root, standin_chroot):
    r = make_root(tmp_path)
    assert run_cli(r, "--yes").exit_code == 0
    before = tree_digest(r.path)
    res = run_cli(r, "--undo", "--dry-run")
    assert res.exit_code == 0
    assert f"Would remove {r.path}/{TARGET_REL}." in res.output
    assert tree_digest(r.path) == before


# ---------------------------------------------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------------------------------------------
def test_refuses_without_nvidia_driver_unless_forced(tmp_path, as_root, standin_chroot):
    r = make_root(tmp_path, driver=False)
    before = tree_digest(r.path)
    res = run_cli(r, "--yes")
    assert res.exit_code == 1
    assert "refusing: no NVIDIA driver is installed" in res.output
    # The driver.recommended finding's fix: RTX 2070 SUPER on Ubuntu, no ubuntu-drivers in an image.
    assert "Install the driver, then reboot." in res.output or "Install nvidia-driver-" in res.output
    assert "sudo apt install nvidia-driver-" in res.output or "sudo ubuntu-drivers install" in res.output
    assert tree_digest(r.path) == before and r.calls() == []

    res = run_cli(r, "--yes", "--force")
    assert res.exit_code == 0, res.output
    assert r.p(TARGET_REL).read_text() == expected_file()


def test_no_terminal_and_no_yes_does_nothing(tmp_path, as_root, standin_chroot):
    r = make_root(tmp_path)
    before = tree_digest(r.path)
    res = run_cli(r)  # CliRunner's stdin is not a terminal
    assert res.exit_code == 2
    assert "no terminal to ask for confirmation on" in res.output and "--yes" in res.output
    assert tree_digest(r.path) == before and r.calls() == []


def test_confirmation_on_a_terminal(tmp_path, as_root, standin_chroot, monkeypatch):
    monkeypatch.setattr(fix_command, "_is_tty", lambda: True)
    r = make_root(tmp_path)
    before = tree_digest(r.path)
    res = run_cli(r, input="n\n")
    assert res.exit_code == 1 and "Nothing was done." in res.output
    assert tree_digest(r.path) == before
    res = run_cli(r, input="y\n")
    assert res.exit_code == 0, res.output
    assert r.p(TARGET_REL).exists()


def test_not_root_on_the_live_system_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(fix_command, "_euid", lambda: 1000)
    res = CliRunner().invoke(app, ["fix-nouveau", "--yes"])
    assert res.exit_code == 2
    assert "needs root" in res.output and "Nothing was changed" in res.output


def test_root_that_is_not_a_directory(tmp_path):
    res = run_cli(tmp_path / "nope", "--dry-run")
    assert res.exit_code == 2 and "not a directory" in res.output


def test_unwritable_root_gets_a_clear_error_and_nothing_changes(tmp_path, as_root, standin_chroot):
    r = make_root(tmp_path)
    moddir = r.p("etc/modprobe.d")
    if os.geteuid() == 0:
        # chmod does not stop root (CI runs as root) and mounts are off limits: make the directory a file instead,
        # so that creating the temporary file fails the way a read-only file system would.
        moddir.rmdir()
        moddir.write_text("")
    else:
        moddir.chmod(0o555)
    try:
        before = tree_digest(r.path)
        res = run_cli(r, "--yes")
        assert res.exit_code == 1
        assert "cannot write" in res.output and "Nothing was changed." in res.output
        assert "Traceback" not in res.output
        assert tree_digest(r.path) == before and r.calls() == []
    finally:
        if moddir.is_dir():
            moddir.chmod(0o755)


def test_read_only_file_system_error_says_so():
    msg = nv._os_error("write", "/etc/modprobe.d/blacklist-nouveau.conf", OSError(30, "Read-only file system"))
    assert "Read-only file system" in msg and "remount it read-write" in msg


# ---------------------------------------------------------------------------------------------------------------
# Initramfs
# ---------------------------------------------------------------------------------------------------------------
def test_initramfs_failure_rolls_back_the_write(tmp_path, as_root, standin_chroot):
    r = make_root(tmp_path, tool_fails=True)
    before = tree_digest(r.path)
    res = run_cli(r, "--yes")
    assert res.exit_code == 1
    assert "Regenerating the initramfs failed" in res.output
    assert "E: failed to build the initramfs (stand-in)" in res.output  # its output is shown
    assert "Rolled back" in res.output
    assert tree_digest(r.path) == before
    assert r.calls() == [f"chroot {r.path} /usr/sbin/update-initramfs -u", "update-initramfs -u"]


def test_initramfs_failure_restores_a_replaced_file_exactly(tmp_path, as_root, standin_chroot):
    r = make_root(tmp_path, tool_fails=True)
    r.p(TARGET_REL).write_bytes(b"# mine\n")
    before = tree_digest(r.path)
    assert run_cli(r, "--yes").exit_code == 1
    assert tree_digest(r.path) == before


def test_undo_initramfs_failure_puts_tfdoctors_file_back(tmp_path, as_root, standin_chroot):
    r = make_root(tmp_path)
    r.p(TARGET_REL).write_bytes(b"# mine\n")
    assert run_cli(r, "--yes").exit_code == 0
    _script(r.p("usr/sbin/update-initramfs"), "echo broken >&2\nexit 1\n")
    before = tree_digest(r.path)
    res = run_cli(r, "--undo", "--yes")
    assert res.exit_code == 1 and "Rolled back" in res.output
    assert tree_digest(r.path) == before


def test_dracut_on_fedora(tmp_path, as_root, standin_chroot):
    r = make_root(tmp_path, distro="fedora")
    res = run_cli(r, "--yes")
    assert res.exit_code == 0, res.output
    assert "dracut (/usr/bin/dracut; Fedora/RHEL use dracut)" in res.output
    # Inside a chroot dracut must build for the image's kernels, not the running one.
    assert r.calls() == [f"chroot {r.path} /usr/bin/dracut --force --regenerate-all", "dracut --force --regenerate-all"]


def test_no_initramfs_tool_says_what_to_run(tmp_path, as_root, standin_chroot):
    r = make_root(tmp_path, tool=None)
    res = run_cli(r, "--yes")
    assert res.exit_code == 0, res.output
    assert "update-initramfs expected but not installed" in res.output
    assert "install it, then run: sudo update-initramfs -u" in res.output
    assert r.p(TARGET_REL).read_text() == expected_file()
    assert r.calls() == []


def test_unknown_distribution_without_a_tool(tmp_path, as_root):
    r = make_root(tmp_path, tool=None)
    r.p("etc/os-release").unlink()
    res = run_cli(r, "--dry-run")
    assert res.exit_code == 0
    assert "Initramfs tool:   none found" in res.output
    assert "regenerate it with its distribution's tool" in res.output


def test_not_root_with_an_image_writes_but_skips_the_chroot(tmp_path, monkeypatch, standin_chroot):
    monkeypatch.setattr(fix_command, "_euid", lambda: 1000)
    r = make_root(tmp_path)
    res = run_cli(r, "--yes")
    assert res.exit_code == 0, res.output
    assert r.p(TARGET_REL).exists()
    assert f"run: sudo chroot {r.path} /usr/sbin/update-initramfs -u" in res.output
    assert r.calls() == []


def test_live_system_runs_the_tool_itself():
    state = nv.NouveauState(root="/", distro="Ubuntu", os_ids=("ubuntu", "debian"), loaded_modules_known=True,
                            nouveau_loaded=True, nova_loaded=False, nova_available=False, devices=(),
                            blacklistings=(), nvidia_driver=("nvidia-driver-535",),
                            initramfs=nv.InitramfsTool("update-initramfs", ("-u",), "/usr/sbin/update-initramfs", ""))
    assert nv.initramfs_step(state, euid=0).argv == ("/usr/sbin/update-initramfs", "-u")


# ---------------------------------------------------------------------------------------------------------------
# nova_core / nova_drm
# ---------------------------------------------------------------------------------------------------------------
def test_nova_modules_present_are_blacklisted_too(tmp_path, as_root, standin_chroot):
    r = make_root(tmp_path, nova=True, loaded=PROC_MODULES_NOVA, bound="NovaCore")
    res = run_cli(r, "--yes")
    assert res.exit_code == 0, res.output
    assert f"nova_core:        present for {KERNEL}, not loaded" not in res.output
    assert "nova_core:        loaded" in res.output
    assert "bound to 0000:01:00.0 (NovaCore)" in res.output
    assert r.p(TARGET_REL).read_text() == expected_file("blacklist nova_core", "blacklist nova_drm")


def test_nova_not_present_gets_no_nova_lines(tmp_path, as_root, standin_chroot):
    r = make_root(tmp_path, nova=False)
    assert run_cli(r, "--yes").exit_code == 0
    assert "nova" not in r.p(TARGET_REL).read_text().split("\n", 1)[1]


def test_package_blacklist_without_nova_still_needs_nova_lines(tmp_path, as_root, standin_chroot):
    r = make_root(tmp_path, nova=True, distro_blacklist="nvidia-graphics-drivers-535-server.conf")
    res = run_cli(r, "--yes")
    assert res.exit_code == 0, res.output
    assert r.p(TARGET_REL).read_text() == expected_file("blacklist nova_core", "blacklist nova_drm")


def test_595_package_blacklists_nova_already(tmp_path, as_root, standin_chroot):
    r = make_root(tmp_path, nova=True, distro_blacklist="nvidia-graphics-drivers-595.conf")
    res = run_cli(r, "--yes")
    assert res.exit_code == 0
    assert "nouveau and nova_core are already blacklisted" in res.output
    assert not r.p(TARGET_REL).exists()


# ---------------------------------------------------------------------------------------------------------------
# `check` on the root afterwards
# ---------------------------------------------------------------------------------------------------------------
def test_check_on_the_root_afterwards_reports_nouveau_blacklisted(tmp_path, as_root, standin_chroot):
    from tfdoctor import catalogue
    from tfdoctor.engine import CheckOptions, check_host
    from tfdoctor.probes import ProbeOptions

    if catalogue.get("driver.nouveau") is None:
        pytest.skip("the driver.nouveau check is not written yet")
    r = make_root(tmp_path)
    assert run_cli(r, "--yes").exit_code == 0
    # After the reboot: nouveau is gone and the NVIDIA driver has the card (synthesised state, see SOURCE.md).
    r.p("proc/modules").write_text(PROC_MODULES_NVIDIA)
    link = r.p("sys/bus/pci/devices/0000:01:00.0/driver")
    link.unlink()
    os.symlink("../../../bus/pci/drivers/nvidia", link)
    report = check_host(nv.RootHost(str(r.path)), ProbeOptions(no_tf=True), CheckOptions(only=("driver.nouveau",)))
    finding = report.get("driver.nouveau")
    assert finding is not None
    assert finding.status.value == "ok", finding
    assert "blacklisted" in finding.summary


# ---------------------------------------------------------------------------------------------------------------
# What counts as "blacklisted where it counts"
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, text, counts", [
    ("blacklist-nouveau.conf", "blacklist nouveau\n", True),
    ("nouveau.conf", "alias nouveau off\n", True),
    ("nouveau.conf", "install nouveau /bin/false\n", True),
    ("nouveau.conf", "# blacklist nouveau\n", False),
    ("nouveau.conf", "options nouveau modeset=0\n", False),
    ("nouveau.conf", "blacklist nouveau_foo\n", False),
    ("blacklist-nouveau", "blacklist nouveau\n", False),
    ("blacklist-nouveau.conf.bak", "blacklist nouveau\n", False),
])
def test_what_counts_as_blacklisted(tmp_path, name, text, counts):
    r = make_root(tmp_path)
    r.p(f"etc/modprobe.d/{name}").write_text(text)
    state = nv.read_state(str(r.path))
    assert (state.missing == ()) is counts


@pytest.mark.parametrize("param, counts", [
    ("modprobe.blacklist=nouveau", True),
    ("module_blacklist=snd_hda_intel,nouveau", True),
    ("rd.driver.blacklist=nouveau", False),  # only inside a dracut initramfs
    ("nouveau.modeset=0", False),
])
def test_what_counts_on_the_kernel_command_line(tmp_path, param, counts):
    r = make_root(tmp_path, cmdline=CMDLINE.strip() + f" {param}\n")
    assert (nv.read_state(str(r.path)).missing == ()) is counts


def test_a_same_named_file_in_etc_hides_the_package_blacklist(tmp_path, as_root, standin_chroot):
    r = make_root(tmp_path, distro_blacklist="nvidia-graphics-drivers-595.conf")
    r.p("etc/modprobe.d/nvidia-graphics-drivers.conf").write_text("")  # the usual way to mask a package's file
    res = run_cli(r, "--dry-run")
    assert res.exit_code == 0
    assert "hidden by /etc/modprobe.d/nvidia-graphics-drivers.conf" in res.output
    assert "Would write" in res.output


def test_merged_usr_reads_the_package_file_once(tmp_path):
    r = make_root(tmp_path, distro_blacklist="nvidia-graphics-drivers-535-server.conf")
    usr_lib = r.p("usr/lib")
    usr_lib.mkdir(parents=True)
    r.p("lib").rename(usr_lib / "x")
    for child in (usr_lib / "x").iterdir():
        child.rename(usr_lib / child.name)
    (usr_lib / "x").rmdir()
    os.symlink("usr/lib", r.p("lib"))
    state = nv.read_state(str(r.path))
    assert [b.path for b in state.blocked_by("nouveau")] == ["/usr/lib/modprobe.d/nvidia-graphics-drivers.conf"] * 2
    assert state.missing == ()


def test_read_state_of_the_ubuntu_package_file(tmp_path):
    r = make_root(tmp_path, distro_blacklist="nvidia-graphics-drivers-595.conf", nova=True)
    state = nv.read_state(str(r.path))
    assert state.distro == "Ubuntu 22.04.2 LTS" and state.os_ids == ("ubuntu", "debian")
    assert {b.directive for b in state.blocked_by("nova_core")} == {"blacklist nova_core", "alias nova_core off"}
    assert state.nouveau_loaded and not state.nova_loaded and state.nova_available
    assert [d.slot for d in state.devices] == ["0000:01:00.0"] and state.devices[0].driver_in_use == "nouveau"
    assert state.kernels == (KERNEL,)
    assert state.nvidia_driver == (f"nvidia module for kernel {KERNEL} (kernel/drivers/video/nvidia.ko)",)


def test_dpkg_status_of_an_image_counts_as_a_driver(tmp_path):
    r = make_root(tmp_path, driver=False)
    status = r.p("var/lib/dpkg/status")
    status.parent.mkdir(parents=True)
    status.write_text("Package: nvidia-driver-535\nStatus: install ok installed\nVersion: 535.183.01-0ubuntu1\n\n"
                      "Package: nvidia-driver-470\nStatus: deinstall ok config-files\n")
    assert nv.read_state(str(r.path)).nvidia_driver == ("nvidia-driver-535",)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_parsers_never_raise(text):
    nv.parse_dpkg_installed(text)
    nv.parse_modules_dep(text)
    nv.is_ours(text)


def _copy_shell_into(root: Path) -> bool:
    """Put this machine's /bin/sh (and the libraries it links) into root, so a real chroot can run scripts there."""
    import shutil
    import subprocess

    sh = os.path.realpath("/bin/sh")
    ldd = shutil.which("ldd")
    if not ldd or not os.path.exists(sh):
        return False
    out = subprocess.run([ldd, sh], capture_output=True, text=True, timeout=10).stdout
    libs = [part for line in out.splitlines() for part in line.split() if part.startswith("/")]
    for p in [sh, *libs]:
        dst = root / p.lstrip("/")
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, dst)
    if not (root / "bin" / "sh").exists():
        (root / "bin").mkdir(exist_ok=True)
        os.symlink(os.path.relpath(root / sh.lstrip("/"), root / "bin"), root / "bin" / "sh")
    return True


@pytest.mark.skipif(os.geteuid() != 0, reason="a real chroot needs root")
def test_real_chroot_runs_the_tool_inside_the_image(tmp_path, as_root):
    import shutil

    if not shutil.which("chroot"):
        pytest.skip("no chroot on this machine")
    r = make_root(tmp_path, tool=None)
    if not _copy_shell_into(r.path):
        pytest.skip("cannot copy a shell into the image")
    r.p("tmp").mkdir()
    _script(r.p("usr/sbin/update-initramfs"), 'echo "$0 $*" >> /tmp/calls.log\n')  # /tmp of the image
    res = run_cli(r, "--yes")
    assert res.exit_code == 0, res.output
    assert r.p("tmp/calls.log").read_text() == "/usr/sbin/update-initramfs -u\n"
