"""The PtychoPINN capture profile: every capture point of the Parity Logging Specification v1.0, on the legacy
``dose_experiments`` layout and on modern ``main``.

All PtychoPINN knowledge of the capture side lives here (the reducer's lives in ``stagemap.py``). Rules this
file keeps (target-api.md §5):
- read arguments and results, never lazy attributes: main's container data are properties that allocate
  tensors, and ``ptycho.model.autoencoder`` & co. build a model on access (module ``__getattr__``);
- module globals are read through ``vars(module)``, never ``getattr``;
- symbolic tensors (model building, ``tf.function``, ``tf.data``) are left alone (``stats`` recognises them).
"""

import hashlib
import math
import os
import sys
import threading

import numpy as np

from parity_tracer import inputs, outputs, stats
from parity_tracer.targets import point

ROOT = "ptycho"
H = "parity_tracer.profiles.ptychopinn:"

# -- the capture points, as data ---------------------------------------------------------------------------------

_POINTS = [
    # raw diffraction producers (grid "lines" simulation, RawData simulation, NPZ files)
    point("ptycho.diffsim", "mk_simdata", before=H + "before_mk_simdata", after=H + "after_mk_simdata"),
    point("ptycho.diffsim", "illuminate_and_diffract", after=H + "after_illuminate_and_diffract"),
    point("ptycho.raw_data", "RawData.from_simulation", after=H + "after_raw_data"),
    point("ptycho.raw_data", "RawData.from_file", after=H + "after_raw_data"),
    point("ptycho.workflows.components", "load_data", after=H + "after_raw_data"),  # builds RawData(...) itself
    # grouping and normalization
    point("ptycho.raw_data", "RawData.generate_grouped_data", after=H + "after_generate_grouped_data"),
    point("ptycho.raw_data", "normalize_data", after=H + "after_normalize_data"),
    point("ptycho.loader", "normalize_data", after=H + "after_normalize_data"),  # dead code today; cheap to watch
    point("ptycho.data_preprocessing", "load_simulated_data"),                   # context for cfg writes and seeds
    point("ptycho.data_preprocessing", "generate_data", after=H + "after_generate_data"),
    point("ptycho.data_preprocessing", "create_ptycho_dataset"),
    point("ptycho.loader", "load"),
    point("ptycho.loader", "PtychoDataContainer.__init__", after=H + "after_container_init"),
    # probe
    point("ptycho.probe", "set_probe", before=H + "before_set_probe", after=H + "after_set_probe"),
    point("ptycho.probe", "set_default_probe"),
    point("ptycho.probe", "set_probe_guess"),
    point("ptycho.probe", "get_default_probe"),
    point("ptycho.workflows.grid_lines_workflow", "load_ideal_disk_probe", after=H + "after_probe_loaded"),
    point("ptycho.workflows.grid_lines_workflow", "load_probe_guess", after=H + "after_probe_loaded"),
    point("ptycho.workflows.grid_lines_workflow", "apply_probe_transform_pipeline", after=H + "after_probe_transform"),
    point("ptycho.workflows.grid_lines_workflow", "apply_probe_mask", after=H + "after_probe_transform"),
    point("ptycho.workflows.grid_lines_workflow", "configure_legacy_params"),
    # intensity scale, configuration, training
    point("ptycho.train_pinn", "calculate_intensity_scale", after=H + "after_calculate_intensity_scale"),
    point("ptycho.train_pinn", "train", after=H + "after_train_pinn_train"),
    point("ptycho.model", "train", before=H + "before_model_train", after=H + "after_model_train"),
    point("ptycho.model", "prepare_inputs", after=H + "after_prepare_inputs"),
    point("ptycho.model", "prepare_outputs", after=H + "after_prepare_outputs"),
    point("ptycho.config.config", "update_legacy_dict", after=H + "after_update_legacy_dict"),
    point("keras", "Model.fit", after=H + "after_fit"),
    point("tf_keras", "Model.fit", after=H + "after_fit"),
    point("ptycho.model_manager", "save", after=H + "after_model_save"),
    point("ptycho.workflows.grid_lines_workflow", "save_pinn_model"),
    # inference and stitching
    point("ptycho.train_pinn", "eval", after=H + "after_eval"),
    point("ptycho.train_pinn", "train_eval", after=H + "after_eval"),
    point("ptycho.data_preprocessing", "reassemble", after=H + "after_stitch"),
    point("ptycho.image.stitching", "reassemble_patches", after=H + "after_stitch"),
    point("ptycho.tf_helper", "reassemble_position", after=H + "after_stitch"),
    point("ptycho.workflows.grid_lines_workflow", "stitch_predictions", after=H + "after_stitch"),
    point("ptycho.workflows.grid_lines_workflow", "run_pinn_inference", after=H + "after_run_pinn_inference"),
    point("ptycho.workflows.grid_lines_workflow", "simulate_grid_data", after=H + "after_simulate_grid_data"),
    point("ptycho.workflows.grid_lines_workflow", "run_grid_lines_workflow"),
    # seeds, wherever they are set
    point("ptycho.workflows.grid_lines_workflow", "_apply_execution_seed"),
    point("numpy.random", "seed", after=H + "after_seed", name="numpy.random::seed"),
    point("random", "seed", after=H + "after_seed", name="random::seed"),
    point("tensorflow", "random.set_seed", after=H + "after_seed", name="tensorflow::random.set_seed"),
    point("keras", "utils.set_random_seed", after=H + "after_seed", name="keras::utils.set_random_seed"),
    point("tf_keras", "utils.set_random_seed", after=H + "after_seed", name="tf_keras::utils.set_random_seed"),
]

# The spec names ``make_probe`` / ``normalize_probe_guess``; neither exists in either branch (target-api §0.6).
METHOD_MAPPING = {
    "set_default_probe": ("set_default_probe", "ptycho.probe.set_default_probe -> set_probe"),
    "set_probe_guess": ("normalize_probe_guess", "normalize_probe_guess -> ptycho.probe.set_probe_guess -> set_probe"),
    "set_probe": ("normalize_probe_guess", "normalize_probe_guess -> ptycho.probe.set_probe"),
}
PROBE_ARRAY_CALLS = 8                 # set_probe calls whose probe arrays are saved: a loop writes no more files
PROBE_ARRAY_MAX_ELEMENTS = 512 * 512  # "small artifacts": the probe is N x N (64 x 64 in both branches' configs)
LABELS_NOTE = "whole-array statistics of the labels passed to fit (the spec says first batch)"
GRID_GROUPED_NOTE = "grid 'lines' path: the simulator emits grouped, channel-format diffraction directly"
GRID_NORMALIZED_NOTE = ("grid 'lines' path: normalize_data is not called; X is scaled by the simulation's "
                        "intensity_scale inside illuminate_and_diffract")


def capture_points():
    return list(_POINTS)


# -- per-process state ---------------------------------------------------------------------------------------------

class _State:
    def __init__(self):
        self.agent = None
        self.lock = threading.Lock()
        self.seed_order = 0
        self.last_intensity_scale = _UNSET
        self.probe_origin = {"type": "custom", "path": None, "checksum": None}
        self.saved = {}          # artifact name -> path of the last array saved under it
        self.array_calls = {}    # array file stem -> arrays saved under it so far
        self.probe_saves = 0     # set_probe calls whose probe arrays were saved


_UNSET = object()
_state = _State()


def setup(agent):
    """Called once at activation: exit hooks, import hooks and the cfg watcher."""
    _state.agent = agent
    agent.recorder.observers.append(_watch_intensity_scale)
    agent.exit_hooks.append(_at_exit)
    agent.on_import(ROOT, _on_root_import)
    for name in ("tensorflow", "keras", "tf_keras"):
        agent.on_import(name, _on_framework_import)


def _on_root_import(agent, module):
    path = vars(module).get("__file__")
    agent.record_origin(os.path.abspath(path) if path else None, module.__name__)


def _on_framework_import(agent, module):
    version = vars(module).get("__version__")
    agent.emit("environment", packages={module.__name__: str(version) if version else None})


# -- reading the target's state without side effects ------------------------------------------------------------------

def _module(canonical):
    agent = _state.agent
    name = agent.module_name(canonical) if agent is not None else canonical
    return sys.modules.get(name)


def _cfg():
    params = _module("ptycho.params")
    cfg = vars(params).get("cfg") if params is not None else None
    return cfg if isinstance(cfg, dict) else {}


def _as_array(value):
    arr = stats.to_array(value)
    return arr if isinstance(arr, np.ndarray) else None


def _first(value, index):
    if isinstance(value, (tuple, list)) and len(value) > index:
        return value[index]
    return None


def _count(value):
    shape = getattr(value, "shape", None)
    try:
        return int(shape[0]) if shape is not None and len(shape) else None
    except (TypeError, ValueError):
        return None


def _gridsize(call=None):
    if call is not None:
        gs = call.arg("gridsize")
        if gs is not None:
            return gs
    return _cfg().get("gridsize")


def _meta(value, call=None, **extra):
    meta = {"count": _count(value), "gridsize": _gridsize(call), "group_limit": None}
    meta.update(extra)
    return meta


def _sha256(path):
    try:
        digest = hashlib.sha256()
        with inputs.open_regular(path) as fh:     # never a FIFO the program is about to read, nor a device
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    except (OSError, TypeError):
        return None


def _save_array(name, value, source, tag=None, **fields):
    """Save a captured array as .npy in the output directory and announce it (``--no-arrays`` turns this off).

    ``tag`` tells apart arrays of one name saved per call (file ``<source>-<name>-<tag>.npy``); ``fields`` go
    into the artifact event."""
    agent = _state.agent
    if agent is None or not agent.settings.save_arrays:
        return None
    arr = _as_array(value)
    if arr is None:
        return None
    folder = outputs.subdir(agent.out_dir, "arrays")
    slug = source.replace("::", ".").replace("ptycho.", "")
    stem = "%s-%s%s" % (slug, name, "" if tag is None else "-%s" % tag)
    # a repeated call (the next run of a multi-run study) gets its own file: an earlier run's stays as it was
    _state.array_calls[stem] = n = _state.array_calls.get(stem, 0) + 1
    path = os.path.join(folder, "%s.npy" % stem if n == 1 else "%s-%d.npy" % (stem, n))
    outputs.replace(path, lambda fh: np.save(fh, np.ascontiguousarray(arr), allow_pickle=False))
    _state.saved[name] = path
    agent.emit("artifact", name=name + "_npy", path=os.path.relpath(path, agent.out_dir), source=source, **fields)
    return path


def _save_raw_data(call, arrays):
    """The first (train) simulated data set as ``arrays/raw_data.npz`` for the maintainer bundle (spec §4.1).

    Off by default (``--save-raw-data`` / ``PARITY_TRACER_SAVE_RAW_DATA=1``): at production sizes it is the
    largest thing the tracer could write.
    """
    agent = _state.agent
    if agent is None or not agent.settings.save_raw_data or "raw_data_npz" in _state.saved:
        return
    kept = {}
    for key, value in arrays.items():
        arr = _as_array(value)
        if arr is not None:
            kept[key] = np.ascontiguousarray(arr)
    if not kept:
        return
    folder = outputs.subdir(agent.out_dir, "arrays")
    path = os.path.join(folder, "raw_data.npz")
    outputs.replace(path, lambda fh: np.savez(fh, **kept))
    _state.saved["raw_data_npz"] = path
    call.emit("artifact", name="raw_data_npz", path=os.path.relpath(path, agent.out_dir), source=call.source,
              contents=sorted(kept))


# -- raw diffraction ---------------------------------------------------------------------------------------------

def before_mk_simdata(call):
    call.scratch["role"] = call.arg("which", 8, "train")
    call.scratch["inner"] = False


def after_mk_simdata(call):
    result = call.result
    role = call.scratch.get("role", "train")
    X = _first(result, 0)
    cache_hit = not call.scratch.get("inner", False)
    meta = _meta(X, None, memo_cache_hit=cache_hit)
    call.stage("raw_diffraction", X, metadata=meta, role=role,
               note="memoized simulator: cache hit, inner functions skipped" if cache_hit else None)
    call.stage("grouped_diffraction", X, metadata=meta, role=role, equivalent=True, note=GRID_GROUPED_NOTE)
    scale = _first(result, 3)
    if scale is not None:
        call.emit("intensity_scale", what="simulation", value=_scalar(scale), previous=None, source=call.source,
                  detail={"role": role})
    if role == "train":
        coords = _first(result, 6)
        _save_raw_data(call, {"diffraction": X, "Y_I": _first(result, 1), "Y_phi": _first(result, 2),
                              "object": _first(result, 4), "probe": _cfg().get("probe"),
                              "coords_nominal": _first(coords, 0), "coords_true": _first(coords, 1),
                              "intensity_scale": scale, "norm_Y_I": _first(result, 5)})
        call.emit("dataset", type="simulated", path=None, checksum=None, source=call.source,
                  chain="ptycho.diffsim.mk_simdata: grid 'lines' simulation (disk-memoized)%s" % (
                      ", served from the memo cache" if cache_hit else ""))


def after_illuminate_and_diffract(call):
    parent = call.enclosing("ptycho.diffsim::mk_simdata")
    if parent is not None:
        parent.scratch["inner"] = True
    role = parent.scratch.get("role") if parent is not None else None
    X = _first(call.result, 0)
    call.stage("raw_diffraction", X, metadata=_meta(X), role=role)


def after_raw_data(call):
    raw = call.result
    fields = vars(raw) if hasattr(raw, "__dict__") else {}
    diff3d = fields.get("diff3d")
    call.stage("raw_diffraction", diff3d, metadata=_meta(diff3d))
    if call.point.attr.endswith("from_file") or call.point.attr == "load_data":
        path = call.arg("train_data_file_path", 0) if call.point.attr != "load_data" else call.arg("file_path", 0)
        path = os.fspath(path) if path is not None else None
        checksum = _sha256(path)
        path = os.path.abspath(path) if path else None
        call.emit("dataset", type="npz_file", path=path, checksum=checksum, source=call.source,
                  chain="%s(%s)" % (call.point.attr, path))
        # the probe the run normalizes comes from the data file; the train file is loaded first, so it wins
        if "probeGuess" in fields and _state.probe_origin.get("type") != "npz_loaded":
            _state.probe_origin = {"type": "npz_loaded", "path": path, "checksum": checksum}
    else:
        call.emit("dataset", type="simulated", path=None, checksum=None, source=call.source,
                  chain="RawData.from_simulation: patches of objectGuess illuminated by probeGuess")
        _save_raw_data(call, {k: fields.get(k) for k in ("diff3d", "xcoords", "ycoords", "xcoords_start",
                                                         "ycoords_start", "probeGuess", "objectGuess",
                                                         "scan_index")})
        obj = call.arg("objectGuess", 3)
        if obj is not None:
            _save_ground_truth(obj, call.source)


# -- grouping, normalization, container -------------------------------------------------------------------------

def after_generate_grouped_data(call):
    dset = call.result
    diff = dset.get("diffraction") if isinstance(dset, dict) else None
    # nsamples means "groups" on main but "samples per scan point" on legacy: the group count is the result's
    meta = _meta(diff, call, K=call.arg("K", 1), nsamples=call.arg("nsamples", 2))
    meta["group_count"] = meta["count"]
    meta["group_limit"] = meta["nsamples"]
    coords = _coordinates(call, dset) if isinstance(dset, dict) else None
    if coords:
        meta["coordinates"] = coords
    call.stage("pre_normalization_diffraction", diff, metadata=meta)
    call.stage("grouped_diffraction", diff, metadata=meta)


def _coordinates(call, dset):
    """Statistics of the grouping's coordinates and the sign that relates ``coords_relative`` to the neighbours.

    ``coords_relative = local_offset_sign * (coords_nn - coords_offsets)`` (target-api §2.3); the sign is measured
    from the arrays (least squares) and the module constant is read too, so a flipped convention shows by itself.
    """
    out = {}
    for key in ("coords_relative", "coords_offsets", "coords_nn"):
        if dset.get(key) is not None:
            out[key] = call.recorder.summarize(dset.get(key), call)
    rel, nn, off = (_as_array(dset.get(k)) for k in ("coords_relative", "coords_nn", "coords_offsets"))
    if rel is not None and nn is not None and off is not None:
        try:
            spread = np.asarray(nn, dtype=np.float64) - np.asarray(off, dtype=np.float64)
            denom = float((spread * spread).sum())
            if denom > 0 and spread.shape == rel.shape:
                out["relative_sign"] = float((np.asarray(rel, dtype=np.float64) * spread).sum()) / denom
        except (ValueError, TypeError):
            pass
    module = _module("ptycho.raw_data")
    sign = vars(module).get("local_offset_sign") if module is not None else None
    if isinstance(sign, (int, float)) and not isinstance(sign, bool):
        out["local_offset_sign"] = sign
    return out


def after_normalize_data(call):
    call.stage("grouped_X_full", call.result, metadata=_meta(call.result))


def after_generate_data(call):
    result = call.result
    X_train = _first(result, 0)
    if call.recorder.call_index("ptycho.raw_data::normalize_data") == 0:
        call.stage("grouped_X_full", X_train, metadata=_meta(X_train), role="train", equivalent=True,
                   note=GRID_NORMALIZED_NOTE)
    gt = _first(result, 6)
    if gt is not None:
        _save_ground_truth(gt, call.source)


def after_container_init(call):
    role = None
    maker = call.enclosing("ptycho.data_preprocessing::create_ptycho_dataset")
    loader = call.enclosing("ptycho.loader::load")
    if maker is not None:
        n = maker.scratch.get("containers", 0)
        maker.scratch["containers"] = n + 1
        role = "train" if n == 0 else "test"
    elif loader is not None:
        role = loader.arg("which", 2)
    X = call.arg("X", 0)
    meta = _meta(X)
    call.stage("container_X", X, metadata=meta, role=role)
    for name, index in (("Y_I", 1), ("Y_phi", 2), ("norm_Y_I", 3), ("coords_nominal", 5), ("probeGuess", 10)):
        call.stage("container_" + name, call.arg(name, index), metadata=meta, role=role)


# -- probe ---------------------------------------------------------------------------------------------------------

def _probe_entry(call):
    for name in ("set_default_probe", "set_probe_guess"):
        if call.enclosing("ptycho.probe::" + name) is not None:
            entry = name
            break
    else:
        entry = "set_probe"
    if call.enclosing("ptycho.workflows.grid_lines_workflow::configure_legacy_params") is not None:
        return entry, "grid_lines_probe_pipeline"
    if call.enclosing("ptycho.train_pinn::train", "ptycho.train_pinn::eval") is not None:
        return entry, "train_pinn"
    return entry, None


def _probe_numbers(value, cfg):
    """Mask statistics and the norm factor ``probe_scale * mean(|mask * probe|)`` that set_probe divides by."""
    arr = _as_array(value)
    if arr is None or arr.ndim < 2:
        return None, None
    amp = np.abs(arr.reshape(arr.shape[0], arr.shape[1], -1)[..., 0])
    n = amp.shape[0]
    N = cfg.get("N", n)
    centred = np.arange(N) - N // 2 + 0.5
    x, y = np.meshgrid(centred, centred)
    mask = np.sqrt(x * x + y * y) < N // 4           # ptycho.probe.get_probe_mask(N): used whatever probe.mask says
    nonzero = int(mask.sum())
    mask_stats = {"nonzero_count": nonzero, "total_count": int(mask.size),
                  "coverage_fraction": nonzero / float(mask.size) if mask.size else None}
    scale = cfg.get("probe_scale")
    norm = None
    if scale is not None and mask.shape == amp.shape:
        norm = float(scale) * float((amp * mask).mean())
    return mask_stats, norm


def note_probe_origin(kind, path=None):
    """Called by a driver that sets the probe from a file itself (the protocol's legacy same-NPZ run)."""
    path = os.path.abspath(os.fspath(path)) if path is not None else None
    _state.probe_origin = {"type": kind, "path": path, "checksum": _sha256(path) if path else None}


def before_set_probe(call):
    probe = call.arg("probe", 0)
    entry, route = _probe_entry(call)
    method, mapping = METHOD_MAPPING[entry]
    cfg = _cfg()
    mask_stats, norm = _probe_numbers(probe, cfg)
    if entry == "set_default_probe":
        _state.probe_origin = {"type": "idealized", "path": None, "checksum": None}
    call.scratch.update(entry=entry, route=route, method=method, mapping=mapping)
    call.emit("probe", phase="pre", entry=entry, route=route, method=method, method_mapping=mapping,
              stats=call.recorder.summarize(probe, call), probe_scale=cfg.get("probe_scale"),
              probe_big=cfg.get("probe.big"), probe_mask=cfg.get("probe.mask"), mask_stats=mask_stats,
              computed_norm_factor=norm, source=dict(_state.probe_origin))
    with _state.lock:
        keep = _state.probe_saves < PROBE_ARRAY_CALLS
        _state.probe_saves += keep
    if keep:
        call.scratch["save_probe"] = _save_probe(call, "pre", probe)


def after_set_probe(call):
    cfg = _cfg()
    call.emit("probe", phase="post", entry=call.scratch.get("entry"), route=call.scratch.get("route"),
              method=call.scratch.get("method"), method_mapping=call.scratch.get("mapping"),
              stats=call.recorder.summarize(cfg.get("probe"), call), probe_scale=cfg.get("probe_scale"),
              probe_big=cfg.get("probe.big"), probe_mask=cfg.get("probe.mask"), source=dict(_state.probe_origin))
    if call.scratch.get("save_probe"):
        _save_probe(call, "post", cfg.get("probe"))


def _save_probe(call, phase, value):
    """The probe before / after one set_probe call as a small .npy (a report draws it), tagged with the call."""
    arr = _as_array(value)
    if arr is None or arr.size > PROBE_ARRAY_MAX_ELEMENTS:
        return None
    return _save_array("probe_" + phase, arr, call.source, tag=call.call_id, call_id=call.call_id)


def after_probe_loaded(call):
    if call.point.attr == "load_probe_guess":
        path = call.arg("npz_path", 0)
        path = os.path.abspath(os.fspath(path)) if path is not None else None
        _state.probe_origin = {"type": "npz_loaded", "path": path, "checksum": _sha256(path)}
    else:
        _state.probe_origin = {"type": "idealized", "path": None, "checksum": None}
    call.emit("probe", phase="loaded", entry=call.point.attr, stats=call.recorder.summarize(call.result, call),
              source=dict(_state.probe_origin))


def after_probe_transform(call):
    steps = call.arg("steps", 1) if call.point.attr == "apply_probe_transform_pipeline" else None
    call.emit("probe", phase="transformed", entry=call.point.attr, stats=call.recorder.summarize(call.result, call),
              detail=_summarize_value(steps), source=dict(_state.probe_origin))


# -- intensity scale and configuration ---------------------------------------------------------------------------

def _scalar(value):
    arr = _as_array(value)
    if arr is None or arr.size != 1:
        return None
    v = arr.reshape(-1)[0]
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def after_calculate_intensity_scale(call):
    call.emit("intensity_scale", what="calculated", value=_scalar(call.result), previous=None, source=call.source,
              detail={"formula": "sqrt(nphotons) / (N/2)", "nphotons": _cfg().get("nphotons"), "N": _cfg().get("N")})


def _watch_intensity_scale(call, phase):
    """Every write to cfg['intensity_scale'], attributed to the innermost traced call that contained it.

    Looked at as each traced call begins and ends: a change seen when a call begins was made by the code around
    it (its innermost traced parent); a change seen when it ends was made inside it.
    """
    value = _cfg().get("intensity_scale", _UNSET)
    if value is _UNSET or value is _state.last_intensity_scale:
        return
    current = _scalar(value)
    previous = _state.last_intensity_scale
    previous = None if previous is _UNSET else _scalar(previous)
    _state.last_intensity_scale = value
    if current == previous and previous is not None:
        return
    if phase == "begin":
        source = call.parents[-1].source if call.parents else "<top-level code>"
    else:
        source = call.source
    call.emit("intensity_scale", what="cfg_write", value=current, previous=previous, source=source, detail=None)


def _summarize_value(value, depth=0):
    """JSON-friendly summary of a cfg value: scalars as they are, arrays/tensors as statistics, others by repr."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item() if value.size == 1 else repr(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, dict) and depth < 2:
        return {str(k): _summarize_value(v, depth + 1) for k, v in list(value.items())[:64]}
    if isinstance(value, (list, tuple)) and depth < 2 and len(value) <= 32:
        return [_summarize_value(v, depth + 1) for v in value]
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return {"summary": stats.summarize(value)}
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def cfg_snapshot():
    return {str(k): _summarize_value(v) for k, v in list(_cfg().items())}


def after_update_legacy_dict(call):
    obj = call.arg("dataclass_obj", 1)
    call.emit("config", when="update_legacy_dict", cfg=cfg_snapshot(), dataclass=_dataclass_summary(obj))


def _dataclass_summary(obj, depth=0):
    fields = getattr(obj, "__dataclass_fields__", None)
    if not fields:
        return _summarize_value(obj)
    out = {"__type__": type(obj).__name__}
    for name in fields:
        value = vars(obj).get(name) if hasattr(obj, "__dict__") else None
        out[name] = _dataclass_summary(value, depth + 1) if depth < 2 else _summarize_value(value)
    return out


# -- training ------------------------------------------------------------------------------------------------------

def before_model_train(call):
    call.emit("config", when="training_start", cfg=cfg_snapshot(), dataclass=None)


def after_prepare_inputs(call):
    X = _first(call.result, 0)
    call.stage("training_inputs_X", X, metadata=_meta(X), role="train")


def after_prepare_outputs(call):
    amp, intensity = _first(call.result, 1), _first(call.result, 2)
    call.stage("training_labels_Y_amp", amp, metadata=_meta(amp), role="train", note=LABELS_NOTE)
    call.stage("training_labels_Y_I", intensity, metadata=_meta(intensity), role="train", note=LABELS_NOTE)


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
              pinn=call.enclosing("ptycho.model::train") is not None or call.source == "ptycho.model::train")


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
    if call.recorder.call_index("keras::Model.fit") == 0 and call.recorder.call_index("tf_keras::Model.fit") == 0:
        _history_event(call, call.result)


def after_train_pinn_train(call):
    _emit_model_log_scale(call.emit, call.source)


def _emit_model_log_scale(emit, source):
    """exp(log_scale) of the model's intensity scaler, read from module state (never through ``getattr``)."""
    model = _module("ptycho.model")
    if model is None:
        return False
    namespace = vars(model)
    var, where = namespace.get("log_scale"), "ptycho.model.log_scale"
    if var is None:
        cache = namespace.get("_lazy_cache")
        var = cache.get("log_scale") if isinstance(cache, dict) else None
        where = "ptycho.model._lazy_cache['log_scale']"
    value = _scalar(var)
    if value is None and callable(getattr(var, "numpy", None)):
        value = _scalar(var.numpy())      # an eager variable read; never a model build
    if value is None:
        return False
    emit("intensity_scale", what="model_log_scale", value=math.exp(value), previous=None, source=source,
         detail={"variable": where, "log_scale": value})
    return True


def after_model_save(call):
    prefix = call.arg("out_prefix", 0)
    if prefix is None:
        return
    prefix = os.path.abspath(os.fspath(prefix))
    stem = str(_cfg().get("h5_path") or "")
    entries = sorted(e for e in os.listdir(prefix) if e.startswith(stem)) if os.path.isdir(prefix) else []
    call.emit("artifact", name="checkpoint", path=prefix, source=call.source,
              entries=[os.path.join(prefix, e) for e in entries])


# -- inference ---------------------------------------------------------------------------------------------------

def after_eval(call):
    result = call.result
    if not isinstance(result, dict):
        return
    obj = result.get("reconstructed_obj")
    stitched = result.get("stitched_obj")
    meta = {"count": _count(obj), "gridsize": _gridsize(), "group_limit": _count(obj), "predictions": _count(obj)}
    call.stage("inference_raw_prediction", obj, metadata=meta, note="model output patches before stitching")
    if stitched is not None:
        _inference(call, stitched, meta, part="complex")
    elif obj is not None:
        # main's stitch_data refuses gridsize 1 and eval then returns stitched_obj None: the model output
        # patches are all there is, so their amplitude plays the stage's role
        note = "no stitched object (stitching returned None): amplitude of the model output patches"
        arr = _as_array(obj)
        amp = np.abs(arr) if arr is not None else None
        call.stage("inference_prediction", amp, metadata=meta, equivalent=True, note=note)
        call.emit("inference", source=call.source, part="patches", stitched_shape=None,
                  amplitude=call.recorder.summarize(amp, call),
                  phase=call.recorder.summarize(np.angle(arr) if arr is not None else None, call),
                  group_limit=meta["group_limit"], predictions=meta["predictions"], norm_Y_I=None, artifacts={},
                  note=note)


def after_stitch(call):
    part = call.arg("part", 2)
    if call.point.attr in ("reassemble_position",):
        part = "complex"
    predictions = _count(call.args[0] if call.args else None)
    norm = call.arg("norm_Y_I", 1 if call.point.attr in ("stitch_predictions", "reassemble") else None)
    meta = {"count": _count(call.result), "gridsize": _gridsize(), "group_limit": predictions,
            "predictions": predictions}
    _inference(call, call.result, meta, part=part or "amp", norm_Y_I=_scalar(norm) if norm is not None else None)


def after_run_pinn_inference(call):
    call.stage("inference_raw_prediction", call.result, metadata=_meta(call.result),
               note="model output patches before stitching")


def _inference(call, stitched, meta, part, norm_Y_I=None):
    arr = _as_array(stitched)
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
    artifacts = {}
    if amp is not None:
        call.stage("inference_prediction", amp, metadata=meta, note="amplitude of the stitched object (%s)" % part)
        artifacts["amplitude_npy"] = _save_array("amplitude", np.squeeze(amp), call.source)
    if phase is not None:
        artifacts["phase_npy"] = _save_array("phase", np.squeeze(phase), call.source)
    call.emit("inference", source=call.source, part=part, stitched_shape=squeezed[-2:],
              amplitude=call.recorder.summarize(amp, call) if amp is not None else None,
              phase=call.recorder.summarize(phase, call) if phase is not None else None,
              group_limit=meta.get("group_limit"), predictions=meta.get("predictions"), norm_Y_I=norm_Y_I,
              artifacts={k: os.path.relpath(v, _state.agent.out_dir) for k, v in artifacts.items() if v})


def after_simulate_grid_data(call):
    result = call.result
    test = result.get("test") if isinstance(result, dict) else None
    gt = test.get("YY_ground_truth") if isinstance(test, dict) else None
    if gt is not None:
        _save_ground_truth(gt, call.source)


def _save_ground_truth(value, source):
    arr = _as_array(value)
    if arr is None:
        return
    arr = np.squeeze(arr)
    if np.iscomplexobj(arr):
        _save_array("ground_truth_amp", np.abs(arr), source)
        _save_array("ground_truth_phase", np.angle(arr), source)
    else:
        _save_array("ground_truth_amp", arr, source)


# -- seeds ------------------------------------------------------------------------------------------------------

def after_seed(call):
    with _state.lock:
        order = _state.seed_order
        _state.seed_order += 1
    value = call.arg("seed", 0)
    if value is None and call.args:
        value = call.args[0]
    call.emit("seed", api=call.source.replace("::", "."), value=_summarize_value(value), order=order)


# -- exit ------------------------------------------------------------------------------------------------------

def _at_exit(agent):
    if _module("ptycho.params") is None:
        return
    agent.emit("config", when="exit", cfg=cfg_snapshot(), dataclass=None, context=[], call_id=None)
    _emit_model_log_scale(lambda kind, **f: agent.emit(kind, context=[], call_id=None, **f), "exit")
