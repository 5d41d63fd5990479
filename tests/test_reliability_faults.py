"""Never break the host, whatever layer of ours fails (MLflow safe_patch / ddtrace style, in fresh interpreters).

Each tracer layer is made to raise in turn (``PARITY_TRACER_INJECT_FAULT``) while a stand-in PtychoPINN pipeline
and a tiny script that exits non-zero run traced, through ``parity_tracer run`` and through the environment
bootstrap. Each time the program's stdout and exit status equal those of the untraced run, its stderr differs
at most by our one line (``parity_tracer: ...``), and the failures are counted wherever the sink still works.
"""

import json
import os
import resource
import signal
import sys

import pytest

from conftest import SCRIPTS, SITECUSTOMIZE_DIR, STANDIN, clean_env, run_py
from parity_tracer import faults
from _reliability import (check_stream, normalize, other_lines, project, stream_files, strict_loads, targets,
                          tracer_lines)

pytestmark = pytest.mark.slow

LAYERS = list(faults.LAYERS)

TINY = '''
    import sys
    import numpy as np
    import mylib
    for i in range(5):
        mylib.work(i)
    mylib.big(np.linspace(0.0, 1.0, 100))
    mylib.fail()
    t = mylib.Thing()
    print("results", t.method(1), mylib.Thing.static(1), t.klass(1), float(mylib.work(3).sum()))
    sys.stderr.write("program's own stderr line\\n")
    sys.exit(3)
'''

UNCAUGHT = '''
    import mylib
    print("before", mylib.work(2).tolist())
    def inner():
        raise ValueError("boom from the program")
    inner()
'''

THING_TARGETS = [
    {"module": "mylib", "attr": "Thing.method", "after": "parity_tracer.capture:record_result"},
    {"module": "mylib", "attr": "Thing.static", "after": "parity_tracer.capture:record_result"},
    {"module": "mylib", "attr": "Thing.klass", "after": "parity_tracer.capture:record_result"},
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny project and its untraced baselines."""
    root = tmp_path_factory.mktemp("tiny")
    project(root, {"tiny.py": TINY, "uncaught.py": UNCAUGHT})
    targets(root, THING_TARGETS)
    baselines = {name: run_py([name], cwd=root, env=clean_env()) for name in ("tiny.py", "uncaught.py")}
    assert baselines["tiny.py"].returncode == 3 and baselines["uncaught.py"].returncode == 1
    return root, baselines


@pytest.fixture(scope="module")
def legacy_plain(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("legacy_plain")
    r = run_py([SCRIPTS / "legacy_dose.py"], cwd=cwd, env=clean_env(PYTHONPATH=[STANDIN / "legacy"]))
    assert r.returncode == 0, r.stderr
    return r


def _traced(route, program_args, cwd, out, pythonpath, fault, targets=None):
    extra = {"PARITY_TRACER_INJECT_FAULT": fault} if fault else {}
    if route == "run":
        opts = ["--targets", targets] if targets else []
        return run_py(["-m", "parity_tracer", "run", "--out", out] + opts + list(program_args), cwd=cwd,
                      env=clean_env(PYTHONPATH=pythonpath, **extra))
    if targets:
        extra["PARITY_TRACER_TARGETS"] = targets
    return run_py(list(program_args), cwd=cwd,
                  env=clean_env(PYTHONPATH=[SITECUSTOMIZE_DIR] + pythonpath, PARITY_TRACER=1,
                                PARITY_TRACER_OUT=out, **extra))


def _assert_host_unchanged(plain, traced):
    assert traced.returncode == plain.returncode, traced.stderr[-3000:]
    assert normalize(traced.stdout) == normalize(plain.stdout)
    assert other_lines(traced.stderr) == other_lines(plain.stderr)
    assert len(tracer_lines(traced.stderr)) <= 1, traced.stderr


def _footer(out, header=True):
    files = stream_files(out)
    assert len(files) == 1, files
    events = check_stream(files[0], complete=False, header=header)
    return events, (events[-1] if events[-1]["kind"] == "footer" else None)


def _assert_accounted(layer, traced, out):
    """What each failing layer leaves behind: counted errors wherever a stream could still be written."""
    line = "\n".join(tracer_lines(traced.stderr))
    if layer in ("activation", "sink"):
        # no stream can be written: one line says tracing is off, and the program ran untraced
        assert "tracing disabled" in line
        assert not any(p.stat().st_size for p in stream_files(out))
        return
    events, footer = _footer(out, header=layer != "serialize")
    if layer == "serialize":
        # every event (the footer too) is replaced by a small tracer_error event: still one whole line each
        errors = [e for e in events if e["kind"] == "tracer_error"]
        assert errors and all(e["layer"] == "serialize" for e in errors)
        assert footer is None and errors[-1]["message"] == "event of kind 'footer' dropped"
        doc = json.loads((out / "parity_telemetry.json").read_text())
        assert doc["tracer"]["errors"]["serialize"] == len(errors)
        assert "tracer error" in line
        return
    assert footer is not None
    if layer == "reduce":
        assert "reduce" not in footer["errors"]
        assert "reduce failed" in line and "streams kept" in line
        assert not (out / "parity_telemetry.json").exists()
        # the streams are intact: reducing them afterwards works
        r = run_py(["-m", "parity_tracer", "reduce", out / "streams", "-o", out / "parity_telemetry.json"],
                   cwd=out, env=clean_env())
        assert r.returncode == 0, r.stderr
        return
    assert footer["errors"].get(layer, 0) > 0, footer["errors"]
    assert sum(1 for e in events if e["kind"] == "tracer_error" and e["layer"] == layer) == footer["errors"][layer]
    doc = json.loads((out / "parity_telemetry.json").read_text())
    assert doc["tracer"]["errors"][layer] == footer["errors"][layer]
    assert "%d tracer error" % sum(footer["errors"].values()) in line


@pytest.mark.parametrize("route", ["run", "env"])
@pytest.mark.parametrize("layer", LAYERS)
def test_fault_in_each_layer_on_the_legacy_pipeline(tmp_path, legacy_plain, layer, route):
    traced = _traced(route, [SCRIPTS / "legacy_dose.py"], tmp_path, tmp_path / "out", [STANDIN / "legacy"], layer)
    _assert_host_unchanged(legacy_plain, traced)
    _assert_accounted(layer, traced, tmp_path / "out")


@pytest.mark.parametrize("route", ["run", "env"])
@pytest.mark.parametrize("layer", LAYERS)
def test_fault_in_each_layer_on_a_script_exiting_non_zero(tiny, tmp_path, layer, route):
    root, baselines = tiny
    traced = _traced(route, ["tiny.py"], root, tmp_path / "out", [], layer, targets=root / "targets.json")
    _assert_host_unchanged(baselines["tiny.py"], traced)
    _assert_accounted(layer, traced, tmp_path / "out")


@pytest.mark.parametrize("layer", [None] + LAYERS)
def test_uncaught_exception_traceback_unchanged(tiny, tmp_path, layer):
    """An uncaught exception: same traceback text (our frames cut), same exit status 1, under every fault."""
    root, baselines = tiny
    traced = _traced("run", ["uncaught.py"], root, tmp_path / "out", [], layer, targets=root / "targets.json")
    _assert_host_unchanged(baselines["uncaught.py"], traced)
    assert "ValueError: boom from the program" in traced.stderr


def test_strict_mode_reraises_injected_faults(tiny, tmp_path):
    """The test switch: PARITY_TRACER_STRICT=1 makes our failures loud (so these tests can trust the quiet mode)."""
    root, _ = tiny
    r = run_py(["-m", "parity_tracer", "run", "--strict", "--targets", root / "targets.json", "--out",
                tmp_path / "out", "tiny.py"], cwd=root, env=clean_env(PARITY_TRACER_INJECT_FAULT="capture"))
    assert r.returncode == 1 and "InjectedFault" in r.stderr


DISK = '''
    import mylib
    for i in range(400):
        mylib.work(i)
    print("done")
'''


def _limit_file_size(limit):
    def preexec():
        # a full disk for regular files only (the pipes of stdout/stderr are not files): writes fail with EFBIG
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return preexec


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="needs RLIMIT_FSIZE")
def test_disk_full_mid_run(tmp_path):
    """A real sink failure mid-run (not injected): the file stops growing at the limit, the program carries on,
    the exit-time reduce reports that it could not write, and every whole line written stays readable."""
    import subprocess
    project(tmp_path, {"disk.py": DISK})
    limit = 16384
    common = dict(cwd=str(tmp_path), env=clean_env(), capture_output=True, text=True, timeout=120,
                  preexec_fn=_limit_file_size(limit))
    plain = subprocess.run([sys.executable, "disk.py"], **common)
    traced = subprocess.run([sys.executable, "-m", "parity_tracer", "run", "--targets", "targets.json", "--out",
                             str(tmp_path / "out"), "disk.py"], **common)
    assert plain.returncode == 0 and plain.stdout == "done\n"
    _assert_host_unchanged(plain, traced)
    (path,) = stream_files(tmp_path / "out")
    data = path.read_bytes()
    assert len(data) <= limit
    whole = data[:data.rfind(b"\n") + 1].split(b"\n")[:-1]
    assert len(whole) > 10 and all(strict_loads(l) for l in whole)
    r = run_py(["-m", "parity_tracer", "reduce", tmp_path / "out", "-o", tmp_path / "doc.json"], cwd=tmp_path,
               env=clean_env())
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "doc.json").read_text())
    assert doc["tracer"]["events"] == len(whole)
    assert doc["tracer"]["streams"][0]["truncated"] == (not data.endswith(b"\n"))
    assert any("no footer" in n for n in doc["tracer"]["notes"])


def test_partial_write_never_glues_two_events(tmp_path, monkeypatch):
    """In-process: a write cut short (disk full for a moment) leaves one corrupt line; the next event starts a
    line of its own, so the reducer loses exactly the cut event."""
    import errno
    from parity_tracer import sink as sink_module
    s = sink_module.Sink(str(tmp_path), {"argv": []})
    s.open()
    s.write("stage", {"stage": "a"})
    real_write, state = os.write, {"calls": 0}

    def flaky(fd, data):
        state["calls"] += 1
        if state["calls"] == 1:
            return real_write(fd, bytes(data[:10]))          # a short write ...
        if state["calls"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")   # ... then the disk is full
        return real_write(fd, data)

    monkeypatch.setattr(sink_module.os, "write", flaky)
    s.write("stage", {"stage": "cut"})
    s.write("stage", {"stage": "b"})
    monkeypatch.setattr(sink_module.os, "write", real_write)
    s.close({"errors": {}})
    assert s.errors == {"sink": 1} and s.dropped == 1
    with open(s.path, "rb") as fh:
        lines = fh.read().split(b"\n")
    parsed = []
    for raw in lines[:-1]:
        try:
            ev = strict_loads(raw)
        except ValueError:
            parsed.append("corrupt")
            continue
        parsed.append("%s:%s" % (ev["kind"], ev.get("stage")))
    assert parsed == ["header:None", "stage:a", "corrupt", "stage:b", "footer:None"]
