"""Statistics are reused only where the value provably did not change (parity_tracer.statcache).

A wrong cached number is worse than a slow right one: an in-place change between two capture points, even of
one element, must show in the second capture point's statistics.
"""

import sys

import numpy as np
import pytest

from conftest import ListSink
from parity_tracer import stats, wrapper
from parity_tracer.capture import Recorder
from parity_tracer.hooks import Patcher
from parity_tracer.targets import point

H = "test_statcache:"
SEEN_ADDRESSES = []


@pytest.fixture
def pipeline(tmp_path, monkeypatch):
    """A fresh module with a producer and two consumers, patched with the handlers below."""
    name = "sc_pipeline"
    (tmp_path / (name + ".py")).write_text('''
import numpy as np

def produce(n):
    return np.random.default_rng(0).standard_normal(n).astype(np.float32)

def consume(x):
    return x

def consume_twice(x):
    return x

def temporaries(k):
    return k
''')
    monkeypatch.syspath_prepend(str(tmp_path))
    sink = ListSink()
    recorder = Recorder(sink, strict=True)
    points = [point(name, "produce", after=H + "stage_result"), point(name, "consume", after=H + "stage_arg"),
              point(name, "consume_twice", after=H + "stage_arg_twice"),
              point(name, "temporaries", after=H + "stage_temporaries")]
    patcher = Patcher(points, recorder, sink.write)
    patcher.install()
    wrapper.set_enabled(True)
    SEEN_ADDRESSES.clear()
    yield __import__(name), sink, recorder
    wrapper.set_enabled(False)
    patcher.uninstall()
    sys.modules.pop(name, None)


@pytest.fixture
def computed(monkeypatch):
    """How many times statistics were actually computed."""
    counter = {"n": 0}
    real = stats._summarize_array

    def counting(a, chunk):
        counter["n"] += 1
        return real(a, chunk)
    monkeypatch.setattr(stats, "_summarize_array", counting)
    return counter


def stage_result(call):
    call.stage("produced", call.result)


def stage_arg(call):
    call.stage("consumed", call.args[0])


def stage_arg_twice(call):
    call.stage("first", call.args[0])
    call.stage("second", call.args[0])
    call.stage("view", call.args[0].view())   # another array object on the same buffer


def stage_temporaries(call):
    # each temporary dies after its stage; the next one is often allocated at the same address
    for i in range(call.args[0]):
        tmp = np.full(4096, float(i))
        SEEN_ADDRESSES.append(tmp.__array_interface__["data"][0])
        call.stage("tmp%d" % i, tmp)
        del tmp


def _stages(sink):
    return {e["stage"]: e["stats"] for e in sink.events if e["kind"] == "stage"}


def test_in_place_change_of_one_element_between_two_capture_points_is_seen(pipeline, computed):
    mod, sink, _ = pipeline
    x = mod.produce(100_000)
    before = stats.summarize(x)
    x[54_321] += 1.0                  # one element, in place: same object, same buffer, same shape
    mod.consume(x)
    got = _stages(sink)
    assert got["produced"] == before
    assert got["consumed"] == stats.summarize(x) != before
    assert got["consumed"]["mean"] != before["mean"]


def test_in_place_rewrite_with_equal_extremes_is_seen(pipeline):
    mod, sink, _ = pipeline
    x = mod.produce(50_000)
    mod.consume(x)
    i, j = int(np.argmin(x)), int(np.argmax(x))
    keep = x[[i, j]].copy()
    x *= 0.5                          # everything changes ...
    x[[i, j]] = keep                  # ... except min and max
    mod.consume(x)
    events = [e["stats"] for e in sink.events if e["kind"] == "stage" and e["stage"] == "consumed"]
    assert events[1] == stats.summarize(x)
    assert (events[1]["min"], events[1]["max"]) == (events[0]["min"], events[0]["max"])
    assert events[1]["std"] != events[0]["std"]


def test_same_buffer_twice_in_one_handler_is_summarized_once(pipeline, computed):
    mod, sink, recorder = pipeline
    x = np.arange(10_000, dtype=np.float32)
    mod.consume_twice(x)
    got = _stages(sink)
    assert got["first"] == got["second"] == got["view"] == stats.summarize(x)
    assert computed["n"] == 2         # one for the three stages, one for the reference just above
    assert recorder.summaries.hits == 2
    got["first"]["mean"] = -1.0       # events never share a cached dict
    assert got["second"]["mean"] != -1.0


def test_a_new_array_at_a_freed_address_is_never_a_hit(pipeline):
    mod, sink, _ = pipeline
    mod.temporaries(12)
    got = _stages(sink)
    assert [got["tmp%d" % i]["mean"] for i in range(12)] == [float(i) for i in range(12)]
    assert len(set(SEEN_ADDRESSES)) < len(SEEN_ADDRESSES), "no address was reused: the case was not exercised"


def test_eager_tensors_are_reused_across_capture_points_until_they_die(pipeline, computed):
    tf = pytest.importorskip("tensorflow")
    mod, sink, recorder = pipeline
    t = tf.constant(np.arange(20_000, dtype=np.float32))
    mod.consume(t)
    mod.consume(t)                    # host code ran in between, but a tensor cannot change
    other = tf.constant(np.arange(20_000, dtype=np.float32) * 2)
    mod.consume(other)
    events = [e["stats"] for e in sink.events if e["kind"] == "stage"]
    assert events[0] == events[1] == stats.summarize(t.numpy())
    assert events[2] == stats.summarize(other.numpy())
    assert computed["n"] == 2 + 2     # t once, other once, plus the two references
    del t, other
    assert recorder.summaries._immutable == {}
