"""Typed, cached access to the knowledge base (the JSON files next to this module).

Code asks questions here ("minimum driver for CUDA 12.5?", "does a CC 6.1 GPU run the 2.17 wheel natively?")
instead of embedding version numbers.  Every record carries a ``source`` (URL or repo@commit:path) and a
status code (P / P* / S / I / K, see reference/knowledge.md).  Standard library only; each file is parsed
once (``functools.cache``, i.e. an unbounded ``lru_cache``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

_DIR = Path(__file__).resolve().parent

__all__ = [
    "TestedCuda",
    "tested_cuda",
    "Arch",
    "CudaError",
    "DriverReq",
    "GpuModel",
    "LibraryPackage",
    "TFBuild",
    "apt_package_for_library",
    "architecture",
    "architecture_for_cc",
    "architecture_for_chip",
    "architectures",
    "cc_support",
    "cuda_error",
    "driver_at_least",
    "gpu_by_pci_id",
    "gpus",
    "library_packages",
    "min_driver_for_cuda",
    "newest_tf_supporting_cc",
    "nvidia_smi_exit_code",
    "nvidia_smi_exit_kind",
    "parse_version",
    "pip_package_for_library",
    "tf_build",
    "tf_versions",
    "xid_info",
]


@cache
def _load(name: str) -> dict[str, Any]:
    with (_DIR / name).open(encoding="utf-8") as fh:
        return json.load(fh)


# ----------------------------------------------------------------------------- versions


def parse_version(text: str) -> tuple[int, ...]:
    """'535.104.05' -> (535, 104, 5); '12.5.1' -> (12, 5, 1); '2.21.0rc1' -> (2, 21, 0). Stops at the first non-number."""
    out: list[int] = []
    for part in str(text).strip().split(".")[:16]:
        digits = len(part) - len(part.lstrip("0123456789"))
        if not digits:
            break
        out.append(int(part[:min(digits, 18)]))
        if digits != len(part):
            break
    return tuple(out)


def _cmp_key(v: str | tuple[int, ...], width: int = 4) -> tuple[int, ...]:
    t = parse_version(v) if isinstance(v, str) else tuple(v)
    return t + (0,) * (width - len(t))


def driver_at_least(have: str, need: str) -> bool:
    """Numeric comparison of driver versions: driver_at_least('535.104.05', '525.60.13') is True.

    Missing trailing components count as 0, so '580' means '580.0.0'.
    """
    h, n = parse_version(have), parse_version(need)
    width = max(len(h), len(n), 1)
    return _cmp_key(h, width) >= _cmp_key(n, width)


def _cc_tuple(cc: str) -> tuple[int, int]:
    """'6.1' / 'sm_61' / 'compute_90' / '12.0' -> (major, minor)."""
    s = str(cc).strip().lower().removeprefix("sm_").removeprefix("compute_").rstrip("af")
    if s.isdigit() and len(s) >= 2 and "." not in s:  # 'sm_61' style: last digit is the minor
        return int(s[:-1]), int(s[-1])
    t = parse_version(s)
    if not t:
        raise ValueError(f"not a compute capability: {cc!r}")
    return t[0], t[1] if len(t) > 1 else 0


def _cc_str(cc: str) -> str:
    major, minor = _cc_tuple(cc)
    return f"{major}.{minor}"


# ----------------------------------------------------------------------------- TensorFlow builds


@dataclass(frozen=True)
class TFBuild:
    version: str
    python_min: str
    python_max: str
    cuda: str
    cudnn: str
    sass: tuple[str, ...]
    ptx: tuple[str, ...]
    has_and_cuda_extra: bool
    libraries: tuple[str, ...]
    source: str
    status: str = "P"
    python_extra: tuple[str, ...] = ()
    arch_status: str = ""
    arch_source: str = ""
    libraries_status: str = ""
    optional_libraries: tuple[str, ...] = ()
    windows_native_gpu: bool = False
    tensorrt_support: bool = False
    glibc_min: str | None = None
    and_cuda_pins: tuple[tuple[str, str], ...] = ()
    and_cuda_pins_status: str | None = None
    tested_as: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def min_sass_cc(self) -> str | None:
        return self.sass[0] if self.sass else None

    def supports_python(self, version: str) -> bool:
        """True if 'major.minor' (e.g. '3.12') is in the tested range (or the extra list, e.g. 2.7)."""
        v = _cmp_key(version, 2)[:2]
        if ".".join(map(str, v)) in self.python_extra:
            return True
        return _cmp_key(self.python_min, 2)[:2] <= v <= _cmp_key(self.python_max, 2)[:2]


@cache
def _builds() -> tuple[TFBuild, ...]:
    known = set(TFBuild.__dataclass_fields__)
    out = []
    for rec in _load("tensorflow_builds.json")["builds"]:
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in rec.items():
            if key not in known or key == "extra":
                extra[key] = value
            elif key == "and_cuda_pins":
                kwargs[key] = tuple(sorted(value.items()))
            elif isinstance(value, list):
                kwargs[key] = tuple(value)
            else:
                kwargs[key] = value
        out.append(TFBuild(**kwargs, extra=extra))
    out.sort(key=lambda b: _cmp_key(b.version))
    return tuple(out)


def tf_versions() -> list[TFBuild]:
    """All known TensorFlow minor versions, oldest first."""
    return list(_builds())


def tf_build(version: str) -> TFBuild | None:
    """'2.16.1', '2.21.0rc1', '2.15.0.post1', '2.16' -> the record of that minor version, or None if unknown."""
    t = parse_version(version)
    if len(t) < 2:
        return None
    key = f"{t[0]}.{t[1]}"
    for b in _builds():
        if b.version == key:
            return b
    return None


@dataclass(frozen=True)
class TestedCuda:
    """The CUDA and cuDNN a TensorFlow release's Linux GPU wheel was tested with."""

    version: str  # the minor version, "1.5"
    cuda: str
    cudnn: str
    source: str


def tested_cuda(version: str) -> TestedCuda | None:
    """'1.5.0', '2.16.1' -> the CUDA/cuDNN of that minor version's Linux GPU wheel (the build records, else the older
    releases' table), or None if unknown."""
    b = tf_build(version)
    if b is not None:
        return TestedCuda(b.version, b.cuda, b.cudnn, b.source) if b.cuda else None
    t = parse_version(version)
    if len(t) < 2:
        return None
    legacy = _load("tensorflow_builds.json").get("legacy_gpu_builds") or {}
    for rec in legacy.get("builds", ()):
        if rec.get("version") == f"{t[0]}.{t[1]}":
            return TestedCuda(rec["version"], rec["cuda"], rec["cudnn"], legacy.get("_source", ""))
    return None


def newest_legacy_for_driver(driver: str) -> TestedCuda | None:
    """The newest TensorFlow 1.x release older than the build records (1.0-1.13, from the tested-configurations
    table) whose CUDA this driver runs (the toolkit's own driver floor: no minor-version compatibility before CUDA 11),
    or None."""
    legacy = _load("tensorflow_builds.json").get("legacy_gpu_builds") or {}
    for rec in sorted(legacy.get("builds", ()), key=lambda r: parse_version(r.get("version", "0")), reverse=True):
        try:
            need = min_driver_for_cuda(rec["cuda"]).toolkit_driver
        except (KeyError, ValueError):
            continue
        if need and driver_at_least(driver, need):
            return TestedCuda(rec["version"], rec["cuda"], rec["cudnn"], legacy.get("_source", ""))
    return None


def cc_support(build: TFBuild, cc: str) -> str:
    """How a GPU of compute capability ``cc`` runs ``build``'s official wheel.

    'sass': the wheel has SASS sm_XY with the same major and Y <= the GPU's minor (runs natively);
    'ptx':  no SASS fits, but PTX compute_XY with X.Y <= cc exists (driver JIT, slow first start);
    'none': neither (TF ignores the GPU or fails with 'device kernel image is invalid').
    """
    major, minor = _cc_tuple(cc)
    for s in build.sass:
        smaj, smin = _cc_tuple(s)
        if smaj == major and smin <= minor:
            return "sass"
    for p in build.ptx:
        if _cc_tuple(p) <= (major, minor):
            return "ptx"
    return "none"


def newest_tf_supporting_cc(cc: str) -> TFBuild | None:
    """Newest TensorFlow whose official wheel runs ``cc`` natively (SASS). '5.2' -> 2.16; '3.0' -> None."""
    for b in reversed(_builds()):
        if cc_support(b, cc) == "sass":
            return b
    return None


# ----------------------------------------------------------------------------- library -> package


@dataclass(frozen=True)
class LibraryPackage:
    soname: str
    cuda_major: str
    pip: str | None
    apt: str | None
    apt_status: str
    source: str


@cache
def library_packages() -> tuple[LibraryPackage, ...]:
    return tuple(
        LibraryPackage(r["soname"], r["cuda_major"], r["pip"], r["apt"], r["apt_status"], r["source"])
        for r in _load("tensorflow_builds.json")["library_packages"]
    )


def _package_rows(soname: str, cuda: str | None) -> list[LibraryPackage]:
    rows = [r for r in library_packages() if r.soname == soname]
    if cuda:
        major = str(parse_version(cuda)[0]) if parse_version(cuda) else None
        rows = [r for r in rows if r.cuda_major == major] or []
    return rows


def pip_package_for_library(soname: str, cuda: str | None = None) -> str | None:
    """The NVIDIA pip wheel that ships ``soname``: 'libcudnn.so.9' -> 'nvidia-cudnn-cu12'.

    Some sonames exist in both the cu11 and cu12 wheels (libcudnn.so.8, libcurand.so.10, libcusolver.so.11,
    libnccl.so.2); pass ``cuda`` (e.g. the TF build's '12.3') to choose.  Without it the first listed family
    wins (libcudnn.so.8 -> nvidia-cudnn-cu11).
    """
    for r in _package_rows(soname, cuda):
        if r.pip:
            return r.pip
    return None


def apt_package_for_library(soname: str, cuda: str | None = None) -> str | None:
    """The package in NVIDIA's CUDA apt repository that ships ``soname``.

    'libcudnn.so.8' -> 'libcudnn8'; 'libcublas.so.12' with cuda='12.3' -> 'libcublas-12-3'.  Versioned names
    take the CUDA minor from ``cuda``, else from the newest TF build that loads the library (else None).
    """
    rows = _package_rows(soname, cuda)
    if not rows:
        return _toolkit_named_package(soname)
    row = rows[0]
    if row.apt is None or "{dash}" not in row.apt:
        return row.apt
    ver = cuda
    if not ver:
        for b in reversed(_builds()):
            if soname in b.libraries or soname in b.optional_libraries:
                ver = b.cuda
                break
    if not ver:
        return None
    t = parse_version(ver)
    if len(t) < 2:
        return None
    return row.apt.format(dash=f"{t[0]}-{t[1]}")


# CUDA 8.0 to 10.0 named each library's soname after the toolkit (libcublas.so.9.0) and NVIDIA's apt repository
# named the packages so too: cuda-cublas-9-0 (TensorFlow's own GPU Dockerfiles of 1.12/1.13 install
# cuda-{command-line-tools,cublas,cufft,curand,cusolver,cusparse}-${CUDA/./-}; tensorflow/tensorflow
# tensorflow/tools/dockerfiles/partials/ubuntu/nvidia.partial.Dockerfile at the 1.13 release, S).
_TOOLKIT_NAMED = {"libcudart": "cuda-cudart", "libcublas": "cuda-cublas", "libcufft": "cuda-cufft",
                  "libcurand": "cuda-curand", "libcusolver": "cuda-cusolver", "libcusparse": "cuda-cusparse",
                  "libcupti": "cuda-command-line-tools", "libnvrtc": "cuda-nvrtc"}


def _toolkit_named_package(soname: str) -> str | None:
    """'libcublas.so.9.0' -> 'cuda-cublas-9-0' (CUDA 8.0-10.0 sonames carry the toolkit's version)."""
    name, _, ver = soname.partition(".so.")
    parts = ver.split(".")
    if name in _TOOLKIT_NAMED and len(parts) == 2 and parts[0] in ("8", "9", "10") and all(p.isdigit() for p in parts):
        return f"{_TOOLKIT_NAMED[name]}-{parts[0]}-{parts[1]}"
    return None


# ----------------------------------------------------------------------------- CUDA -> driver


@dataclass(frozen=True)
class DriverReq:
    minor_compat_floor: str | None
    toolkit_driver: str | None
    source: str
    cuda: str = ""
    toolkit_row: str = ""
    status: str = ""


@cache
def _toolkit_rows() -> tuple[dict[str, Any], ...]:
    rows = list(_load("cuda_drivers.json")["toolkit_drivers"])
    rows.sort(key=lambda r: _cmp_key(r["full_version"]))
    return tuple(rows)


def min_driver_for_cuda(cuda: str) -> DriverReq:
    """Minimum Linux driver for a CUDA version ('12.5', or '12.5.1' for an exact update row).

    minor_compat_floor: the driver floor for the whole major family (None for CUDA <= 10: no minor-version
    compatibility).  toolkit_driver: the Table 3 driver of that x.y GA row (or the exact x.y.z row when
    given and listed), falling back to the nearest lower row.
    """
    t = parse_version(cuda)
    if not t:
        raise ValueError(f"not a CUDA version: {cuda!r}")
    data = _load("cuda_drivers.json")
    floor_rec = next((r for r in data["minor_version_compatibility"] if r["cuda_major"] == str(t[0])), None)
    floor = floor_rec["min_driver_linux"] if floor_rec else None
    rows = _toolkit_rows()
    xy = f"{t[0]}.{t[1] if len(t) > 1 else 0}"
    chosen = None
    if len(t) >= 3 and t[2] > 0:
        chosen = next((r for r in rows if parse_version(r["full_version"])[:3] == t[:3]), None)
    if chosen is None:
        same = [r for r in rows if r["cuda"] == xy and r["release"] == "GA"]
        chosen = same[0] if same else None
    if chosen is None:
        lower = [r for r in rows if _cmp_key(r["full_version"]) <= _cmp_key(t)]
        chosen = lower[-1] if lower else None
    sources = []
    if floor_rec:
        sources.append(floor_rec["source"])
    if chosen:
        sources.append(chosen["source"])
    return DriverReq(
        minor_compat_floor=floor,
        toolkit_driver=chosen["linux_x86_64"] if chosen else None,
        source="; ".join(dict.fromkeys(sources)),
        cuda=cuda,
        toolkit_row=chosen["toolkit"] if chosen else "",
        status=chosen["status"] if chosen else (floor_rec["status"] if floor_rec else ""),
    )


def next_driver_floor(driver: str, ptx: bool = False) -> tuple[str, str] | None:
    """(the CUDA release, its minimum Linux driver) of the first CUDA this driver cannot run: what a program whose CUDA
    runtime says the driver is insufficient needs at least. Up to CUDA 10 every toolkit release has its own floor
    (Table 3); from CUDA 11 on, minor-version compatibility lets a driver run every minor of its major, so the next
    floor is the next major's (cuda-compatibility's minor-version table). PTX is not covered by minor-version
    compatibility (ptx_jit_note): for PTX the next toolkit release's own driver, at every release."""
    have = parse_version(driver or "")
    if not have:
        return None
    data = _load("cuda_drivers.json")
    steps: list[tuple[tuple[int, ...], str, str]] = []
    for r in _toolkit_rows():
        if (ptx or parse_version(r["cuda"])[:1] < (11,)) and r.get("linux_x86_64"):
            steps.append((parse_version(r["linux_x86_64"]), f"CUDA {r['full_version']}", r["linux_x86_64"]))
    for r in () if ptx else data["minor_version_compatibility"]:
        if int(r["cuda_major"]) >= 11 and r.get("min_driver_linux"):
            steps.append((parse_version(r["min_driver_linux"]), f"CUDA {r['cuda_major']}", r["min_driver_linux"]))
    above = sorted(s for s in steps if s[0] > have)
    return (above[0][1], above[0][2]) if above else None


def cuda_for_ptx(ptx: str) -> str | None:
    """The first CUDA release whose driver (and ptxas) loads PTX of ISA version `ptx` ('8.5' -> '12.5'); None when the
    table has no such version."""
    t = parse_version(ptx or "")
    if len(t) < 2:
        return None
    return _load("cuda_drivers.json").get("ptx_isa", {}).get("first_cuda", {}).get(f"{t[0]}.{t[1]}")


def nvenc_min_driver(api: str) -> str | None:
    """The first Linux driver whose NVENC library offers NVENC API `api` ('12.2' -> '550.54.14'), from FFmpeg's own
    table (cuda_drivers.json nvenc_api_drivers); None for an API the table does not name."""
    t = parse_version(api or "")
    if len(t) < 2:
        return None
    return _load("cuda_drivers.json").get("nvenc_api_drivers", {}).get("linux_min_driver", {}).get(f"{t[0]}.{t[1]}")


def is_cuda_release(version: str) -> bool:
    """Whether `version` (x.y, or x.y.z) names a CUDA toolkit release of Table 3 ('8.9.5' is a cuDNN's, not CUDA's)."""
    t = parse_version(version or "")
    return len(t) >= 2 and any(parse_version(r["cuda"])[:2] == t[:2] for r in _toolkit_rows())


def cuda_before(version: str) -> str | None:
    """The newest CUDA release (x.y) of Table 3 older than `version` ('11.0' -> '10.2', '13.0' -> '12.9'): the last
    release before one that dropped an architecture."""
    t = parse_version(version or "")
    older = [r["cuda"] for r in _toolkit_rows() if t and _cmp_key(r["cuda"]) < _cmp_key(t)]
    return max(older, key=_cmp_key) if older else None


def newest_cuda_for_driver(driver: str) -> str | None:
    """The newest CUDA release (x.y) whose toolkit's own driver (Table 3) this Linux driver reaches: the CUDA whose PTX
    its JIT compiler still loads. None for an unreadable version or one older than every row."""
    have = parse_version(driver or "")
    if not have:
        return None
    rows = [r for r in _toolkit_rows() if r.get("linux_x86_64") and parse_version(r["linux_x86_64"]) <= have]
    if not rows:
        return None
    best = max(rows, key=lambda r: _cmp_key(r["cuda"]))
    return best["cuda"]


# ----------------------------------------------------------------------------- GPUs and architectures


@dataclass(frozen=True)
class GpuModel:
    device_id: int
    name: str
    chip: str
    architecture: str
    compute_capability: str | None
    last_branch: str | None
    kernelopen: bool
    source: str
    status: str
    in_driver_525: bool = False
    last_branch_source: str | None = None


@dataclass(frozen=True)
class Arch:
    name: str
    compute_capabilities: tuple[str, ...]
    last_branch: str | None
    open_modules: bool
    source: str
    chip_prefixes: tuple[str, ...] = ()
    status: str = ""
    last_branch_status: str | None = None
    cuda_dropped: tuple[tuple[tuple[str, ...], str], ...] = ()  # ((ccs, first CUDA without them), ...)
    notes: tuple[str, ...] = ()

    def dropped_by_cuda(self, cc: str) -> str | None:
        """First CUDA toolkit that can no longer build for ``cc`` (e.g. '3.5' -> '12.0'), if recorded."""
        c = _cc_str(cc)
        for ccs, cuda in self.cuda_dropped:
            if c in ccs:
                return cuda
        return None


@cache
def _gpu_index() -> dict[int, GpuModel]:
    out: dict[int, GpuModel] = {}
    for r in _load("nvidia_gpus.json")["gpus"]:
        dev = int(r["device_id"], 16)
        out[dev] = GpuModel(
            device_id=dev,
            name=r["name"],
            chip=r["chip"],
            architecture=r["architecture"],
            compute_capability=r["compute_capability"],
            last_branch=r["last_branch"],
            kernelopen=bool(r["kernelopen"]),
            source=r["source"],
            status=r["status"],
            in_driver_525=bool(r.get("in_driver_525")),
            last_branch_source=r.get("last_branch_source"),
        )
    return out


def gpus() -> list[GpuModel]:
    return list(_gpu_index().values())


def gpu_by_pci_id(device_id: int | str) -> GpuModel | None:
    """NVIDIA PCI device id (vendor 0x10de) -> GpuModel.  Accepts 0x1C30, '0x1c30', '1c30' or '10de:1c30'."""
    if isinstance(device_id, str):
        s = device_id.strip().lower().split(":")[-1]
        try:
            device_id = int(s, 16)
        except ValueError:
            return None
    return _gpu_index().get(int(device_id))


def _name_key(name: str) -> str:
    s = name.lower().replace("nvidia", "").replace("geforce", "")
    return "".join(ch for ch in s if ch.isalnum())


@cache
def _gpus_by_name() -> dict[str, tuple[GpuModel, ...]]:
    out: dict[str, list[GpuModel]] = {}
    for g in _gpu_index().values():
        out.setdefault(_name_key(g.name), []).append(g)
    return {k: tuple(v) for k, v in out.items() if k}


def gpus_named(text: str) -> tuple[GpuModel, ...]:
    """The GPU models a person's name for a GPU stands for ('GTX1080', 'GeForce GTX 1080'): those whose marketing name
    is exactly that, ignoring case, spaces, punctuation, 'NVIDIA' and 'GeForce'. Empty for any other text (a name with
    more or less in it is not guessed at)."""
    return _gpus_by_name().get(_name_key(text or "")[:60], ())


@cache
def architectures() -> tuple[Arch, ...]:
    out = []
    for r in _load("architectures.json")["architectures"]:
        out.append(
            Arch(
                name=r["name"],
                compute_capabilities=tuple(r["compute_capabilities"]),
                last_branch=r["last_branch"],
                open_modules=bool(r["open_kernel_modules_supported"]),
                source=r["source"],
                chip_prefixes=tuple(r["chip_prefixes"]),
                status=r["status"],
                last_branch_status=r.get("last_branch_status"),
                cuda_dropped=tuple((tuple(d["compute_capabilities"]), d["cuda"]) for d in r["cuda_dropped"]),
                notes=tuple(r.get("notes", ())),
            )
        )
    return tuple(out)


def architecture(name: str) -> Arch | None:
    """'Pascal' (case-insensitive; 'Ada' finds 'Ada Lovelace') -> Arch."""
    n = name.strip().lower()
    for a in architectures():
        if a.name.lower() == n:
            return a
    for a in architectures():
        if a.name.lower().split()[0] == n:
            return a
    return None


def architecture_for_cc(cc: str) -> Arch | None:
    """'6.1' -> Pascal, '12.0' -> Blackwell."""
    c = _cc_str(cc)
    for a in architectures():
        if c in a.compute_capabilities:
            return a
    return None


def first_cuda_for_cc(cc: str, binary_compatible: bool = False) -> str | None:
    """The first CUDA toolkit release that supports a compute capability ('8.6' -> '11.1'); None for those CUDA 7.0
    already had, or unknown ones. With binary_compatible, the first whose kernels run on it: code built for X.y runs
    on X.z for z >= y (NVIDIA's binary compatibility rule), so the first CUDA of the major's lowest ('8.6' -> '11.0')."""
    table = {k: v for k, v in (_load("architectures.json").get("first_cuda_for_cc") or {}).items()
             if not k.startswith("_") and isinstance(v, str)}
    c = _cc_str(cc)
    if not binary_compatible:
        return table.get(c)
    major = c.split(".")[0]
    same = [k for k in table if k.split(".")[0] == major and parse_version(k) <= parse_version(c)]
    return table[min(same, key=parse_version)] if same else None


def architecture_for_chip(chip: str) -> Arch | None:
    """Chip codename -> Arch by longest matching prefix: 'GP106GL' -> Pascal, 'NV44' -> Curie."""
    c = chip.strip().upper()
    best: tuple[int, Arch] | None = None
    for a in architectures():
        for p in a.chip_prefixes:
            if c.startswith(p.upper()) and (best is None or len(p) > best[0]):
                best = (len(p), a)
    return best[1] if best else None


# ----------------------------------------------------------------------------- logs, errors, nvidia-smi


@dataclass(frozen=True)
class CudaError:
    code: int
    name: str
    meaning: str
    source: str
    aliases: tuple[str, ...] = ()
    api: str = ""
    status: str = ""


@cache
def _cuda_errors() -> tuple[CudaError, ...]:
    return tuple(
        CudaError(r["code"], r["name"], r["meaning"], r["source"], tuple(r["aliases"]), r["api"], r["status"])
        for r in _load("cuda_errors.json")["errors"]
    )


def cuda_error(code_or_name: int | str) -> CudaError | None:
    """303 / '303' / 'CUDA_ERROR_SHARED_OBJECT_INIT_FAILED' / 'cudaErrorInsufficientDriver' -> CudaError."""
    key = code_or_name
    if isinstance(key, str) and key.strip().lstrip("-").isdigit():
        key = int(key.strip())
    for e in _cuda_errors():
        if isinstance(key, int) and not isinstance(key, bool):
            if e.code == key:
                return e
        elif isinstance(key, str) and (key.strip() == e.name or key.strip() in e.aliases):
            return e
    return None


def nvidia_smi_exit_code(rc: int) -> str | None:
    """nvidia-smi exit status -> meaning (9 -> 'NVIDIA driver not loaded'); rc > 127 -> killed by a signal."""
    entry = nvidia_smi_exit_kind(rc)
    return entry[1] if entry else None


def nvidia_smi_exit_kind(rc: int) -> tuple[str, str] | None:
    """nvidia-smi exit status -> (kind, meaning): 9 -> ('driver-not-loaded', 'NVIDIA driver not loaded')."""
    data = _load("nvidia_smi.json")
    for r in data["exit_codes"]:
        if r["rc"] == rc:
            return r["kind"], r["meaning"]
    rule = data["_meta"]["signal_rule"]
    if rc >= rule["min_rc"]:
        return rule["kind"], f"{rule['meaning']} (signal {rc - 128})"
    return None


# ----------------------------------------------------------------------------- Xid codes


@dataclass(frozen=True)
class XidInfo:
    xid: int
    name: str
    causes: tuple[str, ...]
    severity: str  # critical | error | application | info
    action: str
    reset_gpu: bool
    source: str
    status: str = ""


@cache
def _xids() -> dict[int, XidInfo]:
    return {r["xid"]: XidInfo(r["xid"], r["name"], tuple(r["causes"]), r["severity"], r["action"], r["reset_gpu"],
                              r["source"], r.get("status", ""))
            for r in _load("xid.json")["xids"]}


def xid_info(code: int) -> XidInfo | None:
    """79 -> XidInfo('GPU has fallen off the bus', ...): NVIDIA's meaning, causes and action; None if not listed."""
    return _xids().get(code)
