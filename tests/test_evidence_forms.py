"""The evidence layer on the forms real pastes take: other programs' lines in the journal, locale months, typographic
quotes, messages wrapped onto several lines, every release's wording; and the conclusions the checks draw from them.

Every line here is verbatim from the public post named beside it (the corpus case that holds it says more)."""

from __future__ import annotations

import json

from tfdoctor.cli import run_check
from tfdoctor.evidence import Source, observe
from tfdoctor.tflog import analyse_log


def _snapshot(tmp_path, files: dict[str, str], complete: bool = False) -> str:
    """A hand-built snapshot (docs/snapshot-format.md) holding these files."""
    manifest = {"format": "tfdoctor-snapshot", "version": 1, "source": "recorded" if complete else "hand-built"}
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(tmp_path)


def _messages(kind: str, text: str) -> list[str]:
    return [o.message for o in observe(Source(kind, "pasted", text))]


# CS3003NS's journal (drv-secure-boot-key-rejected-openlinuxboot-ubuntu2304): Spanish month, gdm3's modprobe
OPENLINUXBOOT = ("mar 06 15:10:43 CS3003NS gdm3[7055]: modprobe: ERROR: could not insert 'nvidia': Key was rejected "
                 "by service\n"
                 "mar 06 15:12:17 CS3003NS nvidia-settings-autostart.desktop[2777]: ERROR: NVIDIA driver is not loaded\n")


def test_other_programs_lines_in_a_localised_journal_are_read():
    assert _messages("kernel", OPENLINUXBOOT) == ["modprobe-key-rejected", "nvidia-settings-driver-not-loaded"]


def test_a_rejected_signature_in_the_journal_is_the_root_cause_even_without_mokutil(tmp_path):
    report = run_check(from_=_snapshot(tmp_path, {"commands/journalctl": OPENLINUXBOOT,
                                                 "commands/nvidia-smi": "NVIDIA-SMI has failed because it couldn't "
                                                 "communicate with the NVIDIA driver. Make sure that the latest NVIDIA "
                                                 "driver is installed and running.\n",
                                                 "commands/nvidia-smi.rc": "9\n"}))
    root = report.root_cause
    assert root.id == "driver.secure-boot" and "refuses to load" in root.summary
    assert any("Key was rejected" in e.line for e in root.evidence)
    assert any(c.startswith("sudo mokutil --import") for c in root.fix.commands) and root.fix.verify


def test_typographic_quotes_of_a_forum_are_read_as_the_program_printed_them():
    # tf-libcusolver10-tf24-cuda111-curly-quotes
    log = ("“Could not load dynamic library ‘libcusolver.so.10’; \n"
           "dlerror: libcusolver.so.10: cannot open shared object file: No such file or directory”\n")
    assert analyse_log(log).missing_libraries == ("libcusolver.so.10",)


def test_every_releases_wording_of_a_missing_library_and_of_an_ignored_gpu():
    # TF 2.0.0b1 (tensorflow/tensorflow#30638) and TF 0.5 (tensorflow/tensorflow#29)
    got = analyse_log("I tensorflow/stream_executor/platform/default/dso_loader.cc:53] Could not dlopen library "
                      "'libcudart.so.10.0'; dlerror: libcudart.so.10.0: cannot open shared object file: No such file "
                      "or directory\n"
                      "I tensorflow/core/common_runtime/gpu/gpu_device.cc:611] Ignoring gpu device (device: 0, name: "
                      "GRID K520, pci bus id: 0000:00:03.0) with Cuda compute capability 3.0. The minimum required "
                      "Cuda capability is 3.5.\n")
    assert got.missing_libraries == ("libcudart.so.10.0",)
    assert got.compute_capabilities == ("3.0",) and got.min_required_cc == "3.5" and got.gpu_names == ("GRID K520",)


def test_a_message_a_forum_wrapped_onto_three_lines_is_still_one_message():
    # tf-cc30-grid-k520-ec2-wrapped-log (tensorflow/tensorflow#29)
    log = ("    tensorflow/core/common_runtime/gpu/gpu_device.cc:611\n"
           "     Ignoring gpu device (device: 0, name: GRID K520, pci bus id: 0000:00:03.0) \n"
           "    with Cuda compute capability 3.0. The minimum required Cuda capability is 3.5.\n")
    got = analyse_log(log)
    assert got.has("gpu-below-min-cc") and got.compute_capabilities == ("3.0",)


def test_old_cudnn_version_numbers_are_read_as_versions(tmp_path):
    # TensorFlow 1.7 (tensorflow/tensorflow#36148): integers with compatibility versions, no colon
    log = ("E tensorflow/stream_executor/cuda/cuda_dnn.cc:396] Loaded runtime CuDNN library: 7102 (compatibility "
           "version 7100) but source was compiled with 7005 (compatibility version 7000).  If using a binary install, "
           "upgrade your CuDNN library to match.\n")
    got = analyse_log(log)
    assert (got.cudnn_loaded, got.cudnn_compiled) == ("7.1.2", "7.0.5")
    report = run_check(from_=_snapshot(tmp_path, {"tensorflow.log": log}))
    f = report.get("tf.cuda-libs")
    assert f.status.value == "fail" and "7.0.5" in f.summary
    assert f.fix.commands == ("sudo apt install 'libcudnn7=7.0.5*'",)  # cuDNN 7 has no pip wheel


def test_an_illegal_instruction_with_unknown_cpu_flags_is_a_cpu_without_avx(tmp_path):
    # zsh's words (tensorflow/tensorflow#44701); the maintainers' diagnosis: a CPU without AVX
    report = run_check(from_=_snapshot(tmp_path, {"tensorflow.log": ">>> import tensorflow as tf\n"
                                                                    "[1]    3760 illegal hardware instruction  python3\n"}))
    assert report.root_cause.id == "cpu.avx"
    assert report.get("tf.import").caused_by == "cpu.avx"
    assert report.root_cause.fix.verify and report.root_cause.fix.alternatives


def test_pip_finding_no_wheel_names_the_python_from_the_releases_it_offers(tmp_path):
    # tf-python312-miniconda-tf214-debian11: only 2.16.0rc0 had Python 3.12 wheels then
    err = ("ERROR: Could not find a version that satisfies the requirement tensorflow==2.14 (from versions: 2.16.0rc0)\n"
           "ERROR: No matching distribution found for tensorflow==2.14\n")
    report = run_check(from_=_snapshot(tmp_path, {"commands/pip_install_tensorflow==2.14": "",
                                                 "commands/pip_install_tensorflow==2.14.err": err,
                                                 "commands/pip_install_tensorflow==2.14.rc": "1\n"}))
    f = report.root_cause
    assert f.id == "compat.python" and "Python 3.12" in f.summary and "3.9 to 3.11" in f.summary
    assert f.fix.commands[0] == "python3.11 -m venv .venv-tf214"
    assert any("2.21" in " ".join(a.commands) for a in f.fix.alternatives)  # or keep 3.12 with a newer release


def test_a_device_cgroup_without_the_nvidia_devices_is_a_container_that_lost_its_gpu(tmp_path):
    # nvidia-container-toolkit#251: after `systemctl daemon-reload` the container's devices.list holds `c 195:* m`
    report = run_check(from_=_snapshot(tmp_path, {"files/sys/fs/cgroup/devices/devices.list": "c 195:* m\n",
                                                 "commands/nvidia-smi": "Failed to initialize NVML: Unknown Error\n",
                                                 "commands/nvidia-smi.rc": "255\n"}))
    root = report.root_cause
    assert root.id == "env.container" and "195" in root.summary
    assert "sudo nvidia-ctk system create-dev-char-symlinks --create-all" in root.fix.commands
    # "Unknown Error" says nothing about the module: not claimed as "not loaded"
    assert report.get("driver.nvidia-module").status.value == "skip"


def test_a_device_cgroup_that_allows_the_nvidia_devices_is_no_finding():
    from tfdoctor.probes.env import nvidia_devices_allowed

    assert nvidia_devices_allowed("a *:* rwm\n") == (True, "a *:* rwm")
    assert nvidia_devices_allowed("c 1:3 rwm\nc 195:254 rw\nc 195:0 rw\n")[0] is True
    assert nvidia_devices_allowed("c 1:3 rwm\nc 195:* m\n") == (False, "c 195:* m")
    assert nvidia_devices_allowed(None) == (None, "")


def test_the_distribution_is_told_by_the_kernel_when_os_release_is_absent():
    from types import SimpleNamespace

    from tfdoctor.checks.fixes import distro_family, kernel_or_uname, rebuild_module

    def env(kernel, os_id=None):
        return SimpleNamespace(os_id=os_id, os_id_like=(), kernel_release=kernel)

    assert distro_family(env("6.18.7-76061807-generic")) == "ubuntu"  # Pop!_OS
    assert distro_family(env("6.8.10-300.fc40.x86_64")) == "fedora"
    assert distro_family(env("5.5.9-zen1-2-zen")) == "arch"
    assert distro_family(env("6.1.0-13-amd64")) == "debian"
    assert distro_family(env("6.1.0-13-amd64", os_id="nixos")) == "unknown"  # os-release wins, even unknown
    cmds, alts = rebuild_module(env("5.5.9-zen1-2-zen"), None, "5.5.9-zen1-2-zen")
    assert cmds[0] == "sudo pacman -S --needed nvidia-open-dkms linux-zen-headers"
    assert "nvidia-580xx-dkms" in alts[0].when
    assert kernel_or_uname("6.1.0; curl x | sh") == "$(uname -r)"


def test_a_dkms_make_log_that_failed_for_a_newer_kernel(tmp_path):
    # void-linux/void-packages#53759: the 470 legacy module does not compile for 6.12
    log = ("make[2]: *** [/usr/src/kernel-headers-6.12.7_1/Makefile:1937: /var/lib/dkms/nvidia/470.239.06/build] "
           "Chyba 2\nmake[1]: *** [Makefile:224: __sub-make] Error 2\nmake: *** [Makefile:80: modules] Error 2\n")
    report = run_check(from_=_snapshot(tmp_path, {"files/var/lib/dkms/nvidia/470.239.06/build/make.log": log}))
    f = report.root_cause
    assert f.id == "driver.dkms" and "470.239.06" in f.summary and "6.12.7_1" in f.summary and "legacy" in f.summary
    assert any("previous kernel" in a.when for a in f.fix.alternatives)


def test_apt_policy_and_nvidia_settings_show_a_driver_installed_but_not_loaded(tmp_path):
    # drv-module-not-loaded-after-updates-popos1910
    report = run_check(from_=_snapshot(tmp_path, {
        "commands/apt_policy_nvidia-driver-435": "nvidia-driver-435:\n  Installed: 435.21-1pop1~1567200870~19.10~c01044a"
                                                 "\n  Candidate: 435.21-1pop1~1567200870~19.10~c01044a\n",
        "commands/journalctl": "Oct 14 07:35:56 pop-os nvidia-settings-autostart.desktop[2905]: ERROR: NVIDIA driver "
                               "is not loaded\n"}))
    f = report.root_cause
    assert f.id == "driver.nvidia-module" and "installed" in f.summary
    assert report.get("driver.recommended").summary.startswith("NVIDIA driver branch 435 is installed")


def test_the_open_module_refusing_a_pascal_gpu_gets_the_proprietary_580_flavour(tmp_path):
    # drv-open-580-on-pascal-laptop-popos2404: only the middle of NVIDIA's message was posted
    report = run_check(from_=_snapshot(tmp_path, {
        "commands/dmesg": "nvidia.ko because it does not include the required GPU\n"
                          "probe with driver nvidia failed with error -1\n",
        "commands/uname_-r": "6.18.7-76061807-generic\n"}))
    f = report.root_cause
    assert f.id == "driver.recommended" and f.fix.commands[0] == "sudo apt install nvidia-driver-580"


def test_redacted_reports_keep_alternatives_and_verify(tmp_path):
    report = run_check(from_=_snapshot(tmp_path, {"tensorflow.log": "Illegal instruction (core dumped)\n"}))
    fix = report.get("cpu.avx").fix
    assert fix.alternatives and fix.verify


def test_a_stale_module_built_for_another_kernel_is_named_with_both_kernels(tmp_path):
    # negativo17/nvidia-driver#97: Fedora 31 booted, the module on disk built for Fedora 30's kernel
    report = run_check(from_=_snapshot(tmp_path, {
        "commands/dmesg": "nvidia: version magic '5.4.18-100.fc30.x86_64 SMP mod_unload ' should be "
                          "'5.4.18-200.fc31.x86_64 SMP mod_unload '\n",
        "commands/modprobe_nvidia.err": "could not insert 'nvidia': Exec format error\n",
        "commands/modprobe_nvidia.rc": "1\n", "commands/modprobe_nvidia": ""}))
    f = report.root_cause
    assert f.id == "driver.dkms" and "5.4.18-100.fc30.x86_64" in f.summary and "5.4.18-200.fc31.x86_64" in f.summary
    assert "sudo akmods --force --kernels 5.4.18-200.fc31.x86_64" in f.fix.commands  # Fedora, told by the kernel


def test_operation_not_permitted_as_root_is_the_kernel_refusing_the_module(tmp_path):
    # bottlerocket-os/bottlerocket#4218: lockdown=integrity refuses the unsigned NVIDIA modules
    report = run_check(from_=_snapshot(tmp_path, {
        "commands/dmesg": "[    5.881035] driverdog[2088]: modprobe: ERROR: could not insert 'nvidia_uvm': Operation "
                          "not permitted\n"}))
    assert report.root_cause.id == "driver.secure-boot" and "lockdown" in report.root_cause.summary


def test_an_image_needing_a_newer_cuda_than_the_driver_names_the_driver_it_needs(tmp_path):
    # NVIDIA/nvidia-docker#1442 (a CUDA 11 image) and #106 (nvidia-docker 1)
    err = ("docker: Error response from daemon: OCI runtime create failed: ... stderr: nvidia-container-cli: "
           "requirement error: unsatisfied condition: cuda>=11.0, please update your driver to a newer version, or use "
           "an earlier cuda container: unknown.\n")
    report = run_check(from_=_snapshot(tmp_path, {"commands/docker_run.err": err, "commands/docker_run.rc": "125\n",
                                                 "commands/docker_run": ""}))
    f = report.root_cause
    assert f.id == "compat.driver-cuda" and "CUDA 11.0" in f.summary and "450.51.05" in f.summary
    assert any("image" in a.when for a in f.fix.alternatives)


def test_ngcs_driver_banner_in_a_container_started_with_gpus_is_no_evidence(tmp_path):
    # NVIDIA/nvidia-docker#1548 (WSL2: the banner is false) against a container started without --gpus
    banner = ("WARNING: The NVIDIA Driver was not detected.  GPU functionality will not be available.\n"
              "   Use 'nvidia-docker run' to start this container; see\n")
    with_gpus = run_check(from_=_snapshot(tmp_path / "a", {
        "commands/docker_run_--gpus_all_--rm_nvcr.io%2Fnvidia%2Ftensorflow:20.03-tf2-py3_nvidia-smi": banner}))
    assert with_gpus.exit_code() == 0
    without = run_check(from_=_snapshot(tmp_path / "b", {
        "commands/docker_run_-it_--rm_nvcr.io%2Fnvidia%2Ftensorflow:19.08-py3": banner}))
    assert without.root_cause is not None and without.root_cause.id == "env.container"


def test_a_repl_answer_that_tensorflow_is_not_a_cuda_build(tmp_path):
    # conda-forge/tensorflow-feedstock#365: the answer stands on the line after the call
    report = run_check(from_=_snapshot(tmp_path, {"tensorflow.log": ">>> tf.test.is_built_with_cuda()\nFalse\n"}))
    assert report.root_cause.id == "tf.cuda-build"
    assert _messages("tensorflow", ">>> tf.test.is_built_with_cuda()\nTrue\n") == []


def test_xla_targeting_a_ptx_older_than_the_gpu_is_a_gpu_newer_than_the_build(tmp_path):
    # tensorflow/tensorflow#111958: RTX 5060 Ti (sm_120) with TF 2.22 nightly's XLA
    report = run_check(from_=_snapshot(tmp_path, {"tensorflow.log": "LLVM ERROR: PTX version 8.5 does not support "
                                                                    "target 'sm_120' (or 'sm_120a'). Minimum required "
                                                                    "PTX version is 8.7\n"}))
    f = report.root_cause
    assert f.id == "compat.compute-capability" and "12.0" in f.summary and "newer" in f.summary
