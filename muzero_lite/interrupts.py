"""Ctrl-C and SIGTERM as a stop request that cannot be lost.

The handler raises KeyboardInterrupt, so `finally` blocks run. Python drops an exception raised
while it runs a weakref callback or a destructor ("Exception ignored in ..."), so a signal that
lands there would be lost and the process would run on; the handler therefore also records the
request, and every long loop calls `check()`, which raises it again.
"""

import signal

_requested = False


def install() -> None:
    """Handle SIGINT and SIGTERM (SIGINT explicitly: a process started in the background by a
    non-interactive shell inherits it ignored, and would never stop on it)."""
    signal.signal(signal.SIGINT, _request)
    signal.signal(signal.SIGTERM, _request)


def requested() -> bool:
    """Whether a stop was requested (an error raised while stopping is then part of the stop)."""
    return _requested


def check() -> None:
    """Raise KeyboardInterrupt if a stop was requested (again, if the first one was dropped)."""
    if _requested:
        raise KeyboardInterrupt


def _request(signum, frame) -> None:
    global _requested
    _requested = True
    raise KeyboardInterrupt
