"""Stand-in for modern ``ptycho.train_pinn``.

``reassemble_patches`` and ``_reassemble_patches`` are module-level from-import aliases of
``ptycho.image.stitching.reassemble_patches`` (through the ``ptycho.image`` re-export).
"""
import numpy as np

from . import params
from .loader import PtychoDataContainer
from .image import reassemble_patches


def train(train_data: PtychoDataContainer, intensity_scale=None, model_instance=None):
    from . import params as p
    if intensity_scale is None:
        intensity_scale = calculate_intensity_scale(train_data)
    p.set('intensity_scale', intensity_scale)

    from . import probe
    probe.set_probe_guess(None, train_data.probe)

    from . import model
    if model_instance is None:
        # a fresh model built now, i.e. after the intensity_scale overwrite
        model_instance, diffraction_to_obj = model.create_compiled_model()
        model.autoencoder = model_instance
        model.diffraction_to_obj = diffraction_to_obj
    nepochs = params.cfg['nepochs']
    params.print_params()
    return model_instance, model.train(nepochs, train_data, model_instance=model_instance)


def train_eval(ptycho_dataset, model_instance=None):
    model_instance, history = train(ptycho_dataset.train_data, model_instance=model_instance)
    results = {
        'history': history,
        'model_instance': model_instance,
    }
    if ptycho_dataset.test_data is not None:
        eval_results = eval(ptycho_dataset.test_data, history, trained_model=model_instance)
        config = ptycho_dataset.test_data.config if hasattr(ptycho_dataset.test_data, 'config') else params.cfg
        try:
            stitched_obj = reassemble_patches(eval_results['reconstructed_obj'], config, part='complex')
        except ValueError as e:
            print(e)
            stitched_obj = None
        results.update({
            'reconstructed_obj': eval_results['reconstructed_obj'],
            'pred_amp': eval_results['pred_amp'],
            'reconstructed_obj_cdi': eval_results['reconstructed_obj_cdi'],
            'stitched_obj': stitched_obj,
        })
    return results


def load_model(model_path):
    from .model_manager import load_model as _load
    return _load(model_path)


def eval(test_data, history=None, trained_model=None, model_path=None):
    """Predict on the test container and stitch with ``data_preprocessing.reassemble``."""
    from .data_preprocessing import reassemble

    from . import probe
    probe.set_probe_guess(None, test_data.probe)
    print('INFO:', 'setting probe from test data container. It MUST be consistent with the training probe')

    if model_path is not None:
        print(f"Loading model from {model_path}")
        trained_model = load_model(model_path)
    elif trained_model is None:
        raise ValueError("Either a trained model instance or a model path must be provided.")

    reconstructed_obj, pred_amp, reconstructed_obj_cdi = trained_model.predict(
        [test_data.X * params.get('intensity_scale'), test_data.coords_nominal]
    )
    try:
        stitched_obj = reassemble(reconstructed_obj, part='complex')
    except (ValueError, TypeError) as e:
        stitched_obj = None
        print('Object stitching failed:', e)
    return {
        'reconstructed_obj': reconstructed_obj,
        'pred_amp': pred_amp,
        'reconstructed_obj_cdi': reconstructed_obj_cdi,
        'stitched_obj': stitched_obj,
    }


def calculate_intensity_scale(ptycho_data_container: PtychoDataContainer) -> float:
    """sqrt(nphotons) / (N / 2) as float32; the data are ignored."""
    from . import params as p
    return np.float32(np.sqrt(p.get('nphotons')) / (p.get('N') / 2))


# New alternative implementation
from .image import reassemble_patches as _reassemble_patches  # noqa: E402


def stitch_eval_result(reconstructed_obj, config, **kwargs):
    try:
        return _reassemble_patches(reconstructed_obj, config, part='complex', **kwargs)
    except (ValueError, TypeError) as e:
        print('Object stitching failed:', e)
        return None
