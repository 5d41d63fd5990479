"""The traced program's exit renders nothing and never imports matplotlib; the images are made offline on demand."""

import json

import pytest

from conftest import SCRIPTS, clean_env, run_py
from parity_tracer.document import figures

pytestmark = pytest.mark.slow   # every test here runs the tracer or a pipeline in a fresh interpreter

PKG = "parity_tracer.demo.standin.legacy.ptycho"


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    """The legacy stand-in traced with a matplotlib on the path that leaves a mark when anything imports it."""
    tmp = tmp_path_factory.mktemp("exit")
    spy = tmp / "spy" / "matplotlib"
    spy.mkdir(parents=True)
    mark = tmp / "matplotlib_imported"
    (spy / "__init__.py").write_text("open(%r, 'a').write('imported\\n')\nraise ImportError('spy')\n" % str(mark))
    work, out = tmp / "work", tmp / "run"
    work.mkdir()
    r = run_py(["-m", "parity_tracer", "run", "--out", out, SCRIPTS / "legacy_dose.py", "--pkg", PKG, "--nepochs", "1"],
               cwd=work, env=clean_env(PYTHONPATH=[spy.parent], PARITY_TRACER_MODULE_PREFIX=PKG))
    assert r.returncode == 0, r.stderr[-2000:]
    return out, mark, r


def test_exit_neither_imports_matplotlib_nor_renders(traced):
    out, mark, r = traced
    assert "6/6 required stages" in r.stderr and "(valid)" in r.stderr
    assert not mark.exists()
    assert sorted(p.name for p in out.rglob("*.png")) == []
    doc = json.loads((out / "parity_telemetry.json").read_text())
    arts = doc["inference"]["artifacts"]
    assert arts["amplitude_png"] is None and arts["phase_png"] is None
    assert figures.NOT_AT_EXIT in doc["tracer"]["notes"]
    assert (out / arts["amplitude_npy"]).is_file() and (out / arts["phase_npy"]).is_file()   # kept for later


def test_bundle_renders_the_images_from_the_saved_arrays(traced, tmp_path):
    out, _, _ = traced
    dest = tmp_path / "delivery"
    r = run_py(["-m", "parity_tracer", "bundle", out, dest], cwd=tmp_path, env=clean_env())
    assert r.returncode == 0, r.stderr
    doc = json.loads((dest / "parity_telemetry.json").read_text())
    readme = (dest / "README.md").read_text()
    if figures.unavailable() is None:
        for part in ("amplitude", "phase"):
            assert (dest / (part + ".png")).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert doc["inference"]["artifacts"][part + "_png"] == part + ".png"
        assert "rendered by bundle from `amplitude.npy`" in readme
        assert run_py(["-m", "parity_tracer", "verify", dest], cwd=tmp_path, env=clean_env()).returncode == 0
    else:
        assert not (dest / "amplitude.png").exists() and doc["inference"]["artifacts"]["amplitude_png"] is None
        assert "`amplitude.png` not rendered: matplotlib is not installed." in readme


@pytest.mark.slow
def test_a_program_that_imports_no_ptycho_module_says_so(tmp_path):
    """Tracing the wrong program (or one that fails before importing ptycho) must not read as a valid 0/6 run."""
    (tmp_path / "plain.py").write_text("import random\nrandom.seed(1)\nprint('hello')\n")
    r = run_py(["-m", "parity_tracer", "run", "--out", tmp_path / "out", "plain.py"], cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == "hello\n", r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("parity_tracer: no ptycho module was imported, telemetry -> "), line
    assert "required stages" not in line
