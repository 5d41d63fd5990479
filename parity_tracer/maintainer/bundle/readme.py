"""The bundle's README.md: contents, how the run was started (from its stream headers), environment,
deviations, left-out files and notes. Text only: what it lists was decided while building (``build``)."""

import os
import shlex
from pathlib import Path

from parity_tracer import inputs, jsonio
from parity_tracer.maintainer.bundle.checksums import (
    CHECKPOINT_DIR, CHECKSUMS, RAW_DATA, README, TELEMETRY, inside)
from parity_tracer.document.fields import get, mapping, sequence
from parity_tracer.profiles.ptychopinn import maintainer as ptychopinn
from parity_tracer.profiles.ptychopinn.stagemap import REQUIRED_STAGES
from parity_tracer.settings import command_line

HEADER_SCAN_LINES = 50


def readme(b, doc, headers, raw_text, checkpoint_text):
    """The README text of the bundle ``b`` (a builder) of ``doc``; ``headers`` from ``stream_headers``."""
    lines = _contents(b, doc, raw_text, checkpoint_text) + _commands(headers) + _environment(doc, headers)
    lines += _deviations(b) + _notes(b, doc)
    return "\n".join(lines)


def _contents(b, doc, raw_text, checkpoint_text):
    lines = ["# Parity bundle: %s / %s" % (doc.get("pipeline"), doc.get("scenario")), "",
             "Built by `python -m parity_tracer bundle` (parity_tracer %s) from the traced run directory `%s`, "
             "in the layout of the Parity Logging Specification v1.0 §4.3. The telemetry document was written "
             "at %s." % (get(doc, "tracer", "version") or "unknown", b.run_dir, doc.get("timestamp")), "",
             "Check it: `sha256sum -c checksums.txt` inside this directory, or `python -m parity_tracer verify "
             "<this directory>` (also reports files that were added).", "",
             "## Contents", "", "| file | what | from |", "|---|---|---|"]
    members = sorted(b.members + [(README, "this file", "bundle"),
                                  (CHECKSUMS, "sha256 of every other file (sha256sum format)", "bundle")])
    for name, what, source in members:
        lines.append("| `%s` | %s | %s |" % (name, what.replace("|", "\\|"), source.replace("|", "\\|")))
    lines.append("")
    if raw_text:
        lines += ["`%s`: %s" % (RAW_DATA, raw_text), ""]
    if checkpoint_text:
        lines += ["`%s/`: %s." % (CHECKPOINT_DIR, checkpoint_text), ""]
    segment_info = mapping(get(doc, "tracer", "run_segment"))
    if segment_info:
        lines += ["One run of several traced in one process: run %s of %s, `%s`. Why it starts here: %s. Why it "
                  "ends here: %s (`tracer.run_segment` of the document has the evidence)." % (
                      segment_info.get("index"), segment_info.get("of"), segment_info.get("label"),
                      segment_info.get("starts"), segment_info.get("ends")), ""]
    return lines


def _commands(headers):
    lines = ["## Commands used", ""]
    if not headers:
        lines += ["No stream header was found (the run's `streams/` directory is not available), so the command "
                  "line is unknown.", ""]
    for path, h in headers:
        cwd, traced, plain = command_line(h)
        lines.append("Process %s%s (stream `%s`), working directory `%s`:" % (
            h.get("pid"), " (child of %s)" % h.get("ppid") if any(h.get("ppid") == o.get("pid") for _, o in headers)
            else "", Path(path).name, cwd))
        lines += ["", "```bash", "cd %s" % shlex.quote(cwd) if cwd else "# working directory not recorded",
                  "%s" % traced, "```", "",
                  "The traced program, as plain Python would run it: `%s`. (With the environment activation "
                  "instead of `run`, the same settings are the `PARITY_TRACER_*` variables.)" % plain, ""]
    return lines


def _environment(doc, headers):
    env = mapping(get(doc, "provenance", "environment"))
    prov = mapping(doc.get("provenance"))
    lines = ["## Environment", ""]
    lines.append("- Python %s (`%s`), TensorFlow %s, Keras %s, NumPy %s" % (
        env.get("python_version"), next((h.get("executable") for _, h in headers if h.get("executable")), "?"),
        env.get("tensorflow_version"), env.get("keras_version"), env.get("numpy_version")))
    packages = mapping(env.get("packages"))
    if packages:
        lines.append("- Packages seen by the tracer: %s" % ", ".join("%s %s" % kv for kv in sorted(packages.items())))
    lines.append("- Code: commit `%s`, branch `%s`, dirty: %s" % (prov.get("commit_hash"), prov.get("branch"),
                                                                  prov.get("dirty")))
    seeds = mapping(prov.get("seeds"))
    lines.append("- Seeds: object %s, simulation %s, training %s" % (seeds.get("object_seed"), seeds.get("sim_seed"),
                                                                    seeds.get("training_seed")))
    ds = mapping(prov.get("dataset_source"))
    lines.append("- Dataset: %s, path %s, sha256 %s — %s" % (ds.get("type"), ds.get("path"), ds.get("checksum"),
                                                             ds.get("provenance_chain")))
    cfg = mapping(doc.get("configuration"))
    lines.append("- Configuration: " + ", ".join("%s=%s" % (k, cfg.get(k)) for k in ptychopinn.README_CONFIG_FIELDS))
    n_required = len(REQUIRED_STAGES)
    missing = sequence(doc.get("missing_stages"))
    lines.append("- Required stages captured: %d/%d" % (n_required - len(missing), n_required))
    training = mapping(doc.get("training"))
    lines.append("- Training: %s epoch(s), final loss %s, final val_loss %s, NaN: %s" % (
        training.get("epochs_completed"), training.get("final_loss"), training.get("final_val_loss"),
        training.get("nan_detected")))
    inference = mapping(doc.get("inference"))
    lines.append("- Inference: stitched shape %s, group_limit %s, amplitude mean %s" % (
        inference.get("stitched_shape"), inference.get("group_limit"), get(inference, "amplitude", "mean")))
    scale = mapping(doc.get("intensity_scale"))
    lines.append("- Intensity scale: recorded %s, model exp(log_scale) %s" % (scale.get("recorded_in_bundle"),
                                                                             scale.get("model_exp_log_scale")))
    return lines + [""]


def _deviations(b):
    lines = ["## Deviations", ""]
    devs = list(b.deviations)
    if b.rewrites:
        devs.append("Artifact paths in the bundled `%s` point to the bundled files: %s." % (
            TELEMETRY, "; ".join("`%s` `%s` -> `%s`" % (f, old, new) for f, old, new in b.rewrites)))
    lines += ["- " + d for d in devs] if devs else ["None."]
    lines.append("")
    lines += ["## Left out", "",
              "Only regular files inside the run directory, or at/under a path named with `--include`, are copied; "
              "links are never followed out of it."]
    lines += [""] + ["- " + d for d in b.left_out] if b.left_out else ["", "Nothing the document names was left out."]
    lines.append("")
    return lines


def _notes(b, doc):
    lines = []
    if b.stage_notes:
        lines += ["## Stage notes", ""] + ["- " + n for n in b.stage_notes] + [""]
    covered = {"optional stage %s not captured: %s" % (get(e, "name"), get(e, "reason"))
               for e in sequence(get(doc, "tracer", "optional_stages_absent"))}
    notes = [n for n in sequence(get(doc, "tracer", "notes")) if isinstance(n, str) and n not in covered]
    if notes:
        lines += ["## Tracer notes", ""] + ["- %s" % n for n in notes] + [""]
    return lines


def stream_headers(run_dir, doc):
    """Header events of the run's streams (first kind=header line of each file), in file-name order."""
    files = []
    for entry in sequence(get(doc, "tracer", "streams")):
        p = get(entry, "path")
        if isinstance(p, str):
            f = Path(p) if os.path.isabs(p) else run_dir / p
            if inside(Path(os.path.realpath(f)), Path(os.path.realpath(run_dir))):   # never outside the run
                files.append(f)
    if not files:
        files = sorted((run_dir / "streams").glob("*.jsonl")) + sorted((run_dir / "streams").glob("*/*.jsonl"))
    headers = []
    for f in files:
        try:
            with inputs.open_regular(f) as fh:
                for n, (line, _) in enumerate(inputs.lines(fh, 1 << 20)):
                    if n >= HEADER_SCAN_LINES:
                        break
                    try:
                        ev = jsonio.loads(line) if line is not None else None
                    except ValueError:
                        continue
                    if isinstance(ev, dict) and ev.get("kind") == "header":
                        headers.append((f, ev))
                        break
        except OSError:
            continue
    return headers


