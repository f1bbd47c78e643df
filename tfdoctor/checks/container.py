"""Containers and the GPU: inside a container, did the runtime mount CUDA's libraries (NVIDIA_DRIVER_CAPABILITIES);
on a host, can containers get the GPU at all (the NVIDIA Container Toolkit, Docker's runtimes, CDI specs for
Podman and Kubernetes, a CDI spec that still names an older driver).

Whether this runs in a container and whether it was given the GPU stays env.container's (checks/system.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from tfdoctor.checks import check
from tfdoctor.checks.commands import verify_only
from tfdoctor.checks.cuda import kernel_driver_version
from tfdoctor.checks.fixes import distro_family
from tfdoctor.checks.gpu import gpu_expected
from tfdoctor.machine import DIRECT
from tfdoctor.model import Alternative, Finding, Fix, Status, fail, info, ok, skip, told_fail, warn

CUDA_BASE_IMAGE = "nvidia/cuda:12.5.1-base-ubuntu22.04"  # the CUDA of TensorFlow 2.18-2.21 (knowledge.md 1.1)
# the capabilities a fix's example container asks for (compute for CUDA, video for NVENC/NVDEC, utility for nvidia-smi)
_CAPS_SHOWN = "compute,video,utility"


@check(
    "container.capabilities",
    area="system",
    title="NVIDIA_DRIVER_CAPABILITIES",
    needs=("env", "sources"),
    after=("env.container",),
    what="Reads NVIDIA_DRIVER_CAPABILITIES, which tells the NVIDIA container runtime which parts of the host driver "
         "to mount into the container (compute, utility, graphics, video, display, compat32 or all).",
    why="Without `compute` the runtime mounts nvidia-smi and NVML (utility) but not libcuda: nvidia-smi works in the "
        "container while TensorFlow cannot load libcuda.so.1 and runs on the CPU.",
    fix="Start the container with `-e NVIDIA_DRIVER_CAPABILITIES=compute,utility` (or `all`), or set it with `ENV` "
        "in the image's Dockerfile.",
    links=("https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/docker-specialized.html",),
)
def check_capabilities(facts) -> Finding:
    b = facts.machine.belief("container.compute_capability")
    env = facts.env
    value = (getattr(env, "variables", None) or {}).get("NVIDIA_DRIVER_CAPABILITIES")
    inside = bool(env is not None and env.container) or facts.machine.value("container") is True
    if (untriggered := _runtime_not_triggered(facts, value)) is not None:
        return untriggered
    if (lib := _capability_missing(facts, inside, value)) is not None:
        return lib
    if not inside:
        if facts.machine.value("container") is None:
            return skip("container.capabilities", "Whether this runs in a container was not recorded "
                                                  "(NVIDIA_DRIVER_CAPABILITIES matters only there)")
        return skip("container.capabilities", "Not a container: NVIDIA_DRIVER_CAPABILITIES matters only to the "
                                              "container runtime")
    if b.value is None:
        if not facts.machine.complete:
            return skip("container.capabilities", "NVIDIA_DRIVER_CAPABILITIES was not recorded (paste the output of "
                                                  "`echo \"$NVIDIA_DRIVER_CAPABILITIES\"` inside the container)")
        if env is not None and env.container:
            return ok("container.capabilities", "NVIDIA_DRIVER_CAPABILITIES is not set: the runtime's default "
                      "(utility and compute for `--gpus`) applies")
        return skip("container.capabilities", "Not a container and NVIDIA_DRIVER_CAPABILITIES is not set")
    if b.value:
        return ok("container.capabilities", f"NVIDIA_DRIVER_CAPABILITIES={value} includes compute")
    if any(e.message == "gpu-request-capabilities-without-compute" for e in b.evidence):
        # the capabilities the container was started with (Compose's device reservation, docker inspect's)
        summary = ("The container was started with a GPU request that lists driver capabilities without `compute`: "
                   "the NVIDIA runtime mounts those instead of the image's, so no libcuda.so.1, and CUDA cannot "
                   "start in it")
    elif value is None:
        # inferred (the model's): the driver's utilities work in this container while CUDA finds no libcuda
        summary = ("The driver's utilities work in this container (nvidia-smi, NVML) but CUDA cannot load libcuda: "
                   "the NVIDIA runtime mounted the `utility` capability without `compute` (NVIDIA_DRIVER_CAPABILITIES "
                   "was not recorded)")
    else:
        summary = (f"NVIDIA_DRIVER_CAPABILITIES={value} lacks `compute`: the runtime mounts no libcuda, so CUDA "
                   "cannot start in this container")
    return Finding("container.capabilities", Status.FAIL, summary, tuple(e.describe() for e in b.evidence),
                   fix=Fix("Restart the container with the compute capability (or set `ENV "
                           "NVIDIA_DRIVER_CAPABILITIES=compute,utility` in its Dockerfile).",
                           (f"docker run --rm --gpus all -e NVIDIA_DRIVER_CAPABILITIES=compute,utility "
                            f"{CUDA_BASE_IMAGE} nvidia-smi",),
                           (Alternative("Docker Compose: list the capabilities next to `gpu` in the service's device "
                                        "reservation (`capabilities: [gpu, compute, utility]`), or add "
                                        "`NVIDIA_DRIVER_CAPABILITIES=compute,utility` to its `environment:`, then "
                                        "recreate it", ("docker compose up -d --force-recreate",)),),
                           verify=("ls /usr/lib/x86_64-linux-gnu/libcuda.so.1", verify_only(facts, "cuda.init"))),
                   evidence=b.evidence)


def _runtime_not_triggered(facts, value: str | None) -> Finding | None:
    """NVIDIA_DRIVER_CAPABILITIES is set in this environment but NVIDIA_VISIBLE_DEVICES is not, and a driver library
    could not be loaded: the NVIDIA container runtime acts only on NVIDIA_VISIBLE_DEVICES (NVIDIA's images set it;
    Docker's `--gpus` sets it in the container), so it gave this container no GPU and no driver libraries, whatever
    the capabilities say (NVIDIA/nvidia-docker#766: 'The variable that triggers our runtime or not is
    NVIDIA_VISIBLE_DEVICES')."""
    variables = getattr(facts.env, "variables", None) or {}
    if value is None or "NVIDIA_VISIBLE_DEVICES" in variables:
        return None
    m = facts.machine
    told = next((b for q in ("driver.video_library_missing", "driver.optix_library_missing", "cuda.libcuda_missing")
                 if (b := m.belief(q)).value is True and b.strength >= DIRECT), None)
    if told is None or getattr(facts.nvml, "gpus", None):
        return None  # (nvidia-smi listed a GPU here: the runtime did act)
    return told_fail("container.capabilities", f"NVIDIA_DRIVER_CAPABILITIES={value} is set but NVIDIA_VISIBLE_DEVICES "
                     "is not: the NVIDIA container runtime acts only on NVIDIA_VISIBLE_DEVICES, so it gave this "
                     "container no GPU and no driver libraries", told,
                     Fix("Start the container with a GPU: `--gpus all` (Docker sets NVIDIA_VISIBLE_DEVICES), or `-e "
                         "NVIDIA_VISIBLE_DEVICES=all` with the NVIDIA runtime; in Docker Compose or a Kubernetes pod, "
                         "request the GPU or add the variable to its environment.",
                         (f"docker run --rm --gpus all -e NVIDIA_DRIVER_CAPABILITIES={_CAPS_SHOWN} {CUDA_BASE_IMAGE} "
                          "nvidia-smi",),
                         (Alternative("the NVIDIA runtime without --gpus (nvidia-docker 2, a runtime set as Docker's "
                                      "default)", (f"docker run --rm --runtime=nvidia -e NVIDIA_VISIBLE_DEVICES=all "
                                                   f"-e NVIDIA_DRIVER_CAPABILITIES={_CAPS_SHOWN} {CUDA_BASE_IMAGE} "
                                                   "nvidia-smi",)),),
                         verify=("echo \"$NVIDIA_VISIBLE_DEVICES\"   # inside the container: all, or GPU indices",)))


@dataclass(frozen=True)
class _CapabilityLibrary:
    """A driver library the NVIDIA container runtime mounts only for one driver capability."""
    belief: str  # the machine model's question: a program could not load it
    messages: tuple[str, ...]  # the catalogue messages that say so (their `library` part names the library)
    capability: str  # the NVIDIA_DRIVER_CAPABILITIES entry that mounts it
    what: str  # what needs it, in words
    libraries: str  # the libraries' names, as an `ldconfig -p | grep -E` pattern
    host: str  # where a host without a container gets them

    def named(self, facts) -> str:
        return facts.machine.named("library", *self.messages) or f"The driver library {self.what} needs"

    def command(self) -> str:
        """A container started with this capability, listing the libraries it then has."""
        return (f"docker run --rm --gpus all -e NVIDIA_DRIVER_CAPABILITIES=compute,{self.capability},utility "
                f"{CUDA_BASE_IMAGE} sh -c 'ldconfig -p | grep -E \"{self.libraries}\"'")

    def verify(self) -> str:
        return f"echo \"$NVIDIA_DRIVER_CAPABILITIES\"   # inside the container: {self.capability} or all"


_CAPABILITY_LIBRARIES = (
    # FFmpeg's `Cannot load libnvidia-encode.so.1` (linuxserver/docker-plex#340, jellyfin 10.6.0's image); DALI's
    # `Failed to load libnvcuvid.so, needed by the VideoReader operator` (NVIDIA/DALI#2362)
    _CapabilityLibrary("driver.video_library_missing", ("ffmpeg-cannot-load-nvidia-library",
                                                        "dali-cannot-load-nvcuvid"), "video", "NVENC/NVDEC",
                       "libnvidia-encode|libnvcuvid",
                       "Ubuntu's libnvidia-encode and libnvidia-decode packages of the installed branch, Debian's "
                       "libnvidia-encode1 and libnvcuvid1"),
    # OptiX's `Library not found` (NVIDIA/pyxis#103, NVIDIA/nvidia-docker#1545: libnvoptix is injected only with
    # `graphics`)
    _CapabilityLibrary("driver.optix_library_missing", ("optix-library-not-found",), "graphics", "OptiX", "libnvoptix",
                       "the driver's libnvoptix.so.1, which NVIDIA's .run installer and the distributions' full driver "
                       "packages install"),
)


def _library_missing_somewhere(facts, told, spec: _CapabilityLibrary) -> Finding:
    """A program could not load a driver library the runtime mounts only for one capability, and nothing recorded
    says whether it ran in a container: in one (the usual home of Jellyfin, Plex, Frigate and their FFmpeg, of a
    cluster's OptiX renderer) the image's environment or the container's must ask for that capability (jellyfin
    10.6.0's image dropped `video`); on a host the driver's package is missing. A warning with both answers, the
    container's first."""
    return Finding("container.capabilities", Status.WARN,
                   f"{spec.named(facts)} could not be loaded: in a container, its "
                   f"NVIDIA_DRIVER_CAPABILITIES lacks `{spec.capability}` (unset, the runtime mounts only compute and "
                   "utility); on a host, the driver's package for it is missing (whether this ran in a container was "
                   "not recorded)",
                   tuple(e.describe() for e in told.evidence[:2]),
                   fix=Fix(f"In a container: start it with the {spec.capability} capability (or `all`); in Docker "
                           "Compose, a Kubernetes pod or a Slurm job, add NVIDIA_DRIVER_CAPABILITIES to its "
                           "environment.",
                           (spec.command(),),
                           (Alternative(f"on the host itself: install {spec.host}",
                                        (f"ldconfig -p | grep -E '{spec.libraries}'",)),),
                           verify=(spec.verify(),)),
                   evidence=told.evidence)


def _capability_missing(facts, inside: bool, value: str | None) -> Finding | None:
    """A program could not load a driver library the runtime mounts only for one capability (FFmpeg's `Cannot load
    libnvidia-encode.so.1`: video; OptiX's `Library not found`: graphics) in a container the NVIDIA runtime set up
    (NVIDIA_VISIBLE_DEVICES in its environment) whose driver capabilities leave that one out: unset, the runtime mounts
    only compute and utility (linuxserver/docker-plex#340: fixed by NVIDIA_DRIVER_CAPABILITIES=all)."""
    for spec in _CAPABILITY_LIBRARIES:
        told = facts.machine.belief(spec.belief)
        if told.value is True:
            return _library_capability_missing(facts, inside, value, told, spec)
    return None


def _library_capability_missing(facts, inside: bool, value: str | None, told, spec) -> Finding | None:
    variables = getattr(facts.env, "variables", None) or {}
    if not inside and value is None and "NVIDIA_VISIBLE_DEVICES" not in variables \
            and facts.machine.value("container") is None:
        return _library_missing_somewhere(facts, told, spec)
    if not (inside or "NVIDIA_VISIBLE_DEVICES" in variables):
        return None
    caps = [c.strip() for c in (value or "").split(",") if c.strip()]
    if value is None and not variables:
        return None  # the environment was not recorded: whether the capabilities were set is unknown
    if spec.capability in caps or "all" in caps:
        return None
    why = ("is not set, so the runtime mounts only the compute and utility parts of the driver" if value is None
           else f"is {value}, without `{spec.capability}`")
    return told_fail("container.capabilities", f"{spec.named(facts)} could not be loaded "
                     f"in this container: its NVIDIA_DRIVER_CAPABILITIES {why}, and {spec.what} needs the "
                     f"`{spec.capability}` capability", told,
                     Fix(f"Start the container with the {spec.capability} capability as well (or `all`); in Docker "
                         "Compose, a Kubernetes pod or a Slurm job, add the variable to its environment.",
                         (spec.command(),), verify=(spec.verify(),)))


# register the toolkit's runtime with Docker, then restart Docker to load it
DOCKER_CONFIGURE = ("sudo nvidia-ctk runtime configure --runtime=docker", "sudo systemctl restart docker")


def toolkit_fix(facts, summary: str) -> Fix:
    """Install the NVIDIA Container Toolkit on this host, register it with Docker, and see a container get the GPU."""
    return Fix(summary, (*_toolkit_install(facts), *DOCKER_CONFIGURE),
               verify=("docker run --rm --gpus all ubuntu nvidia-smi",))


def _toolkit_install(facts, upgrade: bool = False) -> tuple[str, ...]:
    """Install the NVIDIA Container Toolkit on this distribution (`upgrade`: only upgrade an installed one, where the
    package manager tells the two apart)."""
    family = distro_family(facts.env)
    apt = "sudo apt install --only-upgrade" if upgrade else "sudo apt install"
    if family in ("ubuntu", "debian"):
        return (f"{apt} nvidia-container-toolkit",)
    if family in ("fedora", "rhel"):
        return ("sudo dnf install nvidia-container-toolkit",)
    if family == "suse":
        return ("sudo zypper install nvidia-container-toolkit",)
    if family == "arch":
        return ("sudo pacman -S --needed nvidia-container-toolkit",)
    # the distribution was not recorded: NVIDIA's repository exists for apt, dnf and zypper (its install guide)
    return (f"{apt} nvidia-container-toolkit   # Ubuntu/Debian, from NVIDIA's apt repository",)


def _compose_plugin_install(facts) -> tuple[str, ...]:
    """Docker Compose v2 as Docker's repositories package it (docker-compose-plugin), for this distribution."""
    family = distro_family(facts.env)
    if family in ("ubuntu", "debian"):
        return ("sudo apt install docker-compose-plugin",)
    if family in ("fedora", "rhel"):
        return ("sudo dnf install docker-compose-plugin",)
    return ()


def _runtime_failed(told, summary: str, fix: Fix, *details: str) -> Finding:
    """container.toolkit failing on what the container runtime printed (the belief `told`), with its lines."""
    return told_fail("container.toolkit", summary, told, fix, *details)


def _cdi_stale_told(facts) -> Finding | None:
    """The OCI runtime (crun, runc) could not find a driver library the CDI spec names: the spec was generated for
    another driver (NVIDIA: generate it again after every driver upgrade)."""
    if (told := facts.machine.told("container.cdi_stale")) is None:
        return None
    o = next(iter(facts.machine.observed("cdi-spec-stale")), None)
    named = o.group("version") if o is not None else None
    node = facts.machine.named("path", "cdi-host-device-missing")
    if o is None and node:
        what = (f"a device node the CDI spec names ({node}) no longer exists: the spec was generated before the "
                "GPU's device nodes changed")
    else:
        what = ("a driver library the CDI spec names" + (f" (version {named})" if named else "")
                + " is missing: the spec was generated for another driver")
    return _runtime_failed(told, f"The NVIDIA CDI spec is stale: {what}, so containers that use it fail to start",
                           Fix("Generate the CDI spec again for the driver now installed (again after every driver "
                               "upgrade; toolkit 1.17 and newer can do it at boot: `sudo systemctl enable --now "
                               "nvidia-cdi-refresh.path`).", ("sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml",),
                               verify=("nvidia-ctk cdi list",
                                       "podman run --rm --device nvidia.com/gpu=all ubuntu nvidia-smi -L")))


def _cgroup_v2_told(facts) -> Finding | None:
    """nvidia-container-cli looked for the cgroup v1 devices controller on a host that runs only cgroup v2: its
    library predates cgroup v2 support (libnvidia-container 1.8.0)."""
    if (told := facts.machine.told("container.cgroup_v2_unsupported")) is None:
        return None
    return _runtime_failed(told, "The NVIDIA Container Toolkit in use is too old for this host's cgroup v2: its "
                           "prestart hook looks for the cgroup v1 devices controller, so every GPU container fails to "
                           "start",
                           Fix("Upgrade the NVIDIA Container Toolkit from NVIDIA's repository (cgroup v2 is supported from "
                               "libnvidia-container 1.8.0), then restart Docker.",
                               (*_toolkit_install(facts), "sudo systemctl restart docker"),
                               alternatives=(Alternative("the toolkit cannot be upgraded: boot with the cgroup v1 hierarchy "
                                                         "(add systemd.unified_cgroup_hierarchy=false to the kernel command "
                                                         "line, regenerate the boot configuration and reboot)", ()),),
                               verify=("nvidia-container-cli --version",
                                       "docker run --rm --gpus all ubuntu nvidia-smi -L")))


def _cgroup_denied_told(facts) -> Finding | None:
    """nvidia-container-cli could not write the container's device cgroup: a rootless engine, where the toolkit must
    leave cgroups to the engine (NVIDIA's rootless instructions: no-cgroups = true)."""
    if (told := facts.machine.told("container.cgroup_denied")) is None:
        return None
    return _runtime_failed(told, "The NVIDIA container runtime may not change the container's device cgroup "
                           "(devices.allow, or cgroup v2's eBPF device filter: permission denied): the engine runs "
                           "rootless, and the toolkit must leave cgroups to it",
                           Fix("Set no-cgroups = true in the toolkit's configuration (rootless Docker and Podman), then "
                               "start the container again.",
                               ("sudo nvidia-ctk config --set nvidia-container-cli.no-cgroups --in-place",),
                               verify=("grep no-cgroups /etc/nvidia-container-runtime/config.toml   # no-cgroups = true",
                                       "docker run --rm --gpus all ubuntu nvidia-smi -L")))


def _ldconfig_told(facts) -> Finding | None:
    """nvidia-container-cli could not run the ldconfig its configuration names (nvidia-docker#587): Ubuntu/Debian
    packages name the real binary /sbin/ldconfig.real, other distributions have only /sbin/ldconfig."""
    if (told := facts.machine.told("container.ldconfig_failed")) is None:
        return None
    o = next(iter(facts.machine.observed("container-cli-ldcache-error")), None)
    named = (o.group("ldconfig") or "") if o is not None else ""
    # the other of the two names (chosen here, never the line's text in a command)
    other = "@/sbin/ldconfig" if named.endswith(".real") else "@/sbin/ldconfig.real"
    conf = "/etc/nvidia-container-runtime/config.toml"
    return _runtime_failed(told, "The NVIDIA container runtime cannot run the ldconfig its configuration names "
                           "(ldcache error): the path does not fit this distribution, so every GPU container fails to "
                           "start",
                           Fix(f"Point `ldconfig` in {conf} at this host's ldconfig ('@' = the host's): see which of "
                               "/sbin/ldconfig and /sbin/ldconfig.real exists, then set that one.",
                               ("ls -l /sbin/ldconfig /sbin/ldconfig.real",
                                f"sudo sed -i 's|^ldconfig = .*|ldconfig = \"{other}\"|' {conf}"),
                               verify=(f"grep '^ldconfig' {conf}", "docker run --rm --gpus all ubuntu nvidia-smi -L")))


def _driver_files_told(facts) -> Finding | None:
    """The image already holds NVIDIA driver files where the runtime mounts the host's (libnvidia-ml.so.1: file
    exists): it installed driver packages, which a GPU image must not (lambda-stack-dockerfiles#15)."""
    if (told := facts.machine.told("container.image_has_driver_files")) is None:
        return None
    return _runtime_failed(told, "The image holds NVIDIA driver files where the NVIDIA runtime mounts the host's (file "
                           "exists): it installed driver packages, so the container cannot start with the GPU",
                           Fix("Remove the NVIDIA driver packages from the image (the driver's user space must come from "
                               "the host) and rebuild it; in the Dockerfile, after the packages that pulled them in:",
                               ("RUN apt-get remove -y 'libnvidia-compute-*' 'libnvidia-ml*' 'nvidia-utils-*' && "
                                "apt-get autoremove -y",),
                               verify=("docker run --rm --gpus all ubuntu nvidia-smi -L   # the runtime itself works; "
                                       "then start the rebuilt image",)))


def _cdi_spec_missing_told(facts) -> Finding | None:
    """`nvidia-ctk cdi list` finds no CDI device: no NVIDIA CDI spec exists, so an engine that reaches the GPU through
    CDI only (Podman, containerd/CRI-O configured for CDI) starts containers without it (xencon/aixcl#1118)."""
    if (told := facts.machine.told("container.cdi_spec_missing")) is None:
        return None
    if facts.machine.observed("nvidia-ctk-cdi-listed"):
        return None  # another listing names devices: a spec exists
    return _runtime_failed(told, "nvidia-ctk finds no CDI device: no NVIDIA CDI spec was generated, so Podman (and "
                           "any engine that reaches the GPU through CDI) starts containers without the GPU",
                           Fix("Generate the NVIDIA CDI spec (again after every driver upgrade, or let the toolkit's "
                               "nvidia-cdi-refresh service do it), then start the container with the CDI device.",
                               ("sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml",),
                               verify=("nvidia-ctk cdi list",
                                       "podman run --rm --device nvidia.com/gpu=all ubuntu nvidia-smi -L")))


def _cdi_resolved_as_root(facts):
    """The same engine run with sudo got the CDI device (the GPU listed in its output) where the user's run could not
    resolve it: the spec is there, and root can read it (podman#17539, NVIDIA's answer in nvidia-container-toolkit#63:
    a spec readable by root only)."""
    unresolved = {o.source for o in facts.machine.observed("cdi-unresolvable-device")}
    for o in facts.machine.observed("smi-list-gpu"):
        name = o.source or ""
        if name.startswith(("sudo podman run ", "sudo docker run ")) and "nvidia.com/gpu" in name \
                and name not in unresolved and name.removeprefix("sudo ") in unresolved:
            return o
    return None


def _cdi_unresolvable_told(facts) -> Finding | None:
    """The engine could not resolve a CDI device. `nvidia-ctk cdi list` naming it means the spec is there and the
    engine cannot read it (a spec version newer than the engine: nvidia-container-toolkit#1940); otherwise no spec
    names it yet."""
    too_new = facts.machine.told("container.cdi_spec_too_new")
    if (told := facts.machine.told("container.cdi_unresolvable") or too_new) is None:
        return None
    listed = facts.machine.observed("nvidia-ctk-cdi-listed")
    gen = "sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml"
    verify = ("nvidia-ctk cdi list", "podman run --rm --device nvidia.com/gpu=all ubuntu nvidia-smi -L")
    upgrade = Fix("Upgrade the container engine (Podman 5 reads the specs recent toolkits write), or use a toolkit "
                  "release whose spec version this engine reads (NVIDIA's known issue of toolkit 1.19.1: its CDI "
                  "spec v0.7.0 needs an engine that supports it); compare the two:",
                  ("podman --version", "nvidia-ctk --version"), verify=verify)
    if too_new is not None:
        field = next((o.group("field") for o in facts.machine.observed("cdi-spec-unknown-field")), None)
        return _runtime_failed(too_new, "The container engine cannot parse the NVIDIA CDI spec"
                               + (f" (unknown field {field})" if field else "") + ": the spec was written for a newer "
                               "CDI version than this engine reads, so GPU devices cannot be resolved", upgrade)
    if (as_root := _cdi_resolved_as_root(facts)) is not None:
        return _runtime_failed(told, "The CDI device resolves when the engine runs as root but not as this user: the "
                               "CDI spec is not readable by the user (rootless Podman reads it with the user's "
                               "rights)", Fix("Make the spec readable by every user (it holds no secret), or generate "
                                              "it again with a toolkit that writes it so.",
                                              ("sudo chmod 644 /etc/cdi/nvidia.yaml",),
                                              alternatives=(Alternative("the spec is in /var/run/cdi instead",
                                                                        ("sudo chmod 644 /var/run/cdi/nvidia.yaml",)),),
                                              verify=("ls -l /etc/cdi /var/run/cdi",
                                                      "podman run --rm --device nvidia.com/gpu=all ubuntu nvidia-smi "
                                                      "-L")),
                               f"{as_root.source}: {as_root.line}")
    if listed:
        return _runtime_failed(told, "nvidia-ctk lists the CDI device, but the container engine cannot resolve it: "
                               "the engine is older than the CDI spec version this NVIDIA Container Toolkit writes",
                               upgrade, f"{listed[0].source}: {listed[0].line}")
    return _runtime_failed(told, "The container engine cannot resolve the CDI device: no CDI spec names it (generate "
                           "one; if `nvidia-ctk cdi list` already lists it, the engine is too old for the spec's "
                           "version)",
                           Fix("Generate the NVIDIA CDI spec (again after every driver upgrade).", (gen,),
                               verify=verify))


_EXPLICIT_RUNTIME = ("--runtime=nvidia", "--runtime nvidia", "--gpus")


# Make the NVIDIA runtime the engine's default (NVIDIA's Kubernetes install guide): Docker, else containerd
_DEFAULT_RUNTIME = (
    ("sudo nvidia-ctk runtime configure --runtime=docker --set-as-default", "sudo systemctl restart docker"),
    Alternative("containerd nodes (no Docker)", ("sudo nvidia-ctk runtime configure --runtime=containerd "
                                                "--set-as-default", "sudo systemctl restart containerd")))


def _runtime_not_default_told(facts) -> Finding | None:
    """Something that needs the NVIDIA runtime as the engine's default (a Kubernetes node: pods cannot ask Docker for
    --runtime=nvidia) said it is not (OpenPAI's requirement check; NVIDIA's klueska in nvidia-container-runtime#154:
    'You need to set `nvidia` as the default runtime used by docker'). The device plugin's own form is
    _device_plugin_told's. Docker's daemon.json, where it was read, shows what is registered."""
    if (told := facts.machine.told("container.runtime_not_default")) is None:
        return None
    ch = facts.container_host
    details = []
    if ch is not None and ch.docker_config_found:
        registered = "registers the `nvidia` runtime" if "nvidia" in ch.docker_runtimes else \
            "registers no `nvidia` runtime"
        default = (f"its default-runtime is `{ch.docker_default_runtime}`" if ch.docker_default_runtime
                   else "sets no default-runtime (Docker's default stays runc)")
        details.append(f"/etc/docker/daemon.json {registered} and {default}")
    return _runtime_failed(told, "The NVIDIA runtime is not the container engine's default runtime, which a Kubernetes "
                           "node needs (pods cannot ask for --runtime=nvidia, so they get no GPU)",
                           Fix("Make the NVIDIA runtime the default (\"default-runtime\": \"nvidia\" in "
                               "/etc/docker/daemon.json, with the nvidia runtime registered there) and restart the "
                               "engine.", _DEFAULT_RUNTIME[0], alternatives=(_DEFAULT_RUNTIME[1],),
                               verify=("docker info | grep -i 'default runtime'   # nvidia",)),
                           *details)


def _device_plugin_told(facts) -> Finding | None:
    """The NVIDIA device plugin's pod is not running on a node. When the same plugin registers its GPUs run by hand
    with the NVIDIA runtime asked for explicitly, the runtime works and is only not the engine's default, which the
    plugin needs on Docker/containerd nodes (NVIDIA's answer in k8s-device-plugin#13); otherwise its log says why."""
    if (failing := facts.machine.told("k8s.device_plugin_failing")) is None:
        return None
    by_hand = tuple(e for e in facts.machine.evidence_of("device-plugin-registered")
                    if any(f in e.source for f in _EXPLICIT_RUNTIME))
    default = _DEFAULT_RUNTIME
    logs = "kubectl logs -n kube-system -l name=nvidia-device-plugin-ds --tail=30"
    evidence = failing.evidence + by_hand[:1]
    if by_hand or facts.machine.value("container.runtime_not_default") is True:
        return Finding("container.toolkit", Status.FAIL,
                       ("The NVIDIA device plugin registers its GPUs when run with the NVIDIA runtime asked for, but "
                        "its pod fails" if by_hand else "The NVIDIA device plugin's pod could not load NVML")
                       + ": the NVIDIA runtime is not the container engine's default runtime",
                       tuple(e.describe() for e in evidence[:3]),
                       fix=Fix("Make the NVIDIA runtime the default on the node (\"default-runtime\": \"nvidia\" in "
                               "/etc/docker/daemon.json), restart the engine, then delete the plugin's pod so that it "
                               "restarts.", default[0], alternatives=(default[1],),
                               verify=("docker info | grep -i 'default runtime'   # nvidia", logs)),
                       evidence=evidence)
    return Finding("container.toolkit", Status.WARN,
                   "The NVIDIA device plugin's pod is not running on a node: the node advertises no nvidia.com/gpu",
                   tuple(e.describe() for e in evidence[:3]),
                   fix=Fix("Read the plugin's log: 'could not load NVML library' means the pod did not get the "
                           "driver (the NVIDIA runtime is not the default, or no driver on the node).", (logs,),
                           alternatives=(Alternative("the NVIDIA runtime is not the default runtime", default[0]),),
                           verify=("kubectl describe nodes | grep -i nvidia.com/gpu",)),
                   evidence=evidence)


def _library_failed_told(facts) -> Finding | None:
    """nvidia-container-cli got past its initialisation (the driver answered) and then failed querying the driver
    (`detection error: driver error: failed to process request`): the host's container library does not work with
    this driver; NVIDIA's own build of the toolkit replaces it (pop-os/pop#888: 'The driver from Pop works fine')."""
    if (told := facts.machine.told("container.library_failed")) is None:
        return None
    return _runtime_failed(told, "The NVIDIA container library could not query the driver (a detection error after "
                           "its initialisation passed): the host's nvidia-container-toolkit / libnvidia-container does "
                           "not work with this driver",
                           Fix("Install the NVIDIA Container Toolkit from NVIDIA's own repository (a distribution's "
                               "rebuild of it, such as Pop!_OS's, can fail so: give NVIDIA's repository priority), "
                               "then restart Docker.",
                               (*_toolkit_install(facts), "sudo systemctl restart docker"),
                               verify=("nvidia-container-cli -k -d /dev/tty info",
                                       "docker run --rm --gpus all ubuntu nvidia-smi -L")))


def _engine_refused_told(facts) -> Finding | None:
    """The container engine itself refused the GPU request and its message names why (NVIDIA's answers quoted in
    each catalogue entry): no nvidia runtime in containerd, a docker client without --gpus, the runtime's hook not
    installed, an engine without CDI."""
    if (told := facts.machine.told("container.engine_refused")) is None:
        return None
    m = facts.machine
    run = "docker run --rm --gpus all ubuntu nvidia-smi -L"
    if m.observed("cri-no-nvidia-runtime"):
        return _runtime_failed(told, "containerd has no `nvidia` runtime configured, so pods that ask for it (the "
                               "RuntimeClass nvidia) cannot start",
                               Fix("Register the NVIDIA runtime with containerd and restart it (k3s and RKE2 keep "
                                   "containerd's configuration in their own config.toml.tmpl, which the GPU Operator's "
                                   "toolkit must be pointed at).",
                                   ("sudo nvidia-ctk runtime configure --runtime=containerd",
                                    "sudo systemctl restart containerd"),
                                   verify=("grep -A3 'runtimes.nvidia' /etc/containerd/config.toml",)))
    if m.observed("docker-unknown-flag-gpus"):
        return _runtime_failed(told, "The docker client is older than 19.03 and has no --gpus option",
                               Fix("Upgrade Docker (client and engine) to 19.03 or newer from Docker's repository.",
                                   (),
                                   alternatives=(Alternative("keep this Docker: ask for the NVIDIA runtime instead",
                                                             ("docker run --rm --runtime=nvidia -e "
                                                              "NVIDIA_VISIBLE_DEVICES=all ubuntu nvidia-smi -L",)),),
                                   verify=("docker version --format '{{.Client.Version}}'   # 19.03 or newer", run)))
    if m.observed("runtime-hook-not-found"):
        return _runtime_failed(told, "Docker's NVIDIA runtime calls nvidia-container-runtime-hook, which is not "
                               "installed: the NVIDIA container packages are an incomplete set",
                               Fix("Install the current NVIDIA Container Toolkit (it provides the hook and the runtime), "
                                   "register it and restart Docker.", (*_toolkit_install(facts), *DOCKER_CONFIGURE),
                                   verify=("command -v nvidia-container-runtime-hook nvidia-ctk", run)))
    if m.observed("podman-no-cdi-support"):
        return _runtime_failed(told, "Podman takes the CDI device name for a file: this Podman is older than 4.1, "
                               "which brought CDI support",
                               Fix("Upgrade Podman to 4.1 or newer (the distribution's current release), then ask for "
                                   "the GPU by its CDI name.",
                                   verify=("podman run --rm --device nvidia.com/gpu=all ubuntu nvidia-smi -L",)))
    if m.observed("compose-gpu-devices-unsupported"):
        return _runtime_failed(told, "This docker-compose is older than 1.28 and does not know GPU device reservations "
                               "(deploy.resources.reservations.devices): it rejects the Compose file",
                               Fix("Use Docker Compose v2 (the docker-compose-plugin package from Docker's "
                                   "repository, run as `docker compose`; or docker-compose 1.28 or newer), then start "
                                   "the services with it.", _compose_plugin_install(facts),
                                   verify=("docker compose version   # v2, or docker-compose 1.28 or newer",)))
    if m.observed("docker-cdi-driver-missing"):
        return _runtime_failed(told, "Docker was asked for a CDI device but has no CDI support enabled (Docker 25 to "
                               "28.1 need the cdi feature switched on; older Docker has none)",
                               Fix("Use Docker 28.2 or newer (CDI on by default), or on Docker 25 to 28.1 add "
                                   "`\"features\": {\"cdi\": true}` to /etc/docker/daemon.json and restart Docker.",
                                   ("docker version --format '{{.Server.Version}}'",
                                    "sudo systemctl restart docker"),
                                   alternatives=(Alternative("without CDI: the NVIDIA runtime through --gpus",
                                                             (run,)),),
                                   verify=("docker run --rm --device nvidia.com/gpu=all ubuntu nvidia-smi -L",)))
    return None


def _symbol_not_found_told(facts) -> Finding | None:
    """Inside a container cuInit returned CUDA_ERROR_NOT_FOUND (500, 'named symbol not found'): libcuda was mounted
    and ran, but a library the driver needs was not mounted with it. NVIDIA's cliffwoolley in
    nvidia-container-toolkit#520: Windows drivers 555 and newer need libnvdxgdmal.so.1 mapped into WSL2 containers,
    which the toolkit does from 1.14.4 / 1.15.0 (Docker Desktop from 4.31.0)."""
    m = facts.machine
    if m.value("container") is not True or m.value("cuda.init_error") != "500":
        return None
    told = m.belief("cuda.init_error")
    wsl = m.value("wsl")
    where = "" if wsl is False else " (under WSL2: Windows drivers 555 and newer need libnvdxgdmal.so.1 in the container)"
    return told_fail("container.toolkit",
                     "CUDA fails to start in this container with CUDA_ERROR_NOT_FOUND (500): the NVIDIA Container "
                     f"Toolkit that started it is older than the driver and did not mount every driver library{where}",
                     told, Fix("Update the NVIDIA Container Toolkit on the host to 1.15.0 or newer (Docker Desktop: 4.31.0 "
                           "or newer, which bundles it), then restart the container; until then a driver older than "
                           "555 avoids it under WSL2.",
                           (*_toolkit_install(facts, upgrade=True), "sudo systemctl restart docker"),
                           (Alternative("Docker Desktop (Windows): update Docker Desktop itself (Settings > Software "
                                        "updates); it bundles the toolkit", ()),),
                           verify=("nvidia-ctk --version   # 1.15.0 or newer", verify_only(facts, "cuda.init"))))


@check(
    "container.toolkit",
    area="system",
    title="Containers on this host can get the GPU",
    needs=("container_host", "env", "pci", "nvml", "driver"),
    after=("driver.nvidia-module", "nvml.init"),
    what="On a host with Docker or Podman: looks for the NVIDIA Container Toolkit (nvidia-ctk, nvidia-container-cli, "
         "the runtime and its hook), reads /etc/docker/daemon.json (the `nvidia` runtime, `default-runtime`) and the "
         "CDI specs in /etc/cdi and /var/run/cdi, and compares the driver a CDI spec names with the loaded one.",
    why="`docker run --gpus all` needs the toolkit on the host; `--runtime=nvidia`, Docker's `default-runtime` and "
        "Kubernetes/containerd need it registered as a runtime; Podman and CDI-mode runtimes need a CDI spec, and a "
        "spec generated before a driver upgrade names libraries that no longer exist, so containers fail to start.",
    fix="Install `nvidia-container-toolkit` from NVIDIA's repository, then `sudo nvidia-ctk runtime configure "
        "--runtime=docker && sudo systemctl restart docker`; for Podman/CDI `sudo nvidia-ctk cdi generate "
        "--output=/etc/cdi/nvidia.yaml` (again after every driver upgrade).",
    links=("https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html",
           "https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/cdi-support.html"),
)
def check_toolkit(facts) -> Finding:
    env, ch = facts.env, facts.container_host
    if (found := _symbol_not_found_told(facts)) is not None:
        return found
    if env is not None and env.container:
        return skip("container.toolkit", "Inside a container: the host's toolkit is checked on the host")
    for told in (_cdi_stale_told, _cgroup_v2_told, _cgroup_denied_told, _ldconfig_told, _driver_files_told,
                 _cdi_unresolvable_told, _cdi_spec_missing_told, _device_plugin_told, _runtime_not_default_told,
                 _library_failed_told, _engine_refused_told):
        # the runtime's own error, wherever it was printed
        if (found := told(facts)) is not None:
            return found
    if ch is not None and ch.docker_config_error:
        # (Docker's own configuration file: Docker is there, whether or not its programs were recorded; and it does
        # not start, whatever the GPU)
        return fail("container.toolkit", "Docker's daemon.json is not valid JSON: Docker will not start",
                    ch.docker_config_error,
                    fix=Fix("Fix the JSON syntax (or let the toolkit rewrite the file).",
                            ("sudo python3 -m json.tool /etc/docker/daemon.json", *DOCKER_CONFIGURE),
                            verify=("docker info",)))
    refused = facts.machine.belief("container.toolkit")
    if refused.value is False and refused.evidence and facts.machine.value("wsl") is not True:
        # the engine said itself that it has no GPU to give (`could not select device driver "" with capabilities:
        # [[gpu]]`): this host's containers cannot get the GPU, whatever was or was not recorded about its engines.
        # env.container reports the same words from the container's side, upstream of this.
        return told_fail("container.toolkit", "Containers on this host cannot get the GPU: the container engine has no "
                         "NVIDIA runtime or device driver to give it (the NVIDIA Container Toolkit is missing or not "
                         "registered with the engine)", refused,
                         toolkit_fix(facts, "Install the NVIDIA Container Toolkit on the host, register it with the "
                                            "engine, and restart the engine."))
    if ch is None or not ch.engines:
        if not facts.machine.complete:
            return skip("container.toolkit", "Whether Docker or Podman is installed was not recorded (paste the output "
                                             "of `docker info` and `nvidia-ctk --version`)")
        return skip("container.toolkit", "No container engine (docker, podman) is installed")
    if facts.machine.value("container.toolkit") is False:
        return skip("container.toolkit", "The container runtime's own error is reported by "
                    + ("env.wsl" if facts.machine.value("wsl") is True else "env.container"))
    if not gpu_expected(facts):
        return skip("container.toolkit", "No NVIDIA GPU on this host")
    engines = ", ".join(name for name, _ in ch.engines)
    configure = DOCKER_CONFIGURE
    gen_cdi = "sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml"
    docker = any(n == "docker" for n, _ in ch.engines)
    podman = any(n == "podman" for n, _ in ch.engines)
    if ch.docker_default_runtime and ch.docker_default_runtime not in (*ch.docker_runtimes, "runc", "io.containerd.runc.v2"):
        return fail("container.toolkit", f"Docker's default-runtime is `{ch.docker_default_runtime}` but no such "
                    "runtime is registered: Docker cannot start containers",
                    f"runtimes in /etc/docker/daemon.json: {', '.join(ch.docker_runtimes) or 'none'}",
                    fix=Fix("Register the NVIDIA runtime (the toolkit writes it into daemon.json), then restart "
                            "Docker.", (*_toolkit_install(facts), *configure), verify=("docker info | grep -i runtime",)))
    if not ch.toolkit:
        return info("container.toolkit", f"{engines} is installed but the NVIDIA Container Toolkit is not: containers "
                    "on this host cannot use the GPU",
                    fix=Fix("Install the NVIDIA Container Toolkit from NVIDIA's repository and register it with the "
                            "engine.", (*_toolkit_install(facts), *(configure if docker else ()),
                                        *((gen_cdi,) if podman else ())),
                            verify=("docker run --rm --gpus all ubuntu nvidia-smi -L" if docker else
                                    "podman run --rm --device nvidia.com/gpu=all ubuntu nvidia-smi -L",)))
    loaded = kernel_driver_version(facts)
    stale = [s for s in ch.cdi_specs if s.nvidia and s.driver_version and loaded and s.driver_version != loaded]
    if stale:
        return fail("container.toolkit", f"The CDI spec {stale[0].path} was generated for driver "
                    f"{stale[0].driver_version} but driver {loaded} is loaded: containers that use it fail to start",
                    fix=Fix("Generate the CDI spec again for the driver now installed.", (gen_cdi,),
                            verify=("nvidia-ctk cdi list",)))
    nvidia_cdi = [s for s in ch.cdi_specs if s.nvidia]
    if podman and not nvidia_cdi:
        return warn("container.toolkit", "Podman is installed but no NVIDIA CDI spec exists (/etc/cdi, /var/run/cdi): "
                    "`podman run --device nvidia.com/gpu=all` cannot give containers the GPU",
                    fix=Fix("Generate the CDI spec (again after every driver upgrade).", (gen_cdi,),
                            verify=("nvidia-ctk cdi list",
                                    "podman run --rm --device nvidia.com/gpu=all ubuntu nvidia-smi -L")))
    details = [f"toolkit: {', '.join(path for _, path in ch.toolkit)}"]
    if ch.docker_config_found:
        details.append(f"daemon.json runtimes: {', '.join(ch.docker_runtimes) or 'none'}"
                       + (f"; default-runtime {ch.docker_default_runtime}" if ch.docker_default_runtime else ""))
    if nvidia_cdi:
        details.append("CDI: " + ", ".join(f"{s.path} (driver {s.driver_version or '?'})" for s in nvidia_cdi))
    if docker and "nvidia" not in ch.docker_runtimes:
        return info("container.toolkit", "The NVIDIA Container Toolkit is installed; `docker run --gpus` works, but "
                    "Docker has no `nvidia` runtime registered (`--runtime=nvidia` and Kubernetes need it)", *details,
                    fix=Fix("Register the runtime with Docker.", configure,
                            alternatives=(Alternative("Podman/CDI only", (gen_cdi,)),),
                            verify=("docker info | grep -i runtimes",)))
    return ok("container.toolkit", f"{engines}: the NVIDIA Container Toolkit is installed and registered", *details)
