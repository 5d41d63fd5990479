"""Several runs in one process: the merged stream cut into runs, one telemetry document per run.

A study script may simulate, train and infer several times in one process (main's dose study trains four arms:
1e9 and 1e4 photons, each with NLL and MAE loss). One document for all of them would take its stages from one
arm and silently drop or mix the others, so the stream is cut where a new run begins:

1. *boundaries* cut the stream into segments: a change of a run-defining configuration value
   (``stagemap.RUN_DEFINING_CONFIG``) in a config event; a new data set after a finished training or inference;
   a new training after an inference. After finished work the cut goes right after the last event reporting on
   it (training, inference, ``stagemap.RUN_TRAILING``), so set-up done between two runs (seeds, probe, config)
   goes with the run it prepares.
2. *anchors*: each segment where a training starts is a run, finished or not (without any training: each
   segment holding an inference; without either: each holding a data set). One anchor or none: a single run,
   reduced exactly as before (one top-level ``parity_telemetry.json``).
3. the other segments are *attached*: those before the first data set, training or inference (probe set-up,
   seeds) go to every run; a data-only segment goes to the run(s) without a data set of their own whose
   run-defining values it matches best (main's dose study simulates all arms first, then trains them); an
   inference-only segment goes to the run it matches best (the same study infers all arms last); anything else
   stays with the segment before it. Process events (header, footer, patches, environment, origin) go to
   every run.

Every run's document records why it starts and ends where it does (``tracer.run_segment``), and ``runs.json``
lists the runs with the same evidence. Which events mean what is PtychoPINN knowledge and lives in
``stagemap``; this module only applies the rules.
"""

import json
import os
import re
import stat
from pathlib import Path

from parity_tracer import inputs, jsonio
from parity_tracer.profiles.ptychopinn import stagemap
from parity_tracer.document import configuration

RUNS_INDEX = "runs.json"
RUNS_DIR = "runs"
TELEMETRY = "parity_telemetry.json"
INDEX_FORMAT = "parity-tracer-runs/1"
INDEX_MAX_BYTES = 16 << 20
MAX_RUNS = 500
_LABEL_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class RunsError(Exception):
    """A folder's runs index is missing, unreadable or malformed, or names no such run."""


# -- what an event means ------------------------------------------------------------------------------------------

def config_values(cfg):
    """The run-defining values of a params.cfg snapshot, as the configuration block would read them."""
    out = {}
    for field in stagemap.CONFIG_FIELDS:
        if field.key in stagemap.RUN_DEFINING_CONFIG:
            value = configuration.cfg_value(cfg, field)
            if value is not None:
                out[field.key] = value
    loss = configuration.loss_fn(cfg)
    if loss is not None and "loss_fn" in stagemap.RUN_DEFINING_CONFIG:
        out["loss_fn"] = loss
    return out


def _run_config(ev):
    if ev["kind"] == "config" and ev.get("when") in stagemap.RUN_CONFIG_WHEN and isinstance(ev.get("cfg"), dict):
        return config_values(ev["cfg"])
    return None


def _is_data_set(ev):
    return ev["kind"] in stagemap.DATA_SET_KINDS or (
        ev["kind"] == "stage" and ev.get("stage") in stagemap.DATA_SET_STAGES)


def _is_trailing(ev):
    whats = stagemap.RUN_TRAILING.get(ev["kind"], ())
    return whats is None or ev.get("what") in whats


def _where(ev):
    return {"pid": ev["pid"], "seq": ev["seq"]}


def _describe(ev):
    kind = ev["kind"]
    detail = ev.get("stage") if kind == "stage" else ev.get("when") if kind == "config" else None
    source = ev.get("source") if isinstance(ev.get("source"), str) else None
    text = kind + ("[%s]" % detail if isinstance(detail, str) else "")
    return text + (" from %s" % source if source else "") + " (pid %s, seq %s)" % (ev["pid"], ev["seq"])


def fmt_value(v):
    """1e9 -> '1e9', 2.5e-05 -> '2.5e-5', 64 -> '64': short, file-name safe."""
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e4:
            return str(int(v))
        mantissa, _, exponent = (("%.6e" if abs(v) >= 1e4 else "%g") % v).partition("e")
        if exponent and "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        return mantissa + ("e%d" % int(exponent) if exponent else "")
    return str(v)


# -- step 1: segments ---------------------------------------------------------------------------------------------

class Segment:
    def __init__(self, started_by):
        self.started_by = started_by     # {"rule", "text", "at"}
        self.events = []
        self.key = {}                    # run-defining values set in this segment
        self.data = self.training = self.inference = False
        self.training_started = False    # a training began here (it may have failed: no training event)
        self.tail = 0                    # events before this index report on finished work
        self.role = None
        self.why = None
        self.runs = []

    @property
    def done(self):
        return self.training or self.inference

    def add(self, ev, is_training, values):
        self.events.append(ev)
        if values:
            self.key.update(values)
        if _is_data_set(ev):
            self.data = True
        if is_training or (ev["kind"] == "config" and ev.get("when") == "training_start"):
            self.training_started = True
        if is_training:
            self.training = True
            self.tail = len(self.events)
        elif ev["kind"] == "inference":
            self.inference = True
            self.tail = len(self.events)
        elif self.done and _is_trailing(ev):
            self.tail = len(self.events)

    def span(self):
        return {"first": _where(self.events[0]), "last": _where(self.events[-1]), "events": len(self.events)} \
            if self.events else {"first": None, "last": None, "events": 0}


def _boundary(cur, ev, values, is_training):
    if values:
        changed = {k: [cur.key[k], v] for k, v in sorted(values.items()) if k in cur.key and cur.key[k] != v}
        if changed:
            what = ", ".join("%s %s -> %s" % (k, fmt_value(a), fmt_value(b)) for k, (a, b) in changed.items())
            return {"rule": "config_changed", "changed": changed,
                    "text": "run-defining configuration changed (%s) at %s" % (what, _describe(ev))}
    if not cur.done:
        return None
    finished = "inference" if cur.inference else "training"
    if _is_data_set(ev):
        return {"rule": "data_set_after_" + finished,
                "text": "a new data set, %s, after the previous run's %s" % (_describe(ev), finished)}
    starts_training = is_training or (ev["kind"] == "config" and ev.get("when") == "training_start")
    if cur.inference and starts_training:
        return {"rule": "training_after_inference",
                "text": "a new training, %s, after the previous run's inference" % _describe(ev)}
    return None


def split(events):
    """``(process events, segments)`` of a merged stream."""
    flag = stagemap.TRAINING_PREFERRED_FLAG
    # a baseline fitted after the model under test is not a new run: only its trainings count when flagged
    pinn_only = any(e["kind"] == "training" and e.get(flag) is True for e in events)
    shared, segments = [], []
    cur = Segment({"rule": "start", "text": "start of the stream", "at": None})
    for ev in events:
        if ev["kind"] in stagemap.PROCESS_KINDS:
            shared.append(ev)
            continue
        values = _run_config(ev)
        is_training = ev["kind"] == "training" and (not pinn_only or ev.get(flag) is True)
        reason = _boundary(cur, ev, values, is_training)
        if reason is not None:
            reason["at"] = _where(ev)
            cut = cur.tail if cur.done else len(cur.events)
            moved = cur.events[cut:]
            del cur.events[cut:]
            segments.append(cur)
            cur = Segment(reason)
            for old in moved:    # set-up between two runs: no finished work in it by construction
                cur.add(old, False, _run_config(old))
        cur.add(ev, is_training, values)
    segments.append(cur)
    segments = [s for s in segments if s.events]

    def training(ev):
        return ev["kind"] == "training" and (not pinn_only or ev.get(flag) is True)
    first_work = next((n for n, s in enumerate(segments) if s.data or s.done), None)
    out = []
    for n, s in enumerate(segments):
        out.extend(_separate(s, training, head_shared=n == first_work))
    return shared, out


def _rebuild(events, started_by, training, inherit=None):
    seg = Segment(started_by)
    seg.key.update(inherit or {})
    for ev in events:
        seg.add(ev, training(ev), _run_config(ev))
    return seg


def _separate(seg, training, head_shared):
    """A segment cut where its parts play different roles: set-up before the stream's first data set, training
    or inference (every run uses it), and a data set made before the work on it (a later run may train on the
    same data set)."""
    events, parts, inherit, started = seg.events, [], {}, seg.started_by
    work = [i for i, e in enumerate(events) if _is_data_set(e) or training(e) or e["kind"] == "inference"]
    if head_shared and work and work[0] > 0:
        head = _rebuild(events[:work[0]], started, training)
        parts.append(head)
        inherit = head.key
        first = events[work[0]]
        started = {"rule": "first_work", "at": _where(first),
                   "text": "the stream's first data set, training or inference: %s" % _describe(first)}
        events = events[work[0]:]
    if seg.data and seg.done:
        starts = next(i for i, e in enumerate(events) if training(e) or e["kind"] == "inference" or (
            e["kind"] == "config" and e.get("when") == "training_start"))
        made = [i for i, e in enumerate(events[:starts]) if _is_data_set(e)]
        if made:
            j = made[-1] + 1
            while j < starts and events[j]["kind"] in stagemap.DATA_SET_TRAILING:
                j += 1
            data = _rebuild(events[:j], started, training, inherit)
            rest = {"rule": "work_after_data", "at": _where(events[j]),
                    "text": "the work on the data set: %s" % _describe(events[j])}
            return parts + [data, _rebuild(events[j:], rest, training, data.key)]
    return parts + [_rebuild(events, started, training, inherit)]


# -- step 2 and 3: runs -------------------------------------------------------------------------------------------

def _score(a, b):
    common = [k for k in a if k in b]
    return sum(1 for k in common if a[k] == b[k]) - sum(1 for k in common if a[k] != b[k])


def _same_data(data_key, run_key):
    """A data set can feed a run only when they agree on the values that define a data set (the dose)."""
    return all(data_key[k] == run_key[k] for k in stagemap.DATA_SET_DEFINING if k in data_key and k in run_key)


def _values_text(key):
    return ", ".join("%s=%s" % (k, fmt_value(key[k])) for k in stagemap.RUN_DEFINING_CONFIG if k in key) \
        or "no run-defining configuration recorded"


class Run:
    def __init__(self, anchor):
        self.anchor = anchor
        self.key = dict(anchor.key)
        self.segments = []
        self.index = None
        self.label = None

    @property
    def dir_name(self):
        return "%d-%s" % (self.index, self.label)


def _attach(seg, run, role, why):
    seg.role = seg.role or role
    seg.why = seg.why or why
    seg.runs.append(run)
    run.segments.append(seg)


def assemble(segments):
    """The runs, each with its segments; None when the stream holds a single run."""
    anchors = [s for s in segments if s.training_started] or [s for s in segments if s.inference] or \
        [s for s in segments if s.data]
    if len(anchors) <= 1:
        return None
    runs = [Run(a) for a in anchors]
    by_anchor = {id(a): r for a, r in zip(anchors, runs)}
    work = [i for i, s in enumerate(segments) if s.data or s.done]
    first_work = work[0] if work else len(segments)
    position = {id(s): i for i, s in enumerate(segments)}
    for a in anchors:
        what = "training" if a.training else "training (started, never finished: no training event)" \
            if a.training_started else "inference" if a.inference else "data set"
        _attach(a, by_anchor[id(a)], "run", "holds the run's %s (%s)" % (what, _values_text(a.key)))
    for s in segments[:first_work]:
        for r in runs:
            _attach(s, r, "shared", "before the first data set, training or inference: set-up every run uses")
    data_only = [s for s in segments if s.data and not s.done and s.role is None]
    used = set()
    for a, r in zip(anchors, runs):
        if a.data:
            continue
        before = [d for d in data_only if position[id(d)] < position[id(a)] and _same_data(d.key, a.key)]
        if not before:
            continue
        best = max(before, key=lambda d: (_score(a.key, d.key), id(d) not in used, position[id(d)]))
        used.add(id(best))
        _attach(best, r, "data", "the data set this run works on: made under %s, the best match for the run's "
                "%s" % (_values_text(best.key), _values_text(a.key)))
    for d in data_only:
        if d.role is not None:
            continue
        fits = [a for a in anchors if _same_data(d.key, a.key)]
        later = [a for a in fits if position[id(a)] > position[id(d)]] or fits
        if not later:   # made under values no run has: in no document, listed in runs.json
            d.role, d.why = "unattached", "a data set no run used: made under %s" % _values_text(d.key)
            continue
        target = max(later, key=lambda a: (_score(d.key, a.key), -abs(position[id(a)] - position[id(d)])))
        _attach(d, by_anchor[id(target)], "data", "a data set no run was missing: given to the run it matches "
                "best (made under %s)" % _values_text(d.key))
    for s in segments:
        if s.role is None and s.done:
            best = max(anchors, key=lambda a: (_score(s.key, a.key), position[id(a)] < position[id(s)],
                                                -abs(position[id(a)] - position[id(s)])))
            _attach(s, by_anchor[id(best)], "inference" if s.inference else "training",
                    "later work of the run it matches best: made under %s" % _values_text(s.key))
    for i, s in enumerate(segments):
        if s.role is None:
            previous = segments[i - 1] if i else None
            owners = previous.runs if previous is not None else runs[:1]
            for r in owners:
                _attach(s, r, "other", "no data set, training or inference of its own: stays with the "
                        "segment before it")
            if not owners:
                s.role, s.why = "unattached", "follows a segment no run used"
    _label(runs)
    return runs


def unattached(segments):
    """Segments that went to no run (a data set made under values no run has), for runs.json."""
    return [dict(role=s.role, why=s.why, started_by=s.started_by["text"], rule=s.started_by["rule"], **s.span())
            for s in segments if s.role == "unattached"]


def _label(runs):
    differing = [k for k in stagemap.RUN_DEFINING_CONFIG if len({repr(r.key.get(k)) for r in runs}) > 1]
    seen = {}
    for i, r in enumerate(runs, 1):
        parts = [fmt.format(fmt_value(r.key[k])) for k, fmt in stagemap.RUN_LABEL_PARTS
                 if k in differing and r.key.get(k) is not None]
        label = _UNSAFE.sub("_", "-".join(parts)).strip("._-")[:80] or "run"
        seen[label] = seen.get(label, 0) + 1
        r.label = label if seen[label] == 1 else "%s-%d" % (label, seen[label])
        r.index = i
        r.distinguished_by = differing


def evidence(run, runs, segments):
    own = sorted((s for s in run.segments if s.role != "shared"), key=segments.index)
    first, last = own[0], own[-1]
    after = segments.index(last) + 1
    ends = segments[after].started_by["text"] if after < len(segments) else "end of the stream"
    return {
        "index": run.index,
        "label": run.label,
        "of": len(runs),
        "dir": "%s/%s" % (RUNS_DIR, run.dir_name),
        "run_defining": {k: run.key[k] for k in stagemap.RUN_DEFINING_CONFIG if k in run.key},
        "distinguished_by": list(run.distinguished_by),
        "starts": first.started_by["text"],
        "ends": "where the next segment starts: %s" % ends if after < len(segments) else ends,
        "segments": [dict(role=s.role, why=s.why, started_by=s.started_by["text"], rule=s.started_by["rule"],
                          **s.span()) for s in sorted(run.segments, key=segments.index)],
    }


def run_events(run, shared):
    events = list(shared)
    for s in run.segments:
        events.extend(s.events)
    events.sort(key=lambda e: e["_i"])
    return events


# -- reading a multi-run folder (compare, bundle): the folder is hostile ------------------------------------------

def _regular_file(path, what):
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise RunsError("%s: cannot read %s (%s)" % (path, what, exc.strerror or type(exc).__name__))
    if not stat.S_ISREG(st.st_mode):
        raise RunsError("%s: %s is not a regular file" % (path, what))
    return st


def _real_dir(path):
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def is_multi_run(folder):
    """True when ``folder`` (a directory, not a document) holds a runs index."""
    folder = Path(folder)
    return _real_dir(folder) and os.path.lexists(folder / RUNS_INDEX)


def list_runs(folder):
    """``[{"index", "label", "dir", "document"}]`` of a multi-run folder, from its runs index. The document path
    is built from the checked index and label only, and must be a regular file in a real folder below it."""
    folder = Path(folder)
    index_path = folder / RUNS_INDEX
    st = _regular_file(index_path, "the runs index")
    if st.st_size > INDEX_MAX_BYTES:
        raise RunsError("%s: runs index larger than %d bytes" % (index_path, INDEX_MAX_BYTES))
    try:
        index = jsonio.loads(inputs.read_bytes(index_path, limit=INDEX_MAX_BYTES, follow=False))
    except (OSError, ValueError) as exc:
        raise RunsError("%s: unreadable runs index (%s)" % (index_path, str(exc).splitlines()[0][:120]
                                                            if str(exc) else type(exc).__name__))
    entries = index.get("runs") if isinstance(index, dict) else None
    if not isinstance(entries, list) or not entries:
        raise RunsError("%s: not a runs index (no list of runs)" % index_path)
    runs, seen = [], set()
    for entry in entries:
        i = entry.get("index") if isinstance(entry, dict) else None
        label = entry.get("label") if isinstance(entry, dict) else None
        if type(i) is not int or not 0 < i < 100000 or not isinstance(label, str) or not _LABEL_OK.match(label):
            raise RunsError("%s: malformed run entry %s" % (index_path, json.dumps(entry)[:120]))
        if label in seen:
            raise RunsError("%s: run label %r listed twice" % (index_path, label))
        seen.add(label)
        run_dir = folder / RUNS_DIR / ("%d-%s" % (i, label))
        if not _real_dir(folder / RUNS_DIR) or not _real_dir(run_dir):
            raise RunsError("%s: no folder %s/%d-%s" % (folder, RUNS_DIR, i, label))
        _regular_file(run_dir / TELEMETRY, "the run's document")
        runs.append({"index": i, "label": label, "dir": run_dir, "document": run_dir / TELEMETRY})
    return runs


def find_run(folder, wanted):
    """The run of ``folder`` named by label, ``<index>-<label>`` or index."""
    runs = list_runs(folder)
    for r in runs:
        if wanted in (r["label"], "%d-%s" % (r["index"], r["label"]), str(r["index"])):
            return r
    raise RunsError("%s has no run %r (runs: %s)" % (folder, wanted, ", ".join(
        "%d-%s" % (r["index"], r["label"]) for r in runs)))

