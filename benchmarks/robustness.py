"""Robustness of the diagnosis to the forms a paste or a hand-built snapshot takes on its way from a machine.

The same machine state reaches tfdoctor in many forms: pasted into a GitHub reply (every line quoted with `> `),
indented as Markdown code, copied from Windows (CRLF), from a web page (no-break spaces, typographic quotes, HTML
entities), from a log collector (a timestamp or a container's name before every line), from a terminal that cut long
lines at its width, as the message alone (without TensorFlow's log prefix), or from rendered Markdown (a paragraph's
lines run together: `prose-paragraphs` outside code blocks, as a renderer does; `paragraphs` inside them too). A
diagnosis that changes with the form was fitted to one form. (The paragraph forms and the hard wraps destroy
structure that no reader can fully recover: tables, a command and its answer; they are measured, not required.) For every corpus case this replays (`--replay`: the snapshot's text files) or triages (default: paste.txt)
each transformed copy and counts the cases whose diagnosis (root cause id, or unexplained warning, or none) differs
from the untransformed one.

    python benchmarks/robustness.py            # triage of paste.txt under every transform
    python benchmarks/robustness.py --replay   # replay of snapshot/ under the transforms that a snapshot can carry
    python benchmarks/robustness.py -v --transform quote
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.corpus import case_dirs, diagnosis_of  # noqa: E402

_DMESG_STAMP = re.compile(r"^\[\s*\d+\.\d+\] ")
_TF_PREFIX = re.compile(r"^\s*(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] |[IWEF]\d{4} [\d:.]+\s+\d+ )[\w./-]+:\d+\] ")


_FENCE = re.compile(r"^\s*(?:```|~~~)")
_BLOCK_START = re.compile(r"^\s{0,3}(?:[-*+]\s|\d{1,9}[.)]\s|#{1,6}\s)")


def _run_together(text: str, keep_fences: bool) -> str:
    """Rendered Markdown: the lines of a paragraph (blank-line separated) joined by a space. With keep_fences, fenced
    code blocks stay as they were, as a renderer keeps them."""
    out: list[str] = []
    para: list[str] = []
    fenced = False

    def flush():
        if para:
            out.append(" ".join(para))
            para.clear()

    for line in text.split("\n"):
        if keep_fences and _FENCE.match(line):
            flush()
            fenced = not fenced
            out.append(line)
        elif keep_fences and fenced:
            out.append(line)
        elif line.strip():
            if _BLOCK_START.match(line):  # a list item or a heading starts a block of its own
                flush()
            para.append(line.strip())
        else:
            flush()
            out.append("")
    flush()
    return "\n".join(out)


def _lines(fn):
    def tf(text: str) -> str:
        return "\n".join(fn(line) for line in text.split("\n"))
    return tf


TRANSFORMS = {
    # a GitHub / Discourse quote-reply of the whole paste
    "quote": _lines(lambda s: "> " + s if s else ">"),
    # Markdown indented code (four spaces)
    "indent": _lines(lambda s: "    " + s if s else s),
    # the paste put under a Markdown list item: every line, fences too, indented by the item's width
    "list-item": _lines(lambda s: "   " + s if s else s),
    # copied on Windows
    "crlf": lambda t: t.replace("\n", "\r\n"),
    # copied from a rendered web page: spaces inside code become no-break spaces
    "nbsp": lambda t: t.replace(" ", "\u00a0"),
    # typographic quotes from a word processor or a forum's editor
    "quotes": lambda t: t.replace("'", "\u2019").replace('"', "\u201d"),
    # a CI log: GitHub Actions' timestamp before every line
    "ci-timestamp": _lines(lambda s: "2024-05-01T10:11:12.3456789Z " + s),
    # `docker compose logs`: the service's name and a bar before every line
    "compose": _lines(lambda s: "trainer-1  | " + s),
    # `kubectl logs --prefix`
    "kubectl-prefix": _lines(lambda s: "[pod/trainer-0/tensorflow] " + s),
    # copied from a terminal multiplexer (tmux, screen) or an 80-column console: long lines hard-wrapped
    "wrap80": _lines(lambda s: "\n".join(s[i:i + 80] for i in range(0, len(s), 80)) if len(s) > 80 else s),
    "wrap120": _lines(lambda s: "\n".join(s[i:i + 120] for i in range(0, len(s), 120)) if len(s) > 120 else s),
    # a page's HTML source or a feed that kept the entities (`Could not load dynamic library &#39;libcudart.so.10.1&#39;`)
    "html": lambda t: t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    .replace("'", "&#39;"),
    # only the message quoted: TensorFlow's (and absl's) log prefix left out (`Could not load dynamic library ...`)
    "message-only": _lines(lambda s: _TF_PREFIX.sub("", s)),
    # rendered Markdown copied back (a forum that took the paste as prose): the lines of a paragraph run together
    "paragraphs": lambda t: _run_together(t, keep_fences=False),
    # the same, where the renderer kept fenced code blocks as they were (Stack Overflow, Discourse, most forums): only
    # what was pasted outside a fence runs together
    "prose-paragraphs": lambda t: _run_together(t, keep_fences=True),
    # a kernel log in another form than the case's (applied to dmesg-style lines only): the journal's, dmesg -x's
    "kernel-journal": _lines(lambda s: _DMESG_STAMP.sub("Jun 30 11:07:05 gpu-node kernel: ", s, count=1)),
    "kernel-decoded": _lines(lambda s: _DMESG_STAMP.sub(r"kern  :warn  : \g<0>", s, count=1)),
    # trailing blanks, as editors and terminals leave them
    "trailing": _lines(lambda s: s + "  \t" if s else s),
}
# what a hand-built snapshot's files can carry (a snapshot is not quoted or indented; a log in it may come from a
# collector)
REPLAY_TRANSFORMS = ("crlf", "nbsp", "quotes", "html", "trailing", "ci-timestamp", "compose", "wrap80", "wrap120",
                     "kernel-journal", "kernel-decoded", "prose-paragraphs")


def _diag(report) -> str | None:
    found = diagnosis_of(report)
    return found.id if found is not None else None


def _triage(path: Path) -> str | None:
    from tfdoctor.triage import triage_file

    try:
        return _diag(triage_file(str(path)))
    except (Exception, SystemExit) as exc:
        return f"<{type(exc).__name__}>"


def _replay(snap: Path) -> str | None:
    from tfdoctor.cli import run_check

    try:
        return _diag(run_check(from_=str(snap), deadline_s=30))
    except (Exception, SystemExit) as exc:
        return f"<{type(exc).__name__}>"


# what a log collector stores, or a log copied from a rendered page: a program's log, not a command's answer
LOGS_ONLY = ("ci-timestamp", "compose", "prose-paragraphs")


def _transform_tree(src: Path, dst: Path, fn, logs_only: bool) -> None:
    shutil.copytree(src, dst)
    for f in dst.rglob("*"):
        if logs_only and not (f.suffix == ".log" or f.name.startswith("pasted")):
            continue
        if f.is_file() and f.name != "manifest.json" and f.suffix != ".json" and not f.name.endswith(".rc"):
            try:
                text = f.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
            f.write_text(fn(text), encoding="utf-8", newline="")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--replay", action="store_true")
    ap.add_argument("--transform", action="append", default=[])
    ap.add_argument("--case", action="append", default=[])
    args = ap.parse_args(argv)
    names = args.transform or (list(REPLAY_TRANSFORMS) if args.replay else list(TRANSFORMS))
    dirs = [d for d in case_dirs() if not args.case or d.name in args.case]
    changed = {n: [] for n in names}
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        for d in dirs:
            if args.replay:
                base = _replay(d / "snapshot")
            else:
                if not (d / "paste.txt").is_file():
                    continue
                base = _triage(d / "paste.txt")
                text = (d / "paste.txt").read_text(encoding="utf-8")
            for n in names:
                if args.replay:
                    out = tmpd / f"{d.name}-{n}"
                    _transform_tree(d / "snapshot", out, TRANSFORMS[n], n in LOGS_ONLY)
                    got = _replay(out)
                    shutil.rmtree(out)
                else:
                    p = tmpd / "paste.txt"
                    p.write_text(TRANSFORMS[n](text), encoding="utf-8", newline="")
                    got = _triage(p)
                if got != base:
                    changed[n].append((d.name, base, got))
                    if args.verbose:
                        print(f"{n:13} {d.name}: {base} -> {got}")
    n_cases = len(dirs)
    for n in names:
        print(f"{n:13} {n_cases - len(changed[n])}/{n_cases} unchanged")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
