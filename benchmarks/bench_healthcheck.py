"""How long the scheduler health check takes: `tfdoctor check --quiet --require-gpu --no-tf`, end to end.

Each run is a fresh process (as Slurm's HealthCheckProgram or a CI step starts it), so the time includes the
interpreter start and tfdoctor's imports. Reported: median, min and max of N runs, after one warm-up run
(the first run after boot also pays for the page cache, which a scheduler running it every few minutes does not).

    python benchmarks/bench_healthcheck.py                 # this machine, 15 runs
    python benchmarks/bench_healthcheck.py --runs 30 --json
    python benchmarks/bench_healthcheck.py --snapshot tests/fixtures/snapshots/healthy-single-gpu
    python benchmarks/bench_healthcheck.py --tf-import     # also: what `import tensorflow` alone costs here
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def time_command(argv: list[str], runs: int, env: dict | None = None) -> dict:
    """Wall time of `argv` run `runs` times in fresh processes, after one warm-up run."""
    subprocess.run(argv, cwd=ROOT, capture_output=True, env=env, timeout=300)
    times, codes = [], set()
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(argv, cwd=ROOT, capture_output=True, env=env, timeout=300)
        times.append(time.perf_counter() - t0)
        codes.add(proc.returncode)
    return {"command": " ".join(argv[2:] if argv[1] == "-m" else argv), "runs": runs,
            "median_s": round(statistics.median(times), 4), "min_s": round(min(times), 4),
            "max_s": round(max(times), 4), "exit_codes": sorted(codes)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--snapshot", action="append", default=[], help="Also time a replay of this snapshot.")
    parser.add_argument("--tf-import", action="store_true", help="Also time `python -c 'import tensorflow'`.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    tf = [sys.executable, "-m", "tfdoctor"]
    results = [
        time_command([*tf, "--help"], args.runs, env),
        time_command([*tf, "check", "--quiet", "--require-gpu", "--no-tf"], args.runs, env),
    ]
    for snap in args.snapshot:
        results.append(time_command([*tf, "check", "--quiet", "--require-gpu", "--no-tf", "--from", snap],
                                    args.runs, env))
    if args.tf_import:
        results.append(time_command([sys.executable, "-c", "import tensorflow"], max(3, args.runs // 5), env))
    if args.json:
        print(json.dumps({"python": sys.version.split()[0], "results": results}, indent=2))
        return
    print(f"Python {sys.version.split()[0]}, {args.runs} runs each (fresh process per run, after one warm-up)")
    print(f"{'median':>8} {'min':>8} {'max':>8}  exit  command")
    for r in results:
        print(f"{r['median_s']:8.3f} {r['min_s']:8.3f} {r['max_s']:8.3f}  {','.join(map(str, r['exit_codes'])):4}  "
              f"{r['command']}")


if __name__ == "__main__":
    main()
