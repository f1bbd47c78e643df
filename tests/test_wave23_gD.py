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
