"""Wave 23, group A: general rules drawn from driver-and-module cases of the corpus. Every machine line below is a
real line from the public thread named beside it; the snapshots around them are hand-built in tmp_path (a state
synthesised for the test, as docs/snapshot-format.md describes)."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _root_fail, _snapshot

# gorgonia/cu#2: the Go CUDA bindings panic in their init when cuInit returns CUDA_ERROR_UNKNOWN
GO_CU_PANIC = ("panic: Unknown\n\ngoroutine 1 [running]:\ngithub.com/chewxy/cu.init.1()\n"
               "\tgithub.com/chewxy/cu/cu.go:13 +0x5e\ngithub.com/chewxy/cu.init()\n")
SMI_375 = "NVIDIA-SMI 375.26                 Driver Version: 375.26\n"


def test_go_cu_bindings_panicking_unknown_in_init_is_cuinit_999_where_the_driver_answers(tmp_path):
    f = _root_fail(tmp_path, {"commands/cudatest.err": GO_CU_PANIC, "commands/cudatest.rc": "2\n",
                              "commands/nvidia-smi_-i_0": SMI_375}, "cuda.device-nodes")
    assert "nvidia_uvm" in f.summary and "sudo modprobe nvidia-uvm" in f.fix.commands
    assert any("panic: Unknown" in e.line and "cu.init" in e.line for e in f.evidence)


def test_a_go_panic_of_another_package_or_error_is_not_cuinit(tmp_path):
    other = GO_CU_PANIC.replace("panic: Unknown", "panic: NotInitialized")
    report = _check(_snapshot(tmp_path, {"commands/cudatest.err": other, "commands/nvidia-smi_-i_0": SMI_375}))
    assert report.get("cuda.device-nodes").status.value != "fail"
    report = _check(_snapshot(tmp_path, {"commands/app.err": GO_CU_PANIC.replace("chewxy/cu", "example/app"),
                                         "commands/nvidia-smi_-i_0": SMI_375}, name="other"))
    assert report.get("cuda.device-nodes").status.value != "fail"
