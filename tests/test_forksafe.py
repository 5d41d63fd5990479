"""At-fork resets: one ``os.register_at_fork`` per class, and a forked child resets each class's own state only."""

import os
import threading

import pytest

from conftest import ListSink
from parity_tracer import forksafe
from parity_tracer.capture import Recorder
from parity_tracer.sink import Sink


def test_one_registration_per_class_however_many_instances(monkeypatch):
    registered = []
    monkeypatch.setattr(os, "register_at_fork", lambda **kw: registered.append(kw))

    class Thing:
        def __init__(self):
            self.reset = 0
            LIVE.add(self)

        def _after_fork(self):
            self.reset += 1

    LIVE = forksafe.Instances(Thing._after_fork)
    things = [Thing() for _ in range(5)]
    assert len(registered) == 1
    del things[3:]                               # dead instances are not kept alive, nor reset
    registered[0]["after_in_child"]()
    assert [t.reset for t in things] == [1, 1, 1]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_fresh_locks_and_counters(tmp_path):
    sink = Sink(tmp_path / "out", {})
    recorder = Recorder(ListSink())
    recorder.errors = {"capture": 3}
    sink.errors = {"sink": 2}
    held = threading.Event()
    release = threading.Event()

    def hold():                                  # another thread holds both locks while the program forks
        with recorder._lock, sink._lock:
            held.set()
            release.wait(10)
    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(10)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:                                 # the child: report and leave without running pytest's exit
        ok = recorder._lock.acquire(blocking=False) and sink._lock.acquire(blocking=False)
        os.write(write, b"%d %r %r" % (ok, recorder.errors, sink.errors))
        os._exit(0)
    release.set()
    thread.join()
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.read(read, 1000).decode() == "1 {} {}" and status == 0
    assert recorder.errors == {"capture": 3} and sink.errors == {"sink": 2}      # the parent keeps its own
