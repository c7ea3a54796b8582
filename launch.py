"""Start a trainer and self-play workers together, with one combined progress view.

    python launch.py --config configs/mario.toml [--workers N] [--data-dir D] [--minutes M]
        [--ray auto|local|ADDRESS]

Each process logs to logs/ in the local folder (the data folder, unless it is a URL). Ctrl-C stops
every process cleanly (the trainer writes a final checkpoint); starting again continues the run
from its newest checkpoint. With --ray the processes are Ray actors spread over a cluster, on a
data folder every node reaches (s3://...); Ray starts a process that dies again, and it carries
on from the files.
"""

from muzero_lite import interrupts

interrupts.hold()  # a Ctrl-C while the imports below load is kept: a clean stop once they are

import argparse
import time

from muzero_lite.cli import (
    add_config_arguments,
    check_writable,
    config_from,
    data_dirs,
    run_entry,
)
from muzero_lite.envs import Environment
from muzero_lite.launcher import LocalRun, default_workers
from muzero_lite.monitor import RunMonitor
from muzero_lite.storage import StorageError


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
    parser.add_argument(
        "--ray",
        metavar="ADDRESS",
        default=None,
        help="run on a Ray cluster: auto (the running one), local (start one here), or its address",
    )
    args = parser.parse_args()
    config = config_from(args)  # checks the config and the environment before any process starts
    Environment(config.env).close()
    check_writable(args.data_dir)
    workers = (
        args.workers if args.workers is not None else config.launch.workers or default_workers()
    )
    if workers < 1:
        parser.error("--workers must be at least 1")
    dirs = data_dirs(args)
    if args.ray is None:
        run = LocalRun(args.config, args.overrides, dirs, workers, args.seed)
        monitor = RunMonitor(dirs)
    else:
        from muzero_lite.cluster import RayRun

        run = RayRun(args.ray, args.config, args.overrides, dirs, workers, args.seed,
                     config.train.device)  # fmt: skip
        monitor = RunMonitor(dirs, metrics=run.trainer_metrics)
    print(f"started a trainer and {workers} self-play worker(s); {run.where}", flush=True)
    deadline = None if args.minutes is None else time.monotonic() + 60 * args.minutes
    try:
        while deadline is None or time.monotonic() < deadline:
            interrupts.check()
            time.sleep(min(config.launch.status_seconds, max(0.1, _left(deadline))))
            try:
                status = monitor.status_line()
            except StorageError as e:  # the processes retry on their own; so does the view
                status = f"progress unavailable: {e}"
            print(time.strftime("[%H:%M:%S] ") + status, flush=True)
            if ended := run.ended():
                for name, how in ended.items():
                    print(f"{name} {how}", flush=True)
                break
    except KeyboardInterrupt:
        print("stopping...", flush=True)
    codes = run.stop()
    print("stopped: " + ", ".join(f"{name} ({code})" for name, code in codes.items()), flush=True)
    return 0 if all(code == 0 for code in codes.values()) else 1


def _left(deadline: float | None) -> float:
    return float("inf") if deadline is None else deadline - time.monotonic()


if __name__ == "__main__":
    run_entry(main)
