"""Opt-in: ``dose-experiments`` on REAL PtychoPINN checkouts (target-api §7 small sizes, 1 epoch).

    PARITY_TRACER_PTYCHO_LEGACY=/path/to/dose_experiments-checkout  PARITY_TRACER_PTYCHO_LEGACY_PYTHON=/legacy/bin/python
    PARITY_TRACER_PTYCHO_MODERN=/path/to/main-checkout              PARITY_TRACER_PTYCHO_MODERN_PYTHON=/modern/bin/python
    python -m pytest tests/test_real_protocol.py -m real

One legacy and one main delivery (each must pass ``sha256sum -c`` and ``verify``), their comparison (it must name
the known divergences), then both branches trained on the legacy delivery's raw_data.npz and compared in same-NPZ
mode. Several minutes per run on 2 cores. Skipped when the variables are unset; nothing here fetches PtychoPINN.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, clean_env

pytestmark = [pytest.mark.real, pytest.mark.slow]
SMALL = ["--gridsize", "2", "--nepochs", "1", "--size", "128", "--nimgs-train", "1", "--nimgs-test", "1"]


def _checkout(kind):
    path = os.environ.get("PARITY_TRACER_PTYCHO_" + kind)
    if not path or not os.path.isdir(os.path.join(path, "ptycho")):
        pytest.skip("set PARITY_TRACER_PTYCHO_%s to a PtychoPINN checkout to run this test" % kind)
    return path, os.environ.get("PARITY_TRACER_PTYCHO_%s_PYTHON" % kind, sys.executable)


def _dose(python, checkout, cwd, *args):
    # only PYTHONPATH changes, as in the legacy environment
    return subprocess.run([python, "-m", "parity_tracer", "dose-experiments"] + [str(a) for a in args],
                          cwd=str(cwd), env=clean_env(PYTHONPATH=[REPO, checkout]), capture_output=True, text=True,
                          timeout=3600)


def _checked(folder):
    if shutil.which("sha256sum"):
        assert subprocess.run(["sha256sum", "-c", "--strict", "checksums.txt"], cwd=str(folder),
                              capture_output=True).returncode == 0
    v = subprocess.run([sys.executable, "-m", "parity_tracer", "verify", str(folder)], env=clean_env(),
                       capture_output=True, text=True)
    assert v.returncode == 0, v.stdout


@pytest.fixture(scope="module")
def deliveries(tmp_path_factory):
    legacy, legacy_py = _checkout("LEGACY")
    modern, modern_py = _checkout("MODERN")
    tmp = tmp_path_factory.mktemp("real_protocol")
    r = _dose(legacy_py, legacy, tmp, "--output-dir", tmp / "legacy", *SMALL)
    assert r.returncode == 0, r.stderr[-3000:]
    r = _dose(modern_py, modern, tmp, "--output-dir", tmp / "main", "--seed", "7", *SMALL)
    assert r.returncode == 0, r.stderr[-3000:]
    return tmp, (legacy, legacy_py), (modern, modern_py)


def test_real_deliveries_verify_and_compare_names_the_known_divergences(deliveries):
    tmp, _, _ = deliveries
    for name in ("legacy", "main"):
        _checked(tmp / name)
    c = subprocess.run([sys.executable, "-m", "parity_tracer", "compare", str(tmp / "legacy"), str(tmp / "main")],
                       env=clean_env(), capture_output=True, text=True)
    assert c.returncode == 0, c.stderr
    assert "probe_scale 10 vs 4" in c.stdout
    assert "model_exp_log_scale 1761" in c.stdout and "988.2" in c.stdout
    assert "Stitching gain differs" in c.stdout and "norm_Y_I" in c.stdout


def test_real_same_npz_track(deliveries):
    tmp, (legacy, legacy_py), (modern, modern_py) = deliveries
    npz = tmp / "legacy" / "raw_data.npz"
    for name, (checkout, python) in (("legacy_npz", (legacy, legacy_py)), ("main_npz", (modern, modern_py))):
        r = _dose(python, checkout, tmp, "--output-dir", tmp / name, "--train-npz", npz, "--gridsize", "2",
                  "--nepochs", "1")
        assert r.returncode == 0, r.stderr[-3000:]
        _checked(tmp / name)
    c = subprocess.run([sys.executable, "-m", "parity_tracer", "compare", "--format", "json", str(tmp / "legacy_npz"),
                        str(tmp / "main_npz")], env=clean_env(), capture_output=True, text=True)
    report = json.loads(c.stdout)
    assert report["mode"]["used"] == "same-npz"
    assert {i["key"] for i in report["checklist"] if i["requirement"] == "REQUIRED"} == {
        "raw_diffraction", "probe", "grouped_X_full", "intensity_scale"}
    assert report["first_divergent_stage"]["name"] == "grouped_diffraction"
    assert "local_offset_sign 1 vs -1" in report["first_divergent_stage"]["detail"]
