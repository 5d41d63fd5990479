"""The capture points of the Parity Logging Specification v1.0 on PtychoPINN (legacy ``dose_experiments`` and
modern ``main``), as data: each a canonical source from ``names`` and the handlers that turn its calls into
events."""

from parity_tracer.profiles.ptychopinn import handlers_config as cfg, handlers_data as data, \
    handlers_inference as inference, handlers_probe as probe, handlers_training as training, names
from parity_tracer.targets import point


def ref(handler):
    """A handler function as the ``"module:function"`` string a capture point holds."""
    return "%s:%s" % (handler.__module__, handler.__name__)


def at(source, after=None, before=None):
    """The capture point of a canonical ``module::qualname`` source."""
    module, _, attr = source.partition("::")
    return point(module, attr, after=ref(after) if after else None, before=ref(before) if before else None,
                 name=source)


def each(*sources, after=None):
    """The capture points of several sources that share one ``after`` handler (or only give context)."""
    return tuple(at(source, after=after) for source in sources)


POINTS = (
    # raw diffraction producers (grid "lines" simulation, RawData simulation, NPZ files; load_data builds
    # RawData(...) itself)
    at(names.MK_SIMDATA, before=data.before_mk_simdata, after=data.after_mk_simdata),
    at(names.ILLUMINATE_AND_DIFFRACT, after=data.after_illuminate_and_diffract),
    *each(names.FROM_SIMULATION, names.FROM_FILE, names.LOAD_DATA, after=data.after_raw_data),
    # grouping and normalization (the loader's normalize_data is dead code today; cheap to watch)
    at(names.GENERATE_GROUPED_DATA, after=data.after_generate_grouped_data),
    *each(names.RAW_NORMALIZE_DATA, names.LOADER_NORMALIZE_DATA, after=data.after_normalize_data),
    at(names.LOAD_SIMULATED_DATA),                                    # context for cfg writes and seeds
    at(names.GENERATE_DATA, after=data.after_generate_data),
    *each(names.CREATE_PTYCHO_DATASET, names.LOADER_LOAD),
    at(names.CONTAINER_INIT, after=data.after_container_init),
    # probe
    at(names.SET_PROBE, before=probe.before_set_probe, after=probe.after_set_probe),
    *each(names.SET_DEFAULT_PROBE, names.SET_PROBE_GUESS, names.GET_DEFAULT_PROBE),
    *each(names.LOAD_IDEAL_DISK_PROBE, names.LOAD_PROBE_GUESS, after=probe.after_probe_loaded),
    *each(names.APPLY_PROBE_TRANSFORM_PIPELINE, names.APPLY_PROBE_MASK, after=probe.after_probe_transform),
    at(names.CONFIGURE_LEGACY_PARAMS),
    # intensity scale, configuration, training
    at(names.CALCULATE_INTENSITY_SCALE, after=cfg.after_calculate_intensity_scale),
    at(names.TRAIN_PINN_TRAIN, after=cfg.after_train_pinn_train),
    at(names.MODEL_TRAIN, before=training.before_model_train, after=training.after_model_train),
    at(names.PREPARE_INPUTS, after=training.after_prepare_inputs),
    at(names.PREPARE_OUTPUTS, after=training.after_prepare_outputs),
    at(names.UPDATE_LEGACY_DICT, after=cfg.after_update_legacy_dict),
    *each(names.KERAS_FIT, names.TF_KERAS_FIT, after=training.after_fit),
    at(names.MODEL_SAVE, after=training.after_model_save),
    at(names.SAVE_PINN_MODEL),
    # inference and stitching
    *each(names.TRAIN_PINN_EVAL, names.TRAIN_EVAL, after=inference.after_eval),
    *each(names.REASSEMBLE, names.REASSEMBLE_PATCHES, names.REASSEMBLE_POSITION, names.STITCH_PREDICTIONS,
          after=inference.after_stitch),
    at(names.RUN_PINN_INFERENCE, after=inference.after_run_pinn_inference),
    at(names.SIMULATE_GRID_DATA, after=inference.after_simulate_grid_data),
    at(names.RUN_GRID_LINES_WORKFLOW),
    # seeds, wherever they are set
    at(names.APPLY_EXECUTION_SEED),
    *each(names.NUMPY_SEED, names.RANDOM_SEED, names.TF_SET_SEED, names.KERAS_SET_SEED, names.TF_KERAS_SET_SEED,
          after=cfg.after_seed),
)
