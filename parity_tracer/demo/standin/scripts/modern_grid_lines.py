#!/usr/bin/env python3
"""Modern grid-lines workflow, scaled down, on the stand-in package.

``GridLinesConfig(...)`` + ``run_grid_lines_workflow(cfg, tf_models=('pinn',))``; writes
``<output-dir>/recons/pinn/recon.npz`` (``YY_pred``, ``amp``, ``phase``).

    python modern_grid_lines.py [--pkg ptycho] [--gridsize 1|2] [--output-dir DIR]
"""
import argparse
import importlib
import os
from pathlib import Path

import numpy as np

try:
    from . import _common
except ImportError:
    import _common


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--pkg', default='ptycho')
    ap.add_argument('--gridsize', type=int, choices=[1, 2], default=1)
    ap.add_argument('--output-dir', default='grid_lines_out')
    ap.add_argument('--N', type=int, default=16)
    ap.add_argument('--size', type=int, default=48)
    ap.add_argument('--nepochs', type=int, default=2)
    ap.add_argument('--nimgs-train', type=int, default=1)
    ap.add_argument('--nimgs-test', type=int, default=1)
    ap.add_argument('--seed', type=int, default=None)
    ap.add_argument('--models', default='pinn', help="comma-separated tf_models (pinn,baseline)")
    args = ap.parse_args(argv)

    # like the grid-lines CLI (the stand-in hashes by data in both modes)
    os.environ.setdefault('PTYCHO_MEMOIZE_KEY_MODE', 'dataset')
    pkg = args.pkg
    _common.import_pkg(pkg, 'modern')
    gl = importlib.import_module(f'{pkg}.workflows.grid_lines_workflow')
    cfg = gl.GridLinesConfig(
        N=args.N, gridsize=args.gridsize, output_dir=Path(args.output_dir),
        probe_npz=Path('unused_probe.npz'), probe_source='ideal_disk', size=args.size,
        nimgs_train=args.nimgs_train, nimgs_test=args.nimgs_test, nepochs=args.nepochs, seed=args.seed)
    result = gl.run_grid_lines_workflow(cfg, tf_models=tuple(args.models.split(',')))

    params = _common.sub(pkg, 'params')
    model = _common.sub(pkg, 'model')
    recon_path = Path(args.output_dir) / 'recons' / 'pinn' / 'recon.npz'
    if recon_path.exists():
        with np.load(recon_path) as recon:
            for key in ('YY_pred', 'amp', 'phase'):
                _common.show(f'recon.{key}', recon[key])
    _common.show('recon_npz', str(recon_path))
    _common.show('train_npz', result['train_npz'])
    _common.show('metrics_keys', ' '.join(sorted(result['metrics'])))
    _common.show_scales(model, params.cfg)
    _common.show('object.big', str(params.cfg['object.big']))
    _common.show_counters(pkg)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
