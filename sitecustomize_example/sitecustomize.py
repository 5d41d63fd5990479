"""Trace any Python process: put this folder first on PYTHONPATH and set PARITY_TRACER=1.

    PARITY_TRACER=1 PYTHONPATH=/path/to/parity_tracer/sitecustomize_example python my_pipeline.py

Optional: PARITY_TRACER_OUT, PARITY_TRACER_PIPELINE, PARITY_TRACER_SCENARIO, PARITY_TRACER_TARGETS.
Works without installing anything (the checkout next to this folder is used), so a legacy environment where only
PYTHONPATH may change can be traced. The environment's own sitecustomize, if any, still runs.
This file only locates the packaged bootstrap and runs it as this module.
"""

import os as _os

_boot = _os.path.join(_os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))),
                      "parity_tracer", "bootstrap", "sitecustomize.py")
if not _os.path.isfile(_boot):
    import importlib.util as _util
    _spec = _util.find_spec("parity_tracer")
    _boot = _os.path.join(_os.path.dirname(_spec.origin), "bootstrap", "sitecustomize.py") if _spec else None
if _boot and _os.path.isfile(_boot):
    with open(_boot, "rb") as _fh:
        exec(compile(_fh.read(), _boot, "exec"))
else:
    import sys as _sys
    _sys.stderr.write("parity_tracer: tracing disabled, bootstrap not found next to %s\n" % __file__)
