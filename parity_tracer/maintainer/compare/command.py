"""``python -m parity_tracer compare A B``: parse -> build the report -> render it -> exit status (0 every REQUIRED
item passes, 1 one fails, 2 unusable input)."""

import os
import sys

from parity_tracer import outputs
from parity_tracer.maintainer.compare import plot, render_json, render_markdown, render_text
from parity_tracer.maintainer.compare.checks import MODES, InputError, load_document
from parity_tracer.maintainer.compare.report import build_report

FORMATS = {"text": render_text.render, "markdown": render_markdown.render, "json": render_json.render}


def add_arguments(parser):
    parser.description = "Compare two parity telemetry documents (spec v1.0)."
    parser.add_argument("a", help="reference document (or run directory), e.g. the legacy run")
    parser.add_argument("b", help="document (or run directory) under test")
    parser.add_argument("--mode", choices=MODES, default="auto")
    parser.add_argument("--format", choices=tuple(FORMATS), default="text")
    parser.add_argument("-o", "--output", help="write the report here instead of stdout")
    parser.add_argument("--plot", help="PNG of the stage means of both runs (needs matplotlib)")
    parser.add_argument("--pair-by", choices=("label", "index"), default="label",
                        help="multi-run folders (runs.json): pair their runs by label or by index")


def command(args):
    from parity_tracer.protocol import sweep
    if sweep.is_sweep(args.a) and sweep.is_sweep(args.b):      # two dose-experiments sweeps: pair their points
        return sweep.compare_sweeps(args.a, args.b, args.mode, args.format, args.output)
    from parity_tracer.document import segment
    if segment.is_multi_run(args.a) or segment.is_multi_run(args.b):
        return _compare_runs(args)
    try:
        report = build_report(args.a, load_document(args.a), args.b, load_document(args.b), args.mode)
    except InputError as exc:
        _say(exc)
        return 2
    if not _write_report(FORMATS[args.format](report), args.output):
        return 2
    if args.plot:
        _say(plot.plot_stage_means(report, args.plot) or "plot -> %s" % args.plot)
    v = report["verdict"]
    if args.output:
        _say("%s mode, %s, report -> %s" % (
            report["mode"]["used"], "no REQUIRED items" if not v["required"] else
            "all REQUIRED items pass" if v["passed"] else "REQUIRED failed: " + ", ".join(v["failed"]),
            args.output))
    return v["exit_code"]


def _compare_runs(args):
    """Two folders of several runs each (or one and a document): one report per pair, then a summary."""
    from parity_tracer.maintainer import compare_runs
    try:
        result = compare_runs.build(args.a, args.b, args.mode, args.pair_by)
    except InputError as exc:
        _say(exc)
        return 2
    text = render_json.render(result) if args.format == "json" else \
        compare_runs.render(result, markdown=args.format == "markdown")
    if not _write_report(text, args.output):
        return 2
    if args.plot:
        stem, suffix = os.path.splitext(args.plot)
        for entry in result["pairs"]:
            target = "%s-%s%s" % (stem, entry["key"], suffix or ".png")
            _say(plot.plot_stage_means(entry["report"], target) or "plot -> %s" % target)
    v = result["verdict"]
    _say("%d pair(s) by %s, %d failed, %d unpaired%s" % (
        v["pairs"], result["pair_by"], len(v["failed"]), v["unpaired"],
        ", report -> %s" % args.output if args.output else ""))
    return v["exit_code"]


def _write_report(text, output):
    """The report to ``output`` or stdout; False (and one line on stderr) when it cannot be written."""
    if output:
        try:
            outputs.write_bytes(output, text.encode("utf-8"))
        except OSError as exc:
            _say("cannot write %s (%s)" % (output, exc.strerror or exc))
            return False
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return True


def _say(message):
    sys.stderr.write("parity_tracer: compare: %s\n" % message)
