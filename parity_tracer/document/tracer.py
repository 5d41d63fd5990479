"""The ``tracer`` block: streams read, errors and drops per layer, patch outcomes, artifacts, notes."""

import importlib
import sys

from parity_tracer import __version__
from parity_tracer.document import fields
from parity_tracer.document.index import capped


def _artifact_entry(run, ev):
    path = ev.get("path")
    resolved = run.resolve(path, ev["pid"]) if isinstance(path, str) else None
    return {"name": fields.string(ev.get("name")), "path": run.doc_path(resolved) if resolved is not None else fields.string(path),
            "source": fields.string(ev.get("source"))}


def tracer_block(run, absent_optional, other_stages, duplicates):
    errors = {}
    footers = {}
    for ev in run.kind("footer"):
        footers[ev["pid"]] = ev
    for ev in run.kind("tracer_error"):
        if ev["pid"] not in footers:   # a footer already counts this process's errors
            layer = fields.string(ev.get("layer")) or "unknown"
            errors[layer] = errors.get(layer, 0) + 1
    dropped = 0
    for pid in sorted(footers):
        for layer, n in sorted(fields.mapping(footers[pid].get("errors")).items()):
            if fields.count(n):
                errors[layer] = errors.get(layer, 0) + fields.count(n)
        dropped += fields.count(footers[pid].get("dropped")) or 0
    if run.reduce_errors:
        errors["reduce"] = errors.get("reduce", 0) + run.reduce_errors
    for s in run.streams:
        if s.pid is not None and s.pid not in footers:
            run.note("process %s wrote no footer (killed or still running): %s" % (s.pid, run.doc_path(s.path)))
    statuses = {}
    for ev in run.kind("patch"):
        target = fields.string(ev.get("target"))
        if target:
            statuses.setdefault(target, set()).add(fields.string(ev.get("status")))
    for pid in sorted(footers):   # the patcher's final word per process: canonical -> status
        summary = footers[pid].get("patches")
        if isinstance(summary, dict):
            for target, status in summary.items():
                statuses.setdefault(str(target), set()).add(fields.string(status))
    ok = {"patched", "rebound", "repatched"}
    patched = sorted(t for t, s in statuses.items() if s & ok)
    missing = sorted(t for t, s in statuses.items() if not s & ok and "missing" in s)
    failed = sorted(t for t, s in statuses.items() if not s & ok and "failed" in s)
    not_imported = sorted(t for t, s in statuses.items() if s == {"not_imported"})
    return {
        "version": __version__,
        "streams": [{"path": run.doc_path(s.path), "pid": s.pid, "events": s.events, "truncated": s.truncated,
                     "corrupt_lines": s.corrupt_lines, "duplicates": s.duplicates} for s in run.streams],
        "events": len(run.events),
        "duplicates": duplicates,
        "errors": dict(sorted(errors.items())),
        "dropped": dropped,
        "patches": {"patched": patched, "missing": missing, "failed": failed, "not_imported": not_imported},
        "optional_stages_absent": absent_optional,
        "other_stages": other_stages,
        "artifacts": capped(run, [_artifact_entry(run, ev) for ev in run.kind("artifact")], "artifacts"),
        "notes": list(run.notes),
    }


def anything_imported(run, root):
    """False when the streams show that no capture point's module under ``root`` (every capture point's module
    when ``root`` is None) was ever imported: no origin event, and each of those points recorded only as
    ``not_imported``. True whenever the streams cannot tell (no footer, no patch outcome)."""
    if run.kind("origin"):
        return True
    statuses = {}
    pairs = [(ev.get("target"), ev.get("status")) for ev in run.kind("patch")]
    for ev in run.kind("footer"):
        if isinstance(ev.get("patches"), dict):
            pairs += ev["patches"].items()
    for target, status in pairs:
        # streams are hostile: only string targets and statuses count (a list would not even hash)
        if isinstance(target, str) and (root is None or target.partition("::")[0].split(".")[0] == root):
            statuses.setdefault(target, set()).add(status if isinstance(status, str) else None)
    mine = list(statuses.values())
    return not mine or any(s != {"not_imported"} for s in mine)


def profile_root(name):
    """The root module of the profile a header names (None for a targets file's profile, or an unknown name).

    Only a profile module of this package is looked at; the name read from the stream selects among them."""
    if not isinstance(name, str):
        return None
    try:
        from parity_tracer import profiles
        load = getattr(profiles, "load", None)          # the profile contract, where it exists
        if load is not None:
            return getattr(load(name), "root", None)
        module = sys.modules.get("parity_tracer.profiles." + name)   # at exit: the profile in use
        if module is None:
            import pkgutil
            if name not in {m.name for m in pkgutil.iter_modules(profiles.__path__)}:
                return None
            module = importlib.import_module("parity_tracer.profiles." + name)
        root = getattr(module, "ROOT", None)
        return root if isinstance(root, str) else None
    except Exception:
        return None
