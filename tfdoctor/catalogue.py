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


# -- selection: what --only/--skip name ------------------------------------------------------------------------------
def id_prefixes() -> dict[str, tuple[str, ...]]:
    """Every id prefix ("tf" of tf.import) with the ids that carry it, in catalogue order."""
    out: dict[str, list[str]] = {}
    for spec in entries():
        out.setdefault(spec.id.split(".", 1)[0], []).append(spec.id)
    return {p: tuple(ids) for p, ids in out.items()}


def area_ids(area: str) -> tuple[str, ...]:
    return tuple(s.id for s in entries() if s.area == area)


def area_prefixes(area: str) -> tuple[str, ...]:
    """The id prefixes used inside an area (system: system, env), in catalogue order."""
    return tuple(dict.fromkeys(fid.split(".", 1)[0] for fid in area_ids(area)))


def area_aliases(area: str) -> tuple[str, ...]:
    """The id prefixes that name exactly this area's findings (tf for tensorflow, pci for gpu): derived from the ids,
    so a new finding that breaks the match drops the alias instead of making it lie."""
    ids = set(area_ids(area))
    return tuple(p for p, pids in id_prefixes().items() if p != area and set(pids) == ids)


class UnknownName(ValueError):
    """A name given to --only/--skip that is no finding id, area or id prefix; carries the close matches."""

    def __init__(self, name: str, suggestions: tuple[str, ...]):
        self.name = name
        self.suggestions = suggestions
        hint = f"; did you mean {' or '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        super().__init__(f"unknown finding id or area {name!r}{hint} (see tfdoctor check --list-checks)")


def selectable_names() -> list[str]:
    """Every name --only/--skip accept: finding ids, areas and id prefixes."""
    return list(dict.fromkeys([*ids(), *AREAS, *id_prefixes()]))


def resolve(name: str) -> tuple[str, ...]:
    """The finding ids a name selects: an id, an area (every id in it), or an id prefix (`tf`, `pci`, `env`: every id
    that starts with it). An area wins over a prefix of the same name. Raises UnknownName with close matches."""

    if get(name) is not None:
        return (name,)
    if name in AREAS:
        return area_ids(name)
    prefixes = id_prefixes()
    if name in prefixes:
        return prefixes[name]
    raise UnknownName(name, close_names(name, selectable_names()))


def close_names(name: str, names) -> tuple[str, ...]:
    """The names a typo most likely meant (difflib's close matches, best first)."""
    import difflib

    return tuple(difflib.get_close_matches(name, list(names), n=3, cutoff=0.6))


def select(only=(), skip=()) -> tuple[str, ...]:
    """The ids --only/--skip leave, in catalogue order (every id when neither is given)."""
    chosen = {fid for name in only for fid in resolve(name)} if only else set(ids())
    dropped = {fid for name in skip for fid in resolve(name)}
    return tuple(fid for fid in ids() if fid in chosen and fid not in dropped)


def upstream_closure(selected) -> tuple[str, ...]:
    """The selected ids and every id upstream of them (`after`, transitively), in catalogue order: the diagnosis
    needs them all so that a selection's root cause is the one the full check names."""
    wanted: set[str] = set()
    stack = list(selected)
    while stack:
        fid = stack.pop()
        if fid in wanted or get(fid) is None:
            continue
        wanted.add(fid)
        stack.extend(get(fid).after)
    return tuple(fid for fid in ids() if fid in wanted)
