"""tfdoctor bench child: time a training step on the CPU and on every GPU, print one JSON document on stdout.

Run by tfdoctor (`tfdoctor.child.runner.run_child`) under the interpreter being examined. Standard library and
TensorFlow only; the window/statistics logic is tfdoctor/bench/stats.py, loaded by path (it is standard-library only
too), so this script works under a Python where tfdoctor is not installed.

Progress goes to stderr as lines starting with PROGRESS_PREFIX followed by a JSON object; stdout carries exactly one
JSON document at the end. Exit 0 when the document was printed, 3 when TensorFlow could not be imported (the document
then says why), 4 on a bad argument.

`--max-time` is a hard limit per device, from its start (model build, warm-up, windows and matmul included). The
window logic does not start work that would end past it; a step that alone outlasts it (ResNet50's first step on a
CPU: tracing and one batch, 20 s and more) is caught by the watchdog thread, which prints the document with what was
measured so far, that device marked over budget, and ends the process: TensorFlow cannot interrupt a running step.
GPUs run before the CPU, so a CPU step that outlasts its budget does not cost the GPU figures.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import os
import sys
import threading
import time
import traceback
from pathlib import Path

PROGRESS_PREFIX = "@tfdoctor-bench "
EXIT_IMPORT = 3
EXIT_USAGE = 4
TICK_S = 1.0  # heartbeat: a progress line at least this often, even inside one long step
# the part of a device's budget kept for the matmul rate (at most --matmul-s)
MATMUL_SHARE = 0.1


def _load_stats():
    """tfdoctor/bench/stats.py, loaded by path: the one implementation of windows and statistics."""
    path = Path(__file__).resolve().parent.parent / "bench" / "stats.py"
    spec = importlib.util.spec_from_file_location("tfdoctor_bench_stats", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up in sys.modules
    spec.loader.exec_module(module)
    return module


_PROGRESS_LOCK = threading.Lock()  # the heartbeat thread writes too: one whole line at a time


def progress(event: str, **fields) -> None:
    """One progress line on stderr for the parent's progress bar."""
    line = PROGRESS_PREFIX + json.dumps({"event": event, **fields}) + "\n"
    with _PROGRESS_LOCK:
        try:
            sys.stderr.write(line)
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
    p.add_argument("--tick-s", type=float, default=TICK_S, help="heartbeat interval of the progress lines")
    return p.parse_args(argv)


class Watch:
    """The device being timed, its hard deadline and its phase; a daemon thread prints a heartbeat progress line
    every `tick_s` and, once the deadline has passed, finishes the run itself (`finish`): TensorFlow cannot stop a
    step from Python, so the process ends with what was measured so far.

    `finish` prints the document exactly once, whoever calls it first (the main thread at the normal end, or the
    watchdog), straight to file descriptor 1 so that it never interleaves with a half-written print.
    """

    def __init__(self, doc: dict, tick_s: float = TICK_S, clock=time.perf_counter):
        self.doc = doc
        self.tick_s = tick_s
        self.clock = clock
        self.lock = threading.Lock()
        self.done = False
        self.results: list[dict] = []
        self.pending: list[dict] = []
        self.target: dict | None = None
        self.out: dict = {}
        self.timing = None
        self.phase = ""
        self.started = 0.0
        self.deadline = math.inf
        self.budget_s = 0.0
        self._timing_json = None

    def start_device(self, target: dict, budget_s: float, timing, timing_json) -> dict:
        """Begin timing `target`: its deadline starts now. Returns the dict its figures are written into."""
        with self.lock:
            self.target = target
            self.pending = [t for t in self.pending if t is not target]
            self.out = {"device": target["device"]}
            self.timing = timing
            self._timing_json = timing_json
            self.started = self.clock()
            self.budget_s = budget_s
            self.deadline = self.started + budget_s
            self.phase = "building the model"
            return self.out

    def set_phase(self, phase: str, **fields) -> None:
        """Name what the device is doing now (for the heartbeat and an over-budget report)."""
        self.phase = phase
        if self.target is not None:
            progress("phase", device=self.target["device"], phase=phase,
                     elapsed_s=round(self.clock() - self.started, 3), budget_s=self.budget_s, **fields)

    def end_device(self, record: dict) -> None:
        """The current device is finished: keep its record."""
        with self.lock:
            self.results.append(record)
            self.target = None
            self.deadline = math.inf

    def over_budget_record(self) -> dict:
        """The current device's record when its deadline passed: what it measured, and where it was."""
        target = self.target or {}
        rec = {**target, **self.out}
        elapsed = self.clock() - self.started
        over = {"budget_s": self.budget_s, "elapsed_s": round(elapsed, 3), "phase": self.phase}
        if self.timing is not None:
            over["warmup_steps"] = self.timing.warmup_steps
            last = self.timing.last_step_s
            over["last_step_s"] = round(last, 4) if isinstance(last, float) and math.isfinite(last) else None
            if "timing" not in rec and self._timing_json is not None:
                self.timing.stopped_by = "over-budget"
                rec["timing"] = self._timing_json(self.timing)
        rec["over_budget"] = over
        return rec

    def finish(self, over_budget: bool = False) -> bool:
        """Print the document (once). With `over_budget`, the current device is recorded as over its budget and the
        devices not reached as not run. Returns False when the document was already printed."""
        with self.lock:
            if self.done:
                return False
            self.done = True
            results = list(self.results)
            if over_budget and self.target is not None:
                current = self.target["device"]
                results.append(self.over_budget_record())
                why = f"not run: the benchmark stopped when {current} ran past its time budget"
                results += [{**t, "not_run": why} for t in self.pending]
        self.doc["devices"] = sorted(results, key=_display_order)
        self.doc["total_s"] = round(self.clock() - self.doc.pop("_started", self.clock()), 3)
        self.doc["ok"] = True
        try:
            data = (json.dumps(self.doc, default=str) + "\n").encode("utf-8")
        except Exception:  # the main thread changed a record while the watchdog wrote it: keep what is plain
            keep = ("device", "kind", "name", "error", "not_run", "over_budget")
            self.doc["devices"] = [{k: r[k] for k in keep if k in r} for r in self.doc["devices"]]
            data = (json.dumps(self.doc, default=str) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(1, view):]
            except InterruptedError:
                continue
            except OSError:
                break
        return True

    def _beat(self) -> None:
        next_tick = self.clock() + self.tick_s
        while True:
            # wake at the next heartbeat or at the deadline, whichever comes first: the limit is kept to the tick
            now = self.clock()
            time.sleep(max(0.0, min(next_tick, self.deadline) - now) + 0.001)
            target = self.target
            if self.done:
                return
            now = self.clock()
            if target is None:
                next_tick = now + self.tick_s
                continue
            if now >= next_tick:
                next_tick = now + self.tick_s
                progress("tick", device=target["device"], phase=self.phase, elapsed_s=round(now - self.started, 3),
                         budget_s=self.budget_s)
            if now >= self.deadline and self.target is target:
                progress("over-budget", device=target["device"], phase=self.phase, budget_s=self.budget_s)
                if self.finish(over_budget=True):
                    with contextlib.suppress(Exception):
                        sys.stderr.flush()
                    os._exit(0)

    def start(self) -> None:
        """Start the heartbeat and watchdog thread (a daemon: it never keeps the process alive)."""
        threading.Thread(target=self._beat, name="tfdoctor-bench-watch", daemon=True).start()


def _display_order(record: dict) -> tuple:
    """The CPU first, then the GPUs by index (the order of the report, whatever order they ran in)."""
    device = str(record.get("device", ""))
    kind = 0 if "CPU" in device.upper() else 1
    try:
        index = int(device.rsplit(":", 1)[-1])
    except ValueError:
        index = 0
    return kind, index


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
    """Dense matrix multiply rate of this device (n x n, the precision's compute dtype), median of short windows,
    all inside `budget_s` (warm-up included).

    n is the largest of 1024..8192 (1024 on a CPU) whose one product the rate of a 1024 x 1024 product says takes at
    most an eighth of the budget: a big GPU needs n = 8192 to come near its peak, a small one must not spend its
    whole budget (or more) on one product.
    """
    started = time.perf_counter()
    cpu = "CPU" in device.upper()

    @tf.function
    def mm(a, b):
        # the sum makes the whole product needed; it adds n^2 FLOPs to the n^3 of the product (left uncounted)
        return tf.reduce_sum(tf.cast(tf.linalg.matmul(a, b), tf.float32))

    def operands(n):
        a = tf.random.uniform((n, n), dtype=tf.float32)
        b = tf.random.uniform((n, n), dtype=tf.float32)
        return tf.cast(a, dtype), tf.cast(b, dtype)

    with tf.device(device):
        n = 1024
        a, b = operands(n)
        float(mm(a, b).numpy())  # traces
        t0 = time.perf_counter()
        float(mm(a, b).numpy())
        probe_s = max(time.perf_counter() - t0, 1e-6)
        if not cpu:
            for size in (8192, 4096, 2048):
                if probe_s * (size / 1024) ** 3 <= budget_s / 8:
                    n = size
                    a, b = operands(n)
                    break
        box = {}

        def run(k):
            for _ in range(k):
                box["v"] = mm(a, b)
            float(box["v"].numpy())  # wait for the device

        policy = stats.WindowPolicy(warmup_steps=1, warmup_s=0.0, window_s=max(budget_s / 6, 0.02), min_windows=3,
                                    min_time_s=budget_s / 3, keep_windows=5, target_cv=0.05, max_time_s=budget_s)
        timing = stats.run_windows(run, policy, started=started)
    kept = timing.kept(policy.keep_windows)
    if not kept:
        return {"n": n, "dtype": dtype.name, "error": f"no matmul window fit in the {budget_s:.1f} s left"}
    summary = stats.summarize(kept)
    seconds = summary.median_ms / 1000.0
    return {"n": n, "dtype": dtype.name, "seconds": seconds, "windows": len(kept),
            "gflops": 2.0 * n ** 3 / seconds / 1e9 if seconds else None}


def timing_json(stats, keep: int):
    """A function that turns a Timing into the `timing` record of the document (also for a partial one)."""

    def convert(timing) -> dict:
        kept = timing.kept(keep)
        summary = stats.summarize(kept)

        def num(v):
            return v if isinstance(v, (int, float)) and math.isfinite(v) else None

        return {
            "warmup_steps": timing.warmup_steps, "warmup_s": round(timing.warmup_s, 4),
            "steps_per_window": timing.steps_per_window, "steps_timed": timing.steps_timed,
            "timed_s": round(timing.timed_s, 4), "stopped_by": timing.stopped_by,
            "window_ms": [round(x * 1000.0, 4) for x in timing.window_s], "kept_windows": len(kept),
            "step_ms_median": num(summary.median_ms), "step_ms_p10": num(summary.p10_ms),
            "step_ms_p90": num(summary.p90_ms), "step_ms_mean": num(summary.mean_ms),
            "cv": num(summary.cv) if len(kept) >= 2 else None,
        }

    return convert


def bench_device(tf, keras, stats, args, target: dict, index: int, count: int, watch: Watch) -> dict:
    """Build the model on the device, time its training step, measure matmul; every figure for the report.

    Everything here counts against the device's `--max-time` (the watch's deadline)."""
    device = target["device"]
    policy_keep = args.keep_windows
    to_json = timing_json(stats, policy_keep)
    timing = stats.Timing()
    out = watch.start_device(target, args.max_time, timing, to_json)
    started = watch.started
    progress("device-start", device=device, index=index, count=count, budget_s=args.max_time)
    watch.set_phase("building the model")
    matmul_s = min(args.matmul_s, MATMUL_SHARE * args.max_time) if args.matmul_s > 0 else 0.0
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

        out["build_s"] = round(time.perf_counter() - started, 3)
        out["layers"] = layer_records(model)
        out["model"] = {"name": args.model, "input_shape": list(shape), "classes": classes}
        policy = stats.WindowPolicy(
            warmup_steps=args.warmup_steps, warmup_s=args.warmup_s, window_s=args.window_s,
            steps_per_window=args.steps, min_windows=args.min_windows, min_time_s=args.min_time,
            keep_windows=policy_keep, target_cv=args.target_cv, max_time_s=args.max_time - matmul_s,
            windows=args.windows)
        watch.set_phase("first step (tracing the training step)")

        said = {"at": -1.0}

        def on_warmup(timing, elapsed):
            # every step's line for the first few (slow: tracing, autotuning), then at most 4 a second (a GPU's
            # warm-up second may be a thousand steps)
            if timing.warmup_steps <= 3 or elapsed - said["at"] >= 0.25:
                said["at"] = elapsed
                watch.set_phase(f"warm-up step {timing.warmup_steps + 1}", step_s=round(timing.last_step_s, 4))
            else:
                watch.phase = f"warm-up step {timing.warmup_steps + 1}"

        def on_window(timing, elapsed):
            kept = timing.kept(policy.keep_windows)
            cv = stats.coefficient_of_variation(kept) if len(kept) >= 2 else None
            watch.phase = f"timing window {len(timing.window_s) + 1}"
            progress("window", device=device, elapsed_s=round(elapsed, 3), budget_s=args.max_time,
                     windows=len(timing.window_s), cv=cv, steps_per_window=timing.steps_per_window)

        timing = stats.run_windows(run_steps, policy, on_window=on_window, started=started, timing=timing,
                                   on_warmup=on_warmup)
    out["timing"] = {**to_json(timing), "last_loss": last.get("value")}
    left = watch.deadline - time.perf_counter()
    if matmul_s > 0 and left >= 0.5 * matmul_s:
        watch.set_phase("matmul rate")
        progress("matmul", device=device)
        compute = {"fp32": tf.float32, "mixed_float16": tf.float16, "mixed_bfloat16": tf.bfloat16}[args.precision]
        try:
            out["matmul"] = matmul_gflops(tf, stats, device, compute, min(left, matmul_s))
        except Exception as exc:  # a dtype this device has no kernel for: the bench figure still stands
            out["matmul"] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    elif matmul_s > 0:
        out["matmul"] = {"error": "no time left in the budget for the matmul rate"}
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
    with contextlib.suppress(Exception):
        # float32 matmuls and convolutions run as TF32 on Ampere and newer while this is on (TensorFlow's default):
        # the peak to compare a GPU's fp32 matmul with is then its TF32 peak
        doc["tensorflow"]["tf32_enabled"] = bool(tf.config.experimental.tensor_float_32_execution_enabled())

    gpus = []
    if args.device in ("gpu", "all"):  # --device cpu: no CUDA initialisation (seconds on a GPU machine)
        progress("phase", phase="looking for GPUs")
        t0 = time.perf_counter()
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
        doc["gpu_discovery_s"] = round(time.perf_counter() - t0, 3)
        doc["gpus"] = gpus
        if not gpus:
            if doc.get("gpu_list_error"):
                doc["gpu_absent_reason"] = f"TensorFlow could not list GPUs ({doc['gpu_list_error'][:200]})"
            elif not doc["tensorflow"].get("cuda_build", True):
                doc["gpu_absent_reason"] = f"this TensorFlow ({tf.__version__}) is built without CUDA support"
            else:
                doc["gpu_absent_reason"] = f"TensorFlow {tf.__version__} is built with CUDA but found no usable GPU"

    # GPUs first: a CPU step that outlasts its budget ends the process (see the module's docstring), and the GPU
    # figures are what a user runs the bench for. The document lists the CPU first whatever the order.
    targets = [{**g, "kind": "gpu"} for g in gpus] if args.device in ("gpu", "all") else []
    if args.device in ("cpu", "all"):
        targets.append({"device": "/CPU:0", "kind": "cpu", "name": cpu_name()})
    doc["settings"] = {"model": args.model, "batch_size": args.batch_size, "precision": args.precision,
                       "jit": args.jit, "device": args.device, "min_time_s": args.min_time,
                       "max_time_s": args.max_time, "target_cv": args.target_cv, "steps": args.steps,
                       "windows": args.windows, "min_windows": args.min_windows}
    doc["_started"] = started
    watch = Watch(doc, tick_s=args.tick_s)
    watch.pending = list(targets)
    watch.start()
    for i, target in enumerate(targets):
        try:
            result = bench_device(tf, keras, stats, args, target, i, len(targets), watch)
        except Exception as exc:  # out of memory, a missing kernel: this device fails, the others still run
            result = {"device": target["device"], "error": f"{type(exc).__name__}: {str(exc)[:1500]}"}
            progress("device-done", device=target["device"], index=i, count=len(targets), error=True)
        watch.end_device({**target, **result})
    watch.finish()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # skip TensorFlow's interpreter teardown (a second or more): the document is written, nothing else is owed
    os._exit(code)
