"""Parsers of the system probes on real outputs, and on arbitrary text (they never raise)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import FIXTURES, SNAPSHOTS
from tfdoctor.probes import cpu, driver, env, pci

OUT = FIXTURES / "outputs"


def snap(scenario: str, rel: str) -> str:
    return (SNAPSHOTS / scenario / rel).read_text()


def test_lspci_nn_gives_ids_class_and_name():
    recs = pci.parse_lspci(snap("quadro-p2000-no-driver", "commands/lspci"))
    vga = recs[0]
    assert (vga.slot, vga.vendor_id, vga.device_id, vga.class_id) == ("0000:65:00.0", 0x10DE, 0x1C30, 0x0300)
    assert vga.name == "NVIDIA Corporation GP106GL [Quadro P2000]"
    assert recs[1].class_name == "Audio device"


def test_lspci_k_gives_driver_in_use_and_modules():
    recs = pci.parse_lspci(snap("nouveau-bound", "commands/lspci"))
    assert recs[0].driver_in_use == "nouveau"
    assert recs[0].kernel_modules == ("nouveau", "nvidia_drm", "nvidia")
    assert recs[0].name.endswith("[GeForce GTX 970]")  # "(prog-if 00 [VGA controller])" is not the name


def test_plain_lspci_names_unknown_devices_by_id_and_keeps_revision():
    recs = pci.parse_lspci(snap("hybrid-laptop", "commands/lspci"))
    nv = [r for r in recs if "NVIDIA" in r.name][0]
    assert (nv.vendor_id, nv.device_id, nv.revision, nv.driver_in_use) == (0x10DE, 0x1D12, "ff", None)
    intel = recs[0]
    assert intel.driver_in_use == "i915"


def test_lspci_with_pci_domains():
    recs = pci.parse_lspci(snap("wsl2", "commands/lspci"))
    assert recs[0].slot == "fe50:00:00.0" and recs[0].class_name == "3D controller"


def test_lspci_on_this_machine_has_no_display_controller():
    recs = pci.parse_lspci((OUT / "lspci-nnk_this_machine.txt").read_text())
    assert recs and all(r.slot.startswith("0000:") for r in recs)
    assert any(r.driver_in_use == "virtio-pci" for r in recs)
    assert not [r for r in recs if r.class_id and r.class_id >> 8 == 0x03]


def test_ubuntu_drivers_recommended_package():
    devs = driver.parse_ubuntu_drivers(snap("quadro-p2000-no-driver", "commands/ubuntu-drivers_devices"))
    assert len(devs) == 1
    assert devs[0].recommended == "nvidia-driver-470"
    assert devs[0].model == "GP106GL [Quadro P2000]"
    assert ("xserver-xorg-video-nouveau", "distro free builtin") in devs[0].drivers
    kepler = driver.parse_ubuntu_drivers(snap("kepler-legacy-gpu", "commands/ubuntu-drivers_devices"))
    assert kepler[0].recommended == "nvidia-driver-470"


def test_dkms_status_new_and_old_formats():
    new = driver.parse_dkms_status(snap("secure-boot-blocks", "commands/dkms_status"))
    assert [(e.module, e.version, e.kernel, e.state) for e in new][0] == (
        "nvidia", "535.113.01", "5.15.0-86-generic", "installed")
    old = driver.parse_dkms_status((OUT / "dkms_status_old_format.txt").read_text())
    assert [e.state for e in old] == ["built", "installed", "installed"]
    assert old[1].kernel == "3.10.0-957.12.2.el7.x86_64" and old[1].warning == "original_module exists"


def test_dpkg_list_finds_driver_branch():
    pkgs = driver.parse_dpkg_list(snap("secure-boot-blocks", "commands/dpkg_-l"))
    assert {p.name for p in pkgs} >= {"libnvidia-compute-535", "libnvidia-common-535"}
    assert driver.installed_branch(pkgs, None) == "535"


def test_nvidia_version_file():
    version, flavor = driver.parse_nvidia_version_file(
        snap("driver-library-mismatch", "files/proc/driver/nvidia/version"))
    assert version == "580.173.02"
    assert flavor in ("open", "proprietary")


def test_kernel_log_keeps_the_lines_the_evidence_layer_reads():
    from tfdoctor.evidence import Source, observe

    lines = driver.filter_kernel_log(snap("driver-library-mismatch-dmesg", "commands/dmesg"))
    assert "nvrm-api-mismatch" in {o.message for o in observe(Source("kernel", "dmesg", "\n".join(lines)))}
    lines = driver.filter_kernel_log(snap("nvidia-probe-not-called", "commands/dmesg"))
    assert "nvrm-probe-not-called" in {o.message for o in observe(Source("kernel", "dmesg", "\n".join(lines)))}


def test_apt_policy_names_the_installed_driver_and_never_an_absent_one():
    # `apt policy nvidia-driver-435` as posted on Pop!_OS 19.10 (tests/cases/drv-module-not-loaded-after-updates-popos1910)
    text = ("nvidia-driver-435:\n  Installed: 435.21-1pop1~1567200870~19.10~c01044a\n"
            "  Candidate: 435.21-1pop1~1567200870~19.10~c01044a\n  Version table:\n"
            " *** 435.21-1pop1~1567200870~19.10~c01044a 1001\n        100 /var/lib/dpkg/status\n"
            "libnvidia-compute-470:\n  Installed: (none)\n  Candidate: 470.256.02-0ubuntu0.22.04.1\n")
    pkgs = driver.parse_apt_policy(text)
    assert [(p.name, p.version, p.installs_driver) for p in pkgs] == [
        ("nvidia-driver-435", "435.21-1pop1~1567200870~19.10~c01044a", True)]
    assert driver.installed_branch(pkgs, None) == "435"


def test_modprobe_conf_directives_from_ubuntu_driver_package():
    # /lib/modprobe.d/nvidia-graphics-drivers.conf of the 595 branch (canonical/nvidia-graphics-drivers, knowledge.md §7.2)
    text = ("blacklist nouveau\nblacklist lbm-nouveau\nblacklist nova\nblacklist nova_core\n"
            "alias nouveau off\nalias lbm-nouveau off\nalias nova off\nalias nova_core off\n")
    ds = driver.parse_modprobe_conf(text, "/lib/modprobe.d/nvidia-graphics-drivers.conf")
    assert any(driver.blocks_module(d, "nouveau") for d in ds)
    assert any(driver.blocks_module(d, "nova_core") for d in ds)
    assert not driver.parse_modprobe_conf("blacklist nouveau\n", "/etc/modprobe.d/blacklist-nouveau")[0].read_by_modprobe


def test_kernel_command_line_blacklists():
    line = "BOOT_IMAGE=/vmlinuz ro quiet rd.driver.blacklist=nouveau modprobe.blacklist=nouveau,nova_core nvidia-drm.modeset=1"
    assert driver.cmdline_blacklists(line, "nouveau") == ["rd.driver.blacklist=nouveau", "modprobe.blacklist=nouveau,nova_core"]
    assert driver.cmdline_blacklists(line, "nova_core") == ["modprobe.blacklist=nouveau,nova_core"]


def test_mokutil_states():
    assert driver.parse_mokutil("SecureBoot enabled\n") is True
    assert driver.parse_mokutil("SecureBoot disabled\n") is False
    assert driver.parse_mokutil("") is None


def test_cpuinfo_of_a_cpu_without_avx():
    info = cpu.parse_cpuinfo(snap("cpu-without-avx", "files/proc/cpuinfo"))
    assert "avx" not in info["flags"] and "sse4_1" in info["flags"]
    assert "E7500" in info["model"]


def test_cpuinfo_and_meminfo_of_this_machine():
    info = cpu.parse_cpuinfo((OUT / "cpuinfo_this_machine.txt").read_text())
    assert info["logical"] == 2 and {"avx", "avx2", "fma"} <= info["flags"]
    assert cpu.parse_meminfo_total((OUT / "meminfo_this_machine.txt").read_text()) > 2**30


def test_os_release_and_container_detection():
    osr = env.parse_os_release(snap("quadro-p2000-no-driver", "files/etc/os-release"))
    assert osr["ID"] == "ubuntu" and osr["VERSION_ID"] == "20.04"
    kind, evidence = env.detect_container(False, False, "12:devices:/docker/3f2a\n", None, False)
    assert kind == "docker" and evidence


PARSERS = [pci.parse_lspci, driver.parse_ubuntu_drivers, driver.parse_dkms_status, driver.parse_dpkg_list,
           driver.parse_rpm_qa, driver.parse_modinfo, driver.parse_proc_modules, driver.parse_mokutil,
           driver.parse_nvidia_version_file, driver.filter_kernel_log, cpu.parse_cpuinfo, cpu.parse_meminfo_total,
           env.parse_os_release, lambda t: driver.parse_modprobe_conf(t, "/etc/modprobe.d/x.conf"),
           lambda t: driver.cmdline_blacklists(t, "nouveau")]


@settings(max_examples=150, deadline=None)
@given(st.text())
def test_parsers_never_raise_on_arbitrary_text(text):
    for parse in PARSERS:
        parse(text)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from(snap("nouveau-bound", "commands/lspci").splitlines()
                                + snap("quadro-p2000-no-driver", "commands/ubuntu-drivers_devices").splitlines()
                                + ["\t", "==", "driver :", "Kernel modules:", "00:00.0 :"]), max_size=30))
def test_parsers_never_raise_on_shuffled_real_lines(lines):
    text = "\n".join(lines)
    for parse in PARSERS:
        parse(text)
