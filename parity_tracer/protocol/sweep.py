"""Sweeps: one delivery subfolder per point, indexed by ``sweep.json``; ``compare`` of two sweep folders.

``sweep.json`` (format ``parity-tracer-sweep/1``)::

    {"format": "parity-tracer-sweep/1", "branch": "dose_experiments" | "main",
     "points": [{"label": str, "nphotons": float, "loss_fn": str, "folder": <relative path of the delivery>,
                 "status": "ok" | "failed", "telemetry": <relative path of its telemetry document>,
                 "headline": {"amplitude_mae", "pearson_r", "least_squares_scalar", "intensity_scale_used",
                              "model_exp_log_scale": float | null}}]}

It is rewritten after every point (temporary file + rename), so an interrupted sweep still has an index of the
points it finished. Read back, it is untrusted: bounded, regular file, every path relative and inside the folder.
"""

import json
import math
import os
import sys
from pathlib import Path

from parity_tracer import jsonio, outputs

SWEEP_FILE = "sweep.json"
FORMAT = "parity-tracer-sweep/1"
MAX_BYTES = 4 << 20
HEADLINE_KEYS = ("amplitude_mae", "pearson_r", "least_squares_scalar", "intensity_scale_used", "model_exp_log_scale")


class SweepError(Exception):
    pass


def _write_index(root, index):
    outputs.write_bytes(Path(root) / SWEEP_FILE, jsonio.dumps_pretty(index))     # temp file + rename


def run_sweep(ctx, points, root, run_point, point_label):
    """Run every point into ``root/<label>``; write sweep.json; exit status 0 when every point succeeded."""
    root = Path(root)
    outputs.makedirs(root)
    index = {"format": FORMAT, "branch": ctx["branch"], "points": []}
    failed = 0
    for i, p in enumerate(points, 1):
        label = point_label(p)
        ok, summary, message = run_point(ctx, p, root / label)
        failed += not ok
        telemetry = summary.get("telemetry")
        index["points"].append({
            "label": label, "nphotons": float(p["nphotons"]), "loss_fn": p["loss_fn"], "folder": label,
            "status": "ok" if ok else "failed",
            "telemetry": "%s/%s" % (label, Path(telemetry).name) if telemetry else None,
            "headline": {k: summary["headline"].get(k) for k in HEADLINE_KEYS}})
        _write_index(root, index)
        sys.stderr.write("parity_tracer: dose-experiments: [%d/%d] %s\n" % (i, len(points), message))
        sys.stderr.flush()
    sys.stderr.write("parity_tracer: dose-experiments: sweep of %d points, %d failed -> %s\n" % (
        len(points), failed, root / SWEEP_FILE))
    return 1 if failed else 0


# -- reading ------------------------------------------------------------------------------------------------------

def is_sweep(path):
    p = Path(path)
    return p.is_dir() and (p / SWEEP_FILE).is_file()


def _inside(root, rel):
    if not isinstance(rel, str) or not rel or os.path.isabs(rel) or ".." in Path(rel).parts:
        raise SweepError("%s: unsafe path %r in %s" % (root, rel, SWEEP_FILE))
    full = (Path(root) / rel)
    real_root = os.path.realpath(root)
    if not os.path.realpath(full).startswith(real_root + os.sep):
        raise SweepError("%s: %r leaves the sweep folder" % (root, rel))
    return full


def load_sweep(path):
    root = Path(path)
    f = root / SWEEP_FILE
    try:
        fd = os.open(str(f), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise SweepError("%s: cannot open (%s)" % (f, exc.strerror or type(exc).__name__))
    with os.fdopen(fd, "rb") as fh:
        import stat
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise SweepError("%s is not a regular file" % f)
        data = fh.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise SweepError("%s is larger than %d bytes" % (f, MAX_BYTES))
    try:
        index = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise SweepError("%s is not JSON" % f)
    if not isinstance(index, dict) or index.get("format") != FORMAT or not isinstance(index.get("points"), list):
        raise SweepError("%s is not a %s index" % (f, FORMAT))
    points = []
    for p in index["points"]:
        if not isinstance(p, dict) or not isinstance(p.get("label"), str):
            raise SweepError("%s: a point without a label" % f)
        entry = dict(p)
        entry["telemetry_path"] = _inside(root, p["telemetry"]) if p.get("telemetry") else None
        points.append(entry)
    return {"root": str(root), "branch": index.get("branch"), "points": points}


def _key(p):
    n = p.get("nphotons")
    n = round(math.log10(n), 6) if isinstance(n, (int, float)) and n > 0 else p.get("label")
    return (n, p.get("loss_fn"))


def pair_points(a, b):
    """(pairs [(point A, point B)], only in A, only in B), matched by (nphotons, loss_fn)."""
    by_key = {_key(p): p for p in b["points"]}
    pairs, only_a = [], []
    for p in a["points"]:
        q = by_key.pop(_key(p), None)
        (pairs.append((p, q)) if q is not None else only_a.append(p["label"]))
    return pairs, only_a, [q["label"] for q in by_key.values()]


def _fmt(v):
    return "—" if v is None else ("%.4g" % v if isinstance(v, float) else str(v))


def compare_sweeps(path_a, path_b, mode="auto", fmt="text", output=None):
    """compare of two sweep folders: one report per paired point and a summary. Returns the exit status."""
    from parity_tracer.maintainer import compare
    try:
        a, b = load_sweep(path_a), load_sweep(path_b)
    except SweepError as exc:
        sys.stderr.write("parity_tracer: compare: %s\n" % exc)
        return 2
    pairs, only_a, only_b = pair_points(a, b)
    reports, rows, worst = [], [], 0
    for pa, pb in pairs:
        if pa["telemetry_path"] is None or pb["telemetry_path"] is None:
            rows.append([pa["label"], pb["label"], "-", "a point failed (no telemetry)", "", "", ""])
            worst = max(worst, 1)
            continue
        try:
            da, db = compare.load_document(pa["telemetry_path"]), compare.load_document(pb["telemetry_path"])
            r = compare.build_report(pa["telemetry_path"], da, pb["telemetry_path"], db, mode)
        except compare.InputError as exc:
            sys.stderr.write("parity_tracer: compare: %s vs %s: %s\n" % (pa["label"], pb["label"], exc))
            return 2
        reports.append({"label_a": pa["label"], "label_b": pb["label"], "report": r})
        worst = max(worst, r["verdict"]["exit_code"])
        first = r["first_divergence"]
        h = lambda p, k: _fmt((p.get("headline") or {}).get(k))
        rows.append([pa["label"], r["mode"]["used"],
                     "%d/%d" % (r["verdict"]["required_passed"], r["verdict"]["required"]),
                     first["name"] if first else "none",
                     "%s / %s" % (h(pa, "amplitude_mae"), h(pb, "amplitude_mae")),
                     "%s / %s" % (h(pa, "pearson_r"), h(pb, "pearson_r")),
                     "%s / %s" % (h(pa, "model_exp_log_scale"), h(pb, "model_exp_log_scale"))])
    if fmt == "json":
        text = jsonio.dumps_pretty({"format": "parity-tracer-sweep-compare/1", "a": a["root"], "b": b["root"],
                                    "branch_a": a["branch"], "branch_b": b["branch"], "only_in_a": only_a,
                                    "only_in_b": only_b, "pairs": reports}).decode("utf-8")
    else:
        md = fmt == "markdown"
        out = ["%sSweep comparison: A %s (%s) vs B %s (%s)" % ("# " if md else "", a["root"], a["branch"], b["root"],
                                                               b["branch"]), ""]
        header = ["point", "mode", "REQUIRED pass", "first divergence", "MAE A / B", "pearson_r A / B",
                  "exp(log_scale) A / B"]
        table = [header] + rows
        if md:
            out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            out += ["| " + " | ".join(r) + " |" for r in rows]
        else:
            widths = [max(len(str(r[i])) for r in table) for i in range(len(header))]
            for i, r in enumerate(table):
                out.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
                if i == 0:
                    out.append("  ".join("-" * w for w in widths))
        out.append("")
        if only_a or only_b:
            out += ["Unpaired points: A only %s; B only %s" % (", ".join(only_a) or "none",
                                                               ", ".join(only_b) or "none"), ""]
        for entry in reports:
            out += ["%s %s" % ("##" if md else "==", entry["label_a"]), ""]
            out.append(compare.render(entry["report"], markdown=md))
        text = "\n".join(out) + "\n"
    if output:
        try:
            outputs.write_bytes(output, text.encode("utf-8"))
        except OSError as exc:
            sys.stderr.write("parity_tracer: compare: cannot write %s (%s)\n" % (output, exc.strerror or exc))
            return 2
    else:
        sys.stdout.write(text)
    sys.stderr.write("parity_tracer: compare: %d paired point%s%s -> exit %d\n" % (
        len(pairs), "" if len(pairs) == 1 else "s", ", %d unpaired" % (len(only_a) + len(only_b))
        if only_a or only_b else "", worst))
    return worst
