/* parity_tracer._moments: optional one-pass kernel of parity_tracer.stats for real float32 / float64 chunks.
 *
 * moments(buffer, pivot) -> (n, s, ss, min, max, nan_count, inf_count)
 *
 *   buffer  C-contiguous, aligned, native-endian float32 ('f') or float64 ('d') buffer (an ndarray chunk)
 *   pivot   finite float: the sums are taken around it (stats.py chooses it and re-centres, as in its numpy
 *           path)
 *   n       number of finite elements
 *   s, ss   float64 sums of (x - pivot) and of (x - pivot)**2 over the finite elements
 *   min/max extrema of the finite elements as floats (exact: a float32 is a float64), None when n == 0
 *
 * isas() / use_isa([name]): the variants this CPU runs, fastest first, and the one in use (tests, benchmarks).
 *
 * How.  The buffer is walked in blocks of BLOCK elements.  A block is first summed without any finiteness
 * test, with independent float64 accumulators (VW vector lanes times U vectors), so that the loop is bound
 * by throughput rather than by the latency of one chain of dependent additions.  NaN and +-Inf propagate
 * into the block's sum of squares, so a finite sum of squares proves the block clean.  Otherwise (and right
 * after a block with several non-finite values, when the next one probably has some too) the block is walked
 * with per-element masks: finite <=> (x - x) == 0, branch-free.  Per-lane block sums are added to per-lane
 * totals: a two-level summation whose rounding error stays near that of BLOCK / lanes terms plus
 * size / BLOCK terms.  A software prefetch PF_DIST bytes ahead keeps the memory stream going across pages.
 *
 * Built with -O3 and never with -ffast-math (it would drop the NaN tests and reorder the float64 sums):
 * setup.py adds -fno-fast-math and this file refuses to compile where fast-math is still on.  GCC (>= 9) and
 * clang get explicit vector code (vector extensions; on x86-64 an SSE2 version plus AVX2+FMA and AVX-512
 * versions, chosen at import from the CPU's features); other compilers get the same algorithm in plain C
 * with LANES scalar accumulators.  The GIL is released while looping.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__FAST_MATH__) || (defined(__FINITE_MATH_ONLY__) && __FINITE_MATH_ONLY__)
#error "parity_tracer._moments must not be built with -ffast-math / -ffinite-math-only (NaN tests)"
#endif

#define BLOCK 1024 /* elements per block; a multiple of every VW * U below */

typedef struct {
    Py_ssize_t n, nan;
    double s, ss, mn, mx;
} acc_t;

typedef void (*chunk_fn)(const void *x, Py_ssize_t size, double p, acc_t *acc);

/* Scalar tail / fallback step for one element (used by every variant). */
#define SCALAR_STEP(T, v, p, s, ss, lo, hi, cnt, nanc)                                                     \
    do {                                                                                                   \
        int fin_ = ((v) - (v)) == 0;                                                                       \
        double d_ = fin_ ? (double)(v) - (p) : 0.0;                                                        \
        T vl_ = fin_ ? (v) : (T)INFINITY, vh_ = fin_ ? (v) : -(T)INFINITY;                                 \
        (s) += d_;                                                                                         \
        (ss) += d_ * d_;                                                                                   \
        (lo) = vl_ < (lo) ? vl_ : (lo);                                                                    \
        (hi) = vh_ > (hi) ? vh_ : (hi);                                                                    \
        (cnt) += fin_;                                                                                     \
        (nanc) += (v) != (v);                                                                              \
    } while (0)

static void
merge_block(acc_t *acc, Py_ssize_t n, Py_ssize_t nan, double s, double ss, double mn, double mx)
{
    acc->n += n;
    acc->nan += nan;
    acc->s += s;
    acc->ss += ss;
    if (n) {
        if (mn < acc->mn)
            acc->mn = mn;
        if (mx > acc->mx)
            acc->mx = mx;
    }
}

/* Last elements (fewer than a block), one at a time. */
#define DEFINE_TAIL(NAME, T)                                                                               \
    static void NAME(const T *x, Py_ssize_t len, double p, acc_t *acc)                                     \
    {                                                                                                      \
        double s = 0.0, ss = 0.0;                                                                          \
        T lo = (T)INFINITY, hi = -(T)INFINITY;                                                             \
        Py_ssize_t cnt = 0, nanc = 0;                                                                      \
        for (Py_ssize_t i = 0; i < len; i++) {                                                             \
            T v = x[i];                                                                                    \
            SCALAR_STEP(T, v, p, s, ss, lo, hi, cnt, nanc);                                                \
        }                                                                                                  \
        merge_block(acc, cnt, nanc, s, ss, (double)lo, (double)hi);                                        \
    }

DEFINE_TAIL(tail_f32, float)
DEFINE_TAIL(tail_f64, double)

#if !defined(MOMENTS_NO_VECTOR) && (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 9))
/* ------------------------------------------------------------------------------------------------------
 * Vector-extension kernels.  Vectors never cross a function boundary (no ABI concerns between ISAs).
 * ------------------------------------------------------------------------------------------------------ */
#define HAVE_VECTOR 1
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#define VBLEND(VL, VD, m, a, b) ((VD)(((VL)(a) & (m)) | ((VL)(b) & ~(m))))

/* NAME: the function; ATTR: its target attribute; T: element type; VW: lanes per vector; U: vectors per
 * step (independent accumulators); VT / VTU: VW elements of T and its unaligned-load type; VD / VL: VW
 * float64 / int64 lanes; CONV: VT -> VD (exact); VMIN(a, b) / VMAX(a, b): a < b ? a : b / a > b ? a : b
 * lane by lane (x86 minpd / maxpd: b when either is NaN).
 *
 * Everything after the load is float64: extrema of the converted values are the elements' extrema.
 * Per-lane block sums are added to per-lane chunk sums (two-level summation); lanes are combined once, at
 * the end of the buffer. */
#define DEFINE_VECTOR_KERNEL(NAME, ATTR, T, VW, U, VT, VTU, VD, VL, CONV, VMIN, VMAX)                      \
    ATTR static void NAME(const void *buf, Py_ssize_t size, double p, acc_t *acc)                          \
    {                                                                                                      \
        const T *x = (const T *)buf;                                                                       \
        const VD pinf = (VD){0} + (double)INFINITY, ninf = (VD){0} - (double)INFINITY;                     \
        VD cs = {0}, css = {0}, clo = pinf, chi = ninf;                                                    \
        Py_ssize_t n = 0, nnan = 0, i = 0;                                                                 \
        int dirty = 0; /* the previous block held several NaN/Inf: skip the optimistic pass */             \
        for (; i + BLOCK <= size; i += BLOCK) {                                                            \
            const T *b = x + i;                                                                            \
            VD s[U], ss[U], lo[U], hi[U];                                                                  \
            if (!dirty) { /* optimistic: no tests; NaN / Inf propagate into the sum of squares */          \
                for (int u = 0; u < U; u++) {                                                              \
                    s[u] = ss[u] = (VD){0};                                                                \
                    lo[u] = hi[u] = CONV(*(const VTU *)b);                                                 \
                }                                                                                          \
                for (int k = 0; k < BLOCK; k += VW * U) {                                                  \
                    PREFETCH(b + k);                                                                       \
                    for (int u = 0; u < U; u++) {                                                          \
                        VD w = CONV(*(const VTU *)(b + k + VW * u));                                       \
                        VD d = w - p;                                                                      \
                        s[u] += d;                                                                         \
                        ss[u] += d * d;                                                                    \
                        lo[u] = VMIN(w, lo[u]);                                                            \
                        hi[u] = VMAX(w, hi[u]);                                                            \
                    }                                                                                      \
                }                                                                                          \
                for (int u = 1; u < U; u++) {                                                              \
                    s[0] += s[u];                                                                          \
                    ss[0] += ss[u];                                                                        \
                    lo[0] = VMIN(lo[u], lo[0]);                                                            \
                    hi[0] = VMAX(hi[u], hi[0]);                                                            \
                }                                                                                          \
                double t = 0.0;                                                                            \
                for (int j = 0; j < VW; j++)                                                               \
                    t += ss[0][j];                                                                         \
                if ((t - t) == 0.0) { /* clean block */                                                    \
                    cs += s[0];                                                                            \
                    css += ss[0];                                                                          \
                    clo = VMIN(lo[0], clo);                                                                \
                    chi = VMAX(hi[0], chi);                                                                \
                    n += BLOCK;                                                                            \
                    continue;                                                                              \
                }                                                                                          \
            }                                                                                              \
            /* masked: finite <=> (x - x) == 0 */                                                          \
            VL cnt[U], nanc[U];                                                                            \
            for (int u = 0; u < U; u++) {                                                                  \
                s[u] = ss[u] = (VD){0};                                                                    \
                lo[u] = pinf;                                                                              \
                hi[u] = ninf;                                                                              \
                cnt[u] = nanc[u] = (VL){0};                                                                \
            }                                                                                              \
            for (int k = 0; k < BLOCK; k += VW * U) {                                                      \
                PREFETCH(b + k);                                                                           \
                for (int u = 0; u < U; u++) {                                                              \
                    VD w = CONV(*(const VTU *)(b + k + VW * u));                                           \
                    VL fin = (w - w) == 0;                                                                 \
                    VD d = (VD)((VL)(w - p) & fin);                                                        \
                    s[u] += d;                                                                             \
                    ss[u] += d * d;                                                                        \
                    lo[u] = VMIN(VBLEND(VL, VD, fin, w, pinf), lo[u]);                                     \
                    hi[u] = VMAX(VBLEND(VL, VD, fin, w, ninf), hi[u]);                                     \
                    cnt[u] -= fin;                                                                         \
                    nanc[u] -= w != w;                                                                     \
                }                                                                                          \
            }                                                                                              \
            Py_ssize_t bn = 0;                                                                             \
            for (int u = 0; u < U; u++) {                                                                  \
                cs += s[u];                                                                                \
                css += ss[u];                                                                              \
                clo = VMIN(lo[u], clo);                                                                    \
                chi = VMAX(hi[u], chi);                                                                    \
                for (int j = 0; j < VW; j++) {                                                             \
                    bn += cnt[u][j];                                                                       \
                    nnan += nanc[u][j];                                                                    \
                }                                                                                          \
            }                                                                                              \
            n += bn;                                                                                       \
            dirty = BLOCK - bn > 1; /* more than one: probably dense, the next block too */                \
        }                                                                                                  \
        double S = 0.0, SS = 0.0, mn = INFINITY, mx = -INFINITY;                                           \
        for (int j = 0; j < VW; j++) {                                                                     \
            S += cs[j];                                                                                    \
            SS += css[j];                                                                                  \
            mn = clo[j] < mn ? clo[j] : mn;                                                                \
            mx = chi[j] > mx ? chi[j] : mx;                                                                \
        }                                                                                                  \
        merge_block(acc, n, nnan, S, SS, mn, mx);                                                          \
        if (i < size)                                                                                      \
            TAIL(x + i, size - i, p, acc);                                                                 \
    }

#ifndef PF_DIST
#define PF_DIST 4096 /* bytes: software prefetch distance (keeps the stream going across 4 KiB pages) */
#endif
#define PREFETCH(ptr) __builtin_prefetch((const void *)((uintptr_t)(ptr) + PF_DIST))
#define IDENT(v) (v)
#define TAIL _Generic((x), const float *: tail_f32, const double *: tail_f64)

/* One ISA: float32 and float64 kernels with VW float64 lanes per vector, U vectors per step. */
#define DEFINE_ISA(SUF, ATTR, VW, U)                                                                       \
    typedef double vd_##SUF __attribute__((vector_size(8 * VW)));                                          \
    typedef int64_t vl_##SUF __attribute__((vector_size(8 * VW)));                                         \
    typedef float vfu_##SUF __attribute__((vector_size(4 * VW), aligned(4), may_alias));                   \
    typedef double vdu_##SUF __attribute__((vector_size(8 * VW), aligned(8), may_alias));                  \
    DEFINE_VECTOR_KERNEL(f32_##SUF, ATTR, float, VW, U, vfu_##SUF, vfu_##SUF, vd_##SUF, vl_##SUF,          \
                         CVT_##SUF, VMIN_##SUF, VMAX_##SUF)                                                \
    DEFINE_VECTOR_KERNEL(f64_##SUF, ATTR, double, VW, U, vdu_##SUF, vdu_##SUF, vd_##SUF, vl_##SUF,         \
                         (vd_##SUF), VMIN_##SUF, VMAX_##SUF)

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#define CVT_generic(v) __builtin_convertvector(v, vd_generic)
#if defined(__SSE2__)
#define VMIN_generic(a, b) ((vd_generic)_mm_min_pd((__m128d)(a), (__m128d)(b)))
#define VMAX_generic(a, b) ((vd_generic)_mm_max_pd((__m128d)(a), (__m128d)(b)))
#else
#define VMIN_generic(a, b) VBLEND(vl_generic, vd_generic, (a) < (b), a, b)
#define VMAX_generic(a, b) VBLEND(vl_generic, vd_generic, (a) > (b), a, b)
#endif
DEFINE_ISA(generic, , 2, 2) /* 16-byte vectors: SSE2 on x86-64, NEON on aarch64, scalarised elsewhere */

#if defined(__x86_64__) && !defined(_WIN32)
#define HAVE_X86_DISPATCH 1
#define CVT_avx2(v) ((vd_avx2)_mm256_cvtps_pd((__m128)(v)))
#define VMIN_avx2(a, b) ((vd_avx2)_mm256_min_pd((__m256d)(a), (__m256d)(b)))
#define VMAX_avx2(a, b) ((vd_avx2)_mm256_max_pd((__m256d)(a), (__m256d)(b)))
DEFINE_ISA(avx2, __attribute__((target("avx2,fma"))), 4, 2)
#define CVT_avx512(v) ((vd_avx512)_mm512_cvtps_pd((__m256)(v)))
#define VMIN_avx512(a, b) ((vd_avx512)_mm512_min_pd((__m512d)(a), (__m512d)(b)))
#define VMAX_avx512(a, b) ((vd_avx512)_mm512_max_pd((__m512d)(a), (__m512d)(b)))
DEFINE_ISA(avx512, __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma"))), 8, 2)
#endif

#else /* no vector extensions: the same algorithm with LANES scalar accumulators */

#define LANES 8
#define DEFINE_SCALAR_KERNEL(NAME, T)                                                                      \
    static void NAME(const void *buf, Py_ssize_t size, double p, acc_t *acc)                               \
    {                                                                                                      \
        const T *x = (const T *)buf;                                                                       \
        Py_ssize_t i = 0;                                                                                  \
        for (; i + BLOCK <= size; i += BLOCK) {                                                            \
            double s[LANES], ss[LANES];                                                                    \
            T lo[LANES], hi[LANES];                                                                        \
            Py_ssize_t cnt[LANES], nanc[LANES];                                                            \
            for (int j = 0; j < LANES; j++) {                                                              \
                s[j] = ss[j] = 0.0;                                                                        \
                lo[j] = (T)INFINITY;                                                                       \
                hi[j] = -(T)INFINITY;                                                                      \
                cnt[j] = nanc[j] = 0;                                                                      \
            }                                                                                              \
            for (int k = 0; k < BLOCK; k += LANES) {                                                       \
                for (int j = 0; j < LANES; j++) {                                                          \
                    T v = x[i + k + j];                                                                    \
                    SCALAR_STEP(T, v, p, s[j], ss[j], lo[j], hi[j], cnt[j], nanc[j]);                      \
                }                                                                                          \
            }                                                                                              \
            double S = 0.0, SS = 0.0;                                                                      \
            T mn = (T)INFINITY, mx = -(T)INFINITY;                                                         \
            Py_ssize_t n = 0, nn = 0;                                                                      \
            for (int j = 0; j < LANES; j++) {                                                              \
                S += s[j];                                                                                 \
                SS += ss[j];                                                                               \
                mn = lo[j] < mn ? lo[j] : mn;                                                              \
                mx = hi[j] > mx ? hi[j] : mx;                                                              \
                n += cnt[j];                                                                               \
                nn += nanc[j];                                                                             \
            }                                                                                              \
            merge_block(acc, n, nn, S, SS, (double)mn, (double)mx);                                        \
        }                                                                                                  \
        if (i < size)                                                                                      \
            TAIL_##NAME(x + i, size - i, p, acc);                                                          \
    }
#define TAIL_f32_generic tail_f32
#define TAIL_f64_generic tail_f64
DEFINE_SCALAR_KERNEL(f32_generic, float)
DEFINE_SCALAR_KERNEL(f64_generic, double)
#endif

/* ------------------------------------------------------------------------------------------------------
 * Dispatch
 * ------------------------------------------------------------------------------------------------------ */

typedef struct {
    const char *name;
    chunk_fn f32, f64;
} isa_t;

static const isa_t ISAS[] = {
#ifdef HAVE_X86_DISPATCH
    {"avx512", f32_avx512, f64_avx512},
    {"avx2", f32_avx2, f64_avx2},
#endif
#ifdef HAVE_VECTOR
    {"generic", f32_generic, f64_generic},
#else
    {"scalar", f32_generic, f64_generic},
#endif
};
#define N_ISAS ((int)(sizeof(ISAS) / sizeof(ISAS[0])))

static int
isa_supported(int k)
{
#ifdef HAVE_X86_DISPATCH
    const char *name = ISAS[k].name;
    if (strcmp(name, "avx512") == 0)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (strcmp(name, "avx2") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    (void)k;
    return 1;
}

static const isa_t *isa = &ISAS[N_ISAS - 1];

/* 'f' / 'd' with an optional native byte-order prefix; 0 for anything else. */
static char
native_float_code(const char *fmt)
{
    if (fmt == NULL)
        return 0; /* unsigned bytes */
    if (*fmt == '@' || *fmt == '=')
        fmt++;
#if PY_LITTLE_ENDIAN
    else if (*fmt == '<')
        fmt++;
#else
    else if (*fmt == '>' || *fmt == '!')
        fmt++;
#endif
    if ((fmt[0] == 'f' || fmt[0] == 'd') && fmt[1] == '\0')
        return fmt[0];
    return 0;
}

static PyObject *
moments(PyObject *Py_UNUSED(self), PyObject *args)
{
    PyObject *obj;
    double p;
    Py_buffer view;
    acc_t acc = {0, 0, 0.0, 0.0, (double)INFINITY, -(double)INFINITY};

    if (!PyArg_ParseTuple(args, "Od:moments", &obj, &p))
        return NULL;
    if (!isfinite(p)) {
        PyErr_SetString(PyExc_ValueError, "moments() needs a finite pivot");
        return NULL;
    }
    if (PyObject_GetBuffer(obj, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return NULL;
    char code = native_float_code(view.format);
    Py_ssize_t itemsize = code == 'f' ? 4 : 8;
    if (!code || view.itemsize != itemsize || view.len % itemsize ||
        ((uintptr_t)view.buf) % itemsize) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_TypeError,
                        "moments() needs a C-contiguous, aligned, native float32 or float64 buffer");
        return NULL;
    }
    Py_ssize_t size = view.len / itemsize;
    if (size) {
        chunk_fn fn = code == 'f' ? isa->f32 : isa->f64;
        Py_BEGIN_ALLOW_THREADS
        fn(view.buf, size, p, &acc);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&view);
    if (acc.n == 0)
        return Py_BuildValue("(nddOOnn)", (Py_ssize_t)0, 0.0, 0.0, Py_None, Py_None, acc.nan, size - acc.nan);
    return Py_BuildValue("(nddddnn)", acc.n, acc.s, acc.ss, acc.mn, acc.mx, acc.nan, size - acc.n - acc.nan);
}

static PyObject *
isas(PyObject *Py_UNUSED(self), PyObject *Py_UNUSED(args))
{
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    for (int k = 0; k < N_ISAS; k++) {
        if (!isa_supported(k))
            continue;
        PyObject *name = PyUnicode_FromString(ISAS[k].name);
        if (name == NULL || PyList_Append(out, name) < 0) {
            Py_XDECREF(name);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(name);
    }
    return out;
}

static PyObject *
use_isa(PyObject *Py_UNUSED(self), PyObject *args)
{
    const char *name = NULL;
    if (!PyArg_ParseTuple(args, "|z:use_isa", &name))
        return NULL;
    const char *previous = isa->name;
    if (name != NULL) {
        int k = 0;
        while (k < N_ISAS && strcmp(ISAS[k].name, name) != 0)
            k++;
        if (k == N_ISAS || !isa_supported(k)) {
            PyErr_Format(PyExc_ValueError, "instruction set '%s' is not available here", name);
            return NULL;
        }
        isa = &ISAS[k];
    }
    return PyUnicode_FromString(previous);
}

static PyMethodDef methods[] = {
    {"moments", moments, METH_VARARGS,
     "moments(buffer, pivot) -> (n, s, ss, min, max, nan_count, inf_count)\n\n"
     "One pass over a 1-D contiguous native float32/float64 buffer: count of finite elements, float64 sum\n"
     "and sum of squares of (x - pivot) over them, their min and max (None when there are none), and the\n"
     "NaN and +-Inf counts."},
    {"isas", isas, METH_NOARGS, "isas() -> names of the kernel variants this CPU can run, fastest first."},
    {"use_isa", use_isa, METH_VARARGS,
     "use_isa([name]) -> name of the variant in use before the call; selects `name` (tests, benchmarks)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "parity_tracer._moments",
    "Optional compiled kernel of parity_tracer.stats (one pass over a float32/float64 chunk).",
    -1,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__moments(void)
{
#ifdef HAVE_X86_DISPATCH
    __builtin_cpu_init();
#endif
    for (int k = 0; k < N_ISAS; k++) {
        if (isa_supported(k)) {
            isa = &ISAS[k];
            break;
        }
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddIntConstant(m, "BLOCK", BLOCK) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
