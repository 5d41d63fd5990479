"""``python -m parity_tracer report A [B] [--sweep DIR ...] -o report.html [--png-dir DIR]``: one HTML page.

A and B are run folders, delivery folders (spec §4.3) or telemetry documents; A is the reference. With one
run the page describes that run. Sweep folders (``sweep.json``, format ``parity-tracer-sweep/1``) add the
dose-response section; given in place of A and B they make a page of sweeps only. ``--png-dir`` also writes
each run's images as separate PNG files, each titled with the run's name and its quantity, with units.

Modules: ``inputs`` (reading hostile folders and files), ``gather`` (the data, using compare's checklist,
first divergence and tables), ``figures`` (matplotlib, optional), ``html`` (the page).

Exit status: 0 when the page was written, 2 when an input is unusable or the page cannot be written (one line
``parity_tracer: report: ...`` on stderr).
"""

import os
import sys

from parity_tracer.maintainer import compare

FIGURE_ERRORS = (ArithmeticError, ValueError, TypeError, IndexError, KeyError, MemoryError, OverflowError,
                 RuntimeError)


def _figures(model):
    """Every figure of the page (PNG bytes or None); ``_available`` says whether matplotlib could draw."""
    from parity_tracer.report import figures, gather
    figs = {"_available": figures.available()}
    if not figs["_available"]:
        return figs
    runs = model["runs"]
    images, diffs = gather.reconstruction_columns(runs)
    jobs = {
        "stages": lambda: figures.stage_means(model["compare"], {"a": runs[0]["name"], "b": runs[1]["name"]})
        if model["two"] else None,
        "recon_shared": lambda: figures.reconstruction_grid(images, shared=True),
        "recon_own": lambda: figures.reconstruction_grid(images, shared=False),
        "recon_diff": lambda: figures.difference_grid(diffs),
        "probe": lambda: figures.probe_grid(runs),
        "training": lambda: figures.training(runs),
        "sweep": lambda: figures.sweep_chart(model["sweeps"]),
    }
    for key, job in jobs.items():
        try:
            figs[key] = job()
        except FIGURE_ERRORS as exc:   # odd data must not cost the page: the figure is left out, said why
            figs[key] = None
            model.setdefault("figure_problems", []).append("%s figure not drawn (%s: %s)" % (
                key, type(exc).__name__, str(exc)[:200]))
    return figs


def build_page(run_paths, sweep_paths=(), mode="auto", with_images=False):
    """(HTML text, {file name: PNG} of each run's images when ``with_images``) for runs (0-2 paths) and sweeps."""
    from parity_tracer.report import figures, gather, html, inputs
    sources = [inputs.open_run(p) for p in run_paths]
    model = gather.gather(sources, sweep_paths, mode)
    figs = _figures(model)
    images = {}
    if with_images and figs["_available"]:
        try:
            images = figures.run_images(model["runs"])
        except FIGURE_ERRORS as exc:
            model.setdefault("figure_problems", []).append("per-run images not drawn (%s)" % type(exc).__name__)
    for problem in model.get("figure_problems", []):
        if model["runs"]:
            model["runs"][0]["notes"].append(problem)
    return html.render(model, figs), images


def _write_images(folder, images):
    """Each image as ``folder/<A|B>-<quantity>.png`` (the folder is created when missing)."""
    from parity_tracer import outputs
    outputs.makedirs(folder)
    for name, png in sorted(images.items()):
        outputs.write_bytes(os.path.join(folder, name), png)


def _write(path, text):
    from parity_tracer import outputs
    outputs.write_bytes(path, text.encode("utf-8"))     # private temp file + rename: never through a link


def add_arguments(parser):
    parser.add_argument("runs", nargs="+", metavar="RUN",
                        help="run folder, delivery folder, telemetry document, or sweep folder (A, then B)")
    parser.add_argument("-o", "--output", required=True, help="the HTML file to write")
    parser.add_argument("--sweep", action="append", default=[], metavar="DIR",
                        help="a sweep folder (sweep.json); give one per branch")
    parser.add_argument("--mode", choices=compare.MODES, default="auto")
    parser.add_argument("--png-dir", metavar="DIR",
                        help="also write each run's images as PNG files here (A-amplitude.png, B-probe-pre.png, ...)")


def command(args):
    from parity_tracer.report import inputs
    try:
        runs, sweeps = [], list(args.sweep)
        for p in args.runs:
            (sweeps if inputs.is_sweep(p) else runs).append(p)
        if len(runs) > 2:
            raise inputs.InputError("at most two runs (A and B), %d given" % len(runs))
        if len(sweeps) > 6:
            raise inputs.InputError("at most six sweep folders, %d given" % len(sweeps))
        text, images = build_page(runs, sweeps, args.mode, with_images=bool(args.png_dir))
    except inputs.InputError as exc:
        sys.stderr.write("parity_tracer: report: %s\n" % exc)
        return 2
    try:
        _write(args.output, text)
        if args.png_dir:
            _write_images(args.png_dir, images)
    except OSError as exc:
        sys.stderr.write("parity_tracer: report: cannot write %s (%s)\n" % (
            exc.filename or args.output, exc.strerror or exc))
        return 2
    sys.stderr.write("parity_tracer: report: %s -> %s (%d KiB)%s\n" % (
        " vs ".join(runs + sweeps), args.output, (len(text.encode("utf-8")) + 1023) // 1024,
        "" if not args.png_dir else "; %d images -> %s%s" % (len(images), args.png_dir, "" if images else
                                                             " (none: matplotlib is not installed)")))
    return 0
