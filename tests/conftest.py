"""Shared test helpers: run Python in a fresh interpreter, trace the stand-in pipelines once per session, read the
event streams; and the rule that keeps ``pytest -m "not slow"`` fast (see ``pytest_collection_modifyitems`` and
``_fast_tests_start_no_interpreter``)."""

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
STANDIN = REPO / "parity_tracer" / "demo" / "standin"
SCRIPTS = STANDIN / "scripts"
SITECUSTOMIZE_DIR = REPO / "sitecustomize_example"


def clean_env(tracer_on_path=True, drop=(), **extra):
    """The current environment without any tracer settings (nor variables starting with one of ``drop``), plus
    ``extra``; PYTHONPATH is ``extra["PYTHONPATH"]`` followed by this checkout unless ``tracer_on_path`` is false."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARITY_TRACER",) + tuple(drop))}
    env.pop("PYTHONPATH", None)
    paths = [str(REPO)] if tracer_on_path else []
    extra_path = extra.pop("PYTHONPATH", None)
    if extra_path:
        paths = [str(p) for p in (extra_path if isinstance(extra_path, (list, tuple)) else [extra_path])] + paths
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_py(args, cwd, env=None, timeout=120, input=None, stdout=None):
    """``python ARGS`` in a fresh interpreter with ``clean_env()`` unless ``env`` is given (a hang fails the test
    through the timeout); ``stdout`` redirects the output instead of capturing it."""
    out = {"capture_output": True} if stdout is None else {"stdout": stdout, "stderr": subprocess.PIPE}
    return subprocess.run([sys.executable] + [str(a) for a in args], cwd=str(cwd), env=env or clean_env(),
                          text=True, timeout=timeout, input=input, **out)


def tracer(*args, cwd, env=None, timeout=120, stdout=None):
    """``python -m parity_tracer ARGS`` in a fresh interpreter."""
    return run_py(["-m", "parity_tracer"] + list(args), cwd=cwd, env=env, timeout=timeout, stdout=stdout)


STANDIN_PKG = "parity_tracer.demo.standin.%s.ptycho"


def run_standin(layout, script, *args, cwd, out=None, options=()):
    """A stand-in script (its ptycho imported under parity_tracer's namespace), traced by ``parity_tracer run --out
    OUT [options]`` when ``out`` is given, else plain; returns the finished process."""
    pkg = STANDIN_PKG % layout
    argv = [SCRIPTS / script, "--pkg", pkg] + list(args)
    if out is not None:
        argv = ["-m", "parity_tracer", "run", "--out", out] + list(options) + argv
    return run_py(argv, cwd=cwd, env=clean_env(PARITY_TRACER_MODULE_PREFIX=pkg))


def read_events(out_dir):
    """Every event of every stream under ``out_dir``, in file then line order."""
    events = []
    for path in sorted(Path(out_dir).glob("streams/*.jsonl")):
        with open(path, "rb") as fh:
            for line in fh:
                if line.strip():
                    events.append(json.loads(line))
    return events


def kinds(events, kind):
    return [e for e in events if e["kind"] == kind]


def stages(events):
    return [e["stage"] for e in events if e["kind"] == "stage"]


class ListSink:
    """An in-memory sink for in-process tests of the wrapper and hooks."""

    def __init__(self):
        self.events = []

    def write(self, kind, fields):
        self.events.append(dict(fields, kind=kind))


def strip_tracer_lines(stderr):
    """stderr without our single summary/warning line."""
    return "\n".join(l for l in stderr.splitlines() if not l.startswith("parity_tracer:"))


@pytest.fixture
def standin_path():
    def _path(layout):
        return STANDIN / layout
    return _path


class StandinRuns:
    """The stand-in pipelines that several modules read, each traced on first use and then shared by the session.

    Tests only read these folders (they copy one before changing it), so sharing them is safe.
    """

    def __init__(self, root):
        self.root = root
        self._made = {}

    def _once(self, name, make):
        if name not in self._made:
            self._made[name] = make(self.root / name)
        return self._made[name]

    def _work(self, name):
        work = self.root / (name + "_work")
        work.mkdir(exist_ok=True)
        return work

    def npz_file(self):
        """A RawData ``.npz`` written by main's stand-in npz path (untraced)."""
        def make(folder):
            folder.mkdir()
            r = run_standin("modern", "modern_rawdata_path.py", "--source", "npz", "--nepochs", "1", cwd=folder)
            assert r.returncode == 0, r.stderr[-2000:]
            return folder / "raw_train.npz"
        return self._once("data", make)

    def _traced(self, name, layout, script, *args):
        def make(out):
            r = run_standin(layout, script, *args, cwd=self._work(name), out=out, options=("--scenario", name))
            assert r.returncode == 0, r.stderr[-2000:]
            return out
        return self._once(name, make)

    def legacy(self):
        """dose_experiments' stand-in (it saves its model into its working directory, ``legacy_work()``)."""
        return self._traced("legacy", "legacy", "legacy_dose.py", "--nimgs-test", "2", "--nepochs", "1")

    def legacy_work(self):
        self.legacy()
        return self.root / "legacy_work"

    def npz(self):
        """main's stand-in reading ``npz_file()``."""
        return self._traced("npz", "modern", "modern_rawdata_path.py", "--npz", str(self.npz_file()),
                            "--nepochs", "1")

    def collapsed(self):
        """main's legacy-equivalent flow with --nimgs-test 2 (its predicted batch collapses)."""
        return self._traced("collapsed", "modern", "modern_legacy_equivalent.py", "--nimgs-test", "2",
                            "--nepochs", "1")

    def study(self, order):
        """main's four-arm dose study in one process (``--order phases|cycles``), traced, or plain when ``order``
        is "plain" (phases order): (finished process, run folder or None)."""
        def make(out):
            traced = order != "plain"
            r = run_standin("modern", "modern_dose_study.py", "--order", "cycles" if order == "cycles" else "phases",
                            cwd=self._work(out.name), out=out if traced else None)
            return r, (out if traced else None)
        return self._once("study_" + order, make)


# Fixtures that trace whole pipelines: a test using any of them is end-to-end, hence slow.
TRACING_FIXTURES = {"standin_runs", "demo_runs"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if TRACING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def _is_python(cmd):
    first = cmd if isinstance(cmd, (str, bytes, os.PathLike)) else (list(cmd) or [""])[0]
    return os.path.basename(os.fsdecode(first)).startswith("python") or os.fsdecode(first) == sys.executable


class _NoInterpreter(subprocess.Popen):
    def __init__(self, args, *a, **kw):
        if _is_python(args):
            raise AssertionError("a test not marked slow started a Python interpreter: mark the test "
                                 "@pytest.mark.slow (or its module, with pytestmark)")
        super().__init__(args, *a, **kw)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    with _fast_tests_start_no_interpreter(item):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    with _fast_tests_start_no_interpreter(item):
        yield


@contextlib.contextmanager
def _fast_tests_start_no_interpreter(item):
    """A test not marked ``slow`` may not start a Python interpreter, in its body or in any fixture it sets up (the
    cost of an end-to-end test): this keeps ``pytest -m "not slow"`` a fast unit loop. Small tools (git,
    sha256sum) stay allowed."""
    if item.get_closest_marker("slow") is not None:
        yield
        return
    real, subprocess.Popen = subprocess.Popen, _NoInterpreter
    try:
        yield
    finally:
        subprocess.Popen = real


@pytest.fixture(scope="session")
def standin_runs(tmp_path_factory):
    return StandinRuns(tmp_path_factory.mktemp("standin"))


@pytest.fixture(scope="session")
def demo_runs(tmp_path_factory):
    """The demo's two stand-in runs (reference, deliberate), traced once per session: (folder A, folder B)."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    r = tracer("demo", "--out", out, cwd=out.parent, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    return out / "reference" / "trace", out / "deliberate" / "trace"
