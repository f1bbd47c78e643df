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


# keras-team/keras#3043: Ubuntu 16.04's per-branch packages name the modules after the branch
UVM_361 = "modprobe: ERROR: could not insert 'nvidia_361_uvm': Invalid argument\n"


def test_a_branch_older_than_the_gpu_whose_modules_modprobe_loads_is_the_driver_to_replace(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": "- GPU: GTX1080\n- OS: Ubuntu 16.04\n\n" + UVM_361},
                   "driver.recommended")
    assert "361" in f.summary and "GeForce GTX 1080" in f.summary and "367.48" in f.summary
    assert f.fix.commands[0] == "sudo apt purge nvidia-361" and "sudo ubuntu-drivers autoinstall" in f.fix.commands
    assert any("nvidia_361_uvm" in e.line for e in f.evidence)


def test_the_updates_flavour_names_its_own_package(tmp_path):
    line = "modprobe: ERROR: could not insert 'nvidia_331_updates_uvm': No such device\n"
    f = _root_fail(tmp_path, {"commands/pasted-text": "GPU: GTX 1080 Ti\n" + line}, "driver.recommended")
    assert f.fix.commands[0] == "sudo apt purge nvidia-331-updates"


def test_a_branch_that_knows_the_gpu_or_a_gpu_not_named_exactly_is_not_judged(tmp_path):
    for name, gpu in (("maxwell", "GTX 980"), ("vague", "GTX 1080 8GB"), ("datacentre", "Tesla P100-PCIE-16GB")):
        report = _check(_snapshot(tmp_path, {"commands/pasted-text": f"GPU: {gpu}\n" + UVM_361}, name=name))
        assert report.get("driver.recommended").status.value != "fail", (gpu, report.get("driver.recommended"))
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": "GPU: GTX1080\n" + UVM_361.replace("361", "375")},
                              name="new"))
    assert report.get("driver.recommended").status.value != "fail"


def test_gpu_names_as_people_write_them_are_matched_exactly():
    from tfdoctor.knowledge import loader as kb

    assert {g.name for g in kb.gpus_named("GTX1080")} == {"NVIDIA GeForce GTX 1080"}
    assert {g.name for g in kb.gpus_named("geforce gtx 1080 ti")} == {"NVIDIA GeForce GTX 1080 Ti"}
    assert kb.gpus_named("GTX 1080 with 8GB") == () and kb.gpus_named("") == ()


# NixOS/nixpkgs#334180: the shell printed nothing for the grep, the next prompt follows at once
LSMOD_NO_UVM = "$ lsmod | grep nvidia_uvm\n$ lsmod | grep nvidia\nnvidia_drm            122880  1\n"


def test_an_empty_grep_of_lsmod_for_nvidia_uvm_in_a_transcript_says_it_is_not_loaded(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": "4. See that `nvidia-uvm` is not loaded:\n" + LSMOD_NO_UVM},
                   "cuda.device-nodes")
    assert "nvidia_uvm module is not loaded" in f.summary and "sudo modprobe nvidia-uvm" in f.fix.commands
    assert any("lsmod | grep nvidia_uvm" in e.line for e in f.evidence)


def test_a_grep_with_output_or_a_cut_transcript_says_nothing_of_nvidia_uvm():
    from tfdoctor.evidence import Source, observe

    for text in ("$ lsmod | grep nvidia_uvm\nnvidia_uvm           1118208  0\n$ nvidia-smi\n",
                 "$ lsmod | grep nvidia_uvm\n",
                 "user@gpu:~$ lsmod | grep nvidia_uvm\nnvidia_uvm  1 0\nuser@gpu:~$\n"):
        assert not any(o.message == "lsmod-grep-uvm-empty" for o in observe(Source("any", "paste", text))), text
    prompt = "user@gpu:~$ lsmod | grep nvidia_uvm\nuser@gpu:~$ nvidia-smi\n"
    assert any(o.message == "lsmod-grep-uvm-empty" for o in observe(Source("any", "paste", prompt)))


# PierreBeucher/cloudypad#179: dockerd words it without `lstat` (an EC2 host after a stop/start)
DOCKERD_NO_UVM = ('Error response from daemon: error gathering device information while adding custom device '
                  '"/dev/nvidia-uvm": no such file or directory\n')


def test_dockerd_saying_dev_nvidia_uvm_is_missing_on_the_host(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/docker_start_wolf.err": DOCKERD_NO_UVM,
                                         "commands/docker_start_wolf.rc": "1\n"}))
    f = report.get("cuda.device-nodes")
    assert f.status.value == "fail" and report.root_cause.id == "cuda.device-nodes", f.summary
    assert "/dev/nvidia-uvm does not exist" in f.summary and f.fix.commands == ("sudo nvidia-modprobe -u -c=0",)
    assert "sudo modprobe nvidia" in f.fix.summary


def test_an_installed_branch_older_than_the_gpu_on_the_bus_where_nothing_answers(tmp_path):
    # a state synthesised for the test: an RTX 3080 (10de:2206) on the bus, nvidia-smi of the 450 branch finding none
    lspci = ("0000:01:00.0 VGA compatible controller [0300]: NVIDIA Corporation GA102 [GeForce RTX 3080] [10de:2206] "
             "(rev a1)\n\tKernel driver in use: nvidia\n\tKernel modules: nvidiafb, nouveau, nvidia\n")
    smi = "No devices were found\n"
    f = _check(_snapshot(tmp_path, {"commands/lspci_-nnk": lspci, "commands/nvidia-smi": smi,
                                    "commands/nvidia-smi.rc": "6\n",
                                    "commands/dpkg_-l": "ii  nvidia-driver-450  450.119.03-0ubuntu0.20.04.1  amd64  "
                                                        "NVIDIA driver metapackage\n"})).get("driver.recommended")
    assert f.status.value == "fail" and "450 driver branch installed predates" in f.summary, f.summary
    assert "455.23" in f.summary and any("0000:01:00.0" in d for d in f.details)
