"""System and environment checks: OS, Python, containers, WSL2, CUDA_VISIBLE_DEVICES."""

from __future__ import annotations

from tfdoctor import textmatch
from tfdoctor.checks import check
from tfdoctor.checks.commands import tfdoctor_command
from tfdoctor.machine import obs_evidence
from tfdoctor.model import Alternative, Finding, Fix, Status, fail, info, ok, skip, told_fail, warn


def _gpu_count(facts) -> int | None:
    """How many devices CUDA numbers here, where known: GPUs, unless MIG is on (CUDA then numbers MIG devices, which
    a GPU count does not give: None)."""
    gpus = getattr(facts.nvml, "gpus", None)
    if facts.machine.value("gpu.mig_enabled") is True or any(getattr(g, "mig_mode_current", None) for g in gpus or ()):
        return None
    if gpus:
        # (a pasted table may leave rows out: a GPU numbered 3 means at least four)
        return max(len(gpus), 1 + max((g.index for g in gpus if isinstance(getattr(g, "index", None), int)),
                                      default=-1))
    devs = getattr(facts.pci, "nvidia_devices", ())
    if devs:
        return len(devs)
    # `nvidia-smi -L` as pasted: one line per GPU, numbered from 0
    listed = [int(o.group("index")) for o in facts.machine.observed("smi-list-gpu") if (o.group("index") or "").isdigit()]
    return max(listed) + 1 if listed else None


@check(
    "system.os",
    area="system",
    title="Operating system",
    needs=("env",),
    what="Reads /etc/os-release, the kernel release (`uname -r`) and /proc/version.",
    why="Driver packages, their names and the commands in every fix depend on the distribution; the kernel "
        "release decides which NVIDIA module DKMS must have built.",
    fix="Nothing to fix by itself: this finding gives the context the other fixes are written for.",
)
def check_os(facts) -> Finding:
    env = facts.env
    if (musl := facts.machine.told("system.musl")) is not None:
        # musl's loader could not resolve a glibc symbol: a glibc build (NVIDIA's utilities, TensorFlow's wheels)
        # on Alpine or an image built on it (tensorflow#103, netdata-glibc#6, nvidia-container-toolkit#1526)
        return told_fail("system.os", "A program built for glibc ran on a musl C library (Alpine Linux or an image "
                         "built on it): musl's loader cannot resolve its glibc symbols. NVIDIA's driver utilities and "
                         "TensorFlow's wheels need glibc", musl,
                         Fix("Run it on a glibc distribution or image (Debian, Ubuntu, RHEL and their images: "
                             "NVIDIA's CUDA images are built on them).", (),
                             alternatives=(Alternative("only NVIDIA's utilities (nvidia-smi) in an Alpine container: "
                                                       "Alpine's glibc compatibility layer", ("apk add gcompat",)),),
                             verify=("ldd --version 2>&1 | head -1   # names glibc (GNU libc), not musl",)))
    name = env.os_pretty or (f"{env.os_id} {env.os_version_id}" if env.os_id else None)
    kernel = env.kernel_release
    if not name and not kernel:
        return info("system.os", "The distribution and kernel were not recorded")
    parts = [name or "unknown distribution"]
    if kernel:
        parts.append(f"kernel {kernel}")
    return ok("system.os", ", ".join(parts), *( [env.proc_version] if env.proc_version else []))


@check(
    "system.python",
    area="system",
    title="Python interpreter",
    needs=("env",),
    what="Asks the target interpreter (the current one, or `--python PATH`) for its version and whether it "
         "runs in a virtualenv or conda environment.",
    why="TensorFlow publishes wheels for a few Python versions only; pip quietly installs an older TensorFlow (or "
        "none) for a Python outside that range, and a tool installed with pipx diagnoses the wrong environment "
        "unless it is pointed at the project's interpreter.",
    fix="Use a Python that the TensorFlow you want supports (see `compat.python`), e.g. "
        "`python3.12 -m venv .venv && .venv/bin/pip install 'tensorflow[and-cuda]'`, and point tfdoctor at it with "
        "`tfdoctor check --python .venv/bin/python`.",
)
def check_python(facts) -> Finding:
    env = facts.env
    py = env.python
    if py is None:
        if env.python_error:
            return warn("system.python", "The target Python interpreter could not be run", env.python_error,
                        fix=Fix("Check the path given to --python: it must be a Python executable, such as a "
                                "virtual environment's bin/python.",
                                (tfdoctor_command(facts, "check", "--python", ".venv/bin/python"),)))
        return skip("system.python", "The Python interpreter was not recorded")
    where = []
    if py.virtualenv:
        where.append(f"virtualenv {py.virtualenv}")
    if py.conda:
        where.append("conda environment")
    if not where:
        where.append("no virtualenv" + ("; the distribution manages its packages (PEP 668): pip installs go into a "
                                         "virtual environment" if py.externally_managed else ""))
    suffix = f" ({', '.join(where)})"
    details = [f"executable: {py.executable}"] if py.executable else []
    try:
        major, minor = (int(x) for x in py.version.split(".")[:2])
    except ValueError:
        major, minor = 0, 0
    if (major, minor) < (3, 9) and major:
        return warn("system.python", f"Python {py.version}{suffix} is older than any current TensorFlow supports",
                    *details, fix=Fix("Use Python 3.10 to 3.13 for TensorFlow 2.21.",
                                      ("python3.12 -m venv .venv", ".venv/bin/pip install 'tensorflow[and-cuda]'")))
    return ok("system.python", f"Python {py.version}{suffix}", *details)


def _profiling_without_sys_admin(facts) -> Finding | None:
    """In a container a profiler was refused the GPU's performance counters (dcgm-exporter's own warning, CUPTI's
    CUPTI_ERROR_INSUFFICIENT_PRIVILEGES): they need CAP_SYS_ADMIN there, besides the driver allowing non-admin users
    (NVIDIA's ERR_NVGPUCTRPERM page; dcgm-exporter#427). The GPU itself works, so this warns."""
    m = facts.machine
    if (told := m.told("driver.profiling_restricted")) is None or m.value("container") is not True:
        return None
    from tfdoctor.checks.driver import profiling_fix  # (imported here: importing checks registers them)

    host = profiling_fix(facts)
    return Finding("env.container", Status.WARN, "A profiler in this container was refused the GPU's performance "
                   "counters: a container needs CAP_SYS_ADMIN for them (and the driver must allow non-admin users "
                   "or the profiler run as root)", tuple(e.describe() for e in told.evidence[:2]),
                   fix=Fix("Start the container with the SYS_ADMIN capability (`docker run --cap-add SYS_ADMIN ...`, "
                           "`securityContext.capabilities.add: [SYS_ADMIN]` in Kubernetes).", (),
                           alternatives=(Alternative("the host's driver restricts profiling to administrators: allow "
                                                     "every user there", host.commands),),
                           verify=host.verify),
                   evidence=told.evidence)


def _toolkit_broken(facts) -> Finding | None:
    """The container runtime on the host cannot hand out GPUs (what docker or nvidia-container-cli said)."""
    tk = facts.machine.belief("container.toolkit")
    if tk.value is not False:
        return None
    # only nvidia-container-cli's own `load library failed: libnvidia-ml.so.1` says the runtime cannot hand out GPUs
    nvml_missing = all(e.message == "container-cli-libnvidia-ml" for e in tk.evidence)
    if nvml_missing and facts.machine.value("wsl") is True:
        return None  # under WSL libnvidia-ml.so.1 is the Windows driver's (/usr/lib/wsl/lib): env.wsl says why not
    # imported here, not at the top: importing checks registers them, and their order is the listing's
    from tfdoctor.checks.container import DOCKER_CONFIGURE, toolkit_fix

    if nvml_missing:
        return Finding("env.container", Status.FAIL, *_hook_without_nvml(facts, DOCKER_CONFIGURE),
                       evidence=tk.evidence)
    fix = toolkit_fix(facts, "Install the NVIDIA Container Toolkit on the host, register it with Docker, and restart "
                             "Docker (Docker installed as a snap cannot use it: install Docker from its apt repository).")
    return Finding("env.container", Status.FAIL, "The container runtime cannot give the container a GPU: the "
                   "NVIDIA Container Toolkit is missing or not configured", tuple(e.describe() for e in tk.evidence[:3]),
                   fix=fix, evidence=tk.evidence)


def _hook_without_nvml(facts, configure: tuple[str, ...]) -> tuple[str, tuple[str, ...], Fix]:
    """(summary, details, fix) for the toolkit's hook that ran (nvidia-container-cli printed it) and could not load the
    host driver's NVML: the host has no working NVIDIA driver, or the engine does not see the host's libraries (Docker
    installed as a snap: docker-snap's maintainer, 'only developed for Ubuntu Core'); NVIDIA's answer in
    ameli/manylinux-cuda#5. Where the host's driver answers (nvidia-smi listed its GPUs), only the engine is left."""
    from tfdoctor.checks.fixes import distro_family, install_driver_commands

    tk = facts.machine.belief("container.toolkit")
    details = tuple(e.describe() for e in tk.evidence[:3])
    # Docker from the distribution's archive instead of the snap (Ubuntu's and Debian's docker.io)
    unsnap = ("sudo snap remove docker",
              *(("sudo apt install docker.io",) if distro_family(facts.env) in ("ubuntu", "debian") else ()),
              *configure)
    head = "The NVIDIA container hook ran but cannot load the host driver's NVML library (libnvidia-ml.so.1)"
    reinstall = "install Docker from the distribution's archive (or Docker's own apt repository)"
    n = facts.nvml
    if n is not None and n.init_ok and n.gpus:
        return (f"{head}, though the driver answers on the host: the container engine does not see the host's libraries "
                "(Docker installed as a snap)", details,
                Fix(f"Docker installed as a snap cannot use the host's NVIDIA driver: remove the snap, {reinstall}, then "
                    "configure the NVIDIA runtime for it.", unsnap,
                    verify=("docker run --rm --gpus all ubuntu nvidia-smi",)))
    return (f"{head}: the host has no working NVIDIA driver, or the container engine does not see the host's libraries "
            "(Docker installed as a snap)", details,
            Fix("On the host, nvidia-smi must work first: if it does not, install the NVIDIA driver (then reboot); if "
                "it does, Docker is likely a snap, which cannot use the host's driver: install Docker from its own apt "
                "repository instead.", install_driver_commands(facts.pci, facts.driver, facts.env),
                alternatives=(Alternative(f"nvidia-smi works on the host and `snap list docker` lists Docker: remove "
                                          f"the snap, {reinstall} and configure the NVIDIA runtime for it", unsnap),),
                verify=("nvidia-smi", "docker run --rm --gpus all ubuntu nvidia-smi")))


def _device_cgroup_denies(facts, access) -> Finding:
    """The process's device cgroup does not let it open /dev/nvidia*: a container that lost its GPU (NVIDIA's notice:
    systemd reloading its units, e.g. `systemctl daemon-reload`, rewrites the container's device rules) or one started
    without it."""
    nvml = facts.machine.evidence_of("smi-nvml-unknown-error")
    return Finding("env.container", Status.FAIL,
                   "This process's device cgroup does not allow the NVIDIA devices (character major 195): the container "
                   "has lost its GPU (systemd rewrote its device rules, e.g. on `systemctl daemon-reload`) or was "
                   "started without it", tuple(e.describe() for e in (*access.evidence, *nvml)[:4]),
                   fix=Fix("Recreate the container (a restart of the same container is not enough); on the host, "
                           "create the /dev/char links that let runc keep the NVIDIA devices across systemd reloads, "
                           "and have them created at every boot (NVIDIA's workaround).",
                           ("sudo nvidia-ctk system create-dev-char-symlinks --create-all",),
                           alternatives=(Alternative("Docker only: let Docker manage cgroups itself instead of "
                                                     "systemd: set \"exec-opts\": [\"native.cgroupdriver=cgroupfs\"] "
                                                     "in /etc/docker/daemon.json and restart Docker", ()),),
                           verify=("grep 195 /sys/fs/cgroup/devices/devices.list   # inside the new container: "
                                   "c 195:* rw (or rwm)", "nvidia-smi -L")),
                   evidence=access.evidence + nvml)


def gpu_on_host_shown(facts) -> bool:
    """Does something show that the host has an NVIDIA GPU to give this container? A container sees the host's PCI
    bus and kernel (modules, log), so an NVIDIA device there, a loaded or installed driver, or a GPU another program
    named. That a program tried CUDA (TensorFlow's cuInit error) counts only in a pasted snapshot, where the person
    asking wanted a GPU; live, it is tfdoctor's own probe that tried."""
    from tfdoctor.checks.gpu import gpu_expected

    m = facts.machine
    if m.value("gpu.present") is False:
        return False  # the host's bus was read (a container sees it): no GPU there to give, required or not
    if facts.require_gpu:
        return True
    if m.value("gpu.present") is True or m.value("driver.installed") is True or m.value("driver.loaded") is True:
        return True
    if not m.complete:
        return gpu_expected(facts)
    d = facts.driver
    return bool(getattr(facts.pci, "nvidia_devices", ()) or getattr(facts.nvml, "gpus", ())
                or (d is not None and (d.nvidia_loaded or d.installed_branch
                                       or any(e.module.startswith("nvidia") for e in d.dkms_entries))))


def _no_gpu_access_fix() -> Fix:
    # Your container's own `docker run` line is not known here: the fix names the option, and the command that shows
    # on the host that the toolkit hands out GPUs.
    from tfdoctor.checks.container import CUDA_BASE_IMAGE

    return Fix("Restart the container with GPU access: add `--gpus all` to the `docker run` command that starts it "
               "(on the host, with the NVIDIA Container Toolkit installed; in Kubernetes, request nvidia.com/gpu). "
               "On the host, this shows that a container gets the GPU:",
               verify=(f"docker run --rm --gpus all {CUDA_BASE_IMAGE} nvidia-smi",))


def _gpu_access_fix(facts) -> Fix:
    """How to give this container the GPU: in a Kubernetes pod, by requesting it; elsewhere, `docker run --gpus`."""
    env = getattr(facts, "env", None)
    variables = getattr(env, "variables", None) or {}
    if getattr(env, "container", None) == "kubernetes" or "KUBERNETES_SERVICE_HOST" in variables:
        # In a pod the GPU comes from the NVIDIA device plugin, and only to containers that request it.
        return Fix("This pod did not request a GPU: add `resources: limits: nvidia.com/gpu: 1` to the container in "
                   "the pod spec (the node needs the NVIDIA device plugin or GPU Operator), then recreate the pod.",
                   ("kubectl get nodes -o custom-columns=NODE:.metadata.name,GPUS:.status.allocatable.nvidia\\.com/gpu",),
                   verify=("nvidia-smi -L", "ls -l /dev/nvidia*"))
    return _no_gpu_access_fix()


def _cuda_found_no_gpu(facts) -> tuple | None:
    """In a container: the evidence that CUDA found no GPU there (TensorFlow registered none, or another CUDA program
    found no driver's libcuda: PyTorch's `Found no NVIDIA driver on your system`) while nothing shows a loaded driver
    and the host has a GPU to give; None otherwise."""
    m = facts.machine
    if m.value("cuda.init_error") == "500":
        return None  # libcuda was mounted and cuInit ran: the container got the GPU (container.toolkit says why not)
    if m.value("cuda.libcuda_stub") is True:
        return None  # the toolkit's stub libcuda was loaded ahead of the driver's: cuda.libcuda says so
    seen, missing = m.belief("tf.sees_gpu"), m.belief("cuda.libcuda_missing")
    told = seen.evidence if seen.value is False else missing.evidence if missing.value is True else None
    if told is None or m.value("driver.loaded") is True or not gpu_on_host_shown(facts):
        return None
    return told


_GPU_REQUEST = ("--gpus", "--runtime=nvidia", "--runtime nvidia", "nvidia.com/gpu", "NVIDIA_VISIBLE_DEVICES",
                "--device /dev/nvidia", "--device=/dev/nvidia")


def _started_without_gpu_request(facts) -> tuple:
    """The `docker run`/`podman run` command lines a paste shows (as its command keys) that ask for no GPU at all
    (no --gpus, --runtime=nvidia, CDI device, NVIDIA_VISIBLE_DEVICES or /dev/nvidia* device): a container started so
    gets no GPU unless the engine's default runtime is NVIDIA's."""
    from tfdoctor.machine import Evidence

    out = []
    for src in getattr(getattr(facts, "sources", None), "sources", ()) or ():
        name = getattr(src, "name", "") or ""
        words = name.removeprefix("sudo ")
        if words.startswith(("docker run ", "podman run ")) and not any(g in name for g in _GPU_REQUEST):
            out.append(Evidence("the command", name[:200]))
    return tuple(out[:1])


def _no_driver_in_output(facts, plain) -> tuple:
    """What a container started without a GPU request printed itself, where it says the driver's CUDA library is not
    there (`error while loading shared libraries: libcuda.so.1`, PyTorch's `Found no NVIDIA driver`): no image holds
    libcuda.so.1, the NVIDIA runtime mounts the host's into a container that asks for a GPU (leejet/stable-diffusion.cpp
    #1352: 'I just needed to add --gpus all'). Only that command's own output: a libcuda missing elsewhere says
    nothing of how this container was started."""
    if not plain:
        return ()
    names = {e.line for e in plain}
    return tuple(e for e in facts.machine.evidence_of(*_NO_DRIVER_IN_CONTAINER) if e.source[:200] in names)


# what a program in a container prints when the driver's libcuda.so.1 is not there, or (nvidia-smi bind-mounted from
# the host, mattshma/bigdata#108) when the driver's device nodes are not
_NO_DRIVER_IN_CONTAINER = ("ld-so-libcuda-missing", "torch-no-nvidia-driver", "smi-cannot-communicate")


def _insufficient_in_container(facts) -> tuple | None:
    """In a container, CUDA's runtime said the driver is insufficient (35) and nothing names the CUDA the program
    needs: the CUDA runtime reports a libcuda it cannot load at all the same way, and a container started without
    the GPU has none (the NVIDIA runtime mounts the host's). Either that or a driver older than the program's CUDA."""
    from tfdoctor.checks.gpu import CUDA_NEEDED_MESSAGES

    m = facts.machine
    if m.observed(*CUDA_NEEDED_MESSAGES, "dso-load-ok"):
        return None  # the CUDA needed is named: compat.driver-cuda compares it with the driver
    told = m.evidence_of("driver-insufficient")
    return told or None


def _no_driver_utilities(facts) -> tuple | None:
    """In a container: the shell found no nvidia-smi and NVML did not answer. The NVIDIA runtime mounts nvidia-smi
    (with libcuda) into every container it gives a GPU, so its absence says the container got none."""
    m = facts.machine
    told = m.belief("driver.utilities_missing")
    # (a driver seen loaded elsewhere, e.g. by a `docker run --gpus all ... nvidia-smi` on the host, is not this
    # container's: only NVML answering here says the container has the driver)
    if told.value is not True or getattr(facts.nvml, "init_ok", False):
        return None
    return told.evidence


def _insufficient_finding(facts, where, told) -> Finding:
    return Finding("env.container", Status.WARN,
                   "Running in a container in which CUDA reports the driver insufficient for its runtime: the container "
                   "was most likely started without GPU access (CUDA says so of a driver library it cannot find), "
                   "unless the host's driver is older than the program's CUDA (compat.driver-cuda)",
                   tuple(e.describe() for e in (*where, *told)[:4]),
                   fix=_gpu_access_fix(facts),
                   evidence=tuple(where) + tuple(told))


def _pod_without_gpu(facts) -> Finding | None:
    """A Kubernetes pod with no /dev/nvidia* on a node that has a GPU: the pod spec did not request one."""
    from tfdoctor.checks.gpu import gpu_expected

    env = facts.env
    variables = getattr(env, "variables", None) or {}
    pod = getattr(env, "container", None) == "kubernetes" or "KUBERNETES_SERVICE_HOST" in variables
    if not pod or getattr(env, "dev_nvidia", None) != () or not (facts.require_gpu or gpu_expected(facts)):
        return None
    finding = warn if not facts.require_gpu else fail
    return finding("env.container", "Running in a Kubernetes pod without /dev/nvidia* devices: the pod did not "
                                    "request a GPU (nvidia.com/gpu)", *getattr(env, "container_evidence", ()),
                   fix=_gpu_access_fix(facts))


def _shm_too_small(facts) -> Finding | None:
    """/dev/shm too small for what a program keeps there: NCCL's buffers for multi-GPU communication (NCCL's maintainer in
    NVIDIA/nccl#525; the fix confirmed in nccl#342) or a PyTorch DataLoader's worker batches (kubeflow/pipelines#6510),
    usually a container's or a pod's default 64 MB."""
    if (told := facts.machine.told("container.shm_too_small")) is None:
        return None
    what = ("NCCL cannot create its shared-memory buffers" if facts.machine.observed("nccl-shm-no-space")
            else "The DataLoader's workers die writing to shared memory")
    return told_fail("env.container", f"{what}: /dev/shm is too small (a Docker container's or a pod's default is "
                     "64 MB)", told,
                     Fix("Give the container a larger /dev/shm: add `--shm-size=1g` to the `docker run` command that "
                           "starts it (Compose: `shm_size: 1g`), then start it again.", (),
                           (Alternative("share the host's IPC namespace instead: `--ipc=host`", ()),
                            Alternative("Kubernetes: mount an emptyDir with medium: Memory at /dev/shm", ()),
                            Alternative("until then, slower: NCCL without shared memory",
                                        ("export NCCL_SHM_DISABLE=1",))),
                           verify=("df -h /dev/shm   # inside the container: more than 64M",)))


def _image_for_other_arch(facts) -> Finding | None:
    """runc could not run the container's first program: `exec format error`, a binary built for another CPU
    architecture (an x86_64 image such as nvidia/cuda on an aarch64 Jetson: NVIDIA's answer in nvidia-docker#1116 is
    the L4T images)."""
    ev = facts.machine.evidence_of("container-exec-format-error")
    if not ev:
        return None
    jetson = facts.machine.value("platform.jetson") is True
    return Finding("env.container", Status.FAIL, "The container's image is built for another CPU architecture than "
                   "this machine's: its first program cannot run ('exec format error')",
                   tuple(e.describe() for e in ev[:2]),
                   fix=Fix("Use an image built for this machine's architecture" + (
                       ": on a Jetson, NVIDIA's L4T images (nvcr.io/nvidia/l4t-base, l4t-cuda, l4t-tensorflow) of "
                       "the L4T release it runs (`cat /etc/nv_tegra_release`)" if jetson else
                       " (a multi-architecture image's arm64 or amd64 variant, or one built on this machine)") + ".",
                           ("uname -m   # the architecture the image must be built for",
                            *(("cat /etc/nv_tegra_release   # the L4T release the image tag must match",) if jetson
                              else ())),
                           verify=("docker run --rm ubuntu uname -m   # a multi-architecture image runs; yours must "
                                   "name this architecture too",)),
                   evidence=ev)


@check(
    "env.container",
    area="system",
    title="Container",
    needs=("env", "pci", "driver", "nvml"),
    after=("pci.nvidia-gpu",),  # a container runtime that cannot hand out an NVIDIA GPU where there is none
    what="Looks for /.dockerenv, /run/.containerenv, container cgroups and the `container` variable, and lists "
         "the /dev/nvidia* device nodes the container can see; reads the runtime's own errors (an image built for "
         "another CPU architecture: `exec format error`; /dev/shm too small).",
    why="A container sees the GPU only when it was started with GPU access (`docker run --gpus all` with the "
        "NVIDIA Container Toolkit, or the Kubernetes device plugin); without it TensorFlow fails with "
        "`failed call to cuInit` even though the host is healthy, and no driver installed inside the container "
        "can help.",
    fix="Restart the container with GPU access: `docker run --gpus all ...` (install `nvidia-container-toolkit` on "
        "the host and restart Docker first), or request `nvidia.com/gpu` in the Kubernetes pod spec. Never install "
        "the NVIDIA kernel driver inside a container.",
    links=("https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html",),
)
def check_container(facts) -> Finding:
    env = facts.env
    if (other := _image_for_other_arch(facts)) is not None:
        return other
    if (shm := _shm_too_small(facts)) is not None:
        return shm
    pod = _pod_without_gpu(facts)
    if pod is not None:
        return pod
    broken = _toolkit_broken(facts)
    if broken is not None:
        return broken
    if (prof := _profiling_without_sys_admin(facts)) is not None:
        return prof
    access = facts.machine.belief("container.gpu_access")
    plain = _started_without_gpu_request(facts)
    no_gpu = facts.machine.evidence_of("ngc-no-supported-gpu") or _no_driver_in_output(facts, plain)
    if access.value is None and plain and no_gpu:
        # the container found no GPU (an NGC image's check) or no driver library in it, and the command that started
        # it asked for none
        return Finding("env.container", Status.FAIL, "This container was started without a GPU request (its `docker "
                       "run` asks for none) and found no GPU" + (
                           " (the driver's libcuda.so.1 is not in it: the NVIDIA runtime mounts it from the host "
                           "into a container that asks for a GPU)" if "libcuda" in no_gpu[0].line else
                           " (nvidia-smi could not reach the driver: the NVIDIA runtime gives the driver's device nodes "
                           "only to a container that asks for a GPU)" if "NVIDIA-SMI" in no_gpu[0].line else "")
                       + ": it was most likely started without GPU access",
                       tuple(e.describe() for e in (*plain, *no_gpu[:1])), fix=_gpu_access_fix(facts),
                       evidence=no_gpu[:1])
    if access.value is False and any(e.source.endswith("devices.list") for e in access.evidence):
        return _device_cgroup_denies(facts, access)
    if access.value is False:
        return Finding("env.container", Status.FAIL, "This container was started without GPU access",
                       tuple(e.describe() for e in access.evidence[:3]), fix=_gpu_access_fix(facts),
                       evidence=access.evidence)
    if not env.container:
        known = facts.machine.belief("container")
        if known.value is True:
            tried = _cuda_found_no_gpu(facts) or _no_driver_utilities(facts)
            if tried is not None:
                return Finding("env.container", Status.FAIL, "Running in a container in which CUDA finds no GPU: "
                               "it was most likely started without GPU access",
                               tuple(e.describe() for e in (*known.evidence, *tried)[:4]),
                               fix=_gpu_access_fix(facts), evidence=known.evidence + tuple(tried))
            if (told := _insufficient_in_container(facts)) is not None:
                return _insufficient_finding(facts, known.evidence, told)
            return info("env.container", "Running in a container (its markers were not recorded)",
                        *(e.describe() for e in known.evidence))
        if known.value is None:
            return skip("env.container", "Whether this runs in a container was not recorded (paste the output of "
                                         "`ls /.dockerenv /run/.containerenv; cat /proc/1/cgroup`)")
        return ok("env.container", "Not running in a container")
    evidence = list(env.container_evidence)
    nodes = env.dev_nvidia
    if nodes:
        return info("env.container", f"Running in a {env.container} container with GPU device nodes "
                                     f"({', '.join('/dev/' + n for n in nodes[:4])})", *evidence)
    if nodes is None:
        # Inside a container TensorFlow could not initialise CUDA and nothing shows a GPU device given to it: the
        # usual cause is a container started without --gpus (the host's driver is out of the container's reach).
        tried = _cuda_found_no_gpu(facts) or _no_driver_utilities(facts)
        if tried is not None:
            return Finding("env.container", Status.FAIL, f"Running in a {env.container} container in which CUDA "
                           "finds no GPU: it was most likely started without GPU access",
                           (*evidence, *(e.describe() for e in tried[:2])), fix=_gpu_access_fix(facts),
                           evidence=tuple(tried))
        if (told := _insufficient_in_container(facts)) is not None:
            from tfdoctor.machine import Evidence

            return _insufficient_finding(facts, tuple(Evidence("container markers", e) for e in evidence), told)
        return info("env.container", f"Running in a {env.container} container (its /dev was not recorded)", *evidence)
    if not gpu_on_host_shown(facts):
        # no GPU device given to the container, and nothing shows the host has one to give: no advice to restart it
        where = ("no NVIDIA GPU on the host's PCI bus" if getattr(facts.pci, "source", "none") != "none"
                 else "no NVIDIA GPU device, and nothing shows the host has one")
        return info("env.container", f"Running in a {env.container} container ({where})", *evidence)
    fix = _no_gpu_access_fix()
    finding = warn if not facts.require_gpu else fail
    return finding("env.container", f"Running in a {env.container} container without /dev/nvidia* devices: "
                                    "it was started without GPU access", *evidence, fix=fix)


def _gpu_fails_below_wsl(facts) -> tuple:
    """The evidence that the GPU does not reach this WSL distribution: the driver not answering (nvidia-smi, NVML),
    cuInit failing or libcuda not loadable. TensorFlow's own libraries missing is not WSL's doing, so not read here."""
    m = facts.machine
    out: list = []
    if m.value("driver.loaded") is False:
        out += m.belief("driver.loaded").evidence[:2]
    for q in ("cuda.libcuda_missing", "cuda.libcuda_unversioned_missing"):
        if m.value(q) is True:
            out += m.belief(q).evidence[:2]
    # the container library found no libnvidia-ml.so.1: under WSL it is the Windows driver's, in /usr/lib/wsl/lib
    out += m.evidence_of("container-cli-libnvidia-ml")[:2]
    # libd3d12.so / libdxcore.so missing: only Windows provides them, in /usr/lib/wsl/lib (microsoft/WSL#6096: a
    # Windows build without GPU support for WSL; Microsoft's guide then: 'you need Build 20150 or higher')
    wsl_only = [o for o in m.observed("import-so-missing", "cuda-lib-cannot-open")
                if (o.group("library") or "").startswith(("libd3d12.so", "libdxcore.so"))]
    out += [obs_evidence(o) for o in wsl_only[:1]]
    # every device 'busy or unavailable' (46): under WSL no compute mode of this distribution's can cause it
    if m.value("cuda.devices_unavailable") is True:
        out += m.belief("cuda.devices_unavailable").evidence[:2]
    code = m.value("cuda.init_error")
    # 500 inside a container is the container toolkit's (container.toolkit), not WSL's
    if code not in (None, "0") and not (code == "500" and m.value("container") is True):
        out += m.belief("cuda.init_error").evidence[:2]
    n = facts.nvml
    # NVML's 'GPU access blocked by the operating system' (WSL2, a Hyper-V GPU-P guest) is the GPU not reaching WSL
    if n is not None and not n.init_ok and n.init_error not in (None, "library-not-found") and not n.smi_unread \
            and not out:
        from tfdoctor.machine import Evidence

        out.append(Evidence("nvidia-smi", n.init_message or n.nvidia_smi_message or n.init_error))
    return tuple(out)


def _driver_library_shadowed(facts) -> Finding | None:
    """Under WSL2 the Windows driver's libcuda.so.1 and libnvidia-ml.so.1 are in /usr/lib/wsl/lib; a copy the loader
    cache (`ldconfig -p`) registers anywhere else comes from a Linux driver package or a CUDA meta-package's stub, and
    a program that takes the cache's first entry loads it and finds no GPU (Syllo/nvtop#441)."""
    from tfdoctor.checks.fixes import distro_family

    regs = facts.machine.observed("ldconfig-driver-lib")
    outside = [o for o in regs if not (o.group("path") or "").startswith("/usr/lib/wsl/")]
    if not outside:
        return None
    libs = list(dict.fromkeys(o.group("library") for o in outside if o.group("library")))
    paths = ", ".join(dict.fromkeys(o.group("path") for o in outside))[:300]
    ev = facts.machine.evidence_of("ldconfig-driver-lib")[:4]
    # the library names are the pattern's own (libcuda.so.1, libnvidia-ml.so.1), never the machine's text
    owner = [f"dpkg -S {lib}" for lib in libs] if distro_family(facts.env) in ("ubuntu", "debian", "unknown") \
        else ["rpm -qa | grep -i nvidia"]
    return Finding("env.wsl", Status.FAIL, f"Under WSL2, {' and '.join(libs)} is also registered outside "
                   f"/usr/lib/wsl/lib ({paths}): a Linux copy (a Linux NVIDIA driver package or a CUDA package's stub) "
                   "that programs can load instead of the Windows driver's, and then find no GPU",
                   tuple(e.describe() for e in ev),
                   fix=Fix("Remove the Linux package that installed the copy (the first command names it; keep the "
                           "Windows driver's files in /usr/lib/wsl/lib), then rebuild the loader cache.",
                           (*owner, "sudo ldconfig"),
                           verify=("ldconfig -p | grep -E 'libcuda.so.1|libnvidia-ml.so.1'   # only /usr/lib/wsl/lib",)),
                   evidence=ev)


def _cuda_unreachable_under_wsl(facts, what: str, told: tuple, failing: tuple) -> Finding:
    """This is WSL (`what`: how that is known) and CUDA does not reach the GPU (`failing`: the evidence of it)."""
    ev = told + failing
    return Finding("env.wsl", Status.FAIL, f"This is {what} and CUDA cannot reach the GPU: under WSL the GPU comes only "
                   "from the Windows NVIDIA driver", tuple(e.describe() for e in ev[:4]),
                   fix=_wsl_fix_for(facts, failing), evidence=ev)


def _wsl_fix_for(facts, failing) -> Fix:
    """The WSL fix; where the only failure is a program that loads libcuda.so without a version (bitsandbytes, cuDNN 8,
    cuda-python) while the driver answers, the loader path is the fix, not the driver."""
    m = facts.machine
    unversioned = m.belief("cuda.libcuda_unversioned_missing")
    if failing and unversioned.value is True and all(e in unversioned.evidence for e in failing) \
            and m.value("driver.loaded") is not False:
        return Fix("The Windows driver answers, but this program loads libcuda.so without a version, which only "
                   "/usr/lib/wsl/lib provides under WSL: put that folder on the loader path (in ~/.bashrc to keep it).",
                   ("export LD_LIBRARY_PATH=/usr/lib/wsl/lib:$LD_LIBRARY_PATH",),
                   verify=("ls -l /usr/lib/wsl/lib/libcuda.so",))
    return _wsl_gpu_fix()


def _wsl_gpu_fix() -> Fix:
    """NVIDIA's CUDA on WSL guide: WSL 2 only, the Windows driver provides libcuda and nvidia-smi in /usr/lib/wsl/lib,
    and no Linux display driver may be installed inside the distribution."""
    return Fix("Under WSL the GPU is reached only through the Windows NVIDIA driver: run the distribution under WSL 2 "
               "on a current Windows with a current NVIDIA driver, and remove any Linux NVIDIA driver packages "
               "installed inside it (they hide the Windows driver's libcuda in /usr/lib/wsl/lib). A data-centre GPU "
               "in TCC mode is not offered to WSL at all: it must run in WDDM mode.",
               ("wsl -l -v   # in Windows PowerShell: the distribution's VERSION must be 2",
                "wsl --update   # in Windows PowerShell, then: wsl --shutdown",
                "dpkg -l | grep -iE 'nvidia-(driver|utils)|libnvidia-compute'   # inside WSL: remove what it lists"),
               (Alternative("a program loads libcuda.so without a version (cuDNN 8): put the WSL library folder on "
                            "the loader path", ("export LD_LIBRARY_PATH=/usr/lib/wsl/lib:$LD_LIBRARY_PATH",)),),
               verify=("/usr/lib/wsl/lib/nvidia-smi",))


@check(
    "env.wsl",
    area="system",
    title="WSL2",
    needs=("env",),
    what="Detects Windows Subsystem for Linux 2 (/proc/version, WSL_DISTRO_NAME; in a pasted report, the outputs "
         "only WSL prints or the reporter saying so) and checks that the Windows driver's libcuda is mapped at "
         "/usr/lib/wsl/lib, and that CUDA reaches the GPU through it.",
    why="Under WSL2 the GPU is driven by the Windows NVIDIA driver; installing a Linux NVIDIA driver inside WSL "
        "breaks it, and the PCI, nouveau and kernel-module checks do not apply.",
    fix="Install or update the NVIDIA driver on Windows (not in Linux), keep /usr/lib/wsl/lib on the loader path, "
        "and run `wsl --update` from Windows. Remove any Linux `nvidia-driver-*` package installed inside WSL.",
    links=("https://docs.nvidia.com/cuda/wsl-user-guide/index.html",),
)
def check_wsl(facts) -> Finding:
    env = facts.env
    if not env.wsl:
        told = facts.machine.belief("wsl")
        if told.value is None:
            return skip("env.wsl", "Whether this is WSL2 was not recorded (paste the output of `cat /proc/version`)")
        if told.value is True:  # no probe read /proc/version: an output only WSL prints, or the reporter's words
            if (shadowed := _driver_library_shadowed(facts)) is not None:
                return shadowed
            said = "as the reporter states" if all(e.message == "wsl-stated" for e in told.evidence) else \
                "as a recorded output shows"
            failing = _gpu_fails_below_wsl(facts)
            if failing and (guest := _gpu_p_guest_kernel(facts, told)) is not None:
                return guest
            if failing:
                return _cuda_unreachable_under_wsl(facts, f"WSL ({said})", told.evidence, failing)
            if facts.machine.value("gpu.present") is False:
                return Finding("env.wsl", Status.INFO, f"Running under WSL ({said}): its GPUs are the Windows host's "
                               "(see pci.nvidia-gpu)", tuple(e.describe() for e in told.evidence[:2]),
                               evidence=told.evidence)
            return Finding("env.wsl", Status.INFO, f"Running under WSL ({said}): the GPU is driven by the Windows "
                           "NVIDIA driver", tuple(e.describe() for e in told.evidence[:2]), evidence=told.evidence)
        return ok("env.wsl", "Not running under WSL")
    # WSL 1 runs no Linux kernel: it reports Microsoft's 4.4.0-<Windows build>-Microsoft, in /proc/version and uname -r
    wsl1 = next((v for v in (env.proc_version, env.kernel_release)
                 if v and textmatch.search(r"\b4\.4\.0-\d+-Microsoft\b", v)), None)
    if wsl1:
        distro = env.variables.get("WSL_DISTRO_NAME")
        convert = (f"wsl --set-version {distro} 2" if distro and textmatch.fullmatch(r"[A-Za-z0-9._-]{1,64}", distro)
                   else "wsl --set-default-version 2   # then reinstall the distribution, or convert it with "
                        "wsl --set-version NAME 2 (NAME from wsl -l -v)")
        return fail("env.wsl", "This is WSL 1 (kernel 4.4.0-*-Microsoft): WSL 1 has no GPU support", wsl1,
                    fix=Fix("Run the distribution under WSL 2 (from PowerShell on Windows), then restart it; "
                            "`wsl -l -v` then shows VERSION 2.",
                            ("wsl --update", convert), verify=("wsl -l -v",)))
    if (shadowed := _driver_library_shadowed(facts)) is not None:
        return shadowed
    if env.wsl_libcuda:
        return info("env.wsl", "Running under WSL2: the GPU is driven by the Windows NVIDIA driver "
                               "(/usr/lib/wsl/lib/libcuda.so.1 is present)",
                    "Do not install a Linux NVIDIA driver inside WSL.")
    if not facts.machine.complete:
        # a hand-built snapshot or a paste that did not list /usr/lib/wsl/lib: its absence there is no fact
        failing = _gpu_fails_below_wsl(facts)
        if failing:
            return _cuda_unreachable_under_wsl(facts, "WSL2", (), failing)
        if facts.machine.value("gpu.present") is False:
            return info("env.wsl", "Running under WSL2: its GPUs are the Windows host's (see pci.nvidia-gpu)")
        return info("env.wsl", "Running under WSL2: the GPU is driven by the Windows NVIDIA driver (whether "
                    "/usr/lib/wsl/lib holds its libcuda was not recorded: `ls -l /usr/lib/wsl/lib` shows it)")
    return fail("env.wsl", "Running under WSL2 but the Windows driver's libcuda is missing from /usr/lib/wsl/lib",
                fix=Fix("Install the current NVIDIA driver on Windows, then restart WSL (from PowerShell).",
                        ("wsl --update", "wsl --shutdown")))


def _gpu_p_guest_kernel(facts, told) -> Finding | None:
    """The GPU reaches this Linux the way it reaches WSL 2 (Hyper-V's paravirtual GPU, NVML's 'GPU access blocked by
    the operating system'), but the kernel recorded is not WSL's (`5.15.0-41-generic`, no `microsoft` in it): a
    Hyper-V guest given the GPU by GPU partitioning (GPU-P), which reaches it only through the dxgkrnl driver and
    /dev/dxg. WSL's kernel carries dxgkrnl; a distribution's stock kernel does not (dxgkrnl_ubuntu#1: the guest booted
    Ubuntu's generic kernel instead of one with dxgkrnl, and picking that kernel in GRUB fixed it)."""
    release = getattr(facts.env, "kernel_release", None) or ""
    if not release or "microsoft" in release.lower() or "wsl" in release.lower():
        return None
    return Finding("env.wsl", Status.FAIL,
                   f"The GPU reaches this Linux through Hyper-V's GPU paravirtualisation (WSL 2's path), but its kernel "
                   f"({release[:80]}) is not WSL's: a Hyper-V guest given the GPU this way reaches it only through the "
                   "dxgkrnl driver (/dev/dxg), which this kernel most likely lacks",
                   tuple(e.describe() for e in told.evidence[:2]),
                   fix=Fix("Boot a kernel that has the dxgkrnl driver (WSL 2's kernel has it; for a Hyper-V GPU-P "
                           "guest, a kernel built with dxgkrnl) and make it the default in the boot menu; the Linux "
                           "NVIDIA driver is not used here.", ("ls -l /dev/dxg",),
                           verify=("ls -l /dev/dxg", "nvidia-smi")),
                   evidence=told.evidence)


_XID_PID = textmatch.compile(r"\bpid=\d+")


def _ran_on_a_gpu(facts) -> bool:
    """An Xid that names a process (`Xid (PCI:0000:db:00): 31, pid=13641, ...`) was raised in a CUDA program's context
    on a GPU: CUDA found a device there."""
    return any(_XID_PID.search(o.line) for o in facts.machine.observed("nvrm-xid"))


_HIDE_ALL = {"", "-1", "none", "void", "nodevfiles"}


def _unknown_device_told(facts, nv: str | None) -> Finding | None:
    """The NVIDIA container runtime was asked for a GPU that does not exist where it runs (`nvidia-container-cli:
    device error: 4: unknown device`): NVIDIA_VISIBLE_DEVICES, `--gpus device=N` or a count (`--gpus 2`) beyond the
    GPUs there (nvidia-docker#1283); inside a scheduler's allocation the numbering is the allocation's (enroot#207)."""
    told = facts.machine.observed("container-cli-unknown-device")
    if not told:
        return None
    from tfdoctor.redact import gpu_ids

    # in a summary only (reports sanitise), never in a command; its UUID redacted before it is shortened
    raw = told[0].group("device") or "?"
    device = gpu_ids(raw)[:40]
    where = f"NVIDIA_VISIBLE_DEVICES={nv!r}" if nv else "The GPU requested"
    # MIG-GPU-<uuid>/<gi>/<ci> names a MIG device the pre-R470 way: drivers since 470 name it MIG-<uuid>
    # (NVIDIA's elezar in nvidia-container-toolkit#203)
    legacy_mig = (" - the MIG-GPU-<uuid>/<gi>/<ci> form, which drivers since R470 no longer accept: name the MIG "
                  "device by the MIG-<uuid> that `nvidia-smi -L` lists, or as <gpu index>:<MIG index>"
                  if raw.startswith("MIG-GPU-") else "")
    return Finding("env.cuda-visible-devices", Status.FAIL,
                   f"{where} names a GPU that does not exist where the container starts (device {device}: unknown "
                   f"device): the NVIDIA container runtime refuses to start it{legacy_mig}",
                   tuple(e.describe() for e in facts.machine.evidence_of("container-cli-unknown-device")[:2]),
                   fix=Fix("Ask for GPUs that exist there: `nvidia-smi -L` lists their indices and UUIDs (inside a "
                           "Slurm or Kubernetes allocation, its own numbering from 0); `--gpus 2` asks for two GPUs, "
                           "`--gpus device=2` for the GPU with index 2. Under a scheduler, set NVIDIA_VISIBLE_DEVICES "
                           "to all and let the allocation restrict the devices.",
                           ("nvidia-smi -L", "export NVIDIA_VISIBLE_DEVICES=all"),
                           alternatives=(Alternative("Docker on a workstation: every GPU",
                                                     ("docker run --rm --gpus all ubuntu nvidia-smi -L",)),),
                           verify=("nvidia-smi -L",)),
                   evidence=facts.machine.evidence_of("container-cli-unknown-device"))


def _ray_gave_no_gpu(facts) -> Finding | None:
    """Ray (its tasks, actors, Tune trials, RLlib workers) sets each worker's CUDA_VISIBLE_DEVICES to the GPUs it
    requested, and to '' when it requested none: CUDA in that worker finds no device on a healthy machine. Told by
    Tune itself (`Tune detects GPUs, but no trials are using GPUs`) or by a worker's CUDA 'no device' error under
    Ray's `(pid=N)` prefix (vllm#3198, ray#5940). Not when the driver itself is shown down: then that is the cause."""
    told = facts.machine.belief("scheduler.no_gpu_allotted")
    if told.value is not True or facts.machine.value("driver.loaded") is False:
        return None
    by_design = facts.machine.evidence_of("rllib-worker-on-cpu")
    if by_design:
        # RLlib starts its rollout workers on the CPU on purpose and says to ignore their CUDA errors (ray#4426)
        return info("env.cuda-visible-devices", "Ray's CPU workers found no GPU, as RLlib intends (it starts its "
                    "rollout workers on the CPU and says to ignore their CUDA errors)",
                    *(e.describe() for e in by_design[:1]))
    # a warning: a worker may be meant to run on the CPU, unless the GPU is shown there and CUDA in the worker found
    # none (then the allotment is why the program failed to use it)
    m = facts.machine
    failed = m.value("gpu.present") is True and (m.value("tf.sees_gpu") is False
                                                  or m.value("cuda.init_error") not in (None, "0"))
    return Finding("env.cuda-visible-devices", Status.FAIL if failed else Status.WARN,
                   "Ray gave the worker no GPU: it sets CUDA_VISIBLE_DEVICES to the GPUs a task, actor or trial "
                   "requests, and to '' when it requests none, so CUDA in the worker finds no device",
                   tuple(e.describe() for e in told.evidence[:2]),
                   fix=Fix("Request GPUs for the work that needs them: `@ray.remote(num_gpus=1)` for a task or "
                           "actor; for Tune, `tune.with_resources(trainable, {\"gpu\": 1})` (Ray 2.x) or "
                           "`tune.run(..., resources_per_trial={\"gpu\": 1})`; for RLlib, its `num_gpus` settings. A "
                           "fraction (0.5) lets trials share a GPU.",
                           ("python -c \"import ray; ray.init(); print(ray.cluster_resources().get('GPU', 0))\"",),
                           verify=("python -c \"import ray; ray.init(); print(ray.get(ray.remote(num_gpus=1)("
                                   "lambda: ray.get_gpu_ids()).remote()))\"",)),
                   evidence=told.evidence)


def _with_env_line(found: Finding, facts) -> Finding:
    """A finding about the variables, with their values as the environment held them (env.json) as its evidence."""
    from tfdoctor.machine import Evidence

    variables = getattr(getattr(facts, "env", None), "variables", None) or {}
    return found.or_evidence(tuple(Evidence("environment", f"{k}={variables[k]}")
                                   for k in ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES") if k in variables))


@check(
    "env.cuda-visible-devices",
    area="system",
    title="CUDA_VISIBLE_DEVICES",
    needs=("env", "pci", "nvml"),
    what="Reads CUDA_VISIBLE_DEVICES (and NVIDIA_VISIBLE_DEVICES in containers) and compares it with the GPUs "
         "present.",
    why="An empty value, -1, or indices that do not exist hide every GPU from CUDA: TensorFlow then logs "
        "`failed call to cuInit: CUDA_ERROR_NO_DEVICE` on a perfectly healthy machine. Schedulers and notebooks "
        "often set it behind the user's back.",
    fix="Unset it (`unset CUDA_VISIBLE_DEVICES`) or set it to existing GPU indices or UUIDs (`export "
        "CUDA_VISIBLE_DEVICES=0`); look for it in ~/.bashrc, the job script, or the notebook's first cell.",
)
def check_cuda_visible(facts) -> Finding:
    return _with_env_line(_cuda_visible(facts), facts)


def _cuda_visible(facts) -> Finding:
    env = facts.env
    value = env.variables.get("CUDA_VISIBLE_DEVICES")
    nv = env.variables.get("NVIDIA_VISIBLE_DEVICES")
    fix = Fix("Unset CUDA_VISIBLE_DEVICES (or set it to existing GPU indices) where it is set.",
              ("unset CUDA_VISIBLE_DEVICES", "grep -n CUDA_VISIBLE_DEVICES ~/.bashrc ~/.profile /etc/environment"))
    if nv is not None and nv.strip().lower() in ("void", "none", ""):
        return fail("env.cuda-visible-devices", f"NVIDIA_VISIBLE_DEVICES={nv!r} gives this container no GPU",
                    fix=_no_gpu_access_fix())
    if (unknown := _unknown_device_told(facts, nv)) is not None:
        return unknown
    if value is None and (ray := _ray_gave_no_gpu(facts)) is not None:
        return ray
    if value is None:
        if not facts.machine.complete and facts.machine.value("tf.sees_gpu") is not True:
            return skip("env.cuda-visible-devices", "CUDA_VISIBLE_DEVICES was not recorded (paste the output of "
                                                    "`echo \"$CUDA_VISIBLE_DEVICES\"`)")
        if not facts.machine.complete:
            # not recorded, but TensorFlow saw a GPU: whatever it is, it hides no GPU
            return ok("env.cuda-visible-devices", "CUDA_VISIBLE_DEVICES hides no GPU (TensorFlow saw one)")
        return ok("env.cuda-visible-devices", "CUDA_VISIBLE_DEVICES is not set: every GPU is visible")
    if value.strip().lower() in _HIDE_ALL:
        return fail("env.cuda-visible-devices", f"CUDA_VISIBLE_DEVICES={value!r} hides every GPU from TensorFlow",
                    fix=fix)
    items = [x.strip() for x in value.split(",") if x.strip()]
    count = _gpu_count(facts)
    bad = []
    for i, item in enumerate(items):
        if item.startswith(("GPU-", "MIG-")):
            continue
        if not item.lstrip("-").isdigit() or int(item) < 0:
            items = items[:i]  # CUDA stops at the first invalid entry
            break
        if count is not None and int(item) >= count:
            bad.append(item)
    if not items:
        return fail("env.cuda-visible-devices", f"CUDA_VISIBLE_DEVICES={value!r} names no valid GPU", fix=fix)
    if bad and count is not None and len(bad) == len(items):
        return fail("env.cuda-visible-devices",
                    f"CUDA_VISIBLE_DEVICES={value!r} names GPU(s) that do not exist (this machine has {count})",
                    fix=fix)
    if bad:
        return warn("env.cuda-visible-devices",
                    f"CUDA_VISIBLE_DEVICES={value!r}: index {', '.join(bad)} does not exist (this machine has {count})",
                    fix=fix)
    if count is None and "0" not in items and all(i.lstrip("-").isdigit() for i in items):
        seen = facts.machine.belief("tf.sees_gpu")
        none = facts.machine.belief("cuda.init_error")
        if none.value == "100":
            # CUDA itself found no device with GPU 0 hidden: the variable is the reason, as far as anything shows
            return Finding("env.cuda-visible-devices", Status.FAIL,
                           f"CUDA_VISIBLE_DEVICES={value!r} hides GPU 0, and CUDA found no device "
                           "(CUDA_ERROR_NO_DEVICE): GPUs are numbered from 0",
                           tuple(e.describe() for e in none.evidence[:2]), fix=fix, evidence=none.evidence)
        if len(items) == 1 and seen.value is not True and facts.machine.value("cuda.init_error") != "0" \
                and not _ran_on_a_gpu(facts):
            # (CUDA itself initialised and found a device under this value, in some program, or a program's GPU
            # context shows in the kernel log: nothing is hidden. A list of several indices is a deliberate choice
            # among several GPUs, as schedulers such as Dask-CUDA hand out: with nothing showing the count, no alarm)
            return warn("env.cuda-visible-devices",
                        f"CUDA_VISIBLE_DEVICES={value!r} hides GPU 0: GPUs are numbered from 0, so on a machine with "
                        f"{min(int(i) for i in items)} GPU(s) or fewer it hides every GPU",
                        *(e.describe() for e in seen.evidence[:2]), fix=fix)
    of = f" of {count}" if count else ""
    return info("env.cuda-visible-devices", f"CUDA_VISIBLE_DEVICES={value!r}: TensorFlow sees {len(items)} GPU(s){of}")
