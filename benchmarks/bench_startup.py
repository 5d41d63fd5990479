"""Start-up cost of tracing, paid once per process: interleaved starts of a trivial program, median and min.

    python benchmarks/bench_startup.py [--runs 40]

Rows (each program is ``pass``, then ``import numpy``: numpy is the bulk of activation, and a program that uses
numpy — every PtychoPINN process — pays for it anyway):
- ``sitecustomize_example`` on PYTHONPATH with PARITY_TRACER unset (the environment route, switched off);
- a traced parent: the environment route (PARITY_TRACER=1) and ``python -m parity_tracer run``;
- a traced Python child: the environment a traced parent hands to the processes it starts (its settings, the
  bootstrap on PYTHONPATH, the parent as the run's root): activation and the footer, no reduce.
Parents run with the reduce at exit off: that is exit work, measured by bench_e2e.py as the exit delay.
Runs use compiled bytecode (PYTHONPYCACHEPREFIX in a temporary folder, filled by a first untimed start).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOOTSTRAP = os.path.join(REPO, "parity_tracer", "bootstrap")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40)
    args = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="parity-startup-")
    try:
        _main(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _main(args, tmp):
    base = {k: v for k, v in os.environ.items() if not k.startswith("PARITY_TRACER") and k != "PYTHONPATH"}
    base.pop("PYTHONDONTWRITEBYTECODE", None)
    base["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")
    empty = os.path.join(tmp, "empty.py")
    with open(empty, "w") as fh:
        fh.write("pass\n")
    with_numpy = os.path.join(tmp, "numpy_program.py")
    with open(with_numpy, "w") as fh:
        fh.write("import numpy\n")
    off = dict(base, PYTHONPATH=os.path.join(REPO, "sitecustomize_example"))
    traced = dict(off, PARITY_TRACER="1", PARITY_TRACER_OUT=os.path.join(tmp, "env"), PARITY_TRACER_REDUCE="0")
    run_env = dict(base, PYTHONPATH=REPO)
    child = dict(base, PYTHONPATH=BOOTSTRAP, PARITY_TRACER="1", PARITY_TRACER_OUT=os.path.join(tmp, "child"),
                 PARITY_TRACER_ROOT_PID="1")   # another process is the run's root: no reduce
    py = sys.executable
    cases = []
    for label, program in (("pass", empty), ("import numpy", with_numpy)):
        cases += [
            ("%s: plain python" % label, [py, program], base, None),
            ("%s: sitecustomize_example, PARITY_TRACER unset" % label, [py, program], off, 1),
            ("%s: traced parent, PARITY_TRACER=1" % label, [py, program], traced, 1),
            ("%s: traced parent, python -m parity_tracer run" % label,
             [py, "-m", "parity_tracer", "run", "--no-reduce", "--out", os.path.join(tmp, "run"), program],
             run_env, 1),
            ("%s: traced Python child" % label, [py, program], child, 1),
        ]
    for _, cmd, env, _ in cases:   # bytecode, file cache
        subprocess.run(cmd, env=env, check=True, cwd=tmp)
    samples = {name: [] for name, _, _, _ in cases}
    for _ in range(args.runs):   # interleaved: every case sees the same machine
        for name, cmd, env, _ in cases:
            t0 = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, cwd=tmp)
            samples[name].append(time.perf_counter() - t0)
    load = os.getloadavg()
    print("python %s, %d interleaved starts per case, load average %.2f %.2f %.2f" % (
        sys.version.split()[0], args.runs, load[0], load[1], load[2]))
    print("%-58s %10s %10s %12s" % ("case", "median ms", "min ms", "added ms"))
    plain = None
    for name, _, _, _ in cases:
        med, mn = statistics.median(samples[name]), min(samples[name])
        if name.endswith("plain python"):
            plain = med
        print("%-58s %10.1f %10.1f %12s" % (name, med * 1e3, mn * 1e3,
                                           "-" if name.endswith("plain python") else "%+.1f" % ((med - plain) * 1e3)))


if __name__ == "__main__":
    main()
