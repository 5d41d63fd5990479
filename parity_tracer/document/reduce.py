"""``reduce``: event streams -> ``parity_telemetry.json`` (spec v1.0), and the reduce at the traced program's exit.

Read the streams, cut them into runs (``segment``), build each run's document (``build``, pure), then write:
the files beside each document (``artifacts``), the documents that validate, and ``runs.json`` when the
stream holds several runs. Only this module writes.
"""

import os
import sys
from pathlib import Path

from parity_tracer import inputs, jsonio, outputs
from parity_tracer.document import artifacts, figures, segment, streams
from parity_tracer.document.build import Provenance, build_document
from parity_tracer.document.streams import ReduceError

__all__ = ["ReduceError", "reduce_path", "reduce_streams", "reduce_to_file", "summary_line", "check_output",
           "add_arguments", "command"]


def _no_images(render):
    """The note for PNGs not rendered: never inside the traced program (``render`` False), or no matplotlib."""
    if not render:
        return figures.NOT_AT_EXIT
    problem = figures.unavailable()
    return "%s: amplitude/phase PNGs not rendered" % problem if problem is not None else None


def _build_and_write_artifacts(found, provenance, document):
    doc, report = build_document(found, provenance)
    if provenance.out_dir is not None:
        artifacts.write_artifacts(doc, report, provenance.out_dir, document)
    return doc, report


def reduce_streams(paths, *, pipeline=None, scenario=None, out_dir=None, run_id=None, merge_runs=False,
                   document=None, render=True):
    """Read and merge ``paths`` into one document. Returns ``(document, report)``; writes the files beside it
    (history.json, PNGs when ``render``) into ``out_dir`` but not the document itself.

    ``out_dir`` is where the document will live (paths in it are made relative to it; ``document`` is its file
    name there, parity_telemetry.json by default: a neighbour file is only ever replaced when the document being
    replaced named it). ``run_id`` reduces that run's streams only; otherwise streams of several runs are
    refused unless ``merge_runs``. Raises ReduceError when there is nothing to reduce.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    with streams.gc_paused():
        found = streams.read(list(paths), run_id=run_id, merge_runs=merge_runs)
        provenance = Provenance(pipeline=pipeline, scenario=scenario, run_id=run_id, merge_runs=merge_runs,
                                out_dir=out_dir, no_images=_no_images(render))
        return _build_and_write_artifacts(found, provenance, document)


def summary_line(report, out_path):
    """The one line the reduce prints (stderr); at exit it is the tracer's only output in the host."""
    errors = report["validation_errors"]
    if errors:
        pointer, reason = errors[0]
        return "parity_tracer: %d/%d required stages, telemetry NOT written to %s (INVALID: %d error%s, first: %s %s)" % (
            report["required_found"], report["required_total"], out_path, len(errors),
            "" if len(errors) == 1 else "s", pointer or "/", reason)
    if not report.get("imported", True):
        return "parity_tracer: no %s module was imported, telemetry -> %s (valid)" % (
            report.get("root") or "traced", out_path)
    return "parity_tracer: %d/%d required stages, telemetry -> %s (valid)" % (
        report["required_found"], report["required_total"], out_path)


def check_output(out_path):
    """Refuse (ReduceError) an output that is a folder, lies below a file, or is a device/FIFO: before reading."""
    out_path = Path(out_path)
    parent = out_path.parent
    if parent.exists() and not parent.is_dir():
        raise ReduceError("-o %s: %s is not a folder" % (out_path, parent))
    for ancestor in parent.parents:
        if ancestor.exists() and not ancestor.is_dir():
            raise ReduceError("-o %s: %s is not a folder" % (out_path, ancestor))
    try:
        outputs.check_replaceable(out_path) if parent.is_dir() else None
    except outputs.UnsafeOutput as exc:
        raise ReduceError("-o %s: %s" % (out_path, exc.strerror))


def reduce_to_file(paths, out_path, *, pipeline=None, scenario=None, merge_runs=False):
    """Reduce into one document and write it (only when it validates); stream problems go to stderr; returns
    the one-line summary."""
    out_path = Path(out_path)
    check_output(out_path)
    doc, report = reduce_streams(paths, pipeline=pipeline, scenario=scenario, out_dir=out_path.parent,
                                 merge_runs=merge_runs, document=out_path.name)
    for line in report["warnings"]:
        sys.stderr.write(line + "\n")
    if not report["validation_errors"]:
        artifacts.write_document(doc, out_path)
    return summary_line(report, out_path)


def reduce_path(paths, out_path, *, pipeline=None, scenario=None, single=False, run_id=None, merge_runs=False,
                render=True):
    """Reduce ``paths`` next to ``out_path``: one document there, or (several runs) one per run under
    ``runs/`` plus ``runs.json``. Returns ``(summary line, stream warnings, all documents valid)``.
    The reduce at exit calls this with ``render=False``."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out_path = Path(out_path)
    check_output(out_path)
    folder = out_path.parent
    with streams.gc_paused():
        found = streams.read(list(paths), run_id=run_id, merge_runs=merge_runs)
        common = dict(pipeline=pipeline, scenario=scenario, run_id=run_id, merge_runs=merge_runs,
                      no_images=_no_images(render))
        shared, segments = segment.split(found.events)
        runs = segment.assemble(segments)
        too_many = runs is not None and len(runs) > segment.MAX_RUNS   # a hostile stream must not make 100k folders
        if runs is None or single or too_many:
            doc, report = build_document(found, Provenance(out_dir=folder, **common))
            line = summary_line(report, out_path)
            if runs is not None:
                merged = ("--single: events of %d runs (%s) merged into one document" %
                          (len(runs), ", ".join(r.label for r in runs))) if not too_many else \
                    "events of %d runs merged into one document (more than %d runs)" % (len(runs), segment.MAX_RUNS)
                doc["tracer"]["notes"].append(merged)
                line += " WARNING: " + merged
            artifacts.write_artifacts(doc, report, folder, out_path.name)
            if not report["validation_errors"]:
                artifacts.write_document(doc, out_path)     # only a document that validates is ever written
            return line, found.warnings, not report["validation_errors"]
        index, parts, ok = [], [], True
        for run in runs:
            evidence = segment.evidence(run, runs, segments)
            out_dir = folder / segment.RUNS_DIR / run.dir_name
            provenance = Provenance(out_dir=out_dir, root=folder, run_segment=evidence, **common)
            doc, report = _build_and_write_artifacts(found._replace(events=segment.run_events(run, shared)),
                                                     provenance, segment.TELEMETRY)
            valid = not report["validation_errors"]
            if valid:
                artifacts.write_document(doc, out_dir / segment.TELEMETRY)
            ok = ok and valid
            parts.append("%s %d/%d %s" % (run.dir_name, report["required_found"], report["required_total"],
                                          "valid" if valid else "INVALID"))
            index.append(dict(evidence, document="%s/%s/%s" % (segment.RUNS_DIR, run.dir_name, segment.TELEMETRY),
                              required_stages_found=report["required_found"], missing_stages=report["missing_stages"],
                              valid=valid))
        jsonio.dump_pretty({"format": segment.INDEX_FORMAT, "runs": index, "unattached": segment.unattached(segments),
                            "rules": "parity_tracer/document/segment.py: boundaries, anchors, attachments"},
                           folder / segment.RUNS_INDEX)
    line = "parity_tracer: %d runs: %s -> %s (index %s)" % (len(runs), ", ".join(parts), folder / segment.RUNS_DIR,
                                                            folder / segment.RUNS_INDEX)
    spare = segment.unattached(segments)
    if spare:
        line += " [%d segment%s in no run: see runs.json]" % (len(spare), "" if len(spare) == 1 else "s")
    return line, found.warnings, ok


# -- the command ---------------------------------------------------------------------------------------------------

DESCRIPTION = ("Reduce event streams to parity_telemetry.json (spec v1.0); a stream holding several runs gives one "
               "document per run under runs/ next to it, listed in runs.json.")


def add_arguments(parser):
    parser.add_argument("streams", nargs="+", help="JSONL stream files or directories")
    parser.add_argument("-o", "--output", default="parity_telemetry.json")
    parser.add_argument("--pipeline")
    parser.add_argument("--scenario")
    parser.add_argument("--merge-runs", action="store_true",
                        help="merge streams of different runs into one document (refused otherwise)")
    parser.add_argument("--single", action="store_true",
                        help="one document even when the stream holds several runs (their events are merged)")


def command(args):
    """0: every document written and valid; 1: a document did not validate (not written); 2: bad input."""
    try:
        line, warnings, ok = reduce_path(args.streams, args.output, pipeline=args.pipeline, scenario=args.scenario,
                                         single=args.single, merge_runs=args.merge_runs)
    except ReduceError as exc:
        sys.stderr.write("parity_tracer: reduce: %s\n" % exc)
        return 2
    except OSError as exc:
        sys.stderr.write("parity_tracer: reduce: %s%s\n" % (
            "%s: " % exc.filename if isinstance(exc.filename, str) else "", inputs.error_text(exc)))
        return 2
    for w in warnings:
        sys.stderr.write(w + "\n")
    sys.stderr.write(line + "\n")
    return 0 if ok else 1
