"""Strict JSON I/O: both back ends (orjson and the stdlib fallback) give strict, equivalent output."""

import dataclasses
import datetime
import enum
import json
import math
import pathlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from parity_tracer import jsonio


@pytest.fixture(params=["orjson", "stdlib"])
def backend(request, monkeypatch):
    if request.param == "orjson":
        if jsonio.orjson is None:
            pytest.skip("orjson not installed")
    else:
        monkeypatch.setattr(jsonio, "orjson", None)
    return request.param


def strict_loads(data):
    def reject(token):
        raise AssertionError("non-strict token %s" % token)
    return json.loads(data, parse_constant=reject)


class Color(enum.Enum):
    RED = 1


@dataclasses.dataclass
class Point:
    x: float
    y: object


class Weird:
    def __repr__(self):
        return "W" * 1000


class Hostile:
    def __repr__(self):
        raise RuntimeError("no repr for you")


def test_one_line_bytes_without_newline(backend):
    out = jsonio.dumps({"a": [1, 2, {"b": "c"}], "z": None})
    assert isinstance(out, bytes) and b"\n" not in out
    assert strict_loads(out) == {"a": [1, 2, {"b": "c"}], "z": None}


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), np.float32("nan"),
                                   np.float64("inf"), np.float16("-inf")])
def test_non_finite_floats_become_null(backend, value):
    assert strict_loads(jsonio.dumps({"v": value, "l": [value, 1.0]})) == {"v": None, "l": [None, 1.0]}


def test_numpy_scalars_become_python_numbers(backend):
    obj = {"i": np.int64(3), "u": np.uint8(7), "f": np.float32(1.5), "d": np.float64(0.1), "b": np.bool_(True),
           "h": np.float16(2.5), "ld": np.longdouble(0.25)}
    assert strict_loads(jsonio.dumps(obj)) == {"i": 3, "u": 7, "f": 1.5, "d": 0.1, "b": True, "h": 2.5, "ld": 0.25}


def test_small_arrays_become_lists(backend):
    obj = {"a": np.arange(6, dtype=np.int32).reshape(2, 3), "f": np.array([1.0, np.nan, np.inf]),
           "strided": np.arange(10)[::3], "zero_d": np.array(2.5), "bool": np.array([True, False])}
    assert strict_loads(jsonio.dumps(obj)) == {"a": [[0, 1, 2], [3, 4, 5]], "f": [1.0, None, None],
                                               "strided": [0, 3, 6, 9], "zero_d": 2.5, "bool": [True, False]}


def test_large_unserializable_array_is_described_not_dumped(backend):
    big = np.zeros(jsonio.SMALL_ARRAY + 1, dtype=np.complex64)
    text = strict_loads(jsonio.dumps({"big": big}))["big"]
    assert isinstance(text, str) and "shape=(4097,)" in text and "complex64" in text


def test_unknown_objects_become_short_repr(backend):
    out = strict_loads(jsonio.dumps({"o": Weird(), "h": Hostile(), "c": 1 + 2j, "bytes": b"ab", "type": int}))
    assert out["o"].startswith("WWW") and len(out["o"]) <= jsonio.REPR_LIMIT
    assert out["h"] == "<Hostile>"
    assert out["c"] == "(1+2j)" and out["bytes"] == "b'ab'" and out["type"] == "<class 'int'>"


def test_never_raises_for_odd_objects(backend):
    cyclic = {"x": 1}
    cyclic["self"] = cyclic
    deep = []
    node = deep
    for _ in range(1000):
        node.append([])
        node = node[0]
    obj = {"cycle": cyclic, "deep": deep, "bigint": 2 ** 80, (1, 2): "tuple key", 3: "int key", None: "none key",
           "set": {3, 1, 2}, "mixed_set": {1, "a"}, "surrogate": "a\udc80b", "complex_arr": np.array([1 + 1j]),
           "enum": Color.RED, "point": Point(1.0, float("nan")), "path": pathlib.PurePosixPath("/x/y"),
           "when": datetime.datetime(2026, 1, 21, 12, 0, 0), "nan_key_dict": {float("nan"): 1}}
    out = strict_loads(jsonio.dumps(obj))
    assert out["cycle"] == {"x": 1, "self": "<cycle>"} or out["cycle"]["self"]["x"] == 1
    assert out["bigint"] == 2 ** 80
    assert out["(1, 2)"] == "tuple key" and out["3"] == "int key" and out["null"] == "none key"
    assert out["set"] == [1, 2, 3] and sorted(map(str, out["mixed_set"])) == ["1", "a"]
    assert out["surrogate"] == "a?b"
    assert out["complex_arr"] == ["(1+1j)"]
    assert out["enum"] == 1 and out["point"] == {"x": 1.0, "y": None}
    assert out["path"] == "/x/y" and out["when"].startswith("2026-01-21T12:00:00")


def test_backends_agree(monkeypatch):
    if jsonio.orjson is None:
        pytest.skip("orjson not installed")
    obj = {"a": np.float32(0.1), "b": [np.int16(-3), float("nan"), {"c": np.array([[1.5, 2.5]])}], 7: True,
           "d": Point(2, [1, 2]), "e": "é", "f32": np.array([0.1, 1 / 3, np.nan], np.float32)[::-1],
           "f32c": np.array([[0.1, 0.2]], np.float32)}
    fast = strict_loads(jsonio.dumps(obj))
    pretty_fast = strict_loads(jsonio.dumps_pretty(obj))
    monkeypatch.setattr(jsonio, "orjson", None)
    slow = strict_loads(jsonio.dumps(obj))
    assert fast == slow == pretty_fast


def test_loads_is_strict_and_accepts_bytes_and_str(backend):
    assert jsonio.loads(b'{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}
    assert jsonio.loads('{"a": "\u00e9"}') == {"a": "é"}
    for bad in (b'{"a": NaN}', b'[Infinity]', b'[-Infinity]', b'{"a": ', b"not json"):
        with pytest.raises(ValueError):
            jsonio.loads(bad)


def test_dump_pretty(backend, tmp_path):
    doc = {"zeta": 1, "alpha": {"nested": [1, float("nan")]}, "empty": {}, "list": []}
    path = tmp_path / "doc.json"
    jsonio.dump_pretty(doc, path)
    text = path.read_text()
    assert text.endswith("}\n")
    assert text.startswith('{\n  "zeta": 1,\n  "alpha": {\n    "nested": [\n')   # indent 2, keys unsorted
    assert list(strict_loads(text)) == ["zeta", "alpha", "empty", "list"]
    assert strict_loads(text)["alpha"]["nested"] == [1, None]
    assert [p.name for p in tmp_path.iterdir()] == ["doc.json"]       # no temp file left behind


@pytest.mark.slow
def test_numpy_not_imported_by_jsonio():
    import subprocess
    import sys
    code = "import sys; import parity_tracer.jsonio as j; j.dumps({'a': 1}); print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=str(pathlib.Path(__file__).resolve().parents[1]))
    assert out.stdout.strip() == "False", out.stderr


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 63, 2 ** 63 - 1) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20)


def _expected(v):
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, list):
        return [_expected(x) for x in v]
    if isinstance(v, dict):
        return {k: _expected(x) for k, x in v.items()}
    return v


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_round_trip_property(value):
    for handle in ([jsonio.orjson, None] if jsonio.orjson is not None else [None]):
        saved = jsonio.orjson
        jsonio.orjson = handle
        try:
            data = jsonio.dumps(value)
            assert jsonio.loads(data) == _expected(value)
            assert strict_loads(data) == _expected(value)
        finally:
            jsonio.orjson = saved


def test_orjson_is_installed_with_the_tool_and_the_fallback_needs_nothing():
    """``pip install parity-tracer`` brings orjson (the fast event writer); the environment route, where nothing is
    installed, writes with the stdlib json (every test here runs with both back ends)."""
    tomllib = pytest.importorskip("tomllib")
    with open(pathlib.Path(__file__).resolve().parent.parent / "pyproject.toml", "rb") as fh:
        project = tomllib.load(fh)["project"]
    names = [d.split(">")[0].split("=")[0].split("<")[0].strip() for d in project["dependencies"]]
    assert "orjson" in names
