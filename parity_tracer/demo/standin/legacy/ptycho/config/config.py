"""Stand-in for legacy ``ptycho.config.config``: dataclasses and ``update_legacy_dict``."""
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Optional


@dataclass(frozen=True)
class ModelConfig:
    N: int = 64
    gridsize: int = 1
    n_filters_scale: int = 2
    model_type: str = 'pinn'
    amp_activation: str = 'sigmoid'
    object_big: bool = True
    probe_big: bool = True
    probe_mask: bool = False
    pad_object: bool = True
    probe_scale: float = 4.


@dataclass(frozen=True)
class TrainingConfig:
    model: ModelConfig
    train_data_file: Path            # required on the legacy branch
    test_data_file: Optional[Path] = None
    batch_size: int = 16
    nepochs: int = 50
    mae_weight: float = 0.0
    nll_weight: float = 1.0
    realspace_mae_weight: float = 0.0
    realspace_weight: float = 0.0
    nphotons: float = 1e9
    positions_provided: bool = True
    data_source: str = 'generic'
    probe_trainable: bool = False
    intensity_scale_trainable: bool = True
    output_dir: Path = Path("training_outputs")


@dataclass(frozen=True)
class InferenceConfig:
    model: ModelConfig
    model_path: Path
    gaussian_smoothing_sigma: float = 0.0
    debug: bool = False
    output_dir: Path = Path("inference_outputs")


KEY_MAPPINGS = {
    'object_big': 'object.big',
    'probe_big': 'probe.big',
    'probe_mask': 'probe.mask',
    'probe_trainable': 'probe.trainable',
    'intensity_scale_trainable': 'intensity_scale.trainable',
    'positions_provided': 'positions.provided',
    'output_dir': 'output_prefix',
}


def dataclass_to_legacy_dict(obj: Any) -> Dict[str, Any]:
    d = asdict(obj)
    if 'model' in d:
        d.update(d.pop('model'))
    for old_key, new_key in KEY_MAPPINGS.items():
        if old_key in d:
            d[new_key] = d.pop(old_key)
    if 'output_prefix' in d:
        d['output_prefix'] = str(d['output_prefix'])
    return d


def update_legacy_dict(cfg: Dict[str, Any], dataclass_obj: Any) -> None:
    """Legacy: copies every value, None included."""
    cfg.update(dataclass_to_legacy_dict(dataclass_obj))
