"""compat.* rules, driven by the knowledge base, with stand-in facts for NVML and PCI."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.test_tf_checks import BUILD_221, PY, tf
from tfdoctor import catalogue
from tfdoctor.checks import Facts
from tfdoctor.checks.fixes import ubuntu_driver_package
from tfdoctor.knowledge import loader as kb
from tfdoctor.model import Status
from tfdoctor.probes.tensorflow import BuildInfo


def gpu(name, cc):
    return SimpleNamespace(name=name, compute_capability=cc)


def nvml(driver, *gpus):
    return SimpleNamespace(init_ok=True, driver_version=driver, cuda_driver_version=None, gpus=tuple(gpus))


def run(fid, tf_facts, **others):
    return catalogue.get(fid).func(Facts({"tensorflow": tf_facts, **others}))


def test_driver_too_old_for_cuda_12_names_the_minimum_and_the_package():
    from types import SimpleNamespace

    ubuntu = SimpleNamespace(os_id="ubuntu", os_id_like=("debian",), kernel_release=None)
    f = run("compat.driver-cuda", tf(), nvml=nvml("470.239.06", gpu("Tesla T4", "7.5")), env=ubuntu)
    assert f.status == Status.FAIL
    assert "525.60.13" in f.summary
    assert f.fix.commands[0].startswith("sudo apt install nvidia-driver-") and f.fix.commands[1] == "sudo reboot"
    # or, instead, the newest TensorFlow whose CUDA (11.x) driver 470 runs
    (alt,) = f.fix.alternatives
    assert "keep driver 470.239.06" in alt.when and any("tensorflow[and-cuda]==2.14.*" in c for c in alt.commands)
    assert not any("#" in c for c in f.fix.commands)
    # Debian has no nvidia-driver-NNN packages: its own driver package, never Ubuntu's
    debian = SimpleNamespace(os_id="debian", os_id_like=(), kernel_release=None)
    f = run("compat.driver-cuda", tf(), nvml=nvml("470.239.06", gpu("Tesla T4", "7.5")), env=debian)
    assert f.fix.commands[0].startswith("sudo apt install nvidia-driver firmware-misc-nonfree")


def test_driver_new_enough_is_ok():
    f = run("compat.driver-cuda", tf(), nvml=nvml("570.124.06", gpu("RTX 4090", "8.9")))
    assert f.status == Status.OK


def test_minor_version_compat_driver_warns_only_when_ptx_jit_is_needed():
    # 535 >= 525.60.13 floor but < 555.42.06 (CUDA 12.5.1 toolkit driver)
    assert run("compat.driver-cuda", tf(), nvml=nvml("535.104.05", gpu("RTX 3090", "8.6"))).status == Status.OK
    f = run("compat.driver-cuda", tf(), nvml=nvml("535.104.05", gpu("NVIDIA GeForce RTX 5090", "12.0")))
    assert f.status == Status.WARN


def test_driver_unknown_skips():
    f = run("compat.driver-cuda", tf(), nvml=SimpleNamespace(init_ok=False, driver_version=None, gpus=()))
    assert f.status == Status.SKIP


@pytest.mark.parametrize("cc,status", [("8.6", Status.OK), ("6.1", Status.OK), ("9.0", Status.WARN),
                                       ("12.0", Status.WARN), ("5.2", Status.FAIL), ("3.7", Status.FAIL)])
def test_compute_capability_against_the_build_list(cc, status):
    f = run("compat.compute-capability", tf(), nvml=nvml("570.124.06", gpu("GPU", cc)))
    assert f.status == status, f


def test_maxwell_on_tf_221_names_tensorflow_216():
    f = run("compat.compute-capability", tf(), nvml=nvml("570.124.06", gpu("NVIDIA GeForce GTX 970", "5.2")))
    assert "2.16" in f.summary
    assert f.fix.commands == (f"{PY} -m pip install 'tensorflow[and-cuda]==2.16.*'",)


def test_maxwell_on_python_313_needs_another_python_for_tensorflow_216():
    t = tf(python_version="3.13.1")
    f = run("compat.compute-capability", t, nvml=nvml("570.124.06", gpu("GTX 970", "5.2")))
    assert "Python 3.9 to 3.12" in f.fix.summary
    assert f.fix.commands[0].startswith("python3.12 -m venv")


def test_kepler_is_too_old_for_every_tensorflow_2_wheel_with_sass_after_2_14():
    f = run("compat.compute-capability", tf(), nvml=nvml("470.239.06", gpu("Tesla K80", "3.7")))
    assert f.status == Status.FAIL and "2.14" in f.summary


def test_compute_capability_uses_pci_when_nvml_is_absent():
    pci = SimpleNamespace(nvidia_devices=(SimpleNamespace(name="GeForce GTX 1080 Ti", compute_capability="6.1"),))
    assert run("compat.compute-capability", tf(), pci=pci).status == Status.OK


def test_build_info_list_beats_the_knowledge_base():
    # a self-built wheel that carries sm_52: a 5.2 card is fine even though the official 2.21 wheel is not
    t = tf(build=BuildInfo(True, False, "12.5.1", "9", ("sm_52", "sm_60", "compute_90")))
    assert run("compat.compute-capability", t, nvml=nvml("570.124.06", gpu("GTX 970", "5.2"))).status == Status.OK


def test_python_outside_the_tested_range_warns_when_it_imports():
    f = run("compat.python", tf(version="2.15.0", python_version="3.12.1", build=BUILD_221))
    assert f.status == Status.WARN and "3.9 to 3.11" in f.summary


@pytest.mark.parametrize("need,pkg", [("525.60.13", "nvidia-driver-525"), ("555.42.06", "nvidia-driver-560"),
                                      ("450.80.02", "nvidia-driver-510")])
def test_ubuntu_driver_package_for_a_minimum_version(need, pkg):
    assert ubuntu_driver_package(need) == pkg


def test_every_tensorflow_build_has_a_driver_minimum_for_its_cuda():
    for b in kb.tf_versions():
        if not b.cuda:
            continue
        req = kb.min_driver_for_cuda(b.cuda)
        assert req.minor_compat_floor or req.toolkit_driver, b.version
        assert ubuntu_driver_package(req.minor_compat_floor or req.toolkit_driver).startswith("nvidia-driver-")
