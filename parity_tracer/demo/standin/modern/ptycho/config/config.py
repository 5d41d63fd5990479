"""Stand-in for modern ``ptycho.config.config``: dataclasses and ``update_legacy_dict``."""
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Optional


@dataclass(frozen=True)
class ModelConfig:
    N: int = 64
    gridsize: int = 1
    n_filters_scale: int = 2
    model_type: str = 'pinn'
    architecture: str = 'cnn'
    amp_activation: str = 'sigmoid'
    object_big: bool = True
    probe_big: bool = True
    probe_mask: bool = False
    probe_mask_sigma: float = 1.0
    probe_mask_diameter: Optional[float] = None
    pad_object: bool = True
    probe_scale: float = 4.
    gaussian_smoothing_sigma: float = 0.0


@dataclass
class TrainingConfig:
    model: ModelConfig
    train_data_file: Optional[Path] = None
    test_data_file: Optional[Path] = None
    batch_size: int = 16
    nepochs: int = 50
    mae_weight: float = 0.0
    nll_weight: float = 1.0
    realspace_mae_weight: float = 0.0
    realspace_weight: float = 0.0
    nphotons: float = 1e9
    n_groups: Optional[int] = None
    n_images: Optional[int] = None
    n_subsample: Optional[int] = None
    subsample_seed: Optional[int] = None
    neighbor_count: int = 4
    enable_oversampling: bool = False
    neighbor_pool_size: Optional[int] = None
    positions_provided: bool = True
    probe_trainable: bool = False
    intensity_scale_trainable: bool = True
    output_dir: Path = Path("training_outputs")
    sequential_sampling: bool = False
    backend: str = 'tensorflow'

    def __post_init__(self):
        if self.n_images is not None and self.n_groups is None:
            warnings.warn("Parameter 'n_images' is deprecated; use 'n_groups'.", DeprecationWarning, stacklevel=2)
            self.n_groups = self.n_images
        if self.n_groups is None:
            self.n_groups = 512


@dataclass
class InferenceConfig:
    model: ModelConfig
    model_path: Path
    test_data_file: Optional[Path] = None
    n_groups: Optional[int] = None
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
    'train_data_file': 'train_data_file_path',
    'test_data_file': 'test_data_file_path',
}


def dataclass_to_legacy_dict(obj: Any) -> Dict[str, Any]:
    d = asdict(obj)
    if 'model' in d:
        d.update(d.pop('model'))
    for old_key, new_key in KEY_MAPPINGS.items():
        if old_key in d:
            value = d.pop(old_key)
            d[new_key] = str(value) if isinstance(value, Path) else value
    return d


def update_legacy_dict(cfg: Dict[str, Any], dataclass_obj: Any) -> None:
    """Main: copies the dataclass values but skips ``None`` (keeps the existing cfg value)."""
    for key, value in dataclass_to_legacy_dict(dataclass_obj).items():
        if value is not None:
            cfg[key] = str(value) if isinstance(value, Path) else value
