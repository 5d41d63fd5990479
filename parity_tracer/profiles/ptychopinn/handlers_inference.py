"""Handlers for inference and stitching: the model's output patches, the stitched object (amplitude and phase
statistics and arrays), the simulated ground truth."""

import os

import numpy as np

from parity_tracer.profiles.ptychopinn import artifacts, names, state as st
from parity_tracer.profiles.ptychopinn.state import as_array, count, gridsize, meta, scalar

RAW_PREDICTION_NOTE = "model output patches before stitching"
# stitchers whose second positional argument is norm_Y_I
NORM_SECOND = (names.STITCH_PREDICTIONS, names.REASSEMBLE)


def after_eval(call):
    state = st.of(call)
    result = call.result
    if not isinstance(result, dict):
        return
    obj = result.get("reconstructed_obj")
    stitched = result.get("stitched_obj")
    m = {"count": count(obj), "gridsize": gridsize(state), "group_limit": count(obj), "predictions": count(obj)}
    call.stage("inference_raw_prediction", obj, metadata=m, note=RAW_PREDICTION_NOTE)
    if stitched is not None:
        _inference(state, call, stitched, m, part="complex")
    elif obj is not None:
        # main's stitch_data refuses gridsize 1 and eval then returns stitched_obj None: the model output
        # patches are all there is, so their amplitude plays the stage's role
        note = "no stitched object (stitching returned None): amplitude of the model output patches"
        arr = as_array(obj)
        amp = np.abs(arr) if arr is not None else None
        call.stage("inference_prediction", amp, metadata=m, equivalent=True, note=note)
        call.emit("inference", source=call.source, part="patches", stitched_shape=None,
                  amplitude=call.recorder.summarize(amp, call),
                  phase=call.recorder.summarize(np.angle(arr) if arr is not None else None, call),
                  group_limit=m["group_limit"], predictions=m["predictions"], norm_Y_I=None, artifacts={},
                  note=note)


def after_stitch(call):
    part = call.arg("part", 2)
    if call.source == names.REASSEMBLE_POSITION:
        part = "complex"
    predictions = count(call.args[0] if call.args else None)
    norm = call.arg("norm_Y_I", 1 if call.source in NORM_SECOND else None)
    m = {"count": count(call.result), "gridsize": gridsize(st.of(call)), "group_limit": predictions,
         "predictions": predictions}
    _inference(st.of(call), call, call.result, m, part=part or "amp",
               norm_Y_I=scalar(norm) if norm is not None else None)


def after_run_pinn_inference(call):
    call.stage("inference_raw_prediction", call.result, metadata=meta(st.of(call), call.result),
               note=RAW_PREDICTION_NOTE)


def _inference(state, call, stitched, m, part, norm_Y_I=None):
    arr = as_array(stitched)
    if arr is None:
        return
    amp = phase = None
    if np.iscomplexobj(arr):
        amp, phase = np.abs(arr), np.angle(arr)
    elif part == "phase":
        phase = arr
    else:
        amp = arr
    shape = [int(s) for s in arr.shape]
    squeezed = [s for s in shape if s != 1] or shape[-2:]
    saved = {}
    if amp is not None:
        call.stage("inference_prediction", amp, metadata=m, note="amplitude of the stitched object (%s)" % part)
        saved["amplitude_npy"] = artifacts.save_array(state, "amplitude", np.squeeze(amp), call.source)
    if phase is not None:
        saved["phase_npy"] = artifacts.save_array(state, "phase", np.squeeze(phase), call.source)
    call.emit("inference", source=call.source, part=part, stitched_shape=squeezed[-2:],
              amplitude=call.recorder.summarize(amp, call) if amp is not None else None,
              phase=call.recorder.summarize(phase, call) if phase is not None else None,
              group_limit=m.get("group_limit"), predictions=m.get("predictions"), norm_Y_I=norm_Y_I,
              artifacts={k: os.path.relpath(v, state.agent.out_dir) for k, v in saved.items() if v})


def after_simulate_grid_data(call):
    result = call.result
    test = result.get("test") if isinstance(result, dict) else None
    gt = test.get("YY_ground_truth") if isinstance(test, dict) else None
    if gt is not None:
        artifacts.save_ground_truth(st.of(call), gt, call.source)
