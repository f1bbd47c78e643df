"""Compatibility checks: the driver against TensorFlow's CUDA, the GPU's compute capability against the wheel's
kernels, and the Python version against TensorFlow's tested range. Every rule asks the knowledge base
(tfdoctor/knowledge/), which carries the source of each fact; no version number is decided here.
"""

from __future__ import annotations

from tfdoctor import textmatch
from tfdoctor.checks import check
from tfdoctor.checks.commands import tf_import_line, with_pip_fixes
from tfdoctor.checks.cuda import kernel_driver_version, ld_library_path_without
from tfdoctor.checks.fixes import distro_family, install_driver_commands, newer_driver_commands, ubuntu_driver_package
from tfdoctor.checks.gpu import CUDA_NEEDED_MESSAGES, STATED_CUDA, stated_gpu_models
from tfdoctor.checks.tensorflow import (
    _kb,
    driver_jit_ptxas,
    install_command,
    machine_gpus,
    minor,
    newest_tf_for_python,
    pip_too_old,
    python_minor,
    tf_facts,
    toolkit_ptxas,
    wheel_platform_refused,
)
from tfdoctor.model import Alternative, Finding, Fix, Status, fail, info, ok, skip, told_fail, warn
from tfdoctor.tflog import cuda_version


def driver_version_seen(facts) -> str | None:
    """The loaded driver's version as read (kernel_driver_version), else as a program printed it: nvidia-smi's table
    header, or TensorFlow's `possibly insufficient driver version: X` and `kernel reported version is: X` (its readings
    of the kernel module's version; `384.130.0` for driver 384.130)."""
    seen = kernel_driver_version(facts) or next(
        (o.group("version") for o in facts.machine.observed("smi-table-driver-version", "tf-possibly-insufficient-driver",
                                                            "tf-kernel-reported-version") if o.group("version")), None)
    if seen and seen.count(".") == 2 and seen.endswith(".0"):
        seen = seen[:-2]  # TensorFlow's three-part form of a two-part driver version
    return seen


def _too_old(facts, tf, have: str, tf_version: str, cuda: str, floor: str, full: str | None, details, py,
             evidence=()) -> Finding:
    """Driver `have` is below `floor`, the least CUDA `cuda` of TensorFlow `tf_version` runs on: a newer driver, or the
    newest TensorFlow this driver runs."""
    alt = _newest_tf_for_driver(have, py)
    alts = (Alternative(f"to keep driver {have}: TensorFlow {alt.version}",
                        (install_command(tf, alt.version, True),)),) if alt is not None else ()
    return Finding("compat.driver-cuda", Status.FAIL, f"driver {have} is too old for TensorFlow {tf_version} (CUDA "
                   f"{cuda} needs {floor} or newer)", tuple(details),
                   fix=Fix(f"Install NVIDIA driver {floor} or newer" + (
                       f", or TensorFlow {alt.version}, the newest whose CUDA {alt.cuda} this driver runs." if alt
                       else "."), newer_driver_commands(facts, full or floor), alts, verify=("nvidia-smi",)),
                   evidence=tuple(evidence))


def tf_cuda(tf) -> tuple[str | None, str]:
    """(CUDA version, where it came from): the child's build info, else the knowledge base for the TF version."""
    if tf.build is not None and tf.build.is_cuda_build and tf.build.cuda_version:
        return tf.build.cuda_version, "get_build_info()"
    if tf.build is not None and tf.build.is_cuda_build is False:
        return None, "CPU-only build"
    b = _kb().tf_build(tf.tf_version) if tf.tf_version else None
    return (b.cuda, f"TensorFlow {b.version}'s tested configuration") if b else (None, "unknown")


def _skip_without_tf(fid: str, tf) -> Finding | None:
    if tf is None or tf.source != "child":
        return skip(fid, "no TensorFlow probe record")
    if not tf.tf_version:
        return skip(fid, "TensorFlow is not installed")
    return None


# ----------------------------------------------------------------------------------------------- compat.driver-cuda
def _cuda_of_opened_runtime(facts) -> str | None:
    """The CUDA release whose runtime a program loaded, from the soname TensorFlow's loader printed: libcudart or
    libcublas `.so.M.m` up to CUDA 10 (one soname per release: `libcublas.so.7.0`), libcudart `.so.11.0` / `.so.12`
    after (one per major: the driver floor of minor-version compatibility is the major's)."""
    for o in facts.machine.observed("dso-load-ok"):
        m = textmatch.fullmatch(r"lib(cudart|cublas)\.so\.(\d+)(?:\.(\d+))?", o.group("library") or "")
        if m is None:
            continue
        major = int(m.group(2))
        if major <= 10 and m.group(3) is not None:
            return f"{major}.{m.group(3)}"
        if major >= 11 and m.group(1) == "cudart":
            return f"{major}.0"
    return None


def _nvenc_needs_newer_driver(facts) -> Finding | None:
    """FFmpeg's NVENC encoder names the driver its NVENC API needs (`The minimum required Nvidia driver for nvenc is
    435.21 or newer`), after the NVENC API its build needs and the one the driver offers (`Driver does not support the
    required nvenc API version. Required: 12.2 Found: 12.1`): the driver is older than the program needs, as for a CUDA
    runtime newer than the driver."""
    told = facts.machine.observed("ffmpeg-nvenc-driver-too-old")
    api = next(iter(facts.machine.observed("ffmpeg-nvenc-api-too-old")), None)
    if not told and api is None:
        return None
    # the minimum FFmpeg printed, else (an API newer than its table: '(unknown)') FFmpeg's table for the API it needs
    need = (told[0].group("need") if told else None) or (_kb().nvenc_min_driver(api.group("required")) if api else None)
    have = driver_version_seen(facts)
    ev = facts.machine.evidence_of("ffmpeg-nvenc-api-too-old", "ffmpeg-nvenc-driver-too-old")
    meets = bool(have and need and _kb().driver_at_least(have, need))
    cannot_load = facts.machine.observed("ffmpeg-cannot-load-nvidia-library")
    if api is None and (meets or cannot_load):
        # FFmpeg prints its minimum after any failed load of the driver's NVENC library: where the driver meets it, or
        # FFmpeg could not load the library at all (nv-codec-headers' 'Cannot load', which no driver version explains:
        # an API too new for the driver is 'Driver does not support the required nvenc API version'), the library is
        # what is missing (Debian's split libnvidia-encode1 in OpenMediaVault's case, antipiot's fix; a container
        # started without the `video` capability)
        lib = cannot_load[0].group("library") if cannot_load else "libnvidia-encode.so.1"
        family = distro_family(facts.env)
        branch = have.split(".")[0] if have else None
        # (the host's packages only where the driver is known to meet the minimum: it then runs on this host)
        cmds = () if not meets else ((f"sudo apt install libnvidia-encode-{branch}",) if family == "ubuntu" else
                                     ("sudo apt install libnvidia-encode1 libnvcuvid1",) if family == "debian" else ())
        summary = (f"FFmpeg's NVENC encoder could not start, although driver {have} meets the minimum it names "
                   f"({need}): the driver's NVENC library ({lib}) is missing where FFmpeg runs" if meets else
                   f"FFmpeg could not load the driver's {lib}: the library is missing where FFmpeg runs (a host "
                   "without the driver's video package, or a container without the `video` capability); its NVENC "
                   f"minimum{f' ({need})' if need else ''} is printed after any failed load")
        quoted = ev[:2] if meets else (ev + facts.machine.evidence_of("ffmpeg-cannot-load-nvidia-library"))[:3]
        return Finding("compat.driver-cuda", Status.WARN, summary, tuple(e.describe() for e in quoted),
                       fix=Fix("Install the driver's NVENC and NVDEC libraries on the host (a package of their own on "
                               "Debian and Ubuntu), or, in a container, start it with the `video` driver capability.",
                               cmds, alternatives=(Alternative(
                                   "in a container: set NVIDIA_DRIVER_CAPABILITIES=compute,video,utility for it "
                                   "(or `all`) and start it again", ()),),
                               verify=("ldconfig -p | grep libnvidia-encode" if meets else
                                       "ldconfig -p | grep -E 'libnvidia-encode|libnvcuvid'",)),
                       evidence=ev)
    offers = f" offers NVENC API {api.group('found')} and" if api is not None else ""
    needs = (f"NVENC API {api.group('required')}" + (f", driver {need} or newer" if need else "")
             if api is not None else f"driver {need} or newer, for the NVENC API its build uses")
    return Finding("compat.driver-cuda", Status.FAIL,
                   f"The NVIDIA driver{f' {have}' if have else ''}{offers} is older than FFmpeg's NVENC encoder needs "
                   f"({needs})", tuple(e.describe() for e in ev[:2]),
                   fix=Fix(f"Install NVIDIA driver {need} or newer, then reboot." if need else
                           f"Install a newer NVIDIA driver (one that offers NVENC API {api.group('required')}), then "
                           "reboot.",
                           tuple(install_driver_commands(facts.pci, facts.driver, facts.env)),
                           alternatives=(Alternative("the driver cannot change (a GPU whose last branch is older, a "
                                                     "fixed cloud image): use an FFmpeg built against older "
                                                     "nv-codec-headers, whose NVENC API this driver offers", ()),),
                           verify=("nvidia-smi",)),
                   evidence=ev)


def _forward_compat_refused(facts) -> Finding | None:
    """CUDA tried its forward-compatibility library (cuda-compat: a newer libcuda that an image or a package puts on
    the loader path for a newer CUDA than the driver's) and the GPU refused it (`forward compatibility was attempted
    on non supported HW`, 804). The program's CUDA is newer than the driver: forward compatibility works only on
    data-centre GPUs with a supported driver branch, so the driver must be new enough for it (text-embeddings-
    inference#47/#181: an image on CUDA 12.2, a GeForce on driver 525, fixed by driver 550)."""
    told = facts.machine.belief("cuda.compat_unsupported")
    if told.value is not True:
        return None
    have = driver_version_seen(facts)
    nvml = getattr(facts, "nvml", None)
    driver_cuda = getattr(nvml, "cuda_driver_version", None) or (_kb().newest_cuda_for_driver(have) if have else None)
    on = f"driver {have}" + (f" (CUDA {driver_cuda})" if driver_cuda else "") if have else "the driver"
    drop = ld_library_path_without(facts, lambda p: "compat" in p)
    return Finding("compat.driver-cuda", Status.FAIL,
                   f"The program's CUDA is newer than {on} supports: CUDA tried the forward-compatibility library "
                   "(cuda-compat), which this GPU or driver does not take (804)",
                   tuple(e.describe() for e in told.evidence[:2]),
                   fix=Fix("Upgrade the driver to a branch whose CUDA version (nvidia-smi's header) is at least the "
                           "program's: forward compatibility works only on data-centre GPUs.",
                           tuple(install_driver_commands(facts.pci, facts.driver, facts.env)),
                           alternatives=(Alternative("the driver cannot change: run a build or image of the program "
                                                     "made for a CUDA the driver supports"
                                                     + (f" (CUDA {driver_cuda} or older)" if driver_cuda else ""), ()),
                                         Alternative("the program's CUDA is of the driver's major release (minor-"
                                                     "version compatibility): take the cuda-compat folder off the "
                                                     "loader path",
                                                     (drop,) if drop else ("grep -rn compat /etc/ld.so.conf "
                                                                           "/etc/ld.so.conf.d/",))),
                           verify=("nvidia-smi",)),
                   evidence=told.evidence)


def _optix_needs_newer_driver(facts) -> Finding | None:
    """optixInit() refused the ABI of the OptiX SDK the program was built with (OPTIX_ERROR_UNSUPPORTED_ABI_VERSION,
    7801; FUNCTION_TABLE_SIZE_MISMATCH, 7804): the driver's OptiX is older than the SDK's. Each SDK release names the
    driver it needs (7.4: R495.89, 7.7: R530.41, 9.0: the 590 branch); the message does not say which SDK it was."""
    told = facts.machine.told("driver.too_old_for_optix")
    if told is None:
        return None
    have = driver_version_seen(facts)
    return told_fail("compat.driver-cuda", f"The NVIDIA driver{f' {have}' if have else ''} is older than the OptiX SDK "
                     "the program was built with needs: optixInit() refused its ABI version", told,
                     Fix("Install a newer NVIDIA driver: each OptiX SDK release names the driver it needs (OptiX 7.4: "
                         "R495.89, 7.7: R530.41, 9.0: the 590 branch).",
                         tuple(install_driver_commands(facts.pci, facts.driver, facts.env)),
                         alternatives=(Alternative("the driver cannot change: build the program against an older OptiX "
                                                   "SDK, one this driver offers", ()),),
                         verify=("nvidia-smi",)))


def _insufficient_from_outputs(facts) -> Finding | None:
    """A program said the driver is too old for the CUDA it needs (CUDA's own 'driver version is insufficient' in
    TensorFlow's log, nvidia-container-cli's `unsatisfied condition: cuda>=11.0` for an image, nvidia-docker 1's
    `driver 8.0 < image 9.0`): no TensorFlow probe record needed. The CUDA named gives the driver it needs; with the
    driver's version known, the newest TensorFlow it runs is the alternative."""
    belief = facts.machine.belief("driver.too_old_for_cuda")
    if belief.value is not True:
        return None
    if (nvenc := _nvenc_needs_newer_driver(facts)) is not None:
        return nvenc
    ev = belief.evidence
    obs = facts.machine.observed(*CUDA_NEEDED_MESSAGES)
    need_cuda = next((o.group("cuda") for o in obs if o.group("cuda")), None)
    need_cuda = ".".join(need_cuda.split(".")[:2]) if need_cuda else _cuda_of_opened_runtime(facts)
    if need_cuda is None:
        # the program's own banner names the CUDA it was built with (NVEncC: `[NVENC API v13.0, CUDA 12.4]`)
        need_cuda = facts.machine.named("cuda", "nvencc-banner-cuda")
    physx = next(iter(facts.machine.observed("physx-cuda-driver-too-old")), None)
    if need_cuda is None and physx is not None:
        need_cuda = cuda_version(physx.group("cuda_int"))
    # an NGC container's banner names the driver release it needs, and the one it found
    banner = next((o for o in obs if o.message == "ngc-driver-too-old"), None)
    have = driver_version_seen(facts) or (banner.group("have") if banner else None)
    kb = _kb()
    req = kb.min_driver_for_cuda(need_cuda) if need_cuda else None
    need_driver = (req.toolkit_driver or req.minor_compat_floor) if req else (banner.group("need") if banner else None)
    cmds = tuple(install_driver_commands(facts.pci, facts.driver, facts.env))
    alternatives: list[Alternative] = []
    if obs:
        driver_cuda = next((o.group("driver_cuda") for o in obs if o.group("driver_cuda")), None)
        alternatives.append(Alternative("the driver cannot change: run an image built for a CUDA the driver supports"
                                        + (f" (CUDA {driver_cuda} or older)" if driver_cuda else ""), ()))
    conda_cuda = facts.machine.named("cuda", "conda-virtual-cuda")
    if conda_cuda:
        # conda's __cuda is the newest CUDA the driver runs: pin the environment's CUDA packages to it, and the solver
        # picks builds the driver can load (mamba#4068: cuda-version=12.9 pulled in where __cuda=12.8)
        alternatives.insert(0, Alternative(f"a conda environment: keep the driver and pin the environment's CUDA to "
                                           f"the driver's, {conda_cuda} (conda's __cuda), so the solver installs "
                                           "packages built for it", (f"conda install 'cuda-version={conda_cuda}'",)))
    alt = _newest_tf_for_driver(have, None) if have else None
    if alt is not None and not obs:
        alternatives.append(Alternative(f"keep driver {have}: TensorFlow {alt.version}, the newest whose CUDA "
                                        f"{alt.cuda} it runs", (install_command(tf_facts(facts), alt.version, True),)))
    ptx = facts.machine.observed("cuda-unsupported-ptx")
    if need_cuda is None and not ptx and banner is None and facts.machine.value("container") is True:
        # in a container, CUDA's runtime reports a libcuda it cannot find at all as an insufficient driver: with the
        # CUDA needed unknown, a driver too old is one of two readings (env.container names the other)
        return Finding("compat.driver-cuda", Status.WARN,
                       "CUDA's runtime says the driver is insufficient, in a container: the driver"
                       f"{f' {have}' if have else ''} may be older than the program's CUDA (not recorded), or the "
                       "container did not get the driver at all (see env.container)", tuple(e.describe() for e in ev[:3]),
                       fix=Fix("Run nvidia-smi inside the container: if it answers, the header's 'CUDA Version' is the "
                               "newest CUDA this driver runs; a program built for a newer CUDA needs a newer driver.",
                               ("nvidia-smi",), verify=("nvidia-smi",)),
                       evidence=ev)
    entry = next((o.group("symbol") for o in facts.machine.observed("libcuda-entry-point-missing")), None)
    what = f"CUDA {need_cuda}" if need_cuda else "this container" if banner else (
        "the CUDA toolkit that compiled the program's PTX" if ptx else "the CUDA runtime in use")
    summary = f"The NVIDIA driver{f' {have}' if have else ''} is older than {what} needs"
    if entry and not need_cuda and not ptx and banner is None:
        summary = (f"The NVIDIA driver{f' {have}' if have else ''} is older than the CUDA the program was built with: "
                   f"its libcuda has no {entry}, an entry point the program calls")
    if need_driver:
        summary += f" (driver {need_driver} or newer)"
    unknown = not have and not need_cuda and not ptx and banner is None and \
        all(e.message == "driver-insufficient" for e in ev)
    if unknown:
        # neither version recorded: CUDA's runtime says the same of a libcuda it could not load at all
        summary = ("CUDA's runtime says the driver is insufficient for it: the NVIDIA driver is older than the "
                   "program's CUDA runtime needs (neither version was recorded), or no driver's libcuda was found "
                   "where the program ran")
        alternatives.append(Alternative("the program runs in a container: start it with the GPU (`docker run --gpus "
                                        "all`, Singularity/Apptainer `--nv`), which brings the host's libcuda", ()))
    # the program's CUDA unknown but the driver's version known: it needs at least the floor of the first CUDA this
    # driver cannot run (cliffwoolley in nvidia-docker#414: driver 367.57 -> 'Please upgrade to a 375-series driver')
    floor = kb.next_driver_floor(have, ptx=bool(ptx)) if need_driver is None and have and banner is None else None
    at_least = (f"Install NVIDIA driver {floor[1]} or newer: the program's {'PTX' if ptx else 'CUDA'} is newer than "
                f"driver {have} runs, and {floor[0]}, the first it cannot run, needs {floor[1]} (the program's CUDA "
                "may need newer still)" if floor else None)
    return Finding("compat.driver-cuda", Status.FAIL, summary, tuple(e.describe() for e in ev[:3]),
                   fix=Fix(f"Install NVIDIA driver {need_driver} or newer" + (
                               f" (CUDA's minor-version compatibility runs CUDA {need_cuda} programs from driver "
                               f"{req.minor_compat_floor} on, unless they JIT-compile PTX)"
                               if req and req.minor_compat_floor and req.minor_compat_floor != need_driver else "")
                           if need_driver else at_least or
                           "Install a newer NVIDIA driver (the branch the GPU's table recommends)", cmds,
                           alternatives=tuple(alternatives),
                           verify=("nvidia-smi   # 'CUDA Version' in its header: the newest CUDA the driver runs",)),
                   evidence=ev)


def _driver_cuda_stated(facts) -> Finding | None:
    """No TensorFlow probe record: the release pip printed or the user stated (tf.version), against the driver version
    some output showed, through the knowledge base's tested CUDA of that release. TensorFlow's own `possibly
    insufficient driver version` alone is a suspicion (it prints it on every cuDNN initialisation failure): a warning
    that names the check to make, never a verdict."""
    m = facts.machine
    suspect = m.observed("tf-possibly-insufficient-driver")
    have = driver_version_seen(facts)
    stated = m.belief("tf.version")
    kb = _kb()
    build = kb.tested_cuda(stated.value) if isinstance(stated.value, str) else None
    if build is not None and have:
        req = kb.min_driver_for_cuda(build.cuda)
        floor = req.minor_compat_floor or req.toolkit_driver
        details = [f"TensorFlow {stated.value} (as printed: {stated.evidence[0].describe() if stated.evidence else '?'})",
                   f"CUDA {build.cuda}: TensorFlow {build.version}'s tested configuration ({build.source})",
                   f"minimum driver for CUDA {build.cuda}: {floor or '?'}", f"source: {req.source}"]
        if floor and not kb.driver_at_least(have, floor):
            return _too_old(facts, tf_facts(facts), have, stated.value, build.cuda, floor, req.toolkit_driver, details,
                            None, stated.evidence + m.evidence_of("tf-possibly-insufficient-driver")[:1])
        return ok("compat.driver-cuda", f"driver {have} supports CUDA {build.cuda} (TensorFlow {stated.value}, as "
                  "stated)", *details)
    if suspect and have:
        ev = m.evidence_of("tf-possibly-insufficient-driver")
        return Finding("compat.driver-cuda", Status.WARN, f"TensorFlow could not initialise cuDNN and suspects driver "
                       f"{have} is too old for the CUDA it was built with (its version was not recorded, so this "
                       "cannot be checked)", tuple(e.describe() for e in ev[:2]),
                       fix=Fix("Compare the driver with the CUDA this TensorFlow was built with (the first command "
                               "prints TensorFlow's version: its CUDA is in the tested-configurations table at "
                               "tensorflow.org/install/source#gpu); install a newer driver if it is older than that "
                               "CUDA needs.", tuple(install_driver_commands(facts.pci, facts.driver, facts.env)),
                               alternatives=(Alternative("if the driver is new enough for that CUDA, the cuDNN failure "
                                                         "has another cause: GPU memory taken by other processes "
                                                         "(nvidia-smi lists them) or a cuDNN other than the one "
                                                         "TensorFlow was built with", ()),),
                               verify=(tf_import_line(tf_facts(facts)), "nvidia-smi")),
                       evidence=ev)
    return None


def _xla_driver_older(facts) -> Finding | None:
    """XLA said the driver's CUDA is older than the PTX compiler (ptxas) it compiles with: the GPU runs, but XLA
    compiles GPU kernels without parallel compilation (slower) and leaves newer PTX to the driver. XLA's advice is
    its own: update the driver, or use NVIDIA's CUDA forward-compatibility packages."""
    obs = facts.machine.observed("driver-older-than-ptxas")
    if not obs:
        return None
    o = obs[0]
    compiler = o.group("ptxas_cuda") or o.group("ptx_compiler") or ""
    need = ".".join(compiler.split(".")[:2]) if compiler.count(".") >= 1 else None
    req = _kb().min_driver_for_cuda(need) if need else None
    need_driver = req.toolkit_driver if req else None
    return Finding("compat.driver-cuda", Status.WARN,
                   f"The NVIDIA driver runs CUDA {o.group('driver_cuda') or '?'}, older than the CUDA "
                   f"{need or '?'} compiler TensorFlow's XLA uses: XLA compiles GPU kernels without parallel "
                   "compilation (slower)", (o.line[:300],),
                   fix=Fix(f"Install NVIDIA driver {need_driver} or newer (CUDA {need})" if need_driver else
                           "Install a newer NVIDIA driver", tuple(install_driver_commands(facts.pci, facts.driver,
                                                                                          facts.env)),
                           alternatives=(Alternative("data-centre GPUs, where the driver cannot change: NVIDIA's CUDA "
                                                     "forward-compatibility package (cuda-compat) for that CUDA", ()),),
                           verify=("nvidia-smi   # 'CUDA Version' in its header: the newest CUDA the driver runs",)),
                   evidence=facts.machine.evidence_of("driver-older-than-ptxas"))


@check(
    "compat.driver-cuda",
    area="compat",
    title="Driver is new enough for TensorFlow's CUDA",
    needs=("tensorflow", "nvml", "driver"),
    after=("driver.nvidia-module", "nvml.init", "tf.cuda-build"),
    what="Compares the loaded NVIDIA driver's version with the minimum Linux driver for the CUDA version this "
         "TensorFlow was built with (NVIDIA's minor-version compatibility floor, and the toolkit's own driver for "
         "PTX JIT and XLA).",
    why="A driver older than the CUDA runtime cannot initialise it: TensorFlow logs `CUDA driver version is "
        "insufficient for CUDA runtime version` or `failed call to cuInit` and uses the CPU. CUDA 12 builds "
        "(TensorFlow 2.15 and newer) need driver 525.60.13 or newer; PTX JIT (new GPUs) and XLA want the toolkit's "
        "driver (555.42.06 for CUDA 12.5.1).",
    fix="Install a newer driver, e.g. `sudo apt install nvidia-driver-570`, then reboot; or install the newest "
        "TensorFlow whose CUDA the current driver supports.",
    links=("https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html",),
)
@with_pip_fixes
def check_driver_cuda(facts) -> Finding:
    tf = tf_facts(facts)
    if (tf is None or tf.source != "child") and (refused := _forward_compat_refused(facts)) is not None:
        return refused
    if (optix := _optix_needs_newer_driver(facts)) is not None:
        return optix
    told = _insufficient_from_outputs(facts)
    if told is not None and (tf is None or tf.source != "child" or facts.machine.observed(*CUDA_NEEDED_MESSAGES)):
        return told
    if (ptx := _ptx_newer_than_driver(facts)) is not None:
        return ptx
    if (tf is None or tf.source != "child") and (stated := _driver_cuda_stated(facts)) is not None:
        return stated
    if (tf is None or tf.source != "child") and (older := _xla_driver_older(facts)) is not None:
        return older
    if (s := _skip_without_tf("compat.driver-cuda", tf)) is not None:
        return s
    cuda, whence = tf_cuda(tf)
    if cuda is None:
        return skip("compat.driver-cuda", f"no CUDA in this TensorFlow ({whence})")
    have = kernel_driver_version(facts)
    if have is None:
        return skip("compat.driver-cuda", "the NVIDIA driver's version is unknown (no driver loaded, or NVML "
                    "unavailable)")
    kb = _kb()
    req = kb.min_driver_for_cuda(cuda)
    floor = req.minor_compat_floor or req.toolkit_driver
    full = req.toolkit_driver
    details = [f"TensorFlow {tf.tf_version}: CUDA {cuda} ({whence})",
               f"minimum driver for CUDA {cuda.split('.')[0]}.x: {req.minor_compat_floor or 'no minor-version compatibility'}",
               f"driver of the CUDA {req.toolkit_row or cuda} toolkit: {full or '?'}", f"source: {req.source}"]
    if floor and not kb.driver_at_least(have, floor):
        return _too_old(facts, tf, have, tf.tf_version, cuda, floor, full, details, python_minor(tf))
    if full and not kb.driver_at_least(have, full):
        ptx_gpus = [name for name, cc in machine_gpus(facts) if cc and _support(tf, cc) == "ptx"]
        if ptx_gpus:
            return warn("compat.driver-cuda", f"driver {have} runs CUDA {cuda} only in minor-version compatibility "
                        f"mode, which cannot JIT-compile PTX for {', '.join(ptx_gpus)}", *details,
                        fix=Fix(f"Install driver {full} or newer.", newer_driver_commands(facts, full),
                                verify=("nvidia-smi",)))
        return ok("compat.driver-cuda", f"driver {have} runs TensorFlow {tf.tf_version}'s CUDA {cuda} "
                  f"(minor-version compatibility; {full} or newer also covers PTX JIT and XLA)", *details)
    return ok("compat.driver-cuda", f"driver {have} supports CUDA {cuda} (TensorFlow {tf.tf_version})", *details)


def _ptx_newer_than_driver(facts) -> Finding | None:
    """A PTX assembler refused PTX of a newer ISA than it knows (`Unsupported .version 6.3; current version is
    '6.1'`), and the assembler is the driver's JIT: its 'current version' is the PTX of the newest CUDA this driver
    runs, or the driver's own CUDA_ERROR_UNSUPPORTED_PTX_VERSION is in the same output. Where no driver is known, the
    JIT's name for its input (`ptxas application ptx input`: Theano#6503, driver 375.66 and CUDA 9's PTX 6.0) makes it
    a warning: a toolkit's PTX compiler library names its input so too. The PTX ISA table names the CUDA
    whose toolkit wrote the PTX, and so the driver it needs (numba#3794: driver 390.87 and cudatoolkit 10.0's PTX 6.3;
    numba-cuda#120: driver 550 and CUDA 12.5's PTX 8.5). A toolkit's ptxas (XLA's, nvcc's: it names the .ptx file) older
    than its PTX is not the driver, nor is an assembler whose 'current version' a known driver exceeds."""
    m, kb = facts.machine, _kb()
    have = driver_version_seen(facts)
    nvml = getattr(facts, "nvml", None)
    driver_cuda = getattr(nvml, "cuda_driver_version", None) or (kb.newest_cuda_for_driver(have) if have else None)
    jit_sources = {o.source for o in m.observed("cuda-unsupported-ptx")}
    for o in m.observed("ptxas-unsupported-ptx-version"):
        need, current = kb.cuda_for_ptx(o.group("ptx") or ""), kb.cuda_for_ptx(o.group("current_ptx") or "")
        if need is None:
            continue
        known = bool(driver_cuda and current)
        matches = known and kb.parse_version(driver_cuda)[:2] == kb.parse_version(current)[:2]
        settled = o.source in jit_sources or matches
        # the JIT's name for its input with no driver known to contradict it: the driver's, most likely (the PTX
        # compiler library of a toolkit names its input so too), so a warning
        by_name = driver_jit_ptxas(o) and not known
        if toolkit_ptxas(o) or not (settled or by_name):
            continue
        req = kb.min_driver_for_cuda(need)
        floor = req.toolkit_driver  # PTX JIT is not covered by minor-version compatibility (ptx_jit_note)
        who = f"driver {have}" if have else "the NVIDIA driver"
        ev = m.evidence_of("ptxas-unsupported-ptx-version", "cuda-unsupported-ptx")[:2]
        summary = (f"The program's PTX is ISA {o.group('ptx')}, written by CUDA {need}'s toolkit; {who} JIT-compiles "
                   f"PTX up to {o.group('current_ptx')} (CUDA {current or driver_cuda})"
                   + (f": CUDA {need} needs driver {floor} or newer" if floor else ""))
        alt = Alternative(f"keep {who}: build the program with a CUDA toolkit no newer than CUDA "
                          f"{current or driver_cuda} (conda's cudatoolkit, numba's and CuPy's CUDA), whose PTX it "
                          "loads", ())
        return Finding("compat.driver-cuda", Status.FAIL if settled else Status.WARN, summary,
                       tuple(e.describe() for e in ev),
                       fix=Fix(f"Install NVIDIA driver {floor} or newer" if floor else "Install a newer NVIDIA driver",
                               newer_driver_commands(facts, floor) if floor else
                               tuple(install_driver_commands(facts.pci, facts.driver, facts.env)),
                               alternatives=(alt,),
                               verify=("nvidia-smi   # 'CUDA Version' in its header: the newest CUDA the driver runs",)),
                       evidence=ev)
    return None


def _newest_tf_for_driver(have: str, py: str | None):
    """The newest TensorFlow whose CUDA this driver runs (tfdoctor/knowledge/advisor.py), or None."""
    from tfdoctor.knowledge.advisor import newest_tensorflow

    return newest_tensorflow(have, (), py).build


# ----------------------------------------------------------------------------------------------- compat.compute-capability
def _support(tf, cc: str) -> str:
    """sass | ptx | none for this GPU on this TensorFlow: from the child's build info when known."""
    kb = _kb()
    build = _build_for(tf)
    if build is None:
        return "unknown"
    return kb.cc_support(build, cc)


def _build_for(tf):
    """A knowledge-base build record, with the arch list replaced by what get_build_info() really said."""
    import dataclasses

    kb = _kb()
    b = kb.tf_build(tf.tf_version) if tf.tf_version else None
    archs = tf.build.compute_capabilities if tf.build is not None else ()
    if archs:
        sass = tuple(_arch_cc(a) for a in archs if a.startswith("sm_"))
        ptx = tuple(_arch_cc(a) for a in archs if a.startswith("compute_"))
        if b is not None:
            return dataclasses.replace(b, sass=sass, ptx=ptx)
        return _Arches(sass, ptx)
    return b


class _Arches:
    """A stand-in build record when TensorFlow's version is unknown to the knowledge base."""

    def __init__(self, sass, ptx):
        self.sass, self.ptx = sass, ptx


def _arch_cc(arch: str) -> str:
    """'sm_89' -> '8.9', 'compute_90' -> '9.0', 'sm_120' -> '12.0'."""
    digits = "".join(ch for ch in arch.split("_", 1)[-1] if ch.isdigit())
    return f"{digits[:-1]}.{digits[-1]}" if len(digits) >= 2 else arch


# PyTorch's CUDA wheel indexes (https://download.pytorch.org/whl/cuXYZ), as pytorch.org/get-started/previous-versions
# lists them: the first of them at or above the CUDA a GPU needs is the build to name
_TORCH_CUDA_INDEXES = ("cu92", "cu101", "cu102", "cu110", "cu111", "cu113", "cu116", "cu117", "cu118", "cu121", "cu124",
                       "cu126", "cu128", "cu129", "cu130")


def _torch_index_for(cuda: str | None) -> str | None:
    """'12.8' -> 'cu128': PyTorch's first CUDA wheel index at or above `cuda`."""
    if not cuda:
        return None
    want = _kb().parse_version(cuda)[:2]
    for idx in _TORCH_CUDA_INDEXES:
        digits = idx[2:]
        have = (int(digits[:-1]), int(digits[-1]))
        if have >= tuple(want):
            return idx
    return None


# Kokkos' names for the NVIDIA architectures (its Kokkos_ARCH_<NAME><cc> CMake options), by tfdoctor's architecture
_KOKKOS_ARCH = {"Kepler": "KEPLER", "Maxwell": "MAXWELL", "Pascal": "PASCAL", "Volta": "VOLTA", "Turing": "TURING",
                "Ampere": "AMPERE", "Ada Lovelace": "ADA", "Hopper": "HOPPER", "Blackwell": "BLACKWELL"}


def _trt_sm_cc(o) -> str | None:
    """TensorRT's SM as a compute capability: `0x809` is 8.9, `120` is 12.0."""
    if o.group("smhex"):
        v = int(o.group("smhex"), 16)
        return _arch_cc(f"{v >> 8}{v & 0xFF}") if (v & 0xFF) < 10 else None
    return _arch_cc(o.group("sm")) if o.group("sm") else None


def _software_refuses_gpu(facts, unsupported) -> Finding:
    """The software in use said itself that it does not support the GPU (an NGC container, XLA's PTX target, a PyTorch
    build, Triton): which of them, and what to use instead."""
    def refused(summary: str, fix: Fix) -> Finding:
        return Finding("compat.compute-capability", Status.FAIL, summary,
                       tuple(e.describe() for e in unsupported.evidence[:3]), fix=fix, evidence=unsupported.evidence)

    o = next(iter(facts.machine.observed("ngc-gpu-not-supported")), None)
    newer = next(iter(facts.machine.observed("ngc-gpu-not-yet-supported")), None)
    sm = next((x.group("sm") for x in facts.machine.observed("llvm-ptx-too-old-for-sm")), None)
    torch_sm = next(iter(facts.machine.observed("torch-sm-not-compatible")), None)
    verify = ("nvidia-smi --query-gpu=name,compute_cap --format=csv",)
    if torch_sm is not None and not (o or sm):
        gpu, arch = (torch_sm.group("gpu") or "this GPU").strip(), torch_sm.group("sm") or "its architecture"
        cc = _arch_cc(arch) if arch.startswith("sm_") else None
        first = _kb().first_cuda_for_cc(cc, binary_compatible=True) if cc and cc != arch else None
        index = _torch_index_for(first)
        return refused(f"The PyTorch build in use has no kernels for the {gpu} ({arch})",
                       Fix("Install a PyTorch build made for this GPU's architecture"
                           + (f" (CUDA {first} or newer)" if first else "")
                           + (f": PyTorch's {index} wheels (torchvision and torchaudio, where installed, from the same "
                              "index); the driver must run that CUDA" if index else
                              ": pytorch.org/get-started/locally lists the wheel index of each CUDA build")
                           + "; in a container, an image built on it.",
                           (f"python3 -m pip install --upgrade torch --index-url https://download.pytorch.org/whl/"
                            f"{index}",) if index else (),
                           verify=("python -c \"import torch; print(torch.cuda.get_arch_list(), "
                                   "torch.cuda.get_device_capability())\"",)))
    torch_old = facts.machine.observed("torch-gpu-too-old")
    if torch_old and not (o or sm or torch_sm):
        # PyTorch 0.3.1-1.12's own check: the GPU is older than the oldest architecture the build carries
        gpu = next((x.group("gpu").strip() for x in torch_old if x.group("gpu")), None)
        cc = next((x.group("cc") for x in torch_old if x.group("cc")), None)
        least = next((x.group("min_cc") or x.group("min_cc2") for x in torch_old
                      if x.group("min_cc") or x.group("min_cc2")), None)
        return refused(f"The PyTorch build in use no longer supports {f'the {gpu}' if gpu else 'this GPU'}"
                       f"{f' (compute capability {cc})' if cc else ''}: the GPU is older than the oldest "
                       f"architecture the build has kernels for{f' ({least})' if least else ''}",
                       Fix("Install an older PyTorch release whose binaries still carry kernels for this compute "
                           "capability, or build PyTorch from source for it (TORCH_CUDA_ARCH_LIST); the pip and "
                           "conda packages no longer include it. The GPU and the driver are not the problem.", (),
                           verify=("python -c \"import torch; print(torch.cuda.get_arch_list(), "
                                   "torch.cuda.get_device_capability())\"",)))
    trt = facts.machine.observed("tensorrt-unsupported-sm")
    if trt and not (o or sm or torch_sm or torch_old):
        # TensorRT's builder does not know the GPU's architecture: the release predates the GPU (TensorRT#2332)
        cc = _trt_sm_cc(trt[0]) or _named_gpu_cc(facts)
        name = _cc_in_words(cc)
        return refused(f"The TensorRT release in use does not support {name}: it predates the GPU's architecture; the "
                       "GPU and the driver work",
                       Fix(f"Use a TensorRT release that supports {name} (TensorRT's support matrix lists the compute "
                           "capabilities of each release), with the CUDA and cuDNN it is built for, and rebuild the "
                           "engine with it.", (), verify=verify))
    ollama_old = facts.machine.observed("ollama-cuda-gpu-too-old")
    if ollama_old and not (o or sm or torch_sm or torch_old):
        cc = next((x.group("cc") for x in ollama_old if x.group("cc")), None)
        return refused(f"The GPU (compute capability {cc}) is older than ollama's CUDA build supports: ollama runs on "
                       "the CPU; the GPU and the driver work",
                       Fix("Use a GPU that ollama's docs/gpu.md lists as supported, an ollama release whose CUDA build "
                           "still supports this compute capability, or build ollama from source for it "
                           "(CMAKE_CUDA_ARCHITECTURES).", (), verify=verify))
    flash = facts.machine.observed("flash-attn-needs-ampere")
    if flash and not (o or sm or torch_sm or torch_old):
        # FlashAttention's own check: its kernels start at Ampere (FlashAttention 2) or Turing (1.x)
        gen = flash[0].group("needs") or "Ampere"
        least = "8.0" if gen == "Ampere" else "7.5"
        return refused(f"FlashAttention has no kernels for this GPU: it runs only on {gen} (compute capability "
                       f"{least}) or newer GPUs; the GPU and the driver work",
                       Fix("Run the model without FlashAttention (PyTorch's scaled-dot-product attention: in "
                           "transformers `attn_implementation=\"sdpa\"`, or the program's option that turns flash "
                           f"attention off), or on a GPU of compute capability {least} or newer.", (), verify=verify))
    ggml = facts.machine.observed("ggml-no-cuda-arch-for-gpu")
    if ggml and not (o or sm or torch_sm or torch_old):
        # ggml's own abort: no architecture the build carries is at or below the GPU's (the number is cc x 100)
        arch = int(ggml[0].group("arch"))
        cc = f"{arch // 100}.{arch % 100 // 10}"
        return refused(f"The ggml CUDA build in use (llama.cpp, ollama) has no kernels for this GPU (compute "
                       f"capability {cc}): it was compiled only for newer architectures; the GPU and the driver work",
                       Fix(f"Use a build that includes compute capability {cc}, or build it with that architecture: "
                           f"CMAKE_CUDA_ARCHITECTURES={arch // 10} (llama.cpp: `cmake -B build -DGGML_CUDA=ON "
                           f"-DCMAKE_CUDA_ARCHITECTURES={arch // 10}`).", (), verify=verify))
    kokkos = facts.machine.observed("kokkos-kernels-for-other-cc")
    if kokkos and not (o or sm or torch_sm or torch_old):
        # Kokkos' own probe kernel: the build's architecture does not suit the device (0.0: none of it runs there)
        cc = kokkos[0].group("cc")
        arch = _kb().architecture_for_cc(cc) if cc else None
        prefix = _KOKKOS_ARCH.get(arch.name) if arch else None
        flag = f"Kokkos_ARCH_{prefix}{cc.replace('.', '')}" if prefix and cc else None
        return refused(f"The program was built with Kokkos for another GPU architecture: it has no kernels that run "
                       f"on this GPU (compute capability {cc}); the GPU and the driver work",
                       Fix("Rebuild the program (and its Kokkos) for this GPU's architecture"
                           + (f": CMake's -D{flag}=ON (KOKKOS_ARCH in a Makefile build)" if flag else
                              " (CMake's Kokkos_ARCH_* option, KOKKOS_ARCH in a Makefile build)") + ".",
                           (), verify=verify))
    needs = facts.machine.observed("software-needs-newer-cc")
    if needs and not (o or sm or torch_sm or torch_old or kokkos):
        # a program's own minimum: the oldest compute capability its build supports (or the PTX it lacks)
        x = needs[0]
        least = x.group("min") or x.group("min2") or x.group("min3")
        ptx = x.group("ptx")
        cc = x.group("cc") or next((c for _, c in machine_gpus(facts) if c), None)
        this = f"this GPU (compute capability {cc})" if cc else "this GPU"
        what = (f"compute capability {least} or newer" if least else
                f"a GPU above compute capability {int(ptx) / 10:.1f} (its build carries no PTX for that or older)"
                if ptx
                else "a newer GPU than this one")
        return refused(f"The software in use needs {what}; {this} is older: the GPU and the driver work",
                       Fix("Use a release of the software that still supports this GPU's compute capability (or a build "
                           "of it for this architecture), or run it on a newer GPU.", (), verify=verify))
    cudajl = facts.machine.observed("cudajl-gpu-unsupported-on-cuda")
    if cudajl and not (o or sm or torch_sm or torch_old):
        # CUDA.jl picked a CUDA runtime (from the driver's CUDA version) that dropped the GPU; the driver still runs it
        x = cudajl[0]
        major = int(x.group("cuda"))
        return refused(f"CUDA.jl chose a CUDA {major} runtime, which no longer supports the {x.group('gpu').strip()} "
                       f"(compute capability {x.group('cc')}); the driver still does",
                       Fix(f"Pin CUDA.jl to a CUDA {major - 1} runtime, which still supports this GPU, then restart "
                           "Julia.", (f"julia -e 'using CUDA; CUDA.set_runtime_version!(v\"{major - 1}\")'",),
                           verify=("julia -e 'using CUDA; CUDA.versioninfo()'",)))
    triton = facts.machine.observed("triton-cc-too-old")
    if triton and not (o or sm):
        gpu = next((x.group("gpu") for x in triton if x.group("gpu")), None) or "this GPU"
        cc = next((x.group("cc") or x.group("cc2") for x in triton if x.group("cc") or x.group("cc2")), None)
        return refused(f"The {gpu} GPU{f' (compute capability {cc})' if cc else ''} is below what Triton, the GPU "
                       "compiler of torch.compile (and of vLLM), supports (7.0): the GPU and driver work, code "
                       "compiled with Triton cannot run on it",
                       Fix("Run without Triton: turn torch.compile off (the program's own option, or "
                           "TORCHDYNAMO_DISABLE=1), or use a GPU of compute capability 7.0 or newer; software "
                           "built on Triton alone (vLLM) does not support this GPU.",
                           ("export TORCHDYNAMO_DISABLE=1",), verify=verify))
    gpu = ((o or newer).group("gpu") if (o or newer) else None) or (
        f"compute capability {_arch_cc(sm)} ({sm})" if sm else "this GPU")
    if newer is not None and o is None and not sm:
        # the image's CUDA release predates the GPU: a newer release of the same image supports it
        return refused(f"This container image is older than the {gpu} GPU: its CUDA release has no kernels for "
                       "the GPU's architecture",
                       Fix("Use a newer release of the image (NVIDIA's container support matrix lists the "
                           "GPUs and CUDA of each release), or rebuild your image on a newer NGC base.",
                           (), verify=verify))
    if sm:
        # the software's compiler targets a PTX older than the GPU: the GPU is newer than this release
        return refused(f"This TensorFlow/XLA build cannot compile for the {gpu} GPU: the GPU is newer than the "
                       "PTX version it targets",
                       Fix("Use a TensorFlow build that supports this compute capability: a newer release "
                           "(or nightly) once it targets this architecture, or NVIDIA's NGC TensorFlow "
                           "container, which is built for NVIDIA's newest GPUs.", (), verify=verify))
    return refused(f"The software in use does not support the {gpu} GPU: its CUDA release dropped this "
                   "architecture",
                   Fix("Use an older release built for this GPU's compute capability (container or "
                       "TensorFlow), or a newer GPU; NVIDIA's container release notes list the hardware each "
                       "release supports.", (), verify=verify))


@check(
    "compat.compute-capability",
    area="compat",
    title="TensorFlow has kernels for the GPU",
    needs=("tensorflow", "nvml", "pci"),
    after=("pci.nvidia-gpu", "tf.cuda-build"),
    what="Compares each GPU's compute capability with the architectures compiled into this TensorFlow: native "
         "kernels (SASS for the same major, equal or lower minor), PTX that the driver JIT-compiles (slow on first "
         "use), or nothing.",
    why="TensorFlow ignores a GPU older than its oldest kernels (`Ignoring visible gpu device ... The minimum "
        "required Cuda capability is ...`): 2.17 and newer start at Pascal (6.0). A GPU newer than its newest "
        "kernels (e.g. Blackwell, 12.0) runs PTX JIT-compiled at start-up, which can take 30 minutes.",
    fix="For an old GPU install the newest TensorFlow that still has kernels for it (e.g. "
        "`pip install 'tensorflow[and-cuda]==2.16.*'` for Maxwell, compute capability 5.x). For PTX JIT, give the "
        "JIT cache room: `export CUDA_CACHE_MAXSIZE=2147483648`.",
    links=("https://developer.nvidia.com/cuda-gpus",),
)
@with_pip_fixes
def check_compute_capability(facts) -> Finding:
    unsupported = facts.machine.belief("gpu.unsupported_by_software")
    if unsupported.value is True:
        return _software_refuses_gpu(facts, unsupported)
    if (nvcc := _nvcc_predates_gpu(facts) or _nvrtc_refuses_gpu(facts)) is not None:
        return nvcc
    tf = tf_facts(facts)
    if (tf is None or tf.source != "child") and (below := _below_ggml_archs(facts)) is not None:
        return below
    gpus = [(name, cc) for name, cc in machine_gpus(facts)]
    if tf is not None and tf.gpus and not any(cc for _, cc in gpus):
        gpus = [(g.device_name or g.name, g.compute_capability) for g in tf.gpus]
    if tf is not None and tf.source == "log-only":
        return _cc_from_log(facts, tf)
    # no TensorFlow to ask: a program's 'no kernel image', else the CUDA stated beside the GPU named (TensorFlow 1.x
    # ran on the system's CUDA)
    if (tf is None or tf.source == "none") and (
            told := _no_kernel_image_told(facts, gpus) or _cuda_predates_gpu(facts, None)
            or _cuda_drops_gpu(facts, None)) is not None:
        return told
    if (s := _skip_without_tf("compat.compute-capability", tf)) is not None:
        return s
    if tf.build is not None and tf.build.is_cuda_build is False:
        return skip("compat.compute-capability", "CPU-only TensorFlow build")
    if not gpus:
        return skip("compat.compute-capability", "no NVIDIA GPU")
    known = [(n, cc) for n, cc in gpus if cc]
    if not known:
        return skip("compat.compute-capability", "the GPU's compute capability is unknown")
    if _build_for(tf) is None:
        return skip("compat.compute-capability", f"TensorFlow {tf.tf_version}'s architectures are unknown")
    verdicts = [(n, cc, _support(tf, cc)) for n, cc in known]
    archs = ", ".join(tf.build.compute_capabilities) if tf.build and tf.build.compute_capabilities else ""
    details = [f"{n}: compute capability {cc} -> {_words(v)}" for n, cc, v in verdicts]
    if archs:
        details.append(f"TensorFlow {tf.tf_version} carries: {archs}")
    none = [(n, cc) for n, cc, v in verdicts if v == "none"]
    if none:
        name, cc = none[0]
        b = _kb().newest_tf_supporting_cc(cc)
        if b is None:
            return fail("compat.compute-capability", f"{name} (compute capability {cc}) is too old for any "
                        "TensorFlow 2 wheel", *details,
                        fix=Fix("Use a newer GPU, or build TensorFlow from source for this compute capability."))
        py = python_minor(tf)
        cmds = [install_command(tf, b.version, True)]
        note = ""
        if py and not b.supports_python(py):
            note = f" It needs Python {b.python_min} to {b.python_max}."
            cmds = [f"python{b.python_max} -m venv .venv-tf{b.version.replace('.', '')}",
                    f".venv-tf{b.version.replace('.', '')}/bin/python -m pip install "
                    f"'tensorflow{'[and-cuda]' if b.has_and_cuda_extra else ''}=={b.version}.*'"]
        return fail("compat.compute-capability", f"TensorFlow {tf.tf_version} has no kernels for {name} (compute "
                    f"capability {cc}); TensorFlow {b.version} is the newest that supports it", *details,
                    fix=Fix(f"Install TensorFlow {b.version}.{note}", tuple(cmds)))
    ptx = [(n, cc) for n, cc, v in verdicts if v == "ptx"]
    if ptx:
        name, cc = ptx[0]
        return warn("compat.compute-capability", f"{name} (compute capability {cc}) runs TensorFlow "
                    f"{tf.tf_version} only through PTX JIT compilation: the first start can take many minutes",
                    *details, fix=Fix("Give the CUDA JIT cache room so the compilation happens once (add it to your "
                                      "shell profile).", ("export CUDA_CACHE_MAXSIZE=2147483648",)))
    return ok("compat.compute-capability", "TensorFlow has native kernels for "
              + ", ".join(f"{n} ({cc})" for n, cc, _ in verdicts), *details)


_NO_IMAGE = ("no kernel image is available", "cudaErrorNoKernelImageForDevice", "CUDA_ERROR_NO_BINARY_FOR_GPU",
             "NoBinaryForGpu", "invalid device function", "cudaErrorInvalidDeviceFunction", "invalid device symbol",
             "cudaErrorInvalidSymbol")


def _ggml_devices_below(m, lowest: int) -> tuple[list, list]:
    """ggml's device list as (name, compute capability), and those below `lowest` (in ARCHS units: 5.2 -> 520)."""
    devices = [(o.group("name"), o.group("cc")) for o in m.observed("ggml-cuda-device") if o.group("cc")]
    return devices, [(n, cc) for n, cc in devices if int(float(cc) * 100 + 0.5) < lowest]


def _below_ggml_archs(facts) -> Finding | None:
    """ggml's system information names the CUDA architectures its build carries (`CUDA : ARCHS = 600,610,...`) and
    its device list a GPU older than the lowest of them: the build has no kernels the GPU can run (PTX compiles
    forward to newer GPUs, never back; gpustack/llama-box#44: a Tesla M60, 5.2, under ARCHS from 600)."""
    m = facts.machine
    archs = m.named("archs", "ggml-cuda-archs")
    if not archs:
        return _below_ggml_default(facts)
    lowest = min(int(a) for a in archs.split(",") if a.isdigit())
    _, old = _ggml_devices_below(m, lowest)
    if not old:
        return None
    name, cc = old[0]
    ev = m.evidence_of("ggml-cuda-archs")[:1] + m.evidence_of("ggml-cuda-device")[:1]
    return Finding("compat.compute-capability", Status.FAIL,
                   f"This ggml build (llama.cpp and its kin) carries CUDA kernels from compute capability "
                   f"{lowest // 100}.{lowest % 100 // 10} up; the {name.strip()} is {cc}, older, so it has none for it",
                   tuple(e.describe() for e in ev),
                   fix=Fix(f"Build it for the GPU's architecture (CMAKE_CUDA_ARCHITECTURES={cc.replace('.', '')}, "
                           "as its build instructions say), or use a release built for it; the GPU and the driver are "
                           "not the problem.", (), verify=("nvidia-smi --query-gpu=name,compute_cap --format=csv",)),
                   evidence=ev)


# ggml's CUDA build, unless told otherwise, compiles for compute capability 5.0 (Maxwell, 'lowest CUDA 12 standard')
# and up: ggml-org/llama.cpp ggml/src/ggml-cuda/CMakeLists.txt, its default CMAKE_CUDA_ARCHITECTURES; Ollama's
# documentation (docs/gpu.md): 'Ollama supports Nvidia GPUs with compute capability 5.0+'
_GGML_DEFAULT_LOWEST = 500  # in ARCHS units: compute capability times 100


def _below_ggml_default(facts) -> Finding | None:
    """ggml's device list names a GPU older than compute capability 5.0 (a Kepler or older) and its build did not say
    which architectures it carries: the released builds of llama.cpp and Ollama start at 5.0, so unless this one was
    built for the GPU it has no kernels for it (ollama/ollama#1756: the Tesla K80, 3.7, listed and then not used)."""
    m = facts.machine
    devices, old = _ggml_devices_below(m, _GGML_DEFAULT_LOWEST)
    if not old or len(old) < len(devices):
        return None  # a newer GPU beside it can carry the work: nothing says the program failed
    name, cc = old[0]
    ev = m.evidence_of("ggml-cuda-device")[:2]
    return Finding("compat.compute-capability", Status.WARN,
                   f"The {name.strip()} is compute capability {cc}: the released builds of llama.cpp and Ollama (ggml) "
                   "carry CUDA kernels from 5.0 (Maxwell) up, so unless this build was made for it, it cannot run on "
                   "this GPU and falls back to the CPU", tuple(e.describe() for e in ev),
                   fix=Fix(f"Build it for the GPU's architecture (CMAKE_CUDA_ARCHITECTURES={cc.replace('.', '')}, with "
                           "a CUDA 11 toolkit: CUDA 12 no longer compiles for Kepler), or use a newer GPU; the driver is "
                           "not the problem.", (), verify=("nvidia-smi --query-gpu=name,compute_cap --format=csv",)),
                   evidence=ev)


def _no_kernel_image_told(facts, gpus) -> Finding | None:
    """A program (not TensorFlow's probe: none ran) printed CUDA's 'no kernel image is available for execution on the
    device': CUDA ran on the GPU, but the program, or a library it loads, carries no kernels (SASS or PTX) for this
    GPU's compute capability. CUDA's own meaning of cudaErrorNoKernelImageForDevice (209)."""
    m = facts.machine
    told = [o for o in m.observed("kernel-image-invalid") if any(w in o.line for w in _NO_IMAGE)]
    if not told:
        return None
    cc = next((o.group("cc") for o in m.observed("cuda-samples-gpu-device") if o.group("cc")), None) \
        or next((c for _, c in gpus if c), None)
    name = next((n for n, c in gpus if c == cc), None) if cc else None
    what = f"{name or 'the GPU'}{f' (compute capability {cc})' if cc else ''}"
    ev = tuple(e for o in told[:1] for e in m.evidence_of(o.message)[:1]) + m.evidence_of("cuda-samples-gpu-device")[:1]
    return Finding("compat.compute-capability", Status.FAIL,
                   f"A program has no kernel image for {what}: it (or a library it loads) was built without kernels "
                   "for this GPU's compute capability", tuple(e.describe() for e in ev),
                   fix=Fix("Install a build of the program (or of its GPU extension library) compiled for this "
                           "compute capability, or run it on a GPU it was built for; CUDA and the driver are not the "
                           "problem.", verify=("nvidia-smi --query-gpu=name,compute_cap --format=csv",)),
                   evidence=ev)


def _words(v: str) -> str:
    return {"sass": "native kernels (SASS)", "ptx": "PTX JIT only", "none": "no kernels"}.get(v, v)


def _cc_in_words(cc: str | None) -> str:
    """'compute capability 8.9 (Ada Lovelace)'; 'this GPU' where the compute capability is unknown."""
    if not cc:
        return "this GPU"
    arch = _kb().architecture_for_cc(cc)
    return f"compute capability {cc}" + (f" ({arch.name})" if arch else "")


def _toolkit_need(cc: str | None) -> tuple[str | None, str, str]:
    """For a compute capability read from a compiler's message (`8.6`; an `sm_` value that did not resolve is None):
    the first CUDA release that supports it, the capability in words, and that CUDA as a requirement in words."""
    cc = cc if cc and "." in cc else None
    first = _kb().first_cuda_for_cc(cc) if cc else None
    return first, _cc_in_words(cc), (f"CUDA {first} or newer" if first else "a CUDA release that supports the GPU")


def _nvcc_predates_gpu(facts) -> Finding | None:
    """A program compiled CUDA code for the GPU present and the toolkit's nvcc does not know its
    architecture (`nvcc fatal : Value 'sm_86' is not defined for option 'gpu-architecture'`): the CUDA toolkit in use
    predates the GPU (docker-stylegan2-ada#1: CUDA 10's nvcc in a TensorFlow 1 image on an RTX 3090; the fix was an
    image on a newer CUDA)."""
    o = next(iter(facts.machine.observed("nvcc-gpu-architecture-unknown")), None)
    if o is None:
        return None
    sm = o.group("sm") or ""
    _, name, need = _toolkit_need(_arch_cc(sm) if sm else None)
    ev = facts.machine.evidence_of("nvcc-gpu-architecture-unknown")[:1]
    return Finding("compat.compute-capability", Status.FAIL,
                   f"The CUDA compiler in use does not know {sm or 'the GPU'}: its CUDA toolkit predates the GPU "
                   f"({name} needs {need})", tuple(e.describe() for e in ev),
                   fix=Fix(f"Build with {need}: a CUDA toolkit (or a container image based on one) that knows the GPU; "
                           "the driver is not the problem.",
                           ("nvcc --version", "nvidia-smi --query-gpu=name,compute_cap --format=csv"),
                           verify=("nvcc --list-gpu-arch | tail -n 3   # lists the GPU's sm_ value",)),
                   evidence=ev)


def _named_gpu_cc(facts) -> str | None:
    """The compute capability of the one NVIDIA GPU the probes saw, else of the model a person or lshw named exactly
    (`GPU model and memory: GeForce RTX 2080 Ti`); None where several differ or none is known."""
    ccs = {cc for _, cc in machine_gpus(facts) if cc} or \
        {m.compute_capability for m in stated_gpu_models(facts) if m.compute_capability}
    return next(iter(ccs)) if len(ccs) == 1 else None


def _cuda_in_use(facts) -> tuple[str | None, str, tuple, bool]:
    """The CUDA release a program runs on, where it was read and its evidence, and whether it is the program's own
    build: the runtime TensorFlow's loader opened, else the runtime a program says it was built with (Paddle), else the
    release the reporter states (the weakest: people also quote nvidia-smi's driver-API number)."""
    m = facts.machine
    if (cuda := _cuda_of_opened_runtime(facts)) is not None:
        return cuda, "the CUDA runtime TensorFlow opened", m.evidence_of("dso-load-ok"), False
    built = next((o for o in m.observed("paddle-device-capability") if o.group("runtime_cuda")), None)
    if built is not None:
        return (built.group("runtime_cuda"), "the CUDA runtime the program was built with",
                m.evidence_of("paddle-device-capability", "kernel-image-invalid"), True)
    stated = next((o for o in m.observed(*STATED_CUDA) if o.group("cuda_version")), None)
    if stated is not None:
        return stated.group("cuda_version"), "as stated", m.evidence_of(*STATED_CUDA), False
    return None, "", (), False


def _cuda_drops_gpu(facts, log) -> Finding | None:
    """The CUDA in use no longer supports the GPU's compute capability: CUDA 11.0 dropped Kepler's 3.0 and 3.2, 12.0
    Kepler's 3.5 and 3.7, 13.0 Maxwell, Pascal and Volta (architectures.json, from each release's notes). Its compilers
    cannot build for the GPU and its libraries carry no kernels for it (cupy#4660: a Quadro K2000 under CUDA 11.2;
    openmm#3756 the same card under 11.4). A failure where a program's own runtime says so; where only the reporter
    names the release a warning, since people also quote nvidia-smi's number, which is the driver's. The GPU's compute
    capability: the first TensorFlow's log names, else the GPU's named by the probes or the reporter."""
    cc = (next(iter(log.compute_capabilities), None) if log is not None else None) or _named_gpu_cc(facts)
    arch = _kb().architecture_for_cc(cc) if cc else None
    dropped = arch.dropped_by_cuda(cc) if arch else None
    cuda, where, ev, _ = _cuda_in_use(facts)
    if not dropped or not cuda or not _kb().driver_at_least(cuda, dropped):
        return None
    last = _kb().cuda_before(dropped)
    return Finding("compat.compute-capability", Status.WARN if where == "as stated" else Status.FAIL,
                   f"CUDA {cuda} ({where}) no longer supports {_cc_in_words(cc)}: CUDA {dropped} dropped it, so "
                   "its compilers cannot build for this GPU and its libraries carry no kernels for it",
                   tuple(e.describe() for e in ev[:2]),
                   fix=Fix(f"Use CUDA {last} or older (with builds of the program and its libraries made for it), or "
                           f"a newer GPU; the driver is not the problem." if last else
                           "Use a CUDA release that still supports this GPU, or a newer GPU.",
                           verify=("nvidia-smi --query-gpu=name,compute_cap --format=csv",)),
                   evidence=ev)


def _nvrtc_refuses_gpu(facts) -> Finding | None:
    """NVRTC, CUDA's runtime compiler, refused the architecture a program asked it for (`nvrtc: error: invalid value
    for --gpu-architecture (-arch)`). Programs that compile their kernels at run time (CuPy, OpenMM, ...) ask for the
    GPU's own compute capability, and an NVRTC refuses one its CUDA no longer supports (openmm#3756: a Kepler Quadro
    K2000 under CUDA 11.4) or does not know yet (cupy#1048: CUDA 8's NVRTC and a Pascal GPU). The program's CUDA path
    fails either way; which way, the GPU's compute capability and the CUDA release tell where both are known."""
    m = facts.machine
    if not m.observed("nvrtc-gpu-architecture-invalid"):
        return None
    if (known := _cuda_drops_gpu(facts, None) or _cuda_predates_gpu(facts, None)) is not None:
        return known.with_(status=Status.FAIL)
    ev = m.evidence_of("nvrtc-gpu-architecture-invalid")[:1]
    return Finding("compat.compute-capability", Status.FAIL,
                   f"CUDA's runtime compiler (NVRTC) refused {_cc_in_words(_named_gpu_cc(facts))}'s architecture: the "
                   "CUDA the program compiles with no longer supports this GPU (Kepler after CUDA 10.2, Maxwell to "
                   "Volta after 12.x), or is older than the GPU", tuple(e.describe() for e in ev),
                   fix=Fix("Compare the GPU's compute capability with the CUDA release the program's NVRTC comes from, "
                           "and use a CUDA (or a build of the program) that supports the GPU; the driver is not the "
                           "problem.", ("nvidia-smi --query-gpu=name,compute_cap --format=csv",),
                           verify=("nvidia-smi --query-gpu=name,compute_cap --format=csv",)),
                   evidence=ev)


def _cuda_predates_gpu(facts, log) -> Finding | None:
    """The CUDA in use (the runtime TensorFlow's loader opened, else the one the reporter states) is older than the
    first CUDA that supports the GPU's compute capability (Pascal needs CUDA 8.0, Ampere's 8.6 CUDA 11.1, Blackwell
    CUDA 12.8): its libraries carry no kernels for the GPU."""
    cc = next(iter(log.compute_capabilities), None) if log is not None else None  # first seen first
    if cc is None and log is None:
        cc = _named_gpu_cc(facts)
    if cc is None:
        return None
    kb = _kb()
    # a CUDA whose libraries have kernels for an older GPU of the same major still runs on it (binary compatibility,
    # PTX JIT for the rest): only a CUDA older than the whole major is a failure
    first = kb.first_cuda_for_cc(cc, binary_compatible=True)
    cuda, where, ev, by_program = _cuda_in_use(facts)
    if not first or not cuda or kb.driver_at_least(cuda, first):  # a padded numeric comparison: "12" is "12.0"
        return None
    name = _cc_in_words(cc)
    if by_program:
        return Finding("compat.compute-capability", Status.FAIL, f"CUDA {cuda} ({where}) predates the GPU: {name} "
                       f"needs CUDA {first} or newer, so the program has no kernels for it",
                       tuple(e.describe() for e in ev[:2]),
                       fix=Fix(f"Use a build of the program made with CUDA {first} or newer (compiled for this GPU's "
                               "compute capability), or a GPU its build supports; the driver is not the problem.",
                               verify=("nvidia-smi --query-gpu=name,compute_cap --format=csv",)),
                       evidence=ev)
    return Finding("compat.compute-capability", Status.FAIL, f"CUDA {cuda} ({where}) predates the GPU: {name} needs "
                   f"CUDA {first} or newer", tuple(e.describe() for e in ev[:2]),
                   fix=Fix(f"Install CUDA {first} or newer with a TensorFlow built for it (tensorflow.org/install/source"
                           "#gpu lists each release's CUDA); TensorFlow 2.14 and newer bring their CUDA libraries as "
                           "pip wheels.", (install_command(tf_facts(facts), None, True),),
                           verify=("nvidia-smi --query-gpu=name,compute_cap --format=csv",)),
                   evidence=ev)


def _tensorflow_speaks(facts) -> bool:
    """Whether the log recorded as TensorFlow's is TensorFlow's (a line that names it), not another CUDA program's that
    a paste put in its place."""
    return any(o.source == "tensorflow.log" and ("tensorflow" in o.line.lower() or o.message.startswith("tf-"))
               for o in facts.machine.observations)


def _ptxas_predates_gpu(facts) -> Finding | None:
    """XLA's ptxas (the CUDA toolkit's PTX assembler, which XLA compiles its kernels with) does not know the GPU's
    compute capability, so XLA hands its PTX to the driver's JIT instead (`ptxas does not support CC 8.9`; TensorFlow
    2.4-2.13: `Your CUDA software stack is old`). That fallback is meant to work, slower to start (the PR that added
    it, tensorflow#43888); where the kernel the fallback should have produced is then missing (`failed to get PTX
    kernel ... CUDA_ERROR_NOT_FOUND`) the program fails, and the fix is a ptxas from a CUDA that knows the GPU (JAX's
    maintainers in jax#13614: 'CUDA 11.8 is required for Hopper and Ada Lovelace series GPUs')."""
    m = facts.machine
    told = next(iter(m.observed("xla-ptxas-fallback-to-driver", "ptxas-too-old")), None)
    if told is None:
        return None
    first, name, need = _toolkit_need(told.group("cc") or (_arch_cc(told.group("sm")) if told.group("sm") else None))
    missing = m.evidence_of("xla-ptx-kernel-not-found")
    ev = m.evidence_of("xla-ptxas-fallback-to-driver", "ptxas-too-old")[:1] + missing[:1]
    if not missing:
        return info("compat.compute-capability", f"XLA's ptxas does not know {name}: XLA compiles its kernels with the "
                    "driver's JIT instead (slower to start, not a failure)", *(e.describe() for e in ev),
                    fix=Fix(f"For the full speed, give XLA a ptxas from {need}.", ()))
    wheel = f"nvidia-cuda-nvcc-cu{first.split('.')[0]}>={first}" if first else None
    return Finding("compat.compute-capability", Status.FAIL,
                   f"XLA's ptxas predates the GPU ({name} needs the ptxas of {need}), and the driver's JIT fallback "
                   "left the kernel the program asked for missing: the program fails on this GPU",
                   tuple(e.describe() for e in ev),
                   fix=Fix(f"Install the CUDA compiler tools (ptxas) of {need} where XLA finds them: as a pip wheel in "
                           "the program's environment, or a CUDA toolkit on PATH.",
                           ((f"python3 -m pip install '{wheel}'",) if wheel else ()),
                           alternatives=(Alternative(f"a system CUDA toolkit: install {need} and put its bin folder "
                                                     "on PATH", ()),),
                           verify=("ptxas --version   # a release that supports the GPU; the log no longer says "
                                   "'ptxas does not support CC'",)),
                   evidence=ev)


def _cc_from_log(facts, tf) -> Finding:
    log = tf.log
    m = log.first("gpu-below-min-cc")
    if m is not None:
        cc = m.group("cc") or (log.compute_capabilities[0] if log.compute_capabilities else None)
        name = (m.group("name") or "").split(" compute capability")[0].strip() or None
        b = _kb().newest_tf_supporting_cc(cc) if cc else None
        return fail("compat.compute-capability", f"TensorFlow ignored {name or 'a GPU'} of compute capability {cc} "
                    f"(minimum {m.group('min_cc') or log.min_required_cc})", m.line,
                    fix=Fix(f"Install TensorFlow {b.version}, the newest with kernels for it."
                            if b else "This GPU is too old for any TensorFlow 2 wheel; build from source.",
                            (install_command(tf, b.version, b.has_and_cuda_extra),)
                            if b else ()))
    m = log.first("no-kernel-binaries-for-cc")
    if m is not None:
        return warn("compat.compute-capability", f"TensorFlow has no native kernels for compute capability "
                    f"{m.group('cc') or m.group('compute_capability')}: it JIT-compiles PTX at start-up", m.line,
                    fix=Fix("Give the CUDA JIT cache room so the compilation happens once.",
                            ("export CUDA_CACHE_MAXSIZE=2147483648",)))
    predates = _cuda_predates_gpu(facts, log) or _cuda_drops_gpu(facts, log) or _ptxas_predates_gpu(facts)
    if predates is not None:
        return predates
    # CUDA's 'no kernel image' (a CUDA message: read in TensorFlow's log as in any program's output)
    image = next((o for o in facts.machine.observed("kernel-image-invalid") if o.source == "tensorflow.log"), None)
    if image is not None:
        if _tensorflow_speaks(facts):
            return fail("compat.compute-capability", "TensorFlow has no kernel image for this GPU", image.line,
                        fix=Fix("Install a TensorFlow whose wheel has kernels for this GPU's compute capability."))
        # another CUDA program's log (PyTorch, JAX, a CUDA application): its build, not TensorFlow's
        return fail("compat.compute-capability", "The program's CUDA build has no kernel image for this GPU", image.line,
                    fix=Fix("Install a build of the program compiled for this GPU's compute capability (a framework "
                            "wheel for a CUDA release that supports the GPU), or use a GPU its build supports.",
                            verify=("nvidia-smi --query-gpu=name,compute_cap --format=csv",)))
    if (told := _no_kernel_image_told(facts, machine_gpus(facts))) is not None:
        # CUDA's 'no kernel image' quoted elsewhere in the paste (a reporter's sentence, another program's output)
        return told
    m = next((x for x in log.matches if x.claim("tf.sees_gpu") is True and x.group("cc")), None)
    if m is not None:
        return ok("compat.compute-capability", f"TensorFlow created a GPU device (compute capability "
                  f"{m.group('cc')})", m.line)
    return skip("compat.compute-capability", "TensorFlow's log does not name a compute capability")


# ----------------------------------------------------------------------------------------------- compat.python
@check(
    "compat.python",
    area="compat",
    title="Python version suits TensorFlow",
    needs=("tensorflow",),
    after=("tf.installed",),
    what="Compares the diagnosed interpreter's Python version with the range TensorFlow tests and publishes wheels "
         "for (2.21: Python 3.10 to 3.13).",
    why="pip silently installs an older TensorFlow, or none at all, on a Python outside the range; an "
        "interpreter newer than every TensorFlow release cannot install it.",
    fix="Use a Python inside the range, e.g. `python3.12 -m venv .venv` then "
        "`.venv/bin/python -m pip install 'tensorflow[and-cuda]==2.21.*'`.",
    links=("https://www.tensorflow.org/install/source#gpu",),
)
@with_pip_fixes
def check_python(facts) -> Finding:
    tf = tf_facts(facts)
    if tf is None or tf.source != "child":
        if wheel_platform_refused(facts) is not None:
            return skip("compat.python", "pip refused TensorFlow's wheel for its platform, not for this Python (see "
                        "tf.installed)")
        if pip_too_old(facts) is not None:
            return skip("compat.python", "pip is too old to see TensorFlow's newer wheels, whatever the Python (see "
                        "tf.installed)")
        if (tagged := _wheel_for_another_python(facts)) is not None:
            return tagged
        no_wheel = _no_wheel_from_pip(facts)
        if no_wheel is not None:
            return no_wheel
        return skip("compat.python", "no TensorFlow probe record")
    py = python_minor(tf)
    if py is None:
        return skip("compat.python", "the interpreter's Python version is unknown")
    kb = _kb()
    version = tf.tf_version
    b = kb.tf_build(version) if version else None
    if version is None:
        newest = newest_tf_for_python(py)
        if newest is None:
            latest = kb.tf_versions()[-1]
            return fail("compat.python", f"no TensorFlow release supports Python {tf.python_version}; TensorFlow "
                        f"{latest.version} needs Python {latest.python_min} to {latest.python_max}",
                        fix=Fix(f"Create an environment with Python {latest.python_max}.",
                                (f"python{latest.python_max} -m venv .venv",
                                 f".venv/bin/python -m pip install 'tensorflow[and-cuda]=={latest.version}.*'")))
        return ok("compat.python", f"Python {tf.python_version} is supported by TensorFlow {newest.version}")
    if b is None:
        return info("compat.python", f"TensorFlow {version} is not in tfdoctor's knowledge base; Python "
                    f"{tf.python_version} not checked")
    if b.supports_python(py):
        return ok("compat.python", f"Python {tf.python_version} is in TensorFlow {b.version}'s tested range "
                  f"({b.python_min} to {b.python_max})")
    newest = newest_tf_for_python(py)
    fix_cmds = (f"python{b.python_max} -m venv .venv", f".venv/bin/python -m pip install "
                f"'tensorflow{'[and-cuda]' if b.has_and_cuda_extra else ''}=={b.version}.*'")
    alts = ()
    if newest is not None and newest.version != b.version:
        alts = (Alternative(f"to keep Python {py}: TensorFlow {newest.version}",
                            (install_command(tf, newest.version, newest.has_and_cuda_extra),)),)
    make = warn if tf.imported else fail
    return make("compat.python", f"Python {tf.python_version} is outside TensorFlow {b.version}'s tested range "
                f"({b.python_min} to {b.python_max})", f"source: {b.source}",
                fix=Fix(f"Use Python {b.python_min} to {b.python_max} for TensorFlow {b.version}"
                        + (f", or TensorFlow {newest.version} for Python {py}." if newest else "."), fix_cmds, alts))


def _python_from_offered(versions: str | None) -> str | None:
    """The Python minor whose TensorFlow wheels pip offered: pip lists only the releases with a wheel for this
    interpreter, so the oldest one listed is the first release for its Python (2.16.0rc0 -> 3.12). None when the list
    is empty or older than the knowledge base can tell."""
    from tfdoctor.knowledge.loader import parse_version

    offered = [parse_version(v)[:2] for v in (versions or "").replace(" ", "").split(",") if v[:1].isdigit()]
    if not offered:
        return None
    oldest = ".".join(map(str, min(offered)))
    builds = _kb().tf_versions()
    if oldest not in {b.version for b in builds} or oldest == builds[0].version:
        return None  # older than the knowledge base reaches: its first release may not be this Python's first
    pys = [f"3.{n}" for n in range(5, 20)]
    first = {py: next((b.version for b in builds if b.supports_python(py)), None) for py in pys}
    found = [py for py, v in first.items() if v == oldest]
    return found[0] if len(found) == 1 else None


def _wheel_for_another_python(facts) -> Finding | None:
    """pip refused a TensorFlow wheel file (`tensorflow-1.12.0-cp35-none-linux_armv7l.whl is not a supported wheel on
    this platform`) and nothing shows the interpreter is the wheel's Python (wheel_platform_refused reads that case):
    a wheel's Python tag is what people most often take wrong (a cp35 wheel under Python 3.6: tensorflow#12187,
    lhelontra/tensorflow-on-arm#43, noahzhy/tf-aarch64#1). Where the interpreter's Python was stated, it is named."""
    o = next(iter(facts.machine.observed("pip-wheel-not-supported")), None)
    if o is None:
        return None
    tag = o.group("py_tag") or ""
    wheel_py = f"{tag[2]}.{tag[3:]}" if len(tag) >= 4 and tag[2:].isdigit() else None
    stated = facts.machine.named("python_version", "python-version-stated")
    here = ".".join(stated.split(".")[:2]) if stated else None
    ev = facts.machine.evidence_of("pip-wheel-not-supported", "python-version-stated")
    which = f"this interpreter is Python {here}" if here else "the interpreter's Python is not recorded"
    return Finding("compat.python", Status.FAIL,
                   f"pip refuses the {o.group('wheel')} wheel: it is built for Python {wheel_py or tag} ({tag}), and "
                   f"{which}" + ("" if here else ": a wheel for another Python is the usual reason (or another "
                                                 "platform: the wheel is " + (o.group("platform") or "?") + ")"),
                   tuple(e.describe() for e in ev[:3]),
                   fix=Fix(f"Install the wheel whose Python tag is the interpreter's own (cp36 for Python 3.6), or run "
                           f"it with Python {wheel_py or tag}; the commands show the interpreter's version and "
                           "platform.",
                           ("python3 -m pip --version",
                            "python3 -c 'import platform, sys; print(sys.version_info[:2], platform.machine())'"),
                           verify=("python3 -c 'import tensorflow as tf; print(tf.__version__)'",)),
                   evidence=ev)


def _no_wheel_from_pip(facts) -> Finding | None:
    """pip found no TensorFlow wheel for the interpreter (a pasted `pip install tensorflow...` error)."""
    belief = facts.machine.belief("tf.wheel_available")
    obs = facts.machine.observed("pip-no-tensorflow-wheel")
    if belief.value is not False or not obs:
        return None
    req = next((o.group("requirement") for o in obs if o.group("requirement")), "tensorflow")
    offered = next((o.group("versions") for o in obs if o.group("versions") is not None), None)
    wanted = minor(req.split("==", 1)[1]) if "==" in req else None
    kb = _kb()
    build = kb.tf_build(wanted) if wanted else None
    below = req.split("<", 1)[1].lstrip("=") if "<" in req and "<=" not in req else None
    if build is None and below:
        # `tensorflow<2.0`: the newest release under the bound is the one pip was asked for
        under = [b for b in kb.tf_versions() if kb.parse_version(b.version) < kb.parse_version(below)]
        build = under[-1] if under else None
        wanted = build.version if build is not None else None
    target = build or kb.tf_versions()[-1]
    py = _python_from_offered(offered)
    details = [e.describe() for e in belief.evidence[:2]]
    if py:
        details.append(f"the releases pip offers ({offered.strip()[:120]}) are those with wheels for Python {py}")
    if offered is not None and offered.strip() == "none":
        details.append("pip offers no release at all: this interpreter's Python version (or a 32-bit Python, or the "
                       "platform) has no TensorFlow wheel")
    name = req.split("==")[0].split("[")[0]
    pin = f"=={target.version}.*"
    venv = f".venv-tf{target.version.replace('.', '')}"
    alternatives = [Alternative("with conda", (f"conda create -y -n tf{target.version.replace('.', '')} "
                                               f"python={target.python_max}",
                                               f"conda run -n tf{target.version.replace('.', '')} python -m pip install "
                                               f"'{name}{pin}'"))]
    if py:
        newest = newest_tf_for_python(py)
        if newest is not None and newest.version != target.version:
            alternatives.append(Alternative(f"keep Python {py}: TensorFlow {newest.version}, the newest release for it",
                                            (f"python{py} -m pip install 'tensorflow=={newest.version}.*'",)))
    where = f"Python {py}" if py else "this interpreter"
    return Finding("compat.python", Status.FAIL,
                   f"pip finds no {name} {wanted or ''} wheel for {where}: TensorFlow {target.version} needs Python "
                   f"{target.python_min} to {target.python_max}".replace("  ", " "), tuple(details),
                   fix=Fix(f"Install TensorFlow {target.version} into a Python {target.python_max} environment.",
                           (f"python{target.python_max} -m venv {venv}",
                            f"{venv}/bin/python -m pip install '{name}{pin}'"),
                           alternatives=tuple(alternatives),
                           verify=(f"{venv}/bin/python -c 'import tensorflow as tf; print(tf.__version__)'",)),
                   evidence=belief.evidence)


__all__ = ["ubuntu_driver_package", "minor"]
