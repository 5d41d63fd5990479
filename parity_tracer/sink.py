"""The per-process JSONL stream.

One file per process, one event per line, each line written by a single ``os.write`` on an ``O_APPEND``
descriptor as soon as it is made: a killed process leaves every completed event readable. A forked child
notices the pid change and opens a file of its own (``os.register_at_fork`` also resets the lock, which another
thread may have held at fork time, and the error counters, which are the parent's). A write cut short (disk
full) leaves one corrupt line; the next event starts a line of its own. Directories are created 0o755 and
streams 0o644 whatever the umask.
"""

import os
import sys
import threading
import time

from parity_tracer import faults, forksafe, jsonio, outputs
from parity_tracer.settings import RUN_ID_ENV

STREAM_FORMAT = "parity-tracer-stream/1"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class SinkUnavailable(RuntimeError):
    """The output directory cannot be written; the program then runs untraced."""


class Sink:
    def __init__(self, out_dir, header_fields):
        self.out_dir = os.path.abspath(out_dir)
        self.stream_dir = os.path.join(self.out_dir, "streams")
        self.header_fields = dict(header_fields)
        self.errors = {}          # failures of the sink itself (the recorder counts the rest)
        self.events = 0
        self.dropped = 0
        self.path = None
        self._fd = None
        self._pid = None
        self._seq = 0
        self._lock = threading.Lock()
        self._closed = False
        self._partial = False     # a failed write left part of a line: the next write starts a new line
        _LIVE.add(self)

    # -- lifecycle -----------------------------------------------------------------------------------------
    def open(self):
        try:
            outputs.makedirs(self.out_dir)
            outputs.subdir(self.out_dir, "streams")     # a planted symlink here is refused, never followed
            self._open_file()
        except OSError as exc:
            raise SinkUnavailable("cannot write %s: %s" % (self.stream_dir, exc.strerror or exc))

    def _open_file(self):
        pid = os.getpid()
        name = "events-%s-%d-%s.jsonl" % (_host().split(".")[0] or "host", pid, os.urandom(4).hex())
        path = os.path.join(self.stream_dir, name)
        # exclusive and never through a symlink; 0o644 minus the umask: never world-writable
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | _NOFOLLOW | _CLOEXEC,
                           outputs.FILE_MODE)
        self._pid = pid
        self._seq = 0
        self.events = 0
        self.path = path
        header = dict(self.header_fields)
        header.update({"format": STREAM_FORMAT, "ppid": os.getppid()})
        self._write_locked("header", header)

    def _after_fork(self):
        # Runs in a forked child (no logging, no locks here). Another thread may have held the lock at fork
        # time; the counters were the parent's (its footer reports them), the child's footer reports its own.
        self._lock = threading.Lock()
        self.errors = {}
        self.dropped = 0
        self._partial = False

    def close(self, footer_fields=None):
        with self._lock:
            if self._closed or self._fd is None:
                return
            if os.getpid() == self._pid and footer_fields is not None:
                fields = dict(footer_fields)
                fields["events"] = self.events + 1
                fields["dropped"] = self.dropped
                self._write_locked("footer", fields)
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None
            self._closed = True

    # -- writing -------------------------------------------------------------------------------------------
    def write(self, kind, fields):
        """Write one event; never raises (failures are counted and the event is dropped)."""
        try:
            with self._lock:
                if self._closed:
                    self.dropped += 1
                    return
                if os.getpid() != self._pid:
                    self._open_file()   # forked child: its own file, its own header
                self._write_locked(kind, fields)
        except Exception:
            self._count("sink")
            self.dropped += 1

    def _write_locked(self, kind, fields):
        event = {"kind": kind, "seq": self._seq, "t": time.time(), "pid": self._pid}
        event.update(fields)
        try:
            faults.check("serialize")
            line = jsonio.dumps(event) + b"\n"
        except Exception as exc:
            self._count("serialize")
            line = jsonio.dumps({"kind": "tracer_error", "seq": self._seq, "t": event["t"], "pid": self._pid,
                                 "layer": "serialize", "target": fields.get("source") or fields.get("target"),
                                 "error": type(exc).__name__, "message": "event of kind %r dropped" % kind,
                                 # the stream still says which run it belongs to when its header is lost
                                 "run_id": fields.get("run_id") if kind == "header" else None}) + b"\n"
        faults.check("sink")
        view = memoryview(b"\n" + line if self._partial else line)
        size = len(view)
        try:
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
        except BaseException:
            # disk full (or a signal handler raising) mid-line: the cut line stays corrupt, the next one is whole
            self._partial = self._partial or len(view) < size
            raise
        self._partial = False
        self._seq += 1
        self.events += 1

    def _count(self, layer):
        self.errors[layer] = self.errors.get(layer, 0) + 1

_LIVE = forksafe.Instances(Sink._after_fork)     # one os.register_at_fork for every Sink


def _host():
    # os.uname is what socket.gethostname reads on POSIX; socket (and uuid, which imports platform) cost
    # start-up in every traced process
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket
    return socket.gethostname()


def header_fields(settings, argv, profile=None):
    """What a stream's header says about the process, without importing anything new (``profile``: the name of
    the profile in use, which is the generic one for a targets file whatever the settings name)."""
    packages = {}
    for name in ("numpy", "wrapt", "orjson", "tensorflow", "keras", "tf_keras"):
        mod = sys.modules.get(name)
        version = getattr(mod, "__version__", None) if mod is not None else None
        if version is None and name == "wrapt" and mod is not None:
            version = getattr(mod, "__version__", None) or ".".join(map(str, getattr(mod, "version_info", ())[:3]))
        if version:
            packages[name] = str(version)
    from parity_tracer import __version__
    return {
        "run_id": os.environ.get(RUN_ID_ENV),
        "argv": list(argv),
        "cwd": os.getcwd(),
        "executable": sys.executable,
        "python": "%d.%d.%d" % sys.version_info[:3],
        "packages": packages,
        "tracer_version": __version__,
        "pipeline": settings.pipeline,
        "scenario": settings.scenario,
        "profile": profile or settings.profile,
        "config": settings.public(),
    }
