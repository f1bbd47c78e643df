"""Helpers for the hostile-input tests and benchmarks/hostile.py: stand-in tools, hostile snapshots and archives,
running tfdoctor in a process group of its own, and finding what it left behind.

Stand-in tools are small scripts written here: they stand for a tool that hangs, floods or forks, not for a real
tool's output (no fixture of real output is invented).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import resource
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOTS = ROOT / "tests" / "fixtures" / "snapshots"
MANIFEST = {"format": "tfdoctor-snapshot", "version": 1}

HANG = "#!/bin/bash\ntrap '' TERM INT\nwhile :; do sleep 1; done\n"  # a tool hung in the kernel ignores SIGTERM
FLOOD = "#!/bin/bash\nexec yes 'hostile flood line'\n"
FLOOD_NO_NEWLINE = "#!/bin/bash\nexec tr '\\0' x < /dev/zero\n"
# Grandchildren that keep the tool's stdout open, one of them in a session of its own; each carries the stand-in's path
# in its command line ("$0-grandchild"), so that a test finds whatever is left of it.
_GRANDCHILDREN = ("setsid bash -c 'trap \"\" TERM INT; while :; do sleep 1; done' \"$0-grandchild\" &\n"
                  "bash -c 'trap \"\" TERM INT; while :; do sleep 1; done' \"$0-grandchild\" &\n")
FORK_AND_HOLD = "#!/bin/bash\n" + _GRANDCHILDREN + "echo started\nexit 0\n"
FORK_AND_HANG = "#!/bin/bash\ntrap '' TERM INT\n" + _GRANDCHILDREN + "while :; do sleep 1; done\n"

LIVE_TOOLS = ("lspci", "nvidia-smi", "nvidia-debugdump", "ubuntu-drivers", "mokutil", "dkms", "modinfo", "modprobe",
              "dpkg", "rpm", "journalctl", "dmesg", "lsmod", "uname")


def stand_in_bin(where: Path, body: str, tools=LIVE_TOOLS) -> Path:
    """A directory of stand-in tools, each running `body`."""
    where.mkdir(parents=True, exist_ok=True)
    for name in tools:
        p = where / name
        p.write_text(body)
        p.chmod(0o755)
    return where


def env_with(bin_dir: Path | None = None, **extra) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **{k: str(v) for k, v in extra.items()}}
    if bin_dir is not None:
        env["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    return env


@dataclass
class Ran:
    rc: int | None
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float | None = None


RSS_WRAPPER = textwrap.dedent("""\
    import json, resource, subprocess, sys
    p = subprocess.run(sys.argv[1:], capture_output=True)
    sys.stdout.write(json.dumps({"rc": p.returncode, "out": p.stdout.decode("utf-8", "replace"),
                                 "err": p.stderr.decode("utf-8", "replace"),
                                 "maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
""")


def tfdoctor(*args: str, env: dict | None = None, timeout: float = 120, measure_rss: bool = False) -> Ran:
    """Run `python -m tfdoctor ARGS` in a session of its own; whatever it leaves in that session is killed after (the
    tests look for leftovers by their marker first). With measure_rss, the peak RSS of tfdoctor and its children."""
    argv = [sys.executable, "-m", "tfdoctor", *args]
    if measure_rss:
        argv = [sys.executable, "-c", RSS_WRAPPER, *argv]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, cwd=ROOT, env=env or env_with(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        out, err = b"", b"(timed out)"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    seconds = time.monotonic() - t0
    text_out, text_err = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    if measure_rss and text_out.startswith("{"):
        doc = json.loads(text_out)
        return Ran(doc["rc"], doc["out"], doc["err"], seconds, doc["maxrss_kb"] / 1024)
    return Ran(proc.returncode, text_out, text_err, seconds)


def start(*args: str, env: dict | None = None) -> subprocess.Popen:
    """tfdoctor started in the background (for the interrupt tests), in a session of its own."""
    return subprocess.Popen([sys.executable, "-m", "tfdoctor", *args], cwd=ROOT, env=env or env_with(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def processes_with(marker) -> list:
    """Living processes whose command line mentions `marker` (a test's temporary path)."""
    import psutil

    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        with contextlib.suppress(psutil.Error):
            cmd = " ".join(p.info["cmdline"] or ())
            if str(marker) in cmd and p.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(p)
    return found


def wait_for_process(program, timeout: float = 60) -> bool:
    """Wait until `program` (a stand-in script's path) runs: its path is the first or second word of a command line
    (not an argument of tfdoctor's own, such as --python PATH)."""
    import psutil

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for p in psutil.process_iter(["cmdline"]):
            if str(program) in (p.info["cmdline"] or [])[:2]:
                return True
        time.sleep(0.1)
    return False


def leftovers(marker, grace_s: float = 3.0) -> list[str]:
    """What still runs with `marker` in its command line after a grace (for the kill to land); killed afterwards,
    so that a failing test does not leave them behind either."""
    end = time.monotonic() + grace_s
    while True:
        alive = processes_with(marker)
        if not alive or time.monotonic() > end:
            break
        time.sleep(0.1)
    names = []
    for p in alive:
        with contextlib.suppress(Exception):
            names.append(" ".join(p.cmdline()))
            p.kill()
    return names


def interrupt(proc: subprocess.Popen, sig: int = signal.SIGINT, timeout: float = 30) -> tuple[int | None, str, float]:
    """Send `sig` to tfdoctor (as Ctrl-C does to the foreground process) and wait: (exit status, stderr, seconds)."""
    t0 = time.monotonic()
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        err = b"(did not exit)"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return proc.returncode, err.decode("utf-8", "replace"), time.monotonic() - t0


# -- hostile snapshots -----------------------------------------------------------------------------------------------

def snapshot_dir(root: Path, files: dict | None = None, manifest=MANIFEST) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if manifest is not None:
        (root / "manifest.json").write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
    for rel, data in (files or {}).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass"))
    return root


def copy_fixture(name: str, dest: Path) -> Path:
    import shutil

    shutil.copytree(SNAPSHOTS / name, dest)
    return dest


def raw_tar_gz(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], pad_data: bool = True) -> Path:
    """A .tar.gz written header by header, so that a header may claim a size its data does not have."""
    raw = io.BytesIO()
    for info, data in members:
        raw.write(info.tobuf(format=tarfile.GNU_FORMAT))
        if data is not None:
            raw.write(data)
            if pad_data and len(data) % 512:
                raw.write(b"\0" * (512 - len(data) % 512))
    raw.write(b"\0" * 1024)
    with gzip.open(path, "wb", compresslevel=6) as fh:
        fh.write(raw.getvalue())
    return path


def member(name: str, data: bytes = b"", size: int | None = None, kind=tarfile.REGTYPE) -> tuple[tarfile.TarInfo,
                                                                                                    bytes | None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if size is None else size
    return info, data


def manifest_member() -> tuple[tarfile.TarInfo, bytes]:
    return member("manifest.json", json.dumps(MANIFEST).encode())


def tarbomb(path: Path) -> Path:
    """A few KB of .tar.gz whose one member claims 4 GiB (the data is not there: the header alone must refuse it)."""
    return raw_tar_gz(path, [manifest_member(), member("files/proc/cpuinfo", b"x" * 4096, size=4 << 30)])


def many_members(path: Path, count: int) -> Path:
    header = member("files/empty")[0].tobuf(format=tarfile.GNU_FORMAT)
    raw = manifest_member()[0].tobuf(format=tarfile.GNU_FORMAT) + json.dumps(MANIFEST).encode().ljust(512, b"\0")
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(raw + header * count + b"\0" * 1024)
    return path


def temp_dirs(tmp: Path) -> list[str]:
    return sorted(p.name for p in tmp.iterdir() if p.name.startswith("tfdoctor-"))


def children_maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
