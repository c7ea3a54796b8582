"""Greedy evaluation of a network: episodes cycled over the stages, summarised per stage."""

import hashlib
import statistics
from dataclasses import dataclass
from typing import Any

import numpy as np

from muzero_lite.config import Config
from muzero_lite.envs import Environment
from muzero_lite.game_metadata import GameMetadata
from muzero_lite.gifs import gif_name, write_gif
from muzero_lite.selfplay.episodes import play_games
from muzero_lite.storage import Location
from networks import MuZeroNet


@dataclass(frozen=True)
class EvalEpisode:
    """One greedy game of `evaluate`."""

    metadata: GameMetadata
    trajectory: str  # trajectory_hash of its actions

    def to_json(self) -> dict[str, Any]:
        """As the summary file lists it: the metadata's keys, then "trajectory"."""
        return {**self.metadata.to_json(), "trajectory": self.trajectory}


def evaluate(
    config: Config,
    env: Environment,
    model: MuZeroNet,
    episodes: int,
    rng: np.random.Generator,
    *,
    train_step: int = 0,
    gif_dir: Location | None = None,
    noop_max: int = 0,
    noops: list[int] | None = None,
    no_progress_steps: int = 0,
    parallel: int | None = None,
) -> list[EvalEpisode]:
    """Play `episodes` greedy games, stage i mod S for episode i; per game its metadata record
    and `trajectory`, a short hash of its actions (`distinct_trajectories` counts them).

    Each starts after 0..noop_max random no-op steps, so a deterministic game is not the same
    episode every time, or, with `noops` (one count per episode; not with noop_max), after
    exactly noops[i]. Mario games are cut after `no_progress_steps` steps without a new largest
    x_pos (0: never, whatever the training config says). `parallel` games are played side by
    side, their moves searched together (default: all of them for vector observations, where the
    search is most of the cost; one at a time for frames, where the emulator is, and each more
    emulator takes a second to start).
    """
    if noops is not None and (len(noops) != episodes or noop_max > 0 or any(n < 0 for n in noops)):
        raise ValueError(
            f"noops must hold {episodes} counts >= 0 and excludes noop_max, got {noops} "
            f"with noop_max={noop_max}"
        )
    model.eval()
    if parallel is None:
        parallel = 1 if env.pixels else episodes
    envs = [env] + [Environment(config.env) for _ in range(min(parallel, episodes) - 1)]
    old_no_progress_steps = env.no_progress_steps
    results = []
    try:
        for each in envs:
            each.no_progress_steps = no_progress_steps
        for first in range(0, episodes, len(envs)):
            numbers = range(first, min(first + len(envs), episodes))
            played = play_games(
                envs[: len(numbers)],
                model,
                config,
                rng,
                train_step=train_step,
                record_frames=gif_dir is not None,
                greedy=True,
                env_ids=[env.stages[i % len(env.stages)] for i in numbers],
                noop_max=noop_max,
                noops=None if noops is None else [noops[i] for i in numbers],
            )
            for i, game in zip(numbers, played, strict=True):
                meta = game.record.metadata
                if gif_dir is not None:
                    name = gif_name(f"eval-step{train_step:08d}-{i:03d}", meta)
                    write_gif(game.frames, gif_dir / name, config.selfplay.gif_fps)
                results.append(EvalEpisode(meta, trajectory_hash(game.record.actions)))
    finally:
        env.no_progress_steps = old_no_progress_steps
        for other in envs[1:]:
            other.close()
    return results


def trajectory_hash(actions: np.ndarray) -> str:
    """A short fingerprint of an action sequence: the first 12 hex digits of its SHA-1."""
    return hashlib.sha1(np.asarray(actions, dtype=np.int64).tobytes()).hexdigest()[:12]


def distinct_trajectories(results: list[EvalEpisode]) -> int:
    """How many different games `evaluate` played: two are the same when their actions
    (`trajectory`) and outcome (return, length, x_pos_max, flag_get) are all equal."""
    outcomes = [(r.trajectory, r.metadata) for r in results]
    return len({(t, m.return_, m.length, m.x_pos_max, m.flag_get) for t, m in outcomes})


def summarize(results: list[EvalEpisode]) -> dict[str, dict[str, Any]]:
    """Per stage (Mario) or env id, and "all": count, mean/std/min/max of each figure, flag rate."""
    groups = by_stage([r.metadata for r in results])
    if len(groups) > 1:
        groups["all"] = [r.metadata for r in results]
    return {name: _figures(games) for name, games in groups.items()}


def by_stage(games: list[GameMetadata]) -> dict[str, list[GameMetadata]]:
    """The games of each Mario stage (or env id), in the order first played."""
    groups: dict[str, list[GameMetadata]] = {}
    for meta in games:
        groups.setdefault(meta.stage or meta.env_id, []).append(meta)
    return groups


def _figures(games: list[GameMetadata]) -> dict[str, Any]:
    out: dict[str, Any] = {"episodes": len(games)}
    figures = {
        "return": [g.return_ for g in games],
        "length": [g.length for g in games],
        "x_pos_max": [g.x_pos_max for g in games],
    }
    for key, present in figures.items():
        values = [float(v) for v in present if v is not None]
        if values:
            out[key] = {
                "mean": statistics.fmean(values),
                "std": statistics.pstdev(values),
                "min": min(values),
                "max": max(values),
            }
    flags = [g.flag_get for g in games if g.flag_get is not None]
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
