"""Commands whose exact form depends on how Python and tfdoctor are installed here (pure functions of facts):

- "the tfdoctor command to type", under sudo too: sudo searches only its secure_path, where a venv or pipx install
  of tfdoctor is not, so `sudo tfdoctor` would say "command not found";
- pip into the diagnosed interpreter, respecting PEP 668: a Python the distribution manages (an EXTERNALLY-MANAGED
  marker, Debian 12, Ubuntu 23.04+, Fedora 38+) refuses `pip install`, and the venv pipx made for tfdoctor is not
  the place for TensorFlow either: the fix then creates a virtual environment and installs there.
"""

from __future__ import annotations

import functools
import posixpath

from tfdoctor import safe, textmatch
from tfdoctor.checks.fixes import distro_family
from tfdoctor.model import Alternative, Fix

# sudo's secure_path. Debian's and Ubuntu's sudoers set /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# (and /snap/bin on Ubuntu); elsewhere only the system folders are sure.
SECURE_PATH = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")
SECURE_PATH_DEBIAN = (*SECURE_PATH, "/usr/local/sbin", "/usr/local/bin", "/snap/bin")
# Where a fix creates the virtual environment for TensorFlow when the diagnosed Python must not get pip installs.
NEW_VENV = "~/.venvs/tensorflow"
NEW_VENV_PYTHON = f"{NEW_VENV}/bin/python"


def tfdoctor_command(facts, *args: str, sudo: bool = False) -> str:
    """The tfdoctor command to type for this machine, e.g. `sudo tfdoctor fix-nouveau`, or
    `sudo "$(command -v tfdoctor)" fix-nouveau` for a venv or pipx install, or `python -m tfdoctor ...` when tfdoctor
    was run that way. A replay (nothing known about how tfdoctor is installed there) gets the form that works
    wherever tfdoctor is on the PATH."""
    inv = getattr(facts, "invocation", None)
    tail = " ".join(args)
    pre = "sudo " if sudo else ""
    script, python = getattr(inv, "script", None), getattr(inv, "python", None)
    script = executable(script)
    python = executable(python)
    if script and getattr(inv, "on_path", False):
        if not sudo:
            return f"tfdoctor {tail}"
        secure = SECURE_PATH_DEBIAN if distro_family(getattr(facts, "env", None)) in ("ubuntu", "debian") \
            else SECURE_PATH
        if posixpath.dirname(script) in secure:
            return f"sudo tfdoctor {tail}"
        return f'sudo "$(command -v tfdoctor)" {tail}'
    if script:
        return f"{pre}{script} {tail}"
    if python:
        return f"{pre}{python} -m tfdoctor {tail}"
    return f'sudo "$(command -v tfdoctor)" {tail}' if sudo else f"tfdoctor {tail}"


def tfdoctor_pip_install(facts, package: str) -> str:
    """Install a package into tfdoctor's own environment (its optional dependencies), as it was installed: pipx,
    or the interpreter that runs it."""
    python = getattr(getattr(facts, "invocation", None), "python", None)
    python = executable(python)
    if python and "/pipx/venvs/" in python:
        return f"pipx inject tfdoctor {package}"
    if python:
        return f"{python} -m pip install {package}"
    return f"python3 -m pip install {package}"


def tf_import_line(tf, expr: str = "tf.__version__") -> str:
    """The line that imports TensorFlow in the diagnosed interpreter and prints `expr` (a verify step)."""
    return f"{python_cmd(tf)} -c \"import tensorflow as tf; print({expr})\""


def verify_only(facts, *ids: str) -> str:
    """The line that re-runs just these checks, typed the way tfdoctor was installed on this machine."""
    return tfdoctor_command(facts, "check", "--only", ",".join(ids))


def python_cmd(tf) -> str:
    """How to call the diagnosed interpreter in a command (its full path when known)."""
    exe = getattr(tf, "python_executable", None) or getattr(tf, "python", None)
    checked = executable(exe)  # machine text enters a command only in a program name's or path's strict shape
    return checked or "python3"  # plain characters only: nothing to quote (a quoted ~ would not expand)


_COMMAND_NAME = textmatch.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")


def executable(value: str | None) -> str | None:
    """A program for a command: a bare name found on the PATH (`python3`), an absolute path of plain characters, or
    one under `~/` (a redacted home folder); None (and a note, tfdoctor/safe.py) for anything else."""
    if not value:
        return None
    if _COMMAND_NAME.fullmatch(value):
        return value
    if value.startswith("~/"):  # a home folder as redaction writes it: the shell expands it back
        return value if safe.path(value[1:]) else None
    return safe.path(value)


def _interpreter(facts):
    """(executable, version, externally managed) of the diagnosed interpreter, from the TensorFlow child and the
    python-info probe (both ran it; either may be missing). Externally managed is never true inside a venv."""
    tf, py = getattr(facts, "tensorflow", None), getattr(getattr(facts, "env", None), "python", None)
    exe = getattr(tf, "python_executable", None) or getattr(py, "executable", None)
    version = getattr(tf, "python_version", None) or getattr(py, "version", None)
    managed = getattr(tf, "externally_managed", None)
    if managed is None:
        managed = getattr(py, "externally_managed", None)
    return exe, version, managed


def interpreter_cmd(facts) -> str:
    """The diagnosed interpreter as a command may name it (its path, checked by `executable`), else `python3`."""
    return executable(_interpreter(facts)[0]) or "python3"


def pip_needs_new_venv(facts) -> str | None:
    """Why pip must not install into the diagnosed interpreter (None: it may): the distribution manages it
    (PEP 668), or it is the virtual environment pipx made for tfdoctor itself."""
    exe, _, managed = _interpreter(facts)
    if "/pipx/venvs/" in (exe or ""):
        return "it is the virtual environment pipx made for tfdoctor, not your project's"
    if managed:
        return "your distribution manages its packages (PEP 668), so pip refuses to install into it"
    return None


def _venv_setup(facts, py: str) -> tuple[str, ...]:
    """The commands that create NEW_VENV from the diagnosed interpreter; Debian and Ubuntu ship venv separately."""
    exe, version, _ = _interpreter(facts)
    cmds = []
    mm = ".".join((version or "").split(".")[:2])
    if (distro_family(getattr(facts, "env", None)) in ("ubuntu", "debian") and (exe or "").startswith("/usr/bin/")
            and textmatch.fullmatch(r"3\.[0-9]{1,2}", mm)):
        cmds.append(f"sudo apt install python{mm}-venv")
    cmds.append(f"{py} -m venv {NEW_VENV}")
    return tuple(cmds)


def _rewrite(commands: tuple[str, ...], pip: str) -> tuple[tuple[str, ...], bool]:
    """The commands with pip pointed at NEW_VENV (uninstalls dropped: a new environment has nothing to remove)."""
    out, changed = [], False
    for c in commands:
        if c.startswith(pip + "uninstall"):
            changed = True
            continue
        if c.startswith(pip):
            out.append(f"{NEW_VENV_PYTHON} -m pip " + c[len(pip):])
            changed = True
        else:
            out.append(c)
    return tuple(out), changed


def pip_fix(facts, fix: Fix | None) -> Fix | None:
    """`fix` made to paste here: when pip may not install into the diagnosed interpreter, its pip commands move to
    a new virtual environment (created first), and the fix says so and how to check TensorFlow there."""
    why = pip_needs_new_venv(facts) if fix is not None else None
    if why is None:
        return fix
    py = python_cmd(getattr(facts, "tensorflow", None))
    pip = f"{py} -m pip "
    setup = _venv_setup(facts, py)
    commands, changed = _rewrite(fix.commands, pip)
    any_changed = changed
    if changed:
        commands = (*setup, *commands)
    alternatives = []
    for alt in fix.alternatives:
        alt_cmds, alt_changed = _rewrite(alt.commands, pip)
        alternatives.append(Alternative(alt.when, (*setup, *alt_cmds) if alt_changed else alt_cmds))
        any_changed = any_changed or alt_changed
    if not any_changed:
        return fix
    check = tfdoctor_command(facts, "check", "--python", NEW_VENV_PYTHON)
    return Fix(f"{fix.summary} This Python ({py}) cannot take pip installs: {why}. So the commands create a "
               f"virtual environment in {NEW_VENV} and install there instead; run your programs with "
               f"{NEW_VENV_PYTHON}.",
               commands, tuple(alternatives), (*fix.verify, check))


def with_pip_fixes(check_func):
    """Decorate a check whose fixes run pip in the diagnosed interpreter: its finding's fix goes through pip_fix."""

    @functools.wraps(check_func)
    def wrapped(facts):
        finding = check_func(facts)
        if finding is not None and finding.fix is not None:
            fixed = pip_fix(facts, finding.fix)
            if fixed is not finding.fix:
                finding = finding.with_(fix=fixed)
        return finding

    return wrapped
