"""nvml.init and nvml.devices over constructed NvmlFacts."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tfdoctor.checks import Facts
from tfdoctor.checks.nvml import check_nvml_devices, check_nvml_init
from tfdoctor.model import Status
from tfdoctor.probes.nvml import GpuFacts, NvmlFacts, ProcessFacts


def gpu(**over) -> GpuFacts:
    base = dict(index=0, name="NVIDIA H100 80GB HBM3", compute_capability="9.0", memory_total_mib=81559,
                memory_used_mib=312, temperature_c=34, power_w=104.0, power_limit_w=700.0, utilization_gpu_pct=3,
                pcie_gen=5, pcie_gen_max=5, pcie_width=16, pcie_width_max=16, throttle_reasons=("gpu_idle",),
                ecc_corrected=0, ecc_uncorrected=0)
    base.update(over)
    return GpuFacts(**base)


def good(*gpus) -> NvmlFacts:
    return NvmlFacts(source="nvml", init_ok=True, driver_version="550.54.15", cuda_driver_version="12.4",
                     gpus=gpus or (gpu(),))


def failed(kind, message="", **over) -> NvmlFacts:
    return NvmlFacts(source="nvml", init_ok=False, init_error=kind, init_message=message, **over)


def facts(nvml, pci_devices=("10de:2330",), require_gpu=False) -> Facts:
    pci = SimpleNamespace(nvidia_devices=pci_devices, source="sysfs") if pci_devices is not None else None
    return Facts({"nvml": nvml, "pci": pci}, require_gpu=require_gpu)


def test_working_nvml_reports_driver_and_cuda_versions():
    f = check_nvml_init(facts(good()))
    assert f.status is Status.OK
    assert "550.54.15" in f.summary and "12.4" in f.summary


@pytest.mark.parametrize(
    ("kind", "command"),
    [
        ("driver-not-loaded", "sudo modprobe nvidia"),
        ("lib-rm-version-mismatch", "sudo reboot"),
        ("library-not-found", "sudo ubuntu-drivers install   # Ubuntu: the recommended driver, user space included"),
        ("no-permission", "sudo usermod -aG video,render $USER"),
    ],
)
def test_each_init_cause_fails_with_its_own_fix(kind, command):
    f = check_nvml_init(facts(failed(kind, "NVML says so")))
    assert f.status is Status.FAIL
    assert command in f.fix.commands
    assert "NVML says so" in f.details


def test_a_lost_gpu_is_a_device_failure_not_an_nvml_one():
    n = failed("gpu-is-lost", "Unable to determine the device handle for GPU0000:07:00.0: Unknown Error")
    assert check_nvml_init(facts(n)).status is Status.INFO
    f = check_nvml_devices(facts(n))
    assert f.status is Status.FAIL
    assert "sudo nvidia-smi -r" in f.fix.commands


def test_no_devices_found_is_a_device_failure_not_an_nvml_one():
    # nvidia-smi's 'No devices were found': NVML started and counted no GPU; the driver took none
    n = failed("no-devices", "No devices were found")
    assert check_nvml_init(facts(n)).status is Status.INFO
    f = check_nvml_devices(facts(n))
    assert f.status is Status.FAIL and "initialised no GPU" in f.summary
    assert "lspci -nn -d 10de:" in f.fix.commands


def test_a_hung_driver_call_is_still_an_nvml_failure():
    f = check_nvml_init(facts(failed("gpu-is-lost", "NVML did not answer within 10 s", timed_out=True)))
    assert f.status is Status.FAIL


def test_version_mismatch_suggests_reboot_or_instead_a_module_reload_and_never_holding_packages():
    f = check_nvml_init(facts(failed("lib-rm-version-mismatch")))
    assert f.fix.commands == ("sudo reboot",)
    (alt,) = f.fix.alternatives  # used instead of rebooting, never after it
    assert alt.commands == ("sudo rmmod nvidia_uvm nvidia_drm nvidia_modeset nvidia", "sudo modprobe nvidia")
    assert f.fix.verify == ("nvidia-smi",)
    # holding every nvidia package also holds back its security updates: never suggested
    every = [*f.fix.commands, *alt.commands, *f.fix.verify]
    assert not any("apt-mark" in c for c in every)


def test_nvidia_smi_exit_status_is_shown():
    n = failed("driver-not-loaded", "Driver Not Loaded", nvidia_smi_rc=9, nvidia_smi_kind="driver-not-loaded",
               nvidia_smi_message="NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.")
    f = check_nvml_init(facts(n))
    assert any(d.startswith("nvidia-smi exited 9") for d in f.details)


def test_hung_nvml_is_a_lost_gpu_finding():
    n = NvmlFacts(source="none", init_ok=False, init_error="gpu-is-lost", init_message="NVML did not answer",
                  timed_out=True)
    f = check_nvml_init(facts(n))
    assert f.status is Status.FAIL and "Xid 79" in f.summary


def test_no_nvidia_gpu_on_the_bus_skips_unless_a_gpu_is_required():
    n = failed("library-not-found")
    assert check_nvml_init(facts(n, pci_devices=())).status is Status.SKIP
    assert check_nvml_init(facts(n, pci_devices=(), require_gpu=True)).status is Status.FAIL
    assert check_nvml_init(facts(n, pci_devices=None)).status is Status.FAIL  # no PCI facts: do not guess


def test_devices_lists_each_gpu_with_capability_memory_and_link():
    f = check_nvml_devices(facts(good()))
    assert f.status is Status.OK
    assert f.summary == "GPU 0: NVIDIA H100 80GB HBM3 (compute capability 9.0, 81559 MiB, PCIe Gen5 x16)"
    assert any("34 °C" in d and "104 W / 700 W" in d for d in f.details)


def test_devices_skip_when_init_failed():
    assert check_nvml_devices(facts(failed("driver-not-loaded"))).status is Status.SKIP


def test_narrow_pcie_link_warns_but_idle_generation_drop_does_not():
    assert check_nvml_devices(facts(good(gpu(pcie_width=4)))).status is Status.WARN
    f = check_nvml_devices(facts(good(gpu(pcie_gen=1))))
    assert f.status is Status.OK
    assert any("idle" in d for d in f.details)


@pytest.mark.parametrize("reason", ["hw_slowdown", "hw_thermal_slowdown", "sw_thermal_slowdown",
                                    "hw_power_brake_slowdown"])
def test_heat_or_power_throttling_warns(reason):
    f = check_nvml_devices(facts(good(gpu(throttle_reasons=(reason,)))))
    assert f.status is Status.WARN
    assert any("PERFORMANCE" in c for c in f.fix.commands)


def test_normal_clock_reasons_do_not_warn():
    f = check_nvml_devices(facts(good(gpu(throttle_reasons=("gpu_idle", "applications_clocks_setting",
                                                            "sw_power_cap")))))
    assert f.status is Status.OK


def test_uncorrected_ecc_errors_warn_once_in_gpu_memory_errors():
    from tfdoctor.checks.datacentre import check_memory_errors

    f = facts(good(gpu(ecc_uncorrected=3)))
    assert check_nvml_devices(f).status is Status.OK  # one finding says it, not two
    e = check_memory_errors(f)
    assert e.status is Status.WARN and "uncorrectable ECC" in e.summary and "3 uncorrectable ECC" in e.details[0]


def test_memory_held_by_other_processes_warns_once_in_gpu_memory_in_use():
    from tfdoctor.checks.datacentre import check_memory_in_use

    g = gpu(memory_used_mib=78432, processes=(ProcessFacts(777, "python", 78000, "C"),))
    assert check_nvml_devices(facts(good(g))).status is Status.OK
    f = check_memory_in_use(facts(good(g)))
    assert f.status is Status.WARN and "pid 777" in f.details[0] and "kill 777" in f.fix.commands


def test_lost_gpu_fails_and_names_it():
    f = check_nvml_devices(facts(good(gpu(), gpu(index=1, lost=True, error="GpuIsLost"))))
    assert f.status is Status.FAIL and "GPU 1" in f.summary


def test_many_gpus_are_counted_in_the_summary():
    f = check_nvml_devices(facts(good(*(gpu(index=i) for i in range(8)))))
    assert f.summary == "8 GPUs: 8× NVIDIA H100 80GB HBM3"
    assert sum(d.startswith("GPU ") for d in f.details) == 16


def test_no_gpu_reported_is_a_warning_or_a_failure_when_required():
    n = NvmlFacts(source="nvml", init_ok=True, driver_version="550.54.15", gpus=())
    assert check_nvml_devices(facts(n)).status is Status.WARN
    assert check_nvml_devices(facts(n, require_gpu=True)).status is Status.FAIL
