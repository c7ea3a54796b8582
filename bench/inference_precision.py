"""Self-play inference in float32 against bfloat16 autocast: does lower precision speed a worker?

    python bench/inference_precision.py [--config configs/mario.toml] [--rounds 5] [--roots N]
        [--json PATH]

Times the two calls a worker's search makes, at the batch sizes it makes them: the initial
inference of one observation stack per game slot (`--roots`, default `selfplay.envs`), and a
recurrent inference of `search.truncated.width` hidden states per root. Each variant (float32;
bfloat16 autocast; each also with channels_last) runs 50 calls per round in turns; the median
over the rounds of calls per second is reported, and its ratio to float32. These figures are the
evidence for `selfplay.precision = "auto"`'s rule (bfloat16 from 8 slots; BENCHMARKS.md).
"""

import argparse
import contextlib
import copy
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import write_json

from muzero_lite.checkpoints import architecture_for
from muzero_lite.config import load_config
from muzero_lite.envs import Environment
from networks import MuZeroNet

CALLS = 50


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--config", default="configs/mario.toml")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--roots", type=int, default=None, help="games searched together (default: selfplay.envs)"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    config = load_config(args.config)
    roots = args.roots or config.selfplay.envs
    if roots < 1:
        parser.error("--roots must be >= 1")
    torch.set_num_threads(config.selfplay.threads)
    env = Environment(config.env)
    arch = architecture_for(config, env)
    env.close()
    model = MuZeroNet(arch).eval()
    width = config.search.truncated.width
    dtype = torch.uint8 if arch.pixels else torch.float32
    observations = torch.zeros(roots, arch.stack, *arch.observation_shape, dtype=dtype)
    prev_actions = torch.zeros(roots, arch.stack, dtype=torch.long)
    hidden = model.initial_inference(observations, prev_actions).hidden
    hidden = hidden.repeat_interleave(width, dim=0)
    actions = torch.arange(roots * width) % arch.num_actions

    variants = {}
    for layout in ("contiguous", "channels_last"):
        net = copy.deepcopy(model)
        if layout == "channels_last":
            net.use_channels_last()
        for dtype in (torch.float32, torch.bfloat16):
            name = f"{str(dtype).removeprefix('torch.')} {layout}"
            variants[name] = (net, dtype)

    def calls_per_s(net: MuZeroNet, dtype: torch.dtype) -> float:
        context = (
            torch.autocast("cpu", dtype=dtype)
            if dtype != torch.float32
            else contextlib.nullcontext()
        )
        start = time.perf_counter()
        with context:
            for _ in range(CALLS):
                net.initial_inference(observations, prev_actions)
                net.recurrent_inference(hidden, actions)
        return CALLS / (time.perf_counter() - start)

    rates = {name: [] for name in variants}
    for net, dtype in variants.values():
        calls_per_s(net, dtype)  # warm-up
    for round_ in range(args.rounds):
        names = list(variants) if round_ % 2 == 0 else list(reversed(variants))
        for name in names:
            rates[name].append(calls_per_s(*variants[name]))
    base = statistics.median(rates["float32 contiguous"])
    result = {"config": args.config, "roots": roots, "width": width, "variants": {}}
    print(f"{'variant':28s} {'searches/s':>11s} {'ratio':>7s}  (one initial + one recurrent call, "
          f"{roots} roots)")  # fmt: skip
    for name, values in rates.items():
        median = statistics.median(values)
        result["variants"][name] = {"rounds": values, "median": median, "ratio": median / base}
        print(f"{name:28s} {median:11.1f} {median / base:7.2f}")
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
