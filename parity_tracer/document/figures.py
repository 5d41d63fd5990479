"""Images of a run's stitched reconstruction (``amplitude.png``, ``phase.png``), rendered offline on demand.

Never inside the traced program: importing matplotlib and rendering cost about half a second, which the
program's exit would pay. The reduce at exit saves the ``.npy`` arrays only; ``bundle`` and the standalone
``reduce`` render from them (matplotlib is optional: without it they say so and carry on).
"""

from parity_tracer import outputs

PNG_NAMES = {"amplitude": "amplitude.png", "phase": "phase.png"}
PNG_UNITS = {"amplitude": "amplitude |O| (arb. units)", "phase": "phase (rad)"}
NOT_AT_EXIT = ("amplitude/phase PNGs are not rendered inside the traced program: `python -m parity_tracer bundle` "
               "renders them from the saved arrays")


def unavailable():
    """None when images can be rendered, else why not (one line)."""
    try:
        import matplotlib  # noqa: F401  (optional dependency: the ``plots`` extra)
    except ImportError:
        return "matplotlib is not installed"
    return None


def as_image(array):
    """A 2-D real image of an array: squeezed, the first image of a stack, the amplitude of complex values.

    None when the array is not numeric or has fewer than two dimensions.
    """
    import numpy as np
    a = np.squeeze(np.asarray(array))
    if a.dtype.kind not in "biufc" or a.ndim < 2:
        return None
    while a.ndim > 2:
        a = a[0]
    return np.abs(a) if np.iscomplexobj(a) else a


def render_image(array, path, title, unit=None):
    """PNG with matplotlib's Agg canvas directly: no pyplot, so no global backend switch."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    import numpy as np
    fig = Figure(figsize=(4, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(np.asarray(array, dtype=np.float64), cmap="viridis")
    bar = fig.colorbar(image, ax=ax)
    if unit:
        bar.set_label(unit)
    ax.set_title(title, fontsize=10)
    outputs.replace(path, lambda fh: fig.savefig(fh, format="png", dpi=80, metadata={"Software": None}))
