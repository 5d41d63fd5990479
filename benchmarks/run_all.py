"""Every benchmark of the performance issue, one after the other, each printing its own table.

    python benchmarks/run_all.py [--quick]

--quick uses the 256 MiB statistics case only and a smaller end-to-end pipeline (size 196, 3 pairs). The real
PtychoPINN pipelines are separate (``bench_e2e.py legacy|modern``: they need the checkouts).
Ratios are measured side by side within each run; run on a quiet machine (load average < 1).
"""

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    runs = [
        ["bench_stats.py", "--sizes", "256M" if args.quick else "256M,1G", "--repeat", "3"],
        ["bench_agent.py"],
        ["bench_e2e.py", "standin", "--size", "196" if args.quick else "392", "--pairs", "3" if args.quick else "7"],
        ["bench_startup.py", "--runs", "20" if args.quick else "40"],
    ]
    status = 0
    for cmd in runs:
        print("\n$ python benchmarks/%s" % " ".join(cmd), flush=True)
        status |= subprocess.call([sys.executable, os.path.join(HERE, cmd[0])] + cmd[1:])
    return status


if __name__ == "__main__":
    sys.exit(main())
