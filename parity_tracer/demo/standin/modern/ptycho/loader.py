"""Stand-in for modern ``ptycho.loader``: lazy PtychoDataContainer and the NPZ-path ``load``.

The container stores numpy privately and converts on first property access ("to tf"); every
such conversion increments the module counter ``_lazy_conversions``.
"""
from typing import Callable

import numpy as np

from .params import params, get
from . import diffsim as datasets
from . import tf_helper as hh
from .raw_data import RawData, key_coords_offsets, key_coords_relative  # noqa: F401 (re-export)

_lazy_conversions = globals().get('_lazy_conversions', 0)


def _to_tensor(value, dtype):
    """Stand-in for ``tf.convert_to_tensor`` (a fresh array) + the counter."""
    global _lazy_conversions
    _lazy_conversions += 1
    return np.array(value, dtype=dtype)


class PtychoDataset:
    def __init__(self, train_data, test_data):
        self.train_data = train_data
        self.test_data = test_data


class PtychoDataContainer:
    """Numpy stored privately; ``X``, ``Y_I``, ``Y_phi``, ``Y``, ``coords_nominal``, ``coords``,
    ``coords_true`` and ``probe`` are lazy, cached properties."""

    def __init__(self, X, Y_I, Y_phi, norm_Y_I, YY_full, coords_nominal, coords_true, nn_indices,
                 global_offsets, local_offsets, probeGuess):
        self._X_np = np.asarray(X)
        self._Y_I_np = np.asarray(Y_I)
        self._Y_phi_np = np.asarray(Y_phi)
        self._coords_nominal_np = np.asarray(coords_nominal)
        self._coords_true_np = np.asarray(coords_true)
        self._probe_np = None if probeGuess is None else np.asarray(probeGuess)
        self._tensor_cache = {}
        self.norm_Y_I = norm_Y_I
        self.YY_full = YY_full
        self.nn_indices = nn_indices
        self.global_offsets = global_offsets
        self.local_offsets = local_offsets

    def _lazy(self, key, np_value, dtype):
        if key not in self._tensor_cache:
            self._tensor_cache[key] = _to_tensor(np_value, dtype)
        return self._tensor_cache[key]

    @property
    def X(self):
        return self._lazy('X', self._X_np, np.float32)

    @property
    def Y_I(self):
        return self._lazy('Y_I', self._Y_I_np, np.float32)

    @property
    def Y_phi(self):
        return self._lazy('Y_phi', self._Y_phi_np, np.float32)

    @property
    def Y(self):
        if 'Y' not in self._tensor_cache:
            self._tensor_cache['Y'] = hh.combine_complex(self.Y_I, self.Y_phi)
        return self._tensor_cache['Y']

    @property
    def coords_nominal(self):
        return self._lazy('coords_nominal', self._coords_nominal_np, np.float32)

    @property
    def coords(self):
        return self.coords_nominal

    @property
    def coords_true(self):
        return self._lazy('coords_true', self._coords_true_np, np.float32)

    @property
    def probe(self):
        return self._lazy('probe', self._probe_np, np.complex64)

    def __repr__(self):
        parts = ['<PtychoDataContainer']
        for name, np_name in [('X', '_X_np'), ('Y_I', '_Y_I_np'), ('Y_phi', '_Y_phi_np'),
                              ('coords_nominal', '_coords_nominal_np'), ('coords_true', '_coords_true_np'),
                              ('probe', '_probe_np')]:
            attr = getattr(self, np_name, None)
            if attr is not None:
                parts.append(f'{name}={attr.shape}')
        return ' '.join(parts) + '>'

    def __len__(self):
        return len(self._X_np)

    def as_tf_dataset(self, batch_size: int, shuffle: bool = True):
        """Stand-in for the tf.data pipeline: a list of ((X, coords), outputs) batches."""
        from . import params as p
        s = p.get('intensity_scale')
        idx = np.random.permutation(len(self)) if shuffle else np.arange(len(self))
        batches = []
        for start in range(0, len(self), batch_size):
            b = idx[start:start + batch_size]
            X = self._X_np[b].astype(np.float32)
            coords = self._coords_nominal_np[b].astype(np.float32)
            Y_I = hh.center_channels(self._Y_I_np[b], coords)[..., :1]
            batches.append(((X * s, coords), (Y_I, s * X, (s * X) ** 2)))
        return batches

    @staticmethod
    def from_raw_data_without_pc(xcoords, ycoords, diff3d, probeGuess, scan_index, objectGuess=None,
                                 N=None, K=7, nsamples=1):
        train_raw = RawData.from_coords_without_pc(xcoords, ycoords, diff3d, probeGuess, scan_index, objectGuess)
        N = N if N is not None else get('N')
        dset = train_raw.generate_grouped_data(N, K=K, nsamples=nsamples)
        return load(lambda: dset, probeGuess, which=None, create_split=False)


def split_data(X_full, coords_nominal, coords_true, train_frac, which):
    if which not in ('train', 'test'):
        raise ValueError("Invalid split type specified: must be 'train' or 'test'.")
    return (split_tensor(X_full, train_frac, which), split_tensor(coords_nominal, train_frac, which),
            split_tensor(coords_true, train_frac, which))


def split_tensor(tensor, frac, which='test'):
    n_train = int(frac * tensor.shape[0])
    return tensor[:n_train] if which == 'train' else tensor[n_train:]


def load(cb: Callable, probeGuess, which: str, create_split: bool) -> PtychoDataContainer:
    """Build a lazy container from the dict returned by ``cb()`` (float32 numpy inside)."""
    train_frac = None
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
        X_full_split, coords_nominal, coords_true = split_data(X_full, coords_nominal, coords_true, train_frac, which)
    else:
        X_full_split = X_full
    X = np.asarray(X_full_split).astype(np.float32)
    coords_nominal = np.asarray(coords_nominal).astype(np.float32)
    coords_true = np.asarray(coords_true).astype(np.float32)
    if dset['Y'] is None:
        Y_I = np.ones(X.shape, dtype=np.float32)
        Y_phi = np.zeros(X.shape, dtype=np.float32)
        print("loader: setting dummy Y ground truth with correct channel shape.")
    else:
        Y_split = dset['Y']
        if create_split:
            Y_split = split_tensor(Y_split, train_frac, which)
        Y_I = np.abs(Y_split).astype(np.float32)
        Y_phi = np.angle(Y_split).astype(np.float32)
        print("loader: using provided ground truth patches.")
    if X.shape[-1] != Y_I.shape[-1]:
        raise ValueError(f"Channel mismatch between X ({X.shape[-1]}) and Y ({Y_I.shape[-1]})")
    norm_Y_I = datasets.scale_nphotons(X)
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
    X_full_norm = float(np.sqrt(((N / 2) ** 2) / np.mean(np.sum(np.asarray(X_full, np.float64) ** 2, axis=(1, 2)))))
    return X_full_norm * X_full
