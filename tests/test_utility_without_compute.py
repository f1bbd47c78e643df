"""A container whose NVIDIA runtime mounted the driver's utilities (nvidia-smi, NVML) but not its CUDA library (the
`compute` capability), read from whatever shows it: nvidia-smi's `CUDA Version: N/A`, NVML answering while libcuda
cannot be loaded, or the person saying nvidia-smi works in the container while CUDA finds no driver; and the NVIDIA
modules that depend on nvidia.ko showing it loaded; then the messages of later blind batches and of maintainers'
answers read before any case needed them. Every quoted line is from the public thread named beside it; the snapshots
around them are hand-built in tmp_path, and the few lines with no thread named beside them (an lsmod listing, a
one-line nvidia-smi -L, a table header) are synthesised states that set the scene for a guard, not outputs under test."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _root_fail, _snapshot
from tfdoctor.evidence import Source, observe

# PyTorch's message when libcuda.so.1 cannot be loaded (AbdBarho/stable-diffusion-webui-docker#348)
TORCH_NO_DRIVER = ("RuntimeError: Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU "
                   "and installed a driver from http://www.nvidia.com/Download/index.aspx\n")
# the reporter's words, AbdBarho/stable-diffusion-webui-docker#348 and NVIDIA/nvidia-docker#533
SAID_348 = "I have good nvidia-smi in the docker container. But get this error.\n"
SAID_533 = ("I've followed your instructions and am able to open nvidia-smi inside the container, which displays the "
            "driver version 387.12, same as my local machine.\n")
# nvidia-smi inside a container started with --runtime=nvidia (turlucode/ros-docker-gui#12), verbatim
SMI_NA = """Fri Mar  4 04:18:18 2022
+-----------------------------------------------------------------------------+
| NVIDIA-SMI 470.57.02    Driver Version: 470.57.02    CUDA Version: N/A      |
|-------------------------------+----------------------+----------------------+
| GPU  Name        Persistence-M| Bus-Id        Disp.A | Volatile Uncorr. ECC |
| Fan  Temp  Perf  Pwr:Usage/Cap|         Memory-Usage | GPU-Util  Compute M. |
|                               |                      |               MIG M. |
|===============================+======================+======================|
|   0  Quadro P620         Off  | 00000000:01:00.0 Off |                  N/A |
| N/A   54C    P3    N/A /  N/A |    523MiB /  4042MiB |      0%      Default |
|                               |                      |                  N/A |
+-------------------------------+----------------------+----------------------+
"""


def _ids(kind: str, text: str) -> list[str]:
    return [o.message for o in observe(Source(kind, "test", text))]


def test_the_statements_that_nvidia_smi_works_in_the_container_are_read():
    assert _ids("tensorflow", SAID_348) == ["smi-works-in-container-stated"]
    assert _ids("tensorflow", SAID_533) == ["smi-works-in-container-stated"]
    assert _ids("tensorflow", "nvidia-smi works fine inside the container\n") == ["smi-works-in-container-stated"]
    # not a statement that it works there
    for line in ("nvidia-smi works on the host but not in the container", "nvidia-smi doesn't work in the container",
                 "When I run nvidia-smi in the container I get an error", "unable to open nvidia-smi inside the container"):
        assert _ids("tensorflow", line + "\n") == [], line


def test_nvidia_smis_cuda_version_na_is_read_as_no_libcuda_where_it_ran():
    assert _ids("nvidia-smi", SMI_NA).count("smi-table-cuda-version-na") == 1
    # rapidsai/docker#405 pasted it with the bold the reporter added
    assert "smi-table-cuda-version-na" in _ids(
        "nvidia-smi", "| NVIDIA-SMI 450.36.06    Driver Version: 450.36.06    **CUDA Version: N/A**      |\n")
    assert "smi-table-cuda-version-na" not in _ids(
        "nvidia-smi", "| NVIDIA-SMI 535.54.03              Driver Version: 535.54.03    CUDA Version: 12.2     |\n")


def test_nvidia_smi_said_to_work_in_the_container_with_no_libcuda_is_the_compute_capability(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": SAID_348 + TORCH_NO_DRIVER}))
    f = report.get("container.capabilities")
    assert f.status.value == "fail" and report.root_cause.id == "container.capabilities"
    assert "without `compute`" in f.summary
    assert any("good nvidia-smi" in e.line for e in f.evidence) and any("Found no NVIDIA" in e.line for e in f.evidence)
    assert any("NVIDIA_DRIVER_CAPABILITIES=compute,utility" in c for c in f.fix.commands)
    assert any("capabilities: [gpu, compute, utility]" in a.when for a in f.fix.alternatives)
    # the container did get the GPU: not "started without GPU access"
    assert report.get("env.container").status.value not in ("fail", "warn")
    assert report.get("cuda.init").caused_by == "container.capabilities"


def test_nvidia_smi_showing_cuda_na_in_a_container_is_the_compute_capability(tmp_path):
    f = _root_fail(tmp_path, {"commands/nvidia-smi": SMI_NA, "files/.dockerenv": ""}, "container.capabilities")
    assert any("CUDA Version: N/A" in e.line for e in f.evidence)


def test_cuda_na_on_a_host_is_the_drivers_missing_cuda_library_not_a_container_setting(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/nvidia-smi": SMI_NA}))
    assert report.get("container.capabilities").status.value == "skip"
    f = report.get("cuda.init")
    assert f.status.value == "fail" and "libcuda.so.1" in f.summary and report.root_cause.id == "cuda.init"


def test_a_negated_statement_is_not_the_utility_capability(tmp_path):
    paste = "I am not able to run nvidia-smi inside the container.\n" + TORCH_NO_DRIVER
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": paste, "files/.dockerenv": ""}))
    assert report.get("container.capabilities").status.value != "fail"
    assert report.root_cause.id == "env.container"  # the container was started without the GPU


def test_the_capabilities_read_from_the_environment_outrank_the_inference(tmp_path):
    env = '{"NVIDIA_DRIVER_CAPABILITIES": "compute,utility"}'
    report = _check(_snapshot(tmp_path, {"commands/nvidia-smi": SMI_NA, "files/.dockerenv": "", "env.json": env}))
    f = report.get("container.capabilities")
    assert f.status.value == "ok", f.summary


# -- the modules that depend on nvidia.ko ----------------------------------------------------------------------
# NixOS/nixpkgs#334339: `lsmod | grep nvidia` as posted (the stored copy ends before the nvidia line)
LSMOD_DEPENDENTS = "nvidia_drm            122880  1\nnvidia_modeset       1916928  1 nvidia_drm\n"


def test_nvidia_modeset_loaded_shows_nvidia_loaded_and_a_missing_nvidia_uvm(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/lsmod": LSMOD_DEPENDENTS}))
    assert report.get("driver.nvidia-module").status.value == "ok"
    f = report.get("cuda.device-nodes")
    # a listing alone, with nothing run on CUDA: nvidia-modprobe loads nvidia_uvm at the first CUDA program (stop 23);
    # the thread's own `lsmod | grep nvidia_uvm` printing nothing is the failure (tests/test_wave25_evidence.py)
    assert f.status.value == "info" and "nvidia_uvm" in f.summary and report.root_cause is None


def test_a_listing_without_any_nvidia_module_still_shows_none_loaded(tmp_path):
    lsmod = "Module                  Size  Used by\nnouveau              2105344  3\nsnd_hda_intel          53248  4\n"
    report = _check(_snapshot(tmp_path, {"commands/lsmod": lsmod, "commands/nvidia-smi": (
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest "
        "NVIDIA driver is installed and running.\n"), "commands/nvidia-smi.rc": "9\n"}))
    assert report.get("driver.nvidia-module").status.value == "fail"


# -- "it broke with the kernel update": no module built for the new kernel ---------------------------------------
def test_the_statements_that_the_driver_broke_with_a_kernel_update_are_read():
    # negativo17/nvidia-driver#56, OpenMandriva distribution#1102, negativo17/nvidia-driver#92
    for line in ("For a while now, I have to manually do `sudo dkms install nvidia/xxx.xx` after a kernel upgrade "
                 "(Fedora 28). Why is this not happening automatically anymore?",
                 "> > Only 3.18.11 works.", "Does anyone else have problems after getting the 5.3.12 kernel?",
                 "Booting with 5.3.11 works fine", "after upgrading my kernel."):
        assert _ids("tensorflow", line + "\n") == ["kernel-update-broke-driver-stated"], line
    for line in ("after the kernel module loads", "after the kernel panic", "after installing the kernel headers",
                 "since kernel 6.2", "after installing the nvidia driver"):
        assert _ids("tensorflow", line + "\n") == [], line


def test_a_driver_broken_by_a_kernel_update_is_the_module_build_as_stated(tmp_path):
    paste = ("Does anyone else have problems after getting the 5.3.12 kernel?\n"
             "For me it boots into a black screen. Also doing a dmesg | grep NVIDIA does not show anything.\n"
             "Booting with 5.3.11 works fine\n")
    f = _root_fail(tmp_path, {"commands/pasted-text": paste}, "driver.dkms")
    assert "(as stated)" in f.summary and any("5.3.12" in e.line for e in f.evidence)


def test_a_module_that_exists_for_the_kernel_outranks_the_statement(tmp_path):
    paste = "NVIDIA stopped working after a kernel update\n"
    lsmod = "Module                  Size  Used by\nnvidia              56455168  2\nnvidia_uvm           1384448  0\n"
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": paste, "commands/lsmod": lsmod}))
    assert report.get("driver.dkms").status.value == "ok"


# -- akmods (the DKMS of RPM distributions) failing to build the NVIDIA kmod -------------------------------------
# negativo17/nvidia-driver#192, verbatim
AKMODS_LOG = """2026/02/11 18:46:29 akmods: Building RPM using the command '/usr/sbin/akmodsbuild --kernels 6.18.8-200.fc43.x86_64 /usr/src/akmods/nvidia-kmod.latest'
error: Failed build dependencies:
	gcc-c++ is needed by nvidia-kmod-3:590.48.01-1.fc43.x86_64
2026/02/11 18:46:34 akmods: Building rpms failed; see /var/cache/akmods/nvidia/590.48.01-1-for-6.18.8-200.fc43.x86_64.failed.log for details
"""


def test_akmods_failing_for_a_missing_build_tool_installs_that_tool_and_rebuilds(tmp_path):
    assert _ids("dkms", AKMODS_LOG) == ["rpmbuild-kmod-dependency-missing", "akmods-build-failed"]
    f = _root_fail(tmp_path, {"commands/pasted-text": AKMODS_LOG}, "driver.dkms")
    assert "6.18.8-200.fc43.x86_64" in f.summary and "gcc-c++" in f.summary
    assert f.fix.commands[0] == "sudo dnf install gcc-c++"
    assert "sudo akmods --force --kernels 6.18.8-200.fc43.x86_64" in f.fix.commands


def test_a_build_dependency_outside_the_known_tools_is_never_put_in_a_command(tmp_path):
    log = AKMODS_LOG.replace("gcc-c++ is needed", "evil-package is needed")
    f = _check(_snapshot(tmp_path, {"commands/pasted-text": log})).get("driver.dkms")
    assert f.status.value == "fail"
    assert not any("evil" in c for c in f.fix.commands)
    assert f.fix.commands[0] == "sudo dnf install kernel-devel-6.18.8-200.fc43.x86_64"


def test_another_modules_akmods_failure_is_not_the_nvidia_modules():
    line = ("akmods: Building rpms failed; see /var/cache/akmods/VirtualBox/7.0.12-1-for-6.6.8-200.fc39.x86_64.failed.log "
            "for details\n")
    assert _ids("dkms", line) == []


# -- SELinux denying the module's load ------------------------------------------------------------------------
# negativo17/nvidia-driver#16, verbatim but for the host name
AVC = ('Feb 26 13:10:52 host audit[520]: AVC avc:  denied  { module_load } for  pid=520 comm="systemd-udevd" '
       'path="/usr/lib/modules/4.9.11-200.fc25.x86_64/extra/nvidia.ko" dev="sda2" ino=75793620 '
       'scontext=system_u:system_r:udev_t:s0-s0:c0.c1023 tcontext=unconfined_u:object_r:modules_object_t:s0 '
       'tclass=system permissive=0\n')


def test_an_enforced_selinux_denial_of_the_nvidia_module_is_why_it_is_not_loaded(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": AVC}, "driver.nvidia-module")
    assert "SELinux" in f.summary
    assert f.fix.commands[0] == "sudo dnf upgrade selinux-policy-targeted"
    assert any("module_load" in e.line for e in f.evidence)


def test_a_permissive_denial_did_not_stop_the_load_and_is_not_read():
    assert _ids("kernel", AVC.replace("permissive=0", "permissive=1")) == []
    assert _ids("kernel", AVC.replace("nvidia.ko", "vboxdrv.ko")) == []


# -- a MIG device named the pre-R470 way, as LXD's snapped CLI prints it --------------------------------------
# NVIDIA/nvidia-container-toolkit#203, verbatim
MIG_LEGACY = ("nvidia-container-cli.real: device error: MIG-GPU-932bfb2c-849a-2a22-1e84-9eff6bc02b39/1/0: unknown "
              "device\n")


def test_a_legacy_mig_device_name_is_the_unknown_device_and_its_uuid_never_shows(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/nvidia-container-cli_configure.err": MIG_LEGACY,
                                         "commands/nvidia-container-cli_configure.rc": "1\n"}))
    f = report.get("env.cuda-visible-devices")
    assert f.status.value == "fail" and "since R470" in f.summary and "MIG-<uuid>" in f.summary
    assert "932bfb2c" not in f.summary  # redacted before it was shortened for the summary


# -- cuInit's 500 inside a container: a toolkit older than the driver ------------------------------------------
# tensorflow/tensorflow#68710 (TF 2.16 in Docker under WSL2, Windows driver 555.85), verbatim; NVIDIA's answer in
# NVIDIA/nvidia-container-toolkit#520
NOT_FOUND = ("2024-05-27 18:05:31.089452: E external/local_xla/xla/stream_executor/cuda/cuda_driver.cc:282] failed call "
             "to cuInit: CUDA_ERROR_NOT_FOUND: named symbol not found\n")


def test_cuinit_not_found_in_a_container_is_the_toolkit_older_than_the_driver(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": NOT_FOUND, "files/.dockerenv": ""}))
    f = report.get("container.toolkit")
    assert f.status.value == "fail" and report.root_cause.id == "container.toolkit"
    assert "1.15.0" in f.fix.summary and "libnvdxgdmal" in f.summary
    # the container did get the GPU (libcuda ran): not "started without GPU access"
    assert report.get("env.container").status.value not in ("fail", "warn")
    assert report.get("cuda.init").caused_by == "container.toolkit"


def test_cuinit_not_found_on_a_host_is_not_blamed_on_a_container_toolkit(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": NOT_FOUND}))
    assert report.get("container.toolkit").status.value != "fail"


def test_under_wsl_the_containers_500_is_still_the_toolkits(tmp_path):
    # the person says WSL2 (microsoft/WSL's form of words); the log is the container's
    report = _check(_snapshot(tmp_path, {"tensorflow.log": NOT_FOUND, "files/.dockerenv": "",
                                         "commands/pasted-text": "Running Docker Desktop with the WSL2 backend\n"}))
    assert report.root_cause.id == "container.toolkit"
    assert report.get("env.wsl").status.value != "fail"


# -- protobuf's own wording, double negative and all ---------------------------------------------------------
# tensorflow/tensorflow#56266 (TF 2.7.1 with protobuf 4.21.0), verbatim
PROTOBUF = """TypeError: Descriptors cannot not be created directly.
If this call came from a _pb2.py file, your generated code is out of date and must be regenerated with protoc >= 3.19.0.
If you cannot immediately regenerate your protos, some other possible workarounds are:
 1. Downgrade the protobuf package to 3.20.x or lower.
"""


def test_protobufs_descriptors_message_as_it_was_printed_is_the_import_failure(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": PROTOBUF}, "tf.import")
    assert any("protobuf==3.20.*" in c for c in f.fix.commands)


# -- what a GPU in trouble looks like when nobody pasted the kernel's lines ------------------------------------
def test_xid_codes_named_by_the_person_are_read_as_stated():
    # wtdcode/vllm-backport#62 (the reporter's summary of dmesg), verbatim
    line = "  - `Xid 48 / 171`: uncorrectable double-bit ECC (DBE) in HBM framebuffer\n"
    assert _ids("tensorflow", line) == ["xid-stated"]
    # the kernel's own line is nvrm-xid's, not a statement
    assert _ids("tensorflow", "NVRM: Xid (PCI:0000:01:00): 79, pid=1234\n") == []


def test_a_stated_double_bit_ecc_xid_fails_gpu_xid_as_stated(tmp_path):
    paste = "- `dmesg` shows repeated NVIDIA Xid events, all on the same GPU:\n  - `Xid 48 / 171`: uncorrectable " \
            "double-bit ECC (DBE) in HBM framebuffer\n"
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": paste}))
    f = report.get("gpu.xid")
    assert f.status.value == "fail" and "Xid 48" in f.summary and "as stated" in f.summary


def test_a_kernel_xid_outranks_the_stated_ones(tmp_path):
    dmesg = "NVRM: Xid (PCI:0000:01:00): 13, Graphics SM Warp Exception\n"
    report = _check(_snapshot(tmp_path, {"commands/dmesg": dmesg, "commands/pasted-text": "I also saw Xid 79 once\n"}))
    f = report.get("gpu.xid")
    assert "Xid 13" in f.summary and "as stated" not in f.summary


# NVIDIA/dcgm-exporter#319 (8x A10G, 535.161.08, GSP errors), verbatim
SMI_Q_UNKNOWN = """==============NVSMI LOG==============

Driver Version                            : 535.161.08
CUDA Version                              : 12.2

Attached GPUs                             : 8
GPU 00000000:00:16.0
    Product Name                          : NVIDIA A10G
    Product Brand                         : Unknown Error
    Product Architecture                  : Ampere
"""


def test_a_gpu_answering_unknown_error_for_its_brand_is_in_an_error_state(tmp_path):
    f = _root_fail(tmp_path, {"commands/nvidia-smi_-q": SMI_Q_UNKNOWN}, "nvml.devices")
    assert "Unknown Error" in f.summary
    cli = ("stderr: Auto-detected mode as 'legacy'\\nnvidia-container-cli: detection error: nvml error: unknown "
           "error: unknown\n")
    assert _ids("container", cli) == ["container-cli-nvml-unknown-error"]


def test_an_err_reading_of_power_is_not_an_error_state(tmp_path):
    # Azure/azhpc-diagnostics#77: ERR! for power draw on a healthy V100 (transient)
    assert _ids("nvidia-smi", "    Power Draw                        : ERR!\n") == []


# -- cuDNN's refusal and TensorFlow 0.x's cuDNN loader, with no probe record ----------------------------------
def test_tensorflows_cudnn_refusal_quoted_in_a_paste_is_read_without_its_log(tmp_path):
    # spyflying/CMPC-Refseg#2, verbatim
    paste = ("raise core dump error:Loaded runtime CuDNN library: 7605 (compatibility version 7600) but source was "
             "compiled with 7102 (compatibility version 7100).\n")
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": paste}))
    f = report.get("tf.cuda-libs")
    assert f.status.value == "fail" and "cuDNN 7.6.5" in f.summary and "7.1.2" in f.summary


def test_tensorflow_0x_unable_to_load_cudnn_is_the_missing_cudnn(tmp_path):
    # tensorflow/tensorflow#62 (TF 0.5, CUDA 7.0, cuDNN v3 installed), verbatim
    log = ("I tensorflow/stream_executor/dso_loader.cc:77] LD_LIBRARY_PATH: :/usr/local/cuda-7.0/lib64\n"
           "I tensorflow/stream_executor/cuda/cuda_dnn.cc:1062] Unable to load cuDNN DSO.\n")
    report = _check(_snapshot(tmp_path, {"tensorflow.log": log}))
    f = report.get("tf.cuda-libs")
    assert f.status.value == "fail" and "Unable to load cuDNN DSO" in f.summary


def test_the_shells_command_not_found_is_nvidia_smi_not_installed_whatever_the_status():
    # NVIDIA/gpu-operator#178 (Ubuntu's command-not-found handler on a GPU Operator node), verbatim
    from tfdoctor.probes.nvidia_smi import classify_nvidia_smi_failure

    text = "Command 'nvidia-smi' not found, but can be installed with:\napt install nvidia-340\napt install nvidia-utils-390\n"
    assert classify_nvidia_smi_failure(1, text)[0] == "not-installed"
    assert classify_nvidia_smi_failure(1, "bash: nvidia-smi: command not found\n")[0] == "not-installed"
    assert classify_nvidia_smi_failure(1, "Failed to initialize NVML: Unknown Error\n")[0] != "not-installed"


# -- what installers and package scripts print ------------------------------------------------------------------
# pop-os/pop#1355 (Pop!_OS 20.10, nvidia-dkms-455 on kernel 5.8), verbatim
DPKG_CONFIGURE = """Building initial module for 5.8.0-7625-generic
Error! Bad return status for module build on kernel: 5.8.0-7625-generic (x86_64)
Consult /var/lib/dkms/nvidia/455.28/build/make.log for more information.
dpkg: error processing package nvidia-dkms-455 (--configure):
 installed nvidia-dkms-455 package post-installation script subprocess returned error exit status 10
"""


def test_dpkg_configure_output_is_read_as_what_the_package_scripts_printed(tmp_path):
    f = _root_fail(tmp_path, {"commands/dpkg_--configure_-a": DPKG_CONFIGURE}, "driver.dkms")
    assert "5.8.0-7625-generic" in f.summary


# clearlinux/distribution#1970 (the NVIDIA module's make.log), verbatim
CC_CHECK = """DKMS make.log for nvidia-440.82 for kernel 5.4.40-38.lts2019 (x86_64)
Compiler version check failed:

The major and minor number of the compiler used to
compile the kernel:

gcc version 9.3.1 20200507 releases/gcc-9.3.0-217-g7790399265 (Clear Linux OS for Intel Architecture)
"""


def test_a_compiler_version_check_failure_is_the_module_build_and_names_the_compiler(tmp_path):
    report = _check(_snapshot(tmp_path, {"files/var/lib/dkms/nvidia/440.82/build/make.log": CC_CHECK}))
    f = report.get("driver.dkms")
    assert f.status.value == "fail" and "compiler" in f.summary and "$(" not in f.summary
    assert "cat /proc/version" in f.fix.summary and f.fix.commands[-1] == "sudo reboot"


# NVIDIA/gpu-driver-container#44 (the installer in a driver container, Ubuntu 24.04, Secure Boot on), verbatim
INSTALLER_REFUSED = ("ERROR: Unable to load the kernel module 'nvidia.ko'.  This happens most frequently when this "
                     "kernel module was built against the wrong or improperly configured kernel sources, with a "
                     "version of gcc that differs from the one used to build the target kernel, or if another driver, "
                     "such as nouveau, is present\n")


def test_the_installer_unable_to_load_the_module_is_not_a_reboot_owed(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": INSTALLER_REFUSED}))
    f = report.get("driver.nvidia-module")
    assert f.status.value == "fail" and "refused to load it" in f.summary and "reboot" not in f.summary


def test_with_secure_boot_stated_the_refused_module_is_secure_boots(tmp_path):
    said = ("compiling the nvidia-driver source code to use the driver version 535.161.07, Cuda version 12.3.2 with "
            "ubuntu 24.04 and the secure boot feature enabled.\n")
    assert _ids("tensorflow", said) == ["secure-boot-stated"]
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": said + INSTALLER_REFUSED}))
    assert report.root_cause.id == "driver.secure-boot"


# -- 'no kernel image' from any program: the program's kernels, not CUDA -----------------------------------------
# OpenBMB/BMInf#29 (a Tesla P100 and a library built for compute capability 6.1), verbatim
NO_IMAGE = """GPU Device 0: "Pascal" with compute capability 6.0
Compute 6.0 CUDA device: [Tesla P100-PCIE-16GB]

RuntimeError: CUDA Error: no kernel image is available for execution on the device
"""


def test_no_kernel_image_from_a_program_is_its_missing_kernels_for_the_gpus_compute_capability(tmp_path):
    assert "cuda-samples-gpu-device" in _ids("tensorflow", NO_IMAGE)
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": NO_IMAGE}))
    f = report.get("compat.compute-capability")
    assert f.status.value == "fail" and "compute capability 6.0" in f.summary
    assert report.root_cause.id == "compat.compute-capability"


def test_an_invalid_kernel_image_is_not_read_as_missing_kernels(tmp_path):
    # 'device kernel image is invalid' is PTX newer than the driver, not a missing architecture
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": "Status: device kernel image is invalid\n"}))
    assert report.get("compat.compute-capability").status.value != "fail"


# -- batch 19: containers and WSL --------------------------------------------------------------------------------
def test_ldd_naming_the_stub_libcuda_with_its_load_address_is_the_stub(tmp_path):
    # tensorflow/tensorflow#14224 (the official 1.4.0-devel-gpu image), verbatim
    ldd = "        libcuda.so.1 => /usr/local/cuda/lib64/stubs/libcuda.so.1 (0x00007f9de7215000)\n"
    log = ("2017-11-03 17:57:11.181620: E tensorflow/stream_executor/cuda/cuda_driver.cc:406] failed call to cuInit: "
           "CUresult(-1)\n")
    report = _check(_snapshot(tmp_path, {"commands/ldd_tf.so": ldd, "tensorflow.log": log, "files/.dockerenv": ""}))
    assert report.get("cuda.libcuda").status.value == "fail" and report.root_cause.id == "cuda.libcuda"
    assert report.get("env.container").status.value not in ("fail", "warn")


def test_nvidia_docker_1s_nvml_mismatch_is_the_driver_library_mismatch(tmp_path):
    # NVIDIA/nvidia-docker#270, verbatim
    err = "nvidia-docker | 2016/12/17 05:23:46 Error: nvml: Driver/library version mismatch\n"
    f = _root_fail(tmp_path, {"commands/nvidia-docker_run_image.err": err,
                              "commands/nvidia-docker_run_image.rc": "1\n"}, "nvml.init")
    assert "different versions" in f.summary


def test_wsl2_in_lower_case_is_read_but_a_bare_lower_case_wsl_is_not():
    # docker/for-win#10379's title, verbatim
    assert _ids("tensorflow", "Unable to run docker gpu for wsl2, getting OCI runtime create failed\n") == ["wsl-stated"]
    assert _ids("tensorflow", "ls /usr/lib/wsl/lib\n") == []


def test_the_container_runtimes_driver_error_under_wsl_is_wsls(tmp_path):
    # docker/for-win#10379 (Docker Desktop's WSL2 backend on a Windows without GPU support), verbatim
    err = ("docker: Error response from daemon: OCI runtime create failed: container_linux.go:370: starting container "
           "process caused: process_linux.go:459: container init caused: Running hook #0:: error running hook: exit "
           "status 1, stdout: , stderr: nvidia-container-cli: initialization error: driver error: failed to process "
           "request: unknown.\n")
    report = _check(_snapshot(tmp_path, {"commands/docker_run_gpu.err": err, "commands/docker_run_gpu.rc": "125\n",
                                         "commands/pasted-text": "Unable to run docker gpu for wsl2\n"}))
    assert report.root_cause.id == "env.wsl"


def test_cuda_pythons_unversioned_libcuda_under_wsl_points_at_the_wsl_library_folder(tmp_path):
    # NVIDIA/cuda-python#17, verbatim
    paste = "Failed to dlopen libcuda.so in WSL environment\n\nRuntimeError: Failed to dlopen libcuda.so\n"
    assert "cuda-python-libcuda-so-dlopen-failed" in _ids("cuda", paste)
    assert _ids("cuda", "Failed to dlopen libcuda.so.1\n") == []
    f = _root_fail(tmp_path, {"commands/pasted-text": paste}, "env.wsl")
    # the loader path is the fix itself where the driver answers (stop 23), an alternative otherwise
    assert any("/usr/lib/wsl/lib" in c for c in (*f.fix.commands, *(c for a in f.fix.alternatives for c in a.commands)))


# -- messages mined from NVIDIA's answers before any case needed them ---------------------------------------------
def _toolkit_for(tmp_path, err: str):
    tmp_path.mkdir(parents=True, exist_ok=True)
    return _check(_snapshot(tmp_path, {"commands/docker_run_gpu.err": err, "commands/docker_run_gpu.rc": "125\n"}))


def test_the_engines_own_refusals_name_their_fix(tmp_path):
    cases = [
        # NVIDIA/gpu-operator#413
        ("Failed to create pod sandbox: rpc error: code = Unknown desc = failed to get sandbox runtime: no runtime for "
         "\"nvidia\" is configured\n", "containerd has no `nvidia` runtime",
         "sudo nvidia-ctk runtime configure --runtime=containerd"),
        # NVIDIA/nvidia-docker#1199
        ("unknown flag: --gpus\n", "older than 19.03", None),
        # NVIDIA/nvidia-docker#1337
        ("docker: Error response from daemon: exec: \"nvidia-container-runtime-hook\": executable file not found in "
         "$PATH.\n", "nvidia-container-runtime-hook", "sudo nvidia-ctk runtime configure --runtime=docker"),
        # NVIDIA/nvidia-container-toolkit#63
        ("Error: stat nvidia.com/gpu=0: no such file or directory\n", "older than 4.1", None),
        # NVIDIA/nvidia-container-toolkit#434
        ("docker: Error response from daemon: could not select device driver \"cdi\" with capabilities: [].\n",
         "CDI", "sudo systemctl restart docker"),
    ]
    for n, (err, words, command) in enumerate(cases):
        report = _toolkit_for(tmp_path / str(n), err)
        f = report.get("container.toolkit")
        assert f.status.value == "fail" and words in f.summary, (err, f.summary)
        assert report.root_cause.id == "container.toolkit", err
        if command:
            assert command in f.fix.commands, (err, f.fix.commands)


def test_the_rootless_ebpf_device_filter_denial_is_no_cgroups(tmp_path):
    # NVIDIA/libnvidia-container#154, verbatim
    err = ("nvidia-container-cli: mount error: failed to add device rules: unable to find any existing device filters "
           "attached to the cgroup: bpf_prog_query(BPF_CGROUP_DEVICE) failed: operation not permitted: unknown.\n")
    f = _toolkit_for(tmp_path, err).get("container.toolkit")
    assert f.status.value == "fail" and any("no-cgroups" in c for c in f.fix.commands)


def test_the_device_plugins_own_hint_is_the_runtime_not_being_the_default(tmp_path):
    # NVIDIA/k8s-device-plugin#182, verbatim
    log = ("2020/10/14 18:04:53 Failed to initialize NVML: could not load NVML library.\n"
           "2020/10/14 18:04:53 If this is a GPU node, did you set the docker default runtime to `nvidia`?\n")
    report = _check(_snapshot(tmp_path, {"commands/kubectl_logs_nvidia-device-plugin": log}))
    f = report.get("container.toolkit")
    assert f.status.value == "fail" and "not the container engine's default runtime" in f.summary
    assert any("--set-as-default" in c for c in f.fix.commands)


def test_nccl_out_of_shared_memory_is_the_containers_shm_size(tmp_path):
    # NVIDIA/nccl#290, verbatim
    log = "gpu2-ru7:2143:2561 [1] include/shm.h:28 NCCL WARN Call to posix_fallocate failed : No space left on device\n"
    report = _check(_snapshot(tmp_path, {"tensorflow.log": log, "files/.dockerenv": ""}))
    f = report.get("env.container")
    assert f.status.value == "fail" and "/dev/shm" in f.summary and "--shm-size=1g" in f.fix.summary
    assert report.root_cause.id == "env.container"
    # another NCCL failure is not read as /dev/shm
    assert _ids("tensorflow", "NCCL WARN Error while creating shared memory segment /dev/shm/x (size 9637888), "
                              "error: Permission denied (13)\n") == []


def test_pythons_nvml_binding_saying_driver_not_loaded_is_the_module_not_loaded(tmp_path):
    # wookayin/gpustat#110, verbatim
    _root_fail(tmp_path, {"commands/pasted-text": "pynvml.NVMLError_DriverNotLoaded: Driver Not Loaded\n"},
               "driver.nvidia-module")


def test_the_gsp_firmware_of_the_modules_version_missing_is_why_the_gpu_is_not_initialised(tmp_path):
    # NVIDIA/open-gpu-kernel-modules#263, verbatim; the module is loaded, nvidia-smi finds no device
    dmesg = "nvidia 0000:01:00.0: Direct firmware load for nvidia/515.43.04/gsp.bin failed with error -2\n"
    lsmod = "Module                  Size  Used by\nnvidia              56455168  0\n"
    f = _root_fail(tmp_path, {"commands/dmesg": dmesg, "commands/lsmod": lsmod,
                              "commands/nvidia-smi": "No devices were found\n",
                              "commands/nvidia-smi.rc": "6\n"}, "driver.nvidia-module")
    assert "GSP firmware" in f.summary
    # nouveau's firmware has no version folder: not this message
    assert _ids("kernel", "nouveau 0000:01:00.0: Direct firmware load for nvidia/gk20a/fecs_inst.bin failed with "
                          "error -2\n") == []


def test_a_gpu_working_after_the_firmware_line_is_not_failed(tmp_path):
    dmesg = "nvidia 0000:01:00.0: Direct firmware load for nvidia/550.76/gsp_ga10x.bin failed with error -2\n"
    smi = ("| NVIDIA-SMI 550.76                 Driver Version: 550.76         CUDA Version: 12.4     |\n")
    report = _check(_snapshot(tmp_path, {"commands/dmesg": dmesg, "commands/nvidia-smi_-L":
                                         "GPU 0: NVIDIA GeForce RTX 4090 (UUID: GPU-00000000-0000-0000-0000-000000000000)\n",
                                         "commands/nvidia-smi": smi}))
    assert report.get("driver.nvidia-module").status.value != "fail"


# -- CUDA programs other than TensorFlow, and libraries quoted in prose -----------------------------------------
def test_pytorchs_driver_initialization_failed_is_cuinits_3(tmp_path):
    # wenet-e2e/wenet#700, verbatim (the path shortened)
    line = ("torch/cuda/__init__.py:52: UserWarning: CUDA initialization: CUDA driver initialization failed, you "
            "might not have a CUDA gpu.\n")
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": line}))
    f = report.get("cuda.init")
    assert f.status.value == "fail" and "CUDA_ERROR_NOT_INITIALIZED (3)" in f.summary
    assert any("uvm_disable_hmm=1" in c for c in f.fix.commands)


def test_cupys_no_device_and_numbas_missing_libcuda_are_read():
    # cupy/cupy#2549; numba/numba#3396, verbatim
    assert _ids("cuda", "cupy.cuda.runtime.CUDARuntimeError: cudaErrorNoDevice: no CUDA-capable device is detected\n") \
        == ["cuda-runtime-no-device"]
    assert _ids("cuda", "CudaSupportError: Error at driver init: CUDA driver library cannot be found\n") == [
        "numba-libcuda-not-found"]


def test_a_truncated_libcuda_is_the_libcuda_not_a_missing_driver(tmp_path):
    # hpc-admin-sist/DockerMonitor#11 (a cluster's login node), verbatim
    f = _root_fail(tmp_path, {"tensorflow.log": "ImportError: /usr/lib/x86_64-linux-gnu/libcuda.so.1: file "
                                                           "too short\n"}, "cuda.libcuda")
    assert "not a valid library" in f.summary


def test_a_cuda_library_quoted_in_prose_is_tensorflows_missing_library(tmp_path):
    # google-research/text-to-text-transfer-transformer#40, verbatim
    said = ("I see some warnings like `libcudart.so.10.0: cannot open shared object file: No such file or directory`. "
            "Could be that?\n")
    f = _root_fail(tmp_path, {"commands/pasted-text": said}, "tf.cuda-libs")
    assert "libcudart.so.10.0" in f.summary
    assert any("10.0" in c or "10-0" in c for c in f.fix.commands)


def test_a_gpu_held_by_vfio_pci_is_reserved_for_a_vm(tmp_path):
    # jurkovic-nikola/OpenLinkHub#174 (the dmesg line while vfio-pci holds the GPU), verbatim
    f = _root_fail(tmp_path, {"commands/dmesg": "[10582.980815] NVRM: GPU 0000:01:00.0 is already bound to "
                                                           "vfio-pci.\n"}, "driver.nvidia-module")
    assert "vfio-pci" in f.summary
    assert not any("0000:01:00.0" in c for c in f.fix.commands)  # the line's address never enters a command


def test_tensorflows_own_build_info_saying_no_cuda_is_a_cpu_build(tmp_path):
    # nanoporetech/medaka#428 (the medaka image's TensorFlow), verbatim
    out = "OrderedDict([('is_cuda_build', False), ('is_rocm_build', False), ('is_tensorrt_build', False)]) 2.7.1\n"
    f = _root_fail(tmp_path, {"commands/pasted-text": out}, "tf.cuda-build")
    assert "is_cuda_build False" in f.summary


def test_tensorflows_lines_in_a_docker_runs_output_are_read(tmp_path):
    # tensorflow/tensorflow#44597 (tensorflow/serving's GPU image run without --gpus), verbatim but for the container id
    out = ("2020-11-02 21:06:24.739827: W tensorflow/stream_executor/cuda/cuda_driver.cc:312] failed call to cuInit: "
           "UNKNOWN ERROR (303)\n"
           "2020-11-02 21:06:24.739901: I tensorflow/stream_executor/cuda/cuda_diagnostics.cc:156] kernel driver does "
           "not appear to be running on this host (6b3e1f0a2c4d): /proc/driver/nvidia/version does not exist\n")
    key = "commands/docker_run_--rm_tensorflow%2Fserving:latest-devel-gpu_python_-c_import_tensorflow"
    report = _check(_snapshot(tmp_path, {key: out}))
    assert report.root_cause.id == "env.container"


def test_xla_unable_to_run_ptxas_is_the_missing_compiler_tools(tmp_path):
    # YoshitakaMo/localcolabfold#70 (XLA in a CUDA -base image), verbatim
    log = ("2022-03-11 15:15:48.010379: W external/org_tensorflow/tensorflow/stream_executor/gpu/asm_compiler.cc:80] "
           "Couldn't get ptxas version string: INTERNAL: Couldn't invoke ptxas --version\n")
    f = _check(_snapshot(tmp_path, {"tensorflow.log": log})).get("tf.cuda-libs")
    assert f.status.value == "warn" and "ptxas" in f.summary


def test_shared_memory_too_small_is_read_from_any_programs_output(tmp_path):
    # pytorch/ci-infra#490 (NCCL in a Kubernetes CI pod), verbatim; kubeflow/pipelines#6510 (PyTorch's DataLoader)
    nccl = ("[2026-04-22 21:34:20] gpu-runner-workflow:202016:202235 [0] misc/shmutils.cc:88 NCCL WARN Error: failed to "
            "extend /dev/shm/nccl-WU88OE to 9637892 bytes, error: No space left on device (28)\n")
    f = _root_fail(tmp_path, {"commands/python_-m_pytest_test_distributed.py": nccl}, "env.container")
    assert "NCCL" in f.summary
    bus = "ERROR: Unexpected bus error encountered in worker. This might be caused by insufficient shared memory (shm).\n"
    (tmp_path / "b").mkdir()
    f = _check(_snapshot(tmp_path / "b", {"commands/pasted-text": bus})).get("env.container")
    assert f.status.value == "fail" and "DataLoader" in f.summary and "--shm-size=1g" in f.fix.summary


def test_the_installers_failed_dkms_build_is_the_module_build(tmp_path):
    # Azure/aks-engine#3269 (a GPU node's set-up running the .run installer with DKMS), verbatim
    out = ("ERROR: Failed to run `/usr/sbin/dkms build -m nvidia -v 418.40.04 -k\n       5.3.0-1020-azure`: \n"
           "       Kernel preparation unnecessary for this kernel.  Skipping...\n")
    _root_fail(tmp_path, {"commands/pasted-text": out, "commands/uname_-r": "5.3.0-1020-azure\n"}, "driver.dkms")


def test_insmods_unknown_symbol_is_a_dependency_not_loaded_first(tmp_path):
    # src-d/coreos-nvidia#3 (the confirmed fix: modprobe ipmi_devintf first), verbatim
    err = ("insmod: ERROR: could not insert module /opt/nvidia/lib/modules/4.14.16/video/nvidia.ko: Unknown symbol in "
           "module\n")
    f = _root_fail(tmp_path, {"commands/insmod_nvidia.ko.err": err, "commands/insmod_nvidia.ko.rc": "1\n"},
                   "driver.nvidia-module")
    assert "Unknown symbol" in f.summary
    assert f.fix.commands == ("sudo modprobe ipmi_devintf", "sudo modprobe nvidia")


def test_an_older_nvjitlink_found_first_is_the_ld_library_path(tmp_path):
    # pytorch/pytorch#111469 (PyTorch's malfet: an older CUDA 12 toolkit on LD_LIBRARY_PATH), verbatim
    err = ("ImportError: /usr/local/lib/python3.10/dist-packages/torch/lib/../../nvidia/cusparse/lib/libcusparse.so.12: "
           "undefined symbol: __nvJitLinkAddData_12_1, version libnvJitLink.so.12\n")
    f = _root_fail(tmp_path, {"commands/pasted-text": err}, "python.ld-library-path")
    assert "libnvJitLink" in f.summary
    assert f.fix.commands == ("unset LD_LIBRARY_PATH",)


def test_xid_79_after_a_failed_d3cold_power_up_is_runtime_power_management(tmp_path):
    # system76/firmware-open#259 (an Oryp6 laptop), verbatim
    dmesg = ("kernel: nvidia 0000:01:00.0: can't change power state from D3cold to D0 (config space inaccessible)\n"
             "kernel: NVRM: Xid (PCI:0000:01:00): 79, pid=7992, GPU has fallen off the bus.\n")
    f = _check(_snapshot(tmp_path, {"commands/dmesg": dmesg})).get("gpu.xid")
    assert "Xid 79" in f.summary and "D3cold" in f.fix.summary
    assert any("NVreg_DynamicPowerManagement=0x00" in c for c in f.fix.commands)
    # Xid 79 alone keeps its own advice
    (tmp_path / "b").mkdir()
    g = _check(_snapshot(tmp_path / "b", {"commands/dmesg": dmesg.split("\n", 1)[1]})).get("gpu.xid")
    assert "D3cold" not in g.fix.summary


def test_a_gpu_not_in_the_drivers_release_names_the_branch_it_needs(tmp_path):
    # flatcar/Flatcar#1283 (a Tesla P40 under the plain 535 driver), verbatim
    dmesg = ("[130852.530546] NVRM: The NVIDIA GPU 0000:02:00.0 (PCI ID: 10de:1b38)\n"
             "                NVRM: installed in this system is not supported by the\n"
             "                NVRM: NVIDIA 535.104.05 driver release.\n"
             "                NVRM: Please see 'Appendix A - Supported NVIDIA GPU Products'\n")
    f = _root_fail(tmp_path, {"commands/dmesg": dmesg}, "driver.recommended")
    assert "535.104.05" in f.summary
    assert any("vGPU" in a.when for a in f.fix.alternatives)
