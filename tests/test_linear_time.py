"""Every pattern tfdoctor applies to outside text runs in linear time (issue 10, class 1: a 300 KB lspci line or
`NVRM: Xid (` repeated 50,000 times once held the GIL for minutes).

Each pattern (every one compiled through tfdoctor.textmatch, and every pattern of knowledge/messages.json) is run on
hostile 1 MB lines: long runs of the characters and literal fragments it looks for. Time is not compared with a
wall-clock limit (a loaded CI machine is slow), but between two sizes: doubling the input may double the time, not
quadruple it. A check of the measurement itself (Python's `re` on a quadratic pattern) shows it catches the failure.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import time
from pathlib import Path

import pytest

import tfdoctor
from tfdoctor import textmatch

ROOT = Path(__file__).resolve().parents[1]
SIZE = 1 << 20  # 1 MB
NOISE_FLOOR_S = 0.004  # below this, timing noise decides the ratio: such a pattern is fast whatever its growth


def _import_everything() -> None:
    for m in pkgutil.walk_packages(tfdoctor.__path__, "tfdoctor."):
        # the child scripts run under the examined interpreter, never in tfdoctor; the builder is offline tooling
        if m.name.startswith(("tfdoctor.child.tf_", "tfdoctor.knowledge._build")) or m.name == "tfdoctor.__main__":
            continue
        importlib.import_module(m.name)
    from tfdoctor import evidence
    from tfdoctor.redact import Redactor

    evidence.catalogue()
    Redactor(hostnames=("gpu-node-17",), users=("alice",))("gpu-node-17 alice")


def all_patterns() -> list[textmatch.Pattern]:
    _import_everything()
    data = json.loads((ROOT / "tfdoctor/knowledge/messages.json").read_text())
    for record in data["messages"]:
        textmatch.compile(record["pattern"], textmatch.IGNORECASE if "i" in record.get("flags", "") else 0)
    unique = {(p.pattern, p.flags): p for p in textmatch.compiled()}
    return list(unique.values())


_META = set("\\^$.|?*+()[]{}")


def fragments(pattern: str) -> list[str]:
    """Literal pieces of a pattern (what a hostile line repeats to keep a matcher busy)."""
    pieces, cur, i = [], "", 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if nxt in "dwsDWSbBAZz" or nxt.isdigit():
                pieces.append(cur)
                cur = ""
            else:
                cur += nxt
            i += 2
            continue
        if c in _META:
            pieces.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    pieces.append(cur)
    return [p for p in dict.fromkeys(pieces) if len(p) >= 2][:6]


def hostile_lines(pattern: str, size: int) -> list[str]:
    """Lines of `size` characters built to make a backtracking matcher work hard on `pattern`."""
    bases = ["a", " ", "0", "0.", "x ", "\t", "-", ":", "ab" * 3 + "(", "NVRM: Xid (", "[0000:"]
    bases += fragments(pattern)
    # Whole repeats only, then "!": lines of every size end alike, so a line that matches at its end (`false!` for
    # `(false|true)\b`) does so at both sizes compared, and RE2's extra pass over a found match is not taken for growth.
    return [base * ((size - 1) // len(base)) + "!" for base in bases]


def _time(func, repeats: int = 2) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - t0)
    return best


def growth(func_of_size, small: int, large: int) -> tuple[float, float]:
    """(time at `large`, time at `large` / time at `small`)."""
    t_small = _time(lambda: func_of_size(small))
    t_large = _time(lambda: func_of_size(large))
    return t_large, t_large / max(t_small, 1e-9)


def superlinear(func_of_size, small: int, large: int) -> bool:
    """Whether the time grows faster than linearly: more than (large/small)^1.5, halfway (on a log scale) between
    linear and quadratic growth, so that either is told apart with a factor of two to spare. Measured again before
    saying so: a loaded machine stalls."""
    limit = (large / small) ** 1.5
    for _ in range(3):
        t_large, ratio = growth(func_of_size, small, large)
        if t_large < NOISE_FLOOR_S or ratio <= limit:
            return False
    return True


def test_the_measurement_catches_a_quadratic_pattern():
    """Python's `re` backtracks: `a*b` on a line of a's is quadratic, and `superlinear` says so."""
    rx = re.compile(r"a*b")
    assert superlinear(lambda n: rx.search("a" * n), 1500, 6000)


def test_the_measurement_passes_a_linear_scan():
    assert not superlinear(lambda n: ("a" * n).count("b"), SIZE // 4, SIZE)


def test_every_pattern_is_linear_on_hostile_1mb_lines():
    patterns = all_patterns()
    assert len(patterns) > 100  # the probes', the evidence catalogue's, the redactor's, the TensorFlow log's
    slow = []
    for p in patterns:
        # the worst of the hostile lines at a small size, then its growth from 256 KB to 1 MB
        candidates = hostile_lines(p.pattern, 16 * 1024)
        times = [_time(lambda line=line, p=p: p.rx.search(line), 1) for line in candidates]
        worst = times.index(max(times))
        lines = {n: hostile_lines(p.pattern, n)[worst] for n in (SIZE // 4, SIZE)}
        if superlinear(lambda n, p=p, lines=lines: p.rx.search(lines[n]), SIZE // 4, SIZE):
            slow.append(p.pattern)
    assert slow == []


def test_public_matching_caps_a_single_long_line():
    """textmatch.search/match on a 1 MB line without a newline look at MAX_LINE characters only."""
    p = textmatch.compile(r"NVRM: Xid \((?P<pci>[^)]*)\): (?P<code>\d+)")
    line = "NVRM: Xid (" * (SIZE // 11)
    assert p.search(line) is None
    assert p.search("x" * 10 + "NVRM: Xid (PCI:0000:01:00): 79, pid=1") is not None


MODULES_ALLOWED_RE = {
    "tfdoctor/textmatch.py": "flag constants and escape() only",
    "tfdoctor/docs.py": "tfdoctor's own catalogue text, never outside text",
    "tfdoctor/knowledge/_build_nvidia_gpus.py": "an offline builder of the GPU table, never run by tfdoctor",
}


@pytest.mark.parametrize("path", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tfdoctor").rglob("*.py")))
def test_no_module_matches_outside_text_with_pythons_re(path):
    source = (ROOT / path).read_text()
    uses = re.findall(r"^\s*(?:import re\b|from re import)", source, re.MULTILINE)
    if path in MODULES_ALLOWED_RE:
        return
    assert not uses, f"{path} imports Python's re; match outside text with tfdoctor.textmatch (RE2)"


def test_every_pattern_compiles_and_a_bad_one_fails_loudly_on_first_use():
    for p in all_patterns():
        assert p.rx is not None, p.pattern
    bad = textmatch.Pattern(r"(a)\1")  # a backreference: RE2 cannot run it
    with pytest.raises(ValueError, match="not supported by RE2"):
        bad.search("aa")
