"""Opt-in: trace the REAL PtychoPINN pipelines of a checkout you provide (target-api §7 small configurations).

    PARITY_TRACER_PTYCHO_LEGACY=/path/to/dose_experiments-checkout  PARITY_TRACER_PTYCHO_LEGACY_PYTHON=/legacy/venv/bin/python
    PARITY_TRACER_PTYCHO_MODERN=/path/to/main-checkout              PARITY_TRACER_PTYCHO_MODERN_PYTHON=/modern/venv/bin/python
    python -m pytest tests/test_real_pipelines.py -m real

Each case runs the pipeline untraced and traced (about a minute each on 2 cores) and requires the same exit
code, the same printed shapes and keys, the same output files, and a valid telemetry document with 6/6 required
stages. Skipped when the variables are unset. Nothing here downloads or builds PtychoPINN.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, SITECUSTOMIZE_DIR, clean_env, run_py

pytestmark = [pytest.mark.real, pytest.mark.slow]
DRIVERS = Path(__file__).resolve().parent / "real"


def _checkout(kind):
    path = os.environ.get("PARITY_TRACER_PTYCHO_" + kind)
    if not path or not os.path.isdir(os.path.join(path, "ptycho")):
        pytest.skip("set PARITY_TRACER_PTYCHO_%s to a PtychoPINN checkout to run this test" % kind)
    return Path(path), os.environ.get("PARITY_TRACER_PTYCHO_%s_PYTHON" % kind, sys.executable)


def _shapes(stdout):
    """The lines the drivers print about shapes and keys (loss values differ run to run: unseeded training)."""
    keep = re.compile(r"^(stitched_obj|YY_ground_truth|train_output keys|train_eval keys|reconstructed_obj|result keys)")
    return [l for l in stdout.splitlines() if keep.match(l)]


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*") if p.is_file())


def _pair(tmp_path, checkout, python, driver, args, route, cwd_is_repo):
    env_common = dict(TF_CPP_MIN_LOG_LEVEL="2", PTYCHO_MEMOIZE_KEY_MODE="dataset", PTYCHO_DISABLE_MEMOIZE="1")
    results = {}
    for mode in ("plain", "traced"):
        work = tmp_path / mode
        work.mkdir()
        cwd = checkout if cwd_is_repo else work
        run_args = [DRIVERS / driver] + [a.replace("{work}", str(work)) for a in args]
        if mode == "plain":
            env = clean_env(PYTHONPATH=[checkout], **env_common)
            cmd = [python] + run_args
        elif route == "env":
            env = clean_env(PYTHONPATH=[checkout, SITECUSTOMIZE_DIR], PARITY_TRACER=1,
                            PARITY_TRACER_OUT=work / "trace", **env_common)
            cmd = [python] + run_args
        else:
            env = clean_env(PYTHONPATH=[checkout, REPO], **env_common)
            cmd = [python, "-m", "parity_tracer", "run", "--out", work / "trace"] + run_args
        results[mode] = subprocess.run([str(c) for c in cmd], cwd=str(cwd), env=env, capture_output=True,
                                       text=True, timeout=1800)
    return results["plain"], results["traced"]


def _check(plain, traced, tmp_path, out_subdir=None):
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert traced.returncode == plain.returncode, traced.stderr[-3000:]
    assert _shapes(traced.stdout) == _shapes(plain.stdout)
    assert "6/6 required stages" in traced.stderr and "(valid)" in traced.stderr
    if out_subdir:
        assert _files(tmp_path / "traced" / out_subdir) == _files(tmp_path / "plain" / out_subdir)
    v = run_py(["-m", "parity_tracer", "validate", tmp_path / "traced" / "trace" / "parity_telemetry.json"],
               cwd=tmp_path)
    assert v.returncode == 0, v.stdout + v.stderr


def test_legacy_dose_gs2_env_route(tmp_path):
    checkout, python = _checkout("LEGACY")
    plain, traced = _pair(tmp_path, checkout, python, "legacy_dose_min.py", ["2"], "env", cwd_is_repo=False)
    _check(plain, traced, tmp_path)


@pytest.mark.parametrize("gridsize", ["1", "2"])
def test_modern_grid_lines(tmp_path, gridsize):
    checkout, python = _checkout("MODERN")
    plain, traced = _pair(tmp_path, checkout, python, "modern_grid_lines_min.py", [gridsize, "{work}/gl_out"],
                          "run", cwd_is_repo=True)
    _check(plain, traced, tmp_path, out_subdir="gl_out")


def test_modern_legacy_equivalent_gs2(tmp_path):
    checkout, python = _checkout("MODERN")
    plain, traced = _pair(tmp_path, checkout, python, "modern_legacy_equivalent.py", ["2"], "run", cwd_is_repo=True)
    _check(plain, traced, tmp_path)


def test_modern_npz_path_every_stage_from_its_own_step(tmp_path):
    """main's NPZ path: simulate_and_save.py writes an npz, training/train.py loads, groups, normalizes, trains."""
    checkout, python = _checkout("MODERN")
    env = clean_env(PYTHONPATH=[checkout], TF_CPP_MIN_LOG_LEVEL="2")
    made = subprocess.run([python, str(DRIVERS / "modern_npz_input.py"), str(tmp_path / "input.npz")],
                          cwd=str(checkout), env=env, capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr[-2000:]
    sim = subprocess.run([python, "scripts/simulation/simulate_and_save.py", "--input-file", str(tmp_path / "input.npz"),
                          "--output-file", str(tmp_path / "sim.npz"), "--n-images", "300", "--seed", "1"],
                         cwd=str(checkout), env=env, capture_output=True, text=True, timeout=900)
    assert sim.returncode == 0, sim.stderr[-2000:]
    train = ["scripts/training/train.py", "--train_data_file", str(tmp_path / "sim.npz"), "--test_data_file",
             str(tmp_path / "sim.npz"), "--gridsize", "1", "--nepochs", "1", "--n_groups", "128"]
    plain = subprocess.run([python] + train + ["--output_dir", str(tmp_path / "plain_out")], cwd=str(checkout),
                           env=env, capture_output=True, text=True, timeout=1800)
    traced = subprocess.run([python, "-m", "parity_tracer", "run", "--out", str(tmp_path / "trace")] + train
                            + ["--output_dir", str(tmp_path / "traced_out")], cwd=str(checkout),
                            env=clean_env(PYTHONPATH=[checkout, REPO], TF_CPP_MIN_LOG_LEVEL="2"),
                            capture_output=True, text=True, timeout=1800)
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert traced.returncode == 0, traced.stderr[-3000:]
    assert _files(tmp_path / "traced_out") == _files(tmp_path / "plain_out")
    assert "6/6 required stages" in traced.stderr
    with open(tmp_path / "trace" / "parity_telemetry.json") as fh:
        doc = __import__("json").load(fh)
    sources = {s["name"]: (s["source"], s.get("equivalent")) for s in doc["intensity_stages"]}
    assert sources["raw_diffraction"] == ("ptycho.workflows.components::load_data", False)
    assert sources["grouped_diffraction"] == ("ptycho.raw_data::RawData.generate_grouped_data", False)
    assert sources["grouped_X_full"] == ("ptycho.raw_data::normalize_data", False)
    assert sources["container_X"] == ("ptycho.loader::PtychoDataContainer.__init__", False)
    assert doc["provenance"]["dataset_source"]["type"] == "npz_file"
    assert doc["provenance"]["dataset_source"]["checksum"] is not None


DOSE_STUDY_ARMS = {"high_nll": "nphotons1e9-nll", "high_mae": "nphotons1e9-mae",
                   "low_nll": "nphotons1e4-nll", "low_mae": "nphotons1e4-mae"}


def _printed(stdout):
    """stdout without Keras progress bars (their count and ETA follow the speed) and with numbers masked (the
    simulation's Poisson noise is drawn by TensorFlow, unseeded: container means differ in the third digit)."""
    lines = (re.sub(r"\x1b\[[0-9;]*m", "", l).strip() for l in re.split(r"[\r\n\x08]+", stdout))
    return [re.sub(r"-?\d+(\.\d+)?(e[+-]?\d+)?", "#", l) for l in lines if l and "\u2501" not in l]


def test_modern_dose_study_gives_one_document_per_arm(tmp_path):
    """main's scripts/studies/dose_response_study.py, unchanged: four arms (1e9 / 1e4 photons x NLL / MAE)
    simulated, then trained, then stitched in one process. Traced: one valid document per arm."""
    checkout, python = _checkout("MODERN")
    script = checkout / "scripts" / "studies" / "dose_response_study.py"
    args = ["--output-dir", "out", "--nepochs", "1", "--n-train", "200", "--n-test", "64", "--gridsize", "1"]
    results = {}
    for mode in ("plain", "traced"):
        work = tmp_path / mode
        work.mkdir()
        if mode == "plain":
            cmd, env = [python, script] + args, clean_env(PYTHONPATH=[checkout], TF_CPP_MIN_LOG_LEVEL="2")
        else:
            cmd = [python, "-m", "parity_tracer", "run", "--out", work / "trace", script] + args
            env = clean_env(PYTHONPATH=[checkout, REPO], TF_CPP_MIN_LOG_LEVEL="2")
        results[mode] = subprocess.run([str(c) for c in cmd], cwd=str(work), env=env, capture_output=True,
                                       text=True, timeout=3600)
    plain, traced = results["plain"], results["traced"]
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert traced.returncode == plain.returncode
    assert _printed(traced.stdout) == _printed(plain.stdout)
    for sub in ("out", "plans"):
        assert _files(tmp_path / "traced" / sub) == _files(tmp_path / "plain" / sub)
    trace = tmp_path / "traced" / "trace"
    index = __import__("json").loads((trace / "runs.json").read_text())
    assert [r["label"] for r in index["runs"]] == list(DOSE_STUDY_ARMS.values())
    assert "parity_tracer: 4 runs: " in traced.stderr and not (trace / "parity_telemetry.json").exists()
    scales = {}
    for arm, label in DOSE_STUDY_ARMS.items():
        entry = next(r for r in index["runs"] if r["label"] == label)
        v = run_py(["-m", "parity_tracer", "validate", trace / entry["document"]], cwd=tmp_path)
        assert v.returncode == 0, v.stdout + v.stderr
        doc = __import__("json").loads((trace / entry["document"]).read_text())
        assert doc["configuration"]["nphotons"] == (1e9 if arm.startswith("high") else 1e4)
        assert doc["configuration"]["loss_fn"] == arm.split("_")[1]
        assert doc["provenance"]["dataset_source"]["type"] == "simulated"
        assert doc["intensity_stages"][0]["stats"]["mean"] is not None
        trained = "%s: SUCCESS" % arm in plain.stderr      # PtychoPINN's own outcome (a low-dose arm may hit NaN)
        assert (doc["training"]["epochs_completed"] == 1) == trained
        assert (doc["inference"]["amplitude"]["mean"] is not None) == trained
        scales[arm] = doc["intensity_scale"]["dataset_derived"]["computed_scale"]
    assert scales["high_nll"] != scales["low_nll"] and scales["high_mae"] != scales["low_mae"]
