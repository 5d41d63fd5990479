"""Activation and shutdown: the glue between settings, profile, patcher, recorder and sink.

``activate`` runs at most once per process. If anything in it fails, one line goes to stderr and the program
runs untraced. At exit the footer is written and the root process (not its children) reduces the streams to
the telemetry document and prints one summary line on stderr. ``deactivate`` is its mirror (OpenTelemetry's
instrument / uninstrument): the footer now, the patches and hooks taken back, and the process free to
activate again.
"""

import atexit
import os
import sys
import threading
import time
import uuid

from parity_tracer import faults, outputs, profiles, wrapper
from parity_tracer.capture import Recorder
from parity_tracer.cli import say as _say
from parity_tracer.hooks import Patcher, register_hook, unregister_hooks
from parity_tracer.settings import ENV_PREFIX, RUN_ID_ENV, Settings, default_out_dir
from parity_tracer.sink import Sink, header_fields
from parity_tracer.targets import TargetsError, with_prefix

ROOT_PID_ENV = ENV_PREFIX + "ROOT_PID"
RUN_ENV = (ROOT_PID_ENV, RUN_ID_ENV, ENV_PREFIX + "OUT")    # what activate sets for child processes
GIT_JOIN_TIMEOUT = 2.0     # the most the exit waits for the git provenance still being read

_agent = None     # the one active agent of this process (activate sets it, deactivate clears it)


class Agent:
    def __init__(self, settings, sink, recorder, patcher, profile):
        self.settings = settings
        self.sink = sink
        self.recorder = recorder
        self.patcher = patcher
        self.profile = profile
        self.out_dir = sink.out_dir
        self.exit_hooks = []
        self.pid = os.getpid()    # the process that activated; a forked child is a copy of it
        self.run_id = sink.header_fields.get("run_id")
        self._shut = False
        self._origin_seen = False
        self._git_thread = None
        self._import_hooks = []       # (module, hook) registered by on_import
        self.environ_before = {}      # RUN_ENV as it was before activate: deactivate puts it back
        self.active = True

    def emit(self, kind, **fields):
        self.sink.write(kind, fields)

    def module_name(self, canonical):
        """The real name of a module of the profile's package under the configured module prefix."""
        root = self.profile.root
        prefix = self.settings.module_prefix
        if prefix and root and (canonical == root or canonical.startswith(root + ".")):
            return prefix + canonical[len(root):]
        return canonical

    def on_import(self, canonical_module, fn):
        """Run ``fn(agent, module)`` once the module is imported (at once if it already is); never raises."""
        name = self.module_name(canonical_module)

        def hook(module):
            if not self.active:
                return        # deactivated: wrapt could not forget this hook
            try:
                with wrapper.busy():
                    fn(self, module)
            except Exception as exc:
                try:
                    self.recorder.failed("hook", name, exc)
                except Exception:
                    pass

        try:
            faults.check("hook")
            register_hook(self._import_hooks, name, hook)
        except Exception as exc:
            self.recorder.failed("hook", name, exc)

    def record_origin(self, path, module):
        """The traced package's root module was imported from ``path``: an ``origin`` event, and (once, in a
        background thread so the import is not held) the git provenance of that checkout as a ``git`` event."""
        self.emit("origin", path=path, module=module)
        if self._origin_seen or not path:
            return
        self._origin_seen = True
        try:
            # imported here, not in the thread: a thread importing while the host's import is in progress can
            # deadlock on the import locks (seen with TF 2.15)
            from parity_tracer import gitinfo
            thread = threading.Thread(target=self._record_git, args=(path, gitinfo), name="parity_tracer-git",
                                      daemon=True)
            thread.start()
            self._git_thread = thread
        except Exception as exc:
            self.recorder.failed("capture", "git provenance", exc)

    def _record_git(self, path, gitinfo):
        try:
            self.emit("git", **gitinfo.describe(path))
        except Exception as exc:
            try:
                self.recorder.failed("capture", "git provenance", exc)
            except Exception:
                pass

    def is_root(self):
        return os.environ.get(ROOT_PID_ENV) == str(os.getpid())

    def deactivate(self, reduce=False):
        """Stop tracing in this process, the mirror of ``activate``: the exit work now (exit hooks, footer; the
        reduce only when asked), every patch and hook taken back, the profile torn down, and ``activate`` free to
        start again. Never raises."""
        global _agent
        try:
            self.shutdown(reduce=reduce)
        finally:
            self.active = False
            for step in (lambda: atexit.unregister(self.shutdown), self.patcher.uninstall,
                         lambda: unregister_hooks(self._import_hooks), self.profile.teardown):
                try:
                    step()
                except Exception:
                    pass
            self.recorder.observers[:] = []
            self.recorder.handler_state = None
            self.exit_hooks[:] = []
            if os.getpid() == self.pid:
                for key, value in self.environ_before.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
            if _agent is self:
                _agent = None

    def shutdown(self, reduce=True):
        """Exit hooks, footer, then (root process only) reduce. Never raises."""
        if self._shut:
            return
        self._shut = True
        # A forked child shares the parent's program state: its exit facts (cfg snapshot, ...) are the
        # parent's to report, so it only writes its footer (when it has a stream of its own) and never reduces.
        forked = os.getpid() != self.pid
        thread = self._git_thread
        if thread is not None and not forked and thread.is_alive():
            thread.join(GIT_JOIN_TIMEOUT)      # bounded: git runs under its own time limit anyway
        with wrapper.busy():
            for hook in () if forked else self.exit_hooks:
                try:
                    hook(self)
                except Exception as exc:
                    self.recorder.failed("capture", getattr(hook, "__name__", "exit hook"), exc)
            wrapper.set_enabled(False)
            errors = dict(self.recorder.errors)
            for layer, n in self.sink.errors.items():
                errors[layer] = errors.get(layer, 0) + n
            try:
                self.sink.close({"errors": errors, "patches": self.patcher.summary()})
            except Exception:
                pass
            if forked or not reduce or not self.is_root() or not self.settings.reduce_at_exit:
                return
            line = _bounded_reduce_at_exit(self.out_dir, self.settings, sum(errors.values()), self.run_id)
            if line:
                _say(line)


def _watch_multiprocessing(agent, util):
    """multiprocessing's fork children leave through ``os._exit``: atexit never runs there (coverage.py #310,
    #879). multiprocessing runs its after-fork callbacks in each child after clearing its finalizers; ours
    registers a finalizer there, which multiprocessing runs as the child ends, and that writes the footer."""
    util.register_after_fork(agent, _register_child_footer)


def _register_child_footer(agent):
    if not agent.active:
        return
    try:
        util = sys.modules.get("multiprocessing.util")
        if util is not None:
            util.Finalize(None, agent.shutdown, exitpriority=-100)   # after the program's own finalizers
    except Exception:
        pass


def _bounded_reduce_at_exit(out_dir, settings, n_errors, run_id):
    """The reduce at exit, in a thread the exit waits for at most ``settings.reduce_timeout`` seconds: whatever
    is in the folder, the program's exit is never held longer (the document is written by rename, so a reduce
    cut short leaves either the whole document or none)."""
    result = []
    thread = threading.Thread(target=lambda: result.append(_reduce_at_exit(out_dir, settings, n_errors, run_id)),
                              name="parity_tracer-reduce", daemon=True)
    start = time.monotonic()
    try:
        thread.start()
        thread.join(settings.reduce_timeout)
    except Exception as exc:
        return "parity_tracer: reduce failed (%s: %s); streams kept in %s" % (
            type(exc).__name__, exc, os.path.join(out_dir, "streams"))
    if result:
        return result[0]
    return ("parity_tracer: reduce did not finish within %.0f s (PARITY_TRACER_REDUCE_TIMEOUT); streams kept in %s;"
            " reduce them with: python -m parity_tracer reduce %s -o %s" % (
                time.monotonic() - start, os.path.join(out_dir, "streams"), out_dir,
                os.path.join(out_dir, "parity_telemetry.json")))


def _reduce_at_exit(out_dir, settings, n_errors, run_id=None):
    try:
        faults.check("reduce")
        from parity_tracer.document import reduce
        out_path = os.path.join(out_dir, "parity_telemetry.json")
        # render=False: matplotlib and PNGs cost ~0.5 s of the program's exit; they are made on demand offline
        line, warnings, _ = reduce.reduce_path([os.path.join(out_dir, "streams")], out_path,
                                                pipeline=settings.pipeline, scenario=settings.scenario,
                                                run_id=run_id, render=False)
        # inside the host: its stderr gets this one line, not one per stream problem (they are in tracer.notes)
        n = len(warnings)
        if n:
            line += " [%d stream warning%s in tracer.notes]" % (n, "" if n == 1 else "s")
    except Exception as exc:
        line = "parity_tracer: reduce failed (%s: %s); streams kept in %s" % (
            type(exc).__name__, exc, os.path.join(out_dir, "streams"))
    if n_errors:
        line += " [%d tracer error%s recorded]" % (n_errors, "" if n_errors == 1 else "s")
    return line


def load_points(settings):
    """The profile and its capture points (a ``--targets`` file's through the generic profile), re-rooted for a
    module prefix."""
    profile = profiles.for_settings(settings)
    points = list(profile.points(settings))
    if settings.module_prefix and profile.root:
        points = with_prefix(points, settings.module_prefix, profile.root)
    return profile, points


def new_run_id():
    """Sortable and unique: UTC start time plus 48 random bits."""
    return "%s-%s" % (time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), uuid.uuid4().hex[:12])


def _program_argv():
    """(argv, module) of this process as ``run`` would take them: for ``python -m NAME`` (the environment route),
    ``sys.argv[0]`` is still ``-m`` while ``sitecustomize`` runs; the name is in ``sys.orig_argv`` (3.10+)."""
    argv = list(sys.argv)
    orig = list(getattr(sys, "orig_argv", None) or ())
    if argv[:1] == ["-m"] and len(orig) >= len(argv) and orig[len(orig) - len(argv) + 1:] == argv[1:]:
        name = orig[len(orig) - len(argv)]
        name = name[2:] if name.startswith("-m") else name
        if name:
            return [name] + argv[1:], True
    return argv, False


class ConfigError(Exception):
    """The user's own configuration cannot work (a bad targets file, an output folder that cannot be made)."""


def _is_root(settings):
    # Children inherit the output directory; only the first process tracing into it reduces it at exit
    # (a nested ``run --out elsewhere`` started by a traced process is the root of its own directory).
    inherited = os.environ.get(ENV_PREFIX + "OUT")
    return ROOT_PID_ENV not in os.environ or not inherited or os.path.abspath(inherited) != settings.out_dir \
        or not os.environ.get(RUN_ID_ENV)


def prepare(settings):
    """What activation needs from the user's configuration: the capture points and, for the root of a run, its
    own output folder (claimed). ``run`` calls it before the program starts and stops on ``ConfigError``; the
    environment route gets it inside ``activate``, where any failure runs the program untraced."""
    if not settings.out_dir:
        settings.out_dir = default_out_dir(settings.scenario or settings.pipeline)
    settings.out_dir = os.path.abspath(settings.out_dir)
    root = _is_root(settings)
    try:
        profile, points = load_points(settings)           # a bad targets file fails before anything is made
    except TargetsError as exc:
        raise ConfigError("targets file %s" % exc)
    if root:
        try:
            settings.out_dir = outputs.claim_dir(settings.out_dir)  # never a folder another run wrote into
        except OSError as exc:
            raise ConfigError("output folder %s cannot be created (%s)" % (
                settings.out_dir, exc.strerror or exc)) from exc
    return profile, points, root


def activate(settings=None, argv=None, module=False, prepared=None):
    """Start tracing in this process. Returns the agent, or None when tracing could not start. ``argv``: the
    program's command line, ``module``: whether it was run with ``-m`` (both recorded in the header)."""
    global _agent
    if _agent is not None:
        return _agent
    settings = settings or Settings.from_env()
    environ_before = {key: os.environ.get(key) for key in RUN_ENV}
    try:
        faults.check("activation")
        profile, points, root = prepared or prepare(settings)
        if root:
            os.environ[ROOT_PID_ENV] = str(os.getpid())
            os.environ[RUN_ID_ENV] = new_run_id()
        os.environ[ENV_PREFIX + "OUT"] = settings.out_dir
        if argv is None:
            argv, module = _program_argv()
        header = header_fields(settings, argv, profile.name)
        header["module"] = bool(module)
        sink = Sink(settings.out_dir, header)
        sink.open()
        recorder = Recorder(sink, strict=settings.strict)
        patcher = Patcher(points, recorder, sink.write)
        agent = Agent(settings, sink, recorder, patcher, profile)
        agent.environ_before = environ_before
        profile.setup(agent)
        agent.on_import("multiprocessing.util", _watch_multiprocessing)
        wrapper.set_enabled(True)
        patcher.install()
        atexit.register(agent.shutdown)
    except Exception as exc:
        wrapper.set_enabled(False)
        _say("parity_tracer: tracing disabled, activation failed (%s: %s)" % (type(exc).__name__, exc))
        if settings.strict:
            raise
        return None
    _agent = agent
    return agent


def current():
    return _agent


def deactivate(reduce=False):
    """Stop tracing in this process (see ``Agent.deactivate``); nothing when it is not traced."""
    agent = _agent
    if agent is not None:
        agent.deactivate(reduce=reduce)
