"""One run's events, indexed for the section builders: by kind and stage, the headers, where training starts,
notes, and paths (artifact paths in events resolved; paths written relative to the document's folder)."""

import os
from pathlib import Path

from parity_tracer import inputs
from parity_tracer.document import fields

ARRAY_MAX_BYTES = 2 << 30   # an artifact array larger than this is refused (read through mmap below it)
OUT_DIR_KEYS = ("out_dir", "output_dir", "out")
LIST_CAP = 200   # per-call extras (seed calls, cfg writes, probe calls) keep the document small on huge streams


def capped(run, items, what):
    """``items`` cut to LIST_CAP, with a note when cut."""
    if len(items) > LIST_CAP:
        run.note("%s: %d recorded, the first %d listed" % (what, len(items), LIST_CAP))
        return items[:LIST_CAP]
    return items


class RunIndex:
    """The events of one run and what every section asks of them. Reads arrays; never writes."""

    def __init__(self, events, streams, out_dir, root=None):
        self.events = events
        self.streams = streams
        self.out_dir = Path(os.path.abspath(out_dir)) if out_dir is not None else None
        # the traced run's folder when the document lives below it (one document per run: runs/<index>-<label>/)
        self.root = Path(os.path.abspath(root)) if root is not None else None
        self.notes = []
        self.reduce_errors = 0
        self.by_kind = {}
        for ev in events:
            self.by_kind.setdefault(ev["kind"], []).append(ev)
        self.stage_events = {}
        for ev in self.kind("stage"):
            name = ev.get("stage")
            if isinstance(name, str) and name:
                self.stage_events.setdefault(name, []).append(ev)
        self.pid_stream = {}
        for s in streams:
            if s.pid is not None:
                self.pid_stream.setdefault(s.pid, s)
        self.headers = [s.header for s in sorted((s for s in streams if s.header), key=lambda s: (s.start_t, s.pid))]
        self.config_at_training = next((e for e in self.kind("config") if e.get("when") == "training_start"), None)
        if self.config_at_training is not None:
            self.training_cut = self.config_at_training["_i"]
        else:
            first_training = next(iter(self.kind("training")), None)
            self.training_cut = first_training["_i"] if first_training else None
        self._arrays = {}

    def kind(self, kind):
        return self.by_kind.get(kind, ())

    def before_training(self, ev):
        return self.training_cut is None or ev["_i"] < self.training_cut

    def note(self, text, error=False):
        if text not in self.notes:
            self.notes.append(text)
        if error:
            self.reduce_errors += 1

    # paths: artifact paths in events are relative to the tracer's output directory when inside it
    def _bases(self, pid):
        stream = self.pid_stream.get(pid) or (self.streams[0] if self.streams else None)
        bases = []
        if stream is not None:
            # where the stream is now first (a bundled/moved run directory), then where it was written
            parent = stream.path.resolve().parent
            bases.append(parent.parent if parent.name == "streams" else parent)
            config = (stream.header or {}).get("config")
            out = fields.first(config, *OUT_DIR_KEYS)
            if isinstance(out, str):
                bases.append(Path(out))
            cwd = (stream.header or {}).get("cwd")
            if isinstance(cwd, str):
                bases.append(Path(cwd))
        unique = []
        for b in bases:
            if b not in unique:
                unique.append(b)
        return unique

    def resolve(self, path, pid):
        if not isinstance(path, str) or not path:
            return None
        p = Path(path)
        if p.is_absolute():
            return p
        bases = self._bases(pid)
        for base in bases:
            if (base / p).exists():
                return base / p
        return (bases[0] / p) if bases else Path(os.path.abspath(p))

    def doc_path(self, p):
        """A path as written in the document: relative to the document's directory when inside it."""
        if p is None:
            return None
        p = Path(os.path.abspath(p))
        if self.out_dir is not None:
            try:
                return p.relative_to(self.out_dir).as_posix()
            except ValueError:
                pass
        if self.root is not None and self.out_dir is not None:
            try:
                p.relative_to(self.root)
                return Path(os.path.relpath(p, self.out_dir)).as_posix()
            except ValueError:
                pass
        return str(p)

    def load_array(self, path):
        """np.load without pickles, cached; None (and a note) when unreadable."""
        if path is None:
            return None
        key = str(path)
        if key not in self._arrays:
            try:
                self._arrays[key] = inputs.load_npy(key, ARRAY_MAX_BYTES)
            except Exception as exc:
                self._arrays[key] = None
                self.note("cannot load %s (%s: %s)" % (self.doc_path(path), type(exc).__name__, exc), error=True)
        return self._arrays[key]


def last_before_training(run, events):
    before = [e for e in events if run.before_training(e)]
    return before[-1] if before else None


def rank_in(table, source):
    return table.index(source) if source in table else len(table)


def header_value(run, key):
    return next((h.get(key) for h in run.headers if isinstance(h.get(key), str) and h.get(key)), None)
