"""Start-up cost of the environment route: ``python -c pass`` with sitecustomize_example/ on PYTHONPATH and
PARITY_TRACER unset, against plain ``python -c pass`` (and with tracing on, for reference).

    python benchmarks/bench_startup.py [--runs 40]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _time(env, runs):
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples), min(samples)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=40)
    args = ap.parse_args(argv)
    base = {k: v for k, v in os.environ.items() if not k.startswith("PARITY_TRACER") and k != "PYTHONPATH"}
    site = dict(base, PYTHONPATH=os.path.join(REPO, "sitecustomize_example"))
    on = dict(site, PARITY_TRACER="1", PARITY_TRACER_OUT=os.path.join("/tmp", "parity_startup_bench"),
              PARITY_TRACER_REDUCE="0")
    rows = [("plain python -c pass", _time(base, args.runs)),
            ("sitecustomize_example, PARITY_TRACER unset", _time(site, args.runs)),
            ("sitecustomize_example, PARITY_TRACER=1 (no reduce)", _time(on, max(5, args.runs // 4)))]
    plain = rows[0][1][0]
    print("%-52s %10s %10s %10s" % ("case", "median ms", "min ms", "added ms"))
    for name, (med, mn) in rows:
        print("%-52s %10.1f %10.1f %10.1f" % (name, med * 1e3, mn * 1e3, (med - plain) * 1e3))


if __name__ == "__main__":
    main()
