"""Read a TensorFlow log: which known messages it holds, and what they say (missing libraries, cuInit's error,
compute capabilities, cuDNN versions).

The table of known messages is data in the knowledge base (`knowledge.log_messages()`, each with its TensorFlow
source); this module only applies it line by line and pulls the variable parts out. It works on a log alone, so a
snapshot holding nothing but the `tensorflow.log` a user pasted into an issue still gets its findings.
Never raises on any text.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from tfdoctor import textmatch

MAX_LINES = 200_000
MAX_LINE = 20_000

# Variable parts of known messages, by what they name (not by message kind: several kinds name a library).
# every release's wording of "this library could not be loaded": 2.x, 0.x-1.x, and a 1.x wheel's import failure
_DSO_FAILED = textmatch.compile(r"Could not load dynamic library '([^']+)'|Couldn't open CUDA library "
                                r"(lib[A-Za-z0-9_]+\.so(?:\.[0-9]+)*)\.? LD_LIBRARY_PATH|ImportError: "
                                r"(lib[A-Za-z0-9_]+\.so(?:\.[0-9]+)*): cannot open shared object file")
_DSO_OK = textmatch.compile(r"Successfully opened (?:dynamic|CUDA) library (\S+)")
_CUINIT = textmatch.compile(r"failed call to cuInit:\s*(.*)$")
_CUDA_ERR_NAME = textmatch.compile(r"\b(CUDA_ERROR_[A-Z_]+)\b")
_CUDA_ERR_CODE = textmatch.compile(r"\((-?\d{1,4})\)\s*$")
_CC = textmatch.compile(r"compute capability[: ]+(\d+\.\d+)")
_MIN_CC = textmatch.compile(r"minimum required Cuda capability is (\d+\.\d+)")
_CUDNN_MISMATCH = textmatch.compile(r"Loaded runtime CuDNN library: (\d+(?:\.\d+)*) but source was compiled with: (\d+(?:\.\d+)*)")
_CPU_MISSING = textmatch.compile(r"compiled to use (\S+) instructions, but these aren't available")
_DEVICE_NAME = textmatch.compile(r"name: ([^,]+), pci bus id")


@dataclass(frozen=True)
class LogMatch:
    """One log line that matched a known message."""

    kind: str
    line_no: int  # 1-based
    line: str
    severity: str = ""  # the knowledge base's hint: info / warn / error / fatal
    groups: tuple[tuple[str, str], ...] = ()

    def group(self, name: str) -> str | None:
        return next((v for k, v in self.groups if k == name), None)


@dataclass(frozen=True)
class LogAnalysis:
    """What a TensorFlow log says, read line by line against the known messages."""

    matches: tuple[LogMatch, ...] = ()
    missing_libraries: tuple[str, ...] = ()  # sonames from "Could not load dynamic library"
    loaded_libraries: tuple[str, ...] = ()  # sonames from "Successfully opened dynamic library"
    cuda_error: str | None = None  # the token after "failed call to cuInit:", e.g. CUDA_ERROR_NO_DEVICE
    cuda_error_code: int | None = None  # 303 for "UNKNOWN ERROR (303)"
    compute_capabilities: tuple[str, ...] = ()  # CCs the log mentions (device created, no kernels, ignored)
    min_required_cc: str | None = None
    cudnn_loaded: str | None = None
    cudnn_compiled: str | None = None
    cpu_missing_instructions: tuple[str, ...] = ()
    gpu_names: tuple[str, ...] = ()
    lines: int = 0
    table_error: str | None = None  # the knowledge base's message table could not be read

    @property
    def kinds(self) -> tuple[str, ...]:
        """Message kinds found, each once, in order of first appearance."""
        return tuple(dict.fromkeys(m.kind for m in self.matches))

    def has(self, kind: str) -> bool:
        return any(m.kind == kind for m in self.matches)

    def first(self, kind: str) -> LogMatch | None:
        return next((m for m in self.matches if m.kind == kind), None)


_EXTRAS = (_DSO_FAILED, _DSO_OK, _CUINIT, _CC, _MIN_CC, _DEVICE_NAME, _CUDNN_MISMATCH, _CPU_MISSING)


@lru_cache(maxsize=1)
def _extras_set() -> textmatch.PatternSet:
    return textmatch.PatternSet(_EXTRAS)


@lru_cache(maxsize=1)
def _table_set() -> textmatch.PatternSet:
    return textmatch.PatternSet([pattern for _, pattern, _ in _table()])


@lru_cache(maxsize=1)
def _table() -> tuple[tuple[str, textmatch.Pattern, str], ...]:
    """(kind, compiled pattern, severity hint) for every known message in the knowledge base."""
    from tfdoctor.knowledge import loader as kb

    out = []
    for msg in kb.log_messages():
        out.append((msg.kind, msg.pattern, getattr(msg, "severity_hint", "") or ""))
    return tuple(out)


def analyse_log(text: str | None) -> LogAnalysis:
    """Match every line of a TensorFlow log against the known messages; never raises."""
    if not text:
        return LogAnalysis()
    try:
        table = _table()
    except Exception as exc:  # the knowledge base is broken or missing: say so, match nothing
        return LogAnalysis(lines=text.count("\n") + 1, table_error=f"{type(exc).__name__}: {exc}")
    matches: list[LogMatch] = []
    missing: dict[str, None] = {}
    loaded: dict[str, None] = {}
    ccs: dict[str, None] = {}
    names: dict[str, None] = {}
    cpu_missing: dict[str, None] = {}
    cuda_error = None
    cuda_code = None
    min_cc_value = None
    cudnn_loaded = cudnn_compiled = None
    lines = text.splitlines()[:MAX_LINES]
    capped = [raw[:MAX_LINE] for raw in lines]
    # RE2::Set names the messages (and the variable parts) that can match each line: only those are tried on it
    # (identical results; a megabyte of log is thousands of lines, and most patterns match none of them)
    extras_of = _extras_set().each_line(capped)
    for no, (line, idx) in enumerate(_table_set().each_line(capped), 1):
        _, parts = next(extras_of)
        dso_failed, dso_ok, cuinit, cc, min_cc, device_name, cudnn_mismatch, cpu_missing_p = (
            i in parts for i in range(len(_EXTRAS)))
        for kind, pattern, severity in (table[i] for i in idx):
            m = pattern.search(line)
            if not m:
                continue
            groups = {k: v for k, v in m.groupdict().items() if isinstance(v, str)}
            for k, v in (_extract(line) if parts else {}).items():
                groups.setdefault(k, v)
            matches.append(LogMatch(kind, no, line.strip(), severity, tuple(sorted(groups.items()))))
        # What the line names, whatever kind the table gave it: the table says which message it is, these say
        # which library, which error, which card.
        if dso_failed and (lib := _DSO_FAILED.search(line)) is not None:
            missing.setdefault(lib.group(1) or lib.group(2) or lib.group(3))
        if dso_ok and (lib := _DSO_OK.search(line)) is not None:
            loaded.setdefault(lib.group(1))
        if cuinit and cuda_error is None and (c := _CUINIT.search(line)) is not None:
            cuda_error, cuda_code = _cuda_error(c.group(1))
        for found_cc in (_CC.findall(line) if cc else ()):
            ccs.setdefault(found_cc)
        if min_cc and (mc := _MIN_CC.search(line)) is not None:
            min_cc_value = mc.group(1)
        if device_name and (dn := _DEVICE_NAME.search(line)) is not None:
            names.setdefault(dn.group(1).strip())
        if cudnn_mismatch and cudnn_loaded is None and (cm := _CUDNN_MISMATCH.search(line)) is not None:
            cudnn_loaded, cudnn_compiled = cm.group(1), cm.group(2)
        if cpu_missing_p and (cpu := _CPU_MISSING.search(line)) is not None:
            cpu_missing.setdefault(cpu.group(1))
    return LogAnalysis(
        matches=tuple(matches),
        missing_libraries=tuple(missing),
        loaded_libraries=tuple(loaded),
        cuda_error=cuda_error,
        cuda_error_code=cuda_code,
        compute_capabilities=tuple(ccs),
        min_required_cc=min_cc_value,
        cudnn_loaded=cudnn_loaded,
        cudnn_compiled=cudnn_compiled,
        cpu_missing_instructions=tuple(cpu_missing),
        gpu_names=tuple(names),
        lines=len(lines),
    )


def _extract(line: str) -> dict[str, str]:
    """Named values a matched line carries (library, cuda_error, compute_capability...)."""
    out: dict[str, str] = {}
    if (m := _DSO_FAILED.search(line)) or (m := _DSO_OK.search(line)):
        out["library"] = next(g for g in m.groups() if g)
    if (m := _CUINIT.search(line)) is not None:
        token, code = _cuda_error(m.group(1))
        if token:
            out["cuda_error"] = token
        if code is not None:
            out["cuda_error_code"] = str(code)
    if (m := _CC.search(line)) is not None:
        out["compute_capability"] = m.group(1)
    if (m := _MIN_CC.search(line)) is not None:
        out["min_compute_capability"] = m.group(1)
    if (m := _CUDNN_MISMATCH.search(line)) is not None:
        out["cudnn_loaded"], out["cudnn_compiled"] = m.group(1), m.group(2)
    if (m := _CPU_MISSING.search(line)) is not None:
        out["instructions"] = m.group(1)
    return out


def _cuda_error(rest: str) -> tuple[str | None, int | None]:
    """The error token after "failed call to cuInit:" as the fixtures spell it, and its numeric code if printed.

    Old TF: "CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected"; new TF:
    "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)".
    """
    rest = rest.strip()
    code = None
    if (m := _CUDA_ERR_CODE.search(rest)) is not None:
        code = int(m.group(1))
    if (m := _CUDA_ERR_NAME.search(rest)) is not None:
        return m.group(1), code
    tail = rest.rsplit("cuInit:", 1)[-1].strip()
    return (tail or None), code
