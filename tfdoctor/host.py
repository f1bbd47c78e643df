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
import stat
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from tfdoctor import __version__, proc
from tfdoctor.redact import Redactor

SNAPSHOT_FORMAT = "tfdoctor-snapshot"
SNAPSHOT_VERSION = 1
# the previous boot's kernel log is read only for what it says about the GPU (Xid reports before a reboot)
KERNEL_LOG_KEYS = ("journalctl_-k_-b_--no-pager", "dmesg", "journalctl_-k_-b_-1_--no-pager")
NOT_INSTALLED = 127
TIMED_OUT = 124


def snapshot_manifest(source: str, **fields) -> dict:
    """A snapshot's manifest.json: the format's header (what wrote it, when, and how: "recorded" or "hand-built"),
    then `fields`."""
    return {"format": SNAPSHOT_FORMAT, "version": SNAPSHOT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "tfdoctor_version": __version__,
            "source": source, **fields}

# Bounds on everything read from outside, applied while reading (docs/snapshot-format.md, "Limits"). A file or a
# command's output beyond them is cut there and marked truncated: no tool output or file tfdoctor understands is
# anywhere near them, and a flood (a tool replaced by `yes`, /dev/zero in a snapshot) costs no more than this.
MAX_READ = 8 * 1024 * 1024  # bytes of one file
MAX_LINES = 100_000  # lines of one file: a list of lines costs ~60 bytes a line, whatever the bytes
MAX_LINE_CHARS = 16 * 1024  # one line: nothing tfdoctor reads has longer ones; the rest of a longer one is dropped
FILE_CAPS = proc.Caps(MAX_READ, MAX_LINES)
COMMAND_CAPS = proc.Caps(4 * 1024 * 1024, 20_000)  # `rpm -qa` of a large system is a few thousand lines
STDERR_CAPS = proc.Caps(1024 * 1024, 20_000)
# A whole boot's kernel log can be long; the driver probe keeps only the lines about NVIDIA.
KERNEL_LOG_CAPS = proc.Caps(16 * 1024 * 1024, 200_000)
MAX_LISTING = 10_000  # entries of one directory
READ_DEADLINE_S = 5.0  # one file, chunk by chunk (a /sys attribute of a GPU that fell off the bus can be slow)
# Files under these never hold what a probe reads and block or never end (kernel messages, memory images).
NEVER_READ = ("/proc/kmsg", "/proc/kcore", "/dev/")

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
    truncated: bool = False  # the output went past its cap: the rest was dropped (and the tool ended)

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
        if self.truncated and self.rc != 0:
            return f"`{cmd}` printed more than tfdoctor reads; it was stopped there"
        first = (self.stderr or self.stdout).strip().splitlines()
        return f"`{cmd}` exited {self.rc}" + (f": {first[0]}" if first else "")


_LS_DEV_NODE = r"/dev/(nvidia(?:\d{1,3}|ctl|-uvm-tools|-uvm|-modeset|-caps|-nvswitch\d{0,3}|-nvlink)?)\b"
_LS_NONE = r"cannot access '?/dev/nvidia"


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

    timeout = proc.remaining(timeout)  # never past the probe's deadline
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
        argv_t = tuple(argv)
        env = dict(os.environ)
        env["LC_ALL"] = "C"  # parse English output whatever the user's locale
        caps = caps_for(argv_t)
        # Its own session, so that a hung tool (nvidia-smi on a GPU that fell off the bus) is killed with every
        # child it started, at its own timeout or the probe's deadline, whichever comes first; nothing outlives it.
        ran = proc.run_bounded(argv_t, timeout, env=env, stdout_caps=caps, stderr_caps=STDERR_CAPS)
        if ran.error is not None:
            if isinstance(ran.error, (FileNotFoundError, NotADirectoryError)):
                self.missing_tools.add(os.path.basename(argv_t[0]))
                return CommandResult(argv_t, NOT_INSTALLED, "", f"{argv[0]}: command not found")
            return CommandResult(argv_t, 126, "", str(ran.error))
        out, out_cut = bounded_text(ran.stdout, caps)
        if ran.timed_out:
            return CommandResult(argv_t, TIMED_OUT, out, f"timed out after {ran.duration_s:.0f} s", True,
                                 ran.duration_s, ran.stdout_truncated or out_cut)
        self.found_tools.add(os.path.basename(argv_t[0]))
        err, err_cut = bounded_text(ran.stderr, STDERR_CAPS)
        return CommandResult(argv_t, ran.rc if ran.rc is not None else TIMED_OUT, out, err, False, ran.duration_s,
                             ran.stdout_truncated or ran.stderr_truncated or out_cut or err_cut)

    def read(self, path: str) -> str | None:
        if path.startswith(NEVER_READ):
            return None
        data = read_regular(path)
        return None if data is None else bounded_text(data, FILE_CAPS)[0]

    def listdir(self, path: str) -> list[str] | None:
        return list_bounded(path)

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

    def write_snapshot(self, dest: str | Path, redactor: Redactor, force: bool = False) -> Path:
        """Write what was seen, redacted, as a new directory or (name ends in .tar.gz/.tgz) a tarball.

        Refuses (SnapshotError) an unknown extension, a missing parent folder, a non-empty directory, and an existing
        tarball unless `force`. Nothing half-written stays behind: a tarball is renamed into place when complete, and
        a directory this call created is removed if writing fails.
        """
        from tfdoctor import archive

        dest, as_tar = check_snapshot_dest(dest, force)
        if as_tar:
            workdir = proc.register_temp(tempfile.mkdtemp(prefix="tfdoctor-snap-"))
            try:
                self._write_dir(Path(workdir), redactor)
                archive.write_tar(workdir, dest)
            finally:
                proc.remove_temp(workdir)
            return dest
        created = not os.path.lexists(dest)
        if created:
            dest.mkdir()
            proc.register_temp(dest)
        try:
            self._write_dir(dest, redactor)
        except BaseException:
            if created:
                proc.remove_temp(dest)
            raise
        proc.release_temp(dest)
        return dest

    def _write_dir(self, root: Path, r: Redactor) -> None:
        if any(root.iterdir()):
            raise SnapshotError(f"{root} is not empty; choose a new directory or a .tar.gz name")
        manifest = snapshot_manifest("recorded", links={p: t for p, t in self.links.items() if t is not None},
                                     listings={p: v for p, v in self.listings.items() if v is not None},
                                     exists=dict(self.exist))
        for path, text in self.files.items():
            if ".." in PurePosixPath(path).parts:
                continue
            target = root / "files" / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(r(text), encoding="utf-8", errors="replace")
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
            (cmd_dir / key).write_text(r(stdout), encoding="utf-8", errors="replace")
            if res.stderr:
                (cmd_dir / f"{key}.err").write_text(r(res.stderr), encoding="utf-8", errors="replace")
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
                (root / "tensorflow.log").write_text(r(log), encoding="utf-8", errors="replace")
        (root / "manifest.json").write_text(json.dumps(r.obj(manifest), indent=2))


class ReplayHost:
    """A recorded machine. Reads only inside the snapshot; runs nothing."""

    name = "replay"

    def __init__(self, source: str | Path, deadline: float | None = None) -> None:
        self.missing_tools: set[str] = set()
        self.found_tools: set[str] = set()
        self.source = Path(source)
        self._tmp: str | None = None
        self.root = self._open(self.source, deadline)
        try:
            self.manifest = self._load_manifest()
            self.links: dict = self.manifest.get("links") or {}
            self.listings: dict = self.manifest.get("listings") or {}
            self.exist: dict = self.manifest.get("exists") or {}
            self._env = self._load_object("env.json", default={})
        except BaseException:
            self.close()
            raise

    # -- opening and validation --------------------------------------------------------------------------------
    def _open(self, src: Path, deadline: float | None) -> Path:
        from tfdoctor import archive

        try:
            st = os.stat(src)
        except OSError:
            raise SnapshotError(f"{src}: no such snapshot (a directory or a .tar.gz)") from None
        if stat.S_ISDIR(st.st_mode):
            return src.resolve()
        try:
            self._tmp = archive.extract(src, deadline)
        except archive.ArchiveError as exc:
            raise SnapshotError(f"{src}: {exc}") from None
        root = Path(self._tmp)
        # A tarball may hold the snapshot at its top or inside one folder.
        if not (root / "manifest.json").exists():
            subs = [p for p in root.iterdir() if p.is_dir()]
            if len(subs) == 1 and (subs[0] / "manifest.json").exists():
                return subs[0]
        return root

    def _load_manifest(self) -> dict:
        manifest = self._load_json("manifest.json")
        if manifest is None:
            raise SnapshotError(f"{self.source}: not a tfdoctor snapshot (no manifest.json)")
        if not isinstance(manifest, dict) or manifest.get("format") != SNAPSHOT_FORMAT:
            raise SnapshotError(f"{self.source}: manifest.json does not say format \"{SNAPSHOT_FORMAT}\"")
        if manifest.get("version") != SNAPSHOT_VERSION:
            raise SnapshotError(
                f"{self.source}: snapshot version {json.dumps(manifest.get('version'))[:20]} is not supported "
                f"(this tfdoctor reads version {SNAPSHOT_VERSION})"
            )
        for key, check, what in _MANIFEST_FIELDS:
            value = manifest.get(key)
            if value is None:
                continue
            if not isinstance(value, dict) or not all(isinstance(k, str) and check(v) for k, v in value.items()):
                raise SnapshotError(f"{self.source}: manifest.json: \"{key}\" must be {what}")
        return manifest

    def _load_json(self, name: str, default=None):
        path = self._inside(name)
        if path is None or not path.exists():
            return default
        data = read_regular(path)
        if data is None:
            raise SnapshotError(f"{self.source}: {name} is not a readable regular file")
        if len(data) >= MAX_READ:
            raise SnapshotError(f"{self.source}: {name} is larger than {MAX_READ // (1024 * 1024)} MiB")
        try:
            value = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise SnapshotError(f"{self.source}: {name} is not valid JSON ({exc})") from None
        except RecursionError:
            raise SnapshotError(f"{self.source}: {name} is nested deeper than {MAX_JSON_DEPTH} levels") from None
        if _too_deep(value):
            raise SnapshotError(f"{self.source}: {name} is nested deeper than {MAX_JSON_DEPTH} levels")
        return value

    def _load_object(self, name: str, default=None):
        """A JSON file of the snapshot that must hold an object (or be absent: `default`)."""
        value = self._load_json(name, default)
        if value is not None and not isinstance(value, dict):
            raise SnapshotError(f"{self.source}: {name} is not a JSON object")
        return value

    def close(self) -> None:
        if self._tmp:
            proc.remove_temp(self._tmp)
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
        caps = caps_for(argv_t if argv_t else (key,))
        out = _read_text(base, caps)
        err = _read_text(base.with_name(key + ".err"), STDERR_CAPS)
        rc_text = _read_text(base.with_name(key + ".rc"), proc.Caps(64, 2))
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
        names = {n.removesuffix(".err").removesuffix(".rc") for n in list_bounded(base, MAX_COMMAND_KEYS * 3) or ()}
        return sorted(names)[:MAX_COMMAND_KEYS]

    def read(self, path: str) -> str | None:
        target = self._inside("files", path)
        return _read_text(target) if target is not None else None

    def listdir(self, path: str) -> list[str] | None:
        if path in self.listings:
            return list(self.listings[path])
        target = self._inside("files", path)
        if target is None or not target.is_dir():
            return self._dev_from_ls() if path == "/dev" else None
        return [n for n in list_bounded(target) or () if n != ".tfdoctor-dir"]

    def _dev_from_ls(self) -> list[str] | None:
        """A hand-built snapshot's pasted `ls -l /dev/nvidia*` (what tfdoctor asks for when /dev was not recorded), as
        the /dev listing of its NVIDIA nodes: the names it shows, none where ls found none, None where it was not
        pasted."""
        for key in self.command_keys():
            if not (key.startswith("ls_") and "%2Fdev%2Fnvidia" in key):
                continue
            from tfdoctor import textmatch  # RE2 only for a hand-built snapshot that needs it

            base = self._inside("commands", key)
            if base is None:
                continue
            # read as files, not through run(): the key is not a tool this replay should count as found
            text = f"{_read_text(base, caps_for(('ls',))) or ''}\n{_read_text(base.with_name(key + '.err'), STDERR_CAPS) or ''}"
            names = list(dict.fromkeys(m.group(1) for m in textmatch.compile(_LS_DEV_NODE).finditer(text)))
            if names or textmatch.search(_LS_NONE, text) is not None:
                return names
        return None

    def exists(self, path: str) -> bool:
        if path in self.exist:
            return bool(self.exist[path])
        if path in self.links:
            return True
        target = self._inside("files", path)
        return target is not None and target.exists()

    def readlink(self, path: str) -> str | None:
        value = self.links.get(path) if isinstance(path, str) else None
        return value if isinstance(value, str) else None

    def env(self, name: str) -> str | None:
        _check_env_name(name)
        value = self._env.get(name)
        return value if isinstance(value, str) else None

    def nvml(self, timeout: float = 10.0) -> dict | None:
        return self._load_object("nvml.json")

    def tensorflow(self, python, timeout, on_step=None) -> dict | None:
        record = self._load_object("tensorflow.json")
        log_path = self._inside("tensorflow.log")
        log = _read_text(log_path) if log_path is not None else None
        if record is None and log is None:
            return None
        out = dict(record or {"ended": None, "result": None, "log_only": True})
        out["log"] = log or ""
        return out

    def cuda(self, python, timeout) -> dict | None:
        """The driver-API child's record (cuda.json), or None when the snapshot has none."""
        return self._load_object("cuda.json")


SNAPSHOT_SUFFIXES = (".tar.gz", ".tgz")


def check_snapshot_dest(dest: str | Path, force: bool = False) -> tuple[Path, bool]:
    """Where a snapshot may be written, and whether as a tarball; SnapshotError (one line) when it may not: an
    unknown extension (x.zip would otherwise become a directory), a parent folder that does not exist (it is not
    created), a directory that is not empty, an existing tarball without `force`."""
    dest = Path(dest)
    as_tar = dest.name.endswith(SNAPSHOT_SUFFIXES)
    if not as_tar and any(c.isalpha() for c in dest.suffix) and not dest.is_dir():
        raise SnapshotError(f"{dest}: unknown snapshot format {dest.suffix!r}; write a directory (a name without an "
                            "extension) or a .tar.gz")
    parent = dest.absolute().parent
    if not parent.is_dir():
        raise SnapshotError(f"{dest}: the folder {parent} does not exist; create it first")
    if not os.path.lexists(dest):
        return dest, as_tar
    if as_tar:
        if dest.is_dir() and not dest.is_symlink():
            raise SnapshotError(f"{dest}: is a directory")
        if not force:
            raise SnapshotError(f"{dest} already exists; nothing was written (pass --force to replace it)")
        return dest, as_tar
    if dest.is_symlink() or not dest.is_dir():
        raise SnapshotError(f"{dest} already exists and is not a directory; nothing was written")
    if list_bounded(dest, 1):
        raise SnapshotError(f"{dest} is not empty; nothing was written (choose a new directory or a .tar.gz name)")
    return dest, as_tar


MAX_JSON_DEPTH = 64
MAX_COMMAND_KEYS = 500


def _str_or_none(v) -> bool:
    return v is None or isinstance(v, str)


def _listing(v) -> bool:
    return v is None or (isinstance(v, list) and all(isinstance(x, str) for x in v))


# The manifest's maps and the type of their values: anything else is a damaged snapshot (exit 2), not a finding.
_MANIFEST_FIELDS = (
    ("links", _str_or_none, "an object of paths to link targets (strings)"),
    ("listings", _listing, "an object of paths to lists of names (strings)"),
    ("exists", lambda v: isinstance(v, bool), "an object of paths to true/false"),
)


def _too_deep(value, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether a JSON value nests deeper than `limit` (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


def read_regular(path: str | os.PathLike, limit: int = MAX_READ, deadline_s: float = READ_DEADLINE_S,
                 follow: bool = True) -> bytes | None:
    """The first `limit` bytes of a regular file; None for anything else (missing, a FIFO, a device, a socket, a
    directory, unreadable) or when reading it takes longer than `deadline_s`.

    The file is opened non-blocking (opening a FIFO never waits for a writer) and checked with fstat before a byte
    is read; the cap and the deadline apply while reading, chunk by chunk. `follow=False` refuses a symlink as the
    last component.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        st = os.stat(path, follow_symlinks=follow)
        if not stat.S_ISREG(st.st_mode):
            return None  # never even opened: opening some devices does something
        fd = os.open(path, flags)
    except (OSError, ValueError):
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks: list[bytes] = []
        size = 0
        end = time.monotonic() + deadline_s
        while size < limit:
            chunk = os.read(fd, min(1024 * 1024, limit - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if time.monotonic() > end:
                return None
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def cap_lines(text: str, max_lines: int = MAX_LINES) -> str:
    """`text` cut after its `max_lines`-th line (a file of millions of empty lines is a flood, not a log)."""
    if text.count("\n", 0, len(text)) < max_lines:
        return text
    pos = -1
    for _ in range(max_lines):
        pos = text.index("\n", pos + 1)
    return text[: pos + 1]


def cut_long_lines(text: str, limit: int = MAX_LINE_CHARS) -> str:
    """`text` with every line longer than `limit` cut there (one endless line is a flood: every string made from it,
    in facts, evidence and reports, would be as long)."""
    if len(text) <= limit:
        return text
    lines = text.split("\n")
    if all(len(line) <= limit for line in lines):
        return text
    return "\n".join(line[:limit] for line in lines)


def bounded_text(data: bytes, caps: proc.Caps) -> tuple[str, bool]:
    """Bytes from outside as text within `caps` (bytes, lines) and MAX_LINE_CHARS a line; (text, whether cut)."""
    cut = len(data) > caps.max_bytes
    text = data[: caps.max_bytes].decode("utf-8", errors="replace")
    if caps.max_lines:
        capped = cap_lines(text, caps.max_lines)
        cut |= len(capped) != len(text)
        text = capped
    shorter = cut_long_lines(text)
    return shorter, cut or len(shorter) != len(text)


def caps_for(argv) -> proc.Caps:
    """How much of a command's output is read: more for the kernel log than for any other tool."""
    name = os.path.basename(str(argv[0])) if argv else ""
    return KERNEL_LOG_CAPS if name.startswith(("journalctl", "dmesg")) else COMMAND_CAPS


def list_bounded(path: str | os.PathLike, limit: int = MAX_LISTING) -> list[str] | None:
    """The sorted names in a directory (at most `limit` of them), or None when it cannot be listed."""
    try:
        with os.scandir(path) as it:
            names = []
            for entry in it:
                names.append(entry.name)
                if len(names) >= limit:
                    break
    except (OSError, ValueError):
        return None
    return sorted(names)


def _read_text(path: Path | None, caps: proc.Caps = FILE_CAPS) -> str | None:
    """A snapshot's text file, bounded, read as the program printed it: a snapshot built by hand from a web page
    carries its no-break spaces and typographic quotes (textmatch.as_printed), which no parser expects."""
    if path is None:
        return None
    data = read_regular(path, limit=caps.max_bytes)
    if data is None:
        return None
    text = bounded_text(data, caps)[0]
    if text.isascii():
        return text
    from tfdoctor import textmatch

    return textmatch.as_printed(text)


def open_snapshot(source: str | Path, deadline: float | None = None) -> ReplayHost:
    """Open a snapshot for replay (an archive is checked and extracted by `deadline`, a time.monotonic() value);
    raises SnapshotError with a one-line message."""
    return ReplayHost(source, deadline)

