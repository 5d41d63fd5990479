"""Stand-in for legacy ``ptycho/train.py``: the WHOLE PIPELINE RUNS AT IMPORT TIME.

Output directory from ``misc.get_path_prefix()``; ``from . import generate_data`` (simulation);
``from . import model`` (build); ``train_pinn.train_eval``; ``export.save_recons``;
``history.dill``; ``model_manager.save``. Results are module globals: ``stitched_obj``,
``YY_ground_truth``, ``train_output``, ``history``, ``ptycho_dataset``, ``d``.
"""
import os
import pickle

from . import model_manager
from .export import save_recons
from . import params
from . import misc

save_model = True
save_data = False

model_type = params.cfg['model_type']
label = params.cfg['label']
offset = params.cfg['offset']
params.cfg['output_prefix'] = misc.get_path_prefix()

out_prefix = params.get('output_prefix')
os.makedirs(out_prefix, exist_ok=True)

from . import generate_data  # noqa: E402
ptycho_dataset = generate_data.ptycho_dataset
YY_ground_truth = generate_data.YY_ground_truth
YY_test_full = generate_data.YY_test_full
Y_I_test = generate_data.Y_I_test
Y_phi_test = generate_data.Y_phi_test
X_test = generate_data.X_test
norm_Y_I_test = generate_data.norm_Y_I_test
from . import model  # noqa: E402

if model_type == 'pinn':
    from . import train_pinn
    train_output = train_pinn.train_eval(ptycho_dataset)
    pred_amp = train_output['pred_amp']
    history = train_output['history']
    reconstructed_obj = train_output['reconstructed_obj']
    stitched_obj = train_output['stitched_obj']
else:
    raise ValueError(model_type)

d = save_recons(model_type, stitched_obj)

with open(out_prefix + '/history.dill', 'wb') as file_pi:
    pickle.dump(history.history, file_pi)

if save_model:
    model_manager.save(out_prefix)
