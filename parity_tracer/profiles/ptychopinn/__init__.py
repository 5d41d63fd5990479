"""The PtychoPINN profile: capture points, handlers, per-activation state, and the stage map and protocol
knowledge, with every PtychoPINN name written once in ``names``.

Rules its handlers keep:
- read arguments and results, never lazy attributes: main's container data are properties that allocate
  tensors, and ``ptycho.model.autoencoder`` & co. build a model on access (module ``__getattr__``);
- module globals are read through ``vars(module)``, never ``getattr``;
- symbolic tensors (model building, ``tf.function``, ``tf.data``) are left alone (``stats`` recognises them).
"""

import os

from parity_tracer.profiles.ptychopinn import names


class PtychoPINNProfile:
    name = "ptychopinn"
    root = names.ROOT

    def __init__(self):
        self.state = None

    def points(self, settings):
        from parity_tracer.profiles.ptychopinn.points import POINTS
        return list(POINTS)

    def setup(self, agent):
        """At activation: the handlers' state, the cfg watcher, the exit snapshot, origin and framework versions."""
        from parity_tracer.profiles.ptychopinn import handlers_config
        from parity_tracer.profiles.ptychopinn.state import State
        state = self.state = State(agent)
        agent.recorder.handler_state = state
        agent.recorder.observers.append(handlers_config.watch_intensity_scale(state))

        def at_exit(agent):
            handlers_config.at_exit(state, agent)
        agent.exit_hooks.append(at_exit)
        agent.on_import(self.root, _on_root_import)
        for name in names.FRAMEWORKS:
            agent.on_import(name, _on_framework_import)

    def teardown(self):
        """At deactivation (the agent has removed its observers, exit hooks and import hooks already)."""
        self.state = None

    def note_probe_origin(self, kind, path=None):
        """Called by a driver that sets the probe from a file itself (the protocol's legacy same-NPZ run)."""
        if self.state is not None:
            self.state.note_probe_origin(kind, path)


def _on_root_import(agent, module):
    path = vars(module).get("__file__")
    agent.record_origin(os.path.abspath(path) if path else None, module.__name__)


def _on_framework_import(agent, module):
    version = vars(module).get("__version__")
    agent.emit("environment", packages={module.__name__: str(version) if version else None})


def profile():
    return PtychoPINNProfile()
