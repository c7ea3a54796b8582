"""An interrupt that Python drops inside a destructor, then interrupts.check() (test_interrupts).

    python tests/children/dropped_interrupt.py

Prints "ran on past the dropped interrupt", then "check raised it again" if check() raises the
dropped KeyboardInterrupt.
"""

import os
import signal

from muzero_lite import interrupts


class SignalsWhileCollected:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)  # the handler runs here, and Python drops it


def main() -> None:
    interrupts.install()
    SignalsWhileCollected()
    print("ran on past the dropped interrupt", flush=True)
    try:
        interrupts.check()
    except KeyboardInterrupt:
        print("check raised it again", flush=True)


if __name__ == "__main__":
    main()
