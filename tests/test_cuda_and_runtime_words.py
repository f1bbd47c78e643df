"""What CUDA programs, container runtimes and issue forms print, read wherever it was pasted: CUDA's 'driver version is
insufficient' from any CUDA program, 'busy or unavailable' (46), 803/804 without a driver-API record, Docker's unknown
`nvidia` runtime, a stale CDI spec, an NGC image older than the GPU, the GPU a person names (and so the machine without
an NVIDIA GPU), and GitHub issue forms' `### Field` / answer layout. Every quoted line is from the public thread named
beside it; the snapshots around them are hand-built in tmp_path (a state synthesised for the test)."""

from __future__ import annotations

from tests.corpus import diagnosis_of
from tests.test_stated_evidence import _check, _snapshot

DEVICE_QUERY_35 = (  # torch/cutorch#308: CUDA's deviceQuery sample on a driver older than its runtime
    "./deviceQuery Starting...\n\n CUDA Device Query (Runtime API) version (CUDART static linking)\n\n"
    "cudaGetDeviceCount returned 35\n-> CUDA driver version is insufficient for CUDA runtime version\nResult = FAIL\n")


def test_cudas_insufficient_driver_in_any_programs_output_is_a_driver_too_old(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/.%2FdeviceQuery": DEVICE_QUERY_35}))
    f = report.get("compat.driver-cuda")
    assert f.status.value == "fail" and report.root_cause.id == "compat.driver-cuda"
    assert any("insufficient for CUDA runtime" in e.line for e in f.evidence)


def test_the_cuda_runtime_tensorflow_opened_names_the_driver_it_needs(tmp_path):
    # DrSleep/tensorflow-deeplab-resnet#208: TensorFlow 1.x's loader line for CUDA 8.0's cuBLAS
    log = "I tensorflow/stream_executor/dso_loader.cc:101] successfully opened CUDA library libcublas.so.8.0 locally\n"
    f = _check(_snapshot(tmp_path, {"commands/.%2FdeviceQuery": DEVICE_QUERY_35, "tensorflow.log": log})) \
        .get("compat.driver-cuda")
    assert "CUDA 8.0" in f.summary and "367.48" in f.summary  # CUDA 8.0's (8.0.44) minimum driver


BUSY = ("RuntimeError: CUDA error: CUDA-capable device(s) is/are busy or unavailable\n"  # pytorch/pytorch#100691
        "CUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace below might be "
        "incorrect.\n")


def test_busy_or_unavailable_points_at_the_compute_mode(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": BUSY}))
    f = report.get("gpu.compute-mode")
    assert f.status.value == "fail" and report.root_cause.id == "gpu.compute-mode"
    assert "sudo nvidia-smi -c DEFAULT" in f.fix.commands
    assert f.fix.alternatives and "Xid" in f.fix.alternatives[0].when  # the other cause NVIDIA names


def test_the_older_wording_and_an_exclusive_gpu_in_nvidia_smi(tmp_path):
    # NVIDIA/DIGITS#2005: Caffe's check line next to nvidia-smi showing the GPU in E. Process mode
    smi = ("+-----------------------------------------------------------------------------+\n"
           "| NVIDIA-SMI 375.26                 Driver Version: 375.26                    |\n"
           "|-------------------------------+----------------------+----------------------+\n"
           "| GPU  Name        Persistence-M| Bus-Id        Disp.A | Volatile Uncorr. ECC |\n"
           "| Fan  Temp  Perf  Pwr:Usage/Cap|         Memory-Usage | GPU-Util  Compute M. |\n"
           "|===============================+======================+======================|\n"
           "|   0  Tesla K40m          On   | 0000:04:00.0     Off |                    0 |\n"
           "| N/A   35C    P0    63W / 235W |     74MiB / 11439MiB |      0%   E. Process |\n"
           "+-------------------------------+----------------------+----------------------+\n")
    line = "Check failed: error == cudaSuccess (46 vs. 0)  all CUDA-capable devices are busy or unavailable\n"
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": line, "commands/nvidia-smi": smi}))
    f = report.get("gpu.compute-mode")
    assert f.status.value == "fail" and report.root_cause.id == "gpu.compute-mode"


def test_docker_without_the_nvidia_runtime(tmp_path):
    # NVIDIA/nvidia-container-toolkit#150
    err = "docker: Error response from daemon: unknown or invalid runtime name: nvidia.\n"
    report = _check(_snapshot(tmp_path, {"commands/docker_run_--runtime=nvidia_ubuntu.err": err,
                                         "commands/docker_run_--runtime=nvidia_ubuntu.rc": "125\n"}))
    assert report.root_cause.id == "env.container" and "Container Toolkit" in report.root_cause.summary


def test_a_cdi_spec_generated_for_another_driver(tmp_path):
    # containers/ramalama#1900: Fedora 42, the spec names 575.64.03, the driver is 575.64.05
    err = ("Error: crun: cannot stat `/usr/lib64/libEGL_nvidia.so.575.64.03`: No such file or directory: OCI runtime "
           "attempted to invoke a command that was not found\n")
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": err}))
    f = report.get("container.toolkit")
    assert f.status.value == "fail" and "575.64.03" in f.summary and report.root_cause.id == "container.toolkit"
    assert f.fix.commands == ("sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml",)


def test_803_without_a_driver_api_record_is_a_libcuda_that_is_not_the_drivers(tmp_path):
    # CompVis/stable-diffusion#439
    line = ("Error: RuntimeError: Unexpected error from cudaGetDeviceCount(). Did you run some cuda functions before "
            "calling NumCudaDevices() that might have already set an error? Error 803: system has unsupported display "
            "driver / cuda driver combination\n")
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": line}))
    f = report.get("cuda.libcuda")
    assert f.status.value == "fail" and "803" in f.summary and report.root_cause.id == "cuda.libcuda"
    assert any(a.commands == ("sudo reboot",) for a in f.fix.alternatives)


def test_804_is_a_compat_libcuda_on_a_gpu_without_forward_compatibility(tmp_path):
    # from a program's words alone (no libcuda read): the program's CUDA is newer than the driver, and forward
    # compatibility cannot bridge it on this GPU (stop 28: the corpus's 804 cases all accept compat.driver-cuda)
    line = "[ERROR]: cudaErrorCompatNotSupportedOnDevice: forward compatibility was attempted on non supported HW\n"
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": line}))  # Dr-Noob/gpufetch#53
    f = report.get("compat.driver-cuda")
    assert f.status.value == "fail" and report.root_cause is f and "forward-compatibility" in f.summary
    lib = report.get("cuda.libcuda")
    assert lib.status.value == "info" and "forward-compatibility" in lib.summary


def test_an_ngc_image_older_than_the_gpu(tmp_path):
    # HuangJunJie2017/BEVDet#314: nvcr.io/nvidia/tensorrt:22.07 on an RTX 4090 (22.12 works)
    text = ("WARNING: Detected NVIDIA NVIDIA GeForce RTX 4090 GPU, which is not yet supported in this version of the "
            "container\nERROR: No supported GPU(s) detected to run this container\n")
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": text}))
    f = report.get("compat.compute-capability")
    assert f.status.value == "fail" and "older than the NVIDIA GeForce RTX 4090" in f.summary
    assert report.root_cause.id == "compat.compute-capability"


ISSUE_FORM = (  # tensorflow/tensorflow#75773: TensorFlow's GitHub issue form, as the reporter filled it in
    "### TensorFlow version\n\n2.12\n\n### Custom code\n\nYes\n\n### OS platform and distribution\n\n"
    "Windows 10 64-bit\n\n### GPU model and memory\n\nAMD Radeon RX 580, 8GB VRAM\n\n### Current behavior?\n\n"
    "TensorFlow does not detect or utilize my AMD GPU\n")


def test_an_issue_forms_heading_and_answer_read_as_one_field():
    from tfdoctor.evidence import Source, observe

    obs = observe(Source("tensorflow", "paste", ISSUE_FORM))
    stated = {o.message: o for o in obs}
    assert stated["tf-version-stated"].group("tf_version") == "2.12"
    assert stated["tf-version-stated"].line_no == 3  # the answer's line
    assert stated["gpu-model-stated"].group("gpu_model").startswith("AMD Radeon RX 580")


def test_a_machine_whose_gpu_is_another_vendors_has_no_nvidia_gpu_to_give(tmp_path):
    # docker/cli#2063: `--gpus all` on a machine with an AMD GPU; the GPU as the issue form states it
    err = 'docker: Error response from daemon: could not select device driver "" with capabilities: [[gpu]].\n'
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": ISSUE_FORM + err}))
    assert report.root_cause.id == "pci.nvidia-gpu" and "no NVIDIA GPU" in report.root_cause.summary
    assert report.get("env.container").caused_by == "pci.nvidia-gpu"


def test_a_stated_nvidia_gpu_is_no_alarm(tmp_path):
    # tensorflow/tensorflow#36864's template line alone: an NVIDIA GPU, nothing wrong shown
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": "- GPU model and memory: Tesla P100, 16GB\n"}))
    assert report.get("pci.nvidia-gpu").status.value == "ok" and diagnosis_of(report) is None


def test_which_stated_models_are_nvidias():
    from tfdoctor.machine import stated_nvidia

    assert [stated_nvidia(m) for m in ("GeForce RTX 2070 with 8 Gb", "K2000M", "rtx2070", "RTX A4000",
                                       "AMD Radeon RX 570 (and NVIDIA Geforce RTX 4060 Ti [NOT USE])")] == [True] * 5
    assert [stated_nvidia(m) for m in ("AMD Radeon RX 580, 8GB VRAM", "Intel(R) UHD Graphics 620", "Apple M1")] \
        == [False] * 3
    # a CPU written in the GPU field (tensorflow#44701), or a bare number, says nothing
    assert [stated_nvidia(m) for m in ("HP pavillion g4 intel i5 m480 6gb ram", "3060 12gb", "N/A")] == [None] * 3


# -- what the fifth blind batch showed missing (each line from the thread named beside it) -------------------------


def test_a_pasted_glibc_import_error_is_tf_import_even_without_quotes(tmp_path):
    # tensorflow/tensorflow#1426 as the forum rendered it (the backticks lost)
    log = ("ImportError: /lib64/libc.so.6: version GLIBC_2.14 not found (required by "
           "/usr/local/lib/python2.7/site-packages/tensorflow/python/_pywrap_tensorflow.so)\n")
    report = _check(_snapshot(tmp_path, {"tensorflow.log": log}))
    f = report.get("tf.import")
    assert f.status.value == "fail" and "glibc 2.14" in f.summary and report.root_cause.id == "tf.import"


def test_conda_lists_the_cpu_variant_of_tensorflow(tmp_path):
    # tensorflow/tensorflow#45853: Anaconda's mkl builds
    listing = ("tensorflow                2.3.0           mkl_py37he70e3f7_0    defaults\n"
               "tensorflow-base           2.3.0           mkl_py37h7075554_0    defaults\n")
    report = _check(_snapshot(tmp_path, {"commands/conda_list": listing}))
    f = report.get("tf.cuda-build")
    assert f.status.value == "fail" and "CPU variant" in f.summary and report.root_cause.id == "tf.cuda-build"
    # rlworkgroup/garage#698: the gpu_ build is no alarm
    gpu = "tensorflow                1.13.1          gpu_py36h3991807_0  \n"
    assert _check(_snapshot(tmp_path, {"commands/conda_list": gpu}, name="gpu")).get("tf.cuda-build").status.value \
        != "fail"


def test_a_pinned_pip_install_states_the_release(tmp_path):
    # tensorflow/tensorflow#22940's install line; the driver of a GKE node (GoogleCloudPlatform/
    # container-engine-accelerators#106's 396.26) is older than CUDA 10.0's floor for TensorFlow 1.13
    version = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  396.26  Mon Apr 30 18:01:39 PDT 2018\n"
    snap = _snapshot(tmp_path, {"files/proc/driver/nvidia/version": version,
                                "commands/pasted-text": "pip3 install tensorflow-gpu==1.13.1\n"})
    f = _check(snap).get("compat.driver-cuda")
    assert f.status.value == "fail" and "1.13.1" in f.summary and "410.48" in f.summary


def test_device_query_error_30_is_cudas_unknown_error(tmp_path):
    # NVlabs/nvbio-gpl#7: deviceQuery after nvidia_uvm could not be inserted; nvidia-smi answering
    dq = ("./deviceQuery Starting...\n\n CUDA Device Query (Runtime API) version (CUDART static linking)\n\n"
          "cudaGetDeviceCount returned 30\n-> unknown error\nResult = FAIL\n")
    smi = ("+-----------------------------------------------------------------------------+\n"
           "| NVIDIA-SMI 390.25                 Driver Version: 390.25                    |\n"
           "|-------------------------------+----------------------+----------------------+\n"
           "| GPU  Name        Persistence-M| Bus-Id        Disp.A | Volatile Uncorr. ECC |\n"
           "| Fan  Temp  Perf  Pwr:Usage/Cap|         Memory-Usage | GPU-Util  Compute M. |\n"
           "|===============================+======================+======================|\n"
           "|   0  GeForce GTX 108...  Off  | 00000000:01:00.0 Off |\n")  # canonical/lxd#5618: cut here
    report = _check(_snapshot(tmp_path, {"commands/deviceQuery": dq, "commands/nvidia-smi": smi}))
    assert report.root_cause.id == "cuda.device-nodes" and "nvidia_uvm" in report.root_cause.summary
    # the table cut after the bus id still names the GPU: no "NVML reports no GPU"
    assert report.get("nvml.devices").status.value == "ok"


def test_a_process_box_alone_is_no_nvml_failure(tmp_path):
    # NVIDIA/nvidia-docker#179: a container's nvidia-smi, of which only the empty process box was pasted
    box = ("+-----------------------------------------------------------------------------+\n"
           "| Processes:                                                       GPU Memory |\n"
           "|  GPU       PID  Type  Process name                               Usage      |\n"
           "|=============================================================================|\n"
           "+-----------------------------------------------------------------------------+\n")
    report = _check(_snapshot(tmp_path, {"commands/nvidia-smi": box}))
    assert report.get("nvml.init").status.value == "skip" and diagnosis_of(report) is None
    assert report.get("driver.recommended").status.value == "skip"  # nothing says no driver is installed


def test_a_device_node_docker_cannot_find(tmp_path):
    # cBio/cbio-cluster#389
    err = ("Error response from daemon: Cannot start container 23e6442e787b: error gathering device information "
           "while adding custom device \"/dev/nvidia-uvm\": lstat /dev/nvidia-uvm: no such file or directory\n")
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": err}))
    f = report.get("cuda.device-nodes")
    assert f.status.value == "fail" and "/dev/nvidia-uvm" in f.summary
    assert f.fix.commands == ("sudo nvidia-modprobe -u -c=0",)


def test_the_stub_libcuda_in_a_programs_output(tmp_path):
    # numba/numba#9732: numba's library test maps libcuda.so to the toolkit's stub
    text = ("        Mapped libcuda.so paths:\n"
            "                /usr/local/cuda-11.8/targets/x86_64-linux/lib/stubs/libcuda.so\n")
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": text}))
    assert report.root_cause.id == "cuda.libcuda" and "stub" in report.root_cause.summary


def test_the_cuinit_code_ollama_prints(tmp_path):
    # ollama/ollama#12173 (an 8x H100 server): 802, the Fabric Manager's
    line = ("time=2025-09-03T15:13:30.404Z level=INFO source=gpu.go:612 msg=\"Unable to load cudart library "
            "/usr/lib/x86_64-linux-gnu/libcuda.so.570.169: cuda driver library init failure: 802\"\n")
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": line}))
    assert report.get("cuda.init").status.value == "fail" and "802" in report.get("cuda.init").summary
    assert report.root_cause.id == "gpu.fabric"


def test_cvd_hiding_gpu_0_with_cudas_no_device_is_the_cause(tmp_path):
    # kuku-sichuan/FPN_Faster_RCNN#3's log line, with the script's CUDA_VISIBLE_DEVICES="1"
    log = ("2019-05-07 10:38:27.347585: E tensorflow/stream_executor/cuda/cuda_driver.cc:300] failed call to cuInit: "
           "CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected\n")
    report = _check(_snapshot(tmp_path, {"tensorflow.log": log, "env.json": '{"CUDA_VISIBLE_DEVICES": "1"}'}))
    assert report.root_cause.id == "env.cuda-visible-devices"
    assert "CUDA_ERROR_NO_DEVICE" in report.root_cause.summary


def test_a_driver_too_old_for_every_recorded_build_names_the_older_release_it_runs():
    from tfdoctor.knowledge.loader import newest_legacy_for_driver

    old = newest_legacy_for_driver("390.25")
    assert (old.version, old.cuda) == ("1.12", "9.0")  # CUDA 9.0 needs 384.81
    assert newest_legacy_for_driver("340.29") is None  # older than CUDA 8.0's 367.48


def test_an_indented_code_block_is_lines_of_its_own_not_a_wrapped_message():
    """journalctl indents the rest of a long message under its prefixed first line; a Markdown code block (four
    spaces) after prose is separate lines (ContinuumIO/anaconda-issues#11063's `conda list`)."""
    from tfdoctor.evidence import Source, observe

    text = ("Installs these packages:\n\n"
            "    conda list | grep 'tensorflow\\|cudnn\\|cuda'\n"
            "    cudatoolkit               9.0                  h13b8566_0  \n"
            "    tensorflow                1.14.0          mkl_py36h2526735_0  \n"
            "    tensorflow-base           1.14.0          mkl_py36h7ce6ba3_0  \n")
    lines = sorted(o.line_no for o in observe(Source("any", "paste", text)) if o.message == "conda-tensorflow-cpu-build")
    assert lines == [5, 6]


# -- the sixth batch (cut short: the session's search budget ran out) ---------------------------------------------


def test_a_container_toolkit_older_than_cgroup_v2(tmp_path):
    # NVIDIA/nvidia-docker#1486 (Arch, libnvidia-container 1.3.3)
    err = ("docker: Error response from daemon: OCI runtime create failed: container_linux.go:367: starting container "
           "process caused: process_linux.go:495: container init caused: Running hook #1:: error running hook: exit "
           "status 1, stdout: , stderr: nvidia-container-cli: container error: cgroup subsystem devices not found: "
           "unknown.\n")
    report = _check(_snapshot(tmp_path, {"commands/docker_run_--runtime=nvidia_ubuntu.err": err}))
    f = report.get("container.toolkit")
    assert f.status.value == "fail" and "cgroup v2" in f.summary and report.root_cause.id == "container.toolkit"
    assert any("unified_cgroup_hierarchy" in a.when for a in f.fix.alternatives)


def test_the_module_build_tool_that_is_not_installed(tmp_path):
    # gridhead/nvidia-auto-installer-for-fedora-linux#56: Fedora 33, RPM Fusion's driver without akmods
    text = "sudo akmods --kernels $(uname -r)\n\nInstall package 'akmods' to provide command 'akmods'? [N/y]\n"
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": text, "commands/uname_-r": "5.9.10-200.fc33.x86_64\n"}))
    f = report.get("driver.dkms")
    assert f.status.value == "fail" and "akmods is not installed" in f.summary
    assert f.fix.commands[0] == "sudo dnf install akmods kernel-devel-5.9.10-200.fc33.x86_64"


def test_nvmls_mismatch_string_from_nvtop(tmp_path):
    # Syllo/nvtop#125
    line = "Impossible to initialize nvidia nvml : Driver/library version mismatch\n"
    report = _check(_snapshot(tmp_path, {"commands/nvtop": line}))
    assert report.root_cause.id == "nvml.init" and "different versions" in report.root_cause.summary


TORCH_NO_DRIVER = ("RuntimeError: Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and "
                   "installed a driver from http://www.nvidia.com/Download/index.aspx\n")  # MagicQuill#96


def test_pytorch_finding_no_driver_is_a_libcuda_that_cannot_be_loaded(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": TORCH_NO_DRIVER}))
    assert report.root_cause.id == "cuda.init" and "libcuda.so.1" in report.root_cause.summary
    # in a container it is the container that was started without the GPU
    boxed = _check(_snapshot(tmp_path, {"commands/pasted-text": TORCH_NO_DRIVER, "files/.dockerenv": ""}, name="box"))
    assert boxed.root_cause.id == "env.container" and "without GPU access" in boxed.root_cause.summary
    # on a machine whose GPU is an AMD one (NVIDIA/k8s-device-plugin#812) there is no NVIDIA GPU to load it for
    amd = _check(_snapshot(tmp_path, {"commands/pasted-text": "- GPU: AMD Radeon RX 6800 XT\n" + TORCH_NO_DRIVER},
                           name="amd"))
    assert amd.root_cause.id == "pci.nvidia-gpu"
