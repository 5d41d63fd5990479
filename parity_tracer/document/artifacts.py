"""Writing a document and the files beside it (``history.json``, ``amplitude.png`` / ``phase.png``).

The build names what to write (``report["history"]``, ``report["images"]``); this module writes them into the
document's folder and fills in their names. A file already there is replaced only when the document being
replaced named it as its own; otherwise the next free name (``history-2.json``) is used, with a note.
"""

import os
from pathlib import Path

from parity_tracer import inputs, jsonio, outputs
from parity_tracer.document import fields, figures

HISTORY_NAME = "history.json"
TELEMETRY = "parity_telemetry.json"


def _previous_neighbours(out_dir, document):
    """Files next to the document that the document about to be replaced named as its own (history, PNGs):
    only those may be replaced; any other file already there is left alone."""
    path = os.path.join(str(out_dir), document or TELEMETRY)
    try:
        old = jsonio.loads(inputs.read_bytes(path, follow=False))
    except (OSError, ValueError, UnicodeDecodeError):
        return set()
    if not isinstance(old, dict):
        return set()
    named = [fields.get(old, "training", "history_artifact"),
             fields.get(old, "inference", "artifacts", "amplitude_png"),
             fields.get(old, "inference", "artifacts", "phase_png")]
    return {n for n in named if isinstance(n, str) and n and "/" not in n and os.sep not in n and n[0] != "."}


class _Folder:
    """The document's folder: which neighbour names this reduce may use."""

    def __init__(self, out_dir, document):
        self.path = Path(os.path.abspath(out_dir))
        self.owned = _previous_neighbours(out_dir, document)   # the replaced document's own (replaceable)
        self.written = set()                                   # written by this reduce
        self.notes = []

    def neighbour(self, name):
        """``out_dir/name``, or ``stem-2.ext``... when ``name`` holds a file this reduce may not replace."""
        stem, ext = os.path.splitext(name)
        for n in range(1, 1000):
            candidate = name if n == 1 else "%s-%d%s" % (stem, n, ext)
            path = self.path / candidate
            if candidate in self.written or candidate in self.owned or not os.path.lexists(path):
                self.written.add(candidate)
                if n > 1:
                    self.notes.append("%s exists and was not written for this document: left as is, wrote %s"
                                      % (name, candidate))
                return path
        raise OSError("no free name for %s in %s" % (name, self.path))


def write_artifacts(doc, report, out_dir, document=None):
    """Make ``out_dir`` and write the history and images the build asked for beside the document, naming them in
    ``doc``; a file that cannot be written becomes a note and a ``reduce`` error in ``doc["tracer"]``."""
    outputs.makedirs(out_dir)
    folder = _Folder(out_dir, document)
    errors = []
    history = report.get("history")
    if history is not None:
        try:
            target = folder.neighbour(HISTORY_NAME)
            jsonio.dump_pretty(history, target)
            doc["training"]["history_artifact"] = target.name
        except OSError as exc:
            errors.append("cannot write %s: %s" % (HISTORY_NAME, exc))
    for part, (array, title) in sorted((report.get("images") or {}).items()):
        name = figures.PNG_NAMES[part]
        try:
            target = folder.neighbour(name)
            figures.render_image(array, target, title, figures.PNG_UNITS[part])
            doc["inference"]["artifacts"][part + "_png"] = target.name
        except Exception as exc:
            errors.append("cannot render %s (%s: %s)" % (name, type(exc).__name__, exc))
    tracer = doc["tracer"]
    for text in folder.notes + errors:
        if text not in tracer["notes"]:
            tracer["notes"].append(text)
    if errors:
        counts = dict(tracer["errors"], reduce=tracer["errors"].get("reduce", 0) + len(errors))
        tracer["errors"] = dict(sorted(counts.items()))


def write_document(doc, out_path):
    """Write a document the build made (validated by it), by private temp file + rename."""
    jsonio.dump_pretty(doc, out_path)
