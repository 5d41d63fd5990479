"""Handlers for the probe: where it comes from, and its statistics before and after ``set_probe`` normalizes it."""

import os

import numpy as np

from parity_tracer.profiles.ptychopinn import artifacts, names, state as st
from parity_tracer.profiles.ptychopinn.state import as_array, summarize_value

# The spec names ``make_probe`` / ``normalize_probe_guess``; neither exists in either branch.
METHOD_MAPPING = {
    "set_default_probe": ("set_default_probe", "%s -> set_probe" % names.SET_DEFAULT_PROBE.replace("::", ".")),
    "set_probe_guess": ("normalize_probe_guess",
                        "normalize_probe_guess -> %s -> set_probe" % names.SET_PROBE_GUESS.replace("::", ".")),
    "set_probe": ("normalize_probe_guess", "normalize_probe_guess -> %s" % names.SET_PROBE.replace("::", ".")),
}
ENTRIES = {names.SET_DEFAULT_PROBE: "set_default_probe", names.SET_PROBE_GUESS: "set_probe_guess"}
PROBE_ARRAY_CALLS = 8                 # set_probe calls whose probe arrays are saved: a loop writes no more files
PROBE_ARRAY_MAX_ELEMENTS = 512 * 512  # "small artifacts": the probe is N x N (64 x 64 in both branches' configs)


def _probe_entry(call):
    for source, name in ENTRIES.items():
        if call.enclosing(source) is not None:
            entry = name
            break
    else:
        entry = "set_probe"
    if call.enclosing(names.CONFIGURE_LEGACY_PARAMS) is not None:
        return entry, "grid_lines_probe_pipeline"
    if call.enclosing(names.TRAIN_PINN_TRAIN, names.TRAIN_PINN_EVAL) is not None:
        return entry, "train_pinn"
    return entry, None


def _probe_numbers(value, cfg):
    """Mask statistics and the norm factor (``names.PROBE_NORM_FORMULA``) that set_probe divides by."""
    arr = as_array(value)
    if arr is None or arr.ndim < 2:
        return None, None
    amp = np.abs(arr.reshape(arr.shape[0], arr.shape[1], -1)[..., 0])
    n = amp.shape[0]
    N = cfg.get(names.CFG.N, n)
    centred = np.arange(N) - N // 2 + 0.5
    x, y = np.meshgrid(centred, centred)
    mask = np.sqrt(x * x + y * y) < N // 4           # ptycho.probe.get_probe_mask(N): used whatever probe.mask says
    nonzero = int(mask.sum())
    mask_stats = {"nonzero_count": nonzero, "total_count": int(mask.size),
                  "coverage_fraction": nonzero / float(mask.size) if mask.size else None}
    scale = cfg.get(names.CFG.probe_scale)
    norm = None
    if scale is not None and mask.shape == amp.shape:
        norm = float(scale) * float((amp * mask).mean())
    return mask_stats, norm


def _cfg_fields(cfg):
    return {"probe_scale": cfg.get(names.CFG.probe_scale), "probe_big": cfg.get(names.CFG.probe_big),
            "probe_mask": cfg.get(names.CFG.probe_mask)}


def before_set_probe(call):
    state = st.of(call)
    probe = call.arg("probe", 0)
    entry, route = _probe_entry(call)
    method, mapping = METHOD_MAPPING[entry]
    cfg = state.cfg()
    mask_stats, norm = _probe_numbers(probe, cfg)
    if entry == "set_default_probe":
        state.probe_origin = {"type": "idealized", "path": None, "checksum": None}
    call.scratch.update(entry=entry, route=route, method=method, mapping=mapping)
    call.emit("probe", phase="pre", entry=entry, route=route, method=method, method_mapping=mapping,
              stats=call.recorder.summarize(probe, call), **_cfg_fields(cfg), mask_stats=mask_stats,
              computed_norm_factor=norm, source=dict(state.probe_origin))
    with state.lock:
        keep = state.probe_saves < PROBE_ARRAY_CALLS
        state.probe_saves += keep
    if keep:
        call.scratch["save_probe"] = _save_probe(state, call, "pre", probe)


def after_set_probe(call):
    state = st.of(call)
    cfg = state.cfg()
    call.emit("probe", phase="post", entry=call.scratch.get("entry"), route=call.scratch.get("route"),
              method=call.scratch.get("method"), method_mapping=call.scratch.get("mapping"),
              stats=call.recorder.summarize(cfg.get(names.CFG.probe), call), **_cfg_fields(cfg),
              source=dict(state.probe_origin))
    if call.scratch.get("save_probe"):
        _save_probe(state, call, "post", cfg.get(names.CFG.probe))


def _save_probe(state, call, phase, value):
    """The probe before / after one set_probe call as a small .npy (a report draws it), tagged with the call."""
    arr = as_array(value)
    if arr is None or arr.size > PROBE_ARRAY_MAX_ELEMENTS:
        return None
    return artifacts.save_array(state, "probe_" + phase, arr, call.source, tag=call.call_id, call_id=call.call_id)


def after_probe_loaded(call):
    state = st.of(call)
    if call.source == names.LOAD_PROBE_GUESS:
        path = call.arg("npz_path", 0)
        path = os.path.abspath(os.fspath(path)) if path is not None else None
        state.probe_origin = {"type": "npz_loaded", "path": path, "checksum": st.sha256(path)}
    else:
        state.probe_origin = {"type": "idealized", "path": None, "checksum": None}
    call.emit("probe", phase="loaded", entry=call.point.attr, stats=call.recorder.summarize(call.result, call),
              source=dict(state.probe_origin))


def after_probe_transform(call):
    steps = call.arg("steps", 1) if call.source == names.APPLY_PROBE_TRANSFORM_PIPELINE else None
    call.emit("probe", phase="transformed", entry=call.point.attr, stats=call.recorder.summarize(call.result, call),
              detail=summarize_value(steps), source=dict(st.of(call).probe_origin))
