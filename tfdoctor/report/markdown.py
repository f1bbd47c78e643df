"""A Markdown report for pasting into a bug report: about the size of PyTorch's `collect_env` output.

On top, what a maintainer reads first: the root cause and its fix, then one table row per finding that says
something (ok, info, warn, fail, error). Everything else is folded in <details>: the other fixes, the evidence, the
details, the skipped checks, and the machine's key facts (not the whole facts dump: that is `--json`).
"""

from __future__ import annotations

from tfdoctor import __version__, catalogue
from tfdoctor.model import Report, Status
from tfdoctor.report import ALTERNATIVE, VERIFY, fix_command_set, to_plain

_BADGE = {Status.OK: "✅ ok", Status.INFO: "ℹ️ info", Status.WARN: "⚠️ warn", Status.FAIL: "❌ fail",
          Status.ERROR: "💥 error", Status.SKIP: "⏭️ skip"}
_ASCII_BADGE = {s: s.value for s in Status}
MAX_DETAIL = 600  # characters of one detail line; a log tail is for --json or -v
MAX_LINES = 5  # detail or evidence lines per finding


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    """A line inside an inline code span: no backticks or newlines to break out of it."""
    return _cell(text).replace("`", "'")[:400]


def _fence(text: str) -> str:
    """A line inside a ``` block: a line of backticks would end it early."""
    return text.replace("```", "'''")


def _fix_blocks(fix, indent: str = "") -> list[str]:
    """The commands, each alternative (instead of them), and the verify step, as shell blocks."""
    def block(cmds):
        return [f"{indent}```sh", *[f"{indent}{_fence(c)}" for c in cmds], f"{indent}```"] if cmds else []

    out = block(fix.commands)
    for alt in fix.alternatives:
        out += [f"{indent}{ALTERNATIVE.format(when=_cell(alt.when))}", *block(alt.commands)]
    if fix.verify:
        out += [f"{indent}{VERIFY}", *block(fix.verify)]
    return out


def _get(value, *keys):
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def key_facts(facts: dict) -> list[tuple[str, str]]:
    """The facts a maintainer asks for first, one line each (as collect_env prints them). Never raises."""
    facts = to_plain(facts)
    out: list[tuple[str, str]] = []

    def add(label: str, value) -> None:
        if value not in (None, "", [], {}):
            out.append((label, str(value)))

    env, tf, pci, nvml, drv, cpu = (facts.get(k) if isinstance(facts.get(k), dict) else {}
                                    for k in ("env", "tensorflow", "pci", "nvml", "driver", "cpu"))
    add("OS", env.get("os_pretty") or env.get("os_id"))
    add("Kernel", env.get("kernel_release"))
    py = env.get("python") if isinstance(env.get("python"), dict) else {}
    if py or tf.get("python_version"):
        where = py.get("virtualenv") or ("conda" if py.get("conda") else None)
        add("Python", f"{py.get('version') or tf.get('python_version')} ({py.get('executable') or tf.get('python')}"
                      f"{', venv ' + where if where else ''}"
                      f"{', externally managed (PEP 668)' if py.get('externally_managed') else ''})")
    if tf.get("source") == "child":
        build = tf.get("build") if isinstance(tf.get("build"), dict) else {}
        cuda = (f"CUDA {build.get('cuda_version')}, cuDNN {build.get('cudnn_version')}" if build.get("is_cuda_build")
                else "CPU-only build" if build.get("is_cuda_build") is False else "build unknown")
        state = (f"import {tf.get('import_s')} s" if tf.get("imported") else f"import failed ({tf.get('ended')})")
        add("TensorFlow", f"{tf.get('version') or 'not installed'} ({cuda}; {state}; GPUs seen: "
                          f"{len(tf.get('gpus') or [])})" if tf.get("installed") is not False else "not installed")
    elif tf.get("source") == "log-only":
        add("TensorFlow", "only its log")
    devices = pci.get("nvidia_devices") if isinstance(pci.get("nvidia_devices"), list) else []
    names = [f"{_get(d, 'name') or _get(d, 'lspci_name') or 'NVIDIA GPU'} "
             f"(cc {_get(d, 'compute_capability') or '?'}, driver in use: {_get(d, 'driver_in_use') or 'none'})"
             for d in devices[:8]]
    add("NVIDIA GPUs (PCI)", "; ".join(names) if names else ("none" if pci.get("source") not in (None, "none")
                                                             else "bus not read"))
    if drv.get("nvidia_loaded") or drv.get("loaded_driver_version"):
        add("NVIDIA driver", f"loaded {drv.get('loaded_driver_version') or ''}".strip())
    elif drv.get("modules_source") not in (None, "none"):  # only what /proc/modules or lsmod showed
        branch = drv.get("installed_branch")
        add("NVIDIA driver", "not loaded" + (f" (installed branch {branch})" if branch else ""))
    add("Secure Boot", {True: "enabled", False: "disabled"}.get(drv.get("secure_boot")))
    if nvml:
        gpus = nvml.get("gpus") if isinstance(nvml.get("gpus"), list) else []
        add("NVML", f"driver {nvml.get('driver_version')}, CUDA {nvml.get('cuda_driver_version')}, "
                    f"{len(gpus)} GPU(s)" if nvml.get("init_ok") else
                    f"does not start: {nvml.get('init_message') or nvml.get('init_error')}")
    if cpu.get("model"):
        add("CPU", f"{cpu.get('model')}" + (f", {cpu.get('logical_cpus')} logical CPUs" if cpu.get("logical_cpus")
                                            else ""))
    add("Container", env.get("container"))  # only when one was seen: a snapshot may simply not have recorded it
    if env.get("wsl"):
        add("WSL", "yes")
    variables = env.get("variables") if isinstance(env.get("variables"), dict) else {}
    add("Variables", ", ".join(f"{k}={v}" for k, v in sorted(variables.items())
                               if k.startswith(("CUDA", "NVIDIA", "TF_", "XLA")))[:600])
    return out


def render(report: Report, ascii_only: bool = False) -> str:
    """The report as Markdown; every outside string is sanitised first (report/sanitize.py). `ascii_only`: badges
    and marks a 7-bit stream can carry (PYTHONIOENCODING=ascii)."""
    from tfdoctor.report.sanitize import report as sanitized

    report = sanitized(report)
    badge = _ASCII_BADGE if ascii_only else _BADGE
    out = [f"## tfdoctor {__version__} report", ""]
    src = report.meta.get("source", {})
    if src.get("snapshot"):
        out += [f"Replayed from snapshot `{_code(str(src['snapshot']))}`.", ""]
    root = report.root_cause
    if root:
        out += [f"**Root cause:** {_cell(root.summary)} (`{root.id}`)", ""]
        if root.fix:
            out += [f"**Fix:** {_cell(root.fix.summary)}", "", *_fix_blocks(root.fix), ""]
    else:
        counts = report.counts()
        out += ["**No issues found.**" if not (counts["fail"] or counts["warn"] or counts["error"])
                else "**Issues found** (none is a root cause: see the table).", ""]
    out += ["| Status | Finding | Summary |", "|---|---|---|"]
    for f in report.findings:
        if f.status == Status.SKIP:
            continue
        note = f" (caused by `{f.caused_by}`)" if f.caused_by else ""
        out.append(f"| {badge[f.status]} | `{f.id}` | {_cell(f.summary)}{note} |")
    out.append("")

    root_commands = fix_command_set(root.fix) if root else set()
    # a finding caused by the root cause is fixed by fixing that: its own fix would only repeat or distract
    fixes = [f for f in report.findings if f.fix and f.status in (Status.FAIL, Status.WARN) and not f.root_cause
             and not f.caused_by]
    if fixes:
        out += [f"<details><summary>Other fixes ({len(fixes)})</summary>", ""]
        for f in fixes:
            out += [f"- `{f.id}`: {_cell(f.fix.summary)}"]
            mine = fix_command_set(f.fix)
            if mine and mine <= root_commands:
                out += [f"  (the commands are in the fix of `{root.id}`, above)"]
            else:
                out += _fix_blocks(f.fix, "  ")
        out += ["", "</details>", ""]
    with_evidence = [f for f in report.findings if f.evidence and f.status in (Status.FAIL, Status.WARN)]
    if with_evidence:
        out += ["<details><summary>Evidence</summary>", ""]
        for f in with_evidence:
            out += [f"**`{f.id}`** rests on:", ""]
            out += [f"- `{_code(e.source)}{':' + str(e.line_no) if e.line_no else ''}`: `{_code(e.line)}`"
                    for e in f.evidence[:MAX_LINES]] + [""]
        out += ["</details>", ""]
    detailed = [f for f in report.findings if f.details and f.status in (Status.WARN, Status.FAIL, Status.ERROR)]
    if detailed:
        out += ["<details><summary>Details</summary>", ""]
        for f in detailed:
            spec = catalogue.get(f.id)
            out += [f"**{_cell(spec.title) if spec else f.id}** (`{f.id}`)", ""]
            out += [f"- {_cell(d)[:MAX_DETAIL]}" for d in f.details[:MAX_LINES]] + [""]
        out += ["</details>", ""]
    skipped = [f for f in report.findings if f.status == Status.SKIP]
    if skipped:
        out += [f"<details><summary>Skipped ({len(skipped)})</summary>", ""]
        out += [f"- `{f.id}`: {_cell(f.summary)}" for f in skipped]
        out += ["", "</details>", ""]
    facts = key_facts(report.facts)
    missing = report.meta.get("tools_not_found") or []
    if missing:
        facts.append(("Not in the snapshot" if src.get("snapshot") else "Not installed", ", ".join(missing)))
    if facts:
        out += ["<details><summary>Environment</summary>", "", "```"]
        out += [_fence(f"{label + ':':20} {value}") for label, value in facts]
        out += ["```", "", "(every fact: `tfdoctor check --json`)", "", "</details>", ""]
    text = "\n".join(out)
    return text.encode("ascii", "replace").decode("ascii") if ascii_only else text
