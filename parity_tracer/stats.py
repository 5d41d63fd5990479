"""Chunked, bounded-memory statistics of arrays and tensors.

The contract is docs/architecture.md, section "Statistics (`stats.summarize`)".  One job: turn a value
into a small dict of numbers, never raising, never touching symbolic tensors, never importing
tensorflow, and never allocating more than a few MB whatever the size of the array.

How, and why this way:

* The array is walked in chunks of at most ``CHUNK`` elements: slices of a flat view when its memory
  is contiguous in some axis order, otherwise ``np.nditer`` buffers that copy one chunk at a time.
  A chunk and its float64 copy stay cache resident, so only the first pass over a chunk reads memory.
* Fast path per chunk: ``max`` and ``min``.  If both are finite the chunk is all finite (NaN
  propagates through max/min and +-Inf shows up in them), so clean chunks do no ``isfinite`` work.
  Chunks that hold NaN/Inf locate them (``isfinite``, then a search 8 mask bytes at a time) and
  overwrite them in the float64 copy: with a finite element for min/max, with zero for the sums.
* Moments are accumulated in float64.  Per chunk ``s = sum(x - p)``, ``ss = sum((x - p)**2)`` around a
  pivot ``p`` (0 until the data need one) and ``M2 = ss - s*s/n``.  When that subtraction would cancel
  (``ss > COND * M2``) the chunk is re-centred on its own mean, which becomes the pivot for the next
  chunks (so ``1e6 + N(0, 1)`` costs one subtraction pass per chunk, ordinary data none).  Chunks are merged
  with Chan's parallel formula.  float64 chunks whose magnitude is beyond ``2**+-SCALE_EXP`` are
  computed in units of a power of two, so that squares neither overflow nor underflow.
* Sums use einsum's vectorised float64 sum (about twice as fast as the pairwise ``np.add.reduce``);
  sums of squares use BLAS ``ddot`` on rows of ``ROW`` elements through one stacked ``matmul``:
  OpenBLAS runs ``ddot`` single-threaded only up to 10000 elements, and handing a cache-resident chunk
  to a second BLAS thread costs more than it saves.
* No threads of our own: on the 2-vCPU machine this was tuned on, a second Python thread brought
  nothing measurable (GIL hand-offs on sub-100 us kernels) and would compete with the traced program.
* Cost on that machine, in units of one streaming read (``a.max()``) of a clean float32 array: max
  (the read) 1.0, min 0.3, float64 cast 1.1, sum 0.75, sum of squares 0.8, i.e. ~4x: with numpy as
  the only dependency the float64 cast that float64-accurate moments need is the floor.
* Optional compiled kernel (``parity_tracer._moments``, built from ``_moments.c`` when a C compiler is
  available at install time): for float32/float64 chunks (also float16 and ml_dtypes, walked as float32,
  and the amplitude and phase of complex chunks) it does all of the above in one pass: finite, NaN and
  Inf counts, finite min/max, and float64 sums of ``x - p`` and ``(x - p)**2`` over the finite values.
  The pivot, re-centring, scaling and merging stay here, unchanged, so both paths give the same numbers
  to rounding (exactly the same min/max and counts).  Without the extension, or with
  ``PARITY_TRACER_PURE_NUMPY=1`` in the environment when this module is imported, everything is numpy.
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np

try:
    from parity_tracer import _moments
except ImportError:  # not built (no C compiler at install time): the numpy path does everything
    _moments = None

__all__ = ["summarize", "to_array", "is_symbolic", "SYMBOLIC", "CHUNK"]

#: Elements per chunk for items of up to 4 bytes (wider items: proportionally fewer, so that the
#: input chunk stays <= 1 MiB and the float64 scratch <= 2 MiB).
CHUNK = 1 << 18
#: Length of the dot products used for sums of squares (see module docstring).
ROW = 8192
#: Re-centre a chunk when sum((x-p)**2) > COND * M2: bounds the relative error of M2 to ~COND * 1e-15.
COND = 1e4
#: Chunks with max |x - pivot| outside (2**-SCALE_EXP, 2**SCALE_EXP) are computed scaled to ~1.
SCALE_EXP = 400

_HUGE = math.ldexp(1.0, SCALE_EXP)
_TINY = math.ldexp(1.0, -SCALE_EXP)
_TF_ROOTS = ("tensorflow", "keras", "tf_keras")
_min = np.minimum.reduce
_max = np.maximum.reduce
_isfinite = math.isfinite
_einsum = np.einsum
_matmul = np.matmul
_copyto = np.copyto
_ALL_TRUE = int.from_bytes(b"\x01" * 8, "little")  # eight True bytes read as one uint64
_EIGHT = np.arange(8)


def _pure_numpy_forced() -> bool:
    from parity_tracer.settings import ENV_PREFIX, on
    return on(os.environ.get(ENV_PREFIX + "PURE_NUMPY"))


#: ``_moments.moments(chunk, pivot) -> (n, s, ss, min, max, nan, inf)`` or None (pure numpy).
_kernel = None if _moments is None or _pure_numpy_forced() else _moments.moments
_KERNEL_ERRORS = (TypeError, ValueError, BufferError)


class _Symbolic:
    """Type of the `SYMBOLIC` sentinel returned by `to_array` for symbolic tensors."""

    __slots__ = ()

    def __repr__(self):
        return "SYMBOLIC"

    def __reduce__(self):
        return "SYMBOLIC"


SYMBOLIC = _Symbolic()


# --------------------------------------------------------------------------------------------------
# Values -> arrays
# --------------------------------------------------------------------------------------------------


def _qualname(tp) -> str:
    return f"{getattr(tp, '__module__', '?')}.{getattr(tp, '__qualname__', getattr(tp, '__name__', '?'))}"


def _from_tf(tp) -> bool:
    """Whether a type (or one of its bases) is defined in tensorflow / keras / tf_keras."""
    try:
        for k in tp.__mro__:
            mod = k.__dict__.get("__module__")
            if isinstance(mod, str) and mod.partition(".")[0] in _TF_ROOTS:
                return True
    except Exception:
        pass
    return False


def is_symbolic(value) -> bool:
    """True for Keras KerasTensors and TF graph tensors; looks at types only, never at the value."""
    try:
        tp = type(value)
        if not _from_tf(tp):
            return False
        names = {k.__name__ for k in tp.__mro__}
        if "KerasTensor" in names:
            return True
        tf = sys.modules.get("tensorflow")  # never import it: when it is not loaded, nothing is a graph
        if tf is not None:
            eager = getattr(tf, "executing_eagerly", None)
            if callable(eager) and not eager():
                return True  # tf.function / tf.data map / graph building: every TF value is symbolic
        if "Tensor" in names:
            # A graph tensor that escaped its graph: only eager tensors have a working `.numpy`.
            return not callable(getattr(tp, "numpy", None))
        return False
    except Exception:
        return False


def to_array(value):
    """`np.ndarray` for array-likes, `SYMBOLIC` for symbolic tensors, None for anything else."""
    try:
        if type(value) is np.ndarray:
            return value
        if isinstance(value, (np.ndarray, np.generic)):
            return np.asarray(value)  # subclasses (matrix, masked, memmap) as plain ndarrays
        if value is None or isinstance(value, (str, bytes, bytearray, dict, set, frozenset)):
            return None
        if isinstance(value, (bool, int, float, complex)):
            a = np.asarray(value)
            if a.dtype == object:  # an int beyond 64 bits
                a = np.asarray(float(value))
            return a
        tp = type(value)
        if _from_tf(tp):
            if is_symbolic(value):
                return SYMBOLIC
            if tp.__name__ == "EagerTensor" and hasattr(tp, "__array__"):
                try:  # a read-only view of the tensor's own buffer on CPU: ``.numpy()`` would copy it
                    a = np.asarray(value)
                    if a.dtype != object:
                        return a
                except Exception:
                    pass
            fn = getattr(value, "numpy", None)
            if callable(fn):
                return np.asarray(fn())
        if isinstance(value, (list, tuple)):
            # lists of tensors are homogeneous: the first items tell, without an O(n) Python loop
            if any(is_symbolic(v) for v in value[:16] if _from_tf(type(v))):
                return SYMBOLIC
            return np.asarray(value)
        if hasattr(tp, "__array__") or hasattr(value, "__array_interface__") or isinstance(value, memoryview):
            return np.asarray(value)
    except Exception:
        return None
    return None


# --------------------------------------------------------------------------------------------------
# Moments
# --------------------------------------------------------------------------------------------------


def _ldexp(x: float, e: int) -> float:
    if e == 0:
        return x
    try:
        return math.ldexp(x, e)
    except OverflowError:
        return math.copysign(math.inf, x)


def _sumsq(b) -> float:
    n = b.size
    m = n // ROW
    tot = 0.0
    if m > 1:
        h = b[: m * ROW]
        tot = float(_matmul(h.reshape(m, 1, ROW), h.reshape(m, ROW, 1)).sum())
        b = b[m * ROW:]
    if b.size:
        tot += float(np.dot(b, b))
    return tot


def _mag(n, mean, m2, exp):
    """Binary exponent of max(|mean|, std) of a (n, mean, m2) in units of 2**exp; None if 0."""
    m = max(abs(mean), math.sqrt(m2 / n))
    return exp + math.frexp(m)[1] if m > 0.0 else None


class _Moments:
    """Count, mean and M2 of one real quantity.

    The mean is kept as ``base + rel``: ``base`` is the first chunk's pivot and ``rel`` the offset from
    it, so that the differences of chunk means in Chan's formula keep their digits when the data sit
    far from zero (1e12 + N(0, 1): a mean rounded to a float would be off by 1e-4).  Everything is in
    units of ``2**exp`` (exp != 0 only for float64 values beyond 2**+-SCALE_EXP).
    """

    __slots__ = ("n", "base", "rel", "m2", "exp")

    def __init__(self):
        self.n, self.base, self.rel, self.m2, self.exp = 0, 0.0, 0.0, 0.0, 0

    def add(self, n, pivot, offset, m2, exp=0):
        """Add a chunk of `n` values with mean ``pivot + offset`` and `m2`, all in units of 2**exp."""
        na = self.n
        if na == 0:
            self.n, self.base, self.rel, self.m2, self.exp = n, pivot, offset, m2, exp
            return
        e = self.exp
        if exp != e:
            # Align the units (exact scalings by powers of two) on the larger magnitude: the other
            # side can only lose digits that are negligible next to it.
            mags = [x for x in (_mag(na, self.base + self.rel, self.m2, e), _mag(n, pivot + offset, m2, exp))
                    if x is not None]
            unit = max(mags) if mags else max(exp, e)
            if e != unit:
                self.base, self.rel = _ldexp(self.base, e - unit), _ldexp(self.rel, e - unit)
                self.m2 = _ldexp(self.m2, 2 * (e - unit))
            if exp != unit:
                pivot, offset = _ldexp(pivot, exp - unit), _ldexp(offset, exp - unit)
                m2 = _ldexp(m2, 2 * (exp - unit))
            self.exp = unit
        tot = na + n
        d = (pivot - self.base) + offset - self.rel  # Chan et al.'s parallel combination
        self.rel += d * (n / tot)
        self.m2 += m2 + d * d * (na / tot * n)
        self.n = tot

    def result(self):
        """mean, population std, sum of squares, l2 norm (None when there is nothing)."""
        if self.n == 0:
            return None, None, None, None
        e = self.exp
        mean = self.base + self.rel
        sq = self.m2 + self.n * mean * mean
        return _ldexp(mean, e), _ldexp(math.sqrt(self.m2 / self.n), e), _ldexp(sq, 2 * e), _ldexp(math.sqrt(sq), e)


class _Real:
    """Finite-value statistics of one real quantity (the data, or a complex amplitude or phase)."""

    __slots__ = ("lo", "hi", "mom", "pivot", "wide", "as_int", "buf", "kernel")

    def __init__(self, dtype, buf, as_int=False):
        self.lo = self.hi = None
        self.mom = _Moments()
        self.pivot = 0.0
        self.wide = dtype.kind == "f" and dtype.itemsize >= 8  # float32's squares always fit float64
        self.as_int = as_int
        self.buf = buf  # float64 scratch of one chunk (shared by the amplitude and the phase)
        # the compiled kernel, when there is one and it reads these chunks (float32 / float64)
        self.kernel = _kernel if dtype.kind == "f" and dtype.itemsize in (4, 8) else None

    def add_compiled(self, x):
        """Add chunk `x` (1-D contiguous, native float32/float64) in one pass of the compiled kernel.

        Returns the chunk's (nan, inf) counts, or None when the kernel declined the chunk (nothing added:
        use `add`).  Only finite values enter the statistics, as in `add`.
        """
        try:
            r = self.kernel(x, self.pivot)
        except _KERNEL_ERRORS:
            return None
        self.add_sums(x, r)
        return r[5], r[6]

    def _extend(self, lo, hi):
        """Widen the running extrema by a chunk's; False when the chunk must take the scaled path (values so far
        from the pivot that their squares would leave float64's range)."""
        if self.lo is None:
            self.lo, self.hi = lo, hi
        else:
            if lo < self.lo:
                self.lo = lo
            if hi > self.hi:
                self.hi = hi
        if self.wide:
            p = self.pivot
            amax = max(abs(lo - p), abs(hi - p))
            return _TINY < amax < _HUGE or amax == 0.0
        return True

    def add_sums(self, x, r):
        """Add chunk `x` given the kernel's ``(n, s, ss, min, max, ...)`` of it around ``self.pivot``."""
        n, s, ss, mn, mx = r[0], r[1], r[2], r[3], r[4]
        if n == 0:
            return
        if not self._extend(mn, mx):
            bad = None if n == x.size else np.flatnonzero(~np.isfinite(x))
            return self._add_scaled(x, n, mn, mx, bad)
        p = self.pivot
        m2 = ss - s * s / n
        offset = s / n
        if not m2 * COND >= ss:
            # Cancellation: as in `add`, re-centre on this chunk's mean (a second pass, around it).
            q = p + offset
            n, s, ss = self.kernel(x, q)[:3]
            m2 = ss - s * s / n
            offset = s / n
            self.pivot = p = q
        self.mom.add(n, p, offset, m2 if m2 > 0.0 else 0.0)

    def add(self, x, mn=None, mx=None, bad=None, first=0, scratch=False):
        """Add chunk `x` (1-D contiguous).

        `bad`: indices of elements to ignore (then `first` is the index of a valid one).  `mn`/`mx`:
        extrema of the valid elements when known.  `scratch`: `x` is ours to overwrite.
        """
        n = x.size
        b = None
        if bad is not None:
            n = x.size - bad.size
            if n == 0:
                return
            b, mn, mx = self._fill_bad(x, bad, first, scratch, mn, mx)
        if mn is None:
            mn, mx = _min(x), _max(x)
        fmn, fmx = (int(mn), int(mx)) if self.as_int else (float(mn), float(mx))
        if not self._extend(fmn, fmx):
            return self._add_scaled(x, n, mn, mx, bad)
        self._add_centred(x, self._centred(x, b, bad), n, bad)

    def _fill_bad(self, x, bad, first, scratch, mn, mx):
        """Neutralize the elements to ignore: ``(filled copy or None, mn, mx)`` of the valid elements."""
        if scratch:
            x[bad] = x[first]
            return None, mn, mx
        if x.dtype.itemsize <= 8 and x.dtype.kind == "f":  # exact in float64: fill the copy
            b = self.buf[:x.size]
            _copyto(b, x)
            b[bad] = b[first]
            return b, _min(b), _max(b)
        v = np.delete(x, bad)  # longdouble would round in float64: extrema of the valid elements themselves
        return None, _min(v), _max(v)

    def _centred(self, x, b, bad):
        """`x` minus the pivot in float64 (`b`: the filled copy of a dirty float chunk), bad elements zeroed; `x`
        itself when it already is that."""
        p = self.pivot
        if b is not None:  # dirty float chunk already copied
            if p != 0.0:
                np.subtract(b, p, out=b)
            b[bad] = 0.0
            return b
        buf = self.buf[:x.size]
        if x.dtype == np.float64 and bad is None:
            if p == 0.0:
                return x  # read in place: no copy at all
            np.subtract(x, p, out=buf)
            return buf
        _copyto(buf, x, casting="unsafe")  # exact for float32/16, ints up to 2**53
        if p != 0.0:
            np.subtract(buf, p, out=buf)
        if bad is not None:
            buf[bad] = 0.0
        return buf

    def _add_centred(self, x, b, n, bad):
        p = self.pivot
        s = float(_einsum("i->", b))
        ss = _sumsq(b)
        m2 = ss - s * s / n
        offset = s / n
        if not m2 * COND >= ss:
            # Cancellation: re-centre on this chunk's mean, which becomes the pivot from now on.
            shift = offset
            if b is x:
                b = self.buf[:x.size]
                np.subtract(x, shift, out=b)
            else:
                np.subtract(b, shift, out=b)
            if bad is not None:
                b[bad] = 0.0
            s = float(_einsum("i->", b))
            m2 = _sumsq(b) - s * s / n
            self.pivot = q = p + shift
            # b is centred on p + shift exactly, q is that rounded: keep the rounding error (Fast2Sum)
            offset = (shift - (q - p)) + s / n
            p = q
        self.mom.add(n, p, offset, m2 if m2 > 0.0 else 0.0)

    def _add_scaled(self, x, n, mn, mx, bad):
        # |x| near the float64 limits: compute in units of 2**e so that squares stay in range.
        big = max(abs(mn), abs(mx))  # in x's own dtype: exact for longdouble beyond float64 range
        e = max(int(np.frexp(big)[1]), int(np.finfo(x.dtype).minexp) + 2)  # 2**-e must be finite
        b = self.buf[: x.size]
        np.multiply(x, np.ldexp(np.ones((), x.dtype), -e), out=b, casting="unsafe")  # exact scaling
        if bad is not None:
            b[bad] = 0.0
        mu = float(_einsum("i->", b)) / n
        np.subtract(b, mu, out=b)
        if bad is not None:
            b[bad] = 0.0
        s = float(_einsum("i->", b))
        m2 = _sumsq(b) - s * s / n
        self.mom.add(n, mu, s / n, m2 if m2 > 0.0 else 0.0, e)

    def result(self):
        mean, std, energy, l2 = self.mom.result()
        return {"min": self.lo, "max": self.hi, "mean": mean, "std": std}, energy, l2


# --------------------------------------------------------------------------------------------------
# Walking the array
# --------------------------------------------------------------------------------------------------


class _Scan:
    """Accumulators and scratch buffers for one array of one kind (int, float or complex)."""

    def __init__(self, kind, dtype, chunk):
        self.kind = kind
        self.chunk = chunk
        self.nan = self.inf = 0
        self._mask = None
        buf = np.empty(chunk, np.float64)
        if kind == "complex":
            rdtype = np.empty(0, dtype).real.dtype
            self.amp = _Real(rdtype, buf)
            self.phase = _Real(rdtype, buf)
            self.abuf = np.empty(chunk, rdtype)
            self.pbuf = np.empty((2, chunk), rdtype)
            # complex64 parts as the low / high halves of a uint64 (little-endian): integer
            # truncation and shift split them ~1.5x faster than copying the strided .real/.imag
            self.split64 = dtype == np.complex64 and sys.byteorder == "little"
        else:
            self.real = _Real(dtype, buf, as_int=(kind == "int"))

    def bad_elements(self, c):
        """Indices of the non-finite elements of chunk `c` and of its first finite one; counts them."""
        if self._mask is None:
            self._mask = np.empty(self.chunk, np.bool_)
        size = c.size
        m = np.isfinite(c, out=self._mask[:size])
        first = int(np.argmax(m))
        # Non-finite elements are usually rare: look for them 8 mask bytes at a time (a uint64 view),
        # then only inside the words that are not all-true (~4x faster than flatnonzero(~m)).
        k = size - size % 8
        words = np.flatnonzero(m[:k].view(np.uint64) != _ALL_TRUE)
        cand = (words[:, None] * 8 + _EIGHT).ravel()
        bad = cand[~m[cand]]
        if k < size:
            bad = np.concatenate([bad, np.flatnonzero(~m[k:]) + k])
        nnan = int(np.count_nonzero(np.isnan(c[bad])))
        self.nan += nnan
        self.inf += bad.size - nnan
        return bad, first

    def run(self, chunks):
        if self.kind == "int":
            add = self.real.add
            for c in chunks:
                add(c)
        elif self.kind == "float":
            add = self.real.add
            compiled = self.real.add_compiled if self.real.kernel is not None else None
            for c in chunks:
                if compiled is not None:
                    counts = compiled(c)
                    if counts is not None:
                        self.nan += counts[0]
                        self.inf += counts[1]
                        continue
                # NaN propagates through max/min and +-Inf shows up in them: both finite means the
                # chunk is all finite (max first: NaN or +Inf spare the min pass of a dirty chunk).
                mx = _max(c)
                if _isfinite(mx):
                    mn = _min(c)
                    if _isfinite(mn):
                        add(c, mn, mx)
                        continue
                bad, first = self.bad_elements(c)
                add(c, bad=bad, first=first)
        else:
            for c in chunks:
                self.step_complex(c)

    def step_complex(self, c):
        size = c.size
        amp = np.abs(c, out=self.abuf[:size])
        kernel = self.amp.kernel
        if kernel is not None:
            try:
                r = kernel(amp, self.amp.pivot)
            except _KERNEL_ERRORS:
                r = None
            if r is not None and r[0] == size:  # every |z| finite: so are both parts and every phase
                self.amp.add_sums(amp, r)  # done with amp: its buffer takes the phase
                ph = self.phase_of(c, size)
                if self.phase.add_compiled(ph) is None:
                    self.phase.add(ph, None, None, None, 0, scratch=True)
                return
        amn = _min(amp)
        amx = _max(amp)
        bad = None
        first = 0
        if not (_isfinite(amn) and _isfinite(amx)):
            # |z| is NaN/Inf when a part is (a complex is finite when both parts are) ...
            bad, first = self.bad_elements(c)
            if bad.size == size:
                return
            if not bad.size:
                bad = None
            else:
                amp[bad] = amp[first]
            amn = _min(amp)
            amx = _max(amp)
            if not (_isfinite(amn) and _isfinite(amx)):
                # ... or when |z| of finite parts overflows (complex64 near 3.4e38): widen
                wide = np.complex128 if c.dtype.itemsize <= 8 else np.clongdouble
                amp = np.abs(c.astype(wide))
                if bad is not None:
                    amp[bad] = amp[first]
                amn = amx = None
        self.amp.add(amp, amn, amx, bad, first, scratch=True)
        self.phase.add(self.phase_of(c, size), None, None, bad, first, scratch=True)

    def phase_of(self, c, size):
        """arctan2(imag, real) of chunk `c` into the amplitude buffer (free again once it is added)."""
        # arctan2 is vectorised only for contiguous input: de-interleave first.
        re = self.pbuf[0, :size]
        im = self.pbuf[1, :size]
        if self.split64:
            u = c.view(np.uint64)
            _copyto(re.view(np.uint32), u, casting="unsafe")  # keeps the low 32 bits: the real part
            np.right_shift(u, 32, out=im.view(np.uint32), casting="unsafe")
        else:
            _copyto(re, c.real)
            _copyto(im, c.imag)
        return np.arctan2(im, re, out=self.abuf[:size])  # not in place: numpy 1.x then skips SIMD


def _kind(dtype):
    """('int' | 'float' | 'complex' | None, dtype the chunks are computed in or None for as-is)."""
    k = dtype.kind
    if k in "iu":
        return "int", None
    if k == "b":
        return "int", np.dtype(np.uint8)  # bools as 0/1 (a view, no copy)
    if k == "f":
        return "float", (np.dtype(np.float32) if dtype.itemsize < 4 else None)  # float16 -> float32
    if k == "c":
        return "complex", None
    if k == "V" and dtype.fields is None and getattr(dtype.type, "__module__", "") == "ml_dtypes":
        # bfloat16, float8_*, int4 ... (TF / JAX dtypes): exactly representable in float32
        if np.can_cast(dtype, np.float32):
            return "float", np.dtype(np.float32)
    return None, None


def _layout(a):
    """`a` with its axes in memory order: contiguous in some axis order -> C-contiguous.

    Element order does not matter for statistics, so negative strides are flipped, length-1 axes
    dropped and axes sorted by decreasing stride (transposes, Fortran order, [::-1] become views that
    can be walked flat without copying).
    """
    if a.ndim == 0:
        return a.reshape(1)
    a = a[tuple(slice(None, None, -1) if s < 0 else slice(None) for s in a.strides)]
    shape = [d for d in a.shape if d != 1]
    if len(shape) != a.ndim:
        a = a.reshape(shape or [1])  # a view: only length-1 axes go
    if a.ndim > 1:
        a = a.transpose(sorted(range(a.ndim), key=lambda i: -a.strides[i]))
        if a.flags.c_contiguous:
            a = a.reshape(-1)
    return a


def _chunks(a, chunk, work_dtype):
    """1-D contiguous, native, aligned chunks of at most `chunk` elements (copies at most one chunk)."""
    if (work_dtype is None and a.ndim == 1 and a.flags.c_contiguous and a.flags.aligned
            and a.dtype.isnative):
        for i in range(0, a.size, chunk):
            yield a[i: i + chunk]
        return
    dt = work_dtype if work_dtype is not None else a.dtype.newbyteorder("=")
    yield from np.nditer(a, flags=["external_loop", "buffered", "zerosize_ok"],
                         op_flags=[["readonly", "contig", "aligned"]], op_dtypes=[dt],
                         casting="safe" if work_dtype is not None else "equiv", order="C",
                         buffersize=chunk)


# --------------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------------


def _header(a):
    return {"shape": [int(s) for s in a.shape], "dtype": a.dtype.name}


def _summarize_array(a, chunk):
    kind, work_dtype = _kind(a.dtype)
    out = _header(a)
    total = int(a.size)
    if kind is None:
        out["total_count"] = total
        out["unsupported"] = True
        return out
    if a.dtype.kind == "b":
        a = a.view(np.uint8)
        work_dtype = None
    dt = work_dtype if work_dtype is not None else a.dtype
    if dt.itemsize > 4:
        chunk = chunk * 4 // dt.itemsize
    chunk = max(1, min(chunk, total))
    scan = _Scan(kind, dt, chunk)
    if total:
        with np.errstate(all="ignore"):
            scan.run(_chunks(_layout(a), chunk, work_dtype))
    if kind == "complex":
        stats, energy, l2 = scan.amp.result()
        phase = scan.phase.result()[0]
        finite = scan.amp.mom.n
        stats["l2_norm"] = l2
        out.update(min=stats["min"], max=stats["max"], mean=stats["mean"], std=stats["std"])
    else:
        stats = scan.real.result()[0]
        finite = scan.real.mom.n
        out.update(stats)
    out.update(nan_count=scan.nan, inf_count=scan.inf, finite_count=finite, total_count=total)
    if kind == "complex":
        out.update(amplitude=stats, phase=phase, energy=energy)
    return out


def summarize(value, *, chunk: int | None = None) -> dict:
    """Statistics of `value` as a dict (floats may be non-finite: the JSON layer writes null).

    `chunk` overrides `CHUNK` (tests use tiny chunks to exercise the merge).  Never raises.
    """
    try:
        a = to_array(value)
    except Exception:
        a = None
    if a is SYMBOLIC:
        return {"symbolic": True, "type": _qualname(type(value))}
    if a is None:
        return {"type": _qualname(type(value)), "unsupported": True}
    try:
        return _summarize_array(a, int(chunk or CHUNK))
    except Exception as exc:  # a bug or a MemoryError must never reach the traced program
        try:
            out = _header(a)
            out["total_count"] = int(a.size)
        except Exception:
            out = {"type": _qualname(type(value))}
        out["unsupported"] = True
        out["error"] = f"{type(exc).__name__}: {exc}"[:300]
        return out
