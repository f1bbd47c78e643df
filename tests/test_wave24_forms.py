"""The same machine state in the forms it takes on its way to tfdoctor: a log collector's prefix on every line (`docker
logs -t`, `kubectl logs --timestamps`, CI logs, `docker compose logs`), the typography of a web page in a hand-built
snapshot (no-break spaces, typographic quotes), lines a terminal cut at its width. The diagnosis must not depend on the
form (benchmarks/robustness.py measures it over the whole corpus).

The messages are verbatim from the public posts named beside them. Where a test joins a real line with a real prefix
of another post (a CI stamp before a TensorFlow line) or cuts a real line at a terminal's width, it says so: the form is
applied by the test, as the collector or the terminal would apply it; the words are the program's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tfdoctor.cli import run_check
from tfdoctor.evidence import ANY, Source, kernel_messages, observe, strip_collector_stamp
from tfdoctor.textmatch import as_printed
from tfdoctor.tflog import analyse_log
from tfdoctor.triage import triage_text

# tensorflow/tensorflow#45930 (GF-Huang, 2021-02-10)
CUDART_MISSING = ("2021-02-10 12:57:07.427237: W tensorflow/stream_executor/platform/default/dso_loader.cc:60] Could "
                  "not load dynamic library 'libcudart.so.11.0'; dlerror: libcudart.so.11.0: cannot open shared object "
                  "file: No such file or directory")
# GitHub Actions' stamp before every line of a job's log (AnswerDotAI/nbdev#1070: `2022-09-15T17:40:57.7636724Z
# Successfully installed ...`)
GHA_STAMP = "2022-09-15T17:40:57.7636724Z "
# docker-compose 1.x's prefix, verbatim from the Weaviate case (srv-compose-weaviate-gpu-capability-no-compute)
WEAVIATE = ("qna-transformers_1  | RuntimeError: Found no NVIDIA driver on your system. Please check that you have an "
            "NVIDIA GPU and installed a driver from http://www.nvidia.com/Download/index.aspx")
# ok-mixed-gtx780m-cc30-tf24-ignored (tensorflow/tensorflow#46071's log)
IGNORED_780M = ("Ignoring visible gpu device (device: 0, name: GeForce GTX 780M compute capability: 3.0) with Cuda "
                "compute capability 3.0. The minimum required Cuda capability is 3.5.")


def _snapshot(tmp_path, files: dict[str, str]) -> str:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "tfdoctor-snapshot", "version": 1,
                                                        "source": "hand-built"}))
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return str(tmp_path)


def _cut(line: str, width: int) -> str:
    """A line as a terminal `width` columns wide hard-wraps it: pieces of exactly `width` characters, mid-word."""
    return "\n".join(line[i:i + width] for i in range(0, len(line), width))


def _messages(kind: str, text: str) -> list[str]:
    return [o.message for o in observe(Source(kind, "pasted", text))]


# -- a log collector's prefix ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", [
    GHA_STAMP,                                   # GitHub Actions, `docker logs -t`, `kubectl logs --timestamps`
    "[2022-09-15T17:40:57.763Z] ",               # Jenkins' timestamper
    "tensorflow-1  | ",                          # `docker compose logs` (v2: the service and its replica)
    "tensorflow_1  | 2022-09-15T17:40:57.763672Z ",  # docker-compose 1.x with -t
    "[pod/trainer-0/tensorflow] ",               # `kubectl logs --prefix`
])
def test_a_collectors_prefix_does_not_hide_tensorflows_line(prefix):
    assert strip_collector_stamp(prefix + CUDART_MISSING) == CUDART_MISSING
    assert analyse_log(prefix + CUDART_MISSING).missing_libraries == ("libcudart.so.11.0",)


def test_a_journal_line_in_iso_form_keeps_its_host_and_program():
    # journalctl -o short-iso prints the journal's own stamp, then the host and the program: that is the kernel-log
    # form, not a collector's prefix (the line is CS3003NS's, drv-secure-boot-key-rejected-openlinuxboot-ubuntu2304,
    # in short-iso form)
    line = "2024-03-06T15:10:43+0100 CS3003NS gdm3[7055]: modprobe: ERROR: could not insert 'nvidia': Key was rejected " \
           "by service"
    assert strip_collector_stamp(line) == line
    assert kernel_messages(line)[0][1].startswith("modprobe: ERROR: could not insert 'nvidia'")
    assert _messages("kernel", line) == ["modprobe-key-rejected"]


def test_words_after_a_stamp_are_not_read_as_a_host_and_a_program():
    # `Driver Version: 384.69` (tf-driver38469-below-cuda90-floor-tf15-rhel7) in a CI log: `Driver` is no host,
    # `Version` no program with a pid
    assert strip_collector_stamp(GHA_STAMP + "Driver Version: 384.69") == "Driver Version: 384.69"
    # a table row and a Markdown table are not a compose prefix (no replica number)
    row = "|   0  NVIDIA GeForce GTX 1080 Ti     On  |   00000000:06:00.0 Off |                  N/A |"
    assert strip_collector_stamp(row) == row
    assert strip_collector_stamp("TensorFlow | 2.11") == "TensorFlow | 2.11"


def test_a_compose_log_reads_as_the_container_printed_it():
    bare = WEAVIATE.split("| ", 1)[1]
    assert strip_collector_stamp(WEAVIATE) == bare
    assert _messages(ANY, WEAVIATE) == _messages(ANY, bare) == ["torch-no-nvidia-driver"]
    # triage finds TensorFlow's log by its lines' start: behind the prefix as well (the prefix applied here)
    plain = triage_text(f"{CUDART_MISSING}\n").report
    composed = triage_text(f"tensorflow-1  | {CUDART_MISSING}\n").report
    assert [(f.id, f.status) for f in composed.findings] == [(f.id, f.status) for f in plain.findings]


def test_a_tensorflow_import_failure_in_a_collected_log_is_still_read(tmp_path):
    # tf-glibc215-ubuntu1204-tf07-import's traceback, as `docker logs -t` would store it
    log = ("Traceback (most recent call last):\n"
           "ImportError: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.17' not found (required by "
           "/usr/local/lib/python2.7/dist-packages/tensorflow/python/_pywrap_tensorflow.so)\n")
    plain = run_check(from_=_snapshot(tmp_path / "plain", {"tensorflow.log": log}))
    stamped = run_check(from_=_snapshot(tmp_path / "stamped", {
        "tensorflow.log": "".join(GHA_STAMP + ln + "\n" for ln in log.splitlines())}))
    assert plain.root_cause is not None and plain.root_cause.id == "tf.import"
    assert stamped.root_cause is not None and stamped.root_cause.id == "tf.import"


def test_triage_reads_a_ci_log_as_the_program_printed_it():
    paste = "".join(GHA_STAMP + ln + "\n" for ln in ("$ python -c 'import tensorflow'", CUDART_MISSING))
    found = triage_text(paste).report
    plain = triage_text(f"$ python -c 'import tensorflow'\n{CUDART_MISSING}\n").report
    assert [(f.id, f.status) for f in found.findings] == [(f.id, f.status) for f in plain.findings]
    assert any(f.id == "tf.cuda-libs" and f.status.value in ("fail", "warn") for f in found.findings)


# -- a web page's typography in a hand-built snapshot ----------------------------------------------------------------

def test_no_break_spaces_of_a_copied_table_do_not_change_what_the_table_says(tmp_path):
    # tests/fixtures/nvidia-smi/580-geforce-gtx1080ti.txt, real; the copy from a rendered page turns its spaces into
    # no-break spaces (applied here)
    table = (Path(__file__).parent / "fixtures" / "nvidia-smi" / "580-geforce-gtx1080ti.txt").read_text()
    plain = run_check(from_=_snapshot(tmp_path / "plain", {"commands/nvidia-smi": table}))
    copied = run_check(from_=_snapshot(tmp_path / "copied", {"commands/nvidia-smi": table.replace(" ", "\u00a0")}))
    assert [(f.id, f.status, f.summary) for f in copied.findings] == \
        [(f.id, f.status, f.summary) for f in plain.findings]
    assert any("580.126.09" in f.summary for f in plain.findings)


def test_html_entities_a_page_kept_are_read_as_the_characters_printed():
    # the title of fnsflm/fnsflm.github.io#23, as its feed stored it
    title = "tensorflow-gpu报错“Could not load dynamic library &#39;libcudart.so.10.1&#39;”"
    assert as_printed(title) == "tensorflow-gpu报错\"Could not load dynamic library 'libcudart.so.10.1'\""
    assert as_printed("a &amp;lt; b") == "a &lt; b"


def test_as_printed_keeps_positions_and_leaves_a_prompts_guillemet():
    text = "Could not load dynamic library \u2018libcusolver.so.10\u2019 \u2013gpus\u00a0all ~ \u00bb "
    out = as_printed(text)
    assert out == "Could not load dynamic library 'libcusolver.so.10' -gpus all ~ \u00bb "
    assert len(out) == len(text)


# -- a terminal's hard wrap ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("width", [60, 80, 120])
def test_a_line_cut_at_a_terminals_width_is_read_whole(width):
    whole = _messages("tensorflow", IGNORED_780M)
    assert whole and _messages("tensorflow", _cut(IGNORED_780M, width)) == whole
    assert analyse_log(_cut(CUDART_MISSING, width)).missing_libraries == ("libcudart.so.11.0",)


def test_a_cut_line_keeps_the_blank_at_the_cut():
    # nvidia-docker 1.0's refusal (srv-nvidia-docker1-cuda9-image-on-cuda8-driver), cut at 80 columns right after
    # the blank before `< image`
    line = "nvidia-docker | 2017/11/21 00:48:39 Error: unsupported CUDA version: driver 8.0 < image 9.0.176"
    cut = _cut(line, 80)
    assert cut.split("\n")[0].endswith("8.0 ")
    assert _messages(ANY, cut) == _messages(ANY, line) != []


# drv-xid119-gsp-rpc-timeout-driver525's dmesg (two of its lines)
XID119 = ("[Fri Mar  3 04:44:24 2023] NVRM: Xid (PCI:0000:61:00): 119, pid=1365232, name=nvidia-smi, Timeout waiting "
          "for RPC from GSP! Expected function 76 (GSP_RM_CONTROL) (0x20801348 0x410).\n"
          "[Fri Mar  3 04:45:09 2023] NVRM: Xid (PCI:0000:61:00): 119, pid=1365232, name=nvidia-smi, Timeout waiting "
          "for RPC from GSP! Expected function 103 (GSP_RM_ALLOC) (0x0 0x6c).\n")


def test_a_kernel_log_cut_at_a_terminals_width_reads_as_its_messages():
    whole = kernel_messages(XID119)
    cut = "\n".join(_cut(line, 80) for line in XID119.splitlines())
    assert kernel_messages(cut) == [(1, whole[0][1]), (4, whole[1][1])]
    assert _messages("kernel", cut) == _messages("kernel", XID119) != []


def test_an_aligned_table_is_not_read_as_cut_lines():
    # `kubectl get pods` (srv-k8s18-gtx1070-device-plugin-crashloop-nvidia-not-default-runtime): a header and a row
    # of the same width are two lines, not one line cut in two
    table = ("NAME                                   READY     STATUS             RESTARTS   AGE\n"
             "nvidia-device-plugin-daemonset-csjxw   0/1       CrashLoopBackOff   12         39m\n")
    assert [m for _, m in kernel_messages(table)] == table.splitlines()


def test_triage_keeps_the_rest_of_a_cut_line_with_its_output():
    paste = f"```\n{_cut(CUDART_MISSING, 80)}\n```\nany idea?\n"
    report = triage_text(paste).report
    assert any(f.id == "tf.cuda-libs" and f.status.value in ("fail", "warn") for f in report.findings)


def test_a_hostile_run_of_full_width_lines_stays_bounded():
    text = "\n".join(["x" * 100] * 20000)
    msgs = kernel_messages(text)
    assert max(len(m) for _, m in msgs) <= 4200
    assert observe(Source("tensorflow", "pasted", text)) == []


def test_a_gpu_uuid_run_into_the_next_word_is_still_redacted():
    # drv-blackwell-gb10-proprietary-flavour-dgx-spark's dmesg: `NVRM: GPU at PCI:000f:01:00: GPU-0f05...be66`; a
    # copy that lost the line break runs the next message into it
    from tfdoctor.redact import gpu_ids

    text = "NVRM: GPU at PCI:000f:01:00: GPU-0f059bf0-a212-94c1-44a7-1068a6c6be66NVRM: Xid (PCI:000f:01:00): 169"
    assert gpu_ids(text) == "NVRM: GPU at PCI:000f:01:00: GPU-<redacted>NVRM: Xid (PCI:000f:01:00): 169"


# tensorflow/tensorflow#62626 (mcourteaux, 2023-12-12), quoted in a reply (tf-tf215-system-cudnn880-vs-894-ubuntu2204)
CUDNN_880 = ("2023-12-12 16:48:40.306928: E external/local_xla/xla/stream_executor/cuda/cuda_dnn.cc:447] Loaded runtime "
             "CuDNN library: 8.8.0 but source was compiled with: 8.9.4.  CuDNN library needs to have matching major "
             "version and equal or higher minor version. If using a binary install, upgrade your CuDNN library.")


def test_triage_joins_a_quoted_line_a_terminal_cut_before_it_was_quoted():
    # cut at 120 columns, then quoted: only the first piece carries the quote marker (Markdown's lazy continuation)
    pieces = _cut("> " + CUDNN_880, 120).split("\n")
    paste = "Here is the log:\n\n" + "\n".join(pieces) + "\n\nSo it claims 8.9.4.\n"
    plain = triage_text(f"Here is the log:\n\n> {CUDNN_880}\n\nSo it claims 8.9.4.\n").report
    cut = triage_text(paste).report
    assert plain.root_cause is not None and plain.root_cause.id == "tf.cuda-libs"
    assert cut.root_cause is not None and cut.root_cause.id == "tf.cuda-libs"
    assert "8.8.0" in cut.root_cause.summary or any("8.8.0" in e.line for e in cut.root_cause.evidence)


def test_two_whole_lines_of_equal_width_are_not_joined():
    # two GPUs' `Created device` lines have the same width; the line after the second is the script's own print
    # (ok-a16-2gpu-tf219-after-reinstall): no message appears by joining them, so they stay apart
    from tfdoctor.triage.paste import from_text
    from tfdoctor.triage.segmenter import segment

    with open(Path(__file__).parent / "cases" / "ok-a16-2gpu-tf219-after-reinstall" / "paste.txt",
              encoding="utf-8") as f:
        log = "".join(f.readlines()[7:10])  # its lines 8-10, verbatim
    assert log.splitlines()[2].endswith("GPU zařízení: 2")
    found = segment(from_text(log).text)
    tf_lines = [ln for s in found.segments if s.kind == "tensorflow-log" for ln in s.lines]
    assert tf_lines and not any("zařízení" in ln for ln in tf_lines)


# pop-os/beta#137 (trevorjamesmartin, 2021-06-02): the message dmesg printed over four `NVRM:` lines
API_MISMATCH = ("NVRM: API mismatch: the client has the version 465.24.02, but",
                "NVRM: this kernel module has the version 460.67.  Please",
                "NVRM: make sure that this kernel module and all NVIDIA driver",
                "NVRM: components have the same version.")


@pytest.mark.parametrize("prefix", [
    "[  123.456789] ",                  # dmesg
    "kern  :warn  : [  123.456789] ",    # dmesg -x (util-linux: facility and level decoded)
    "[  123.456789 <    0.000123>] ",    # dmesg -d (util-linux: the delta between messages)
    "[  123.456789] pop-os kernel: ",    # journalctl -o short-monotonic
])
def test_every_dmesg_form_reads_a_message_printed_over_several_lines_as_one(prefix):
    # the prefixes are applied here, as each form prints them; the words are the driver's
    log = "\n".join(prefix + line for line in API_MISMATCH)
    assert [m for _, m in kernel_messages(log)] == [" ".join(
        [API_MISMATCH[0]] + [ln[len("NVRM: "):] for ln in API_MISMATCH[1:]])]
    assert _messages("kernel", log) == ["nvrm-api-mismatch"]


@pytest.mark.parametrize("line", [
    "Jun 30 11:07:05.123456 gpu-node-7 kernel: " + API_MISMATCH[0],   # journalctl -o short-precise
    "[  123.456789] gpu-node-7 kernel: " + API_MISMATCH[0],           # journalctl -o short-monotonic
])
def test_the_host_of_every_journal_form_is_redacted(line):
    from tfdoctor.redact import Redactor
    from tfdoctor.triage.redaction import learn

    assert learn(line).hosts == ("gpu-node-7",)
    assert "gpu-node-7" not in Redactor()(line)


def test_a_dmesg_device_name_is_not_read_as_a_host():
    # srv-rke2-vm-8gpu-gpu-operator-bar1-0m-two-gpus-probe-failed-driver510's dmesg
    from tfdoctor.redact import Redactor

    line = "[83260.063863] nvidia 0000:1b:00.0: vgaarb: changed VGA decodes: olddecodes=none,decodes=none:owns=none"
    assert Redactor()(line) == line


def test_a_dkms_make_error_under_a_markdown_list_item_is_read():
    # drv-dkms-470-kernel612-void's make.log lines; under a list item every line, fences too, is indented
    log = ("make[2]: *** [/usr/src/kernel-headers-6.12.7_1/Makefile:1937: /var/lib/dkms/nvidia/470.239.06/build] "
           "Chyba 2\nmake[1]: *** [Makefile:224: __sub-make] Error 2\n")
    indented = "".join("   " + ln + "\n" for ln in log.splitlines())
    assert _messages("dkms", indented) == _messages("dkms", log) != []
    paste = "1. xbps will try to build dkms but fails:\n   ```\n" + indented + "   ```\n"
    report = triage_text(paste).report
    assert report.root_cause is not None and report.root_cause.id == "driver.dkms"
