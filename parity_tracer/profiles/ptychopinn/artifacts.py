"""Arrays the profile saves next to the streams (``--no-arrays`` turns them off): stitched amplitude / phase, ground
truth, small probe arrays, and on request the train data set as ``raw_data.npz``."""

import os

import numpy as np

from parity_tracer import outputs
from parity_tracer.profiles.ptychopinn import names
from parity_tracer.profiles.ptychopinn.state import as_array


def save_array(state, name, value, source, tag=None, **fields):
    """Save a captured array as .npy in the output directory and announce it.

    ``tag`` tells apart arrays of one name saved per call (file ``<source>-<name>-<tag>.npy``); ``fields`` go
    into the artifact event."""
    agent = state.agent
    if agent is None or not agent.settings.save_arrays:
        return None
    arr = as_array(value)
    if arr is None:
        return None
    folder = outputs.subdir(agent.out_dir, "arrays")
    slug = source.replace("::", ".").replace(names.ROOT + ".", "")
    stem = "%s-%s%s" % (slug, name, "" if tag is None else "-%s" % tag)
    # a repeated call (the next run of a multi-run study) gets its own file: an earlier run's stays as it was
    state.array_calls[stem] = n = state.array_calls.get(stem, 0) + 1
    path = os.path.join(folder, "%s.npy" % stem if n == 1 else "%s-%d.npy" % (stem, n))
    outputs.replace(path, lambda fh: np.save(fh, np.ascontiguousarray(arr), allow_pickle=False))
    state.saved[name] = path
    agent.emit("artifact", name=name + "_npy", path=os.path.relpath(path, agent.out_dir), source=source, **fields)
    return path


def save_raw_data(state, call, arrays):
    """The first (train) simulated data set as ``arrays/raw_data.npz`` for the maintainer bundle (spec §4.1).

    Off by default (``--save-raw-data`` / ``PARITY_TRACER_SAVE_RAW_DATA=1``): at production sizes it is the
    largest thing the tracer could write.
    """
    agent = state.agent
    if agent is None or not agent.settings.save_raw_data or names.RAW_DATA_ARTIFACT in state.saved:
        return
    kept = {}
    for key, value in arrays.items():
        arr = as_array(value)
        if arr is not None:
            kept[key] = np.ascontiguousarray(arr)
    if not kept:
        return
    folder = outputs.subdir(agent.out_dir, "arrays")
    path = os.path.join(folder, "raw_data.npz")
    outputs.replace(path, lambda fh: np.savez(fh, **kept))
    state.saved[names.RAW_DATA_ARTIFACT] = path
    call.emit("artifact", name=names.RAW_DATA_ARTIFACT, path=os.path.relpath(path, agent.out_dir), source=call.source,
              contents=sorted(kept))


def save_ground_truth(state, value, source):
    arr = as_array(value)
    if arr is None:
        return
    arr = np.squeeze(arr)
    if np.iscomplexobj(arr):
        save_array(state, "ground_truth_amp", np.abs(arr), source)
        save_array(state, "ground_truth_phase", np.angle(arr), source)
    else:
        save_array(state, "ground_truth_amp", arr, source)
