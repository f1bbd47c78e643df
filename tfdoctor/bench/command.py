"""`tfdoctor bench`: time a conv-net training step on the CPU and on every GPU, honestly.

TensorFlow runs in a child process (tfdoctor/child/tf_bench.py, crash-isolated like the probe). This module parses
the options, starts the child with a progress bar, samples NVML while a GPU is busy, and prints the result.
Nothing heavy is imported at module level.
"""

from __future__ import annotations

import enum
import json
import sys
import threading
import time

import typer

from tfdoctor.bench.causes import _num

# 0: something was measured; 1: nothing could be measured, or a device asked for by name is absent (--device gpu
# without a usable GPU), like a CLI whose target is missing; 2: a usage error (typer's own code)
EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
PROGRESS_PREFIX = "@tfdoctor-bench "  # the child's progress lines on stderr (tf_bench.PROGRESS_PREFIX)
# TensorFlow's INFO and WARNING lines are not the benchmark's business; errors still reach the kept stderr
BENCH_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}


class ModelName(str, enum.Enum):
    convnet = "convnet"
    resnet50 = "resnet50"


class Precision(str, enum.Enum):
    fp32 = "fp32"
    mixed_float16 = "mixed_float16"
    mixed_bfloat16 = "mixed_bfloat16"


class DeviceChoice(str, enum.Enum):
    cpu = "cpu"
    gpu = "gpu"
    all = "all"


def _die(message: str, code: int = EXIT_USAGE):
    print(f"tfdoctor bench: {message}", file=sys.stderr)
    raise typer.Exit(code)


def child_args(*, model: str, batch_size: int, precision: str, jit: bool, device: str, min_time: float,
               max_time: float, steps: int | None, windows: int | None, warmup: int, matmul_s: float) -> list[str]:
    """The bench child's command line for these settings."""
    args = ["--model", model, "--batch-size", str(batch_size), "--precision", precision, "--device", device,
            "--min-time", str(min_time), "--max-time", str(max_time), "--warmup-steps", str(warmup),
            "--matmul-s", str(matmul_s)]
    if jit:
        args.append("--jit")
    if steps:
        args += ["--steps", str(steps)]
    if windows:
        args += ["--windows", str(windows)]
    if warmup < 3:  # a short run asked for few warm-up steps: do not insist on a warm-up second either
        args += ["--warmup-s", "0"]
    return args


def parse_progress(line: str) -> dict | None:
    """The child's progress event on a stderr line, or None for any other line (TensorFlow's log)."""
    if not line.startswith(PROGRESS_PREFIX):
        return None
    try:
        event = json.loads(line[len(PROGRESS_PREFIX):])
    except ValueError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("event"), str) else None


def match_nvml_gpu(nvml_facts, tf_device: str, tf_name: str | None):
    """The NVML GPU behind TensorFlow's `tf_device` ("/GPU:1"): the same index when the names agree, else the one
    GPU of that name; None when it cannot be told (CUDA may order GPUs differently from NVML)."""
    gpus = list(getattr(nvml_facts, "gpus", None) or ())
    try:
        index = int(tf_device.rsplit(":", 1)[-1])
    except ValueError:
        return None

    def same(g):
        # nvidia-smi shortens long names with "..." ("Tesla P100-SXM2..."): compare what is left
        name = (g.name or "").removesuffix("...")
        return bool(tf_name and name and (name in tf_name or tf_name in name))

    if 0 <= index < len(gpus) and (same(gpus[index]) or not tf_name):
        return gpus[index]
    named = [g for g in gpus if same(g)]
    return named[0] if len(named) == 1 else None


class NvmlSampler:
    """Reads NVML once per GPU while that GPU is being timed (an idle GPU drops its PCIe link speed and reports
    'idle' as its throttle reason, so facts read afterwards would mislead). `collect()` returns NvmlFacts."""

    def __init__(self, collect, names: dict | None = None):
        self._collect = collect
        self._names = names or {}
        self._threads: list[threading.Thread] = []
        self.samples: dict = {}
        self._lock = threading.Lock()

    def on_event(self, event: dict) -> None:
        device = str(event.get("device") or "")
        if event.get("event") == "gpu-name":
            self._names[device] = event.get("name")
            return
        if event.get("event") != "window" or "GPU" not in device.upper() or (event.get("windows") or 0) < 2:
            return
        with self._lock:
            if device in self.samples:
                return
            self.samples[device] = None

        def work():
            try:
                facts = self._collect()
                self.samples[device] = match_nvml_gpu(facts, device, self._names.get(device))
            except Exception:
                self.samples[device] = None

        t = threading.Thread(target=work, daemon=True)
        t.start()
        self._threads.append(t)

    def wait(self, timeout: float = 15.0) -> dict:
        for t in self._threads:
            t.join(timeout)
        return {k: v for k, v in self.samples.items() if v is not None}


def collect_nvml_live():
    """NVML facts of this machine, through the nvml probe and a LiveHost (bounded by the probe's own timeouts)."""
    from tfdoctor.host import LiveHost
    from tfdoctor.probes import ProbeContext, ProbeOptions
    from tfdoctor.probes.nvml import probe_nvml

    return probe_nvml(LiveHost(), ProbeContext(ProbeOptions(no_tf=True)))


class ProgressState:
    """What the progress line says, from the child's events and the parent's own clock.

    The child reports phases (TensorFlow imported, a device started with its budget, building the model, the first
    step, warm-up steps, windows, matmul) and a heartbeat; between two events the elapsed time and the bar still move,
    because `line(now)` computes them from `now`, the parent's monotonic clock at display time."""

    def __init__(self, started: float):
        self.started = started
        self.device: str | None = None
        self.device_started = started
        self.budget_s: float | None = None
        self.index, self.count = 0, 1
        self.phase = "importing TensorFlow"
        self.cv: float | None = None

    def on_event(self, ev: dict, now: float) -> None:
        kind = ev.get("event")
        if kind == "imported":
            self.phase = "looking for devices"
        elif kind == "device-start":
            self.device = str(ev.get("device") or "")
            self.device_started = now
            self.budget_s = _num(ev.get("budget_s"))
            self.count = max(int(_num(ev.get("count")) or 1), 1)
            self.index = int(_num(ev.get("index")) or 0)
            self.phase, self.cv = "building the model", None
        elif kind in ("phase", "tick") and ev.get("phase"):
            if ev.get("device") in (None, self.device):
                self.phase = str(ev["phase"])[:80]
        elif kind == "window":
            n = int(_num(ev.get("windows")) or 0)
            self.phase = f"timing window {n + 1}" if n else "timing"
            cv = ev.get("cv")
            self.cv = float(cv) if isinstance(cv, (int, float)) and not isinstance(cv, bool) else None
        elif kind == "matmul":
            self.phase = "matmul rate"
        elif kind == "over-budget":
            self.phase = "over its time budget: stopping"
        elif kind == "device-done":
            self.index = min(self.index + 1, self.count)

    def line(self, now: float) -> tuple[str, float]:
        """(the description, the fraction of the whole run done) at `now`."""
        if self.device is None:
            return f"{self.phase} {now - self.started:.1f} s", 0.0
        elapsed = max(0.0, now - self.device_started)
        label = self.device.strip("/").replace(":", " ")
        cv = f", CV {self.cv:.1%}" if self.cv is not None else ""
        if self.budget_s:
            frac = min(1.0, elapsed / self.budget_s)
            text = f"{label}: {self.phase}{cv} {elapsed:.0f}/{self.budget_s:.0f} s"
        else:
            frac, text = 0.0, f"{label}: {self.phase}{cv} {elapsed:.0f} s"
        return text, min(1.0, (self.index + frac) / self.count)


class _Progress:
    """A progress line on stderr (only on a terminal). rich redraws it ten times a second from `ProgressState` and
    the monotonic clock, so it keeps moving inside a 20-second first step."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.state = ProgressState(time.monotonic())
        self._live = None

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.live import Live

            state = self.state

            class _Line:
                def __rich__(self):
                    from rich.progress_bar import ProgressBar
                    from rich.table import Table

                    text, frac = state.line(time.monotonic())
                    grid = Table.grid(padding=(0, 1))
                    grid.add_row(ProgressBar(total=1.0, completed=frac, width=20), text)
                    return grid

            self._live = Live(_Line(), console=Console(stderr=True), transient=True, refresh_per_second=10)
            self._live.__enter__()
        return self

    def __exit__(self, *exc):
        if self._live is not None:
            self._live.__exit__(*exc)

    def on_event(self, ev: dict) -> None:
        self.state.on_event(ev, time.monotonic())


def no_gpu_line(run, device: str) -> str | None:
    """One line when a GPU was wanted and none was benchmarked: why, and where to look."""
    if device == "cpu" or any(g.error is None for g in run.gpus):
        return None
    if run.gpus:
        return "No GPU was benchmarked: every GPU failed (see the warnings). Run `tfdoctor check` to see why."
    reason = run.gpu_absent_reason or "TensorFlow found no GPU"
    return f"No GPU was benchmarked: {reason}. Run `tfdoctor check` to see why."


def bench(
    model: ModelName = typer.Option(ModelName.convnet, "--model",
                                    help="convnet: 2 conv + 1 dense on 32x32x3 (default); resnet50: Keras ResNet50 "
                                         "on 224x224x3, random weights (nothing downloaded)."),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1,
                                          help="Images per step (default 128 for convnet, 64 for resnet50)."),
    precision: Precision = typer.Option(Precision.fp32, "--precision", help="Keras dtype policy."),
    jit: bool = typer.Option(False, "--jit", help="Compile the training step with XLA (jit_compile=True)."),
    device: DeviceChoice = typer.Option(DeviceChoice.all, "--device", help="Which devices to benchmark."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
    python: str | None = typer.Option(None, "--python", metavar="PATH",
                                      help="Run TensorFlow in this interpreter (e.g. a project's .venv/bin/python)."),
    require_gpu: bool = typer.Option(False, "--require-gpu", help="Exit 1 when no GPU was benchmarked."),
    verbose: bool = typer.Option(False, "-v", "--verbose",
                                 help="Also print the model layer by layer (shape, parameters, FLOPs) and timing."),
    max_time: float = typer.Option(15.0, "--max-time", metavar="SECONDS", min=0.1,
                                   help="Hard time budget per device: model build, warm-up, timed windows and matmul."),
    min_time: float = typer.Option(3.0, "--min-time", metavar="SECONDS", min=0.0,
                                   help="Least timed time per device before the spread may end the run."),
    steps: int | None = typer.Option(None, "--steps", min=1,
                                     help="Steps per timed window (default: about 0.5 s worth)."),
    windows: int | None = typer.Option(None, "--windows", min=1,
                                       help="Exact number of timed windows (default: until the CV is under 3%)."),
    warmup: int = typer.Option(3, "--warmup", min=1, help="Warm-up steps per device (not timed)."),
    timeout: float = typer.Option(300.0, "--timeout", metavar="SECONDS", min=1.0,
                                  help="Kill the benchmark after this long (a hung GPU call)."),
):
    """Time a training step on the CPU and on every GPU: images/s, ms/step, GFLOP/s, speed-up, matmul against the GPU's
    published peak. Exit 0 when something was measured; 1 when nothing was, or --device gpu finds no GPU."""
    if require_gpu and device == DeviceChoice.cpu:
        _die("--require-gpu needs --device gpu or all")
    from tfdoctor.cli import check_seconds

    for value, flag in ((timeout, "--timeout"), (max_time, "--max-time")):
        check_seconds(value, flag, die=_die)  # nan and inf pass typer's min=; they are no time limit
    from tfdoctor.bench.model import DEFAULT_BATCH
    from tfdoctor.bench.outcome import child_failure
    from tfdoctor.bench.results import bench_run, gpu_warnings, to_json
    from tfdoctor.child.runner import child_script, run_child

    batch = batch_size or DEFAULT_BATCH[model.value]
    args = child_args(model=model.value, batch_size=batch, precision=precision.value, jit=jit, device=device.value,
                      min_time=min_time, max_time=max_time, steps=steps, windows=windows, warmup=warmup,
                      matmul_s=1.0)
    sampler = NvmlSampler(collect_nvml_live)
    with _Progress(sys.stderr.isatty()) as bar:
        def on_line(line: str) -> None:
            event = parse_progress(line)
            if event is not None:
                bar.on_event(event)
                sampler.on_event(event)

        res = run_child(python, child_script("tf_bench.py"), args, timeout, env=BENCH_ENV, on_stderr_line=on_line)
    interpreter = python or sys.executable
    why = child_failure(res, interpreter)
    if why:
        if json_out:
            print(json.dumps({"error": why, "ended": res.how, "rc": res.rc, "signal": res.signal_name}, indent=2))
        from tfdoctor.report.sanitize import clean

        print(f"tfdoctor bench: {clean(why, newlines=False)}", file=sys.stderr)
        raise typer.Exit(EXIT_FAIL)
    run = bench_run(res.data, peak_rss_mb=res.peak_rss_mb)
    from tfdoctor.bench.peak import peak_comparisons

    nvml_gpus = sampler.wait()
    peaks = peak_comparisons(run, nvml_gpus)
    warnings = gpu_warnings(run, nvml_gpus, peaks)
    line = no_gpu_line(run, device.value)
    absent = device == DeviceChoice.gpu and not run.gpus  # asked for a GPU by name, and there is none
    if json_out:
        doc = to_json(run, warnings, line, peaks)
        doc["settings"]["python"] = interpreter
        doc["child"] = {"seconds": round(res.duration_s, 2), "tensorflow_import_s": run.import_s,
                        "gpu_discovery_s": _num(res.data.get("gpu_discovery_s")),
                        "peak_rss_mb": round(res.peak_rss_mb, 1) if res.peak_rss_mb else None}
        print(json.dumps(doc, indent=2))
    if absent:
        # one line, no empty table: the device that was asked for is not there
        reason = run.gpu_absent_reason or "TensorFlow found no GPU"
        print(f"tfdoctor bench: no GPU to benchmark: {reason}. Run `tfdoctor check` to see why.", file=sys.stderr)
        raise typer.Exit(EXIT_FAIL)
    if not json_out:
        from tfdoctor.bench.report import render
        from tfdoctor.report import sanitize

        # device names and errors come from the child's output: no terminal escape reaches the console
        render(sanitize.value(run), [sanitize.clean(w) for w in warnings], sanitize.clean(line) if line else None,
               verbose=verbose, peaks=peaks)
    measured = [d for d in run.devices if d.error is None and d.images_per_second]
    if not measured and run.devices:
        raise typer.Exit(EXIT_FAIL)
    if require_gpu and line:
        raise typer.Exit(EXIT_FAIL)
    raise typer.Exit(EXIT_OK)
