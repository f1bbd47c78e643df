"""NVML checks: does the driver library answer, and what does it say about each GPU."""

from __future__ import annotations

from tfdoctor.checks import check
from tfdoctor.checks.commands import tfdoctor_pip_install
from tfdoctor.checks.fixes import compute_library_command, distro_family
from tfdoctor.model import Alternative, Finding, Fix, Status, fail, info, ok, skip, told_fail, warn

# Clock event reasons that mean the GPU is being held back by something wrong (heat, power delivery, the board).
# Idle, application clocks, sync boost, display and the software power cap are normal operation.
BAD_THROTTLE = {
    "hw_slowdown": "hardware slowdown (HW_SLOWDOWN: temperature or power brake signal)",
    "hw_thermal_slowdown": "hardware thermal slowdown (the GPU is too hot)",
    "sw_thermal_slowdown": "software thermal slowdown (the driver lowers clocks to cool the GPU)",
    "hw_power_brake_slowdown": "hardware power brake (external power brake signal, e.g. PSU or board limit)",
}


def _no_nvidia_gpu(facts) -> bool:
    """True when nothing shows an NVIDIA GPU here: not the PCI bus, nor an installed NVIDIA driver."""
    from tfdoctor.checks.gpu import gpu_expected

    return facts.pci is not None and not gpu_expected(facts) and facts.machine.value("gpu.present") is False


def _versions(n) -> str:
    parts = []
    if n.driver_version:
        parts.append(f"driver {n.driver_version}")
    if n.cuda_driver_version:
        parts.append(f"CUDA driver API {n.cuda_driver_version}")
    return ", ".join(parts) or "versions not reported"


_INIT_FIXES = {
    "driver-not-loaded": (
        "NVML cannot reach the NVIDIA kernel driver: the `nvidia` module is not loaded",
        Fix(
            "Load the kernel module (see the driver findings above for why it is not loaded: no module built for "
            "this kernel, Secure Boot, nouveau); if it was just installed, reboot.",
            ("sudo modprobe nvidia", "sudo reboot"),
        ),
    ),
    "lib-rm-version-mismatch": (
        "the NVIDIA user-space library and the loaded kernel module are different versions",
        # Not `apt-mark hold` on the driver packages, which some guides add "so it does not happen again": it also
        # holds back the driver's security updates. Rebooting after a driver upgrade is the cure.
        Fix(
            "This happens after a driver upgrade while the old module stays loaded: reboot, so that the kernel loads "
            "the module that matches the new library.",
            ("sudo reboot",),
            (Alternative("when no program uses the GPU and you cannot reboot now: reload the module",
                         ("sudo rmmod nvidia_uvm nvidia_drm nvidia_modeset nvidia", "sudo modprobe nvidia")),),
            ("nvidia-smi",),
        ),
    ),
    "library-not-found": (
        "the NVML library (libnvidia-ml.so.1, part of the driver's user space) cannot be loaded",
        Fix(
            "Install the user-space part of the driver that matches the loaded kernel module (on Ubuntu the "
            "`libnvidia-compute-<branch>` package, or the whole driver package); in a container, start it with "
            "the NVIDIA runtime (`--gpus all`) so the host's libraries are mounted.",
            ("cat /proc/driver/nvidia/version", "sudo ubuntu-drivers install   # Ubuntu: the recommended driver, "
             "user space included", "sudo ldconfig"),
        ),
    ),
    "no-permission": (
        "this user is not allowed to open the GPU device files (/dev/nvidia*)",
        Fix(
            "Give your user access to /dev/nvidia* (usually world read-write, or the video/render group), then "
            "log in again.",
            ("ls -l /dev/nvidia*", "sudo usermod -aG video,render $USER"),
        ),
    ),
    "gpu-is-lost": (
        "a GPU fell off the bus or stopped answering (Xid 79)",
        Fix(
            "Check the kernel log for Xid 79 / 'fallen off the bus'. Usual causes: overheating, power delivery "
            "(cables, PSU), a badly seated card or riser. Reset the GPU if nothing uses it, or reboot; reseat the "
            "card and check its power cables if it happens again.",
            ("sudo dmesg | grep -iE 'NVRM|Xid'", "sudo nvidia-smi -r", "sudo reboot"),
        ),
    ),
    "blocked-by-os": (
        "the operating system blocks access to the GPU ('GPU access blocked by the operating system'): this is WSL2 "
        "(or a Hyper-V GPU-P guest) and Windows does not give it the GPU",
        # NVIDIA's CUDA on WSL guide: no Linux display driver inside WSL 2; the Windows driver provides libcuda and
        # nvidia-smi in /usr/lib/wsl/lib. WSL issues #9166 / #10289: nvidia-utils installed inside WSL; #11865 /
        # #12859 / #14339: data-centre GPUs (L20, L40S) on Windows Server in TCC mode.
        Fix(
            "Use the Windows driver's own libraries: remove any Linux NVIDIA driver packages installed inside WSL "
            "(nvidia-utils-*, libnvidia-compute-*, nvidia-driver-*), update the Windows NVIDIA driver and WSL, and "
            "restart WSL. A data-centre GPU in TCC mode on Windows Server is not offered to WSL at all: it must run "
            "in WDDM mode.",
            ("ls -l /usr/lib/wsl/lib/ | grep -iE 'nvidia|libcuda'",
             "dpkg -l | grep -iE 'nvidia-(utils|driver)|libnvidia-compute'",
             "wsl --update   # in Windows PowerShell, then: wsl --shutdown"),
            verify=("/usr/lib/wsl/lib/nvidia-smi",),
        ),
    ),
    "no-devices": (
        "the driver is loaded but initialised no GPU ('No devices were found')",
        Fix(
            "Look for 'RmInitAdapter failed' in the kernel log: a GPU newer than the driver (install a newer "
            "branch), a GPU that needs the open kernel modules, or BIOS settings (Above 4G decoding / Resizable "
            "BAR).",
            ("sudo dmesg | grep -iE 'NVRM|RmInitAdapter'", "lspci -nn -d 10de:"),
        ),
    ),
}


def _library_fix(facts, fix: Fix) -> Fix:
    """The user-space package of the branch that is loaded or installed, when one is known (no placeholders)."""
    d = facts.driver
    version = getattr(d, "loaded_driver_version", None) or getattr(d, "installed_branch", None)
    branch = version.split(".")[0] if version else None
    lib = compute_library_command(facts.env, branch)
    if lib:
        return Fix(fix.summary, ("cat /proc/driver/nvidia/version", lib, "sudo ldconfig"), verify=("nvidia-smi",))
    return fix


def kernel_and_libcuda(facts):
    """The versions CUDA's diagnostician (TensorFlow's, XLA's) named, the loaded kernel module's and the libcuda's
    (the DSO's), each as a version tuple, where both parse."""
    from tfdoctor.knowledge.loader import parse_version

    for o in facts.machine.observed("tf-kernel-dso-mismatch"):
        kernel, dso = parse_version(o.group("kernel") or ""), parse_version(o.group("dso") or "")
        if kernel and dso:
            yield kernel, dso


def major_minor(version: tuple) -> str:
    return ".".join(map(str, version[:2]))


def stale_libcuda(facts) -> tuple[str, Fix] | None:
    """TensorFlow's diagnostician named both versions and the libcuda it loaded is the OLDER one: not a reboot owed
    after an upgrade (the library would be the newer) but an old driver's libcuda still on the loader path."""
    for kernel, dso in kernel_and_libcuda(facts):
        if dso < kernel:
            k, d = major_minor(kernel), major_minor(dso)
            return (f"the libcuda TensorFlow loaded ({d}) is older than the loaded kernel module ({k}): an older "
                    "driver's libcuda is still on the loader path (or a container image brought its own)",
                    Fix(f"Remove the old driver's libraries, so that the loader finds driver {k}'s libcuda.so.1: list "
                        "every libcuda the loader knows and the folders on LD_LIBRARY_PATH, remove the copies that "
                        f"are not {k} (packages of the old branch, a copy under /usr/local), then refresh the cache.",
                        ("ldconfig -p | grep -E 'libcuda\\.so|libnvidia-ml\\.so'", "echo \"$LD_LIBRARY_PATH\"",
                         "sudo ldconfig"),
                        verify=("ldconfig -p | grep 'libcuda\\.so\\.1'   # one libcuda.so.1: the driver's own",)))
    return None


_ENGINES = ("docker", "podman", "nerdctl", "nvidia-docker", "sudo docker", "sudo podman")


def _nvml_library_not_loaded(facts) -> Finding | None:
    """A program that loads NVML by name (nvidia-docker 1's plugin) could not: libnvidia-ml.so.1 is not in the dynamic
    loader's cache (a driver whose libraries sit in their own folder, /usr/lib/nvidia-<branch>, that the cache lost:
    `prime-select intel` on Ubuntu did so), or not installed. nvidia-docker#470's answer: register the folder with
    ldconfig."""
    told = facts.machine.evidence_of("nvidia-docker-plugin-nvml-not-loaded")
    if not told:
        return None
    return Finding("nvml.init", Status.FAIL, "A program could not load NVML's library (libnvidia-ml.so.1) through the "
                   "dynamic loader: it is not in the loader's cache (or not installed)",
                   tuple(e.describe() for e in told[:2]),
                   fix=Fix("Find the driver's libnvidia-ml.so.1 and register its folder with the loader: write the "
                           "folder's path into a file under /etc/ld.so.conf.d/ and run ldconfig (on Ubuntu's older "
                           "nvidia-<branch> packages, switching PRIME back to the NVIDIA GPU does it); if no file is "
                           "found, install the driver's libraries.",
                           ("ldconfig -p | grep libnvidia-ml", "find / -xdev -name 'libnvidia-ml.so.1' 2>/dev/null",
                            "sudo ldconfig"),
                           verify=("ldconfig -p | grep libnvidia-ml",)),
                   evidence=told)


def _permission_told(facts) -> Finding | None:
    """nvidia-smi, run where the NVML probe did not (in a container, under another command), said `Failed to
    initialize NVML: Insufficient Permissions`: the driver is loaded, this process may not open /dev/nvidia*. In a
    container on Fedora/RHEL that is SELinux (nvidia-container-toolkit#33, nvidia-docker#676)."""
    told = facts.machine.observed("smi-insufficient-permissions")
    if not told:
        return None
    o = told[0]
    engine = next((e.split()[-1] for e in _ENGINES if o.source.startswith(e + " ")), None)
    evidence = facts.machine.evidence_of("smi-insufficient-permissions")
    if engine is None:
        cause, fix = _INIT_FIXES["no-permission"]
        return Finding("nvml.init", Status.FAIL, f"NVML cannot start: {cause}", (o.line[:300],), fix=fix,
                       evidence=evidence)
    selinux = distro_family(getattr(facts, "env", None)) in ("fedora", "rhel", "unknown")
    run = "podman run --rm --device nvidia.com/gpu=all" if engine == "podman" else f"{engine} run --rm --gpus all"
    cmds = ("sudo setsebool -P container_use_devices on",) if selinux else ()
    return Finding("nvml.init", Status.FAIL,
                   f"nvidia-smi in the {engine} container cannot open the GPU's device files (Insufficient "
                   "Permissions): the driver is loaded, the container is denied the devices"
                   + (" (SELinux on Fedora/RHEL)" if selinux else ""), (f"{o.source}: {o.line[:300]}",),
                   fix=Fix("Let containers use the GPU's devices: on SELinux systems (Fedora, RHEL) turn on the "
                           "container_use_devices boolean, or start the container with its SELinux label disabled; "
                           "a rootless engine needs the NVIDIA CDI spec (podman --device nvidia.com/gpu=all).", cmds,
                           alternatives=(Alternative("for one container only", (f"{run} --security-opt label=disable "
                                                                                "ubuntu nvidia-smi -L",)),),
                           verify=("getsebool container_use_devices   # on",) if selinux else
                           (f"{run} ubuntu nvidia-smi -L",)),
                   evidence=evidence)


@check(
    "nvml.init",
    area="nvml",
    title="NVML initialises",
    needs=("nvml",),
    after=("driver.nvidia-module", "driver.recommended", "env.container", "env.wsl"),
    what="Initialises NVIDIA's management library (NVML, through nvidia-ml-py) and reads the driver and CUDA "
    "driver versions; when that fails, runs `nvidia-smi` and reads its message and exit status.",
    why="Every CUDA program, TensorFlow included, goes through the same driver library. If NVML cannot start, "
    "TensorFlow will not see a GPU either, and NVML's error says why far more precisely than TensorFlow does.",
    fix="Depends on the cause: load the kernel module or reboot (driver not loaded), reboot after an upgrade "
    "(library/driver version mismatch), install the driver's user-space libraries (library not found), fix "
    "/dev/nvidia* permissions (no permission), or reset/reseat the GPU (GPU fell off the bus).",
    links=("https://docs.nvidia.com/deploy/nvml-api/group__nvmlInitializationAndCleanup.html",),
)
def check_nvml_init(facts) -> Finding:
    n = facts.nvml
    if n is None:
        return skip("nvml.init", "the NVML probe did not run")
    mismatch = facts.machine.belief("driver.library_mismatch")
    if mismatch.value is True and not n.init_ok and n.init_error != "lib-rm-version-mismatch":
        cause, fix = _INIT_FIXES["lib-rm-version-mismatch"]
        summary = f"NVML cannot start: {cause}"
        stale = stale_libcuda(facts)
        if stale is not None and all(e.message == "tf-kernel-dso-mismatch" for e in mismatch.evidence):
            # only CUDA's diagnostician spoke, of the libcuda it loaded: NVML itself was not seen failing
            return skip("nvml.init", "NVML was not asked; the driver library TensorFlow named is its libcuda, an "
                        "older driver's (see cuda.libcuda)")
        if stale is not None:
            cause, fix = stale
            summary = f"The driver's library and kernel module differ: {cause}"
        return Finding("nvml.init", Status.FAIL, summary,
                       tuple(e.describe() for e in mismatch.evidence[:3]), fix=fix, evidence=mismatch.evidence)
    if n.source == "none" and n.nvml_error is None and n.nvidia_smi_kind in (None, "not-installed") \
            and n.record_problem is None and n.init_error in (None, "library-not-found") and not n.timed_out:
        if (refused := _permission_told(facts)) is not None:
            return refused
        if (unloadable := _nvml_library_not_loaded(facts)) is not None:
            return unloadable
        # a snapshot with no NVML record and no nvidia-smi: nothing was asked, so nothing failed
        return skip("nvml.init", "Neither NVML nor nvidia-smi was recorded: paste the output of `nvidia-smi`")
    if n.init_ok:
        details = [f"read through {'NVML' if n.source == 'nvml' else 'nvidia-smi'}"]
        if n.source == "nvidia-smi" and n.binding_missing:
            details.append("tfdoctor's nvidia-ml-py is not installed, so the facts come from nvidia-smi's table")
        if n.timed_out:
            details.append("NVML did not answer within its deadline; nvidia-smi did")
        if n.nvidia_smi_version and n.driver_version and n.nvidia_smi_version != n.driver_version:
            details.append(f"nvidia-smi {n.nvidia_smi_version} reports Windows driver {n.driver_version} (WSL)")
        return ok("nvml.init", f"NVML works: {_versions(n)}", *details)
    if _no_nvidia_gpu(facts) and not facts.require_gpu:
        return skip("nvml.init", "no NVIDIA GPU on the PCI bus", n.init_message or "")
    kind = n.init_error or "unknown"
    if n.smi_unread:
        return skip("nvml.init", "nvidia-smi's output is not a whole table and says nothing failed: paste the "
                                 "whole output of `nvidia-smi` (with `echo $?` after it)", n.nvidia_smi_message or "")
    details = []
    if n.init_message:
        details.append(n.init_message)
    if n.nvidia_smi_rc is not None and n.nvidia_smi_kind not in (None, "ok"):
        line = f"nvidia-smi exited {n.nvidia_smi_rc}"
        if n.nvidia_smi_message and n.nvidia_smi_message != n.init_message:
            line += f": {n.nvidia_smi_message}"
        details.append(line)
    if n.timed_out:
        details.append("NVML/nvidia-smi did not answer in time: a hung driver call usually means a lost GPU")
    if kind == "gpu-is-lost" and not n.timed_out:
        # The library and the driver answered; one GPU did not: that is nvml.devices' failure, not NVML's.
        return info("nvml.init", "NVML reaches the driver, but a GPU does not answer (see nvml.devices)", *details)
    if kind == "no-devices":
        from tfdoctor.checks.cuda import gpu0_node_missing

        if gpu0_node_missing(facts) is not None:
            return info("nvml.init", "NVML starts but finds no GPU: /dev/nvidia0 is missing (see cuda.device-nodes)",
                        *details)
        # nvidia-smi says 'No devices were found' when NVML started and counted no GPU: NVML works, the driver
        # took no GPU (nvml.devices says why and what to do)
        return info("nvml.init", "NVML starts, but the driver initialised no GPU (see nvml.devices)", *details)
    if kind in _INIT_FIXES:
        cause, fix = _INIT_FIXES[kind]
        if kind == "library-not-found":
            fix = _library_fix(facts, fix)
        return Finding("nvml.init", Status.FAIL, f"NVML cannot start: {cause}", tuple(details), fix=fix,
                       evidence=_said(facts, n))
    if n.binding_missing and n.nvidia_smi_kind == "not-installed":
        return fail(
            "nvml.init", "neither nvidia-ml-py nor nvidia-smi is available, so the driver library cannot be checked",
            *details,
            fix=Fix("Install nvidia-ml-py for tfdoctor, or the NVIDIA driver's utilities (nvidia-smi).",
                    (tfdoctor_pip_install(facts, "nvidia-ml-py"),)),
        )
    return Finding(
        "nvml.init", Status.FAIL, f"NVML cannot start ({kind})", tuple(details),
        fix=Fix("Read the message above and the kernel log; reinstalling the driver from one source usually helps.",
                ("sudo dmesg | grep -iE 'NVRM|Xid'", "nvidia-smi")),
        evidence=_said(facts, n),
    )


def _said(facts, n) -> tuple:
    """The finding's evidence: the machine model's lines about the driver (a kernel log's, a driver message's) where it
    holds any, as for every NVML finding, else what nvidia-smi (or NVML) said when it failed."""
    from tfdoctor.machine import Evidence

    if held := facts.machine.area_evidence("nvml"):
        return held
    if n.nvidia_smi_message:
        return (Evidence("nvidia-smi", n.nvidia_smi_message[:300]),)
    return (Evidence("NVML", n.init_message[:300]),) if n.init_message else ()


def _link(g) -> str | None:
    if g.pcie_gen is None and g.pcie_width is None:
        return None
    text = f"PCIe Gen{g.pcie_gen if g.pcie_gen is not None else '?'} x{g.pcie_width if g.pcie_width else '?'}"
    if (g.pcie_gen_max and g.pcie_gen and g.pcie_gen < g.pcie_gen_max) or (
        g.pcie_width_max and g.pcie_width and g.pcie_width < g.pcie_width_max
    ):
        text += f" (max Gen{g.pcie_gen_max or '?'} x{g.pcie_width_max or '?'})"
    return text


def gpu_line(g) -> str:
    """`GPU 0: NVIDIA H100 80GB HBM3 (compute capability 9.0, 81559 MiB, PCIe Gen5 x16)`."""
    parts = []
    if g.compute_capability:
        parts.append(f"compute capability {g.compute_capability}")
    if g.memory_total_mib is not None:
        parts.append(f"{g.memory_total_mib} MiB")
    link = _link(g)
    if link:
        parts.append(link)
    return f"GPU {g.index}: {g.name or 'unknown GPU'}" + (f" ({', '.join(parts)})" if parts else "")


def _state_line(g) -> str:
    parts = []
    if g.temperature_c is not None:
        parts.append(f"{g.temperature_c} °C")
    if g.power_w is not None:
        parts.append(f"{g.power_w:g} W" + (f" / {g.power_limit_w:g} W" if g.power_limit_w is not None else ""))
    if g.utilization_gpu_pct is not None:
        parts.append(f"utilisation {g.utilization_gpu_pct} %")
    if g.memory_used_mib is not None and g.memory_total_mib:
        parts.append(f"memory {g.memory_used_mib}/{g.memory_total_mib} MiB")
    procs = ", ".join(
        f"{p.name or '?'} (pid {p.pid}{f', {p.used_mib} MiB' if p.used_mib is not None else ''})" for p in g.processes
    )
    parts.append(f"processes: {procs}" if procs else "no processes")
    return f"GPU {g.index}: " + ", ".join(parts)


def _gpu_problems(g) -> tuple[list[str], list[str], list[str]]:
    """(warnings, notes, commands) for one GPU."""
    warns: list[str] = []
    notes: list[str] = []
    commands: list[str] = []
    if g.pcie_width and g.pcie_width_max and g.pcie_width < g.pcie_width_max:
        warns.append(f"GPU {g.index}: PCIe link runs x{g.pcie_width} of x{g.pcie_width_max} lanes (host-device "
                     "copies are slower; check the slot, riser and BIOS lane settings)")
        commands.append(f"nvidia-smi -i {g.index} -q -d PCIE")
    if g.pcie_gen and g.pcie_gen_max and g.pcie_gen < g.pcie_gen_max:
        notes.append(f"GPU {g.index}: PCIe Gen{g.pcie_gen} now, Gen{g.pcie_gen_max} possible; GPUs lower the link "
                     "generation when idle to save power, so this is expected unless it stays low under load")
    bad = [BAD_THROTTLE[r] for r in g.throttle_reasons if r in BAD_THROTTLE]
    if bad:
        warns.append(f"GPU {g.index}: clocks held back by " + "; ".join(bad))
        commands.append(f"nvidia-smi -i {g.index} -q -d PERFORMANCE,TEMPERATURE,POWER")
    # Uncorrectable ECC errors and memory other processes hold are gpu.memory-errors' and gpu.memory-in-use's.
    return warns, notes, commands


@check(
    "nvml.devices",
    area="nvml",
    title="GPUs as NVML sees them",
    needs=("nvml",),
    after=("nvml.init",),
    what="Lists each GPU NVML reports (name, compute capability, memory, PCIe link) with its temperature, power, "
    "utilisation and processes, and looks for a lost GPU, a PCIe link narrower than it can be, and clocks held "
    "back by heat or power (memory errors and memory held by other processes are gpu.memory-errors and "
    "gpu.memory-in-use).",
    why="A GPU that is present but crippled gives TensorFlow slow or failing runs that look like software "
    "problems: a x4 link slows every copy and thermal slowdown halves throughput.",
    fix="Per problem: reseat the card or move it to a full-width slot (PCIe width), improve cooling or power "
    "(thermal/power slowdown).",
)
def check_nvml_devices(facts) -> Finding:
    n = facts.nvml
    unlicensed = facts.machine.told("gpu.vgpu_unlicensed")
    if unlicensed is not None:
        # NVIDIA vGPU software restricts a guest's vGPU that holds no license (gpu-operator#220, Azure/AKS#4880)
        return told_fail("nvml.devices", "The virtual GPU (NVIDIA vGPU software) has no license: its driver restricts "
                         "an unlicensed vGPU (slowed down, then CUDA refused)", unlicensed,
                         Fix("Let the guest's licensing daemon (nvidia-gridd) obtain a license: point it at the "
                             "license server (ServerAddress in /etc/nvidia/gridd.conf, or NVIDIA License System's "
                             "client configuration token in /etc/nvidia/ClientConfigToken/), then restart it.",
                             ("sudo systemctl restart nvidia-gridd", "sudo journalctl -u nvidia-gridd -n 20"),
                             (Alternative("the GPU Operator: give its driver the licensing configuration "
                                          "(driver.licensingConfig: a ConfigMap with gridd.conf and the token)", ()),),
                             verify=("nvidia-smi -q | grep -i 'License Status'   # Licensed",)))
    if n is not None and not n.init_ok and n.init_error == "gpu-is-lost" and not n.timed_out:
        cause, fix = _INIT_FIXES["gpu-is-lost"]
        return fail("nvml.devices", f"A GPU is lost: {cause}",
                    *[x for x in (n.init_message, n.nvidia_smi_message) if x][:1], fix=fix)
    lost = facts.machine.told("gpu.lost")
    if lost is not None and (n is None or not n.init_ok or not n.gpus) and not facts.machine.observed("nvrm-xid"):
        # the kernel module's own words that a GPU is gone ('has fallen off the bus', an RM status of
        # NV_ERR_GPU_IS_LOST) with no Xid line to explain it (gpu.xid reads those) and no NVML that lists the GPUs
        cause, fix = _INIT_FIXES["gpu-is-lost"]
        said = ("a fatal PCIe error the kernel could not recover (AER) took it off the bus"
                if all(e.message == "pcie-aer-gpu-unrecoverable" for e in lost.evidence)
                else f"the NVIDIA kernel module says so ({cause})")
        return told_fail("nvml.devices", f"A GPU is lost: {said}", lost, fix)
    if n is not None and not n.init_ok and n.init_error == "no-devices" and not n.timed_out:
        from tfdoctor.checks.cuda import gpu0_node_missing

        if gpu0_node_missing(facts) is None:
            cause, fix = _INIT_FIXES["no-devices"]
            return fail("nvml.devices", cause[:1].upper() + cause[1:],
                        *[x for x in (n.init_message, n.nvidia_smi_message) if x][:1], fix=fix)
    told = facts.machine.belief("gpu.query_failed")
    if told.value is True:
        # NVML started and lists the GPU but cannot read even its brand or name: the GPU is in an error state
        return told_fail("nvml.devices", "A GPU answers NVML's queries with 'Unknown Error': it is in an error state "
                         "(a GSP firmware or driver fault, Xid 119/120, or a GPU falling off the bus)", told,
                         Fix("Read the kernel log for the fault; reset the GPU (or reboot). If it returns, update "
                               "the driver (GSP faults: disable the GSP firmware on the proprietary kernel module, "
                               "NVreg_EnableGpuFirmware=0).",
                               ("sudo dmesg -T | grep -iE 'NVRM|Xid'", "sudo nvidia-smi -r", "sudo reboot"),
                               verify=("nvidia-smi -q | grep -i 'Product Brand'",)))
    if n is None or not n.init_ok:
        return skip("nvml.devices", "NVML did not start, so no GPU can be listed")
    if not n.gpus:
        if n.source == "nvidia-smi" and not facts.machine.complete and not n.init_error:
            # a pasted table whose GPU rows are not there (a paste cut after the header) says nothing about the GPUs
            return skip("nvml.devices", "nvidia-smi's output lists no GPU row (a cut paste?): paste the whole table")
        if facts.require_gpu:
            return fail("nvml.devices", "NVML works but reports no GPU",
                        fix=Fix("Check that the GPU is visible to this machine or container.",
                                ("lspci -nn -d 10de:", "nvidia-smi -L")))
        return warn("nvml.devices", "NVML works but reports no GPU")
    lost = [g for g in n.gpus if g.lost or g.error]
    lines = [gpu_line(g) for g in n.gpus if not (g.lost or g.error)]
    details = [_state_line(g) for g in n.gpus if not (g.lost or g.error)]
    warns: list[str] = []
    notes: list[str] = []
    commands: list[str] = []
    for g in n.gpus:
        if g.lost or g.error:
            continue
        w, no, c = _gpu_problems(g)
        warns += w
        notes += no
        commands += c
    if len(lines) <= 2:
        summary = "; ".join(lines)
    else:
        names: dict[str, int] = {}
        for g in n.gpus:
            if not (g.lost or g.error):
                names[g.name or "unknown GPU"] = names.get(g.name or "unknown GPU", 0) + 1
        summary = f"{len(lines)} GPUs: " + ", ".join(f"{c}× {name}" for name, c in names.items())
        details = lines + details
    if lost:
        which = ", ".join(f"GPU {g.index} ({'lost' if g.lost else g.error})" for g in lost)
        return fail(
            "nvml.devices", f"{which}: NVML cannot talk to this GPU", *([summary] if lines else []), *details,
            fix=Fix("A GPU that is lost has usually fallen off the bus (Xid 79): check the kernel log, reset the "
                    "GPU or reboot, and reseat it / check its power if it repeats.",
                    ("sudo dmesg | grep -iE 'NVRM|Xid'", "sudo nvidia-smi -r", "sudo reboot")),
        )
    if warns:
        return warn("nvml.devices", "; ".join(warns), summary, *details, *notes,
                    fix=Fix("Look closer at the GPU(s) named above.", tuple(dict.fromkeys(commands))))
    # A lower PCIe generation at idle is power saving, not a fault: it stays a detail line of an ok finding.
    return ok("nvml.devices", summary, *details, *notes)
