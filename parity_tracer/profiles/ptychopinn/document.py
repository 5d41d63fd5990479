"""PtychoPINN knowledge of the document build: the intensity-scale formulas (spec §2.7) and the ``params.cfg``
keys and event fields they read. The build in ``parity_tracer.document`` only calls these.
"""

import math

from parity_tracer.profiles.ptychopinn import names, stagemap

SPEC_REFERENCE = "specs/spec-ptycho-core.md §Normalization Invariants"
DATASET_FORMULA = names.DATASET_SCALE_FORMULA
FALLBACK_FORMULA = names.FALLBACK_SCALE_FORMULA
CFG_NPHOTONS = names.CFG.nphotons
CFG_N = names.CFG.N
CFG_INTENSITY_SCALE = stagemap.CFG_INTENSITY_SCALE
INFERENCE_NORM_FIELD = "norm_Y_I"   # the inference event's field carrying the prediction's normalization

# the ``what`` of an intensity_scale event (what the profile's handlers emit)
SCALE_CALCULATED = "calculated"
SCALE_CFG_WRITE = "cfg_write"
SCALE_MODEL = "model_log_scale"
SCALE_SIMULATION = "simulation"


def batch_mean_sum_intensity(stages, n):
    """``(E_batch[sum_xy X^2] per pattern, stage used)`` from the first usable array stage's mean and std;
    ``(None, None)`` when none has both. ``n`` (cfg N) gives the pattern size when the shape does not."""
    for name in stagemap.INTENSITY_SCALE_ARRAYS:
        stats = stages.get(name, {}).get("stats") or {}
        mean, std, shape = stats.get("mean"), stats.get("std"), stats.get("shape")
        if mean is None or std is None:
            continue
        if shape and len(shape) >= 3:
            pixels = shape[1] * shape[2]
        elif n:
            pixels = n * n
        else:
            continue
        return pixels * (std * std + mean * mean), name
    return None, None


def dataset_derived_scale(nphotons, batch_mean):
    """DATASET_FORMULA, or None without its inputs."""
    if nphotons is not None and nphotons >= 0 and batch_mean:
        return math.sqrt(nphotons / batch_mean)
    return None


def fallback_scale(nphotons, n):
    """FALLBACK_FORMULA, or None without its inputs."""
    return math.sqrt(nphotons) / (n / 2.0) if nphotons is not None and nphotons >= 0 and n else None
