"""Does it learn? A trainer and one self-play worker on CartPole-v1 from scratch, judged greedily.

    python bench/learn_cartpole.py [--seed 0] [--minutes 5] [--json PATH] [--csv PATH]
        [--keep-data DIR|URL] [--local-dir DIR]

Every `--eval-every` seconds the newest checkpoint plays 20 greedy episodes in this process. The
curve (wall time, env steps, train steps, mean eval return) goes to a CSV; the first times the mean
reaches 200, 475 and 500 are printed, and with --json written as minutes_to_475, env_steps_to_475.

Env steps are counted on the safe side: the steps of every finished game, plus a whole episode
(max_episode_steps) for the game the worker may be part-way through when the evaluation starts.
The steps of finished games alone are in the `env_steps_finished` column.
"""

import argparse
import contextlib
import csv
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import write_json

from muzero_lite.checkpoints import build_model, load_latest
from muzero_lite.cli import data_location, stop_on_signals
from muzero_lite.config import load_config
from muzero_lite.envs import Environment
from muzero_lite.evaluation import evaluate
from muzero_lite.launcher import start_run, stop_all
from muzero_lite.monitor import RunMonitor
from muzero_lite.paths import DataDirs
from muzero_lite.storage import Location

THRESHOLDS = (200, 475, 500)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--config", default="configs/cartpole.toml")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument(
        "--eval-every", type=float, default=60.0, help="seconds between evaluations"
    )
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--keep-going", action="store_true", help="run all minutes even after 500")
    parser.add_argument("--csv", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--keep-data",
        type=data_location,
        default=None,
        help="run in this new folder, a path or a URL such as s3://bucket/run, and keep it "
        "(games, checkpoints; logs and metrics on this machine: see --local-dir), e.g. for "
        "bench/checkpoint_sweep.py --data-dir; default: a temporary folder",
    )
    parser.add_argument(
        "--local-dir",
        type=Path,
        default=None,
        help="logs and metrics (default: the data folder when it is local, "
        "local-runs/<bucket_path> for a URL)",
    )
    args = parser.parse_args()
    if args.keep_data is not None and args.keep_data.exists():
        parser.error(f"--keep-data {args.keep_data} already exists: name a new folder")
    stop_on_signals()  # Ctrl-C or SIGTERM still stops the trainer and workers

    config = load_config(args.config, args.overrides)
    torch.set_num_threads(1)
    env = Environment(config.env)
    model = build_model(config, env)
    rng = np.random.default_rng(args.seed)
    curve, reached = [], {}
    with run_folder(args.keep_data) as folder:
        dirs = DataDirs(folder, args.local_dir)
        monitor = RunMonitor(dirs)
        start = time.monotonic()
        children = start_run(args.config, args.overrides, dirs, 1, args.seed)
        try:
            next_eval = args.eval_every
            while next_eval <= 60 * args.minutes + 1e-9:
                time.sleep(max(0.0, start + next_eval - time.monotonic()))
                point = measure(config, env, model, dirs, monitor, rng, args.episodes, start)
                curve.append(point)
                print(
                    f"[{point['minutes']:5.2f} min] env steps {point['env_steps']:6d} | "
                    f"train steps {point['train_steps']:5d} | "
                    f"eval return {point['eval_mean']:6.1f} +- {point['eval_std']:5.1f}",
                    flush=True,
                )
                for threshold in THRESHOLDS:
                    if threshold not in reached and point["eval_mean"] >= threshold:
                        reached[threshold] = point
                        print(f"  reached {threshold} after {point['minutes']:.2f} min, "
                              f"{point['env_steps']} env steps", flush=True)  # fmt: skip
                if 500 in reached and not args.keep_going:
                    break
                next_eval += args.eval_every
        finally:
            codes = stop_all(children)
            if any(codes.values()):
                print(f"warning: exit codes {codes}; logs were in {dirs.local / 'logs'}")
    env.close()
    report(args, curve, reached)


@contextlib.contextmanager
def run_folder(keep: Location | None):
    """The folder the run writes to: `keep` (made now, kept), else a temporary one."""
    if keep is not None:
        keep.mkdir(parents=True)
        yield keep
        return
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


def measure(config, env, model, dirs, monitor, rng, episodes, start) -> dict:
    """Env steps and train step now, then a greedy evaluation of the newest checkpoint."""
    minutes = (time.monotonic() - start) / 60
    monitor.scan()
    step = load_latest(dirs.checkpoints, model)
    finished = monitor.env_steps
    returns = [0.0]
    if step is not None:
        results = evaluate(config, env, model, episodes, rng, train_step=step)
        returns = [float(r.metadata.return_) for r in results]
    return {
        "minutes": minutes,
        "env_steps": finished + config.env.max_episode_steps,  # one game may be in progress
        "env_steps_finished": finished,
        "train_steps": step or 0,
        "eval_mean": float(np.mean(returns)),
        "eval_std": float(np.std(returns)),
    }


def report(args, curve: list[dict], reached: dict[int, dict]) -> None:
    print()
    print(f"{'threshold':>9} {'minutes':>8} {'env steps':>10}")
    for threshold in THRESHOLDS:
        point = reached.get(threshold)
        cells = (
            (f"{point['minutes']:8.2f}", f"{point['env_steps']:10d}") if point else ("never",) * 2
        )
        print(f"{threshold:>9} {cells[0]:>8} {cells[1]:>10}")
    csv_path = args.csv or Path("bench/results") / f"learn_cartpole-seed{args.seed}.csv"
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(curve[0]) if curve else ["minutes"])
        writer.writeheader()
        writer.writerows(curve)
    print(f"wrote {csv_path}")
    if args.json:
        hit = reached.get(475)
        result = {
            "seed": args.seed,
            "minutes_to_475": hit["minutes"] if hit else None,
            "env_steps_to_475": hit["env_steps"] if hit else None,
            "first_reached": {str(t): reached[t] for t in reached},
            "final": curve[-1] if curve else None,
            "config": args.config,
            "overrides": args.overrides,
            "minutes_budget": args.minutes,
            "curve_csv": str(csv_path),
        }
        write_json(args.json, result)


if __name__ == "__main__":
    main()
