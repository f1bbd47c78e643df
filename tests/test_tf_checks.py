"""tf.* findings from TensorFlow facts, with small stand-ins for the other probes' facts."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

from tfdoctor import catalogue
from tfdoctor.checks import Facts
from tfdoctor.model import Status
from tfdoctor.probes.tensorflow import BuildInfo, ImportFailure, LibraryAttempt, TensorFlowFacts, TfGpu
from tfdoctor.tflog import analyse_log

PY = "/home/u/proj/.venv/bin/python"
BUILD_221 = BuildInfo(True, False, "12.5.1", "9", ("sm_60", "sm_70", "sm_80", "sm_89", "compute_90"))
LIBS_221 = ("libcuda.so.1", "libcudart.so.12", "libcublas.so.12", "libcudnn.so.9")


def tf(**kw) -> TensorFlowFacts:
    base = dict(source="child", python=PY, ended="ok", python_version="3.11.7", python_executable=PY,
                virtualenv=True, system="Linux", machine="x86_64", libc_version="2.35",
                distributions=(("tensorflow", "2.21.0"),), installed=True, imported=True, version="2.21.0",
                location="/home/u/proj/.venv/lib/python3.11/site-packages/tensorflow", build=BUILD_221,
                physical_devices=("CPU:0",), cpu_matmul_ok=True, step="done",
                library_attempts=tuple(LibraryAttempt(s, "x", True, f"/usr/lib/{s}", None, "system")
                                       for s in LIBS_221))
    base.update(kw)
    return TensorFlowFacts(**base)


GPU_3090 = SimpleNamespace(name="NVIDIA GeForce RTX 3090", compute_capability="8.6")
NVML_OK = SimpleNamespace(init_ok=True, driver_version="550.54.14", cuda_driver_version="12.4", gpus=(GPU_3090,))
NVML_FAILED = SimpleNamespace(init_ok=False, driver_version=None, cuda_driver_version=None, gpus=())
PCI_3090 = SimpleNamespace(nvidia_devices=(SimpleNamespace(name="GeForce RTX 3090", compute_capability="8.6",
                                                           architecture="Ampere"),))
PCI_NONE = SimpleNamespace(nvidia_devices=())


def run(fid, tf_facts, require_gpu=False, **others):
    by_probe = {"tensorflow": tf_facts, **others}
    return catalogue.get(fid).func(Facts(by_probe, require_gpu=require_gpu))


def test_not_installed_names_the_newest_tensorflow_for_this_python():
    t = tf(installed=False, imported=False, version=None, build=None, distributions=(),
           import_failure=ImportFailure("not-installed", "ModuleNotFoundError", "No module named 'tensorflow'"))
    f = run("tf.installed", t, pci=PCI_3090)
    assert f.status == Status.FAIL
    assert f.fix.commands[0] == f"{PY} -m pip install 'tensorflow[and-cuda]==2.21.*'"
    (other_env,) = f.fix.alternatives  # TensorFlow may live in another environment
    assert other_env.commands[0].startswith("tfdoctor check --python ")
    assert run("tf.import", t).status == Status.SKIP


def test_not_installed_without_gpu_installs_plain_tensorflow():
    t = tf(installed=False, imported=False, version=None, build=None, distributions=())
    f = run("tf.installed", t, pci=PCI_NONE)
    assert f.fix.commands[0] == f"{PY} -m pip install 'tensorflow==2.21.*'"


def test_python_too_new_for_any_tensorflow():
    t = tf(installed=False, imported=False, version=None, build=None, distributions=(), python_version="3.14.0")
    f = run("tf.installed", t)
    assert f.status == Status.FAIL and "no TensorFlow release supports" in f.summary
    assert run("compat.python", t).status == Status.FAIL


def test_tensorflow_gpu_package_is_flagged_for_replacement():
    t = tf(distributions=(("tensorflow-gpu", "2.10.1"),), version="2.10.1")
    f = run("tf.installed", t)
    assert f.status == Status.WARN
    assert any("uninstall -y tensorflow-gpu" in c for c in f.fix.commands)
    assert any("tensorflow[and-cuda]==" in c for c in f.fix.commands)


def test_sigill_says_no_avx_and_lists_the_cpu_flags():
    t = tf(ended="signal", signal_name="SIGILL", rc=-4, imported=False, version=None, build=None, step="import",
           cpu_flags=frozenset({"sse4_2", "ssse3"}), cpu_model="Intel Celeron N4505")
    f = run("tf.import", t)
    assert f.status == Status.FAIL
    assert "SIGILL" in f.summary and "no AVX" in f.summary
    assert any("CPU flags: sse4_2 ssse3" in d for d in f.details)
    spec = catalogue.get("tf.import")
    assert "cpu.avx" in spec.after


def test_timeout_names_the_step_that_hung():
    t = tf(ended="timeout", imported=True, step="devices", timeout_s=90.0, gpus=())
    f = run("tf.import", t)
    assert f.status == Status.FAIL and "listing devices" in f.summary


def test_garbage_on_stdout_is_a_failure_quoting_it():
    t = tf(ended="garbage", imported=None, stdout_excerpt="hello from sitecustomize\n{...")
    f = run("tf.import", t)
    assert f.status == Status.FAIL and "sitecustomize" in f.details[0]


def test_numpy_abi_mismatch_fix_pins_numpy_1():
    t = tf(imported=False, build=None, version=None, distributions=(("tensorflow", "2.15.0"), ("numpy", "2.1.0")),
           import_failure=ImportFailure("numpy-abi", "ImportError", "numpy.core.multiarray failed to import"))
    f = run("tf.import", t)
    assert f.status == Status.FAIL and "NumPy 2.1.0" in f.summary
    assert f.fix.commands == (f"{PY} -m pip install 'numpy<2'",)


def test_glibc_too_old_quotes_needed_and_present_versions():
    t = tf(imported=False, build=None, version=None, libc_version="2.27",
           import_failure=ImportFailure("glibc", "ImportError", "version `GLIBC_2.29' not found", "GLIBC_2.29"))
    f = run("tf.import", t)
    assert "2.29" in f.summary and "2.27" in f.summary


def test_cpu_only_build_from_tensorflow_cpu_on_a_gpu_machine_fails_with_replacement():
    t = tf(distributions=(("tensorflow-cpu", "2.21.0"),), build=BuildInfo(False, False, None, None, ()))
    f = run("tf.cuda-build", t, pci=PCI_3090)
    assert f.status == Status.FAIL
    assert f.fix.commands == (f"{PY} -m pip uninstall -y tensorflow-cpu",
                              f"{PY} -m pip install 'tensorflow[and-cuda]==2.21.*'")
    assert run("tf.cuda-build", t, pci=PCI_NONE).status == Status.INFO


def test_macos_build_says_no_cuda_exists_there():
    t = tf(system="Darwin", build=BuildInfo(False, False, None, None, ()))
    f = run("tf.cuda-build", t, pci=PCI_3090)
    assert "macOS" in f.summary


def test_missing_runtime_libraries_fix_is_and_cuda_for_the_installed_version():
    attempts = (LibraryAttempt("libcuda.so.1", "driver", True, "/usr/lib/x86_64-linux-gnu/libcuda.so.1", None, "system"),
                LibraryAttempt("libcudart.so.12", "cudart", False, None, "libcudart.so.12: cannot open", None),
                LibraryAttempt("libcudnn.so.9", "cudnn", False, None, "libcudnn.so.9: cannot open", None))
    t = tf(library_attempts=attempts, gpus=())
    f = run("tf.cuda-libs", t, pci=PCI_3090, nvml=NVML_OK)
    assert f.status == Status.FAIL
    assert "libcudart.so.12" in f.summary and "libcudnn.so.9" in f.summary
    assert f.fix.commands == (f"{PY} -m pip install 'tensorflow[and-cuda]==2.21.*'",)


def test_only_libcuda_missing_points_at_the_driver():
    attempts = (LibraryAttempt("libcuda.so.1", "driver", False, None, "libcuda.so.1: cannot open", None),
                LibraryAttempt("libcudart.so.12", "cudart", True, "/x/libcudart.so.12", None, "pip"))
    f = run("tf.cuda-libs", tf(library_attempts=attempts), pci=PCI_3090, nvml=NVML_FAILED)
    assert f.status == Status.FAIL and "driver" in f.summary
    assert "driver.nvidia-module" in catalogue.get("tf.cuda-libs").after


def test_old_tensorflow_without_and_cuda_names_pip_and_apt_packages():
    attempts = (LibraryAttempt("libcudart.so.11.0", "cudart", False, None, "cannot open", None),)
    t = tf(version="2.10.0", distributions=(("tensorflow", "2.10.0"),), library_attempts=attempts,
           build=BuildInfo(True, False, "11.2", "8", ("sm_35", "compute_80")), python_version="3.10.12")
    f = run("tf.cuda-libs", t, pci=PCI_3090)
    joined = " ".join(f.fix.commands)
    assert "nvidia-cuda-runtime-cu11" in joined
    (upgrade,) = f.fix.alternatives  # or, instead, a release with [and-cuda]
    assert "tensorflow[and-cuda]==" in upgrade.commands[0]


def test_gpu_visible_ok_when_a_matmul_ran_on_it():
    t = tf(gpus=(TfGpu("/physical_device:GPU:0", "NVIDIA GeForce RTX 3090", "8.6", True, None),))
    f = run("tf.gpu-visible", t, pci=PCI_3090, nvml=NVML_OK)
    assert f.status == Status.OK and "RTX 3090" in f.summary


def test_gpu_listed_but_op_fails_is_not_ok():
    t = tf(gpus=(TfGpu("/physical_device:GPU:0", "NVIDIA GeForce RTX 3090", "8.6", False,
                       "InternalError: CUDA error: device kernel image is invalid"),))
    f = run("tf.gpu-visible", t, pci=PCI_3090, nvml=NVML_OK)
    assert f.status == Status.FAIL and "cannot run an op" in f.summary


def test_no_gpu_in_the_machine_means_cpu_info_unless_required():
    t = tf(gpus=())
    assert run("tf.gpu-visible", t, pci=PCI_NONE, nvml=NVML_FAILED).status == Status.INFO
    assert run("tf.gpu-visible", t, require_gpu=True, pci=PCI_NONE).status == Status.FAIL


def test_gpu_in_machine_but_not_in_tensorflow_fails_quoting_the_log():
    log = analyse_log("E tensorflow/stream_executor/cuda/cuda_driver.cc:271] failed call to cuInit: "
                      "CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected\n")
    f = run("tf.gpu-visible", tf(gpus=(), log=log), pci=PCI_3090, nvml=NVML_FAILED)
    assert f.status == Status.FAIL
    assert any("CUDA_ERROR_NO_DEVICE" in d for d in f.details)


def test_cuda_visible_devices_empty_hides_the_gpu():
    env = SimpleNamespace(cuda_visible_devices="", container=None)
    f = run("tf.gpu-visible", tf(gpus=()), pci=PCI_3090, nvml=NVML_OK, env=env)
    assert f.status == Status.FAIL and f.fix.commands == ("unset CUDA_VISIBLE_DEVICES",)


def test_probe_not_run_skips_every_tf_finding():
    for fid in ("tf.installed", "tf.import", "tf.cuda-build", "tf.cuda-libs", "tf.gpu-visible", "compat.python",
                "compat.driver-cuda", "compat.compute-capability"):
        assert run(fid, None).status == Status.SKIP, fid


def test_missing_interpreter_fails_installed():
    t = replace(tf(), ended="not-found", installed=None, imported=None, python="/nope/python")
    f = run("tf.installed", t)
    assert f.status == Status.FAIL and "/nope/python" in f.summary


def test_no_driver_chain_reports_the_driver_as_root_cause():
    """no driver -> NVML fails -> TensorFlow sees no GPU: the diagnosis points at the driver."""
    from tfdoctor.engine import diagnose_all
    from tfdoctor.model import Finding

    findings = [
        Finding("pci.nvidia-gpu", Status.OK, "RTX 3090"),
        Finding("driver.nvidia-module", Status.FAIL, "nvidia module not loaded"),
        Finding("nvml.init", Status.FAIL, "NVML could not start"),
        Finding("tf.cuda-libs", Status.FAIL, "libcuda.so.1 cannot be loaded"),
        Finding("tf.gpu-visible", Status.FAIL, "TensorFlow sees no GPU"),
    ]
    out = {f.id: f for f in diagnose_all(findings)}
    assert out["driver.nvidia-module"].root_cause
    assert out["tf.gpu-visible"].caused_by == "driver.nvidia-module"
    assert out["tf.cuda-libs"].caused_by == "driver.nvidia-module"
