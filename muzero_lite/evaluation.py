"""Greedy evaluation of a network: episodes cycled over the stages, summarised per stage."""

import statistics
from pathlib import Path
from typing import Any

import numpy as np

from muzero_lite.config import Config
from muzero_lite.envs import Environment
from muzero_lite.gifs import gif_name, write_gif
from muzero_lite.worker import play_game
from networks import MuZeroNet

FIGURES = ("return", "length", "x_pos_max")


def evaluate(
    config: Config,
    env: Environment,
    model: MuZeroNet,
    episodes: int,
    rng: np.random.Generator,
    *,
    train_step: int = 0,
    gif_dir: Path | None = None,
    noop_max: int = 0,
) -> list[dict[str, Any]]:
    """Play `episodes` greedy games, stage i mod S for episode i; the games' metadata records.

    Each starts after 0..noop_max random no-op steps, so a deterministic game is not the same
    episode every time.
    """
    model.eval()
    results = []
    for i in range(episodes):
        env_id = env.stages[i % len(env.stages)]
        played = play_game(
            env,
            model,
            config,
            rng,
            train_step=train_step,
            record_frames=gif_dir is not None,
            greedy=True,
            env_id=env_id,
            noop_max=noop_max,
        )
        meta = played.record.metadata
        if gif_dir is not None:
            name = gif_name(f"eval-step{train_step:08d}-{i:03d}", meta)
            write_gif(played.frames, gif_dir / name, config.selfplay.gif_fps)
        results.append(meta)
    return results


def summarize(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per stage (Mario) or env id, and "all": count, mean/std/min/max of each figure, flag rate."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for meta in results:
        groups.setdefault(str(meta.get("stage", meta["env_id"])), []).append(meta)
    if len(groups) > 1:
        groups["all"] = results
    return {name: _figures(games) for name, games in groups.items()}


def _figures(games: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"episodes": len(games)}
    for key in FIGURES:
        values = [float(g[key]) for g in games if key in g]
        if values:
            out[key] = {
                "mean": statistics.fmean(values),
                "std": statistics.pstdev(values),
                "min": min(values),
                "max": max(values),
            }
    flags = [bool(g["flag_get"]) for g in games if "flag_get" in g]
    if flags:
        out["flag_rate"] = sum(flags) / len(flags)
    return out


def format_table(summary: dict[str, dict[str, Any]]) -> str:
    """One row per stage: episodes, return, length, x_pos (mean +- std, max) and flag rate."""
    has_x = any("x_pos_max" in row for row in summary.values())
    header = f"{'stage':<22} {'episodes':>8} {'return':>18} {'length':>16}"
    if has_x:
        header += f" {'x_pos':>16} {'x_pos max':>9} {'flag':>5}"
    lines = [header]
    for name, row in summary.items():
        line = f"{name:<22} {row['episodes']:>8} {_pm(row['return']):>18} {_pm(row['length']):>16}"
        if has_x and "x_pos_max" in row:
            x = row["x_pos_max"]
            line += f" {_pm(x):>16} {x['max']:>9.0f} {row['flag_rate']:>5.0%}"
        lines.append(line)
    return "\n".join(lines)


def _pm(figure: dict[str, float]) -> str:
    return f"{figure['mean']:.1f} +- {figure['std']:.1f}"
