"""Kernel driver checks. Causes are told apart, each with its own fix: no driver installed, nouveau (or nova)
holding the card, a driver branch that does not support the card, Secure Boot rejecting the module, DKMS not built
for the running kernel, installed but not loaded (a reboot is owed)."""

from __future__ import annotations

from tfdoctor import safe, textmatch
from tfdoctor.checks import check
from tfdoctor.checks.commands import tfdoctor_command
from tfdoctor.checks.fixes import (
    distro_family,
    initramfs_command,
    install_branch,
    install_driver_commands,
    kernel_or_uname,
    rebuild_module,
    recommended_package,
)
from tfdoctor.checks.gpu import NVRM_MESSAGES, describe_device, gpu_expected, on_wsl, stated_gpu_models
from tfdoctor.machine import DIRECT
from tfdoctor.model import Alternative, Finding, Fix, Status, fail, info, ok, skip, told_fail, warn

NOUVEAU_DRIVERS = ("nouveau", "nova_core", "nova_drm", "nova")
# What the kernel says when it refuses the module's signature (Secure Boot / lockdown)
REJECTED = ("kernel-key-rejected", "modprobe-key-rejected")


def _said(facts, *message_ids: str) -> list[str]:
    """The lines (with where they came from) of these catalogue messages, for a finding's details."""
    return [e.describe() for e in facts.machine.evidence_of(*message_ids)]


def _nvidia_gpus(facts) -> list:
    return list(getattr(facts.pci, "nvidia_devices", ()) or ())


def _gpu_expected(facts) -> bool:
    return gpu_expected(facts)


def _branch_num(branch: str | None) -> int | None:
    m = textmatch.match(r"(\d{3})", branch or "")
    return int(m.group(1)) if m else None


def module_state(facts) -> str:
    """'loaded', 'not-loaded' or 'unknown', from /proc/modules and, when that was not recorded, nvidia-smi/NVML."""
    d, nvml = facts.driver, facts.nvml
    if d.nvidia_loaded or getattr(nvml, "init_ok", False):
        return "loaded"
    kind = (getattr(nvml, "init_error", None) or "") + " " + (getattr(nvml, "nvidia_smi_kind", None) or "")
    if any(k in kind for k in ("mismatch", "gpu-is-lost", "no-permission", "no-devices")):
        return "loaded"  # the driver answered (a version mismatch, a lost GPU, permissions): the module is there
    if d.modules_source != "none":
        return "not-loaded"
    devs = _nvidia_gpus(facts)
    # `lspci -k` shows which driver holds each card: a card listed with its candidate modules but no driver in use,
    # or held by another driver, has no NVIDIA module bound to it.
    if devs and all(dev.driver_in_use != "nvidia" for dev in devs) and any(
            dev.driver_in_use or dev.kernel_modules for dev in devs):
        return "not-loaded"
    if "driver-not-loaded" in kind or getattr(nvml, "nvidia_smi_rc", None) == 9:
        return "not-loaded"
    if facts.machine.observed("nvrm-no-adapter-probed", "nvrm-novacore-bound"):
        return "not-loaded"  # the module loaded but took no GPU
    # what the other programs' own words establish (nvidia-smi's message, TensorFlow creating a GPU device, ...)
    belief = facts.machine.value("driver.loaded")
    return "unknown" if belief is None else ("loaded" if belief else "not-loaded")


def driver_installed(facts) -> bool | None:
    """Is some NVIDIA kernel driver installed for some kernel? None when nothing about it was recorded."""
    d = facts.driver
    if d.installed_branch or d.modinfo == "ok" or d.module_resolvable:
        return True
    # NVRM lines in the kernel log: the NVIDIA module is installed and was loaded at least once this boot
    if facts.machine.observed(*NVRM_MESSAGES):
        return True
    # lspci -k's "Kernel modules:" lists the modules installed for this kernel that can drive the card
    if any("nvidia" in dev.kernel_modules for dev in _nvidia_gpus(facts)):
        return True
    if any(e.module.startswith("nvidia") for e in d.dkms_entries):
        return True
    if any(p.installs_driver for p in d.nvidia_packages):
        return True
    if d.packages_source != "none" or d.modinfo == "not-found":
        return False
    return facts.machine.value("driver.installed")


def _gpu_the_module_named(facts):
    """The GPU the NVIDIA module was offered: the PCI bus's, else the one its own `(PCI ID: 10de:XXXX)` names."""
    devs = _nvidia_gpus(facts)
    if devs:
        return devs[0]
    return next(iter(_gpus_named(facts.machine.observed("nvrm-gpu-pci-id", "nvrm-open-no-gsp"))), None)


def _gpus_named(observations) -> list:
    """The GPU models the NVIDIA module's own `(PCI ID: 10de:XXXX)` names, looked up in the GPU table."""
    from tfdoctor.knowledge import loader as kb

    return [g for o in observations if o.group("pci_id") and (g := kb.gpu_by_pci_id(o.group("pci_id"))) is not None]


def _bar_unassigned(facts, loaded: bool = False) -> Finding | None:
    """The module refused the GPU because the firmware gave it no PCI memory region (its own words). With the module
    loaded (it took other GPUs), only where NVML does not list a GPU at every address the module refused."""
    m = facts.machine
    if not m.observed("nvrm-bar-invalid"):
        return None
    if loaded:
        refused = {pci.lower().split(":", 1)[-1] for o in m.observed("nvrm-bar-invalid")
                   if (pci := o.group("pci") or o.group("pci2"))}
        listed = {(g.pci_bus_id or "").lower().split(":", 1)[-1] for g in getattr(facts.nvml, "gpus", ()) or ()}
        if not refused or refused <= {x for x in listed if x}:
            return None
    ev = m.evidence_of("nvrm-bar-invalid", "nvrm-probe-failed")
    return Finding("driver.nvidia-module", Status.FAIL, "The NVIDIA module refuses the GPU: the firmware assigned it no "
                   "PCI memory region ('This PCI I/O region assigned to your NVIDIA device is invalid')",
                   tuple(e.describe() for e in ev[:3]),
                   fix=Fix("Let the firmware or the kernel map the GPU's memory: enable 'Above 4G decoding' (and "
                           "Resizable BAR where offered) in the BIOS, or boot with the kernel parameter pci=realloc; "
                           "update the BIOS if neither helps (eGPUs over Thunderbolt need it most).",
                           ("sudo dmesg | grep -iE 'BAR|NVRM'", "lspci -vv -d 10de: | grep -i region"),
                           verify=("nvidia-smi",)),
                   evidence=ev)


# kernel messages that say why the module refused a GPU at probe: an unassigned PCI region, a GPU the branch does not
# drive, a GPU that fell off the bus or could not power up, a GPU bound to vfio-pci or held by nouveau/nova
_PROBE_EXPLAINED = ("nvrm-bar-invalid", "nvrm-legacy-gpu", "nvrm-gpu-not-in-release", "nvrm-open-datacenter-only",
                    "nvrm-open-no-gsp", "nvrm-fallen-off-bus", "nvrm-status-gpu-is-lost", "pcie-aer-gpu-unrecoverable",
                    "pci-d3cold-power-up-failed", "nvrm-gpu-bound-vfio", "nvrm-probe-not-called", "nvrm-novacore-bound")


def _refused_gpu(facts) -> Finding | None:
    """The module refused the GPU (`probe routine failed`) with nothing above it saying why (no unassigned PCI region,
    no legacy branch), and the GPU is older than Turing: the open kernel modules do not drive it, although its driver
    branch still supports it."""
    m = facts.machine
    if not m.observed("nvrm-probe-failed", "nvrm-none-initialized") or m.observed(*_PROBE_EXPLAINED):
        return None
    if m.observed("nvrm-rm-init-failed", "nvrm-rm-init-adapter-minor"):
        # the module took the GPU and then could not initialise it (RmInitAdapter, at open): 'None of the NVIDIA
        # devices were initialized' follows that too, and it is no refusal at probe (driver.nvidia-module says it)
        return None
    dev = _gpu_the_module_named(facts)
    if dev is None or getattr(dev, "kernelopen", None) is not False:
        return None
    name = getattr(dev, "name", None) or "this GPU"
    arch = getattr(dev, "architecture", None) or "before Turing"
    last = _branch_num(getattr(dev, "last_branch", None))
    installed = _branch_num(facts.driver.installed_branch) or _branch_num(facts.driver.loaded_driver_version)
    if installed and last and installed > last:
        return None  # the branch dropped the GPU: check_recommended names the last branch
    ev = m.evidence_of("nvrm-probe-failed", "nvrm-none-initialized", "nvrm-gpu-pci-id")
    return Finding("driver.recommended", Status.FAIL, f"The NVIDIA module refused the {name} ({arch}): the open "
                   "kernel modules do not drive GPUs older than Turing, and nothing else in the log explains the "
                   "refusal", tuple(e.describe() for e in ev[:3]),
                   fix=_proprietary_fix(facts, m.observed("nvrm-gpu-pci-id")), evidence=ev)


def _gpu_not_in_release(facts, o) -> Finding:
    """The module says this GPU is not in its release's supported list: the GPU's last branch is older (a legacy
    branch), or the GPU is newer than the release (a newer branch), or it needs another driver (vGPU: GRID)."""
    release = o.group("version") or ""
    model = next(iter(_gpus_named([o])), None)
    name = model.name if model is not None else "this GPU"
    ev = facts.machine.evidence_of("nvrm-gpu-not-in-release")
    last = model.last_branch.split(".")[0] if model is not None and model.last_branch else ""
    if last.isdigit() and release[:3].isdigit() and int(last) < int(release[:3]):
        cmds, what = install_branch(facts.env, int(last))
        return Finding("driver.recommended", Status.FAIL, f"The installed driver ({release}) does not support the "
                       f"{name}: its last driver branch is {last}", tuple(e.describe() for e in ev[:1]),
                       fix=Fix(f"Replace the driver with the {last} branch ({what}), then reboot.", cmds,
                               verify=("nvidia-smi",)), evidence=ev)
    return Finding("driver.recommended", Status.FAIL, f"The installed driver ({release}) does not support the {name}: "
                   "the GPU is not in this release's supported list (a GPU newer than the branch, or one that needs "
                   "another driver)", tuple(e.describe() for e in ev[:1]),
                   fix=Fix("Install a newer driver branch that lists this GPU, then reboot.",
                           install_driver_commands(facts.pci, facts.driver, facts.env),
                           (Alternative("a vGPU guest (a GRID/vGPU profile of a data-centre GPU): install NVIDIA's "
                                        "vGPU guest driver from the NVIDIA licensing portal, matching the host's "
                                        "vGPU release", ()),),
                           verify=("nvidia-smi",)), evidence=ev)


def _legacy_branch_cut(facts, named: str | None, legacy) -> Finding:
    """The NVIDIA module said the GPU is supported only through a legacy branch, in a paste cut before it named the
    branch: the installed driver does not support the GPU, which branch does is on the lost line (or, where the GPU's
    model is known, in tfdoctor's GPU table)."""
    from tfdoctor.knowledge import loader as kb

    gpu = named or "this GPU"
    models = kb.gpus_named(named) if named else []
    last = next((b for dev in models if (b := _branch_num(getattr(dev, "last_branch", None)))), None)
    cmds = install_branch(facts.env, last)[0] if last else ()
    known = (Alternative(f"tfdoctor's GPU table: the last branch for the {gpu} is {last}", cmds),) if cmds else ()
    table = f" (tfdoctor's GPU table gives {last} as the last branch for the {gpu})" if last and not cmds else ""
    return Finding("driver.recommended", Status.FAIL,
                   f"The installed driver does not support the {gpu}: the NVIDIA module says a legacy branch supports "
                   "it (the line naming the branch was cut)", tuple(o.line[:300] for o in legacy[:2]),
                   fix=Fix("Read the whole message for the legacy branch it names, replace the driver with that "
                           f"branch{table}, then reboot.", ("sudo dmesg | grep -A2 'GPU installed in this system is'",),
                           alternatives=known, verify=("nvidia-smi",)),
                   evidence=facts.machine.evidence_of("nvrm-legacy-gpu"))


def _driver_says_unsupported(facts) -> Finding | None:
    """The NVIDIA module's own words: this GPU needs a legacy branch, or the open module does not take it."""
    m = facts.machine
    legacy = m.observed("nvrm-legacy-gpu")
    if legacy:
        # the message spans two kernel log lines: the GPU on the first, the branch on the second (either may be cut)
        o = legacy[0]
        text = next((b for x in legacy if (b := x.group("branch") or x.group("branch2"))), None)
        named = next((g for x in legacy if (g := x.group("gpu") or x.group("gpu3"))), None)
        if not text:
            return _legacy_branch_cut(facts, named, legacy)
        gpu = named or "this GPU"
        if text.isdigit() and len(text) == 3:
            cmds, what = install_branch(facts.env, int(text))
            purge = ("sudo apt purge 'nvidia-driver-*' 'libnvidia-*'",) if cmds and cmds[0].startswith("sudo apt ") \
                else ()
            return Finding("driver.recommended", Status.FAIL,
                           f"The installed driver does not support the {gpu}: it needs the {text} legacy branch",
                           (o.line,), fix=Fix(f"Replace the driver with the {text} legacy branch ({what}), then reboot.",
                                              (*purge, *cmds), verify=("nvidia-smi",)),
                           evidence=m.evidence_of("nvrm-legacy-gpu"))
    gke = m.observed("gke-installer-driver-unsupported")
    if gke:
        o = gke[0]
        latest = ("kubectl apply -f https://raw.githubusercontent.com/GoogleCloudPlatform/container-engine-accelerators/"
                  "master/nvidia-driver-installer/cos/daemonset-preloaded-latest.yaml")
        return Finding("driver.recommended", Status.FAIL,
                       f"Google's GPU driver installer chose driver {o.group('driver_version') or '?'}, which does not "
                       f"support the {(o.group('gpu') or 'GPU')[:40]}: no usable driver is installed on the node",
                       (o.line[:300],),
                       fix=Fix("Install GKE's 'latest' driver DaemonSet (Container-Optimized OS nodes), or create the "
                               "node pool with gpu-driver-version=latest, so that the node gets a branch that supports "
                               "the GPU.", (latest,),
                               verify=("kubectl logs -n kube-system -l k8s-app=nvidia-driver-installer -c "
                                       "nvidia-driver-installer --tail=20",)),
                       evidence=m.evidence_of("gke-installer-driver-unsupported"))
    detect = m.observed("nvidia-detect-unsupported")
    if detect:
        o = detect[0]
        return Finding("driver.recommended", Status.FAIL,
                       f"nvidia-detect: no driver the distribution offers (up to {o.group('version') or '?'}) supports "
                       "this GPU; it needs a newer driver branch", (o.line[:300],),
                       fix=Fix("Install a newer driver branch that lists this GPU (the distribution's backports, "
                               "unstable or experimental suite, or NVIDIA's own packages), then reboot.",
                               install_driver_commands(facts.pci, facts.driver, facts.env), verify=("nvidia-smi",)),
                       evidence=m.evidence_of("nvidia-detect-unsupported"))
    no_gsp = m.observed("nvrm-open-no-gsp")
    if no_gsp:
        return _open_module_without_gsp(facts, no_gsp)
    not_in = m.observed("nvrm-gpu-not-in-release")
    if not_in:
        return _gpu_not_in_release(facts, not_in[0])
    refused = _refused_gpu(facts)
    if refused is not None:
        return refused
    if m.observed("nvrm-open-datacenter-only"):
        return Finding("driver.recommended", Status.FAIL,
                       "The open NVIDIA kernel module of this branch drives only data-centre GPUs: it does not take "
                       "this GPU", tuple(e.describe() for e in m.evidence_of("nvrm-open-datacenter-only")),
                       fix=Fix("Use the proprietary kernel module of the same branch (or a branch from 560 on, whose "
                               "open module supports GeForce and workstation GPUs), or let the open module take the "
                               "GPU with its NVreg_OpenRmEnableUnsupportedGpus=1 parameter (on Talos: in the machine "
                               "config's kernel module parameters); then reboot. `modinfo nvidia` names the module "
                               "installed: license 'NVIDIA' is the proprietary one, 'Dual MIT/GPL' the open one.",
                               (),
                               (Alternative("to keep the open module", (
                                   "echo 'options nvidia NVreg_OpenRmEnableUnsupportedGpus=1' | sudo tee "
                                   "/etc/modprobe.d/nvidia-open-unsupported.conf", "sudo reboot")),),
                               verify=("modinfo nvidia | grep -i license",)),
                       evidence=m.evidence_of("nvrm-open-datacenter-only"))
    return None


def _modules_mixed(facts, mixed, kernel: str | None) -> Finding:
    """nvidia-modeset refuses an nvidia.ko of another release: the running kernel's module set is half old, half new
    (void-packages#5745: 're-run the dkms hooks'), whether or not nvidia.ko itself loaded."""
    seen = next(iter(facts.machine.observed("nvidia-modeset-version-mismatch")), None)
    pair = (seen.group("nvidia"), seen.group("modeset")) if seen is not None else ()
    versions = f": nvidia.ko {pair[0]} but nvidia-modeset {pair[1]}" if pair else ""
    # (the versions are the pattern's digits and dots only)
    old = min(pair, key=lambda v: tuple(int(x) for x in v.split("."))) if pair else None
    remove = f"; if DKMS still holds {old}, `sudo dkms remove nvidia/{old} --all` removes it" if old else ""
    cmds, alts = rebuild_module(facts.env, facts.pci, kernel)
    return told_fail("driver.dkms", "The NVIDIA kernel modules for this kernel are of two driver releases"
                     f"{versions}: the upgrade's module build for this kernel did not replace the old release's "
                     "modules", mixed,
                     Fix("Build the installed release's modules for this kernel again, then reboot (`dkms status` "
                         f"lists every release DKMS holds{remove}).", cmds, alternatives=alts,
                         verify=("modinfo -F version nvidia nvidia_modeset   # the same version twice",)))


def _peermem_stale(facts, told) -> Finding:
    """nvidia_peermem asks for InfiniBand core symbols of another version than the ib_core loaded: the NVIDIA modules
    were built against the network stack installed before (MLNX_OFED / DOCA-OFED, the Network Operator's driver), and
    must be built again against this one (gpu-operator#2868)."""
    cmds, alts = rebuild_module(facts.env, facts.pci, facts.driver.kernel_release)
    operator = Alternative("Kubernetes with the NVIDIA GPU Operator: drain the node and delete its driver pod; the "
                           "new pod builds the modules against the network drivers now loaded",
                           ("kubectl get pods -A -l app=nvidia-driver-daemonset -o wide",))
    return told_fail("driver.dkms", "nvidia_peermem (GPUDirect RDMA) was built against another InfiniBand stack than "
                     "the one loaded ('disagrees about version of symbol' ib_*): the network drivers changed after the "
                     "NVIDIA modules were built", told,
                     Fix("Build the NVIDIA driver's modules again now that the network stack (MLNX_OFED / DOCA-OFED) "
                         "is installed, so nvidia_peermem matches the ib_core loaded (DKMS rebuilds only a module it "
                         "lacks: `dkms status` names the NVIDIA build to remove first, or reinstall the driver "
                         "package).", cmds, alternatives=(*alts, operator),
                         verify=("lsmod | grep nvidia_peermem",)))


_DKMS_VERSION = textmatch.compile(r"/var/lib/dkms/nvidia[^/]*/(\d{3}\.\d+(?:\.\d+)?)/")


# the build tools an NVIDIA kmod's spec requires (rpmbuild names them when missing): the only names a fix installs
KMOD_BUILD_TOOLS = ("gcc", "gcc-c++", "make", "kernel-devel", "kernel-devel-matched", "elfutils-libelf-devel",
                    "libglvnd-devel", "kmodtool", "akmods")


def _dkms_failed(facts, failed) -> Finding:
    """DKMS tried and failed: the kernel's headers were missing, or the module's source does not compile for it."""
    m, d = facts.machine, facts.driver
    named = [o.group("kernel") or o.group("kernel2") or o.group("kernel3")
             for o in m.observed("dkms-build-error", "dkms-headers-missing", "dkms-headers-skipped", "dkms-make-error",
                                 "akmods-build-failed")]
    target = kernel_or_uname(next((x for x in named if x), None) or d.kernel_release)
    # in words: the kernel's release where known (a command may still use `$(uname -r)`)
    kernel = "the running kernel" if target.startswith("$") else f"kernel {target}"
    details = tuple(e.describe() for e in failed.evidence[:3])
    # NVIDIA's .run installer built the module itself (without --dkms): say so, not DKMS
    builder = ("NVIDIA's installer" if all(e.message in ("installer-kernel-source-missing", "installer-build-failed")
                                           for e in failed.evidence)
               else "akmods" if any(e.message == "akmods-build-failed" for e in failed.evidence) else "DKMS")
    verify = ("dkms status   # nvidia: installed for the kernel",)
    if all(e.message == "nvidia-module-compile-error" for e in failed.evidence):
        # the module's source compiled outside DKMS's tree (a Nix builder, rpmbuild, a source checkout)
        builder = ""
        verify = ("modinfo -F version nvidia   # a version: a module exists for the running kernel",)
    deps = [o.group("dependency") for o in m.observed("rpmbuild-kmod-dependency-missing")]
    if deps:
        # rpmbuild (under akmods) named the build tools the kmod needs: installed from a fixed list, never the line
        known = [p for p in KMOD_BUILD_TOOLS if p in deps]
        cmds = (f"sudo dnf install {' '.join(known or ['kernel-devel-' + target])}",
                f"sudo akmods --force --kernels {target}", "sudo reboot")
        return Finding("driver.dkms", Status.FAIL, "akmods could not build the NVIDIA module for kernel "
                       f"{target}: the build needs packages that are not installed"
                       + (f" ({', '.join(known)})" if known else ""), details,
                       fix=Fix("Install the packages the kmod build needs, rebuild the module with akmods, then "
                               "reboot.", cmds,
                               verify=("modinfo -F version nvidia   # a version: the module exists for this kernel",)),
                       evidence=failed.evidence)
    if m.observed("dkms-headers-missing", "dkms-headers-skipped", "installer-kernel-source-missing"):
        cmds, alts = rebuild_module(facts.env, facts.pci, None if target.startswith("$") else target)
        how = "rebuild the NVIDIA module"
        if builder != "DKMS":
            # the .run installer built (and registers) no DKMS module: install the headers, run the installer again
            family = distro_family(facts.env, d.kernel_release)
            cmds = ((f"sudo apt install linux-headers-{target}",) if family in ("ubuntu", "debian") else
                    (f"sudo dnf install kernel-devel-{target}",) if family in ("fedora", "rhel") else ())
            how, alts = "run NVIDIA's installer (the .run file) again", ()
        return Finding("driver.dkms", Status.FAIL, f"{builder} could not build the NVIDIA module for {kernel}: "
                       "its headers are not installed", details,
                       fix=Fix(f"Install the headers for {kernel}, {how}, then reboot.",
                               cmds, alternatives=alts, verify=verify), evidence=failed.evidence)
    if (wrong_cc := _compiler_not_the_kernels(facts, target, details, failed.evidence, verify)) is not None:
        return wrong_cc
    if m.observed("nvidia-preempt-rt-refused"):
        # NVIDIA's own build check: the module is not built for a PREEMPT_RT kernel (xanmod/linux#65)
        return Finding("driver.dkms", Status.FAIL, f"{builder} could not build the NVIDIA module for {kernel}: "
                       "it is a real-time (PREEMPT_RT) kernel, which NVIDIA's driver refuses", details,
                       fix=Fix("Boot a kernel without the PREEMPT_RT patch set (your distribution's standard kernel, "
                               "or the non-RT flavour of this one) and build the module for it: NVIDIA does not "
                               "support real-time kernels.", ("sudo reboot   # choose a non-RT kernel in the boot menu",),
                               alternatives=(Alternative("you need the real-time kernel: build the module with NVIDIA's "
                                                         "check skipped (not supported by NVIDIA)",
                                                         (f"sudo env IGNORE_PREEMPT_RT_PRESENCE=1 dkms autoinstall "
                                                          f"-k {target}",)),),
                               verify=verify), evidence=failed.evidence)
    if builder == "akmods":
        # a packaged kmod (RPM Fusion, negativo17) is built by its maintainers for current kernels: a build that fails
        # is a package that lags the kernel or a broken build of it, mended by the next package (negativo17#188)
        return Finding("driver.dkms", Status.FAIL, f"akmods could not build the NVIDIA module for {kernel}: the "
                       "packaged module source does not build for it", details,
                       fix=Fix("Update the NVIDIA packages (a newer akmod-nvidia follows the kernel, or mends a broken "
                               "build), rebuild the module, then reboot; the failed log under /var/cache/akmods/nvidia "
                               "says why it failed.",
                               ("sudo dnf upgrade --refresh 'akmod-nvidia*' 'kmod-nvidia*'",
                                f"sudo akmods --force --kernels {target}", "sudo reboot"),
                               alternatives=(Alternative("no newer package yet: boot the previous kernel (choose it in "
                                                         "the boot menu) until the package supports this one", ()),),
                               verify=("modinfo -F version nvidia   # a version: the module exists for this kernel",)),
                       evidence=failed.evidence)
    versions = [v.group(1) for e in failed.evidence if (v := _DKMS_VERSION.search(e.source + " " + e.line))]
    versions += [e.version for e in d.dkms_entries if e.module.startswith("nvidia")]
    ver = versions[0] if versions else None
    branch = _branch_num(ver)
    what = f"the NVIDIA {ver} module" if ver else "the NVIDIA module"
    # NVIDIA's legacy branches (the last for a GPU generation) follow new kernels late or not at all; any other branch
    # this old predates the kernel
    legacy = (f" ({branch} is a legacy branch: NVIDIA no longer follows new kernels in it)" if branch in (304, 340, 390, 470)
              else f" ({branch} is an old branch: its source predates this kernel)" if branch and branch < 470 else "")
    lead = f"{builder} could not build {what}" if builder else f"{what[:1].upper()}{what[1:]} could not be built"
    return Finding("driver.dkms", Status.FAIL, f"{lead} for {kernel}: its source does not compile against this "
                   f"kernel{legacy}", details,
                   fix=Fix("A driver older than the kernel cannot be built for it: install a newer driver branch that "
                           "supports this GPU, or keep booting a kernel the module builds for.",
                           install_driver_commands(facts.pci, d, facts.env, None if target.startswith("$") else target),
                           alternatives=(Alternative("the GPU needs this driver branch: boot the previous kernel "
                                                     "(choose it in the boot menu) and keep it until the driver "
                                                     "supports the new one", ()),
                                         Alternative("the build log (make.log) shows the compiler rejecting an option "
                                                     "(`unrecognized command-line option`, `unsupported option`), or "
                                                     "`cc` points at clang: build with the compiler the kernel was "
                                                     "built with (gcc, of the version `cat /proc/version` names)",
                                                     ("cat /proc/version",)),
                                         *_headers_alternative(facts, failed.evidence, target)),
                           verify=verify),
                   evidence=failed.evidence)


def _headers_alternative(facts, evidence, target: str) -> tuple[Alternative, ...]:
    """The NVIDIA module's source failed with `implicit declaration of function`: besides a kernel newer than the
    source, the kernel's headers may be incomplete or another kernel's (a self-built kernel installed without its
    headers), so that NVIDIA's conftest misreads which interfaces the kernel has (Frogging-Family/nvidia-all#44:
    465.31 on a self-built 5.12.10, 'You need to install the headers for your custom kernel')."""
    if not any("implicit declaration of function" in e.line for e in evidence):
        return ()
    cmds = rebuild_module(facts.env, facts.pci, None if target.startswith("$") else target)[0]
    return (Alternative("the running kernel's headers are missing, incomplete or another kernel's (a self-built kernel "
                        "installed without them): NVIDIA's conftest then misreads the kernel's interfaces and the build "
                        "fails with `implicit declaration` errors; install the headers built with this kernel, then "
                        "rebuild the module", cmds),)


def _compiler_not_the_kernels(facts, target: str, details, evidence, verify) -> Finding | None:
    """The module must be built with the compiler (and its major.minor) the kernel was built with, and the build
    showed it was not: the NVIDIA build's own `Compiler version check failed`, or the compiler rejecting a flag the
    kernel's build passes to every module (`clang-13: error: unsupported option '-mrecord-mcount'`, `gcc: error:
    unrecognized command-line option '-ftrivial-auto-var-init=zero'`: nvidia-all#76, clang 13 for a kernel built with
    clang 12; void-packages#16778, cc pointing at clang). The kernel build's own warning names the right compiler (`The
    kernel was built by: gcc (GCC) 12.2.0`); only its major version's digits enter a command."""
    m = facts.machine
    rejected = m.observed("compiler-rejects-kernel-flag")
    if not rejected and not m.observed("dkms-cc-version-mismatch"):
        return None
    where = "the running kernel" if target.startswith("$") else f"kernel {target}"
    rebuild = rebuild_module(facts.env, facts.pci, None)[0]
    if not rejected:
        return Finding("driver.dkms", Status.FAIL, f"The NVIDIA module cannot be built for {where}: the compiler "
                       "differs from the one the kernel was built with (compiler version check failed)", details,
                       fix=Fix("Build the module with the compiler the running kernel was built with (`cat "
                               "/proc/version` names it), or boot a kernel built with the compiler installed now "
                               "(the distribution's next kernel usually is), then rebuild the module.", rebuild,
                               verify=verify),
                       evidence=evidence)
    o = rejected[0]
    compiler = safe.package(o.group("compiler") or "") or "the compiler"
    built = next(iter(m.observed("kernel-built-by-compiler")), None)
    gcc_major = built.group("gcc_major") if built is not None else None
    clang_major = built.group("clang_major") if built is not None else None
    family = distro_family(facts.env, facts.driver.kernel_release)
    if gcc_major and gcc_major.isdigit():
        kernels = f"gcc {gcc_major}"
        cmds = ((f"sudo apt install gcc-{gcc_major}",) if family in ("ubuntu", "debian") else ()) + rebuild
    elif clang_major and clang_major.isdigit():
        kernels, cmds = f"clang {clang_major}", rebuild
    else:
        kernels = "the kernel's compiler (`cat /proc/version` names it: gcc, unless the kernel was built with clang)"
        cmds = ("cat /proc/version   # the compiler the kernel was built with",) + rebuild
    alts = (Alternative("`cc` points at clang (a kernel built with gcc): point it back at gcc, then rebuild",
                        ("sudo update-alternatives --set cc /usr/bin/gcc",)),) \
        if "clang" in compiler and family in ("ubuntu", "debian") and not clang_major else ()
    return Finding("driver.dkms", Status.FAIL, f"The NVIDIA module cannot be built for {where}: {compiler} rejects "
                   f"{o.group('flag') or 'a flag'}, a flag the kernel's build passes to every module, so it is not the "
                   "compiler the kernel was built with", details,
                   fix=Fix(f"Build the module with {kernels}, the compiler the kernel was built with ({compiler} is "
                           "not it), then reboot.", cmds, alternatives=alts, verify=verify),
                   evidence=m.evidence_of("compiler-rejects-kernel-flag", "kernel-built-by-compiler")[:3])


def _stale_nvidia_tree(facts, entries) -> Finding | None:
    """DKMS stops at an NVIDIA version whose source is gone (`Could not locate dkms.conf file`), and nothing shows an
    NVIDIA module built for the running kernel: the stale tree, left behind by an upgrade, blocks the rebuild."""
    kernel = facts.driver.kernel_release
    if kernel and any(e.state == "installed" and e.kernel == kernel for e in entries):
        return None
    for o in facts.machine.observed("dkms-conf-missing"):
        module, version = o.group("module") or "", o.group("version") or ""
        if not module.startswith("nvidia"):
            continue
        ev = facts.machine.evidence_of("dkms-conf-missing")
        # the folder to remove is written from a literal and a validated version, never from the line as printed
        exact = module == "nvidia" and safe.version(version) is not None
        cmds = ((f"sudo rm -r /var/lib/dkms/nvidia/{version}",) if exact else ("ls /var/lib/dkms/",)) + (
            "sudo dkms autoinstall", "sudo reboot")
        return Finding("driver.dkms", Status.FAIL, "DKMS stops at a stale NVIDIA module tree whose source is gone "
                       f"({'nvidia ' + version if exact else 'an old NVIDIA version'}): it builds no NVIDIA module "
                       "for a new kernel until that tree is removed", tuple(e.describe() for e in ev[:2]),
                       fix=Fix("Remove the old version's folder under /var/lib/dkms (its package is no longer "
                               "installed), let DKMS build the installed driver for every kernel, then reboot."
                               + ("" if exact else " The folder to remove is the one `dkms status` names."),
                               cmds, verify=("dkms status   # nvidia: installed for the running kernel",)),
                       evidence=ev)
    return None


def _build_tool_missing(facts, told) -> Finding:
    """The shell said the module's build tool (akmods, dkms) is not installed, and no NVIDIA module is loaded: the
    driver's packages never built one for this kernel."""
    o = next(iter(facts.machine.observed("kmod-build-tool-missing")), None)
    named = (o.group("tool") or o.group("tool2") or o.group("tool3")) if o is not None else None
    tool = named if named in ("akmods", "dkms") else "dkms"  # a literal of the two, never the machine's text
    kernel = facts.driver.kernel_release
    k = kernel_or_uname(kernel)
    if tool == "akmods" or distro_family(facts.env, kernel) in ("fedora", "rhel"):
        cmds: tuple[str, ...] = (f"sudo dnf install akmods kernel-devel-{k}", f"sudo akmods --force --kernels {k}",
                                 "sudo reboot")
    else:
        cmds, _ = rebuild_module(facts.env, facts.pci, kernel)
    return Finding("driver.dkms", Status.FAIL, f"{tool} is not installed, so no NVIDIA kernel module was built for "
                   f"kernel {k}", tuple(e.describe() for e in told.evidence[:2]),
                   fix=Fix(f"Install {tool} (and the kernel's headers), build the NVIDIA module for the running kernel, "
                           "then reboot.", cmds,
                           alternatives=(Alternative("a distribution that ships the module prebuilt for its kernels "
                                                     "(Ubuntu's linux-modules-nvidia packages): install "
                                                     "that package instead of building one", ()),),
                           verify=("lsmod | grep nvidia", "nvidia-smi")),
                   evidence=told.evidence)


def _proprietary_branch_for(facts, observations) -> tuple[int, str]:
    """(branch, why) of the proprietary module to install for a GPU the open module refuses: the branch in use when
    its proprietary flavour still supports the GPU, else the GPU's last branch, else 580 (the last for Maxwell, Pascal
    and Volta, the GPUs without a GSP that drivers from 560 on, where the open module is the default, still drive)."""
    gpus = _gpus_named(observations) + [dev for dev in _nvidia_gpus(facts) if getattr(dev, "kernelopen", None) is False]
    last = min((n for g in gpus if (n := _branch_num(getattr(g, "last_branch", None)))), default=None)
    in_use = _branch_num(facts.driver.installed_branch or facts.driver.loaded_driver_version or "")
    if in_use and (last is None or in_use <= last):
        return in_use, f"the branch in use, {in_use}"
    if last:
        name = next((g.name for g in gpus if getattr(g, "name", None)), "this GPU")
        return last, f"{last}, the last branch for the {name}"
    return 580, "580, the last branch for Maxwell, Pascal and Volta GPUs (Kepler needs 470)"


def _proprietary_fix(facts, observations) -> Fix:
    """Installing the proprietary flavour of the driver for a GPU the open module does not drive (`observations`: the
    module's own lines naming the GPU), on this distribution."""
    branch, why = _proprietary_branch_for(facts, observations)
    family = distro_family(facts.env)
    alternatives: tuple[Alternative, ...] = ()
    if family in ("fedora", "rhel"):
        cmds = ("sudo dnf swap akmod-nvidia-open akmod-nvidia", "sudo reboot")
        alternatives = (Alternative("negativo17's packages (/etc/nvidia/kernel.conf selects the module)",
                                    ("sudo sed -i -e 's/kernel-open$/kernel/g' /etc/nvidia/kernel.conf",
                                     "sudo akmods --rebuild", "sudo reboot")),)
        what = "akmod-nvidia"
    else:
        cmds, what = install_branch(facts.env, branch)
    nixos = " (on NixOS: `hardware.nvidia.open = false`)" if not cmds and family not in ("fedora", "rhel") else ""
    return Fix(f"Install the proprietary kernel module ({what}, not the -open one; branch {why}), then reboot{nixos}. "
               "`modinfo nvidia | grep license` names the flavour installed: 'NVIDIA' is the proprietary module, "
               "'Dual MIT/GPL' the open one.", cmds, alternatives=alternatives,
               verify=("modinfo nvidia | grep -i license", "nvidia-smi"))


def _open_module_without_gsp(facts, observations) -> Finding:
    ev = facts.machine.evidence_of("nvrm-open-no-gsp")
    return Finding("driver.recommended", Status.FAIL,
                   "The open NVIDIA kernel module cannot drive this GPU (it has no GSP: older than Turing); it needs the "
                   "proprietary flavour", tuple(e.describe() for e in ev),
                   fix=_proprietary_fix(facts, observations), evidence=ev)


def _rebuild_alternative(facts) -> Alternative:
    """Rebuilding the NVIDIA module for the running kernel, as the alternative to installing a driver."""
    kernel = facts.driver.kernel_release
    cmds, _ = rebuild_module(facts.env, facts.pci, kernel)
    headers = ""
    if distro_family(facts.env) == "unknown":
        k = kernel_or_uname(kernel)
        headers = f" (install its headers first: linux-headers-{k} on Debian and Ubuntu, kernel-devel-{k} on Fedora)"
    return Alternative("a driver was installed and worked before a kernel update: rebuild its module for the running "
                       f"kernel{headers}", cmds)


def _prime_alternative(facts) -> tuple[Alternative, ...]:
    """Ubuntu's nvidia-prime blacklists the NVIDIA module by design in its `intel` profile (tseliot, its maintainer, in
    canonical/nvidia-prime#20): on a hybrid laptop with the driver installed, the module is then not loaded. Offered
    where the distribution is Ubuntu's family or unknown (prime-select is Ubuntu's tool) and the machine may be a
    hybrid one (another GPU on the PCI bus, or the bus not read)."""
    pci = facts.pci
    if distro_family(facts.env) not in ("ubuntu", "unknown") or \
            (pci is not None and pci.source != "none" and not pci.other_gpus):
        return ()
    return (Alternative("a hybrid laptop with the driver installed whose PRIME profile is the integrated GPU "
                        "(`prime-select query` prints intel: nvidia-prime then blacklists the NVIDIA module)",
                        ("sudo prime-select nvidia", "sudo reboot")),)


def _no_gpu_reason(facts, so: str) -> str:
    """Why a driver check has nothing to do: no GPU (when something showed that), or nothing recorded the GPUs."""
    if facts.machine.value("gpu.present") is False:
        return f"No NVIDIA GPU: {so}"
    return "Whether this machine has an NVIDIA GPU was not recorded (paste the output of `lspci -nnk | grep -iA3 nvidia`)"


def _holders(facts) -> list:
    return [dev for dev in _nvidia_gpus(facts) if (dev.driver_in_use or "") in NOUVEAU_DRIVERS]


def _blacklist_by_hand(facts, modules=("nouveau",)) -> tuple[str, ...]:
    lines = "\\n".join([f"blacklist {m}" for m in modules] + ["options nouveau modeset=0"])
    return (f"printf '{lines}\\n' | sudo tee /etc/modprobe.d/blacklist-nouveau.conf",
            initramfs_command(facts.env), "sudo reboot")


def _blacklist_fix(facts, summary: str, modules=("nouveau",)) -> Fix:
    return Fix(summary, (tfdoctor_command(facts, "fix-nouveau", sudo=True), "sudo reboot"),
               (Alternative("by hand", _blacklist_by_hand(facts, modules)),))


@check(
    "driver.nouveau",
    area="driver",
    title="nouveau / nova not holding the card",
    needs=("driver", "pci", "env", "nvml"),
    after=("pci.nvidia-gpu",),
    what="Checks whether the open-source nouveau driver (or the newer nova_core/nova_drm) is loaded or bound to an "
         "NVIDIA card, and where it is blacklisted: every modprobe directory (/etc, /lib, /usr/lib, /run "
         "modprobe.d) and the kernel command line.",
    why="nouveau claims NVIDIA cards at boot, before the proprietary driver can; while it holds the card the "
        "NVIDIA module cannot bind (`NVRM: No NVIDIA devices probed`) and TensorFlow sees no GPU. A blacklist in a "
        "file not ending in .conf is never read, and one that is not in the initramfs does not stop nouveau "
        "loading from the initramfs.",
    fix="Install the NVIDIA driver packages (they blacklist nouveau themselves), or blacklist nouveau: "
        "`sudo tfdoctor fix-nouveau` writes /etc/modprobe.d/blacklist-nouveau.conf (`blacklist nouveau`, "
        "`options nouveau modeset=0`), regenerates the initramfs (`sudo update-initramfs -u` or "
        "`sudo dracut --force`) and tells you to reboot. Never blacklist nouveau before an NVIDIA driver is "
        "installed: that boots into a black screen.",
    links=("https://docs.nvidia.com/cuda/cuda-installation-guide-linux/#disabling-nouveau",),
)
def check_nouveau(facts) -> Finding:
    d, env = facts.driver, facts.env
    if on_wsl(facts):
        return skip("driver.nouveau", "WSL2: no Linux GPU driver runs here")
    holders = _holders(facts)
    novacore = _said(facts, "nvrm-novacore-bound")
    loaded_names = [m for m in ("nouveau", "nova_core", "nova_drm") if m in d.loaded_modules]
    holds = facts.machine.belief("driver.nouveau_holds")
    taking = holders or novacore or (loaded_names and not d.nvidia_loaded and (
        _nvidia_gpus(facts) or holds.value is True)) or \
        (holds.value is True and holds.strength >= DIRECT and module_state(facts) != "loaded")
    ignored = [b for b in d.blacklistings if not b.effective and b.module == "nouveau"]
    if taking:
        who = sorted({dev.driver_in_use for dev in holders} | set(loaded_names)
                     | ({"nova_core"} if novacore else set())) or ["nouveau"]
        where = ", ".join(dev.slot for dev in holders) or "the NVIDIA GPU"
        details = [f"{dev.slot}: kernel driver in use: {dev.driver_in_use}" for dev in holders] + novacore
        if not details:
            details = [e.describe() for e in holds.evidence[:3]]
        installed = driver_installed(facts)
        nova = any(m.startswith("nova") for m in who)
        modules = ("nouveau", "nova_core", "nova_drm") if nova else ("nouveau",)
        if installed is False:
            fix = Fix("Install the NVIDIA driver; its packages blacklist nouveau, then reboot. (Blacklisting "
                      "nouveau with no NVIDIA driver installed boots into a black screen.)",
                      install_driver_commands(facts.pci, d, env))
        elif d.nouveau_blacklist_effective:
            details.append("nouveau is already blacklisted in: " + "; ".join(d.nouveau_blacklisted_in))
            fix = Fix("The blacklist is in place but nouveau still loads: it is in the initramfs. Regenerate the "
                      "initramfs and reboot (add rd.driver.blacklist=nouveau to the kernel command line if it "
                      "persists).", (initramfs_command(env), "sudo reboot"))
        else:
            fix = _blacklist_fix(facts, f"Blacklist {' and '.join(modules[::-1]) if nova else 'nouveau'}, "
                                 "regenerate the initramfs, and reboot.", modules)
        return fail("driver.nouveau", f"{'/'.join(who)} holds {where}: the NVIDIA driver cannot bind to it",
                    *details, fix=fix)
    if ignored and not d.nouveau_blacklist_effective:
        first = ignored[0]
        first_path = safe.path(first.path)
        commands = ((f"sudo mv {first_path} {first_path}.conf",) if "ends in .conf" in first.why_not and first_path
                    else _blacklist_by_hand(facts)[:1])
        return warn("driver.nouveau", "nouveau's blacklist does not take effect",
                    *[f"{b.path}: {b.directive}: {b.why_not}" for b in ignored],
                    fix=Fix("Blacklist nouveau in a .conf file that modprobe reads, then regenerate the initramfs.",
                            (*commands, initramfs_command(env))))
    if d.nouveau_blacklisted_in:
        return ok("driver.nouveau", "nouveau is blacklisted and not loaded", *d.nouveau_blacklisted_in)
    if not _gpu_expected(facts):
        return skip("driver.nouveau", _no_gpu_reason(facts, "nouveau does not matter here"))
    if d.modules_source == "none" and not any(dev.driver_in_use for dev in _nvidia_gpus(facts)):
        return skip("driver.nouveau", "Which modules are loaded was not recorded")
    return ok("driver.nouveau", "nouveau is not loaded")


def _branches_modprobe_loads(facts) -> list[tuple[int, bool, object]]:
    """(branch, updates, observation) for each NVIDIA module name with a branch in it that modprobe tried to load:
    Ubuntu's packages before 16.10 named the modules after their branch (nvidia_361_uvm, nvidia_331_updates_uvm)."""
    out = []
    for o in facts.machine.observed("modprobe-uvm-failed"):
        b = _branch_num(o.group("branch"))
        if b is not None:
            out.append((b, "_updates_" in o.line, o))
    return out


def _gpu_models(facts) -> list:
    """The GPU models this machine has: the PCI bus's, else those the NVIDIA module's `(PCI ID: 10de:XXXX)` names,
    else the one a person named exactly (`GPU: GTX1080`)."""
    devs = [d for d in _nvidia_gpus(facts) if d.name and d.compute_capability]
    if devs:
        return devs
    named = _gpus_named(facts.machine.observed("nvrm-gpu-pci-id", "nvrm-open-no-gsp"))
    return named[:1] or stated_gpu_models(facts)[:1]


# GeForce, TITAN and workstation (Quadro, RTX) GPUs come with a new driver branch; a data-centre GPU may be supported
# early by a point release of an older branch, so the rule below is not applied to it
_LAUNCHED_WITH_A_BRANCH = textmatch.compile(r"(?i)geforce|titan|quadro|\brtx\b")


def _first_branch(model) -> tuple[int, str, str] | None:
    """(branch, driver, CUDA release): the oldest driver branch that can know this GPU, that of the minimum driver of
    the first CUDA release for its compute capability (a GPU's architecture reaches the driver with that CUDA)."""
    from tfdoctor.knowledge import loader as kb

    cc = getattr(model, "compute_capability", None)
    if not cc or not _LAUNCHED_WITH_A_BRANCH.search(getattr(model, "name", None) or ""):
        return None
    cuda = kb.first_cuda_for_cc(cc)
    req = kb.min_driver_for_cuda(cuda) if cuda else None
    branch = _branch_num(req.toolkit_driver) if req is not None else None
    return (branch, req.toolkit_driver, cuda) if branch else None


def _branch_predates_gpu(facts, installed: str | None) -> Finding | None:
    """The driver branch installed, or the one whose modules modprobe loads, is older than any that knows the GPU."""
    if _gpu_shown_working(facts):
        return None  # the driver answers for a GPU: whatever its branch, it drives it
    installed_n = _branch_num(installed)
    candidates = _branches_modprobe_loads(facts) + ([(installed_n, False, None)] if installed_n else [])
    if not candidates:
        return None
    for model in _gpu_models(facts):
        first = _first_branch(model)
        if first is None:
            continue
        need, driver, cuda = first
        for branch, updates, o in candidates:
            if branch >= need:
                continue
            name = model.name if model.name.lower().startswith("nvidia") else f"NVIDIA {model.name}"
            what = "whose modules modprobe loads" if o is not None else "installed"
            ev = facts.machine.evidence_of("modprobe-uvm-failed", "gpu-model-stated") if o is not None else ()
            if o is not None:
                # Ubuntu's per-branch packages: remove that branch, then install the one Ubuntu recommends for the GPU
                pkg = f"nvidia-{branch}{'-updates' if updates else ''}"
                fix = Fix(f"Remove the {branch} driver ({pkg}: a branch older than the GPU, left installed beside or "
                          "instead of a newer one), install the driver Ubuntu recommends for this GPU, then reboot.",
                          (f"sudo apt purge {pkg}", "sudo ubuntu-drivers autoinstall", "sudo reboot"),
                          verify=("nvidia-smi",))
            else:
                fix = Fix(f"Install a driver branch of {need} or newer that supports this GPU (the one your "
                          "distribution recommends), then reboot.", install_driver_commands(facts.pci, facts.driver,
                                                                                            facts.env),
                          verify=("nvidia-smi",))
            return Finding("driver.recommended", Status.FAIL,
                           f"The {branch} driver branch {what} predates the {name} ({model.architecture}, compute "
                           f"capability {model.compute_capability}): NVIDIA's drivers support it from CUDA {cuda}'s "
                           f"driver ({driver}) on", tuple(e.describe() for e in ev[:2])
                           + ((describe_device(model),) if getattr(model, "slot", None) else ())
                           + ((f"installed driver branch: {installed}",) if o is None else ()), fix=fix, evidence=ev)
    return None


@check(
    "driver.recommended",
    area="driver",
    title="Driver branch for this GPU",
    needs=("driver", "pci", "env", "nvml"),
    after=("pci.nvidia-gpu",),
    what="Finds the driver package for this GPU (`ubuntu-drivers devices` on Ubuntu, else tfdoctor's table of "
         "NVIDIA device ids with the last driver branch that supports each architecture) and compares it with the "
         "installed driver branch and flavour (proprietary or open kernel modules).",
    why="Each architecture is dropped by newer driver branches: Kepler's last driver is 470, Maxwell/Pascal/Volta's "
        "is 580. A newer branch installs fine but never binds to an older card. NVIDIA's open kernel modules "
        "(the default flavour since 560) support only Turing and newer.",
    fix="Install the recommended package (`sudo apt install nvidia-driver-<branch>` on Ubuntu, or "
        "`sudo ubuntu-drivers install`), and the proprietary flavour (not `-open`) for GPUs older than Turing; "
        "then reboot.",
)
def check_recommended(facts) -> Finding:
    d, pci, env = facts.driver, facts.pci, facts.env
    if on_wsl(facts):
        return skip("driver.recommended", "WSL2: the driver is installed on Windows")
    devs = _nvidia_gpus(facts)
    if not _gpu_expected(facts):
        return skip("driver.recommended", _no_gpu_reason(facts, "no driver is needed"))
    unsupported = _driver_says_unsupported(facts)
    if unsupported is not None:
        return unsupported
    pkg = recommended_package(pci, d, env)
    source = "from ubuntu-drivers" if safe.package(d.recommended_package) else "from tfdoctor's GPU table"
    installed = d.installed_branch or _branch_num(getattr(facts.nvml, "driver_version", None)) and \
        str(_branch_num(facts.nvml.driver_version))
    installed_n = _branch_num(installed)
    too_old = _branch_predates_gpu(facts, installed)
    if too_old is not None:
        return too_old
    for dev in devs:
        last = _branch_num(dev.last_branch)
        if installed_n and last and installed_n > last:
            target = pkg or f"nvidia-driver-{last}"
            return fail("driver.recommended",
                        f"Driver branch {installed} does not support {dev.name or 'this GPU'} ({dev.architecture}): "
                        f"its last driver branch is {last}",
                        describe_device(dev),
                        fix=Fix(f"Replace the driver with the {last} branch, then reboot.",
                                ("sudo apt purge 'nvidia-driver-*' 'libnvidia-*'   # remove the unsupported branch",
                                 f"sudo apt install {target}", "sudo reboot")))
    open_flavor = d.kernel_module_flavor == "open" or any(p.name.endswith("-open") and p.state in ("ii", "hi")
                                                           for p in d.nvidia_packages)
    pre_turing = [dev for dev in devs if dev.kernelopen is False]
    if open_flavor and pre_turing:
        dev = pre_turing[0]
        branch = installed or _branch_num(getattr(dev, "last_branch", None)) or _branch_num(recommended_package(pci, d, env))
        if branch is None:
            return fail("driver.recommended",
                        f"The open NVIDIA kernel modules do not support {dev.name or 'this GPU'} ({dev.architecture}); "
                        "it needs the proprietary flavour",
                        fix=Fix("Install the proprietary (not -open) driver package of your distribution, then reboot.",
                                install_driver_commands(pci, d, env)))
        return fail("driver.recommended",
                    f"The open NVIDIA kernel modules do not support {dev.name or 'this GPU'} ({dev.architecture}); "
                    "it needs the proprietary flavour",
                    fix=Fix("Install the proprietary flavour of the same branch, then reboot.",
                            (f"sudo apt install nvidia-driver-{branch}   # not nvidia-driver-{branch}-open",
                             "sudo reboot")))
    if installed:
        rec = f"; recommended: {pkg} ({source})" if pkg and not pkg.endswith(installed) else ""
        return ok("driver.recommended", f"NVIDIA driver branch {installed} is installed{rec}")
    if module_state(facts) == "loaded":
        return ok("driver.recommended", "An NVIDIA driver is installed and answering"
                  + (f"; recommended: {pkg} ({source})" if pkg else ""))
    if driver_installed(facts):
        return ok("driver.recommended", "An NVIDIA driver is installed (its branch was not recorded)"
                  + (f"; recommended: {pkg} ({source})" if pkg else ""))
    if pkg:
        return info("driver.recommended", f"Recommended driver: {pkg} ({source})",
                    *[f"{p} ({flags})" for dev in d.ubuntu_drivers_devices for p, flags in dev.drivers],
                    fix=Fix(f"Install {pkg}, then reboot.", install_driver_commands(pci, d, env)))
    if driver_installed(facts) is None and not facts.machine.complete:
        # a pasted snapshot that says nothing about the driver: no advice to install what may well be there
        return skip("driver.recommended", "Whether an NVIDIA driver is installed was not recorded (paste the output "
                                          "of `nvidia-smi` and `lspci -nnk | grep -iA3 nvidia`)")
    return info("driver.recommended", "Install the NVIDIA driver packaged for your distribution",
                fix=Fix("Install the driver, then reboot.", install_driver_commands(pci, d, env)))


@check(
    "driver.secure-boot",
    area="driver",
    title="Secure Boot and module signing",
    needs=("driver", "pci", "env", "nvml"),
    after=("pci.nvidia-gpu",),
    what="Reads `mokutil --sb-state`, the kernel lockdown mode, and kernel log lines such as `Key was rejected by "
         "service`, `Loading of unsigned module is rejected` or `PKCS#7 signature not signed with a trusted key`.",
    why="With Secure Boot on, the kernel loads only modules signed by a key the firmware trusts. A driver built by "
        "DKMS is signed with a local Machine Owner Key that must be enrolled once, at the console, after a reboot; "
        "until then the module is installed but never loads, and nvidia-smi says it cannot communicate with the "
        "driver.",
    fix="Enrol the DKMS signing key (`sudo mokutil --import /var/lib/shim-signed/mok/MOK.der`, or "
        "/var/lib/dkms/mok.pub on newer DKMS), reboot and complete the enrolment in the blue MOK Manager screen "
        "(it needs a physical or serial console, not SSH); or install Canonical's prebuilt signed modules "
        "(`sudo ubuntu-drivers install`); or disable Secure Boot in the firmware settings.",
    links=("https://wiki.ubuntu.com/UEFI/SecureBoot/DKMS",),
)
def check_secure_boot(facts) -> Finding:
    d = facts.driver
    if on_wsl(facts):
        return skip("driver.secure-boot", "WSL2: Linux kernel modules are not used for the GPU")
    rejected = facts.machine.belief("driver.module_rejected")
    state = module_state(facts)
    # inside a container an inferred refusal ("Operation not permitted") is the container's missing privilege
    inside = facts.machine.value("container") is True and rejected.strength < DIRECT
    if rejected.value is True and state != "loaded" and not inside:
        # The kernel's own words: it refused the module's signature. Whatever mokutil would say, that is the cause.
        key = _signing_key(facts)
        return Finding("driver.secure-boot", Status.FAIL,
                       "The kernel refuses to load the NVIDIA module: it is not signed with a key the kernel trusts "
                       "(Secure Boot or kernel lockdown)", tuple(e.describe() for e in rejected.evidence[:3])
                       + ((f"lockdown: {d.lockdown}",) if d.lockdown else ()),
                       fix=_enrol_fix(key), evidence=rejected.evidence)
    local = facts.machine.belief("secure_boot.local_key_rejected")
    if local.value is True and state != "loaded" and not inside:
        # The kernel refused another locally built module for its signature: the NVIDIA module DKMS or akmods built
        # is signed with the same key (or unsigned), so it is refused the same way.
        key = _signing_key(facts)
        return Finding("driver.secure-boot", Status.FAIL if state == "not-loaded" else Status.WARN,
                       "The kernel refuses locally built modules for their signature (Secure Boot): a DKMS/akmods-built "
                       "NVIDIA module is refused the same way" + ("" if state == "not-loaded" else
                                                                   " (whether the NVIDIA module is loaded was not "
                                                                   "recorded)"),
                       tuple(e.describe() for e in local.evidence[:3]), fix=_enrol_fix(key), evidence=local.evidence)
    sb = facts.machine.belief("secure_boot.enabled")
    if sb.value is None:
        if d.mokutil == "missing" and not facts.machine.complete:
            return skip("driver.secure-boot", "The Secure Boot state was not recorded (paste the output of "
                                              "`mokutil --sb-state`)")
        if d.mokutil == "missing":
            return skip("driver.secure-boot", f"mokutil is not {'in the snapshot' if facts.replay else 'installed'}: "
                                              "the Secure Boot state is unknown")
        return skip("driver.secure-boot", "The Secure Boot state is unknown")
    said = "" if sb.strength >= DIRECT else " (as stated)"
    if not sb.value:
        return ok("driver.secure-boot", ("Secure Boot is disabled" if d.efi or d.secure_boot_text or said else
                                         "Not booted with EFI Secure Boot") + said)
    if state == "loaded":
        return ok("driver.secure-boot", "Secure Boot is enabled and the NVIDIA module is signed and loaded")
    if not _gpu_expected(facts):
        return ok("driver.secure-boot", f"Secure Boot is enabled{said}")
    if state == "not-loaded" and _installed_or_userspace(facts):
        key = _signing_key(facts)
        details = [e.describe() for e in sb.evidence[:2]] + ([f"lockdown: {d.lockdown}"] if d.lockdown else [])
        return Finding("driver.secure-boot", Status.FAIL,
                       f"Secure Boot is enabled{said} and the NVIDIA module is not loaded: the kernel rejects it "
                       "unless it is signed with an enrolled key", tuple(details), fix=_enrol_fix(key),
                       evidence=sb.evidence + facts.machine.evidence("driver.loaded")[:2])
    return info("driver.secure-boot", "Secure Boot is enabled: a driver built by DKMS needs its signing key enrolled",
                *( [f"lockdown: {d.lockdown}"] if d.lockdown else []))


def _installed_or_userspace(facts) -> bool:
    """A driver is installed, or at least its user-space part (nvidia-smi ran, the driver package's own fallback
    service spoke) where nothing recorded the packages: what a module refused at load needs to be the cause."""
    installed = driver_installed(facts)
    return bool(installed) or (installed is None and facts.machine.value("driver.userspace") is True)


def _signing_key(facts) -> str:
    """The key the module is signed with: the one the driver probe found, else this distribution's usual path."""
    return facts.driver.mok_keys[0] if facts.driver.mok_keys else _mok_key(facts)


def _mok_key(facts) -> str:
    """Where this distribution's module-signing key is: Fedora's akmods, or DKMS' (Ubuntu's shim-signed path)."""
    if distro_family(facts.env) in ("fedora", "rhel"):
        return "/etc/pki/akmods/certs/public_key.der"
    return "/var/lib/shim-signed/mok/MOK.der"


def _enrol_fix(key: str) -> Fix:
    return Fix("Enrol the key the module is signed with, reboot, and confirm the enrolment in MOK Manager at the "
               "console (it asks for the password you set).",
               (f"sudo mokutil --import {key}", "sudo reboot"),
               alternatives=(Alternative("if you do not need Secure Boot: disable it in the firmware settings, then "
                                         "reboot", ()),),
               verify=("mokutil --test-key " + key + "   # 'is already enrolled'", "lsmod | grep nvidia"))


@check(
    "driver.dkms",
    area="driver",
    title="NVIDIA module built for the running kernel",
    needs=("driver", "pci", "env", "nvml"),
    after=("pci.nvidia-gpu",),
    what="Compares `dkms status` with `uname -r`, and asks `modprobe --dry-run nvidia` whether a module exists for "
         "the running kernel (nothing is loaded).",
    why="After a kernel update, DKMS must rebuild the NVIDIA module for the new kernel; without the matching "
        "linux-headers package (or with a driver installed by NVIDIA's .run file without --dkms) it does not, and "
        "the next boot has no NVIDIA module at all.",
    fix="Install the headers for the running kernel and rebuild: `sudo apt install linux-headers-$(uname -r)`, "
        "`sudo dkms autoinstall -k $(uname -r)` (read /var/lib/dkms/nvidia/<version>/build/make.log if it "
        "fails), then reboot. On Ubuntu, the prebuilt `linux-modules-nvidia-<branch>-generic` packages "
        "(`sudo ubuntu-drivers install`) avoid DKMS altogether.",
)
def check_dkms(facts) -> Finding:
    d, env = facts.driver, facts.env
    if on_wsl(facts):
        return skip("driver.dkms", "WSL2: Linux kernel modules are not used for the GPU")
    kernel = d.kernel_release
    entries = [e for e in d.dkms_entries if e.module.startswith("nvidia")]
    failed = facts.machine.belief("driver.dkms_failed")
    if failed.value is True and module_state(facts) != "loaded":
        return _dkms_failed(facts, failed)
    mixed = facts.machine.belief("driver.modules_mixed")
    if mixed.value is True:
        return _modules_mixed(facts, mixed, kernel)
    peermem = facts.machine.belief("driver.peermem_stale")
    if peermem.value is True:
        return _peermem_stale(facts, peermem)
    no_tool = facts.machine.belief("driver.build_tool_missing")
    if no_tool.value is True and module_state(facts) != "loaded":
        return _build_tool_missing(facts, no_tool)
    no_headers = facts.machine.belief("driver.headers_unavailable")
    if no_headers.value is True and module_state(facts) != "loaded":
        return told_fail("driver.dkms", "The running kernel's headers cannot be installed (the package manager has "
                         "none for it), so no NVIDIA module can be built for it", no_headers,
                         Fix("Make the running kernel's headers installable: the distribution's repositories must "
                             "carry that kernel's devel/headers package (on RHEL and OpenShift a valid subscription or "
                             "cluster entitlement, on a mirror a synced one), or boot a kernel whose headers the "
                             "repositories have; then build the module again.",
                             ("uname -r", "dnf list --showduplicates kernel-devel 2>/dev/null || "
                              "apt-cache policy \"linux-headers-$(uname -r)\""),
                             verify=("dkms status   # nvidia: installed for the running kernel",)))
    if module_state(facts) == "loaded":
        return ok("driver.dkms", f"The NVIDIA module is loaded{f' on kernel {kernel}' if kernel else ''}")
    stale = _stale_nvidia_tree(facts, entries)
    if stale is not None:
        return stale
    if not _gpu_expected(facts) and not entries:
        return skip("driver.dkms", _no_gpu_reason(facts, "no module is needed"))
    k = kernel_or_uname(kernel)
    if entries:
        ver = entries[0].version
        built = sorted({e.kernel for e in entries if e.state == "installed" and e.kernel})
        cmds, alts = rebuild_module(env, facts.pci, kernel)
        rebuild = Fix(f"Install the headers for {k} and rebuild the NVIDIA module with DKMS, then reboot.", cmds,
                      alternatives=alts, verify=("dkms status   # nvidia: installed for the running kernel",))
        if kernel and kernel not in built:
            return fail("driver.dkms", f"DKMS built nvidia {ver} for {', '.join(built) or 'no kernel'} but not for "
                                       f"the running kernel {kernel}",
                        *[f"dkms: {e.module}/{e.version} {e.kernel or ''} {e.state}" for e in entries], fix=rebuild)
        if not built:
            return fail("driver.dkms", f"The nvidia {ver} DKMS module is '{entries[0].state}', not installed",
                        f"see /var/lib/dkms/nvidia/{ver}/build/make.log", fix=rebuild)
        if kernel:
            return ok("driver.dkms", f"DKMS built nvidia {ver} for the running kernel {kernel}")
    if d.module_resolvable is False or facts.machine.value("driver.module_for_kernel") is False:
        magic = next(iter(facts.machine.observed("kernel-version-magic")), None)
        running = kernel or (magic.group("running") if magic else None)
        cmds, alts = rebuild_module(env, facts.pci, running)
        if d.dkms == "missing" and facts.machine.complete and distro_family(env) in ("ubuntu", "debian"):
            # no DKMS at all: install it with the headers, then the driver again so that DKMS registers its module
            cmds = (f"sudo apt install dkms linux-headers-{k}", *install_driver_commands(facts.pci, d, env))
        evidence = facts.machine.evidence("driver.module_for_kernel")
        summary = f"No NVIDIA kernel module exists for the running kernel {running or ''}".rstrip()
        if d.module_resolvable is None and evidence and all(e.message == "kernel-update-broke-driver-stated"
                                                            for e in evidence):
            summary = ("The NVIDIA driver broke with a kernel update (as stated): most likely no NVIDIA module was "
                       "built for the new kernel")
        if magic is not None:
            summary = (f"The NVIDIA module found for the running kernel {magic.group('running')} was built for "
                       f"{magic.group('built')}: a stale module, not rebuilt for this kernel")
        return Finding("driver.dkms", Status.FAIL, summary,
                       tuple([d.modprobe_text] if d.modprobe_text else [e.describe() for e in evidence[:3]])
                       + (("dkms is not installed, so nothing rebuilds the module after a kernel update",)
                          if d.dkms == "missing" and facts.machine.complete else ()),
                       fix=Fix("Build the NVIDIA module for this kernel through your distribution's DKMS package "
                               "(it is rebuilt for every kernel from then on), then reboot.", cmds, alternatives=alts,
                               verify=("modinfo -F version nvidia   # a version: the module exists for this kernel",)),
                       evidence=evidence)
    if entries:
        return ok("driver.dkms", f"DKMS has built nvidia {entries[0].version}")
    if d.modinfo == "ok":
        return ok("driver.dkms", f"An NVIDIA module {d.modinfo_version or ''} exists for the running kernel".replace("  ", " "))
    if d.dkms == "missing":
        if not facts.machine.complete:
            return skip("driver.dkms", "`dkms status` was not recorded (paste its output to check the module build)")
        return skip("driver.dkms", f"dkms is not {'in the snapshot' if facts.replay else 'installed'} (the driver "
                                   "may come from prebuilt kernel-module packages)")
    return skip("driver.dkms", "DKMS has no NVIDIA module")


def _gpu_shown_working(facts) -> bool:
    """Something shows a GPU answering here: NVML (or nvidia-smi's table or -L listing), TensorFlow, or cuInit."""
    m = facts.machine
    return bool(getattr(facts.nvml, "gpus", ()) or m.observed("smi-list-gpu") or m.value("tf.sees_gpu") is True
                or m.value("cuda.init_error") == "0")


def _reserved_for_vm(facts) -> Finding | None:
    """vfio-pci (or pci-stub) owns the GPU, as the NVIDIA module said at load, and nothing shows the GPU working here:
    it is reserved for a virtual machine's passthrough."""
    if (told := facts.machine.told("gpu.reserved_for_vm")) is None or _gpu_shown_working(facts):
        return None
    return told_fail("driver.nvidia-module", "The GPU is bound to vfio-pci (reserved for a virtual machine's "
                     "passthrough): the NVIDIA driver cannot take it on this host", told,
                     Fix("If this host should use the GPU: remove its ids from vfio-pci (vfio-pci.ids= on the kernel "
                           "command line, `options vfio-pci ids=` in /etc/modprobe.d, a driverctl override), rebuild "
                           "the initramfs and reboot. If the GPU is meant for a VM, run the GPU work inside that VM.",
                           (initramfs_command(facts.env), "sudo reboot"),
                           verify=("lspci -nnk -d 10de:   # Kernel driver in use: nvidia",)))


# the module's own explanations of a GPU it could not take or initialise, each read by its own rule
_EXPLAINED_INIT = ("nvrm-api-mismatch", "nvrm-bar-invalid", "nvrm-legacy-gpu", "nvrm-open-datacenter-only",
                   "nvrm-open-no-gsp", "nvrm-gpu-not-in-release", "pci-d3cold-power-up-failed", "nvrm-fallen-off-bus")


def _gpu_not_initialised(facts) -> Finding | None:
    """The module is loaded and took the GPU, but its resource manager could not initialise it (`RmInitAdapter
    failed!`, `rm_init_adapter failed`), nothing shows a GPU answering since, and no line the module printed says why
    in words another rule reads. When the GPU's firmware processor did not boot (`Cannot initialize GSP firmware RM`)
    that is the release and the GPU together: NVRM itself says the GPU may need a reset, and a release can regress
    (NVIDIA/open-gpu-kernel-modules#876: 595.45.04 good, 595.58.03 broken)."""
    m = facts.machine
    if not m.observed("nvrm-rm-init-failed", "nvrm-rm-init-adapter-minor", "nvrm-gsp-rm-init-failed") \
            or m.observed(*_EXPLAINED_INIT) or _gpu_shown_working(facts):
        return None
    if any(o.group("xid") == "79" for o in m.observed("nvrm-xid", "xid-stated")):
        return None  # Xid 79, the GPU fallen off the bus, explains it: gpu.xid reports that (cmpunlocker#4)
    ev = m.evidence_of("nvrm-gsp-rm-init-failed", "nvrm-rm-init-failed", "nvrm-rm-init-adapter-minor")
    verify = ("nvidia-smi   # the GPU is listed", "sudo dmesg | grep -E 'RmInitAdapter|GSP'   # nothing new")
    if m.observed("nvrm-gsp-rm-init-failed"):
        ver = facts.driver.loaded_driver_version or facts.driver.installed_branch
        release = f" ({ver})" if ver else ""
        return Finding("driver.nvidia-module", Status.FAIL, "The NVIDIA module is loaded but could not initialise the "
                       f"GPU: its GSP firmware did not start under this driver release{release} (RmInitAdapter)",
                       tuple(e.describe() for e in ev[:3]),
                       fix=Fix("Power the machine off completely and start it again (a GPU left in a bad state needs "
                               "a cold reset, not a reboot). If the GPU still fails, this release does not boot its "
                               "firmware on this GPU: go back to the driver release that worked (or on to a newer "
                               "one).", ("sudo poweroff",),
                               (Alternative("a Turing or Ampere GPU on the open kernel modules: the proprietary "
                                            "modules of the same release can run it without GSP firmware "
                                            "(NVreg_EnableGpuFirmware=0)", ()),),
                               verify=verify),
                       evidence=ev)
    return Finding("driver.nvidia-module", Status.FAIL, "The NVIDIA module is loaded but could not initialise the GPU "
                   "(RmInitAdapter failed)", tuple(e.describe() for e in ev[:3]),
                   fix=Fix("Read the NVRM lines before 'RmInitAdapter failed': a GPU newer than the driver branch "
                           "(install a newer one), a GPU the open kernel modules cannot drive, BIOS settings (Above 4G "
                           "decoding, Resizable BAR), power. Power-cycle the machine once first.",
                           ("sudo dmesg | grep -E 'NVRM'", "lspci -nn -d 10de:"), verify=verify),
                   evidence=ev)


def _gsp_firmware_missing(facts) -> Finding | None:
    """The module could not read the GSP firmware of its own version, and nothing shows the GPU working since (a
    module loaded from an initramfs without the firmware retries later): the GPU was not initialised."""
    if (told := facts.machine.told("driver.gsp_firmware_missing")) is None or _gpu_shown_working(facts):
        return None
    family = distro_family(facts.env, facts.driver.kernel_release if facts.driver is not None else None)
    cmds = ("sudo apt install firmware-nvidia-gsp", "sudo reboot") if family == "debian" else ()
    return told_fail("driver.nvidia-module", "The NVIDIA module cannot read the GSP firmware of its own version "
                     "(/lib/firmware/nvidia/<version>/gsp*.bin), so the GPU is not initialised", told,
                     Fix("Install the GSP firmware of exactly the loaded module's version (it ships with the driver "
                         "package or the .run installer; Debian: firmware-nvidia-gsp from non-free-firmware). If the "
                         "module loads from the initramfs, rebuild the initramfs with the firmware in it. Then "
                         "reboot.", cmds,
                         alternatives=(Alternative("the module loads from the initramfs: rebuild it",
                                                   (initramfs_command(facts.env), "sudo reboot")),
                                       Alternative("the firmware is installed but a self-built kernel (a VM's guest "
                                                   "kernel, a minimal kernel) cannot load firmware: build it with "
                                                   "CONFIG_FW_LOADER=y", ())),
                         verify=("ls /lib/firmware/nvidia/   # a folder named after the loaded module's version",
                                 "nvidia-smi")))


def _blacklist_evidence(d) -> tuple:
    """Each line that blacklists the NVIDIA module, as evidence: the file (or /proc/cmdline) and its directive."""
    from tfdoctor.machine import Evidence

    out = []
    for entry in d.nvidia_blacklisted_in[:8]:
        where, _, line = entry.partition(": ")
        out.append(Evidence(where, line or entry))
    return tuple(out)


def _nvidia_blacklist_fix(env, path: str) -> Fix:
    """Remove a blacklist of the NVIDIA module (on hybrid laptops: switch the graphics tool to the NVIDIA GPU)."""
    return Fix("Remove the blacklist (on hybrid laptops: switch the graphics mode to the NVIDIA GPU with the tool that "
               "wrote it, e.g. prime-select, envycontrol or supergfxctl), then reboot.",
               (*(("sudo prime-select nvidia",) if "prime" in path
                  # supergfxd writes its file again at every start while in Integrated mode: switch its mode
                  else ("supergfxctl --mode Hybrid",) if "supergfxd" in path
                  else (f"sudo rm {safe.path(path)}",) if safe.path(path) else ()),
                initramfs_command(env), "sudo reboot"),
               alternatives=(Alternative("leave supergfxctl: stop the daemon, then remove its file",
                                         ("sudo systemctl disable --now supergfxd",
                                          f"sudo rm {safe.path(path)}")),)
               if "supergfxd" in path and safe.path(path) else (),
               verify=("lsmod | grep nvidia", "nvidia-smi"))


def profiling_fix(facts) -> Fix:
    """Let every user read the GPU's performance counters (NVIDIA's ERR_NVGPUCTRPERM page), or profile as root."""
    return Fix("The driver lets only administrators read the GPU's performance counters "
               "(NVreg_RestrictProfilingToAdminUsers=1, its default since 418.43): profilers (TensorFlow's and "
               "PyTorch's through CUPTI, nvprof, Nsight, DCGM's profiling metrics) fail for other users. Allow every "
               "user, then reload the driver (reboot).",
               ("echo 'options nvidia NVreg_RestrictProfilingToAdminUsers=0' | sudo tee "
                "/etc/modprobe.d/nvidia-profiling.conf", initramfs_command(facts.env), "sudo reboot"),
               alternatives=(Alternative("keep the restriction: run the profiler as root", ()),
                             Alternative("inside a container: start it with --cap-add SYS_ADMIN as well", ())),
               verify=("grep RmProfilingAdminOnly /proc/driver/nvidia/params   # 0",))


def _profiling_restricted(facts) -> Finding | None:
    """A profiler was refused the GPU's performance counters (CUPTI_ERROR_INSUFFICIENT_PRIVILEGES, nvprof's
    ERR_NVGPUCTRPERM, NVML's NVLink counters' Insufficient Permissions): the driver restricts them to administrators.
    Training and inference are unaffected, so this warns."""
    if (told := facts.machine.told("driver.profiling_restricted")) is None or facts.machine.value("container") is True:
        return None  # (in a container, env.container names CAP_SYS_ADMIN first)
    return Finding("driver.nvidia-module", Status.WARN, "A profiler was refused the GPU's performance counters: the "
                   "NVIDIA driver restricts them to administrators (NVreg_RestrictProfilingToAdminUsers)",
                   tuple(e.describe() for e in told.evidence[:2]), fix=profiling_fix(facts), evidence=told.evidence)


@check(
    "driver.nvidia-module",
    area="driver",
    title="NVIDIA kernel module loaded",
    needs=("driver", "pci", "env", "nvml"),
    after=("pci.nvidia-gpu", "driver.recommended", "driver.nouveau", "driver.secure-boot", "driver.dkms",
           "env.container"),
    what="Checks that the `nvidia` kernel module is loaded (/proc/modules, /proc/driver/nvidia/version), which "
         "version and flavour it is, and that it is bound to every NVIDIA card; when it is not, tells apart: no "
         "driver installed, nouveau in the way, blacklisted, rejected by Secure Boot, not built for this kernel, "
         "or installed but not yet loaded; and a module loaded that could not initialise the GPU (`RmInitAdapter "
         "failed`, GSP firmware that did not start). A Jetson's GPU is L4T's (nvgpu): the check does not apply.",
    why="Without the kernel module there is no /dev/nvidia*, NVML and nvidia-smi fail (`NVIDIA-SMI has failed "
        "because it couldn't communicate with the NVIDIA driver`), and TensorFlow logs `failed call to cuInit: "
        "CUDA_ERROR_NO_DEVICE` and `kernel driver does not appear to be running on this host`.",
    fix="Install the driver package recommended for the card (`sudo apt install nvidia-driver-<branch>`) and "
        "reboot; if it is installed, fix what stops it loading (see the findings it points to) and reboot.",
)
def check_nvidia_module(facts) -> Finding:
    d, env, pci = facts.driver, facts.env, facts.pci
    if on_wsl(facts):
        return skip("driver.nvidia-module", "WSL2: the Windows NVIDIA driver serves the GPU")
    if facts.machine.value("platform.jetson") is True:
        return skip("driver.nvidia-module", "NVIDIA Jetson (L4T): the integrated GPU is driven by L4T's own driver "
                    "(nvgpu), not the nvidia kernel module")
    state = module_state(facts)
    devs = _nvidia_gpus(facts)
    if (bar := _bar_unassigned(facts, loaded=state == "loaded")) is not None:
        return bar
    if (vm := _reserved_for_vm(facts)) is not None:
        return vm
    if (gsp := _gsp_firmware_missing(facts)) is not None:
        return gsp  # the module may be loaded: the GPU was not initialised
    if state != "not-loaded" and (init := _gpu_not_initialised(facts)) is not None:
        return init
    if state != "not-loaded" and (prof := _profiling_restricted(facts)) is not None:
        return prof
    if state == "loaded":
        ver = d.loaded_driver_version or getattr(facts.nvml, "driver_version", None)
        flavour = f", {d.kernel_module_flavor} kernel modules" if d.kernel_module_flavor else ""
        summary = f"NVIDIA kernel module {ver + ' ' if ver else ''}is loaded{flavour}".replace("  ", " ")
        unbound = [dev for dev in devs if dev.driver_in_use and dev.driver_in_use != "nvidia"]
        if unbound:
            dev = unbound[0]
            return warn("driver.nvidia-module", f"{summary}, but {dev.slot} is bound to {dev.driver_in_use}",
                        *[f"{x.slot}: {x.driver_in_use}" for x in unbound],
                        fix=Fix("Release the card from that driver (e.g. remove it from vfio-pci passthrough) and "
                                "reboot.", ("lspci -nnk -d 10de:",)))
        return ok("driver.nvidia-module", summary, *([d.proc_version_text] if d.proc_version_text else []))
    if d.nvidia_blacklisted_in and state == "unknown" and facts.machine.value("gpu.present") is not False:
        # a modprobe.d file blacklists the NVIDIA module (what hybrid-graphics tools write for integrated-only mode:
        # supergfxctl, envycontrol, prime-select intel): it does not load at boot, whatever else is unknown
        path = d.nvidia_blacklisted_in[0].split(":", 1)[0]
        return warn("driver.nvidia-module", f"The NVIDIA module is blacklisted ({path}): it is not loaded at boot "
                    "(whether it is loaded now was not recorded)", *d.nvidia_blacklisted_in,
                    fix=_nvidia_blacklist_fix(env, path)).with_(evidence=_blacklist_evidence(d))
    if not _gpu_expected(facts):
        if facts.require_gpu:
            return fail("driver.nvidia-module", "No NVIDIA GPU and no NVIDIA driver")
        return skip("driver.nvidia-module", _no_gpu_reason(facts, "no NVIDIA driver is needed"))
    if state == "unknown":
        # nothing said whether the module is loaded (nvidia-smi's "Unknown Error" does not): never state it as a fact
        return skip("driver.nvidia-module", "Whether the NVIDIA module is loaded was not recorded (paste the output "
                                            "of `lsmod | grep nvidia` and `nvidia-smi`)")

    if gke := facts.machine.evidence_of("gke-driver-auto-install-disabled"):
        return Finding("driver.nvidia-module", Status.FAIL, "GKE installed no NVIDIA driver on this node: its GPU driver "
                       "installation is disabled (the default for node pools that node auto-provisioning creates)",
                       tuple(e.describe() for e in gke[:1]),
                       fix=Fix("Ask GKE for a driver: in the workload's nodeSelector set "
                               "cloud.google.com/gke-gpu-driver-version to latest (or default), so that the node pool "
                               "is made with the driver installed, or create the node pool with "
                               "gpu-driver-version=latest in its --accelerator option.", (),
                               verify=("kubectl get nodes -o custom-columns='NAME:.metadata.name,"
                                       "GPUS:.status.allocatable.nvidia\\.com/gpu'",)),
                       evidence=gke[:2])
    installed = driver_installed(facts)
    evidence = _said(facts, "nvrm-no-adapter-probed", "nvrm-rm-init-failed", "nvrm-rm-init-adapter-minor",
                     "nvrm-none-initialized", "nvrm-novacore-bound", *REJECTED)
    smi = getattr(facts.nvml, "nvidia_smi_message", None)
    details = ([f"nvidia-smi: {smi}"] if smi else []) + evidence
    for dev in devs:
        if dev.revision == "ff":
            details.append(f"{dev.slot} reads as revision ff: the GPU is powered off (hybrid graphics set to the "
                           "integrated GPU, bbswitch) or has fallen off the bus")
    install = install_driver_commands(pci, d, env)
    if d.nvidia_blacklisted_in:
        path = d.nvidia_blacklisted_in[0].split(":", 1)[0]
        return fail("driver.nvidia-module", f"The NVIDIA module is blacklisted ({path})", *d.nvidia_blacklisted_in,
                    fix=_nvidia_blacklist_fix(env, path)).with_(evidence=_blacklist_evidence(d))
    fallback = facts.machine.evidence_of("nvidia-fallback-module-missing")
    if fallback and facts.machine.value("driver.module_rejected") is not True and \
            facts.machine.value("secure_boot.enabled") is not True:  # (a refusal shown is said below, by its cause)
        # Fedora's NVIDIA packaging fell back to nouveau at boot: the machine did boot with the driver installed, so no
        # reboot is owed; the module was not there for this kernel or was refused
        # (the message is that packaging's own, RPM Fusion's or negativo17's: a Fedora-family system, said or not)
        cmds = rebuild_module(env, pci, d.kernel_release, family="fedora")[0]
        return Finding("driver.nvidia-module", Status.FAIL, "The NVIDIA module did not load at boot (the driver's "
                       "fallback to nouveau ran): no module was built for the running kernel (akmods still building "
                       "or failed, or a kernel this driver does not build for yet), or the kernel refused it (Secure "
                       "Boot)", tuple(e.describe() for e in fallback[:2]) + tuple(details),
                       fix=Fix("Build the module for the running kernel (akmods prints why it cannot), then reboot; a "
                               "kernel the driver does not support yet needs the previous kernel (or the "
                               "distribution's kernel) until it does.", cmds,
                               verify=("modinfo -F version nvidia", "lsmod | grep nvidia", "mokutil --sb-state")),
                       evidence=fallback)
    if _holders(facts) or facts.machine.observed("nvrm-novacore-bound") or \
            facts.machine.belief("driver.nouveau_holds").strength >= DIRECT and \
            facts.machine.value("driver.nouveau_holds") is True:
        return fail("driver.nvidia-module", "No NVIDIA kernel driver is loaded: nouveau/nova holds the card",
                    *details, fix=Fix("Fix driver.nouveau first, then reboot.",
                                      (tfdoctor_command(facts, "fix-nouveau", sudo=True), "sudo reboot")))
    if installed is False or (installed is None and facts.machine.complete and not d.kernel_release
                              and d.packages_source == "none"):
        pkg = recommended_package(pci, d, env)
        what = "no NVIDIA driver is installed" if installed is False else "no NVIDIA driver package was found"
        return fail("driver.nvidia-module", f"No NVIDIA kernel driver is loaded ({what})", *details,
                    fix=Fix(f"Install {pkg or 'the NVIDIA driver'} and reboot.", install))
    selinux = facts.machine.belief("driver.selinux_blocks_module")
    if selinux.value is True:
        family = distro_family(env, d.kernel_release)
        update = ("sudo dnf upgrade selinux-policy-targeted" if family in ("fedora", "rhel", "unknown")
                  else "sudo apt install --only-upgrade selinux-policy-default")
        return told_fail("driver.nvidia-module", "No NVIDIA kernel driver is loaded: SELinux (enforcing) denied "
                         "loading the module", selinux,
                    Fix("A policy that denies module_load for the NVIDIA module is a policy bug the distribution "
                            "fixes: update the SELinux policy and reboot (loading it by hand as root works meanwhile).",
                            (update, "sudo reboot"),
                            (Alternative("until the updated policy is installed: load it by hand as root",
                                         ("sudo modprobe nvidia",)),),
                            verify=("lsmod | grep nvidia", "sudo ausearch -m avc -ts boot | grep module_load")))
    secure_boot = facts.machine.value("secure_boot.enabled")
    if secure_boot and _installed_or_userspace(facts):
        return fail("driver.nvidia-module", "No NVIDIA kernel driver is loaded: Secure Boot rejects the unsigned "
                                            "module", *details,
                    fix=Fix("Fix driver.secure-boot first (enrol the module signing key), then reboot.",
                            (f"sudo mokutil --import {_mok_key(facts)}", "sudo reboot")))
    if d.module_resolvable is False:
        return fail("driver.nvidia-module", "No NVIDIA kernel driver is loaded: there is no module for the running "
                                            f"kernel {d.kernel_release or ''}".rstrip(), *details,
                    fix=Fix("Rebuild the module for this kernel (see driver.dkms), then reboot.",
                            *rebuild_module(env, pci, d.kernel_release)))
    if pci is not None and pci.other_gpus and devs and (any(dev.revision == "ff" for dev in devs)
                                                        or any("nvidia" in dev.kernel_modules for dev in devs)):
        return fail("driver.nvidia-module", "The NVIDIA driver is installed but not loaded: this hybrid laptop runs "
                                            "on its integrated GPU (PRIME)", *details,
                    fix=Fix("Switch PRIME to the NVIDIA GPU (or on-demand), then reboot.",
                            ("sudo prime-select nvidia", "sudo reboot"),
                            (Alternative("to keep the integrated GPU for the display and use the NVIDIA GPU on demand",
                                         ("sudo prime-select on-demand", "sudo reboot")),)))
    if evidence:
        return fail("driver.nvidia-module", "The NVIDIA driver is installed but did not take the GPU", *details,
                    fix=Fix("Reboot first; if it persists, reinstall the recommended driver.", ("sudo reboot", *install)))
    if installed is None:
        # Nothing showed whether a driver is installed: say what is known, and what would tell.
        pkg = recommended_package(pci, d, env)
        return fail("driver.nvidia-module", "No NVIDIA kernel driver is loaded (whether one is installed was not "
                                            "recorded)", *details,
                    "To tell whether one is installed, paste the output of `dpkg -l | grep -i nvidia` (or "
                    "`rpm -qa | grep -i nvidia`) and `modinfo nvidia`.",
                    fix=Fix(f"Install {pkg or 'the NVIDIA driver'} and reboot.", install,
                            alternatives=(_rebuild_alternative(facts), *_prime_alternative(facts)),
                            verify=("nvidia-smi",)))
    unknown = facts.machine.belief("driver.unknown_symbol")
    crc = next((o.group("symbol2") for o in facts.machine.observed("kernel-nvidia-unknown-symbol")
                if o.group("symbol2")), None)
    if unknown.value is True and crc:
        # the kernel exports the symbol with another CRC (check_version): nvidia.ko was built against another kernel's
        # headers or configuration; loading dependencies first changes nothing
        return told_fail("driver.nvidia-module", "The kernel refused nvidia.ko: it was built against another kernel "
                         "(its symbol versions differ from the running kernel's: 'disagrees about version of "
                         "symbol')", unknown,
                         Fix("Rebuild the NVIDIA module against the running kernel's own headers (or reinstall the "
                             "driver package built for this kernel), then reboot.",
                             rebuild_module(env, pci, d.kernel_release)[0], verify=("lsmod | grep nvidia",)))
    if unknown.value is True:
        # insmod loads no dependency: nvidia.ko needs ipmi_msghandler/ipmi_devintf first (src-d/coreos-nvidia#3)
        return told_fail("driver.nvidia-module", "The kernel refused nvidia.ko (Unknown symbol in module): a module it "
                         "depends on was not loaded first (insmod loads none), or it was built for another kernel",
                         unknown, Fix("Load it with modprobe, which loads its dependencies (or load ipmi_devintf before "
                                      "an insmod); if it still fails, rebuild the module for the running kernel "
                                      "(`sudo dmesg | grep 'Unknown symbol'` names the missing symbols).",
                                      ("sudo modprobe ipmi_devintf", "sudo modprobe nvidia"),
                                      alternatives=(Alternative("built for another kernel: rebuild it for this one",
                                                                rebuild_module(env, pci, d.kernel_release)[0]),),
                                      verify=("lsmod | grep nvidia",)))
    refused = facts.machine.evidence_of("installer-unable-to-load-module")
    if refused and secure_boot is None:
        # NVIDIA's installer built the module and the kernel refused it just now: not a reboot owed
        return Finding("driver.nvidia-module", Status.FAIL, "NVIDIA's installer built the module but the kernel "
                       "refused to load it: Secure Boot (an unsigned module), nouveau holding the GPU, or a GPU this "
                       "driver release does not support", tuple(e.describe() for e in refused[:1]) + tuple(details),
                       fix=Fix("Loading it by hand prints the kernel's reason ('Key was rejected by service': Secure "
                               "Boot, see driver.secure-boot; 'No such device': nouveau holds the GPU or the release "
                               "does not support it, see driver.nouveau and driver.recommended).",
                               ("sudo modprobe nvidia",),
                               verify=("mokutil --sb-state", "lsmod | grep -E 'nouveau|nvidia'")),
                       evidence=refused)
    if secure_boot is None:
        # Nothing shows why: a reboot not yet made after the install, or a kernel that refuses the module (Secure
        # Boot, whose state was not recorded). Loading it by hand does the one or says the other.
        return fail("driver.nvidia-module", "The NVIDIA driver is installed but not loaded: either the machine was not "
                                            "rebooted since it was installed, or the kernel refuses the module (the "
                                            "Secure Boot state was not recorded)", *details,
                    fix=Fix("Load the module by hand: it loads, or modprobe prints why the kernel refuses it ('Key "
                            "was rejected by service': Secure Boot, see driver.secure-boot); then reboot.",
                            ("sudo modprobe nvidia", "sudo reboot"), verify=("mokutil --sb-state", "nvidia-smi")))
    return fail("driver.nvidia-module", "The NVIDIA driver is installed but not loaded: a reboot is owed", *details,
                fix=Fix("Reboot (or load it now if no display uses the GPU).", ("sudo reboot",),
                        (Alternative("on a headless machine, instead of rebooting", ("sudo modprobe nvidia",)),)))
