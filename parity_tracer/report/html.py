"""The report as one self-contained HTML page: inline CSS, figures as data: URIs, no script, no network.

Every value from the inputs is escaped: the documents are hostile. Its nine sections are each present
even without data (one line saying what is missing).
"""

import base64
import datetime
import html

from parity_tracer.maintainer import compare
from parity_tracer.document import fields

NO_FIGURES = ("Figures need matplotlib (the <code>plots</code> extra): <code>pip install "
              "'parity-tracer[plots]'</code> or <code>pip install matplotlib</code>, then run the command again. "
              "Every table is here without it.")
RESULT_CLASS = {"PASS": "ok", "within": "ok", "FAIL": "bad", "outside": "bad", "missing": "warn", "n/a": "na",
                "info": "info"}

CSS = """
:root{--ok:#1a7f37;--bad:#cf222e;--na:#6e7781;--warn:#9a6700;--info:#0969da;--line:#d0d7de}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;margin:0;
 color:#1f2328;background:#fff}
main{max-width:1200px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0 4px}
h2{font-size:18px;margin:28px 0 8px;padding-bottom:4px;border-bottom:2px solid var(--line)}
h3{font-size:15px;margin:16px 0 6px}
p{margin:6px 0}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f6f8fa;padding:0 3px;
 overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;margin:8px 0 14px;font-size:13px;table-layout:auto}
th,td{border:1px solid var(--line);padding:3px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere;
 word-break:break-word}
th{background:#f6f8fa}
td.n{font-variant-numeric:tabular-nums;white-space:nowrap}
tr.diff td{background:#fff8c5}
tr.diff td:first-child{border-left:4px solid var(--warn)}
.badge{display:inline-block;min-width:4.5em;text-align:center;padding:1px 8px;border-radius:10px;
 font-weight:600;color:#fff;font-size:12px}
.ok{background:var(--ok)}.bad{background:var(--bad)}.na{background:var(--na)}.warn{background:var(--warn)}
.info{background:var(--info)}
.verdict{font-size:16px;padding:8px 12px;border-left:6px solid var(--na);background:#f6f8fa;margin:8px 0}
.verdict.pass{border-color:var(--ok)}.verdict.fail{border-color:var(--bad)}
.missing{color:var(--na);font-style:italic}
.mismatch{color:var(--bad);font-weight:600}
.note{color:#57606a;font-size:12px}
figure{margin:8px 0 14px}
figure img{max-width:100%;height:auto;display:block;border:1px solid var(--line)}
figcaption{font-size:12px;color:#57606a}
nav{font-size:13px;margin:4px 0 8px}
nav a{margin-right:10px;white-space:nowrap}
@media print{
 main{max-width:none;padding:0}
 nav{display:none}
 h2{break-after:avoid}
 figure,table,.verdict{break-inside:avoid}
 a{color:inherit;text-decoration:none}
}
"""

SECTIONS = (("header", "1. Runs"), ("verdict", "2. Verdict"), ("stages", "3. Stages"),
            ("reconstructions", "4. Reconstructions"), ("probe", "5. Probe"), ("scale", "6. Intensity scale"),
            ("training", "7. Training"), ("config", "8. Configuration differences"), ("sweeps", "9. Sweeps"))


def esc(v):
    return html.escape(str(v), quote=True)


def fmt(v):
    return esc(compare.fmt(v))


class Page:
    def __init__(self):
        self.parts = []

    def add(self, *chunks):
        self.parts.extend(chunks)

    def p(self, text_html, cls=None):
        self.add('<p%s>%s</p>' % (' class="%s"' % cls if cls else "", text_html))

    def missing(self, text):
        self.p(esc(text), "missing")

    def table(self, header, rows, row_classes=None, caption=None, table_id=None):
        out = ['<table id="%s">' % esc(table_id) if table_id else "<table>"]
        if caption:
            out.append("<caption>%s</caption>" % esc(caption))
        out.append("<thead><tr>%s</tr></thead><tbody>" % "".join("<th>%s</th>" % esc(h) for h in header))
        for i, row in enumerate(rows):
            cls = (row_classes or {}).get(i) if isinstance(row_classes, dict) else (
                row_classes[i] if row_classes else None)
            out.append("<tr%s>%s</tr>" % (' class="%s"' % cls if cls else "", "".join(
                "<td%s>%s</td>" % (' class="n"' if _numeric(c) else "", c if isinstance(c, _Raw) else esc(c))
                for c in row)))
        out.append("</tbody></table>")
        self.add("".join(out))

    def figure(self, png, alt, caption=None):
        if png is None:
            return False
        self.add('<figure><img alt="%s" src="data:image/png;base64,%s">%s</figure>' % (
            esc(alt), base64.b64encode(png).decode("ascii"),
            "<figcaption>%s</figcaption>" % esc(caption) if caption else ""))
        return True

    def render(self):
        return "\n".join(self.parts)


class _Raw(str):
    """Cell content that is already HTML."""


def _numeric(c):
    return isinstance(c, str) and not isinstance(c, _Raw) and c[:1] in tuple("-0123456789") and \
        all(ch in "0123456789.e+-%x" for ch in c)


def badge(result):
    return _Raw('<span class="badge %s">%s</span>' % (RESULT_CLASS.get(result, "na"), esc(result)))


# -- side-by-side tables (compare's rows) ------------------------------------------------------------------------

def side_table(page, model, rows, keep=None):
    """compare's side-by-side rows; a differing row is highlighted; one run shows its column only."""
    rows = [r for r in rows if keep is None or keep(r)]
    if model["two"]:
        page.table(["field", "A: " + model["runs"][0]["name"], "B: " + model["runs"][1]["name"], "rel. diff"],
                   [[r["field"], compare.fmt(r["a"]), compare.fmt(r["b"]),
                     compare.pct(r["rel_diff"]) if r["rel_diff"] is not None else ""] for r in rows],
                   [("diff" if r["differs"] else None) for r in rows])
    else:
        page.table(["field", "A: " + model["runs"][0]["name"]], [[r["field"], compare.fmt(r["a"])] for r in rows])


def figure_or_line(page, figs, key, alt, caption, empty):
    """The figure, or one line saying why there is none (no matplotlib, or nothing to draw)."""
    if not figs.get("_available"):
        page.p(NO_FIGURES, "missing")
    elif not page.figure(figs.get(key), alt, caption):
        page.missing(empty)


# -- sections ----------------------------------------------------------------------------------------------------

def _header(page, model):
    runs, cmp = model["runs"], model["compare"]
    if not runs:
        page.missing("No run given (sweep folders only): pass run folders, delivery folders or telemetry "
                     "documents to fill sections 1-8.")
        return
    infos = [cmp[lab] for lab in ("a", "b")[:len(runs)]]
    fields = [
        ("name", lambda r, i: r["name"]),
        ("input", lambda r, i: "%s (%s, document %s)" % (r["given"], r["kind"], r["document"])),
        ("pipeline", lambda r, i: i["pipeline"]), ("scenario", lambda r, i: i["scenario"]),
        ("branch", lambda r, i: i["branch"]),
        ("commit", lambda r, i: "%s%s" % (i["commit_hash"] or "unknown", " (dirty)" if i["dirty"] else "")),
        ("python", lambda r, i: i["environment"]["python_version"]),
        ("tensorflow", lambda r, i: i["environment"]["tensorflow_version"]),
        ("keras", lambda r, i: i["environment"]["keras_version"]),
        ("numpy", lambda r, i: i["environment"]["numpy_version"]),
        ("dataset", lambda r, i: "%s %s" % (i["dataset"]["type"] or "", i["dataset"]["path"] or "")),
        ("dataset checksum", lambda r, i: i["dataset"]["checksum"]),
        ("provenance chain", lambda r, i: i["dataset"]["provenance_chain"]),
        ("recorded", lambda r, i: i["timestamp"]),
        ("schema_version", lambda r, i: i["schema_version"]),
    ]
    rows, classes = [], []
    for label, get in fields:
        values = [get(r, i) for r, i in zip(runs, infos)]
        rows.append([label] + [compare.fmt(v) if not isinstance(v, str) else v for v in values])
        classes.append("diff" if len(values) == 2 and values[0] != values[1] and label not in ("name", "input",
                                                                                               "recorded") else None)
    page.table(["", ] + ["%s" % r["label"] for r in runs], rows, classes)
    if model["two"]:
        m = cmp["mode"]
        page.p("<b>Comparison mode:</b> %s — %s" % (esc(m["used"]), esc(m["reason"])))
    else:
        page.p("One run: this page describes it; give a second run to compare.", "note")


def _verdict(page, model):
    cmp = model["compare"]
    if not model["two"]:
        page.missing("The §5.3 checklist compares two runs: only one was given." if model["runs"] else
                     "No runs given: no checklist.")
        return
    rows = []
    for item in cmp["checklist"]:
        worst = compare.worst_text(item["worst"]) or item["detail"] or ""
        rows.append([item["item"], item["requirement"], compare.pct(item["tolerance"]) if item["tolerance"]
                     else "—", worst, badge(item["result"])])
    page.table(["§5.3 item", "requirement", "tolerance", "largest difference", "result"], rows,
               table_id="checklist")
    v, f, fs = cmp["verdict"], cmp["first_divergence"], cmp["first_divergent_stage"]
    if v["required"]:
        text = "%d/%d REQUIRED items pass%s." % (v["required_passed"], v["required"], "" if v["passed"] else
                                                 " — failed: " + ", ".join(v["failed"]))
    else:
        text = "No REQUIRED items in %s mode (everything is COMPARE or N/A)." % cmp["mode"]["used"]
    # green only when REQUIRED items exist and pass; with none (equivalent-params) the box stays neutral
    cls = "fail" if not v["passed"] else "pass" if v["required"] else ""
    page.add('<div class="verdict %s">%s</div>' % (cls, esc(text)))
    if f is None:
        page.p("<b>First divergence:</b> none — every checkpoint agrees within its tolerance.")
    else:
        page.p("<b>First divergence:</b> %s (tolerance %s): %s." % (esc(f["name"]), esc(compare.pct(
            f["tolerance"])), esc(f["detail"])))
        if fs is not None and fs["name"] != f["name"]:
            page.p("First divergent §2.5 stage: %s — %s." % (esc(fs["name"]), esc(fs["detail"])), "note")
    if cmp["findings"]:
        page.add("<h3>Findings</h3><ul>%s</ul>" % "".join("<li>%s</li>" % esc(x) for x in cmp["findings"]))


def _stages(page, model, figs):
    cmp = model["compare"]
    if not model["runs"]:
        page.missing("No runs given: no stages.")
        return
    if model["two"]:
        figure_or_line(page, figs, "stages", "stage means of A and B and their ratio",
                       "Stage means (log scale) and mean B / mean A per stage",
                       "No stage has a mean in both runs: no chart.")
    rows, classes = [], []
    status = {cp["name"]: cp["status"] for cp in cmp["scan"]}
    for st in cmp["stages"]:
        means = {r["stat"]: r for r in st["rows"]}.get("mean")
        a = means["a"] if means else None
        b = means["b"] if means else None
        if not st["a"]["present"] and not st["b"]["present"]:
            continue
        ratio = b / a if model["two"] and isinstance(a, (int, float)) and isinstance(b, (int, float)) and a \
            else None
        if model["two"]:
            rows.append([st["name"] + ("" if st["required"] else " (optional)"), compare.fmt(a), compare.fmt(b),
                         compare.fmt(ratio), status.get(st["name"], "same" if st["ok"] else
                                                         "—" if st["ok"] is None else "diverged")])
            classes.append("diff" if status.get(st["name"]) == "diverged" or st["ok"] is False else None)
        else:
            rows.append([st["name"], compare.fmt(a), _source(st["a"])])
    if not rows:
        page.missing("No intensity stage was captured.")
    elif model["two"]:
        page.table(["stage", "mean A", "mean B", "B / A", "status"], rows, classes)
    else:
        page.table(["stage", "mean", "source"], rows)
    page.add("<h3>Stage ratios and symmetry (§2.6)</h3>")
    side_table(page, model, cmp["stage_ratios"])


def _source(info):
    return compare.source_text(info)


def _reconstructions(page, model, figs):
    runs = model["runs"]
    if not runs:
        page.missing("No runs given: no reconstructions.")
        return
    have = [r for r in runs if r["arrays"]["amplitude"] is not None or r["arrays"]["phase"] is not None]
    if not have:
        page.missing("No reconstruction arrays (amplitude.npy / phase.npy) in the runs given.")
    elif not figs.get("_available"):
        page.p(NO_FIGURES, "missing")
    else:
        page.figure(figs.get("recon_shared"), "reconstructions on a shared colour scale",
                    "Amplitude and phase of each run and of the ground truth on one colour scale per row; "
                    "under each run: the document's MAE, pearson_r (r), least-squares scale (LS) and the gain "
                    "stitching applied (x norm_Y_I where the pipeline multiplies by it).")
        page.figure(figs.get("recon_own"), "reconstructions each on its own colour scale",
                    "The same images, each on its own colour scale.")
        page.figure(figs.get("recon_diff"), "differences to the ground truth and between the runs",
                    "Differences: each run minus its ground truth (centre crop to the common size) and B - A.")
    rows = []
    for r in runs:
        for part in ("amplitude", "phase"):
            m = r["metrics"][part]
            rows.append(["%s: %s" % (r["label"], r["name"]), part, compare.fmt(m["mae"]),
                         compare.fmt(m["pearson_r"]), compare.fmt(m["least_squares_scalar"])])
    page.table(["run", "part", "MAE", "pearson_r", "least-squares scale"], rows)
    for r in runs:
        shape = r["arrays"]["amplitude"].shape if r["arrays"]["amplitude"] is not None else None
        gain = ("stitch gain <b>×%s</b> (%s)" % (fmt(r["stitch_gain"]), esc(r["stitch_gain_from"]))
                if r["stitch_gain"] is not None else "stitch gain not recorded")
        page.p("%s: %s — stitched %s; %s." % (esc(r["label"]), esc(r["name"]), esc(
            "x".join(str(s) for s in shape) if shape else "—"), gain))
    page.add("<h3>Inference (§2.9)</h3>")
    side_table(page, model, model["compare"]["inference"])


PROBE_FIELDS = ("source.type", "source.path", "shape", "normalization.method", "normalization.probe_scale",
                "normalization.probe_big", "normalization.probe_mask", "normalization.mask_coverage_fraction",
                "normalization.computed_norm_factor", "pre_normalization.amplitude.mean",
                "post_normalization.amplitude.mean", "pre_normalization.amplitude.l2_norm",
                "post_normalization.amplitude.l2_norm", "post_normalization.amplitude.max/mean (scale-free)",
                "set_probe calls")


def _probe(page, model, figs):
    runs = model["runs"]
    if not runs:
        page.missing("No runs given: no probe.")
        return
    if not any(r["arrays"]["probe_pre"] is not None or r["arrays"]["probe_post"] is not None for r in runs):
        page.missing("No probe arrays in the runs given (runs traced before probe arrays were saved, or with "
                     "--no-arrays): statistics only.")
    else:
        figure_or_line(page, figs, "probe", "probe amplitude and phase before and after normalization",
                       "Probe |P| and phase before and after set_probe's normalization, per run.",
                       "The probe arrays are not images: no figure.")
    side_table(page, model, model["compare"]["probe"], keep=lambda r: r["field"] in PROBE_FIELDS)


def _scale(page, model):
    if not model["runs"]:
        page.missing("No runs given: no intensity scale.")
        return
    cmp = model["compare"]
    keep = ("dataset_derived.computed_scale", "fallback.computed_scale", "used_mode", "used_value",
            "recorded_in_bundle (configured)", "model_exp_log_scale", "ratio_bundle_vs_model")
    side_table(page, model, cmp["intensity_scale"]["rows"], keep=lambda r: r["field"] in keep)
    for lab, r in zip(("a", "b"), model["runs"]):
        c = cmp["intensity_scale"]["consistency"][lab]
        if c["consistent"] is None:
            page.p("%s: model exp(log_scale) %s, configured %s — not both recorded." % (
                esc(r["label"]), fmt(c["model"]), fmt(c["configured"])), "note")
        else:
            page.p('%s: model exp(log_scale) <b>%s</b> vs configured %s (model / configured %s) → %s' % (
                esc(r["label"]), fmt(c["model"]), fmt(c["configured"]), fmt(c["ratio"]),
                '<span class="badge ok">consistent</span>' if c["consistent"] else
                '<span class="badge bad">MISMATCH</span>'))
    if model["two"]:
        ma = fields.number(fields.get(model["runs"][0]["doc"], "intensity_scale", "model_exp_log_scale"))
        mb = fields.number(fields.get(model["runs"][1]["doc"], "intensity_scale", "model_exp_log_scale"))
        if ma is not None and mb is not None and compare.rel_diff(ma, mb) > compare.CHECKLIST_TOLERANCE[
                "intensity_scale"]:
            page.p('<span class="mismatch">Model exp(log_scale) differs between the runs: A %s vs B %s '
                   '(B/A %s).</span>' % (fmt(ma), fmt(mb), fmt(mb / ma if ma else None)))


def _training(page, model, figs):
    runs = model["runs"]
    if not runs:
        page.missing("No runs given: no training.")
        return
    if not any(r["history"] for r in runs):
        page.missing("No training history (history.json) in the runs given.")
    else:
        figure_or_line(page, figs, "training", "loss and val_loss per epoch",
                       "loss (solid) and val_loss (dashed) per epoch; x: NaN/Inf epochs; dotted: early stop / "
                       "first NaN.", "The histories have no loss or val_loss.")
    side_table(page, model, model["compare"]["training"])


def _config(page, model):
    if not model["two"]:
        page.missing("Configuration differences need two runs." if model["runs"] else "No runs given.")
        return
    cfg = model["compare"]["configuration"]
    differing = [r for r in cfg["rows"] if r["differs"]]
    if differing:
        side_table(page, model, differing)
    if cfg["cfg_differences"]:
        page.add("<h3>params.cfg keys that differ</h3>")
        page.table(["key", "A", "B"], [[d["key"], compare.fmt(d["a"]), compare.fmt(d["b"])]
                                       for d in cfg["cfg_differences"]], ["diff"] * len(cfg["cfg_differences"]))
    for lab, key in (("A", "cfg_only_in_a"), ("B", "cfg_only_in_b")):
        if cfg[key]:
            page.p("params.cfg keys only in %s (%d): %s" % (lab, len(cfg[key]), esc(", ".join(cfg[key]))))
    if not differing and not cfg["cfg_differences"] and not cfg["cfg_only_in_a"] and not cfg["cfg_only_in_b"]:
        page.missing("No configuration key differs.")


def _sweeps(page, model, figs):
    sweeps = model["sweeps"]
    if not sweeps:
        page.missing("No sweep folders given (--sweep DIR, twice for two branches): no dose-response section.")
        return
    figure_or_line(page, figs, "sweep", "dose response of the sweeps",
                   "MAE, pearson_r, least-squares scale and intensity scale against nphotons; x: failed points.",
                   "No sweep point has an nphotons value: no chart.")
    for s in sweeps:
        page.add("<h3>%s — %s</h3>" % (esc(s["branch"]), esc(s["given"])))
        rows = []
        for p in s["points"]:
            v = p["values"]
            rows.append([p["label"], compare.fmt(p["nphotons"]), p["loss_fn"] or "—", p["status"],
                         compare.fmt(v["amplitude_mae"]), compare.fmt(v["pearson_r"]),
                         compare.fmt(v["least_squares_scalar"]), compare.fmt(v["intensity_scale_used"]),
                         compare.fmt(v["model_exp_log_scale"]),
                         "telemetry" if p["from_telemetry"] else "sweep.json headline"])
        if rows:
            page.table(["point", "nphotons", "loss_fn", "status", "MAE", "pearson_r", "LS scale", "scale used",
                        "model exp(log_scale)", "values from"], rows,
                       [("diff" if p["status"] != "ok" else None) for p in s["points"]])
        else:
            page.missing("This sweep has no points.")
        for n in s["notes"]:
            page.p(esc(n), "note")


def render(model, figs):
    page = Page()
    runs = model["runs"]
    title = "Parity report: " + (" vs ".join("%s: %s" % (r["label"], r["name"]) for r in runs) if runs else
                                 " vs ".join(s["branch"] for s in model["sweeps"]) + " sweeps")
    page.add("<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>%s</title><style>%s</style></head><body><main>" % (esc(title), CSS))
    page.add("<h1>%s</h1>" % esc(title))
    page.p("Parity Logging Specification v1.0 · generated %s by parity_tracer report%s" % (
        esc(datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        "" if figs.get("_available") else " · no figures: matplotlib is not installed"), "note")
    page.add("<nav>%s</nav>" % "".join('<a href="#%s">%s</a>' % (k, esc(t)) for k, t in SECTIONS))
    builders = {"header": lambda: _header(page, model), "verdict": lambda: _verdict(page, model),
                "stages": lambda: _stages(page, model, figs),
                "reconstructions": lambda: _reconstructions(page, model, figs),
                "probe": lambda: _probe(page, model, figs), "scale": lambda: _scale(page, model),
                "training": lambda: _training(page, model, figs), "config": lambda: _config(page, model),
                "sweeps": lambda: _sweeps(page, model, figs)}
    for key, heading in SECTIONS:
        page.add('<section id="%s"><h2>%s</h2>' % (key, esc(heading)))
        builders[key]()
        page.add("</section>")
    notes = [n for r in runs for n in r["notes"]]
    if notes:
        page.add('<section id="notes"><h2>Notes on the inputs</h2><ul>%s</ul></section>'
                 % "".join("<li>%s</li>" % esc(n) for n in notes[:50]))
    page.add("</main></body></html>")
    return page.render() + "\n"
