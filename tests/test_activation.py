"""Environment-variable activation through sitecustomize_example/ (ddtrace's bootstrap is the model)."""

import json

import pytest

from conftest import SITECUSTOMIZE_DIR, clean_env, kinds, read_events, run_py

pytestmark = pytest.mark.slow   # every test here runs the tracer or a pipeline in a fresh interpreter

PROBE = "import sys; print('argv', sys.argv[1:]); print('loaded', sys.modules['sitecustomize'].loaded)"


def _env(tmp_path, **extra):
    return clean_env(PYTHONPATH=[SITECUSTOMIZE_DIR] + extra.pop("paths", []), PARITY_TRACER_OUT=tmp_path / "out",
                     **extra)


def test_env_route_activates_in_python_c(tmp_path):
    r = run_py(["-c", PROBE, "x"], cwd=tmp_path, env=_env(tmp_path, PARITY_TRACER=1, PARITY_TRACER_REDUCE=0))
    assert r.returncode == 0, r.stderr
    assert "loaded True" in r.stdout
    events = read_events(tmp_path / "out")
    assert events[0]["kind"] == "header" and events[0]["argv"] == ["-c", "x"]
    assert events[-1]["kind"] == "footer"


def test_unset_variable_means_untraced(tmp_path):
    r = run_py(["-c", PROBE], cwd=tmp_path, env=_env(tmp_path))
    assert r.returncode == 0 and "loaded False" in r.stdout and r.stderr == ""
    assert not (tmp_path / "out").exists()
    # and nothing of ours was imported
    r = run_py(["-c", "import sys; print(sorted(m for m in sys.modules if m.startswith('parity_tracer')))"],
               cwd=tmp_path, env=_env(tmp_path))
    assert r.stdout.strip() == "[]"


def test_users_own_sitecustomize_still_runs(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "sitecustomize.py").write_text("import builtins\nbuiltins.USER_SITECUSTOMIZE_RAN = True\n")
    code = "import builtins, sys; print(getattr(builtins, 'USER_SITECUSTOMIZE_RAN', False), sys.modules['sitecustomize'].loaded)"
    for flag in ("1", "0"):
        r = run_py(["-c", code], cwd=tmp_path,
                   env=_env(tmp_path, paths=[theirs], PARITY_TRACER=flag, PARITY_TRACER_REDUCE=0))
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["True", "True" if flag == "1" else "False"]


def test_activating_twice_is_a_no_op(tmp_path):
    code = ("from parity_tracer import agent; a = agent.current(); b = agent.activate(); "
            "print(a is not None and a is b)")
    r = run_py(["-c", code], cwd=tmp_path, env=_env(tmp_path, PARITY_TRACER=1, PARITY_TRACER_REDUCE=0))
    assert r.stdout.strip() == "True", r.stderr
    assert len(kinds(read_events(tmp_path / "out"), "header")) == 1


def test_failing_activation_warns_once_and_runs_untraced(tmp_path):
    code = "print('program output'); raise SystemExit(4)"
    plain = run_py(["-c", code], cwd=tmp_path, env=clean_env())
    r = run_py(["-c", code], cwd=tmp_path,
               env=_env(tmp_path, PARITY_TRACER=1, PARITY_TRACER_INJECT_FAULT="activation"))
    assert r.returncode == plain.returncode == 4
    assert r.stdout == plain.stdout
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("parity_tracer: tracing disabled")


def test_unwritable_output_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code = "print('still runs')"
    r = run_py(["-c", code], cwd=tmp_path, env=clean_env(PYTHONPATH=[SITECUSTOMIZE_DIR], PARITY_TRACER=1,
                                                         PARITY_TRACER_OUT=blocker / "out"))
    assert r.returncode == 0 and r.stdout == "still runs\n"
    assert len(r.stderr.splitlines()) == 1 and "tracing disabled" in r.stderr


def test_stream_header_describes_the_process(tmp_path):
    r = run_py(["-c", "pass"], cwd=tmp_path,
               env=_env(tmp_path, PARITY_TRACER=1, PARITY_TRACER_REDUCE=0, PARITY_TRACER_SCENARIO="gs2"))
    header = read_events(tmp_path / "out")[0]
    assert header["format"] == "parity-tracer-stream/1"
    assert header["scenario"] == "gs2" and header["pid"] > 0 and "numpy" in header["packages"]
    json.dumps(header)


def test_deactivate_is_the_mirror_of_activate(tmp_path, monkeypatch):
    """In this very process: activate, trace, deactivate (footer written, originals back, hooks gone), and a
    second activation starts clean in a folder of its own."""
    import importlib
    import os
    import sys

    from parity_tracer import agent, wrapper
    from parity_tracer.settings import Settings

    (tmp_path / "da_work.py").write_text("def double(x):\n    return 2 * x\n")
    (tmp_path / "t.json").write_text(json.dumps([{"module": "da_work", "attr": "double",
                                                  "after": "parity_tracer.capture:record_result"}]))
    monkeypatch.syspath_prepend(str(tmp_path))
    for key in [k for k in os.environ if k.startswith("PARITY_TRACER")]:
        monkeypatch.delenv(key)
    assert agent.current() is None
    reload = importlib.reload
    try:
        outs = []
        for n in (1, 2):
            settings = Settings(out_dir=str(tmp_path / ("out%d" % n)), targets=str(tmp_path / "t.json"),
                                reduce_at_exit=False, strict=True)
            active = agent.activate(settings)
            assert active is not None and agent.current() is active and active.profile.name == "generic"
            work = importlib.import_module("da_work")
            original = work.double.__wrapped__
            assert isinstance(work.double, wrapper.TracedFunction) and work.double(n) == 2 * n
            active.deactivate()
            assert agent.current() is None and work.double is original and importlib.reload is reload
            assert not [k for k in os.environ if k.startswith("PARITY_TRACER")]      # the run's variables too
            assert work.double(5) == 10 and not wrapper.is_enabled()
            outs.append(active.out_dir)
            sys.modules.pop("da_work")
        for n, out in enumerate(outs, 1):
            events = read_events(out)
            assert events[-1]["kind"] == "footer" and events[-1]["patches"] == {"da_work::double": "patched"}
            assert [e["stats"]["max"] for e in kinds(events, "stage")] == [2.0 * n]   # nothing after deactivate
    finally:
        agent.deactivate()
