"""``demo``: two synthetic stand-in pipelines traced, reduced and compared; the deliberate stage is named."""

import json
import time

import pytest

from conftest import clean_env, run_py

pytestmark = pytest.mark.slow   # every test here runs the tracer or a pipeline in a fresh interpreter


def _demo(out, cwd):
    return run_py(["-m", "parity_tracer", "demo", "--out", out], cwd=cwd, env=clean_env(), timeout=120)


def test_demo_names_the_deliberate_stage(tmp_path):
    out = tmp_path / "demo"
    start = time.monotonic()
    r = _demo(out, tmp_path)
    elapsed = time.monotonic() - start
    assert r.returncode == 0, r.stdout + r.stderr
    assert elapsed < 30
    assert "SYNTHETIC" in r.stdout
    assert "first divergence: grouped_X_full" in r.stdout
    assert "OK: the comparison names grouped_X_full" in r.stdout
    for name in ("comparison.txt", "comparison.md", "comparison.json", "DEMO_README.txt",
                 "reference/trace/parity_telemetry.json", "deliberate/trace/parity_telemetry.json"):
        assert (out / name).is_file(), name
    for printed in ("comparison.txt", "reference/trace/parity_telemetry.json",
                    "deliberate/trace/parity_telemetry.json"):
        assert str(out / printed) in r.stdout                  # the demo says where everything is
    assert "plot:" in r.stdout
    report = json.loads((out / "comparison.json").read_text())
    assert report["mode"]["used"] == "same-npz"                  # both runs read the same npz
    assert report["first_divergence"]["name"] == "grouped_X_full"
    assert report["verdict"]["failed"] == ["grouped_X_full"]
    passed = {i["key"]: i["result"] for i in report["checklist"]}
    assert passed["raw_diffraction"] == "PASS" and passed["probe"] == "PASS"
    # the deliberate switch is visible in the deliberate run's configuration, and nowhere else
    cfg = json.loads((out / "deliberate/trace/parity_telemetry.json").read_text())["configuration"]
    ref = json.loads((out / "reference/trace/parity_telemetry.json").read_text())["configuration"]
    assert cfg["legacy_params_cfg_snapshot"]["demo.normalize_gain"] == 1.1
    assert "demo.normalize_gain" not in ref["legacy_params_cfg_snapshot"]
    # events keep canonical names although the stand-in is imported under parity_tracer's namespace
    doc = json.loads((out / "deliberate/trace/parity_telemetry.json").read_text())
    assert next(s for s in doc["intensity_stages"] if s["name"] == "grouped_X_full")["source"] == \
        "ptycho.raw_data::normalize_data"
    assert not (tmp_path / "memoized_data").exists()            # pipelines ran in their own work directories


def test_demo_reruns_into_its_own_directory_but_not_a_foreign_one(tmp_path):
    out = tmp_path / "demo"
    assert _demo(out, tmp_path).returncode == 0
    r = _demo(out, tmp_path)                                     # a previous demo is replaced
    assert r.returncode == 0, r.stdout + r.stderr
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    r = _demo(foreign, tmp_path)
    assert r.returncode == 2 and "not empty" in r.stderr
    assert [p.name for p in foreign.iterdir()] == ["keep.txt"]
