"""Stand-in for legacy ``ptycho.loader``: PtychoDataContainer and the NPZ-path ``load``."""
from typing import Callable

import numpy as np

from .params import params, get
from . import diffsim as datasets
from . import tf_helper as hh
from .raw_data import RawData, key_coords_offsets, key_coords_relative  # noqa: F401 (re-export)


class PtychoDataset:
    def __init__(self, train_data, test_data):
        self.train_data = train_data
        self.test_data = test_data


class PtychoDataContainer:
    """Plain attribute container (legacy stores its arguments as given)."""

    def __init__(self, X, Y_I, Y_phi, norm_Y_I, YY_full, coords_nominal, coords_true, nn_indices,
                 global_offsets, local_offsets, probeGuess):
        self.X = X
        self.Y_I = Y_I
        self.Y_phi = Y_phi
        self.norm_Y_I = norm_Y_I
        self.YY_full = YY_full
        self.coords_nominal = coords_nominal
        self.coords = coords_nominal
        self.coords_true = coords_true
        self.nn_indices = nn_indices
        self.global_offsets = global_offsets
        self.local_offsets = local_offsets
        self.probe = probeGuess
        self.Y = hh.combine_complex(Y_I, Y_phi)

    def __repr__(self):
        parts = ['<PtychoDataContainer']
        for name in ['X', 'Y_I', 'Y_phi', 'norm_Y_I', 'YY_full', 'coords_nominal', 'coords_true',
                     'nn_indices', 'global_offsets', 'local_offsets', 'probe']:
            attr = getattr(self, name)
            if attr is not None:
                parts.append(f'{name}={np.shape(attr)}')
        return ' '.join(parts) + '>'

    @staticmethod
    def from_raw_data_without_pc(xcoords, ycoords, diff3d, probeGuess, scan_index, objectGuess=None,
                                 N=None, K=7, nsamples=1):
        train_raw = RawData.from_coords_without_pc(xcoords, ycoords, diff3d, probeGuess, scan_index, objectGuess)
        N = N if N is not None else get('N')
        dset = train_raw.generate_grouped_data(N, K=K, nsamples=nsamples)
        return load(lambda: dset, probeGuess, which=None, create_split=False)


def load(cb: Callable, probeGuess, which: str, create_split: bool) -> PtychoDataContainer:
    """First of the two legacy definitions; shadowed by the second one below."""
    raise NotImplementedError("shadowed definition")


def split_data(X_full, coords_nominal, coords_true, train_frac, which):
    if which == 'train':
        return (split_tensor(X_full, train_frac, 'train'), split_tensor(coords_nominal, train_frac, 'train'),
                split_tensor(coords_true, train_frac, 'train'))
    elif which == 'test':
        return (split_tensor(X_full, train_frac, 'test'), split_tensor(coords_nominal, train_frac, 'test'),
                split_tensor(coords_true, train_frac, 'test'))
    raise ValueError("Invalid split type specified: must be 'train' or 'test'.")


def split_tensor(tensor, frac, which='test'):
    n_train = int(frac * tensor.shape[0])
    return tensor[:n_train] if which == 'train' else tensor[n_train:]


def load(cb: Callable, probeGuess, which: str, create_split: bool) -> PtychoDataContainer:  # noqa: F811
    """Build a container from the dict returned by ``cb()`` (``generate_grouped_data`` output)."""
    if create_split:
        dset, train_frac = cb()
    else:
        dset = cb()
    X_full = dset['X_full']
    global_offsets = dset[key_coords_offsets]
    coords_nominal = dset[key_coords_relative]
    coords_true = dset[key_coords_relative]
    if create_split:
        global_offsets = split_tensor(global_offsets, train_frac, which)
        X, coords_nominal, coords_true = split_data(X_full, coords_nominal, coords_true, train_frac, which)
    else:
        X = X_full
    norm_Y_I = datasets.scale_nphotons(X)
    if dset['Y'] is None:
        Y = np.ones_like(X)
        print("loader: setting dummy Y ground truth")
    else:
        Y = dset['Y']   # legacy does not apply the split to Y
        print("loader: using provided ground truth patches")
    Y_I = np.abs(Y).astype(np.float32)
    Y_phi = np.angle(Y).astype(np.float32)
    YY_full = None
    # nn_indices / global / local offsets are passed unsplit, as in the real code
    container = PtychoDataContainer(X, Y_I, Y_phi, norm_Y_I, YY_full, coords_nominal, coords_true,
                                    dset['nn_indices'], dset['coords_offsets'], dset['coords_relative'],
                                    probeGuess)
    print('INFO:', which)
    print(container)
    return container


def normalize_data(dset: dict, N: int) -> np.ndarray:
    """Dead twin of ``raw_data.normalize_data`` (never called by the pipeline)."""
    X_full = dset['diffraction']
    X_full_norm = float(np.sqrt(((N / 2) ** 2) / np.mean(np.sum(X_full ** 2, axis=(1, 2)))))
    return X_full_norm * X_full
