"""Stop 29 (wave 31): what blind batch 54 and the corpus's misses showed missing.

Every line below is a real line from the public thread named beside it. The snapshots around them are hand-built in
tmp_path (a state synthesised for the test, as docs/snapshot-format.md describes)."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _root_fail, _snapshot

# ollama/ollama#1756 (the ThinkStation S30 thread): Ollama's runner lists a Tesla K80 (3.7); no ARCHS line
K80 = ("Jan  1 20:22:43 thinkstation-s30 ollama[911]: ggml_init_cublas: found 3 CUDA devices:\n"
       "Jan  1 20:22:43 thinkstation-s30 ollama[911]:   Device 0: Tesla K80, compute capability 3.7\n")
# pytorch/pytorch#103832: the nvidia-cublas-cu11 wheel's libcublas beside a CUDA 11.3 image's libcublasLt
CUBLAS_WHEEL = ("OSError: /root/.cache/pypoetry/virtualenvs/my-env-jEFYeG2G-py3.10/lib/python3.10/site-packages/torch/"
                "lib/../../nvidia/cublas/lib/libcublas.so.11: undefined symbol: cublasLtGetStatusString, version "
                "libcublasLt.so.11\n")
# microsoft/onnxruntime#8594 and PaddlePaddle/PaddleSeg#3215: the loader's other wording
CUBLAS_CONDA = ("OSError: /home/gpu/anaconda3/envs/FXM/lib/python3.7/lib-dynload/../../libcublas.so.11: symbol "
                "free_gemm_select version libcublasLt.so.11 not defined in file libcublasLt.so.11 with link time "
                "reference\n")
CUBLAS_TOOLKIT = ("python: relocation error: /usr/local/cuda-11.1/lib64/libcublas.so: symbol runGemmShortApi, version "
                  "libcublasLt.so.11 not defined in file libcublasLt.so.11 with link time reference\n")
# NVIDIA/nvidia-container-toolkit#885: rootless Podman, a CDI spec naming a render node the host no longer has
CDI_NODE = ("Error: setting up CDI devices: failed to inject devices: failed to stat CDI host device "
            "\"/dev/dri/renderD129\": no such file or directory\n")
PODMAN = "commands/podman_run_--rm_--device_nvidia.com%2Fgpu=all_ubuntu_nvidia-smi"


def test_a_kepler_in_ggml_device_list_is_below_the_released_builds(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": K80}))
    f = report.get("compat.compute-capability")
    assert f.status.value == "warn" and report.root_cause is None  # a warning, and nothing failed before it
    assert "Tesla K80 is compute capability 3.7" in f.summary and "from 5.0 (Maxwell) up" in f.summary
    assert "CMAKE_CUDA_ARCHITECTURES=37" in f.fix.summary
    assert any("Device 0: Tesla K80" in e.line for e in f.evidence)


def test_a_maxwell_or_a_kepler_beside_a_newer_gpu_is_not_called_a_failure(tmp_path):
    newer = K80.replace("Device 0: Tesla K80, compute capability 3.7", "Device 0: Tesla M60, compute capability 5.2")
    assert _check(_snapshot(tmp_path, {"commands/pasted-text": newer})).get(
        "compat.compute-capability").status.value not in ("warn", "fail")
    both = K80 + "Jan  1 20:22:43 thinkstation-s30 ollama[911]:   Device 1: Tesla P40, compute capability 6.1\n"
    assert _check(_snapshot(tmp_path, {"commands/pasted-text": both}, "two")).get(
        "compat.compute-capability").status.value not in ("warn", "fail")


def test_libcublas_paired_with_another_releases_cublaslt_is_two_cuda_copies_mixed(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": CUBLAS_WHEEL}, "cuda.libraries")
    assert "libcublasLt.so.11" in f.summary and "two copies of CUDA 11 libraries" in f.summary
    assert "nvidia/cublas/lib" in f.summary
    assert any("ldconfig -p" in c for c in f.fix.commands)
    assert not any("pypoetry" in c for c in f.fix.commands)  # no machine text in a command


def test_the_loaders_symbol_not_defined_wording_reads_the_same(tmp_path):
    for i, line in enumerate((CUBLAS_CONDA, CUBLAS_TOOLKIT)):
        report = _check(_snapshot(tmp_path, {"tensorflow.log": line}, f"s{i}"))
        f = report.get("cuda.libraries")
        assert f.status.value == "fail" and report.root_cause.id == "cuda.libraries", f.summary
        assert "libcublasLt.so.11" in f.summary


def test_a_cublas_symbol_of_its_own_library_is_not_a_mix(tmp_path):
    # an undefined symbol versioned by libcublas itself (not libcublasLt) says nothing about cuBLASLt
    line = CUBLAS_WHEEL.replace("version libcublasLt.so.11", "version libcublas.so.11")
    f = _check(_snapshot(tmp_path, {"tensorflow.log": line})).get("cuda.libraries")
    assert "libcublasLt" not in f.summary


def test_a_cdi_spec_naming_a_device_node_the_host_lost_is_stale(tmp_path):
    f = _root_fail(tmp_path, {PODMAN: "", PODMAN + ".err": CDI_NODE, PODMAN + ".rc": "125\n"}, "container.toolkit")
    assert "/dev/dri/renderD129" in f.summary and "device node" in f.summary
    assert "sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml" in f.fix.commands
