"""Read a TensorFlow log: which known messages it holds, and what they say (missing libraries, cuInit's error,
compute capabilities, cuDNN versions).

The messages are the evidence layer's catalogue (tfdoctor/knowledge/messages.json, source kind `tensorflow`): this
module only reads the named parts of the lines that matched, so that every release's wording of a message (TensorFlow
0.x's `Ignoring gpu device (...)` and 1.x's `Ignoring visible gpu device (...)`, `Could not dlopen library` and `Could
not load dynamic library`) gives the same facts. It works on a log alone, so a snapshot holding nothing but the
`tensorflow.log` a user pasted into an issue still gets its findings. Never raises on any text.
"""

from __future__ import annotations

from dataclasses import dataclass

from tfdoctor import textmatch

MAX_LINES = 200_000

_CUDA_ERR_NAME = textmatch.compile(r"\b(CUDA_ERROR_[A-Z_]+)\b")
_DEVICE_NAME = textmatch.compile(r"name: ([^,()]+)")


@dataclass(frozen=True)
class LogMatch:
    """One log line that matched a known message."""

    kind: str
    line_no: int  # 1-based
    line: str
    severity: str = ""  # the catalogue's hint: info / problem ...
    groups: tuple[tuple[str, str], ...] = ()
    claims: tuple[tuple[str, object], ...] = ()

    def group(self, name: str) -> str | None:
        return next((v for k, v in self.groups if k == name), None)

    def claim(self, question: str):
        return next((v for q, v in self.claims if q == question), None)


def is_optional_library(soname: str) -> bool:
    """TensorRT's libraries (libnvinfer.so.N, libnvinfer_plugin.so.N): TensorFlow runs on the GPU without them."""
    return soname.startswith("libnvinfer")


@dataclass(frozen=True)
class LogAnalysis:
    """What a TensorFlow log says, read line by line against the known messages."""

    matches: tuple[LogMatch, ...] = ()
    missing_libraries: tuple[str, ...] = ()  # sonames TensorFlow could not load, in any release's wording
    # TensorRT's (libnvinfer*) it could not load: optional, used only by TF-TRT. TensorFlow says so itself:
    # "Cannot dlopen some TensorRT libraries. If you would like to use Nvidia GPU with TensorRT, please make sure the
    # missing libraries mentioned above are installed properly." (tensorflow/compiler/tf2tensorrt/utils/py_utils.cc)
    missing_optional: tuple[str, ...] = ()
    loaded_libraries: tuple[str, ...] = ()  # sonames it opened
    cuda_error: str | None = None  # cuInit's error, e.g. CUDA_ERROR_NO_DEVICE, or "UNKNOWN ERROR (303)"
    cuda_error_code: int | None = None  # 303 for "UNKNOWN ERROR (303)"
    compute_capabilities: tuple[str, ...] = ()  # CCs the log mentions (device created, no kernels, ignored)
    min_required_cc: str | None = None
    cudnn_loaded: str | None = None
    cudnn_compiled: str | None = None
    cpu_missing_instructions: tuple[str, ...] = ()
    gpu_names: tuple[str, ...] = ()
    lines: int = 0
    table_error: str | None = None  # the catalogue could not be read

    @property
    def kinds(self) -> tuple[str, ...]:
        """Message kinds found, each once, in order of first appearance."""
        return tuple(dict.fromkeys(m.kind for m in self.matches))

    def has(self, *kinds: str) -> bool:
        return any(m.kind in kinds for m in self.matches)

    def first(self, kind: str) -> LogMatch | None:
        return next((m for m in self.matches if m.kind == kind), None)

    def first_claiming(self, question: str, value=True) -> LogMatch | None:
        """The first line whose message establishes `question` = `value` (e.g. tf.sees_gpu = True: any release's
        wording of 'a GPU device was created')."""
        return next((m for m in self.matches if m.claim(question) == value), None)


def analyse_log(text: str | None) -> LogAnalysis:
    """Match every line of a TensorFlow log against the catalogue; never raises."""
    if not text:
        return LogAnalysis()
    lines = tuple(text.splitlines()[:MAX_LINES])
    try:
        from tfdoctor.evidence import Source, observe

        observations = observe(Source("tensorflow", "tensorflow.log", lines=lines))
    except Exception as exc:  # noqa: BLE001 - a broken catalogue is a bug in tfdoctor: say so, match nothing
        return LogAnalysis(lines=len(lines), table_error=f"{type(exc).__name__}: {exc}")
    matches = tuple(LogMatch(o.message, o.line_no, o.line, o.severity, o.groups, o.claims) for o in observations)
    missing: dict[str, None] = {}
    optional: dict[str, None] = {}
    loaded: dict[str, None] = {}
    ccs: dict[str, None] = {}
    names: dict[str, None] = {}
    cpu_missing: dict[str, None] = {}
    cuda_error = cuda_code = min_cc = cudnn_loaded = cudnn_compiled = None
    for m in matches:
        lib = m.group("library")
        if lib:
            if not m.claim("tf.libraries_missing"):
                loaded.setdefault(lib)
            else:
                (optional if is_optional_library(lib) else missing).setdefault(lib)
        elif m.kind == "tf-libcuda-dso-not-loaded":
            # the diagnostician found no libcuda.so.1 loaded that resolves to the driver's versioned file
            missing.setdefault("libcuda.so.1")
        if m.group("cc"):
            ccs.setdefault(m.group("cc"))
        elif m.group("major") and m.group("minor"):  # TensorFlow 0.x-2.0's "major: 6 minor: 1"
            ccs.setdefault(f"{m.group('major')}.{m.group('minor')}")
        if m.group("min_cc"):
            min_cc = m.group("min_cc")
        name = (m.group("name") or _name_in(m.group("device_desc")) or "").split(" compute capability")[0]
        if name and (m.claim("gpu.present") or m.claim("tf.sees_gpu")):
            names.setdefault(name.strip())
        if m.kind == "cuinit-error" and cuda_error is None:
            cuda_error, cuda_code = _cuda_error(m)
        if m.kind == "cudnn-version-mismatch" and cudnn_loaded is None:
            cudnn_loaded, cudnn_compiled = cudnn_version(m.group("loaded")), cudnn_version(m.group("compiled"))
        if m.kind == "cpu-missing-instructions" and m.group("instructions"):
            cpu_missing.setdefault(m.group("instructions"))
    return LogAnalysis(
        matches=matches,
        missing_libraries=tuple(missing),
        missing_optional=tuple(optional),
        loaded_libraries=tuple(loaded),
        cuda_error=cuda_error,
        cuda_error_code=cuda_code,
        compute_capabilities=tuple(ccs),
        min_required_cc=min_cc,
        cudnn_loaded=cudnn_loaded,
        cudnn_compiled=cudnn_compiled,
        cpu_missing_instructions=tuple(cpu_missing),
        gpu_names=tuple(names),
        lines=len(lines),
    )


def _name_in(desc: str | None) -> str | None:
    m = _DEVICE_NAME.search(desc or "")
    return m.group(1).strip() if m else None


def cudnn_version(v: str | None) -> str | None:
    """cuDNN's version as a dotted string: TensorFlow 0.x-1.x printed it as an integer (7102 = 7.1.2, 5103 = 5.1.3;
    cudnnGetVersion() is major*1000 + minor*100 + patch for cuDNN up to 8, major*10000 + minor*100 + patch from cuDNN 9:
    90100 = 9.1.0)."""
    if not v or "." in v or not v.isdigit() or len(v) not in (4, 5):
        return v
    n = int(v)
    if len(v) == 5:
        return f"{n // 10000}.{n % 10000 // 100}.{n % 100}"
    return f"{n // 1000}.{n % 1000 // 100}.{n % 100}"


def cuda_version(v: str | None) -> str | None:
    """CUDA's version in its integer form (cudaDriverGetVersion's, as JAX and PhysX print it: 11040 = 11.4) as a
    dotted string; None for anything else."""
    if not v or not v.isdigit() or len(v) not in (4, 5):
        return None
    n = int(v)
    return f"{n // 1000}.{n % 1000 // 10}"


def _cuda_error(m: LogMatch) -> tuple[str | None, int | None]:
    """cuInit's error as the log spells it, and its numeric code when printed.

    Old TF: "CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected"; new TF:
    "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)"; some releases: "CUresult(-1)".
    """
    code = m.group("code") or m.group("cuda_code")
    number = int(code) if code and code.lstrip("-").isdigit() else None
    error = m.group("error")
    if error and (name := _CUDA_ERR_NAME.search(error)) is not None:
        return name.group(1), number
    return error, number
