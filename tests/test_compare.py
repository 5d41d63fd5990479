"""``compare``: the §5.3 checklist, the mode decision, the first divergence, exit codes and output formats.

Inputs are real documents from traced stand-in pipelines (built once per module), edited in memory for the
precise tolerance cases.
"""

import copy
import json
import sys

import pytest

from conftest import tracer
from parity_tracer import jsonio
from parity_tracer.maintainer import compare

@pytest.fixture(scope="module")
def docs(standin_runs):
    """Telemetry documents of the shared stand-in runs: main's npz path, dose_experiments, main's collapsed batch."""
    return {name: getattr(standin_runs, name)() / "parity_telemetry.json" for name in ("npz", "legacy", "collapsed")}


def _load(path):
    return compare.load_document(path)


def _stage(doc, name):
    return next(s for s in doc["intensity_stages"] if s["name"] == name)


def _scale_stage(doc, name, factor):
    for key in ("mean", "std", "min", "max"):
        if _stage(doc, name)["stats"][key] is not None:
            _stage(doc, name)["stats"][key] *= factor


def _report(a, b, mode="auto"):
    return compare.build_report("A.json", a, "B.json", b, mode)


def _item(report, key):
    return next(i for i in report["checklist"] if i["key"] == key)


def _cli(args, cwd):
    return tracer("compare", *args, cwd=cwd)


# -- self comparison and the mode ---------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["npz", "legacy"])
def test_self_compare_passes_every_item(docs, which, tmp_path):
    doc = _load(docs[which])
    report = _report(doc, copy.deepcopy(doc), mode="same-npz")
    assert report["verdict"] == {"required": 4, "required_passed": 4, "failed": [], "passed": True, "exit_code": 0}
    assert [i["result"] for i in report["checklist"]] == ["PASS", "PASS", "PASS", "PASS", "info", "info"]
    assert report["first_divergence"] is None and report["first_divergent_stage"] is None
    r = _cli([docs[which], docs[which]], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "First divergence" in r.stdout and "None: every checkpoint agrees" in r.stdout


def test_auto_mode_uses_the_dataset_checksums(docs):
    doc = _load(docs["npz"])
    assert doc["provenance"]["dataset_source"]["checksum"]
    report = _report(doc, copy.deepcopy(doc))
    assert report["mode"]["used"] == "same-npz" and "same dataset" in report["mode"]["reason"]
    assert _item(report, "raw_diffraction")["requirement"] == "REQUIRED"

    other = copy.deepcopy(doc)
    other["provenance"]["dataset_source"]["checksum"] = None
    report = _report(doc, other)
    assert report["mode"]["used"] == "equivalent-params"
    assert "not recorded in B" in report["mode"]["reason"]
    assert [i["requirement"] for i in report["checklist"]] == ["N/A", "COMPARE", "COMPARE", "COMPARE", "COMPARE",
                                                               "COMPARE"]
    assert report["verdict"]["required"] == 0 and report["verdict"]["exit_code"] == 0

    other["provenance"]["dataset_source"]["checksum"] = "0" * 64
    assert "they differ" in _report(doc, other)["mode"]["reason"]
    forced = _report(doc, other, mode="same-npz")
    assert forced["mode"]["used"] == "same-npz" and "requested with --mode" in forced["mode"]["reason"]


# -- tolerances ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("factor, result", [(1.005, "PASS"), (0.995, "PASS"), (1.02, "FAIL"), (0.98, "FAIL")])
def test_raw_diffraction_one_percent_in_same_npz_mode(docs, factor, result):
    a = _load(docs["npz"])
    b = copy.deepcopy(a)
    _scale_stage(b, "raw_diffraction", factor)
    report = _report(a, b)
    item = _item(report, "raw_diffraction")
    assert report["mode"]["used"] == "same-npz"
    assert item["result"] == result
    assert report["verdict"]["exit_code"] == (0 if result == "PASS" else 1)
    if result == "FAIL":
        first = report["first_divergence"]
        assert first["name"] == "raw_diffraction" and first["tolerance"] == 0.01
        mean = _stage(a, "raw_diffraction")["stats"]["mean"]
        assert compare.fmt(mean) in first["detail"] and "> 1%" in first["detail"]
        assert report["verdict"]["failed"] == ["raw_diffraction"]
    # symmetric: swapping the runs changes no verdict
    assert _item(_report(b, a), "raw_diffraction")["result"] == result


def test_grouped_x_full_five_percent_and_compare_items_do_not_fail(docs):
    a = _load(docs["npz"])
    b = copy.deepcopy(a)
    _scale_stage(b, "grouped_X_full", 1.04)
    assert _item(_report(a, b), "grouped_X_full")["result"] == "PASS"
    _scale_stage(b, "grouped_X_full", 1.03)          # 7 % in total
    report = _report(a, b)
    assert _item(report, "grouped_X_full")["result"] == "FAIL"
    b["provenance"]["dataset_source"]["checksum"] = None   # equivalent-params: COMPARE, never an exit status
    report = _report(a, b)
    assert _item(report, "grouped_X_full")["result"] == "outside"
    assert report["verdict"]["exit_code"] == 0


def test_values_near_zero_use_the_floor(docs):
    a = _load(docs["npz"])
    b = copy.deepcopy(a)
    a["probe"]["post_normalization"]["amplitude"]["min"] = 1e-9
    b["probe"]["post_normalization"]["amplitude"]["min"] = 3e-9     # 200 % of nothing
    assert _item(_report(a, b), "probe")["result"] == "PASS"
    b["probe"]["post_normalization"]["phase"]["mean"] = (a["probe"]["post_normalization"]["phase"]["mean"] or 0) + 0.01
    assert _item(_report(a, b), "probe")["result"] == "PASS"        # 0.01 rad < 1 % of pi
    b["probe"]["post_normalization"]["phase"]["mean"] += 0.05
    assert _item(_report(a, b), "probe")["result"] == "FAIL"


def test_statistic_recorded_in_one_run_only_fails(docs):
    a = _load(docs["npz"])
    b = copy.deepcopy(a)
    b["intensity_scale"]["model_exp_log_scale"] = None
    item = _item(_report(a, b), "intensity_scale")
    assert item["result"] == "FAIL"
    assert any(r["note"] == "recorded in A only" for r in item["rows"])
    a["intensity_scale"]["model_exp_log_scale"] = None
    assert _item(_report(a, b), "intensity_scale")["result"] == "PASS"   # absent from both: skipped


# -- first divergence ---------------------------------------------------------------------------------------------

def test_first_divergence_is_the_earliest_checkpoint_in_pipeline_order(docs):
    a = _load(docs["npz"])
    b = copy.deepcopy(a)
    _scale_stage(b, "training_labels_Y_amp", 1.5)
    _scale_stage(b, "container_X", 1.2)
    report = _report(a, b)
    assert report["first_divergence"]["name"] == "container_X"
    assert report["first_divergence"]["tolerance"] == compare.DEFAULT_TOLERANCE
    b["intensity_scale"]["recorded_in_bundle"] *= 1.5
    assert _report(a, b)["first_divergence"]["name"] == "container_X"    # the scale comes after container_X
    b["probe"]["post_normalization"]["amplitude"]["mean"] *= 1.1
    report = _report(a, b)
    assert report["first_divergence"]["name"] == "probe"
    assert report["first_divergent_stage"]["name"] == "container_X"
    status = {cp["name"]: cp["status"] for cp in report["scan"]}
    assert status["raw_diffraction"] == "same" and status["training_labels_Y_amp"] == "diverged"


def test_shape_difference_and_stage_missing_in_one_run(docs):
    a = _load(docs["npz"])
    b = copy.deepcopy(a)
    _stage(b, "grouped_diffraction")["stats"]["shape"][0] += 1
    report = _report(a, b)
    assert report["first_divergence"]["name"] == "grouped_diffraction"
    assert "shape" in report["first_divergence"]["detail"]
    b = copy.deepcopy(a)
    _stage(b, "container_X").update(stats=None, absent=True, absent_reason="no container")
    report = _report(a, b)
    assert report["first_divergence"]["name"] == "container_X"
    assert "captured in A only" in report["first_divergence"]["detail"] and "no container" in \
        report["first_divergence"]["detail"]


def test_cross_pipeline_finds_the_scale_mismatch_and_the_collapsed_batch(docs, tmp_path):
    # the stand-ins reproduce both real findings: legacy's model exp(log_scale) is the simulation scale, not
    # the configured one, and main's predicted batch collapses with --nimgs-test 2
    r = _cli([docs["legacy"], docs["collapsed"]], tmp_path)
    assert r.returncode == 0, r.stderr                     # no checksums: equivalent-params, nothing REQUIRED
    out = r.stdout
    assert "Mode: equivalent-params" in out
    assert "Intensity scale in A: the model's exp(log_scale)" in out
    report = _report(_load(docs["legacy"]), _load(docs["collapsed"]))
    cons = report["intensity_scale"]["consistency"]
    assert cons["a"]["consistent"] is False and cons["b"]["consistent"] is True
    assert report["first_divergence"]["name"] == "intensity_scale"
    assert any("collapsed" in f for f in report["findings"])
    rows = {r["field"]: r for r in report["inference"]}
    assert rows["predictions"]["a"] == 18 and rows["predictions"]["b"] < 18



def test_prediction_count_falls_back_through_the_raw_prediction_stage():
    # a document from another writer may lack inference.predictions: the number of stitched predictions then
    # comes from the stage metadata, the raw-prediction stage's metadata or shape, then the group limit
    from parity_tracer.profiles.ptychopinn import maintainer as ptychopinn
    stages = {}
    raw = {"name": ptychopinn.RAW_PREDICTION_STAGE, "stats": {"shape": [7, 16, 16, 1]}}
    doc = {"schema_version": "1.0", "inference": {}, "tracer": {"other_stages": [raw]}}
    assert compare.prediction_count(doc, stages) == (7, "tracer.other_stages[%s].stats.shape[0]"
                                                     % ptychopinn.RAW_PREDICTION_STAGE)
    raw["metadata"] = {"count": 5}
    assert compare.prediction_count(doc, stages)[0] == 5
    doc["tracer"]["other_stages"] = []
    doc["inference"]["group_limit"] = 3
    assert compare.prediction_count(doc, stages) == (3, "inference.group_limit")
    doc["inference"]["predictions"] = 9
    assert compare.prediction_count(doc, stages) == (9, "inference.predictions")

# -- command line -------------------------------------------------------------------------------------------------

def test_exit_code_one_when_a_required_item_fails(docs, tmp_path):
    b = _load(docs["npz"])
    _scale_stage(b, "grouped_X_full", 1.5)
    path = tmp_path / "b.json"
    path.write_bytes(jsonio.dumps_pretty(b))
    r = _cli([docs["npz"], path], tmp_path)
    assert r.returncode == 1
    assert "FAIL" in r.stdout and "failed: grouped_X_full" in r.stdout


@pytest.mark.parametrize("case", ["missing", "not_json", "not_object", "no_version", "other_version"])
def test_unusable_input_exits_2_with_one_line(docs, tmp_path, case):
    bad = tmp_path / "bad.json"
    if case == "not_json":
        bad.write_text("{not json")
    elif case == "not_object":
        bad.write_text("[1, 2]")
    elif case == "no_version":
        bad.write_text('{"pipeline": "x"}')
    elif case == "other_version":
        doc = _load(docs["npz"])
        doc["schema_version"] = "2.0"
        bad.write_bytes(jsonio.dumps(doc))
    r = _cli([docs["npz"], bad], tmp_path)
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("parity_tracer: compare:")


def test_markdown_and_json_are_deterministic(docs, tmp_path):
    md1 = _cli([docs["legacy"], docs["npz"], "--format", "markdown"], tmp_path)
    md2 = _cli([docs["legacy"], docs["npz"], "--format", "markdown"], tmp_path)
    assert md1.returncode == 0 and md1.stdout == md2.stdout
    assert md1.stdout.startswith("# Parity comparison")
    assert "| item | requirement | tolerance | largest difference | result |" in md1.stdout
    assert "## First divergence" in md1.stdout
    out = tmp_path / "r.json"
    r = _cli([docs["legacy"], docs["npz"], "--format", "json", "-o", out], tmp_path)
    assert r.returncode == 0 and r.stdout == ""
    report = json.loads(out.read_text())
    assert report["format"] == compare.REPORT_FORMAT
    assert [i["key"] for i in report["checklist"]] == ["raw_diffraction", "probe", "grouped_X_full",
                                                       "intensity_scale", "amplitude_mae", "pearson_r"]
    assert {"mode", "verdict", "first_divergence", "stages", "probe", "intensity_scale", "inference"} <= set(report)


def test_plot_without_matplotlib_is_a_note(docs, tmp_path, monkeypatch):
    report = _report(_load(docs["npz"]), _load(docs["legacy"]))
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    note = compare.plot_stage_means(report, tmp_path / "p.png")
    assert note and "matplotlib" in note and not (tmp_path / "p.png").exists()


def test_plot_option(docs, tmp_path):
    png = tmp_path / "stages.png"
    r = _cli([docs["npz"], docs["npz"], "--plot", png], tmp_path)
    assert r.returncode == 0
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib is not installed" in r.stderr and not png.exists()
    else:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
