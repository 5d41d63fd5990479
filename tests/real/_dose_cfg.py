"""The legacy dose settings of target-api §7 (dose.init / dose.execute at the small size), shared by the drivers."""


def dose_cfg(gridsize):
    return {'positions.provided': False, 'data_source': 'lines', 'set_phi': False, 'offset': 4,
            'max_position_jitter': 10, 'output_prefix': 'lines2', 'gridsize': gridsize, 'n_filters_scale': 2,
            'object.big': True, 'intensity_scale.trainable': True, 'probe.trainable': False,
            'outer_offset_train': 8, 'outer_offset_test': 20, 'nimgs_train': 1, 'nimgs_test': 1,
            'nphotons': 1e9, 'N': 64, 'size': 128, 'nepochs': 1}
