"""Documentation of findings, from the catalogue: `tfdoctor explain ID` and the docs site's finding pages.

The catalogue (tfdoctor/catalogue.py) is the one source: the mkdocs hook docs/gen_findings.py calls
`finding_pages()` at build time, so a finding id cannot exist in code without a page, and tests/test_docs.py checks
the reverse (a hand-written page naming an id that no check declares).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from tfdoctor.checks import AREAS, CheckSpec

FINDINGS_DIR = "findings"
# The published docs site: mkdocs.yml's site_url says the same (tests/test_docs.py checks), so that `explain` links
# to a page that exists and the site's sitemap lists every page.
DOCS_URL = "https://tfdoctor.readthedocs.io/"
# A finding id is `prefix.subject` in kebab case; the prefix is usually the area but need not be (`env.wsl` is in
# the system area). In prose only the known prefixes count, and not inside a dotted module path or a file path
# (`tfdoctor.checks.driver`, `checks/driver.py`), nor a file name such as `nvml.json`.
FINDING_ID = re.compile(r"^[a-z][a-z0-9]*\.[a-z0-9]+(?:-[a-z0-9]+)*$")


def id_pattern(prefixes) -> re.Pattern:
    """A regex that finds `prefix.subject` ids in text, for the given prefixes."""
    alternatives = "|".join(sorted(map(re.escape, prefixes), key=len, reverse=True))
    return re.compile(r"(?<![\w./-])(?:" + alternatives + r")\.[a-z0-9]+(?:-[a-z0-9]+)*(?![\w/-]|\.\w)")


_LINKED_ID = re.compile(FINDINGS_DIR + r"/([a-z0-9.-]+?)(?:\.md|/)")
_FILE_EXTENSIONS = {"json", "md", "py", "log", "yml", "yaml", "sh", "prom", "xml", "txt", "gz", "tar", "toml", "so"}


def _wrap(text: str, indent: str = "  ", width: int = 100) -> list[str]:
    """Wrap each paragraph of `text` for the terminal, keeping lines that look like commands or lists as they are.

    Words are never split (a package name such as nvidia-container-toolkit must stay copyable)."""
    out: list[str] = []
    for para in text.split("\n\n"):
        lines = para.splitlines()
        if any(line.startswith(("    ", "$ ", "- ", "* ", "```")) or line[:3].strip(". ").isdigit() for line in lines):
            out += [indent + line for line in lines]
        else:
            out += textwrap.wrap(" ".join(line.strip() for line in lines), width, initial_indent=indent,
                                 subsequent_indent=indent, break_long_words=False, break_on_hyphens=False) or [""]
        out.append("")
    return out[:-1] if out else out


def explain_text(spec: CheckSpec) -> str:
    """The plain-text documentation `tfdoctor explain ID` prints."""
    from tfdoctor.catalogue import area_title

    lines = [f"{spec.id}: {spec.title}", f"Area: {area_title(spec.area)}", "", "What it checks", *_wrap(spec.what),
             "", "Why it matters", *_wrap(spec.why), "", "How to fix", *_wrap(spec.fix)]
    if spec.after:
        lines += ["", "Upstream findings (fix these first when they fail): " + ", ".join(spec.after)]
    if spec.links:
        lines += ["", "Links"] + [f"  {u}" for u in spec.links]
    lines += ["", f"Online: {finding_url(spec.id)}"]
    return "\n".join(lines)


def finding_url(finding_id: str) -> str:
    """The address of a finding's page on the docs site (mkdocs' directory URLs: findings/<id>/)."""
    return f"{DOCS_URL}{FINDINGS_DIR}/{finding_id}/"


def finding_path(finding_id: str) -> str:
    """The docs-relative path of a finding's page."""
    return f"{FINDINGS_DIR}/{finding_id}.md"


def finding_page(spec: CheckSpec, specs: list[CheckSpec] | None = None) -> str:
    """The Markdown page of one finding: what it checks, why it matters, how to fix, links."""
    from tfdoctor.catalogue import area_title

    specs = specs if specs is not None else []
    known = {s.id for s in specs} | {spec.id}
    downstream = [s.id for s in specs if spec.id in s.after]
    out = [f"# `{spec.id}`: {spec.title}", "",
           f"**Area:** [{area_title(spec.area)}](index.md#{spec.area}) · "
           f"in the terminal: `tfdoctor explain {spec.id}`", "",
           "## What it checks", "", spec.what, "",
           "## Why it matters", "", spec.why, "",
           "## How to fix", "", spec.fix, ""]
    if spec.after or downstream:
        out += ["## Related findings", ""]
        if spec.after:
            out += ["When one of these fails first, tfdoctor reports this finding as *caused by* it; fix that one "
                    "first:", ""]
            out += [f"- [`{a}`]({a}.md)" if a in known else f"- `{a}`" for a in spec.after] + [""]
        if downstream:
            out += ["When this finding fails, tfdoctor reports these as caused by it:", ""]
            out += [f"- [`{d}`]({d}.md)" for d in downstream] + [""]
    if spec.links:
        out += ["## Links", ""] + [f"- <{u}>" for u in spec.links] + [""]
    out += ["## Run only this check", "", "```sh", f"tfdoctor check --only {spec.id}", "```", ""]
    return "\n".join(out)


def findings_index(specs: list[CheckSpec]) -> str:
    """The Markdown index of every finding id, by area."""
    from tfdoctor.catalogue import area_title

    out = ["# Findings", "",
           "Every finding id tfdoctor reports, by area. Each page is generated from the same catalogue the checks "
           "are declared in (`tfdoctor/checks/`), so the text here is the text `tfdoctor explain ID` prints.", "",
           "Statuses: **ok**, **info** (worth knowing), **skip** (not applicable, or not run), **warn** (works, but "
           "not as it should), **fail** (broken: exit status 1), **error** (the check could not run).", ""]
    if not specs:
        out += ["*No checks are declared yet.*", ""]
    for area in AREAS:
        items = [s for s in specs if s.area == area]
        if not items:
            continue
        out += [f"## {area_title(area)} {{#{area}}}", "", "| Finding | What it checks |", "|---|---|"]
        for s in items:
            out.append(f"| [`{s.id}`]({s.id}.md) | {s.title} |")
        out.append("")
    return "\n".join(out)


def finding_pages(specs: list[CheckSpec] | None = None) -> dict[str, str]:
    """Every generated page, docs-relative path -> Markdown: the index and one page per finding id."""
    if specs is None:
        from tfdoctor import catalogue

        specs = catalogue.entries()
    pages = {f"{FINDINGS_DIR}/index.md": findings_index(specs)}
    for spec in specs:
        pages[finding_path(spec.id)] = finding_page(spec, specs)
    return pages


def findings_nav(specs: list[CheckSpec] | None = None) -> list:
    """The mkdocs nav entries for the findings section: the index, then one sub-section per area."""
    from tfdoctor.catalogue import area_title

    if specs is None:
        from tfdoctor import catalogue

        specs = catalogue.entries()
    nav: list = [{"All findings": f"{FINDINGS_DIR}/index.md"}]
    for area in AREAS:
        items = [{s.id: finding_path(s.id)} for s in specs if s.area == area]
        if items:
            nav.append({area_title(area): items})
    return nav


def ids_named_in(text: str, prefixes=None) -> set[str]:
    """Finding ids a hand-written page names: in prose (`driver.nouveau`) or as a link to findings/ID.md.

    `prefixes` are the id prefixes to look for (default: every area and every prefix the catalogue uses).
    """
    if prefixes is None:
        from tfdoctor import catalogue

        prefixes = set(AREAS) | {i.split(".", 1)[0] for i in catalogue.ids()}
    ids = {m.group(0) for m in id_pattern(prefixes).finditer(text)
           if m.group(0).rsplit(".", 1)[1] not in _FILE_EXTENSIONS}
    ids |= {m.group(1) for m in _LINKED_ID.finditer(text) if m.group(1) != "index"}
    return ids - _TF_API


# TensorFlow's own API names look like finding ids (`tf.function`); they are not.
_TF_API = {"tf.function", "tf.device", "tf.config", "tf.keras", "tf.data", "tf.sysconfig", "tf.test", "tf.debugging",
           "tf.distribute", "tf.random", "tf.math", "tf.linalg", "tf.nn", "tf.GradientTape", "tf.Variable"}


def write_finding_pages(out_dir: str | Path) -> list[Path]:
    """Write the generated pages under `out_dir` (for a docs build without the mkdocs hook); returns the paths."""
    written = []
    for rel, text in finding_pages().items():
        path = Path(out_dir) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
