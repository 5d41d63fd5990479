"""Modern legacy-equivalent run (target-api §3.2b): cfg as legacy dose, set_default_probe, generate_data, train_eval."""
import sys
gridsize = int(sys.argv[1]) if len(sys.argv) > 1 else 2
from ptycho import params
cfg = params.cfg
cfg.update({'positions.provided': False, 'data_source': 'lines', 'set_phi': False, 'offset': 4,
            'max_position_jitter': 10, 'output_prefix': 'lines2', 'gridsize': gridsize, 'n_filters_scale': 2,
            'object.big': True, 'intensity_scale.trainable': True, 'probe.trainable': False,
            'outer_offset_train': 8, 'outer_offset_test': 20, 'nimgs_train': 1, 'nimgs_test': 1,
            'nphotons': 1e9, 'N': 64, 'size': 128, 'nepochs': 1})
from ptycho import probe
probe.set_default_probe()
from ptycho import data_preprocessing, train_pinn
out = data_preprocessing.generate_data()
dataset = out[7]
res = train_pinn.train_eval(dataset)
print("train_eval keys", sorted(res.keys()))
print("reconstructed_obj", tuple(res["reconstructed_obj"].shape))
so = res.get("stitched_obj")
print("stitched_obj", None if so is None else tuple(so.shape))
