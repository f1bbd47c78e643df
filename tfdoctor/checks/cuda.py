"""CUDA's own answer: does cuInit succeed and with which devices, which libcuda answers (the driver's, a stub, a
forward-compatibility library), can this user open the device nodes CUDA needs (nvidia_uvm, /dev/nvidia*), and which
cuDNN/cuBLAS the loader finds for TensorFlow.

Reads the driver-API child's facts (tfdoctor/child/cuda_probe.py); every status code is named from the sourced
table in knowledge/cuda_errors.json.
"""

from __future__ import annotations

from tfdoctor import textmatch
from tfdoctor.checks import check
from tfdoctor.checks.commands import verify_only
from tfdoctor.checks.fixes import (
    compute_library_command,
    cudnn_wheel_pin,
    distro_family,
    install_driver_commands,
    newer_driver_commands,
)
from tfdoctor.checks.gpu import STATED_CUDA, gpu_expected
from tfdoctor.checks.nvml import kernel_and_libcuda, major_minor, stale_libcuda
from tfdoctor.model import Alternative, Finding, Fix, Status, fail, info, ok, skip, told_fail, warn
from tfdoctor.tflog import cuda_version

_GROUP = textmatch.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_PATH = textmatch.compile(r"^/[A-Za-z0-9._/+-]{1,200}$")


def _kb():
    from tfdoctor.knowledge import loader

    return loader


def api_facts(facts):
    """The driver-API facts: the stdlib child's, else the same calls made inside the TensorFlow child."""
    c = facts.cuda
    if c is not None and c.source == "child":
        return c
    inner = getattr(facts.tensorflow, "driver_api", None)
    return inner if inner is not None else c


def driver_branch(facts) -> str | None:
    """The loaded driver's branch ("550"), from /proc/driver/nvidia/version or NVML; None when unknown."""
    for v in (getattr(facts.driver, "loaded_driver_version", None), getattr(facts.nvml, "driver_version", None)):
        head = (v or "").split(".")[0]
        if len(head) == 3 and head.isdigit():
            return head
    return None


def kernel_driver_version(facts) -> str | None:
    """The kernel module's version (/proc/driver/nvidia/version), else NVML's."""
    return getattr(facts.driver, "loaded_driver_version", None) or getattr(facts.nvml, "driver_version", None)


def code_text(rc: int, name: str | None = None) -> str:
    """'CUDA_ERROR_SYSTEM_NOT_READY (802): The system is not yet ready ...' from the sourced table."""
    err = _kb().cuda_error(rc)
    label = name or (err.name if err else f"CUresult {rc}")
    meaning = err.meaning if err else "a code the CUDA documentation does not list"
    return f"{label} ({rc}): {meaning}"


def ld_library_path_without(facts, drop) -> str | None:
    """`export LD_LIBRARY_PATH=...` (or `unset`) without the folders `drop(path)` selects; None when the value holds
    anything that must not become part of a command."""
    value = (getattr(facts.env, "variables", None) or {}).get("LD_LIBRARY_PATH")
    if not value:
        return None
    keep = [p for p in value.split(":") if p and not drop(p)]
    if any(not _PATH.match(p) for p in keep):
        return None
    return f"export LD_LIBRARY_PATH={':'.join(keep)}" if keep else "unset LD_LIBRARY_PATH"


# -- cuda.init -----------------------------------------------------------------------------------------------------


def _no_device_fix(facts) -> Fix:
    return Fix("CUDA found no device: fix the cause the findings above name (a container without GPU access, "
               "CUDA_VISIBLE_DEVICES hiding every GPU, MIG enabled without instances, device nodes this user cannot "
               "open).", verify=("nvidia-smi -L", "echo \"CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES\"",
                                  "ls -l /dev/nvidia*", verify_only(facts, "cuda.init")))


def _uvm_fix(facts) -> Fix:
    machine = getattr(facts, "machine", None)
    family = distro_family(getattr(facts, "env", None))
    refused = next(iter(machine.observed("kernel-nvidia-uvm-unknown-symbol")), None) if machine is not None else None
    if refused is not None:
        # the kernel refused the module itself: loading it again fails the same way (aosc-os-abbs#2594)
        symbol = refused.group("symbol") or refused.group("symbol2") or "a symbol"
        return Fix(f"The running kernel does not provide {symbol}, which this driver's nvidia_uvm needs, so it cannot "
                   "be loaded: install the driver release built for this kernel (its DKMS build for the running "
                   "kernel) or boot a kernel the driver supports.",
                   ("uname -r", "dkms status", "sudo dkms autoinstall -k \"$(uname -r)\""),
                   verify=("sudo modprobe nvidia-uvm", "ls -l /dev/nvidia-uvm", verify_only(facts, "cuda.init")))
    if machine is not None and machine.value("driver.nvidia_modprobe_missing") is True and \
            family in ("ubuntu", "debian", "fedora", "rhel", "unknown"):
        # nvidia-modprobe is what loads nvidia_uvm for unprivileged CUDA programs (and nvidia-docker 1.x): install it
        # (nvidia-docker#480). Its package is nvidia-modprobe in Ubuntu/Debian, NVIDIA's CUDA repositories and RPM
        # Fusion's driver packaging alike (Arch ships it in nvidia-utils)
        install = ("sudo dnf install nvidia-modprobe" if family in ("fedora", "rhel") else
                   "sudo apt install nvidia-modprobe")
        return Fix("nvidia-modprobe is not installed: it is what loads the nvidia_uvm module (CUDA's unified-memory "
                   "driver) and creates /dev/nvidia-uvm for CUDA programs and nvidia-docker. Install it, then load the "
                   "module.", (install, "sudo nvidia-modprobe -u -c=0"),
                   verify=("ls -l /dev/nvidia-uvm", verify_only(facts, "cuda.init")))
    return Fix("Load the nvidia_uvm module (CUDA's unified-memory driver) and create /dev/nvidia-uvm; after a "
               "suspend/resume, reloading it clears the same error.",
               ("sudo modprobe nvidia-uvm", "sudo nvidia-modprobe -u -c=0"),
               verify=("ls -l /dev/nvidia-uvm", verify_only(facts, "cuda.init")))


def fabricmanager_fix(facts, running_but_failed: bool = False, driver_version: str | None = None) -> Fix:
    """Start (or install) the Fabric Manager of the loaded driver's branch (`driver_version`: what a Fabric Manager
    log line said the driver is, when nothing else recorded it)."""
    branch = driver_branch(facts)
    if branch is None and driver_version and textmatch.fullmatch(r"\d{3}\.\d{1,3}(?:\.\d{1,3})?", driver_version):
        branch = driver_version.split(".")[0]
    installed = getattr(facts.datacentre, "fabricmanager_installed", None)
    cmds: list[str] = []
    family = distro_family(facts.env)
    if (installed is False or running_but_failed) and branch:
        # the Fabric Manager must be exactly the driver's version: from the driver's own repository
        if family in ("ubuntu", "debian"):
            cmds.append(f"sudo apt install nvidia-fabricmanager-{branch}")
        elif family in ("rhel", "fedora"):
            cmds.append("sudo dnf install nvidia-fabric-manager")
    cmds += ["sudo systemctl enable --now nvidia-fabricmanager"]
    summary = ("On an NVSwitch (HGX/DGX) system CUDA starts only once the NVIDIA Fabric Manager has set up the NVLink "
               "fabric: install the Fabric Manager of exactly the loaded driver's version and start it.")
    if running_but_failed:
        summary += " Its own log says why it stopped."
    return Fix(summary, tuple(cmds), verify=("systemctl is-active nvidia-fabricmanager",
                                              "nvidia-smi -q | grep -iA3 fabric", verify_only(facts, "cuda.init")))


def _compat_fix(facts, api) -> Fix:
    """A forward-compatibility libcuda that this GPU or driver does not take: drop it, or upgrade the host driver."""
    drop = ld_library_path_without(facts, lambda p: "compat" in p)
    cmds = (drop,) if drop else ("grep -rn compat /etc/ld.so.conf /etc/ld.so.conf.d/", "sudo ldconfig")
    need = getattr(api, "libcuda_file_version", None)
    newer = newer_driver_commands(facts, need) if need else ()
    alternatives = (Alternative(f"on the host, to keep the CUDA this environment was built for: a driver of at "
                                f"least the compat library's {need}", newer),) if newer else ()
    return Fix("The libcuda in use comes from a cuda-compat (forward-compatibility) package, which works only on "
               "data-centre GPUs and only with a newer libcuda than the driver: take its folder off the loader path "
               "(LD_LIBRARY_PATH, or the /etc/ld.so.conf.d file that names it).", cmds, alternatives,
               verify=("ldconfig -p | grep libcuda.so.1", verify_only(facts, "cuda.init")))


def _mismatch_fix(facts, api) -> Fix:
    branch = driver_branch(facts)
    cmds = []
    if getattr(api, "libcuda_kind", None) == "compat":
        return _compat_fix(facts, api)
    lib = compute_library_command(facts.env, branch, reinstall=True)
    cmds += [lib] if lib else []
    cmds.append("sudo reboot")
    return Fix("The libcuda that was loaded does not belong to the loaded kernel module: reinstall the driver's "
               "user-space libraries of the loaded branch (or reboot after a driver upgrade).", tuple(cmds),
               verify=("ldconfig -p | grep libcuda.so.1", "cat /proc/driver/nvidia/version", verify_only(facts, "cuda.init")))


def _init_fix(facts, api, rc: int) -> Fix:
    if rc == 100:
        return _no_device_fix(facts)
    if rc == 999:
        return _uvm_fix(facts)
    if rc == 802:
        return fabricmanager_fix(facts)
    if rc in (803,):
        return _mismatch_fix(facts, api)
    if rc == 804:
        return _compat_fix(facts, api)
    if rc == 34:
        return libcuda_stub_fix(facts)
    if rc == 46:
        return Fix("Every GPU is in a compute mode that refuses this process (EXCLUSIVE_PROCESS held by another "
                   "process, or PROHIBITED): see gpu.compute-mode.", ("nvidia-smi --query-gpu=index,compute_mode "
                                                                      "--format=csv",), verify=(verify_only(facts, "cuda.init"),))
    if rc == 3:
        # CUDA_ERROR_NOT_INITIALIZED from cuInit itself, the driver loaded: with the 570-575 branches this is
        # nvidia_uvm's HMM support failing on the running kernel (NVIDIA/open-gpu-kernel-modules#797, #901, and
        # ollama#11593's reporter: 'options nvidia_uvm uvm_disable_hmm=1'); reloading nvidia_uvm applies it.
        return Fix("cuInit could not initialise although the driver is loaded: turn off nvidia_uvm's HMM support (the "
                   "570-575 driver branches fail there on some kernels) and reload nvidia_uvm; if it persists, read "
                   "the kernel log.",
                   ("echo 'options nvidia_uvm uvm_disable_hmm=1' | sudo tee /etc/modprobe.d/nvidia-uvm-hmm.conf",
                    "sudo modprobe -r nvidia_uvm", "sudo modprobe nvidia_uvm"),
                   alternatives=(Alternative("if nvidia_uvm is in use (a display server, a running job): reboot "
                                             "instead of reloading it", ("sudo reboot",)),),
                   verify=("cat /sys/module/nvidia_uvm/parameters/uvm_disable_hmm   # Y",
                           verify_only(facts, "cuda.init")))
    if rc == 304:
        # CUDA_ERROR_OPERATING_SYSTEM: an OS call CUDA makes (open /dev/nvidia*, an ioctl, a memory mapping) was
        # refused; where the same program works outside it, a sandbox that does not pass the GPU through (the Gramine
        # maintainer in gramineproject/examples#97: 'Intel SGX and Gramine do not support GPUs')
        return Fix("The operating system refused a call CUDA makes (opening the GPU's device files, an ioctl, a memory "
                   "mapping): most often the process runs in a sandbox that does not pass the GPU through (an SGX enclave under "
                   "Gramine, gVisor, a seccomp or security-module policy). Run the GPU work outside the sandbox, or "
                   "give the sandbox the NVIDIA devices if it supports that; compare with the same program run "
                   "directly on the host.", ("ls -l /dev/nvidia*", "nvidia-smi -L"),
                   verify=(verify_only(facts, "cuda.init"),))
    if rc == 101:
        return Fix("CUDA_VISIBLE_DEVICES names a device that does not exist.", ("unset CUDA_VISIBLE_DEVICES",),
                   verify=(verify_only(facts, "cuda.init"),))
    return Fix("Read the kernel log for NVRM/Xid messages and nvidia-smi's state; reloading the driver (a reboot) "
               "clears most initialisation failures that are not listed above.",
               ("sudo dmesg | grep -iE 'NVRM|Xid'", "nvidia-smi"), verify=(verify_only(facts, "cuda.init"),))


def _device_lines(api) -> list[str]:
    out = []
    for d in api.devices:
        extra = [x for x in (f"compute capability {d.compute_capability}" if d.compute_capability else None,
                             f"{d.memory_total_mib} MiB" if d.memory_total_mib else None,
                             d.pci_bus_id) if x]
        out.append(f"CUDA device {d.index}: {d.name or '?'}" + (f" ({', '.join(extra)})" if extra else ""))
    return out


def _driver_library_commands(facts) -> tuple[str, ...]:
    """Install the loaded driver's user-space CUDA library (its package on this distribution), then refresh the
    loader's cache."""
    lib = compute_library_command(facts.env, driver_branch(facts))
    return ((lib,) if lib else ()) + ("sudo ldconfig",)


def _libcuda_not_loadable(facts, details: tuple[str, ...], evidence=()) -> Finding:
    if facts.machine.value("platform.jetson") is True:
        # a Jetson's libcuda is L4T's (OE4T/meta-tegra#1456: libnvidia-container's driver service could not load it
        # until the image carried tegra-libraries-cuda)
        return Finding("cuda.init", Status.FAIL, "libcuda.so.1 cannot be loaded on this Jetson: L4T's CUDA driver "
                       "library is not installed (or not on the loader path)", details,
                       fix=Fix("Install L4T's CUDA driver library (JetPack: the nvidia-l4t-cuda package, part of "
                               "nvidia-jetpack), then refresh the loader's cache.",
                               ("sudo apt install nvidia-l4t-cuda", "sudo ldconfig"),
                               (Alternative("a Yocto image (meta-tegra): add tegra-libraries-cuda to the image", ()),
                                Alternative("inside a container: start it with the NVIDIA runtime (`--runtime nvidia`), "
                                            "which mounts L4T's libraries", ())),
                               verify=("ldconfig -p | grep libcuda.so.1", verify_only(facts, "cuda.init"))),
                       evidence=tuple(evidence))
    return Finding("cuda.init", Status.FAIL, "libcuda.so.1 (the driver's CUDA library) cannot be loaded, so CUDA "
                   "cannot start", details,
                   fix=Fix("Install the user-space CUDA library of the loaded driver (in a container: start it with "
                           "the GPU, `--gpus all`, so the host's libcuda is mounted; under WSL2: keep "
                           "/usr/lib/wsl/lib on the loader path).", _driver_library_commands(facts),
                           verify=("ldconfig -p | grep libcuda.so.1", verify_only(facts, "cuda.init"))),
                   evidence=tuple(evidence))


def _init_told(facts) -> Finding | None:
    """A program printed the code cuInit returned (TensorFlow's `failed call to cuInit: CUDA_ERROR_...`, ollama's
    `cuda driver library init failure: 3`), or that it found no driver's libcuda at all (PyTorch's `Found no NVIDIA
    driver on your system`), and the driver API was not asked here: CUDA's own answer, as printed."""
    missing = facts.machine.belief("cuda.libcuda_missing")
    if missing.value is True and (gpu_expected(facts) or facts.require_gpu) \
            and facts.machine.value("gpu.present") is not False:
        return _libcuda_not_loadable(facts, tuple(e.describe() for e in missing.evidence[:2]), missing.evidence)
    told = facts.machine.belief("cuda.init_error")
    if not isinstance(told.value, str) or not told.value.lstrip("-").isdigit():
        return None
    rc = int(told.value)
    # 100 (no device) and 303 (TensorFlow's stub: no libcuda to load) as a log line are symptoms the other findings
    # explain (a container without the GPU, a CUDA_VISIBLE_DEVICES that hides it, no driver); and on a machine with
    # no GPU to expect, nothing failed
    if rc <= 0 or not (gpu_expected(facts) or facts.require_gpu):
        return None
    if rc == 100 and facts.machine.value("driver.loaded") is not False:
        # (no driver loaded explains it: driver.nvidia-module says so); a container without the GPU, a
        # CUDA_VISIBLE_DEVICES that hides it fail upstream and are named as its cause
        return Finding("cuda.init", Status.WARN, "A CUDA program found no CUDA device (100: no CUDA-capable device is "
                       "detected)", tuple(e.describe() for e in told.evidence[:2]) + (
                           "Where no other finding names what hid the GPU, the verify commands below settle it.",),
                       fix=_no_device_fix(facts), evidence=told.evidence)
    if rc in (100, 303):
        return None
    return Finding("cuda.init", Status.FAIL, f"cuInit failed: {code_text(rc)}",
                   tuple(e.describe() for e in told.evidence[:2]), fix=_init_fix(facts, None, rc),
                   evidence=told.evidence)


@check(
    "cuda.init",
    area="cuda",
    title="CUDA initialises (cuInit)",
    needs=("cuda", "driver", "nvml", "pci", "env"),
    after=("driver.nvidia-module", "nvml.init", "env.container", "container.capabilities", "container.toolkit",
           "env.wsl", "env.cuda-visible-devices", "cuda.libcuda", "cuda.device-nodes", "gpu.fabric", "gpu.mig", "gpu.compute-mode"),
    what="Loads libcuda.so.1 in a small child process under the diagnosed interpreter and calls cuDriverGetVersion, "
         "cuInit, cuDeviceGetCount and, per device, its name, compute capability and PCI address, exactly as "
         "TensorFlow's first GPU call does; every status code is named from NVIDIA's CUresult table.",
    why="TensorFlow reports CUDA's failure as one line (`failed call to cuInit: ...`) and falls back to the CPU. "
        "Asking CUDA directly, without TensorFlow, gives the code (802: the Fabric Manager is not running; 999: "
        "nvidia_uvm is missing; 100: no device visible; 803/804: a libcuda that does not fit the driver) even with "
        "`--no-tf`, and it is the same answer every CUDA framework gets.",
    fix="Depends on the code: start the Fabric Manager (802), load nvidia_uvm (999), give the container or this user "
        "the GPU (100), remove a stub or cuda-compat libcuda from the loader path (34, 803, 804), change the compute "
        "mode (46). The finding names the code and the exact commands.",
    links=("https://docs.nvidia.com/cuda/cuda-driver-api/group__CUDA__TYPES.html",),
)
def check_cuda_init(facts) -> Finding:
    api = api_facts(facts)
    if api is None or (api.source == "none" and api.ended not in ("timeout", "signal")):
        told = _init_told(facts)
        if told is not None:
            return told
    if api is None:
        return skip("cuda.init", "the driver-API probe did not run")
    if api.source == "none":
        if api.ended == "timeout":
            return fail("cuda.init", "cuInit did not return: the driver hangs initialising a GPU", api.problem or "",
                        fix=Fix("A cuInit that never returns is a GPU or driver stuck in the kernel (often after an "
                                "Xid error): read the kernel log, then reset the GPU or reboot.",
                                ("sudo dmesg | grep -iE 'NVRM|Xid'", "sudo reboot"), verify=(verify_only(facts, "cuda.init"),)))
        if api.ended == "signal":
            return fail("cuda.init", "Loading libcuda or calling cuInit crashed the process", api.problem or "",
                        fix=Fix("A libcuda that crashes its caller is damaged or from another driver: reinstall "
                                "the driver's user-space libraries.", ("ldconfig -p | grep libcuda.so.1",),
                                verify=(verify_only(facts, "cuda.init"),)))
        return skip("cuda.init", f"CUDA's driver API was not asked ({api.problem or 'no record'})")
    expected = gpu_expected(facts)
    if api.libcuda_loaded is False:
        if not expected and not facts.require_gpu:
            return skip("cuda.init", "No NVIDIA GPU and no libcuda.so.1: there is nothing for CUDA to initialise",
                        api.libcuda_error or "")
        return _libcuda_not_loadable(facts, (api.libcuda_error or "",))
    rc = api.init_rc
    if rc is None:
        return skip("cuda.init", "libcuda.so.1 loaded but cuInit was not called", api.problem or "")
    version = f"driver API {api.driver_version}" if api.driver_version else "driver API version unknown"
    where = [f"libcuda: {api.libcuda_realpath or api.libcuda_path or 'libcuda.so.1'}"]
    if rc != 0:
        return fail("cuda.init", f"cuInit failed: {code_text(rc, api.init_name)}", *where, version,
                    fix=_init_fix(facts, api, rc))
    if not api.device_count:
        return fail("cuda.init", "CUDA initialised but sees no device (cuDeviceGetCount = 0)", *where,
                    fix=_no_device_fix(facts))
    lines = _device_lines(api)
    summary = f"CUDA {api.driver_version or '?'} driver API: {api.device_count} device(s)"
    if len(lines) <= 2:
        summary += ": " + "; ".join(line.split(": ", 1)[1] for line in lines)
    extra = [f"cuInit took {api.init_duration_s:.2f} s"] if api.init_duration_s else []
    return ok("cuda.init", summary, *lines, *where, *extra)


# -- cuda.libcuda --------------------------------------------------------------------------------------------------


def libcuda_stub_fix(facts) -> Fix:
    drop = ld_library_path_without(facts, lambda p: "stubs" in p)
    cmds = [drop] if drop else []
    cmds += ["grep -rn stubs /etc/ld.so.conf /etc/ld.so.conf.d/", "sudo ldconfig"]
    return Fix("Take the CUDA toolkit's stubs/ folder off the loader path (LD_LIBRARY_PATH, or a file in "
               "/etc/ld.so.conf.d/ that names it, then run ldconfig): the stub exists only to link programs, the "
               "driver's libcuda.so.1 must be the one loaded.", tuple(cmds),
               verify=("ldconfig -p | grep libcuda.so.1", verify_only(facts, "cuda.libcuda")))


# folders that hold the driver's own libcuda.so.1: the distributions' library folders, the NVIDIA container runtime's
# and nvidia-docker 1's mount points, WSL's
_DRIVER_LIB_DIRS = frozenset(("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib",
                              "/lib/x86_64-linux-gnu", "/lib64", "/usr/local/nvidia/lib64", "/usr/local/nvidia/lib",
                              "/usr/lib/wsl/lib"))


def _stubs_on_path(facts) -> Finding | None:
    """LD_LIBRARY_PATH names a CUDA toolkit's stubs/ folder ahead of any folder with the driver's libcuda: the loader
    searches LD_LIBRARY_PATH before its cache, so a libcuda.so.1 in stubs/ (the link build images make there to link
    programs, as TensorFlow's devel-gpu image did: tensorflow#36974) is what a CUDA program loads at run time. The
    driver API was not asked, so whether stubs/ holds a libcuda.so.1 is not known: it warns."""
    value = (getattr(facts.env, "variables", None) or {}).get("LD_LIBRARY_PATH") or ""
    for entry in value.split(":"):
        folder = entry.rstrip("/")
        if folder in _DRIVER_LIB_DIRS:
            return None
        if folder.rsplit("/", 1)[-1] == "stubs":
            return warn("cuda.libcuda", "LD_LIBRARY_PATH names the CUDA toolkit's stubs/ folder before the driver's "
                        "library: a libcuda.so.1 there (a link build images make to link programs) is loaded "
                        "instead of the driver's", f"LD_LIBRARY_PATH={value[:300]}", fix=libcuda_stub_fix(facts))
    return None


def _newer_libcuda_than_driver(facts) -> Finding | None:
    """CUDA's diagnostician (TensorFlow's, XLA's): the libcuda the program loaded (the DSO) is a newer major than the
    loaded kernel module, while the driver's own user space answers at the module's version (nvidia-smi/NVML work):
    no driver upgrade awaiting its reboot (nvidia-smi would fail too) but a program that brought a newer libcuda, a
    CUDA forward-compatibility library such as images built for a newer CUDA carry; it works only on data-center
    GPUs with a supported branch. The program's CUDA needs a host driver at least that new (alphafold3#352's
    maintainer: update the host driver)."""
    n = getattr(facts, "nvml", None)
    if n is None or not n.init_ok:
        return None
    for kernel, dso in kernel_and_libcuda(facts):
        if dso[:1] <= kernel[:1]:
            continue
        k, d = major_minor(kernel), major_minor(dso)
        ev = facts.machine.evidence_of("tf-kernel-dso-mismatch")[:1]
        return Finding("cuda.libcuda", Status.FAIL,
                       f"The program loaded libcuda {d}, newer than the host's driver {k} (whose own tools answer): a "
                       "CUDA forward-compatibility library, as an image built for a newer CUDA carries, which does not "
                       "work with this driver and GPU: the program's CUDA needs a newer host driver",
                       tuple(e.describe() for e in ev),
                       fix=Fix(f"Install NVIDIA driver {dso[0]} or newer on the host (for the CUDA the program was "
                               f"built with), or run a build of the program for a CUDA that driver {k} runs "
                               "(nvidia-smi's 'CUDA Version').",
                               tuple(install_driver_commands(facts.pci, facts.driver, facts.env)),
                               verify=("nvidia-smi   # 'CUDA Version' in its header: the newest CUDA the driver runs",
                                       verify_only(facts, "cuda.init"))),
                       evidence=ev)
    return None


def _older_libcuda_than_driver(facts) -> Finding | None:
    """CUDA's diagnostician (TensorFlow's) named the loaded kernel module and the libcuda it loaded, and the libcuda is
    the OLDER: not a reboot owed after an upgrade (the library would be the newer) but an old driver's libcuda still on
    the loader path, or one an image or nvidia-docker 1's volume brought (nvidia-docker#95: kernel 361.42, DSO
    352.79 after a driver upgrade)."""
    stale = stale_libcuda(facts)
    if stale is None:
        return None
    cause, fix = stale
    ev = facts.machine.evidence_of("tf-kernel-dso-mismatch")[:1]
    return Finding("cuda.libcuda", Status.FAIL, f"The libcuda in use is not the loaded driver's: {cause}",
                   tuple(e.describe() for e in ev), fix=fix, evidence=ev)


def _libcuda_told(facts) -> Finding | None:
    """The driver API was not asked here, and a CUDA program showed that the libcuda it loaded is not the running
    driver's: the toolkit's stub, or CUDA's 803 (`system has unsupported display driver / cuda driver combination`)
    or 804 (`forward compatibility was attempted on non supported HW`). 804 is always a cuda-compat libcuda; 803 is one
    too in a CUDA image whose compat folder comes first on the loader path (vllm#34226), or a driver upgraded without a
    reboot."""
    m = facts.machine
    damaged = m.belief("cuda.libcuda_damaged")
    if damaged.value is True:
        # the loader found a libcuda.so.1 that is no library at all: truncated, empty, a placeholder
        return told_fail("cuda.libcuda", "The libcuda.so.1 the loader finds is not a valid library (file too short "
                         "or not ELF): a truncated or placeholder file, not the driver's", damaged,
                         Fix("Reinstall the driver's user-space CUDA library so that libcuda.so.1 is the driver's "
                               "own; on a machine without an NVIDIA GPU (a cluster's login node), run the GPU work on "
                               "a GPU node instead.", _driver_library_commands(facts),
                               verify=("ldconfig -p | grep libcuda.so.1", verify_only(facts, "cuda.init"))))
    stub = m.belief("cuda.libcuda_stub")
    if stub.value is True:
        return Finding("cuda.libcuda", Status.FAIL, "The libcuda a CUDA program loaded is the CUDA toolkit's stub "
                       "(stubs/libcuda.so), not the driver's library", tuple(e.describe() for e in stub.evidence[:2]),
                       fix=libcuda_stub_fix(facts), evidence=stub.evidence)
    compat = m.belief("cuda.compat_unsupported")
    mismatch = m.belief("cuda.driver_mismatch")
    told = compat if compat.value is True else mismatch if mismatch.value is True else None
    if told is None:
        return _newer_libcuda_than_driver(facts) or _older_libcuda_than_driver(facts)
    details = tuple(e.describe() for e in told.evidence[:2])
    api = api_facts(facts)
    if told is compat and (api is None or api.source == "none"):
        # only a program's words, no libcuda read: CUDA tried forward compatibility because the program's CUDA is
        # newer than the driver, which compat.driver-cuda reads
        return info("cuda.libcuda", "A program's CUDA tried the forward-compatibility library (cuda-compat) and the "
                    "GPU refused it (804): see compat.driver-cuda", *details)
    if told is compat:
        return Finding("cuda.libcuda", Status.FAIL, "A forward-compatibility (cuda-compat) libcuda is in use on a GPU "
                       "that does not support it (804): CUDA refuses it", details, fix=_compat_fix(facts, None),
                       evidence=told.evidence)
    verify = ("ldconfig -p | grep libcuda.so.1", "cat /proc/driver/nvidia/version", verify_only(facts, "cuda.init"))
    drop = ld_library_path_without(facts, lambda p: "compat" in p)
    find = ("ldconfig -p | grep libcuda.so.1", "grep -rn compat /etc/ld.so.conf /etc/ld.so.conf.d/")
    return Finding("cuda.libcuda", Status.FAIL, "CUDA refuses the libcuda it loaded (803: unsupported display driver "
                   "/ cuda driver combination): that libcuda.so.1 is not the running driver's", details,
                   fix=Fix("See which libcuda.so.1 the loader picks: a cuda-compat copy (a CUDA image's "
                           "/usr/local/cuda/compat, listed in /etc/ld.so.conf.d) ahead of the driver's must come off "
                           "the loader path; after a driver upgrade without a reboot, reboot.",
                           (drop,) if drop else find,
                           alternatives=(Alternative("the driver was upgraded and the machine not rebooted since",
                                                     ("sudo reboot",)),),
                           verify=verify),
                   evidence=told.evidence)


@check(
    "cuda.libcuda",
    area="cuda",
    title="The libcuda in use is the driver's",
    needs=("cuda", "driver", "nvml", "env"),
    after=("driver.nvidia-module", "nvml.init", "env.container", "container.capabilities"),
    what="Reads which file the loader mapped for libcuda.so.1 (its resolved path), the driver version in its file "
         "name and the driver API version it reports, and compares them with the loaded kernel module "
         "(/proc/driver/nvidia/version, NVML).",
    why="A libcuda that is not the driver's own makes CUDA fail although nvidia-smi works: the toolkit's stub "
        "(stubs/libcuda.so, CUDA_ERROR_STUB_LIBRARY), a cuda-compat forward-compatibility library on a GPU that does "
        "not support it (804) or copied into a container image from another driver (803).",
    fix="Take the stubs/ or compat/ folder off LD_LIBRARY_PATH or /etc/ld.so.conf.d, then `sudo ldconfig`; in a "
        "container, do not bake a libcuda into the image (the NVIDIA runtime mounts the host's).",
    links=("https://docs.nvidia.com/deploy/cuda-compatibility/forward-compatibility.html",),
)
def check_cuda_libcuda(facts) -> Finding:
    api = api_facts(facts)
    if api is None or api.source == "none":
        told = _libcuda_told(facts) or _stubs_on_path(facts)
        if told is not None:
            return told
        return skip("cuda.libcuda", "CUDA's driver API was not asked (see cuda.init)")
    if not api.libcuda_loaded:
        return skip("cuda.libcuda", "libcuda.so.1 could not be loaded (see cuda.init)")
    path = api.libcuda_realpath or api.libcuda_path
    details = [f"libcuda.so.1 -> {path or '?'}", f"driver API version {api.driver_version or '?'}"]
    kernel = kernel_driver_version(facts)
    if kernel:
        details.append(f"kernel driver {kernel}")
    kind = api.libcuda_kind
    if kind == "stub":
        return fail("cuda.libcuda", "libcuda.so.1 is the CUDA toolkit's stub, not the driver's library", *details,
                    fix=libcuda_stub_fix(facts))
    file_version = api.libcuda_file_version
    if kind == "compat":
        if api.init_rc in (803, 804):
            return fail("cuda.libcuda", f"A forward-compatibility libcuda ({file_version or 'cuda-compat'}) is in use "
                        f"and CUDA refuses it: {code_text(api.init_rc, api.init_name)}", *details,
                        fix=_compat_fix(facts, api))
        return info("cuda.libcuda", f"CUDA runs through a forward-compatibility libcuda ({file_version or path}) on "
                    f"kernel driver {kernel or '?'}", *details)
    if file_version and kernel and file_version != kernel:
        return fail("cuda.libcuda", f"libcuda.so.1 is from driver {file_version} but the loaded driver is {kernel}",
                    *details, fix=_mismatch_fix(facts, api))
    nvml_cuda = getattr(facts.nvml, "cuda_driver_version", None)
    if api.driver_version and nvml_cuda and api.driver_version != nvml_cuda and kind == "driver":
        return warn("cuda.libcuda", f"libcuda reports CUDA {api.driver_version} but the driver (NVML) supports CUDA "
                    f"{nvml_cuda}: the libcuda is not the installed driver's", *details, fix=_mismatch_fix(facts, api))
    return ok("cuda.libcuda", f"libcuda.so.1 is the driver's ({file_version or path or '?'})", *details)


# -- cuda.device-nodes ---------------------------------------------------------------------------------------------


def _node_missing_told(facts) -> Finding | None:
    """A container runtime (or another program) was told to use an NVIDIA device node that does not exist on the
    host: nothing created it since boot. /dev/nvidia-uvm and -uvm-tools come with nvidia_uvm, which the setuid
    nvidia-modprobe loads on a CUDA program's first use; /dev/nvidiaN and /dev/nvidiactl with the nvidia module."""
    if (told := facts.machine.told("cuda.device_node_missing")) is None:
        return None
    o = next(iter(facts.machine.observed("device-node-missing", "tf-no-gpu-device-node", "slurm-gres-device-missing")),
             None)
    if o is not None and o.message == "tf-no-gpu-device-node":
        return _tf_node_missing(facts, o, told)
    node = o.group("node").replace("//", "/") if o is not None and o.group("node") else None
    uvm = node is None or "uvm" in node
    return Finding("cuda.device-nodes", Status.FAIL,
                   f"The device node {node or '/dev/nvidia*'} does not exist on this host, so a container (or program) "
                   "told to use it cannot start" + (": nvidia_uvm was not loaded since boot" if uvm and node else ""),
                   tuple(e.describe() for e in told.evidence[:2]),
                   fix=Fix("Create the nodes now (nvidia-modprobe loads the module and makes its device files), and "
                           "at every boot before the containers (or slurmd) start (a systemd unit or the "
                           "nvidia-persistenced service); nvidia-docker 2 and the NVIDIA Container Toolkit load the "
                           "module and create them themselves. If nvidia-modprobe fails, the NVIDIA module itself "
                           "does not load on this kernel (none built for it after a kernel update, or nouveau holding "
                           "the GPU): `sudo modprobe nvidia` prints why.",
                           ("sudo nvidia-modprobe -u -c=0",) if uvm else ("sudo nvidia-modprobe -c=0",),
                           verify=("ls -l /dev/nvidia*",)),
                   evidence=told.evidence)


def _tf_node_missing(facts, o, told) -> Finding | None:
    """TensorFlow's CUDA diagnostician found /proc/driver/nvidia/version but no /dev/nvidia0 after cuInit failed
    (cuda_diagnostics.cc). Inside a container the /proc file is the host's: the container was started without the GPU,
    which env.container says (nvidia-docker#1330; tensorflow#5642). On a host nothing created the device nodes since
    the module loaded. Where neither is known, both are named."""
    from tfdoctor.checks.container import CUDA_BASE_IMAGE

    where = facts.machine.value("container")
    if where is True:
        return None
    node = o.group("node") or "/dev/nvidia0"
    host = Fix("Create the device nodes (nvidia-modprobe makes /dev/nvidia0, /dev/nvidiactl and, with -u, "
               "/dev/nvidia-uvm), and at every boot (the nvidia-persistenced service, or the udev rule of the "
               "distribution's driver package).", ("sudo nvidia-modprobe -u -c=0",), verify=("ls -l /dev/nvidia*",))
    if where is False:
        return Finding("cuda.device-nodes", Status.FAIL,
                       f"The NVIDIA module is loaded but {node} does not exist, so CUDA finds no GPU (TensorFlow's "
                       "diagnostics)", (o.line,), fix=host, evidence=told.evidence)
    return Finding("cuda.device-nodes", Status.FAIL,
                   f"TensorFlow found the NVIDIA kernel module's /proc/driver/nvidia/version but no {node}, so CUDA "
                   "finds no GPU: inside a container it was started without the GPU; on the host nothing created "
                   "the device nodes", (o.line,),
                   fix=Fix("In a container: restart it with GPU access, adding `--gpus all` to the `docker run` "
                           "command that starts it (the NVIDIA Container Toolkit installed on the host; in Kubernetes, "
                           "request nvidia.com/gpu). On the host itself: create the device nodes.",
                           alternatives=(Alternative("TensorFlow ran on the host itself, not in a container",
                                                     host.commands),),
                           verify=(f"docker run --rm --gpus all {CUDA_BASE_IMAGE} nvidia-smi", "ls -l /dev/nvidia*")),
                   evidence=told.evidence)


def _nodes_of_unnamed_group(facts) -> Finding | None:
    """A pasted `ls -l /dev/nvidia*` whose CUDA nodes (nvidiactl, nvidia-uvm, nvidiaN) only their owner and group may
    open, and whose group ls printed as a number: no group of that GID exists on the machine, so no user is in it and
    only root can use the GPU. The driver sets the nodes' group and mode from NVreg_DeviceFileGID and
    NVreg_DeviceFileMode (NVIDIA's README, 'Configuring GPU device file permissions'); sddm#1493: openSUSE's 470.94
    packages set GID 33, a group that machine did not have."""
    seen = facts.machine.observed("ls-dev-node-unnamed-group")
    if not seen:
        return None
    gids = sorted({o.group("gid") for o in seen if o.group("gid")})
    gid = gids[0] if len(gids) == 1 else None
    ev = facts.machine.evidence_of("ls-dev-node-unnamed-group")
    alternatives = (Alternative(f"keep GID {gid}: create a group with that GID and add the GPU's users to it",
                                (f"sudo groupadd --gid {gid} nvidia-users", "sudo usermod -aG nvidia-users $USER")),
                    ) if gid is not None and gid.isdigit() and len(gid) <= 10 else ()
    return Finding("cuda.device-nodes", Status.FAIL,
                   f"The GPU's device nodes belong to group {' and '.join(gids)}, which has no name on this machine "
                   "(ls printed the number), and only their owner and group may open them: no user is in that group, "
                   "so only root can use the GPU",
                   tuple(e.describe() for e in ev[:3]),
                   fix=Fix("Give the device nodes a group the GPU's users are in: the driver takes it from "
                           "NVreg_DeviceFileGID (and the mode from NVreg_DeviceFileMode) in a file under "
                           "/etc/modprobe.d or /usr/lib/modprobe.d; set it to the video group's GID (or the mode to "
                           "0666), then reload the driver or reboot.",
                           ("grep -rn NVreg_DeviceFile /etc/modprobe.d /usr/lib/modprobe.d", "getent group video"),
                           alternatives=alternatives,
                           verify=("ls -l /dev/nvidia*", "id -nG", verify_only(facts, "cuda.init"))),
                   evidence=ev)


def _listed_nodes(facts) -> tuple[tuple | None, list[str]]:
    """The /dev/nvidia* nodes as read: the driver-API probe's (with their modes), else the environment's listing of
    names alone (a live /dev, or a pasted `ls`)."""
    api = api_facts(facts)
    nodes = getattr(api, "device_nodes", None) if api is not None and api.source != "none" else None
    names = [n.name for n in nodes] if nodes is not None else list(getattr(facts.env, "dev_nvidia", None) or [])
    return nodes, names


def gpu0_node_missing(facts) -> tuple[str, ...] | None:
    """The GPU nodes listed when /dev/nvidia0 is not among them although others are (/dev/nvidia1, ...), on a machine
    where NVML or CUDA found no device: the driver numbers its GPUs from minor 0, so the nodes were made by something
    that numbered them otherwise (a udev rule naming them after the DRM card, nixpkgs#87788). Inside a container the
    host's numbers are kept (`--gpus device=1` gives /dev/nvidia1 alone), so a container is never read this way."""
    env = facts.env
    if env is None or env.container or facts.machine.value("container") is True:
        return None
    gpus = sorted(n for n in _listed_nodes(facts)[1] if n[6:].isdigit())
    if not gpus or "nvidia0" in gpus:
        return None
    none_found = (getattr(facts.nvml, "init_error", None) == "no-devices"
                  or facts.machine.value("cuda.init_error") == "100")  # CUDA_ERROR_NO_DEVICE
    return tuple("/dev/" + n for n in gpus) if none_found else None


@check(
    "cuda.device-nodes",
    area="cuda",
    title="nvidia_uvm and the /dev/nvidia* nodes",
    needs=("cuda", "driver", "env", "nvml", "pci"),
    after=("driver.nvidia-module", "env.container"),
    what="Checks that the nvidia_uvm module is loaded, that /dev/nvidiactl, /dev/nvidia-uvm and a /dev/nvidiaN node "
         "exist, and that this user may open them read-write (their mode and group, and this process's groups).",
    why="nvidia-smi needs only /dev/nvidiactl and /dev/nvidiaN; CUDA also needs nvidia_uvm and /dev/nvidia-uvm, "
        "so a machine where nvidia-smi works can still fail every CUDA program with CUDA_ERROR_UNKNOWN (999). A user "
        "outside the group that owns the nodes (video or render, when they are not world-accessible) gets no GPU "
        "while root does.",
    fix="`sudo modprobe nvidia-uvm` (and `sudo nvidia-modprobe -u -c=0` to create /dev/nvidia-uvm); add the user to "
        "the nodes' group (`sudo usermod -aG video $USER`) and log in again.",
)
def check_device_nodes(facts) -> Finding:
    if (orphan := _nodes_of_unnamed_group(facts)) is not None:
        return orphan  # (the nodes themselves show a driver that registered a GPU)
    if not gpu_expected(facts) and not facts.require_gpu:
        if facts.machine.value("gpu.present") is False:
            return skip("cuda.device-nodes", "No NVIDIA GPU: no device nodes to check")
        return skip("cuda.device-nodes", "Whether this machine has an NVIDIA GPU was not recorded (paste the output "
                                         "of `lspci -nnk | grep -iA3 nvidia`)")
    told = _node_missing_told(facts)
    if told is not None:
        return told
    misnumbered = gpu0_node_missing(facts)
    if misnumbered is not None:
        return fail("cuda.device-nodes", "/dev/nvidia0 is missing while " + ", ".join(misnumbered[:3]) + " exist: the "
                    "driver's first GPU has no device node, so NVML and CUDA find no GPU",
                    "the NVIDIA driver numbers its GPUs from 0 (/proc/driver/nvidia/gpus/*/information: Device Minor); "
                    "these nodes were made by something that numbered them otherwise, such as a udev rule that names "
                    "them after the DRM card (/dev/dri/card1 on a machine with an integrated GPU as card0)",
                    fix=Fix("Create the nodes with the driver's own numbering (nvidia-modprobe, or the driver's udev "
                            "rule) and remove the rule that made the others; the first command shows the minor "
                            "number of each GPU.",
                            ("grep -i 'Device Minor' /proc/driver/nvidia/gpus/*/information", "sudo nvidia-modprobe -c 0",
                             "grep -rl nvidia /etc/udev/rules.d /lib/udev/rules.d"),
                            verify=("ls -l /dev/nvidia*", "nvidia-smi -L")))
    env = facts.env
    if env is not None and env.container and not env.dev_nvidia:
        return skip("cuda.device-nodes", "A container without /dev/nvidia* nodes (see env.container)")
    nodes, names = _listed_nodes(facts)
    uvm = facts.machine.belief("driver.uvm_loaded")
    unknown = facts.machine.belief("cuda.unknown_error")
    if unknown.value is True and uvm.value is None and "nvidia-uvm" not in names \
            and facts.machine.value("driver.loaded") is not False \
            and not facts.machine.observed("tf-kernel-dso-mismatch") \
            and facts.machine.value("gpu.unsupported_by_software") is not True:
        # (neither the diagnostician nor the software itself, refusing the GPU, named another reason)
        # CUDA's 999 where the driver answers: the first thing to check is the unified-memory module (NVIDIA's
        # installation guide), which only CUDA needs and which nothing loads for a process that cannot run
        # nvidia-modprobe (an unprivileged container, a batch job)
        return Finding("cuda.device-nodes", Status.FAIL, "A CUDA program failed with 'unknown error' (999): the usual "
                       "cause where the driver answers is the nvidia_uvm module not loaded (/dev/nvidia-uvm missing)",
                       tuple(e.describe() for e in unknown.evidence[:2]) + (
                           "Whether nvidia_uvm is loaded was not recorded: the verify commands settle it.",),
                       fix=_uvm_fix(facts), evidence=unknown.evidence)
    if uvm.value is False:
        m = facts.machine
        api = api_facts(facts)
        asked = getattr(api, "init_ok", None) if getattr(api, "source", None) == "child" else None
        init, sees = m.value("cuda.init_error"), m.value("tf.sees_gpu")
        # a load of nvidia_uvm that failed (modprobe's error) or a check aimed at it (`lsmod | grep nvidia_uvm` printing
        # nothing: someone was looking because CUDA failed) is the failure itself; a module listing without it is not
        failing = (any(e.message for e in uvm.evidence) or unknown.value is True or init not in (None, "0")
                   or sees is False or asked is False)
        if not failing and (asked or sees is True or init == "0"):
            return ok("cuda.device-nodes", "nvidia_uvm was not loaded when the modules were listed; CUDA initialised "
                      "since (nvidia-modprobe loads it at the first CUDA program)")
        if not failing:
            # nothing ran CUDA here: nvidia-modprobe (setuid) loads nvidia_uvm at the first CUDA program, so its
            # absence from lsmod is no failure unless that cannot happen (a container, a job without privileges)
            return info("cuda.device-nodes", "The nvidia_uvm module is not loaded yet: nvidia-modprobe loads it at the "
                        "first CUDA program; where that cannot run (an unprivileged container or job) CUDA fails with "
                        "999", *(e.describe() for e in uvm.evidence), fix=_uvm_fix(facts))
        return Finding("cuda.device-nodes", Status.FAIL, "The nvidia_uvm module is not loaded: CUDA fails "
                       "(CUDA_ERROR_UNKNOWN, 999) even where nvidia-smi works", tuple(e.describe() for e in uvm.evidence),
                       fix=_uvm_fix(facts), evidence=uvm.evidence)
    if nodes is None and getattr(env, "dev_nvidia", None) is None:
        return skip("cuda.device-nodes", "/dev was not recorded (paste the output of `ls -l /dev/nvidia*`)")
    if "nvidiactl" in names and "nvidia-uvm" not in names:
        return fail("cuda.device-nodes", "/dev/nvidia-uvm is missing: CUDA fails (CUDA_ERROR_UNKNOWN, 999) although "
                    "nvidia-smi works", "present: " + ", ".join("/dev/" + n for n in names), fix=_uvm_fix(facts))
    denied = [n for n in (nodes or ()) if n.rw is False and (n.name == "nvidiactl" or n.name == "nvidia-uvm"
                                                              or n.name[6:].isdigit())]
    if denied:
        groups = sorted({n.group for n in denied if n.group and _GROUP.match(n.group)})
        lines = [f"/dev/{n.name}: mode {n.mode or '?'}, group {n.group or n.gid}" for n in denied]
        cmds = [f"sudo usermod -aG {','.join(groups)} $USER"] if groups else ["ls -l /dev/nvidia*"]
        return fail("cuda.device-nodes", f"This user may not open {', '.join('/dev/' + n.name for n in denied[:3])}: "
                    f"CUDA sees no GPU for this user", *lines,
                    fix=Fix("Add this user to the group that owns the device nodes, then log out and in again (or "
                            "make the nodes world-accessible through the driver's NVreg_DeviceFileMode).",
                            tuple(cmds), verify=("id -nG", "ls -l /dev/nvidia*", verify_only(facts, "cuda.init"))))
    if not names:
        return skip("cuda.device-nodes", "No /dev/nvidia* node: the driver is not loaded (see driver.nvidia-module)")
    summary = ", ".join("/dev/" + n for n in names[:6])
    perms = " and read-write for this user" if nodes else ""
    return ok("cuda.device-nodes", f"{summary} present{perms}" + ("; nvidia_uvm loaded" if uvm.value else ""))


# -- cuda.libraries ------------------------------------------------------------------------------------------------


def tf_version_of(facts) -> str | None:
    """The installed TensorFlow's version: the TensorFlow child's, else its dist-info's."""
    tf = facts.tensorflow
    v = getattr(tf, "tf_version", None) if tf is not None and getattr(tf, "source", None) == "child" else None
    if v:
        return v
    py = facts.pyenv
    for name in ("tensorflow", "tf-nightly", "tensorflow-gpu"):
        d = py.dist(name) if py is not None else None
        if d is not None:
            return d.version
    return None


def _vt(v: str | None) -> tuple[int, ...]:
    return _kb().parse_version(v or "")


def _cudnn_told_missing(facts) -> Finding | None:
    """cuDNN's own loader said a library of the major the program was built for is missing (cuDNN 8's
    `Could not load library libcudnn_ops_infer.so.8`, cuDNN 9's `Unable to load any of {libcudnn_ops.so.9.1.0, ...}`):
    that major is not installed where the program looks, whatever other cuDNN is. ONNX Runtime's `Failed to load library
    libonnxruntime_providers_cuda.so with error: libcudnn.so.8: cannot open shared object file` says the same of the
    cuDNN its CUDA provider was linked against."""
    told = facts.machine.observed("cudnn-sublibrary-missing") or facts.machine.observed("ort-cuda-provider-cudnn-missing")
    if not told:
        return None
    o = told[0]
    lib = o.group("library") or o.group("library_set") or "libcudnn"
    major = o.group("cudnn_major") or o.group("cudnn_major_set") or "9"
    stated = next((x.group("cuda_version") for x in facts.machine.observed(*STATED_CUDA)
                   if x.group("cuda_version")), None)
    cuda = stated.split(".")[0] if stated and stated.split(".")[0] in ("11", "12", "13") else "12"
    family = distro_family(getattr(facts, "env", None))
    pkg = f"libcudnn9-cuda-{cuda}" if major == "9" else f"libcudnn{major}"
    lib_dir = "$(python3 -c 'import os, nvidia.cudnn.lib; print(os.path.dirname(nvidia.cudnn.lib.__file__))')"
    pip = (f"python3 -m pip install 'nvidia-cudnn-cu{cuda}=={major}.*'",
           f'export LD_LIBRARY_PATH="{lib_dir}:$LD_LIBRARY_PATH"')
    if family == "arch":
        primary, alts = (("sudo pacman -S cudnn",), (Alternative("from pip (cuDNN wheels)", pip),)) if major == "9" \
            else (pip, ())
    else:
        tool = "dnf" if family in ("fedora", "rhel") else "apt"
        primary = (f"sudo {tool} install {pkg}",)
        alts = (Alternative("from pip, without NVIDIA's package repository (the wheel's folder on the loader path)",
                            pip),)
    assumed = "" if stated else " (CUDA 12 assumed: the CUDA in use was not recorded)"
    source = {"arch": "", "unknown": " from NVIDIA's CUDA repository (apt: Ubuntu/Debian; the distribution was not "
                                     "recorded)"}.get(family, " from NVIDIA's CUDA repository")
    return Finding("cuda.libraries", Status.FAIL,
                   f"cuDNN {major} is not installed where the program looks: its loader could not open {lib}",
                   (o.line[:300], f"the program was built for cuDNN {major}; another cuDNN major does not stand in "
                                  "for it (or use a build of the program for the cuDNN installed)"),
                   fix=Fix(f"Install cuDNN {major} for CUDA {cuda}{assumed}{source}.", primary, alternatives=alts,
                           verify=("ldconfig -p | grep libcudnn",)),
                   evidence=facts.machine.evidence_of(told[0].message)[:2])


def _cudnn_unversioned_missing(facts) -> Finding | None:
    """A program's own loader could not find cuDNN where it looks (PaddlePaddle's `Failed to find dynamic library:
    libcudnn.so`): with no major named, the fix is the loader path, which the program searches (Paddle#24805: a typo in
    LD_LIBRARY_PATH); the unversioned libcudnn.so is cuDNN's development package's symlink."""
    told = facts.machine.observed("paddle-dynload-cudnn-missing") or facts.machine.observed("paddle-cudnn-cannot-load")
    if not told:
        return None
    o = told[0]
    lib = o.group("library") or "libcudnn.so"
    lld = (facts.env.variables.get("LD_LIBRARY_PATH") if facts.env is not None else None) or None
    details = (o.line[:300],) + ((f"LD_LIBRARY_PATH={lld[:300]}: check that each folder exists and one holds {lib}",)
                                 if lld else ())
    return Finding("cuda.libraries", Status.FAIL,
                   f"The program's loader could not find cuDNN ({lib}) in the folders it searches: cuDNN is not "
                   "installed, or its folder is not on LD_LIBRARY_PATH", details,
                   fix=Fix("Put the folder that holds cuDNN on LD_LIBRARY_PATH (the first command lists each folder "
                           "of it that does not exist; the second, where the loader finds cuDNN); a program that asks "
                           "for the unversioned libcudnn.so needs cuDNN's development package (or NVIDIA's tar "
                           "archive) as well.",
                           ("echo \"$LD_LIBRARY_PATH\" | tr ':' '\\n' | while read -r d; do [ -z \"$d\" ] || [ -d \"$d\" ] "
                            "|| echo \"missing: $d\"; done", "ldconfig -p | grep libcudnn"),
                           verify=("ldconfig -p | grep libcudnn",)),
                   evidence=facts.machine.evidence_of("paddle-dynload-cudnn-missing", "paddle-cudnn-cannot-load")[:2])


def _first_parts(facts, message_id: str):
    """The named parts of the first observation of a message, as a lookup that answers None where it was not seen."""
    o = next(iter(facts.machine.observed(message_id)), None)
    return (lambda name: o.group(name)) if o is not None else (lambda name: None)


def _cudnn_told_mixed(facts) -> Finding | None:
    """cuDNN 8's loader opened one of its sub-libraries from another cuDNN installation than the one in the process
    (`undefined symbol`): a system cuDNN (under /usr/local/cuda/lib64, /usr/lib) on the loader path shadows the
    program's own (a framework's wheel). NVIDIA's answer in pytorch#119989: cuDNN 8 prefers the system-wide copy;
    cuDNN 9 loads the package's own first."""
    if (told := facts.machine.told("cuda.cudnn_mixed")) is None:
        return None
    part = _first_parts(facts, "cudnn-sublibrary-undefined-symbol")
    lib = part("library") or "a cuDNN library"
    where = part("path") or ""
    folder = where.rsplit("/", 1)[0] if "/" in where else "another folder"
    drop = ld_library_path_without(facts, lambda p: p.rstrip("/") == folder)
    return told_fail("cuda.libraries", f"cuDNN's {lib} was loaded from {folder}, another cuDNN installation than the "
                     "one the program loaded first (an undefined cuDNN symbol): a system cuDNN on the loader path "
                     "shadows the program's own", told,
                     Fix("Keep the system cuDNN off the loader path for this program (remove its folder from "
                         "LD_LIBRARY_PATH or from /etc/ld.so.conf.d), or use a build of the framework with cuDNN 9, "
                         "which loads its own libraries first.",
                         (drop,) if drop else ("ldconfig -p | grep libcudnn   # which cuDNN copies the loader sees",
                                               "echo \"$LD_LIBRARY_PATH\""),
                         verify=("ldconfig -p | grep libcudnn",)))


def _cuda_libraries_told_mixed(facts) -> Finding | None:
    """A CUDA library needed a versioned symbol of another CUDA library of its own release and the loader had found
    another release's copy first (`libcublas.so.11: undefined symbol: cublasLt..., version libcublasLt.so.11`,
    `libcusolver.so.11: undefined symbol: cublasSetEnvironmentMode, version libcublas.so.12`, `symbol ... version
    libcublasLt.so.11 not defined`): two copies of one CUDA major on the loader path, mixed in one process (the
    libraries of a CUDA release ship and load together). pytorch#103832, onnxruntime#8594, PaddleSeg#3215,
    ibl-sorter#41."""
    if (told := facts.machine.told("cuda.libraries_mixed")) is None:
        return None
    part = _first_parts(facts, "cuda-library-symbol-version-missing")
    lib = part("library") or "a CUDA library"
    lt = part("lt") or "another CUDA library"
    folder = (part("path") or "").rstrip("/")
    where = f" (the one in {folder})" if folder else ""
    major = part("major")
    provider = part("provider") or "cublas"
    pkg = _kb().pip_package_for_library(lt) if part("lt") else None
    soname = r"\.so"
    return told_fail("cuda.libraries", f"{lib}{where} needs a symbol of {lt} from the CUDA release it was built "
                     f"with, and the {lt} the loader found is another release's: two copies of "
                     f"{f'CUDA {major}' if major else 'the CUDA'} libraries are on the loader path and the loader "
                     "mixed them (the libraries of one CUDA release must be loaded together)", told,
                     Fix("Let the loader find one release of these libraries: take the other CUDA's folder off "
                         "LD_LIBRARY_PATH (or /etc/ld.so.conf.d), or bring the two copies to the same release"
                         + (f" (a pip {pkg} wheel beside a system or conda CUDA {major}: upgrade the older copy)"
                            if pkg else "") + ".",
                         (f"ldconfig -p | grep -E 'lib{provider}{soname}'", "echo \"$LD_LIBRARY_PATH\"",
                          "python3 -m pip list 2>/dev/null | grep -i '^nvidia-'"),
                         alternatives=((Alternative("the pip wheel is the older copy: upgrade it",
                                                    (f"python3 -m pip install -U {pkg}",)),) if pkg else ()),
                         verify=(f"ldconfig -p | grep -E 'lib{provider}{soname}'",)))


def _torch_cudnn_shadowed(facts) -> Finding | None:
    """PyTorch refused the cuDNN loaded into its process as not the one it was built against (`cuDNN version
    incompatibility: PyTorch was compiled against (8, 5, 0) but found runtime version (8, 4, 1)`): the wheel bundles
    its cuDNN, and an older one on the loader path was found first (pytorch#80637, gladia#928). With LD_LIBRARY_PATH
    recorded python.ld-library-path names the folder; without it, this says where to look."""
    if (told := facts.machine.told("torch.cudnn_shadowed")) is None:
        return None
    if (getattr(facts.env, "variables", None) or {}).get("LD_LIBRARY_PATH"):
        return info("cuda.libraries", "PyTorch loaded another cuDNN than its own: see python.ld-library-path",
                    *(e.describe() for e in told.evidence[:1]))
    part = _first_parts(facts, "torch-cudnn-version-incompatibility")
    built, loaded = ((part(k) or "").replace(", ", ".") or None for k in ("built", "loaded"))
    return told_fail("cuda.libraries", f"PyTorch was built against cuDNN {built or '?'} but loaded cuDNN {loaded or '?'}: "
                     "another cuDNN on the loader path (a folder on LD_LIBRARY_PATH, or an image's "
                     "/usr/local/cuda/lib64) shadows the one PyTorch bundles", told,
                     Fix("Find the cuDNN the loader picks and take its folder off LD_LIBRARY_PATH"
                         + (f", or replace it with cuDNN {built}" if built else "") + ": PyTorch then loads its own.",
                         ("echo \"$LD_LIBRARY_PATH\"", "ldconfig -p | grep libcudnn"),
                         verify=("python3 -c 'import torch; print(torch.backends.cudnn.version())'",)))


def _tensorrt_engine_told(facts) -> Finding | None:
    """TensorRT refused an engine file built by another TensorRT release, or on a GPU of another compute capability:
    an engine is tied to both, and is rebuilt from its model where it runs (retinanet-examples#314)."""
    o = next(iter(facts.machine.observed("tensorrt-engine-mismatch")), None)
    if o is None:
        return None
    if o.group("built"):
        what = (f"was built with TensorRT {o.group('built')} and this program loads TensorRT {o.group('loaded')}: an "
                "engine runs only with the TensorRT release it was built with")
    else:
        what = (f"was built on a GPU of compute capability {o.group('built_cc')} and this GPU is "
                f"{o.group('this_cc')}: an engine runs only on the GPU model it was built for")
    ev = facts.machine.evidence_of("tensorrt-engine-mismatch")[:1]
    return Finding("cuda.libraries", Status.FAIL, f"The TensorRT engine file {what}", tuple(e.describe() for e in ev),
                   fix=Fix("Rebuild the engine from its model (ONNX, UFF) with the TensorRT this program loads, on "
                           "this GPU (trtexec's --saveEngine, or the program's own build step), or load it with the "
                           "TensorRT that built it; the driver and CUDA are not the problem.", (),
                           verify=("ldconfig -p | grep libnvinfer   # the TensorRT release the program loads",)),
                   evidence=ev)


def _cudnn_dependency_missing(facts) -> Finding | None:
    """cuDNN 8 loaded, but one of its sub-libraries could not load a CUDA library it needs (`Could not load library
    libcudnn_cnn_infer.so.8. Error: libnvrtc.so: cannot open shared object file`): cuDNN is installed, the library it
    names is not on the loader path under that name (facefusion-docker#9: NVRTC only under the PyTorch wheel's hashed
    name)."""
    if (told := facts.machine.told("cuda.cudnn_dependency_missing")) is None:
        return None
    part = _first_parts(facts, "cudnn-sublibrary-dependency-missing")
    lib = part("library") or "a cuDNN library"
    dep = part("dependency") or "a CUDA library"
    what = {"libnvrtc": "CUDA's runtime compiler NVRTC", "libnvrtc-builtins": "NVRTC's built-ins",
            "libcublas": "cuBLAS", "libcublasLt": "cuBLASLt", "libnvJitLink": "nvJitLink",
            "libz": "zlib"}.get(dep.split(".so")[0], "a CUDA library")
    unversioned = dep.endswith(".so")
    return told_fail("cuda.libraries", f"cuDNN's {lib} could not load {dep} ({what}): it is not on the loader path"
                     + (" under that unversioned name" if unversioned else ""), told,
                     Fix(f"Install {what} and make {dep} findable"
                         + (": cuDNN asks for the unversioned name, which CUDA's development package provides, or a "
                            "link to the versioned file in the same folder" if unversioned else "") + ".",
                         (f"ldconfig -p | grep {dep.split('.so')[0]}",),
                         verify=(f"ldconfig -p | grep '{dep} '",)))


def _jax_cuda_older(facts) -> Finding | None:
    """JAX refused a CUDA component loaded into its process as older than its build (`Found CUDA version 12010, but
    JAX was built against version 12020, which is newer`): an older copy was found or loaded first, from another
    framework's CUDA wheels in the environment (RFdiffusion#208), a folder on LD_LIBRARY_PATH or the system's CUDA,
    and JAX runs on the CPU."""
    if (told := facts.machine.told("jax.cuda_older_than_built")) is None:
        return None
    group = _first_parts(facts, "jax-cuda-older-than-built")
    part = group("component") or "CUDA"
    # (the runtime's version in CUDA's integer form, 12010; the libraries' own numbers as printed)
    loaded, built = ((cuda_version(v) if part == "CUDA" else None) or v or "?"
                     for v in (group("loaded"), group("compiled")))
    return told_fail("cuda.libraries", f"JAX was built against {part} {built} but found {part} {loaded}: an older copy "
                     "is loaded first (another framework's CUDA wheels in this environment, a folder on "
                     "LD_LIBRARY_PATH, or the system's CUDA), and JAX falls back to the CPU", told,
                     Fix("Make the CUDA libraries in the environment at least as new as JAX's build: reinstall JAX "
                         "with its CUDA wheels (they pin the versions it needs), and keep older CUDA folders off "
                         "LD_LIBRARY_PATH.",
                         ("python3 -m pip install --upgrade 'jax[cuda12]'", "python3 -m pip list | grep -i nvidia",
                          "echo \"$LD_LIBRARY_PATH\""),
                         verify=("python3 -c \"import jax; print(jax.devices())\"   # CUDA devices, not CPU",)))


def _cudnn_told_older(facts) -> Finding | None:
    """A framework refused the cuDNN loaded into its process as older than its build (JAX's `Found cuDNN version 8500,
    but JAX was built against version 8600`). A process holds one cuDNN and the first library to load it wins: a
    framework imported before it that brings an older cuDNN (torch's wheels bundle theirs), an older copy on
    LD_LIBRARY_PATH, or (a JAX built for a local CUDA) the only cuDNN installed is older: the line does not say which.
    Either way a cuDNN at least as new must be the one loaded."""
    m = facts.machine
    told = m.observed("jax-cudnn-older-than-built") or m.observed("jax-cudnn-outdated-versions") or \
        m.observed("jax-cudnn-outdated")
    if not told:
        return None
    from tfdoctor.tflog import cudnn_version

    o = told[0]
    loaded, built = cudnn_version(o.group("loaded")) or "?", cudnn_version(o.group("compiled")) or "?"
    minimum = o.message != "jax-cudnn-older-than-built"  # jaxlib 0.4.31+: the minimum its build supports
    pin = cudnn_wheel_pin(built) if built != "?" else None
    ids = ("jax-cudnn-older-than-built", "jax-cudnn-outdated", "jax-cudnn-outdated-versions")
    summary = (f"cuDNN {loaded} is loaded into the process but JAX was built against cuDNN {built}: an older cuDNN was "
               "found or loaded first (a framework imported before JAX, a folder on LD_LIBRARY_PATH, or the only "
               "cuDNN installed where JAX looks), and JAX falls back to the CPU" if not minimum else
               "The cuDNN JAX found is older than the minimum its build supports"
               + (f" (cuDNN {built})" if built != "?" else "") + ": an older cuDNN is installed where JAX looks (a "
               "conda environment's cudnn package, a folder on LD_LIBRARY_PATH) or was loaded first, and JAX falls "
               "back to the CPU")
    conda = Alternative(f"a conda environment: conda's cudnn package at least {built}",
                        (f"conda install -c conda-forge 'cudnn>={built}'",))
    return Finding("cuda.libraries", Status.FAIL, summary, (o.line[:300],),
                   fix=Fix("A process holds one cuDNN, and the first library to load it wins: initialise JAX's GPU "
                           "backend before importing a framework that brings an older cuDNN (torch), or make the "
                           f"cuDNN that loads first at least {built} (the wheel below, and no older cuDNN folder "
                           "ahead of it on LD_LIBRARY_PATH).",
                           ((f"python3 -m pip install {pin}",) if pin else ()) + ("echo \"$LD_LIBRARY_PATH\"",),
                           alternatives=(conda,) if minimum and built != "?" else (),
                           verify=("python3 -c \"import jax; print(jax.devices())\"   # CUDA devices, not CPU",)),
                   evidence=facts.machine.evidence_of(*ids)[:2])


def _tf_cudnn_refused(facts) -> Finding | None:
    """TensorFlow refused the cuDNN it loaded (`Loaded runtime CuDNN library: 8.0.5 but source was compiled with:
    8.1.0`, any release's wording): this check's own question, cuDNN as TensorFlow loads it, answered by TensorFlow
    itself. tf.cuda-libs reports the same line from TensorFlow's side, with the same fix."""
    from tfdoctor.checks.tensorflow import cudnn_refused

    found = cudnn_refused(facts)
    if found is None or found.status != Status.FAIL:
        return None
    return found.with_(id="cuda.libraries")


@check(
    "cuda.libraries",
    area="cuda",
    title="cuDNN and cuBLAS as TensorFlow would load them",
    needs=("cuda", "pyenv"),
    after=("cuda.init", "python.ld-library-path", "python.and-cuda-pins", "tf.cuda-libs"),
    what="Loads cuDNN and cuBLAS the way TensorFlow's loader finds them (LD_LIBRARY_PATH, then the pip `nvidia/*/lib` "
         "folders, then the system) and asks their versions (cudnnGetVersion, cublasGetProperty, "
         "cublasLtGetVersion); compares them with the CUDA and cuDNN the installed TensorFlow was built with.",
    why="TensorFlow refuses a cuDNN older than the one it was compiled with (`Loaded runtime CuDNN library: 9.1.0 but "
        "source was compiled with: 9.3.0`) and cannot load one of another major; which copy it gets depends on the "
        "search order, so a stray CUDA folder on LD_LIBRARY_PATH silently wins over the pip wheels.",
    fix="Install the pinned wheels (`python -m pip install 'tensorflow[and-cuda]==<installed version>'`) and take "
        "other CUDA folders off LD_LIBRARY_PATH.",
)
def check_cuda_libraries(facts) -> Finding:
    if (told := _cudnn_told_missing(facts) or _cudnn_unversioned_missing(facts) or _cudnn_told_mixed(facts)
            or _cuda_libraries_told_mixed(facts)
            or _cudnn_told_older(facts) or _tf_cudnn_refused(facts) or _jax_cuda_older(facts) or _torch_cudnn_shadowed(facts)
            or _cudnn_dependency_missing(facts) or _tensorrt_engine_told(facts)) is not None:
        return told
    api = api_facts(facts)
    if api is None or api.source == "none":
        return skip("cuda.libraries", "CUDA's driver API was not asked (see cuda.init), so neither were its libraries")
    if not api.libcuda_loaded:
        return skip("cuda.libraries", "libcuda.so.1 could not be loaded, so the CUDA libraries were not asked")
    cudnn, cublas, cublaslt = api.library("cudnn"), api.library("cublas"), api.library("cublasLt")
    if cudnn is None and cublas is None:
        return skip("cuda.libraries", "The CUDA libraries were not probed")
    details = []
    for lib in (cudnn, cublas, cublaslt):
        if lib is not None:
            got = f"{lib.version or '?'} ({lib.source}: {lib.realpath or lib.path or lib.soname})" if lib.soname else (
                f"not found ({(lib.error or '')[:160]})")
            details.append(f"{lib.role}: {got}")
    version = tf_version_of(facts)
    build = _kb().tf_build(version) if version else None
    if build is None or not build.cuda:
        return info("cuda.libraries", "; ".join(details) or "no CUDA library found",
                    *(["TensorFlow is not installed (nothing to compare with)"] if version is None else
                      [f"TensorFlow {version}: its CUDA build is not in the knowledge base"]))
    from tfdoctor.checks.pyenv import tf_install_line

    line = tf_install_line(facts, version)
    fix = Fix(f"Install the CUDA libraries TensorFlow {version} pins, and keep other CUDA folders off "
              "LD_LIBRARY_PATH (see python.ld-library-path).", (line,) if line else (),
              verify=(verify_only(facts, "cuda.libraries"),))
    need_cudnn, need_cuda = build.cudnn, build.cuda
    problems = []
    if cudnn is not None and need_cudnn:
        if cudnn.version is None:
            problems.append(f"TensorFlow {version} needs cuDNN {need_cudnn.split('.')[0]} and the loader finds none")
        elif _vt(cudnn.version)[:1] != _vt(need_cudnn)[:1]:
            problems.append(f"TensorFlow {version} needs cuDNN {need_cudnn.split('.')[0]}.x; the loader finds cuDNN "
                            f"{cudnn.version}")
        elif _vt(cudnn.version)[:2] < _vt(need_cudnn)[:2]:
            problems.append(f"cuDNN {cudnn.version} is older than the {need_cudnn} TensorFlow {version} was built "
                            "with: TensorFlow refuses it ('Loaded runtime CuDNN library ... but source was compiled "
                            "with ...')")
    if cublas is not None and cublas.version and _vt(cublas.version)[:1] != _vt(need_cuda)[:1]:
        problems.append(f"cuBLAS {cublas.version} is not for CUDA {need_cuda.split('.')[0]} (TensorFlow {version})")
    if problems:
        return fail("cuda.libraries", problems[0], *problems[1:], *details, fix=fix)
    if cudnn is not None and cudnn.version is None:
        return warn("cuda.libraries", f"cuDNN was not found where TensorFlow {version} looks for it", *details, fix=fix)
    return ok("cuda.libraries", f"cuDNN {getattr(cudnn, 'version', None) or '?'}, cuBLAS "
              f"{getattr(cublas, 'version', None) or '?'}: as TensorFlow {version} needs (CUDA {need_cuda}, cuDNN "
              f"{need_cudnn})", *details)
