"""The one tolerant reader of fields from streams and documents written elsewhere.

Nothing about their types is trusted: a malformed value reads as None (or ``{}`` / ``[]`` for containers)
instead of raising. Used by the document build, the multi-run split, and the readers of finished documents
(compare, bundle, report, the protocol).
"""

import math


def number(v):
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
            return number(v["value"])
        if isinstance(v.get("summary"), dict):
            return number(v["summary"])
        if v.get("total_count") == 1:
            return number(v.get("mean"))
    return None


def integer(v):
    """An int (an integral float or numeric string counts), or None; never a bool."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int):
        return v
    f = number(v)
    if f is not None and f.is_integer():
        return int(f)
    return None


def count(v):
    """A non-negative integer (counts, epochs), or None."""
    n = integer(v)
    return n if n is not None and n >= 0 else None


def boolean(v):
    """A bool from true/false, 0/1, "true"/"false" or ``{"value": ...}``, else None."""
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    if isinstance(v, dict) and "value" in v:
        return boolean(v["value"])
    return None


def string(v):
    return v if isinstance(v, str) else None


def shape(v):
    """A list of non-negative ints, or None."""
    if isinstance(v, (list, tuple)):
        dims = [integer(x) for x in v]
        if all(d is not None and d >= 0 for d in dims):
            return dims
    return None


def mapping(v):
    return v if isinstance(v, dict) else {}


def sequence(v):
    return v if isinstance(v, list) else []


def strings(v):
    """The string items of a list field (``context``), ignoring anything malformed."""
    return [c for c in v if isinstance(c, str)] if isinstance(v, list) else []


def get(d, *keys):
    """``d[k1][k2]...``, or None as soon as a level is not a dict."""
    for key in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


def first(d, *keys):
    """The first non-None value among ``keys`` of dict ``d``."""
    if not isinstance(d, dict):
        return None
    for k in keys:
        v = d.get(k)
        if v is not None:
            return v
    return None


def ratio(a, b):
    """a / b when both are non-zero numbers and the result is finite, else None."""
    if a is None or b is None or a == 0 or b == 0:
        return None
    r = a / b
    return r if math.isfinite(r) else None


BY_KIND = {"int": integer, "float": number, "bool": boolean}   # stagemap's configuration field kinds
