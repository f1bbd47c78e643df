"""Wave 23, group C: containers, Kubernetes, WSL2 and GPU memory that other processes hold. Every message line below
is a real line from the public thread named beside it; the snapshots around them are hand-built in tmp_path (a state
synthesised for the test, as docs/snapshot-format.md describes)."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _root_fail, _snapshot

# -- a small request refused by the device: the GPU's memory was held by others ---------------------------------------

def test_a_small_allocation_refused_by_the_device_is_memory_held_by_other_processes(tmp_path):
    # tensorflow/models#892: cifar10_eval.py while the suspended (Ctrl+Z) training still held the GPU
    f = _root_fail(tmp_path, {"tensorflow.log": "failed to allocate 157.88M (165543936 bytes) from device: "
                                                "CUDA_ERROR_OUT_OF_MEMORY\n"}, "gpu.memory-in-use")
    assert "158 MiB" in f.summary and "other processes" in f.summary
    assert f.fix.commands and "query-compute-apps" in f.fix.commands[0]


def test_a_large_allocation_refused_is_not_read_as_other_processes(tmp_path):
    # the same message for a request of gigabytes says nothing about who holds the memory
    report = _check(_snapshot(tmp_path, {"tensorflow.log": "failed to allocate 7.50G (8053063680 bytes) from device: "
                                                           "CUDA_ERROR_OUT_OF_MEMORY\n"}))
    assert report.get("gpu.memory-in-use").status.value != "fail"


def test_a_small_refusal_on_an_integrated_gpu_is_not_read_as_other_processes(tmp_path):
    log = ("Found device 0 with properties: name: NVIDIA Tegra X1 major: 5 minor: 3 memoryClockRate(GHz): 0.9216\n"
           "failed to allocate 157.88M (165543936 bytes) from device: CUDA_ERROR_OUT_OF_MEMORY\n")
    report = _check(_snapshot(tmp_path, {"tensorflow.log": log}))
    assert report.get("gpu.memory-in-use").status.value != "fail"
