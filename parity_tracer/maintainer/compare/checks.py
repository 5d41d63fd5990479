"""The checks of a comparison: tolerances, the spec §5.3 checklist, the mode decision and the checkpoints of
the first-divergence walk (the rules are in the package docstring).

A check turns two documents into rows ``{stat, a, b, rel_diff, ok, note}`` and row groups; nothing here writes
text for a reader except the one-line ``detail`` of a checkpoint.
"""

import math

from parity_tracer.profiles.ptychopinn import stagemap
from parity_tracer.document import load as docread
from parity_tracer.maintainer.compare.formatting import breaking_text, fmt
from parity_tracer.document.fields import get, number, sequence, shape
from parity_tracer.profiles.ptychopinn import maintainer as ptychopinn

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


class InputError(Exception):
    """An input cannot be compared at all (exit status 2)."""


# -- relative differences -----------------------------------------------------------------------------------------

def rel_diff(a, b, floor=EPS):
    """|a - b| / max(|a|, |b|, floor): symmetric, 0 for equal values."""
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b), floor, EPS)


def within(rel, tol):
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
    ca = get(a, "provenance", "dataset_source", "checksum")
    cb = get(b, "provenance", "dataset_source", "checksum")
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

def row(stat, a, b, rel=None, ok=None, note=None):
    return {"stat": stat, "a": a, "b": b, "rel_diff": rel, "ok": ok, "note": note}


def group(rows):
    """Summary of judged rows: ok (None when nothing was judged), failing rows, the worst numeric row."""
    judged = [r for r in rows if r["ok"] is not None]
    failing = [r for r in judged if r["ok"] is False]
    numeric = [r for r in judged if r["rel_diff"] is not None]
    worst = max(numeric, key=lambda r: r["rel_diff"]) if numeric else None
    ok = None if not judged else not failing
    return {"rows": rows, "ok": ok, "failing": failing, "worst": failing[0] if failing and failing[0]["rel_diff"]
            is None else worst}


def pair_rows(pairs, tol, floor=EPS, phase_keys=()):
    rows = []
    for stat, a, b in pairs:
        a, b = number(a), number(b)
        if a is None and b is None:
            continue
        if a is None or b is None:
            rows.append(row(stat, a, b, None, False if tol is not None else None,
                            "recorded in %s only" % ("B" if a is None else "A")))
            continue
        rel = abs(a - b) / PHASE_SCALE if stat in phase_keys else rel_diff(a, b, floor)
        rows.append(row(stat, a, b, rel, within(rel, tol) if tol is not None else None))
    return rows


def usable_stats(stats):
    return isinstance(stats, dict) and not stats.get("symbolic") and not stats.get("unsupported") and \
        any(number(stats.get(k)) is not None for k in STAT_KEYS)


def scale_floor(*blocks):
    scale = 0.0
    for s in blocks:
        for k in ("mean", "std"):
            v = number(get(s, k))
            if v is not None:
                scale = max(scale, abs(v))
    return max(FLOOR_FRACTION * scale, EPS)


def compare_stage_stats(sa, sb, tol):
    """Rows for shape + mean/std/min/max of two stage stats blocks."""
    rows = []
    shape_a, shape_b = shape(get(sa, "shape")), shape(get(sb, "shape"))
    if shape_a is not None and shape_b is not None:
        rows.append(row("shape", shape_a, shape_b, None, shape_a == shape_b))
    floor = scale_floor(sa, sb)
    rows += pair_rows([(k, get(sa, k), get(sb, k)) for k in STAT_KEYS], tol, floor)
    return rows


def coordinate_rows(ea, eb):
    """The grouping's coordinate convention (stage metadata ``coordinates``): the measured sign must agree; the
    profile's constant that sets it is shown with it."""
    ca, cb = get(ea, "metadata", "coordinates"), get(eb, "metadata", "coordinates")
    sa, sb = number(get(ca, "relative_sign")), number(get(cb, "relative_sign"))
    if sa is None or sb is None:
        return []
    la, lb = get(ca, ptychopinn.COORD_SIGN_FIELD), get(cb, ptychopinn.COORD_SIGN_FIELD)
    stat = ptychopinn.COORD_SIGN_LABEL % (fmt(la), fmt(lb))
    same = (sa > 0) == (sb > 0)
    return [row(stat, sa, sb, None, same, None if same else ptychopinn.COORD_SIGN_NOTE)]


def probe_stat_rows(pa, pb, tol):
    amp_a, amp_b = get(pa, "post_normalization", "amplitude"), get(pb, "post_normalization", "amplitude")
    ph_a, ph_b = get(pa, "post_normalization", "phase"), get(pb, "post_normalization", "phase")
    floor = scale_floor(amp_a, amp_b)
    rows = pair_rows([("amplitude." + k, get(amp_a, k), get(amp_b, k))
                      for k in STAT_KEYS + ("l2_norm",)], tol, floor)
    phase_keys = tuple("phase." + k for k in STAT_KEYS)
    rows += pair_rows([("phase." + k, get(ph_a, k), get(ph_b, k)) for k in STAT_KEYS], tol,
                      phase_keys=phase_keys)
    return rows


def scale_rows(a, b, tol):
    return pair_rows([(k, get(a, "intensity_scale", k), get(b, "intensity_scale", k)) for k in SCALE_KEYS], tol)


# -- documents as lookups ----------------------------------------------------------------------------------------

def stage_map(doc):
    out = {}
    for entry in sequence(doc.get("intensity_stages")):
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            out.setdefault(entry["name"], entry)
    return out


def other_stage(doc, name):
    for entry in sequence(get(doc, "tracer", "other_stages")):
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    return None


def stage_present(entry):
    return isinstance(entry, dict) and not entry.get("absent") and usable_stats(entry.get("stats"))


def stage_tolerance(name):
    return CHECKLIST_TOLERANCE.get(name, DEFAULT_TOLERANCE)


def absent_reason(entry):
    reason = get(entry, "absent_reason")
    return reason if isinstance(reason, str) and reason else "not captured"


def required_stage(name):
    return name in stagemap.REQUIRED_STAGES


# -- checkpoints (the first-divergence walk) -------------------------------------------------------------------------

def evaluate_checkpoint(name, a, b, stages_a, stages_b):
    """One checkpoint: {'name', 'kind', 'tolerance', 'status', 'rows', 'worst', 'failing', 'detail'}.

    status: 'same' | 'diverged' | 'absent' (in both) | 'skipped' (optional stage captured by one run only).
    """
    if name == PROBE_CHECKPOINT:
        tol = CHECKLIST_TOLERANCE["probe"]
        g = group(probe_stat_rows(a.get("probe"), b.get("probe"), tol))
        kind = "probe"
    elif name == SCALE_CHECKPOINT:
        tol = CHECKLIST_TOLERANCE["intensity_scale"]
        g = group(scale_rows(a, b, tol))
        kind = "intensity_scale"
    else:
        tol = stage_tolerance(name)
        kind = "stage"
        ea, eb = stages_a.get(name), stages_b.get(name)
        pa, pb = stage_present(ea), stage_present(eb)
        if not pa or not pb:
            if not pa and not pb:
                status, detail = "absent", "not captured in either run"
            elif not required_stage(name):
                status, detail = "skipped", "optional stage captured in %s only" % ("A" if pa else "B")
            else:
                missing = eb if pa else ea
                status = "diverged"
                detail = "captured in %s only; %s: %s" % ("A" if pa else "B", "B" if pa else "A",
                                                           absent_reason(missing))
            return {"name": name, "kind": kind, "tolerance": tol, "status": status, "rows": [], "worst": None,
                    "failing": [], "detail": detail}
        g = group(compare_stage_stats(ea["stats"], eb["stats"], tol) + coordinate_rows(ea, eb))
    if g["ok"] is None:
        status, detail = "absent", "no statistics recorded in either run"
    else:
        status = "same" if g["ok"] else "diverged"
        detail = breaking_text(g["failing"], tol) if not g["ok"] else None
    return {"name": name, "kind": kind, "tolerance": tol, "status": status, "rows": g["rows"],
            "worst": g["worst"], "failing": g["failing"], "detail": detail}


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
            rows = pair_rows([("comparison.amplitude." + field, get(a, "comparison", "amplitude", field),
                               get(b, "comparison", "amplitude", field))], None)
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
