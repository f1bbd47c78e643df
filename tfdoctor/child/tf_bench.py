"""tfdoctor bench child: time a training step on the CPU and on every GPU, print one JSON document on stdout.

Run by tfdoctor (`tfdoctor.child.runner.run_child`) under the interpreter being examined. Standard library and
TensorFlow only; the window/statistics logic is tfdoctor/bench/stats.py, loaded by path (it is standard-library only
too), so this script works under a Python where tfdoctor is not installed.

Progress goes to stderr as lines starting with PROGRESS_PREFIX followed by a JSON object; stdout carries exactly one
JSON document at the end. Exit 0 when the document was printed, 3 when TensorFlow could not be imported (the document
then says why), 4 on a bad argument.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import os
import sys
import time
import traceback
from pathlib import Path

PROGRESS_PREFIX = "@tfdoctor-bench "
EXIT_IMPORT = 3
EXIT_USAGE = 4


def _load_stats():
    """tfdoctor/bench/stats.py, loaded by path: the one implementation of windows and statistics."""
    path = Path(__file__).resolve().parent.parent / "bench" / "stats.py"
    spec = importlib.util.spec_from_file_location("tfdoctor_bench_stats", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up in sys.modules
    spec.loader.exec_module(module)
    return module


def progress(event: str, **fields) -> None:
    """One progress line on stderr for the parent's progress bar."""
    try:
        sys.stderr.write(PROGRESS_PREFIX + json.dumps({"event": event, **fields}) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def parse_args(argv):
    p = argparse.ArgumentParser(prog="tf_bench.py")
    p.add_argument("--model", choices=("convnet", "resnet50"), default="convnet")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--precision", choices=("fp32", "mixed_float16", "mixed_bfloat16"), default="fp32")
    p.add_argument("--jit", action="store_true")
    p.add_argument("--device", choices=("cpu", "gpu", "all"), default="all")
    p.add_argument("--warmup-steps", type=int, default=3)
    p.add_argument("--warmup-s", type=float, default=1.0)
    p.add_argument("--window-s", type=float, default=0.5)  # as stats.WindowPolicy.window_s
    p.add_argument("--steps", type=int, default=None, help="steps per window (default: about --window-s)")
    p.add_argument("--windows", type=int, default=None, help="exact number of windows (default: until stable)")
    p.add_argument("--min-windows", type=int, default=5)
    p.add_argument("--keep-windows", type=int, default=10)
    p.add_argument("--min-time", type=float, default=3.0)
    p.add_argument("--max-time", type=float, default=15.0)
    p.add_argument("--target-cv", type=float, default=0.03)
    p.add_argument("--matmul-s", type=float, default=1.0, help="time spent measuring matmul GFLOP/s (0: skip)")
    return p.parse_args(argv)


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else the platform's processor string."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name") and ":" in line:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or "CPU"


def build_model(keras, name: str, precision: str):
    """The benchmarked Keras model (weights random, nothing downloaded) and its input shape and class count."""
    keras.mixed_precision.set_dtype_policy("float32" if precision == "fp32" else precision)
    layers = keras.layers
    if name == "resnet50":
        shape, classes = (224, 224, 3), 1000
        # classifier_activation=None: logits, so the loss is the same softmax cross-entropy as the conv-net's
        model = keras.applications.ResNet50(weights=None, input_shape=shape, classes=classes,
                                            classifier_activation=None)
        return model, shape, classes
    shape, classes = (32, 32, 3), 10
    model = keras.Sequential([
        keras.Input(shape=shape),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        # float32 logits even under a mixed policy: the softmax and the loss stay in float32
        layers.Dense(classes, dtype="float32"),
    ])
    return model, shape, classes


def _shape_list(shape):
    return [None if d is None else int(d) for d in tuple(shape)[1:]]


def layer_records(model) -> list[dict]:
    """Each layer's kind, per-image shapes, parameters and the config fields the FLOP formulas need."""
    wanted = ("filters", "kernel_size", "strides", "padding", "activation", "use_bias", "units", "pool_size",
              "groups")
    rows = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        try:
            inp = layer.input
            inputs = inp if isinstance(inp, (list, tuple)) else [inp]
            input_shapes = [_shape_list(t.shape) for t in inputs]
            output_shape = _shape_list(layer.output.shape)
        except Exception:
            input_shapes, output_shape = [], []
        cfg = {}
        try:
            full = layer.get_config()
            cfg = {k: full[k] for k in wanted if k in full and isinstance(full[k], (int, float, str, bool, list,
                                                                                      tuple))}
        except Exception:
            pass
        trainable = sum(int(math.prod(v.shape)) for v in layer.trainable_weights)
        rows.append({"name": layer.name, "kind": kind, "input_shapes": input_shapes, "output_shape": output_shape,
                     "params": int(layer.count_params()), "trainable_params": trainable, "config": cfg})
    return rows


def make_train_step(tf, keras, model, precision: str, jit: bool):
    """A tf.function training step: forward, softmax cross-entropy, gradients, one Adam update; returns the loss."""
    optimizer = keras.optimizers.Adam()
    if precision == "mixed_float16":
        # float16 gradients underflow without loss scaling; Keras's model.fit does the same
        optimizer = keras.mixed_precision.LossScaleOptimizer(optimizer)
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    scaled = precision == "mixed_float16"

    @tf.function(jit_compile=jit)
    def train_step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = loss_fn(y, logits)
            target = optimizer.scale_loss(loss) if scaled else loss
        grads = tape.gradient(target, model.trainable_variables)
        # no zip(strict=): this script also runs under the user's interpreter, which may predate Python 3.10
        optimizer.apply_gradients(zip(grads, model.trainable_variables))  # noqa: B905
        return loss

    return train_step


def matmul_gflops(tf, stats, device: str, dtype, budget_s: float) -> dict:
    """Dense matrix multiply rate of this device (n x n, the precision's compute dtype), median of short windows."""
    n = 1024 if "CPU" in device.upper() else 8192
    with tf.device(device):
        a = tf.random.uniform((n, n), dtype=tf.float32)
        b = tf.random.uniform((n, n), dtype=tf.float32)
        a, b = tf.cast(a, dtype), tf.cast(b, dtype)

        @tf.function
        def mm(a, b):
            # the sum makes the whole product needed; it adds n^2 FLOPs to the n^3 of the product (left uncounted)
            return tf.reduce_sum(tf.cast(tf.linalg.matmul(a, b), tf.float32))

        box = {}

        def run(k):
            for _ in range(k):
                box["v"] = mm(a, b)
            float(box["v"].numpy())  # wait for the device

        policy = stats.WindowPolicy(warmup_steps=1, warmup_s=0.0, window_s=max(budget_s / 5, 0.05), min_windows=3,
                                    min_time_s=budget_s / 2, keep_windows=5, target_cv=0.05, max_time_s=budget_s)
        timing = stats.run_windows(run, policy)
    summary = stats.summarize(timing.kept(policy.keep_windows))
    seconds = summary.median_ms / 1000.0
    return {"n": n, "dtype": dtype.name, "seconds": seconds, "gflops": 2.0 * n ** 3 / seconds / 1e9 if seconds else None}


def bench_device(tf, keras, stats, args, device: str, index: int, count: int) -> dict:
    """Build the model on `device`, time its training step, measure matmul; every figure for the report."""
    out = {"device": device}
    progress("device-start", device=device, index=index, count=count, budget_s=args.max_time)
    t0 = time.perf_counter()
    with tf.device(device):
        model, shape, classes = build_model(keras, args.model, args.precision)
        # inputs made once, on the device: no input pipeline inside the timed region
        x = tf.random.uniform((args.batch_size, *shape), dtype=tf.float32)
        y = tf.random.uniform((args.batch_size,), maxval=classes, dtype=tf.int32)
        train_step = make_train_step(tf, keras, model, args.precision, args.jit)
        last = {}

        def run_steps(k: int) -> None:
            for _ in range(k):
                last["loss"] = train_step(x, y)
            # reading the loss back waits for every queued step on this device: the window ends when the work does
            last["value"] = float(last["loss"].numpy())

        out["build_s"] = round(time.perf_counter() - t0, 3)
        out["layers"] = layer_records(model)
        out["model"] = {"name": args.model, "input_shape": list(shape), "classes": classes}
        policy = stats.WindowPolicy(
            warmup_steps=args.warmup_steps, warmup_s=args.warmup_s, window_s=args.window_s,
            steps_per_window=args.steps, min_windows=args.min_windows, min_time_s=args.min_time,
            keep_windows=args.keep_windows, target_cv=args.target_cv, max_time_s=args.max_time, windows=args.windows)

        def on_window(timing, elapsed):
            kept = timing.kept(policy.keep_windows)
            progress("window", device=device, elapsed_s=round(elapsed, 3), budget_s=args.max_time,
                     windows=len(timing.window_s), cv=stats.coefficient_of_variation(kept) if kept else None)

        timing = stats.run_windows(run_steps, policy, on_window=on_window)
    kept = timing.kept(policy.keep_windows)
    summary = stats.summarize(kept)
    out["timing"] = {
        "warmup_steps": timing.warmup_steps, "warmup_s": round(timing.warmup_s, 4),
        "steps_per_window": timing.steps_per_window, "steps_timed": timing.steps_timed,
        "timed_s": round(timing.timed_s, 4), "stopped_by": timing.stopped_by,
        "window_ms": [round(s * 1000.0, 4) for s in timing.window_s], "kept_windows": len(kept),
        "step_ms_median": summary.median_ms, "step_ms_p10": summary.p10_ms, "step_ms_p90": summary.p90_ms,
        "step_ms_mean": summary.mean_ms, "cv": summary.cv, "last_loss": last.get("value"),
    }
    if args.matmul_s > 0:
        progress("matmul", device=device)
        compute = {"fp32": tf.float32, "mixed_float16": tf.float16, "mixed_bfloat16": tf.bfloat16}[args.precision]
        try:
            out["matmul"] = matmul_gflops(tf, stats, device, compute, args.matmul_s)
        except Exception as exc:  # a dtype this device has no kernel for: the bench figure still stands
            out["matmul"] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    progress("device-done", device=device, index=index, count=count)
    return out


def main(argv=None) -> int:
    try:
        args = parse_args(argv if argv is not None else sys.argv[1:])
    except SystemExit:
        return EXIT_USAGE
    stats = _load_stats()
    started = time.perf_counter()
    doc = {"ok": False, "python": sys.version.split()[0], "executable": sys.executable, "pid": os.getpid()}
    try:
        import tensorflow as tf

        keras = importlib.import_module("keras")  # after TensorFlow: a missing TensorFlow is the error to report
    except BaseException as exc:  # ImportError, or a broken install raising anything at import
        doc.update(stage="import", error_type=type(exc).__name__, error=str(exc)[:2000],
                   traceback=traceback.format_exc()[-4000:])
        print(json.dumps(doc))
        return EXIT_IMPORT
    doc["import_s"] = round(time.perf_counter() - started, 3)
    progress("imported", seconds=doc["import_s"])
    doc["tensorflow"] = {"version": tf.__version__, "keras": getattr(keras, "__version__", None)}
    try:
        doc["tensorflow"]["cuda_build"] = bool(tf.test.is_built_with_cuda())
        build = tf.sysconfig.get_build_info()
        doc["tensorflow"]["cuda_version"] = build.get("cuda_version")
        doc["tensorflow"]["cudnn_version"] = build.get("cudnn_version")
    except Exception:
        pass

    gpus = []
    try:
        physical = tf.config.list_physical_devices("GPU")
        for g in physical:
            # allocate as needed: a benchmark should not take every byte from other users of the GPU
            with contextlib.suppress(Exception):
                tf.config.experimental.set_memory_growth(g, True)
        for i, g in enumerate(physical):
            details = {}
            with contextlib.suppress(Exception):
                details = tf.config.experimental.get_device_details(g) or {}
            cc = details.get("compute_capability")
            gpus.append({"device": f"/GPU:{i}", "physical": g.name, "name": details.get("device_name") or g.name,
                         "compute_capability": list(cc) if cc else None})
            progress("gpu-name", device=gpus[-1]["device"], name=gpus[-1]["name"])
    except Exception as exc:
        doc["gpu_list_error"] = f"{type(exc).__name__}: {exc}"
    doc["gpus"] = gpus
    if not gpus:
        if doc.get("gpu_list_error"):
            doc["gpu_absent_reason"] = f"TensorFlow could not list GPUs ({doc['gpu_list_error'][:200]})"
        elif not doc["tensorflow"].get("cuda_build", True):
            doc["gpu_absent_reason"] = f"this TensorFlow ({tf.__version__}) is built without CUDA support"
        else:
            doc["gpu_absent_reason"] = f"TensorFlow {tf.__version__} is built with CUDA but found no usable GPU"

    targets = []
    if args.device in ("cpu", "all"):
        targets.append({"device": "/CPU:0", "kind": "cpu", "name": cpu_name()})
    if args.device in ("gpu", "all"):
        targets += [{**g, "kind": "gpu"} for g in gpus]
    doc["settings"] = {"model": args.model, "batch_size": args.batch_size, "precision": args.precision,
                       "jit": args.jit, "device": args.device, "min_time_s": args.min_time,
                       "max_time_s": args.max_time, "target_cv": args.target_cv, "steps": args.steps,
                       "windows": args.windows}
    results = []
    for i, target in enumerate(targets):
        try:
            result = bench_device(tf, keras, stats, args, target["device"], i, len(targets))
        except Exception as exc:  # out of memory, a missing kernel: this device fails, the others still run
            result = {"device": target["device"], "error": f"{type(exc).__name__}: {str(exc)[:1500]}"}
            progress("device-done", device=target["device"], index=i, count=len(targets), error=True)
        results.append({**target, **result})
    doc["devices"] = results
    doc["total_s"] = round(time.perf_counter() - started, 3)
    doc["ok"] = True
    print(json.dumps(doc, default=str))
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # skip TensorFlow's interpreter teardown (a second or more): the document is written, nothing else is owed
    os._exit(code)
