"""Command line: ``python -m parity_tracer {run,reduce,validate,compare,bundle,verify,demo,dose-experiments} ...``.

Sub-commands import their module only when used, so ``run`` starts the target with as little of ours loaded as
possible (and never TensorFlow).
"""

import importlib
import os
import sys

USAGE = """usage: python -m parity_tracer COMMAND [options]

commands:
  run [--out DIR] [--pipeline NAME] [--scenario NAME] [--targets FILE] [--no-arrays] [--no-reduce] [--save-raw-data]
      script.py [args...] | -m module [args...]
                          run a program exactly like python, traced; reduce into DIR at exit
  reduce STREAMS... -o parity_telemetry.json [--pipeline NAME] [--scenario NAME]
  validate FILE           check a telemetry document against the spec v1.0 schema
  compare A.json B.json [--mode auto|same-npz|equivalent-params] [--format text|markdown|json] [-o FILE] [--plot PNG]
  bundle RUN_DIR DEST [--force]
  verify DEST
  demo [--out DIR]        trace two small synthetic pipelines and compare them
  dose-experiments --output-dir DIR|--delivery-root REPO [--ptycho PATH] [--nphotons X[,Y..]] [--loss-fn nll[,mae]]
      [--gridsize G] [--nepochs E] [--size S] [--nimgs-train N] [--nimgs-test N] [--flow ...] [--train-npz F]
                          run a PtychoPINN branch traced (spec §4.2) and write the verified §4.3 delivery
"""

_SUBCOMMANDS = {
    "reduce": "parity_tracer.reduce",
    "validate": "parity_tracer.validate",
    "compare": "parity_tracer.compare",
    "bundle": "parity_tracer.bundle",
    "verify": "parity_tracer.bundle:verify_main",
    "demo": "parity_tracer.demo.run",
    "dose-experiments": "parity_tracer.protocol.command",
}

_RUN_VALUE_OPTIONS = {"--out": "out_dir", "--pipeline": "pipeline", "--scenario": "scenario", "--targets": "targets"}
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
    module = importlib.import_module(module_name)
    return getattr(module, func or "main")(rest)


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
                    raise SystemExit("parity_tracer run: %s needs a value" % name)
                i += 1
                value = args[i]
            opts[_RUN_VALUE_OPTIONS[name]] = value
        elif a in _RUN_FLAGS:
            key, value = _RUN_FLAGS[a]
            opts[key] = value
        elif a == "-m":
            if i + 1 >= len(args):
                raise SystemExit("parity_tracer run: -m needs a module name")
            return opts, args[i + 1], True, args[i + 2:]
        elif a == "--":
            i += 1
            break
        elif a.startswith("-") and a != "-":
            raise SystemExit("parity_tracer run: unknown option %s\n%s" % (a, USAGE))
        else:
            break
        i += 1
    if i >= len(args):
        raise SystemExit("parity_tracer run: no script given\n" + USAGE)
    return opts, args[i], False, args[i + 1:]


def run_main(args):
    from parity_tracer import agent, runner
    from parity_tracer.settings import Settings

    opts, target, module, rest = parse_run_args(args)
    settings = Settings.from_env()
    for key, value in opts.items():
        setattr(settings, key, value)
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
