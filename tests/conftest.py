"""Shared test helpers: a Host over dicts (the machine boundary) and the fixture folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from tfdoctor.host import NOT_INSTALLED, CommandResult, command_key

# No per-example deadline: a loaded CI machine is slower than a developer's, and these tests assert behaviour, not speed
# (benchmarks/ measures speed).
# CI and the README's test command draw the same examples on every run (derandomize): a test goes red because the
# code changed, never because a new random draw found an old bug in someone else's change. To search wider, run
# `HYPOTHESIS_PROFILE=explore python -m pytest ...` (random draws; 1,000 examples where a test does not set its own number) and turn what it finds into tests.
settings.register_profile("tfdoctor", deadline=None, derandomize=True)
settings.register_profile("explore", deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "tfdoctor"))

FIXTURES = Path(__file__).parent / "fixtures"
SNAPSHOTS = FIXTURES / "snapshots"


class FakeHost:
    """A machine made of dicts: files {path: text}, commands {key: (rc, stdout, stderr)}, env, links."""

    name = "fake"

    def __init__(self, files=None, commands=None, env=None, links=None, dirs=None, nvml=None, tensorflow=None):
        self.files = dict(files or {})
        self.commands = dict(commands or {})
        self._env = dict(env or {})
        self.links = dict(links or {})
        self.dirs = dict(dirs or {})
        self._nvml = nvml
        self._tf = tensorflow
        self.ran: list[tuple[str, ...]] = []

    def run(self, argv, timeout=10.0, key=None):
        self.ran.append(tuple(argv))
        k = key or command_key(argv)
        if k not in self.commands:
            return CommandResult(tuple(argv), NOT_INSTALLED)
        rc, out, err = self.commands[k]
        return CommandResult(tuple(argv), rc, out, err, rc == 124)

    def read(self, path):
        return self.files.get(path)

    def listdir(self, path):
        if path in self.dirs:
            return list(self.dirs[path])
        prefix = path.rstrip("/") + "/"
        names = {p[len(prefix):].split("/")[0] for p in list(self.files) + list(self.links) if p.startswith(prefix)}
        return sorted(names) if names else None

    def exists(self, path):
        return path in self.files or path in self.links or self.listdir(path) is not None

    def readlink(self, path):
        return self.links.get(path)

    def env(self, name):
        return self._env.get(name)

    def nvml(self, timeout=10.0):
        return self._nvml

    def tensorflow(self, python, timeout, on_step=None):
        return self._tf


@pytest.fixture(scope="session", autouse=True)
def _hypothesis_unicode_table():
    """Hypothesis builds its table of Unicode characters on the first text strategy it draws and caches it in
    .hypothesis/, which a fresh clone (CI) does not have: on a loaded machine that first draw took over a second
    inside whichever test came first and failed its too_slow health check. Build the table once, before any test."""
    try:
        from hypothesis.internal.charmap import charmap

        charmap()
    except Exception:  # noqa: BLE001 - an internal of hypothesis: a newer release may move it; the tests still run
        pass


@pytest.fixture
def fake_host():
    return FakeHost


def snapshot_dirs() -> list[Path]:
    return sorted(p for p in SNAPSHOTS.iterdir() if (p / "manifest.json").exists())
