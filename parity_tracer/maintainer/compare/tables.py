"""The side-by-side blocks of a comparison: each spec section of both runs as rows ``{field, a, b, rel_diff,
differs}`` (shown, never judged), plus the facts about each run the header shows."""

from parity_tracer.maintainer.compare.checks import (
    DISPLAY_RTOL, EPS, FLOOR_FRACTION, PHASE_SCALE, SCALE_CONSISTENCY_RTOL, STAGE_ORDER, STAT_KEYS, absent_reason,
    compare_stage_stats, group, other_stage, rel_diff, required_stage, row, scale_floor, stage_present,
    stage_tolerance, within)
from parity_tracer.maintainer.compare.formatting import fmt, fmt_shape
from parity_tracer.document.fields import get, mapping, number, shape
from parity_tracer.profiles.ptychopinn import maintainer as ptychopinn

def _side(field, a, b, numeric=True, floor=EPS):
    va, vb = (number(a), number(b)) if numeric else (a, b)
    if numeric and va is not None and vb is not None:
        rel = rel_diff(va, vb, floor)
        return {"field": field, "a": va, "b": vb, "rel_diff": rel, "differs": rel > DISPLAY_RTOL}
    if numeric and (va is None) != (vb is None):
        return {"field": field, "a": va if va is not None else a, "b": vb if vb is not None else b,
                "rel_diff": None, "differs": True}
    return {"field": field, "a": a, "b": b, "rel_diff": None, "differs": a != b}


def stage_table(stages_a, stages_b):
    names = [n for n in STAGE_ORDER if n in stages_a or n in stages_b]
    names += sorted((set(stages_a) | set(stages_b)) - set(names))
    out = []
    for name in names:
        ea, eb = stages_a.get(name), stages_b.get(name)
        tol = stage_tolerance(name)
        pa, pb = stage_present(ea), stage_present(eb)
        rows = compare_stage_stats(ea["stats"] if pa else None, eb["stats"] if pb else None, tol) \
            if pa and pb else []
        if not (pa and pb):
            for k in ("shape",) + STAT_KEYS:
                va = get(ea, "stats", k) if pa else None
                vb = get(eb, "stats", k) if pb else None
                if va is not None or vb is not None:
                    rows.append(row(k, va, vb, None, None))
        out.append({"name": name, "required": required_stage(name), "tolerance": tol,
                    "a": _stage_info(ea, pa), "b": _stage_info(eb, pb), "rows": rows,
                    "ok": group(rows)["ok"] if pa and pb else None})
    return out


def _stage_info(entry, present):
    if not isinstance(entry, dict):
        return {"present": False, "source": None, "equivalent": False, "note": None, "absent_reason": "not in document"}
    return {"present": present, "source": entry.get("source"), "equivalent": bool(entry.get("equivalent")),
            "note": entry.get("note"), "absent_reason": None if present else absent_reason(entry),
            "metadata": entry.get("metadata") if isinstance(entry.get("metadata"), dict) else {}}


def ratio_table(a, b):
    names = []
    for doc in (a, b):
        for k in mapping(doc.get("stage_ratios")):
            if k not in names:
                names.append(k)
    rows = [_side(n, get(a, "stage_ratios", n), get(b, "stage_ratios", n)) for n in names]
    rows.append(_side("full_chain_product", a.get("full_chain_product"), b.get("full_chain_product")))
    rows.append(_side("symmetry_check.violated", get(a, "symmetry_check", "violated"),
                      get(b, "symmetry_check", "violated"), numeric=False))
    rows.append(_side("symmetry_check.primary_deviation_source", get(a, "symmetry_check", "primary_deviation_source"),
                      get(b, "symmetry_check", "primary_deviation_source"), numeric=False))
    return rows


def shape_descriptors(amp):
    mean, std, mx = number(get(amp, "mean")), number(get(amp, "std")), number(get(amp, "max"))
    if not mean:
        return None, None
    return (std / mean if std is not None else None), (mx / mean if mx is not None else None)


def probe_table(a, b):
    pa, pb = mapping(a.get("probe")), mapping(b.get("probe"))
    rows = [
        _side("source.type", get(pa, "source", "type"), get(pb, "source", "type"), numeric=False),
        _side("source.path", get(pa, "source", "path"), get(pb, "source", "path"), numeric=False),
        _side("source.checksum", get(pa, "source", "checksum"), get(pb, "source", "checksum"), numeric=False),
        _side("shape", get(pa, "shape"), get(pb, "shape"), numeric=False),
        _side("dtype", get(pa, "dtype"), get(pb, "dtype"), numeric=False),
        _side("entry", get(pa, "entry"), get(pb, "entry"), numeric=False),
        _side("normalization.method", get(pa, "normalization", "method"), get(pb, "normalization", "method"),
              numeric=False),
        _side("normalization.probe_scale", get(pa, "normalization", "probe_scale"),
              get(pb, "normalization", "probe_scale")),
        _side("normalization.probe_big", get(pa, "normalization", "probe_big"),
              get(pb, "normalization", "probe_big"), numeric=False),
        _side("normalization.probe_mask", get(pa, "normalization", "probe_mask"),
              get(pb, "normalization", "probe_mask"), numeric=False),
        _side("normalization.mask_coverage_fraction", get(pa, "normalization", "mask_stats", "coverage_fraction"),
              get(pb, "normalization", "mask_stats", "coverage_fraction")),
        _side("normalization.computed_norm_factor", get(pa, "normalization", "computed_norm_factor"),
              get(pb, "normalization", "computed_norm_factor")),
    ]
    for phase in ("pre_normalization", "post_normalization"):
        amp_a, amp_b = get(pa, phase, "amplitude"), get(pb, phase, "amplitude")
        floor = scale_floor(amp_a, amp_b)
        for k in STAT_KEYS + ("l2_norm",):
            rows.append(_side("%s.amplitude.%s" % (phase, k), get(amp_a, k), get(amp_b, k), floor=floor))
        for k in ("mean", "std"):
            rows.append(_side("%s.phase.%s" % (phase, k), get(pa, phase, "phase", k), get(pb, phase, "phase", k),
                              floor=PHASE_SCALE * FLOOR_FRACTION))
        rows.append(_side("%s.energy" % phase, get(pa, phase, "energy"), get(pb, phase, "energy")))
        cv_a, pk_a = shape_descriptors(amp_a)
        cv_b, pk_b = shape_descriptors(amp_b)
        rows.append(_side("%s.amplitude.std/mean (scale-free)" % phase, cv_a, cv_b))
        rows.append(_side("%s.amplitude.max/mean (scale-free)" % phase, pk_a, pk_b))
    calls_a, calls_b = get(pa, "calls"), get(pb, "calls")
    rows.append(_side("set_probe calls", len(calls_a) if isinstance(calls_a, list) else None,
                      len(calls_b) if isinstance(calls_b, list) else None))
    return rows


def scale_table(a, b):
    sa, sb = mapping(a.get("intensity_scale")), mapping(b.get("intensity_scale"))
    rows = [
        _side("dataset_derived.computed_scale", get(sa, "dataset_derived", "computed_scale"),
              get(sb, "dataset_derived", "computed_scale")),
        _side("dataset_derived.batch_mean_sum_intensity", get(sa, "dataset_derived", "batch_mean_sum_intensity"),
              get(sb, "dataset_derived", "batch_mean_sum_intensity")),
        _side("fallback.computed_scale", get(sa, "fallback", "computed_scale"),
              get(sb, "fallback", "computed_scale")),
        _side("used_mode", sa.get("used_mode"), sb.get("used_mode"), numeric=False),
        _side("used_value", sa.get("used_value"), sb.get("used_value")),
        _side("recorded_in_bundle (configured)", sa.get("recorded_in_bundle"), sb.get("recorded_in_bundle")),
        _side("model_exp_log_scale", sa.get("model_exp_log_scale"), sb.get("model_exp_log_scale")),
        _side("ratio_bundle_vs_model", sa.get("ratio_bundle_vs_model"), sb.get("ratio_bundle_vs_model")),
        _side("delta_bundle_vs_model", sa.get("delta_bundle_vs_model"), sb.get("delta_bundle_vs_model")),
    ]
    sims_a, sims_b = sa.get("simulation_scales"), sb.get("simulation_scales")
    rows.append(_side("simulation_scales[0]", sims_a[0] if isinstance(sims_a, list) and sims_a else None,
                      sims_b[0] if isinstance(sims_b, list) and sims_b else None))
    return rows


def scale_consistency(doc):
    """A run's model exp(log_scale) against its recorded (configured) intensity_scale."""
    s = mapping(doc.get("intensity_scale"))
    model, recorded = number(s.get("model_exp_log_scale")), number(s.get("recorded_in_bundle"))
    if model is None or recorded is None:
        return {"model": model, "configured": recorded, "ratio": None, "consistent": None}
    rel = rel_diff(model, recorded)
    return {"model": model, "configured": recorded, "ratio": model / recorded if recorded else None,
            "rel_diff": rel, "consistent": within(rel, SCALE_CONSISTENCY_RTOL)}


def prediction_count(doc, stages):
    """(number of model predictions that were stitched, where the number came from)."""
    direct = number(get(doc, "inference", "predictions"))
    if direct is not None:
        return int(direct), "inference.predictions"
    meta = mapping(get(stages.get("inference_prediction"), "metadata"))
    if number(meta.get("predictions")) is not None:
        return int(number(meta["predictions"])), "intensity_stages[inference_prediction].metadata.predictions"
    raw = other_stage(doc, ptychopinn.RAW_PREDICTION_STAGE)
    if raw is not None:
        rmeta = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
        for key in ("predictions", "count"):
            if number(rmeta.get(key)) is not None:
                return int(number(rmeta[key])), "tracer.other_stages[%s].metadata.%s" % (ptychopinn.RAW_PREDICTION_STAGE, key)
        dims = shape(get(raw, "stats", "shape"))
        if dims:
            return dims[0], "tracer.other_stages[%s].stats.shape[0]" % ptychopinn.RAW_PREDICTION_STAGE
    gl = number(get(doc, "inference", "group_limit"))
    if gl is not None:
        return int(gl), "inference.group_limit"
    return None, None


def stitch_gain(doc):
    """(gain, how): the stitching multiplier when recorded, else max(stitched amplitude) / max(raw patch amplitude).

    The estimate is a lower bound of a multiplier applied at stitching: the stitched image keeps
    only patch centres, so its maximum can only be lower than the multiplied patch maximum.
    """
    for key in ptychopinn.STITCH_GAIN_FIELDS:
        v = number(get(doc, "inference", key))
        if v is not None:
            return v, "inference.%s" % key
    stitched = number(get(doc, "inference", "amplitude", "max"))
    raw = number(get(other_stage(doc, ptychopinn.RAW_PREDICTION_STAGE), "stats", "max"))
    if stitched is None or not raw:
        return None, None
    return stitched / raw, "estimate max(stitched)/max(raw)"


def inference_table(a, b, stages_a, stages_b):
    ia, ib = mapping(a.get("inference")), mapping(b.get("inference"))
    na, src_a = prediction_count(a, stages_a)
    nb, src_b = prediction_count(b, stages_b)
    rows = [
        _side("source", ia.get("source"), ib.get("source"), numeric=False),
        _side("predictions", na, nb),
        _side("predictions from", src_a, src_b, numeric=False),
        _side("group_limit", ia.get("group_limit"), ib.get("group_limit")),
        _side("stitched_shape", ia.get("stitched_shape"), ib.get("stitched_shape"), numeric=False),
    ]
    for part in ("amplitude", "phase"):
        pa, pb = mapping(ia.get(part)), mapping(ib.get(part))
        floor = scale_floor(pa, pb) if part == "amplitude" else PHASE_SCALE * FLOOR_FRACTION
        for k in STAT_KEYS + ("nan_count",):
            rows.append(_side("%s.%s" % (part, k), pa.get(k), pb.get(k), floor=floor))
    raw = ptychopinn.RAW_PREDICTION_STAGE
    raw_a, raw_b = other_stage(a, raw), other_stage(b, raw)
    if raw_a is not None or raw_b is not None:
        rows.append(_side("raw prediction shape", get(raw_a, "stats", "shape"), get(raw_b, "stats", "shape"),
                          numeric=False))
        for k in ("mean", "max"):
            rows.append(_side("raw prediction amplitude.%s" % k, get(raw_a, "stats", k), get(raw_b, "stats", k)))
    ga, how_a = stitch_gain(a)
    gb, how_b = stitch_gain(b)
    rows.append(_side("stitch gain", ga, gb))
    rows.append(_side("stitch gain from", how_a, how_b, numeric=False))
    return rows


def comparison_table(a, b):
    ca, cb = mapping(a.get("comparison")), mapping(b.get("comparison"))
    rows = [_side("ground_truth_source", ca.get("ground_truth_source"), cb.get("ground_truth_source"), numeric=False),
            _side("ground_truth_amplitude_mean", ca.get("ground_truth_amplitude_mean"),
                  cb.get("ground_truth_amplitude_mean"))]
    for part in ("amplitude", "phase"):
        for k in ("mae", "rmse", "max_abs", "pearson_r"):
            rows.append(_side("%s.%s" % (part, k), get(ca, part, k), get(cb, part, k)))
        if part == "amplitude":
            for k in ("truth_to_pred_ratio_mean", "least_squares_scalar", "rescaled_mae"):
                rows.append(_side("amplitude.scaling_analysis.%s" % k, get(ca, part, "scaling_analysis", k),
                                  get(cb, part, "scaling_analysis", k)))
    return rows


def training_table(a, b):
    ta, tb = mapping(a.get("training")), mapping(b.get("training"))
    rows = [_side(k, ta.get(k), tb.get(k), numeric=k in ("epochs_completed", "final_loss", "final_val_loss"))
            for k in ("source", "epochs_completed", "early_stopped", "final_loss", "final_val_loss", "nan_detected",
                      "first_nan_epoch", "checkpoint_artifact")]
    return rows


def configuration_table(a, b):
    ca, cb = mapping(a.get("configuration")), mapping(b.get("configuration"))
    rows = [_side(k, ca.get(k), cb.get(k), numeric=isinstance(ca.get(k), (int, float)) and
                  not isinstance(ca.get(k), bool)) for k in ptychopinn.CONFIG_FIELDS]
    for k in sorted(set(mapping(get(ca, "loss_weights"))) | set(mapping(get(cb, "loss_weights")))):
        rows.append(_side("loss_weights." + k, get(ca, "loss_weights", k), get(cb, "loss_weights", k)))
    snap_a = ca.get("legacy_params_cfg_snapshot") if isinstance(ca.get("legacy_params_cfg_snapshot"), dict) else {}
    snap_b = cb.get("legacy_params_cfg_snapshot") if isinstance(cb.get("legacy_params_cfg_snapshot"), dict) else {}
    differing = []
    for k in sorted(set(snap_a) & set(snap_b)):
        va, vb = cfg_value(snap_a[k]), cfg_value(snap_b[k])
        if va != vb:
            differing.append({"key": k, "a": va, "b": vb})
    return {"rows": rows, "cfg_differences": differing, "cfg_only_in_a": sorted(set(snap_a) - set(snap_b)),
            "cfg_only_in_b": sorted(set(snap_b) - set(snap_a))}


def cfg_value(v):
    """Scalars as they are; summarized arrays by their mean (exact arrays are not in the document)."""
    if isinstance(v, dict):
        summary = v.get("summary") if isinstance(v.get("summary"), dict) else v
        if "mean" in summary:
            return "<%s mean %s>" % (fmt_shape(summary.get("shape")), fmt(summary.get("mean")))
        return "<object>"
    if isinstance(v, list):
        return "<list of %d>" % len(v)
    return v


def run_info(path, doc):
    env = mapping(get(doc, "provenance", "environment"))
    ds = mapping(get(doc, "provenance", "dataset_source"))
    return {"path": str(path), "pipeline": doc.get("pipeline"), "scenario": doc.get("scenario"),
            "timestamp": doc.get("timestamp"), "schema_version": doc.get("schema_version"),
            "commit_hash": get(doc, "provenance", "commit_hash"), "branch": get(doc, "provenance", "branch"),
            "dirty": get(doc, "provenance", "dirty"),
            "environment": {k: env.get(k) for k in ("python_version", "tensorflow_version", "keras_version",
                                                   "numpy_version")},
            "dataset": {"type": ds.get("type"), "path": ds.get("path"), "checksum": ds.get("checksum"),
                        "provenance_chain": ds.get("provenance_chain")},
            "missing_stages": doc.get("missing_stages") if isinstance(doc.get("missing_stages"), list) else [],
            "tracer_errors": mapping(get(doc, "tracer", "errors"))}
