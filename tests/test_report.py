"""``report``: one self-contained HTML page per run or comparison; hostile inputs give one line and exit 2.

The stand-in demo's two runs are the inputs (the deliberate run scales X_full by 1.1 at grouped_X_full).
"""

import copy
import json
import os
import re
import shutil
import sys

import numpy as np
import pytest

from conftest import run_py
from parity_tracer import cli, report
from parity_tracer.report import figures, inputs

pytestmark = pytest.mark.slow   # every test here runs the tracer or a pipeline in a fresh interpreter

SECTIONS = ["1. Runs", "2. Verdict", "3. Stages", "4. Reconstructions", "5. Probe", "6. Intensity scale",
            "7. Training", "8. Configuration differences", "9. Sweeps"]


def _page(tmp_path, *args, name="report.html"):
    out = tmp_path / name
    rc = cli.main(["report"] + [str(a) for a in args] + ["-o", str(out)])
    return rc, out.read_text(encoding="utf-8") if out.exists() else None


def _checklist_rows(text):
    table = re.search(r'<table id="checklist">.*?<tbody>(.*?)</tbody>', text, re.S).group(1)
    return re.findall(r"<tr[^>]*><td>(.*?)</td>", table)


def _no_figures(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)


def _doc(folder):
    return json.loads((folder / "parity_telemetry.json").read_text())


def _copy_run(src, dest, **changes):
    shutil.copytree(src, dest)
    if changes:
        doc = _doc(dest)
        doc.update(changes)
        (dest / "parity_telemetry.json").write_text(json.dumps(doc))
    return dest


# -- the page ------------------------------------------------------------------------------------------------------

def test_comparison_page_has_every_section_and_the_checklist(demo_runs, tmp_path, monkeypatch):
    _no_figures(monkeypatch)
    a, b = demo_runs
    rc, text = _page(tmp_path, a, b)
    assert rc == 0
    headings = re.findall(r"<h2>(.*?)</h2>", text)
    assert headings == SECTIONS
    assert _checklist_rows(text) == ["raw_diffraction stats within 1%", "probe stats within 1%",
                                     "grouped_X_full stats within 5%", "intensity_scale within 1%",
                                     "Final amplitude MAE", "pearson_r"]
    assert '<span class="badge bad">FAIL</span>' in text and '<span class="badge ok">PASS</span>' in text
    assert "<b>First divergence:</b> grouped_X_full" in text
    assert "demo_reference" in text and "demo_deliberate demo_normalize_gain" in text
    assert "same-npz" in text                                           # the mode and why
    # self-contained: no script, no external resource of any kind
    assert "<script" not in text and not re.search(r'(src|href)="(?!data:|#)', text)
    assert "@import" not in text and "url(" not in text
    # without matplotlib: every table still there, and the page says how to get the figures
    assert "<img" not in text and "pip install &#x27;parity-tracer[plots]&#x27;" not in text
    assert "pip install 'parity-tracer[plots]'" in text
    assert "No sweep folders given" in text                              # a section without data: one line
    # the deliberate difference is visible in the stage table and the configuration differences
    row = re.search(r'<tr class="diff"><td>grouped_X_full</td>(.*?)</tr>', text).group(1)
    assert re.findall(r"<td[^>]*>(.*?)</td>", row)[2:] == ["1.1", "diverged"]   # B / A is the deliberate gain
    assert "demo.normalize_gain" in text


def test_one_run_describes_that_run(demo_runs, tmp_path, monkeypatch):
    _no_figures(monkeypatch)
    rc, text = _page(tmp_path, demo_runs[0])
    assert rc == 0
    assert re.findall(r"<h2>(.*?)</h2>", text) == SECTIONS
    assert "only one was given" in text and 'id="checklist"' not in text
    assert "Configuration differences need two runs." in text
    assert "demo_reference" in text and "demo_deliberate" not in text
    assert "set_default_probe" in text or "normalize_probe_guess" in text      # the probe table is there


def test_missing_data_is_said_in_one_line(demo_runs, tmp_path, monkeypatch):
    _no_figures(monkeypatch)
    run = _copy_run(demo_runs[0], tmp_path / "bare")
    shutil.rmtree(run / "arrays")
    (run / "history.json").unlink()
    rc, text = _page(tmp_path, run)
    assert rc == 0
    assert "No reconstruction arrays (amplitude.npy / phase.npy) in the runs given." in text
    assert "No probe arrays in the runs given" in text
    assert "No training history (history.json) in the runs given." in text


def test_figures_carry_run_names_and_units(demo_runs, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    drawn = []
    real_png = figures._png

    def capture(fig):
        drawn.append(" | ".join(t.get_text() for t in fig.findobj(lambda o: hasattr(o, "get_text"))))
        return real_png(fig)

    monkeypatch.setattr(figures, "_png", capture)
    a, b = demo_runs
    rc, text = _page(tmp_path, a, b)
    assert rc == 0
    images = re.findall(r'<img alt="([^"]*)" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == 6                        # stages, 3 reconstruction grids, probe, training
    import base64
    for _, data in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    recon, own, diff, probe, training = drawn
    for texts in (recon, own, probe):
        assert "A: demo_reference" in texts and "B: demo_deliberate" in texts
    assert "amplitude |O| (arb. units)" in recon and "phase (rad)" in recon
    assert "MAE %.4g" % _doc(a)["comparison"]["amplitude"]["mae"] in recon    # the document's metrics, per run
    from parity_tracer.maintainer import compare
    assert "stitched x%.4g" % compare.stitch_gain(_doc(b))[0] in recon      # the gain stitching applied
    assert "|P| (arb. units)" in probe and "before normalization" in probe and "after normalization" in probe
    assert "A - truth (demo_reference)" in diff and "B - A" in diff
    assert "A: demo_reference — loss" in training and "epoch" in training


def test_per_run_pngs_carry_the_run_name_and_units(demo_runs, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    drawn = []
    real_png = figures._png
    monkeypatch.setattr(figures, "_png", lambda fig: drawn.append(
        [t.get_text() for t in fig.findobj(lambda o: hasattr(o, "get_text"))]) or real_png(fig))
    a, b = demo_runs
    rc, _ = _page(tmp_path, a, b, "--png-dir", tmp_path / "png")
    assert rc == 0
    names = sorted(p.name for p in (tmp_path / "png").iterdir())
    for label in ("A", "B"):
        for quantity in ("amplitude", "phase", "truth-amplitude", "probe-pre", "probe-post"):
            assert "%s-%s.png" % (label, quantity) in names
    singles = [" | ".join(t) for t in drawn[-len(names):]]      # the per-run images are drawn last, A's first
    count_a = sum(n.startswith("A-") for n in names)
    for i, texts in enumerate(singles):
        assert ("A: demo_reference" if i < count_a else "B: demo_deliberate") in texts
        assert any(unit in texts for unit in (figures.AMP_UNIT, figures.PHASE_UNIT, figures.PROBE_AMP_UNIT))
    for path in (tmp_path / "png").iterdir():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_mode & 0o022 == 0


# -- inputs: delivery folders, documents, sweeps ----------------------------------------------------------------------

def test_delivery_folder_with_another_parity_log_name(demo_runs, tmp_path, monkeypatch):
    _no_figures(monkeypatch)
    src = demo_runs[1]
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    shutil.copy(src / "parity_telemetry.json", delivery / "gs2_log.json")
    (delivery / "config.json").write_text("{}")
    doc = _doc(src)
    np.save(delivery / "amplitude.npy", np.load(src / doc["inference"]["artifacts"]["amplitude_npy"]))
    source = inputs.open_run(str(delivery))
    assert source.kind == "delivery folder" and source.doc_name == "gs2_log.json"
    from parity_tracer.report import gather
    assert gather.run_arrays(source)["amplitude"].shape == (40, 40)
    rc, text = _page(tmp_path, delivery)
    assert rc == 0 and "delivery folder, document gs2_log.json" in text
    shutil.copy(src / "parity_telemetry.json", delivery / "second.json")
    rc, _ = _page(tmp_path, delivery)
    assert rc == 2                                                  # two documents: which one is not guessed


def test_a_bundled_delivery_folder_has_every_image(demo_runs, tmp_path, monkeypatch):
    _no_figures(monkeypatch)
    from parity_tracer.maintainer import bundle
    from parity_tracer.report import gather
    dest = tmp_path / "dose_experiments_ground_truth"
    bundle.make_bundle(demo_runs[0], dest)
    source = inputs.open_run(str(dest))
    assert source.kind == "delivery folder"
    arrays = gather.run_arrays(source)
    assert all(arrays[k] is not None for k in ("amplitude", "phase", "truth_amplitude", "probe_pre",
                                               "probe_post")), [k for k, v in arrays.items() if v is None]
    assert source.notes == []


def _sweep(folder, branch, runs, headline_mae):
    folder.mkdir()
    points = []
    for i, (nphotons, run) in enumerate(runs):
        shutil.copytree(run, folder / ("p%d" % i))
        points.append({"label": "n%g" % nphotons, "nphotons": nphotons, "loss_fn": "poisson",
                       "folder": "p%d" % i, "status": "ok", "telemetry": "p%d/parity_telemetry.json" % i,
                       "headline": {"amplitude_mae": headline_mae, "pearson_r": None, "least_squares_scalar": None,
                                    "intensity_scale_used": None, "model_exp_log_scale": None}})
    points.append({"label": "escapes", "nphotons": 1e7, "loss_fn": "poisson", "folder": "..", "status": "failed",
                   "telemetry": "../../outside.json", "headline": {"amplitude_mae": 0.5}})
    (folder / "sweep.json").write_text(json.dumps({"format": "parity-tracer-sweep/1", "branch": branch,
                                                   "points": points}))
    return folder


def test_sweeps_read_the_documents_first(demo_runs, tmp_path, monkeypatch):
    _no_figures(monkeypatch)
    a, b = demo_runs
    s1 = _sweep(tmp_path / "legacy", "dose_experiments", [(1e4, a), (1e9, b)], headline_mae=99.0)
    s2 = _sweep(tmp_path / "main", "main", [(1e4, b)], headline_mae=77.0)
    rc, text = _page(tmp_path, a, b, "--sweep", s1, "--sweep", s2)
    assert rc == 0
    section = text[text.index('<section id="sweeps">'):]
    assert "dose_experiments" in section and "main" in section
    mae_a = _doc(a)["comparison"]["amplitude"]["mae"]
    assert "%.6g" % mae_a in section and "99" not in re.findall(r"<td[^>]*>(\d+)</td>", section)
    assert re.search(r"<td[^>]*>0.5</td>", section) and "sweep.json headline" in section   # no document: headline
    assert "outside the sweep folder" in section
    # sweep folders alone make a sweeps page; sections 1-8 say there is no run
    rc, text = _page(tmp_path, s1, s2, name="sweeps.html")
    assert rc == 0 and "No run given (sweep folders only)" in text and "<td>n10000</td>" in text


def test_sweep_chart(demo_runs, tmp_path):
    pytest.importorskip("matplotlib")
    a, b = demo_runs
    s1 = _sweep(tmp_path / "legacy", "dose_experiments", [(1e4, a), (1e9, b)], headline_mae=0.2)
    s2 = _sweep(tmp_path / "main", "main", [(1e4, b), (1e9, a)], headline_mae=0.2)
    rc, text = _page(tmp_path, s1, s2)
    assert rc == 0 and 'alt="dose response of the sweeps"' in text


# -- hostile inputs ---------------------------------------------------------------------------------------------

def _cli(tmp_path, *args):
    return run_py(["-m", "parity_tracer", "report"] + [str(a) for a in args], cwd=tmp_path)


def _one_line_exit_2(r):
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("parity_tracer: report: "), r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"no": "schema_version"}', b"\xff\xfe" * 10,
                                     b"[" * 100000])
def test_unusable_document_is_one_line_and_exit_2(tmp_path, content):
    run = tmp_path / "run"
    run.mkdir()
    (run / "parity_telemetry.json").write_bytes(content)
    _one_line_exit_2(_cli(tmp_path, run, "-o", tmp_path / "r.html"))
    assert not (tmp_path / "r.html").exists()


def test_unusable_inputs_are_one_line_and_exit_2(demo_runs, tmp_path):
    outside = tmp_path / "outside.json"
    shutil.copy(demo_runs[0] / "parity_telemetry.json", outside)
    linked = tmp_path / "linked"
    linked.mkdir()
    os.symlink(outside, linked / "parity_telemetry.json")          # a symlink out of the folder is not followed
    _one_line_exit_2(_cli(tmp_path, linked, "-o", tmp_path / "r.html"))
    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "parity_telemetry.json")                       # not a regular file: never opened for reading
    _one_line_exit_2(_cli(tmp_path, fifo, "-o", tmp_path / "r.html"))
    _one_line_exit_2(_cli(tmp_path, tmp_path / "nowhere", "-o", tmp_path / "r.html"))
    _one_line_exit_2(_cli(tmp_path, demo_runs[0], demo_runs[1], demo_runs[0], "-o", tmp_path / "r.html"))
    _one_line_exit_2(_cli(tmp_path, demo_runs[0], "-o", tmp_path / "no" / "such" / "dir.html"))
    bad_sweep = tmp_path / "sweep"
    bad_sweep.mkdir()
    (bad_sweep / "sweep.json").write_text(json.dumps({"format": "something-else", "points": []}))
    _one_line_exit_2(_cli(tmp_path, bad_sweep, "-o", tmp_path / "r.html"))
    other = _copy_run(demo_runs[1], tmp_path / "v2", schema_version="2.0")
    _one_line_exit_2(_cli(tmp_path, demo_runs[0], other, "-o", tmp_path / "r.html"))


def test_files_named_by_the_data_stay_inside_the_folder(demo_runs, tmp_path, monkeypatch):
    _no_figures(monkeypatch)
    secret = tmp_path / "secret.npy"
    np.save(secret, np.full((8, 8), 7.0))
    run = _copy_run(demo_runs[0], tmp_path / "run")
    doc = _doc(run)
    doc["inference"]["artifacts"]["amplitude_npy"] = str(secret)               # absolute, outside
    doc["inference"]["artifacts"]["phase_npy"] = "../secret.npy"               # relative, climbs out
    doc["probe"]["artifacts"] = {"pre_npy": "arrays/link.npy", "post_npy": "arrays"}
    os.symlink(secret, run / "arrays" / "link.npy")                            # a symlink out
    np.save(run / "arrays" / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    doc["comparison"]["ground_truth_artifacts"]["amplitude_npy"] = "arrays/pickled.npy"
    (run / "parity_telemetry.json").write_text(json.dumps(doc))
    source = inputs.open_run(str(run))
    from parity_tracer.report import gather
    arrays = gather.run_arrays(source)
    assert arrays["amplitude"] is None and arrays["phase"] is None           # nothing outside was read
    assert arrays["probe_pre"] is None and arrays["probe_post"] is None
    assert arrays["truth_amplitude"] is None
    assert any("not a readable .npy" in n for n in source.notes)               # pickles are refused
    rc, text = _page(tmp_path, run)
    assert rc == 0 and "No reconstruction arrays" in text


def test_reads_are_bounded(demo_runs, tmp_path, monkeypatch):
    run = _copy_run(demo_runs[0], tmp_path / "run")
    monkeypatch.setattr(inputs, "MAX_ARRAY_BYTES", 1000)
    source = inputs.open_run(str(run))
    from parity_tracer.report import gather
    assert gather.run_arrays(source)["amplitude"] is None
    assert any("more than the 1000 allowed" in n for n in source.notes)
    monkeypatch.setattr(inputs, "MAX_DOCUMENT_BYTES", 1000)
    with pytest.raises(inputs.InputError, match="more than the 1000 allowed"):
        inputs.open_run(str(run))


def test_values_from_the_documents_are_escaped(demo_runs, tmp_path, monkeypatch):
    _no_figures(monkeypatch)
    evil = "<script>alert(1)</script>"
    run = _copy_run(demo_runs[0], tmp_path / "run", pipeline=evil, scenario='"><img src=x onerror=alert(1)>')
    rc, text = _page(tmp_path, run, demo_runs[1])
    assert rc == 0
    assert "<script" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


@pytest.mark.parametrize("block", ["probe", "intensity_scale", "inference", "comparison", "training",
                                   "configuration", "provenance", "intensity_stages", "stage_ratios", "tracer"])
@pytest.mark.parametrize("value", [None, 5, "text", [], {"x": [1, {"y": None}]}])
def test_malformed_blocks_still_make_a_page(demo_runs, tmp_path, monkeypatch, block, value):
    _no_figures(monkeypatch)
    run = _copy_run(demo_runs[1], tmp_path / "run")
    doc = _doc(run)
    doc[block] = copy.deepcopy(value)
    (run / "parity_telemetry.json").write_text(json.dumps(doc))
    rc, text = _page(tmp_path, demo_runs[0], run)
    assert rc == 0 and re.findall(r"<h2>(.*?)</h2>", text) == SECTIONS


def test_page_file_is_not_world_writable(demo_runs, tmp_path, monkeypatch):
    _no_figures(monkeypatch)
    old = os.umask(0)
    try:
        rc, _ = _page(tmp_path, demo_runs[0])
    finally:
        os.umask(old)
    assert rc == 0 and (tmp_path / "report.html").stat().st_mode & 0o022 == 0

