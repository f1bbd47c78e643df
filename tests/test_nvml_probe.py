"""The NVML record (collect over a fake pynvml module) and the nvml probe (over fake Hosts)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from tfdoctor.host import CommandResult
from tfdoctor.probes import ProbeContext, ProbeOptions
from tfdoctor.probes.nvml import NvmlFacts, probe_nvml
from tfdoctor.probes.nvml_record import RECORD_VERSION, collect, collect_live, cuda_version_string, throttle_names

SMI = Path(__file__).parent / "fixtures" / "nvidia-smi"
MIB = 1024 * 1024


# -- a fake pynvml: the machine boundary ------------------------------------------------------------------------
class NVMLError(Exception):
    def __init__(self, value):
        super().__init__(value)
        self.value = value


def _err_class(name, value):
    cls = type(f"NVMLError_{name}", (NVMLError,), {})
    return lambda: cls(value)


NotSupported = _err_class("NotSupported", 3)
NoPermission = _err_class("NoPermission", 4)
DriverNotLoaded = _err_class("DriverNotLoaded", 9)
LibraryNotFound = _err_class("LibraryNotFound", 12)
GpuIsLost = _err_class("GpuIsLost", 15)
LibRmVersionMismatch = _err_class("LibRmVersionMismatch", 18)
Unknown = _err_class("Unknown", 999)


def h100(**over):
    gpu = dict(
        name="NVIDIA H100 80GB HBM3", bus="00000000:26:00.0", cc=(9, 0), total=81559 * MIB, used=312 * MIB,
        temp=34, power=104_000, limit=700_000, util=(3, 1), gen=(5, 5), width=(16, 16), reasons=0x1,
        ecc=(0, 0), pm=1, compute=[SimpleNamespace(pid=4242, usedGpuMemory=300 * MIB)], graphics=[],
        names={4242: b"/usr/bin/python3 train.py"}, fail={},
    )
    gpu.update(over)
    return gpu


class FakeNvml:
    """The subset of pynvml that nvml_record calls. `fail` maps a function name to an exception factory."""

    NVMLError = NVMLError
    NVML_TEMPERATURE_GPU = 0
    NVML_MEMORY_ERROR_TYPE_CORRECTED = 0
    NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
    NVML_VOLATILE_ECC = 0
    NVML_ERROR_GPU_IS_LOST = 15

    def __init__(self, gpus=(), init_error=None, driver="550.54.15", cuda=12040, fail=None):
        self.gpus = list(gpus)
        self.init_error = init_error
        self.driver = driver
        self.cuda = cuda
        self.fail = fail or {}
        self.calls = []

    def _maybe_fail(self, name, gpu=None):
        self.calls.append(name)
        factory = (gpu or {}).get("fail", {}).get(name) or self.fail.get(name)
        if factory:
            raise factory()

    def nvmlInit(self):
        self.calls.append("nvmlInit")
        if self.init_error:
            raise self.init_error()

    def nvmlShutdown(self):
        self.calls.append("nvmlShutdown")

    def nvmlSystemGetDriverVersion(self):
        self._maybe_fail("nvmlSystemGetDriverVersion")
        return self.driver

    def nvmlSystemGetCudaDriverVersion(self):
        self._maybe_fail("nvmlSystemGetCudaDriverVersion")
        return self.cuda

    def nvmlSystemGetNVMLVersion(self):
        return "12.550.54.15"

    def nvmlDeviceGetCount(self):
        self._maybe_fail("nvmlDeviceGetCount")
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, i):
        self._maybe_fail("nvmlDeviceGetHandleByIndex", self.gpus[i])
        return self.gpus[i]

    def _get(self, name, h, value):
        self._maybe_fail(name, h)
        return value

    def nvmlDeviceGetName(self, h):
        return self._get("nvmlDeviceGetName", h, h["name"])

    def nvmlDeviceGetPciInfo(self, h):
        return self._get("nvmlDeviceGetPciInfo", h, SimpleNamespace(busId=h["bus"]))

    def nvmlDeviceGetCudaComputeCapability(self, h):
        return self._get("nvmlDeviceGetCudaComputeCapability", h, h["cc"])

    def nvmlDeviceGetMemoryInfo(self, h):
        return self._get("nvmlDeviceGetMemoryInfo", h, SimpleNamespace(total=h["total"], used=h["used"]))

    def nvmlDeviceGetTemperature(self, h, sensor):
        return self._get("nvmlDeviceGetTemperature", h, h["temp"])

    def nvmlDeviceGetPowerUsage(self, h):
        return self._get("nvmlDeviceGetPowerUsage", h, h["power"])

    def nvmlDeviceGetEnforcedPowerLimit(self, h):
        return self._get("nvmlDeviceGetEnforcedPowerLimit", h, h["limit"])

    def nvmlDeviceGetUtilizationRates(self, h):
        return self._get("nvmlDeviceGetUtilizationRates", h, SimpleNamespace(gpu=h["util"][0], memory=h["util"][1]))

    def nvmlDeviceGetCurrPcieLinkGeneration(self, h):
        return self._get("nvmlDeviceGetCurrPcieLinkGeneration", h, h["gen"][0])

    def nvmlDeviceGetMaxPcieLinkGeneration(self, h):
        return self._get("nvmlDeviceGetMaxPcieLinkGeneration", h, h["gen"][1])

    def nvmlDeviceGetCurrPcieLinkWidth(self, h):
        return self._get("nvmlDeviceGetCurrPcieLinkWidth", h, h["width"][0])

    def nvmlDeviceGetMaxPcieLinkWidth(self, h):
        return self._get("nvmlDeviceGetMaxPcieLinkWidth", h, h["width"][1])

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, h):
        return self._get("nvmlDeviceGetCurrentClocksThrottleReasons", h, h["reasons"])

    def nvmlDeviceGetTotalEccErrors(self, h, kind, counter):
        return self._get("nvmlDeviceGetTotalEccErrors", h, h["ecc"][kind])

    def nvmlDeviceGetPersistenceMode(self, h):
        return self._get("nvmlDeviceGetPersistenceMode", h, h["pm"])

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        return self._get("nvmlDeviceGetComputeRunningProcesses", h, h["compute"])

    def nvmlDeviceGetGraphicsRunningProcesses(self, h):
        return self._get("nvmlDeviceGetGraphicsRunningProcesses", h, h["graphics"])

    def nvmlSystemGetProcessName(self, pid):
        for g in self.gpus:
            if pid in g["names"]:
                return g["names"][pid]
        raise NotSupported()


# -- collect ------------------------------------------------------------------------------------------------------
def test_healthy_h100_record_has_every_field_and_shuts_nvml_down():
    fake = FakeNvml([h100()])
    rec = collect(fake)
    assert rec["version"] == RECORD_VERSION
    assert rec["init"] == {"ok": True, "error": None, "message": ""}
    assert rec["driver_version"] == "550.54.15"
    assert rec["cuda_driver_version"] == "12.4"
    gpu = rec["gpus"][0]
    assert gpu["name"] == "NVIDIA H100 80GB HBM3"
    assert gpu["compute_capability"] == "9.0"
    assert gpu["memory_total_mib"] == 81559 and gpu["memory_used_mib"] == 312
    assert gpu["power_w"] == 104.0 and gpu["power_limit_w"] == 700.0
    assert (gpu["pcie_gen"], gpu["pcie_gen_max"], gpu["pcie_width"], gpu["pcie_width_max"]) == (5, 5, 16, 16)
    assert gpu["throttle_reasons"] == ["gpu_idle"]
    assert gpu["persistence_mode"] is True
    assert gpu["processes"] == [{"pid": 4242, "name": "python3", "used_mib": 300, "type": "C"}]
    assert gpu["field_errors"] == {}
    assert fake.calls[-1] == "nvmlShutdown"
    json.dumps(rec)  # the record is JSON as it is


def test_record_never_holds_uuid_or_serial():
    text = json.dumps(collect(FakeNvml([h100()]))).lower()
    assert "uuid" not in text and "serial" not in text


def test_unsupported_field_becomes_null_and_keeps_the_gpu():
    gpu = h100(fail={"nvmlDeviceGetTotalEccErrors": NotSupported, "nvmlDeviceGetPowerUsage": NotSupported})
    rec = collect(FakeNvml([gpu]))
    g = rec["gpus"][0]
    assert g["ecc_corrected"] is None and g["ecc_uncorrected"] is None and g["power_w"] is None
    assert g["field_errors"] == {"ecc_corrected": "NotSupported", "ecc_uncorrected": "NotSupported",
                                 "ecc_aggregate_uncorrected": "NotSupported", "power_w": "NotSupported"}
    assert g["name"] == "NVIDIA H100 80GB HBM3" and g["lost"] is False


def test_gpu_is_lost_marks_only_that_gpu():
    lost = h100(name="NVIDIA A100", fail={"nvmlDeviceGetMemoryInfo": GpuIsLost})
    rec = collect(FakeNvml([h100(), lost]))
    assert rec["gpus"][0]["lost"] is False
    assert rec["gpus"][1]["lost"] is True and rec["gpus"][1]["error"] == "GpuIsLost"
    assert rec["gpus"][1]["name"] == "NVIDIA A100"  # what was read before the loss is kept


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (LibraryNotFound, "library-not-found"),
        (DriverNotLoaded, "driver-not-loaded"),
        (LibRmVersionMismatch, "lib-rm-version-mismatch"),
        (NoPermission, "no-permission"),
        (GpuIsLost, "gpu-is-lost"),
        (Unknown, "unknown"),
        (lambda: OSError("libnvidia-ml.so.1: cannot open shared object file"), "unknown"),
    ],
)
def test_init_failure_is_classified_and_nothing_else_is_called(error, kind):
    fake = FakeNvml([h100()], init_error=error)
    rec = collect(fake)
    assert rec["init"]["ok"] is False and rec["init"]["error"] == kind
    assert rec["init"]["message"]
    assert fake.calls == ["nvmlInit"]  # no shutdown after a failed init, no queries


def test_real_pynvml_error_classes_are_classified():
    pynvml = pytest.importorskip("pynvml")

    class Real:
        NVMLError = pynvml.NVMLError
        NVML_ERROR_LIB_RM_VERSION_MISMATCH = pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH

        def nvmlInit(self):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH)

    assert collect(Real())["init"]["error"] == "lib-rm-version-mismatch"


def test_live_collect_on_a_machine_without_driver_reports_library_not_found():
    # This machine has nvidia-ml-py but no NVIDIA driver: the real call path must classify, not raise.
    rec = collect_live()
    assert rec["version"] == RECORD_VERSION
    if not rec["init"]["ok"]:
        assert rec["init"]["error"] in ("library-not-found", "driver-not-loaded")


def test_cuda_version_and_throttle_bits():
    assert cuda_version_string(12040) == "12.4"
    assert cuda_version_string(11020) == "11.2"
    assert cuda_version_string(0) is None
    assert throttle_names(0x4 | 0x40) == ["sw_power_cap", "hw_thermal_slowdown"]


# -- the probe, over fake Hosts ----------------------------------------------------------------------------------
class FakeHost:
    """A Host answering from dicts: `nvml_record` for host.nvml, `commands` (argv tuple -> CommandResult)."""

    name = "fake"

    def __init__(self, nvml_record=None, commands=None):
        self.nvml_record = nvml_record
        self.commands = commands or {}
        self.ran = []

    def nvml(self, timeout=10.0):
        return self.nvml_record

    def run(self, argv, timeout=10.0, key=None):
        self.ran.append((tuple(argv), timeout))
        return self.commands.get(tuple(argv), CommandResult(tuple(argv), 127, "", f"{argv[0]}: command not found"))


def smi(name, rc=0, stream="stdout", timed_out=False):
    text = (SMI / name).read_text() if name else ""
    return {("nvidia-smi",): CommandResult(("nvidia-smi",), rc, text if stream == "stdout" else "",
                                           text if stream == "stderr" else "", timed_out)}


def run_probe(host) -> NvmlFacts:
    return probe_nvml(host, ProbeContext(ProbeOptions()))


def test_good_record_gives_facts_without_running_nvidia_smi():
    host = FakeHost(collect(FakeNvml([h100()])))
    facts = run_probe(host)
    assert facts.source == "nvml" and facts.init_ok
    assert facts.driver_version == "550.54.15" and facts.cuda_driver_version == "12.4"
    assert facts.gpus[0].compute_capability == "9.0"
    assert facts.gpus[0].processes[0].pid == 4242
    assert host.ran == []


def test_snapshot_without_record_reads_the_nvidia_smi_table():
    facts = run_probe(FakeHost(None, smi("570-three-l40s-one-process.txt")))
    assert facts.source == "nvidia-smi" and facts.init_ok and facts.nvidia_smi_rc == 0
    assert facts.driver_version == "570.195.03" and facts.cuda_driver_version == "12.8"
    assert [g.name for g in facts.gpus] == ["NVIDIA L40S"] * 3
    assert facts.gpus[0].processes[0].used_mib == 41504 and facts.gpus[1].processes == ()
    assert facts.gpus[0].compute_capability is None  # the table does not say


def test_nvml_library_missing_but_nvidia_smi_says_driver_not_loaded():
    rec = collect(FakeNvml(init_error=LibraryNotFound))
    facts = run_probe(FakeHost(rec, smi("err-driver-not-loaded.txt", rc=9)))
    assert not facts.init_ok
    assert facts.init_error == "driver-not-loaded"
    assert facts.nvidia_smi_rc == 9 and facts.nvidia_smi_kind == "driver-not-loaded"


def test_specific_nvml_error_wins_over_nvidia_smi():
    rec = collect(FakeNvml(init_error=LibRmVersionMismatch))
    facts = run_probe(FakeHost(rec, smi("err-lib-rm-version-mismatch-570.txt", rc=18)))
    assert facts.init_error == "lib-rm-version-mismatch" and facts.source == "nvml"
    assert "570.124" in facts.nvidia_smi_message


def test_nvml_deadline_becomes_timed_out_facts():
    host = FakeHost({"error": "timeout", "message": "NVML did not answer within 10 s"},
                    {("nvidia-smi",): CommandResult(("nvidia-smi",), 124, "", "timed out after 8 s", True, 8.0)})
    facts = run_probe(host)
    assert facts.timed_out and not facts.init_ok and facts.init_error == "gpu-is-lost"
    assert host.ran[0][1] <= 10  # nvidia-smi itself is bounded


def test_nothing_installed_at_all():
    rec = {"version": 1, "init": {"ok": False, "error": "library-not-found", "message": "nvidia-ml-py is not "
                                  "installed", "binding_missing": True}, "gpus": []}
    facts = run_probe(FakeHost(rec))
    assert not facts.init_ok and facts.init_error == "library-not-found"
    assert facts.binding_missing and facts.nvidia_smi_kind == "not-installed" and facts.source == "none"


def test_binding_missing_but_nvidia_smi_works_gives_ok_facts():
    rec = {"version": 1, "init": {"ok": False, "error": "library-not-found", "message": "x", "binding_missing": True},
           "gpus": []}
    facts = run_probe(FakeHost(rec, smi("535-two-geforce-five-processes.txt")))
    assert facts.init_ok and facts.source == "nvidia-smi" and len(facts.gpus) == 2


@pytest.mark.parametrize("record", [[], "x", {"version": 99, "init": {}}, {"init": "?"}, {"error": "exception"}])
def test_unusable_record_falls_back_to_nvidia_smi(record):
    facts = run_probe(FakeHost(record, smi("418-tesla-p100-no-processes.txt")))
    assert facts.init_ok and facts.source == "nvidia-smi" and facts.driver_version == "418.87.01"


def test_replayed_snapshot_record_roundtrip(tmp_path):
    from tfdoctor.host import ReplayHost

    (tmp_path / "manifest.json").write_text(json.dumps({"format": "tfdoctor-snapshot", "version": 1}))
    (tmp_path / "nvml.json").write_text(json.dumps(collect(FakeNvml([h100()]))))
    facts = run_probe(ReplayHost(tmp_path))
    assert facts.source == "nvml" and facts.gpus[0].name == "NVIDIA H100 80GB HBM3"
