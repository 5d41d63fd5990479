"""The profile's per-activation state (one object per set-up, reset by the profile's teardown) and the reading of
the target's state without side effects: module globals through ``vars(module)``, never ``getattr`` (main's
``ptycho.model`` builds a model on a lazy attribute access)."""

import hashlib
import os
import sys
import threading

import numpy as np

from parity_tracer import forksafe, inputs, stats
from parity_tracer.profiles.ptychopinn import names

UNSET = object()


class State:
    def __init__(self, agent):
        self.agent = agent
        self.lock = threading.Lock()
        self.seed_order = 0
        self.last_intensity_scale = UNSET
        self.probe_origin = {"type": "custom", "path": None, "checksum": None}
        self.saved = {}          # artifact name -> path of the last array saved under it
        self.array_calls = {}    # array file stem -> arrays saved under it so far
        self.probe_saves = 0     # set_probe calls whose probe arrays were saved
        _LIVE.add(self)

    def _after_fork(self):
        self.lock = threading.Lock()     # another thread may have held it at fork time

    def module(self, canonical):
        """The loaded module of a canonical PtychoPINN name (under the agent's module prefix), or None."""
        return sys.modules.get(self.agent.module_name(canonical) if self.agent is not None else canonical)

    def cfg(self):
        params = self.module(names.PARAMS)
        cfg = vars(params).get(names.CFG_DICT) if params is not None else None
        return cfg if isinstance(cfg, dict) else {}

    def note_probe_origin(self, kind, path=None):
        path = os.path.abspath(os.fspath(path)) if path is not None else None
        self.probe_origin = {"type": kind, "path": path, "checksum": sha256(path) if path else None}


_LIVE = forksafe.Instances(State._after_fork)


def of(call):
    """The state of the profile that set up the agent tracing this call."""
    return call.recorder.handler_state


# -- reading values ------------------------------------------------------------------------------------------------

def as_array(value):
    arr = stats.to_array(value)
    return arr if isinstance(arr, np.ndarray) else None


def first(value, index):
    if isinstance(value, (tuple, list)) and len(value) > index:
        return value[index]
    return None


def count(value):
    shape = getattr(value, "shape", None)
    try:
        return int(shape[0]) if shape is not None and len(shape) else None
    except (TypeError, ValueError):
        return None


def gridsize(state, call=None):
    if call is not None:
        gs = call.arg("gridsize")
        if gs is not None:
            return gs
    return state.cfg().get(names.CFG.gridsize)


def meta(state, value, call=None, **extra):
    out = {"count": count(value), "gridsize": gridsize(state, call), "group_limit": None}
    out.update(extra)
    return out


def scalar(value):
    arr = as_array(value)
    if arr is None or arr.size != 1:
        return None
    v = arr.reshape(-1)[0]
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def sha256(path):
    try:
        digest = hashlib.sha256()
        with inputs.open_regular(path) as fh:     # never a FIFO the program is about to read, nor a device
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    except (OSError, TypeError):
        return None


def summarize_value(value, depth=0):
    """JSON-friendly summary of a cfg value: scalars as they are, arrays/tensors as statistics, others by repr."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item() if value.size == 1 else repr(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, dict) and depth < 2:
        return {str(k): summarize_value(v, depth + 1) for k, v in list(value.items())[:64]}
    if isinstance(value, (list, tuple)) and depth < 2 and len(value) <= 32:
        return [summarize_value(v, depth + 1) for v in value]
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return {"summary": stats.summarize(value)}
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def cfg_snapshot(state):
    return {str(k): summarize_value(v) for k, v in list(state.cfg().items())}
