"""Compare `tfdoctor bench --device cpu` with a plain Keras `model.fit` timing of the same model and batch.

The plain timing is what a user would write by hand: the same conv-net, compiled with Adam and sparse softmax
cross-entropy, `model.fit` on random NumPy arrays, time per epoch with a callback, first epoch dropped (tracing).
Both run in fresh processes, alternating (keras, tfdoctor, keras, tfdoctor, ...) so that a slow spell of a shared
machine hits both. Also records the wall time of the whole `tfdoctor bench` (TensorFlow import included), the
child's peak memory, and the machine's load average before and after each run (`uptime`'s three figures): a CV or
a wall time measured on a busy machine says more about the machine than about the bench.

Targets (issue 14): images/s at least those of `model.fit` (ratio >= 1), CV <= 3 %, under 20 s wall.

    python benchmarks/bench_vs_keras_fit.py [--rounds 2] [--batch-size 128] [--json results.json]

Prints a Markdown table (pasted into docs/bench.md, ## Measured).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

KERAS_FIT = r"""
import json, statistics, sys, time
import numpy as np
import keras
batch, steps, epochs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
model = keras.Sequential([
    keras.Input(shape=(32, 32, 3)),
    keras.layers.Conv2D(32, 3, activation="relu"),
    keras.layers.MaxPooling2D(),
    keras.layers.Conv2D(64, 3, activation="relu"),
    keras.layers.MaxPooling2D(),
    keras.layers.Flatten(),
    keras.layers.Dense(10),
])
model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
x = np.random.rand(batch * steps, 32, 32, 3).astype("float32")
y = np.random.randint(0, 10, size=(batch * steps,))
times = []
class EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()
    def on_epoch_end(self, epoch, logs=None):
        times.append(time.perf_counter() - self.t0)
model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=[EpochTimer()])
per_epoch = times[1:]  # the first epoch traces the train function
ms = [t / steps * 1000 for t in per_epoch]
print(json.dumps({"epoch_step_ms": ms, "step_ms_median": statistics.median(ms)}))
"""


def load() -> str:
    """The 1, 5 and 15 minute load averages, as `uptime` prints them."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def run_keras_fit(batch: int, steps: int, epochs: int) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-c", KERAS_FIT, str(batch), str(steps), str(epochs)], capture_output=True,
                          text=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"keras fit failed: {proc.stderr[-2000:]}")
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    doc["images_per_second"] = batch * 1000 / doc["step_ms_median"]
    return doc


def run_tfdoctor(batch: int, extra: list[str]) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "tfdoctor", "bench", "--device", "cpu", "--json", "--batch-size",
                           str(batch), *extra], capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"tfdoctor bench failed: {proc.stderr[-2000:]}")
    doc = json.loads(proc.stdout)
    cpu = doc["devices"][0]
    return {**cpu, "wall_s": wall, "peak_rss_mb": doc["child"]["peak_rss_mb"],
            "tensorflow_import_s": doc["child"]["tensorflow_import_s"]}


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=40, help="model.fit steps per epoch")
    p.add_argument("--epochs", type=int, default=8, help="model.fit epochs (the first is dropped)")
    p.add_argument("--json", metavar="FILE", help="also write the raw results here")
    p.add_argument("bench_args", nargs="*", help="extra arguments for tfdoctor bench (after --)")
    args = p.parse_args()
    rows = []
    for i in range(args.rounds):
        load_before = load()
        keras_fit = run_keras_fit(args.batch_size, args.steps, args.epochs)
        bench = run_tfdoctor(args.batch_size, args.bench_args)
        rows.append({"round": i + 1, "keras_fit": keras_fit, "tfdoctor": bench, "load_before": load_before,
                     "load_after": load(), "ratio": bench["images_per_second"] / keras_fit["images_per_second"]})
        print(f"round {i + 1}: keras fit {keras_fit['images_per_second']:.0f} img/s, tfdoctor bench "
              f"{bench['images_per_second']:.0f} img/s (CV {_pct(bench['cv'])}), ratio {rows[-1]['ratio']:.2f}, "
              f"wall {bench['wall_s']:.1f} s, child peak {bench['peak_rss_mb']} MB, load {load_before} -> "
              f"{rows[-1]['load_after']}", file=sys.stderr)
    print("| round | keras fit img/s | tfdoctor bench img/s | ratio | bench CV | windows | bench wall s | "
          "child peak MB | load before | load after |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        b, k = r["tfdoctor"], r["keras_fit"]
        print(f"| {r['round']} | {k['images_per_second']:.0f} | {b['images_per_second']:.0f} | {r['ratio']:.2f} | "
              f"{_pct(b['cv'])} | {b.get('windows')} | {b['wall_s']:.1f} | {b['peak_rss_mb']} | {r['load_before']} | "
              f"{r['load_after']} |")
    print(f"\nmedian ratio {statistics.median(r['ratio'] for r in rows):.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
