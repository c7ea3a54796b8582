"""Start a trainer and self-play workers together, with one combined progress view.

    python launch.py --config configs/mario.toml [--workers N] [--data-dir D] [--minutes M]

Each process logs to <data-dir>/logs/. Ctrl-C stops every process cleanly (the trainer writes a
final checkpoint); starting again continues the run from its newest checkpoint.
"""

from muzero_lite import interrupts

interrupts.hold()  # a Ctrl-C while the imports below load is kept: a clean stop once they are

import argparse
import time

from muzero_lite.cli import add_config_arguments, check_writable, config_from, run_entry
from muzero_lite.envs import Environment
from muzero_lite.launcher import default_workers, start_run, stop_all
from muzero_lite.monitor import RunMonitor
from muzero_lite.paths import DataDirs


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    add_config_arguments(parser)
    parser.add_argument(
        "--workers", type=int, default=None, help="self-play workers (default: launch.workers)"
    )
    parser.add_argument(
        "--minutes", type=float, default=None, help="stop after this long (default: never)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = config_from(args)  # checks the config and the environment before any process starts
    Environment(config.env).close()
    check_writable(args.data_dir)
    workers = (
        args.workers if args.workers is not None else config.launch.workers or default_workers()
    )
    if workers < 1:
        parser.error("--workers must be at least 1")
    dirs = DataDirs(args.data_dir)
    logs = dirs.root / "logs"
    children = start_run(args.config, args.overrides, dirs.root, workers, args.seed, logs)
    print(f"started a trainer and {workers} self-play worker(s); logs in {logs}", flush=True)
    monitor = RunMonitor(dirs)
    deadline = None if args.minutes is None else time.monotonic() + 60 * args.minutes
    try:
        while deadline is None or time.monotonic() < deadline:
            interrupts.check()
            time.sleep(min(config.launch.status_seconds, max(0.1, _left(deadline))))
            print(time.strftime("[%H:%M:%S] ") + monitor.status_line(), flush=True)
            failed = [c for c in children if c.process.poll() is not None]
            if failed:
                for child in failed:
                    code = child.process.returncode
                    print(f"{child.name} exited with status {code}: see {child.log_path}")
                break
    except KeyboardInterrupt:
        print("stopping...", flush=True)
    codes = stop_all(children)
    print("stopped: " + ", ".join(f"{name} ({code})" for name, code in codes.items()), flush=True)
    return 0 if all(code == 0 for code in codes.values()) else 1


def _left(deadline: float | None) -> float:
    return float("inf") if deadline is None else deadline - time.monotonic()


if __name__ == "__main__":
    run_entry(main)
