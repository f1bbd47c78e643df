"""Stop 24 (wave 26): Ray's workers without a GPU, list_logical_devices answering [], and a pinned revision that is
not a user@host.

Every line below is a real line from the public thread named beside it. The snapshots around them are hand-built in
tmp_path (a state synthesised for the test, as docs/snapshot-format.md describes)."""

from __future__ import annotations

from tests.test_stated_evidence import _check, _root_fail, _snapshot
from tfdoctor.evidence import Source, observe

# avisingh599/reward-learning-rl#15: a Tune trial's worker, as Ray forwarded its output to the driver
RAY_WORKER = ("(pid=3343) 2019-08-13 11:02:51.856630: E tensorflow/stream_executor/cuda/cuda_driver.cc:300] failed "
              "call to cuInit: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected")
# the same TensorFlow line without Ray's prefix (tensorflow/tensorflow#255's form: any process with no GPU)
PLAIN = ("2019-08-13 11:02:51.856630: E tensorflow/stream_executor/cuda/cuda_driver.cc:300] failed call to cuInit: "
         "CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected")
# ray-project/ray_lightning#77: Tune's own warning
TUNE = ("2021-08-17 12:26:32,703\tWARNING tune.py:495 -- Tune detects GPUs, but no trials are using GPUs. To enable "
        "trials to use GPUs, set tune.run(resources_per_trial={'gpu': 1}...) which allows Tune to expose 1 GPU to each "
        "trial. You can also override `Trainable.default_resource_request` if using the Trainable API.")
# ray-project/ray#37225: Ray 2.x names the worker before pid= (here in a RayTaskError's header, not a forwarded line)
RAY2_HEADER = ("ray.exceptions.RayTaskError(RuntimeError): ray::ImplicitFunc.train() (pid=4101608, ip=192.168.112.106, "
               "repr=<lambda>)")


def _ids(text: str) -> list[str]:
    return [o.message for o in observe(Source("tensorflow", "tensorflow.log", text))]


def test_a_ray_worker_without_a_gpu_is_told_apart_from_a_plain_no_device():
    assert "ray-worker-cuda-no-device" in _ids(RAY_WORKER)
    assert "ray-worker-cuda-no-device" not in _ids(PLAIN)
    assert "ray-worker-cuda-no-device" not in _ids(RAY2_HEADER)  # a task's header is not CUDA's answer
    # Ray 1.x+ names the actor or trial before pid= (the prefix form of Ray's log monitor); synthesised pairing
    assert "ray-worker-cuda-no-device" in _ids("(RolloutWorker pid=2211, ip=10.0.0.5) " + PLAIN)


def test_ray_giving_the_worker_no_gpu_is_the_root_cause(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": RAY_WORKER + "\n"}, "env.cuda-visible-devices")
    assert "Ray" in f.summary and "num_gpus" in f.fix.text() and "resources_per_trial" in f.fix.text()
    assert any("(pid=3343)" in e.line for e in f.evidence)


def test_tunes_own_warning_is_read(tmp_path):
    f = _root_fail(tmp_path, {"tensorflow.log": TUNE + "\n" + PLAIN + "\n"}, "env.cuda-visible-devices")
    assert any("Tune detects GPUs" in e.line for e in f.evidence)


def test_without_ray_no_device_is_not_blamed_on_ray(tmp_path):
    report = _check(_snapshot(tmp_path, {"tensorflow.log": PLAIN + "\n"}))
    assert report.get("env.cuda-visible-devices").status.value == "skip"


def test_a_driver_shown_down_comes_before_ray(tmp_path):
    # a Ray worker's no-device line beside nvidia-smi's refusal (NVIDIA's wording, all branches): the driver is the
    # cause; synthesised pairing
    smi = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest "
           "NVIDIA driver is installed and running.\n")
    report = _check(_snapshot(tmp_path, {"tensorflow.log": RAY_WORKER + "\n", "commands/nvidia-smi": smi,
                                         "commands/nvidia-smi.rc": "9\n"}))
    assert report.get("env.cuda-visible-devices").status.value != "fail"


def test_list_logical_devices_answering_empty_says_tensorflow_registered_no_gpu():
    # huggingface/community-events#118 (its code fences between the two lines left out)
    assert "tf-list-gpus-empty" in _ids('tf.config.list_logical_devices("GPU")\nOutput:\n[]')
    assert "tf-list-gpus-empty" not in _ids('tf.config.list_logical_devices("GPU")\n'
                                            "[LogicalDevice(name='/device:GPU:0', device_type='GPU')]")


def test_a_stated_release_without_the_word_version(tmp_path):
    # huggingface/community-events#118: 'TensorFlow: 2.11.0' answers tf.version, so the driver is judged against it
    snap = _snapshot(tmp_path, {"commands/pasted-text": "NVIDIA-SMI 515.65.01\nDriver Version: 515.65.01\n"
                                                        "CUDA Version: 11.7\nTensorFlow: 2.11.0\n"})
    f = _check(snap).get("compat.driver-cuda")
    assert f.status.value == "ok" and "2.11.0" in f.summary
