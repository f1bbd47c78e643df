"""Wave 23, group G: the GPU set-up messages that other CUDA programs print, read from their source (PyTorch's
c10/cuda/CUDAFunctions.cpp and torch/cuda/__init__.py, ggml-cuda.cu's ggml_cuda_init, ollama's gpu_info_cudart.c):
the CUDA runtime's code of a program's first call (PyTorch's 'Unexpected error from cudaGetDeviceCount() ... Error N',
ollama's 'cudart init failure: N', ggml's 'failed to initialize CUDA: <text>'), CUDA's 'no CUDA-capable device is
detected' in any program's words, ollama's 'your nvidia driver is too old or missing', and PyTorch's 'PyTorch no
longer supports this GPU because it is too old'. Every line is a real line from the public thread named beside it;
the snapshots around them are hand-built in tmp_path."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _root_fail, _snapshot


def _ids(line: str) -> list[str]:
    from tfdoctor import evidence

    return [e.id for e in evidence.catalogue() if e.pattern.search(line.strip())]


# ------------------------------------------------------------------ the CUDA runtime's code of the first call
# xorbitsai/inference#1704 (PyTorch and llama.cpp in one Docker container on Windows; the fix: update Docker)
TORCH_500 = ("/opt/conda/lib/python3.10/site-packages/torch/cuda/__init__.py:118: UserWarning: CUDA initialization: "
             "Unexpected error from cudaGetDeviceCount(). Did you run some cuda functions before calling "
             "NumCudaDevices() that might have already set an error? Error 500: named symbol not found (Triggered "
             "internally at ../c10/cuda/CUDAFunctions.cpp:108.)\n")
GGML_500 = "ggml_cuda_init: failed to initialize CUDA: named symbol not found\n"  # the same thread


def test_pytorchs_500_in_a_container_is_the_toolkit_older_than_the_driver(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": TORCH_500, "files/.dockerenv": ""}, "container.toolkit")
    assert "CUDA_ERROR_NOT_FOUND (500)" in f.summary
    assert any("cudaGetDeviceCount" in e.line for e in f.evidence)


def test_ggmls_text_alone_is_read_as_its_code(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": GGML_500, "files/.dockerenv": ""}, "container.toolkit")
    assert "500" in f.summary


def test_pytorchs_500_on_a_host_is_cudas_answer_not_a_container_toolkit(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": TORCH_500}))
    assert report.get("container.toolkit").status.value != "fail"
    assert report.get("cuda.init").status.value == "fail" and "500" in report.get("cuda.init").summary


def test_ggmls_unknown_error_is_cudas_999(tmp_path):
    # the same function's text for cudaErrorUnknown (llama.cpp#6185 made ggml_cuda_init print it)
    f = _root_fail(tmp_path, {"commands/pasted-text": "ggml_cuda_init: failed to initialize CUDA: unknown error\n"},
                   "cuda.init")
    assert "999" in f.summary and "nvidia_uvm" in f.summary


def test_ollamas_cudart_code_is_read_and_100_with_every_gpu_hidden_is_cuda_visible_devices(tmp_path):
    # ollama/ollama#9496: the user ran ollama with CUDA_VISIBLE_DEVICES=-1 on purpose (CPU only)
    line = ('time=2025-03-05T11:57:30.889+10:00 level=DEBUG source=gpu.go:574 msg="Unable to load cudart library '
            'C:\\\\Users\\\\clint\\\\AppData\\\\Local\\\\Programs\\\\Ollama\\\\lib\\\\ollama\\\\cuda_v11\\\\'
            'cudart64_110.dll: cudart init failure: 100"\n')
    assert _ids(line) == ["cuda-runtime-init-code-printed"]
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": line, "env.json": '{"CUDA_VISIBLE_DEVICES": "-1"}'}))
    assert report.root_cause.id == "env.cuda-visible-devices"


def test_codes_the_runtime_numbered_otherwise_are_not_read_as_cuinits():
    # PyTorch's out-of-memory at initialisation (2) is no cuInit code; ollama's 35 has an entry of its own
    oom = ("UserWarning: CUDA initialization: Unexpected error from cudaGetDeviceCount(). Did you run some cuda "
           "functions before calling NumCudaDevices() that might have already set an error? Error 2: out of memory")
    assert "cuda-runtime-init-code-printed" not in _ids(oom)
    assert "cuda-runtime-init-code-printed" not in _ids("Unable to load cudart CUDA management library "
                                                        "/usr/lib/libcudart.so.12: cudart init failure: 35")
    # ggml's texts that other entries read by their words are left to them
    assert _ids("ggml_cuda_init: failed to initialize CUDA: CUDA driver version is insufficient for CUDA runtime "
                "version") == ["driver-insufficient"]


# ------------------------------------------------------------------ 'no CUDA-capable device is detected', anywhere
CORTEX = ("2024-10-11T12:45:53.660Z [CORTEX]::Error: ggml_cuda_init: failed to initialize CUDA: no CUDA-capable device "
          "is detected\n")  # janhq/cortex.cpp#1470


def test_cudas_no_device_in_other_programs_words_is_code_100(tmp_path):
    for line in (CORTEX,
                 "RuntimeError: CUDA failed with error no CUDA-capable device is detected",  # faster-whisper-GUI#23
                 "cuda runtime error (38) : no CUDA-capable device is detected at "
                 "..\\aten\\src\\THC\\THCGeneral.cpp:50"):  # microsoft/nni#2916 (CUDA 10's number for it)
        assert _ids(line) == ["cuda-runtime-no-device"], line
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": CORTEX, "env.json": '{"CUDA_VISIBLE_DEVICES": "1"}'}))
    assert report.root_cause.id == "env.cuda-visible-devices" and "CUDA_ERROR_NO_DEVICE" in report.root_cause.summary


def test_no_device_alone_is_a_symptom_not_a_verdict(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": CORTEX}))
    assert report.root_cause is None or report.root_cause.id != "cuda.init"


# ------------------------------------------------------------------ ollama: 'your nvidia driver is too old or missing'
OLLAMA_35 = ('time=2024-03-30T15:05:41.304Z level=INFO source=gpu.go:340 msg="Unable to load cudart CUDA management '
             'library /tmp/ollama4102197452/runners/cuda_v11/libcudart.so.11.0: cudart init failure: 35"\n')  # #3417
OLLAMA_TOO_OLD = ('time=2024-09-03T16:36:00.853+08:00 level=DEBUG source=gpu.go:537 msg="Unable to load cudart" '
                  'library=C:\\Users\\asus\\AppData\\Local\\Programs\\Ollama\\lib\\ollama\\cudart64_12.dll '
                  'error="your nvidia driver is too old or missing.  If you have a CUDA GPU please upgrade to run '
                  'ollama"\n')  # ollama/ollama#6604 (dhiltgen: 'Yes, that driver was too old')


def test_ollamas_35_in_both_wordings_is_the_driver_too_old_for_its_cuda_runtime(tmp_path):
    for name, line in (("a", OLLAMA_35), ("b", OLLAMA_TOO_OLD)):
        assert _ids(line) == ["ollama-cudart-driver-too-old"], line
        (tmp_path / name).mkdir()
        f = _root_fail(tmp_path / name, {"commands/pasted-text": line}, "compat.driver-cuda")
        assert "older than the CUDA runtime" in f.summary


# ------------------------------------------------------------------ PyTorch 0.3.1-1.12: the GPU is older than the build
TITAN = ("The console returned a pretty cut and dry error: Found GPU0 NVIDIA GTX TITAN Black which is of cuda "
         "capability 3.5. PyTorch no longer supports this GPU because it is too old. The minimum cuda capability "
         "supported by this library is 3.7.\n")  # AUTOMATIC1111/stable-diffusion-webui#3003
GTX670M = ("C:\\Users\\Caner\\Anaconda3\\lib\\site-packages\\torch\\cuda\\__init__.py:117: UserWarning: \n"
           "    Found GPU0 GeForce GTX 670M which is of cuda capability 2.1.\n"
           "    PyTorch no longer supports this GPU because it is too old. warnings.warn(old_gpu_warn % (d, name, "
           "major, capability[1]))\n")  # pytorch/pytorch#16712


def test_pytorchs_too_old_gpu_is_the_build_not_the_gpu_or_driver(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": TITAN}, "compat.compute-capability")
    assert "NVIDIA GTX TITAN Black (compute capability 3.5)" in f.summary and "(3.7)" in f.summary
    assert "PyTorch" in f.fix.summary and "from source" in f.fix.summary


def test_the_warning_one_sentence_a_line_names_the_gpu_from_its_first_line(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": GTX670M}, "compat.compute-capability")
    assert "GeForce GTX 670M (compute capability 2.1)" in f.summary


def test_the_newer_wording_keeps_its_own_summary(tmp_path):
    # Hellod035/LeggedLab#26: PyTorch 1.13+'s 'is not compatible' wording is torch-sm-not-compatible's
    line = ("NVIDIA GeForce RTX 5090 with CUDA capability sm_120 is not compatible with the current PyTorch "
            "installation.\n")
    assert _ids(line) == ["torch-sm-not-compatible"]
    f = _root_fail(tmp_path, {"commands/pasted-text": line}, "compat.compute-capability")
    assert "no kernels for the NVIDIA GeForce RTX 5090 (sm_120)" in f.summary


# ------------------------------------------------------------------ ollama: the GPU is older than its CUDA build
def test_ollamas_too_old_gpu_is_its_cuda_build_not_the_gpu_or_driver(tmp_path):
    line = ("2024/01/14 19:50:06 gpu.go:138: CUDA GPU is too old. Falling back to CPU mode. Compute Capability "
            "detected: 5.2\n")  # ollama/ollama#1992 (a GTX 970 with ollama 0.1.20)
    f = _root_fail(tmp_path, {"commands/pasted-text": line}, "compat.compute-capability")
    assert "compute capability 5.2" in f.summary and "ollama" in f.fix.summary



# ------------------------------------------------------------------ ONNX Runtime: its CUDA provider's cuDNN is missing
def test_onnxruntimes_missing_cudnn_is_that_cudnn_major_not_installed(tmp_path):
    line = ("2024-02-23 12:12:19.240097373 [E:onnxruntime:Default, provider_bridge_ort.cc:1546 TryGetProviderInfo_CUDA] "
            "/onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:1209 onnxruntime::Provider& "
            "onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] : 1 : FAIL : Failed to load library "
            "libonnxruntime_providers_cuda.so with error: libcudnn.so.8: cannot open shared object file: No such file "
            "or directory\n")  # microsoft/onnxruntime#19616
    f = _root_fail(tmp_path, {"commands/pasted-text": line}, "cuda.libraries")
    assert "cuDNN 8 is not installed" in f.summary and "libcudnn.so.8" in f.summary
    assert any("libonnxruntime_providers_cuda" in e.line for e in f.evidence)


def test_onnxruntimes_other_missing_libraries_are_not_read_as_cudnn():
    line = ("[ONNXRuntimeError] : 1 : FAIL : Failed to load library libonnxruntime_providers_cuda.so with error: "
            "libcufft.so.10: cannot open shared object file: No such file or directory")  # ardha27/...Colab#10
    assert "ort-cuda-provider-cudnn-missing" not in _ids(line)
