"""Stand-in for modern ``ptycho.nbutils``: imports the model lazily (no build at import)."""


def reconstruct_image(test_data, diffraction_to_obj=None):
    from . import params
    if diffraction_to_obj is None:
        from . import model
        diffraction_to_obj = model.diffraction_to_obj      # module __getattr__ -> build if needed
    obj_tensor_full = diffraction_to_obj.predict(
        [test_data.X * params.get('intensity_scale'), test_data.local_offsets])
    return obj_tensor_full, test_data.global_offsets
