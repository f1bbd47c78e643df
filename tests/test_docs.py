"""The docs site cannot drift from the code: one generated page per finding id, no page naming an unknown id,
`mkdocs build --strict` passes, `tfdoctor explain` prints the same text, and the CI examples parse."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tfdoctor import catalogue
from tfdoctor import docs as tfdocs
from tfdoctor.checks import CheckSpec

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
ENTRIES = catalogue.entries()


def spec(id: str, after=(), area="driver") -> CheckSpec:
    return CheckSpec(id, area, f"Title of {id}", lambda facts: None, (), "What text.", "Why text.", "Fix text.",
                     tuple(after), ("https://example.org/doc",))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("mkdocs")
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_mkdocs_strict_build_passes(site):
    for page in ("index.html", "install/index.html", "quickstart/index.html", "json-report/index.html",
                 "ci/index.html", "snapshot-format/index.html", "findings/index.html"):
        assert (site / page).exists(), page


def test_every_finding_id_in_code_has_a_page_and_no_page_has_no_id(site):
    built = {p.parent.name for p in (site / "findings").glob("*/index.html")}
    assert built == set(catalogue.ids())


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda s: s.id)
def test_every_finding_is_documented_in_the_catalogue(entry):
    for field in ("title", "what", "why", "fix"):
        assert getattr(entry, field).strip(), f"{entry.id} has no {field} text"
    assert tfdocs.FINDING_ID.match(entry.id), entry.id
    for upstream in entry.after:
        assert catalogue.get(upstream), f"{entry.id} names an unknown upstream finding {upstream}"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda s: s.id)
def test_finding_page_says_what_why_and_how_to_fix(entry, site):
    page = tfdocs.finding_pages()[tfdocs.finding_path(entry.id)]
    for text in (entry.title, entry.what, entry.why, entry.fix, *entry.links):
        assert text in page
    html = (site / "findings" / entry.id / "index.html").read_text(encoding="utf-8")
    assert entry.id in html


def hand_written_pages() -> list[Path]:
    return sorted([*DOCS.rglob("*.md"), *EXAMPLES.glob("*")])


def test_hand_written_pages_name_only_existing_finding_ids():
    known = set(catalogue.ids())
    unknown = {}
    for page in hand_written_pages():
        for fid in tfdocs.ids_named_in(page.read_text(encoding="utf-8")) - known:
            unknown.setdefault(fid, []).append(str(page.relative_to(ROOT)))
    assert not unknown, f"docs name finding ids that no check declares: {unknown}"


def test_drift_is_caught_both_ways():
    # The mechanism itself: a new id gets a page, a page naming a removed id is found.
    specs = [spec("driver.nouveau"), spec("nvml.init", after=("driver.nouveau",), area="nvml")]
    pages = tfdocs.finding_pages(specs)
    assert set(pages) == {"findings/index.md", "findings/driver.nouveau.md", "findings/nvml.init.md"}
    assert "[`nvml.init`](nvml.init.md)" in pages["findings/driver.nouveau.md"]  # downstream link
    assert "[`driver.nouveau`](driver.nouveau.md)" in pages["findings/nvml.init.md"]
    text = "Run `driver.gone`, see [it](findings/gpu.removed.md); files nvml.json and tfdoctor.checks.driver."
    assert tfdocs.ids_named_in(text, prefixes={"driver", "gpu", "nvml"}) == {"driver.gone", "gpu.removed"}


def test_findings_nav_lists_every_id_by_area():
    nav = tfdocs.findings_nav()
    listed = [next(iter(item.values())) for group in nav[1:] for item in next(iter(group.values()))]
    assert listed == [tfdocs.finding_path(i) for i in catalogue.ids()]


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda s: s.id)
def test_explain_prints_the_catalogue_text(entry):
    proc = subprocess.run([sys.executable, "-m", "tfdoctor", "explain", entry.id], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith(f"{entry.id}: {entry.title}\n")
    flat = " ".join(out.split())
    for text in (entry.what, entry.why, entry.fix):
        assert " ".join(text.split()) in flat
    assert "\x1b[" not in out  # plain text, no colour codes


def test_explain_text_wraps_prose_but_keeps_commands():
    s = CheckSpec("driver.nouveau", "driver", "nouveau", lambda f: None, (), "word " * 60,
                  "Why.", "Run:\n\n    sudo update-initramfs -u\n\nthen reboot.", ("driver.x",), ("https://a.b",))
    text = tfdocs.explain_text(s)
    assert max(len(line) for line in text.splitlines()) <= 102
    assert "      sudo update-initramfs -u" in text
    assert "Upstream findings (fix these first when they fail): driver.x" in text
    assert "  https://a.b" in text


def test_explain_ends_with_the_pages_url_on_the_site_mkdocs_publishes(site):
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    assert config["site_url"] == tfdocs.DOCS_URL
    text = tfdocs.explain_text(catalogue.get("driver.nouveau"))
    url = tfdocs.finding_url("driver.nouveau")
    assert text.splitlines()[-1] == f"Online: {url}" and url.startswith("https://")
    # the page is where the URL says, and the sitemap (empty without a site_url) lists it
    assert (site / url.removeprefix(tfdocs.DOCS_URL) / "index.html").exists()
    sitemap = (site / "sitemap.xml").read_text()
    assert f"<loc>{url}</loc>" in sitemap


def test_explain_unknown_id_is_a_usage_error():
    proc = subprocess.run([sys.executable, "-m", "tfdoctor", "explain", "driver.no-such-thing"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "unknown finding id" in proc.stderr


def test_github_actions_workflow_parses_and_gates_then_uploads():
    doc = yaml.safe_load((EXAMPLES / "github-actions-gpu.yml").read_text())
    job = doc["jobs"]["gpu-tests"]
    assert "self-hosted" in job["runs-on"] and "gpu" in job["runs-on"]
    runs = [s.get("run", "") for s in job["steps"]]
    assert any("tfdoctor check --quiet --require-gpu --no-tf" in r for r in runs)
    assert any("tfdoctor bench" in r for r in runs)
    assert any("--json -o tfdoctor-report.json" in r for r in runs)
    assert any("tfdoctor snapshot" in r for r in runs)
    upload = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["if"] == "always()"
    for name in ("tfdoctor-report.json", "tfdoctor-snapshot.tar.gz", "tfdoctor-bench.json"):
        assert name in upload["with"]["path"]


def test_kubernetes_manifests_parse():
    job = yaml.safe_load((EXAMPLES / "k8s-job.yaml").read_text())
    assert job["kind"] == "Job" and job["apiVersion"] == "batch/v1"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][:2] == ["check", "--require-gpu"]  # the image's entrypoint is tfdoctor
    ds = yaml.safe_load((EXAMPLES / "k8s-daemonset.yaml").read_text())
    assert ds["kind"] == "DaemonSet" and ds["apiVersion"] == "apps/v1"
    pod = ds["spec"]["template"]["spec"]
    assert ds["spec"]["selector"]["matchLabels"] == ds["spec"]["template"]["metadata"]["labels"]
    (container,) = pod["containers"]
    mount = container["volumeMounts"][0]
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["hostPath"]["path"] == "/var/lib/node_exporter/textfile_collector"
    assert f"--prometheus {mount['mountPath']}/tfdoctor.prom" in container["args"][0]


def test_shell_examples_have_valid_syntax():
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash not installed")
    for script in EXAMPLES.glob("*.sh"):
        proc = subprocess.run([bash, "-n", str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{script.name}: {proc.stderr}"


def test_every_example_is_shown_in_the_ci_page():
    ci = (DOCS / "ci.md").read_text()
    for example in EXAMPLES.iterdir():
        assert f'--8<-- "docs/examples/{example.name}"' in ci
