"""What the driver-API child costs (issue 11's targets: under 0.3 s where a GPU exists, nearly nothing without one).

Times, N times each after a warm-up: the child as tfdoctor runs it (`collect_live`: spawn under `python -I -S`, the
child's work, the parent's pipe reading and classification); the bare interpreter start it cannot avoid
(`python -I -S -c pass`); and, from the child's own report, its work alone and cuInit's share. On a machine without
libcuda the child returns right after the failed dlopen; on a GPU machine the numbers include cuInit and the cuDNN
and cuBLAS loads (run there: `python benchmarks/bench_cuda_child.py --runs 10`).

    python benchmarks/bench_cuda_child.py            # 15 runs
    python benchmarks/bench_cuda_child.py --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tfdoctor.probes.cuda_record import collect_live  # noqa: E402


def _stats(values: list[float]) -> dict:
    return {"median_s": round(statistics.median(values), 4), "min_s": round(min(values), 4),
            "max_s": round(max(values), 4)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--python", default=None, help="the interpreter the child runs under (default: this one)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    python = args.python or sys.executable

    collect_live(python, 30)  # warm-up: page cache, libcuda's first load
    wall, work, cuinit, libcuda = [], [], [], None
    for _ in range(args.runs):
        t0 = time.perf_counter()
        rec = collect_live(python, 30)
        wall.append(time.perf_counter() - t0)
        result = rec.get("result") or {}
        work.append(result.get("duration_s") or 0.0)
        cuinit.append(((result.get("init") or {}).get("duration_s")) or 0.0)
        libcuda = (result.get("libcuda") or {}).get("loaded")
    bare = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        subprocess.run([python, "-I", "-S", "-c", "pass"], check=True)
        bare.append(time.perf_counter() - t0)
    out = {
        "python": python, "runs": args.runs, "libcuda_loaded": libcuda,
        "child_as_tfdoctor_runs_it": _stats(wall),
        "bare_interpreter_start": _stats(bare),
        "child_work_alone": _stats(work),
        "cuinit": _stats(cuinit),
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{python}, {args.runs} runs each, libcuda loaded: {libcuda}")
    print(f"{'median':>8} {'min':>8} {'max':>8}  what")
    for key in ("child_as_tfdoctor_runs_it", "bare_interpreter_start", "child_work_alone", "cuinit"):
        s = out[key]
        print(f"{s['median_s']:8.4f} {s['min_s']:8.4f} {s['max_s']:8.4f}  {key.replace('_', ' ')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
