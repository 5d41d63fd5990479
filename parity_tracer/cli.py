"""The command line: ``python -m parity_tracer [--version] COMMAND [options]``, one argparse parser per command.

Each command module exposes ``add_arguments(parser)`` and ``command(args) -> int`` (0 ok, 1 the check found a
problem, 2 bad input or usage) and is imported only when its command is chosen, so ``run`` starts the program
with as little of ours loaded as possible (and never TensorFlow). Every usage error is one line
``parity_tracer: <command>: ...`` and exit status 2; an error a command did not anticipate is one line too.
argparse itself is imported only by ``main``: the agent imports ``say`` from here inside the traced program.
"""

import errno
import importlib
import os
import sys

PROG = "python -m parity_tracer"

#: command -> (module, add_arguments, command, one-line help); the module is imported only when chosen
COMMANDS = {
    "run": ("parity_tracer.cli", "add_run_arguments", "run_command",
            "run a program exactly like python, traced; reduce into --out at exit"),
    "reduce": ("parity_tracer.document.reduce", "add_arguments", "command",
               "reduce event streams to the telemetry document (one per run when there are several)"),
    "validate": ("parity_tracer.document.validate", "add_arguments", "command",
                 "check a telemetry document against the spec v1.0 schema"),
    "compare": ("parity_tracer.maintainer.compare.command", "add_arguments", "command",
                "compare two runs stage by stage (the §5.3 checklist and the first divergence)"),
    "bundle": ("parity_tracer.maintainer.bundle.command", "add_arguments", "command", "lay out a run as the spec §4.3 bundle"),
    "verify": ("parity_tracer.maintainer.bundle.command", "add_verify_arguments", "verify_command",
               "re-check every checksum of a bundle or delivery"),
    "report": ("parity_tracer.report", "add_arguments", "command", "one self-contained HTML page about runs"),
    "demo": ("parity_tracer.demo.run", "add_arguments", "command",
             "trace two small synthetic pipelines and compare them"),
    "dose-experiments": ("parity_tracer.protocol.command", "add_arguments", "command",
                         "run a PtychoPINN branch traced (spec §4.2) and write the verified §4.3 delivery"),
}


class UsageError(Exception):
    """A bad command line (exit status 2)."""


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        sys.stdout.write(_top_help())
        return 0 if flush_stdout("help") else 2
    if argv and argv[0] == "--version":
        from parity_tracer import __version__
        sys.stdout.write("parity_tracer %s\n" % __version__)
        return 0 if flush_stdout("version") else 2
    if not argv or argv[0] not in COMMANDS:
        say("parity_tracer: %s (commands: %s; see %s --help)" % (
            "no command given" if not argv else "unknown command %r" % argv[0], ", ".join(COMMANDS), PROG))
        return 2
    name, rest = argv[0], argv[1:]
    try:
        module_name, add_name, command_name, _ = COMMANDS[name]
        module = importlib.import_module(module_name)
        try:
            args = parse_command(name, rest)
        except UsageError as exc:
            say("parity_tracer: %s: %s (see %s %s -h)" % (name, exc, PROG, name))
            return 2
        except SystemExit as exc:                        # -h / --help: argparse printed the help
            code = exc.code if isinstance(exc.code, int) else 0
            return code if flush_stdout(name) else 2
        status = getattr(module, command_name)(args)
        if name == "run":
            return status                                # the program's stdout is the program's business
        flushed = flush_stdout(name)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        return fail(name, exc)
    return status if flushed else 2


def parse_command(name, words):
    """The namespace of one command's words (``args.argv``: the words themselves). Raises UsageError, or
    SystemExit(0) after printing the help."""
    module_name, add_name, _, help_text = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = _parser(name, getattr(module, "DESCRIPTION", None) or help_text[:1].upper() + help_text[1:] + ".")
    getattr(module, add_name)(parser)
    args = _parse_run(parser, words) if name == "run" else parser.parse_args(words)
    args.argv = list(words)
    return args


def _top_help():
    width = max(len(n) for n in COMMANDS)
    lines = ["usage: %s [--version] COMMAND [options]" % PROG, "", "commands:"]
    lines += ["  %-*s  %s" % (width, n, c[3]) for n, c in COMMANDS.items()]
    lines += ["", "%s COMMAND -h: the options of one command." % PROG, ""]
    return "\n".join(lines)


def _parser(name, description):
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message):               # one line and exit 2, raised to main (never argparse's exit)
            raise UsageError(message)

    # run: no abbreviations, so that the options before the program are found word by word
    return Parser(prog="%s %s" % (PROG, name), description=description, allow_abbrev=name != "run")


def _parse_run(parser, rest):
    # ``run`` stops at the program (coverage's disable_interspersed_args): the options before it are ours,
    # everything from the script or ``-m module`` on is the program's, ``--out x`` after the script included
    from parity_tracer.settings import value_options
    takes_value = value_options()
    i = 0
    while i < len(rest):
        word = rest[i]
        if word == "--" or word == "-m" or word == "-" or not word.startswith("-"):
            break
        i += 2 if word in takes_value else 1
    ours, program = rest[:i], rest[i:]
    if program[:1] == ["--"]:
        program = program[1:]
        if not program:
            raise UsageError("no script given after --")
        head, tail = ["--", program[0]], program[1:]
    elif program[:1] == ["-m"]:
        if len(program) < 2:
            raise UsageError("-m needs a module name")
        head, tail = program[:2], program[2:]
    else:
        head, tail = program[:1], program[1:]
    args = parser.parse_args(ours + head)
    if args.module is None and args.script is None:
        raise UsageError("no script given (a script, or -m module)")
    args.args = tail
    return args


# -- run -------------------------------------------------------------------------------------------------------------

def add_run_arguments(parser):
    from parity_tracer.settings import add_run_options
    parser.usage = "%s run [options] (script.py | -m module) [args...]" % PROG
    parser.add_argument("-m", dest="module", metavar="MODULE", help="run a module, like python -m")
    parser.add_argument("script", nargs="?", help="the program, run exactly like python (sys.argv, sys.path[0], "
                                                  "__main__, exit status); its own arguments follow it")
    add_run_options(parser)
    parser.epilog = ("Options after the program are the program's. Settings without an option are the "
                     "PARITY_TRACER_* variables (README, Settings).")


def run_command(args):
    """Configuration errors (targets file, output folder, the program itself) are reported before the program
    starts; from activation on, nothing of ours can stop it (a failed activation runs it untraced)."""
    from parity_tracer import agent, runner
    from parity_tracer.settings import Settings

    module = args.module is not None
    target = args.module if module else args.script
    settings = Settings.from_env()
    settings.apply_options(args)
    try:
        program = runner.prepare(target, args.args, module)
    except runner.NoSource as exc:
        say("%s: %s" % (sys.executable, exc))           # python's own words and status
        return exc.status
    if not settings.out_dir:
        from parity_tracer.settings import default_out_dir
        settings.out_dir = default_out_dir(settings.scenario or program.label)
    try:
        prepared = agent.prepare(settings)
    except agent.ConfigError as exc:
        say("parity_tracer: run: %s" % exc)
        return 2
    if agent.activate(settings, argv=[target] + list(args.args), module=module, prepared=prepared) is not None:
        _trace_children(settings)
    program.execute()
    return 0


def _trace_children(settings):
    """Python children inherit the settings and our bootstrap, so they trace into the same directory."""
    os.environ.update(settings.to_env())
    boot = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bootstrap")
    current = os.environ.get("PYTHONPATH", "")
    parts = [p for p in current.split(os.pathsep) if p]
    if boot not in parts:
        os.environ["PYTHONPATH"] = os.pathsep.join([boot] + parts)


# -- one-line errors -------------------------------------------------------------------------------------------------

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
