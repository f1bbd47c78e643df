"""Shared test helpers: a Host over dicts (the machine boundary) and the fixture folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfdoctor.host import NOT_INSTALLED, CommandResult, command_key

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

    def tensorflow(self, python, timeout):
        return self._tf


@pytest.fixture
def fake_host():
    return FakeHost


def snapshot_dirs() -> list[Path]:
    return sorted(p for p in SNAPSHOTS.iterdir() if (p / "manifest.json").exists())
