"""The one safe wrapper every patch goes through.

Contract (MLflow ``safe_patch`` is the model):
- the original is called exactly once, with the caller's arguments untouched;
- its return value is handed back as the same object, and its exceptions propagate unchanged;
- an exception in tracer code is swallowed, counted and recorded (``PARITY_TRACER_STRICT=1`` re-raises);
- while tracer code runs, a re-entrancy guard lets nested patched calls straight through, so the tracer's own
  work never produces events.
"""

import copy
import operator
import sys
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


def _picklable_by_name(obj, module_name, qualname):
    """True when pickle's by-name lookup of ``module.qualname`` finds ``obj`` itself."""
    target = sys.modules.get(module_name) if isinstance(module_name, str) else None
    if target is None or not isinstance(qualname, str):
        return False
    for part in qualname.split("."):
        target = vars(target).get(part) if hasattr(target, "__dict__") else None
        if target is None:
            return False
    return target is obj


class TracedBoundFunction(wrapt.BoundFunctionWrapper):
    """What ``instance.method`` / ``Class.method`` returns for a patched method: pickles and copies as the
    plain bound method would (``getattr(owner, name)``), instead of wrapt's NotImplementedError."""

    def __reduce_ex__(self, protocol):
        wrapped = self.__wrapped__
        owner = getattr(wrapped, "__self__", None)          # bound method or bound classmethod
        parent = getattr(self, "_self_parent", None)
        point = getattr(parent, "_self_parity_point", None)
        name = point.attr.rsplit(".", 1)[-1] if point is not None else getattr(wrapped, "__name__", None)
        if owner is None and point is not None and "." in point.attr:
            # staticmethod, or a plain function reached through its class: the class holds it
            owner = sys.modules.get(point.module)
            for part in point.attr.split(".")[:-1]:
                owner = vars(owner).get(part) if owner is not None and hasattr(owner, "__dict__") else None
        if owner is None or not name:
            raise TypeError("cannot pickle %r" % (wrapped,))
        return getattr, (owner, name)

    def __reduce__(self):
        return self.__reduce_ex__(2)

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        func, (owner, name) = self.__reduce_ex__(4)
        if isinstance(owner, type):
            return self
        return func(copy.deepcopy(owner, memo), name)       # as copy.deepcopy treats a bound method


class TracedFunction(wrapt.FunctionWrapper):
    """Marks our wrappers so that patching twice is a no-op and tests can find every patch.

    A patched function pickles and copies like the function it replaces (wrapt #47, #158: a plain
    ``FunctionWrapper`` refuses both, which would break ``multiprocessing`` targets, ``Pool.map`` and
    ``copy.deepcopy`` of anything holding a patched function). Pickling is by reference: the receiving process
    resolves the name itself (to its own wrapper when it is traced too, to the original otherwise), so it needs
    nothing of ours.
    """

    __bound_function_wrapper__ = TracedBoundFunction

    def __init__(self, wrapped, wrapper, point):
        super().__init__(wrapped, wrapper, enabled=is_enabled)
        self._self_parity_point = point

    def __reduce_ex__(self, protocol):
        wrapped = self.__wrapped__
        module_name = getattr(wrapped, "__module__", None)
        qualname = getattr(wrapped, "__qualname__", None)
        if _picklable_by_name(self, module_name, qualname):
            return qualname          # pickle's "global by name", exactly what it does for the plain function
        # patched where it is re-exported, not where it is defined: the original is still found by its name
        return operator.itemgetter(0), ([wrapped],)

    def __reduce__(self):
        return self.__reduce_ex__(2)

    def __copy__(self):
        return self                  # functions are immutable: copy returns the same object

    def __deepcopy__(self, memo):
        return self


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
        except BaseException as exc:  # never let our preamble stop the call (only the user's Ctrl-C does)
            if isinstance(exc, KeyboardInterrupt):
                raise
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
    except BaseException as err:
        if isinstance(err, KeyboardInterrupt):
            raise
        recorder.failed("capture", point, err)
    finally:
        _tls.busy = False
