"""Python environments (the pyenv probe over a fake Host with real METADATA files, and the python.* findings),
containers (container.capabilities, container.toolkit, the Kubernetes fix of env.container) and the
TensorFlow-release advisor against the published TensorFlow/CUDA/driver tables (reference/knowledge.md 1.1, 2, 3)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from tests.conftest import FIXTURES, FakeHost
from tfdoctor.checks import Facts
from tfdoctor.checks.advisor import check_tf_for_driver
from tfdoctor.checks.container import check_capabilities, check_toolkit
from tfdoctor.checks.pyenv import (
    check_and_cuda_pins,
    check_conda_cudatoolkit,
    check_framework_conflicts,
    check_ld_library_path,
)
from tfdoctor.knowledge.advisor import newest_tensorflow
from tfdoctor.model import Status
from tfdoctor.probes import ProbeContext, ProbeOptions
from tfdoctor.probes.container_host import parse_cdi_spec, probe_container_host
from tfdoctor.probes.pyenv import probe_pyenv, requires_dist

SITE = "/home/u/.venv/lib/python3.11/site-packages"
TF_METADATA = (FIXTURES / "pyenv" / "tensorflow-2.21.0.METADATA").read_text()
TORCH_METADATA = (FIXTURES / "pyenv" / "torch-2.6.0.METADATA").read_text()
# TensorFlow 2.21.0's [and-cuda] lower bounds (its METADATA): a wheel set that satisfies every pin
TF_WHEELS = {"nvidia_cublas_cu12": "12.5.3.2", "nvidia_cuda_cupti_cu12": "12.5.82", "nvidia_cuda_nvcc_cu12": "12.5.82",
             "nvidia_cuda_nvrtc_cu12": "12.5.82", "nvidia_cuda_runtime_cu12": "12.5.82",
             "nvidia_cudnn_cu12": "9.3.0.75", "nvidia_cufft_cu12": "11.2.3.61", "nvidia_curand_cu12": "10.3.6.82",
             "nvidia_cusolver_cu12": "11.6.3.83", "nvidia_cusparse_cu12": "12.5.1.3", "nvidia_nccl_cu12": "2.27.7",
             "nvidia_nvjitlink_cu12": "12.5.82"}


def env_facts(**variables):
    site = {"site": [SITE], "prefix": variables.pop("prefix", "/home/u/.venv"),
            "conda": bool(variables.pop("conda", False))}
    py = SimpleNamespace(version="3.11.9", executable="/home/u/.venv/bin/python")
    return SimpleNamespace(python=py, variables=variables, container=variables.pop("container_kind", None),
                           dev_nvidia=None, os_id="ubuntu", os_id_like=(), os_version_id="22.04", site=site)


def pyenv(wheels=TF_WHEELS, torch=False, dirs=None, env=None):
    files = {f"{SITE}/tensorflow-2.21.0.dist-info/METADATA": TF_METADATA}
    if torch:
        files[f"{SITE}/torch-2.6.0.dist-info/METADATA"] = TORCH_METADATA
    listing = [f"{n}-{v}.dist-info" for n, v in wheels.items()] + ["tensorflow-2.21.0.dist-info", "numpy-2.1.3.dist-info"]
    if torch:
        listing.append("torch-2.6.0.dist-info")
    env = env or env_facts()
    # what the interpreter answers to `cuda_probe.py --site-dirs` (recorded under the key python-site)
    host = FakeHost(files=files, dirs={SITE: sorted(listing), **(dirs or {})},
                    commands={"python-site": (0, json.dumps(env.site), "")})
    return probe_pyenv(host, ProbeContext(ProbeOptions(), {"env": env})), env


def facts(py, env, **more) -> Facts:
    pci = SimpleNamespace(nvidia_devices=(SimpleNamespace(name="NVIDIA GeForce RTX 4090", compute_capability="8.9"),),
                          source="sysfs")
    return Facts({"pyenv": py, "env": env, "pci": pci, **more})


def test_requires_dist_reads_only_the_nvidia_requirements_of_the_headers():
    reqs = requires_dist(TF_METADATA + "\n\nRequires-Dist: nvidia-fake; in the description, not a header\n")
    assert len(reqs) == 12 and reqs[0] == 'nvidia-cublas-cu12<13.0,>=12.5.3.2; extra == "and-cuda"'


def test_wheels_matching_tensorflows_pins_are_ok():
    py, env = pyenv()
    assert py.dist("tensorflow").version == "2.21.0" and len(py.nvidia_wheels) == 12
    f = check_and_cuda_pins(facts(py, env))
    assert f.status is Status.OK and "12 nvidia-* wheels" in f.summary and "its METADATA" in f.details[0]


def test_torch_replacing_cudnn_breaks_tensorflows_pin_and_is_named():
    wheels = dict(TF_WHEELS, nvidia_cudnn_cu12="9.1.0.70", nvidia_cublas_cu12="12.4.5.8")  # what torch 2.6.0 pins
    py, env = pyenv(wheels, torch=True)
    pins = check_and_cuda_pins(facts(py, env))
    assert pins.status is Status.FAIL
    assert "nvidia-cublas-cu12 12.4.5.8 does not satisfy TensorFlow 2.21.0's pin <13.0,>=12.5.3.2" in pins.summary
    assert pins.fix.commands == ("/home/u/.venv/bin/python -m pip install 'tensorflow[and-cuda]==2.21.*'",)
    assert pins.fix.verify == ("/home/u/.venv/bin/python -m pip check",)
    conflict = check_framework_conflicts(facts(py, env))
    assert conflict.status is Status.FAIL and "TensorFlow 2.21.0 needs nvidia-cublas-cu12" in conflict.summary
    assert conflict.fix.commands[0] == "/home/u/.venv/bin/python -m venv .venv-tensorflow"
    assert conflict.fix.commands[1] == ".venv-tensorflow/bin/python -m pip install 'tensorflow[and-cuda]==2.21.*'"


def test_a_missing_wheel_fails_and_no_wheels_at_all_is_information():
    py, env = pyenv({k: v for k, v in TF_WHEELS.items() if k != "nvidia_cudnn_cu12"})
    f = check_and_cuda_pins(facts(py, env))
    assert f.status is Status.FAIL and "nvidia-cudnn-cu12 is missing" in f.summary
    py, env = pyenv({})
    assert check_and_cuda_pins(facts(py, env)).status is Status.INFO


def test_frameworks_that_agree_pass():
    py, env = pyenv(torch=False)
    assert check_framework_conflicts(facts(py, env)).status is Status.OK


def test_a_cuda_11_folder_on_ld_library_path_shadows_the_pip_wheels():
    # the sonames CUDA 11.8's toolkit installs in /usr/local/cuda-11.8/lib64 (libcusolver.so.11 is also CUDA 12's
    # soname: the loader takes the CUDA 11 one first)
    d = "/usr/local/cuda-11.8/lib64"
    env = env_facts(LD_LIBRARY_PATH=f"{d}:/opt/intel/lib")
    py, env = pyenv(dirs={d: ["libcudart.so.11.0", "libcusolver.so.11", "libcusolver.so.11.4.1.48", "libnvrtc.so.11.2"],
                          "/opt/intel/lib": ["libmkl_core.so.2"]}, env=env)
    f = check_ld_library_path(facts(py, env))
    assert f.status is Status.FAIL and "libcusolver.so.11 (CUDA 11)" in f.summary
    assert f.fix.commands[0] == "export LD_LIBRARY_PATH=/opt/intel/lib"
    ok_env = env_facts()
    py, ok_env = pyenv(env=ok_env)
    assert check_ld_library_path(facts(py, ok_env)).status is Status.OK


def test_conda_cudatoolkit_of_another_cuda_warns_and_fails_when_it_is_on_the_loader_path():
    prefix = "/home/u/miniconda3/envs/tf"
    meta = ["cudatoolkit-11.8.0-h6a678d5_0.json", "cudnn-8.9.2.26-cuda11_0.json", "python-3.11.9-h955ad1f_0.json"]
    env = env_facts(conda=True, prefix=prefix, CONDA_PREFIX=prefix)
    py, env = pyenv(dirs={f"{prefix}/conda-meta": meta}, env=env)
    f = check_conda_cudatoolkit(facts(py, env))
    assert f.status is Status.WARN and "cudatoolkit 11.8.0 is CUDA 11" in f.summary
    assert f.fix.commands[0] == f"conda remove -p {prefix} cudatoolkit cudnn"
    env = env_facts(conda=True, prefix=prefix, CONDA_PREFIX=prefix, LD_LIBRARY_PATH=f"{prefix}/lib")
    py, env = pyenv(dirs={f"{prefix}/conda-meta": meta, f"{prefix}/lib": ["libcudart.so.11.0"]}, env=env)
    assert check_conda_cudatoolkit(facts(py, env)).status is Status.FAIL


# -- containers -------------------------------------------------------------------------------------------------


def container_facts(caps=None, kind="docker", **more):
    variables = {"NVIDIA_DRIVER_CAPABILITIES": caps} if caps is not None else {}
    env = SimpleNamespace(container=kind, variables=variables, dev_nvidia=("nvidia0", "nvidiactl"), os_id="ubuntu",
                          os_id_like=(), python=None)
    return Facts({"env": env, **more})


def test_capabilities_without_compute_fail_and_with_compute_pass():
    # NVIDIA's documented values; "utility" alone mounts nvidia-smi/NVML but no libcuda (the cause in
    # https://github.com/AbdBarho/stable-diffusion-webui-docker/issues/348, fixed by compute,utility)
    f = check_capabilities(container_facts("utility"))
    assert f.status is Status.FAIL and "lacks `compute`" in f.summary
    assert "-e NVIDIA_DRIVER_CAPABILITIES=compute,utility" in f.fix.commands[0]
    assert check_capabilities(container_facts("compute,utility")).status is Status.OK
    assert check_capabilities(container_facts("all")).status is Status.OK
    assert check_capabilities(container_facts(None)).status is Status.OK
    assert check_capabilities(container_facts(None, kind=None)).status is Status.SKIP


DAEMON_JSON = ('{\n"default-runtime": "nvidia",\n"runtimes": {\n"nvidia": {\n"path": '
               '"/usr/bin/nvidia-container-runtime",\n"runtimeArgs": []\n}\n}\n}')  # a public gist (jacobschwan)
CDI_SPEC = """---
cdiVersion: 0.5.0
kind: nvidia.com/gpu
devices:
- name: all
containerEdits:
  mounts:
  - hostPath: /usr/lib/x86_64-linux-gnu/libcuda.so.535.104.05
    containerPath: /usr/lib/x86_64-linux-gnu/libcuda.so.535.104.05
"""  # the shape `nvidia-ctk cdi generate` writes (NVIDIA's CDI support docs)


def host_facts(files, exists, driver="550.54.15"):
    host = FakeHost(files=files, dirs={"/etc/cdi": [p.rsplit("/", 1)[1] for p in files if p.startswith("/etc/cdi/")]})
    host.exists = lambda p: p in exists or p in files
    ch = probe_container_host(host, ProbeContext(ProbeOptions()))
    env = SimpleNamespace(container=None, variables={}, os_id="ubuntu", os_id_like=(), dev_nvidia=("nvidia0",))
    pci = SimpleNamespace(nvidia_devices=(SimpleNamespace(name="NVIDIA GeForce RTX 4090"),), source="sysfs")
    d = SimpleNamespace(loaded_driver_version=driver)
    return Facts({"env": env, "container_host": ch, "pci": pci, "driver": d, "nvml": None})


def test_docker_without_the_toolkit_is_told_how_to_install_it():
    f = check_toolkit(host_facts({}, {"/usr/bin/docker"}))
    assert f.status is Status.INFO and "the NVIDIA Container Toolkit is not" in f.summary
    assert f.fix.commands[:2] == ("sudo apt install nvidia-container-toolkit",
                                  "sudo nvidia-ctk runtime configure --runtime=docker")


def test_a_registered_runtime_is_ok_and_a_stale_cdi_spec_fails():
    files = {"/etc/docker/daemon.json": DAEMON_JSON}
    tk = {"/usr/bin/docker", "/usr/bin/nvidia-ctk", "/usr/bin/nvidia-container-runtime"}
    f = check_toolkit(host_facts(files, tk))
    assert f.status is Status.OK and "default-runtime nvidia" in f.details[1]
    stale = check_toolkit(host_facts({**files, "/etc/cdi/nvidia.yaml": CDI_SPEC}, tk | {"/usr/bin/podman"}))
    assert stale.status is Status.FAIL and "535.104.05" in stale.summary and "550.54.15" in stale.summary
    assert stale.fix.commands == ("sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml",)


def test_podman_without_a_cdi_spec_warns_and_a_broken_daemon_json_fails():
    tk = {"/usr/bin/podman", "/usr/bin/nvidia-ctk"}
    assert check_toolkit(host_facts({}, tk)).status is Status.WARN
    broken = check_toolkit(host_facts({"/etc/docker/daemon.json": '{"runtimes": {'}, {"/usr/bin/docker"}))
    assert broken.status is Status.FAIL and "not valid JSON" in broken.summary
    missing = check_toolkit(host_facts({"/etc/docker/daemon.json": '{"default-runtime": "nvidia"}'},
                                       {"/usr/bin/docker", "/usr/bin/nvidia-ctk"}))
    assert missing.status is Status.FAIL and "default-runtime is `nvidia`" in missing.summary


def test_cdi_specs_name_their_driver():
    spec = parse_cdi_spec("/etc/cdi/nvidia.yaml", CDI_SPEC)
    assert spec.nvidia and spec.driver_version == "535.104.05"


def test_a_kubernetes_pod_without_a_gpu_is_told_to_request_one():
    from tfdoctor.checks.system import _gpu_access_fix

    env = SimpleNamespace(container="kubernetes", variables={"KUBERNETES_SERVICE_HOST": "10.0.0.1"})
    fix = _gpu_access_fix(SimpleNamespace(env=env))
    assert "nvidia.com/gpu: 1" in fix.summary and fix.verify == ("nvidia-smi -L", "ls -l /dev/nvidia*")
    docker = _gpu_access_fix(SimpleNamespace(env=SimpleNamespace(container="docker", variables={})))
    assert "--gpus all" in " ".join((docker.summary, *docker.commands, *docker.verify))


# -- the TensorFlow-release advisor ------------------------------------------------------------------------------


@pytest.mark.parametrize(("driver", "ccs", "python", "expected"), [
    # a Kepler K80 on its last branch (470): CUDA 12 needs 525, so TF 2.14 (CUDA 11.8, sm_35/sm_37 kernels)
    ("470.239.06", ["3.7"], "3.10", "2.14"),
    # driver exactly at CUDA 12's minor-version floor, a Pascal GPU: the newest release
    ("525.60.13", ["6.1"], "3.11", "2.21"),
    # CUDA 10.1's driver and a Turing GPU under Python 3.8: TF 2.3
    ("418.39", ["7.5"], "3.8", "2.3"),
    # Blackwell (12.0) runs TF 2.21 only through PTX JIT, which needs CUDA 12.5's own driver (555.42.02): with 550
    # the newest is 2.17 (CUDA 12.3, driver 545.23.06)
    ("550.54.15", ["12.0"], "3.12", "2.17"),
    ("570.124.06", ["12.0"], "3.12", "2.21"),
    # Maxwell 5.2 on a current driver: 2.16 is the last with sm_50 kernels
    ("580.95.05", ["5.2"], "3.12", "2.16"),
    # Python 3.9 excludes 2.21
    ("535.104.05", ["8.0"], "3.9", "2.20"),
])
def test_the_newest_release_for_a_driver_gpu_and_python(driver, ccs, python, expected):
    advice = newest_tensorflow(driver, ccs, python)
    assert advice.build is not None and advice.build.version == expected


def test_no_release_runs_a_fermi_gpu_and_every_newer_release_says_why():
    advice = newest_tensorflow("390.157", ["2.1"], None)
    assert advice.build is None
    assert advice.passed_over[0] == ("2.21", "its CUDA 12.5 needs driver 525.60.13 or newer")


def advisor_facts(driver, cc, installed=None, python="3.10.12"):
    nvml = SimpleNamespace(gpus=(SimpleNamespace(name="Tesla K80", compute_capability=cc),), driver_version=driver)
    env = SimpleNamespace(python=SimpleNamespace(version=python, executable="/usr/bin/python3"))
    py = SimpleNamespace(dist=lambda n: SimpleNamespace(version=installed) if installed and n == "tensorflow" else None)
    return Facts({"nvml": nvml, "driver": SimpleNamespace(loaded_driver_version=driver), "env": env, "pyenv": py})


def test_the_advisor_names_the_release_and_its_pinned_install_line():
    f = check_tf_for_driver(advisor_facts("470.239.06", "3.7", installed="2.21.0"))
    assert f.status is Status.WARN and "2.21.0 does not run" in f.summary and "2.14 is the newest" in f.summary
    assert f.fix.commands == ("/usr/bin/python3 -m pip install 'tensorflow[and-cuda]==2.14.*'",)
    assert "driver 470.239.06" in f.fix.summary
    ok = check_tf_for_driver(advisor_facts("470.239.06", "3.7", installed="2.14.1"))
    assert ok.status is Status.OK
    fresh = check_tf_for_driver(advisor_facts("470.239.06", "3.7"))
    assert fresh.status is Status.INFO and fresh.fix.commands[0].endswith("'tensorflow[and-cuda]==2.14.*'")
    old = check_tf_for_driver(advisor_facts("418.39", "3.7", python="3.7.17"))
    assert old.status is Status.INFO and "no [and-cuda] extra" in " ".join(old.details)
    assert old.fix.commands == ("/usr/bin/python3 -m pip install 'tensorflow==2.3.*'",)


def test_the_interpreter_names_its_venv_site_packages_without_site(tmp_path):
    """-I -S hides a venv from sys.prefix: the child finds it by its pyvenv.cfg, as site.py would."""
    import subprocess
    import sys

    from tfdoctor.child.runner import child_script

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    out = subprocess.run([str(venv / "bin" / "python"), "-I", "-S", child_script("cuda_probe.py"), "--site-dirs"],
                         capture_output=True, text=True, check=True).stdout
    answer = json.loads(out)
    assert answer["prefix"] == str(venv) and answer["conda"] is False
    assert answer["site"] == [str(venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" /
                                  "site-packages")]


def test_a_pod_without_device_nodes_on_a_gpu_node_gets_the_pod_spec_fix():
    from tfdoctor.checks.system import check_container

    env = SimpleNamespace(container="kubernetes", variables={"KUBERNETES_SERVICE_HOST": "10.96.0.1"}, dev_nvidia=(),
                          container_evidence=("/proc/1/cgroup mentions kubepods", "KUBERNETES_SERVICE_HOST is set"))
    pci = SimpleNamespace(nvidia_devices=(SimpleNamespace(name="NVIDIA A10"),), source="sysfs")
    f = check_container(Facts({"env": env, "pci": pci, "driver": None, "nvml": None}))
    assert f.status is Status.WARN and "did not request a GPU" in f.summary
    assert "nvidia.com/gpu: 1" in f.fix.summary
    strict = check_container(Facts({"env": env, "pci": pci, "driver": None, "nvml": None}, require_gpu=True))
    assert strict.status is Status.FAIL
