"""Tracer settings, from the command line or the environment (the same names either way)."""

import os
import time
from dataclasses import dataclass, field, fields
from typing import Optional

ENV_PREFIX = "PARITY_TRACER_"
RUN_ID_ENV = ENV_PREFIX + "RUN_ID"      # made by the root process of a run, inherited by its children


def _flag(value, default):
    if value is None or value == "":
        return default
    return value.strip().lower() not in ("0", "false", "no", "off")


def _seconds(value, default):
    try:
        v = float(value)
    except (TypeError, ValueError):
        return default
    return v if v == v and 0 <= v < 1e6 else default


def default_out_dir(label=None):
    """``./parity_tracer_out/<UTC time>-<label>-<pid>``: one folder per run, never reused."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    parts = [stamp] + ([label] if label else []) + [str(os.getpid())]
    return os.path.join(os.getcwd(), "parity_tracer_out", "-".join(parts))


@dataclass
class Settings:
    out_dir: Optional[str] = None
    pipeline: Optional[str] = None
    scenario: Optional[str] = None
    targets: Optional[str] = None          # a JSON file of capture points, used instead of the profile's
    profile: str = "ptychopinn"
    module_prefix: Optional[str] = None    # e.g. the demo's namespaced copy of the target package
    strict: bool = False                   # re-raise tracer errors (tests only)
    save_arrays: bool = True               # stitched / ground-truth .npy files in the output directory
    save_raw_data: bool = False            # the simulated/loaded train data as arrays/raw_data.npz (large)
    reduce_at_exit: bool = True
    reduce_timeout: float = 10.0           # seconds the reduce at exit may hold the program's exit
    allow_handler_modules: Optional[str] = None   # comma-separated modules a targets file may take handlers from
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ=None):
        env = os.environ if environ is None else environ
        get = lambda key: env.get(ENV_PREFIX + key)
        return cls(
            out_dir=get("OUT") or None,
            pipeline=get("PIPELINE") or None,
            scenario=get("SCENARIO") or None,
            targets=get("TARGETS") or None,
            profile=get("PROFILE") or "ptychopinn",
            module_prefix=get("MODULE_PREFIX") or None,
            strict=_flag(get("STRICT"), False),
            save_arrays=_flag(get("SAVE_ARRAYS"), True),
            save_raw_data=_flag(get("SAVE_RAW_DATA"), False),
            reduce_at_exit=_flag(get("REDUCE"), True),
            reduce_timeout=_seconds(get("REDUCE_TIMEOUT"), 10.0),
            allow_handler_modules=get("ALLOW_HANDLER_MODULE") or None,
        )

    def to_env(self):
        """The variables a child process needs to trace into the same output directory."""
        env = {ENV_PREFIX.rstrip("_"): "1"}
        pairs = {"OUT": self.out_dir, "PIPELINE": self.pipeline, "SCENARIO": self.scenario,
                 "TARGETS": self.targets, "PROFILE": self.profile, "MODULE_PREFIX": self.module_prefix,
                 "STRICT": "1" if self.strict else None, "SAVE_ARRAYS": None if self.save_arrays else "0",
                 "SAVE_RAW_DATA": "1" if self.save_raw_data else None,
                 "REDUCE": None if self.reduce_at_exit else "0",
                 "REDUCE_TIMEOUT": None if self.reduce_timeout == 10.0 else repr(float(self.reduce_timeout)),
                 "ALLOW_HANDLER_MODULE": self.allow_handler_modules}
        env.update({ENV_PREFIX + k: v for k, v in pairs.items() if v is not None})
        return env

    def public(self):
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
