"""The Python environment around TensorFlow: do the installed `nvidia-*` wheels satisfy the `[and-cuda]` pins of
the installed TensorFlow, do other frameworks in the same environment (torch, the jax CUDA plugins, cupy) pin
conflicting wheels, do folders of LD_LIBRARY_PATH shadow the pip libraries with another CUDA major, and does conda's
cudatoolkit fit TensorFlow's CUDA.

Requirement lines come from the installed distributions' METADATA (the pyenv probe); they are evaluated here with
`packaging` (imported when a check runs, never at start-up).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from tfdoctor import safe, textmatch
from tfdoctor.checks import check
from tfdoctor.checks.commands import interpreter_cmd, verify_only
from tfdoctor.checks.cuda import api_facts, ld_library_path_without
from tfdoctor.checks.gpu import gpu_expected
from tfdoctor.model import Alternative, Finding, Fix, Status, fail, info, ok, skip, told_fail, warn

TF_NAMES = ("tensorflow", "tf-nightly", "tensorflow-gpu")
# other frameworks that pin nvidia-* wheels, with the extra under which they do (None: unconditionally)
OTHER_FRAMEWORKS = {"torch": None, "jax-cuda12-plugin": "with-cuda", "jax-cuda13-plugin": "with-cuda",
                    "jax-cuda11-plugin": "with-cuda", "cupy-cuda12x": None, "cupy-cuda11x": None,
                    "cupy-cuda13x": None, "paddlepaddle-gpu": None}
_VERSION = textmatch.compile(r"^\d{1,3}\.\d{1,3}(?:\.\d{1,4})?(?:(?:rc|a|b|\.post|\.dev)\d{1,4})?$")
_EXE = textmatch.compile(r"^/[A-Za-z0-9._/+-]{1,200}$")
_DIR_MAJOR = textmatch.compile(r"cuda-?(\d{2})(?:\.\d+)?(?:/|$)")


def _kb():
    from tfdoctor.knowledge import loader

    return loader


def tf_install_line(facts, version: str) -> str | None:
    """`<python> -m pip install 'tensorflow[and-cuda]==2.21.*'` for a validated version (the one install helper of
    checks/tensorflow.py, so its wording is changed in one place); None when the version is not a version."""
    from tfdoctor.checks.tensorflow import install_command, minor

    if not _VERSION.match(version or ""):
        return None
    target = SimpleNamespace(python_executable=interpreter_cmd(facts), python=None)
    return install_command(target, minor(version) or version, True)


@dataclass(frozen=True)
class Pin:
    """One requirement on an nvidia-* wheel: who requires it, the specifier, the line it came from."""

    requirer: str
    name: str
    specifier: object  # packaging.specifiers.SpecifierSet
    line: str


def pins_of(requirer: str, lines, extra: str | None) -> list[Pin]:
    """The requirements that apply: markers evaluated for this machine with `extra` as the chosen extra."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    out = []
    for line in lines:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.marker is not None:
            try:
                if not req.marker.evaluate({"extra": extra or ""}):
                    continue
            except Exception:  # noqa: BLE001 - a marker this packaging cannot evaluate does not apply
                continue
        elif extra is not None and "extra" in line:
            continue
        out.append(Pin(requirer, canonicalize_name(req.name), req.specifier, line))
    return out


def _tf_dist(py):
    return next((py.dist(n) for n in TF_NAMES if py.dist(n) is not None), None)


def tf_pins(py, tf) -> tuple[list[Pin], str]:
    """TensorFlow's [and-cuda] pins: from its METADATA, else the knowledge base's record of that release."""
    pins = pins_of(f"tensorflow {tf.version}", tf.requires, "and-cuda")
    if pins:
        return pins, "its METADATA"
    build = _kb().tf_build(tf.version)
    if build is not None and build.and_cuda_pins:
        lines = [f"{name}{spec}" for name, spec in build.and_cuda_pins]
        return pins_of(f"tensorflow {tf.version}", lines, None), "the knowledge base (METADATA not readable)"
    return [], ""


def _installed(py) -> dict[str, str]:
    return {d.name: d.version for d in py.nvidia_wheels}


def _violations(pins, installed) -> list[tuple[Pin, str]]:
    return [(p, installed[p.name]) for p in pins if p.name in installed
            and not p.specifier.contains(installed[p.name], prereleases=True)]


def _no_env(facts):
    py = facts.pyenv
    if py is None or py.source == "none":
        why = getattr(py, "problem", None) or "the Python interpreter did not say where its packages are"
        return None, f"The diagnosed interpreter's packages were not read ({why})"
    return py, None


# -- python.and-cuda-pins ------------------------------------------------------------------------------------------


@check(
    "python.and-cuda-pins",
    area="python",
    title="nvidia-* wheels match TensorFlow's [and-cuda] pins",
    needs=("pyenv", "env", "pci", "driver", "nvml"),
    after=("system.python",),
    what="Reads the installed TensorFlow's `Requires-Dist` lines for the `and-cuda` extra (its METADATA) and "
         "compares each pinned `nvidia-*` wheel with the version installed in the same environment.",
    why="`pip install 'tensorflow[and-cuda]'` installs CUDA, cuDNN and cuBLAS as wheels pinned to what that "
        "TensorFlow was built with. A later `pip install` of another package (or of one wheel by hand) can replace "
        "them with versions TensorFlow refuses (`Loaded runtime CuDNN library ... but source was compiled with ...`) "
        "or remove one, and TensorFlow quietly falls back to the CPU.",
    fix="Reinstall TensorFlow's extra so pip puts the pinned wheels back: `python -m pip install "
        "'tensorflow[and-cuda]==<the installed version>'`; then `python -m pip check`.",
)
def check_and_cuda_pins(facts):
    py, why = _no_env(facts)
    if py is None:
        return skip("python.and-cuda-pins", why)
    tf = _tf_dist(py)
    if tf is None:
        return skip("python.and-cuda-pins", "TensorFlow is not installed for this interpreter")
    pins, whence = tf_pins(py, tf)
    nvidia = [p for p in pins if p.name.startswith("nvidia-")]
    if not nvidia:
        build = _kb().tf_build(tf.version)
        if build is not None and not build.has_and_cuda_extra:
            return skip("python.and-cuda-pins", f"TensorFlow {tf.version} has no [and-cuda] extra (it uses the "
                        "system's CUDA and cuDNN)")
        return skip("python.and-cuda-pins", f"TensorFlow {tf.version}'s [and-cuda] pins are not known")
    installed = _installed(py)
    line = tf_install_line(facts, tf.version)
    fix = Fix(f"Reinstall TensorFlow {tf.version} with its [and-cuda] extra: pip puts back the wheels it pins.",
              (line,) if line else (), verify=(f"{interpreter_cmd(facts)} -m pip check",))
    have = [p for p in nvidia if p.name in installed]
    if not have and not gpu_expected(facts):
        return skip("python.and-cuda-pins", "No NVIDIA GPU: TensorFlow's CUDA wheels would not be used here")
    if not have:
        return info("python.and-cuda-pins", f"None of TensorFlow {tf.version}'s [and-cuda] wheels is installed: it "
                    "uses the CUDA libraries the system provides, if any", f"pins from {whence}", fix=fix)
    missing = [p for p in nvidia if p.name not in installed]
    wrong = _violations(nvidia, installed)
    if missing or wrong:
        lines = [f"{p.name} {v} installed; TensorFlow {tf.version} requires {p.name}{p.specifier}" for p, v in wrong]
        lines += [f"{p.name} is not installed (TensorFlow {tf.version} requires {p.name}{p.specifier})"
                  for p in missing]
        first = (f"{wrong[0][0].name} {wrong[0][1]} does not satisfy TensorFlow {tf.version}'s pin "
                 f"{wrong[0][0].specifier}" if wrong else f"{missing[0].name} is missing")
        return fail("python.and-cuda-pins", f"The CUDA wheels do not match TensorFlow {tf.version}'s [and-cuda] pins: "
                    f"{first}", *lines, f"pins from {whence}", fix=fix)
    return ok("python.and-cuda-pins", f"{len(have)} nvidia-* wheels match TensorFlow {tf.version}'s [and-cuda] pins",
              f"pins from {whence}")


# -- python.framework-conflicts ------------------------------------------------------------------------------------


def _jax_plugin_mismatch(facts) -> Finding | None:
    """JAX's CUDA plugin (jax-cudaNN-plugin, jax-cudaNN-pjrt) must be the same release as jaxlib: a package list that
    shows them apart, or JAX's own words (`The plugin is likely built with a later version than the framework`), is
    the cause; a plugin that failed to initialise with no versions shown is most likely the same (jax#26750, the
    maintainer: 'more recent versions of the GPU plugins installed ... pip install jax[cuda12]==0.4.35')."""
    m = facts.machine
    versions = {o.group("dist"): o.group("version") for o in m.observed("jax-package-version")
                if o.group("dist") and o.group("version")}
    jaxlib = versions.get("jaxlib")
    plugins = {k: v for k, v in versions.items() if k != "jaxlib"}
    apart = {k: v for k, v in plugins.items() if jaxlib and v != jaxlib}
    told = m.belief("jax.plugin_mismatch")
    if not apart and told.value is not True:
        return None
    sure = any("likely built with" in e.line for e in told.evidence)
    if not apart and not sure and m.observed("jax-plugin-cuinit-failed"):
        return None  # the plugin failed because CUDA itself did not start (no GPU here): not a version question
    # (the plugins' names, as the catalogue reads them: jax-cudaNN-plugin, jax-cudaNN-pjrt)
    cuda = next((k.split("-")[1] for k in plugins), "cuda12")
    extra = f"jax[{cuda}]"
    cmds = (f"python3 -m pip install '{extra}=={jaxlib}'",) if jaxlib and safe.version(jaxlib) else \
        (f"python3 -m pip install -U '{extra}'",)
    ev = m.evidence_of("jax-cuda-plugin-version-mismatch")[:1] + m.evidence_of("jax-package-version")[:3]
    verify = ("python3 -m pip list 2>/dev/null | grep -E '^jax'", "python3 -c 'import jax; print(jax.devices())'")
    if apart:
        listed = ", ".join(f"{k} {v}" for k, v in sorted(apart.items()))
        return Finding("python.framework-conflicts", Status.FAIL, f"JAX's CUDA plugin is another release than jaxlib "
                       f"{jaxlib} ({listed}): JAX needs them to be the same version, so its CUDA backend fails to "
                       "start", tuple(e.describe() for e in ev),
                       fix=Fix(f"Install jaxlib and its CUDA plugin at one version (the {extra} extra pins them "
                               "together).", cmds, verify=verify), evidence=ev)
    return Finding("python.framework-conflicts", Status.FAIL if sure else Status.WARN,
                   "JAX's CUDA plugin " + ("is built for another release than jaxlib (JAX's own words)" if sure else
                                           "failed to initialise: most often it is another release than jaxlib")
                   + ": JAX needs them to be the same version", tuple(e.describe() for e in told.evidence[:2]),
                   fix=Fix(f"Install jaxlib and its CUDA plugin at one version (the {extra} extra pins them together; "
                           "the first verify command lists both).", cmds, verify=verify), evidence=told.evidence)


@check(
    "python.framework-conflicts",
    area="python",
    title="Other frameworks' CUDA wheels",
    needs=("pyenv", "env"),
    after=("python.and-cuda-pins",),
    what="Reads the `nvidia-*` requirements of the other GPU frameworks installed next to TensorFlow (torch, the jax "
         "CUDA plugins, cupy, paddle) and checks each against the wheel versions installed.",
    why="pip keeps one version of each wheel per environment. torch, jax and TensorFlow each pin cuDNN, cuBLAS and "
        "the CUDA runtime to their own builds; installing one after the other replaces the wheels the first was "
        "built for, and the framework installed first breaks (cuDNN version mismatch, missing symbols) or silently "
        "loses its GPU.",
    fix="Give each framework its own virtual environment (`python -m venv`), or install versions whose pins agree "
        "(the framework's install matrix); `python -m pip check` lists what is broken.",
)
def check_framework_conflicts(facts):
    shadowed = facts.machine.belief("python.nccl_shadowed")
    if shadowed.value is True:
        return _nccl_shadowed(facts, shadowed)
    if (jax := _jax_plugin_mismatch(facts)) is not None:
        return jax
    py, why = _no_env(facts)
    if py is None:
        return skip("python.framework-conflicts", why)
    installed = _installed(py)
    others = [d for d in py.distributions if d.name in OTHER_FRAMEWORKS and d.requires]
    if not others:
        return ok("python.framework-conflicts", "No other GPU framework pins nvidia-* wheels in this environment")
    requirers: list[tuple[str, list[Pin]]] = []
    tf = _tf_dist(py)
    if tf is not None:
        pins, _ = tf_pins(py, tf)
        if any(p.name in installed for p in pins):
            requirers.append((f"TensorFlow {tf.version}", pins))
    for d in others:
        pins = pins_of(f"{d.name} {d.version}", d.requires, OTHER_FRAMEWORKS[d.name])
        if OTHER_FRAMEWORKS[d.name] and not any(p.name in installed for p in pins):
            continue  # installed without its CUDA extra: the pins do not apply
        requirers.append((f"{d.name} {d.version}", pins))
    broken = [(who, p, v) for who, pins in requirers for p, v in _violations(pins, installed)]
    names = ", ".join(who for who, _ in requirers)
    if broken:
        lines = [f"{who} requires {p.name}{p.specifier}; {p.name} {v} is installed" for who, p, v in broken]
        exe = interpreter_cmd(facts)
        cmds = [f"{exe} -m pip check"]
        line = tf_install_line(facts, tf.version) if tf is not None else None
        if line:
            venv = ".venv-tensorflow"
            cmds = [f"{exe} -m venv {venv}", line.replace(exe, f"{venv}/bin/python", 1)]
        who, p, v = broken[0]
        return fail("python.framework-conflicts", f"Frameworks in this environment pin different CUDA wheels: {who} "
                    f"needs {p.name}{p.specifier} but {v} is installed", *lines,
                    fix=Fix("Install TensorFlow in its own virtual environment, so each framework keeps the wheels it "
                            "was built for.", tuple(cmds),
                            verify=(f"{'.venv-tensorflow/bin/python' if line else exe} -m pip check",)))
    return ok("python.framework-conflicts", f"{names}: their nvidia-* pins agree with the wheels installed")


def _nccl_shadowed(facts, shadowed):
    """A framework's library needs an NCCL function the loaded libnccl.so.2 lacks (the loader: `libtorch_cuda.so:
    undefined symbol: ncclCommRegister`): a process holds one libnccl.so.2, and an older one was loaded first (by a
    library imported before it) or found first (the system's, LD_LIBRARY_PATH) instead of the nvidia-nccl wheel."""
    o = next(iter(facts.machine.observed("nccl-symbol-missing")), None)
    who = f"{o.group('library')} needs {o.group('symbol')}" if o is not None else "a library needs an NCCL function"
    torch = o is not None and (o.group("library") or "").startswith("libtorch")
    return told_fail("python.framework-conflicts", f"{who}, which the libnccl.so.2 loaded into the process lacks: an "
                     "older NCCL (the system's, or one a library imported earlier loaded) shadows the nvidia-nccl "
                     "wheel it was built against", shadowed,
                     Fix("A process holds one libnccl.so.2 and the first one loaded wins: import this framework before "
                         "the library that loads the older NCCL (CuPy before 13.2 loads the system's), or take the "
                         "older libnccl.so.2 off the loader path so the nvidia-nccl wheel's copy is found. The "
                         "commands show which NCCL the framework gets on its own and which older copies the loader "
                         "sees.",
                         (("python3 -c \"import torch; print(torch.cuda.nccl.version())\"   # imported first: the "
                           "wheel's NCCL",) if torch else ()) + ("ldconfig -p | grep libnccl",
                                                                  "echo \"$LD_LIBRARY_PATH\""),
                         verify=("python3 -c \"import torch\"   # in the program's import order" if torch
                                 else "python3 -m pip check",)))


# -- python.ld-library-path ----------------------------------------------------------------------------------------


def _tf_cuda(facts, py) -> tuple[str | None, object]:
    tf = _tf_dist(py) if py is not None else None
    build = _kb().tf_build(tf.version) if tf is not None else None
    return (tf.version if tf else None), build


def _sonames(build) -> list[str]:
    if build is None:
        return []
    names = list(build.libraries) + list(build.optional_libraries)
    if build.cudnn and not any(n.startswith("libcudnn") for n in names):
        names.append(f"libcudnn.so.{build.cudnn.split('.')[0]}")
    return names


def _dir_major(d) -> str | None:
    for n in d.libraries or ():
        if n.startswith("libcudart.so."):
            return n.split(".")[2]
    m = _DIR_MAJOR.search(d.path)
    return m.group(1) if m else None


@check(
    "python.ld-library-path",
    area="python",
    title="LD_LIBRARY_PATH and the pip CUDA libraries",
    needs=("pyenv", "env", "cuda"),
    after=("python.and-cuda-pins",),
    what="Lists the CUDA libraries in each folder of LD_LIBRARY_PATH and compares them with the libraries the "
         "installed TensorFlow loads (by soname) and the CUDA major it was built for; reads which cuDNN the "
         "driver-API child's loader really picked.",
    why="The dynamic loader searches LD_LIBRARY_PATH before TensorFlow's own RUNPATH to the pip `nvidia/*/lib` "
        "folders, so an old `export LD_LIBRARY_PATH=/usr/local/cuda-11.8/lib64` in ~/.bashrc wins over the wheels: "
        "libraries of another CUDA major with the same soname (libcusolver.so.11, libcudnn.so.8/9) are loaded and "
        "TensorFlow fails with missing symbols or a cuDNN version mismatch.",
    fix="Remove the CUDA folders from LD_LIBRARY_PATH (and from the shell start-up file that sets it) when "
        "TensorFlow's pip wheels provide the libraries.",
)
def check_ld_library_path(facts):
    py, why = _no_env(facts)
    value = (getattr(facts.env, "variables", None) or {}).get("LD_LIBRARY_PATH")
    shadowed = facts.machine.belief("python.nvjitlink_shadowed")
    if shadowed.value is True:
        # the loader found an older libnvJitLink.so.12 first (PyTorch's malfet in pytorch#141063)
        drop = ld_library_path_without(facts, lambda p: "cuda" in p.lower()) if value else None
        return told_fail("python.ld-library-path", "A CUDA 12 pip wheel's library needs a newer libnvJitLink.so.12 than "
                         "the one the loader found first: an older CUDA toolkit on LD_LIBRARY_PATH shadows the "
                         "wheel's (or the nvjitlink wheel is older than the libraries that need it)", shadowed,
                         Fix("Take the CUDA toolkit folders off LD_LIBRARY_PATH (here and in the shell start-up file "
                             "that sets it), so that the pip wheels' own libraries load.",
                             (drop,) if drop else ("unset LD_LIBRARY_PATH",),
                             (Alternative("LD_LIBRARY_PATH is not set: upgrade the nvjitlink wheel to the libraries' "
                                          "CUDA 12 release", ("python3 -m pip install -U nvidia-nvjitlink-cu12",)),),
                             verify=("python3 -c 'import tensorflow'",)))
    torch_cudnn = facts.machine.belief("torch.cudnn_shadowed")
    if torch_cudnn.value is True and value:
        # PyTorch loaded another cuDNN than the one its wheel bundles: the wheel's RUNPATH lets LD_LIBRARY_PATH win
        # (PyTorch's atalman in pytorch#80637; the error names LD_LIBRARY_PATH since pytorch#80877)
        folders = [p for p in value.split(":") if p]
        named = [p for p in folders if "cudnn" in p.lower()] or [p for p in folders if "cuda" in p.lower()]
        drop = ld_library_path_without(facts, lambda p: p in named)
        built = facts.machine.named("built", "torch-cudnn-version-incompatibility")
        return told_fail("python.ld-library-path", "PyTorch loaded another cuDNN than the one it was built against"
                         + (f" ({built.replace(', ', '.')})" if built else "") + ": a cuDNN folder on LD_LIBRARY_PATH "
                         "shadows the cuDNN PyTorch bundles", torch_cudnn,
                         Fix("Take the cuDNN folders off LD_LIBRARY_PATH (here and in the shell start-up file or "
                             "module that sets it), so that PyTorch loads its own cuDNN.",
                             tuple(x for x in (drop, "grep -n LD_LIBRARY_PATH ~/.bashrc ~/.profile ~/.bash_profile "
                                                     "/etc/environment") if x),
                             verify=("python3 -c 'import torch; print(torch.backends.cudnn.version())'",)),
                         *(f"on LD_LIBRARY_PATH: {p}" for p in named[:3]))
    if (appended := _pip_cudnn_appended(facts)) is not None:
        return appended
    if not value:
        if facts.env is None or not facts.machine.complete:
            return skip("python.ld-library-path", "LD_LIBRARY_PATH was not recorded")
        return ok("python.ld-library-path", "LD_LIBRARY_PATH is not set: TensorFlow finds its pip CUDA libraries")
    dirs = list(py.ld_library_path) if py is not None else []
    version, build = _tf_cuda(facts, py)
    major = build.cuda.split(".")[0] if build is not None and build.cuda else None
    wanted = _sonames(build)
    bad, shadowing = [], []
    for d in dirs:
        names = d.libraries or ()
        hits = [s for s in wanted if any(n == s or n.startswith(s + ".") for n in names)]
        if not hits:
            continue
        dm = _dir_major(d)
        entry = f"{d.path}: {', '.join(hits[:6])}" + (f" (CUDA {dm})" if dm else "")
        (bad if dm and major and dm != major else shadowing).append((d.path, entry))
    api = api_facts(facts)
    cudnn = api.library("cudnn") if api is not None and api.source != "none" else None
    if cudnn is not None and cudnn.source == "LD_LIBRARY_PATH" and build is not None and build.cudnn and cudnn.version \
            and tuple(int(x) for x in cudnn.version.split(".")[:2]) < tuple(int(x) for x in build.cudnn.split(".")[:2]):
        folder = (cudnn.path or "").rsplit("/", 1)[0]
        if folder and all(folder != p for p, _ in bad):
            bad.append((folder, f"{folder}: cuDNN {cudnn.version}, older than the {build.cudnn} TensorFlow {version} "
                                "was built with"))
    drop = {p for p, _ in bad}
    cmd = ld_library_path_without(facts, lambda p: p in drop)
    fix = Fix("Take these folders off LD_LIBRARY_PATH, here and in the shell start-up file that sets it; TensorFlow's "
              "pip wheels provide the libraries.", tuple(x for x in (cmd, "grep -n LD_LIBRARY_PATH ~/.bashrc ~/.profile "
                                                                         "~/.bash_profile /etc/environment") if x),
              verify=(verify_only(facts, "python.ld-library-path", "cuda.libraries"),))
    if bad:
        return fail("python.ld-library-path", f"LD_LIBRARY_PATH puts CUDA libraries TensorFlow {version} cannot use "
                    f"before its pip wheels: {bad[0][1]}", *(e for _, e in bad[1:]), fix=fix)
    if shadowing and py is not None and py.nvidia_wheels:
        return info("python.ld-library-path", f"LD_LIBRARY_PATH provides CUDA libraries before the pip wheels "
                    f"({shadowing[0][1]}); they are CUDA {major}, as TensorFlow {version} needs",
                    *(e for _, e in shadowing[1:]))
    return ok("python.ld-library-path", "LD_LIBRARY_PATH holds no CUDA library that TensorFlow would load instead of "
              "its own" if wanted else "LD_LIBRARY_PATH is set (TensorFlow's CUDA build is unknown, nothing to compare)")


def _pip_cudnn_appended(facts):
    """An LD_LIBRARY_PATH assignment appends the pip cuDNN folder after the folders already set (TensorFlow's 2023 pip
    guide: `export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$CONDA_PREFIX/lib/:$CUDNN_PATH/lib`), and a framework refused
    the cuDNN it loaded: the older cuDNN came from a folder ahead of the wheel's (tensorflow#60750). The fix puts the
    wheel's folder first, in the activation script where the assignment lives."""
    appended = facts.machine.belief("python.pip_cudnn_after_ld_library_path")
    refused = facts.machine.observed("cudnn-version-mismatch", "jax-cudnn-older-than-built")
    if appended.value is not True or not refused:
        return None
    from tfdoctor.checks.cuda import _vt
    from tfdoctor.tflog import cudnn_version

    loaded = cudnn_version(refused[0].group("loaded")) or "?"
    compiled = cudnn_version(refused[0].group("compiled"))
    # TensorFlow refuses another major too (a system cuDNN 9 ahead of the wheel's 8.9): older only where it is
    than = "another version than" if compiled and _vt(loaded) >= _vt(compiled) else "older than"
    first = "export LD_LIBRARY_PATH=$CUDNN_PATH/lib:$CONDA_PREFIX/lib/:$LD_LIBRARY_PATH"
    script = "$CONDA_PREFIX/etc/conda/activate.d/env_vars.sh"
    if any("activate.d/env_vars.sh" in e.line for e in appended.evidence):
        cmds = (f"sed -i 's|^export LD_LIBRARY_PATH=.*|{first}|' {script}", f"source {script}")
    else:
        cmds = (first,)
    ev = facts.machine.evidence_of("cudnn-version-mismatch", "jax-cudnn-older-than-built")[:1]
    return told_fail("python.ld-library-path", f"LD_LIBRARY_PATH puts the folders already on it before the pip cuDNN "
                     f"($CUDNN_PATH/lib), and the cuDNN {loaded} loaded from them is refused as {than} the build",
                     appended,
                     Fix("Put the pip cuDNN's folder first on LD_LIBRARY_PATH (where the environment's activation sets "
                         "it), so the wheel's cuDNN is loaded before any system or toolkit copy.", cmds,
                         verify=("python3 -c \"import tensorflow as tf; print(tf.config.list_physical_devices('GPU'))\"",)),
                     *(e.describe() for e in ev))


# -- python.conda-cudatoolkit --------------------------------------------------------------------------------------


def _conda_toolkit_newer_than_driver(facts):
    """conda's cudatoolkit in the environment, as the paste shows it (the `conda install ... cudatoolkit=10.2` line
    the user ran, a `conda list` row), is a CUDA runtime newer than the loaded driver runs: every framework linked
    against it finds the driver insufficient and no GPU (ai4d-iasc/trixie#6: cudatoolkit 10.2 on driver 418.67,
    working with cudatoolkit=10.1; pytorch#10910's cuda90 builds). The driver's own CUDA decides which toolkit fits."""
    from tfdoctor.checks.compat import driver_version_seen
    from tfdoctor.checks.fixes import newer_driver_commands

    m, kb = facts.machine, _kb()
    told = next((o for o in m.observed("conda-cudatoolkit-in-env")
                 if o.group("cuda_version") or o.group("cuda_version2")), None)
    have = driver_version_seen(facts)
    if told is None or not have:
        return None
    conda = told.group("cuda_version") or told.group("cuda_version2")
    req = kb.min_driver_for_cuda(conda)
    floor = (req.minor_compat_floor or req.toolkit_driver) if req else None
    if not floor or kb.driver_at_least(have, floor):
        return None
    runs = kb.newest_cuda_for_driver(have)
    fits = f"cudatoolkit={runs}" if runs else None
    ev = m.evidence_of("conda-cudatoolkit-in-env")[:1] + m.evidence_of("smi-table-driver-version")[:1]
    return Finding("python.conda-cudatoolkit", Status.FAIL, f"conda's cudatoolkit {conda} needs NVIDIA driver {floor} or "
                   f"newer; the driver is {have}" + (f", which runs CUDA {runs} at most" if runs else "")
                   + ": frameworks linked against it find the driver insufficient and no GPU",
                   tuple(e.describe() for e in ev), evidence=ev,
                   fix=Fix("Install the cudatoolkit this driver runs into the environment"
                         + (f" (CUDA {runs}), with a framework build for it" if runs else "") + ", or a newer driver.",
                         ((f"conda install '{fits}'",) if fits else ()),
                         alternatives=(Alternative(f"keep cudatoolkit {conda}: install NVIDIA driver {floor} or newer, "
                                                   "then reboot", tuple(newer_driver_commands(facts, floor))),),
                         verify=("conda list cudatoolkit", "nvidia-smi   # 'CUDA Version': the newest CUDA the driver "
                                 "runs")))


@check(
    "python.conda-cudatoolkit",
    area="python",
    title="conda's cudatoolkit and cudnn",
    needs=("pyenv", "env"),
    after=("python.and-cuda-pins",),
    what="In a conda environment, reads conda-meta/ for cudatoolkit, cudnn and the cuda-* packages and compares "
         "their versions with the CUDA and cuDNN the installed TensorFlow was built with.",
    why="Up to TensorFlow 2.13 the documented recipe was conda's cudatoolkit 11.x plus cudnn with "
        "LD_LIBRARY_PATH=$CONDA_PREFIX/lib; TensorFlow 2.14 and later use CUDA 12 pip wheels. An environment that "
        "kept the old cudatoolkit (and the LD_LIBRARY_PATH line in its activation script) loads CUDA 11 libraries "
        "into a CUDA 12 TensorFlow.",
    fix="Remove conda's cudatoolkit/cudnn from the environment and install TensorFlow's pip wheels "
        "(`python -m pip install 'tensorflow[and-cuda]==<version>'`), or keep a TensorFlow that matches them.",
)
def check_conda_cudatoolkit(facts):
    py, why = _no_env(facts)
    if (py is None or py.conda_packages is None) and (newer := _conda_toolkit_newer_than_driver(facts)) is not None:
        return newer
    if py is None:
        return skip("python.conda-cudatoolkit", why)
    if py.conda_packages is None:
        return skip("python.conda-cudatoolkit", "Not a conda environment")
    pkgs = {p.name: p for p in py.conda_packages}
    toolkit = pkgs.get("cudatoolkit") or pkgs.get("cuda-cudart") or pkgs.get("cuda-runtime")
    cudnn = pkgs.get("cudnn")
    if toolkit is None and cudnn is None:
        return ok("python.conda-cudatoolkit", "No CUDA package from conda in this environment")
    have = ", ".join(f"{p.name} {p.version}" for p in (toolkit, cudnn) if p)
    version, build = _tf_cuda(facts, py)
    if build is None or not build.cuda:
        return info("python.conda-cudatoolkit", f"conda provides {have} (TensorFlow's CUDA build is unknown)")
    problems = []
    if toolkit is not None and toolkit.version.split(".")[0] != build.cuda.split(".")[0]:
        problems.append(f"{toolkit.name} {toolkit.version} is CUDA {toolkit.version.split('.')[0]}; TensorFlow "
                        f"{version} is built with CUDA {build.cuda}")
    if cudnn is not None and build.cudnn and cudnn.version.split(".")[0] != build.cudnn.split(".")[0]:
        problems.append(f"cudnn {cudnn.version} is cuDNN {cudnn.version.split('.')[0]}; TensorFlow {version} needs "
                        f"cuDNN {build.cudnn}")
    if not problems:
        return ok("python.conda-cudatoolkit", f"conda's {have} match TensorFlow {version} (CUDA {build.cuda}, cuDNN "
                  f"{build.cudnn})")
    prefix = py.conda_prefix or ""
    names = " ".join(p.name for p in (toolkit, cudnn) if p)
    cmds = [f"conda remove -p {prefix} {names}" if _EXE.match(prefix) else f"conda remove {names}"]
    line = tf_install_line(facts, version) if build.has_and_cuda_extra else None
    if line:
        cmds.append(line)
    shadow = any(prefix and d.path.startswith(prefix) for d in py.ld_library_path)
    finding = fail if shadow else warn
    return finding("python.conda-cudatoolkit", f"conda's CUDA packages do not fit TensorFlow {version}: {problems[0]}",
                   *problems[1:], *(["LD_LIBRARY_PATH includes this environment's lib folder, so they are loaded "
                                     "first"] if shadow else []),
                   fix=Fix("Remove conda's CUDA packages and use TensorFlow's own CUDA wheels.", tuple(cmds),
                           verify=(verify_only(facts, "python.conda-cudatoolkit", "cuda.libraries"),)))
