"""tfdoctor triage: a pasted bug report in, the outputs it holds recognised by their content, the same diagnosis as
`check --from` out.

Inputs are real: pastes from public threads (tests/fixtures/pastes, sourced in its SOURCE.md), the corpus pastes
(tests/cases/*/paste.txt, each sourced in its SOURCE.md), and the real tool outputs of tests/fixtures/nvidia-smi and
tests/fixtures/logs. Forms no thread shows (CRLF, colour codes, a paste quoted whole, invalid bytes) are built here
from a real paste, and each test says how.
"""

from __future__ import annotations

import importlib.resources
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.corpus import CASES_DIR, case_dirs, diagnosis_of, healthy_params, replay_case, score
from tfdoctor.cli import app
from tfdoctor.host import open_snapshot
from tfdoctor.triage import paste as paste_mod
from tfdoctor.triage import plan, triage_file, triage_text
from tfdoctor.triage.paste import PasteError, from_bytes, from_text, read_paste
from tfdoctor.triage.recognisers import bare_command, parse_command

ROOT = Path(__file__).resolve().parents[1]
PASTES = ROOT / "tests" / "fixtures" / "pastes"
CASES = case_dirs()
TRIAGE_FLOOR_FILE = CASES_DIR / "TRIAGE_ACCURACY_FLOOR"


def used(text: str) -> list:
    """(kind, first, last, target) of every recognised output that went into the snapshot."""
    snapshot_plan, _ = plan(from_text(text))
    return [(r.kind, r.first, r.last, r.target) for r in snapshot_plan.recognised if r.target]


def files_of(text: str) -> dict[str, str]:
    snapshot_plan, _ = plan(from_text(text))
    return snapshot_plan.files


def fixture(name: str) -> str:
    return (PASTES / name).read_text(encoding="utf-8")


def case_paste(name: str) -> str:
    return (CASES_DIR / name / "paste.txt").read_text(encoding="utf-8")


# -- recognisers on real pastes ------------------------------------------------------------------------------------


def test_lspci_vv_in_a_fence_with_its_prompt():
    got = used(fixture("negativo17-nvidia-driver-73-lspci-vv.txt"))
    assert got == [("lspci", 4, 17, "commands/lspci")]
    from tfdoctor.probes.pci import parse_lspci

    rec = parse_lspci(files_of(fixture("negativo17-nvidia-driver-73-lspci-vv.txt"))["commands/lspci"])[0]
    assert rec.driver_in_use == "nouveau" and rec.kernel_modules == ("nouveau", "nvidia_drm", "nvidia")


@pytest.mark.parametrize("name", ["vanities-gpu-passthrough-6-lspci-nnk.txt",
                                  "vanities-gpu-passthrough-6-lspci-nnk-unindented.txt"])
def test_lspci_nnk_without_command_indented_or_not(name):
    from tfdoctor.probes.pci import parse_lspci

    text = fixture(name)
    recs = parse_lspci(files_of(text)["commands/lspci"])
    assert [r.slot for r in recs] == (["0000:01:00.0", "0000:01:00.1"] if "unindented" not in name
                                      else ["0000:3e:00.0", "0000:3e:00.1"])
    assert recs[0].driver_in_use == "nvidia" and recs[1].driver_in_use == "snd_hda_intel"


def test_journalctl_kernel_lines_go_to_the_kernel_log():
    files = files_of(fixture("nixpkgs-29514-journal-nouveau.txt"))
    assert files["commands/dmesg"].count("kernel: nouveau 0000:01:00.0: DRM:") == 6
    assert "the module appears" not in files["commands/dmesg"]  # the prose before it is not log


def test_lsmod_with_its_header_named_only_in_prose():
    from tfdoctor.probes.driver import parse_proc_modules

    files = files_of(fixture("bumblebee-730-lsmod.txt"))
    mods = parse_proc_modules(files["commands/lsmod"])
    assert "bbswitch" in mods and "kvm_intel" in mods and not any(m.startswith("nvidia") for m in mods)


def test_modinfo_of_two_modules_keeps_the_nvidia_block():
    text = files_of(fixture("bumblebee-236-modinfo-bbswitch-nvidia.txt"))["commands/modinfo_nvidia"]
    assert text.startswith("filename:       /lib/modules/3.2.0-26-generic/updates/dkms/nvidia.ko")
    assert "bbswitch" not in text and "version:        304.37" in text


@pytest.mark.parametrize("name, recommended", [("canonical-ubuntu-drivers-common-48.txt", "nvidia-driver-450-server"),
                                               ("canonical-nvidia-graphics-drivers-36-quoted.txt",
                                                "nvidia-driver-435")])
def test_ubuntu_drivers_devices_fenced_or_half_quoted(name, recommended):
    from tfdoctor.probes.driver import parse_ubuntu_drivers

    devices = parse_ubuntu_drivers(files_of(fixture(name))["commands/ubuntu-drivers_devices"])
    assert [d.recommended for d in devices] == [recommended]


def test_os_release_whose_first_line_is_indented_and_no_apt_policy_guess():
    from tfdoctor.probes.env import parse_os_release

    files = files_of(fixture("system76-driver-213-os-release-lspci-k.txt"))
    osr = parse_os_release(files["files/etc/os-release"])
    from tfdoctor.triage.snapshot import PASTED_TEXT_KEY

    assert osr["ID"] == "pop" and osr["VERSION_ID"] == "21.04"
    # `apt policy` output and prose are not read as any program's output: they stay pasted text, which only the
    # evidence catalogue's known messages are looked for in
    assert set(files) == {"files/etc/os-release", PASTED_TEXT_KEY}
    assert "Candidato: 20.04.39" in files[PASTED_TEXT_KEY]
    assert "VERSION_CODENAME" not in files[PASTED_TEXT_KEY]  # the lines placed in os-release are not repeated


@pytest.mark.parametrize("name, driver, gpus", [("acidanthera-bugtracker-2237-nvidia-smi-530.txt", "530.30.02", 1),
                                                ("styleflow-46-nvidia-smi-418.txt", "418.181.07", 1),
                                                ("sionna-792-nvidia-smi-572-wddm.txt", "572.61", 1)])
def test_nvidia_smi_tables_of_three_releases(name, driver, gpus):
    from tfdoctor.probes.nvidia_smi import parse_nvidia_smi_table

    files = files_of(fixture(name))
    table = parse_nvidia_smi_table(files["commands/nvidia-smi"])
    assert table.driver_version == driver and len(table.gpus) == gpus
    assert "commands/nvidia-smi.rc" not in files  # a table: exit status 0


SMI = ROOT / "tests" / "fixtures" / "nvidia-smi"


@pytest.mark.parametrize("path", sorted(p for p in SMI.glob("*.txt") if not p.name.startswith("err-")),
                         ids=lambda p: p.name)
def test_every_real_nvidia_smi_table_is_recognised_whole(path):
    from tfdoctor.probes.nvidia_smi import parse_nvidia_smi_table

    text = path.read_text(encoding="utf-8")
    written = files_of("Here is my nvidia-smi:\n\n" + text + "\nAny idea?\n").get("commands/nvidia-smi")
    want = parse_nvidia_smi_table(text)
    # a table cut before its GPU rows is kept too (stop 23): its header is read, its missing rows are no GPU missing
    assert written is not None and parse_nvidia_smi_table(written) == want


@pytest.mark.parametrize("path", sorted(SMI.glob("err-*.txt")), ids=lambda p: p.name)
def test_every_real_nvidia_smi_failure_is_recognised_with_its_kind(path):
    from tfdoctor.probes.nvidia_smi import classify_nvidia_smi_failure

    text = path.read_text(encoding="utf-8").strip()
    files = files_of("nvidia-smi fails with\n\n" + text + "\n\nthanks\n")
    want = classify_nvidia_smi_failure(1, text)[0]
    got = classify_nvidia_smi_failure(int(files.get("commands/nvidia-smi.rc", "0")), files["commands/nvidia-smi"])[0]
    assert got == want


LOGS = ROOT / "tests" / "fixtures" / "logs"


@pytest.mark.parametrize("path", sorted(LOGS.glob("*.log")), ids=lambda p: p.name)
def test_a_real_tensorflow_log_pasted_alone_loses_nothing(path):
    from tfdoctor.tflog import analyse_log

    text = path.read_text(encoding="utf-8")
    written = files_of(text).get("tensorflow.log", "")
    want, got = analyse_log(text), analyse_log(written)
    assert got.kinds == want.kinds
    assert (got.missing_libraries, got.cuda_error, got.compute_capabilities, got.cudnn_loaded) == \
        (want.missing_libraries, want.cuda_error, want.compute_capabilities, want.cudnn_loaded)


def test_tensorflow_0x_log_with_bare_level_prefix():
    files = files_of(fixture("tensorflow-255-cuinit-no-device.txt"))
    log = files["tensorflow.log"]
    assert "failed call to cuInit: CUDA_ERROR_NO_DEVICE" in log and "What have I done wrong" not in log


def test_nvidia_smi_missing_by_path_reads_as_not_installed():
    files = files_of(fixture("tensorflow-53383-nvidia-smi-missing.txt"))
    assert files["commands/nvidia-smi.rc"] == "127\n" and "commands/nvidia-smi" not in files
    assert "nvidia-cuda-toolkit" not in files["commands/nvidia-smi.err"]  # the prose after it is not its output


def test_python_banner_and_repl_after_a_venv_prompt():
    text = fixture("tf-singularity-3-venv-prompt.txt")
    got = used(text)
    assert [k for k, *_ in got] == ["tensorflow-log"]
    log = files_of(text)["tensorflow.log"]
    assert "Device mapping: no known devices." in log and "Python 2.7.6" not in log and ">>>" not in log


def test_jupyter_traceback_and_the_same_message_quoted_inline():
    text = fixture("tljh-208-jupyter-traceback.txt")
    got = used(text)
    assert got[0] == ("tensorflow-log", 4, 4, "tensorflow.log")  # `ImportError: libcublas.so.9.0: ...` inline
    assert got[1][0] == "tensorflow-log" and got[1][1] == 11  # the traceback from its "ImportError  Traceback" line
    assert "ImportError: libcublas.so.9.0: cannot open shared object file" in files_of(text)["tensorflow.log"]


def test_plain_traceback_without_fence_is_one_segment():
    text = fixture("chatbot-retrieval-34-traceback.txt")
    assert used(text) == [("tensorflow-log", 1, 12, "tensorflow.log")]


def test_oh_my_zsh_prompt_names_the_command_of_the_log_under_it():
    snapshot_plan, _ = plan(from_text(fixture("tensorflow-5141-ohmyzsh-prompt.txt")))
    rec = next(r for r in snapshot_plan.recognised if r.target)
    assert rec.command == 'python -c "import tensorflow;"' and (rec.first, rec.last) == (5, 9)


# -- the corpus pastes: forms people paste ---------------------------------------------------------------------------


def test_several_outputs_run_together_with_dollar_prompts_and_no_fence():
    got = used(case_paste("drv-open-module-teslap4-truenas"))
    # the kernel release quoted inline in the Environment list ("kernel `6.12.105-production+truenas`"), then
    # three outputs under `$` prompts with no code fence
    assert [(k, t) for k, _, _, t in got] == [("uname", "commands/uname_-r"), ("nvidia-smi", "commands/nvidia-smi"),
                                                ("kernel-log", "commands/dmesg"), ("lspci", "commands/lspci")]
    snapshot_plan, _ = plan(from_text(case_paste("drv-open-module-teslap4-truenas")))
    assert [r.command for r in snapshot_plan.recognised] == [None, "nvidia-smi", "dmesg | grep NVRM",
                                                             "lspci -nnk | grep -iA3 '3D controller'"]


def test_root_prompts_in_a_fence_each_command_its_output():
    got = used(case_paste("drv-dkms-added-not-built-surface-book2"))
    assert [(k, t) for k, _, _, t in got] == [("nvidia-smi", "commands/nvidia-smi"), ("dkms-status", "commands/dkms_status"),
                                                ("uname", "commands/uname_-r"), ("dkms", "commands/dkms_autoinstall")]
    files = files_of(case_paste("drv-dkms-added-not-built-surface-book2"))
    assert files["commands/uname_-r"] == "5.4.6-surface\n" and files["commands/nvidia-smi.rc"] == "9\n"


def test_fence_whose_info_string_is_a_prompt():
    # "```xxx@DLSY:~$ nvidia-smi" opens the block with the command; "GPU1```" closes it at the line's end
    files = files_of(case_paste("srv-marian-dlsy-gpu-is-lost"))
    assert files["commands/nvidia-smi"].startswith("Unable to determine the device handle for GPU")
    assert files["commands/nvidia-smi.rc"] == "15\n"


def test_talos_and_dmesg_t_and_journalctl_continuations():
    for case in ("drv-legacy470-gt710-talos", "drv-legacy580-gtx1050-nixos", "drv-legacy580-gtx1050-xps15-nixos"):
        dmesg = files_of(case_paste(case))["commands/dmesg"]
        assert "supported through the NVIDIA" in dmesg and "No NVIDIA GPU found" in dmesg, case


def test_journald_prefixed_tensorflow_log():
    log = files_of(case_paste("ok-v100-tf21-journald-prefixed-log"))["tensorflow.log"]
    assert "Successfully opened dynamic library libcudart.so.10.2" in log


@pytest.mark.parametrize("case", ["tf-cc30-grid-k520-tf05", "ok-gtx960m-laptop-tf1-cpu-faster",
                                  "ok-t600-tf26-fedora34"])
def test_tab_indented_four_space_indented_and_quoted_logs(case):
    log = files_of(case_paste(case))["tensorflow.log"]
    assert log and not log.startswith((" ", "\t", ">"))
    assert all(not ln.startswith("> ") for ln in log.splitlines())


def test_zsh_theme_prompt_and_proc_version():
    files = files_of(case_paste("srv-wsl1-kernel-no-wsl-libcuda-directml"))
    assert files["files/proc/version"].startswith("Linux version 4.4.0-20150-Microsoft")  # the first one pasted


def test_prose_template_with_dkms_status_and_modinfo_fields():
    files = files_of(case_paste("drv-secure-boot-machine-keyring-deepin"))
    assert files["commands/dkms_status"].count("nvidia-current/580.119.02") == 2  # both paragraphs of it
    assert "signer: DKMS module signing key" in files["commands/modinfo_nvidia"]
    assert files["commands/uname_-r"] == "6.18.48-amd64-desktop-rolling\n"  # the "Kernel:" line of the template


def test_messages_and_answers_quoted_inline_in_prose():
    files = files_of(case_paste("drv-dkms-no-module-new-kernel-popos2204"))
    assert files["commands/uname_-r"] == "5.17.5-76051705-generic\n"  # "`uname -r` : `5.17.5-...`"
    assert files["commands/modprobe"].startswith("modprobe: FATAL: Module nvidia not found in directory")


def test_cpuinfo_flags_lines():
    from tfdoctor.probes.cpu import parse_cpuinfo

    info = parse_cpuinfo(files_of(case_paste("tf-noavx-core2-q9650-tf114"))["files/proc/cpuinfo"])
    assert "sse4_1" in info["flags"] and "avx" not in info["flags"]


def test_cuda_visible_devices_from_the_code_and_the_first_assignment_wins():
    files = files_of(case_paste("srv-cvd-1-single-gpu-mobilenet-ssd"))
    assert json.loads(files["env.json"]) == {"CUDA_VISIBLE_DEVICES": "1"}
    # "os.environ['CUDA_VISIBLE_DEVICES'] = '0'" for GPU, then '-1' for CPU: the first is what ran
    assert json.loads(files_of(case_paste("ok-gtx960m-laptop-tf1-cpu-faster"))["env.json"]) == \
        {"CUDA_VISIBLE_DEVICES": "0"}


def test_prompt_host_that_is_a_container_id_marks_a_container():
    snapshot_plan, _ = plan(from_text(case_paste("srv-tf06-docker-gpu-image-without-nvidia-docker")))
    assert snapshot_plan.files["files/.dockerenv"] == ""
    assert any(r.kind == "container-marker" and "5b1e79697b49" in r.note for r in snapshot_plan.recognised)


def test_prose_only_paste_recognises_nothing():
    assert used(case_paste("tf-python312-miniconda-tf214-debian11")) == []
    assert used("My GPU does not work with TensorFlow.\nI use Ubuntu 22.04 and a GeForce RTX 3060.\n") == []


def test_markdown_heading_is_not_a_root_prompt_but_a_root_prompt_is():
    assert used("# nvidia-smi\nsome heading text\n") == []
    text = "```\n# nvidia-smi\nNVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. " \
           "Make sure that the latest NVIDIA driver is installed and running.\n```\n"
    snapshot_plan, _ = plan(from_text(text))
    assert [r.command for r in snapshot_plan.recognised] == ["nvidia-smi"]


def test_uname_r_answer_is_only_read_under_its_command():
    assert used("```\n$ uname -r\n5.15.0-91-generic\n```\n") == [("uname", 3, 3, "commands/uname_-r")]
    assert used("```\n5.15.0-91-generic\n```\n") == []  # a bare version with no command is not guessed at


# -- the forms a paste arrives in (built from real pastes) -----------------------------------------------------------


def _kinds(text: str) -> list[tuple[str, str]]:
    return [(k, t) for k, _, _, t in used(text)]


def test_crlf_line_ends_read_as_the_same_paste():
    text = case_paste("drv-open-module-teslap4-truenas")  # real paste; CRLF added here, as Windows would
    assert _kinds(text.replace("\n", "\r\n")) == _kinds(text)


def test_terminal_colour_codes_are_removed():
    text = case_paste("drv-dkms-added-not-built-surface-book2")  # real paste; SGR codes added around each line
    coloured = "\n".join(f"\x1b[1;32m{ln}\x1b[0m" for ln in text.splitlines())
    assert _kinds(coloured) == _kinds(text)
    assert "\x1b" not in from_text(coloured).text


def test_a_whole_paste_quoted_as_a_reply():
    text = case_paste("drv-open-module-teslap4-truenas")  # real paste; quoted as an e-mail or forum reply quotes it
    quoted = "\n".join(f"> {ln}" if ln else ">" for ln in text.splitlines())
    assert _kinds(quoted) == _kinds(text)


def test_invalid_utf8_and_nul_bytes_are_replaced():
    data = case_paste("srv-marian-dlsy-gpu-is-lost").encode().replace(b"GPU is lost", b"GPU \xff\xfeis lost\x00")
    p = from_bytes(data)
    assert "\x00" not in p.text and "\ufffd" in p.text


def test_typographic_quotes_read_as_ascii():
    # the corpus case where forum software curled the quotes of TensorFlow's message
    files = files_of(case_paste("tf-libcusolver10-tf24-cuda111-curly-quotes"))
    assert "Could not load dynamic library 'libcusolver.so.10';" in files["tensorflow.log"]


def test_utf16_with_a_byte_order_mark_is_decoded():
    text = case_paste("srv-marian-dlsy-gpu-is-lost")  # as PowerShell's `>` would write it
    assert from_bytes(text.encode("utf-16")).text == from_text(text).text


# -- hostile input -------------------------------------------------------------------------------------------------


def test_binary_input_is_refused_with_one_line(tmp_path):
    f = tmp_path / "x.bin"
    f.write_bytes(bytes(range(256)) * 64 + Path(sys.executable).read_bytes()[:65536])
    with pytest.raises(PasteError, match="binary data, not text"):
        read_paste(str(f))


def test_one_enormous_line_is_cut():
    p = from_bytes(b"NVRM: Xid (" * 500_000)
    assert p.lines_cut == 1 and len(p.text) == paste_mod.MAX_LINE_CHARS and any("cut" in n for n in p.notes())
    triage_text(p.text)  # and the rest runs on it


def test_a_huge_paste_is_read_only_up_to_the_bound_and_says_so(tmp_path):
    f = tmp_path / "big.txt"
    chunk = (case_paste("drv-open-module-teslap4-truenas") + "\n").encode()
    with open(f, "wb") as fh:
        for _ in range(50 * 1024 * 1024 // len(chunk) + 1):
            fh.write(chunk)
    p = read_paste(str(f))
    assert p.truncated and p.bytes_read <= paste_mod.MAX_PASTE_BYTES and p.text.endswith("\n" + p.lines[-1])
    assert any("only its first" in n for n in p.notes())


def test_nothing_in_a_paste_is_ever_run(monkeypatch):
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise AssertionError("triage ran a program")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(os, "system", refuse)
    text = "```\n$ nvidia-smi; rm -rf ~\n$ python3 -c 'import os; os.system(\"reboot\")'\n$ `reboot`\n" \
           + case_paste("drv-open-module-teslap4-truenas") + "\n```\n"
    triage_text(text)
    assert calls == []


# -- commands ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("line, argv, filters", [
    ('python -c "import tensorflow;"', ("python", "-c", "import tensorflow;"), ()),
    ("lspci -nnk | grep -iA3 '3D controller'", ("lspci", "-nnk"), (("grep", "-iA3", "3D controller"),)),
    ("cd x && sudo -E dkms status", ("dkms", "status"), ()),
    ("cat /proc/cpuinfo|grep flags", ("cat", "/proc/cpuinfo"), (("grep", "flags"),)),
    ("sudo dmesg 2>&1 | tail", ("dmesg",), (("tail",),)),
    ("python3 -m pip list", ("pip", "list"), ()),
])
def test_parse_command(line, argv, filters):
    cmd = parse_command(line)
    assert cmd.argv == argv and cmd.filters == filters


def test_env_before_a_command_is_kept():
    assert parse_command("CUDA_VISIBLE_DEVICES=1 python train.py").env == (("CUDA_VISIBLE_DEVICES", "1"),)


@pytest.mark.parametrize("line, is_command", [("nvidia-smi", True), ("sudo dkms status", True),
                                              ("lspci | grep -i nvidia", True), ("nvidia-smi returns:", False),
                                              ("nvidia-smi is not working on my machine", False),
                                              ("dmesg shows nothing useful.", False)])
def test_bare_command_lines(line, is_command):
    assert (bare_command(line) is not None) is is_command


# -- redaction -----------------------------------------------------------------------------------------------------


def _everything(result) -> str:
    from tfdoctor.triage import render, reply

    return render.json_text(result) + reply.render(result)


def test_host_and_user_from_prompts_are_redacted_everywhere(tmp_path):
    text = case_paste("drv-dkms-added-not-built-surface-book2")  # root@rehab:~# ... and `uname -a` names "rehab"
    result = triage_text(text, save_snapshot=tmp_path / "snap")
    out = _everything(result) + "".join(p.read_text() for p in (tmp_path / "snap").rglob("*") if p.is_file())
    assert "rehab" not in out


def test_user_names_in_prompts_and_windows_paths_are_redacted():
    text = case_paste("srv-wsl1-kernel-no-wsl-libcuda-directml")  # jlam@MAKERPC, /mnt/c/Users/jlam
    result = triage_text(text)
    out = _everything(result)
    assert "jlam" not in out and "MAKERPC" not in out


def test_tensorflows_host_name_is_redacted():
    result = triage_text(fixture("tensorflow-255-cuinit-no-device.txt"))
    assert "joao" not in _everything(result)


def test_gpu_uuids_are_redacted():
    # the UUID form of tests/test_redact.py, inside a real nvidia-smi table of the corpus
    table = (ROOT / "tests/fixtures/nvidia-smi/418-tesla-p100-no-processes.txt").read_text()
    text = table + "\nGPU 0: Tesla P100-PCIE-16GB (UUID: GPU-1f2e3d4c-5b6a-7980-1a2b-3c4d5e6f7a8b)\n"
    assert "1f2e3d4c" not in _everything(triage_text(text))


def test_generic_host_names_are_not_redacted_into_nonsense():
    text = "```\nroot@ubuntu:~# cat /etc/os-release\nNAME=\"Ubuntu\"\nID=ubuntu\nVERSION_ID=\"22.04\"\n```\n"
    files = files_of(text)
    assert "ID=ubuntu" in files["files/etc/os-release"]


def test_a_paste_is_redacted_by_every_snapshot_rule():
    """The paste goes through the snapshot Redactor whole (no prefilter that a new rule could slip past): a journal
    line's host field, as the snapshot rules redact it."""
    from tfdoctor.triage.redaction import PasteRedactor, learn

    line = "Apr 13 16:41:14 nixos kernel: NVRM: The NVIDIA NVIDIA GeForce GTX 1050 GPU installed in this system>"
    out = PasteRedactor(learn(line))(line)
    assert "nixos" not in out and "NVRM: The NVIDIA NVIDIA GeForce GTX 1050" in out


def test_names_the_snapshot_redactor_reserves_are_not_learned_from_a_prompt():
    """A prompt `worker@worker:~$` must not teach triage to redact "worker": TensorFlow's device names
    (`/job:worker/replica:0/task:0/device:GPU:0`) are facts. One word list for both redactors."""
    from tfdoctor.triage.redaction import PasteRedactor, learn

    text = ("worker@worker:~$ python train.py\n"
            "Created TensorFlow device (/job:worker/replica:0/task:0/device:GPU:0 with 10 MB memory)\n")
    learned = learn(text)
    assert "worker" not in learned.hosts and "worker" not in learned.users
    assert "/job:worker/replica:0/task:0/device:GPU:0" in PasteRedactor(learned)(text)
    # a real name in the same place is still learned and redacted
    other = text.replace("worker@worker", "alice@gpubox7")
    assert "alice" not in PasteRedactor(learn(other))(other) and "gpubox7" not in PasteRedactor(learn(other))(other)


# -- the CLI ---------------------------------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_exit_1_when_the_paste_shows_a_failure():
    res = runner.invoke(app, ["triage", str(CASES_DIR / "drv-open-module-teslap4-truenas" / "paste.txt")])
    assert res.exit_code == 1, res.output
    assert "Recognised in the paste" in res.output and "lines 11-17" in res.output and "Root cause:" in res.output


def test_cli_exit_0_for_a_healthy_paste():
    res = runner.invoke(app, ["triage", str(CASES_DIR / "ok-8xk80-tf1-estimator-mirrored" / "paste.txt")])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("make", ["missing", "directory", "binary"])
def test_cli_exit_2_for_unreadable_input(tmp_path, make):
    target = tmp_path / "x"
    if make == "directory":
        target.mkdir()
    elif make == "binary":
        target.write_bytes(bytes(range(256)) * 1024)
    res = runner.invoke(app, ["triage", str(target)])
    assert res.exit_code == 2
    assert res.output.count("\n") <= 2 and "tfdoctor:" in res.output


def test_cli_reads_standard_input():
    res = runner.invoke(app, ["triage", "--json", "-"], input=case_paste("drv-version-mismatch-reboot-koelsch"))
    doc = json.loads(res.output)
    assert doc["source"] == {"host": "paste", "paste": "-"} and doc["summary"]["root_cause"] is not None


def test_cli_json_matches_the_schema_and_lists_segments():
    import jsonschema

    schema = json.loads(importlib.resources.files("tfdoctor").joinpath("schema/report.schema.json").read_text())
    res = runner.invoke(app, ["triage", "--json", str(CASES_DIR / "drv-dkms-added-not-built-surface-book2" / "paste.txt")])
    doc = json.loads(res.output)
    jsonschema.Draft202012Validator(schema).validate(doc)
    seg = doc["triage"]["segments"][0]
    assert seg == {"kind": "nvidia-smi", "first_line": 4, "last_line": 4, "command": "nvidia-smi",
                   "written_to": "commands/nvidia-smi",
                   "note": '"NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver. Make sure'
                           '..." (exit status 9: driver-not-loaded)'}
    assert doc["summary"]["root_cause"] == "driver.dkms" and res.exit_code == 1


def test_cli_json_and_reply_together_is_a_usage_error():
    res = runner.invoke(app, ["triage", "--json", "--reply", str(CASES_DIR / "ok-8xk80-tf1-estimator-mirrored" /
                                                                "paste.txt")])
    assert res.exit_code == 2


def test_save_snapshot_replays_to_the_same_diagnosis(tmp_path):
    paste = CASES_DIR / "drv-open-module-teslap4-truenas" / "paste.txt"
    snap = tmp_path / "snap"
    res = runner.invoke(app, ["triage", "--json", "--save-snapshot", str(snap), str(paste)])
    triaged = json.loads(res.output)
    assert triaged["triage"]["snapshot"] == str(snap) and triaged["source"]["snapshot"] == str(snap)
    manifest = json.loads((snap / "manifest.json").read_text())
    assert manifest["source"] == "hand-built" and [s["kind"] for s in manifest["segments"]] == \
        ["uname", "nvidia-smi", "kernel-log", "lspci"]
    replayed = runner.invoke(app, ["check", "--json", "--from", str(snap)])
    assert json.loads(replayed.output)["summary"]["root_cause"] == triaged["summary"]["root_cause"]
    assert (snap / "commands" / "lspci").read_text().startswith("03:00.0 3D controller [0302]: NVIDIA")
    open_snapshot(snap)  # a snapshot the reader accepts


def test_save_snapshot_refuses_a_directory_in_use(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    res = runner.invoke(app, ["triage", "--save-snapshot", str(tmp_path),
                              str(CASES_DIR / "ok-8xk80-tf1-estimator-mirrored" / "paste.txt")])
    assert res.exit_code == 2 and "not empty" in res.output and (tmp_path / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("make, name, says", [
    (lambda d: (d / "taken").write_text("mine"), "taken", "not a directory"),  # an existing file
    (lambda d: None, "no/such/parent", "does not exist"),  # parents are not created
    (lambda d: None, "snap.tar.gz", "writes a directory"),
])
def test_save_snapshot_refuses_what_snapshot_o_refuses(tmp_path, make, name, says):
    make(tmp_path)
    res = runner.invoke(app, ["triage", "--save-snapshot", str(tmp_path / name),
                              str(CASES_DIR / "ok-8xk80-tf1-estimator-mirrored" / "paste.txt")])
    assert res.exit_code == 2 and says in res.output and "internal error" not in res.output
    assert not (tmp_path / "no").exists() and not (tmp_path / "snap.tar.gz").exists()


def test_console_report_to_a_directory_is_one_line_and_exit_2(tmp_path):
    res = runner.invoke(app, ["triage", "-o", str(tmp_path), str(CASES_DIR / "srv-marian-dlsy-gpu-is-lost" / "paste.txt")])
    assert res.exit_code == 2 and "cannot write" in res.output and "internal error" not in res.output


def test_cli_output_file(tmp_path):
    out = tmp_path / "reply.md"
    res = runner.invoke(app, ["triage", "--reply", "-o", str(out),
                              str(CASES_DIR / "srv-marian-dlsy-gpu-is-lost" / "paste.txt")])
    assert res.exit_code == 1 and res.output == "" and out.read_text().startswith("**What the paste shows**")


# -- --reply -------------------------------------------------------------------------------------------------------


def test_reply_states_cause_fix_and_what_it_rests_on():
    from tfdoctor.triage import reply

    result = triage_text(case_paste("drv-dkms-added-not-built-surface-book2"))
    md = reply.render(result)
    assert "**Likely root cause:**" in md and "(`driver.dkms`)" in md
    assert "linux-headers-5.4.6-surface" in md and "```sh" in md
    assert "Error! Bad return status for module build on kernel" in md  # the line it rests on
    assert "- dkms status output from `dkms status`: 1 module(s) (line 12)" in md


def test_reply_asks_for_what_would_settle_it_when_nothing_failed():
    from tfdoctor.triage import reply

    result = triage_text(case_paste("srv-k0s-pod-missing-runtimeclass-nvidia"))  # no finding fails on it
    md = reply.render(result)
    asks = [q.command for q in reply.questions(result.report)]
    assert asks[0] == "nvidia-smi" and len(asks) <= reply.MAX_QUESTIONS  # what the skipped checks ask for
    # ... but the paste's `nvidia-smi: command not found` shows it is not installed there: never asked for again
    assert result.not_installed == ("nvidia-smi",)
    assert "**Please paste the output of:**" in md and "- `nvidia-smi`" not in md and "- `lspci -nnk" in md


def test_reply_asks_for_the_basics_when_nothing_was_recognised():
    from tfdoctor.triage import reply

    md = reply.render(triage_text("It does not work. Please help!\n"))
    assert "no output of a tool tfdoctor reads" in md
    assert all(f"- `{c}`" in md for c in reply.BASICS)


def test_reply_asks_nothing_more_when_the_paste_shows_the_gpu_working():
    from tfdoctor.triage import reply

    result = triage_text(case_paste("ok-8xk80-tf1-estimator-mirrored"))
    assert reply.questions(result.report) == [] and "No problem found" in reply.render(result)


def test_reply_for_a_root_cause_asks_only_what_lies_upstream_of_it():
    from tfdoctor import catalogue
    from tfdoctor.triage import reply

    result = triage_text(case_paste("srv-gce-v100-cml-runner-no-driver"))
    root = result.report.root_cause
    upstream = set(reply._upstream(root.id))
    assert root.id == "driver.nvidia-module" and all(q.finding in upstream for q in reply.questions(result.report))
    assert catalogue.get(root.id) is not None


# -- the same diagnosis as the hand-built snapshot -------------------------------------------------------------------


def test_triage_imports_no_tensorflow():
    code = ("import sys; from tfdoctor.triage import triage_file; "
            f"triage_file({str(CASES_DIR / 'ok-t4-tf24-memory-question' / 'paste.txt')!r}); "
            "assert 'tensorflow' not in sys.modules, 'imported TensorFlow'")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr


def test_triage_accuracy_is_at_least_nine_tenths_of_replay_and_its_floor():
    replay = [score(d) for d in CASES]
    triage = [score(d, "triage") for d in CASES]
    r_right, t_right = sum(ok for ok, _ in replay), sum(ok for ok, _ in triage)
    floor = float(TRIAGE_FLOOR_FILE.read_text().strip())
    misses = "\n".join(f"{d.name}: {why}" for d, (ok, why) in zip(CASES, triage, strict=True) if not ok)
    assert t_right >= 0.9 * r_right, f"triage {t_right}/{len(CASES)} vs replay {r_right}/{len(CASES)}\n{misses}"
    assert t_right / max(len(CASES), 1) >= floor, f"triage {t_right}/{len(CASES)}, floor {floor}\n{misses}"


@pytest.mark.parametrize("case", healthy_params(CASES, triage=True))
def test_no_healthy_paste_gets_a_root_cause(case):
    ok, why = score(case, "triage")
    assert ok and diagnosis_of(replay_case(case, "triage")) is None, why


def test_triage_file_is_the_corpus_hook():
    report = triage_file(str(CASES_DIR / "srv-marian-dlsy-gpu-is-lost" / "paste.txt"))
    assert report.root_cause is not None and report.meta["source"]["host"] == "paste"


def test_docs_worked_example_shows_what_triage_recognises_today(tmp_path, monkeypatch):
    from tfdoctor.triage.render import console_text_lines

    page = (ROOT / "docs" / "triage.md").read_text(encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "paste.txt").write_text(case_paste("drv-open-module-teslap4-truenas"), encoding="utf-8")
    result = triage_text(case_paste("drv-open-module-teslap4-truenas"), name="paste.txt")
    for line in console_text_lines(result):
        assert line in page, line
    assert f"({result.report.root_cause.id})" in page


def test_the_outputs_the_checks_ask_for_are_read_back():
    # a transcript from this machine (a container with no GPU) of the commands the skipped checks name
    text = fixture("this-machine-container-transcript.txt")
    snapshot_plan, _ = plan(from_text(text))
    assert snapshot_plan.exists == {"/run/.containerenv": False, "/.dockerenv": True}
    assert snapshot_plan.listings == {"/dev": []}
    files = snapshot_plan.files
    assert files["files/proc/1/cgroup"].startswith("9:name=systemd:/\n") and files["commands/uname_-r"] == \
        "6.18.44-fc-v1300\n"
    assert "ID=debian" in files["files/etc/os-release"] and 'VERSION_ID="12"' in files["files/etc/os-release"]
    assert json.loads(files["env.json"]) == {"CUDA_VISIBLE_DEVICES": "0"}
    assert files["commands/pip_list"].startswith("Package ")
    report = triage_text(text).report
    container = report.get("env.container")
    # a container on a machine that shows no GPU at all: nothing to give it, so no advice to restart it with --gpus
    assert container.status.value == "info" and "nothing shows the host has one" in container.summary
    assert report.get("system.os").summary.startswith("Debian GNU/Linux 12")


def test_the_schema_lists_every_segment_kind():
    from tfdoctor.triage.recognisers import KINDS

    schema = json.loads(importlib.resources.files("tfdoctor").joinpath("schema/report.schema.json").read_text())
    assert schema["$defs"]["triage_segment"]["properties"]["kind"]["enum"] == sorted(KINDS)


def test_reply_never_asks_for_a_tool_the_paste_shows_missing():
    from tfdoctor.triage import reply

    result = triage_text(fixture("tensorflow-53383-nvidia-smi-missing.txt"))
    assert result.not_installed == ("nvidia-smi",)
    md = reply.render(result)
    assert "- `nvidia-smi`" not in md and "- `lspci -nnk | grep -iA3 nvidia`" in md


def test_a_filtered_listing_without_nvidia_proves_nothing():
    # `lspci | grep -i vga` hides an NVIDIA GPU that is a 3D controller: its Intel-only answer proves no absence
    snapshot_plan, _ = plan(from_text(fixture("index-23782839797-lspci-grep-vga.txt")))
    assert "commands/lspci" not in snapshot_plan.files
    assert [r.command for r in snapshot_plan.recognised] == ["lspci | grep -i vga"]
    assert "would not show every NVIDIA GPU" in snapshot_plan.recognised[0].note
    # `lsmod | grep nouveau` cannot tell whether nvidia is loaded
    assert "commands/lsmod" not in files_of(fixture("index-20155675712-lsmod-grep-nouveau.txt"))
    # unfiltered, or filtered on nvidia, a listing says what it says
    assert "commands/lspci" in files_of(fixture("vanities-gpu-passthrough-6-lspci-nnk.txt"))
    assert "commands/lsmod" in files_of(fixture("bumblebee-730-lsmod.txt"))


def test_dpkg_listing_of_named_packages_claims_no_missing_driver():
    # `dpkg -l nvidia-smi` lists one package: it cannot show whether a driver package is installed
    snapshot_plan, _ = plan(from_text(case_paste("srv-debian-server-nvml-mismatch-broken-upgrade")))
    assert "commands/dpkg_-l" not in snapshot_plan.files
    assert any(r.kind == "dpkg" and "proves nothing" in r.note for r in snapshot_plan.recognised)


def test_console_lists_a_bounded_number_of_segments():
    from tfdoctor.triage.render import MAX_LISTED, console_text_lines

    result = triage_text(case_paste("drv-open-module-teslap4-truenas") * 30)  # the real paste pasted 30 times over
    lines = console_text_lines(result)
    assert len(result.recognised) > MAX_LISTED and len(lines) <= MAX_LISTED + 3
    assert lines[-1].startswith(f"  ... and {len(result.recognised) - MAX_LISTED + 5} more")


def test_env_output_keeps_only_allow_listed_variables():
    files = files_of(fixture("this-machine-env.txt"))
    assert json.loads(files["env.json"]) == {"CUDA_VISIBLE_DEVICES": "1", "LANG": "C.UTF-8", "TF_CPP_MIN_LOG_LEVEL": "0"}


@pytest.mark.parametrize("prompt", ["$ ", "root@gpu-box:~# ", "(venv) alice@gpu-box:~/proj$ ", "[alice@gpu-box proj]$ ",
                                    "PS C:\\Users\\alice> ", "C:\\Users\\alice>", "(base) C:\\Users\\alice>",
                                    "➜  ~ ", "~ » ", "~$ ", "alice@gpu-box ~ % "])
def test_every_prompt_form_names_the_command_of_the_output_under_it(prompt):
    error = (SMI / "err-driver-not-loaded.txt").read_text(encoding="utf-8").strip()  # real nvidia-smi output
    snapshot_plan, _ = plan(from_text(f"```\n{prompt}nvidia-smi\n{error}\n```\n"))
    rec = next(r for r in snapshot_plan.recognised if r.target)
    assert (rec.kind, rec.command, rec.first) == ("nvidia-smi", "nvidia-smi", 3)


def test_the_same_output_pasted_twice_is_used_once():
    text = fixture("system76-driver-213-os-release-lspci-k.txt")
    snapshot_plan, _ = plan(from_text(text + "\nAnd after a reboot, the same:\n\n" + text))
    os_release = [r for r in snapshot_plan.recognised if r.kind == "os-release"]
    assert len(os_release) == 2
    assert os_release[0].target == "files/etc/os-release"
    assert os_release[1].target is None and os_release[1].note == "not used: the same output was already pasted"
