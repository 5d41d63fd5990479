#!/usr/bin/env python3
"""The "legacy-equivalent" flow on main, scaled down, on the stand-in package.

cfg as in the legacy dose row, ``probe.set_default_probe()``,
``data_preprocessing.generate_data()``, ``train_pinn.train_eval(dataset)``. With gridsize 2,
object.big True and >= 64 patches per predict batch (e.g. ``--nimgs-test 2``) the predicted
batch collapses (finding §0.5) and stitching fails.

    python modern_legacy_equivalent.py [--pkg ptycho] [--gridsize 2] [--nimgs-test 1]
"""
import argparse

import numpy as np

try:
    from . import _common
except ImportError:
    import _common


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--pkg', default='ptycho')
    ap.add_argument('--gridsize', type=int, default=2)
    ap.add_argument('--nphotons', type=float, default=1e9)
    ap.add_argument('--nepochs', type=int, default=2)
    ap.add_argument('--nimgs-train', type=int, default=1)
    ap.add_argument('--nimgs-test', type=int, default=1)
    ap.add_argument('--object-big', type=int, choices=[0, 1], default=1)
    ap.add_argument('--N', type=int, default=16)
    ap.add_argument('--size', type=int, default=48)
    args = ap.parse_args(argv)

    pkg = args.pkg
    _common.import_pkg(pkg, 'modern')
    params = _common.sub(pkg, 'params')
    cfg = params.cfg
    cfg.update({
        'N': args.N, 'size': args.size, 'data_source': 'lines', 'set_phi': False, 'positions.provided': False,
        'gridsize': args.gridsize, 'offset': 4, 'max_position_jitter': 10, 'n_filters_scale': 2,
        'object.big': bool(args.object_big), 'intensity_scale.trainable': True, 'probe.trainable': False,
        'outer_offset_train': 8, 'outer_offset_test': 20, 'nimgs_train': args.nimgs_train,
        'nimgs_test': args.nimgs_test, 'nepochs': args.nepochs, 'nphotons': args.nphotons,
    })
    _common.sub(pkg, 'probe').set_default_probe()
    data_preprocessing = _common.sub(pkg, 'data_preprocessing')
    dataset = data_preprocessing.generate_data()
    X_train, YY_ground_truth, ptycho_dataset = dataset[0], dataset[6], dataset[7]
    sim_scale = float(np.asarray(params.cfg['intensity_scale']))

    train_pinn = _common.sub(pkg, 'train_pinn')
    results = train_pinn.train_eval(ptycho_dataset)

    model = _common.sub(pkg, 'model')
    _common.show('X_train', X_train)
    _common.show('YY_ground_truth', YY_ground_truth)
    _common.show('X_test', ptycho_dataset.test_data.X)
    _common.show('reconstructed_obj', results['reconstructed_obj'])
    _common.show('pred_amp', results['pred_amp'])
    _common.show('stitched_obj', results['stitched_obj'])
    _common.show('history_keys', ' '.join(sorted(results['history'].history)))
    n_groups = len(ptycho_dataset.test_data.X)
    n_rows = len(results['reconstructed_obj'])
    _common.show('batch_collapse', f"test_groups={n_groups} predicted_rows={n_rows} collapsed={n_rows != n_groups}")
    _common.show_scales(model, params.cfg, sim_scale)
    _common.show_counters(pkg)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
