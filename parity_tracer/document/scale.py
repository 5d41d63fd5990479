"""§2.7 intensity scale: the dataset-derived and fallback values (the profile's formulas), the value the run
used and which of the two it matches, the value recorded for the bundle against the model's own."""

from parity_tracer.document import fields
from parity_tracer.document.index import capped, last_before_training
from parity_tracer.profiles.ptychopinn import document as knowledge

USED_MODE_RTOL = 1e-3


def intensity_scale(run, cfg, stages):
    nphotons = fields.number(cfg.get(knowledge.CFG_NPHOTONS))
    n = fields.integer(cfg.get(knowledge.CFG_N))
    batch_mean, array_used = knowledge.batch_mean_sum_intensity(stages, n)
    derived = knowledge.dataset_derived_scale(nphotons, batch_mean)
    fallback = knowledge.fallback_scale(nphotons, n)

    scale_events = run.kind("intensity_scale")
    by_what = {}
    for ev in scale_events:
        by_what.setdefault(fields.string(ev.get("what")), []).append(ev)
    calculated = by_what.get(knowledge.SCALE_CALCULATED, [])
    writes = by_what.get(knowledge.SCALE_CFG_WRITE, [])
    used_ev, used_from = last_before_training(run, calculated), "calculated"
    if used_ev is None and calculated:
        used_ev = calculated[0]
    if used_ev is None:
        used_ev, used_from = last_before_training(run, writes), "cfg_write"
    used = fields.number(used_ev.get("value")) if used_ev is not None else None
    used_mode, best = None, None
    for mode, candidate in (("dataset_derived", derived), ("fallback", fallback)):
        if used is None or not candidate:
            continue
        rel = abs(used - candidate) / abs(candidate)
        if rel <= USED_MODE_RTOL and (best is None or rel < best):
            used_mode, best = mode, rel

    recorded = None
    if run.config_at_training is not None and isinstance(run.config_at_training.get("cfg"), dict):
        recorded = fields.number(run.config_at_training["cfg"].get(knowledge.CFG_INTENSITY_SCALE))
    if recorded is None:
        last_write = last_before_training(run, writes)
        recorded = fields.number(last_write.get("value")) if last_write is not None else None
    if recorded is None:
        recorded = fields.number(cfg.get(knowledge.CFG_INTENSITY_SCALE))
    model_events = by_what.get(knowledge.SCALE_MODEL, [])
    model = fields.number(model_events[-1].get("value")) if model_events else None
    return {
        "dataset_derived": {"formula": knowledge.DATASET_FORMULA, "batch_mean_sum_intensity": batch_mean,
                            "computed_scale": derived, "spec_reference": knowledge.SPEC_REFERENCE,
                            "array_used": array_used},
        "fallback": {"formula": knowledge.FALLBACK_FORMULA, "computed_scale": fallback},
        "used_mode": used_mode,
        "recorded_in_bundle": recorded,
        "model_exp_log_scale": model,
        "delta_bundle_vs_model": (recorded - model) if recorded is not None and model is not None else None,
        "ratio_bundle_vs_model": fields.ratio(recorded, model),
        "used_value": used,
        "used_value_source": used_from if used_ev is not None else None,
        "writes": capped(run, [{"value": fields.number(e.get("value")), "previous": fields.number(e.get("previous")),
                                 "source": fields.string(e.get("source"))} for e in writes], "intensity_scale cfg writes"),
        "simulation_scales": capped(run, [fields.number(e.get("value")) for e in by_what.get(knowledge.SCALE_SIMULATION, [])],
                                     "simulation intensity scales"),
    }


