"""Wave 23, group D: TensorFlow's CUDA libraries as a paste quotes them, libcuda that TensorFlow could not load, other
frameworks' libraries in the same process, CPU-only builds, wheels for another platform. Each test builds a snapshot
of what a machine printed (the machine boundary) and reads the findings tfdoctor draws from it."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _root_fail, _snapshot


# ------------------------------------------------------------------ the loader's refusal, quoted outside the log
def test_a_library_the_paste_quotes_after_an_exception_name_fails_tf_cuda_libs(tmp_path):
    # tensorflow/serving#1316: the traceback in the log is cut; the prose quotes the ImportError (with a stray backtick)
    files = {"tensorflow.log": ">>> import tensorflow\nTraceback (most recent call last):\n"
                               "ImportError: Traceback (most recent call last):\n",
             "commands/pasted-text": "Gives  error - I`mportError: libcublas.so.9.0: cannot open shared object file: "
                                     "No such file or directory`\n"}
    f = _root_fail(tmp_path, files, "tf.cuda-libs")
    assert "libcublas.so.9.0" in f.summary
    assert any("cublas" in c and "9-0" in c for c in f.fix.commands)


def test_a_quoted_oserror_naming_a_cuda_library_is_the_same_refusal(tmp_path):
    files = {"commands/pasted-text": "it fails with `OSError: libcudart.so.11.0: cannot open shared object file: No "
                                     "such file or directory`\n"}
    f = _root_fail(tmp_path, files, "tf.cuda-libs")
    assert "libcudart.so.11.0" in f.summary


def test_a_library_name_inside_a_word_is_not_a_refusal(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": "mylibcudart.so.11.0: cannot open shared object "
                                                                 "file\n"}))
    assert report.get("tf.cuda-libs").status.value != "fail"


def test_xla_missing_libdevice_quoted_without_a_log_warns(tmp_path):
    # aws/sagemaker-distribution: XLA's message quoted in prose, no TensorFlow log at all
    files = {"commands/pasted-text": 'Tests were failing with the error - "Can\'t find libdevice directory '
                                     '${CUDA_DIR}/nvvm/libdevice.\n'}
    report = _check(_snapshot(tmp_path, files))
    f = report.get("tf.cuda-libs")
    assert f.status.value == "warn" and "libdevice" in f.summary
    assert any("xla_gpu_cuda_data_dir" in c for a in f.fix.alternatives for c in a.commands)


# ------------------------------------------------------------------ TensorFlow's diagnostician finds no driver libcuda
_DIAG = ("2020-11-20 09:05:26.945750: I tensorflow/stream_executor/cuda/cuda_diagnostics.cc:169] retrieving CUDA "
         "diagnostic information for host: cn109\n"
         "2020-11-20 09:05:26.945836: I tensorflow/stream_executor/cuda/cuda_diagnostics.cc:200] libcuda reported "
         "version is: {status}: was unable to find libcuda.so DSO loaded into this program\n")
_KERNEL = ("2020-11-20 09:05:26.945893: I tensorflow/stream_executor/cuda/cuda_diagnostics.cc:204] kernel reported "
           "version is: 418.67.0\n")


def test_no_driver_libcuda_loaded_while_the_module_is_loaded_points_at_its_library(tmp_path):
    # ai4d-iasc/trixie#41: the module (418.67) is loaded, libcuda.so.1's links loop
    f = _root_fail(tmp_path, {"tensorflow.log": _DIAG.format(status="Not found") + _KERNEL}, "tf.cuda-libs")
    assert "libcuda.so.1" in f.summary
    assert "418.67" in f.fix.summary and "libcuda.so.418.67" in f.fix.summary
    assert any("ctypes.CDLL('libcuda.so.1')" in c for c in f.fix.commands)
    assert not any("nvidia.com/Download" in c for c in f.fix.commands)  # the driver is installed and loaded


def test_newer_status_spelling_is_the_same_message_and_no_module_means_install_the_driver(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": _DIAG.format(status="NOT_FOUND")}, "tf.cuda-libs")
    assert "libcuda.so.1" in f.summary and "install the driver" in f.fix.summary


def test_a_stub_libcuda_stays_the_root_cause_over_the_diagnostician(tmp_path):
    log = ("2017-11-03 17:57:11.181620: E tensorflow/stream_executor/cuda/cuda_driver.cc:406] failed call to cuInit: "
           "CUresult(-1)\n" + _DIAG.format(status="Not found"))
    files = {"tensorflow.log": log,
             "commands/pasted-text": "Mapped libcuda.so paths: /usr/local/cuda/lib64/stubs/libcuda.so\n"}
    report = _check(_snapshot(tmp_path, files))
    assert report.root_cause is not None and report.root_cause.id == "cuda.libcuda"


# ------------------------------------------------------------------ JAX refuses the cuDNN another library loaded first
def test_jax_refusing_an_older_cudnn_in_its_process_fails_cuda_libraries(tmp_path):
    # jax-ml/jax#19004: torch, imported first, loaded its cuDNN 8.5; jaxlib was built against 8.6
    text = ("will fail with `CUDA backend failed to initialize: Found cuDNN version 8500, but JAX was built against "
            "version 8600, which is newer. The copy of cuDNN that is installed must be at least as new as the version "
            "against which JAX was built. (Set TF_CPP_MIN_LOG_LEVEL=0 and rerun for more info.)`\n")
    f = _root_fail(tmp_path, {"commands/pasted-text": text}, "cuda.libraries")
    assert "8.5.0" in f.summary and "8.6.0" in f.summary and "loaded first" in f.summary
    assert "python3 -m pip install 'nvidia-cudnn-cu11>=8.6.0,<9'" in f.fix.commands
    assert "first library to load it wins" in f.fix.summary


def test_jax_cudnn_9_built_asks_for_the_cuda_12_wheel(tmp_path):
    text = "Found cuDNN version 8906, but JAX was built against version 90100, which is newer.\n"
    f = _root_fail(tmp_path, {"commands/pasted-text": text}, "cuda.libraries")
    assert "python3 -m pip install 'nvidia-cudnn-cu12>=9.1.0,<10'" in f.fix.commands


# ------------------------------------------------------------------ an older NCCL loaded first in the process
def test_torch_missing_an_nccl_function_is_a_framework_conflict(tmp_path):
    # rapidsai/cugraph#4465: CuPy, imported first, loaded the system's NCCL 2.16; torch needs the wheel's 2.20
    text = ("    torch = import_optional(\"torch\")\n"
            "E   ImportError: /pyenv/versions/3.9.19/lib/python3.9/site-packages/torch/lib/libtorch_cuda.so: undefined "
            "symbol: ncclCommRegister\n")
    f = _root_fail(tmp_path, {"commands/pasted-text": text}, "python.framework-conflicts")
    assert "ncclCommRegister" in f.summary and "libtorch_cuda.so" in f.summary
    assert "first one loaded wins" in f.fix.summary
    assert any("torch.cuda.nccl.version()" in c for c in f.fix.commands)
    assert f.evidence and "ncclCommRegister" in f.evidence[0].line


def test_an_undefined_non_nccl_symbol_is_not_an_nccl_conflict(tmp_path):
    text = "ImportError: /x/torch/lib/libtorch_cuda.so: undefined symbol: cudaGraphInstantiateWithFlags\n"
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": text}))
    assert report.get("python.framework-conflicts").status.value != "fail"


# ------------------------------------------------------------------ conda-forge's TensorFlow from before its CUDA variants
def test_conda_forge_tensorflow_with_only_a_python_build_tag_is_a_cpu_build(tmp_path):
    # conda/conda#7970: conda-forge's CPU-only tensorflow took the name under defaults' tensorflow-gpu metapackage
    conda = ("tensorflow                1.10.0                   py36_0    conda-forge\n"
             "tensorflow-gpu            1.10.0               hf154084_0    defaults\n")
    f = _root_fail(tmp_path, {"commands/conda_list": conda}, "tf.cuda-build")
    assert "conda lists a CPU variant" in f.summary
    assert any("py36_0" in e.line for e in f.evidence)


def test_conda_forge_cuda_variant_and_defaults_python_tag_are_not_read_as_cpu(tmp_path):
    conda = ("tensorflow                2.11.0          cuda112py310he87a039_0    conda-forge\n"
             "tensorflow                1.10.0                   py36_0\n")
    report = _check(_snapshot(tmp_path, {"commands/conda_list": conda}))
    assert report.get("tf.cuda-build").status.value != "fail"


# ------------------------------------------------------------------ a wheel refused for its platform, not its Python
_REFUSED = "ERROR: tensorflow-1.14.0-cp36-cp36m-manylinux1_x86_64.whl is not a supported wheel on this platform.\n"
_NONE = ("ERROR: Could not find a version that satisfies the requirement tensorflow (from versions: none)\n"
         "ERROR: No matching distribution found for tensorflow\n")


def test_a_wheel_refused_for_its_platform_when_its_python_tag_fits_is_tf_installed(tmp_path):
    # tensorflow/tensorflow#31058: an NVIDIA Jetson Xavier (aarch64), Python 3.6.8, PyPI's x86_64 wheel
    files = {"commands/pip3_install_tensorflow-1.14.0-cp36-cp36m-manylinux1_x86_64.whl.err": _REFUSED,
             "commands/pip3_install_tensorflow.err": _NONE,
             "commands/pasted-text": "- Nvidia Jetson Xavier\n- Python version: 3.6.8\n"}
    report = _check(_snapshot(tmp_path, files))
    f = report.get("tf.installed")
    assert f.status.value == "fail" and report.root_cause.id == "tf.installed"
    assert "x86_64" in f.summary and "cp36" in f.summary
    assert "uname -m" in f.fix.commands
    assert report.get("compat.python").status.value == "skip"  # not a Python-version problem


def test_a_refused_wheel_for_another_python_is_left_to_compat_python(tmp_path):
    files = {"commands/pip_install.err": _REFUSED + _NONE, "commands/pasted-text": "Python version: 3.8.10\n"}
    report = _check(_snapshot(tmp_path, files))
    assert report.get("tf.installed").status.value != "fail"
    assert report.get("compat.python").status.value == "fail"


# ------------------------------------------------------------------ the pip cuDNN appended after LD_LIBRARY_PATH
_APPEND = ("echo 'export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$CONDA_PREFIX/lib/:$CUDNN_PATH/lib' >> "
           "$CONDA_PREFIX/etc/conda/activate.d/env_vars.sh\n")
_CUT = ("2023-06-01 15:58:54.130390: E tensorflow/compiler/xla/stream_executor/cuda/cuda_dnn.cc:417] Loaded runtime "
        "CuDNN library: 8.1.1 but source was compiled wit\n")


def test_a_refused_cudnn_with_the_pip_cudnn_appended_last_is_the_ld_library_path_order(tmp_path):
    # tensorflow/tensorflow#60750: the guide's activation line appends; the system cuDNN 8.1.1 is found first
    f = _root_fail(tmp_path, {"tensorflow.log": _CUT, "commands/pasted-text": _APPEND}, "python.ld-library-path")
    assert "8.1.1" in f.summary and "$CUDNN_PATH/lib" in f.summary
    assert ("sed -i 's|^export LD_LIBRARY_PATH=.*|export LD_LIBRARY_PATH=$CUDNN_PATH/lib:$CONDA_PREFIX/lib/:"
            "$LD_LIBRARY_PATH|' $CONDA_PREFIX/etc/conda/activate.d/env_vars.sh") in f.fix.commands


def test_a_cut_cudnn_refusal_alone_still_fails_tf_cuda_libs(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": _CUT}, "tf.cuda-libs")
    assert "8.1.1" in f.summary and "cut" in f.summary


def test_the_appending_line_alone_is_no_problem(tmp_path):
    report = _check(_snapshot(tmp_path, {"commands/pasted-text": _APPEND}))
    assert report.get("python.ld-library-path").status.value != "fail"
    assert report.root_cause is None
