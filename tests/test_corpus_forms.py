"""The corpus's diagnoses do not depend on the form a paste came in (benchmarks/robustness.py measures every case under
every form; this test guards a sample of the cases under the forms that must never matter).

Each form is one a real paste takes on its way from a machine: a quote-reply, Windows line ends, a web page's no-break
spaces, typographic quotes and HTML entities, a CI log's or `docker logs -t`'s timestamps, `docker compose logs`' prefix. The words of
every case are its thread's; only the form is applied here."""

from __future__ import annotations

import pytest

from benchmarks.robustness import TRANSFORMS
from tests.corpus import case_dirs, diagnosis_of

SAMPLE = [d for i, d in enumerate(case_dirs()) if i % 7 == 0 and (d / "paste.txt").is_file()]
FORMS = ("quote", "crlf", "nbsp", "quotes", "ci-timestamp", "compose", "html")


def _diagnosis(text: str) -> str | None:
    from tfdoctor.triage import triage_text

    found = diagnosis_of(triage_text(text).report)
    return found.id if found is not None else None


@pytest.mark.skipif(not SAMPLE, reason="no corpus cases")
@pytest.mark.parametrize("case", SAMPLE, ids=lambda d: d.name)
def test_a_cases_diagnosis_survives_the_forms_a_paste_takes(case):
    text = (case / "paste.txt").read_text(encoding="utf-8")
    base = _diagnosis(text)
    changed = {form: got for form in FORMS if (got := _diagnosis(TRANSFORMS[form](text))) != base}
    assert not changed, f"{case.name}: {base} became {changed}"
