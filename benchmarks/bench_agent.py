"""Agent benchmarks: per-call overhead, sink throughput, reduce time, end to end on the stand-in pipeline.

    python benchmarks/bench_agent.py [--only overhead,sink,reduce,e2e] [--e2e-size 392] [--repeat 3]

Every ratio is measured side by side in the same run. Not part of the test suite.
"""

import argparse
import os
import subprocess
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
    from parity_tracer import reduce as reducer
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


def end_to_end(args):
    """The stand-in legacy dose pipeline at a realistic size, untraced and traced, alternating runs."""
    script = os.path.join(REPO, "parity_tracer", "demo", "standin", "scripts", "legacy_dose.py")
    layout = os.path.join(REPO, "parity_tracer", "demo", "standin", "legacy")
    base = {k: v for k, v in os.environ.items() if not k.startswith("PARITY_TRACER")}
    base["PYTHONPATH"] = os.pathsep.join([layout, REPO])
    target_args = ["--N", "64", "--size", str(args.e2e_size), "--nepochs", "1"]
    times = {"plain": [], "traced": []}
    for _ in range(args.repeat):
        for mode in ("plain", "traced"):
            work = tempfile.mkdtemp(prefix="ptbench-e2e-")
            cmd = [sys.executable, script] + target_args
            if mode == "traced":
                cmd = [sys.executable, "-m", "parity_tracer", "run", "--out", os.path.join(work, "out"),
                       script] + target_args
            t0 = time.perf_counter()
            subprocess.run(cmd, cwd=work, env=base, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[mode].append(time.perf_counter() - t0)
    plain, traced = min(times["plain"]), min(times["traced"])
    return [("end to end, stand-in dose size %d: untraced" % args.e2e_size, "%.2f s" % plain, ""),
            ("end to end, traced (incl. reduce at exit)", "%.2f s" % traced, ""),
            ("end to end, traced / untraced", "%.3f" % (traced / plain), "<= 1.02")]


SECTIONS = {"overhead": overhead, "sink": sink_throughput, "reduce": reduce_time, "e2e": end_to_end}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", default=",".join(SECTIONS))
    ap.add_argument("--e2e-size", type=int, default=392)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    rows = []
    for name in args.only.split(","):
        rows += SECTIONS[name.strip()](args)
    print("%-50s %18s %12s" % ("measure", "result", "target"))
    for row in rows:
        print("%-50s %18s %12s" % row)


if __name__ == "__main__":
    main()
