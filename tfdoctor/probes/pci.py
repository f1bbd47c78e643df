"""PCI probe: which display controllers are on the bus, which kernel driver holds each, and what each NVIDIA card is.

Sources: sysfs (`/sys/bus/pci/devices/*`), names and kernel-module lines from `lspci -nnk` when it is installed, a
pasted plain `lspci` in a hand-built snapshot, and the bundled table of NVIDIA device ids (tfdoctor/knowledge).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tfdoctor import textmatch
from tfdoctor.probes import probe

SYSFS_PCI = "/sys/bus/pci/devices"
NVIDIA_VENDOR = 0x10DE
DISPLAY_CLASS = 0x03


@dataclass(frozen=True)
class PciDevice:
    slot: str  # "0000:65:00.0"
    vendor_id: int | None
    device_id: int | None
    class_code: int | None  # 0x030000 VGA, 0x030200 3D controller
    subsystem_vendor: int | None = None
    subsystem_device: int | None = None
    driver_in_use: str | None = None
    kernel_modules: tuple[str, ...] = ()
    lspci_name: str | None = None  # "NVIDIA Corporation GP106GL [Quadro P2000]"
    name: str | None = None  # marketing name: "Quadro P2000"
    chip: str | None = None
    architecture: str | None = None
    compute_capability: str | None = None
    last_branch: str | None = None  # the last driver branch that supports it, None = current drivers
    kernelopen: bool | None = None  # supported by NVIDIA's open kernel modules
    revision: str | None = None  # "ff": config space reads all ones, the device is powered off or off the bus

    @property
    def is_nvidia(self) -> bool:
        return self.vendor_id == NVIDIA_VENDOR

    @property
    def kind(self) -> str:
        sub = (self.class_code or 0) >> 8 & 0xFF
        return {0x00: "VGA", 0x02: "3D", 0x80: "display"}.get(sub, "display")

    @property
    def pci_id(self) -> str:
        if self.vendor_id is None or self.device_id is None:
            return "?"
        return f"{self.vendor_id:04x}:{self.device_id:04x}"


@dataclass(frozen=True)
class PciFacts:
    source: str  # "sysfs" | "lspci" | "ubuntu-drivers" | "none"
    devices: tuple[PciDevice, ...]  # every display controller, any vendor
    nvidia_devices: tuple[PciDevice, ...]
    other_gpus: tuple[PciDevice, ...]
    lspci: str  # "ok" | "missing" | "failed: ..." | "timeout"
    errors: tuple[str, ...] = ()


def _hex(text: str | None) -> int | None:
    if not text:
        return None
    try:
        return int(text.strip(), 16)
    except ValueError:
        return None


_LSPCI_HEAD = textmatch.compile(
    r"^(?P<slot>(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])\s+"
    r"(?P<cls>[^:\[]+?)(?:\s*\[(?P<clsid>[0-9a-fA-F]{4})\])?:\s*(?P<rest>.*)$"
)
_IDS = textmatch.compile(r"\[(?P<v>[0-9a-fA-F]{4}):(?P<d>[0-9a-fA-F]{4})\]")
_REV = textmatch.compile(r"\s*\((?:rev [0-9a-fA-F]+|prog-if [^)]*\])\)|['\"`]+\s*$")
_UNNAMED = textmatch.compile(r"\bDevice ([0-9a-fA-F]{4})\b")


@dataclass(frozen=True)
class LspciRecord:
    slot: str
    class_name: str
    class_id: int | None
    name: str
    vendor_id: int | None
    device_id: int | None
    driver_in_use: str | None
    kernel_modules: tuple[str, ...]
    revision: str | None = None


_REVISION = textmatch.compile(r"\(rev ([0-9a-fA-F]+)\)")


def parse_lspci(text: str) -> list[LspciRecord]:
    """Parse `lspci`, `lspci -nn` or `lspci -nnk` output (with or without domains). Never raises."""
    records: list[LspciRecord] = []
    cur: dict | None = None

    def flush():
        if cur is not None:
            records.append(LspciRecord(**cur))

    for raw in (text or "").splitlines():
        line = raw.rstrip()
        m = _LSPCI_HEAD.match(line.strip()) if not raw[:1].isspace() else None
        if m:
            flush()
            rev = _REVISION.search(m.group("rest"))
            rest = _REV.sub("", m.group("rest"))
            ids = list(_IDS.finditer(rest))
            vendor = device = None
            if ids:
                last = ids[-1]
                vendor, device = int(last.group("v"), 16), int(last.group("d"), 16)
                rest = (rest[: last.start()] + rest[last.end():]).strip()
            elif "nvidia" in rest.lower() and (unnamed := _UNNAMED.search(rest)):
                # lspci without -nn prints "Device 1d12" for ids its pci.ids file does not name
                vendor, device = NVIDIA_VENDOR, int(unnamed.group(1), 16)
            slot = m.group("slot").lower()
            if slot.count(":") == 1:
                slot = "0000:" + slot
            cur = {
                "slot": slot,
                "class_name": m.group("cls").strip(),
                "class_id": _hex(m.group("clsid")),
                "name": rest.strip(),
                "vendor_id": vendor,
                "device_id": device,
                "driver_in_use": None,
                "kernel_modules": (),
                "revision": rev.group(1).lower() if rev else None,
            }
            continue
        if cur is None:
            continue
        stripped = line.strip()
        if stripped.startswith("Kernel driver in use:"):
            cur["driver_in_use"] = stripped.split(":", 1)[1].strip() or None
        elif stripped.startswith("Kernel modules:"):
            cur["kernel_modules"] = tuple(x.strip() for x in stripped.split(":", 1)[1].split(",") if x.strip())
    flush()
    return records


def _class_from_name(name: str) -> int | None:
    low = name.lower()
    if low.startswith("vga"):
        return 0x030000
    if low.startswith("3d"):
        return 0x030200
    if low.startswith("display"):
        return 0x038000
    return None


def _parse_uevent(text: str | None) -> dict[str, str]:
    out = {}
    for line in (text or "").splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def _read_sysfs(host) -> tuple[int, list[PciDevice]]:
    """(how many devices' class could be read, the display controllers among them). The bus was read when any
    device was: a machine without a GPU has a readable bus with no display controller on it."""
    devices = []
    readable = 0
    for slot in host.listdir(SYSFS_PCI) or []:
        base = f"{SYSFS_PCI}/{slot}"
        cls = _hex(host.read(f"{base}/class"))
        uevent = _parse_uevent(host.read(f"{base}/uevent"))
        if cls is None and "PCI_CLASS" in uevent:
            cls = _hex(uevent["PCI_CLASS"])
        if cls is not None:
            readable += 1
        if cls is None or cls >> 16 != DISPLAY_CLASS:
            continue
        vendor = _hex(host.read(f"{base}/vendor"))
        device = _hex(host.read(f"{base}/device"))
        if (vendor is None or device is None) and "PCI_ID" in uevent:
            v, _, d = uevent["PCI_ID"].partition(":")
            vendor, device = _hex(v), _hex(d)
        link = host.readlink(f"{base}/driver")
        driver = link.rstrip("/").rsplit("/", 1)[-1] if link else uevent.get("DRIVER")
        devices.append(
            PciDevice(
                slot=slot.lower(),
                vendor_id=vendor,
                device_id=device,
                class_code=cls,
                subsystem_vendor=_hex(host.read(f"{base}/subsystem_vendor")),
                subsystem_device=_hex(host.read(f"{base}/subsystem_device")),
                driver_in_use=driver,
            )
        )
    return readable, devices


def _marketing_name(lspci_name: str | None) -> str | None:
    if not lspci_name:
        return None
    brackets = textmatch.findall(r"\[([^\]]+)\]", lspci_name)
    if brackets:
        return brackets[-1].strip()
    return lspci_name.replace("NVIDIA Corporation", "").strip() or None


def _enrich(dev: PciDevice) -> PciDevice:
    """Add what the bundled table knows about an NVIDIA device id."""
    if not dev.is_nvidia:
        return replace(dev, name=dev.name or _marketing_name(dev.lspci_name))
    model = None
    if dev.device_id is not None:
        try:
            from tfdoctor.knowledge import loader as kb

            model = kb.gpu_by_pci_id(dev.device_id)
        except Exception:  # the table is a convenience; a broken table must not lose the device
            model = None
    if model is None:
        return _enrich_from_chip(replace(dev, name=dev.name or _marketing_name(dev.lspci_name)))
    return replace(
        dev,
        name=model.name if _UNNAMED.fullmatch(_marketing_name(dev.lspci_name) or "Device 0000") else
        _marketing_name(dev.lspci_name),
        chip=model.chip,
        architecture=model.architecture,
        compute_capability=model.compute_capability,
        last_branch=model.last_branch,
        kernelopen=model.kernelopen,
    )


_CHIP = textmatch.compile(r"\b(G[FKMPVTAHB]\d{2,3}[A-Z]*|GA10B|GB\d{2,3}[A-Z]*)\b")


def _enrich_from_chip(dev: PciDevice) -> PciDevice:
    """A device id the table lacks: lspci's chip codename (`GK107 [GeForce GT 640]`) still gives the architecture
    and its last driver branch (not the compute capability: one architecture spans several)."""
    m = _CHIP.search(dev.lspci_name or "")
    if not m:
        return dev
    try:
        from tfdoctor.knowledge import loader as kb

        arch = kb.architecture_for_chip(m.group(1))
    except Exception:  # the table is a convenience
        arch = None
    if arch is None:
        return dev
    ccs = arch.compute_capabilities
    return replace(dev, chip=m.group(1), architecture=arch.name, last_branch=arch.last_branch,
                   kernelopen=arch.open_modules, compute_capability=ccs[0] if len(ccs) == 1 else None)


_MODALIAS = textmatch.compile(r"pci:v0000([0-9A-F]{4})d0000([0-9A-F]{4})(?:sv0000([0-9A-F]{4})sd0000([0-9A-F]{4}))?"
                       r"(?:bc([0-9A-F]{2})sc([0-9A-F]{2})i([0-9A-F]{2}))?", textmatch.IGNORECASE)


def _from_ubuntu_drivers(host) -> list[PciDevice]:
    from tfdoctor.probes.driver import parse_ubuntu_drivers

    res = host.run(["ubuntu-drivers", "devices"], timeout=20)
    out = []
    for dev in parse_ubuntu_drivers(res.stdout) if res.stdout else []:
        m = _MODALIAS.search(dev.modalias or "")
        if not m:
            continue
        cls = int(m.group(5) + m.group(6) + m.group(7), 16) if m.group(5) else None
        if cls is not None and cls >> 16 != DISPLAY_CLASS:
            continue
        out.append(PciDevice(slot=dev.syspath.rstrip("/").rsplit("/", 1)[-1].lower(), vendor_id=int(m.group(1), 16),
                             device_id=int(m.group(2), 16), class_code=cls, subsystem_vendor=_hex(m.group(3)),
                             subsystem_device=_hex(m.group(4)),
                             lspci_name=f"{dev.vendor} {dev.model}" if dev.vendor and dev.model else dev.model))
    return out


@probe("pci", timeout=15, title="PCI bus")
def probe_pci(host, ctx) -> PciFacts:
    errors: list[str] = []
    sysfs_read, sysfs = _read_sysfs(host)
    res = host.run(["lspci", "-nnk"], timeout=10)
    if res.missing:
        res = host.run(["lspci"], timeout=10)  # a pasted plain listing in a hand-built snapshot
    if res.timed_out:
        lspci_state = "timeout"
        errors.append(res.describe())
    elif res.missing:
        lspci_state = "missing"
    elif res.rc != 0:
        lspci_state = f"failed: {res.describe()}"
    else:
        lspci_state = "ok"
    records = parse_lspci(res.stdout) if res.stdout else []
    by_slot = {r.slot: r for r in records}

    devices: list[PciDevice] = []
    if sysfs:
        source = "sysfs"
        for dev in sysfs:
            rec = by_slot.get(dev.slot)
            if rec:
                dev = replace(
                    dev,
                    lspci_name=rec.name,
                    kernel_modules=rec.kernel_modules,
                    driver_in_use=dev.driver_in_use or rec.driver_in_use,
                    revision=rec.revision,
                )
            devices.append(dev)
    else:
        # No display controller in sysfs: lspci may still list one (a hand-built snapshot holds only a paste). The
        # bus was read when sysfs showed any device or lspci listed any: then no device means no GPU.
        source = "lspci" if records else ("sysfs" if sysfs_read else "none")
        for rec in records:
            cls = (rec.class_id << 8) if rec.class_id is not None else _class_from_name(rec.class_name)
            if cls is None or cls >> 16 != DISPLAY_CLASS:
                continue
            vendor = rec.vendor_id
            if vendor is None and "nvidia" in rec.name.lower():
                vendor = NVIDIA_VENDOR
            devices.append(
                PciDevice(
                    slot=rec.slot,
                    vendor_id=vendor,
                    device_id=rec.device_id,
                    class_code=cls,
                    driver_in_use=rec.driver_in_use,
                    kernel_modules=rec.kernel_modules,
                    lspci_name=rec.name,
                    revision=rec.revision,
                )
            )
    if not devices and source == "none":
        # A hand-built snapshot may hold only `ubuntu-drivers devices`, whose modalias carries the PCI ids. Live,
        # sysfs is always there, so this never runs ubuntu-drivers a second time.
        devices = _from_ubuntu_drivers(host)
        source = "ubuntu-drivers" if devices else source
    devices = [_enrich(d) for d in devices]
    return PciFacts(
        source=source,
        devices=tuple(devices),
        nvidia_devices=tuple(d for d in devices if d.is_nvidia),
        other_gpus=tuple(d for d in devices if not d.is_nvidia),
        lspci=lspci_state,
        errors=tuple(errors),
    )
