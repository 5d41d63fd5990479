"""The command line: help, --version, exit 2 for every usage error, ``run``'s configuration errors before the
program starts, the settings table (environment round trip, README), and the bundle's command line reproducing
the run."""

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from conftest import REPO, SCRIPTS, clean_env, read_events, run_py
from parity_tracer import cli, settings
from parity_tracer.settings import TABLE, Settings

STANDIN_PKG = "parity_tracer.demo.standin.%s.ptycho"

# one usage error of each kind, for every command; each must be one line and exit 2
USAGE_ERRORS = [
    [],
    ["bogus"],
    ["run"],
    ["run", "--bogus", "x.py"],
    ["run", "--out"],
    ["run", "-m"],
    ["run", "--"],
    ["run", "--scen", "s", "x.py"],            # no abbreviations: the options before the program are exact
    ["report"],
    ["report", "a", "-o", "x.html", "--mode", "nope"],
    ["demo", "--bogus"],
    ["demo", "extra"],
    ["dose-experiments", "--nphotons", "x"],
    ["dose-experiments", "--gridsize", "two"],
    ["dose-experiments", "--bogus"],
    ["reduce"],
    ["reduce", "s.jsonl", "-o", "x.json", "--bogus"],
    ["validate", "--bogus"],
    ["compare", "a.json"],
    ["compare", "a.json", "b.json", "--format", "nope"],
    ["bundle", "run"],
    ["verify"],
    ["verify", "a", "b"],
]


def _one_line(capsys_or_result, command):
    err = capsys_or_result.err if hasattr(capsys_or_result, "err") else capsys_or_result.stderr
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("parity_tracer: %s" % (command + ":" if command else "")), err
    return lines[0]


@pytest.mark.parametrize("words", USAGE_ERRORS, ids=lambda w: " ".join(w) or "nothing")
def test_every_usage_error_is_one_line_and_exit_2(words, capsys):
    assert cli.main(words) == 2
    out = capsys.readouterr()
    assert out.out == ""
    _one_line(out, words[0] if words and words[0] in cli.COMMANDS else "")


@pytest.mark.parametrize("command", [[c] for c in sorted(cli.COMMANDS)], ids=lambda c: c[0])
def test_help_of_every_command_exits_0(command, capsys):
    command = command[0]
    assert cli.main([command, "-h"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m parity_tracer %s" % command), out


def test_top_help_and_version(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in cli.COMMANDS)
    from parity_tracer import __version__
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == "parity_tracer %s\n" % __version__


def test_run_help_names_every_option_and_its_variable(capsys):
    assert cli.main(["run", "-h"]) == 0
    out = capsys.readouterr().out
    for s in TABLE:
        if s.option:
            assert s.option in out and s.variable in out, s.field


@pytest.mark.slow
def test_run_h_and_version_in_a_fresh_interpreter(tmp_path):
    r = run_py(["-m", "parity_tracer", "run", "-h"], cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("usage:") and r.stderr == ""
    r = run_py(["-m", "parity_tracer", "--version"], cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("parity_tracer ")
    r = run_py(["-m", "parity_tracer", "run", "--help", "prog.py"], cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("usage:")
    assert not (tmp_path / "parity_tracer_out").exists()


@pytest.mark.slow
def test_options_after_the_program_are_the_programs(tmp_path):
    (tmp_path / "prog.py").write_text("import sys; print(sys.argv[1:])\n")
    r = run_py(["-m", "parity_tracer", "run", "--out", "ours", "prog.py", "--out", "x", "-h", "--", "-m"],
               cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "['--out', 'x', '-h', '--', '-m']\n"
    assert (tmp_path / "ours" / "streams").is_dir() and not (tmp_path / "x").exists()


# -- run: configuration errors stop before the program starts ----------------------------------------------------------

MARKER_PROG = "open('started', 'w').write('yes')\nprint('ran')\n"


@pytest.mark.slow
@pytest.mark.parametrize("case", ["missing targets", "bad targets", "targets is a folder", "out below a file",
                                  "missing script", "missing module"])
def test_run_configuration_errors_stop_before_the_program(tmp_path, case):
    (tmp_path / "prog.py").write_text(MARKER_PROG)
    (tmp_path / "afile").write_text("")
    (tmp_path / "bad.json").write_text('[{"module": "m", "attr": "f", "after": "os:system"}]')
    (tmp_path / "adir.json").mkdir()
    words = {"missing targets": ["--targets", "nope.json", "prog.py"],
             "bad targets": ["--targets", "bad.json", "prog.py"],
             "targets is a folder": ["--targets", "adir.json", "prog.py"],
             "out below a file": ["--out", "afile/out", "prog.py"],
             "missing script": ["nope.py"],
             "missing module": ["-m", "no_such_module_here"]}[case]
    r = run_py(["-m", "parity_tracer", "run"] + words, cwd=tmp_path)
    assert not (tmp_path / "started").exists(), "the program started"
    assert r.stdout == ""
    if case == "missing script":            # python's own words and status
        assert r.returncode == 2 and "can't open file" in r.stderr
    elif case == "missing module":
        assert r.returncode == 1 and "No module named no_such_module_here" in r.stderr
    else:
        assert r.returncode == 2
        _one_line(r, "run")
    assert not (tmp_path / "parity_tracer_out").exists()


@pytest.mark.slow
def test_environment_route_still_runs_untraced_on_a_bad_targets_file(tmp_path):
    from conftest import SITECUSTOMIZE_DIR
    (tmp_path / "prog.py").write_text(MARKER_PROG)
    r = run_py(["prog.py"], cwd=tmp_path, env=clean_env(PYTHONPATH=[SITECUSTOMIZE_DIR], PARITY_TRACER=1,
                                                        PARITY_TRACER_TARGETS="nope.json",
                                                        PARITY_TRACER_OUT=tmp_path / "out"))
    assert r.returncode == 0 and r.stdout == "ran\n" and (tmp_path / "started").exists()
    assert len(r.stderr.splitlines()) == 1 and "tracing disabled" in r.stderr


# -- the settings table ----------------------------------------------------------------------------------------------

def test_environment_round_trip_of_every_setting():
    changed = {}
    for s in TABLE:
        changed[s.field] = {"text": "v-" + s.field, "list": "a,b", "flag": not s.default, "seconds": 2.5}[s.kind]
    original = Settings(**changed)
    env = original.to_env()
    assert env["PARITY_TRACER"] == "1" and len(env) == len(TABLE) + 1
    assert Settings.from_env(env) == original
    assert Settings.from_env({}) == Settings() and Settings().to_env() == {"PARITY_TRACER": "1"}


@pytest.mark.parametrize("text,expected", [(None, None), ("", None), (" ", None), ("1", True), ("yes", True),
                                           ("TRUE", True), ("on", True), ("0", False), ("false", False),
                                           ("No", False), (" off ", False)])
def test_one_on_off_reading(text, expected):
    for default in (True, False):
        assert settings.on(text, default) == (default if expected is None else expected)
        assert Settings.from_env({} if text is None else {"PARITY_TRACER_STRICT": text}).strict == \
            (False if expected is None else expected)


def test_unusable_environment_values_are_the_defaults():
    for bad in ("nan", "-1", "1e9", "abc", "inf"):
        assert Settings.from_env({"PARITY_TRACER_REDUCE_TIMEOUT": bad}).reduce_timeout == 10.0
    assert Settings.from_env({"PARITY_TRACER_REDUCE_TIMEOUT": "0.5"}).reduce_timeout == 0.5


def test_command_line_options_win_over_the_environment():
    args = cli.parse_command("run", ["--out", "o", "--no-reduce", "--allow-handler-module", "a",
                                     "--allow-handler-module", "b", "x.py"])
    s = Settings.from_env({"PARITY_TRACER_OUT": "env", "PARITY_TRACER_SCENARIO": "sc"})
    s.apply_options(args)
    assert (s.out_dir, s.scenario, s.reduce_at_exit, s.allow_handler_modules) == ("o", "sc", False, "a,b")


def test_readme_settings_table_is_the_table():
    """The README's table is ``settings.markdown_table()`` verbatim (paste its output after changing the table)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert settings.markdown_table() in readme, (
        "README.md's settings table differs from settings.TABLE; regenerate it with: python -c 'from "
        "parity_tracer.settings import markdown_table; print(markdown_table())'")


def test_command_line_of_hostile_or_old_headers():
    cwd, traced, plain = settings.command_line({"argv": ["my script.py", "; rm -rf /"], "module": False,
                                                "config": {"scenario": "$(x)", "strict": "yes", "save_raw_data":
                                                           True, "reduce_timeout": True},
                                                "executable": 3})
    assert cwd is None
    assert traced == "python -m parity_tracer run --scenario '$(x)' --save-raw-data 'my script.py' '; rm -rf /'"
    assert plain == "python 'my script.py' '; rm -rf /'"
    # a header without ``module`` (written before it was recorded): a dotted name first was a module
    assert settings.command_line({"argv": ["pkg.mod", "a"]})[1] == "python -m parity_tracer run -m pkg.mod a"
    assert settings.command_line({"argv": ["script", "a"], "module": False})[1] == \
        "python -m parity_tracer run script a"
    assert settings.command_line({"argv": ["-x.py"], "module": False, "config": {"strict": True}})[1] == \
        "python -m parity_tracer run --strict -- -x.py"
    assert settings.command_line("junk") == (None, "python -m parity_tracer run", "python")


# -- the bundle's command line reproduces the run --------------------------------------------------------------------

def _first_header(out):
    return next(e for e in read_events(out) if e.get("kind") == "header")


@pytest.mark.slow
@pytest.mark.parametrize("form", ["script", "module", "script without .py"])
def test_bundle_command_line_reproduces_the_run(tmp_path, form):
    pkg = STANDIN_PKG % "legacy"
    work = tmp_path / "work"
    work.mkdir()
    if form == "module":
        target = ["-m", "parity_tracer.demo.standin.scripts.legacy_dose"]
    elif form == "script":
        target = [SCRIPTS / "legacy_dose.py"]
    else:
        (work / "dose").write_text((SCRIPTS / "legacy_dose.py").read_text())
        (work / "_common.py").write_text((SCRIPTS / "_common.py").read_text())
        target = ["dose"]
    before = {p.name for p in work.iterdir()}
    first = tmp_path / "first"
    r = run_py(["-m", "parity_tracer", "run", "--out", first, "--pipeline", "pl", "--scenario", "sc",
                "--save-raw-data", "--strict", "--allow-handler-module", "json"] + target +
               ["--pkg", pkg, "--nepochs", "1"], cwd=work,
               env=clean_env(PARITY_TRACER_MODULE_PREFIX=pkg, PARITY_TRACER_REDUCE_TIMEOUT="60"), timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    dest = tmp_path / "bundle"
    r = run_py(["-m", "parity_tracer", "bundle", first, dest], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    readme = (dest / "README.md").read_text()
    block = re.search(r"```bash\ncd (.*)\n(.*)\n```", readme)
    assert block, readme
    cd, command = block.group(1), block.group(2)
    for word in ("--save-raw-data", "--strict", "--pipeline pl", "--scenario sc", "--allow-handler-module json",
                 "PARITY_TRACER_MODULE_PREFIX=", "PARITY_TRACER_REDUCE_TIMEOUT=60.0"):
        assert word in command, command
    assert (" -m parity_tracer.demo.standin.scripts.legacy_dose " in command) == (form == "module"), command

    for entry in work.iterdir():     # the working directory as it was (the pipeline caches its simulation there)
        if entry.name not in before:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    again = subprocess.run(["bash", "-c", "cd %s && %s" % (cd, command)], env=clean_env(), capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    second = tmp_path / "first-2"                    # the recorded --out exists: the new run gets its own folder
    h1, h2 = _first_header(first), _first_header(second)
    for key in ("argv", "module", "cwd", "executable", "pipeline", "scenario", "profile"):
        assert h1[key] == h2[key], key
    assert h1["module"] == (form == "module")
    c1, c2 = dict(h1["config"]), dict(h2["config"])
    assert c2.pop("out_dir") == str(second) and c1.pop("out_dir") == str(first)
    assert c1 == c2
    d1, d2 = (json.loads((d / "parity_telemetry.json").read_text()) for d in (first, second))
    for d in (d1, d2):          # the pipeline's own clock: its cfg records when it ran
        for key in ("timestamp", "output_prefix"):
            d["configuration"]["legacy_params_cfg_snapshot"].pop(key)
    assert d1["training"]["epochs_completed"] == d2["training"]["epochs_completed"]   # (the stand-in's training
    for key in ("pipeline", "scenario", "configuration", "missing_stages", "stages"):   # is not seeded)
        a, b = d1.get(key), d2.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            assert {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)} == {}, key
        assert a == b, key
    with np.load(first / "arrays" / "raw_data.npz") as z1, np.load(second / "arrays" / "raw_data.npz") as z2:
        assert z1.files and sorted(z1.files) == sorted(z2.files)
        assert all(z1[k].shape == z2[k].shape for k in z1.files)
        # everything but the diffraction, which carries the simulation's (unseeded) photon noise
        assert all(np.array_equal(z1[k], z2[k]) for k in z1.files if k != "diffraction")


@pytest.mark.slow
@pytest.mark.parametrize("value,traced", [("Off", False), (" no ", False), ("0", False), ("yes", True),
                                          ("TRUE", True)])
def test_the_bootstrap_reads_on_off_like_the_settings(tmp_path, value, traced):
    from conftest import SITECUSTOMIZE_DIR
    (tmp_path / "prog.py").write_text(MARKER_PROG)
    r = run_py(["prog.py"], cwd=tmp_path, env=clean_env(PYTHONPATH=[SITECUSTOMIZE_DIR], PARITY_TRACER=value,
                                                        PARITY_TRACER_OUT=tmp_path / "out"))
    assert r.returncode == 0 and r.stdout == "ran\n", r.stderr
    assert settings.on(value) == traced
    assert (tmp_path / "out" / "streams").is_dir() == traced
    assert ("parity_tracer:" in r.stderr) == traced      # the summary line, nothing when off


@pytest.mark.slow
def test_environment_route_records_a_module_run(tmp_path):
    """``python -m NAME`` through the environment: the header has NAME and ``module: true``, so the bundle's
    command line is ``run -m NAME ...``."""
    from conftest import SITECUSTOMIZE_DIR
    (tmp_path / "mymod.py").write_text("import sys; print(sys.argv[1:])\n")
    r = run_py(["-m", "mymod", "a", "-m"], cwd=tmp_path,
               env=clean_env(PYTHONPATH=[SITECUSTOMIZE_DIR], PARITY_TRACER=1, PARITY_TRACER_OUT=tmp_path / "out",
                             PARITY_TRACER_SCENARIO="sc"))
    assert r.returncode == 0 and r.stdout == "['a', '-m']\n", r.stderr
    header = _first_header(tmp_path / "out")
    assert header["argv"] == ["mymod", "a", "-m"] and header["module"] is True
    assert settings.command_line(header)[1].endswith("-m parity_tracer run --out %s --scenario sc -m mymod a -m"
                                                     % (tmp_path / "out"))
