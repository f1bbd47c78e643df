"""Every tfdoctor command the README and the docs show parses: its subcommand and options exist and take the values
shown (the command line is checked with `--help` appended, so nothing runs and nothing is written)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tfdoctor.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# How the docs write "run tfdoctor": plain, with sudo, from a venv, or as `python -m tfdoctor`
_PREFIX = re.compile(r'^(?:\$\s+)?(?:sudo\s+)?(?:"\$\(command -v tfdoctor\)"|\.venv/bin/tfdoctor|python3? -m tfdoctor|'
                     r'tfdoctor)\s+')


def documented_commands() -> list[tuple[str, str]]:
    out = []
    for path in DOCS:
        for block in re.findall(r"```(?:sh|bash|console|shell)?\n(.*?)```", path.read_text(), re.S):
            for line in block.splitlines():
                for part in re.split(r"\s*(?:&&|;|\|\|)\s*", line.strip()):
                    m = _PREFIX.match(part)
                    if not m or part.startswith("tfdoctor 0."):  # a report's banner, not a command
                        continue
                    args = part[m.end():].split(" #", 1)[0].split(" > ", 1)[0].split(" | ", 1)[0].strip()
                    out.append((f"{path.name}: {part.strip()}", args))
    return out


COMMANDS = documented_commands()


def test_the_docs_show_commands_of_every_subcommand():
    shown = {args.split()[0] for _, args in COMMANDS if args}
    assert {"check", "snapshot", "bench", "fix-nouveau", "explain", "summarize", "completion"} <= shown


@pytest.mark.parametrize("where,args", COMMANDS, ids=[w for w, _ in COMMANDS])
def test_documented_command_parses(where, args):
    argv = shlex.split(args.replace("$(hostname)", "node1"))
    if argv[:1] == ["explain"] and argv[1:2] == ["ID"]:
        argv[1] = "driver.nouveau"  # the synopsis' placeholder
    res = CliRunner().invoke(app, [*argv, "--help"])
    assert res.exit_code == 0, f"{where}: {res.output[-500:]}"
