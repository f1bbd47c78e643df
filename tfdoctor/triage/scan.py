"""One linear pass of a pattern over the whole paste, reported per line.

Every recogniser runs once over the paste (not once per line: a megabyte of paste is tens of thousands of lines,
and a call per line and pattern costs more than the matching). The text is matched as UTF-8 bytes, which RE2 reads
without converting offsets; `Scan` maps each match back to its line and column.
"""

from __future__ import annotations

import bisect


class Scan:
    """Lines joined for whole-text matching, with the byte offset where each line starts."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        joined = "\n".join(texts)
        self.data = joined.encode("utf-8", errors="replace")
        self.ascii = len(self.data) == len(joined)
        if self.ascii:
            starts, pos = [], 0
            for t in texts:
                starts.append(pos)
                pos += len(t) + 1
        else:
            starts, pos = [], 0
            for t in texts:
                starts.append(pos)
                pos += len(t.encode("utf-8", errors="replace")) + 1
        self.starts = starts

    def line_of(self, pos: int) -> int:
        """The index of the line holding byte offset `pos`."""
        return bisect.bisect_right(self.starts, pos) - 1

    def finditer(self, pattern):
        """(line index, match) for every match of a textmatch pattern (compiled MULTILINE for `^`/`$` per line)."""
        for m in pattern.finditer(self.data):
            yield self.line_of(m.start()), m

    def column(self, i: int, pos: int) -> int:
        """The character column of byte offset `pos` on line `i`."""
        offset = pos - self.starts[i]
        if self.ascii or offset <= 0:
            return max(offset, 0)
        return len(self.texts[i].encode("utf-8", errors="replace")[:offset].decode("utf-8", errors="ignore"))


_GROUP_INDEX: dict[tuple[str, int], dict[str, int]] = {}


def group(m, name: str, pattern=None) -> str | None:
    """A named group of a match on bytes, as text. Pass the textmatch pattern the match came from when calling this
    often: the group's number is then looked up once, not on every call."""
    if pattern is not None:
        key = (pattern.pattern, pattern.flags)
        index = _GROUP_INDEX.get(key)
        if index is None:
            index = _GROUP_INDEX[key] = dict(pattern.groupindex)
        value = m.group(index[name])
    else:
        value = m.group(name)
    if value is None:
        return None
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
