"""An entry point interrupted by Ctrl-C whose clean-up then fails (test_interrupts).

    python tests/children/failing_cleanup.py

Runs under muzero_lite.cli.run_entry like the real entry points; the ValueError replaces the
KeyboardInterrupt, as a library interrupted mid-call may do.
"""

import os
import signal

from muzero_lite.cli import run_entry


def interrupted_then_failing() -> int:
    try:
        os.kill(os.getpid(), signal.SIGINT)
    finally:
        raise ValueError("clean-up failed")


def main() -> None:
    run_entry(interrupted_then_failing)


if __name__ == "__main__":
    main()
