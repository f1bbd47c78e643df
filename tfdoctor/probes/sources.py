"""The text sources a machine's programs printed, for the evidence layer: the kernel log, nvidia-smi, modprobe,
dkms, mokutil, ubuntu-drivers, TensorFlow's log, and (in a hand-built snapshot) whatever else the user pasted under
a command's name (docker, nvidia-container-cli, NVIDIA's installer, ...).

Facts only: it collects text and matches it against the catalogue (tfdoctor/evidence.py); the model decides what
the observations mean together. Commands the other probes ran are not run again (the Host runs each once).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tfdoctor.evidence import ANY, TENSORFLOW_LOG, Observation, Source, observe_all, strip_collector_stamp
from tfdoctor.probes import probe
from tfdoctor.probes.datacentre import DATACENTRE_KEYS

# Keys the other probes read themselves (their outputs are already sources above): these exactly, and every key
# starting with one of the prefixes (their parsers read any variant: `lspci -nnk`, `lspci -v`, `uname -a`)
_PROBE_KEYS_EXACT = ("nvidia-smi", "dmesg", "journalctl_-k_-b_--no-pager", "mokutil_--sb-state", "ubuntu-drivers_devices",
                     "modinfo_nvidia", "modprobe_--dry-run_nvidia", "python-info", "dkms_status")
_PROBE_KEY_PREFIXES = ("lsmod", "lspci", "uname", "dpkg_-l", "dpkg_--list", "dpkg_--get-selections", "rpm_-q",
                       "apt_policy", "apt-cache_policy")
# (other dpkg and rpm commands, `dpkg --configure -a` or `dpkg -i`, print what the package scripts printed: a DKMS
# build failing, a post-installation script's exit status; they are read as sources)
# tfdoctor triage writes a paste's text that no recogniser placed under this key (docs/snapshot-format.md)
PASTED_TEXT_KEY = "pasted-text"

# A pasted command's key (argv joined with "_") -> the catalogues that read its output (one source each; the first
# group that names the key decides)
_KEY_KINDS = (
    # text of a paste that no recogniser placed (tfdoctor triage), and the output of a command that runs a program in
    # a container or a job: every known message counts, TensorFlow's too (its log lines, a REPL's answer, a pip error
    # quoted in prose)
    ((PASTED_TEXT_KEY, "docker_run", "docker_exec", "docker_compose", "docker-compose", "podman_run", "podman_exec",
      "nvidia-docker_run", "kubectl_logs", "kubectl_exec", "srun", "singularity", "apptainer", "enroot"),
     (ANY, "tensorflow")),
    # a journal or kernel log pasted under another command line (`journalctl -b`, `sudo dmesg | grep nvidia`)
    (("journalctl", "sudo_journalctl", "dmesg", "sudo_dmesg", "cat_%2Fvar%2Flog%2Fsyslog", "cat_%2Fvar%2Flog%2Fkern.log"),
     ("kernel",)),
    # what a container runtime prints itself (its errors, a pod's state): every catalogue but TensorFlow's, which the
    # container catalogue is part of
    (("docker", "podman", "nvidia-docker", "nvidia-container-cli", "kubectl", "nerdctl", "ctr"), (ANY,)),
    (("modprobe", "sudo_modprobe", "insmod", "sudo_insmod"), ("modprobe",)),
    (("dkms", "sudo_dkms"), ("dkms",)),
    (("NVIDIA-Linux", "sudo_NVIDIA-Linux", "sh_NVIDIA", "sudo_sh_NVIDIA", "nvidia-installer", "sudo_nvidia-installer",
      "._NVIDIA", "sudo_._NVIDIA"), ("installer",)),
    (("modinfo", "sudo_modinfo"), ("modinfo",)),
    (("pip", "pip3", "sudo_pip", "sudo_pip3", "python_-m_pip", "python3_-m_pip", "py_-m_pip", "conda", "mamba"),
     ("pip",)),
    # a Python program (a script, `python -c 'import torch; ...'`): its traceback holds the framework's own messages
    # (TensorFlow's, PyTorch's `cuDNN version incompatibility`), so TensorFlow's catalogue reads it too
    (("python", "python3", "python2", "ipython", "ipython3", "sudo_python", "sudo_python3"), (ANY, "tensorflow")),
)


@dataclass(frozen=True)
class SmiQuery:
    """The memory-error sections of an `nvidia-smi -q` the outputs hold (tfdoctor.probes.nvidia_smi's QueryGpu per
    GPU block, with its index where the output has as many GPU blocks as it says are attached)."""

    source: str
    gpus: tuple = ()


@dataclass(frozen=True)
class SourcesFacts:
    sources: tuple[Source, ...]
    observations: tuple[Observation, ...]
    smi_query: SmiQuery | None = None


def _smi_query(sources) -> SmiQuery | None:
    """The first `nvidia-smi -q` (its own output, or a paste that holds it) with a memory-error section."""
    from tfdoctor.probes.nvidia_smi import parse_nvidia_smi_query, query_attached_gpus

    for src in sources:
        name = (src.name or "").removeprefix("sudo ")
        if not (name.startswith("nvidia-smi -q") or name == "the paste"):
            continue
        text = src.text or "\n".join(src.lines)
        parsed = parse_nvidia_smi_query(text)
        if parsed:
            whole = len(parsed) == query_attached_gpus(text) and all(q.bus_id for q in parsed)
            # nvidia-smi lists its GPUs in index order: a block's place is its index when every GPU is there
            gpus = tuple(replace(q, index=i) for i, q in enumerate(parsed)) if whole else tuple(parsed)
            return SmiQuery(src.name, gpus)
    return None


def _kinds_of_key(key: str) -> tuple[str, ...]:
    key = key.removeprefix("sudo_")
    for prefixes, kinds in _KEY_KINDS:
        if any(key == p or key.startswith(p + "_") or key.startswith(p + "-") or key.startswith(p + ".")
               for p in prefixes):
            return kinds
    return (ANY,)  # a program no catalogue is made for: its known messages, wherever they appear


def _text(res) -> str:
    return "\n".join(t for t in (res.stdout, res.stderr) if t)


@probe("sources", needs=("driver", "nvml", "tensorflow", "datacentre"), timeout=20, title="What the tools printed")
def probe_sources(host, ctx) -> SourcesFacts:
    d, nvml, tf = ctx.facts.get("driver"), ctx.facts.get("nvml"), ctx.facts.get("tensorflow")
    sources: list[Source] = []
    dc = ctx.facts.get("datacentre")
    if dc is not None and getattr(dc, "fabricmanager_log", ()):
        sources.append(Source("fabricmanager", "journalctl -u nvidia-fabricmanager", "\n".join(dc.fabricmanager_log)))
    if d is not None:
        if d.kernel_log:
            sources.append(Source("kernel", d.kernel_log_source or "kernel log", "\n".join(d.kernel_log)))
        if d.modprobe_text:
            sources.append(Source("modprobe", "modprobe --dry-run nvidia", d.modprobe_text))
        if d.secure_boot_text:
            sources.append(Source("mokutil", "mokutil --sb-state", d.secure_boot_text))
        for path, text in getattr(d, "dkms_make_logs", ()) or ():
            sources.append(Source("dkms", path, text))
        for argv, kind in ((["dkms", "status"], "dkms"), (["ubuntu-drivers", "devices"], "ubuntu-drivers")):
            if (kind == "dkms" and d.dkms != "missing") or (kind == "ubuntu-drivers" and d.ubuntu_drivers != "missing"):
                res = host.run(argv, timeout=15)
                if not res.missing:
                    sources.append(Source(kind, " ".join(argv), _text(res)))
    if nvml is not None and nvml.nvidia_smi_rc is not None:
        res = host.run(["nvidia-smi"], timeout=15)  # already run by the nvml probe: the Host answers from its cache
        if not res.missing or res.stderr.strip():  # a recorded shell's `nvidia-smi: command not found` is read too
            sources.append(Source("nvidia-smi", "nvidia-smi", _text(res)))
    if tf is not None and getattr(tf, "log_lines", ()):
        sources.append(Source(TENSORFLOW_LOG, "tensorflow.log", lines=tuple(tf.log_lines)))
    keys = getattr(host, "command_keys", None)
    for key in (keys() if callable(keys) else ()):
        if key in _PROBE_KEYS_EXACT or key.startswith(_PROBE_KEY_PREFIXES) or key in DATACENTRE_KEYS:
            # read by their probes (the datacentre probe's outputs speak for another boot, or only through it)
            continue
        res = host.run([key], key=key, timeout=5)
        if res.missing and not res.stderr.strip():
            # (127 with a recorded stderr is what the program printed as it failed: ld.so exits 127 when a library
            # it must load is missing, `error while loading shared libraries: libcuda.so.1`)
            continue
        name = "the paste" if key == PASTED_TEXT_KEY else key.replace("_", " ").replace("%2F", "/")  # host.command_key
        text = _text(res)
        if key == PASTED_TEXT_KEY:
            text = unmarked(text)
        sources.extend(Source(kind, name, text) for kind in _kinds_of_key(key))
    unique = tuple(sources)
    return SourcesFacts(unique, tuple(observe_all(unique)),
                        _smi_query(dict.fromkeys(s for s in unique if s.kind in (ANY, "nvidia-smi"))))


# Markdown a reporter wraps round a line of output in a post (`**```Error: stat nvidia.com/gpu=all: ...```**`, a
# quote-reply's `> `): not what the program printed. Only the wrapping goes; the line's own indentation stays (an
# indented line continues a kernel message).
_WRAPPERS = ("**", "__", "```", "``", "`")


def unmarked(text: str) -> str:
    out = []
    for line in text.splitlines():
        line = strip_collector_stamp(line)  # (a log collector's stamp before the wrapping: dropped by the reading too)
        body = line.lstrip()
        if body[:1] in (">", "*", "_", "`"):
            lead = line[:len(line) - len(body)]
            while body.startswith(">") and not body.startswith(">>"):  # `>>>` is Python's prompt, not a quote
                body = body[1:].lstrip(" ")
            for _ in range(2):  # `**` round a code span, or the other way round
                for w in _WRAPPERS:
                    if w in ("**", "__") and not body.rstrip().endswith(w):
                        continue  # emphasis comes in pairs: a line that starts `__init__()` is not wrapped
                    if body.startswith(w) and len(body) > 2 * len(w):
                        body = body[len(w):]
                        if body.rstrip().endswith(w):
                            body = body.rstrip()[:-len(w)]
            line = lead + body
        out.append(line)
    return "\n".join(out)
