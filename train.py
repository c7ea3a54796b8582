"""Trainer: loads games from games/ into prioritized replay, trains, writes checkpoints/.

    python train.py --config configs/mario.toml [--data-dir D] [--steps N] [--resume]

Run it beside any number of `selfplay.py` workers; they pick up each new checkpoint between games.
"""

from muzero_lite import interrupts

interrupts.hold()  # a Ctrl-C while the imports below load is kept: a clean stop once they are

import argparse

from muzero_lite.cli import add_config_arguments, check_writable, config_from, data_dirs, run_entry
from muzero_lite.trainer import Trainer


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    add_config_arguments(parser)
    parser.add_argument(
        "--steps", type=int, default=None, help="stop at this train step (default: never)"
    )
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint")
    parser.add_argument("--seed", type=int, default=0, help="random seed for weights and sampling")
    args = parser.parse_args()
    if args.steps is not None and args.steps < 1:
        parser.error("--steps must be at least 1")
    config = config_from(args)
    check_writable(args.data_dir)
    Trainer(config, data_dirs(args), resume=args.resume, seed=args.seed).run(args.steps)
    return 0


if __name__ == "__main__":
    run_entry(main)
