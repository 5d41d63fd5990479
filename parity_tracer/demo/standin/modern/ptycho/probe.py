"""Stand-in for ``ptycho.probe`` (identical in both branches apart from docstrings)."""
import numpy as np

from . import params


def get_lowpass_filter(scale, N):
    x = (np.arange(N) - N / 2 + .5) / (N / 2)
    return np.exp(-(x / scale) ** 2 / 2)


def _smooth(img):
    """Separable [1, 2, 1] / 4 blur (stand-in for the sigma=1 Gaussian)."""
    k = np.array([.25, .5, .25])
    pad = np.pad(img, 1, mode='edge')
    rows = k[0] * pad[:-2] + k[1] * pad[1:-1] + k[2] * pad[2:]
    return k[0] * rows[:, :-2] + k[1] * rows[:, 1:-1] + k[2] * rows[:, 2:]


def get_default_probe(N, fmt='tf'):
    scale = params.cfg['default_probe_scale']
    filt = get_lowpass_filter(scale, N)
    probe_np = _smooth((np.einsum('i,j->ij', filt, filt) > .5).astype(float)) + 1e-9
    if fmt == 'np':
        return probe_np
    elif fmt == 'tf':
        return probe_np.astype(np.complex64)[..., None]
    else:
        raise ValueError("Invalid format specified")


def get_probe(params):
    probe_tf = params.get('probe')
    assert len(probe_tf.shape) == 3
    return probe_tf


def to_np(probe):
    assert len(probe.shape) == 3
    return np.array(probe[:, :, 0])


def get_squared_distance(N):
    centered_indices = np.arange(N) - N // 2 + .5
    x, y = np.meshgrid(centered_indices, centered_indices)
    return np.sqrt(x * x + y * y)


def get_probe_mask_real(N):
    return (get_squared_distance(N) < N // 4)[..., None]


def get_probe_mask(N):
    return get_probe_mask_real(N).astype(np.complex64)


def set_probe(probe):
    """Normalize by ``probe_scale * mean(|mask * probe|)`` and write ``cfg['probe']``."""
    assert len(probe.shape) == 3 or len(probe.shape) == 4
    assert probe.shape[0] == probe.shape[1]
    assert probe.shape[-1] == 1
    if len(probe.shape) == 4:
        assert probe.shape[-2] == 1
        probe = probe[:, :, :, 0]
        print('coercing probe shape to 3d')
    probe = np.asarray(probe)
    mask = get_probe_mask(params.get('N')).astype(probe.dtype)
    probe_scale = params.get('probe_scale')
    norm = float(probe_scale * np.mean(np.abs(mask * probe)))
    params.set('probe', (probe / norm).astype(np.complex64))


def set_probe_guess(X_train=None, probe_guess=None):
    """Set cfg['probe'] from a guess; returns the *un-normalized* input (as the real code does)."""
    N = params.get('N')
    if probe_guess is None:
        tmp = np.asarray(X_train).mean(axis=(0, 3))
        probe_fif = np.abs(np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(tmp))))[N // 2, :]
        d_second_moment = (probe_fif / probe_fif.sum()) * ((np.arange(N) - N // 2) ** 2)
        sigma = np.sqrt(d_second_moment.sum())
        guess = np.exp(-(get_squared_distance(N) ** 2 / (2.0 * sigma ** 2)))[..., None] + 1e-9
        guess *= get_probe_mask_real(N)
        guess *= np.sum(get_default_probe(N, fmt='np')) / np.sum(guess)
        t_probe_guess = guess.astype(np.float32)
    else:
        probe_guess = np.asarray(probe_guess)
        if probe_guess.ndim not in [2, 3]:
            raise ValueError("probe_guess must have 2 or 3 dimensions")
        if probe_guess.ndim == 2:
            probe_guess = probe_guess[..., None]
        t_probe_guess = probe_guess.astype(np.complex64)
    set_probe(t_probe_guess)
    return t_probe_guess


def set_default_probe():
    """Use an idealized disk-shaped probe. Only for simulated data workflows."""
    set_probe(get_default_probe(params.get('N'), fmt='tf'))
