"""At-fork resets owned by each class: one ``os.register_at_fork`` per class (made with its first instance), which
runs the ``_after_fork`` of that class's live instances in a forked child, and nothing of any other class."""

import os
import weakref


class Instances:
    """The live instances of one class; in a forked child each is reset by ``reset(instance)``."""

    def __init__(self, reset):
        self._reset = reset
        self._live = weakref.WeakSet()
        self._registered = False

    def add(self, obj):
        if not self._registered and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork)
            self._registered = True
        self._live.add(obj)

    def _after_fork(self):
        # in the child, before any Python code of the program runs: no logging, no imports (ddtrace PR #18900)
        for obj in list(self._live):
            try:
                self._reset(obj)
            except Exception:
                pass
