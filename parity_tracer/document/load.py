"""Loading a telemetry document that may come from another writer (compare, bundle, report, the protocol).

Only the top level is checked here (a JSON object with a ``schema_version``); its fields are read with the
tolerant reader ``parity_tracer.document.fields``.
"""

import json
from pathlib import Path

from parity_tracer import inputs, jsonio

TELEMETRY = "parity_telemetry.json"


class DocumentError(Exception):
    """The file is unreadable, not JSON, or not a telemetry document."""


def load_document(path):
    """The document at ``path`` (a file, or a run directory holding parity_telemetry.json)."""
    p = Path(path)
    if p.is_dir():
        p = p / TELEMETRY
    try:
        data = inputs.read_bytes(p)        # a regular file, bounded: never a FIFO or /dev/zero
    except OSError as exc:
        raise DocumentError("%s: cannot read (%s)" % (p, inputs.error_text(exc)))
    return parse_document(data, p)


def parse_document(data, name):
    """The telemetry document in ``data`` (bytes read from ``name``); DocumentError when it is not one."""
    try:
        doc = jsonio.loads(data)
    except ValueError:
        try:   # a non-strict writer may have used NaN/Infinity tokens: they become null
            jsonio.check_depth(data)
            doc = json.loads(data.decode("utf-8"), parse_constant=lambda _c: None)
        except RecursionError:
            raise DocumentError("%s: not JSON (nested too deeply)" % name)
        except ValueError as exc:
            raise DocumentError("%s: not JSON (%s)" % (name, str(exc).splitlines()[0][:120] if str(exc)
                                                       else "parse error"))
    except RecursionError:
        raise DocumentError("%s: not JSON (nested too deeply)" % name)
    if not isinstance(doc, dict):
        raise DocumentError("%s: not a JSON object" % name)
    if "schema_version" not in doc:
        raise DocumentError("%s: no schema_version (not a parity telemetry document)" % name)
    return doc
