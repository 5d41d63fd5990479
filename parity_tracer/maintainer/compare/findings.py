"""What a comparison found: the first divergence of the checkpoint walk and the notable differences, in words.

Each ``_…`` function below looks at one part of the documents and returns its sentences; ``findings`` puts them
in reading order (mode, divergence, configuration, probe, intensity scale, inference, outcome).
"""

from parity_tracer.maintainer.compare.checks import (
    CFG_FINDINGS_LIMIT, CHECKLIST_TOLERANCE, DEFAULT_TOLERANCE, EQUIVALENT, PROBE_CHECKPOINT, PROBE_SHAPE_RTOL,
    SCALE_CHECKPOINT, rel_diff)
from parity_tracer.maintainer.compare.formatting import fmt, fmt_shape, pct
from parity_tracer.maintainer.compare.tables import (
    cfg_value, prediction_count, scale_consistency, shape_descriptors, stitch_gain)
from parity_tracer.document.fields import get, mapping, number
from parity_tracer.profiles.ptychopinn import maintainer as ptychopinn


def first_divergence(scan):
    """(first diverging checkpoint, first diverging §2.5 stage), each None when there is none."""
    first = next((cp for cp in scan if cp["status"] == "diverged"), None)
    first_stage = next((cp for cp in scan if cp["status"] == "diverged" and cp["kind"] == "stage"), None)
    return first, first_stage


def divergence(cp):
    """A checkpoint as the report records a divergence (None stays None)."""
    if cp is None:
        return None
    return {"name": cp["name"], "kind": cp["kind"], "tolerance": cp["tolerance"], "detail": cp["detail"],
            "breaks": cp["failing"]}


def findings(a, b, mode, checkpoints, first, first_stage, stages_a, stages_b, config):
    return (_mode_and_divergence(mode, first, first_stage) + _configuration(b, config) +
            _probe(a, b, checkpoints[PROBE_CHECKPOINT], first) +
            _intensity_scale(a, b, checkpoints[SCALE_CHECKPOINT], first) +
            _inference(a, b, stages_a, stages_b) + _outcome(a, b))


def _mode_and_divergence(mode, first, first_stage):
    out = []
    if mode["used"] == EQUIVALENT:
        out.append("Datasets not proven identical (%s): per spec §5.2 only final metrics and probe stats are "
                   "compared; dataset generation is a potential source of any difference below."
                   % mode["reason"].split("(", 1)[-1].rstrip(")"))
    if first is not None:
        out.append("First divergence: %s — %s." % (first["name"], first["detail"]))
    if first_stage is not None and (first is None or first_stage["name"] != first["name"]):
        out.append("First divergent stage: %s — %s." % (first_stage["name"], first_stage["detail"]))
    return out


def _configuration(b, config):
    out = []
    diffs = [r for r in config["rows"] if r["differs"]]
    if diffs:
        out.append("Configuration differs: " + ", ".join("%s %s vs %s" % (r["field"], fmt(r["a"]), fmt(r["b"]))
                                                        for r in diffs) + ".")
    cfg_parts = ["%s %s vs %s" % (r["key"], fmt(r["a"]), fmt(r["b"])) for r in config["cfg_differences"]]
    cfg_parts += ["%s only in A" % k for k in config["cfg_only_in_a"]]
    cfg_parts += ["%s only in B (= %s)" % (k, fmt(cfg_value(get(b, "configuration", "legacy_params_cfg_snapshot",
                                                                k)))) for k in config["cfg_only_in_b"]]
    if cfg_parts:
        shown = cfg_parts[:CFG_FINDINGS_LIMIT]
        out.append("params.cfg differs: %s%s." % ("; ".join(shown), " (+%d more, see Configuration)" % (
            len(cfg_parts) - len(shown)) if len(cfg_parts) > len(shown) else ""))
    return out


def _probe(a, b, cp, first):
    out = []
    pa, pb = mapping(a.get("probe")), mapping(b.get("probe"))
    norm = []
    for key in ("method", "probe_scale", "probe_big", "probe_mask", "computed_norm_factor"):
        va, vb = get(pa, "normalization", key), get(pb, "normalization", key)
        if isinstance(va, float) and isinstance(vb, float):
            if rel_diff(va, vb) > 1e-6:
                norm.append("%s %s vs %s" % (key, fmt(va), fmt(vb)))
        elif va != vb:
            norm.append("%s %s vs %s" % (key, fmt(va), fmt(vb)))
    if norm:
        out.append("Probe normalization differs: " + ", ".join(norm) + ".")
    if cp["status"] == "diverged" and cp is not first:
        out.append("Probe statistics differ (post-normalization, tolerance %s): %s." % (pct(cp["tolerance"]),
                                                                                        cp["detail"]))
    cv_a, pk_a = shape_descriptors(get(pa, "post_normalization", "amplitude"))
    cv_b, pk_b = shape_descriptors(get(pb, "post_normalization", "amplitude"))
    shape_diffs = ["%s %s vs %s (%s)" % (label, fmt(x), fmt(y), pct(rel_diff(x, y)))
                   for label, x, y in (("std/mean", cv_a, cv_b), ("max/mean", pk_a, pk_b))
                   if x is not None and y is not None and rel_diff(x, y) > PROBE_SHAPE_RTOL]
    if shape_diffs:
        out.append("Probe amplitude profile differs beyond its normalization scale (scale-free %s): the probe's "
                   "shape was changed (e.g. smoothing, masking or a different source), not just rescaled."
                   % "; ".join(shape_diffs))
    return out


def _intensity_scale(a, b, cp, first):
    out = []
    for label, doc in (("A", a), ("B", b)):
        c = scale_consistency(doc)
        if c["consistent"] is False:
            out.append("Intensity scale in %s: the model's exp(log_scale) = %s but the recorded (configured) "
                       "intensity_scale = %s (model/configured = %s)." % (label, fmt(c["model"]),
                                                                          fmt(c["configured"]), fmt(c["ratio"])))
    if cp["status"] == "diverged" and cp is not first:
        out.append("Intensity scale differs between the runs (tolerance %s): %s." % (pct(cp["tolerance"]),
                                                                                     cp["detail"]))
    for label, path in (("dataset-derived scale", ("dataset_derived", "computed_scale")),
                        ("simulation scale", ("simulation_scales",))):
        va, vb = get(a, "intensity_scale", *path), get(b, "intensity_scale", *path)
        if isinstance(va, list):
            va, vb = (va[0] if va else None), (vb[0] if isinstance(vb, list) and vb else None)
        va, vb = number(va), number(vb)
        if va is not None and vb is not None and rel_diff(va, vb) > CHECKLIST_TOLERANCE["intensity_scale"]:
            out.append("%s differs: %s vs %s (%s)." % (label[0].upper() + label[1:], fmt(va), fmt(vb),
                                                       pct(rel_diff(va, vb))))
    return out


def _inference(a, b, stages_a, stages_b):
    out = []
    na, _ = prediction_count(a, stages_a)
    nb, _ = prediction_count(b, stages_b)
    if na is not None and nb is not None and na != nb:
        fewer, more = ("A", "B") if na < nb else ("B", "A")
        out.append("Inference stitched %d model predictions in A and %d in B: the inference batch of %s "
                   "%s (%s has %d)." % (na, nb, fewer,
                                        "collapsed" if min(na, nb) * 2 <= max(na, nb) else "is smaller",
                                        more, max(na, nb)))
    sa, sb = get(a, "inference", "stitched_shape"), get(b, "inference", "stitched_shape")
    if sa is not None and sb is not None and sa != sb:
        out.append("Stitched shape differs: %s vs %s." % (fmt_shape(sa), fmt_shape(sb)))
    ma, mb = number(get(a, "inference", "amplitude", "mean")), number(get(b, "inference", "amplitude", "mean"))
    if ma is not None and mb is not None and rel_diff(ma, mb) > DEFAULT_TOLERANCE:
        out.append("Stitched amplitude scale differs: mean %s vs %s (B/A = %s)." % (fmt(ma), fmt(mb),
                                                                                   fmt(mb / ma if ma else None)))
    ga, how_a = stitch_gain(a)
    gb, how_b = stitch_gain(b)
    if ga is not None and gb is not None and rel_diff(ga, gb) > DEFAULT_TOLERANCE:
        out.append("Stitching gain differs: %s vs %s (%s): one pipeline multiplies its predictions when "
                   "stitching (e.g. by %s)." % (fmt(ga), fmt(gb), how_a if how_a == how_b
                                                 else "A: %s, B: %s" % (how_a, how_b), ptychopinn.STITCH_GAIN_EXAMPLE))
    return out


def _outcome(a, b):
    """Final metrics, NaN in training, missing stages, tracer errors."""
    out = []
    for field in ("mae", "pearson_r"):
        va, vb = number(get(a, "comparison", "amplitude", field)), number(get(b, "comparison", "amplitude", field))
        if va is not None and vb is not None and rel_diff(va, vb) > DEFAULT_TOLERANCE:
            out.append("Final amplitude %s: %s vs %s." % (field, fmt(va), fmt(vb)))
    for label, doc in (("A", a), ("B", b)):
        if get(doc, "training", "nan_detected") is True:
            out.append("Training of %s produced NaN (first at epoch %s)." % (label,
                                                                            get(doc, "training", "first_nan_epoch")))
        missing = doc.get("missing_stages")
        if isinstance(missing, list) and missing:
            out.append("%s lacks required stages: %s." % (label, ", ".join(str(m) for m in missing)))
        errors = get(doc, "tracer", "errors")
        if isinstance(errors, dict) and errors:
            out.append("%s's tracer recorded errors: %s." % (label, ", ".join("%s=%s" % kv for kv in
                                                                            sorted(errors.items()))))
    return out
