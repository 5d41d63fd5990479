"""§2.4 probe: the set_probe call that normalized the raw probe, before and after, plus every call in a list."""

import math
import os

from parity_tracer.document import fields
from parity_tracer.document.index import capped


_AMP_KEYS = ("min", "max", "mean", "std")


def _probe_stats(stats):
    s = stats if isinstance(stats, dict) else {}
    amp = s.get("amplitude") if isinstance(s.get("amplitude"), dict) else s
    phase = s.get("phase") if isinstance(s.get("phase"), dict) else {}
    energy = fields.number(s.get("energy"))
    l2 = fields.number(amp.get("l2_norm"))
    if l2 is None and energy is not None and energy >= 0:
        l2 = math.sqrt(energy)
    if energy is None and l2 is not None:
        energy = l2 * l2
    amplitude = {k: fields.number(amp.get(k)) for k in _AMP_KEYS}
    amplitude["l2_norm"] = l2
    return {"amplitude": amplitude, "phase": {k: fields.number(phase.get(k)) for k in _AMP_KEYS}, "energy": energy}


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
    factor = fields.number(_call_field(call, "computed_norm_factor"))
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


def probe(run):
    calls = _probe_calls(run)
    before = [c for c in calls if run.training_cut is None or c["first"] < run.training_cut]
    # Later set_probe calls re-normalize the already normalized probe (norm factor 1): the block describes the
    # last call before training that actually changed it, i.e. the normalization of the raw probe.
    changed = [c for c in before if _changes_probe(c)]
    chosen = (changed or before or calls or [None])[-1]
    call = chosen or {}
    pre_stats = fields.mapping((call.get("pre") or {}).get("stats"))
    post_stats = fields.mapping((call.get("post") or {}).get("stats"))
    src = fields.mapping(_call_field(call, "source"))
    src_path = fields.string(src.get("path"))
    if src_path is not None and os.path.isabs(src_path):
        src_path = run.doc_path(src_path)
    mask = fields.mapping(_call_field(call, "mask_stats"))
    summary = [{
        "call_id": fields.integer(c["call_id"]),
        "entry": fields.string(_call_field(c, "entry")),
        "route": fields.string(_call_field(c, "route")),
        "method": fields.string(_call_field(c, "method")),
        "probe_scale": fields.number(_call_field(c, "probe_scale")),
        "computed_norm_factor": fields.number(_call_field(c, "computed_norm_factor")),
        "pre_amplitude_mean": _probe_stats((c.get("pre") or {}).get("stats"))["amplitude"]["mean"],
        "post_amplitude_mean": _probe_stats((c.get("post") or {}).get("stats"))["amplitude"]["mean"],
        "before_training": run.training_cut is None or c["first"] < run.training_cut,
        "chosen": c is chosen,
    } for c in calls]
    if chosen is None:
        run.note("no probe events: probe block is null")
    return {
        "source": {"type": fields.string(src.get("type")), "path": src_path, "checksum": fields.string(src.get("checksum"))},
        "shape": fields.shape(post_stats.get("shape")) or fields.shape(pre_stats.get("shape")),
        "dtype": fields.string(pre_stats.get("dtype")) or fields.string(post_stats.get("dtype")),
        "pre_normalization": _probe_stats(pre_stats),
        "normalization": {
            "method": fields.string(_call_field(call, "method")),
            "probe_scale": fields.number(_call_field(call, "probe_scale")),
            "probe_big": fields.boolean(_call_field(call, "probe_big")),
            "probe_mask": fields.boolean(_call_field(call, "probe_mask")),
            "mask_stats": {"nonzero_count": fields.count(mask.get("nonzero_count")),
                           "total_count": fields.count(mask.get("total_count")),
                           "coverage_fraction": fields.number(mask.get("coverage_fraction"))},
            "computed_norm_factor": fields.number(_call_field(call, "computed_norm_factor")),
        },
        "post_normalization": _probe_stats(post_stats),
        "entry": fields.string(_call_field(call, "entry")),
        "call_id": fields.integer(chosen["call_id"]) if chosen else None,
        "artifacts": _probe_arrays(run, call),
        "calls": capped(run, summary, "set_probe calls"),
    }
