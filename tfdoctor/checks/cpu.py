"""CPU checks: the AVX that TensorFlow's wheels require, and the faster instruction sets it can use."""

from __future__ import annotations

from tfdoctor.checks import check
from tfdoctor.checks.commands import tf_import_line
from tfdoctor.machine import Evidence
from tfdoctor.model import Alternative, Finding, Fix, Status, info, ok, skip

# /proc/cpuinfo flag -> the name TensorFlow's cpu_feature_guard prints
FEATURES = (("avx", "AVX"), ("avx2", "AVX2"), ("fma", "FMA"), ("avx512f", "AVX512F"), ("avx512_vnni", "AVX512_VNNI"),
            ("avx512_bf16", "AVX512_BF16"), ("avx512_fp16", "AVX512_FP16"), ("avx_vnni", "AVX_VNNI"),
            ("amx_tile", "AMX_TILE"), ("amx_int8", "AMX_INT8"), ("amx_bf16", "AMX_BF16"), ("sse4_2", "SSE4.2"))


AVX_FIX = Fix("Run TensorFlow on a CPU with AVX, or build it from source without AVX.", (),
              alternatives=(Alternative("in a virtual machine whose host CPU has AVX: give the VM the host's CPU model "
                                        "(libvirt: <cpu mode='host-passthrough'/> in `virsh edit`; QEMU: -cpu host), "
                                        "then restart the VM", ()),),
              verify=("grep -o -w 'avx[^ ]*' /proc/cpuinfo | sort -u   # empty: no AVX",))


def flags_cut(cpu) -> bool:
    """A flags line that lacks sse2, which every x86-64 CPU has, was cut (a paste, a copy that stopped mid-line): what
    it lacks says nothing (LocalAI's report in the corpus cut it after `fpu vme de pse tsc msr`)."""
    return cpu.source != "none" and cpu.arch == "x86" and bool(cpu.flags) and "sse2" not in cpu.flags


def _gib(n: int | None) -> str:
    return f"{n / 2**30:.1f} GiB RAM" if n else "memory unknown"


@check(
    "cpu.avx",
    area="cpu",
    title="AVX support",
    needs=("cpu",),
    what="Reads the CPU flags in /proc/cpuinfo and looks for AVX (and AVX2/FMA).",
    why="TensorFlow's prebuilt x86 wheels have used AVX instructions since 1.6: on a CPU (or a virtual machine "
        "that hides the host's flags) without AVX, `import tensorflow` dies with `Illegal instruction (core "
        "dumped)` before printing anything. Some older wheels also crashed on CPUs with AVX but without AVX2/FMA.",
    fix="Run on a CPU with AVX. In a virtual machine, expose the host CPU's flags (libvirt `<cpu mode='host-passthrough'/>`, "
        "QEMU `-cpu host`, VirtualBox: disable Hyper-V on the host). Otherwise build TensorFlow from source without "
        "AVX or use a community wheel built without it.",
    links=("https://github.com/tensorflow/tensorflow/issues/19104",),
)
def check_avx(facts) -> Finding:
    cpu = facts.cpu
    crashed = facts.machine.belief("cpu.tf_instructions_missing")
    cut = flags_cut(cpu)
    if (cpu.source == "none" or cut) and crashed.value is True:
        # The CPU's flags are unknown, but TensorFlow died with SIGILL (or said so): TensorFlow's x86 wheels use AVX
        # since 1.6, and the maintainers' answer to "Illegal instruction" on import is a CPU without AVX.
        return Finding("cpu.avx", Status.FAIL, "TensorFlow died with an illegal instruction: this CPU (or the virtual "
                       "CPU of this VM) most likely lacks AVX, which TensorFlow's wheels need since 1.6",
                       tuple(e.describe() for e in crashed.evidence[:2]) + (
                           ("The CPU's flags line was cut (it lacks sse2)" if cut else "The CPU's flags were not "
                            "recorded") + ": the verify command below settles it.",),
                       fix=AVX_FIX, evidence=crashed.evidence)
    told = facts.machine.belief("cpu.vector_extensions_missing_told")
    if (cpu.source == "none" or cut) and told.value is True:
        # a program built for AVX said the CPU has none: Ollama's GPU runners (ollama#7989: a VM without CPU
        # passthrough), an NGC container's start-up check (object-detection-tensorrt-example#2: a 2009 Xeon)
        ngc = bool(facts.machine.observed("ngc-container-cpu-lacks-avx"))
        return Finding("cpu.avx", Status.FAIL,
                       "NVIDIA's container found no AVX on this CPU: the software in it is built for AVX and crashes "
                       "with an illegal instruction (a CPU without it, or a virtual machine's CPU that hides the "
                       "host's)" if ngc else
                       "The program found no AVX on this CPU and disabled GPU inference: its GPU runners need AVX (a "
                       "CPU without it, or a virtual machine's CPU that hides the host's)",
                       tuple(e.describe() for e in told.evidence[:2]),
                       fix=Fix("Give the CPU the program sees AVX: in a virtual machine, pass the host's CPU model "
                               "through, then restart the VM; on a CPU without AVX, this build cannot run (nor use the "
                               "GPU): use a CPU with AVX.", (),
                               alternatives=(Alternative("libvirt: <cpu mode='host-passthrough'/> in `virsh edit`; "
                                                         "QEMU: -cpu host; Proxmox: the VM's CPU type 'host'", ()),),
                               verify=("grep -o -w 'avx[^ ]*' /proc/cpuinfo | sort -u   # empty: no AVX",)),
                       evidence=told.evidence)
    if cpu.source == "none":
        return skip("cpu.avx", "/proc/cpuinfo was not readable" if facts.machine.complete else "/proc/cpuinfo was not recorded (paste the flags line of `grep -m1 flags /proc/cpuinfo`)")
    if cpu.arch == "arm":
        return info("cpu.avx", "ARM CPU: AVX does not apply (TensorFlow's aarch64 wheels target ARMv8)")
    if cut:
        return skip("cpu.avx", "The CPU's flags line was cut (it lacks sse2, which every x86-64 CPU has): paste the "
                               "whole line of `grep -m1 flags /proc/cpuinfo`")
    model = cpu.model or "this CPU"
    if "avx" not in cpu.flags:
        flags = f"CPU flags: {' '.join(sorted(cpu.flags))}"
        return Finding("cpu.avx", Status.FAIL, f"{model} has no AVX: TensorFlow's wheels crash with 'Illegal "
                       "instruction'", (flags,), fix=AVX_FIX,
                       evidence=(Evidence("/proc/cpuinfo", (f"{cpu.model}; " if cpu.model else "")
                                          + f"flags without avx: {flags[11:][:400]}"),
                                 *facts.machine.area_evidence("cpu")))
    missing = [name for flag, name in (("avx2", "AVX2"), ("fma", "FMA")) if flag not in cpu.flags]
    if crashed.value is True:
        # TensorFlow executed an instruction this CPU lacks although it has AVX: the build uses AVX2/FMA (the 2.4.0
        # wheels did by mistake, tensorflow/tensorflow#45744; so do builds with -march=haswell or newer), or beyond
        if missing:
            status, summary = Status.FAIL, (f"TensorFlow died with an illegal instruction: {model} has AVX but not "
                                            f"{' or '.join(missing)}, which this TensorFlow build uses")
            how = ("Install a TensorFlow build that needs only AVX: another release of the official wheel (the 2.4.0 "
                   "wheels required AVX2 by mistake), or one built from source for this CPU (bazel build with "
                   "--copt=-march=native).")
        else:
            status, summary = Status.WARN, (f"TensorFlow died with an illegal instruction although {model} has AVX, "
                                            "AVX2 and FMA: this build uses instructions beyond them (AVX-512, or a "
                                            "build for a newer CPU)")
            how = ("Install the official TensorFlow wheel (it needs only AVX), or rebuild TensorFlow for this CPU "
                   "(bazel build with --copt=-march=native).")
        details = tuple(e.describe() for e in crashed.evidence[:2]) + (
            (f"CPU flags: AVX yes, {', '.join(missing)} no",) if missing else ())
        return Finding("cpu.avx", status, summary, details,
                       fix=Fix(how, (), verify=(tf_import_line(facts.tensorflow),)), evidence=crashed.evidence)
    if missing:
        return info("cpu.avx", f"{model} has AVX but not {' or '.join(missing)}",
                    "Current TensorFlow wheels need only AVX; a few older ones crashed on such CPUs.")
    return ok("cpu.avx", f"AVX, AVX2 and FMA are available on {model}")


@check(
    "cpu.features",
    area="cpu",
    title="CPU features, cores and memory",
    needs=("cpu",),
    what="Lists the vector instruction sets TensorFlow can use (AVX-512, VNNI, BF16, AMX), the core count and "
         "the memory.",
    why="These decide how fast TensorFlow trains on the CPU, the baseline `tfdoctor bench` compares GPUs against. "
        "TensorFlow's `This TensorFlow binary is optimized to use available CPU instructions` log line is about "
        "these and is informational, never the cause of a GPU problem.",
    fix="Nothing to fix: informational.",
)
def check_features(facts) -> Finding:
    cpu = facts.cpu
    if cpu.source == "none":
        return skip("cpu.features", "/proc/cpuinfo was not readable" if facts.machine.complete else "/proc/cpuinfo was not recorded")
    have = [name for flag, name in FEATURES if flag in cpu.flags]
    cores = f"{cpu.logical_cpus} logical CPUs" if cpu.logical_cpus else "CPU count unknown"
    sets = "instruction sets unknown (the flags line was cut)" if flags_cut(cpu) else (
        " ".join(have) or "no AVX-class features")
    return info("cpu.features", f"{cores}, {_gib(cpu.memory_total_bytes)}; {sets}",
                *([f"model: {cpu.model}"] if cpu.model else []))
