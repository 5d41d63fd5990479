"""Run a script or ``-m module`` exactly as ``python`` would (coverage.py's ``execfile.py`` is the model).

Same ``sys.argv``, ``sys.path[0]``, a fresh ``__main__`` module with ``__file__``/``__spec__``, ``SystemExit``
passed through, and an uncaught exception printed without our frames, exit status 1. An uncaught
``KeyboardInterrupt`` ends the process by SIGINT, as python does.
"""

import atexit
import importlib.machinery
import importlib.util
import os
import runpy
import signal
import sys
import types


class NoSource(Exception):
    """The script or module to run does not exist: reported in python's words, with python's exit status (2 for a
    script, 1 for a module)."""

    def __init__(self, message, status=2):
        super().__init__(message)
        self.status = status


class Program:
    """A program resolved by ``prepare``, ready to ``execute``."""

    def __init__(self, target, args, module):
        self.target, self.args, self.module = target, list(args), module
        self.label = target.split(".")[-1] if module else os.path.splitext(os.path.basename(target))[0]

    def execute(self):
        execute(self.target, self.args, self.module)


def prepare(target, args, module=False):
    """Resolve the program before anything of ours starts (coverage's ``PyRunner.prepare``), so that a missing
    script or module is reported before tracing is set up. Only the top-level package of a module is looked up
    (found, never imported: importing it here would run its code before the patches are in place)."""
    if module:
        _set_path0(os.getcwd())                  # what ``python -m`` (and run_module) search first
        top = target.split(".")[0]
        try:
            found = importlib.util.find_spec(top) if top else None
        except (ImportError, ValueError) as exc:
            raise NoSource("Error while finding module specification for %r (%s: %s)" % (
                target, type(exc).__name__, exc), status=1)
        if found is None:
            raise NoSource("No module named %s" % top, status=1)
    elif not os.path.exists(target):
        raise NoSource("can't open file %r: [Errno 2] No such file or directory" % os.path.abspath(target))
    return Program(target, args, module)


def _set_path0(directory):
    # ``python -P`` / PYTHONSAFEPATH: python would not add the script's directory
    if getattr(sys.flags, "safe_path", False):
        return
    if sys.path:
        sys.path[0] = directory
    else:
        sys.path.insert(0, directory)


def run_script(path, args):
    if not os.path.exists(path):
        raise NoSource("can't open file %r: [Errno 2] No such file or directory" % os.path.abspath(path))
    if os.path.isdir(path) or path.endswith((".zip", ".pyz")):
        # a directory or zip with __main__.py: python puts it on sys.path and runs __main__
        sys.argv = [path] + list(args)
        _set_path0(path)
        runpy.run_path(path, run_name="__main__")
        return
    abspath = os.path.abspath(path)
    with open(abspath, "rb") as fh:
        source = fh.read()
    code = compile(source, abspath, "exec", dont_inherit=True)
    main = types.ModuleType("__main__")
    main.__file__ = abspath
    main.__builtins__ = sys.modules["builtins"]
    main.__loader__ = importlib.machinery.SourceFileLoader("__main__", abspath)
    main.__spec__ = None
    main.__package__ = None
    main.__cached__ = None
    if sys.version_info < (3, 14):
        main.__annotations__ = {}   # the interpreter's own __main__ starts with one (until PEP 649)
    sys.modules["__main__"] = main
    sys.argv = [path] + list(args)
    _set_path0(os.path.dirname(os.path.realpath(abspath)))
    exec(code, main.__dict__)


def run_module(name, args):
    sys.argv = ["-m"] + list(args)   # runpy replaces argv[0] with the module's file, as ``python -m`` does
    _set_path0(os.getcwd())
    try:
        runner = runpy._run_module_as_main   # what ``python -m`` itself calls
    except AttributeError:  # pragma: no cover - every CPython 3.x has it
        runpy.run_module(name, run_name="__main__", alter_sys=True)
        return
    runner(name, alter_argv=True)


def execute(target, args, module=False):
    """Run the target; returns nothing or raises SystemExit with python's exit status."""
    try:
        if module:
            run_module(target, args)
        else:
            run_script(target, args)
    except SystemExit:
        raise
    except NoSource as exc:
        sys.stderr.write("%s: %s\n" % (sys.executable, exc))
        raise SystemExit(exc.status)
    except ImportError as exc:
        if module and getattr(exc, "name", None) == target.split(".")[0] and exc.__traceback__.tb_next is None:
            sys.stderr.write("%s: No module named %s\n" % (sys.executable, target))
            raise SystemExit(1)
        _report_uncaught(exc)
    except KeyboardInterrupt as exc:
        _report_uncaught(exc, interrupted=True)
    except BaseException as exc:
        _report_uncaught(exc)


def _strip_our_frames(tb):
    """Drop the leading frames that belong to parity_tracer / runpy, keep the user's."""
    here = os.path.dirname(os.path.abspath(__file__))
    runpy_file = os.path.abspath(runpy.__file__)
    while tb is not None:
        filename = os.path.abspath(tb.tb_frame.f_code.co_filename)
        if filename.startswith(here + os.sep) or filename == runpy_file or filename.startswith("<frozen runpy"):
            tb = tb.tb_next
            continue
        break
    return tb


def _report_uncaught(exc, interrupted=False):
    exc.__traceback__ = _strip_our_frames(exc.__traceback__)
    try:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    finally:
        sys.stderr.flush()
    if interrupted:
        # python exits an uncaught Ctrl-C by re-sending SIGINT to itself, after the atexit handlers
        try:
            sys.stdout.flush()
        except Exception:
            pass
        atexit._run_exitfuncs()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    raise SystemExit(1)
