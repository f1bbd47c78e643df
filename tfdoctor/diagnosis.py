"""One diagnosis, not a pile: link each problem to the upstream problem that explains it.

The catalogue says which findings sit upstream of which (`after`). A failing finding whose upstream chain holds
another failing finding is "caused by" the most upstream one (a check may also name the finding its failure follows
from, for one reported after it); the first failing finding with no failing upstream
(in report order) is the root cause, and the report tells the user to fix it first.
"""

from __future__ import annotations

from tfdoctor.model import Finding, Status

_BAD = {Status.FAIL, Status.WARN, Status.ERROR}


def diagnose(findings: list[Finding], upstream: dict[str, tuple[str, ...]]) -> list[Finding]:
    """Return the findings with `caused_by` and `root_cause` filled in."""
    by_id = {f.id: f for f in findings}

    def failing(fid: str) -> bool:
        f = by_id.get(fid)
        return f is not None and f.status == Status.FAIL

    # a failure its own check says follows from another failing finding (one reported after it, which no `after`
    # edge can name without a cycle): that finding comes first among its upstream, and it is never a head itself
    declared = {f.id: f.caused_by for f in findings if f.caused_by and f.caused_by != f.id and failing(f.caused_by)}
    edges = {**upstream, **{fid: (cause, *upstream.get(fid, ())) for fid, cause in declared.items()}}

    def head_of(fid: str, seen: frozenset = frozenset()) -> str | None:
        """The most upstream failing finding reachable from fid's upstream list (first listed wins)."""
        for up in edges.get(fid, ()):
            if up in seen:
                continue
            candidate = head_of(up, seen | {fid}) or (up if failing(up) and up not in declared else None)
            if candidate is not None:
                return candidate
        return None

    out: list[Finding] = []
    for f in findings:
        cause = None
        if f.status in _BAD or f.status == Status.SKIP:
            cause = head_of(f.id)
        out.append(f.with_(caused_by=cause, root_cause=False))
    root = next((f for f in out if f.status == Status.FAIL and f.caused_by is None), None)
    if root is not None:
        out = [f.with_(root_cause=True) if f is root else f for f in out]
    return out
