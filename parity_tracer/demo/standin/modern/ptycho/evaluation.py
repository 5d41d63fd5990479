"""Stand-in for ``ptycho.evaluation`` (simple amplitude/phase error metrics; no FRC)."""
import numpy as np


def _crop_pair(a, b):
    a = np.squeeze(np.asarray(a))
    b = np.squeeze(np.asarray(b))
    if a.ndim > 2:
        a = a[0]
    if b.ndim > 2:
        b = b[0]
    h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    return a[:h, :w], b[:h, :w]


def eval_reconstruction(stitched_obj, ground_truth_obj, label=''):
    recon, gt = _crop_pair(stitched_obj, ground_truth_obj)
    amp_r, amp_g = np.abs(recon), np.abs(gt)
    ph_r, ph_g = np.angle(recon), np.angle(gt)
    return {
        'mae': (float(np.mean(np.abs(amp_r - amp_g))), float(np.mean(np.abs(ph_r - ph_g)))),
        'mse': (float(np.mean((amp_r - amp_g) ** 2)), float(np.mean((ph_r - ph_g) ** 2))),
    }


def save_metrics(stitched_obj, YY_ground_truth, label=''):
    return eval_reconstruction(stitched_obj, YY_ground_truth, label=label)
