"""Capture profiles: what a traced program's package needs from the tracer, behind one contract.

A profile is an object with
    ``name``               the name the header records (``PARITY_TRACER_PROFILE`` picks it)
    ``root``               the package it instruments (``module_prefix`` re-roots it), None for none
    ``points(settings)``   its capture points (``targets.CapturePoint``)
    ``setup(agent)``       at activation: its import hooks, observers, exit hooks and state
    ``teardown()``         at deactivation: drop its state (the agent removes what setup registered with it)

The registry is an allow-list: a name from the environment picks one of these, never an arbitrary module.
"""

import importlib

# name -> module holding ``profile()``; imported only when chosen
REGISTRY = {
    "ptychopinn": "parity_tracer.profiles.ptychopinn",
    "generic": "parity_tracer.profiles.generic",
}
GENERIC = "generic"


class UnknownProfile(ValueError):
    """A profile name that is not in the registry."""


def load(name):
    """A new profile object of the registered ``name``."""
    module = REGISTRY.get(name)
    if module is None:
        raise UnknownProfile("no profile %r (known: %s)" % (name, ", ".join(sorted(REGISTRY))))
    return importlib.import_module(module).profile()


def for_settings(settings):
    """The profile a run uses: the generic one for a ``--targets`` file (its points replace the profile's, so
    nothing of the named profile runs), else the one named in the settings."""
    return load(GENERIC if settings.targets else settings.profile)
