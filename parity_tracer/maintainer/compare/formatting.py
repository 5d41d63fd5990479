"""Values of a comparison as short text: numbers, shapes, percentages, the largest difference of a row group."""

import json


def fmt(v):
    if v is None:
        return "—"
    if isinstance(v, int):          # bool included: true / false, as the documents spell them
        return json.dumps(v)
    if isinstance(v, float):
        if v == 0:
            return "0"
        return "%.6g" % v
    if isinstance(v, list):
        return fmt_shape(v) if all(isinstance(x, int) for x in v) else "[" + ", ".join(fmt(x) for x in v) + "]"
    return str(v)


def fmt_shape(v):
    if not isinstance(v, list):
        return fmt(v) if v is not None else "—"
    return "[" + ", ".join(str(x) for x in v) + "]"


def pct(x):
    if x is None:
        return "—"
    if x == 0:
        return "0%"
    p = x * 100
    return ("%.3g%%" % p) if p >= 0.001 else ("%.2e%%" % p)


def mark(ok):
    return "" if ok is None else ("ok" if ok else "DIFFERS")


def cell(v):
    return v if isinstance(v, str) else fmt(v)


def source_text(info):
    """Where a run's stage came from ("= " marks a step playing the stage's role), or why it is absent."""
    if not info["present"]:
        return "(absent: %s)" % info["absent_reason"] if info.get("absent_reason") else "(absent)"
    return "%s%s" % ("= " if info["equivalent"] else "", fmt(info["source"]))


def worst_text(w):
    """The largest difference of a group of rows (a row dict, or None)."""
    if w is None:
        return ""
    if w["stat"] == "shape":
        return "shape %s vs %s" % (fmt_shape(w["a"]), fmt_shape(w["b"]))
    if w["rel_diff"] is None:
        return "%s %s vs %s%s" % (w["stat"], fmt(w["a"]), fmt(w["b"]), " (%s)" % w["note"] if w["note"] else "")
    return "%s %s vs %s (%s)" % (w["stat"], fmt(w["a"]), fmt(w["b"]), pct(w["rel_diff"]))


def breaking_text(failing, tol):
    """The rows that break tolerance ``tol``, in words."""
    parts = []
    for r in failing:
        if r["stat"] == "shape":
            parts.append("shape %s vs %s" % (fmt_shape(r["a"]), fmt_shape(r["b"])))
        elif r["rel_diff"] is None:
            parts.append("%s %s vs %s (%s)" % (r["stat"], fmt(r["a"]), fmt(r["b"]), r["note"]))
        else:
            parts.append("%s %s vs %s (%s > %s)" % (r["stat"], fmt(r["a"]), fmt(r["b"]), pct(r["rel_diff"]),
                                                   pct(tol)))
    return "; ".join(parts)
