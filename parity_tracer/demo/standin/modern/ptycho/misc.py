"""Stand-in for modern ``ptycho.misc``: output path prefix and the disk+memory memoizer."""
import functools
import hashlib
import json
import os
from datetime import datetime

import numpy as np

from . import params


def get_path_prefix():
    label = params.cfg['label']
    prefix = params.params()['output_prefix']
    date_time = params.get('timestamp', None)
    if date_time is None:
        date_time = datetime.now().strftime("%m/%d/%Y, %H:%M:%S")
        params.set('timestamp', date_time)
    date_time = date_time.replace('/', '-').replace(':', '.').replace(', ', '-')
    return '{}/{}_{}/'.format(prefix, date_time, label)


def _memoize_disabled() -> bool:
    return os.environ.get("PTYCHO_DISABLE_MEMOIZE", "").strip().lower() in {"1", "true", "yes", "on"}


def _memoize_key_mode() -> str:
    return os.environ.get("PTYCHO_MEMOIZE_KEY_MODE", "data").strip().lower()


def _hash_value(value):
    if isinstance(value, np.ndarray) or np.isscalar(value) and isinstance(value, np.generic):
        arr = np.ascontiguousarray(value)
        return {'dtype': str(arr.dtype), 'shape': list(arr.shape),
                'sha1': hashlib.sha1(arr.tobytes()).hexdigest()}
    return json.dumps(value, default=str)


def memoize_disk_and_memory(func):
    """Cache results in memory and in ``memoized_data/`` (relative to the CWD).

    ``PTYCHO_DISABLE_MEMOIZE=1`` turns it off (and the directory is then not created). On a disk
    hit every element comes back as numpy and the wrapped function's body does not run.
    """
    from .params import cfg
    memory_cache = {}
    disk_cache_dir = 'memoized_data'
    if not _memoize_disabled() and not os.path.exists(disk_cache_dir):
        os.makedirs(disk_cache_dir)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if _memoize_disabled():
            return func(*args, **kwargs)
        cfg_keys = ['offset', 'N', 'outer_offset_train', 'outer_offset_test',
                    'nphotons', 'nimgs_train', 'nimgs_test', 'set_phi',
                    'data_source', 'gridsize', 'big_gridsize', 'default_probe_scale']
        hash_input = {k: cfg[k] for k in cfg_keys if k in cfg}
        if _memoize_key_mode() in {"data", "full", "dataset"}:
            hash_input.update({f'arg_{i}': _hash_value(arg) for i, arg in enumerate(args)})
            hash_input.update({f'kwarg_{k}': _hash_value(v) for k, v in kwargs.items()})
        hash_hex = hashlib.sha1(json.dumps(hash_input, sort_keys=True).encode('utf-8')).hexdigest()

        if hash_hex in memory_cache:
            print("Loading result from memory cache.")
            return memory_cache[hash_hex]
        disk_cache_file = os.path.join(disk_cache_dir, f'{hash_hex}.npz')
        if os.path.exists(disk_cache_file):
            print("Loading result from disk cache.")
            with np.load(disk_cache_file, allow_pickle=True) as loaded:
                if 'dict_data' in loaded.files:
                    result = loaded['dict_data'].item()
                else:
                    result = tuple(loaded[key] for key in loaded.files)
                    if len(result) == 1:
                        result = result[0]
        else:
            print("No cached result found. Calculating and caching the result.")
            result = func(*args, **kwargs)
            if isinstance(result, dict):
                np.savez(disk_cache_file, dict_data=np.array(result, dtype=object))
            elif isinstance(result, tuple):
                np.savez(disk_cache_file, **{f'arr_{i}': np.asarray(a) for i, a in enumerate(result)})
            else:
                np.savez(disk_cache_file, result=np.asarray(result))
        memory_cache[hash_hex] = result
        return result

    return wrapper
