"""Speed and memory of parity_tracer.stats.summarize against one streaming read of the same array.

    python benchmarks/bench_stats.py [--sizes 256M,1G] [--repeat 3]

For each size: a float32 array (clean, then NaN/+-Inf sprinkled at density 1e-4 in the same array) timed
side by side with ``a.max()`` (best of --repeat), and the peak extra memory that tracemalloc sees during
``summarize``; then a complex64 array of the first size against ``a.view(np.float32).max()`` (one read:
``np.abs(a).max()`` would be several).  Not part of the test run.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from parity_tracer import stats  # noqa: E402

TARGETS = {"clean": 3.0, "nan/inf 1e-4": 8.0, "complex64": 10.0}
MEM_TARGET = 8 * 2 ** 20


def parse_size(text: str) -> int:
    text = text.strip().upper().rstrip("B").rstrip("I")
    mult = {"K": 2 ** 10, "M": 2 ** 20, "G": 2 ** 30}.get(text[-1:], 1)
    return int(float(text.rstrip("KMG")) * mult)


def best_of(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def side_by_side(a, baseline, repeat):
    """Best times of `baseline` and of summarize(a), interleaved so that both see the same machine."""
    tb = ts = float("inf")
    stats.summarize(a)  # warm up (first-touch of scratch buffers, BLAS init)
    for _ in range(repeat):
        tb = min(tb, best_of(baseline, 1))
        ts = min(ts, best_of(lambda: stats.summarize(a), 1))
    return tb, ts


def peak_extra(a):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        stats.summarize(a)
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def blas_line() -> str:
    try:
        cfg = np.__config__.CONFIG["Build Dependencies"]["blas"]  # numpy >= 1.26
        return f"{cfg.get('name')} {cfg.get('version')} ({cfg.get('openblas configuration', '').strip()})"
    except Exception:
        return "unknown"


def cpu_line() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def sprinkle(a, density, rng):
    """Put NaN, +Inf and -Inf (a third each) at `density` of the positions of `a`, in place."""
    k = max(3, int(a.size * density))
    idx = rng.integers(0, a.size, size=k)
    a[idx[0::3]] = np.nan
    a[idx[1::3]] = np.inf
    a[idx[2::3]] = -np.inf


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="256M,1G", help="array sizes in bytes, e.g. 256M,1G")
    ap.add_argument("--repeat", type=int, default=3, help="best of N (default 3)")
    args = ap.parse_args(argv)
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    rng = np.random.default_rng(0)

    print(f"python {platform.python_version()}  numpy {np.__version__}  cpus {os.cpu_count()}  cpu {cpu_line()}")
    print(f"BLAS: {blas_line()}  OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '-')}  "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '-')}")
    print(f"stats.CHUNK={stats.CHUNK}  repeat={args.repeat}")
    header = (f"{'case':<28}{'one read':>11}{'summarize':>12}{'ratio':>8}{'target':>8}{'peak extra':>12}"
              f"{'target':>9}  ok")
    print(header)
    print("-" * len(header))

    def row(name, size, tb, ts, mem, target):
        ok = ts / tb <= target and mem <= MEM_TARGET
        print(f"{name + ' ' + fmt_size(size):<28}{tb * 1e3:>9.1f}ms{ts * 1e3:>10.1f}ms{ts / tb:>7.2f}x"
              f"{'<=' + format(target, 'g') + 'x':>8}{mem / 2 ** 20:>10.2f}MB{'<=8MB':>9}  {'yes' if ok else 'NO'}",
              flush=True)

    for size in sizes:
        a = rng.standard_normal(size // 4, dtype=np.float32)
        tb, ts = side_by_side(a, a.max, args.repeat)
        row("float32 clean", size, tb, ts, peak_extra(a), TARGETS["clean"])
        sprinkle(a, 1e-4, rng)
        tb, ts = side_by_side(a, a.max, args.repeat)
        row("float32 nan/inf 1e-4", size, tb, ts, peak_extra(a), TARGETS["nan/inf 1e-4"])
        del a
    size = sizes[0]
    z = np.empty(size // 8, np.complex64)
    zf = z.view(np.float32)
    zf[:] = rng.standard_normal(zf.size, dtype=np.float32)
    tb, ts = side_by_side(z, zf.max, args.repeat)
    row("complex64 amp+phase", size, tb, ts, peak_extra(z), TARGETS["complex64"])


def fmt_size(n: int) -> str:
    for unit, m in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= m:
            return f"{n / m:g}{unit}"
    return f"{n}B"


if __name__ == "__main__":
    main()
