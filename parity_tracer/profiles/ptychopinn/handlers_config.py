"""Handlers for the configuration (``params.cfg`` snapshots), the intensity scale and its every ``cfg`` write, and
the seeds, wherever they are set."""

import math

from parity_tracer.profiles.ptychopinn import names, state as st
from parity_tracer.profiles.ptychopinn.state import UNSET, scalar, summarize_value


def after_calculate_intensity_scale(call):
    cfg = st.of(call).cfg()
    call.emit("intensity_scale", what="calculated", value=scalar(call.result), previous=None, source=call.source,
              detail={"formula": names.FALLBACK_SCALE_FORMULA, "nphotons": cfg.get(names.CFG.nphotons),
                      "N": cfg.get(names.CFG.N)})


def watch_intensity_scale(state):
    """An observer of every traced call: each write to cfg['intensity_scale'], attributed to the innermost traced
    call that contained it.

    Looked at as each traced call begins and ends: a change seen when a call begins was made by the code around
    it (its innermost traced parent); a change seen when it ends was made inside it.
    """
    def observe(call, phase):
        value = state.cfg().get(names.CFG.intensity_scale, UNSET)
        if value is UNSET or value is state.last_intensity_scale:
            return
        current = scalar(value)
        previous = state.last_intensity_scale
        previous = None if previous is UNSET else scalar(previous)
        state.last_intensity_scale = value
        if current == previous and previous is not None:
            return
        if phase == "begin":
            source = call.parents[-1].source if call.parents else "<top-level code>"
        else:
            source = call.source
        call.emit("intensity_scale", what="cfg_write", value=current, previous=previous, source=source, detail=None)
    return observe


def after_update_legacy_dict(call):
    obj = call.arg("dataclass_obj", 1)
    call.emit("config", when="update_legacy_dict", cfg=st.cfg_snapshot(st.of(call)), dataclass=_dataclass_summary(obj))


def _dataclass_summary(obj, depth=0):
    fields = getattr(obj, "__dataclass_fields__", None)
    if not fields:
        return summarize_value(obj)
    out = {"__type__": type(obj).__name__}
    for name in fields:
        value = vars(obj).get(name) if hasattr(obj, "__dict__") else None
        out[name] = _dataclass_summary(value, depth + 1) if depth < 2 else summarize_value(value)
    return out


def emit_model_log_scale(state, emit, source):
    """exp(log_scale) of the model's intensity scaler, read from module state (never through ``getattr``)."""
    model = state.module(names.MODEL)
    if model is None:
        return False
    namespace = vars(model)
    var, where = namespace.get(names.MODEL_LOG_SCALE), "%s.%s" % (names.MODEL, names.MODEL_LOG_SCALE)
    if var is None:
        cache = namespace.get(names.MODEL_LAZY_CACHE)
        var = cache.get(names.MODEL_LOG_SCALE) if isinstance(cache, dict) else None
        where = "%s.%s['%s']" % (names.MODEL, names.MODEL_LAZY_CACHE, names.MODEL_LOG_SCALE)
    value = scalar(var)
    if value is None and callable(getattr(var, "numpy", None)):
        value = scalar(var.numpy())      # an eager variable read; never a model build
    if value is None:
        return False
    emit("intensity_scale", what="model_log_scale", value=math.exp(value), previous=None, source=source,
         detail={"variable": where, "log_scale": value})
    return True


def after_train_pinn_train(call):
    emit_model_log_scale(st.of(call), call.emit, call.source)


def after_seed(call):
    state = st.of(call)
    with state.lock:
        order = state.seed_order
        state.seed_order += 1
    value = call.arg("seed", 0)
    if value is None and call.args:
        value = call.args[0]
    call.emit("seed", api=call.source.replace("::", "."), value=summarize_value(value), order=order)


def at_exit(state, agent):
    """The cfg as the program leaves it, and the model's scale then."""
    if state.module(names.PARAMS) is None:
        return
    agent.emit("config", when="exit", cfg=st.cfg_snapshot(state), dataclass=None, context=[], call_id=None)
    emit_model_log_scale(state, lambda kind, **f: agent.emit(kind, context=[], call_id=None, **f), "exit")
