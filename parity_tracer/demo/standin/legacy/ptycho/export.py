"""Stand-in for legacy ``ptycho.export``: writes ``recon.dill`` (a pickle) and returns metrics."""
import pickle

import numpy as np

from .params import get


def save_recons(model_type, stitched_obj):
    from .generate_data import YY_ground_truth
    from .evaluation import save_metrics
    out_prefix = get('output_prefix')
    with open(out_prefix + '/recon.dill', 'wb') as f:
        dump_data = {
            'stitched_obj_amp': np.absolute(stitched_obj[0][:, :, 0]) if stitched_obj is not None else np.array([]),
            'stitched_obj_phase': np.angle(stitched_obj[0][:, :, 0]) if stitched_obj is not None else np.array([]),
        }
        if YY_ground_truth is not None:
            dump_data.update({'YY_ground_truth_amp': np.absolute(YY_ground_truth[:, :, 0]),
                              'YY_ground_truth_phi': np.angle(YY_ground_truth[:, :, 0])})
        pickle.dump(dump_data, f)
    if YY_ground_truth is not None and stitched_obj is not None:
        return save_metrics(stitched_obj, YY_ground_truth, label=get('label'))
    return {'error': 'YY_ground_truth or stitched_obj is None, metrics cannot be calculated.'}
