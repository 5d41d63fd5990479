"""Reusing the statistics of a value summarized before, only where it provably has not changed since.

Pipelines hand the same data to several capture points (the grid simulator's output is both
``raw_diffraction`` and ``grouped_diffraction``; the probe tensor goes to ``set_probe``, the containers and
every cfg snapshot). A wrong cached number is worse than a slow right one, and numpy keeps no record of
writes: a fingerprint that would notice any in-place change has to read every byte, which costs about
what the statistics cost. So reuse follows two narrow rules that need no fingerprint:

* **Immutable values** (TensorFlow ``EagerTensor``: its buffer cannot be written from Python; ``np.asarray``
  of it is read-only): the same object, checked through a weak reference, has the same content for its
  whole life. Kept across capture points (bounded in number; nothing of the value is kept alive).
* **Anything else** (numpy arrays): the same buffer (data address, shape, strides, dtype) summarized again
  within one pass of tracer code, i.e. before any host code has run, while the first array is still alive
  (a weak reference: a new array at a freed address is not a hit). Dropped when the pass ends, so an
  in-place change between two capture points is always seen.
"""

import threading
import weakref

import numpy as np

from parity_tracer import forksafe, stats

MAX_IMMUTABLE = 256


def _is_immutable(value):
    tp = type(value)
    return tp.__name__ == "EagerTensor" and (getattr(tp, "__module__", "") or "").startswith("tensorflow")


def _buffer_key(a):
    return (a.__array_interface__["data"][0], a.shape, a.strides, a.dtype.str)


def _copy(summary):
    """A copy for the caller (nested dicts too): a cached summary is never shared with an event."""
    return {k: dict(v) if isinstance(v, dict) else v for k, v in summary.items()}


def _reusable(summary):
    return "error" not in summary and not summary.get("unsupported") and not summary.get("symbolic")


class SummaryCache:
    def __init__(self, summarize=None):
        self._summarize = summarize or stats.summarize
        self._immutable = {}          # id(value) -> (weakref to value, summary)
        self._lock = threading.Lock()
        self._local = threading.local()
        self.hits = 0
        self.misses = 0
        _LIVE.add(self)

    def _after_fork(self):
        self._lock = threading.Lock()     # another thread may have held it at fork time

    def summarize(self, value):
        if _is_immutable(value):
            return self._summarize_immutable(value)
        a = stats.to_array(value)
        if type(a) is not np.ndarray or a is not value:
            # converted from something else (a list, a tensor-like): a fresh array each time, no identity
            self.misses += 1
            return self._summarize(value)
        key = _buffer_key(a)
        entries = getattr(self._local, "entries", None)
        if entries is None:
            entries = self._local.entries = {}
        entry = entries.get(key)
        if entry is not None and entry[0]() is not None:
            self.hits += 1
            return _copy(entry[1])
        self.misses += 1
        summary = self._summarize(a)
        if _reusable(summary):
            entries[key] = (weakref.ref(a), summary)
        return _copy(summary)

    def _summarize_immutable(self, value):
        key = id(value)
        entry = self._immutable.get(key)
        if entry is not None and entry[0]() is value:
            self.hits += 1
            return _copy(entry[1])
        self.misses += 1
        summary = self._summarize(value)
        if _reusable(summary):
            try:
                ref = weakref.ref(value, lambda _, key=key, cache=self._immutable: cache.pop(key, None))
            except TypeError:
                return summary
            with self._lock:
                if len(self._immutable) >= MAX_IMMUTABLE:
                    self._immutable.pop(next(iter(self._immutable)), None)   # the oldest
                self._immutable[key] = (ref, summary)
            return _copy(summary)
        return summary

    def end_pass(self):
        """Host code is about to run again on this thread: forget the buffers of mutable values."""
        entries = getattr(self._local, "entries", None)
        if entries:
            entries.clear()


_LIVE = forksafe.Instances(SummaryCache._after_fork)
