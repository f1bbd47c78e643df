"""Reading a paste: bounded, decoded, sanitised, split into lines.

Everything in a paste is hostile until shown otherwise: it may be binary, huge, one enormous line, full of terminal
escape sequences or invalid UTF-8. The reader caps the input while reading (MAX_PASTE_BYTES), refuses what is not
text, and hands the segmenter clean lines that no later step needs
to distrust again: no control characters, no line longer than textmatch.MAX_LINE, CRLF and lone CR read as line
breaks, typographic quotes read as the ASCII quotes the program printed.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from tfdoctor import textmatch
from tfdoctor.evidence import strip_collector_stamp

# A paste is read no further than 2 MiB: GitHub caps an issue comment at 65,536 characters, the largest paste in the
# corpus is under 3 KB, and a whole boot log fits. (A snapshot file's bound, host.MAX_READ, is 8 MiB; a paste is
# read, recognised and replayed in one go, so it gets a quarter of that and answers a 50 MB input in about a second.)
MAX_PASTE_BYTES = 2 * 1024 * 1024
MAX_LINE_CHARS = textmatch.MAX_LINE  # nothing tfdoctor recognises is longer; longer lines are cut
_SNIFF = 64 * 1024

# Terminal escape sequences (colours, cursor moves, OSC titles and links) and the other control characters a copied
# terminal leaves behind (backspaces of progress bars, bells). Tabs and newlines are kept.
_ANSI = textmatch.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]|"
                          r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x1b]|[\x{80}-\x{9f}]|[\x{200b}-\x{200d}\x{feff}]")
class PasteError(Exception):
    """A paste that cannot be read as text: the message is the one line the user sees (exit 2)."""


@dataclass(frozen=True)
class Paste:
    """A paste as the segmenter reads it."""

    name: str  # the file name, or "-" for standard input
    text: str  # sanitised; lines joined with "\n"
    bytes_read: int
    truncated: bool  # the input was longer than MAX_PASTE_BYTES: only its beginning was read
    lines_cut: int  # lines longer than MAX_LINE_CHARS, cut there

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n")

    def notes(self) -> list[str]:
        """What the reader had to leave out, in words (shown with the report)."""
        out = []
        if self.truncated:
            out.append(f"the paste is longer than {MAX_PASTE_BYTES // (1024 * 1024)} MiB: only its first "
                       f"{MAX_PASTE_BYTES // (1024 * 1024)} MiB were read (cut at a line break)")
        if self.lines_cut:
            out.append(f"{self.lines_cut} line(s) longer than {MAX_LINE_CHARS} characters were cut there")
        return out


def read_bounded(name: str) -> tuple[bytes, bool]:
    """At most MAX_PASTE_BYTES of the file (or of standard input for "-"), and whether there was more."""
    try:
        if name == "-":
            stream = getattr(sys.stdin, "buffer", None)
            if stream is not None:
                data = stream.read(MAX_PASTE_BYTES + 1)
            else:  # a text stream put in place of stdin (an embedding program, a test runner)
                data = sys.stdin.read(MAX_PASTE_BYTES + 1).encode("utf-8", errors="replace")
        else:
            with open(name, "rb") as fh:
                data = fh.read(MAX_PASTE_BYTES + 1)
    except FileNotFoundError:
        raise PasteError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise PasteError(f"{name}: is a directory (to replay a snapshot, use tfdoctor check --from)") from None
    except (OSError, ValueError) as exc:
        raise PasteError(f"{name}: cannot be read ({exc})") from None
    if len(data) <= MAX_PASTE_BYTES:
        return data, False
    data = data[:MAX_PASTE_BYTES]
    cut = data.rfind(b"\n")
    return (data[: cut + 1] if cut > 0 else data), True


def _decode(data: bytes, name: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # PowerShell's `>` writes UTF-16 with a byte-order mark
        return data.decode("utf-16", errors="replace")
    head = data[:_SNIFF]
    if head:
        nul = head.count(b"\x00")
        # UTF-16 without a mark: every other byte is NUL
        if nul > len(head) // 3 and head[1::2].count(b"\x00") > len(head) // 3:
            return data.decode("utf-16-le", errors="replace")
        if nul > len(head) // 3 and head[0::2].count(b"\x00") > len(head) // 3:
            return data.decode("utf-16-be", errors="replace")
        control = sum(1 for b in head if b < 32 and b not in (9, 10, 13, 12, 8, 27))
        if nul and control > len(head) // 10:
            raise PasteError(f"{name}: binary data, not text (paste the text of the outputs)")
    return data.decode("utf-8", errors="replace")


def sanitise(text: str) -> tuple[str, int]:
    """(clean text, number of lines cut): escapes and control characters removed, line breaks normalised, typographic
    punctuation read as ASCII, a log collector's prefix dropped (evidence.strip_collector_stamp), every line at most
    MAX_LINE_CHARS long."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if next(iter(_ANSI.finditer(text)), None) is not None:  # one linear scan; most pastes have nothing to remove
        text = _ANSI.sub("", text)
    text = textmatch.as_printed(text)
    lines = text.split("\n")
    cut = 0
    for i, line in enumerate(lines):
        if len(line) > MAX_LINE_CHARS:
            lines[i] = line = line[:MAX_LINE_CHARS]
            cut += 1
        lines[i] = strip_collector_stamp(line)  # a log collector's prefix (cheap on a line without one)
    return "\n".join(lines), cut


def from_bytes(data: bytes, name: str = "-", truncated: bool = False) -> Paste:
    """A Paste from raw bytes; raises PasteError for binary data."""
    text, cut = sanitise(_decode(data, name))
    return Paste(name=name, text=text, bytes_read=len(data), truncated=truncated, lines_cut=cut)


def from_text(text: str, name: str = "-") -> Paste:
    """A Paste from text already in memory (the Python API, tests)."""
    data = text.encode("utf-8", errors="replace")
    if len(data) <= MAX_PASTE_BYTES:
        return from_bytes(data, name, False)
    data = data[:MAX_PASTE_BYTES]
    cut = data.rfind(b"\n")
    return from_bytes(data[: cut + 1] if cut > 0 else data, name, True)


def read_paste(name: str) -> Paste:
    """Read a paste from a file (or "-" for standard input), bounded. Raises PasteError with a one-line message."""
    data, truncated = read_bounded(name)
    return from_bytes(data, name, truncated)
