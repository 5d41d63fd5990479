"""Legacy dose_experiments gs2/gs1 minimal run (target-api §7): cfg as dose.init/execute, set_default_probe, import ptycho.train."""
import sys
gridsize = int(sys.argv[1]) if len(sys.argv) > 1 else 2
from ptycho.params import cfg
cfg.update({'positions.provided': False, 'data_source': 'lines', 'set_phi': False, 'offset': 4,
            'max_position_jitter': 10, 'output_prefix': 'lines2', 'gridsize': gridsize, 'n_filters_scale': 2,
            'object.big': True, 'intensity_scale.trainable': True, 'probe.trainable': False,
            'outer_offset_train': 8, 'outer_offset_test': 20, 'nimgs_train': 1, 'nimgs_test': 1,
            'nphotons': 1e9, 'N': 64, 'size': 128, 'nepochs': 1})
from ptycho import probe
probe.set_default_probe()
import ptycho.train as train
print("stitched_obj", tuple(train.stitched_obj.shape))
print("YY_ground_truth", tuple(train.YY_ground_truth.shape))
print("train_output keys", sorted(train.train_output.keys()))
