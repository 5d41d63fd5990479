"""Handlers for training: the model's inputs and labels, the Keras history of each fit, the saved model."""

import math
import os

from parity_tracer.profiles.ptychopinn import names, state as st
from parity_tracer.profiles.ptychopinn.state import first, meta

LABELS_NOTE = "whole-array statistics of the labels passed to fit (the spec says first batch)"


def before_model_train(call):
    call.emit("config", when="training_start", cfg=st.cfg_snapshot(st.of(call)), dataclass=None)


def after_prepare_inputs(call):
    X = first(call.result, 0)
    call.stage("training_inputs_X", X, metadata=meta(st.of(call), X), role="train")


def after_prepare_outputs(call):
    state = st.of(call)
    amp, intensity = first(call.result, 1), first(call.result, 2)
    call.stage("training_labels_Y_amp", amp, metadata=meta(state, amp), role="train", note=LABELS_NOTE)
    call.stage("training_labels_Y_I", intensity, metadata=meta(state, intensity), role="train", note=LABELS_NOTE)


def _history_event(call, history, callbacks=()):
    logs = getattr(history, "history", None)
    if not isinstance(logs, dict):
        return
    series = {str(k): [_finite_or_none(v) for v in vals] for k, vals in logs.items() if isinstance(vals, list)}
    epochs = len(getattr(history, "epoch", []) or next(iter(series.values()), []))
    first_nan = None
    for key, vals in series.items():
        for i, v in enumerate(vals):
            if v is None and (first_nan is None or i < first_nan):
                first_nan = i
    stopper = next((cb for cb in callbacks or () if type(cb).__name__ == "EarlyStopping"), None)
    stopped_epoch = int(getattr(stopper, "stopped_epoch", 0) or 0) if stopper is not None else 0
    call.emit("training", source=call.source, epochs_completed=epochs, history=series,
              early_stopped=stopped_epoch > 0, early_stop_epoch=stopped_epoch if stopped_epoch > 0 else None,
              nan_detected=first_nan is not None, first_nan_epoch=first_nan,
              final_loss=_last(series.get("loss")), final_val_loss=_last(series.get("val_loss")),
              pinn=call.enclosing(names.MODEL_TRAIN) is not None or call.source == names.MODEL_TRAIN)


def _finite_or_none(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _last(values):
    return values[-1] if values else None


def after_fit(call):
    callbacks = call.arg("callbacks", 5)
    _history_event(call, call.result, callbacks if isinstance(callbacks, (list, tuple)) else ())


def after_model_train(call):
    if call.recorder.call_index(names.KERAS_FIT) == 0 and call.recorder.call_index(names.TF_KERAS_FIT) == 0:
        _history_event(call, call.result)


def after_model_save(call):
    prefix = call.arg("out_prefix", 0)
    if prefix is None:
        return
    prefix = os.path.abspath(os.fspath(prefix))
    stem = str(st.of(call).cfg().get(names.CFG.h5_path) or "")
    entries = sorted(e for e in os.listdir(prefix) if e.startswith(stem)) if os.path.isdir(prefix) else []
    call.emit("artifact", name="checkpoint", path=prefix, source=call.source,
              entries=[os.path.join(prefix, e) for e in entries])
