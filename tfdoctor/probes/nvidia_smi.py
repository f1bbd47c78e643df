"""Parsers for plain `nvidia-smi` output: the table, and the messages it prints when it fails.

Used when NVML cannot be loaded in this process, and in replay when a snapshot has no NVML record. Both functions
take text and never raise. The table's layout changed over the years (418: two-line GPU rows and a 3-column process
table; 470: a MIG row and GI/CI columns; 535/550: wider columns; 580: `+---` under the header; 610: "KMD Version" and
"CUDA UMD Version"), so rows are read by cell content, not by column position.
"""

from __future__ import annotations

from dataclasses import dataclass

from tfdoctor import textmatch

# Messages, most specific first. Each: (kind, regex).
_MESSAGES = (
    ("lib-rm-version-mismatch", textmatch.compile(r"Driver/library version mismatch", textmatch.IGNORECASE)),
    ("library-not-found", textmatch.compile(r"couldn't find libnvidia-ml\.so|libnvidia-ml\.so[.\d]*: cannot open", textmatch.IGNORECASE)),
    ("driver-not-loaded", textmatch.compile(r"couldn.t communicate with the NVIDIA driver", textmatch.IGNORECASE)),
    ("gpu-is-lost", textmatch.compile(r"GPU is lost|fallen off the bus|Unable to determine the device handle", textmatch.IGNORECASE)),
    ("no-permission", textmatch.compile(r"Insufficient Permissions|Permission denied", textmatch.IGNORECASE)),
    ("no-devices", textmatch.compile(r"No devices were found", textmatch.IGNORECASE)),
    # WSL2 (or a Hyper-V GPU-P guest): the Windows host did not give this guest the GPU (microsoft/WSL#9938, #12859)
    ("blocked-by-os", textmatch.compile(r"GPU access blocked by the operating system", textmatch.IGNORECASE)),
    ("not-installed", textmatch.compile(r"command not found|No such file or directory", textmatch.IGNORECASE)),
)

_NVML_LIBRARY_VERSION = textmatch.compile(r"NVML library version:\s*([\w.]+)")


@dataclass(frozen=True)
class SmiProcess:
    """One row of the table's process list."""

    gpu_index: int
    pid: int
    type: str
    name: str
    used_mib: int | None


@dataclass(frozen=True)
class SmiGpu:
    """One GPU block of the table. Names longer than the column end in '...' (truncated by nvidia-smi)."""

    index: int
    name: str
    persistence_mode: bool | None
    bus_id: str | None
    ecc_uncorrected: int | None
    fan_pct: int | None = None
    temperature_c: int | None = None
    perf_state: str | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    memory_used_mib: int | None = None
    memory_total_mib: int | None = None
    utilization_gpu_pct: int | None = None
    compute_mode: str | None = None
    mig_mode: str | None = None  # the third row's "MIG M." cell: Enabled | Disabled (a * marks a pending change)


@dataclass(frozen=True)
class SmiTable:
    """What the plain `nvidia-smi` table says."""

    smi_version: str | None
    driver_version: str | None
    cuda_version: str | None
    gpus: tuple[SmiGpu, ...]
    processes: tuple[SmiProcess, ...]
    processes_listed: bool  # the process section was present (an empty tuple then means "none running")
    mig_devices_found: bool | None = None  # the "MIG devices:" section: False when it says "No MIG devices found"


_HEADER_SMI = textmatch.compile(r"NVIDIA-SMI\s+(\d[\w.]*)")
_HEADER_DRIVER = textmatch.compile(r"(?:Driver|KMD) Version:\s*([\w.]+)")
_HEADER_CUDA = textmatch.compile(r"CUDA (?:UMD )?Version:\s*([\w./]+)")
_GPU_FIRST = textmatch.compile(r"^\s*(\d+)\s+(.*?)\s+(On|Off|N/A|WDDM|TCC)\s*$")
_BUS_ID = textmatch.compile(r"([0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-9A-Fa-f])")
_GPU_SECOND = textmatch.compile(r"^\s*(\S+)\s+(\d+C|N/A)\s+(P\d+|N/A)\s+(.*?)\s*/\s*(\S+)\s*$")
_MEMORY = textmatch.compile(r"(\d+)MiB\s*/\s*(\d+)MiB")
# the compute mode: Default, Prohibited, and the two-word "E. Process" / "E. Thread"
_UTIL = textmatch.compile(r"^\s*(\d+%|N/A)\s+(E\. (?:Process|Thread)|\S+)?")
_PROCESS = textmatch.compile(
    r"^\|\s*(\d+)\s+(?:(N/A|\d+)\s+(N/A|\d+)\s+)?(\d+)\s+([A-Z+]+)\s+(.+?)\s+(\d+MiB|N/A)\s*\|?\s*$"
)


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    m = textmatch.match(r"\s*(\d+)", text)
    return int(m.group(1)) if m else None


def _watts(text: str | None) -> float | None:
    if text is None:
        return None
    m = textmatch.match(r"\s*(\d+(?:\.\d+)?)\s*W", text)
    return float(m.group(1)) if m else None


def _cells(line: str) -> list[str]:
    return line.strip().strip("|").split("|")


def parse_nvidia_smi_table(text: str) -> SmiTable | None:
    """Parse the plain `nvidia-smi` table; None when the text holds no table (an error message, say)."""
    if not isinstance(text, str):
        return None
    lines = text.splitlines()
    smi_version = driver = cuda = None
    for line in lines:
        if "NVIDIA-SMI" in line and ("Version" in line):
            m = _HEADER_SMI.search(line)
            smi_version = m.group(1) if m else None
            m = _HEADER_DRIVER.search(line)
            driver = m.group(1) if m else None
            m = _HEADER_CUDA.search(line)
            cuda = m.group(1) if m and m.group(1) != "N/A" else None
            break
    gpus: list[SmiGpu] = []
    processes: list[SmiProcess] = []
    processes_listed = False
    mig_from_ecc = False  # the pending GPU's MIG mode was read from its ECC cell, not its MIG M. cell
    in_processes = False
    in_mig = False
    mig_found: bool | None = None
    pending: dict | None = None

    def flush():
        nonlocal pending
        if pending is not None:
            gpus.append(SmiGpu(**pending))
            pending = None

    for line in lines:
        stripped = line.strip()
        if "NVIDIA-SMI" in stripped and "Version" in stripped:
            # a new table's header ends the previous output's sections (two outputs pasted one after the other, or a
            # paste that begins with the tail of an earlier one)
            flush()
            in_processes = in_mig = False
            continue
        if "MIG devices:" in stripped:
            flush()
            in_mig, mig_found = True, None
            continue
        if in_mig and "Processes:" not in stripped:
            if "No MIG devices found" in stripped:
                mig_found = False
            elif textmatch.match(r"^\|\s*\d+\s+\d+\s+\d+\s+\d+\s+\|", stripped):  # | GPU GI CI MIG-dev | a MIG device
                mig_found = True
            continue
        if "Processes:" in stripped:
            flush()
            in_mig = False
            in_processes = True
            processes_listed = True
            continue
        if in_processes:
            m = _PROCESS.match(stripped)
            if m:
                used = m.group(7)
                processes.append(SmiProcess(int(m.group(1)), int(m.group(4)), m.group(5), m.group(6).strip(),
                                            _int(used) if used != "N/A" else None))
            continue
        if not stripped.startswith("|"):
            continue
        cells = _cells(stripped)
        if len(cells) < 2:
            continue
        first = _GPU_FIRST.match(cells[0])
        bus = _BUS_ID.search(cells[1])
        if first and bus:
            # a paste cut after the bus id still names the GPU: its third cell is then unknown, not absent
            flush()
            pm = first.group(3)
            ecc = cells[2].strip() if len(cells) > 2 else ""
            pending = {
                "index": int(first.group(1)),
                "name": first.group(2).strip(),
                "persistence_mode": {"On": True, "Off": False}.get(pm),
                "bus_id": bus.group(1),
                "ecc_uncorrected": int(ecc) if ecc.isdigit() else None,
            }
            # with MIG enabled the Volatile Uncorr. ECC cell reads `On` instead of a count (the GPU's MIG M. cell, two
            # rows down, then reads Enabled): the mode in force, when a paste is cut before that row
            mig_from_ecc = ecc == "On"
            if mig_from_ecc:
                pending["mig_mode"] = "Enabled"
            continue
        if len(cells) < 3:
            continue
        second = _GPU_SECOND.match(cells[0])
        memory = _MEMORY.search(cells[1])
        if pending is not None and second and memory and "memory_total_mib" not in pending:
            fan, temp, perf, usage, cap = second.groups()
            util = _UTIL.match(cells[2])
            pending.update(
                fan_pct=_int(fan) if fan.endswith("%") else None,
                temperature_c=_int(temp),
                perf_state=perf if perf != "N/A" else None,
                power_w=_watts(usage),
                power_limit_w=_watts(cap),
                memory_used_mib=int(memory.group(1)),
                memory_total_mib=int(memory.group(2)),
                utilization_gpu_pct=_int(util.group(1)) if util else None,
                compute_mode=util.group(2) if util and util.group(2) else None,
            )
            continue
        mig_cell = cells[2].strip()
        if pending is not None and "memory_total_mib" in pending and ("mig_mode" not in pending or mig_from_ecc) \
                and textmatch.fullmatch(r"(?:Enabled|Disabled)\*?", mig_cell):
            pending["mig_mode"], mig_from_ecc = mig_cell, False
    flush()
    if smi_version is None and driver is None and not gpus:
        return None
    return SmiTable(smi_version, driver, cuda, tuple(gpus), tuple(processes), processes_listed, mig_found)


def nvml_library_version(text: str) -> str | None:
    """The "NVML library version: 570.124" that newer drivers print after a version mismatch."""
    m = _NVML_LIBRARY_VERSION.search(text or "") if isinstance(text, str) else None
    return m.group(1) if m else None


def exit_code_meaning(rc: int | None) -> tuple[str, str] | None:
    """(kind, description) for an nvidia-smi exit status, from the knowledge base (sourced: LBNL NHC's table of
    nvidia-smi(1)'s return values); None when it has no documented meaning."""
    if rc is None:
        return None
    from tfdoctor.knowledge import loader as kb

    return kb.nvidia_smi_exit_kind(rc)


# the shell saying it found no nvidia-smi: bash, zsh, Ubuntu's command-not-found handler
_SHELL_NOT_FOUND = textmatch.compile(r"\bnvidia-smi: (?:command )?not found|^Command 'nvidia-smi' not found|"
                                     r"command not found: nvidia-smi|\bnvidia-smi: No such file or directory")


def classify_nvidia_smi_failure(rc: int | None, text: str, timed_out: bool = False) -> tuple[str, str]:
    """Why `nvidia-smi` failed, from its exit status and output: (kind, one-line message).

    Kinds: ok, timeout, not-installed, driver-not-loaded, lib-rm-version-mismatch, library-not-found, gpu-is-lost,
    no-permission, no-devices, blocked-by-os, insufficient-power, irq-issue, corrupted-inforom, function-not-found, killed, unknown.
    """
    text = text if isinstance(text, str) else ""
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if timed_out or rc == 124:
        return ("timeout", "nvidia-smi did not answer in time (a GPU that fell off the bus often hangs it)")
    if rc == 0 and parse_nvidia_smi_table(text) is not None:
        return ("ok", "")
    if (rc == 127 or _SHELL_NOT_FOUND.search(first)) and not parse_nvidia_smi_table(text):
        # the shell's own words say so whatever status a paste shows (bash, zsh, Ubuntu's command-not-found)
        return ("not-installed", "nvidia-smi is not installed (it ships with the NVIDIA driver's utilities)")
    for kind, pattern in _MESSAGES:
        m = pattern.search(text)
        if m:
            line = next((ln.strip() for ln in text.splitlines() if pattern.search(ln)), first)
            lib = nvml_library_version(text)
            if kind == "lib-rm-version-mismatch" and lib and lib not in line:
                line = f"{line} (NVML library version: {lib})"
            return (kind, line)
    meaning = exit_code_meaning(rc)
    if rc == 0:
        return ("ok", "")
    if meaning is not None:
        kind, description = meaning
        return (kind, f"nvidia-smi exited {rc}: {description}" + (f" ({first})" if first else ""))
    return ("unknown", f"nvidia-smi exited {rc}" + (f": {first}" if first else ""))


# -- nvidia-smi -q (its memory-error sections) ---------------------------------------------------------------------

_QUERY_GPU = textmatch.compile(r"^GPU (?P<bus>[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-9A-Fa-f])\s*$")
_QUERY_FIELD = textmatch.compile(r"^(?P<indent>[ \t]*)(?P<key>[A-Za-z][\w ./()-]{0,60}?)\s*:\s*(?P<value>\S.{0,80}?)\s*$")
_QUERY_SECTION = textmatch.compile(r"^(?P<indent>[ \t]*)(?P<key>[A-Za-z][\w ./()-]{0,60}?)\s*$")
QUERY_LINES_MAX = 20_000


@dataclass(frozen=True)
class QueryGpu:
    """One GPU's memory-error state as `nvidia-smi -q` prints it (None where its output did not say)."""

    bus_id: str | None = None
    name: str | None = None
    ecc_uncorrected: int | None = None  # volatile: since the driver loaded
    ecc_aggregate_uncorrected: int | None = None
    remapped_rows_correctable: int | None = None
    remapped_rows_uncorrectable: int | None = None
    remapped_rows_pending: bool | None = None
    remapped_rows_failure: bool | None = None
    retired_pages_pending: bool | None = None
    lines: tuple = ()  # (line number, line) of each reading that shows a problem: the finding's evidence
    index: int | None = None  # its place in an output that lists every attached GPU (set by the sources probe)
    # the retired-page counts NVML's record has; not read from `nvidia-smi -q`, so the two records read alike
    retired_pages_single_bit: int | None = None
    retired_pages_double_bit: int | None = None


def _query_int(v: str) -> int | None:
    return int(v) if v.isdigit() else None


def _query_bool(v: str) -> bool | None:
    return {"yes": True, "no": False}.get(v.strip().lower())


def query_attached_gpus(text: str) -> int | None:
    """`Attached GPUs : N` of an `nvidia-smi -q` output: how many GPU blocks the whole output has."""
    for raw in (text or "").splitlines()[:QUERY_LINES_MAX]:
        f = _QUERY_FIELD.match(raw.rstrip())
        if f is not None and not f.group("indent") and f.group("key").strip().lower() == "attached gpus":
            return _query_int(f.group("value"))
    return None


def parse_nvidia_smi_query(text: str) -> list[QueryGpu]:
    """The memory-error sections of `nvidia-smi -q` (or `-q -d ECC,ROW_REMAPPER,PAGE_RETIREMENT`), per GPU: the
    uncorrectable ECC counts (Volatile: since the driver loaded; Aggregate: over the board's life; SRAM and DRAM, or
    the older Single/Double Bit and Total rows), the row remapper (Ampere and later) and pending page retirement.
    Sections are told apart by indentation, as nvidia-smi prints them; a paste of one GPU's block without its `GPU
    <bus id>` header counts as one GPU. Bounded: the first QUERY_LINES_MAX lines."""
    gpus: list[dict] = []
    cur: dict | None = None
    path: list[tuple[int, str]] = []
    for no, raw in enumerate((text or "").splitlines()[:QUERY_LINES_MAX], 1):
        line = raw.rstrip()
        if not line.strip():
            continue
        m = _QUERY_GPU.match(line)
        if m is not None:
            cur = {"bus_id": m.group("bus")}
            gpus.append(cur)
            path = []
            continue
        f = _QUERY_FIELD.match(line)
        s = None if f is not None else _QUERY_SECTION.match(line)
        hit = f or s
        if hit is None:
            continue
        indent = len(hit.group("indent").expandtabs(4))
        key = hit.group("key").strip().lower()
        while path and path[-1][0] >= indent:
            path.pop()
        if s is not None:
            path.append((indent, key))
            continue
        sections = [k for _, k in path]
        value = f.group("value")
        if cur is None and (key in ("product name",) or "ecc errors" in sections or "remapped rows" in sections
                            or "retired pages" in sections):
            cur = {}
            gpus.append(cur)
        if cur is None:
            continue
        bad = False
        if key == "product name" and not sections:
            cur["name"] = value
        elif "ecc errors" in sections and ("volatile" in sections or "aggregate" in sections):
            # "DRAM Uncorrectable", "SRAM Uncorrectable" (Ampere+), "Double Bit ... Total" (older boards)
            n = _query_int(value)
            if n is None or not ("uncorrectable" in key or ("double bit" in sections and key == "total")):
                continue
            field = "ecc_uncorrected" if "volatile" in sections else "ecc_aggregate_uncorrected"
            cur[field] = cur.get(field, 0) + n
            bad = n > 0
        elif "remapped rows" in sections:
            if key == "correctable error":
                cur["remapped_rows_correctable"] = _query_int(value)
            elif key == "uncorrectable error":
                cur["remapped_rows_uncorrectable"] = _query_int(value)
            elif key == "pending":
                cur["remapped_rows_pending"] = _query_bool(value)
            elif key == "remapping failure occurred":
                cur["remapped_rows_failure"] = _query_bool(value)
            bad = _query_bool(value) is True
        elif "retired pages" in sections and key in ("pending page blacklist", "pending page retirement"):
            cur["retired_pages_pending"] = _query_bool(value)
            bad = _query_bool(value) is True
        if bad:
            cur.setdefault("lines", ())
            cur["lines"] = cur["lines"] + ((no, line.strip()),)
    return [QueryGpu(**g) for g in gpus if len(g) > (1 if "bus_id" in g else 0)]
