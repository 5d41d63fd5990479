"""TensorFlow-dependent capture: Keras ``fit`` (Keras 3, and Keras 2 via TF 2.15 or TF_USE_LEGACY_KERAS=1),
eager versus symbolic tensors, and the model's log-scale variable. Skipped when TensorFlow is not installed."""

import json
import textwrap

import pytest

from conftest import clean_env, kinds, read_events, run_py

tf = pytest.importorskip("tensorflow")
pytestmark = pytest.mark.tf

FIT = textwrap.dedent('''
    import numpy as np, tensorflow as tf
    keras = tf.keras
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    stopper = keras.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=1e9)
    callbacks = [stopper]
    x, y = np.ones((8, 4), "float32"), np.ones((8, 1), "float32")
    history = model.fit(x, y, 4, 6, 0, callbacks, validation_split=0.25)
    print("epochs", len(history.history["loss"]), "callbacks", len(callbacks), "same", history is model.history)
    print("keras", keras.__version__ if hasattr(keras, "__version__") else "?")
''')


@pytest.mark.slow
def test_keras_fit_capture(tmp_path):
    (tmp_path / "fit.py").write_text(FIT)
    plain = run_py(["fit.py"], cwd=tmp_path)
    traced = run_py(["-m", "parity_tracer", "run", "--out", tmp_path / "out", "fit.py"], cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr[-2000:]
    assert traced.returncode == 0, traced.stderr[-2000:]
    assert traced.stdout == plain.stdout                  # the caller's callbacks list and History untouched
    assert "epochs 2 callbacks 1 same True" in traced.stdout
    events = read_events(tmp_path / "out")
    training = kinds(events, "training")
    assert len(training) == 1
    t = training[0]
    assert t["source"] in ("keras::Model.fit", "tf_keras::Model.fit")
    assert t["epochs_completed"] == 2 and t["early_stopped"] is True and t["early_stop_epoch"] == 1
    assert t["nan_detected"] is False and t["final_loss"] is not None and t["final_val_loss"] is not None
    assert len(t["history"]["loss"]) == 2
    env = [e for e in events if e["kind"] == "environment"]
    assert any("tensorflow" in e["packages"] for e in env)


SYMBOLIC = textwrap.dedent('''
    import numpy as np, tensorflow as tf
    import mylib
    mylib.double(tf.constant([1.0, 2.0, np.inf]))                          # eager: real statistics
    tf.function(lambda t: mylib.double(t))(tf.constant([3.0]))            # graph tensor: skipped
    inp = tf.keras.Input((2,))
    tf.keras.layers.Lambda(lambda t: mylib.double(t))(inp)                 # KerasTensor: skipped
    ds = tf.data.Dataset.from_tensor_slices(np.ones((2, 2), "float32")).map(mylib.double)
    print(sum(1 for _ in ds))
    v = tf.Variable([1.0, 5.0])
    mylib.double(v)                                                        # a variable: real statistics
''')


@pytest.mark.slow
def test_eager_versus_symbolic_tensors(tmp_path):
    (tmp_path / "mylib.py").write_text("def double(x):\n    return x * 2\n")
    (tmp_path / "sym.py").write_text(SYMBOLIC)
    (tmp_path / "targets.json").write_text(json.dumps([
        {"module": "mylib", "attr": "double", "after": "parity_tracer.capture:record_result",
         "options": {"stage": "doubled"}}]))
    r = run_py(["-m", "parity_tracer", "run", "--no-reduce", "--strict", "--targets", "targets.json",
                "--out", tmp_path / "out", "sym.py"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    stats = [e["stats"] for e in read_events(tmp_path / "out") if e["kind"] == "stage"]
    eager = [s for s in stats if not s.get("symbolic")]
    symbolic = [s for s in stats if s.get("symbolic")]
    assert len(symbolic) >= 3                                              # graph, KerasTensor, tf.data
    assert eager[0]["total_count"] == 3 and eager[0]["inf_count"] == 1 and eager[0]["max"] == 4.0
    assert eager[-1]["max"] == 10.0
    assert not [e for e in read_events(tmp_path / "out") if e["kind"] == "tracer_error"]


LOG_SCALE_PKG = {
    "ptycho/__init__.py": "",
    "ptycho/params.py": "cfg = {'N': 64, 'nphotons': 1e9, 'intensity_scale': 988.2}\n",
    # modern layout: the scale variable sits in _lazy_cache; module __getattr__ builds models on access
    "ptycho/model.py": textwrap.dedent('''
        import math, tensorflow as tf
        BUILDS = []
        _lazy_cache = {"log_scale": tf.Variable(math.log(1761.36))}
        def __getattr__(name):
            if name in ("autoencoder", "diffraction_to_obj", "autoencoder_no_nll", "log_scale"):
                BUILDS.append(name)
                return object()
            raise AttributeError(name)
    '''),
    "ptycho/train_pinn.py": "def train(train_data, intensity_scale=None, model_instance=None):\n    return None, None\n",
    "main.py": "from ptycho import train_pinn, model\ntrain_pinn.train(None)\nprint('builds', model.BUILDS)\n",
}


@pytest.mark.slow
def test_model_log_scale_read_without_a_build(tmp_path):
    for name, text in LOG_SCALE_PKG.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    r = run_py(["-m", "parity_tracer", "run", "--no-reduce", "--out", tmp_path / "out", "main.py"], cwd=tmp_path,
               env=clean_env(PYTHONPATH=[tmp_path]))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "builds []" in r.stdout                                         # nothing built by the tracer
    scales = [e for e in kinds(read_events(tmp_path / "out"), "intensity_scale") if e["what"] == "model_log_scale"]
    assert scales and scales[0]["value"] == pytest.approx(1761.36, rel=1e-5)
    assert scales[0]["source"] == "ptycho.train_pinn::train"


def test_eager_tensor_statistics_read_its_buffer_without_a_copy():
    import tracemalloc
    import numpy as np
    from parity_tracer import stats
    values = np.random.default_rng(3).standard_normal((256, 64, 64, 4)).astype(np.float32)   # 16 MiB
    t = tf.constant(values)
    stats.summarize(t)                               # warm up (scratch buffers, lazy imports)
    tracemalloc.start()
    try:
        got = stats.summarize(t)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got == stats.summarize(values)
    assert peak < 8 * 2 ** 20, peak                  # the scratch of one chunk; `.numpy()` would copy 16 MiB
