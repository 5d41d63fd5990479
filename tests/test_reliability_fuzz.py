"""Fuzzing the two pieces that see untrusted input: the reducer (streams damaged by crashes, disks, people) and
the statistics (whatever array a pipeline passes). Never a traceback; always strict JSON out."""

import json
import os
import random
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from conftest import clean_env, run_py
from _reliability import project, strict_loads

from parity_tracer import jsonio, stats
from parity_tracer.document import reduce as reducer
from parity_tracer.document.validate import validate_document

# modest and reproducible in CI; PARITY_TRACER_FUZZ_EXAMPLES=5000 for a long exploratory run
FUZZ = settings(max_examples=int(os.environ.get("PARITY_TRACER_FUZZ_EXAMPLES", 60)), deadline=None,
                derandomize="PARITY_TRACER_FUZZ_EXAMPLES" not in os.environ, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# -- the reducer --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def corpus(tmp_path_factory, standin_runs):
    """Real streams: the legacy stand-in pipeline (one process) and a tiny two-process run."""
    root = tmp_path_factory.mktemp("corpus")
    shutil.copytree(standin_runs.legacy() / "streams", root / "legacy" / "streams")
    project(root, {"two.py": "import os, mylib\nmylib.work(1)\nif os.fork() == 0:\n    mylib.work(2)\n"
                              "    raise SystemExit(0)\nos.wait()\nmylib.fail()\n"})
    r = run_py(["-m", "parity_tracer", "run", "--no-reduce", "--targets", "targets.json", "--out", root / "two",
                "two.py"], cwd=root, env=clean_env())
    assert r.returncode == 0, r.stderr
    lines = []
    for path in sorted(root.glob("*/streams/*.jsonl")):
        lines.append(path.read_bytes().split(b"\n")[:-1])
    return lines


JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.text(max_size=8),
                      st.floats(allow_nan=False, allow_infinity=False))
JSON = st.recursive(JSON_LEAF, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                    max_leaves=8)


def _mutate_json(raw, rnd, value):
    """Replace one field (top level or one level down) of an event by an arbitrary JSON value."""
    try:
        ev = json.loads(raw)
    except ValueError:
        return raw
    if not isinstance(ev, dict) or not ev:
        return raw
    key = rnd.choice(sorted(ev))
    if isinstance(ev[key], dict) and ev[key] and rnd.random() < 0.5:
        sub = rnd.choice(sorted(ev[key]))
        ev[key][sub] = value
    else:
        ev[key] = value
    return json.dumps(ev).encode()


OPS = st.lists(st.tuples(st.sampled_from(["drop", "dup", "swap", "cut", "bytes", "field", "garbage", "split"]),
                         st.integers(0, 10 ** 6), JSON), min_size=1, max_size=12)


def _damage(files, ops, seed):
    rnd = random.Random(seed)
    files = [list(f) for f in files]
    for op, n, value in ops:
        f = files[n % len(files)]
        if not f:
            continue
        i = n % len(f)
        if op == "drop":
            del f[i]
        elif op == "dup":
            f.insert(rnd.randrange(len(f) + 1), f[i])
        elif op == "swap":
            j = rnd.randrange(len(f))
            f[i], f[j] = f[j], f[i]
        elif op == "cut":
            f[i] = f[i][:rnd.randrange(len(f[i]) + 1)]
        elif op == "bytes":
            b = bytearray(f[i])
            for _ in range(1 + n % 4):
                if b:
                    b[rnd.randrange(len(b))] = rnd.randrange(256)
            f[i] = bytes(b).replace(b"\n", b" ")
        elif op == "field":
            f[i] = _mutate_json(f[i], rnd, value)
        elif op == "garbage":
            f.insert(i, rnd.choice([b"NaN", b"[1,2", b"{}", b'{"kind":1}', b"\xff\xfe", b"null",
                                    b'{"kind":"stage","seq":1,"pid":1,"stats":{"min":NaN,"max":Infinity}}']))
        elif op == "split" and len(f) > 2:
            files.append(f[i:])
            del f[i:]
    return files


@pytest.mark.slow
@FUZZ
@given(which=st.integers(0, 1), ops=OPS, seed=st.integers(0, 2 ** 32), tail=st.booleans())
def test_reducer_survives_damaged_streams(corpus, which, ops, seed, tail):
    files = _damage([corpus[0]] if which == 0 else corpus[1:], ops, seed)
    work = Path(tempfile.mkdtemp(prefix="fuzz-reduce-"))
    try:
        (work / "streams").mkdir()
        for k, lines in enumerate(files):
            data = b"\n".join(lines) + (b"" if tail and k == 0 else b"\n")   # sometimes a cut last line
            (work / "streams" / ("events-h-%d-%08d.jsonl" % (k, k))).write_bytes(data)
        try:
            doc, report = reducer.reduce_streams([work / "streams"], out_dir=work)
        except reducer.ReduceError:
            return                                   # nothing left to reduce: the one expected failure
        text = jsonio.dumps(doc)
        strict_loads(text)                           # no NaN / Infinity tokens, ever
        assert validate_document(doc) == [], validate_document(doc)[:5]
        assert doc["tracer"]["events"] == report["events"]
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.slow
def test_reduce_cli_never_shows_a_traceback(tmp_path, corpus):
    streams = tmp_path / "streams"
    streams.mkdir()
    (streams / "a.jsonl").write_bytes(b"\xff\xfe garbage\n{\"kind\": 3}\nNaN\n")
    (streams / "b.jsonl").write_bytes(b"\n".join(corpus[0][:5]) + b"\n" + corpus[0][5][:20])
    (streams / "empty.jsonl").write_bytes(b"")
    r = run_py(["-m", "parity_tracer", "reduce", streams, "-o", tmp_path / "doc.json"], cwd=tmp_path)
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr
    strict_loads((tmp_path / "doc.json").read_bytes())
    (streams / "b.jsonl").unlink()
    r = run_py(["-m", "parity_tracer", "reduce", streams, "-o", tmp_path / "doc2.json"], cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.startswith("parity_tracer: reduce:")


# -- the statistics -----------------------------------------------------------------------------------------------

def _dtypes():
    both = st.sampled_from(["<", ">"])
    return st.one_of(
        hnp.boolean_dtypes(),
        hnp.integer_dtypes(endianness="?"),
        hnp.unsigned_integer_dtypes(endianness="?"),
        hnp.floating_dtypes(sizes=(16, 32, 64), endianness="?"),
        hnp.complex_number_dtypes(endianness="?"),
        hnp.datetime64_dtypes(endianness="?"),
        hnp.timedelta64_dtypes(endianness="?"),
        hnp.byte_string_dtypes(max_len=4),
        hnp.unicode_string_dtypes(max_len=4),
        st.just(np.dtype(np.longdouble)),
        st.just(np.dtype(np.clongdouble)),
        both.map(lambda e: np.dtype(e + "f8")),
    )


SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6)


@st.composite
def arrays(draw):
    dtype = draw(_dtypes())
    a = draw(hnp.arrays(dtype, SHAPES))
    view = draw(st.sampled_from(["as-is", "reversed", "strided", "transposed", "fortran"]))
    if view == "reversed" and a.ndim:
        a = a[::-1]
    elif view == "strided" and a.ndim:
        a = a[::2]
    elif view == "transposed":
        a = a.T
    elif view == "fortran":
        a = np.asfortranarray(a)
    return a


def _strict(summary):
    return strict_loads(jsonio.dumps(summary))


@FUZZ
@given(a=arrays(), chunk=st.sampled_from([None, 1, 3, 64]))
def test_summarize_any_array(a, chunk):
    s = stats.summarize(a, chunk=chunk)
    doc = _strict(s)
    assert doc["shape"] == list(a.shape) and doc["total_count"] == a.size
    if s.get("unsupported"):
        assert a.dtype.kind not in "biufc" or "error" in s
        assert a.dtype.kind not in "biufc", s        # every numeric dtype is summarized
        return
    assert a.dtype.kind in "biufc"
    assert s["nan_count"] + s["inf_count"] + s["finite_count"] == a.size
    if a.dtype.kind == "c":
        finite = np.isfinite(a.real) & np.isfinite(a.imag)
        assert s["finite_count"] == int(finite.sum())
        assert "amplitude" in s and "phase" in s and "energy" in s
    else:
        values = a.astype(np.float64) if a.dtype.kind in "biu" else a
        finite = np.isfinite(values)
        assert s["finite_count"] == int(finite.sum())
        assert s["nan_count"] == int(np.isnan(values).sum())
        if finite.any():
            if a.dtype.kind in "iu":                      # integers: exact, beyond float64's 2**53 too
                assert (s["min"], s["max"]) == (int(a.min()), int(a.max()))
            else:
                assert s["min"] == float(values[finite].min()) and s["max"] == float(values[finite].max())
            if doc["mean"] is not None:
                span = (s["max"] - s["min"]) if np.isfinite(s["max"] - s["min"]) else abs(s["max"])
                assert s["min"] - 1e-6 * span <= s["mean"] <= s["max"] + 1e-6 * span
            assert doc["std"] is None or doc["std"] >= 0
        else:
            assert doc["min"] is None and doc["max"] is None and doc["mean"] is None


@FUZZ
@given(value=st.one_of(
    JSON,
    st.lists(st.floats(), max_size=6),
    st.lists(st.lists(st.integers(-5, 5), max_size=3), max_size=3),          # ragged lists
    st.complex_numbers(allow_nan=True, allow_infinity=True),
    st.integers(-2 ** 200, 2 ** 200),
    st.builds(lambda a: np.array(a, dtype=object), st.lists(JSON_LEAF, max_size=4)),
    st.builds(lambda x: np.float64(x), st.floats()),
    st.builds(lambda b: memoryview(bytes(b)), st.binary(max_size=8)),
))
def test_summarize_arbitrary_python_values(value):
    s = stats.summarize(value)
    _strict(s)
    assert isinstance(s, dict)


def test_summarize_extremes():
    f = np.finfo(np.float64)
    cases = [
        np.array([f.max, -f.max, f.max]),
        np.array([f.tiny, f.smallest_subnormal, -f.smallest_subnormal]),
        np.array([np.nan, np.inf, -np.inf]),
        np.full(10, f.max, dtype=np.float64),
        np.array([1e300 + 0j, -1e300j, np.nan + 1j]),
        np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max]),
        np.array([np.iinfo(np.uint64).max] * 3, dtype=np.uint64),
        np.zeros((0, 3), dtype=np.complex64),
        np.array(np.float16(65504.0)),
        np.array(["2020-01-01", "NaT"], dtype="datetime64[D]"),
        np.array([b"ab"], dtype="S2"),
        np.array([None, 1, "x"], dtype=object),
        np.ones((4, 4))[::2, ::-3],
    ]
    for a in cases:
        _strict(stats.summarize(a))
        _strict(stats.summarize(a, chunk=1))
