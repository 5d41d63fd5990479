"""Stand-in for ``ptycho.workflows.grid_lines_workflow`` (main): simulate lines -> train -> infer.

Same public functions, call order and artifacts as the real workflow (``recons/pinn/recon.npz``
with ``YY_pred``/``amp``/``phase``, ``pinn/wts.h5.zip``, ``metrics.json``, dataset NPZs), with
the probe smoothing, baseline model and metrics reduced to a few lines of numpy.
"""
from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..config.config import ModelConfig, TrainingConfig, update_legacy_dict
from .. import params as p


@dataclass
class GridLinesConfig:
    N: int
    gridsize: int
    output_dir: Path
    probe_npz: Path
    size: int = 392
    offset: int = 4
    outer_offset_train: int = 8
    outer_offset_test: int = 20
    nimgs_train: int = 2
    nimgs_test: int = 2
    nphotons: float = 1e9
    nepochs: int = 60
    batch_size: int = 16
    nll_weight: float = 0.0
    mae_weight: float = 1.0
    realspace_weight: float = 0.0
    probe_smoothing_sigma: float = 0.5
    probe_mask_diameter: Optional[int] = None
    probe_source: str = "custom"
    probe_scale_mode: str = "pad_preserve"
    probe_transform_pipeline: Optional[str] = None
    set_phi: bool = False
    seed: Optional[int] = None


# --- probe preparation ------------------------------------------------------------------------

def load_probe_guess(npz_path: Path) -> np.ndarray:
    data = np.load(npz_path)
    if "probeGuess" not in data:
        raise KeyError("probeGuess missing from probe npz")
    return data["probeGuess"]


def load_ideal_disk_probe(N: int) -> np.ndarray:
    from .. import probe as probe_mod
    return np.asarray(probe_mod.get_default_probe(N, fmt="np"), dtype=np.complex64)


def smooth_complex_array(arr: np.ndarray, sigma: float) -> np.ndarray:
    """Small separable blur of real and imaginary parts (stand-in for the Gaussian, sigma ~ 0.5)."""
    if sigma <= 0:
        return arr
    w = np.exp(-1.0 / (2 * sigma ** 2))
    k = np.array([w, 1.0, w]) / (1 + 2 * w)
    pad = np.pad(arr, 1, mode='edge')
    rows = k[0] * pad[:-2] + k[1] * pad[1:-1] + k[2] * pad[2:]
    return (k[0] * rows[:, :-2] + k[1] * rows[:, 1:-1] + k[2] * rows[:, 2:]).astype(np.complex64)


def _pad_complex_probe(probe: np.ndarray, target_N: int) -> np.ndarray:
    n = probe.shape[0]
    if n == target_N:
        return probe
    if n > target_N:
        raise ValueError("pad_complex cannot shrink the probe")
    before = (target_N - n) // 2
    return np.pad(probe, (before, target_N - n - before))


def normalize_probe_transform_pipeline(*, target_N: int, probe_shape: tuple, probe_scale_mode: str | None,
                                       probe_smoothing_sigma: float | None,
                                       probe_transform_pipeline: str | None) -> tuple:
    """Resolve the probe preprocessing into (canonical string, steps)."""
    if len(probe_shape) != 2 or probe_shape[0] != probe_shape[1]:
        raise ValueError("probe must be square")
    if probe_transform_pipeline:
        steps = []
        for part in probe_transform_pipeline.split('|'):
            op, _, arg = part.partition(':')
            steps.append({'op': op, 'sigma': float(arg)} if op == 'smooth_complex'
                         else {'op': op, 'target_N': int(arg or target_N)})
    else:
        sigma = float(probe_smoothing_sigma or 0.0)
        mode = probe_scale_mode or "pad_extrapolate"
        if mode != "pad_preserve":
            raise ValueError(f"scale_mode '{mode}' is not supported by the stand-in")
        steps = ([{"op": "smooth_complex", "sigma": sigma}] if sigma > 0 else []) + \
            [{"op": "pad_complex", "target_N": target_N}]
    serial = '|'.join(f"{s['op']}:{s.get('sigma', s.get('target_N'))}" for s in steps)
    return serial, steps


def apply_probe_transform_pipeline(probe: np.ndarray, steps: list) -> np.ndarray:
    transformed = np.asarray(probe, dtype=np.complex64)
    if transformed.ndim != 2 or transformed.shape[0] != transformed.shape[1]:
        raise ValueError("probe must be square")
    for step in steps:
        if step["op"] == "smooth_complex":
            transformed = smooth_complex_array(transformed, float(step["sigma"]))
        elif step["op"] == "pad_complex":
            transformed = _pad_complex_probe(transformed, int(step["target_N"]))
        else:
            raise ValueError(f"Unsupported probe transform op '{step['op']}'")
    return transformed.astype(np.complex64)


def make_disk_mask(N: int, diameter: int) -> np.ndarray:
    yy, xx = np.ogrid[:N, :N]
    center = (N - 1) / 2.0
    return (((yy - center) ** 2 + (xx - center) ** 2) <= (diameter / 2.0) ** 2).astype(np.float32)


def apply_probe_mask(probe: np.ndarray, diameter: Optional[int]) -> np.ndarray:
    if diameter is None:
        return probe
    return (probe * make_disk_mask(probe.shape[0], diameter)).astype(probe.dtype)


# --- simulation + datasets --------------------------------------------------------------------

def configure_legacy_params(cfg: GridLinesConfig, probe_np: np.ndarray) -> TrainingConfig:
    """Write params.cfg from the config (probe_scale 4.0, object.big False) and set the probe."""
    from .. import probe as probe_mod
    config = TrainingConfig(
        model=ModelConfig(N=cfg.N, gridsize=cfg.gridsize, object_big=False),
        nphotons=cfg.nphotons,
        nepochs=cfg.nepochs,
        batch_size=cfg.batch_size,
        nll_weight=cfg.nll_weight,
        mae_weight=cfg.mae_weight,
        realspace_weight=cfg.realspace_weight,
    )
    update_legacy_dict(p.cfg, config)
    p.set("set_phi", cfg.set_phi)
    p.set("data_source", "lines")
    p.set("size", cfg.size)
    p.set("offset", cfg.offset)
    p.set("outer_offset_train", cfg.outer_offset_train)
    p.set("outer_offset_test", cfg.outer_offset_test)
    p.set("nimgs_train", cfg.nimgs_train)
    p.set("nimgs_test", cfg.nimgs_test)
    p.set("nphotons", cfg.nphotons)
    p.set("sim_jitter_scale", 0.0)
    probe_mod.set_probe_guess(probe_guess=probe_np)
    return config


def _capture_simulation_probe() -> np.ndarray | None:
    probe = p.get("probe", None)
    if probe is None:
        return None
    probe = np.asarray(probe)
    if probe.ndim == 3 and probe.shape[-1] == 1:
        probe = probe[:, :, 0]
    return probe.astype(np.complex64)


def simulate_grid_data(cfg: GridLinesConfig, probe_np: np.ndarray) -> Dict[str, Any]:
    """Run the simulation through ``data_preprocessing.generate_data`` and split the results."""
    from .. import data_preprocessing
    from .. import diffsim

    configure_legacy_params(cfg, probe_np)
    (X_tr, YI_tr, Yphi_tr, X_te, YI_te, Yphi_te, YY_gt, dataset, YY_full, norm_Y_I) = \
        data_preprocessing.generate_data()
    probe_simulated = _capture_simulation_probe()

    def _build_scan_positions(n_repeats, outer_offset, n_samples, channels):
        ix, iy = diffsim.extract_coords(size=cfg.size, repeats=n_repeats, coord_type="global",
                                        outer_offset=outer_offset)
        coords_global = np.zeros((ix.shape[0], 1, 2, ix.shape[3]), dtype=np.float32)
        coords_global[:, 0, 0, :] = iy[:, 0, 0, :]
        coords_global[:, 0, 1, :] = ix[:, 0, 0, :]
        if coords_global.shape[0] < n_samples or coords_global.shape[3] < channels:
            return None
        return coords_global[:n_samples, ..., :channels]

    train_offsets = _build_scan_positions(cfg.nimgs_train, cfg.outer_offset_train,
                                          int(np.asarray(X_tr).shape[0]), int(np.asarray(X_tr).shape[-1]))
    test_offsets = _build_scan_positions(cfg.nimgs_test, cfg.outer_offset_test,
                                         int(np.asarray(X_te).shape[0]), int(np.asarray(X_te).shape[-1]))
    return {
        "train": {
            "X": X_tr, "Y_I": YI_tr, "Y_phi": Yphi_tr,
            "coords_nominal": dataset.train_data.coords_nominal,
            "coords_true": dataset.train_data.coords_true,
            "coords_offsets": train_offsets,
            "YY_full": dataset.train_data.YY_full,
            "probe_simulated": probe_simulated,
            "container": dataset.train_data,
        },
        "test": {
            "X": X_te, "Y_I": YI_te, "Y_phi": Yphi_te,
            "coords_nominal": dataset.test_data.coords_nominal,
            "coords_true": dataset.test_data.coords_true,
            "coords_offsets": test_offsets,
            "YY_full": dataset.test_data.YY_full,
            "YY_ground_truth": YY_gt,
            "norm_Y_I": norm_Y_I,
            "probe_simulated": probe_simulated,
            "container": dataset.test_data,
        },
        "intensity_scale": p.get("intensity_scale"),
    }


def dataset_out_dir(cfg: GridLinesConfig) -> Path:
    return Path(cfg.output_dir) / "datasets" / f"N{cfg.N}" / f"gs{cfg.gridsize}"


def save_split_npz(cfg: GridLinesConfig, split: str, data: Dict[str, Any], config: TrainingConfig,
                   probe_transform_pipeline: str | None = None,
                   probe_transform_steps: list | None = None) -> Path:
    out_dir = dataset_out_dir(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{split}.npz"
    arrays = {k: np.asarray(v) for k, v in data.items()
              if k != "container" and v is not None and not isinstance(v, dict)}
    arrays["_metadata"] = np.array(json.dumps({"N": cfg.N, "gridsize": cfg.gridsize, "nphotons": cfg.nphotons,
                                               "probe_transform_pipeline": probe_transform_pipeline}))
    np.savez(path, **arrays)
    return path


# --- stitching, training, inference -----------------------------------------------------------

def stitch_predictions(predictions: np.ndarray, norm_Y_I: float, part: str = "amp") -> np.ndarray:
    """Stitch predictions into (nimgs, S, S, 1); ALWAYS multiplies by ``norm_Y_I``."""
    nimgs = p.get("nimgs_test")
    outer_offset = p.get("outer_offset_test")
    N = p.cfg["N"]
    gridsize = p.cfg["gridsize"]
    if part == "amp":
        getpart = np.absolute
    elif part == "phase":
        getpart = np.angle
    else:
        getpart = lambda x: x  # noqa: E731
    processed = getpart(np.asarray(predictions))
    if gridsize > 1 and processed.ndim == 4 and processed.shape[-1] == gridsize ** 2:
        batch = processed.shape[0]
        processed = processed.reshape(batch, N, N, gridsize, gridsize).transpose(0, 3, 4, 1, 2)
        processed = processed.reshape(batch * gridsize ** 2, N, N, 1)
        nimgs_effective = nimgs * gridsize ** 2
    else:
        if processed.ndim == 3:
            processed = processed[..., np.newaxis]
        nimgs_effective = nimgs
    nsegments = int(np.sqrt((processed.size / nimgs_effective) / (N ** 2)))
    img_recon = np.reshape(np.asarray(norm_Y_I) * processed, (-1, nsegments, nsegments, N, N, 1))
    bordersize = (N - outer_offset / 2) / 2
    borderleft, borderright = int(np.ceil(bordersize)), int(np.floor(bordersize))
    img_recon = img_recon[:, :, :, borderleft:-borderright, borderleft:-borderright, :]
    tmp = img_recon.transpose(0, 1, 3, 2, 4, 5)
    return tmp.reshape(-1, np.prod(tmp.shape[1:3]), np.prod(tmp.shape[1:3]), 1)


def train_pinn_model(train_data):
    from .. import train_pinn
    return train_pinn.train(train_data)


def save_pinn_model(cfg: GridLinesConfig) -> None:
    from .. import model_manager
    out_dir = Path(cfg.output_dir) / "pinn"
    out_dir.mkdir(parents=True, exist_ok=True)
    model_manager.save(str(out_dir))


def select_baseline_channels(X, Y_I, Y_phi):
    X, Y_I, Y_phi = (np.asarray(a) for a in (X, Y_I, Y_phi))
    if X.shape[-1] > 1:
        return X[..., :1], Y_I[..., :1], Y_phi[..., :1]
    return X, Y_I, Y_phi


class _BaselineModel:
    """Supervised stand-in: a least-squares gain from |ifft(X)| to the object amplitude."""

    def __init__(self, gain):
        self.gain = float(gain)

    def predict(self, X):
        est = np.abs(np.fft.ifft2(np.fft.ifftshift(np.asarray(X, np.float64), axes=(1, 2)), axes=(1, 2), norm='ortho'))
        return [(self.gain * est).astype(np.float32), np.zeros_like(est, dtype=np.float32)]

    def save(self, path):
        with open(path, 'wb') as f:
            np.savez(f, gain=self.gain)


def train_baseline_model(X_train, Y_I_train, Y_phi_train):
    from .. import model as model_mod
    X, Y_I, _ = select_baseline_channels(X_train, Y_I_train, Y_phi_train)
    est = np.abs(np.fft.ifft2(np.fft.ifftshift(X.astype(np.float64), axes=(1, 2)), axes=(1, 2), norm='ortho'))
    gain = float(np.sum(est * Y_I) / max(np.sum(est * est), 1e-12))
    model = _BaselineModel(gain)
    history = model_mod.History()
    history.history = {'loss': [float(np.mean(np.abs(gain * est - Y_I)))]}
    history.epoch = [0]
    return model, history


def _apply_execution_seed(seed: int | None) -> None:
    if seed is None:
        return
    random.seed(int(seed))
    np.random.seed(int(seed))
    from .. import tf_helper
    tf_helper.set_random_seed(int(seed))          # stands in for tf.keras.utils.set_random_seed


def run_pinn_inference(model, X_test, coords_nominal):
    intensity_scale = p.get("intensity_scale")
    prediction = model.predict([X_test * intensity_scale, coords_nominal])
    if isinstance(prediction, (list, tuple)):
        if not prediction:
            raise ValueError("PINN inference returned no outputs")
        return prediction[0]
    return prediction


def run_baseline_inference(model, X_test):
    X = np.asarray(X_test)
    if X.shape[-1] > 1:
        X = X[..., :1]
    amp, phase = model.predict(X)
    return (amp * np.exp(1j * phase)).astype(np.complex64)


def save_recon_artifact(output_dir: Path, label: str, recon_complex: np.ndarray) -> Path:
    recon_dir = Path(output_dir) / "recons" / label
    recon_dir.mkdir(parents=True, exist_ok=True)
    recon = np.squeeze(recon_complex)
    if recon.ndim > 2:
        recon = recon[0]
    recon = recon.astype(np.complex64)
    path = recon_dir / "recon.npz"
    np.savez(path, YY_pred=recon, amp=np.abs(recon), phase=np.angle(recon))
    return path


def run_grid_lines_workflow(cfg: GridLinesConfig, tf_models: Tuple[str, ...] = ("pinn", "baseline")) -> Dict[str, Any]:
    """Probe prep -> simulation -> datasets -> train -> infer -> stitch -> metrics/artifacts."""
    from ..evaluation import eval_reconstruction

    selected_models = tuple(dict.fromkeys(tf_models))
    if not selected_models:
        raise ValueError("tf_models must include at least one of {'pinn', 'baseline'}")
    unsupported = sorted(set(selected_models) - {"pinn", "baseline"})
    if unsupported:
        raise ValueError(f"Unsupported tf_models entries: {unsupported}")
    cfg.output_dir = Path(cfg.output_dir)

    print(f"[grid_lines_workflow] Starting N={cfg.N}, gridsize={cfg.gridsize}")
    _apply_execution_seed(cfg.seed)

    print("[1/7] Loading and scaling probe...")
    if cfg.probe_source == "ideal_disk":
        probe_guess = load_ideal_disk_probe(cfg.N)
    else:
        probe_guess = load_probe_guess(cfg.probe_npz)
    normalized_pipeline, normalized_steps = normalize_probe_transform_pipeline(
        target_N=cfg.N, probe_shape=probe_guess.shape, probe_scale_mode=cfg.probe_scale_mode,
        probe_smoothing_sigma=cfg.probe_smoothing_sigma, probe_transform_pipeline=cfg.probe_transform_pipeline)
    probe_scaled = apply_probe_transform_pipeline(probe_guess, normalized_steps)
    probe_scaled = apply_probe_mask(probe_scaled, cfg.probe_mask_diameter)

    print("[2/7] Running grid simulation...")
    sim = simulate_grid_data(cfg, probe_scaled)
    config = configure_legacy_params(cfg, probe_scaled)

    print("[3/7] Saving datasets...")
    sim["train"]["probeGuess"] = probe_scaled
    sim["test"]["probeGuess"] = probe_scaled
    train_npz = save_split_npz(cfg, "train", sim["train"], config, normalized_pipeline, normalized_steps)
    test_npz = save_split_npz(cfg, "test", sim["test"], config, normalized_pipeline, normalized_steps)

    print(f"[4/7] Executing selected TF rows: {selected_models}...")
    norm_Y_I = sim["test"]["norm_Y_I"]
    YY_gt = sim["test"]["YY_ground_truth"]
    metrics_payload: Dict[str, Any] = {}
    recons: Dict[str, Dict[str, np.ndarray]] = {}
    if "pinn" in selected_models:
        _apply_execution_seed(cfg.seed)
        t0 = time.perf_counter()
        pinn_model, pinn_history = train_pinn_model(sim["train"]["container"])
        train_time = time.perf_counter() - t0
        save_pinn_model(cfg)
        print("[5/7][row:pinn] Running PINN inference...")
        pinn_pred = run_pinn_inference(pinn_model, sim["test"]["X"], sim["test"]["coords_nominal"])
        print("[6/7][row:pinn] Stitching and computing metrics...")
        pinn_amp = stitch_predictions(pinn_pred, norm_Y_I, part="amp")
        pinn_phase = stitch_predictions(pinn_pred, norm_Y_I, part="phase")
        pinn_stitched = pinn_amp * np.exp(1j * pinn_phase)
        metrics_payload["pinn"] = eval_reconstruction(pinn_stitched, YY_gt, label="pinn")
        metrics_payload["pinn"]["train_wall_time_sec"] = train_time
        metrics_payload["pinn"]["final_loss"] = pinn_history.history["loss"][-1]
        recons["pinn"] = {"amp": pinn_amp[0, :, :, 0], "phase": pinn_phase[0, :, :, 0]}
        save_recon_artifact(cfg.output_dir, "pinn", pinn_stitched)
    if "baseline" in selected_models:
        _apply_execution_seed(cfg.seed)
        base_model, base_history = train_baseline_model(sim["train"]["X"], sim["train"]["Y_I"], sim["train"]["Y_phi"])
        base_dir = cfg.output_dir / "baseline"
        base_dir.mkdir(parents=True, exist_ok=True)
        base_model.save(base_dir / "baseline.keras")
        base_pred = run_baseline_inference(base_model, sim["test"]["X"])
        base_amp = stitch_predictions(base_pred, norm_Y_I, part="amp")
        base_phase = stitch_predictions(base_pred, norm_Y_I, part="phase")
        base_stitched = base_amp * np.exp(1j * base_phase)
        metrics_payload["baseline"] = eval_reconstruction(base_stitched, YY_gt, label="baseline")
        recons["baseline"] = {"amp": base_amp[0, :, :, 0], "phase": base_phase[0, :, :, 0]}
        save_recon_artifact(cfg.output_dir, "baseline", base_stitched)

    print("[7/7] Saving merged outputs...")
    metrics_path = cfg.output_dir / "metrics.json"
    metrics_path.write_text(json.dumps(metrics_payload, indent=2, default=str))
    save_recon_artifact(cfg.output_dir, "gt", np.squeeze(YY_gt))
    print(f"[grid_lines_workflow] Complete. Outputs in {cfg.output_dir}")
    return {
        "train_npz": str(train_npz),
        "test_npz": str(test_npz),
        "metrics_json": str(metrics_path),
        "metrics": metrics_payload,
        "recons": recons,
    }
