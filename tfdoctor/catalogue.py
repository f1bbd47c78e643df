"""The catalogue of findings: the single source of truth for ids, titles and docs.

Importing it imports the check modules (pure Python, no I/O), which declare their entries next to their code.
"""

from __future__ import annotations

from tfdoctor.checks import AREAS, CHECKS, CheckSpec

_CHECK_MODULES = ("system", "cpu", "gpu", "driver", "nvml", "tensorflow", "compat",
                  "cuda", "datacentre", "container", "pyenv", "advisor")
_loaded = False


def _load() -> None:
    global _loaded
    if not _loaded:
        import importlib

        for name in _CHECK_MODULES:
            importlib.import_module(f"tfdoctor.checks.{name}")
        _loaded = True


def entries() -> list[CheckSpec]:
    """Every finding id, grouped by area in report order, then in declaration order."""
    _load()
    order = list(AREAS)
    return sorted(CHECKS.values(), key=lambda s: order.index(s.area))


def get(finding_id: str) -> CheckSpec | None:
    _load()
    return CHECKS.get(finding_id)


def ids() -> list[str]:
    return [e.id for e in entries()]


def area_title(area: str) -> str:
    return AREAS.get(area, area)
