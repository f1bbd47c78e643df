"""Speed of `tfdoctor triage` (issue 12's target: a 1 MB paste triaged in under 0.5 s without importing
TensorFlow), and its answer to hostile pastes (binary, 50 MB, ANSI escapes, one 5 MB line, invalid UTF-8).

The 1 MB pastes are real pastes from the corpus (tests/cases/*/paste.txt) repeated, whole lines, to 1,000,000 bytes:
a TensorFlow log (every line a log line the recognisers and the log analysis read) and a terminal transcript with
prompts, dmesg, lspci and nvidia-smi output.

    python benchmarks/bench_triage.py              # 5 runs each
    python benchmarks/bench_triage.py --runs 10
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_healthcheck import ROOT, time_command  # noqa: E402 - one timing loop for every benchmark

sys.path.insert(0, str(ROOT))

PASTES = {
    "TensorFlow log": ROOT / "tests" / "cases" / "ok-t4-tf24-memory-question" / "paste.txt",
    "terminal transcript": ROOT / "tests" / "cases" / "drv-open-module-teslap4-truenas" / "paste.txt",
}
SIZE = 1_000_000


def repeated(path: Path, size: int = SIZE) -> str:
    """The paste repeated, whole lines, to `size` bytes."""
    text = path.read_text(encoding="utf-8")
    if not text.endswith("\n"):
        text += "\n"
    out = text * (size // len(text.encode("utf-8")) + 1)
    data = out.encode("utf-8")[:size]
    return data[: data.rfind(b"\n") + 1].decode("utf-8")


def time_in_process(text: str, runs: int) -> dict:
    """Median wall time of tfdoctor.triage.triage_text in this process (after one warm-up), split into
    recognising the paste (reading, redaction, segments, snapshot plan) and the diagnosis."""
    from tfdoctor.triage import plan, triage_text
    from tfdoctor.triage.paste import from_text

    triage_text(text)
    total, recognise = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        plan(from_text(text))
        t1 = time.perf_counter()
        triage_text(text)
        t2 = time.perf_counter()
        recognise.append(t1 - t0)
        total.append(t2 - t1)
    return {"median_s": statistics.median(total), "min_s": min(total), "max_s": max(total),
            "recognise_median_s": statistics.median(recognise)}


def hostile(tmp: Path) -> list[tuple[str, Path]]:
    """The hostile pastes of issue 12, written to files."""
    out = []
    p = tmp / "binary.bin"
    p.write_bytes(bytes(range(256)) * 4096 + Path(sys.executable).read_bytes()[:1_000_000])
    out.append(("binary (1 MB of an executable)", p))
    p = tmp / "big.txt"
    with open(p, "wb") as fh:
        chunk = (PASTES["terminal transcript"].read_bytes() + b"\n") * 200
        written = 0
        while written < 50 * 1024 * 1024:
            fh.write(chunk)
            written += len(chunk)
    out.append(("50 MB of text", p))
    p = tmp / "ansi.txt"
    ansi = "".join(f"\x1b[1;3{i % 8}m{line}\x1b[0m\x1b]0;title\x07\n" for i, line in
                   enumerate(repeated(PASTES["terminal transcript"], 300_000).splitlines()))
    p.write_text(ansi, encoding="utf-8")
    out.append(("ANSI escapes around every line", p))
    p = tmp / "longline.txt"
    p.write_bytes(b"NVRM: Xid (" * (5 * 1024 * 1024 // 11))
    out.append(("one 5 MB line", p))
    p = tmp / "invalid-utf8.txt"
    p.write_bytes(PASTES["terminal transcript"].read_bytes().replace(b"NVRM", b"\xff\xfeNV\xc3\x28RM") * 50)
    out.append(("invalid UTF-8", p))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    py = [sys.executable, "-m", "tfdoctor", "triage"]
    print(f"{platform.machine()} {platform.python_version()}, {os.cpu_count()} CPUs; median of {args.runs} runs")
    with tempfile.TemporaryDirectory(prefix="tfdoctor-bench-triage-") as tmp_s:
        tmp = Path(tmp_s)
        # As installed: Python's bytecode cache on (kept in a temporary prefix, the warm-up run writes it), so that
        # each run does not compile tfdoctor's sources again (PYTHONDONTWRITEBYTECODE=1 would make it).
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(PYTHONPATH=str(ROOT), PYTHONPYCACHEPREFIX=str(tmp / "pycache"))
        print(f"\n1 MB pastes ({SIZE:,} bytes)")
        print(f"{'in-process':>11} {'recognise':>10} {'CLI':>8} {'CLI json':>9}  paste")
        for name, src in PASTES.items():
            text = repeated(src)
            f = tmp / (src.parent.name + ".txt")
            f.write_text(text, encoding="utf-8")
            inproc = time_in_process(text, args.runs)
            cli = time_command([*py, str(f)], args.runs, env)
            cli_json = time_command([*py, "--json", str(f)], args.runs, env)
            print(f"{inproc['median_s']:10.3f}s {inproc['recognise_median_s']:9.3f}s {cli['median_s']:7.3f}s "
                  f"{cli_json['median_s']:8.3f}s  {name}: {src.parent.name} x{SIZE // len(src.read_bytes())}")
        assert "tensorflow" not in sys.modules, "triage imported TensorFlow"
        print("TensorFlow imported: no")
        print("\nHostile pastes (fresh process each; CLI wall time, exit status, first line of stderr)")
        for name, f in hostile(tmp):
            r = time_command([*py, str(f)], 1, env)
            import subprocess

            proc = subprocess.run([*py, str(f)], cwd=ROOT, capture_output=True, env=env, timeout=300)
            err = (proc.stderr.decode("utf-8", "replace").strip().splitlines() or [""])[0][:90]
            print(f"{r['median_s']:7.3f}s  rc={proc.returncode}  {name}  {err}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
