"""Inside the traced child: run the launch steps the parent wrote (``python -m parity_tracer run ... -m
parity_tracer.protocol.launch SPEC.json``).

The steps come from ``profiles/ptychopinn/protocol.plan`` and call the branch's own functions; this module only
interprets them. Exceptions of the pipeline propagate unchanged (the runner prints the traceback and exits 1, the
parent keeps it in the delivery's log). The step that writes ``raw_data.npz`` after the pipeline never fails the
run: a problem there is written down and the delivery lists it as a deviation.
"""

import importlib
import json
import os
import sys
from pathlib import Path

RESULT_FILE = "raw_data.npz"
NOTES_FILE = "raw_data.json"


def _resolve(ref):
    module, _, attr = ref.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _value(v, results):
    """JSON value -> argument: ["path", p], ["dataclass", "mod:Class", {...}], ["result", name, index]."""
    if isinstance(v, list) and v and isinstance(v[0], str):
        if v[0] == "path" and len(v) == 2:
            return Path(v[1])
        if v[0] == "dataclass" and len(v) == 3:
            return _resolve(v[1])(**{k: _value(x, results) for k, x in v[2].items()})
        if v[0] == "result" and len(v) == 3:
            return results[v[1]][v[2]]
        return tuple(_value(x, results) for x in v)
    if isinstance(v, dict):
        return {k: _value(x, results) for k, x in v.items()}
    return v


def _probe_from_npz(path):
    import numpy as np
    from parity_tracer.profiles.ptychopinn import names
    with np.load(path, allow_pickle=False) as z:
        guess = np.asarray(z[names.PROBE_GUESS])
    try:
        from parity_tracer import agent
        active = agent.current()
        if active is not None and hasattr(active.profile, "note_probe_origin"):
            active.profile.note_probe_origin("npz_loaded", path)
    except Exception:
        pass
    importlib.import_module(names.PROBE).set_probe_guess(None, guess)


def _write_json(path, data):
    from parity_tracer import outputs
    outputs.write_bytes(path, json.dumps(data, indent=1, sort_keys=True).encode("utf-8"))


def _grid_raw_data(args, spec):
    """raw_data.npz (RawData's format) from the captured train simulation; problems are written, never raised."""
    import numpy as np
    from parity_tracer import outputs
    from parity_tracer.profiles.ptychopinn import protocol as proto
    payload = spec["payload_dir"]
    outputs.makedirs(payload)
    captured_path = os.path.join(spec["trace_dir"], "arrays", "raw_data.npz")
    try:
        with np.load(captured_path, allow_pickle=False) as z:
            captured = {k: z[k] for k in z.files}
        cfg = vars(importlib.import_module(proto.names.PARAMS)).get(proto.names.CFG_DICT, {})
        arrays, notes = proto.grid_raw_data(captured, cfg, importlib.import_module(proto.names.DIFFSIM),
                                            args["size"], args["outer_offset"], args["nimgs"])
        outputs.replace(os.path.join(payload, RESULT_FILE), lambda fh: np.savez(fh, **arrays))
        _write_json(os.path.join(payload, NOTES_FILE), {"ok": True, "notes": notes,
                                                        "captured": sorted(captured)})
    except Exception as exc:   # the pipeline has finished; this is our post-processing
        _write_json(os.path.join(payload, NOTES_FILE), {"ok": False, "error": "%s: %s" % (type(exc).__name__, exc)})


def run(spec):
    results = {}
    for step in spec["steps"]:
        kind = step[0]
        if kind == "cfg":
            from parity_tracer.profiles.ptychopinn import names
            vars(importlib.import_module(names.PARAMS))[names.CFG_DICT].update(step[1])
        elif kind == "tf_seed":
            importlib.import_module("tensorflow").random.set_seed(int(step[1]))
        elif kind == "call":
            result = _resolve(step[1])(**{k: _value(v, results) for k, v in step[2].items()})
            if len(step) > 3:
                results[step[3]] = result
        elif kind == "import":
            importlib.import_module(step[1])
        elif kind == "probe_from_npz":
            _probe_from_npz(step[1])
        elif kind == "grid_raw_data":
            _grid_raw_data(step[1], spec)
        else:
            raise ValueError("unknown launch step %r" % (kind,))


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    with open(argv[0], "r", encoding="utf-8") as fh:
        spec = json.load(fh)
    run(spec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
