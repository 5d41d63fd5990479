"""The numpy stand-in PtychoPINN packages (``parity_tracer/demo/standin``), run untraced.

Each driver script runs in a fresh interpreter (cwd = a tmp dir, PYTHONPATH = the layout dir) and
the hazards of target-api §0/§2/§3/§4/§5 that the tracer must survive are checked to exist.
"""
import textwrap

import pytest

from conftest import REPO, SCRIPTS, STANDIN, STANDIN_PKG, clean_env, run_py

pytestmark = pytest.mark.slow   # every test here runs a stand-in pipeline in a fresh interpreter

LAYOUT = {"legacy": STANDIN / "legacy", "modern": STANDIN / "modern"}
NS = {layout: STANDIN_PKG % layout for layout in LAYOUT}


def _run(argv, cwd, pythonpath, **extra):
    """The stand-in alone (no tracer on the path, no PtychoPINN or Keras switches inherited)."""
    env = clean_env(tracer_on_path=False, drop=("PTYCHO_", "TF_USE_LEGACY_KERAS"), PYTHONPATH=pythonpath, **extra)
    proc = run_py(argv, cwd, env=env)
    assert proc.returncode == 0, f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
    return proc


def results(stdout):
    """``RESULT key value`` lines -> {key: [value, ...]} in order."""
    out = {}
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            key, _, value = line[len("RESULT "):].partition(" ")
            out.setdefault(key, []).append(value)
    return out


def script(name, *args, cwd, layout="legacy", namespaced=False, **extra):
    pythonpath = [REPO] if namespaced else [LAYOUT[layout]]
    if namespaced:
        args = ("--pkg", NS[layout]) + args
    proc = _run([SCRIPTS / name] + list(args), cwd, pythonpath, **extra)
    return results(proc.stdout), proc


def code(*parts, cwd, layout, **extra):
    """Run snippet parts (each dedented) with the layout's ``ptycho`` importable; returns stdout."""
    src = "\n".join(textwrap.dedent(part) for part in parts)
    return _run(["-c", src], cwd, [LAYOUT[layout]], **extra).stdout


def scales(value):
    return {k: float(v) for k, v in (part.split("=") for part in value.split())}


def counters(value):
    return {k: int(v) for k, v in (part.split("=") for part in value.split())}


# cfg of the scaled-down legacy dose row (N=16, size=48), for snippets
DOSE_CFG = """
    from ptycho import params
    params.cfg.update(N=16, size=48, gridsize=2, offset=4, outer_offset_train=8, outer_offset_test=20,
                      nimgs_train=1, nimgs_test=1, nepochs=1, data_source='lines', max_position_jitter=10)
    params.cfg['object.big'] = True
    params.cfg['intensity_scale.trainable'] = True
    from ptycho import probe
    probe.set_default_probe()
"""


# --- driver scripts ---------------------------------------------------------------------------

def test_legacy_dose_runs_pipeline_and_model_captures_sim_scale(tmp_path):
    r, _ = script("legacy_dose.py", cwd=tmp_path)
    assert r["stitched_obj"] == ["(1, 30, 30, 1) complex64"]
    assert r["YY_ground_truth"] == ["(30, 30, 1) complex64"]
    assert r["X_train"] == ["(64, 16, 16, 4) float32"]
    assert r["X_test"] == ["(9, 16, 16, 4) float32"]
    assert r["coords_train"] == ["(64, 1, 2, 4) float32"]
    assert r["reconstructed_obj"] == ["(9, 16, 16, 1) complex64"]
    assert r["pred_amp"] == ["(9, 16, 16, 4) float32"]
    keys = set(r["history_keys"][0].split())
    assert {"loss", "val_loss", "lr", "trimmed_obj_loss", "tf.math.multiply_loss",
            "distribution_lambda_loss"} <= keys
    assert r["model_builds"] == ["1"]
    assert counters(r["sim_calls"][0])["illuminate_and_diffract"] == 2
    s = scales(r["intensity_scale"][0])
    # §0.4: the import-time model keeps the simulation scale; cfg holds sqrt(nphotons)/(N/2)
    assert s["cfg"] == pytest.approx(31622.7766 / 8, rel=1e-5)
    assert s["model"] == pytest.approx(s["sim"], rel=1e-4)
    assert 1.3 < s["model"] / s["cfg"] < 3
    out = next((tmp_path / "lines2").iterdir())
    assert {"history.dill", "recon.dill", "wts.h5_autoencoder"} <= {p.name for p in out.iterdir()}
    assert len(list((tmp_path / "memoized_data").glob("*.npz"))) == 2


def test_second_run_in_same_cwd_hits_the_memo_cache(tmp_path):
    first, _ = script("legacy_dose.py", cwd=tmp_path)
    second, _ = script("legacy_dose.py", cwd=tmp_path)
    assert counters(first["sim_calls"][0])["sim_object_image"] == 2
    assert set(counters(second["sim_calls"][0]).values()) == {0}
    assert second["stitched_obj"] == ["(1, 30, 30, 1) complex64"]


def test_legacy_dose_reload_runs_again(tmp_path):
    r, _ = script("legacy_dose.py", "--reload", cwd=tmp_path)
    assert r["run"] == ["1", "2"]
    assert r["stitched_obj"] == ["(1, 30, 30, 1) complex64"] * 2
    assert r["train_pinn_has_model_attr"] == ["False"]     # dose.py's reload(train.train_pinn.model) would fail
    assert r["model_builds"] == ["1", "2"]


def test_legacy_dose_gridsize1(tmp_path):
    r, _ = script("legacy_dose.py", "--gridsize", "1", "--nphotons", "1e6", cwd=tmp_path)
    assert r["stitched_obj"] == ["(1, 40, 40, 1) complex64"]
    assert r["X_train"] == ["(81, 16, 16, 1) float32"]


@pytest.mark.parametrize("gridsize,side", [(1, 40), (2, 30)])
def test_modern_grid_lines(tmp_path, gridsize, side):
    import numpy as np
    r, _ = script("modern_grid_lines.py", "--gridsize", str(gridsize), "--output-dir", "out",
                  cwd=tmp_path, layout="modern")
    assert r["recon.YY_pred"] == [f"({side}, {side}) complex64"]
    assert r["object.big"] == ["False"]
    s = scales(r["intensity_scale"][0])
    assert s["model"] == pytest.approx(s["cfg"], rel=1e-5)    # modern builds after the overwrite
    with np.load(tmp_path / "out" / "recons" / "pinn" / "recon.npz") as recon:
        assert set(recon.files) == {"YY_pred", "amp", "phase"}
    assert (tmp_path / "out" / "pinn" / "wts.h5.zip").is_file()
    assert (tmp_path / "out" / "datasets" / "N16" / f"gs{gridsize}" / "test.npz").is_file()


def test_modern_grid_lines_seed_makes_runs_identical(tmp_path):
    import numpy as np
    recons = []
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        script("modern_grid_lines.py", "--seed", "7", cwd=tmp_path / run, layout="modern")
        with np.load(tmp_path / run / "grid_lines_out" / "recons" / "pinn" / "recon.npz") as recon:
            recons.append(recon["YY_pred"])
    assert np.array_equal(recons[0], recons[1])


def test_modern_legacy_equivalent(tmp_path):
    r, _ = script("modern_legacy_equivalent.py", cwd=tmp_path, layout="modern")
    assert r["stitched_obj"] == ["(1, 30, 30, 1) complex64"]
    assert r["YY_ground_truth"] == ["(30, 30, 1) complex64"]
    assert r["batch_collapse"] == ["test_groups=9 predicted_rows=9 collapsed=False"]
    keys = set(r["history_keys"][0].split())
    assert {"loss", "val_loss", "learning_rate", "intensity_scaler_inv_loss", "pred_intensity_loss"} <= keys
    s = scales(r["intensity_scale"][0])
    assert s["model"] == pytest.approx(s["cfg"], rel=1e-5) and s["sim"] > 1.3 * s["cfg"]


def test_modern_object_big_gridsize2_collapses_the_batch(tmp_path):
    r, proc = script("modern_legacy_equivalent.py", "--nimgs-test", "2", cwd=tmp_path, layout="modern")
    assert r["batch_collapse"] == ["test_groups=18 predicted_rows=1 collapsed=True"]
    assert r["stitched_obj"] == ["None"]
    assert "Object stitching failed" in proc.stdout


@pytest.mark.parametrize("layout,sign", [("modern", "-1"), ("legacy", "1")])
def test_rawdata_path(tmp_path, layout, sign):
    r, proc = script("modern_rawdata_path.py", cwd=tmp_path, layout=layout)
    assert r["train.X_full"] == ["(81, 16, 16, 1) float32"]
    assert r["reconstructed_obj"] == ["(81, 16, 16, 1) complex64"]
    assert r["reassembled"] == ["(40, 40, 1) complex64"]
    assert r["local_offset_sign"] == [sign]
    assert r["diff3d"] == ["(81, 16, 16) " + ("float64" if layout == "modern" else "float32")]
    assert counters(r["sim_calls"][0])["illuminate_and_diffract"] == 2
    assert (tmp_path / "raw_train.npz").is_file()
    # legacy from_simulation cuts complex patches into a float canvas
    assert ("ComplexWarning" in proc.stderr) == (layout == "legacy")


def test_rawdata_path_gridsize2_groups(tmp_path):
    r, _ = script("modern_rawdata_path.py", "--gridsize", "2", "--object-big", "0", cwd=tmp_path, layout="modern")
    assert r["train.X_full"] == ["(81, 16, 16, 4) float32"]
    assert r["train.coords_relative"] == ["(81, 1, 2, 4) float64"]
    assert r["batch_collapse"][0].endswith("collapsed=False")


@pytest.mark.parametrize("name,layout", [("legacy_dose.py", "legacy"), ("modern_grid_lines.py", "modern"),
                                         ("modern_rawdata_path.py", "legacy")])
def test_scripts_on_namespaced_package(tmp_path, name, layout):
    r, _ = script(name, cwd=tmp_path, layout=layout, namespaced=True)
    assert r["package"][0].startswith(NS[layout] + " ")


# --- hazards, checked untraced ------------------------------------------------------------------

def test_import_train_runs_pipeline_and_aliases(tmp_path):
    out = code(DOSE_CFG, """
        import sys
        import numpy as np
        assert 'ptycho.train' not in sys.modules and 'ptycho.model' not in sys.modules
        import ptycho.train as train
        from ptycho import model, diffsim, data_preprocessing, generate_data, loader, raw_data
        assert train.stitched_obj.shape == (1, 30, 30, 1)
        assert train.YY_ground_truth.shape == (30, 30, 1)
        assert set(train.train_output) >= {'history', 'reconstructed_obj', 'pred_amp', 'stitched_obj'}
        assert train.history.history['loss'] and train.history.epoch == [0]
        assert train.ptycho_dataset is generate_data.ptycho_dataset
        assert generate_data.generate_data is data_preprocessing.generate_data
        assert loader.RawData is raw_data.RawData
        assert data_preprocessing.datasets is diffsim
        assert model._builds == 1 and diffsim._calls['illuminate_and_diffract'] == 2
        # the model's log_scale is not among the trained variables and stays at its import-time value
        assert all(v is not model.log_scale for v in model.autoencoder.trainable_variables)
        assert abs(model.log_scale.numpy() - np.log(float(train.ptycho_dataset.train_data.norm_Y_I))) < 1e-5
        print('OK')
    """, cwd=tmp_path, layout="legacy")
    assert out.rstrip().endswith("OK")


def test_memo_hit_returns_numpy_and_skips_inner_functions(tmp_path):
    snippet = (DOSE_CFG, """
        import numpy as np
        from ptycho import diffsim, params
        res = diffsim.mk_simdata(1, 48, params.get('probe'), 20, 1000.0, which='test')
        assert len(res) == 7 and res[0].shape == (9, 16, 16, 4)
        print('TYPE', type(res[6]).__name__, np.shape(res[6]), diffsim._calls['sim_object_image'])
    """)
    first = code(*snippet, cwd=tmp_path, layout="legacy")
    second = code(*snippet, cwd=tmp_path, layout="legacy")
    assert "TYPE tuple (2, 9, 1, 2, 4) 1" in first
    assert "TYPE ndarray (2, 9, 1, 2, 4) 0" in second      # npz round trip: the coords tuple became one array


def test_modern_memoize_can_be_disabled(tmp_path):
    out = code(DOSE_CFG, """
        import os
        from ptycho import diffsim, params
        assert not os.path.exists('memoized_data')
        for _ in range(2):
            diffsim.mk_simdata(1, 48, params.get('probe'), 20, 1000.0)
        print('CALLS', diffsim._calls['illuminate_and_diffract'])
    """, cwd=tmp_path, layout="modern", PTYCHO_DISABLE_MEMOIZE=1)
    assert "CALLS 2" in out
    assert not (tmp_path / "memoized_data").exists()


def test_modern_model_is_lazy_and_hasattr_builds(tmp_path):
    out = code(DOSE_CFG, """
        import warnings
        import numpy as np
        from ptycho import model, params, loader, data_preprocessing
        assert model._builds == 0 and 'log_scale' not in model._lazy_cache
        ds = data_preprocessing.generate_data()[7]
        try:                      # bare global `autoencoder` inside model.train: not set yet
            model.train(1, ds.train_data)
        except NameError as e:
            print('NAMEERROR', e)
        params.cfg['intensity_scale'] = 1234.5
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter('always')
            assert hasattr(model, 'autoencoder')
        assert model._builds == 1 and any(issubclass(x.category, DeprecationWarning) for x in w)
        assert hasattr(model, 'diffraction_to_obj') and model._builds == 1
        assert abs(np.exp(model._lazy_cache['log_scale'].numpy()) - 1234.5) < 0.1
        assert model.autoencoder.get_layer('intensity_scaler').w is model._lazy_cache['log_scale']
        assert model._lazy_cache['log_scale'] not in model.autoencoder.trainable_variables
        print('OK')
    """, cwd=tmp_path, layout="modern")
    assert "NAMEERROR" in out and "autoencoder" in out and out.rstrip().endswith("OK")


def test_modern_log_scale_trains_only_with_legacy_keras(tmp_path):
    snippet = (DOSE_CFG, """
        import numpy as np
        from ptycho import data_preprocessing, train_pinn, model
        ds = data_preprocessing.generate_data()[7]
        train_pinn.train(ds.train_data)
        print('MOVED', abs(np.exp(model._lazy_cache['log_scale'].numpy()) - 3952.847) > 1e-3)
    """)
    assert "MOVED False" in code(*snippet, cwd=tmp_path, layout="modern")
    assert "MOVED True" in code(*snippet, cwd=tmp_path, layout="modern", TF_USE_LEGACY_KERAS=1)


def test_modern_container_properties_are_lazy(tmp_path):
    out = code("""
        import numpy as np
        from ptycho import loader
        X = np.ones((3, 16, 16, 1), np.float64)
        c = loader.PtychoDataContainer(X, X, 0 * X, 1.0, None, np.zeros((3, 1, 2, 1)), np.zeros((3, 1, 2, 1)),
                                       None, None, None, np.ones((16, 16, 1), np.complex64))
        n0 = loader._lazy_conversions
        repr(c); len(c); c.norm_Y_I; c.global_offsets
        assert loader._lazy_conversions == n0
        assert c.X.dtype == np.float32 and loader._lazy_conversions == n0 + 1
        c.X
        assert loader._lazy_conversions == n0 + 1
        c.coords; c.probe
        assert loader._lazy_conversions == n0 + 3
        assert isinstance(type(c).__dict__['X'], property)
        print('OK')
    """, cwd=tmp_path, layout="modern")
    assert out.rstrip().endswith("OK")


@pytest.mark.parametrize("layout", ["legacy", "modern"])
def test_train_asserts_exact_container_type(tmp_path, layout):
    out = code(DOSE_CFG, """
        import numpy as np
        from ptycho import params, loader
        params.cfg['intensity_scale'] = 1000.0
        from ptycho import model
        class Sub(loader.PtychoDataContainer):
            pass
        X = np.ones((4, 16, 16, 4), np.float32)
        c = Sub(X, X, 0 * X, 1.0, None, np.zeros((4, 1, 2, 4), np.float32), np.zeros((4, 1, 2, 4), np.float32),
                None, None, None, params.get('probe'))
        try:
            model.train(1, c)
        except AssertionError:
            print('ASSERTED')
    """, cwd=tmp_path, layout=layout)
    assert "ASSERTED" in out


def test_modern_from_import_aliases(tmp_path):
    out = code("""
        from ptycho import train_pinn, image, loader, raw_data
        import ptycho.image.stitching as stitching
        assert train_pinn.reassemble_patches is stitching.reassemble_patches
        assert train_pinn._reassemble_patches is stitching.reassemble_patches
        assert image.reassemble_patches is stitching.reassemble_patches
        assert loader.RawData is raw_data.RawData
        print('OK')
    """, cwd=tmp_path, layout="modern")
    assert out.rstrip().endswith("OK")


@pytest.mark.parametrize("layout", ["legacy", "modern"])
def test_reload_rebinds_functions_and_leaves_aliases_stale(tmp_path, layout):
    out = code(DOSE_CFG, """
        import importlib
        from ptycho import diffsim, data_preprocessing, generate_data
        original = diffsim.illuminate_and_diffract
        def wrapper(*a, **k):
            return original(*a, **k)
        diffsim.illuminate_and_diffract = wrapper
        importlib.reload(diffsim)
        assert diffsim.illuminate_and_diffract is not wrapper
        assert diffsim.illuminate_and_diffract is not original
        assert data_preprocessing.datasets is diffsim          # module alias sees the rebound function
        importlib.reload(data_preprocessing)
        assert generate_data.generate_data is not data_preprocessing.generate_data   # stale from-import alias
        print('OK')
    """, cwd=tmp_path, layout=layout)
    assert out.rstrip().endswith("OK")


def test_import_time_preconditions(tmp_path):
    # legacy data_preprocessing asserts at import; legacy model needs cfg['probe']; nbutils builds the model
    out = code("""
        try:
            import ptycho.data_preprocessing
        except AssertionError:
            print('DP-ASSERT')
    """, cwd=tmp_path, layout="legacy")
    out += code("""
        try:
            import ptycho.model
        except KeyError as e:
            print('MODEL-KEYERROR', e)
    """, cwd=tmp_path, layout="legacy")
    # §0.2: without probe.set_default_probe() the dose flow dies in generate_data
    out += code(DOSE_CFG.replace("probe.set_default_probe()", "pass"), """
        try:
            import ptycho.train
        except KeyError as e:
            print('TRAIN-KEYERROR', e)
    """, cwd=tmp_path, layout="legacy")
    out += code("""
        import sys
        from ptycho import params, probe
        params.cfg['N'] = 16
        probe.set_default_probe()
        params.cfg['intensity_scale'] = 100.0
        import ptycho.nbutils
        print('BUILDS', sys.modules['ptycho.model']._builds)
    """, cwd=tmp_path, layout="legacy")
    assert "DP-ASSERT" in out and "MODEL-KEYERROR 'probe'" in out and "BUILDS 1" in out
    assert "TRAIN-KEYERROR 'probe'" in out
    # modern: data_source defaults to 'generic', the model import is side-effect free
    out = code("""
        import ptycho.data_preprocessing, ptycho.model, ptycho.nbutils
        print('BUILDS', ptycho.model._builds, ptycho.params.cfg['N'], ptycho.params.get('nope', 7))
    """, cwd=tmp_path, layout="modern")
    assert "BUILDS 0 128 7" in out


@pytest.mark.parametrize("layout", ["legacy", "modern"])
def test_probe_intensity_scale_and_config_mapping(tmp_path, layout):
    out = code("""
        import numpy as np
        from ptycho import params, probe, train_pinn, raw_data, loader
        from ptycho.config.config import ModelConfig, TrainingConfig, update_legacy_dict
        params.cfg['N'] = 16
        raw = probe.get_default_probe(16, fmt='np') * 3
        assert raw.dtype == np.float64 and probe.get_default_probe(16).shape == (16, 16, 1)
        ret = probe.set_probe_guess(probe_guess=raw)
        assert ret.shape == (16, 16, 1) and np.allclose(np.abs(ret[..., 0]), raw)        # un-normalized input
        pr = params.cfg['probe']
        assert pr.dtype == np.complex64 and pr.shape == (16, 16, 1)
        mask = probe.get_probe_mask(16)
        assert abs(params.get('probe_scale') * np.mean(np.abs(mask * pr)) - 1) < 1e-5
        assert probe.set_probe(pr) is None and np.allclose(params.cfg['probe'], pr, rtol=1e-5)   # idempotent
        s = train_pinn.calculate_intensity_scale(None)
        assert s.dtype == np.float32 and abs(s - np.sqrt(1e9) / 8) < 1e-2
        # normalize_data: raw_data's is the live one (module-global call), loader's twin is dead
        calls = []
        orig = raw_data.normalize_data
        raw_data.normalize_data = lambda d, N: (calls.append(N), orig(d, N))[1]
        loader.normalize_data = lambda d, N: 1 / 0
        params.cfg['gridsize'] = 1
        x = np.arange(4.0)
        r = raw_data.RawData(x, x, x, x, np.ones((4, 16, 16)), np.ones((16, 16), np.complex64), np.zeros(4, int))
        d = r.generate_grouped_data(16, nsamples=4) if 'seed' in raw_data.RawData.generate_grouped_data.__code__.co_varnames \\
            else r.generate_grouped_data(16)
        assert calls == [16] and d['X_full'].shape == (4, 16, 16, 1)
        assert abs(np.mean(np.sum(d['X_full'] ** 2, axis=(1, 2))) - 64) < 1e-3
        cfg = {}
        update_legacy_dict(cfg, TrainingConfig(model=ModelConfig(N=16, object_big=False), train_data_file=None))
        print('MAP', cfg['object.big'], cfg['probe_scale'], cfg['intensity_scale.trainable'],
              'train_data_file' in cfg, 'train_data_file_path' in cfg)
    """, cwd=tmp_path, layout=layout)
    # legacy copies None values under the dataclass name; main maps it and skips None
    expected = "MAP False 4.0 True True False" if layout == "legacy" else "MAP False 4.0 True False False"
    assert expected in out
