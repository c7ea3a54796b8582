"""Trainer speed and replay memory: samples per second, and bytes per stored transition.

    python bench/train_speed.py [--config configs/mario.toml] [--steps 30] [--json PATH]

Replay is filled to its configured capacity with games of the config's observation shape (frame
contents do not change the cost), then the real `Trainer.train_step` runs: prioritized sampling,
targets, the MuZero loss, the optimizer and the priority update. Memory is the replay's own count
of the bytes it holds, divided by the transitions stored, and compared with one preprocessed frame.
"""

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import write_json

from muzero_lite.config import load_config
from muzero_lite.games import GameRecord
from muzero_lite.paths import DataDirs
from muzero_lite.trainer import Trainer


def synthetic_game(rng, length: int, obs_shape, dtype, num_actions: int) -> GameRecord:
    if dtype == np.uint8:
        observations = rng.integers(0, 256, size=(length + 1, *obs_shape), dtype=np.uint8)
    else:
        observations = rng.normal(size=(length + 1, *obs_shape)).astype(np.float32)
    policies = rng.random((length, num_actions)).astype(np.float32)
    return GameRecord(
        observations=observations,
        actions=rng.integers(num_actions, size=length),
        rewards=rng.normal(size=length).astype(np.float32),
        policies=policies / policies.sum(1, keepdims=True),
        root_values=rng.normal(size=length + 1).astype(np.float32),
        terminated=True,
        truncated=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--config", default="configs/mario.toml")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--steps", type=int, default=30, help="timed training steps")
    parser.add_argument("--game-length", type=int, default=500)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    config = load_config(args.config, args.overrides)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(config, DataDirs(Path(folder)), resume=False, log=lambda _: None)
        arch = trainer.model.arch
        dtype = np.uint8 if arch.pixels else np.float32
        frame_bytes = int(np.prod(arch.observation_shape)) * np.dtype(dtype).itemsize
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        start = time.perf_counter()
        while trainer.replay.num_transitions + args.game_length <= config.train.replay_capacity:
            game = synthetic_game(
                rng, args.game_length, arch.observation_shape, dtype, arch.num_actions
            )
            trainer.replay.add_game(game)
        fill_s = time.perf_counter() - start
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        transitions = trainer.replay.num_transitions
        print(f"filled replay: {transitions} transitions in {fill_s:.1f} s", flush=True)

        trainer.train_step()  # warm-up step (allocations, first-call overheads)
        sample_s = 0.0
        start = time.perf_counter()
        for _ in range(args.steps):
            t0 = time.perf_counter()
            trainer.replay.sample(config.train.batch_size, rng, 0.5)
            sample_s += time.perf_counter() - t0
            trainer.train_step()
        total_s = time.perf_counter() - start
        trainer.metrics.close()

    batch = config.train.batch_size
    step_s = (total_s - sample_s) / args.steps  # train_step alone (it samples once itself)
    result = {
        "config": args.config,
        "overrides": args.overrides,
        "batch_size": batch,
        "unroll_steps": config.train.unroll_steps,
        "threads": config.train.threads,
        "device": str(trainer.device),
        "train_steps_per_s": 1.0 / step_s,
        "samples_per_s": batch / step_s,
        "sample_ms_per_batch": 1000 * sample_s / args.steps,
        "transitions": transitions,
        "replay_bytes_per_transition": trainer.replay.nbytes / transitions,
        "rss_bytes_per_transition": (rss_after - rss_before) / transitions,
        "frame_bytes": frame_bytes,
        "bytes_ratio_to_frame": trainer.replay.nbytes / transitions / frame_bytes,
    }
    print()
    print(f"{'figure':34s} {'value':>12s}")
    for key in (
        "samples_per_s",
        "train_steps_per_s",
        "sample_ms_per_batch",
        "transitions",
        "replay_bytes_per_transition",
        "rss_bytes_per_transition",
        "frame_bytes",
        "bytes_ratio_to_frame",
    ):
        print(f"{key:34s} {result[key]:12.2f}")
    print(f"bytes per transition / one frame: {result['bytes_ratio_to_frame']:.3f} (target <= 1.5)")
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
