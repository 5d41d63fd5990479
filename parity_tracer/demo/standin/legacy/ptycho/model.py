"""Stand-in for legacy ``ptycho.model``: the model is BUILT AT IMPORT TIME.

Import needs ``cfg['probe']`` and ``cfg['intensity_scale']``. The module global ``log_scale``
is initialized with ``log(cfg['intensity_scale'])`` *at import*, and the built graph freezes
``exp(log_scale)`` as a constant (so the value the model uses is the one cfg held at import,
usually the simulation's scale, and it never trains). ``_builds`` counts builds.
"""
import math

import numpy as np

from .loader import PtychoDataContainer
from . import tf_helper as hh
from . import params as cfg

params = cfg.params

wt_path = 'wts4.1'

n_filters_scale = cfg.get('n_filters_scale')
N = cfg.get('N')
gridsize = cfg.get('gridsize')
offset = cfg.get('offset')

from . import probe  # noqa: E402

tprobe = params()['probe']
probe_mask = probe.get_probe_mask(N)
initial_probe_guess = hh.Variable(np.asarray(tprobe)[None, ...], trainable=cfg.get('probe.trainable'),
                                  name='initial_probe_guess', dtype=np.complex64)

nphotons = cfg.get('nphotons')

log_scale_guess = np.log(cfg.get('intensity_scale'))
log_scale = hh.Variable(float(log_scale_guess), trainable=cfg.params()['intensity_scale.trainable'],
                        name='log_scale')


class IntensityScaler:
    """Defined but unused on the legacy branch (the graph uses scale()/inv_scale())."""

    def __init__(self):
        self.w = log_scale

    def __call__(self, inputs):
        x, = inputs
        return x / np.exp(self.w.numpy())


class IntensityScaler_inv(IntensityScaler):
    def __call__(self, inputs):
        x, = inputs
        return np.exp(self.w.numpy()) * x


def scale(inputs):
    x, = inputs
    return x / np.exp(log_scale.numpy())


def inv_scale(inputs):
    x, = inputs
    return np.exp(log_scale.numpy()) * x


np.random.seed(2)


# --- a tiny numpy "Keras model" ---------------------------------------------------------------

class History:
    """Keras ``History`` stand-in: ``.history`` (key -> per-epoch list), ``.epoch``, ``.params``."""

    def __init__(self):
        self.history = {}
        self.epoch = []
        self.params = {}
        self.model = None


def _stirling_lgamma1(k):
    """log(k!) (Stirling; 0 below 1)."""
    k = np.maximum(k, 1e-12)
    out = k * np.log(k) - k + 0.5 * np.log(2 * np.pi * k) + 1.0 / (12 * k)
    return np.where(k < 1, 0.0, out)


def negloglik(k, lam):
    """Full Poisson NLL, summed over each sample (legacy ``-Poisson(pred^2).log_prob(target)``)."""
    lam = np.maximum(lam, 1e-12)
    per = lam - k * np.log(lam) + _stirling_lgamma1(k)
    return np.mean(np.sum(per, axis=tuple(range(1, per.ndim))))


class _Model:
    output_names = ['trimmed_obj', 'tf.math.multiply', 'distribution_lambda']
    lr_key = 'lr'

    def __init__(self, name, probe_arr, model_scale, N, gridsize):
        rng = hh.random_generator()       # unseeded, like Keras weight init
        self.name = name
        self.kernel = hh.Variable([1.0 + 0.1 * rng.standard_normal(), 0.1 * rng.standard_normal()],
                                  dtype=np.float64, name='decoder/kernel')
        self.probe = np.asarray(probe_arr).reshape(N, N, 1).astype(np.complex64)
        self.N, self.gridsize = N, gridsize
        self._model_scale = float(model_scale)     # exp(log_scale) frozen at build time
        self.loss_weights = [0., 0., 1.]
        self.lr = 1e-3
        self.stop_training = False
        self.history = None

    # Keras-ish surface
    @property
    def trainable_variables(self):
        return [self.kernel]

    variables = trainable_variables

    def get_layer(self, name):
        raise ValueError(f"No such layer: {name}. Existing layers are: "
                         "['input', 'input_positions', 'tf.math.truediv', 'tf.math.multiply', 'trimmed_obj', ...]")

    def compile(self, optimizer=None, loss=None, loss_weights=None, **kwargs):
        self.lr = getattr(optimizer, 'learning_rate', 1e-3)
        self.loss_weights = list(loss_weights or [0., 0., 1.])[:3]   # 4 losses for 3 outputs: 4th ignored

    def summary(self):
        print(f'Model: "{self.name}" inputs=[(None, {self.N}, {self.N}, {self.gridsize ** 2}), '
              f'(None, 1, 2, {self.gridsize ** 2})] outputs={self.output_names}')

    def _scale(self):
        return self._model_scale

    def _third(self, pred_amp):
        # DistributionLambda output: a Poisson *sample* of pred_amp^2 (random)
        return hh.random_generator().poisson(np.asarray(pred_amp, np.float64) ** 2).astype(np.float32)

    def _nll(self, target_int, pred_amp):
        return negloglik(np.asarray(target_int, np.float64), np.asarray(pred_amp, np.float64) ** 2)

    def _forward(self, X_in, coords, w=None, log_s=None):
        w = self.kernel.numpy() if w is None else w
        s = self._scale() if log_s is None else math.exp(log_s)
        normed = np.asarray(X_in, np.float64) / s                     # scale()
        a = normed.mean(axis=-1)
        z = 4.0 * w[0] * (a - a.mean(axis=(1, 2), keepdims=True))
        amp = 1.0 / (1.0 + np.exp(-z))                                # sigmoid amplitude
        obj = hh.combine_complex(amp, w[1] * np.tanh(z))[..., None]   # (B, N, N, 1)
        C = X_in.shape[-1]
        shifted = np.repeat(obj, C, axis=-1)
        coords = np.asarray(coords)
        if np.any(coords):
            shifted = hh.translate(shifted, -coords)
        pred_amp = (s * hh.fft2_amplitude(shifted * self.probe[None])).astype(np.float32)  # inv_scale()
        return obj.astype(np.complex64), pred_amp

    def predict(self, x, batch_size=None, verbose='auto'):
        X_in, coords = x
        obj, pred_amp = self._forward(np.asarray(X_in), np.asarray(coords))
        return [obj, pred_amp, self._third(pred_amp)]

    def _losses(self, X_in, coords, y, w=None, log_s=None):
        obj, pred_amp = self._forward(X_in, coords, w, log_s)
        Y_obj, Y_amp, Y_int = y
        rs = float(np.mean(np.abs(np.abs(obj) - np.asarray(Y_obj))))
        mae = float(np.mean(np.abs(pred_amp - np.asarray(Y_amp))))
        nll = float(self._nll(Y_int, pred_amp))
        rw, mw, nw = self.loss_weights
        n1, n2, n3 = self.output_names
        return {'loss': rw * rs + mw * mae + nw * nll,
                f'{n1}_loss': rs, f'{n2}_loss': mae, f'{n3}_loss': nll}

    def _trainable_log_scale(self):
        return None

    def _apply_log_scale_step(self, step):
        pass

    def fit(self, x, y, shuffle=True, batch_size=16, verbose=1, epochs=1, validation_split=0.05,
            callbacks=None):
        X_in, coords = (np.asarray(a) for a in x)
        y = [np.asarray(a) for a in y]
        n = len(X_in)
        split_at = int(n * (1. - validation_split)) if validation_split else n
        tr = slice(0, split_at)
        va = slice(split_at, n)
        history = History()
        history.model = self
        history.params = {'verbose': verbose, 'epochs': epochs,
                          'steps': int(math.ceil(split_at / batch_size))}
        callbacks = list(callbacks or [])
        for cb in callbacks:
            cb.model = self
        self.stop_training = False
        m = np.zeros(3)
        v = np.zeros(3)
        t = 0
        rng = hh.random_generator()
        for epoch in range(epochs):
            idx = rng.permutation(split_at) if shuffle else np.arange(split_at)
            for start in range(0, split_at, batch_size):
                b = idx[start:start + batch_size]
                yb = [a[b] for a in y]
                params_ = list(self.kernel.numpy())
                log_s = self._trainable_log_scale()
                if log_s is not None:
                    params_.append(log_s)

                def f(p_):
                    return self._losses(X_in[b], coords[b], yb, np.array(p_[:2]),
                                        p_[2] if len(p_) > 2 else None)['loss']
                base = f(params_)
                grad = []
                for i in range(len(params_)):
                    q = list(params_)
                    q[i] += 1e-3
                    grad.append((f(q) - base) / 1e-3)
                t += 1
                g = np.zeros(3)
                g[:len(grad)] = grad
                m = 0.9 * m + 0.1 * g
                v = 0.999 * v + 0.001 * g ** 2
                step = self.lr * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-7)
                self.kernel.assign(self.kernel.numpy() - step[:2])
                if log_s is not None:
                    self._apply_log_scale_step(step[2])
            logs = self._losses(X_in[tr], coords[tr], [a[tr] for a in y])
            if split_at < n:
                logs.update({'val_' + k: val for k, val in
                             self._losses(X_in[va], coords[va], [a[va] for a in y]).items()})
            logs[self.lr_key] = float(self.lr)
            for k, val in logs.items():
                history.history.setdefault(k, []).append(float(val))
            history.epoch.append(epoch)
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs} - " + " - ".join(f"{k}: {val:.4g}" for k, val in logs.items()))
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        self.history = history
        return history


class _SubModel:
    """A model sharing the parent's weights with fewer outputs (diffraction_to_obj etc.)."""

    def __init__(self, parent, name, outputs):
        self.parent, self.name, self.outputs = parent, name, outputs

    def predict(self, x, batch_size=None, verbose='auto'):
        res = self.parent.predict(x, batch_size=batch_size)
        picked = [res[i] for i in self.outputs]
        return picked[0] if len(picked) == 1 else picked

    @property
    def trainable_variables(self):
        return self.parent.trainable_variables


class _Adam:
    def __init__(self, learning_rate=1e-3):
        self.learning_rate = learning_rate


def _build():
    model_scale = float(np.exp(log_scale.numpy()))    # evaluated eagerly, frozen into the graph
    ae = _Model('autoencoder', tprobe, model_scale, N, gridsize)
    ae.compile(optimizer=_Adam(learning_rate=1e-3),
               loss=['realspace_loss', 'mean_absolute_error', 'negloglik', 'mean_absolute_error'],
               loss_weights=[cfg.get('realspace_weight'), cfg.get('mae_weight'), cfg.get('nll_weight'), 0.])
    d2o = _SubModel(ae, 'diffraction_to_obj', (0,))
    no_nll = _SubModel(ae, 'autoencoder_no_nll', (0, 1))
    return ae, d2o, no_nll


autoencoder, diffraction_to_obj, autoencoder_no_nll = _build()
_builds = globals().get('_builds', 0) + 1
autoencoder.summary()


def prepare_inputs(train_data: PtychoDataContainer):
    """training inputs"""
    return [train_data.X * cfg.get('intensity_scale'), train_data.coords]


def prepare_outputs(train_data: PtychoDataContainer):
    """training outputs"""
    return [hh.center_channels(train_data.Y_I, train_data.coords)[:, :, :, :1],
            (cfg.get('intensity_scale') * train_data.X),
            (cfg.get('intensity_scale') * train_data.X) ** 2]


def train(epochs, trainset: PtychoDataContainer):
    assert type(trainset) == PtychoDataContainer
    reduce_lr = hh.ReduceLROnPlateau(monitor='val_loss', factor=0.5, patience=2, min_lr=0.0001, verbose=1)
    earlystop = hh.EarlyStopping(monitor='loss', patience=3)
    batch_size = params()['batch_size']
    history = autoencoder.fit(
        prepare_inputs(trainset),
        prepare_outputs(trainset),
        shuffle=True, batch_size=batch_size, verbose=1,
        epochs=epochs, validation_split=0.05,
        callbacks=[reduce_lr, earlystop])
    return history
