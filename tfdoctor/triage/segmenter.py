"""The segmenter: a paste in, the outputs it holds out, each with its kind, its lines and the command that printed it.

A paste is Markdown or not: code fences (``` and ~~~, with or without an info string), indented code, quoted
replies (`> `), HTML code tags, shell prompts (`$`, `#`, `user@host:~$`, `(venv) user@host:~$`, `[user@host dir]$`,
`PS C:\\>`), the Python REPL (`>>>`, `In [1]:`), Jupyter's `!cmd`, bare command lines, and prose in between. Its
outputs may run together with no command between them, so the kind of each line comes from its content
(tfdoctor.triage.recognisers); a command line, when there is one, names what follows and settles the outputs that
have no shape of their own. A message quoted inline in prose (`` `modprobe: FATAL: Module nvidia not found` ``) is
recognised too. Lines that nothing recognises are left out: never guessed at.

Linear time: each recogniser's pattern runs once over the whole paste (RE2), then one pass over the lines groups them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from tfdoctor import textmatch
from tfdoctor.host import ALLOWED_ENV
from tfdoctor.probes.driver import MODPROBE_DIRS
from tfdoctor.triage import recognisers as rz
from tfdoctor.triage.recognisers import Command
from tfdoctor.triage.scan import Scan, group

# Kinds whose segments go on across blank lines (one output printed with empty lines in it)
_GAP_KINDS = frozenset(("nvidia-smi", "lspci", "cpuinfo", "dkms", "pip-list", "conda-list", "lscpu",
                        "container-files"))
# Kinds a command prints whole: under such a command every output line belongs to it, recognised or not
_WHOLE_OUTPUT = frozenset(("kernel-log", "container", "modprobe", "dkms", "dkms-status", "nvidia-smi", "uname",
                           "environment", "file", "pip-list", "conda-list", "nvcc", "lsb-release", "modinfo", "lsmod",
                           "mokutil", "ubuntu-drivers", "dpkg", "lspci", "os-release", "nvidia-version", "cpuinfo",
                           "lscpu", "proc-version"))
_HTML = textmatch.compile(r"^(?:[ \t]*</?(?:code|pre|em|strong|b|i|tt|kbd|samp|p|details|summary|br|blockquote)\b"
                          r"[^>\n]*>)+|(?:</?(?:code|pre|em|strong|b|i|tt|kbd|samp|p|details|summary|br|blockquote)"
                          r"\b[^>\n]*>[ \t]*)+$")
# `__init__(`, `__call__.`: a Python dunder name at a line's start, which Markdown's emphasis markers must not eat
_DUNDER = textmatch.compile(r"__[A-Za-z]\w{0,40}__[(.:]")
_EMPHASIS = textmatch.compile(r"^(?:\*\*|__)(?P<a>[^ \t\n])|(?P<b>[^ \t\n])(?:\*\*|__)[ \t]*$|^[_*](?P<c>\d)")
_INLINE_CODE = textmatch.compile(r"`{1,2}(?P<code>[^`\n]{3,1000})`{1,2}")
# What belongs to a TensorFlow record found mid-line by its source file: the record's own head before the file (glog's
# `2019-08-13 11:02:51.856630: E `) and the prefix Ray puts before a worker's output (`(pid=3343) `, `(RolloutWorker
# pid=2211, ip=10.0.0.5) `), which says whose process printed it; read at the end of the words before the file
_TF_RECORD_HEAD = textmatch.compile(
    r"(?:\((?:[A-Za-z_][\w.]{0,80}[ \t]+)?pid=\d+(?:,[ \t]*ip=[^)\s]{1,64})?\)[ \t]+)?"
    r"(?:\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?:?[ \t]+[IWEF][ \t]+)?$")


@dataclass
class Line:
    """One line of the paste, as the recognisers read it."""

    no: int  # 1-based line number in the paste
    text: str  # without quote markers, HTML code tags and emphasis markers
    fence: int = 0  # 0: outside code fences; n: inside the n-th fenced block
    marker: bool = False  # a fence line (``` or ~~~) itself
    width: int = -1  # the raw line's length, quote markers included (what a terminal's hard wrap cut at)


@dataclass
class Segment:
    """One output found in the paste."""

    kind: str
    first: int  # first and last line numbers (1-based) in the paste
    last: int
    lines: list[str] = field(default_factory=list)
    command: Command | None = None
    inline: bool = False  # quoted inline in prose (`...`) rather than on lines of its own
    tags: set[str] = field(default_factory=set)

    @property
    def text(self) -> str:
        return dedent(self.lines)


def dedent(lines: list[str]) -> str:
    """The lines without their common indentation (an indented Markdown code block) and trailing blank lines."""
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    while lines and not lines[0].strip():
        lines = lines[1:]
    widths = [len(ln) - len(ln.lstrip(" \t")) for ln in lines if ln.strip()]
    cut = min(widths) if widths else 0
    return "\n".join(ln[cut:].rstrip() if ln.strip() else "" for ln in lines)


# -- preparing the lines --------------------------------------------------------------------------------------------


def _unquote(text: str) -> str:
    s = text.lstrip(" ")
    if not s.startswith(">") or s.startswith(">>>"):
        return text
    depth = 0
    while s.startswith(">") and not s.startswith(">>>") and depth < 8:
        s = s[1:]
        if s.startswith(" "):
            s = s[1:]
        depth += 1
        if s.lstrip(" ").startswith(">") and not s.lstrip(" ").startswith(">>>") and s[:1] == " ":
            s = s.lstrip(" ")
    return s


def _clean(text: str) -> str:
    if "<" in text:
        text = _HTML.sub("", text)
    if text.startswith("__") and _DUNDER.match(text):
        return text  # a Python name (`__init__() got an unexpected keyword argument`), not emphasis
    if "*" in text or "_" in text:
        m = _EMPHASIS.search(text)
        if m is not None:
            text = _EMPHASIS.sub(lambda mm: mm.group("a") or mm.group("b") or mm.group("c") or "", text)
    return text


def prepare(text: str) -> list[Line]:
    """The paste's lines with quote markers removed and code fences marked."""
    out: list[Line] = []
    fence_id, open_marker = 0, ""
    for no, raw in enumerate(text.split("\n"), 1):
        t = _clean(_unquote(raw)) if raw and (raw.lstrip(" ")[:1] in (">", "<", "*", "_") or "<" in raw
                                              or raw.endswith(("*", "_", ">"))) else raw
        st = t.lstrip()
        if st.startswith(("```", "~~~")):
            marker = st[:3]
            rest = st.lstrip(marker[0])
            if open_marker and marker == open_marker and not rest.strip():
                out.append(Line(no, "", 0, True))
                open_marker = ""
                continue
            if not open_marker:
                fence_id += 1
                open_marker = marker
                out.append(Line(no, "", 0, True))
                info = rest.strip()
                # "```user@host:~$ nvidia-smi": not an info string but the first line of the block
                if info and any(c in info for c in " $#@>:/") and len(info) > 2:
                    out[-1] = Line(no, info, fence_id, False)
                continue
        if open_marker and t.rstrip().endswith(open_marker) and t.strip() != open_marker:
            # "...GPU1```": the block closes at the end of this line
            out.append(Line(no, t.rstrip()[: -len(open_marker)].rstrip("`~"), fence_id, False))
            open_marker = ""
            continue
        if t.strip() in ("`", "``"):  # a stray backtick line around a pasted message
            t = ""
        out.append(Line(no, t, fence_id if open_marker else 0, False, len(raw)))
    return out


# -- tagging ----------------------------------------------------------------------------------------------------


@dataclass
class Tagged:
    """What the recognisers say about each line (indexes into the list of lines)."""

    tag: list[str | None]
    kind: list[str | None]  # the kind a line's tag belongs to
    col: list[int]  # where on the line the recogniser matched (0: at its start, after indentation)
    also: dict[int, set[str]]  # the kinds of other recognisers that matched the line (`model : 26` in cpuinfo)
    commands: dict[int, Command]
    repl: set[int]
    catalogue: dict[int, str]  # line index -> the catalogue source kind of a known message on it
    scan: Scan  # the prepared lines, joined for whole-paste matching


def tag_lines(lines: list[Line]) -> Tagged:
    """Run every recogniser once over the whole paste; each line gets the first tag (in priority order) that
    matched at its start."""
    scan = Scan([ln.text if not ln.marker else "" for ln in lines])
    n = len(lines)
    tag: list[str | None] = [None] * n
    kind: list[str | None] = [None] * n
    col: list[int] = [0] * n
    also: dict[int, set[str]] = {}
    commands: dict[int, Command] = {}
    repl: set[int] = set()

    def mark(i: int, t: str, k: str, pos: int = -1) -> None:
        if tag[i] is not None and k and k != kind[i]:
            also.setdefault(i, set()).add(k)
        if tag[i] is None and not lines[i].marker:
            tag[i], kind[i] = t, k
            # a message recognised mid-line keeps the words before it ("CudaAPIError: [100] Call to cuInit results
            # in CUDA_ERROR_NO_DEVICE"), less its indentation: only a recogniser of a line's own shape cuts a prefix
            if t == "tf-message":
                text = lines[i].text
                col[i] = len(text) - len(text.lstrip())
            elif pos > scan.starts[i]:
                c = scan.column(i, pos)
                if t == "tf" and c:
                    head = _TF_RECORD_HEAD.search(lines[i].text[:c])
                    c = head.start() if head is not None else c
                col[i] = c if lines[i].text[:c].strip() else 0

    # command lines first: a prompt line is never output
    for i, m in scan.finditer(rz.REPL):
        repl.add(i)
        mark(i, "repl", "")
        commands[i] = Command(text=(group(m, "code", rz.REPL) or "").strip(), argv=("python",), line_no=lines[i].no,
                              repl=True)
    for i, m in scan.finditer(rz.PROMPT):
        if tag[i] is not None:
            continue
        cmd = rz.parse_command(group(m, "cmd", rz.PROMPT) or "", lines[i].no)
        if cmd is None:
            continue
        bare = group(m, "bare", rz.PROMPT)
        if bare and bare != "$" and (lines[i].fence == 0 or cmd.tool not in rz.KNOWN_TOOLS):
            continue  # "# Heading", "% of memory": a bare # or % is a prompt only in a code block, before a tool
        if bare == "$" and lines[i].fence == 0 and cmd.tool not in rz.KNOWN_TOOLS and not cmd.tool.startswith("./"):
            continue  # "$ 100 per month": in prose a bare $ must be followed by a command tfdoctor knows
        commands[i] = cmd
        mark(i, "prompt", "")
    for i, m in scan.finditer(rz.JUPYTER_SHELL):
        cmd = rz.parse_command(group(m, "cmd", rz.JUPYTER_SHELL) or "", lines[i].no)
        if tag[i] is None and cmd is not None and cmd.tool in rz.KNOWN_TOOLS:
            commands[i] = cmd
            mark(i, "prompt", "")
    for i, _m in scan.finditer(rz.REPL_BANNER):
        if tag[i] is None:
            repl.add(i)
            mark(i, "repl", "")
            commands[i] = Command(text="python", argv=("python",), line_no=lines[i].no, repl=True)
    for i, _m in scan.finditer(rz.REPL_MORE):
        j = i - 1
        while j >= 0 and not lines[j].text.strip():
            j -= 1
        if j >= 0 and tag[j] == "repl" and tag[i] is None:
            repl.add(i)
            mark(i, "repl", "")
    # every output shape, in priority order (only the shapes that occur at all: one pass tells which)
    present = _tag_set().present(scan.data)
    for j, (t, pattern) in enumerate(rz.compiled_tags()):
        if present is not None and j not in present:
            continue
        for i, m in scan.finditer(pattern):
            mark(i, t.name, t.kind, m.start())
    # generic modinfo fields (`version:`, `name:`) open a modinfo segment only when a field only modinfo prints
    # follows in the same run of lines; otherwise they are left for other recognisers (TensorFlow's `name:`)
    for i in range(n):
        if tag[i] == "modinfo-field" and (i == 0 or kind[i - 1] != "modinfo"):
            j = i
            while j < n and kind[j] == "modinfo" and lines[j].text.strip():
                j += 1
            if not any(tag[k] == "modinfo" for k in range(i, j)):
                for k in range(i, j):
                    tag[k] = kind[k] = None
            else:
                tag[i] = "modinfo"
    # known messages of the evidence catalogue, wherever they are on a line: only on lines no shape recognised
    # (a log line already is a log line; in a megabyte of log that is most of them)
    rest = [i for i in range(n) if (tag[i] is None or not _TAG_START.get(tag[i], True)) and not lines[i].marker]
    sub = Scan([lines[i].text for i in rest]) if len(rest) < n else scan
    found, spans = _catalogue_lines(sub)
    catalogue: dict[int, tuple[str, int]] = {}
    for j, (source_kind, pos) in found.items():
        i = rest[j] if sub is not scan else j
        if sub is not scan:
            pos = pos - sub.starts[j] + scan.starts[i]
        catalogue[i] = (source_kind, pos)
        mark(i, "message", rz.CATALOGUE_KINDS.get(source_kind, ""), pos)
    # a message the paste wraps onto the next lines (`ERROR: This container was built for NVIDIA Driver Release 410
    # or later, but` / `version 396.26 was detected ...`) keeps those lines in its segment
    # (the message's own words: a shape another recogniser saw in them, such as a conda row in `version 396.26 was
    # detected`, gives way)
    for j, last in spans.items():
        first = rest[j] if sub is not scan else j
        for k in range(j + 1, last + 1):
            i = rest[k] if sub is not scan else k
            if i != first + (k - j):
                break  # lines the sub-scan joined that are not neighbours in the paste: no message spans them
            if not lines[i].marker:
                tag[i] = kind[i] = None
                mark(i, "message", rz.CATALOGUE_KINDS.get(found[j][0], ""))
    # bare command lines (no prompt): only where nothing else recognised the line
    for i, ln in enumerate(lines):
        if tag[i] is None and ln.text and ln.text[:1] != " " and len(ln.text) < 200:
            first = ln.text.lstrip().split(" ", 1)[0]
            if first in rz.BARE_TOOLS or first == "sudo":
                cmd = rz.bare_command(ln.text)
                if cmd is not None:
                    commands[i] = cmd
                    mark(i, "prompt", "")
    return Tagged(tag, kind, col, also, commands, repl, {i: k for i, (k, _) in catalogue.items()}, scan)


def _catalogue_lines(scan: Scan) -> tuple[dict[int, tuple[str, int]], dict[int, int]]:
    """Lines that hold a known message of the evidence catalogue: the message's source kind and where it starts; and
    for a message that runs on over the next lines (a pattern's `\\s` across a line break), the last line it reaches
    (at most three lines on)."""
    entries, patterns = _catalogue_patterns()
    present = _catalogue_set().present(scan.data)
    out: dict[int, tuple[str, int]] = {}
    spans: dict[int, int] = {}
    for j, (entry, pattern) in enumerate(zip(entries, patterns, strict=True)):
        if present is not None and j not in present:
            continue
        for i, m in scan.finditer(pattern):
            if i not in out or m.start() < out[i][1]:
                out[i] = (entry.source_kind, m.start())
            last = scan.line_of(max(m.end() - 1, m.start()))
            if i < last <= i + 3:
                spans[i] = max(spans.get(i, i), last)
    return out, spans


@lru_cache(maxsize=1)
def _catalogue_patterns() -> tuple[tuple, tuple[textmatch.Pattern, ...]]:
    """The catalogue messages a segment can be recognised by, compiled for whole-paste scanning."""
    from tfdoctor.evidence import catalogue

    entries = tuple(e for e in catalogue() if e.source_kind in rz.CATALOGUE_KINDS
                    and (e.claims or e.source_kind == "tensorflow"))
    return entries, tuple(textmatch.compile(e.regex, e.flags | textmatch.MULTILINE) for e in entries)


@lru_cache(maxsize=1)
def _catalogue_set() -> textmatch.PatternSet:
    return textmatch.PatternSet(_catalogue_patterns()[1])


@lru_cache(maxsize=1)
def _tag_set() -> textmatch.PatternSet:
    return textmatch.PatternSet([p for _, p in rz.compiled_tags()])



# -- grouping -----------------------------------------------------------------------------------------------------


def command_kind(cmd: Command | None) -> str | None:
    """The kind of output a command prints, when the command alone tells."""
    if cmd is None or cmd.repl:
        return None
    tool, args = cmd.tool, cmd.argv[1:]
    for path in cmd.paths():
        k = file_kind(path)
        if k is not None and (tool in ("cat", "less", "more", "head", "tail", "grep", "egrep", "bat")
                              or cmd.filters):
            return k
    if tool == "nvidia-smi":
        return "nvidia-smi"
    if tool in ("dmesg",) or (tool == "journalctl" and any(a in ("-k", "--dmesg", "-xe", "-b", "-e", "-xb")
                                                           or a.startswith("-k") for a in args)):
        return "kernel-log"
    if tool == "talosctl" and "dmesg" in args:
        return "kernel-log"
    if tool == "lspci":
        return "lspci"
    if tool == "lsmod":
        return "lsmod"
    if tool == "modinfo" and any(a.startswith("nvidia") for a in args):
        return "modinfo"
    if tool in ("modprobe", "insmod"):
        return "modprobe"
    if tool == "dkms":
        return "dkms-status" if args[:1] == ("status",) else "dkms"
    if tool == "mokutil":
        return "mokutil"
    if tool == "ubuntu-drivers" and args[:1] in (("devices",), ("list",)):
        return "ubuntu-drivers"
    if tool == "uname":
        return "uname"
    if tool == "lsb_release":
        return "lsb-release"
    if tool == "lscpu":
        return "lscpu"
    if tool in ("pip", "pip3") and args[:1] in (("list",), ("freeze",)):
        return "pip-list"
    if tool in ("conda", "mamba", "micromamba") and args[:1] == ("list",):
        return "conda-list"
    if tool == "nvcc" and any(a in ("--version", "-V") for a in args):
        return "nvcc"
    if tool == "dpkg" and any(a.startswith("-l") for a in args):
        return "dpkg"
    if tool in ("echo", "printenv") and echoed_variables(tool, args):
        return "environment"
    if tool in ("env", "printenv", "set") and not args or tool == "export" and args[:1] == ("-p",):
        return "environment"
    if tool in rz.CONTAINER_TOOLS:
        return "container"
    return None


_ECHOED = textmatch.compile(r"\$\{?([A-Z_][A-Z0-9_]{0,63})\}?")


def echoed_variables(tool: str, args) -> list[str]:
    """The allow-listed environment variables an `echo $NAME` (or `printenv NAME`) prints, in order."""
    names: list[str] = []
    for a in args:
        found = [m.group(1) for m in _ECHOED.finditer(a)] if tool == "echo" else [a.strip("'\"")]
        names += [n for n in found if n in ALLOWED_ENV and n not in names]
    return names


# Files the probes read, by what a paste of them is
_FILES = (
    ("/proc/driver/nvidia/version", "nvidia-version"),
    ("/etc/os-release", "os-release"), ("/usr/lib/os-release", "os-release"), ("/etc/lsb-release", "os-release"),
    ("/proc/cpuinfo", "cpuinfo"), ("/proc/version", "proc-version"), ("/proc/1/cgroup", "cgroup"),
    ("/var/log/syslog", "kernel-log"), ("/var/log/kern.log", "kernel-log"), ("/var/log/messages", "kernel-log"),
)
_RAW_FILES = ("/proc/cmdline", "/proc/modules", "/proc/meminfo", "/sys/kernel/security/lockdown",
              "/etc/docker/daemon.json")
MODPROBE_DIR_PREFIXES = tuple(d + "/" for d in MODPROBE_DIRS)


def file_kind(path: str) -> str | None:
    """The kind of a pasted file the probes read, from its path; "file" for those kept as they are."""
    if path.startswith("/etc/") and path.endswith("release") and "*" in path:
        return "os-release"
    for p, k in _FILES:
        if path == p:
            return k
    if path in _RAW_FILES:
        return "file"
    if path.startswith(MODPROBE_DIR_PREFIXES) and textmatch.fullmatch(r"/[\w./-]+\.conf|/[\w./-]+", path) and "*" not in path:
        return "file"
    return None


def _continues(seg: Segment, tag: str | None, kind: str | None, ln: Line, gap: int) -> bool:
    """Does this line go on the open segment (which it did not start)?"""
    text = ln.text
    if gap and seg.kind not in _GAP_KINDS and not (ln.fence and seg.kind in ("tensorflow-log", "kernel-log")):
        return False
    if kind == seg.kind and tag is not None:
        return True
    k = seg.kind
    if k == "tensorflow-log":
        if tag in ("trace-body", "exc") or (tag is None and ln.fence and text.strip()):
            return True
        if tag is None and (text[:1] in (" ", "\t") or rz.TF_CONTINUATION.match(text) is not None):
            return True
        return tag is None and "trace" in seg.tags and text.strip() != ""
    if k == "kernel-log":
        return tag is None and text[:1] in (" ", "\t") and text.strip() != ""
    if k == "lspci":
        return tag is None and text[:1] in (" ", "\t") and gap == 0
    if k == "modinfo":
        return tag is None and text[:1] in (" ", "\t") and gap == 0
    if k == "dkms":
        return tag is None and gap == 0 and text.strip() != "" and (text[:1] in (" ", "\t") or "make" in text
                                                                     or text.rstrip().endswith("..."))
    if k == "container":
        return tag is None and gap == 0 and seg.lines and seg.lines[-1].rstrip().endswith(("stderr:", ":"))
    if k == "pip-list":
        return tag in ("pip-row",)
    if k == "conda-list":
        return tag in ("conda-row",) or (tag is None and text.startswith("#"))
    return False


@dataclass
class _Region:
    """The output region of one command line: from it to the next command line or the end of its block."""

    command: Command
    kind: str | None  # what the command prints, when the command alone tells
    fence: int
    segment: Segment | None = None  # for commands printed whole: every output line goes here
    lines: list[tuple[int, str]] = field(default_factory=list)  # raw output lines (for kinds with no shape)
    found: bool = False  # a content recogniser found something in the region
    awaiting: bool = False  # the command stood alone in its code block: its output may be the next block

    def empty(self) -> bool:
        return not any(t for _, t in self.lines) and (self.segment is None or not self.segment.lines)


@dataclass
class Segmented:
    """The outputs a paste holds, in order, its prepared lines, and those lines joined for whole-paste matching."""

    segments: list[Segment]
    lines: list[Line]
    scan: Scan


def segment(text: str) -> Segmented:
    """The outputs a paste holds, in order, and its prepared lines."""
    lines = prepare(text)
    tagged = tag_lines(lines)
    rests = _cut_rests(lines)
    segments: list[Segment] = []
    cur: Segment | None = None
    region: _Region | None = None
    gap = 0
    prev_blank = True
    prose_with_code: list[Line] = []
    mixed_prose: list[tuple[Line, str | None]] = []

    def close() -> None:
        nonlocal cur
        if cur is not None:
            segments.append(cur)
            cur = None

    def close_region() -> None:
        nonlocal region
        if region is not None:
            if region.segment is not None and any(s.strip() for s in region.segment.lines):
                segments.append(region.segment)
            elif region.kind in ("uname", "environment", "nvidia-smi", "dkms-status", "modprobe") \
                    and not region.found:
                seg = _region_only(region)
                if seg is not None:
                    segments.append(seg)
            region = None

    for i, ln in enumerate(lines):
        tag, kind = tagged.tag[i], tagged.kind[i]
        if ln.marker:
            close()
            if region is not None and region.fence:
                if not region.awaiting and region.empty():
                    # `$ docker run ...` alone in a code block, what it printed in the next one (leejet/
                    # stable-diffusion.cpp#1352): the region waits for that block, which prose ends
                    region.awaiting = True
                elif not region.awaiting:
                    close_region()
            gap, prev_blank = 0, True
            continue
        if i in tagged.commands:
            close()
            cmd = tagged.commands[i]
            if not (cmd.repl and region is not None and region.command.repl and region.fence == ln.fence):
                close_region()
                ck = command_kind(cmd)
                region = _Region(cmd, ck, ln.fence)
                if ck in _WHOLE_OUTPUT and ck not in ("uname", "environment", "nvidia-smi"):
                    region.segment = Segment(ck, ln.no + 1, ln.no, command=cmd)
            gap, prev_blank = 0, False
            continue
        if i in tagged.repl:
            close()
            gap, prev_blank = 0, False
            continue
        if not ln.text.strip():
            gap += 1
            prev_blank = True
            if region is not None:
                region.lines.append((ln.no, ""))
                if region.segment is not None and region.segment.lines:
                    region.segment.lines.append("")
            continue
        # a paragraph of prose after a blank line ends a command's output outside code blocks
        if region is not None and tag is None and prev_blank and not ln.fence and region.fence == 0 \
                and (region.lines or region.segment is None or region.segment.lines):
            close_region()
        if region is not None and ln.fence != region.fence:
            if region.fence == 0 and region.empty():
                region.fence = ln.fence  # "nvidia-smi" on its own line, then its output in a code block
            elif region.awaiting and ln.fence and region.empty():
                region.fence, region.awaiting = ln.fence, False  # the command's block, then its output's
            else:
                close_region()
        prev_blank = False
        # under a command printed whole, its own kind and unrecognised lines are its output
        if region is not None and region.segment is not None and (tag is None or kind == region.segment.kind
                                                                   or (region.segment.kind == "kernel-log"
                                                                       and kind in ("nvidia-smi", "modprobe"))):
            close()
            rs = region.segment
            if not rs.lines:
                rs.first = ln.no
            rs.lines.append(ln.text[tagged.col[i]:] if tagged.col[i] and kind == rs.kind else ln.text)
            rs.last = ln.no
            if tag is not None:
                rs.tags.add(tag)
            region.found = True
            gap = 0
            continue
        if region is not None:
            region.lines.append((ln.no, ln.text))
        text = ln.text[tagged.col[i]:] if tagged.col[i] else ln.text
        if tag is not None and tagged.col[i] and not ln.fence and ln.text[:tagged.col[i]].count("`") % 2:
            # an output quoted inline in a sentence (`...` opened before it): others may be quoted in the same one
            mixed_prose.append((ln, kind))
        if tag is not None and kind and _starts(tag, kind, cur, gap):
            close()
            cur = Segment(kind, ln.no, ln.no, [text], command=region.command if region else None, tags={tag})
            if region is not None:
                region.found = True
        elif cur is not None and i in rests and gap == 0 and cur.last == ln.no - 1 \
                and len(cur.lines[-1]) < textmatch.MAX_LINE:
            # the rest of the line a terminal cut at its width: one line again, as the program printed it
            cur.lines[-1] += text
            cur.last = ln.no
        elif cur is not None and (_continues(cur, tag, kind, ln, gap)
                                  or (cur.kind in tagged.also.get(i, ()) and (gap == 0 or cur.kind in _GAP_KINDS))):
            if gap and cur.kind in _GAP_KINDS | {"tensorflow-log", "kernel-log"}:
                cur.lines.extend([""] * min(gap, 2))
            cur.lines.append(text)
            cur.last = ln.no
            if tag is not None:
                cur.tags.add(tag)
        else:
            close()
            if tag is None and "`" in ln.text and not ln.fence:
                prose_with_code.append(ln)
        gap = 0
    close()
    close_region()
    segments.extend(_inline(prose_with_code))
    # a sentence that quotes two programs' messages (`NVIDIA-SMI has failed ...` and `modprobe: FATAL: ...`): the
    # line is the first one's, and each other quoted output is a segment of its own kind
    own = {ln.no: k for ln, k in mixed_prose}
    segments.extend(seg for seg in _inline([ln for ln, _ in mixed_prose]) if seg.kind != own.get(seg.first))
    segments.sort(key=lambda s: (s.first, s.last))
    return Segmented(_merge(segments, lines), lines, tagged.scan)


def _cut_rests(lines: list[Line]) -> set[int]:
    """The indexes of the lines that are the rest of a line a terminal cut at its width, where joining them shows a
    known message that no piece shows alone (`...Loaded runtime CuDNN librar` / `y: 8.8.0 but source was compiled
    with: 8.9.4 ...`): the width and the runs as evidence.wrap_width and evidence.cut_runs find them, on the raw
    widths (a quote marker put before the first piece after the cut counts). Lines of equal width that are whole
    (two GPUs' `Created device` lines) stay apart: their join shows nothing new."""
    from tfdoctor.evidence import cut_runs, wrap_width

    width = wrap_width([(ln.width, ln.text) for ln in lines])
    if not width:
        return set()
    cs = _catalogue_set()

    def shown(text: str) -> frozenset[int]:
        return cs.present(textmatch.utf8(text)) or frozenset()

    rests: set[int] = set()
    for i, j in cut_runs([(ln.no, ln.text, ln.width) for ln in lines], width):
        pieces = [ln.text for ln in lines[i:j + 1]]
        if shown("".join(pieces)[:textmatch.MAX_LINE]) - frozenset().union(*(shown(t) for t in pieces)):
            rests.update(range(i + 1, j + 1))
    return rests


def _merge(segments: list[Segment], lines: list[Line]) -> list[Segment]:
    """Join segments of one kind that only blank lines separate (one output printed in paragraphs)."""
    blank = {ln.no for ln in lines if not ln.text.strip() and not ln.marker}
    out: list[Segment] = []
    for seg in segments:
        prev = out[-1] if out else None
        if prev is not None and prev.kind == seg.kind and not prev.inline and not seg.inline \
                and (seg.command is None or seg.command is prev.command) and seg.first > prev.last \
                and all(n in blank for n in range(prev.last + 1, seg.first)):
            prev.lines.extend([""] * (seg.first - prev.last - 1) + seg.lines)
            prev.last = seg.last
            prev.tags |= seg.tags
            continue
        out.append(seg)
    return out


def _starts(tag: str, kind: str, cur: Segment | None, gap: int) -> bool:
    """Does a tagged line open a segment (rather than continue the open one)?"""
    if _TAG_START.get(tag) is False:  # continuation-only tag: it starts nothing
        return False
    # a line of the open segment's kind continues it (unless blank lines separate them and the kind allows none)
    return not (cur is not None and cur.kind == kind and (gap == 0 or kind in _GAP_KINDS))


_TAG_START = {t.name: t.start for t in rz.TAGS}


def _region_only(region: _Region) -> Segment | None:
    """The output of a command that only the command identifies (`uname -r` prints a bare release)."""
    out = [(no, t) for no, t in region.lines if t.strip()]
    cmd = region.command
    if region.kind == "uname":
        for no, t in out[:2]:
            word = t.strip()
            if rz.KERNEL_RELEASE.match(word) is not None:
                return Segment("uname", no, no, [word], command=cmd, tags={"uname-r"})
        return None
    if region.kind == "environment":
        if cmd.tool in ("env", "set", "export") or (cmd.tool == "printenv" and not cmd.argv[1:]):
            if out:  # a listing: VAR=value lines
                return Segment("environment", out[0][0], out[-1][0], [t for _, t in out], command=cmd,
                               tags={"listing"})
            return None
        if out and out[0][1].strip() and len(out[0][1]) < 4000:  # (a folder list is long)
            no, t = out[0]
            return Segment("environment", no, no, [t.strip()], command=cmd, tags={"echo"})
        return None
    if region.kind == "dkms-status" and not out and region.fence:
        # an empty `dkms status` in a terminal transcript: no DKMS module at all
        return Segment("dkms-status", cmd.line_no, cmd.line_no, [], command=cmd, tags={"empty"})
    if region.kind == "nvidia-smi" and cmd.argv[1:]:
        return None  # `nvidia-smi -q`, `-L`, `dmon`...: another format, not the table the probe reads
    if region.kind in ("nvidia-smi", "modprobe") and out:
        lines = [t for _, t in out[:20]]
        return Segment(region.kind, out[0][0], out[min(len(out), 20) - 1][0], lines, command=cmd,
                       tags={"unrecognised"})
    return None


def _inline(prose: list[Line]) -> list[Segment]:
    """Known messages and command/answer pairs quoted inline in prose lines (`` `modprobe: FATAL: ...` ``,
    "`uname -r` gives `5.15.0-91-generic`"). All spans are classified together, each pattern run once."""
    spans: list[tuple[Line, list[str]]] = []
    for ln in prose:
        found = [m.group("code").strip() for m in _INLINE_CODE.finditer(ln.text)]
        if found:
            spans.append((ln, found))
    flat = [(ln, j, span) for ln, found in spans for j, span in enumerate(found)]
    kinds = span_kinds([span for _, _, span in flat])
    out: list[Segment] = []
    by_line: dict[int, list[str]] = {ln.no: found for ln, found in spans}
    for (ln, j, span), found in zip(flat, kinds, strict=True):
        if found is not None:
            out.append(Segment(found[0], ln.no, ln.no, [span], inline=True, tags={"inline", found[1]}))
            continue
        line_spans = by_line[ln.no]
        if j + 1 >= len(line_spans) or span.split(" ", 1)[0] not in rz.KNOWN_TOOLS:
            continue
        cmd = rz.parse_command(span, ln.no)
        ck = command_kind(cmd)
        answer = line_spans[j + 1]
        if ck == "uname" and rz.KERNEL_RELEASE.match(answer) is not None:
            out.append(Segment("uname", ln.no, ln.no, [answer], command=cmd, inline=True, tags={"uname-r"}))
        elif ck == "environment" and textmatch.fullmatch(r"[\w,:-]{1,100}", answer) is not None:
            out.append(Segment("environment", ln.no, ln.no, [answer], command=cmd, inline=True, tags={"echo"}))
    return out


# outputs whose lines are never quoted inline as output: a path in backticks is prose naming a file ("`/dev/nvidia0`
# is created" under "Expected behavior"), not `ls` showing that it exists
_NOT_INLINE = frozenset(("lsmod", "pip-list", "conda-list", "dkms-status", "os-release", "cpuinfo", "modinfo", "lscpu",
                         "lsb-release", "container-files"))


def span_kinds(spans: list[str]) -> list[tuple[str, str] | None]:
    """(kind, tag) of each text quoted on its own (inline), when it is a known message or output line: the tag
    patterns must match at the span's start, a catalogue message anywhere in it."""
    out: list[tuple[str, str] | None] = [None] * len(spans)
    if not spans:
        return out
    scan = Scan(spans)
    present = _tag_set().present(scan.data)
    for j, (t, pattern) in enumerate(rz.compiled_tags()):
        if not t.start or t.kind in _NOT_INLINE or (present is not None and j not in present):
            continue
        for i, m in scan.finditer(pattern):
            lead = len(spans[i]) - len(spans[i].lstrip())
            if scan.column(i, m.start()) > lead:  # inside a span: only a catalogue message may be
                continue
            if out[i] is None:
                out[i] = (t.kind, t.name)
    entries, patterns = _catalogue_patterns()
    present = _catalogue_set().present(scan.data)
    for j, (entry, pattern) in enumerate(zip(entries, patterns, strict=True)):
        if not entry.claims or (present is not None and j not in present):
            continue
        for i, _m in scan.finditer(pattern):
            if out[i] is None:
                out[i] = (rz.CATALOGUE_KINDS[entry.source_kind], "message")
    return out

