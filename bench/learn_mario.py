"""Does it learn Mario? A trainer and workers on one stage, judged greedily against random play.

    python bench/learn_mario.py [--stage 1-1] [--minutes 60] [--eval-every 10] [--json PATH]

First the random-action baseline plays the same preprocessed stage; then the trainer and workers
run for `--minutes`, and every `--eval-every` minutes the newest checkpoint plays `--episodes`
greedy episodes, each after 0..`--noop-max` no-op steps (Mario is deterministic: without them every
greedy episode would be the same). The figures are mean and max x_pos, flag rate and return. The
target for a 60-minute CPU run: mean greedy x_pos at least twice the random baseline's.
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

from muzero_lite.checkpoints import build_model, load_latest
from muzero_lite.cli import stop_on_signals
from muzero_lite.config import load_config
from muzero_lite.envs import Environment
from muzero_lite.evaluation import evaluate
from muzero_lite.launcher import start_run, stop_all
from muzero_lite.monitor import RunMonitor
from muzero_lite.paths import DataDirs


def random_baseline(env: Environment, episodes: int, noop_max: int, rng) -> list[dict]:
    """Uniform random actions on the same preprocessed env, with the same no-op starts."""
    results = []
    for _ in range(episodes):
        _, info = env.reset(rng, noops=int(rng.integers(noop_max + 1)))
        x_max, total, flag = info.get("x_pos", 0), 0.0, False
        while True:
            step = env.step(int(rng.integers(env.num_actions)))
            total += step.reward
            x_max = max(x_max, step.info.get("x_pos", 0))
            flag = flag or bool(step.info.get("flag_get", False))
            if step.terminated or step.truncated:
                break
        results.append({"x_pos_max": x_max, "return": total, "flag_get": flag})
    return results


def figures(results: list[dict]) -> dict:
    xs = [float(r["x_pos_max"]) for r in results]
    return {
        "x_pos_mean": float(np.mean(xs)),
        "x_pos_max": float(np.max(xs)),
        "flag_rate": float(np.mean([bool(r["flag_get"]) for r in results])),
        "return_mean": float(np.mean([float(r["return"]) for r in results])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--config", default="configs/mario.toml")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--stage", default="1-1")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument(
        "--eval-every", type=float, default=10.0, help="minutes between evaluations"
    )
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--baseline-episodes", type=int, default=20)
    parser.add_argument("--noop-max", type=int, default=30)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="keep the run here (default: a temp dir)"
    )
    parser.add_argument("--csv", type=Path, default=Path("bench/results/learn_mario.csv"))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    stop_on_signals()  # Ctrl-C or SIGTERM still stops the trainer and workers

    overrides = [f"env.stages={args.stage}", *args.overrides]
    config = load_config(args.config, overrides)
    torch.set_num_threads(1)
    env = Environment(config.env)
    rng = np.random.default_rng(args.seed)
    start = time.monotonic()
    baseline = figures(random_baseline(env, args.baseline_episodes, args.noop_max, rng))
    seconds = time.monotonic() - start
    print(
        f"random baseline, {args.baseline_episodes} episodes in {seconds:.0f} s: " + _row(baseline)
    )

    model = build_model(config, env)
    curve = []
    with tempfile.TemporaryDirectory() as scratch:
        dirs = DataDirs(args.data_dir or Path(scratch))
        monitor = RunMonitor(dirs)
        start = time.monotonic()
        children = start_run(
            args.config, overrides, dirs.root, args.workers, args.seed, dirs.root / "logs"
        )

        def point(minutes: float) -> None:
            monitor.scan()
            step = load_latest(dirs.checkpoints, model)
            if step is None:
                return
            results = evaluate(
                config, env, model, args.episodes, rng, train_step=step, noop_max=args.noop_max
            )
            row = {
                "minutes": minutes,
                "env_steps": monitor.env_steps,
                "train_steps": step,
                **figures(results),
            }
            curve.append(row)
            print(
                f"[{minutes:6.1f} min] env steps {row['env_steps']:7d} | train steps {step:6d} | "
                f"greedy {_row(row)}",
                flush=True,
            )

        try:
            next_eval = args.eval_every
            while next_eval < args.minutes - 1e-9:
                time.sleep(max(0.0, start + 60 * next_eval - time.monotonic()))
                point((time.monotonic() - start) / 60)
                next_eval += args.eval_every
            time.sleep(max(0.0, start + 60 * args.minutes - time.monotonic()))
        finally:
            minutes = (time.monotonic() - start) / 60
            codes = stop_all(children)  # the trainer writes its final checkpoint
        point(minutes)  # the final evaluation, with the machine to itself
        if any(codes.values()):
            print(f"warning: exit codes {codes}; logs in {dirs.root / 'logs'}")
    env.close()
    report(args, baseline, curve)


def _row(figures: dict) -> str:
    return (
        f"x_pos mean {figures['x_pos_mean']:.0f} max {figures['x_pos_max']:.0f} | "
        f"flags {figures['flag_rate']:.0%} | return {figures['return_mean']:.1f}"
    )


def report(args, baseline: dict, curve: list[dict]) -> None:
    final = curve[-1] if curve else None
    ratio = final["x_pos_mean"] / baseline["x_pos_mean"] if final else None
    print()
    print(f"{'':22s} {'x_pos mean':>10s} {'x_pos max':>10s} {'flags':>6s}")
    print(f"{'random baseline':22s} {baseline['x_pos_mean']:10.0f} {baseline['x_pos_max']:10.0f} "
          f"{baseline['flag_rate']:6.0%}")  # fmt: skip
    if final:
        print(f"{'greedy, final':22s} {final['x_pos_mean']:10.0f} {final['x_pos_max']:10.0f} "
              f"{final['flag_rate']:6.0%}")  # fmt: skip
        print(f"final mean x_pos / random: {ratio:.2f} (target >= 2)")
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    with open(args.csv, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(curve[0]) if curve else ["minutes"])
        writer.writeheader()
        writer.writerows(curve)
    print(f"wrote {args.csv}")
    if args.json:
        result = {
            "stage": args.stage,
            "minutes": args.minutes,
            "seed": args.seed,
            "random_baseline": baseline,
            "final": final,
            "x_pos_ratio_to_random": ratio,
            "curve": curve,
            "overrides": args.overrides,
        }
        write_json(args.json, result)


if __name__ == "__main__":
    main()
