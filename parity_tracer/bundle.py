"""The maintainer delivery (spec §4.1 / §4.3) and its integrity check.

``python -m parity_tracer bundle RUN_DIR DEST [--force]`` lays out::

    README.md              commands used (from the stream headers), environment notes, deviations
    checksums.txt          sha256sum format, paths relative to DEST: ``sha256sum -c checksums.txt`` passes in DEST
    parity_telemetry.json  the run's document, artifact paths rewritten to the bundled files
    config.json            params.cfg snapshot + dataclass config (the document's configuration block)
    raw_data.npz           the run's input npz, or (simulated runs) the captured simulation arrays
    history.json           per-epoch training history
    model_checkpoint/      the saved model (training.checkpoint_artifact), copied as files
    amplitude.npy, phase.npy, ground_truth_amp.npy, ground_truth_phase.npy
    amplitude.png, phase.png   the run's renderings, else rendered from the arrays (needs matplotlib)
    probe_pre.npy, probe_post.npy   the probe before / after normalization, when the run saved them

Whatever the run did not produce is left out and listed under "Deviations" in the README. Arrays are only ever
opened with ``allow_pickle=False``; pickles in a checkpoint directory are copied byte for byte, never loaded.

``python -m parity_tracer verify DEST`` re-hashes every file listed in checksums.txt and reports missing,
altered and extra files (exit 0 ok, 1 problems, 2 unusable bundle).

What is copied: only regular files that lie inside RUN_DIR (after resolving links), or at/under a path the user
names with ``--include PATH``. A document may name any path (``/etc/shadow`` as a history file); such a file is
left out and listed under "Left out" in the README. Symlinks are never followed out of RUN_DIR, also inside a
checkpoint folder; copies are never wider than their source (``mode & 0o644``).

DEST safety: a non-empty DEST is never replaced without ``--force``; with ``--force`` it is replaced only when it
is a previous bundle of this tool (it holds the marker file and verifies) — anything else is refused even then.
DEST may not be RUN_DIR or contain it. The bundle is built in a private temporary sibling directory; the old
bundle is moved aside and deleted only once the new one is complete, so a failed run leaves DEST as it was.
"""

import argparse
import copy
import hashlib
import os
import re
import shlex
import shutil
import stat
import sys
from pathlib import Path

from parity_tracer import inputs, jsonio, outputs
from parity_tracer.document import fields, figures, load as docread
from parity_tracer.stagemap import REQUIRED_STAGES

TELEMETRY = "parity_telemetry.json"
CHECKSUMS = "checksums.txt"
README = "README.md"
CONFIG = "config.json"
CHECKPOINT_DIR = "model_checkpoint"
RAW_DATA = "raw_data.npz"
MARKER = "parity_tracer_bundle.json"       # written by this tool into every bundle; --force needs it
REQUIRED_MEMBERS = (README, TELEMETRY, CONFIG)
MAX_CHECKSUMS_BYTES = 64 << 20
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f]")
CHUNK = 1 << 20
CHECKPOINT_MAX_FILES = 10000   # a "checkpoint" directory with more files than this is refused (a wrong path)
HEADER_SCAN_LINES = 50
_SUM_LINE = re.compile(r"^(\\?)([0-9a-fA-F]{64}) [ *](.+)$")


class BundleError(Exception):
    """Unusable input or destination (exit status 2)."""


# -- small helpers ---------------------------------------------------------------------------------------------

_get, _dict, _list = fields.get, fields.mapping, fields.sequence


def sha256_file(path, follow=True):
    h = hashlib.sha256()
    with inputs.open_regular(path, follow) as fh:
        while True:
            block = fh.read(CHUNK)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def _escape_name(name):
    """GNU sha256sum escaping: a name with a backslash or newline gets a leading backslash on its line."""
    if "\\" in name or "\n" in name:
        return True, name.replace("\\", "\\\\").replace("\n", "\\n")
    return False, name


def _unescape_name(name):
    out, i = [], 0
    while i < len(name):
        c = name[i]
        if c == "\\" and i + 1 < len(name):
            nxt = name[i + 1]
            out.append("\n" if nxt == "n" else nxt)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _tree(root):
    """(regular files, links, special files) below ``root`` as posix relative paths; symlinked folders are listed
    as links, never entered."""
    files, links, special = [], [], []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for d in list(dirnames):
            if os.path.islink(os.path.join(dirpath, d)):
                links.append(Path(os.path.relpath(os.path.join(dirpath, d), root)).as_posix())
                dirnames.remove(d)
        for name in filenames:
            full = os.path.join(dirpath, name)
            rel = Path(os.path.relpath(full, root)).as_posix()
            mode = os.lstat(full).st_mode
            (files if stat.S_ISREG(mode) else links if stat.S_ISLNK(mode) else special).append(rel)
    return sorted(files), sorted(links), sorted(special)


def _files_under(root):
    """Every regular file below ``root`` as a posix relative path (links are not followed)."""
    return _tree(root)[0]


def _npy_info(path):
    """(shape, dtype) of an .npy file read without pickles, or (None, reason)."""
    try:
        arr = inputs.load_npy(path)
        return list(arr.shape), str(arr.dtype)
    except Exception as exc:
        return None, "%s: %s" % (type(exc).__name__, str(exc).splitlines()[0][:120] if str(exc) else "")


# -- reading the run -----------------------------------------------------------------------------------------------

def _load_doc(run_dir):
    try:
        return docread.load_document(run_dir / TELEMETRY)
    except docread.DocumentError as exc:
        raise BundleError(str(exc))


def stream_headers(run_dir, doc):
    """Header events of the run's streams (first kind=header line of each file), in file-name order."""
    files = []
    for entry in _list(_get(doc, "tracer", "streams")):
        p = _get(entry, "path")
        if isinstance(p, str):
            f = Path(p) if os.path.isabs(p) else run_dir / p
            if _inside(Path(os.path.realpath(f)), Path(os.path.realpath(run_dir))):   # never outside the run
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


def _resolve(run_dir, p):
    if not isinstance(p, str) or not p or "\x00" in p:
        return None
    path = Path(p)
    return path if path.is_absolute() else run_dir / path


def _portable(name):
    """A member name every checksum tool reads back the same way: UTF-8, no control characters."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not _UNSAFE_NAME.search(name)


# -- building ------------------------------------------------------------------------------------------------------

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
        if _inside(real, self.real_run) or any(_inside(real, inc) for inc in self.includes):
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
        value = _get(self.doc, *field_path)
        label = ".".join(field_path)
        if value is None:
            self.deviations.append("`%s` not bundled: the document has no %s." % (name, label))
            return False
        src = _resolve(self.run_dir, value)
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
    parent = _get(doc, *path[:-1])
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
        files, links, special = _tree(src)
        skipped += links + special
        for rel in files:
            if not _portable(rel):
                raise BundleError("checkpoint file name %r is not UTF-8 or holds a control character: no checksum "
                                  "tool reads it back reliably; rename it" % rel)
            b.add_file("%s/%s" % (CHECKPOINT_DIR, rel), src / rel, "", None)
            b.members.pop()
            count += 1
        if count == 0:
            outputs.subdir(b.work, CHECKPOINT_DIR)
    else:
        if not _portable(src.name):
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
        src = _resolve(b.run_dir, _get(doc, "inference", "artifacts", field))
        reason = b.permitted(src) if src is not None and src.is_file() else "absent"
        if reason is None:
            b.add_file(name, src, "rendering of the stitched %s" % part, "`%s`" % _get(doc, "inference", "artifacts",
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
    ds = _dict(_get(doc, "provenance", "dataset_source"))
    dtype, path, checksum = ds.get("type"), ds.get("path"), ds.get("checksum")
    if dtype == "npz_file":
        src = _resolve(b.run_dir, path)
        if src is None or not src.is_file():
            b.deviations.append("`%s` not bundled: the run read `%s`, which is not available here." % (RAW_DATA, path))
            return None
        reason = b.permitted(src)
        if reason is not None:
            b.leave_out(RAW_DATA, "the input dataset " + reason)
            return None
        actual = sha256_file(os.path.realpath(src), follow=False)
        b.add_file(RAW_DATA, src, "the input dataset the run loaded (RawData.from_file)", "`%s`" % path)
        if checksum and actual != checksum:
            b.deviations.append("`%s`: its sha256 %s differs from the checksum recorded during the run (%s): the "
                                "file changed after the run." % (RAW_DATA, actual, checksum))
            return "the file the run loaded (`%s`); WARNING: it changed since the run (see Deviations)." % path
        return "the file the run loaded (`%s`), byte for byte%s." % (
            path, "; sha256 matches the checksum recorded during the run" if checksum else "")
    captured = next((a for a in _get(doc, "tracer", "artifacts") or []
                     if isinstance(a, dict) and a.get("name") == "raw_data_npz"), None)
    if dtype == "simulated" and captured is not None:
        src = _resolve(b.run_dir, captured.get("path"))
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
    missing = ("diffraction patterns (`diff3d` / `X`), scan coordinates (`xcoords`, `ycoords`, "
               "`xcoords_start`, `ycoords_start`), `scan_index` and the simulation `probeGuess`")
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
    """Fill ``work`` with the bundle of ``run_dir``; returns the builder (members, deviations) and README text.

    ``raw_data``: ``(path, what, readme_text)`` of a raw_data.npz made by the caller (the protocol command derives
    one in RawData's format), used instead of what the run's document names.
    """
    doc = _load_doc(run_dir)
    b = _Builder(run_dir, doc, work, includes)
    out_doc = copy.deepcopy(doc)

    # inference and ground truth arrays
    if b.artifact("amplitude.npy", ("inference", "artifacts", "amplitude_npy"), "stitched amplitude"):
        _rewrite(out_doc, ("inference", "artifacts", "amplitude_npy"), "amplitude.npy", b.rewrites)
    if b.artifact("phase.npy", ("inference", "artifacts", "phase_npy"), "stitched phase"):
        _rewrite(out_doc, ("inference", "artifacts", "phase_npy"), "phase.npy", b.rewrites)
    gt_paths = []
    for name, key, field in (("ground_truth_amp.npy", "ground_truth_amp", "amplitude_npy"),
                             ("ground_truth_phase.npy", "ground_truth_phase", "phase_npy")):
        if _get(doc, "comparison", "ground_truth_source") in (None, "none") and \
                _get(doc, "comparison", "ground_truth_artifacts", field) is None:
            b.deviations.append("`%s` not bundled: no ground truth was captured (comparison.ground_truth_source "
                                "= %s)." % (name, _get(doc, "comparison", "ground_truth_source")))
            continue
        if b.artifact(name, ("comparison", "ground_truth_artifacts", field), "ground truth (simulated object)"):
            _rewrite(out_doc, ("comparison", "ground_truth_artifacts", field), name, b.rewrites)
            gt_paths.append((key, work / name))
    _pngs(b, doc, out_doc)

    # the probe before / after normalization (small arrays a report draws), when the run saved them
    for name, field, what in (("probe_pre.npy", "pre_npy", "probe before normalization"),
                              ("probe_post.npy", "post_npy", "probe after normalization")):
        if _get(doc, "probe", "artifacts", field) is not None and b.artifact(name, ("probe", "artifacts", field),
                                                                            what):
            _rewrite(out_doc, ("probe", "artifacts", field), name, b.rewrites)

    # training
    if b.artifact("history.json", ("training", "history_artifact"), "per-epoch training history", npy=False):
        _rewrite(out_doc, ("training", "history_artifact"), "history.json", b.rewrites)
    ckpt = _get(doc, "training", "checkpoint_artifact")
    ckpt_src = _resolve(run_dir, ckpt)
    checkpoint_text = None
    if ckpt is None:
        b.deviations.append("`%s/` not bundled: the run saved no model (training.checkpoint_artifact is null)."
                            % CHECKPOINT_DIR)
    elif ckpt_src is None or not ckpt_src.exists():
        b.deviations.append("`%s/` not bundled: training.checkpoint_artifact = `%s` does not exist here."
                            % (CHECKPOINT_DIR, ckpt))
    elif b.permitted(ckpt_src) is not None:
        b.leave_out(CHECKPOINT_DIR + "/", "the saved model " + b.permitted(ckpt_src))
    elif ckpt_src.is_dir() and (_inside(run_dir, Path(os.path.abspath(ckpt_src))) or
                                _count_files(ckpt_src, CHECKPOINT_MAX_FILES) > CHECKPOINT_MAX_FILES):
        b.deviations.append("`%s/` not bundled: training.checkpoint_artifact = `%s` contains the run directory or "
                            "more than %d files; that is not a model checkpoint." % (CHECKPOINT_DIR, ckpt,
                                                                                    CHECKPOINT_MAX_FILES))
    else:
        count, skipped = _copy_checkpoint(b, ckpt_src)
        checkpoint_text = "%d file(s) copied from `%s`" % (count, ckpt)
        b.members.append((CHECKPOINT_DIR + "/", "saved model (%d file(s)), copied byte for byte; never loaded"
                          % count, "`%s` (training.checkpoint_artifact)" % ckpt))
        if skipped:
            b.leave_out(CHECKPOINT_DIR + "/" + ", ".join(sorted(skipped)),
                        "symbolic links and special files in the checkpoint folder are never followed or copied")
        _rewrite(out_doc, ("training", "checkpoint_artifact"),
                 CHECKPOINT_DIR if ckpt_src.is_dir() else "%s/%s" % (CHECKPOINT_DIR, ckpt_src.name), b.rewrites)

    if raw_data is not None:
        b.add_file(RAW_DATA, raw_data[0], raw_data[1], "`%s`" % raw_data[0])
        raw_text = raw_data[2]
    else:
        raw_text = _raw_data(b, doc, gt_paths)

    # configuration
    cfgblock = _dict(doc.get("configuration"))
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

    # the document itself (paths now point into the bundle)
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

    _document_deviations(b, doc)
    b.add_bytes(MARKER, jsonio.dumps_pretty({"format": "parity-tracer-bundle/1", "tool": "parity_tracer",
                                             "version": _tracer_version(), "run_dir": str(run_dir)}),
                "marks this folder as a bundle of parity_tracer (what `bundle --force` may replace)", "bundle")
    readme = _readme(b, doc, stream_headers(run_dir, doc), raw_text, checkpoint_text)
    outputs.write_bytes(work / README, readme.encode("utf-8", "replace"), exclusive=True)
    return b


def _tracer_version():
    from parity_tracer import __version__
    return __version__


def _document_deviations(b, doc):
    for name in _list(doc.get("missing_stages")):
        entry = next((s for s in _list(doc.get("intensity_stages")) if _get(s, "name") == name), None)
        b.deviations.append("Required stage `%s` missing: %s." % (name, _get(entry, "absent_reason") or "not captured"))
    for s in _list(doc.get("intensity_stages")):
        if not isinstance(s, dict) or s.get("absent"):
            continue
        if s.get("equivalent"):
            b.deviations.append("Stage `%s` captured from `%s`, a step playing its role on this path%s." % (
                s.get("name"), s.get("source"), ": %s" % s["note"] if s.get("note") else ""))
        elif s.get("note"):
            b.stage_notes.append("`%s` (`%s`): %s." % (s.get("name"), s.get("source"), s["note"]))
    for entry in _list(_get(doc, "tracer", "optional_stages_absent")):
        b.deviations.append("Optional stage `%s` not captured: %s." % (_get(entry, "name"), _get(entry, "reason")))
    errors = _get(doc, "tracer", "errors")
    if isinstance(errors, dict) and errors:
        b.deviations.append("The tracer recorded errors: %s (see tracer.notes in the document)." % ", ".join(
            "%s=%s" % kv for kv in sorted(errors.items())))
    if _get(doc, "tracer", "dropped"):
        b.deviations.append("The tracer dropped %s event(s)." % _get(doc, "tracer", "dropped"))


# -- README ----------------------------------------------------------------------------------------------------------

def _command_lines(header):
    from parity_tracer.settings import command_line
    return command_line(header)


def _readme(b, doc, headers, raw_text, checkpoint_text):
    env = _dict(_get(doc, "provenance", "environment"))
    prov = _dict(doc.get("provenance"))
    lines = ["# Parity bundle: %s / %s" % (doc.get("pipeline"), doc.get("scenario")), "",
             "Built by `python -m parity_tracer bundle` (parity_tracer %s) from the traced run directory `%s`, "
             "in the layout of the Parity Logging Specification v1.0 §4.3. The telemetry document was written "
             "at %s." % (_get(doc, "tracer", "version") or "unknown", b.run_dir, doc.get("timestamp")), "",
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

    segment_info = _dict(_get(doc, "tracer", "run_segment"))
    if segment_info:
        lines += ["One run of several traced in one process: run %s of %s, `%s`. Why it starts here: %s. Why it "
                  "ends here: %s (`tracer.run_segment` of the document has the evidence)." % (
                      segment_info.get("index"), segment_info.get("of"), segment_info.get("label"),
                      segment_info.get("starts"), segment_info.get("ends")), ""]

    lines += ["## Commands used", ""]
    if not headers:
        lines += ["No stream header was found (the run's `streams/` directory is not available), so the command "
                  "line is unknown.", ""]
    for path, h in headers:
        cwd, traced, plain = _command_lines(h)
        lines.append("Process %s%s (stream `%s`), working directory `%s`:" % (
            h.get("pid"), " (child of %s)" % h.get("ppid") if any(h.get("ppid") == o.get("pid") for _, o in headers)
            else "", Path(path).name, cwd))
        lines += ["", "```bash", "cd %s" % shlex.quote(cwd) if cwd else "# working directory not recorded",
                  "%s" % traced, "```", "",
                  "The traced program, as plain Python would run it: `%s`. (With the environment activation "
                  "instead of `run`, the same settings are the `PARITY_TRACER_*` variables.)" % plain, ""]

    lines += ["## Environment", ""]
    lines.append("- Python %s (`%s`), TensorFlow %s, Keras %s, NumPy %s" % (
        env.get("python_version"), next((h.get("executable") for _, h in headers if h.get("executable")), "?"),
        env.get("tensorflow_version"), env.get("keras_version"), env.get("numpy_version")))
    packages = env.get("packages") if isinstance(env.get("packages"), dict) else {}
    if packages:
        lines.append("- Packages seen by the tracer: %s" % ", ".join("%s %s" % kv for kv in sorted(packages.items())))
    lines.append("- Code: commit `%s`, branch `%s`, dirty: %s" % (prov.get("commit_hash"), prov.get("branch"),
                                                                  prov.get("dirty")))
    seeds = prov.get("seeds") if isinstance(prov.get("seeds"), dict) else {}
    lines.append("- Seeds: object %s, simulation %s, training %s" % (seeds.get("object_seed"), seeds.get("sim_seed"),
                                                                    seeds.get("training_seed")))
    ds = prov.get("dataset_source") if isinstance(prov.get("dataset_source"), dict) else {}
    lines.append("- Dataset: %s, path %s, sha256 %s — %s" % (ds.get("type"), ds.get("path"), ds.get("checksum"),
                                                             ds.get("provenance_chain")))
    cfg = _dict(doc.get("configuration"))
    lines.append("- Configuration: " + ", ".join("%s=%s" % (k, cfg.get(k)) for k in (
        "N", "gridsize", "nphotons", "batch_size", "nepochs", "loss_fn", "intensity_scale_trainable")))
    n_required = len(REQUIRED_STAGES)
    missing = _list(doc.get("missing_stages"))
    lines.append("- Required stages captured: %d/%d" % (n_required - len(missing), n_required))
    training = _dict(doc.get("training"))
    lines.append("- Training: %s epoch(s), final loss %s, final val_loss %s, NaN: %s" % (
        training.get("epochs_completed"), training.get("final_loss"), training.get("final_val_loss"),
        training.get("nan_detected")))
    inference = _dict(doc.get("inference"))
    lines.append("- Inference: stitched shape %s, group_limit %s, amplitude mean %s" % (
        inference.get("stitched_shape"), inference.get("group_limit"), _get(inference, "amplitude", "mean")))
    scale = _dict(doc.get("intensity_scale"))
    lines.append("- Intensity scale: recorded %s, model exp(log_scale) %s" % (scale.get("recorded_in_bundle"),
                                                                             scale.get("model_exp_log_scale")))
    lines.append("")

    lines += ["## Deviations", ""]
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
    if b.stage_notes:
        lines += ["## Stage notes", ""] + ["- " + n for n in b.stage_notes] + [""]
    covered = {"optional stage %s not captured: %s" % (_get(e, "name"), _get(e, "reason"))
               for e in _list(_get(doc, "tracer", "optional_stages_absent"))}
    notes = [n for n in _list(_get(doc, "tracer", "notes")) if isinstance(n, str) and n not in covered]
    if notes:
        lines += ["## Tracer notes", ""] + ["- %s" % n for n in notes] + [""]
    return "\n".join(lines)


# -- checksums and verify ---------------------------------------------------------------------------------------------

def write_checksums(root):
    root = Path(root)
    lines = []
    for rel in _files_under(root):
        if rel == CHECKSUMS:
            continue
        escaped, name = _escape_name(rel)
        lines.append("%s%s  %s\n" % ("\\" if escaped else "", sha256_file(root / rel, follow=False), name))
    outputs.write_bytes(root / CHECKSUMS, "".join(lines).encode("utf-8"), exclusive=True)
    return len(lines)


def read_checksums(root, conflicts=None):
    """name -> sha256, read in binary (no newline translation: a ``\\r`` stays part of its name). A name listed
    twice with different sums is added to ``conflicts`` when given."""
    path = Path(root) / CHECKSUMS
    try:
        data = inputs.read_bytes(path, limit=MAX_CHECKSUMS_BYTES, follow=False)
    except OSError as exc:
        raise BundleError("%s: cannot read (%s)" % (path, inputs.error_text(exc)))
    entries = {}
    for lineno, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BundleError("%s:%d: not UTF-8" % (path, lineno))
        m = _SUM_LINE.match(line)
        if m is None:
            raise BundleError("%s:%d: not a sha256sum line" % (path, lineno))
        name = _unescape_name(m.group(3)) if m.group(1) else m.group(3)
        if name.startswith("./"):
            name = name[2:]
        parts = Path(name).parts
        if os.path.isabs(name) or ".." in parts or not parts:
            raise BundleError("%s:%d: unsafe path %r (absolute or outside the bundle)" % (path, lineno, name))
        key = Path(name).as_posix()
        digest = m.group(2).lower()
        if key in entries and entries[key] != digest and conflicts is not None:
            conflicts.append(key)
        entries.setdefault(key, digest)
    return entries


def _through_link(root, name):
    """True when ``name`` (relative to root) is a link or passes through one."""
    p = Path(root)
    for part in Path(name).parts:
        p = p / part
        if os.path.islink(p):
            return True
    return False


def verify(root):
    """{'ok', 'missing', 'altered', 'extra', 'unlisted_required', 'checked'}; raises BundleError when unusable."""
    root = Path(root)
    if root.is_symlink() or not root.is_dir():
        raise BundleError("%s is not a directory" % root)
    conflicts = []
    entries = read_checksums(root, conflicts)
    missing, altered, links, unsafe = [], [], [], []
    for name, expected in sorted(entries.items()):
        if not _portable(name):
            unsafe.append(name)
            continue
        f = root / name
        if _through_link(root, name):
            links.append(name)
            continue
        if not os.path.lexists(f):
            missing.append(name)
            continue
        try:
            actual = sha256_file(f, follow=False)
        except OSError as exc:
            altered.append((name, expected, "unreadable: %s" % inputs.error_text(exc)))
            continue
        if actual != expected:
            altered.append((name, expected, actual))
    files, tree_links, special = _tree(root)
    links = sorted(set(links) | set(tree_links))
    extra = [p for p in files + special if p != CHECKSUMS and p not in entries]
    # the telemetry may carry another name (dose-experiments --parity-log): any listed top-level document counts
    telemetry_listed = TELEMETRY in entries or any(
        n.endswith(".json") and "/" not in n and n not in (CONFIG, "history.json", MARKER) for n in entries)
    unlisted = [m for m in REQUIRED_MEMBERS if m not in entries and not (m == TELEMETRY and telemetry_listed)]
    ok = not (missing or altered or extra or unlisted or links or unsafe or conflicts)
    return {"ok": ok, "missing": missing, "altered": altered, "extra": extra, "unlisted_required": unlisted,
            "links": links, "unsafe_names": unsafe, "conflicts": sorted(set(conflicts)), "checked": len(entries)}


# -- command line ----------------------------------------------------------------------------------------------------

def _inside(child, parent):
    try:
        child.relative_to(parent)
        return True
    except ValueError:
        return False


def _is_our_bundle(dest):
    """A previous bundle of this tool: it holds our marker (a regular file naming our format) and verifies."""
    try:
        marker = jsonio.loads(inputs.read_bytes(dest / MARKER, limit=1 << 16, follow=False))
        if not isinstance(marker, dict) or marker.get("format") != "parity-tracer-bundle/1":
            return False
        return verify(dest)["ok"]
    except (OSError, ValueError, BundleError):
        return False


def _aside(dest):
    """Move ``dest`` to a fresh hidden sibling name (never over anything); returns the new path."""
    for _ in range(100):
        old = dest.parent / (".%s.old-%s" % (dest.name, os.urandom(6).hex()))
        if not os.path.lexists(old):
            os.rename(dest, old)
            return old
    raise BundleError("cannot move %s aside" % dest)


def _one_run(run_dir, run):
    """The folder of the document to bundle: RUN_DIR itself, or (``--run``) one run of a multi-run folder."""
    from parity_tracer.document import segment
    try:
        if run is not None:
            if not segment.is_multi_run(run_dir):
                raise BundleError("--run %s: %s holds a single run (no %s)" % (run, run_dir, segment.RUNS_INDEX))
            return segment.find_run(run_dir, run)["dir"]
        if segment.is_multi_run(run_dir):
            labels = ", ".join(r["label"] for r in segment.list_runs(run_dir))
            raise BundleError("%s holds several runs (%s): choose one with --run LABEL" % (run_dir, labels))
    except segment.RunsError as exc:
        raise BundleError(str(exc))
    return run_dir


def work_dir_for(dest):
    """A private temporary sibling of ``dest`` (mkdtemp, 0o700) to build in; renamed into place once complete, so
    DEST never holds half a bundle."""
    outputs.makedirs(dest.parent)
    return Path(outputs.private_dir(dest.parent, ".%s.tmp-" % dest.name[:60]))


def seal(work):
    """checksums.txt of every file in ``work``, then verified; returns the number listed. Copies kept their
    (never wider) source modes; the folder, ours, becomes readable like any output."""
    count = write_checksums(work)
    result = verify(work)
    if not result["ok"]:
        raise BundleError("self-check of the new bundle failed: %s" % result)
    os.chmod(work, outputs.DIR_MODE)
    return count


def make_bundle(run_dir, dest, force=False, includes=(), run=None):
    run_dir = Path(run_dir)
    if run_dir.is_file():
        run_dir = run_dir.parent
    if not run_dir.is_dir():
        raise BundleError("%s is not a run directory" % run_dir)
    run_dir = Path(os.path.abspath(run_dir))
    dest = Path(os.path.abspath(dest))
    if _inside(Path(os.path.realpath(run_dir)), Path(os.path.realpath(dest))) or _inside(run_dir, dest):
        raise BundleError("DEST %s is the run directory or contains it" % dest)
    for inc in includes:
        if not os.path.exists(inc):
            raise BundleError("--include %s: no such file or folder" % inc)
    top, run_dir = run_dir, _one_run(run_dir, run)
    if run_dir != top:     # one run of a multi-run folder: its arrays live in the folder the user named
        includes = list(includes) + [top]
    replace = False
    if dest.exists() or dest.is_symlink():
        if not dest.is_dir() or dest.is_symlink():
            raise BundleError("DEST %s exists and is not a directory" % dest)
        if any(dest.iterdir()):
            if not force:
                raise BundleError("DEST %s is not empty (use --force to replace a previous bundle)" % dest)
            if not _is_our_bundle(dest):
                raise BundleError("DEST %s is not empty and is not a previous bundle of parity_tracer that verifies "
                                  "(no %s, or its checksums fail): refusing to replace it, even with --force"
                                  % (dest, MARKER))
            replace = True
    _load_doc(run_dir)     # unusable input fails before anything is written
    work = work_dir_for(dest)
    try:
        b = build(run_dir, work, includes)
        count = seal(work)
        if replace:
            old = _aside(dest)
            try:
                os.rename(work, dest)
            except BaseException:
                os.rename(old, dest)
                raise
            shutil.rmtree(old, ignore_errors=True)
        elif dest.exists():
            os.rmdir(dest)                        # the empty folder the user gave
            os.rename(work, dest)
        else:
            os.rename(work, dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return b, count


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m parity_tracer bundle",
                                     description="Lay out a run as the spec §4.3 maintainer bundle.")
    parser.add_argument("run_dir", help="the traced run's output directory (holds parity_telemetry.json)")
    parser.add_argument("dest", help="bundle directory to create")
    parser.add_argument("--force", action="store_true", help="replace DEST when it holds a previous bundle")
    parser.add_argument("--include", action="append", default=[], metavar="PATH",
                        help="also copy artifacts the document names at or under PATH (outside the run directory)")
    parser.add_argument("--run", metavar="LABEL",
                        help="a folder holding several runs (runs.json): bundle this one (label, index-label or index)")
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    try:
        b, count = make_bundle(args.run_dir, args.dest, force=args.force, includes=args.include, run=args.run)
    except BundleError as exc:
        sys.stderr.write("parity_tracer: bundle: %s\n" % exc)
        return 2
    except OSError as exc:
        sys.stderr.write("parity_tracer: bundle: %s\n" % exc)
        return 2
    dest = Path(args.dest)
    for name, what, _ in sorted(b.members):
        sys.stdout.write("  %-24s %s\n" % (name, what))
    sys.stderr.write("parity_tracer: bundle: %d files -> %s (%d deviation%s in README.md); check with: "
                     "cd %s && sha256sum -c %s\n" % (count + 1, dest, len(b.deviations),
                                                     "" if len(b.deviations) == 1 else "s", shlex.quote(str(dest)),
                                                     CHECKSUMS))
    return 0


def verify_main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m parity_tracer verify",
                                     description="Re-check every checksum of a bundle.")
    parser.add_argument("dest", help="bundle directory")
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    try:
        r = verify(args.dest)
    except BundleError as exc:
        sys.stderr.write("parity_tracer: verify: %s\n" % exc)
        return 2
    for name in r["missing"]:
        sys.stdout.write("MISSING  %s\n" % name)
    for name, expected, actual in r["altered"]:
        sys.stdout.write("ALTERED  %s (expected %s, got %s)\n" % (name, expected, actual))
    for name in r["extra"]:
        sys.stdout.write("EXTRA    %s (not in %s)\n" % (name, CHECKSUMS))
    for name in r["unlisted_required"]:
        sys.stdout.write("UNLISTED %s (a bundle must list it in %s)\n" % (name, CHECKSUMS))
    for name in r["conflicts"]:
        sys.stdout.write("CONFLICT %s (listed twice with different sums)\n" % name)
    for name in r["links"]:
        sys.stdout.write("LINK     %s (a bundle holds no symbolic links)\n" % name)
    for name in r["unsafe_names"]:
        sys.stdout.write("UNSAFE   %r (control character in a member name)\n" % name)
    if r["ok"]:
        sys.stdout.write("OK: %d files match %s\n" % (r["checked"], CHECKSUMS))
        return 0
    sys.stdout.write("FAILED: %d missing, %d altered, %d extra, %d required file(s) not listed, %d conflicting, "
                     "%d link(s), %d unsafe name(s) (%d listed)\n" % (
                         len(r["missing"]), len(r["altered"]), len(r["extra"]), len(r["unlisted_required"]),
                         len(r["conflicts"]), len(r["links"]), len(r["unsafe_names"]), r["checked"]))
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
