"""Stop 25 (wave 27): what blind batch 35 and the corpus's misses showed missing.

Every line below is a real line from the public thread named beside it. The snapshots around them are hand-built in
tmp_path (a state synthesised for the test, as docs/snapshot-format.md describes)."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _snapshot

# BichenWuUCB/squeezeDet#77: another user's job held the GPU ('Someone else was running something on the server')
REFUSED = "failed to allocate 106.88M (112066560 bytes) from device: CUDA_ERROR_OUT_OF_MEMORY"
# TensorFlow's allocator running out on the program's own tensors (the out-of-memory entry's example, as
# bfc_allocator.cc prints it: shared/reference/knowledge.md 6)
OWN = "Allocator (GPU_0_bfc) ran out of memory trying to allocate 2.00GiB"


def test_cuda_refusing_the_device_allocation_is_memory_held_by_another_process(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": REFUSED + "\n"}))
    f = report.get("gpu.memory-in-use")
    assert f.status.value == "fail" and report.root_cause.id == "gpu.memory-in-use"
    assert "106.88M" in f.summary and "another process" in f.summary
    assert [e.line for e in f.evidence] == [REFUSED]
    assert "nvidia-smi" in f.fix.text()


def test_a_refusal_beside_the_programs_own_allocator_running_out_is_no_finding(tmp_path):
    # with memory growth the program's own tensors can fill the GPU: then the refusal proves nothing about others
    report = _check(_snapshot(tmp_path, {"tensorflow.log": REFUSED + "\n" + OWN + "\n"}, "own"))
    assert report.get("gpu.memory-in-use").status.value != "fail"
