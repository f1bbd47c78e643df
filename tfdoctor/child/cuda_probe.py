"""Driver-API child probe: what CUDA itself says, without TensorFlow. Run under the interpreter being diagnosed
(`python -I -S cuda_probe.py`); print ONE JSON document on stdout.

Standard library only (ctypes), and written for any Python from 3.6 a user may point tfdoctor at. It loads libcuda.so.1
and calls cuDriverGetVersion, cuInit, cuDeviceGetCount and, per device, its name, compute capability, PCI bus id,
memory and a hash of its UUID (never the UUID itself); every status code is kept as a number and the name the driver
gives it (cuGetErrorName). Then it loads the cuDNN and cuBLAS libraries the way TensorFlow's loader would find them
(LD_LIBRARY_PATH, then the pip `nvidia/*/lib` folders of this interpreter, then the system's loader path) and asks
their versions. It also reads the /dev/nvidia* nodes (mode, group, whether this user may open them).

Cost: when libcuda.so.1 cannot be loaded the child returns at once (a few milliseconds after the interpreter
started); the library loads run beside cuInit in a second thread. tf_probe.py imports this file to record the same
facts from inside the TensorFlow process.

Exit status 0 whenever the JSON was printed; every failure is in the JSON.
"""

import json
import os
import sys
import time

SCHEMA = 1
CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76
MAX_DEVICES = 64
# The libraries TensorFlow asks its loader for, newest major first (tsl dso_loader: libcudnn.so.<major>,
# libcublas.so.<cuda major>, libcublasLt.so.<cuda major>).
CUDNN_SONAMES = ("libcudnn.so.9", "libcudnn.so.8", "libcudnn.so.7")
CUBLAS_SONAMES = ("libcublas.so.13", "libcublas.so.12", "libcublas.so.11")
CUBLASLT_SONAMES = ("libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so.11")
MAPS_PREFIXES = ("libcuda.", "libcudnn.", "libcublas.", "libcublasLt.")


def _ctypes():
    import ctypes

    return ctypes


def load_library(names, first_dirs=(), then_dirs=()):
    """Load the first of `names` found the way TensorFlow's dlopen finds it: LD_LIBRARY_PATH (`first_dirs`), then
    the pip folders (`then_dirs`, TensorFlow's RUNPATH), then the loader's own search. (handle, soname, from, error)."""
    ctypes = _ctypes()
    mode = getattr(ctypes, "RTLD_GLOBAL", 0)
    error = None
    for soname in names:
        for where, dirs in (("LD_LIBRARY_PATH", first_dirs), ("pip", then_dirs)):
            for d in dirs:
                path = os.path.join(d, soname)
                if not os.path.exists(path):
                    continue
                try:
                    return ctypes.CDLL(path, mode=mode), soname, where, None
                except OSError as exc:
                    error = str(exc)
        try:
            return ctypes.CDLL(soname, mode=mode), soname, "system", None
        except OSError as exc:
            error = error or str(exc)
    return None, None, None, error


def mapped_paths():
    """{basename: path} of the CUDA libraries mapped into this process (where the loader really found them)."""
    out = {}
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                parts = line.split(None, 5)
                if len(parts) == 6:
                    path = parts[5].strip()
                    base = os.path.basename(path)
                    if base.startswith(MAPS_PREFIXES):
                        out.setdefault(base, path)
    except OSError:
        pass
    return out


def _path_of(soname, maps):
    """The file a loaded soname came from: its mapped path, with symlinks resolved (libcuda.so.550.54.15)."""
    path = maps.get(soname) or next((p for b, p in maps.items() if b.startswith(soname)), None)
    if path is None:
        return None, None
    try:
        real = os.path.realpath(path)
    except OSError:
        real = path
    return path, real


class Driver:
    """libcuda through ctypes; every call returns (rc, value)."""

    def __init__(self, lib):
        self.lib = lib
        self.ctypes = _ctypes()

    def call(self, name, *args):
        func = getattr(self.lib, name, None)
        if func is None:
            return None
        try:
            return int(func(*args))
        except Exception:  # a foreign call that raised in ctypes (wrong signature): no number
            return None

    def error_name(self, rc):
        """cuGetErrorName / cuGetErrorString for a status code (None where the driver does not say)."""
        if rc is None:
            return None, None
        c = self.ctypes
        out = []
        for fn in ("cuGetErrorName", "cuGetErrorString"):
            ptr = c.c_char_p()
            got = self.call(fn, c.c_int(rc), c.byref(ptr))
            out.append(ptr.value.decode("utf-8", "replace") if got == 0 and ptr.value else None)
        return out[0], out[1]

    def status(self, rc):
        name, text = self.error_name(rc) if rc not in (None, 0) else ("CUDA_SUCCESS" if rc == 0 else None, None)
        return {"rc": rc, "name": name, "message": text}


def _uuid_hash(raw):
    """A stable pseudonym for a GPU UUID: the first 12 hex digits of its SHA-256 (the UUID itself never leaves)."""
    import hashlib

    return hashlib.sha256(bytes(raw)).hexdigest()[:12]


def device_info(drv, index):
    c = drv.ctypes
    dev = c.c_int()
    rc = drv.call("cuDeviceGet", c.byref(dev), c.c_int(index))
    out = {"index": index, "errors": {}}
    if rc != 0:
        out["errors"]["cuDeviceGet"] = rc
        return out
    buf = c.create_string_buffer(256)
    rc = drv.call("cuDeviceGetName", buf, c.c_int(256), dev)
    out["name"] = buf.value.decode("utf-8", "replace") if rc == 0 else None
    if rc != 0:
        out["errors"]["cuDeviceGetName"] = rc
    major, minor = c.c_int(), c.c_int()
    rc1 = drv.call("cuDeviceGetAttribute", c.byref(major), c.c_int(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR), dev)
    rc2 = drv.call("cuDeviceGetAttribute", c.byref(minor), c.c_int(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR), dev)
    out["compute_capability"] = f"{major.value}.{minor.value}" if rc1 == 0 and rc2 == 0 else None
    if rc1 != 0 or rc2 != 0:
        out["errors"]["cuDeviceGetAttribute"] = rc1 or rc2
    bus = c.create_string_buffer(64)
    rc = drv.call("cuDeviceGetPCIBusId", bus, c.c_int(64), dev)
    out["pci_bus_id"] = bus.value.decode("ascii", "replace") if rc == 0 else None
    total = c.c_size_t()
    rc = drv.call("cuDeviceTotalMem_v2", c.byref(total), dev)
    if rc is None:
        rc = drv.call("cuDeviceTotalMem", c.byref(total), dev)
    out["memory_total_mib"] = total.value // (1024 * 1024) if rc == 0 else None
    uuid = (c.c_ubyte * 16)()
    rc = drv.call("cuDeviceGetUuid_v2", c.byref(uuid), dev)
    if rc is None:
        rc = drv.call("cuDeviceGetUuid", c.byref(uuid), dev)
    out["uuid_hash"] = _uuid_hash(uuid) if rc == 0 else None
    if not out["errors"]:
        del out["errors"]
    return out


def load_libcuda(report):
    """dlopen libcuda.so.1 as CUDA programs do; None (and the loader's error in the report) when it is absent."""
    lib, soname, where, error = load_library(("libcuda.so.1",))
    if lib is None:
        report["libcuda"] = {"loaded": False, "error": error}
        return None
    report["libcuda"] = {"loaded": True, "soname": soname, "from": where}
    return Driver(lib)


def driver_api(report, drv):
    """cuDriverGetVersion, cuInit, cuDeviceGetCount and each device, into the report."""
    c = _ctypes()
    version = c.c_int()
    rc = drv.call("cuDriverGetVersion", c.byref(version))
    report["driver_version"] = version.value if rc == 0 else None
    report["driver_version_status"] = drv.status(rc)
    t = time.monotonic()
    rc = drv.call("cuInit", c.c_uint(0))
    report["init"] = drv.status(rc)
    report["init"]["duration_s"] = round(time.monotonic() - t, 4)
    if rc == 0:
        count = c.c_int()
        rc = drv.call("cuDeviceGetCount", c.byref(count))
        report["device_count_status"] = drv.status(rc)
        report["device_count"] = count.value if rc == 0 else None
        report["devices"] = [device_info(drv, i) for i in range(min(count.value, MAX_DEVICES))] if rc == 0 else []


def _version_cudnn(v):
    """cudnnGetVersion(): 90300 -> '9.3.0' (cuDNN 9: major*10000), 8907 -> '8.9.7' (cuDNN <= 8: major*1000)."""
    if not v:
        return None
    if v >= 90000:
        return f"{v // 10000}.{(v % 10000) // 100}.{v % 100}"
    return f"{v // 1000}.{(v % 1000) // 100}.{v % 100}"


def _version_cublaslt(v):
    """cublasLtGetVersion(): 120503 -> '12.5.3' (major*10000 + minor*100 + patch)."""
    if not v:
        return None
    return f"{v // 10000}.{(v % 10000) // 100}.{v % 100}"


def venv_dir():
    """The virtual environment this interpreter runs in, found the way site.py finds it (a pyvenv.cfg beside the
    executable or one folder up): under -S, sys.prefix is the base interpreter's."""
    d = os.path.dirname(sys.executable)
    for p in (d, os.path.dirname(d)):
        if os.path.isfile(os.path.join(p, "pyvenv.cfg")):
            return p
    return None


def _includes_system_site(venv):
    try:
        with open(os.path.join(venv, "pyvenv.cfg")) as fh:
            for line in fh:
                key, _, value = line.partition("=")
                if key.strip() == "include-system-site-packages":
                    return value.strip().lower() == "true"
    except OSError:
        pass
    return False


def site_package_dirs():
    """Where this interpreter imports installed packages from, in import order: a venv's site-packages first, then
    (outside a venv, or with its system packages included) the interpreter's and the user's, without running `site`
    at start-up."""
    dirs = []
    venv = venv_dir()
    if venv is not None:
        for lib in ("lib", "lib64"):
            try:
                names = sorted(os.listdir(os.path.join(venv, lib)))
            except OSError:
                continue
            for name in names:
                sp = os.path.join(venv, lib, name, "site-packages")
                if name.startswith("python") and os.path.isdir(sp) and sp not in dirs:
                    dirs.append(sp)
    if venv is None or _includes_system_site(venv):
        try:
            import site
            import sysconfig

            extra = [sysconfig.get_paths().get(k) for k in ("purelib", "platlib")]
            extra += list(getattr(site, "getsitepackages", lambda: [])()) + [site.getusersitepackages()]
            dirs += [p for p in extra if p]
        except Exception:
            pass
    dirs += [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    out, seen = [], set()
    for d in dirs:
        real = os.path.realpath(d)
        if real not in seen and os.path.isdir(d):  # lib64 is often a link to lib
            seen.add(real)
            out.append(d)
    return out


def interpreter_site():
    """`--site-dirs`: the site folders, the environment's prefix and whether it is a conda environment."""
    prefix = venv_dir() or sys.prefix
    return {"site": site_package_dirs(), "prefix": prefix, "conda": os.path.exists(os.path.join(prefix, "conda-meta"))}


def pip_library_dirs(site_dirs=None):
    """The `nvidia/*/lib` folders of the pip nvidia-*-cuXX wheels (where TensorFlow's RUNPATH points)."""
    out = []
    for sp in site_dirs if site_dirs is not None else site_package_dirs():
        base = os.path.join(sp, "nvidia")
        try:
            names = sorted(os.listdir(base))
        except OSError:
            continue
        for name in names:
            lib = os.path.join(base, name, "lib")
            if os.path.isdir(lib):
                out.append(lib)
    return out


def ld_library_path_dirs():
    return [d for d in (os.environ.get("LD_LIBRARY_PATH") or "").split(":") if d]


def libraries(pip_dirs):
    """cuDNN, cuBLAS and cuBLASLt: which file the loader picks, from where, and the version it reports."""
    c = _ctypes()
    first = ld_library_path_dirs()
    out = {"pip_dirs": pip_dirs}

    def size_t_version(sonames, function, decode):
        # cudnnGetVersion / cublasLtGetVersion: a size_t encoding of the version
        lib, soname, where, error = load_library(sonames, first, pip_dirs)
        entry = {"soname": soname, "from": where, "error": error if lib is None else None}
        if lib is not None and hasattr(lib, function):
            getattr(lib, function).restype = c.c_size_t
            try:
                raw = int(getattr(lib, function)())
                entry.update(raw=raw, version=decode(raw))
            except Exception as exc:
                entry["error"] = f"{function}: {exc}"
        return entry

    out["cudnn"] = size_t_version(CUDNN_SONAMES, "cudnnGetVersion", _version_cudnn)
    out["cublasLt"] = size_t_version(CUBLASLT_SONAMES, "cublasLtGetVersion", _version_cublaslt)
    lib, soname, where, error = load_library(CUBLAS_SONAMES, first, pip_dirs)
    entry = {"soname": soname, "from": where, "error": error if lib is None else None}
    if lib is not None and hasattr(lib, "cublasGetProperty"):
        parts = []
        for prop in (0, 1, 2):  # MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL (library_types.h)
            v = c.c_int()
            try:
                rc = int(lib.cublasGetProperty(c.c_int(prop), c.byref(v)))
            except Exception:
                rc = -1
            parts.append(v.value if rc == 0 else None)
        if None not in parts:
            entry["version"] = "{}.{}.{}".format(*parts)
    out["cublas"] = entry
    return out


def device_nodes():
    """/dev/nvidia* nodes: mode, owning group, and whether this process may open them read-write."""
    import stat

    out = {}
    try:
        names = sorted(n for n in os.listdir("/dev") if n.startswith("nvidia"))
    except OSError:
        return None
    for name in names[:64]:
        path = "/dev/" + name
        try:
            st = os.stat(path)
        except OSError as exc:
            out[name] = {"error": exc.strerror or str(exc)}
            continue
        if stat.S_ISDIR(st.st_mode):
            continue
        entry = {"mode": f"{stat.S_IMODE(st.st_mode):04o}", "gid": st.st_gid,
                 "rw": os.access(path, os.R_OK | os.W_OK)}
        try:
            import grp

            entry["group"] = grp.getgrgid(st.st_gid).gr_name
        except Exception:
            entry["group"] = None
        out[name] = entry
    return out


def collect(pip_dirs=None, report=None):
    """Everything above into one dict. `pip_dirs` None: find them (only when libcuda loaded: nothing to ask else).
    Without libcuda it returns right after the failed dlopen."""
    t0 = time.monotonic()
    report = report if report is not None else {}
    report["schema"] = SCHEMA
    report["probe"] = "tfdoctor.cuda_probe"
    report["device_nodes"] = device_nodes()
    try:
        report["groups"] = sorted(set(os.getgroups()) | {os.getgid()})
    except OSError:
        report["groups"] = None
    box = {}

    def libs():
        try:
            box["libraries"] = libraries(pip_dirs if pip_dirs is not None else pip_library_dirs())
        except Exception as exc:  # the report so far still goes out
            box["libraries"] = {"error": f"{type(exc).__name__}: {exc}"}

    drv = load_libcuda(report)
    if drv is not None:
        import threading  # only now: without libcuda the child must not pay for it

        # cuInit can take a second on many GPUs without persistence mode: the library loads run meanwhile
        worker = threading.Thread(target=libs)
        worker.daemon = True
        worker.start()
        driver_api(report, drv)
        worker.join()
        report["libraries"] = box.get("libraries")
    maps = mapped_paths()
    for key, soname in (("libcuda", "libcuda.so.1"),):
        if report.get(key, {}).get("loaded"):
            report[key]["path"], report[key]["realpath"] = _path_of(soname, maps)
    for entry in (report.get("libraries") or {}).values():
        if isinstance(entry, dict) and entry.get("soname"):
            entry["path"], entry["realpath"] = _path_of(entry["soname"], maps)
    report["duration_s"] = round(time.monotonic() - t0, 4)
    return report


def main():
    if "--site-dirs" in sys.argv[1:]:
        sys.stdout.write(json.dumps(interpreter_site()) + "\n")
        sys.stdout.flush()
        return
    report = {}
    try:
        collect(report=report)
    except BaseException as exc:  # the report so far still goes out
        report["probe_error"] = f"{type(exc).__name__}: {exc}"
    report.setdefault("schema", SCHEMA)
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()
    # libcuda's own teardown can hang after a failed cuInit on a broken GPU: the report is out, leave now
    os._exit(0)


if __name__ == "__main__":
    main()
