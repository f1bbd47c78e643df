"""`check --markdown`: a bug-report block the size of PyTorch's collect_env output, the rest folded."""

from __future__ import annotations

import pytest

from tests.conftest import SNAPSHOTS, snapshot_dirs
from tfdoctor.api import raw_check, redacted
from tfdoctor.host import open_snapshot
from tfdoctor.report import markdown


def _md(snapshot) -> str:
    return markdown.render(redacted(raw_check(open_snapshot(str(snapshot))), snapshot=str(snapshot)))


@pytest.mark.parametrize("snapshot", snapshot_dirs(), ids=lambda p: p.name)
def test_the_report_is_short_and_folds_the_rest(snapshot):
    text = _md(snapshot)
    lines = text.splitlines()
    visible = lines[:next((i for i, ln in enumerate(lines) if ln.startswith("<details>")), len(lines))]
    assert len(lines) <= 120 and len(visible) <= 40, (len(lines), len(visible))  # it was 751 lines
    assert text.count("<details>") == text.count("</details>")
    assert '"facts"' not in text and "<summary>Environment</summary>" in text


def test_the_environment_fold_says_only_what_was_recorded():
    # a hand-built paste without container markers: no "Container: no"
    text = _md(SNAPSHOTS / "quadro-p2000-no-driver")
    env = text[text.index("<summary>Environment</summary>"):]
    assert "Container" not in env and "Quadro P2000 (cc 6.1" in env and "None" not in env
    live_like = _md(SNAPSHOTS / "container-no-lspci-cpu-only")
    env = live_like[live_like.index("<summary>Environment</summary>"):]
    assert "Container:           docker" in env and "NVIDIA GPUs (PCI):   none" in env


def test_an_ascii_stream_gets_ascii_badges():
    report = redacted(raw_check(open_snapshot(str(SNAPSHOTS / "quadro-p2000-no-driver"))), snapshot="x")
    text = markdown.render(report, ascii_only=True)
    text.encode("ascii")
    assert "| fail | `driver.nvidia-module` |" in text
