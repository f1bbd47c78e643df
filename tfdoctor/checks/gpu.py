"""GPU hardware: is an NVIDIA GPU on the PCI bus, and what is it."""

from __future__ import annotations

from tfdoctor.checks import check
from tfdoctor.model import Finding, Fix, Status, fail, info, ok, skip

# Kernel messages only the NVIDIA module prints (tfdoctor/knowledge/messages.json)
# (and the kernel's PCIe AER about the device the nvidia driver holds)
NVRM_MESSAGES = ("nvrm-loading", "nvrm-api-mismatch", "nvrm-probe-not-called", "nvrm-no-adapter-probed",
                 "nvrm-rm-init-failed", "nvrm-rm-init-adapter-minor", "nvrm-gsp-rm-init-failed", "nvrm-xid",
                 "nvrm-fallen-off-bus", "nvrm-novacore-bound", "nvrm-legacy-gpu", "nvrm-open-datacenter-only",
                 "nvrm-open-no-gsp", "nvrm-none-initialized", "nvrm-status-gpu-is-lost", "pcie-aer-gpu-unrecoverable")


# Messages that name the CUDA (or the driver release) a container image needs: with one of them, compat.driver-cuda
# compares it with the driver; without, CUDA's 'driver insufficient' inside a container may be a container without GPU
CUDA_NEEDED_MESSAGES = ("container-cuda-requirement", "nvidia-docker1-unsupported-cuda",
                        "nvidia-docker1-unsupported-cuda-beta", "ngc-driver-too-old",
                        "container-require-brand")
# The CUDA toolkit the reporter states they installed: the issue template's field, or a line of its own
STATED_CUDA = ("cuda-version-stated", "cuda-version-stated-bare")


def on_wsl(facts) -> bool:
    """WSL: read from /proc/version or the kernel release, else shown by an output only WSL prints or stated by the
    reporter (the machine model's `wsl`, which a probe's reading outranks)."""
    env = getattr(facts, "env", None)
    return bool(getattr(env, "wsl", False)) or facts.machine.value("wsl") is True


def gpu_expected(facts) -> bool:
    """Is an NVIDIA GPU (meant to be) here? Seen on the bus, by NVML, or implied by an installed NVIDIA driver
    (a loaded module, nvidia-smi present, DKMS entries or driver packages) when the bus was not recorded."""
    d, nvml = facts.driver, facts.nvml
    if getattr(facts.pci, "nvidia_devices", ()) or getattr(nvml, "gpus", ()):
        return True
    if d is not None and (d.nvidia_loaded or any(e.module.startswith("nvidia") for e in d.dkms_entries)):
        return True
    if d is not None and d.installed_branch:
        return True
    if facts.machine.observed(*NVRM_MESSAGES):
        return True  # NVRM lines in the kernel log: an NVIDIA driver runs or tried to
    rc = getattr(nvml, "nvidia_smi_rc", None)
    if rc is not None and rc != 127 and getattr(facts.pci, "source", "none") == "none":
        return True
    # a GPU that another program named (TensorFlow creating a device on it, an NVRM line, nvidia-smi's table)
    m = facts.machine
    if m.value("gpu.present") is False:
        return False
    return m.value("gpu.present") is True or m.value("driver.installed") is True or m.value("gpu.wanted") is True


def stated_gpu_models(facts) -> list:
    """The GPU model each line that names one exactly stands for (lshw's `product:` line, `GPU model and memory:
    GeForce RTX 2080 Ti` in a report), in the order they were read: the knowledge base's first model for each."""
    from tfdoctor.knowledge import loader as kb

    out = []
    for o in facts.machine.observed("lshw-display-product", "gpu-model-stated"):
        models = kb.gpus_named(o.group("gpu_model") or "")
        if models:
            out.append(models[0])
    return out


def describe_device(d) -> str:
    """'NVIDIA Quadro P2000 (Pascal, compute capability 6.1) at 0000:65:00.0'."""
    name = d.name or d.lspci_name or f"NVIDIA device {d.pci_id}"
    if not name.lower().startswith("nvidia"):
        name = f"NVIDIA {name}"
    extra = [x for x in (d.architecture, f"compute capability {d.compute_capability}" if d.compute_capability else None)
             if x]
    return f"{name}{' (' + ', '.join(extra) + ')' if extra else ''} at {d.slot}"


def _no_nvidia_gpu_seen(seen, what: str) -> Finding:
    """What the outputs show (no NVIDIA GPU, another vendor's GPU named) where the PCI bus itself was not read."""
    return Finding("pci.nvidia-gpu", Status.FAIL, f"No NVIDIA GPU the driver can drive: {what}",
                   tuple(e.describe() for e in seen.evidence[:3]),
                   fix=Fix("Run on a machine or cloud instance type that has an NVIDIA GPU (or pass the GPU through to "
                           "the VM); a machine without one runs TensorFlow on the CPU.",
                           verify=("lspci -nn | grep -i nvidia",)),
                   evidence=seen.evidence)


@check(
    "pci.nvidia-gpu",
    area="gpu",
    title="NVIDIA GPU on the PCI bus",
    needs=("pci", "env", "nvml"),
    what="Lists the display and 3D controllers in sysfs (/sys/bus/pci/devices) and `lspci -nnk`, and names each "
         "NVIDIA card from its PCI device id: model, chip, architecture and compute capability.",
    why="If the card is not on the bus, no driver or TensorFlow setting can help: it is a hardware, BIOS "
        "(PCIe slot disabled, hybrid graphics set to integrated only) or virtual-machine passthrough problem. "
        "Knowing the architecture decides which driver branch supports it and which TensorFlow wheels carry "
        "kernels for it.",
    fix="Reseat the card and its power cables; in the BIOS enable the PCIe slot / discrete graphics; in a VM pass "
        "the GPU through to the guest. A machine without an NVIDIA GPU runs TensorFlow on the CPU: that is not an "
        "error unless --require-gpu.",
)
def check_nvidia_gpu(facts) -> Finding:
    pci, env = facts.pci, facts.env
    devices = pci.nvidia_devices
    others = [d.name or d.lspci_name or d.pci_id for d in pci.other_gpus]
    detail_others = [f"other GPU: {o}" for o in others]
    if devices:
        lines = [describe_device(d) for d in devices]
        summary = lines[0] if len(lines) == 1 else f"{len(lines)} NVIDIA GPUs: {lines[0]}, ..."
        details = lines + detail_others
        for d in devices:
            details.append(f"{d.slot}: kernel driver in use: {d.driver_in_use or 'none'}"
                           + (f"; modules: {', '.join(d.kernel_modules)}" if d.kernel_modules else ""))
        if others:
            summary += f" (plus {len(others)} other GPU: hybrid graphics)"
        if pci.source == "ubuntu-drivers":
            details.append("(from ubuntu-drivers devices: the PCI bus itself was not recorded)")
        return ok("pci.nvidia-gpu", summary, *details)
    gpus_via_nvml = getattr(facts.nvml, "gpus", ()) or ()
    if on_wsl(facts):
        if gpus_via_nvml:
            return ok("pci.nvidia-gpu", f"WSL2: {len(gpus_via_nvml)} NVIDIA GPU(s) reached through the Windows "
                                        "driver (GPUs are not on the Linux PCI bus under WSL2)")
        seen = facts.machine.belief("gpu.present")
        if seen.value is False and facts.machine.value("gpu.wanted"):
            # under WSL the GPUs are the Windows host's: the host's GPU, named as another vendor's, is not NVIDIA's
            # (isaac-sim/IsaacSim#211: 'GPU Name: Intel XE Graphics card' under WSL2)
            return _no_nvidia_gpu_seen(seen, "the Windows host of this WSL has no NVIDIA GPU to share")
        return info("pci.nvidia-gpu", "WSL2: GPUs are not on the Linux PCI bus here; see nvml.init", *detail_others)
    if pci.source == "none":
        if gpus_via_nvml:
            return ok("pci.nvidia-gpu", f"{len(gpus_via_nvml)} NVIDIA GPU(s) reported by the driver "
                                        "(the PCI bus was not recorded)")
        seen = facts.machine.belief("gpu.present")
        if seen.value is True:
            where = seen.evidence[0] if seen.evidence else None
            return Finding("pci.nvidia-gpu", Status.OK, "An NVIDIA GPU is present (seen in "
                           f"{where.source if where else 'the outputs'}; the PCI bus was not recorded)",
                           tuple(e.describe() for e in seen.evidence[:3]), evidence=seen.evidence)
        if seen.value is False and facts.machine.value("gpu.wanted"):
            # GNOME's About panel lists the GPUs a graphics driver drives: a GPU with none working (nouveau
            # blacklisted, the NVIDIA module not loading) is missing from it too, so it makes 'none' only likely
            about = bool(seen.evidence) and all(e.message == "desktop-about-graphics" for e in seen.evidence)
            what = ("the desktop's About panel lists no NVIDIA GPU, so this machine most likely has no NVIDIA GPU "
                    "(the panel lists only GPUs a graphics driver drives: `lspci` settles it)" if about else
                    "this machine (or virtual machine) has no NVIDIA GPU")
            return _no_nvidia_gpu_seen(seen, what)
        if seen.value is None and (told := facts.machine.observed("installer-no-supported-gpu")):
            # NVIDIA's installer probes the PCI bus for the GPUs its branch drives (its README's appendix): none
            # found is no NVIDIA GPU at all, or one the branch does not drive; lspci settles which
            version = told[0].group("version")
            ev = facts.machine.evidence_of("installer-no-supported-gpu")
            return Finding("pci.nvidia-gpu", Status.WARN, f"NVIDIA's installer found no GPU that driver {version} "
                           "supports: this machine may have no NVIDIA GPU (a cloud instance type or server without "
                           "one), or one the branch does not drive (the PCI bus was not recorded)",
                           tuple(e.describe() for e in ev[:1]),
                           fix=Fix("See whether the machine has an NVIDIA GPU at all; without one, run on a machine or "
                                   "instance type that has one. With one, install the driver branch its GPU table "
                                   "names (`tfdoctor check` there names it).",
                                   verify=("lspci -nn | grep -i nvidia",)),
                           evidence=ev)
        return skip("pci.nvidia-gpu", "The PCI bus was not read or recorded: paste the output of "
                                      "`lspci -nnk | grep -iA3 nvidia` to show the GPU")
    if getattr(env, "container", None) and gpus_via_nvml:
        return ok("pci.nvidia-gpu", f"{len(gpus_via_nvml)} NVIDIA GPU(s) visible to this container")
    summary = "No NVIDIA GPU on the PCI bus: TensorFlow will use the CPU"
    fix = Fix("Check that the card is seated and powered and that the slot or discrete graphics is enabled in the "
              "BIOS; in a VM, pass the GPU through.", ("lspci -nnk -d 10de:",))
    if facts.require_gpu:
        return fail("pci.nvidia-gpu", summary.split(":")[0], *detail_others, fix=fix)
    return info("pci.nvidia-gpu", summary, *detail_others)
