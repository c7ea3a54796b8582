"""Self-play speed: agent steps per second with the search, over the same env under random actions.

    python bench/selfplay_speed.py [--config configs/mario.toml] [--seconds 120] [--json PATH]
        [--set selfplay.envs=4]

Both are measured in one run, in alternating rounds, so that machine noise hits both alike. The
self-play side is the real worker path with all its game slots (`selfplay.envs`): search,
environment, game file and GIF writing (in a temporary folder), counted in moves of all slots.
The random side steps one preprocessed environment with uniform actions. An untimed warm-up of
self-play comes first (`--warmup`, 60 s): a slot builds a stage's emulator (about 0.2 s on
Mario) when its game of that stage finds none idle, and with 16 slots over 12 stages the pool
takes a minute or two to reach the 2N + S a worker keeps, a start-up cost of a worker's first
minutes, not of its hours. Also printed: the worker's start-up time, its precision, emulators
and memory, and where the self-play time went, in ms per move: the emulator (the innermost
env's steps), the wrappers (the rest of `Environment.step`), the search, game files, GIFs
(frames rendered and encoded), emulators built in the timed rounds, and the rest (the worker's
own loop, resets).
"""

import argparse
import resource
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import write_json

import muzero_lite.envs as envs
import muzero_lite.selfplay.episodes as episodes
import muzero_lite.selfplay.output as output
from muzero_lite.config import load_config
from muzero_lite.envs import Environment
from muzero_lite.paths import DataDirs
from muzero_lite.selfplay.worker import Worker


class Timers:
    """Seconds spent in a few functions, by name, while `on` (patched in place, never undone:
    this process only measures)."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.on = False

    def wrap(self, owner, attribute: str, name: str) -> None:
        inner = getattr(owner, attribute)

        def timed(*args, **kwargs):
            if not self.on:
                return inner(*args, **kwargs)
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start

        setattr(owner, attribute, timed)


def instrument(worker: Worker) -> Timers:
    timers = Timers()
    probe = worker.pool.take(worker.slots[0].env.env_id)
    timers.wrap(type(probe.unwrapped), "step", "emulator")  # nes-py's env on Mario
    worker.pool.give(worker.slots[0].env.env_id, probe)
    timers.wrap(Environment, "step", "env")
    timers.wrap(Environment, "render", "render")
    timers.wrap(envs, "make_env", "emulators built")
    timers.wrap(episodes, "search_batch", "search")
    timers.wrap(output, "save_game", "game files")
    timers.wrap(output, "write_gif", "gif encode")
    timers.wrap(output, "update_best", "gif encode")
    return timers


def split_ms(timers: Timers, moves: int, seconds: float) -> dict[str, float]:
    """ms per move of each part of the self-play time: the emulator (the innermost env's steps),
    the wrappers (the rest of Environment.step), the search, game files, GIFs (frames rendered
    and encoded), emulators built (a slot's first game of a stage with none idle) and the rest
    (the worker's own loop, resets)."""
    t = timers.seconds
    parts = {
        "emulator": t["emulator"],
        "wrappers": t["env"] - t["emulator"],
        "search": t["search"],
        "game files": t["game files"],
        "GIFs": t["render"] + t["gif encode"],
        "emulators built": t["emulators built"],
    }
    parts["rest"] = seconds - sum(parts.values())
    return {name: 1000 * value / max(moves, 1) for name, value in parts.items()}


def memory_mb() -> float:
    """This process's resident memory now, in MB (its peak where /proc is not there)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1000
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1000


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


def selfplay_steps(worker: Worker, timers: Timers, seconds: float) -> tuple[int, float]:
    """Moves of all slots (search, env, files, GIFs) until `seconds` have passed."""
    moves, start = worker.moves, time.perf_counter()
    timers.on = True
    while time.perf_counter() - start < seconds:
        worker.play_move()
    timers.on = False
    return worker.moves - moves, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--config", default="configs/mario.toml")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--seconds", type=float, default=120.0, help="total per side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--warmup",
        type=float,
        default=60.0,
        help="seconds of self-play before the rounds, untimed: the slots' emulators are built "
        "as their stages first come up (about 0.2 s each on Mario), a start-up cost, not a "
        "per-move one",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()

    config = load_config(args.config, args.overrides)
    torch.set_num_threads(config.selfplay.threads)
    env = Environment(config.env)
    rng = np.random.default_rng(args.seed)
    totals = {"random": [0, 0.0], "selfplay": [0, 0.0]}
    with tempfile.TemporaryDirectory() as folder:
        before = memory_mb()
        worker = Worker(
            config, DataDirs(Path(folder)), worker_id=0, seed=args.seed, log=lambda _: None
        )
        print(
            f"worker: {len(worker.slots)} game slots, started in {worker.start_seconds:.2f} s, "
            f"{worker.pool.alive} emulators, +{memory_mb() - before:.0f} MB; "
            f"{worker.inference.line()}",
            flush=True,
        )
        timers = instrument(worker)
        start = time.perf_counter()
        while time.perf_counter() - start < args.warmup:
            worker.play_move()
        warm = {"seconds": args.warmup, "moves": worker.moves, "built": worker.pool.built}
        print(
            f"warm-up: {worker.moves} moves in {args.warmup:.0f} s, "
            f"{worker.pool.built} emulators built",
            flush=True,
        )
        for round_ in range(args.rounds):
            slice_ = args.seconds / args.rounds
            for name, (steps, secs) in (
                ("random", random_steps(env, rng, slice_)),
                ("selfplay", selfplay_steps(worker, timers, slice_)),
            ):
                totals[name][0] += steps
                totals[name][1] += secs
                print(
                    f"round {round_ + 1}/{args.rounds}: {name:8s} {steps / secs:8.1f} steps/s",
                    flush=True,
                )
        emulators = {
            "alive": worker.pool.alive,
            "built": worker.pool.built,
            "built_in_warmup": warm["built"],
        }
        memory = memory_mb() - before
        worker.close()
    env.close()

    rate = {name: steps / secs for name, (steps, secs) in totals.items()}
    ratio = rate["selfplay"] / rate["random"]
    print()
    print(f"{'side':10s} {'steps':>8s} {'seconds':>8s} {'steps/s':>9s}")
    for name, (steps, secs) in totals.items():
        print(f"{name:10s} {steps:8d} {secs:8.1f} {rate[name]:9.1f}")
    print(f"ratio self-play / random: {ratio:.3f} (target >= 0.85)")
    split = split_ms(timers, totals["selfplay"][0], totals["selfplay"][1])
    print("self-play ms per move: " + ", ".join(f"{k} {v:.2f}" for k, v in split.items()))
    print(
        f"emulators at the end: {emulators['alive']} alive, {emulators['built']} built "
        f"({emulators['built_in_warmup']} in the warm-up); "
        f"the worker's memory +{memory:.0f} MB over this process before it"
    )
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
            "envs": config.selfplay.envs,
            "warmup": warm,
            "ms_per_move": split,
            "start_seconds": worker.start_seconds,
            "emulators": emulators,
            "worker_memory_mb": memory,
            "inference": worker.inference.line(),
        }
        write_json(args.json, result)


if __name__ == "__main__":
    main()
