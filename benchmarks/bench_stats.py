"""Speed and memory of parity_tracer.stats.summarize against one streaming read of the same array.

    python benchmarks/bench_stats.py [--sizes 256M,1G] [--repeat 3] [--isa avx2] [--fused-candidates]

For each size: a float32 array (clean, then NaN/+-Inf sprinkled at density 1e-4 in the same array) timed
side by side with ``a.max()`` (best of --repeat), and the peak extra memory that tracemalloc sees during
``summarize``; then a complex64 array of the first size against ``a.view(np.float32).max()`` (one read:
``np.abs(a).max()`` would be several).  Each case is timed with both paths of ``stats``: the compiled
kernel (``parity_tracer._moments``, "-" when it is not built or PARITY_TRACER_PURE_NUMPY=1) and pure
numpy, interleaved so that both see the same machine; the target applies to the path in use (compiled
when available).  ``--isa`` picks one of the kernel's variants (default: the fastest this CPU runs).
Not part of the test run.
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


KERNEL = stats._kernel  # None: not built, or PARITY_TRACER_PURE_NUMPY=1
PATHS = (("compiled", KERNEL), ("numpy", None)) if KERNEL is not None else (("numpy", None),)


def summarize_with(kernel, a):
    saved = stats._kernel
    stats._kernel = kernel
    try:
        return stats.summarize(a)
    finally:
        stats._kernel = saved


def side_by_side(a, baseline, repeat):
    """Best times of `baseline` and of summarize(a) by each path, interleaved (all see the same machine)."""
    tb = float("inf")
    ts = {name: float("inf") for name, _ in PATHS}
    for _, kernel in PATHS:
        summarize_with(kernel, a)  # warm up (first-touch of scratch buffers, BLAS init)
    for _ in range(repeat):
        tb = min(tb, best_of(baseline, 1))
        for name, kernel in PATHS:
            ts[name] = min(ts[name], best_of(lambda: summarize_with(kernel, a), 1))
    return tb, ts


def peak_extra(a, kernel):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        summarize_with(kernel, a)
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def kernel_line() -> str:
    if stats._moments is None:
        return "not built (pure numpy only)"
    isas = ", ".join(stats._moments.isas())
    if KERNEL is None:
        return f"built ({isas}) but disabled by PARITY_TRACER_PURE_NUMPY"
    return f"{stats._moments.use_isa()} (this CPU runs: {isas})"


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


def fused_candidates(size, repeat, rng):
    """Per-chunk work of the numpy path on clean float32, against fused alternatives that skip the float64 copy.

    Each variant computes max, min, sum and sum of squares of every CHUNK-sized block of one array, with float64
    accumulation (what the statistics need to stay identical to the reference). numpy has no float32 kernel with
    float64 accumulation: dtype=float64 reductions cast through small internal buffers instead.
    """
    a = rng.standard_normal(size // 4, dtype=np.float32)
    chunk = stats.CHUNK
    buf = np.empty(chunk, np.float64)
    mx, mn = np.maximum.reduce, np.minimum.reduce

    def copy_then_sums(x):       # what stats does: one float64 copy, einsum sum, BLAS sum of squares
        b = buf[:x.size]
        mx(x), mn(x), np.copyto(b, x)
        return float(np.einsum("i->", b)), stats._sumsq(b)

    def add_reduce_einsum(x):    # fused: float32 blocks, float64 accumulation, no copy of ours
        mx(x), mn(x)
        return float(np.add.reduce(x, dtype=np.float64)), float(np.einsum("i,i->", x, x, dtype=np.float64))

    def einsum_einsum(x):
        mx(x), mn(x)
        return float(np.einsum("i->", x, dtype=np.float64)), float(np.einsum("i,i->", x, x, dtype=np.float64))

    def walk(fn):
        return lambda: [fn(a[i:i + chunk]) for i in range(0, a.size, chunk)]

    variants = (("float64 copy, einsum + BLAS (in use)", copy_then_sums),
                ("fused: add.reduce(dtype=f8) + einsum(dtype=f8)", add_reduce_einsum),
                ("fused: einsum(dtype=f8) x2", einsum_einsum))
    times = {name: float("inf") for name, _ in variants}
    tb = float("inf")
    for _ in range(repeat):
        tb = min(tb, best_of(a.max, 1))
        for name, fn in variants:
            times[name] = min(times[name], best_of(walk(fn), 1))
    print("\nfused float32 candidates, clean float32 %s (chunks of %d), vs one read %.1f ms" % (
        fmt_size(size), chunk, tb * 1e3))
    for name, _ in variants:
        print("  %-50s %8.1f ms %6.2fx" % (name, times[name] * 1e3, times[name] / tb))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="256M,1G", help="array sizes in bytes, e.g. 256M,1G")
    ap.add_argument("--repeat", type=int, default=3, help="best of N (default 3)")
    ap.add_argument("--isa", help="kernel variant to time (see parity_tracer._moments.isas())")
    ap.add_argument("--fused-candidates", action="store_true",
                    help="also time fused float32 alternatives to the numpy path's float64 copy")
    args = ap.parse_args(argv)
    if args.isa:
        if KERNEL is None:
            ap.error("--isa: the compiled kernel is not in use")
        stats._moments.use_isa(args.isa)
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    rng = np.random.default_rng(0)

    print(f"python {platform.python_version()}  numpy {np.__version__}  cpus {os.cpu_count()}  cpu {cpu_line()}")
    print(f"BLAS: {blas_line()}  OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '-')}  "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '-')}")
    print(f"stats.CHUNK={stats.CHUNK}  repeat={args.repeat}  compiled kernel: {kernel_line()}")
    header = (f"{'case':<28}{'one read':>11}{'compiled':>11}{'ratio':>8}{'numpy':>11}{'ratio':>8}{'target':>8}"
              f"{'peak extra c/np':>18}{'target':>8}  ok")
    print(header)
    print("-" * len(header))

    def row(name, size, a, baseline, target):
        tb, ts = side_by_side(a, baseline, args.repeat)
        mem = {n: peak_extra(a, k) for n, k in PATHS}
        used = PATHS[0][0]  # what summarize uses here
        ok = ts[used] / tb <= target and mem[used] <= MEM_TARGET
        cells = []
        for n in ("compiled", "numpy"):
            cells.append(f"{ts[n] * 1e3:>9.1f}ms{ts[n] / tb:>7.2f}x" if n in ts else f"{'-':>11}{'-':>8}")
        mems = "/".join(f"{mem[n] / 2 ** 20:.2f}" if n in mem else "-" for n in ("compiled", "numpy"))
        print(f"{name + ' ' + fmt_size(size):<28}{tb * 1e3:>9.1f}ms{''.join(cells)}"
              f"{'<=' + format(target, 'g') + 'x':>8}{mems + 'MB':>18}{'<=8MB':>8}  {'yes' if ok else 'NO'}",
              flush=True)

    for size in sizes:
        a = rng.standard_normal(size // 4, dtype=np.float32)
        row("float32 clean", size, a, a.max, TARGETS["clean"])
        sprinkle(a, 1e-4, rng)
        row("float32 nan/inf 1e-4", size, a, a.max, TARGETS["nan/inf 1e-4"])
        del a
    size = sizes[0]
    z = np.empty(size // 8, np.complex64)
    zf = z.view(np.float32)
    zf[:] = rng.standard_normal(zf.size, dtype=np.float32)
    row("complex64 amp+phase", size, z, zf.max, TARGETS["complex64"])
    del z, zf
    if args.fused_candidates:
        fused_candidates(sizes[0], args.repeat, rng)


def fmt_size(n: int) -> str:
    for unit, m in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= m:
            return f"{n / m:g}{unit}"
    return f"{n}B"


if __name__ == "__main__":
    main()
