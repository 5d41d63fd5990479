"""Stand-in for modern ``ptycho.model``: models are built LAZILY.

Module ``__getattr__`` builds ``autoencoder`` / ``diffraction_to_obj`` / ``autoencoder_no_nll``
on first attribute access (with a DeprecationWarning), so ``hasattr(model, 'autoencoder')``
triggers a build with whatever cfg holds at that moment. ``_lazy_cache['log_scale']`` is created
by the first build with ``log(cfg['intensity_scale'])`` and shared by every later model; it is
not trained (Keras 3 does not track it) unless ``TF_USE_LEGACY_KERAS=1``. ``_builds`` counts
builds.
"""
import math
import os
import warnings

import numpy as np

from .loader import PtychoDataContainer
from . import tf_helper as hh
from . import params as p

_lazy_cache = {}
_model_construction_done = False
_builds = globals().get('_builds', 0)

wt_path = 'wts4.1'

# ReassemblePatchesLayer switches to the batched path (which sums the batch) at B*C >= 64
_BATCHED_REASSEMBLY_MIN_PATCHES = 64

from . import probe  # noqa: E402


def _legacy_keras():
    return os.environ.get('TF_USE_LEGACY_KERAS', '').strip() in ('1', 'true', 'True')


def _get_initial_probe_guess():
    if 'initial_probe_guess' not in _lazy_cache:
        N = p.get('N')
        pr = p.get('probe', None)
        if pr is None or np.shape(pr)[0] != N:
            pr = probe.get_default_probe(N, fmt='tf')
        _lazy_cache['initial_probe_guess'] = hh.Variable(np.asarray(pr)[None, ...], dtype=np.complex64,
                                                         trainable=p.get('probe.trainable'),
                                                         name='initial_probe_guess')
    return _lazy_cache['initial_probe_guess']


def _get_log_scale():
    """Create (on first call) the shared log_scale variable from the *current* cfg value."""
    if 'log_scale' not in _lazy_cache:
        _lazy_cache['log_scale'] = hh.Variable(float(np.log(p.get('intensity_scale'))),
                                               trainable=p.params()['intensity_scale.trainable'],
                                               name='log_scale')
    return _lazy_cache['log_scale']


class IntensityScaler:
    name = 'intensity_scaler'

    def __init__(self):
        self.w = _get_log_scale()

    def __call__(self, inputs):
        x, = inputs
        return x / np.exp(self.w.numpy())


class IntensityScaler_inv(IntensityScaler):
    name = 'intensity_scaler_inv'

    def __call__(self, inputs):
        x, = inputs
        return np.exp(self.w.numpy()) * x


def scale(inputs):
    x, = inputs
    return x / np.exp(_get_log_scale().numpy())


def inv_scale(inputs):
    x, = inputs
    return np.exp(_get_log_scale().numpy()) * x


def negloglik(y_true, y_pred):
    """``tf.nn.log_poisson_loss(y_true, log(y_pred), compute_full_loss=False)``: can be negative."""
    lam = np.maximum(y_pred, 1e-12)
    return np.mean(lam - y_true * np.log(lam))


class History:
    """Keras ``History`` stand-in: ``.history`` (key -> per-epoch list), ``.epoch``, ``.params``."""

    def __init__(self):
        self.history = {}
        self.epoch = []
        self.params = {}
        self.model = None


class _Model:
    output_names = ['trimmed_obj', 'intensity_scaler_inv', 'pred_intensity']
    lr_key = 'learning_rate'

    def __init__(self, name, probe_arr, scaler, scaler_inv, N, gridsize, object_big):
        rng = hh.random_generator()       # unseeded, like Keras weight init
        self.name = name
        self.kernel = hh.Variable([1.0 + 0.1 * rng.standard_normal(), 0.1 * rng.standard_normal()],
                                  dtype=np.float64, name='decoder/kernel')
        self.probe = np.asarray(probe_arr).reshape(N, N, 1).astype(np.complex64)
        self.N, self.gridsize = N, gridsize
        self.scaler, self.scaler_inv = scaler, scaler_inv   # layers sharing the log_scale variable
        self.object_big = bool(object_big)
        self.loss_weights = [0., 0., 1.]
        self.lr = 1e-3
        self.stop_training = False
        self.history = None

    # Keras-ish surface
    @property
    def trainable_variables(self):
        # Keras 3 does not track the raw log_scale variable; tf-keras (TF_USE_LEGACY_KERAS=1) does
        if _legacy_keras() and self.scaler.w.trainable:
            return [self.kernel, self.scaler.w]
        return [self.kernel]

    @property
    def variables(self):
        return self.trainable_variables

    def get_layer(self, name):
        if name == 'intensity_scaler':
            return self.scaler
        if name == 'intensity_scaler_inv':
            return self.scaler_inv
        raise ValueError(f"No such layer: {name}.")

    def compile(self, optimizer=None, loss=None, loss_weights=None, **kwargs):
        self.lr = getattr(optimizer, 'learning_rate', 1e-3)
        self.loss_weights = list(loss_weights or [0., 0., 1.])
        self.jit_compile = kwargs.get('jit_compile', False)

    def summary(self):
        print(f'Model: "{self.name}" inputs=[(None, {self.N}, {self.N}, {self.gridsize ** 2}), '
              f'(None, 1, 2, {self.gridsize ** 2})] outputs={self.output_names}')

    def _scale(self):
        return float(np.exp(self.scaler.w.numpy()))      # the shared variable, read at call time

    def _third(self, pred_amp):
        return (np.asarray(pred_amp, np.float32) ** 2).astype(np.float32)   # SquareLayer: deterministic

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
        X_in, coords = (np.asarray(a) for a in x)
        batch_size = batch_size or 32
        outs = [[], [], []]
        C = X_in.shape[-1]
        for start in range(0, len(X_in), batch_size):
            obj, pred_amp = self._forward(X_in[start:start + batch_size], coords[start:start + batch_size])
            if self.object_big and self.gridsize > 1 and len(obj) * C >= _BATCHED_REASSEMBLY_MIN_PATCHES:
                # ReassemblePatchesLayer -> _reassemble_position_batched sums the whole batch into one canvas
                obj = obj.mean(axis=0, keepdims=True)
                pred_amp = pred_amp.mean(axis=0, keepdims=True)
            for lst, val in zip(outs, (obj, pred_amp, self._third(pred_amp))):
                lst.append(val)
        return [np.concatenate(lst) for lst in outs]

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
        if _legacy_keras() and self.scaler.w.trainable:
            return float(self.scaler.w.numpy())
        return None

    def _apply_log_scale_step(self, step):
        self.scaler.w.assign(self.scaler.w.numpy() - step)

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




def create_model_with_gridsize(gridsize: int, N: int, **kwargs):
    """Build (autoencoder, diffraction_to_obj); cfg gridsize/N/use_xla_translate are set meanwhile."""
    global _builds
    saved = {k: p.cfg.get(k) for k in ('gridsize', 'N', 'use_xla_translate')}
    p.cfg.update(gridsize=gridsize, N=N, use_xla_translate=False)
    try:
        probe_arr = p.get('probe', None)
        if probe_arr is None or np.shape(probe_arr)[0] != N:
            probe_arr = probe.get_default_probe(N, fmt='tf')
        ae = _Model('autoencoder', probe_arr, IntensityScaler(), IntensityScaler_inv(), N, gridsize,
                    p.get('object.big'))
        d2o = _SubModel(ae, 'diffraction_to_obj', (0,))
    finally:
        p.cfg.update(saved)
    _builds += 1
    return ae, d2o


def _create_models_from_global_config():
    return create_model_with_gridsize(p.get('gridsize'), p.get('N'))


def create_compiled_model(gridsize=None, N=None):
    gridsize = gridsize if gridsize is not None else p.get('gridsize')
    N = N if N is not None else p.get('N')
    autoencoder, diffraction_to_obj = create_model_with_gridsize(gridsize, N)
    use_xla = os.environ.get('USE_XLA_COMPILE', '').lower() in ('1', 'true', 'yes') or \
        bool(p.get('use_xla_compile', False))
    autoencoder.compile(optimizer=_Adam(learning_rate=0.001),
                        loss=['realspace_loss', 'mean_absolute_error', 'negloglik'],
                        loss_weights=[p.get('realspace_weight'), p.get('mae_weight'), p.get('nll_weight')],
                        jit_compile=use_xla)
    return autoencoder, diffraction_to_obj


def _build_module_level_models():
    global _model_construction_done
    autoencoder, diffraction_to_obj = create_compiled_model()
    _lazy_cache['autoencoder'] = autoencoder
    _lazy_cache['diffraction_to_obj'] = diffraction_to_obj
    _lazy_cache['autoencoder_no_nll'] = _SubModel(autoencoder, 'autoencoder_no_nll', (0, 1))
    _model_construction_done = True


def prepare_inputs(train_data: PtychoDataContainer):
    """training inputs"""
    return [train_data.X * p.get('intensity_scale'), train_data.coords]


def prepare_outputs(train_data: PtychoDataContainer):
    """training outputs"""
    return [hh.center_channels(train_data.Y_I, train_data.coords)[:, :, :, :1],
            (p.get('intensity_scale') * train_data.X),
            (p.get('intensity_scale') * train_data.X) ** 2]


def train(epochs, trainset: PtychoDataContainer, model_instance=None, use_streaming=None):
    assert type(trainset) == PtychoDataContainer
    if model_instance is None:
        model_instance = autoencoder  # noqa: F821 -- NameError unless model.autoencoder was assigned
    batch_size = p.params()['batch_size']
    if use_streaming is None:
        use_streaming = len(trainset) > 10000
    reduce_lr = hh.ReduceLROnPlateau(monitor='val_loss', factor=0.5, patience=2, min_lr=0.0001, verbose=1)
    earlystop = hh.EarlyStopping(monitor='loss', patience=3)
    if use_streaming:
        batches = trainset.as_tf_dataset(batch_size, shuffle=True)
        x = [np.concatenate([b[0][i] for b in batches]) for i in range(2)]
        y = [np.concatenate([b[1][i] for b in batches]) for i in range(3)]
        return model_instance.fit(x, y, shuffle=False, batch_size=batch_size, verbose=1, epochs=epochs,
                                  validation_split=0., callbacks=[reduce_lr, earlystop])
    return model_instance.fit(
        prepare_inputs(trainset),
        prepare_outputs(trainset),
        shuffle=True, batch_size=batch_size, verbose=1,
        epochs=epochs, validation_split=0.05,
        callbacks=[reduce_lr, earlystop])


def __getattr__(name):
    """Lazy module-level singletons (REFACTOR-MODEL-SINGLETON-001 stand-in)."""
    if name in ('autoencoder', 'diffraction_to_obj', 'autoencoder_no_nll'):
        if name not in _lazy_cache:
            warnings.warn(
                f"Accessing deprecated module-level singleton '{name}'. "
                "Use create_compiled_model() or create_model_with_gridsize() instead.",
                DeprecationWarning, stacklevel=2)
            _build_module_level_models()
        return _lazy_cache[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
