"""Helpers shared by the reliability / security tests: a small patched library, traced and untraced runs in
fresh interpreters, and strict checks of the per-process streams."""

import json
import re
import textwrap
from pathlib import Path

from conftest import clean_env, run_py

# A library the traced scripts import; ``targets()`` patches it with the generic handler.
MYLIB = textwrap.dedent('''
    import numpy as np

    def work(i):
        return np.arange(8.0) * i

    def big(a):
        return a

    def fail():
        return 1

    class Thing:
        def method(self, x):
            return x + 1

        @staticmethod
        def static(x):
            return x + 2

        @classmethod
        def klass(cls, x):
            return x + 3
''')

RESULT = "parity_tracer.capture:record_result"


def targets(tmp_path, extra=()):
    """mylib.work / mylib.big record their result; mylib.fail's handler does not exist (a counted capture
    error on every call)."""
    entries = [
        {"module": "mylib", "attr": "work", "after": RESULT, "options": {"stage": "work"}},
        {"module": "mylib", "attr": "big", "after": RESULT, "options": {"stage": "big"}},
        {"module": "mylib", "attr": "fail", "after": "parity_tracer.capture:no_such_handler"},
    ] + list(extra)
    path = Path(tmp_path) / "targets.json"
    path.write_text(json.dumps(entries))
    return path


def project(tmp_path, scripts):
    """mylib.py, targets.json and the given ``{name: source}`` scripts in tmp_path."""
    tmp_path = Path(tmp_path)
    (tmp_path / "mylib.py").write_text(MYLIB)
    for name, text in scripts.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    return targets(tmp_path)


def run_traced(tmp_path, script_args, out=None, options=(), cwd=None, env_extra=None, timeout=120):
    out = out or Path(tmp_path) / "out"
    args = ["-m", "parity_tracer", "run", "--targets", Path(tmp_path) / "targets.json", "--out", out]
    args += list(options) + list(script_args)
    return run_py(args, cwd=cwd or tmp_path, env=clean_env(**(env_extra or {})), timeout=timeout), Path(out)


def run_plain(tmp_path, script_args, cwd=None, env_extra=None, timeout=120):
    return run_py(list(script_args), cwd=cwd or tmp_path, env=clean_env(**(env_extra or {})), timeout=timeout)


def strict_loads(raw):
    """json.loads that refuses NaN / Infinity tokens (what 'strict JSON' means here)."""
    def reject(name):
        raise ValueError("non-standard JSON constant %s" % name)
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    return json.loads(raw, parse_constant=reject)


def stream_files(out):
    return sorted(Path(out).glob("streams/*.jsonl"))


def check_stream(path, complete=True, header=True):
    """Every line of one stream: strict JSON, newline-terminated, one pid, seq 0..n-1 in order, a header first.

    ``complete=False`` allows a missing footer. Returns the events.
    """
    data = Path(path).read_bytes()
    assert data.endswith(b"\n"), "%s: last line not terminated" % path
    events = []
    for lineno, raw in enumerate(data.split(b"\n")[:-1], 1):
        try:
            events.append(strict_loads(raw))
        except ValueError as exc:   # pragma: no cover - the assertion message is the point
            raise AssertionError("%s:%d: not strict JSON (%s): %r" % (path, lineno, exc, raw[:200]))
    assert events
    if header:
        assert events[0]["kind"] == "header", path
    pids = {e["pid"] for e in events}
    assert len(pids) == 1, "%s: several pids %s" % (path, pids)
    assert [e["seq"] for e in events] == list(range(len(events))), "%s: seq not 0..n-1 in order" % path
    assert [e["kind"] for e in events].count("header") == (1 if header else 0)
    footers = [i for i, e in enumerate(events) if e["kind"] == "footer"]
    if complete:
        assert footers == [len(events) - 1], "%s: no footer as last line" % path
        assert events[-1]["events"] == len(events)
    else:
        assert footers in ([], [len(events) - 1])
    return events


def streams_by_pid(out, complete=True):
    """pid -> events, checking each file; no pid may own two files."""
    by_pid = {}
    for path in stream_files(out):
        events = check_stream(path, complete=complete(path) if callable(complete) else complete)
        pid = events[0]["pid"]
        assert pid not in by_pid, "pid %d wrote two files" % pid
        by_pid[pid] = events
    return by_pid


def count_stage(events, name):
    return sum(1 for e in events if e["kind"] == "stage" and e.get("stage") == name)


def tracer_lines(stderr):
    return [l for l in stderr.splitlines() if l.startswith("parity_tracer:")]


def other_lines(stderr):
    return [l for l in stderr.splitlines() if not l.startswith("parity_tracer:")]


_STAMPS = [re.compile(p) for p in (r"\d\d/\d\d/\d{4}, \d\d:\d\d:\d\d", r"\d\d-\d\d-\d{4}-\d\d\.\d\d\.\d\d")]


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?")
_RANDOM_LINE = re.compile(r"^(Epoch \d+/\d+ - .*|-?[\d.]+(?:e[+-]?\d+)?)$")


def normalize(stdout):
    """Stand-in output without what differs between two untraced runs: wall-clock time stamps, and the
    numbers of the lines its unseeded noise feeds (per-epoch losses, a probe-normalization check value)."""
    for pattern in _STAMPS:
        stdout = pattern.sub("<time>", stdout)
    return "\n".join(_NUMBER.sub("<n>", l) if _RANDOM_LINE.match(l) else l for l in stdout.split("\n"))
