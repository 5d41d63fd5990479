"""Building a bundle: what of a run is copied (only regular files inside the run or an ``--include``), what is
derived (config.json, renderings, a partial raw_data.npz), how the document's artifact paths are rewritten, and
the deviations and left-out files the README lists."""

import copy
import os
from pathlib import Path

from parity_tracer import inputs, jsonio, outputs
from parity_tracer.document import figures, load as docread
from parity_tracer.maintainer.bundle import readme
from parity_tracer.maintainer.bundle.checksums import (
    CHECKPOINT_DIR, CONFIG, HISTORY, MARKER, MARKER_FORMAT, RAW_DATA, README, TELEMETRY, BundleError, inside,
    portable, sha256_file, tree)
from parity_tracer.document.fields import get, mapping, sequence
from parity_tracer.profiles.ptychopinn import maintainer as ptychopinn

CHECKPOINT_MAX_FILES = 10000   # a "checkpoint" directory with more files than this is refused (a wrong path)


def _npy_info(path):
    """(shape, dtype) of an .npy file read without pickles, or (None, reason)."""
    try:
        arr = inputs.load_npy(path)
        return list(arr.shape), str(arr.dtype)
    except Exception as exc:
        return None, "%s: %s" % (type(exc).__name__, str(exc).splitlines()[0][:120] if str(exc) else "")



def load_doc(run_dir):
    try:
        return docread.load_document(run_dir / TELEMETRY)
    except docread.DocumentError as exc:
        raise BundleError(str(exc))



def resolve(run_dir, p):
    if not isinstance(p, str) or not p or "\x00" in p:
        return None
    path = Path(p)
    return path if path.is_absolute() else run_dir / path



class _Builder:
    def __init__(self, run_dir, doc, work, includes=()):
        self.run_dir = run_dir
        self.real_run = Path(os.path.realpath(run_dir))
        self.includes = [Path(os.path.realpath(p)) for p in includes]
        self.doc = doc
        self.work = work
        self.members = []        # (relative path, description, source)
        self.deviations = []
        self.left_out = []       # files the document named that were not copied, and why
        self.rewrites = []       # (field, original, bundled)
        self.stage_notes = []    # the reducer's notes on how a stage was captured (informational)

    def permitted(self, src):
        """None when ``src`` may be copied (its real path is inside the run directory or at/under an --include),
        else the reason it may not."""
        real = Path(os.path.realpath(src))
        if inside(real, self.real_run) or any(inside(real, inc) for inc in self.includes):
            return None
        resolved = "" if str(real) == os.path.abspath(src) else " (resolved: `%s`)" % real
        return "`%s` is outside the run directory%s; name it with `--include` to bundle it" % (src, resolved)

    def leave_out(self, name, reason):
        self.left_out.append("`%s`: %s" % (name, reason))
        self.deviations.append("`%s` not bundled: %s." % (name, reason))

    def _dst(self, name):
        dst = self.work / name
        folder = self.work
        for part in Path(name).parts[:-1]:
            folder = Path(outputs.subdir(folder, part))
        return dst

    def add_file(self, name, src, what, source_label=None):
        """Copy a regular file (never through a link out of the run: ``permitted`` checked the real path)."""
        dst = self._dst(name)
        with inputs.open_regular(os.path.realpath(src), follow=False) as fh:
            outputs.copy_file(fh.fileno(), dst, os.fstat(fh.fileno()).st_mode)
        self.members.append((name, what, source_label or str(src)))
        return dst

    def add_bytes(self, name, data, what, source_label):
        outputs.write_bytes(self._dst(name), data, exclusive=True)
        self.members.append((name, what, source_label))

    def artifact(self, name, field_path, what, npy=True):
        """Copy the artifact a document field points to; returns True when bundled."""
        value = get(self.doc, *field_path)
        label = ".".join(field_path)
        if value is None:
            self.deviations.append("`%s` not bundled: the document has no %s." % (name, label))
            return False
        src = resolve(self.run_dir, value)
        if src is None or not src.exists():
            self.deviations.append("`%s` not bundled: %s = `%s` does not exist." % (name, label, value))
            return False
        reason = self.permitted(src)
        if reason is None and not os.path.isfile(os.path.realpath(src)):
            reason = "%s = `%s` is not a regular file" % (label, value)
        if reason is not None:
            self.leave_out(name, reason)
            return False
        if npy:
            shape, dtype = _npy_info(src)
            if shape is None:
                self.deviations.append("`%s` not bundled: `%s` is not a plain .npy array (%s)." % (name, value, dtype))
                return False
            what = "%s, shape %s, %s" % (what, shape, dtype)
        self.add_file(name, src, what, "`%s` (%s)" % (value, label))
        return True



def _rewrite(doc, path, new, rewrites):
    parent = get(doc, *path[:-1])
    if isinstance(parent, dict) and path[-1] in parent:
        old = parent[path[-1]]
        if old != new:
            parent[path[-1]] = new
            rewrites.append((".".join(path), old, new))


def _count_files(root, limit):
    n = 0
    for _, _, filenames in os.walk(root):
        n += len(filenames)
        if n > limit:
            break
    return n



def _copy_checkpoint(b, src):
    """model_checkpoint/: a directory tree copied file by file (regular files only: links, also ones pointing
    inside, and special files are left out), or a single file inside the directory."""
    skipped = []
    count = 0
    src = Path(os.path.realpath(src))
    if src.is_dir():
        files, links, special = tree(src)
        skipped += links + special
        for rel in files:
            if not portable(rel):
                raise BundleError("checkpoint file name %r is not UTF-8 or holds a control character: no checksum "
                                  "tool reads it back reliably; rename it" % rel)
            b.add_file("%s/%s" % (CHECKPOINT_DIR, rel), src / rel, "", None)
            b.members.pop()
            count += 1
        if count == 0:
            outputs.subdir(b.work, CHECKPOINT_DIR)
    else:
        if not portable(src.name):
            raise BundleError("checkpoint file name %r is not UTF-8 or holds a control character; rename it"
                              % src.name)
        b.add_file("%s/%s" % (CHECKPOINT_DIR, src.name), src, "", None)
        b.members.pop()
        count = 1
    return count, skipped




def _pngs(b, doc, out_doc):
    """amplitude.png / phase.png: the run's own renderings, else rendered here from the bundled arrays (the
    traced program does not render them: see ``figures``)."""
    for part, name in sorted(figures.PNG_NAMES.items()):
        field = part + "_png"
        src = resolve(b.run_dir, get(doc, "inference", "artifacts", field))
        reason = b.permitted(src) if src is not None and src.is_file() else "absent"
        if reason is None:
            b.add_file(name, src, "rendering of the stitched %s" % part, "`%s`" % get(doc, "inference", "artifacts",
                                                                                     field))
        else:
            if reason != "absent":
                b.leave_out(name, reason)
            npy = b.work / (part + ".npy")
            if not npy.is_file():
                continue
            problem = figures.unavailable()
            image = None
            if problem is None:
                import numpy as np
                try:
                    image = figures.as_image(np.load(str(npy), allow_pickle=False))
                    if image is None:
                        problem = "`%s.npy` is not an image" % part
                    else:
                        figures.render_image(image, b.work / name, "inference %s" % part, figures.PNG_UNITS[part])
                except Exception as exc:
                    problem = "%s: %s" % (type(exc).__name__, str(exc).splitlines()[0][:120] if str(exc) else "")
            if problem is not None:
                b.deviations.append("`%s` not rendered: %s." % (name, problem))
                continue
            b.members.append((name, "rendering of the stitched %s" % part, "rendered by bundle from `%s.npy`" % part))
        _rewrite(out_doc, ("inference", "artifacts", field), name, b.rewrites)




def _raw_data(b, doc, gt_paths):
    """raw_data.npz: the input npz itself, or the simulation arrays that were captured. Returns README text."""
    ds = mapping(get(doc, "provenance", "dataset_source"))
    dtype = ds.get("type")
    if dtype == "npz_file":
        return _raw_data_file(b, ds.get("path"), ds.get("checksum"))
    captured = next((a for a in get(doc, "tracer", "artifacts") or []
                     if isinstance(a, dict) and a.get("name") == ptychopinn.RAW_DATA_ARTIFACT), None)
    if dtype == "simulated" and captured is not None:
        src = resolve(b.run_dir, captured.get("path"))
        reason = b.permitted(src) if src is not None and src.is_file() else "not available"
        if reason is not None:
            b.leave_out(RAW_DATA, "the captured simulation arrays: " + reason)
        else:
            b.add_file(RAW_DATA, src, "the simulated train data set, saved where it was made (%s)"
                       % captured.get("source"), "`%s`" % captured.get("path"))
            return "the simulated train data set, captured from `%s` (run traced with --save-raw-data)." % (
                captured.get("source"),)
    if dtype != "simulated":
        b.deviations.append("`%s` not bundled: the document does not say where the data came from "
                            "(provenance.dataset_source.type = %s)." % (RAW_DATA, dtype))
        return None
    return _raw_data_partial(b, gt_paths)


def _raw_data_file(b, path, checksum):
    """The npz file the run loaded, byte for byte (its checksum compared with the one recorded in the run)."""
    src = resolve(b.run_dir, path)
    if src is None or not src.is_file():
        b.deviations.append("`%s` not bundled: the run read `%s`, which is not available here." % (RAW_DATA, path))
        return None
    reason = b.permitted(src)
    if reason is not None:
        b.leave_out(RAW_DATA, "the input dataset " + reason)
        return None
    actual = sha256_file(os.path.realpath(src), follow=False)
    b.add_file(RAW_DATA, src, "the input dataset the run loaded (%s)" % ptychopinn.RAW_DATA_LOADER, "`%s`" % path)
    if checksum and actual != checksum:
        b.deviations.append("`%s`: its sha256 %s differs from the checksum recorded during the run (%s): the "
                            "file changed after the run." % (RAW_DATA, actual, checksum))
        return "the file the run loaded (`%s`); WARNING: it changed since the run (see Deviations)." % path
    return "the file the run loaded (`%s`), byte for byte%s." % (
        path, "; sha256 matches the checksum recorded during the run" if checksum else "")


def _raw_data_partial(b, gt_paths):
    """A run that simulated in memory: only the captured simulated object (the ground truth arrays)."""
    import numpy as np
    arrays, sources = {}, []
    for key, src in gt_paths:
        if src is None:
            continue
        try:
            arrays[key] = np.asarray(inputs.load_npy(src))
            sources.append("`%s` (%s, shape %s, %s)" % (key, Path(src).name, list(arrays[key].shape),
                                                        arrays[key].dtype))
        except Exception as exc:
            b.deviations.append("cannot read %s for %s: %s" % (src, RAW_DATA, type(exc).__name__))
    missing = ptychopinn.RAW_DATA_NOT_CAPTURED
    need = ("trace the run with `--save-raw-data` (PARITY_TRACER_SAVE_RAW_DATA=1) to save them where the data is "
            "made")
    if not arrays:
        b.deviations.append("`%s` not bundled: the run simulated its data in memory and the profile captured no "
                            "simulation arrays; %s." % (RAW_DATA, need))
        return None
    with outputs.create(b.work / RAW_DATA) as fh:
        np.savez(fh, **arrays)
    b.members.append((RAW_DATA, "simulation arrays captured by the profile: %s" % ", ".join(sorted(arrays)),
                      "arrays/ of the run"))
    b.deviations.append("`%s` is partial: the run simulated its data in memory; it holds only the captured "
                        "simulated object (%s). Not captured: %s; %s." % (RAW_DATA, ", ".join(sorted(arrays)),
                                                                        missing, need))
    return "the captured simulated object only: %s. Not captured: %s." % ("; ".join(sources), missing)


def build(run_dir, work, includes=(), raw_data=None):
    """Fill ``work`` with the bundle of ``run_dir``; returns the builder (members, deviations).

    ``raw_data``: ``(path, what, readme_text)`` of a raw_data.npz made by the caller (the protocol command derives
    one in RawData's format), used instead of what the run's document names.
    """
    doc = load_doc(run_dir)
    b = _Builder(run_dir, doc, work, includes)
    out_doc = copy.deepcopy(doc)
    gt_paths = _arrays(b, doc, out_doc)
    if b.artifact(HISTORY, ("training", "history_artifact"), "per-epoch training history", npy=False):
        _rewrite(out_doc, ("training", "history_artifact"), HISTORY, b.rewrites)
    checkpoint_text = _checkpoint(b, doc, out_doc)
    if raw_data is not None:
        b.add_file(RAW_DATA, raw_data[0], raw_data[1], "`%s`" % raw_data[0])
        raw_text = raw_data[2]
    else:
        raw_text = _raw_data(b, doc, gt_paths)
    _config(b, doc)
    _telemetry(b, out_doc)
    _document_deviations(b, doc)
    b.add_bytes(MARKER, jsonio.dumps_pretty({"format": MARKER_FORMAT, "tool": "parity_tracer",
                                             "version": _tracer_version(), "run_dir": str(run_dir)}),
                "marks this folder as a bundle of parity_tracer (what `bundle --force` may replace)", "bundle")
    text = readme.readme(b, doc, readme.stream_headers(run_dir, doc), raw_text, checkpoint_text)
    outputs.write_bytes(work / README, text.encode("utf-8", "replace"), exclusive=True)
    return b


def _arrays(b, doc, out_doc):
    """The inference, ground truth and probe arrays and the renderings; returns the bundled ground truth as
    ``[(key, path)]``."""
    if b.artifact("amplitude.npy", ("inference", "artifacts", "amplitude_npy"), "stitched amplitude"):
        _rewrite(out_doc, ("inference", "artifacts", "amplitude_npy"), "amplitude.npy", b.rewrites)
    if b.artifact("phase.npy", ("inference", "artifacts", "phase_npy"), "stitched phase"):
        _rewrite(out_doc, ("inference", "artifacts", "phase_npy"), "phase.npy", b.rewrites)
    gt_paths = []
    for name, key, field in (("ground_truth_amp.npy", "ground_truth_amp", "amplitude_npy"),
                             ("ground_truth_phase.npy", "ground_truth_phase", "phase_npy")):
        if get(doc, "comparison", "ground_truth_source") in (None, "none") and \
                get(doc, "comparison", "ground_truth_artifacts", field) is None:
            b.deviations.append("`%s` not bundled: no ground truth was captured (comparison.ground_truth_source "
                                "= %s)." % (name, get(doc, "comparison", "ground_truth_source")))
            continue
        if b.artifact(name, ("comparison", "ground_truth_artifacts", field), "ground truth (simulated object)"):
            _rewrite(out_doc, ("comparison", "ground_truth_artifacts", field), name, b.rewrites)
            gt_paths.append((key, b.work / name))
    _pngs(b, doc, out_doc)
    # the probe before / after normalization (small arrays a report draws), when the run saved them
    for name, field, what in (("probe_pre.npy", "pre_npy", "probe before normalization"),
                              ("probe_post.npy", "post_npy", "probe after normalization")):
        if get(doc, "probe", "artifacts", field) is not None and b.artifact(name, ("probe", "artifacts", field),
                                                                            what):
            _rewrite(out_doc, ("probe", "artifacts", field), name, b.rewrites)
    return gt_paths


def _checkpoint(b, doc, out_doc):
    """model_checkpoint/ from training.checkpoint_artifact; returns README text (None when not bundled)."""
    ckpt = get(doc, "training", "checkpoint_artifact")
    ckpt_src = resolve(b.run_dir, ckpt)
    if ckpt is None:
        b.deviations.append("`%s/` not bundled: the run saved no model (training.checkpoint_artifact is null)."
                            % CHECKPOINT_DIR)
    elif ckpt_src is None or not ckpt_src.exists():
        b.deviations.append("`%s/` not bundled: training.checkpoint_artifact = `%s` does not exist here."
                            % (CHECKPOINT_DIR, ckpt))
    elif b.permitted(ckpt_src) is not None:
        b.leave_out(CHECKPOINT_DIR + "/", "the saved model " + b.permitted(ckpt_src))
    elif ckpt_src.is_dir() and (inside(b.run_dir, Path(os.path.abspath(ckpt_src))) or
                                _count_files(ckpt_src, CHECKPOINT_MAX_FILES) > CHECKPOINT_MAX_FILES):
        b.deviations.append("`%s/` not bundled: training.checkpoint_artifact = `%s` contains the run directory or "
                            "more than %d files; that is not a model checkpoint." % (CHECKPOINT_DIR, ckpt,
                                                                                    CHECKPOINT_MAX_FILES))
    else:
        count, skipped = _copy_checkpoint(b, ckpt_src)
        b.members.append((CHECKPOINT_DIR + "/", "saved model (%d file(s)), copied byte for byte; never loaded"
                          % count, "`%s` (training.checkpoint_artifact)" % ckpt))
        if skipped:
            b.leave_out(CHECKPOINT_DIR + "/" + ", ".join(sorted(skipped)),
                        "symbolic links and special files in the checkpoint folder are never followed or copied")
        _rewrite(out_doc, ("training", "checkpoint_artifact"),
                 CHECKPOINT_DIR if ckpt_src.is_dir() else "%s/%s" % (CHECKPOINT_DIR, ckpt_src.name), b.rewrites)
        return "%d file(s) copied from `%s`" % (count, ckpt)
    return None


def _config(b, doc):
    """config.json: the params.cfg snapshot, the dataclass config and the spec §2.3 fields."""
    cfgblock = mapping(doc.get("configuration"))
    config = {
        "params_cfg": cfgblock.get("legacy_params_cfg_snapshot"),
        "dataclass_config": cfgblock.get("dataclass_config"),
        "snapshot_when": cfgblock.get("snapshot_when"),
        "spec_configuration": {k: v for k, v in cfgblock.items()
                               if k not in ("legacy_params_cfg_snapshot", "dataclass_config", "snapshot_when")},
    }
    if config["params_cfg"] is None:
        b.deviations.append("`%s`: no params.cfg snapshot in the document (configuration.legacy_params_cfg_snapshot "
                            "is null)." % CONFIG)
    if config["dataclass_config"] is None:
        b.deviations.append("`%s`: no dataclass config (configuration.dataclass_config is null; the legacy "
                            "pipeline has none)." % CONFIG)
    b.add_bytes(CONFIG, jsonio.dumps_pretty(config), "params.cfg snapshot (`params_cfg`) + dataclass config "
                "(`dataclass_config`) + the spec §2.3 fields", "configuration block of the document")


def _telemetry(b, out_doc):
    """The document itself (artifact paths now point into the bundle), checked against the schema."""
    b.add_bytes(TELEMETRY, jsonio.dumps_pretty(out_doc), "the spec v1.0 telemetry document%s" % (
        " (artifact paths rewritten to the bundled files)" if b.rewrites else ""), "`%s`" % TELEMETRY)
    try:
        from parity_tracer.document.validate import validate_document
        errors = validate_document(out_doc)
    except Exception as exc:   # the validator is a check, never a reason to fail the bundle
        errors = ["validator unavailable: %s" % type(exc).__name__]
    if errors:
        b.deviations.append("`%s` does not validate against the spec v1.0 schema: %s%s." % (
            TELEMETRY, "; ".join(str(e) for e in errors[:3]), " (+%d more)" % (len(errors) - 3)
            if len(errors) > 3 else ""))


def _tracer_version():
    from parity_tracer import __version__
    return __version__


def _document_deviations(b, doc):
    for name in sequence(doc.get("missing_stages")):
        entry = next((s for s in sequence(doc.get("intensity_stages")) if get(s, "name") == name), None)
        b.deviations.append("Required stage `%s` missing: %s." % (name, get(entry, "absent_reason") or "not captured"))
    for s in sequence(doc.get("intensity_stages")):
        if not isinstance(s, dict) or s.get("absent"):
            continue
        if s.get("equivalent"):
            b.deviations.append("Stage `%s` captured from `%s`, a step playing its role on this path%s." % (
                s.get("name"), s.get("source"), ": %s" % s["note"] if s.get("note") else ""))
        elif s.get("note"):
            b.stage_notes.append("`%s` (`%s`): %s." % (s.get("name"), s.get("source"), s["note"]))
    for entry in sequence(get(doc, "tracer", "optional_stages_absent")):
        b.deviations.append("Optional stage `%s` not captured: %s." % (get(entry, "name"), get(entry, "reason")))
    errors = get(doc, "tracer", "errors")
    if isinstance(errors, dict) and errors:
        b.deviations.append("The tracer recorded errors: %s (see tracer.notes in the document)." % ", ".join(
            "%s=%s" % kv for kv in sorted(errors.items())))
    if get(doc, "tracer", "dropped"):
        b.deviations.append("The tracer dropped %s event(s)." % get(doc, "tracer", "dropped"))
