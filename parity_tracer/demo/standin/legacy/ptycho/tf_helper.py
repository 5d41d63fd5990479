"""Stand-in for legacy ``ptycho.tf_helper`` (numpy only).

Also hosts the few TensorFlow/Keras stand-ins the other modules need: a ``Variable``, the
process-global random generator that plays TF's unseeded global RNG (Poisson noise, weight
init), and the two callbacks ``model.train`` uses.
"""
import numpy as np

from . import params


# --- TensorFlow stand-ins ---------------------------------------------------------------------

class Variable:
    """Minimal ``tf.Variable``: ``.numpy()``, ``.assign()``, ``.trainable``, ``.name``."""

    def __init__(self, initial_value, trainable=True, name=None, dtype=np.float32):
        self._value = np.array(initial_value, dtype=dtype)
        self.trainable = bool(trainable)
        self.name = name or 'Variable'

    def numpy(self):
        return self._value[()] if self._value.ndim == 0 else self._value.copy()

    def assign(self, value):
        self._value = np.array(value, dtype=self._value.dtype)
        return self

    @property
    def shape(self):
        return self._value.shape

    @property
    def dtype(self):
        return self._value.dtype

    def __repr__(self):
        return f"<Variable '{self.name}' shape={self.shape} dtype={self.dtype} numpy={self.numpy()!r}>"


_tf_rng = np.random.default_rng()  # TF's global RNG is never seeded on the legacy path


def random_generator():
    """The generator used for Poisson noise and weight init (read at call time)."""
    return _tf_rng


def set_random_seed(seed):
    """Stand-in for ``tf.keras.utils.set_random_seed`` (TF part only)."""
    global _tf_rng
    _tf_rng = np.random.default_rng(int(seed))


class ReduceLROnPlateau:
    def __init__(self, monitor='val_loss', factor=0.5, patience=2, min_lr=1e-4, verbose=0):
        self.monitor, self.factor, self.patience, self.min_lr = monitor, factor, patience, min_lr
        self.best, self.wait, self.model = np.inf, 0, None

    def on_epoch_end(self, epoch, logs):
        value = logs.get(self.monitor)
        if value is None:
            return
        if value < self.best:
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.model.lr = max(self.model.lr * self.factor, self.min_lr)
            self.wait = 0


class EarlyStopping:
    def __init__(self, monitor='loss', patience=3):
        self.monitor, self.patience = monitor, patience
        self.best, self.wait, self.model, self.stopped_epoch = np.inf, 0, None, None

    def on_epoch_end(self, epoch, logs):
        value = logs.get(self.monitor)
        if value is None:
            return
        if value < self.best:
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.model.stop_training = True
            self.stopped_epoch = epoch


# --- array helpers ----------------------------------------------------------------------------

def combine_complex(amp, phi):
    return (np.asarray(amp) * np.exp(1j * np.asarray(phi))).astype(np.complex64)


def _flat_to_channel(img, N=None):
    """(B*C, N, N, 1) -> (B, N, N, C) with C = gridsize**2 (no-op when already channelled)."""
    img = np.asarray(img)
    C = params.get('gridsize') ** 2
    if img.shape[-1] != 1 or C == 1:
        return img
    n = img.shape[1]
    return img.reshape(-1, C, n, n).transpose(0, 2, 3, 1)


def _channel_to_flat(img):
    """(B, N, N, C) -> (B*C, N, N, 1)."""
    img = np.asarray(img)
    B, n, m, C = img.shape
    return img.transpose(0, 3, 1, 2).reshape(B * C, n, m, 1)


def grid_to_channel(*grids):
    return tuple(_flat_to_channel(g) for g in grids)


def fft2_amplitude(obj):
    """|FFT| of (..., N, N, C) complex patches (unitary, centred)."""
    f = np.fft.fftshift(np.fft.fft2(obj, axes=(-3, -2), norm='ortho'), axes=(-3, -2))
    return np.abs(f)


def translate(imgs, offsets):
    """Integer translation (wrap-around) of (B, N, N, C) by offsets (B, 1, 2, C) = (x, y)."""
    imgs = np.asarray(imgs)
    offsets = np.rint(np.asarray(offsets, dtype=np.float64)).astype(int)
    out = np.empty_like(imgs)
    for b in range(imgs.shape[0]):
        for c in range(imgs.shape[-1]):
            dx, dy = offsets[b, 0, 0, c], offsets[b, 0, 1, c]
            out[b, :, :, c] = np.roll(imgs[b, :, :, c], (dy, dx), axis=(0, 1))
    return out


def center_channels(channels, offsets_xy):
    """Shift each channel's patch back by its offset so the patches line up at the centre."""
    return translate(channels, offsets_xy)


def reassemble_position(obj_tensor, global_offsets, M=10):
    """shift_and_sum(obj) / (1e-9 + shift_and_sum(ones)) over the central MxM crop of each patch.

    obj_tensor: (B, N, N, 1) complex64; global_offsets: (B, 1, 2, 1) float64 (x, y).
    Returns an (H, W, 1) complex image. Legacy asserts the dtypes and loops in Python.
    """
    assert obj_tensor.dtype == np.complex64, obj_tensor.dtype
    assert global_offsets.dtype == np.float64, global_offsets.dtype
    obj = np.asarray(obj_tensor)
    N = obj.shape[1]
    lo = N // 2 - M // 2
    crop = obj[:, lo:lo + M, lo:lo + M, 0]
    pos = np.rint(np.asarray(global_offsets)[:, 0, :, 0]).astype(int)
    pos = pos - pos.min(axis=0)
    H, W = pos[:, 1].max() + M, pos[:, 0].max() + M
    acc = np.zeros((H, W), np.complex128)
    cnt = np.zeros((H, W))
    for (x, y), patch in zip(pos, crop):
        acc[y:y + M, x:x + M] += patch
        cnt[y:y + M, x:x + M] += 1
    return (acc / (1e-9 + cnt))[..., None].astype(np.complex64)
