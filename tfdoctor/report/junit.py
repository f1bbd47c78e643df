"""JUnit XML: one test case per finding, so GitHub Actions, GitLab and Jenkins show each check as a test.

The mapping (documented in docs/ci.md):
- classname = the finding's area, name = the finding id;
- fail  -> <failure message="the fix summary" type="fail">summary, details, fix commands</failure>;
- error -> <error message="summary" type="error"> (the check could not run, or crashed);
- skip  -> <skipped message="why"/>;
- ok, info and warn pass (a warning's text goes to <system-out>, prefixed WARN, so it is visible but not red).
The root cause and each finding's upstream cause are <property> elements of the suite: the common JUnit schema
(Jenkins' junit-10.xsd, which GitLab and the junitparser library follow) allows properties on the suite only.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

from tfdoctor import __version__, catalogue
from tfdoctor.model import Finding, Report, Status
from tfdoctor.report import fix_text_lines

# XML 1.0 forbids most control characters, and a TensorFlow log line or a terminal escape in a detail would make
# the whole file unparseable for the CI server (and reach a terminal through it): the sanitiser shows them escaped;
# the two non-characters XML also forbids become U+FFFD.
_XML_NONCHARS = {0xFFFE: "\ufffd", 0xFFFF: "\ufffd"}


def _clean(text: object) -> str:
    from tfdoctor.report.sanitize import clean

    return clean(text).translate(_XML_NONCHARS)


def _area(f: Finding) -> str:
    spec = catalogue.get(f.id)
    return spec.area if spec else f.id.split(".")[0]


def _body(f: Finding) -> str:
    """The element text: what a developer reads in the CI's test view, fix commands included."""
    lines = [f.summary]
    if f.caused_by:
        lines.append(f"Caused by {f.caused_by}: fix that first.")
    lines += list(f.details)
    if f.fix:
        lines += ["", f"Fix: {f.fix.summary}", *fix_text_lines(f.fix)]
    return "\n".join(lines)


def _fix_message(f: Finding) -> str:
    if f.fix is None:
        return f.summary
    message = f.fix.summary
    if f.fix.commands:
        message += " Run: " + "; ".join(f.fix.commands)
    for alt in f.fix.alternatives:
        message += f" Or instead ({alt.when}): " + "; ".join(alt.commands)
    return message


def _testcase(f: Finding) -> ET.Element:
    case = ET.Element("testcase", {"classname": _clean(_area(f)), "name": _clean(f.id), "time": "0"})
    if f.status == Status.FAIL:
        el = ET.SubElement(case, "failure", {"message": _clean(_fix_message(f)), "type": "fail"})
        el.text = _clean(_body(f))
    elif f.status == Status.ERROR:
        el = ET.SubElement(case, "error", {"message": _clean(f.summary), "type": "error"})
        el.text = _clean(_body(f))
    elif f.status == Status.SKIP:
        ET.SubElement(case, "skipped", {"message": _clean(f.summary)})
    else:
        out = ET.SubElement(case, "system-out")
        prefix = "WARN: " if f.status == Status.WARN else ""
        out.text = _clean(prefix + _body(f))
    return case


def render(report: Report) -> str:
    """The report as a JUnit XML document (one <testsuite> inside <testsuites>)."""
    counts = report.counts()
    duration = report.meta.get("duration_s")
    seconds = f"{duration:.3f}" if isinstance(duration, (int, float)) else "0"
    totals = {
        "tests": str(len(report.findings)),
        "failures": str(counts["fail"]),
        "errors": str(counts["error"]),
        "skipped": str(counts["skip"]),
        "time": seconds,
    }
    root = ET.Element("testsuites", {"name": "tfdoctor", **totals})
    src = report.meta.get("source", {})
    suite_name = f"tfdoctor check --from {src['snapshot']}" if src.get("snapshot") else "tfdoctor check"
    suite = ET.SubElement(root, "testsuite", {
        "name": _clean(suite_name),
        **totals,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
        # the node's name unless redacted (tfdoctor check --hostname redact, or a replayed snapshot)
        "hostname": _clean(report.meta.get("node") or "<hostname>"),
    })
    props = ET.SubElement(suite, "properties")

    def prop(name: str, value: object) -> None:
        ET.SubElement(props, "property", {"name": name, "value": _clean(value)})

    prop("tfdoctor.version", __version__)
    prop("source", src.get("snapshot") or src.get("host", "live"))
    if report.meta.get("node"):
        prop("node", report.meta["node"])
    cause = report.root_cause
    prop("root_cause", cause.id if cause else "")
    if cause is not None:
        prop("root_cause.summary", cause.summary)
        if cause.fix:
            prop("root_cause.fix", _fix_message(cause))
    for f in report.findings:
        if f.caused_by:
            prop(f"caused_by.{f.id}", f.caused_by)
    for f in report.findings:
        suite.append(_testcase(f))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
