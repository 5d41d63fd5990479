"""parity_tracer._moments, the optional compiled kernel of stats: the same numbers as the pure-numpy path.

Skipped when the extension is not built.  (tests/test_stats.py runs all of its reference checks once with
each path.)  Counts, min and max must agree exactly; mean and std to ~1e-12 relative.
"""

import math
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conftest import REPO, clean_env
from parity_tracer import stats

_moments = stats._moments
pytestmark = pytest.mark.skipif(_moments is None, reason="parity_tracer._moments is not built")

RNG = np.random.default_rng(20240612)
COUNTS = ("nan_count", "inf_count", "finite_count", "total_count")
# BLOCK-sized chunks and ragged ones around it: the kernel's vector blocks, its tails and Python's merge
CHUNKS = (None, 1, 7, 64, 1000, 1024, 1024 * 3 + 5, 24576 + 5)


def both(a, chunk=None):
    """summarize(a) by the compiled kernel and by pure numpy."""
    saved = stats._kernel
    try:
        stats._kernel = _moments.moments
        compiled = stats.summarize(a, chunk=chunk)
        stats._kernel = None
        numpy = stats.summarize(a, chunk=chunk)
    finally:
        stats._kernel = saved
    return compiled, numpy


def close(got, want, rtol, atol=0.0):
    if want is None or got is None:
        return got is want
    if math.isinf(want) or math.isinf(got):
        return got == want
    return abs(got - want) <= atol + rtol * abs(want)


def assert_same_part(c, n, rtol):
    assert c["min"] == n["min"] and c["max"] == n["max"], (c, n)  # exact (None == None too)
    if n["std"] is None:
        assert c["mean"] is None and c["std"] is None
        return
    assert close(c["std"], n["std"], rtol, atol=1e-300), ("std", c["std"], n["std"])
    assert close(c["mean"], n["mean"], rtol, atol=rtol * n["std"] + 1e-300), ("mean", c["mean"], n["mean"])


def assert_same(c, n, rtol=1e-12):
    assert "error" not in c and "error" not in n, (c, n)
    assert set(c) == set(n)
    for k in COUNTS:
        assert c[k] == n[k], (k, c[k], n[k])
    assert (c["shape"], c["dtype"]) == (n["shape"], n["dtype"])
    if "amplitude" in n:
        assert_same_part(c["amplitude"], n["amplitude"], rtol)
        assert_same_part(c["phase"], n["phase"], rtol)
        assert close(c["energy"], n["energy"], rtol) and close(c["amplitude"]["l2_norm"], n["amplitude"]["l2_norm"], rtol)
    else:
        assert_same_part(c, n, rtol)


def check(a, chunk=None, rtol=1e-12):
    c, n = both(a, chunk)
    assert_same(c, n, rtol)
    return c


@pytest.fixture
def each_isa():
    """Run the test body once per kernel variant this CPU runs (AVX-512, AVX2, generic...)."""
    previous = _moments.use_isa()
    try:
        yield _moments.isas()
    finally:
        _moments.use_isa(previous)


def ref_moments(a, p):
    a = np.asarray(a)
    fin = a[np.isfinite(a)].astype(np.float64)
    d = fin - p
    return (fin.size, float(d.sum()), float((d * d).sum()), float(fin.min()) if fin.size else None,
            float(fin.max()) if fin.size else None, int(np.isnan(a).sum()), int(np.isinf(a).sum()))


def assert_moments(got, a, p, where=""):
    want = ref_moments(a, p)
    assert got[0] == want[0] and got[3:] == want[3:], (where, got, want)
    # float64 sums in different orders: bounded by ~ eps * sum|terms| <= eps * sqrt(n * sum(terms**2))
    scale = float(np.sqrt(max(want[2], 0.0) * max(want[0], 1)))
    assert abs(got[1] - want[1]) <= 1e-12 * scale + 1e-300, (where, got[1], want[1])
    assert abs(got[2] - want[2]) <= 1e-12 * want[2] + 1e-300, (where, got[2], want[2])


# -- the kernel itself ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_moments_against_numpy(dtype, each_isa):
    sizes = (0, 1, 2, 7, 15, 16, 17, 1023, 1024, 1025, 2048 + 3, 4096, 10_000)
    for isa in each_isa:
        _moments.use_isa(isa)
        for size in sizes:
            for mode in ("clean", "sparse", "dense", "all_nan", "all_inf", "one_finite", "negative"):
                a = (RNG.standard_normal(size) * 3 + 1).astype(dtype)
                if mode == "sparse" and size:
                    a[RNG.integers(0, size, max(1, size // 500))] = np.nan
                    a[RNG.integers(0, size, 2)] = np.inf
                    a[RNG.integers(0, size, 2)] = -np.inf
                elif mode == "dense":
                    a[RNG.random(size) < 0.5] = np.nan
                    a[RNG.random(size) < 0.1] = -np.inf
                elif mode == "all_nan":
                    a[:] = np.nan
                elif mode == "all_inf":
                    a[:] = np.inf
                    a[::3] = -np.inf
                elif mode == "one_finite" and size:
                    a[:] = np.nan
                    a[size // 2] = -7.25
                elif mode == "negative":
                    a = -np.abs(a) - 1e3
                for p in (0.0, 0.25, -1e3):
                    assert_moments(_moments.moments(a, p), a, p, (isa, size, mode, p))


def test_moments_clean_blocks_between_dirty_ones(each_isa):
    # the optimistic pass, the masked pass, and the switch between them (several non-finite values in a
    # block make the next block skip the optimistic pass)
    a = RNG.standard_normal(1024 * 12 + 9)
    a[5] = np.nan              # block 0: one -> block 1 optimistic again
    a[1024 * 2 + 1] = np.inf   # block 2: two -> block 3 masked although clean
    a[1024 * 2 + 2] = -np.inf
    a[1024 * 5:1024 * 7] = np.nan  # blocks 5, 6: all
    a[1024 * 9 + 1023] = np.nan  # last element of block 9
    a[-1] = -np.inf  # in the tail
    a[1024 * 10] = 1e3  # extremes in a clean block
    a[1024 * 11 + 7] = -1e3
    for isa in each_isa:
        _moments.use_isa(isa)
        for dtype in (np.float32, np.float64):
            b = a.astype(dtype)
            assert_moments(_moments.moments(b, 0.5), b, 0.5, isa)


def test_moments_extremes_are_exact():
    for dtype in (np.float32, np.float64):
        info = np.finfo(dtype)
        a = np.array([info.max, -info.max, info.tiny, -info.smallest_subnormal, 0.0, -0.0, 1.0] * 300, dtype)
        r = _moments.moments(a, 0.0)
        assert (r[0], r[3], r[4], r[5], r[6]) == (a.size, float(-info.max), float(info.max), 0, 0)


def test_moments_accepts_buffers_and_rejects_the_rest():
    x = np.arange(10.0)
    assert _moments.moments(memoryview(x), 0.0)[:5] == (10, 45.0, 285.0, 0.0, 9.0)
    assert _moments.moments(x.astype(np.float32).data, 1.0)[:5] == (10, 35.0, 205.0, 0.0, 9.0)
    ro = x.copy()
    ro.flags.writeable = False
    assert _moments.moments(ro, 0.0)[0] == 10
    assert _moments.moments(x.reshape(2, 5), 0.0)[0] == 10  # C-contiguous of any shape
    assert _moments.moments(np.empty(0, np.float32), 0.0) == (0, 0.0, 0.0, None, None, 0, 0)
    unaligned = np.frombuffer(b"\0" + x.astype(np.float32).tobytes(), np.float32, count=10, offset=1)
    for bad in (x[::2], x.reshape(2, 5).T, x.astype(np.int64), x.astype(np.float16), x.astype(">f8"),
                x.astype(np.longdouble) if np.finfo(np.longdouble).bits > 64 else b"12345678", b"abcd",
                unaligned):
        with pytest.raises((TypeError, ValueError, BufferError)):
            _moments.moments(bad, 0.0)
    for pivot in (math.nan, math.inf):
        with pytest.raises(ValueError):
            _moments.moments(x, pivot)
    with pytest.raises(ValueError):
        _moments.use_isa("no-such-isa")


def test_moments_threads():
    # the GIL is released during the loop: concurrent calls on shared data stay correct
    a = RNG.standard_normal(1 << 20).astype(np.float32)
    a[::997] = np.nan
    want = _moments.moments(a, 0.0)
    out = []

    def work():
        out.extend(_moments.moments(a, 0.0) == want for _ in range(20))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 80 and all(out)


# -- stats: compiled path == numpy path ---------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_random(dtype, chunk):
    a = (RNG.standard_normal(30_000) * 3 + 0.5).astype(dtype)
    check(a, chunk)


@pytest.mark.parametrize("chunk", (None, 1000, 7))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_offset_data(dtype, chunk):
    # re-centring: the kernel's second pass around the chunk mean
    for offset in (1e6, 1e12 if dtype == np.float64 else 1e7, -3e4):
        a = (offset + RNG.standard_normal(20_000)).astype(dtype)
        check(a, chunk, rtol=1e-9)
    steps = np.concatenate([np.zeros(3000), 1e8 + RNG.standard_normal(3000), RNG.standard_normal(3000)])
    check(steps.astype(dtype), chunk, rtol=1e-9)


@pytest.mark.parametrize("chunk", (None, 1000, 7))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_inf(dtype, chunk, each_isa):
    a = RNG.standard_normal(20_000).astype(dtype)
    idx = RNG.choice(a.size, 3000, replace=False)
    a[idx[:1000]] = np.nan
    a[idx[1000:2000]] = np.inf
    a[idx[2000:]] = -np.inf
    sparse = RNG.standard_normal(50_000).astype(dtype)
    sparse[RNG.integers(0, sparse.size, 5)] = np.nan
    for isa in each_isa:
        _moments.use_isa(isa)
        check(a, chunk)
        check(sparse, chunk)


@pytest.mark.parametrize("fill", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_no_finite_values(fill, dtype):
    for chunk in (None, 64, 7):
        c = check(np.full(3000, fill, dtype), chunk)
        assert c["min"] is c["mean"] is None and c["finite_count"] == 0


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_empty_and_tiny(dtype):
    for shape in ((0,), (0, 3), (1,), (2,), ()):
        check(np.ones(shape, dtype) * 1.5)
    check(np.array([np.nan, 1.0], dtype), chunk=1)


def test_float16_and_layouts():
    # float16 is walked as float32 chunks (nditer buffers); strided, transposed, byteswapped and unaligned
    # arrays reach the kernel as contiguous buffers too
    base = RNG.standard_normal((60, 70)).astype(np.float32)
    base[3, 4] = np.nan
    base[10, 11] = -np.inf
    arrays = [base.astype(np.float16), base.ravel()[::3], base.T, base[::-1, ::-2], np.asfortranarray(base),
              base[:, 5], base.astype(">f4"), base.astype(">f8")[:, ::3],
              np.frombuffer(b"\0" + base.tobytes(), dtype=np.float32, offset=1, count=base.size),
              np.broadcast_to(base[0], (50, 70))]
    for a in arrays:
        for chunk in (None, 100, 7):
            check(a, chunk)


def test_non_contiguous_chunk_falls_back():
    # what the kernel declines, add_compiled leaves untouched (the numpy path then adds it)
    real = stats._Real(np.dtype(np.float64), np.empty(100))
    real.kernel = _moments.moments
    assert real.add_compiled(np.arange(20.0)[::2]) is None
    assert real.mom.n == 0 and real.lo is None
    assert real.add_compiled(np.array([1.0, np.nan, np.inf])) == (1, 1)
    assert real.mom.n == 1 and real.lo == real.hi == 1.0


@pytest.mark.parametrize("chunk", (None, 100, 3))
def test_huge_and_tiny_float64(chunk):
    # beyond 2**+-400 the chunk is computed scaled (numpy), with the kernel's extrema and counts
    a = np.array([1e300, -1e300, 1e308, -1.7e308, 5e307, 1.0, -3.0, np.nan, np.inf] * 50)
    c = check(a, chunk)
    assert (c["min"], c["max"], c["nan_count"], c["inf_count"]) == (-1.7e308, 1e308, 50, 50)
    check(np.concatenate([RNG.standard_normal(1000), [1e300], RNG.standard_normal(1000)]), chunk)
    check(RNG.standard_normal(5000) * 1e-300, chunk)
    check(np.array([5e-324, 1e-323, 0.0, np.nan] * 100), chunk, rtol=1e-9)
    check(np.float32(3e38) * np.ones(3000, np.float32), chunk)


@pytest.mark.parametrize("chunk", (None, 1000, 7))
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex(dtype, chunk):
    z = (RNG.standard_normal(20_000) * 2 + 1j * RNG.standard_normal(20_000) + 0.3).astype(dtype)
    check(z, chunk)
    z[::50] = complex(np.nan, 1.0)
    z[3::50] = complex(-2.0, -np.inf)
    check(z, chunk)
    check(np.array([3e38 + 3e38j, 1 + 1j, -2e38 + 0j] * 10, dtype=dtype), chunk)  # |z| overflows float32
    check((1e6 + RNG.standard_normal(5000) + 1j).astype(dtype), chunk, rtol=1e-9)


def test_kernel_is_used_where_it_applies(monkeypatch):
    calls = []

    def spy(x, p):
        calls.append(x.dtype)
        return _moments.moments(x, p)

    monkeypatch.setattr(stats, "_kernel", spy)
    for a, used in [(np.ones(10, np.float32), True), (np.ones(10), True), (np.ones(10, np.float16), True),
                    (np.ones(10, np.complex64), True), (np.ones((3, 4)).T, True), (np.ones(10, np.int32), False),
                    (np.ones(10, bool), False), (np.ones(10, np.longdouble), np.finfo(np.longdouble).bits <= 64)]:
        calls.clear()
        stats.summarize(a)
        assert bool(calls) == used, (a.dtype, calls)


@pytest.mark.slow
def test_env_var_forces_numpy():
    code = "from parity_tracer import stats; print(stats._moments is not None, stats._kernel is not None)"
    for value, want in (("1", "True False"), ("yes", "True False"), ("0", "True True"), ("", "True True")):
        env = clean_env(PARITY_TRACER_PURE_NUMPY=value)
        out = subprocess.run([sys.executable, "-c", code], cwd=str(REPO), env=env, capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == want.split(), (value, out.stdout)


# -- property: any float array, any chunking --------------------------------------------------------------------


@settings(max_examples=int(os.environ.get("PARITY_TRACER_FUZZ_EXAMPLES", 200)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64]),
       chunk=st.sampled_from([None, 1, 3, 1000, 1024, 2053]))
def test_property_compiled_matches_numpy(data, dtype, chunk):
    width = 32 if dtype == np.float32 else 64
    elements = st.floats(width=width, allow_nan=True, allow_infinity=True)
    a = data.draw(hnp.arrays(dtype, st.integers(0, 3000), elements=elements,
                             fill=st.one_of(st.just(np.nan), elements)))
    c, n = both(a, chunk)
    for k in COUNTS:
        assert c[k] == n[k]
    assert c["min"] == n["min"] and c["max"] == n["max"]
    if n["mean"] is None:
        assert c["mean"] is None and c["std"] is None
        return
    # both paths round differently: bounded by the spread of the data (as test_float_lists_match_reference)
    spread = float(np.abs(a[np.isfinite(a)].astype(np.float64)).max())
    assert abs(c["mean"] - n["mean"]) <= 1e-12 * spread, (c["mean"], n["mean"])
    assert abs(c["std"] - n["std"]) <= 1e-9 * spread, (c["std"], n["std"])
