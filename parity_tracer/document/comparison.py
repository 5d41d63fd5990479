"""§2.10 comparison: the stitched prediction against the ground truth over the centred common window."""

import math

from parity_tracer.profiles.ptychopinn import stagemap
from parity_tracer.document import arrays, fields


def _median(d):
    """np.median of a non-empty finite 1-D array, computed as np.median does (partition, then the middle
    element or the mean of the two middle ones: the same number), without np.median's NaN check, which
    imports numpy.ma (~0.1 s) inside the traced program's exit."""
    import numpy as np
    n = d.size
    k = n // 2
    if n % 2:
        return float(np.partition(d, k)[k])
    return float(np.mean(np.partition(d, [k - 1, k])[k - 1:k + 1]))


def _metrics(truth, pred):
    """Error metrics of truth vs prediction over pixels finite in both (d = truth - pred)."""
    import numpy as np
    t = np.asarray(truth, dtype=np.float64).ravel()
    p = np.asarray(pred, dtype=np.float64).ravel()
    ok = np.isfinite(t) & np.isfinite(p)
    t, p = t[ok], p[ok]
    if t.size == 0:
        return _null_metrics()
    d = t - p
    dt, dp = t - t.mean(), p - p.mean()
    denom = math.sqrt(float(np.dot(dt, dt)) * float(np.dot(dp, dp)))
    pp = float(np.dot(p, p))
    scalar = float(np.dot(t, p)) / pp if pp > 0 else None
    return {
        "mae": float(np.mean(np.abs(d))),
        "rmse": float(np.sqrt(np.mean(d * d))),
        "max_abs": float(np.max(np.abs(d))),
        "pearson_r": float(np.dot(dt, dp)) / denom if denom > 0 else None,
        "bias_summary": {"mean": float(np.mean(d)), "median": _median(d),
                         "p05": float(np.percentile(d, 5)), "p95": float(np.percentile(d, 95))},
        "scaling_analysis": {
            "truth_to_pred_ratio_mean": fields.ratio(float(t.mean()), float(p.mean())),
            "least_squares_scalar": scalar,
            "rescaled_mae": float(np.mean(np.abs(t - scalar * p))) if scalar is not None else None},
        "pixel_count": int(t.size),
    }


def _null_metrics():
    return {"mae": None, "rmse": None, "max_abs": None, "pearson_r": None,
            "bias_summary": {"mean": None, "median": None, "p05": None, "p95": None},
            "scaling_analysis": {"truth_to_pred_ratio_mean": None, "least_squares_scalar": None,
                                 "rescaled_mae": None},
            "pixel_count": 0}


def comparison(run, predicted, paths, dataset_type):
    truth_amp, truth_phase = arrays.amp_phase(run, paths, "ground_truth_amp_npy", "ground_truth_phase_npy")
    block = {"ground_truth_source": "none",
             "crop_metadata": {"target_size": None, "start": None, "end": None},
             "amplitude": _null_metrics(), "phase": _null_metrics(),
             "ground_truth_amplitude_mean": None,
             "ground_truth_artifacts": {"amplitude_npy": run.doc_path(paths.get("ground_truth_amp_npy")),
                                        "phase_npy": run.doc_path(paths.get("ground_truth_phase_npy"))}}
    if truth_amp is None and truth_phase is None:
        return block
    block["ground_truth_source"] = stagemap.GROUND_TRUTH_SOURCE_BY_DATASET.get(
        dataset_type, stagemap.DEFAULT_GROUND_TRUTH_SOURCE)
    if truth_amp is not None:
        f = arrays.finite(truth_amp)
        block["ground_truth_amplitude_mean"] = float(f.mean()) if f.size else None
    crop_done = False
    for part, truth, pred in (("amplitude", truth_amp, predicted[0]), ("phase", truth_phase, predicted[1])):
        if truth is None or pred is None:
            continue
        size = min(truth.shape[0], truth.shape[1], pred.shape[0], pred.shape[1])
        p_start, p_end = arrays.crop_box(pred.shape, size)
        t_start, t_end = arrays.crop_box(truth.shape, size)
        block[part] = _metrics(truth[t_start[0]:t_end[0], t_start[1]:t_end[1]],
                               pred[p_start[0]:p_end[0], p_start[1]:p_end[1]])
        if not crop_done:   # start/end are the prediction's window; the truth's window is an extra
            block["crop_metadata"] = {"target_size": int(size), "start": p_start, "end": p_end,
                                      "truth_start": t_start, "truth_end": t_end,
                                      "prediction_shape": list(pred.shape), "truth_shape": list(truth.shape)}
            crop_done = True
    if not crop_done:
        run.note("ground truth present but no stitched prediction array to compare with")
    return block


