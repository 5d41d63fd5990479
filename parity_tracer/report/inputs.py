"""Reading the report's inputs: every folder and file is hostile (it may come from another machine).

An input is a run folder (``parity_telemetry.json`` + ``arrays/`` + ``history.json``), a delivery folder (spec
§4.3: the document, possibly under another ``--parity-log`` name, next to ``amplitude.npy`` & co.), a telemetry
document, or a sweep folder (``sweep.json``). Files are found inside the folder given and nowhere else:

* a path taken from data (a document's artifact path, a sweep's point folder) is relative, has no ``..`` and
  no symlink anywhere below the folder; an absolute path is used only when it names a file inside the folder;
* only regular files are opened (``O_NOFOLLOW``, then ``fstat``), and read with a size bound;
* ``.npy`` files are loaded without pickles, and only numeric arrays of bounded size are kept.

Anything unusable in a *named input* raises InputError (the command prints one line and exits 2); a file the
data merely points at is optional: a problem with it becomes a note in the report and the file reads as absent.
"""

import io
import os
import stat
from pathlib import Path

from parity_tracer import inputs, jsonio
from parity_tracer.document import load as docread

TELEMETRY = docread.TELEMETRY
SWEEP = "sweep.json"
SWEEP_FORMAT = "parity-tracer-sweep/1"
HISTORY = "history.json"
NOT_DOCUMENTS = ("config.json", HISTORY, SWEEP)
MAX_DOCUMENT_BYTES = 64 << 20
MAX_JSON_BYTES = 16 << 20
MAX_ARRAY_BYTES = 256 << 20
MAX_ARRAY_ELEMENTS = 16 << 20
MAX_CANDIDATES = 64           # top-level *.json files tried when a folder has no parity_telemetry.json
MAX_SWEEP_POINTS = 500
DELIVERY_ARRAYS = {"amplitude": "amplitude.npy", "phase": "phase.npy",
                   "truth_amplitude": "ground_truth_amp.npy", "truth_phase": "ground_truth_phase.npy"}


class InputError(Exception):
    """A named input cannot be used at all (exit status 2)."""


class FileProblem(Exception):
    """An optional file cannot be used; the message is shown as a note."""


# -- paths ----------------------------------------------------------------------------------------------------------

def inside(root, rel):
    """``root/rel`` when ``rel`` stays inside ``root`` without passing a symlink, else None.

    ``root`` is a real (resolved) folder. Absolute ``rel`` is accepted only when it lies under ``root``."""
    if not isinstance(rel, str) or not rel or "\x00" in rel:
        return None
    if os.path.isabs(rel):
        try:
            rel = os.path.relpath(rel, root)
        except ValueError:
            return None
    parts = Path(rel).parts
    if not parts or any(p in ("..", "") for p in parts) or os.path.isabs(rel):
        return None
    current = Path(root)
    for part in parts:
        if part == ".":
            continue
        current = current / part
        try:
            st = os.lstat(current)
        except OSError:
            return None
        if stat.S_ISLNK(st.st_mode):
            return None
    return current


def read_bytes(path, limit):
    """The bytes of a regular file (never through a symlink), at most ``limit`` of them; FileProblem otherwise.

    Read through the one safe reader (``parity_tracer.inputs``: O_NOFOLLOW, O_NONBLOCK, fstat, bounded)."""
    try:
        return inputs.read_bytes(path, limit, follow=False)
    except inputs.NotRegular as exc:
        raise FileProblem("%s: %s" % (path, inputs.error_text(exc)))
    except OSError as exc:
        raise FileProblem("%s: cannot read (%s)" % (path, exc.strerror or type(exc).__name__))


def read_json(path, limit=MAX_JSON_BYTES):
    data = read_bytes(path, limit)
    try:
        return jsonio.loads(data)
    except (ValueError, RecursionError) as exc:
        raise FileProblem("%s: not JSON (%s)" % (path, str(exc).splitlines()[0][:120] if str(exc) else "error"))


def read_array(path):
    """A numeric numpy array from an .npy file (no pickles, bounded size); FileProblem otherwise."""
    import numpy as np
    data = read_bytes(path, MAX_ARRAY_BYTES)
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:   # numpy raises many types for a malformed header
        raise FileProblem("%s: not a readable .npy (%s)" % (path, type(exc).__name__))
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biufc":
        raise FileProblem("%s: not a numeric array" % path)
    if arr.size > MAX_ARRAY_ELEMENTS or arr.size == 0:
        raise FileProblem("%s: %d elements (expected 1..%d)" % (path, arr.size, MAX_ARRAY_ELEMENTS))
    return arr


# -- inputs ---------------------------------------------------------------------------------------------------------

class Source:
    """One run: its document, the folder its files are looked up in, and notes about what could not be read."""

    def __init__(self, given, doc, folder, doc_name, kind):
        self.given = str(given)
        self.doc = doc
        self.folder = folder            # real path of the folder; files are read only below it
        self.doc_name = doc_name
        self.kind = kind                # "run folder" | "delivery folder" | "telemetry document"
        self.notes = []

    def array(self, *candidates):
        """The first candidate .npy (relative paths) that reads as a numeric array; None if none does."""
        return self._first(candidates, read_array)

    def json_file(self, *candidates):
        """The first candidate JSON file that parses; None if none does."""
        return self._first(candidates, read_json)

    def _first(self, candidates, reader):
        for rel in candidates:
            p = inside(self.folder, rel) if isinstance(rel, str) else None
            if p is None:
                continue
            try:
                return reader(p)
            except FileProblem as exc:
                self.notes.append(str(exc))
        return None


def _real_folder(path):
    try:
        real = os.path.realpath(path)
    except (OSError, ValueError) as exc:
        raise InputError("%s: cannot resolve (%s)" % (path, exc))
    return real


def _document(path, label):
    try:
        data = read_bytes(path, MAX_DOCUMENT_BYTES)
    except FileProblem as exc:
        raise InputError(str(exc))
    try:
        return docread.parse_document(data, label)
    except docread.DocumentError as exc:
        raise InputError(str(exc))


def _find_document(folder):
    """(path, name) of the folder's telemetry document: parity_telemetry.json, else the one other top-level
    JSON file that is a telemetry document (a delivery made with another --parity-log name)."""
    direct = inside(folder, TELEMETRY)
    if direct is not None:
        return direct, TELEMETRY
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json") and n not in NOT_DOCUMENTS)
    except OSError as exc:
        raise InputError("%s: cannot list (%s)" % (folder, exc.strerror or exc))
    found = []
    for name in names[:MAX_CANDIDATES]:
        p = inside(folder, name)
        if p is None:
            continue
        try:
            data = read_bytes(p, MAX_DOCUMENT_BYTES)
            docread.parse_document(data, name)
        except (FileProblem, docread.DocumentError):
            continue
        found.append((p, name))
    if not found:
        raise InputError("%s: no telemetry document (no %s, and no other top-level .json with a schema_version)"
                         % (folder, TELEMETRY))
    if len(found) > 1:
        raise InputError("%s: several telemetry documents (%s): name the one to use"
                         % (folder, ", ".join(n for _, n in found)))
    return found[0]


def is_sweep(path):
    return os.path.isdir(path) and inside(_real_folder(path), SWEEP) is not None


def open_run(path):
    """A Source for a run folder, a delivery folder or a telemetry document."""
    if not os.path.exists(path):
        raise InputError("%s: no such file or folder" % path)
    if os.path.isdir(path):
        folder = _real_folder(path)
        doc_path, name = _find_document(folder)
        doc = _document(doc_path, doc_path)
        delivery = any(inside(folder, n) is not None for n in DELIVERY_ARRAYS.values())
        kind = "delivery folder" if delivery else "run folder"
        return Source(path, doc, folder, name, kind)
    real = _real_folder(path)
    doc = _document(real, path)
    return Source(path, doc, os.path.dirname(real), os.path.basename(real), "telemetry document")


def open_sweep(path):
    """(real folder, sweep dict) of a sweep folder; InputError when sweep.json is unusable."""
    folder = _real_folder(path)
    p = inside(folder, SWEEP)
    if p is None:
        raise InputError("%s: no %s" % (path, SWEEP))
    try:
        sweep = read_json(p)
    except FileProblem as exc:
        raise InputError(str(exc))
    if not isinstance(sweep, dict) or sweep.get("format") != SWEEP_FORMAT:
        raise InputError("%s: not a sweep (format is not %r)" % (p, SWEEP_FORMAT))
    points = sweep.get("points")
    if not isinstance(points, list):
        raise InputError("%s: 'points' is not a list" % p)
    if len(points) > MAX_SWEEP_POINTS:
        raise InputError("%s: %d points (at most %d are read)" % (p, len(points), MAX_SWEEP_POINTS))
    return folder, sweep
