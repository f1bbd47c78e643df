"""Wave 23, group H: the messages of the programs that build and load NVIDIA's kernel module (NVIDIA's .run installer,
DKMS's postinst, the kernel's module loader), read from their source code. Every machine line below is a real line
from the public thread named beside it; the snapshots around them are hand-built in tmp_path (a state synthesised for
the test, as docs/snapshot-format.md describes)."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _root_fail, _snapshot
from tfdoctor.evidence import ANY, Source, observe


def _ids(text: str) -> set[str]:
    return {o.message for o in observe(Source(ANY, "pasted", text))}


# Bumblebee-Project/Bumblebee#656 and NVIDIA/gpu-operator#266: the installer's ENOKEY form (kernel.c ignore_load_error)
UNTRUSTED = ("ERROR: The kernel module failed to load, because it was not signed by a key that is trusted by the "
             "kernel. Please try installing the driver again, and sign the kernel module when prompted to do so.\n")


def test_the_installers_untrusted_key_error_is_the_kernel_refusing_the_signature(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": UNTRUSTED}, "driver.secure-boot")
    assert "not signed with a key the kernel trusts" in f.summary
    assert any("not signed by a key that is trusted" in e.line for e in f.evidence)


def test_the_installers_guesses_after_another_load_error_are_not_a_refused_signature():
    # kernel.c prints these forms when the load failed for another reason and Secure Boot (or SIG_FORCE) is on
    guess = ("ERROR: The kernel module failed to load. Secure boot is enabled on this system, so this is likely because "
             "it was not signed by a key that is trusted by the kernel.")
    assert "installer-module-key-rejected" not in _ids(guess)
    assert "installer-module-key-rejected" not in _ids(guess.replace(". Secure boot is enabled on this system, so "
                                                                     "this is likely", ", possibly"))


# Bumblebee-Project/Bumblebee#925: the .run installer after a Fedora kernel update without its kernel-devel
NO_SOURCE = ("ERROR: Unable to find the kernel source tree for the currently running kernel.  Please make sure you "
             "have installed the\n       kernel source files for your kernel and that they are properly configured; "
             "on Red Hat Linux systems, for example, be\n")


def test_the_installer_finding_no_kernel_source_tree_is_missing_headers(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": NO_SOURCE,
                              "commands/uname_-r": "4.13.9-300.fc27.x86_64\n"}, "driver.dkms")
    assert f.summary.startswith("NVIDIA's installer could not build") and "headers are not installed" in f.summary
    assert f.fix.commands == ("sudo dnf install kernel-devel-4.13.9-300.fc27.x86_64",)
    assert "installer" in f.fix.summary and not any("dkms" in c for c in f.fix.commands)


# GoogleCloudPlatform/compute-gpu-installation#33 (525.125.06 on Debian 11's 6.1.0-18 kernel) and ProTechEx/vgpu-proxmox#1
BUILD_STEP = ('ERROR: An error occurred while performing the step: "Building kernel modules". See '
              "/var/log/nvidia-installer.log for details.\n")


def test_the_installers_failed_build_step_is_a_module_that_does_not_build(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": BUILD_STEP}, "driver.dkms")
    assert f.summary.startswith("NVIDIA's installer could not build") and "does not compile" in f.summary


def test_the_step_that_follows_is_not_read_and_the_wording_before_355_is():
    assert _ids('ERROR: An error occurred while performing the step: "Checking to see whether the nvidia kernel '
                'module was successfully built". See /var/log/nvidia-installer.log') == set()
    assert "installer-build-failed" in _ids("ERROR: Unable to build the NVIDIA kernel module.")  # before 355.06


# awesometic/realtek-r8125-dkms#13 (dkms 2.8 on Proxmox); draios/sysdig#288 (dkms 2.2, two lines)
SKIPPED = ("Module build for kernel 5.13.19-1-pve was skipped since the kernel headers for this kernel does not seem "
           "to be installed.\n")
SKIPPED_22 = ("Loading new sysdig-0.1.93 DKMS files...\nBuilding only for 3.13.0-43-generic\n"
              "Module build for the currently running kernel was skipped since the\n"
              "kernel source for this kernel does not seem to be installed.\n")


def test_dkms_skipping_a_kernel_without_headers_is_a_module_missing_for_it(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": SKIPPED}, "driver.dkms")
    assert f.summary == "DKMS could not build the NVIDIA module for kernel 5.13.19-1-pve: its headers are not installed"
    assert "dkms-headers-skipped" in _ids(SKIPPED_22)
    # dkms 3.x: "do not seem"
    assert "dkms-headers-skipped" in _ids(SKIPPED.replace("does not", "do not"))


def test_a_loaded_module_makes_a_skipped_build_no_failure(tmp_path):
    snap = _snapshot(tmp_path, {"commands/pasted-text": SKIPPED,
                                "commands/lsmod": "Module                  Size  Used by\n"
                                                  "nvidia_uvm           1118208  0\n"
                                                  "nvidia              56455168  1 nvidia_uvm\n"})
    assert _check(snap).get("driver.dkms").status.value != "fail"


# realsenseai/realsense_mipi_platform_driver#281: kern.log of a Jetson whose kernel was rebuilt
CRC = ("Jun 26 08:48:30 robocatsorin kernel: [   15.726225] nvidia: disagrees about version of symbol i2c_get_adapter\n"
       "Jun 26 08:48:30 robocatsorin kernel: [   15.726238] nvidia: Unknown symbol i2c_get_adapter (err -22)\n")


def test_the_kernel_refusing_nvidia_ko_for_symbol_versions_is_a_module_built_for_another_kernel(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": CRC}, "driver.nvidia-module")
    assert "built against another kernel" in f.summary
    assert any("disagrees about version of symbol" in e.line for e in f.evidence)


def test_an_unknown_symbol_alone_keeps_the_dependency_reading(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": CRC.splitlines()[1] + "\n"}, "driver.nvidia-module")
    assert "Unknown symbol in module" in f.summary


def test_other_modules_failing_on_nvidias_symbols_are_not_nvidia_ko_refused():
    # NVIDIA/gds-nvidia-fs#34, Mellanox/nv_peer_memory#8, NVIDIA/gdrcopy#13
    for line in ("[  +0.000031] nvidia_fs: Unknown symbol nvidia_p2p_dma_unmap_pages (err -2)",
                 "[  366.264584] nv_peer_mem: disagrees about version of symbol nvidia_p2p_get_pages",
                 "[55580.715176] gdrdrv: Unknown symbol nvidia_p2p_get_pages (err -22)"):
        assert "kernel-nvidia-unknown-symbol" not in _ids(line), line


def test_the_installer_running_dkms_is_still_dkms(tmp_path):
    # Azure/aks-engine#3269: the installer with --dkms, whose DKMS build failed
    f = _root_fail(tmp_path, {"commands/pasted-text": "ERROR: Failed to run `/usr/sbin/dkms build -m nvidia -v "
                                                      "418.40.04 -k\n"}, "driver.dkms")
    assert f.summary.startswith("DKMS could not build")
