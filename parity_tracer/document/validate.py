"""Validate a telemetry document against ``schema/parity_telemetry.schema.json``.

A small validator for the part of JSON Schema draft 2020-12 our schema uses, so that validation has no
dependency (``jsonschema`` is not one of ours; the tests cross-check against it when it is installed).
Supported: exactly the keywords the schema uses: type (incl. lists), required, properties,
additionalProperties (bool or schema), items, prefixItems, minItems, maxItems, enum, const, minimum,
minLength, pattern, $ref to local pointers (``#/$defs/...``). Annotations ($schema, $id, title,
description) are ignored.
"""

import functools
import re
import sys
from pathlib import Path

from parity_tracer import inputs, jsonio

SCHEMA_FILE = "parity_telemetry.schema.json"
KEYWORDS = frozenset(("type", "required", "properties", "additionalProperties", "items", "prefixItems", "minItems",
                      "maxItems", "enum", "const", "minimum", "minLength", "pattern", "$ref", "$defs", "$schema",
                      "$id", "title", "description"))   # what the validator implements (and the schema uses)


@functools.lru_cache(maxsize=None)
def load_schema():
    """The packaged schema (importlib.resources when the package is installed, else beside this file)."""
    data = None
    try:
        from importlib import resources
        data = resources.files("parity_tracer.document").joinpath("schema", SCHEMA_FILE).read_bytes()
    except Exception:
        data = None
    if data is None:
        data = (Path(__file__).resolve().parent / "schema" / SCHEMA_FILE).read_bytes()
    return jsonio.loads(data)


def _type_name(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _is_type(value, name):
    actual = _type_name(value)
    if name == "number":
        return actual in ("integer", "number")
    return actual == name


def _describe(value):
    text = jsonio.dumps(value).decode("utf-8")
    return text if len(text) <= 60 else text[:57] + "..."


def _equal(a, b):
    """JSON equality: 1 == 1.0, but true != 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _child(pointer, key):
    return "%s/%s" % (pointer, str(key).replace("~", "~0").replace("/", "~1"))


class _Validator:
    def __init__(self, root):
        self.root = root
        self.errors = []

    def resolve(self, ref):
        if not ref.startswith("#"):
            raise ValueError("only local $ref supported: %r" % ref)
        node = self.root
        for part in ref[1:].split("/")[1:] if ref != "#" else []:
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def check(self, value, schema, pointer):
        """Append (pointer, reason) for every violation; stop descending where the type is already wrong."""
        if schema is True or schema == {}:
            return
        if schema is False:
            self.errors.append((pointer, "no value is allowed here"))
            return
        if "$ref" in schema:
            self.check(value, self.resolve(schema["$ref"]), pointer)
        types = schema.get("type")
        if types is not None:
            names = types if isinstance(types, list) else [types]
            if not any(_is_type(value, n) for n in names):
                self.errors.append((pointer, "expected %s, got %s" % (" or ".join(names), _type_name(value))))
                return
        if "const" in schema and not _equal(value, schema["const"]):
            self.errors.append((pointer, "expected %s, got %s" % (_describe(schema["const"]), _describe(value))))
        if "enum" in schema and not any(_equal(value, e) for e in schema["enum"]):
            self.errors.append((pointer, "expected one of %s, got %s" % (
                ", ".join(_describe(e) for e in schema["enum"]), _describe(value))))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if "minimum" in schema and value < schema["minimum"]:
                self.errors.append((pointer, "expected >= %s, got %s" % (schema["minimum"], _describe(value))))
        if isinstance(value, str):
            if "minLength" in schema and len(value) < schema["minLength"]:
                self.errors.append((pointer, "expected at least %d characters" % schema["minLength"]))
            if "pattern" in schema and re.search(schema["pattern"], value) is None:
                self.errors.append((pointer, "does not match pattern %s" % _describe(schema["pattern"])))
        if isinstance(value, dict):
            self._object(value, schema, pointer)
        if isinstance(value, list):
            self._array(value, schema, pointer)

    def _object(self, value, schema, pointer):
        for key in schema.get("required", ()):
            if key not in value:
                self.errors.append((_child(pointer, key), "required property is missing"))
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                self.check(item, props[key], _child(pointer, key))
            elif extra is False:
                self.errors.append((_child(pointer, key), "unexpected property"))
            elif isinstance(extra, dict):
                self.check(item, extra, _child(pointer, key))

    def _array(self, value, schema, pointer):
        if "minItems" in schema and len(value) < schema["minItems"]:
            self.errors.append((pointer, "expected at least %d items, got %d" % (schema["minItems"], len(value))))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            self.errors.append((pointer, "expected at most %d items, got %d" % (schema["maxItems"], len(value))))
        prefix = schema.get("prefixItems", ())
        for i, item in enumerate(value):
            if i < len(prefix):
                self.check(item, prefix[i], _child(pointer, i))
            elif "items" in schema:
                self.check(item, schema["items"], _child(pointer, i))


def validate_document(doc, schema=None):
    """Every violation as ``(json_pointer, reason)``; an empty list means valid. The root pointer is ``""``."""
    schema = load_schema() if schema is None else schema
    validator = _Validator(schema)
    validator.check(doc, schema, "")
    return validator.errors


def add_arguments(parser):
    parser.add_argument("files", nargs="+", metavar="FILE", help="telemetry documents (parity_telemetry.json)")


def command(args):
    """0 valid, 1 schema errors (one line each on stdout), 2 unreadable or not JSON."""
    status = 0
    for name in args.files:
        try:
            doc = jsonio.loads(inputs.read_bytes(name))      # a regular file, bounded
        except OSError as exc:
            sys.stderr.write("parity_tracer: validate: %s: cannot read: %s\n" % (name, inputs.error_text(exc)))
            status = 2
            continue
        except (ValueError, UnicodeDecodeError) as exc:
            sys.stderr.write("parity_tracer: validate: %s: not JSON: %s\n" % (
                name, str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__))
            status = 2
            continue
        try:
            errors = validate_document(doc)
        except RecursionError:
            sys.stderr.write("parity_tracer: validate: %s: nested too deeply to validate\n" % name)
            status = 2
            continue
        for pointer, reason in errors:
            sys.stdout.write("%s: %s: %s\n" % (name, pointer or "/", reason))
        if errors:
            status = max(status, 1)
        else:
            sys.stdout.write("%s: valid\n" % name)
    return status
