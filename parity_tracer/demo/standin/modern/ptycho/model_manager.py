"""Stand-in for modern ``ptycho.model_manager``: ``wts.h5.zip`` with exp(log_scale) saved."""
import io
import os
import zipfile

import numpy as np

from . import params


def save(out_prefix):
    """Save the module singletons (``model.autoencoder`` -- triggers a build if never assigned)."""
    from . import model
    ae = model.autoencoder
    intensity_scale = float(np.exp(model._get_log_scale().numpy()))   # INTENSITY-SCALE-SAVE-001
    buf = io.BytesIO()
    np.savez(buf, kernel=ae.kernel.numpy(), intensity_scale=intensity_scale,
             N=params.get('N'), gridsize=params.get('gridsize'))
    path = os.path.join(out_prefix, 'wts.h5.zip')
    os.makedirs(os.path.dirname(path), exist_ok=True)     # as main's save_multiple_models does
    with zipfile.ZipFile(path, 'w') as zf:
        zf.writestr('autoencoder/weights.npz', buf.getvalue())
        zf.writestr('diffraction_to_obj/weights.npz', buf.getvalue())
    return path


def load_model(model_dir):
    from . import model
    path = model_dir if model_dir.endswith('.zip') else os.path.join(model_dir, 'wts.h5.zip')
    with zipfile.ZipFile(path) as zf:
        d = np.load(io.BytesIO(zf.read('autoencoder/weights.npz')))
    params.cfg['intensity_scale'] = float(d['intensity_scale'])
    ae, _ = model.create_model_with_gridsize(int(d['gridsize']), int(d['N']))
    ae.kernel.assign(d['kernel'])
    return ae
