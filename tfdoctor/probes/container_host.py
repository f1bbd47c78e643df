"""Container host probe: can containers on this machine get the GPU? The container engines installed (Docker,
Podman), the NVIDIA Container Toolkit's programs, Docker's daemon.json runtimes and default runtime, and the CDI
specs (/etc/cdi, /var/run/cdi) with the driver version their library paths name.

Facts only, read through files and paths (nothing is run: `docker info` may start a daemon or need root).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from tfdoctor import textmatch
from tfdoctor.probes import probe

BIN_DIRS = ("/usr/bin", "/usr/local/bin", "/usr/sbin", "/bin", "/snap/bin")
ENGINES = ("docker", "podman", "nerdctl")
TOOLKIT_PROGRAMS = ("nvidia-ctk", "nvidia-container-cli", "nvidia-container-runtime", "nvidia-container-runtime-hook",
                    "nvidia-container-toolkit")
DOCKER_DAEMON_JSON = "/etc/docker/daemon.json"
CDI_DIRS = ("/etc/cdi", "/var/run/cdi")
MAX_CDI_SPEC = 512 * 1024
# a library path in a CDI spec names the driver it was generated for: .../libcuda.so.550.54.15
_CDI_DRIVER = textmatch.compile(r"libcuda\.so\.(\d{3}\.\d{1,3}(?:\.\d{1,3})?)")


@dataclass(frozen=True)
class CdiSpec:
    path: str
    nvidia: bool  # kind: nvidia.com/gpu
    driver_version: str | None  # the driver whose libraries it mounts


@dataclass(frozen=True)
class ContainerHostFacts:
    engines: tuple[tuple[str, str], ...]  # (engine, path)
    toolkit: tuple[tuple[str, str], ...]  # (program, path)
    docker_config_found: bool
    docker_config_error: str | None = None  # daemon.json exists but is not valid JSON
    docker_runtimes: tuple[str, ...] = ()
    docker_default_runtime: str | None = None
    docker_nvidia_runtime_path: str | None = None
    cdi_specs: tuple[CdiSpec, ...] = ()

    def has(self, program: str) -> bool:
        return any(name == program for name, _ in self.toolkit)


def _find(host, names) -> list[tuple[str, str]]:
    out = []
    for name in names:
        for d in BIN_DIRS:
            path = f"{d}/{name}"
            if host.exists(path):
                out.append((name, path))
                break
    return out


def parse_daemon_json(text: str) -> tuple[dict | None, str | None]:
    """(the parsed object, None) or (None, why it is not one)."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return None, f"{DOCKER_DAEMON_JSON} is not valid JSON ({str(exc)[:200]})"
    if not isinstance(value, dict):
        return None, f"{DOCKER_DAEMON_JSON} is not a JSON object"
    return value, None


def parse_cdi_spec(path: str, text: str) -> CdiSpec:
    """Whether a CDI spec (YAML or JSON) is NVIDIA's, and which driver's libraries it mounts. No YAML parser needed:
    the two facts are plain strings in the file."""
    head = text[:MAX_CDI_SPEC]
    nvidia = "nvidia.com/gpu" in head
    m = _CDI_DRIVER.search(head)
    return CdiSpec(path, nvidia, m.group(1) if m else None)


@probe("container_host", needs=("env",), timeout=10, title="Container engines and the NVIDIA Container Toolkit")
def probe_container_host(host, ctx) -> ContainerHostFacts:
    engines = _find(host, ENGINES)
    toolkit = _find(host, TOOLKIT_PROGRAMS)
    text = host.read(DOCKER_DAEMON_JSON)
    config, error = (parse_daemon_json(text) if text is not None else (None, None))
    runtimes = config.get("runtimes") if isinstance(config, dict) else None
    runtimes = runtimes if isinstance(runtimes, dict) else {}
    nvidia = runtimes.get("nvidia") if isinstance(runtimes.get("nvidia"), dict) else {}
    default = config.get("default-runtime") if isinstance(config, dict) else None
    specs = []
    for d in CDI_DIRS:
        for name in (host.listdir(d) or [])[:64]:
            if name.endswith((".yaml", ".yml", ".json")):
                body = host.read(f"{d}/{name}")
                if body is not None:
                    specs.append(parse_cdi_spec(f"{d}/{name}", body))
    return ContainerHostFacts(
        engines=tuple(engines),
        toolkit=tuple(toolkit),
        docker_config_found=text is not None,
        docker_config_error=error,
        docker_runtimes=tuple(sorted(str(k) for k in runtimes))[:32],
        docker_default_runtime=default if isinstance(default, str) else None,
        docker_nvidia_runtime_path=nvidia.get("path") if isinstance(nvidia.get("path"), str) else None,
        cdi_specs=tuple(specs),
    )
