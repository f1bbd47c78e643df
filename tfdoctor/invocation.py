"""How the person at this machine runs tfdoctor: the fact a fix needs to say "run tfdoctor again" (under sudo too).

Read from this process, not from the Host: it is about the tool, not the machine being diagnosed. A replayed snapshot
has none (`Invocation()`), and its fixes use the form that works wherever tfdoctor is on the PATH.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass

from tfdoctor import textmatch

# A path we put into a command to paste: plain characters only, so that it needs no quoting and cannot carry shell
# syntax (a home folder with a space gets the `command -v` form instead).
SAFE_PATH = r"/[A-Za-z0-9._+/-]{1,300}"


@dataclass(frozen=True)
class Invocation:
    """Where this tfdoctor lives. `script`: the `tfdoctor` program that runs (None: unknown, or `python -m`);
    `on_path`: the shell's `command -v tfdoctor` finds that same program; `python`: the interpreter running it."""

    script: str | None = None
    on_path: bool | None = None
    python: str | None = None

    @property
    def known(self) -> bool:
        return self.script is not None or self.python is not None


def _safe(path: str | None) -> str | None:
    return path if path and textmatch.fullmatch(SAFE_PATH, path) else None


def current() -> Invocation:
    """This process: the console script it was started as (a shebang script gets its full path as argv[0]) and
    whether the shell's PATH finds that same one; run any other way (`python -m tfdoctor`, the Python API), only the
    interpreter, so that a fix says `python -m tfdoctor` as the person ran it."""
    argv0 = sys.argv[0] if sys.argv else ""
    # `.venv/bin/tfdoctor check` gives argv[0] as typed, relative: made absolute, it works from any folder
    script = os.path.abspath(argv0) if os.path.basename(argv0) == "tfdoctor" and os.sep in argv0 else None
    found = shutil.which("tfdoctor") if script else None
    on_path = bool(found and os.path.realpath(found) == os.path.realpath(script)) if script else None
    return Invocation(_safe(script), on_path if _safe(script) else None, _safe(sys.executable))
