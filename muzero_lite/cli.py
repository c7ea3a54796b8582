"""What the entry scripts share: common arguments, one clear line plus exit 2 for bad input, and
one line plus exit 1 for a training run that diverged, and one line plus EXIT_STORAGE for a store
that kept failing."""

import argparse
import secrets
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from muzero_lite import interrupts
from muzero_lite.checkpoints import CheckpointError
from muzero_lite.config import Config, ConfigError, load_config
from muzero_lite.finite import TrainingDiverged
from muzero_lite.paths import DataDirs
from muzero_lite.storage import (
    TEMP_PREFIX,
    Location,
    StorageError,
    StoredPath,
    StoreRefused,
    location,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
EXIT_STORAGE = 75
"""The exit status of a process whose store kept failing (EX_TEMPFAIL): worth starting again."""


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="settings file, e.g. configs/mario.toml")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one setting (repeatable), e.g. --set search.truncated.width=4",
    )
    parser.add_argument(
        "--data-dir",
        type=data_location,
        default=REPO_ROOT,
        help="folder holding games/, gifs/ and checkpoints/: a local path or a URL such as "
        "s3://bucket/run (default: the repository root)",
    )
    parser.add_argument(
        "--local-dir",
        type=Path,
        default=None,
        help="this machine's logs, metrics and TensorBoard (default: the data folder when it is "
        "local, local-runs/<bucket_path> for a URL)",
    )


def data_location(text: str) -> Location:
    """A `--data-dir` value; a URL whose store cannot be reached is one clear line."""
    try:
        return location(text)
    except (ImportError, ValueError, OSError) as e:
        raise argparse.ArgumentTypeError(f"{text!r}: {e}") from None


def data_dirs(args: argparse.Namespace) -> DataDirs:
    return DataDirs(args.data_dir, args.local_dir)


def config_from(args: argparse.Namespace) -> Config:
    return load_config(args.config, args.overrides)


def check_writable(folder: Location) -> None:
    """Fail early, with one line, when the data folder (or a folder in it) cannot be written.

    A probe file is created and removed, so the answer is the one a real write gets (os.access
    goes by permission bits, which root ignores, and can be wrong on network file systems); on a
    store, a probe object.
    """
    if isinstance(folder, StoredPath):
        probe = folder / f"{TEMP_PREFIX}write-check-{secrets.token_hex(4)}"
        try:
            probe.write_bytes(b"")
            probe.unlink(missing_ok=True)
        except (OSError, StoreRefused) as e:  # an outage stays a StorageError (worth a retry)
            raise ConfigError(f"data folder {str(folder)!r} is not writable: {e}") from None
        return
    dirs = DataDirs(folder)
    for path in (folder, dirs.games, dirs.gifs, dirs.checkpoints, dirs.runs):
        if path.exists() and not path.is_dir():
            raise ConfigError(
                f"{str(path)!r} is a file, not a folder: move it, or pass another --data-dir"
            )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create data folder {str(folder)!r}: {e.strerror}") from None
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".tmp-write-check-"):
            pass
    except OSError as e:
        raise ConfigError(f"data folder {str(folder)!r} is not writable: {e.strerror}") from None


def stop_on_signals() -> None:
    """Ctrl-C and SIGTERM both raise KeyboardInterrupt, so `finally` blocks run and children stop.

    The request is also kept, so that one dropped inside a destructor is raised again by the next
    `interrupts.check()` of a long loop (see muzero_lite/interrupts.py).
    """
    interrupts.install()


def run_entry(main: Callable[[], int]) -> None:
    """Run an entry point: SIGTERM stops it like Ctrl-C, bad input is one line with exit 2."""
    stop_on_signals()
    try:
        interrupts.check()  # a stop requested while the entry point was still importing
        sys.exit(main())
    except (ConfigError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        sys.exit(2)
    except TrainingDiverged as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    except StorageError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        sys.exit(EXIT_STORAGE)
    except KeyboardInterrupt:
        _stopped()
    except Exception:
        if not interrupts.requested():
            raise
        # A library interrupted mid-call can fail in its own clean-up (an image writer, say) and
        # replace the KeyboardInterrupt with its error; files are written atomically, so the stop
        # is still clean.
        _stopped()


def _stopped() -> None:
    print("stopped; unfinished work was discarded, finished files are complete", flush=True)
    sys.exit(0)
