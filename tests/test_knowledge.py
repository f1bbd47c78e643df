"""Consistency and fact checks for the knowledge base (tfdoctor/knowledge)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tfdoctor.knowledge import loader as kb


def _log_messages():
    """What TensorFlow's log is read with: the `tensorflow` and `cuda` parts of the one catalogue of known messages
    (tfdoctor/evidence.py: TENSORFLOW_LOG)."""
    from types import SimpleNamespace

    from tfdoctor import evidence

    return [SimpleNamespace(kind=e.id, pattern=e.pattern, severity_hint=e.severity, example=e.example,
                            more_examples=e.more_examples) for e in evidence.catalogue()
            if e.source_kind in evidence.TENSORFLOW_LOG.split("+")]


    from tfdoctor import textmatch

    return [SimpleNamespace(pattern=textmatch.compile(r["pattern"]), example=r["example"])
            for r in json.loads((Path(kb.__file__).parent / "messages.json").read_text())["line_prefixes"]]

KDIR = Path(kb.__file__).resolve().parent
STATUS_CODES = {"P", "P*", "S", "I", "K"}


def _json(name: str) -> dict:
    return json.loads((KDIR / name).read_text(encoding="utf-8"))


def _records() -> list[tuple[str, dict]]:
    out: list[tuple[str, dict]] = []
    tb = _json("tensorflow_builds.json")
    out += [("tensorflow_builds.builds", r) for r in tb["builds"]]
    out += [("tensorflow_builds.library_packages", r) for r in tb["library_packages"]]
    cd = _json("cuda_drivers.json")
    out += [("cuda_drivers.minor_version_compatibility", r) for r in cd["minor_version_compatibility"]]
    out += [("cuda_drivers.toolkit_drivers", r) for r in cd["toolkit_drivers"]]
    out += [("architectures", r) for r in _json("architectures.json")["architectures"]]
    out += [("nvidia_gpus", r) for r in _json("nvidia_gpus.json")["gpus"]]
    lm = _json("messages.json")
    out += [("messages.messages", r) for r in lm["messages"]]
    out += [("cuda_errors", r) for r in _json("cuda_errors.json")["errors"]]
    out += [("nvidia_smi.exit_codes", r) for r in _json("nvidia_smi.json")["exit_codes"]]
    return out


# ----------------------------------------------------------------------------- every record is sourced


def test_every_record_has_a_source_and_a_status():
    records = _records()
    assert len(records) > 1300
    for where, rec in records:
        assert isinstance(rec.get("source"), str) and rec["source"].strip(), (where, rec)
        status = rec.get("status", rec.get("apt_status"))
        assert status in STATUS_CODES, (where, rec)


def test_all_files_are_valid_json_and_loader_imports_only_stdlib():
    for path in KDIR.glob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))
    text = (KDIR / "loader.py").read_text(encoding="utf-8")
    imported = set(re.findall(r"^(?:from|import) ([\w.]+)", text, re.M))
    assert imported <= {"__future__", "json", "re", "dataclasses", "functools", "pathlib", "typing"}, imported


# ----------------------------------------------------------------------------- TensorFlow builds


def test_tf_versions_cover_1_15_and_2_0_to_2_21_oldest_first():
    versions = [b.version for b in kb.tf_versions()]
    assert versions == ["1.15"] + [f"2.{i}" for i in range(22)]


@pytest.mark.parametrize("build", kb.tf_versions(), ids=lambda b: b.version)
def test_build_is_internally_consistent(build):
    assert kb.parse_version(build.python_min) <= kb.parse_version(build.python_max)
    # every CUDA version a build uses has a driver minimum (an exact x.y row in Table 3)
    req = kb.min_driver_for_cuda(build.cuda)
    assert req.toolkit_driver, build.cuda
    assert req.toolkit_row.startswith(build.cuda), (build.cuda, req.toolkit_row)
    assert req.source
    # arch lists sorted, no overlap between SASS and PTX semantics problems
    assert list(build.sass) == sorted(build.sass, key=kb.parse_version)
    assert list(build.ptx) == sorted(build.ptx, key=kb.parse_version)
    assert build.sass and build.ptx
    # every library the build dlopens has a package (pip for CUDA >= 11.8 wheels era, apt always)
    assert build.libraries
    for lib in build.libraries:
        assert kb.apt_package_for_library(lib, build.cuda), (build.version, lib)
        if build.has_and_cuda_extra:
            assert kb.pip_package_for_library(lib, build.cuda), (build.version, lib)
    assert build.source and build.arch_source


def test_and_cuda_extra_starts_at_2_14_and_pins_match_cuda_family():
    for b in kb.tf_versions():
        assert b.has_and_cuda_extra == (b.version != "1.15" and kb.parse_version(b.version) >= (2, 14))
        for pkg, _ver in b.and_cuda_pins:
            if pkg.startswith("nvidia-"):
                assert pkg.endswith("-cu" + b.cuda.split(".")[0]), (b.version, pkg)
    pins = dict(kb.tf_build("2.16.1").and_cuda_pins)
    assert pins["nvidia-cudnn-cu12"] == "8.9.7.29"


def test_tf_build_version_parsing():
    assert kb.tf_build("2.16.1").version == "2.16"
    assert kb.tf_build("2.21.0rc1").version == "2.21"
    assert kb.tf_build("2.15.0.post1").version == "2.15"
    assert kb.tf_build("1.15.5").version == "1.15"
    assert kb.tf_build("2.99.0") is None
    assert kb.tf_build("garbage") is None


def test_known_build_facts():
    b = kb.tf_build("2.16")
    assert (b.python_min, b.python_max, b.cuda, b.cudnn) == ("3.9", "3.12", "12.3", "8.9")
    assert b.libraries == (
        "libcudart.so.12",
        "libcublas.so.12",
        "libcublasLt.so.12",
        "libcufft.so.11",
        "libcusolver.so.11",
        "libcusparse.so.12",
        "libcudnn.so.8",
    )
    assert "libcudnn.so.9" in kb.tf_build("2.18").libraries
    assert "libcusolver.so.10" in kb.tf_build("2.4").libraries  # CUDA 11.0 shipped cuSOLVER 10
    assert kb.tf_build("2.21").python_min == "3.10"
    assert kb.tf_build("2.21").glibc_min == "2.27"
    assert kb.tf_build("2.10").windows_native_gpu and not kb.tf_build("2.11").windows_native_gpu
    assert kb.tf_build("2.17").tensorrt_support and not kb.tf_build("2.18").tensorrt_support
    assert kb.tf_build("2.3").sass == ("3.5", "3.7", "5.2", "6.0", "6.1", "7.0")
    assert kb.tf_build("2.14").sass == ("3.5", "5.0", "6.0", "7.0", "7.5") and kb.tf_build("2.14").ptx == ("8.0",)
    assert kb.tf_build("2.15").sass == ("5.0", "6.0", "7.0", "8.0") and kb.tf_build("2.15").ptx == ("9.0",)
    for v in ("2.17", "2.18", "2.19", "2.20", "2.21"):
        assert kb.tf_build(v).sass == ("6.0", "7.0", "8.0", "8.9") and kb.tf_build(v).ptx == ("9.0",)
    assert kb.tf_build("2.16.1").supports_python("3.12")
    assert not kb.tf_build("2.16").supports_python("3.13")
    assert kb.tf_build("2.1").supports_python("2.7")


# ----------------------------------------------------------------------------- compute capability rules


def test_cc_support_facts_from_the_brief():
    assert kb.cc_support(kb.tf_build("2.17"), "6.1") == "sass"
    assert kb.cc_support(kb.tf_build("2.17"), "5.2") == "none"
    assert kb.cc_support(kb.tf_build("2.16"), "9.0") == "ptx"
    assert kb.cc_support(kb.tf_build("2.21"), "12.0") == "ptx"
    assert kb.newest_tf_supporting_cc("5.2").version == "2.16"
    assert kb.newest_tf_supporting_cc("3.0") is None
    assert kb.newest_tf_supporting_cc("3.5").version == "2.14"


def test_cc_support_rules():
    b23 = kb.tf_build("2.3")
    assert kb.cc_support(b23, "5.0") == "none"  # the famous 2.3 hole
    assert kb.cc_support(b23, "7.5") == "sass"  # sm_70 SASS runs on 7.5
    assert kb.cc_support(b23, "8.6") == "ptx"
    assert kb.cc_support(kb.tf_build("2.16"), "8.9") == "sass"  # sm_80 runs on 8.9
    assert kb.cc_support(kb.tf_build("2.14"), "8.6") == "ptx"
    assert kb.cc_support(kb.tf_build("2.17"), "sm_61") == "sass"
    assert kb.cc_support(kb.tf_build("2.17"), "10.0") == "ptx"
    assert kb.newest_tf_supporting_cc("8.9").version == "2.21"


# ----------------------------------------------------------------------------- CUDA -> driver


def test_min_driver_for_cuda():
    assert kb.min_driver_for_cuda("12.5").toolkit_driver == "555.42.02"
    assert kb.min_driver_for_cuda("12.5.1").toolkit_driver == "555.42.06"
    assert kb.min_driver_for_cuda("12.3").minor_compat_floor == "525.60.13"
    assert kb.min_driver_for_cuda("11.2").minor_compat_floor == "450.80.02"
    assert kb.min_driver_for_cuda("13.0").minor_compat_floor == "580"
    assert kb.min_driver_for_cuda("10.1").minor_compat_floor is None
    assert kb.min_driver_for_cuda("10.1").toolkit_driver == "418.39"
    assert kb.min_driver_for_cuda("11.0").toolkit_driver == "450.51.05"
    assert kb.min_driver_for_cuda("12.7").toolkit_driver == "560.35.05"  # nearest lower row


def test_toolkit_rows_monotonic():
    rows = _json("cuda_drivers.json")["toolkit_drivers"]
    assert len(rows) == 64  # Table 3 from CUDA 7.0 (7.0.28) on
    ordered = sorted(rows, key=lambda r: kb.parse_version(r["full_version"]))
    drivers = [kb.parse_version(r["linux_x86_64"]) for r in ordered]
    assert drivers == sorted(drivers)


def test_driver_at_least():
    assert kb.driver_at_least("535.104.05", "525.60.13")
    assert not kb.driver_at_least("525.60.12", "525.60.13")
    assert kb.driver_at_least("580.65.06", "580")
    assert kb.driver_at_least("470.82.01", "470.82.01")
    assert not kb.driver_at_least("470", "470.1")


# ----------------------------------------------------------------------------- GPUs and architectures


def test_every_gpu_has_a_known_architecture_and_cc():
    gpus = kb.gpus()
    assert len(gpus) > 1200
    for g in gpus:
        arch = kb.architecture(g.architecture)
        assert arch is not None, g
        if arch.compute_capabilities:
            assert g.compute_capability in arch.compute_capabilities, g
        else:
            assert g.compute_capability is None, g
        assert g.status in STATUS_CODES
        if g.kernelopen:
            assert arch.open_modules, g


def test_gpu_facts():
    p2000 = kb.gpu_by_pci_id(0x1C30)
    assert (p2000.name, p2000.architecture, p2000.compute_capability, p2000.last_branch) == (
        "Quadro P2000",
        "Pascal",
        "6.1",
        "580",
    )
    assert not p2000.kernelopen
    gtx780 = kb.gpu_by_pci_id(0x1004)
    assert (gtx780.architecture, gtx780.compute_capability, gtx780.last_branch) == ("Kepler", "3.5", "470")
    assert kb.gpu_by_pci_id(0x128B).compute_capability == "3.5"
    assert kb.gpu_by_pci_id(0x102D).compute_capability == "3.7"
    assert kb.gpu_by_pci_id(0x1E04).architecture == "Turing" and kb.gpu_by_pci_id(0x1E04).kernelopen
    assert kb.gpu_by_pci_id(0x2204).compute_capability == "8.6"
    assert kb.gpu_by_pci_id(0x20B0).compute_capability == "8.0"
    assert kb.gpu_by_pci_id(0x2684).compute_capability == "8.9"
    assert kb.gpu_by_pci_id(0x2330).compute_capability == "9.0"
    assert kb.gpu_by_pci_id(0x2B85).compute_capability == "12.0"  # RTX 5090, from pci.ids
    assert kb.gpu_by_pci_id("10de:1c30") == p2000
    assert kb.gpu_by_pci_id(0xFFFF) is None
    assert kb.gpu_by_pci_id(0x06C0).last_branch == "390"  # GTX 480
    assert kb.gpu_by_pci_id(0x0191).last_branch == "340"  # 8800 GTX


def test_architectures():
    assert kb.architecture("Pascal").last_branch == "580"
    assert kb.architecture("Turing").open_modules and not kb.architecture("Volta").open_modules
    assert kb.architecture_for_cc("6.1").name == "Pascal"
    assert kb.architecture_for_cc("12.0").name == "Blackwell"
    assert kb.architecture_for_cc("0.5") is None
    assert kb.architecture("Kepler").dropped_by_cuda("3.5") == "12.0"
    assert kb.architecture("Kepler").dropped_by_cuda("3.0") == "11.0"
    assert kb.architecture("Maxwell").dropped_by_cuda("5.2") == "13.0"
    assert kb.architecture_for_chip("GP106GL").name == "Pascal"
    assert kb.architecture_for_chip("C73").name == "Curie"
    ccs = [cc for a in kb.architectures() for cc in a.compute_capabilities]
    assert len(ccs) == len(set(ccs))


# ----------------------------------------------------------------------------- packages


def test_library_packages():
    assert kb.pip_package_for_library("libcudnn.so.9") == "nvidia-cudnn-cu12"
    assert kb.pip_package_for_library("libcudnn.so.8") == "nvidia-cudnn-cu11"
    assert kb.pip_package_for_library("libcudnn.so.8", cuda="12.3") == "nvidia-cudnn-cu12"
    assert kb.pip_package_for_library("libcublas.so.12") == "nvidia-cublas-cu12"
    assert kb.pip_package_for_library("libcudart.so.12") == "nvidia-cuda-runtime-cu12"
    assert kb.pip_package_for_library("libcufft.so.11") == "nvidia-cufft-cu12"
    assert kb.pip_package_for_library("libnvJitLink.so.12") == "nvidia-nvjitlink-cu12"
    assert kb.pip_package_for_library("libcudart.so.11.0") == "nvidia-cuda-runtime-cu11"
    assert kb.pip_package_for_library("libcudart.so.10.1") is None
    assert kb.pip_package_for_library("libfoo.so.1") is None
    assert kb.apt_package_for_library("libcudnn.so.8") == "libcudnn8"
    assert kb.apt_package_for_library("libcublas.so.12", cuda="12.3") == "libcublas-12-3"
    assert kb.apt_package_for_library("libcublas.so.10") == "libcublas10"


# ----------------------------------------------------------------------------- log messages

EXPECTED_KINDS = {
    "dso-load-failed",
    "dso-load-ok",
    "cannot-dlopen-gpu-libs",
    "cudart-stub-no-driver",
    "cuinit-error",
    "kernel-driver-not-running",
    "no-kernel-binaries-for-cc",
    "gpu-below-min-cc",
    "cudnn-version-mismatch",
    "driver-insufficient",
    "device-created",
    "cpu-feature-guard",
    "cpu-missing-instructions",
    "illegal-instruction",
    "numa-negative",
    "tensorrt-missing",
    "factory-already-registered",
    "ptxas-or-libdevice-missing",
    "driver-older-than-ptxas",
    "cudnn-handle-failed",
    "out-of-memory",
    "kernel-image-invalid",
}


def test_log_kinds_present_and_unique():
    kinds = [m.kind for m in _log_messages()]
    assert len(kinds) == len(set(kinds))
    assert set(kinds) >= EXPECTED_KINDS
    for m in _log_messages():
        assert m.severity_hint in {"harmless", "info", "problem"}


# (message, wrapper): the wrapper's example holds the message whole, with its own prefix or the lines after it; or
# (general, narrower): the narrower entry reads one form of the general message more closely (CUDA's own refusal of a
# device allocation is one of the out-of-memory messages)
_WRAPPED = {("cuinit-error", "ray-worker-cuda-no-device"), ("jax-cudnn-outdated", "jax-cudnn-outdated-versions"),
            ("out-of-memory", "cuda-device-alloc-refused"), ("ldconfig-driver-lib", "ldconfig-wsl-driver-lib")}


@pytest.mark.parametrize("msg", _log_messages(), ids=lambda m: m.kind)
def test_log_pattern_matches_its_examples(msg):
    assert hasattr(msg.pattern, "search")
    for example in (msg.example, *msg.more_examples):
        assert msg.pattern.search(example), (msg.kind, example)
    # examples of other kinds must not be claimed by this one (except the harmless CPU line pairs), unless the other
    # kind is a wrapper that by design carries this message inside it (Ray's worker prefix around TensorFlow's line)
    for other in _log_messages():
        if other.kind == msg.kind or (msg.kind, other.kind) in _WRAPPED:
            continue
        assert not msg.pattern.search(other.example), (msg.kind, other.kind)


def _match(kind: str, text: str) -> re.Match | None:
    return next(m for m in _log_messages() if m.kind == kind).pattern.search(text)


def test_log_groups_old_and_new_variants():
    m = _match(
        "dso-load-failed",
        "2021-02-01 10:00:00.123456: W tensorflow/stream_executor/platform/default/dso_loader.cc:60] Could not load "
        "dynamic library 'libcudnn.so.8'; dlerror: libcudnn.so.8: cannot open shared object file: No such file or "
        "directory; LD_LIBRARY_PATH: /usr/local/nvidia/lib",
    )
    assert m["library"] == "libcudnn.so.8"
    assert m["error"].startswith("libcudnn.so.8: cannot open")
    assert m["ld_library_path"] == "/usr/local/nvidia/lib"
    m = _match("cuinit-error", "failed call to cuInit: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected")
    assert m["error"] == "CUDA_ERROR_NO_DEVICE" and m["message"] == "no CUDA-capable device is detected"
    m = _match(
        "cuinit-error",
        "E0000 00:00:1712345678.123456   12345 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
        "Failed call to cuInit: UNKNOWN ERROR (303)",
    )
    assert m["error"] == "UNKNOWN ERROR (303)" and m["code"] == "303"
    assert kb.cuda_error(int(m["code"])).name == "CUDA_ERROR_SHARED_OBJECT_INIT_FAILED"
    m = _match(
        "gpu-below-min-cc",
        "Ignoring visible gpu device (device: 0, name: GeForce GTX 780M, pci bus id: 0000:01:00.0, compute "
        "capability: 3.0) with Cuda compute capability 3.0. The minimum required Cuda capability is 3.5.",
    )
    assert (m["cc"], m["min_cc"], m["name"]) == ("3.0", "3.5", "GeForce GTX 780M")
    m = _match("cudnn-version-mismatch", "Loaded runtime CuDNN library: 8.5.0 but source was compiled with: 8.6.0.  X")
    assert (m["loaded"], m["compiled"]) == ("8.5.0", "8.6.0")
    new = (
        "I0000 00:00:1712345678.123456   12345 gpu_device.cc:2020] Created device "
        "/job:localhost/replica:0/task:0/device:GPU:0 with 22259 MB memory:  -> device: 0, name: NVIDIA GeForce RTX "
        "4090, pci bus id: 0000:01:00.0, compute capability: 8.9"
    )
    m = _match("device-created", new)
    assert (m["memory_mb"], m["name"], m["cc"]) == ("22259", "NVIDIA GeForce RTX 4090", "8.9")
    m = _match(
        "device-created",
        "Created TensorFlow device (/job:localhost/replica:0/task:0/device:GPU:0 with 5035 MB memory) -> physical "
        "GPU (device: 0, name: GeForce GTX 1060, pci bus id: 0000:01:00.0, compute capability: 6.1)",
    )
    assert (m["memory_mb"], m["name"], m["cc"]) == ("5035", "GeForce GTX 1060", "6.1")
    m = _match(
        "no-kernel-binaries-for-cc",
        "TensorFlow was not built with CUDA kernel binaries compatible with "
        "compute capability 12.0a. CUDA kernels will be jit-compiled from PTX, which could take 30 minutes",
    )
    assert m["cc"] == "12.0"
    m = _match("cpu-feature-guard", "To enable the following instructions: AVX2 FMA, in other operations, rebuild")
    assert m["instructions"] == "AVX2 FMA"
    m = _match(
        "driver-older-than-ptxas",
        "The NVIDIA driver's CUDA version is 12.4 which is older than the ptxas CUDA version (12.5.40). Because",
    )
    assert (m["driver_cuda"], m["ptxas_cuda"]) == ("12.4", "12.5.40")
    assert _match("ptxas-or-libdevice-missing", "./bin/ptxas not found")["tool"] == "ptxas"
    assert _match("ptxas-or-libdevice-missing", "libdevice not found at ./libdevice.10.bc")["tool"] == "libdevice"



# ----------------------------------------------------------------------------- CUDA errors, nvidia-smi


def test_cuda_errors():
    for code in (100, 303, 803, 804, 999, 222, 35):
        e = kb.cuda_error(code)
        assert e is not None and e.meaning and e.source, code
    assert kb.cuda_error(100).name == "CUDA_ERROR_NO_DEVICE"
    assert kb.cuda_error("CUDA_ERROR_SHARED_OBJECT_INIT_FAILED").code == 303
    assert kb.cuda_error("cudaErrorInsufficientDriver").code == 35
    assert kb.cuda_error("303").code == 303
    assert kb.cuda_error(12345) is None
    codes = [e.code for e in kb._cuda_errors()]
    assert len(codes) == len(set(codes))


def test_nvidia_smi_exit_codes():
    assert kb.nvidia_smi_exit_code(9) == "NVIDIA driver not loaded"
    assert kb.nvidia_smi_exit_code(0) == "OK"
    assert "fallen off the bus" in kb.nvidia_smi_exit_code(15)
    assert kb.nvidia_smi_exit_code(137).startswith("Caught fatal signal")
    assert kb.nvidia_smi_exit_code(1) is None


def test_files_are_parsed_once():
    kb._load.cache_clear()
    first = kb._load("cuda_drivers.json")
    assert kb._load("cuda_drivers.json") is first
    info = kb._load.cache_info()
    assert (info.misses, info.hits) == (1, 1)
