"""Stand-in for legacy ``ptycho.misc``: output path prefix and the disk+memory memoizer."""
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
    try:
        date_time = params.get('timestamp')
    except KeyError:
        date_time = datetime.now().strftime("%m/%d/%Y, %H:%M:%S")
        params.set('timestamp', date_time)
    date_time = date_time.replace('/', '-').replace(':', '.').replace(', ', '-')
    return '{}/{}_{}/'.format(prefix, date_time, label)


def memoize_disk_and_memory(func):
    """Cache results in memory and in ``memoized_data/`` (relative to the CWD).

    The directory is created when the decorated function is *defined* (i.e. when
    ``ptycho.diffsim`` is imported). Legacy has no switch to turn this off. On a disk hit the
    result is rebuilt from an ``.npz`` file, so every element comes back as numpy (a tuple of
    arrays becomes one stacked array) and the wrapped function's body does not run.
    """
    from .params import cfg
    memory_cache = {}
    disk_cache_dir = 'memoized_data'
    if not os.path.exists(disk_cache_dir):
        os.makedirs(disk_cache_dir)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        cfg_keys = ['offset', 'N', 'outer_offset_train', 'outer_offset_test',
                    'nphotons', 'nimgs_train', 'nimgs_test', 'set_phi',
                    'data_source', 'gridsize', 'big_gridsize', 'default_probe_scale']
        hash_input = {k: cfg[k] for k in cfg_keys if k in cfg}
        # like the real legacy code: arrays enter the key through str()
        hash_input.update({f'arg_{i}': json.dumps(arg, default=str) for i, arg in enumerate(args)})
        hash_input.update({f'kwarg_{k}': json.dumps(v, default=str) for k, v in kwargs.items()})
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
