"""Legacy dose_experiments gs2/gs1 minimal run (target-api §7): cfg as dose.init/execute, set_default_probe, import ptycho.train."""
import sys
gridsize = int(sys.argv[1]) if len(sys.argv) > 1 else 2
from _dose_cfg import dose_cfg
from ptycho.params import cfg
cfg.update(dose_cfg(gridsize))
from ptycho import probe
probe.set_default_probe()
import ptycho.train as train
print("stitched_obj", tuple(train.stitched_obj.shape))
print("YY_ground_truth", tuple(train.YY_ground_truth.shape))
print("train_output keys", sorted(train.train_output.keys()))
