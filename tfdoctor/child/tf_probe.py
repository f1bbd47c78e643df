"""TensorFlow child probe: run under the interpreter being diagnosed; print ONE JSON document on stdout.

Standard library and TensorFlow only: this file is executed by whatever Python the user points at (a project's
.venv, a conda env), which has no tfdoctor installed. It records the interpreter first, so that a failed or fatal
`import tensorflow` still leaves a report behind, then imports TensorFlow with stdout redirected to stderr (C++
code prints there; stdout is reserved for the JSON), lists devices, runs a small matmul on every device, reads which
CUDA libraries were really mapped, and tries to load each library the build expects, by soname, where TensorFlow
looks for it. TensorFlow's log goes to stderr, which the parent keeps whole.

Exit status 0 whenever the JSON was printed, even when TensorFlow failed to import: the failure is in the JSON.
"""

import contextlib
import json
import os
import platform
import sys
import time
import traceback

SCHEMA = 1
MARKER = "tfdoctor-child: "  # stderr lines starting with this are for the parent, not part of the log
T0 = time.monotonic()

# Library sonames TensorFlow's dso_loader asks for, by CUDA major (tsl/platform/default/dso_loader.cc:
# GetCudaRuntimeDsoHandle / GetCublasDsoHandle / ... with the versions from cuda_config). The order is the load
# order: a library's dependencies come before it, so loading from the pip folders resolves by soname.
CUDA_LIBRARIES = {
    "11": [
        ("cudart", "libcudart.so.11.0"), ("cublasLt", "libcublasLt.so.11"), ("cublas", "libcublas.so.11"),
        ("cufft", "libcufft.so.10"), ("cusparse", "libcusparse.so.11"), ("cusolver", "libcusolver.so.11"),
        ("cupti", "libcupti.so.11.2"),
    ],
    "12": [
        ("cudart", "libcudart.so.12"), ("nvjitlink", "libnvJitLink.so.12"), ("cublasLt", "libcublasLt.so.12"),
        ("cublas", "libcublas.so.12"), ("cufft", "libcufft.so.11"), ("cusparse", "libcusparse.so.12"),
        ("cusolver", "libcusolver.so.11"), ("cupti", "libcupti.so.12"),
    ],
    "13": [
        ("cudart", "libcudart.so.13"), ("nvjitlink", "libnvJitLink.so.13"), ("cublasLt", "libcublasLt.so.13"),
        ("cublas", "libcublas.so.13"), ("cufft", "libcufft.so.12"), ("cusparse", "libcusparse.so.12"),
        ("cusolver", "libcusolver.so.12"), ("cupti", "libcupti.so.13"),
    ],
}
# Basenames in /proc/self/maps that matter for a GPU diagnosis.
MAPPED_PREFIXES = (
    "libcuda.", "libcudart.", "libcudnn", "libcublas", "libcufft.", "libcusolver.", "libcusparse.", "libcupti.",
    "libnccl.", "libnvJitLink.", "libnvrtc.", "libnvinfer", "libnvidia-ml.", "libnvidia-ptxjitcompiler.",
)
DISTRIBUTION_PREFIXES = ("tensorflow", "tf-nightly", "tf_nightly", "nvidia-", "nvidia_", "keras", "tensorrt")
DISTRIBUTION_NAMES = ("numpy", "protobuf", "ml-dtypes", "ml_dtypes", "h5py", "intel-extension-for-tensorflow")


def interpreter():
    """The interpreter and platform, recorded before TensorFlow can crash the process."""
    info = {
        "executable": sys.executable,
        "version": sys.version.split()[0],
        "version_info": list(sys.version_info[:3]),
        "implementation": platform.python_implementation(),
        "prefix": sys.prefix,
        "base_prefix": getattr(sys, "base_prefix", sys.prefix),
        "virtualenv": getattr(sys, "base_prefix", sys.prefix) != sys.prefix,
        "virtual_env": os.environ.get("VIRTUAL_ENV"),
        "conda_prefix": os.environ.get("CONDA_PREFIX"),
        "system": platform.system(),
        "machine": platform.machine(),
        "release": platform.release(),
    }
    try:
        lib, ver = platform.libc_ver()
        info["libc"] = lib or None
        info["libc_version"] = ver or None
    except Exception:
        info["libc"] = info["libc_version"] = None
    try:  # PEP 668: pip refuses to install into this interpreter (never so inside a virtual environment)
        import sysconfig

        marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
        info["externally_managed"] = not info["virtualenv"] and os.path.isfile(marker)
    except Exception:
        info["externally_managed"] = None
    return info


def distributions():
    """Installed distributions that matter: tensorflow*, nvidia-*-cu1x, numpy, protobuf... {name: version}."""
    out = {}
    try:
        from importlib import metadata
    except ImportError:  # Python < 3.8
        return out
    try:
        for dist in metadata.distributions():
            try:
                name = dist.metadata["Name"]
            except Exception:
                continue
            if not name:
                continue
            low = name.lower()
            if low.startswith(DISTRIBUTION_PREFIXES) or low in DISTRIBUTION_NAMES:
                out.setdefault(low.replace("_", "-"), dist.version)
    except Exception as exc:
        out["__error__"] = f"{type(exc).__name__}: {exc}"
    return out


_CUDA_PROBE = []


def cuda_probe():
    """tfdoctor/child/cuda_probe.py, beside this file, loaded once by path (this child runs under `python -I`, with
    no tfdoctor package to import from): its site-folder and library helpers are the ones both children use."""
    if not _CUDA_PROBE:
        import importlib.util

        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cuda_probe.py")
        spec = importlib.util.spec_from_file_location("tfdoctor_cuda_probe", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _CUDA_PROBE.append(module)
    return _CUDA_PROBE[0]


def pip_library_dirs():
    """The `nvidia/*/lib` folders of the pip `nvidia-*-cu1x` wheels, where TensorFlow's RPATH looks."""
    return cuda_probe().pip_library_dirs()


def mapped_libraries():
    """CUDA-related shared objects really mapped into this process: {basename: path}."""
    out = {}
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                parts = line.split(None, 5)
                if len(parts) < 6:
                    continue
                path = parts[5].strip()
                base = os.path.basename(path)
                if base.startswith(MAPPED_PREFIXES):
                    out.setdefault(base, path)
    except OSError:
        return None
    return out


def try_load(soname, pip_dirs):
    """Load a library by soname the way TensorFlow would: the system search, then the pip nvidia folders."""
    import ctypes

    attempt = {"soname": soname, "loaded": False, "path": None, "error": None, "searched_pip": False}
    try:
        ctypes.CDLL(soname, mode=getattr(ctypes, "RTLD_GLOBAL", 0))
        attempt["loaded"] = True
        attempt["from"] = "system"
        return attempt
    except OSError as exc:
        attempt["error"] = str(exc)
    for d in pip_dirs:
        candidate = os.path.join(d, soname)
        if not os.path.exists(candidate):
            continue
        attempt["searched_pip"] = True
        try:
            ctypes.CDLL(candidate, mode=getattr(ctypes, "RTLD_GLOBAL", 0))
            attempt.update(loaded=True, path=candidate, error=None)
            attempt["from"] = "pip"
            return attempt
        except OSError as exc:
            attempt["error"] = str(exc)
            attempt["path"] = candidate
    attempt["searched_pip"] = bool(pip_dirs)
    return attempt


def expected_libraries(build):
    """[(role, soname)] the build needs: the driver library always, then runtime libraries for its CUDA/cuDNN."""
    out = [("driver", "libcuda.so.1")]
    cuda = str(build.get("cuda_version") or "")
    major = cuda.split(".")[0] if cuda else ""
    out.extend(CUDA_LIBRARIES.get(major, []))
    cudnn = str(build.get("cudnn_version") or "")
    if cudnn:
        out.append(("cudnn", "libcudnn.so." + cudnn.split(".")[0]))
    return out


def library_attempts(build):
    """Try to load each library a CUDA build expects; what loaded, from where, and the dlerror of the rest."""
    pip_dirs = pip_library_dirs()
    attempts = []
    for role, soname in expected_libraries(build):
        a = try_load(soname, pip_dirs)
        a["role"] = role
        attempts.append(a)
    maps = mapped_libraries() or {}
    for a in attempts:
        if a["loaded"] and not a["path"]:
            a["path"] = maps.get(a["soname"]) or next(
                (p for b, p in maps.items() if b.startswith(a["soname"])), None)
    return {"pip_dirs": pip_dirs, "attempts": attempts}


def driver_api():
    """What the CUDA driver API says from inside this process, after TensorFlow initialised CUDA (cuda_probe.py's
    calls: cuInit's status, the devices, the cuDNN/cuBLAS versions the loader finds)."""
    try:
        return cuda_probe().collect(pip_library_dirs())
    except BaseException as exc:  # the rest of the report matters more
        return {"probe_error": f"{type(exc).__name__}: {exc}"}


def jsonable(value):
    """Build info and device details hold tuples, OrderedDicts and numpy scalars: make them JSON."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def matmul_on(tf, device_name):
    """Run [[1,2],[3,4]] @ [[1,2],[3,4]] on one device and check the answer is [[7,10],[15,22]]."""
    start = time.monotonic()
    out = {"device": device_name, "ok": False, "error": None, "placed_on": None}
    try:
        with tf.device(device_name):
            a = tf.constant([[1.0, 2.0], [3.0, 4.0]])
            b = tf.linalg.matmul(a, a)
            values = b.numpy().tolist()
        out["placed_on"] = getattr(b, "device", None)
        out["result"] = values
        out["ok"] = values == [[7.0, 10.0], [15.0, 22.0]]
        if not out["ok"]:
            out["error"] = f"wrong result {values!r}"
    except BaseException as exc:  # a GPU that is listed but cannot run an op
        out["error"] = f"{type(exc).__name__}: {str(exc).strip()[:2000]}"
    out["duration_s"] = round(time.monotonic() - start, 4)
    return out


def import_error(exc):
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    text = "".join(tb)
    return {
        "type": type(exc).__name__,
        "module": getattr(exc, "name", None),
        "message": str(exc)[:4000],
        "traceback": text[-8000:],
    }


def mark(report, step, early=False):
    """Say on stderr which step starts: if TensorFlow kills or hangs the process, the parent still knows where,
    and (early=True) what interpreter and packages it was."""
    report["step"] = step
    line = {"step": step}
    if early:
        line.update(interpreter=report.get("interpreter"), distributions=report.get("distributions"))
    with contextlib.suppress(Exception):
        sys.stderr.write(MARKER + json.dumps(line, default=str) + "\n")
        sys.stderr.flush()


def probe(report):
    """Fill `report` step by step, so that whatever fails leaves the steps before it recorded."""
    report["interpreter"] = interpreter()
    report["distributions"] = distributions()
    mark(report, "import", early=True)
    t = time.monotonic()
    try:
        import tensorflow as tf
    except BaseException as exc:  # ImportError, but also SystemExit or a RuntimeError from a broken numpy
        report["import"] = {"ok": False, "duration_s": round(time.monotonic() - t, 3), "error": import_error(exc)}
        return
    report["import"] = {"ok": True, "duration_s": round(time.monotonic() - t, 3)}
    tf_info = {"version": getattr(tf, "__version__", None), "file": getattr(tf, "__file__", None)}
    tf_info["location"] = os.path.dirname(tf_info["file"]) if tf_info["file"] else None
    with contextlib.suppress(Exception):
        tf_info["git_version"] = tf.version.GIT_VERSION
    report["tensorflow"] = tf_info

    mark(report, "build_info")
    try:
        build = jsonable(dict(tf.sysconfig.get_build_info()))
    except BaseException as exc:
        build = {"error": f"{type(exc).__name__}: {exc}"}
    report["build_info"] = build

    mark(report, "devices")
    t = time.monotonic()
    devices = {"physical": [], "logical": [], "gpu_details": [], "error": None}
    try:
        for d in tf.config.list_physical_devices():
            devices["physical"].append({"name": d.name, "type": d.device_type})
        for d in tf.config.list_physical_devices("GPU"):
            try:
                details = jsonable(tf.config.experimental.get_device_details(d))
            except BaseException as exc:
                details = {"error": f"{type(exc).__name__}: {exc}"}
            details["name"] = d.name
            devices["gpu_details"].append(details)
        for d in tf.config.list_logical_devices():
            devices["logical"].append({"name": d.name, "type": d.device_type})
    except BaseException as exc:
        devices["error"] = f"{type(exc).__name__}: {str(exc)[:2000]}"
    devices["duration_s"] = round(time.monotonic() - t, 3)
    report["devices"] = devices

    mark(report, "matmul")
    runs = []
    for d in devices["logical"]:
        if d["type"] in ("CPU", "GPU") and (d["type"] == "GPU" or not any(r["device"].endswith("CPU:0") for r in runs)):
            runs.append(matmul_on(tf, d["name"]))
    report["matmul"] = runs

    mark(report, "libraries")
    report["mapped_libraries"] = mapped_libraries()
    if build.get("is_cuda_build"):
        report["library_attempts"] = library_attempts(build)

    mark(report, "driver_api")
    report["driver_api"] = driver_api()
    report["step"] = "done"


def main():
    report = {"schema": SCHEMA, "probe": "tfdoctor.tf_probe", "step": "start"}
    # stdout is the parent's channel: anything TensorFlow or its C++ libraries print goes to stderr instead.
    real_stdout = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        probe(report)
    except BaseException as exc:  # the report so far still goes out
        report["probe_error"] = f"{type(exc).__name__}: {exc}"
    report["duration_s"] = round(time.monotonic() - T0, 3)
    data = json.dumps(report, default=str).encode("utf-8")
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    with os.fdopen(real_stdout, "wb") as out:
        out.write(data + b"\n")
        out.flush()
    # TensorFlow's atexit/thread teardown can hang or crash after a broken CUDA init; the report is out, so leave now.
    os._exit(0)


if __name__ == "__main__":
    main()
