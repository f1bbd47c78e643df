"""The only door to the machine.

Every probe reads through a Host: run a command with a timeout, read a file, list a directory, test a path,
follow a link, read an allow-listed environment variable, and the records that are not files (NVML, the driver-API
child and the TensorFlow child). Three implementations:

- LiveHost: this machine.
- ReplayHost: a snapshot directory or .tar.gz (see docs/snapshot-format.md); it never touches the local machine.
- RecordingHost: live, and remembers what it saw so that `write_snapshot` can save it (redacted).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from tfdoctor import __version__
from tfdoctor.proc import kill_group
from tfdoctor.redact import Redactor

SNAPSHOT_FORMAT = "tfdoctor-snapshot"
SNAPSHOT_VERSION = 1
MAX_READ = 8 * 1024 * 1024
# the previous boot's kernel log is read only for what it says about the GPU (Xid reports before a reboot)
KERNEL_LOG_KEYS = ("journalctl_-k_-b_--no-pager", "dmesg", "journalctl_-k_-b_-1_--no-pager")
NOT_INSTALLED = 127
TIMED_OUT = 124

# Environment variables that may be read and recorded. Nothing else leaves the machine.
ALLOWED_ENV = (
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA_VISIBLE_DEVICES",
    "NVIDIA_DRIVER_CAPABILITIES",
    "LD_LIBRARY_PATH",
    "PATH",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "CONDA_DEFAULT_ENV",
    "CUDA_HOME",
    "CUDA_PATH",
    "CUDA_CACHE_MAXSIZE",
    "CUDA_FORCE_PTX_JIT",
    "CUDA_MODULE_LOADING",
    "TF_CPP_MIN_LOG_LEVEL",
    "TF_CPP_MAX_VLOG_LEVEL",
    "TF_FORCE_GPU_ALLOW_GROWTH",
    "TF_ENABLE_ONEDNN_OPTS",
    "TF_GPU_ALLOCATOR",
    "XLA_FLAGS",
    "WSL_DISTRO_NAME",
    "WSL_INTEROP",
    "container",
    "KUBERNETES_SERVICE_HOST",
    "SLURM_JOB_ID",
    "LANG",
)


class SnapshotError(Exception):
    """A snapshot that cannot be replayed: the message is the one line the user sees."""


@dataclass(frozen=True)
class CommandResult:
    """What a command did. rc 127: not installed; 124: timed out (and `timed_out` is set)."""

    argv: tuple[str, ...]
    rc: int
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    duration_s: float = 0.0

    @property
    def missing(self) -> bool:
        return self.rc == NOT_INSTALLED and not self.stdout

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.timed_out

    def describe(self) -> str:
        cmd = " ".join(self.argv)
        if self.timed_out:
            return f"`{cmd}` did not finish within {self.duration_s:.0f} s"
        if self.missing:
            return f"`{self.argv[0]}` is not installed"
        first = (self.stderr or self.stdout).strip().splitlines()
        return f"`{cmd}` exited {self.rc}" + (f": {first[0]}" if first else "")


def command_key(argv: tuple[str, ...] | list[str]) -> str:
    """The snapshot file name of a command: its argv joined with '_', '/' written as '%2F'."""
    return "_".join(argv).replace("/", "%2F")


class Host(Protocol):
    """What a probe may do to the machine. Nothing here raises on a missing file or tool."""

    name: str

    def run(self, argv: list[str], timeout: float = 10.0, key: str | None = None) -> CommandResult: ...

    def read(self, path: str) -> str | None: ...

    def listdir(self, path: str) -> list[str] | None: ...

    def exists(self, path: str) -> bool: ...

    def readlink(self, path: str) -> str | None: ...

    def env(self, name: str) -> str | None: ...

    def nvml(self, timeout: float = 10.0) -> dict | None: ...

    def tensorflow(self, python: str | None, timeout: float, on_step=None) -> dict | None:
        """The TensorFlow child's record; `on_step(mark)` receives its progress lines as they come (live only)."""

    def cuda(self, python: str | None, timeout: float) -> dict | None: ...


def _check_env_name(name: str) -> None:
    if name not in ALLOWED_ENV:
        raise ValueError(f"environment variable {name} is not on tfdoctor's allow-list")


def _run_with_deadline(func, timeout: float, what: str):
    """Run `func()` in a daemon thread; a hang becomes a dict saying so instead of a hung tfdoctor."""
    box: dict = {}

    def target():
        try:
            box["value"] = func()
        except Exception as exc:  # the record says what failed; the probe turns it into facts
            box["value"] = {"error": "exception", "message": f"{type(exc).__name__}: {exc}"}

    t = threading.Thread(target=target, name=f"tfdoctor-{what}", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        return {"error": "timeout", "message": f"{what} did not answer within {timeout:.0f} s"}
    return box.get("value")


class LiveHost:
    """This machine."""

    name = "live"
    missing_tools: set[str]

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        self.missing_tools = set()
        self.found_tools = set()
        self._memo: dict[tuple, CommandResult] = {}
        self._memo_lock = threading.Lock()
        return self

    def run(self, argv: list[str], timeout: float = 10.0, key: str | None = None) -> CommandResult:
        """Run a command once per check: two probes that ask for the same command (`uname -r`) share one run."""
        memo_key = (tuple(argv), key)
        with self._memo_lock:
            done = self._memo.get(memo_key)
        if done is not None:
            return done
        res = self._run(argv, timeout)
        with self._memo_lock:
            self._memo.setdefault(memo_key, res)
        return res

    def _run(self, argv: list[str], timeout: float) -> CommandResult:
        start = time.monotonic()
        argv_t = tuple(argv)
        env = dict(os.environ)
        env["LC_ALL"] = "C"  # parse English output whatever the user's locale
        try:
            # Its own session, so that a hung tool (nvidia-smi on a GPU that fell off the bus) is killed with every
            # child it started, and nothing outlives tfdoctor.
            proc = subprocess.Popen(argv_t, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, errors="replace", env=env, start_new_session=True)
        except FileNotFoundError:
            self.missing_tools.add(os.path.basename(argv_t[0]))
            return CommandResult(argv_t, NOT_INSTALLED, "", f"{argv[0]}: command not found")
        except PermissionError as exc:
            return CommandResult(argv_t, 126, "", str(exc))
        except OSError as exc:
            return CommandResult(argv_t, 126, "", str(exc))
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            try:
                out, _ = proc.communicate(timeout=2)
            except (subprocess.TimeoutExpired, OSError, ValueError):
                out = ""
            return CommandResult(argv_t, TIMED_OUT, out or "", f"timed out after {timeout:.0f} s", True, timeout)
        self.found_tools.add(os.path.basename(argv_t[0]))
        return CommandResult(argv_t, proc.returncode, stdout, stderr, False, time.monotonic() - start)

    def read(self, path: str) -> str | None:
        try:
            with open(path, "rb") as fh:
                data = fh.read(MAX_READ)
        except (OSError, ValueError):
            return None
        return data.decode("utf-8", errors="replace")

    def listdir(self, path: str) -> list[str] | None:
        try:
            return sorted(os.listdir(path))
        except OSError:
            return None

    def exists(self, path: str) -> bool:
        return os.path.lexists(path)

    def readlink(self, path: str) -> str | None:
        try:
            return os.readlink(path)
        except OSError:
            return None

    def env(self, name: str) -> str | None:
        _check_env_name(name)
        return os.environ.get(name)

    def nvml(self, timeout: float = 10.0) -> dict | None:
        from tfdoctor.probes.nvml_record import collect_live

        return _run_with_deadline(collect_live, timeout, "NVML")

    def tensorflow(self, python: str | None, timeout: float, on_step=None) -> dict | None:
        from tfdoctor.child.runner import run_tf_probe

        return run_tf_probe(python, timeout, on_step)

    def cuda(self, python: str | None, timeout: float) -> dict | None:
        from tfdoctor.probes.cuda_record import collect_live

        return collect_live(python, timeout)


class RecordingHost(LiveHost):
    """Live, remembering every answer so that `write_snapshot` can replay this run anywhere."""

    name = "recording"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.commands: dict[str, CommandResult] = {}
        self.files: dict[str, str] = {}
        self.listings: dict[str, list[str] | None] = {}
        self.exist: dict[str, bool] = {}
        self.links: dict[str, str | None] = {}
        self.envs: dict[str, str] = {}
        self.nvml_record: dict | None = None
        self.tf_record: dict | None = None
        self.cuda_record: dict | None = None

    def run(self, argv, timeout=10.0, key=None):
        res = super().run(argv, timeout, key)
        with self._lock:
            self.commands[key or command_key(argv)] = res
        return res

    def read(self, path):
        text = super().read(path)
        if text is not None:
            with self._lock:
                self.files[path] = text
        return text

    def listdir(self, path):
        out = super().listdir(path)
        with self._lock:
            self.listings[path] = out
        return out

    def exists(self, path):
        out = super().exists(path)
        with self._lock:
            self.exist[path] = out
        return out

    def readlink(self, path):
        out = super().readlink(path)
        with self._lock:
            self.links[path] = out
        return out

    def env(self, name):
        out = super().env(name)
        if out is not None:
            with self._lock:
                self.envs[name] = out
        return out

    def nvml(self, timeout=10.0):
        out = super().nvml(timeout)
        self.nvml_record = out
        return out

    def tensorflow(self, python, timeout, on_step=None):
        out = super().tensorflow(python, timeout, on_step)
        self.tf_record = out
        return out

    def cuda(self, python, timeout):
        out = super().cuda(python, timeout)
        self.cuda_record = out
        return out

    def write_snapshot(self, dest: str | Path, redactor: Redactor) -> Path:
        """Write what was seen, redacted, as a directory or (name ends in .tar.gz/.tgz) a tarball."""
        dest = Path(dest)
        as_tar = dest.name.endswith((".tar.gz", ".tgz"))
        workdir = Path(tempfile.mkdtemp(prefix="tfdoctor-snap-")) if as_tar else dest
        try:
            self._write_dir(workdir, redactor)
            if as_tar:
                dest.parent.mkdir(parents=True, exist_ok=True)
                tmp = dest.with_name(dest.name + ".part")
                with tarfile.open(tmp, "w:gz") as tar:
                    for p in sorted(workdir.rglob("*")):
                        tar.add(p, arcname=str(p.relative_to(workdir)), recursive=False)
                os.replace(tmp, dest)
        finally:
            if as_tar:
                shutil.rmtree(workdir, ignore_errors=True)
        return dest

    def _write_dir(self, root: Path, r: Redactor) -> None:
        root.mkdir(parents=True, exist_ok=True)
        if any(root.iterdir()):
            raise SnapshotError(f"{root} is not empty; choose a new directory or a .tar.gz name")
        manifest = {
            "format": SNAPSHOT_FORMAT,
            "version": SNAPSHOT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "tfdoctor_version": __version__,
            "source": "recorded",
            "links": {p: t for p, t in self.links.items() if t is not None},
            "listings": {p: v for p, v in self.listings.items() if v is not None},
            "exists": dict(self.exist),
        }
        for path, text in self.files.items():
            target = root / "files" / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(r(text), encoding="utf-8")
        cmd_dir = root / "commands"
        for key, res in self.commands.items():
            cmd_dir.mkdir(exist_ok=True)
            if res.missing:
                (cmd_dir / f"{key}.rc").write_text(str(NOT_INSTALLED))
                continue
            stdout = res.stdout
            if key in KERNEL_LOG_KEYS:
                # Only the lines the driver probe reads leave the machine, not the whole boot log.
                from tfdoctor.evidence import relevant_kernel_lines

                stdout = "".join(line + "\n" for line in relevant_kernel_lines(stdout))
            (cmd_dir / key).write_text(r(stdout), encoding="utf-8")
            if res.stderr:
                (cmd_dir / f"{key}.err").write_text(r(res.stderr), encoding="utf-8")
            if res.rc != 0:
                (cmd_dir / f"{key}.rc").write_text(str(res.rc))
        (root / "env.json").write_text(json.dumps(r.obj(self.envs), indent=2, sort_keys=True))
        if self.nvml_record is not None:
            (root / "nvml.json").write_text(json.dumps(r.obj(self.nvml_record), indent=2))
        if self.cuda_record is not None:
            (root / "cuda.json").write_text(json.dumps(r.obj(self.cuda_record), indent=2))
        if self.tf_record is not None:
            record = dict(self.tf_record)
            log = record.pop("log", None)
            (root / "tensorflow.json").write_text(json.dumps(r.obj(record), indent=2))
            if log:
                (root / "tensorflow.log").write_text(r(log), encoding="utf-8")
        (root / "manifest.json").write_text(json.dumps(r.obj(manifest), indent=2))


class ReplayHost:
    """A recorded machine. Reads only inside the snapshot; runs nothing."""

    name = "replay"

    def __init__(self, source: str | Path) -> None:
        self.missing_tools: set[str] = set()
        self.found_tools: set[str] = set()
        self.source = Path(source)
        self._tmp: str | None = None
        self.root = self._open(self.source)
        self.manifest = self._load_manifest()
        self.links: dict = self.manifest.get("links") or {}
        self.listings: dict = self.manifest.get("listings") or {}
        self.exist: dict = self.manifest.get("exists") or {}
        self._env = self._load_json("env.json", default={})
        if not isinstance(self._env, dict):
            raise SnapshotError(f"{self.source}: env.json is not a JSON object")

    # -- opening and validation --------------------------------------------------------------------------------
    def _open(self, src: Path) -> Path:
        if src.is_dir():
            return src.resolve()
        if not src.exists():
            raise SnapshotError(f"{src}: no such snapshot (a directory or a .tar.gz)")
        try:
            tar = tarfile.open(src, "r:*")  # noqa: SIM115 - closed by the `with tar:` below
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise SnapshotError(f"{src}: not a snapshot directory or tar archive ({exc})") from None
        self._tmp = tempfile.mkdtemp(prefix="tfdoctor-replay-")
        root = Path(self._tmp)
        try:
            with tar:
                for member in tar.getmembers():
                    _check_member(src, member)
                    if member.isdir():
                        (root / member.name).mkdir(parents=True, exist_ok=True)
                        continue
                    fh = tar.extractfile(member)
                    target = root / member.name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(fh.read() if fh else b"")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise SnapshotError(f"{src}: damaged tar archive ({exc})") from None
        # A tarball may hold the snapshot at its top or inside one folder.
        if not (root / "manifest.json").exists():
            subs = [p for p in root.iterdir() if p.is_dir()]
            if len(subs) == 1 and (subs[0] / "manifest.json").exists():
                return subs[0]
        return root

    def _load_manifest(self) -> dict:
        path = self.root / "manifest.json"
        if not path.is_file():
            raise SnapshotError(f"{self.source}: not a tfdoctor snapshot (no manifest.json)")
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SnapshotError(f"{self.source}: manifest.json is not valid JSON ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != SNAPSHOT_FORMAT:
            raise SnapshotError(f"{self.source}: manifest.json does not say format \"{SNAPSHOT_FORMAT}\"")
        if manifest.get("version") != SNAPSHOT_VERSION:
            raise SnapshotError(
                f"{self.source}: snapshot version {manifest.get('version')!r} is not supported "
                f"(this tfdoctor reads version {SNAPSHOT_VERSION})"
            )
        return manifest

    def _load_json(self, name: str, default=None):
        path = self.root / name
        if not path.is_file():
            return default
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SnapshotError(f"{self.source}: {name} is not valid JSON ({exc})") from None

    def close(self) -> None:
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _inside(self, *parts: str) -> Path | None:
        """The snapshot path for parts, or None when it would escape the snapshot root."""
        rel = PurePosixPath(*[p.lstrip("/") for p in parts])
        if any(part == ".." for part in rel.parts):
            return None
        path = self.root / rel
        try:
            resolved = path.resolve()
        except OSError:
            return None
        if resolved != self.root and self.root not in resolved.parents:
            return None
        return resolved

    # -- the Host interface ----------------------------------------------------------------------------------
    def run(self, argv, timeout=10.0, key=None) -> CommandResult:
        key = key or command_key(argv)
        base = self._inside("commands", key)
        argv_t = tuple(argv)
        if base is None:
            return CommandResult(argv_t, NOT_INSTALLED)
        out = _read_text(base)
        err = _read_text(base.with_name(key + ".err"))
        rc_text = _read_text(base.with_name(key + ".rc"))
        if out is None and err is None and rc_text is None:
            self.missing_tools.add(argv_t[0].rsplit("/", 1)[-1])
            return CommandResult(argv_t, NOT_INSTALLED, "", f"{argv[0]}: not in the snapshot")
        self.found_tools.add(argv_t[0].rsplit("/", 1)[-1])
        try:
            rc = int((rc_text or "0").strip() or "0")
        except ValueError:
            raise SnapshotError(f"{self.source}: commands/{key}.rc is not a number") from None
        return CommandResult(argv_t, rc, out or "", err or "", rc == TIMED_OUT, float(timeout) if rc == TIMED_OUT else 0)

    def command_keys(self) -> list[str]:
        """The keys of every command recorded in the snapshot (a hand-built one may hold pasted outputs of commands
        no probe runs, e.g. `docker run`), without their .err/.rc companions."""
        base = self._inside("commands")
        if base is None or not base.is_dir():
            return []
        names = {p.name.removesuffix(".err").removesuffix(".rc") for p in base.iterdir() if p.is_file()}
        return sorted(names)[:500]

    def read(self, path: str) -> str | None:
        target = self._inside("files", path)
        return _read_text(target) if target is not None and target.is_file() else None

    def listdir(self, path: str) -> list[str] | None:
        if path in self.listings:
            return list(self.listings[path])
        target = self._inside("files", path)
        if target is None or not target.is_dir():
            return None
        return sorted(p.name for p in target.iterdir() if p.name != ".tfdoctor-dir")

    def exists(self, path: str) -> bool:
        if path in self.exist:
            return bool(self.exist[path])
        if path in self.links:
            return True
        target = self._inside("files", path)
        return target is not None and target.exists()

    def readlink(self, path: str) -> str | None:
        value = self.links.get(path)
        return value if isinstance(value, str) else None

    def env(self, name: str) -> str | None:
        _check_env_name(name)
        value = self._env.get(name)
        return value if isinstance(value, str) else None

    def nvml(self, timeout: float = 10.0) -> dict | None:
        record = self._load_json("nvml.json")
        if record is not None and not isinstance(record, dict):
            raise SnapshotError(f"{self.source}: nvml.json is not a JSON object")
        return record

    def tensorflow(self, python, timeout, on_step=None) -> dict | None:
        record = self._load_json("tensorflow.json")
        log_path = self._inside("tensorflow.log")
        log = _read_text(log_path) if log_path is not None else None
        if record is None and log is None:
            return None
        if record is not None and not isinstance(record, dict):
            raise SnapshotError(f"{self.source}: tensorflow.json is not a JSON object")
        out = dict(record or {"ended": None, "result": None, "log_only": True})
        out["log"] = log or ""
        return out

    def cuda(self, python, timeout) -> dict | None:
        """The driver-API child's record (cuda.json), or None when the snapshot has none."""
        record = self._load_json("cuda.json")
        if record is not None and not isinstance(record, dict):
            raise SnapshotError(f"{self.source}: cuda.json is not a JSON object")
        return record


def _read_text(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        data = path.read_bytes()[:MAX_READ]
    except OSError:
        return None
    return data.decode("utf-8", errors="replace")


def _check_member(src: Path, member: tarfile.TarInfo) -> None:
    name = member.name
    if name.startswith("/") or ".." in PurePosixPath(name).parts:
        raise SnapshotError(f"{src}: unsafe path in archive: {name!r} escapes the snapshot")
    if member.issym() or member.islnk():
        raise SnapshotError(f"{src}: archive holds a link ({name!r} -> {member.linkname!r}); snapshots hold no links")
    if not (member.isfile() or member.isdir()):
        raise SnapshotError(f"{src}: archive holds a special file: {name!r}")


def open_snapshot(source: str | Path) -> ReplayHost:
    """Open a snapshot for replay; raises SnapshotError with a one-line message."""
    return ReplayHost(source)

