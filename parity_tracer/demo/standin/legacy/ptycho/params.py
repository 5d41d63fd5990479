"""Global configuration dict ``cfg`` (stand-in for legacy ``ptycho.params``)."""
import numpy as np

cfg = {
    'N': 64, 'offset': 4, 'gridsize': 2,
    'outer_offset_train': None, 'outer_offset_test': None, 'batch_size': 16,
    'nepochs': 60, 'n_filters_scale': 2, 'output_prefix': 'outputs',
    'big_gridsize': 10, 'max_position_jitter': 10, 'sim_jitter_scale': 0.,
    'default_probe_scale': 0.7, 'mae_weight': 0., 'nll_weight': 1., 'tv_weight': 0.,
    'realspace_mae_weight': 0., 'realspace_weight': 0., 'nphotons': 1e9,
    'nimgs_train': 9, 'nimgs_test': 3,
    'data_source': 'lines', 'probe.trainable': False,
    'intensity_scale.trainable': False, 'positions.provided': False,
    'object.big': True, 'probe.big': False, 'probe_scale': 10., 'set_phi': False,
    'probe.mask': True, 'pad_object': True, 'model_type': 'pinn', 'label': '', 'size': 392,
    'amp_activation': 'sigmoid', 'h5_path': 'wts.h5', 'npseed': 42,
    'debug': True,
    'gaussian_smoothing_sigma': 0.0,
}


def get_bigN():
    return cfg['N'] + (cfg['gridsize'] - 1) * cfg['offset']


def get_padding_size():
    return (cfg['gridsize'] - 1) * cfg['offset'] + cfg['max_position_jitter']


def get_padded_size():
    return get_bigN() + cfg['max_position_jitter']


def params():
    d = dict(cfg)
    d['bigN'] = get_bigN()
    return d


def validate():
    valid_data_sources = ['lines', 'grf', 'experimental', 'points',
                          'testimg', 'diagonals', 'xpp', 'V', 'generic']
    assert cfg['data_source'] in valid_data_sources, \
        f"Invalid data source: {cfg['data_source']}. Must be one of {valid_data_sources}."
    if cfg['realspace_mae_weight'] > 0.:
        assert cfg['realspace_weight'] > 0
    return True


def _short(value):
    if isinstance(value, np.ndarray) and value.size > 1:
        return f"<array shape={value.shape} dtype={value.dtype}>"
    return value


def set(key, value):
    # the real legacy code prints whole probe tensors here
    print("DEBUG: Setting", key, "to", _short(value), "in params")
    cfg[key] = value
    assert validate()


def get(key):
    if key == 'bigN':
        cfg['bigN'] = get_bigN()
        return cfg['bigN']
    return cfg[key]


def print_params():
    """Print all parameters (arrays summarized)."""
    parts = []
    for key, value in sorted(params().items()):
        if isinstance(value, np.ndarray) and value.size > 1:
            parts.append(f"{key}=<{value.shape} mean|.|={np.mean(np.abs(value)):.3f}>")
        else:
            parts.append(f"{key}={value}")
    print("Current Parameters: " + ", ".join(parts))
