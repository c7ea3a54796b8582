"""Self-play speed: agent steps per second with the search, over the same env under random actions.

    python bench/selfplay_speed.py [--config configs/mario.toml] [--seconds 120] [--json PATH]

Both are measured in one run, in alternating rounds, so that machine noise hits both alike. The
self-play side is the real worker path: search, environment, game file and GIF writing (in a
temporary folder). The random side steps the same preprocessed environment with uniform actions.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import write_json

from muzero_lite.config import load_config
from muzero_lite.envs import Environment
from muzero_lite.paths import DataDirs
from muzero_lite.worker import Worker


def random_steps(env: Environment, rng: np.random.Generator, seconds: float) -> tuple[int, float]:
    """Steps of uniform random play (resets included) until `seconds` have passed."""
    steps, start = 0, time.perf_counter()
    env.reset(rng)
    while time.perf_counter() - start < seconds:
        step = env.step(int(rng.integers(env.num_actions)))
        steps += 1
        if step.terminated or step.truncated:
            env.reset(rng)
    return steps, time.perf_counter() - start


def selfplay_steps(worker: Worker, seconds: float) -> tuple[int, float]:
    """Steps of whole self-play games (search, env, files, GIFs) until `seconds` have passed."""
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        steps += worker.play_one().record.length
    return steps, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--config", default="configs/mario.toml")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--seconds", type=float, default=120.0, help="total per side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()

    config = load_config(args.config, args.overrides)
    torch.set_num_threads(config.selfplay.threads)
    env = Environment(config.env)
    rng = np.random.default_rng(args.seed)
    totals = {"random": [0, 0.0], "selfplay": [0, 0.0]}
    with tempfile.TemporaryDirectory() as folder:
        worker = Worker(
            config, DataDirs(Path(folder)), worker_id=0, seed=args.seed, log=lambda _: None
        )
        for round_ in range(args.rounds):
            slice_ = args.seconds / args.rounds
            for name, (steps, secs) in (
                ("random", random_steps(env, rng, slice_)),
                ("selfplay", selfplay_steps(worker, slice_)),
            ):
                totals[name][0] += steps
                totals[name][1] += secs
                print(
                    f"round {round_ + 1}/{args.rounds}: {name:8s} {steps / secs:8.1f} steps/s",
                    flush=True,
                )
        worker.close()
    env.close()

    rate = {name: steps / secs for name, (steps, secs) in totals.items()}
    ratio = rate["selfplay"] / rate["random"]
    print()
    print(f"{'side':10s} {'steps':>8s} {'seconds':>8s} {'steps/s':>9s}")
    for name, (steps, secs) in totals.items():
        print(f"{name:10s} {steps:8d} {secs:8.1f} {rate[name]:9.1f}")
    print(f"ratio self-play / random: {ratio:.3f} (target >= 0.5)")
    if args.json:
        result = {
            "config": args.config,
            "overrides": args.overrides,
            "search": config.to_dict()["search"],
            "threads": config.selfplay.threads,
            "random_steps_per_s": rate["random"],
            "selfplay_steps_per_s": rate["selfplay"],
            "ratio": ratio,
            "random_steps": totals["random"][0],
            "selfplay_steps": totals["selfplay"][0],
            "seconds_per_side": args.seconds,
        }
        write_json(args.json, result)


if __name__ == "__main__":
    main()
