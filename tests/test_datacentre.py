"""Data-centre state: the NVML record's version-2 fields (over a fake pynvml, the machine boundary), the datacentre
probe (NVSwitches, the Fabric Manager, the previous boot's log) and the gpu.* findings, on values from real outputs
(each test says where from)."""

from __future__ import annotations

import ctypes
from types import SimpleNamespace

import pytest

from tests.conftest import FakeHost
from tests.test_nvml_probe import FakeNvml, NotSupported, h100
from tfdoctor.checks import Facts
from tfdoctor.checks.datacentre import (
    check_compute_mode,
    check_memory_errors,
    check_memory_in_use,
    check_mig,
    check_persistence,
    check_xid,
)
from tfdoctor.model import Status
from tfdoctor.probes import ProbeContext, ProbeOptions
from tfdoctor.probes.datacentre import nvswitches_from_lspci, probe_datacentre, xid_events
from tfdoctor.probes.nvml import GpuFacts, NvmlFacts, ProcessFacts, facts_from_record, record_problem
from tfdoctor.probes.nvml_record import RECORD_VERSION, collect


class FabricInfo(ctypes.Structure):
    _fields_ = [("clusterUuid", ctypes.c_ubyte * 16), ("status", ctypes.c_uint), ("cliqueId", ctypes.c_uint),
                ("state", ctypes.c_uint)]


class DataCentreNvml(FakeNvml):
    """FakeNvml plus the data-centre queries; per GPU: mig=(current, pending), mig_devices=n, fabric=(state, status),
    mode=compute mode, rows=(corr, unc, pending, failure), pages=(single, double, pending), ecc_mode, ecc_aggregate."""

    NVML_AGGREGATE_ECC = 1
    c_nvmlGpuFabricInfo_t = FabricInfo

    def nvmlDeviceGetComputeMode(self, h):
        return self._get("nvmlDeviceGetComputeMode", h, h.get("mode", 0))

    def nvmlDeviceGetMigMode(self, h):
        return self._get("nvmlDeviceGetMigMode", h, list(h["mig"]) if "mig" in h else None) or self._unsupported()

    def nvmlDeviceGetMaxMigDeviceCount(self, h):
        return 7

    def nvmlDeviceGetMigDeviceHandleByIndex(self, h, i):
        if i < h.get("mig_devices", 0):
            return (h["name"], i)
        raise _err(6)

    def nvmlDeviceGetGpuFabricInfo(self, h, ref):
        if "fabric" not in h:
            raise NotSupported()
        ref._obj.state, ref._obj.status = h["fabric"]
        return 0

    def nvmlDeviceGetRemappedRows(self, h):
        return self._get("nvmlDeviceGetRemappedRows", h, h["rows"]) if "rows" in h else self._unsupported()

    def nvmlDeviceGetRetiredPages(self, h, cause):
        if "pages" not in h:
            self._unsupported()
        return [0] * h["pages"][cause]

    def nvmlDeviceGetRetiredPagesPendingStatus(self, h):
        return int(h["pages"][2])

    def nvmlDeviceGetEccMode(self, h):
        return [1, 1] if h.get("ecc_mode", True) else [0, 0]

    def nvmlDeviceGetTotalEccErrors(self, h, kind, counter):
        if counter == 1:
            return self._get("nvmlDeviceGetTotalEccErrors", h, h.get("ecc_aggregate", 0))
        return super().nvmlDeviceGetTotalEccErrors(h, kind, counter)

    def _unsupported(self):
        raise NotSupported()


def _err(value):
    from tests.test_nvml_probe import NVMLError

    return type("NVMLError_NotFound", (NVMLError,), {})(value)


def gpu_facts(**over) -> GpuFacts:
    base = dict(index=0, name="NVIDIA A100-SXM4-80GB", compute_capability="8.0", memory_total_mib=81920,
                memory_used_mib=1, persistence_mode=True)
    base.update(over)
    return GpuFacts(**base)


def facts_for(*gpus, observations=(), datacentre=None, driver=None) -> Facts:
    nvml = NvmlFacts(source="nvml", init_ok=True, driver_version="550.127.08", gpus=gpus)
    srcs = SimpleNamespace(observations=tuple(observations))
    return Facts({"nvml": nvml, "sources": srcs, "datacentre": datacentre, "driver": driver})


# -- the NVML record, version 2 ---------------------------------------------------------------------------------


def test_record_v2_reads_mig_fabric_mode_and_memory_health():
    # Row remapper values from a real `nvidia-smi -q`: "Correctable Error: 0, Uncorrectable Error: 4, Pending: Yes"
    # (https://github.com/leptonai/gpud/pull/80); MIG enabled with no instance as in ggml-org/llama.cpp#3235.
    gpu = h100(mig=(1, 1), mig_devices=0, fabric=(1, 0), mode=3, rows=(0, 4, 1, 0), pages=(0, 0, 0), ecc_aggregate=4)
    rec = collect(DataCentreNvml([gpu]))
    assert rec["version"] == RECORD_VERSION == 2
    g = rec["gpus"][0]
    assert g["mig_mode_current"] is True and g["mig_devices"] == 0
    assert g["fabric_state"] == "not-started" and g["fabric_status"] == 0
    assert g["compute_mode"] == "exclusive-process"
    assert g["remapped_rows"] == {"correctable": 0, "uncorrectable": 4, "pending": True, "failure": False}
    assert g["retired_pages"] == {"single_bit": 0, "double_bit": 0, "pending": False}
    assert g["ecc_aggregate_uncorrected"] == 4
    f = facts_from_record(rec).gpus[0]
    assert (f.mig_mode_current, f.mig_devices, f.fabric_state, f.compute_mode) == (True, 0, "not-started",
                                                                                   "exclusive-process")
    assert f.remapped_rows_pending is True and f.remapped_rows_uncorrectable == 4


def test_a_consumer_gpu_answers_not_supported_and_keeps_every_other_field():
    rec = collect(DataCentreNvml([h100(name="NVIDIA GeForce RTX 4090")]))
    g = rec["gpus"][0]
    assert g["name"] == "NVIDIA GeForce RTX 4090" and g["memory_total_mib"] == 81559
    assert g.get("mig_mode_current") is None and g.get("remapped_rows") is None and g.get("fabric_state") is None
    assert g["field_errors"]["mig_mode"] == "NotSupported" and g["field_errors"]["remapped_rows"] == "NotSupported"


def test_mig_instances_are_counted_and_version_1_records_stay_readable():
    rec = collect(DataCentreNvml([h100(mig=(1, 1), mig_devices=2)]))
    assert rec["gpus"][0]["mig_devices"] == 2
    old = {"version": 1, "init": {"ok": True}, "gpus": [{"index": 0, "name": "Tesla T4"}]}
    assert record_problem(old) is None
    assert facts_from_record(old).gpus[0].mig_mode_current is None
    assert "versions 1 to 2" in record_problem({"version": 3, "init": {"ok": True}})


# -- gpu.mig, gpu.compute-mode, gpu.memory-errors, gpu.persistence-mode, gpu.memory-in-use ----------------------


def test_mig_enabled_without_instances_fails_with_both_ways_out():
    f = check_mig(facts_for(gpu_facts(mig_mode_current=True, mig_mode_pending=True, mig_devices=0)))
    assert f.status is Status.FAIL and "no MIG instance" in f.summary
    assert f.fix.commands == ("sudo nvidia-smi -i 0 -mig 0", "sudo nvidia-smi -i 0 -r")
    assert f.fix.alternatives[0].commands == ("sudo nvidia-smi mig -i 0 -cgi 0 -C",)
    assert check_mig(facts_for(gpu_facts(mig_mode_current=True, mig_mode_pending=True, mig_devices=3))).status \
        is Status.INFO
    assert check_mig(facts_for(gpu_facts(mig_mode_current=False, mig_mode_pending=False))).status is Status.OK


def test_a_pending_mig_change_waits_for_a_reset():
    # nvidia-smi prints "Disabled*" for a change that waits for a reset (a public SINGULARITY GPU note lists
    # "A100-SXM4-40GB ... Disabled*")
    f = check_mig(facts_for(gpu_facts(index=7, mig_mode_current=True, mig_mode_pending=False, mig_devices=1)))
    assert f.status is Status.WARN and f.fix.commands == ("sudo nvidia-smi -i 7 -r",)


def test_compute_modes():
    prohibited = check_compute_mode(facts_for(gpu_facts(compute_mode="prohibited")))
    assert prohibited.status is Status.FAIL and prohibited.fix.commands == ("sudo nvidia-smi -i 0 -c DEFAULT",)
    held = gpu_facts(compute_mode="exclusive-process", processes=(ProcessFacts(4242, "python3", 30000, "C"),))
    f = check_compute_mode(facts_for(held))
    assert f.status is Status.FAIL and "python3 (pid 4242)" in f.summary
    assert check_compute_mode(facts_for(gpu_facts(compute_mode="exclusive-process"))).status is Status.INFO
    assert check_compute_mode(facts_for(gpu_facts(compute_mode="default"))).status is Status.OK


def test_pending_row_remap_fails_until_the_gpu_is_reset():
    # gpud#80's real nvidia-smi -q: Correctable 0, Uncorrectable 4, Pending Yes
    g = gpu_facts(index=3, remapped_rows_correctable=0, remapped_rows_uncorrectable=4, remapped_rows_pending=True,
                  remapped_rows_failure=False, ecc_uncorrected=0)
    f = check_memory_errors(facts_for(g))
    assert f.status is Status.FAIL and "GPU 3" in f.summary and "reset" in f.summary
    assert f.fix.commands == ("sudo nvidia-smi -i 3 -r",)
    assert "nvidia-smi -i 3 -q -d ECC,ROW_REMAPPER,PAGE_RETIREMENT" in f.fix.verify
    failed = check_memory_errors(facts_for(gpu_facts(remapped_rows_failure=True, remapped_rows_pending=False)))
    assert failed.status is Status.FAIL and "service" in failed.summary
    clean = gpu_facts(remapped_rows_correctable=0, remapped_rows_uncorrectable=0, remapped_rows_pending=False,
                      remapped_rows_failure=False, ecc_uncorrected=0)
    assert check_memory_errors(facts_for(clean)).status is Status.OK
    assert check_memory_errors(facts_for(gpu_facts(name="NVIDIA GeForce RTX 4090"))).status is Status.SKIP


def test_persistence_off_on_a_server_gpu_warns_with_the_daemon():
    f = check_persistence(facts_for(gpu_facts(persistence_mode=False, ecc_mode_current=True)))
    assert f.status is Status.WARN and f.fix.commands == ("sudo systemctl enable --now nvidia-persistenced",)
    assert f.fix.alternatives[0].commands == ("sudo nvidia-smi -pm 1",)
    desktop = check_persistence(facts_for(gpu_facts(name="NVIDIA GeForce RTX 3060", persistence_mode=False)))
    assert desktop.status is Status.INFO
    assert check_persistence(facts_for(gpu_facts())).status is Status.OK


def test_memory_held_at_start_up_fails_when_tensorflow_ran_out_of_it():
    # TensorFlow's OOM line, verbatim from the catalogue's example for `out-of-memory`
    from tfdoctor.evidence import Source, catalogue, observe

    example = next(e.example for e in catalogue() if e.id == "out-of-memory")
    obs = observe(Source("tensorflow", "tensorflow.log", example))
    g = gpu_facts(memory_used_mib=80100, processes=(ProcessFacts(5151, "python", 80000, "C"),))
    f = check_memory_in_use(facts_for(g, observations=obs))
    assert f.status is Status.FAIL and "ran out of memory" in f.summary and "kill 5151" in f.fix.commands
    assert check_memory_in_use(facts_for(g)).status is Status.WARN
    assert check_memory_in_use(facts_for(gpu_facts())).status is Status.OK


# -- NVSwitch detection, the previous boot, Xid ---------------------------------------------------------------


def test_nvswitches_are_told_from_nforce_bridges():
    # `lspci -Dnn` of an HGX H100 (a public RHEL 9.4 setup note) and an nForce MCP61 board's Ethernet (a public
    # Ubuntu forum post): both NVIDIA, both class 0680
    text = ("0000:07:00.0 Bridge [0680]: NVIDIA Corporation GH100 [H100 NVSwitch] [10de:22a3] (rev a1)\n"
            "0000:08:00.0 Bridge [0680]: NVIDIA Corporation GH100 [H100 NVSwitch] [10de:22a3] (rev a1)\n"
            "00:07.0 Bridge [0680]: NVIDIA Corporation MCP61 Ethernet [10de:03ef] (rev a2)\n")
    assert nvswitches_from_lspci(text) == ["0000:07:00.0", "0000:08:00.0"]


def test_sysfs_nvswitches_and_the_fabric_manager_state_are_read():
    host = FakeHost(
        files={"/sys/bus/pci/devices/0000:07:00.0/uevent": "PCI_CLASS=68000\nPCI_ID=10DE:22A3\n",
               "/sys/bus/pci/devices/0000:00:1f.0/uevent": "PCI_CLASS=60100\nPCI_ID=8086:7A84\n"},
        commands={"systemctl_is-active_nvidia-fabricmanager": (3, "failed\n", ""),
                  "journalctl_-u_nvidia-fabricmanager_-b_--no-pager_-n_40": (
                      0, "nv-fabricmanager[3228]: fabric manager NVIDIA GPU driver interface version 530.30.02 don't "
                         "match with driver version 530.41.03. Please update with matching NVIDIA driver package.\n",
                      "")},
        dirs={"/sys/bus/pci/devices": ["0000:00:1f.0", "0000:07:00.0"]})
    dc = probe_datacentre(host, ProbeContext(ProbeOptions()))
    assert dc.nvswitches == ("0000:07:00.0",) and dc.nvswitch_source == "sysfs"
    assert dc.fabricmanager_state == "failed" and "530.41.03" in dc.fabricmanager_log[0]
    assert dc.previous_boot_source == "none"


XID_LINES = (
    # NVSentinel#155 (Xid 79), stas00/ml-engineering debug.md (Xid 63), leptonai/gpud's Xid README (Xid 13)
    "NVRM: Xid (PCI:0000:44:00): 79, GPU has fallen off the bus",
    "NVRM: Xid (PCI:0000:10:1c): 63, pid=1896, Row Remapper: New row marked for remapping, reset gpu to activate.",
    "[Fri Aug 30 11:43:09 2024] NVRM: Xid (PCI:0000:cb:00): 13, pid='<unknown>', name=<unknown>, Graphics SM Warp "
    "Exception on (GPC 7, TPC 0, SM 0): Out Of Range Address",
)


def test_xid_lines_of_any_log_form_are_read():
    # each from its own log (unprefixed NVRM lines in a row are one wrapped message for the kernel-log reader)
    events = [e for line in XID_LINES for e in xid_events(line, "previous")]
    assert [(e.xid, e.pci) for e in events] == [(79, "PCI:0000:44:00"), (63, "PCI:0000:10:1c"), (13, "PCI:0000:cb:00")]


def _xid_facts(lines, previous=(), gpus=()):
    from tfdoctor.evidence import Source, observe

    obs = observe(Source("kernel", "dmesg", "\n".join(lines)))
    dc = SimpleNamespace(previous_boot_xids=tuple(xid_events("\n".join(previous), "previous")),
                         previous_boot_source="journalctl" if previous else "none")
    driver = SimpleNamespace(kernel_log_source="dmesg", kernel_log_error=None)
    return facts_for(*gpus, observations=obs, datacentre=dc, driver=driver)


def test_no_kernel_log_read_is_unknown_not_clean():
    from tfdoctor.evidence import Source, observe

    # a snapshot with only nvidia-smi's output: observations, but no kernel log
    smi = Source("nvidia-smi", "nvidia-smi", "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA "
                                             "driver. Make sure that the latest NVIDIA driver is installed and running.")
    facts = Facts({"driver": SimpleNamespace(kernel_log_source="none", kernel_log_error=None),
                   "sources": SimpleNamespace(observations=tuple(observe(smi)), sources=(smi,)),
                   "datacentre": None, "nvml": None})
    assert facts.machine.observations and check_xid(facts).status is Status.SKIP


def test_an_xid_is_explained_from_nvidias_catalogue_with_the_gpu_to_reset():
    gpu = gpu_facts(index=2, pci_bus_id="00000000:10:1C.0")
    f = check_xid(_xid_facts([XID_LINES[1]], gpus=(gpu,)))
    assert f.status is Status.WARN and "Xid 63" in f.summary and "on GPU 2" in f.summary
    assert "ECC page retirement or row remapping recording event" in f.details[0]
    assert "sudo nvidia-smi -i 2 -r" in f.fix.commands


def test_a_critical_xid_fails_and_one_from_before_the_reboot_only_warns():
    now = check_xid(_xid_facts([XID_LINES[0]]))
    assert now.status is Status.FAIL and "Xid 79" in now.summary and "this boot" in now.summary
    before = check_xid(_xid_facts([], previous=[XID_LINES[0]]))
    assert before.status is Status.WARN and "before the last reboot" in before.summary
    # an application's Xid once is that application's fault: information, with the action; again on one GPU, a warning
    app = check_xid(_xid_facts([XID_LINES[2]]))
    assert app.status is Status.INFO and "Graphics Engine Exception" in app.details[0]
    assert check_xid(_xid_facts([XID_LINES[2], XID_LINES[2]])).status is Status.WARN


def test_no_xid_is_ok_and_an_unread_kernel_log_skips():
    assert check_xid(_xid_facts([])).status is Status.OK
    unread = Facts({"driver": SimpleNamespace(kernel_log_source="none", kernel_log_error="dmesg: read kernel buffer "
                                                                                        "failed: Operation not "
                                                                                        "permitted"),
                    "sources": SimpleNamespace(observations=()), "datacentre": None, "nvml": None})
    f = check_xid(unread)
    # the command to type as tfdoctor_command writes it (sudo's PATH lacks a venv's or pipx's tfdoctor)
    assert f.status is Status.SKIP and 'sudo "$(command -v tfdoctor)" check' in f.summary


@pytest.mark.parametrize("code", [13, 31, 43, 45, 48, 63, 64, 74, 79, 92, 94, 95, 119, 120])
def test_the_xid_catalogue_is_sourced_and_has_an_action_for_common_codes(code):
    from tfdoctor.knowledge.loader import xid_info

    xi = xid_info(code)
    assert xi is not None and xi.action and xi.name and "docs.nvidia.com/deploy/xid-errors" in xi.source
    assert xi.severity in ("critical", "error", "application", "info") and xi.status == "P*"
