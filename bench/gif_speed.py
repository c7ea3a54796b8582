"""What a game's GIF costs a worker: its exact palette, its encoding and the whole write, per frame.

    python bench/gif_speed.py [--config configs/mario.toml] [--frames 300] [--rounds 10]
        [--json PATH]

Plays `--frames` agent steps of uniform random actions on the config's first stage
(`env.stages`; new episodes as needed) and keeps the frames a worker would keep for the GIF
(`Environment.render`); then, for `--rounds` rounds, times `gifs.palette_indices` on them (stacked
once) and `gifs.write_gif` into a temporary folder (palette, encoding and the atomic write). The
medians over the rounds are reported, in ms per game and per frame. To compare two versions of the
code, run the script from each checkout in turns.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import write_json

from muzero_lite.config import load_config
from muzero_lite.envs import Environment
from muzero_lite.gifs import palette_indices, write_gif


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--config", default="configs/mario.toml")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.frames < 1 or args.rounds < 1:
        parser.error("--frames and --rounds must be >= 1")
    config = load_config(args.config)
    frames = random_frames(config, args.frames, args.seed)
    fps = config.selfplay.gif_fps
    times: dict[str, list[float]] = {"palette": [], "write_gif": []}
    stack = np.stack(frames)
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(args.rounds):
            path = Path(folder) / f"game-{round_}.gif"
            start = time.perf_counter()
            palette_indices(stack)
            times["palette"].append(time.perf_counter() - start)
            start = time.perf_counter()
            write_gif(frames, path, fps)
            times["write_gif"].append(time.perf_counter() - start)
        size = path.stat().st_size
    result: dict = {"frames": len(frames), "frame_shape": list(frames[0].shape), "gif_bytes": size}
    print(f"{len(frames)} frames of {frames[0].shape}, a GIF of {size / 1e3:.0f} kB")
    for name, seconds in times.items():
        ms = 1000 * statistics.median(seconds)
        result[f"{name}_ms"] = ms
        result[f"{name}_ms_per_frame"] = ms / len(frames)
        print(
            f"{name:>10}: {ms:7.1f} ms a game, {ms / len(frames):.3f} ms a frame (median of "
            f"{args.rounds})"
        )
    if args.json:
        write_json(args.json, result)


def random_frames(config, count: int, seed: int) -> list[np.ndarray]:
    """`count` GIF frames of uniform random play, as a worker records them."""
    env = Environment(config.env)
    rng = np.random.default_rng(seed)
    env.reset(rng, env.stages[0])
    frames = [env.render()]
    while len(frames) < count:
        step = env.step(int(rng.integers(env.num_actions)))
        frames.append(env.render())
        if step.terminated or step.truncated:
            env.reset(rng, env.stages[0])
            frames.append(env.render())
    env.close()
    return frames[:count]


if __name__ == "__main__":
    main()
