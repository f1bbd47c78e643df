"""Does `tfdoctor bench` keep its time budget with a model that cannot fit in it?

Runs `tfdoctor bench --model resnet50 --device cpu --max-time 20 --json` (ResNet50's first training step on a small
CPU alone outlasts 20 s) and reports the whole command's wall time against the budget plus the TensorFlow import
that the child reports, with the machine's load average before and after (`uptime`'s three figures).

Target (issue 14): wall <= budget + TensorFlow import, plus the two interpreters' start and exit (about a second).

    python benchmarks/bench_budget.py [--rounds 2] [--max-time 20] [--model resnet50] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def load() -> str:
    """The 1, 5 and 15 minute load averages, as `uptime` prints them."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def run(model: str, max_time: float) -> dict:
    before = load()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "tfdoctor", "bench", "--model", model, "--device", "cpu",
                           "--max-time", str(max_time), "--json"], capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - t0
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        raise SystemExit(f"tfdoctor bench printed no JSON (exit {proc.returncode}): {proc.stderr[-2000:]}") from None
    child = doc.get("child") or {}
    imported = child.get("tensorflow_import_s") or 0.0
    measured = doc.get("devices") or []
    failed = doc.get("failed_devices") or []
    return {"rc": proc.returncode, "wall_s": wall, "tensorflow_import_s": imported, "budget_s": max_time,
            "over_s": wall - (max_time + imported), "child_s": child.get("seconds"),
            "peak_rss_mb": child.get("peak_rss_mb"), "load_before": before, "load_after": load(),
            "outcome": (f"measured, {measured[0]['windows']} windows" if measured else
                        failed[0]["status"] if failed else "nothing"),
            "message": failed[0]["error"] if failed else None}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--max-time", type=float, default=20.0)
    p.add_argument("--model", default="resnet50")
    p.add_argument("--json", metavar="FILE", help="also write the raw results here")
    args = p.parse_args()
    rows = [run(args.model, args.max_time) for _ in range(args.rounds)]
    print("| round | exit | wall s | TF import s | budget s | wall - (budget + import) s | child s | child peak MB | "
          "outcome | load before | load after |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for i, r in enumerate(rows, 1):
        print(f"| {i} | {r['rc']} | {r['wall_s']:.1f} | {r['tensorflow_import_s']:.1f} | {r['budget_s']:g} | "
              f"{r['over_s']:+.1f} | {r['child_s']} | {r['peak_rss_mb']} | {r['outcome']} | {r['load_before']} | "
              f"{r['load_after']} |")
    for r in rows:
        if r["message"]:
            print(f"\n{r['message']}")
            break
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
