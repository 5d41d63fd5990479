"""The one tolerant field reader: a malformed value from another machine reads as None / {} / [], never raises."""

import math

from parity_tracer.document import fields


def test_number_accepts_numbers_numeric_strings_and_one_element_summaries():
    assert fields.number(2) == 2.0 and fields.number("1e9") == 1e9
    assert fields.number({"value": "3"}) == 3.0
    assert fields.number({"summary": {"total_count": 1, "mean": 0.5}}) == 0.5
    for bad in (None, True, "x", math.nan, math.inf, "nan", [1], {"total_count": 2, "mean": 1.0}):
        assert fields.number(bad) is None, bad


def test_integer_count_and_boolean():
    assert fields.integer(3.0) == 3 and fields.integer("4") == 4 and fields.integer(2.5) is None
    assert fields.integer(True) is None
    assert fields.count(-1) is None and fields.count(0) == 0
    assert fields.boolean(1) is True and fields.boolean(" False ") is False and fields.boolean({"value": 0}) is False
    assert fields.boolean(2) is None and fields.boolean("yes") is None


def test_containers_and_paths():
    assert fields.shape([2, 3.0]) == [2, 3] and fields.shape([2, -1]) is None and fields.shape("2x3") is None
    assert fields.mapping([]) == {} and fields.sequence({}) == [] and fields.strings(["a", 1, None, "b"]) == ["a", "b"]
    assert fields.get({"a": {"b": 1}}, "a", "b") == 1 and fields.get({"a": [1]}, "a", "b") is None
    assert fields.first({"x": None, "y": 0}, "x", "y") == 0 and fields.first(None, "x") is None
    assert fields.string(5) is None and fields.ratio(1.0, 0) is None and fields.ratio(1e308, 1e-308) is None
