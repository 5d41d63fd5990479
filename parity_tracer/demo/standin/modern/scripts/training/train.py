#!/usr/bin/env python
"""Stand-in for main's ``scripts/training/train.py``, the NPZ training path.

Same command-line names as the real script for what ``dose-experiments --train-npz`` passes; the same flow:
TrainingConfig -> update_legacy_dict -> RawData.from_file (train, test) -> generate_grouped_data(nsamples =
n_groups, K = neighbor_count) -> loader.load -> train_pinn.train_eval -> model_manager.save(output_dir).
"""
import argparse
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from ptycho import loader, model_manager, params, train_pinn  # noqa: E402
from ptycho.config.config import ModelConfig, TrainingConfig, update_legacy_dict  # noqa: E402
from ptycho.raw_data import RawData  # noqa: E402


def parse_arguments(argv=None):
    ap = argparse.ArgumentParser(description="Non-grid CDI Example Script (stand-in)")
    ap.add_argument("--train_data_file", type=Path, required=True)
    ap.add_argument("--test_data_file", type=Path, required=True)
    ap.add_argument("--N", type=int, default=64)
    ap.add_argument("--gridsize", type=int, default=1)
    ap.add_argument("--nepochs", type=int, default=50)
    ap.add_argument("--nphotons", type=float, default=1e9)
    ap.add_argument("--n_groups", type=int, default=None)
    ap.add_argument("--neighbor_count", type=int, default=4)
    ap.add_argument("--nll_weight", type=float, default=1.0)
    ap.add_argument("--mae_weight", type=float, default=0.0)
    ap.add_argument("--subsample_seed", type=int, default=None)
    ap.add_argument("--output_dir", type=Path, default=Path("training_outputs"))
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_arguments(argv)
    config = TrainingConfig(model=ModelConfig(N=args.N, gridsize=args.gridsize), train_data_file=args.train_data_file,
                            test_data_file=args.test_data_file, nepochs=args.nepochs, nphotons=args.nphotons,
                            n_groups=args.n_groups, neighbor_count=args.neighbor_count, nll_weight=args.nll_weight,
                            mae_weight=args.mae_weight, subsample_seed=args.subsample_seed, output_dir=args.output_dir)
    update_legacy_dict(params.cfg, config)
    params.cfg['data_source'] = 'generic'
    containers = {}
    for which, path in (("train", config.train_data_file), ("test", config.test_data_file)):
        raw = RawData.from_file(str(path))
        dset = raw.generate_grouped_data(config.model.N, K=config.neighbor_count, nsamples=config.n_groups,
                                         seed=config.subsample_seed, gridsize=config.model.gridsize)
        containers[which] = loader.load(lambda d=dset: d, raw.probeGuess, which=None, create_split=False)
    results = train_pinn.train_eval(loader.PtychoDataset(containers["train"], containers["test"]))
    os.makedirs(config.output_dir, exist_ok=True)
    model_manager.save(str(config.output_dir))
    print("history keys", sorted(results["history"].history))
    return 0


if __name__ == "__main__":
    sys.exit(main())
