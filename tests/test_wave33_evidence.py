"""Stop 31 (wave 33): what blind batch 68 and the corpus's cuDNN cases showed missing.

Every line below is a real line from the public thread named beside it. The snapshots around them are hand-built in
tmp_path (a state synthesised for the test, as docs/snapshot-format.md describes)."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _root_fail, _snapshot

# sglvladi/TensorFlowObjectDetectionTutorial#103: Colab's cuDNN 8.0.5 under a TensorFlow built with 8.1.0
CUDNN_REFUSED = ("2021-11-24 04:51:47.954507: E tensorflow/stream_executor/cuda/cuda_dnn.cc:362] Loaded runtime CuDNN "
                 "library: 8.0.5 but source was compiled with: 8.1.0.  CuDNN library needs to have matching major "
                 "version and equal or higher minor version.\n")
# NVIDIA/nvidia-docker#319: the 375 driver on an AWS GRID K520, the paste cut inside the NVRM message
K520_CUT = ("[ 568.286327] NVRM: The NVIDIA GRID K520 GPU installed in this system is\n"
            "[ 568.286327] NVRM: supported through the NVID\n")
# the whole message as Fedora 26 printed it for a GeForce 320M (tests/cases/drv-legacy340-geforce320m-fedora26)
LEGACY_340 = ("NVRM: The NVIDIA GeForce 320M GPU installed in this system is\n"
              "NVRM:  supported through the NVIDIA 340.xx Legacy drivers. Please\n")
# NVIDIA/nvidia-docker#766: FFmpeg in the emby image, NVIDIA_DRIVER_CAPABILITIES passed but no NVIDIA_VISIBLE_DEVICES
NVCUVID = "[h264_cuvid @ 0x1ec8780] Cannot load libnvcuvid.so.1\n[h264_cuvid @ 0x1ec8780] Failed loading nvcuvid.\n"
# NVIDIA/gpu-operator#2868: a GB300 node after a network-operator upgrade
PEERMEM = ("[Tue Sep  8 17:16:02 2026] nvidia_peermem: disagrees about version of symbol ib_register_peer_memory_client\n"
           "[Tue Sep  8 17:16:02 2026] nvidia_peermem: Unknown symbol ib_register_peer_memory_client (err -22)\n")


def test_tensorflow_refusing_its_cudnn_is_what_cuda_libraries_reports_too(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": CUDNN_REFUSED}))
    libs, tf = report.get("cuda.libraries"), report.get("tf.cuda-libs")
    assert libs.status.value == "fail" and "cuDNN 8.0.5" in libs.summary and "8.1.0" in libs.summary
    assert any("Loaded runtime CuDNN library" in e.line for e in libs.evidence)
    # the same line, said twice: TensorFlow's own account stays the root cause, the library check follows it
    assert tf.status.value == "fail" and report.root_cause.id == "tf.cuda-libs"
    assert libs.caused_by == "tf.cuda-libs"
    assert any("nvidia-cudnn-cu11==8.1" in c or "cudnn" in c for c in libs.fix.commands)


def test_without_tensorflows_refusal_cuda_libraries_says_nothing_of_it(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": "I tensorflow/core/platform/cpu_feature_guard.cc:142] "
                                                           "Your CPU supports instructions that this TensorFlow binary "
                                                           "was not compiled to use: AVX2 FMA\n"}))
    assert report.get("cuda.libraries").status.value not in ("fail", "warn")


def test_several_visible_devices_with_nothing_else_recorded_raise_no_alarm(tmp_path):
    # rapidsai/dask-cuda#1173: a Dask-CUDA worker's CUDA_VISIBLE_DEVICES, healthy
    report = _check(_snapshot(tmp_path, {"env.json": '{"CUDA_VISIBLE_DEVICES": "1,2"}'}))
    f = report.get("env.cuda-visible-devices")
    assert f.status.value == "info" and report.root_cause is None
    assert not [g for g in report.findings if g.status.value in ("warn", "fail")]


def test_one_visible_device_other_than_0_with_nothing_else_recorded_still_warns(tmp_path):
    report = _check(_snapshot(tmp_path, {"env.json": '{"CUDA_VISIBLE_DEVICES": "1"}'}))
    f = report.get("env.cuda-visible-devices")
    assert f.status.value == "warn" and "hides GPU 0" in f.summary


def test_a_legacy_message_cut_before_its_branch_still_says_the_driver_does_not_support_the_gpu(tmp_path):
    f = _root_fail(tmp_path, {"commands/dmesg": K520_CUT}, "driver.recommended")
    assert "GRID K520" in f.summary and "legacy branch" in f.summary and "cut" in f.summary
    assert "sudo dmesg | grep -A2 'GPU installed in this system is'" in f.fix.commands
    assert "470" in f.fix.summary  # tfdoctor's GPU table (nvidia_gpus.json: GRID K520, last branch 470)
    assert f.evidence and "GRID K520" in f.evidence[0].line


def test_the_whole_legacy_message_still_names_its_branch(tmp_path):
    f = _root_fail(tmp_path, {"commands/dmesg": LEGACY_340}, "driver.recommended")
    assert "340 legacy branch" in f.summary and "GeForce 320M" in f.summary


def test_capabilities_without_visible_devices_leave_the_nvidia_runtime_idle(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": NVCUVID,
                              "env.json": '{"NVIDIA_DRIVER_CAPABILITIES": "compute,utility,video"}'},
                   "container.capabilities")
    assert "NVIDIA_VISIBLE_DEVICES is not" in f.summary
    assert any("--gpus all" in c for c in f.fix.commands)
    assert any("NVIDIA_VISIBLE_DEVICES=all" in c for a in f.fix.alternatives for c in a.commands)
    # machine text stays out of commands: the capabilities shown are tfdoctor's own
    assert all("compute,utility,video" not in c for c in f.fix.commands)


def test_with_visible_devices_set_the_video_capability_rule_answers_instead(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": NVCUVID,
                                         "env.json": '{"NVIDIA_VISIBLE_DEVICES": "all", '
                                                     '"NVIDIA_DRIVER_CAPABILITIES": "compute,utility"}'}))
    f = report.get("container.capabilities")
    assert f.status.value == "fail" and "without `video`" in f.summary


def test_a_library_that_loads_leaves_an_unset_visible_devices_alone(tmp_path):
    report = _check(_snapshot(tmp_path, {"env.json": '{"NVIDIA_DRIVER_CAPABILITIES": "compute,utility"}'}))
    assert report.get("container.capabilities").status.value != "fail"


def test_peermem_built_against_another_infiniband_stack_is_a_module_to_rebuild(tmp_path):
    f = _root_fail(tmp_path, {"commands/dmesg": PEERMEM}, "driver.dkms")
    assert "nvidia_peermem" in f.summary and "InfiniBand" in f.summary
    assert f.fix.commands and any("GPU Operator" in a.when for a in f.fix.alternatives)
    assert "lsmod | grep nvidia_peermem" in f.fix.verify


# styler00dollar/VSGAN-tensorrt-docker#42: FFmpeg's NVENC in an image whose last stage dropped the capabilities
NVENC = ("[hevc_nvenc @ 0x55ca461fa380] Cannot load libnvidia-encode.so.1\n"
         "[hevc_nvenc @ 0x55ca461fa380] The minimum required Nvidia driver for nvenc is (unknown) or newer\n")


def test_a_video_library_ffmpeg_cannot_load_where_nothing_says_container_or_host_warns_with_both(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": NVENC}))
    f = report.get("container.capabilities")
    assert f.status.value == "warn" and "libnvidia-encode.so.1" in f.summary and "not recorded" in f.summary
    assert any("NVIDIA_DRIVER_CAPABILITIES=compute,video,utility" in c for c in f.fix.commands)
    assert any("on the host" in a.when for a in f.fix.alternatives)
    assert report.root_cause is None  # a warning: which of the two is not known


def test_on_a_known_host_the_missing_video_library_is_no_container_finding(tmp_path):
    # a recorded snapshot (not hand-built): no container marker means no container
    snap = _snapshot(tmp_path, {"commands/pasted-text": NVENC})
    (tmp_path / "snap" / "manifest.json").write_text('{"format": "tfdoctor-snapshot", "version": 1, '
                                                     '"source": "recorded"}')
    report = _check(snap)
    assert report.get("env.container").status.value == "ok"
    assert report.get("container.capabilities").status.value not in ("warn", "fail")


# BOINC/boinc#2119: `lsmod` on a machine running nouveau on purpose, with CUDA's libraries installed
LSMOD_NOUVEAU = "nouveau              1638400  1\n"
# NVIDIA/pyxis#103: an OptiX program in an NGC container under Slurm
OPTIX = ("RTX Config.........................../home/cnavarro/temporal/RTX-CUDA-template/./src/rtx_functions.h:47 "
         "Optix Error: 'Library not found'\n")


def test_nouveau_loaded_where_the_pci_bus_was_not_recorded_holds_the_nvidia_gpu(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/lsmod": LSMOD_NOUVEAU}))
    f = report.get("driver.nouveau")
    assert f.status.value == "fail" and report.root_cause.id == "driver.nouveau"
    assert report.get("pci.nvidia-gpu").status.value != "fail"


def test_nouveau_beside_a_loaded_nvidia_module_is_not_holding_anything(tmp_path):
    lsmod = LSMOD_NOUVEAU + "nvidia              12976128  9 nvidia_uvm,nvidia_modeset\n"
    report = _check(_snapshot(tmp_path, {"commands/lsmod": lsmod}))
    assert report.get("driver.nouveau").status.value != "fail"


def test_optix_without_its_library_asks_for_the_graphics_capability(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": OPTIX}))
    f = report.get("container.capabilities")
    assert f.status.value == "warn" and "`graphics`" in f.summary and "OptiX" in f.summary
    assert any("NVIDIA_DRIVER_CAPABILITIES=compute,graphics,utility" in c for c in f.fix.commands)


def test_optix_in_a_container_whose_capabilities_lack_graphics_fails(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": OPTIX, "files/.dockerenv": "",
                              "env.json": '{"NVIDIA_VISIBLE_DEVICES": "all", '
                                          '"NVIDIA_DRIVER_CAPABILITIES": "compute,utility"}'},
                   "container.capabilities")
    assert "without `graphics`" in f.summary


def test_optix_in_a_container_with_graphics_is_not_a_capability_problem(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": OPTIX, "files/.dockerenv": "",
                                         "env.json": '{"NVIDIA_VISIBLE_DEVICES": "all", '
                                                     '"NVIDIA_DRIVER_CAPABILITIES": "all"}'}))
    assert report.get("container.capabilities").status.value != "fail"


# kokkos/kokkos#1944: a Volta70 build on a Maxwell Quadro M1000M
KOKKOS = ("Kokkos::Cuda::initialize ERROR: running kernels compiled for compute capability 0.0 (< 5.0) on device with "
          "compute capability 5.0 (>=5.0), this would give incorrect results!\nAborted (core dumped)\n")


def test_a_kokkos_build_for_another_architecture_names_this_gpus_kokkos_option(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": KOKKOS}, "compat.compute-capability")
    assert "Kokkos" in f.summary and "compute capability 5.0" in f.summary
    assert "Kokkos_ARCH_MAXWELL50" in f.fix.summary


# MichalBusta/E2E-MLT#37: a 1 GB card, healthy: the model needs a bigger GPU
OOM_1GB = ("RuntimeError: CUDA out of memory. Tried to allocate 128.00 MiB (GPU 0; 983.69 MiB total capacity; 209.53 MiB "
           "already allocated; 69.56 MiB free; 6.47 MiB cached)\n")
# phamquiluan/ResidualMaskingNetwork#15: other programs held most of an 11 GB card
OOM_OTHERS = ("RuntimeError: CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 10.76 GiB total capacity; 996.23 MiB "
              "already allocated; 8.81 MiB free; 1010.00 MiB reserved in total by PyTorch)\n")
# lmb-freiburg/netdef-docker#6: a CUDA 10.0 image on a Tesla P100 with driver 390.77
REQUIRE_RANGE = ("nvidia-container-cli --load-kmods configure --ldconfig=@/sbin/ldconfig.real --device=all --compute "
                 "--utility --require=cuda>=10.0 brand=tesla,driver>=384,driver<385 --pid=14997 /var/lib/docker/overlay2/"
                 "ecce4a589a17/merged]\\\\nnvidia-container-cli: requirement error: unsatisfied condition: driver < 385\n")
# NVIDIA/nvidia-docker#237: a CUDA 7.5 image on a GTX 1070, the error quoted in a sentence
NVCC_QUOTED = ("I\u2019m getting the error, `Value 'sm_61' is not defined for option 'gpu-architecture\u2019`, which "
               "suggests that my host driver is incompatible\n")


def test_memory_outside_pytorch_on_a_small_card_is_its_own_context_not_another_process(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": OOM_1GB}))
    assert report.get("gpu.memory-in-use").status.value != "fail"


def test_memory_outside_pytorch_beyond_a_context_is_held_by_other_processes(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": OOM_OTHERS}, "gpu.memory-in-use")
    assert "other processes held" in f.summary


def test_a_driver_range_the_image_requires_is_a_driver_older_than_the_images_cuda(tmp_path):
    f = _root_fail(tmp_path, {"commands/docker_run.err": REQUIRE_RANGE, "commands/docker_run.rc": "125\n"},
                   "compat.driver-cuda")
    assert any("driver < 385" in e.line for e in f.evidence)


def test_nvccs_unknown_architecture_quoted_in_a_sentence_is_still_nvccs(tmp_path):
    f = _root_fail(tmp_path, {"commands/pasted-text": NVCC_QUOTED}, "compat.compute-capability")
    assert "sm_61" in f.summary and "CUDA 8.0" in f.summary


# NervanaSystems/neon#80, NVIDIA/cudf#15053, heterodb/pg-strom#262: programs' own minimum compute capability
NEON = "RuntimeError: Device 0 does not have CUDA compute capability 5.0 or greater\n"
CUDF = ("cudf.errors.UnsupportedCUDAError: A GPU with NVIDIA Volta\u2122 (Compute Capability 7.0) or newer architecture "
        "is required.\nDetected GPU 0: Tesla P100-SXM2-16GB\n")
PGSTROM = ("LOG:  GPU0 Quadro K600 (1 SMs, 875MHz), L2 256KB, RAM 980MB (128bits, 891MHz), capability 3.0, NOT SUPPORTED\n"
           "FATAL:  No supported CUDA devices, PG-Strom was disabled\n")
# MouseLand/Kilosort#241: MATLAB R2017a's gpuArray on a driver of the CUDA 5.5 era
MATLAB = ("    The CUDA driver was found, but it is too old. The CUDA driver on your system supports CUDA version 5.5. The "
          "required CUDA version\n    is 7.5 or greater.\n")


def test_a_programs_own_minimum_compute_capability_is_the_gpu_too_old_for_it(tmp_path):
    for name, log, words in (("neon", NEON, "compute capability 5.0 or newer"),
                             ("cudf", CUDF, "compute capability 7.0 or newer"),
                             ("pgstrom", PGSTROM, "compute capability 3.0")):
        report = _check(_snapshot(tmp_path, {"tensorflow.log": log}, name=name))
        f = report.get("compat.compute-capability")
        assert f.status.value == "fail" and report.root_cause.id == "compat.compute-capability", name
        assert words in f.summary and "the driver work" in f.summary, (name, f.summary)


def test_matlabs_driver_too_old_is_the_driver_older_than_the_cuda_it_needs(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": MATLAB}, "compat.driver-cuda")
    assert any("supports CUDA version 5.5" in e.line for e in f.evidence)


def test_the_unversioned_cuda_runtime_a_program_could_not_open_is_a_missing_library(tmp_path):
    # NVIDIA/cudf#16961: cuDF's Numba opens 'libcudart.so', which only a CUDA toolkit installs (WSL2, pip)
    log = "OSError: libcudart.so: cannot open shared object file: No such file or directory\n"
    f = _root_fail(tmp_path, {"tensorflow.log": log}, "tf.cuda-libs")
    assert "libcudart.so" in f.summary


# DeepLabCut/DeepLabCut#1684: deeplabcut-docker with --gpus all on Ubuntu 20.04
NO_GPU_DRIVER = 'docker: Error response from daemon: could not select device driver "" with capabilities: [[gpu]].\n'
# openai/baselines#70: eight MPI workers on one GPU, the log line cut by the page's width inside the CUDA call's name
CTX_OOM_CUT = ("2017-07-25 21:11:16.630413: E tensorflow/core/common_runtime/direct_session.cc:138] Internal: failed "
               "initializing StreamExecutor for CUDA device ordinal 0: Internal: failed call to cuDevicePrimary\n"
               "CtxRetain: CUDA_ERROR_OUT_OF_MEMORY; total memory reported: 11711807488\n"
               "Traceback (most recent call last):\n")


def test_the_engines_own_no_gpu_driver_fails_the_hosts_toolkit_too_under_the_container_finding(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": NO_GPU_DRIVER}))
    f = report.get("container.toolkit")
    assert f.status.value == "fail" and "cannot get the GPU" in f.summary
    assert report.root_cause.id == "env.container" and f.caused_by == "env.container"
    assert "sudo nvidia-ctk runtime configure --runtime=docker" in f.fix.commands


def test_a_message_cut_by_the_page_width_keeps_its_words_across_the_cut(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": CTX_OOM_CUT}, "gpu.memory-in-use")
    assert "could not create a context" in f.summary
    assert any("cuDevicePrimaryCtxRetain: CUDA_ERROR_OUT_OF_MEMORY" in e.line for e in f.evidence)


def test_lines_of_one_width_that_are_whole_messages_keep_their_own_lines(tmp_path):
    # Xid lines of equal width read as a terminal's cut run: each Xid stays an observation of its own line
    from tfdoctor.evidence import Source, observe

    xids = [f"[Sat Oct 12 18:35:32 2024] NVRM: Xid (PCI:0000:61:00): 45, pid=1496200, name=distprovers-gpu, Ch 0000000{c}"
            for c in "abcdef"]
    obs = [o for o in observe(Source("kernel", "dmesg", "\n".join(xids))) if "Xid" in o.line]
    assert obs and all(o.line.count("Xid") == 1 for o in obs)


# marin-community/levanter#103: jaxlib 0.4's vendored XLA refuses the system's cuDNN 8.4.1 (built with 8.6.0)
JAX_CUDNN = ("2023-03-12 21:47:12.489017: E external/org_tensorflow/tensorflow/compiler/xla/stream_executor/cuda/"
             "cuda_dnn.cc:417] Loaded runtime CuDNN library: 8.4.1 but source was compiled with: 8.6.0.  CuDNN library "
             "needs to have matching major version and equal or higher minor version.\n")
# NVlabs/stylegan2-ada#65: NGC 20.10's TensorFlow 1 on a Tesla K80 opens all its CUDA 11 libraries
OPENED = "".join(f"2021-01-10 16:18:33.825170: I tensorflow/stream_executor/platform/default/dso_loader.cc:49] "
                 f"Successfully opened dynamic library {lib}\n" for lib in ("libcudart.so.11.0", "libcublas.so.11",
                                                                             "libcudnn.so.8"))


def test_jaxlibs_cudnn_refusal_is_the_cuda_libraries_finding_not_tensorflows(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": JAX_CUDNN}))
    assert report.root_cause.id == "cuda.libraries"
    assert report.get("tf.cuda-libs").status.value != "fail"


def test_a_log_that_shows_the_cuda_libraries_opened_and_none_failing_says_they_load(tmp_path):
    f = _check(_snapshot(tmp_path, {"tensorflow.log": OPENED})).get("tf.cuda-libs")
    assert f.status.value == "ok" and "libcudnn.so.8" in f.summary


def test_a_log_with_one_library_missing_beside_the_opened_ones_still_fails(tmp_path):
    missing = ("2021-01-10 16:18:33.8: W tensorflow/stream_executor/platform/default/dso_loader.cc:60] Could not load "
               "dynamic library 'libcusolver.so.11'; dlerror: libcusolver.so.11: cannot open shared object file: No "
               "such file or directory\n")
    f = _check(_snapshot(tmp_path, {"tensorflow.log": OPENED + missing})).get("tf.cuda-libs")
    assert f.status.value == "fail" and "libcusolver.so.11" in f.summary


# googlecolab/colabtools#2013: Colab's log viewer doubles some blanks inside TensorFlow's lines
COLAB_SPACED = ("May 14, 2021, 4:54:43 PM | WARNING | 2021-05-14  14:54:43.021067: W  tensorflow/stream_executor/platform/"
                "default/dso_loader.cc:64] Could not  load dynamic library 'libcusolver.so.11'; dlerror: "
                "libcusolver.so.11:\n")


def test_a_line_a_log_viewer_spaced_out_is_read_as_printed(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": COLAB_SPACED}, "tf.cuda-libs")
    assert "libcusolver.so.11" in f.summary
    assert any("Could not  load" in e.line for e in f.evidence)  # the line as it was pasted


def test_single_spacing_keeps_indentation_and_changes_nothing_else():
    from tfdoctor.evidence import _single_spaced

    assert _single_spaced("    a  b\t\tc d") == "    a b c d"
    assert _single_spaced("no runs here") == "no runs here"
    # alignment (a table, nvidia-smi -q) keeps its runs
    assert _single_spaced("CUDA Version                              : 12.2") == \
        "CUDA Version                              : 12.2"


# autorope/donkeycar#1159: Colab's T4 after a pip install replaced its TensorFlow
DLOPEN = ("2024-01-23 11:56:07.005500: W tensorflow/core/common_runtime/gpu/gpu_device.cc:1850] Cannot dlopen some GPU "
          "libraries. Please make sure the missing libraries mentioned above are installed properly if you would like to "
          "use GPU. Follow the guide at https://www.tensorflow.org/install/gpu for how to download and setup the "
          "required libraries for your platform.\nSkipping registering GPU devices...\n")


def test_cannot_dlopen_some_gpu_libraries_says_tensorflow_found_a_gpu_it_could_not_register(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": DLOPEN}))
    assert report.get("tf.gpu-visible").status.value == "fail"
    assert report.get("tf.cuda-libs").status.value == "fail"
    assert report.get("pci.nvidia-gpu").status.value != "fail"


# davidsandberg/facenet#402 (healthy: memory fraction 1.0 of a 6 GB card) and squeezeDet's shared server (another
# user's job held the GPU): CUDA's refusal of gigabytes is no sign of another process, of megabytes it is
FACENET = ("E tensorflow/stream_executor/cuda/cuda_driver.cc:924] failed to allocate 5.93G (6365773824 bytes) from "
           "device: CUDA_ERROR_OUT_OF_MEMORY\n")
SQUEEZEDET = "failed to allocate 106.88M (112066560 bytes) from device: CUDA_ERROR_OUT_OF_MEMORY\n"


def test_a_refused_request_of_gigabytes_is_no_sign_of_another_process(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": FACENET}))
    assert report.get("gpu.memory-in-use").status.value not in ("warn", "fail")


def test_a_refused_request_of_megabytes_still_warns_that_the_memory_was_taken(tmp_path):
    f = _check(_snapshot(tmp_path, {"tensorflow.log": SQUEEZEDET})).get("gpu.memory-in-use")
    assert f.status.value == "warn" and "106.88M" in f.summary
