"""`tfdoctor fix-nouveau`: print the state, then blacklist nouveau (or undo it) after asking.

The logic lives in tfdoctor/fix/nouveau.py (plain functions over a root directory); this module only prints,
asks and picks the exit status:
  0  done, nothing to do, or --dry-run
  1  refused (no NVIDIA driver and no --force; the file is not ours to undo; declined at the prompt) or failed
     (the write or the initramfs step failed; the files are as they were)
  2  cannot start: not root, no terminal to ask on and no --yes, or --root is not a directory
"""

from __future__ import annotations

import contextlib
import os
import sys
import time

import typer

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
STATE_DEADLINE_S = 60.0  # reading the state: the driver, pci and env probes' commands and files


def _euid() -> int:
    """The effective user id (a function so tests can stand in for a non-root user)."""
    return os.geteuid()


def _is_tty() -> bool:
    return sys.stdin.isatty()


def _err(message: str) -> None:
    print(f"tfdoctor: {message}", file=sys.stderr)


def render_state(state) -> str:
    """The state report: modules, cards, every blacklist found, the initramfs tool, the NVIDIA driver."""
    where = state.root if state.root == "/" else f"{state.root} (an image: paths below are inside it)"
    lines = [f"State of {where} — {state.distro}"]
    if not state.loaded_modules_known:
        nouveau = "unknown (no /proc/modules)"
    else:
        nouveau = "loaded" if state.nouveau_loaded else "not loaded"
    bound = [d for d in state.devices if d.driver_in_use in ("nouveau", "nova_core", "nova-core", "NovaCore")]
    if bound:
        nouveau += "; bound to " + ", ".join(f"{d.slot} ({d.driver_in_use})" for d in bound)
    lines.append(f"  nouveau:          {nouveau}")
    kernels = ", ".join(state.kernels) or "no kernel modules found"
    if state.nova_loaded:
        nova = "loaded"
    elif state.nova_available:
        nova = f"present for {kernels}, not loaded"
    else:
        nova = f"not present ({kernels})"
    lines.append(f"  nova_core:        {nova}")
    if state.devices:
        for d in state.devices:
            name = f" {d.name}" if d.name else ""
            lines.append(f"  NVIDIA card:      {d.slot} [{d.pci_id}]{name}, driver in use: {d.driver_in_use or 'none'}")
    else:
        lines.append("  NVIDIA card:      none seen on the PCI bus")
    effective = [b for b in state.blacklistings if b.effective]
    lines.append("  Blacklisted in:" + ("" if effective else "   nowhere (no modprobe.d file, not the kernel command line)"))
    for b in effective:
        lines.append(f"    {b.path}: {b.directive}")
    if state.ignored:
        lines.append("  Blacklists that do NOT count:")
        for b in state.ignored:
            lines.append(f"    {b.path}: {b.directive} — {b.why_not}")
    tool = state.initramfs
    if tool is None:
        lines.append("  Initramfs tool:   none found")
    elif tool.path is None:
        lines.append(f"  Initramfs tool:   {tool.name} expected but not installed ({tool.why})")
    else:
        lines.append(f"  Initramfs tool:   {tool.name} ({tool.path}; {tool.why})")
    if state.nvidia_driver:
        lines.append("  NVIDIA driver:    installed (" + ", ".join(state.nvidia_driver) + ")")
    else:
        lines.append("  NVIDIA driver:    not found (no driver package, no nvidia kernel module)")
    from tfdoctor.report.sanitize import clean

    return "\n".join(clean(line, newlines=False) for line in lines)  # names and paths come from the image


def render_plan(plan, verb: str = "Would") -> str:
    """Exactly the file that will be written and the commands that will be run."""
    lines = [f"{verb} write {plan.target} (mode 0644), atomically (temporary file + rename):",
             "----- begin -----", plan.content.rstrip("\n"), "----- end -----"]
    if plan.backup:
        lines.append(f"{verb} keep the file it replaces as {plan.backup} (--undo puts it back).")
    if plan.initramfs.skipped:
        lines.append(f"{verb} not regenerate the initramfs: {plan.initramfs.skipped}.")
    else:
        lines.append(f"{verb} run: {plan.initramfs.command}   (time limit 120 s; on failure the file is rolled back)")
    lines.append("A reboot is needed afterwards.")
    return "\n".join(lines)


def render_undo(plan, verb: str = "Would") -> str:
    lines = [f"{verb} put back {plan.backup} as {plan.target}." if plan.backup else f"{verb} remove {plan.target}."]
    if plan.initramfs.skipped:
        lines.append(f"{verb} not regenerate the initramfs: {plan.initramfs.skipped}.")
    else:
        lines.append(f"{verb} run: {plan.initramfs.command}")
    lines.append("A reboot is needed afterwards.")
    return "\n".join(lines)


def recommended_driver_advice(state) -> str:
    """How to install the NVIDIA driver first: the fix of the `driver.recommended` finding, computed from the facts
    read_state already gathered (no second probe run)."""
    try:
        from tfdoctor import catalogue
        from tfdoctor.checks import Facts

        spec = catalogue.get("driver.recommended")
        if spec is not None and state.facts:
            finding = spec.func(Facts(dict(state.facts)))
            if finding.fix is not None:
                return f"{finding.fix.summary}" + "".join(f"\n    {c}" for c in finding.fix.commands)
            return finding.summary
    except Exception:  # advice is a nicety: it must never hide the refusal itself
        pass
    return "Install your distribution's NVIDIA driver package first (see: tfdoctor explain driver.recommended)."


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not _is_tty():
        _err("no terminal to ask for confirmation on, so nothing was done; run again with --yes "
             "(or --dry-run to only see the plan)")
        raise typer.Exit(EXIT_USAGE)
    if not typer.confirm(question, default=False):
        print("Nothing was done.")
        raise typer.Exit(EXIT_FAIL)


def _need_root(root: str, what: str) -> None:
    if os.path.abspath(root) == "/" and _euid() != 0:
        _err(f"{what} changes system files and needs root: run it with sudo (or use --dry-run to see the plan). "
             "Nothing was changed.")
        raise typer.Exit(EXIT_USAGE)


def fix_nouveau(
    dry_run: bool = typer.Option(False, "--dry-run", "-n",
                                 help="Print the state, the file and the commands; change nothing (no root needed)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation (needed without a terminal)."),
    force: bool = typer.Option(False, "--force",
                               help="Blacklist even when no NVIDIA driver is installed (risks a black screen); with "
                                    "--undo, undo even when tfdoctor's file was edited since (the edits are lost)."),
    undo: bool = typer.Option(False, "--undo", help="Remove the file tfdoctor wrote and put back what it replaced."),
    root: str = typer.Option("/", "--root", metavar="DIR",
                             help="Operate on a system image mounted at DIR (paths under DIR; initramfs via chroot)."),
):
    """Blacklist nouveau (and nova_core/nova_drm) so the NVIDIA driver can bind the GPU, then regenerate the
    initramfs. Exit 0 done or nothing to do, 1 refused or failed (files left as they were), 2 cannot start."""
    from tfdoctor.fix import nouveau as nv

    if not os.path.isdir(root):
        _err(f"--root {root}: not a directory")
        raise typer.Exit(EXIT_USAGE)
    root = os.path.realpath(root)  # a symlink to / is the live system, with its root check
    if not dry_run:
        _need_root(root, "fix-nouveau --undo" if undo else "fix-nouveau")
    lock = contextlib.nullcontext() if dry_run else nv.locked(root)
    try:
        with lock:
            _fix(nv, root, dry_run, yes, force, undo)
    except nv.Busy as exc:
        _err(str(exc))
        raise typer.Exit(EXIT_FAIL) from None


def _fix(nv, root: str, dry_run: bool, yes: bool, force: bool, undo: bool) -> None:
    from tfdoctor import __version__, proc

    with proc.deadline(time.monotonic() + STATE_DEADLINE_S):  # every command and read of the state is bounded
        state = nv.read_state(root)
    print(render_state(state))
    print()
    if undo:
        _undo(nv, state, dry_run, yes, force)
        return

    try:
        plan = nv.plan_blacklist(state, __version__, euid=_euid())
    except nv.UnsafePath as exc:
        _err(f"refusing: {exc.filename}: {exc.strerror}. Nothing was changed.")
        raise typer.Exit(EXIT_FAIL) from None
    if plan is None:
        print("nouveau" + (" and nova_core are" if state.nova_available else " is")
              + " already blacklisted where it counts: nothing to write.")
        if state.nouveau_loaded:
            step = nv.initramfs_step(state, _euid())
            todo = step.command or step.skipped
            print("nouveau is still loaded: reboot. If it is loaded again after a reboot, the initramfs predates the "
                  f"blacklist; regenerate it ({todo}) and reboot.")
        raise typer.Exit(EXIT_OK)
    refuse = not state.nvidia_driver and not force
    if dry_run:
        print(render_plan(plan))
        if refuse:
            print("\nNote: no NVIDIA driver is installed, so without --force the real run would refuse "
                  "(blacklisting nouveau with no other driver gives a black screen).")
        raise typer.Exit(EXIT_OK)
    if refuse:
        _err("refusing: no NVIDIA driver is installed, and with nouveau blacklisted this machine would boot to a "
             "black screen. Nothing was changed.")
        print(recommended_driver_advice(state))
        print("Then run tfdoctor fix-nouveau again (or pass --force if you know the driver is there).")
        raise typer.Exit(EXIT_FAIL)
    _confirm_and_apply(render_plan(plan, verb="Will"), yes, lambda: nv.apply_blacklist(plan))


def _undo(nv, state, dry_run: bool, yes: bool, force: bool = False) -> None:
    plan = nv.plan_undo(state, euid=_euid(), force=force)
    if isinstance(plan, nv.NothingToUndo):
        print(plan.message)
        raise typer.Exit(EXIT_OK if plan.ok else EXIT_FAIL)
    if dry_run:
        print(render_undo(plan))
        raise typer.Exit(EXIT_OK)
    _confirm_and_apply(render_undo(plan, verb="Will"), yes, lambda: nv.apply_undo(plan))


def _confirm_and_apply(plan_text: str, yes: bool, apply) -> None:
    """Show what will be done, ask (unless --yes), do it, report, and exit 0 (done) or 1 (failed, rolled back)."""
    from tfdoctor.fix.nouveau import Interrupted

    print(plan_text)
    _confirm("Go ahead?", yes)
    try:
        outcome = apply()
    except Interrupted as exc:  # Ctrl-C or SIGTERM: say what the rollback did, then let the interrupt end the run
        for line in exc.lines:
            print(line, file=sys.stderr)
        sys.stderr.flush()
        raise exc.__cause__ from None
    for line in outcome.lines:
        print(line, file=sys.stdout if outcome.ok else sys.stderr)
    raise typer.Exit(EXIT_OK if outcome.ok else EXIT_FAIL)
