"""Trainer speed and replay memory: samples per second of each setting, and bytes per transition.

    python bench/train_speed.py [--config configs/mario.toml] [--rounds 5] [--steps 10]
                                [--variant NAME:key=value,...] [--json PATH]

Replay is filled to its configured capacity with games of the config's observation shape (frame
contents do not change the cost), then one trainer per variant runs the real
`Trainer.train_step` (prioritized sampling, targets, the MuZero loss, the optimizer and the
priority update), all on that one replay. Variants take turns, `--steps` timed steps each per
round, the order reversed every other round, so that a machine whose speed drifts favours none;
the ratio of each variant to the first is taken per round, and its median reported.

Variants by default: float32 (mixed precision, channels_last and compilation all off: the
trainer as it was before them) and default (the config as it is). Memory is the replay's own count
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

PLAIN = "train.precision=float32,train.channels_last=false,train.compile=false"
DEFAULT_VARIANTS = [f"float32:{PLAIN}", "default:"]


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


def parse_variant(text: str) -> tuple[str, list[str]]:
    """ "name:key=value,key=value" -> (name, ["key=value", ...])."""
    name, _, overrides = text.partition(":")
    if not name:
        raise SystemExit(f"--variant {text!r}: expected NAME:key=value,... (no overrides: NAME:)")
    return name, [item for item in overrides.split(",") if item]


def timed_steps(trainer: Trainer, steps: int) -> float:
    """Seconds of `steps` training steps."""
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--config", default="configs/mario.toml")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--variant", dest="variants", action="append", default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per round")
    parser.add_argument("--game-length", type=int, default=500)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    variants = [parse_variant(v) for v in args.variants or DEFAULT_VARIANTS]

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        trainers = {}
        for i, (name, overrides) in enumerate(variants):
            config = load_config(args.config, args.overrides + overrides)
            lines = []
            trainers[name] = Trainer(
                config, DataDirs(Path(folder) / str(i)), resume=False, log=lines.append
            )
            print(f"{name}: " + " | ".join(line.removeprefix("[train] ") for line in lines))
        first = next(iter(trainers.values()))
        memory = fill_replay(first, args.game_length, rng)
        for trainer in trainers.values():
            trainer.replay = first.replay  # one replay, filled once
            start = time.perf_counter()
            timed_steps(trainer, 2)  # warm-up: allocations, first calls, compilation
            trainer.warm_up_s = time.perf_counter() - start

        seconds = {name: [] for name in trainers}
        for round_ in range(args.rounds):
            order = list(trainers) if round_ % 2 == 0 else list(reversed(trainers))
            for name in order:
                seconds[name].append(timed_steps(trainers[name], args.steps))
            line = "  ".join(
                f"{name} {config_batch(trainers[name]) * args.steps / seconds[name][-1]:.0f}"
                for name in trainers
            )
            print(f"round {round_ + 1}/{args.rounds}: samples/s  {line}", flush=True)
        for trainer in trainers.values():
            trainer.metrics.close()

    result = summarize(trainers, seconds, args)
    result.update(memory)
    print()
    baseline = next(iter(trainers))
    print(f"{'variant':12s} {'samples/s':>10s} {'ratio to ' + baseline:>18s} {'warm-up s':>10s}")
    for name, figures in result["variants"].items():
        print(
            f"{name:12s} {figures['samples_per_s']:10.1f} {figures['ratio']:18.2f} "
            f"{figures['warm_up_s']:10.1f}"
        )
    print(f"bytes per transition / one frame: {result['bytes_ratio_to_frame']:.3f} (target <= 1.5)")
    if args.json:
        write_json(args.json, result)


def config_batch(trainer: Trainer) -> int:
    return trainer.config.train.batch_size


def fill_replay(trainer: Trainer, game_length: int, rng: np.random.Generator) -> dict:
    """Fill the trainer's replay to capacity with synthetic games; its memory figures."""
    arch = trainer.model.arch
    capacity = trainer.config.train.replay_capacity
    dtype = np.uint8 if arch.pixels else np.float32
    frame_bytes = int(np.prod(arch.observation_shape)) * np.dtype(dtype).itemsize
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    while trainer.replay.num_transitions + game_length <= capacity:
        game = synthetic_game(rng, game_length, arch.observation_shape, dtype, arch.num_actions)
        trainer.replay.add_game(game)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    transitions = trainer.replay.num_transitions
    print(f"filled replay: {transitions} transitions in {time.perf_counter() - start:.1f} s")
    return {
        "transitions": transitions,
        "replay_bytes_per_transition": trainer.replay.nbytes / transitions,
        "rss_bytes_per_transition": (rss_after - rss_before) / transitions,
        "frame_bytes": frame_bytes,
        "bytes_ratio_to_frame": trainer.replay.nbytes / transitions / frame_bytes,
    }


def summarize(trainers: dict[str, Trainer], seconds: dict[str, list[float]], args) -> dict:
    """Per variant: samples/s of each round, their median, and the median per-round ratio to
    the first variant."""
    rates_of = {
        name: [config_batch(trainer) * args.steps / s for s in seconds[name]]
        for name, trainer in trainers.items()
    }
    baseline = next(iter(trainers))
    variants = {}
    for name, trainer in trainers.items():
        rates = rates_of[name]
        ratios = [r / b for r, b in zip(rates, rates_of[baseline], strict=True)]
        variants[name] = {
            "precision": trainer.accel.precision,
            "precision_why": trainer.accel.why,
            "channels_last": trainer.accel.channels_last,
            "compiled": trainer.accel.compiled,
            "batch_size": config_batch(trainer),
            "samples_per_s_rounds": rates,
            "samples_per_s": float(np.median(rates)),
            "train_steps_per_s": float(np.median(rates)) / config_batch(trainer),
            "ratio_rounds": ratios,
            "ratio": float(np.median(ratios)),
            "warm_up_s": trainer.warm_up_s,
        }
    first = next(iter(trainers.values()))
    return {
        "config": args.config,
        "overrides": args.overrides,
        "rounds": args.rounds,
        "steps_per_round": args.steps,
        "unroll_steps": first.config.train.unroll_steps,
        "threads": first.config.train.threads,
        "device": str(first.device),
        "baseline": baseline,
        "variants": variants,
    }


if __name__ == "__main__":
    main()
