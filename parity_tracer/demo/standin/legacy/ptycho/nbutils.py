"""Stand-in for legacy ``ptycho.nbutils``: importing it imports (= builds) the model."""
from . import model
from . import params


def reconstruct_image(test_data, diffraction_to_obj=None):
    if diffraction_to_obj is None:
        diffraction_to_obj = model.diffraction_to_obj
    obj_tensor_full = diffraction_to_obj.predict(
        [test_data.X * params.get('intensity_scale'), test_data.local_offsets])
    return obj_tensor_full, test_data.global_offsets
