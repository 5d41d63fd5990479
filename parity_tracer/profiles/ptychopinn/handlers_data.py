"""Handlers for the data path: raw diffraction (grid simulation, RawData simulation, NPZ files), grouping,
normalization and the data containers."""

import os

import numpy as np

from parity_tracer.profiles.ptychopinn import artifacts, names, state as st
from parity_tracer.profiles.ptychopinn.state import as_array, first, meta, scalar

GRID_GROUPED_NOTE = "grid 'lines' path: the simulator emits grouped, channel-format diffraction directly"
GRID_NORMALIZED_NOTE = ("grid 'lines' path: normalize_data is not called; X is scaled by the simulation's "
                        "intensity_scale inside illuminate_and_diffract")


# -- raw diffraction ---------------------------------------------------------------------------------------------

def before_mk_simdata(call):
    call.scratch["role"] = call.arg("which", 8, "train")
    call.scratch["inner"] = False


def after_mk_simdata(call):
    state = st.of(call)
    result = call.result
    role = call.scratch.get("role", "train")
    X = first(result, 0)
    cache_hit = not call.scratch.get("inner", False)
    m = meta(state, X, None, memo_cache_hit=cache_hit)
    call.stage("raw_diffraction", X, metadata=m, role=role,
               note="memoized simulator: cache hit, inner functions skipped" if cache_hit else None)
    call.stage("grouped_diffraction", X, metadata=m, role=role, equivalent=True, note=GRID_GROUPED_NOTE)
    scale = first(result, 3)
    if scale is not None:
        call.emit("intensity_scale", what="simulation", value=scalar(scale), previous=None, source=call.source,
                  detail={"role": role})
    if role == "train":
        coords = first(result, 6)
        artifacts.save_raw_data(state, call, {"diffraction": X, "Y_I": first(result, 1), "Y_phi": first(result, 2),
                                    "object": first(result, 4), "probe": state.cfg().get(names.CFG.probe),
                                    "coords_nominal": first(coords, 0), "coords_true": first(coords, 1),
                                    "intensity_scale": scale, "norm_Y_I": first(result, 5)})
        call.emit("dataset", type="simulated", path=None, checksum=None, source=call.source,
                  chain="%s: grid 'lines' simulation (disk-memoized)%s" % (
                      names.MK_SIMDATA.replace("::", "."), ", served from the memo cache" if cache_hit else ""))


def after_illuminate_and_diffract(call):
    parent = call.enclosing(names.MK_SIMDATA)
    if parent is not None:
        parent.scratch["inner"] = True
    role = parent.scratch.get("role") if parent is not None else None
    X = first(call.result, 0)
    call.stage("raw_diffraction", X, metadata=meta(st.of(call), X), role=role)


def after_raw_data(call):
    state = st.of(call)
    raw = call.result
    fields = vars(raw) if hasattr(raw, "__dict__") else {}
    diff3d = fields.get(names.DIFF3D)
    call.stage("raw_diffraction", diff3d, metadata=meta(state, diff3d))
    if call.source in (names.FROM_FILE, names.LOAD_DATA):
        path = call.arg("file_path", 0) if call.source == names.LOAD_DATA else call.arg("train_data_file_path", 0)
        path = os.fspath(path) if path is not None else None
        checksum = st.sha256(path)
        path = os.path.abspath(path) if path else None
        call.emit("dataset", type="npz_file", path=path, checksum=checksum, source=call.source,
                  chain="%s(%s)" % (call.point.attr, path))
        # the probe the run normalizes comes from the data file; the train file is loaded first, so it wins
        if names.PROBE_GUESS in fields and state.probe_origin.get("type") != "npz_loaded":
            state.probe_origin = {"type": "npz_loaded", "path": path, "checksum": checksum}
    else:
        call.emit("dataset", type="simulated", path=None, checksum=None, source=call.source,
                  chain="RawData.from_simulation: patches of objectGuess illuminated by probeGuess")
        artifacts.save_raw_data(state, call, {k: fields.get(k) for k in names.RAW_DATA_FIELDS})
        obj = call.arg(names.OBJECT_GUESS, 3)
        if obj is not None:
            artifacts.save_ground_truth(state, obj, call.source)


# -- grouping, normalization, container -------------------------------------------------------------------------

def after_generate_grouped_data(call):
    state = st.of(call)
    dset = call.result
    diff = dset.get("diffraction") if isinstance(dset, dict) else None
    # nsamples means "groups" on main but "samples per scan point" on legacy: the group count is the result's
    m = meta(state, diff, call, K=call.arg("K", 1), nsamples=call.arg("nsamples", 2))
    m["group_count"] = m["count"]
    m["group_limit"] = m["nsamples"]
    coords = _coordinates(state, call, dset) if isinstance(dset, dict) else None
    if coords:
        m["coordinates"] = coords
    call.stage("pre_normalization_diffraction", diff, metadata=m)
    call.stage("grouped_diffraction", diff, metadata=m)


def _coordinates(state, call, dset):
    """Statistics of the grouping's coordinates and the sign that relates ``coords_relative`` to the neighbours.

    ``coords_relative = local_offset_sign * (coords_nn - coords_offsets)`` (``ptycho/raw_data.py``); the sign is
    measured from the arrays (least squares) and the module constant is read too, so a flipped convention shows by
    itself.
    """
    out = {}
    for key in ("coords_relative", "coords_offsets", "coords_nn"):
        if dset.get(key) is not None:
            out[key] = call.recorder.summarize(dset.get(key), call)
    rel, nn, off = (as_array(dset.get(k)) for k in ("coords_relative", "coords_nn", "coords_offsets"))
    if rel is not None and nn is not None and off is not None:
        try:
            spread = np.asarray(nn, dtype=np.float64) - np.asarray(off, dtype=np.float64)
            denom = float((spread * spread).sum())
            if denom > 0 and spread.shape == rel.shape:
                out["relative_sign"] = float((np.asarray(rel, dtype=np.float64) * spread).sum()) / denom
        except (ValueError, TypeError):
            pass
    module = state.module(names.RAW_DATA)
    sign = vars(module).get(names.LOCAL_OFFSET_SIGN) if module is not None else None
    if isinstance(sign, (int, float)) and not isinstance(sign, bool):
        out["local_offset_sign"] = sign
    return out


def after_normalize_data(call):
    call.stage("grouped_X_full", call.result, metadata=meta(st.of(call), call.result))


def after_generate_data(call):
    state = st.of(call)
    result = call.result
    X_train = first(result, 0)
    if call.recorder.call_index(names.RAW_NORMALIZE_DATA) == 0:
        call.stage("grouped_X_full", X_train, metadata=meta(state, X_train), role="train", equivalent=True,
                   note=GRID_NORMALIZED_NOTE)
    gt = first(result, 6)
    if gt is not None:
        artifacts.save_ground_truth(state, gt, call.source)


def after_container_init(call):
    role = None
    maker = call.enclosing(names.CREATE_PTYCHO_DATASET)
    loader = call.enclosing(names.LOADER_LOAD)
    if maker is not None:
        n = maker.scratch.get("containers", 0)
        maker.scratch["containers"] = n + 1
        role = "train" if n == 0 else "test"
    elif loader is not None:
        role = loader.arg("which", 2)
    X = call.arg("X", 0)
    m = meta(st.of(call), X)
    call.stage("container_X", X, metadata=m, role=role)
    for name, index in (("Y_I", 1), ("Y_phi", 2), ("norm_Y_I", 3), ("coords_nominal", 5), ("probeGuess", 10)):
        call.stage("container_" + name, call.arg(name, index), metadata=m, role=role)
