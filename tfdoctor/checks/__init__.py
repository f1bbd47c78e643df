"""Checks: pure functions from facts to one Finding each. No I/O here.

Each check is declared once with its catalogue entry (id, area, title, and the docs text: what it checks, why it
matters, how to fix). The console report, `tfdoctor explain`, the docs site and the JSON schema all read this one
catalogue (see tfdoctor/catalogue.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

AREAS = {
    "system": "System",
    "cpu": "CPU",
    "gpu": "GPU hardware",
    "driver": "NVIDIA kernel driver",
    "nvml": "NVML (driver library)",
    "cuda": "CUDA (driver API)",
    "tensorflow": "TensorFlow",
    "python": "Python environment",
    "compat": "Compatibility",
}


@dataclass(frozen=True)
class CheckSpec:
    """One finding id: how it is computed and how it is documented."""

    id: str
    area: str
    title: str
    func: Callable
    needs: tuple[str, ...]
    what: str
    why: str
    fix: str
    after: tuple[str, ...] = ()
    links: tuple[str, ...] = ()


CHECKS: dict[str, CheckSpec] = {}


def check(
    id: str,
    *,
    area: str,
    title: str,
    needs: tuple[str, ...],
    what: str,
    why: str,
    fix: str,
    after: tuple[str, ...] = (),
    links: tuple[str, ...] = (),
):
    """Register `func(facts) -> Finding` as the check for finding `id`.

    `needs` names the probes whose facts it reads; `after` names the findings upstream of this one: when one of
    them fails, the diagnosis says this finding is caused by it.
    """
    if area not in AREAS:
        raise ValueError(f"unknown area {area!r} for {id}")

    def deco(func):
        if not func.__name__.startswith("check_"):
            # a helper slipped between the decorator and its check would be registered in the check's place (every
            # check function is named check_*)
            raise ValueError(f"{id} is declared on the helper {func.__name__}, not on its check function")
        if id in CHECKS:
            raise ValueError(f"finding id {id} declared twice")
        CHECKS[id] = CheckSpec(id, area, title, func, tuple(needs), what.strip(), why.strip(), fix.strip(),
                               tuple(after), tuple(links))
        return func

    return deco


class Facts:
    """The facts of one run, by probe name (`facts.pci`, `facts.driver`, ...), plus the run's options: whether it is a
    replay of a snapshot (what a snapshot lacks was not recorded, whether or not it was installed), and how this
    tfdoctor is run (tfdoctor.invocation; None on a replay), for the fixes that say to run it again."""

    def __init__(self, by_probe: dict, require_gpu: bool = False, no_tf: bool = False, machine=None,
                 invocation=None, replay: bool = False):
        self._by_probe = by_probe
        self.require_gpu = require_gpu
        self.no_tf = no_tf
        self.invocation = invocation
        self.replay = replay
        if machine is None:
            from tfdoctor.machine import build_machine

            machine = build_machine(by_probe)
        self.machine = machine  # the beliefs every check reads (tfdoctor/machine.py)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return self._by_probe.get(name)
