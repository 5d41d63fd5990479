"""Compare two telemetry documents (spec v1.0): the §5.3 parity checklist, the first divergence, side by side.

``python -m parity_tracer compare A.json B.json [--mode auto|same-npz|equivalent-params]
[--format text|markdown|json] [-o FILE] [--plot FILE.png]``; A and B may also be two ``dose-experiments`` sweep
folders (``sweep.json``): their points are paired by nphotons and loss (``protocol/sweep.py``).

A is the reference (usually the legacy ``dose_experiments`` run), B the run under test. Every verdict is
symmetric: swapping A and B changes no result.

Tolerance semantics ("stats within X %")
----------------------------------------
* A statistic pair (a, b) is compared by its *relative difference* ``|a - b| / max(|a|, |b|, floor)``; it is
  within tolerance X when that is <= X. The denominator is the larger magnitude, so the measure is symmetric.
* ``floor`` keeps values near zero from producing huge relative differences (a minimum of 1e-9 against 3e-9 is
  not a 200 % change of a distribution whose values are ~0.3): for a statistics block it is
  ``FLOOR_FRACTION`` (0.1 %) of the block's scale ``max(|mean_a|, |mean_b|, std_a, std_b)``; for single values
  (intensity scales, probe_scale) it is ``EPS``.
* "stats" of an array stage are ``mean``, ``std``, ``min``, ``max`` (each must be within X) and its ``shape``
  (must be equal). "probe stats" are the post-normalization amplitude ``mean``, ``std``, ``min``, ``max``,
  ``l2_norm`` plus the phase ``mean``, ``std``, ``min``, ``max``; phase has no natural scale, so a phase pair
  is compared as ``|a - b| / pi``. "intensity_scale" is the value recorded for the run (``recorded_in_bundle``)
  and the model's ``exp(log_scale)``; both must be within X.
* A statistic present in one document only fails; one absent from both is skipped; an item with no data at all
  is "missing", which fails when the item is REQUIRED (parity that cannot be shown is not parity).

Checklist (spec §5.3), per mode: raw_diffraction 1 % (REQUIRED | N/A), probe 1 % (REQUIRED | COMPARE),
grouped_X_full 5 % (REQUIRED | COMPARE), intensity_scale 1 % (REQUIRED | COMPARE), final amplitude MAE and
pearson_r (COMPARE | COMPARE: shown, never judged, the spec gives no tolerance). COMPARE items that have a
tolerance are evaluated and reported but do not change the exit status.

First divergence
----------------
Checkpoints are walked in pipeline order: the probe (an input of both the simulation and the model), then the
spec §2.5 stages in spec order with the intensity scale where §3 captures it (before training)::

    probe, raw_diffraction, grouped_diffraction, pre_normalization_diffraction, grouped_X_full, container_X,
    intensity_scale, training_labels_Y_amp, training_labels_Y_I, scaler_output, inference_prediction

A checkpoint diverges when one of its statistics breaks its tolerance (the checklist tolerance where the
checklist has one, else ``DEFAULT_TOLERANCE`` = 5 %), its shapes differ, or a required stage was captured in
one run only. Optional stages take part only when both runs captured them. The first diverging checkpoint is
*the first divergence*; the first diverging §2.5 stage is reported too (*first divergent stage*).

Exit status: 0 when every REQUIRED item passes (in equivalent-params mode nothing is REQUIRED), 1 when one
fails, 2 when an input is unusable (unreadable, not JSON, not a telemetry document, different
``schema_version``), with a one-line reason on stderr.
"""

import argparse
import math
import os
import sys

from parity_tracer import jsonio, outputs
from parity_tracer.profiles.ptychopinn import stagemap
from parity_tracer.document import fields, load as docread

REPORT_FORMAT = "parity-tracer-compare/1"
SUPPORTED_MAJOR = "1"
DEFAULT_TOLERANCE = 0.05
FLOOR_FRACTION = 1e-3
EPS = 1e-12
PHASE_SCALE = math.pi
PROBE_SHAPE_RTOL = 1e-3     # scale-free probe shape (std/mean, max/mean): identical probes agree to float noise
SCALE_CONSISTENCY_RTOL = 0.01   # a run's model exp(log_scale) against its recorded intensity_scale
CFG_FINDINGS_LIMIT = 8      # params.cfg differences listed among the findings (all are in the Configuration table)
DISPLAY_RTOL = 1e-3         # side-by-side tables mark a field as different ("*") above this relative difference

REQUIRED, COMPARE, NA = "REQUIRED", "COMPARE", "N/A"
SAME_NPZ, EQUIVALENT = "same-npz", "equivalent-params"
MODES = ("auto", SAME_NPZ, EQUIVALENT)

# (key, spec wording, tolerance or None, requirement in same-npz mode, requirement in equivalent-params mode)
CHECKLIST = (
    ("raw_diffraction", "raw_diffraction stats within 1%", 0.01, REQUIRED, NA),
    ("probe", "probe stats within 1%", 0.01, REQUIRED, COMPARE),
    ("grouped_X_full", "grouped_X_full stats within 5%", 0.05, REQUIRED, COMPARE),
    ("intensity_scale", "intensity_scale within 1%", 0.01, REQUIRED, COMPARE),
    ("amplitude_mae", "Final amplitude MAE", None, COMPARE, COMPARE),
    ("pearson_r", "pearson_r", None, COMPARE, COMPARE),
)
CHECKLIST_TOLERANCE = {key: tol for key, _, tol, _, _ in CHECKLIST if tol is not None}

PROBE_CHECKPOINT, SCALE_CHECKPOINT = "probe", "intensity_scale"
SCAN_ORDER = (PROBE_CHECKPOINT, "raw_diffraction", "grouped_diffraction", "pre_normalization_diffraction",
              "grouped_X_full", "container_X", SCALE_CHECKPOINT, "training_labels_Y_amp", "training_labels_Y_I",
              "scaler_output", "inference_prediction")
STAGE_ORDER = tuple(n for n in SCAN_ORDER if n not in (PROBE_CHECKPOINT, SCALE_CHECKPOINT))
STAT_KEYS = ("mean", "std", "min", "max")
SCALE_KEYS = ("recorded_in_bundle", "model_exp_log_scale")
# The profile's extra stage with the model's output patches before stitching (tracer.other_stages). The document
# has no inference.predictions field yet; this stage's count is the fallback for the number of predictions.
RAW_PREDICTION_STAGE = "inference_raw_prediction"


class InputError(Exception):
    """An input cannot be compared at all (exit status 2)."""


# -- small accessors: documents may come from other writers, nothing about their shape is trusted --------------

_get, _dict, _list = fields.get, fields.mapping, fields.sequence


def _num(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _shape(v):
    if isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return list(v)
    return None


def rel_diff(a, b, floor=EPS):
    """|a - b| / max(|a|, |b|, floor): symmetric, 0 for equal values."""
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b), floor, EPS)


def _within(rel, tol):
    return rel <= tol * (1 + 1e-9) + 1e-15


# -- loading ---------------------------------------------------------------------------------------------------

def load_document(path):
    """The telemetry document at ``path`` (a file, or a run directory holding parity_telemetry.json)."""
    try:
        return docread.load_document(path)
    except docread.DocumentError as exc:
        raise InputError(str(exc))


def check_versions(a, b):
    va, vb = str(a.get("schema_version")), str(b.get("schema_version"))
    if va != vb:
        raise InputError("different schema_version: A %r, B %r" % (va, vb))
    if va.split(".")[0] != SUPPORTED_MAJOR:
        raise InputError("unsupported schema_version %r (this tool reads %s.x)" % (va, SUPPORTED_MAJOR))


# -- mode ------------------------------------------------------------------------------------------------------

def decide_mode(requested, a, b):
    ca = _get(a, "provenance", "dataset_source", "checksum")
    cb = _get(b, "provenance", "dataset_source", "checksum")
    ca = ca if isinstance(ca, str) and ca else None
    cb = cb if isinstance(cb, str) and cb else None
    same = ca is not None and ca == cb
    facts = "dataset checksums A %s, B %s" % (_short_sum(ca), _short_sum(cb))
    if requested != "auto":
        reason = "requested with --mode (%s%s)" % (facts, "; they match" if same else
                                                    "; they do not prove the same input" if requested == SAME_NPZ
                                                    else "")
        return {"requested": requested, "used": requested, "reason": reason, "checksum_a": ca, "checksum_b": cb}
    if same:
        reason = "auto: both runs read the same dataset (%s)" % facts
        return {"requested": "auto", "used": SAME_NPZ, "reason": reason, "checksum_a": ca, "checksum_b": cb}
    why = "not recorded in %s" % ("either run" if ca is None and cb is None else "A" if ca is None else "B") \
        if ca is None or cb is None else "they differ"
    reason = "auto: same input not proven (%s: %s)" % (facts, why)
    return {"requested": "auto", "used": EQUIVALENT, "reason": reason, "checksum_a": ca, "checksum_b": cb}


def _short_sum(c):
    return "none" if c is None else c[:12]


# -- comparing groups of statistics --------------------------------------------------------------------------------

def _row(stat, a, b, rel=None, ok=None, note=None):
    return {"stat": stat, "a": a, "b": b, "rel_diff": rel, "ok": ok, "note": note}


def _group(rows):
    """Summary of judged rows: ok (None when nothing was judged), failing rows, the worst numeric row."""
    judged = [r for r in rows if r["ok"] is not None]
    failing = [r for r in judged if r["ok"] is False]
    numeric = [r for r in judged if r["rel_diff"] is not None]
    worst = max(numeric, key=lambda r: r["rel_diff"]) if numeric else None
    ok = None if not judged else not failing
    return {"rows": rows, "ok": ok, "failing": failing, "worst": failing[0] if failing and failing[0]["rel_diff"]
            is None else worst}


def _pair_rows(pairs, tol, floor=EPS, phase_keys=()):
    rows = []
    for stat, a, b in pairs:
        a, b = _num(a), _num(b)
        if a is None and b is None:
            continue
        if a is None or b is None:
            rows.append(_row(stat, a, b, None, False if tol is not None else None,
                             "recorded in %s only" % ("B" if a is None else "A")))
            continue
        rel = abs(a - b) / PHASE_SCALE if stat in phase_keys else rel_diff(a, b, floor)
        rows.append(_row(stat, a, b, rel, _within(rel, tol) if tol is not None else None))
    return rows


def _usable_stats(stats):
    return isinstance(stats, dict) and not stats.get("symbolic") and not stats.get("unsupported") and \
        any(_num(stats.get(k)) is not None for k in STAT_KEYS)


def _scale_floor(*blocks):
    scale = 0.0
    for s in blocks:
        for k in ("mean", "std"):
            v = _num(_get(s, k))
            if v is not None:
                scale = max(scale, abs(v))
    return max(FLOOR_FRACTION * scale, EPS)


def compare_stage_stats(sa, sb, tol):
    """Rows for shape + mean/std/min/max of two stage stats blocks."""
    rows = []
    shape_a, shape_b = _shape(_get(sa, "shape")), _shape(_get(sb, "shape"))
    if shape_a is not None and shape_b is not None:
        rows.append(_row("shape", shape_a, shape_b, None, shape_a == shape_b))
    floor = _scale_floor(sa, sb)
    rows += _pair_rows([(k, _get(sa, k), _get(sb, k)) for k in STAT_KEYS], tol, floor)
    return rows


COORD_SIGN_NOTE = "coords_relative = local_offset_sign * (coords_nn - group centre): opposite sign"


def coordinate_rows(ea, eb):
    """The grouping's coordinate convention (stage metadata ``coordinates``): the sign that relates
    ``coords_relative`` to the neighbours must agree; the module constant ``local_offset_sign`` is shown with it."""
    ca, cb = _get(ea, "metadata", "coordinates"), _get(eb, "metadata", "coordinates")
    sa, sb = _num(_get(ca, "relative_sign")), _num(_get(cb, "relative_sign"))
    if sa is None or sb is None:
        return []
    la, lb = _get(ca, "local_offset_sign"), _get(cb, "local_offset_sign")
    stat = "coords_relative sign (local_offset_sign %s vs %s)" % (_fmt(la), _fmt(lb))
    same = (sa > 0) == (sb > 0)
    return [_row(stat, sa, sb, None, same, None if same else COORD_SIGN_NOTE)]


def probe_stat_rows(pa, pb, tol):
    amp_a, amp_b = _get(pa, "post_normalization", "amplitude"), _get(pb, "post_normalization", "amplitude")
    ph_a, ph_b = _get(pa, "post_normalization", "phase"), _get(pb, "post_normalization", "phase")
    floor = _scale_floor(amp_a, amp_b)
    rows = _pair_rows([("amplitude." + k, _get(amp_a, k), _get(amp_b, k))
                       for k in STAT_KEYS + ("l2_norm",)], tol, floor)
    phase_keys = tuple("phase." + k for k in STAT_KEYS)
    rows += _pair_rows([("phase." + k, _get(ph_a, k), _get(ph_b, k)) for k in STAT_KEYS], tol,
                       phase_keys=phase_keys)
    return rows


def scale_rows(a, b, tol):
    return _pair_rows([(k, _get(a, "intensity_scale", k), _get(b, "intensity_scale", k)) for k in SCALE_KEYS], tol)


# -- documents as lookups ----------------------------------------------------------------------------------------

def stage_map(doc):
    out = {}
    for entry in _list(doc.get("intensity_stages")):
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            out.setdefault(entry["name"], entry)
    return out


def other_stage(doc, name):
    for entry in _list(_get(doc, "tracer", "other_stages")):
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    return None


def _stage_present(entry):
    return isinstance(entry, dict) and not entry.get("absent") and _usable_stats(entry.get("stats"))


def _stage_tolerance(name):
    return CHECKLIST_TOLERANCE.get(name, DEFAULT_TOLERANCE)


def _absent_reason(entry):
    reason = _get(entry, "absent_reason")
    return reason if isinstance(reason, str) and reason else "not captured"


def _required_stage(name):
    return name in stagemap.REQUIRED_STAGES


# -- checkpoints (the first-divergence walk) -------------------------------------------------------------------------

def evaluate_checkpoint(name, a, b, stages_a, stages_b):
    """One checkpoint: {'name', 'kind', 'tolerance', 'status', 'rows', 'worst', 'failing', 'detail'}.

    status: 'same' | 'diverged' | 'absent' (in both) | 'skipped' (optional stage captured by one run only).
    """
    if name == PROBE_CHECKPOINT:
        tol = CHECKLIST_TOLERANCE["probe"]
        g = _group(probe_stat_rows(a.get("probe"), b.get("probe"), tol))
        kind = "probe"
    elif name == SCALE_CHECKPOINT:
        tol = CHECKLIST_TOLERANCE["intensity_scale"]
        g = _group(scale_rows(a, b, tol))
        kind = "intensity_scale"
    else:
        tol = _stage_tolerance(name)
        kind = "stage"
        ea, eb = stages_a.get(name), stages_b.get(name)
        pa, pb = _stage_present(ea), _stage_present(eb)
        if not pa or not pb:
            if not pa and not pb:
                status, detail = "absent", "not captured in either run"
            elif not _required_stage(name):
                status, detail = "skipped", "optional stage captured in %s only" % ("A" if pa else "B")
            else:
                missing = eb if pa else ea
                status = "diverged"
                detail = "captured in %s only; %s: %s" % ("A" if pa else "B", "B" if pa else "A",
                                                           _absent_reason(missing))
            return {"name": name, "kind": kind, "tolerance": tol, "status": status, "rows": [], "worst": None,
                    "failing": [], "detail": detail}
        g = _group(compare_stage_stats(ea["stats"], eb["stats"], tol) + coordinate_rows(ea, eb))
    if g["ok"] is None:
        status, detail = "absent", "no statistics recorded in either run"
    else:
        status = "same" if g["ok"] else "diverged"
        detail = _breaking_text(g["failing"], tol) if not g["ok"] else None
    return {"name": name, "kind": kind, "tolerance": tol, "status": status, "rows": g["rows"],
            "worst": g["worst"], "failing": g["failing"], "detail": detail}


def _breaking_text(failing, tol):
    parts = []
    for r in failing:
        if r["stat"] == "shape":
            parts.append("shape %s vs %s" % (_fmt_shape(r["a"]), _fmt_shape(r["b"])))
        elif r["rel_diff"] is None:
            parts.append("%s %s vs %s (%s)" % (r["stat"], _fmt(r["a"]), _fmt(r["b"]), r["note"]))
        else:
            parts.append("%s %s vs %s (%s > %s)" % (r["stat"], _fmt(r["a"]), _fmt(r["b"]), _pct(r["rel_diff"]),
                                                   _pct(tol)))
    return "; ".join(parts)


# -- checklist -------------------------------------------------------------------------------------------------------

def checklist(mode, a, b, checkpoints):
    """The §5.3 items. Items with a tolerance reuse the checkpoint of the same name (probe, raw_diffraction, ...)."""
    items = []
    for key, wording, tol, same_req, equiv_req in CHECKLIST:
        requirement = same_req if mode == SAME_NPZ else equiv_req
        if tol is not None:
            cp = checkpoints[key]
            rows, worst, detail = cp["rows"], cp["worst"], cp["detail"]
            ok = None if cp["status"] == "absent" else cp["status"] == "same"
        else:
            field = "mae" if key == "amplitude_mae" else "pearson_r"
            rows = _pair_rows([("comparison.amplitude." + field, _get(a, "comparison", "amplitude", field),
                                _get(b, "comparison", "amplitude", field))], None)
            ok, detail = None, None
            worst = rows[0] if rows else None
        if requirement == NA:
            result = "n/a"
        elif tol is None:
            result = "info" if rows else "missing"
        elif ok is None:
            result = "missing"
        elif requirement == REQUIRED:
            result = "PASS" if ok else "FAIL"
        else:
            result = "within" if ok else "outside"
        if requirement == REQUIRED and result == "missing":
            detail = "no data in either run: parity cannot be shown"
        items.append({"key": key, "item": wording, "requirement": requirement, "tolerance": tol,
                      "result": result, "passed": (result == "PASS") if requirement == REQUIRED else None,
                      "worst": worst, "rows": rows, "detail": detail})
    return items


# -- side-by-side blocks -------------------------------------------------------------------------------------------

def _side(field, a, b, numeric=True, floor=EPS):
    va, vb = (_num(a), _num(b)) if numeric else (a, b)
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
        tol = _stage_tolerance(name)
        pa, pb = _stage_present(ea), _stage_present(eb)
        rows = compare_stage_stats(ea["stats"] if pa else None, eb["stats"] if pb else None, tol) \
            if pa and pb else []
        if not (pa and pb):
            for k in ("shape",) + STAT_KEYS:
                va = _get(ea, "stats", k) if pa else None
                vb = _get(eb, "stats", k) if pb else None
                if va is not None or vb is not None:
                    rows.append(_row(k, va, vb, None, None))
        out.append({"name": name, "required": _required_stage(name), "tolerance": tol,
                    "a": _stage_info(ea, pa), "b": _stage_info(eb, pb), "rows": rows,
                    "ok": _group(rows)["ok"] if pa and pb else None})
    return out


def _stage_info(entry, present):
    if not isinstance(entry, dict):
        return {"present": False, "source": None, "equivalent": False, "note": None, "absent_reason": "not in document"}
    return {"present": present, "source": entry.get("source"), "equivalent": bool(entry.get("equivalent")),
            "note": entry.get("note"), "absent_reason": None if present else _absent_reason(entry),
            "metadata": entry.get("metadata") if isinstance(entry.get("metadata"), dict) else {}}


def ratio_table(a, b):
    names = []
    for doc in (a, b):
        for k in _dict(doc.get("stage_ratios")):
            if k not in names:
                names.append(k)
    rows = [_side(n, _get(a, "stage_ratios", n), _get(b, "stage_ratios", n)) for n in names]
    rows.append(_side("full_chain_product", a.get("full_chain_product"), b.get("full_chain_product")))
    rows.append(_side("symmetry_check.violated", _get(a, "symmetry_check", "violated"),
                      _get(b, "symmetry_check", "violated"), numeric=False))
    rows.append(_side("symmetry_check.primary_deviation_source", _get(a, "symmetry_check", "primary_deviation_source"),
                      _get(b, "symmetry_check", "primary_deviation_source"), numeric=False))
    return rows


def _shape_descriptors(amp):
    mean, std, mx = _num(_get(amp, "mean")), _num(_get(amp, "std")), _num(_get(amp, "max"))
    if not mean:
        return None, None
    return (std / mean if std is not None else None), (mx / mean if mx is not None else None)


def probe_table(a, b):
    pa, pb = _dict(a.get("probe")), _dict(b.get("probe"))
    rows = [
        _side("source.type", _get(pa, "source", "type"), _get(pb, "source", "type"), numeric=False),
        _side("source.path", _get(pa, "source", "path"), _get(pb, "source", "path"), numeric=False),
        _side("source.checksum", _get(pa, "source", "checksum"), _get(pb, "source", "checksum"), numeric=False),
        _side("shape", _get(pa, "shape"), _get(pb, "shape"), numeric=False),
        _side("dtype", _get(pa, "dtype"), _get(pb, "dtype"), numeric=False),
        _side("entry", _get(pa, "entry"), _get(pb, "entry"), numeric=False),
        _side("normalization.method", _get(pa, "normalization", "method"), _get(pb, "normalization", "method"),
              numeric=False),
        _side("normalization.probe_scale", _get(pa, "normalization", "probe_scale"),
              _get(pb, "normalization", "probe_scale")),
        _side("normalization.probe_big", _get(pa, "normalization", "probe_big"),
              _get(pb, "normalization", "probe_big"), numeric=False),
        _side("normalization.probe_mask", _get(pa, "normalization", "probe_mask"),
              _get(pb, "normalization", "probe_mask"), numeric=False),
        _side("normalization.mask_coverage_fraction", _get(pa, "normalization", "mask_stats", "coverage_fraction"),
              _get(pb, "normalization", "mask_stats", "coverage_fraction")),
        _side("normalization.computed_norm_factor", _get(pa, "normalization", "computed_norm_factor"),
              _get(pb, "normalization", "computed_norm_factor")),
    ]
    for phase in ("pre_normalization", "post_normalization"):
        amp_a, amp_b = _get(pa, phase, "amplitude"), _get(pb, phase, "amplitude")
        floor = _scale_floor(amp_a, amp_b)
        for k in STAT_KEYS + ("l2_norm",):
            rows.append(_side("%s.amplitude.%s" % (phase, k), _get(amp_a, k), _get(amp_b, k), floor=floor))
        for k in ("mean", "std"):
            rows.append(_side("%s.phase.%s" % (phase, k), _get(pa, phase, "phase", k), _get(pb, phase, "phase", k),
                              floor=PHASE_SCALE * FLOOR_FRACTION))
        rows.append(_side("%s.energy" % phase, _get(pa, phase, "energy"), _get(pb, phase, "energy")))
        cv_a, pk_a = _shape_descriptors(amp_a)
        cv_b, pk_b = _shape_descriptors(amp_b)
        rows.append(_side("%s.amplitude.std/mean (scale-free)" % phase, cv_a, cv_b))
        rows.append(_side("%s.amplitude.max/mean (scale-free)" % phase, pk_a, pk_b))
    calls_a, calls_b = _get(pa, "calls"), _get(pb, "calls")
    rows.append(_side("set_probe calls", len(calls_a) if isinstance(calls_a, list) else None,
                      len(calls_b) if isinstance(calls_b, list) else None))
    return rows


def scale_table(a, b):
    sa, sb = _dict(a.get("intensity_scale")), _dict(b.get("intensity_scale"))
    rows = [
        _side("dataset_derived.computed_scale", _get(sa, "dataset_derived", "computed_scale"),
              _get(sb, "dataset_derived", "computed_scale")),
        _side("dataset_derived.batch_mean_sum_intensity", _get(sa, "dataset_derived", "batch_mean_sum_intensity"),
              _get(sb, "dataset_derived", "batch_mean_sum_intensity")),
        _side("fallback.computed_scale", _get(sa, "fallback", "computed_scale"),
              _get(sb, "fallback", "computed_scale")),
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
    s = _dict(doc.get("intensity_scale"))
    model, recorded = _num(s.get("model_exp_log_scale")), _num(s.get("recorded_in_bundle"))
    if model is None or recorded is None:
        return {"model": model, "configured": recorded, "ratio": None, "consistent": None}
    rel = rel_diff(model, recorded)
    return {"model": model, "configured": recorded, "ratio": model / recorded if recorded else None,
            "rel_diff": rel, "consistent": _within(rel, SCALE_CONSISTENCY_RTOL)}


def prediction_count(doc, stages):
    """(number of model predictions that were stitched, where the number came from)."""
    direct = _num(_get(doc, "inference", "predictions"))
    if direct is not None:
        return int(direct), "inference.predictions"
    meta = _dict(_get(stages.get("inference_prediction"), "metadata"))
    if _num(meta.get("predictions")) is not None:
        return int(meta["predictions"]), "intensity_stages[inference_prediction].metadata.predictions"
    raw = other_stage(doc, RAW_PREDICTION_STAGE)
    if raw is not None:
        rmeta = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
        for key in ("predictions", "count"):
            if _num(rmeta.get(key)) is not None:
                return int(rmeta[key]), "tracer.other_stages[%s].metadata.%s" % (RAW_PREDICTION_STAGE, key)
        shape = _shape(_get(raw, "stats", "shape"))
        if shape:
            return shape[0], "tracer.other_stages[%s].stats.shape[0]" % RAW_PREDICTION_STAGE
    gl = _num(_get(doc, "inference", "group_limit"))
    if gl is not None:
        return int(gl), "inference.group_limit"
    return None, None


def stitch_gain(doc):
    """(gain, how): the stitching multiplier when recorded, else max(stitched amplitude) / max(raw patch amplitude).

    The estimate is a lower bound of a multiplier applied at stitching (e.g. norm_Y_I): the stitched image keeps
    only patch centres, so its maximum can only be lower than the multiplied patch maximum.
    """
    for key in ("norm_Y_I", "stitch_scale"):
        v = _num(_get(doc, "inference", key))
        if v is not None:
            return v, "inference.%s" % key
    stitched = _num(_get(doc, "inference", "amplitude", "max"))
    raw = _num(_get(other_stage(doc, RAW_PREDICTION_STAGE), "stats", "max"))
    if stitched is None or not raw:
        return None, None
    return stitched / raw, "estimate max(stitched)/max(raw)"


def inference_table(a, b, stages_a, stages_b):
    ia, ib = _dict(a.get("inference")), _dict(b.get("inference"))
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
        pa, pb = _dict(ia.get(part)), _dict(ib.get(part))
        floor = _scale_floor(pa, pb) if part == "amplitude" else PHASE_SCALE * FLOOR_FRACTION
        for k in STAT_KEYS + ("nan_count",):
            rows.append(_side("%s.%s" % (part, k), pa.get(k), pb.get(k), floor=floor))
    raw_a, raw_b = other_stage(a, RAW_PREDICTION_STAGE), other_stage(b, RAW_PREDICTION_STAGE)
    if raw_a is not None or raw_b is not None:
        rows.append(_side("raw prediction shape", _get(raw_a, "stats", "shape"), _get(raw_b, "stats", "shape"),
                          numeric=False))
        for k in ("mean", "max"):
            rows.append(_side("raw prediction amplitude.%s" % k, _get(raw_a, "stats", k), _get(raw_b, "stats", k)))
    ga, how_a = stitch_gain(a)
    gb, how_b = stitch_gain(b)
    rows.append(_side("stitch gain", ga, gb))
    rows.append(_side("stitch gain from", how_a, how_b, numeric=False))
    return rows


def comparison_table(a, b):
    ca, cb = _dict(a.get("comparison")), _dict(b.get("comparison"))
    rows = [_side("ground_truth_source", ca.get("ground_truth_source"), cb.get("ground_truth_source"), numeric=False),
            _side("ground_truth_amplitude_mean", ca.get("ground_truth_amplitude_mean"),
                  cb.get("ground_truth_amplitude_mean"))]
    for part in ("amplitude", "phase"):
        for k in ("mae", "rmse", "max_abs", "pearson_r"):
            rows.append(_side("%s.%s" % (part, k), _get(ca, part, k), _get(cb, part, k)))
        if part == "amplitude":
            for k in ("truth_to_pred_ratio_mean", "least_squares_scalar", "rescaled_mae"):
                rows.append(_side("amplitude.scaling_analysis.%s" % k, _get(ca, part, "scaling_analysis", k),
                                  _get(cb, part, "scaling_analysis", k)))
    return rows


def training_table(a, b):
    ta, tb = _dict(a.get("training")), _dict(b.get("training"))
    rows = [_side(k, ta.get(k), tb.get(k), numeric=k in ("epochs_completed", "final_loss", "final_val_loss"))
            for k in ("source", "epochs_completed", "early_stopped", "final_loss", "final_val_loss", "nan_detected",
                      "first_nan_epoch", "checkpoint_artifact")]
    return rows


CONFIG_FIELDS = ("N", "gridsize", "nphotons", "neighbor_count", "group_count", "batch_size", "nepochs",
                 "split_fraction", "loss_fn", "intensity_scale_trainable")


def configuration_table(a, b):
    ca, cb = _dict(a.get("configuration")), _dict(b.get("configuration"))
    rows = [_side(k, ca.get(k), cb.get(k), numeric=isinstance(ca.get(k), (int, float)) and
                  not isinstance(ca.get(k), bool)) for k in CONFIG_FIELDS]
    for k in sorted(set(_dict(_get(ca, "loss_weights"))) | set(_dict(_get(cb, "loss_weights")))):
        rows.append(_side("loss_weights." + k, _get(ca, "loss_weights", k), _get(cb, "loss_weights", k)))
    snap_a = ca.get("legacy_params_cfg_snapshot") if isinstance(ca.get("legacy_params_cfg_snapshot"), dict) else {}
    snap_b = cb.get("legacy_params_cfg_snapshot") if isinstance(cb.get("legacy_params_cfg_snapshot"), dict) else {}
    differing = []
    for k in sorted(set(snap_a) & set(snap_b)):
        va, vb = _cfg_value(snap_a[k]), _cfg_value(snap_b[k])
        if va != vb:
            differing.append({"key": k, "a": va, "b": vb})
    return {"rows": rows, "cfg_differences": differing, "cfg_only_in_a": sorted(set(snap_a) - set(snap_b)),
            "cfg_only_in_b": sorted(set(snap_b) - set(snap_a))}


def _cfg_value(v):
    """Scalars as they are; summarized arrays by their mean (exact arrays are not in the document)."""
    if isinstance(v, dict):
        summary = v.get("summary") if isinstance(v.get("summary"), dict) else v
        if "mean" in summary:
            return "<%s mean %s>" % (_fmt_shape(summary.get("shape")), _fmt(summary.get("mean")))
        return "<object>"
    if isinstance(v, list):
        return "<list of %d>" % len(v)
    return v


def run_info(path, doc):
    env = _dict(_get(doc, "provenance", "environment"))
    ds = _dict(_get(doc, "provenance", "dataset_source"))
    return {"path": str(path), "pipeline": doc.get("pipeline"), "scenario": doc.get("scenario"),
            "timestamp": doc.get("timestamp"), "schema_version": doc.get("schema_version"),
            "commit_hash": _get(doc, "provenance", "commit_hash"), "branch": _get(doc, "provenance", "branch"),
            "dirty": _get(doc, "provenance", "dirty"),
            "environment": {k: env.get(k) for k in ("python_version", "tensorflow_version", "keras_version",
                                                   "numpy_version")},
            "dataset": {"type": ds.get("type"), "path": ds.get("path"), "checksum": ds.get("checksum"),
                        "provenance_chain": ds.get("provenance_chain")},
            "missing_stages": doc.get("missing_stages") if isinstance(doc.get("missing_stages"), list) else [],
            "tracer_errors": _dict(_get(doc, "tracer", "errors"))}


# -- findings: the notable differences, in words ---------------------------------------------------------------------

def findings(a, b, mode, checkpoints, first, first_stage, stages_a, stages_b, config):
    out = []
    if mode["used"] == EQUIVALENT:
        out.append("Datasets not proven identical (%s): per spec §5.2 only final metrics and probe stats are "
                   "compared; dataset generation is a potential source of any difference below."
                   % mode["reason"].split("(", 1)[-1].rstrip(")"))
    if first is not None:
        out.append("First divergence: %s — %s." % (first["name"], first["detail"]))
    if first_stage is not None and (first is None or first_stage["name"] != first["name"]):
        out.append("First divergent stage: %s — %s." % (first_stage["name"], first_stage["detail"]))
    diffs = [r for r in config["rows"] if r["differs"]]
    if diffs:
        out.append("Configuration differs: " + ", ".join("%s %s vs %s" % (r["field"], _fmt(r["a"]), _fmt(r["b"]))
                                                        for r in diffs) + ".")
    cfg_parts = ["%s %s vs %s" % (r["key"], _fmt(r["a"]), _fmt(r["b"])) for r in config["cfg_differences"]]
    cfg_parts += ["%s only in A" % k for k in config["cfg_only_in_a"]]
    cfg_parts += ["%s only in B (= %s)" % (k, _fmt(_cfg_value(_get(b, "configuration", "legacy_params_cfg_snapshot",
                                                                  k)))) for k in config["cfg_only_in_b"]]
    if cfg_parts:
        shown = cfg_parts[:CFG_FINDINGS_LIMIT]
        out.append("params.cfg differs: %s%s." % ("; ".join(shown), " (+%d more, see Configuration)" % (
            len(cfg_parts) - len(shown)) if len(cfg_parts) > len(shown) else ""))
    # probe normalization
    pa, pb = _dict(a.get("probe")), _dict(b.get("probe"))
    norm = []
    for key in ("method", "probe_scale", "probe_big", "probe_mask", "computed_norm_factor"):
        va, vb = _get(pa, "normalization", key), _get(pb, "normalization", key)
        if isinstance(va, float) and isinstance(vb, float):
            if rel_diff(va, vb) > 1e-6:
                norm.append("%s %s vs %s" % (key, _fmt(va), _fmt(vb)))
        elif va != vb:
            norm.append("%s %s vs %s" % (key, _fmt(va), _fmt(vb)))
    if norm:
        out.append("Probe normalization differs: " + ", ".join(norm) + ".")
    cp = checkpoints[PROBE_CHECKPOINT]
    if cp["status"] == "diverged" and cp is not first:
        out.append("Probe statistics differ (post-normalization, tolerance %s): %s." % (_pct(cp["tolerance"]),
                                                                                        cp["detail"]))
    cv_a, pk_a = _shape_descriptors(_get(pa, "post_normalization", "amplitude"))
    cv_b, pk_b = _shape_descriptors(_get(pb, "post_normalization", "amplitude"))
    shape_diffs = ["%s %s vs %s (%s)" % (label, _fmt(x), _fmt(y), _pct(rel_diff(x, y)))
                   for label, x, y in (("std/mean", cv_a, cv_b), ("max/mean", pk_a, pk_b))
                   if x is not None and y is not None and rel_diff(x, y) > PROBE_SHAPE_RTOL]
    if shape_diffs:
        out.append("Probe amplitude profile differs beyond its normalization scale (scale-free %s): the probe's "
                   "shape was changed (e.g. smoothing, masking or a different source), not just rescaled."
                   % "; ".join(shape_diffs))
    # intensity scale
    for label, doc in (("A", a), ("B", b)):
        c = scale_consistency(doc)
        if c["consistent"] is False:
            out.append("Intensity scale in %s: the model's exp(log_scale) = %s but the recorded (configured) "
                       "intensity_scale = %s (model/configured = %s)." % (label, _fmt(c["model"]),
                                                                          _fmt(c["configured"]), _fmt(c["ratio"])))
    cp = checkpoints[SCALE_CHECKPOINT]
    if cp["status"] == "diverged" and cp is not first:
        out.append("Intensity scale differs between the runs (tolerance %s): %s." % (_pct(cp["tolerance"]),
                                                                                     cp["detail"]))
    for label, path in (("dataset-derived scale", ("dataset_derived", "computed_scale")),
                        ("simulation scale", ("simulation_scales",))):
        va, vb = _get(a, "intensity_scale", *path), _get(b, "intensity_scale", *path)
        if isinstance(va, list):
            va, vb = (va[0] if va else None), (vb[0] if isinstance(vb, list) and vb else None)
        va, vb = _num(va), _num(vb)
        if va is not None and vb is not None and rel_diff(va, vb) > CHECKLIST_TOLERANCE["intensity_scale"]:
            out.append("%s differs: %s vs %s (%s)." % (label[0].upper() + label[1:], _fmt(va), _fmt(vb),
                                                       _pct(rel_diff(va, vb))))
    # inference
    na, src_a = prediction_count(a, stages_a)
    nb, src_b = prediction_count(b, stages_b)
    if na is not None and nb is not None and na != nb:
        fewer, more = ("A", "B") if na < nb else ("B", "A")
        out.append("Inference stitched %d model predictions in A and %d in B: the inference batch of %s "
                   "%s (%s has %d)." % (na, nb, fewer,
                                        "collapsed" if min(na, nb) * 2 <= max(na, nb) else "is smaller",
                                        more, max(na, nb)))
    sa, sb = _get(a, "inference", "stitched_shape"), _get(b, "inference", "stitched_shape")
    if sa is not None and sb is not None and sa != sb:
        out.append("Stitched shape differs: %s vs %s." % (_fmt_shape(sa), _fmt_shape(sb)))
    ma, mb = _num(_get(a, "inference", "amplitude", "mean")), _num(_get(b, "inference", "amplitude", "mean"))
    if ma is not None and mb is not None and rel_diff(ma, mb) > DEFAULT_TOLERANCE:
        out.append("Stitched amplitude scale differs: mean %s vs %s (B/A = %s)." % (_fmt(ma), _fmt(mb),
                                                                                   _fmt(mb / ma if ma else None)))
    ga, how_a = stitch_gain(a)
    gb, how_b = stitch_gain(b)
    if ga is not None and gb is not None and rel_diff(ga, gb) > DEFAULT_TOLERANCE:
        out.append("Stitching gain differs: %s vs %s (%s): one pipeline multiplies its predictions when "
                   "stitching (e.g. by norm_Y_I)." % (_fmt(ga), _fmt(gb), how_a if how_a == how_b
                                                       else "A: %s, B: %s" % (how_a, how_b)))
    # final metrics
    for field in ("mae", "pearson_r"):
        va, vb = _num(_get(a, "comparison", "amplitude", field)), _num(_get(b, "comparison", "amplitude", field))
        if va is not None and vb is not None and rel_diff(va, vb) > DEFAULT_TOLERANCE:
            out.append("Final amplitude %s: %s vs %s." % (field, _fmt(va), _fmt(vb)))
    for label, doc in (("A", a), ("B", b)):
        if _get(doc, "training", "nan_detected") is True:
            out.append("Training of %s produced NaN (first at epoch %s)." % (label,
                                                                            _get(doc, "training", "first_nan_epoch")))
        missing = doc.get("missing_stages")
        if isinstance(missing, list) and missing:
            out.append("%s lacks required stages: %s." % (label, ", ".join(str(m) for m in missing)))
        errors = _get(doc, "tracer", "errors")
        if isinstance(errors, dict) and errors:
            out.append("%s's tracer recorded errors: %s." % (label, ", ".join("%s=%s" % kv for kv in
                                                                            sorted(errors.items()))))
    return out


# -- the report --------------------------------------------------------------------------------------------------

def build_report(path_a, a, path_b, b, mode="auto"):
    check_versions(a, b)
    m = decide_mode(mode, a, b)
    stages_a, stages_b = stage_map(a), stage_map(b)
    scan = [evaluate_checkpoint(name, a, b, stages_a, stages_b) for name in SCAN_ORDER]
    checkpoints = {cp["name"]: cp for cp in scan}
    first = next((cp for cp in scan if cp["status"] == "diverged"), None)
    first_stage = next((cp for cp in scan if cp["status"] == "diverged" and cp["kind"] == "stage"), None)
    items = checklist(m["used"], a, b, checkpoints)
    required = [i for i in items if i["requirement"] == REQUIRED]
    failed = [i["key"] for i in required if not i["passed"]]
    config = configuration_table(a, b)
    return {
        "format": REPORT_FORMAT,
        "a": run_info(path_a, a),
        "b": run_info(path_b, b),
        "mode": m,
        "tolerances": {"checklist": dict(CHECKLIST_TOLERANCE), "default_stage": DEFAULT_TOLERANCE,
                       "floor_fraction": FLOOR_FRACTION, "phase_scale": PHASE_SCALE,
                       "probe_shape_rtol": PROBE_SHAPE_RTOL, "scale_consistency_rtol": SCALE_CONSISTENCY_RTOL},
        "checklist": items,
        "verdict": {"required": len(required), "required_passed": len(required) - len(failed),
                    "failed": failed, "passed": not failed, "exit_code": 1 if failed else 0},
        "first_divergence": _divergence(first),
        "first_divergent_stage": _divergence(first_stage),
        "scan": [{"name": cp["name"], "kind": cp["kind"], "tolerance": cp["tolerance"], "status": cp["status"],
                  "worst": cp["worst"], "detail": cp["detail"]} for cp in scan],
        "findings": findings(a, b, m, checkpoints, first, first_stage, stages_a, stages_b, config),
        "stages": stage_table(stages_a, stages_b),
        "stage_ratios": ratio_table(a, b),
        "probe": probe_table(a, b),
        "intensity_scale": {"rows": scale_table(a, b),
                            "consistency": {"a": scale_consistency(a), "b": scale_consistency(b)}},
        "inference": inference_table(a, b, stages_a, stages_b),
        "comparison": comparison_table(a, b),
        "training": training_table(a, b),
        "configuration": config,
    }


def _divergence(cp):
    if cp is None:
        return None
    return {"name": cp["name"], "kind": cp["kind"], "tolerance": cp["tolerance"], "detail": cp["detail"],
            "breaks": cp["failing"]}


# -- formatting ------------------------------------------------------------------------------------------------------

def _fmt(v):
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v == 0:
            return "0"
        return "%.6g" % v
    if isinstance(v, list):
        return _fmt_shape(v) if all(isinstance(x, int) for x in v) else "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


def _fmt_shape(v):
    if not isinstance(v, list):
        return _fmt(v) if v is not None else "—"
    return "[" + ", ".join(str(x) for x in v) + "]"


def _pct(x):
    if x is None:
        return "—"
    if x == 0:
        return "0%"
    p = x * 100
    return ("%.3g%%" % p) if p >= 0.001 else ("%.2e%%" % p)


def _mark(ok):
    return "" if ok is None else ("ok" if ok else "DIFFERS")


class _Doc:
    """Collects headings, paragraphs and tables; renders them as plain text or markdown."""

    def __init__(self, markdown):
        self.md = markdown
        self.lines = []

    def title(self, text):
        self.lines += (["# " + text, ""] if self.md else [text, "=" * len(text), ""])

    def heading(self, text):
        self.lines += (["## " + text, ""] if self.md else ["== %s ==" % text, ""])

    def para(self, text):
        self.lines += [text, ""]

    def bullets(self, items):
        for item in items:
            self.lines.append("- " + item)
        self.lines.append("")

    def table(self, header, rows):
        rows = [[_cell(c) for c in r] for r in rows]
        if self.md:
            esc = [[c.replace("|", "\\|") for c in r] for r in [header] + rows]
            self.lines.append("| " + " | ".join(esc[0]) + " |")
            self.lines.append("|" + "|".join("---" for _ in header) + "|")
            for r in esc[1:]:
                self.lines.append("| " + " | ".join(r) + " |")
        else:
            widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
            for i, r in enumerate([header] + rows):
                self.lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
                if i == 0:
                    self.lines.append("  ".join("-" * w for w in widths))
        self.lines.append("")

    def render(self):
        while self.lines and self.lines[-1] == "":
            self.lines.pop()
        return "\n".join(self.lines) + "\n"


def _source_text(info):
    if not info["present"]:
        return "(absent: %s)" % info["absent_reason"] if info.get("absent_reason") else "(absent)"
    return "%s%s" % ("= " if info["equivalent"] else "", _fmt(info["source"]))


def _worst_text(w):
    if w is None:
        return ""
    if w["stat"] == "shape":
        return "shape %s vs %s" % (_fmt_shape(w["a"]), _fmt_shape(w["b"]))
    if w["rel_diff"] is None:
        return "%s %s vs %s%s" % (w["stat"], _fmt(w["a"]), _fmt(w["b"]), " (%s)" % w["note"] if w["note"] else "")
    return "%s %s vs %s (%s)" % (w["stat"], _fmt(w["a"]), _fmt(w["b"]), _pct(w["rel_diff"]))


def _cell(v):
    return v if isinstance(v, str) else _fmt(v)


def _side_rows(rows):
    return [[r["field"], _fmt(r["a"]), _fmt(r["b"]), _pct(r["rel_diff"]) if r["rel_diff"] is not None else "",
             "*" if r["differs"] else ""] for r in rows]


SIDE_HEADER = ["field", "A", "B", "rel.diff", "≠"]


def render(report, markdown=False):
    d = _Doc(markdown)
    d.title("Parity comparison (Parity Logging Specification v1.0)")
    for label in ("a", "b"):
        info = report[label]
        env = info["environment"]
        ds = info["dataset"]
        d.para("%s: %s\n   pipeline %s, scenario %s, commit %s (%s%s), python %s, tensorflow %s, keras %s, "
               "numpy %s\n   dataset: %s, checksum %s%s" % (
                   label.upper(), info["path"], _fmt(info["pipeline"]), _fmt(info["scenario"]),
                   str(info["commit_hash"] or "unknown")[:12], _fmt(info["branch"]),
                   ", dirty" if info["dirty"] else "", _fmt(env["python_version"]), _fmt(env["tensorflow_version"]),
                   _fmt(env["keras_version"]), _fmt(env["numpy_version"]), _fmt(ds["type"]),
                   _fmt(ds["checksum"]), (" (%s)" % ds["provenance_chain"]) if ds["provenance_chain"] else "")
               if not markdown else
               "**%s**: `%s` — pipeline %s, scenario %s, commit `%s` (%s%s); python %s, tensorflow %s, keras %s, "
               "numpy %s; dataset %s, checksum %s" % (
                   label.upper(), info["path"], _fmt(info["pipeline"]), _fmt(info["scenario"]),
                   str(info["commit_hash"] or "unknown")[:12], _fmt(info["branch"]),
                   ", dirty" if info["dirty"] else "", _fmt(env["python_version"]), _fmt(env["tensorflow_version"]),
                   _fmt(env["keras_version"]), _fmt(env["numpy_version"]), _fmt(ds["type"]), _fmt(ds["checksum"])))
    m = report["mode"]
    d.para("Mode: %s — %s" % (m["used"], m["reason"]))

    d.heading("Parity checklist (spec §5.3)")
    rows = []
    for item in report["checklist"]:
        worst = _worst_text(item["worst"]) or item["detail"] or ""
        rows.append([item["item"], item["requirement"], _pct(item["tolerance"]) if item["tolerance"] else "—",
                     worst, item["result"]])
    d.table(["item", "requirement", "tolerance", "largest difference", "result"], rows)
    v = report["verdict"]
    if v["required"]:
        d.para("Verdict: %d/%d REQUIRED items pass%s -> exit %d" % (
            v["required_passed"], v["required"], "" if v["passed"] else " (failed: %s)" % ", ".join(v["failed"]),
            v["exit_code"]))
    else:
        d.para("Verdict: no REQUIRED items in %s mode (everything is COMPARE or N/A) -> exit %d"
               % (m["used"], v["exit_code"]))

    d.heading("First divergence")
    f, fs = report["first_divergence"], report["first_divergent_stage"]
    if f is None:
        d.para("None: every checkpoint agrees within its tolerance (%s)." % ", ".join(SCAN_ORDER))
    else:
        d.para("%s (tolerance %s): %s" % (f["name"], _pct(f["tolerance"]), f["detail"]))
        if fs is not None and fs["name"] != f["name"]:
            d.para("First divergent stage (§2.5): %s (tolerance %s): %s" % (fs["name"], _pct(fs["tolerance"]),
                                                                            fs["detail"]))
        elif fs is None:
            d.para("No §2.5 stage diverges.")
    scan_rows = []
    for cp in report["scan"]:
        scan_rows.append([cp["name"], _pct(cp["tolerance"]), cp["status"], _worst_text(cp["worst"]) or
                          (cp["detail"] or "")])
    d.table(["checkpoint (pipeline order)", "tolerance", "status", "largest difference / reason"], scan_rows)

    d.heading("Findings")
    d.bullets(report["findings"] or ["No differences beyond the tolerances."])

    d.heading("Intensity stages (A vs B)")
    rows = []
    for st in report["stages"]:
        label = "%s%s" % (st["name"], "" if st["required"] else " (optional)")
        if not st["rows"]:
            why = []
            for side in ("a", "b"):
                if not st[side]["present"]:
                    why.append("%s: %s" % (side.upper(), st[side]["absent_reason"]))
            rows.append([label, "", "", "", "", "; ".join(why)])
        for i, r in enumerate(st["rows"]):
            a_s = _fmt_shape(r["a"]) if r["stat"] == "shape" else _fmt(r["a"])
            b_s = _fmt_shape(r["b"]) if r["stat"] == "shape" else _fmt(r["b"])
            rows.append([label if i == 0 else "", r["stat"], a_s, b_s,
                         _pct(r["rel_diff"]) if r["rel_diff"] is not None else "",
                         ("%s (tol %s)" % (_mark(r["ok"]), _pct(st["tolerance"])) if r["ok"] is not None else "")])
    d.table(["stage", "stat", "A", "B", "rel.diff", "within tolerance"], rows)
    d.para("Stage sources (\"=\" marks a step that plays the stage's role on a path where the named step does "
           "not run):")
    d.table(["stage", "A source", "B source"],
            [[st["name"], _source_text(st["a"]), _source_text(st["b"])] for st in report["stages"]])

    d.heading("Stage ratios (§2.6)")
    d.table(SIDE_HEADER, _side_rows(report["stage_ratios"]))

    d.heading("Probe (§2.4)")
    d.table(SIDE_HEADER, _side_rows(report["probe"]))

    d.heading("Intensity scale (§2.7)")
    d.table(SIDE_HEADER, _side_rows(report["intensity_scale"]["rows"]))
    lines = []
    for label in ("a", "b"):
        c = report["intensity_scale"]["consistency"][label]
        if c["consistent"] is None:
            lines.append("%s: model exp(log_scale) %s, configured %s — not both recorded"
                         % (label.upper(), _fmt(c["model"]), _fmt(c["configured"])))
        else:
            lines.append("%s: model exp(log_scale) %s vs configured %s (model/configured %s) -> %s"
                         % (label.upper(), _fmt(c["model"]), _fmt(c["configured"]), _fmt(c["ratio"]),
                            "consistent" if c["consistent"] else "MISMATCH"))
    d.bullets(lines)

    d.heading("Inference (§2.9)")
    d.table(SIDE_HEADER, _side_rows(report["inference"]))

    d.heading("Comparison with ground truth (§2.10)")
    d.table(SIDE_HEADER, _side_rows(report["comparison"]))

    d.heading("Training (§2.8)")
    d.table(SIDE_HEADER, _side_rows(report["training"]))

    d.heading("Configuration (§2.3)")
    cfg = report["configuration"]
    d.table(SIDE_HEADER, _side_rows(cfg["rows"]))
    if cfg["cfg_differences"]:
        d.para("params.cfg keys that differ:")
        d.table(["key", "A", "B"], [[r["key"], _fmt(r["a"]), _fmt(r["b"])] for r in cfg["cfg_differences"]])
    for label, key in (("A", "cfg_only_in_a"), ("B", "cfg_only_in_b")):
        if cfg[key]:
            d.para("params.cfg keys only in %s (%d): %s" % (label, len(cfg[key]), ", ".join(cfg[key])))
    t = report["tolerances"]
    d.para("Tolerances: checklist %s; other stages %s. A statistic pair is within tolerance X when "
           "|a-b| / max(|a|, |b|, floor) <= X, floor = %s of max(|mean|, std) of the stage; phase pairs use "
           "|a-b| / pi; shapes must be equal." % (
               ", ".join("%s %s" % (k, _pct(v)) for k, v in t["checklist"].items()), _pct(t["default_stage"]),
               _pct(t["floor_fraction"])))
    return d.render()


# -- plot ------------------------------------------------------------------------------------------------------------

def plot_stage_means(report, path, run_names=None):
    """Stage means of both runs on one log-scale chart. Returns None when written, else a one-line reason.

    ``path`` is a file name or a binary file object; ``run_names`` ({"a": .., "b": ..}) names the runs in the
    legend (default: each run's pipeline and scenario)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return "matplotlib is not installed: no plot written"
    names, series = [], {"a": [], "b": []}
    for st in report["stages"]:
        means = {r["stat"]: r for r in st["rows"]}.get("mean")
        if means is None:
            continue
        names.append(st["name"])
        for side in ("a", "b"):
            v = means[side]
            series[side].append(v if isinstance(v, (int, float)) and v > 0 else float("nan"))
    fig = Figure(figsize=(max(6.0, 1.1 * len(names) + 2), 6.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(2, 1, 1)
    lower = fig.add_subplot(2, 1, 2, sharex=ax)
    x = list(range(len(names)))
    for side, marker in (("a", "o"), ("b", "s")):
        info = report[side]
        name = (run_names or {}).get(side) or "%s %s" % (info["pipeline"] or "", info["scenario"] or "")
        ax.plot(x, series[side], marker=marker, linestyle="-", label="%s: %s" % (side.upper(), name))
    ax.set_yscale("log")
    ax.set_ylabel("stage mean (log scale)")
    ratios = [b / a if a == a and b == b else float("nan") for a, b in zip(series["a"], series["b"])]
    lower.plot(x, ratios, marker="d", color="black")
    lower.axhline(1.0, color="grey", linewidth=0.8)
    lower.set_ylabel("mean B / mean A")
    lower.set_xticks(x)
    lower.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    for tick in ax.get_xticklabels():
        tick.set_visible(False)
    first = report["first_divergent_stage"]
    if first is not None and first["name"] in names:
        for axis in (ax, lower):
            axis.axvline(names.index(first["name"]), color="red", linestyle=":",
                         label="first divergent stage" if axis is ax else None)
    ax.set_title("Stage means, A vs B (non-positive means not drawn)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    from parity_tracer import outputs
    save = lambda fh: fig.savefig(fh, format="png", dpi=90, metadata={"Software": None})
    try:   # a file object (the report), else the exact name given (savefig would add ".png" to a bare name)
        save(path) if hasattr(path, "write") else outputs.replace(path, save)
    except OSError as exc:
        return "cannot write plot %s: %s" % (path, exc.strerror or exc)
    return None


# -- command line ----------------------------------------------------------------------------------------------------

def _write_report(text, output):
    """The report to ``output`` or stdout; False (and one line on stderr) when it cannot be written."""
    if output:
        try:
            outputs.write_bytes(output, text.encode("utf-8"))
        except OSError as exc:
            sys.stderr.write("parity_tracer: compare: cannot write %s (%s)\n" % (output, exc.strerror or exc))
            return False
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m parity_tracer compare",
                                     description="Compare two parity telemetry documents (spec v1.0).")
    parser.add_argument("a", help="reference document (or run directory), e.g. the legacy run")
    parser.add_argument("b", help="document (or run directory) under test")
    parser.add_argument("--mode", choices=MODES, default="auto")
    parser.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    parser.add_argument("-o", "--output", help="write the report here instead of stdout")
    parser.add_argument("--plot", help="PNG of the stage means of both runs (needs matplotlib)")
    parser.add_argument("--pair-by", choices=("label", "index"), default="label",
                        help="multi-run folders (runs.json): pair their runs by label or by index")
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    from parity_tracer.protocol import sweep
    if sweep.is_sweep(args.a) and sweep.is_sweep(args.b):      # two dose-experiments sweeps: pair their points
        return sweep.compare_sweeps(args.a, args.b, args.mode, args.format, args.output)
    from parity_tracer.document import segment
    if segment.is_multi_run(args.a) or segment.is_multi_run(args.b):
        return _main_runs(args)
    try:
        a = load_document(args.a)
        b = load_document(args.b)
        report = build_report(args.a, a, args.b, b, args.mode)
    except InputError as exc:
        sys.stderr.write("parity_tracer: compare: %s\n" % exc)
        return 2
    if args.format == "json":
        text = jsonio.dumps_pretty(report).decode("utf-8")
    else:
        text = render(report, markdown=args.format == "markdown")
    if not _write_report(text, args.output):
        return 2
    if args.plot:
        problem = plot_stage_means(report, args.plot)
        sys.stderr.write("parity_tracer: compare: %s\n" % (problem or "plot -> %s" % args.plot))
    v = report["verdict"]
    if args.output:
        sys.stderr.write("parity_tracer: compare: %s mode, %s, report -> %s\n" % (
            report["mode"]["used"], "no REQUIRED items" if not v["required"] else
            "all REQUIRED items pass" if v["passed"] else "REQUIRED failed: " + ", ".join(v["failed"]),
            args.output))
    return v["exit_code"]


def _main_runs(args):
    """Two folders of several runs each (or one and a document): one report per pair, then a summary."""
    from parity_tracer import compare_runs
    try:
        result = compare_runs.build(args.a, args.b, args.mode, args.pair_by)
    except InputError as exc:
        sys.stderr.write("parity_tracer: compare: %s\n" % exc)
        return 2
    text = jsonio.dumps_pretty(result).decode("utf-8") if args.format == "json" else \
        compare_runs.render(result, markdown=args.format == "markdown")
    if not _write_report(text, args.output):
        return 2
    if args.plot:
        stem, suffix = os.path.splitext(args.plot)
        for entry in result["pairs"]:
            target = "%s-%s%s" % (stem, entry["key"], suffix or ".png")
            problem = plot_stage_means(entry["report"], target)
            sys.stderr.write("parity_tracer: compare: %s\n" % (problem or "plot -> %s" % target))
    v = result["verdict"]
    sys.stderr.write("parity_tracer: compare: %d pair(s) by %s, %d failed, %d unpaired%s\n" % (
        v["pairs"], result["pair_by"], len(v["failed"]), v["unpaired"],
        ", report -> %s" % args.output if args.output else ""))
    return v["exit_code"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
