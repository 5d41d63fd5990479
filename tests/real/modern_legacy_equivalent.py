"""Modern legacy-equivalent run (target-api §3.2b): cfg as legacy dose, set_default_probe, generate_data, train_eval."""
import sys
gridsize = int(sys.argv[1]) if len(sys.argv) > 1 else 2
from _dose_cfg import dose_cfg
from ptycho import params
cfg = params.cfg
cfg.update(dose_cfg(gridsize))
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
