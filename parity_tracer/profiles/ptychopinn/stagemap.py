"""The reducer's PtychoPINN knowledge, as tables.

Which event feeds which spec stage, how ``params.cfg`` maps onto the configuration block, how seed calls map
onto the provenance seeds. The document builder stays generic: it only reads these tables. Source names are the
canonical ``module::qualname`` the profile emits (package prefix stripped), from ``names``.
"""

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from parity_tracer.profiles.ptychopinn import names as n
from parity_tracer.profiles.ptychopinn.names import CFG

# -- stages (spec §2.5) --------------------------------------------------------------------------------------

REQUIRED_STAGES = ("raw_diffraction", "grouped_diffraction", "grouped_X_full", "container_X",
                   "training_labels_Y_amp", "inference_prediction")
OPTIONAL_STAGES = ("pre_normalization_diffraction", "training_labels_Y_I", "scaler_output")

_MK_SIMDATA = n.MK_SIMDATA
_GENERATE_GROUPED = n.GENERATE_GROUPED_DATA

INFERENCE_SOURCES = (n.TRAIN_EVAL, n.STITCH_PREDICTIONS, n.TRAIN_PINN_EVAL, n.REASSEMBLE, n.REASSEMBLE_PATCHES,
                     n.REASSEMBLE_POSITION, n.RUN_PINN_INFERENCE)


@dataclass(frozen=True)
class StageRule:
    name: str
    required: bool
    # preference order: earlier ranks better, unknown sources rank last; a tuple entry ranks its sources
    # equally (then role and stream order decide)
    sources: Tuple[object, ...]
    equivalents: Tuple[str, ...] = ()    # sources that play this stage's role on the grid "lines" path
    equivalent_note: Optional[str] = None
    absent_reason: str = ""


STAGE_RULES: Dict[str, StageRule] = {r.name: r for r in (
    StageRule(
        "raw_diffraction", True,
        # the RawData path builds train and test sets one after the other, simulated or loaded: equal rank
        ((n.FROM_SIMULATION, n.FROM_FILE, n.LOAD_DATA), n.ILLUMINATE_AND_DIFFRACT, _MK_SIMDATA),
        absent_reason="no simulation or file load was captured (RawData.from_simulation/from_file, "
                      "illuminate_and_diffract, mk_simdata): the run did not reach it or it was not patched"),
    StageRule(
        "grouped_diffraction", True, (_GENERATE_GROUPED, _MK_SIMDATA), equivalents=(_MK_SIMDATA,),
        equivalent_note="grid 'lines' path: mk_simdata emits grouped channel-format diffraction directly; "
                        "RawData.generate_grouped_data does not run",
        absent_reason="RawData.generate_grouped_data was not called and no grid-simulation equivalent "
                      "(mk_simdata) was captured"),
    StageRule(
        "grouped_X_full", True,
        (n.RAW_NORMALIZE_DATA, n.LOADER_NORMALIZE_DATA, n.GENERATE_DATA),
        equivalents=(n.GENERATE_DATA,),
        equivalent_note="grid 'lines' path: normalize_data does not run; X_train from generate_data is already "
                        "scaled by the simulation's intensity_scale",
        absent_reason="normalize_data was not called and no grid-path equivalent (data_preprocessing."
                      "generate_data) was captured"),
    StageRule(
        "container_X", True, (n.CONTAINER_INIT,),
        absent_reason="no PtychoDataContainer was constructed (or its __init__ was not patched)"),
    StageRule(
        "training_labels_Y_amp", True, (n.PREPARE_OUTPUTS,),
        absent_reason="model.prepare_outputs was not called: the run did not train, or trained through a "
                      "path that bypasses it"),
    StageRule(
        "inference_prediction", True, INFERENCE_SOURCES,
        absent_reason="no inference/stitching call was captured: the run did not reach inference"),
    StageRule(
        "pre_normalization_diffraction", False, (_GENERATE_GROUPED,),
        absent_reason="only captured on the RawData grouping path (before normalize_data)"),
    StageRule(
        "training_labels_Y_I", False, (n.PREPARE_OUTPUTS,),
        absent_reason="model.prepare_outputs was not called"),
    StageRule(
        "scaler_output", False, (),
        absent_reason="the IntensityScaler output exists only inside the Keras graph (symbolic tensors); "
                      "no eager value can be captured"),
)}

ABSENT_REASON_UNKNOWN_STAGE = "not captured"


def source_rank(stage: str, source: Optional[str]) -> int:
    """Position of ``source`` in the stage's preference list; unknown sources rank after all known ones."""
    rule = STAGE_RULES.get(stage)
    if rule is None:
        return 0
    for rank, entry in enumerate(rule.sources):
        if source == entry or (isinstance(entry, tuple) and source in entry):
            return rank
    return len(rule.sources)


def is_equivalent(stage: str, source: Optional[str]) -> bool:
    rule = STAGE_RULES.get(stage)
    return rule is not None and source in rule.equivalents


# Ratios of stage means (§2.6): name -> (numerator stage, denominator stage). The stage blamed for a deviation
# is the numerator (the step that changed the scale). "ground_truth" is the loaded ground-truth amplitude.
STAGE_RATIOS = (
    ("raw_to_grouped", "grouped_diffraction", "raw_diffraction"),
    ("grouped_to_normalized", "grouped_X_full", "grouped_diffraction"),
    ("normalized_to_container", "container_X", "grouped_X_full"),
    ("prediction_to_truth", "inference_prediction", "ground_truth"),
)

# Stage whose statistics give E_batch[sum_xy |X|^2] for the dataset-derived intensity scale (§2.7).
INTENSITY_SCALE_ARRAYS = ("container_X", "grouped_X_full")

# -- training / inference sources ----------------------------------------------------------------------------

TRAINING_SOURCES = (n.KERAS_FIT, n.TF_KERAS_FIT, n.MODEL_TRAIN)
# training events carrying this flag set to true trained the PINN itself (fit called inside ptycho.model.train);
# they win over other fits in the same run (e.g. a baseline model)
TRAINING_PREFERRED_FLAG = "pinn"

# -- configuration (spec §2.3) from params.cfg ---------------------------------------------------------------

CFG_INTENSITY_SCALE = CFG.intensity_scale

# The grouping step's metadata can supply what cfg lacks (main's TrainingConfig puts these into cfg; legacy
# passes K / nsamples as arguments).
GROUPING_SOURCES = (_GENERATE_GROUPED,)
GROUPING_STAGES = ("grouped_diffraction", "pre_normalization_diffraction")


@dataclass(frozen=True)
class ConfigField:
    key: str                    # configuration block key
    kind: str                   # "int" | "float" | "bool"
    cfg_keys: Tuple[str, ...]   # params.cfg keys, first present wins
    metadata_keys: Tuple[str, ...] = ()   # grouping-event metadata keys used when cfg has none


CONFIG_FIELDS = (
    ConfigField("N", "int", (CFG.N,)),
    ConfigField("gridsize", "int", (CFG.gridsize,)),
    ConfigField("nphotons", "float", (CFG.nphotons,)),
    ConfigField("neighbor_count", "int", (CFG.neighbor_count,), ("neighbor_count", "K", "k")),
    ConfigField("group_count", "int", (CFG.n_groups,), ("group_count", CFG.n_groups, "nsamples")),
    ConfigField("batch_size", "int", (CFG.batch_size,)),
    ConfigField("nepochs", "int", (CFG.nepochs,)),
    ConfigField("split_fraction", "float", (CFG.split_fraction,)),
)

LOSS_WEIGHTS = (("nll_weight", CFG.nll_weight), ("mae_weight", CFG.mae_weight),
                ("realspace_weight", CFG.realspace_weight), ("tv_weight", CFG.tv_weight))
# loss_fn: 'nll' when cfg[key] > 0 else 'mae'
LOSS_FN_RULE = (CFG.nll_weight, "nll", "mae")
INTENSITY_SCALE_TRAINABLE = (CFG.intensity_scale_trainable, "bool")

# -- seeds (spec §2.2) ---------------------------------------------------------------------------------------

# api spelling -> family. Aliases cover the module spellings a profile may record.
SEED_APIS = {
    "numpy.random.seed": "numpy",
    "np.random.seed": "numpy",
    "tf.random.set_seed": "tensorflow",
    "tensorflow.random.set_seed": "tensorflow",
    "keras.utils.set_random_seed": "keras",
    "tf.keras.utils.set_random_seed": "keras",
    "tf_keras.utils.set_random_seed": "keras",
    "keras.src.utils.rng_utils.set_random_seed": "keras",
    "random.seed": "python",
}
# A numpy seed made inside one of these calls seeds the simulated object and the simulation noise.
SIM_SEED_CONTEXTS = (n.LOAD_SIMULATED_DATA, _MK_SIMDATA)
# Seed families that set the training seed, and calls whose seeds are the execution (training) seed.
TRAINING_SEED_FAMILIES = ("tensorflow", "keras")
TRAINING_SEED_CONTEXTS = (n.APPLY_EXECUTION_SEED,)
# Events from (or inside) these calls mean the simulation has started: a numpy seed after them is not the
# object/simulation seed.
SIMULATION_SOURCES = frozenset((_MK_SIMDATA, n.ILLUMINATE_AND_DIFFRACT, n.FROM_SIMULATION))

# -- datasets / ground truth ---------------------------------------------------------------------------------

DATASET_TYPES = ("simulated", "npz_file")
# dataset type inferred from the raw_diffraction source when no dataset event was recorded
DATASET_TYPE_BY_SOURCE = {
    n.FROM_SIMULATION: "simulated",
    n.ILLUMINATE_AND_DIFFRACT: "simulated",
    _MK_SIMDATA: "simulated",
    n.FROM_FILE: "npz_file",
    n.LOAD_DATA: "npz_file",
}
GROUND_TRUTH_SOURCE_BY_DATASET = {"simulated": "simulated_object", "npz_file": "external_npz"}
DEFAULT_GROUND_TRUTH_SOURCE = "simulated_object"


def seed_family(api: Optional[str]) -> Optional[str]:
    if not isinstance(api, str):
        return None
    return SEED_APIS.get(api.strip())


# -- several runs in one process (segment.py) ----------------------------------------------------------------

# The configuration values (configuration block keys, read from a config event's params.cfg snapshot) that define
# a run: a change of one of them starts a new run, and the label of a run is made of those that differ between
# the runs of a stream. Label parts: (key, format) in label order.
RUN_DEFINING_CONFIG = ("nphotons", "loss_fn", "gridsize", "N")
RUN_LABEL_PARTS = (("nphotons", "nphotons{}"), ("loss_fn", "{}"), ("gridsize", "gs{}"), ("N", "N{}"))
# config events that set the configuration a run works with (``when``); the exit snapshot does not
RUN_CONFIG_WHEN = ("update_legacy_dict", "training_start")
# "a new data set": a dataset event (simulators and loaders) or a raw diffraction capture
DATA_SET_KINDS = ("dataset",)
DATA_SET_STAGES = ("raw_diffraction",)
# the run-defining values a data set shares with every run that uses it (a run trains on data of its own dose)
DATA_SET_DEFINING = ("nphotons", "N")
# events right after the last data-set event that still describe the data set (ground truth, simulation scale)
DATA_SET_TRAILING = ("dataset", "artifact", "intensity_scale")
# Events that report on the work just finished and stay with it when a new run starts after them: kind -> the
# ``what`` values that qualify (None: every event of that kind).
RUN_TRAILING = {"artifact": None, "intensity_scale": ("model_log_scale",)}
# Events about the process rather than a moment of the program: they belong to every run of that process.
PROCESS_KINDS = ("header", "footer", "patch", "environment", "origin")
