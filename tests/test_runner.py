"""``parity_tracer run`` runs a program exactly like python (coverage.py's guiding test, adapted)."""

import json
import signal
import sys
import textwrap

import pytest

from conftest import REPO, clean_env, run_py, strip_tracer_lines

DUMP = textwrap.dedent('''
    import json, os, sys
    main = sys.modules["__main__"]
    g = globals()
    spec = g.get("__spec__")
    info = {
        "argv": sys.argv,
        "path0": sys.path[0],
        "name": __name__,
        "file": g.get("__file__"),
        "package": g.get("__package__"),
        "spec_name": getattr(spec, "name", None),
        "loader": type(g.get("__loader__")).__name__,
        "main_is_module": main.__dict__ is g,
        "globals": sorted(k for k in g if k.startswith("__")),
        "builtins": type(g.get("__builtins__")).__name__,
    }
    print(json.dumps(info, sort_keys=True))
    if __name__ == "__main__":
        print("main block ran")
    code = os.environ.get("DUMP_EXIT")
    if code == "raise":
        raise ValueError("boom from the target")
    if code == "msg":
        sys.exit("leaving with a message")
    if code is not None:
        sys.exit(int(code))
''')


@pytest.fixture
def project(tmp_path):
    (tmp_path / "dump.py").write_text(DUMP)
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "helper.py").write_text("VALUE = 'relative import works'\n")
    (pkg / "mod.py").write_text("from .helper import VALUE\nprint(VALUE)\n" + DUMP)
    (pkg / "__main__.py").write_text("print('package main')\n")
    return tmp_path


def _both(project, target_args, tmp_path, **env):
    out = tmp_path / "out"
    plain = run_py(target_args, cwd=project, env=clean_env(**env))
    traced = run_py(["-m", "parity_tracer", "run", "--out", out] + target_args, cwd=project, env=clean_env(**env))
    return plain, traced, out


@pytest.mark.slow
@pytest.mark.parametrize("form", ["script", "module", "package"])
def test_run_is_like_python(project, tmp_path, form):
    args = {"script": ["dump.py", "a", "--flag", "b c"], "module": ["-m", "pkg.mod", "x", "-y"],
            "package": ["-m", "pkg"]}[form]
    plain, traced, out = _both(project, args, tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert traced.stdout == plain.stdout
    assert traced.returncode == plain.returncode
    assert strip_tracer_lines(traced.stderr) == strip_tracer_lines(plain.stderr)
    assert (out / "streams").is_dir()
    if form != "package":
        info = json.loads([l for l in traced.stdout.splitlines() if l.startswith("{")][0])
        assert info["name"] == "__main__" and info["main_is_module"]


@pytest.mark.slow
def test_script_from_another_directory(project, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = project / "dump.py"
    plain = run_py([script, "1"], cwd=elsewhere)
    traced = run_py(["-m", "parity_tracer", "run", "--out", tmp_path / "o", script, "1"], cwd=elsewhere)
    assert traced.stdout == plain.stdout
    assert json.loads(plain.stdout.splitlines()[0])["path0"] == str(project)


@pytest.mark.slow
@pytest.mark.parametrize("code", ["0", "3", "msg", "raise"])
def test_exit_status_and_traceback(project, tmp_path, code):
    plain, traced, _ = _both(project, ["dump.py"], tmp_path, DUMP_EXIT=code)
    assert traced.returncode == plain.returncode
    assert traced.stdout == plain.stdout
    assert strip_tracer_lines(traced.stderr) == strip_tracer_lines(plain.stderr)
    if code == "raise":
        assert plain.returncode == 1
        assert "parity_tracer" not in strip_tracer_lines(traced.stderr)   # no tracer frames in the traceback
        assert 'File "%s"' % (project / "dump.py") in traced.stderr


@pytest.mark.slow
def test_console_script_entry_sets_path0(project, tmp_path):
    """Started through the console-script function (argv[0] is not the target), path[0] is still the script's."""
    code = "import sys; from parity_tracer.cli import main; sys.exit(main())"
    traced = run_py(["-c", code, "run", "--out", tmp_path / "o", "dump.py"], cwd=project)
    plain = run_py(["dump.py"], cwd=project)
    assert traced.stdout == plain.stdout


@pytest.mark.slow
def test_missing_script_is_reported_like_python(tmp_path):
    plain = run_py(["nope.py"], cwd=tmp_path)
    traced = run_py(["-m", "parity_tracer", "run", "--out", tmp_path / "o", "nope.py"], cwd=tmp_path)
    assert traced.returncode == plain.returncode == 2
    assert "can't open file" in traced.stderr


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_keyboard_interrupt_exits_like_python(tmp_path):
    (tmp_path / "ki.py").write_text("print('before', flush=True)\nraise KeyboardInterrupt\n")
    plain = run_py(["ki.py"], cwd=tmp_path)
    traced = run_py(["-m", "parity_tracer", "run", "--out", tmp_path / "o", "ki.py"], cwd=tmp_path)
    assert plain.returncode == -signal.SIGINT
    assert traced.returncode == plain.returncode
    assert traced.stdout == plain.stdout
    assert "KeyboardInterrupt" in traced.stderr


def test_run_options_parse():
    """Our options stop at the program: everything from the script (or -m module) on is the program's."""
    from parity_tracer.cli import parse_command
    args = parse_command("run", ["--out", "d", "--scenario=s", "x.py", "--out", "y"])
    assert (args.out_dir, args.scenario, args.script, args.module, args.args) == ("d", "s", "x.py", None,
                                                                                  ["--out", "y"])
    args = parse_command("run", ["--no-arrays", "-m", "a.b", "-m", "c"])
    assert (args.save_arrays, args.module, args.script, args.args) == (False, "a.b", None, ["-m", "c"])
    args = parse_command("run", ["--allow-handler-module", "a", "--allow-handler-module=b", "--", "-x.py", "-h"])
    assert (args.allow_handler_modules, args.script, args.args) == (["a", "b"], "-x.py", ["-h"])
