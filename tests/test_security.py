"""What the tracer writes and reads, from a security point of view: statistics rather than data, no environment
dump, no world-writable outputs, no shell, no unpickling."""

import ast
import json
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from conftest import REPO, SCRIPTS, STANDIN, clean_env, run_py
from _reliability import MYLIB, stream_files, strict_loads, tracer_lines

PACKAGE = REPO / "parity_tracer"
MAX_LINE = 16384

BIG = '''
    import sys
    import numpy as np
    import mylib
    a = np.random.default_rng(7).random(1_000_000) + 1000.0        # 8 MB of recognizable values
    small = np.arange(3000.0) + 0.123456789
    mylib.big(a)
    mylib.takes(a, small, scale=small)
    print("sum", float(a.sum()).hex())
'''


def _targets(path):
    path.write_text(json.dumps([
        {"module": "mylib", "attr": "big", "after": "parity_tracer.capture:record_result"},
        {"module": "mylib", "attr": "takes", "before": "parity_tracer.capture:record_arguments"},
    ]))
    return path


def _project(tmp_path):
    (tmp_path / "mylib.py").write_text(MYLIB + "\ndef takes(a, b, scale=None):\n    return None\n")
    (tmp_path / "big.py").write_text(__import__("textwrap").dedent(BIG))
    return _targets(tmp_path / "targets.json")


def _walk_lists(obj, path=""):
    if isinstance(obj, list):
        yield path, obj
        for i, v in enumerate(obj):
            yield from _walk_lists(v, "%s[%d]" % (path, i))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk_lists(v, path + "/" + str(k))


@pytest.mark.slow
def test_stream_holds_statistics_not_array_data(tmp_path):
    _project(tmp_path)
    r = run_py(["-m", "parity_tracer", "run", "--targets", "targets.json", "--out", tmp_path / "out", "big.py"],
               cwd=tmp_path, env=clean_env())
    assert r.returncode == 0, r.stderr
    (path,) = stream_files(tmp_path / "out")
    data = path.read_bytes()
    assert max(len(l) for l in data.split(b"\n")) < MAX_LINE
    assert path.stat().st_size < 64 * 1024
    import numpy as np
    a = np.random.default_rng(7).random(1_000_000) + 1000.0
    for v in a[:50]:          # none of the values (bar min and max, which are statistics), in any spelling
        if v not in (a.min(), a.max()):
            assert repr(float(v)).encode() not in data and ("%.6f" % v).encode() not in data
    for i in (1, 2, 3, 17, 1234):
        assert b"%d.123456789" % i not in data
    events = [strict_loads(l) for l in data.split(b"\n") if l]
    stages = {e["stage"]: e["stats"] for e in events if e["kind"] == "stage"}
    assert stages["mylib::big"]["total_count"] == 1_000_000
    assert stages["mylib::takes.b"]["total_count"] == stages["mylib::takes.scale"]["total_count"] == 3000
    for e in events:
        for where, values in _walk_lists(e):
            assert len(values) <= 64, (e["kind"], where)


@pytest.mark.slow
def test_standin_pipeline_stream_lines_are_bounded(tmp_path):
    r = run_py(["-m", "parity_tracer", "run", "--no-arrays", "--out", tmp_path / "out", SCRIPTS / "legacy_dose.py"],
               cwd=tmp_path, env=clean_env(PYTHONPATH=[STANDIN / "legacy"]))
    assert r.returncode == 0, r.stderr
    (path,) = stream_files(tmp_path / "out")
    assert max(len(l) for l in path.read_bytes().split(b"\n")) < MAX_LINE
    assert not (tmp_path / "out" / "arrays").exists()        # --no-arrays: no array file at all


@pytest.mark.slow
def test_environment_is_not_recorded(tmp_path):
    secret = "s3cr3t-%s" % uuid.uuid4().hex
    _project(tmp_path)
    env = clean_env(PARITY_TRACER_TEST_TOKEN=secret, AWS_SECRET_ACCESS_KEY=secret, PYTHONPATH=[STANDIN / "legacy"],
                    HOME_SECRET=secret)
    runs = [
        ["-m", "parity_tracer", "run", "--targets", "targets.json", "--out", tmp_path / "out1", "big.py"],
        ["-m", "parity_tracer", "run", "--out", tmp_path / "out2", SCRIPTS / "legacy_dose.py"],
    ]
    for args in runs:
        r = run_py(args, cwd=tmp_path, env=env)
        assert r.returncode == 0, r.stderr
        assert secret not in "\n".join(tracer_lines(r.stderr))
    files = [p for d in ("out1", "out2") for p in (tmp_path / d).rglob("*") if p.is_file()]
    assert len(files) > 5
    for p in files:
        assert secret.encode() not in p.read_bytes(), p


def _modes(root):
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in [root] + sorted(root.rglob("*"))}


def _run_legacy_with_umask(tmp_path, umask):
    out = tmp_path / "parent" / "out"                        # two levels we create
    subprocess.run([sys.executable, "-m", "parity_tracer", "run", "--out", str(out), str(SCRIPTS / "legacy_dose.py")],
                   cwd=str(tmp_path), env=clean_env(PYTHONPATH=[STANDIN / "legacy"]), capture_output=True,
                   timeout=120, check=True, preexec_fn=lambda: os.umask(umask))
    return tmp_path / "parent", out


@pytest.mark.slow
def test_outputs_are_not_world_writable(tmp_path):
    """Under the usual umask (022), nothing in the output directory is writable by others."""
    parent, out = _run_legacy_with_umask(tmp_path, 0o022)
    modes = _modes(parent)
    assert len(modes) > 8 and (out / "parity_telemetry.json").exists()
    assert {k: oct(m) for k, m in modes.items() if m & stat.S_IWOTH} == {}


@pytest.mark.slow
def test_stream_files_and_directories_are_not_world_writable_even_under_umask_0(tmp_path):
    """What the agent and the sink create (output directory, its missing parents, streams/, the streams)
    carries explicit modes, so even ``umask 0`` leaves them 0o755 / 0o644."""
    parent, out = _run_legacy_with_umask(tmp_path, 0)
    modes = _modes(parent)
    mine = {k: m for k, m in modes.items() if k in (".", "out", "out/streams") or k.startswith("out/streams/")}
    assert len(mine) == 4
    assert {k: oct(m) for k, m in mine.items() if m & (stat.S_IWOTH | stat.S_IWGRP)} == {}


@pytest.mark.slow
def test_every_output_is_not_world_writable_under_umask_0(tmp_path):
    parent, out = _run_legacy_with_umask(tmp_path, 0)
    assert {k: oct(m) for k, m in _modes(parent).items() if m & stat.S_IWOTH} == {}


HOSTILE = ["$(touch pwned)", "`touch pwned`", "; touch pwned;", "a b|touch pwned", "x' && touch pwned '"]


@pytest.mark.slow
@pytest.mark.parametrize("name", HOSTILE)
def test_paths_from_the_environment_never_reach_a_shell(tmp_path, name):
    """Output directory, scenario and pipeline names and the working directory are taken literally."""
    _project(tmp_path)
    cwd = tmp_path / ("cwd " + name)                       # the reducer runs git -C <cwd>: never through a shell
    cwd.mkdir()
    for f in ("mylib.py", "big.py", "targets.json"):
        (cwd / f).write_bytes((tmp_path / f).read_bytes())
    out = tmp_path / name / "out"
    env = clean_env(PYTHONPATH=[REPO / "sitecustomize_example"], PARITY_TRACER=1, PARITY_TRACER_OUT=out,
                    PARITY_TRACER_TARGETS=cwd / "targets.json", PARITY_TRACER_SCENARIO=name,
                    PARITY_TRACER_PIPELINE=name)
    r = run_py(["big.py"], cwd=cwd, env=env)
    assert r.returncode == 0, r.stderr
    assert list(tmp_path.rglob("pwned")) == [] and not Path("pwned").exists()
    assert out.is_dir() and stream_files(out)
    doc = json.loads((out / "parity_telemetry.json").read_text())
    assert doc["scenario"] == name and doc["pipeline"] == name


FORBIDDEN_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "shelve", "marshal", "joblib"}


def _tracer_sources():
    """Every module of the tracer (the stand-in PtychoPINN under demo/standin is the traced program, not us)."""
    return [p for p in sorted(PACKAGE.rglob("*.py")) if "standin" not in p.parts] + \
        [REPO / "sitecustomize_example" / "sitecustomize.py"]


def test_nothing_is_unpickled():
    offenders = []
    for path in _tracer_sources():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            where = "%s:%d" % (path.relative_to(REPO), getattr(node, "lineno", 0))
            if isinstance(node, ast.Import):
                offenders += [(where, a.name) for a in node.names if a.name.split(".")[0] in FORBIDDEN_MODULES]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in FORBIDDEN_MODULES:
                offenders.append((where, node.module))
            elif isinstance(node, ast.Call):
                kw = {k.arg: k.value for k in node.keywords}
                if "allow_pickle" in kw and not (isinstance(kw["allow_pickle"], ast.Constant)
                                                 and kw["allow_pickle"].value is False):
                    offenders.append((where, "allow_pickle not literally False"))
                func = node.func
                if isinstance(func, ast.Attribute) and func.attr == "load" and \
                        isinstance(func.value, ast.Name) and func.value.id in ("np", "numpy") and \
                        "allow_pickle" not in kw:
                    offenders.append((where, "np.load without allow_pickle=False"))
                if isinstance(func, ast.Name) and func.id in ("eval",):
                    offenders.append((where, "eval"))
    assert offenders == []
    # the scan does see the code it is meant to police
    assert any(p.name == "reduce.py" for p in _tracer_sources())
