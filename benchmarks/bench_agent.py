"""Agent benchmarks: per-call overhead, sink throughput, reduce time (end to end: bench_e2e.py).

    python benchmarks/bench_agent.py [--only overhead,sink,reduce]

Every ratio is measured side by side in the same run. Not part of the test suite.
"""

import argparse
import os
import sys
import tempfile
import time
import timeit

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from parity_tracer import jsonio, wrapper  # noqa: E402
from parity_tracer.capture import Recorder  # noqa: E402
from parity_tracer.sink import Sink  # noqa: E402
from parity_tracer.targets import point  # noqa: E402


def _ns_per_call(fn, n=200000, repeat=5):
    best = min(timeit.repeat(lambda: fn(1), number=n, repeat=repeat))
    return best / n * 1e9


def target(x):
    return x


def overhead(args):
    """ns per call: unpatched, patched with tracing disabled, patched and traced (no handler / stage event)."""
    import numpy as np
    out_dir = tempfile.mkdtemp(prefix="ptbench-")
    sink = Sink(out_dir, {"argv": []})
    sink.open()
    recorder = Recorder(sink)
    bare = point(__name__, "target", name="bench::bare")
    staged = point(__name__, "target", after="bench_agent_handlers:stage_small", name="bench::staged")
    sys.modules["bench_agent_handlers"] = sys.modules[__name__]
    wrapped_bare = wrapper.TracedFunction(target, wrapper.make_wrapper(bare, recorder), bare)
    wrapped_staged = wrapper.TracedFunction(target, wrapper.make_wrapper(staged, recorder), staged)
    global _SMALL
    _SMALL = np.arange(16, dtype=np.float32)
    plain = _ns_per_call(target)
    wrapper.set_enabled(False)
    disabled = _ns_per_call(wrapped_bare)
    wrapper.set_enabled(True)
    traced = _ns_per_call(wrapped_bare, n=50000)
    staged_ns = _ns_per_call(wrapped_staged, n=5000, repeat=3)
    wrapper.set_enabled(False)
    sink.close({})
    return [
        ("call, unpatched", "%.0f ns" % plain, ""),
        ("call, patched, tracing disabled", "+%.0f ns" % (disabled - plain), "<= 150 ns"),
        ("call, patched, traced, no handler", "+%.0f ns" % (traced - plain), ""),
        ("call, traced, stage event of a 16-float array", "+%.1f us" % ((staged_ns - plain) / 1e3), ""),
    ]


_SMALL = None


def stage_small(call):
    call.stage("bench", _SMALL)


def _stage_event(i):
    return {"stage": "container_X", "source": "ptycho.loader::PtychoDataContainer.__init__",
            "stats": {"shape": [256, 64, 64, 4], "dtype": "float32", "min": 0.0, "max": 1.2345678, "mean": 0.0472367,
                      "std": 0.1123, "nan_count": 0, "inf_count": 0, "finite_count": 4194304,
                      "total_count": 4194304},
            "metadata": {"count": 256, "gridsize": 2, "group_limit": None}, "equivalent": False, "role": "train",
            "call_index": i, "note": None, "context": ["ptycho.data_preprocessing::generate_data"], "call_id": i}


def sink_throughput(args):
    rows = []
    n = 50000
    saved = jsonio.orjson
    backends = [("orjson", saved)] if saved is not None else []
    backends.append(("json fallback", None))
    for name, backend in backends:
        jsonio.orjson = backend
        if hasattr(jsonio, "_OPTS") and backend is None:
            pass
        out_dir = tempfile.mkdtemp(prefix="ptbench-sink-")
        sink = Sink(out_dir, {"argv": []})
        sink.open()
        events = [_stage_event(i) for i in range(1000)]
        t0 = time.perf_counter()
        for i in range(n):
            sink.write("stage", events[i % 1000])
        dt = time.perf_counter() - t0
        sink.close({})
        rows.append(("sink, %s" % name, "%.0f events/s" % (n / dt), ""))
    jsonio.orjson = saved
    return rows


def reduce_time(args):
    from parity_tracer.document import reduce as reducer
    out_dir = tempfile.mkdtemp(prefix="ptbench-reduce-")
    sink = Sink(out_dir, {"argv": [], "pipeline": "bench"})
    sink.open()
    n = 100000
    for i in range(n - 2):
        sink.write("stage", _stage_event(i))
    sink.close({"errors": {}})
    t0 = time.perf_counter()
    line = reducer.reduce_to_file([os.path.join(out_dir, "streams")], os.path.join(out_dir, "t.json"))
    dt = time.perf_counter() - t0
    return [("reduce, 100k-event stream (in process)", "%.2f s" % dt, "<= 1 s")]


SECTIONS = {"overhead": overhead, "sink": sink_throughput, "reduce": reduce_time}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", default=",".join(SECTIONS))
    args = ap.parse_args(argv)
    rows = []
    for name in args.only.split(","):
        rows += SECTIONS[name.strip()](args)
    print("%-50s %18s %12s" % ("measure", "result", "target"))
    for row in rows:
        print("%-50s %18s %12s" % row)


if __name__ == "__main__":
    main()
