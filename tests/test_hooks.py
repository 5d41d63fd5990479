"""When patches are applied: import time, already-imported modules, stale aliases, reload, lazy modules; and how
they are taken back (``Patcher.uninstall``). Every test uses the same package name: uninstall leaves nothing of one
test's patcher behind for the next."""

import importlib
import sys

import pytest

from conftest import ListSink
from parity_tracer import wrapper
from parity_tracer.capture import Recorder
from parity_tracer.hooks import Patcher
from parity_tracer.targets import point

SEEN = []
PATCHERS = []


def record(call):
    SEEN.append(call.source)


@pytest.fixture
def pkg(tmp_path, monkeypatch):
    """A package: ``core`` defines f; ``user`` from-imports it at import; ``lazy`` has a module __getattr__."""
    name = "hk_pkg"
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "core.py").write_text("def f(x):\n    return x * 2\n\nclass C:\n    def m(self):\n        return 1\n")
    (root / "user.py").write_text("from .core import f\nfrom . import core\nRESULT_AT_IMPORT = f(21)\n")
    (root / "lazy.py").write_text(
        "BUILDS = []\n"
        "def real(x):\n    return x\n"
        "def __getattr__(name):\n    BUILDS.append(name)\n    raise AttributeError(name)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    SEEN.clear()
    yield name
    while PATCHERS:
        PATCHERS.pop().uninstall()
    for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        sys.modules.pop(mod, None)
    wrapper.set_enabled(False)


def _install(points):
    sink = ListSink()
    patcher = Patcher(points, Recorder(sink), sink.write)
    wrapper.set_enabled(True)
    patcher.install()
    PATCHERS.append(patcher)
    return sink, patcher


def _statuses(sink):
    return [(e["target"], e["status"]) for e in sink.events if e["kind"] == "patch"]


def test_from_import_alias_gets_the_wrapper_when_hooked_before_import(pkg):
    sink, _ = _install([point(pkg + ".core", "f", after="test_hooks:record")])
    user = importlib.import_module(pkg + ".user")
    core = sys.modules[pkg + ".core"]
    assert user.f is core.f and isinstance(user.f, wrapper.TracedFunction)
    assert SEEN == [pkg + ".core::f"]          # the call made while `user` was importing was traced
    assert user.RESULT_AT_IMPORT == 42


def test_already_imported_module_is_patched_and_stale_aliases_rebound(pkg):
    user = importlib.import_module(pkg + ".user")
    original = user.f
    sink, _ = _install([point(pkg + ".core", "f", after="test_hooks:record")])
    core = sys.modules[pkg + ".core"]
    assert isinstance(core.f, wrapper.TracedFunction) and core.f.__wrapped__ is original
    assert user.f is core.f
    assert (pkg + ".core::f", "rebound") in _statuses(sink)
    user.f(1)
    assert SEEN == [pkg + ".core::f"]


def test_reload_reapplies_patches(pkg):
    sink, _ = _install([point(pkg + ".core", "f", after="test_hooks:record")])
    core = importlib.import_module(pkg + ".core")
    importlib.reload(core)
    assert isinstance(core.f, wrapper.TracedFunction)
    assert (pkg + ".core::f", "repatched") in _statuses(sink)
    core.f(2)
    assert SEEN == [pkg + ".core::f"]


def test_lazy_module_getattr_is_never_triggered(pkg):
    sink, patcher = _install([point(pkg + ".lazy", "autoencoder"), point(pkg + ".lazy", "real")])
    lazy = importlib.import_module(pkg + ".lazy")
    assert lazy.BUILDS == []                         # looking for a missing target did not "build" it
    assert (pkg + ".lazy::autoencoder", "missing") in _statuses(sink)
    assert patcher.summary()[pkg + ".lazy::real"] == "patched"


def test_missing_and_never_imported_targets(pkg):
    sink, patcher = _install([point(pkg + ".core", "C.nope"), point(pkg + ".absent_module", "f")])
    importlib.import_module(pkg + ".core")
    summary = patcher.summary()
    assert summary[pkg + ".core::C.nope"] == "missing"
    assert summary[pkg + ".absent_module::f"] == "not_imported"


def test_a_failing_hook_never_breaks_the_import(pkg, monkeypatch):
    from parity_tracer import hooks
    monkeypatch.setattr(hooks.Patcher, "_patch_one", lambda *a: 1 / 0)
    sink, _ = _install([point(pkg + ".core", "f")])
    core = importlib.import_module(pkg + ".core")
    assert core.f(2) == 4
    assert any(e["kind"] == "tracer_error" and e["layer"] == "hook" for e in sink.events)


def test_uninstall_restores_every_original_and_forgets_its_hooks(pkg):
    user = importlib.import_module(pkg + ".user")
    core = sys.modules[pkg + ".core"]
    f, m, reload = core.f, vars(core.C)["m"], importlib.reload
    sink, patcher = _install([point(pkg + ".core", "f", after="test_hooks:record"), point(pkg + ".core", "C.m"),
                              point(pkg + ".later", "g", after="test_hooks:record")])
    assert user.f is core.f is not f and importlib.reload is not reload      # patched, alias rebound
    PATCHERS.remove(patcher)
    patcher.uninstall()
    assert core.f is f and user.f is f and vars(core.C)["m"] is m and importlib.reload is reload
    with open(sys.modules[pkg].__path__[0] + "/later.py", "w") as fh:
        fh.write("def g():\n    return 7\n")
    later = importlib.import_module(pkg + ".later")                 # its hook was registered, then taken back
    assert not isinstance(vars(later)["g"], wrapper.TracedFunction) and later.g() == 7
    importlib.reload(core)
    assert not isinstance(core.f, wrapper.TracedFunction) and SEEN == []


def test_uninstall_leaves_a_value_the_program_assigned_since(pkg):
    core = importlib.import_module(pkg + ".core")
    _, patcher = _install([point(pkg + ".core", "f")])

    def mine(x):
        return x
    core.f = mine
    patcher.uninstall()
    assert core.f is mine


def test_a_new_patcher_after_uninstall_patches_the_same_module_again(pkg):
    core = importlib.import_module(pkg + ".core")
    _, first = _install([point(pkg + ".core", "f", after="test_hooks:record")])
    first.uninstall()
    sink, _ = _install([point(pkg + ".core", "f", after="test_hooks:record")])
    assert isinstance(core.f, wrapper.TracedFunction)
    core.f(1)
    assert SEEN == [pkg + ".core::f"] and (pkg + ".core::f", "patched") in _statuses(sink)


def test_uninstall_of_an_inherited_method_leaves_the_base_class_as_it_was(pkg):
    core = importlib.import_module(pkg + ".core")
    core.D = type("D", (core.C,), {})
    _, patcher = _install([point(pkg + ".core", "D.m")])
    assert isinstance(vars(core.D)["m"], wrapper.TracedFunction) and not isinstance(vars(core.C)["m"],
                                                                                   wrapper.TracedFunction)
    patcher.uninstall()
    assert "m" not in vars(core.D) and core.D().m() == 1
