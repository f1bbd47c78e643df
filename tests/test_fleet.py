"""Fleet use without daemons: node identity (--hostname), summarize, GitHub Actions output, --list-checks --json,
-q with a report format, shell completion, the Python API, the Dockerfile and the Kubernetes examples."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOTS = ROOT / "tests/fixtures/snapshots"
NO_DRIVER = SNAPSHOTS / "quadro-p2000-no-driver"
HEALTHY = SNAPSHOTS / "healthy-single-gpu"
HOST = socket.gethostname()


def tfdoctor(*args: str, env=None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tfdoctor", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


# --- node identity ----------------------------------------------------------------------------------------------

def test_fleet_formats_keep_the_node_name_by_default_and_redact_it_on_request():
    junit = ET.fromstring(tfdoctor("check", "--no-tf", "--format", "junit").stdout)
    assert junit.find("testsuite").get("hostname") == HOST
    prom = tfdoctor("check", "--no-tf", "--format", "prometheus").stdout
    assert f'tfdoctor_node_info{{nodename="{HOST}"}} 1' in prom.splitlines()

    junit = ET.fromstring(tfdoctor("check", "--no-tf", "--format", "junit", "--hostname", "redact").stdout)
    assert junit.find("testsuite").get("hostname") == "<hostname>"
    prom = tfdoctor("check", "--no-tf", "--format", "prometheus", "--hostname", "redact").stdout
    assert "tfdoctor_node_info" not in prom and f'"{HOST}"' not in prom


def test_json_and_markdown_redact_the_node_name_unless_kept():
    report = json.loads(tfdoctor("check", "--no-tf", "--json").stdout)
    assert "node" not in report["source"]
    kept = json.loads(tfdoctor("check", "--no-tf", "--json", "--hostname", "keep").stdout)
    assert kept["source"]["node"] == HOST
    import jsonschema

    schema = json.loads((ROOT / "tfdoctor/schema/report.schema.json").read_text())
    jsonschema.validate(kept, schema)
    markdown = tfdoctor("check", "--no-tf", "--markdown").stdout
    assert "<hostname>" in markdown or f" {HOST} " not in markdown


def test_the_node_name_can_come_from_the_environment():
    prom = tfdoctor("check", "--no-tf", "--format", "prometheus", env={"TFDOCTOR_NODE_NAME": "gpu-node-7"}).stdout
    assert 'tfdoctor_node_info{nodename="gpu-node-7"} 1' in prom.splitlines()


def test_a_replayed_snapshot_has_no_node_name_to_keep():
    junit = ET.fromstring(tfdoctor("check", "--from", str(NO_DRIVER), "--format", "junit").stdout)
    assert junit.find("testsuite").get("hostname") == "<hostname>"
    assert "tfdoctor_node_info" not in tfdoctor("check", "--from", str(NO_DRIVER), "--format", "prometheus").stdout


def test_unknown_hostname_mode_is_a_usage_error():
    proc = tfdoctor("check", "--no-tf", "--hostname", "maybe")
    assert proc.returncode == 2


# --- -q with a report format, --list-checks --json ---------------------------------------------------------------

def test_quiet_with_json_on_stdout_is_refused_in_one_line():
    proc = tfdoctor("check", "--no-tf", "-q", "--json")
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "-o FILE" in proc.stderr


def test_quiet_with_json_and_output_file_honours_both(tmp_path):
    out = tmp_path / "r.json"
    proc = tfdoctor("check", "--from", str(NO_DRIVER), "-q", "--json", "-o", str(out))
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[0].startswith("FAIL driver.nvidia-module: ")
    assert json.loads(out.read_text())["summary"]["root_cause"] == "driver.nvidia-module"


def test_list_checks_json_lists_every_finding():
    from tfdoctor import catalogue

    data = json.loads(tfdoctor("check", "--list-checks", "--json").stdout)
    assert [c["id"] for c in data["checks"]] == list(catalogue.ids())
    assert all(c["area"] and c["title"] for c in data["checks"])


# --- summarize ----------------------------------------------------------------------------------------------------

@pytest.fixture
def fleet_reports(tmp_path):
    """Four nodes' real JSON reports: two without a driver, one healthy, one without an NVIDIA GPU."""
    paths = []
    for node, snap in (("gpu01", NO_DRIVER), ("gpu02", NO_DRIVER), ("gpu03", HEALTHY),
                       ("cpu01", SNAPSHOTS / "no-nvidia-gpu")):
        path = tmp_path / f"{node}.json"
        proc = tfdoctor("check", "--require-gpu", "--from", str(snap), "--json", "-o", str(path))
        assert proc.returncode in (0, 1), proc.stderr
        paths.append(str(path))
    return paths


def test_summarize_groups_nodes_by_root_cause_with_the_fix_once(fleet_reports):
    proc = tfdoctor("summarize", *fleet_reports, "--json")
    assert proc.returncode == 1, proc.stderr
    view = json.loads(proc.stdout)
    assert (view["nodes"], view["failing"], view["passing"]) == (4, 3, 1)
    groups = {g["root_cause"]: g for g in view["groups"]}
    driver = groups["driver.nvidia-module"]
    assert driver["nodes"] == ["gpu01", "gpu02"] and driver["count"] == 2
    report = json.loads(Path(fleet_reports[0]).read_text())
    fix = next(f["fix"] for f in report["findings"] if f["id"] == "driver.nvidia-module")
    assert fix["commands"] and driver["fixes"] == [fix]  # the same fix on both nodes: printed once
    assert groups[None]["nodes"] == ["gpu03"]
    assert view["groups"][0]["root_cause"] == "driver.nvidia-module"  # the biggest failing group first

    text = tfdoctor("summarize", *fleet_reports).stdout
    assert text.startswith("4 node(s): 3 failing, 1 passing\n")
    assert "2 node(s) FAIL driver.nvidia-module: " in text and "  nodes: gpu01, gpu02" in text
    assert text.count(f"    $ {fix['commands'][0]}\n") == 1


def test_summarize_uses_the_kept_node_name_over_the_file_name(tmp_path):
    path = tmp_path / "report.json"
    tfdoctor("check", "--no-tf", "--json", "--hostname", "keep", "-o", str(path))
    view = json.loads(tfdoctor("summarize", str(path), "--json").stdout)
    assert [n for g in view["groups"] for n in g["nodes"]] == [HOST]


def test_summarize_shows_unreadable_reports_and_exits_2(tmp_path, fleet_reports):
    bad = tmp_path / "broken.json"
    bad.write_text('{"schema_version": 1, "summ')
    other = tmp_path / "other.json"
    other.write_text('{"hello": "\\u001b[31mworld"}')
    proc = tfdoctor("summarize", fleet_reports[0], str(bad), str(other), str(tmp_path / "missing.json"))
    assert proc.returncode == 2
    assert "1 node(s): 1 failing, 0 passing, 3 unreadable report(s)" in proc.stdout
    assert f"{bad}: not JSON" in proc.stdout and f"{other}: not a tfdoctor JSON report" in proc.stdout
    assert "\x1b" not in proc.stdout


def test_summarize_strips_control_characters_from_report_text(tmp_path, fleet_reports):
    doc = json.loads(Path(fleet_reports[0]).read_text())
    doc["source"]["node"] = "evil\x1b]0;pwned\x07node"
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(doc))
    out = tfdoctor("summarize", str(path)).stdout
    # shown escaped, not dropped: what a report tried to hide from the terminal is visible
    assert "\x1b" not in out and "\x07" not in out and "evil\\x1b]0;pwned\\x07node" in out


def test_summarize_without_reports_is_a_usage_error():
    assert tfdoctor("summarize").returncode == 2


# --- GitHub Actions -----------------------------------------------------------------------------------------------

def test_github_actions_annotations_and_step_summary(tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    proc = tfdoctor("check", "--from", str(NO_DRIVER), "--json",
                    env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})
    assert proc.returncode == 1
    json.loads(proc.stdout)  # stdout is still exactly the JSON report
    errors = [line for line in proc.stderr.splitlines() if line.startswith("::error ")]
    assert errors[0].startswith("::error title=tfdoctor driver.nvidia-module (root cause)::No NVIDIA kernel driver")
    report = json.loads(proc.stdout)
    fix = next(f["fix"] for f in report["findings"] if f["id"] == "driver.nvidia-module")
    assert f"%0AFix: {fix['summary']}%0A  $ {fix['commands'][0]}" in errors[0]
    failed = [f for f in report["findings"] if f["status"] in ("fail", "error")]
    assert len(errors) == len(failed)
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "driver.nvidia-module" in text


def test_no_github_output_outside_actions(tmp_path):
    proc = tfdoctor("check", "--from", str(NO_DRIVER), "--quiet", env={"GITHUB_ACTIONS": ""})
    assert "::error" not in proc.stderr + proc.stdout


def test_annotation_text_cannot_inject_a_second_command():
    from tfdoctor.model import Finding, Fix, Report, Status
    from tfdoctor.report import github

    f = Finding("driver.nvidia-module", Status.FAIL, "bad\n::warning::injected 100%\r",
                fix=Fix("a, b: c", ("echo hi",)))
    out = github.annotations(Report(findings=[f]))
    # one line: the injected text stays inside the message of the first command
    assert out.count("\n") == 1 and out.startswith("::error title=tfdoctor driver.nvidia-module::")
    assert "bad%0A::warning::injected 100%25\\x0d%0AFix: a, b: c" in out  # the CR shown escaped (report/sanitize.py)


# --- shell completion ---------------------------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_bash_completion_completes_commands_and_option_values(tmp_path):
    script = tfdoctor("completion", "bash").stdout
    assert "complete -o default -F _tfdoctor_completion tfdoctor" in script
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "tfdoctor").write_text(f'#!/bin/bash\nexec {sys.executable} -m tfdoctor "$@"\n')
    (bin_dir / "tfdoctor").chmod(0o755)
    (tmp_path / "completion.bash").write_text(script)

    def complete(line: str) -> list[str]:
        words = line.split(" ")
        prog = (f'source {tmp_path}/completion.bash; COMP_WORDS=({" ".join(repr(w) for w in words)}); '
                f'COMP_CWORD={len(words) - 1}; _tfdoctor_completion tfdoctor; printf "%s\\n" "${{COMPREPLY[@]}}"')
        env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
        out = subprocess.run(["bash", "-c", prog], env=env, capture_output=True, text=True, timeout=60).stdout
        return [w for w in out.splitlines() if w]

    assert "summarize" in complete("tfdoctor su")
    assert complete("tfdoctor check --hostname ") == ["keep", "redact"]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_completion_scripts_for_other_shells(shell):
    proc = tfdoctor("completion", shell)
    assert proc.returncode == 0 and "_TFDOCTOR_COMPLETE" in proc.stdout


# --- the Python API -----------------------------------------------------------------------------------------------

def test_import_tfdoctor_loads_nothing_else():
    code = "import sys, tfdoctor; print(sorted(m for m in sys.modules if m.startswith(('tfdoctor', 'typer', 'rich'))))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout
    assert out.strip() == "['tfdoctor']"


def test_python_api_returns_the_report_the_cli_prints():
    import tfdoctor

    report = tfdoctor.check(str(NO_DRIVER))
    assert isinstance(report, tfdoctor.Report)
    assert report.root_cause.id == "driver.nvidia-module" and report.exit_code() == 1
    cli = json.loads(tfdoctor_json := tfdoctor_cli_json(NO_DRIVER))
    assert [(f.id, f.status.value) for f in report.findings] == [(f["id"], f["status"]) for f in cli["findings"]]
    assert tfdoctor_json


def tfdoctor_cli_json(snapshot) -> str:
    return tfdoctor("check", "--from", str(snapshot), "--json").stdout


def test_python_api_rejects_bad_arguments_with_exceptions():
    import tfdoctor
    from tfdoctor.host import SnapshotError

    with pytest.raises(ValueError, match="unknown finding id or area"):
        tfdoctor.check(str(NO_DRIVER), only=["no.such-check"])
    with pytest.raises(ValueError, match="hostname"):
        tfdoctor.check(str(NO_DRIVER), hostname="sometimes")
    with pytest.raises(SnapshotError):
        tfdoctor.check(str(ROOT / "tests/fixtures/no-such-snapshot"))


def test_python_api_on_this_machine_keeps_the_node_name_when_asked():
    import tfdoctor

    assert tfdoctor.check(tf=False, hostname="keep").meta["node"] == HOST
    assert "node" not in tfdoctor.check(tf=False).meta


# --- the container image and the Kubernetes examples --------------------------------------------------------------

DOCKERFILE = ROOT / "Dockerfile"


def _docker_daemon() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


def test_dockerfile_structure():
    """hadolint is not packaged in Debian 12; this checks what matters here instead."""
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines() if line.strip() and not line.startswith("#")]
    instructions = [line.split()[0] for line in lines if line.split()[0].isupper()]
    arg_base = next(line for line in lines if line.startswith("ARG BASE_IMAGE="))
    assert arg_base.split("=", 1)[1].startswith("nvidia/cuda:") and "-base-ubuntu" in arg_base
    assert ":latest" not in arg_base  # a pinned tag
    assert instructions[instructions.index("FROM") - 1] == "ARG" and "FROM ${BASE_IMAGE}" in lines
    text = DOCKERFILE.read_text()
    assert "COPY . " in text and "pip install --no-cache-dir /tmp/tfdoctor-src" in text
    assert "pip install tfdoctor" not in text and "--no-install-recommends" in text and "rm -rf /var/lib/apt/lists" in text
    user = [line for line in lines if line.startswith("USER ")]
    assert user and user[-1].split()[1].split(":")[0] not in ("0", "root")
    assert instructions.index("USER") > max(i for i, ins in enumerate(instructions) if ins == "RUN")
    assert lines[-2:] == ['ENTRYPOINT ["tfdoctor"]', 'CMD ["check", "--no-tf"]']
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[1] == "*" and {"!pyproject.toml", "!README.md", "!tfdoctor/"} <= set(ignore)


@pytest.mark.timeout(900)
def test_docker_build_and_run():
    if not _docker_daemon():
        pytest.skip("no Docker daemon reachable here (the Dockerfile is checked structurally instead)")
    tag = "tfdoctor-test:ci"
    build = subprocess.run(["docker", "build", "-t", tag, str(ROOT)], capture_output=True, text=True, timeout=850)
    assert build.returncode == 0, build.stderr[-3000:]
    run = subprocess.run(["docker", "run", "--rm", tag, "--version"], capture_output=True, text=True, timeout=60)
    assert run.stdout.strip().startswith("tfdoctor ")
    uid = subprocess.run(["docker", "run", "--rm", "--entrypoint", "id", tag, "-u"], capture_output=True, text=True,
                         timeout=60)
    assert uid.stdout.strip() == "10001"


def _containers(doc: dict) -> list[dict]:
    spec = doc["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


@pytest.mark.parametrize("name", ["k8s-job.yaml", "k8s-daemonset.yaml"])
def test_kubernetes_examples_run_the_image_and_install_nothing(name):
    path = ROOT / "docs/examples" / name
    text = path.read_text()
    assert "pip install" not in text
    doc = yaml.safe_load(text)
    images = {c["image"] for c in _containers(doc)}
    assert images == {"tfdoctor:0.1.0"}
    from tfdoctor import __version__

    assert f"tfdoctor:{__version__}" in images  # the tag the docs build
    main = doc["spec"]["template"]["spec"]["containers"][0]
    sec = {**doc["spec"]["template"]["spec"].get("securityContext", {}), **main.get("securityContext", {})}
    assert sec["runAsNonRoot"] is True and sec["runAsUser"] == 10001


def test_no_doc_installs_tfdoctor_from_an_index():
    """No index serves tfdoctor: every install instruction is from a checkout (or the image built from one)."""
    bad = re.compile(r"(pip|pipx|uv pip)\s+install\s+(--[\w-]+\s+)*['\"]?tfdoctor\b")
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "docs/examples").iterdir()),
             DOCKERFILE]
    for path in files:
        if path.is_file():
            assert not bad.search(path.read_text()), path


@pytest.mark.timeout(300)
def test_docker_build_context_is_enough_to_install_tfdoctor(tmp_path):
    """What .dockerignore lets into the build context (`COPY . /tmp/tfdoctor-src`) builds a wheel with every
    module and data file of the package: the image's `pip install` cannot miss one."""
    import zipfile

    ignore = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert ignore[0] == "*"
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    for entry in ignore[1:]:
        if entry.startswith("!"):
            src = ROOT / entry[1:].rstrip("/")
            if src.is_dir():
                shutil.copytree(src, ctx / src.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(src, ctx / src.name)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"),
                           str(ctx)], capture_output=True, text=True, timeout=280)
    if proc.returncode != 0 and re.search(r"Failed to establish a new connection|No matching distribution",
                                          proc.stdout + proc.stderr):
        pytest.skip("no package index reachable for the build backend (setuptools)")
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("tfdoctor-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {str(p.relative_to(ROOT)) for p in (ROOT / "tfdoctor").rglob("*")
                if p.is_file() and p.suffix in (".py", ".json") and "__pycache__" not in p.parts}
    assert expected <= names, sorted(expected - names)
