"""Strict JSON I/O shared by the sink, the reducer and the tools.

Every byte we write must be strict JSON (no NaN/Infinity tokens) and serializing must never raise for an odd
object: the sink calls ``dumps`` inside the traced program. orjson is used when importable (fast path); any
object it refuses falls back to a sanitizing walk that yields plain JSON types, encoded by orjson or the
standard library. numpy is not imported here (this module stays standard library for every reader of our
files): numpy objects are recognized through ``sys.modules``, where they must be if a value is one.
"""

import dataclasses
import datetime
import enum
import json
import math
import os
import re
import sys

try:  # optional speed-up; tests set this handle to None to exercise the stdlib path
    import orjson
except ImportError:  # pragma: no cover - depends on the environment
    orjson = None

SMALL_ARRAY = 4096   # numpy arrays up to this many elements become lists; larger ones a short description
MAX_DEPTH = 64       # deeper nesting is cut (a self-referencing structure cannot recurse forever)
REPR_LIMIT = 200     # "a short repr string"
MAX_PARSE_DEPTH = 512   # deeper input is refused before parsing: orjson 3.8 overflows its stack (a crash, not an
                        # error) somewhere past 100k levels, the stdlib parser raises RecursionError near 1000
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")

# No OPT_SERIALIZE_NUMPY: arrays go through ``_default`` so that both back ends apply the same size limit
# (the stream carries statistics, never raw array data).
_OPTS = 0 if orjson is None else orjson.OPT_NON_STR_KEYS


def dumps(obj) -> bytes:
    """One line of strict JSON, no trailing newline. Never raises."""
    return _encode(obj, pretty=False)


def dumps_pretty(obj) -> bytes:
    """Indented (2 spaces) strict JSON ending with a newline, keys in insertion order."""
    return _encode(obj, pretty=True)


def loads(data):
    """Parse strict JSON from bytes or str; NaN/Infinity tokens are rejected (ValueError) in both back ends, and
    so is nesting deeper than MAX_PARSE_DEPTH (hostile input must never crash or exhaust a parser)."""
    check_depth(data)
    if orjson is not None:
        return orjson.loads(data)
    if isinstance(data, (bytes, bytearray, memoryview)):
        data = bytes(data).decode("utf-8")
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply")


def check_depth(data, limit=MAX_PARSE_DEPTH):
    """ValueError when the JSON text nests arrays/objects deeper than ``limit``. Costs two byte counts unless the
    text holds more than ``limit`` brackets at all."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    elif not isinstance(data, bytes):
        data = bytes(data)
    if data.count(b"[") + data.count(b"{") <= limit:
        return
    depth = 0
    for c in _NOT_BRACKET.sub(b"", _JSON_STRING.sub(b"", data)):
        if c in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                raise ValueError("JSON nested deeper than %d levels" % limit)
        else:
            depth -= 1


def dump_pretty(obj, path) -> str:
    """Write a document atomically (private temp file + rename), so readers never see half a file."""
    from parity_tracer import outputs
    path = os.fspath(path)
    outputs.write_bytes(path, dumps_pretty(obj))
    return path


# -- encoding ------------------------------------------------------------------------------------------------

def _encode(obj, pretty):
    if orjson is not None:
        opts = _OPTS | (orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE if pretty else 0)
        try:
            return orjson.dumps(obj, default=_default, option=opts)
        except Exception:
            # orjson refuses some things outright (complex arrays, >64-bit ints, non-str-able keys, deep
            # nesting, invalid UTF-8): sanitize to plain JSON types and try again below.
            pass
    clean = _sanitize(obj, 0, set())
    if orjson is not None:
        try:
            return orjson.dumps(clean, option=opts)
        except Exception:
            pass
    if pretty:
        text = json.dumps(clean, allow_nan=False, ensure_ascii=False, indent=2) + "\n"
    else:
        text = json.dumps(clean, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8", "replace")


def _reject_constant(name):
    raise ValueError("non-standard JSON constant %s" % name)


def _default(obj):
    """orjson's hook for types it does not serialize itself: same rules as the fallback walk."""
    return _sanitize(obj, 0, set())


def _numpy():
    return sys.modules.get("numpy")


def _short_repr(obj):
    try:
        text = repr(obj)
    except Exception:
        text = "<%s>" % type(obj).__name__
    if len(text) > REPR_LIMIT:
        text = text[:REPR_LIMIT - 3] + "..."
    return text


def _float(x):
    return x if math.isfinite(x) else None


def _str(s):
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:  # lone surrogates: not representable in UTF-8 JSON
        return s.encode("utf-8", "replace").decode("utf-8")


def _key(k):
    """Dict keys as JSON strings, spelled the way orjson's OPT_NON_STR_KEYS spells them."""
    if isinstance(k, str):
        return _str(k)
    if k is None:
        return "null"
    if isinstance(k, bool):
        return "true" if k else "false"
    if isinstance(k, int):
        return str(k)
    if isinstance(k, float):
        return repr(k) if math.isfinite(k) else "null"
    np = _numpy()
    if np is not None and isinstance(k, np.generic):
        return _key(k.item())
    if isinstance(k, enum.Enum):
        return _key(k.value)
    return _short_repr(k)


def _sanitize(obj, depth, active):
    """Plain JSON types only: finite floats, str keys, lists; anything unknown as a short repr."""
    try:
        if obj is None or isinstance(obj, (bool, str, int)):
            return _str(obj) if isinstance(obj, str) else obj
        if isinstance(obj, float):
            return _float(obj)
        if depth >= MAX_DEPTH:
            return "<max depth>"
        np = _numpy()
        if np is not None:
            if isinstance(obj, np.floating) and obj.dtype.itemsize < 8:
                # float16/32: the shortest decimal of *that* precision, as orjson writes it (0.1, not 0.1000000015)
                return _float(float(str(obj)))
            if isinstance(obj, np.generic):
                value = obj.item()
                if isinstance(value, np.generic):   # longdouble/clongdouble: .item() keeps the numpy type
                    value = float(value) if isinstance(value, np.floating) else _short_repr(value)
                return _sanitize(value, depth + 1, active)
            if isinstance(obj, np.ndarray):
                if obj.size > SMALL_ARRAY:
                    return "<ndarray shape=%s dtype=%s>" % (tuple(obj.shape), obj.dtype)
                if obj.dtype.kind == "f" and obj.dtype.itemsize < 8:   # same rule as float32 scalars
                    obj = np.array([float(v) for v in obj.ravel().astype(str)], dtype=np.float64).reshape(obj.shape)
                return _sanitize(obj.tolist(), depth + 1, active)
        if isinstance(obj, complex):
            return _short_repr(obj)
        if isinstance(obj, enum.Enum):
            return _sanitize(obj.value, depth + 1, active)
        if isinstance(obj, (datetime.datetime, datetime.date, datetime.time)):
            return obj.isoformat()
        uuid = sys.modules.get("uuid")   # not imported: no object can be a UUID (importing it costs start-up)
        if uuid is not None and isinstance(obj, uuid.UUID):
            return str(obj)
        if isinstance(obj, os.PathLike):
            return _str(os.fspath(obj)) if isinstance(os.fspath(obj), str) else _short_repr(obj)
        if isinstance(obj, (dict, list, tuple, set, frozenset)) or (
                dataclasses.is_dataclass(obj) and not isinstance(obj, type)):
            ident = id(obj)
            if ident in active:
                return "<cycle>"
            active.add(ident)
            try:
                if isinstance(obj, dict):
                    return {_key(k): _sanitize(v, depth + 1, active) for k, v in obj.items()}
                if isinstance(obj, (set, frozenset)):
                    items = list(obj)
                    try:
                        items.sort()
                    except TypeError:
                        pass  # unorderable members: keep iteration order
                    return [_sanitize(v, depth + 1, active) for v in items]
                if isinstance(obj, (list, tuple)):
                    return [_sanitize(v, depth + 1, active) for v in obj]
                return {f.name: _sanitize(getattr(obj, f.name, None), depth + 1, active)
                        for f in dataclasses.fields(obj)}
            finally:
                active.discard(ident)
        return _short_repr(obj)
    except Exception:
        return "<%s>" % type(obj).__name__
