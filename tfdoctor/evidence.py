"""Evidence: the lines that programs printed on this machine, matched against one sourced catalogue of known messages
(tfdoctor/knowledge/messages.json), become Observations: what a line establishes about the machine, where it came
from, and how strongly.

Source kinds: `tensorflow` (TensorFlow/XLA logs of any release and the Python prints people paste), `kernel` (dmesg,
journalctl -k, syslog and Talos lines, after their prefixes are removed and wrapped lines are joined), `nvidia-smi`,
`modprobe`, `modinfo`, `dkms`, `mokutil`, `ubuntu-drivers`, `container` (docker, podman, nvidia-container-cli,
Kubernetes), `installer` (NVIDIA's .run installer), `cuda` (what CUDA programs print about a failed initialisation:
PyTorch, CUDA samples, burn-in tools) and `fabricmanager` (the NVIDIA Fabric Manager's journal). A new message is one catalogue entry with its verbatim example
line and the public post it came from; tests/test_evidence.py matches every example against its pattern.

Imports nothing of tfdoctor but textmatch and the knowledge loader: host, probes, the model and checks may all use it.
Never raises on any text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from tfdoctor import textmatch

MAX_LINES = 50_000  # per source: more is a flood, not a log
# (CUDA programs' own error text and the Fabric Manager's journal: the driver API and data-centre checks read them)
SOURCE_KINDS = ("tensorflow", "kernel", "nvidia-smi", "modprobe", "modinfo", "dkms", "mokutil", "ubuntu-drivers",
                "container", "installer", "pip", "nvidia-settings", "cuda", "fabricmanager", "lshw", "ls")
# How strongly an observation establishes its claim. A probe's own reading of the machine (a file, a library call)
# outranks what a program says about it, which outranks what is inferred from another program's log.
STRENGTH = {"read": 3, "direct": 2, "inferred": 1}


@dataclass(frozen=True)
class Entry:
    """One known message."""

    id: str
    source_kind: str
    regex: str
    flags: int
    claims: tuple[tuple[str, object], ...]
    strength: str
    severity: str
    example: str
    url: str | None
    printed_by: str
    more_examples: tuple[str, ...] = ()

    @property
    def pattern(self) -> textmatch.Pattern:
        """The compiled pattern: compiled on first use (one RE2 set finds the candidate entries of a line first, so
        most entries are never compiled on their own in a run)."""
        return textmatch.compile(self.regex, self.flags)


@dataclass(frozen=True)
class Observation:
    """A line that matched a known message, and what it establishes."""

    message: str  # catalogue id
    claims: tuple[tuple[str, object], ...]
    source: str  # where the line came from: "tensorflow.log", "dmesg", "nvidia-smi", "modprobe --dry-run nvidia"...
    line_no: int  # 1-based, in that source
    line: str
    strength: int
    severity: str = ""
    groups: tuple[tuple[str, str], ...] = ()

    def claim(self, question: str):
        return next((v for q, v in self.claims if q == question), None)

    def group(self, name: str) -> str | None:
        return next((v for k, v in self.groups if k == name), None)

    def to_dict(self) -> dict:
        return {"source": self.source, "line_no": self.line_no, "line": self.line, "message": self.message}


@dataclass(frozen=True)
class Source:
    """The text one program printed (or one file held), with the kind of catalogue that reads it."""

    kind: str
    name: str
    text: str = ""
    lines: tuple[str, ...] = field(default=())

    def iter_lines(self):
        if self.lines:
            yield from enumerate(self.lines[:MAX_LINES], 1)
        elif self.kind in ("kernel", ANY):
            yield from kernel_messages(self.text)
        else:
            yield from enumerate((self.text or "").splitlines()[:MAX_LINES], 1)


# -- the catalogue -----------------------------------------------------------------------------------------------

CATALOGUE_PATH = Path(__file__).resolve().parent / "knowledge" / "messages.json"


@lru_cache(maxsize=1)
def catalogue() -> tuple[Entry, ...]:
    """Every known message (its pattern compiled by RE2 on first use; tests/test_evidence.py compiles them all).
    Raises for a broken catalogue: that is a bug in tfdoctor."""
    data = json.loads(CATALOGUE_PATH.read_text(encoding="utf-8"))
    out = []
    for r in data["messages"]:
        flags = textmatch.IGNORECASE if "i" in r.get("flags", "") else 0
        out.append(Entry(
            id=r["id"], source_kind=r["source_kind"], regex=r["pattern"], flags=flags,
            claims=tuple(sorted((r.get("claims") or {}).items())), strength=r.get("strength", "direct"),
            severity=r.get("severity_hint", ""), example=r["example"], url=r.get("url"),
            printed_by=r.get("printed_by", ""), more_examples=tuple(r.get("more_examples", ())),
        ))
    return tuple(out)


def questions() -> dict[str, str]:
    """The questions of the machine model that catalogue claims answer, with their meaning."""
    return json.loads(CATALOGUE_PATH.read_text(encoding="utf-8"))["_meta"]["questions"]


# A pasted output of a program no probe knows (a script, `docker compose up`, a pod's log) is read with every catalogue
# but TensorFlow's: those messages are specific enough to be recognised wherever they appear.
ANY = "any"
# TensorFlow's log: TensorFlow's messages and, TensorFlow being a CUDA program, what CUDA programs print about CUDA
# itself (802, 999, an uncorrectable ECC error): one source read in one pass over both catalogues
TENSORFLOW_LOG = "tensorflow+cuda"


@lru_cache(maxsize=16)
def _entries(kind: str) -> tuple[Entry, ...]:
    # A kernel log read from the journal holds other programs' lines too (`gdm3[7055]: modprobe: ERROR: could not
    # insert 'nvidia': Key was rejected by service`, `nvidia-settings: ERROR: NVIDIA driver is not loaded`): it is read
    # with every catalogue but TensorFlow's, like a pasted output of an unknown program.
    if kind in (ANY, "kernel"):
        return tuple(e for e in catalogue() if e.source_kind != "tensorflow")
    kinds = kind.split("+")  # several catalogues at once: TENSORFLOW_LOG
    return tuple(e for e in catalogue() if e.source_kind in kinds)


class _Matcher:
    """All of one catalogue's patterns in one RE2 set (textmatch.PatternSet): one linear pass per line says which
    entries can match, and only those are searched again for their named groups."""

    def __init__(self, entries: tuple[Entry, ...]):
        self.entries = entries
        self._set = textmatch.PatternSet(e.pattern for e in entries)

    def matching(self, line: str) -> list[Entry]:
        found = self._set.present(textmatch.utf8(line))
        if found is None:  # RE2 could not tell (out of memory on a hostile line): every entry is tried
            return list(self.entries)
        return [self.entries[i] for i in sorted(found)]


@lru_cache(maxsize=16)
def _matcher(kind: str) -> _Matcher:
    return _Matcher(_entries(kind))


# What a log collector puts before every line it stores, in front of what the program printed:
# - a timestamp: `docker logs -t`, `kubectl logs --timestamps`, GitHub Actions (`2024-05-01T10:11:12.3456789Z `),
#   Jenkins' timestamper (`[2024-05-01T10:11:12.345Z] `). A journal line in ISO form (`2024-05-01T10:11:12+0000 host
#   kernel: `) has the same start and is not a collector's stamp: the host and `kernel:` or `program[pid]:` after it
#   say so (_JOURNAL_REST; `Driver Version: 384.69` after a stamp is not a host and a program);
# - the container: `docker compose logs` (`ollama-1  | `, docker-compose 1.x `web_1  | `: the service and the replica's
#   number, padded), `kubectl logs --prefix` (`[pod/trainer-0/tensorflow] `).
# Both may come together (`ollama-1  | 2024-05-01T10:11:12.345Z ...` from `docker compose logs -t`).
_STAMP = r"\[?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)\]?(?:[ \t]+|$)"
_COLLECTOR_STAMP = textmatch.compile(
    rf"^[ \t]*(?:(?:[A-Za-z0-9][\w.-]{{0,62}}[-_]\d{{1,4}}[ \t]+\|(?: |$)|\[pod/[\w.-]{{1,253}}/[\w.-]{{1,63}}\] )"
    rf"(?:{_STAMP})?|{_STAMP})")
_JOURNAL_REST = textmatch.compile(r"^[A-Za-z0-9][\w.-]{0,252} (?:kernel|[A-Za-z][\w.@/-]{0,79}\[\d+\]): ")


def strip_collector_stamp(line: str) -> str:
    """`line` without a log collector's prefix before it (see _COLLECTOR_STAMP); other lines as they are."""
    c = line[:1]  # most lines are told apart without a match: this runs on every line read
    if c.isdigit():
        if line[10:11] != "T":
            return line
    elif c == "[":
        if line[11:12] != "T" and not line.startswith("[pod/"):
            return line
    elif c not in (" ", "\t") and "|" not in line[:80]:
        return line
    m = _COLLECTOR_STAMP.match(line)
    if m is None or _JOURNAL_REST.match(line[m.end():]):
        return line
    return line[m.end():]


def normalise(line: str) -> str:
    """A line as the program printed it: typographic quotes and no-break spaces that a forum or a word processor
    put in are turned back into ASCII (`Could not load dynamic library ‘libcusolver.so.10’`), and a log collector's
    timestamp before it is dropped (`2024-05-01T10:11:12.3456789Z Could not load ...`)."""
    return strip_collector_stamp(textmatch.as_printed(line))


# -- kernel log forms --------------------------------------------------------------------------------------------

# `[   12.345678] `, `[Mon Jan  1 12:00:00 2024] ` (dmesg -T), `<4>[   12.3] ` (raw printk level), `kern  :warn  : [
# 12.3] ` (dmesg -x), `[   12.345678 <    0.000123>] ` (dmesg -d), `[   12.345678] host kernel: ` (journalctl -o
# short-monotonic), `[  +0.000844] ` and `[Dec07 02:09] ` (dmesg -H / --reltime: the time since the line before, the
# minute where it changes)
# (DMESG_STAMP, the stamp alone, is triage's recogniser of a dmesg line too: one line never holds a newline, a paste
# does, hence [ \t] rather than \s inside it)
DMESG_STAMP = (r"(?:<\d>)?(?:[a-z]{2,8} *:[a-z]{2,6} *: )?\[[ \t]*(?:\+?\d+\.\d+(?: *< *\d+\.\d+>)?|"
               r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d [\d:]{8} \d{4}|[A-Z][a-z]{2} {0,2}\d{1,2} \d\d:\d\d)\]")
_DMESG = rf"\s*{DMESG_STAMP}\s?(?:[A-Za-z0-9][\w.-]{{0,252}} kernel: )?"
# `Jan 01 12:00:00 host kernel: `, `2024-01-01T12:00:00+0000 host kernel: ` (journalctl, syslog), optionally followed by
# a dmesg timestamp (syslog of older kernels). The month is the locale's (`mar 06`, `Mär 06`, `okt. 14`), and the
# program is any (`gdm3[7055]: modprobe: ERROR: ...`): the journal holds every program's lines.
_JOURNAL = (r"\s*(?:\S{2,5}\.?\s+\d{1,2}\.?,? [\d:]{8}(?:\.\d+)?|\d{4}-\d\d-\d\d[T ][\d:.,]+"
            r"(?:[+-]\d{2}:?\d{2}|Z)?) \S+ (?:kernel|[^\s:\[\]]{1,80}(?:\[\d+\])?): "
            r"(?:\[\s*\d+\.\d+\] )?")
# `kernel: NVRM: ...` as journalctl -o cat, or a copy that kept only the program's name
_BARE_KERNEL = r"\s*kernel: (?:\[\s*\d+\.\d+\] )?"
# Talos: `172.20.0.2: kern: warning: [2024-01-01T12:00:00.000Z]: ` (node prefix optional)
_TALOS = r"\s*(?:\S+: )?kern:\s+[a-z]+: \[[^\]]{1,40}\]: "
# One pass per line: the forms in the order they are tried (RE2 prefers the earlier alternative, as Perl does)
_KERNEL_PREFIX = textmatch.compile(f"^(?:{_JOURNAL}|{_TALOS}|{_DMESG}|{_BARE_KERNEL})")
# A line that continues the previous message: indented with no timestamp of its own (journalctl wraps multi-line
# NVRM messages so), or a bare `NVRM:` line after a timestamped one (dmesg prints the rest of a message so).
_CONTINUATION = textmatch.compile(r"^\s{4,}\S")
_NVRM_REPEAT = textmatch.compile(r"\s+NVRM:\s+")
# an NVRM line that names its GPU or the function that printed it (`NVRM: GPU0 _kgspBootGspRm: ...`, `NVRM: GPU
# 0000:05:00.0: RmInitAdapter failed!`, `NVRM: RmInitAdapter: ...`, `NVRM: Xid ...`) is a message of its own, never the
# rest of the one before it
_NVRM_OWN = textmatch.compile(r"^\s*(?:GPU ?[0-9a-fA-F:.]+:? |Xid |[A-Za-z_]\w*: )")


def strip_kernel_prefix(line: str) -> tuple[str, bool]:
    """(the message, whether the line carried a prefix of its own)."""
    msg, prefix = _split_prefix(line)
    return msg, bool(prefix)


def _split_prefix(line: str) -> tuple[str, str]:
    m = _KERNEL_PREFIX.match(line)
    if m and m.end():
        return line[m.end():], line[:m.end()].strip()
    return line, ""


def kernel_messages(text: str | None):
    """(line number, message) for each kernel message in dmesg, journalctl, syslog or Talos form.

    Messages wrapped over several lines (journalctl's indented continuations, syslog's `#012` escapes) are joined
    so that one message reads as one line; a line journalctl cut short (ending in `>` or `…`) is kept as it is.
    """
    out: list[tuple[int, str]] = []
    last_prefix = None
    joinable = False  # the last message began on a line with a kernel prefix: an indented line may continue it
    raws = (text or "").splitlines()[:MAX_LINES]
    wrap = wrap_width([(len(r), r) for r in raws])
    cut = False  # the last line was a piece of a line cut at that width
    for no, raw in enumerate(raws, 1):
        piece, cut = cut, wrap and len(raw) == wrap
        raw = normalise(raw.replace("#012", " "))
        msg, prefix = _split_prefix(raw)
        if piece and joinable and out and not prefix and continues_cut(raws[no - 2], raw) \
                and len(out[-1][1]) < textmatch.MAX_LINE:  # the rest of a kernel message cut at the width
            prev_no, prev = out[-1]
            out[-1] = (prev_no, prev + (raw if cut else raw.rstrip()))
            continue
        prefixed, same_time = bool(prefix), prefix == last_prefix
        last_prefix = prefix or last_prefix
        if out and msg.lstrip().startswith("NVRM:") and out[-1][1].startswith("NVRM:") and (not prefixed or same_time) \
                and not out[-1][1].rstrip().endswith((".", "!", "?")) and not _NVRM_OWN.match(msg.lstrip()[5:]):
            # dmesg prints one NVRM message over several `NVRM:` lines, each with its own prefix or none
            prev_no, prev = out[-1]
            out[-1] = (prev_no, f"{prev.rstrip()} {msg.lstrip()[5:].strip()}")
            continue
        if not prefixed and out and joinable and _CONTINUATION.match(raw):
            # journalctl indents the rest of a long message under its prefixed first line; an indented block
            # after unprefixed text (a Markdown code block, a table) is lines of its own
            prev_no, prev = out[-1]
            joined = f"{prev} {raw.strip()}"
            # `NVRM: ` repeated at the start of a continuation is not part of the sentence
            out[-1] = (prev_no, _NVRM_REPEAT.sub(" ", joined) if prev.startswith("NVRM:") else joined)
            continue
        joinable = prefixed
        out.append((no, msg if cut else msg.rstrip()))  # a piece keeps its blanks: the next piece goes on after them
    return out


_KERNEL_RELEVANT = textmatch.compile(r"NVRM|nvidia|nouveau|nova|Xid|[Ll]ockdown|module verification|Key was rejected|"
                                     r"Required key|PKCS#7|unsigned module|unavailable key|Secure boot|"
                                     r"trap invalid opcode|tensorflow|blocked for more than \d{1,6} seconds",
                                     textmatch.IGNORECASE)


def kernel_line_matters(line: str) -> bool:
    """Is this kernel log line about an NVIDIA GPU, its drivers or module signing? (What a snapshot keeps.)"""
    return bool(_KERNEL_RELEVANT.search(line))


KERNEL_LOG_MAX_LINES = 2000


def relevant_kernel_lines(text: str | None, limit: int = KERNEL_LOG_MAX_LINES) -> list[str]:
    """The kernel log lines that matter to an NVIDIA GPU (the last `limit` of them), as they were printed."""
    return [ln.rstrip() for ln in (text or "").splitlines()[-MAX_LINES:] if kernel_line_matters(ln)][-limit:]


# -- matching ----------------------------------------------------------------------------------------------------


# A message that a forum, a terminal or an e-mail wrapped onto the next lines is matched on the lines joined; only
# for text of moderate size (a real paste), since every window is another pass.
WINDOW_MAX_LINES = 5000
# distinct lines whose matches are remembered while reading one source
_MEMO_MAX = 50_000
# the times one message is read on one line (a hostile line repeating it is read that often, not thousands of times)
_MATCHES_PER_LINE = 16


# The start of one record of TensorFlow's (or absl's, glog's) log: `2019-09-23 16:20:27.250506: I tensorflow/...cc:44] `,
# `W0000 00:00:1756543706.953610   33084 cuda_executor.cc:1309] `, TensorFlow 0.x's `I tensorflow/core/...cc:885] `.
# Found after other text on a line, it is a record run together with what came before it: a progress bar's carriage
# returns (`Executing:  18%|█▊ | 7/39 [00:06<00:19]2024-12-24 17:27:03.412631: W tensorflow/...`), a forum that
# rendered a pasted log as one paragraph.
_RECORD_START = textmatch.compile(
    r"(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3,9}: [IWEF] |[IWEF]\d{4} \d\d:\d\d:\d{2,10}\.\d{3,9}\s+\d+ |"
    r"\b[IWEF] (?:tensorflow|external|xla|third_party)/)[\w./-]{1,200}:\d{1,6}\] ")
_RECORDS_PER_LINE = 64
_RECORD_SECOND = frozenset("0123456789 ")


def split_records(line: str) -> list[str]:
    """A line as the log records run together on it: cut before every record start after the first column."""
    if len(line) < 40 or "] " not in line:
        return [line]
    head = line.lstrip()[:2]
    if line.count("] ") == 1 and (head[:1].isdigit() or (head[:1] in "IWEF" and head[1:2] in _RECORD_SECOND)):
        return [line]  # one record, from the line's start (most lines of a log): nothing to cut
    cuts = [m.start() for m in _RECORD_START.finditer(line) if line[:m.start()].strip()][:_RECORDS_PER_LINE]
    if not cuts:
        return [line]
    bounds = [0, *cuts, len(line)]
    return [line[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True) if line[a:b].strip()]


def observe(source: Source) -> list[Observation]:
    """Every known message in one source, in order. Never raises.

    Each line is matched as it is and, where a message did not match on a line alone, joined with the next one or
    two (a message wrapped by a forum or a terminal: `Ignoring gpu device (...)` / `with Cuda compute capability
    3.0. ...`)."""
    entries = _entries(source.kind)
    if not entries:
        return []
    matcher = _matcher(source.kind)
    lines = [(no, piece) for no, line in source.iter_lines() if line and len(line.strip()) >= 2
             for piece in split_records(normalise(line[:textmatch.MAX_LINE]))]
    out: list[tuple[int, int, Observation]] = []
    seen: set[tuple[str, int]] = set()

    def _add(e: Entry, no: int, text: str, order: int, groups: tuple) -> None:
        out.append((no, order, Observation(e.id, e.claims, source.name, no, text.strip()[:1000],
                                           STRENGTH[e.strength], e.severity, groups)))
        seen.add((e.id, no))

    def record(e: Entry, no: int, text: str, order: int) -> None:
        m = e.pattern.search(text)
        if m is not None:
            _add(e, no, text, order, _groups(m))

    # a log says the same thing many times (each step, each retry): a line's matches are worked out once
    known: dict[str, list[tuple[Entry, tuple]]] = {}
    for no, line in lines:
        hits = known.get(line)
        if hits is None:
            hits = _hits(matcher, line)
            if not hits and "  " in line.strip():
                # a line that a log viewer or a web page spaced out (`Could not  load dynamic library`, Colab's log
                # viewer) is read again with its doubled blanks as one, where it matched nothing as it was
                hits = _hits(matcher, _single_spaced(line))
            if len(known) < _MEMO_MAX:
                known[line] = hits
        for e, groups in hits:
            _add(e, no, line, 0, groups)
    # Wrapped messages: only the entries that occur in the text joined but on no line alone can span lines, so one
    # pass over the joined text names them (usually none) and only they are tried on the windows.
    found = {e_id for e_id, _ in seen}
    wrapped = [e for e in matcher.matching(" ".join(t.strip() for _, t in lines)) if e.id not in found] \
        if 1 < len(lines) <= WINDOW_MAX_LINES else []
    # the narrowest window first: a message wrapped over two lines is read from those two, not from three that begin
    # with the line before it (`project or file. ERROR: This container was built ...`); a window read marks all its
    # lines, so a message is read once
    for width in (2, 3) if wrapped else ():
        for i in range(len(lines) - width + 1):
            part = lines[i:i + width]
            text = " ".join(t.strip() for _, t in part)[:textmatch.MAX_LINE]
            nos = [no for no, _ in part]
            for e in wrapped:
                if not any((e.id, no) in seen for no in nos):
                    record(e, nos[0], text, width)
                    if (e.id, nos[0]) in seen:
                        seen.update((e.id, no) for no in nos)
    by_no = dict(lines)
    for nos, text in _hard_wrapped(lines):
        for e in matcher.matching(text):
            if not any((e.id, no) in seen for no in nos):
                record(e, nos[0], text, len(nos))
            else:
                # read on one piece alone, but the message's own match runs across the cut (`failed call to
                # cuDevicePrimary` / `CtxRetain: CUDA_ERROR_OUT_OF_MEMORY`): the observation keeps the whole message
                _widen(out, e, nos, [by_no.get(no, "") for no in nos], text)
    for no, text in _form_fields(source, lines):
        for e in matcher.matching(text):
            if (e.id, no) not in seen:
                record(e, no, text, 1)
    out.sort(key=lambda t: (t[0], t[1]))
    return [o for _, _, o in out]


# A terminal that wraps hard (a console copied by its width, tmux or screen at a fixed width, a log viewer) cuts a long
# line into pieces of exactly its width, mid-word: `...Could not load dynamic library 'libcudart.so.1` / `1.0'; ...`.
# Such text shows the width as its longest line; each piece of that length is rejoined with the lines after it,
# without a space, as long as they are pieces too (a run, at most _WRAP_RUN lines). Only the entries that match on
# no line alone are tried on the rejoined text, so the longest line is enough to try (one line cut in two leaves one
# piece of the width); where the join changes what a line is (kernel messages, triage's segments) two different lines
# of that length are needed (wrap_width).
_WRAP_MIN_WIDTH = 60
_WRAP_RUN = 8


def wrap_width(lines: list[tuple[int, str]]) -> int:
    """The width a terminal cut these (width, text) lines at (0 when nothing shows one): the longest line's width,
    reached by at least two different lines (one longest line is just a long line; a cut leaves several pieces of
    that width). The width is the raw line's: a quote marker put before a piece counts (triage's Line.width)."""
    width = max((w for w, _ in lines), default=0)
    if not _WRAP_MIN_WIDTH <= width < textmatch.MAX_LINE:
        return 0
    first = None
    for w, t in lines:
        if w == width:
            if first is None:
                first = t
            elif t != first:
                return width
    return 0


def continues_cut(piece: str, nxt: str) -> bool:
    """Can `nxt` be the rest of `piece`, a line a terminal cut at its width? The rest starts at the first column with
    the character after the cut (one blank, where the cut fell before one); a line indented further is a line of its
    own (an indented continuation, a compiler's source excerpt), and a table's row ends in its border (`|`, `+`) and
    the next row starts with one."""
    if not nxt or nxt[:1] == "\t" or nxt[:2].isspace():  # indented: a line of its own
        return False
    return not (piece.rstrip()[-1:] in ("|", "+") and nxt[:1] in ("|", "+"))


def cut_runs(lines: list[tuple[int, str, int]], width: int) -> list[tuple[int, int]]:
    """(first, last) indexes of each run of (line number, text, width) lines cut at `width`: every line of the run but
    the last is a piece of that width, each followed on the next line by its rest (continues_cut); at most _WRAP_RUN
    lines a run."""
    last = len(lines) - 1
    cuts = {k for k, (no, t, w) in enumerate(lines) if w == width and k < last and lines[k + 1][0] == no + 1
            and continues_cut(t, lines[k + 1][1])}
    out: list[tuple[int, int]] = []
    done = -1  # the last line of the last run
    for i in sorted(cuts):
        if i <= done:
            continue
        j = i
        while j in cuts and j - i < _WRAP_RUN - 1:
            j += 1
        out.append((i, j))
        done = j
    return out


def _hits(matcher, text: str) -> list:
    """(entry, its named parts) for every known message on the line: every time it occurs, not only the first (lines
    run together, rendered Markdown or a progress bar's carriage returns, carry one message twice: two libraries, two
    GPUs)."""
    hits = []
    for e in matcher.matching(text):
        for k, m in enumerate(e.pattern.finditer(text)):
            if k >= _MATCHES_PER_LINE:
                break
            hits.append((e, _groups(m)))
    return hits


_BLANKS = textmatch.compile(r"[ \t]{2,}")


def _single_spaced(line: str) -> str:
    """The line with every pair of blanks inside it as one space (its leading indentation kept). Longer runs stay:
    they are a table's or `nvidia-smi -q`'s alignment (`CUDA Version                : 12.2`), not a viewer's doubling."""
    body = line.lstrip()
    return line[:len(line) - len(body)] + _BLANKS.sub(_one_of_two, body)


def _one_of_two(m) -> str:
    run = m.group(0)
    return " " if len(run) == 2 else run


def _widen(out: list, e: Entry, nos: list[int], pieces: list[str], text: str) -> None:
    """Where the entry's match in the rejoined `text` crosses a cut between `pieces` (the lines `nos`), give its
    observation read on one of those lines alone the whole text: the words beside the match belong to it."""
    m = e.pattern.search(text)
    if m is None:
        return
    ends, at = [], 0
    for piece in pieces:
        at += len(piece)
        ends.append(at)
    first = next((k for k, end in enumerate(ends) if m.start() < end), len(ends) - 1)
    last = next((k for k, end in enumerate(ends) if m.end() <= end), len(ends) - 1)
    if first == last:
        return  # the match lies within one piece: the observation already has it
    for k, (no, order, o) in enumerate(out):
        if o.message == e.id and no in nos:
            out[k] = (nos[0], order, replace(o, line=text.strip()[:1000], line_no=nos[0]))
            return


def _hard_wrapped(lines: list[tuple[int, str]]) -> list[tuple[list[int], str]]:
    """(line numbers, the text rejoined) for each run of lines cut at a terminal's width."""
    if len(lines) < 2:
        return []
    width = max(len(t) for _, t in lines)
    if width < _WRAP_MIN_WIDTH or width >= textmatch.MAX_LINE:
        return []
    return [([no for no, _ in lines[i:j + 1]], "".join(t for _, t in lines[i:j + 1])[:textmatch.MAX_LINE])
            for i, j in cut_runs([(no, t, len(t)) for no, t in lines], width)]


# GitHub's issue forms (TensorFlow's since 2022) print each field as a heading and its answer below it: `### TensorFlow
# version`, a blank line, `2.12`. Read as one `field: answer` line, numbered as the answer's.
_FORM_HEADING = textmatch.compile(r"^\s*#{2,6}\s+(?P<field>[A-Za-z][^#]{2,60}?)\s*$")
_FORM_FIELDS_MAX = 200


def _form_fields(source: Source, lines: list) -> list[tuple[int, str]]:
    if not any(t.lstrip().startswith("##") for _, t in lines):
        return []
    out: list[tuple[int, str]] = []
    field = None
    for no, line in source.iter_lines():
        if not line.strip():
            continue
        m = _FORM_HEADING.match(line)
        if m is not None:
            field = m.group("field")
            continue
        if field is not None:
            out.append((no, f"{field}: {normalise(line.strip()[:500])}"))
            if len(out) >= _FORM_FIELDS_MAX:
                break
        field = None
    return out


def _groups(m) -> tuple:
    """A match's named groups that matched, as sorted (name, text) pairs."""
    return tuple(sorted((k, v) for k, v in (m.groupdict() or {}).items() if isinstance(v, str)))


def observe_all(sources) -> list[Observation]:
    """Observations from every source, in the order given."""
    out: list[Observation] = []
    for s in sources:
        try:
            out.extend(observe(s))
        except Exception:  # noqa: BLE001 - one malformed source must not cost the others
            continue
    return out
