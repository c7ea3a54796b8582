"""Ctrl-C and SIGTERM as a stop request that cannot be lost.

The handler raises KeyboardInterrupt, so `finally` blocks run. Python drops an exception raised
while it runs a weakref callback or a destructor ("Exception ignored in ..."), so a signal that
lands there would be lost and the process would run on; the handler therefore also records the
request, and every long loop calls `check()`, which raises it again.

Before that, while an entry point still imports its libraries (torch takes seconds), `hold()` only
records a request: `run_entry` raises it once the imports are done, so a Ctrl-C at start-up is a
clean stop too, not a KeyboardInterrupt traceback from deep inside an import.
"""

import contextlib
import signal
import threading

_requested = False


def hold() -> None:
    """Record SIGINT and SIGTERM without raising: entry points call this before their imports."""
    _unblock()
    signal.signal(signal.SIGINT, _record)
    signal.signal(signal.SIGTERM, _record)


def install() -> None:
    """Handle SIGINT and SIGTERM (SIGINT explicitly: a process started in the background by a
    non-interactive shell inherits it ignored, and would never stop on it)."""
    _unblock()
    signal.signal(signal.SIGINT, _request)
    signal.signal(signal.SIGTERM, _request)


def _unblock() -> None:
    """A process started from a thread that blocks SIGINT and SIGTERM (a Ray actor's) inherits
    them blocked: they would never arrive."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


@contextlib.contextmanager
def deferred():
    """Within: SIGINT and SIGTERM are recorded, not raised, and raised on leaving. A worker
    holds them while it writes the games that have just ended, so a stop drops only unfinished
    games, never a finished one half-way to its file."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGINT, _record)
    signal.signal(signal.SIGTERM, _record)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, saved[0])
        signal.signal(signal.SIGTERM, saved[1])
    check()


def requested() -> bool:
    """Whether a stop was requested (an error raised while stopping is then part of the stop)."""
    return _requested


def check() -> None:
    """Raise KeyboardInterrupt if a stop was requested (again, if the first one was dropped)."""
    if _requested:
        raise KeyboardInterrupt


def _record(signum, frame) -> None:
    global _requested
    _requested = True


def _request(signum, frame) -> None:
    _record(signum, frame)
    raise KeyboardInterrupt
