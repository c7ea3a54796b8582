"""Does it learn Mario? A trainer and workers on one stage, judged greedily against random play.

    python bench/learn_mario.py [--stage 1-1|all] [--minutes 60] [--eval-every 10] [--episodes 5]
        [--final-episodes 20] [--noop-max 30] [--json PATH] [--csv PATH]

`--stage all` trains on every stage of the config (`env.stages`) instead of one; the baseline
and the evaluations then cycle through the stages (episode i on stage i mod S), and the final
block and the JSON also give the figures of each stage against random play on that stage.

First the random-action baseline plays the same preprocessed stage; then the trainer and workers
run for `--minutes`, and every `--eval-every` minutes the newest checkpoint plays `--episodes`
greedy episodes, each after 0..`--noop-max` random no-op steps (Mario is deterministic: without
them every greedy episode would be the same). Once the run has stopped, the final checkpoint
plays `--final-episodes` greedy episodes, episode i after exactly i no-op steps, so no start is
played twice; different starts may still converge on the same play, so the final block also
counts the distinct trajectories (same actions and same outcome: one trajectory).

Greedy episodes and the random baseline are played to the end: the no-progress truncation of
training (env.no_progress_steps) is off for both, unless `--eval-no-progress-steps N` cuts
greedy episodes after N agent steps without a new largest x_pos (a greedy agent stuck at a pipe
otherwise plays all 2,000 steps of the cap, minutes of the run's machine time per evaluation).
The figures are mean and max x_pos, flag rate and return; `first_flag_minutes` and
`first_flag_env_steps` mark the first greedy evaluation (periodic or final, never a self-play
game) in which any episode reached the flag. Targets (issue 17): after 60 minutes on 1-1, a mean
greedy x_pos of at least 2,400 and three times the random baseline's; after 120 minutes, at least
5 of the 20 final episodes at the flag, over at least 5 distinct trajectories.
"""

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import write_json

from muzero_lite.checkpoints import build_model, load_latest
from muzero_lite.cli import stop_on_signals
from muzero_lite.config import Config, load_config
from muzero_lite.envs import Environment
from muzero_lite.evaluation import by_stage, distinct_trajectories, evaluate
from muzero_lite.game_metadata import GameMetadata
from muzero_lite.launcher import start_run, stop_all
from muzero_lite.monitor import RunMonitor
from muzero_lite.paths import DataDirs
from muzero_lite.storage import location
from networks import MuZeroNet


def random_baseline(env: Environment, episodes: int, noop_max: int, rng) -> list[GameMetadata]:
    """Uniform random actions on the same preprocessed env, with the same no-op starts, played
    without the no-progress truncation (as greedy evaluation plays); episode i on stage i mod S,
    as evaluation cycles them."""
    old_no_progress_steps, env.no_progress_steps = env.no_progress_steps, 0
    results = []
    try:
        for i in range(episodes):
            env_id = env.stages[i % len(env.stages)]
            _, info = env.reset(rng, env_id=env_id, noops=int(rng.integers(noop_max + 1)))
            stage = f"{info['world']}-{info['stage']}" if "world" in info else None
            x_max, total, flag = info.get("x_pos", 0), 0.0, False
            while True:
                step = env.step(int(rng.integers(env.num_actions)))
                total += step.reward
                x_max = max(x_max, step.info.get("x_pos", 0))
                flag = flag or bool(step.info.get("flag_get", False))
                if step.terminated or step.truncated:
                    break
            results.append(
                GameMetadata(
                    return_=total, x_pos_max=x_max, flag_get=flag, env_id=env_id, stage=stage
                )
            )
    finally:
        env.no_progress_steps = old_no_progress_steps
    return results


def figures(results: list[GameMetadata]) -> dict:
    xs = [float(r.x_pos_max) for r in results]
    flags = [bool(r.flag_get) for r in results]
    return {
        "episodes": len(results),
        "flags": sum(flags),
        "x_pos_mean": float(np.mean(xs)),
        "x_pos_max": float(np.max(xs)),
        "flag_rate": float(np.mean(flags)),
        "return_mean": float(np.mean([float(r.return_) for r in results])),
    }


def per_stage(results: list[GameMetadata]) -> dict[str, dict]:
    """`figures` of each stage (or env id) the games played, in the order first played."""
    return {stage: figures(games) for stage, games in by_stage(results).items()}


def first_flag(curve: list[dict[str, Any]]) -> tuple[float | None, int | None]:
    """(minutes, env steps) of the first evaluation in which a greedy episode reached the flag;
    (None, None) if none did."""
    for row in curve:
        if row["flags"] > 0:
            return row["minutes"], row["env_steps"]
    return None, None


def final_noops(episodes: int, noop_max: int) -> list[int]:
    """The final evaluation's starts: episode i after exactly i no-op steps, no count twice."""
    if not 1 <= episodes <= noop_max + 1:
        raise ValueError(f"final episodes must be 1..noop_max + 1 = {noop_max + 1}, not {episodes}")
    return list(range(episodes))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--config", default="configs/mario.toml")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument(
        "--stage", default="1-1", help="one stage, or 'all' for the config's env.stages"
    )
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument(
        "--eval-every", type=float, default=10.0, help="minutes between evaluations"
    )
    parser.add_argument(
        "--episodes", type=int, default=5, help="greedy episodes per periodic evaluation"
    )
    parser.add_argument(
        "--final-episodes",
        type=int,
        default=20,
        help="greedy episodes of the final evaluation, episode i after exactly i no-op steps;\n"
        "at most --noop-max + 1 (a repeated count would replay a game already played: an error)",
    )
    parser.add_argument(
        "--eval-no-progress-steps",
        type=int,
        default=0,
        help="cut greedy episodes after this many agent steps without a new largest x_pos\n"
        "(0: play them to the end, as evaluate.py does)",
    )
    parser.add_argument("--baseline-episodes", type=int, default=20)
    parser.add_argument("--noop-max", type=int, default=30)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--data-dir",
        type=location,
        default=None,
        help="keep the run here, a path or a URL such as s3://bucket/run (default: a temp dir)",
    )
    parser.add_argument("--csv", type=Path, default=Path("bench/results/learn_mario.csv"))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.eval_no_progress_steps < 0:
        parser.error("--eval-no-progress-steps must be >= 0 (0: off)")
    if not 1 <= args.final_episodes <= args.noop_max + 1:
        parser.error(
            f"--final-episodes must be 1..--noop-max + 1 = {args.noop_max + 1}: one episode "
            "per distinct no-op count (raise --noop-max for more)"
        )
    return args


def main() -> None:
    args = parse_args()
    stop_on_signals()  # Ctrl-C or SIGTERM still stops the trainer and workers
    overrides = [*([] if args.stage == "all" else [f"env.stages={args.stage}"]), *args.overrides]
    config_text = Path(args.config).read_text()  # what the run's processes will read
    config = load_config(args.config, overrides)
    torch.set_num_threads(1)
    env = Environment(config.env)
    rng = np.random.default_rng(args.seed)
    start = time.monotonic()
    baseline_games = random_baseline(env, args.baseline_episodes, args.noop_max, rng)
    baseline = {**figures(baseline_games), "per_stage": per_stage(baseline_games)}
    seconds = time.monotonic() - start
    print(
        f"random baseline, {args.baseline_episodes} episodes in {seconds:.0f} s: " + _row(baseline)
    )
    curve = train_and_evaluate(args, overrides, config, config_text, env, rng)
    env.close()
    report(args, baseline, curve)


def train_and_evaluate(
    args: argparse.Namespace,
    overrides: list[str],
    config: Config,
    config_text: str,
    env: Environment,
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    """Run the trainer and workers (on `config_text`, the file `config` was loaded from) for
    `--minutes`, evaluating periodically, then once more at the end with distinct no-op starts;
    the curve, one row per evaluation, the final one last."""
    model = build_model(config, env)
    curve = []
    with tempfile.TemporaryDirectory() as scratch:
        dirs = DataDirs(args.data_dir or Path(scratch))
        monitor = RunMonitor(dirs)
        # The processes read the config as this process loaded it: an edit of the file during
        # the baseline would otherwise reach them and not this process's evaluations.
        dirs.local.mkdir(parents=True, exist_ok=True)
        snapshot = dirs.local / "config.toml"
        snapshot.write_text(config_text)
        start = time.monotonic()
        children = start_run(str(snapshot), overrides, dirs, args.workers, args.seed)

        def point(
            minutes: float,
            kind: str,
            episodes: int,
            noop_max: int = 0,
            noops: list[int] | None = None,
        ) -> None:
            monitor.scan()
            row = evaluation_row(
                config,
                env,
                model,
                dirs,
                rng,
                kind,
                episodes,
                noop_max=noop_max,
                noops=noops,
                no_progress_steps=args.eval_no_progress_steps,
            )
            if row is None:
                return
            curve.append({"minutes": minutes, "env_steps": monitor.env_steps, **row})
            print(
                f"[{minutes:6.1f} min] env steps {monitor.env_steps:7d} | train steps "
                f"{row['train_steps']:6d} | {kind} greedy {_row(row)}",
                flush=True,
            )

        try:
            next_eval = args.eval_every
            while next_eval < args.minutes - 1e-9:
                time.sleep(max(0.0, start + 60 * next_eval - time.monotonic()))
                minutes = (time.monotonic() - start) / 60
                point(minutes, "periodic", args.episodes, noop_max=args.noop_max)
                next_eval += args.eval_every
            time.sleep(max(0.0, start + 60 * args.minutes - time.monotonic()))
        finally:
            minutes = (time.monotonic() - start) / 60
            codes = stop_all(children)  # the trainer writes its final checkpoint
        noops = final_noops(args.final_episodes, args.noop_max)
        point(minutes, "final", len(noops), noops=noops)  # with the machine to itself
        if any(codes.values()):
            print(f"warning: exit codes {codes}; logs in {dirs.local / 'logs'}")
    return curve


def evaluation_row(
    config: Config,
    env: Environment,
    model: MuZeroNet,
    dirs: DataDirs,
    rng: np.random.Generator,
    kind: str,
    episodes: int,
    *,
    noop_max: int = 0,
    noops: list[int] | None = None,
    no_progress_steps: int = 0,
) -> dict[str, Any] | None:
    """The newest checkpoint's figures over `episodes` greedy games, started after 0..noop_max
    random no-ops or after noops[i] (as `evaluate` plays them); None before any checkpoint."""
    step = load_latest(dirs.checkpoints, model)
    if step is None:
        return None
    results = evaluate(
        config,
        env,
        model,
        episodes,
        rng,
        train_step=step,
        noop_max=noop_max,
        noops=noops,
        no_progress_steps=no_progress_steps,
    )
    games = [r.metadata for r in results]
    return {
        "eval": kind,
        "train_steps": step,
        **figures(games),
        "distinct_trajectories": distinct_trajectories(results),
        "per_stage": per_stage(games),  # in the JSON; the CSV keeps the flat columns
    }


def _row(figures: dict) -> str:
    return (
        f"x_pos mean {figures['x_pos_mean']:.0f} max {figures['x_pos_max']:.0f} | "
        f"flags {figures['flag_rate']:.0%} | return {figures['return_mean']:.1f}"
    )


def report(args: argparse.Namespace, baseline: dict, curve: list[dict[str, Any]]) -> None:
    """The final block, the curve as CSV and, with --json, everything as JSON."""
    final = curve[-1] if curve and curve[-1]["eval"] == "final" else None
    ratio = final["x_pos_mean"] / baseline["x_pos_mean"] if final else None
    flag_minutes, flag_env_steps = first_flag(curve)
    print()
    print(f"{'':22s} {'x_pos mean':>10s} {'x_pos max':>10s} {'flags':>6s}")
    print(f"{'random baseline':22s} {baseline['x_pos_mean']:10.0f} {baseline['x_pos_max']:10.0f} "
          f"{baseline['flag_rate']:6.0%}")  # fmt: skip
    if final:
        print(f"{'greedy, final':22s} {final['x_pos_mean']:10.0f} {final['x_pos_max']:10.0f} "
              f"{final['flag_rate']:6.0%}")  # fmt: skip
        print(f"final: {final['episodes']} episodes after 0..{final['episodes'] - 1} no-ops, "
              f"{final['distinct_trajectories']} distinct trajectories, "
              f"checkpoint step {final['train_steps']}")  # fmt: skip
        print(f"final mean x_pos / random: {ratio:.2f} (60-minute target: >= 3 and 2,400)")
        if len(final["per_stage"]) > 1:
            print(stage_table(baseline["per_stage"], final["per_stage"]))
    else:
        print("no final evaluation: the trainer wrote no checkpoint")
    if flag_minutes is None:
        print("first flag: none in any greedy evaluation")
    else:
        print(f"first flag: {flag_minutes:.1f} min, {flag_env_steps} env steps")
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    flat = [{k: v for k, v in row.items() if k != "per_stage"} for row in curve]
    with open(args.csv, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(flat[0]) if flat else ["minutes"])
        writer.writeheader()
        writer.writerows(flat)
    print(f"wrote {args.csv}")
    if args.json:
        result = {
            "stage": args.stage,
            "minutes": args.minutes,
            "seed": args.seed,
            "random_baseline": baseline,
            "final": final,
            "x_pos_ratio_to_random": ratio,
            "first_flag_minutes": flag_minutes,
            "first_flag_env_steps": flag_env_steps,
            "curve": curve,
            "overrides": args.overrides,
            "config": args.config,
            "eval_no_progress_steps": args.eval_no_progress_steps,
        }
        write_json(args.json, result)


def stage_table(random: dict[str, dict], greedy: dict[str, dict]) -> str:
    """Per stage: greedy and random episodes, mean x_pos and flags, and the ratio of the means."""
    lines = [
        f"{'stage':8s} {'greedy':>6s} {'x_pos':>7s} {'flags':>5s}   "
        f"{'random':>6s} {'x_pos':>7s} {'flags':>5s}   {'ratio':>5s}"
    ]
    for stage, g in greedy.items():
        r = random.get(stage)
        if r is None:
            lines.append(f"{stage:8s} {g['episodes']:6d} {g['x_pos_mean']:7.0f} {g['flags']:5d}   "
                         "(no random episodes)")  # fmt: skip
            continue
        lines.append(
            f"{stage:8s} {g['episodes']:6d} {g['x_pos_mean']:7.0f} {g['flags']:5d}   "
            f"{r['episodes']:6d} {r['x_pos_mean']:7.0f} {r['flags']:5d}   "
            f"{g['x_pos_mean'] / r['x_pos_mean']:5.2f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
