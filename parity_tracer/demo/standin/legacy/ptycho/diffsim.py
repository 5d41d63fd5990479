"""Stand-in for ``ptycho.diffsim``: grid "lines" simulation (numpy only).

``mk_simdata`` is wrapped by ``misc.memoize_disk_and_memory`` when this module is imported,
which creates ``memoized_data/`` in the CWD. ``_calls`` counts how often the bodies below
actually ran (they do not run on a cache hit).
"""
import math

import numpy as np

from . import params as p
from . import tf_helper as hh
from .misc import memoize_disk_and_memory

N = 64

_calls = globals().get('_calls') or {
    'mk_simdata': 0, 'sim_object_image': 0, 'scan_and_normalize': 0, 'illuminate_and_diffract': 0}


def observe_amplitude(amplitude):
    """Sample photons from |amplitude|^2 (Poisson) and return sqrt(counts)."""
    lam = np.asarray(amplitude, dtype=np.float64) ** 2
    return np.sqrt(hh.random_generator().poisson(lam)).astype(np.float32)


def count_photons(obj):
    return np.sum(np.asarray(obj, dtype=np.float64) ** 2, axis=(1, 2))


def scale_nphotons(padded_obj):
    """Amplitude factor that gives ``nphotons`` expected photons per pattern (dataset mean)."""
    mean_photons = np.mean(count_photons(padded_obj))
    return np.float32(np.sqrt(p.get('nphotons') / mean_photons))


def diffract_obj(sample, draw_poisson=True):
    amplitude = hh.fft2_amplitude(sample)
    if draw_poisson:
        return observe_amplitude(amplitude)
    return amplitude.astype(np.float32)


def illuminate_and_diffract(Y_I, Y_phi, probe, intensity_scale=None):
    """Illuminate flat (B*C, N, N, 1) patches with the probe and diffract.

    Returns ``(X, Y_I, Y_phi, intensity_scale)`` in channel format (B, N, N, C); X and Y_I are
    divided by ``intensity_scale`` (computed by ``scale_nphotons`` when not given).
    """
    _calls['illuminate_and_diffract'] += 1
    probe = np.asarray(probe)
    if len(probe.shape) == 2:
        assert probe.shape[0] == probe.shape[1]
        probe = probe[..., None]
    elif len(probe.shape) == 3:
        assert probe.shape[-1] == 1
    Y_I = np.asarray(Y_I, dtype=np.float32)
    Y_phi = np.asarray(Y_phi, dtype=np.float32)
    if intensity_scale is None:
        probe_amplitude = np.abs(probe).astype(Y_I.dtype)
        intensity_scale = scale_nphotons(Y_I * probe_amplitude[None, ...])
    batch_size = p.get('batch_size')
    obj = intensity_scale * hh.combine_complex(Y_I, Y_phi)
    obj = obj * probe[None, ...].astype(np.complex64)
    Y_I = np.abs(obj)
    X = np.concatenate([diffract_obj(obj[i:i + batch_size]) for i in range(0, len(obj), batch_size)])
    X, Y_I, Y_phi = X / intensity_scale, Y_I / intensity_scale, Y_phi
    X, Y_I, Y_phi = hh.grid_to_channel(X.astype(np.float32), Y_I.astype(np.float32), Y_phi)
    return X, Y_I, Y_phi, intensity_scale


def _box_blur(img, r):
    if r <= 0:
        return img
    k = 2 * r + 1
    for axis in (0, 1):
        pad = np.pad(img, [(r, r) if a == axis else (0, 0) for a in range(2)], mode='edge')
        c = np.cumsum(pad, axis=axis)
        c = np.concatenate([np.zeros_like(np.take(c, [0], axis=axis)), c], axis=axis)
        img = (np.take(c, range(k, c.shape[axis]), axis=axis)
               - np.take(c, range(0, c.shape[axis] - k), axis=axis)) / k
    return img


def mk_rand(N):
    return int(N * np.random.uniform())


def mk_lines_img(N=64, nlines=10):
    image = np.zeros((N, N))
    for _ in range(nlines):
        r0, c0, r1, c1 = mk_rand(N), mk_rand(N), mk_rand(N), mk_rand(N)
        n = max(abs(r1 - r0), abs(c1 - c0)) + 1
        rr = np.rint(np.linspace(r0, r1, n)).astype(int)
        cc = np.rint(np.linspace(c0, c1, n)).astype(int)
        image[rr, cc] = 1
    res = _box_blur(image, 2) + 2 * _box_blur(image, 4) + 5 * _box_blur(image, 8)
    return res[..., None]


def sim_object_image(size, which='train'):
    """Random lines object (size, size, 1) float64, drawn with the global ``np.random``."""
    _calls['sim_object_image'] += 1
    if p.get('data_source') == 'lines':
        return mk_lines_img(2 * size, nlines=max(8, size))[size // 2: -size // 2, size // 2: -size // 2, :1]
    raise ValueError(p.get('data_source'))


def extract_coords(size, repeats=1, coord_type='offsets', outer_offset=None, **kwargs):
    """Nominal coords of the grid scan, channel format.

    'offsets': (repeats*R, 1, 2, C) = region centre - patch centre (x, y).
    'global': (ix, iy), each (repeats*R, 1, 1, C), patch centres in object pixels.
    """
    gs, offset, N_ = p.get('gridsize'), p.get('offset'), p.get('N')
    bigN = N_ + (gs - 1) * offset
    step = outer_offset // 2
    nseg = (size - bigN) // step + 1
    a, b = np.meshgrid(np.arange(gs), np.arange(gs), indexing='ij')
    py, px = (a.ravel() * offset + N_ / 2), (b.ravel() * offset + N_ / 2)       # within region
    oy, ox = np.meshgrid(np.arange(nseg) * step, np.arange(nseg) * step, indexing='ij')
    oy, ox = oy.ravel()[:, None], ox.ravel()[:, None]
    ix = np.tile((ox + px[None]).astype(np.float32), (repeats, 1))[:, None, None, :]
    iy = np.tile((oy + py[None]).astype(np.float32), (repeats, 1))[:, None, None, :]
    if coord_type == 'global':
        return ix, iy
    if coord_type != 'offsets':
        raise ValueError(coord_type)
    cx, cy = ix.mean(axis=3, keepdims=True), iy.mean(axis=3, keepdims=True)
    return np.concatenate([cx - ix, cy - iy], axis=2).astype(np.float32)


def add_position_jitter(coords, jitter_scale):
    return (coords + jitter_scale * hh.random_generator().standard_normal(coords.shape)).astype(np.float32)


def _extract_patches(YY, outer_offset):
    """(n, size, size, 1) -> flat (n*R*C, N, N, 1) patches in region-major, channel-minor order."""
    N_, gs, offset = p.get('N'), p.get('gridsize'), p.get('offset')
    size = YY.shape[1]
    ix, iy = extract_coords(size, 1, coord_type='global', outer_offset=outer_offset)
    out = []
    for img in YY:
        for r in range(ix.shape[0]):
            for c in range(ix.shape[3]):
                x0, y0 = int(ix[r, 0, 0, c] - N_ / 2), int(iy[r, 0, 0, c] - N_ / 2)
                out.append(img[y0:y0 + N_, x0:x0 + N_, :1])
    return np.stack(out)


def scan_and_normalize(jitter_scale=None, YY_I=None, YY_phi=None, **kwargs):
    """Cut the objects into patches; normalize amplitude by the mean patch maximum.

    Returns (Y_I flat, Y_phi flat, Y_I_full, norm_Y_I, (coords, true_coords)).
    """
    _calls['scan_and_normalize'] += 1
    size, n = YY_I.shape[1], YY_I.shape[0]
    outer_offset = kwargs.get('outer_offset')
    coords = true_coords = extract_coords(size, n, outer_offset=outer_offset)
    if jitter_scale is not None:
        true_coords = add_position_jitter(coords, jitter_scale)
    Y_I = _extract_patches(np.asarray(YY_I, dtype=np.float32), outer_offset)
    norm_Y_I = np.float32(np.mean(np.max(Y_I, axis=(1, 2, 3))))
    Y_I = Y_I / norm_Y_I
    if YY_phi is None:
        Y_phi = np.zeros_like(Y_I)
    else:
        Y_phi = _extract_patches(np.asarray(YY_phi, dtype=np.float32), outer_offset)
    return Y_I, Y_phi, np.asarray(YY_I) / norm_Y_I, norm_Y_I, (coords, true_coords)


def dummy_phi(Y_I):
    return (math.pi * np.tanh((Y_I - np.max(Y_I) / 2) / (3 * np.mean(Y_I)))).astype(np.float32)


@memoize_disk_and_memory
def mk_simdata(n, size, probe, outer_offset, intensity_scale=None,
               YY_I=None, YY_phi=None, dict_fmt=False, which='train', **kwargs):
    """Simulate ``n`` objects and their grid-scan diffraction.

    Returns ``(X, Y_I, Y_phi, intensity_scale, YY_full, norm_Y_I, (coords_nominal, coords_true))``.
    """
    _calls['mk_simdata'] += 1
    if YY_I is None:
        YY_I = np.array([sim_object_image(size, which=which) for _ in range(n)])
    if p.get('set_phi') and YY_phi is None:
        YY_phi = dummy_phi(YY_I)
    Y_I, Y_phi, _, norm_Y_I, coords = scan_and_normalize(YY_I=YY_I, YY_phi=YY_phi,
                                                         outer_offset=outer_offset, **kwargs)
    if dict_fmt:
        d = {'I_pre_probe': Y_I, 'phi_pre_probe': Y_phi}
    X, Y_I, Y_phi, intensity_scale = illuminate_and_diffract(Y_I, Y_phi, probe,
                                                            intensity_scale=intensity_scale)
    if YY_phi is None:
        YY_full = hh.combine_complex(YY_I, np.zeros_like(YY_I))
    else:
        YY_full = hh.combine_complex(YY_I, YY_phi)
    if dict_fmt:
        d.update({'X': X, 'Y_I': Y_I, 'Y_phi': Y_phi, 'intensity_scale': intensity_scale,
                  'norm_Y_I': norm_Y_I, 'coords': coords})
        return d
    return X, Y_I, Y_phi, intensity_scale, YY_full, norm_Y_I, coords
