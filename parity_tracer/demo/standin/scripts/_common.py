"""Helpers shared by the stand-in driver scripts (import by ``--pkg`` name, uniform output)."""
import importlib
import importlib.util
import os
import sys

import numpy as np

STANDIN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(STANDIN_DIR)))


def import_pkg(pkg, default_layout):
    """Import the ``ptycho`` package named ``pkg``.

    If ``pkg`` is the bare ``ptycho`` and nothing on ``sys.path`` provides it, the stand-in
    ``default_layout`` directory is put first on ``sys.path``; a ``parity_tracer.…`` name makes
    the repository root importable when it is not already.
    """
    if pkg == 'ptycho' and importlib.util.find_spec('ptycho') is None:
        sys.path.insert(0, os.path.join(STANDIN_DIR, default_layout))
    elif pkg.startswith('parity_tracer.') and importlib.util.find_spec('parity_tracer') is None:
        sys.path.insert(0, REPO_ROOT)
    mod = importlib.import_module(pkg)
    show('package', f"{pkg} {os.path.dirname(os.path.abspath(mod.__file__))}")
    return mod


def sub(pkg, name):
    return importlib.import_module(f'{pkg}.{name}')


def describe(value):
    if value is None:
        return 'None'
    if isinstance(value, np.ndarray) or (hasattr(value, 'shape') and hasattr(value, 'dtype')):
        arr = np.asarray(value)
        return f"{tuple(arr.shape)} {arr.dtype}"
    return repr(value)


def show(key, value):
    """Print one ``RESULT <key> <description>`` line (what the tests look for)."""
    text = value if isinstance(value, str) else describe(value)
    print(f"RESULT {key} {text}", flush=True)


def model_scale(model):
    """exp(log_scale) of the model: legacy module global / modern ``_lazy_cache`` (nan if absent)."""
    var = model.__dict__.get('log_scale')
    if var is None:
        var = model.__dict__.get('_lazy_cache', {}).get('log_scale')
    return float('nan') if var is None else float(np.exp(var.numpy()))


def show_scales(model, cfg, sim_scale=None):
    text = f"cfg={float(np.asarray(cfg['intensity_scale'])):.2f} model={model_scale(model):.2f}"
    if sim_scale is not None:
        text = f"sim={float(np.asarray(sim_scale)):.2f} " + text
    show('intensity_scale', text)


def show_counters(pkg):
    diffsim = sub(pkg, 'diffsim')
    show('sim_calls', ' '.join(f"{k}={v}" for k, v in sorted(diffsim._calls.items())))
    model = sys.modules.get(f'{pkg}.model')
    if model is not None:
        show('model_builds', str(model.__dict__.get('_builds', 0)))
    loader = sub(pkg, 'loader')
    if hasattr(loader, '_lazy_conversions'):
        show('lazy_conversions', str(loader._lazy_conversions))
