"""Golden tests: recorded streams of the stand-in pipelines reduce to the recorded documents.

The streams under tests/golden/<case>/ were written by the tracer on the stand-in pipelines
(tests/golden/record.py re-records them after an intended change). Reducing them again must give the same
document, apart from `timestamp`; floats may differ in the last bits between numpy versions.
"""

import json
import math
import shutil
import sys
from pathlib import Path

import pytest

from parity_tracer.document.validate import validate_document

GOLDEN = Path(__file__).resolve().parent / "golden"
sys.path.insert(0, str(GOLDEN))
import record  # noqa: E402

CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "expected.json").is_file())


def _diff(expected, actual, path=""):
    if isinstance(expected, float) or isinstance(actual, float):
        if isinstance(expected, (int, float)) and isinstance(actual, (int, float)) and not isinstance(
                expected, bool) and not isinstance(actual, bool):
            if math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-12):
                return
        yield "%s: %r != %r" % (path or "/", expected, actual)
    elif isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(set(expected) | set(actual)):
            if key not in actual or key not in expected:
                yield "%s/%s: only in %s" % (path, key, "expected" if key in expected else "actual")
            else:
                yield from _diff(expected[key], actual[key], "%s/%s" % (path, key))
    elif isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for i, (e, a) in enumerate(zip(expected, actual)):
            yield from _diff(e, a, "%s/%d" % (path, i))
    elif expected != actual:
        yield "%s: %r != %r" % (path or "/", expected, actual)


def test_cases_are_present():
    assert CASES == ["legacy_dose", "modern_grid_lines", "modern_npz_path"]


@pytest.mark.parametrize("case", CASES)
def test_recorded_streams_reduce_to_the_recorded_document(case, tmp_path):
    work = tmp_path / case
    shutil.copytree(GOLDEN / case, work)
    (work / "expected.json").unlink()
    doc = record.reduce_golden(work)
    assert validate_document(doc) == []
    doc["timestamp"] = None
    expected = json.loads((GOLDEN / case / "expected.json").read_text())
    assert list(_diff(expected, doc)) == []
    assert doc["missing_stages"] == [] and len(doc["intensity_stages"]) >= 6
