"""Stand-in for legacy ``ptycho.raw_data``: RawData, grouping and ``normalize_data``."""
from typing import Optional, Tuple

import numpy as np

from . import params
from . import diffsim as datasets
from . import tf_helper as hh

local_offset_sign = 1
key_coords_offsets = 'coords_start_offsets'
key_coords_relative = 'coords_start_relative'


class RawData:
    def __init__(self, xcoords, ycoords, xcoords_start, ycoords_start, diff3d, probeGuess,
                 scan_index, objectGuess=None, Y=None, norm_Y_I=None):
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
        print(f"diff3d shape: {None if diff3d is None else diff3d.shape}")
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

    @staticmethod
    def from_coords_without_pc(xcoords, ycoords, diff3d, probeGuess, scan_index, objectGuess=None):
        return RawData(xcoords, ycoords, xcoords, ycoords, diff3d, probeGuess, scan_index, objectGuess)

    @staticmethod
    def from_simulation(xcoords, ycoords, probeGuess, objectGuess, scan_index=None):
        """Simulate diffraction at the given scan positions (legacy: object phase is lost)."""
        from .diffsim import illuminate_and_diffract
        xcoords_start = xcoords
        ycoords_start = ycoords
        global_offsets, local_offsets, nn_indices = calculate_relative_coords(xcoords, ycoords)
        # float64 canvas: the complex patches lose their imaginary part (ComplexWarning)
        Y_obj = get_image_patches(objectGuess, global_offsets, local_offsets)
        Y_I = np.abs(Y_obj)
        Y_phi = np.angle(Y_obj)
        X, Y_I_xprobe, Y_phi_xprobe, intensity_scale = illuminate_and_diffract(Y_I, Y_phi, probeGuess)
        norm_Y_I = datasets.scale_nphotons(X)
        assert X.shape[-1] == 1, "gridsize must be set to one when simulating in this mode"
        return RawData(xcoords, ycoords, xcoords_start, ycoords_start, np.squeeze(X),
                       probeGuess, scan_index, objectGuess,
                       Y=np.squeeze(hh.combine_complex(Y_I_xprobe, Y_phi_xprobe)),
                       norm_Y_I=norm_Y_I)

    def __str__(self):
        return "RawData: " + ", ".join(
            f"{k}={getattr(self, k).shape if getattr(self, k) is not None else None}"
            for k in ('xcoords', 'ycoords', 'diff3d', 'probeGuess', 'scan_index', 'objectGuess'))

    def to_file(self, file_path: str) -> None:
        np.savez(file_path, xcoords=self.xcoords, ycoords=self.ycoords,
                 xcoords_start=self.xcoords_start, ycoords_start=self.ycoords_start,
                 diff3d=self.diff3d, probeGuess=self.probeGuess,
                 objectGuess=self.objectGuess, scan_index=self.scan_index)

    @staticmethod
    def from_file(train_data_file_path: str) -> 'RawData':
        """Legacy: every key (incl. *_start, objectGuess, scan_index) is required."""
        train_data = np.load(train_data_file_path)
        return RawData(
            xcoords=train_data['xcoords'],
            ycoords=train_data['ycoords'],
            xcoords_start=train_data['xcoords_start'],
            ycoords_start=train_data['ycoords_start'],
            diff3d=train_data['diff3d'],
            probeGuess=train_data['probeGuess'],
            objectGuess=train_data['objectGuess'],
            scan_index=train_data['scan_index'],
        )

    @staticmethod
    def from_files(train_data_file_path, test_data_file_path):
        return RawData.from_file(train_data_file_path), RawData.from_file(test_data_file_path)

    def generate_grouped_data(self, N, K=7, nsamples=1):
        """Group scan points into solution regions (C = gridsize**2 from cfg)."""
        print('DEBUG:', 'nsamples:', nsamples)
        return get_neighbor_diffraction_and_positions(self, N, K=K, nsamples=nsamples)

    def _check_data_validity(self, xcoords, ycoords, xcoords_start, ycoords_start, diff3d,
                             probeGuess, scan_index):
        if xcoords.shape != ycoords.shape:
            raise ValueError("xcoords and ycoords must have the same shape.")
        if diff3d is not None and diff3d.shape[0] != xcoords.shape[0]:
            raise ValueError("diff3d first dimension must match the length of xcoords.")


def calculate_relative_coords(xcoords, ycoords, K=6, C=None, nsamples=10):
    nn_indices, coords_nn = group_coords(xcoords, ycoords, K=K, C=C, nsamples=nsamples)
    coords_offsets, coords_relative = get_relative_coords(coords_nn)
    return coords_offsets, coords_relative, nn_indices


def get_image_patches(gt_image, global_offsets, local_offsets):
    """Cut (B, N, N, C) patches centred at global + local offsets (x, y) from a 2D object."""
    N = params.get('N')
    C = params.get('gridsize') ** 2
    B = global_offsets.shape[0]
    padded = np.pad(gt_image, N // 2)
    offsets = np.asarray(global_offsets) + np.asarray(local_offsets)
    canvas = np.zeros((B, N, N, C), dtype=np.float64)   # legacy bug: real canvas for complex data
    for i in range(B):
        for c in range(C):
            x, y = np.rint(offsets[i, 0, :, c]).astype(int)
            canvas[i, :, :, c] = padded[y:y + N, x:x + N]
    return canvas


def group_coords(xcoords: np.ndarray, ycoords: np.ndarray, K: int, C: Optional[int],
                 nsamples: int) -> Tuple[np.ndarray, np.ndarray]:
    gridsize = params.get('gridsize')
    if C is None:
        C = gridsize ** 2
    if C == 1:
        nn_indices = get_neighbor_self_indices(xcoords, ycoords)
    else:
        nn_indices = get_neighbor_indices(xcoords, ycoords, K=K)
        nn_indices = sample_rows(nn_indices, C, nsamples).reshape(-1, C)
    coords_nn = np.transpose(np.array([xcoords[nn_indices], ycoords[nn_indices]]), [1, 0, 2])[:, None, :, :]
    return nn_indices, coords_nn


def get_relative_coords(coords_nn):
    assert len(coords_nn.shape) == 4
    coords_offsets = np.mean(coords_nn, axis=3)[..., None]
    coords_relative = local_offset_sign * (coords_nn - coords_offsets)
    return coords_offsets, coords_relative


def get_neighbor_self_indices(xcoords, ycoords):
    n = len(xcoords)
    return np.arange(n).reshape(n, 1)


def get_neighbor_indices(xcoords, ycoords, K=3):
    """K+1 nearest neighbours (self included), brute force instead of a KD-tree."""
    pts = np.column_stack((xcoords, ycoords)).astype(np.float64)
    d2 = ((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1)
    return np.argsort(d2, axis=1, kind='stable')[:, :K + 1]


def sample_rows(indices, n, m):
    """Draw ``n`` of each row's neighbours, ``m`` times per row (unseeded global np.random)."""
    result = np.zeros((indices.shape[0], m, n), dtype=int)
    for i in range(indices.shape[0]):
        result[i] = np.array([np.random.choice(indices[i], size=n, replace=False) for _ in range(m)])
    return result


def get_neighbor_diffraction_and_positions(ptycho_data, N, K=6, C=None, nsamples=10):
    nn_indices, coords_nn = group_coords(ptycho_data.xcoords, ptycho_data.ycoords,
                                         K=K, C=C, nsamples=nsamples)
    diff4d_nn = np.transpose(ptycho_data.diff3d[nn_indices], [0, 2, 3, 1])
    Y4d_nn = None if ptycho_data.Y is None else np.transpose(ptycho_data.Y[nn_indices], [0, 2, 3, 1])
    coords_offsets, coords_relative = get_relative_coords(coords_nn)
    if ptycho_data.xcoords_start is not None:
        coords_start_nn = np.transpose(np.array([ptycho_data.xcoords_start[nn_indices],
                                                 ptycho_data.ycoords_start[nn_indices]]), [1, 0, 2])[:, None, :, :]
        coords_start_offsets, coords_start_relative = get_relative_coords(coords_start_nn)
    else:
        coords_start_nn = coords_start_offsets = coords_start_relative = None
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
        'objectGuess': ptycho_data.objectGuess,
    }
    X_full = normalize_data(dset, N)   # module-global lookup (the one call site that is live)
    dset['X_full'] = X_full
    print('neighbor-sampled diffraction shape', X_full.shape)
    return dset


def normalize_data(dset: dict, N: int) -> np.ndarray:
    """X_full = diffraction * sqrt((N/2)^2 / mean(sum over pixels of diffraction^2)); keeps dtype."""
    X_full = dset['diffraction']
    X_full_norm = float(np.sqrt(((N / 2) ** 2) / np.mean(np.sum(X_full ** 2, axis=(1, 2)))))
    return X_full_norm * X_full
