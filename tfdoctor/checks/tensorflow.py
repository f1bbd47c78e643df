"""TensorFlow checks: installed, imports, a CUDA build, its CUDA libraries load, and it sees (and uses) the GPU.

Pure functions of the facts: the TensorFlow child's record (probes/tensorflow.py) and, for context, the other
probes' facts, read with getattr so a probe that did not run only makes a check less specific.
"""

from __future__ import annotations

from types import SimpleNamespace

from tfdoctor import safe, textmatch
from tfdoctor.checks import check
from tfdoctor.checks.commands import python_cmd, tf_import_line, tfdoctor_command, with_pip_fixes
from tfdoctor.checks.gpu import STATED_CUDA
from tfdoctor.machine import Belief, obs_evidence
from tfdoctor.model import Alternative, Finding, Fix, Status, fail, info, ok, skip, warn
from tfdoctor.tflog import cudnn_version

# Linux pip wheels with a CUDA build (tensorflow[and-cuda] from 2.14). macOS and Windows (>= 2.11) wheels are CPU-only.
_LINUX = "Linux"


# ----------------------------------------------------------------------------------------------- shared helpers
def _kb():
    from tfdoctor.knowledge import loader

    return loader


def tf_facts(facts):
    """The TensorFlow facts, or None when the probe did not run."""
    return getattr(facts, "tensorflow", None)


def minor(version: str | None) -> str | None:
    """'2.21.0' -> '2.21'."""
    if not version:
        return None
    parts = version.split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else None


def python_minor(tf) -> str | None:
    return minor(getattr(tf, "python_version", None))


def newest_tf_for_python(py: str | None, need_and_cuda: bool = False):
    """Newest TensorFlow build whose tested Python range holds `py` ('3.11'); None when none does."""
    builds = _kb().tf_versions()
    for b in reversed(builds):
        if need_and_cuda and not b.has_and_cuda_extra:
            continue
        if py is None or b.supports_python(py):
            return b
    return None


def install_command(tf, version: str | None, gpu: bool) -> str:
    """`<python> -m pip install 'tensorflow[and-cuda]==2.21.*'` (or plain tensorflow where there is no GPU)."""
    b = _kb().tf_build(version) if version else None
    extra = "[and-cuda]" if gpu and (b is None or b.has_and_cuda_extra) else ""
    pin = f"=={version}.*" if version else ""
    return f"{python_cmd(tf)} -m pip install 'tensorflow{extra}{pin}'"


def machine_has_nvidia_gpu(facts) -> bool | None:
    """True/False from the PCI bus or NVML; None when neither probe could tell."""
    pci = getattr(facts, "pci", None)
    nvml = getattr(facts, "nvml", None)
    # a PCI probe that could read neither sysfs nor lspci knows nothing either way
    devices = getattr(pci, "nvidia_devices", None) if getattr(pci, "source", None) != "none" else None
    gpus = getattr(nvml, "gpus", None)
    if devices:
        return True
    if gpus:
        return True
    if devices is not None and len(devices) == 0:
        return False
    if getattr(nvml, "init_ok", None) and gpus is not None and len(gpus) == 0:
        return False
    # neither probe could tell: an output that showed the GPU (TensorFlow's log naming it, nvidia-smi's table, lshw)
    # says it is there, as pci.nvidia-gpu reports it; what is only absent from an output proves no absence
    machine = getattr(facts, "machine", None)
    if machine is not None and machine.value("gpu.present") is True:
        return True
    return None


def machine_gpus(facts) -> list[tuple[str, str | None]]:
    """(name, compute capability) of every NVIDIA GPU the system probes saw: NVML first, else PCI. Where a record names
    the GPU but not its compute capability (nvidia-smi's table has no column for it), the knowledge base's for that
    exact model name, where every model of that name has the same one (a GT 730 is Kepler or Fermi: left unknown)."""
    nvml = getattr(facts, "nvml", None)
    out = [(getattr(g, "name", None) or "NVIDIA GPU", getattr(g, "compute_capability", None) or
            _cc_of_named(getattr(g, "name", None)))
           for g in (getattr(nvml, "gpus", None) or ())]
    if out:
        return out
    pci = getattr(facts, "pci", None)
    return [(getattr(d, "name", None) or "NVIDIA GPU", getattr(d, "compute_capability", None))
            for d in (getattr(pci, "nvidia_devices", None) or ())]


def _cc_of_named(name: str | None) -> str | None:
    ccs = {m.compute_capability for m in _kb().gpus_named(name)} if name else set()
    return next(iter(ccs)) if len(ccs) == 1 else None


def wants_gpu(facts) -> bool:
    return bool(machine_has_nvidia_gpu(facts)) or bool(getattr(facts, "require_gpu", False))


def _skip_if_not_run(fid: str, tf) -> Finding | None:
    if tf is None or tf.source == "none":
        why = getattr(tf, "probe_error", None) if tf is not None else None
        return skip(fid, "the TensorFlow probe did not run" + (f" ({why})" if why else ""))
    if tf.source == "log-only":
        return skip(fid, "only TensorFlow's log is available (no probe record)")
    return None


# ----------------------------------------------------------------------------------------------- tf.installed
@check(
    "tf.installed",
    area="tensorflow",
    title="TensorFlow is installed",
    needs=("tensorflow",),
    what="Runs the diagnosed Python interpreter (the current one, or `--python PATH`) in a child process and "
         "looks for the `tensorflow` distribution and package there, with its version and install location.",
    why="tfdoctor diagnoses the interpreter your program runs with. A TensorFlow installed in another "
        "virtual environment, or as the deprecated `tensorflow-gpu` or the CPU-only `tensorflow-cpu`, is a common "
        "reason for 'no GPU'.",
    fix="Install TensorFlow with its CUDA libraries into the interpreter you run: "
        "`python -m pip install 'tensorflow[and-cuda]==2.21.*'` (Linux; TensorFlow 2.14 and newer).",
    links=("https://www.tensorflow.org/install/pip",),
)
@with_pip_fixes
def check_installed(facts) -> Finding:
    tf = tf_facts(facts)
    if (tf is None or tf.source != "child") and (refused := wheel_platform_refused(facts) or pip_too_old(facts)):
        return refused
    if (tf is None or tf.source != "child") and (missing := facts.machine.told("tf.module_missing")) is not None:
        return _module_missing(facts, tf, missing)
    if (s := _skip_if_not_run("tf.installed", tf)) is not None:
        return s
    if tf.ended == "not-found":
        return fail("tf.installed", f"the Python interpreter {tf.python} was not found",
                    tf.log_tail or "", fix=Fix("Point --python at the interpreter your program uses, e.g. a "
                                               "virtual environment's bin/python.",
                                               (tfdoctor_command(facts, "check", "--python", ".venv/bin/python"),)))
    gpu = wants_gpu(facts)
    py = python_minor(tf)
    if tf.installed is False:
        b = newest_tf_for_python(py)
        where = f"Python {tf.python_version} ({tf.python_executable or tf.python or 'current interpreter'})"
        if b is None:
            newest = _kb().tf_versions()[-1]
            return fail("tf.installed", f"TensorFlow is not installed, and no TensorFlow release supports {where}",
                        f"TensorFlow {newest.version} supports Python {newest.python_min} to {newest.python_max}.",
                        fix=Fix(f"Create a virtual environment with Python {newest.python_max} and install "
                                f"TensorFlow {newest.version} there.",
                                (f"python{newest.python_max} -m venv .venv",
                                 install_command(None, newest.version, gpu).replace(python_cmd(None),
                                                                                     ".venv/bin/python", 1))))
        return fail("tf.installed", f"TensorFlow is not installed for {where}",
                    *([f"`{tf.import_failure.line}`"] if tf.import_failure else []),
                    fix=Fix(f"Install TensorFlow {b.version} into this interpreter"
                            + (" with the CUDA libraries from pip" if gpu else "")
                            + "; or, if your TensorFlow lives in another environment (tfdoctor installed with pipx), "
                              "point tfdoctor at that environment's Python.",
                            (install_command(tf, b.version, gpu),),
                            (Alternative("your TensorFlow lives in another environment, e.g. the project's .venv",
                                         (tfdoctor_command(facts, "check", "--python", ".venv/bin/python"),)),)))
    dist = tf.tf_distribution
    version = tf.tf_version
    where = f" in {tf.location}" if tf.location else ""
    env = f"Python {tf.python_version}" if tf.python_version else "the diagnosed Python"
    if tf.virtual_env or tf.virtualenv:
        env += f", virtual environment {tf.virtual_env or tf.python_executable}"
    details = [f"interpreter: {tf.python_executable or tf.python} ({env})"]
    if dist:
        details.append(f"distribution: {dist[0]} {dist[1]}")
    if tf.installed is None:
        return info("tf.installed", "whether TensorFlow is installed is unknown: the child ended before saying",
                    *details)
    tf_dists = [(n, v) for n, v in tf.distributions if n in ("tensorflow", "tensorflow-cpu", "tensorflow-gpu")]
    if tf.distribution("tensorflow-gpu"):
        target = minor(version) if version and tuple(map(int, minor(version).split("."))) >= (2, 14) else None
        b = _kb().tf_build(target) if target else newest_tf_for_python(py, need_and_cuda=True)
        return warn("tf.installed", f"TensorFlow {version} is installed as the deprecated `tensorflow-gpu` package",
                    "Since 2.1 `tensorflow` includes GPU support; `tensorflow-gpu` gets no new releases.", *details,
                    fix=Fix("Replace it with `tensorflow[and-cuda]`.",
                            (f"{python_cmd(tf)} -m pip uninstall -y tensorflow-gpu",
                             install_command(tf, b.version if b else None, True))))
    if len(tf_dists) > 1:
        names = ", ".join(f"{n} {v}" for n, v in tf_dists)
        return warn("tf.installed", f"several TensorFlow distributions are installed together: {names}",
                    "They share the `tensorflow` package folder; whichever was installed last wins.", *details,
                    fix=Fix("Keep one: uninstall them all, then install the GPU build.",
                            (f"{python_cmd(tf)} -m pip uninstall -y " + " ".join(n for n, _ in tf_dists),
                             install_command(tf, minor(version), gpu))))
    return ok("tf.installed", f"TensorFlow {version or '(version unknown)'}{where}", *details)


def _module_missing(facts, tf, missing) -> Finding:
    """The program's own Python said it has no tensorflow (`No module named 'tensorflow'`): TensorFlow is installed for
    another interpreter than the one that ran (Jupyter from another environment, a virtual environment not activated,
    sudo's Python) or not at all (jupyter/notebook#3451)."""
    b = newest_tf_for_python(python_minor(tf)) if tf is not None else None
    gpu = wants_gpu(facts)
    install = install_command(tf, b.version if b else None, gpu)
    return Finding("tf.installed", Status.FAIL,
                   "The Python that ran the program has no TensorFlow ('No module named tensorflow'): it is installed "
                   "for another interpreter, or not at all", tuple(e.describe() for e in missing.evidence[:2]),
                   fix=Fix("Install TensorFlow into the interpreter that runs the program, or run the program with the "
                           "interpreter that has it (in Jupyter, the kernel's interpreter: `%pip install` in a cell "
                           "installs there).", (install,),
                           alternatives=(Alternative("TensorFlow is installed in another Python: register that "
                                                     "interpreter as a Jupyter kernel (run it with the Python that has "
                                                     "TensorFlow) and choose it in the notebook",
                                                     ("python3 -m pip install ipykernel",
                                                      "python3 -m ipykernel install --user --name tensorflow")),),
                           verify=(tf_import_line(tf, "tf.__version__"),)),
                   evidence=missing.evidence)


_ARCHES = ("x86_64", "aarch64", "ppc64le", "s390x", "armv7l", "i686", "amd64", "arm64")


def wheel_platform_refused(facts) -> Finding | None:
    """pip refused a TensorFlow wheel file (`... is not a supported wheel on this platform`) whose Python tag is the
    interpreter's own (cp36 for a stated Python 3.6.8): of the wheel's tags, its platform is the one this machine does
    not have (an x86_64 wheel on an aarch64 Jetson, or a 32-bit Python). None where the Python is unknown or is not
    the wheel's: then the Python version may be what does not fit (compat.python)."""
    refused = facts.machine.observed("pip-wheel-not-supported")
    stated = next((o.group("python_version") for o in facts.machine.observed("python-version-stated")
                   if o.group("python_version")), None)
    if not refused or not stated:
        return None
    o = refused[0]
    tag = o.group("py_tag") or ""
    if tag != "cp" + "".join(stated.split(".")[:2]):
        return None
    platform = o.group("platform") or ""
    arch = next((a for a in _ARCHES if platform.endswith(a)), platform)
    ev = facts.machine.evidence_of("pip-wheel-not-supported", "python-version-stated", "pip-no-tensorflow-wheel")
    return Finding("tf.installed", Status.FAIL,
                   f"TensorFlow cannot be installed: pip refuses the {o.group('wheel')} wheel although its Python tag "
                   f"({tag}) is this Python's ({stated}), so its platform ({arch}) is not this machine's",
                   tuple(e.describe() for e in ev[:3]),
                   fix=Fix(f"The wheel is built for {arch} and this machine (or its Python's bitness) is not. Check "
                           "the machine's architecture and the interpreter's bitness, then install a build made for "
                           "them: "
                           "on an NVIDIA Jetson (aarch64), NVIDIA's TensorFlow wheel for its JetPack release (NVIDIA's "
                           "'Installing TensorFlow for Jetson Platform' guide); elsewhere a build from source.",
                           ("uname -m",
                            "python3 -c 'import platform, struct; print(platform.machine(), struct.calcsize(\"P\") * 8)'"),
                           verify=("python3 -c 'import tensorflow as tf; print(tf.__version__)'",)),
                   evidence=ev)


# The last TensorFlow releases with manylinux1 wheels: 1.15.0 and 2.0.0rc0 on are manylinux2010 (and later
# manylinux2014 / manylinux_2_17), which pip older than 19.0 does not install (TensorFlow's pip guide: 'Requires pip
# version 19.0 or higher'). tensorflow#32698's reporter read the tags off PyPI: 2.0.0b1 manylinux1, 2.0.0rc0
# manylinux2010.
_LAST_MANYLINUX1 = ("1.14.0", "2.0.0a0", "2.0.0b0", "2.0.0b1")


_VERSIONS_LIST = textmatch.compile(r"\(from versions: ([0-9][0-9a-z., ]*)\)")


def _versions_wrapped(facts, o) -> str | None:
    """pip's `(from versions: ...)` list where a terminal or a forum wrapped it over several lines (FastMOT#8): read from
    the source the message came from, its lines from the message on joined."""
    for src in getattr(getattr(facts, "sources", None), "sources", ()) or ():
        if getattr(src, "name", None) != o.source:
            continue
        lines = list(src.lines) if src.lines else (src.text or "").splitlines()
        start = max(0, (o.line_no or 1) - 1)
        m = _VERSIONS_LIST.search(" ".join(ln.strip()[:2000] for ln in lines[start:start + 40]))
        if m is not None:
            return m.group(1)
    return None


def pip_too_old(facts) -> Finding | None:
    """pip found no TensorFlow wheel and the releases it offered end at the last manylinux1 ones (1.14.0, 2.0.0b1):
    it sees the older wheels for this interpreter but none of the manylinux2010 (and newer) wheels of 1.15 and later,
    so pip itself is too old (FastMOT#8: 'Please upgrade pip'; open_spiel#137: 'had to update pip first')."""
    for o in facts.machine.observed("pip-no-tensorflow-wheel"):
        listed = o.group("versions") or _versions_wrapped(facts, o)
        offered = [v.strip() for v in (listed or "").split(",") if v.strip()[:1].isdigit()]
        if not offered or offered[-1] not in _LAST_MANYLINUX1 or "1.14.0" not in offered:
            continue
        ev = facts.machine.evidence_of("pip-no-tensorflow-wheel")
        return Finding("tf.installed", Status.FAIL,
                       f"TensorFlow cannot be installed: the releases pip offers end at {offered[-1]}, the last with "
                       "manylinux1 wheels, so this pip is too old (before 19.0) to install the manylinux2010 and newer "
                       "wheels of TensorFlow 1.15 and later",
                       tuple(e.describe() for e in ev[:2]),
                       fix=Fix("Upgrade pip in the environment you install into, then install TensorFlow again.",
                               ("python3 -m pip install --upgrade pip",),
                               verify=("python3 -m pip --version   # 19.0 or newer",)),
                       evidence=ev)
    return None


# ----------------------------------------------------------------------------------------------- tf.import
def _quoted_log_lines(found: Finding, tf) -> Finding:
    """`found` (from TensorFlow's log alone), with the log's lines its details quote as its evidence."""
    if found.evidence or found.status not in (Status.FAIL, Status.WARN):
        return found  # (nothing to look up)
    from tfdoctor.machine import Evidence

    lines = tuple(getattr(tf, "log_lines", ()) or ())
    ev = []
    for d in found.details:
        quote = d.strip().strip("`").strip()
        no = next((n for n, line in enumerate(lines, 1) if quote in line), None) if len(quote) > 8 else None
        if no is not None:
            ev.append(Evidence("tensorflow.log", lines[no - 1].strip()[:1000], no))
    return found.or_evidence(tuple(ev[:3]))


@check(
    "tf.import",
    area="tensorflow",
    title="`import tensorflow` works",
    needs=("tensorflow",),
    after=("tf.installed", "cpu.avx"),
    what="Imports TensorFlow in a child process with a timeout and classifies how that ended: success, an "
         "ImportError (NumPy ABI, protobuf, glibc too old, a missing module), a crash (SIGILL on a CPU without "
         "AVX, SIGSEGV, SIGABRT), a hang, or garbage on stdout.",
    why="A failed import is the first wall: nothing about the GPU can be learnt until it works. The child keeps "
        "the crash away from tfdoctor and lets it quote the exact line.",
    fix="Depends on the cause, each with exact versions: `pip install 'numpy<2'` for a NumPy ABI mismatch with "
        "TensorFlow older than 2.18, `pip install 'protobuf==3.20.*'` for 'Descriptors cannot be created "
        "directly', a newer OS (glibc) or an older TensorFlow for `GLIBC_2.xx not found`, a CPU with AVX for "
        "'Illegal instruction'.",
)
@with_pip_fixes
def check_import(facts) -> Finding:
    tf = tf_facts(facts)
    if tf is not None and tf.source == "log-only" and (tf.log.has("illegal-instruction")
                                                      or tf.log.has("cpu-missing-instructions")):
        # a pasted "Illegal instruction (core dumped)" is enough to name the cause
        return _quoted_log_lines(_import_signal(tf), tf)
    if tf is not None and tf.source == "log-only" and tf.import_failure is not None:
        # a pasted traceback that names the cause
        return _quoted_log_lines(_import_failure(tf, tf.import_failure, python_cmd(tf)), tf)
    if tf is not None and tf.source == "log-only" and tf.log.missing_libraries and tf.log.has("tf-native-runtime-failed"):
        # TensorFlow 1.x links its CUDA libraries: one missing fails `import tensorflow` itself (its own words: 'Failed
        # to load the native TensorFlow runtime'); which library, and why, is tf.cuda-libs' finding
        return fail("tf.import", "`import tensorflow` failed: TensorFlow's native runtime could not load "
                    f"{', '.join(tf.log.missing_libraries[:3])} (tf.cuda-libs says why)",
                    fix=Fix("Make the CUDA libraries TensorFlow was built against loadable (tf.cuda-libs names "
                            "them), then import it again.", verify=(tf_import_line(tf),))).with_(
            caused_by="tf.cuda-libs")
    if (tf is None or tf.source != "child") and (told := _import_failure_told(facts, tf)) is not None:
        # the loader's or protobuf's own words, quoted anywhere in a paste (not only in TensorFlow's log)
        return told
    if tf is not None and tf.source == "log-only" and (devices := _devices_in_log(facts)):
        # TensorFlow's log goes on to its devices (found, registered or not): it got past `import tensorflow`
        return ok("tf.import", "`import tensorflow` worked: TensorFlow's log goes on to its devices",
                  devices[0].describe())
    if (s := _skip_if_not_run("tf.import", tf)) is not None:
        return s
    if tf.ended == "not-found" or tf.installed is False:
        return skip("tf.import", "TensorFlow is not installed")
    py = python_cmd(tf)
    if tf.ended == "signal":
        return _import_signal(tf)
    if tf.ended == "timeout":
        where = {"import": "`import tensorflow`", "devices": "listing devices (cuInit)", "matmul": "a matmul",
                 "libraries": "loading CUDA libraries"}.get(tf.step or "", "the TensorFlow probe")
        return fail("tf.import", f"{where} did not finish within {tf.timeout_s or tf.duration_s:.0f} s",
                    *(["last lines of the log:", tf.log_tail] if tf.log_tail else []),
                    fix=Fix("A hang in device listing usually means a GPU or driver in a bad state; check it, "
                            "and give a slow first import more time.",
                            ("nvidia-smi", tfdoctor_command(facts, "check", "--tf-timeout",
                                                            str(int((tf.timeout_s or 90) * 2))))))
    if tf.ended == "garbage":
        return fail("tf.import", "the TensorFlow child printed something that is not its JSON report",
                    f"stdout began with: {(tf.stdout_excerpt or '').strip()[:300]!r}",
                    fix=Fix("Something in the interpreter's start-up (a sitecustomize.py, a .pth file, a wrapper "
                            "script) prints on stdout; run it yourself to see what.",
                            (f"{py} -c 'import tensorflow as tf; print(tf.__version__)'",)))
    if tf.imported:
        took = f" in {tf.import_s:.1f} s" if tf.import_s is not None else ""
        return ok("tf.import", f"`import tensorflow` works{took}")
    failure = tf.import_failure
    if failure is None:
        return fail("tf.import", f"the TensorFlow child exited with status {tf.rc} before reporting",
                    *([tf.log_tail] if tf.log_tail else []),
                    fix=Fix("Run the import yourself to see the full error.",
                            (f"{py} -c 'import tensorflow'",)))
    return _import_failure(tf, failure, py)


def _devices_in_log(facts) -> tuple:
    """TensorFlow's own log lines about its devices (whether it registered a GPU, the GPU it found): TensorFlow prints
    them when a program lists or uses devices, after `import tensorflow` returned."""
    m = facts.machine
    sees = m.belief("tf.sees_gpu")
    ev = tuple(e for e in sees.evidence if e.source == "tensorflow.log") if sees.value is not None else ()
    return ev or tuple(e for e in m.evidence_of("tf-found-device", "tf-device-properties") if e.source == "tensorflow.log")


def _import_signal(tf) -> Finding:
    sig = tf.signal_name or "a signal"
    flags = tf.cpu_flags
    model = tf.cpu_model or "this CPU"
    if sig == "SIGILL" or tf.log.has("illegal-instruction") or tf.log.has("cpu-missing-instructions"):
        missing = [f.upper() for f in ("avx", "avx2", "fma") if flags is not None and f not in flags]
        details = []
        if flags is not None:
            details.append(f"CPU {model}: " + ("no " + ", ".join(missing) if missing else "has AVX, AVX2 and FMA"))
            details.append("CPU flags: " + " ".join(sorted(flags)))
        if flags is None:
            summary = ("`import tensorflow` died with 'Illegal instruction': this CPU lacks an instruction set the "
                       "wheel was built for (usually AVX)")
            hint = ("Check the CPU's flags; run on a CPU with AVX (in a VM, expose the host CPU: libvirt "
                    "host-passthrough, QEMU -cpu host), or build TensorFlow from source without AVX.")
        elif not missing:
            summary = f"`import tensorflow` was killed by {sig} (illegal instruction) although {model} has AVX"
            hint = ("The wheel may target newer instructions than this CPU has, or a native dependency is broken; "
                    "reinstall TensorFlow for this machine.")
        else:
            summary = f"`import tensorflow` was killed by {sig}: {model} has no AVX, which TensorFlow's wheels need"
            hint = ("Run on a CPU with AVX (in a VM, expose the host CPU: libvirt host-passthrough, QEMU -cpu host), "
                    "or build TensorFlow from source without AVX.")
        return fail("tf.import", summary, *details,
                    fix=Fix(hint, ("grep -o -w 'avx[^ ]*' /proc/cpuinfo | sort -u   # empty: no AVX",)))
    if sig == "SIGABRT" and tf.log.has("cpu-missing-instructions"):
        ins = ", ".join(tf.log.cpu_missing_instructions) or "AVX"
        return fail("tf.import", f"TensorFlow aborted: this CPU lacks {ins}",
                    fix=Fix("Run on a CPU with these instructions, or build TensorFlow from source."))
    return fail("tf.import", f"`import tensorflow` crashed with {sig}",
                *(["last lines of the log:", tf.log_tail] if tf.log_tail else []),
                fix=Fix("Reinstall TensorFlow into a fresh virtual environment; a crash in import usually means "
                        "mixed or broken native packages.",
                        (f"{python_cmd(tf)} -m venv --clear /tmp/tf-clean && /tmp/tf-clean/bin/python -m pip install "
                         f"'tensorflow[and-cuda]'",)))


_IMPORT_MESSAGES = {"tf-import-glibcxx-not-found": "glibcxx", "tf-import-glibc-not-found": "glibc",
                    "tf-import-protobuf-too-new": "protobuf", "tf-import-protobuf-too-old": "protobuf-old",
                    "tf-import-numpy-too-old": "numpy-too-old"}


def _import_failure_told(facts, tf) -> Finding | None:
    """An `import tensorflow` failure a paste quotes in the loader's or protobuf's own words (the kinds the child's
    import reads: an old libstdc++ or glibc, a protobuf too new or too old), wherever in the paste it is."""
    o = next(iter(facts.machine.observed(*_IMPORT_MESSAGES)), None)
    if o is None:
        return None
    failure = SimpleNamespace(kind=_IMPORT_MESSAGES[o.message], exception="", line=o.line.strip()[:500],
                              detail=o.group("detail"))
    # (the kinds read here use only the release and the C library of the TensorFlow facts, unknown without a probe)
    known = tf if tf is not None else SimpleNamespace(tf_version=None, libc_version=None)
    found = _import_failure(known, failure, python_cmd(tf))
    return found.or_evidence(facts.machine.evidence_of(o.message)[:2])


def _import_failure(tf, failure, py: str) -> Finding:
    quote = f"`{failure.line}`"
    version = tf.tf_version
    mv = minor(version)
    if failure.kind == "numpy-abi":
        numpy = tf.distribution("numpy")
        return fail("tf.import", f"TensorFlow {version or ''} was built against NumPy 1.x but NumPy {numpy or '2'} "
                    "is installed".replace("  ", " "), quote,
                    fix=Fix("Install a NumPy 1.x (TensorFlow older than 2.18 is built against it), or upgrade "
                            "TensorFlow to a release built for NumPy 2.",
                            (f"{py} -m pip install 'numpy<2'",)))
    if failure.kind == "numpy-too-old":
        # NumPy's C-API check: the wheel was compiled against a newer NumPy than the one installed (tensorflow#17301)
        return fail("tf.import", f"the installed NumPy is older than TensorFlow{' ' + version if version else ''} "
                    "was built against (its C API version is lower than the wheel's)", quote,
                    fix=Fix("Upgrade NumPy in the interpreter TensorFlow runs in, staying on NumPy 1.x (TensorFlow "
                            "older than 2.18 is built against it).", (f"{py} -m pip install --upgrade 'numpy<2'",),
                            verify=(f"{py} -c 'import numpy, tensorflow; print(numpy.__version__)'",)))
    if failure.kind == "protobuf":
        return fail("tf.import", "the installed protobuf is too new for this TensorFlow's generated code", quote,
                    fix=Fix("Install the protobuf this TensorFlow was generated for, or upgrade TensorFlow.",
                            (f"{py} -m pip install 'protobuf==3.20.*'",),
                            (Alternative("upgrade TensorFlow to the newest patch release of its minor version: the "
                                         "releases after protobuf 4.21 pin it below 3.20 (2.7.3 did, tensorflow#56266)",
                                         ()),),
                            verify=(f"{py} -c 'import tensorflow'",)))
    if failure.kind == "glibc":
        need = (failure.detail or "").replace("GLIBC_", "")
        have = tf.libc_version
        b = _kb().tf_build(mv) if mv else None
        return fail("tf.import", f"TensorFlow{' ' + version if version else ''} needs glibc {need or '(newer)'} but "
                    + (f"this system has glibc {have}" if have else "this system's glibc is older"), quote,
                    *([f"TensorFlow {b.version} wheels are {b.extra.get('manylinux', '')} (glibc >= {b.glibc_min})"]
                      if b and b.glibc_min else []),
                    fix=Fix("Upgrade the operating system (Ubuntu 20.04 has glibc 2.31, 22.04 has 2.35), run "
                            "TensorFlow in a container, install an older TensorFlow built for this glibc, or build "
                            "TensorFlow from source on this system (the TensorFlow team's answer for CentOS 6, "
                            "tensorflow#1402).",
                            ("ldd --version | head -1",)))
    if failure.kind == "protobuf-old":
        return fail("tf.import", "the installed protobuf is older than this TensorFlow's generated code (TensorFlow "
                    "needs protobuf 3 or newer)", quote,
                    fix=Fix("Upgrade protobuf in the interpreter TensorFlow runs in.",
                            (f"{py} -m pip install --upgrade 'protobuf>=3'",),
                            verify=(f"{py} -c 'import google.protobuf, tensorflow; print(google.protobuf.__version__)'",)))
    if failure.kind == "glibcxx":
        # whose libstdc++ was found: a conda environment's (its own, older package), or the system's (the
        # distribution's gcc is older than the toolchain that built the wheel: lakshayg/tensorflow-build#1, Ubuntu
        # 16.04's gcc 5 under a wheel of gcc 6.3; lhelontra/tensorflow-on-arm#13, 'apt-get install libstdc++6')
        where = failure.line
        conda = textmatch.search(r"(?:conda|miniforge|mambaforge)[^\s:]*/lib/libstdc\+\+", where) is not None
        system = textmatch.search(r"(?:^|[\s:])/usr/lib(?:64)?/(?:[\w-]+/)?libstdc\+\+", where) is not None
        conda_fix = ("conda install -c conda-forge 'libstdcxx-ng>=12'",)
        apt_fix = ("sudo apt install --only-upgrade libstdc++6",)
        if system and not conda:
            return fail("tf.import", f"the system's C++ runtime (libstdc++) is older than TensorFlow needs "
                        f"({failure.detail}): the wheel was built with a newer compiler than the distribution's",
                        quote,
                        fix=Fix("Upgrade the system's libstdc++ (on Ubuntu 16.04-18.04 the newer one comes with gcc "
                                "from the ubuntu-toolchain-r/test PPA), or install a TensorFlow built for this "
                                "distribution.", apt_fix,
                                verify=("strings /usr/lib/*/libstdc++.so.6 | grep GLIBCXX | tail -3   # the newest "
                                        "versions it provides",)))
        return fail("tf.import", f"the C++ runtime is older than TensorFlow needs ({failure.detail})", quote,
                    fix=Fix("A conda environment or LD_LIBRARY_PATH often puts an old libstdc++ first; update it.",
                            conda_fix,
                            alternatives=() if conda else (Alternative(
                                "the system's libstdc++ is the old one (no conda environment): upgrade it", apt_fix),)))
    if failure.kind == "missing-module":
        return fail("tf.import", f"TensorFlow's dependency `{failure.detail}` is missing", quote,
                    fix=Fix("Reinstall TensorFlow so pip installs its dependencies.",
                            (f"{py} -m pip install --force-reinstall '{_dist_name(tf)}=={safe.version(version)}'"
                             if safe.version(version) else f"{py} -m pip install --force-reinstall tensorflow",)))
    if failure.kind == "cuda-library":
        return fail("tf.import", f"`import tensorflow` needs {failure.detail}, which is not installed", quote,
                    fix=Fix("Install TensorFlow with its CUDA libraries from pip.",
                            (install_command(tf, mv if mv and _has_and_cuda(mv) else None, True),)))
    if failure.kind == "cpu-instructions":
        return fail("tf.import", "TensorFlow aborted: this CPU lacks instructions the wheel was built for", quote,
                    fix=Fix("Run on a CPU with AVX, or build TensorFlow from source."))
    if failure.kind == "dll":
        return fail("tf.import", "a Windows DLL could not be loaded", quote,
                    fix=Fix("Install the Microsoft Visual C++ Redistributable; for a GPU use WSL2."))
    return fail("tf.import", f"`import tensorflow` failed: {failure.exception or 'error'}", quote,
                fix=Fix("Run the import yourself for the full traceback.", (f"{py} -c 'import tensorflow'",)))


def _dist_name(tf) -> str:
    """The installed TensorFlow distribution's name, for a command (only in a package name's strict shape)."""
    dist = tf.tf_distribution
    return (safe.package(dist[0]) if dist else None) or "tensorflow"


def _has_and_cuda(version: str) -> bool:
    b = _kb().tf_build(version)
    return bool(b and b.has_and_cuda_extra)


# ----------------------------------------------------------------------------------------------- tf.cuda-build
@check(
    "tf.cuda-build",
    area="tensorflow",
    title="TensorFlow is a CUDA build",
    needs=("tensorflow",),
    after=("tf.import",),
    what="Reads `tf.sysconfig.get_build_info()`: is_cuda_build, the CUDA and cuDNN versions and the compute "
         "capabilities compiled in; in a paste, the variant conda lists (of TensorFlow or PyTorch), PyTorch's own "
         "'Torch not compiled with CUDA enabled', ONNX Runtime's and OpenCV's words for a build without CUDA, and pip "
         "listing a CPU-only package beside its GPU one (tensorflow, onnxruntime).",
    why="`tensorflow-cpu`, the macOS wheels and the native Windows wheels from 2.11 on have no CUDA at all: no "
        "driver or library can make them use an NVIDIA GPU.",
    fix="On Linux: `pip uninstall -y tensorflow-cpu && pip install 'tensorflow[and-cuda]==2.21.*'`. On Windows, "
        "use WSL2 (TensorFlow 2.10 was the last native-Windows GPU release). macOS has no CUDA build.",
    links=("https://www.tensorflow.org/install/pip",),
)
@with_pip_fixes
def check_cuda_build(facts) -> Finding:
    tf = tf_facts(facts)
    said = facts.machine.belief("tf.cuda_build")
    if (tf is None or tf.source != "child") and said.value is False:
        # a pasted `tf.test.is_built_with_cuda()` answering False (the user's own interpreter said so), or conda
        # listing a CPU variant of the package
        conda = bool(facts.machine.observed("conda-tensorflow-cpu-build"))
        info_said = bool(facts.machine.observed("tf-build-info-not-cuda"))
        if conda and not info_said and (pip_gpu := _pip_gpu_beside_conda_cpu(facts)) is not None:
            return pip_gpu
        how = ("conda lists a CPU variant of the package" if conda else
               "tf.sysconfig.get_build_info() says is_cuda_build False" if info_said else
               "tf.test.is_built_with_cuda() printed False")
        return Finding("tf.cuda-build", Status.FAIL, f"This TensorFlow is not a CUDA build ({how}): no driver or "
                       "library can make it use the GPU",
                       tuple(e.describe() for e in said.evidence[:2]),
                       fix=Fix("Install the CUDA build of TensorFlow into the same environment.",
                               (install_command(tf, None, True),),
                               alternatives=(Alternative("a conda environment: install conda-forge's CUDA variant of "
                                                         "tensorflow (its build string starts with 'cuda': check with "
                                                         "`conda list tensorflow`)", ()),),
                               verify=(f"{python_cmd(tf)} -c 'import tensorflow as tf; "
                                       "print(tf.test.is_built_with_cuda())'",)),
                       evidence=said.evidence)
    if (tf is None or tf.source != "child") and said.value is None and (other := _other_build_told(facts)) is not None:
        return other
    if (s := _skip_if_not_run("tf.cuda-build", tf)) is not None:
        return s
    if not tf.imported or tf.build is None:
        return skip("tf.cuda-build", "TensorFlow did not import, so its build is unknown")
    b = tf.build
    version = tf.tf_version
    gpu = wants_gpu(facts)
    if b.is_cuda_build:
        archs = ", ".join(b.compute_capabilities) or "unknown"
        return ok("tf.cuda-build", f"TensorFlow {version} is built with CUDA {b.cuda_version} and cuDNN "
                  f"{b.cudnn_version}", f"compute capabilities compiled in: {archs}")
    make = fail if gpu else info
    if b.is_rocm_build:
        return make("tf.cuda-build", f"TensorFlow {version} is a ROCm (AMD) build, not a CUDA build",
                    fix=Fix("Install the CUDA build for NVIDIA GPUs.",
                            (f"{python_cmd(tf)} -m pip uninstall -y {_dist_name(tf)}",
                             install_command(tf, _target_minor(tf), True)))) if gpu else \
            info("tf.cuda-build", f"TensorFlow {version} is a ROCm (AMD) build")
    if tf.system == "Darwin":
        return make("tf.cuda-build", f"TensorFlow {version} on macOS has no CUDA build",
                    "NVIDIA GPUs are not supported on macOS; Apple GPUs go through tensorflow-metal.",
                    fix=Fix("Use Linux for an NVIDIA GPU, or tensorflow-metal for an Apple GPU.",
                            (f"{python_cmd(tf)} -m pip install tensorflow-metal",)))
    if tf.system == "Windows":
        return make("tf.cuda-build", f"TensorFlow {version} on native Windows has no CUDA build",
                    "TensorFlow 2.10 was the last release with GPU support on native Windows.",
                    fix=Fix("Run TensorFlow in WSL2 with `tensorflow[and-cuda]`, or install TensorFlow 2.10 with "
                            "CUDA 11.2 and cuDNN 8.1.",
                            ("wsl --install -d Ubuntu", "python -m pip install 'tensorflow<2.11'")))
    if tf.distribution("tensorflow-cpu"):
        target = _target_minor(tf)
        return make("tf.cuda-build", f"`tensorflow-cpu` {tf.distribution('tensorflow-cpu')} is installed: a "
                    "CPU-only build", fix=Fix("Replace it with the CUDA build.",
                                              (f"{python_cmd(tf)} -m pip uninstall -y tensorflow-cpu",
                                               install_command(tf, target, True))))
    return make("tf.cuda-build", f"TensorFlow {version} is a CPU-only build (is_cuda_build is False)",
                fix=Fix("Install the official CUDA build from PyPI.",
                        (f"{python_cmd(tf)} -m pip uninstall -y {_dist_name(tf)}",
                         install_command(tf, _target_minor(tf), True))))


def _other_build_told(facts) -> Finding | None:
    """Where nothing said what TensorFlow's own build is: another framework or library in the output said it has no
    CUDA (PyTorch, JAX, ONNX Runtime, OpenCV), pip lists a CPU-only package beside its GPU one (onnxruntime,
    tensorflow before 2.1), or TensorFlow ran and its CUDA platform printed nothing. The first that applies."""
    m = facts.machine
    torch = m.belief("torch.cuda_build")
    if torch.value is None:
        torch = _collect_env_cpu_build(facts) or torch
    if torch.value is False:
        return _torch_cpu_build(facts, torch)
    if (jax := m.belief("jax.cuda_build")).value is False:
        return _jax_cpu_build(facts, jax)
    if (ort := m.belief("ort.cuda_build")).value is False:
        return _ort_cpu_build(facts, ort)
    if (pair := _ort_cpu_beside_gpu(facts)) is not None:
        return pair
    if (cv := m.belief("opencv.cuda_build")).value is False:
        return _opencv_cpu_build(facts, cv)
    return _cpu_package_beside_gpu(facts) or _cuda_platform_silent(facts)


def _pip_gpu_beside_conda_cpu(facts) -> Finding | None:
    """conda lists its CPU variant of tensorflow and, in the same environment, pip's tensorflow-gpu (`tensorflow-gpu
    2.2.0 <pip>`): both write the one `tensorflow` package folder, so which build Python imports depends on which was
    installed last; conda's listing alone does not settle it (tensorflow#42738: the GPU build was the one in use).
    Information that says how to tell, not the CPU build as a fact."""
    m = facts.machine
    pip_gpu = [o for o in m.observed("pip-tensorflow-distribution")
               if (o.group("dist2") or "").replace("_", "-") == "tensorflow-gpu" and ("<pip>" in o.line or "pypi" in o.line)]
    if not pip_gpu:
        return None
    ev = m.evidence_of("conda-tensorflow-cpu-build")[:1] + (obs_evidence(pip_gpu[0]),)
    tf = tf_facts(facts)
    return Finding("tf.cuda-build", Status.INFO,
                   "conda lists its CPU variant of tensorflow and pip's tensorflow-gpu in the same environment: both "
                   "install the same `tensorflow` package, so the build Python imports is whichever was installed last",
                   tuple(e.describe() for e in ev),
                   fix=Fix("Check which build is imported; if it prints False, remove conda's tensorflow packages and "
                           "keep one TensorFlow, the CUDA build.", (tf_import_line(tf, "tf.test.is_built_with_cuda()"),),
                           verify=(tf_import_line(tf, "tf.config.list_physical_devices('GPU')"),)),
                   evidence=ev)


def _jax_cpu_build(facts, told) -> Finding:
    """The JAX in use has no CUDA backend: JAX's own warning (`a CUDA-enabled jaxlib is not installed`, a plain `pip
    install jax`: ColabDock#28) or conda resolving conda-forge's CPU variant of jaxlib (jax#14606, whose fix JAX's
    README adopted: `jaxlib=*=*cuda*`)."""
    conda = any(e.message == "conda-jaxlib-cpu-build" for e in told.evidence)
    how = "conda chose conda-forge's CPU variant of jaxlib" if conda else "JAX says no CUDA-enabled jaxlib is installed"
    others = [o for o in facts.machine.observations if o.message != "jax-cpu-only-jaxlib"
              and (o.message.startswith("jax") or o.message == "conda-jaxlib-cpu-build")]
    if not conda and not others:
        # JAX's warning alone: many programs import JAX beside the framework they run on (a notebook that trains with
        # PyTorch: kohya-colab, 'it's clearly using the gpu, so you can ignore it'); true of JAX, a cause only where
        # the program runs on JAX
        return info("tf.cuda-build", "JAX (imported here) has no CUDA backend and runs on the CPU: this matters only "
                    "if your program computes with JAX", *(e.describe() for e in told.evidence[:1]),
                    fix=Fix("If the program uses JAX, install JAX's CUDA build.",
                            ("python3 -m pip install -U 'jax[cuda12]'",),
                            verify=("python3 -c 'import jax; print(jax.devices())'",)))
    pip = ("python3 -m pip install -U 'jax[cuda12]'",)
    cf = ("conda install -c conda-forge jax 'jaxlib=*=*cuda*'",)
    return Finding("tf.cuda-build", Status.FAIL, f"This JAX has no CUDA backend ({how}): it runs on the CPU whatever "
                   "the driver", tuple(e.describe() for e in told.evidence[:2]),
                   fix=Fix("Install JAX's CUDA build into the same environment (its CUDA 12 wheels need an NVIDIA driver "
                           "of 525 or newer).", cf if conda else pip,
                           alternatives=((Alternative("pip instead of conda (JAX's CUDA wheels bring their own CUDA "
                                                      "libraries)", pip),) if conda else
                                         (Alternative("a conda environment: conda-forge's CUDA variant of jaxlib", cf),)),
                           verify=("python3 -c 'import jax; print(jax.devices())'",)),
                   evidence=told.evidence)


def _nvidia_gpu_here(m) -> bool:
    """Whether an NVIDIA GPU (or its driver) is known on this machine: where a library without CUDA is then a failure,
    not only a warning."""
    return m.value("gpu.present") is True or m.value("driver.loaded") is True


def _ort_cpu_build(facts, told) -> Finding:
    """ONNX Runtime was asked for its CUDA execution provider and lists none (`Available providers:
    'CPUExecutionProvider'`): a CPU-only build (the `onnxruntime` wheel, not `onnxruntime-gpu`; a source build without
    --use_cuda). Programs that ask for CUDA first and the CPU after (insightface, rembg) print it on any machine, so it
    fails only where an NVIDIA GPU or driver is known, warns where nothing says, and informs where none is."""
    m = facts.machine
    providers = m.named("providers", "ort-cuda-provider-not-built")
    gpu_here = _nvidia_gpu_here(m)
    summary = (f"This ONNX Runtime is a CPU-only build (its providers: {providers or 'no CUDAExecutionProvider'}): "
               "the program asked for CUDA and runs on the CPU")
    fix = Fix("Install ONNX Runtime's CUDA build into the same environment, in place of the CPU one (both installed, "
              "the CPU one can shadow it).",
              ("python3 -m pip uninstall -y onnxruntime onnxruntime-gpu", "python3 -m pip install onnxruntime-gpu"),
              verify=("python3 -c 'import onnxruntime as ort; print(ort.get_available_providers())'",))
    if not gpu_here and m.value("gpu.present") is False:
        return info("tf.cuda-build", summary + " (no NVIDIA GPU here, so that is as it should be)",
                    *(e.describe() for e in told.evidence[:1]))
    return Finding("tf.cuda-build", Status.FAIL if gpu_here else Status.WARN, summary,
                   tuple(e.describe() for e in told.evidence[:1]), fix=fix, evidence=told.evidence)


def _ort_cpu_beside_gpu(facts) -> Finding | None:
    """pip lists both `onnxruntime` (the CPU-only build) and `onnxruntime-gpu` in one environment: both install the one
    `onnxruntime` package, so whichever was installed last is imported, and a dependency that requires `onnxruntime`
    replaces the GPU build (GLiNER#267: get_device() printed CPU; microsoft/onnxruntime#10685: install only
    onnxruntime-gpu, which has the CPU provider too)."""
    m = facts.machine
    seen = {(o.group("dist") or "").replace("_", "-"): o for o in m.observed("pip-onnxruntime-distribution")}
    if not {"onnxruntime", "onnxruntime-gpu"} <= set(seen):
        return None
    ev = tuple(obs_evidence(seen[d]) for d in ("onnxruntime", "onnxruntime-gpu"))
    return Finding("tf.cuda-build", Status.FAIL if _nvidia_gpu_here(m) else Status.WARN,
                   "Both `onnxruntime` (the CPU-only build) and `onnxruntime-gpu` are installed in this environment: "
                   "they share one package folder, so the one installed last is the ONNX Runtime that imports, and a "
                   "dependency requiring `onnxruntime` replaces the GPU build", tuple(e.describe() for e in ev),
                   fix=Fix("Remove both and install only onnxruntime-gpu (it has the CPU provider too).",
                           ("python3 -m pip uninstall -y onnxruntime onnxruntime-gpu",
                            "python3 -m pip install onnxruntime-gpu"),
                           verify=("python3 -c 'import onnxruntime as ort; print(ort.get_available_providers())'",)),
                   evidence=ev)


def _opencv_cpu_build(facts, told) -> Finding:
    """OpenCV's DNN module was asked for its CUDA backend and has none (`DNN module was not built with CUDA backend;
    switching to CPU`): every opencv-python wheel on PyPI is built without CUDA (opencv#18229: 'The CUDA backend wasn't
    enabled during build'). Only a source build with CUDA and cuDNN has it."""
    return Finding("tf.cuda-build", Status.FAIL if _nvidia_gpu_here(facts.machine) else Status.WARN,
                   "This OpenCV was built without CUDA: its DNN module was asked for the CUDA backend and runs on the "
                   "CPU (no opencv-python wheel on PyPI has CUDA)", tuple(e.describe() for e in told.evidence[:1]),
                   fix=Fix("Build OpenCV (with opencv_contrib) from source with CUDA and cuDNN, and install that build "
                           "in place of the opencv-python wheels: configure it with -D WITH_CUDA=ON -D WITH_CUDNN=ON "
                           "-D OPENCV_DNN_CUDA=ON.", (),
                           verify=("python3 -c 'import cv2; print(cv2.cuda.getCudaEnabledDeviceCount())'",)),
                   evidence=told.evidence)


def _collect_env_cpu_build(facts) -> Belief | None:
    """PyTorch's collect_env report says both that it was built without CUDA (`CUDA used to build PyTorch: Could not
    collect`, its word for torch.version.cuda None) and that CUDA is not available: a CPU-only build (pytorch#123835,
    PyPI's aarch64 wheel on a GH200). Either line alone is not enough (a vendor build printed the first with CUDA
    available)."""
    m = facts.machine
    unavailable = {u.source for u in m.observed("torch-collect-env-cuda-unavailable")}
    same = any(b.source in unavailable for b in m.observed("torch-collect-env-no-cuda-build"))
    if not same or not wants_gpu(facts):
        return None  # a CPU-only PyTorch where no NVIDIA GPU is known to be wanted is as it should be
    ev = m.evidence_of("torch-collect-env-no-cuda-build")[:1] + m.evidence_of("torch-collect-env-cuda-unavailable")[:1]
    return Belief("torch.cuda_build", False, ev)


def _torch_cpu_build(facts, told) -> Finding:
    """The PyTorch in use is a CPU-only build: conda lists its CPU variant (a solver's fallback, a channel's default:
    micro-sam#356, pytorch#23778) or PyTorch says so itself ('Torch not compiled with CUDA enabled', pytorch#30664)."""
    conda = any(e.message == "conda-pytorch-cpu-build" for e in told.evidence)
    collect_env = any(e.message == "torch-collect-env-no-cuda-build" for e in told.evidence)
    how = ("conda lists its CPU variant" if conda else
           "its collect_env report: 'CUDA used to build PyTorch: Could not collect', CUDA not available" if collect_env
           else "PyTorch says 'Torch not compiled with CUDA enabled'")
    cf = ("conda install -c conda-forge 'pytorch=*=cuda*'",)
    pip = ("python3 -m pip uninstall -y torch", "python3 -m pip install torch")
    xf = next(iter(facts.machine.observed("xformers-torch-cpu-build")), None)
    if xf is not None and not conda:
        # xFormers names the CUDA build it was made for (`PyTorch 2.1.0+cu121`): that build, from PyTorch's index
        how = f"xFormers finds {xf.group('have')}+cpu where it was built for {xf.group('built')}+cu{xf.group('cu')}"
        pip = ("python3 -m pip uninstall -y torch",
               f"python3 -m pip install 'torch=={xf.group('built')}' --index-url "
               f"https://download.pytorch.org/whl/cu{xf.group('cu')}")
    return Finding("tf.cuda-build", Status.FAIL, f"This PyTorch is a CPU-only build ({how}): no driver or library can "
                   "make it use the GPU", tuple(e.describe() for e in told.evidence[:2]),
                   fix=Fix("Install a CUDA build of PyTorch into the same environment (on Linux aarch64, from "
                           "PyTorch's CUDA wheel index, which pytorch.org/get-started/locally names: older PyPI "
                           "aarch64 wheels are CPU-only).", cf if conda else pip,
                           alternatives=((Alternative("pip, on Linux x86_64 (PyPI's torch wheels are CUDA builds): "
                                                      "remove the conda package first", pip),) if conda else
                                         (Alternative("a conda environment: conda-forge's CUDA variant", cf),)),
                           verify=("python3 -c 'import torch; print(torch.version.cuda, torch.cuda.is_available())'",)),
                   evidence=told.evidence)


# What a CPU-only TensorFlow prints as well (its CPU-feature lines, "no GPU"), and what people state or pip prints:
# none of these is TensorFlow's CUDA platform speaking.
_SAID_ON_CPU_TOO = ("tf-no-known-devices", "tf-list-gpus-empty", "tf-num-gpus-zero", "cpu-feature-guard", "tf-graph-ran",
                    "cpu-missing-instructions",
                    "illegal-instruction", "kernel-trap-invalid-opcode-tf", "tf-version-stated", "cuda-version-stated",
                    "tf-version-stated-bare", "cuda-version-stated-bare",
                    "tf-built-from-source-stated",
                    "gpu-model-stated", "desktop-about-graphics", "wsl-stated", "secure-boot-stated", "secure-boot-stated-off",
                    "pip-tensorflow-version", "pip-install-tensorflow-pinned", "pip-no-tensorflow-wheel")


def _cpu_package_beside_gpu(facts) -> Finding | None:
    """pip lists both `tensorflow` and `tensorflow-gpu` in one environment, of a release before 2.1 (or of a release
    not recorded) and nothing shows TensorFlow using a GPU. Before 2.1 `tensorflow` was the CPU-only build; both
    distributions install the same `tensorflow` package folder, so whichever was installed last is the TensorFlow that
    imports, and a dependency requiring `tensorflow` overwrites the GPU build (OCR-D/ocrd_all#220)."""
    m = facts.machine
    seen: set[str] = set()
    versions: list[str] = []
    shown = {(o.source, o.line_no): o.group("version") for o in m.observed("pip-show-version")}
    for o in m.observed("pip-tensorflow-distribution"):
        seen.add((o.group("dist") or o.group("dist2") or "").replace("_", "-"))
        # pip list's and pip freeze's version on the line; pip show's on the line after its Name line
        version = o.group("version") or shown.get((o.source, o.line_no + 1))
        if version:
            versions.append(version)
    if not {"tensorflow", "tensorflow-gpu"} <= seen or m.value("tf.sees_gpu") is True:
        return None
    stated = m.value("tf.version")
    parsed = [v for v in (_kb().parse_version(x) for x in (*versions, *([stated] if isinstance(stated, str) else ())))
              if v]
    if any(v >= (2, 1) for v in parsed):
        return None  # from 2.1 both are CUDA builds
    release = f"{parsed[0][0]}.{parsed[0][1]}" if parsed and len(parsed[0]) >= 2 else None
    ev = m.evidence_of("pip-tensorflow-distribution")[:2]
    tf = tf_facts(facts)
    py = python_cmd(tf)
    gpu_pin = f"'tensorflow-gpu=={release}.*'" if release else "'tensorflow-gpu<2.1'"
    summary = ("Both `tensorflow` (before 2.1 the CPU-only build) and `tensorflow-gpu` are installed in this "
               "environment: they share one package folder, and the one installed last is the TensorFlow that "
               "imports" + (f" (TensorFlow {release})" if release else " (its release was not recorded)"))
    return Finding("tf.cuda-build", Status.FAIL if release or m.value("tf.sees_gpu") is False else Status.WARN,
                   summary, tuple(e.describe() for e in ev),
                   fix=Fix("Remove both and install only the GPU package; where another package requires "
                           "`tensorflow`, install it with --no-deps or make it require `tensorflow-gpu`.",
                           (f"{py} -m pip uninstall -y tensorflow tensorflow-gpu", f"{py} -m pip install {gpu_pin}"),
                           verify=(tf_import_line(tf, "tf.test.is_built_with_cuda()"),)),
                   evidence=ev)


def _cuda_platform_silent(facts) -> Finding | None:
    """TensorFlow ran and had no GPU, and nothing in what it printed came from its CUDA platform. A CUDA build says
    what it tried when its first session or device list is made, at every release: the CUDA libraries it opened or
    could not open (`successfully opened CUDA library`, `Could not load dynamic library`), `failed call to cuInit`,
    the GPU it found. A CPU-only build (the `tensorflow` package before 2.1 next to `tensorflow-gpu`,
    `tensorflow-cpu`, a source build without --config=cuda, a community wheel) prints none of it (tensorflow#311,
    #29362). TF_CPP_MIN_LOG_LEVEL can hide those lines too: a warning, with the one line that tells."""
    m = facts.machine
    sees = m.belief("tf.sees_gpu")
    if sees.value is None and m.observed("tf-graph-ran") and m.value("driver.loaded") is True \
            and not any(o.message not in (*_SAID_ON_CPU_TOO, *_DRIVER_ANSWERS) for o in m.observations):
        # TensorFlow ran a graph beside a driver that answers, and its log says nothing of CUDA (CHEUI#9)
        ran = m.evidence_of("tf-graph-ran")[:1] + m.evidence_of(*_DRIVER_ANSWERS)[:1]
        return _silent_finding(facts, ran)
    if sees.value is not False or any(o.message not in _SAID_ON_CPU_TOO for o in m.observations):
        return None
    return _silent_finding(facts, sees.evidence)


# nvidia-smi's table: a driver that answers, whatever TensorFlow printed
_DRIVER_ANSWERS = ("smi-table-driver-version",)


def _silent_finding(facts, evidence) -> Finding:
    m = facts.machine
    version = m.value("tf.version")
    mv = minor(version) if isinstance(version, str) else None
    old = mv is not None and _kb().parse_version(mv) < (2, 1)
    tf = tf_facts(facts)
    install = (f"{python_cmd(tf)} -m pip install 'tensorflow-gpu=={mv}.*'" if old else
               install_command(tf, mv if mv and _has_and_cuda(mv) else None, True))
    return Finding("tf.cuda-build", Status.WARN,
                   "TensorFlow ran without a GPU and printed nothing from its CUDA platform: the mark of a CPU-only "
                   "build", tuple(e.describe() for e in evidence[:2]) + (
                       "A CUDA build logs what it tries at its first session or device list (the CUDA libraries it "
                       "opens, `failed call to cuInit`, the GPU it finds); none of that is here (unless "
                       "TF_CPP_MIN_LOG_LEVEL hid it).",),
                   fix=Fix("Check the build; if it prints False, install TensorFlow's CUDA build into the same "
                           "environment" + (" (before 2.1 that is the separate `tensorflow-gpu` package)" if old
                                            else "") + ".",
                           (tf_import_line(tf, "tf.test.is_built_with_cuda()"), install),
                           verify=(tf_import_line(tf, "tf.config.list_physical_devices('GPU')"),)),
                   evidence=tuple(evidence))


def _target_minor(tf) -> str | None:
    """The TensorFlow minor to (re)install: the installed one when it has [and-cuda], else the newest for this Python."""
    mv = minor(tf.tf_version)
    if mv and _has_and_cuda(mv):
        return mv
    b = newest_tf_for_python(python_minor(tf), need_and_cuda=True)
    return b.version if b else mv


# ----------------------------------------------------------------------------------------------- tf.cuda-libs
@check(
    "tf.cuda-libs",
    area="tensorflow",
    title="CUDA libraries load",
    needs=("tensorflow",),
    after=("tf.cuda-build", "pci.nvidia-gpu", "env.container", "env.wsl", "driver.nvidia-module", "nvml.init",
           "compat.driver-cuda", "python.ld-library-path"),
    what="Tries, inside the TensorFlow child, to load by soname every CUDA library this build needs "
         "(libcuda.so.1 from the driver; libcudart, libcublas, libcublasLt, libcufft, libcusolver, libcusparse, "
         "libcudnn for its CUDA and cuDNN), where TensorFlow looks: the loader path and the pip `nvidia/*/lib` "
         "folders. Also reads TensorFlow's own 'Could not load dynamic library' lines and /proc/self/maps.",
    why="A CUDA build that cannot load one of these prints `Cannot dlopen some GPU libraries` and silently uses "
        "the CPU. Newer TensorFlow no longer names the missing library unless verbose logging is on.",
    fix="Install the libraries for the installed TensorFlow from pip: "
        "`python -m pip install 'tensorflow[and-cuda]==2.21.*'` (same version as installed). libcuda.so.1 comes "
        "with the NVIDIA driver, not from pip.",
)
@with_pip_fixes
def check_cuda_libs(facts) -> Finding:
    tf = tf_facts(facts)
    if tf is not None and tf.source == "log-only":
        return _cuda_libs_from_log(facts, tf)
    # no TensorFlow log or record: TensorFlow's cuDNN refusal, or a CUDA library the loader could not open, quoted in
    # a paste still says it
    if (tf is None or tf.source == "none") and (quoted := _tool_refused(facts) or _cudnn_mismatch(tf, facts)
                                                 or _libs_quoted(facts, tf)
                                                 or _cudart_status(facts, tf) or _xla_tools_warning(tf, facts)
                                                 or _stated_cuda_mismatch(facts, tf) or _libraries_unseen(facts, tf)):
        return quoted
    if (s := _skip_if_not_run("tf.cuda-libs", tf)) is not None:
        return s
    if not tf.imported or tf.build is None or not tf.build.is_cuda_build:
        return skip("tf.cuda-libs", "not a CUDA build of TensorFlow (or it did not import)")
    attempts = tf.library_attempts
    missing = [a for a in attempts if not a.loaded]
    log_missing = [lib for lib in tf.log.missing_libraries if lib not in {a.soname for a in attempts}]
    has_gpu = machine_has_nvidia_gpu(facts)
    if not attempts and not tf.log.missing_libraries:
        return skip("tf.cuda-libs", "the child did not try to load CUDA libraries")
    loaded = [a for a in attempts if a.loaded]
    loaded_text = [f"{a.soname}: {a.path or 'loaded'}" for a in loaded]
    if not missing and not log_missing:
        cudnn = _cudnn_mismatch(tf, facts)
        if cudnn is not None:
            return cudnn
        return _xla_tools_warning(tf) or ok("tf.cuda-libs", f"all {len(attempts)} CUDA libraries TensorFlow "
                                                 "needs load", *loaded_text)
    if has_gpu is False and not getattr(facts, "require_gpu", False):
        return info("tf.cuda-libs", "no NVIDIA GPU here, so the CUDA libraries are not needed "
                    f"({len(missing)} of {len(attempts)} are not installed)",
                    "not found: " + ", ".join([a.soname for a in missing] + log_missing))
    names = [a.soname for a in missing] + log_missing
    runtime = [n for n in names if n != "libcuda.so.1"]
    details = [f"{a.soname}: {a.error}" for a in missing if a.error] + [f"{n}: named in TensorFlow's log"
                                                                          for n in log_missing]
    if tf.pip_library_dirs:
        details.append("pip library folders searched: " + ", ".join(tf.pip_library_dirs))
    if not runtime:
        return fail("tf.cuda-libs", "libcuda.so.1 (part of the NVIDIA driver) cannot be loaded", *details,
                    fix=_driver_library_fix(facts))
    cuda = tf.build.cuda_version
    summary = f"TensorFlow {tf.tf_version} cannot load {', '.join(runtime)}" + (
        " (and libcuda.so.1, from the driver)" if "libcuda.so.1" in names else "")
    return fail("tf.cuda-libs", summary, *details, fix=_runtime_libs_fix(tf, runtime, cuda))


# the loader's words for a CUDA library it could not open, wherever a paste quotes them (ldd's `=> not found` too)
_QUOTED_LIBS = ("cuda-lib-cannot-open", "cuda-lib-cannot-open-for-a-library", "dso-load-failed", "import-so-missing",
                "ldd-cuda-lib-not-found", "ctranslate2-library-not-found", "cuda-lib-version-node-missing",
                "nvrtc-builtins-not-found")


def _libs_quoted(facts, tf, loaded: tuple[str, ...] = ()) -> Finding | None:
    """CUDA runtime libraries the loader could not open, as a paste quotes them (no TensorFlow log or record); none
    that TensorFlow's log shows opened (`loaded`: the quote is then of another run)."""
    obs = facts.machine.observed(*_QUOTED_LIBS)
    names = list(dict.fromkeys(o.group("library") for o in obs if o.group("library")))
    runtime = [n for n in names if n.startswith("lib") and not n.startswith(("libcuda.so", "libnvinfer"))
               and n not in loaded]
    if facts.machine.value("cuda.cudnn_missing") is True:
        # a missing cuDNN a more specific message named (cuDNN's own loader, ONNX Runtime's provider): cuda.libraries
        # reports it, with its pin
        runtime = [n for n in runtime if not n.startswith("libcudnn")]
    if not runtime:
        return None
    cuda = _cuda_for_libs(runtime)
    ev = facts.machine.evidence_of(*_QUOTED_LIBS)
    return Finding("tf.cuda-libs", Status.FAIL, "These CUDA libraries could not be loaded, as the paste quotes them: "
                   + ", ".join(runtime), tuple(e.describe() for e in ev[:3]),
                   fix=_named_libs_fix(tf, runtime, cuda, None, "the program"), evidence=ev)


def _conda_cuda_beside(facts, runtime: list[str], cuda: str | None):
    """(version, observation) of conda's cudatoolkit where the paste shows it in the environment (`conda install ...
    cudatoolkit=11.2`, a `conda list` row) and it is the CUDA major of the libraries that did not load: they are in
    $CONDA_PREFIX/lib, where pip's TensorFlow does not look (tensorflow#52988). cuDNN counts only when the same
    install line names cudnn too."""
    if not runtime or not cuda:
        return None
    for o in facts.machine.observed("conda-cudatoolkit-in-env"):
        version = o.group("cuda_version") or o.group("cuda_version2")
        if not version or version.split(".")[0] != str(cuda).split(".")[0]:
            continue
        if any(n.startswith("libcudnn") for n in runtime) and "cudnn" not in o.line:
            continue
        return version, o
    return None


# the conda environment's lib folder on LD_LIBRARY_PATH for every activation of the environment (an activate.d script)
_CONDA_LIB_PATH_ACTIVATE = ('mkdir -p "$CONDA_PREFIX/etc/conda/activate.d"',
                            "echo 'export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$CONDA_PREFIX/lib/' > "
                            '"$CONDA_PREFIX/etc/conda/activate.d/env_vars.sh"')


def _conda_lib_path_fix(tf, conda_cuda: str) -> Fix:
    """TensorFlow's pip guide for 2.5-2.13: conda's cudatoolkit, and the environment's lib folder on LD_LIBRARY_PATH
    for every activation (an activate.d script)."""
    return Fix(f"conda's cudatoolkit {conda_cuda} is installed in the environment, but pip's TensorFlow loads CUDA "
               "from the loader path, which does not include the environment's lib folder: add it to "
               "LD_LIBRARY_PATH for every activation of the environment (TensorFlow's pip guide for 2.5-2.13), then "
               "activate the environment again.",
               _CONDA_LIB_PATH_ACTIVATE,
               alternatives=(Alternative("for this shell only", ('export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:'
                                                                 '$CONDA_PREFIX/lib/"',)),
                             Alternative("conda-forge's own TensorFlow build in place of pip's: it finds the "
                                         "environment's CUDA without LD_LIBRARY_PATH",
                                         ("conda install -c conda-forge tensorflow",))),
               verify=(tf_import_line(tf, "tf.config.list_physical_devices('GPU')"),))


def _named_libs_fix(tf, runtime: list[str], cuda: str | None, tf_version: str | None,
                    who: str = "TensorFlow") -> Fix:
    """Install the CUDA libraries a log or a paste named, each pinned to the version its soname names."""
    named = ", ".join(runtime[:6])
    return Fix(f"Install the CUDA {cuda or ''} libraries {who} was built against ({named}: pip wheels, or NVIDIA's "
               "CUDA apt repository where no wheel exists), pinned to the version each soname names."
               .replace("CUDA  ", "CUDA "),
               library_install_commands(runtime, cuda, python_cmd(tf)),
               alternatives=and_cuda_alternative(cuda, tf_version, python_cmd(tf)) + _toolkit_off_path(cuda),
               verify=(tf_import_line(tf, "tf.config.list_physical_devices('GPU')"),) if who == "TensorFlow" else
               _libs_listed(runtime))


def _libs_listed(names: list[str]) -> tuple[str, ...]:
    """The loader cache's entries for these libraries (names validated as sonames: nothing else enters the command)."""
    bases = [n.split(".so", 1)[0] for n in names if textmatch.fullmatch(r"lib[A-Za-z0-9_+-]{1,40}\.so(?:\.\d+){0,3}", n)]
    return (f"ldconfig -p | grep -E '{'|'.join(dict.fromkeys(bases))}'   # each library listed",) if bases else ()


def _toolkit_off_path(cuda: str | None) -> tuple[Alternative, ...]:
    """The CUDA release's toolkit is installed but its library folder is not on the loader path where the program
    starts (an IDE, a desktop launcher, a service or sudo reads no shell start-up file: mxnet#347, RStudio). Its folder
    is NVIDIA's default: /usr/local/cuda-M.m up to CUDA 10 (one soname per release), /usr/local/cuda after (the
    soname names the major only). `cuda` comes from the soname table, never from the machine's text."""
    if not cuda or not textmatch.fullmatch(r"\d{1,2}(?:\.\d)?", cuda):
        return ()
    major = int(cuda.split(".")[0])
    folder = f"/usr/local/cuda-{cuda}/lib64" if major <= 10 and "." in cuda else "/usr/local/cuda/lib64"
    commands = (f"ls -d {folder}", f"export LD_LIBRARY_PATH={folder}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}")
    return (Alternative(f"CUDA {cuda} is installed but not on the loader path where the program starts (an IDE, a "
                        "desktop launcher, a service or sudo reads no shell start-up file): put its library folder "
                        "on LD_LIBRARY_PATH there", commands),)


def _runtime_libs_fix(tf, runtime: list[str], cuda: str | None) -> Fix:
    kb = _kb()
    mv = minor(tf.tf_version)
    if mv and _has_and_cuda(mv):
        return Fix(f"Install the CUDA libraries TensorFlow {mv} was built for, from pip, into the same interpreter.",
                   (install_command(tf, mv, True),))
    pips = sorted({p for n in runtime if (p := kb.pip_package_for_library(n, cuda))})
    apts = sorted({p for n in runtime if (p := kb.apt_package_for_library(n, cuda))})
    newest = newest_tf_for_python(python_minor(tf), need_and_cuda=True)
    cmds = []
    if apts:
        cmds.append("sudo apt install " + " ".join(apts) + "   # from NVIDIA's CUDA apt repository")
    if pips:
        cmds.append(f"{python_cmd(tf)} -m pip install " + " ".join(pips))
    alts = (Alternative(f"you can upgrade TensorFlow: {newest.version} installs its CUDA libraries as pip wheels",
                        (install_command(tf, newest.version, True),)),) if newest else ()
    return Fix(f"TensorFlow {mv} needs CUDA {cuda} libraries on the loader path (no [and-cuda] extra before 2.14).",
               tuple(cmds), alts)


def _driver_library_fix(facts) -> Fix:
    env = getattr(facts, "env", None)
    if getattr(env, "container", None):
        from tfdoctor.checks.system import _no_gpu_access_fix

        return _no_gpu_access_fix()
    if facts.machine.value("driver.loaded") is True:
        return _loaded_driver_library_fix(facts)
    from tfdoctor.checks.fixes import install_driver_commands

    return Fix("libcuda.so.1 is installed with the NVIDIA driver (its user-space part); install the driver for this "
               "GPU.", install_driver_commands(facts.pci, facts.driver, env))


def _loaded_driver_library_fix(facts) -> Fix:
    """The kernel module is loaded (its version was read), so the driver is there and only its user-space libcuda
    cannot be opened: not in the loader's cache, or its links broken (a link loop fails with 'too many levels of
    symbolic links'). The loader's own reason first, then the library of the loaded driver's version."""
    from tfdoctor.checks.compat import driver_version_seen
    from tfdoctor.checks.fixes import compute_library_command

    version = safe.version(driver_version_seen(facts))
    real = f"libcuda.so.{version}" if version else "the real libcuda file of the loaded driver"
    branch = version.split(".")[0] if version else None
    lib = compute_library_command(getattr(facts, "env", None), branch, reinstall=True)
    find = "find / -xdev -name 'libcuda.so*' -exec ls -l {} + 2>/dev/null"
    return Fix(f"The NVIDIA kernel module{' ' + version if version else ''} is loaded, so only its user-space library "
               "cannot be opened: libcuda.so.1 is not in the loader's cache, or its links are broken (a link that "
               f"points back at itself fails with 'too many levels of symbolic links'). Point libcuda.so.1 and "
               f"libcuda.so at {real} (or reinstall the driver's user-space part), then refresh the cache.",
               ("python3 -c \"import ctypes; ctypes.CDLL('libcuda.so.1')\"   # the loader's own reason",
                find + (f"   # each link should end at {real}" if version else ""),
                *((lib,) if lib else ()), "sudo ldconfig"),
               verify=("ldconfig -p | grep libcuda.so.1",
                       tf_import_line(tf_facts(facts), "tf.config.list_physical_devices('GPU')")))


def _with_lines(found: Finding | None, facts, *message_ids: str) -> Finding | None:
    """`found`, with the lines of these catalogue messages as its evidence where it has none of its own."""
    if found is None or facts is None:
        return found
    return found.or_evidence(facts.machine.evidence_of(*message_ids)[:3])


def _cudnn_mismatch(tf, facts=None) -> Finding | None:
    """TensorFlow refused the cuDNN it loaded: another version than the one it was built with (any release's wording),
    in TensorFlow's log or, where there is none, quoted in the rest of the paste. Not a line that jaxlib's build of the
    same code printed (its source path names it): that refusal is JAX's, which cuda.libraries reports."""
    found = cudnn_refused(facts, tf)
    if found is not None and facts is not None and getattr(tf, "source", None) != "child":
        lines = [o.line for o in facts.machine.observed("cudnn-version-mismatch")]
        if lines and all(_JAXLIB_PATH.search(line) for line in lines):
            return None
    return found


# jaxlib's builds of XLA's stream executor print TensorFlow's cuDNN refusal from their own source paths: TensorFlow's
# vendored copy in jaxlib up to 0.4 (`external/org_tensorflow/tensorflow/compiler/xla/...`), XLA's own repository after
# it (`external/xla/xla/...`; TensorFlow 2.15 and newer print `external/local_xla/xla/...`)
_JAXLIB_PATH = textmatch.compile(r"external/org_tensorflow/|external/xla/xla/")


def cudnn_refused(facts, tf=None) -> Finding | None:
    """TensorFlow's own refusal of the cuDNN it loaded, from its log record (`tf`) or as the machine model observed it
    in any source, with its lines (the finding tf.cuda-libs gives for it): None where nothing shows one."""
    return _with_lines(_cudnn_refused(tf, facts), facts, "cudnn-version-mismatch")


def _cudnn_refused(tf, facts=None) -> Finding | None:
    log = getattr(tf, "log", None)
    m = log.first("cudnn-version-mismatch") if log is not None else None
    if m is not None and log.cudnn_loaded:
        line, compiled, loaded = m.line, log.cudnn_compiled or "", log.cudnn_loaded
    else:
        o = next(iter(facts.machine.observed("cudnn-version-mismatch")), None) if facts is not None else None
        if o is None or not o.group("loaded"):
            return None
        line = o.line
        compiled, loaded = cudnn_version(o.group("compiled")) or "", cudnn_version(o.group("loaded"))
    if not compiled:
        # the line is cut after 'compiled': TensorFlow refused the cuDNN it loaded; the version it wants is not shown
        return fail("tf.cuda-libs", f"TensorFlow refuses the cuDNN {loaded} it loaded (its line is cut before the "
                    "version it was built with)", f"`{line}`", fix=_cudnn_fix(tf))
    major = compiled.split(".")[0]
    verify = ("ldconfig -p | grep libcudnn   # one libcudnn: the version TensorFlow was built with",)
    if major.isdigit() and int(major) >= 8:
        # cuDNN 8 and newer come as pip wheels per CUDA major (nvidia-cudnn-cu11 / -cu12)
        from tfdoctor.checks.fixes import cudnn_wheel_pin

        build = getattr(tf, "build", None)
        cuda_major = (safe.version(build.cuda_version) or "").split(".")[0] if build is not None else ""
        cmds = (f"{python_cmd(tf)} -m pip install {cudnn_wheel_pin(compiled, cuda_major)}",)
        summary = ("Install the cuDNN TensorFlow was built with into the same interpreter; an older copy on "
                   "LD_LIBRARY_PATH or in a conda environment wins otherwise.")
    else:
        # cuDNN 7 and older exist only as NVIDIA's archives and apt packages (libcudnn7 = 7.x.y.z-1+cudaX.Y)
        cmds = (f"sudo apt install 'libcudnn{major}={compiled}*'" if major.isdigit() else "",)
        cmds = tuple(c for c in cmds if c)
        summary = (f"Install cuDNN {compiled}, the version this TensorFlow was built with (NVIDIA's apt repository or "
                   f"its cuDNN archive), and take cuDNN {loaded} off the library path; or install the TensorFlow "
                   f"release built for cuDNN {loaded}.")
    return fail("tf.cuda-libs", f"cuDNN {loaded} is loaded but TensorFlow was built with cuDNN {compiled}",
                f"`{line}`", fix=Fix(summary, cmds, verify=verify))


def _legacy_cudnn_fix(tf, facts) -> Fix:
    """The cuDNN a TensorFlow 0.x or 1.x was built with, for a message only those releases print: they have no
    tf.sysconfig.get_build_info (2.3 added it). From the tested-builds table where the release is known (the log's,
    else the one stated), else how to find the release."""
    version = tf.tf_version or facts.machine.value("tf.version")
    mv = minor(version) if isinstance(version, str) else None
    tested = _kb().tested_cuda(mv) if mv else None
    verify = ("ldconfig -p | grep libcudnn   # the cuDNN major this TensorFlow loads, no other ahead of it",)
    if tested is not None and tested.cudnn:
        return Fix(f"Install cuDNN {tested.cudnn}, the version TensorFlow {mv} was built with (with CUDA "
                   f"{tested.cuda}), and take any other cuDNN off the loader path.", (), verify=verify)
    return Fix("Install the cuDNN version this TensorFlow release was built with (the command prints the release; "
               "tensorflow.org/install/source#gpu lists its cuDNN), and take any other cuDNN off the loader path.",
               (tf_import_line(tf, "tf.__version__"),), verify=verify)


def _cudnn_fix(tf) -> Fix:
    """The cuDNN this TensorFlow was built with, from pip where its release has the [and-cuda] extra."""
    mv = minor(tf.tf_version) if tf.tf_version else None
    verify = (tf_import_line(tf, "tf.sysconfig.get_build_info()['cudnn_version']"),
              "ldconfig -p | grep libcudnn   # no other cuDNN ahead of it on the loader path")
    if mv and _has_and_cuda(mv):
        return Fix(f"Install the cuDNN TensorFlow {mv} was built with, from pip into the same interpreter, and take "
                   "any other cuDNN off LD_LIBRARY_PATH.", (install_command(tf, mv, True),), verify=verify)
    return Fix("Install the cuDNN version TensorFlow was built with (the first command prints it; "
               "tensorflow.org/install/source#gpu lists it per release), and take any other cuDNN off the loader path.",
               (tf_import_line(tf, "tf.sysconfig.get_build_info()"),),
               verify=verify)


def _cuda_libs_from_log(facts, tf) -> Finding:
    """A snapshot with only TensorFlow's log: what the log says about libraries."""
    log = tf.log
    cudnn = _cudnn_mismatch(tf, facts)
    if cudnn is not None:
        return cudnn
    if log.missing_libraries:
        runtime = [n for n in log.missing_libraries if n != "libcuda.so.1"]
        cuda = _cuda_for_libs(runtime, log)
        if not runtime:
            told = log.first("tf-libcuda-dso-not-loaded")
            if told is not None and not log.has("dso-load-failed", "dso-couldnt-open"):
                # the diagnostician's own reading: no libcuda.so.1 loaded that resolves to the driver's versioned file
                return fail("tf.cuda-libs", "TensorFlow's CUDA diagnostician found no driver's libcuda.so.1 loaded: "
                            "it could not be opened, or it resolves to no versioned driver file (a stub, a broken "
                            "link)", f"`{told.line}`", fix=_driver_library_fix(facts))
            return fail("tf.cuda-libs", "TensorFlow's log says libcuda.so.1 (the NVIDIA driver's library) could not "
                        "be loaded", fix=_driver_library_fix(facts))
        conda = _conda_cuda_beside(facts, runtime, cuda)
        return fail("tf.cuda-libs", "TensorFlow's log says these CUDA libraries could not be loaded: "
                    + ", ".join(log.missing_libraries),
                    *[m.line for m in log.matches if m.kind == "dso-load-failed"][:10],
                    *([f"conda's cudatoolkit {conda[0]} is in the environment (`{conda[1].line.strip()[:160]}`), "
                       "but pip's TensorFlow does not look in its lib folder"] if conda else []),
                    fix=_conda_lib_path_fix(tf, conda[0]) if conda else
                    _named_libs_fix(tf, runtime, cuda, tf.tf_version))
    dso = log.first("unable-to-load-cudnn-dso")
    if dso is not None:
        # TensorFlow 0.x-1.x: cuDNN's library (of the major version it was built for) could not be opened
        return fail("tf.cuda-libs", "TensorFlow could not load cuDNN ('Unable to load cuDNN DSO'): the cuDNN version "
                    "it was built for is not on the loader path", dso.line, fix=_legacy_cudnn_fix(tf, facts))
    sym = log.first("tf-cudnn-symbol-not-found")
    if sym is not None:
        # TensorFlow 0.x-1.x looked a cuDNN function up in the cuDNN it tried to load and died: none was loaded (the
        # dlerror names TensorFlow's own library) or the one loaded is another cuDNN version
        return fail("tf.cuda-libs", f"TensorFlow could not find {sym.group('symbol') or 'a cuDNN function'} in cuDNN: "
                    "the cuDNN version it was built for did not load (or the libcudnn it loaded is another version)",
                    sym.line, fix=_legacy_cudnn_fix(tf, facts))
    dnn = log.first("tf-dnn-library-not-found")
    if dnn is not None:
        return fail("tf.cuda-libs", "TensorFlow placed an op on the GPU but could not use cuDNN ('DNN library is not "
                    "found'): no cuDNN could be loaded, or the one loaded is older than TensorFlow was built with",
                    dnn.line, fix=_cudnn_fix(tf))
    # (the placer's refusal of /device:GPU:0 lists the process's devices: an XLA_GPU among them is the same sign)
    xla_gpu = facts.machine.observed("tf-xla-gpu-device") or [
        o for o in facts.machine.observed("tf-gpu0-not-registered") if "/device:XLA_GPU:" in o.line]
    if xla_gpu and facts.machine.value("tf.sees_gpu") is not True:
        ev = facts.machine.evidence_of("tf-xla-gpu-device", "tf-num-gpus-zero", "tf-gpu0-not-registered")
        return Finding("tf.cuda-libs", Status.FAIL, "TensorFlow found the GPU (an XLA_GPU device) but registered no "
                       "GPU device: the CUDA libraries it was built against did not load",
                       tuple(e.describe() for e in ev[:3]),
                       fix=Fix("Install the CUDA and cuDNN versions this TensorFlow was built with (the table at "
                               "tensorflow.org/install/source#gpu; the first command prints the ones it needs), or a "
                               "TensorFlow built for the CUDA you have; the log with TF_CPP_MIN_LOG_LEVEL=0 names "
                               "the library that failed.",
                               ("python -c \"import tensorflow as tf; print(tf.sysconfig.get_build_info())\"",),
                               verify=("TF_CPP_MIN_LOG_LEVEL=0 python -c \"import tensorflow as tf; "
                                       "print(tf.config.list_physical_devices('GPU'))\"",)),
                       evidence=ev)
    stub = log.first("cudart-stub-no-driver")
    if stub is not None:
        # TensorFlow's cudart stub prints this when libcudart cannot be loaded (its wording blames the driver)
        has_gpu = machine_has_nvidia_gpu(facts)
        if has_gpu is None:
            has_gpu = facts.machine.value("gpu.present")
        if has_gpu is False and not getattr(facts, "require_gpu", False):
            return info("tf.cuda-libs", "TensorFlow found no CUDA runtime: fine here, this machine has no NVIDIA GPU",
                        stub.line)
        make = fail if has_gpu else warn
        unknown = "" if has_gpu else " (whether this machine has an NVIDIA GPU was not recorded)"
        return make("tf.cuda-libs", "TensorFlow could not load the CUDA runtime (libcudart): its log says 'Could not "
                    "find cuda drivers', which it prints when libcudart is missing" + unknown, stub.line,
                    fix=Fix("Install the CUDA runtime this TensorFlow was built for: with TensorFlow 2.14 or newer, "
                            "its CUDA libraries come from pip; older releases (and container images) need the CUDA "
                            "version of TensorFlow's tested configurations (TensorFlow 2.12/2.13: CUDA 11.8).",
                            (install_command(tf, None, True),),
                            verify=(tf_import_line(tf, "tf.sysconfig.get_build_info()['cuda_version'], "
                                                  "tf.config.list_physical_devices('GPU')"),)))
    if (cudart := _cudart_status(facts, tf)) is not None:
        return cudart
    if log.has("cannot-dlopen-gpu-libs"):
        return fail("tf.cuda-libs", "TensorFlow's log says `Cannot dlopen some GPU libraries` without naming them",
                    "Newer TensorFlow names them only at verbose logging; `tfdoctor check` runs the probe that "
                    "does.", fix=Fix("Run tfdoctor on the machine itself to name them.",
                                     (tfdoctor_command(facts, "check"),),
                                     (Alternative("to install every CUDA library with TensorFlow (Linux, 2.14 and "
                                                  "newer)", (install_command(tf, None, True),)),)))
    # the log is cut before the libraries load, and the rest of the paste quotes the loader's refusal (an ImportError
    # in the reporter's own words): the library it names is as missing as in a log line
    return _tool_refused(facts) or _libs_quoted(facts, tf, log.loaded_libraries) or _xla_tools_warning(tf, facts) or \
        _stated_cuda_mismatch(facts, tf) or _libraries_unseen(facts, tf) or _tensorrt_mismatch(facts) or \
        _libraries_opened(log) or skip("tf.cuda-libs", "TensorFlow's log says nothing about CUDA libraries")


def _libraries_opened(log) -> Finding | None:
    """TensorFlow's log shows the CUDA libraries it opened (`Successfully opened dynamic library libcudart.so.11.0`)
    and none it could not: as far as the log goes, they load."""
    opened = list(dict.fromkeys(log.loaded_libraries))
    if not opened or log.missing_libraries:
        return None
    return ok("tf.cuda-libs", f"TensorFlow's log shows the CUDA libraries it opened: {', '.join(opened[:8])}"
              + (" ..." if len(opened) > 8 else ""))


def _tool_refused(facts) -> Finding | None:
    """A library or tool the program needed beside CUDA's runtime stopped it, whatever else the log shows: TF-TRT's
    TensorRT, or the toolkit's ptxas."""
    return _tensorrt_aborted(facts) or _toolkit_ptxas_too_old(facts)


def _tensorrt_aborted(facts) -> Finding | None:
    """TF-TRT's stub aborted the program (`F ... nvinfer_stub.cc:49] getInferLibVersion symbol not found.`): a TensorRT
    conversion or TF-TRT op ran and the TensorRT library the build names (libnvinfer.so.N, in the `Could not load
    dynamic library` line before it) did not load. TensorRT is optional for TensorFlow, but not for this program."""
    m = facts.machine
    told = m.observed("tf-tensorrt-stub-symbol-missing")
    if not told:
        return None
    wanted = [o for o in m.observed("dso-load-failed") if (o.group("library") or "").startswith("libnvinfer")]
    lib = next((o.group("library") for o in wanted if o.group("library").removeprefix("libnvinfer.so.").isdigit()),
               None)
    need = f"TensorRT {lib.rsplit('.', 1)[-1]} ({lib})" if lib else "the TensorRT this TensorFlow was built against"
    ev = m.evidence_of("tf-tensorrt-stub-symbol-missing")[:1] + m.evidence_of("dso-load-failed")[:1]
    return Finding("tf.cuda-libs", Status.FAIL, f"TensorFlow's TF-TRT aborted the program: it needs {need} and the "
                   "library did not load", tuple(e.describe() for e in ev),
                   fix=Fix(f"Install {need}, the release this TensorFlow's TF-TRT was built against (TensorFlow's GPU "
                           "install page for this release lists its CUDA, cuDNN and TensorRT packages), on the "
                           "library path; or run the model without the TensorRT conversion.", (),
                           verify=("ldconfig -p | grep libnvinfer",)),
                   evidence=ev)


_PTXAS_FILE = textmatch.compile(r"ptxas \S{1,300}\.ptx, line \d+")


def toolkit_ptxas(o) -> bool:
    """A ptxas refusal that names the .ptx file it assembled (`ptxas /tmp/x.ptx, line 9; fatal : ...`): a toolkit's
    ptxas binary (XLA's, nvcc's, a JIT framework's), never the driver's JIT compiler, which names its input
    `application ptx input`."""
    return _PTXAS_FILE.search(o.line) is not None


def driver_jit_ptxas(o) -> bool:
    """A ptxas refusal that names its input `application ptx input`, as the driver's JIT compiler does in the log
    cuModuleLoadDataEx returns (numba#3794, Theano#6503); a toolkit's PTX compiler library may name it so too."""
    return "ptxas application ptx input" in o.line


def _toolkit_ptxas_too_old(facts) -> Finding | None:
    """A toolkit's ptxas (the binary XLA, nvcc or a JIT framework runs from PATH) refused PTX of a newer ISA than it
    knows: `ptxas /tmp/x.ptx, line 9; fatal : Unsupported .version 8.5; current version is '7.5'`. It names the file
    it assembled; the driver's JIT compiler names its input `application ptx input` (compat.driver-cuda reads that
    one). The PTX ISA table gives the CUDA whose ptxas the PTX needs (tinygrad#7729: CUDA 11.5's ptxas on PATH)."""
    kb = _kb()
    for o in facts.machine.observed("ptxas-unsupported-ptx-version"):
        if not toolkit_ptxas(o):
            continue
        ptx, current_ptx = o.group("ptx"), o.group("current_ptx")
        need, current = kb.cuda_for_ptx(ptx or ""), kb.cuda_for_ptx(current_ptx or "")
        if need is None:
            continue
        ev = facts.machine.evidence_of("ptxas-unsupported-ptx-version")[:1]
        return Finding("tf.cuda-libs", Status.FAIL,
                       f"The ptxas on the path is {f'CUDA {current}' if current else 'an older CUDA'}'s (PTX ISA up to "
                       f"{current_ptx}) and cannot assemble the program's PTX ISA {ptx}, which needs CUDA {need}'s "
                       "ptxas or newer", tuple(e.describe() for e in ev),
                       fix=Fix(f"Put the ptxas of CUDA {need} or newer first on PATH (that release's CUDA toolkit, or "
                               "the bin folder of NVIDIA's nvidia-cuda-nvcc wheel for it), or take the older toolkit's "
                               "bin folder off PATH.", (), verify=("command -v ptxas", "ptxas --version")),
                       evidence=ev)
    return None


def _tensorrt_mismatch(facts) -> Finding | None:
    """TensorFlow's TF-TRT loaded another TensorRT than the build was compiled against (`TensorRT mismatch. Compiled
    against version 5.0.2, but loaded 5.1.2. Things may not work.`): TF-TRT conversions may fail or crash; NVIDIA's
    answer in tensorflow/tensorrt#85 is to match the versions. Only TF-TRT is affected, so it warns."""
    o = next(iter(facts.machine.observed("tf-tensorrt-version-mismatch")), None)
    if o is None:
        return None
    built, loaded = o.group("built"), o.group("loaded")
    return Finding("tf.cuda-libs", Status.WARN, f"TensorFlow was compiled against TensorRT {built} but loaded TensorRT "
                   f"{loaded}: TF-TRT (TensorRT conversion) may fail with this pair", (o.line[:300],),
                   fix=Fix(f"Install TensorRT {built}, the version this TensorFlow was built against, or a TensorFlow "
                           f"built against TensorRT {loaded} (NVIDIA's TensorFlow containers pair the two); TensorFlow "
                           "without TF-TRT is not affected.", (), verify=("ldconfig -p | grep libnvinfer",)),
                   evidence=facts.machine.evidence_of("tf-tensorrt-version-mismatch")[:1])


def _cuda_serves(have: tuple[int, ...], built: tuple[int, ...]) -> bool:
    """Whether the libraries of CUDA `have` are the ones a build for CUDA `built` loads by soname: since CUDA 11 the
    sonames carry the major only (libcudart.so.11.0, libcublas.so.11); before it, major.minor (libcudart.so.10.1)."""
    if len(have) < 2 or len(built) < 2:
        return True
    return have[0] == built[0] if built[0] >= 11 else have[:2] == built[:2]


# what the reporter states is the CUDA of the driver, not of a toolkit
_DRIVER_CUDA = ("nvidia-smi", "driver")
# the CUDA TensorFlow brings along or was built against, whatever the system's: a container image's, conda's, or the
# CUDA a TensorFlow built from source was configured with
_OWN_CUDA = ("conda-cudatoolkit-in-env", "conda-tensorflow-gpu-build", "conda-tensorflow-cpu-build",
             "tf-built-from-source-stated")


def _stated_cuda_mismatch(facts, tf) -> Finding | None:
    """The reporter states the TensorFlow release and the CUDA they installed (TensorFlow's issue template: 'TensorFlow
    version', 'CUDA/cuDNN version'), and that CUDA does not provide the libraries the release was built against: the
    answer TensorFlow's maintainers give (tensorflow#28022: 2.0 needs CUDA 10.0, not 9.2; tensorflow#58681: 2.11 loads
    CUDA 11 libraries, not CUDA 12's). Nothing that shows the libraries loaded or the GPU used, and none of _OWN_CUDA.
    Before 2.14 TensorFlow loads the system's CUDA, so it fails; from 2.14 the [and-cuda] wheels may bring the right
    one, so it only warns."""
    m, kb = facts.machine, _kb()
    version = m.value("tf.version") or getattr(tf, "tf_version", None)
    stated = next((o for o in m.observed(*STATED_CUDA) if o.group("cuda_version")), None)
    if not isinstance(version, str) or stated is None:
        return None
    have = stated.group("cuda_version")
    smi = [o.line for o in m.observations if o.message.startswith("smi-table")]
    if any(w in stated.line.lower() for w in _DRIVER_CUDA) or any(f"CUDA Version: {have}" in line for line in smi):
        return None  # the driver's CUDA (nvidia-smi's header), not an installed toolkit's
    if m.value("tf.sees_gpu") is True or m.value("container") is True or m.observed(*_OWN_CUDA):
        return None
    if any(lib in o.line for o in m.observed("dso-load-ok") for lib in ("libcudart", "libcublas", "libcudnn")):
        return None  # TensorFlow opened its CUDA libraries, wherever they came from
    tested = kb.tested_cuda(version)
    # (a version no CUDA release has is another component's, written in the CUDA field: cuDNN's 8.9.5)
    if tested is None or not kb.is_cuda_release(have) or _cuda_serves(kb.parse_version(have),
                                                                       kb.parse_version(tested.cuda)):
        return None
    mv = minor(version)
    soname = _cudart_soname(tested.cuda)
    ev = m.evidence_of("tf-version-stated", "tf-version-stated-bare", "pip-tensorflow-version",
                       "pip-install-tensorflow-pinned")[:1] + m.evidence_of(*STATED_CUDA)[:1]
    summary = (f"TensorFlow {mv} was built for CUDA {tested.cuda} (cuDNN {tested.cudnn}); the CUDA stated as installed "
               f"is {have}, which does not provide the libraries it loads ({soname} and the rest)")
    details = tuple(e.describe() for e in ev) + (f"tested build configurations: TensorFlow {mv} - CUDA {tested.cuda}, "
                                                 f"cuDNN {tested.cudnn} (tensorflow.org/install/source#gpu)",)
    if _has_and_cuda(version):
        return Finding("tf.cuda-libs", Status.WARN, summary + ", unless TensorFlow was installed with its [and-cuda] "
                       "wheels", details, fix=_release_cuda_fix(tf, version, tested, f"the system's CUDA {have}"),
                       evidence=ev)
    return Finding("tf.cuda-libs", Status.FAIL, summary, details, fix=_release_cuda_fix(tf, version, tested),
                   evidence=ev)


def _cudart_soname(cuda: str) -> str:
    """The CUDA runtime's soname a build for CUDA `cuda` loads: major.minor before CUDA 11, 11.0 for CUDA 11, the major
    alone since."""
    major = _kb().parse_version(cuda)[0]
    return f"libcudart.so.{cuda}" if major < 11 else f"libcudart.so.{'11.0' if major == 11 else major}"


def _release_cuda_fix(tf, version: str, tested, instead: str = "") -> Fix:
    """Install the CUDA libraries a TensorFlow release was built for: its [and-cuda] wheels (2.14 and newer), else
    CUDA and cuDNN of its tested configuration (conda's for CUDA 11, TensorFlow's pip guide; NVIDIA's apt packages
    before), with an upgrade to a release that brings its own as the alternative. `instead`: what does not matter
    once the wheels are there."""
    kb = _kb()
    mv = minor(version)
    cuda_major = kb.parse_version(tested.cuda)[0]
    verify = (tf_import_line(tf, "tf.config.list_physical_devices('GPU')"),)
    if _has_and_cuda(version):
        return Fix(f"Install TensorFlow {mv} with the CUDA libraries it was built for, as pip wheels"
                   + (f" ({instead} does not matter then)." if instead else "."), (install_command(tf, mv, True),),
                   verify=verify)
    if cuda_major >= 11:
        # TensorFlow's pip guide for 2.5-2.13: conda's cudatoolkit and cuDNN, the environment's lib folder on the
        # loader path for every activation
        cudnn_next = kb.parse_version(tested.cudnn)[0] + 1
        cmds = (f"conda install -c conda-forge cudatoolkit={tested.cuda} 'cudnn>={tested.cudnn},<{cudnn_next}'",
                *_CONDA_LIB_PATH_ACTIVATE)
        how = "from conda-forge into the environment, with its lib folder on the loader path (TensorFlow's pip guide)"
    else:
        cudnn = f"libcudnn.so.{kb.parse_version(tested.cudnn)[0]}"
        cmds = library_install_commands([_cudart_soname(tested.cuda), f"libcublas.so.{tested.cuda}", cudnn],
                                        tested.cuda, python_cmd(tf))
        how = "from NVIDIA's CUDA apt repository"
    newest = newest_tf_for_python(python_minor(tf), need_and_cuda=True)
    alts = (Alternative(f"upgrade TensorFlow: {newest.version} installs its own CUDA libraries as pip wheels",
                        (install_command(tf, newest.version, True),)),) if newest else ()
    return Fix(f"Install CUDA {tested.cuda} and cuDNN {tested.cudnn}, the versions TensorFlow {mv} was built with, "
               f"{how}; another CUDA does not stand in for them.", cmds, alternatives=alts, verify=verify)


# What TensorFlow prints when it lists its GPUs and finds none
_LISTED_NONE = ("tf-list-gpus-empty", "tf-num-gpus-zero")


def _libraries_unseen(facts, tf) -> Finding | None:
    """TensorFlow lists no GPU while the NVIDIA driver answers, and nothing pasted says why (no library it could not
    load, no cuInit error, no GPU it ignored): a pip TensorFlow for Linux from 2.1 on is a CUDA build, and before 2.14
    it brings no CUDA libraries; from 2.14 only its [and-cuda] extra does. The missing CUDA libraries are the usual
    reason (tensorflow#58681's and huggingface/community-events#118's answer: install them), which TensorFlow's own
    log at start names: a warning, with that log as the way to settle it."""
    m = facts.machine
    listed = m.evidence_of(*_LISTED_NONE)
    version = m.value("tf.version") or getattr(tf, "tf_version", None)
    if not listed or not isinstance(version, str) or m.value("driver.loaded") is not True:
        return None
    if m.value("container") is True or m.value("wsl") is True or m.value("tf.cuda_build") is False \
            or m.observed(*_OWN_CUDA):
        return None
    said = {"tf-version-stated", "tf-version-stated-bare", "pip-tensorflow-version", "pip-tensorflow-distribution",
            "pip-install-tensorflow-pinned", "tf-graph-ran", *_LISTED_NONE, *STATED_CUDA}
    if any(o.source == "tensorflow.log" and o.message not in said for o in m.observations):
        return None  # the log says more than the listing: the checks that read it say why
    if any(o.message.startswith(("dso-", "cuinit", "cuda-", "gpu-below", "tf-libcuda")) for o in m.observations
           if o.message not in said):
        return None
    if any("tensorflow-cpu" in (o.line or "") for o in m.observed("pip-tensorflow-distribution")):
        return None
    kb = _kb()
    tested = kb.tested_cuda(version)
    vt = kb.parse_version(version)
    if tested is None or vt[:2] < (2, 1):
        return None  # (before 2.1, pip's `tensorflow` was the CPU build: tf.cuda-build's question)
    mv = minor(version)
    wheels = _has_and_cuda(version)
    summary = (f"TensorFlow {mv} lists no GPU while the NVIDIA driver answers, and nothing pasted says why: "
               + ("its pip package brings CUDA's libraries only with the [and-cuda] extra, so they are most likely "
                  "missing" if wheels else
                  f"its pip package brings no CUDA libraries, so CUDA {tested.cuda} and cuDNN {tested.cudnn}, which "
                  "it needs, are most likely missing")
               + " (TensorFlow's log at start names each library it could not load)")
    return Finding("tf.cuda-libs", Status.WARN, summary,
                   (*(e.describe() for e in listed[:2]),
                    f"tested build configuration: TensorFlow {mv} - CUDA {tested.cuda}, cuDNN {tested.cudnn} "
                    "(tensorflow.org/install/source#gpu)"),
                   fix=_release_cuda_fix(tf, version, tested), evidence=listed[:2])


def _cudart_status(facts, tf) -> Finding | None:
    """TensorFlow 2.x reaches its CUDA runtime through a stub that loads libcudart of its CUDA version; when that
    failed, cudaGetErrorString itself is missing and the stub answers 'cudaGetErrorString symbol not found.' as the
    status of TensorFlow's first runtime call (gpu_device.cc; tensorflow#34354: CUDA 10.1 installed for TensorFlow 2.0,
    which needs 10.0)."""
    ev = facts.machine.evidence_of("tf-cudart-not-loaded-status")
    if not ev:
        return None
    return Finding("tf.cuda-libs", Status.FAIL, "TensorFlow could not load the CUDA runtime (libcudart) of the CUDA "
                   "version it was built for: 'cudaGetErrorString symbol not found' is its loader stub's answer when "
                   "that library is missing", (ev[0].describe(),),
                   fix=Fix("Install the CUDA runtime of the CUDA version this TensorFlow release was built for "
                           "(the first command prints the release; TensorFlow 2.0 needs CUDA 10.0, 2.1-2.3 CUDA 10.1, "
                           "2.4 CUDA 11.0; tensorflow.org/install/source#gpu lists the rest), or a TensorFlow built "
                           "for the CUDA you have; with TensorFlow 2.14 or newer its CUDA libraries come from pip.",
                           (tf_import_line(tf, "tf.__version__"),),
                           verify=(tf_import_line(tf, "tf.config.list_physical_devices('GPU')"),)),
                   evidence=ev)


def _xla_tools_warning(tf, facts=None) -> Finding | None:
    """XLA (jit_compile=True, and some Keras layers) needs ptxas and libdevice besides the runtime libraries: XLA's
    message in TensorFlow's log or, where the log does not hold it, quoted in the rest of the paste."""
    return _with_lines(_xla_tools_missing(tf, facts), facts, "ptxas-or-libdevice-missing",
                       "xla-no-ptx-compilation-provider")


def _xla_tools_missing(tf, facts=None) -> Finding | None:
    log = getattr(tf, "log", None)
    ids = ("ptxas-or-libdevice-missing", "xla-no-ptx-compilation-provider")  # (the latter: XLA's wording since 2025)
    m = next((m for i in ids if (m := log.first(i)) is not None), None) if log is not None else None
    if m is None and facts is not None:
        m = next(iter(facts.machine.observed(*ids)), None)
    if m is None:
        return None
    return warn("tf.cuda-libs", "XLA cannot find the CUDA compiler tools (ptxas or libdevice): models compiled with "
                "XLA fail or fall back to slow paths", m.line,
                fix=Fix("Install NVIDIA's compiler wheel into the same interpreter (it ships ptxas and libdevice), or "
                        "point XLA at a CUDA toolkit directory that has nvvm/libdevice.",
                        (f"{python_cmd(tf)} -m pip install nvidia-cuda-nvcc-cu12",),
                        (Alternative("a CUDA toolkit with nvvm/libdevice is installed in /usr/local/cuda",
                                     ("export XLA_FLAGS=--xla_gpu_cuda_data_dir=/usr/local/cuda",)),)))


# Sonames that exist in only one CUDA major (libcudnn.so.8 and libcusolver.so.11 exist in both 11 and 12).
_CUDA_MAJOR_OF = {"libcublas.so.11": "11", "libcublasLt.so.11": "11", "libcusparse.so.11": "11",
                  "libcufft.so.10": "11", "libcurand.so.10": "10", "libcublas.so.12": "12", "libcublasLt.so.12": "12",
                  "libcusparse.so.12": "12", "libcufft.so.11": "12", "libcudnn.so.9": "12", "libnvJitLink.so.12": "12"}


def _cuda_for_libs(names: list[str], log=None) -> str | None:
    """The CUDA version a set of missing libraries belongs to, so that every package named is of one family."""
    for n in names:
        if n.startswith("libcudart.so."):
            return n.split(".so.")[1]
    # CUDA 9 and 10.0 named every library after the toolkit's version: libcublas.so.10.0, libcufft.so.9.0
    for n in names:
        ver = n.split(".so.", 1)[1] if ".so." in n else ""
        if not n.startswith("libcudnn") and ver.count(".") == 1 and ver.split(".")[0] in ("8", "9", "10"):
            return ver
    majors = {_CUDA_MAJOR_OF[n] for n in names if n in _CUDA_MAJOR_OF} - {"10"}
    if len(majors) == 1:
        return majors.pop()
    # TensorFlow up to 2.11 logged from tensorflow/stream_executor/ and was built with CUDA 11 (or 10)
    if log is not None and any("tensorflow/stream_executor/" in m.line for m in log.matches):
        return "11"
    return None


def library_install_commands(runtime: list[str], cuda: str | None, python: str = "python3") -> tuple[str, ...]:
    """The commands that install these missing libraries, one CUDA family, each package pinned to the major the
    soname names (pip's nvidia-cudnn-cu11 alone installs cuDNN 9, not the libcudnn.so.8 that is missing). apt
    packages come from NVIDIA's CUDA repository (developer.download.nvidia.com/compute/cuda/repos)."""
    kb = _kb()
    pips, apts = [], []
    for n in runtime:
        pip = kb.pip_package_for_library(n, cuda)
        if pip:
            major = n.split(".so.", 1)[1].split(".")[0] if n.startswith("libcudnn.so.") else None
            spec = f"{pip}=={major}.*" if major and major.isdigit() else pip
            if spec not in pips:
                pips.append(spec)
        elif (apt := kb.apt_package_for_library(n, cuda)) and apt not in apts:
            apts.append(apt)
    cmds: list[str] = []
    if pips:
        cmds.append(f"{python} -m pip install " + " ".join(f"'{p}'" if "=" in p else p for p in pips))
    if apts:
        cmds.append("sudo apt install " + " ".join(apts))
    return tuple(cmds)


def and_cuda_alternative(cuda: str | None, tf_version: str | None, python: str = "python3") -> tuple[Alternative, ...]:
    """TensorFlow with its CUDA libraries as pip wheels ([and-cuda], 2.14 and newer) for the same CUDA major."""
    b = _kb().tf_build(tf_version) if tf_version else None
    if b is not None and getattr(b, "has_and_cuda_extra", False) and (not cuda or str(b.cuda).split(".")[0] ==
                                                                      str(cuda).split(".")[0]):
        return (Alternative("TensorFlow with its CUDA libraries as pip wheels",
                            (f"{python} -m pip install 'tensorflow[and-cuda]=={b.version}.*'",)),)
    return ()


# ----------------------------------------------------------------------------------------------- tf.gpu-visible
@check(
    "tf.gpu-visible",
    area="tensorflow",
    title="TensorFlow sees and uses the GPU",
    needs=("tensorflow",),
    after=("pci.nvidia-gpu", "env.container", "env.wsl", "driver.nvidia-module", "nvml.init", "nvml.devices",
           "env.cuda-visible-devices",
           "compat.driver-cuda", "tf.cuda-libs", "compat.compute-capability"),
    what="Lists TensorFlow's physical GPUs with their name and compute capability, and runs a small matmul on each "
         "(a GPU that is listed but cannot run an op does not count).",
    why="This is the question users ask: `tf.config.list_physical_devices('GPU')` returning `[]`. Every other "
        "check explains why it is empty.",
    fix="Fix the root cause named in the report (driver, CUDA libraries, compute capability, CUDA_VISIBLE_DEVICES). "
        "With no NVIDIA GPU in the machine, TensorFlow uses the CPU and nothing needs fixing.",
)
@with_pip_fixes
def check_gpu_visible(facts) -> Finding:
    tf = tf_facts(facts)
    if tf is not None and tf.source == "log-only":
        return _gpu_visible_from_log(facts, tf)
    if (s := _skip_if_not_run("tf.gpu-visible", tf)) is not None:
        return s
    if not tf.imported or tf.step == "import":
        return skip("tf.gpu-visible", "TensorFlow did not import")
    if tf.gpus:
        bad = [g for g in tf.gpus if g.matmul_ok is False]
        listed = [f"{g.name}: {g.device_name or 'GPU'} (compute capability {g.compute_capability or '?'})"
                  for g in tf.gpus]
        if bad:
            return fail("tf.gpu-visible", f"TensorFlow lists {len(tf.gpus)} GPU(s) but cannot run an op on "
                        f"{', '.join(g.name.replace('/physical_device:', '') for g in bad)}",
                        *listed, *[f"{g.name}: {g.matmul_error}" for g in bad],
                        fix=_gpu_op_fix(tf, bad))
        return ok("tf.gpu-visible", f"TensorFlow uses {len(tf.gpus)} GPU(s): "
                  + ", ".join(g.device_name or g.name for g in tf.gpus), *listed)
    has_gpu = machine_has_nvidia_gpu(facts)
    require = bool(getattr(facts, "require_gpu", False))
    if has_gpu is False:
        if require:
            return fail("tf.gpu-visible", "no NVIDIA GPU in this machine, and a GPU is required (--require-gpu)",
                        fix=Fix("Run on a machine (or container) with an NVIDIA GPU."))
        return info("tf.gpu-visible", "TensorFlow will use the CPU (this machine has no NVIDIA GPU)")
    env = getattr(facts, "env", None)
    cvd = getattr(env, "cuda_visible_devices", None)
    details = [f"{name} (compute capability {cc or '?'})" for name, cc in machine_gpus(facts)]
    reason = _why_no_gpu(tf.log)
    if reason:
        details.append(reason)
    if tf.devices_error:
        details.append(f"listing devices failed: {tf.devices_error}")
    if cvd is not None and cvd.strip() in ("", "-1", "none", "NoDevFiles"):
        return fail("tf.gpu-visible", f"TensorFlow sees no GPU: CUDA_VISIBLE_DEVICES={cvd!r} hides them", *details,
                    fix=Fix("Unset it (or list the GPUs to use).", ("unset CUDA_VISIBLE_DEVICES",)))
    summary = "TensorFlow sees no GPU" + (" although the machine has one" if has_gpu else "")
    if has_gpu is None and not require:
        return warn("tf.gpu-visible", summary + " (whether the machine has an NVIDIA GPU is unknown)", *details,
                    fix=_no_gpu_fix(facts, tf))
    return fail("tf.gpu-visible", summary, *details, fix=_no_gpu_fix(facts, tf))


def _no_driver_at_all(facts, log) -> bool:
    """TensorFlow's cuInit failed with 303 (no libcuda: no NVIDIA driver user space) and nothing else says a GPU was
    meant to be used here: not a container (which may have been started without the GPU), not WSL, no other CUDA or
    driver message, no GPU named."""
    if log.cuda_error_code != 303 or facts.machine.value("container") is True or facts.machine.value("wsl") is True:
        return False
    quiet = {"cuinit-error", "tf-version-stated", "tf-version-stated-bare", "tf-built-from-source-stated",
             "python-version-stated", "tf-graph-ran",
             "pip-tensorflow-version", "pip-tensorflow-distribution", "cpu-feature-guard", "conda-tensorflow-cpu-build",
             "conda-tensorflow-gpu-build"}
    return all(o.message in quiet for o in facts.machine.observations)


def _why_no_gpu(log) -> str | None:
    for kind in ("gpu-below-min-cc", "cannot-dlopen-gpu-libs", "cuinit-error", "kernel-driver-not-running",
                 "cudart-stub-no-driver", "driver-insufficient"):
        m = log.first(kind)
        if m is not None:
            return f"TensorFlow's log: `{m.line}`"
    # a CUDA library TensorFlow needs did not load (log.missing_libraries leaves the optional ones out, TensorRT's):
    # without it TensorFlow registers no GPU (2.x skips the devices, 1.x fails at import), whether or not the log
    # went on to say so (iterative/cml#654: TensorFlow 2.2's log cut after the failed libcudart)
    if log.missing_libraries:
        return ("TensorFlow could not load " + ", ".join(log.missing_libraries[:4]) + ", which it needs to register "
                "a GPU")
    return None


def _no_gpu_fix(facts, tf) -> Fix:
    log = tf.log
    if log.has("gpu-below-min-cc") and log.compute_capabilities:
        b = _kb().newest_tf_supporting_cc(log.compute_capabilities[0])
        if b:
            return Fix(f"This GPU's compute capability is below what TensorFlow {tf.tf_version} supports; "
                       f"TensorFlow {b.version} is the newest that does.", (install_command(tf, b.version, True),))
    small = log.first("gpu-below-min-sm-count")
    if small is not None and (small.group("count") or "").isdigit():
        count = int(small.group("count") or 0)
        return Fix(f"TensorFlow skips a GPU with fewer multiprocessors than TF_MIN_GPU_MULTIPROCESSOR_COUNT (this one "
                   f"has {count}) when a bigger GPU is visible; to use it anyway, lower the limit in the environment "
                   "that starts TensorFlow.", (f"export TF_MIN_GPU_MULTIPROCESSOR_COUNT={count}",),
                   verify=(tf_import_line(tf, "tf.config.list_physical_devices('GPU')"),))
    if log.has("cannot-dlopen-gpu-libs") or log.missing_libraries:
        mv = _target_minor(tf)
        return Fix("Install the CUDA libraries this TensorFlow needs.", (install_command(tf, mv, True),))
    if log.has("cudart-stub-no-driver"):
        # logged when the CUDA runtime (libcudart) cannot be loaded, despite its wording (anchors.md §9 item 2)
        return Fix("TensorFlow could not load the CUDA runtime: install TensorFlow with its CUDA libraries (Linux, "
                   "TensorFlow 2.14+), and make sure the NVIDIA driver is installed (or, in a container, that it was "
                   "started with --gpus all).", (install_command(tf, None, True), "nvidia-smi"))
    if log.has("kernel-driver-not-running") or log.has("cuinit-error"):
        return Fix("The NVIDIA driver is not running: run tfdoctor on the machine itself to see why (not installed, "
                   "nouveau, Secure Boot, DKMS...).", (tfdoctor_command(facts, "check"),))
    return Fix("Fix the root cause shown first in this report, then check again.", (tfdoctor_command(facts, "check"),))


def _gpu_op_fix(tf, bad) -> Fix:
    text = " ".join(g.matmul_error or "" for g in bad)
    if "kernel image" in text or "no kernel image" in text:
        return Fix("This TensorFlow has no kernels for this GPU's compute capability; see compat.compute-capability.")
    if "out of memory" in text.lower() or "OOM" in text:
        return Fix("The GPU's memory is taken by other processes; free it.", ("nvidia-smi",))
    return Fix("Look at the error above; a driver/library mismatch is the usual cause.", ("nvidia-smi",))


# An op the program placed on the GPU, refused because TensorFlow registered no GPU device in the process
_GPU_OP_WITHOUT_GPU = ("tf-gpu0-not-registered", "tf-cudnn-op-without-gpu-device")


def _gpu_visible_from_log(facts, tf) -> Finding:
    log = tf.log
    created = [m for m in log.matches if m.claim("tf.sees_gpu") is True]
    if created:
        names = sorted({(m.group("name") or "GPU").strip() for m in created})
        left_out = [f"left out on purpose (too few multiprocessors for TF_MIN_GPU_MULTIPROCESSOR_COUNT): `{m.line}`"
                    for m in log.matches if m.kind == "gpu-below-min-sm-count"][:2]
        return ok("tf.gpu-visible", f"TensorFlow's log shows a GPU device created: {', '.join(names)}",
                  created[0].line, *left_out)
    reason = _why_no_gpu(log)
    if reason is None and (pinned := facts.machine.evidence_of(*_GPU_OP_WITHOUT_GPU)):
        # the program put an op on the GPU and TensorFlow had none registered to run it on
        reason = f"TensorFlow's log: `{pinned[0].line[:300]}`"
    small = log.first("gpu-below-min-sm-count")
    if reason is None and small is not None:
        # TensorFlow leaves a GPU out for its multiprocessor count only when a bigger one is visible (the limit is
        # lowered to the largest GPU's count otherwise): a choice, not a failure
        return info("tf.gpu-visible", "TensorFlow left out a GPU with few multiprocessors on purpose; it uses the "
                    "bigger GPU beside it", f"`{small.line}`", fix=_no_gpu_fix(facts, tf))
    if reason is None:
        return skip("tf.gpu-visible", "TensorFlow's log does not say whether a GPU was used")
    has_gpu = machine_has_nvidia_gpu(facts)
    require = getattr(facts, "require_gpu", False)
    if has_gpu is False and not require:
        return info("tf.gpu-visible", "TensorFlow uses the CPU (no NVIDIA GPU in this machine)", reason)
    if has_gpu is None and not require and _no_driver_at_all(facts, log):
        # cuInit 303: no NVIDIA driver user space here at all, which is how a CUDA build of TensorFlow starts on a
        # machine without an NVIDIA GPU (it says so itself: 'Ignore above cudart dlerror if you do not have a GPU set
        # up'); with nothing showing a GPU, that is no finding (nanoporetech/medaka#214's maintainer: harmless)
        return info("tf.gpu-visible", "TensorFlow found no NVIDIA driver and uses the CPU: fine on a machine without "
                    "an NVIDIA GPU (whether this one has one was not recorded: `lspci -nnk | grep -iA3 nvidia` shows "
                    "it)", reason)
    if has_gpu is None and not require:
        return warn("tf.gpu-visible", "TensorFlow's log shows it did not register a GPU (whether the machine has an "
                    "NVIDIA GPU was not recorded)", reason, fix=_no_gpu_fix(facts, tf))
    return fail("tf.gpu-visible", "TensorFlow's log shows it did not register a GPU", reason,
                fix=_no_gpu_fix(facts, tf))
