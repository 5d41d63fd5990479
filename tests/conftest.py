"""Shared test helpers: run Python in a fresh interpreter, read the event streams."""

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


def clean_env(**extra):
    """The current environment without any tracer settings, plus ``extra``; PYTHONPATH reaches this checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARITY_TRACER")}
    env.pop("PYTHONPATH", None)
    paths = [str(REPO)]
    extra_path = extra.pop("PYTHONPATH", None)
    if extra_path:
        paths = [str(p) for p in (extra_path if isinstance(extra_path, (list, tuple)) else [extra_path])] + paths
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_py(args, cwd, env=None, timeout=120, input=None):
    return subprocess.run([sys.executable] + [str(a) for a in args], cwd=str(cwd), env=env or clean_env(),
                          capture_output=True, text=True, timeout=timeout, input=input)


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


@pytest.fixture(scope="session")
def demo_runs(tmp_path_factory):
    """The demo's two stand-in runs (reference, deliberate), traced once per session: (folder A, folder B)."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    r = run_py(["-m", "parity_tracer", "demo", "--out", out], cwd=out.parent, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    return out / "reference" / "trace", out / "deliberate" / "trace"
