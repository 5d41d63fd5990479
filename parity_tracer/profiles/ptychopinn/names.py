"""Every PtychoPINN name the tracer uses, written once: modules, canonical source names, ``params.cfg`` keys,
``RawData`` fields and the formulas the profile quotes.

Everything else (points, handlers, the stage map, the protocol, the document and maintainer knowledge) refers to
these constants; ``tests/test_boundaries.py`` derives from them what nothing outside ``profiles/`` may name.
Argument names of single functions (``which``, ``out_prefix``, …) stay with the one handler that reads them.
"""

import types

ROOT = "ptycho"                      # the package; under a module prefix its modules are re-rooted


def _modules(*names):
    return tuple(ROOT + "." + name for name in names)


# -- modules ---------------------------------------------------------------------------------------------------
PARAMS, DIFFSIM, RAW_DATA, LOADER, DATA_PREPROCESSING, PROBE = _modules(
    "params", "diffsim", "raw_data", "loader", "data_preprocessing", "probe")
# (TRAIN is legacy only: importing it runs the whole pipeline)
TRAIN_PINN, TRAIN, MODEL, MODEL_MANAGER = _modules("train_pinn", "train", "model", "model_manager")
CONFIG, TF_HELPER, STITCHING = _modules("config.config", "tf_helper", "image.stitching")
COMPONENTS, GRID_LINES = _modules("workflows.components", "workflows.grid_lines_workflow")

MODULES = (ROOT, PARAMS, DIFFSIM, RAW_DATA, LOADER, DATA_PREPROCESSING, PROBE, TRAIN_PINN, TRAIN, MODEL,
           MODEL_MANAGER, CONFIG, TF_HELPER, STITCHING, COMPONENTS, GRID_LINES)


def source(module, qualname):
    """The canonical ``module::qualname`` events carry (package prefix stripped)."""
    return module + "::" + qualname


def sources(module, *qualnames):
    return tuple(source(module, q) for q in qualnames)


# -- canonical sources (capture points of the PtychoPINN package), by module ---------------------------------------
MK_SIMDATA, ILLUMINATE_AND_DIFFRACT = sources(DIFFSIM, "mk_simdata", "illuminate_and_diffract")
FROM_SIMULATION, FROM_FILE, GENERATE_GROUPED_DATA, RAW_NORMALIZE_DATA = sources(
    RAW_DATA, "RawData.from_simulation", "RawData.from_file", "RawData.generate_grouped_data", "normalize_data")
LOADER_NORMALIZE_DATA, LOADER_LOAD, CONTAINER_INIT = sources(
    LOADER, "normalize_data", "load", "PtychoDataContainer.__init__")
LOAD_SIMULATED_DATA, GENERATE_DATA, CREATE_PTYCHO_DATASET, REASSEMBLE = sources(
    DATA_PREPROCESSING, "load_simulated_data", "generate_data", "create_ptycho_dataset", "reassemble")
SET_PROBE, SET_DEFAULT_PROBE, SET_PROBE_GUESS, GET_DEFAULT_PROBE = sources(
    PROBE, "set_probe", "set_default_probe", "set_probe_guess", "get_default_probe")
CALCULATE_INTENSITY_SCALE, TRAIN_PINN_TRAIN, TRAIN_PINN_EVAL, TRAIN_EVAL = sources(
    TRAIN_PINN, "calculate_intensity_scale", "train", "eval", "train_eval")
MODEL_TRAIN, PREPARE_INPUTS, PREPARE_OUTPUTS = sources(MODEL, "train", "prepare_inputs", "prepare_outputs")
UPDATE_LEGACY_DICT = source(CONFIG, "update_legacy_dict")
MODEL_SAVE = source(MODEL_MANAGER, "save")
REASSEMBLE_PATCHES = source(STITCHING, "reassemble_patches")
REASSEMBLE_POSITION = source(TF_HELPER, "reassemble_position")
LOAD_DATA = source(COMPONENTS, "load_data")
(LOAD_IDEAL_DISK_PROBE, LOAD_PROBE_GUESS, APPLY_PROBE_TRANSFORM_PIPELINE, APPLY_PROBE_MASK, CONFIGURE_LEGACY_PARAMS,
 SAVE_PINN_MODEL, STITCH_PREDICTIONS, RUN_PINN_INFERENCE, SIMULATE_GRID_DATA, RUN_GRID_LINES_WORKFLOW,
 APPLY_EXECUTION_SEED) = sources(
    GRID_LINES, "load_ideal_disk_probe", "load_probe_guess", "apply_probe_transform_pipeline", "apply_probe_mask",
    "configure_legacy_params", "save_pinn_model", "stitch_predictions", "run_pinn_inference", "simulate_grid_data",
    "run_grid_lines_workflow", "_apply_execution_seed")

# -- framework sources the profile also patches (not PtychoPINN's, but named by the stage map) --------------------
KERAS_FIT, KERAS_SET_SEED = sources("keras", "Model.fit", "utils.set_random_seed")
TF_KERAS_FIT, TF_KERAS_SET_SEED = sources("tf_keras", "Model.fit", "utils.set_random_seed")
TF_SET_SEED = source("tensorflow", "random.set_seed")
NUMPY_SEED = source("numpy.random", "seed")
RANDOM_SEED = source("random", "seed")
FRAMEWORKS = ("tensorflow", "keras", "tf_keras")

SOURCES = tuple(v for k, v in list(globals().items()) if k.isupper() and isinstance(v, str) and "::" in v
                and v.startswith(ROOT + "."))


# -- params.cfg ------------------------------------------------------------------------------------------------
CFG_DICT = "cfg"                     # the dict in ptycho.params


# ``params.cfg`` keys the profile reads; ``CFG.<key>`` spells each with dots as underscores (CFG.probe_big is
# "probe.big")
CFG_KEYS = ("N", "gridsize", "nphotons", "intensity_scale", "intensity_scale.trainable", "probe", "probe_scale",
            "probe.big", "probe.mask", "h5_path", "neighbor_count", "n_groups", "batch_size", "nepochs",
            "split_fraction", "nll_weight", "mae_weight", "realspace_weight", "tv_weight")
CFG = types.SimpleNamespace(**{key.replace(".", "_"): key for key in CFG_KEYS})

# -- module state read through vars(), never getattr --------------------------------------------------------------
MODEL_LOG_SCALE = "log_scale"                # ptycho.model.log_scale (legacy: a module global)
MODEL_LAZY_CACHE = "_lazy_cache"             # main: built lazily, cached here
LOCAL_OFFSET_SIGN = "local_offset_sign"      # ptycho.raw_data

# -- RawData (and its NPZ files) ---------------------------------------------------------------------------------
RAW_DATA_FIELDS = ("xcoords", "ycoords", "xcoords_start", "ycoords_start", "diff3d", "probeGuess", "objectGuess",
                   "scan_index")
XCOORDS, YCOORDS = RAW_DATA_FIELDS[:2]
PROBE_GUESS = "probeGuess"
OBJECT_GUESS = "objectGuess"
DIFF3D = "diff3d"
RAW_DATA_ARTIFACT = "raw_data_npz"          # the artifact --save-raw-data writes: the train set as a RawData .npz

# -- formulas the profile quotes (PtychoPINN's specs/spec-ptycho-core.md) ----------------------------------------
FALLBACK_SCALE_FORMULA = "sqrt(nphotons) / (N/2)"
DATASET_SCALE_FORMULA = "sqrt(nphotons / E_batch[sum_xy |X|^2])"
PROBE_NORM_FORMULA = "probe_scale * mean(|mask * probe|)"
FORMULAS = (FALLBACK_SCALE_FORMULA, DATASET_SCALE_FORMULA, PROBE_NORM_FORMULA)
