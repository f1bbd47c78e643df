"""`tfdoctor check` (with the TensorFlow probe) against the plain way of asking TensorFlow for the GPU.

Baseline: python -c "import tensorflow as tf; tf.config.list_physical_devices('GPU')"
Measured: tfdoctor check --json (every probe, TensorFlow in its child process), same interpreter.
Reports the median wall time of N runs each, their ratio (target <= 1.2), and the peak RSS of the tfdoctor process
itself (ru_maxrss of RUSAGE_SELF in that process: the TensorFlow child is not counted; target < 100 MB).

    python benchmarks/bench_check_tf.py [--runs 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time

BASELINE = "import tensorflow as tf; tf.config.list_physical_devices('GPU')"
# Run the CLI in-process and print this process's own peak RSS (KiB on Linux) on the last line of stderr.
TFDOCTOR = (
    "import resource, sys\n"
    "from tfdoctor.cli import main\n"
    "sys.argv = ['tfdoctor', 'check', '--json']\n"
    "try:\n"
    "    main()\n"
    "except SystemExit:\n"
    "    pass\n"
    "sys.stdout.flush()\n"
    "print('TFDOCTOR_MAXRSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
)


def timed(code: str) -> tuple[float, str, str]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    return time.perf_counter() - start, proc.stdout, proc.stderr


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()

    timed(BASELINE)  # warm the page cache once for both sides: the first import of TensorFlow reads ~1 GB
    base, check, rss = [], [], []
    for _ in range(args.runs):  # interleaved, so drift in the machine's load hits both sides alike
        base.append(timed(BASELINE)[0])
        took, out, err = timed(TFDOCTOR)
        check.append(took)
        line = next((ln for ln in reversed(err.splitlines()) if ln.startswith("TFDOCTOR_MAXRSS_KB")), None)
        if line:
            rss.append(int(line.split()[1]) / 1024)
        try:
            tf_probe = json.loads(out).get("meta", {}).get("probe_durations_s", {}).get("tensorflow")
        except (json.JSONDecodeError, AttributeError):
            tf_probe = None
    result = {
        "python": sys.version.split()[0],
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "runs": args.runs,
        "baseline_median_s": round(statistics.median(base), 3),
        "check_median_s": round(statistics.median(check), 3),
        "ratio": round(statistics.median(check) / statistics.median(base), 3),
        "tfdoctor_max_rss_mb": round(max(rss), 1) if rss else None,
        "tensorflow_probe_s_last_run": tf_probe,
        "baseline_s": [round(x, 3) for x in base],
        "check_s": [round(x, 3) for x in check],
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"baseline (import tensorflow; list GPUs): median {result['baseline_median_s']} s  {result['baseline_s']}")
        print(f"tfdoctor check --json:                   median {result['check_median_s']} s  {result['check_s']}")
        print(f"ratio {result['ratio']} (target <= 1.2); tfdoctor process max RSS {result['tfdoctor_max_rss_mb']} MB "
              "(target < 100)")
    return 0 if result["ratio"] <= 1.2 and (result["tfdoctor_max_rss_mb"] or 0) < 100 else 1


if __name__ == "__main__":
    raise SystemExit(main())
