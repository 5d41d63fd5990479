#!/usr/bin/env python3
"""A multi-arm study in one process, shaped like main's ``scripts/studies/dose_response_study.py``, scaled down.

Arms: nphotons 1e9 and 1e4, each with NLL and MAE loss. ``update_legacy_dict`` with a ``TrainingConfig`` before
each step, as the study does:

* ``--order phases`` (the study's order): simulate every arm (``RawData.from_simulation`` train + test, at
  gridsize 1), then train every arm (``generate_grouped_data`` + ``loader.load`` + ``train_pinn.train_eval`` at
  ``--gridsize``), then stitch every arm (``tf_helper.reassemble_position``);
* ``--order cycles``: simulate -> train -> stitch one arm after the other.

    python modern_dose_study.py [--pkg ptycho] [--order phases|cycles] [--arms high_nll,low_mae] [--gridsize 1|2]
"""
import argparse

import numpy as np

try:
    from . import _common
except ImportError:
    import _common

ARMS = {
    'high_nll': {'nphotons': 1e9, 'loss_type': 'nll'},
    'high_mae': {'nphotons': 1e9, 'loss_type': 'mae'},
    'low_nll': {'nphotons': 1e4, 'loss_type': 'nll'},
    'low_mae': {'nphotons': 1e4, 'loss_type': 'mae'},
}


def make_config(config_mod, nphotons, loss_type, N, gridsize, nepochs, n_groups):
    return config_mod.TrainingConfig(
        model=config_mod.ModelConfig(N=N, gridsize=gridsize, model_type='pinn', object_big=False),
        n_groups=n_groups, nphotons=nphotons, nll_weight=1.0 if loss_type == 'nll' else 0.0,
        mae_weight=1.0 if loss_type == 'mae' else 0.0, nepochs=nepochs, batch_size=16,
        probe_trainable=False, intensity_scale_trainable=True)


def make_object(diffsim, size):
    amp = diffsim.mk_lines_img(2 * size, nlines=size)[size // 2: -size // 2, size // 2: -size // 2, 0]
    amp = 0.5 + amp / amp.max()          # amplitude-only object in [0.5, 1.5], as the study's
    return amp.astype(np.complex64)


class Study:
    def __init__(self, pkg, args):
        self.args = args
        self.pkg = pkg
        self.config = _common.sub(pkg, 'config.config')
        self.params = _common.sub(pkg, 'params')
        self.raw_data = _common.sub(pkg, 'raw_data')
        self.loader = _common.sub(pkg, 'loader')
        self.train_pinn = _common.sub(pkg, 'train_pinn')
        self.tf_helper = _common.sub(pkg, 'tf_helper')
        N = args.N
        self.params.cfg.update({'data_source': 'generic', 'object.big': False})
        self.config.update_legacy_dict(self.params.cfg, self.arm_config('high_nll'))   # the study's A0 check
        np.random.seed(0)   # the study's object is unseeded; seeded here so that every run prints the same numbers
        self.obj = make_object(_common.sub(pkg, 'diffsim'), args.size)
        self.probe = _common.sub(pkg, 'probe').get_default_probe(N, fmt='np').astype(np.complex64)
        self.results = {}

    def arm_config(self, arm, gridsize=None):
        a, args = ARMS[arm], self.args
        return make_config(self.config, a['nphotons'], a['loss_type'], args.N,
                           args.gridsize if gridsize is None else gridsize, args.nepochs, args.n_groups)

    def positions(self, seed, n):
        np.random.seed(seed)
        lo, hi = self.args.N // 2 + 1, self.args.size - self.args.N // 2 - 1
        return np.random.uniform(lo, hi, n), np.random.uniform(lo, hi, n)

    def simulate(self, arm):
        # simulation at gridsize 1 (from_simulation's limit), with the arm's dose and loss
        self.config.update_legacy_dict(self.params.cfg, self.arm_config(arm, gridsize=1))
        data = {}
        for which, seed, n in (('train', 1, self.args.n_train), ('test', 2, self.args.n_test)):
            x, y = self.positions(seed, n)
            data[which] = self.raw_data.RawData.from_simulation(x, y, self.probe, self.obj,
                                                                scan_index=np.zeros(n, dtype=int))
        self.results[arm] = {'data': data}
        _common.show('%s.diff3d_mean' % arm, '%.4g' % float(np.mean(data['train'].diff3d)))

    def train(self, arm):
        self.config.update_legacy_dict(self.params.cfg, self.arm_config(arm))
        containers = {}
        for which, raw in self.results[arm]['data'].items():
            dset = raw.generate_grouped_data(self.args.N, K=4, nsamples=len(raw.xcoords), seed=0,
                                             gridsize=self.args.gridsize)
            containers[which] = self.loader.load(lambda d=dset: d, raw.probeGuess, which=which, create_split=False)
        out = self.train_pinn.train_eval(self.loader.PtychoDataset(containers['train'], containers['test']))
        self.results[arm].update(containers=containers, out=out)
        losses = out['history'].history.get('loss', [])
        _common.show('%s.epochs' % arm, str(len(losses)))

    def infer(self, arm):
        self.config.update_legacy_dict(self.params.cfg, self.arm_config(arm))
        r = self.results[arm]
        image = self.tf_helper.reassemble_position(r['out']['reconstructed_obj'],
                                                   r['containers']['test'].global_offsets, M=self.args.N // 2)
        _common.show('%s.reassembled' % arm, image)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--pkg', default='ptycho')
    ap.add_argument('--order', choices=['phases', 'cycles'], default='phases')
    ap.add_argument('--arms', default=','.join(ARMS), help="comma-separated subset of %s" % ", ".join(ARMS))
    ap.add_argument('--gridsize', type=int, choices=[1, 2], default=1)
    ap.add_argument('--N', type=int, default=16)
    ap.add_argument('--size', type=int, default=48)
    ap.add_argument('--n-train', type=int, default=48)
    ap.add_argument('--n-test', type=int, default=24)
    ap.add_argument('--n-groups', type=int, default=48)
    ap.add_argument('--nepochs', type=int, default=2)
    args = ap.parse_args(argv)
    arms = [a for a in args.arms.split(',') if a]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        ap.error("unknown arm(s): %s" % ", ".join(unknown))

    _common.import_pkg(args.pkg, 'modern')
    study = Study(args.pkg, args)
    if args.order == 'phases':
        for step in (study.simulate, study.train, study.infer):
            for arm in arms:
                step(arm)
    else:
        for arm in arms:
            study.simulate(arm)
            study.train(arm)
            study.infer(arm)
    _common.show('arms', ' '.join(arms))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
