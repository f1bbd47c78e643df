"""Corpus accuracy: replay every real case in tests/cases/ and compare with the expert's diagnosis (expect.json).

    python benchmarks/accuracy.py            # one line per case, then "N/M right"
    python benchmarks/accuracy.py -v         # with the reason for each miss
    python benchmarks/accuracy.py --case NAME
    python benchmarks/accuracy.py --triage   # also `tfdoctor triage` of each case's paste.txt, and the agreement

A case is right when (see `score` in tests/corpus.py):
- healthy (root_cause null): no finding fails and none warns as the root cause, exit status 0;
- broken: the report's root cause is the expected finding id (or one of `root_cause_any`), every finding named in
  `findings` has the expected status, and every `fix_contains` text appears in that finding's fix (or its root
  cause's fix).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.corpus import CASES_DIR, case_dirs, diagnosis_of, replay_case, score  # noqa: E402


def _diagnosis_id(path, mode: str) -> str | None:
    try:
        found = diagnosis_of(replay_case(path, mode))
    except (Exception, SystemExit):  # a crash is a miss; scored by `score` with its reason
        return "<crash>"
    return found.id if found is not None else None


def main_triage(dirs, verbose: bool) -> int:
    """Replay and triage side by side: each scored against expect.json, and whether both reach the same
    diagnosis (the same root cause, or the same unexplained warning, or none)."""
    r_right = t_right = agree = 0
    for d in dirs:
        ok_r, why_r = score(d)
        ok_t, why_t = score(d, "triage")
        same = _diagnosis_id(d, "replay") == _diagnosis_id(d, "triage")
        r_right, t_right, agree = r_right + ok_r, t_right + ok_t, agree + same
        marks = f"{'ok  ' if ok_r else 'MISS'} {'ok  ' if ok_t else 'MISS'} {'=' if same else '≠'}"
        why = f"  -- replay: {why_r or 'ok'}; triage: {why_t or 'ok'}" if verbose and (not (ok_r and ok_t) or not same) \
            else ""
        print(f"{marks} {d.name}{why}")
    n = len(dirs)
    if not n:
        print(f"no cases in {CASES_DIR}")
        return 0
    print("columns: replay of the hand-built snapshot, triage of paste.txt, same diagnosis (=)")
    print(f"replay {r_right}/{n} right ({100 * r_right / n:.1f}%); triage {t_right}/{n} right ({100 * t_right / n:.1f}%)"
          f" = {100 * t_right / max(r_right, 1):.1f}% of replay; same diagnosis on {agree}/{n} ({100 * agree / n:.1f}%)")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--case", action="append", default=[])
    ap.add_argument("--triage", action="store_true",
                    help="Also triage each case's paste.txt; print both scores and their agreement.")
    args = ap.parse_args(argv)
    dirs = [d for d in case_dirs() if not args.case or d.name in args.case]
    if args.triage:
        return main_triage(dirs, args.verbose)
    right = 0
    for d in dirs:
        ok, why = score(d)
        right += ok
        print(f"{'ok  ' if ok else 'MISS'} {d.name}" + (f"  -- {why}" if (args.verbose and not ok) else ""))
    print(f"{right}/{len(dirs)} right" + (f" ({100 * right / len(dirs):.1f}%)" if dirs else f" (no cases in {CASES_DIR})"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
