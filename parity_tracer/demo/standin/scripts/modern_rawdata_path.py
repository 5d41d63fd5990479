#!/usr/bin/env python3
"""NPZ / non-grid path, scaled down; works on both stand-in layouts.

``RawData.from_simulation(...)`` (optionally ``to_file`` + ``RawData.from_file(npz)``) ->
``generate_grouped_data`` (which calls ``raw_data.normalize_data`` through the module global)
-> ``loader.load(cb, probeGuess, which, create_split)`` -> containers ->
``train_pinn.train_eval`` -> ``tf_helper.reassemble_position``.

    python modern_rawdata_path.py [--pkg ptycho] [--layout modern|legacy] [--source sim|npz]
                                  [--npz FILE] [--gridsize 1|2] [--normalize-gain G]

``--normalize-gain G`` (demo switch, modern layout) sets ``cfg['demo.normalize_gain']``: modern
``raw_data.normalize_data`` multiplies its factor by G (see ``python -m parity_tracer demo``).
"""
import argparse
import inspect
import os

import numpy as np

try:
    from . import _common
except ImportError:
    import _common


def make_object(diffsim, size, rng_seed):
    np.random.seed(rng_seed)
    amp = diffsim.mk_lines_img(2 * size, nlines=size)[size // 2: -size // 2, size // 2: -size // 2, 0]
    amp = amp / amp.max()
    return (amp * np.exp(0.5j * amp)).astype(np.complex64)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--pkg', default='ptycho')
    ap.add_argument('--layout', choices=['modern', 'legacy'], default='modern',
                    help="stand-in layout used when --pkg ptycho is not importable")
    ap.add_argument('--source', choices=['sim', 'npz'], default='npz',
                    help="sim: use RawData.from_simulation directly; npz: round-trip through RawData.from_file")
    ap.add_argument('--npz', default=None, help="existing train NPZ to load instead of simulating")
    ap.add_argument('--gridsize', type=int, choices=[1, 2], default=1, help="grouping/training gridsize")
    ap.add_argument('--N', type=int, default=16)
    ap.add_argument('--size', type=int, default=48)
    ap.add_argument('--step', type=int, default=4)
    ap.add_argument('--nepochs', type=int, default=2)
    ap.add_argument('--nphotons', type=float, default=1e9)
    ap.add_argument('--object-big', type=int, choices=[0, 1], default=1)
    ap.add_argument('--normalize-gain', type=float, default=None,
                    help="demo switch (modern layout): cfg['demo.normalize_gain'], an extra factor in "
                         "raw_data.normalize_data -- a deliberate normalization difference")
    args = ap.parse_args(argv)

    pkg = args.pkg
    _common.import_pkg(pkg, args.layout)
    params = _common.sub(pkg, 'params')
    params.cfg.update({'N': args.N, 'gridsize': 1, 'data_source': 'generic', 'nphotons': args.nphotons,
                       'nepochs': args.nepochs, 'batch_size': 16, 'probe.trainable': False,
                       'intensity_scale.trainable': True, 'object.big': bool(args.object_big)})
    if args.normalize_gain is not None:
        params.cfg['demo.normalize_gain'] = args.normalize_gain
    probe = _common.sub(pkg, 'probe')
    diffsim = _common.sub(pkg, 'diffsim')
    raw_data = _common.sub(pkg, 'raw_data')
    loader = _common.sub(pkg, 'loader')
    RawData = raw_data.RawData

    probe_guess = probe.get_default_probe(args.N, fmt='np').astype(np.complex64)
    pos = np.arange(args.N // 2, args.size - args.N // 2 + 1, args.step, dtype=np.float64)
    xx, yy = np.meshgrid(pos, pos)
    xcoords, ycoords = xx.ravel(), yy.ravel()
    scan_index = np.zeros(len(xcoords), dtype=int)

    raws = {}
    for which, seed in (('train', 1), ('test', 2)):
        if which == 'train' and args.npz:
            raws[which] = RawData.from_file(args.npz)
            continue
        raw = RawData.from_simulation(xcoords, ycoords, probe_guess, make_object(diffsim, args.size, seed),
                                      scan_index=scan_index)
        if args.source == 'npz':
            path = os.path.abspath(f'raw_{which}.npz')
            raw.to_file(path)
            raw = RawData.from_file(path)
            _common.show(f'{which}_npz', path)
        raws[which] = raw

    params.cfg['gridsize'] = args.gridsize
    modern_grouping = 'gridsize' in inspect.signature(RawData.generate_grouped_data).parameters
    containers = {}
    for which, raw in raws.items():
        n_points = len(raw.xcoords)
        if modern_grouping:        # nsamples = number of groups
            dset = raw.generate_grouped_data(args.N, K=4, nsamples=n_points, seed=0, gridsize=args.gridsize)
        else:                      # nsamples = groups per scan point
            dset = raw.generate_grouped_data(args.N, K=7, nsamples=1)
        _common.show(f'{which}.X_full', dset['X_full'])
        _common.show(f'{which}.coords_relative', dset['coords_relative'])
        containers[which] = loader.load(lambda d=dset: d, raw.probeGuess, which=which, create_split=False)
    dataset = loader.PtychoDataset(containers['train'], containers['test'])

    train_pinn = _common.sub(pkg, 'train_pinn')
    results = train_pinn.train_eval(dataset)
    tf_helper = _common.sub(pkg, 'tf_helper')
    test = containers['test']
    image = tf_helper.reassemble_position(results['reconstructed_obj'], test.global_offsets, M=args.N // 2)

    _common.show('local_offset_sign', str(raw_data.local_offset_sign))
    _common.show('diff3d', raws['train'].diff3d)
    _common.show('reconstructed_obj', results['reconstructed_obj'])
    _common.show('stitched_obj', results['stitched_obj'])
    _common.show('reassembled', image)
    n_rows, n_groups = len(results['reconstructed_obj']), len(test.global_offsets)
    _common.show('batch_collapse', f"test_groups={n_groups} predicted_rows={n_rows} collapsed={n_rows != n_groups}")
    _common.show('history_keys', ' '.join(sorted(results['history'].history)))
    _common.show_scales(_common.sub(pkg, 'model'), params.cfg)
    _common.show_counters(pkg)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
