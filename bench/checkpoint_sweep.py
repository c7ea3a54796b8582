"""How often is a checkpoint good? Train once, keep every checkpoint, judge many of them greedily.

    python bench/checkpoint_sweep.py [--config configs/cartpole.toml] [--seed 0] [--set K=V]
        [--env-steps 9500] [--window 5000 9500] [--every 600] [--episodes 20] [--json PATH]
        [--data-dir DIR|URL] [--local-dir DIR]

One evaluation a minute (bench/learn_cartpole.py) samples a curve that swings between checkpoints
a few seconds apart, so two settings compared on a handful of such runs differ mostly by chance.
This script trains a trainer and one worker until the trainer has loaded `--env-steps` env steps,
keeping every checkpoint, then plays `--episodes` greedy episodes with each checkpoint (every
`--every` training steps) trained on an env-step count within `--window`. Every checkpoint plays
the same start states. It prints each checkpoint's mean return, and the share of checkpoints whose
mean reaches `--threshold`: the chance that an evaluation in that window passes.

Env steps per checkpoint are those the trainer had loaded when it logged that step (its metrics
CSV), not counting games still being played. With `--data-dir` it judges a finished run's
checkpoints instead, e.g. those `bench/learn_cartpole.py --keep-data DIR` kept.
"""

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import write_json

from muzero_lite.checkpoints import build_model, list_checkpoints, load_weights
from muzero_lite.cli import data_location, stop_on_signals
from muzero_lite.config import load_config
from muzero_lite.envs import Environment
from muzero_lite.evaluation import evaluate
from muzero_lite.launcher import start_run, stop_all
from muzero_lite.monitor import RunMonitor
from muzero_lite.paths import DataDirs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--config", default="configs/cartpole.toml")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--env-steps", type=int, default=9500, help="train until this many")
    parser.add_argument("--window", type=int, nargs=2, default=(5000, 9500), metavar=("LO", "HI"))
    parser.add_argument("--every", type=int, default=600, help="training steps between judged")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--threshold", type=float, default=475.0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--data-dir",
        type=data_location,
        default=None,
        help="judge the checkpoints of this finished run, a path or a URL such as "
        "s3://bucket/run, instead of training one (e.g. from "
        "bench/learn_cartpole.py --keep-data DIR --set train.keep_checkpoints=1000000)",
    )
    parser.add_argument(
        "--local-dir",
        type=Path,
        default=None,
        help="where that run's metrics are (default: the data folder when it is local, "
        "local-runs/<bucket_path> for a URL)",
    )
    args = parser.parse_args()
    stop_on_signals()

    overrides = [*args.overrides, "train.keep_checkpoints=1000000"]  # keep every checkpoint
    config = load_config(args.config, overrides)
    torch.set_num_threads(1)
    if args.data_dir is not None:
        if not (args.data_dir / "checkpoints").is_dir():
            parser.error(f"--data-dir {args.data_dir} has no checkpoints/ folder")
        rows = judge(args, config, DataDirs(args.data_dir, args.local_dir))
    else:
        with tempfile.TemporaryDirectory() as folder:
            dirs = DataDirs(Path(folder))
            train(args, overrides, dirs)
            rows = judge(args, config, dirs)
    report(args, rows)


def train(args, overrides: list[str], dirs: DataDirs) -> None:
    """Trainer plus one worker until the games on disk hold `--env-steps` env steps."""
    monitor = RunMonitor(dirs)
    start = time.monotonic()
    children = start_run(args.config, overrides, dirs, 1, args.seed)
    try:
        while monitor.env_steps < args.env_steps:
            time.sleep(5)
            monitor.scan()
            print(f"[{(time.monotonic() - start) / 60:5.2f} min] training: env steps "
                  f"{monitor.env_steps}/{args.env_steps}", flush=True)  # fmt: skip
    finally:
        codes = stop_all(children)
        if any(codes.values()):
            print(f"warning: exit codes {codes}")


def judge(args, config, dirs: DataDirs) -> list[dict]:
    """Greedy returns of every `--every`-th checkpoint trained on env steps within the window."""
    env_at = env_steps_by_train_step(dirs.runs / "train" / "metrics.csv")
    low, high = args.window
    chosen, last = [], -args.every
    for step, path in list_checkpoints(dirs.checkpoints):
        env_steps = env_at(step)
        if low <= env_steps <= high and step - last >= args.every:
            chosen.append((step, env_steps, path))
            last = step
    env = Environment(config.env)
    model = build_model(config, env)
    rows = []
    for step, env_steps, path in chosen:
        load_weights(path, model)
        rng = np.random.default_rng(1000 + args.seed)  # the same start states for every checkpoint
        results = evaluate(config, env, model, args.episodes, rng)
        returns = [float(r.metadata.return_) for r in results]
        rows.append({"train_step": step, "env_steps": env_steps, "mean": float(np.mean(returns)),
                     "min": min(returns)})  # fmt: skip
        print(f"step {step:6d} | env steps {env_steps:6d} | mean {rows[-1]['mean']:6.1f} | "
              f"min {rows[-1]['min']:5.0f}", flush=True)  # fmt: skip
    env.close()
    return rows


def env_steps_by_train_step(metrics_csv: Path):
    """A function: train step -> env steps the trainer had loaded at its last log at or before."""
    with open(metrics_csv, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["charts/env_steps"]]
    marks = [(int(r["step"]), int(float(r["charts/env_steps"]))) for r in rows]

    def env_at(step: int) -> int:
        before = [env for logged, env in marks if logged <= step]
        return before[-1] if before else 0

    return env_at


def report(args, rows: list[dict]) -> None:
    means = np.array([r["mean"] for r in rows]) if rows else np.zeros(0)
    share = float(np.mean(means >= args.threshold)) if rows else None
    print()
    print(f"{'checkpoints':>11} {'mean return':>11} {f'share >= {args.threshold:g}':>14}")
    if rows:
        print(f"{len(rows):>11d} {means.mean():>11.1f} {share:>14.2f}")
    else:
        print("no checkpoint in the window")
    if args.json:
        write_json(args.json, {
            "seed": args.seed, "config": args.config, "overrides": args.overrides,
            "window": list(args.window), "episodes": args.episodes, "threshold": args.threshold,
            "checkpoints": len(rows), "mean_return": float(means.mean()) if rows else None,
            "share_at_threshold": share, "rows": rows,
        })  # fmt: skip


if __name__ == "__main__":
    main()
