"""What to record: the ``Call`` a handler sees, and the recorder that turns calls into events.

Handlers are plain functions ``handler(call)``. They read the call's arguments and result, and emit events
through ``call.emit`` / ``call.stage``. Anything they raise is caught by the recorder and recorded as a
``tracer_error`` event; the host never sees it.
"""

import inspect
import itertools
import os
import threading
import traceback

from parity_tracer import faults, forksafe, wrapper
from parity_tracer.statcache import SummaryCache
from parity_tracer.targets import resolve_handler

_call_ids = itertools.count(1)


class Call:
    """One traced call: arguments as the caller passed them, then the result or the exception."""

    __slots__ = ("point", "instance", "args", "kwargs", "result", "exception", "call_id", "parents",
                 "recorder", "scratch", "_bound")

    def __init__(self, point, instance, args, kwargs, recorder, parents):
        self.point = point
        self.instance = instance
        self.args = args
        self.kwargs = kwargs
        self.result = None
        self.exception = None
        self.call_id = next(_call_ids)
        self.parents = parents          # the traced calls this one runs inside, outermost first
        self.recorder = recorder
        self.scratch = {}     # handler state carried from ``before`` to ``after``
        self._bound = None

    @property
    def source(self):
        return self.point.canonical

    @property
    def context(self):
        return [c.point.canonical for c in self.parents]

    def enclosing(self, *sources):
        """The innermost enclosing traced call with one of these canonical names, or None."""
        for parent in reversed(self.parents):
            if parent.point.canonical in sources:
                return parent
        return None

    def arg(self, name, index=None, default=None):
        """An argument by name, whether it came positionally or by keyword (never copied)."""
        if name in self.kwargs:
            return self.kwargs[name]
        if self._bound is None:
            self._bound = _bind(self)
        if name in self._bound:
            return self._bound[name]
        if index is not None and index < len(self.args):
            return self.args[index]
        return default

    def emit(self, kind, **fields):
        fields.setdefault("context", self.context)
        fields.setdefault("call_id", self.call_id)
        self.recorder.emit(kind, fields)

    def stage(self, name, value, *, metadata=None, role=None, equivalent=False, note=None, source=None):
        """Emit a ``stage`` event with the statistics of ``value``."""
        self.emit("stage", stage=name, source=source or self.source, stats=self.recorder.summarize(value, self),
                  metadata=metadata or {}, role=role, equivalent=bool(equivalent), note=note,
                  call_index=self.recorder.call_index(self.source))

    def option(self, key, default=None):
        return self.point.option(key, default)


def _bind(call):
    """Map positional arguments to parameter names without touching the values."""
    try:
        sig = inspect.signature(call.recorder.original_of(call.point))
    except (TypeError, ValueError):
        return {}
    names = []
    for param in sig.parameters.values():
        if param.kind not in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            break  # *args: positions beyond here have no names
        names.append(param.name)
    if call.instance is not None and names and names[0] in ("self", "cls"):
        names = names[1:]
    return dict(zip(names, call.args))


class Recorder:
    """Runs handlers, computes statistics and hands events to the sink, counting every failure of ours."""

    def __init__(self, sink, strict=False):
        self.sink = sink
        self.strict = strict
        self.errors = {}
        self._counts = {}
        self._originals = {}
        self._lock = threading.Lock()
        self.summaries = SummaryCache()
        # callables ``observer(call, phase)`` run as every traced call begins and ends (e.g. watching a dict)
        self.observers = []
        self.handler_state = None     # the active profile's state, for its handlers
        self._handlers = {}           # "module:function" -> the handler, resolved once
        _LIVE.add(self)

    def _after_fork(self):
        # in a forked child: another thread may have held the lock; the errors were the parent's (its footer has them)
        self._lock = threading.Lock()
        self.errors = {}

    def bind_handler(self, ref, fn):
        """Run ``fn`` for the handler ``ref`` instead of importing it (a handler owned by an object)."""
        self._handlers[ref] = fn

    def handler(self, ref):
        if not ref:
            return None
        fn = self._handlers.get(ref)
        if fn is None:
            fn = self._handlers[ref] = resolve_handler(ref)
        return fn

    # -- bookkeeping ---------------------------------------------------------------------------------------
    def register_original(self, point, original):
        self._originals[point.canonical] = original

    def original_of(self, point):
        return self._originals.get(point.canonical)

    def call_index(self, source):
        with self._lock:
            n = self._counts.get(source, 0)
        return n

    def failed(self, layer, point, exc):
        """Count and record one failure of ours; re-raise only in strict (test) mode."""
        with self._lock:
            self.errors[layer] = self.errors.get(layer, 0) + 1
        try:
            self.sink.write("tracer_error", {
                "layer": layer, "target": getattr(point, "canonical", point), "error": type(exc).__name__,
                "message": _short(exc), "where": _where(exc)})
        except Exception:
            pass
        if self.strict and isinstance(exc, Exception):
            raise exc

    # -- the call protocol used by the wrapper -------------------------------------------------------------
    def begin(self, point, instance, args, kwargs):
        faults.check("capture")
        stack = wrapper.context_stack()
        call = Call(point, instance, args, kwargs, self, tuple(stack))
        stack.append(call)
        with self._lock:
            self._counts[point.canonical] = self._counts.get(point.canonical, 0) + 1
        try:
            self._observe(call, "begin")
            try:
                before = self.handler(point.before)
                if before is not None:
                    before(call)
            except BaseException as exc:
                self._contain(point, exc)
        finally:
            self.summaries.end_pass()
        return call

    def end(self, call, result, exc):
        stack = wrapper.context_stack()
        for i in range(len(stack) - 1, -1, -1):
            if stack[i] is call:
                del stack[i:]
                break
        call.result = result
        call.exception = exc
        try:
            if exc is None and call.point.after:
                try:
                    after = self.handler(call.point.after)
                    if after is not None:
                        after(call)
                except BaseException as err:
                    self._contain(call.point, err)
            self._observe(call, "end")
        finally:
            self.summaries.end_pass()

    def _contain(self, point, exc):
        """A handler's own exception, ``SystemExit`` included, is counted and recorded, never the host's. Only
        KeyboardInterrupt goes on: it is the user's Ctrl-C, which must interrupt the program as it would untraced."""
        if isinstance(exc, KeyboardInterrupt):
            raise exc
        self.failed("capture", point, exc)

    def _observe(self, call, phase):
        for observer in self.observers:
            try:
                observer(call, phase)
            except BaseException as err:
                self._contain(call.point, err)

    # -- helpers for handlers ------------------------------------------------------------------------------
    def summarize(self, value, call=None):
        try:
            faults.check("stats")
            return self.summaries.summarize(value)
        except Exception as exc:
            self.failed("stats", call.point if call is not None else None, exc)
            return {"error": type(exc).__name__}

    def emit(self, kind, fields):
        self.sink.write(kind, fields)


_LIVE = forksafe.Instances(Recorder._after_fork)


def _short(exc):
    text = "%s" % (exc,)
    return text if len(text) <= 300 else text[:297] + "..."


def _where(exc):
    tb = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    if not tb:
        return None
    frame = tb[-1]
    return "%s:%d" % (os.path.basename(frame.filename), frame.lineno)


# -- generic handlers, usable from a --targets JSON file -----------------------------------------------------------

def record_result(call):
    """A ``stage`` event with the statistics of the return value (option ``stage`` names it)."""
    call.stage(call.option("stage") or call.source, call.result)


def record_arguments(call):
    """A ``stage`` event per array-like argument (option ``stage`` is the name prefix)."""
    prefix = call.option("stage") or call.source
    named = dict(_bind(call))
    named.update(call.kwargs)
    for name, value in named.items():
        if hasattr(value, "shape") and hasattr(value, "dtype"):
            call.stage("%s.%s" % (prefix, name), value)


# The handlers a --targets file may name (``parity_tracer.capture:<name>``); nothing else of this module is reachable.
HANDLERS = {"record_result": record_result, "record_arguments": record_arguments}
