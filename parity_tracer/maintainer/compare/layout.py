"""What a rendered comparison says, in which order, independent of the format: a list of blocks.

``blocks(report)`` gives ``("title", text)``, ``("runs", [facts of A, facts of B])``, ``("heading", text)``,
``("para", text)``, ``("bullets", [text])`` and ``("table", header, rows)`` (cells already text). The renderers
(``render_text``, ``render_markdown``) only decide how each kind of block looks; ``lines`` joins them.
"""

from parity_tracer.maintainer.compare.checks import SCAN_ORDER
from parity_tracer.maintainer.compare.formatting import cell, fmt, fmt_shape, mark, pct, source_text, worst_text

TITLE = "Parity comparison (Parity Logging Specification v1.0)"
SIDE_HEADER = ["field", "A", "B", "rel.diff", "≠"]


def blocks(report):
    return ([("title", TITLE), ("runs", [run_facts(report, label) for label in ("a", "b")]),
             ("para", "Mode: %s — %s" % (report["mode"]["used"], report["mode"]["reason"]))] +
            _checklist(report) + _divergence(report) +
            [("heading", "Findings"), ("bullets", report["findings"] or ["No differences beyond the tolerances."])] +
            _stages(report) + _side_by_side(report) + _configuration(report))


def run_facts(report, label):
    """The header facts of one run (the A/B header of every format), as text."""
    info = report[label]
    env, ds = info["environment"], info["dataset"]
    return {"label": label.upper(), "path": info["path"], "pipeline": fmt(info["pipeline"]),
            "scenario": fmt(info["scenario"]), "commit": str(info["commit_hash"] or "unknown")[:12],
            "branch": fmt(info["branch"]), "dirty": ", dirty" if info["dirty"] else "",
            "python": fmt(env["python_version"]), "tensorflow": fmt(env["tensorflow_version"]),
            "keras": fmt(env["keras_version"]), "numpy": fmt(env["numpy_version"]), "dataset": fmt(ds["type"]),
            "checksum": fmt(ds["checksum"]), "chain": ds["provenance_chain"] or ""}


def _table(header, rows):
    return ("table", header, [[cell(c) for c in r] for r in rows])


def _side_table(rows):
    return _table(SIDE_HEADER, [[r["field"], fmt(r["a"]), fmt(r["b"]),
                                 pct(r["rel_diff"]) if r["rel_diff"] is not None else "",
                                 "*" if r["differs"] else ""] for r in rows])


def _checklist(report):
    rows = [[item["item"], item["requirement"], pct(item["tolerance"]) if item["tolerance"] else "—",
             worst_text(item["worst"]) or item["detail"] or "", item["result"]] for item in report["checklist"]]
    v = report["verdict"]
    if v["required"]:
        verdict = "Verdict: %d/%d REQUIRED items pass%s -> exit %d" % (
            v["required_passed"], v["required"], "" if v["passed"] else " (failed: %s)" % ", ".join(v["failed"]),
            v["exit_code"])
    else:
        verdict = "Verdict: no REQUIRED items in %s mode (everything is COMPARE or N/A) -> exit %d" % (
            report["mode"]["used"], v["exit_code"])
    return [("heading", "Parity checklist (spec §5.3)"),
            _table(["item", "requirement", "tolerance", "largest difference", "result"], rows), ("para", verdict)]


def _divergence(report):
    out = [("heading", "First divergence")]
    f, fs = report["first_divergence"], report["first_divergent_stage"]
    if f is None:
        out.append(("para", "None: every checkpoint agrees within its tolerance (%s)." % ", ".join(SCAN_ORDER)))
    else:
        out.append(("para", "%s (tolerance %s): %s" % (f["name"], pct(f["tolerance"]), f["detail"])))
        if fs is not None and fs["name"] != f["name"]:
            out.append(("para", "First divergent stage (§2.5): %s (tolerance %s): %s" % (
                fs["name"], pct(fs["tolerance"]), fs["detail"])))
        elif fs is None:
            out.append(("para", "No §2.5 stage diverges."))
    rows = [[cp["name"], pct(cp["tolerance"]), cp["status"], worst_text(cp["worst"]) or (cp["detail"] or "")]
            for cp in report["scan"]]
    out.append(_table(["checkpoint (pipeline order)", "tolerance", "status", "largest difference / reason"], rows))
    return out


def _stages(report):
    rows = []
    for st in report["stages"]:
        label = "%s%s" % (st["name"], "" if st["required"] else " (optional)")
        if not st["rows"]:
            why = ["%s: %s" % (side.upper(), st[side]["absent_reason"]) for side in ("a", "b")
                   if not st[side]["present"]]
            rows.append([label, "", "", "", "", "; ".join(why)])
        for i, r in enumerate(st["rows"]):
            show = fmt_shape if r["stat"] == "shape" else fmt
            rows.append([label if i == 0 else "", r["stat"], show(r["a"]), show(r["b"]),
                         pct(r["rel_diff"]) if r["rel_diff"] is not None else "",
                         ("%s (tol %s)" % (mark(r["ok"]), pct(st["tolerance"])) if r["ok"] is not None else "")])
    return [("heading", "Intensity stages (A vs B)"),
            _table(["stage", "stat", "A", "B", "rel.diff", "within tolerance"], rows),
            ("para", "Stage sources (\"=\" marks a step that plays the stage's role on a path where the named step "
                     "does not run):"),
            _table(["stage", "A source", "B source"],
                   [[st["name"], source_text(st["a"]), source_text(st["b"])] for st in report["stages"]])]


def _side_by_side(report):
    consistency = []
    for label in ("a", "b"):
        c = report["intensity_scale"]["consistency"][label]
        if c["consistent"] is None:
            consistency.append("%s: model exp(log_scale) %s, configured %s — not both recorded"
                               % (label.upper(), fmt(c["model"]), fmt(c["configured"])))
        else:
            consistency.append("%s: model exp(log_scale) %s vs configured %s (model/configured %s) -> %s"
                               % (label.upper(), fmt(c["model"]), fmt(c["configured"]), fmt(c["ratio"]),
                                  "consistent" if c["consistent"] else "MISMATCH"))
    return [("heading", "Stage ratios (§2.6)"), _side_table(report["stage_ratios"]),
            ("heading", "Probe (§2.4)"), _side_table(report["probe"]),
            ("heading", "Intensity scale (§2.7)"), _side_table(report["intensity_scale"]["rows"]),
            ("bullets", consistency),
            ("heading", "Inference (§2.9)"), _side_table(report["inference"]),
            ("heading", "Comparison with ground truth (§2.10)"), _side_table(report["comparison"]),
            ("heading", "Training (§2.8)"), _side_table(report["training"])]


def _configuration(report):
    cfg = report["configuration"]
    out = [("heading", "Configuration (§2.3)"), _side_table(cfg["rows"])]
    if cfg["cfg_differences"]:
        out.append(("para", "params.cfg keys that differ:"))
        out.append(_table(["key", "A", "B"], [[r["key"], fmt(r["a"]), fmt(r["b"])] for r in cfg["cfg_differences"]]))
    for label, key in (("A", "cfg_only_in_a"), ("B", "cfg_only_in_b")):
        if cfg[key]:
            out.append(("para", "params.cfg keys only in %s (%d): %s" % (label, len(cfg[key]), ", ".join(cfg[key]))))
    t = report["tolerances"]
    out.append(("para", "Tolerances: checklist %s; other stages %s. A statistic pair is within tolerance X when "
                        "|a-b| / max(|a|, |b|, floor) <= X, floor = %s of max(|mean|, std) of the stage; phase pairs "
                        "use |a-b| / pi; shapes must be equal." % (
                            ", ".join("%s %s" % (k, pct(v)) for k, v in t["checklist"].items()),
                            pct(t["default_stage"]), pct(t["floor_fraction"]))))
    return out


def lines(blocks_, style):
    """The blocks as one string: ``style`` (a renderer module) gives ``title``, ``heading``, ``run`` and
    ``table``; paragraphs and bullet lists look the same in every text format."""
    out = []
    for block in blocks_:
        kind = block[0]
        if kind == "runs":
            for facts in block[1]:
                out += [style.run(facts), ""]
        elif kind == "para":
            out += [block[1], ""]
        elif kind == "bullets":
            out += ["- " + item for item in block[1]] + [""]
        elif kind == "table":
            out += style.table(block[1], block[2]) + [""]
        else:
            out += getattr(style, kind)(block[1])
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"
