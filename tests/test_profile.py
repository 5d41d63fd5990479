"""The PtychoPINN profile on the stand-in pipelines: every capture point, real values, no extra work.

Each pipeline runs twice in fresh interpreters, untraced and traced. The stand-in prints counters of the work
it did (model builds, lazy tensor conversions, simulator calls), so equal stdout proves the tracer made the
pipeline do nothing it would not do.
"""

import hashlib
import json
import os

import numpy as np
import pytest

from conftest import SCRIPTS, SITECUSTOMIZE_DIR, STANDIN, clean_env, kinds, read_events, run_py, strip_tracer_lines

pytestmark = pytest.mark.slow   # every test here runs the tracer or a pipeline in a fresh interpreter

REQUIRED = ["raw_diffraction", "grouped_diffraction", "grouped_X_full", "container_X", "training_labels_Y_amp",
            "inference_prediction"]


def _run_pair(tmp_path, layout, script, *args, route="run", env_extra=None):
    """Run a stand-in script untraced and traced (in separate, fresh CWDs); returns (plain, traced, out_dir)."""
    env_extra = env_extra or {}
    plain_cwd, traced_cwd = tmp_path / "plain", tmp_path / "traced"
    plain_cwd.mkdir(exist_ok=True)
    traced_cwd.mkdir(exist_ok=True)
    out = tmp_path / "out"
    pypath = [STANDIN / layout]
    plain = run_py([SCRIPTS / script] + list(args), cwd=plain_cwd, env=clean_env(PYTHONPATH=pypath, **env_extra))
    if route == "run":
        traced = run_py(["-m", "parity_tracer", "run", "--out", out, SCRIPTS / script] + list(args), cwd=traced_cwd,
                        env=clean_env(PYTHONPATH=pypath, **env_extra))
    else:
        traced = run_py([SCRIPTS / script] + list(args), cwd=traced_cwd,
                        env=clean_env(PYTHONPATH=[SITECUSTOMIZE_DIR] + pypath, PARITY_TRACER=1, PARITY_TRACER_OUT=out,
                                      **env_extra))
    assert plain.returncode == 0, plain.stderr
    return plain, traced, out


def _results(stdout):
    """RESULT lines minus those that carry a time stamp; each run's own CWD folded to one name."""
    return [l.replace("/plain/", "/cwd/").replace("/traced/", "/cwd/") for l in stdout.splitlines()
            if l.startswith("RESULT") and "output_prefix" not in l]


def _assert_same_run(plain, traced):
    assert traced.returncode == plain.returncode
    assert _results(traced.stdout) == _results(plain.stdout)
    assert strip_tracer_lines(traced.stderr) == strip_tracer_lines(plain.stderr)
    assert traced.stderr.count("parity_tracer:") == 1      # our single summary line


def _stage_events(events, name):
    return [e for e in events if e["kind"] == "stage" and e["stage"] == name]


def _telemetry(out):
    with open(out / "parity_telemetry.json") as fh:
        return json.load(fh)


@pytest.mark.parametrize("route", ["run", "env"])
def test_legacy_import_time_pipeline(tmp_path, route):
    plain, traced, out = _run_pair(tmp_path, "legacy", "legacy_dose.py", route=route)
    _assert_same_run(plain, traced)
    assert "6/6 required stages" in traced.stderr and "(valid)" in traced.stderr
    events = read_events(out)
    # every required stage captured with real statistics
    for name in REQUIRED:
        assert any(e["stats"].get("total_count") for e in _stage_events(events, name)), name
    # grid "lines" path: grouped / normalized stages come from the simulator's steps, marked as equivalents
    grouped = _stage_events(events, "grouped_diffraction")
    assert {e["source"] for e in grouped} == {"ptycho.diffsim::mk_simdata"} and all(e["equivalent"] for e in grouped)
    assert _stage_events(events, "grouped_X_full")[0]["source"] == "ptycho.data_preprocessing::generate_data"
    # probe: pre and post of each set_probe call, the idealized default probe first
    probes = kinds(events, "probe")
    assert probes[0]["phase"] == "pre" and probes[0]["entry"] == "set_default_probe"
    assert probes[0]["source"]["type"] == "idealized" and probes[0]["probe_scale"] == 10.0
    assert abs(probes[0]["computed_norm_factor"] - 1.0) > 1e-3          # the raw probe was not yet normalized
    # intensity scale: simulation, the calculated fallback, each cfg write with its writer, the model's value
    scales = kinds(events, "intensity_scale")
    sim = [e["value"] for e in scales if e["what"] == "simulation"][0]
    calculated = [e["value"] for e in scales if e["what"] == "calculated"][0]
    assert calculated == pytest.approx(np.sqrt(1e9) / 8, rel=1e-6)           # N=16 in the stand-in
    writes = [(e["source"], e["value"]) for e in scales if e["what"] == "cfg_write"]
    assert writes[0] == ("ptycho.data_preprocessing::load_simulated_data", pytest.approx(sim, rel=1e-6))
    assert ("ptycho.train_pinn::train", pytest.approx(calculated, rel=1e-6)) in writes
    model = [e for e in scales if e["what"] == "model_log_scale"]
    assert model and model[-1]["value"] == pytest.approx(sim, rel=1e-5)   # legacy froze the simulation's scale
    # training, seeds, configuration snapshots
    training = kinds(events, "training")
    assert training and training[-1]["epochs_completed"] == 2 and training[-1]["final_loss"] is not None
    assert [e["value"] for e in kinds(events, "seed")][:2] == [1, 2]
    assert {e["when"] for e in kinds(events, "config")} >= {"training_start", "exit"}
    doc = _telemetry(out)
    assert doc["intensity_scale"]["used_mode"] == "fallback"
    assert doc["intensity_scale"]["model_exp_log_scale"] == pytest.approx(sim, rel=1e-5)
    # the probe block's call: its probe before and after normalization saved as small arrays (the report draws
    # them), and they are the arrays the block's statistics describe
    for phase, block in (("pre_npy", "pre_normalization"), ("post_npy", "post_normalization")):
        arr = np.load(out / doc["probe"]["artifacts"][phase], allow_pickle=False)
        assert list(arr.shape[:2]) == doc["probe"]["shape"][:2] and np.iscomplexobj(arr)
        assert np.abs(arr).mean() == pytest.approx(doc["probe"][block]["amplitude"]["mean"], rel=1e-5)
    assert np.abs(np.load(out / doc["probe"]["artifacts"]["post_npy"])).mean() != pytest.approx(
        np.abs(np.load(out / doc["probe"]["artifacts"]["pre_npy"])).mean(), rel=1e-3)   # normalization changed it


def test_modern_grid_lines_never_triggers_lazy_work(tmp_path):
    plain, traced, out = _run_pair(tmp_path, "modern", "modern_grid_lines.py", "--gridsize", "2", "--seed", "3",
                                   "--output-dir", "gl")
    _assert_same_run(plain, traced)      # equal lazy_conversions and model_builds counters
    assert any(l.startswith("RESULT lazy_conversions") for l in plain.stdout.splitlines())
    events = read_events(out)
    for name in REQUIRED:
        assert _stage_events(events, name), name
    probes = kinds(events, "probe")
    assert [p["phase"] for p in probes[:2]] == ["loaded", "transformed"]
    pre = [p for p in probes if p["phase"] == "pre"]
    assert pre[0]["route"] == "grid_lines_probe_pipeline" and pre[0]["probe_scale"] == 4.0
    inference = [e for e in kinds(events, "inference") if e["source"].endswith("stitch_predictions")]
    assert {e["part"] for e in inference} == {"amp", "phase"}
    assert os.path.exists(out / inference[0]["artifacts"]["amplitude_npy"])
    seeds = kinds(events, "seed")
    execution = [s for s in seeds if "ptycho.workflows.grid_lines_workflow::_apply_execution_seed" in s["context"]]
    assert {s["api"] for s in execution} >= {"random.seed", "numpy.random.seed"} and execution[0]["value"] == 3
    update = [e for e in kinds(events, "config") if e["when"] == "update_legacy_dict"]
    assert update and update[0]["dataclass"]["__type__"] == "TrainingConfig"
    # the model's scale equals the configured one on the modern layout
    scales = kinds(events, "intensity_scale")
    model = [e["value"] for e in scales if e["what"] == "model_log_scale"][-1]
    calculated = [e["value"] for e in scales if e["what"] == "calculated"][-1]
    assert model == pytest.approx(calculated, rel=1e-5)


@pytest.mark.parametrize("source", ["sim", "npz"])
def test_rawdata_path_has_every_stage_from_its_own_step(tmp_path, source):
    args = ["--source", source]   # npz: the script saves its simulated RawData and reads it back with from_file
    plain, traced, out = _run_pair(tmp_path, "modern", "modern_rawdata_path.py", *args)
    _assert_same_run(plain, traced)
    events = read_events(out)
    expected = {"raw_diffraction": "ptycho.raw_data::RawData.from_" + ("simulation" if source == "sim" else "file"),
                "grouped_diffraction": "ptycho.raw_data::RawData.generate_grouped_data",
                "grouped_X_full": "ptycho.raw_data::normalize_data",
                "container_X": "ptycho.loader::PtychoDataContainer.__init__"}
    for stage, src in expected.items():
        hits = [e for e in _stage_events(events, stage) if e["source"] == src]
        assert hits and not hits[0]["equivalent"], stage
    grouped = [e for e in _stage_events(events, "grouped_diffraction") if e["source"].endswith("generate_grouped_data")]
    assert {"K", "nsamples", "count", "gridsize"} <= set(grouped[0]["metadata"])
    if source == "npz":
        dataset = [e for e in kinds(events, "dataset") if e["type"] == "npz_file"][0]
        assert dataset["path"] == str(tmp_path / "traced" / "raw_train.npz")
        assert dataset["checksum"] == hashlib.sha256(open(dataset["path"], "rb").read()).hexdigest()


def test_memo_cache_hit_is_still_captured(tmp_path):
    env = clean_env(PYTHONPATH=[STANDIN / "legacy"])
    first = run_py([SCRIPTS / "legacy_dose.py"], cwd=tmp_path, env=env)
    assert first.returncode == 0
    traced = run_py(["-m", "parity_tracer", "run", "--out", tmp_path / "out", SCRIPTS / "legacy_dose.py"],
                    cwd=tmp_path, env=env)
    assert "RESULT sim_calls illuminate_and_diffract=0" in traced.stdout     # served from memoized_data/
    raw = [e for e in _stage_events(read_events(tmp_path / "out"), "raw_diffraction")]
    assert raw and raw[0]["source"] == "ptycho.diffsim::mk_simdata" and raw[0]["metadata"]["memo_cache_hit"]


def test_reload_between_runs_keeps_tracing(tmp_path):
    plain, traced, out = _run_pair(tmp_path, "legacy", "legacy_dose.py", "--reload")
    _assert_same_run(plain, traced)
    events = read_events(out)
    assert any(e["kind"] == "patch" and e["status"] == "repatched" for e in events)
    evals = [e for e in kinds(events, "inference") if e["source"] == "ptycho.train_pinn::train_eval"]
    assert len(evals) == 2                                   # both runs, before and after the reload


def test_namespaced_package_with_module_prefix(tmp_path):
    prefix = "parity_tracer.demo.standin.legacy.ptycho"
    r = run_py(["-m", "parity_tracer", "run", "--out", tmp_path / "out", SCRIPTS / "legacy_dose.py", "--pkg", prefix],
               cwd=tmp_path, env=clean_env(PARITY_TRACER_MODULE_PREFIX=prefix))
    assert r.returncode == 0, r.stderr
    assert "6/6 required stages" in r.stderr
    sources = {e["source"] for e in read_events(tmp_path / "out") if e["kind"] == "stage"}
    assert "ptycho.diffsim::mk_simdata" in sources                # canonical names, whatever the real module


def test_no_arrays_option(tmp_path):
    r = run_py(["-m", "parity_tracer", "run", "--no-arrays", "--out", tmp_path / "out", SCRIPTS / "legacy_dose.py"],
               cwd=tmp_path, env=clean_env(PYTHONPATH=[STANDIN / "legacy"]))
    assert r.returncode == 0
    assert not (tmp_path / "out" / "arrays").exists()
    assert not kinds(read_events(tmp_path / "out"), "artifact") or all(
        e["name"] == "checkpoint" for e in kinds(read_events(tmp_path / "out"), "artifact"))
