"""Stand-in for legacy ``ptycho.model_manager`` (saves the cfg intensity_scale)."""
import os

import numpy as np

from . import params


def _weights_file(model_dir):
    return os.path.join(model_dir, 'weights.npz')


def save(out_prefix):
    from . import model
    for name in ('autoencoder', 'diffraction_to_obj'):
        model_dir = os.path.join(out_prefix, f"{params.get('h5_path')}_{name}")
        os.makedirs(model_dir, exist_ok=True)
        np.savez(_weights_file(model_dir), kernel=model.autoencoder.kernel.numpy(),
                 intensity_scale=np.float64(params.get('intensity_scale')),
                 N=params.get('N'), gridsize=params.get('gridsize'))


def load_model(model_path):
    from . import model
    with np.load(_weights_file(model_path)) as d:
        m = model._Model('autoencoder', params.get('probe'), float(d['intensity_scale']),
                         int(d['N']), int(d['gridsize']))
        m.kernel.assign(d['kernel'])
        params.cfg['intensity_scale'] = float(d['intensity_scale'])
    return m
