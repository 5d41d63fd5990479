"""The tolerant field readers compare and bundle use: documents may come from other writers, so nothing about
their shape is trusted and a malformed field reads as None / {} / [] instead of raising.

The one place ``maintainer/`` takes its readers from, so that all of it reads a field by the same rules.
"""

import math

from parity_tracer.docread import as_dict, as_list, get

__all__ = ("as_dict", "as_list", "get", "number", "shape")


def number(v):
    """A finite int/float as float (never a bool), else None."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def shape(v):
    """A list of ints (an array shape) as a new list, else None."""
    if isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return list(v)
    return None
