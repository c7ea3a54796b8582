"""What the entry scripts share: common arguments, one clear line plus exit 2 for bad input, and
one line plus exit 1 for a training run that diverged."""

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from muzero_lite import interrupts
from muzero_lite.checkpoints import CheckpointError
from muzero_lite.config import Config, ConfigError, load_config
from muzero_lite.finite import TrainingDiverged
from muzero_lite.paths import DataDirs

REPO_ROOT = Path(__file__).resolve().parent.parent


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
        type=Path,
        default=REPO_ROOT,
        help="folder holding games/, gifs/ and checkpoints/ (default: the repository root)",
    )


def config_from(args: argparse.Namespace) -> Config:
    return load_config(args.config, args.overrides)


def check_writable(folder: Path) -> None:
    """Fail early, with one line, when the data folder (or a folder in it) cannot be written.

    A probe file is created and removed, so the answer is the one a real write gets (os.access
    goes by permission bits, which root ignores, and can be wrong on network file systems).
    """
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
