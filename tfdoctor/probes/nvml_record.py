"""The NVML record: what NVML says about the driver and each GPU, as plain JSON (the snapshot's `nvml.json`).

`collect(nvml)` takes the pynvml module as a parameter: that is the machine boundary, and tests pass a fake module.
Every field is queried on its own, the way gpustat and nvitop do it: a field this GPU or driver does not support
becomes null plus an entry in `field_errors`, and never loses the GPU. A GPU that answers "GPU is lost" is marked
lost. UUIDs and serial numbers are never recorded. The format is documented in docs/nvml-record.md.
"""

from __future__ import annotations

import contextlib
import os

RECORD_VERSION = 2  # 2 added the data-centre fields (MIG, fabric, compute mode, row remapping, retired pages, ECC)

# NVML return codes (nvml.h), used when the module in hand lacks the constant (an old or fake binding).
_NVML_CODES = {
    "NVML_ERROR_NO_PERMISSION": 4,
    "NVML_ERROR_NOT_FOUND": 6,
    "NVML_ERROR_DRIVER_NOT_LOADED": 9,
    "NVML_ERROR_LIBRARY_NOT_FOUND": 12,
    "NVML_ERROR_GPU_IS_LOST": 15,
    "NVML_ERROR_LIB_RM_VERSION_MISMATCH": 18,
}

# Classified init errors, by NVML return code constant.
_INIT_KINDS = {
    "NVML_ERROR_LIBRARY_NOT_FOUND": "library-not-found",
    "NVML_ERROR_DRIVER_NOT_LOADED": "driver-not-loaded",
    "NVML_ERROR_LIB_RM_VERSION_MISMATCH": "lib-rm-version-mismatch",
    "NVML_ERROR_NO_PERMISSION": "no-permission",
    "NVML_ERROR_GPU_IS_LOST": "gpu-is-lost",
}

INIT_ERRORS = ("library-not-found", "driver-not-loaded", "lib-rm-version-mismatch", "no-permission", "gpu-is-lost",
               "unknown")

# Clock event ("throttle") reason bits, from nvml.h (nvmlClocksEventReason*). Names are ours, stable in the record.
THROTTLE_BITS = (
    (0x1, "gpu_idle"),
    (0x2, "applications_clocks_setting"),
    (0x4, "sw_power_cap"),
    (0x8, "hw_slowdown"),
    (0x10, "sync_boost"),
    (0x20, "sw_thermal_slowdown"),
    (0x40, "hw_thermal_slowdown"),
    (0x80, "hw_power_brake_slowdown"),
    (0x100, "display_clock_setting"),
)

# nvmlComputeMode_t and nvmlGpuFabricState_t (nvml.h), as the record's stable names.
COMPUTE_MODES = {0: "default", 1: "exclusive-thread", 2: "prohibited", 3: "exclusive-process"}
FABRIC_STATES = {0: "not-supported", 1: "not-started", 2: "in-progress", 3: "completed"}
MAX_MIG_DEVICES = 8  # seven instances on an A100/H100, plus room

_NOT_AVAILABLE_64 = (1 << 64) - 1  # NVML_VALUE_NOT_AVAILABLE as an unsigned long long
_MIB = 1024 * 1024


class _GpuLost(Exception):
    """Raised inside one GPU's collection when NVML says the GPU is lost: the rest of that GPU is not asked."""


def _code(nvml, name: str) -> int:
    value = getattr(nvml, name, None)
    return value if isinstance(value, int) else _NVML_CODES[name]


def _error_value(exc: BaseException) -> int | None:
    value = getattr(exc, "value", None)
    return value if isinstance(value, int) else None


def _is_nvml_error(nvml, exc: BaseException) -> bool:
    base = getattr(nvml, "NVMLError", None)
    return isinstance(base, type) and isinstance(exc, base)


def classify_init_error(nvml, exc: BaseException) -> str:
    """The classified kind of an nvmlInit failure: one of INIT_ERRORS."""
    value = _error_value(exc)
    if value is not None:
        for const, kind in _INIT_KINDS.items():
            if value == _code(nvml, const):
                return kind
    return "unknown"


def _error_name(exc: BaseException) -> str:
    """A short stable name for a field error: NVMLError_NotSupported -> NotSupported."""
    name = type(exc).__name__
    if name.startswith("NVMLError_"):
        return name[len("NVMLError_"):]
    if name == "NVMLError":
        value = _error_value(exc)
        return f"NVMLError({value})" if value is not None else "NVMLError"
    return name


def _message(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # pynvml's __str__ may call into the library again
        text = ""
    return text or type(exc).__name__


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _mib(value) -> int | None:
    if not isinstance(value, int) or value < 0 or value == _NOT_AVAILABLE_64:
        return None
    return value // _MIB


def cuda_version_string(value) -> str | None:
    """NVML's integer CUDA driver version (12040) as "12.4"."""
    if not isinstance(value, int) or value <= 0:
        return None
    return f"{value // 1000}.{(value % 1000) // 10}"


def throttle_names(mask) -> list[str]:
    """The names of the clock event reasons set in an NVML bitmask."""
    if not isinstance(mask, int):
        return []
    return [name for bit, name in THROTTLE_BITS if mask & bit]


def _query(nvml, errors: dict, field: str, func, *args):
    """Call one NVML function; an NVML error becomes None plus errors[field]; GPU is lost aborts the GPU."""
    try:
        return func(*args)
    except Exception as exc:
        if _is_nvml_error(nvml, exc) and _error_value(exc) == _code(nvml, "NVML_ERROR_GPU_IS_LOST"):
            raise _GpuLost() from None
        errors[field] = _error_name(exc)
        return None


def _fn(nvml, *names):
    """The first of `names` the binding has (newer bindings renamed some functions)."""
    for name in names:
        func = getattr(nvml, name, None)
        if callable(func):
            return func
    return None


def _processes(nvml, errors: dict, handle) -> list[dict]:
    merged: dict[int, dict] = {}
    for kind, names in (
        ("C", ("nvmlDeviceGetComputeRunningProcesses",)),
        ("G", ("nvmlDeviceGetGraphicsRunningProcesses",)),
    ):
        func = _fn(nvml, *names)
        if func is None:
            continue
        procs = _query(nvml, errors, f"processes_{'compute' if kind == 'C' else 'graphics'}", func, handle)
        for proc in procs or ():
            pid = getattr(proc, "pid", None)
            if not isinstance(pid, int):
                continue
            used = _mib(getattr(proc, "usedGpuMemory", None))
            entry = merged.get(pid)
            if entry is None:
                merged[pid] = {"pid": pid, "name": None, "used_mib": used, "type": kind}
            else:
                entry["type"] = "C+G" if entry["type"] != kind else kind
                if entry["used_mib"] is None:
                    entry["used_mib"] = used
    get_name = _fn(nvml, "nvmlSystemGetProcessName")
    for pid, entry in merged.items():
        if get_name is None:
            break
        try:
            name = _text(get_name(pid))
        except Exception:  # the process may have exited, or belong to another container
            name = None
        # Only the program's base name: full paths and arguments may hold user names.
        entry["name"] = os.path.basename(name.split(" ")[0]) if name else None
    return list(merged.values())


def _mig(nvml, errors: dict, handle, gpu: dict) -> None:
    """MIG mode (current and pending) and, when it is on, how many MIG devices (GPU instances) exist."""
    fn = _fn(nvml, "nvmlDeviceGetMigMode")
    modes = _query(nvml, errors, "mig_mode", fn, handle) if fn else None
    if isinstance(modes, (list, tuple)) and len(modes) == 2:
        gpu["mig_mode_current"], gpu["mig_mode_pending"] = bool(modes[0]), bool(modes[1])
    if gpu.get("mig_mode_current") is not True:
        return
    get = _fn(nvml, "nvmlDeviceGetMigDeviceHandleByIndex")
    if get is None:
        return
    count_fn = _fn(nvml, "nvmlDeviceGetMaxMigDeviceCount")
    most = _query(nvml, errors, "mig_devices", count_fn, handle) if count_fn else MAX_MIG_DEVICES
    found = 0
    for i in range(min(most if isinstance(most, int) else MAX_MIG_DEVICES, MAX_MIG_DEVICES)):
        try:
            get(handle, i)
            found += 1
        except Exception as exc:
            if _is_nvml_error(nvml, exc) and _error_value(exc) == _code(nvml, "NVML_ERROR_GPU_IS_LOST"):
                raise _GpuLost() from None
            if _error_value(exc) != _code(nvml, "NVML_ERROR_NOT_FOUND"):  # NotFound: no instance at this index
                errors["mig_devices"] = _error_name(exc)
    gpu["mig_devices"] = found


def _fabric(nvml, errors: dict, handle, gpu: dict) -> None:
    """The GPU's NVLink fabric state (Hopper and later on NVSwitch systems: set up by the Fabric Manager)."""
    struct = getattr(nvml, "c_nvmlGpuFabricInfo_t", None)
    fn = _fn(nvml, "nvmlDeviceGetGpuFabricInfo")
    if struct is None or fn is None:
        return
    import ctypes

    info = struct()
    if _query(nvml, errors, "fabric", fn, handle, ctypes.byref(info)) is None and "fabric" in errors:
        return
    state = getattr(info, "state", None)
    status = getattr(info, "status", None)
    gpu["fabric_state"] = FABRIC_STATES.get(state) if isinstance(state, int) else None
    gpu["fabric_status"] = status if isinstance(status, int) else None


def _memory_health(nvml, errors: dict, handle, gpu: dict) -> None:
    """Row remapping (Ampere and later), retired pages (older data-centre GPUs) and the aggregate ECC counters."""
    fn = _fn(nvml, "nvmlDeviceGetRemappedRows")
    rows = _query(nvml, errors, "remapped_rows", fn, handle) if fn else None
    if isinstance(rows, (list, tuple)) and len(rows) == 4:
        gpu["remapped_rows"] = {"correctable": rows[0], "uncorrectable": rows[1], "pending": bool(rows[2]),
                                "failure": bool(rows[3])}
    fn = _fn(nvml, "nvmlDeviceGetRetiredPages")
    if fn is not None:
        single = _query(nvml, errors, "retired_pages", fn, handle,
                        getattr(nvml, "NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS", 0))
        double = _query(nvml, errors, "retired_pages", fn, handle,
                        getattr(nvml, "NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR", 1))
        pending_fn = _fn(nvml, "nvmlDeviceGetRetiredPagesPendingStatus")
        pending = _query(nvml, errors, "retired_pages_pending", pending_fn, handle) if pending_fn else None
        if single is not None or double is not None:
            gpu["retired_pages"] = {"single_bit": len(single) if isinstance(single, list) else None,
                                    "double_bit": len(double) if isinstance(double, list) else None,
                                    "pending": bool(pending) if isinstance(pending, int) else None}
    fn = _fn(nvml, "nvmlDeviceGetEccMode")
    mode = _query(nvml, errors, "ecc_mode", fn, handle) if fn else None
    if isinstance(mode, (list, tuple)) and len(mode) == 2:
        gpu["ecc_mode_current"], gpu["ecc_mode_pending"] = bool(mode[0]), bool(mode[1])
    aggregate = getattr(nvml, "NVML_AGGREGATE_ECC", 1)  # over the GPU's lifetime, kept in its InfoROM
    gpu["ecc_aggregate_uncorrected"] = _query(
        nvml, errors, "ecc_aggregate_uncorrected", nvml.nvmlDeviceGetTotalEccErrors, handle,
        getattr(nvml, "NVML_MEMORY_ERROR_TYPE_UNCORRECTED", 1), aggregate)


def _gpu(nvml, index: int) -> dict:
    errors: dict[str, str] = {}
    gpu: dict = {"index": index, "lost": False, "error": None}
    try:
        handle = _query(nvml, errors, "handle", nvml.nvmlDeviceGetHandleByIndex, index)
        if handle is None:
            gpu["error"] = errors.get("handle", "unknown")
            gpu["field_errors"] = errors
            return gpu
        gpu["name"] = _text(_query(nvml, errors, "name", nvml.nvmlDeviceGetName, handle))
        pci = _query(nvml, errors, "pci_bus_id", nvml.nvmlDeviceGetPciInfo, handle)
        gpu["pci_bus_id"] = _text(getattr(pci, "busId", None)) if pci is not None else None
        cc = _query(nvml, errors, "compute_capability", nvml.nvmlDeviceGetCudaComputeCapability, handle)
        gpu["compute_capability"] = f"{cc[0]}.{cc[1]}" if isinstance(cc, (tuple, list)) and len(cc) == 2 else None
        mem = _query(nvml, errors, "memory", nvml.nvmlDeviceGetMemoryInfo, handle)
        gpu["memory_total_mib"] = _mib(getattr(mem, "total", None))
        gpu["memory_used_mib"] = _mib(getattr(mem, "used", None))
        gpu["temperature_c"] = _query(nvml, errors, "temperature_c", nvml.nvmlDeviceGetTemperature, handle,
                                      getattr(nvml, "NVML_TEMPERATURE_GPU", 0))
        power = _query(nvml, errors, "power_w", nvml.nvmlDeviceGetPowerUsage, handle)
        gpu["power_w"] = round(power / 1000, 1) if isinstance(power, int) else None
        limit = _query(nvml, errors, "power_limit_w", nvml.nvmlDeviceGetEnforcedPowerLimit, handle)
        gpu["power_limit_w"] = round(limit / 1000, 1) if isinstance(limit, int) else None
        util = _query(nvml, errors, "utilization", nvml.nvmlDeviceGetUtilizationRates, handle)
        gpu["utilization_gpu_pct"] = getattr(util, "gpu", None)
        gpu["utilization_memory_pct"] = getattr(util, "memory", None)
        gpu["pcie_gen"] = _query(nvml, errors, "pcie_gen", nvml.nvmlDeviceGetCurrPcieLinkGeneration, handle)
        gpu["pcie_gen_max"] = _query(nvml, errors, "pcie_gen_max", nvml.nvmlDeviceGetMaxPcieLinkGeneration, handle)
        gpu["pcie_width"] = _query(nvml, errors, "pcie_width", nvml.nvmlDeviceGetCurrPcieLinkWidth, handle)
        gpu["pcie_width_max"] = _query(nvml, errors, "pcie_width_max", nvml.nvmlDeviceGetMaxPcieLinkWidth, handle)
        reasons_fn = _fn(nvml, "nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons")
        mask = _query(nvml, errors, "throttle_reasons", reasons_fn, handle) if reasons_fn else None
        gpu["throttle_reasons_mask"] = mask if isinstance(mask, int) else None
        gpu["throttle_reasons"] = throttle_names(mask)
        corrected = getattr(nvml, "NVML_MEMORY_ERROR_TYPE_CORRECTED", 0)
        uncorrected = getattr(nvml, "NVML_MEMORY_ERROR_TYPE_UNCORRECTED", 1)
        volatile = getattr(nvml, "NVML_VOLATILE_ECC", 0)  # since the driver loaded, as nvidia-smi's table shows
        gpu["ecc_corrected"] = _query(nvml, errors, "ecc_corrected", nvml.nvmlDeviceGetTotalEccErrors, handle,
                                      corrected, volatile)
        gpu["ecc_uncorrected"] = _query(nvml, errors, "ecc_uncorrected", nvml.nvmlDeviceGetTotalEccErrors, handle,
                                        uncorrected, volatile)
        pm = _query(nvml, errors, "persistence_mode", nvml.nvmlDeviceGetPersistenceMode, handle)
        gpu["persistence_mode"] = bool(pm) if isinstance(pm, int) else None
        mode_fn = _fn(nvml, "nvmlDeviceGetComputeMode")
        mode = _query(nvml, errors, "compute_mode", mode_fn, handle) if mode_fn else None
        gpu["compute_mode"] = COMPUTE_MODES.get(mode) if isinstance(mode, int) else None
        _mig(nvml, errors, handle, gpu)
        _fabric(nvml, errors, handle, gpu)
        _memory_health(nvml, errors, handle, gpu)
        gpu["processes"] = _processes(nvml, errors, handle)
    except _GpuLost:
        gpu["lost"] = True
        gpu["error"] = "GpuIsLost"
    except AttributeError as exc:  # a binding without one of the functions: keep what we have
        errors["binding"] = f"AttributeError: {exc}"
    gpu["field_errors"] = errors
    return gpu


def _empty_record() -> dict:
    return {
        "version": RECORD_VERSION,
        "init": {"ok": False, "error": "unknown", "message": ""},
        "driver_version": None,
        "cuda_driver_version": None,
        "nvml_version": None,
        "device_count": None,
        "gpus": [],
        "field_errors": {},
    }


def collect(nvml) -> dict:
    """Initialise NVML through the given pynvml module, read everything, shut it down; return the JSON record."""
    rec = _empty_record()
    try:
        nvml.nvmlInit()
    except Exception as exc:
        rec["init"] = {"ok": False, "error": classify_init_error(nvml, exc), "message": _message(exc)}
        return rec
    rec["init"] = {"ok": True, "error": None, "message": ""}
    errors: dict[str, str] = rec["field_errors"]
    try:
        rec["driver_version"] = _text(_query(nvml, errors, "driver_version", nvml.nvmlSystemGetDriverVersion))
        cuda_fn = _fn(nvml, "nvmlSystemGetCudaDriverVersion", "nvmlSystemGetCudaDriverVersion_v2")
        cuda = _query(nvml, errors, "cuda_driver_version", cuda_fn) if cuda_fn else None
        rec["cuda_driver_version"] = cuda_version_string(cuda)
        nvml_fn = _fn(nvml, "nvmlSystemGetNVMLVersion")
        rec["nvml_version"] = _text(_query(nvml, errors, "nvml_version", nvml_fn)) if nvml_fn else None
        count = _query(nvml, errors, "device_count", nvml.nvmlDeviceGetCount)
        rec["device_count"] = count if isinstance(count, int) else None
        for index in range(count if isinstance(count, int) else 0):
            rec["gpus"].append(_gpu(nvml, index))
    except _GpuLost:
        errors["device_count"] = "GpuIsLost"
    except AttributeError as exc:
        errors["binding"] = f"AttributeError: {exc}"
    finally:
        # A failing shutdown changes nothing: the record is complete and the process ends soon.
        with contextlib.suppress(Exception):
            nvml.nvmlShutdown()
    return rec


def collect_live() -> dict:
    """The record for this machine: import pynvml (nvidia-ml-py) lazily and collect through it."""
    try:
        import pynvml
    except ImportError as exc:
        rec = _empty_record()
        rec["init"] = {
            "ok": False,
            "error": "library-not-found",
            "message": f"the Python package nvidia-ml-py is not installed ({exc}); install it with "
            "`pip install nvidia-ml-py`",
            "binding_missing": True,
        }
        return rec
    return collect(pynvml)
