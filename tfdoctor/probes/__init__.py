"""Probes: one module per source of facts. A probe reads the machine through a Host and returns a frozen
dataclass of facts; it never decides ok or fail. A probe that cannot read its source says so in its facts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ProbeOptions:
    """What the user asked for that changes what probes do."""

    no_tf: bool = False
    python: str | None = None
    tf_timeout: float = 90.0


@dataclass
class ProbeContext:
    """Handed to each probe: the options, the facts of the probes it declared in `needs`, and `step`, which a slow
    probe calls with the step it is in ("importing TensorFlow with ...") when someone shows progress (else None)."""

    options: ProbeOptions
    facts: dict = field(default_factory=dict)
    step: Callable[[str], None] | None = None


@dataclass(frozen=True)
class ProbeSpec:
    name: str
    func: Callable
    needs: tuple[str, ...] = ()
    timeout: float = 20.0
    title: str = ""


PROBES: dict[str, ProbeSpec] = {}


def probe(name: str, *, needs: tuple[str, ...] = (), timeout: float = 20.0, title: str = ""):
    """Register a probe function `func(host, ctx) -> facts` under `name`."""

    def deco(func):
        PROBES[name] = ProbeSpec(name, func, needs, timeout, title or name)
        return func

    return deco


def load_all() -> dict[str, ProbeSpec]:
    """Import every probe module (cheap: none imports anything heavy at module level)."""
    from tfdoctor.probes import (  # noqa: F401
        container_host,
        cpu,
        cuda,
        datacentre,
        driver,
        env,
        nvml,
        pci,
        pyenv,
        sources,
        tensorflow,
    )

    return PROBES


def run_all(host, commands: dict[str, tuple[list[str], float]]) -> dict:
    """Run independent commands at the same time (each with its own timeout); results by name.

    Most of a live check's wall time is spent waiting for small tools to start; running them side by side keeps
    `tfdoctor check --no-tf` fast. The Host is thread-safe (RecordingHost locks its records).
    """
    import threading

    from tfdoctor.proc import inherit_deadline

    results: dict = {}

    def one(name, argv, timeout):
        results[name] = host.run(argv, timeout=timeout)

    # each command thread keeps the probe's deadline
    threads = [threading.Thread(target=inherit_deadline(one), args=(n, a, t), name=f"probe-command-{n}", daemon=True)
               for n, (a, t) in commands.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
