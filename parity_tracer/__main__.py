import sys

from parity_tracer.cli import main

if __name__ == "__main__":
    sys.exit(main())
