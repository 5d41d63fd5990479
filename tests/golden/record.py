"""Re-record the golden streams: trace three stand-in pipelines, keep their streams and arrays, reduce them.

    python tests/golden/record.py

Run it after an intended change of the profile or the reducer, then review the diff of the expected
documents. Absolute paths in the streams are rewritten to fixed placeholders so that the goldens do not depend
on where the repository lives (the document's git provenance then reads 'unknown').
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
STANDIN = REPO / "parity_tracer" / "demo" / "standin"
CASES = {
    "legacy_dose": ("legacy", ["legacy_dose.py"]),
    "modern_grid_lines": ("modern", ["modern_grid_lines.py", "--gridsize", "2", "--seed", "5", "--output-dir", "gl"]),
    "modern_npz_path": ("modern", ["modern_rawdata_path.py", "--source", "npz"]),
}
PLACEHOLDER = "/golden"
MADE_BY_REDUCE = ("parity_telemetry.json", "history.json", "amplitude.png", "phase.png")


def reduce_golden(folder):
    """Reduce a golden folder in place, as the test does: matplotlib hidden (PNGs depend on the machine)."""
    sys.path.insert(0, str(REPO))
    from parity_tracer.document import reduce as reducer
    saved = sys.modules.get("matplotlib", False)
    sys.modules["matplotlib"] = None
    try:
        reducer.reduce_to_file([str(folder / "streams")], str(folder / "parity_telemetry.json"))
        doc = json.loads((folder / "parity_telemetry.json").read_text())
    finally:
        if saved is False:
            sys.modules.pop("matplotlib", None)
        else:
            sys.modules["matplotlib"] = saved
        for name in MADE_BY_REDUCE:
            (folder / name).unlink(missing_ok=True)
    return doc


def _sanitize(value, roots):
    if isinstance(value, str):
        for root in roots:
            value = value.replace(root, PLACEHOLDER)
        return value
    if isinstance(value, list):
        return [_sanitize(v, roots) for v in value]
    if isinstance(value, dict):
        return {k: _sanitize(v, roots) for k, v in value.items()}
    return value


def record(name, layout, args):
    work = Path(tempfile.mkdtemp(prefix="golden-"))
    out = work / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARITY_TRACER")}
    env["PYTHONPATH"] = os.pathsep.join([str(STANDIN / layout), str(REPO)])
    subprocess.run([sys.executable, "-m", "parity_tracer", "run", "--no-reduce", "--out", str(out),
                    str(STANDIN / "scripts" / args[0])] + args[1:], cwd=str(work), env=env, check=True,
                   stdout=subprocess.DEVNULL)
    dest = HERE / name
    shutil.rmtree(dest, ignore_errors=True)
    (dest / "streams").mkdir(parents=True)
    roots = sorted({str(work), os.path.realpath(str(work)), str(REPO), sys.executable}, key=len, reverse=True)
    for i, stream in enumerate(sorted((out / "streams").glob("*.jsonl"))):
        lines = [json.dumps(_sanitize(json.loads(l), roots), sort_keys=True) for l in stream.read_text().splitlines()
                 if l.strip()]
        (dest / "streams" / ("events-%d.jsonl" % i)).write_text("\n".join(lines) + "\n")
    if (out / "arrays").is_dir():
        shutil.copytree(out / "arrays", dest / "arrays")
    doc = reduce_golden(dest)
    doc["timestamp"] = None
    (dest / "expected.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    shutil.rmtree(work)


if __name__ == "__main__":
    for case, (layout, argv) in CASES.items():
        record(case, layout, argv)
        print("recorded", case)
