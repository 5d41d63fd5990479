"""Activation edge cases beyond tests/test_activation.py: chain-loading, double bootstraps, failures that must
not multiply across child processes, and which of environment and command line wins."""

import sys
import textwrap

import pytest

from conftest import REPO, SITECUSTOMIZE_DIR, clean_env, kinds, read_events, run_py
from _reliability import count_stage, project, stream_files, tracer_lines

pytestmark = pytest.mark.slow   # every test here runs the tracer or a pipeline in a fresh interpreter

BOOTSTRAP_DIR = REPO / "parity_tracer" / "bootstrap"
CHECK = ("import builtins, sys; print(getattr(builtins, 'USER_SITECUSTOMIZE_RAN', 0), "
         "sys.modules['sitecustomize'].loaded)")


def _theirs(tmp_path, body="import builtins\nbuiltins.USER_SITECUSTOMIZE_RAN = getattr(builtins, "
                           "'USER_SITECUSTOMIZE_RAN', 0) + 1\n"):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "sitecustomize.py").write_text(body)
    return theirs


def test_users_sitecustomize_runs_once_behind_two_copies_of_ours(tmp_path):
    """Both bootstraps on the path (sitecustomize_example and parity_tracer/bootstrap): one activation, and the
    environment's own sitecustomize after them still runs, exactly once."""
    theirs = _theirs(tmp_path)
    r = run_py(["-c", CHECK], cwd=tmp_path,
               env=clean_env(PYTHONPATH=[SITECUSTOMIZE_DIR, BOOTSTRAP_DIR, theirs], PARITY_TRACER=1,
                             PARITY_TRACER_OUT=tmp_path / "out", PARITY_TRACER_REDUCE=0))
    assert r.returncode == 0 and r.stdout.split() == ["1", "True"], r.stderr
    assert len(kinds(read_events(tmp_path / "out"), "header")) == 1


def test_bootstrap_executed_twice_in_one_process_is_a_no_op(tmp_path):
    """A .pth or a second import mechanism running the bootstrap again (coverage #340)."""
    code = textwrap.dedent('''
        import runpy, sys
        again = runpy.run_path(r"%s")
        print(sys.modules["sitecustomize"].loaded, again["loaded"])
    ''' % (BOOTSTRAP_DIR / "sitecustomize.py"))
    r = run_py(["-c", code], cwd=tmp_path, env=clean_env(PYTHONPATH=[SITECUSTOMIZE_DIR], PARITY_TRACER=1,
                                                         PARITY_TRACER_OUT=tmp_path / "out", PARITY_TRACER_REDUCE=0))
    assert r.returncode == 0 and r.stdout.split() == ["True", "False"], r.stderr
    assert len(kinds(read_events(tmp_path / "out"), "header")) == 1


def test_failing_user_sitecustomize_reported_like_python_and_tracing_still_starts(tmp_path):
    theirs = _theirs(tmp_path, "raise RuntimeError('their sitecustomize is broken')\n")
    code = "import sys; print('ran', sys.modules['sitecustomize'].loaded)"
    plain = run_py(["-c", "print('ran', True)"], cwd=tmp_path, env=clean_env(PYTHONPATH=[theirs]))
    traced = run_py(["-c", code], cwd=tmp_path,
                    env=clean_env(PYTHONPATH=[SITECUSTOMIZE_DIR, theirs], PARITY_TRACER=1,
                                  PARITY_TRACER_OUT=tmp_path / "out", PARITY_TRACER_REDUCE=0))
    assert plain.returncode == traced.returncode == 0
    assert traced.stdout == plain.stdout == "ran True\n"
    assert traced.stderr == plain.stderr                   # python's own two-line warning, nothing else
    assert "their sitecustomize is broken" in plain.stderr
    assert read_events(tmp_path / "out")[0]["kind"] == "header"


SPAWNER = '''
    import subprocess, sys
    for i in range(3):
        subprocess.run([sys.executable, "-c", "print('child', %d)" % i], check=True)
    print("parent")
'''


@pytest.mark.parametrize("fault", ["activation", "sink"])
def test_failed_activation_is_reported_once_not_once_per_child(tmp_path, fault):
    """The env route: when activation fails in the parent, its children (which inherit PARITY_TRACER=1) do not
    each fail and print the same line again."""
    project(tmp_path, {"spawner.py": SPAWNER})
    plain = run_py(["spawner.py"], cwd=tmp_path, env=clean_env())
    traced = run_py(["spawner.py"], cwd=tmp_path,
                    env=clean_env(PYTHONPATH=[SITECUSTOMIZE_DIR], PARITY_TRACER=1, PARITY_TRACER_OUT=tmp_path / "out",
                                  PARITY_TRACER_INJECT_FAULT=fault))
    assert traced.returncode == plain.returncode == 0
    assert traced.stdout == plain.stdout
    assert len(tracer_lines(traced.stderr)) == 1 and traced.stderr.count("\n") == 1, traced.stderr


@pytest.mark.parametrize("fault", ["activation", "sink"])
def test_failed_activation_through_run(tmp_path, fault):
    project(tmp_path, {"spawner.py": SPAWNER})
    plain = run_py(["spawner.py"], cwd=tmp_path, env=clean_env())
    traced = run_py(["-m", "parity_tracer", "run", "--out", tmp_path / "out", "spawner.py"], cwd=tmp_path,
                    env=clean_env(PARITY_TRACER_INJECT_FAULT=fault))
    assert traced.returncode == plain.returncode == 0 and traced.stdout == plain.stdout
    assert len(tracer_lines(traced.stderr)) == 1 and "tracing disabled" in traced.stderr


@pytest.mark.skipif(sys.version_info < (3, 10), reason="sys.orig_argv")
def test_command_line_wins_over_an_inherited_environment(tmp_path):
    """PARITY_TRACER=1 and the bootstrap already in the environment (a traced parent, or a user's shell):
    ``python -m parity_tracer run --out X`` traces into X, once, and is X's root."""
    project(tmp_path, {"one.py": "import mylib\nmylib.work(1)\nprint('one')\n"})
    env = clean_env(PYTHONPATH=[SITECUSTOMIZE_DIR], PARITY_TRACER=1, PARITY_TRACER_OUT=tmp_path / "inherited")
    r = run_py(["-m", "parity_tracer", "run", "--targets", "targets.json", "--out", tmp_path / "x", "one.py"],
               cwd=tmp_path, env=env)
    assert r.returncode == 0 and r.stdout == "one\n", r.stderr
    assert not (tmp_path / "inherited").exists() and not (tmp_path / "parity_tracer_out").exists()
    (path,) = stream_files(tmp_path / "x")
    events = read_events(tmp_path / "x")
    assert events[0]["argv"] == ["one.py"] and count_stage(events, "work") == 1
    assert (tmp_path / "x" / "parity_telemetry.json").exists() and len(tracer_lines(r.stderr)) == 1
    # the reducer itself is never traced, whatever the environment says
    r = run_py(["-m", "parity_tracer", "reduce", tmp_path / "x", "-o", tmp_path / "again.json"], cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert len(stream_files(tmp_path / "x")) == 1 and not (tmp_path / "inherited").exists()
