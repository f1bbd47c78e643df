"""From recognised segments to a hand-built snapshot (docs/snapshot-format.md): each output goes where the probe
that reads it looks for it, under the same keys a person building the snapshot by hand would use.

Each segment is checked with the project's own parser for its kind before it is used (an "lspci" segment must
hold a device line `parse_lspci` reads, a "dkms status" segment a line `parse_dkms_status` reads...). Outputs a
probe reads once (nvidia-smi, uname, os-release) keep the first one pasted (the state the report is about;
later ones are often after a fix) and say so of the others; logs are joined in paste order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tfdoctor import textmatch
from tfdoctor.host import ALLOWED_ENV, snapshot_manifest
from tfdoctor.probes import sources
from tfdoctor.triage import recognisers as rz
from tfdoctor.triage.segmenter import MODPROBE_DIR_PREFIXES, Segment, echoed_variables

_SAFE_KEY = textmatch.compile(r"[^\w.,:=+%@-]")
_ENV_LINE = textmatch.compile(r"^[ \t]*(?:export[ \t]+|declare -x[ \t]+)?(?P<k>[A-Za-z_][A-Za-z0-9_]*)=(?P<v>[^\n]*)$")


@dataclass
class Recognised:
    """A segment as the report shows it: what it is, where it was in the paste, and where it went."""

    kind: str
    first: int
    last: int
    command: str | None
    target: str | None  # the snapshot path it was written to; None when it was not used
    note: str = ""
    inline: bool = False

    def to_dict(self) -> dict:
        return {"kind": self.kind, "first_line": self.first, "last_line": self.last, "command": self.command,
                "written_to": self.target, "note": self.note or None}


@dataclass
class SnapshotPlan:
    """What will be written: files by snapshot path (text), the environment, and how each segment was used."""

    files: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    recognised: list[Recognised] = field(default_factory=list)
    lspci_slots: set[str] = field(default_factory=set)
    exists: dict[str, bool] = field(default_factory=dict)  # manifest "exists": paths an `ls` showed present or not
    listings: dict[str, list[str]] = field(default_factory=dict)  # manifest "listings": `ls /dev/nvidia*`
    smi_cut: Recognised | None = None  # the nvidia-smi table kept, where it was cut before its GPU rows

    def add(self, path: str, text: str, *, log: bool = False) -> bool:
        """Add a file; a log is appended to, any other path keeps its first text. True when the text was used."""
        if path in self.files:
            if not log:
                return False
            sep = "" if self.files[path].endswith("\n") or not self.files[path] else "\n"
            self.files[path] += sep + text
            return True
        self.files[path] = text
        return True


def safe_key(key: str) -> str:
    """A command key that is a plain file name inside commands/ (a pasted argv may hold any characters)."""
    key = _SAFE_KEY.sub("_", key)[:200].strip(".") or "command"
    return key


def _key_for(seg: Segment, default: str, tools: tuple[str, ...]) -> str:
    cmd = seg.command
    if cmd is not None and not cmd.repl and cmd.tool in tools:
        return safe_key(cmd.key)
    return default


# nvidia-smi's message -> its exit status (nvidia-smi(1); tfdoctor/knowledge/nvidia_smi.json)
def _smi_rc(kind: str) -> int | None:
    from tfdoctor.knowledge import loader as kb

    data = kb._load("nvidia_smi.json")
    for r in data["exit_codes"]:
        if r["kind"] == kind and r["rc"] not in (0, 255):
            return r["rc"]
    return None


# The snapshot file of the paste's text that no recogniser placed (tfdoctor/probes/sources.py reads its key)
PASTED_TEXT_KEY = "commands/" + sources.PASTED_TEXT_KEY
PASTED_TEXT_MAX = 1 << 20


# any word nvidia-smi prints, in its table or when it fails
_SMI_WORDS = textmatch.compile(r"(?i)nvidia|\bgpu|driver|nvml|cuda|\bdevices?\b|not found|no such file|permission|"
                               r"fail|error")
_MODPROBE_KERNEL = textmatch.compile(r"not found in directory /lib/modules/(?P<release>[^\s/]{1,100})")


def _modprobe_kernels(segments: list[Segment]) -> list[tuple[int, str]]:
    """(line, release) of the kernel a modprobe message's module directory names, when it has a release's shape."""
    out = []
    for seg in segments:
        if seg.kind != "modprobe":
            continue
        m = _MODPROBE_KERNEL.search(seg.text)
        if m is not None and rz.KERNEL_RELEASE.search(m.group("release")):
            out.append((seg.first, m.group("release")))
    return out[:1]


def plan_snapshot(segments: list[Segment], assignments: list[tuple[int, str, str]], container_hosts: tuple[str, ...],
                  inline_kernels: list[tuple[int, str]]) -> SnapshotPlan:
    """Decide where every segment goes (and which are not used, and why)."""
    plan = SnapshotPlan()
    placed: set[tuple[str, str]] = set()
    for seg in segments:
        rec = Recognised(seg.kind, seg.first, seg.last, seg.command.text if seg.command else None, None,
                         inline=seg.inline)
        if (seg.kind, seg.text) in placed:
            # the same output pasted again (before and after a reboot that changed nothing, or twice by mistake)
            rec.note = "not used: the same output was already pasted"
            plan.recognised.append(rec)
            continue
        try:
            _place(plan, seg, rec)
            if rec.target is not None:
                placed.add((seg.kind, seg.text))
        except Exception as exc:  # noqa: BLE001 - one odd segment must not cost the others
            rec.note = f"not used: {type(exc).__name__}"
        plan.recognised.append(rec)
    # the kernel release quoted inline or in a system-info line, when no uname output was pasted; else the one modprobe
    # names when it finds no module (`modprobe: FATAL: nvidia_drm not found in directory /lib/modules/5.5.9-zen1-2-zen`:
    # modprobe looks in the running kernel's directory)
    inline_kernels = list(inline_kernels) + _modprobe_kernels(segments)
    for no, release in inline_kernels:
        rec = Recognised("uname", no, no, None, None, inline=True)
        if plan.add("commands/uname_-r", release + "\n"):
            rec.target, rec.note = "commands/uname_-r", f"kernel release {release}"
        else:
            rec.note = "not used: an earlier kernel release was kept"
        plan.recognised.append(rec)
    # CUDA_VISIBLE_DEVICES set in the code or shell the paste shows, when no output of it was pasted
    for no, name, value in assignments:
        rec = Recognised("environment", no, no, None, None)
        if name in plan.env:
            rec.note = f"not used: {name} was already known"
        else:
            plan.env[name] = value
            rec.target, rec.note = "env.json", f"{name}={value!r} (set in the code or shell the paste shows)"
        plan.recognised.append(rec)
    if container_hosts:
        first = container_hosts[0]
        plan.files["files/.dockerenv"] = ""
        plan.recognised.append(Recognised(
            "container-marker", 0, 0, None, "files/.dockerenv",
            f"derived: the host name {first} is a Docker container id (Docker names a container's host after it)"))
    if plan.env:
        plan.files["env.json"] = json.dumps(plan.env, indent=2, sort_keys=True) + "\n"
    plan.recognised.sort(key=lambda r: (r.first or 10**9, r.last))
    return plan


def add_leftover(plan: SnapshotPlan, lines) -> None:
    """The paste's lines that no recogniser claimed (prose, a program tfdoctor has no parser for, a REPL's answer) go
    to the evidence layer too, which recognises only its catalogue's known messages in them, nothing else. An output
    that was recognised but not used (a second nvidia-smi, pasted after a fix) stays unused."""
    placed: set[int] = set()
    for rec in plan.recognised:
        if rec.first and not rec.inline:
            placed.update(range(rec.first, rec.last + 1))
    rest = [line.text for line in lines if line.no not in placed and not line.marker and line.text.strip()]
    if rest:
        plan.files[PASTED_TEXT_KEY] = "\n".join(rest)[:PASTED_TEXT_MAX] + "\n"


def _place(plan: SnapshotPlan, seg: Segment, rec: Recognised) -> None:  # noqa: C901 - one branch per kind, flat
    from tfdoctor.probes import cpu, driver, nvidia_smi, pci

    text, kind = seg.text, seg.kind

    def put(path: str, body: str, *, log: bool = False, note: str = "") -> None:
        if plan.add(path, body if body.endswith("\n") or not body else body + "\n", log=log):
            rec.target, rec.note = path, note
        else:
            rec.note = f"not used: an earlier {rz.KINDS.get(kind, kind)} was kept"

    if kind == "tensorflow-log":
        put("tensorflow.log", text, log=True, note=_lines_note(text))
    elif kind == "kernel-log":
        put("commands/dmesg", text, log=True, note=_lines_note(text))
    elif kind == "nvidia-smi":
        table = nvidia_smi.parse_nvidia_smi_table(text)
        if table is not None:
            # a table cut before its GPU rows (a paste cut short) is kept for its header (the driver's version, `CUDA
            # Version: N/A`): its missing rows are not a driver that sees no GPU (nvml.devices: 'a cut paste?')
            cut = not table.gpus and "Processes:" not in text and "No devices were found" not in text
            if cut or table.gpus or table.driver_version:
                put("commands/nvidia-smi", text, note=f"table{' cut before its GPU rows' if cut else ''}: driver "
                                                      f"{table.driver_version or '?'}, {len(table.gpus)} GPU(s)")
                if cut and rec.target:
                    plan.smi_cut = rec
                return
        failure, message = nvidia_smi.classify_nvidia_smi_failure(1, text)
        if failure in ("unknown",) and not seg.tags & {"unrecognised", "smi-error"}:
            if textmatch.match(r"\s*GPU \d+: ", text):
                # `nvidia-smi -L`'s listing (one line per GPU): the evidence layer reads it (smi-list-gpu)
                put("commands/nvidia-smi_-L", text, note=f"{sum(1 for ln in text.splitlines() if ln.strip())} GPU(s) "
                                                         "listed (nvidia-smi -L)")
                return
            if seg.command is not None and len(seg.command.argv) > 1 and (key := _key_for(seg, "", ("nvidia-smi",))):
                # another of nvidia-smi's commands (`nvidia-smi -mig 0`, `--gpu-reset`): under its own key, where the
                # evidence layer reads the known messages in it, as in a hand-built snapshot
                put(f"commands/{key}", text, note="read for the messages tfdoctor knows")
                return
            # (its lines stay with the paste's other text, where the evidence layer reads any message it knows in
            # them: an NVML client's own error, `NVML ERROR: RM has detected an NVML/RM version mismatch`)
            rec.note = "not used as nvidia-smi's output: left to the messages tfdoctor knows"
            rec.inline = True
            return
        if failure == "not-installed":
            if "commands/nvidia-smi.rc" in plan.files or "commands/nvidia-smi" in plan.files:
                rec.note = "not used: an earlier nvidia-smi output was kept"
                return
            plan.files["commands/nvidia-smi.rc"] = "127\n"
            plan.files["commands/nvidia-smi.err"] = text + "\n"
            rec.target, rec.note = "commands/nvidia-smi.rc", "nvidia-smi is not installed (exit status 127)"
            return
        if failure == "unknown" and "smi-error" not in seg.tags and _SMI_WORDS.search(text) is None:
            # the next line of a script after a bare `nvidia-smi` (`python test.py`): nothing nvidia-smi prints
            rec.note = "not used: nothing nvidia-smi prints"
            return
        rc = _smi_rc(failure) if failure != "unknown" else None
        if rc is None and "smi-error" in seg.tags:
            rc = 255  # a failure message whose exit status the paste does not show: 255, "unknown error"
        if rc and plan.smi_cut is not None:
            # the table kept was cut before its GPU rows (only its header shows); nvidia-smi failing later in the
            # paste is the state the report is about (nvidia-docker#1671: working, then `Failed to initialize NVML`)
            plan.files.pop("commands/nvidia-smi", None)
            plan.smi_cut.target = None
            plan.smi_cut.note = "not used: a table cut before its GPU rows, and nvidia-smi failed later in the paste"
            plan.smi_cut = None
        first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        first = first if len(first) <= 90 else first[:87] + "..."
        put("commands/nvidia-smi", text, note=f'"{first}"' + (f" (exit status {rc}: {failure})" if rc else ""))
        if rec.target and rc:
            plan.files["commands/nvidia-smi.rc"] = f"{rc}\n"
    elif kind == "lspci":
        records = pci.parse_lspci(text)
        if not records:
            rec.note = "not used: no device line lspci's parser reads"
            return
        if plan.lspci_slots and all(r.slot in plan.lspci_slots for r in records):
            rec.note = "not used: the same devices were already pasted"
            return
        if not any(r.vendor_id == pci.NVIDIA_VENDOR or "nvidia" in r.name.lower() for r in records) \
                and not passes_filters(seg.command, _NVIDIA_PCI_LINES):
            # `lspci | grep VGA` on a laptop whose NVIDIA GPU is a 3D controller: its absence shows nothing
            rec.note = f"not used: `{seg.command.text}` would not show every NVIDIA GPU, so no NVIDIA line in it " \
                       "proves nothing"
            return
        put("commands/lspci", text, log=True, note=f"{len(records)} device(s)")
        plan.lspci_slots.update(r.slot for r in records)
    elif kind == "lsmod":
        mods = driver.parse_proc_modules(text)
        if not mods or (len(mods) < 2 and not text.lstrip().startswith("Module") and seg.command is None):
            rec.note = "not used: too little of an lsmod listing to read"
            return
        if not passes_filters(seg.command, _NVIDIA_MODULE_LINES):
            # `lsmod | grep nouveau`: the listing it leaves cannot show whether nvidia is loaded
            rec.note = f"not used: `{seg.command.text}` leaves out the nvidia module's lines"
            return
        put("commands/lsmod", text, note=f"{len(mods)} module(s)")
    elif kind == "modinfo":
        _place_modinfo(plan, put, seg, rec, text)
    elif kind == "modprobe":
        key = _key_for(seg, "modprobe", ("modprobe", "insmod"))
        put(f"commands/{key}", text, log=True)
        if rec.target and textmatch.search(r"(?m)^[ \t]*(?:modprobe|insmod)[^\n]*: (?:ERROR|FATAL)", text) is not None:
            plan.files[f"commands/{key}.rc"] = "1\n"
    elif kind == "dkms-status":
        entries = driver.parse_dkms_status(text)
        if not entries and "empty" not in seg.tags:
            rec.note = "not used: no line dkms status's parser reads"
            return
        put("commands/dkms_status", text, note=f"{len(entries)} module(s)" if entries else "no DKMS module")
    elif kind == "dkms":
        error = next((ln.strip() for ln in text.splitlines() if ln.strip().startswith(("Error!", "ERROR"))), "")
        put(f"commands/{_key_for(seg, 'dkms', ('dkms',))}", text, log=True,
            note=f'"{error[:90]}"' if error else _lines_note(text))
    elif kind == "mokutil":
        put("commands/mokutil_--sb-state", text)
    elif kind == "ubuntu-drivers":
        devices = driver.parse_ubuntu_drivers(text)
        put("commands/ubuntu-drivers_devices", text,
            note=f"recommends {next((d.recommended for d in devices if d.recommended), None) or 'nothing'}")
    elif kind == "uname":
        release = _release(text)
        if release is None:
            rec.note = "not used: no kernel release in it"
            return
        put("commands/uname_-r", release + "\n", note=f"kernel release {release}")
    elif kind == "os-release":
        _place_os_release(put, rec, text)
    elif kind == "lsb-release":
        fields = {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in text.splitlines())}
        if not fields.get("Distributor ID"):
            rec.note = "not used: no Distributor ID"
            return
        derived = _os_release_from(fields.get("Distributor ID"), fields.get("Release"), fields.get("Codename"),
                                   fields.get("Description"))
        put("files/etc/os-release", derived, note="derived from lsb_release")
    elif kind == "nvidia-version":
        version, _flavor = driver.parse_nvidia_version_file(text)
        if version is None:
            rec.note = "not used: no driver version in it"
            return
        put("files/proc/driver/nvidia/version", text, note=f"loaded driver {version}")
    elif kind == "proc-version":
        put("files/proc/version", text.splitlines()[0])
    elif kind == "cpuinfo":
        info = cpu.parse_cpuinfo(text)
        if not info["flags"] and not info["model"]:
            rec.note = "not used: no flags or model line"
            return
        put("files/proc/cpuinfo", text, note=f"{len(info['flags'])} CPU flags")
    elif kind == "lscpu":
        fields = {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in text.splitlines())}
        if not fields.get("Flags"):
            rec.note = "not used: no Flags line"
            return
        derived = "".join(f"{k}\t: {fields[src]}\n" for k, src in (("vendor_id", "Vendor ID"),
                                                                   ("model name", "Model name"), ("flags", "Flags"))
                          if fields.get(src))
        put("files/proc/cpuinfo", derived, note="derived from lscpu")
    elif kind == "pip-list":
        freeze = "==" in text
        put("commands/pip_freeze" if freeze else "commands/pip_list", text)
    elif kind == "conda-list":
        put("commands/conda_list", text)
    elif kind == "nvcc":
        put("commands/nvcc_--version", text)
    elif kind == "dpkg":
        packages = driver.parse_dpkg_list(text)
        if not packages:
            rec.note = "not used: no installed NVIDIA, CUDA or cuDNN package in it"
            return
        restricted = seg.command is not None and (
            any(not a.startswith("-") for a in seg.command.argv[1:]) or not passes_filters(seg.command,
                                                                                          _NVIDIA_DRIVER_PACKAGE))
        if restricted and not any(p.installs_driver for p in packages):
            # `dpkg -l nvidia-smi`, `dpkg -l | grep cuda`: a listing that could not show the driver package says
            # nothing about whether one is installed
            rec.note = f"not used: `{seg.command.text}` would not list a driver package, so its absence proves nothing"
            return
        put("commands/dpkg_-l", text, log=True, note=f"{len(packages)} NVIDIA/CUDA package(s)")
    elif kind in ("container", "installer"):
        default = "docker" if kind == "container" else "nvidia-installer"
        if kind == "container" and textmatch.search(r"^[ \t]*nvidia-container-cli", text) is not None:
            default = "nvidia-container-cli"
        tools = rz.CONTAINER_TOOLS if kind == "container" else ("sh", "bash", "nvidia-installer")
        key = _key_for(seg, default, tools)
        if seg.command is not None and not seg.command.repl and seg.command.tool not in tools \
                and seg.command.tool not in rz.KNOWN_TOOLS:
            key = safe_key(seg.command.key)  # a script that ran the container (`./opendocker.sh`)
        put(f"commands/{key}", text, log=True)
        if rec.target and "Error response from daemon" in text:
            plan.files[f"commands/{key}.rc"] = "125\n"  # docker run's status when the daemon refuses
    elif kind == "container-files":
        _place_container_files(plan, rec, text)
    elif kind == "cgroup":
        put("files/proc/1/cgroup", text, note="; ".join(sorted({ln.split(":", 2)[-1].split("/")[1] or "/"
                                                                 for ln in text.splitlines() if ":/" in ln}))[:90])
    elif kind == "environment":
        _place_env(plan, seg, rec, text)
    elif kind == "file":
        path = next((p for p in (seg.command.paths() if seg.command else ()) if p.startswith("/")), None)
        if path is None:
            rec.note = "not used: no file path"
            return
        put("files/" + path.lstrip("/"), text)
        if rec.target and path.startswith(MODPROBE_DIR_PREFIXES):
            rec.note = "modprobe configuration"
    else:
        rec.note = "not used"


def _lines_note(text: str) -> str:
    n = sum(1 for ln in text.splitlines() if ln.strip())
    return f"{n} line{'s' if n != 1 else ''}"


# Lines a filter of lspci or lsmod output must let through for the absence of NVIDIA in what it printed to mean
# anything. Real lines: a GeForce as VGA controller (GPU-Passthrough-Arch-Linux-to-Windows10#6), a Tesla as 3D
# controller (truenas-nvidia-drivers#20, tests/cases/drv-open-module-teslap4-truenas); lsmod rows of the driver as
# `lsmod | grep nvidia` printed them in a public guide (search index id 34387641381).
_NVIDIA_PCI_LINES = ("01:00.0 VGA compatible controller [0300]: NVIDIA Corporation TU117M [GeForce GTX 1650 Mobile / "
                     "Max-Q] [10de:1f91] (rev a1)",
                     "03:00.0 3D controller [0302]: NVIDIA Corporation GP104GL [Tesla P4] [10de:1bb3] (rev a1)")
# a real `dpkg -l` row of a driver package (a public GitHub document, search index id 530086085)
_NVIDIA_DRIVER_PACKAGE = ("ii  nvidia-driver-535                      535.247.01-0ubuntu1                     amd64"
                          "        NVIDIA driver metapackage",)
_NVIDIA_MODULE_LINES = ("nvidia_drm             49152  1", "nvidia              12144640  60 nvidia_modeset,nvidia_uvm")


def passes_filters(cmd, lines: tuple[str, ...]) -> bool:
    """Would every line pass the command's `| grep` stages? (True without any: nothing was filtered out.) The grep
    pattern comes from the paste, so it is compiled by RE2 (linear); one RE2 cannot read counts as filtering."""
    if cmd is None:
        return True
    for stage in cmd.filters:
        if not stage or stage[0] not in ("grep", "egrep", "fgrep", "rg"):
            continue
        opts = [a for a in stage[1:] if a.startswith("-")]
        pats = [a for a in stage[1:] if not a.startswith("-")][:1]
        if not pats:
            continue
        flags = textmatch.IGNORECASE if any("i" in o.lstrip("-") for o in opts if not o.startswith("--")) else 0
        invert = any(o == "-v" or (o.startswith("-") and not o.startswith("--") and "v" in o) for o in opts)
        pattern = pats[0] if stage[0] != "fgrep" and not any("F" in o for o in opts) else textmatch.escape(pats[0])
        try:
            rx = textmatch.compile(pattern, flags)
            rx.rx  # noqa: B018 - compiled now: a grep pattern RE2 cannot run (a backreference) is not read
        except ValueError:
            return False
        for line in lines:
            if (rx.search(line) is not None) == invert:
                return False
    return True


def _release(text: str) -> str | None:
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0] == "Linux":
            cand = words[2]
        elif len(words) == 1:
            cand = words[0]
        else:
            continue
        if rz.KERNEL_RELEASE.match(cand) is not None:
            return cand
    return None


def _place_modinfo(plan: SnapshotPlan, put, seg: Segment, rec: Recognised, text: str) -> None:
    from tfdoctor.probes import driver

    if "modinfo-error" in seg.tags:
        m = textmatch.search(r"Module (?P<m>[^ \t\n]+) not found", text)
        module = m.group("m").rstrip(".") if m else ""
        if module not in ("nvidia", "nvidia-current", "nvidia_current"):
            rec.note = f"not used: about module {module or '?'}, not nvidia"
            return
        put("commands/modinfo_nvidia.err", text, note="module nvidia not found")
        if rec.target:
            plan.files["commands/modinfo_nvidia.rc"] = "1\n"
        return
    known = {"filename", "version", "license", "srcversion", "vermagic", "signer", "sig_key", "name", "alias",
             "depends", "description", "author", "retpoline", "intree", "sig_hashalgo", "sig_id", "parm"}
    commanded = seg.command is not None and any(a.startswith("nvidia") for a in seg.command.argv[1:])
    names = []
    # `modinfo a b` (or a bug-report script) prints one block per module, each from its `filename:` line
    for block in _modinfo_blocks(text):
        info = driver.parse_modinfo(block)
        if len(known & set(info)) < 3:
            continue
        name = info.get("name") or info.get("filename", "").rsplit("/", 1)[-1].split(".ko")[0]
        names.append(name or "?")
        if name.startswith("nvidia") or (commanded and len(names) == 1 and not name):
            put("commands/modinfo_nvidia", block, note=f"version {info.get('version', '?')}"
                + (f", signed by {info['signer']}" if info.get("signer") else ""))
            return
    rec.note = (f"not used: modinfo of {', '.join(names)}, not nvidia" if names else
                "not used: too few modinfo fields")


def _modinfo_blocks(text: str) -> list[str]:
    blocks: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.lstrip().startswith("filename:") and blocks[-1]:
            blocks.append([])
        blocks[-1].append(line)
    return ["\n".join(b) for b in blocks if b]


def _place_os_release(put, rec: Recognised, text: str) -> None:
    from tfdoctor.probes import env

    fields = env.parse_os_release(text)
    if fields.get("ID") or fields.get("NAME"):
        lines = [ln.strip() for ln in text.splitlines() if "=" in ln and not ln.strip().startswith("DISTRIB_")]
        put("files/etc/os-release", "\n".join(lines) + "\n", note=fields.get("PRETTY_NAME") or fields.get("NAME", ""))
        return
    if fields.get("DISTRIB_ID"):
        put("files/etc/os-release", _os_release_from(fields.get("DISTRIB_ID"), fields.get("DISTRIB_RELEASE"),
                                                     fields.get("DISTRIB_CODENAME"), fields.get("DISTRIB_DESCRIPTION")),
            note="derived from /etc/lsb-release")
        return
    rec.note = "not used: no ID or NAME"


def _os_release_from(dist: str | None, release: str | None, codename: str | None, description: str | None) -> str:
    """/etc/os-release as it reads on the distribution lsb_release (or /etc/lsb-release) describes."""
    dist_id = textmatch.sub(r"[^a-z0-9._-]", "", (dist or "").lower())
    out = [f"ID={dist_id}"]
    if description:
        out.append(f'PRETTY_NAME="{description}"')
    if release and textmatch.fullmatch(r"[\w.]+", release):
        out.append(f'VERSION_ID="{release}"')
    if codename and textmatch.fullmatch(r"[\w.-]+", codename) and codename != "n/a":
        out.append(f"VERSION_CODENAME={codename}")
    return "\n".join(out) + "\n"


_LS_MISSING = textmatch.compile(r"ls: cannot access '?(?P<path>/[^':\n]+)'?: No such file")
_DEV_NODE = textmatch.compile(r"/dev/(?P<name>nvidia[\w-]*)")
_MARKERS = ("/.dockerenv", "/run/.containerenv")


def _place_container_files(plan: SnapshotPlan, rec: Recognised, text: str) -> None:
    """`ls` of the container markers and of /dev/nvidia*: which exist (the manifest's "exists" and "listings")."""
    said = []
    for line in text.splitlines():
        m = _LS_MISSING.search(line)
        if m is not None:
            path = m.group("path")
            if path in _MARKERS:
                plan.exists.setdefault(path, False)
                said.append(f"no {path}")
            elif path.startswith("/dev/nvidia"):
                plan.listings.setdefault("/dev", [])
                said.append("no /dev/nvidia*")
            continue
        stripped = line.strip()
        for marker in _MARKERS:
            if stripped.endswith(marker):
                plan.exists[marker] = True
                said.append(marker)
        for node in _DEV_NODE.finditer(line):
            names = plan.listings.setdefault("/dev", [])
            if node.group("name") not in names:
                names.append(node.group("name"))
                said.append("/dev/" + node.group("name"))
    if said:
        rec.target, rec.note = "manifest.json", ", ".join(dict.fromkeys(said))[:120]
    else:
        rec.note = "not used: no container marker or device node in it"


def _place_env(plan: SnapshotPlan, seg: Segment, rec: Recognised, text: str) -> None:
    found: dict[str, str] = {}
    cmd = seg.command
    if "echo" in seg.tags and cmd is not None:
        names = echoed_variables(cmd.tool, cmd.argv[1:])
        value = text.strip()
        # one variable echoed, one line of value: a device list, or a list of folders (LD_LIBRARY_PATH, CUDA_HOME)
        devices = names[:1] == ["CUDA_VISIBLE_DEVICES"] or names[:1] == ["NVIDIA_VISIBLE_DEVICES"]
        shape = r"[\w,:-]{1,200}" if devices else r"[\w.,:/+~-]+"
        if len(names) == 1 and value and len(value) <= 4000 and textmatch.fullmatch(shape, value) is not None:
            found[names[0]] = value
    else:
        for line in text.splitlines():
            m = _ENV_LINE.match(line)
            if m is not None and m.group("k") in ALLOWED_ENV:
                found[m.group("k")] = m.group("v").strip().strip("'\"")
    if not found:
        rec.note = "not used: no allow-listed variable in it"
        return
    new = {k: v for k, v in found.items() if k not in plan.env}
    plan.env.update(new)
    rec.target = "env.json"
    rec.note = ", ".join(f"{k}={v!r}" for k, v in new.items()) or "not used: already known"
    if not new:
        rec.target = None


def write_snapshot(plan: SnapshotPlan, dest: Path, paste_name: str) -> Path:
    """Write the plan as a hand-built snapshot directory (dest must not exist or be empty; its parent must exist:
    host.check_snapshot_dest)."""
    dest.mkdir(exist_ok=True)
    if any(dest.iterdir()):
        from tfdoctor.host import SnapshotError

        raise SnapshotError(f"{dest} is not empty; choose a new directory")
    root = dest.resolve()
    for rel, text in sorted(plan.files.items()):
        target = (root / rel).resolve()
        if root not in target.parents:  # a key or path that would leave the snapshot: never written
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    manifest = snapshot_manifest("hand-built", built_by="tfdoctor triage", paste=paste_name,
                                 segments=[r.to_dict() for r in plan.recognised])
    if plan.exists:
        manifest["exists"] = dict(plan.exists)
    if plan.listings:
        manifest["listings"] = {k: sorted(v) for k, v in plan.listings.items()}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return dest

