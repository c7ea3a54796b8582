"""Evaluate a checkpoint: greedy play, a table per stage, optional GIFs, and a JSON summary.

    python evaluate.py --config configs/mario.toml [--checkpoint latest|PATH] [--episodes 12]
        [--gifs] [--noop-max 30] [--no-progress-steps N] [--parallel N] [--json PATH]

Mario episodes cycle through the config's stages; other environments play their one task.
"""

from muzero_lite import interrupts

interrupts.hold()  # a Ctrl-C while the imports below load is kept: a clean stop once they are

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from muzero_lite.checkpoints import CheckpointError, build_model, load_latest, load_weights
from muzero_lite.cli import add_config_arguments, check_writable, config_from, data_dirs, run_entry
from muzero_lite.envs import Environment
from muzero_lite.evaluation import evaluate, format_table, summarize
from muzero_lite.storage import location


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    add_config_arguments(parser)
    parser.add_argument("--checkpoint", default="latest", help="'latest' or a checkpoint file")
    parser.add_argument("--episodes", type=int, default=10, help="greedy episodes in all")
    parser.add_argument("--gifs", action="store_true", help="write a GIF of each episode")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--noop-max",
        type=int,
        default=0,
        help="start each episode after 0..N no-op steps (Mario: 30)",
    )
    parser.add_argument(
        "--no-progress-steps",
        type=int,
        default=0,
        help="Mario: cut an episode after N steps without a new largest x_pos (default 0: "
        "never; the training setting env.no_progress_steps is not applied unless given here)",
    )
    parser.add_argument(
        "--parallel",
        type=int,
        default=None,
        help="episodes played side by side, their moves searched together "
        "(default: all for vector observations, 1 for frames)",
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="summary file (default: eval/ in the local folder)"
    )
    args = parser.parse_args()
    if args.episodes < 1:
        parser.error("--episodes must be at least 1")
    if args.no_progress_steps < 0:
        parser.error("--no-progress-steps must be at least 0 (0: never)")
    if args.parallel is not None and args.parallel < 1:
        parser.error("--parallel must be at least 1")
    config = config_from(args)
    if args.json is None or args.gifs:  # the summary or the GIFs go into the data folder
        check_writable(args.data_dir)
    torch.set_num_threads(config.selfplay.threads)
    dirs = data_dirs(args)
    env = Environment(config.env)
    model = build_model(config, env)
    if args.checkpoint == "latest":
        step = load_latest(dirs.checkpoints, model)
        if step is None:
            raise CheckpointError(
                f"no checkpoint in {dirs.checkpoints}: train first, or pass --checkpoint PATH"
            )
    else:
        step = load_weights(location(args.checkpoint), model)
    print(f"evaluating checkpoint step {step}: {args.episodes} greedy episodes", flush=True)
    gif_dir = dirs.gifs / "eval" if args.gifs else None
    results = evaluate(
        config,
        env,
        model,
        args.episodes,
        np.random.default_rng(args.seed),
        train_step=step,
        gif_dir=gif_dir,
        noop_max=args.noop_max,
        no_progress_steps=args.no_progress_steps,
        parallel=args.parallel,
    )
    env.close()
    summary = summarize(results)
    print(format_table(summary))
    path = (
        args.json
        or dirs.local / "eval" / f"eval-step{step:08d}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    episodes = [episode.to_json() for episode in results]
    report = {"checkpoint_step": step, "episodes": episodes, "summary": summary}
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    run_entry(main)
