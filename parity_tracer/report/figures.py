"""The report's figures as PNG bytes, drawn with matplotlib's Agg canvas (no pyplot: no global backend state).

matplotlib is optional (the ``plots`` extra): ``available()`` says whether figures can be drawn; every
function returns PNG bytes, or None when there is nothing to draw. Every image panel is titled with the run's
name and the quantity, and its colour bar carries the unit or scale.
"""

import io
import math

DPI = 100
AMP_UNIT = "amplitude |O| (arb. units)"
PHASE_UNIT = "phase (rad)"
PROBE_AMP_UNIT = "|P| (arb. units)"
DIFF_CMAP, IMAGE_CMAP, PHASE_CMAP = "RdBu_r", "viridis", "cividis"
TITLE_WIDTH = 34   # characters per title line: long run names wrap instead of running into the next panel
WIDTH = 11.5   # inches at DPI 100: fits a 1280 px page with margins


def available():
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _finite_range(arrays, symmetric=False):
    import numpy as np
    lo, hi = math.inf, -math.inf
    for a in arrays:
        if a is None:
            continue
        f = a[np.isfinite(a)]
        if f.size:
            lo, hi = min(lo, float(f.min())), max(hi, float(f.max()))
    if lo > hi:
        return None, None
    if symmetric:
        m = max(abs(lo), abs(hi)) or 1.0
        return -m, m
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def _grid_width(columns):
    """Inches for a grid of image columns: a few columns stay compact instead of spreading over the page."""
    return min(WIDTH, 1.4 + 3.6 * columns)


def _fmt(v, spec="%.4g"):
    return "—" if v is None else spec % v


def _wrap(title):
    import textwrap
    return "\n".join(textwrap.fill(line, TITLE_WIDTH) for line in title.split("\n"))


def _panel(fig, ax, arr, title, unit, cmap, vmin=None, vmax=None, caption=None):
    import numpy as np
    title = _wrap(title)
    if arr is None:
        ax.text(0.5, 0.5, "not available", ha="center", va="center", transform=ax.transAxes, color="grey")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    image = ax.imshow(np.asarray(arr, dtype=np.float64), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    bar.set_label(unit, fontsize=8)
    bar.ax.tick_params(labelsize=7)
    if caption:
        ax.set_xlabel(caption, fontsize=8)


# -- one image per file -------------------------------------------------------------------------------------------

def run_image(arr, title, unit, cmap=IMAGE_CMAP, caption=None):
    """One image as its own PNG: titled with the run's name and the quantity, colour bar with the unit."""
    if arr is None:
        return None
    fig = _figure(5.2, 4.6)
    _panel(fig, fig.add_subplot(1, 1, 1), arr, title, unit, cmap, caption=caption)
    fig.tight_layout()
    return _png(fig)


def run_images(runs):
    """{file name: PNG} of every run's images: reconstruction, ground truth, probe before / after."""
    import numpy as np
    out = {}
    for run in runs:
        arr, who = run["arrays"], "%s: %s" % (run["label"], run["name"])
        items = (("amplitude", arr["amplitude"], "stitched amplitude", AMP_UNIT, IMAGE_CMAP),
                 ("phase", arr["phase"], "stitched phase", PHASE_UNIT, PHASE_CMAP),
                 ("truth-amplitude", arr["truth_amplitude"], "ground truth amplitude", AMP_UNIT, IMAGE_CMAP),
                 ("truth-phase", arr["truth_phase"], "ground truth phase", PHASE_UNIT, PHASE_CMAP),
                 ("probe-pre", np.abs(arr["probe_pre"]) if arr["probe_pre"] is not None else None,
                  "probe |P| before normalization", PROBE_AMP_UNIT, IMAGE_CMAP),
                 ("probe-post", np.abs(arr["probe_post"]) if arr["probe_post"] is not None else None,
                  "probe |P| after normalization", PROBE_AMP_UNIT, IMAGE_CMAP))
        for key, image, what, unit, cmap in items:
            caption = _caption(run["metrics"].get(key)) if key in ("amplitude", "phase") else None
            png = run_image(image, "%s\n%s" % (who, what), unit, cmap, caption)
            if png is not None:
                out["%s-%s.png" % (run["label"], key)] = png
    return out


# -- stages -------------------------------------------------------------------------------------------------------

def stage_means(comparison, names):
    from parity_tracer.maintainer import compare
    buf = io.BytesIO()
    problem = compare.plot_stage_means(comparison, buf, run_names=names)
    return None if problem else buf.getvalue()


# -- reconstructions ---------------------------------------------------------------------------------------------

def _caption(metrics):
    """MAE, pearson_r (r), least-squares scale (LS) and, when known, the stitch gain applied to the image."""
    if not metrics:
        return None
    parts = []
    if any(metrics.get(k) is not None for k in ("mae", "pearson_r", "least_squares_scalar")):
        parts = ["MAE %s" % _fmt(metrics.get("mae")), "r %s" % _fmt(metrics.get("pearson_r"), "%.3f")]
        if metrics.get("least_squares_scalar") is not None:
            parts.append("LS x%s" % _fmt(metrics["least_squares_scalar"]))
    if metrics.get("stitch_gain") is not None:
        parts.append("stitched x%s" % _fmt(metrics["stitch_gain"]))
    return ", ".join(parts) or None


def reconstruction_grid(columns, shared):
    """Amplitude (row 1) and phase (row 2) of each column (title, amp, phase, {part: metrics}).

    ``shared``: one colour scale per row (the scale of every image in the row), else each image its own."""
    if not columns or all(c[1] is None and c[2] is None for c in columns):
        return None
    fig = _figure(_grid_width(len(columns)), 7.4)
    rows = (("amplitude", 1, AMP_UNIT, IMAGE_CMAP), ("phase", 2, PHASE_UNIT, PHASE_CMAP))
    for r, (part, index, unit, cmap) in enumerate(rows):
        vmin, vmax = _finite_range([c[index] for c in columns]) if shared else (None, None)
        for i, col in enumerate(columns):
            ax = fig.add_subplot(2, len(columns), r * len(columns) + i + 1)
            metrics = (col[3] or {}).get(part)
            _panel(fig, ax, col[index], "%s\n%s" % (col[0], part), unit, cmap, vmin, vmax, _caption(metrics))
    fig.suptitle("Reconstructions, %s" % ("shared colour scale per row" if shared else "each on its own scale"),
                 fontsize=11)
    fig.tight_layout()
    return _png(fig)


def difference_grid(columns):
    """Differences (title, amp diff, phase diff, caption per part), symmetric colour scale per row around 0."""
    if not columns or all(c[1] is None and c[2] is None for c in columns):
        return None
    fig = _figure(_grid_width(len(columns)), 7.4)
    rows = (("amplitude", 1, "difference of " + AMP_UNIT), ("phase", 2, "phase difference (rad, wrapped)"))
    for r, (part, index, unit) in enumerate(rows):
        vmin, vmax = _finite_range([c[index] for c in columns], symmetric=True)
        for i, col in enumerate(columns):
            ax = fig.add_subplot(2, len(columns), r * len(columns) + i + 1)
            _panel(fig, ax, col[index], "%s\n%s" % (col[0], part), unit, DIFF_CMAP, vmin, vmax,
                   (col[3] or {}).get(part))
    fig.suptitle("Differences (shared symmetric scale per row; blue: lower, red: higher)", fontsize=11)
    fig.tight_layout()
    return _png(fig)


# -- probe ------------------------------------------------------------------------------------------------------

def probe_grid(runs):
    """Per run (one row each): |P| and phase before and after normalization, each with its own colour bar."""
    import numpy as np
    rows = [r for r in runs if r["arrays"].get("probe_pre") is not None or r["arrays"].get("probe_post") is not None]
    if not rows:
        return None
    fig = _figure(WIDTH, 3.1 * len(rows) + 0.6)
    for r, run in enumerate(rows):
        for c, (phase_name, what) in enumerate((("pre", "before"), ("post", "after"))):
            arr = run["arrays"].get("probe_" + phase_name)
            amp = np.abs(arr) if arr is not None else None
            ph = np.angle(arr) if arr is not None and np.iscomplexobj(arr) else None
            for k, (part, unit, cmap) in enumerate(((amp, PROBE_AMP_UNIT, IMAGE_CMAP),
                                                     (ph, PHASE_UNIT, PHASE_CMAP))):
                ax = fig.add_subplot(len(rows), 4, r * 4 + 2 * c + k + 1)
                _panel(fig, ax, part, "%s: %s\n%s %s normalization" % (
                    run["label"], run["name"], "|P|" if k == 0 else "phase", what), unit, cmap)
    fig.suptitle("Probe before and after normalization (each image on its own scale)", fontsize=11)
    fig.tight_layout()
    return _png(fig)


# -- training -----------------------------------------------------------------------------------------------------

def training(runs):
    """loss and val_loss per epoch of every run on one chart; NaN epochs (x) and early stops (dashed) marked."""
    series = [(run, key) for run in runs for key in ("loss", "val_loss") if (run["history"] or {}).get(key)]
    if not series:
        return None
    fig = _figure(WIDTH, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    values = [v for run, key in series for v in run["history"][key] if v is not None]
    styles = {"loss": "-", "val_loss": "--"}
    colours = {"A": "tab:blue", "B": "tab:orange"}
    for run, key in series:
        ys = run["history"][key]
        xs = list(range(1, len(ys) + 1))
        colour = colours.get(run["label"], "tab:green")
        ax.plot(xs, [v if v is not None else float("nan") for v in ys], styles[key], marker="o", markersize=3,
                color=colour, label="%s: %s — %s" % (run["label"], run["name"], key))
        bad = [x for x, v in zip(xs, ys) if v is None]
        if bad:
            finite = [v for v in values] or [0.0]
            ax.plot(bad, [min(finite)] * len(bad), "x", color="red", markersize=9,
                    label="%s %s: NaN/Inf epochs" % (run["label"], key))
    for run in runs:
        t = run["doc"].get("training") if isinstance(run["doc"].get("training"), dict) else {}
        stop = t.get("early_stop_epoch")
        if t.get("early_stopped") is True and isinstance(stop, int) and not isinstance(stop, bool):
            ax.axvline(stop, color=colours.get(run["label"], "grey"), linestyle=":",
                       label="%s: early stop (epoch %d)" % (run["label"], stop))
        nan = t.get("first_nan_epoch")
        if isinstance(nan, int) and not isinstance(nan, bool):
            ax.axvline(nan, color="red", linestyle=":", label="%s: first NaN (epoch %d)" % (run["label"], nan))
    if values and min(values) > 0 and max(values) / min(values) > 100:
        ax.set_yscale("log")
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlim(0.5, max(len(run["history"][key]) for run, key in series) + 0.5)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (as reported by Keras)")
    ax.set_title("Training: loss and val_loss per epoch")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


# -- sweeps -----------------------------------------------------------------------------------------------------

SWEEP_PANELS = (("amplitude_mae", "amplitude MAE"), ("pearson_r", "pearson_r (amplitude)"),
                ("least_squares_scalar", "least-squares scale (truth ≈ s · pred)"),
                ("intensity_scale_used", "intensity scale (solid: used, dashed: model exp(log_scale))"))


def sweep_chart(sweeps):
    """MAE, pearson_r, least-squares scale and intensity scale against nphotons, every branch on one chart."""
    usable = [s for s in sweeps if any(p["nphotons"] for p in s["points"])]
    if not usable:
        return None
    fig = _figure(WIDTH, 7.6)
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
    groups = []
    for s in usable:
        for loss in sorted({p["loss_fn"] or "" for p in s["points"]}):
            groups.append((s, loss))
    for i, (key, title) in enumerate(SWEEP_PANELS):
        ax = fig.add_subplot(2, 2, i + 1)
        for g, (s, loss) in enumerate(groups):
            pts = [p for p in s["points"] if (p["loss_fn"] or "") == loss and p["nphotons"] and p["nphotons"] > 0]
            label = "%s%s" % (s["branch"], " / %s" % loss if loss else "")
            colour = colours[g % len(colours)]
            ok = [(p["nphotons"], p["values"][key]) for p in pts if p["values"][key] is not None]
            if ok:
                ax.plot([x for x, _ in ok], [y for _, y in ok], "-o", color=colour, markersize=4, label=label)
            if key == "intensity_scale_used":
                model = [(p["nphotons"], p["values"]["model_exp_log_scale"]) for p in pts
                         if p["values"]["model_exp_log_scale"] is not None]
                if model:
                    ax.plot([x for x, _ in model], [y for _, y in model], "--s", color=colour, markersize=4,
                            label=label + " model")
            failed = [p["nphotons"] for p in pts if p["status"] == "failed"]
            if failed:
                ax.plot(failed, [0] * len(failed) if key != "intensity_scale_used" else [1] * len(failed), "x",
                        color=colour, markersize=9, label=label + " failed")
        ax.set_xscale("log")
        if key == "intensity_scale_used":
            ax.set_yscale("log")
        ax.set_xlabel("nphotons")
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    fig.suptitle("Dose response", fontsize=11)
    fig.tight_layout()
    return _png(fig)
