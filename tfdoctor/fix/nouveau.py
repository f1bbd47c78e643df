"""Blacklist nouveau (and nova_core/nova_drm) on a system, or on a system image mounted at a root directory.

Plain functions over a root directory: `read_state(root)` says what is there, `plan_blacklist(state)` says what
would be written and run, `apply_blacklist(plan)` does it (atomic write, backup, initramfs, rollback on failure),
and `plan_undo`/`apply_undo` take it back. The CLI (tfdoctor/fix/command.py) only prints and asks.

Facts behind the rules (see /work/shared/reference/knowledge.md §7):
- modprobe reads only files ending in `.conf` in its configuration directories (modprobe.d(5)); a file of the same
  name in a directory earlier in the list hides the later one (kmod's configuration ordering).
- `blacklist nouveau`, `alias nouveau off` (what Ubuntu's nvidia-graphics-drivers.conf uses) and `install nouveau
  /bin/false` all keep nouveau from being loaded by alias; `modprobe.blacklist=` and `module_blacklist=` do the same
  from the kernel command line (§7.5).
- The blacklist only works at boot if the initramfs carries it: `update-initramfs -u` (Debian/Ubuntu),
  `dracut --force` (Fedora/RHEL), `mkinitrd` (openSUSE), `mkinitcpio -P` (Arch) (§7.2, §7.4).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time
from dataclasses import dataclass, field
from datetime import date

from tfdoctor import proc, textmatch
from tfdoctor.host import FILE_CAPS, NOT_INSTALLED, CommandResult, bounded_text, list_bounded, read_regular
from tfdoctor.probes.driver import Blacklisting, is_driver_package

TARGET = "/etc/modprobe.d/blacklist-nouveau.conf"
HEADER_PREFIX = "# Written by tfdoctor fix-nouveau"
BACKUP_SUFFIX = ".tfdoctor-backup"
FILE_MODE = 0o644
COMMAND_TIMEOUT_S = 120.0

NOVA_MODULES = ("nova_core", "nova_drm")
BIN_DIRS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")
_NVIDIA_KO = textmatch.compile(r"(^|/)nvidia\.ko(\.(xz|zst|gz))?$")


# --------------------------------------------------------------------------------------------------------------
# A read-only Host over a root directory
# --------------------------------------------------------------------------------------------------------------
class UnsafePath(OSError):
    """A path of the image that cannot be used safely (a symlink loop, not a regular file): the message says why."""


MAX_LINKS = 40  # symlinks followed while resolving one path, as the kernel's ELOOP limit
MAX_FILE = 1024 * 1024  # a modprobe.d file is a few lines; anything larger is not one


def resolve_in_root(root: str, path: str, follow_last: bool = True) -> str:
    """`path` of the system at `root`, as a path on this machine, every symlink resolved as that system resolves it:
    an absolute link target is taken under `root`, `..` stops at `root`. The result is always `root` or under it.

    `root` must already be a real path (os.path.realpath). `follow_last=False` leaves a symlink in the last component
    unresolved (to look at the link itself). Components that do not exist are taken literally.
    """
    parts = [p for p in path.split("/") if p not in ("", ".")]
    current, hops, missing = root, 0, False
    while parts:
        part = parts.pop(0)
        if part == "..":
            current = current if current == root else os.path.dirname(current)
            continue
        candidate = os.path.join(current, part)
        if missing or (not parts and not follow_last):
            current = candidate
            continue
        try:
            st = os.lstat(candidate)
        except OSError:
            missing = True  # nothing below a missing directory can be a link
            current = candidate
            continue
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > MAX_LINKS:
                raise UnsafePath(40, "too many levels of symbolic links", os.path.join(root, path.lstrip("/")))
            target = os.readlink(candidate)
            if target.startswith("/"):
                current = root
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        current = candidate
    if current != root and not current.startswith(root.rstrip("/") + "/"):
        raise UnsafePath(1, "resolves outside the root", current)  # cannot happen; a last line of defence
    return current


class RootHost:
    """A Host that reads a system image mounted at `root`: every path is resolved inside root (symlinks as the image
    would resolve them), only regular files are read (bounded, with a deadline), and nothing is run.

    Used for `--root DIR` and for tests, and so that `tfdoctor check` can look at the image afterwards.
    """

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)
        self.name = f"root:{self.root}"

    def _path(self, path: str, follow_last: bool = True) -> str | None:
        try:
            return resolve_in_root(self.root, path, follow_last)
        except OSError:
            return None

    def run(self, argv, timeout=10.0, key=None) -> CommandResult:
        # Nothing of the image can be run from here: say "not installed" so probes fall back to files.
        return CommandResult(tuple(argv), NOT_INSTALLED, "", f"{argv[0]}: not run inside {self.root}")

    def read(self, path: str) -> str | None:
        real = self._path(path)
        data = read_regular(real, follow=False) if real else None
        return None if data is None else bounded_text(data, FILE_CAPS)[0]

    def listdir(self, path: str) -> list[str] | None:
        real = self._path(path)
        return list_bounded(real) if real else None

    def exists(self, path: str) -> bool:
        real = self._path(path, follow_last=False)
        return bool(real) and os.path.lexists(real)

    def readlink(self, path: str) -> str | None:
        real = self._path(path, follow_last=False)
        try:
            return os.readlink(real) if real else None
        except OSError:
            return None

    def env(self, name: str) -> str | None:
        return None

    def nvml(self, timeout: float = 10.0) -> dict | None:
        return None

    def tensorflow(self, python, timeout, on_step=None) -> dict | None:
        return None


def host_for_root(root: str):
    """The Host that reads `root`: this machine (with its commands) for "/", a RootHost otherwise."""
    if os.path.realpath(root) == "/":
        from tfdoctor.host import LiveHost

        return LiveHost()
    return RootHost(root)


# --------------------------------------------------------------------------------------------------------------
# What only an image needs (commands cannot run there): str in, data out, never raise
# --------------------------------------------------------------------------------------------------------------
def parse_dpkg_installed(text: str) -> list[str]:
    """Packages marked `install ok installed` in a dpkg status file (/var/lib/dpkg/status)."""
    out: list[str] = []
    for stanza in textmatch.split(r"\n\s*\n", text or ""):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            key, sep, value = line.partition(":")
            if sep and not line.startswith((" ", "\t")):
                fields[key.strip()] = value.strip()
        status = fields.get("Status", "").split()
        if fields.get("Package") and status[:1] == ["install"] and status[-1:] == ["installed"]:
            out.append(fields["Package"])
    return out


def parse_modules_dep(text: str) -> list[str]:
    """The module paths (first field) of a modules.dep file."""
    return [line.split(":", 1)[0].strip() for line in (text or "").splitlines() if ":" in line]


# --------------------------------------------------------------------------------------------------------------
# The state of a root
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InitramfsTool:
    """How this root regenerates its initramfs. `path` is None when the tool is expected but not installed."""

    name: str
    args: tuple[str, ...]
    path: str | None
    why: str


@dataclass(frozen=True)
class NouveauState:
    """What `read_state` found under a root. `facts` holds the driver, pci and env probes' facts."""

    root: str
    distro: str  # PRETTY_NAME, or "unknown"
    os_ids: tuple[str, ...]  # ID then ID_LIKE words
    loaded_modules_known: bool
    nouveau_loaded: bool
    nova_loaded: bool
    nova_available: bool  # nova modules exist for the kernel(s) in this root, or are loaded
    devices: tuple = ()  # tfdoctor.probes.pci.PciDevice of every NVIDIA display controller
    blacklistings: tuple[Blacklisting, ...] = ()
    initramfs: InitramfsTool | None = None
    nvidia_driver: tuple[str, ...] = ()  # evidence that the NVIDIA driver is installed; empty: none found
    kernels: tuple[str, ...] = ()
    facts: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def modules_to_block(self) -> tuple[str, ...]:
        return ("nouveau",) + (NOVA_MODULES if self.nova_available else ())

    def blocked_by(self, module: str) -> list[Blacklisting]:
        return [b for b in self.blacklistings if b.effective and b.module == module]

    @property
    def missing(self) -> tuple[str, ...]:
        """Modules that still need a blacklist. nova_drm binds only through nova_core, so nova_core is enough."""
        need = ["nouveau"] + (["nova_core"] if self.nova_available else [])
        return tuple(m for m in need if not self.blocked_by(m))

    @property
    def ignored(self) -> list[Blacklisting]:
        return [b for b in self.blacklistings if not b.effective]


class _WithoutKernelLog:
    """The host, minus the kernel-log commands: fix-nouveau does not need this boot's log, and it is the slow part."""

    def __init__(self, host) -> None:
        self._host = host
        self.name = host.name

    def run(self, argv, timeout=10.0, key=None):
        if argv and argv[0] in ("journalctl", "dmesg"):
            return CommandResult(tuple(argv), NOT_INSTALLED, "", "not needed by fix-nouveau")
        return self._host.run(argv, timeout, key)

    def __getattr__(self, name):
        return getattr(self._host, name)


def _kernels(host, kernel_release: str | None, live: bool) -> list[str]:
    """Kernel versions whose modules matter: the running one on a live system, all of them in an image."""
    if live and kernel_release:
        return [kernel_release]
    found = host.listdir("/lib/modules") or host.listdir("/usr/lib/modules") or []
    return [kernel_release] if kernel_release in found else found


def _module_paths(host, kernel: str) -> list[str]:
    for base in (f"/lib/modules/{kernel}", f"/usr/lib/modules/{kernel}"):
        text = host.read(f"{base}/modules.dep")
        if text is not None:
            return parse_modules_dep(text)
    return []


def _nvidia_driver(host, facts, kernels: list[str]) -> list[str]:
    """Evidence that an NVIDIA kernel driver is installed: the driver probe's, then what an image's files show."""
    from tfdoctor.checks import Facts
    from tfdoctor.checks.driver import driver_installed

    d = facts["driver"]
    evidence: list[str] = []
    if d.nvidia_loaded:
        evidence.append("the nvidia module is loaded" + (f" ({d.loaded_driver_version})"
                                                        if d.loaded_driver_version else ""))
    if driver_installed(Facts(facts)):
        if d.installed_branch:
            evidence.append(f"driver branch {d.installed_branch}")
        evidence += [p.name for p in d.nvidia_packages if is_driver_package(p.name)
                     and p.state in ("ii", "hi", "installed")]
        if d.modinfo == "ok":
            evidence.append("modinfo nvidia finds the module")
        if not evidence:
            evidence.append("the driver probe found it")
    # In an image no command runs: read dpkg's database and the kernels' module lists directly.
    status = host.read("/var/lib/dpkg/status") if d.packages_source == "none" else None
    if status:
        evidence += [p for p in parse_dpkg_installed(status) if is_driver_package(p)]
    for kernel in kernels:
        ko = next((p for p in _module_paths(host, kernel) if _NVIDIA_KO.search(p)), None)
        if ko:
            evidence.append(f"nvidia module for kernel {kernel} ({ko})")
    return list(dict.fromkeys(evidence))


def detect_initramfs(host, os_ids: tuple[str, ...]) -> InitramfsTool | None:
    """The initramfs tool of this root: the distribution's own if installed, else any installed one.

    Returns a tool with `path=None` when the distribution's tool is expected but not installed, and None when
    neither the distribution nor the files say which tool it is.
    """
    from types import SimpleNamespace

    from tfdoctor.checks.fixes import distro_family

    def find(name: str) -> str | None:
        return next((f"{d}/{name}" for d in BIN_DIRS if host.exists(f"{d}/{name}")), None)

    tools = {"update-initramfs": ("-u",), "dracut": ("--force",), "mkinitcpio": ("-P",), "mkinitrd": ()}
    family = distro_family(SimpleNamespace(os_id=os_ids[0] if os_ids else None, os_id_like=os_ids[1:]))
    preferred = {
        "ubuntu": [("update-initramfs", "Debian/Ubuntu use initramfs-tools")],
        "debian": [("update-initramfs", "Debian/Ubuntu use initramfs-tools")],
        "fedora": [("dracut", "Fedora/RHEL use dracut")],
        "rhel": [("dracut", "Fedora/RHEL use dracut")],
        "suse": [("dracut", "openSUSE uses dracut (newer releases)"),
                 ("mkinitrd", "openSUSE uses mkinitrd (older releases)")],
        "arch": [("mkinitcpio", "Arch uses mkinitcpio")],
    }.get(family, [])
    for name, why in preferred:
        path = find(name)
        if path:
            return InitramfsTool(name, tools[name], path, why)
    for name in tools:
        path = find(name)
        if path:
            return InitramfsTool(name, tools[name], path, f"{path} is installed")
    if preferred:
        name, why = preferred[0]
        return InitramfsTool(name, tools[name], None, why)
    return None


def read_state(root: str = "/", host=None) -> NouveauState:
    """Everything fix-nouveau needs to know about the system at `root`, read through the driver, pci and env
    probes (the same facts `tfdoctor check` uses) plus what only an image's files can tell. Reads only."""
    from tfdoctor.probes import ProbeContext, ProbeOptions
    from tfdoctor.probes.driver import probe_driver
    from tfdoctor.probes.env import probe_env
    from tfdoctor.probes.pci import probe_pci

    root = os.path.realpath(root)
    live = root == "/"
    host = _WithoutKernelLog(host or host_for_root(root))
    ctx = ProbeContext(ProbeOptions(no_tf=True))
    driver = probe_driver(host, ctx)
    facts = {"driver": driver, "pci": probe_pci(host, ctx), "env": probe_env(host, ctx)}
    env = facts["env"]
    os_ids = tuple([env.os_id] if env.os_id else []) + tuple(env.os_id_like)
    kernels = _kernels(host, driver.kernel_release, live)
    nova_files = any(os.path.basename(p).split(".ko")[0] in NOVA_MODULES
                     for k in kernels for p in _module_paths(host, k))
    return NouveauState(
        root=root,
        distro=env.os_pretty or env.os_id or "unknown",
        os_ids=os_ids,
        loaded_modules_known=driver.modules_source != "none",
        nouveau_loaded=driver.nouveau_loaded,
        nova_loaded=driver.nova_loaded,
        nova_available=nova_files or driver.nova_loaded,
        devices=tuple(facts["pci"].nvidia_devices),
        blacklistings=driver.blacklistings,
        initramfs=detect_initramfs(host, os_ids),
        nvidia_driver=tuple(_nvidia_driver(host, facts, kernels)),
        kernels=tuple(kernels),
        facts=facts,
    )

# --------------------------------------------------------------------------------------------------------------
# Plans
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InitramfsStep:
    """The initramfs command, or why it will not be run (and what to run instead)."""

    argv: tuple[str, ...] = ()
    skipped: str = ""  # non-empty: not run, and this says what to do instead

    @property
    def command(self) -> str:
        return " ".join(self.argv)


@dataclass(frozen=True)
class FileState:
    """A regular file as it was read: its exact bytes, mode, owner and times (kept in a backup and on undo)."""

    data: bytes
    mode: int
    uid: int
    gid: int
    atime_ns: int
    mtime_ns: int

    @property
    def owner(self) -> tuple[int, int]:
        return (self.uid, self.gid)

    @property
    def times(self) -> tuple[int, int]:
        return (self.atime_ns, self.mtime_ns)


@dataclass(frozen=True)
class Plan:
    root: str
    target: str  # absolute path on this machine (under root, every symlink of the image resolved)
    content: str
    previous_file: FileState | None  # the file it replaces (bytes, mode, owner, times); None: there is none
    backup: str | None  # where the replaced file will be kept (absolute, under root); None: nothing to keep
    initramfs: InitramfsStep
    reason: str = ""


def under(root: str, path: str) -> str:
    """`path` of the system at `root`, as a path on this machine (symlinks resolved inside root; a symlink as the
    last component is left as it is, so that it can be refused)."""
    return resolve_in_root(os.path.realpath(root), path, follow_last=False)


def is_ours(text: str | None) -> bool:
    """Whether a file was written by tfdoctor (its first line is our header)."""
    return bool(text) and text.splitlines()[0].startswith(HEADER_PREFIX)


_BACKUP_LINE = textmatch.compile(r"^# The file it replaced is kept as (\S+?); --undo puts it back\.$")
_OUR_LINES = ("blacklist nouveau", "options nouveau modeset=0", *(f"blacklist {m}" for m in NOVA_MODULES))


def _backup_named_in(text: str) -> str | None:
    m = textmatch.search(r"^# The file it replaced is kept as (\S+?);", text, textmatch.MULTILINE)
    name = m.group(1) if m else None
    return name if name and "/" not in name and name not in (".", "..") else None


def edited_lines(text: str) -> list[str]:
    """The lines of tfdoctor's own file that tfdoctor did not write (an admin's later edits): --undo would drop them."""
    out = []
    for i, line in enumerate(text.splitlines()):
        if (i == 0 and line.startswith(HEADER_PREFIX)) or (i == 1 and _BACKUP_LINE.match(line)):
            continue
        if line.strip() and line not in _OUR_LINES:
            out.append(line)
    return out


def render_file(modules: tuple[str, ...], version: str, today: str, backup_name: str | None = None) -> str:
    """The exact content of the blacklist file."""
    lines = [f"{HEADER_PREFIX} {version} on {today}. Remove with: tfdoctor fix-nouveau --undo"]
    if backup_name:
        lines.append(f"# The file it replaced is kept as {backup_name}; --undo puts it back.")
    lines += ["blacklist nouveau", "options nouveau modeset=0"]
    lines += [f"blacklist {m}" for m in modules if m in NOVA_MODULES]
    return "\n".join(lines) + "\n"


def initramfs_step(state: NouveauState, euid: int) -> InitramfsStep:
    """The command that regenerates the initramfs of this root, or why it is skipped."""
    tool = state.initramfs
    live = state.root == "/"
    if tool is None:
        return InitramfsStep((), "no initramfs tool found (looked for update-initramfs, dracut, mkinitcpio, mkinitrd "
                                 "in /usr/sbin, /sbin, /usr/bin, /bin); if this system boots with an initramfs, "
                                 "regenerate it with its distribution's tool before rebooting")
    wanted = " ".join((tool.name, *tool.args))
    if tool.path is None:
        return InitramfsStep((), f"{tool.name} is not installed ({tool.why}); install it, then run: sudo {wanted}")
    if live:
        return InitramfsStep((tool.path, *tool.args))
    args = tool.args
    if tool.name == "dracut":
        # Inside a chroot `dracut --force` builds for the running (host) kernel; build for the image's kernels.
        args = (*args, "--regenerate-all")
    inside = " ".join((tool.path, *args))
    if euid != 0:
        return InitramfsStep((), f"not running as root, so the image's initramfs is not regenerated; "
                                 f"run: sudo chroot {state.root} {inside}")
    return InitramfsStep(("chroot", state.root, tool.path, *args))


def read_file(path: str, dir_fd: int | None = None) -> FileState | None:
    """A file that fix-nouveau may replace: None when there is none; UnsafePath when it is anything but a regular
    file (a symlink, a FIFO, a device, a directory) or larger than a modprobe.d file can be. Never blocks: opened
    non-blocking, checked with fstat before reading, read to a cap."""
    name = os.path.basename(path) if dir_fd is not None else path
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == 40:  # ELOOP: the last component is a symlink
            raise UnsafePath(40, "is a symbolic link; fix-nouveau writes only a regular file", path) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePath(21, "is not a regular file; fix-nouveau writes only a regular file", path)
        chunks, size = [], 0
        while size <= MAX_FILE:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_FILE:
            raise UnsafePath(27, f"is larger than {MAX_FILE // 1024} KiB: not a modprobe.d file", path)
        return FileState(b"".join(chunks), st.st_mode & 0o7777, st.st_uid, st.st_gid, st.st_atime_ns,
                         st.st_mtime_ns)
    finally:
        os.close(fd)


def plan_blacklist(state: NouveauState, version: str, today: str | None = None, euid: int = 0,
                   now: float | None = None) -> Plan | None:
    """What fixing this root means; None when nouveau (and nova) are already blacklisted where it counts.
    Raises UnsafePath when the target (inside the root) is not a regular file."""
    if not state.missing:
        return None
    today = today or date.today().isoformat()
    target = under(state.root, TARGET)
    try:
        previous = read_file(target)
    except UnsafePath:
        raise
    except OSError:
        previous = None  # apply reports the real error when it tries to write
    backup = None
    backup_name = None
    if previous is not None:
        text = previous.data.decode("utf-8", errors="replace")
        if is_ours(text) and not edited_lines(text):
            backup_name = _backup_named_in(text)  # keep pointing at the user's original, not at our old file
        else:
            backup = target + BACKUP_SUFFIX
            if os.path.lexists(backup):
                stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(now))
                backup = f"{backup}-{stamp}"
            backup_name = os.path.basename(backup)
    content = render_file(state.modules_to_block, version, today, backup_name)
    return Plan(state.root, target, content, previous, backup, initramfs_step(state, euid),
                reason=", ".join(state.missing) + " not blacklisted")


# --------------------------------------------------------------------------------------------------------------
# Doing it
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """What happened: `ok` False means the files are as they were before the run (or say why not)."""

    ok: bool
    lines: tuple[str, ...]
    command: CommandResult | None = None
    changed: bool = False
    rolled_back: bool = False
    error: str = ""


class Interrupted(Exception):
    """Carries what fix-nouveau did about an interrupt (the rollback's lines) up to the CLI, which prints them and
    lets the interrupt go on. Raised from the BaseException it wraps (kept as __cause__)."""

    def __init__(self, lines: tuple[str, ...]):
        super().__init__("interrupted")
        self.lines = lines


def run_command(argv: list[str] | tuple[str, ...], timeout: float = COMMAND_TIMEOUT_S) -> CommandResult:
    """Run one external command: an argument list, no shell, a time limit, output captured (and capped)."""
    from tfdoctor.host import LiveHost

    return LiveHost().run(list(argv), timeout=timeout)


def _os_error(action: str, path: str, exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    hint = ""
    if exc.errno == 30:  # EROFS
        hint = " (the file system is mounted read-only; remount it read-write first)"
    elif exc.errno == 13:  # EACCES
        hint = " (permission denied: run as root, or fix the permissions of the image)"
    elif exc.errno == 28:  # ENOSPC
        hint = " (the file system is full)"
    return f"cannot {action} {path}: {reason}{hint}"


def _describe_failure(res: CommandResult) -> list[str]:
    from tfdoctor.report.sanitize import clean

    lines = [clean(res.describe(), newlines=False)]
    output = (res.stdout + ("\n" if res.stdout and res.stderr else "") + res.stderr).strip()
    if output:
        lines.append("Its output:")
        lines += ["  " + clean(line, newlines=False) for line in output.splitlines()[-40:]]
    return lines


class TargetDir:
    """The directory that holds the target, opened once (after resolving it inside the root) and used for every read,
    write, rename and unlink through its file descriptor: swapping a path component for a symlink after the check
    cannot redirect a write outside the root. Also the lock between concurrent runs (flock on the directory)."""

    def __init__(self, root: str, target: str, create: bool = False):
        self.root = os.path.realpath(root)
        self.path = os.path.dirname(target)
        self.target = target
        rel = os.path.relpath(self.path, self.root)
        if rel.startswith(".."):
            raise UnsafePath(1, "is outside the root", self.path)
        if create:
            self._makedirs(rel)
        self.fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        real = os.readlink(f"/proc/self/fd/{self.fd}") if os.path.exists("/proc/self/fd") else self.path
        if real != self.root and not real.startswith(self.root.rstrip("/") + "/"):
            os.close(self.fd)
            raise UnsafePath(1, "resolves outside the root", real)

    def _makedirs(self, rel: str) -> None:
        current = self.root
        for part in [] if rel == "." else rel.split("/"):
            current = resolve_in_root(self.root, os.path.relpath(os.path.join(current, part), self.root))
            if not os.path.lexists(current):
                os.mkdir(current, 0o755)
            elif not os.path.isdir(current) or os.path.islink(current):
                raise NotADirectoryError(20, "Not a directory", current)
        self.path = current

    def name(self, path: str) -> str:
        if os.path.dirname(path) != self.path:
            raise UnsafePath(1, "is not in the target's directory", path)
        return os.path.basename(path)

    def read(self, path: str) -> FileState | None:
        return read_file(path, self.fd)

    def write(self, path: str, data: bytes, mode: int = FILE_MODE, like: FileState | None = None) -> None:
        """Replace `path` with `data` (checked, durable); `like` keeps a file's mode, owner and times."""
        proc.write_atomic(os.path.join(self.path, self.name(path)), data, like.mode if like else mode,
                          owner=like.owner if like else None, mtime_ns=like.times if like else None, dir_fd=self.fd)

    def unlink(self, path: str) -> None:
        os.unlink(self.name(path), dir_fd=self.fd)
        os.fsync(self.fd)

    def rename(self, src: str, dst: str) -> None:
        """A rename keeps the bytes, mode, owner and times exactly."""
        os.replace(self.name(src), self.name(dst), src_dir_fd=self.fd, dst_dir_fd=self.fd)
        os.fsync(self.fd)

    def remove_stale_temps(self) -> None:
        for path in (self.target, self.target + BACKUP_SUFFIX):
            proc.remove_stale_temps(path, dir_fd=self.fd)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


LOCK_WAIT_S = 10.0


class Busy(Exception):
    """Another fix-nouveau holds the lock on this root."""


@contextlib.contextmanager
def locked(root: str, wait_s: float = LOCK_WAIT_S):
    """Serialise fix-nouveau runs on one root: an exclusive flock on the root directory, held from reading the state
    to the end of the apply (no lock file is left anywhere). Raises Busy after `wait_s`."""
    fd = os.open(os.path.realpath(root), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        end = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > end:
                    raise Busy(f"another tfdoctor fix-nouveau is running on {os.path.realpath(root)} (waited "
                               f"{wait_s:.0f} s); nothing was changed") from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _verify(d: TargetDir, path: str, expected: FileState | None, mode: int | None = None,
            data: bytes | None = None) -> str | None:
    """None when `path` is exactly as expected (absent, or these bytes and mode); else what differs."""
    try:
        now = d.read(path)
    except OSError as exc:
        return _os_error("read back", path, exc)
    if expected is None and data is None:
        return None if now is None else f"{path} still exists"
    if now is None:
        return f"{path} is missing"
    want_data = data if data is not None else expected.data
    want_mode = mode if mode is not None else expected.mode
    if now.data != want_data:
        return f"{path} holds {len(now.data)} bytes, not the {len(want_data)} expected"
    if now.mode != want_mode:
        return f"{path} has mode {now.mode:04o}, not {want_mode:04o}"
    return None


def same(a: FileState | None, b: FileState | None) -> bool:
    """The same file content and metadata (bytes, mode, owner, mtime; not atime, which reading changes)."""
    if a is None or b is None:
        return a is b
    return (a.data, a.mode, a.uid, a.gid, a.mtime_ns) == (b.data, b.mode, b.uid, b.gid, b.mtime_ns)


def _restore(d: TargetDir, target: str, previous: FileState | None, backup: str | None) -> str | None:
    """Put `target` back to `previous` (through the backup this run made, when there is one: a rename keeps it
    exactly); verify by bytes and mode. None when verified, else why not (the backup, if any, is then kept)."""
    with proc.critical():
        try:
            now = d.read(target)
            if previous is None:
                if now is not None:
                    d.unlink(target)
            elif backup is not None and d.read(backup) is not None:
                d.rename(backup, target)
            elif not same(now, previous):
                d.write(target, previous.data, like=previous)
        except OSError as exc:
            return _os_error("restore", target, exc)
        return _verify(d, target, previous)


def _rollback_lines(target: str, failed: str | None, backup: str | None, too: bool = False) -> str:
    if failed is None:
        return f"Rolled back: {target} is as it was before this run (checked byte for byte)."
    return f"Rolling back failed{' too' if too else ''}: {failed}" + (
        f"; the file it replaced is kept as {backup}" if backup else "")


def apply_blacklist(plan: Plan, runner=run_command) -> Outcome:
    """Write the file (keeping a backup of a replaced one), regenerate the initramfs, roll back if that fails or is
    interrupted, and say "rolled back" only after checking the bytes."""
    previous = plan.previous_file
    try:
        d = TargetDir(plan.root, plan.target, create=True)
    except OSError as exc:
        return Outcome(False, (_os_error("write", exc.filename or plan.target, exc), "Nothing was changed."),
                       error="write")
    created_backup = None
    try:
        with proc.critical():  # an interrupt here is held until the files are consistent again
            try:
                d.remove_stale_temps()  # what a tfdoctor killed mid-write (SIGKILL) left
                if not same(d.read(plan.target), previous):
                    return Outcome(False, (f"{plan.target} changed since it was read; run tfdoctor fix-nouveau "
                                           "again.", "Nothing was changed."), error="changed")
                if plan.backup and previous is not None:
                    d.write(plan.backup, previous.data, like=previous)
                    created_backup = plan.backup
                    why = _verify(d, plan.backup, previous)
                    if why:
                        raise OSError(5, f"the backup did not verify: {why}", plan.backup)
                data = plan.content.encode("utf-8")
                d.write(plan.target, data, FILE_MODE)
                why = _verify(d, plan.target, None, FILE_MODE, data)
                if why:
                    raise OSError(5, f"the file did not verify: {why}", plan.target)
            except OSError as exc:
                failed = _restore(d, plan.target, previous, created_backup)
                if failed is None and created_backup:
                    with contextlib.suppress(OSError):  # verified: the copy this run made is not needed
                        if d.read(created_backup) is not None:
                            d.unlink(created_backup)
                return Outcome(False, (_os_error("write", exc.filename or plan.target, exc),
                                       "Nothing was changed." if failed is None
                                       else _rollback_lines(plan.target, failed, created_backup, too=True)),
                               error="write")
        lines = [f"Wrote {plan.target} (mode 0644)."]
        if created_backup:
            lines.append(f"Kept the file it replaced as {created_backup}.")
        step = plan.initramfs
        if step.skipped:
            lines.append(f"Initramfs not regenerated: {step.skipped}.")
            lines.append("Reboot afterwards for the blacklist to take effect.")
            return Outcome(True, tuple(lines), changed=True)
        res = runner(list(step.argv), COMMAND_TIMEOUT_S)
        if res.ok:
            lines.append(f"Ran `{step.command}`: the initramfs now carries the blacklist.")
            lines.append("Reboot for the blacklist to take effect.")
            return Outcome(True, tuple(lines), command=res, changed=True)
        fail_lines = ["Regenerating the initramfs failed:", *_describe_failure(res)]
        failed = _restore(d, plan.target, previous, created_backup)
        fail_lines.append(_rollback_lines(plan.target, failed, created_backup, too=True))
        if failed is None:
            return Outcome(False, tuple(fail_lines), command=res, rolled_back=True, error="initramfs")
        return Outcome(False, tuple(fail_lines), command=res, changed=True, error="rollback")
    except Exception:  # a bug: put the files back, then let it be reported
        _restore(d, plan.target, previous, created_backup)
        raise
    except BaseException as exc:  # Ctrl-C or SIGTERM: roll back (verified), then let the interrupt go on
        failed = _restore(d, plan.target, previous, created_backup)
        raise Interrupted(("Interrupted: " + _rollback_lines(plan.target, failed, created_backup),)) from exc
    finally:
        d.close()


@dataclass(frozen=True)
class UndoPlan:
    root: str
    target: str
    current_file: FileState  # tfdoctor's file as it is now
    backup: str | None  # restore this (absolute) onto target; None: remove target
    initramfs: InitramfsStep
    backup_file: FileState | None = None


@dataclass(frozen=True)
class NothingToUndo:
    """Why --undo does nothing: `ok` True when there is simply nothing to undo, False when it will not touch it."""

    message: str
    ok: bool


def plan_undo(state: NouveauState, euid: int = 0, force: bool = False) -> UndoPlan | NothingToUndo:
    """What --undo would do; NothingToUndo when there is no file or a file tfdoctor did not write (nothing to undo:
    --undo can be repeated), and a refusal when tfdoctor's file was edited afterwards (unless `force`)."""
    try:
        target = under(state.root, TARGET)
        current = read_file(target)
    except OSError as exc:
        return NothingToUndo(_os_error("read", exc.filename or TARGET, exc), False)
    if current is None:
        return NothingToUndo(f"{target} does not exist: nothing to undo.", True)
    text = current.data.decode("utf-8", errors="replace")
    if not is_ours(text):
        return NothingToUndo(f"{target} was not written by tfdoctor (its first line is not "
                             f"\"{HEADER_PREFIX} ...\"): left alone; nothing to undo.", True)
    edits = edited_lines(text)
    if edits and not force:
        from tfdoctor.report.sanitize import clean

        shown = "; ".join(clean(e, newlines=False)[:80] for e in edits[:3])
        return NothingToUndo(f"{target} was edited after tfdoctor wrote it ({len(edits)} line(s) tfdoctor did not "
                             f"write: {shown}); --undo would drop them, so it was left alone. Move those lines to "
                             "another .conf file, or run --undo --force to undo anyway.", False)
    name = _backup_named_in(text)
    backup, backup_file = (os.path.join(os.path.dirname(target), name) if name else None), None
    if backup:
        try:
            backup_file = read_file(backup)
        except OSError as exc:
            return NothingToUndo(_os_error("use the backup", backup, exc), False)
        if backup_file is None:
            backup = None  # the user removed it; undo then just removes our file
    return UndoPlan(state.root, target, current, backup, initramfs_step(state, euid), backup_file)


def apply_undo(plan: UndoPlan, runner=run_command) -> Outcome:
    """Remove tfdoctor's file or put the backed-up file back (a rename: exact bytes, mode, owner and times), then
    regenerate the initramfs; roll back (verified) if that fails or is interrupted."""
    current = plan.current_file
    try:
        d = TargetDir(plan.root, plan.target)
    except OSError as exc:
        return Outcome(False, (_os_error("change", exc.filename or plan.target, exc), "Nothing was changed."),
                       error="write")
    changed = False

    def put_back() -> str | None:
        if not changed:
            return None
        with proc.critical():
            try:
                if plan.backup and d.read(plan.target) is not None and d.read(plan.backup) is None:
                    d.rename(plan.target, plan.backup)
                if not same(d.read(plan.target), current):
                    d.write(plan.target, current.data, like=current)
            except OSError as exc:
                return _os_error("restore", plan.target, exc)
            return _verify(d, plan.target, current) or (_verify(d, plan.backup, plan.backup_file)
                                                        if plan.backup else None)

    try:
        with proc.critical():
            try:
                d.remove_stale_temps()
                if not same(d.read(plan.target), current) or (
                        plan.backup and not same(d.read(plan.backup), plan.backup_file)):
                    return Outcome(False, (f"{plan.target} changed since it was read; run tfdoctor fix-nouveau "
                                           "--undo again.", "Nothing was changed."), error="changed")
                if plan.backup:
                    d.rename(plan.backup, plan.target)
                    lines = [f"Restored {plan.target} from {plan.backup}."]
                else:
                    d.unlink(plan.target)
                    lines = [f"Removed {plan.target}."]
                changed = True
            except OSError as exc:
                failed = put_back()
                return Outcome(False, (_os_error("change", exc.filename or plan.target, exc),
                                       "Nothing was changed." if failed is None
                                       else _rollback_lines(plan.target, failed, None, too=True)), error="write")
        step = plan.initramfs
        if step.skipped:
            lines += [f"Initramfs not regenerated: {step.skipped}.", "Reboot afterwards for the change to take effect."]
            return Outcome(True, tuple(lines), changed=True)
        res = runner(list(step.argv), COMMAND_TIMEOUT_S)
        if res.ok:
            lines += [f"Ran `{step.command}`.", "Reboot for the change to take effect."]
            return Outcome(True, tuple(lines), command=res, changed=True)
        fail_lines = ["Regenerating the initramfs failed:", *_describe_failure(res)]
        failed = put_back()
        fail_lines.append(_rollback_lines(plan.target, failed, None, too=True))
        if failed is None:
            return Outcome(False, tuple(fail_lines), command=res, rolled_back=True, error="initramfs")
        return Outcome(False, tuple(fail_lines), command=res, changed=True, error="rollback")
    except Exception:
        put_back()
        raise
    except BaseException as exc:
        failed = put_back()
        raise Interrupted(("Interrupted: " + _rollback_lines(plan.target, failed, None),)) from exc
    finally:
        d.close()
