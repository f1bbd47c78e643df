"""No secrets leave the machine: host names, GPU UUIDs and serials, MACs, IPs and home directories."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tfdoctor.redact import Redactor

R = Redactor(hostnames=("sustc-HG", "gpu-node-17"), homes=("/home/alice",))


def test_gpu_uuids_and_serials_are_redacted():
    text = "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-1f2e3d4c-5b6a-7980-1a2b-3c4d5e6f7a8b)\n    Serial Number : 1323520012345"
    out = R(text)
    assert "1f2e3d4c" not in out and "GPU-<redacted>" in out
    assert "1323520012345" not in out


def test_hostname_from_tensorflow_log_is_redacted_even_when_unknown():
    line = ("I tensorflow/stream_executor/cuda/cuda_diagnostics.cc:156] kernel driver does not appear to be running "
            "on this host (some-other-box): /proc/driver/nvidia/version does not exist")
    assert "some-other-box" not in Redactor()(line)


def test_known_hostname_user_home_mac_and_private_ip_are_redacted():
    text = ("gpu-node-17 kernel: eth0: link up, 52:54:00:12:34:56 inet 10.1.2.3 from 192.168.1.20\n"
            "/home/alice/.venv/bin/python and /home/bob/x")
    out = R(text)
    for secret in ("gpu-node-17", "52:54:00:12:34:56", "10.1.2.3", "192.168.1.20", "alice", "bob"):
        assert secret not in out, secret
    assert "~/.venv/bin/python" in out


def test_versions_that_look_like_addresses_are_kept():
    text = "nvidia-cudnn-cu12 9.3.0.75, nvidia-curand-cu12 10.3.6.82, driver 535.104.05, bus 0000:65:00.0"
    assert R(text) == text


def test_redactor_cleans_json_values_and_drops_secret_keys():
    out = R.obj({"gpus": [{"name": "H100", "uuid": "GPU-x", "serial": "123"}], "path": "/home/alice/a"})
    assert out == {"gpus": [{"name": "H100"}], "path": "~/a"}


@given(st.text())
def test_redaction_never_raises(text):
    assert isinstance(R(text), str)


def test_pinned_revisions_are_not_user_at_host_but_addresses_still_are():
    # a knowledge-base citation (`repo@commit`, as tfdoctor's own fixes cite tensorflow/docs) and a Spack/Homebrew
    # spec (`name@version`) are facts, not an address; an e-mail address or a login beside them still goes
    text = ("CUDA 11.2: TensorFlow 2.11's tested configuration ([S1] "
            "tensorflow/docs@7c3650212740204359d4ceae481abc79345541be:site/en/install/source.md); "
            "spack load cuda@11.8 python@3.11; mail alice@gpu-box.example.org or ssh bob@node7")
    out = Redactor()(text)
    assert "tensorflow/docs@7c3650212740204359d4ceae481abc79345541be:site" in out
    assert "cuda@11.8" in out and "python@3.11" in out
    for secret in ("alice", "gpu-box", "bob", "node7"):
        assert secret not in out
