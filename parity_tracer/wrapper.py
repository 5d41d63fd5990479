"""The one safe wrapper every patch goes through.

Contract (MLflow ``safe_patch`` is the model):
- the original is called exactly once, with the caller's arguments untouched;
- its return value is handed back as the same object, and its exceptions propagate unchanged;
- an exception in tracer code is swallowed, counted and recorded (``PARITY_TRACER_STRICT=1`` re-raises);
- while tracer code runs, a re-entrancy guard lets nested patched calls straight through, so the tracer's own
  work never produces events.
"""

import threading

import wrapt

_tls = threading.local()
_enabled = False


def set_enabled(value: bool) -> None:
    global _enabled
    _enabled = bool(value)


def is_enabled() -> bool:
    # wrapt checks this before entering the wrapper: the disabled path costs one call, not a wrapper frame.
    return _enabled


class TracedFunction(wrapt.FunctionWrapper):
    """Marks our wrappers so that patching twice is a no-op and tests can find every patch."""

    def __init__(self, wrapped, wrapper, point):
        super().__init__(wrapped, wrapper, enabled=is_enabled)
        self._self_parity_point = point

    @property
    def parity_point(self):
        return self._self_parity_point


def in_tracer_code() -> bool:
    return getattr(_tls, "busy", False)


class _Busy:
    """Marks tracer code on this thread; nested patched calls then go straight to the original."""

    __slots__ = ("prev",)

    def __enter__(self):
        self.prev = getattr(_tls, "busy", False)
        _tls.busy = True

    def __exit__(self, *exc):
        _tls.busy = self.prev
        return False


busy = _Busy


def context_stack():
    stack = getattr(_tls, "stack", None)
    if stack is None:
        stack = _tls.stack = []
    return stack


def make_wrapper(point, recorder):
    """Build the wrapt wrapper function for one capture point."""

    def wrapper(wrapped, instance, args, kwargs):
        if getattr(_tls, "busy", False):
            return wrapped(*args, **kwargs)
        call = None
        _tls.busy = True
        try:
            call = recorder.begin(point, instance, args, kwargs)
        except Exception as exc:  # never let our preamble stop the call
            recorder.failed("capture", point, exc)
        finally:
            _tls.busy = False
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            if call is not None:
                _finish(recorder, point, call, None, exc)
            raise
        if call is not None:
            _finish(recorder, point, call, result, None)
        return result

    return wrapper


def _finish(recorder, point, call, result, exc):
    _tls.busy = True
    try:
        recorder.end(call, result, exc)
    except Exception as err:
        recorder.failed("capture", point, err)
    finally:
        _tls.busy = False
