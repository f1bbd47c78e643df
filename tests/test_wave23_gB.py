"""Wave 23, group B: the GPU a desktop's own system summary names. GNOME Settings' About panel prints `Graphics`
beside the GPUs' renderer names (every GPU switcheroo-control lists, joined by ' / '), and people copy it with the
panel's other lines; another vendor's GPU alone there is a machine without an NVIDIA GPU, which is the answer to a
container's `--gpus` refusal on it. Quoted lines are from the public thread named beside them; the snapshots around
them are hand-built in tmp_path (a state synthesised for the test)."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _root_fail, _snapshot

GNOME_ABOUT_INTEL = (  # fboulnois/stable-diffusion-docker#82: the reporter's copy of GNOME's About panel
    "I'm using Ubuntu 22.04.02 LTS\nCore i7-1195G7\nRAM 16GB\nGraphics Mesa Intel® Xe Graphics (TGL GT2)\n"
    "Disk Capacity 512,1GB\n")
GPUS_REFUSED = 'docker: Error response from daemon: could not select device driver "" with capabilities: [[gpu]].\n'


def _observed(text: str) -> dict:
    from tfdoctor.evidence import Source, observe

    return {o.message: o for o in observe(Source("tensorflow", "paste", text))}


def test_gnomes_about_panel_names_the_gpu():
    o = _observed(GNOME_ABOUT_INTEL)["desktop-about-graphics"]
    assert o.group("gpu_model") == "Mesa Intel® Xe Graphics (TGL GT2)" and o.line_no == 4


def test_an_intel_only_about_panel_is_a_machine_without_an_nvidia_gpu(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": GNOME_ABOUT_INTEL + GPUS_REFUSED}, "pci.nvidia-gpu")
    assert "no NVIDIA GPU" in f.summary
    assert any("Graphics Mesa Intel" in e.line for e in f.evidence)
    assert _check(_snapshot(tmp_path, {"commands/pasted-text": GNOME_ABOUT_INTEL + GPUS_REFUSED}, "again")) \
        .get("env.container").caused_by == "pci.nvidia-gpu"


def test_an_about_panel_that_lists_an_nvidia_gpu_too_is_not_read_as_none(tmp_path):
    # synthesised: the panel's form on a hybrid laptop, where switcheroo-control lists both GPUs
    hybrid = "Graphics Mesa Intel® UHD Graphics 630 (CFL GT2) / NVIDIA GeForce GTX 1650\n"
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": hybrid + GPUS_REFUSED}))
    assert report.get("pci.nvidia-gpu").status.value != "fail"
    assert report.root_cause is None or report.root_cause.id != "pci.nvidia-gpu"


def test_nouveaus_renderer_name_is_an_nvidia_gpu():
    # Mesa's nouveau names its renderer after the chip (NV%02X): the panel of a hybrid laptop before the NVIDIA driver
    from tfdoctor.machine import stated_nvidia

    o = _observed("Graphics Mesa Intel® UHD Graphics 630 (CFL GT2) / NV137\n")["desktop-about-graphics"]
    assert stated_nvidia(o.group("gpu_model")) is True
    assert [stated_nvidia(m) for m in ("Gallium 0.4 on NVE7", "NV50", "Mesa Intel® Xe Graphics (TGL GT2)")] \
        == [True, True, False]


def test_prose_that_starts_with_graphics_names_no_gpu():
    for line in ("Graphics drivers are up to date\n", "Graphics work fine with Intel\n", "Graphics: see below\n"):
        assert "desktop-about-graphics" not in _observed(line), line


# kubeflow/examples#483: a GPU build of TensorFlow Serving in a pod on a node without an NVIDIA driver
SERVING_LD = ("/usr/bin/tensorflow_model_server: error while loading shared libraries: libcuda.so.1: cannot open shared "
              "object file: No such file or directory\n")


def test_the_loaders_missing_libcuda_is_cudas_driver_library_missing(tmp_path):
    f = _root_fail(tmp_path, {"commands/kubectl_logs_deployment%2Fserving": SERVING_LD}, "cuda.init")
    assert "libcuda.so.1" in f.summary and any("error while loading shared libraries" in e.line for e in f.evidence)
    assert "--gpus all" in f.fix.summary


def test_the_loaders_missing_libcuda_on_a_machine_without_an_nvidia_gpu_is_that(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": SERVING_LD + GNOME_ABOUT_INTEL}))
    assert report.root_cause.id == "pci.nvidia-gpu" and report.get("cuda.init").status.value != "fail"


def test_another_librarys_loader_error_is_not_libcudas():
    line = "python: error while loading shared libraries: libcudart.so.11.0: cannot open shared object file\n"
    assert "ld-so-libcuda-missing" not in _observed(line)
