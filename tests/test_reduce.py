"""Reducer tests on synthetic streams written exactly as docs/architecture.md describes the stream format."""

import copy
import json
import math
import os
import shutil
import subprocess

import numpy as np
import pytest

from parity_tracer import cli, jsonio
from parity_tracer.profiles.ptychopinn import stagemap
from parity_tracer.document import build, comparison, reduce
from parity_tracer.document.validate import validate_document

try:
    import jsonschema
except ImportError:  # pragma: no cover
    jsonschema = None

FALLBACK_1E9_N64 = math.sqrt(1e9) / 32.0   # 988.2117688026185 (the spec's 988.21...)


# -- stream helpers ------------------------------------------------------------------------------------------

def real_stats(a):
    """What stats.summarize reports for a real array (non-finite excluded from min..std)."""
    a = np.asarray(a)
    f = a[np.isfinite(a)].astype(np.float64)
    return {"shape": list(a.shape), "dtype": str(a.dtype),
            "min": float(f.min()) if f.size else None, "max": float(f.max()) if f.size else None,
            "mean": float(f.mean()) if f.size else None, "std": float(f.std()) if f.size else None,
            "nan_count": int(np.isnan(a).sum()), "inf_count": int(np.isinf(a).sum()),
            "finite_count": int(f.size), "total_count": int(a.size)}


def complex_stats(z):
    z = np.asarray(z)
    amp, ph = np.abs(z).astype(np.float64), np.angle(z).astype(np.float64)
    s = real_stats(amp)
    s["dtype"] = str(z.dtype)
    s["amplitude"] = {"min": float(amp.min()), "max": float(amp.max()), "mean": float(amp.mean()),
                      "std": float(amp.std()), "l2_norm": float(np.sqrt((amp ** 2).sum()))}
    s["phase"] = {"min": float(ph.min()), "max": float(ph.max()), "mean": float(ph.mean()), "std": float(ph.std())}
    s["energy"] = float((amp ** 2).sum())
    return s


def const_stats(shape, mean, std=0.0, dtype="float32"):
    n = int(np.prod(shape))
    return {"shape": list(shape), "dtype": dtype, "min": mean - std, "max": mean + std, "mean": mean, "std": std,
            "nan_count": 0, "inf_count": 0, "finite_count": n, "total_count": n}


class Stream:
    """One process's JSONL stream: ``emit`` fills in kind/seq/t/pid (and context/call_id where they apply)."""

    NO_CONTEXT = ("header", "footer", "patch")

    def __init__(self, out_dir, pid=4242, t0=1_700_000_000.0, name=None):
        self.out_dir = out_dir
        self.pid = pid
        self.t0 = t0
        self.seq = 0
        self.events = []
        self.path = out_dir / "streams" / (name or "events-host-%d-0a1b2c3d.jsonl" % pid)

    def emit(self, kind, **fields):
        ev = {"kind": kind, "seq": self.seq, "t": self.t0 + 0.01 * self.seq, "pid": self.pid}
        if kind not in self.NO_CONTEXT:
            ev["context"] = fields.pop("context", [])
            ev["call_id"] = fields.pop("call_id", None)
        ev.update(fields)
        self.events.append(ev)
        self.seq += 1
        return ev

    def header(self, pipeline="dose_experiments", scenario="gs2_ideal"):
        return self.emit("header", format="parity-tracer-stream/1", argv=["dose.py"], cwd=str(self.out_dir),
                         executable="/usr/bin/python3", ppid=1, pipeline=pipeline, scenario=scenario,
                         profile="ptychopinn", python="3.11.7", packages={"numpy": "1.26.4", "wrapt": "1.14.1"},
                         tracer_version="0.1.0", config={"out_dir": str(self.out_dir)})

    def stage(self, name, source, stats, role=None, equivalent=False, note=None, metadata=None, **kw):
        md = {"count": stats["shape"][0] if stats.get("shape") else None, "gridsize": 2, "group_limit": None}
        md.update(metadata or {})
        return self.emit("stage", stage=name, source=source, stats=stats, metadata=md, equivalent=equivalent,
                         role=role, call_index=0, note=note, **kw)

    def probe_call(self, call_id, pre, post, method="set_default_probe", entry="ptycho.probe::set_default_probe",
                   probe_scale=10.0, source=None):
        mask = np.zeros(pre.shape[:2], bool)
        mask[2:6, 2:6] = True
        common = dict(entry=entry, method=method, probe_scale=probe_scale, probe_big=False, probe_mask=True,
                      mask_stats={"nonzero_count": int(mask.sum()), "total_count": int(mask.size),
                                  "coverage_fraction": float(mask.mean())},
                      computed_norm_factor=float(probe_scale * np.mean(mask[..., None] * np.abs(pre))),
                      source=source or {"type": "idealized", "path": None, "checksum": None},
                      context=["ptycho.probe::set_probe"])
        self.emit("probe", phase="pre", stats=complex_stats(pre), call_id=call_id, **common)
        self.emit("probe", phase="post", stats=complex_stats(post), call_id=call_id, **common)

    def lines(self):
        return [jsonio.dumps(e).decode() for e in self.events]

    def write(self, footer=True, errors=None):
        if footer:
            self.emit("footer", events=self.seq + 1, errors=errors or {}, dropped=0)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("\n".join(self.lines()) + "\n")
        return self.path


def save_npy(out_dir, name, array):
    path = out_dir / "arrays" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, array)
    return "arrays/" + name   # relative to the output directory, as the profile writes it


def arrays(seed=0):
    rng = np.random.default_rng(seed)
    truth_amp = 1.0 + 0.5 * rng.random((14, 14))
    truth_phase = rng.uniform(-1, 1, (14, 14))
    pred_amp = (0.8 * truth_amp[1:13, 1:13] + 0.05 * rng.standard_normal((12, 12)))[None, :, :, None]
    pred_phase = (truth_phase[1:13, 1:13] + 0.1 * rng.standard_normal((12, 12)))[None, :, :, None]
    return truth_amp, truth_phase, pred_amp.astype(np.float32), pred_phase.astype(np.float32)


CFG = {"N": 64, "gridsize": 2, "nphotons": 1e9, "batch_size": 16, "nepochs": 2, "nll_weight": 1.0, "mae_weight": 0.0,
       "realspace_weight": 0.0, "tv_weight": 0.0, "intensity_scale.trainable": False, "offset": 4,
       "data_source": "lines", "probe": {"shape": [64, 64, 1], "dtype": "complex64", "mean": 0.2, "total_count": 4096}}


def grid_run(out_dir, *, pid=4242, t0=1_700_000_000.0, with_truth=True, origin=None):
    """A legacy dose_experiments-like grid 'lines' run: equivalents for grouping and normalization."""
    s = Stream(out_dir, pid=pid, t0=t0)
    s.header()
    s.emit("patch", target="ptycho.diffsim::mk_simdata", module="ptycho.diffsim", status="patched", detail=None)
    s.emit("patch", target="ptycho.model::prepare_outputs", module="ptycho.model", status="patched", detail=None)
    s.emit("patch", target="ptycho.image.stitching::reassemble_patches", module="ptycho.image.stitching",
           status="missing", detail="module not found")
    s.emit("origin", path=origin or str(out_dir / "no_repo" / "ptycho" / "__init__.py"))
    s.emit("environment", packages={"tensorflow": "2.15.1", "keras": "2.15.0"})
    z = np.exp(1j * np.linspace(0, 1, 64).reshape(8, 8, 1)) * np.linspace(0.5, 1.5, 64).reshape(8, 8, 1)
    s.probe_call(1, z.astype(np.complex64), (z / 3.0).astype(np.complex64))
    ctx_sim = ["ptycho.data_preprocessing::generate_data", "ptycho.data_preprocessing::load_simulated_data"]
    s.emit("seed", api="numpy.random.seed", value=1, order=0, context=ctx_sim)
    s.emit("intensity_scale", what="simulation", value=1761.36, previous=None,
           source="ptycho.diffsim::mk_simdata", detail="train", context=ctx_sim + [stagemap._MK_SIMDATA])
    s.stage("raw_diffraction", "ptycho.diffsim::mk_simdata", const_stats((256, 64, 64, 4), 0.02, 0.05),
            role="train", context=ctx_sim)
    s.stage("grouped_diffraction", "ptycho.diffsim::mk_simdata", const_stats((256, 64, 64, 4), 0.02, 0.05),
            role="train", equivalent=True, note="grid path: mk_simdata emits grouped data", context=ctx_sim)
    s.emit("seed", api="numpy.random.seed", value=2, order=1, context=ctx_sim)
    s.stage("raw_diffraction", "ptycho.diffsim::mk_simdata", const_stats((49, 64, 64, 4), 0.03), role="test",
            context=ctx_sim)
    s.emit("intensity_scale", what="cfg_write", value=1761.36, previous=None,
           source="ptycho.data_preprocessing::load_simulated_data", detail=None)
    s.stage("grouped_X_full", "ptycho.data_preprocessing::generate_data", const_stats((256, 64, 64, 4), 0.02, 0.05),
            role="train", equivalent=True)
    s.stage("container_X", "ptycho.loader::PtychoDataContainer.__init__", const_stats((49, 64, 64, 4), 0.5),
            role="test")
    s.stage("container_X", "ptycho.loader::PtychoDataContainer.__init__", const_stats((256, 64, 64, 4), 0.02, 0.05),
            role="train")
    s.emit("dataset", type="simulated", path=None, checksum=None, chain="mk_simdata lines object, nimgs_train=1",
           source="ptycho.data_preprocessing::load_simulated_data")
    s.emit("intensity_scale", what="calculated", value=988.2117919921875, previous=1761.36,
           source="ptycho.train_pinn::calculate_intensity_scale", detail=None)
    s.emit("intensity_scale", what="cfg_write", value=988.2117919921875, previous=1761.36,
           source="ptycho.train_pinn::train", detail=None)
    s.probe_call(5, (z / 3.0).astype(np.complex64), (z / 3.0).astype(np.complex64), method="set_default_probe",
                 entry="ptycho.probe::set_probe_guess")
    cfg = dict(CFG, intensity_scale=988.2117919921875)
    s.emit("config", when="training_start", cfg=cfg, dataclass=None)
    s.emit("seed", api="tf.random.set_seed", value=7, order=2)
    s.stage("training_labels_Y_amp", "ptycho.model::prepare_outputs", const_stats((256, 64, 64, 4), 19.8, 49.4))
    s.stage("training_labels_Y_I", "ptycho.model::prepare_outputs", const_stats((256, 64, 64, 1), 0.7, 0.2))
    s.emit("intensity_scale", what="model_log_scale", value=1761.36, previous=None,
           source="ptycho.model", detail="exp(log_scale)")
    s.emit("training", source="keras::Model.fit", epochs_completed=2,
           history={"loss": [3.5, 2.5], "val_loss": [3.7, 2.9], "lr": [0.001, 0.001]}, early_stopped=False,
           early_stop_epoch=None, nan_detected=False, first_nan_epoch=None, final_loss=2.5, final_val_loss=2.9)
    truth_amp, truth_phase, pred_amp, pred_phase = arrays()
    names = {}
    names["amplitude_npy"] = save_npy(out_dir, "amplitude.npy", pred_amp)
    names["phase_npy"] = save_npy(out_dir, "phase.npy", pred_phase)
    for name, path in names.items():
        s.emit("artifact", name=name, path=path, source="ptycho.train_pinn::train_eval")
    if with_truth:
        for name, arr in (("ground_truth_amp_npy", truth_amp), ("ground_truth_phase_npy", truth_phase)):
            s.emit("artifact", name=name, path=save_npy(out_dir, name + ".npy", arr),
                   source="ptycho.train_pinn::train_eval")
    s.emit("artifact", name="checkpoint", path="model_checkpoint", source="ptycho.train_pinn::train_eval")
    s.stage("inference_prediction", "ptycho.data_preprocessing::reassemble", real_stats(pred_amp),
            context=["ptycho.train_pinn::train_eval"])
    s.stage("inference_prediction", "ptycho.train_pinn::train_eval", real_stats(pred_amp))
    s.emit("inference", source="ptycho.train_pinn::train_eval", stitched_shape=[1, 12, 12, 1],
           amplitude=real_stats(pred_amp), phase=real_stats(pred_phase), group_limit=49, artifacts=None)
    s.emit("tracer_error", layer="stats", target="ptycho.model::prepare_outputs", error="TypeError",
           message="boom", context=[])
    s.emit("config", when="exit", cfg=dict(cfg, nepochs=99), dataclass=None)
    return s


def rawdata_run(out_dir, pid=5151):
    """A modern RawData/npz path run: generate_grouped_data + normalize_data, no ground truth."""
    s = Stream(out_dir, pid=pid)
    s.header(pipeline="sim_lines_4x", scenario="gs1_npz")
    npz = out_dir / "data" / "raw_data.npz"
    npz.parent.mkdir(parents=True, exist_ok=True)
    npz.write_bytes(b"not really an npz")
    s.emit("dataset", type="npz_file", path=str(npz), checksum="ab" * 32, chain=None,
           source="ptycho.raw_data::RawData.from_file")
    s.stage("raw_diffraction", "ptycho.raw_data::RawData.from_file", const_stats((500, 64, 64), 3.0, 2.0))
    s.stage("pre_normalization_diffraction", "ptycho.raw_data::RawData.generate_grouped_data",
            const_stats((128, 64, 64, 1), 3.0, 2.0), metadata={"K": 4, "nsamples": 128})
    s.stage("grouped_diffraction", "ptycho.raw_data::RawData.generate_grouped_data",
            const_stats((128, 64, 64, 1), 3.0, 2.0), metadata={"K": 4, "nsamples": 128})
    s.stage("grouped_X_full", "ptycho.raw_data::normalize_data", const_stats((128, 64, 64, 1), 0.15, 0.1))
    s.stage("container_X", "ptycho.loader::PtychoDataContainer.__init__", const_stats((128, 64, 64, 1), 0.15, 0.1))
    cfg = dict(CFG, gridsize=1, intensity_scale=988.2117688026185, nll_weight=0.0, mae_weight=1.0)
    s.emit("config", when="update_legacy_dict", cfg=cfg, dataclass={"model": {"N": 64, "gridsize": 1},
                                                                     "nphotons": 1e9, "n_groups": 128})
    s.emit("intensity_scale", what="cfg_write", value=988.2117688026185, previous=None,
           source="ptycho.train_pinn::train", detail=None)
    s.emit("config", when="training_start", cfg=cfg, dataclass=None)
    s.stage("training_labels_Y_amp", "ptycho.model::prepare_outputs", const_stats((128, 64, 64, 1), 148.0, 99.0))
    s.emit("training", source="ptycho.model::train", epochs_completed=3,
           history={"loss": [1.0, None, 0.5], "val_loss": [1.1, 0.9, 0.6]}, early_stopped=True, early_stop_epoch=2,
           nan_detected=None, first_nan_epoch=None, final_loss=None, final_val_loss=None)
    s.stage("inference_prediction", "ptycho.tf_helper::reassemble_position", const_stats((70, 70, 1), 0.9, 0.3))
    s.emit("inference", source="ptycho.tf_helper::reassemble_position", stitched_shape=[70, 70],
           amplitude=const_stats((70, 70), 0.9, 0.3), phase=const_stats((70, 70), 0.0, 0.4), group_limit=None,
           artifacts={})
    return s


def reduce_dir(out_dir, check=True, **kw):
    """Reduce ``out_dir/streams`` to ``out_dir/parity_telemetry.json``; the document must validate."""
    path = out_dir / "parity_telemetry.json"
    line = reduce.reduce_to_file([out_dir / "streams"], path, **kw)
    doc = jsonio.loads(path.read_bytes())
    if check:
        assert_valid(doc)
    return doc, line


def assert_valid(doc):
    assert validate_document(doc) == []
    if jsonschema is not None:
        from parity_tracer.document.validate import load_schema
        jsonschema.Draft202012Validator(load_schema()).validate(doc)


def without_timestamp(doc):
    doc = copy.deepcopy(doc)
    doc.pop("timestamp")
    return doc


def stage(doc, name):
    return next(s for s in doc["intensity_stages"] if s["name"] == name)


# -- full grid-path run ----------------------------------------------------------------------------------------

def test_grid_path_full_document(tmp_path, capsys):
    grid_run(tmp_path).write()
    doc, line = reduce_dir(tmp_path)
    assert_valid(doc)
    assert line == "parity_tracer: 6/6 required stages, telemetry -> %s (valid)" % (tmp_path / "parity_telemetry.json")
    assert doc["schema_version"] == "1.0"
    assert doc["timestamp"].endswith("Z")
    assert (doc["pipeline"], doc["scenario"]) == ("dose_experiments", "gs2_ideal")
    assert doc["missing_stages"] == []
    names = [s["name"] for s in doc["intensity_stages"]]
    assert names == list(stagemap.REQUIRED_STAGES) + ["training_labels_Y_I"]

    raw = stage(doc, "raw_diffraction")
    assert raw["source"] == "ptycho.diffsim::mk_simdata" and raw["role"] == "train"
    assert raw["stats"]["shape"] == [256, 64, 64, 4] and raw["candidates"] == 2
    assert set(raw["stats"]) >= {"shape", "dtype", "min", "max", "mean", "std", "nan_count", "finite_count",
                                 "total_count"}
    grouped = stage(doc, "grouped_diffraction")
    assert grouped["equivalent"] is True and grouped["note"] == "grid path: mk_simdata emits grouped data"
    xfull = stage(doc, "grouped_X_full")
    assert xfull["equivalent"] is True and xfull["note"] == stagemap.STAGE_RULES["grouped_X_full"].equivalent_note
    assert stage(doc, "container_X")["role"] == "train"
    assert stage(doc, "container_X")["metadata"] == {"count": 256, "gridsize": 2, "group_limit": None}
    # train_eval outranks data_preprocessing.reassemble although it came later
    assert stage(doc, "inference_prediction")["source"] == "ptycho.train_pinn::train_eval"
    assert all(s["absent"] is False for s in doc["intensity_stages"])

    prov = doc["provenance"]
    assert prov["commit_hash"] == "unknown" and prov["branch"] == "unknown" and prov["dirty"] is None
    assert prov["environment"] == {"python_version": "3.11.7", "tensorflow_version": "2.15.1",
                                   "keras_version": "2.15.0", "numpy_version": "1.26.4",
                                   "packages": {"keras": "2.15.0", "numpy": "1.26.4", "tensorflow": "2.15.1",
                                                "wrapt": "1.14.1"}}
    seeds = prov["seeds"]
    assert (seeds["object_seed"], seeds["sim_seed"], seeds["training_seed"]) == (1, 1, 7)
    assert prov["dataset_source"]["type"] == "simulated"
    assert prov["dataset_source"]["provenance_chain"] == "mk_simdata lines object, nimgs_train=1"

    conf = doc["configuration"]
    assert conf["N"] == 64 and conf["gridsize"] == 2 and conf["nphotons"] == 1e9
    assert conf["batch_size"] == 16 and conf["nepochs"] == 2          # training_start snapshot, not exit's 99
    assert conf["neighbor_count"] is None and conf["group_count"] is None and conf["split_fraction"] is None
    assert conf["loss_fn"] == "nll"
    assert conf["loss_weights"] == {"nll_weight": 1.0, "mae_weight": 0.0, "realspace_weight": 0.0, "tv_weight": 0.0}
    assert conf["intensity_scale_trainable"] is False
    assert conf["legacy_params_cfg_snapshot"]["data_source"] == "lines"
    assert conf["snapshot_when"] == "training_start"

    probe = doc["probe"]
    assert probe["entry"] == "ptycho.probe::set_probe_guess" and probe["call_id"] == 5   # last before training
    assert [c["call_id"] for c in probe["calls"]] == [1, 5]
    assert probe["shape"] == [8, 8, 1] and probe["dtype"] == "complex64"
    assert probe["normalization"]["method"] == "set_default_probe"
    assert probe["normalization"]["probe_scale"] == 10.0 and probe["normalization"]["probe_mask"] is True
    assert probe["normalization"]["mask_stats"] == {"nonzero_count": 16, "total_count": 64,
                                                    "coverage_fraction": 0.25}
    assert probe["source"] == {"type": "idealized", "path": None, "checksum": None}
    amp = probe["pre_normalization"]["amplitude"]
    assert amp["l2_norm"] == pytest.approx(math.sqrt(probe["pre_normalization"]["energy"]), rel=1e-9)

    tr = doc["training"]
    assert tr["epochs_completed"] == 2 and tr["final_loss"] == 2.5 and tr["final_val_loss"] == 2.9
    assert tr["history_artifact"] == "history.json"
    assert jsonio.loads((tmp_path / "history.json").read_bytes())["loss"] == [3.5, 2.5]
    assert tr["checkpoint_artifact"] == "model_checkpoint"
    assert tr["source"] == "keras::Model.fit"

    inf = doc["inference"]
    assert inf["group_limit"] == 49 and inf["stitched_shape"] == [1, 12, 12, 1]
    assert inf["artifacts"]["amplitude_npy"] == "arrays/amplitude.npy"
    assert inf["artifacts"]["phase_npy"] == "arrays/phase.npy"

    tracer = doc["tracer"]
    assert tracer["errors"] == {}   # the footer (no errors) is authoritative for this process
    assert tracer["patches"]["patched"] == ["ptycho.diffsim::mk_simdata", "ptycho.model::prepare_outputs"]
    assert tracer["patches"]["missing"] == ["ptycho.image.stitching::reassemble_patches"]
    assert tracer["streams"][0]["path"].startswith("streams/events-host-4242")
    assert any("scaler_output" in n for n in tracer["notes"])
    assert tracer["optional_stages_absent"][0]["name"] == "pre_normalization_diffraction"


def test_intensity_scale_block(tmp_path):
    grid_run(tmp_path).write()
    doc, _ = reduce_dir(tmp_path)
    scale = doc["intensity_scale"]
    assert scale["fallback"]["formula"] == "sqrt(nphotons) / (N/2)"
    assert scale["fallback"]["computed_scale"] == pytest.approx(988.2117688026186, rel=1e-15)
    assert scale["fallback"]["computed_scale"] == FALLBACK_1E9_N64
    # E[sum_xy X^2] from container_X (train): 64*64*(0.05^2 + 0.02^2)
    expected_sum = 64 * 64 * (0.05 ** 2 + 0.02 ** 2)
    dd = scale["dataset_derived"]
    assert dd["array_used"] == "container_X"
    assert dd["batch_mean_sum_intensity"] == pytest.approx(expected_sum, rel=1e-12)
    assert dd["computed_scale"] == pytest.approx(math.sqrt(1e9 / expected_sum), rel=1e-12)
    assert dd["formula"] == "sqrt(nphotons / E_batch[sum_xy |X|^2])"
    assert scale["used_mode"] == "fallback"            # calculated float32 988.2117919... within 1e-3
    assert scale["used_value"] == 988.2117919921875 and scale["used_value_source"] == "calculated"
    assert scale["recorded_in_bundle"] == 988.2117919921875
    assert scale["model_exp_log_scale"] == 1761.36
    assert scale["delta_bundle_vs_model"] == pytest.approx(988.2117919921875 - 1761.36)
    assert scale["ratio_bundle_vs_model"] == pytest.approx(988.2117919921875 / 1761.36)
    assert scale["writes"] == [
        {"value": 1761.36, "previous": None, "source": "ptycho.data_preprocessing::load_simulated_data"},
        {"value": 988.2117919921875, "previous": 1761.36, "source": "ptycho.train_pinn::train"}]
    assert scale["simulation_scales"] == [1761.36]


def test_used_mode_dataset_derived_and_none(tmp_path):
    s = rawdata_run(tmp_path)
    # E[sum X^2] = 64*64*(0.1^2+0.15^2) = 133.12 -> sqrt(1e9/133.12)
    derived = math.sqrt(1e9 / (64 * 64 * (0.1 ** 2 + 0.15 ** 2)))
    s.emit("intensity_scale", what="calculated", value=derived * (1 + 5e-4), previous=None,
           source="ptycho.train_pinn::calculate_intensity_scale", detail=None)
    s.write()
    doc, _ = reduce_dir(tmp_path)
    assert_valid(doc)
    assert doc["intensity_scale"]["used_mode"] == "dataset_derived"

    other = tmp_path / "other"
    s2 = rawdata_run(other)
    s2.emit("intensity_scale", what="calculated", value=500.0, previous=None, source="x", detail=None)
    s2.write()
    doc2, _ = reduce_dir(other)
    assert_valid(doc2)
    assert doc2["intensity_scale"]["used_mode"] is None


def test_used_mode_from_cfg_write_when_nothing_calculated(tmp_path):
    rawdata_run(tmp_path).write()
    doc, _ = reduce_dir(tmp_path)
    scale = doc["intensity_scale"]
    assert scale["used_value_source"] == "cfg_write"
    assert scale["used_mode"] == "fallback"
    assert scale["recorded_in_bundle"] == 988.2117688026185
    assert scale["model_exp_log_scale"] is None and scale["ratio_bundle_vs_model"] is None


def test_comparison_metrics_match_numpy(tmp_path):
    grid_run(tmp_path).write()
    doc, _ = reduce_dir(tmp_path)
    assert_valid(doc)
    comp = doc["comparison"]
    assert comp["ground_truth_source"] == "simulated_object"
    crop = comp["crop_metadata"]
    assert crop["target_size"] == 12 and crop["start"] == [0, 0] and crop["end"] == [12, 12]
    assert crop["truth_start"] == [1, 1] and crop["truth_end"] == [13, 13]

    truth_amp, truth_phase, pred_amp, pred_phase = arrays()
    for part, truth, pred in (("amplitude", truth_amp, pred_amp), ("phase", truth_phase, pred_phase)):
        t = truth[1:13, 1:13].astype(np.float64).ravel()
        p = pred[0, :, :, 0].astype(np.float64).ravel()
        d = t - p
        m = comp[part]
        assert m["mae"] == pytest.approx(np.abs(d).mean(), rel=1e-12)
        assert m["rmse"] == pytest.approx(np.sqrt((d ** 2).mean()), rel=1e-12)
        assert m["max_abs"] == pytest.approx(np.abs(d).max(), rel=1e-12)
        assert m["pearson_r"] == pytest.approx(np.corrcoef(t, p)[0, 1], rel=1e-9)
        assert m["bias_summary"] == pytest.approx({"mean": d.mean(), "median": np.median(d),
                                                   "p05": np.percentile(d, 5), "p95": np.percentile(d, 95)},
                                                  rel=1e-12)
        s = (t * p).sum() / (p * p).sum()
        assert m["scaling_analysis"] == pytest.approx({"truth_to_pred_ratio_mean": t.mean() / p.mean(),
                                                       "least_squares_scalar": s,
                                                       "rescaled_mae": np.abs(t - s * p).mean()}, rel=1e-12)
    ratios = doc["stage_ratios"]
    pred_mean = float(pred_amp.astype(np.float64).mean())
    assert ratios["prediction_to_truth"] == pytest.approx(pred_mean / truth_amp.mean(), rel=1e-9)
    # grid path: grouped == raw, normalized == grouped, container(train) == normalized
    assert ratios["raw_to_grouped"] == 1.0 and ratios["grouped_to_normalized"] == 1.0
    assert ratios["normalized_to_container"] == 1.0
    assert doc["full_chain_product"] == pytest.approx(ratios["prediction_to_truth"])
    sym = doc["symmetry_check"]
    assert sym["expected"] == 1.0 and sym["tolerance"] == 0.05
    assert sym["actual"] == doc["full_chain_product"]
    assert sym["violated"] is (abs(sym["actual"] - 1) > 0.05)
    assert sym["primary_deviation_source"] == "inference_prediction"


def test_constant_prediction_gives_null_pearson(tmp_path):
    s = grid_run(tmp_path)
    np.save(tmp_path / "arrays" / "amplitude.npy", np.ones((1, 12, 12, 1), np.float32))
    s.write()
    doc, _ = reduce_dir(tmp_path)
    assert_valid(doc)
    assert doc["comparison"]["amplitude"]["pearson_r"] is None
    assert doc["comparison"]["amplitude"]["mae"] is not None


def test_png_rendering_or_note(tmp_path, monkeypatch):
    grid_run(tmp_path).write()
    doc, _ = reduce_dir(tmp_path)
    arts = doc["inference"]["artifacts"]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert arts["amplitude_png"] is None and arts["phase_png"] is None
        assert any("matplotlib" in n for n in doc["tracer"]["notes"])
    else:
        assert arts["amplitude_png"] == "amplitude.png" and (tmp_path / "amplitude.png").is_file()
        assert arts["phase_png"] == "phase.png"


def test_pngs_carry_the_run_name_and_units(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure
    texts, real_savefig = [], Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: texts.append(" | ".join(
        t.get_text() for t in fig.findobj(lambda o: hasattr(o, "get_text")))) or real_savefig(fig, *a, **k))
    grid_run(tmp_path).write()
    doc, _ = reduce_dir(tmp_path)
    name = "%s %s" % (doc["pipeline"], doc["scenario"])
    assert len(texts) == 2
    assert name in texts[0] and "inference amplitude" in texts[0] and "amplitude |O| (arb. units)" in texts[0]
    assert name in texts[1] and "inference phase" in texts[1] and "phase (rad)" in texts[1]


def test_png_null_when_matplotlib_missing(tmp_path, monkeypatch):
    import builtins
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("no matplotlib")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    grid_run(tmp_path).write()
    doc, _ = reduce_dir(tmp_path)
    assert_valid(doc)
    assert doc["inference"]["artifacts"]["amplitude_png"] is None
    assert any("matplotlib is not installed" in n for n in doc["tracer"]["notes"])


# -- RawData path ----------------------------------------------------------------------------------------------

def test_rawdata_path_run(tmp_path):
    rawdata_run(tmp_path).write()
    doc, line = reduce_dir(tmp_path)
    assert_valid(doc)
    assert line.startswith("parity_tracer: 6/6 required stages")
    assert (doc["pipeline"], doc["scenario"]) == ("sim_lines_4x", "gs1_npz")
    names = [s["name"] for s in doc["intensity_stages"]]
    assert names == list(stagemap.REQUIRED_STAGES) + ["pre_normalization_diffraction"]
    assert stage(doc, "grouped_diffraction")["equivalent"] is False
    assert stage(doc, "grouped_diffraction")["metadata"]["K"] == 4
    assert stage(doc, "grouped_X_full")["source"] == "ptycho.raw_data::normalize_data"
    conf = doc["configuration"]
    assert conf["neighbor_count"] == 4 and conf["group_count"] == 128      # from grouping metadata
    assert conf["loss_fn"] == "mae" and conf["gridsize"] == 1
    assert conf["dataclass_config"] == {"model": {"N": 64, "gridsize": 1}, "nphotons": 1e9, "n_groups": 128}
    ds = doc["provenance"]["dataset_source"]
    assert ds == {"type": "npz_file", "path": "data/raw_data.npz", "checksum": "ab" * 32,
                  "provenance_chain": "loaded from data/raw_data.npz (sha256 %s) by "
                                      "ptycho.raw_data::RawData.from_file" % ("ab" * 32),
                  "source": "ptycho.raw_data::RawData.from_file", "count": 1}
    assert doc["provenance"]["seeds"] == {"object_seed": None, "sim_seed": None, "training_seed": None, "calls": []}
    r = doc["stage_ratios"]
    assert r["raw_to_grouped"] == 1.0
    assert r["grouped_to_normalized"] == pytest.approx(0.05)
    assert r["normalized_to_container"] == 1.0
    assert r["prediction_to_truth"] is None and doc["full_chain_product"] is None
    sym = doc["symmetry_check"]
    assert sym["actual"] is None and sym["violated"] is None
    assert sym["primary_deviation_source"] == "grouped_X_full"
    assert sym["missing_ratios"] == ["prediction_to_truth"]
    # no ground truth: block present, source none, null metrics
    comp = doc["comparison"]
    assert comp["ground_truth_source"] == "none"
    assert comp["amplitude"]["mae"] is None and comp["phase"]["bias_summary"]["p95"] is None
    assert comp["crop_metadata"] == {"target_size": None, "start": None, "end": None}
    tr = doc["training"]
    assert tr["final_loss"] == 0.5 and tr["final_val_loss"] == 0.6     # derived from history
    assert tr["nan_detected"] is True and tr["first_nan_epoch"] == 1
    assert tr["early_stopped"] is True and tr["early_stop_epoch"] == 2
    assert tr["checkpoint_artifact"] is None
    # no probe events: the block keeps its shape with nulls
    assert doc["probe"]["shape"] is None and doc["probe"]["normalization"]["method"] is None
    assert doc["inference"]["stitched_shape"] == [70, 70]


# -- missing stages --------------------------------------------------------------------------------------------

def test_missing_stages_are_null_and_listed(tmp_path):
    s = Stream(tmp_path)
    s.header(pipeline=None, scenario=None)
    s.stage("raw_diffraction", "ptycho.raw_data::RawData.from_file", const_stats((10, 8, 8), 1.0))
    s.stage("container_X", "ptycho.loader::PtychoDataContainer.__init__", {"symbolic": True, "type": "KerasTensor"})
    s.write(footer=False)
    doc, line = reduce_dir(tmp_path)
    assert_valid(doc)
    assert line.startswith("parity_tracer: 2/6 required stages") and line.endswith("(valid)")
    assert doc["pipeline"] == "unknown" and doc["scenario"] is None
    assert doc["missing_stages"] == ["grouped_diffraction", "grouped_X_full", "training_labels_Y_amp",
                                     "inference_prediction"]
    for name in doc["missing_stages"]:
        entry = stage(doc, name)
        assert entry["stats"] is None and entry["source"] is None and entry["absent"] is True
        assert entry["absent_reason"] == stagemap.STAGE_RULES[name].absent_reason
    container = stage(doc, "container_X")
    assert container["stats"]["symbolic"] is True and container["stats"]["mean"] is None
    for block in ("training", "inference", "comparison", "configuration", "probe", "intensity_scale"):
        assert block in doc
    assert doc["intensity_scale"]["used_mode"] is None
    assert doc["training"]["history_artifact"] is None
    assert any("wrote no footer" in n for n in doc["tracer"]["notes"])


def test_pipeline_and_scenario_arguments_override_header(tmp_path):
    rawdata_run(tmp_path).write()
    doc, _ = reduce_dir(tmp_path, pipeline="dose_experiments", scenario="override")
    assert (doc["pipeline"], doc["scenario"]) == ("dose_experiments", "override")


def test_other_profile_stages_kept_outside_spec_list(tmp_path):
    s = rawdata_run(tmp_path)
    s.stage("probe_illumination", "ptycho.model::ProbeIllumination.call", const_stats((1, 8, 8, 1), 1.0))
    s.write()
    doc, _ = reduce_dir(tmp_path)
    assert_valid(doc)
    assert "probe_illumination" not in [e["name"] for e in doc["intensity_stages"]]
    assert doc["tracer"]["other_stages"][0]["name"] == "probe_illumination"


def test_stage_selection_rule(tmp_path):
    s = Stream(tmp_path)
    s.header()
    src = "ptycho.loader::PtychoDataContainer.__init__"
    s.stage("container_X", "some.unknown::thing", const_stats((1, 2, 2), 9.0), role="train")
    s.stage("container_X", src, const_stats((3, 2, 2), 3.0), role="test")
    s.stage("container_X", src, const_stats((4, 2, 2), 4.0), role="train")
    s.stage("container_X", src, const_stats((5, 2, 2), 5.0), role="train")
    s.stage("raw_diffraction", "ptycho.diffsim::mk_simdata", const_stats((6, 2, 2), 1.0), role="train")
    s.stage("raw_diffraction", "ptycho.diffsim::illuminate_and_diffract", const_stats((7, 2, 2), 1.0))
    s.write()
    doc, _ = reduce_dir(tmp_path)
    assert stage(doc, "container_X")["stats"]["mean"] == 4.0
    assert stage(doc, "raw_diffraction")["source"] == "ptycho.diffsim::illuminate_and_diffract"


def test_seed_rules_grid_lines_execution_seed(tmp_path):
    s = Stream(tmp_path)
    s.header()
    ctx = ["ptycho.workflows.grid_lines_workflow::_apply_execution_seed"]
    s.emit("seed", api="random.seed", value=11, order=0, context=ctx)
    s.emit("seed", api="numpy.random.seed", value=11, order=1, context=ctx)
    s.stage("raw_diffraction", "ptycho.diffsim::mk_simdata", const_stats((2, 2, 2), 1.0),
            context=["ptycho.diffsim::mk_simdata"])
    s.emit("seed", api="numpy.random.seed", value=99, order=2, context=[])
    s.write()
    doc, _ = reduce_dir(tmp_path)
    seeds = doc["provenance"]["seeds"]
    assert (seeds["object_seed"], seeds["sim_seed"], seeds["training_seed"]) == (11, 11, 11)
    assert [c["value"] for c in seeds["calls"]] == [11, 11, 99]


# -- several files, merging, robustness -------------------------------------------------------------------------

def test_several_process_files_merged_deterministically(tmp_path):
    parent = grid_run(tmp_path, pid=300, t0=1000.0, with_truth=False)
    parent.write()
    child = Stream(tmp_path, pid=200, t0=1005.0, name="events-host-200-ffff0000.jsonl")
    child.header()
    child.stage("pre_normalization_diffraction", "ptycho.raw_data::RawData.generate_grouped_data",
                const_stats((3, 4, 4, 1), 1.0))
    child.emit("tracer_error", layer="capture", target="x", error="ValueError", message="m")
    child.emit("tracer_error", layer="capture", target="y", error="ValueError", message="m")
    child.write(footer=False)
    doc1, _ = reduce_dir(tmp_path)
    assert_valid(doc1)
    # the child's file sorts first by name but the parent's events come first (header t)
    assert [s["pid"] for s in doc1["tracer"]["streams"]] == [200, 300]
    assert doc1["tracer"]["errors"] == {"capture": 2}
    assert doc1["tracer"]["events"] == len(parent.events) + len(child.events)
    assert "pre_normalization_diffraction" in [s["name"] for s in doc1["intensity_stages"]]
    # renaming files does not change the document
    for p in sorted((tmp_path / "streams").iterdir()):
        p.rename(p.with_name("z-" + p.name))
    doc2, _ = reduce_dir(tmp_path)
    d1, d2 = without_timestamp(doc1), without_timestamp(doc2)
    for d in (d1, d2):
        for st in d["tracer"]["streams"]:
            st.pop("path")
    d1["tracer"]["notes"] = [n for n in d1["tracer"]["notes"] if "footer" not in n]
    d2["tracer"]["notes"] = [n for n in d2["tracer"]["notes"] if "footer" not in n]
    assert d1 == d2


def test_footer_errors_summed_by_layer(tmp_path):
    a = rawdata_run(tmp_path, pid=1)
    a.emit("tracer_error", layer="stats", target="x", error="E", message="m")
    a.write(errors={"stats": 1, "sink": 2})
    b = Stream(tmp_path, pid=2, t0=1_700_000_001.0)
    b.header()
    b.write(errors={"stats": 3})
    doc, line = reduce_dir(tmp_path)
    assert_valid(doc)
    assert doc["tracer"]["errors"] == {"sink": 2, "stats": 4}


def test_truncated_last_line_is_tolerated(tmp_path, capsys):
    s = rawdata_run(tmp_path)
    s.write(footer=False)
    text = s.path.read_text()
    s.path.write_text(text + '{"kind": "stage", "seq": 999, "t": 1.0, "pid": 51')
    doc, line = reduce_dir(tmp_path)
    assert_valid(doc)
    assert line.endswith("(valid)")
    info = doc["tracer"]["streams"][0]
    assert info["truncated"] is True and info["corrupt_lines"] == 0
    assert info["events"] == len(s.events)
    err = capsys.readouterr().err
    assert "%s:%d: truncated last line ignored" % (s.path, len(s.events) + 1) in err


def test_corrupt_middle_line_reported_with_file_and_line(tmp_path, capsys):
    s = rawdata_run(tmp_path)
    s.write()
    lines = s.path.read_text().splitlines()
    lines.insert(3, "{this is not json")
    lines.insert(5, "[1, 2, 3]")
    s.path.write_text("\n".join(lines) + "\n")
    rc = cli.main(["reduce", str(tmp_path), "-o", str(tmp_path / "parity_telemetry.json")])
    assert rc == 0
    err = capsys.readouterr().err.splitlines()
    assert any(l.startswith("%s:4: " % s.path) for l in err)
    assert "%s:6: not a JSON object" % s.path in err
    assert err[-1].startswith("parity_tracer: 6/6 required stages, telemetry -> ")
    doc = jsonio.loads((tmp_path / "parity_telemetry.json").read_bytes())
    assert_valid(doc)
    assert doc["tracer"]["streams"][0]["corrupt_lines"] == 2
    assert doc["tracer"]["events"] == len(s.events)


def test_empty_or_missing_input_exits_2(tmp_path, capsys):
    out = str(tmp_path / "t.json")
    assert cli.main(["reduce", str(tmp_path / "nope"), "-o", out]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file" in err
    (tmp_path / "streams").mkdir()
    assert cli.main(["reduce", str(tmp_path), "-o", out]) == 2
    assert "no event streams" in capsys.readouterr().err
    (tmp_path / "streams" / "events-a.jsonl").write_text("")
    assert cli.main(["reduce", str(tmp_path), "-o", out]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no events" in err
    assert not os.path.exists(out)
    with pytest.raises(reduce.ReduceError):
        reduce.reduce_streams([])


def test_duplicates_counted_once(tmp_path):
    s = rawdata_run(tmp_path)
    s.write()
    copy_path = tmp_path / "copy.jsonl"
    shutil.copy(s.path, copy_path)
    doc_a, _ = reduce_dir(tmp_path)
    doc_b, _ = reduce.reduce_streams([tmp_path / "streams", s.path, copy_path], out_dir=tmp_path)
    assert_valid(doc_b)
    assert_valid(doc_a)
    assert doc_b["tracer"]["events"] == doc_a["tracer"]["events"] == len(s.events)
    assert doc_b["tracer"]["duplicates"] == len(s.events)
    assert len(doc_b["tracer"]["streams"]) == 2          # the same file named twice is read once
    assert doc_b["intensity_stages"] == doc_a["intensity_stages"]


def test_deterministic_apart_from_timestamp(tmp_path):
    grid_run(tmp_path).write()
    doc1, _ = reduce_dir(tmp_path)
    doc2, _ = reduce_dir(tmp_path)
    assert without_timestamp(doc1) == without_timestamp(doc2)
    b1 = jsonio.dumps(without_timestamp(doc1))
    b2 = jsonio.dumps(without_timestamp(doc2))
    assert b1 == b2


def test_strict_json_even_with_non_finite_inputs(tmp_path):
    s = rawdata_run(tmp_path)
    bad = const_stats((4, 2, 2), 1.0)
    bad.update(mean=float("nan"), std=float("inf"), max=float("-inf"), nan_count=3, inf_count=2)
    s.stage("container_X", "ptycho.loader::PtychoDataContainer.__init__", bad, role="train")
    s.write()
    # a non-strict writer: NaN/Infinity tokens in the stream itself
    lines = s.lines()
    raw = s.events[-2]
    lines[-2] = json.dumps(raw)
    assert "NaN" in lines[-2] and "Infinity" in lines[-2]
    s.path.write_text("\n".join(lines) + "\n")
    pred = np.full((1, 6, 6, 1), np.nan, np.float32)
    pred[0, 2:4, 2:4, 0] = np.inf
    s2 = Stream(tmp_path, pid=9, t0=1_700_000_002.0)
    s2.header()
    s2.emit("artifact", name="amplitude_npy", path=save_npy(tmp_path, "allnan.npy", pred), source="x")
    s2.emit("artifact", name="ground_truth_amp_npy", path=save_npy(tmp_path, "gt.npy", np.ones((6, 6))),
            source="x")
    s2.write()
    out = tmp_path / "parity_telemetry.json"
    reduce.reduce_to_file([tmp_path / "streams"], out)
    text = out.read_text()
    for token in ("NaN", "Infinity"):
        assert token not in text
    doc = json.loads(text, parse_constant=lambda c: pytest.fail("non-strict token %s" % c))
    assert_valid(doc)
    cx = stage(doc, "container_X")["stats"]
    assert cx["mean"] is None and cx["std"] is None and cx["max"] is None and cx["nan_count"] == 3
    # no finite prediction pixel: metrics null, not NaN
    assert doc["comparison"]["amplitude"]["mae"] is None and doc["comparison"]["amplitude"]["pixel_count"] == 0
    assert doc["stage_ratios"]["prediction_to_truth"] == pytest.approx(0.9)   # inference event mean / truth 1.0


def test_inference_stats_from_artifact_when_no_inference_event(tmp_path):
    pred = np.full((1, 6, 6, 1), np.nan, np.float32)
    pred[0, 2:4, 2:4, 0] = [[1.0, 2.0], [3.0, np.inf]]
    s = Stream(tmp_path)
    s.header()
    s.emit("artifact", name="amplitude_npy", path=save_npy(tmp_path, "amp.npy", pred), source="x")
    s.write()
    doc, _ = reduce_dir(tmp_path)
    assert_valid(doc)
    amp = doc["inference"]["amplitude"]
    assert amp == {"min": 1.0, "max": 3.0, "mean": 2.0, "std": pytest.approx(np.std([1.0, 2.0, 3.0])),
                   "nan_count": 32}
    assert doc["inference"]["stitched_shape"] == [6, 6]
    assert doc["inference"]["phase"]["mean"] is None


def test_git_provenance_is_what_the_stream_recorded(tmp_path):
    """reduce takes commit/branch/dirty from the ``git`` event the traced process wrote; it never runs git
    itself (the origin folder here is a repository whose fsmonitor would create a file if git ran there)."""
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    repo = tmp_path / "ptychopinn"
    (repo / "ptycho").mkdir(parents=True)
    (repo / "ptycho" / "__init__.py").write_text("")
    subprocess.run(["git", "-C", str(repo), "init", "-q"], check=True, capture_output=True)
    subprocess.run(["git", "-C", str(repo), "config", "core.fsmonitor", "touch %s" % (tmp_path / "PWNED")],
                   check=True, capture_output=True)
    out = tmp_path / "run"
    s = grid_run(out, origin=str(repo / "ptycho" / "__init__.py"))
    s.emit("git", path=str(repo / "ptycho" / "__init__.py"), commit="ab" * 20, branch="dose_experiments",
           dirty=True, error=None)
    s.write()
    doc, _ = reduce_dir(out)
    prov = doc["provenance"]
    assert (prov["commit_hash"], prov["branch"], prov["dirty"]) == ("ab" * 20, "dose_experiments", True)
    assert not (tmp_path / "PWNED").exists()


def test_paths_outside_document_dir_are_absolute(tmp_path):
    rawdata_run(tmp_path).write()
    elsewhere = tmp_path / "reports" / "parity_telemetry.json"
    reduce.reduce_to_file([tmp_path / "streams"], elsewhere)
    doc = jsonio.loads(elsewhere.read_bytes())
    assert_valid(doc)
    assert doc["provenance"]["dataset_source"]["path"] == str(tmp_path / "data" / "raw_data.npz")
    assert doc["tracer"]["streams"][0]["path"].startswith(str(tmp_path / "streams"))
    assert doc["training"]["history_artifact"] == "history.json"
    assert (elsewhere.parent / "history.json").is_file()


def test_reduce_streams_without_out_dir_writes_nothing(tmp_path):
    grid_run(tmp_path).write()
    doc, report = reduce.reduce_streams([tmp_path / "streams"])
    assert_valid(doc)
    assert report["required_found"] == 6 and report["validation_errors"] == []
    assert doc["training"]["history_artifact"] is None
    assert not (tmp_path / "history.json").exists()


def test_invalid_document_is_reported_and_never_written(tmp_path, monkeypatch):
    rawdata_run(tmp_path).write()
    monkeypatch.setattr(build, "SCHEMA_VERSION", "0.9")
    line = reduce.reduce_to_file([tmp_path / "streams"], tmp_path / "parity_telemetry.json")
    assert "NOT written" in line and "INVALID: 1 error" in line and "/schema_version" in line
    assert not (tmp_path / "parity_telemetry.json").exists()
    rc = cli.main(["reduce", str(tmp_path), "-o", str(tmp_path / "parity_telemetry.json")])
    assert rc == 1 and not (tmp_path / "parity_telemetry.json").exists()


def test_split_amplitude_and_phase_inference_events_are_merged(tmp_path):
    """grid_lines stitch_predictions runs once per part: amplitude and phase come from sibling events."""
    s = rawdata_run(tmp_path)
    src = "ptycho.workflows.grid_lines_workflow::stitch_predictions"
    amp = np.full((1, 5, 5, 1), 2.0, np.float32)
    phase = np.full((1, 5, 5, 1), 0.5, np.float32)
    s.emit("inference", source=src, part="amp", stitched_shape=[5, 5], amplitude=real_stats(amp), phase=None,
           group_limit=None, artifacts={"amplitude_npy": save_npy(tmp_path, "a.npy", amp)})
    s.emit("inference", source=src, part="phase", stitched_shape=[5, 5], amplitude=None, phase=real_stats(phase),
           group_limit=None, artifacts={"phase_npy": save_npy(tmp_path, "p.npy", phase)})
    s.emit("inference", source="ptycho.train_pinn::eval", stitched_shape=None, amplitude=None, phase=None,
           group_limit=9, note="stitching returned None")
    s.write()
    doc, _ = reduce_dir(tmp_path)
    assert_valid(doc)
    inf = doc["inference"]
    assert inf["source"] == src
    assert inf["amplitude"]["mean"] == 2.0 and inf["phase"]["mean"] == 0.5
    assert inf["artifacts"]["amplitude_npy"] == "arrays/a.npy" and inf["artifacts"]["phase_npy"] == "arrays/p.npy"


def test_training_prefers_the_pinn_fit(tmp_path):
    s = rawdata_run(tmp_path)
    s.emit("training", source="keras::Model.fit", epochs_completed=5, history={"loss": [9.0] * 5},
           early_stopped=False, early_stop_epoch=None, nan_detected=False, first_nan_epoch=None, final_loss=9.0,
           final_val_loss=None, pinn=False)
    s.emit("training", source="keras::Model.fit", epochs_completed=3, history={"loss": [3.0, 2.0, 1.0]},
           early_stopped=False, early_stop_epoch=None, nan_detected=False, first_nan_epoch=None, final_loss=1.0,
           final_val_loss=None, pinn=True)
    s.write()
    doc, _ = reduce_dir(tmp_path)
    assert doc["training"]["final_loss"] == 1.0 and doc["training"]["epochs_completed"] == 3
    assert doc["training"]["events"] == 3


def test_summarized_cfg_values_and_footer_patch_summary(tmp_path):
    s = Stream(tmp_path)
    s.header()
    cfg = dict(CFG, intensity_scale={"summary": const_stats((), 1234.5)}, nphotons="1e9")
    cfg["intensity_scale"]["summary"]["total_count"] = 1
    s.emit("config", when="training_start", cfg=cfg, dataclass=None)
    s.write(errors={})
    s.events[-1]["patches"] = {"ptycho.model::train": "patched", "ptycho.xpp::get_data": "not_imported",
                               "ptycho.probe::set_probe": "missing"}
    s.path.write_text("\n".join(s.lines()) + "\n")
    doc, _ = reduce_dir(tmp_path)
    assert_valid(doc)
    assert doc["intensity_scale"]["recorded_in_bundle"] == 1234.5
    assert doc["configuration"]["nphotons"] == 1e9
    assert doc["tracer"]["patches"] == {"patched": ["ptycho.model::train"], "missing": ["ptycho.probe::set_probe"],
                                        "failed": [], "not_imported": ["ptycho.xpp::get_data"]}


def test_traced_standin_run_reduces_to_a_valid_document(standin_runs, tmp_path):
    """End to end through the real profile: the stand-in legacy dose pipeline, traced, then reduced again."""
    out = tmp_path / "out"
    shutil.copytree(standin_runs.legacy(), out)     # reduced again here: the shared run stays untouched
    doc, line = reduce_dir(out)
    assert_valid(doc)
    assert line.startswith("parity_tracer: 6/6 required stages") and line.endswith("(valid)"), line
    assert doc["comparison"]["ground_truth_source"] == "simulated_object"
    assert doc["intensity_scale"]["used_mode"] == "fallback"
    assert doc["provenance"]["seeds"]["object_seed"] == 1


# -- malformed field values never break the reducer ---------------------------------------------------------------

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

_garbage = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10 ** 12) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6) | st.sampled_from(["train", "pre", "post", "calculated", "cfg_write", "training_start",
                                             "exit", "amplitude_npy", "ground_truth_amp_npy", "simulated"]),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(["mean", "std", "shape", "loss", "x", "value"]),
                                                      c, max_size=3),
    max_leaves=6)


KINDS = ["header", "patch", "environment", "origin", "stage", "probe", "intensity_scale", "config", "seed",
         "training", "inference", "artifact", "dataset", "tracer_error", "footer"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_malformed_fields_still_give_a_valid_document(tmp_path_factory, data):
    base = tmp_path_factory.mktemp("fuzz")
    run = grid_run(base)
    run.write()
    events = [copy.deepcopy(e) for e in run.events]
    for _ in range(data.draw(st.integers(1, 12))):
        ev = data.draw(st.sampled_from(events))
        keys = sorted(k for k in ev if k not in ("kind", "seq", "pid"))
        if data.draw(st.integers(0, 3)) == 0:    # an event of one kind carrying another kind's fields
            ev["kind"] = data.draw(st.sampled_from(KINDS))
        elif keys:
            ev[data.draw(st.sampled_from(keys))] = data.draw(_garbage)
    stream = base / "fuzz" / "streams" / "events-fuzz.jsonl"
    stream.parent.mkdir(parents=True)
    stream.write_bytes(b"\n".join(jsonio.dumps(e) for e in events) + b"\n")
    # the fields are what is fuzzed; images (rendered where matplotlib is installed) are another test's business
    doc, report = reduce.reduce_streams([stream], out_dir=base / "fuzz", render=False)
    assert report["validation_errors"] == []
    assert "NaN" not in jsonio.dumps(doc).decode()


def test_bias_median_is_exactly_numpys():
    """The comparison's median avoids np.median's numpy.ma import at exit, and gives the same number."""
    rng = np.random.default_rng(7)
    for n in list(range(1, 40)) + [4899, 4900]:
        d = rng.standard_normal(n) * rng.uniform(0.1, 1e3) + rng.uniform(-5, 5)
        assert comparison._median(d) == float(np.median(d)), n


def _nothing_imported_stream(tmp_path, origin=False):
    s = Stream(tmp_path)
    s.header()
    s.emit("patch", target="random::seed", module="random", status="patched", detail=None)
    if origin:
        s.emit("origin", path=str(tmp_path / "ptycho" / "__init__.py"), module="ptycho")
    s.emit("footer", events=s.seq + 1, errors={}, dropped=0,
           patches={"ptycho.diffsim::mk_simdata": "not_imported", "ptycho.train_pinn::train": "not_imported",
                    "random::seed": "patched"})
    s.write(footer=False)


def test_summary_says_when_no_ptycho_module_was_imported(tmp_path):
    _nothing_imported_stream(tmp_path)
    line = reduce.reduce_to_file([tmp_path / "streams"], tmp_path / "parity_telemetry.json")
    assert line == "parity_tracer: no ptycho module was imported, telemetry -> %s (valid)" % (
        tmp_path / "parity_telemetry.json")
    assert_valid(jsonio.loads((tmp_path / "parity_telemetry.json").read_bytes()))


def test_summary_counts_stages_once_the_root_was_imported(tmp_path):
    _nothing_imported_stream(tmp_path, origin=True)
    line = reduce.reduce_to_file([tmp_path / "streams"], tmp_path / "parity_telemetry.json")
    assert line.startswith("parity_tracer: 0/6 required stages, telemetry -> "), line


def test_build_document_is_pure(tmp_path, monkeypatch):
    """The build writes nothing: the history and images it wants are handed to the writer in the report."""
    from parity_tracer import outputs
    from parity_tracer.document import streams
    from parity_tracer.document.build import Provenance, build_document
    s = rawdata_run(tmp_path)
    s.write()
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))

    def refuse(*a, **k):
        raise AssertionError("build_document wrote a file")
    for name in ("replace", "makedirs", "create"):
        if hasattr(outputs, name):
            monkeypatch.setattr(outputs, name, refuse)
    monkeypatch.setattr(jsonio, "dump_pretty", refuse)
    found = streams.read([tmp_path / "streams"])
    doc, report = build_document(found, Provenance(out_dir=tmp_path / "elsewhere"))
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert report["validation_errors"] == [] and report["history"] is not None
    assert doc["training"]["history_artifact"] is None     # named only once written
