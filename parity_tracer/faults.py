"""Fault injection for the never-break tests: ``PARITY_TRACER_INJECT_FAULT=stats,sink`` makes those layers raise.

Layers: activation, hook, capture, stats, serialize, sink, reduce. Read once at import; a set lookup otherwise.
"""

import os

LAYERS = ("activation", "hook", "capture", "stats", "serialize", "sink", "reduce")

_active = frozenset(x.strip() for x in os.environ.get("PARITY_TRACER_INJECT_FAULT", "").split(",") if x.strip())


class InjectedFault(RuntimeError):
    """Raised by a layer that a test asked to fail."""


def check(layer: str) -> None:
    if _active and layer in _active:
        raise InjectedFault("injected fault in layer %r" % layer)
