"""Run a script as ``python SCRIPT ARGS`` would, then, as the program's last statement, write ``time.time()`` to the
file named by PARITY_BENCH_STAMP. bench_e2e.py subtracts it from the moment the process was reaped: the exit
delay (atexit handlers, the tracer's reduce, interpreter teardown). Used for traced and untraced runs alike.
"""

import os
import runpy
import sys
import time

target = sys.argv[1]
sys.argv = sys.argv[1:]
sys.path[0] = os.path.dirname(os.path.abspath(target))
try:
    program = runpy.run_path(target, run_name="__main__")   # kept: its objects die at teardown, as usual
finally:   # also when the program ends with sys.exit()
    with open(os.environ["PARITY_BENCH_STAMP"], "w") as fh:
        fh.write(repr(time.time()))
