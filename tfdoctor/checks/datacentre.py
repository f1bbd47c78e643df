"""Data-centre GPU state: the NVSwitch fabric and its Fabric Manager, MIG without instances, compute modes,
memory errors (row remapping, retired pages, uncorrectable ECC), persistence mode, memory other processes hold at
start-up, and the Xid reports of the kernel log with NVIDIA's meaning and action for each.

Reads NVML's record (version 2 fields), the datacentre probe (NVSwitches, the Fabric Manager service, the previous
boot's log) and the kernel-log observations of the evidence layer.
"""

from __future__ import annotations

from tfdoctor import textmatch
from tfdoctor.checks import check
from tfdoctor.checks.commands import tfdoctor_command, verify_only
from tfdoctor.checks.cuda import fabricmanager_fix
from tfdoctor.checks.fixes import initramfs_command
from tfdoctor.model import Alternative, Finding, Fix, Status, fail, info, ok, skip, told_fail, warn

OTHERS_HOLD_WARN = 0.5  # other processes hold half the GPU's memory: TensorFlow gets what is left, if anything
MEMORY_FULL = 0.9
# what a process holds on the GPU outside PyTorch's allocator: the CUDA context and its libraries' handles (cuBLAS,
# cuDNN workspaces), hundreds of MiB up to about 1 GiB (PyTorch's FAQ on memory its allocator does not count), plus a
# desktop's share on the display GPU: below this, memory neither free nor PyTorch's is no sign of another process
CONTEXT_ALLOWANCE_MIB = 1024
# a refused device allocation this large says nothing of other processes: the request itself may exceed what is free
REFUSED_LARGE_MIB = 1024
TAKEN_AT_START = 0.25  # TensorFlow 1.x found less than a quarter of the memory free when it started: taken by others


def _kb():
    from tfdoctor.knowledge import loader

    return loader


def _gpus(facts) -> tuple:
    n = facts.nvml
    return tuple(g for g in (getattr(n, "gpus", None) or ()) if not (g.lost or g.error)) if n is not None else ()


def _which(gpus) -> str:
    if any(g.index is None for g in gpus):
        return "A GPU" if len(gpus) == 1 else f"{len(gpus)} GPUs"  # (a pasted block without its GPU's index)
    idx = [str(g.index) for g in gpus]
    return ("GPU " + idx[0]) if len(idx) == 1 else ("GPUs " + ",".join(idx))


def _nvml_ok(facts) -> bool:
    return facts.nvml is not None and facts.nvml.init_ok


# -- gpu.fabric ----------------------------------------------------------------------------------------------------


@check(
    "gpu.fabric",
    area="gpu",
    title="NVSwitch fabric and the Fabric Manager",
    needs=("datacentre", "nvml", "cuda", "env", "driver", "sources"),
    after=("driver.nvidia-module", "nvml.init"),
    what="Looks for NVSwitch chips on the PCI bus (NVIDIA bridges, class 0680: HGX/DGX boards), asks systemd whether "
         "the nvidia-fabricmanager service runs and reads its log, and reads each GPU's fabric state from NVML "
         "(Hopper and later) and CUDA's own answer (CUDA_ERROR_SYSTEM_NOT_READY, 802).",
    why="On an NVSwitch system the GPUs cannot run any CUDA work until the Fabric Manager has set up the NVLink "
        "fabric: nvidia-smi lists every GPU, but cuInit fails with 802 'system not yet initialized' and TensorFlow "
        "sees no GPU. The Fabric Manager must be exactly the driver's version, or it refuses to start.",
    fix="Install the Fabric Manager of the loaded driver's branch and version (`sudo apt install "
        "nvidia-fabricmanager-<branch>` from the same repository as the driver) and `sudo systemctl enable --now "
        "nvidia-fabricmanager`.",
    links=("https://docs.nvidia.com/datacenter/tesla/fabric-manager-user-guide/index.html",),
)
def check_fabric(facts) -> Finding:
    m = facts.machine
    dc = facts.datacentre
    switch = m.belief("nvswitch.present")
    running = m.belief("fabric.manager_running")
    not_ready = m.belief("cuda.system_not_ready")
    waiting = [g for g in _gpus(facts) if g.fabric_state in ("not-started", "in-progress")]
    mismatch = m.observed("fabricmanager-driver-mismatch")
    evidence = m.evidence("nvswitch.present", "fabric.manager_running", "cuda.system_not_ready")
    lines = [e.describe() for e in evidence]
    if waiting:
        lines.append(f"{_which(waiting)}: NVML fabric state {waiting[0].fabric_state}")
    if mismatch:
        o = mismatch[0]
        return Finding("gpu.fabric", Status.FAIL, f"The Fabric Manager ({o.group('fm_version')}) does not match the "
                       f"driver ({o.group('driver_version')}) and will not start: CUDA cannot use the NVSwitch GPUs",
                       (o.line, *lines), fix=fabricmanager_fix(facts, True, o.group("driver_version")),
                       evidence=m.evidence_of("fabricmanager-driver-mismatch") + evidence)
    if (nvls := m.told("fabric.nvls_failed")) is not None:
        # NCCL's maintainers, in every thread of it (nccl#1488, #976, #1338, nccl-tests#276): usually the Fabric
        # Manager was stopped and started again without a GPU reset in between
        return Finding("gpu.fabric", Status.FAIL,
                       "NCCL cannot set up NVLink SHARP (NVLS) over the NVSwitch fabric: a CUDA call in its "
                       "transport/nvls.cc fails. NCCL's maintainers: usually the Fabric Manager was restarted without "
                       "a GPU reset", tuple(dict.fromkeys((*(e.describe() for e in nvls.evidence[:2]), *lines))),
                       fix=Fix("Stop the GPU jobs, then stop the Fabric Manager, reset the GPUs and start it again (the "
                               "order of NVIDIA's Fabric Manager guide), or reboot the node.",
                               ("sudo systemctl stop nvidia-fabricmanager", "sudo nvidia-smi -r",
                                "sudo systemctl start nvidia-fabricmanager"),
                               alternatives=(Alternative("the GPUs cannot be reset", ("sudo reboot",)),
                                             Alternative("to run without NVLS until then (slower collectives)",
                                                         ("export NCCL_NVLS_ENABLE=0",))),
                               verify=("systemctl is-active nvidia-fabricmanager", "nvidia-smi -q | grep -iA3 fabric")),
                       evidence=m.evidence("fabric.nvls_failed", "nvswitch.present", "fabric.manager_running",
                                           "cuda.system_not_ready"))
    if not_ready.value is True or waiting or (switch.value is True and running.value is False):
        why = ("CUDA reports the system not ready (802)" if not_ready.value is True else
               "the GPUs' NVLink fabric is not set up" if waiting else "the Fabric Manager is not running")
        return Finding("gpu.fabric", Status.FAIL, f"NVSwitch fabric not initialised: {why}", tuple(lines),
                       fix=fabricmanager_fix(facts, running.value is False and bool(getattr(dc, "fabricmanager_log",
                                                                                         ()))),
                       evidence=evidence)
    if switch.value is True:
        state = "active" if running.value else "state unknown"
        return ok("gpu.fabric", f"{len(dc.nvswitches)} NVSwitch(es); Fabric Manager {state}", *lines)
    if m.observed("fabricmanager-no-nvswitch") or (switch.value is False and running.value is not None):
        return info("gpu.fabric", "The Fabric Manager is installed but this machine has no NVSwitch: it is not needed",
                    *lines, *(o.line for o in m.observed("fabricmanager-no-nvswitch")[:1]),
                    fix=Fix("Disable the service so it stops failing at every boot.",
                            ("sudo systemctl disable --now nvidia-fabricmanager",),
                            verify=("systemctl is-enabled nvidia-fabricmanager",)))
    if switch.value is False:
        return ok("gpu.fabric", "No NVSwitch on the PCI bus: no NVLink fabric to set up")
    return skip("gpu.fabric", "Whether this machine has NVSwitches was not recorded (paste `lspci -nn | grep -i "
                              "bridge`)")


# -- gpu.mig -------------------------------------------------------------------------------------------------------


@check(
    "gpu.mig",
    area="gpu",
    title="MIG mode and instances",
    needs=("nvml",),
    after=("nvml.init",),
    what="Reads each GPU's MIG (Multi-Instance GPU) mode, current and pending, and how many MIG devices exist "
         "(NVML, or nvidia-smi's `MIG M.` column and `MIG devices` table).",
    why="With MIG enabled a GPU runs CUDA work only inside MIG instances: with none created, CUDA (and TensorFlow) "
        "sees no device at all on that GPU, while nvidia-smi lists it as healthy. A mode change marked pending "
        "(`Enabled*`) waits for a GPU reset.",
    fix="Either disable MIG (`sudo nvidia-smi -i <gpu> -mig 0`, then reset the GPU) or create instances (`sudo "
        "nvidia-smi mig -i <gpu> -cgi <profile> -C`).",
    links=("https://docs.nvidia.com/datacenter/tesla/mig-user-guide/index.html",),
)
def check_mig(facts) -> Finding:
    if (blocked := _mig_change_blocked(facts)) is not None:
        return blocked
    if not _nvml_ok(facts):
        return skip("gpu.mig", "NVML did not answer (see nvml.init)")
    gpus = _gpus(facts)
    known = [g for g in gpus if g.mig_mode_current is not None or g.mig_mode_pending is not None]
    if not known:
        return skip("gpu.mig", "No GPU here reports a MIG mode (MIG needs an A100, A30, H100 or newer data-centre GPU)")
    empty = [g for g in known if g.mig_mode_current and g.mig_devices == 0]
    pending = [g for g in known if g.mig_mode_pending is not None and g.mig_mode_current is not None
               and g.mig_mode_pending != g.mig_mode_current]
    if empty:
        first = empty[0].index
        return fail("gpu.mig", f"MIG is enabled on {_which(empty)} but no MIG instance exists: CUDA sees no device "
                    "there", *(f"GPU {g.index}: {g.name or '?'}, MIG enabled, 0 MIG devices" for g in empty[:8]),
                    fix=_mig_off_fix(facts, first))
    # MIG on, its instances not recorded (a cut table), and CUDA could not start or found no device: with MIG on CUDA
    # sees only MIG instances (NVIDIA's shivamerla in gpu-operator#382: 'MIG mode is enabled but no MIG devices are
    # created, cuda failure might be due to this')
    unknown = [g for g in known if g.mig_mode_current and g.mig_devices is None]
    code = facts.machine.value("cuda.init_error")
    # every device 'busy or unavailable' (46) is what CUDA's runtime told gpu-operator#129's validator on an A100
    # with MIG on and no instance (NVIDIA's elezar in gpu-operator#132: 'there are no devices configured')
    unavailable = code == "46" or facts.machine.value("cuda.devices_unavailable") is True
    if unknown and (code in ("3", "100") or unavailable):
        first = unknown[0].index
        told = (facts.machine.belief("cuda.init_error").evidence if code in ("3", "100", "46")
                else facts.machine.belief("cuda.devices_unavailable").evidence)
        what = ("no device" if code == "100" else "initialization error" if code == "3"
                else "every device busy or unavailable")
        return Finding("gpu.mig", Status.FAIL,
                       f"MIG is enabled on {_which(unknown)} and CUDA could not start there "
                       f"({what}): with MIG on, CUDA sees only MIG "
                       "instances, and whether one exists was not recorded",
                       (*(f"GPU {g.index}: {g.name or '?'}, MIG enabled" for g in unknown[:8]),
                        *(e.describe() for e in told[:2])),
                       fix=_mig_off_fix(facts, first, list_first=True),
                       evidence=tuple(told))
    on = [g for g in known if g.mig_mode_current]
    asked = facts.machine.evidence_of("torch-device-num-gpus-assert")
    cvd = (getattr(getattr(facts, "env", None), "variables", None) or {}).get("CUDA_VISIBLE_DEVICES")
    if on and asked and not (cvd or "").strip().startswith("MIG-"):
        # a CUDA process enumerates one MIG device (pytorch#130181/#131650, PyTorch's ptrblck): without
        # CUDA_VISIBLE_DEVICES naming the slice, a program that counts devices otherwise asks for one CUDA lacks
        return Finding("gpu.mig", Status.FAIL,
                       f"MIG is enabled on {_which(on)} and a program asked for a CUDA device beyond those CUDA "
                       "enumerated: a CUDA process sees one MIG device, which CUDA_VISIBLE_DEVICES must name",
                       (*(f"GPU {g.index}: {g.name or '?'}, MIG enabled" for g in on[:8]),
                        *(e.describe() for e in asked[:1])),
                       fix=Fix("Start the program with CUDA_VISIBLE_DEVICES set to the UUID of the MIG device it "
                               "should use (the command picks the first one `nvidia-smi -L` lists).",
                               ("nvidia-smi -L",
                                "export CUDA_VISIBLE_DEVICES=\"$(nvidia-smi -L | grep -o 'MIG-[0-9a-fA-F-]*' | head -n 1)\""),
                               verify=("echo \"$CUDA_VISIBLE_DEVICES\"", verify_only(facts, "cuda.init"))),
                       evidence=asked)
    if pending:
        g = pending[0]
        return warn("gpu.mig", f"A MIG mode change is pending on {_which(pending)}: it takes effect after a GPU reset",
                    f"GPU {g.index}: MIG {'enabled' if g.mig_mode_current else 'disabled'} now, "
                    f"{'enabled' if g.mig_mode_pending else 'disabled'} after the reset",
                    fix=Fix("Reset the GPU when nothing runs on it (or reboot).", (f"sudo nvidia-smi -i {g.index} -r",),
                            verify=(f"nvidia-smi -i {g.index} --query-gpu=mig.mode.current,mig.mode.pending "
                                    "--format=csv",)))
    on = [g for g in known if g.mig_mode_current]
    if on:
        counts = ", ".join(f"GPU {g.index}: {g.mig_devices if g.mig_devices is not None else '?'} instance(s)"
                           for g in on)
        return info("gpu.mig", f"MIG enabled on {_which(on)} ({counts}): TensorFlow sees each MIG instance as one GPU",
                    "Select instances with CUDA_VISIBLE_DEVICES=MIG-<uuid> (from `nvidia-smi -L`).")
    return ok("gpu.mig", "MIG disabled" + (f" on {_which(known)}" if len(known) < len(gpus) else ""))


def _mig_change_blocked(facts) -> Finding | None:
    """nvidia-smi set a MIG mode that waits for a GPU reset, and another client holds the GPU so the reset cannot
    happen (`MIG mode is in pending disable state ... In use by another client`): the GPU stays in its old mode. The
    clients NVIDIA's trackers name: nvidia-persistenced (gpu-operator#118), the kubelet (k8s-device-plugin#299), a
    loaded nvidia_drm (mig-parted#181), DCGM and the Fabric Manager."""
    if (told := facts.machine.told("gpu.mig_change_blocked")) is None:
        return None
    modes = {o.group("mode") for o in facts.machine.observed("smi-mig-pending-in-use")}
    change = "to disable MIG" if modes == {"disable"} else "to enable MIG" if modes == {"enable"} else "of MIG mode"
    return Finding("gpu.mig", Status.WARN,
                   f"A change {change} is pending on a GPU, and another client holds the GPU, so the reset that "
                   "applies it cannot happen: the GPU stays in its old MIG mode until then",
                   tuple(e.describe() for e in told.evidence[:2]),
                   fix=Fix("See which processes hold the NVIDIA devices and stop them (commonly nvidia-persistenced, "
                           "DCGM or dcgm-exporter, the Fabric Manager, the GPU Operator's pods; a loaded nvidia_drm "
                           "blocks it too: unload it), then reset the GPUs, or reboot.",
                           ("sudo fuser -v /dev/nvidia*", "sudo systemctl stop nvidia-persistenced",
                            "sudo nvidia-smi -r"),
                           alternatives=(Alternative("the GPU cannot be freed", ("sudo reboot",)),),
                           verify=("nvidia-smi --query-gpu=pci.bus_id,mig.mode.current,mig.mode.pending --format=csv",)),
                   evidence=tuple(told.evidence))


def _mig_off_fix(facts, first: int, list_first: bool = False) -> Fix:
    """Disable MIG on a GPU without instances and reset it, or keep MIG and create a full-size instance; where the
    instances were not recorded, list them first."""
    return Fix(("List the GPU's MIG instances: if none is listed, disable" if list_first else "Disable")
               + " MIG on the GPU and reset it (TensorFlow then gets the whole GPU), or keep MIG and create one "
               "full-size instance (profile 0) with its compute instance.",
               (*(("nvidia-smi -L",) if list_first else ()), f"sudo nvidia-smi -i {first} -mig 0",
                f"sudo nvidia-smi -i {first} -r"),
               alternatives=(_alt_keep_mig(first),),
               verify=("nvidia-smi -L", verify_only(facts, "cuda.init")))


def _alt_keep_mig(index: int):
    from tfdoctor.model import Alternative

    return Alternative("to keep MIG on this GPU", (f"sudo nvidia-smi mig -i {index} -cgi 0 -C",))


# -- gpu.compute-mode ----------------------------------------------------------------------------------------------

MODE_QUERY = "nvidia-smi --query-gpu=index,compute_mode --format=csv"
# which processes hold each GPU's memory, and how much of it is in use
APPS_QUERY = "nvidia-smi --query-compute-apps=gpu_bus_id,pid,process_name,used_memory --format=csv"
MEMORY_QUERY = "nvidia-smi --query-gpu=index,memory.used,memory.total --format=csv"
_MODE_TEXT = {"prohibited": "PROHIBITED (no process may create a CUDA context)",
              "exclusive-process": "EXCLUSIVE_PROCESS (one process at a time)",
              "exclusive-thread": "EXCLUSIVE_THREAD (one thread at a time; deprecated)"}


def _exclusive_thread(facts, gpus) -> Finding:
    """EXCLUSIVE_THREAD compute mode (read, or told by CUDA_ERROR_CONTEXT_ALREADY_IN_USE): TensorFlow's StreamExecutor
    does not work in it (its owner in tensorflow#526); the mode is deprecated."""
    told = facts.machine.evidence_of("cuda-context-already-in-use")
    which = _which(gpus) if gpus else "A GPU"
    summary = (f"{which} in compute mode EXCLUSIVE_THREAD: TensorFlow (StreamExecutor) cannot work in it" if gpus else
               "CUDA refused a context already bound to another thread (CUDA_ERROR_CONTEXT_ALREADY_IN_USE, 216): the "
               "GPU's compute mode is EXCLUSIVE_THREAD, in which TensorFlow (StreamExecutor) cannot work")
    index = [str(g.index) for g in gpus[:8]] or ["0"]
    # TensorFlow's log says it left the GPU out for its compute capability: it never reached the compute mode
    # (tensorflow#473: a Tesla K10, compute capability 3.0, in EXCLUSIVE_THREAD mode)
    ignored = not told and facts.machine.observed("gpu-below-min-cc")
    return Finding("gpu.compute-mode", Status.WARN if ignored else Status.FAIL, summary + (
                       "; TensorFlow left the GPU out for its compute capability first (see "
                       "compat.compute-capability)" if ignored else ""),
                   (*(f"GPU {g.index}: {_MODE_TEXT['exclusive-thread']}" for g in gpus[:8]),
                    *(e.describe() for e in told[:2])),
                   fix=Fix("Set the compute mode to Default (or EXCLUSIVE_PROCESS, which TensorFlow works in: one "
                           "process at a time).", tuple(f"sudo nvidia-smi -i {i} -c DEFAULT" for i in index),
                           alternatives=(Alternative("to keep one process per GPU on a shared node",
                                                     tuple(f"sudo nvidia-smi -i {i} -c EXCLUSIVE_PROCESS"
                                                           for i in index)),),
                           verify=(MODE_QUERY,)),
                   evidence=told)


def _unavailable_told(facts) -> Finding:
    """CUDA told a program that every device is busy or unavailable (46), and no GPU's compute mode was read: NVIDIA's
    runtime reference names the compute modes first (PROHIBITED, EXCLUSIVE_PROCESS held by another process), then a
    GPU kept busy or left unusable."""
    told = facts.machine.belief("cuda.devices_unavailable")
    code = facts.machine.belief("cuda.init_error")
    evidence = told.evidence if told.value is True else code.evidence
    mig = [g for g in (_gpus(facts) if _nvml_ok(facts) else ()) if g.mig_mode_current and not g.mig_devices]
    if mig:
        # MIG on and no MIG device known: CUDA outside a MIG instance has no device to give (gpu.mig)
        return info("gpu.compute-mode", f"CUDA says every device is busy or unavailable (46), and MIG is enabled on "
                    f"{_which(mig)} with no MIG device recorded: see gpu.mig", *(e.describe() for e in evidence[:2]))
    if facts.machine.observed("nvrm-reset-required"):
        # the kernel log says a GPU needs a reset: that GPU is what is unavailable (gpu.xid)
        return info("gpu.compute-mode", "CUDA says every device is busy or unavailable (46), and the kernel log says "
                    "a GPU needs a reset: see gpu.xid", *(e.describe() for e in evidence[:2]))
    return Finding("gpu.compute-mode", Status.FAIL,
                   "CUDA says every device is busy or unavailable (46): a GPU in a compute mode that refuses this "
                   "process (EXCLUSIVE_PROCESS held by another process, or PROHIBITED) is the usual cause",
                   tuple(e.describe() for e in evidence[:2]),
                   fix=Fix("Read each GPU's compute mode; set it back to Default (on a shared cluster node the "
                           "scheduler sets it: ask its administrator, or request the GPUs exclusively for the job).",
                           (MODE_QUERY, "sudo nvidia-smi -c DEFAULT"),
                           alternatives=(Alternative("every GPU already in Default mode: a process still holds the "
                                                     "GPU, or it needs a reset after an Xid error",
                                                     ("nvidia-smi --query-compute-apps=pid,process_name,used_memory "
                                                      "--format=csv", "sudo dmesg | grep -i xid")),),
                           verify=(MODE_QUERY,
                                   verify_only(facts, "cuda.init"))),
                   evidence=evidence)


@check(
    "gpu.compute-mode",
    area="gpu",
    title="Compute mode",
    needs=("nvml",),
    after=("nvml.init",),
    what="Reads each GPU's compute mode (Default, Exclusive_Process, Prohibited) and whether another process "
         "already holds a GPU that allows only one.",
    why="A GPU in PROHIBITED mode accepts no CUDA context; in EXCLUSIVE_PROCESS mode only the first process gets it, "
        "and TensorFlow in a second process fails with CUDA_ERROR_DEVICE_UNAVAILABLE (46) or sees no GPU. Cluster "
        "schedulers set these modes and sometimes leave them behind.",
    fix="`sudo nvidia-smi -i <gpu> -c DEFAULT`, or stop the process that holds the exclusive GPU.",
)
def check_compute_mode(facts) -> Finding:
    unavailable = (facts.machine.value("cuda.init_error") == "46"
                   or facts.machine.value("cuda.devices_unavailable") is True)
    gpus = _gpus(facts) if _nvml_ok(facts) else ()
    known = [g for g in gpus if g.compute_mode]
    if not known and unavailable and facts.machine.value("wsl") is True:
        # under WSL2 the GPU is the Windows driver's (WDDM), whose compute mode WSL cannot set: CUDA's 46 there is the
        # Windows build or driver refusing the GPU to WSL (microsoft/WSL#6014, an Insider build), see env.wsl
        return skip("gpu.compute-mode", "WSL2: the Windows driver serves the GPU, so its compute mode is not this "
                                        "distribution's; CUDA's 'devices unavailable' is read by env.wsl")
    if not known and unavailable:
        return _unavailable_told(facts)
    if not known and facts.machine.value("cuda.context_in_use") is True:
        return _exclusive_thread(facts, [])
    if not _nvml_ok(facts):
        return skip("gpu.compute-mode", "NVML did not answer (see nvml.init)")
    if not known:
        return skip("gpu.compute-mode", "No GPU reported its compute mode")
    prohibited = [g for g in known if g.compute_mode == "prohibited"]
    thread = [g for g in known if g.compute_mode == "exclusive-thread"]
    if thread and not prohibited:
        # StreamExecutor (TensorFlow's GPU layer) binds a GPU's context to several threads: the deprecated
        # EXCLUSIVE_THREAD mode refuses that (CUDA_ERROR_CONTEXT_ALREADY_IN_USE), whoever else holds the GPU
        return _exclusive_thread(facts, thread)
    taken = [g for g in known if g.compute_mode in ("exclusive-process", "exclusive-thread")
             and any(p.type in ("C", "C+G") for p in g.processes)]
    if prohibited or taken:
        bad = prohibited or taken
        g = bad[0]
        holders = ", ".join(f"{p.name or '?'} (pid {p.pid})" for p in g.processes if p.type in ("C", "C+G"))
        summary = (f"{_which(prohibited)} in compute mode PROHIBITED: no CUDA program can use it" if prohibited else
                   f"{_which(taken)} in compute mode EXCLUSIVE_PROCESS and already held by {holders}")
        return fail("gpu.compute-mode", summary,
                    *(f"GPU {x.index}: {_MODE_TEXT.get(x.compute_mode, x.compute_mode)}" for x in bad[:8]),
                    *(["CUDA reported every device busy or unavailable (46)"] if unavailable else []),
                    fix=Fix("Set the compute mode back to Default (or stop the process that holds the GPU).",
                            tuple(f"sudo nvidia-smi -i {x.index} -c DEFAULT" for x in bad[:8]),
                            verify=(MODE_QUERY,)))
    exclusive = [g for g in known if g.compute_mode in ("exclusive-process", "exclusive-thread")]
    if exclusive and unavailable:
        # free when NVML looked, held when CUDA refused the context: one process at a time, and it was not this one
        told = facts.machine.evidence("cuda.devices_unavailable", "cuda.init_error")
        mode = "EXCLUSIVE_THREAD" if all(x.compute_mode == "exclusive-thread" for x in exclusive) else "EXCLUSIVE_PROCESS"
        return Finding("gpu.compute-mode", Status.FAIL, f"{_which(exclusive)} in compute mode {mode}, and CUDA said "
                       "every device was busy or unavailable (46): another process held the GPU",
                       (*(f"GPU {x.index}: {_MODE_TEXT.get(x.compute_mode, x.compute_mode)}" for x in exclusive[:8]),
                        *(e.describe() for e in told[:2])),
                       fix=Fix("Set the compute mode back to Default, so that processes can share the GPU (on a "
                               "cluster node, ask for the GPUs exclusively for the job instead).",
                               tuple(f"sudo nvidia-smi -i {x.index} -c DEFAULT" for x in exclusive[:8]),
                               verify=(MODE_QUERY,)),
                       evidence=told)
    if exclusive:
        return info("gpu.compute-mode", f"{_which(exclusive)} in compute mode EXCLUSIVE_PROCESS: one process at a "
                    "time (free now)")
    return ok("gpu.compute-mode", "Compute mode Default" + (f" on all {len(known)} GPUs" if len(known) > 1 else ""))


# -- gpu.memory-errors ---------------------------------------------------------------------------------------------


def _ecc_told(facts) -> Finding | None:
    """A CUDA program said it hit an uncorrectable ECC error (CUDA_ERROR_ECC_UNCORRECTABLE): CUDA's own word,
    whatever NVML recorded or did not."""
    if (told := facts.machine.told("gpu.ecc_uncorrectable")) is None:
        return None
    return Finding("gpu.memory-errors", Status.FAIL, "A CUDA program hit an uncorrectable ECC memory error "
                   "(CUDA_ERROR_ECC_UNCORRECTABLE): the GPU cannot be used until it is reset",
                   tuple(e.describe() for e in told.evidence[:2]),
                   fix=Fix("Reset the GPU (or reboot): a pending page retirement or row remap takes effect then. If "
                           "the error comes back, the board's memory is failing: take it out of service (RMA).",
                           ("sudo nvidia-smi -r",),
                           alternatives=(Alternative("where the GPU cannot be reset alone (a display or a process "
                                                     "still holds it)", ("sudo reboot",)),),
                           verify=("nvidia-smi -q -d ECC,ROW_REMAPPER,PAGE_RETIREMENT",)),
                   evidence=told.evidence)


def _reset_commands(gpus) -> tuple[str, ...]:
    """Reset each GPU by its index; where one's index is unknown, a reboot resets them all."""
    if any(g.index is None for g in gpus):
        return ("sudo reboot",)
    return tuple(f"sudo nvidia-smi -i {g.index} -r" for g in gpus[:8])


def _query_gpus(facts) -> tuple:
    """The GPUs' memory-error state as a pasted `nvidia-smi -q` shows it (its ECC, Remapped Rows and Retired Pages
    sections: QueryGpu reads like NVML's record), where NVML's record does not give it. A block pasted alone has no
    index."""
    q = getattr(getattr(facts, "sources", None), "smi_query", None)
    return q.gpus if q is not None else ()


def _memory_state_known(g) -> bool:
    return any(v is not None for v in (g.ecc_uncorrected, g.remapped_rows_pending, g.retired_pages_pending,
                                       g.ecc_aggregate_uncorrected))


@check(
    "gpu.memory-errors",
    area="gpu",
    title="GPU memory errors (ECC, row remapping, retired pages)",
    needs=("nvml", "sources"),
    after=("nvml.init",),
    what="Reads NVML's uncorrectable ECC counters (since the driver loaded, and over the GPU's life), the row "
         "remapper's state (rows pending remap, remapping failure: Ampere and later) and the retired pages (older "
         "data-centre GPUs).",
    why="An uncorrectable ECC error corrupts results and kills the process that hit it; a row marked for remapping "
        "or a page pending retirement is only taken out of use at the next GPU reset, so the error can recur until "
        "then; a remapping failure means the board has run out of spare rows and needs service.",
    fix="Reset the GPU (`sudo nvidia-smi -i <gpu> -r`) or reboot to apply pending remaps and retirements; a "
        "remapping failure or growing counts mean the board needs an RMA.",
    links=("https://docs.nvidia.com/deploy/a100-gpu-mem-error-mgmt/index.html",
           "https://docs.nvidia.com/deploy/dynamic-page-retirement/index.html"),
)
def check_memory_errors(facts) -> Finding:
    told = _ecc_told(facts)
    nvml_ok = _nvml_ok(facts)
    asked = [g for g in (_gpus(facts) if nvml_ok else ()) if _memory_state_known(g)]
    if asked:
        return _memory_errors(facts, asked, told)
    pasted = [g for g in _query_gpus(facts) if _memory_state_known(g)]
    if pasted:
        from tfdoctor.machine import Evidence

        found = _memory_errors(facts, pasted, told)
        source = facts.sources.smi_query.source
        shown = tuple(Evidence(source, t, n) for g in pasted for n, t in g.lines)
        return found.with_(evidence=shown) if shown and found.status in (Status.FAIL, Status.WARN) else found
    if not nvml_ok:
        return told or skip("gpu.memory-errors", "NVML did not answer (see nvml.init)")
    return told or skip("gpu.memory-errors", "No GPU here reports ECC or row-remapping state (consumer GPUs have none)")


def _memory_errors(facts, asked, told) -> Finding:
    """The verdict on the GPUs whose memory-error state is known (`told`: a CUDA program's ECC error, if any)."""
    failed = [g for g in asked if g.remapped_rows_failure]
    pending = [g for g in asked if g.remapped_rows_pending or g.retired_pages_pending]
    volatile = [g for g in asked if g.ecc_uncorrected]
    lines = []
    for g in asked:
        parts = []
        if g.ecc_uncorrected:
            parts.append(f"{g.ecc_uncorrected} uncorrectable ECC error(s) since the driver loaded")
        if g.ecc_aggregate_uncorrected:
            parts.append(f"{g.ecc_aggregate_uncorrected} over its life")
        if g.remapped_rows_uncorrectable or g.remapped_rows_correctable:
            parts.append(f"rows remapped: {g.remapped_rows_uncorrectable or 0} uncorrectable, "
                         f"{g.remapped_rows_correctable or 0} correctable")
        if g.remapped_rows_pending:
            parts.append("a row remap is pending")
        if g.remapped_rows_failure:
            parts.append("row remapping FAILED")
        if g.retired_pages_double_bit or g.retired_pages_single_bit:
            parts.append(f"retired pages: {g.retired_pages_double_bit or 0} double-bit, "
                         f"{g.retired_pages_single_bit or 0} single-bit")
        if g.retired_pages_pending:
            parts.append("a page retirement is pending")
        if parts:
            lines.append(f"{'GPU ' + str(g.index) if g.index is not None else 'The GPU'} ({g.name or '?'}): "
                         + "; ".join(parts))
    # a GPU whose index is unknown (one block of `nvidia-smi -q` pasted alone) is named by no command: every GPU's
    # state is read, and a reboot stands in for its reset
    inspect = tuple(dict.fromkeys(f"nvidia-smi -i {g.index} -q -d ECC,ROW_REMAPPER,PAGE_RETIREMENT"
                                  if g.index is not None else "nvidia-smi -q -d ECC,ROW_REMAPPER,PAGE_RETIREMENT"
                                  for g in (failed or pending or volatile)[:4]))
    if failed:
        return fail("gpu.memory-errors", f"{_which(failed)}: row remapping failed (no spare rows left): the board needs "
                    "service", *lines,
                    fix=Fix("Take the GPU out of service and contact the vendor for an RMA (NVIDIA's memory error "
                            "management guide); until then, do not run jobs on it.", verify=inspect))
    if pending:
        return fail("gpu.memory-errors", f"{_which(pending)}: memory rows or pages wait for a GPU reset to be taken out "
                    "of use", *lines,
                    fix=Fix("Reset the GPU when nothing runs on it (or reboot): the pending remap/retirement takes "
                            "effect then.", _reset_commands(pending),
                            verify=inspect))
    if volatile:
        return warn("gpu.memory-errors", f"{_which(volatile)}: uncorrectable ECC errors since the driver loaded", *lines,
                    fix=Fix("Results computed since may be wrong: reset the GPU, and if the count grows the board "
                            "needs service.", _reset_commands(volatile),
                            verify=inspect))
    return told or ok("gpu.memory-errors", "No uncorrectable memory error and no pending row remap or "
                                  "page retirement", *lines)


# -- gpu.persistence-mode ------------------------------------------------------------------------------------------


def _persistenced_failed(facts) -> Finding | None:
    """nvidia-persistenced said in the journal that it could not start (`nvidia-persistenced failed to initialize`):
    the GPUs run without persistence whatever the unit file says. Where its NUMA step failed (GH200: it enables
    memory auto-onlining for the GPU's memory, which only root may do; nvidia-persistenced#11) the line says why."""
    ev = facts.machine.evidence_of("persistenced-failed")
    if not ev:
        return None
    numa = next((o for o in facts.machine.observed("persistenced-failed") if o.group("numa")), None)
    why = (" (its NUMA step failed: on GPUs whose memory is onlined as NUMA nodes, such as GH200, the daemon must run "
           "as root)") if numa is not None else ""
    return Finding("gpu.persistence-mode", Status.WARN, f"nvidia-persistenced failed to start{why}: the GPUs run "
                   "without persistence mode", tuple(e.describe() for e in ev[:3]),
                   fix=Fix("Read why the daemon stopped, fix that (on GH200: let it run as root, without a --user "
                           "option in its unit), and start it again.",
                           ("systemctl status nvidia-persistenced", "journalctl -u nvidia-persistenced -b --no-pager",
                            "sudo systemctl restart nvidia-persistenced"),
                           alternatives=(_alt_pm(),),
                           verify=("nvidia-smi --query-gpu=index,persistence_mode --format=csv",)),
                   evidence=ev[:3])


@check(
    "gpu.persistence-mode",
    area="gpu",
    title="Persistence mode",
    needs=("nvml",),
    after=("nvml.init",),
    what="Reads each GPU's persistence mode (NVML, or nvidia-smi's Persistence-M column).",
    why="Without persistence (nvidia-persistenced) the driver tears a headless GPU's state down when the last CUDA "
        "program exits and builds it again for the next one: every TensorFlow start pays that initialisation (up to "
        "seconds per GPU on servers), ECC and clock settings reset, and NVIDIA recommends the daemon on Linux compute "
        "nodes.",
    fix="`sudo systemctl enable --now nvidia-persistenced` (or `sudo nvidia-smi -pm 1` until the next reboot).",
    links=("https://docs.nvidia.com/deploy/driver-persistence/index.html",),
)
def check_persistence(facts) -> Finding:
    told = facts.machine.evidence_of("container-cli-driver-timeout")
    if told:
        # the container library gave up waiting for the driver: it initialises every GPU anew for each client
        return Finding("gpu.persistence-mode", Status.FAIL, "nvidia-container-cli timed out waiting for the driver: "
                       "without persistence mode the driver initialises every GPU again for each client",
                       tuple(e.describe() for e in told[:2]),
                       fix=Fix("Run the persistence daemon so the driver keeps the GPUs initialised between clients.",
                               ("sudo systemctl enable --now nvidia-persistenced",), alternatives=(_alt_pm(),),
                               verify=("nvidia-smi --query-gpu=index,persistence_mode --format=csv",
                                       "docker run --rm --gpus all ubuntu nvidia-smi -L")),
                       evidence=told)
    if (failed := _persistenced_failed(facts)) is not None:
        return failed
    if not _nvml_ok(facts):
        return skip("gpu.persistence-mode", "NVML did not answer (see nvml.init)")
    gpus = [g for g in _gpus(facts) if g.persistence_mode is not None]
    if not gpus:
        return skip("gpu.persistence-mode", "No GPU reported its persistence mode")
    off = [g for g in gpus if g.persistence_mode is False]
    if not off:
        return ok("gpu.persistence-mode", "Persistence mode on" + (f" on all {len(gpus)} GPUs" if len(gpus) > 1 else ""))
    fix = Fix("Run the persistence daemon so the driver keeps the GPUs initialised between programs.",
              ("sudo systemctl enable --now nvidia-persistenced",),
              alternatives=(_alt_pm(),), verify=("nvidia-smi --query-gpu=index,persistence_mode --format=csv",))
    # A data-centre GPU (ECC memory) in a server is where persistence is expected; on a desktop it is a choice.
    server = [g for g in off if g.ecc_mode_current is True or g.fabric_state not in (None, "not-supported")]
    if server:
        return warn("gpu.persistence-mode", f"Persistence mode is off on {_which(off)}: every CUDA start "
                    "re-initialises the GPU", fix=fix)
    return info("gpu.persistence-mode", f"Persistence mode is off on {_which(off)} (each CUDA start re-initialises a "
                "GPU that no display keeps awake)", fix=fix)


def _alt_pm():
    from tfdoctor.model import Alternative

    return Alternative("until the next reboot, without the daemon", ("sudo nvidia-smi -pm 1",))


# -- gpu.memory-in-use ---------------------------------------------------------------------------------------------


_CONTEXT_CREATION = textmatch.compile(r"cuDevicePrimaryCtxRetain|cuCtxCreate")


def _held_by_others_fix(who: str = "or wait for them", *alternatives) -> Fix:
    """Other processes hold the GPU's memory: list them, stop those that should not run, or use another GPU."""
    return Fix(f"List the processes that hold the GPU and stop the ones that should not ({who}), or run on another "
               "GPU.", (APPS_QUERY,), alternatives=alternatives, verify=(MEMORY_QUERY,))


_UNIT_MIB = {"bytes": 1 / 1024 ** 2, "KiB": 1 / 1024, "KB": 1 / 1024, "MiB": 1, "MB": 1, "GiB": 1024, "GB": 1024,
             "TiB": 1024 ** 2, "TB": 1024 ** 2}


def _mib(value: str | None, unit: str | None) -> float | None:
    try:
        return float(value) * _UNIT_MIB[unit] if value and unit in _UNIT_MIB else None
    except ValueError:
        return None


def _torch_says_others_hold(facts) -> Finding | None:
    """PyTorch's out-of-memory message breaks the GPU's memory down: total, free, and what this process holds. What is
    neither free nor this process's is held by other processes (facebookresearch/denoiser#135's answer)."""
    for o in facts.machine.observed("torch-oom-breakdown"):
        total = _mib(o.group("total"), o.group("total_unit")) or _mib(o.group("total2"), o.group("total2_unit"))
        free = _mib(o.group("free"), o.group("free_unit"))
        free = free if free is not None else _mib(o.group("free2"), o.group("free2_unit"))
        held = [_mib(o.group(g), o.group(g + "_unit")) for g in ("held", "cached", "held2")]
        held = next((h for h in held if h is not None), None)
        if o.group("cached") is not None and held is not None:
            # PyTorch <= 1.3's `cached` is what its allocator holds beyond what is allocated: the process holds both
            held += _mib(o.group("allocated"), o.group("allocated_unit")) or 0
        if not total or free is None or held is None:
            continue
        others = total - free - held
        if others < OTHERS_HOLD_WARN * total or others < CONTEXT_ALLOWANCE_MIB:
            # the program itself holds the memory: a batch too large, not another process (on a small card its own
            # CUDA context is a large share: 700 of 983 MiB outside PyTorch's allocator on a 1 GB card)
            return None
        ev = facts.machine.evidence_of("torch-oom-breakdown")[:1]
        return Finding("gpu.memory-in-use", Status.FAIL,
                       f"PyTorch ran out of GPU memory while other processes held {others:.0f} of {total:.0f} MiB "
                       f"(this process held {held:.0f} MiB, {free:.0f} MiB was free)",
                       tuple(e.describe() for e in ev),
                       fix=_held_by_others_fix("leftovers of earlier runs, another user's job"),
                       evidence=ev)
    return None


def _taken_before_start(facts, oom) -> Finding | None:
    """TensorFlow 0.x-1.x logged the GPU's free memory when it started (`Free memory: 190.31MiB` of `Total memory:
    7.92GiB`): what other processes left it. Little of it free means another process held the GPU (tensorflow#8170)."""
    total = free = None
    for o in facts.machine.observed("tf-device-memory"):
        total = total or _mib(o.group("total"), o.group("total_unit"))
        free = free or _mib(o.group("free"), o.group("free_unit")) or _mib(o.group("free2"), o.group("free2_unit"))
        if total and free is not None:
            break
    if not oom or not total or free is None or free >= TAKEN_AT_START * total:
        return None  # (without an out-of-memory error, little free memory is no failure: a Jetson shares its RAM)
    named = " ".join(o.line for o in facts.machine.observed("tf-device-properties", "device-created",
                                                             "tf-creating-device-old"))
    if textmatch.search(r"(?i)tegra|jetson|xavier|orin|\bga10b\b", named):
        return None  # an integrated GPU: its 'free memory' is the system's RAM
    ev = facts.machine.evidence_of("tf-device-memory")[:2] + tuple(oom[:1])
    summary = (f"When TensorFlow started, only {free:.0f} of {total:.0f} MiB of the GPU's memory was free: other "
               "processes held the rest, and TensorFlow ran out of memory")
    return Finding("gpu.memory-in-use", Status.FAIL, summary,
                   tuple(e.describe() for e in ev),
                   fix=_held_by_others_fix(),
                   evidence=ev)


_OWN_ALLOCATOR = textmatch.compile(r"ran out of memory trying to allocate|OOM when allocating tensor|"
                                   r"CUDA out of memory\. Tried to allocate")


def _device_refused(facts) -> Finding | None:
    """CUDA itself refused a device allocation (`failed to allocate 106.88M (112066560 bytes) from device:
    CUDA_ERROR_OUT_OF_MEMORY`) and no allocator of the program reported running out: the GPU's memory was taken when
    the program asked. By another process in squeezeDet#77 (another user's job), tensorflow/models#892 (a suspended
    training run) and tensorflow#8170; by the program's own earlier reservation in tensorflow#30912 (TensorFlow 1.14
    reserved the GPU, then cuBLAS' own allocation failed) and by other workers of one program in tensorflow#12237.
    Nothing in the line says which, so this warns and names both; where the program's own allocator ran out as
    well, its own tensors filled the GPU and this says nothing."""
    refused = facts.machine.evidence_of("cuda-device-alloc-refused")
    if not refused:
        return None
    if any(_OWN_ALLOCATOR.search(e.line) for e in facts.machine.evidence_of("out-of-memory")):
        return None
    first = next(iter(facts.machine.observed("cuda-device-alloc-refused")), None)
    size, asked = (first.group("size"), first.group("bytes")) if first is not None else (None, None)
    if asked and asked.isdigit() and int(asked) >= REFUSED_LARGE_MIB * 2 ** 20:
        # a request of gigabytes refused (TensorFlow's start-up reservation of its memory fraction, a large tensor):
        # the request may be more than the card has free on its own (facenet's fraction 1.0 of a 6 GB card, a model
        # too big for a 4 GB card): no sign of another process
        return None
    summary = ("CUDA refused a request for GPU memory" + (f" ({size})" if size else "") + " with "
               "CUDA_ERROR_OUT_OF_MEMORY: the GPU's memory was already taken, by another process (a leftover or "
               "suspended run, another user's job, another worker of this program) or by this program's own "
               "earlier reservation")
    return Finding("gpu.memory-in-use", Status.WARN, summary, tuple(e.describe() for e in refused[:2]),
                   fix=_held_by_others_fix("leftovers of earlier runs, suspended jobs, another user's job",
                                           Alternative("only this program holds the GPU: let TensorFlow grow its "
                                                       "reservation instead of taking the GPU's memory at start",
                                                       ("export TF_FORCE_GPU_ALLOW_GROWTH=true",))),
                   evidence=refused[:2])


def _dnn_without_memory(facts) -> Finding | None:
    """cuDNN could not start for lack of GPU memory: XLA's `There was an error before creating cudnn handle (2):
    cudaErrorMemoryAllocation`, TensorFlow's `Could not create cudnn handle: CUDNN_STATUS_ALLOC_FAILED`. The memory
    was taken before the program's first convolution: JAX and TensorFlow each reserve most of a GPU when they start,
    so a second such process (or both frameworks in one process) leaves the later one none (JAX's maintainers in
    jax#17217 and jax#12461; tensorflow#24496's allow_growth). The line does not say which, so this warns."""
    m = facts.machine
    told = m.evidence_of("dnn-handle-out-of-memory") or tuple(
        e for e in m.evidence_of("cudnn-handle-failed") if "CUDNN_STATUS_ALLOC_FAILED" in e.line)
    if not told:
        return None
    return Finding("gpu.memory-in-use", Status.WARN,
                   "cuDNN could not start for lack of GPU memory: the GPU's memory was taken before the program's "
                   "first convolution, by another process (a second JAX or TensorFlow program: each reserves most of "
                   "the GPU when it starts) or by another framework in this process",
                   tuple(e.describe() for e in told[:2]),
                   fix=_held_by_others_fix("a second notebook or training run", Alternative(
                       "two programs (or two frameworks) must share the GPU: let each grow its reservation instead of "
                       "taking most of the GPU at start (JAX, TensorFlow)",
                       ("export XLA_PYTHON_CLIENT_PREALLOCATE=false", "export TF_FORCE_GPU_ALLOW_GROWTH=true"))),
                   evidence=told[:2])


def _tensorflows_own(facts, busy) -> bool:
    """Outputs pasted from the user's session (a hand-built snapshot), where TensorFlow's log shows it created its GPU
    device and every process holding the memory is a Python interpreter: that is the TensorFlow program itself, which
    reserves most of the GPU's memory by default. Live, or in a recorded snapshot, tfdoctor reads NVML before its own
    TensorFlow child starts, so a Python process there is another program."""
    sees = facts.machine.belief("tf.sees_gpu")
    if facts.machine.complete or sees.value is not True or not any(e.message for e in sees.evidence):
        return False
    names = [(p.name or "").strip() for g in busy for p in g.processes]
    return bool(names) and all(textmatch.search(r"(?:^|/)python[\d.]*$", n) is not None for n in names)


@check(
    "gpu.memory-in-use",
    area="gpu",
    title="GPU memory held by other processes",
    needs=("nvml", "sources"),
    after=("nvml.init", "gpu.compute-mode"),
    what="Reads how much of each GPU's memory is in use before TensorFlow starts, and which processes hold it "
         "(NVML's compute and graphics process lists).",
    why="TensorFlow reserves most of the free GPU memory at its first GPU operation; memory another process already "
        "holds is not free, so TensorFlow fails with CUDA_ERROR_OUT_OF_MEMORY on its first allocation or runs with a "
        "fraction of the GPU. On a shared server a leftover process from an earlier job is the usual cause.",
    fix="Stop the processes named (or wait for them), pick another GPU with CUDA_VISIBLE_DEVICES, or share the GPU "
        "deliberately (`TF_FORCE_GPU_ALLOW_GROWTH=true`, `tf.config.experimental.set_memory_growth`).",
)
def check_memory_in_use(facts) -> Finding:
    # CUDA could not even create a context (it needs a few hundred MB): the memory was taken before the program
    # allocated anything (tensorflow#14475: 'there is no space in GPU, you would like to kill one process')
    oom = facts.machine.evidence_of("out-of-memory")
    # TensorFlow's own words for the same thing: its first CUDA call, which makes the context, ran out of memory
    no_context = tuple(e for e in oom if _CONTEXT_CREATION.search(e.line)) + facts.machine.evidence_of(
        "tf-runtime-init-out-of-memory")
    oom = oom + tuple(e for e in no_context if e not in oom)
    if no_context and not _nvml_ok(facts):
        return Finding("gpu.memory-in-use", Status.FAIL, "CUDA could not create a context for lack of GPU memory: the "
                       "memory was taken before the program started, by other processes",
                       tuple(e.describe() for e in no_context[:2]),
                       fix=_held_by_others_fix("or wait for them", Alternative(
                           "another GPU of this machine is free (the verify command lists them): set "
                           "CUDA_VISIBLE_DEVICES to its index", ())),
                       evidence=no_context)
    if (others := _torch_says_others_hold(facts)) is not None:
        return others
    if not _nvml_ok(facts):
        return _taken_before_start(facts, oom) or _device_refused(facts) or _dnn_without_memory(facts) or \
            skip("gpu.memory-in-use", "NVML did not answer (see nvml.init)")
    gpus = [g for g in _gpus(facts) if g.memory_total_mib]
    if not gpus:
        return _dnn_without_memory(facts) or skip("gpu.memory-in-use", "No GPU reported its memory")
    busy, some = [], []
    lines = []
    for g in gpus:
        held = sum(p.used_mib or 0 for p in g.processes)
        who = ", ".join(f"{p.name or '?'} (pid {p.pid}, {p.used_mib if p.used_mib is not None else '?'} MiB)"
                        for p in g.processes)
        if g.processes:
            lines.append(f"GPU {g.index}: {g.memory_used_mib if g.memory_used_mib is not None else '?'} of "
                         f"{g.memory_total_mib} MiB in use; {who}")
        full = g.memory_used_mib is not None and g.memory_used_mib >= MEMORY_FULL * g.memory_total_mib
        if g.processes and (full or held >= OTHERS_HOLD_WARN * g.memory_total_mib):
            busy.append(g)
        elif g.processes:
            some.append(g)
    if busy and not oom and _tensorflows_own(facts, busy):
        return info("gpu.memory-in-use", f"{_which(busy)}: the memory is held by Python, the TensorFlow program whose "
                    "log was recorded (it registered the GPU): TensorFlow reserves most of a GPU's memory by "
                    "default", *lines,
                    fix=Fix("To leave memory for other programs, let TensorFlow grow its reservation instead.",
                            ("export TF_FORCE_GPU_ALLOW_GROWTH=true",)))
    if busy and not oom and all("G" in (p.type or "").upper() for g in busy for p in g.processes):
        # nothing failed, and every process that holds the memory draws on the screen (the X server, the desktop
        # shell, a browser: type G or C+G): the desktop's own use, not a leftover job (a GRID vGPU's Xorg and
        # gnome-shell in NVIDIA's forum thread 108848: 'normal')
        return info("gpu.memory-in-use", f"{_which(busy)}: most of the memory is held by the desktop's graphics "
                    "processes (the X server, the desktop shell, applications drawing on the screen); TensorFlow gets "
                    "the rest", *lines)
    if busy:
        pids = sorted({p.pid for g in busy for p in g.processes if p.pid is not None})[:8]
        fix = Fix("Stop the processes that hold the GPU (if they are leftovers), or run TensorFlow on another GPU.",
                  (APPS_QUERY,
                   *([f"kill {' '.join(str(p) for p in pids)}"] if pids else [])),
                  verify=(MEMORY_QUERY,))
        status = Status.FAIL if oom else Status.WARN
        summary = (f"{_which(busy)}: most of the memory is already held by other processes"
                   + (": TensorFlow ran out of memory" if oom else ""))
        return Finding("gpu.memory-in-use", status, summary, (*lines, *(e.describe() for e in oom[:2])), fix=fix,
                       evidence=oom)
    if some:
        return info("gpu.memory-in-use", f"Other processes use {_which(some)} (TensorFlow gets the rest)", *lines)
    if (hidden := _held_by_unlisted(facts, gpus, oom)) is not None:
        return hidden
    # nvidia-smi's table without its Processes section: how much memory is in use is known, who holds it is not
    unlisted = [g for g in gpus if not g.processes_listed and g.memory_used_mib is not None
                and g.memory_used_mib >= OTHERS_HOLD_WARN * g.memory_total_mib]
    used = [f"GPU {g.index}: {g.memory_used_mib} of {g.memory_total_mib} MiB in use" for g in unlisted]
    taken = [g for g in unlisted if g.memory_used_mib >= MEMORY_FULL * g.memory_total_mib]
    if taken and no_context:
        # CUDA could not even start for lack of memory, and the GPU's memory was full: taken before the program ran
        return Finding("gpu.memory-in-use", Status.FAIL,
                       f"CUDA could not start for lack of GPU memory, and {_which(taken)} had almost none free: "
                       "other processes hold the memory",
                       (*used, *(e.describe() for e in no_context[:2])),
                       fix=_held_by_others_fix("or wait for them", Alternative(
                           "another GPU of this machine is free (the verify command lists them): set "
                           "CUDA_VISIBLE_DEVICES to its index", ())),
                       evidence=no_context)
    if unlisted:
        return info("gpu.memory-in-use", f"Most of the memory of {_which(unlisted)} is in use; which processes hold "
                    "it was not recorded (paste the Processes section of `nvidia-smi`)", *used)
    return _dnn_without_memory(facts) or ok("gpu.memory-in-use", "No other process holds GPU memory")


def _held_by_unlisted(facts, gpus, oom) -> Finding | None:
    """nvidia-smi listed its processes and there were none, yet most of a GPU's memory was in use: held by processes
    nvidia-smi cannot see from here (another container's or another PID namespace's, a process stuck in the driver).
    Inside a container that is how the host's processes look: a warning only where the program ran out of memory or
    this is known not to be a container."""
    held = [g for g in gpus if g.processes_listed and not g.processes and g.memory_used_mib is not None
            and g.memory_used_mib >= OTHERS_HOLD_WARN * g.memory_total_mib]
    if not held:
        return None
    used = [f"GPU {g.index}: {g.memory_used_mib} of {g.memory_total_mib} MiB in use, no process listed" for g in held]
    if facts.machine.value("container") is not False and not oom:
        return info("gpu.memory-in-use", f"Most of the memory of {_which(held)} is in use and nvidia-smi lists no "
                    "process: processes it cannot see from here hold it (in a container, the host's and other "
                    "containers' processes look like this)", *used)
    return Finding("gpu.memory-in-use", Status.FAIL if oom else Status.WARN,
                   f"Most of the memory of {_which(held)} is in use but nvidia-smi lists no process: it is held by "
                   "processes nvidia-smi cannot see from here (another container's, another user's PID namespace, or "
                   "one stuck in the driver)" + (": the program ran out of memory" if oom else ""),
                   (*used, *(e.describe() for e in oom[:2])),
                   fix=_held_by_others_fix("or wait for them", Alternative(
                       "nothing of yours runs on it and the memory stays held: reset the GPU (or reboot)",
                       ("sudo nvidia-smi -r",))),
                   evidence=oom)


# -- gpu.xid -------------------------------------------------------------------------------------------------------

_SEVERITY_RANK = {"critical": 3, "error": 2, "application": 1, "info": 0}


def _nvml_index_for(facts, pci: str | None) -> int | None:
    """The NVML index of the GPU an Xid line names (`PCI:0000:44:00` -> the GPU at 00000000:44:00.0)."""
    if not pci:
        return None
    text = pci.lower().removeprefix("pci:")
    parts = text.split(":")
    if len(parts) < 3:
        return None
    want = (parts[-2], parts[-1].split(".")[0])
    for g in _gpus(facts):
        bus = (g.pci_bus_id or "").lower().split(":")
        if len(bus) >= 3 and (bus[-2], bus[-1].split(".")[0]) == want:
            return g.index
    return None


def _reset_required(facts) -> Finding | None:
    """The driver's firmware call returned NV_ERR_RESET_REQUIRED: a GPU hit an error it cannot recover from without a
    reset, and programs that use it fail (scitix/sichek#51: 'busy or unavailable' only where the NCCL test included
    that GPU). The line names no GPU; the Xid lines around it, where there are any, do."""
    m = facts.machine
    told = m.evidence_of("nvrm-reset-required")
    if not told:
        return None
    xids = [o for o in m.observed("nvrm-xid") if o.group("pci")]
    idx = _nvml_index_for(facts, xids[-1].group("pci")) if xids else None
    where = f" (GPU {idx})" if idx is not None else (f" ({xids[-1].group('pci')}, as its Xid names it)" if xids else "")
    return Finding("gpu.xid", Status.FAIL, "The NVIDIA driver says a GPU needs a reset (NV_ERR_RESET_REQUIRED)"
                   + where + ": it hit an error it cannot recover from, and programs that use it fail until it is "
                   "reset", tuple(e.describe() for e in (*told[:2], *m.evidence_of("nvrm-xid")[-2:])),
                   fix=Fix("Stop the programs that use the GPU, then reset it (or reboot the node); if it happens "
                           "again, drain the node and report it with an nvidia-bug-report.",
                           ("nvidia-smi --query-compute-apps=pid,process_name --format=csv",
                            f"sudo nvidia-smi -i {idx} -r" if idx is not None else "sudo nvidia-smi -r"),
                           alternatives=(Alternative("the reset is refused (the GPU is in use, or NVLink/NVSwitch "
                                                     "systems that reset GPUs together): reboot the node",
                                                     ("sudo reboot",)),),
                           verify=("sudo dmesg -T | grep -iE 'NV_ERR_RESET_REQUIRED|Xid' | tail -n 5",
                                   "nvidia-smi -L")),
                   evidence=told[:2])


@check(
    "gpu.xid",
    area="gpu",
    title="Xid errors in the kernel log",
    needs=("driver", "datacentre", "nvml", "sources"),
    after=("driver.nvidia-module",),
    what="Finds the NVIDIA driver's Xid reports (`NVRM: Xid (PCI:...): 79, ...`) in this boot's kernel log and, "
         "where the journal keeps it, the previous boot's, and explains each code from NVIDIA's Xid catalogue: "
         "its meaning, likely causes and the action NVIDIA's debug guidelines give.",
    why="An Xid is the driver saying the GPU hit an error: an application fault (13, 31, 43), a memory error (48, "
        "63, 64, 94, 95), a GPU that fell off the bus (79) or firmware that stopped answering (119, 120). Without "
        "its meaning the user reinstalls TensorFlow for what is a hardware, cooling or driver problem; an Xid just "
        "before a reboot explains why the machine was restarted.",
    fix="Follow the action for the code: restart the application (application errors), reset the GPU or reboot "
        "(memory and firmware errors), reseat the card and check power and cooling (79), and contact the vendor when "
        "memory errors repeat.",
    links=("https://docs.nvidia.com/deploy/xid-errors/index.html",),
)
def check_xid(facts) -> Finding:
    m = facts.machine
    events = []  # (code, pci, line, boot)
    for o in m.observed("nvrm-xid"):
        code = o.group("xid")
        if code and code.isdigit():
            events.append((int(code), o.group("pci"), o.line, "this boot"))
    # the codes a person names from their kernel log (no line of it pasted): read as this boot's, marked as stated
    stated = [] if events else [o for o in m.observed("xid-stated") if (o.group("xid") or "").isdigit()]
    for o in stated:
        events.append((int(o.group("xid")), None, o.line, "this boot"))
    dc = facts.datacentre
    for e in getattr(dc, "previous_boot_xids", ()) or ():
        events.append((e.xid, e.pci, e.line, "previous boot"))
    d = facts.driver
    # a kernel log was read: the driver probe's, or one pasted under another command line (the evidence layer's)
    read_now = (d is not None and getattr(d, "kernel_log_source", "none") != "none") or any(
        getattr(src, "kind", None) == "kernel" for src in getattr(facts.sources, "sources", ()) or ())
    if (reset := _reset_required(facts)) is not None:
        return reset
    if not any(code == 8 for code, *_ in events) and (watchdog := m.told("gpu.display_watchdog")) is not None:
        # CUDA's 'the launch timed out' happens only where the kernel execution timeout is on: a GPU that drives a
        # display (NVIDIA's runtime reference; picongpu#2704: the X server on the same Quadro)
        return told_fail("gpu.xid", "A CUDA kernel was stopped by the display watchdog ('the launch timed out and was "
                         "terminated', Xid 8 in the kernel log): this GPU drives a display, which limits how long a "
                         "kernel may run", watchdog,
                         Fix("Run the CUDA work on a GPU that drives no display, or stop the display on this one while "
                             "it runs (the first command lists which GPU drives a display).",
                             ("nvidia-smi --query-gpu=index,name,display_active --format=csv",
                              "sudo systemctl isolate multi-user.target   # stops the desktop until the next boot"),
                             alternatives=(Alternative("keep the desktop on this GPU: turn the watchdog off with "
                                                       "`Option \"Interactive\" \"0\"` in the Device section of "
                                                       "/etc/X11/xorg.conf, then restart the X server", ()),),
                             verify=("nvidia-smi --query-gpu=index,display_active --format=csv",)))
    # Xid 154 reports the GPU's recovery action changing; back to 'None' (0x0) is the GPU recovered, no error
    events = [e for e in events if not (e[0] == 154 and textmatch.search(r"\bto 0x0 \(None\)", e[2]))]
    if not events:
        if not read_now:
            why = f" ({d.kernel_log_error})" if d is not None and getattr(d, "kernel_log_error", None) else ""
            return skip("gpu.xid", f"The kernel log was not read{why}: run "
                                   f"`{tfdoctor_command(facts, 'check', sudo=True)}` to include it")
        also = " or the previous boot's" if getattr(dc, "previous_boot_source", "none") != "none" else ""
        return ok("gpu.xid", f"No Xid error in this boot's kernel log{also}")
    kb = _kb()
    by_code: dict[int, list] = {}
    for ev in events:
        by_code.setdefault(ev[0], []).append(ev)
    lines, worst, worst_code = [], -1, None
    for code, evs in sorted(by_code.items()):
        xi = kb.xid_info(code)
        boots = sorted({b for *_, b in evs})
        head = f"Xid {code} x{len(evs)} ({', '.join(boots)})"
        if xi is None:
            lines.append(f"{head}: not in NVIDIA's catalogue as tfdoctor knows it; {evs[-1][2]}")
            rank = 1
        else:
            lines.append(f"{head}: {xi.name}. Likely causes: {', '.join(xi.causes) or 'see NVIDIA'}. "
                         f"Action: {xi.action}")
            rank = _SEVERITY_RANK.get(xi.severity, 1)
        if any(b == "this boot" for *_, b in evs):
            rank += 10  # an error of the running boot outranks one the reboot already cleared
        if rank > worst:
            worst, worst_code = rank, code
    shown = list(dict.fromkeys((b, line) for _, _, line, b in events))[-4:]  # one line may name two codes
    lines += [f"{b}: {line}" for b, line in shown]
    xi = kb.xid_info(worst_code)
    ev = by_code[worst_code][-1]
    idx = _nvml_index_for(facts, ev[1])
    cmds = ["sudo dmesg -T | grep -i xid"]
    if xi is not None and xi.reset_gpu:
        cmds.append(f"sudo nvidia-smi -i {idx} -r" if idx is not None else "sudo nvidia-smi -r")
    if worst_code in (48, 63, 64, 92, 94, 95, 140):
        cmds.append(f"nvidia-smi{f' -i {idx}' if idx is not None else ''} -q -d ECC,ROW_REMAPPER,PAGE_RETIREMENT")
    fix = Fix(f"Xid {worst_code}: {xi.action if xi else 'look the code up in NVIDIA Xid catalogue'}", tuple(cmds),
              verify=("sudo dmesg -T | grep -i xid | tail -n 5",))
    d3cold = m.evidence_of("pci-d3cold-power-up-failed")
    if worst_code == 79 and d3cold:
        # the GPU fell off the bus coming back from D3cold: runtime power management, not the slot or the card
        # (System76's fix in pop-os/system76-driver#335; linux-surface#376)
        fix = Fix("The GPU did not come back from D3cold, where runtime power management had put it: turn runtime D3 "
                  "off for the NVIDIA driver, rebuild the initramfs and reboot.",
                  ("echo 'options nvidia NVreg_DynamicPowerManagement=0x00' | sudo tee "
                   "/etc/modprobe.d/nvidia-runtime-pm.conf", initramfs_command(facts.env), "sudo reboot"),
                  verify=("cat /proc/driver/nvidia/params | grep DynamicPowerManagement   # 0",
                          "sudo dmesg -T | grep -iE 'D3cold|Xid' | tail -n 5"))
        lines.insert(0, "after: " + d3cold[0].describe())
    evidence = m.evidence_of("nvrm-xid") or m.evidence_of("xid-stated")
    this_boot = worst >= 10
    severity = xi.severity if xi else "error"
    summary = (f"Xid {worst_code} ({xi.name if xi else 'unknown code'}) "
               f"{'in this boot' if this_boot else 'before the last reboot'}"
               + (f" on GPU {idx}" if idx is not None else (f" at {ev[1]}" if ev[1] else ""))
               + (" (as stated: the kernel's lines were not pasted)" if stated else ""))
    if this_boot and severity == "critical":
        return Finding("gpu.xid", Status.FAIL, summary, tuple(lines), fix=fix, evidence=evidence)
    first_xid = min((e.line_no for e in evidence if e.line_no is not None), default=None)
    hung = tuple(e for e in m.evidence_of("kernel-hung-task")
                 if first_xid is not None and e.line_no is not None and e.line_no > first_xid
                 and e.source == evidence[0].source)
    if this_boot and hung:
        # after the Xid a task hung in uninterruptible sleep: a process stuck in the driver, which no signal ends and
        # which keeps the GPU from being reset (gpud#117: Xid 45, D-state tasks, a stuck nvidia-smi; a reboot)
        return Finding("gpu.xid", Status.FAIL, summary + ", and a task hung in the kernel after it (state D): the "
                       "driver is stuck", (*lines, hung[0].describe()),
                       fix=Fix("Processes stuck in the driver cannot be killed and keep the GPU from being reset: "
                               "drain the node and reboot.", ("sudo reboot",),
                               verify=("nvidia-smi",
                                       "sudo dmesg -T | grep -iE 'xid|blocked for more than' | tail -n 5")),
                       evidence=evidence + hung[:1])
    # an application's fault (13, 31, 43) once is that program's bug (vdpau-va-driver-vp9#2: its own invalid
    # structure); the same fault again on one GPU points at the GPU (pytorch#51382: Xid 31s from three processes on
    # one of eight GPUs)
    once = severity == "application" and len(by_code[worst_code]) == 1
    if this_boot and (severity == "error" or severity == "application" and not once) or \
            not this_boot and severity == "critical":
        return Finding("gpu.xid", Status.WARN, summary, tuple(lines), fix=fix, evidence=evidence)
    return Finding("gpu.xid", Status.INFO, summary, tuple(lines), fix=fix, evidence=evidence)
