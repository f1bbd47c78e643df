"""The one way tfdoctor matches patterns against text from outside (snapshots, pastes, tool outputs, logs).

Every such pattern is compiled here, by RE2 (google-re2): its matching time is linear in the input, whatever the
pattern and whatever the text, so a 300 KB lspci line or `NVRM: Xid (` repeated 50,000 times cannot stall a probe
(Python's `re` backtracks and holds the GIL, so a watchdog thread cannot even run). RE2 has no backreferences and
no lookaround; patterns here do without them.

Lines are also capped (`MAX_LINE`) before matching: nothing tfdoctor recognises is longer, and a capped line keeps
reports and evidence small.

Use:
    from tfdoctor import textmatch
    NVRM_XID = textmatch.compile(r"NVRM: Xid \\((?P<pci>[^)]*)\\): (?P<code>\\d+)")
    m = NVRM_XID.search(line)
"""

from __future__ import annotations

import functools
import re as _re_syntax  # only for flag constants and escape(); never used to match untrusted text

import re2 as _re2

# The longest line worth matching: TensorFlow's longest known message is under 1 KB; nvidia-smi rows, lspci lines
# and kernel lines are shorter. Longer lines are cut here (the cut part is kept in the evidence's raw text only).
MAX_LINE = 4096

IGNORECASE = _re_syntax.IGNORECASE
MULTILINE = _re_syntax.MULTILINE
DOTALL = _re_syntax.DOTALL

_options_cache: dict[int, object] = {}
_compiled: list[Pattern] = []  # every pattern compiled so far, for the test that times them all on hostile lines


def _options(flags: int):
    opts = _options_cache.get(flags)
    if opts is None:
        opts = _re2.Options()
        opts.case_sensitive = not flags & IGNORECASE
        opts.posix_syntax = False
        opts.dot_nl = bool(flags & DOTALL)
        opts.never_nl = False
        # With posix_syntax off RE2 honours Perl's ^/$ per line only via (?m); pass the flag in the pattern instead.
        opts.max_mem = 64 << 20
        opts.log_errors = False
        _options_cache[flags] = opts
    return opts


# What forum software, word processors and web pages make of the ASCII a program printed: typographic quotes and
# dashes (`Could not load dynamic library ‘libcusolver.so.10’`, `–gpus all`), no-break and thin spaces (a table copied
# from a rendered page). Programs print the ASCII; tfdoctor reads pastes and hand-built snapshots as printed.
# (Guillemets stay: `~ » ` is a shell prompt, not a quote.)
_PRINTED = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
                          "\u201c": '"', "\u201d": '"', "\u201e": '"',
                          "\u00a0": " ", "\u2007": " ", "\u2009": " ", "\u202f": " ",
                          "\u2013": "-", "\u2014": "-", "\u2212": "-"})


# The HTML entities a page's source or a feed keeps for the characters a program printed (`Could not load dynamic
# library &#39;libcudart.so.10.1&#39;`); `&amp;` last, so that `&amp;lt;` stays `&lt;`. Programs do not print these.
_ENTITIES = (("&#39;", "'"), ("&#x27;", "'"), ("&#039;", "'"), ("&apos;", "'"), ("&quot;", '"'), ("&#34;", '"'),
             ("&lt;", "<"), ("&gt;", ">"), ("&nbsp;", " "), ("&amp;", "&"))


def as_printed(text: str) -> str:
    """`text` with the typography of forums and web pages turned back into the ASCII the program printed. ASCII text
    without an entity (the common case) costs two checks."""
    if "&" in text and ";" in text:
        for entity, char in _ENTITIES:
            if entity in text:
                text = text.replace(entity, char)
    return text if text.isascii() else text.translate(_PRINTED)


_calls = [0]


def utf8(text):
    """`text` as RE2 can take it: lone surrogates (a snapshot's JSON may hold "\\ud800") become "?", one character
    for one, so that match positions still point into the original text. ASCII (the common case) costs nothing."""
    if not isinstance(text, str) or text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="replace").decode("utf-8")
    return text


def _tick() -> None:
    """Every 256 matches, end a probe thread that is still matching after its deadline (tfdoctor.proc)."""
    _calls[0] += 1
    if not _calls[0] & 0xFF:
        from tfdoctor.proc import check_deadline

        check_deadline()


class Pattern:
    """A compiled linear-time pattern with the parts of `re.Pattern`'s API tfdoctor uses."""

    __slots__ = ("_rx", "pattern", "flags")

    def __init__(self, pattern: str, flags: int = 0):
        self.pattern = pattern
        self.flags = flags
        self._rx = None  # compiled on first use: most of tfdoctor's patterns are not needed by a given run
        if len(_compiled) < 4096:  # patterns made at run time (a host name to redact) are few; never unbounded
            _compiled.append(self)

    @property
    def rx(self):
        """The RE2 object. Raises ValueError for a pattern RE2 cannot run: a bug in tfdoctor's own pattern, found
        by the test that compiles them all (tests/test_linear_time.py), never caused by user input."""
        rx = self._rx
        if rx is None:
            prefix = "(?m)" if self.flags & MULTILINE else ""
            try:
                rx = _re2.compile(prefix + self.pattern, options=_options(self.flags & (IGNORECASE | DOTALL)))
            except _re2.error as exc:
                raise ValueError(f"pattern not supported by RE2: {self.pattern!r}: {exc}") from None
            self._rx = rx
        return rx

    @staticmethod
    def _cap(text: str) -> str:
        if not isinstance(text, str):
            text = str(text)
        if len(text) <= MAX_LINE or "\n" in text[:MAX_LINE + 1]:
            return text
        return text[:MAX_LINE]

    def search(self, text: str, pos: int = 0):
        _tick()
        return self.rx.search(self._cap(utf8(text)), pos)

    def match(self, text: str, pos: int = 0):
        _tick()
        return self.rx.match(self._cap(utf8(text)), pos)

    def fullmatch(self, text: str):
        _tick()
        return self.rx.fullmatch(self._cap(utf8(text)))

    def finditer(self, text: str):
        _tick()
        return self.rx.finditer(utf8(text))

    def findall(self, text: str):
        _tick()
        return self.rx.findall(utf8(text))

    def sub(self, repl, text: str, count: int = 0):
        _tick()
        return self.rx.sub(repl, utf8(text), count)

    def split(self, text: str, maxsplit: int = 0):
        _tick()
        return self.rx.split(utf8(text), maxsplit)

    @property
    def groupindex(self):
        return self.rx.groupindex

    def __repr__(self) -> str:
        return f"textmatch.compile({self.pattern!r})"


class PatternSet:
    """Which of many patterns occur anywhere in a text, found in one linear pass (RE2::Set).

    A prefilter: run over lines joined with "\n", it names every pattern that matches some line (each pattern is
    taken in multi-line mode, so `^` and `$` hold at every line), so that patterns absent from the whole text need
    not be tried line by line. `present` returns None when RE2 cannot tell (its DFA ran out of memory on a hostile
    text): then every pattern must be tried, which is slower but still linear.
    """

    __slots__ = ("patterns", "_set")

    def __init__(self, patterns) -> None:
        self.patterns = tuple(patterns)
        self._set = None
        try:
            s = _re2.Set.SearchSet(_options(0))
            s.Add("")  # index 0 matches every text: an empty answer then means RE2 failed, not "none matched"
            for p in self.patterns:
                inline = "".join(f for f, bit in (("i", IGNORECASE), ("s", DOTALL)) if p.flags & bit)
                s.Add(f"(?m{inline})" + p.pattern)
            s.Compile()
            self._set = s
        except _re2.error:  # too large for one Set: callers try every pattern
            self._set = None

    def present(self, text) -> frozenset[int] | None:
        """The indexes (into `patterns`) of those that match somewhere in `text`, or None when unknown."""
        if self._set is None:
            return None
        found = self._set.Match(text)
        if not found:
            return None
        return frozenset(i - 1 for i in found if i > 0)

    def each_line(self, lines: list[str]):
        """For each line, the patterns to try on it, in order: (line, tuple of indexes). One pass over the whole
        text first; then one RE2::Set call per line that holds any pattern at all, which names exactly the patterns
        that match it (or, when RE2 cannot tell, every pattern the whole text holds)."""
        everywhere = self.present("\n".join(lines).encode("utf-8", "replace"))
        all_idx = tuple(range(len(self.patterns)))
        if everywhere is None:
            for line in lines:
                yield line, all_idx
            return
        if not everywhere:
            for line in lines:
                yield line, ()
            return
        candidates = tuple(sorted(everywhere))
        if len(candidates) == 1:
            for line in lines:
                yield line, candidates
            return
        for line in lines:
            found = self.present(line.encode("utf-8", "replace"))
            yield line, (candidates if found is None else tuple(sorted(found)))


@functools.lru_cache(maxsize=512)
def compile(pattern: str, flags: int = 0) -> Pattern:  # noqa: A001 - mirrors re.compile
    """Compile `pattern` for matching untrusted text in linear time (RE2). Raises ValueError for patterns RE2
    cannot run (backreferences, lookaround): those are bugs in tfdoctor, found by the test that compiles all."""
    return Pattern(pattern, flags)


def compiled() -> list[Pattern]:
    """Every pattern compiled in this process so far (what tests/test_linear_time.py times on hostile input)."""
    return list(_compiled)


def escape(text: str) -> str:
    return _re_syntax.escape(text)


def search(pattern: str, text: str, flags: int = 0):
    return compile(pattern, flags).search(text)


def match(pattern: str, text: str, flags: int = 0):
    return compile(pattern, flags).match(text)


def fullmatch(pattern: str, text: str, flags: int = 0):
    return compile(pattern, flags).fullmatch(text)


def findall(pattern: str, text: str, flags: int = 0):
    return compile(pattern, flags).findall(text)


def finditer(pattern: str, text: str, flags: int = 0):
    return compile(pattern, flags).finditer(text)


def sub(pattern: str, repl, text: str, count: int = 0, flags: int = 0):
    return compile(pattern, flags).sub(repl, text, count)


def split(pattern: str, text: str, maxsplit: int = 0, flags: int = 0):
    return compile(pattern, flags).split(text, maxsplit)
