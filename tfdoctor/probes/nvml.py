"""NVML facts: the driver library's view of the driver and each GPU.

Source order: the NVML record (`host.nvml`, live through nvidia-ml-py, or the snapshot's nvml.json). When NVML did
not initialise, or there is no record, `nvidia-smi` is run (or replayed) and its table or its failure message and
exit status are read. Both calls are bounded by timeouts, so a GPU that fell off the bus becomes facts, not a hang.
"""

from __future__ import annotations

from dataclasses import dataclass

from tfdoctor.host import NOT_INSTALLED, SnapshotError
from tfdoctor.probes import probe
from tfdoctor.probes.nvidia_smi import SmiTable, classify_nvidia_smi_failure, parse_nvidia_smi_table
from tfdoctor.probes.nvml_record import RECORD_VERSION

NVML_TIMEOUT = 10.0
SMI_TIMEOUT = 8.0  # NVML (10 s) + nvidia-smi (8 s) stay inside the probe's 20 s deadline

# nvidia-smi failure kinds that say more than an NVML "library not found" or a missing record.
_SPECIFIC = {"driver-not-loaded", "lib-rm-version-mismatch", "gpu-is-lost", "no-permission", "no-devices",
             "insufficient-power", "irq-issue", "corrupted-inforom"}


@dataclass(frozen=True)
class ProcessFacts:
    """A process holding memory on a GPU. `type`: C compute, G graphics, C+G both."""

    pid: int | None
    name: str | None
    used_mib: int | None
    type: str | None = None


@dataclass(frozen=True)
class GpuFacts:
    """One GPU as NVML (or nvidia-smi) reports it; None where the source could not say."""

    index: int
    name: str | None = None
    pci_bus_id: str | None = None
    compute_capability: str | None = None
    memory_total_mib: int | None = None
    memory_used_mib: int | None = None
    temperature_c: int | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    utilization_gpu_pct: int | None = None
    utilization_memory_pct: int | None = None
    pcie_gen: int | None = None
    pcie_gen_max: int | None = None
    pcie_width: int | None = None
    pcie_width_max: int | None = None
    throttle_reasons: tuple[str, ...] = ()
    ecc_corrected: int | None = None
    ecc_uncorrected: int | None = None
    persistence_mode: bool | None = None
    # record version 2: the data-centre state (None where the GPU, the driver or an older record does not say)
    compute_mode: str | None = None  # default | exclusive-thread | prohibited | exclusive-process
    mig_mode_current: bool | None = None
    mig_mode_pending: bool | None = None
    mig_devices: int | None = None
    fabric_state: str | None = None  # not-supported | not-started | in-progress | completed
    fabric_status: int | None = None  # nvmlReturn_t of the fabric probe (0 = success)
    remapped_rows_correctable: int | None = None
    remapped_rows_uncorrectable: int | None = None
    remapped_rows_pending: bool | None = None
    remapped_rows_failure: bool | None = None
    retired_pages_single_bit: int | None = None
    retired_pages_double_bit: int | None = None
    retired_pages_pending: bool | None = None
    ecc_mode_current: bool | None = None
    ecc_aggregate_uncorrected: int | None = None
    processes: tuple[ProcessFacts, ...] = ()
    processes_listed: bool = True  # False: nvidia-smi's table came without its Processes section (a cut paste)
    field_errors: tuple[tuple[str, str], ...] = ()
    lost: bool = False
    error: str | None = None


@dataclass(frozen=True)
class NvmlFacts:
    """What NVML / nvidia-smi said. `source`: "nvml", "nvidia-smi" or "none" (neither could be read)."""

    source: str
    init_ok: bool
    init_error: str | None = None
    init_message: str = ""
    driver_version: str | None = None
    cuda_driver_version: str | None = None
    nvml_version: str | None = None
    gpus: tuple[GpuFacts, ...] = ()
    nvml_error: str | None = None  # what the NVML record said, when nvidia-smi was then asked
    binding_missing: bool = False  # nvidia-ml-py (pynvml) is not installed for tfdoctor
    nvidia_smi_rc: int | None = None
    nvidia_smi_kind: str | None = None
    nvidia_smi_message: str | None = None
    nvidia_smi_version: str | None = None
    timed_out: bool = False
    record_problem: str | None = None  # the NVML record was present but not usable (and why)

    @property
    def smi_unread(self) -> bool:
        """nvidia-smi printed something that is neither its table nor an error tfdoctor knows (a part of the table,
        cut by a paste), with no failing exit status, and no NVML record said anything: nothing says NVML failed."""
        return (not self.init_ok and (self.init_error or "unknown") == "unknown" and self.nvml_error is None
                and self.nvidia_smi_kind == "unknown" and self.nvidia_smi_rc in (None, 0))


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _num(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _str(value) -> str | None:
    return value if isinstance(value, str) else None


def _bool(value) -> bool | None:
    return value if isinstance(value, bool) else None


def _gpu_from_record(raw: dict, fallback_index: int) -> GpuFacts:
    procs = []
    for p in raw.get("processes") or ():
        if isinstance(p, dict):
            procs.append(ProcessFacts(_int(p.get("pid")), _str(p.get("name")), _int(p.get("used_mib")),
                                      _str(p.get("type"))))
    errors = raw.get("field_errors")
    field_errors = tuple(sorted((str(k), str(v)) for k, v in errors.items())) if isinstance(errors, dict) else ()
    reasons = raw.get("throttle_reasons")
    pm = raw.get("persistence_mode")
    rows = raw.get("remapped_rows") if isinstance(raw.get("remapped_rows"), dict) else {}
    pages = raw.get("retired_pages") if isinstance(raw.get("retired_pages"), dict) else {}
    index = _int(raw.get("index"))
    return GpuFacts(
        index=index if index is not None else fallback_index,
        name=_str(raw.get("name")),
        pci_bus_id=_str(raw.get("pci_bus_id")),
        compute_capability=_str(raw.get("compute_capability")),
        memory_total_mib=_int(raw.get("memory_total_mib")),
        memory_used_mib=_int(raw.get("memory_used_mib")),
        temperature_c=_int(raw.get("temperature_c")),
        power_w=_num(raw.get("power_w")),
        power_limit_w=_num(raw.get("power_limit_w")),
        utilization_gpu_pct=_int(raw.get("utilization_gpu_pct")),
        utilization_memory_pct=_int(raw.get("utilization_memory_pct")),
        pcie_gen=_int(raw.get("pcie_gen")),
        pcie_gen_max=_int(raw.get("pcie_gen_max")),
        pcie_width=_int(raw.get("pcie_width")),
        pcie_width_max=_int(raw.get("pcie_width_max")),
        throttle_reasons=tuple(r for r in reasons if isinstance(r, str)) if isinstance(reasons, list) else (),
        ecc_corrected=_int(raw.get("ecc_corrected")),
        ecc_uncorrected=_int(raw.get("ecc_uncorrected")),
        persistence_mode=pm if isinstance(pm, bool) else None,
        compute_mode=_str(raw.get("compute_mode")),
        mig_mode_current=_bool(raw.get("mig_mode_current")),
        mig_mode_pending=_bool(raw.get("mig_mode_pending")),
        mig_devices=_int(raw.get("mig_devices")),
        fabric_state=_str(raw.get("fabric_state")),
        fabric_status=_int(raw.get("fabric_status")),
        remapped_rows_correctable=_int(rows.get("correctable")),
        remapped_rows_uncorrectable=_int(rows.get("uncorrectable")),
        remapped_rows_pending=_bool(rows.get("pending")),
        remapped_rows_failure=_bool(rows.get("failure")),
        retired_pages_single_bit=_int(pages.get("single_bit")),
        retired_pages_double_bit=_int(pages.get("double_bit")),
        retired_pages_pending=_bool(pages.get("pending")),
        ecc_mode_current=_bool(raw.get("ecc_mode_current")),
        ecc_aggregate_uncorrected=_int(raw.get("ecc_aggregate_uncorrected")),
        processes=tuple(procs),
        field_errors=field_errors,
        lost=raw.get("lost") is True,
        error=_str(raw.get("error")),
    )


_SMI_COMPUTE_MODES = {"Default": "default", "E. Process": "exclusive-process", "Prohibited": "prohibited",
                      "E. Thread": "exclusive-thread"}


def _gpus_from_table(table: SmiTable) -> tuple[GpuFacts, ...]:
    out = []
    for g in table.gpus:
        procs = tuple(ProcessFacts(p.pid, p.name, p.used_mib, p.type) for p in table.processes
                      if p.gpu_index == g.index)
        out.append(GpuFacts(
            index=g.index,
            name=g.name,
            pci_bus_id=g.bus_id,
            memory_total_mib=g.memory_total_mib,
            memory_used_mib=g.memory_used_mib,
            temperature_c=g.temperature_c,
            power_w=g.power_w,
            power_limit_w=g.power_limit_w,
            utilization_gpu_pct=g.utilization_gpu_pct,
            ecc_uncorrected=g.ecc_uncorrected,
            persistence_mode=g.persistence_mode,
            compute_mode=_SMI_COMPUTE_MODES.get(g.compute_mode or ""),
            # "Enabled*": the change waits for a GPU reset, so the mode in force is the other one
            mig_mode_current=(g.mig_mode.startswith("Enabled") != g.mig_mode.endswith("*")) if g.mig_mode else None,
            mig_mode_pending=g.mig_mode.startswith("Enabled") if g.mig_mode else None,
            # the table lists MIG devices for all GPUs together: "none found" is known for every MIG GPU
            mig_devices=0 if table.mig_devices_found is False and g.mig_mode else None,
            processes=procs,
            processes_listed=table.processes_listed,
        ))
    return tuple(out)


def record_problem(rec) -> str | None:
    """Why an NVML record cannot be used, or None when it can."""
    if rec is None:
        return "no NVML record"
    if not isinstance(rec, dict):
        return "the NVML record is not a JSON object"
    if rec.get("error") == "timeout":
        return str(rec.get("message") or "NVML did not answer in time")
    if rec.get("error"):
        return str(rec.get("message") or rec.get("error"))
    if not isinstance(rec.get("version"), int) or not isinstance(rec.get("init"), dict):
        return "the NVML record has no version/init fields"
    if rec["version"] > RECORD_VERSION:
        return f"the NVML record has version {rec['version']}; this tfdoctor reads versions 1 to {RECORD_VERSION}"
    return None


def facts_from_record(rec: dict) -> NvmlFacts:
    """Facts from a usable NVML record whose init succeeded."""
    gpus = tuple(_gpu_from_record(g, i) for i, g in enumerate(rec.get("gpus") or ()) if isinstance(g, dict))
    return NvmlFacts(
        source="nvml",
        init_ok=True,
        driver_version=_str(rec.get("driver_version")),
        cuda_driver_version=_str(rec.get("cuda_driver_version")),
        nvml_version=_str(rec.get("nvml_version")),
        gpus=gpus,
    )


def combine(rec, smi_result) -> NvmlFacts:
    """Facts from an NVML record that did not initialise (or is absent) and the nvidia-smi run that followed."""
    problem = record_problem(rec)
    timed_out = isinstance(rec, dict) and rec.get("error") == "timeout"
    init = rec.get("init") if problem is None else None
    nvml_error = _str(init.get("error")) if isinstance(init, dict) else ("timeout" if timed_out else None)
    nvml_message = _str(init.get("message")) if isinstance(init, dict) else None
    binding_missing = isinstance(init, dict) and init.get("binding_missing") is True

    rc = smi_result.rc
    out = (smi_result.stdout or "") + ("\n" + smi_result.stderr if smi_result.stderr else "")
    smi_timed_out = bool(smi_result.timed_out) or rc == 124
    table = parse_nvidia_smi_table(smi_result.stdout or "") if rc == 0 and not smi_timed_out else None
    if table is not None:
        kind, message = "ok", ""
    else:
        kind, message = classify_nvidia_smi_failure(rc, out, smi_timed_out)
        if kind == "ok":  # rc 0 but nothing we could read
            kind, message = "unknown", "nvidia-smi printed no table tfdoctor could read"
    common = dict(
        nvml_error=nvml_error,
        binding_missing=binding_missing,
        nvidia_smi_rc=rc,
        nvidia_smi_kind=kind,
        nvidia_smi_message=message or None,
        nvidia_smi_version=table.smi_version if table else None,
        record_problem=problem if problem not in (None, "no NVML record") or timed_out else None,
    )
    if table is not None:
        # nvidia-smi reached the driver through NVML, so the library works; only tfdoctor's own NVML access failed.
        return NvmlFacts(source="nvidia-smi", init_ok=True, driver_version=table.driver_version,
                         cuda_driver_version=table.cuda_version, gpus=_gpus_from_table(table),
                         init_message=nvml_message or "", timed_out=timed_out, **common)
    if timed_out or kind == "timeout":
        return NvmlFacts(source="none", init_ok=False, init_error="gpu-is-lost",
                         init_message=(nvml_message or problem or "") if timed_out else message,
                         timed_out=True, **common)
    if nvml_error and nvml_error not in ("library-not-found", "unknown") and nvml_error != "timeout":
        error, msg = nvml_error, nvml_message or message
    elif kind in _SPECIFIC:
        error, msg = kind, message
    elif kind == "not-installed":
        error, msg = (nvml_error or "library-not-found"), nvml_message or message
        if binding_missing:
            # Neither the Python binding nor nvidia-smi: nothing says whether the driver library exists.
            error = "library-not-found"
    else:
        error, msg = nvml_error or kind or "unknown", nvml_message or message
    source = "nvml" if isinstance(init, dict) and not binding_missing else (
        "nvidia-smi" if kind != "not-installed" else "none")
    return NvmlFacts(source=source, init_ok=False, init_error=error, init_message=msg or "", **common)


@probe("nvml", timeout=20, title="NVML (driver library)")
def probe_nvml(host, ctx) -> NvmlFacts:
    """Read the NVML record; when it is absent or NVML failed, read `nvidia-smi` as well."""
    try:
        rec = host.nvml(timeout=NVML_TIMEOUT)
    except SnapshotError:
        raise  # a damaged snapshot is the user's input error: one line, exit 2
    except Exception as exc:  # a crashed collector: facts, not a crash
        rec = {"error": "exception", "message": f"{type(exc).__name__}: {exc}"}
    if record_problem(rec) is None and rec["init"].get("ok") is True:
        return facts_from_record(rec)
    smi = host.run(["nvidia-smi"], timeout=SMI_TIMEOUT)
    if smi.rc == NOT_INSTALLED and (other := _other_smi_failure(host)) is not None:
        smi = other
    return combine(rec, smi)


def _other_smi_failure(host):
    """A snapshot without plain `nvidia-smi` but with another nvidia-smi command that failed (`nvidia-smi -L`,
    `nvidia-smi --query-gpu=...`, an exporter's `nvidia-smi --help-query-gpu`): NVML's failure is the same whatever
    the arguments, so that failure stands for it. Only a failure counts: another command's output is not the table."""
    keys = getattr(host, "command_keys", None)
    if keys is None:
        return None  # a live machine ran nvidia-smi itself
    for key in keys():
        if not key.removeprefix("sudo_").startswith("nvidia-smi_"):
            continue
        res = host.run(["nvidia-smi"], timeout=SMI_TIMEOUT, key=key)
        if res.rc in (0, NOT_INSTALLED) or res.timed_out:
            continue
        kind, _ = classify_nvidia_smi_failure(res.rc, (res.stdout or "") + "\n" + (res.stderr or ""), False)
        # (an unknown failure too, its exit status saying it failed: NVML's own 'Unknown Error' exits 255)
        if kind not in ("ok", "not-installed"):
            return res
    return None
