"""The never-break contract of the one safe wrapper (MLflow's safe_patch tests are the model)."""

import inspect
import sys

import pytest

from conftest import ListSink
from parity_tracer import wrapper
from parity_tracer.capture import Recorder
from parity_tracer.hooks import Patcher
from parity_tracer.targets import point

H = "test_wrapper:"
CALLS = []
SEEN = []
PATCHERS = []     # uninstalled after each test: the next one can use the same module name


@pytest.fixture
def target_module(tmp_path, monkeypatch):
    """A fresh module with a function, a method, a staticmethod and a classmethod."""
    name = "wt_target"
    (tmp_path / (name + ".py")).write_text('''
CALLS = []

def f(x, y=1, *, z=2):
    """doc of f"""
    CALLS.append((x, y, z))
    if x == "raise":
        raise KeyError("from the original")
    return [x, y, z]

def other(v):
    CALLS.append(("other", v))
    return v

class Thing:
    def method(self, a):
        """doc of method"""
        CALLS.append(("method", a))
        return (self, a)

    @staticmethod
    def static(a):
        CALLS.append(("static", a))
        return a

    @classmethod
    def klass(cls, a):
        CALLS.append(("klass", cls, a))
        return cls
''')
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    while PATCHERS:
        PATCHERS.pop().uninstall()
    sys.modules.pop(name, None)


def _patch(module_name, specs, strict=False):
    sink = ListSink()
    recorder = Recorder(sink, strict=strict)
    points = [point(module_name, attr, **kw) for attr, kw in specs]
    patcher = Patcher(points, recorder, sink.write)
    wrapper.set_enabled(True)
    patcher.install()
    PATCHERS.append(patcher)
    return sink, recorder, patcher


def boom(call):
    raise RuntimeError("handler failure")


def record(call):
    SEEN.append(call)
    call.emit("stage", stage="seen", source=call.source, value=repr(call.result)[:20])


def call_other(call):
    # tracer code calling another patched function must not produce events (re-entrancy guard)
    mod = sys.modules[call.point.module]
    mod.other("from handler")


@pytest.fixture(autouse=True)
def _reset():
    SEEN.clear()
    yield
    wrapper.set_enabled(False)


def test_result_is_same_object_and_original_called_once(target_module):
    sink, _, _ = _patch(target_module, [("f", {"after": H + "record"})])
    mod = __import__(target_module)
    arg = object()
    result = mod.f(arg, y=5)
    assert mod.CALLS == [(arg, 5, 2)]
    assert result[0] is arg
    assert SEEN[0].result is result
    assert SEEN[0].args[0] is arg and SEEN[0].kwargs == {"y": 5}


@pytest.mark.parametrize("where", ["before", "after"])
def test_handler_failure_is_swallowed_counted_recorded(target_module, where):
    sink, recorder, _ = _patch(target_module, [("f", {where: H + "boom"})])
    mod = __import__(target_module)
    assert mod.f(7) == [7, 1, 2]
    assert mod.CALLS == [(7, 1, 2)]   # exactly once, even when our preamble throws
    assert recorder.errors == {"capture": 1}
    errors = [e for e in sink.events if e["kind"] == "tracer_error"]
    assert errors and errors[0]["error"] == "RuntimeError" and errors[0]["layer"] == "capture"


def test_exception_of_the_original_propagates_unchanged(target_module):
    sink, recorder, _ = _patch(target_module, [("f", {"after": H + "record", "before": H + "record"})])
    mod = __import__(target_module)
    with pytest.raises(KeyError) as info:
        mod.f("raise")
    assert info.value.args == ("from the original",)
    frames = [f.name for f in __import__("traceback").extract_tb(info.value.__traceback__)]
    assert frames[-1] == "f"
    assert mod.CALLS == [("raise", 1, 2)]
    assert recorder.errors == {}


def test_strict_mode_reraises(target_module):
    _patch(target_module, [("f", {"after": H + "boom"})], strict=True)
    mod = __import__(target_module)
    with pytest.raises(RuntimeError, match="handler failure"):
        mod.f(1)
    assert mod.CALLS == [(1, 1, 2)]


def test_reentrancy_guard(target_module):
    sink, _, _ = _patch(target_module, [("f", {"after": H + "call_other"}), ("other", {"after": H + "record"})])
    mod = __import__(target_module)
    mod.f(1)
    assert ("other", "from handler") in mod.CALLS
    assert SEEN == []              # the handler's own call of a patched function produced nothing
    mod.other(2)
    assert len(SEEN) == 1          # a normal call still does


def test_descriptors_signature_and_metadata(target_module):
    mod = __import__(target_module)
    before = {n: inspect.signature(getattr(mod.Thing, n)) for n in ("method", "static", "klass")}
    sig_f = inspect.signature(mod.f)
    thing_cls = mod.Thing
    _patch(target_module, [("f", {}), ("Thing.method", {"after": H + "record"}),
                           ("Thing.static", {"after": H + "record"}), ("Thing.klass", {"after": H + "record"})])
    assert isinstance(vars(mod)["f"], wrapper.TracedFunction)
    assert inspect.signature(mod.f) == sig_f
    assert mod.f.__name__ == "f" and mod.f.__doc__ == "doc of f" and mod.f.__wrapped__.__name__ == "f"
    assert {n: inspect.signature(getattr(mod.Thing, n)) for n in before} == before
    t = mod.Thing()
    assert t.method(1) == (t, 1)
    assert mod.Thing.static(2) == 2 and t.static(3) == 3
    assert mod.Thing.klass(4) is mod.Thing and t.klass(5) is mod.Thing
    assert mod.Thing is thing_cls and type(t) is thing_cls     # the class is never replaced
    assert mod.Thing.method.__doc__ == "doc of method"
    assert len(SEEN) == 5


def test_disabled_wrapper_records_nothing(target_module):
    sink, _, _ = _patch(target_module, [("f", {"after": H + "record"})])
    mod = __import__(target_module)
    wrapper.set_enabled(False)
    assert mod.f(1) == [1, 1, 2]
    assert SEEN == []


def test_patching_twice_is_a_no_op(target_module):
    _patch(target_module, [("f", {"after": H + "record"})])
    _patch(target_module, [("f", {"after": H + "record"})])
    mod = __import__(target_module)
    assert not isinstance(mod.f.__wrapped__, wrapper.TracedFunction)
    mod.f(1)
    assert len(SEEN) == 1


def test_every_patch_goes_through_the_safe_wrapper():
    """A meta-test: nothing in the package patches directly."""
    from pathlib import Path
    root = Path(wrapper.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        if "demo" in path.parts:
            continue
        text = path.read_text()
        for needle in ("wrap_function_wrapper", "patch_function_wrapper", "wrapt.FunctionWrapper(",
                       "FunctionWrapper(original"):
            if needle in text and path.name not in ("wrapper.py",):
                offenders.append((path.name, needle))
        if "setattr(parent" in text and path.name != "hooks.py":
            offenders.append((path.name, "setattr"))
    assert offenders == []
