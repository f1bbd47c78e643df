"""Corpus accuracy: replay every real case in tests/cases/ and compare with the expert's diagnosis (expect.json).

    python benchmarks/accuracy.py            # one line per case, then "N/M right"
    python benchmarks/accuracy.py -v         # with the reason for each miss
    python benchmarks/accuracy.py --case NAME

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

from tests.corpus import CASES_DIR, case_dirs, score  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--case", action="append", default=[])
    args = ap.parse_args(argv)
    dirs = [d for d in case_dirs() if not args.case or d.name in args.case]
    right = 0
    for d in dirs:
        ok, why = score(d)
        right += ok
        print(f"{'ok  ' if ok else 'MISS'} {d.name}" + (f"  -- {why}" if (args.verbose and not ok) else ""))
    print(f"{right}/{len(dirs)} right" + (f" ({100 * right / len(dirs):.1f}%)" if dirs else f" (no cases in {CASES_DIR})"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
