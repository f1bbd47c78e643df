"""The machine model: one belief per question the checks ask, merged from every probe's facts and every observation
of the evidence layer, each known with its evidence or unknown.

Precedence between sources is written once, here (`_resolve`): a probe's own reading of the machine (a file, a
library call, a tool's exit status: strength 3) outranks what a program printed about it (2), which outranks what is
inferred from another program's log (1, e.g. TensorFlow saying the kernel driver "does not appear to be running").
At equal strength a positive observation wins (a GPU that TensorFlow created a device on exists, whatever a later
line says). A question nothing answered is unknown: the check that asks it skips and says what would tell.

`complete` says whether absence is evidence: on a live machine and in a recorded snapshot a missing /.dockerenv means
"not a container"; in a snapshot built by hand from a paste it means nothing was pasted.

Reads facts duck-typed (no probe module is imported), so checks import this and never a probe.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tfdoctor import textmatch

READ, DIRECT, INFERRED = 3, 2, 1

@dataclass(frozen=True)
class Evidence:
    """Why the model believes something: the source, the line and where it stood."""

    source: str
    line: str
    line_no: int | None = None
    message: str | None = None  # the catalogue id, for observations

    def to_dict(self) -> dict:
        return {"source": self.source, "line_no": self.line_no, "line": self.line,
                **({"message": self.message} if self.message else {})}

    def describe(self) -> str:
        where = f"{self.source}:{self.line_no}" if self.line_no else self.source
        return f"{where}: {self.line}"


@dataclass(frozen=True)
class Belief:
    question: str
    value: object = None  # None = unknown
    evidence: tuple[Evidence, ...] = ()
    strength: int = 0

    @property
    def known(self) -> bool:
        return self.value is not None


# The beliefs a finding of each area rests on, when its check named no evidence of its own.
AREA_QUESTIONS = {
    "gpu": ("gpu.present", "gpu.lost"),
    "driver": ("driver.loaded", "driver.installed", "driver.module_for_kernel", "driver.nouveau_holds",
               "driver.module_rejected", "secure_boot.enabled", "driver.library_mismatch"),
    "nvml": ("driver.loaded", "driver.library_mismatch", "gpu.lost"),
    "cuda": ("cuda.init_error", "driver.uvm_loaded", "cuda.system_not_ready", "cuda.driver_mismatch",
             "cuda.compat_unsupported"),
    "python": (),
    "tensorflow": ("tf.sees_gpu", "tf.libraries_missing", "tf.import_crashed"),
    "compat": ("tf.sees_gpu", "gpu.present"),
    "system": ("container", "wsl", "container.toolkit"),
    "cpu": ("cpu.tf_instructions_missing",),
}


@dataclass
class Machine:
    beliefs: dict[str, Belief] = field(default_factory=dict)
    observations: tuple = ()
    complete: bool = True

    def belief(self, question: str) -> Belief:
        return self.beliefs.get(question) or Belief(question)

    def value(self, question: str):
        return self.belief(question).value

    def told(self, question: str) -> Belief | None:
        """The belief where something showed it True (its evidence is why); None where nothing did."""
        b = self.belief(question)
        return b if b.value is True else None

    def evidence(self, *questions: str) -> tuple[Evidence, ...]:
        out: list[Evidence] = []
        lines: set[str] = set()
        for q in questions:
            for e in self.belief(q).evidence:
                if e.line not in lines:  # the same line read by a probe and matched as a message: once
                    lines.add(e.line)
                    out.append(e)
        return tuple(out)

    def area_evidence(self, area: str) -> tuple[Evidence, ...]:
        """The evidence of the beliefs a finding of this area rests on (AREA_QUESTIONS)."""
        return self.evidence(*AREA_QUESTIONS.get(area, ()))

    def observed(self, *message_ids: str) -> list:
        """The observations of these catalogue messages, in source order."""
        return [o for o in self.observations if o.message in message_ids]

    def evidence_of(self, *message_ids: str) -> tuple[Evidence, ...]:
        # once each: a message read twice on one line (two records run together) is one line of evidence
        return tuple(dict.fromkeys(obs_evidence(o) for o in self.observed(*message_ids)))

    def named(self, part: str, *message_ids: str) -> str | None:
        """The first value of a named part (a pattern's group) among these messages' observations, in source order."""
        return next((v for o in self.observed(*message_ids) if (v := o.group(part))), None)


# the messages that name the machine's GPU (its model, or only its vendor in a person's words)
_GPU_NAMED = frozenset(("gpu-model-stated", "desktop-about-graphics", "lshw-display-product",
                        "gpu-vendor-stated-prose"))


def obs_evidence(o) -> Evidence:
    """An observation as a line of evidence."""
    return Evidence(o.source, o.line, o.line_no, o.message)


class _Votes:
    def __init__(self) -> None:
        self.by_q: dict[str, list[tuple[int, object, Evidence]]] = {}

    def add(self, question: str, value, strength: int, evidence: Evidence) -> None:
        if value is None:
            return
        self.by_q.setdefault(question, []).append((strength, value, evidence))

    def resolve(self) -> dict[str, Belief]:
        out = {}
        for q, votes in self.by_q.items():
            top = max(s for s, _, _ in votes)
            best = [v for v in votes if v[0] == top]
            values = [v for _, v, _ in best]
            # at equal strength a positive observation wins: a thing seen working exists
            value = True if True in values else values[0]
            seen: set[str] = set()
            ev = tuple(e for s, v, e in best if v == value and not (e.line in seen or seen.add(e.line)))[:8]
            out[q] = Belief(q, value, ev, top)
        return out


def build_machine(facts: dict, complete: bool = True) -> Machine:
    """Merge every probe's facts and the evidence layer's observations into beliefs. Never raises on odd facts."""
    votes = _Votes()
    srcs = facts.get("sources")
    observations = tuple(getattr(srcs, "observations", ()) or ())

    # -- what the probes read directly (each probe's part guarded: odd or partial facts cost only that part), then
    # CUDA's own answer, the data-centre plumbing and the container's capabilities ------------------------------
    for part in (_pci, _nvml, _driver, _nouveau, _env, _tf, _cuda, _cuda_in_log, _datacentre, _plumbing):
        try:
            part(votes, facts, complete)
        except (AttributeError, TypeError, IndexError, ValueError):
            continue

    # -- what programs printed --------------------------------------------------------------------------------
    others_built = _other_modules_builds(observations)
    probe_warned = any(o.message == "torch-cuda-probe-no-driver" for o in observations)
    rocm = {o.source for o in observations if o.message in _ROCM_MARKS}
    for o in observations:
        if _discounted(o, others_built, probe_warned):
            continue
        amd = o.source in rocm and o.message.startswith("tf-") and o.message not in _ROCM_MARKS
        for q, v in o.claims:
            if amd and q in _DEVICE_CLAIMS:
                continue  # a ROCm build's device lines: its devices are AMD's, and say nothing of NVIDIA's
            strength = o.strength
            # TensorFlow's view of anything but itself is an inference
            if o.source == "tensorflow.log" and not q.startswith("tf."):
                strength = min(strength, INFERRED)
            votes.add(q, v, strength, obs_evidence(o))
        version = o.group("tf_version") or o.group("wheel_version")
        if version:
            # the TensorFlow release, as pip printed it or the user stated it (the probe's own reading outranks it)
            votes.add("tf.version", version, o.strength, obs_evidence(o))
        if o.message in _GPU_NAMED:
            vendor = stated_nvidia(o.group("gpu_model") or "")
            if o.message == "gpu-vendor-stated-prose" and _NVIDIA_NAMED.search(o.line):
                vendor = None  # `I have an Intel GPU and an NVIDIA MX150`: a hybrid machine, not another vendor's only
            if vendor is not None:
                votes.add("gpu.present", vendor, INFERRED, obs_evidence(o))
        host = o.group("hostname") if o.message == "kernel-driver-not-running" else None
        if host and len(host) == 12 and all(c in "0123456789abcdef" for c in host):
            # Docker names a container's host after its id: TensorFlow printed from inside a container
            votes.add("container", True, INFERRED, obs_evidence(o))
    if "driver.dkms_failed" not in votes.by_q:
        # DKMS names the module whose build failed only in its `Consult .../make.log` line: an NVIDIA module's is
        # that build failing, where nothing else of DKMS's output was pasted (pop-os/system76-power#350); another
        # module's is its own
        for o in observations:
            if o.message == "dkms-consult-make-log" and (o.group("module") or "").startswith("nvidia"):
                votes.add("driver.dkms_failed", True, o.strength, obs_evidence(o))
    beliefs = votes.resolve()
    if _utility_without_compute(votes, beliefs, facts, observations):
        beliefs = votes.resolve()
    return Machine(beliefs, observations, complete)


def _utility_without_compute(votes, beliefs: dict, facts: dict, observations) -> bool:
    """Inside a container the driver's utilities work (NVML answered, nvidia-smi ran there, or the person says so)
    while CUDA cannot load libcuda: the NVIDIA runtime mounted the `utility` capability without `compute`
    (NVIDIA/nvidia-docker#533; nvidia-smi's header says `CUDA Version: N/A` then). Inferred, and only where
    NVIDIA_DRIVER_CAPABILITIES itself was not read. Returns whether a vote was added."""
    def true(q) -> tuple:
        """The belief's evidence where it is True, else nothing."""
        b = beliefs.get(q)
        return b.evidence if b is not None and b.value is True else ()

    compute = beliefs.get("container.compute_capability")
    if not true("container") or compute is not None:
        return False
    api = facts.get("cuda")
    missing = list(true("cuda.libcuda_missing")[:2])
    if not missing and getattr(api, "source", "none") == "child" and getattr(api, "libcuda_loaded", None) is False:
        missing = [Evidence("driver-API child", api.libcuda_error or "libcuda.so.1 could not be loaded")]
    if not missing:
        return False
    nvml = facts.get("nvml")
    here = list(true("container.gpu_access"))
    if getattr(nvml, "init_ok", False) and getattr(nvml, "gpus", ()):
        here.append(_nvml_gpu_evidence(nvml))
    # nvidia-smi's header with `CUDA Version: N/A` (a host's nvidia-smi, pasted beside a container's log, shows the
    # host's CUDA version instead): the runtime gave this container the driver's utilities, even where the paste was
    # cut before the GPU's row
    here += [obs_evidence(o) for o in observations if o.message == "smi-table-cuda-version-na"][:1]
    if not here:
        return False
    for e in (*missing, *here[:2]):
        votes.add("container.compute_capability", False, INFERRED, e)
    return True


# (Mesa's nouveau names its renderer after the chip, `NV%02X` in capitals: NV137, NVE7; GNOME's About panel lists it
# so. Matched case-sensitively: nv12, nvcc or nvdec in a person's line are no NVIDIA GPU)
_NVIDIA_NAMED = textmatch.compile(r"(?i)nvidia|geforce|quadro|tesla|titan|\b[gr]tx\b|\b[gr]tx ?\d|\bjetson|"
                                  r"(?-i:\bNV[0-9A-F]{2,3}\b)")
_OTHER_NAMED = textmatch.compile(r"(?i)\bamd\b|radeon|\bati\b|intel\W{0,4}(?:corporation\W{1,4})?(?:\(r\)\s*)?(?:arc|iris|uhd|hd graphics|xe)\b|"
                                 r"\bmesa\b|apple m\d|\bmali\b|adreno")
# Tesla/Quadro model codes people write alone: K80, P100, V100, T4, A100, H100, L40, K2000M
_NVIDIA_CODE = textmatch.compile(r"(?i)^\W*(?:[kmptvahlb]\d{1,4}m?|g[hb]\d{3})\b")


def stated_nvidia(model: str) -> bool | None:
    """Whether a GPU model as a person wrote it is an NVIDIA GPU (True), only another vendor's (False), or unclear."""
    if _NVIDIA_NAMED.search(model):
        return True
    if _OTHER_NAMED.search(model):
        return False
    return True if _NVIDIA_CODE.search(model) else None


# Requests for GPU access on a container's command line: docker/podman's --gpus, the NVIDIA runtime, nvidia-docker
_GPU_REQUEST = ("--gpus", "--runtime=nvidia", "--runtime nvidia", "nvidia-docker", "--device=nvidia.com/gpu",
                "--device nvidia.com/gpu")


def _other_modules_builds(observations) -> set:
    """The sources in which DKMS named only other modules' failed builds (`Consult /var/lib/dkms/bcmwl/.../make.log`):
    their 'Bad return status for module build', which names no module, is not the NVIDIA module's (pop-os#1338)."""
    named: dict[str, list[str]] = {}
    for o in observations:
        if o.message == "dkms-consult-make-log":
            named.setdefault(o.source, []).append(o.group("module") or "")
    return {src for src, mods in named.items() if not any(m.startswith("nvidia") for m in mods)}


# TensorFlow's ROCm build names AMD devices in the lines a CUDA build uses for NVIDIA's (ROCm/tensorflow-upstream#237)
_ROCM_MARKS = ("tf-rocm-device-isa", "tf-rocm-ignoring-amdgpu")
_DEVICE_CLAIMS = ("gpu.present", "driver.loaded", "driver.installed", "tf.sees_gpu")


def _discounted(o, others_built: set, probe_warned: bool = False) -> bool:
    """An observation whose claims its own context contradicts. NGC images print 'The NVIDIA Driver was not
    detected' from a check of /proc/driver/nvidia that is wrong under WSL2; in the output of a container started
    with GPUs requested (`--gpus all`), which the NVIDIA runtime hook let start, the banner proves nothing. DKMS's
    'Bad return status' in a source that names only other modules' builds is theirs (`others_built`). PyTorch's
    words 'Found no NVIDIA driver' quoted without the error that raised them, where the paste shows them as its
    probe's warning (`probe_warned`), quote that warning (d3rlpy#42's title)."""
    if o.message == "ngc-driver-not-detected":
        return any(flag in o.source for flag in _GPU_REQUEST)
    if o.message == "dkms-build-error":
        return o.source in others_built
    if o.message == "torch-no-nvidia-driver" and probe_warned:
        return "Error" not in o.line
    # a statement its own words negate ("not able to run nvidia-smi inside the container")
    return bool(o.group("negated"))


def _nvml_gpu_evidence(nvml) -> Evidence:
    """NVML's (or nvidia-smi's) first GPU, as evidence that it answers."""
    g = nvml.gpus[0]
    return Evidence(nvml.source, f"GPU {g.index}: {g.name}")


def _pci(votes, facts, complete) -> None:
    pci = facts.get("pci")
    if pci is not None and getattr(pci, "source", "none") != "none":
        devs = tuple(pci.nvidia_devices)
        src = {"sysfs": "/sys/bus/pci/devices", "lspci": "lspci", "ubuntu-drivers": "ubuntu-drivers devices"}.get(
            pci.source, pci.source)
        if devs:
            votes.add("gpu.present", True, READ, Evidence(src, f"{devs[0].slot}: {devs[0].name or devs[0].pci_id}"))
        elif pci.source != "ubuntu-drivers" and not any(_hyperv_gpu(d) for d in getattr(pci, "devices", ()) or ()):
            # (Hyper-V's paravirtual GPU, WSL 2's and a GPU-P guest's, stands for whatever GPU the Windows host
            # shares: the bus cannot say it is not an NVIDIA one)
            votes.add("gpu.present", False, READ, Evidence(src, "no NVIDIA device (vendor 10de) listed"))


def _hyperv_gpu(d) -> bool:
    """Hyper-V's paravirtual GPU (PCI 1414:008e, lspci's `Microsoft Corporation Device 008e`): the GPU a Windows host
    shares with WSL 2 or a GPU-P guest, reached through the dxgkrnl driver and /dev/dxg."""
    return (getattr(d, "vendor_id", None) == 0x1414 and getattr(d, "device_id", None) == 0x008E) or \
        "microsoft corporation device 008e" in (getattr(d, "lspci_name", None) or "").lower()


def _nvml(votes, facts, complete) -> None:
    nvml = facts.get("nvml")
    if nvml is not None:
        if getattr(nvml, "gpus", ()):
            votes.add("gpu.present", True, READ, _nvml_gpu_evidence(nvml))
        if nvml.init_ok:
            votes.add("driver.loaded", True, READ, Evidence(nvml.source, f"driver {nvml.driver_version or '?'} answers"))
            votes.add("driver.installed", True, READ, Evidence(nvml.source, "the NVIDIA driver answers"))
        kind = nvml.init_error or ""
        msg = nvml.init_message or nvml.nvidia_smi_message or kind
        if kind == "driver-not-loaded" or getattr(nvml, "nvidia_smi_rc", None) == 9:
            votes.add("driver.loaded", False, DIRECT, Evidence("nvidia-smi" if nvml.nvidia_smi_rc else nvml.source, msg))
        elif kind in ("lib-rm-version-mismatch", "no-permission", "gpu-is-lost", "no-devices"):
            votes.add("driver.loaded", True, READ, Evidence(nvml.source, msg))
            votes.add("driver.installed", True, READ, Evidence(nvml.source, msg))
        if kind == "lib-rm-version-mismatch":
            votes.add("driver.library_mismatch", True, READ, Evidence(nvml.source, msg))
        if kind == "gpu-is-lost":
            votes.add("gpu.lost", True, READ, Evidence(nvml.source, msg))
        if kind == "blocked-by-os":  # only a Windows host (WSL2, Hyper-V GPU-P) answers NVML so
            votes.add("wsl", True, INFERRED, Evidence("nvidia-smi" if nvml.nvidia_smi_rc else nvml.source, msg))


def _driver(votes, facts, complete) -> None:
    d = facts.get("driver")
    if d is not None and (getattr(d, "kernel_release", None) or "").endswith("-tegra"):
        # L4T's kernels are named `4.9.140-tegra`, `5.15.148-tegra`: a Jetson
        votes.add("platform.jetson", True, READ, Evidence("uname -r", d.kernel_release))
    if d is not None:
        if d.modules_source != "none":
            src = "/proc/modules" if d.modules_source == "proc" else "lsmod"
            line = ", ".join(d.nvidia_modules) if d.nvidia_modules else "no nvidia module listed"
            votes.add("driver.loaded", bool(d.nvidia_loaded), READ, Evidence(src, line))
        elif d.loaded_driver_version:
            votes.add("driver.loaded", True, READ, Evidence("/proc/driver/nvidia/version", d.proc_version_text or ""))
        inst, why = _driver_installed(facts)
        if inst is not None:
            votes.add("driver.installed", inst, READ, Evidence(*why))
        if d.secure_boot is not None:
            votes.add("secure_boot.enabled", bool(d.secure_boot), READ,
                      Evidence("mokutil --sb-state", d.secure_boot_text or ("EFI absent" if not d.efi else "")))
        if d.module_resolvable is not None:
            votes.add("driver.module_for_kernel", bool(d.module_resolvable), READ,
                      Evidence("modprobe --dry-run nvidia", (d.modprobe_text or "").splitlines()[0][:300]
                               if d.modprobe_text else ("modinfo nvidia: found" if d.modinfo == "ok" else "")))


NOUVEAU_LIKE = ("nouveau", "nova_core", "nova_drm")


def _nouveau(votes, facts, complete) -> None:
    """Does nouveau (or nova) own the GPU? `lspci -k`'s driver in use says so directly; /proc/modules says so when
    nouveau is loaded and the NVIDIA module is not on a machine with an NVIDIA GPU."""
    d, pci = facts.get("driver"), facts.get("pci")
    devs = tuple(getattr(pci, "nvidia_devices", ()) or ())
    held = [dev for dev in devs if (dev.driver_in_use or "") in NOUVEAU_LIKE]
    if held:
        dev = held[0]
        votes.add("driver.nouveau_holds", True, READ, Evidence("lspci -k", f"{dev.slot}: Kernel driver in use: "
                                                                          f"{dev.driver_in_use}"))
    elif devs and all(dev.driver_in_use == "nvidia" for dev in devs):
        votes.add("driver.nouveau_holds", False, READ, Evidence("lspci -k", f"{devs[0].slot}: Kernel driver in use: "
                                                                           "nvidia"))
    if d is None or d.modules_source == "none":
        return
    src = "/proc/modules" if d.modules_source == "proc" else "lsmod"
    loaded = [m for m in NOUVEAU_LIKE if m in d.loaded_modules]
    if loaded and not d.nvidia_loaded and devs:
        votes.add("driver.nouveau_holds", True, READ, Evidence(src, f"{', '.join(loaded)} loaded, nvidia not"))
    elif loaded and not d.nvidia_loaded and getattr(pci, "source", "none") == "none":
        # the PCI bus was not recorded: nouveau (nova) loads on its own only for an NVIDIA GPU (its modalias is
        # NVIDIA's PCI vendor), so the GPU is there, and with the NVIDIA module not loaded nouveau holds it
        ev = Evidence(src, f"{', '.join(loaded)} loaded, nvidia not (the PCI bus was not recorded)")
        votes.add("gpu.present", True, INFERRED, ev)
        votes.add("driver.nouveau_holds", True, INFERRED, ev)
    elif not loaded:
        votes.add("driver.nouveau_holds", False, READ, Evidence(src, "neither nouveau nor nova is loaded"))


def _env(votes, facts, complete) -> None:
    env = facts.get("env")
    if env is not None:
        if env.container:
            votes.add("container", True, READ, Evidence("container markers", "; ".join(env.container_evidence)))
        elif complete:
            votes.add("container", False, READ, Evidence("container markers",
                                                          "no /.dockerenv, /run/.containerenv or container cgroup"))
        if getattr(env, "nvidia_device_access", None) is False:
            # a process confined by a device cgroup (a container, a systemd unit, a Slurm job) that may not open
            # /dev/nvidia*: CUDA and NVML fail inside it whatever the host's driver does
            votes.add("container.gpu_access", False, READ, Evidence("/sys/fs/cgroup/devices/devices.list",
                                                                    env.nvidia_device_access_line))
        if env.wsl:
            where, line = getattr(env, "wsl_evidence", None) or ("/proc/version", env.proc_version or "WSL")
            votes.add("wsl", True, READ, Evidence(where, line))
        elif complete or env.proc_version:
            votes.add("wsl", False, READ, Evidence("/proc/version", env.proc_version or "not WSL"))


def _tf(votes, facts, complete) -> None:
    tf = facts.get("tensorflow")
    if tf is not None and getattr(tf, "source", "none") == "child" and getattr(tf, "imported", None):
        gpus = tuple(getattr(tf, "gpus", ()) or ())
        if getattr(tf, "devices_error", None) is None:
            votes.add("tf.sees_gpu", bool(gpus), READ,
                      Evidence("TensorFlow probe", f"list_physical_devices('GPU') -> {len(gpus)} device(s)"))
        if gpus:
            votes.add("gpu.present", True, READ, Evidence("TensorFlow probe", gpus[0].device_name or gpus[0].name))
            votes.add("driver.loaded", True, READ, Evidence("TensorFlow probe", "TensorFlow created a GPU device"))



def _driver_installed(facts) -> tuple[bool | None, tuple[str, str]]:
    """Is some NVIDIA kernel driver installed (for some kernel)? (value, (source, line)), None when nothing showed."""
    d, pci = facts.get("driver"), facts.get("pci")
    if d.installed_branch:
        return True, ("driver packages", f"driver branch {d.installed_branch}")
    if d.modinfo == "ok":
        return True, ("modinfo nvidia", f"version {d.modinfo_version or '?'}")
    if d.module_resolvable:
        return True, ("modprobe --dry-run nvidia", (d.modprobe_text or "module found").splitlines()[0][:300])
    for dev in tuple(getattr(pci, "nvidia_devices", ()) or ()):
        if "nvidia" in dev.kernel_modules:
            return True, ("lspci -k", f"{dev.slot}: Kernel modules: {', '.join(dev.kernel_modules)}")
    for e in d.dkms_entries:
        if e.module.startswith("nvidia"):
            return True, ("dkms status", f"{e.module}/{e.version}: {e.state}")
    for p in d.nvidia_packages:
        if getattr(p, "installs_driver", False):
            return True, (d.packages_source, f"{p.state} {p.name} {p.version}")
    if d.packages_source != "none":
        return False, (d.packages_source, "no NVIDIA driver package installed")
    if d.modinfo == "not-found":
        return False, ("modinfo nvidia", "module nvidia not found")
    return None, ("", "")


# -- CUDA's own answer and the data-centre plumbing ----------------------------------------------------------------

# CUresult codes that name a machine-level cause, and the belief each establishes
_CUDA_CODE_BELIEFS = {802: "cuda.system_not_ready", 803: "cuda.driver_mismatch", 804: "cuda.compat_unsupported"}


def _cuda_vote(votes, api, source: str) -> None:
    """What one driver-API record (the stdlib child, or the same calls inside the TensorFlow child) establishes."""
    rc = getattr(api, "init_rc", None)
    if rc is None:
        return
    name = getattr(api, "init_name", None) or "?"
    ev = Evidence(source, f"cuInit -> {rc} ({name})")
    votes.add("cuda.init_error", str(rc), READ, ev)  # a string: beliefs compare True == 1
    if rc in _CUDA_CODE_BELIEFS:
        votes.add(_CUDA_CODE_BELIEFS[rc], True, READ, ev)
    if rc == 0:
        votes.add("driver.loaded", True, READ, ev)
        count = getattr(api, "device_count", None)
        if count:
            dev = api.devices[0] if api.devices else None
            votes.add("gpu.present", True, READ,
                      Evidence(source, f"device 0: {getattr(dev, 'name', None) or '?'}" if dev else f"{count} device(s)"))


def _cuda(votes, facts, complete) -> None:
    api = facts.get("cuda")
    if api is not None and getattr(api, "source", "none") == "child":
        _cuda_vote(votes, api, "driver-API child")
    tf = facts.get("tensorflow")
    inner = getattr(tf, "driver_api", None)
    if inner is not None:
        _cuda_vote(votes, inner, "TensorFlow probe (driver API)")


# cudaGetErrorString's text -> the code, for programs that print the text alone (ggml's `failed to initialize CUDA:`)
_CUDA_RUNTIME_TEXT_CODES = {"initialization error": 3, "named symbol not found": 500, "unknown error": 999}


def _cuda_in_log(votes, facts, complete) -> None:
    """The code cuInit returned, as a program printed it (TensorFlow's or XLA's `failed call to cuInit: <code>`,
    ollama's `cuda driver library init failure: <n>`), or the code of the CUDA runtime's first call (PyTorch's
    `Unexpected error from cudaGetDeviceCount() ... Error 500`, ollama's `cudart init failure: 100`, ggml's `failed
    to initialize CUDA: unknown error`: from 100 up, and 3, the same numbers as CUresult's), read directly."""
    srcs = facts.get("sources")
    for o in tuple(getattr(srcs, "observations", ()) or ()):
        if o.message not in ("cuinit-error", "cuinit-code-printed", "cuda-runtime-init-code-printed"):
            continue
        code = o.group("code") or o.group("cuda_code")
        if code is None and o.group("error_text"):
            code = str(_CUDA_RUNTIME_TEXT_CODES.get(o.group("error_text"), ""))
        rc = int(code) if code and code.lstrip("-").isdigit() else None
        name = o.group("error") or o.group("error2")
        if rc is None and name:
            from tfdoctor.knowledge.loader import cuda_error

            known = cuda_error(name)
            rc = known.code if known else None
        if rc is None or rc < 0:
            continue
        ev = obs_evidence(o)
        votes.add("cuda.init_error", str(rc), DIRECT, ev)
        if rc in _CUDA_CODE_BELIEFS:
            votes.add(_CUDA_CODE_BELIEFS[rc], True, DIRECT, ev)


def _datacentre(votes, facts, complete) -> None:
    dc = facts.get("datacentre")
    if dc is None:
        return
    if dc.nvswitches:
        votes.add("nvswitch.present", True, READ,
                  Evidence("/sys/bus/pci/devices" if dc.nvswitch_source == "sysfs" else "lspci",
                           f"{len(dc.nvswitches)} NVSwitch bridge(s), first at {dc.nvswitches[0]}"))
    elif dc.nvswitch_source != "none" and complete:
        votes.add("nvswitch.present", False, READ, Evidence("/sys/bus/pci/devices", "no NVIDIA bridge (class 0680)"))
    state = dc.fabricmanager_state
    if state:
        votes.add("fabric.manager_running", state == "active", READ,
                  Evidence("systemctl is-active nvidia-fabricmanager", state))


def _plumbing(votes, facts, complete) -> None:
    d = facts.get("driver")
    if d is not None and d.modules_source != "none" and d.nvidia_loaded:
        src = "/proc/modules" if d.modules_source == "proc" else "lsmod"
        uvm = "nvidia_uvm" in d.loaded_modules
        votes.add("driver.uvm_loaded", uvm, READ, Evidence(src, "nvidia_uvm loaded" if uvm else
                                                           "nvidia loaded, nvidia_uvm not loaded"))
    env = facts.get("env")
    caps = (getattr(env, "variables", None) or {}).get("NVIDIA_DRIVER_CAPABILITIES")
    if caps is not None and caps.strip():
        items = {c.strip().lower() for c in caps.split(",")}
        votes.add("container.compute_capability", bool(items & {"compute", "all"}), READ,
                  Evidence("NVIDIA_DRIVER_CAPABILITIES", caps[:200]))

