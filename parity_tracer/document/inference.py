"""§2.9 inference: the stitched prediction's statistics (from the event, else its saved arrays, else the stage)."""

from parity_tracer.profiles.ptychopinn import stagemap
from parity_tracer.document import arrays, fields
from parity_tracer.document.index import header_value, rank_in
from parity_tracer.document.stages import usable
from parity_tracer.profiles.ptychopinn import document as knowledge


_INF_KEYS = (("min", fields.number), ("max", fields.number), ("mean", fields.number), ("std", fields.number), ("nan_count", fields.count))


def artifact_paths(run, inference_ev):
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
                                    rank_in(stagemap.INFERENCE_SOURCES, e.get("source")), e["_i"]))
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


def inference(run, stages, no_images):
    """``(inference block, (amplitude, phase) arrays, artifact paths, images to render or None)``.

    ``no_images`` is the note to record when the caller will not render PNGs (None: it will); the images are
    ``{part: (2-D array, title)}``, rendered beside the document by the writer (artifacts.py).
    """
    ev = _pick_inference(run)
    e = ev or {}
    paths = artifact_paths(run, ev)
    amp, phase = arrays.amp_phase(run, paths, "amplitude_npy", "phase_npy")
    stage = stages["inference_prediction"]
    blocks = {}
    for part, arr in (("amplitude", amp), ("phase", phase)):
        given = e.get(part) if isinstance(e.get(part), dict) else None
        if given is not None and usable(given):
            blocks[part] = {k: c(given.get(k)) for k, c in _INF_KEYS}
        elif arr is not None:
            blocks[part] = arrays.array_stats(arr)
        elif part == "amplitude" and stage["stats"] is not None:
            blocks[part] = {k: stage["stats"].get(k) for k, _ in _INF_KEYS}
        else:
            blocks[part] = {k: None for k, _ in _INF_KEYS}
    stitched = fields.shape(e.get("stitched_shape"))
    if stitched is None and amp is not None:
        stitched = list(amp.shape)
    group_limit = fields.integer(e.get("group_limit"))
    if group_limit is None:
        group_limit = stage["metadata"].get("group_limit")
    images = None
    if run.out_dir is not None and (amp is not None or phase is not None):
        if no_images is not None:
            run.note(no_images)
        else:
            name = " ".join(v for v in (header_value(run, "pipeline"), header_value(run, "scenario")) if v)
            images = {part: (arr, "%s\ninference %s" % (name[:60] or "run", part))
                      for part, arr in (("amplitude", amp), ("phase", phase)) if arr is not None}
    if ev is None:
        run.note("no inference event: inference statistics taken from artifacts/stage when available")
    return {
        "group_limit": group_limit,
        "stitched_shape": stitched,
        "amplitude": blocks["amplitude"],
        "phase": blocks["phase"],
        "artifacts": {"amplitude_npy": run.doc_path(paths.get("amplitude_npy")),
                      "phase_npy": run.doc_path(paths.get("phase_npy")),
                      "amplitude_png": None, "phase_png": None},   # named by the writer once rendered
        "source": fields.string(e.get("source")),
        "predictions": fields.count(e.get("predictions")),
        "norm_Y_I": fields.number(e.get(knowledge.INFERENCE_NORM_FIELD)),
    }, (amp, phase), paths, images


