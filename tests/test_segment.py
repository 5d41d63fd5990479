"""Several runs in one process: one document per run, the boundaries explained, compare and bundle per run.

The stand-in study (``modern_dose_study.py``) has the shape of main's dose study: four arms (1e9 / 1e4 photons x
NLL / MAE), either simulate-all, train-all, infer-all (``--order phases``, the study's order) or one arm after the
other (``--order cycles``). The rule tests feed hand-made event lists to ``segment``.
"""

import json
import math
import os
import shutil

import pytest

from conftest import run_py, run_standin, strip_tracer_lines
from parity_tracer.document import segment
from parity_tracer.document.validate import validate_document

LABELS = ["nphotons1e9-nll", "nphotons1e9-mae", "nphotons1e4-nll", "nphotons1e4-mae"]


def _study(tmp, name, *args):
    work = tmp / (name + "_work")
    work.mkdir()
    return run_standin("modern", "modern_dose_study.py", *args, cwd=work, out=tmp / name)


@pytest.fixture(scope="module")
def studies(standin_runs):
    return {order: standin_runs.study(order) for order in ("phases", "cycles", "plain")}


def _shapes(stdout):
    """The study's RESULT lines (shapes, epochs, arms); means and losses carry unseeded noise and training."""
    return [line.rsplit(" ", 1)[0] if "diff3d_mean" in line else line for line in stdout.splitlines()
            if line.startswith("RESULT ")]


def _docs(folder):
    index = json.loads((folder / "runs.json").read_text())
    return index, [json.loads((folder / r["document"]).read_text()) for r in index["runs"]]


@pytest.mark.parametrize("order", ["phases", "cycles"])
def test_a_four_arm_study_gives_one_valid_document_per_arm(studies, order):
    r, folder = studies[order]
    plain = studies["plain"][0]
    assert r.returncode == plain.returncode == 0, r.stderr[-2000:]
    if order == "phases":   # the host's output is untouched
        assert _shapes(r.stdout) == _shapes(plain.stdout)
        assert strip_tracer_lines(r.stderr) == strip_tracer_lines(plain.stderr) == ""
    assert not (folder / "parity_telemetry.json").exists()   # no document quietly mixing the arms
    index, docs = _docs(folder)
    assert [e["label"] for e in index["runs"]] == LABELS
    assert "parity_tracer: 4 runs: " + ", ".join("%d-%s 6/6 valid" % (i, l) for i, l in enumerate(LABELS, 1)) \
        in r.stderr
    for i, (entry, doc) in enumerate(zip(index["runs"], docs), 1):
        assert (folder / "runs" / ("%d-%s" % (i, entry["label"])) / "parity_telemetry.json").is_file()
        assert validate_document(doc) == [] and doc["missing_stages"] == []
        nphotons = 1e9 if "1e9" in entry["label"] else 1e4
        loss = entry["label"].split("-")[1]
        assert doc["configuration"]["nphotons"] == nphotons and doc["configuration"]["loss_fn"] == loss
        # the stand-in's scale is sqrt(nphotons) / (N/2): a mixed-in arm would show the other dose's value
        assert doc["intensity_scale"]["used_value"] == pytest.approx(math.sqrt(nphotons) / 8, rel=1e-6)
        assert doc["training"]["events"] == 1 and doc["training"]["epochs_completed"] == 2
        seg = doc["tracer"]["run_segment"]
        assert (seg["index"], seg["label"], seg["of"]) == (i, entry["label"], 4)
        assert seg["distinguished_by"] == ["nphotons", "loss_fn"]
        assert seg["run_defining"]["nphotons"] == nphotons
        # the object's seed, set once before the first arm, is shared by every arm
        assert 0 in [c["value"] for c in doc["provenance"]["seeds"]["calls"]]
    assert len({d["inference"]["artifacts"]["amplitude_npy"] for d in docs}) == 4
    assert len({d["comparison"]["amplitude"]["mae"] for d in docs}) == 4
    high, low = docs[0], docs[2]
    assert high["intensity_stages"][0]["stats"]["mean"] != low["intensity_stages"][0]["stats"]["mean"]


def test_the_study_order_attaches_data_and_inference_to_their_arm(studies):
    index, docs = _docs(studies["phases"][1])
    for entry in index["runs"]:
        roles = [s["role"] for s in entry["segments"]]
        assert roles == ["shared", "data", "run", "inference"]
        assert all(s["rule"] == "config_changed" for s in entry["segments"][2:])
        assert entry["starts"] and entry["ends"]
    assert index["runs"][0]["starts"].startswith("the stream's first data set, training or inference")
    assert len({json.dumps(e["segments"][0]) for e in index["runs"]}) == 1    # the same shared set-up
    assert index["runs"][-1]["ends"] == "end of the stream"
    assert "loss_fn nll -> mae" in index["runs"][1]["starts"]


def test_cycles_are_cut_where_the_configuration_changes(studies):
    index, _ = _docs(studies["cycles"][1])
    for entry in index["runs"]:
        assert [s["role"] for s in entry["segments"]] == ["shared", "data", "run"]
    assert "nphotons 1e9 -> 1e4" in index["runs"][2]["starts"]


@pytest.mark.slow
def test_a_single_arm_keeps_the_single_top_level_document(tmp_path):
    r = _study(tmp_path, "one", "--arms", "low_mae")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "6/6 required stages, telemetry -> " in r.stderr
    assert (tmp_path / "one" / "parity_telemetry.json").is_file()
    assert not (tmp_path / "one" / "runs.json").exists() and not (tmp_path / "one" / "runs").exists()
    doc = json.loads((tmp_path / "one" / "parity_telemetry.json").read_text())
    assert "run_segment" not in doc["tracer"]


def test_reduce_single_merges_with_a_warning(studies, tmp_path):
    folder = studies["phases"][1]
    out = tmp_path / "merged" / "parity_telemetry.json"
    r = run_py(["-m", "parity_tracer", "reduce", folder / "streams", "-o", out, "--single"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "WARNING: --single: events of 4 runs (%s) merged into one document" % ", ".join(LABELS) in r.stderr
    doc = json.loads(out.read_text())
    assert doc["training"]["events"] == 4
    assert any("merged into one document" in n for n in doc["tracer"]["notes"])
    assert not (tmp_path / "merged" / "runs.json").exists()
    again = run_py(["-m", "parity_tracer", "reduce", folder / "streams", "-o", tmp_path / "split" / "x.json"],
                   cwd=tmp_path)
    assert again.returncode == 0 and "parity_tracer: 4 runs: " in again.stderr
    assert (tmp_path / "split" / "runs.json").is_file() and not (tmp_path / "split" / "x.json").exists()


# -- compare and bundle ------------------------------------------------------------------------------------------

def test_compare_pairs_the_runs_of_two_folders_by_label(studies, tmp_path):
    a, b = studies["phases"][1], studies["cycles"][1]
    r = run_py(["-m", "parity_tracer", "compare", a, b, "--format", "json"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert [p["key"] for p in result["pairs"]] == LABELS
    assert [s["a"] for s in result["summary"]] == ["runs/%d-%s" % (i, l) for i, l in enumerate(LABELS, 1)]
    for p in result["pairs"]:
        assert p["report"]["configuration"]
        assert p["label_a"] == p["label_b"]
    text = run_py(["-m", "parity_tracer", "compare", a, b], cwd=tmp_path).stdout
    assert text.count("Parity checklist (spec §5.3)") == 4 and "Summary: 4 pair(s) by label" in text


def test_compare_by_index_and_against_a_single_document(studies, tmp_path):
    a = studies["phases"][1]
    shuffled = tmp_path / "shuffled"
    (shuffled / "runs").mkdir(parents=True)
    entries = []
    for i, label in enumerate(reversed(LABELS), 1):     # the same runs, in the other order
        src = a / "runs" / ("%d-%s" % (LABELS.index(label) + 1, label))
        shutil.copytree(src, shuffled / "runs" / ("%d-%s" % (i, label)))
        entries.append({"index": i, "label": label})
    (shuffled / "runs.json").write_text(json.dumps({"format": segment.INDEX_FORMAT, "runs": entries}))
    by_label = json.loads(run_py(["-m", "parity_tracer", "compare", a, shuffled, "--format", "json"],
                                 cwd=tmp_path).stdout)
    assert all(p["label_a"] == p["label_b"] for p in by_label["pairs"])
    by_index = json.loads(run_py(["-m", "parity_tracer", "compare", a, shuffled, "--format", "json",
                                  "--pair-by", "index"], cwd=tmp_path).stdout)
    assert [(p["label_a"], p["label_b"]) for p in by_index["pairs"]][0] == (LABELS[0], LABELS[3])
    single = shuffled / "runs" / "2-nphotons1e4-nll" / "parity_telemetry.json"
    r = run_py(["-m", "parity_tracer", "compare", single, a, "--format", "json"], cwd=tmp_path)
    result = json.loads(r.stdout)
    assert [p["key"] for p in result["pairs"]] == ["nphotons1e4-nll"]
    assert len(result["only_in_b"]) == 3 and r.returncode == 1      # three arms have no partner


@pytest.mark.parametrize("damage", ["not_json", "bad_label", "symlinked_run", "missing_run"])
def test_a_hostile_runs_index_is_one_line_and_exit_2(studies, tmp_path, damage):
    src = studies["phases"][1]
    folder = tmp_path / "copy"
    shutil.copytree(src, folder, symlinks=True)
    index = folder / "runs.json"
    if damage == "not_json":
        index.write_bytes(b"\x00{not json")
    elif damage == "bad_label":
        data = json.loads(index.read_text())
        data["runs"][0]["label"] = "../../etc"
        index.write_text(json.dumps(data))
    elif damage == "symlinked_run":
        target = folder / "runs" / "1-nphotons1e9-nll"
        shutil.move(str(target), str(tmp_path / "elsewhere"))
        os.symlink(tmp_path / "elsewhere", target)
    else:
        shutil.rmtree(folder / "runs" / "3-nphotons1e4-nll")
    for argv in (["compare", folder, src], ["bundle", folder, tmp_path / "b", "--run", "nphotons1e9-nll"]):
        r = run_py(["-m", "parity_tracer"] + argv, cwd=tmp_path)
        assert r.returncode == 2, (argv, r.stdout, r.stderr)
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("parity_tracer: %s: " % argv[0])
        assert "Traceback" not in r.stderr


def test_bundle_takes_one_run_of_a_multi_run_folder(studies, tmp_path):
    folder = studies["phases"][1]
    r = run_py(["-m", "parity_tracer", "bundle", folder, tmp_path / "b"], cwd=tmp_path)
    assert r.returncode == 2 and "choose one with --run LABEL" in r.stderr
    r = run_py(["-m", "parity_tracer", "bundle", folder, tmp_path / "b", "--run", "nphotons1e4-nll"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "b" / "parity_telemetry.json").read_text())
    assert doc["tracer"]["run_segment"]["label"] == "nphotons1e4-nll"
    assert doc["configuration"]["nphotons"] == 1e4
    assert "run 3 of 4, `nphotons1e4-nll`" in (tmp_path / "b" / "README.md").read_text()
    assert (tmp_path / "b" / "amplitude.npy").is_file() and (tmp_path / "b" / "history.json").is_file()
    v = run_py(["-m", "parity_tracer", "verify", tmp_path / "b"], cwd=tmp_path)
    assert v.returncode == 0, v.stdout
    r = run_py(["-m", "parity_tracer", "bundle", folder, tmp_path / "c", "--run", "nphotons5-nll"], cwd=tmp_path)
    assert r.returncode == 2 and "has no run 'nphotons5-nll'" in r.stderr


# -- the rules, on hand-made streams -------------------------------------------------------------------------------

def _stream(*specs):
    events = []
    for i, (kind, fields) in enumerate(specs):
        events.append(dict(fields, kind=kind, pid=1, seq=i, _i=i))
    return events


def _cfg(nphotons=1e9, nll=1.0, gridsize=1, when="update_legacy_dict"):
    return ("config", {"when": when, "cfg": {"nphotons": nphotons, "nll_weight": nll, "gridsize": gridsize, "N": 16}})


DATA = ("stage", {"stage": "raw_diffraction", "source": "ptycho.raw_data::RawData.from_simulation"})
TRAIN = ("training", {"source": "keras::Model.fit", "pinn": True})
INFER = ("inference", {"source": "ptycho.tf_helper::reassemble_position"})
SEED = ("seed", {"api": "numpy.random.seed", "value": 7})
CHECKPOINT = ("artifact", {"name": "checkpoint", "path": "wts.h5.zip"})


def _runs(events):
    shared, segments = segment.split(events)
    return shared, segments, segment.assemble(segments)


def test_a_new_data_set_after_inference_starts_a_run_and_takes_its_set_up():
    events = _stream(("header", {}), SEED, DATA, TRAIN, INFER, CHECKPOINT, SEED, DATA, TRAIN, INFER)
    shared, segments, runs = _runs(events)
    assert [e["kind"] for e in shared] == ["header"]
    assert "data_set_after_inference" in [s.started_by["rule"] for s in segments]
    assert len(runs) == 2 and [r.label for r in runs] == ["run", "run-2"]
    first, second = (segment.run_events(r, shared) for r in runs)
    assert [e["seq"] for e in first] == [0, 1, 2, 3, 4, 5]          # the checkpoint stays with its run
    assert [e["seq"] for e in second] == [0, 1, 6, 7, 8, 9]   # the shared seed, and the seed set for this run


def test_a_new_training_after_inference_starts_a_run():
    prep = ("stage", {"stage": "container_X", "source": "ptycho.loader::PtychoDataContainer.__init__"})
    _, segments, runs = _runs(_stream(DATA, TRAIN, INFER, prep, _cfg(when="training_start"), TRAIN, INFER))
    second = next(s for s in segments if s.started_by["rule"] == "training_after_inference")
    assert [e["seq"] for e in second.events] == [3, 4, 5, 6]
    assert len(runs) == 2
    # one data set trained twice: both runs have it
    assert [[e["seq"] for e in segment.run_events(r, [])] for r in runs] == [[0, 1, 2], [0, 3, 4, 5, 6]]


def test_a_baseline_fitted_after_the_model_is_not_a_new_run():
    baseline = ("training", {"source": "keras::Model.fit", "pinn": False})
    _, segments, runs = _runs(_stream(DATA, TRAIN, INFER, baseline, INFER))
    assert [s.started_by["rule"] for s in segments] == ["start", "work_after_data"] and runs is None


def test_data_made_first_is_given_to_the_run_it_matches():
    events = _stream(_cfg(1e9, 1.0), DATA, _cfg(1e4, 0.0), DATA,
                     _cfg(1e4, 0.0, gridsize=2), TRAIN, _cfg(1e9, 1.0, gridsize=2), TRAIN)
    _, segments, runs = _runs(events)
    assert [r.label for r in runs] == ["nphotons1e4-mae", "nphotons1e9-nll"]
    assert [e["seq"] for e in segment.run_events(runs[0], [])] == [0, 2, 3, 4, 5]
    assert [e["seq"] for e in segment.run_events(runs[1], [])] == [0, 1, 6, 7]
    assert runs[0].distinguished_by == ["nphotons", "loss_fn"]


def test_a_training_that_failed_is_still_its_own_run():
    """main's dose study at low dose: fit raises (NaN), the script goes on with the next arm, skips its inference."""
    start = ("config", {"when": "training_start", "cfg": {"nphotons": 1e4, "nll_weight": 1.0, "gridsize": 2,
                                                          "N": 16}})
    events = _stream(_cfg(1e9), DATA, _cfg(1e4), DATA,
                     _cfg(1e9, gridsize=2), TRAIN,
                     _cfg(1e4, gridsize=2), start,
                     _cfg(1e9, gridsize=2), INFER)
    _, _, runs = _runs(events)
    assert [r.label for r in runs] == ["nphotons1e9", "nphotons1e4"]
    assert [e["seq"] for e in segment.run_events(runs[0], [])] == [0, 1, 4, 5, 8, 9]
    assert [e["seq"] for e in segment.run_events(runs[1], [])] == [0, 2, 3, 6, 7]


def test_a_data_set_of_a_dose_no_run_has_goes_to_no_run():
    events = _stream(_cfg(1e9), DATA, _cfg(1e4), DATA, _cfg(1e9, gridsize=2), TRAIN, INFER,
                     _cfg(1e9, 0.0, gridsize=2), TRAIN, INFER)
    _, segments, runs = _runs(events)
    assert [r.label for r in runs] == ["nll", "mae"]
    assert all(3 not in [e["seq"] for e in segment.run_events(r, [])] for r in runs)
    assert [u["first"]["seq"] for u in segment.unattached(segments)] == [2]


def test_one_data_set_trained_twice_goes_to_both_runs():
    events = _stream(DATA, _cfg(1e9, 1.0), TRAIN, INFER, _cfg(1e9, 0.0), TRAIN, INFER)
    _, _, runs = _runs(events)
    assert [r.label for r in runs] == ["nll", "mae"]
    assert [[e["seq"] for e in segment.run_events(r, [])] for r in runs] == [[0, 1, 2, 3], [0, 4, 5, 6]]


def test_labels_are_short_and_file_name_safe():
    assert [segment.fmt_value(v) for v in (1e9, 1e4, 2.5e6, 1000.0, 1e-5, 64, "nll")] == \
        ["1e9", "1e4", "2.5e6", "1000", "1e-5", "64", "nll"]
