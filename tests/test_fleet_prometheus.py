"""tfdoctor's metrics through the real engines: promtool, node_exporter's textfile collector, Prometheus.

- `promtool check metrics` is clean on real output (a live run here, every snapshot fixture);
- `promtool test rules` runs the shipped alert rules' unit tests (docs/examples/prometheus-alerts.test.yml);
- two node_exporters (Debian's prometheus-node-exporter) on 127.0.0.1 serve two nodes' textfiles, written by the
  real CLI with --prometheus (atomically: nothing but the .prom file is left in the directory); a real Prometheus
  started by the test scrapes both, loads the shipped rules, and answers every query of the shipped Grafana
  dashboard;
- without daemons: every query of the dashboard names only metrics the exporter emits.
Where a tool is missing or a daemon cannot start, the test is skipped with the reason."""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.daemons import Daemons, free_port, log_tail, require, wait_for

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "docs/examples"
SNAPSHOTS = ROOT / "tests/fixtures/snapshots"
DASHBOARD = EXAMPLES / "grafana-dashboard.json"
RULES = EXAMPLES / "prometheus-alerts.yml"
GPU_NODE = SNAPSHOTS / "healthy-multi-gpu"
FAILING_NODE = SNAPSHOTS / "quadro-p2000-no-driver"
METRIC = re.compile(r"\btfdoctor_[a-z0-9_]+")


def tfdoctor(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tfdoctor", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@functools.cache
def emitted_metrics() -> frozenset[str]:
    """Every metric family the exporter writes for the snapshot fixtures and for this machine."""
    names: set[str] = set()
    runs = [["check", "--no-tf", "--format", "prometheus"]]
    runs += [["check", "--format", "prometheus", "--from", str(p)] for p in sorted(SNAPSHOTS.iterdir())
             if (p / "manifest.json").exists()]
    texts = [tfdoctor(*argv).stdout for argv in runs]
    # No snapshot fixture has the PCIe link fields (they were recorded before the NVML probe read them): add the
    # render of test_prometheus's NVML facts, which have every field the probe reports.
    from tests.test_prometheus import sample_report
    from tfdoctor.report import prometheus

    texts.append(prometheus.render(sample_report()))
    for out in texts:
        names |= {line.split()[2] for line in out.splitlines() if line.startswith("# TYPE ")}
    return frozenset(names)


def dashboard_queries() -> list[str]:
    doc = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]
    for var in doc["templating"]["list"]:
        if var.get("type") == "query":
            queries.append(var["definition"])
    return queries


def test_every_dashboard_query_names_only_metrics_the_exporter_emits():
    emitted = emitted_metrics()
    assert "tfdoctor_node_info" in emitted and "tfdoctor_gpu_ecc_errors_total" in emitted
    queries = dashboard_queries()
    assert len(queries) >= 10
    for expr in queries:
        named = set(METRIC.findall(expr))
        assert named, f"query names no tfdoctor metric: {expr}"
        assert named <= emitted, f"{expr}: {named - emitted} not emitted"


def test_alert_rules_name_only_emitted_metrics():
    emitted = emitted_metrics()
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    assert rules
    for rule in rules:
        named = set(METRIC.findall(rule["expr"]))
        assert named and named <= emitted, rule["expr"]


def test_promtool_check_metrics_is_clean_on_real_output():
    tools = require("promtool")
    runs = [["check", "--no-tf", "--format", "prometheus"]]
    runs += [["check", "--format", "prometheus", "--from", str(p)] for p in sorted(SNAPSHOTS.iterdir())
             if (p / "manifest.json").exists()]
    for argv in runs:
        text = tfdoctor(*argv).stdout
        assert text.startswith("# HELP")
        lint = subprocess.run([tools["promtool"], "check", "metrics"], input=text, capture_output=True, text=True,
                              timeout=30)
        assert (lint.returncode, lint.stdout + lint.stderr) == (0, ""), argv


def test_promtool_unit_tests_of_the_shipped_alert_rules_pass():
    tools = require("promtool")
    check = subprocess.run([tools["promtool"], "check", "rules", str(RULES)], capture_output=True, text=True,
                           timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    test = subprocess.run([tools["promtool"], "test", "rules", "prometheus-alerts.test.yml"], cwd=EXAMPLES,
                          capture_output=True, text=True, timeout=60)
    assert test.returncode == 0, test.stdout + test.stderr
    assert "SUCCESS" in test.stdout + test.stderr


def _get(url: str, timeout: float = 5) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - 127.0.0.1 only
            return resp.read()
    except OSError:
        return None


def _query(base: str, expr: str) -> dict:
    body = _get(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    return json.loads(body) if body else {"status": "unreachable"}


@pytest.mark.timeout(180)
def test_real_prometheus_scrapes_tfdoctor_through_node_exporter():
    tools = require("prometheus", "prometheus-node-exporter")
    d = Path(tempfile.mkdtemp(prefix="tfd-prom-"))
    daemons = Daemons()
    try:
        # two nodes: this machine (live, its node name kept) and a replayed node with GPUs
        nodes = {"live": ["check", "--no-tf"], "gpu": ["check", "--from", str(FAILING_NODE)],
                 "multi": ["check", "--from", str(GPU_NODE)]}
        exporters = {}
        for name, argv in nodes.items():
            textdir = d / f"textfile-{name}"
            textdir.mkdir()
            run = tfdoctor(*argv, "--quiet", "--prometheus", str(textdir / "tfdoctor.prom"))
            assert run.returncode in (0, 1), run.stderr
            assert sorted(p.name for p in textdir.iterdir()) == ["tfdoctor.prom"]  # atomic: no temp file left
            port = free_port()
            log = d / f"node-exporter-{name}.log"
            proc = daemons.start(f"node_exporter ({name})", [
                tools["prometheus-node-exporter"], f"--web.listen-address=127.0.0.1:{port}",
                "--collector.disable-defaults", "--collector.textfile",
                f"--collector.textfile.directory={textdir}"], log)
            exporters[name] = (port, proc, log, run.returncode)

        for port, proc, log, _ in exporters.values():
            if not wait_for(lambda p=port, pr=proc, lg=log: daemons.check_alive("node_exporter", pr, lg)
                            or _get(f"http://127.0.0.1:{p}/metrics"), 20):
                pytest.skip(f"node_exporter did not answer within 20 s: {log_tail(log)}")
            body = _get(f"http://127.0.0.1:{port}/metrics").decode()
            # the collector accepted the file: our families are there and no textfile error was counted
            assert "tfdoctor_check_ok" in body, body[-2000:]
            assert re.search(r"^node_textfile_scrape_error 0$", body, re.M), body[-2000:]

        prom_port = free_port()
        config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                  "rule_files": [str(RULES)],
                  "scrape_configs": [{"job_name": "node", "static_configs": [
                      {"targets": [f"127.0.0.1:{p}"], "labels": {"node": name}}
                      for name, (p, *_) in exporters.items()]}]}
        (d / "prometheus.yml").write_text(yaml.safe_dump(config))
        plog = d / "prometheus.log"
        prom = daemons.start("prometheus", [tools["prometheus"], f"--config.file={d}/prometheus.yml",
                                            f"--storage.tsdb.path={d}/data",
                                            f"--web.listen-address=127.0.0.1:{prom_port}"], plog)
        base = f"http://127.0.0.1:{prom_port}"

        def scraped():
            daemons.check_alive("prometheus", prom, plog)
            result = _query(base, "tfdoctor_check_ok").get("data", {}).get("result", [])
            return result if len(result) == len(exporters) else None

        result = wait_for(scraped, 40, 0.5)
        if result is None:
            pytest.skip(f"Prometheus did not scrape both exporters within 40 s: {log_tail(plog)}")
        ok = {r["metric"]["node"]: r["value"][1] for r in result}
        for name, (*_, rc) in exporters.items():
            assert ok[name] == ("1" if rc == 0 else "0"), (name, ok)

        # node identity: the live node keeps its name; a replayed snapshot has none to keep
        info = _query(base, "tfdoctor_node_info")["data"]["result"]
        host = subprocess.run(["hostname"], capture_output=True, text=True).stdout.strip()
        assert [(r["metric"]["node"], r["metric"]["nodename"]) for r in info] == [("live", host)]
        root = _query(base, "tfdoctor_root_cause_info")["data"]["result"]
        assert {r["metric"]["node"]: r["metric"]["id"] for r in root}.get("gpu") == "driver.nvidia-module"
        gpus = _query(base, 'tfdoctor_gpus{node="multi"}')["data"]["result"]
        assert gpus and float(gpus[0]["value"][1]) >= 2

        # the shipped rules load and evaluate
        rules = json.loads(_get(f"{base}/api/v1/rules"))["data"]["groups"]
        loaded = {r["name"]: r["health"] for g in rules for r in g["rules"]}
        assert set(loaded) == {"TfdoctorCheckFailed", "TfdoctorRootCause", "TfdoctorStale",
                               "TfdoctorGpuUncorrectableEccErrors"}
        assert wait_for(lambda: all(h == "ok" for g in json.loads(_get(f"{base}/api/v1/rules"))["data"]["groups"]
                                    for h in (r["health"] for r in g["rules"])), 10), loaded

        # every dashboard query is valid PromQL for this Prometheus, and those about findings return data
        for expr in dashboard_queries():
            if expr.startswith("label_values("):
                metric = expr[len("label_values("):].split(",")[0]
                values = json.loads(_get(f"{base}/api/v1/label/instance/values?"
                                         + urllib.parse.urlencode({"match[]": metric})))
                assert len(values["data"]) == len(exporters)
                continue
            answer = _query(base, expr.replace("$instance", ".*"))
            assert answer["status"] == "success", (expr, answer)
    finally:
        daemons.stop()
        shutil.rmtree(d, ignore_errors=True)
