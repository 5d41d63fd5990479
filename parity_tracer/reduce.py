"""JSONL event streams -> the Parity Logging Specification v1.0 document (``parity_telemetry.json``).

Generic on purpose: which event feeds which spec field is decided by the tables in ``stagemap``. Every block
and field the spec names is always present; a value the run did not produce is ``null`` (a required stage
without any event gets ``stats: null`` plus ``absent``/``absent_reason``). Output is deterministic apart from
``timestamp``: files are read in name order, events merged by (process start, pid, seq), and every list we
derive from a set is sorted.
"""

import argparse
import contextlib
import datetime
import gc
import json
import math
import operator
import os
import sys
from pathlib import Path

from parity_tracer import figures, inputs, jsonio, outputs, stagemap

SCHEMA_VERSION = "1.0"
SPEC_REFERENCE = "specs/spec-ptycho-core.md §Normalization Invariants"
DATASET_FORMULA = "sqrt(nphotons / E_batch[sum_xy |X|^2])"
FALLBACK_FORMULA = "sqrt(nphotons) / (N/2)"
SYMMETRY_TOLERANCE = 0.05
USED_MODE_RTOL = 1e-3
ARRAY_MAX_BYTES = 2 << 30   # an artifact array larger than this is refused (read through mmap below it)
NO_RUN_ID = "(no run id)"
HISTORY_NAME = "history.json"
OUT_DIR_KEYS = ("out_dir", "output_dir", "out")
LIST_CAP = 200   # per-call extras (seed calls, cfg writes, probe calls) keep the document small on huge streams


class ReduceError(Exception):
    """The input cannot be reduced at all (missing paths, no streams, no events, several runs): exit status 2."""


# -- small coercions: the stream is written by another process, so nothing about its types is trusted --------

def _num(v):
    """A finite float, or None. Accepts numbers, numeric strings and 1-element summaries."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, str):
        try:
            f = float(v)
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    if isinstance(v, dict):   # cfg snapshots summarize arrays/tensors: {"summary": stats} or 1-element stats
        if "value" in v:
            return _num(v["value"])
        if isinstance(v.get("summary"), dict):
            return _num(v["summary"])
        if v.get("total_count") == 1:
            return _num(v.get("mean"))
    return None


def _int(v):
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int):
        return v
    f = _num(v)
    if f is not None and f.is_integer():
        return int(f)
    return None


def _count(v):
    """A non-negative integer (counts, epochs), or None."""
    n = _int(v)
    return n if n is not None and n >= 0 else None


def _bool(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    if isinstance(v, dict) and "value" in v:
        return _bool(v["value"])
    return None


def _str(v):
    return v if isinstance(v, str) else None


def _shape(v):
    if isinstance(v, (list, tuple)) and all(_int(x) is not None and _int(x) >= 0 for x in v):
        return [_int(x) for x in v]
    return None


def _ratio(a, b):
    if a is None or b is None or a == 0 or b == 0:
        return None
    r = a / b
    return r if math.isfinite(r) else None


def _capped(run, items, what):
    if len(items) > LIST_CAP:
        run.note("%s: %d recorded, the first %d listed" % (what, len(items), LIST_CAP))
        return items[:LIST_CAP]
    return items


def _strings(v):
    """The string items of a list field (``context``), ignoring anything malformed."""
    return [c for c in v if isinstance(c, str)] if isinstance(v, list) else []


def _dict(v):
    return v if isinstance(v, dict) else {}


def _pick(d, *keys):
    """First non-None value among ``keys`` of dict ``d``."""
    if not isinstance(d, dict):
        return None
    for k in keys:
        v = d.get(k)
        if v is not None:
            return v
    return None


# -- reading ---------------------------------------------------------------------------------------------------

class _Stream:
    __slots__ = ("path", "pid", "events", "truncated", "corrupt_lines", "duplicates", "header", "start_t", "run_id")

    def __init__(self, path):
        self.path = path
        self.pid = None
        self.events = 0
        self.truncated = False
        self.corrupt_lines = 0
        self.duplicates = 0
        self.header = None
        self.start_t = None
        self.run_id = None


def _scan(folder, depth, warnings):
    """``*.jsonl`` regular files in ``folder`` (and ``streams/``, ``streams/*/`` below it); symlinks and special
    files found there are reported and never opened."""
    found = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        warnings.append("%s: cannot list (%s)" % (folder, inputs.error_text(exc)))
        return found
    for entry in entries:
        try:
            if entry.name.endswith(".jsonl"):
                if entry.is_symlink() or not entry.is_file(follow_symlinks=False):
                    warnings.append("%s: not a regular file (symlink, FIFO or device): not read" % entry.path)
                else:
                    found.append(Path(entry.path))
            elif entry.is_dir(follow_symlinks=False) and (depth == 0 and entry.name == "streams" or depth == 1):
                found += _scan(entry.path, depth + 1, warnings)
        except OSError:
            continue
    return found


def find_stream_files(paths, warnings=None):
    """Stream files named by ``paths`` (files, or directories holding ``*.jsonl`` or ``streams/*.jsonl``)."""
    warnings = [] if warnings is None else warnings
    found = {}
    for given in paths:
        p = Path(given)
        if p.is_dir():
            candidates = _scan(str(p), 0 if p.name != "streams" else 1, warnings)
        elif p.exists():
            candidates = [p]            # named by the user: read if it is a regular file (checked at open)
        else:
            raise ReduceError("no such file or directory: %s" % given)
        for c in candidates:
            found.setdefault(os.path.realpath(c), c)   # the same file named twice is read once
    if not found:
        raise ReduceError("no event streams (*.jsonl) in %s" % ", ".join(str(p) for p in paths))
    return sorted(found.values(), key=lambda f: (f.name, str(f)))


def _parse(raw):
    try:
        return jsonio.loads(raw), None
    except ValueError as exc:
        try:  # a non-strict writer may have written NaN/Infinity tokens: accept, they become null later
            jsonio.check_depth(raw)
            return json.loads(raw.decode("utf-8")), None
        except (ValueError, RecursionError):
            return None, str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__


def _event_problem(ev):
    # exact type checks: parsed JSON has only plain types, and this runs once per event
    if type(ev) is not dict:
        return "not a JSON object"
    if type(ev.get("kind")) is not str:
        return "event has no string 'kind'"
    if type(ev.get("seq")) is not int:
        return "event has no integer 'seq'"
    if type(ev.get("pid")) is not int:
        return "event has no integer 'pid'"
    return None


@contextlib.contextmanager
def _gc_paused():
    """Parsing 100k events allocates ~1M containers; cyclic GC passes over them dominated the reduce time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _stream_lines(path, info, warnings):
    """``(lineno, raw, is_last_unterminated)`` of a stream, read through the safe reader: a FIFO or device is
    refused, a line over inputs.MAX_LINE bytes is a corrupt line (never held in memory)."""
    try:
        fh = inputs.open_regular(path)
    except OSError as exc:
        warnings.append("%s: unreadable (%s)" % (path, inputs.error_text(exc)))
        return
    with fh:
        lineno = 0
        try:
            for raw, complete in inputs.lines(fh):
                lineno += 1
                if raw is None:
                    info.corrupt_lines += 1
                    warnings.append("%s:%d: line longer than %d bytes" % (path, lineno, inputs.MAX_LINE))
                    continue
                yield lineno, raw, not complete
        except OSError as exc:
            warnings.append("%s: read error after line %d (%s)" % (path, lineno, inputs.error_text(exc)))


def _run_id_of(info, mine):
    rid = (info.header or {}).get("run_id")
    if isinstance(rid, str) and rid:
        return rid
    # the header itself may have been lost (the sink then writes its run id on the error line)
    return next((e["run_id"] for e in mine[:3] if isinstance(e.get("run_id"), str) and e["run_id"]), NO_RUN_ID)


def read_streams(files, warnings, run_id=None):
    """Parse and merge the files: (events in merged order, per-file info, {run id: streams}). Corrupt lines
    become warnings. With ``run_id`` only the streams of that run are merged (others are counted, not read in)."""
    streams, rows, seen, runs = [], [], set(), {}
    for path in files:
        info = _Stream(path)
        mine = []
        loads = jsonio.loads
        for lineno, raw, unterminated in _stream_lines(path, info, warnings):
            try:   # fast path first: one strict parse and exact type checks per event
                ev = loads(raw)
                ok = (type(ev) is dict and type(ev.get("kind")) is str and type(ev.get("seq")) is int
                      and type(ev.get("pid")) is int)
            except ValueError:
                ok = False
            if not ok:
                if not raw.strip():
                    continue
                ev, reason = _parse(raw)
                if reason is None:
                    reason = _event_problem(ev)
                if reason is not None:
                    if unterminated:   # no newline after it: the writer was cut off mid-line
                        info.truncated = True
                        warnings.append("%s:%d: truncated last line ignored" % (path, lineno))
                    else:
                        info.corrupt_lines += 1
                        warnings.append("%s:%d: %s" % (path, lineno, reason))
                    continue
            info.events += 1
            if info.header is None and ev["kind"] == "header":
                info.header = ev
            mine.append(ev)
        if mine:   # a stream without a single event belongs to no run (and is reported as it is)
            info.run_id = _run_id_of(info, mine)
            runs[info.run_id] = runs.get(info.run_id, 0) + 1
        if run_id is not None and info.run_id != run_id:
            continue       # another run's stream in this folder: never merged into this run's document
        streams.append(info)
        if mine:
            info.pid = (info.header or mine[0])["pid"]
            t = (info.header or mine[0]).get("t")
            info.start_t = float(t) if isinstance(t, (int, float)) and not isinstance(t, bool) else 0.0
        for ev in mine:
            key = (ev["pid"], ev["seq"], ev["kind"])
            if key in seen:
                info.duplicates += 1
                continue
            seen.add(key)
            rows.append((info.start_t, ev["pid"], ev["seq"], ev))
    rows.sort(key=operator.itemgetter(0, 1, 2))
    events = [r[3] for r in rows]
    for i, ev in enumerate(events):
        ev["_i"] = i       # merged position: "before/after" comparisons across the run
    return events, streams, runs


# -- the run: indexed events plus path handling -----------------------------------------------------------------

class _Run:
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
        self.owned = set()      # neighbour names the replaced document named (they may be replaced)
        self.written = set()    # neighbour names written by this reduce

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
            out = _pick(config, *OUT_DIR_KEYS)
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


# -- provenance (§2.2) ------------------------------------------------------------------------------------------

def _git_state(run):
    """What the traced process recorded about its own checkout (a ``git`` event). Never runs git: a received
    stream folder could hold a repository whose configuration runs commands."""
    state = {"commit_hash": "unknown", "branch": "unknown", "dirty": None}
    event = next((e for e in run.kind("git") if isinstance(e.get("commit"), str) and e["commit"]), None)
    if event is None:
        failed = next((e for e in run.kind("git") if isinstance(e.get("error"), str)), None)
        if failed is not None:
            run.note("traced code at %s: %s: commit_hash/branch unknown" % (_str(failed.get("path")),
                                                                          failed["error"]))
        elif run.kind("origin"):
            run.note("no git provenance recorded at trace time: commit_hash/branch unknown")
        else:
            run.note("no origin event: commit_hash/branch unknown")
        return state
    state["commit_hash"] = event["commit"][:100]
    state["branch"] = _str(event.get("branch"))[:200] if _str(event.get("branch")) else "unknown"
    state["dirty"] = _bool(event.get("dirty"))
    return state


def _environment(run):
    packages = {}
    for source in list(run.headers) + list(run.kind("environment")):
        for name, version in sorted(_dict(source.get("packages")).items()):
            if isinstance(version, str):
                packages.setdefault(name, version)
    python = next((h.get("python") for h in run.headers if isinstance(h.get("python"), str)), None)
    if python:
        python = python.split()[0]
    return {
        "python_version": python,
        "tensorflow_version": _pick(packages, "tensorflow", "tensorflow-cpu", "tensorflow_cpu"),
        "keras_version": _pick(packages, "keras", "tf_keras", "tf-keras"),
        "numpy_version": packages.get("numpy"),
        "packages": dict(sorted(packages.items())),
    }


def _first_simulation_index(run):
    for ev in run.events:
        if ev["kind"] in ("stage", "intensity_scale") and _str(ev.get("source")) in stagemap.SIMULATION_SOURCES:
            return ev["_i"]
        ctx = ev.get("context")
        if ctx and any(c in stagemap.SIMULATION_SOURCES for c in _strings(ctx)):
            return ev["_i"]
    return None


def _seeds(run):
    seeds = run.kind("seed")
    calls, sim_seed, sim_fallback, training = [], None, None, None
    first_sim = _first_simulation_index(run) if seeds else None
    for ev in seeds:
        family = stagemap.seed_family(ev.get("api"))
        ctx = _strings(ev.get("context"))
        value = _int(ev.get("value"))
        calls.append({"api": _str(ev.get("api")), "value": value, "order": _int(ev.get("order")),
                      "context": ctx[-1] if ctx else None})
        if family == "numpy":
            if sim_seed is None and any(c in stagemap.SIM_SEED_CONTEXTS for c in ctx):
                sim_seed = ev
            if sim_fallback is None and (first_sim is None or ev["_i"] < first_sim):
                sim_fallback = ev
        if training is None and (family in stagemap.TRAINING_SEED_FAMILIES or
                                 any(c in stagemap.TRAINING_SEED_CONTEXTS for c in ctx)):
            training = ev
    sim = sim_seed or sim_fallback
    sim_value = _int(sim.get("value")) if sim else None
    return {"object_seed": sim_value, "sim_seed": sim_value,
            "training_seed": _int(training.get("value")) if training else None,
            "calls": _capped(run, calls, "seed calls")}


def _dataset_source(run, stages):
    events = run.kind("dataset")
    ev = events[0] if events else None
    raw_source = stages["raw_diffraction"]["source"]
    if ev is not None:
        dtype = ev.get("type") if ev.get("type") in stagemap.DATASET_TYPES else None
        path = run.resolve(ev.get("path"), ev["pid"])
        checksum = _str(ev.get("checksum"))
        source = _str(ev.get("source"))
        chain = _str(ev.get("chain"))
    else:
        dtype = stagemap.DATASET_TYPE_BY_SOURCE.get(raw_source)
        path = checksum = chain = None
        source = raw_source
    if chain is None and dtype is not None:
        if dtype == "npz_file":
            chain = "loaded from %s" % (run.doc_path(path) if path is not None else "an unrecorded npz file")
        else:
            chain = "simulated in process"
        chain += "%s%s" % (" (sha256 %s)" % checksum if checksum else "", " by %s" % source if source else "")
        if ev is None:
            chain += "; inferred from the raw_diffraction capture (no dataset event recorded)"
    return {"type": dtype, "path": run.doc_path(path) if path is not None else None, "checksum": checksum,
            "provenance_chain": chain, "source": source,
            "count": len(events)}


# -- configuration (§2.3) ---------------------------------------------------------------------------------------

_COERCE = {"int": _int, "float": _num, "bool": _bool}


def _config_snapshot(run):
    snap = run.config_at_training
    if snap is None:
        exits = [e for e in run.kind("config") if e.get("when") == "exit"]
        # the root process's snapshot (the earliest stream header) over a child's, which sorts later
        root = min(run.headers, key=lambda h: (_num(h.get("t")) or 0.0, _int(h.get("pid")) or 0), default=None)
        own = [e for e in exits if root is not None and e.get("pid") == root.get("pid")]
        snap = (own or exits or [None])[-1]
    if snap is None:   # one run of several has no exit snapshot of its own: the configuration it last set
        snap = ([e for e in run.kind("config") if e.get("when") == "update_legacy_dict"] or [None])[-1]
    return snap


def _grouping_metadata(run):
    for stage in stagemap.GROUPING_STAGES:
        for ev in run.stage_events.get(stage, ()):
            if ev.get("source") in stagemap.GROUPING_SOURCES and isinstance(ev.get("metadata"), dict):
                return ev["metadata"]
    return {}


def _configuration(run, snap):
    cfg = snap.get("cfg") if snap is not None and isinstance(snap.get("cfg"), dict) else None
    c = cfg or {}
    grouping = _grouping_metadata(run)
    out = {}
    for field in stagemap.CONFIG_FIELDS:
        coerce = _COERCE[field.kind]
        value = coerce(_pick(c, *field.cfg_keys))
        if value is None and field.metadata_keys:
            value = coerce(_pick(grouping, *field.metadata_keys))
        out[field.key] = value
    key, when_positive, otherwise = stagemap.LOSS_FN_RULE
    weight = _num(c.get(key))
    out["loss_fn"] = None if weight is None else (when_positive if weight > 0 else otherwise)
    out["loss_weights"] = {name: _num(c.get(cfg_key)) for name, cfg_key in stagemap.LOSS_WEIGHTS}
    trainable_key, kind = stagemap.INTENSITY_SCALE_TRAINABLE
    out["intensity_scale_trainable"] = _COERCE[kind](c.get(trainable_key))
    out["legacy_params_cfg_snapshot"] = cfg
    updates = [e for e in run.kind("config") if e.get("when") == "update_legacy_dict"]
    before = [e for e in updates if run.before_training(e)]
    chosen = (before or updates or [None])[-1]
    dataclass_cfg = chosen.get("dataclass") if chosen is not None else None
    if dataclass_cfg is None and snap is not None:
        dataclass_cfg = snap.get("dataclass")
    out["dataclass_config"] = dataclass_cfg if isinstance(dataclass_cfg, dict) else None
    out["snapshot_when"] = snap.get("when") if snap is not None else None
    if snap is None:
        run.note("no params.cfg snapshot (config event at training_start or exit): configuration is null")
    return out


# -- probe (§2.4) -----------------------------------------------------------------------------------------------

_AMP_KEYS = ("min", "max", "mean", "std")


def _probe_stats(stats):
    s = stats if isinstance(stats, dict) else {}
    amp = s.get("amplitude") if isinstance(s.get("amplitude"), dict) else s
    phase = s.get("phase") if isinstance(s.get("phase"), dict) else {}
    energy = _num(s.get("energy"))
    l2 = _num(amp.get("l2_norm"))
    if l2 is None and energy is not None and energy >= 0:
        l2 = math.sqrt(energy)
    if energy is None and l2 is not None:
        energy = l2 * l2
    amplitude = {k: _num(amp.get(k)) for k in _AMP_KEYS}
    amplitude["l2_norm"] = l2
    return {"amplitude": amplitude, "phase": {k: _num(phase.get(k)) for k in _AMP_KEYS}, "energy": energy}


def _probe_calls(run):
    calls, pending = {}, {}
    for ev in run.kind("probe"):
        phase = ev.get("phase")
        if phase not in ("pre", "post"):
            continue
        cid = ev.get("call_id")
        cid = cid if isinstance(cid, (int, str)) and not isinstance(cid, bool) else None
        if cid is not None:
            key = (ev["pid"], cid)
        elif phase == "post" and ev["pid"] in pending:
            key = pending.pop(ev["pid"])
        else:
            key = (ev["pid"], None, ev["_i"])
            if phase == "pre":
                pending[ev["pid"]] = key
        call = calls.setdefault(key, {"first": ev["_i"], "call_id": cid})
        call.setdefault(phase, ev)
    return sorted(calls.values(), key=lambda c: c["first"])


def _call_field(call, key):
    """A set_probe call's field: the post event's value, else the pre event's (post lacks the mask numbers)."""
    post, pre = call.get("post") or {}, call.get("pre") or {}
    value = post.get(key)
    return value if value is not None else pre.get(key)


def _changes_probe(call):
    factor = _num(_call_field(call, "computed_norm_factor"))
    return factor is not None and abs(factor - 1.0) > 1e-6


def _probe_arrays(run, call):
    """The chosen set_probe call's probe before / after normalization (.npy saved by the profile), when saved."""
    out = {"pre_npy": None, "post_npy": None}
    ev = call.get("pre") or call.get("post")
    if ev is None or call.get("call_id") is None:
        return out
    for art in run.kind("artifact"):
        name = art.get("name")
        if art["pid"] == ev["pid"] and art.get("call_id") == call["call_id"] and name in ("probe_pre_npy",
                                                                                           "probe_post_npy"):
            resolved = run.resolve(art.get("path"), art["pid"])
            if resolved is not None:
                out[name[len("probe_"):]] = run.doc_path(resolved)
    return out


def _probe(run):
    calls = _probe_calls(run)
    before = [c for c in calls if run.training_cut is None or c["first"] < run.training_cut]
    # Later set_probe calls re-normalize the already normalized probe (norm factor 1): the block describes the
    # last call before training that actually changed it, i.e. the normalization of the raw probe.
    changed = [c for c in before if _changes_probe(c)]
    chosen = (changed or before or calls or [None])[-1]
    call = chosen or {}
    pre_stats = _dict((call.get("pre") or {}).get("stats"))
    post_stats = _dict((call.get("post") or {}).get("stats"))
    src = _dict(_call_field(call, "source"))
    src_path = _str(src.get("path"))
    if src_path is not None and os.path.isabs(src_path):
        src_path = run.doc_path(src_path)
    mask = _dict(_call_field(call, "mask_stats"))
    summary = [{
        "call_id": _int(c["call_id"]),
        "entry": _str(_call_field(c, "entry")),
        "route": _str(_call_field(c, "route")),
        "method": _str(_call_field(c, "method")),
        "probe_scale": _num(_call_field(c, "probe_scale")),
        "computed_norm_factor": _num(_call_field(c, "computed_norm_factor")),
        "pre_amplitude_mean": _probe_stats((c.get("pre") or {}).get("stats"))["amplitude"]["mean"],
        "post_amplitude_mean": _probe_stats((c.get("post") or {}).get("stats"))["amplitude"]["mean"],
        "before_training": run.training_cut is None or c["first"] < run.training_cut,
        "chosen": c is chosen,
    } for c in calls]
    if chosen is None:
        run.note("no probe events: probe block is null")
    return {
        "source": {"type": _str(src.get("type")), "path": src_path, "checksum": _str(src.get("checksum"))},
        "shape": _shape(post_stats.get("shape")) or _shape(pre_stats.get("shape")),
        "dtype": _str(pre_stats.get("dtype")) or _str(post_stats.get("dtype")),
        "pre_normalization": _probe_stats(pre_stats),
        "normalization": {
            "method": _str(_call_field(call, "method")),
            "probe_scale": _num(_call_field(call, "probe_scale")),
            "probe_big": _bool(_call_field(call, "probe_big")),
            "probe_mask": _bool(_call_field(call, "probe_mask")),
            "mask_stats": {"nonzero_count": _count(mask.get("nonzero_count")),
                           "total_count": _count(mask.get("total_count")),
                           "coverage_fraction": _num(mask.get("coverage_fraction"))},
            "computed_norm_factor": _num(_call_field(call, "computed_norm_factor")),
        },
        "post_normalization": _probe_stats(post_stats),
        "entry": _str(_call_field(call, "entry")),
        "call_id": _int(chosen["call_id"]) if chosen else None,
        "artifacts": _probe_arrays(run, call),
        "calls": _capped(run, summary, "set_probe calls"),
    }


# -- intensity stages (§2.5) -------------------------------------------------------------------------------------

_STAT_KEYS = (("min", _num), ("max", _num), ("mean", _num), ("std", _num),
              ("nan_count", _count), ("finite_count", _count), ("total_count", _count))
_STAT_EXTRAS = ("inf_count", "symbolic", "unsupported", "type", "error", "amplitude", "phase", "energy")


def _usable(stats):
    return isinstance(stats, dict) and not stats.get("symbolic") and not stats.get("unsupported")


def _stage_stats(stats):
    if not isinstance(stats, dict):
        return None
    out = {"shape": _shape(stats.get("shape")), "dtype": _str(stats.get("dtype"))}
    for key, coerce in _STAT_KEYS:
        out[key] = coerce(stats.get(key))
    for key in _STAT_EXTRAS:
        if key in stats:
            out[key] = _count(stats[key]) if key == "inf_count" else stats[key]
    return out


def _pick_stage(run, name):
    candidates = run.stage_events.get(name)
    if not candidates:
        return None, 0

    def rank(ev):   # usable statistics, the step itself over a stand-in, source preference, role train, earliest
        return (0 if _usable(ev.get("stats")) else 1, 1 if ev.get("equivalent") is True else 0,
                stagemap.source_rank(name, ev.get("source")), 0 if ev.get("role") == "train" else 1, ev["_i"])
    return min(candidates, key=rank), len(candidates)


def _stage_entry(run, name):
    ev, n = _pick_stage(run, name)
    rule = stagemap.STAGE_RULES.get(name)
    if ev is None:
        return {"name": name, "source": None, "stats": None,
                "metadata": {"count": None, "gridsize": None, "group_limit": None},
                "equivalent": False, "note": None, "role": None, "candidates": 0, "absent": True,
                "absent_reason": rule.absent_reason if rule else stagemap.ABSENT_REASON_UNKNOWN_STAGE}
    source = _str(ev.get("source"))
    equivalent = bool(ev.get("equivalent")) or stagemap.is_equivalent(name, source)
    note = _str(ev.get("note")) or (rule.equivalent_note if equivalent and rule else None)
    stats = _stage_stats(ev.get("stats"))
    meta_in = ev.get("metadata") if isinstance(ev.get("metadata"), dict) else {}
    shape = (stats or {}).get("shape")
    count = _count(meta_in.get("count"))
    if count is None and shape:
        count = shape[0]
    metadata = {"count": count, "gridsize": _int(meta_in.get("gridsize")),
                "group_limit": _int(meta_in.get("group_limit"))}
    for key in sorted(meta_in):
        metadata.setdefault(key, meta_in[key])
    return {"name": name, "source": source, "stats": stats, "metadata": metadata, "equivalent": equivalent,
            "note": note, "role": _str(ev.get("role")), "candidates": n, "absent": False, "absent_reason": None}


def _stages(run):
    entries = {name: _stage_entry(run, name) for name in stagemap.REQUIRED_STAGES}
    ordered = [entries[n] for n in stagemap.REQUIRED_STAGES]
    absent_optional = []
    for name in stagemap.OPTIONAL_STAGES:
        if run.stage_events.get(name):
            entries[name] = _stage_entry(run, name)
            ordered.append(entries[name])
        else:
            absent_optional.append({"name": name, "reason": stagemap.STAGE_RULES[name].absent_reason})
    known = set(stagemap.REQUIRED_STAGES) | set(stagemap.OPTIONAL_STAGES)
    other = [_stage_entry(run, n) for n in sorted(run.stage_events) if n not in known]
    missing = [n for n in stagemap.REQUIRED_STAGES if entries[n]["absent"]]
    return entries, ordered, missing, absent_optional, other


# -- intensity scale (§2.7) --------------------------------------------------------------------------------------

def _last_before_training(run, events):
    before = [e for e in events if run.before_training(e)]
    return before[-1] if before else None


def _intensity_scale(run, cfg, stages):
    nphotons = _num(cfg.get("nphotons"))
    n = _int(cfg.get("N"))
    batch_mean, array_used = None, None
    for name in stagemap.INTENSITY_SCALE_ARRAYS:
        stats = stages.get(name, {}).get("stats") or {}
        mean, std, shape = stats.get("mean"), stats.get("std"), stats.get("shape")
        if mean is None or std is None:
            continue
        if shape and len(shape) >= 3:
            pixels = shape[1] * shape[2]
        elif n:
            pixels = n * n
        else:
            continue
        batch_mean, array_used = pixels * (std * std + mean * mean), name   # E[sum_xy X^2] per pattern
        break
    derived = None
    if nphotons is not None and nphotons >= 0 and batch_mean:
        derived = math.sqrt(nphotons / batch_mean)
    fallback = math.sqrt(nphotons) / (n / 2.0) if nphotons is not None and nphotons >= 0 and n else None

    scale_events = run.kind("intensity_scale")
    by_what = {}
    for ev in scale_events:
        by_what.setdefault(_str(ev.get("what")), []).append(ev)
    calculated = by_what.get("calculated", [])
    writes = by_what.get("cfg_write", [])
    used_ev, used_from = _last_before_training(run, calculated), "calculated"
    if used_ev is None and calculated:
        used_ev = calculated[0]
    if used_ev is None:
        used_ev, used_from = _last_before_training(run, writes), "cfg_write"
    used = _num(used_ev.get("value")) if used_ev is not None else None
    used_mode, best = None, None
    for mode, candidate in (("dataset_derived", derived), ("fallback", fallback)):
        if used is None or not candidate:
            continue
        rel = abs(used - candidate) / abs(candidate)
        if rel <= USED_MODE_RTOL and (best is None or rel < best):
            used_mode, best = mode, rel

    recorded = None
    if run.config_at_training is not None and isinstance(run.config_at_training.get("cfg"), dict):
        recorded = _num(run.config_at_training["cfg"].get(stagemap.CFG_INTENSITY_SCALE))
    if recorded is None:
        last_write = _last_before_training(run, writes)
        recorded = _num(last_write.get("value")) if last_write is not None else None
    if recorded is None:
        recorded = _num(cfg.get(stagemap.CFG_INTENSITY_SCALE))
    model_events = by_what.get("model_log_scale", [])
    model = _num(model_events[-1].get("value")) if model_events else None
    return {
        "dataset_derived": {"formula": DATASET_FORMULA, "batch_mean_sum_intensity": batch_mean,
                            "computed_scale": derived, "spec_reference": SPEC_REFERENCE,
                            "array_used": array_used},
        "fallback": {"formula": FALLBACK_FORMULA, "computed_scale": fallback},
        "used_mode": used_mode,
        "recorded_in_bundle": recorded,
        "model_exp_log_scale": model,
        "delta_bundle_vs_model": (recorded - model) if recorded is not None and model is not None else None,
        "ratio_bundle_vs_model": _ratio(recorded, model),
        "used_value": used,
        "used_value_source": used_from if used_ev is not None else None,
        "writes": _capped(run, [{"value": _num(e.get("value")), "previous": _num(e.get("previous")),
                                 "source": _str(e.get("source"))} for e in writes], "intensity_scale cfg writes"),
        "simulation_scales": _capped(run, [_num(e.get("value")) for e in by_what.get("simulation", [])],
                                     "simulation intensity scales"),
    }


# -- training (§2.8) ---------------------------------------------------------------------------------------------

def _rank_in(table, source):
    return table.index(source) if source in table else len(table)


def _training(run):
    events = run.kind("training")
    flag = stagemap.TRAINING_PREFERRED_FLAG   # the model under test, not e.g. a baseline trained alongside
    ev = min(events, key=lambda e: (0 if e.get(flag) is True else 1,
                                    _rank_in(stagemap.TRAINING_SOURCES, e.get("source")), e["_i"])) \
        if events else None
    e = ev or {}
    history = e.get("history") if isinstance(e.get("history"), dict) else None
    losses = history.get("loss") if history and isinstance(history.get("loss"), list) else None
    val_losses = history.get("val_loss") if history and isinstance(history.get("val_loss"), list) else None
    epochs = _count(e.get("epochs_completed"))
    if epochs is None and losses is not None:
        epochs = len(losses)
    final_loss = _num(e.get("final_loss"))
    if final_loss is None and losses:
        final_loss = _num(losses[-1])
    final_val = _num(e.get("final_val_loss"))
    if final_val is None and val_losses:
        final_val = _num(val_losses[-1])
    nan_detected = _bool(e.get("nan_detected"))
    first_nan = _count(e.get("first_nan_epoch"))
    if nan_detected is None and losses is not None:   # null in a history = a non-finite value (0-based epoch)
        bad = [i for i, v in enumerate(losses) if _num(v) is None]
        nan_detected, first_nan = bool(bad), (bad[0] if bad else None)
    history_artifact = None
    if history is not None and run.out_dir is not None:
        try:
            target = neighbour_path(run, HISTORY_NAME)
            jsonio.dump_pretty(history, target)
            history_artifact = target.name
        except OSError as exc:
            run.note("cannot write %s: %s" % (HISTORY_NAME, exc), error=True)
    checkpoint = next((a for a in run.kind("artifact") if a.get("name") == "checkpoint"), None)
    if ev is None:
        run.note("no training event: training block is null")
    return {
        "epochs_completed": epochs,
        "early_stopped": _bool(e.get("early_stopped")),
        "early_stop_epoch": _count(e.get("early_stop_epoch")),
        "final_loss": final_loss,
        "final_val_loss": final_val,
        "nan_detected": nan_detected,
        "first_nan_epoch": first_nan,
        "history_artifact": history_artifact,
        "checkpoint_artifact": run.doc_path(run.resolve(checkpoint.get("path"), checkpoint["pid"]))
        if checkpoint is not None else None,
        "source": _str(e.get("source")),
        "history_keys": sorted(history) if history else [],
        "events": len(events),
    }


# -- inference (§2.9) and comparison (§2.10) ---------------------------------------------------------------------

def _finite(a):
    import numpy as np
    a = np.asarray(a)
    if np.iscomplexobj(a):
        a = np.abs(a)
    a = a.astype(np.float64, copy=False).ravel()
    return a[np.isfinite(a)]


def _array_stats(a):
    import numpy as np
    if a is None:
        return None
    arr = np.asarray(a)
    if np.iscomplexobj(arr):
        arr = np.abs(arr)
    f = _finite(arr)
    return {"min": float(f.min()) if f.size else None, "max": float(f.max()) if f.size else None,
            "mean": float(f.mean()) if f.size else None, "std": float(f.std()) if f.size else None,
            "nan_count": int(np.isnan(arr).sum()) if arr.dtype.kind == "f" else 0}


_INF_KEYS = (("min", _num), ("max", _num), ("mean", _num), ("std", _num), ("nan_count", _count))


def _artifact_paths(run, inference_ev):
    """name -> resolved path: the chosen inference event's own artifacts first, then artifact events."""
    paths = {}
    if inference_ev is not None and isinstance(inference_ev.get("artifacts"), dict):
        for name, p in sorted(inference_ev["artifacts"].items()):
            resolved = run.resolve(p, inference_ev["pid"]) if isinstance(p, str) else None
            if resolved is not None:
                paths[name] = resolved
    for ev in run.kind("artifact"):
        name = ev.get("name")
        if isinstance(name, str) and name not in paths:
            resolved = run.resolve(ev.get("path"), ev["pid"])
            if resolved is not None:
                paths[name] = resolved
    return paths


def _as_2d(a, label, run):
    import numpy as np
    if a is None:
        return None
    a = np.squeeze(np.asarray(a))
    if a.dtype.kind not in "biufc":
        run.note("%s is not numeric (dtype %s)" % (label, a.dtype))
        return None
    if a.ndim < 2:
        run.note("%s is not an image (shape %s)" % (label, list(a.shape)))
        return None
    if a.ndim > 2:
        run.note("%s has shape %s: the first image is used" % (label, list(a.shape)))
        while a.ndim > 2:
            a = a[0]
    return a


def _amp_phase(run, paths, amp_name, phase_name):
    """(amplitude 2-D, phase 2-D) from the npy artifacts; a complex amplitude file supplies both."""
    amp = _as_2d(run.load_array(paths.get(amp_name)), amp_name, run)
    phase = _as_2d(run.load_array(paths.get(phase_name)), phase_name, run)
    return split_complex(amp, phase)


def split_complex(amp, phase):
    """(amplitude, phase) of an amplitude and a phase image (each may be None): a complex amplitude image
    supplies both, a complex phase image its angle."""
    import numpy as np
    if amp is not None and np.iscomplexobj(amp):
        if phase is None:
            phase = np.angle(amp)
        amp = np.abs(amp)
    if phase is not None and np.iscomplexobj(phase):
        phase = np.angle(phase)
    return amp, phase


def _has_part(ev, part):
    return isinstance(ev.get(part), dict)


def _pick_inference(run):
    """The best-ranked inference event, completed by a sibling of the same source for a missing part.

    A stitcher called once per part (amplitude, then phase) emits one event per call; the document wants both.
    """
    events = run.kind("inference")
    if not events:
        return None
    ev = min(events, key=lambda e: (0 if _has_part(e, "amplitude") or _has_part(e, "phase") else 1,
                                    _rank_in(stagemap.INFERENCE_SOURCES, e.get("source")), e["_i"]))
    merged = dict(ev)
    artifacts = dict(ev.get("artifacts") or {}) if isinstance(ev.get("artifacts"), dict) else {}
    siblings = sorted((e for e in events if e is not ev and e.get("source") == ev.get("source")),
                      key=lambda e: (e["_i"] < ev["_i"], abs(e["_i"] - ev["_i"])))
    for part, npy in (("amplitude", "amplitude_npy"), ("phase", "phase_npy")):
        if _has_part(merged, part):
            continue
        sibling = next((e for e in siblings if _has_part(e, part)), None)
        if sibling is not None:
            merged[part] = sibling[part]
            extra = sibling.get("artifacts") if isinstance(sibling.get("artifacts"), dict) else {}
            if extra.get(npy) and not artifacts.get(npy):
                artifacts[npy] = extra[npy]
    merged["artifacts"] = artifacts
    return merged


def _inference(run, stages, render):
    ev = _pick_inference(run)
    e = ev or {}
    paths = _artifact_paths(run, ev)
    amp, phase = _amp_phase(run, paths, "amplitude_npy", "phase_npy")
    stage = stages["inference_prediction"]
    blocks = {}
    for part, arr in (("amplitude", amp), ("phase", phase)):
        given = e.get(part) if isinstance(e.get(part), dict) else None
        if given is not None and _usable(given):
            blocks[part] = {k: c(given.get(k)) for k, c in _INF_KEYS}
        elif arr is not None:
            blocks[part] = _array_stats(arr)
        elif part == "amplitude" and stage["stats"] is not None:
            blocks[part] = {k: stage["stats"].get(k) for k, _ in _INF_KEYS}
        else:
            blocks[part] = {k: None for k, _ in _INF_KEYS}
    stitched = _shape(e.get("stitched_shape"))
    if stitched is None and amp is not None:
        stitched = list(amp.shape)
    group_limit = _int(e.get("group_limit"))
    if group_limit is None:
        group_limit = stage["metadata"].get("group_limit")
    pngs = {"amplitude_png": None, "phase_png": None}
    if run.out_dir is not None and (amp is not None or phase is not None):
        problem = figures.unavailable() if render else figures.NOT_AT_EXIT
        if problem is not None:
            run.note(problem if not render else "%s: amplitude/phase PNGs not rendered" % problem)
        else:
            for part, arr in (("amplitude", amp), ("phase", phase)):
                if arr is None:
                    continue
                name = " ".join(v for v in (_header_value(run, "pipeline"), _header_value(run, "scenario")) if v)
                try:
                    target = neighbour_path(run, figures.PNG_NAMES[part])
                    figures.render_image(arr, target, "%s\ninference %s" % (name[:60] or "run", part),
                                         figures.PNG_UNITS[part])
                    pngs[part + "_png"] = run.doc_path(target)
                except Exception as exc:
                    run.note("cannot render %s (%s: %s)" % (figures.PNG_NAMES[part], type(exc).__name__, exc), error=True)
    if ev is None:
        run.note("no inference event: inference statistics taken from artifacts/stage when available")
    return {
        "group_limit": group_limit,
        "stitched_shape": stitched,
        "amplitude": blocks["amplitude"],
        "phase": blocks["phase"],
        "artifacts": {"amplitude_npy": run.doc_path(paths.get("amplitude_npy")),
                      "phase_npy": run.doc_path(paths.get("phase_npy")),
                      "amplitude_png": pngs["amplitude_png"], "phase_png": pngs["phase_png"]},
        "source": _str(e.get("source")),
        "predictions": _count(e.get("predictions")),
        "norm_Y_I": _num(e.get("norm_Y_I")),
    }, (amp, phase), paths


def _crop_box(shape, size):
    start = [(shape[0] - size) // 2, (shape[1] - size) // 2]
    return start, [start[0] + size, start[1] + size]


def _median(d):
    """np.median of a non-empty finite 1-D array, computed as np.median does (partition, then the middle
    element or the mean of the two middle ones: the same number), without np.median's NaN check, which
    imports numpy.ma (~0.1 s) inside the traced program's exit."""
    import numpy as np
    n = d.size
    k = n // 2
    if n % 2:
        return float(np.partition(d, k)[k])
    return float(np.mean(np.partition(d, [k - 1, k])[k - 1:k + 1]))


def _metrics(truth, pred):
    """Error metrics of truth vs prediction over pixels finite in both (d = truth - pred)."""
    import numpy as np
    t = np.asarray(truth, dtype=np.float64).ravel()
    p = np.asarray(pred, dtype=np.float64).ravel()
    ok = np.isfinite(t) & np.isfinite(p)
    t, p = t[ok], p[ok]
    if t.size == 0:
        return _null_metrics()
    d = t - p
    dt, dp = t - t.mean(), p - p.mean()
    denom = math.sqrt(float(np.dot(dt, dt)) * float(np.dot(dp, dp)))
    pp = float(np.dot(p, p))
    scalar = float(np.dot(t, p)) / pp if pp > 0 else None
    return {
        "mae": float(np.mean(np.abs(d))),
        "rmse": float(np.sqrt(np.mean(d * d))),
        "max_abs": float(np.max(np.abs(d))),
        "pearson_r": float(np.dot(dt, dp)) / denom if denom > 0 else None,
        "bias_summary": {"mean": float(np.mean(d)), "median": _median(d),
                         "p05": float(np.percentile(d, 5)), "p95": float(np.percentile(d, 95))},
        "scaling_analysis": {
            "truth_to_pred_ratio_mean": _ratio(float(t.mean()), float(p.mean())),
            "least_squares_scalar": scalar,
            "rescaled_mae": float(np.mean(np.abs(t - scalar * p))) if scalar is not None else None},
        "pixel_count": int(t.size),
    }


def _null_metrics():
    return {"mae": None, "rmse": None, "max_abs": None, "pearson_r": None,
            "bias_summary": {"mean": None, "median": None, "p05": None, "p95": None},
            "scaling_analysis": {"truth_to_pred_ratio_mean": None, "least_squares_scalar": None,
                                 "rescaled_mae": None},
            "pixel_count": 0}


def _comparison(run, predicted, paths, dataset_type):
    truth_amp, truth_phase = _amp_phase(run, paths, "ground_truth_amp_npy", "ground_truth_phase_npy")
    block = {"ground_truth_source": "none",
             "crop_metadata": {"target_size": None, "start": None, "end": None},
             "amplitude": _null_metrics(), "phase": _null_metrics(),
             "ground_truth_amplitude_mean": None,
             "ground_truth_artifacts": {"amplitude_npy": run.doc_path(paths.get("ground_truth_amp_npy")),
                                        "phase_npy": run.doc_path(paths.get("ground_truth_phase_npy"))}}
    if truth_amp is None and truth_phase is None:
        return block
    block["ground_truth_source"] = stagemap.GROUND_TRUTH_SOURCE_BY_DATASET.get(
        dataset_type, stagemap.DEFAULT_GROUND_TRUTH_SOURCE)
    if truth_amp is not None:
        f = _finite(truth_amp)
        block["ground_truth_amplitude_mean"] = float(f.mean()) if f.size else None
    crop_done = False
    for part, truth, pred in (("amplitude", truth_amp, predicted[0]), ("phase", truth_phase, predicted[1])):
        if truth is None or pred is None:
            continue
        size = min(truth.shape[0], truth.shape[1], pred.shape[0], pred.shape[1])
        p_start, p_end = _crop_box(pred.shape, size)
        t_start, t_end = _crop_box(truth.shape, size)
        block[part] = _metrics(truth[t_start[0]:t_end[0], t_start[1]:t_end[1]],
                               pred[p_start[0]:p_end[0], p_start[1]:p_end[1]])
        if not crop_done:   # start/end are the prediction's window; the truth's window is an extra
            block["crop_metadata"] = {"target_size": int(size), "start": p_start, "end": p_end,
                                      "truth_start": t_start, "truth_end": t_end,
                                      "prediction_shape": list(pred.shape), "truth_shape": list(truth.shape)}
            crop_done = True
    if not crop_done:
        run.note("ground truth present but no stitched prediction array to compare with")
    return block


# -- stage ratios (§2.6) -----------------------------------------------------------------------------------------

def _stage_ratios(stages, inference, comparison):
    means = {name: (entry["stats"] or {}).get("mean") for name, entry in stages.items()}
    prediction = inference["amplitude"].get("mean")
    means["inference_prediction"] = prediction if prediction is not None else means.get("inference_prediction")
    means["ground_truth"] = comparison.get("ground_truth_amplitude_mean")
    ratios, blamed = {}, {}
    for name, num, den in stagemap.STAGE_RATIOS:
        ratios[name] = _ratio(means.get(num), means.get(den))
        blamed[name] = num
    values = list(ratios.values())
    product = None
    if all(v is not None for v in values):
        product = 1.0
        for v in values:
            product *= v
        product = product if math.isfinite(product) else None
    worst, worst_dev = None, -1.0
    for name, r in ratios.items():
        if r is not None:
            dev = abs(math.log(abs(r)))
            if dev > worst_dev:
                worst, worst_dev = blamed[name], dev
    symmetry = {"expected": 1.0, "actual": product, "tolerance": SYMMETRY_TOLERANCE,
                "violated": (abs(product - 1.0) > SYMMETRY_TOLERANCE) if product is not None else None,
                "primary_deviation_source": worst,
                "missing_ratios": [n for n, r in ratios.items() if r is None]}
    return ratios, product, symmetry


# -- tracer block --------------------------------------------------------------------------------------------------

def _artifact_entry(run, ev):
    path = ev.get("path")
    resolved = run.resolve(path, ev["pid"]) if isinstance(path, str) else None
    return {"name": _str(ev.get("name")), "path": run.doc_path(resolved) if resolved is not None else _str(path),
            "source": _str(ev.get("source"))}


def _tracer_block(run, absent_optional, other_stages, duplicates):
    errors = {}
    footers = {}
    for ev in run.kind("footer"):
        footers[ev["pid"]] = ev
    for ev in run.kind("tracer_error"):
        if ev["pid"] not in footers:   # a footer already counts this process's errors
            layer = _str(ev.get("layer")) or "unknown"
            errors[layer] = errors.get(layer, 0) + 1
    dropped = 0
    for pid in sorted(footers):
        for layer, n in sorted(_dict(footers[pid].get("errors")).items()):
            if _count(n):
                errors[layer] = errors.get(layer, 0) + _count(n)
        dropped += _count(footers[pid].get("dropped")) or 0
    if run.reduce_errors:
        errors["reduce"] = errors.get("reduce", 0) + run.reduce_errors
    for s in run.streams:
        if s.pid is not None and s.pid not in footers:
            run.note("process %s wrote no footer (killed or still running): %s" % (s.pid, run.doc_path(s.path)))
    statuses = {}
    for ev in run.kind("patch"):
        target = _str(ev.get("target"))
        if target:
            statuses.setdefault(target, set()).add(_str(ev.get("status")))
    for pid in sorted(footers):   # the patcher's final word per process: canonical -> status
        summary = footers[pid].get("patches")
        if isinstance(summary, dict):
            for target, status in summary.items():
                statuses.setdefault(str(target), set()).add(_str(status))
    ok = {"patched", "rebound", "repatched"}
    patched = sorted(t for t, s in statuses.items() if s & ok)
    missing = sorted(t for t, s in statuses.items() if not s & ok and "missing" in s)
    failed = sorted(t for t, s in statuses.items() if not s & ok and "failed" in s)
    not_imported = sorted(t for t, s in statuses.items() if s == {"not_imported"})
    try:
        from parity_tracer import __version__ as version
    except ImportError:
        version = next((h.get("tracer_version") for h in run.headers if h.get("tracer_version")), "unknown")
    return {
        "version": str(version),
        "streams": [{"path": run.doc_path(s.path), "pid": s.pid, "events": s.events, "truncated": s.truncated,
                     "corrupt_lines": s.corrupt_lines, "duplicates": s.duplicates} for s in run.streams],
        "events": len(run.events),
        "duplicates": duplicates,
        "errors": dict(sorted(errors.items())),
        "dropped": dropped,
        "patches": {"patched": patched, "missing": missing, "failed": failed, "not_imported": not_imported},
        "optional_stages_absent": absent_optional,
        "other_stages": other_stages,
        "artifacts": _capped(run, [_artifact_entry(run, ev) for ev in run.kind("artifact")], "artifacts"),
        "notes": list(run.notes),
    }


# -- the document ------------------------------------------------------------------------------------------------

def _timestamp():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _header_value(run, key):
    return next((h.get(key) for h in run.headers if isinstance(h.get(key), str) and h.get(key)), None)


def reduce_streams(paths, *, pipeline=None, scenario=None, out_dir=None, run_id=None, merge_runs=False,
                   document=None, render=True):
    """Read and merge ``paths`` into the spec document. Returns ``(document, report)``.

    ``out_dir`` is where the document will live: history.json and (``render``) PNGs are written there and paths
    in the document are made relative to it (``document`` is its file name there, parity_telemetry.json by
    default: a neighbour file is only ever replaced when the document being replaced named it). The reduce at
    exit passes ``render=False``: no matplotlib inside the traced program. ``run_id`` reduces that run's streams
    only; otherwise streams of several runs are refused unless ``merge_runs``. Raises ReduceError when there is
    nothing to reduce.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    with _gc_paused():
        return _reduce(list(paths), pipeline, scenario, out_dir, run_id, merge_runs, document, render)


def _runs_text(runs):
    return ", ".join("%s (%d stream%s)" % (r, n, "" if n == 1 else "s") for r, n in sorted(runs.items()))


def _reduce(paths, pipeline, scenario, out_dir, run_id=None, merge_runs=False, document=None, render=True):
    files, events, streams, warnings, runs = read(paths, run_id=run_id, merge_runs=merge_runs)
    return build(files, events, streams, warnings, pipeline=pipeline, scenario=scenario, out_dir=out_dir,
                 runs=runs, run_id=run_id, merge_runs=merge_runs, document=document, render=render)


def read(paths, run_id=None, merge_runs=False):
    """``(files, merged events, per-file info, warnings, {run id: stream count})`` of the streams named by
    ``paths``: ``run_id``'s streams only, or all of them (streams of several runs are refused unless
    ``merge_runs``)."""
    warnings = []
    files = find_stream_files(paths, warnings)
    events, streams, runs = read_streams(files, warnings, run_id=run_id)
    if run_id is None and len(runs) > 1 and not merge_runs:
        raise ReduceError("streams of %d runs: %s; name one run's streams, or pass --merge-runs to merge them"
                          % (len(runs), _runs_text(runs)))
    if not events:
        raise ReduceError("no events in %s" % ", ".join(str(f) for f in files))
    return files, events, streams, warnings, runs


def build(files, events, streams, warnings, *, pipeline=None, scenario=None, out_dir=None, root=None,
          run_segment=None, runs=None, run_id=None, merge_runs=False, document=None, render=True):
    """The document of ``events`` (all of a stream, or one run's share of it: ``segment.py``)."""
    if out_dir is not None:
        outputs.makedirs(out_dir)
    run = _Run(events, streams, out_dir, root)
    run.owned = _previous_neighbours(out_dir, document)
    runs = runs or {}
    others = sum(n for r, n in runs.items() if r != run_id)
    if run_id is not None and others:
        run.note("%d stream(s) of other runs in the folder were not merged (this run: %s)" % (others, run_id))
    if len(runs) > 1 and merge_runs:
        run.note("streams of %d runs merged on request (--merge-runs): %s" % (len(runs), _runs_text(runs)))
    duplicates = sum(s.duplicates for s in streams)
    for s in streams:
        if s.truncated:
            run.note("%s: truncated last line ignored" % run.doc_path(s.path))
        if s.corrupt_lines:
            run.note("%s: %d corrupt line(s) skipped" % (run.doc_path(s.path), s.corrupt_lines))

    stages, ordered, missing, absent_optional, other = _stages(run)
    snap = _config_snapshot(run)
    configuration = _configuration(run, snap)
    cfg = configuration["legacy_params_cfg_snapshot"] or {}
    dataset = _dataset_source(run, stages)
    provenance = dict(_git_state(run))
    provenance["environment"] = _environment(run)
    provenance["seeds"] = _seeds(run)
    provenance["dataset_source"] = dataset
    probe = _probe(run)
    scale = _intensity_scale(run, cfg, stages)
    training = _training(run)
    inference, predicted, artifact_paths = _inference(run, stages, render)
    comparison = _comparison(run, predicted, artifact_paths, dataset["type"])
    ratios, product, symmetry = _stage_ratios(stages, inference, comparison)
    for entry in absent_optional:
        run.note("optional stage %s not captured: %s" % (entry["name"], entry["reason"]))

    doc = {
        "schema_version": SCHEMA_VERSION,
        "timestamp": _timestamp(),
        "pipeline": pipeline or _header_value(run, "pipeline") or "unknown",
        "scenario": scenario or _header_value(run, "scenario"),
        "provenance": provenance,
        "configuration": configuration,
        "probe": probe,
        "intensity_stages": ordered,
        "missing_stages": missing,
        "stage_ratios": ratios,
        "full_chain_product": product,
        "symmetry_check": symmetry,
        "intensity_scale": scale,
        "training": training,
        "inference": inference,
        "comparison": comparison,
    }
    doc["tracer"] = _tracer_block(run, absent_optional, other, duplicates)
    doc["tracer"]["run_ids"] = sorted(set(s.run_id for s in streams if s.run_id not in (None, NO_RUN_ID)))
    if run_segment is not None:
        doc["tracer"]["run_segment"] = run_segment
    # Round trip through the strict encoder: what we validate and return is exactly what gets written.
    doc = jsonio.loads(jsonio.dumps(doc))
    errors = _repair(doc)
    report = {"warnings": warnings, "files": [str(f) for f in files], "events": len(events),
              "required_found": len(stagemap.REQUIRED_STAGES) - len(missing),
              "required_total": len(stagemap.REQUIRED_STAGES), "missing_stages": missing,
              "validation_errors": errors}
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
    from parity_tracer.validate import validate_document
    notes = doc.get("tracer", {}).get("notes") if isinstance(doc.get("tracer"), dict) else None
    for _ in range(5):
        errors = validate_document(doc)
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
    return validate_document(doc)


def _previous_neighbours(out_dir, document):
    """Files next to the document that the document about to be replaced named as its own (history, PNGs):
    only those may be replaced; any other file already there is left alone."""
    if out_dir is None:
        return set()
    path = os.path.join(str(out_dir), document or "parity_telemetry.json")
    try:
        old = jsonio.loads(inputs.read_bytes(path, follow=False))
    except (OSError, ValueError, UnicodeDecodeError):
        return set()
    if not isinstance(old, dict):
        return set()
    named = [_pick(old.get("training"), "history_artifact"),
             _pick(_dict(old.get("inference")).get("artifacts"), "amplitude_png"),
             _pick(_dict(old.get("inference")).get("artifacts"), "phase_png")]
    return {n for n in named if isinstance(n, str) and n and "/" not in n and os.sep not in n and n[0] != "."}


def neighbour_path(run, name):
    """``out_dir/name``, or ``stem-2.ext``... when ``name`` holds a file this reduce may not replace."""
    stem, ext = os.path.splitext(name)
    for n in range(1, 1000):
        candidate = name if n == 1 else "%s-%d%s" % (stem, n, ext)
        path = run.out_dir / candidate
        if candidate in run.written or candidate in run.owned or not os.path.lexists(path):
            run.written.add(candidate)
            if n > 1:
                run.note("%s exists and was not written for this document: left as is, wrote %s" % (name, candidate))
            return path
    raise OSError("no free name for %s in %s" % (name, run.out_dir))


def summary_line(report, out_path):
    errors = report["validation_errors"]
    if errors:
        pointer, reason = errors[0]
        return "parity_tracer: %d/%d required stages, telemetry NOT written to %s (INVALID: %d error%s, first: %s %s)" % (
            report["required_found"], report["required_total"], out_path, len(errors),
            "" if len(errors) == 1 else "s", pointer or "/", reason)
    return "parity_tracer: %d/%d required stages, telemetry -> %s (valid)" % (
        report["required_found"], report["required_total"], out_path)


def check_output(out_path):
    """Refuse (ReduceError) an output that is a folder, lies below a file, or is a device/FIFO: before reading."""
    out_path = Path(out_path)
    parent = out_path.parent if str(out_path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise ReduceError("-o %s: %s is not a folder" % (out_path, parent))
    for ancestor in parent.parents:
        if ancestor.exists() and not ancestor.is_dir():
            raise ReduceError("-o %s: %s is not a folder" % (out_path, ancestor))
    try:
        outputs.check_replaceable(out_path) if parent.is_dir() else None
    except outputs.UnsafeOutput as exc:
        raise ReduceError("-o %s: %s" % (out_path, exc.strerror))


def write_document(doc, out_path):
    """Write a document this module made (validated by ``_repair``), by private temp file + rename."""
    jsonio.dump_pretty(doc, out_path)


def reduce_to_file(paths, out_path, *, pipeline=None, scenario=None, merge_runs=False):
    """Reduce and write the document (only when it validates); stream problems go to stderr; returns the one-line
    summary."""
    out_path = Path(out_path)
    check_output(out_path)
    doc, report = reduce_streams(paths, pipeline=pipeline, scenario=scenario,
                                 out_dir=out_path.parent if str(out_path.parent) else Path("."),
                                 merge_runs=merge_runs, document=out_path.name)
    for line in report["warnings"]:
        sys.stderr.write(line + "\n")
    if not report["validation_errors"]:
        write_document(doc, out_path)
    return summary_line(report, out_path)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m parity_tracer reduce",
                                     description="Reduce event streams to parity_telemetry.json (spec v1.0); a "
                                                 "stream holding several runs gives one document per run under "
                                                 "runs/ next to it, listed in runs.json.")
    parser.add_argument("streams", nargs="+", help="JSONL stream files or directories")
    parser.add_argument("-o", "--output", default="parity_telemetry.json")
    parser.add_argument("--pipeline")
    parser.add_argument("--scenario")
    parser.add_argument("--merge-runs", action="store_true",
                        help="merge streams of different runs into one document (refused otherwise)")
    parser.add_argument("--single", action="store_true",
                        help="one document even when the stream holds several runs (their events are merged)")
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    from parity_tracer import segment
    try:
        line, warnings, ok = segment.reduce_path(args.streams, args.output, pipeline=args.pipeline,
                                                 scenario=args.scenario, single=args.single,
                                                 merge_runs=args.merge_runs)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
