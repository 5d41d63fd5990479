"""parity_tracer bootstrap: with PARITY_TRACER=1, trace any Python process whose PYTHONPATH holds this folder.

Python imports ``sitecustomize`` at start-up. This one first runs the environment's own ``sitecustomize``
found further along ``sys.path`` (ddtrace's chain-loading), then activates the agent at most once per process.
Any failure prints one line on stderr and the program runs untraced. With the variable unset it imports
nothing beyond ``os`` and ``sys``.
"""

import os
import sys


def _chain_load_next(here):
    """Import the next ``sitecustomize`` on sys.path, as if ours were not there."""
    ours = sys.modules.get("sitecustomize")
    saved = list(sys.path)
    try:
        sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
        sys.modules.pop("sitecustomize", None)
        try:
            import sitecustomize  # noqa: F401  (the user's own, if any)
        except ImportError as exc:
            if getattr(exc, "name", None) != "sitecustomize":
                _python_style_warning(exc)
        except Exception as exc:
            _python_style_warning(exc)
    finally:
        sys.path[:] = saved
        if ours is not None:
            sys.modules["sitecustomize"] = ours


def _python_style_warning(exc):
    # what site.py itself prints when a sitecustomize fails
    sys.stderr.write("Error in sitecustomize; set PYTHONVERBOSE for traceback:\n%s: %s\n" % (type(exc).__name__, exc))


def _wanted():
    return os.environ.get("PARITY_TRACER", "").strip().lower() not in ("", "0", "false", "no", "off")


def _import_agent(here):
    """The agent module: installed, or from the checkout this file sits in."""
    try:
        from parity_tracer import agent
        return agent
    except ImportError:
        parent = here
        for _ in range(3):
            parent = os.path.dirname(parent)
            if os.path.isfile(os.path.join(parent, "parity_tracer", "__init__.py")):
                sys.path.append(parent)
                from parity_tracer import agent
                return agent
        raise


def _activate(here):
    if not _wanted():
        return False
    try:
        agent = _import_agent(here)
        return agent.activate() is not None
    except Exception as exc:
        sys.stderr.write("parity_tracer: tracing disabled, activation failed (%s: %s)\n" % (type(exc).__name__, exc))
        return False


def _main():
    here = os.path.dirname(os.path.abspath(__file__))
    if getattr(sys, "_parity_tracer_bootstrapped", False):
        return False  # a second sitecustomize of ours on the path (e.g. a .pth re-run): once per process
    sys._parity_tracer_bootstrapped = True
    _chain_load_next(here)
    return _activate(here)


loaded = _main()
