"""Driver probe: the kernel side of the NVIDIA driver, as facts.

Loaded modules, the loaded driver's version, every modprobe config directory and the kernel command line (for
nouveau/nova/nvidia blacklists), `ubuntu-drivers devices`, Secure Boot (`mokutil --sb-state`) and kernel lockdown,
`dkms status` against `uname -r`, `modinfo nvidia`, the installed driver packages (dpkg or rpm), and the lines of
this boot's kernel log that matter (NVRM, nouveau, nova, Xid, signature and lockdown messages).
"""

from __future__ import annotations

from dataclasses import dataclass

from tfdoctor import textmatch
from tfdoctor.evidence import relevant_kernel_lines
from tfdoctor.probes import probe, run_all
from tfdoctor.probes.env import running_kernel

# modprobe.d(5) directories, in the order that decides which of two same-named files is read.
MODPROBE_DIRS = ("/etc/modprobe.d", "/run/modprobe.d", "/usr/local/lib/modprobe.d", "/usr/lib/modprobe.d",
                 "/lib/modprobe.d")
NOUVEAU_LIKE = ("nouveau", "nova_core", "nova_drm", "nova")
DKMS_MOK_KEYS = ("/var/lib/shim-signed/mok/MOK.der", "/var/lib/dkms/mok.pub")
KERNEL_LOG_MAX_LINES = 400


# the NVIDIA modules that depend on nvidia.ko (modinfo's `depends: nvidia`): none loads without it
NVIDIA_DEPENDENTS = ("nvidia_modeset", "nvidia_drm", "nvidia_uvm", "nvidia_peermem")


@dataclass(frozen=True)
class ModprobeDirective:
    path: str
    line_no: int
    directive: str  # "blacklist" | "install" | "alias" | "options"
    module: str
    args: str
    read_by_modprobe: bool  # modprobe reads only files ending in .conf


@dataclass(frozen=True)
class Blacklisting:
    """One place that blacklists a module: a file (and the directive) or the kernel command line."""

    path: str
    directive: str
    module: str
    effective: bool  # False: modprobe does not read it, or it is not a blacklist (see why_not)
    why_not: str = ""


@dataclass(frozen=True)
class UbuntuDriversDevice:
    syspath: str
    modalias: str | None
    vendor: str | None
    model: str | None
    drivers: tuple[tuple[str, str], ...]  # (package, flags)
    recommended: str | None


@dataclass(frozen=True)
class DkmsEntry:
    module: str
    version: str
    kernel: str | None
    arch: str | None
    state: str  # "installed" | "built" | "added" | ...
    warning: str | None = None


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    state: str  # dpkg's "ii", "rc", ... or "installed" for rpm

    @property
    def installs_driver(self) -> bool:
        """An installed package that puts an NVIDIA kernel driver on the machine."""
        return self.state in ("ii", "hi", "installed") and is_driver_package(self.name)


@dataclass(frozen=True)
class DriverFacts:
    modules_source: str  # "proc" | "lsmod" | "none"
    loaded_modules: tuple[str, ...]
    nvidia_loaded: bool
    nvidia_modules: tuple[str, ...]
    nouveau_loaded: bool
    nova_loaded: bool
    loaded_driver_version: str | None  # from /proc/driver/nvidia/version
    kernel_module_flavor: str | None  # "open" | "proprietary"
    proc_version_text: str | None
    modprobe_directives: tuple[ModprobeDirective, ...]
    blacklistings: tuple[Blacklisting, ...]  # every blacklist of nouveau/nova, effective or not (and why not)
    nouveau_blacklisted_in: tuple[str, ...]  # "path: directive" for every effective blacklist of nouveau/nova
    nouveau_blacklist_effective: bool
    nvidia_blacklisted_in: tuple[str, ...]
    cmdline: str | None
    cmdline_params: tuple[str, ...]
    ubuntu_drivers: str  # "ok" | "missing" | "failed: ..."
    ubuntu_drivers_devices: tuple[UbuntuDriversDevice, ...]
    recommended_package: str | None
    secure_boot: bool | None  # None = unknown
    secure_boot_text: str | None
    mokutil: str
    efi: bool
    lockdown: str | None  # "none" | "integrity" | "confidentiality"
    mok_keys: tuple[str, ...]
    kernel_release: str | None
    dkms: str  # "ok" | "missing" | "failed: ..."
    dkms_entries: tuple[DkmsEntry, ...]
    modinfo: str  # "ok" | "missing" | "not-found" | "failed: ..."
    modinfo_version: str | None
    modinfo_signer: str | None
    modinfo_license: str | None
    modinfo_vermagic: str | None
    module_resolvable: bool | None  # `modprobe --dry-run nvidia` found a module for the running kernel
    modprobe_text: str | None
    packages_source: str  # "dpkg" | "rpm" | "none"
    nvidia_packages: tuple[Package, ...]
    installed_branch: str | None  # "470" from nvidia-driver-470 / libnvidia-compute-470 / loaded version
    kernel_log_source: str  # "journalctl" | "dmesg" | "none"
    kernel_log_error: str | None  # e.g. needs root
    kernel_log: tuple[str, ...]  # the lines that matter; the evidence layer (tfdoctor/evidence.py) reads them
    # DKMS build logs of the NVIDIA module: (path, its last lines), read by the evidence layer's dkms catalogue
    dkms_make_logs: tuple[tuple[str, str], ...] = ()
    errors: tuple[str, ...] = ()


# -- parsers (pure: str in, data out, never raise) ------------------------------------------------------------


def parse_proc_modules(text: str) -> list[str]:
    """Module names from /proc/modules or `lsmod` output."""
    names = []
    for line in (text or "").splitlines():
        parts = line.split()
        if not parts or parts[0] == "Module":
            continue
        if textmatch.fullmatch(r"[A-Za-z0-9_-]+", parts[0]):
            names.append(parts[0].replace("-", "_"))
    return names


_NVRM_VERSION = textmatch.compile(r"Kernel Module(?: for [\w-]+)?\s+(?P<ver>\d+\.\d+(?:\.\d+)?)")


def parse_nvidia_version_file(text: str) -> tuple[str | None, str | None]:
    """(version, flavor) from /proc/driver/nvidia/version."""
    if not text:
        return None, None
    m = _NVRM_VERSION.search(text)
    version = m.group("ver") if m else None
    if version is None:
        m2 = textmatch.search(r"NVRM version:.*?(\d{3}\.\d+(?:\.\d+)?)", text)
        version = m2.group(1) if m2 else None
    flavor = "open" if "Open Kernel Module" in text else ("proprietary" if "Kernel Module" in text else None)
    return version, flavor


def parse_modprobe_conf(text: str, path: str = "") -> list[ModprobeDirective]:
    """The blacklist/install/alias/options directives of one modprobe.d file (continuation lines joined)."""
    out = []
    joined: list[tuple[int, str]] = []
    buf, start = "", 0
    for i, raw in enumerate((text or "").splitlines(), 1):
        if not buf:
            start = i
        if raw.endswith("\\"):
            buf += raw[:-1] + " "
            continue
        joined.append((start, buf + raw))
        buf = ""
    if buf:
        joined.append((start, buf))
    for line_no, line in joined:
        line = line.split("#", 1)[0].strip()
        parts = line.split(None, 2)
        if len(parts) < 2 or parts[0] not in ("blacklist", "install", "alias", "options", "softdep", "remove"):
            continue
        directive, module = parts[0], parts[1]
        args = parts[2] if len(parts) > 2 else ""
        if directive == "alias":  # "alias nouveau off": the alias name comes first
            module, args = parts[1], args
        out.append(ModprobeDirective(path, line_no, directive, module.replace("-", "_"), args,
                                     path.endswith(".conf") or not path))
    return out


def blocks_module(d: ModprobeDirective, module: str) -> bool:
    """Does this directive keep `module` from loading (automatically or at all)?"""
    if d.module != module:
        return False
    if d.directive == "blacklist":
        return True
    if d.directive == "install" and textmatch.search(r"(/bin/)?(false|true)\b", d.args):
        return True
    if d.directive == "alias" and d.args.strip() == "off":
        return True
    return d.directive == "options" and module == "nouveau" and "modeset=0" in d.args


def cmdline_blacklists(cmdline: str, module: str) -> list[str]:
    """Kernel command-line parameters that blacklist `module`."""
    hits = []
    for tok in (cmdline or "").split():
        key, _, val = tok.partition("=")
        if key in ("modprobe.blacklist", "module_blacklist", "rd.driver.blacklist") and module in val.split(",") or key == f"{module}.modeset" and val == "0":
            hits.append(tok)
    return hits


def parse_ubuntu_drivers(text: str) -> list[UbuntuDriversDevice]:
    """`ubuntu-drivers devices` output: one block per device, `driver : pkg - flags` lines."""
    devices: list[UbuntuDriversDevice] = []
    cur: dict | None = None

    def flush():
        if cur is not None:
            rec = next((p for p, f in cur["drivers"] if "recommended" in f.split()), None)
            devices.append(UbuntuDriversDevice(cur["syspath"], cur.get("modalias"), cur.get("vendor"),
                                               cur.get("model"), tuple(cur["drivers"]), rec))

    for raw in (text or "").splitlines():
        line = raw.strip()
        m = textmatch.match(r"^==\s*(.*?)\s*==$", line)
        if m:
            flush()
            cur = {"syspath": m.group(1), "drivers": []}
            continue
        if cur is None or ":" not in line:
            continue
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "driver":
            pkg, _, flags = value.partition(" - ")
            cur["drivers"].append((pkg.strip(), flags.strip()))
        elif key in ("modalias", "vendor", "model"):
            cur[key] = value
    flush()
    return devices


def parse_mokutil(text: str) -> bool | None:
    low = (text or "").lower()
    if "secureboot enabled" in low:
        return True
    if "secureboot disabled" in low or "not supported" in low:
        return False
    return None


def analyse_blacklists(directives: list[ModprobeDirective], cmdline: str | None, dir_listing: dict[str, list[str]],
                       lib_is_link: bool) -> list[Blacklisting]:
    """Every blacklist of nouveau/nova, each marked with whether modprobe (or the kernel) really applies it.

    modprobe reads only *.conf files; of two files with the same name the one in the earlier directory of
    MODPROBE_DIRS wins; `options nouveau modeset=0` and `nouveau.modeset=0` leave nouveau loaded; and
    `rd.driver.blacklist=` acts only inside a dracut initramfs. On merged-/usr systems /lib/modprobe.d is
    /usr/lib/modprobe.d, read once.
    """
    winner: dict[str, str] = {}
    for d in MODPROBE_DIRS:
        for name in dir_listing.get(d, ()):
            if name.endswith(".conf"):
                winner.setdefault(name, f"{d}/{name}")
    out: list[Blacklisting] = []
    for directive in directives:
        if lib_is_link and directive.path.startswith("/lib/modprobe.d/"):
            continue
        for module in NOUVEAU_LIKE:
            if not blocks_module(directive, module):
                continue
            text = f"{directive.directive} {directive.module} {directive.args}".strip()
            name = directive.path.rsplit("/", 1)[-1]
            why = ""
            if directive.directive == "options":
                why = "not a blacklist: nouveau is still loaded, only with modesetting off"
            elif not directive.read_by_modprobe:
                why = "modprobe reads only files whose name ends in .conf"
            elif winner.get(name, directive.path) != directive.path:
                why = f"hidden by {winner[name]} (same file name in a directory modprobe reads first)"
            out.append(Blacklisting(directive.path, text, module, not why, why))
    for module in NOUVEAU_LIKE:
        for token in cmdline_blacklists(cmdline or "", module):
            key = token.partition("=")[0]
            why = ""
            if key == "rd.driver.blacklist":
                why = "rd.driver.blacklist applies only inside a dracut initramfs"
            elif key.endswith(".modeset"):
                why = "not a blacklist: nouveau is still loaded, only with modesetting off"
            out.append(Blacklisting("/proc/cmdline", token, module, not why, why))
    return out


_DKMS_NEW = textmatch.compile(r"^(?P<mod>[\w.-]+)/(?P<ver>[^,:\s]+)(?:,\s*(?P<kern>[^,:\s]+))?(?:,\s*(?P<arch>[^,:\s]+))?"
                       r"\s*:\s*(?P<state>[\w-]+)(?P<rest>.*)$")
_DKMS_OLD = textmatch.compile(r"^(?P<mod>[\w.-]+),\s*(?P<ver>[^,:\s]+)(?:,\s*(?P<kern>[^,:\s]+))?(?:,\s*(?P<arch>[^,:\s]+))?"
                       r"\s*:\s*(?P<state>[\w-]+)(?P<rest>.*)$")


def parse_dkms_status(text: str) -> list[DkmsEntry]:
    """`dkms status` in both the old (`nvidia, 470.82.00, 5.11.0-41-generic, x86_64: installed`) and new
    (`nvidia/535.154.05, 6.5.0-14-generic, x86_64: installed`) formats."""
    out = []
    for raw in (text or "").splitlines():
        line = raw.strip()
        m = _DKMS_NEW.match(line) or _DKMS_OLD.match(line)
        if not m:
            continue
        rest = m.group("rest").strip()
        out.append(DkmsEntry(m.group("mod"), m.group("ver"), m.group("kern"), m.group("arch"),
                             m.group("state").lower(), rest.strip("() ") or None))
    return out


def parse_modinfo(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and key.strip() not in out:
            out[key.strip()] = value.strip()
    return out


# Packages whose presence means an NVIDIA kernel driver is installed: Ubuntu's (knowledge.md §7.1), Debian's,
# RPM Fusion's and NVIDIA's RPM names. CUDA toolkit packages alone are not a driver.
_DRIVER_PACKAGE = textmatch.compile(
    r"^(nvidia-driver-\d+|nvidia-headless-(no-dkms-)?\d+|nvidia-dkms-\d+|nvidia-kernel-common-\d+|"
    r"linux-modules-nvidia-\d+|nvidia-driver$|nvidia-kernel-dkms|nvidia-open-kernel-dkms|a?kmod-nvidia|"
    r"xorg-x11-drv-nvidia$|kmod-nvidia-open-dkms|nvidia-open$)"
)


def is_driver_package(name: str) -> bool:
    """Does this installed package mean an NVIDIA kernel driver is installed?"""
    return bool(_DRIVER_PACKAGE.match(name))


_DRIVER_PKG = textmatch.compile(r"^(?:nvidia-driver|nvidia-utils|libnvidia-compute|nvidia-headless|nvidia-dkms|"
                         r"nvidia-kernel-common|linux-modules-nvidia)-(?P<branch>\d{3})(?:-|$)")


def parse_dpkg_list(text: str) -> list[Package]:
    """`dpkg -l` lines for installed packages whose names mention nvidia, cuda or cudnn."""
    out = []
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) < 3 or not textmatch.fullmatch(r"[a-zA-Z]{2,3}", parts[0]):
            continue
        name = parts[1].split(":")[0]
        if textmatch.search(r"nvidia|cuda|cudnn", name) and parts[0] in ("ii", "hi", "iU", "iF", "rc"):
            out.append(Package(name, parts[2], parts[0]))
    return out


def parse_rpm_qa(text: str) -> list[Package]:
    out = []
    for line in (text or "").splitlines():
        name = line.strip()
        if name and textmatch.search(r"nvidia|cuda|cudnn", name, textmatch.IGNORECASE):
            m = textmatch.match(r"^(?P<n>.+?)-(?P<v>\d[^-]*-[^-]+)$", name)
            out.append(Package(m.group("n") if m else name, m.group("v") if m else "", "installed"))
    return out


def installed_branch(packages: list[Package], loaded_version: str | None) -> str | None:
    for p in packages:
        if p.state in ("ii", "hi", "installed"):
            m = _DRIVER_PKG.match(p.name)
            if m:
                return m.group("branch")
    for p in packages:
        if p.state in ("ii", "hi", "installed") and textmatch.match(r"^(x?akmod|kmod)-nvidia|^nvidia-driver$|^xorg-x11-drv-nvidia",
                                                            p.name):
            m = textmatch.match(r"^\d+:?(\d{3})\.", p.version) or textmatch.match(r"^(\d{3})\.", p.version)
            if m:
                return m.group(1)
    if loaded_version:
        return loaded_version.split(".")[0]
    return None


def filter_kernel_log(text: str) -> list[str]:
    """The kernel log lines that matter to an NVIDIA GPU (what the evidence layer reads and a snapshot keeps)."""
    return relevant_kernel_lines(text, KERNEL_LOG_MAX_LINES)


def parse_apt_policy(text: str) -> list[Package]:
    """`apt policy PKG...` / `apt-cache policy PKG...`: each package's `Installed:` version ('(none)': not installed).

    People paste it to show which driver is installed; it lists only the packages they asked about."""
    out: list[Package] = []
    name = None
    for raw in (text or "").splitlines():
        if raw and not raw[0].isspace() and raw.rstrip().endswith(":"):
            name = raw.strip()[:-1].split(":")[0]
            continue
        key, sep, value = raw.strip().partition(":")
        if name and sep and key == "Installed":
            value = value.strip()
            if value and value != "(none)":
                out.append(Package(name, value, "ii"))
            name = None
    return out


DKMS_TREE = "/var/lib/dkms"
DKMS_LOG_TAIL_LINES = 200


def read_dkms_make_logs(host) -> list[tuple[str, str]]:
    """The last lines of every NVIDIA DKMS build log: /var/lib/dkms/nvidia*/VERSION/build/make.log (DKMS 2 and 3)
    and /var/lib/dkms/nvidia*/VERSION/KERNEL/ARCH/log/make.log (DKMS 3 keeps one per kernel)."""
    out: list[tuple[str, str]] = []
    for module in sorted(host.listdir(DKMS_TREE) or ()):
        if not module.startswith("nvidia"):
            continue
        for version in sorted(host.listdir(f"{DKMS_TREE}/{module}") or ())[:8]:
            base = f"{DKMS_TREE}/{module}/{version}"
            candidates = [f"{base}/build/make.log"]
            for kernel in sorted(host.listdir(base) or ())[:8]:
                for arch in sorted(host.listdir(f"{base}/{kernel}") or ())[:2]:
                    candidates.append(f"{base}/{kernel}/{arch}/log/make.log")
            for path in candidates:
                text = host.read(path)
                if text:
                    out.append((path, "\n".join(text.splitlines()[-DKMS_LOG_TAIL_LINES:])))
    return out[:16]


# -- the probe ---------------------------------------------------------------------------------------------------


def _pasted_keys(host, prefixes: tuple[str, ...]) -> list[str]:
    """Command keys of a hand-built snapshot that start with one of `prefixes` (a live host has none)."""
    keys = getattr(host, "command_keys", None)
    return [k for k in (keys() if callable(keys) else ()) if k.startswith(prefixes)]


def _state(res) -> str:
    if res.timed_out:
        return "timeout"
    if res.missing:
        return "missing"
    if res.rc != 0:
        return f"failed: {res.describe()}"
    return "ok"


@probe("driver", timeout=25, title="NVIDIA kernel driver")
def probe_driver(host, ctx) -> DriverFacts:
    errors: list[str] = []
    out = run_all(host, {
        "ud": (["ubuntu-drivers", "devices"], 20),
        "mok": (["mokutil", "--sb-state"], 5),
        "dkms": (["dkms", "status"], 15),
        "modinfo": (["modinfo", "nvidia"], 5),
        # --dry-run resolves the module in /lib/modules/$(uname -r) without inserting anything: tfdoctor loads no
        # module.
        "modprobe": (["modprobe", "--dry-run", "nvidia"], 5),
        "dpkg": (["dpkg", "-l", "nvidia*", "libnvidia*", "cuda-*", "libcudnn*"], 10),
        "journal": (["journalctl", "-k", "-b", "--no-pager"], 10),
    })
    # Loaded modules
    modules_text = host.read("/proc/modules")
    modules_source = "proc"
    if modules_text is None:
        res = host.run(["lsmod"], timeout=5)
        modules_text = res.stdout if res.ok else None
        modules_source = "lsmod" if modules_text is not None else "none"
    loaded = parse_proc_modules(modules_text or "")
    nvidia_modules = tuple(m for m in loaded if m.startswith("nvidia"))
    version_text = host.read("/proc/driver/nvidia/version")
    version, flavor = parse_nvidia_version_file(version_text or "")

    # Blacklists
    directives: list[ModprobeDirective] = []
    listing: dict[str, list[str]] = {}
    for d in MODPROBE_DIRS:
        listing[d] = host.listdir(d) or []
        for name in listing[d]:
            path = f"{d}/{name}"
            text = host.read(path)
            if text is not None:
                directives.extend(parse_modprobe_conf(text, path))
    cmdline = host.read("/proc/cmdline")
    cmdline = cmdline.strip() if cmdline else None
    lib_is_link = host.readlink("/lib") is not None
    blacklists = analyse_blacklists(directives, cmdline, listing, lib_is_link)
    nouveau_bl = [f"{b.path}: {b.directive}" for b in blacklists if b.effective]
    effective = any(b.effective and b.module == "nouveau" for b in blacklists)
    nvidia_bl = [f"{d.path}: {d.directive} {d.module} {d.args}".strip()
                 for d in directives if d.read_by_modprobe and d.directive != "options"
                 and blocks_module(d, "nvidia")]
    nvidia_bl += [f"/proc/cmdline: {tok}" for tok in cmdline_blacklists(cmdline or "", "nvidia")
                  if not tok.startswith("nvidia.") and not tok.startswith("rd.")]

    ud = out["ud"]
    ud_devices = parse_ubuntu_drivers(ud.stdout) if ud.stdout else []
    recommended = next((d.recommended for d in ud_devices if d.recommended and "nvidia" in d.recommended), None)

    mok = out["mok"]
    sb_text = (mok.stdout + mok.stderr).strip() or None
    secure_boot = parse_mokutil(sb_text or "")
    efi = host.exists("/sys/firmware/efi")
    if secure_boot is None and not efi and not mok.missing:
        secure_boot = False
    lockdown_text = host.read("/sys/kernel/security/lockdown")
    lockdown = None
    if lockdown_text:
        m = textmatch.search(r"\[(\w+)\]", lockdown_text)
        lockdown = m.group(1) if m else lockdown_text.strip()
    mok_keys = tuple(p for p in DKMS_MOK_KEYS if host.exists(p))

    kernel = running_kernel(host)

    dk = out["dkms"]
    dkms_entries = parse_dkms_status(dk.stdout) if dk.stdout else []

    mi = out["modinfo"]
    info = parse_modinfo(mi.stdout) if mi.ok else {}
    if mi.missing:
        modinfo_state = "missing"
    elif mi.ok:
        modinfo_state = "ok"
    elif "not found" in (mi.stderr + mi.stdout).lower():
        modinfo_state = "not-found"
    else:
        modinfo_state = _state(mi)

    mp = out["modprobe"]
    resolvable = None if (mp.missing or mp.timed_out) else mp.rc == 0
    modprobe_text = None if mp.missing else ((mp.stdout + mp.stderr).strip() or None)
    if modinfo_state == "ok":
        resolvable = True

    dp = out["dpkg"]
    if dp.missing:
        dp = host.run(["dpkg", "-l"], timeout=10)  # pasted fallback
    packages: list[Package] = []
    packages_source = "none"
    if not dp.missing:
        packages, packages_source = parse_dpkg_list(dp.stdout), "dpkg"
    else:
        rq = host.run(["rpm", "-qa"], timeout=15)
        if not rq.missing:
            packages, packages_source = parse_rpm_qa(rq.stdout), "rpm"
    if packages_source == "none":
        # a pasted `apt policy nvidia-driver-435`: it names only the packages asked about, so it shows what is
        # installed but never that a driver is absent (packages_source stays "none")
        for key in _pasted_keys(host, ("apt_policy", "apt-cache_policy", "sudo_apt_policy", "sudo_apt-cache_policy")):
            packages += parse_apt_policy(host.run([key], key=key, timeout=5).stdout)

    kl = out["journal"]
    log_source, log_error, log_text = "journalctl", None, kl.stdout
    if not kl.ok or not kl.stdout.strip() or "No entries" in kl.stdout[:200]:
        if not kl.missing and kl.stderr.strip():
            log_error = kl.stderr.strip().splitlines()[0]
        dm = host.run(["dmesg"], timeout=10)
        if dm.ok and dm.stdout.strip():
            log_source, log_text, log_error = "dmesg", dm.stdout, None
        else:
            log_source, log_text = "none", ""
            if not dm.missing and (dm.stderr or dm.stdout).strip():
                log_error = (dm.stderr or dm.stdout).strip().splitlines()[0]
    log_lines = filter_kernel_log(log_text)

    for res in (ud, mok, dk, mi, kl):
        if res.timed_out:
            errors.append(res.describe())

    return DriverFacts(
        modules_source=modules_source,
        loaded_modules=tuple(loaded),
        # nvidia_modeset, nvidia_drm, nvidia_uvm and nvidia_peermem depend on nvidia.ko: loaded, they show it is
        # (a `lsmod | grep nvidia` cut short, or pasted without its last line, may lack the nvidia line itself)
        nvidia_loaded="nvidia" in loaded or version is not None or any(m in loaded for m in NVIDIA_DEPENDENTS),
        nvidia_modules=nvidia_modules,
        nouveau_loaded="nouveau" in loaded,
        nova_loaded=any(m in loaded for m in ("nova_core", "nova_drm")),
        loaded_driver_version=version,
        kernel_module_flavor=flavor,
        proc_version_text=version_text.strip() if version_text else None,
        modprobe_directives=tuple(directives),
        blacklistings=tuple(blacklists),
        nouveau_blacklisted_in=tuple(nouveau_bl),
        nouveau_blacklist_effective=effective,
        nvidia_blacklisted_in=tuple(nvidia_bl),
        cmdline=cmdline,
        cmdline_params=tuple((cmdline or "").split()),
        ubuntu_drivers=_state(ud),
        ubuntu_drivers_devices=tuple(ud_devices),
        recommended_package=recommended,
        secure_boot=secure_boot,
        secure_boot_text=sb_text,
        mokutil=_state(mok),
        efi=efi,
        lockdown=lockdown,
        mok_keys=mok_keys,
        kernel_release=kernel,
        dkms=_state(dk),
        dkms_entries=tuple(dkms_entries),
        modinfo=modinfo_state,
        modinfo_version=info.get("version"),
        modinfo_signer=info.get("signer"),
        modinfo_license=info.get("license"),
        modinfo_vermagic=info.get("vermagic"),
        module_resolvable=resolvable,
        modprobe_text=modprobe_text,
        packages_source=packages_source,
        nvidia_packages=tuple(packages),
        installed_branch=installed_branch(packages, version),
        kernel_log_source=log_source,
        kernel_log_error=log_error,
        kernel_log=tuple(log_lines),
        dkms_make_logs=tuple(read_dkms_make_logs(host)),
        errors=tuple(errors),
    )
