"""parity_tracer bootstrap: with PARITY_TRACER=1, trace any Python process whose PYTHONPATH holds this folder.

Python imports ``sitecustomize`` at start-up. This one first runs the environment's own ``sitecustomize``
found further along ``sys.path`` (ddtrace's chain-loading), then activates the agent at most once per process.
Any failure prints one line on stderr and the program runs untraced (its child processes too: the variable is
set to 0). ``python -m parity_tracer ...`` is left to its command line. With the variable unset it imports
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


def _wanted(here):
    value = os.environ.get("PARITY_TRACER", "")
    if not value.strip() or _runs_our_cli():
        return False                 # unset: nothing of ours is imported
    return _import(here, "settings").on(value)      # the one on/off reading of the settings


def _runs_our_cli():
    """``python -m parity_tracer ...`` / ``parity-tracer ...``: the command line decides, not the environment
    (``run --out`` must win over an inherited PARITY_TRACER_OUT; ``reduce`` must not trace itself into the
    directory it reads). ``sys.orig_argv`` is Python 3.10+; on 3.9 the environment decides."""
    argv = list(getattr(sys, "orig_argv", None) or ())
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "-m":
            return i + 1 < len(argv) and argv[i + 1] in ("parity_tracer", "parity_tracer.cli")
        if a.startswith("-m"):
            return a[2:] in ("parity_tracer", "parity_tracer.cli")
        if a in ("-X", "-W", "--check-hash-based-pycs"):
            i += 2
            continue
        if a == "-" or a == "-c" or not a.startswith("-"):
            return not a.startswith("-") and os.path.basename(a) in ("parity-tracer", "parity_tracer")
        i += 1
    return False


def _import(here, name):
    """A module of ours: installed, or from the checkout this file sits in."""
    import importlib
    try:
        return importlib.import_module("parity_tracer." + name)
    except ImportError:
        parent = here
        for _ in range(3):
            parent = os.path.dirname(parent)
            if os.path.isfile(os.path.join(parent, "parity_tracer", "__init__.py")):
                sys.path.append(parent)
                return importlib.import_module("parity_tracer." + name)
        raise


def _activate(here):
    try:
        if not _wanted(here):
            return False
        if _import(here, "agent").activate() is not None:
            return True
    except Exception as exc:
        sys.stderr.write("parity_tracer: tracing disabled, activation failed (%s: %s)\n" % (type(exc).__name__, exc))
    # Failed (one line said so): child processes inherit this environment and would fail the same way, each
    # adding its own line; switch them off (opentelemetry-python packaging PR #99 does the same).
    os.environ["PARITY_TRACER"] = "0"
    return False


def _main():
    here = os.path.dirname(os.path.abspath(__file__))
    if getattr(sys, "_parity_tracer_bootstrapped", False):
        # a second copy of ours on the path (bootstrap and sitecustomize_example both, a .pth re-run):
        # activate once per process, but still hand over to the sitecustomize after this one
        _chain_load_next(here)
        return False
    sys._parity_tracer_bootstrapped = True
    _chain_load_next(here)
    return _activate(here)


loaded = _main()
