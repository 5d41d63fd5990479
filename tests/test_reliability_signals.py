"""Crashes and signals: a killed process leaves every event it wrote readable, ``reduce`` recovers them and
says what is missing, and signals end a traced program exactly as they end an untraced one."""

import json
import signal
import subprocess
import sys
import time

import pytest

from conftest import clean_env, run_py
from _reliability import check_stream, count_stage, project, stream_files, tracer_lines

# every test here runs the tracer in a fresh interpreter
pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]

LOOP = '''
    import signal, sys, time
    import mylib
    mode, n = sys.argv[1], int(sys.argv[2])
    if mode == "exit-on-term":
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    i = 0
    while n < 0 or i < n:          # n < 0: emit until killed
        mylib.work(i)
        i += 1
    print("looped", i, flush=True)
    time.sleep(60)
    print("not reached")
'''


def _start(tmp_path, mode, n, traced=True):
    args = [sys.executable]
    if traced:
        args += ["-m", "parity_tracer", "run", "--targets", "targets.json", "--out", str(tmp_path / "out")]
    args += ["loop.py", mode, str(n)]
    return subprocess.Popen(args, cwd=str(tmp_path), env=clean_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_default_signals)


def _default_signals():
    # a test run started in the background inherits SIGINT ignored, and python then never raises
    # KeyboardInterrupt: give the program the dispositions it would have in a terminal
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def _wait_for_lines(path_glob, n, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        files = list(path_glob())
        if files and files[0].read_bytes().count(b"\n") >= n:
            return files[0]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    raise AssertionError("stream never reached %d lines" % n)


def _reduce_and_validate(tmp_path):
    out = tmp_path / "out"
    r = run_py(["-m", "parity_tracer", "reduce", out / "streams", "-o", out / "parity_telemetry.json"], cwd=tmp_path,
               env=clean_env())
    assert r.returncode == 0, r.stderr
    v = run_py(["-m", "parity_tracer", "validate", out / "parity_telemetry.json"], cwd=tmp_path, env=clean_env())
    assert v.returncode == 0 and v.stdout.strip().endswith("valid"), v.stdout + v.stderr
    return json.loads((out / "parity_telemetry.json").read_text()), r.stderr


@pytest.mark.slow
def test_kill_9_while_emitting_then_reduce_recovers_everything(tmp_path):
    project(tmp_path, {"loop.py": LOOP})
    proc = _start(tmp_path, "forever", -1)
    path = _wait_for_lines(lambda: stream_files(tmp_path / "out"), 300, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    data = path.read_bytes()
    whole = data.count(b"\n")
    cut = not data.endswith(b"\n")            # a line being written at the kill (each is one write: rare)
    doc, stderr = _reduce_and_validate(tmp_path)
    (stream,) = doc["tracer"]["streams"]
    assert stream["events"] == whole and stream["truncated"] == cut and stream["corrupt_lines"] == 0
    assert doc["tracer"]["events"] == whole
    assert any("wrote no footer" in n for n in doc["tracer"]["notes"])


def test_kill_9_after_n_events_then_truncated_tail(tmp_path):
    """Killed while idle: exactly the N events are recovered. A cut last line (as a kill in mid-write would
    leave) is reported as truncation and costs only that line."""
    n = 50
    project(tmp_path, {"loop.py": LOOP})
    proc = _start(tmp_path, "default", n)
    assert proc.stdout.readline() == "looped %d\n" % n
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    (path,) = stream_files(tmp_path / "out")
    events = check_stream(path, complete=False)
    assert count_stage(events, "work") == n and events[-1]["kind"] == "stage"
    doc, _ = _reduce_and_validate(tmp_path)
    assert doc["tracer"]["events"] == len(events) and not doc["tracer"]["streams"][0]["truncated"]
    with open(path, "ab") as fh:
        fh.write(b'{"kind":"stage","seq":%d,"t":1.0,"pid":%d,"stage":"wo' % (len(events), events[0]["pid"]))
    doc, stderr = _reduce_and_validate(tmp_path)
    assert doc["tracer"]["events"] == len(events)
    assert doc["tracer"]["streams"][0]["truncated"] is True
    assert any("truncated" in n for n in doc["tracer"]["notes"]) and "truncated last line" in stderr


def _signal_pair(tmp_path, mode, n, sig):
    """The same program untraced then traced: signal it once it has made its calls; (plain, traced) results."""
    results = []
    for traced in (False, True):
        proc = _start(tmp_path, mode, n, traced=traced)
        assert proc.stdout.readline() == "looped %d\n" % n
        time.sleep(0.3)                                   # into the sleep: both get the signal at the same line
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
        results.append((proc.returncode, stdout, stderr))
    return results


def test_sigterm_default_action(tmp_path):
    n = 40
    project(tmp_path, {"loop.py": LOOP})
    plain, traced = _signal_pair(tmp_path, "default", n, signal.SIGTERM)
    assert plain[0] == traced[0] == -signal.SIGTERM
    assert plain[1:] == traced[1:]                       # same output; no line of ours (no exit code ran)
    (path,) = stream_files(tmp_path / "out")
    events = check_stream(path, complete=False)          # every event written before the signal is readable
    assert count_stage(events, "work") == n and events[-1]["kind"] != "footer"


def test_sigterm_handled_by_the_program(tmp_path):
    """The program turns SIGTERM into sys.exit(0): it exits 0 traced too, the footer is written and the
    telemetry reduced, as for any normal exit."""
    n = 40
    project(tmp_path, {"loop.py": LOOP})
    plain, traced = _signal_pair(tmp_path, "exit-on-term", n, signal.SIGTERM)
    assert plain[0] == traced[0] == 0
    assert plain[1] == traced[1]
    assert plain[2] == "" and len(tracer_lines(traced[2])) == 1 and traced[2].count("\n") == 1
    (path,) = stream_files(tmp_path / "out")
    events = check_stream(path, complete=True)
    assert count_stage(events, "work") == n
    assert (tmp_path / "out" / "parity_telemetry.json").exists()


def test_sigint_exits_like_python_and_keeps_the_footer(tmp_path):
    n = 40
    project(tmp_path, {"loop.py": LOOP})
    plain, traced = _signal_pair(tmp_path, "default", n, signal.SIGINT)
    assert plain[0] == traced[0] == -signal.SIGINT
    assert plain[1] == traced[1]
    assert [l for l in traced[2].splitlines() if not l.startswith("parity_tracer:")] == plain[2].splitlines()
    (path,) = stream_files(tmp_path / "out")
    assert count_stage(check_stream(path, complete=True), "work") == n
