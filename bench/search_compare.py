"""Search kinds compared at an equal wall-clock budget: truncated, MuZero MCTS and Gumbel MuZero.

    python bench/search_compare.py [--minutes 5] [--kinds truncated,mcts,gumbel] [--json PATH]
    python bench/search_compare.py --cost-only        # just the per-move cost (a minute)

Run it from the repository root (the config path and the entry scripts are relative to it).

For each kind, at its default settings (`--set` changes them for all kinds):
1. Per-move cost: `search()` timed on a fresh network over CartPole states from random play, with
   the network calls per move counted.
2. Learning: `train.py` and one `selfplay.py` run as subprocesses on a temporary data folder for
   `--minutes`, then get SIGINT (the trainer writes a final checkpoint on it).
3. Evaluation: the final checkpoint plays `--episodes` greedy episodes (no noise, best action).
The kinds run one after another, each alone on the machine, so they get the same budget.
"""

import argparse
import statistics
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
from muzero_lite.config import Config, load_config
from muzero_lite.envs import Environment
from muzero_lite.games import load_game
from muzero_lite.launcher import start_run, stop_all
from muzero_lite.observations import stacked_observation
from muzero_lite.paths import DataDirs
from muzero_lite.search import search
from muzero_lite.selfplay.episodes import play_game

REPO = Path(__file__).resolve().parent.parent
KINDS = ("truncated", "mcts", "gumbel")


class CountingModel:
    """A model wrapper that counts the network calls a search makes."""

    def __init__(self, model):
        self.model, self.calls = model, 0

    def initial_inference(self, observations, prev_actions):
        self.calls += 1
        return self.model.initial_inference(observations, prev_actions)

    def recurrent_inference(self, hidden, action):
        self.calls += 1
        return self.model.recurrent_inference(hidden, action)


def random_play_inputs(
    config: Config, moves: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Network inputs of `moves` states met under uniform random play (episodes restart)."""
    env, rng = Environment(config.env), np.random.default_rng(seed)
    inputs, observations, actions = [], [env.reset(rng)[0]], []
    while len(inputs) < moves:
        inputs.append(stacked_observation(observations, actions, len(actions), config.env.stack))
        actions.append(int(rng.integers(env.num_actions)))
        step = env.step(actions[-1])
        observations.append(step.observation)
        if step.terminated or step.truncated:
            observations, actions = [env.reset(rng)[0]], []
    env.close()
    return inputs


def search_cost(config: Config, moves: int, seed: int) -> dict[str, float]:
    """Milliseconds and network calls per move of `search()` on a fresh network (self-play mode)."""
    env = Environment(config.env)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build_model(config, env).eval()
    env.close()
    counting, rng = CountingModel(model), np.random.default_rng(seed)
    inputs = random_play_inputs(config, moves, seed)
    for obs, prev in inputs[:20]:  # warm-up
        search(counting, obs, prev, config.search, rng=rng)
    counting.calls = 0
    start = time.perf_counter()
    for obs, prev in inputs:
        search(counting, obs, prev, config.search, rng=rng)
    seconds = time.perf_counter() - start
    return {"ms_per_move": 1000 * seconds / moves, "calls_per_move": counting.calls / moves}


def run_budget(args: argparse.Namespace, kind: str, data: Path) -> dict[str, int]:
    """Trainer and one self-play worker for `--minutes`, then SIGINT; their figures."""
    overrides = [f"search.kind={kind}", *args.overrides]
    children = start_run(args.config, overrides, DataDirs(data), 1, args.seed)
    deadline = time.monotonic() + 60 * args.minutes
    while time.monotonic() < deadline and all(c.process.poll() is None for c in children):
        time.sleep(1.0)
    codes = stop_all(children, timeout=120)
    for child in children:
        if codes[child.name] != 0:
            tail = child.log_path.read_text().strip().splitlines()[-5:]
            raise SystemExit(
                f"{kind}: {child.name} exited with {codes[child.name]}:\n" + "\n".join(tail)
            )
    lengths = [load_game(p).length for p in sorted(DataDirs(data).games.glob("*.npz"))]
    return {"env_steps": int(sum(lengths)), "games": len(lengths)}


def evaluate(config: Config, data: Path, episodes: int, seed: int) -> dict[str, float]:
    """Greedy returns of the newest checkpoint in `data` (a fresh network when there is none)."""
    env = Environment(config.env)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build_model(config, env).eval()
    step = load_latest(DataDirs(data).checkpoints, model) or 0
    rng = np.random.default_rng([seed, 1])
    returns = [
        play_game(
            env, model, config, rng, train_step=step, record_frames=False, greedy=True
        ).record.metadata.return_
        for _ in range(episodes)
    ]
    env.close()
    std = statistics.stdev(returns) if len(returns) > 1 else 0.0
    return {"train_steps": step, "eval_mean": statistics.mean(returns), "eval_std": std}


def compare_one(args: argparse.Namespace, kind: str) -> dict[str, float]:
    config = load_config(args.config, [f"search.kind={kind}", *args.overrides])
    torch.set_num_threads(config.selfplay.threads)
    figures = {"kind": kind, **search_cost(config, args.moves, args.seed)}
    if args.cost_only:
        print(f"{kind}: {figures['ms_per_move']:.2f} ms/move", flush=True)
        return figures
    print(
        f"{kind}: {figures['ms_per_move']:.2f} ms/move; learning for {args.minutes} min", flush=True
    )
    with tempfile.TemporaryDirectory(prefix=f"search-{kind}-") as folder:
        figures |= run_budget(args, kind, Path(folder))
        figures |= evaluate(config, Path(folder), args.episodes, args.seed)
    print(f"{kind}: eval {figures['eval_mean']:.1f} +- {figures['eval_std']:.1f}", flush=True)
    return figures


def print_table(rows: list[dict[str, float]]) -> None:
    print()
    print(
        f"{'kind':10s} {'ms/move':>8s} {'calls/move':>10s} {'eval return':>16s} "
        f"{'train steps':>11s} {'env steps':>9s}"
    )
    for r in rows:
        ret = f"{r['eval_mean']:.1f} +- {r['eval_std']:.1f}" if "eval_mean" in r else "-"
        steps = [f"{r[k]:d}" if k in r else "-" for k in ("train_steps", "env_steps")]
        print(
            f"{r['kind']:10s} {r['ms_per_move']:8.2f} {r['calls_per_move']:10.1f} {ret:>16s} "
            f"{steps[0]:>11s} {steps[1]:>9s}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--config", default="configs/cartpole.toml")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated search kinds")
    parser.add_argument("--minutes", type=float, default=5.0, help="learning budget per kind")
    parser.add_argument("--episodes", type=int, default=20, help="greedy evaluation episodes")
    parser.add_argument("--moves", type=int, default=300, help="moves timed for the search cost")
    parser.add_argument("--cost-only", action="store_true", help="only the per-move cost")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    stop_on_signals()  # Ctrl-C or SIGTERM still stops the trainer and workers
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        parser.error(f"unknown kinds {unknown}; choose from {', '.join(KINDS)}")

    rows = [compare_one(args, kind) for kind in kinds]
    print_table(rows)
    if args.json:
        result = {
            "config": args.config,
            "overrides": args.overrides,
            "minutes_per_kind": args.minutes,
            "episodes": args.episodes,
            "kinds": rows,
        }
        write_json(args.json, result)


if __name__ == "__main__":
    main()
