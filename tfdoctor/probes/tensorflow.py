"""TensorFlow, as seen from a child process: how the child ended, what it reported, and what its log says.

TensorFlow is never imported here. `host.tensorflow()` runs tfdoctor/child/tf_probe.py under the chosen interpreter
(or replays a snapshot's record, or only a snapshot's `tensorflow.log`); this module turns that record into facts.
Judging them is for checks/tensorflow.py and checks/compat.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from tfdoctor import textmatch
from tfdoctor.probes import probe
from tfdoctor.probes.cuda import facts_from_result
from tfdoctor.tflog import LogAnalysis, analyse_log

# How an `import tensorflow` failure reads, from the exception text (and the log, where NumPy prints its warning).
# Order matters: the first kind that matches wins.
_IMPORT_KINDS: tuple[tuple[str, textmatch.Pattern], ...] = (
    ("numpy-abi", textmatch.compile(
        r"numpy\.core\.multiarray failed to import|numpy\.core\._multiarray_umath failed to import|"
        r"_ARRAY_API not found|compiled using NumPy 1\.x cannot be run in\s+NumPy 2|"
        r"module compiled against (?:ABI|API) version \S+ but this version of numpy is")),
    # protobuf 4.21.0 printed it with a double negative, 'Descriptors cannot not be created directly' (tensorflow#56266)
    ("protobuf", textmatch.compile(r"Descriptors cannot (?:not )?be created directly")),
    # the other way round: protobuf 2's generated-code API, older than the protobuf 3 TensorFlow needs (tensorflow#49:
    # 'tensorflow requires protobuf 3')
    ("protobuf-old", textmatch.compile(r"__init__\(\) got an unexpected keyword argument '(syntax|serialized_options)'")),
    # the quotes are often lost on a forum (`version GLIBC_2.14 not found`)
    ("glibc", textmatch.compile(r"version [`']?(GLIBC_[\d.]+)'? not found")),
    ("glibcxx", textmatch.compile(r"version [`']?(GLIBCXX_[\d.]+|CXXABI_[\d.]+)'? not found")),
    ("cpu-instructions", textmatch.compile(r"compiled to use \S+ instructions, but these aren't available")),
    ("cuda-library", textmatch.compile(r"(lib(?:cuda|cudart|cublas|cudnn|cufft|cusolver|cusparse|curand)[\w.]*\.so[\d.]*): "
                                r"cannot open shared object file")),
    ("dll", textmatch.compile(r"DLL load failed")),
)
_NO_MODULE = textmatch.compile(r"No module named '([^']+)'")


@dataclass(frozen=True)
class ImportFailure:
    """Why `import tensorflow` failed: a kind, the one line to quote, and what the line names."""

    kind: str  # not-installed | missing-module | numpy-abi | protobuf | protobuf-old | glibc | glibcxx | cpu-instructions |
    #            cuda-library | dll | other
    exception: str  # "ImportError", "ModuleNotFoundError", "TypeError"...
    line: str
    detail: str | None = None  # the missing module, the GLIBC_2.xx symbol version, the library


@dataclass(frozen=True)
class BuildInfo:
    """`tf.sysconfig.get_build_info()` as reported by the child."""

    is_cuda_build: bool | None
    is_rocm_build: bool | None
    cuda_version: str | None
    cudnn_version: str | None
    compute_capabilities: tuple[str, ...]  # "sm_60", ..., "compute_90"


@dataclass(frozen=True)
class TfGpu:
    """A GPU TensorFlow listed, with what `get_device_details` said and whether a matmul ran on it."""

    name: str  # /physical_device:GPU:0
    device_name: str | None  # NVIDIA GeForce RTX 3090
    compute_capability: str | None  # "8.6"
    matmul_ok: bool | None
    matmul_error: str | None


@dataclass(frozen=True)
class LibraryAttempt:
    """The child's own attempt to load a library the build expects, by soname."""

    soname: str
    role: str
    loaded: bool
    path: str | None
    error: str | None
    source: str | None  # "system" (loader path) | "pip" (site-packages/nvidia/*/lib) | None


@dataclass(frozen=True)
class TensorFlowFacts:
    """Everything the TensorFlow child reported, how it ended, and what its log says."""

    source: str  # "child" | "log-only" (a snapshot with only tensorflow.log) | "none"
    python: str | None  # the interpreter that was asked for
    ended: str | None  # ok | exit | signal | timeout | not-found | garbage
    rc: int | None = None
    signal_name: str | None = None
    duration_s: float | None = None
    timeout_s: float | None = None
    step: str | None = None  # the last step the child started (import, devices, matmul...)
    stdout_excerpt: str | None = None
    log_tail: str = ""  # last lines of the log, to quote when the child died
    # the interpreter
    python_version: str | None = None
    python_executable: str | None = None
    virtualenv: bool | None = None
    virtual_env: str | None = None
    externally_managed: bool | None = None  # PEP 668 (None: not reported, e.g. an older snapshot)
    system: str | None = None
    machine: str | None = None
    libc_version: str | None = None
    distributions: tuple[tuple[str, str], ...] = ()
    # TensorFlow
    installed: bool | None = None  # None: unknown (the child died before saying)
    imported: bool | None = None
    import_failure: ImportFailure | None = None
    import_s: float | None = None
    version: str | None = None
    location: str | None = None
    build: BuildInfo | None = None
    physical_devices: tuple[str, ...] = ()
    gpus: tuple[TfGpu, ...] = ()
    devices_error: str | None = None
    cpu_matmul_ok: bool | None = None
    mapped_libraries: tuple[tuple[str, str], ...] = ()
    library_attempts: tuple[LibraryAttempt, ...] = ()
    pip_library_dirs: tuple[str, ...] = ()
    log: LogAnalysis = LogAnalysis()
    log_lines: tuple[str, ...] = ()  # the log itself, bounded (tfdoctor.evidence reads it)
    # from the cpu probe, so that a SIGILL can be explained with the CPU's flags
    cpu_flags: frozenset[str] | None = None
    cpu_model: str | None = None
    probe_error: str | None = None
    # what the CUDA driver API said from inside the TensorFlow process (tfdoctor.probes.cuda.CudaFacts)
    driver_api: object | None = None

    def distribution(self, name: str) -> str | None:
        """Installed version of a distribution (normalised name, e.g. 'tensorflow-cpu'), or None."""
        want = name.lower().replace("_", "-")
        return next((v for n, v in self.distributions if n == want), None)

    @property
    def tf_distribution(self) -> tuple[str, str] | None:
        """(name, version) of the installed TensorFlow distribution, the GPU-capable one first."""
        for name in ("tensorflow", "tensorflow-gpu", "tensorflow-cpu", "tf-nightly", "tensorflow-intel",
                     "tensorflow-macos", "tensorflow-aarch64", "intel-tensorflow"):
            v = self.distribution(name)
            if v:
                return name, v
        return None

    @property
    def tf_version(self) -> str | None:
        """The TensorFlow version from the import, else from the installed distribution, else from the log."""
        if self.version:
            return self.version
        dist = self.tf_distribution
        return dist[1] if dist else None


def classify_import_error(text: str | None, exception: str = "", module: str | None = None) -> ImportFailure:
    """Read an `import tensorflow` failure (message + traceback + log) into a kind and the line to quote."""
    text = text or ""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for kind, pattern in _IMPORT_KINDS:
        for ln in lines:
            m = pattern.search(ln)
            if m:
                return ImportFailure(kind, exception, ln[:500], m.group(1) if m.groups() else None)
    m = _NO_MODULE.search(text)
    missing = module or (m.group(1) if m else None)
    last = next((ln for ln in reversed(lines) if textmatch.match(r"^\w*(Error|Exception)\b", ln)), lines[-1] if lines else "")
    if exception == "ModuleNotFoundError" or m:
        if missing and missing.split(".")[0] == "tensorflow" and missing in ("tensorflow", "tensorflow.python"):
            return ImportFailure("not-installed", exception or "ModuleNotFoundError", last[:500], missing)
        return ImportFailure("missing-module", exception or "ModuleNotFoundError", last[:500], missing)
    return ImportFailure("other", exception, last[:500], None)


# An import that failed for a reason of the environment, read from a pasted traceback: the same kinds as the child's
# own import (a missing CUDA library is tf.cuda-libs' finding, read from the log's own lines)
_ENVIRONMENT_KINDS = ("numpy-abi", "protobuf", "protobuf-old", "glibc", "glibcxx")
_IMPORT_FAILED = textmatch.compile(r"^\s*(?:ImportError|ModuleNotFoundError|AttributeError|TypeError)\b|"
                                   r"Failed to load the native TensorFlow runtime|^Traceback \(most recent call last\)")


def _import_failure_in(log_lines: tuple[str, ...]) -> ImportFailure | None:
    from tfdoctor.evidence import normalise  # the lines as printed: no collector's stamp, no typographic quotes

    lines = [normalise(ln) for ln in log_lines[:5000]]
    if not any(_IMPORT_FAILED.search(ln) for ln in lines):
        return None
    failure = classify_import_error("\n".join(lines))
    return failure if failure.kind in _ENVIRONMENT_KINDS else None


def _str(v) -> str | None:
    return v if isinstance(v, str) and v else None


def _bool(v) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    return None


def _dict(v) -> dict:
    return v if isinstance(v, dict) else {}


def _list(v) -> list:
    return v if isinstance(v, list) else []


def _cc_text(v) -> str | None:
    """get_device_details gives (8, 6); make it "8.6"."""
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, int) for x in v):
        return f"{v[0]}.{v[1]}"
    if isinstance(v, str) and textmatch.fullmatch(r"\d+\.\d+", v):
        return v
    return None


def _bounded_lines(text: str, head: int = 20_000, tail: int = 5_000, width: int = 4096) -> tuple[str, ...]:
    """The log's lines, each cut at `width`; a longer log keeps its first `head` and last `tail` lines (devices are
    created at the start, the failure is at the end)."""
    lines = text.splitlines()
    if len(lines) > head + tail:
        lines = lines[:head] + lines[-tail:]
    return tuple(ln[:width] for ln in lines)


def facts_from_record(record: dict | None, python: str | None = None, cpu=None) -> TensorFlowFacts:
    """Turn the child record (live or replayed) into facts. Never raises on a malformed record."""
    cpu_flags = getattr(cpu, "flags", None) if getattr(cpu, "source", None) != "none" else None  # unread != empty
    cpu_flags = frozenset(cpu_flags) if cpu_flags is not None else None
    cpu_model = getattr(cpu, "model", None)
    if not isinstance(record, dict):
        return TensorFlowFacts("none", python, None, cpu_flags=cpu_flags, cpu_model=cpu_model,
                               probe_error="the TensorFlow probe returned nothing")
    log_text = record.get("log") if isinstance(record.get("log"), str) else ""
    log = analyse_log(log_text)
    log_lines = _bounded_lines(log_text)
    tail = "\n".join(log_text.strip().splitlines()[-15:])
    ended = _dict(record.get("ended"))
    if "error" in record and not ended:  # the host's own deadline or exception (tfdoctor.host._run_with_deadline)
        return TensorFlowFacts("none", python, None, probe_error=str(record.get("message") or record["error"]),
                               cpu_flags=cpu_flags, cpu_model=cpu_model)
    if record.get("log_only") or not ended:
        return TensorFlowFacts("log-only", python, None, log=log, log_tail=tail, cpu_flags=cpu_flags,
                               cpu_model=cpu_model, log_lines=log_lines, import_failure=_import_failure_in(log_lines))
    result = _dict(record.get("result"))
    early = _dict(record.get("early"))
    interp = _dict(result.get("interpreter")) or _dict(early.get("interpreter"))
    dists_raw = _dict(result.get("distributions")) or _dict(early.get("distributions"))
    dists = tuple(sorted((str(k).lower().replace("_", "-"), str(v)) for k, v in dists_raw.items()
                         if not str(k).startswith("__")))
    how = _str(ended.get("how"))
    common = dict(
        source="child", python=_str(ended.get("python")) or python, ended=how,
        rc=ended.get("rc") if isinstance(ended.get("rc"), int) else None,
        signal_name=_str(ended.get("signal_name")),
        duration_s=ended.get("duration_s") if isinstance(ended.get("duration_s"), (int, float)) else None,
        timeout_s=ended.get("timeout_s") if isinstance(ended.get("timeout_s"), (int, float)) else None,
        step=_str(result.get("step")) or _str(ended.get("step")),
        stdout_excerpt=_str(record.get("stdout")),
        log_tail=tail,
        python_version=_str(interp.get("version")),
        python_executable=_str(interp.get("executable")),
        virtualenv=_bool(interp.get("virtualenv")),
        virtual_env=_str(interp.get("virtual_env")) or _str(interp.get("conda_prefix")),
        externally_managed=_bool(interp.get("externally_managed")),
        system=_str(interp.get("system")),
        machine=_str(interp.get("machine")),
        libc_version=_str(interp.get("libc_version")),
        distributions=dists,
        log=log, log_lines=log_lines, cpu_flags=cpu_flags, cpu_model=cpu_model,
        probe_error=_str(result.get("probe_error")),
    )
    tf_dists = [n for n, _ in dists if n.startswith(("tensorflow", "tf-nightly", "intel-tensorflow"))]
    installed_guess = True if tf_dists else (False if dists_raw else None)
    imp = _dict(result.get("import"))
    if how in ("ok", "exit") and imp:
        if not imp.get("ok"):
            err = _dict(imp.get("error"))
            text = "\n".join(filter(None, [_str(err.get("message")), _str(err.get("traceback")), log_text[-20000:]]))
            failure = classify_import_error(text, _str(err.get("type")) or "", _str(err.get("module")))
            installed = failure.kind != "not-installed"
            return TensorFlowFacts(**common, installed=installed, imported=False, import_failure=failure,
                                   import_s=imp.get("duration_s"))
        return _imported_facts(common, result, imp)
    if how == "exit":
        # the child itself failed before reporting (an interpreter too old for the script, a broken site)
        failure = classify_import_error(log_text[-20000:], "")
        return TensorFlowFacts(**common, installed=installed_guess, imported=False if installed_guess else None,
                               import_failure=failure if installed_guess else None)
    if how == "signal" and common["step"] in (None, "import"):
        # died inside `import tensorflow`: the import failed, though TensorFlow is installed
        return TensorFlowFacts(**common, installed=True if installed_guess is None else installed_guess,
                               imported=False)
    return TensorFlowFacts(**common, installed=installed_guess,
                           imported=True if common["step"] not in (None, "import") else None)


def _imported_facts(common: dict, result: dict, imp: dict) -> TensorFlowFacts:
    tf_info = _dict(result.get("tensorflow"))
    b = _dict(result.get("build_info"))
    build = None
    if b and "error" not in b:
        cuda = b.get("cuda_version")
        cudnn = b.get("cudnn_version")
        build = BuildInfo(
            is_cuda_build=_bool(b.get("is_cuda_build")),
            is_rocm_build=_bool(b.get("is_rocm_build")),
            cuda_version=str(cuda) if cuda not in (None, "") else None,
            cudnn_version=str(cudnn) if cudnn not in (None, "") else None,
            compute_capabilities=tuple(str(x) for x in _list(b.get("cuda_compute_capabilities"))),
        )
    devices = _dict(result.get("devices"))
    physical = tuple(str(_dict(d).get("name", "")).replace("/physical_device:", "")
                     for d in _list(devices.get("physical")))
    matmuls = [_dict(m) for m in _list(result.get("matmul"))]
    gpus = []
    for i, det in enumerate(_dict(d) for d in _list(devices.get("gpu_details"))):
        name = _str(det.get("name")) or f"/physical_device:GPU:{i}"
        suffix = "GPU:" + name.rsplit("GPU:", 1)[-1]
        mm = next((m for m in matmuls if str(m.get("device", "")).endswith(suffix)), None)
        gpus.append(TfGpu(
            name=name,
            device_name=_str(det.get("device_name")),
            compute_capability=_cc_text(det.get("compute_capability")),
            matmul_ok=bool(mm.get("ok")) if mm else None,
            matmul_error=_str(mm.get("error")) if mm else None,
        ))
    cpu_mm = next((m for m in matmuls if str(m.get("device", "")).endswith("CPU:0")), None)
    attempts_rec = _dict(result.get("library_attempts"))
    attempts = tuple(
        LibraryAttempt(
            soname=str(a.get("soname")), role=str(a.get("role") or ""), loaded=bool(a.get("loaded")),
            path=_str(a.get("path")), error=_str(a.get("error")), source=_str(a.get("from")),
        )
        for a in (_dict(x) for x in _list(attempts_rec.get("attempts"))) if a.get("soname")
    )
    mapped = tuple(sorted((str(k), str(v)) for k, v in _dict(result.get("mapped_libraries")).items()))
    return TensorFlowFacts(
        **common,
        installed=True,
        imported=True,
        import_s=imp.get("duration_s") if isinstance(imp.get("duration_s"), (int, float)) else None,
        version=_str(tf_info.get("version")),
        location=_str(tf_info.get("location")),
        build=build,
        physical_devices=physical,
        gpus=tuple(gpus),
        devices_error=_str(devices.get("error")),
        cpu_matmul_ok=bool(cpu_mm.get("ok")) if cpu_mm else None,
        mapped_libraries=mapped,
        library_attempts=attempts,
        pip_library_dirs=tuple(str(p) for p in _list(attempts_rec.get("pip_dirs"))),
        driver_api=facts_from_result(result["driver_api"], "tensorflow")
        if isinstance(result.get("driver_api"), dict) else None,
    )


# What the child is doing at each of its steps (child/tf_probe.py `mark`), for a person watching it.
STEP_TEXT = {
    "import": "importing TensorFlow with {python}",
    "build_info": "reading TensorFlow's build info",
    "devices": "listing devices (CUDA initialises here)",
    "matmul": "running a small matmul on each device",
    "libraries": "loading the CUDA libraries the build expects",
}


def _shown_path(path: str) -> str:
    """An interpreter's path as the progress line shows it: the home folder as ~, nothing unprintable, bounded."""
    import os

    home = os.path.expanduser("~")
    if home not in ("", "/", "~") and (path == home or path.startswith(home + "/")):
        path = "~" + path[len(home):]
    return "".join(c if c.isprintable() else "?" for c in path)[:200]


def step_text(mark: dict, python: str) -> str | None:
    """The progress line for one of the child's step marks, or None for a mark that names no step we know."""
    step = mark.get("step")
    text = STEP_TEXT.get(step) if isinstance(step, str) else None
    if text is None:
        return None
    interp = mark.get("interpreter")
    exe = interp.get("executable") if isinstance(interp, dict) else None
    return text.format(python=_shown_path(exe if isinstance(exe, str) and exe else python))


@probe("tensorflow", needs=("cpu",), timeout=105.0, title="TensorFlow (child process)")
def tensorflow_probe(host, ctx) -> TensorFlowFacts:
    """Run (or replay) the TensorFlow child and read its record and log."""
    python = ctx.options.python
    on_step = None
    if ctx.step is not None:
        import sys

        shown = python or sys.executable
        ctx.step(f"starting {_shown_path(shown)}")

        def on_step(mark: dict) -> None:
            text = step_text(mark, shown)
            if text:
                ctx.step(text)

    record = host.tensorflow(python, ctx.options.tf_timeout, on_step=on_step) if on_step else \
        host.tensorflow(python, ctx.options.tf_timeout)
    return facts_from_record(record, python, ctx.facts.get("cpu"))
