"""Wave 23, group C: containers, Kubernetes, WSL2 and GPU memory that other processes hold. Every message line below
is a real line from the public thread named beside it; the snapshots around them are hand-built in tmp_path (a state
synthesised for the test, as docs/snapshot-format.md describes)."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _root_fail, _snapshot

# -- the NVIDIA runtime registered but not the engine's default, where a Kubernetes node needs it ------------------------

OPENPAI_CHECK = ('fatal: [pai-worker1]: FAILED! => {"changed": false, "msg": "The following requirements are not met: '
                 'The default runtime is not set correctly"}\n')  # NVIDIA/nvidia-container-runtime#154


def test_a_requirement_check_saying_the_default_runtime_is_wrong_fails_the_toolkit(tmp_path):
    daemon = '{\n    "runtimes": {\n        "nvidia": {\n            "path": "/usr/bin/nvidia-container-runtime",\n' \
             '            "runtimeArgs": []\n        }\n    }\n}\n'
    f = _root_fail(tmp_path, {"commands/pasted-text": OPENPAI_CHECK, "files/etc/docker/daemon.json": daemon},
                   "container.toolkit")
    assert "default runtime" in f.summary
    assert any("registers the `nvidia` runtime and sets no default-runtime" in d for d in f.details)
    assert "--set-as-default" in " ".join(f.fix.commands)


def test_the_default_runtime_message_without_daemon_json_still_names_the_fix(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": OPENPAI_CHECK}, "container.toolkit")
    assert "default-runtime" in f.fix.summary and not any("daemon.json registers" in d for d in f.details)


# -- WSL2: the container library finds no libnvidia-ml.so.1, which only the Windows driver provides there ------------------

CLI_DEBUG_WSL = (  # NVIDIA/nvidia-docker#1542 (`nvidia-container-cli -k -d /dev/tty info` under WSL2)
    "I0828 18:43:18.664828 4993 nvc.c:389] attempting to load dxcore to see if we are running under Windows Subsystem "
    "for Linux (WSL)\n"
    "I0828 18:43:18.664969 4993 nvc.c:391] dxcore initialization failed, continuing assuming a non-WSL environment\n"
    "W0828 18:43:18.665048 4993 nvc.c:254] failed to detect NVIDIA devices\n"
    "E0828 18:43:18.665738 4995 driver.c:168] could not start driver service: load library failed: libnvidia-ml.so.1: "
    "cannot open shared object file: no such file or directory\n")


def test_under_wsl_the_container_library_missing_nvml_is_the_windows_driver_not_reaching_wsl(tmp_path):
    f = _root_fail(tmp_path, {"commands/nvidia-container-cli_-k_-d_%2Fdev%2Ftty_info": CLI_DEBUG_WSL,
                              "files/proc/version": "Linux version 5.10.16.3-microsoft-standard-WSL2 (oe-user@oe-host) "
                                              "(x86_64-msft-linux-gcc (GCC) 9.3.0) #1 SMP Fri Apr 2 22:23:49 UTC 2021\n"},
                   "env.wsl")
    assert any("libnvidia-ml.so.1" in e.line for e in f.evidence)
    assert any("wsl --update" in c for c in f.fix.commands)


def test_off_wsl_the_same_debug_line_is_the_container_toolkit_not_finding_the_driver(tmp_path):
    f = _root_fail(tmp_path, {"commands/nvidia-container-cli_-k_-d_%2Fdev%2Ftty_info": CLI_DEBUG_WSL},
                   "env.container")
    # the hook's library ran and found no NVML: no working driver on the host (or Docker from a snap), not WSL's
    assert "libnvidia-ml.so.1" in f.summary and "no working NVIDIA driver" in f.summary


def test_a_pasted_container_library_debug_log_is_read_as_the_container_runtime_not_tensorflow():
    from tfdoctor.triage import triage_text

    text = ("I'm on WSL2: `nvidia-container-cli -k -d /dev/tty info` (from inside wsl)\n```\n"
            "-- WARNING, the following logs are for debugging purposes only --\n\n" + CLI_DEBUG_WSL
            + "nvidia-container-cli: initialization error: driver err\n```\n")
    result = triage_text(text)
    assert any(r.kind == "container" for r in result.used)
    assert result.report.root_cause is not None and result.report.root_cause.id == "env.wsl"


# -- CUDA's 'OS call failed' (304): the GPU is not passed through to where the program runs ----------------------------

def test_cuda_os_call_failed_is_cuinit_failing_with_the_sandbox_named(tmp_path):
    line = ("/home/user/miniconda3/envs/env/lib/python3.8/site-packages/torch/cuda/__init__.py:88: UserWarning: CUDA "
            "initialization: Unexpected error from cudaGetDeviceCount(). Did you run some cuda functions before calling "
            "NumCudaDevices() that might have already set an error? Error 304: OS call failed or operation not "
            "supported on this OS (Triggered internally at ../c10/cuda/CUDAFunctions.cpp:109.)\n")  # gramine examples#97
    f = _root_fail(tmp_path, {"commands/pasted-text": line}, "cuda.init")
    assert "304" in f.summary and "sandbox" in f.fix.summary


# -- MIG read from the ECC cell of a cut nvidia-smi table; CUDA failing on a MIG GPU whose instances are unknown --------

SMI_MIG_CUT = (  # NVIDIA/gpu-operator#382 (the A30 node's nvidia-smi, cut after the GPU row's first line)
    "+-----------------------------------------------------------------------------+\n"
    "| NVIDIA-SMI 515.48.07    Driver Version: 515.48.07    CUDA Version: 11.7     |\n"
    "|-------------------------------+----------------------+----------------------+\n"
    "| GPU  Name        Persistence-M| Bus-Id        Disp.A | Volatile Uncorr. ECC |\n"
    "| Fan  Temp  Perf  Pwr:Usage/Cap|         Memory-Usage | GPU-Util  Compute M. |\n"
    "|                               |                      |               MIG M. |\n"
    "|===============================+======================+======================|\n"
    "|   0  NVIDIA A30          On   | 00000000:17:00.0 Off |                   On |\n")


def test_the_ecc_cell_reading_on_is_mig_enabled_and_the_mig_cell_still_decides():
    from tfdoctor.probes.nvidia_smi import parse_nvidia_smi_table

    assert parse_nvidia_smi_table(SMI_MIG_CUT).gpus[0].mig_mode == "Enabled"
    full = SMI_MIG_CUT + ("| N/A   29C    P0    62W / 400W |      0MiB / 40536MiB |     N/A      Default |\n"
                          "|                               |                      |            Disabled* |\n")
    assert parse_nvidia_smi_table(full).gpus[0].mig_mode == "Disabled*"
    counted = SMI_MIG_CUT.replace("|                   On |", "|                    0 |")
    assert parse_nvidia_smi_table(counted).gpus[0].mig_mode is None


def test_cuda_failing_on_a_mig_gpu_whose_instances_were_not_recorded_is_gpu_mig(tmp_path):
    validator = ('"[Vector addition of 50000 elements] Failed to allocate vector A (error code initialization error)!" '
                 "is in cuda-validator container's log.\n")
    f = _root_fail(tmp_path, {"commands/nvidia-smi": SMI_MIG_CUT, "commands/pasted-text": validator}, "gpu.mig")
    assert "was not recorded" in f.summary and f.fix.commands[0] == "nvidia-smi -L"


def test_a_mig_gpu_whose_instances_were_not_recorded_is_no_failure_while_cuda_is_silent(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/nvidia-smi": SMI_MIG_CUT}))
    assert report.get("gpu.mig").status.value == "info"


# -- nvidia-container-cli's detection error: the container library fails querying a driver it initialised ------------

def test_a_detection_error_is_the_container_library_not_the_driver(tmp_path):
    line = "nvidia-container-cli: detection error: driver error: failed to process request\n"  # pop-os/pop#888
    f = _root_fail(tmp_path, {"commands/pasted-text": line}, "container.toolkit")
    assert "detection error" in f.summary and "NVIDIA's own repository" in f.fix.summary
    assert any("nvidia-container-toolkit" in c for c in f.fix.commands)


def test_the_initialization_error_form_is_still_the_driver_not_loaded():
    from tfdoctor.evidence import Source, observe

    obs = observe(Source("any", "paste", "nvidia-container-cli: initialization error: driver error: failed to process "
                                         "request\\\\n\\\"\"\": unknown.\n"))  # NVIDIA/gpu-operator#104
    assert [o.message for o in obs] == ["container-cli-driver-error"]
