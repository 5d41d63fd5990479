"""parity_tracer.stats: exactness against float64 references, layouts, dtypes, memory, symbolic tensors."""

import json
import math
import pickle
import sys
import tracemalloc
import types

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from parity_tracer import stats
from parity_tracer.stats import SYMBOLIC, is_symbolic, summarize, to_array

@pytest.fixture(scope="module", autouse=True, params=["compiled", "numpy"])
def stats_path(request):
    """Every test here runs with each path of stats: the compiled kernel (when built) and pure numpy."""
    if request.param == "compiled" and stats._moments is None:
        pytest.skip("parity_tracer._moments is not built")
    saved = stats._kernel
    stats._kernel = stats._moments.moments if request.param == "compiled" else None
    yield request.param
    stats._kernel = saved


RNG = np.random.default_rng(20240611)
COUNTS = ("nan_count", "inf_count", "finite_count", "total_count")
# Chunk sizes: the default, and small ones so that many chunks (and the merge) are exercised; 7 leaves
# ragged tails, 8192 * 3 goes through the stacked BLAS rows.
CHUNKS = (None, 24576 + 5, 1000, 64, 7)


# -- references ----------------------------------------------------------------------------------------------


def ref_real(a):
    """float64 reference of the statistics over the finite values of a real (or bool/int) array."""
    with np.errstate(all="ignore"):
        return _ref_real(np.asarray(a))


def _ref_real(a):
    if a.dtype == np.bool_:
        a = a.astype(np.uint8)
    fin = np.isfinite(a) if a.dtype.kind == "f" else np.ones(a.shape, bool)
    vals = a[fin]
    out = {
        "nan_count": int(np.isnan(a).sum()) if a.dtype.kind == "f" else 0,
        "finite_count": int(vals.size),
        "total_count": int(a.size),
    }
    out["inf_count"] = out["total_count"] - out["finite_count"] - out["nan_count"]
    if vals.size:
        f = vals.astype(np.float64)
        # Scale by a power of two (exact) so that squares neither overflow nor underflow.
        big = np.abs(f).max()
        e = int(np.frexp(big)[1]) if np.isfinite(big) and big > 0 else 0
        f = np.ldexp(f, -e)
        # np.std rounds the mean to a float first: for 1e12 + N(0, 1) that alone is a 1e-9 error.
        # Shifting by an element is exact when all values are within a factor 2 of it (Sterbenz).
        c = f.flat[0]
        if c != 0 and np.all((f / c >= 0.5) & (f / c <= 2.0)):
            d = f - c
            mean, std = c + d.mean(), d.std()
        else:
            mean, std = f.mean(), f.std()
        out.update(min=vals.min(), max=vals.max(), mean=float(np.ldexp(mean, e)), std=float(np.ldexp(std, e)))
    else:
        out.update(min=None, max=None, mean=None, std=None)
    return out


def ref_complex(z):
    with np.errstate(all="ignore"):
        return _ref_complex(np.asarray(z))


def _ref_complex(z):
    fin = np.isfinite(z)
    out = {
        "nan_count": int(np.isnan(z).sum()),
        "finite_count": int(fin.sum()),
        "total_count": int(z.size),
    }
    out["inf_count"] = out["total_count"] - out["finite_count"] - out["nan_count"]
    vals = z[fin]
    # in the input's precision, like summarize.  The phase is arctan2 of contiguous parts: numpy's
    # vectorised arctan2 (contiguous input) and its scalar loop (np.angle's strided views) may differ by
    # a few ulp; test_complex_phase_matches_np_angle compares with np.angle loosely.
    amp = np.abs(vals)
    ph = np.arctan2(np.ascontiguousarray(vals.imag), np.ascontiguousarray(vals.real))
    out["amplitude"] = ref_real(amp) if vals.size else None
    out["phase"] = ref_real(ph) if vals.size else None
    out["energy"] = float(np.sum(np.abs(vals.astype(np.complex128)) ** 2)) if vals.size else None
    return out


def close(got, want, rtol, atol=0.0):
    if want is None:
        return got is None
    return got is not None and abs(got - float(want)) <= atol + rtol * abs(float(want))


def check_real(s, a, rtol=1e-12):
    r = ref_real(a)
    for k in COUNTS:
        assert s[k] == r[k], (k, s[k], r[k])
    assert s["shape"] == list(np.shape(a))
    if r["min"] is None:
        assert s["min"] is s["max"] is s["mean"] is s["std"] is None
        return
    assert s["min"] == r["min"] and s["max"] == r["max"]  # exact
    assert close(s["std"], r["std"], rtol, atol=1e-300), (s["std"], r["std"])
    # the mean is compared relative to the spread too: its own relative error is unbounded near 0
    assert close(s["mean"], r["mean"], rtol, atol=rtol * r["std"] + 1e-300), (s["mean"], r["mean"])


def check_complex(s, z, rtol=1e-12):
    r = ref_complex(z)
    for k in COUNTS:
        assert s[k] == r[k], (k, s[k], r[k])
    if r["amplitude"] is None:
        assert s["amplitude"]["mean"] is None and s["phase"]["mean"] is None and s["energy"] is None
        return
    for part in ("amplitude", "phase"):
        got, want = s[part], r[part]
        assert got["min"] == want["min"] and got["max"] == want["max"], part
        assert close(got["std"], want["std"], rtol, 1e-300), (part, got["std"], want["std"])
        assert close(got["mean"], want["mean"], rtol, rtol * want["std"] + 1e-300), part
    for k in ("min", "max", "mean", "std"):
        assert s[k] == s["amplitude"][k]
    # energy / l2 come from the amplitude, which is rounded to the input's precision
    e_rtol = 1e-6 if np.asarray(z).dtype == np.complex64 else 1e-12
    assert close(s["energy"], r["energy"], e_rtol), (s["energy"], r["energy"])
    assert close(s["amplitude"]["l2_norm"], math.sqrt(r["energy"]), e_rtol)


def json_ready(obj):
    """What the JSON layer does: non-finite floats become null."""
    if isinstance(obj, dict):
        return {k: json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def assert_plain_types(obj):
    """Only python scalars, lists and dicts: no numpy scalars leak out."""
    if isinstance(obj, dict):
        for v in obj.values():
            assert_plain_types(v)
    elif isinstance(obj, list):
        for v in obj:
            assert_plain_types(v)
    else:
        assert obj is None or type(obj) in (bool, int, float, str), type(obj)


# -- real arrays ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_random_floats(dtype, chunk):
    a = (RNG.standard_normal(50_000) * 3 + 0.5).astype(dtype)
    s = summarize(a, chunk=chunk)
    assert s["dtype"] == np.dtype(dtype).name
    check_real(s, a)
    assert_plain_types(s)


@pytest.mark.parametrize("chunk", CHUNKS)
def test_offset_data_is_recentred(chunk):
    # 1e6 + N(0, 1): the uncentred sum of squares would lose 12 digits
    a = 1e6 + RNG.standard_normal(100_000)
    check_real(summarize(a, chunk=chunk), a, rtol=1e-9)
    a32 = a.astype(np.float32)
    check_real(summarize(a32, chunk=chunk), a32, rtol=1e-9)
    b = 1e12 + RNG.standard_normal(10_000)
    check_real(summarize(b, chunk=chunk), b, rtol=1e-9)


def test_offset_changes_between_chunks():
    # pivots adapt: zeros, then a large offset, then small values again
    a = np.concatenate([np.zeros(5000), 1e8 + RNG.standard_normal(5000), RNG.standard_normal(5000)])
    for chunk in (1000, 64, None):
        check_real(summarize(a, chunk=chunk), a, rtol=1e-9)


def test_just_below_recentring_threshold():
    # mean / std ~ 90: sum(x^2) / M2 ~ 8100 < COND, computed without re-centring
    a = (90 + RNG.standard_normal(200_000)).astype(np.float32)
    check_real(summarize(a), a, rtol=1e-9)


@pytest.mark.parametrize("chunk", (None, 1000, 7))
def test_nan_inf_mixtures(chunk):
    a = RNG.standard_normal(20_000).astype(np.float32)
    idx = RNG.choice(a.size, 3000, replace=False)
    a[idx[:1000]] = np.nan
    a[idx[1000:2000]] = np.inf
    a[idx[2000:]] = -np.inf
    check_real(summarize(a, chunk=chunk), a)
    only_nan = a.copy()
    only_nan[np.isinf(only_nan)] = np.nan
    check_real(summarize(only_nan, chunk=chunk), only_nan)
    only_inf = np.where(np.isnan(a), np.inf, a)
    check_real(summarize(only_inf, chunk=chunk), only_inf)
    a64 = a.astype(np.float64)
    check_real(summarize(a64, chunk=chunk), a64)


def test_extremes_next_to_non_finite():
    # np.nanmin/np.nanstd would be wrong with +-Inf present; the finite extremes must still be exact
    a = np.array([np.inf, 3.0, -np.inf, np.nan, -2.0, 7.5, np.inf], dtype=np.float64)
    s = summarize(a, chunk=2)
    assert (s["min"], s["max"]) == (-2.0, 7.5)
    assert (s["nan_count"], s["inf_count"], s["finite_count"], s["total_count"]) == (1, 3, 3, 7)
    check_real(s, a)


@pytest.mark.parametrize("fill", [np.nan, np.inf, -np.inf])
def test_no_finite_values(fill):
    a = np.full(1000, fill, dtype=np.float32)
    s = summarize(a, chunk=64)
    assert s["min"] is s["max"] is s["mean"] is s["std"] is None
    check_real(s, a)


def test_one_finite_among_nan():
    a = np.full(1000, np.nan)
    a[777] = -4.25
    s = summarize(a, chunk=100)
    assert (s["min"], s["max"], s["mean"], s["std"], s["finite_count"]) == (-4.25, -4.25, -4.25, 0.0, 1)


@pytest.mark.parametrize("shape", [(0,), (0, 3), (4, 0, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.complex64, np.bool_])
def test_empty(shape, dtype):
    s = summarize(np.zeros(shape, dtype))
    assert s["shape"] == list(shape)
    assert (s["min"], s["max"], s["mean"], s["std"]) == (None,) * 4
    assert (s["nan_count"], s["inf_count"], s["finite_count"], s["total_count"]) == (0, 0, 0, 0)


def test_zero_dim():
    s = summarize(np.array(2.5, dtype=np.float32))
    assert s["shape"] == [] and s["dtype"] == "float32"
    assert (s["min"], s["max"], s["mean"], s["std"], s["total_count"]) == (2.5, 2.5, 2.5, 0.0, 1)
    s = summarize(np.float64(np.nan))
    assert (s["nan_count"], s["finite_count"], s["mean"]) == (1, 0, None)


def test_constant_arrays():
    for a in (np.full(10_000, 3.7), np.full(10_000, -1e300), np.zeros(3000, np.float32)):
        s = summarize(a, chunk=1000)
        assert s["std"] == 0.0 and s["mean"] == a[0] and s["min"] == s["max"] == a[0]


# -- integers, bools, small and wide floats --------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64])
def test_ints(dtype):
    info = np.iinfo(dtype)
    a = RNG.integers(info.min, info.max, size=10_000, dtype=dtype, endpoint=True)
    a[:2] = info.min, info.max
    s = summarize(a, chunk=1000)
    assert s["min"] == int(info.min) and s["max"] == int(info.max)
    assert type(s["min"]) is int
    check_real(s, a, rtol=1e-12)


def test_int64_extremes():
    lo, hi = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    a = np.array([lo, hi, lo, hi], dtype=np.int64)
    s = summarize(a)
    assert (s["min"], s["max"]) == (int(lo), int(hi))
    assert abs(s["mean"]) <= 1e-15 * hi
    assert close(s["std"], 2.0 ** 63, 1e-15)
    u = np.array([0, np.iinfo(np.uint64).max], dtype=np.uint64)
    s = summarize(u)
    assert s["max"] == 2 ** 64 - 1 and close(s["mean"], 2.0 ** 63, 1e-15) and close(s["std"], 2.0 ** 63, 1e-15)


def test_ints_with_large_offset_are_recentred():
    a = (1_700_000_000 + RNG.integers(-100, 100, size=50_000)).astype(np.int64)  # e.g. timestamps
    check_real(summarize(a, chunk=4096), a, rtol=1e-9)


def test_bool():
    a = RNG.random(10_001) < 0.3
    s = summarize(a, chunk=1000)
    assert s["dtype"] == "bool" and (s["min"], s["max"]) == (0, 1)
    check_real(s, a)
    s = summarize(np.array([[True, True], [True, True]]).T)
    assert (s["min"], s["max"], s["mean"], s["std"]) == (1, 1, 1.0, 0.0)


def test_float16():
    a = RNG.standard_normal(5000).astype(np.float16)
    a[::97] = np.nan
    a[5] = np.inf
    s = summarize(a, chunk=256)
    assert s["dtype"] == "float16"
    check_real(s, a)


@pytest.mark.skipif(np.finfo(np.longdouble).bits <= 64, reason="longdouble is double here")
def test_longdouble():
    a = (RNG.standard_normal(3000) * 5).astype(np.longdouble)
    a[7] = np.nan
    a[9] = -np.inf
    s = summarize(a, chunk=100)
    r = ref_real(a.astype(np.float64))
    assert s["dtype"] == np.dtype(np.longdouble).name
    assert (s["nan_count"], s["inf_count"], s["finite_count"]) == (1, 1, 2998)
    assert s["min"] == r["min"] and s["max"] == r["max"]
    assert close(s["mean"], r["mean"], 1e-12, 1e-12) and close(s["std"], r["std"], 1e-12)
    # finite longdouble values beyond the float64 range: scaled computation, counted as finite
    big = np.array([1, -1, 1, -1], dtype=np.longdouble) * np.longdouble("1e400")
    s = summarize(big)
    assert s["finite_count"] == 4 and s["nan_count"] == s["inf_count"] == 0
    assert s["mean"] == 0.0 and s["std"] == math.inf  # 1e400 is not a float: the JSON layer writes null


@pytest.mark.parametrize("chunk", (None, 100, 3))
def test_huge_magnitudes(chunk):
    a = np.array([1e300, -1e300, 1e308, -1.7e308, 5e307, 1.0, -3.0] * 50)
    s = summarize(a, chunk=chunk)
    scale = 2.0 ** -600
    scaled = a * scale  # exact: powers of two; the reference cannot square 1e308 otherwise
    assert s["min"] == -1.7e308 and s["max"] == 1e308
    assert close(s["mean"], scaled.mean() / scale, 1e-12)
    assert close(s["std"], scaled.std() / scale, 1e-12)
    mixed = np.concatenate([RNG.standard_normal(1000), [1e300], RNG.standard_normal(1000)])
    s = summarize(mixed, chunk=chunk)
    assert close(s["mean"], (mixed * scale).mean() / scale, 1e-12)
    assert close(s["std"], (mixed * scale).std() / scale, 1e-12)


def test_tiny_magnitudes():
    a = RNG.standard_normal(10_000) * 1e-300
    check_real(summarize(a, chunk=1000), a, rtol=1e-12)
    d = np.array([5e-324, 1e-323, 0.0] * 100)  # subnormals
    check_real(summarize(d, chunk=7), d, rtol=1e-9)


# -- complex ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex(dtype, chunk):
    z = (RNG.standard_normal(20_000) * 2 + 1j * RNG.standard_normal(20_000) + 0.3).astype(dtype)
    s = summarize(z, chunk=chunk)
    assert s["dtype"] == np.dtype(dtype).name
    check_complex(s, z)
    assert_plain_types(s)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_non_finite_parts(dtype):
    z = (RNG.standard_normal(5000) + 1j * RNG.standard_normal(5000)).astype(dtype)
    z[::50] = complex(np.nan, 1.0)
    z[1::50] = complex(1.0, np.nan)
    z[2::50] = complex(np.inf, 0.0)
    z[3::50] = complex(-2.0, -np.inf)
    z[4::50] = complex(np.inf, np.nan)  # NaN wins: counted as nan
    s = summarize(z, chunk=128)
    assert s["nan_count"] == 300 and s["inf_count"] == 200 and s["finite_count"] == 4500
    check_complex(s, z)
    s = summarize(np.full(10, complex(np.nan, np.nan), dtype))
    assert s["finite_count"] == 0 and s["energy"] is None and s["phase"]["min"] is None


def test_complex_amplitude_overflowing_float32():
    # finite complex64 whose |z| exceeds float32: amplitude is computed wider, nothing is lost
    z = np.array([3e38 + 3e38j, 1 + 1j, -2e38 + 0j], dtype=np.complex64)
    s = summarize(z)
    amp = np.abs(z.astype(np.complex128))
    assert s["finite_count"] == 3 and s["inf_count"] == 0
    assert close(s["max"], amp.max(), 1e-12) and close(s["mean"], amp.mean(), 1e-12)
    assert close(s["amplitude"]["std"], amp.std(), 1e-12)


@pytest.mark.parametrize("dtype,rtol", [(np.complex64, 1e-6), (np.complex128, 1e-14)])
def test_complex_phase_matches_np_angle(dtype, rtol):
    z = (RNG.standard_normal(30_000) + 1j * RNG.standard_normal(30_000)).astype(dtype)
    s, ph = summarize(z, chunk=1000)["phase"], np.angle(z).astype(np.float64)
    for k, want in (("min", ph.min()), ("max", ph.max()), ("mean", ph.mean()), ("std", ph.std())):
        assert close(s[k], want, rtol, rtol), (k, s[k], want)


def test_complex_phase_values():
    z = np.array([1, 1j, -1, -1j, 1 + 1j], dtype=np.complex128)
    s = summarize(z)
    assert s["phase"]["max"] == math.pi and s["phase"]["min"] == -math.pi / 2
    assert close(s["energy"], 6.0, 1e-15) and close(s["amplitude"]["l2_norm"], math.sqrt(6.0), 1e-15)


# -- layouts ------------------------------------------------------------------------------------------------------


def _layouts():
    base = RNG.standard_normal((60, 70)).astype(np.float32)
    base[3, 4] = np.nan
    base[10, 11] = np.inf
    big = RNG.standard_normal((8, 9, 10))
    return {
        "step3": base.ravel()[::3],
        "transpose": base.T,
        "negative": base[::-1, ::-2],
        "fortran": np.asfortranarray(base),
        "column": base[:, 5],
        "inner_slice": base[:, 10:50],
        "axes_permuted": big.transpose(2, 0, 1),
        "permuted_strided": big.transpose(1, 2, 0)[::2, :, ::-3],
        "broadcast": np.broadcast_to(base[0], (50, 70)),
        "byteswapped": base.astype(">f4"),
        "unaligned": np.frombuffer(b"\0" + base.tobytes(), dtype=np.float32, offset=1, count=base.size),
        "length_one_axes": base[None, :, None, :1],
    }


@pytest.mark.parametrize("name", list(_layouts()))
@pytest.mark.parametrize("chunk", (None, 100, 7))
def test_layouts(name, chunk):
    a = _layouts()[name]
    s = summarize(a, chunk=chunk)
    assert s["shape"] == list(a.shape)
    check_real(s, a)


def test_layout_complex_and_int_views():
    z = (RNG.standard_normal((40, 30)) + 1j * RNG.standard_normal((40, 30))).astype(np.complex64)
    check_complex(summarize(z.T[::-1, ::3], chunk=50), z.T[::-1, ::3])
    i = RNG.integers(-50, 50, size=(30, 40), dtype=np.int16)
    check_real(summarize(i[:, ::-7].T, chunk=9), i[:, ::-7].T)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_subclasses():
    m = np.ma.masked_array([1.0, 2.0, 300.0], mask=[False, False, True])
    assert summarize(m)["max"] == 300.0  # the data, as np.asarray sees it
    s = summarize(np.matrix([[1.0, 2.0], [3.0, 4.0]]))
    assert s["shape"] == [2, 2] and s["mean"] == 2.5


# -- python values and odd inputs -------------------------------------------------------------------------------


def test_python_scalars_and_sequences():
    s = summarize(3)
    assert (s["shape"], s["min"], s["mean"], s["std"], s["total_count"]) == ([], 3, 3.0, 0.0, 1)
    s = summarize(2.5)
    assert (s["dtype"], s["min"]) == ("float64", 2.5)
    assert summarize(True)["dtype"] == "bool"
    s = summarize(3 - 4j)
    assert s["amplitude"]["mean"] == 5.0 and s["energy"] == 25.0
    s = summarize(2 ** 100)
    assert s["min"] == float(2 ** 100) and s["finite_count"] == 1
    s = summarize([1, 2, 3.5, float("nan")])
    assert (s["shape"], s["nan_count"], s["max"], s["mean"]) == ([4], 1, 3.5, 6.5 / 3)
    s = summarize(((1, 2), (3, 4)))
    assert s["shape"] == [2, 2] and s["dtype"] in ("int64", "int32")  # numpy's default int
    assert summarize(np.float32(1.5))["dtype"] == "float32"
    assert summarize(memoryview(np.arange(4.0)))["mean"] == 1.5
    assert summarize([])["total_count"] == 0


@pytest.mark.parametrize("value,typename", [
    ("abc", "builtins.str"),
    (b"abc", "builtins.bytes"),
    (None, "builtins.NoneType"),
    ({"a": 1}, "builtins.dict"),
    (object(), "builtins.object"),
    ([[1, 2], [3]], "builtins.list"),  # ragged
])
def test_not_array_like(value, typename):
    assert to_array(value) is None
    assert summarize(value) == {"type": typename, "unsupported": True}


@pytest.mark.parametrize("a", [
    np.array(["a", "bc"]),
    np.array([b"x"]),
    np.array([1, "a", None], dtype=object),
    np.array([1.0, 2.0], dtype=object),
    np.array(["2020-01-01", "2021-01-01"], dtype="datetime64[D]"),
    np.array([1, 2], dtype="timedelta64[s]"),
    np.zeros(3, dtype=[("x", "f4"), ("y", "i4")]),
    np.zeros(2, dtype="V8"),
])
def test_unsupported_dtypes(a):
    s = summarize(a)
    assert s == {"shape": list(a.shape), "dtype": a.dtype.name, "total_count": a.size, "unsupported": True}


def test_array_like_objects():
    class HasArray:
        def __array__(self, dtype=None, copy=None):
            return np.arange(6.0).reshape(2, 3)

    class Broken:
        def __array__(self, dtype=None, copy=None):
            raise RuntimeError("device memory")

    s = summarize(HasArray())
    assert s["shape"] == [2, 3] and s["mean"] == 2.5
    s = summarize(Broken())
    assert s["unsupported"] is True and s["type"].endswith("Broken")


def test_never_raises_on_internal_error(monkeypatch):
    def boom(*args, **kwargs):
        raise MemoryError("no room")

    monkeypatch.setattr(stats, "_summarize_array", boom)
    s = summarize(np.zeros(3))
    assert s["unsupported"] is True and s["error"].startswith("MemoryError") and s["total_count"] == 3


def test_no_warnings_escape():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summarize(np.array([1e308, -1e308, np.inf, np.nan]))
        summarize(np.array([3e38 + 3e38j, np.nan], dtype=np.complex64))
        summarize(np.array([np.nan, 1.0], dtype=np.float16))
        summarize(np.full(5, np.inf, np.float32))


def test_sentinel():
    assert repr(SYMBOLIC) == "SYMBOLIC"
    assert pickle.loads(pickle.dumps(SYMBOLIC)) is SYMBOLIC


# -- symbolic values without TensorFlow (fake classes from TF/Keras module names) -------------------------------


def _fake_class(module, name, bases=(object,), **attrs):
    return type(name, bases, dict(attrs, __module__=module))


def test_keras_tensor_by_name_is_symbolic():
    KT3 = _fake_class("keras.src.backend.common.keras_tensor", "KerasTensor")
    KT2 = _fake_class("tf_keras.src.engine.keras_tensor", "KerasTensor")
    Sub = _fake_class("mylib", "MyTensor", (KT3,))
    for v in (KT3(), KT2(), Sub()):
        assert is_symbolic(v)
        assert to_array(v) is SYMBOLIC
        s = summarize(v)
        assert s["symbolic"] is True and s["type"].endswith(type(v).__name__)
    assert summarize([KT3(), KT3()])["symbolic"] is True
    # a class of the same name outside TF/Keras is not ours to judge
    assert not is_symbolic(_fake_class("mylib", "KerasTensor")())


def test_graph_mode_makes_tf_values_symbolic(monkeypatch):
    calls = []

    class Eager:
        def numpy(self):
            calls.append("numpy")
            return np.array([1.0, 2.0])

    Eager.__module__ = "tensorflow.python.framework.ops"
    Eager.__qualname__ = "Eager"
    fake_tf = types.ModuleType("tensorflow")
    fake_tf.executing_eagerly = lambda: True
    monkeypatch.setitem(sys.modules, "tensorflow", fake_tf)
    assert not is_symbolic(Eager())
    assert summarize(Eager())["mean"] == 1.5
    fake_tf.executing_eagerly = lambda: False
    calls.clear()
    assert is_symbolic(Eager())
    assert summarize(Eager()) == {"symbolic": True, "type": "tensorflow.python.framework.ops.Eager"}
    assert calls == []  # never touched
    assert not is_symbolic(np.zeros(2))  # non-TF values are never symbolic


def test_escaped_graph_tensor_is_symbolic(monkeypatch):
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    Tensor = _fake_class("tensorflow.python.framework.tensor", "Tensor")
    Symbolic = _fake_class("tensorflow.python.framework.ops", "SymbolicTensor", (Tensor,))
    EagerTensor = _fake_class("tensorflow.python.framework.ops", "EagerTensor", (Tensor,),
                              numpy=lambda self: np.ones(3, np.float32))
    assert is_symbolic(Symbolic())
    assert not is_symbolic(EagerTensor())
    assert summarize(EagerTensor())["mean"] == 1.0


def test_tensorflow_is_never_imported():
    if "tensorflow" in sys.modules:
        pytest.skip("tensorflow already imported in this process")
    Fake = _fake_class("tensorflow.python.ops.variables", "Variable", numpy=lambda self: np.zeros(2))
    summarize(Fake())
    is_symbolic(Fake())
    summarize(np.zeros(3))
    assert "tensorflow" not in sys.modules


# -- memory -----------------------------------------------------------------------------------------------------


def _peak_extra(fn):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("case", ["float32", "float32_dirty", "float64_strided", "float64_offset", "complex64",
                                  "complex64_overflow", "int16_T"])
def test_memory_is_bounded(case):
    n = 16 * 1024 * 1024  # 64 MiB of float32
    if case.startswith("float32"):
        a = np.empty(n, np.float32)
        a[:] = 1.5
        a[::4099] = -2.0
        if case == "float32_dirty":
            a[::9973] = np.nan
            a[::10007] = np.inf
    elif case == "float64_strided":
        a = np.ones(n // 2, np.float64)[::2]  # not contiguous: walked through nditer's buffer
    elif case == "float64_offset":
        a = np.full(n // 2, 1e6)  # re-centred chunks: the float64 scratch is used
        a[::3] += 0.25
    elif case.startswith("complex64"):
        a = np.full(n // 2, 1 + 2j, np.complex64)
        a[::1001] = complex(np.nan, 0)
        if case == "complex64_overflow":
            a[::4001] = 3e38 + 3e38j  # |z| overflows float32: the chunk's amplitude is widened
    else:
        a = np.ones((4096, 8192), np.int16).T
    extra = _peak_extra(lambda: summarize(a))
    assert extra < 8 * 1024 * 1024, f"{case}: {extra / 2**20:.1f} MiB"
    # tracemalloc does see numpy's allocations: a float64 copy would have shown up
    assert _peak_extra(lambda: a.real[:1_000_000].astype(np.float64)) >= 8_000_000


# -- never raises, JSON-ready -------------------------------------------------------------------------------------


ALL_DTYPES = st.one_of(
    hnp.boolean_dtypes(), hnp.integer_dtypes(endianness="="), hnp.unsigned_integer_dtypes(endianness="="),
    hnp.floating_dtypes(endianness="?", sizes=(16, 32, 64)), hnp.complex_number_dtypes(endianness="?"),
    hnp.datetime64_dtypes(), hnp.timedelta64_dtypes(), hnp.byte_string_dtypes(), hnp.unicode_string_dtypes(),
    st.just(np.dtype(np.longdouble)), st.just(np.dtype(object)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=hnp.arrays(dtype=ALL_DTYPES, shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6)),
       chunk=st.sampled_from([None, 1, 2, 5]), transpose=st.booleans())
def test_any_array_never_raises_and_serializes(a, chunk, transpose):
    if transpose and a.ndim:
        a = a.T[::-1]
    s = summarize(a, chunk=chunk)
    assert "error" not in s, s
    assert s["total_count"] == a.size and s["shape"] == list(a.shape)
    json.dumps(json_ready(s), allow_nan=False)
    assert_plain_types(s)
    kind = a.dtype.kind
    if kind in "fiub" and a.dtype.itemsize <= 8:
        assert s["nan_count"] + s["inf_count"] + s["finite_count"] == a.size
        r = ref_real(a)
        for k in COUNTS:
            assert s[k] == r[k]
        assert s["min"] == (None if r["min"] is None else r["min"])
        assert s["max"] == (None if r["max"] is None else r["max"])
    elif kind == "c":
        r = ref_complex(a)
        for k in COUNTS:
            assert s[k] == r[k]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=0, max_size=40),
       st.sampled_from([None, 1, 3]))
def test_float_lists_match_reference(values, chunk):
    a = np.array(values, dtype=np.float64)
    s = summarize(values, chunk=chunk)
    r = ref_real(a)
    for k in COUNTS:
        assert s[k] == r[k]
    assert s["min"] == r["min"] and s["max"] == r["max"]
    if r["mean"] is not None:
        fin = a[np.isfinite(a)]
        e = int(np.frexp(np.abs(fin).max())[1])  # a reference that neither overflows nor underflows
        scaled = np.ldexp(fin, -e)
        want_mean = float(np.ldexp(scaled.mean(), e))
        want_std = float(np.ldexp(scaled.std(), e))
        spread = float(np.abs(fin).max())
        assert abs(s["mean"] - want_mean) <= 1e-12 * spread
        assert abs(s["std"] - want_std) <= 1e-9 * spread


# -- TensorFlow (only where it is installed) ------------------------------------------------------------------------


@pytest.mark.tf
def test_tensorflow_values():
    tf = pytest.importorskip("tensorflow")
    t = tf.constant([[1.0, 2.0], [3.0, float("nan")]])
    s = summarize(t)
    assert (s["shape"], s["dtype"], s["nan_count"], s["mean"]) == ([2, 2], "float32", 1, 2.0)
    v = tf.Variable([1.0, 3.0])
    assert summarize(v)["mean"] == 2.0
    assert summarize(tf.constant([1 + 1j], dtype=tf.complex64))["amplitude"]["mean"] == pytest.approx(2 ** 0.5)
    assert summarize(tf.constant([1.5], dtype=tf.bfloat16))["mean"] == 1.5
    assert summarize(tf.constant(["a"]))["unsupported"] is True

    seen = {}

    @tf.function
    def f(x):
        seen["x"] = summarize(x)
        seen["v"] = summarize(v)
        seen["sym"] = is_symbolic(x)
        return x * 2

    f(t)
    assert seen["x"]["symbolic"] is True and seen["v"]["symbolic"] is True and seen["sym"] is True
    ds = tf.data.Dataset.from_tensor_slices(np.arange(3.0)).map(lambda x: (seen.setdefault("ds", summarize(x)), x)[1])
    list(ds)
    assert seen["ds"]["symbolic"] is True

    s = summarize(tf.keras.Input((3,)))  # Keras 2 (tf_keras / TF 2.15) or Keras 3, whichever tf.keras is
    assert s["symbolic"] is True and "KerasTensor" in s["type"]
    keras = pytest.importorskip("keras")
    s = summarize(keras.Input((3,)))
    assert s["symbolic"] is True and "KerasTensor" in s["type"]
