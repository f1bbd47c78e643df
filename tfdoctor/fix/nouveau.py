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
import os
import time
from dataclasses import dataclass, field
from datetime import date

from tfdoctor import textmatch
from tfdoctor.host import NOT_INSTALLED, CommandResult
from tfdoctor.probes.driver import Blacklisting, is_driver_package
from tfdoctor.proc import write_atomic

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
class RootHost:
    """A Host that reads a system image mounted at `root`: every path is taken under root; it runs nothing.

    Used for `--root DIR` and for tests, and so that `tfdoctor check` can look at the image afterwards.
    """

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.name = f"root:{self.root}"

    def _path(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def run(self, argv, timeout=10.0, key=None) -> CommandResult:
        # Nothing of the image can be run from here: say "not installed" so probes fall back to files.
        return CommandResult(tuple(argv), NOT_INSTALLED, "", f"{argv[0]}: not run inside {self.root}")

    def read(self, path: str) -> str | None:
        try:
            with open(self._path(path), "rb") as fh:
                return fh.read(8 * 1024 * 1024).decode("utf-8", errors="replace")
        except (OSError, ValueError):
            return None

    def listdir(self, path: str) -> list[str] | None:
        try:
            return sorted(os.listdir(self._path(path)))
        except OSError:
            return None

    def exists(self, path: str) -> bool:
        return os.path.lexists(self._path(path))

    def readlink(self, path: str) -> str | None:
        try:
            return os.readlink(self._path(path))
        except OSError:
            return None

    def env(self, name: str) -> str | None:
        return None

    def nvml(self, timeout: float = 10.0) -> dict | None:
        return None

    def tensorflow(self, python, timeout) -> dict | None:
        return None


def host_for_root(root: str):
    """The Host that reads `root`: this machine (with its commands) for "/", a RootHost otherwise."""
    if os.path.abspath(root) == "/":
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

    live = os.path.abspath(root) == "/"
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
        root=os.path.abspath(root),
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
class Plan:
    root: str
    target: str  # absolute path on this machine (under root)
    content: str
    previous: bytes | None
    previous_mode: int | None
    backup: str | None  # where the replaced file will be kept (absolute, under root); None: nothing to keep
    initramfs: InitramfsStep
    reason: str = ""


def under(root: str, path: str) -> str:
    """`path` of the system at `root`, as a path on this machine."""
    return os.path.join(os.path.abspath(root), path.lstrip("/"))


def is_ours(text: str | None) -> bool:
    """Whether a file was written by tfdoctor (its first line is our header)."""
    return bool(text) and text.splitlines()[0].startswith(HEADER_PREFIX)


def _backup_named_in(text: str) -> str | None:
    m = textmatch.search(r"^# The file it replaced is kept as (\S+?);", text, textmatch.MULTILINE)
    return m.group(1) if m and "/" not in m.group(1) else None


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


def plan_blacklist(state: NouveauState, version: str, today: str | None = None, euid: int = 0,
                   now: float | None = None) -> Plan | None:
    """What fixing this root means; None when nouveau (and nova) are already blacklisted where it counts."""
    if not state.missing:
        return None
    today = today or date.today().isoformat()
    target = under(state.root, TARGET)
    try:
        st = os.lstat(target)
        with open(target, "rb") as fh:
            previous, previous_mode = fh.read(), st.st_mode & 0o7777
    except FileNotFoundError:
        previous, previous_mode = None, None
    except OSError:
        previous, previous_mode = None, None  # apply reports the real error when it tries to write
    backup = None
    backup_name = None
    if previous is not None:
        text = previous.decode("utf-8", errors="replace")
        if is_ours(text):
            backup_name = _backup_named_in(text)  # keep pointing at the user's original, not at our old file
        else:
            backup = target + BACKUP_SUFFIX
            if os.path.lexists(backup):
                stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(now))
                backup = f"{backup}-{stamp}"
            backup_name = os.path.basename(backup)
    content = render_file(state.modules_to_block, version, today, backup_name)
    return Plan(state.root, target, content, previous, previous_mode, backup, initramfs_step(state, euid),
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


def run_command(argv: list[str] | tuple[str, ...], timeout: float = COMMAND_TIMEOUT_S) -> CommandResult:
    """Run one external command: an argument list, no shell, a time limit, output captured."""
    from tfdoctor.host import LiveHost

    return LiveHost().run(list(argv), timeout=timeout)


def _os_error(action: str, path: str, exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    hint = ""
    if exc.errno == 30:  # EROFS
        hint = " (the file system is mounted read-only; remount it read-write first)"
    elif exc.errno == 13:  # EACCES
        hint = " (permission denied: run as root, or fix the permissions of the image)"
    return f"cannot {action} {path}: {reason}{hint}"


def _describe_failure(res: CommandResult) -> list[str]:
    lines = [f"{res.describe()}"]
    output = (res.stdout + ("\n" if res.stdout and res.stderr else "") + res.stderr).strip()
    if output:
        lines.append("Its output:")
        lines += ["  " + line for line in output.splitlines()[-40:]]
    return lines


def apply_blacklist(plan: Plan, runner=run_command) -> Outcome:
    """Write the file (keeping a backup of a replaced one), regenerate the initramfs, roll back if that fails."""
    target_dir = os.path.dirname(plan.target)
    created_backup = None
    try:
        if not os.path.isdir(target_dir):
            if os.path.lexists(target_dir):
                raise NotADirectoryError(20, "Not a directory", target_dir)
            os.makedirs(target_dir, mode=0o755)
        if plan.backup and plan.previous is not None:
            write_atomic(plan.backup, plan.previous, plan.previous_mode or FILE_MODE)
            created_backup = plan.backup
        write_atomic(plan.target, plan.content.encode("utf-8"), FILE_MODE)
    except OSError as exc:
        if created_backup:
            _remove_quietly(created_backup)
        return Outcome(False, (_os_error("write", exc.filename or plan.target, exc), "Nothing was changed."),
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
    # The initramfs step failed: put the files back as they were.
    fail_lines = ["Regenerating the initramfs failed:", *_describe_failure(res)]
    try:
        if plan.previous is None:
            os.unlink(plan.target)
        else:
            write_atomic(plan.target, plan.previous, plan.previous_mode or FILE_MODE)
        if created_backup:
            os.unlink(created_backup)
        fail_lines.append(f"Rolled back: {plan.target} is as it was before this run.")
        return Outcome(False, tuple(fail_lines), command=res, rolled_back=True, error="initramfs")
    except OSError as exc:
        fail_lines.append("Rolling back failed too: " + _os_error("restore", plan.target, exc))
        return Outcome(False, tuple(fail_lines), command=res, changed=True, error="rollback")


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


@dataclass(frozen=True)
class UndoPlan:
    root: str
    target: str
    current: bytes
    current_mode: int
    backup: str | None  # restore this (absolute) onto target; None: remove target
    initramfs: InitramfsStep


@dataclass(frozen=True)
class NothingToUndo:
    """Why --undo does nothing: `ok` True when there is simply nothing to undo, False when it will not touch it."""

    message: str
    ok: bool


def plan_undo(state: NouveauState, euid: int = 0) -> UndoPlan | NothingToUndo:
    """What --undo would do; NothingToUndo when there is no file, or a file tfdoctor did not write."""
    target = under(state.root, TARGET)
    try:
        st = os.lstat(target)
        with open(target, "rb") as fh:
            current = fh.read()
    except FileNotFoundError:
        return NothingToUndo(f"{target} does not exist: nothing to undo.", True)
    except OSError as exc:
        return NothingToUndo(_os_error("read", target, exc), False)
    text = current.decode("utf-8", errors="replace")
    if not is_ours(text):
        return NothingToUndo(f"{target} was not written by tfdoctor (its first line is not "
                             f"\"{HEADER_PREFIX} ...\"): left alone.", False)
    name = _backup_named_in(text)
    backup = os.path.join(os.path.dirname(target), name) if name else None
    if backup and not os.path.isfile(backup):
        backup = None  # the user removed it; undo then just removes our file
    return UndoPlan(state.root, target, current, st.st_mode & 0o7777, backup, initramfs_step(state, euid))


def apply_undo(plan: UndoPlan, runner=run_command) -> Outcome:
    """Remove tfdoctor's file or put the backed-up file back (exact bytes), then regenerate the initramfs."""
    try:
        if plan.backup:
            os.replace(plan.backup, plan.target)  # a rename keeps the original bytes and mode exactly
            lines = [f"Restored {plan.target} from {plan.backup}."]
        else:
            os.unlink(plan.target)
            lines = [f"Removed {plan.target}."]
    except OSError as exc:
        return Outcome(False, (_os_error("change", exc.filename or plan.target, exc), "Nothing was changed."),
                       error="write")
    step = plan.initramfs
    if step.skipped:
        lines += [f"Initramfs not regenerated: {step.skipped}.", "Reboot afterwards for the change to take effect."]
        return Outcome(True, tuple(lines), changed=True)
    res = runner(list(step.argv), COMMAND_TIMEOUT_S)
    if res.ok:
        lines += [f"Ran `{step.command}`.", "Reboot for the change to take effect."]
        return Outcome(True, tuple(lines), command=res, changed=True)
    fail_lines = ["Regenerating the initramfs failed:", *_describe_failure(res)]
    try:
        if plan.backup:
            os.replace(plan.target, plan.backup)
        write_atomic(plan.target, plan.current, plan.current_mode)
        fail_lines.append(f"Rolled back: {plan.target} is as it was before this run.")
        return Outcome(False, tuple(fail_lines), command=res, rolled_back=True, error="initramfs")
    except OSError as exc:
        fail_lines.append("Rolling back failed too: " + _os_error("restore", plan.target, exc))
        return Outcome(False, tuple(fail_lines), command=res, changed=True, error="rollback")
