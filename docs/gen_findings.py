"""mkdocs hook: generate one page per finding id (and the findings index) from tfdoctor's catalogue at build time.

Nothing is written into docs/: the pages exist only in the build, so they cannot go stale. Also:
- the Findings section of the nav is filled in from the catalogue (by area);
- a page that another part of the project owns and that is not written yet (listed in SHARED_PAGES) is replaced
  by a one-line stub saying so, instead of failing the strict build; every other broken link still fails it.
Run by mkdocs (`hooks:` in mkdocs.yml). `python docs/gen_findings.py OUT_DIR` writes the pages to OUT_DIR instead.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # mkdocs runs from the repo root, but tfdoctor may not be installed
    sys.path.insert(0, str(ROOT))

from tfdoctor import docs as tfdocs  # noqa: E402

log = logging.getLogger("mkdocs.hooks.gen_findings")
SHARED_PAGES = ("performance.md", "nvml-record.md", "bench.md", "fix-nouveau.md")
FINDINGS_NAV_TITLE = "Findings"
# `<!-- tfdoctor-replay: tests/fixtures/snapshots/NAME -->` in a page becomes the real console output of
# `tfdoctor check --from` on that snapshot, produced at build time, so the example cannot drift from the code.
REPLAY_MARKER = re.compile(r"<!-- tfdoctor-replay: (\S+)((?: --?[\w-]+)*) -->")


def on_config(config, **kwargs):
    """Fill the Findings section of the nav from the catalogue."""
    nav = config.get("nav") or []
    for i, item in enumerate(nav):
        if isinstance(item, dict) and FINDINGS_NAV_TITLE in item:
            nav[i] = {FINDINGS_NAV_TITLE: tfdocs.findings_nav()}
    return config


def on_files(files, config, **kwargs):
    """Add the generated finding pages (and stubs for shared pages not written yet) to the build."""
    from mkdocs.structure.files import File

    for rel, text in tfdocs.finding_pages().items():
        if files.get_file_from_path(rel) is not None:
            files.remove(files.get_file_from_path(rel))
        files.append(File.generated(config, rel, content=text))
    for rel in SHARED_PAGES:
        if files.get_file_from_path(rel) is None:
            log.info("docs/%s is not written yet; the build uses a stub page", rel)
            title = rel.removesuffix(".md").replace("-", " ").capitalize()
            files.append(File.generated(config, rel, content=f"# {title}\n\n*This page (`docs/{rel}`) is not "
                                                             f"written yet.*\n"))
    return files


def replay_output(snapshot: str, flags: str = "") -> str:
    """The console output of `tfdoctor check --from SNAPSHOT FLAGS`, uncoloured, 100 columns."""
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100", "TERM": "dumb", "PYTHONIOENCODING": "utf-8"}
    argv = [sys.executable, "-m", "tfdoctor", "check", "--from", snapshot, *flags.split()]
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    shown = " ".join(["tfdoctor", "check", "--from", snapshot, *flags.split()])
    return f"$ {shown}\n{proc.stdout.rstrip()}\n$ echo $?\n{proc.returncode}"


def on_page_markdown(markdown, page, config, files, **kwargs):
    """Replace each replay marker with the real output of that replay."""

    def run(match):
        snapshot = match.group(1)
        if not (ROOT / snapshot).exists():
            log.warning("%s: snapshot %s does not exist", page.file.src_path, snapshot)
            return f"*(snapshot `{snapshot}` not found)*"
        return "```text\n" + replay_output(snapshot, match.group(2)) + "\n```"

    return REPLAY_MARKER.sub(run, markdown)


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "site-findings"
    for path in tfdocs.write_finding_pages(out):
        print(path)
