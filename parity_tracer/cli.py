"""Command line: ``python -m parity_tracer {run,reduce,validate,compare,bundle,verify,report,demo,dose-experiments} ...``.

Sub-commands import their module only when used, so ``run`` starts the target with as little of ours loaded as
possible (and never TensorFlow).
"""

import errno
import importlib
import os
import sys

USAGE = """usage: python -m parity_tracer COMMAND [options]

commands:
  run [--out DIR] [--pipeline NAME] [--scenario NAME] [--targets FILE] [--allow-handler-module MODULE]
      [--no-arrays] [--no-reduce] [--save-raw-data] script.py [args...] | -m module [args...]
                          run a program exactly like python, traced; reduce into DIR at exit
  reduce STREAMS... -o parity_telemetry.json [--pipeline NAME] [--scenario NAME] [--single] [--merge-runs]
                          several runs in the stream: one document per run in runs/ next to -o, plus runs.json
  validate FILE           check a telemetry document against the spec v1.0 schema
  compare A.json B.json [--mode auto|same-npz|equivalent-params] [--format text|markdown|json] [-o FILE] [--plot PNG]
          [--pair-by label|index]   (multi-run folders: one report per pair of runs, then a summary)
  bundle RUN_DIR DEST [--force] [--run LABEL] [--include PATH]...
  verify DEST
  report A [B] [--sweep DIR]... -o report.html [--mode ...] [--png-dir DIR]
                          one self-contained HTML page: checklist, stages, reconstructions, probe, training
  demo [--out DIR]        trace two small synthetic pipelines and compare them
  dose-experiments --output-dir DIR|--delivery-root REPO [--ptycho PATH] [--nphotons X[,Y..]] [--loss-fn nll[,mae]]
      [--gridsize G] [--nepochs E] [--size S] [--nimgs-train N] [--nimgs-test N] [--flow ...] [--train-npz F]
                          run a PtychoPINN branch traced (spec §4.2) and write the verified §4.3 delivery
"""

_SUBCOMMANDS = {
    "reduce": "parity_tracer.document.reduce",
    "validate": "parity_tracer.document.validate",
    "compare": "parity_tracer.maintainer.compare",
    "bundle": "parity_tracer.maintainer.bundle",
    "verify": "parity_tracer.maintainer.bundle:verify",
    "demo": "parity_tracer.demo.run",
    "report": "parity_tracer.report",
    "dose-experiments": "parity_tracer.protocol.command",
}

_RUN_VALUE_OPTIONS = {"--out": "out_dir", "--pipeline": "pipeline", "--scenario": "scenario", "--targets": "targets",
                      "--allow-handler-module": "allow_handler_modules"}
_RUN_FLAGS = {"--no-arrays": ("save_arrays", False), "--no-reduce": ("reduce_at_exit", False),
              "--save-raw-data": ("save_raw_data", True),
              "--strict": ("strict", True)}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "run":
        return run_main(rest)
    ref = _SUBCOMMANDS.get(command)
    if ref is None:
        sys.stderr.write("parity_tracer: unknown command %r\n%s" % (command, USAGE))
        return 2
    module_name, _, func = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
        name = func + "_" if func else ""
        status = _by_convention(command, module, rest, func) if hasattr(module, name + "command") else \
            getattr(module, func or "main")(rest)
        flushed = flush_stdout(command)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        return fail(command, exc)
    return status if flushed else 2


def _by_convention(command, module, rest, name=""):
    """A command module with ``add_arguments(parser)`` / ``command(args)`` (``name``: its second command,
    ``add_<name>_arguments`` / ``<name>_command``): argparse's usage errors exit 2."""
    import argparse
    prefix = name + "_" if name else ""
    parser = argparse.ArgumentParser(prog="python -m parity_tracer " + command,
                                     description=getattr(module, "DESCRIPTION", None))
    getattr(module, "add_%sarguments" % prefix)(parser)
    try:
        args = parser.parse_args(rest)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    return getattr(module, prefix + "command")(args)


class UsageError(Exception):
    """A bad command line (exit status 2)."""


def fail(command, exc):
    """The one-line report of an error a command did not anticipate (exit status 2, never a traceback; exit 1
    is reserved for "the check found a problem")."""
    if isinstance(exc, OSError):
        where = exc.filename if isinstance(exc.filename, str) else None
        reason = exc.strerror or str(exc) or type(exc).__name__
        if exc.errno == errno.ENAMETOOLONG:
            reason = "file name too long (a path component over the system limit)"
        text = "%s: %s" % (where, reason) if where else reason
    elif isinstance(exc, RecursionError):
        text = "input nested too deeply to process"
    elif isinstance(exc, MemoryError):
        text = "out of memory (input too large)"
    elif isinstance(exc, UnicodeError):
        text = "a file name or text is not valid UTF-8 (%s)" % type(exc).__name__
    else:
        text = "internal error (%s: %s)" % (type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc) else "")
    say("parity_tracer: %s: %s" % (command, text))
    flush_stdout(command, quiet=True)
    return 2


def say(line):
    try:
        sys.stderr.write(line.rstrip("\n") + "\n")
        sys.stderr.flush()
    except Exception:
        pass


def flush_stdout(command, quiet=False):
    """Flush stdout now, so a full disk is reported as one line (exit 2) rather than by the interpreter at exit.
    After a failure stdout is pointed at /dev/null: the interpreter's own last flush then has nothing to fail."""
    try:
        sys.stdout.flush()
        return True
    except (OSError, ValueError) as exc:
        if not quiet:
            say("parity_tracer: %s: cannot write to standard output (%s)" % (
                command, getattr(exc, "strerror", None) or exc))
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass
        return False


def parse_run_args(args):
    """Options up to the script (or ``-m module``); everything after belongs to the target."""
    opts, i = {}, 0
    while i < len(args):
        a = args[i]
        name, eq, inline = a.partition("=")
        if name in _RUN_VALUE_OPTIONS:
            if eq:
                value = inline
            else:
                if i + 1 >= len(args):
                    raise UsageError("%s needs a value" % name)
                i += 1
                value = args[i]
            key = _RUN_VALUE_OPTIONS[name]
            if key == "allow_handler_modules" and opts.get(key):
                value = opts[key] + "," + value       # repeatable
            opts[key] = value
        elif a in _RUN_FLAGS:
            key, value = _RUN_FLAGS[a]
            opts[key] = value
        elif a == "-m":
            if i + 1 >= len(args):
                raise UsageError("-m needs a module name")
            return opts, args[i + 1], True, args[i + 2:]
        elif a == "--":
            i += 1
            break
        elif a.startswith("-") and a != "-":
            raise UsageError("unknown option %s (see python -m parity_tracer --help)" % a)
        else:
            break
        i += 1
    if i >= len(args):
        raise UsageError("no script given (see python -m parity_tracer --help)")
    return opts, args[i], False, args[i + 1:]


def run_main(args):
    from parity_tracer import agent, runner
    from parity_tracer.settings import Settings

    try:
        opts, target, module, rest = parse_run_args(args)
    except UsageError as exc:
        say("parity_tracer: run: %s" % exc)
        return 2
    settings = Settings.from_env()
    for key, value in opts.items():
        setattr(settings, key, value)
    if settings.targets:
        # a bad targets file is a bad command line: refused before the program runs (the environment
        # activation, which cannot refuse, runs the program untraced instead)
        from parity_tracer.targets import TargetsError, load_targets_file
        try:
            load_targets_file(settings.targets, allowed_modules=agent.allowed_handler_modules(settings))
        except TargetsError as exc:
            say("parity_tracer: run: --targets %s" % exc)
            return 2
    if not settings.out_dir:
        label = target.split(".")[-1] if module else os.path.splitext(os.path.basename(target))[0]
        settings.out_dir = _default_out(settings, label)
    if agent.activate(settings, argv=[target] + rest) is not None:
        _trace_children(settings)
    runner.execute(target, rest, module)
    return 0


def _default_out(settings, label):
    from parity_tracer.settings import default_out_dir
    return default_out_dir(settings.scenario or label)


def _trace_children(settings):
    """Python children inherit the settings and our bootstrap, so they trace into the same directory."""
    os.environ.update(settings.to_env())
    boot = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bootstrap")
    current = os.environ.get("PYTHONPATH", "")
    parts = [p for p in current.split(os.pathsep) if p]
    if boot not in parts:
        os.environ["PYTHONPATH"] = os.pathsep.join([boot] + parts)
