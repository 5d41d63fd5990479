"""The stage means of both runs of a comparison on one log-scale chart, with their ratio below (needs matplotlib;
drawn offline, never in the traced program)."""

from parity_tracer import outputs


def plot_stage_means(report, path, run_names=None):
    """Stage means of both runs on one log-scale chart. Returns None when written, else a one-line reason.

    ``path`` is a file name or a binary file object; ``run_names`` ({"a": .., "b": ..}) names the runs in the
    legend (default: each run's pipeline and scenario)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return "matplotlib is not installed: no plot written"
    names, series = [], {"a": [], "b": []}
    for st in report["stages"]:
        means = {r["stat"]: r for r in st["rows"]}.get("mean")
        if means is None:
            continue
        names.append(st["name"])
        for side in ("a", "b"):
            v = means[side]
            series[side].append(v if isinstance(v, (int, float)) and v > 0 else float("nan"))
    fig = Figure(figsize=(max(6.0, 1.1 * len(names) + 2), 6.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(2, 1, 1)
    lower = fig.add_subplot(2, 1, 2, sharex=ax)
    x = list(range(len(names)))
    for side, marker in (("a", "o"), ("b", "s")):
        info = report[side]
        name = (run_names or {}).get(side) or "%s %s" % (info["pipeline"] or "", info["scenario"] or "")
        ax.plot(x, series[side], marker=marker, linestyle="-", label="%s: %s" % (side.upper(), name))
    ax.set_yscale("log")
    ax.set_ylabel("stage mean (log scale)")
    ratios = [b / a if a == a and b == b else float("nan") for a, b in zip(series["a"], series["b"])]
    lower.plot(x, ratios, marker="d", color="black")
    lower.axhline(1.0, color="grey", linewidth=0.8)
    lower.set_ylabel("mean B / mean A")
    lower.set_xticks(x)
    lower.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    for tick in ax.get_xticklabels():
        tick.set_visible(False)
    first = report["first_divergent_stage"]
    if first is not None and first["name"] in names:
        for axis in (ax, lower):
            axis.axvline(names.index(first["name"]), color="red", linestyle=":",
                         label="first divergent stage" if axis is ax else None)
    ax.set_title("Stage means, A vs B (non-positive means not drawn)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save = lambda fh: fig.savefig(fh, format="png", dpi=90, metadata={"Software": None})
    try:   # a file object (the report), else the exact name given (savefig would add ".png" to a bare name)
        save(path) if hasattr(path, "write") else outputs.replace(path, save)
    except OSError as exc:
        return "cannot write plot %s: %s" % (path, exc.strerror or exc)
    return None
