"""The saved arrays (stitched amplitude / phase, ground truth) read as 2-D images, and their statistics."""


def finite(a):
    """The finite values of an array, flattened, as float64 (the modulus of complex values)."""
    import numpy as np
    a = np.asarray(a)
    if np.iscomplexobj(a):
        a = np.abs(a)
    a = a.astype(np.float64, copy=False).ravel()
    return a[np.isfinite(a)]


def array_stats(a):
    """min/max/mean/std over the finite values, and the NaN count, of an array (None for None)."""
    import numpy as np
    if a is None:
        return None
    arr = np.asarray(a)
    if np.iscomplexobj(arr):
        arr = np.abs(arr)
    f = finite(arr)
    return {"min": float(f.min()) if f.size else None, "max": float(f.max()) if f.size else None,
            "mean": float(f.mean()) if f.size else None, "std": float(f.std()) if f.size else None,
            "nan_count": int(np.isnan(arr).sum()) if arr.dtype.kind == "f" else 0}



def as_2d(a, label, run):
    import numpy as np
    if a is None:
        return None
    a = np.squeeze(np.asarray(a))
    if a.dtype.kind not in "biufc":
        run.note("%s is not numeric (dtype %s)" % (label, a.dtype))
        return None
    if a.ndim < 2:
        run.note("%s is not an image (shape %s)" % (label, list(a.shape)))
        return None
    if a.ndim > 2:
        run.note("%s has shape %s: the first image is used" % (label, list(a.shape)))
        while a.ndim > 2:
            a = a[0]
    return a


def amp_phase(run, paths, amp_name, phase_name):
    """(amplitude 2-D, phase 2-D) from the npy artifacts; a complex amplitude file supplies both."""
    amp = as_2d(run.load_array(paths.get(amp_name)), amp_name, run)
    phase = as_2d(run.load_array(paths.get(phase_name)), phase_name, run)
    return split_complex(amp, phase)


def split_complex(amp, phase):
    """(amplitude, phase) of an amplitude and a phase image (each may be None): a complex amplitude image
    supplies both, a complex phase image its angle."""
    import numpy as np
    if amp is not None and np.iscomplexobj(amp):
        if phase is None:
            phase = np.angle(amp)
        amp = np.abs(amp)
    if phase is not None and np.iscomplexobj(phase):
        phase = np.angle(phase)
    return amp, phase



def crop_box(shape, size):
    """``(start, end)`` of the centred ``size`` x ``size`` window of an image of ``shape``."""
    start = [(shape[0] - size) // 2, (shape[1] - size) // 2]
    return start, [start[0] + size, start[1] + size]


