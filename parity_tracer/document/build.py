"""The document of a run's events: ``build_document(streams, provenance) -> (document, report)``.

Pure: it reads the events (and the arrays they name) and returns the document, with the artifacts to write
beside it in the report; it writes no file, renders nothing, runs no program. Which event feeds which field
is decided by the stage map's tables and the section modules; every block and field the spec names is
always present (a value the run did not produce is null). Output is deterministic apart from ``timestamp``.
"""

import dataclasses
import datetime
from typing import Any, Optional

from parity_tracer import jsonio
from parity_tracer.profiles.ptychopinn import stagemap
from parity_tracer.document import (comparison as comparison_section, configuration as configuration_section,
                                    inference as inference_section, probe as probe_section,
                                    provenance as provenance_section, scale, stages as stages_section, streams,
                                    tracer, training as training_section, validate)
from parity_tracer.document.index import RunIndex, header_value

SCHEMA_VERSION = "1.0"


@dataclasses.dataclass
class Provenance:
    """What the caller knows about the run beyond its streams, and where the document will live.

    ``out_dir``: the document's folder (paths in the document are made relative to it; None: absolute);
    ``root``: the traced run's folder when the document lives below it (``runs/<index>-<label>/``);
    ``no_images``: the note to record when the caller will not render PNGs (None: it will).
    """
    pipeline: Optional[str] = None
    scenario: Optional[str] = None
    run_id: Optional[str] = None
    merge_runs: bool = False
    run_segment: Optional[Any] = None
    out_dir: Optional[Any] = None
    root: Optional[Any] = None
    no_images: Optional[str] = None


def _timestamp():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _stream_notes(run, found, prov):
    runs = found.runs or {}
    others = sum(n for r, n in runs.items() if r != prov.run_id)
    if prov.run_id is not None and others:
        run.note("%d stream(s) of other runs in the folder were not merged (this run: %s)" % (others, prov.run_id))
    if len(runs) > 1 and prov.merge_runs:
        run.note("streams of %d runs merged on request (--merge-runs): %s" % (len(runs), streams.runs_text(runs)))
    for s in found.infos:
        if s.truncated:
            run.note("%s: truncated last line ignored" % run.doc_path(s.path))
        if s.corrupt_lines:
            run.note("%s: %d corrupt line(s) skipped" % (run.doc_path(s.path), s.corrupt_lines))


def build_document(found, provenance):
    """``(document, report)`` of ``found`` (a ``streams.Streams``: all of a stream, or one run's share of it).

    The report: ``warnings``, ``files``, ``events``, ``required_found`` / ``required_total`` /
    ``missing_stages``, ``validation_errors`` (the document may be written only when empty), ``imported``
    (False when no capture point's module was ever imported), ``root`` (the profile's root module), and the
    artifacts to write beside the document: ``history`` (dict or None) and ``images`` (``{part: (array,
    title)}`` or None).
    """
    prov = provenance
    run = RunIndex(found.events, found.infos, prov.out_dir, prov.root)
    _stream_notes(run, found, prov)
    duplicates = sum(s.duplicates for s in found.infos)

    stages, ordered, missing, absent_optional, other = stages_section.stages(run)
    snap = configuration_section.snapshot(run)
    configuration = configuration_section.configuration(run, snap)
    cfg = configuration["legacy_params_cfg_snapshot"] or {}
    dataset = provenance_section.dataset_source(run, stages)
    provenance_block = dict(provenance_section.git_state(run))
    provenance_block["environment"] = provenance_section.environment(run)
    provenance_block["seeds"] = provenance_section.seeds(run)
    provenance_block["dataset_source"] = dataset
    probe = probe_section.probe(run)
    intensity_scale = scale.intensity_scale(run, cfg, stages)
    training, history = training_section.training(run)
    inference, predicted, artifact_paths, images = inference_section.inference(run, stages, prov.no_images)
    comparison = comparison_section.comparison(run, predicted, artifact_paths, dataset["type"])
    ratios, product, symmetry = stages_section.stage_ratios(stages, inference, comparison)
    for entry in absent_optional:
        run.note("optional stage %s not captured: %s" % (entry["name"], entry["reason"]))

    doc = {
        "schema_version": SCHEMA_VERSION,
        "timestamp": _timestamp(),
        "pipeline": prov.pipeline or header_value(run, "pipeline") or "unknown",
        "scenario": prov.scenario or header_value(run, "scenario"),
        "provenance": provenance_block,
        "configuration": configuration,
        "probe": probe,
        "intensity_stages": ordered,
        "missing_stages": missing,
        "stage_ratios": ratios,
        "full_chain_product": product,
        "symmetry_check": symmetry,
        "intensity_scale": intensity_scale,
        "training": training,
        "inference": inference,
        "comparison": comparison,
    }
    doc["tracer"] = tracer.tracer_block(run, absent_optional, other, duplicates)
    doc["tracer"]["run_ids"] = sorted(set(s.run_id for s in found.infos
                                          if s.run_id not in (None, streams.NO_RUN_ID)))
    if prov.run_segment is not None:
        doc["tracer"]["run_segment"] = prov.run_segment
    # Round trip through the strict encoder: what we validate and return is exactly what gets written.
    doc = jsonio.loads(jsonio.dumps(doc))
    errors = _repair(doc)
    root = tracer.profile_root(header_value(run, "profile"))
    report = {"warnings": found.warnings, "files": [str(f) for f in found.files], "events": len(found.events),
              "required_found": len(stagemap.REQUIRED_STAGES) - len(missing),
              "required_total": len(stagemap.REQUIRED_STAGES), "missing_stages": missing,
              "validation_errors": errors, "imported": tracer.anything_imported(run, root), "root": root,
              "history": history, "images": images}
    return doc, report


def _locate(doc, pointer):
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    parent = doc
    for part in parts[:-1]:
        if isinstance(parent, dict) and part in parent:
            parent = parent[part]
        elif isinstance(parent, list) and part.isdigit() and int(part) < len(parent):
            parent = parent[int(part)]
        else:
            return None, None
    if not parts:
        return None, None
    key = parts[-1]
    if isinstance(parent, dict) and key in parent:
        return parent, key
    if isinstance(parent, list) and key.isdigit() and int(key) < len(parent):
        return parent, int(key)
    return None, None


def _repair(doc):
    """Validate; a value that breaks the schema (e.g. a negative count from a hostile stream) becomes null, with a
    note. Returns the errors left (none when the document is one we may write)."""
    notes = doc.get("tracer", {}).get("notes") if isinstance(doc.get("tracer"), dict) else None
    for _ in range(5):
        errors = validate.validate_document(doc)
        changed = False
        for pointer, reason in errors:
            parent, key = _locate(doc, pointer)
            if parent is None or parent[key] is None:
                continue
            text = jsonio.dumps(parent[key]).decode("utf-8", "replace")
            parent[key] = None
            changed = True
            if isinstance(notes, list):
                notes.append("%s = %s from the streams does not validate (%s): written as null" % (
                    pointer, text if len(text) <= 60 else text[:57] + "...", reason))
        if not errors or not changed:
            return errors
    return validate.validate_document(doc)
