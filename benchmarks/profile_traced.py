"""Where the tracer's time goes in one traced run: inclusive wall time of each part of ours, by name.

    python benchmarks/profile_traced.py [--out DIR] script.py [args...]

Runs the script traced (settings from the environment, as the ``PARITY_TRACER=1`` route does; ``--out`` sets
the output directory) with timers around the tracer's own functions, and prints a table on stderr when the
process exits (after the tracer's own exit work). Nested rows are part of the row above them. Timers cost
~1 us per timed call, so the figures are slight over-estimates. Not part of the test suite.
"""

import atexit
import functools
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from parity_tracer import agent, capture, hooks, jsonio, runner, sink, stats  # noqa: E402

_t0 = time.perf_counter()
from parity_tracer.document import (artifacts, comparison, figures, inference, provenance, reduce as reducer,  # noqa: E402,F401
                                    streams, training, validate)  # (normally imported at exit)
IMPORT_REDUCE = time.perf_counter() - _t0
from parity_tracer.profiles.ptychopinn import artifacts as profile_artifacts, handlers_config, state  # noqa: E402
from parity_tracer.settings import Settings  # noqa: E402

# (row label, owner, attribute, indent): owner is a module or a class
TIMED = [
    ("start-up: activation (settings, profile, sink, hooks)", agent, "activate", 0),
    ("in run: patching modules as they are imported", hooks.Patcher, "_hook", 0),
    ("in run: handlers before the call", capture.Recorder, "begin", 0),
    ("in run: handlers after the call", capture.Recorder, "end", 0),
    ("statistics (stats.summarize, cache misses)", stats, "summarize", 1),
    ("cfg snapshots", state, "cfg_snapshot", 1),
    ("saving .npy arrays", profile_artifacts, "save_array", 1),
    ("sha256 of data files", state, "sha256", 1),
    ("stream writes (Sink.write)", sink.Sink, "write", 1),
    ("exit: Agent.shutdown", agent.Agent, "shutdown", 0),
    ("exit hooks (cfg snapshot, log_scale)", handlers_config, "at_exit", 1),
    ("reduce at exit", agent, "_reduce_at_exit", 1),
    ("read streams", streams, "read_streams", 2),
    ("git provenance", provenance, "git_state", 2),
    ("inference block", inference, "inference", 2),
    ("comparison metrics", comparison, "comparison", 2),
    ("training block", training, "training", 2),
    ("schema validation", validate, "validate_document", 2),
    ("history.json and PNGs beside the document", artifacts, "write_artifacts", 2),
    ("PNG rendering (incl. matplotlib import)", figures, "render_image", 3),
    ("write the document", jsonio, "dump_pretty", 2),
]

totals = {}
calls = {}
_depth = {}


def _timed(label, fn):
    @functools.wraps(fn)
    def timed(*args, **kwargs):
        outer = _depth.get(label, 0) == 0
        _depth[label] = _depth.get(label, 0) + 1
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _depth[label] -= 1
            if outer:
                totals[label] = totals.get(label, 0.0) + time.perf_counter() - t0
                calls[label] = calls.get(label, 0) + 1
    return timed


def install():
    for label, owner, attr, _ in TIMED:
        fn = getattr(owner, attr, None)
        if fn is not None:
            setattr(owner, attr, _timed(label, fn))


def report(t_start, cpu_start):
    wall = time.perf_counter() - t_start
    cpu = time.process_time() - cpu_start
    out = ["", "parity_tracer profile: process wall %.2f s, cpu %.2f s (from the harness start)" % (wall, cpu),
           "%-58s %9s %7s %7s" % ("part", "seconds", "% wall", "calls")]
    out.append("%-58s %9.3f %6.2f%% %7d" % ("  importing reduce + validate (timed at harness start)", IMPORT_REDUCE,
                                            100.0 * IMPORT_REDUCE / wall, 1))
    for label, _, _, indent in TIMED:
        if label in totals:
            out.append("%-58s %9.3f %6.2f%% %7d" % ("  " * indent + label, totals[label],
                                                    100.0 * totals[label] / wall, calls[label]))
    sys.stderr.write("\n".join(out) + "\n")


def main():
    args = sys.argv[1:]
    settings = Settings.from_env()
    if args[:1] == ["--out"]:
        settings.out_dir, args = args[1], args[2:]
    t_start, cpu_start = time.perf_counter(), time.process_time()
    atexit.register(report, t_start, cpu_start)   # registered first: runs after the tracer's own exit work
    install()
    if agent.activate(settings, argv=args) is None:
        sys.exit("profile_traced: activation failed")
    runner.execute(args[0], args[1:])


if __name__ == "__main__":
    main()
