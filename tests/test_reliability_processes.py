"""Processes and threads: every process streams into a file of its own, nothing is lost or interleaved, and the
root process alone reduces them (coverage.py's per-process data files and ``combine`` are the model).

Decisions these tests pin down:

* Python child processes are traced into the same output directory: ``run`` exports PARITY_TRACER=1 and the
  settings, and puts ``parity_tracer/bootstrap`` first on PYTHONPATH; the env route already has both. A child
  started with a scrubbed environment, or with ``python -E`` / ``-I``, is not traced. Only the root process
  (the first one tracing into a directory) reduces at exit; ``python -m parity_tracer ...`` started by a traced
  process follows its own command line (a nested ``run --out B`` is the root of B; ``reduce`` is never traced).
* Forked children (``os.fork``, multiprocessing ``fork``, ``ProcessPoolExecutor``) open their own file at their
  first event. multiprocessing's children leave through ``os._exit``; a multiprocessing finalizer writes their
  footer. A bare ``os.fork`` child ending in ``os._exit`` (or killed) has no footer; its events are all there.
* Patched functions pickle by reference like the functions they replace (wrapt #47): they work as
  ``multiprocessing`` targets and ``Pool.map`` functions under ``spawn`` and ``fork``.
"""

import copy
import json
import pickle
import sys

import pytest

from conftest import clean_env, run_py
from _reliability import count_stage, project, run_plain, run_traced, streams_by_pid, tracer_lines

METHODS = ["fork", "spawn", "forkserver"]


def _helper(events):
    """multiprocessing's own helper processes (resource tracker, fork server): started as ``python -c``, they
    run none of the program's code and outlive the root by design (their footer comes after it is gone)."""
    return events[0]["argv"] == ["-c"] and not any(e["kind"] == "stage" for e in events)


def _footers_except_helpers(by_pid):
    """pids without a footer, helpers left out."""
    return sorted(pid for pid, ev in by_pid.items() if ev[-1]["kind"] != "footer" and not _helper(ev))


def _reduce_again(out):
    """The CLI reduce over every stream: (document, stderr)."""
    doc_path = out / "again.json"
    r = run_py(["-m", "parity_tracer", "reduce", out / "streams", "-o", doc_path], cwd=out, env=clean_env())
    assert r.returncode == 0, r.stderr
    return json.loads(doc_path.read_text()), r.stderr


def _assert_merged(out, by_pid):
    doc, _ = _reduce_again(out)
    tracer = doc["tracer"]
    assert tracer["duplicates"] == 0
    assert sorted(s["pid"] for s in tracer["streams"]) == sorted(by_pid)
    assert all(s["corrupt_lines"] == 0 and not s["truncated"] for s in tracer["streams"])
    assert tracer["events"] == sum(len(ev) for ev in by_pid.values())


# -- os.fork ------------------------------------------------------------------------------------------------------

FORK = '''
    import os, sys
    import mylib
    mylib.fail()                      # one counted capture error in the parent, before the forks
    mylib.work(1)
    kids = []
    for how in ("sys.exit", "os._exit", "silent"):
        pid = os.fork()
        if pid == 0:
            if how != "silent":
                for i in range(5):
                    mylib.work(i)
            if how == "os._exit":
                os._exit(0)
            sys.exit(0)
        kids.append(pid)
    codes = [os.waitpid(pid, 0)[1] for pid in kids]
    mylib.work(2)
    print("parent done", codes)
'''


@pytest.mark.slow
def test_os_fork(tmp_path):
    project(tmp_path, {"forks.py": FORK})
    plain = run_plain(tmp_path, ["forks.py"])
    traced, out = run_traced(tmp_path, ["forks.py"])
    assert traced.returncode == plain.returncode == 0 and traced.stdout == plain.stdout
    assert len(tracer_lines(traced.stderr)) == 1 and traced.stderr.count("\n") == 1   # the root's line only
    by_pid = streams_by_pid(out, complete=False)
    # parent + the two children that recorded something; the silent child wrote nothing, so has no file
    assert len(by_pid) == 3
    root = [pid for pid, ev in by_pid.items() if count_stage(ev, "work") == 2]
    assert len(root) == 1
    kids = {pid: ev for pid, ev in by_pid.items() if pid != root[0]}
    assert sorted(count_stage(ev, "work") for ev in kids.values()) == [5, 5]
    assert all(ev[0]["ppid"] == root[0] for ev in kids.values())
    # sys.exit child: footer (atexit ran); os._exit child: none, but all 5 events readable
    assert sorted(ev[-1]["kind"] for ev in kids.values()) == ["footer", "stage"]
    # a child's footer counts the child's errors, not the parent's (that one is counted once, by the parent)
    child_footer = [ev[-1] for ev in kids.values() if ev[-1]["kind"] == "footer"][0]
    assert child_footer["errors"] == {}
    assert by_pid[root[0]][-1]["errors"] == {"capture": 1}
    doc = json.loads((out / "parity_telemetry.json").read_text())
    assert doc["tracer"]["errors"] == {"capture": 1}
    assert any("wrote no footer" in n for n in doc["tracer"]["notes"])
    _assert_merged(out, by_pid)


# -- multiprocessing ----------------------------------------------------------------------------------------------

MP = '''
    import multiprocessing as mp, sys
    import mylib

    if __name__ == "__main__":
        method, n = sys.argv[1], int(sys.argv[2])
        ctx = mp.get_context(method)
        mylib.work(0)
        p = ctx.Process(target=mylib.work, args=(7,))      # a patched module-level function as the target
        p.start()
        p.join()
        pool = ctx.Pool(2)
        total = sum(float(a.sum()) for a in pool.map(mylib.work, range(n)))
        pool.close()
        pool.join()
        print("exitcode", p.exitcode, "total", total)
'''


def _same_output_traced(tmp_path, name, source, *args):
    """Run the program ``source`` plain and traced: both succeed with the same output; (traced result, out)."""
    project(tmp_path, {name: source})
    plain = run_plain(tmp_path, [name] + list(args))
    traced, out = run_traced(tmp_path, [name] + list(args))
    assert plain.returncode == 0, plain.stderr
    assert traced.returncode == 0 and traced.stdout == plain.stdout, traced.stderr
    return traced, out


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_multiprocessing(tmp_path, method):
    n = 12
    traced, out = _same_output_traced(tmp_path, "mp.py", MP, method, n)
    assert tracer_lines(traced.stderr) == [l for l in traced.stderr.splitlines() if l.strip()]
    assert len(tracer_lines(traced.stderr)) == 1
    by_pid = streams_by_pid(out, complete=False)
    # every call, in whichever process it ran, is there exactly once
    assert sum(count_stage(ev, "work") for ev in by_pid.values()) == 1 + 1 + n
    (root,) = [pid for pid, ev in by_pid.items() if ev[0]["argv"][0] == "mp.py" and ev[0]["ppid"] not in by_pid]
    assert count_stage(by_pid[root], "work") == 1
    workers = [pid for pid, ev in by_pid.items() if pid != root and count_stage(ev, "work")]
    assert len(workers) >= 2                     # the Process child and at least one pool worker
    assert _footers_except_helpers(by_pid) == []  # children that ended normally wrote their footer
    _assert_merged(out, by_pid)


PPE = '''
    import concurrent.futures as cf, multiprocessing as mp, sys
    import mylib

    if __name__ == "__main__":
        method, n = sys.argv[1], int(sys.argv[2])
        with cf.ProcessPoolExecutor(2, mp_context=mp.get_context(method)) as ex:
            total = sum(float(a.sum()) for a in ex.map(mylib.work, range(n)))
        print("total", total)
'''


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_process_pool_executor(tmp_path, method):
    n = 20
    traced, out = _same_output_traced(tmp_path, "ppe.py", PPE, method, n)
    by_pid = streams_by_pid(out, complete=False)
    assert sum(count_stage(ev, "work") for ev in by_pid.values()) == n
    assert _footers_except_helpers(by_pid) == []
    _assert_merged(out, by_pid)


# -- subprocess ---------------------------------------------------------------------------------------------------

PARENT = '''
    import os, subprocess, sys
    import mylib
    mylib.work(1)
    scrubbed = {k: v for k, v in os.environ.items() if not k.startswith("PARITY_TRACER")}
    runs = [
        ("traced", [sys.executable, "child.py", "traced"], None),
        ("ignores-env", [sys.executable, "-E", "child.py", "ignores-env"], None),
        ("scrubbed", [sys.executable, "child.py", "scrubbed"], scrubbed),
        ("nested", [sys.executable, "-m", "parity_tracer", "run", "--targets", "targets.json", "--out", "nested_out",
                    "child.py", "nested"], None),
        ("validate", [sys.executable, "-m", "parity_tracer", "validate", "no_such.json"], None),
    ]
    for name, cmd, env in runs:
        if name in ("nested", "validate") and os.environ.get("PLAIN"):
            continue
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        lines = [l for l in r.stderr.splitlines() if l.startswith("parity_tracer:")]
        print(name, r.returncode, r.stdout.strip(), len(lines))
'''

CHILD = '''
    import sys
    import mylib
    for i in range(3):
        mylib.work(i)
    print(sys.argv[1], "child ok")
'''


@pytest.mark.slow
def test_subprocess_children(tmp_path):
    project(tmp_path, {"parent.py": PARENT, "child.py": CHILD})
    plain = run_plain(tmp_path, ["parent.py"], env_extra={"PLAIN": "1"})
    traced, out = run_traced(tmp_path, ["parent.py"])
    assert plain.returncode == 0 and traced.returncode == 0, traced.stderr
    assert traced.stdout.startswith(plain.stdout)       # the children behave the same, traced or not
    assert traced.stdout.splitlines()[:3] == ["traced 0 traced child ok 0", "ignores-env 0 ignores-env child ok 0",
                                              "scrubbed 0 scrubbed child ok 0"]
    # a nested ``run --out`` is the root of its own directory: it reduced it and said so, once
    assert traced.stdout.splitlines()[3] == "nested 0 nested child ok 1"
    # ``validate`` started by a traced process is not traced (exit 2: no such file, its own one error line and
    # no summary line of a reduce)
    assert traced.stdout.splitlines()[4] == "validate 2  1"
    by_pid = streams_by_pid(out)
    assert len(by_pid) == 2                             # the parent and the one traced child
    (root,) = [pid for pid, ev in by_pid.items() if ev[0]["argv"] == ["parent.py"]]
    (child,) = [pid for pid in by_pid if pid != root]
    assert by_pid[child][0]["ppid"] == root and by_pid[child][0]["argv"] == ["child.py", "traced"]
    assert count_stage(by_pid[child], "work") == 3 and count_stage(by_pid[root], "work") == 1
    # only the root reduced this directory (the child printed no summary line)
    doc = json.loads((out / "parity_telemetry.json").read_text())
    assert sorted(s["pid"] for s in doc["tracer"]["streams"]) == sorted(by_pid)
    nested = streams_by_pid(tmp_path / "nested_out")
    assert len(nested) == 1 and count_stage(list(nested.values())[0], "work") == 3
    assert (tmp_path / "nested_out" / "parity_telemetry.json").exists()


# -- threads ------------------------------------------------------------------------------------------------------

THREADS = '''
    import sys, threading
    import mylib
    N, K = int(sys.argv[1]), int(sys.argv[2])
    barrier = threading.Barrier(N)
    def worker():
        barrier.wait()
        for i in range(K):
            mylib.work(i)
    threads = [threading.Thread(target=worker) for _ in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("done")
'''


@pytest.mark.slow
def test_threads(tmp_path):
    n, k = 8, 250
    project(tmp_path, {"threads.py": THREADS})
    traced, out = run_traced(tmp_path, ["threads.py", n, k])
    assert traced.returncode == 0 and traced.stdout == "done\n", traced.stderr
    (events,) = streams_by_pid(out).values()          # one file, seq 0..n-1 in file order, every line valid
    stages = [e for e in events if e["kind"] == "stage"]
    assert len(stages) == n * k
    assert len({e["call_id"] for e in stages}) == n * k
    assert all(e["context"] == [] for e in stages)      # one thread's calls never appear in another's context
    assert sorted(e["stats"]["max"] for e in stages) == sorted(float(7 * i) for i in range(k) for _ in range(n))
    assert events[-1]["errors"] == {} and events[-1]["dropped"] == 0


FORK_THREADS = '''
    import os, sys, threading
    import mylib
    stop = threading.Event()
    def spin():
        while not stop.is_set():
            mylib.work(1)
    threads = [threading.Thread(target=spin, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    kids = []
    for k in range(int(sys.argv[1])):
        pid = os.fork()
        if pid == 0:
            mylib.work(100)          # would hang on a lock another thread held at fork time
            os._exit(0)
        kids.append(pid)
    codes = [os.waitpid(pid, 0)[1] for pid in kids]
    stop.set()
    for t in threads:
        t.join()
    print("codes", sorted(set(codes)))
'''


@pytest.mark.slow
def test_fork_while_threads_are_writing(tmp_path):
    forks = 30
    project(tmp_path, {"ft.py": FORK_THREADS})
    traced, out = run_traced(tmp_path, ["ft.py", forks], timeout=60)
    assert traced.returncode == 0 and traced.stdout == "codes [0]\n", traced.stderr
    by_pid = streams_by_pid(out, complete=False)
    kids = [ev for ev in by_pid.values() if ev[0]["ppid"] != ev[0]["pid"] and any(
        e["kind"] == "stage" and e["stats"]["max"] == 700.0 for e in ev)]
    assert len(kids) == forks
    for ev in kids:
        # the child's own call, and nothing of the parent's threads (they do not exist in the child)
        assert [e["kind"] for e in ev] == ["header", "stage"]


LOCKS_HELD = '''
    import importlib, os, signal, threading
    import mylib
    from parity_tracer import agent
    a = agent.current()
    locks = [a.recorder._lock, a.sink._lock, a.patcher._lock]
    held, release = threading.Event(), threading.Event()
    def holder():
        for lock in locks:
            lock.acquire()
        held.set()
        release.wait()
        for lock in locks:
            lock.release()
    t = threading.Thread(target=holder)
    t.start()
    held.wait()
    pid = os.fork()                  # every lock of ours is held by another thread right now
    if pid == 0:
        signal.alarm(20)             # a deadlock ends the child by SIGALRM instead of hanging the test
        mylib.work(100)              # recorder + sink locks
        importlib.reload(mylib)      # patcher lock (re-patching after reload)
        mylib.work(200)
        os._exit(0)
    release.set()
    t.join()
    print("child status", os.waitpid(pid, 0)[1])
'''


@pytest.mark.slow
def test_fork_while_tracer_locks_are_held(tmp_path):
    """Deterministic form of the above: a child forked while another thread holds each lock of ours."""
    project(tmp_path, {"locks.py": LOCKS_HELD})
    traced, out = run_traced(tmp_path, ["locks.py"], timeout=60)
    assert traced.returncode == 0 and traced.stdout == "child status 0\n", traced.stdout + traced.stderr
    by_pid = streams_by_pid(out, complete=False)
    (child,) = [ev for ev in by_pid.values() if ev[0]["ppid"] != ev[0]["pid"] and ev[-1]["kind"] != "footer"]
    assert [e["stats"]["max"] for e in child if e["kind"] == "stage"] == [700.0, 1400.0]
    assert [e["status"] for e in child if e["kind"] == "patch" and e["target"] == "mylib::work"] == ["repatched"]


# -- pickling and copying patched callables (in-process, both wrapt majors) ------------------------------------------

@pytest.fixture
def patched(tmp_path, monkeypatch):
    from parity_tracer import wrapper
    from parity_tracer.capture import Recorder
    from parity_tracer.hooks import Patcher
    from parity_tracer.targets import point

    name = "pk_target"
    (tmp_path / (name + ".py")).write_text(
        "from mylib_%s import helper\n" % name +
        "def f(x):\n    return x * 2\n\n"
        "class Thing:\n    def __init__(self, v=1):\n        self.v = v\n"
        "    def method(self, x):\n        return x + self.v\n"
        "    @staticmethod\n    def static(x):\n        return x + 2\n"
        "    @classmethod\n    def klass(cls, x):\n        return (cls.__name__, x)\n")
    (tmp_path / ("mylib_%s.py" % name)).write_text("def helper(x):\n    return -x\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    class ListSink:
        def __init__(self):
            self.events = []

        def write(self, kind, fields):
            self.events.append(kind)

    sink = ListSink()
    recorder = Recorder(sink)
    points = [point(name, a, after="parity_tracer.capture:record_result")
              for a in ("f", "Thing.method", "Thing.static", "Thing.klass", "helper")]
    patcher = Patcher(points, recorder, sink.write)
    patcher.install()
    wrapper.set_enabled(True)
    mod = __import__(name)
    yield mod, sink
    wrapper.set_enabled(False)
    patcher.uninstall()
    for m in (name, "mylib_" + name):
        sys.modules.pop(m, None)


def test_patched_callables_pickle_and_copy_like_the_originals(patched):
    from parity_tracer.wrapper import TracedFunction
    mod, sink = patched
    assert isinstance(vars(mod)["f"], TracedFunction)
    t = mod.Thing(5)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert pickle.loads(pickle.dumps(mod.f, protocol)) is mod.f
        bound = pickle.loads(pickle.dumps(t.method, protocol))
        assert bound(1) == 6 and bound.__self__ is not t and bound.__self__.v == 5
        assert pickle.loads(pickle.dumps(mod.Thing.static, protocol))(1) == 3
        assert pickle.loads(pickle.dumps(mod.Thing.klass, protocol))(1) == ("Thing", 1)
        assert pickle.loads(pickle.dumps(t.klass, protocol))(2) == ("Thing", 2)
        # patched where it is re-exported (not where it is defined): the original comes back, by its own name
        assert pickle.loads(pickle.dumps(mod.helper, protocol))(4) == -4
    assert copy.copy(mod.f) is mod.f and copy.deepcopy(mod.f) is mod.f
    assert copy.deepcopy({"fn": mod.f})["fn"] is mod.f
    assert copy.copy(t.method)(1) == 6
    deep = copy.deepcopy(t.method)
    assert deep(1) == 6 and deep.__self__ is not t
    assert copy.deepcopy(mod.Thing.static)(1) == 3
    before = len(sink.events)
    mod.f(2)
    t.method(1)
    assert len(sink.events) == before + 2      # still traced after all that
