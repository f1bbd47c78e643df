"""nvidia-smi parsing over real outputs (tests/fixtures/nvidia-smi, see SOURCE.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfdoctor.probes.nvidia_smi import classify_nvidia_smi_failure, nvml_library_version, parse_nvidia_smi_table

SMI = Path(__file__).parent / "fixtures" / "nvidia-smi"


def read(name: str) -> str:
    return (SMI / name).read_text()


# (file, driver, cuda, gpu count, process count, first GPU name, first GPU memory total)
TABLES = [
    ("418-tesla-p100-no-processes.txt", "418.87.01", "10.1", 1, 0, "Tesla P100-PCIE...", 16280),
    ("470-tesla-p100-one-process.txt", "470.82.01", "11.4", 1, 1, "Tesla P100-PCIE...", 16280),
    ("535-two-geforce-five-processes.txt", "535.183.01", "12.2", 2, 5, "NVIDIA GeForce GTX 1050 Ti", 4096),
    ("550-geforce-rtx4070-gpus-only.txt", "550.40.07", "12.4", 1, 0, "NVIDIA GeForce RTX 4070", 12282),
    ("570-h100-no-processes.txt", "570.195.03", "12.8", 1, 0, "NVIDIA H100 80GB HBM3", 81559),
    ("570-three-l40s-one-process.txt", "570.195.03", "12.8", 3, 1, "NVIDIA L40S", 46068),
    ("580-geforce-gtx1080ti.txt", "580.126.09", "13.0", 1, 0, "NVIDIA GeForce GTX 1080 Ti", 11264),
    ("580-wsl-rtx5090-laptop.txt", "580.88", "13.0", 1, 3, "NVIDIA GeForce RTX 5090 ...", 24463),
    ("610-kmd-version-header-partial.txt", "610.43.03", "13.3", 1, 0, "NVIDIA GeForce RTX 3080 ...", 16384),
]


@pytest.mark.parametrize(("name", "driver", "cuda", "ngpus", "nprocs", "gpu0", "total"), TABLES)
def test_every_table_layout_gives_driver_cuda_gpus_and_processes(name, driver, cuda, ngpus, nprocs, gpu0, total):
    table = parse_nvidia_smi_table(read(name))
    assert table is not None
    assert table.driver_version == driver
    assert table.cuda_version == cuda
    assert len(table.gpus) == ngpus
    assert len(table.processes) == nprocs
    assert table.gpus[0].name == gpu0
    assert table.gpus[0].memory_total_mib == total
    assert [g.index for g in table.gpus] == list(range(ngpus))


def test_two_gpu_table_reads_each_gpu_state_and_assigns_processes():
    table = parse_nvidia_smi_table(read("535-two-geforce-five-processes.txt"))
    g0, g1 = table.gpus
    assert (g0.temperature_c, g0.power_w, g0.power_limit_w, g0.utilization_gpu_pct) == (85, None, 75.0, 93)
    assert (g1.memory_used_mib, g1.memory_total_mib, g1.bus_id, g1.persistence_mode) == (5226, 6144,
                                                                                         "00000000:04:00.0", True)
    ollama = [p for p in table.processes if p.pid == 190709][0]
    assert (ollama.gpu_index, ollama.type, ollama.used_mib) == (0, "C", 2492)
    assert [p.gpu_index for p in table.processes] == [0, 0, 0, 1, 1]


def test_old_layout_without_gi_ci_columns_and_ecc_count():
    table = parse_nvidia_smi_table(read("418-tesla-p100-no-processes.txt"))
    assert table.processes == () and table.processes_listed
    assert table.gpus[0].ecc_uncorrected == 0 and table.gpus[0].persistence_mode is False


def test_wsl_table_keeps_smi_and_windows_driver_versions_apart():
    table = parse_nvidia_smi_table(read("580-wsl-rtx5090-laptop.txt"))
    assert table.smi_version == "580.65.05" and table.driver_version == "580.88"
    assert all(p.used_mib is None for p in table.processes)


def test_table_without_process_section_says_processes_were_not_listed():
    assert parse_nvidia_smi_table(read("550-geforce-rtx4070-gpus-only.txt")).processes_listed is False


@pytest.mark.parametrize(
    ("name", "rc", "kind"),
    [
        ("err-driver-not-loaded.txt", 9, "driver-not-loaded"),
        ("err-lib-rm-version-mismatch-570.txt", 18, "lib-rm-version-mismatch"),
        ("err-lib-rm-version-mismatch-470.txt", 18, "lib-rm-version-mismatch"),
        ("err-gpu-lost.txt", 15, "gpu-is-lost"),
        ("err-libnvidia-ml-not-found.txt", 12, "library-not-found"),
        ("err-no-devices.txt", 6, "no-devices"),
    ],
)
def test_failure_messages_are_classified_with_and_without_the_exit_status(name, rc, kind):
    text = read(name)
    assert parse_nvidia_smi_table(text) is None
    assert classify_nvidia_smi_failure(rc, text)[0] == kind
    got, message = classify_nvidia_smi_failure(255, text)  # the text alone is enough
    assert got == kind and message


def test_version_mismatch_message_keeps_the_nvml_library_version():
    text = read("err-lib-rm-version-mismatch-570.txt")
    assert nvml_library_version(text) == "570.124"
    assert "570.124" in classify_nvidia_smi_failure(18, text)[1]


@pytest.mark.parametrize(
    ("rc", "kind"),
    [(9, "driver-not-loaded"), (12, "library-not-found"), (15, "gpu-is-lost"), (4, "no-permission"),
     (14, "corrupted-inforom"), (137, "killed"), (42, "unknown")],
)
def test_exit_status_alone_carries_meaning(rc, kind):
    assert classify_nvidia_smi_failure(rc, "")[0] == kind


def test_timeout_and_missing_command():
    assert classify_nvidia_smi_failure(124, "", timed_out=True)[0] == "timeout"
    assert classify_nvidia_smi_failure(127, "nvidia-smi: command not found")[0] == "not-installed"


def test_working_table_is_ok():
    assert classify_nvidia_smi_failure(0, read("570-h100-no-processes.txt")) == ("ok", "")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text):
    parse_nvidia_smi_table(text)
    classify_nvidia_smi_failure(0, text)
    classify_nvidia_smi_failure(9, text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(read("535-two-geforce-five-processes.txt").splitlines() + ["|", "| 0 x | y |", ""]),
                max_size=40), st.integers(min_value=-5, max_value=300))
def test_shuffled_table_lines_never_raise(lines, rc):
    text = "\n".join(lines)
    parse_nvidia_smi_table(text)
    classify_nvidia_smi_failure(rc, text)


def test_a_table_after_the_tail_of_an_earlier_one_is_read_whole():
    """apple/turicreate#2377: the paste begins with the empty Processes section of one nvidia-smi output, then the next
    output's table; its GPU rows are GPUs, not processes."""
    text = (Path(__file__).parent / "cases" / "ok-4xp100-turicreate-tf114-prints-using-cpu" / "paste.txt").read_text()
    start = text.index("| Processes:")
    table = parse_nvidia_smi_table(text[start:])
    assert table is not None and table.driver_version == "410.79"
    assert [g.index for g in table.gpus] == [0, 1] and table.gpus[0].bus_id.endswith("84:00.0")
