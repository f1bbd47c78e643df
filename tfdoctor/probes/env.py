"""Environment probe: OS release, kernel, the target Python and its virtualenv, container and WSL2 markers,
/dev/nvidia* device nodes, and the allow-listed environment variables (CUDA_VISIBLE_DEVICES, LD_LIBRARY_PATH...)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

from tfdoctor import textmatch
from tfdoctor.host import ALLOWED_ENV
from tfdoctor.probes import probe

# Run in the target interpreter with -I -S (no site: it starts in milliseconds): its version, whether it is a
# virtualenv or conda env, and whether pip may install into it (PEP 668). Prints one JSON line.
# Without `site`, sys.prefix of a venv is its base interpreter's (site.py is what reads pyvenv.cfg), so the venv is
# found the way site.py finds it: a pyvenv.cfg beside the executable or one folder up. A venv is never externally
# managed (pip's own rule); otherwise the marker sits in the interpreter's stdlib folder.
PYTHON_INFO = (
    "import json,sys,os,platform,sysconfig;"
    "d=os.path.dirname(sys.executable);"
    "c=[p for p in (d,os.path.dirname(d)) if os.path.isfile(os.path.join(p,'pyvenv.cfg'))];"
    "b=getattr(sys,'base_prefix',sys.prefix);"
    "v=sys.prefix if sys.prefix!=b else (c[0] if c else None);"
    "m=False if v else os.path.isfile(os.path.join(sysconfig.get_path('stdlib'),'EXTERNALLY-MANAGED'));"
    "print(json.dumps({'version':platform.python_version(),'implementation':platform.python_implementation(),"
    "'executable':sys.executable,'prefix':sys.prefix,'base_prefix':b,'venv':v,"
    "'conda':os.path.exists(os.path.join(sys.prefix,'conda-meta')),'machine':platform.machine(),"
    "'externally_managed':m}))"
)


@dataclass(frozen=True)
class PythonInfo:
    version: str
    implementation: str | None
    executable: str | None
    virtualenv: str | None  # the venv prefix, if the interpreter runs in one
    conda: bool
    machine: str | None
    externally_managed: bool | None = None  # PEP 668: pip refuses to install here; None = not asked (old snapshot)


def virtualenv_of(info: dict, activated: str | None = None, conda_prefix: str | None = None) -> str | None:
    """The virtual environment an interpreter runs in, from its python-info answer: what it found itself (a
    pyvenv.cfg; older answers only give prefix != base_prefix), else the activated venv or conda env that the
    executable lies in (VIRTUAL_ENV, CONDA_PREFIX)."""
    venv = info.get("venv")
    if isinstance(venv, str) and venv:
        return venv
    prefix, base = info.get("prefix"), info.get("base_prefix")
    if isinstance(prefix, str) and prefix and prefix != base:
        return prefix
    exe = info.get("executable")
    for env_dir in (activated, conda_prefix):
        if isinstance(exe, str) and env_dir and exe.startswith(env_dir.rstrip("/") + "/"):
            return env_dir
    return None


@dataclass(frozen=True)
class EnvFacts:
    os_id: str | None
    os_id_like: tuple[str, ...]
    os_version_id: str | None
    os_pretty: str | None
    kernel_release: str | None
    proc_version: str | None
    python: PythonInfo | None
    python_error: str | None
    container: str | None  # "docker" | "podman" | "kubernetes" | "containerd" | "lxc" | None
    container_evidence: tuple[str, ...]
    dev_nvidia: tuple[str, ...] | None  # None = /dev could not be listed
    wsl: bool
    wsl_libcuda: bool
    variables: dict[str, str]
    # Whether cgroup v1's device allow-list of this process (/sys/fs/cgroup/devices/devices.list) lets it open the
    # NVIDIA devices, with the deciding line; None where there is no such list (cgroup v2, or not recorded)
    nvidia_device_access: bool | None = None
    nvidia_device_access_line: str = ""
    wsl_evidence: tuple[str, str] | None = None  # (where, the line) that showed WSL; None when not WSL

    @property
    def cuda_visible_devices(self) -> str | None:
        return self.variables.get("CUDA_VISIBLE_DEVICES")


def parse_os_release(text: str) -> dict[str, str]:
    out = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition("=")
        if sep and textmatch.fullmatch(r"[A-Z_]+", key.strip()):
            out[key.strip()] = value.strip().strip('"').strip("'")
    return out


def detect_container(dockerenv: bool, containerenv: bool, cgroup: str, container_var: str | None,
                     k8s: bool) -> tuple[str | None, list[str]]:
    evidence = []
    kind = None
    if dockerenv:
        kind, evidence = "docker", evidence + ["/.dockerenv exists"]
    if containerenv:
        kind = kind or "podman"
        evidence.append("/run/.containerenv exists")
    for pat, name in (("kubepods", "kubernetes"), ("docker", "docker"), ("containerd", "containerd"),
                      ("libpod", "podman"), ("lxc", "lxc")):
        if textmatch.search(rf"\b{pat}\b|/{pat}[-/.]", cgroup or ""):
            kind = kind or name
            evidence.append(f"/proc/1/cgroup mentions {pat}")
            break
    if container_var:
        kind = kind or container_var
        evidence.append(f"container={container_var}")
    if k8s:
        kind = kind or "kubernetes"
        evidence.append("KUBERNETES_SERVICE_HOST is set")
    return kind, evidence


NVIDIA_DEVICE_MAJOR = "195"  # /dev/nvidia0..N and /dev/nvidiactl (Linux's devices.txt; NVIDIA's driver README)


def nvidia_devices_allowed(devices_list: str | None) -> tuple[bool | None, str]:
    """Does a cgroup v1 device allow-list let this process read and write the NVIDIA devices (character major 195)?
    (answer, the deciding line); None when there is no list. `a *:* rwm` is the unrestricted list of a host."""
    if not devices_list or not devices_list.strip():
        return None, ""
    entries = [line.split() for line in devices_list.splitlines()[:4096] if len(line.split()) == 3]
    for kind, node, access in entries:
        major = node.split(":", 1)[0]
        if kind in ("a", "c") and major in ("*", NVIDIA_DEVICE_MAJOR) and "r" in access and "w" in access:
            return True, f"{kind} {node} {access}"
    line = next((" ".join(e) for e in entries if e[1].split(":", 1)[0] == NVIDIA_DEVICE_MAJOR), "")
    return False, line or "no entry allows character devices 195:* (the NVIDIA devices)"


def running_kernel(host) -> str | None:
    """The running kernel's release, as `uname -r` prints it (the driver probe asks too: the Host runs it once)."""
    uname = host.run(["uname", "-r"], timeout=5)
    if uname.ok and uname.stdout.strip():
        return uname.stdout.strip()
    osrel = host.read("/proc/sys/kernel/osrelease")
    if osrel and osrel.strip():
        return osrel.strip()
    m = textmatch.search(r"Linux version (\S+)", host.read("/proc/version") or "")
    return m.group(1) if m else None


@probe("env", timeout=10, title="Environment")
def probe_env(host, ctx) -> EnvFacts:
    osr = parse_os_release(host.read("/etc/os-release") or host.read("/usr/lib/os-release") or "")
    proc_version = host.read("/proc/version")
    kernel = running_kernel(host)

    python = ctx.options.python or sys.executable
    # -I -S: isolated and without site, so the interpreter starts in milliseconds (venv detection needs neither)
    res = host.run([python, "-I", "-S", "-c", PYTHON_INFO], timeout=10, key="python-info")
    py, py_err = None, None
    variables = {name: v for name in ALLOWED_ENV if (v := host.env(name)) is not None}
    if res.ok:
        try:
            d = json.loads(res.stdout.strip().splitlines()[-1])
            if not isinstance(d, dict):
                raise TypeError("not an object")
            venv = virtualenv_of(d, variables.get("VIRTUAL_ENV"), variables.get("CONDA_PREFIX"))
            managed = d.get("externally_managed")
            py = PythonInfo(str(d.get("version")), d.get("implementation"), d.get("executable"), venv,
                            bool(d.get("conda")), d.get("machine"),
                            managed if isinstance(managed, bool) else None)
        except (ValueError, KeyError, IndexError, TypeError):
            py_err = "the interpreter's answer was not understood"
    elif not res.missing or ctx.options.python:
        py_err = res.describe()

    kind, evidence = detect_container(host.exists("/.dockerenv"), host.exists("/run/.containerenv"),
                                      host.read("/proc/1/cgroup") or "", variables.get("container"),
                                      "KUBERNETES_SERVICE_HOST" in variables)
    dev = host.listdir("/dev")
    dev_nvidia = tuple(n for n in dev if n.startswith("nvidia")) if dev is not None else None
    # /proc/version, or the kernel release alone (`uname -r`: 4.4.0-19041-Microsoft under WSL 1,
    # 5.15.153.1-microsoft-standard-WSL2 under WSL 2): Microsoft's kernels name themselves in both
    wsl_evidence = next(((where, v.strip()) for where, v in (("/proc/version", proc_version), ("uname -r", kernel))
                         if v and textmatch.search(r"microsoft|WSL", v, textmatch.IGNORECASE)), None)
    if wsl_evidence is None and "WSL_DISTRO_NAME" in variables:
        wsl_evidence = ("WSL_DISTRO_NAME", "WSL_DISTRO_NAME is set")
    access, access_line = nvidia_devices_allowed(host.read("/sys/fs/cgroup/devices/devices.list"))
    return EnvFacts(
        os_id=osr.get("ID"),
        os_id_like=tuple(osr.get("ID_LIKE", "").split()),
        os_version_id=osr.get("VERSION_ID"),
        os_pretty=osr.get("PRETTY_NAME"),
        kernel_release=kernel,
        proc_version=proc_version.strip() if proc_version else None,
        python=py,
        python_error=py_err,
        container=kind,
        container_evidence=tuple(evidence),
        dev_nvidia=dev_nvidia,
        wsl=wsl_evidence is not None,
        wsl_evidence=wsl_evidence,
        wsl_libcuda=host.exists("/usr/lib/wsl/lib/libcuda.so.1") or host.exists("/usr/lib/wsl/lib/libcuda.so"),
        variables=variables,
        nvidia_device_access=access,
        nvidia_device_access_line=access_line,
    )
