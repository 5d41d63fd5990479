"""Everything the report shows, gathered from the inputs into one plain structure (no HTML, no figures here).

The comparison itself is compare's (checklist, first divergence, stage tables, side-by-side blocks): this
module only adds what a page needs beyond text — the runs' arrays (reconstructions, ground truth, probe),
their training histories and the sweeps' dose-response points.
"""

import math

from parity_tracer.document import arrays, fields, load as docread
from parity_tracer.maintainer import compare
from parity_tracer.report import inputs

_get, _dict, _num = fields.get, fields.mapping, fields.number
LABELS = ("a", "b")


def run_name(source):
    """How the page names a run: its pipeline and scenario, else the input's file or folder name."""
    doc = source.doc
    parts = []
    for key in ("pipeline", "scenario"):
        v = doc.get(key)
        if isinstance(v, str) and v and v not in parts:
            parts.append(v)
    if parts:
        return " ".join(parts)[:80]
    import os
    return os.path.basename(source.given.rstrip("/")) or source.given


# -- one run --------------------------------------------------------------------------------------------------------

def _image(arr):
    """A 2-D view of an array: squeezed; the first image of a stack; None when it is not an image."""
    import numpy as np
    if arr is None:
        return None
    a = np.squeeze(arr)
    while a.ndim > 2:
        a = a[0]
    return a if a.ndim == 2 and min(a.shape) > 1 else None


def run_arrays(source):
    """The run's images: stitched amplitude / phase, ground truth, probe before / after normalization.

    A delivery folder's well-known files come first; otherwise the paths the document records."""
    doc = source.doc
    names = inputs.DELIVERY_ARRAYS
    amp = source.array(names["amplitude"], _get(doc, "inference", "artifacts", "amplitude_npy"))
    phase = source.array(names["phase"], _get(doc, "inference", "artifacts", "phase_npy"))
    t_amp = source.array(names["truth_amplitude"],
                         _get(doc, "comparison", "ground_truth_artifacts", "amplitude_npy"))
    t_phase = source.array(names["truth_phase"], _get(doc, "comparison", "ground_truth_artifacts", "phase_npy"))
    amp, phase = arrays.split_complex(_image(amp), _image(phase))
    t_amp, t_phase = arrays.split_complex(_image(t_amp), _image(t_phase))
    out = {"amplitude": amp, "phase": phase, "truth_amplitude": t_amp, "truth_phase": t_phase}
    for phase_name in ("pre", "post"):
        probe = _image(source.array(_get(doc, "probe", "artifacts", phase_name + "_npy")))
        out["probe_" + phase_name] = probe
    return out


def run_history(source):
    """{key: [float or None]} of the run's training history (history.json), or None."""
    rel = _get(source.doc, "training", "history_artifact")
    raw = source.json_file(rel if isinstance(rel, str) else inputs.HISTORY, inputs.HISTORY)
    if not isinstance(raw, dict):
        return None
    out = {}
    for key, values in raw.items():
        if isinstance(key, str) and isinstance(values, list) and len(values) <= 100000:
            out[key] = [_num(v) for v in values]
    return out or None


def run_metrics(doc):
    """Per part: the document's MAE, pearson_r and least-squares scale against the ground truth."""
    out = {}
    for part in ("amplitude", "phase"):
        out[part] = {"mae": _num(_get(doc, "comparison", part, "mae")),
                     "pearson_r": _num(_get(doc, "comparison", part, "pearson_r")),
                     "least_squares_scalar": _num(_get(doc, "comparison", part, "scaling_analysis",
                                                       "least_squares_scalar"))}
    return out


def gather_run(label, source):
    doc = source.doc
    gain, how = compare.stitch_gain(doc)
    return {"label": label.upper(), "name": run_name(source), "given": source.given, "kind": source.kind,
            "document": source.doc_name, "folder": source.folder, "doc": doc, "arrays": run_arrays(source),
            "history": run_history(source), "metrics": run_metrics(doc), "stitch_gain": gain,
            "stitch_gain_from": how, "notes": source.notes}


# -- sweeps ---------------------------------------------------------------------------------------------------------

HEADLINE_FROM_DOC = {
    "amplitude_mae": ("comparison", "amplitude", "mae"),
    "pearson_r": ("comparison", "amplitude", "pearson_r"),
    "least_squares_scalar": ("comparison", "amplitude", "scaling_analysis", "least_squares_scalar"),
    "intensity_scale_used": ("intensity_scale", "used_value"),
    "model_exp_log_scale": ("intensity_scale", "model_exp_log_scale"),
}


def gather_sweep(path):
    """A sweep folder's points, each headline value read from the point's telemetry document when it has one
    (the document is the truth) and from sweep.json's headline otherwise."""
    folder, sweep = inputs.open_sweep(path)
    branch = sweep.get("branch") if isinstance(sweep.get("branch"), str) else None
    points, notes = [], []
    for i, p in enumerate(sweep["points"]):
        if not isinstance(p, dict):
            notes.append("point %d is not an object: skipped" % i)
            continue
        nphotons = _num(p.get("nphotons"))
        label = p.get("label") if isinstance(p.get("label"), str) else "point %d" % i
        doc = None
        rel = p.get("telemetry")
        doc_path = inputs.inside(folder, rel) if isinstance(rel, str) else None
        if isinstance(rel, str) and doc_path is None:
            notes.append("%s: telemetry %r is outside the sweep folder or absent: headline used" % (label, rel))
        if doc_path is not None:
            try:
                doc = docread.parse_document(inputs.read_bytes(doc_path, inputs.MAX_DOCUMENT_BYTES), rel)
            except (inputs.FileProblem, docread.DocumentError) as exc:
                notes.append("%s: %s: headline used" % (label, exc))
        headline = _dict(p.get("headline"))
        values, origin = {}, {}
        for key, doc_path_keys in HEADLINE_FROM_DOC.items():
            v = _num(_get(doc, *doc_path_keys)) if doc is not None else None
            if v is not None:
                values[key], origin[key] = v, "telemetry"
            else:
                values[key], origin[key] = _num(headline.get(key)), "headline"
        points.append({"label": label[:80], "nphotons": nphotons,
                       "loss_fn": p.get("loss_fn") if isinstance(p.get("loss_fn"), str) else None,
                       "status": p.get("status") if p.get("status") in ("ok", "failed") else "unknown",
                       "values": values, "origin": origin, "from_telemetry": doc is not None})
    points.sort(key=lambda q: (q["loss_fn"] or "", q["nphotons"] if q["nphotons"] is not None else math.inf))
    return {"given": str(path), "branch": branch or "unknown", "points": points, "notes": notes}


# -- the whole report -----------------------------------------------------------------------------------------------

def gather(sources, sweeps=(), mode="auto"):
    """The report's data: runs (0-2 Sources), the compare report, sweeps (paths of sweep folders)."""
    runs = [gather_run(label, s) for label, s in zip(LABELS, sources)]
    if len(runs) == 2 and runs[0]["name"] == runs[1]["name"]:
        for r in runs:
            r["name"] = "%s (%s)" % (r["name"], r["label"])
    comparison = None
    if sources:
        a = sources[0]
        b = sources[1] if len(sources) > 1 else sources[0]
        try:
            comparison = compare.build_report(a.given, a.doc, b.given, b.doc, mode)
        except compare.InputError as exc:
            raise inputs.InputError(str(exc))
    return {"runs": runs, "compare": comparison, "two": len(runs) == 2,
            "sweeps": [gather_sweep(p) for p in sweeps]}


# -- reconstructions side by side ---------------------------------------------------------------------------------

def _cropped(x, y):
    """x and y cut to their common centred square (the window reduce compares prediction and truth in)."""
    size = min(x.shape + y.shape)
    (xs, xe), (ys, ye) = arrays.crop_box(x.shape, size), arrays.crop_box(y.shape, size)
    return x[xs[0]:xe[0], xs[1]:xe[1]], y[ys[0]:ye[0], ys[1]:ye[1]]


def _difference(x, y, wrap=False):
    import numpy as np
    if x is None or y is None:
        return None
    x, y = _cropped(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    d = x - y
    return np.angle(np.exp(1j * d)) if wrap else d


def _same_truth(r1, r2):
    import numpy as np
    t1, t2 = r1["arrays"]["truth_amplitude"], r2["arrays"]["truth_amplitude"]
    return t1 is not None and t2 is not None and t1.shape == t2.shape and bool(
        np.allclose(t1, t2, rtol=1e-6, atol=1e-9, equal_nan=True))


def reconstruction_columns(runs):
    """(images, differences): columns of (title, amplitude, phase, captions) for the side-by-side figures.

    Images: each run, then the ground truth (once when the runs share it, else after each run). Differences:
    each run minus its truth, and B - A. Captions are the document's metrics, never recomputed."""
    import numpy as np
    images, diffs = [], []
    if not runs:
        return images, diffs
    shared = len(runs) == 2 and _same_truth(*runs)
    for run in runs:
        arr = run["arrays"]
        metrics = dict(run["metrics"])
        if run["stitch_gain"] is not None:   # under the amplitude: the gain stitching applied (e.g. x norm_Y_I)
            metrics["amplitude"] = dict(metrics["amplitude"], stitch_gain=run["stitch_gain"])
        images.append(("%s: %s" % (run["label"], run["name"]), arr["amplitude"], arr["phase"], metrics))
        if not shared and (arr["truth_amplitude"] is not None or arr["truth_phase"] is not None):
            images.append(("ground truth of %s" % run["label"], arr["truth_amplitude"], arr["truth_phase"], None))
    if shared:
        arr = runs[0]["arrays"]
        images.append(("ground truth (same for A and B)", arr["truth_amplitude"], arr["truth_phase"], None))
    for run in runs:
        arr = run["arrays"]
        captions = {}
        for part in ("amplitude", "phase"):
            m = run["metrics"][part]
            if any(v is not None for v in m.values()):
                captions[part] = "document: MAE %s, r %s%s" % (
                    _g(m["mae"]), _g(m["pearson_r"]),
                    ", LS x%s" % _g(m["least_squares_scalar"]) if m["least_squares_scalar"] is not None else "")
        diffs.append(("%s - truth (%s)" % (run["label"], run["name"]),
                      _difference(arr["amplitude"], arr["truth_amplitude"]),
                      _difference(arr["phase"], arr["truth_phase"], wrap=True), captions))
    if len(runs) == 2:
        a, b = runs[0]["arrays"], runs[1]["arrays"]
        d_amp = _difference(b["amplitude"], a["amplitude"])
        d_ph = _difference(b["phase"], a["phase"], wrap=True)
        captions = {}
        for part, d in (("amplitude", d_amp), ("phase", d_ph)):
            if d is not None:
                f = d[np.isfinite(d)]
                if f.size:
                    captions[part] = "computed here: mean |B-A| %s, mean B-A %s" % (_g(float(np.abs(f).mean())),
                                                                                   _g(float(f.mean())))
        diffs.append(("B - A", d_amp, d_ph, captions))
    return images, diffs


def _g(v):
    return "—" if v is None else "%.4g" % v
