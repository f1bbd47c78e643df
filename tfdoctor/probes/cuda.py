"""CUDA's own answer, as facts: the driver-API child's record (tfdoctor/child/cuda_probe.py, live or the snapshot's
cuda.json) or, inside the TensorFlow child, the same calls made after TensorFlow initialised CUDA.

Facts only: cuInit's status code and the name the driver gave it, the driver API version, the devices CUDA
enumerates, which libcuda/cuDNN/cuBLAS files the loader picked and their versions, and the /dev/nvidia* nodes as this
user sees them. What they mean is for checks/cuda.py and checks/datacentre.py.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from tfdoctor import textmatch
from tfdoctor.host import SnapshotError
from tfdoctor.probes import probe

CUDA_TIMEOUT = 15.0  # cuInit on eight GPUs without persistence mode takes seconds; a hung GPU never answers
_LIBCUDA_FILE = textmatch.compile(r"libcuda\.so\.(\d{3}\.\d{1,3}(?:\.\d{1,3})?)$")


@dataclass(frozen=True)
class CudaDevice:
    """One device as cuDeviceGet* reports it; the UUID only as a hash."""

    index: int
    name: str | None = None
    compute_capability: str | None = None
    pci_bus_id: str | None = None
    memory_total_mib: int | None = None
    uuid_hash: str | None = None
    errors: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class CudaLibrary:
    """A library TensorFlow loads, as the child's loader found it. `source`: LD_LIBRARY_PATH | pip | system."""

    role: str  # cudnn | cublas | cublasLt
    soname: str | None
    source: str | None
    path: str | None
    realpath: str | None
    version: str | None
    error: str | None


@dataclass(frozen=True)
class DeviceNode:
    """/dev/<name> as this user sees it."""

    name: str
    mode: str | None = None  # "0666"
    gid: int | None = None
    group: str | None = None
    rw: bool | None = None  # this process may open it read-write
    error: str | None = None


@dataclass(frozen=True)
class CudaFacts:
    """What the driver API said. `source`: child (the stdlib child), tensorflow (inside the TensorFlow child), none."""

    source: str
    ended: str | None = None  # how the child ended: ok | exit | signal | timeout | not-found | garbage
    problem: str | None = None  # why there is no usable answer (not recorded, timed out, crashed)
    libcuda_loaded: bool | None = None
    libcuda_error: str | None = None
    libcuda_source: str | None = None
    libcuda_path: str | None = None
    libcuda_realpath: str | None = None
    driver_version: str | None = None  # cuDriverGetVersion as "12.4"
    driver_version_raw: int | None = None
    init_rc: int | None = None
    init_name: str | None = None
    init_message: str | None = None
    init_duration_s: float | None = None
    device_count: int | None = None
    devices: tuple[CudaDevice, ...] = ()
    libraries: tuple[CudaLibrary, ...] = ()
    pip_dirs: tuple[str, ...] = ()
    device_nodes: tuple[DeviceNode, ...] | None = None  # None: /dev could not be read (or was not recorded)
    groups: tuple[int, ...] | None = None
    duration_s: float | None = None

    @property
    def init_ok(self) -> bool:
        return self.init_rc == 0

    def library(self, role: str) -> CudaLibrary | None:
        return next((lib for lib in self.libraries if lib.role == role), None)

    @property
    def libcuda_kind(self) -> str | None:
        """stub (the toolkit's stubs/libcuda.so), compat (a cuda-compat package) or driver; None when not loaded."""
        if not self.libcuda_loaded:
            return None
        paths = " ".join(p for p in (self.libcuda_path, self.libcuda_realpath) if p)
        if self.init_rc == 34 or "/stubs/" in paths:
            return "stub"
        if "/compat/" in paths or "cuda-compat" in paths:
            return "compat"
        return "driver"

    @property
    def libcuda_file_version(self) -> str | None:
        """The driver version in libcuda's file name (libcuda.so.550.54.15 -> '550.54.15')."""
        m = _LIBCUDA_FILE.search(os.path.basename(self.libcuda_realpath or ""))
        return m.group(1) if m else None


# -- parsing (never raises on a malformed record) ---------------------------------------------------------------


def _int(v) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _str(v) -> str | None:
    return v if isinstance(v, str) and v else None


def _dict(v) -> dict:
    return v if isinstance(v, dict) else {}


def driver_version_string(raw) -> str | None:
    """cuDriverGetVersion's 12040 as "12.4" (the same encoding as NVML's CUDA driver version)."""
    from tfdoctor.probes.nvml_record import cuda_version_string

    return cuda_version_string(_int(raw))


def _devices(raw) -> tuple[CudaDevice, ...]:
    out = []
    for i, d in enumerate(x for x in (raw if isinstance(raw, list) else []) if isinstance(x, dict)):
        errs = _dict(d.get("errors"))
        out.append(CudaDevice(
            index=_int(d.get("index")) if _int(d.get("index")) is not None else i,
            name=_str(d.get("name")), compute_capability=_str(d.get("compute_capability")),
            pci_bus_id=_str(d.get("pci_bus_id")), memory_total_mib=_int(d.get("memory_total_mib")),
            uuid_hash=_str(d.get("uuid_hash")),
            errors=tuple(sorted((str(k), v) for k, v in errs.items() if _int(v) is not None)),
        ))
    return tuple(out[:64])


def _libraries(raw: dict) -> tuple[CudaLibrary, ...]:
    out = []
    for role in ("cudnn", "cublas", "cublasLt"):
        e = _dict(raw.get(role))
        if not e:
            continue
        out.append(CudaLibrary(role, _str(e.get("soname")), _str(e.get("from")), _str(e.get("path")),
                               _str(e.get("realpath")), _str(e.get("version")), _str(e.get("error"))))
    return tuple(out)


def _nodes(raw) -> tuple[DeviceNode, ...] | None:
    if not isinstance(raw, dict):
        return None
    out = []
    for name, e in sorted(raw.items())[:64]:
        e = _dict(e)
        rw = e.get("rw")
        out.append(DeviceNode(str(name), _str(e.get("mode")), _int(e.get("gid")), _str(e.get("group")),
                              rw if isinstance(rw, bool) else None, _str(e.get("error"))))
    return tuple(out)


def facts_from_result(result: dict, source: str) -> CudaFacts:
    """Facts from the child's JSON document (cuda_probe.collect's dict)."""
    lib = _dict(result.get("libcuda"))
    init = _dict(result.get("init"))
    libs = _dict(result.get("libraries"))
    groups = result.get("groups")
    return CudaFacts(
        source=source,
        ended="ok",
        problem=_str(result.get("probe_error")),
        libcuda_loaded=lib.get("loaded") if isinstance(lib.get("loaded"), bool) else None,
        libcuda_error=_str(lib.get("error")),
        libcuda_source=_str(lib.get("from")),
        libcuda_path=_str(lib.get("path")),
        libcuda_realpath=_str(lib.get("realpath")),
        driver_version=driver_version_string(result.get("driver_version")),
        driver_version_raw=_int(result.get("driver_version")),
        init_rc=_int(init.get("rc")),
        init_name=_str(init.get("name")),
        init_message=_str(init.get("message")),
        init_duration_s=init.get("duration_s") if isinstance(init.get("duration_s"), (int, float)) else None,
        device_count=_int(result.get("device_count")),
        devices=_devices(result.get("devices")),
        libraries=_libraries(libs),
        pip_dirs=tuple(str(p) for p in (libs.get("pip_dirs") or ()) if isinstance(p, str))[:64],
        device_nodes=_nodes(result.get("device_nodes")),
        groups=tuple(g for g in groups if _int(g) is not None) if isinstance(groups, list) else None,
        duration_s=result.get("duration_s") if isinstance(result.get("duration_s"), (int, float)) else None,
    )


def facts_from_record(rec) -> CudaFacts:
    """Facts from the record `Host.cuda()` returned (live or replayed). Never raises."""
    if rec is None:
        return CudaFacts("none", problem="the driver-API child was not recorded")
    if not isinstance(rec, dict):
        return CudaFacts("none", problem="the driver-API record is not a JSON object")
    if rec.get("error"):  # the host's own exception or deadline
        return CudaFacts("none", problem=str(rec.get("message") or rec["error"]))
    ended = _dict(rec.get("ended"))
    how = _str(ended.get("how"))
    result = rec.get("result")
    if isinstance(result, dict):
        return facts_from_result(result, "child")
    why = {
        "timeout": f"the driver-API child did not finish within {ended.get('timeout_s')} s (cuInit hung: a GPU that "
                   "stopped answering, or a driver stuck in the kernel)",
        "signal": f"the driver-API child was killed by {ended.get('signal_name') or 'a signal'} (libcuda crashed it)",
        "not-found": "the Python interpreter for the driver-API child was not found",
        "garbage": "the driver-API child printed something that is not its JSON report",
    }.get(how or "", f"the driver-API child ended with status {ended.get('rc')}")
    stderr = _str(rec.get("stderr"))
    if stderr:
        why += f": {stderr.strip().splitlines()[-1][:300]}"
    return CudaFacts("none", ended=how, problem=why)


# Where CUDA could find a GPU even when the PCI bus shows none: the driver's nodes, WSL2's paravirtual GPU.
GPU_NODES = ("/dev/nvidiactl", "/proc/driver/nvidia/version", "/dev/dxg")


def no_gpu_here(host, pci) -> bool:
    """Nothing for CUDA to find: the PCI bus (read) has no NVIDIA device and no NVIDIA/WSL device node exists."""
    if pci is None or getattr(pci, "source", "none") == "none" or getattr(pci, "nvidia_devices", ()):
        return False
    return not any(host.exists(p) for p in GPU_NODES)


@probe("cuda", needs=("pci",), timeout=20, title="CUDA driver API (child process)")
def probe_cuda(host, ctx) -> CudaFacts:
    """Run (or replay) the driver-API child; on a machine with no NVIDIA GPU at all, spare the process."""
    if no_gpu_here(host, ctx.facts.get("pci")):
        return CudaFacts("none", problem="no NVIDIA GPU on the PCI bus and no NVIDIA device node: CUDA was not asked")
    ask = getattr(host, "cuda", None)
    if not callable(ask):
        return CudaFacts("none", problem="this host cannot run the driver-API child")
    try:
        rec = ask(ctx.options.python, CUDA_TIMEOUT)
    except SnapshotError:
        raise
    except Exception as exc:  # a crashed collector: facts, not a crash
        rec = {"error": "exception", "message": f"{type(exc).__name__}: {exc}"}
    return facts_from_record(rec)
