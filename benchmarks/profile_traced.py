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

# What is timed, as a table: nesting (a row is part of the row above it with one level less), the timed function
# as ``module.attribute`` among the modules imported above, and the row's label.
TIMED_TABLE = """
0 agent.activate                    start-up: activation (settings, profile, sink, hooks)
0 hooks.Patcher._hook               in run: patching modules as they are imported
0 capture.Recorder.begin            in run: handlers before the call
0 capture.Recorder.end              in run: handlers after the call
1 stats.summarize                   statistics (stats.summarize, cache misses)
1 state.cfg_snapshot                cfg snapshots
1 profile_artifacts.save_array      saving .npy arrays
1 state.sha256                      sha256 of data files
1 sink.Sink.write                   stream writes (Sink.write)
0 agent.Agent.shutdown              exit: Agent.shutdown
1 handlers_config.at_exit           exit hooks (cfg snapshot, log_scale)
1 agent._reduce_at_exit             reduce at exit
2 streams.read_streams              read streams
2 provenance.git_state              git provenance
2 inference.inference               inference block
2 comparison.comparison             comparison metrics
2 training.training                 training block
2 validate.validate_document        schema validation
2 artifacts.write_artifacts         history.json and PNGs beside the document
3 figures.render_image              PNG rendering (incl. matplotlib import)
2 jsonio.dump_pretty                write the document
"""


def _timed_rows(table):
    """``(label, owner, attribute, indent)`` rows of ``table``; the owner is a module or a class."""
    rows = []
    for line in table.strip().splitlines():
        indent, path, label = line.split(None, 2)
        *owner_path, attr = path.split(".")
        owner = globals()[owner_path[0]]
        for part in owner_path[1:]:
            owner = getattr(owner, part)
        rows.append((label, owner, attr, int(indent)))
    return rows


TIMED = _timed_rows(TIMED_TABLE)

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
