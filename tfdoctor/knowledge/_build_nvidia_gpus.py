"""Regenerate ``nvidia_gpus.json`` from two public files (maintainer tool; not imported at runtime).

Inputs (see the ``_meta`` block of the output for the exact commits):

* NVIDIA's ``supported-gpus.json`` from the 525 driver, as carried by
  ``alex-tu-cc/get-nvidia-supported-gpus-json`` (branch ``gh-pages``,
  file ``focal-nvidia-driver-525-supported-gpus.json``).  Gives: device id, NVIDIA's name,
  ``legacybranch``, ``features`` (``kernelopen``).
* ``pci.ids`` from ``pciutils/pciids``.  Gives the chip codename of each device id
  (``1c30  GP106GL [Quadro P2000]``), and the ids of cards newer than the 525 file.

Architecture and compute capability follow from the chip codename through the table in
``architectures.json`` (reference/knowledge.md section 4.1).

Usage::

    git -C <mirror of alex-tu-cc/get-nvidia-supported-gpus-json> show \
        gh-pages:focal-nvidia-driver-525-supported-gpus.json > sg525.json
    git -C <mirror of pciutils/pciids> show HEAD:pci.ids > pci.ids
    python -m tfdoctor.knowledge._build_nvidia_gpus sg525.json pci.ids > tfdoctor/knowledge/nvidia_gpus.json
"""

from __future__ import annotations

import json
import re
import sys

SG_REPO = "alex-tu-cc/get-nvidia-supported-gpus-json"
SG_COMMIT = "b9c1aa1a24f3af5d864da50e588b4a7be85bfd22"
SG_PATH = "focal-nvidia-driver-525-supported-gpus.json"
PCIIDS_REPO = "pciutils/pciids"
PCIIDS_COMMIT = "c1c12547d626ebf05fd0223144ad87fab5e95d06"

SG_SOURCE = f"{SG_REPO}@{SG_COMMIT[:12]}:{SG_PATH} [S23]"
PCIIDS_SOURCE = f"{PCIIDS_REPO}@{PCIIDS_COMMIT[:12]}:pci.ids"
S20 = "[S20] https://www.neowin.net/amp/nvidia-is-soon-ending-driver-support-for-some-of-its-most-legendary-graphics-cards/"

# Devices the 525 file lists but pci.ids does not name: chip from the id range (status I).
RANGE_FALLBACK = {
    0x0046: "NV45",  # GeForce 6800 GT, 0x0040-0x004E block is NV40/NV45
    0x014C: "NV43",  # Quadro FX 540M, 0x0140-0x014F block is NV43
    0x017D: "NV17",  # GeForce4 410 Go 16M, 0x0170-0x017D block is NV17
}

_SKIP_NAME = re.compile(r"Audio|USB|UCSI|Reserved|Dev ID|Serial Bus|Bridge|NVSwitch", re.I)


def base_chip(text: str) -> str:
    """'GP106GL' -> 'GP106', 'GK110BGL' -> 'GK110B', 'AD103M / GN21-X11' -> 'AD103', 'NV1F C17' -> 'NV1F'."""
    s = text.strip()
    if s.startswith("nForce") and "NV1A" in s:
        return "NV1A"
    s = s.split(" / ")[0].split(" ")[0]
    for suffix in ("GLM", "GL", "BM", "M"):
        if s.endswith(suffix) and len(s) > len(suffix) + 2:
            s = s[: -len(suffix)]
            break
    return s


def arch_and_cc(chip: str) -> tuple[str, str | None] | None:
    c = chip.upper()
    m = re.fullmatch(r"NV([0-9A-F]{1,2})A?", c)
    if m:
        n = int(m.group(1), 16)
        if n <= 0x0A:
            return "Fahrenheit", None
        return {1: "Celsius", 2: "Kelvin", 3: "Rankine", 4: "Curie"}[n >> 4], None
    if re.fullmatch(r"G7\d(/G7\d)?|C51\w*|C6\d|C73", c):
        return "Curie", None
    if c == "G80":
        return "Tesla", "1.0"
    if re.fullmatch(r"G8[46]|G9[2468]C?|C7[789]|MCP79|MCP7A", c):
        return "Tesla", "1.1"
    if re.fullmatch(r"GT21[568]|MCP89", c):
        return "Tesla", "1.2"
    if re.fullmatch(r"GT200B?", c):
        return "Tesla", "1.3"
    if c.startswith("GF"):
        return "Fermi", "2.0" if c in ("GF100", "GF110") else "2.1"
    if c.startswith("GK"):
        if c in ("GK104", "GK106", "GK107"):
            return "Kepler", "3.0"
        if c == "GK20A":
            return "Kepler", "3.2"
        if c == "GK210":
            return "Kepler", "3.7"
        return "Kepler", "3.5"  # GK110, GK110B, GK180, GK208, GK208B
    if c.startswith("GM"):
        if c in ("GM107", "GM108"):
            return "Maxwell", "5.0"
        if c == "GM20B":
            return "Maxwell", "5.3"
        return "Maxwell", "5.2"
    if c.startswith("GP"):
        return "Pascal", {"GP100": "6.0", "GP10B": "6.2"}.get(c, "6.1")
    if c.startswith("GV"):
        return "Volta", {"GV100": "7.0", "GV10B": "7.2"}.get(c, "7.0")
    if c.startswith("TU"):
        return "Turing", "7.5"
    if c.startswith("GA"):
        return "Ampere", {"GA100": "8.0", "GA10B": "8.7"}.get(c, "8.6")
    if c.startswith("AD"):
        return "Ada Lovelace", "8.9"
    if c.startswith("GH"):
        return "Hopper", "9.0"
    if c in ("GB100", "GB102"):
        return "Blackwell", "10.0"
    if c == "GB110":
        return "Blackwell", "10.3"
    if c == "GB10B":
        return "Blackwell", "11.0"
    if c == "GB20B":
        return "Blackwell", "12.1"
    if re.fullmatch(r"GB20[2-7]", c):
        return "Blackwell", "12.0"
    return None


LAST_BRANCH_BY_ARCH = {"Maxwell": "580", "Pascal": "580", "Volta": "580"}


def load_pciids(path: str) -> dict[int, str]:
    out: dict[int, str] = {}
    inside = False
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if re.match(r"^[0-9a-f]{4}  ", line):
                inside = line.startswith("10de  ")
                continue
            if inside:
                m = re.match(r"^\t([0-9a-f]{4})  (.*)$", line.rstrip("\n"))
                if m:
                    out[int(m.group(1), 16)] = m.group(2)
    return out


def build(sg_path: str, pciids_path: str) -> dict:
    pci = load_pciids(pciids_path)
    with open(sg_path, encoding="utf-8") as fh:
        chips = json.load(fh)["chips"]
    rows: list[dict] = []
    seen: set[int] = set()
    for entry in chips:
        dev = int(entry["devid"], 16)
        if dev in seen:
            continue  # subsystem-specific duplicates: keep the first row
        seen.add(dev)
        pci_text = pci.get(dev)
        if pci_text is not None:
            chip = base_chip(pci_text.split(" [")[0])
            status = "S"
            chip_source = PCIIDS_SOURCE
        else:
            chip = RANGE_FALLBACK[dev]
            status = "I"
            chip_source = "device-id range (I)"
        ac = arch_and_cc(chip)
        if ac is None:
            raise SystemExit(f"no architecture for {entry['devid']} {chip}")
        arch, cc = ac
        legacy = entry.get("legacybranch")
        if legacy:
            last_branch = legacy.removesuffix(".xx")
            last_branch_source = SG_SOURCE
        elif arch in LAST_BRANCH_BY_ARCH:
            last_branch = LAST_BRANCH_BY_ARCH[arch]
            last_branch_source = S20
        else:
            last_branch = None
            last_branch_source = None
        rows.append(
            {
                "device_id": f"0x{dev:04X}",
                "name": entry["name"],
                "chip": chip,
                "architecture": arch,
                "compute_capability": cc,
                "last_branch": last_branch,
                "kernelopen": "kernelopen" in entry.get("features", []),
                "in_driver_525": True,
                "status": status,
                "source": f"{SG_SOURCE} (P*); chip: {chip_source}",
                **({"last_branch_source": last_branch_source} if last_branch_source else {}),
            }
        )
    # Newer cards (not in the 525 file): Turing and later ids that pci.ids names.
    for dev in sorted(pci):
        if dev in seen:
            continue
        text = pci[dev]
        if " [" not in text:
            continue
        chip_text, name = text.split(" [", 1)
        name = name.rsplit("]", 1)[0]
        if _SKIP_NAME.search(name) or _SKIP_NAME.search(chip_text):
            continue
        chip = base_chip(chip_text)
        if not re.match(r"^(TU|GA|AD|GH|GB)\d", chip):
            continue
        ac = arch_and_cc(chip)
        if ac is None:
            continue
        arch, cc = ac
        rows.append(
            {
                "device_id": f"0x{dev:04X}",
                "name": name,
                "chip": chip,
                "architecture": arch,
                "compute_capability": cc,
                "last_branch": None,
                "kernelopen": True,
                "in_driver_525": False,
                "status": "S",
                "source": f"{PCIIDS_SOURCE} (S); kernelopen: Turing+ [S22] (I)",
            }
        )
    rows.sort(key=lambda r: int(r["device_id"], 16))
    return {
        "_meta": {
            "description": "NVIDIA PCI device id (vendor 0x10de) -> name, chip, architecture, compute capability, "
            "last driver branch, open kernel module support. One row per device id (subsystem rows dropped).",
            "sources": [SG_SOURCE, PCIIDS_SOURCE, S20],
            "row_fields": "source names where name/legacybranch/kernelopen (525 file) and the chip (pci.ids) come "
            "from; architecture and CC follow from the chip through architectures.json (knowledge.md 4.1, K/P).",
            "status_codes": "status describes the chip/architecture/CC mapping: S = chip codename from pci.ids, "
            "I = chip derived from the device-id range. name/legacybranch/kernelopen of rows with "
            "in_driver_525=true are NVIDIA's own data (P*). last_branch 580 for Maxwell/Pascal/Volta is S [S20].",
            "generator": "tfdoctor/knowledge/_build_nvidia_gpus.py",
        },
        "gpus": rows,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    data = build(argv[1], argv[2])
    out = sys.stdout
    out.write('{\n "_meta": ' + json.dumps(data["_meta"], indent=2, ensure_ascii=False).replace("\n", "\n ") + ",\n")
    out.write(' "gpus": [\n')
    rows = [json.dumps(r, ensure_ascii=False) for r in data["gpus"]]
    out.write(",\n".join("  " + r for r in rows))
    out.write("\n ]\n}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
