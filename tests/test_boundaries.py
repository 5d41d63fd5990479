"""The architecture's two boundaries, checked on the code itself.

1. PtychoPINN knowledge lives in ``parity_tracer/profiles/``: nothing outside it names a PtychoPINN module, source,
   ``params.cfg`` key, ``RawData`` field or formula (the list comes from ``profiles/ptychopinn/names.py``); every
   source the stage map names is one a capture point emits; every handler string of the profile resolves.
2. The in-process half (what runs inside the traced program) never imports the offline half, except the reduce at
   exit (one named place in ``agent.py``): checked statically on the source, and in a fresh interpreter that
   activates the agent and makes traced calls.
"""

import ast
import json
import re

import pytest

from conftest import REPO, STANDIN, clean_env, kinds, read_events, run_py
from parity_tracer.profiles import generic, load
from parity_tracer.profiles.ptychopinn import names, points, stagemap
from parity_tracer.targets import resolve_handler

PACKAGE = REPO / "parity_tracer"
PROFILES = PACKAGE / "profiles"
STANDIN_TREE = PACKAGE / "demo" / "standin"          # a stand-in of PtychoPINN itself: its names are its own

# -- 1. PtychoPINN knowledge -------------------------------------------------------------------------------------

def _schema_words():
    """Every property / enum word of the document schema: the spec's vocabulary, which the generic code may use
    even where PtychoPINN spells a cfg key the same (``nphotons``, ``gridsize``, ``N``)."""
    words = set()

    def walk(o):
        if isinstance(o, dict):
            for k, v in o.items():
                if k == "properties" and isinstance(v, dict):
                    words.update(v)
                if k in ("required", "enum") and isinstance(v, list):
                    words.update(x for x in v if isinstance(x, str))
                walk(v)
        elif isinstance(o, list):
            for x in o:
                walk(x)
    for path in PACKAGE.rglob("*.schema.json"):
        walk(json.loads(path.read_text()))
    return words


SPEC_WORDS = _schema_words()
# A module name as a dotted token: "ptycho.diffsim", not "standin.legacy.ptycho" (a prefix) nor "--ptycho".
MODULE_TOKEN = re.compile(r"(?<![\w./-])%s(?:\.[A-Za-z_]\w*)+" % re.escape(names.ROOT))
FIELDS = sorted((set(names.CFG_KEYS) | set(names.RAW_DATA_FIELDS) |
                 {names.MODEL_LAZY_CACHE, names.LOCAL_OFFSET_SIGN}) - SPEC_WORDS)
# (``log_scale`` is not among them: the spec's ``model_exp_log_scale`` is "the model's exp(log_scale)" in prose)


def _distinctive(word):
    """A word no prose uses by chance (``probeGuess``, ``n_groups``, ``probe.big``): found inside any string.
    Plain words (``size``) only count as a whole string."""
    return bool(re.search(r"[A-Z0-9_.]", word))


def _strings(tree):
    """The string constants of the code, without docstrings (prose about PtychoPINN is fine)."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


def knowledge_in(path):
    found = []
    for line, text in _strings(ast.parse(path.read_text(), str(path))):
        hits = [m.group(0) for m in MODULE_TOKEN.finditer(text)]
        if text == names.ROOT:
            hits.append(text)
        hits += [f for f in FIELDS if text == f or (_distinctive(f) and re.search(
            r"(?<![\w.])%s(?![\w])" % re.escape(f), text))]
        hits += [f for f in names.FORMULAS if f in text]
        found += ["%s:%d: %s" % (path.name, line, h) for h in hits]
    return found


def _outside_profiles():
    return sorted(p for p in PACKAGE.rglob("*.py")
                  if PROFILES not in p.parents and STANDIN_TREE not in p.parents)


@pytest.mark.parametrize("path", [pytest.param(p, id=str(p.relative_to(PACKAGE))) for p in _outside_profiles()])
def test_no_ptychopinn_knowledge_outside_the_profile(path):
    assert knowledge_in(path) == []


def test_the_knowledge_check_finds_what_it_looks_for(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('"""ptycho.diffsim in a docstring is prose."""\n'
                   'A = "%s"\nB = "x.get(\'probe.big\')"\nC = "%s"\nD = "the %s field"\nE = "%s"\n'
                   % (names.MK_SIMDATA, names.FALLBACK_SCALE_FORMULA, names.PROBE_GUESS, names.ROOT))
    found = knowledge_in(bad)
    assert [f.split(": ", 1)[1] for f in found] == [names.DIFFSIM, "probe.big", names.FALLBACK_SCALE_FORMULA,
                                                    names.PROBE_GUESS, names.ROOT]
    bad.write_text('A = "nphotons"\nB = "run -m ptycho_demo --ptycho PATH"\nC = "parity_tracer.demo.x.ptycho.diffsim"\n')
    assert knowledge_in(bad) == []          # spec words, other names, a prefixed copy


def _sources_in(value):
    if isinstance(value, str):
        return {value} if "::" in value else set()
    if isinstance(value, dict):
        return set().union(set(), *(_sources_in(k) | _sources_in(v) for k, v in value.items()))
    if isinstance(value, (tuple, list, set, frozenset)):
        return set().union(set(), *(_sources_in(v) for v in value))
    if hasattr(value, "__dataclass_fields__") and not isinstance(value, type):
        return set().union(set(), *(_sources_in(getattr(value, f)) for f in value.__dataclass_fields__))
    return set()


def test_every_source_the_stage_map_names_is_emitted_by_a_capture_point():
    used = set().union(*(_sources_in(v) for k, v in vars(stagemap).items() if not k.startswith("__")))
    emitted = {p.canonical for p in points.POINTS}
    assert used and used <= emitted, sorted(used - emitted)
    assert set(names.SOURCES) <= emitted, sorted(set(names.SOURCES) - emitted)


def test_every_handler_string_of_the_profile_resolves():
    refs = [(p.canonical, ref) for p in points.POINTS for ref in (p.before, p.after) if ref]
    assert refs
    for source, ref in refs:
        assert callable(resolve_handler(ref)), (source, ref)
    assert len({p.canonical for p in points.POINTS}) == len(points.POINTS)      # no source patched twice


def test_profiles_come_from_the_allow_list_only():
    assert load("ptychopinn").root == names.ROOT and load("generic").root is None
    with pytest.raises(ValueError):
        load("os")
    with pytest.raises(ValueError):
        load("parity_tracer.profiles.generic")
    assert isinstance(load("generic"), generic.GenericProfile)


# -- 2. the import boundary -------------------------------------------------------------------------------------

IN_PROCESS = ["agent", "runner", "targets", "hooks", "wrapper", "capture", "sink", "statcache", "faults", "gitinfo",
              "bootstrap.sitecustomize", "stats", "settings", "inputs", "outputs", "jsonio", "forksafe", "profiles",
              "profiles.generic", "profiles.ptychopinn", "profiles.ptychopinn.names", "profiles.ptychopinn.points",
              "profiles.ptychopinn.state", "profiles.ptychopinn.artifacts", "profiles.ptychopinn.handlers_data",
              "profiles.ptychopinn.handlers_probe", "profiles.ptychopinn.handlers_config",
              "profiles.ptychopinn.handlers_training", "profiles.ptychopinn.handlers_inference"]
OFFLINE = ["document", "maintainer", "report", "protocol", "compare", "compare_runs", "bundle",
           "profiles.ptychopinn.stagemap", "profiles.ptychopinn.protocol", "profiles.ptychopinn.document",
           "profiles.ptychopinn.maintainer"]
# the one allowed crossing: the reduce at exit, imported lazily inside this function of agent.py
REDUCE_AT_EXIT = ("agent", "_reduce_at_exit")


def _is_offline(module):
    rel = module[len("parity_tracer."):] if module.startswith("parity_tracer.") else None
    return rel is not None and any(rel == o or rel.startswith(o + ".") for o in OFFLINE)


def _imports(module):
    """(importing function or None, imported module) for every import statement of ``parity_tracer.<module>``."""
    path = PACKAGE.joinpath(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    tree = ast.parse(path.read_text(), str(path))
    package = "parity_tracer." + module if path.name == "__init__.py" else \
        "parity_tracer." + module.rpartition(".")[0] if "." in module else "parity_tracer"
    package = package.rstrip(".")
    found = []

    def visit(node, func):
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else func
            if isinstance(child, ast.Import):
                found.extend((inner, a.name) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")
                    base = ".".join(parts[:len(parts) - child.level + 1] + ([base] if base else []))
                found.extend((inner, base + "." + a.name) for a in child.names)   # a submodule or a name in base
                found.append((inner, base))
            visit(child, inner)
    visit(tree, None)
    return found


def test_in_process_modules_never_import_the_offline_half():
    crossings = []
    for module in IN_PROCESS:
        for func, imported in _imports(module):
            if _is_offline(imported) and (module, func) != REDUCE_AT_EXIT:
                crossings.append("%s (in %s) imports %s" % (module, func or "module scope", imported))
    assert crossings == []
    # the one allowed crossing is where it is said to be (a rename would make the exception above dead)
    assert any(_is_offline(m) for f, m in _imports("agent") if f == REDUCE_AT_EXIT[1])


TRACED_PROGRAM = r"""
import sys
from parity_tracer import agent
from parity_tracer.settings import Settings
active = agent.activate(Settings(out_dir=sys.argv[1], reduce_at_exit=False, strict=True))
assert active is not None and active.profile.name == "ptychopinn"
import numpy as np
from ptycho import params, probe
params.cfg["N"] = 16
probe.set_default_probe()          # traced: probe handlers, the cfg watcher, array saving
np.random.seed(3)                  # traced: the seed handler
agent.deactivate()                 # the footer and the exit hooks, without the reduce
offline = sorted(m for m in sys.modules if m.startswith("parity_tracer.") and m.split(".")[1] in %r)
print("OFFLINE", offline)
print("PROFILE", sorted(m for m in sys.modules if m.startswith("parity_tracer.profiles")))
""" % (sorted({o.split(".")[0] for o in OFFLINE if not o.startswith("profiles")}),)


@pytest.mark.slow
def test_a_traced_program_loads_nothing_of_the_offline_half(tmp_path):
    r = run_py(["-c", TRACED_PROGRAM, tmp_path / "out"], cwd=tmp_path,
               env=clean_env(PYTHONPATH=[STANDIN / "legacy"]))
    assert r.returncode == 0, r.stderr
    lines = dict(l.split(" ", 1) for l in r.stdout.splitlines() if l.startswith(("OFFLINE", "PROFILE")))
    assert lines["OFFLINE"] == "[]"
    loaded = eval(lines["PROFILE"])
    assert not {"parity_tracer.profiles.ptychopinn.stagemap", "parity_tracer.profiles.ptychopinn.protocol"} & set(loaded)
    events = read_events(tmp_path / "out")
    assert [e["phase"] for e in kinds(events, "probe")][:2] == ["pre", "post"] and kinds(events, "seed")
    assert events[-1]["kind"] == "footer"


UNRELATED = r"""
import sys, types
# a package that happens to be called like the PtychoPINN one, with a params.cfg the program changes
ptycho = types.ModuleType("ptycho"); ptycho.__path__ = []
params = types.ModuleType("ptycho.params"); params.cfg = {"intensity_scale": 1.0}
sys.modules.update({"ptycho": ptycho, "ptycho.params": params})
import work
params.cfg["intensity_scale"] = 2.0
print(work.double(21))
params.cfg["intensity_scale"] = 3.0
print(work.double(1))
print("PROFILES", sorted(m for m in sys.modules if m.startswith("parity_tracer.profiles")))
"""


@pytest.mark.slow
def test_a_targets_run_uses_the_generic_profile_only(tmp_path):
    (tmp_path / "work.py").write_text("def double(x):\n    return 2 * x\n")
    (tmp_path / "prog.py").write_text(UNRELATED)
    (tmp_path / "t.json").write_text(json.dumps([{"module": "work", "attr": "double",
                                                  "after": "parity_tracer.capture:record_result"}]))
    r = run_py(["-m", "parity_tracer", "run", "--targets", "t.json", "--out", "out", "--no-reduce", "prog.py"],
               cwd=tmp_path, env=clean_env(PYTHONPATH=[tmp_path]))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[:2] == ["42", "2"]
    assert r.stdout.splitlines()[2] == "PROFILES ['parity_tracer.profiles', 'parity_tracer.profiles.generic']"
    events = read_events(tmp_path / "out")
    assert events[0]["profile"] == "generic"
    assert [e["source"] for e in kinds(events, "stage")] == ["work::double", "work::double"]
    assert not kinds(events, "intensity_scale") and not kinds(events, "origin")   # no cfg watcher, no root hook
    assert set(events[-1]["patches"]) == {"work::double"}
