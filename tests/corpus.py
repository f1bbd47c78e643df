"""The corpus of real cases (tests/cases/<name>/): loading and scoring, shared by the test and the benchmark."""

from __future__ import annotations

import json
from pathlib import Path

CASES_DIR = Path(__file__).resolve().parent / "cases"
FLOOR_FILE = CASES_DIR / "ACCURACY_FLOOR"


# Healthy cases (root_cause null) that tfdoctor still gives a root cause, each with the reason it stays: the healthy
# tests expect them to fail (strict: a rule that clears one must remove it here). Counted as misses by accuracy.py.
KNOWN_FALSE_ALARMS = {
    "ok-mesh-llm-rtx3090-driver580-cuda13-header-cuda126-toolkit-app-misread":
        "the application asked for libcudart.so.13 on a machine with CUDA 12's runtime; the thread calls the "
        "application's choice of its CUDA 13 build wrong (Mesh-LLM#1195), tfdoctor reports the runtime it lacks",
    "ok-genomad-cpu-run-conda-tf2131-cpu-build-cuinit-no-device-results-valid":
        "conda list shows a CPU variant of TensorFlow and its log a CUDA 'no device': healthy only because the "
        "reporter says the run was meant for the CPU ('I forgot to use GPU'), which no output shows; tfdoctor "
        "reports the CPU build (blind batch 29)",
    "ok-flyio-gpu-machine-whisper-ngc-cuda-banner-driver-not-detected-at-boot-timing":
        "the only output is the NGC banner's 'The NVIDIA Driver was not detected': healthy only because Fly.io's blog "
        "(which the reporter cites) calls it a start-up timing artefact on their machines; nothing recorded shows the "
        "GPU in use afterwards, so tfdoctor reports a container without the driver (blind batch 36)",
    "ok-virtualbox-vm-no-gpu-pytorch0111-cpu-autograd-cuda-error30-framework-bug":
        "a VM without a GPU where CUDA was installed and a CUDA error followed ('NVIDIA: no NVIDIA devices found', "
        "error=30): healthy only because the program was meant for the CPU and PyTorch's own bug asked CUDA "
        "(pytorch#1154); tfdoctor reports the missing GPU as the reason CUDA failed (blind batch 37)",
    "ok-el7-no-gpu-host-tf210-pip-cuinit-no-device-message-only":
        "TensorFlow's `failed call to cuInit: CUDA_ERROR_NO_DEVICE` and a kernel release, nothing else: healthy only "
        "because the reporter's machine has no GPU, which no output shows; tfdoctor warns that TensorFlow registered "
        "no GPU and that whether the machine has one was not recorded (blind batch 39)",
    "ok-intel-gpu-no-nvidia-openpilot-ort-gpu-cuda-ep-libcublaslt11-falls-back-to-cpu":
        "ONNX Runtime's CUDA provider could not load libcublasLt.so.11 and the model ran on the CPU: healthy only "
        "because the reporter's machine has an Intel GPU and no NVIDIA one, which only his prose says; tfdoctor "
        "reports the CUDA library the provider could not load (blind batch 49)",
    # blind batch 60: TensorFlow's GPU wheel on machines without a GPU, its libcudart dlerror the only output. Calling
    # those lines information wherever nothing shows a GPU cleared these three but lost twenty broken cases whose GPU
    # only their prose names (tests/cases/README.md, stop 29), so tfdoctor reports the libraries TensorFlow could not load
    "ok-centos7-aizynthcli-tf-gpu-wheel-libcudart-11-dlerror-batch-run-completes":
        "TensorFlow 2.4's `Could not load dynamic library 'libcudart.so.11.0'` and its 'Ignore above cudart dlerror' "
        "line on CentOS 7: healthy because the maintainer says the machine needs no GPU, which no output shows",
    "ok-centos7-secretflow-077-import-libcudart-11-dlerror-tf-warning-ignorable":
        "the libcudart dlerror on importing SecretFlow: healthy because the maintainer calls it TensorFlow's warning, "
        "to be ignored, on a machine no output shows a GPU on",
    "ok-cluster-alphapulldown-cpu-msa-step-libcudart-11-warning-real-error-seq-index-flag":
        "the libcudart dlerror in a cluster job's CPU step (the real error an empty command-line flag): healthy "
        "because the step is meant for the CPU, which only the reporter's words say",
    # blind batch 75: the same libcudart dlerror as batch 60's three, in a Python 3.7 venv run on the CPU
    "ok-ubuntu2204-simplehtr-py37-venv-tf24-libcudart-11-dlerror-cpu-run-works":
        "TensorFlow 2.4's `Could not load dynamic library 'libcudart.so.11.0'` and its 'Ignore above cudart dlerror' "
        "line: healthy because the reporter's run on the CPU worked, and whether the machine has a GPU no output shows",
    # blind batch 65
    "ok-8x-b200-sglang-glm52-nvfp4-prefill-xid13-mmu-fault-custom-kernel-bug":
        "Xid 13 MMU faults on a B200 node from a framework's own GPU kernels (TensorRT-LLM#15610, labelled 'Customized "
        "kernels'): healthy hardware, but an application Xid in this boot is reported as a warning, as NVIDIA's "
        "catalogue advises ruling the hardware out first",
    "ok-triton-2102-cpu-only-no-gpus-flag-pinned-memory-driver-insufficient-warning-caffe2-model":
        "Triton started without --gpus on purpose, printing 'CUDA driver version is insufficient' for its pinned "
        "memory: healthy because the run was meant for the CPU, which only the QuickStart the reporter followed says; "
        "tfdoctor reports a container without the GPU",
    # blind batch 78: programs their users built without this GPU's architecture ('invalid device function'); the
    # threads call the machine healthy, tfdoctor's finding is the threads' own diagnosis of the build
    "ok-gtx765m-kepler-laptop-icpcuda-built-for-sm50-sm52-invalid-device-function":
        "ICPCUDA built for sm_50/sm_52 on a compute capability 3.0 GPU: the author's diagnosis (rebuild for 3.0) is "
        "what tfdoctor reports, a program without kernels for this GPU; the gatherer counted the user's build as "
        "healthy",
    "ok-thinkpad-multi-gpu-glucose-gpu-makefile-missing-arch-invalid-device-function":
        "glucose-gpu's Makefile left out -arch, so the program had no kernel for the GPU: the reporter's own fix "
        "(build for the GPU's architecture) is what tfdoctor reports; the gatherer counted the build as healthy",
    # stop 33: NVRTC refusing the GPU's architecture
    "ok-gtx1080-cupy400b2-cuda8-nvrtc-rejects-compute61-cupy-arch-cap-bug":
        "CUDA 8's NVRTC refused compute_61 (it knows up to compute_53) for a GTX 1080: the maintainers' diagnosis (an "
        "NVRTC older than the GPU, which CuPy then worked around by capping the architecture it asks for) is what "
        "tfdoctor reports; the gatherer counted the machine as healthy because the fix went into CuPy",
    # blind batch 83
    "ok-ubuntu-driver57557-flox-ffmpeg-full-libnvcuvid-not-in-flox-lib-path-fixed-in-flox":
        "FFmpeg in a flox environment could not load the driver's libnvcuvid.so.1 although driver 575.57.08 installed "
        "it: healthy because the fix (exposing the driver's libraries to flox's programs) went into flox; tfdoctor "
        "reports the library FFmpeg could not load, and where it looks for it",
}

# healthy cases only the triage of the paste raises an alarm on (the hand-built snapshot holds less)
KNOWN_TRIAGE_FALSE_ALARMS = {
    # blind batch 76
    "ok-centos6-gpu-less-head-node-openmm-context-modprobe-nvidia-no-such-device":
        "a GPU-less cluster head node where a program's module probe ('Error inserting nvidia ... No such device') "
        "is the only output: healthy because nobody there wanted a GPU, which only the reporter's words say; "
        "tfdoctor reports the missing GPU (in replay the probe lines sit in the program's log, which reads no "
        "modprobe messages)",
    # blind batch 79
    "ok-antspynet-t1nobrainer-tf-gpu-oom-heavy-model-cpu-works":
        "the reporter's later post quotes the workaround he ran afterwards (os.environ['CUDA_VISIBLE_DEVICES'] = "
        "'-1', to run on the CPU), which triage reads as the state of the machine; the model was simply too big for "
        "the GPU",
}


def healthy_params(dirs, triage: bool = False) -> list:
    """The healthy cases as pytest parameters, the known false alarms (of replay, or of triage too) marked as expected
    failures."""
    import json

    import pytest

    known = {**KNOWN_FALSE_ALARMS, **(KNOWN_TRIAGE_FALSE_ALARMS if triage else {})}
    return [pytest.param(d, id=d.name, marks=(pytest.mark.xfail(strict=True, reason=known[d.name]),)
                         if d.name in known else ())
            for d in dirs if json.loads((d / "expect.json").read_text())["root_cause"] is None]


def case_dirs() -> list[Path]:
    if not CASES_DIR.is_dir():
        return []
    return sorted(d for d in CASES_DIR.iterdir() if d.is_dir() and (d / "expect.json").exists())


def _fix_text(f) -> str:
    if f is None or f.fix is None:
        return ""
    return f.fix.text().lower()


def replay_case(path: Path, mode: str = "replay"):
    """The report for one case: `replay` runs `check --from` on its snapshot/, `triage` reads its paste.txt."""
    if mode == "triage":
        from tfdoctor.triage import triage_file  # the triage command (issue: diagnose a pasted bug report)

        return triage_file(str(path / "paste.txt"))
    from tfdoctor.cli import run_check

    return run_check(from_=str(path / "snapshot"), deadline_s=30)


def diagnosis_of(report):
    """What the report names as the problem: its root cause (a failure), else the first warning that nothing else
    explains. A healthy machine has neither."""
    from tfdoctor.model import Status

    if report.root_cause is not None:
        return report.root_cause
    return next((f for f in report.findings if f.status == Status.WARN and not f.caused_by), None)


def score(path: Path, mode: str = "replay") -> tuple[bool, str]:
    """(right, why not) for one case against its expect.json."""
    from tfdoctor.model import Status

    expect = json.loads((path / "expect.json").read_text())
    try:
        report = replay_case(path, mode)
    except SystemExit as exc:
        return False, f"replay exited {exc.code}"
    except Exception as exc:  # a crash is a miss, with its reason
        return False, f"{type(exc).__name__}: {exc}"
    root = diagnosis_of(report)
    want = expect.get("root_cause")
    if want is None:
        bad = [f"{f.id}={f.status.value}" for f in report.findings if f.status == Status.FAIL]
        if bad or root is not None:  # a false alarm is a miss
            return False, f"healthy machine, but {', '.join(bad) or root.id}"
        return True, ""
    wanted = [want, *expect.get("root_cause_any", [])]
    if root is None or root.id not in wanted:
        fails = [f.id for f in report.findings if f.status == Status.FAIL]
        return False, f"root cause {root.id if root else None}, expected {want} (failing: {fails})"
    got = {f.id: f.status.value for f in report.findings}
    for fid, status in (expect.get("findings") or {}).items():
        allowed = status if isinstance(status, list) else [status]
        if got.get(fid) not in allowed:
            return False, f"{fid} is {got.get(fid)}, expected {status}"
    for fid, needles in (expect.get("fix_contains") or {}).items():
        # the fix the user is told: the finding's own, the one its root cause carries, or the diagnosis' fix
        f = report.get(fid)
        text = " ".join((_fix_text(f), _fix_text(report.get(f.caused_by)) if f is not None and f.caused_by else "",
                         _fix_text(root)))
        for needle in needles:
            if needle.lower() not in text:
                return False, f"{fid}: fix lacks {needle!r}"
    return True, ""
