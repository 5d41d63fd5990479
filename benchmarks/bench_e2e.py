"""End to end, paired: alternating untraced / traced runs (A B A B ...) of one pipeline, per-pair ratios.

    python benchmarks/bench_e2e.py standin [--size 392] [--pairs 7]
    python benchmarks/bench_e2e.py legacy  [--pairs 7]   # the real dose_experiments gs2 1-epoch run, env route
    python benchmarks/bench_e2e.py modern  [--pairs 7]   # the real main grid-lines gs2 1-epoch run, `run` route

``legacy`` / ``modern`` need the variables of the opt-in real test: PARITY_TRACER_PTYCHO_LEGACY (a
dose_experiments checkout) with PARITY_TRACER_PTYCHO_LEGACY_PYTHON, PARITY_TRACER_PTYCHO_MODERN (a main
checkout) with PARITY_TRACER_PTYCHO_MODERN_PYTHON; they run the drivers of tests/real/ (the smallest
configurations that still train: N=64, size 128, one image, 1 epoch). The traced side uses the numpy
statistics path (PARITY_TRACER_PURE_NUMPY=1), the one a legacy environment has. Each run gets a fresh
working folder under --work (default: a temporary folder, removed).

For each pair: wall time (A, B, B/A), CPU time (user+sys of the process tree, B/A), peak RSS, and the exit delay:
from the program's last statement (benchmarks/_last_statement.py wraps the driver and stamps the time) to the
moment the process was reaped; B - A is what the tracer adds to the program's exit. The summary gives the
median of the per-pair ratios with min/max and the interquartile range, and the load average before and after:
the machine may be shared, so report the spread, not a best case. Not part of the test suite.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
STAMPER = os.path.join(HERE, "_last_statement.py")
DRIVERS = os.path.join(REPO, "tests", "real")
SITE = os.path.join(REPO, "sitecustomize_example")
STANDIN = os.path.join(REPO, "parity_tracer", "demo", "standin")


def _base_env(pycache):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARITY_TRACER") and k != "PYTHONPATH"}
    # compiled bytecode, as any installed package or used checkout has it (PYTHONDONTWRITEBYTECODE would
    # recompile every module at every start); kept outside the source trees
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def _checkout(kind):
    path = os.environ.get("PARITY_TRACER_PTYCHO_" + kind)
    if not path or not os.path.isdir(os.path.join(path, "ptycho")):
        sys.exit("bench_e2e: set PARITY_TRACER_PTYCHO_%s to a PtychoPINN checkout (and ..._%s_PYTHON)" % (kind, kind))
    return path, os.environ.get("PARITY_TRACER_PTYCHO_%s_PYTHON" % kind, sys.executable)


def case(args):
    """(python, route, cwd or None, driver argv, extra env, PYTHONPATH entries, label)."""
    if args.pipeline == "standin":
        script = os.path.join(STANDIN, "scripts", "legacy_dose.py")
        return (sys.executable, args.route or "run", None,
                [script, "--N", "64", "--size", str(args.size), "--nepochs", "1"], {},
                [os.path.join(STANDIN, "legacy")], "stand-in legacy dose, size %d, 1 epoch" % args.size)
    common = dict(TF_CPP_MIN_LOG_LEVEL="2", PTYCHO_MEMOIZE_KEY_MODE="dataset", PTYCHO_DISABLE_MEMOIZE="1")
    if args.pipeline == "legacy":
        checkout, python = _checkout("LEGACY")
        return (python, args.route or "env", None, [os.path.join(DRIVERS, "legacy_dose_min.py"), "2"], common,
                [checkout], "real dose_experiments gs2, 1 epoch (%s)" % checkout)
    checkout, python = _checkout("MODERN")
    return (python, args.route or "run", checkout, [os.path.join(DRIVERS, "modern_grid_lines_min.py"), "2",
                                                   "{work}/gl_out"], common,
            [checkout], "real main grid-lines gs2, 1 epoch (%s)" % checkout)


def run_once(python, route, cwd, argv, extra, pypath, traced, work, pycache):
    os.makedirs(work)
    stamp = os.path.join(work, "last_statement")
    env = _base_env(pycache)
    env.update(extra)
    env["PARITY_BENCH_STAMP"] = stamp
    argv = [a.replace("{work}", work) for a in argv]
    paths = list(pypath)
    cmd = [python, STAMPER] + argv
    if traced:
        env["PARITY_TRACER_PURE_NUMPY"] = "1"
        if route == "env":
            env.update(PARITY_TRACER="1", PARITY_TRACER_OUT=os.path.join(work, "trace"))
            paths += [SITE]
        else:
            paths += [REPO]
            cmd = [python, "-m", "parity_tracer", "run", "--out", os.path.join(work, "trace"), STAMPER] + argv
    env["PYTHONPATH"] = os.pathsep.join(paths)
    with open(os.path.join(work, "stdout"), "wb") as out, open(os.path.join(work, "stderr"), "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd or work, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        reaped = time.time()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        with open(os.path.join(work, "stderr"), "rb") as fh:
            tail = fh.read()[-3000:].decode("utf-8", "replace")
        sys.exit("bench_e2e: %s run failed (exit %d):\n%s" % ("traced" if traced else "untraced", proc.returncode, tail))
    with open(stamp) as fh:
        last = float(fh.read())
    summary = None
    if traced:
        with open(os.path.join(work, "stderr"), "rb") as fh:
            summary = next((l.decode("utf-8", "replace") for l in fh.read().splitlines()
                            if l.startswith(b"parity_tracer:")), None)
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024.0,
            "exit": reaped - last, "summary": summary}


def _spread(values):
    values = sorted(values)
    if len(values) >= 4:
        q = statistics.quantiles(values, n=4)
        iqr = "IQR %.3f-%.3f" % (q[0], q[2])
    else:
        iqr = "IQR n/a"
    return "median %.3f  min %.3f  max %.3f  %s" % (statistics.median(values), values[0], values[-1], iqr)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pipeline", choices=("standin", "legacy", "modern"))
    ap.add_argument("--pairs", type=int, default=7)
    ap.add_argument("--size", type=int, default=392, help="stand-in object size (392: 6.7k groups of 64x64x4)")
    ap.add_argument("--route", choices=("run", "env"), help="how the traced side is started (default: per pipeline)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed pairs first (file cache)")
    ap.add_argument("--work", help="keep the runs' folders here (default: a temporary folder, removed)")
    ap.add_argument("--pycache", help="PYTHONPYCACHEPREFIX for the runs (default: inside the work folder, filled "
                                      "by compileall first)")
    args = ap.parse_args(argv)
    python, route, cwd, drv, extra, pypath, label = case(args)
    root = args.work or tempfile.mkdtemp(prefix="parity-e2e-")
    os.makedirs(root, exist_ok=True)
    pycache = args.pycache or os.path.join(root, "pycache")
    load0 = os.getloadavg()
    print("%s; traced through the %s route; %d pairs A (untraced) B (traced), alternating" % (label, route,
                                                                                            args.pairs))
    print("python %s; load average before %.2f %.2f %.2f; %s" % (python, load0[0], load0[1], load0[2],
                                                                   time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())))
    try:
        # bytecode of the pipeline and of the tracer, as an installed or used checkout has it
        sources = [os.path.join(p, "ptycho") if os.path.isdir(os.path.join(p, "ptycho")) else p
                   for p in pypath + [os.path.join(REPO, "parity_tracer"), HERE, DRIVERS] if os.path.isdir(p)]
        subprocess.run([python, "-m", "compileall", "-q"] + sources, env=_base_env(pycache),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for i in range(args.warmup):
            run_once(python, route, cwd, drv, extra, pypath, False, os.path.join(root, "warmup%d" % i), pycache)
            run_once(python, route, cwd, drv, extra, pypath, True, os.path.join(root, "warmup%d-B" % i), pycache)
        rows = []
        hdr = "%4s %9s %9s %7s %8s %8s %7s %9s %9s %9s %8s %8s" % (
            "pair", "A wall s", "B wall s", "B/A", "A cpu s", "B cpu s", "B/A", "A exit s", "B exit s",
            "B-A exit", "A MB", "B MB")
        print(hdr, flush=True)
        for i in range(args.pairs):
            a = run_once(python, route, cwd, drv, extra, pypath, False, os.path.join(root, "p%02d-A" % i), pycache)
            b = run_once(python, route, cwd, drv, extra, pypath, True, os.path.join(root, "p%02d-B" % i), pycache)
            rows.append((a, b))
            print("%4d %9.2f %9.2f %7.3f %8.2f %8.2f %7.3f %9.3f %9.3f %9.3f %8.0f %8.0f" % (
                i, a["wall"], b["wall"], b["wall"] / a["wall"], a["cpu"], b["cpu"], b["cpu"] / a["cpu"],
                a["exit"], b["exit"], b["exit"] - a["exit"], a["rss_mb"], b["rss_mb"]), flush=True)
        load1 = os.getloadavg()
        print("traced summary line: %s" % rows[-1][1]["summary"])
        print("wall B/A:        " + _spread([b["wall"] / a["wall"] for a, b in rows]))
        print("cpu B/A:         " + _spread([b["cpu"] / a["cpu"] for a, b in rows]))
        print("exit delay B-A:  " + _spread([b["exit"] - a["exit"] for a, b in rows]) + "  (seconds)")
        print("untraced wall:   " + _spread([a["wall"] for a, _ in rows]) + "  (seconds)")
        print("load average after %.2f %.2f %.2f" % load1)
    finally:
        if not args.work:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
