"""``python -m parity_tracer dose-experiments`` on the stand-in checkouts: deliveries, same-NPZ, sweeps, failures.

Every command runs in a fresh interpreter, as a maintainer would start it (PYTHONPATH only, no install).
"""

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import STANDIN, clean_env, run_py

pytestmark = pytest.mark.slow
SMALL = ["--N", "16", "--size", "48", "--nimgs-train", "1", "--nimgs-test", "1", "--nepochs", "2"]
LEGACY, MODERN = STANDIN / "legacy", STANDIN / "modern"
DELIVERY = {"README.md", "checksums.txt", "parity_telemetry.json", "config.json", "raw_data.npz", "history.json",
            "amplitude.npy", "phase.npy", "ground_truth_amp.npy", "ground_truth_phase.npy", "logs"}
RAWDATA_KEYS = {"xcoords", "ycoords", "xcoords_start", "ycoords_start", "diff3d", "probeGuess", "objectGuess",
                "scan_index"}


def dose(tmp_path, *args, cwd=None):
    return run_py(["-m", "parity_tracer", "dose-experiments"] + [str(a) for a in args], cwd=cwd or tmp_path,
                  timeout=300)


def sha256sum_c(folder):
    """What ``sha256sum -c checksums.txt`` checks, by the tool itself when present."""
    if shutil.which("sha256sum"):
        r = subprocess.run(["sha256sum", "-c", "--strict", "checksums.txt"], cwd=str(folder), capture_output=True,
                           text=True)
        return r.returncode == 0
    for line in (Path(folder) / "checksums.txt").read_text().splitlines():
        digest, name = line.split("  ", 1)
        if hashlib.sha256((Path(folder) / name).read_bytes()).hexdigest() != digest:
            return False
    return True


def verify(folder, cwd):
    return run_py(["-m", "parity_tracer", "verify", folder], cwd=cwd)


@pytest.fixture(scope="module")
def legacy_delivery(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("legacy")
    r = dose(tmp, "--ptycho", LEGACY, "--output-dir", tmp / "delivery", *SMALL)
    return tmp, r


def test_legacy_delivery_is_complete_and_verifies(legacy_delivery):
    tmp, r = legacy_delivery
    assert r.returncode == 0, r.stderr[-3000:]
    out = tmp / "delivery"
    assert DELIVERY <= {p.name for p in out.iterdir()}
    assert (out / "model_checkpoint").is_dir() and any((out / "model_checkpoint").iterdir())
    assert sha256sum_c(out)
    v = verify(out, tmp)
    assert v.returncode == 0 and v.stdout.startswith("OK"), v.stdout
    # one summary line per run on stderr, and the scratch folder is gone after a successful run
    lines = [l for l in r.stderr.splitlines() if l.startswith("parity_tracer: dose-experiments:")]
    assert "6/6 required stages" in lines[-1] and "checksums verified" in lines[-1]
    assert not any(p.name.startswith(".delivery.work-") for p in tmp.iterdir())
    doc = json.loads((out / "parity_telemetry.json").read_text())
    assert doc["pipeline"] == "dose_experiments" and doc["scenario"] == "gs2_ideal"
    assert doc["missing_stages"] == []


def test_legacy_readme_says_how_it_was_made(legacy_delivery):
    tmp, _ = legacy_delivery
    readme = (tmp / "delivery" / "README.md").read_text()
    assert "python -m parity_tracer dose-experiments --ptycho" in readme          # the exact command
    assert "ptycho.probe.set_default_probe()" in readme and "import ptycho.train" in readme
    assert "$ python --version" in readme and "Python 3." in readme
    assert "numpy==" in readme                                                     # pip list line
    assert "size = 48 instead of 392" in readme                                    # deviations from the template
    assert "How raw_data.npz was made" in readme or "Derived from the run's grid-simulated" in readme


def test_raw_data_npz_loads_with_rawdata_of_both_layouts(legacy_delivery):
    tmp, _ = legacy_delivery
    npz = tmp / "delivery" / "raw_data.npz"
    with np.load(npz, allow_pickle=False) as z:
        assert set(z.files) == RAWDATA_KEYS
        n = len(z["xcoords"])
        assert z["diff3d"].shape == (n, 16, 16)
        assert len(set(zip(z["xcoords"].tolist(), z["ycoords"].tolist()))) == n     # each position once
    for layout in ("legacy", "modern"):
        code = ("import sys; sys.path.insert(0, %r); from ptycho.raw_data import RawData; "
                "r = RawData.from_file(%r); print(len(r.xcoords), r.diff3d.shape)" % (str(STANDIN / layout),
                                                                                     str(npz)))
        r = run_py(["-c", code], cwd=tmp)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[-1].split()[0] == str(n)


def test_main_grid_lines_delivery_and_compare_names_the_known_divergences(tmp_path, legacy_delivery):
    legacy_tmp, _ = legacy_delivery
    r = dose(tmp_path, "--ptycho", MODERN, "--output-dir", tmp_path / "main", "--seed", "7", *SMALL)
    assert r.returncode == 0, r.stderr[-3000:]
    assert sha256sum_c(tmp_path / "main") and verify(tmp_path / "main", tmp_path).returncode == 0
    assert "run_grid_lines_workflow(cfg=GridLinesConfig(" in (tmp_path / "main" / "README.md").read_text()
    c = run_py(["-m", "parity_tracer", "compare", legacy_tmp / "delivery", tmp_path / "main"], cwd=tmp_path)
    assert c.returncode == 0, c.stderr                     # equivalent-params: nothing is REQUIRED
    assert "Mode: equivalent-params" in c.stdout
    assert "probe_scale 10 vs 4" in c.stdout
    assert "Intensity scale in A: the model's exp(log_scale)" in c.stdout
    assert "Stitching gain differs" in c.stdout and "inference.norm_Y_I" in c.stdout


def test_main_legacy_equivalent_flow_saves_its_model(tmp_path):
    r = dose(tmp_path, "--ptycho", MODERN, "--flow", "legacy-equivalent", "--output-dir", tmp_path / "le", *SMALL)
    assert r.returncode == 0, r.stderr[-3000:]
    assert any((tmp_path / "le" / "model_checkpoint").iterdir())
    assert "ptycho.model_manager.save(" in (tmp_path / "le" / "README.md").read_text()


def test_same_npz_track_compares_in_same_npz_mode_and_names_the_coordinate_sign(tmp_path, legacy_delivery):
    legacy_tmp, _ = legacy_delivery
    npz = legacy_tmp / "delivery" / "raw_data.npz"
    for name, checkout in (("legacy", LEGACY), ("main", MODERN)):
        r = dose(tmp_path, "--ptycho", checkout, "--output-dir", tmp_path / name, "--train-npz", npz,
                 "--nepochs", "2")
        assert r.returncode == 0, r.stderr[-3000:]
        assert verify(tmp_path / name, tmp_path).returncode == 0
        doc = json.loads((tmp_path / name / "parity_telemetry.json").read_text())
        assert doc["provenance"]["dataset_source"]["checksum"] == hashlib.sha256(npz.read_bytes()).hexdigest()
        assert doc["scenario"] == "gs2_same_npz"
    # the legacy run used the file's probe, and says so
    legacy_doc = json.loads((tmp_path / "legacy" / "parity_telemetry.json").read_text())
    assert legacy_doc["probe"]["source"]["type"] == "npz_loaded"
    c = run_py(["-m", "parity_tracer", "compare", "--format", "json", tmp_path / "legacy", tmp_path / "main"],
               cwd=tmp_path)
    report = json.loads(c.stdout)
    assert report["mode"]["used"] == "same-npz"
    required = {i["key"]: i["result"] for i in report["checklist"] if i["requirement"] == "REQUIRED"}
    assert set(required) == {"raw_diffraction", "probe", "grouped_X_full", "intensity_scale"}
    assert required["raw_diffraction"] == "PASS"
    assert required["probe"] == "FAIL"                       # probe_scale 10 vs 4 renormalizes the same probe
    assert c.returncode == 1                                 # a REQUIRED item outside tolerance fails the status
    first = report["first_divergent_stage"]
    assert first["name"] == "grouped_diffraction"
    assert "local_offset_sign 1 vs -1" in first["detail"] and "opposite sign" in first["detail"]


def test_sweep_writes_sweep_json_and_compare_pairs_two_sweeps(tmp_path):
    for name, checkout in (("a", LEGACY), ("b", MODERN)):
        r = dose(tmp_path, "--ptycho", checkout, "--output-dir", tmp_path / name, "--nphotons", "1e4,1e6",
                 "--loss-fn", "nll", *SMALL)
        assert r.returncode == 0, r.stderr[-3000:]
    index = json.loads((tmp_path / "a" / "sweep.json").read_text())
    assert set(index) == {"format", "branch", "points"}
    assert index["format"] == "parity-tracer-sweep/1" and index["branch"] == "dose_experiments"
    assert [p["label"] for p in index["points"]] == ["nphotons1e4-nll", "nphotons1e6-nll"]
    for p in index["points"]:
        assert set(p) == {"label", "nphotons", "loss_fn", "folder", "status", "telemetry", "headline"}
        assert set(p["headline"]) == {"amplitude_mae", "pearson_r", "least_squares_scalar", "intensity_scale_used",
                                      "model_exp_log_scale"}
        assert p["status"] == "ok" and isinstance(p["headline"]["amplitude_mae"], float)
        assert verify(tmp_path / "a" / p["folder"], tmp_path).returncode == 0
        doc = json.loads((tmp_path / "a" / p["telemetry"]).read_text())
        assert doc["configuration"]["nphotons"] == p["nphotons"]
    scales = [p["headline"]["intensity_scale_used"] for p in index["points"]]
    assert scales[0] != scales[1]                            # the dose changes the intensity scale
    c = run_py(["-m", "parity_tracer", "compare", tmp_path / "a", tmp_path / "b"], cwd=tmp_path)
    assert c.returncode == 0, c.stderr
    assert "2 paired points" in c.stderr
    assert "nphotons1e4-nll" in c.stdout and "nphotons1e6-nll" in c.stdout


def test_failed_pipeline_leaves_a_folder_that_says_what_happened(tmp_path):
    bad = tmp_path / "bad.npz"        # a RawData NPZ without xcoords_start: legacy RawData.from_file needs it
    np.savez(bad, xcoords=np.arange(9.0), ycoords=np.arange(9.0), diff3d=np.ones((9, 16, 16), np.float32),
             probeGuess=np.ones((16, 16), np.complex64))
    r = dose(tmp_path, "--ptycho", LEGACY, "--output-dir", tmp_path / "out", "--train-npz", bad, "--nepochs", "1")
    assert r.returncode == 1
    lines = [l for l in r.stderr.splitlines() if l.startswith("parity_tracer: dose-experiments:")]
    assert "pipeline failed" in lines[-1] and "xcoords_start" in lines[-1]
    assert "Traceback" not in r.stderr
    log = (tmp_path / "out" / "logs" / "pipeline.log").read_text()
    assert "Traceback (most recent call last)" in log and "KeyError" in log
    assert "**Status: FAILED**" in (tmp_path / "out" / "README.md").read_text()
    assert verify(tmp_path / "out", tmp_path).returncode == 0


@pytest.mark.parametrize("args, message", [
    (["--output-dir", "X", "--delivery-root", "Y"], "exactly one of"),
    (["--output-dir", "X", "--flow", "legacy-equivalent"], "main-branch option"),
    (["--output-dir", "X", "--parity-log", "../evil.json"], "plain file name"),
    (["--output-dir", "X", "--nphotons", "1e9,abc"], "numbers separated by commas"),
    (["--output-dir", "X", "--train-npz", "missing.npz"], "is not a file"),
    (["--output-dir", "full"], "not empty"),
    (["--output-dir", "X", "--nphotons", "1e4,1e4"], "given twice"),
])
def test_bad_usage_is_one_line_and_exit_2(tmp_path, args, message):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    r = dose(tmp_path, "--ptycho", LEGACY, *args)
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr
    assert (tmp_path / "full" / "keep.txt").read_text() == "x"


def test_branch_is_detected_from_the_layout(tmp_path):
    r = dose(tmp_path, "--ptycho", tmp_path, "--output-dir", tmp_path / "o")
    assert r.returncode == 2 and "not a PtychoPINN checkout" in r.stderr
    (tmp_path / "ptycho").mkdir()
    r = dose(tmp_path, "--ptycho", tmp_path, "--output-dir", tmp_path / "o")
    assert r.returncode == 2 and "cannot tell the branch" in r.stderr


def test_delivery_root_and_parity_log_name(tmp_path):
    r = dose(tmp_path, "--ptycho", LEGACY, "--delivery-root", tmp_path / "repo", "--parity-log", "telemetry_gs2.json",
             *SMALL)
    assert r.returncode == 0, r.stderr[-3000:]
    found = list((tmp_path / "repo" / "plans" / "active" / "DEBUG-SIM-LINES-DOSE-001" / "reports").glob(
        "*/dose_experiments_ground_truth"))
    assert len(found) == 1
    assert (found[0] / "telemetry_gs2.json").is_file() and not (found[0] / "parity_telemetry.json").exists()
    assert sha256sum_c(found[0]) and verify(found[0], tmp_path).returncode == 0


@pytest.mark.parametrize("content, message", [
    ('{"format": "parity-tracer-sweep/1", "branch": "main", "points": [{"label": "x", "telemetry": '
     '"../outside/parity_telemetry.json"}]}', "unsafe path"),
    ('{"format": "parity-tracer-sweep/1", "branch": "main", "points": [{"label": "x", "telemetry": '
     '"/etc/passwd"}]}', "unsafe path"),
    ("not json", "is not JSON"),
    ('{"format": "other"}', "is not a parity-tracer-sweep/1 index"),
])
def test_compare_refuses_a_hostile_sweep_index(tmp_path, content, message):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "sweep.json").write_text(content)
    r = run_py(["-m", "parity_tracer", "compare", tmp_path / "a", tmp_path / "b"], cwd=tmp_path)
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr
