"""Tracer settings: ONE table (field, environment variable, ``run`` option, kind, default, help) from which the
environment round trip, the ``run`` options and their help, the command line that reproduces a run (the bundle's
"Commands used") and the README's settings table are all derived.

Imported inside the traced program (by the agent, the bootstrap and the statistics): stdlib ``os`` and ``time`` only.
"""

import os
import time

ENV_PREFIX = "PARITY_TRACER_"
RUN_ID_ENV = ENV_PREFIX + "RUN_ID"      # made by the root process of a run, inherited by its children
OFF_WORDS = ("", "0", "false", "no", "off")


def on(value, default=False):
    """THE on/off reading of an environment variable: unset or blank is ``default``; 0/false/no/off are off."""
    if value is None or not value.strip():
        return default
    return value.strip().lower() not in OFF_WORDS


class Setting:
    """One row of the table. ``kind``: ``text`` (a string or None), ``list`` (comma-separated; the option is
    repeatable), ``flag`` (on/off; the option sets the opposite of the default), ``seconds`` (0 <= x < 1e6)."""

    def __init__(self, field, variable, option, kind, default, help, metavar=None):
        self.field, self.variable, self.option, self.kind = field, ENV_PREFIX + variable, option, kind
        self.default, self.help, self.metavar = default, help, metavar

    def parse(self, text):
        """The value of an environment variable's text; an unusable value is the default (the environment route
        never refuses)."""
        if self.kind == "flag":
            return on(text, self.default)
        if text is None or not text.strip():
            return self.default
        if self.kind == "seconds":
            try:
                v = float(text)
            except ValueError:
                return self.default
            return v if v == v and 0 <= v < 1e6 else self.default
        return text

    def format(self, value):
        """The variable's text for a value, or None when the value is the default (nothing to set)."""
        if value == self.default or value is None:
            return None
        if self.kind == "flag":
            return "1" if value else "0"
        if self.kind == "seconds":
            return repr(float(value))
        return str(value)

    def option_args(self, value):
        """The ``run`` option words for a value (``[]`` for the default)."""
        if self.option is None or value == self.default or value is None:
            return []
        if self.kind == "flag":
            return [self.option] if bool(value) != bool(self.default) else []
        if self.kind == "list":
            return [w for item in str(value).split(",") if item.strip() for w in (self.option, item.strip())]
        return [self.option, str(value)]


_TYPES = {"text": str, "list": str, "flag": bool, "seconds": (int, float)}

TABLE = (
    Setting("out_dir", "OUT", "--out", "text", None, "output directory (default "
            "`./parity_tracer_out/<UTC time>-<scenario or script name>-<pid>/`)", "DIR"),
    Setting("pipeline", "PIPELINE", "--pipeline", "text", None, "`pipeline` of the document", "NAME"),
    Setting("scenario", "SCENARIO", "--scenario", "text", None, "`scenario` of the document", "NAME"),
    Setting("targets", "TARGETS", "--targets", "text", None,
            "a JSON list of capture points used instead of the PtychoPINN profile (a regular file; its handlers "
            "are `parity_tracer.capture:record_result` / `:record_arguments`)", "FILE"),
    Setting("allow_handler_modules", "ALLOW_HANDLER_MODULE", "--allow-handler-module", "list", None,
            "also allow the targets file's handlers from MODULE (repeatable; the variable is comma-separated; a "
            "targets file is data: nothing else is ever imported or called from it)", "MODULE"),
    Setting("save_arrays", "SAVE_ARRAYS", "--no-arrays", "flag", True, "save the `.npy` arrays (`--no-arrays`: "
            "do not)"),
    Setting("reduce_at_exit", "REDUCE", "--no-reduce", "flag", True, "reduce the streams at exit (`--no-reduce`: "
            "keep the streams, skip the reduce)"),
    Setting("save_raw_data", "SAVE_RAW_DATA", "--save-raw-data", "flag", False,
            "save the simulated/loaded train data as `arrays/raw_data.npz` (for the bundle's `raw_data.npz`; large "
            "at production sizes, so off by default)"),
    Setting("strict", "STRICT", "--strict", "flag", False, "re-raise the tracer's own errors instead of counting "
            "them (for tests of the tracer)"),
    Setting("reduce_timeout", "REDUCE_TIMEOUT", None, "seconds", 10.0,
            "seconds the reduce at exit may hold the program's exit (then the streams are kept and the line says "
            "how to reduce them)"),
    Setting("profile", "PROFILE", None, "text", "ptychopinn", "the profile of capture points"),
    Setting("module_prefix", "MODULE_PREFIX", None, "text", None,
            "the traced package's real name when it is not the profile's root (the demo's namespaced stand-in)"),
)

#: variables read outside the settings (by the bootstrap and the statistics), listed in the README's table too
SWITCHES = (
    ("PARITY_TRACER", "1", "activate through `sitecustomize_example/` (also set by `run` for Python children)"),
    (ENV_PREFIX + "PURE_NUMPY", "1", "statistics through numpy even when the compiled kernel is built"),
)


class Settings:
    """The settings of one traced process: one attribute per row of ``TABLE``."""

    def __init__(self, **values):
        for s in TABLE:
            setattr(self, s.field, values.pop(s.field, s.default))
        if values:
            raise TypeError("unknown settings: %s" % ", ".join(sorted(values)))

    def __repr__(self):
        return "Settings(%s)" % ", ".join("%s=%r" % kv for kv in self.public().items())

    def __eq__(self, other):
        return isinstance(other, Settings) and self.public() == other.public()

    @classmethod
    def from_env(cls, environ=None):
        env = os.environ if environ is None else environ
        return cls(**{s.field: s.parse(env.get(s.variable)) for s in TABLE})

    def to_env(self):
        """The variables a child process needs to trace into the same output directory."""
        env = {"PARITY_TRACER": "1"}
        for s in TABLE:
            text = s.format(getattr(self, s.field))
            if text is not None:
                env[s.variable] = text
        return env

    def public(self):
        return {s.field: getattr(self, s.field) for s in TABLE}

    def apply_options(self, namespace):
        """The ``run`` options given on the command line (argparse's namespace; None = not given) win."""
        for s in TABLE:
            value = getattr(namespace, s.field, None) if s.option else None
            if value is None:
                continue
            setattr(self, s.field, ",".join(value) if s.kind == "list" else value)


def add_run_options(parser):
    """The ``run`` options of every setting that has one, on an argparse parser (defaults None: not given)."""
    for s in TABLE:
        if s.option is None:
            continue
        if s.kind == "flag":
            parser.add_argument(s.option, dest=s.field, action="store_const", const=not s.default, default=None,
                                help="%s [%s]" % (s.help, s.variable))
        else:
            parser.add_argument(s.option, dest=s.field, metavar=s.metavar, default=None,
                                action="append" if s.kind == "list" else "store",
                                help="%s [%s]" % (s.help, s.variable))


def value_options():
    """The ``run`` options that take a value (to find where the program's own arguments start)."""
    return frozenset(s.option for s in TABLE if s.option and s.kind != "flag")


def command_line(header):
    """``(cwd, traced, plain)``: the working directory, the command that reproduces a traced run (every setting
    that is not its default, as its ``run`` option or, without one, as its variable), and the program as plain
    Python runs it, from a stream header (hostile data: only strings are used, each shell-quoted)."""
    import shlex
    header = header if isinstance(header, dict) else {}
    argv = header.get("argv")
    argv = [a for a in argv if isinstance(a, str)] if isinstance(argv, list) else []
    cfg = header.get("config") if isinstance(header.get("config"), dict) else {}
    exe = header.get("executable") if isinstance(header.get("executable"), str) else "python"
    cwd = header.get("cwd") if isinstance(header.get("cwd"), str) else None
    module = header.get("module")
    if not isinstance(module, bool):
        # a header written before ``module`` was recorded: a module run records its dotted name first
        module = bool(argv) and not argv[0].endswith(".py") and os.path.sep not in argv[0] \
            and argv[0] not in ("-c", "-")
    target = ["-m"] + argv if module and argv else argv
    env, opts = [], []
    for s in TABLE:
        value = cfg.get(s.field, s.default)
        if not isinstance(value, _TYPES[s.kind]) or (s.kind != "flag" and isinstance(value, bool)):
            continue        # absent or of the wrong type: left at the default
        if s.option is not None:
            opts += s.option_args(value)
        else:
            text = s.format(value)
            if text is not None:
                env.append("%s=%s" % (s.variable, shlex.quote(text)))
    if opts and target and not module and target[0].startswith("-"):
        target = ["--"] + target
    quote = lambda words: [shlex.quote(w) for w in words]
    traced = " ".join(env + quote([exe, "-m", "parity_tracer", "run"] + opts + target))
    plain = " ".join(quote([exe] + target))
    return cwd, traced, plain


def markdown_table():
    """The README's settings table (tests/test_cli.py checks that the README holds exactly this)."""
    rows = ["| option of `run` | variable | default | meaning |", "|---|---|---|---|"]
    for s in TABLE:
        option = "`%s%s`" % (s.option, " " + s.metavar if s.metavar else "") if s.option else "—"
        default = "—" if s.default is None else ("on" if s.default else "off") if s.kind == "flag" \
            else "%g" % s.default if s.kind == "seconds" else "`%s`" % s.default
        rows.append("| %s | `%s` | %s | %s |" % (option, s.variable, default, s.help))
    for variable, value, text in SWITCHES:
        rows.append("| — | `%s=%s` | off | %s |" % (variable, value, text))
    return "\n".join(rows)


def default_out_dir(label=None):
    """``./parity_tracer_out/<UTC time>-<label>-<pid>``: one folder per run, never reused."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    parts = [stamp] + ([label] if label else []) + [str(os.getpid())]
    return os.path.join(os.getcwd(), "parity_tracer_out", "-".join(parts))
