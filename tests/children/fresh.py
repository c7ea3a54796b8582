"""Run `python ARGS...` as a child of this small process, so that the child's peak memory is
measured from a fresh interpreter, not from pytest's (a child of pytest starts at its peak)."""

import subprocess
import sys

if __name__ == "__main__":
    sys.exit(subprocess.run([sys.executable, *sys.argv[1:]]).returncode)
