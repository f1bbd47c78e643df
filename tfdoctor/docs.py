"""Documentation text of a finding, from the catalogue: used by `tfdoctor explain` and the docs site."""

from __future__ import annotations

from tfdoctor.checks import CheckSpec


def explain_text(spec: CheckSpec) -> str:
    from tfdoctor.catalogue import area_title

    lines = [f"{spec.id}: {spec.title}", f"Area: {area_title(spec.area)}", "", "What it checks", spec.what, "",
             "Why it matters", spec.why, "", "How to fix", spec.fix]
    if spec.after:
        lines += ["", "Upstream findings (fix these first when they fail): " + ", ".join(spec.after)]
    if spec.links:
        lines += ["", "Links"] + [f"  {u}" for u in spec.links]
    return "\n".join(lines)
