"""Stop 24 (wave 26): Ray's workers without a GPU, list_logical_devices answering [], and a pinned revision that is
not a user@host.

Every line below is a real line from the public thread named beside it. The snapshots around them are hand-built in
tmp_path (a state synthesised for the test, as docs/snapshot-format.md describes)."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _root_fail, _snapshot
from tfdoctor.evidence import TENSORFLOW_LOG, Source, observe

# avisingh599/reward-learning-rl#15: a Tune trial's worker, as Ray forwarded its output to the driver
RAY_WORKER = ("(pid=3343) 2019-08-13 11:02:51.856630: E tensorflow/stream_executor/cuda/cuda_driver.cc:300] failed "
              "call to cuInit: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected")
# the same TensorFlow line without Ray's prefix (tensorflow/tensorflow#255's form: any process with no GPU)
PLAIN = ("2019-08-13 11:02:51.856630: E tensorflow/stream_executor/cuda/cuda_driver.cc:300] failed call to cuInit: "
         "CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected")
# ray-project/ray_lightning#77: Tune's own warning
TUNE = ("2021-08-17 12:26:32,703\tWARNING tune.py:495 -- Tune detects GPUs, but no trials are using GPUs. To enable "
        "trials to use GPUs, set tune.run(resources_per_trial={'gpu': 1}...) which allows Tune to expose 1 GPU to each "
        "trial. You can also override `Trainable.default_resource_request` if using the Trainable API.")
# ray-project/ray#37225: Ray 2.x names the worker before pid= (here in a RayTaskError's header, not a forwarded line)
RAY2_HEADER = ("ray.exceptions.RayTaskError(RuntimeError): ray::ImplicitFunc.train() (pid=4101608, ip=192.168.112.106, "
               "repr=<lambda>)")


def _ids(text: str) -> list[str]:
    return [o.message for o in observe(Source(TENSORFLOW_LOG, "tensorflow.log", text))]


def test_a_ray_worker_without_a_gpu_is_told_apart_from_a_plain_no_device():
    assert "ray-worker-cuda-no-device" in _ids(RAY_WORKER)
    assert "ray-worker-cuda-no-device" not in _ids(PLAIN)
    assert "ray-worker-cuda-no-device" not in _ids(RAY2_HEADER)  # a task's header is not CUDA's answer
    # Ray 1.x+ names the actor or trial before pid= (the prefix form of Ray's log monitor); synthesised pairing
    assert "ray-worker-cuda-no-device" in _ids("(RolloutWorker pid=2211, ip=10.0.0.5) " + PLAIN)


# ray-project/ray#4426 (RLlib's own output, as its pull request shows it)
RLLIB_CPU = ("(pid=26183) 2019-03-19 21:40:34,850\tINFO policy_evaluator.py:284 -- Creating policy evaluation worker 1 "
             "on CPU (please ignore any CUDA init errors)")


def _diagnosed(tmp_path, files: dict, name: str = "snap"):
    report = _check(_snapshot(tmp_path, files, name))
    f = report.get("env.cuda-visible-devices")
    found = report.root_cause or next((x for x in report.findings if x.status.value == "warn" and not x.caused_by),
                                      None)
    return f, found


def test_ray_giving_the_worker_no_gpu_is_the_diagnosis(tmp_path):
    f, found = _diagnosed(tmp_path, {"tensorflow.log": RAY_WORKER + "\n"})
    # a warning, not a failure: a Ray worker may be meant to run on the CPU
    assert f.status.value == "warn" and found.id == "env.cuda-visible-devices"
    assert "Ray" in f.summary and "num_gpus" in f.fix.text() and "resources_per_trial" in f.fix.text()
    assert any("(pid=3343)" in e.line for e in f.evidence)


def test_tunes_own_warning_is_read(tmp_path):
    # Tune shows the GPU is there and the worker's CUDA found none: the allotment is why (a failure, the root cause)
    f, found = _diagnosed(tmp_path, {"tensorflow.log": TUNE + "\n" + PLAIN + "\n"})
    assert found.id == "env.cuda-visible-devices" and f.status.value == "fail"
    assert any("Tune detects GPUs" in e.line for e in f.evidence)


def test_rllibs_cpu_workers_are_no_finding(tmp_path):
    # RLlib's line beside a worker's cuInit error (the pairing is synthesised: RLlib says to ignore exactly these)
    f, _ = _diagnosed(tmp_path, {"tensorflow.log": RLLIB_CPU + "\n" + RAY_WORKER.replace("3343", "26183") + "\n"})
    assert f.status.value == "info" and "RLlib" in f.summary


def test_without_ray_no_device_is_not_blamed_on_ray(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": PLAIN + "\n"}))
    assert report.get("env.cuda-visible-devices").status.value == "skip"


def test_a_driver_shown_down_comes_before_ray(tmp_path):
    # a Ray worker's no-device line beside nvidia-smi's refusal (NVIDIA's wording, all branches): the driver is the
    # cause; synthesised pairing
    smi = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest "
           "NVIDIA driver is installed and running.\n")
    report = _check(_snapshot(tmp_path, {"tensorflow.log": RAY_WORKER + "\n", "commands/nvidia-smi": smi,
                                         "commands/nvidia-smi.rc": "9\n"}))
    assert report.get("env.cuda-visible-devices").status.value != "fail"


def test_list_logical_devices_answering_empty_says_tensorflow_registered_no_gpu():
    # huggingface/community-events#118 (its code fences between the two lines left out)
    assert "tf-list-gpus-empty" in _ids('tf.config.list_logical_devices("GPU")\nOutput:\n[]')
    assert "tf-list-gpus-empty" not in _ids('tf.config.list_logical_devices("GPU")\n'
                                            "[LogicalDevice(name='/device:GPU:0', device_type='GPU')]")


def test_a_stated_release_without_the_word_version(tmp_path):
    # huggingface/community-events#118: 'TensorFlow: 2.11.0' answers tf.version, so the driver is judged against it
    snap = _snapshot(tmp_path, {"commands/pasted-text": "NVIDIA-SMI 515.65.01\nDriver Version: 515.65.01\n"
                                                        "CUDA Version: 11.7\nTensorFlow: 2.11.0\n"})
    f = _check(snap).get("compat.driver-cuda")
    assert f.status.value == "ok" and "2.11.0" in f.summary


# tensorflow/tensorflow#52988 (TensorFlow 2.7.0 from pip in a conda environment): the install line and TF's log
CONDA_INSTALL = "conda install -c conda-forge cudatoolkit=11.2 cudnn=8.1"
CUDART_11 = ("2021-11-08 14:49:16.412959: W tensorflow/stream_executor/platform/default/dso_loader.cc:64] Could not "
             "load dynamic library 'libcudart.so.11.0'; dlerror: libcudart.so.11.0: cannot open shared object file: "
             "No such file or directory")
# tensorflow/tensorflow#38578 (TensorFlow 2.1 on Debian 10): CUDA 10.1's runtime missing
CUDART_101 = ("2020-04-15 20:58:07.205269: W tensorflow/stream_executor/platform/default/dso_loader.cc:55] Could not "
              "load dynamic library 'libcudart.so.10.1'; dlerror: libcudart.so.10.1: cannot open shared object file: "
              "No such file or directory")


def test_conda_cuda_in_the_environment_is_put_on_the_loader_path(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": CUDART_11 + "\n", "commands/pasted-text": CONDA_INSTALL + "\n"},
                   "tf.cuda-libs")
    text = f.fix.text()
    assert "LD_LIBRARY_PATH" in text and "$CONDA_PREFIX/lib" in text and "activate.d" in text
    assert "pip install nvidia-cuda-runtime" not in text  # the libraries are there: nothing to install


def test_conda_cuda_of_another_major_is_not_the_answer(tmp_path):
    # the paste's conda CUDA 11.2 beside a TensorFlow that wants CUDA 10.1 (synthesised pairing)
    f = _root_fail(tmp_path, {"tensorflow.log": CUDART_101 + "\n", "commands/pasted-text": CONDA_INSTALL + "\n"},
                   "tf.cuda-libs")
    assert "activate.d" not in f.fix.text()


def test_triage_keeps_a_records_head_and_rays_prefix_after_prose(tmp_path):
    # avisingh599/reward-learning-rl#15, the line as the reporter posted it: prose, then Ray's worker prefix and the
    # TensorFlow record; the record's head and the prefix stay with the record
    from tfdoctor.triage import triage_file

    paste = tmp_path / "paste.txt"
    paste.write_text("When I run local only CPU works:\n\nError: " + RAY_WORKER + "\n")
    report = triage_file(str(paste))
    f = report.get("env.cuda-visible-devices")
    assert f.status.value == "warn" and any(e.line.startswith("(pid=3343) 2019-08-13 11:02:51.856630: E ")
                                            for e in f.evidence)


def test_a_pasted_lines_markdown_wrapping_is_not_the_programs(tmp_path):
    # containers/podman#24474's reporter wrapped Podman's error in bold and a code span, as posted
    from tfdoctor.probes.sources import unmarked

    assert unmarked("**```Error: stat nvidia.com/gpu=all: no such file or directory```**") == \
        "Error: stat nvidia.com/gpu=all: no such file or directory"
    assert unmarked("> > `nvidia-smi`") == "nvidia-smi"  # a quote-reply of a quote (synthesised)
    assert unmarked(">>> tf.test.is_built_with_cuda()") == ">>> tf.test.is_built_with_cuda()"  # Python's prompt
    assert unmarked("    indented continuation") == "    indented continuation"
    # a CI log's stamp before the wrapping (the form benchmarks/robustness.py calls ci-timestamp)
    assert unmarked("2024-05-01T10:11:12.3456789Z **`nvidia-smi`**") == "nvidia-smi"
    f = _root_fail(tmp_path, {"commands/pasted-text": "**```Error: stat nvidia.com/gpu=all: no such file or "
                                                      "directory```**\n"}, "container.toolkit")
    assert "Podman" in f.fix.text()


# NVIDIA/nvidia-container-toolkit#1860 (Podman 4.9.3, toolkit 1.19.1): Podman's refusal of the regenerated spec
CDI_FIELD = ("failed to load CDI Spec failed to parse CDI Spec \"/var/run/cdi/nvidia.yaml\": failed to unmarshal CDI "
             "Spec: error unmarshaling JSON: while decoding JSON: json: unknown field \"additionalGids\" ")


def test_a_cdi_spec_the_engine_cannot_parse_is_the_engine_too_old(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": CDI_FIELD + "\n"}, "container.toolkit")
    assert "additionalGids" in f.summary and "Upgrade the container engine" in f.fix.text()


# NVIDIA/gpu-operator#1142: the driver container's installer, as the reporter pasted its log
INSTALLER_SB = ("The target kernel has CONFIG_MODULE_SIG set, which means that it supports cryptographic signatures on "
                "kernel modules. On some systems, the kernel may refuse to load modules without a valid signature from "
                "a trusted key. This system also has UEFI Secure Boot enabled; many distributions enforce module "
                "signature verification on UEFI systems when Secure Boot is enabled. Would you like to sign the NVIDIA "
                "kernel module? (Answer: Install without signing)")
INSTALLER_EPERM = "Kernel module load error: Operation not permitted"


def test_the_installers_secure_boot_and_its_refused_module(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": INSTALLER_SB + "\n" + INSTALLER_EPERM + "\n"},
                   "driver.secure-boot")
    assert any("Operation not permitted" in e.line for e in f.evidence)
    # the refusal alone inside a container is the container's missing privilege, not Secure Boot (synthesised pairing)
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": INSTALLER_EPERM + "\n", "files/.dockerenv": ""},
                              "in-container"))
    assert report.get("driver.secure-boot").status.value != "fail"


# peci1/nvidia-htop#23 (Proxmox 6.4): lshw's display device, bound to nouveau
LSHW_NOUVEAU = ("  *-display\n       description: VGA compatible controller\n       product: G98 [GeForce 9300 GS]\n"
                "       vendor: NVIDIA Corporation\n       configuration: driver=nouveau latency=0\n")
# elementary/settings-system#89: bound to the NVIDIA driver
LSHW_NVIDIA = ("*-display\n      description: VGA compatible controller\n      product: GK104 [GeForce GTX 770]\n"
               "      vendor: NVIDIA Corporation\n      configuration: driver=nvidia latency=0\n")


def test_lshw_names_the_gpu_and_the_driver_bound_to_it(tmp_path):
    f = _root_fail(tmp_path, {"commands/lshw_-C_display": LSHW_NOUVEAU}, "driver.nouveau")
    report = _check(_snapshot(tmp_path, {"commands/lshw_-C_display": LSHW_NVIDIA}, "bound"))
    assert report.get("pci.nvidia-gpu").status.value == "ok"
    assert report.get("driver.nouveau").status.value != "fail" and report.root_cause is None
    assert "nouveau" in f.summary


# NVIDIA/nvidia-docker#480 (nvidia-docker 1.0, driver 384.90)
UVM_PLUGIN = "nvidia-docker | 2017/09/27 22:08:44 Error: Could not load UVM kernel module. Is nvidia-modprobe installed?"
NO_MODPROBE = "The program 'nvidia-modprobe' is currently not installed. You can install it by typing:"


def test_nvidia_docker_without_nvidia_modprobe(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": UVM_PLUGIN + "\n" + NO_MODPROBE + "\n"}, "cuda.device-nodes")
    assert "apt install nvidia-modprobe" in f.fix.text()
    f = _root_fail(tmp_path / "x" if (tmp_path / "x").mkdir() is None else tmp_path,
                   {"commands/pasted-text": UVM_PLUGIN + "\n"}, "cuda.device-nodes")
    assert "install nvidia-modprobe" not in f.fix.text()  # not shown missing: load the module


def test_the_driver_floor_of_the_first_cuda_a_driver_cannot_run():
    from tfdoctor.knowledge import loader as kb

    # NVIDIA's cliffwoolley in nvidia-docker#414, to driver 367.57: 'Please upgrade to a 375-series driver'
    assert kb.next_driver_floor("367.57") == ("CUDA 8.0.61", "375.26")
    # CUDA 11 and newer: minor-version compatibility, so the next major's floor
    assert kb.next_driver_floor("470.256.02") == ("CUDA 12", "525.60.13")
    # PTX is not covered by it: the next toolkit release's own driver
    assert kb.next_driver_floor("550.54.15", ptx=True) == ("CUDA 12.5.0", "555.42.02")


# NVIDIA/nvidia-docker#414: Lua Torch in a container on driver 367.57
THC_35 = ("THCudaCheck FAIL file=/root/torch/extra/cutorch/lib/THC/THCGeneral.c line=66 error=35 : CUDA driver version "
          "is insufficient for CUDA runtime version")
SMI_367 = ("+-----------------------------------------------------------------------------+\n"
           "| NVIDIA-SMI 367.57                 Driver Version: 367.57                    |\n")


def test_an_insufficient_driver_of_known_version_gets_a_driver_to_install(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": THC_35 + "\n", "commands/nvidia-smi": SMI_367},
                   "compat.driver-cuda")
    assert "375.26 or newer" in f.fix.text()


# PaddlePaddle/Paddle#15183 (an RTX 2070 in the paddle:1.2.0-gpu-cuda8.0 image)
PADDLE = ("W0107 06:40:34.550292  1086 device_context.cc:203] Please NOTE: device: 0, CUDA Capability: 75, Driver "
          "Version: 10.0, Runtime Version: 8.0\n"
          "RuntimeError: function_attributes(): after cudaFuncGetAttributes: invalid device function\n")


def test_a_build_whose_cuda_predates_the_gpu_has_no_kernels_for_it(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": PADDLE}, "compat.compute-capability")
    assert "CUDA 8.0" in f.summary and "7.5" in f.summary and "TensorFlow" not in f.fix.text()


# conda-forge/jax-feedstock#149 (jax 0.4.31 with conda-forge's cudnn 8.9.7), the lines as JAX printed them
JAX_MIN = ("CUDA backend failed to initialize: Unable to use CUDA because of the following issues with CUDA components:\n"
           "Outdated cuDNN installation found.\nVersion JAX was built against: 8907\nMinimum supported: 9100\n"
           "Installed version: 8907\n")


def test_jax_refusing_a_cudnn_below_its_minimum(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": JAX_MIN}, "cuda.libraries")
    text = f.fix.text()
    assert "9.1.0" in f.summary and "nvidia-cudnn-cu12>=9.1.0,<10" in text and "cudnn>=9.1.0" in text


def test_fedoras_fallback_to_nouveau_is_a_module_that_did_not_load_at_boot(tmp_path):
    # CachyOS/copr-linux-cachyos#30: the boot message, as the reporter quoted it
    f = _root_fail(tmp_path, {"commands/pasted-text": "nvidia kernel module missing falling back to nouveau\n"},
                   "driver.nvidia-module")
    assert "did not load at boot" in f.summary and "reboot is owed" not in f.summary
    assert "akmods --force" in f.fix.text()


def test_cuinit_303_alone_is_a_machine_without_the_driver_not_a_finding(tmp_path):
    # nanoporetech/medaka#214 (a CPU-only cluster node; the maintainer: harmless)
    line = ("2020-10-08 23:28:14.726991: E tensorflow/stream_executor/cuda/cuda_driver.cc:313] failed call to cuInit: "
            "UNKNOWN ERROR (303)\n")
    report = _check(_snapshot(tmp_path, {"tensorflow.log": line}))
    assert report.get("tf.gpu-visible").status.value == "info" and report.root_cause is None
    # in a container it stays a finding: the container may have been started without the GPU (synthesised pairing)
    report = _check(_snapshot(tmp_path, {"tensorflow.log": line, "files/.dockerenv": ""}, "container"))
    assert report.get("tf.gpu-visible").status.value in ("warn", "fail")


def test_a_gpu_named_in_tensorflows_log_is_a_gpu_present(tmp_path):
    # ildoonet/tf-pose-estimation#387: TensorFlow names the GPU it ignores; pci.nvidia-gpu and tf.gpu-visible agree
    line = ("Ignoring visible gpu device (device: 0, name: Tesla K40c, pci bus id: 0000:06:00.0, compute capability: "
            "3.5) with Cuda compute capability 3.5. The minimum required Cuda capability is 3.7.\n")
    report = _check(_snapshot(tmp_path, {"tensorflow.log": line}))
    assert report.get("pci.nvidia-gpu").status.value == "ok"
    assert report.get("tf.gpu-visible").status.value == "fail"
    assert report.root_cause.id == "compat.compute-capability"


def test_cuda_devices_unavailable_under_wsl_is_wsl_not_a_compute_mode(tmp_path):
    # microsoft/WSL#6014 (Insider build 20226): the CUDA sample's output and WSL's kernel, as the reporter pasted them
    sample = ("[./BlackScholes] - Starting...\nGPU Device 0: \"Turing\" with compute capability 7.5\n\n"
              "CUDA error at BlackScholes.cu:116 code=46(cudaErrorDevicesUnavailable) \"cudaMalloc((void **)&"
              "d_CallResult, OPT_SZ)\"\n")
    version = ("Linux version 4.19.128-microsoft-standard (oe-user@oe-host) (gcc version 8.2.0 (GCC)) #1 SMP Tue Jun 23 "
               "12:58:10 UTC 2020\n")
    report = _check(_snapshot(tmp_path, {"commands/BlackScholes": sample, "files/proc/version": version}))
    assert report.get("gpu.compute-mode").status.value == "skip"
    assert report.root_cause.id == "env.wsl"


def test_a_blacklist_shown_with_nothing_else_recorded(tmp_path):
    # omacom/omarchy#5408: supergfxd's file, as the reporter pasted it
    conf = "blacklist nvidia\nblacklist nvidia_drm\nblacklist nvidia_modeset\nblacklist nvidia_uvm\n"
    report = _check(_snapshot(tmp_path, {"files/etc/modprobe.d/supergfxd.conf": conf}))
    f = report.get("driver.nvidia-module")
    assert f.status.value == "warn" and "supergfxd.conf" in f.summary
    assert "supergfxctl --mode Hybrid" in f.fix.text()
    assert [(e.source, e.line) for e in f.evidence] == [("/etc/modprobe.d/supergfxd.conf", "blacklist nvidia")]


def test_nvidia_docker_plugin_that_cannot_load_nvml(tmp_path):
    # NVIDIA/nvidia-docker#470: the plugin's log
    log = ("nvidia-docker-plugin | 2017/09/18 16:29:20 Loading NVIDIA management library\n"
           "nvidia-docker-plugin | 2017/09/18 16:29:20 Error: could not load NVML library\n")
    f = _root_fail(tmp_path, {"commands/nvidia-docker-plugin": log, "commands/nvidia-docker-plugin.rc": "1\n"},
                   "nvml.init")
    assert "ldconfig" in f.fix.text()


def test_a_needed_library_that_did_not_load_means_no_gpu_was_registered(tmp_path):
    # iterative/cml#654 (TensorFlow 2.2 in a CUDA 11 image on a Tesla T4): the log as pasted, cut after the failure
    log = ("2021-07-12 10:52:47.496273: I tensorflow/core/common_runtime/gpu/gpu_device.cc:1561] Found device 0 with "
           "properties: \npciBusID: 0000:00:1e.0 name: Tesla T4 computeCapability: 7.5\n"
           "2021-07-12 10:52:47.496789: W tensorflow/stream_executor/platform/default/dso_loader.cc:55] Could not load "
           "dynamic library 'libcudart.so.10.1'; dlerror: libcudart.so.10.1: cannot open shared object file: No such "
           "file or directory\n")
    report = _check(_snapshot(tmp_path, {"tensorflow.log": log}))
    f = report.get("tf.gpu-visible")
    assert f.status.value == "fail" and f.caused_by == "tf.cuda-libs" and report.root_cause.id == "tf.cuda-libs"


def test_llama_cpp_finding_its_gpu_clears_a_nonzero_cuda_visible_devices(tmp_path):
    # ggml-org/llama.cpp#2641: CUDA_VISIBLE_DEVICES=7 on an 8-GPU node, and ggml's own device listing
    log = "ggml_init_cublas: found 1 CUDA devices:\n  Device 0: NVIDIA A100-SXM4-80GB, compute capability 8.0\n"
    report = _check(_snapshot(tmp_path, {"tensorflow.log": log, "env.json": '{"CUDA_VISIBLE_DEVICES": "7"}'}))
    assert report.get("env.cuda-visible-devices").status.value == "info" and report.root_cause is None


def test_a_libcuda_newer_than_the_working_driver_is_a_compat_library(tmp_path):
    # google-deepmind/alphafold3#352: XLA's diagnostician in a CUDA 12.6 image on a host with driver 535
    log = ("2025-03-13 13:26:48.680364: E external/xla/xla/stream_executor/cuda/cuda_driver.cc:152] failed call to "
           "cuInit: INTERNAL: CUDA error: Failed call to cuInit: CUDA_ERROR_UNKNOWN: unknown error\n"
           "2025-03-13 13:26:48.680427: E external/xla/xla/stream_executor/cuda/cuda_diagnostics.cc:262] kernel "
           "version 535.183.6 does not match DSO version 560.28.3 -- cannot find working devices in this "
           "configuration\n")
    smi = ("+-----------------------------------------------------------------------------------------+\n"
           "| NVIDIA-SMI 535.183.06             Driver Version: 535.183.06   CUDA Version: 12.2     |\n")
    f = _root_fail(tmp_path, {"tensorflow.log": log, "commands/nvidia-smi": smi}, "cuda.libcuda")
    assert "560" in f.summary and "driver 560 or newer" in f.fix.text()
    report = _check(_snapshot(tmp_path, {"tensorflow.log": log, "commands/nvidia-smi": smi}, "again"))
    assert report.get("cuda.device-nodes").status.value != "fail"  # the 999 is explained: not nvidia_uvm


def test_another_programs_loader_naming_a_cuda_library(tmp_path):
    # stepfun-ai/Step-Audio-EditX#3: ONNX Runtime 1.17's CUDA provider (a CUDA 11 build) on a CUDA 12 machine
    line = ("FAIL : Failed to load library libonnxruntime_providers_cuda.so with error: libcublasLt.so.11: cannot open "
            "shared object file: No such file or directory\n")
    f = _root_fail(tmp_path, {"tensorflow.log": line}, "tf.cuda-libs")
    assert "libcublasLt.so.11" in f.summary


def test_mig_devices_are_what_cuda_visible_devices_counts(tmp_path):
    # nanoporetech/dorado#1586: a Slurm job on two H200 NVL in MIG mode, its CUDA_VISIBLE_DEVICES=0,1,2,3
    smi_l = ("GPU 0: NVIDIA H200 NVL (UUID: GPU-7d5d2d18-e527-75f1-571c-349591a57073)\n"
             "  MIG 1g.18gb     Device  0: (UUID: MIG-8210e6aa-6e55-5fcc-b76a-18069cb47525)\n"
             "GPU 1: NVIDIA H200 NVL (UUID: GPU-25aa9f9b-ef43-d088-94bf-f344ba6d12f2)\n"
             "  MIG 1g.18gb     Device  0: (UUID: MIG-69119060-baa9-56cb-8d2a-a144214426ae)\n")
    report = _check(_snapshot(tmp_path, {"commands/nvidia-smi_-L": smi_l,
                                         "env.json": '{"CUDA_VISIBLE_DEVICES": "0,1,2,3"}'}))
    assert report.get("env.cuda-visible-devices").status.value == "info" and report.root_cause is None


def test_a_program_asking_for_more_devices_than_mig_gives_one_process(tmp_path):
    # pytorch/pytorch#131650: PyTorch 2.4's assert on two A100 80GB in MIG mode, CUDA_VISIBLE_DEVICES unset
    smi = ("+-----------------------------------------------------------------------------------------+\n"
           "| NVIDIA-SMI 550.54.15              Driver Version: 550.54.15      CUDA Version: 12.4     |\n"
           "|-----------------------------------------+------------------------+----------------------+\n"
           "| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |\n"
           "| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |\n"
           "|                                         |                        |               MIG M. |\n"
           "|=========================================+========================+======================|\n"
           "|   0  NVIDIA A100 80GB PCIe          Off |   00000000:31:00.0 Off |                   On |\n"
           "| N/A   34C    P0             43W /  300W |      53MiB /  81920MiB |     N/A      Default |\n"
           "|                                         |                        |              Enabled |\n"
           "+-----------------------------------------+------------------------+----------------------+\n")
    log = ("RuntimeError: device >= 0 && device < num_gpus INTERNAL ASSERT FAILED at \"/opt/conda/conda-bld/"
           "pytorch_1720538439675/work/aten/src/ATen/cuda/CUDAContext.cpp\":49, please report\n")
    f = _root_fail(tmp_path, {"commands/nvidia-smi": smi, "tensorflow.log": log}, "gpu.mig")
    assert "grep -o 'MIG-" in f.fix.text()


def test_a_program_built_without_the_gpus_architecture_says_invalid_device_symbol(tmp_path):
    # ccsb-scripps/AutoDock-GPU#146 (an A100, built without TARGETS=80): the program's own output
    out = ("Cuda device:                              A100-PCIE-40GB (#1 / 4)\n"
           "SetKernelsGpuData copy to cData failed invalid device symbol\n")
    f = _root_fail(tmp_path, {"commands/autodock_gpu_64wi": out}, "compat.compute-capability")
    assert "no kernel image" in f.summary


def test_kernel_headers_the_repositories_do_not_have(tmp_path):
    # NVIDIA/gpu-operator#234 (OpenShift 4.7.21): the driver container's dnf
    log = ("Installing Linux kernel headers...\n+ dnf -q -y --releasever=8.3 install kernel-headers-4.18.0-240.23.2."
           "el8_3.x86_64 kernel-devel-4.18.0-240.23.2.el8_3.x86_64\nError: Unable to find a match: kernel-headers-"
           "4.18.0-240.23.2.el8_3.x86_64 kernel-devel-4.18.0-240.23.2.el8_3.x86_64\n")
    f = _root_fail(tmp_path, {"commands/pasted-text": log}, "driver.dkms")
    assert "headers" in f.summary and "entitlement" in f.fix.text()


def test_an_ngc_container_started_without_a_gpu_request(tmp_path):
    # triton-inference-server/server#135: the TRTIS 19.03dev image started with plain `docker run` on a 4x T4 server
    banner = ("== TensorRT Inference Server ==\n\nNVIDIA Release 19.03dev (build 5618942)\n"
              "ERROR: No supported GPU(s) detected to run this container\n")
    key = "commands/docker_run_-it_--rm_--net=host_--shm-size=1g_tensorrtserver_clients"
    f = _root_fail(tmp_path, {key: banner}, "env.container")
    assert "--gpus all" in f.fix.text()
    # the same banner from a container that did ask for the GPUs (an unsupported GPU, NVIDIA's other reading) is not
    # blamed on the command (the pairing with --gpus is synthesised)
    report = _check(_snapshot(tmp_path, {"commands/docker_run_--gpus_all_-it_--rm_tensorrtserver_clients": banner},
                              "asked"))
    assert report.get("env.container").status.value != "fail"


# stas00/ml-engineering, compute/accelerator/nvidia/debug.md (an A100-SXM4-80GB node of the author's, driver 510.73.08,
# 2023-06-07): `nvidia-smi -q` as printed there, the other GPUs' blocks left out ([...] in the original)
SMI_Q_REMAP = ("Timestamp                                 : Wed Jun  7 19:32:16 2023\n"
               "Driver Version                            : 510.73.08\nCUDA Version                              : 11.6\n\n"
               "Attached GPUs                             : 8\nGPU 00000000:10:1C.0\n"
               "    Product Name                          : NVIDIA A100-SXM4-80GB\n"
               "    ECC Errors\n        Volatile\n            SRAM Correctable              : 0\n"
               "            SRAM Uncorrectable            : 0\n            DRAM Correctable              : 177\n"
               "            DRAM Uncorrectable            : 0\n        Aggregate\n"
               "            SRAM Correctable              : 0\n            SRAM Uncorrectable            : 0\n"
               "            DRAM Correctable              : 177\n            DRAM Uncorrectable            : 0\n"
               "    Retired Pages\n        Single Bit ECC                    : N/A\n"
               "        Double Bit ECC                    : N/A\n        Pending Page Blacklist            : N/A\n"
               "    Remapped Rows\n        Correctable Error                 : 1\n"
               "        Uncorrectable Error               : 0\n        Pending                           : Yes\n"
               "        Remapping Failure Occurred        : No\n")
# the same page: one GPU's ECC block, pasted alone
SMI_Q_SRAM = ("    ECC Errors\n        Volatile\n            SRAM Correctable              : 0\n"
              "            SRAM Uncorrectable            : 1\n            DRAM Correctable              : 0\n"
              "            DRAM Uncorrectable            : 0\n        Aggregate\n"
              "            SRAM Correctable              : 0\n            SRAM Uncorrectable            : 5\n"
              "            DRAM Correctable              : 0\n            DRAM Uncorrectable            : 0\n")


def test_nvidia_smi_query_memory_sections_are_read():
    from tfdoctor.probes.nvidia_smi import parse_nvidia_smi_query, query_attached_gpus

    (a100,) = parse_nvidia_smi_query(SMI_Q_REMAP)
    assert a100.name == "NVIDIA A100-SXM4-80GB" and a100.remapped_rows_pending is True
    assert a100.ecc_uncorrected == 0 and a100.remapped_rows_failure is False and a100.retired_pages_pending is None
    assert query_attached_gpus(SMI_Q_REMAP) == 8  # one block of eight: which GPU it is stays unknown
    (block,) = parse_nvidia_smi_query(SMI_Q_SRAM)
    assert (block.bus_id, block.ecc_uncorrected, block.ecc_aggregate_uncorrected) == (None, 1, 5)


def test_a_pending_row_remap_from_a_pasted_nvidia_smi_query(tmp_path):
    f = _root_fail(tmp_path, {"commands/nvidia-smi_-q": SMI_Q_REMAP}, "gpu.memory-errors")
    # one GPU's block of eight: no command names a GPU by a guessed index
    assert "-i 0" not in f.fix.text() and "sudo reboot" in f.fix.text()
    assert any("Pending" in e.line for e in f.evidence)
    report = _check(_snapshot(tmp_path, {"commands/nvidia-smi_-q": SMI_Q_SRAM}, "sram"))
    g = report.get("gpu.memory-errors")
    assert g.status.value == "warn" and any("SRAM Uncorrectable" in e.line for e in g.evidence)


def test_findings_read_from_a_log_or_the_environment_show_their_lines(tmp_path):
    # nanoporetech/medaka#345 (tests/cases/tf-cudnn805-vs-810-tf252-cuda110-base-image-medaka): TensorFlow's refusal
    line = ("Loaded runtime CuDNN library: 8.0.5 but source was compiled with: 8.1.0.  CuDNN library needs to have "
            "matching major version and equal or higher minor version.\n")
    f = _root_fail(tmp_path, {"tensorflow.log": line}, "tf.cuda-libs")
    assert [e.line_no for e in f.evidence] == [1] and "8.0.5" in f.evidence[0].line
    # an empty CUDA_VISIBLE_DEVICES (a synthesised state: env.json holds only the variable): its value is the evidence
    report = _check(_snapshot(tmp_path, {"env.json": '{"CUDA_VISIBLE_DEVICES": ""}'}, "env"))
    g = report.get("env.cuda-visible-devices")
    assert g.status.value == "fail" and [e.line for e in g.evidence] == ["CUDA_VISIBLE_DEVICES="]
