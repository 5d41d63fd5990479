"""Stand-in for modern ``ptycho.raw_data``: RawData, sample-then-group, ``normalize_data``."""
import json
import logging
from typing import Optional

import numpy as np

from . import params
from . import diffsim as datasets
from . import tf_helper as hh

local_offset_sign = -1
key_coords_offsets = 'coords_start_offsets'
key_coords_relative = 'coords_start_relative'


class RawData:
    def __init__(self, xcoords, ycoords, xcoords_start, ycoords_start, diff3d, probeGuess,
                 scan_index, objectGuess=None, Y=None, norm_Y_I=None, metadata=None):
        self._check_data_validity(xcoords, ycoords, xcoords_start, ycoords_start, diff3d,
                                  probeGuess, scan_index)
        assert len(xcoords.shape) == 1, f"Expected xcoords to be 1D, got shape {xcoords.shape}"
        assert len(ycoords.shape) == 1, f"Expected ycoords to be 1D, got shape {ycoords.shape}"
        if diff3d is not None:
            assert len(diff3d.shape) == 3, f"Expected diff3d to be 3D, got shape {diff3d.shape}"
            assert diff3d.shape[1] == diff3d.shape[2]
        if probeGuess is not None:
            assert len(probeGuess.shape) == 2, f"Expected probeGuess to be 2D, got shape {probeGuess.shape}"
        if objectGuess is not None:
            assert len(objectGuess.shape) == 2
        self.xcoords = xcoords
        self.ycoords = ycoords
        self.xcoords_start = xcoords_start
        self.ycoords_start = ycoords_start
        self.diff3d = diff3d
        self.probeGuess = probeGuess
        self.scan_index = scan_index
        self.objectGuess = objectGuess
        self.Y = Y
        self.norm_Y_I = norm_Y_I
        self.metadata = metadata
        self.sample_indices = None

    @staticmethod
    def from_coords_without_pc(xcoords, ycoords, diff3d, probeGuess, scan_index, objectGuess=None):
        return RawData(xcoords, ycoords, xcoords, ycoords, diff3d, probeGuess, scan_index, objectGuess)

    @staticmethod
    def from_simulation(xcoords, ycoords, probeGuess, objectGuess, scan_index=None):
        """Simulate diffraction at the given scan positions (gridsize 1 only on main)."""
        from .diffsim import illuminate_and_diffract, scale_nphotons
        xcoords_start = xcoords
        ycoords_start = ycoords
        gridsize = params.get('gridsize')
        if gridsize is None:
            gridsize = 1
        if gridsize != 1:
            raise NotImplementedError(
                "from_simulation currently only supports gridsize=1. "
                "For gridsize>1, use the modern generate_grouped_data workflow instead.")
        n_images = len(xcoords)
        coords_nn = np.zeros((n_images, 1, 2, 1))
        coords_nn[:, 0, 0, 0] = xcoords
        coords_nn[:, 0, 1, 0] = ycoords
        global_offsets, local_offsets = get_relative_coords(coords_nn)
        Y_obj = get_image_patches(objectGuess, global_offsets, local_offsets)
        Y_I = np.abs(Y_obj)
        Y_phi = np.angle(Y_obj)
        X, Y_I_xprobe, Y_phi_xprobe, intensity_scale = illuminate_and_diffract(Y_I, Y_phi, probeGuess)
        norm_Y_I = scale_nphotons(X)
        assert X.shape[-1] == 1, "gridsize must be set to one when simulating in this mode"
        # main stores the *un-illuminated* object patches as Y
        return RawData(xcoords, ycoords, xcoords_start, ycoords_start, np.squeeze(X),
                       probeGuess, scan_index, objectGuess, Y=Y_obj, norm_Y_I=norm_Y_I)

    def __str__(self):
        return "RawData: " + ", ".join(
            f"{k}={getattr(self, k).shape if getattr(self, k) is not None else None}"
            for k in ('xcoords', 'ycoords', 'diff3d', 'probeGuess', 'scan_index', 'objectGuess'))

    def to_file(self, file_path: str) -> None:
        arrays = dict(xcoords=self.xcoords, ycoords=self.ycoords, xcoords_start=self.xcoords_start,
                      ycoords_start=self.ycoords_start, diff3d=self.diff3d, probeGuess=self.probeGuess)
        if self.objectGuess is not None:
            arrays['objectGuess'] = self.objectGuess
        if self.scan_index is not None:
            arrays['scan_index'] = self.scan_index
        if self.metadata is not None:
            arrays['_metadata'] = np.array(json.dumps(self.metadata, default=str))
        np.savez(file_path, **arrays)

    @staticmethod
    def from_file(train_data_file_path: str, validate_config: bool = False, current_config=None) -> 'RawData':
        """Main: *_start, scan_index and objectGuess are optional; sets ``.metadata``."""
        with np.load(train_data_file_path) as data:
            data_dict = {k: data[k] for k in data.files}
        metadata = json.loads(str(data_dict.pop('_metadata'))) if '_metadata' in data_dict else None
        if validate_config and metadata and current_config:
            for key, value in metadata.items():
                if key in current_config and current_config[key] != value:
                    logging.warning(f"Parameter mismatch: {key}: file={value} current={current_config[key]}")
        return RawData(
            xcoords=data_dict['xcoords'],
            ycoords=data_dict['ycoords'],
            xcoords_start=data_dict.get('xcoords_start', data_dict['xcoords']),
            ycoords_start=data_dict.get('ycoords_start', data_dict['ycoords']),
            diff3d=data_dict['diff3d'],
            probeGuess=data_dict['probeGuess'],
            objectGuess=data_dict.get('objectGuess'),
            scan_index=data_dict.get('scan_index', np.zeros(len(data_dict['xcoords']), dtype=int)),
            metadata=metadata,
        )

    @staticmethod
    def from_files(train_data_file_path, test_data_file_path):
        return RawData.from_file(train_data_file_path), RawData.from_file(test_data_file_path)

    def generate_grouped_data(self, N, K=4, nsamples=1, dataset_path: Optional[str] = None,
                              seed: Optional[int] = None, sequential_sampling: bool = False,
                              gridsize: Optional[int] = None, enable_oversampling: bool = False,
                              neighbor_pool_size: Optional[int] = None):
        """Sample ``nsamples`` seed points, then group each with its neighbours (C = gridsize**2)."""
        if gridsize is None:
            gridsize = params.get('gridsize', 1)
        C = gridsize ** 2
        n_points = len(self.xcoords)
        effective_K = neighbor_pool_size if neighbor_pool_size is not None else K
        needs_oversampling = (nsamples > n_points) and (C > 1)
        if needs_oversampling:
            if not enable_oversampling:
                raise ValueError(
                    f"Requesting {nsamples} groups but only {n_points} points available (gridsize={gridsize}, "
                    f"C={C}). K choose C oversampling is required but not enabled.")
            if effective_K < C:
                raise ValueError(f"K choose C oversampling requires neighbor_pool_size >= C ({C}).")
        seed_indices = np.arange(min(nsamples, n_points)) if sequential_sampling else None
        print('DEBUG:', f'nsamples: {nsamples}, gridsize: {gridsize}')
        if needs_oversampling:
            selected_groups = self._generate_groups_with_oversampling(nsamples, effective_K, C, seed, seed_indices)
        else:
            selected_groups = self._generate_groups_efficiently(nsamples, K, C, seed, seed_indices)
        return self._generate_dataset_from_groups(selected_groups, N, K, gridsize)

    def _generate_dataset_from_groups(self, selected_groups, N, K, gridsize):
        nn_indices = selected_groups
        diff4d_nn = np.transpose(self.diff3d[nn_indices], [0, 2, 3, 1])
        coords_nn = np.transpose(np.array([self.xcoords[nn_indices], self.ycoords[nn_indices]]),
                                 [1, 0, 2])[:, None, :, :]
        coords_offsets, coords_relative = get_relative_coords(coords_nn)
        if self.Y is not None:
            Y_indexed = self.Y[nn_indices]
            if Y_indexed.ndim == 5:
                Y4d_nn = np.transpose(Y_indexed, [0, 2, 3, 1, 4])[:, :, :, :, 0]
            else:
                Y4d_nn = np.transpose(Y_indexed, [0, 2, 3, 1])
        elif self.objectGuess is not None:
            Y4d_nn = get_image_patches(self.objectGuess, coords_offsets, coords_relative, N=N, gridsize=gridsize)
        else:
            Y4d_nn = None
        if self.xcoords_start is not None:
            coords_start_nn = np.transpose(np.array([self.xcoords_start[nn_indices], self.ycoords_start[nn_indices]]),
                                           [1, 0, 2])[:, None, :, :]
            coords_start_offsets, coords_start_relative = get_relative_coords(coords_start_nn)
        else:
            coords_start_offsets = coords_start_relative = coords_start_nn = None
        dset = {
            'diffraction': diff4d_nn,
            'Y': Y4d_nn,
            'coords_offsets': coords_offsets,
            'coords_relative': coords_relative,
            'coords_start_offsets': coords_start_offsets,
            'coords_start_relative': coords_start_relative,
            'coords_nn': coords_nn,
            'coords_start_nn': coords_start_nn,
            'nn_indices': nn_indices,
            'objectGuess': self.objectGuess,
        }
        if getattr(self, 'sample_indices', None) is not None:
            dset['sample_indices'] = np.array(self.sample_indices)
        X_full = normalize_data(dset, N)   # module-global lookup (the one call site that is live)
        dset['X_full'] = X_full
        print('neighbor-sampled diffraction shape', X_full.shape)
        return dset

    def _generate_groups_efficiently(self, nsamples, K, C, seed=None, seed_indices=None):
        rng = np.random.default_rng(seed)
        n_points = len(self.xcoords)
        if seed_indices is None:
            seed_indices = rng.choice(n_points, size=min(nsamples, n_points), replace=False)
        self.sample_indices = seed_indices
        if C == 1:
            return np.asarray(seed_indices).reshape(-1, 1)
        nn = get_neighbor_indices(self.xcoords, self.ycoords, K=K)
        return np.array([np.sort(rng.choice(nn[s], size=C, replace=False)) for s in seed_indices])

    def _generate_groups_with_oversampling(self, nsamples, K, C, seed=None, seed_indices=None):
        rng = np.random.default_rng(seed)
        n_points = len(self.xcoords)
        nn = get_neighbor_indices(self.xcoords, self.ycoords, K=K)
        seeds = rng.integers(0, n_points, size=nsamples)
        self.sample_indices = seeds
        return np.array([np.sort(rng.choice(nn[s], size=C, replace=False)) for s in seeds])

    def _check_data_validity(self, xcoords, ycoords, xcoords_start, ycoords_start, diff3d,
                             probeGuess, scan_index):
        if xcoords.shape != ycoords.shape:
            raise ValueError("xcoords and ycoords must have the same shape.")
        if diff3d is not None and diff3d.shape[0] != xcoords.shape[0]:
            raise ValueError("diff3d first dimension must match the length of xcoords.")


def get_image_patches(gt_image, global_offsets, local_offsets, N=None, gridsize=None):
    """Cut (B, N, N, C) complex64 patches centred at global + local offsets (x, y)."""
    N = N if N is not None else params.get('N')
    gridsize = gridsize if gridsize is not None else params.get('gridsize')
    C = gridsize ** 2
    B = global_offsets.shape[0]
    padded = np.pad(gt_image, N // 2)
    offsets = np.asarray(global_offsets) + np.asarray(local_offsets)
    canvas = np.zeros((B, N, N, C), dtype=np.complex64)
    for i in range(B):
        for c in range(C):
            x, y = np.rint(offsets[i, 0, :, c]).astype(int)
            canvas[i, :, :, c] = padded[y:y + N, x:x + N]
    return canvas


def get_relative_coords(coords_nn):
    assert len(coords_nn.shape) == 4
    coords_offsets = np.mean(coords_nn, axis=3)[..., None]
    coords_relative = local_offset_sign * (coords_nn - coords_offsets)
    return coords_offsets, coords_relative


def get_neighbor_indices(xcoords, ycoords, K=3):
    """K+1 nearest neighbours (self included), brute force instead of a KD-tree."""
    pts = np.column_stack((xcoords, ycoords)).astype(np.float64)
    d2 = ((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1)
    return np.argsort(d2, axis=1, kind='stable')[:, :K + 1]


# Demo switch (``python -m parity_tracer demo`` only; not in PtychoPINN): when params.cfg holds this key, its value
# multiplies the normalization factor below -- a deliberate normalization difference that enters at the
# grouped_X_full stage. Absent (the default), normalize_data is exactly the formula in its docstring.
DEMO_NORMALIZE_GAIN_KEY = 'demo.normalize_gain'


def normalize_data(dset: dict, N: int) -> np.ndarray:
    """X_full = diffraction * sqrt((N/2)^2 / mean(sum diffraction^2)); float64 math, float32 out."""
    X_full = np.asarray(dset['diffraction'], dtype=np.float64)
    X_full_norm = np.sqrt(((N / 2) ** 2) / np.mean(np.sum(X_full ** 2, axis=(1, 2))))
    if DEMO_NORMALIZE_GAIN_KEY in params.cfg:
        X_full_norm = X_full_norm * float(params.cfg[DEMO_NORMALIZE_GAIN_KEY])
    return (X_full_norm * X_full).astype(np.float32)
