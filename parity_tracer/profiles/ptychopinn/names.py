"""Every PtychoPINN name the tracer uses, written once: modules, canonical source names, ``params.cfg`` keys,
``RawData`` fields and the formulas the profile quotes.

Everything else (points, handlers, the stage map, the protocol, the document and maintainer knowledge) refers to
these constants; ``tests/test_boundaries.py`` derives from them what nothing outside ``profiles/`` may name.
Argument names of single functions (``which``, ``out_prefix``, …) stay with the one handler that reads them.
"""

ROOT = "ptycho"                      # the package; under a module prefix its modules are re-rooted


def _m(name):
    return ROOT + "." + name


# -- modules ---------------------------------------------------------------------------------------------------
PARAMS = _m("params")
DIFFSIM = _m("diffsim")
RAW_DATA = _m("raw_data")
LOADER = _m("loader")
DATA_PREPROCESSING = _m("data_preprocessing")
PROBE = _m("probe")
TRAIN_PINN = _m("train_pinn")
TRAIN = _m("train")                  # legacy only: runs the whole pipeline on import
MODEL = _m("model")
MODEL_MANAGER = _m("model_manager")
CONFIG = _m("config.config")
TF_HELPER = _m("tf_helper")
STITCHING = _m("image.stitching")
COMPONENTS = _m("workflows.components")
GRID_LINES = _m("workflows.grid_lines_workflow")

MODULES = (ROOT, PARAMS, DIFFSIM, RAW_DATA, LOADER, DATA_PREPROCESSING, PROBE, TRAIN_PINN, TRAIN, MODEL,
           MODEL_MANAGER, CONFIG, TF_HELPER, STITCHING, COMPONENTS, GRID_LINES)


def source(module, qualname):
    """The canonical ``module::qualname`` events carry (package prefix stripped)."""
    return module + "::" + qualname


# -- canonical sources (capture points of the PtychoPINN package) -------------------------------------------------
MK_SIMDATA = source(DIFFSIM, "mk_simdata")
ILLUMINATE_AND_DIFFRACT = source(DIFFSIM, "illuminate_and_diffract")
FROM_SIMULATION = source(RAW_DATA, "RawData.from_simulation")
FROM_FILE = source(RAW_DATA, "RawData.from_file")
LOAD_DATA = source(COMPONENTS, "load_data")
GENERATE_GROUPED_DATA = source(RAW_DATA, "RawData.generate_grouped_data")
RAW_NORMALIZE_DATA = source(RAW_DATA, "normalize_data")
LOADER_NORMALIZE_DATA = source(LOADER, "normalize_data")
LOAD_SIMULATED_DATA = source(DATA_PREPROCESSING, "load_simulated_data")
GENERATE_DATA = source(DATA_PREPROCESSING, "generate_data")
CREATE_PTYCHO_DATASET = source(DATA_PREPROCESSING, "create_ptycho_dataset")
LOADER_LOAD = source(LOADER, "load")
CONTAINER_INIT = source(LOADER, "PtychoDataContainer.__init__")
SET_PROBE = source(PROBE, "set_probe")
SET_DEFAULT_PROBE = source(PROBE, "set_default_probe")
SET_PROBE_GUESS = source(PROBE, "set_probe_guess")
GET_DEFAULT_PROBE = source(PROBE, "get_default_probe")
LOAD_IDEAL_DISK_PROBE = source(GRID_LINES, "load_ideal_disk_probe")
LOAD_PROBE_GUESS = source(GRID_LINES, "load_probe_guess")
APPLY_PROBE_TRANSFORM_PIPELINE = source(GRID_LINES, "apply_probe_transform_pipeline")
APPLY_PROBE_MASK = source(GRID_LINES, "apply_probe_mask")
CONFIGURE_LEGACY_PARAMS = source(GRID_LINES, "configure_legacy_params")
CALCULATE_INTENSITY_SCALE = source(TRAIN_PINN, "calculate_intensity_scale")
TRAIN_PINN_TRAIN = source(TRAIN_PINN, "train")
MODEL_TRAIN = source(MODEL, "train")
PREPARE_INPUTS = source(MODEL, "prepare_inputs")
PREPARE_OUTPUTS = source(MODEL, "prepare_outputs")
UPDATE_LEGACY_DICT = source(CONFIG, "update_legacy_dict")
MODEL_SAVE = source(MODEL_MANAGER, "save")
SAVE_PINN_MODEL = source(GRID_LINES, "save_pinn_model")
TRAIN_PINN_EVAL = source(TRAIN_PINN, "eval")
TRAIN_EVAL = source(TRAIN_PINN, "train_eval")
REASSEMBLE = source(DATA_PREPROCESSING, "reassemble")
REASSEMBLE_PATCHES = source(STITCHING, "reassemble_patches")
REASSEMBLE_POSITION = source(TF_HELPER, "reassemble_position")
STITCH_PREDICTIONS = source(GRID_LINES, "stitch_predictions")
RUN_PINN_INFERENCE = source(GRID_LINES, "run_pinn_inference")
SIMULATE_GRID_DATA = source(GRID_LINES, "simulate_grid_data")
RUN_GRID_LINES_WORKFLOW = source(GRID_LINES, "run_grid_lines_workflow")
APPLY_EXECUTION_SEED = source(GRID_LINES, "_apply_execution_seed")

# -- framework sources the profile also patches (not PtychoPINN's, but named by the stage map) --------------------
KERAS_FIT = source("keras", "Model.fit")
TF_KERAS_FIT = source("tf_keras", "Model.fit")
NUMPY_SEED = source("numpy.random", "seed")
RANDOM_SEED = source("random", "seed")
TF_SET_SEED = source("tensorflow", "random.set_seed")
KERAS_SET_SEED = source("keras", "utils.set_random_seed")
TF_KERAS_SET_SEED = source("tf_keras", "utils.set_random_seed")
FRAMEWORKS = ("tensorflow", "keras", "tf_keras")

SOURCES = tuple(v for k, v in list(globals().items()) if k.isupper() and isinstance(v, str) and "::" in v
                and v.startswith(ROOT + "."))


# -- params.cfg ------------------------------------------------------------------------------------------------
CFG_DICT = "cfg"                     # the dict in ptycho.params


class CFG:
    """``params.cfg`` keys the profile reads."""
    N = "N"
    gridsize = "gridsize"
    nphotons = "nphotons"
    intensity_scale = "intensity_scale"
    intensity_scale_trainable = "intensity_scale.trainable"
    probe = "probe"
    probe_scale = "probe_scale"
    probe_big = "probe.big"
    probe_mask = "probe.mask"
    h5_path = "h5_path"
    neighbor_count = "neighbor_count"
    n_groups = "n_groups"
    batch_size = "batch_size"
    nepochs = "nepochs"
    split_fraction = "split_fraction"
    nll_weight = "nll_weight"
    mae_weight = "mae_weight"
    realspace_weight = "realspace_weight"
    tv_weight = "tv_weight"


CFG_KEYS = tuple(v for k, v in vars(CFG).items() if not k.startswith("_"))

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

# -- formulas the profile quotes (target-api §2; specs/spec-ptycho-core.md §Normalization Invariants) -------------
FALLBACK_SCALE_FORMULA = "sqrt(nphotons) / (N/2)"
DATASET_SCALE_FORMULA = "sqrt(nphotons / E_batch[sum_xy |X|^2])"
PROBE_NORM_FORMULA = "probe_scale * mean(|mask * probe|)"
FORMULAS = (FALLBACK_SCALE_FORMULA, DATASET_SCALE_FORMULA, PROBE_NORM_FORMULA)
