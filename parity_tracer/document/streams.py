"""Reading event streams (JSONL, one file per process) written elsewhere: found safely, parsed with bounds,
merged in a deterministic order (process start, pid, seq). Corrupt lines become warnings, never errors."""

import collections
import contextlib
import gc
import json
import operator
import os
from pathlib import Path

from parity_tracer import inputs, jsonio

NO_RUN_ID = "(no run id)"


class ReduceError(Exception):
    """The input cannot be reduced at all (missing paths, no streams, no events, several runs): exit status 2."""


class StreamInfo:
    """What one stream file held: its process, event count, damage found, header and run id."""

    __slots__ = ("path", "pid", "events", "truncated", "corrupt_lines", "duplicates", "header", "start_t", "run_id")

    def __init__(self, path):
        self.path = path
        self.pid = None
        self.events = 0
        self.truncated = False
        self.corrupt_lines = 0
        self.duplicates = 0
        self.header = None
        self.start_t = None
        self.run_id = None


def _scan(folder, depth, warnings):
    """``*.jsonl`` regular files in ``folder`` (and ``streams/``, ``streams/*/`` below it); symlinks and special
    files found there are reported and never opened."""
    found = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        warnings.append("%s: cannot list (%s)" % (folder, inputs.error_text(exc)))
        return found
    for entry in entries:
        try:
            if entry.name.endswith(".jsonl"):
                if entry.is_symlink() or not entry.is_file(follow_symlinks=False):
                    warnings.append("%s: not a regular file (symlink, FIFO or device): not read" % entry.path)
                else:
                    found.append(Path(entry.path))
            elif entry.is_dir(follow_symlinks=False) and (depth == 0 and entry.name == "streams" or depth == 1):
                found += _scan(entry.path, depth + 1, warnings)
        except OSError:
            continue
    return found


def find_stream_files(paths, warnings=None):
    """Stream files named by ``paths`` (files, or directories holding ``*.jsonl`` or ``streams/*.jsonl``)."""
    warnings = [] if warnings is None else warnings
    found = {}
    for given in paths:
        p = Path(given)
        if p.is_dir():
            candidates = _scan(str(p), 0 if p.name != "streams" else 1, warnings)
        elif p.exists():
            candidates = [p]            # named by the user: read if it is a regular file (checked at open)
        else:
            raise ReduceError("no such file or directory: %s" % given)
        for c in candidates:
            found.setdefault(os.path.realpath(c), c)   # the same file named twice is read once
    if not found:
        raise ReduceError("no event streams (*.jsonl) in %s" % ", ".join(str(p) for p in paths))
    return sorted(found.values(), key=lambda f: (f.name, str(f)))


def _parse(raw):
    try:
        return jsonio.loads(raw), None
    except ValueError as exc:
        try:  # a non-strict writer may have written NaN/Infinity tokens: accept, they become null later
            jsonio.check_depth(raw)
            return json.loads(raw.decode("utf-8")), None
        except (ValueError, RecursionError):
            return None, str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__


def _event_problem(ev):
    # exact type checks: parsed JSON has only plain types, and this runs once per event
    if type(ev) is not dict:
        return "not a JSON object"
    if type(ev.get("kind")) is not str:
        return "event has no string 'kind'"
    if type(ev.get("seq")) is not int:
        return "event has no integer 'seq'"
    if type(ev.get("pid")) is not int:
        return "event has no integer 'pid'"
    return None


@contextlib.contextmanager
def gc_paused():
    """Parsing 100k events allocates ~1M containers; cyclic GC passes over them dominated the reduce time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _stream_lines(path, info, warnings):
    """``(lineno, raw, is_last_unterminated)`` of a stream, read through the safe reader: a FIFO or device is
    refused, a line over inputs.MAX_LINE bytes is a corrupt line (never held in memory)."""
    try:
        fh = inputs.open_regular(path)
    except OSError as exc:
        warnings.append("%s: unreadable (%s)" % (path, inputs.error_text(exc)))
        return
    with fh:
        lineno = 0
        try:
            for raw, complete in inputs.lines(fh):
                lineno += 1
                if raw is None:
                    info.corrupt_lines += 1
                    warnings.append("%s:%d: line longer than %d bytes" % (path, lineno, inputs.MAX_LINE))
                    continue
                yield lineno, raw, not complete
        except OSError as exc:
            warnings.append("%s: read error after line %d (%s)" % (path, lineno, inputs.error_text(exc)))


def _run_id_of(info, mine):
    rid = (info.header or {}).get("run_id")
    if isinstance(rid, str) and rid:
        return rid
    # the header itself may have been lost (the sink then writes its run id on the error line)
    return next((e["run_id"] for e in mine[:3] if isinstance(e.get("run_id"), str) and e["run_id"]), NO_RUN_ID)


def read_streams(files, warnings, run_id=None):
    """Parse and merge the files: (events in merged order, per-file info, {run id: streams}). Corrupt lines
    become warnings. With ``run_id`` only the streams of that run are merged (others are counted, not read in)."""
    streams, rows, seen, runs = [], [], set(), {}
    for path in files:
        info = StreamInfo(path)
        mine = []
        loads = jsonio.loads
        for lineno, raw, unterminated in _stream_lines(path, info, warnings):
            try:   # fast path first: one strict parse and exact type checks per event
                ev = loads(raw)
                ok = (type(ev) is dict and type(ev.get("kind")) is str and type(ev.get("seq")) is int
                      and type(ev.get("pid")) is int)
            except ValueError:
                ok = False
            if not ok:
                if not raw.strip():
                    continue
                ev, reason = _parse(raw)
                if reason is None:
                    reason = _event_problem(ev)
                if reason is not None:
                    if unterminated:   # no newline after it: the writer was cut off mid-line
                        info.truncated = True
                        warnings.append("%s:%d: truncated last line ignored" % (path, lineno))
                    else:
                        info.corrupt_lines += 1
                        warnings.append("%s:%d: %s" % (path, lineno, reason))
                    continue
            info.events += 1
            if info.header is None and ev["kind"] == "header":
                info.header = ev
            mine.append(ev)
        if mine:   # a stream without a single event belongs to no run (and is reported as it is)
            info.run_id = _run_id_of(info, mine)
            runs[info.run_id] = runs.get(info.run_id, 0) + 1
        if run_id is not None and info.run_id != run_id:
            continue       # another run's stream in this folder: never merged into this run's document
        streams.append(info)
        if mine:
            info.pid = (info.header or mine[0])["pid"]
            t = (info.header or mine[0]).get("t")
            info.start_t = float(t) if isinstance(t, (int, float)) and not isinstance(t, bool) else 0.0
        for ev in mine:
            key = (ev["pid"], ev["seq"], ev["kind"])
            if key in seen:
                info.duplicates += 1
                continue
            seen.add(key)
            rows.append((info.start_t, ev["pid"], ev["seq"], ev))
    rows.sort(key=operator.itemgetter(0, 1, 2))
    events = [r[3] for r in rows]
    for i, ev in enumerate(events):
        ev["_i"] = i       # merged position: "before/after" comparisons across the run
    return events, streams, runs


Streams = collections.namedtuple("Streams", "files events infos warnings runs")
Streams.__doc__ = """What ``read`` found: the files, their merged events, per-file ``StreamInfo``, warnings (one line
each) and ``{run id: stream count}``. ``events`` may be one run's share of them (``segment``)."""


def runs_text(runs):
    return ", ".join("%s (%d stream%s)" % (r, n, "" if n == 1 else "s") for r, n in sorted(runs.items()))


def read(paths, run_id=None, merge_runs=False):
    """The ``Streams`` named by
    ``paths``: ``run_id``'s streams only, or all of them (streams of several runs are refused unless
    ``merge_runs``)."""
    warnings = []
    files = find_stream_files(paths, warnings)
    events, streams, runs = read_streams(files, warnings, run_id=run_id)
    if run_id is None and len(runs) > 1 and not merge_runs:
        raise ReduceError("streams of %d runs: %s; name one run's streams, or pass --merge-runs to merge them"
                          % (len(runs), runs_text(runs)))
    if not events:
        raise ReduceError("no events in %s" % ", ".join(str(f) for f in files))
    return Streams(files, events, streams, warnings, runs)
