"""Data-centre probe: NVSwitches on the PCI bus, the NVIDIA Fabric Manager service that sets up their fabric, and the
previous boot's kernel log (Xid reports from before a reboot).

Facts only. The Fabric Manager is asked about (`systemctl is-active`, its own journal) only where it matters: when
NVSwitches are on the bus or its program is installed. The previous boot's log is optional (no persistent journal,
no permission): its absence is recorded, never guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass

from tfdoctor import textmatch
from tfdoctor.evidence import Source, observe, relevant_kernel_lines
from tfdoctor.probes import probe

SYSFS_PCI = "/sys/bus/pci/devices"
NVIDIA_VENDOR = 0x10DE
BRIDGE_OTHER = 0x0680  # PCI class "Bridge: other", as NVSwitches enumerate
# NVIDIA's nForce chipsets (MCP51, MCP61: device ids below 0x1000) put their Ethernet in the same class; NVSwitches
# start at 0x1ac0 (V100 generation), 0x1af1 (A100 HGX), 0x22a3 (H100 HGX, "GH100 [H100 NVSwitch]").
NVSWITCH_MIN_DEVICE = 0x1A00
FABRICMANAGER_PROGRAMS = ("/usr/bin/nv-fabricmanager", "/usr/sbin/nv-fabricmanager")
FM_SERVICE = "nvidia-fabricmanager"
FM_LOG_LINES = 40
PREVIOUS_BOOT_LINES = 400
FM_STATE_ARGV = ("systemctl", "is-active", FM_SERVICE)
FM_LOG_ARGV = ("journalctl", "-u", FM_SERVICE, "-b", "--no-pager", "-n", str(FM_LOG_LINES))
PREVIOUS_BOOT_ARGV = ("journalctl", "-k", "-b", "-1", "--no-pager")
# the snapshot keys of the commands above (the evidence layer must not read them as this boot's kernel log)
DATACENTRE_KEYS = frozenset("_".join(a) for a in (FM_STATE_ARGV, FM_LOG_ARGV, PREVIOUS_BOOT_ARGV))
_LSPCI_NVSWITCH = textmatch.compile(r"^(?P<slot>(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])\s+"
                                    r"(?:Bridge \[0680\]|Bridge:).*\[10de:(?P<device>[0-9a-fA-F]{4})\]")


@dataclass(frozen=True)
class XidEvent:
    """One Xid report of a kernel log: the code, the GPU's PCI address as printed, and the line."""

    xid: int
    pci: str | None
    line: str
    boot: str  # "this" | "previous"


@dataclass(frozen=True)
class DatacentreFacts:
    nvswitches: tuple[str, ...]  # PCI slots of NVIDIA bridges (NVSwitch chips)
    nvswitch_source: str  # sysfs | lspci | none
    fabricmanager_installed: bool | None
    fabricmanager_state: str | None  # systemctl is-active: active | inactive | failed | activating | ...; None: not asked
    fabricmanager_log: tuple[str, ...] = ()  # its journal of this boot, last lines (why it is not running)
    previous_boot_source: str = "none"  # journalctl | none
    previous_boot_error: str | None = None
    previous_boot_xids: tuple[XidEvent, ...] = ()


def _hex(text: str | None) -> int | None:
    try:
        return int((text or "").strip(), 16)
    except ValueError:
        return None


def _uevent(text: str | None) -> dict[str, str]:
    out = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def nvswitches_from_sysfs(host) -> list[str] | None:
    """Slots of NVIDIA devices of class 0x0680 under /sys/bus/pci/devices; None when sysfs cannot be listed."""
    slots = host.listdir(SYSFS_PCI)
    if slots is None:
        return None
    out = []
    for slot in slots[:512]:
        ue = _uevent(host.read(f"{SYSFS_PCI}/{slot}/uevent"))
        vendor, _, device = ue.get("PCI_ID", "").partition(":")
        cls = _hex(ue.get("PCI_CLASS"))
        if _hex(vendor) == NVIDIA_VENDOR and cls is not None and cls >> 8 == BRIDGE_OTHER \
                and (_hex(device) or 0) >= NVSWITCH_MIN_DEVICE:
            out.append(slot.lower())
    return out


def nvswitches_from_lspci(text: str) -> list[str]:
    """Slots of NVIDIA `Bridge [0680]` lines in `lspci -nn` / `lspci -nnk` output."""
    out = []
    for line in (text or "").splitlines()[:5000]:
        m = _LSPCI_NVSWITCH.match(line.strip())
        if m and int(m.group("device"), 16) >= NVSWITCH_MIN_DEVICE:
            out.append(m.group("slot").lower())
    return out


def xid_events(text: str, boot: str) -> list[XidEvent]:
    """Every Xid report in a kernel log (any of its forms), through the evidence catalogue's `nvrm-xid` entry."""
    out = []
    for o in observe(Source("kernel", "kernel log", text)):
        if o.message != "nvrm-xid":
            continue
        code = o.group("xid")
        if code and code.isdigit():
            out.append(XidEvent(int(code), o.group("pci"), o.line, boot))
    return out[-200:]


@probe("datacentre", needs=("pci",), timeout=15, title="NVSwitch, Fabric Manager, previous boot")
def probe_datacentre(host, ctx) -> DatacentreFacts:
    switches = nvswitches_from_sysfs(host)
    source = "sysfs"
    if switches is None:  # no sysfs (a hand-built snapshot): the pasted lspci, already read by the pci probe
        res = host.run(["lspci", "-nnk"], timeout=10)
        if res.missing:
            res = host.run(["lspci"], timeout=10)
        switches, source = (nvswitches_from_lspci(res.stdout) if res.stdout else []), ("lspci" if res.stdout else
                                                                                       "none")
    installed = any(host.exists(p) for p in FABRICMANAGER_PROGRAMS)
    state, log = None, ()
    if switches or installed:
        res = host.run(list(FM_STATE_ARGV), timeout=5)
        state = (res.stdout or "").strip().splitlines()[0][:40] if (res.stdout or "").strip() else (
            None if res.missing else "unknown")
        if state != "active":
            jl = host.run(list(FM_LOG_ARGV), timeout=5)
            log = tuple(ln.rstrip()[:500] for ln in (jl.stdout or "").splitlines()[-FM_LOG_LINES:] if ln.strip())
    pci = ctx.facts.get("pci")
    nvidia = bool(getattr(pci, "nvidia_devices", ())) or getattr(pci, "source", "none") == "none" or bool(switches)
    # the previous boot's Xids matter only where an NVIDIA GPU is (or may be: the bus was not read)
    prev = host.run(list(PREVIOUS_BOOT_ARGV), timeout=8) if nvidia else None
    prev_source, prev_error, xids = "none", None, ()
    if prev is None:
        pass
    elif prev.ok and prev.stdout.strip():
        prev_source = "journalctl"
        xids = tuple(xid_events("\n".join(relevant_kernel_lines(prev.stdout, PREVIOUS_BOOT_LINES)), "previous"))
    elif not prev.missing:
        prev_error = ((prev.stderr or prev.stdout).strip().splitlines() or [prev.describe()])[0][:300]
    return DatacentreFacts(
        nvswitches=tuple(switches or ()),
        nvswitch_source=source if switches is not None else "none",
        fabricmanager_installed=installed,
        fabricmanager_state=state,
        fabricmanager_log=log,
        previous_boot_source=prev_source,
        previous_boot_error=prev_error,
        previous_boot_xids=xids,
    )
