"""Python-environment probe: what is installed for the diagnosed interpreter that decides which CUDA libraries
TensorFlow loads. The installed `nvidia-*` wheels and the frameworks that pin them (tensorflow's `[and-cuda]` extra,
torch, the jax CUDA plugins, cupy), read from their `*.dist-info` folders through the Host; the CUDA libraries in the
folders of LD_LIBRARY_PATH (they come before the pip wheels in the loader's search); conda's CUDA packages
(conda-meta/).

Facts only: the requirement lines are kept as text; checks/pyenv.py evaluates them (with `packaging`).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

from tfdoctor import textmatch
from tfdoctor.probes import probe
from tfdoctor.probes.cuda import no_gpu_here

# Distributions whose metadata is read for the nvidia-* wheels they require.
FRAMEWORKS = ("tensorflow", "tensorflow-cpu", "tf-nightly", "torch", "jax-cuda12-plugin", "jax-cuda13-plugin",
              "jax-cuda11-plugin", "jaxlib", "cupy-cuda12x", "cupy-cuda11x", "cupy-cuda13x", "paddlepaddle-gpu")
MAX_METADATA = 512 * 1024
MAX_DIRS = 16
# CUDA libraries (by soname prefix) worth listing in a folder of LD_LIBRARY_PATH.
_CUDA_LIB = textmatch.compile(r"^lib(?:cudart|cublas|cublasLt|cudnn|cufft|curand|cusolver|cusparse|nvJitLink|cupti|"
                              r"nccl|cuda|nvrtc)\.so(?:\.[0-9.]+)?$")
_DIST_INFO = textmatch.compile(r"^(?P<name>[A-Za-z0-9_.]+?)-(?P<version>\d[^-]*?)(?:-py[\d.]+)?\.(?:dist-info|egg-info)$")
_CONDA_META = textmatch.compile(r"^(?P<name>[a-z0-9_.-]+?)-(?P<version>\d[^-]*)-(?P<build>[^-]+)\.json$")
_CONDA_CUDA = ("cudatoolkit", "cudnn", "cuda-toolkit", "cuda-cudart", "cuda-runtime", "cuda-version", "nccl",
               "libcublas", "cuda-nvcc")


def normalize(name: str) -> str:
    """PEP 503 name: `nvidia_cudnn_cu12` -> `nvidia-cudnn-cu12`."""
    return textmatch.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Distribution:
    name: str  # normalized
    version: str
    requires: tuple[str, ...] = ()  # its Requires-Dist lines that name an nvidia-* wheel (frameworks only)
    location: str = ""


@dataclass(frozen=True)
class LibraryDir:
    """A folder of LD_LIBRARY_PATH and the CUDA libraries in it (None: it could not be listed)."""

    path: str
    libraries: tuple[str, ...] | None


@dataclass(frozen=True)
class CondaPackage:
    name: str
    version: str
    build: str


@dataclass(frozen=True)
class PyEnvFacts:
    source: str  # site | none (the interpreter's site-packages were not known)
    site_dirs: tuple[str, ...] = ()
    distributions: tuple[Distribution, ...] = ()
    ld_library_path: tuple[LibraryDir, ...] = ()
    conda_prefix: str | None = None
    conda_packages: tuple[CondaPackage, ...] | None = None  # None: not a conda environment (or not listed)
    problem: str | None = None  # why the interpreter's packages were not read

    def dist(self, name: str) -> Distribution | None:
        want = normalize(name)
        return next((d for d in self.distributions if d.name == want), None)

    @property
    def nvidia_wheels(self) -> tuple[Distribution, ...]:
        return tuple(d for d in self.distributions if d.name.startswith("nvidia-"))


def requires_dist(metadata: str) -> list[str]:
    """The Requires-Dist lines of a METADATA file that name an nvidia-* distribution (markers kept as written)."""
    out = []
    for line in (metadata or "")[:MAX_METADATA].splitlines():
        if not line.strip():
            break  # the headers end at the first blank line; the description follows
        if line.lower().startswith("requires-dist:"):
            req = line.split(":", 1)[1].strip()
            if normalize(textmatch.split(r"[\s;<>=!~\[(]", req, maxsplit=1)[0]).startswith("nvidia-"):
                out.append(req[:300])
    return out[:64]


def parse_dist_dir(entry: str) -> tuple[str, str] | None:
    m = _DIST_INFO.match(entry)
    return (normalize(m.group("name")), m.group("version")) if m else None


def _distributions(host, site_dirs) -> list[Distribution]:
    seen: dict[str, Distribution] = {}
    wanted = {normalize(f) for f in FRAMEWORKS}
    for d in site_dirs:
        entries = host.listdir(d)
        for entry in (entries or [])[:5000]:
            parsed = parse_dist_dir(entry)
            if parsed is None:
                continue
            name, version = parsed
            if name in seen or not (name.startswith("nvidia-") or name in wanted):
                continue  # the first folder on the path wins, as for the import
            requires: tuple[str, ...] = ()
            if name in wanted:
                meta = host.read(f"{d}/{entry}/METADATA") or host.read(f"{d}/{entry}/PKG-INFO") or ""
                requires = tuple(requires_dist(meta))
            seen[name] = Distribution(name, version, requires, d)
    return sorted(seen.values(), key=lambda x: x.name)


def _library_dirs(host, value: str | None) -> list[LibraryDir]:
    out = []
    for path in [p for p in (value or "").split(":") if p][:MAX_DIRS]:
        names = host.listdir(path)
        libs = tuple(n for n in names[:2000] if _CUDA_LIB.match(n)) if names is not None else None
        out.append(LibraryDir(path, libs))
    return out


def _conda(host, prefix: str | None) -> list[CondaPackage] | None:
    if not prefix:
        return None
    names = host.listdir(f"{prefix}/conda-meta")
    if names is None:
        return None
    out = []
    for n in names[:5000]:
        m = _CONDA_META.match(n)
        if m and m.group("name") in _CONDA_CUDA:
            out.append(CondaPackage(m.group("name"), m.group("version"), m.group("build")))
    return out


SITE_KEY = "python-site"  # the snapshot key of the interpreter's answer


def interpreter_site(host, python: str) -> tuple[tuple[str, ...], str | None, bool, str | None]:
    """(site folders, prefix, conda, error) of the diagnosed interpreter, asked of it (`cuda_probe.py --site-dirs`
    under -I -S: it finds a venv the way site.py does, without running site)."""
    from tfdoctor.child.runner import child_script

    res = host.run([python, "-I", "-S", child_script("cuda_probe.py"), "--site-dirs"], timeout=10, key=SITE_KEY)
    if not res.ok:
        return (), None, False, None if res.missing else res.describe()
    try:
        d = json.loads((res.stdout or "").strip().splitlines()[-1])
        site = tuple(str(p) for p in d.get("site") or () if isinstance(p, str))[:8]
        prefix = d.get("prefix") if isinstance(d.get("prefix"), str) else None
        return site, prefix, d.get("conda") is True, None
    except (ValueError, IndexError, AttributeError):
        return (), None, False, "the interpreter's answer was not understood"


@probe("pyenv", needs=("env", "pci"), timeout=10, title="Python environment (pip wheels, LD_LIBRARY_PATH, conda)")
def probe_pyenv(host, ctx) -> PyEnvFacts:
    env = ctx.facts.get("env")
    variables = getattr(env, "variables", None) or {}
    dirs = tuple(_library_dirs(host, variables.get("LD_LIBRARY_PATH")))
    if no_gpu_here(host, ctx.facts.get("pci")):
        # CUDA wheels, their pins and conda's cudatoolkit matter only where CUDA can run: spare the interpreter
        return PyEnvFacts(source="none", ld_library_path=dirs, problem="no NVIDIA GPU: the environment was not read")
    site, prefix, conda, error = interpreter_site(host, ctx.options.python or sys.executable)
    conda_prefix = prefix if conda else variables.get("CONDA_PREFIX")
    return PyEnvFacts(
        source="site" if site else "none",
        site_dirs=site,
        distributions=tuple(_distributions(host, site)),
        ld_library_path=dirs,
        conda_prefix=conda_prefix,
        conda_packages=None if conda_prefix is None else (lambda c: tuple(c) if c is not None else None)(
            _conda(host, conda_prefix)),
        problem=error,
    )
