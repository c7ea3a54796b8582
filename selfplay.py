"""Self-play worker: plays games with the search and writes them to games/ and gifs/.

    python selfplay.py --config configs/mario.toml [--data-dir D] [--games N] [--worker-id I]

Run one per terminal; each picks up the trainer's newest checkpoint between games.
"""

from muzero_lite import interrupts

interrupts.hold()  # a Ctrl-C while the imports below load is kept: a clean stop once they are

import argparse

from muzero_lite.cli import add_config_arguments, check_writable, config_from, data_dirs, run_entry
from muzero_lite.selfplay.worker import run_worker


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    add_config_arguments(parser)
    parser.add_argument(
        "--games", type=int, default=None, help="stop after N games (default: never)"
    )
    parser.add_argument(
        "--worker-id", type=int, default=0, help="this worker's number (seeds, names)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="random seed, combined with --worker-id"
    )
    args = parser.parse_args()
    if args.games is not None and args.games < 1:
        parser.error("--games must be at least 1")
    config = config_from(args)
    check_writable(args.data_dir)
    run_worker(config, data_dirs(args), games=args.games, worker_id=args.worker_id, seed=args.seed)
    return 0


if __name__ == "__main__":
    run_entry(main)
