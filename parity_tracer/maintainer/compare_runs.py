"""Compare two multi-run folders (``runs.json`` + ``runs/<index>-<label>/``): runs paired, one checklist each.

Runs are paired by label (``nphotons1e9-nll`` with ``nphotons1e9-nll``) or, with ``--pair-by index``, by
position. A side holding one document (a single-run folder or a file) is labelled from its configuration with
the other side's distinguishing values, so a one-run legacy trace pairs with the matching arm of a study. Every
pair gets the full single-document report; a summary table follows. Exit status: 0 when every pair passes its
REQUIRED items and every run found a partner, 1 otherwise, 2 for unusable input.
"""

from pathlib import Path

from parity_tracer.profiles.ptychopinn import stagemap
from parity_tracer.document import fields, segment
from parity_tracer.maintainer import compare
from parity_tracer.maintainer.compare import render_markdown

FORMAT = "parity-tracer-compare-runs/1"


def _side(path, other_keys):
    """``[(label, index, path, doc)]`` of one side."""
    if segment.is_multi_run(path):
        try:
            runs = segment.list_runs(path)
        except segment.RunsError as exc:
            raise compare.InputError(str(exc))
        return [(r["label"], r["index"], r["document"], compare.load_document(r["document"])) for r in runs]
    doc = compare.load_document(path)
    return [(_label_of(doc, other_keys), 1, Path(path), doc)]


def _keys(side):
    """The run-defining keys that tell this side's runs apart (recorded in each run's ``tracer.run_segment``)."""
    for _, _, _, doc in side:
        keys = fields.get(doc, "tracer", "run_segment", "distinguished_by")
        if isinstance(keys, list) and all(isinstance(k, str) for k in keys):
            return keys
    return []


def _label_of(doc, keys):
    config = fields.mapping(doc.get("configuration"))
    parts = [fmt.format(segment.fmt_value(config[k])) for k, fmt in stagemap.RUN_LABEL_PARTS
             if k in keys and config.get(k) is not None]
    return "-".join(parts) or "run"


def pair(path_a, path_b, pair_by="label"):
    """``(pairs [(key, (label, index, path, doc) of A, same of B)], only in A, only in B)``."""
    if segment.is_multi_run(path_a) or not segment.is_multi_run(path_b):
        side_a = _side(path_a, [])
        side_b = _side(path_b, _keys(side_a))
    else:
        side_b = _side(path_b, [])
        side_a = _side(path_a, _keys(side_b))
    field = 0 if pair_by == "label" else 1
    by_b = {r[field]: r for r in side_b}
    pairs, only_a = [], []
    for r in side_a:
        partner = by_b.pop(r[field], None)
        if partner is None:
            only_a.append(r)
        else:
            pairs.append((r[field], r, partner))
    return pairs, only_a, list(by_b.values())


def build(path_a, path_b, mode="auto", pair_by="label"):
    pairs, only_a, only_b = pair(path_a, path_b, pair_by)
    entries = []
    for key, ra, rb in pairs:
        report = compare.build_report(str(ra[2]), ra[3], str(rb[2]), rb[3], mode)
        entries.append({"key": key, "label_a": ra[0], "label_b": rb[0], "report": report,
                        "dir_a": _short(ra[2], path_a), "dir_b": _short(rb[2], path_b)})
    failed = [e["key"] for e in entries if not e["report"]["verdict"]["passed"]]
    return {
        "format": FORMAT,
        "a": str(path_a), "b": str(path_b), "pair_by": pair_by,
        "pairs": entries,
        "only_in_a": [{"label": r[0], "index": r[1], "path": _short(r[2], path_a)} for r in only_a],
        "only_in_b": [{"label": r[0], "index": r[1], "path": _short(r[2], path_b)} for r in only_b],
        "summary": [_summary_row(e) for e in entries],
        "verdict": {"pairs": len(entries), "failed": failed, "unpaired": len(only_a) + len(only_b),
                    "exit_code": 1 if failed or only_a or only_b or not entries else 0},
    }


def _short(doc_path, given):
    """The run's folder relative to the folder the user named (``runs/1-nphotons1e9-nll``)."""
    try:
        return Path(doc_path).parent.relative_to(Path(given)).as_posix() or "."
    except ValueError:
        return str(doc_path)


def _summary_row(entry):
    r = entry["report"]
    v = r["verdict"]
    first = r["first_divergence"]
    return {"pair": str(entry["key"]), "a": entry["dir_a"], "b": entry["dir_b"], "mode": r["mode"]["used"],
            "required": "%d/%d" % (v["required_passed"], v["required"]) if v["required"] else "none",
            "passed": v["passed"], "first_divergence": first["name"] if first else None}


def render(result, markdown=False):
    out = []
    for e in result["pairs"]:
        title = "pair %s: A %s vs B %s" % (e["key"], e["label_a"], e["label_b"])
        out.append(("## %s\n\n" if markdown else "=" * 100 + "\n%s\n" + "=" * 100 + "\n") % title)
        out.append(compare.render(e["report"], markdown=markdown))
        out.append("\n")
    head = ("pair", "A", "B", "mode", "REQUIRED passed", "verdict", "first divergence")
    rows = [(s["pair"], s["a"], s["b"], s["mode"], s["required"], "PASS" if s["passed"] else "FAIL",
             s["first_divergence"] or "none") for s in result["summary"]]
    for side, name in (("only_in_a", "only in A"), ("only_in_b", "only in B")):
        for r in result[side]:
            rows.append((r["label"] if result["pair_by"] == "label" else str(r["index"]),
                         r["path"] if side == "only_in_a" else "—", r["path"] if side == "only_in_b" else "—",
                         "—", "—", "UNPAIRED (%s)" % name, "—"))
    out.append("## Summary: %d pair(s) by %s\n\n" % (len(result["pairs"]), result["pair_by"]) if markdown else
               "Summary: %d pair(s) by %s\n" % (len(result["pairs"]), result["pair_by"]))
    if markdown:
        out.extend(line + "\n" for line in render_markdown.table(list(head), [[str(c) for c in r] for r in rows]))
    else:
        widths = [max(len(str(c)) for c in col) for col in zip(head, *rows)]
        for row in [head] + rows:
            out.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() + "\n")
    v = result["verdict"]
    out.append("\n%s\n" % ("all %d pairs pass their REQUIRED items" % v["pairs"] if v["exit_code"] == 0 else
                           "NOT all pairs pass: %d failed, %d run(s) without a partner%s" % (
                               len(v["failed"]), v["unpaired"], "" if v["pairs"] else ", no pairs at all")))
    return "".join(out)
