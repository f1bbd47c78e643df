"""The evidence layer: the catalogue of known messages, the kernel log's forms, and the machine model's precedence."""

from __future__ import annotations

import ast
import json
import time
from pathlib import Path

import pytest

from tfdoctor import evidence, textmatch
from tfdoctor.evidence import Source, catalogue, kernel_messages, observe
from tfdoctor.machine import build_machine

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("entry", catalogue(), ids=lambda e: e.id)
def test_every_catalogue_example_matches_its_own_pattern(entry):
    for example in (entry.example, *entry.more_examples):
        src = Source(entry.source_kind, "example", example)
        found = [o.message for o in observe(src)]
        assert entry.id in found, (entry.id, example)


def test_every_entry_is_sourced_and_claims_known_questions():
    data = json.loads(evidence.CATALOGUE_PATH.read_text())
    questions = set(data["_meta"]["questions"])
    ids = [m["id"] for m in data["messages"]]
    assert len(ids) == len(set(ids))
    for m in data["messages"]:
        assert m["source_kind"] in evidence.SOURCE_KINDS, m["id"]
        assert m.get("url") or m.get("example_source"), m["id"]
        assert m.get("status"), m["id"]
        assert m.get("printed_by"), m["id"]
        assert set(m.get("claims") or {}) <= questions, m["id"]
        textmatch.compile(m["pattern"])  # RE2 accepts it: linear time on any text


def test_catalogue_covers_every_source_kind_the_brief_names():
    kinds = {e.source_kind for e in catalogue()}
    assert {"tensorflow", "kernel", "nvidia-smi", "modprobe", "dkms", "mokutil", "ubuntu-drivers", "container",
            "installer"} <= kinds


# Real lines (GitHub: stackhpc/ansible-slurm-appliance#287 syslog, NVIDIA/nvidia-docker#182 journalctl,
# saharmor/dalle-playground#104 dmesg): one NVRM API-mismatch message in three forms.
SYSLOG = ("Jun 30 11:07:05 gpu-0 kernel: NVRM: API mismatch: the client has the version 535.54.03, but#012NVRM: this "
          "kernel module has the version 530.30.02.  Please#012NVRM: make sure that this kernel module and all NVIDIA "
          "driver#012NVRM: components have the same version.")
JOURNAL = ("Aug 26 14:08:07 nyasara-linux kernel: NVRM: API mismatch: the client has the version 367.44, but\n"
           "                                      NVRM: this kernel module has the version 367.35.  Please\n"
           "                                      NVRM: make sure that this kernel module and all NVIDIA driver\n"
           "                                      NVRM: components have the same version.")
DMESG = ("[ 7386.259769] NVRM: API mismatch: the client has the version 515.48.07, but\n"
         "               NVRM: this kernel module has the version 510.73.05.  Please\n"
         "               NVRM: make sure that this kernel module and all NVIDIA driver\n"
         "               NVRM: components have the same version.")


@pytest.mark.parametrize("text", [SYSLOG, JOURNAL, DMESG], ids=["syslog", "journalctl", "dmesg"])
def test_a_wrapped_kernel_message_reads_as_one_message(text):
    msgs = kernel_messages(text)
    assert len(msgs) == 1
    no, msg = msgs[0]
    assert no == 1 and msg.startswith("NVRM: API mismatch") and "this kernel module has the version" in msg
    assert [o.message for o in observe(Source("kernel", "dmesg", text))] == ["nvrm-api-mismatch"]


def test_talos_and_dmesg_t_prefixes_are_removed():
    lines = ("172.20.0.2: kern: warning: [2024-05-01T10:00:00.000Z]: NVRM: Xid (PCI:0000:44:00): 79, GPU has fallen "
             "off the bus\n[Mon Jan  1 12:00:00 2024] NVRM: loading NVIDIA UNIX x86_64 Kernel Module  550.54.15")
    msgs = [m for _, m in kernel_messages(lines)]
    assert msgs[0].startswith("NVRM: Xid") and msgs[1].startswith("NVRM: loading")
    found = [o.message for o in observe(Source("kernel", "talos", lines))]
    assert "nvrm-xid" in found and "nvrm-fallen-off-bus" in found and "nvrm-loading" in found


def test_observations_never_raise_and_stay_linear_on_hostile_text():
    hostile = "NVRM: Xid (" * 50_000 + "\n" + "a" * 1_000_000 + "\n\x00\x1b[8m" * 1000
    t0 = time.monotonic()
    for kind in evidence.SOURCE_KINDS:
        observe(Source(kind, "hostile", hostile))
    assert time.monotonic() - t0 < 5


def _facts(**kw):
    from tfdoctor.probes.sources import SourcesFacts

    srcs = kw.pop("sources", ())
    obs = tuple(o for s in srcs for o in observe(s))
    return {"sources": SourcesFacts(tuple(srcs), obs), **kw}


def test_unknown_when_nothing_showed_it():
    m = build_machine(_facts(), complete=False)
    for q in ("gpu.present", "driver.loaded", "driver.installed", "container", "wsl", "tf.sees_gpu"):
        assert m.belief(q).known is False


def test_a_log_alone_establishes_the_gpu_and_the_loaded_driver_with_its_line():
    log = ("2019-12-02 16:37:59.817454: I tensorflow/core/common_runtime/gpu/gpu_device.cc:1304] Created TensorFlow "
           "device (/job:localhost/replica:0/task:0/device:GPU:0 with 30458 MB memory) -> physical GPU (device: 0, "
           "name: Tesla V100-SXM2-32GB, pci bus id: 0000:8d:00.0, compute capability: 7.0)")
    m = build_machine(_facts(sources=[Source("tensorflow", "tensorflow.log", lines=(log,))]), complete=False)
    assert m.value("gpu.present") is True and m.value("driver.loaded") is True and m.value("tf.sees_gpu") is True
    ev = m.belief("gpu.present").evidence[0]
    assert ev.source == "tensorflow.log" and ev.line_no == 1 and "Tesla V100" in ev.line


def test_a_direct_reading_outranks_an_inference_from_tensorflows_log():
    from types import SimpleNamespace

    log = ("E tensorflow/stream_executor/cuda/cuda_diagnostics.cc:1] kernel driver does not appear to be running on "
           "this host (abc): /proc/driver/nvidia/version does not exist")
    driver = SimpleNamespace(modules_source="proc", nvidia_loaded=True, nvidia_modules=("nvidia",),
                             loaded_driver_version="550.54.15", proc_version_text="NVRM version: 550.54.15",
                             installed_branch="550", modinfo="ok", modinfo_version="550.54.15", module_resolvable=True,
                             secure_boot=None, dkms_entries=(), nvidia_packages=(), packages_source="none",
                             modprobe_text=None, efi=False, secure_boot_text=None)
    m = build_machine(_facts(driver=driver, sources=[Source("tensorflow", "tensorflow.log", lines=(log,))]))
    b = m.belief("driver.loaded")
    assert b.value is True and b.strength == 3 and b.evidence[0].source == "/proc/modules"


def test_checks_import_no_probe_module_and_the_core_has_no_import_cycle():
    pkg = ROOT / "tfdoctor"

    def imports(path: Path) -> set[str]:
        out = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tfdoctor"):
                out.add(node.module)
            elif isinstance(node, ast.Import):
                out |= {a.name for a in node.names if a.name.startswith("tfdoctor")}
        return out

    for path in (pkg / "checks").glob("*.py"):
        assert not any(m.startswith("tfdoctor.probes") for m in imports(path)), path
    graph = {}
    for path in pkg.rglob("*.py"):
        mod = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        graph[mod] = {m for m in imports(path) if m != mod}
    core = {m for m in graph if m in ("tfdoctor.host", "tfdoctor.evidence", "tfdoctor.machine")
            or m.startswith("tfdoctor.probes")}

    def reach(start):
        seen, stack = set(), [start]
        while stack:
            for nxt in graph.get(stack.pop(), ()):
                if nxt in core and nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen

    for mod in core:
        assert mod not in reach(mod), f"import cycle through {mod}"


def test_a_legacy_gpu_is_not_given_ubuntu_drivers_newer_recommendation():
    """ubuntu-drivers recommends what the archive has; a Kepler card's last branch is 470 (NVIDIA's legacy list)."""
    from types import SimpleNamespace

    from tfdoctor.checks.fixes import recommended_package

    pci = SimpleNamespace(nvidia_devices=(SimpleNamespace(last_branch="470"),))
    driver = SimpleNamespace(recommended_package="nvidia-driver-535")
    env = SimpleNamespace(os_id="ubuntu", os_id_like=("debian",))
    assert recommended_package(pci, driver, env) == "nvidia-driver-470"
    driver = SimpleNamespace(recommended_package="nvidia-driver-470")
    assert recommended_package(pci, driver, env) == "nvidia-driver-470"


def test_missing_libraries_are_caused_by_a_driver_too_old_for_them():
    from tfdoctor import catalogue

    assert "compat.driver-cuda" in catalogue.get("tf.cuda-libs").after


def test_cuda_saying_the_driver_is_too_old_fails_compat_with_the_release_that_fits(tmp_path):
    """A paste with only TensorFlow's log and nvidia-smi's header (a synthesised state: the two lines are the
    catalogue's, shared/reference/knowledge.md 6 and stackhpc/ansible-slurm-appliance#287's header format)."""
    from tfdoctor.cli import run_check

    (tmp_path / "manifest.json").write_text(json.dumps({"format": "tfdoctor-snapshot", "version": 1,
                                                        "source": "hand-built"}))
    (tmp_path / "tensorflow.log").write_text(
        "cudaGetDevice() failed. Status: CUDA driver version is insufficient for CUDA runtime version\n")
    (tmp_path / "commands").mkdir()
    (tmp_path / "commands" / "nvidia-smi").write_text(
        "| NVIDIA-SMI 440.33.01    Driver Version: 440.33.01    CUDA Version: 10.2     |\n")
    report = run_check(from_=str(tmp_path), deadline_s=30)
    f = report.get("compat.driver-cuda")
    assert f.status.value == "fail" and "440.33.01" in f.summary and f.evidence
    # instead of a new driver, CUDA 10.1's TensorFlow: the newest that driver 440 runs
    assert any("tensorflow==2.3.*" in c for a in f.fix.alternatives for c in a.commands)
    assert report.root_cause.id == "compat.driver-cuda"


def test_every_catalogue_entry_is_a_check_function():
    """A helper placed between a @check decorator and its function would silently become the check."""
    from tfdoctor import catalogue

    for spec in catalogue.entries():
        assert spec.func.__name__.startswith("check_"), (spec.id, spec.func.__name__)


def test_a_line_with_a_lone_surrogate_is_still_read_and_never_raises():
    # a snapshot's JSON may hold "\ud800"; RE2 takes only UTF-8, so the line is matched with a stand-in character
    from tfdoctor.evidence import Source, observe

    found = observe(Source("kernel", "k", "NVRM: Xid (PCI:0000:01:00): 79, pid=1 \ud800 GPU has fallen off the bus."))
    assert {o.message for o in found} >= {"nvrm-xid", "nvrm-fallen-off-bus"}
