#!/usr/bin/env python3
"""Legacy dose flow, scaled down, on the stand-in package.

Like ``notebooks/dose.py``: write cfg keys (``init``/``execute``), call
``probe.set_default_probe()``, then import ``<pkg>.train`` -- the whole pipeline runs during
that import. ``--reload`` then reloads modules the way ``run_experiment_with_photons`` does
and runs the pipeline again.

    python legacy_dose.py [--pkg ptycho] [--gridsize 2] [--nphotons 1e9] [--reload]
"""
import argparse
import importlib


try:
    from . import _common
except ImportError:
    import _common


def init(cfg, args):
    """``dose.init`` + the cfg writes of ``dose.execute``, scaled down (N, size, nimgs, nepochs)."""
    cfg['positions.provided'] = False
    cfg['data_source'] = 'lines'
    cfg['set_phi'] = False
    cfg['nepochs'] = args.nepochs
    cfg['offset'] = 4
    cfg['output_prefix'] = 'lines2'
    cfg['gridsize'] = args.gridsize
    cfg['n_filters_scale'] = 2
    cfg['object.big'] = True
    cfg['intensity_scale.trainable'] = True
    cfg['probe.trainable'] = False
    cfg['outer_offset_train'] = 8
    cfg['outer_offset_test'] = 20
    cfg['nimgs_train'] = args.nimgs_train
    cfg['nimgs_test'] = args.nimgs_test
    cfg['nphotons'] = args.nphotons
    cfg['max_position_jitter'] = 10
    cfg['N'] = args.N
    cfg['size'] = args.size
    if args.loss_fn == 'mae':
        cfg['mae_weight'] = 1.
        cfg['nll_weight'] = 0.


def report(pkg, train):
    params = _common.sub(pkg, 'params')
    model = _common.sub(pkg, 'model')
    _common.show('stitched_obj', train.stitched_obj)
    _common.show('YY_ground_truth', train.YY_ground_truth)
    _common.show('X_train', train.ptycho_dataset.train_data.X)
    _common.show('X_test', train.ptycho_dataset.test_data.X)
    _common.show('coords_train', train.ptycho_dataset.train_data.coords_nominal)
    _common.show('reconstructed_obj', train.train_output['reconstructed_obj'])
    _common.show('pred_amp', train.train_output['pred_amp'])
    _common.show('history_keys', ' '.join(sorted(train.history.history)))
    _common.show('epochs', str(len(train.history.epoch)))
    # the containers' norm_Y_I slot holds the train simulation intensity_scale
    _common.show_scales(model, params.cfg, train.ptycho_dataset.train_data.norm_Y_I)
    _common.show('output_prefix', params.cfg['output_prefix'])
    _common.show_counters(pkg)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--pkg', default='ptycho', help="package name to import (default: ptycho)")
    ap.add_argument('--gridsize', type=int, default=2)
    ap.add_argument('--nphotons', type=float, default=1e9)
    ap.add_argument('--nepochs', type=int, default=2)
    ap.add_argument('--nimgs-train', type=int, default=1)
    ap.add_argument('--nimgs-test', type=int, default=1)
    ap.add_argument('--N', type=int, default=16)
    ap.add_argument('--size', type=int, default=48)
    ap.add_argument('--loss-fn', choices=['nll', 'mae'], default='nll')
    ap.add_argument('--reload', action='store_true', help="reload modules like dose.py and run again")
    args = ap.parse_args(argv)

    pkg = args.pkg
    _common.import_pkg(pkg, 'legacy')
    params = _common.sub(pkg, 'params')
    init(params.cfg, args)
    _common.sub(pkg, 'probe').set_default_probe()

    train = importlib.import_module(f'{pkg}.train')     # runs the pipeline
    _common.show('run', '1')
    report(pkg, train)

    if args.reload:
        init(params.cfg, args)      # run_experiment_with_photons calls init + execute again
        # dose.py reloads train.train_pinn.model, which is not an attribute of train_pinn
        _common.show('train_pinn_has_model_attr', str(hasattr(train.train_pinn, 'model')))
        importlib.reload(train.generate_data)
        importlib.reload(train.model)
        importlib.reload(train.train_pinn)
        train = importlib.reload(train)
        _common.show('run', '2')
        report(pkg, train)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
