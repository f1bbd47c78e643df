"""Speed of `tfdoctor check` without TensorFlow (the brief's target: `check --no-tf` under 0.3 s; issue #2's: under
0.5 s wall on a 2-core machine, `tfdoctor --help` under 0.3 s). Fresh process per run, as a user or a CI step starts it.

    python benchmarks/bench_check.py            # 15 runs each
    python benchmarks/bench_check.py --runs 30
"""

from __future__ import annotations

import argparse
import compileall
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_healthcheck import ROOT, time_command  # noqa: E402 - one timing loop for every benchmark

SNAPSHOT = ROOT / "tests" / "fixtures" / "snapshots" / "quadro-p2000-no-driver"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    # byte-compile first, as `pip install` does: a tree whose .pyc files are stale (an edited checkout, or
    # PYTHONDONTWRITEBYTECODE=1) would time Python's compiler, not tfdoctor
    compileall.compile_dir(str(ROOT / "tfdoctor"), quiet=1)
    py = [sys.executable, "-m", "tfdoctor"]
    rows = [
        time_command([*py, "--help"], args.runs),
        time_command([*py, "check", "--no-tf"], args.runs),
        time_command([*py, "check", "--no-tf", "--json"], args.runs),
        time_command([*py, "check", "--from", str(SNAPSHOT)], args.runs),
    ]
    print(f"{platform.machine()} {platform.python_version()}, {args.runs} runs each, fresh process per run")
    print(f"{'median':>8} {'min':>8} {'max':>8}  command")
    for r in rows:
        print(f"{r['median_s']:8.3f} {r['min_s']:8.3f} {r['max_s']:8.3f}  {r['command'].replace(str(ROOT) + '/', '')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
