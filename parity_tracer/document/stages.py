"""§2.5 intensity stages (the best event per stage, by the stage map's rules) and §2.6 the ratios between them."""

import math

from parity_tracer.profiles.ptychopinn import stagemap
from parity_tracer.document import fields

SYMMETRY_TOLERANCE = 0.05


_STAT_KEYS = (("min", fields.number), ("max", fields.number), ("mean", fields.number), ("std", fields.number),
              ("nan_count", fields.count), ("finite_count", fields.count), ("total_count", fields.count))
_STAT_EXTRAS = ("inf_count", "symbolic", "unsupported", "type", "error", "amplitude", "phase", "energy")


def usable(stats):
    """Statistics of a real value (not of a symbolic tensor or an unsupported type)."""
    return isinstance(stats, dict) and not stats.get("symbolic") and not stats.get("unsupported")


def _stage_stats(stats):
    if not isinstance(stats, dict):
        return None
    out = {"shape": fields.shape(stats.get("shape")), "dtype": fields.string(stats.get("dtype"))}
    for key, coerce in _STAT_KEYS:
        out[key] = coerce(stats.get(key))
    for key in _STAT_EXTRAS:
        if key in stats:
            out[key] = fields.count(stats[key]) if key == "inf_count" else stats[key]
    return out


def _pick_stage(run, name):
    candidates = run.stage_events.get(name)
    if not candidates:
        return None, 0

    def rank(ev):   # usable statistics, the step itself over a stand-in, source preference, role train, earliest
        return (0 if usable(ev.get("stats")) else 1, 1 if ev.get("equivalent") is True else 0,
                stagemap.source_rank(name, ev.get("source")), 0 if ev.get("role") == "train" else 1, ev["_i"])
    return min(candidates, key=rank), len(candidates)


def _stage_entry(run, name):
    ev, n = _pick_stage(run, name)
    rule = stagemap.STAGE_RULES.get(name)
    if ev is None:
        return {"name": name, "source": None, "stats": None,
                "metadata": {"count": None, "gridsize": None, "group_limit": None},
                "equivalent": False, "note": None, "role": None, "candidates": 0, "absent": True,
                "absent_reason": rule.absent_reason if rule else stagemap.ABSENT_REASON_UNKNOWN_STAGE}
    source = fields.string(ev.get("source"))
    equivalent = bool(ev.get("equivalent")) or stagemap.is_equivalent(name, source)
    note = fields.string(ev.get("note")) or (rule.equivalent_note if equivalent and rule else None)
    stats = _stage_stats(ev.get("stats"))
    meta_in = ev.get("metadata") if isinstance(ev.get("metadata"), dict) else {}
    shape = (stats or {}).get("shape")
    count = fields.count(meta_in.get("count"))
    if count is None and shape:
        count = shape[0]
    metadata = {"count": count, "gridsize": fields.integer(meta_in.get("gridsize")),
                "group_limit": fields.integer(meta_in.get("group_limit"))}
    for key in sorted(meta_in):
        metadata.setdefault(key, meta_in[key])
    return {"name": name, "source": source, "stats": stats, "metadata": metadata, "equivalent": equivalent,
            "note": note, "role": fields.string(ev.get("role")), "candidates": n, "absent": False, "absent_reason": None}


def stages(run):
    """``(entries by name, ordered entries, missing required, absent optional, other stages)``."""
    entries = {name: _stage_entry(run, name) for name in stagemap.REQUIRED_STAGES}
    ordered = [entries[n] for n in stagemap.REQUIRED_STAGES]
    absent_optional = []
    for name in stagemap.OPTIONAL_STAGES:
        if run.stage_events.get(name):
            entries[name] = _stage_entry(run, name)
            ordered.append(entries[name])
        else:
            absent_optional.append({"name": name, "reason": stagemap.STAGE_RULES[name].absent_reason})
    known = set(stagemap.REQUIRED_STAGES) | set(stagemap.OPTIONAL_STAGES)
    other = [_stage_entry(run, n) for n in sorted(run.stage_events) if n not in known]
    missing = [n for n in stagemap.REQUIRED_STAGES if entries[n]["absent"]]
    return entries, ordered, missing, absent_optional, other


def stage_ratios(stages, inference, comparison):
    means = {name: (entry["stats"] or {}).get("mean") for name, entry in stages.items()}
    prediction = inference["amplitude"].get("mean")
    means["inference_prediction"] = prediction if prediction is not None else means.get("inference_prediction")
    means["ground_truth"] = comparison.get("ground_truth_amplitude_mean")
    ratios, blamed = {}, {}
    for name, num, den in stagemap.STAGE_RATIOS:
        ratios[name] = fields.ratio(means.get(num), means.get(den))
        blamed[name] = num
    values = list(ratios.values())
    product = None
    if all(v is not None for v in values):
        product = 1.0
        for v in values:
            product *= v
        product = product if math.isfinite(product) else None
    worst, worst_dev = None, -1.0
    for name, r in ratios.items():
        if r is not None:
            dev = abs(math.log(abs(r)))
            if dev > worst_dev:
                worst, worst_dev = blamed[name], dev
    symmetry = {"expected": 1.0, "actual": product, "tolerance": SYMMETRY_TOLERANCE,
                "violated": (abs(product - 1.0) > SYMMETRY_TOLERANCE) if product is not None else None,
                "primary_deviation_source": worst,
                "missing_ratios": [n for n, r in ratios.items() if r is None]}
    return ratios, product, symmetry


