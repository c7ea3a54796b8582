"""A self-play worker: plays games with the search, writes each finished game and its GIF.

The worker talks to the trainer through files only: it reads the newest checkpoint from
`<data>/checkpoints/` between games and writes `<data>/games/<id>.npz` and `<data>/gifs/<id>_*.gif`.
A game that is interrupted is simply not written; one whose write fails (a full disk, say) or that
fails validation is one log line, and the worker plays on. A checkpoint with non-finite weights is
skipped for the newest finite one. Retention settings keep both folders under a count and a size.
"""

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from muzero_lite import interrupts
from muzero_lite.checkpoints import build_model, load_latest
from muzero_lite.config import Config
from muzero_lite.envs import Environment, Step, is_mario
from muzero_lite.game_limits import env_settings
from muzero_lite.game_metadata import GameMetadata
from muzero_lite.games import (
    GameFileError,
    GameRecord,
    new_game_id,
    remove_stale_temps,
    save_game,
)
from muzero_lite.gifs import gif_name, update_best, write_gif
from muzero_lite.observations import stacked_observation
from muzero_lite.paths import DataDirs
from muzero_lite.retention import prune_oldest
from muzero_lite.search import SearchResult, search, search_batch
from networks import MuZeroNet


@dataclass(frozen=True)
class PlayedGame:
    record: GameRecord
    frames: list[np.ndarray]  # RGB frames for the GIF; empty when none was recorded
    seconds: float  # wall time of the game


def play_game(
    env: Environment,
    model: MuZeroNet,
    config: Config,
    rng: np.random.Generator,
    *,
    train_step: int,
    record_frames: bool,
    greedy: bool = False,
    env_id: str | None = None,
    noop_max: int = 0,
    noops: int | None = None,
) -> PlayedGame:
    """Play one episode (of `env_id`, default a random stage) with the search.

    The record's metadata holds the episode's figures; `greedy` plays the best action and
    `noop_max` starts after 0..noop_max random no-op steps, `noops` after exactly that many
    (all three for evaluation; `noops` and `noop_max` exclude each other).
    """
    (played,) = play_games(
        [env],
        model,
        config,
        rng,
        train_step=train_step,
        record_frames=record_frames,
        greedy=greedy,
        env_ids=[env_id],
        noop_max=noop_max,
        noops=None if noops is None else [noops],
    )
    return played


def play_games(
    envs: list[Environment],
    model: MuZeroNet,
    config: Config,
    rng: np.random.Generator,
    *,
    train_step: int,
    record_frames: bool,
    greedy: bool = False,
    env_ids: list[str | None] | None = None,
    noop_max: int = 0,
    noops: list[int] | None = None,
) -> list[PlayedGame]:
    """Play one episode in each env side by side, the moves of all searched together.

    Arguments as in `play_game`, with one env id and (optionally) one no-op count per env (None:
    a random stage). `rng` is drawn from game by game in order, so one env plays exactly what
    `play_game` plays.
    """
    if noops is not None and noop_max > 0:
        raise ValueError("give noops (exact counts) or noop_max (random counts), not both")
    start = time.perf_counter()
    device = config.selfplay.device
    episodes = [
        _Episode.begin(env, rng, env_id, noop_max, record_frames, noops=count)
        for env, env_id, count in zip(
            envs,
            env_ids or [None] * len(envs),
            noops if noops is not None else [None] * len(envs),
            strict=True,
        )
    ]
    while playing := [e for e in episodes if e.last is None]:
        interrupts.check()
        inputs = [e.network_input(config.env.stack) for e in playing]
        results = search_batch(
            model,
            np.stack([stack for stack, _ in inputs]),
            np.stack([prev for _, prev in inputs]),
            config.search,
            rng=rng,
            train_step=train_step,
            greedy=greedy,
            device=device,
        )
        for episode, result in zip(playing, results, strict=True):
            episode.play(result, record_frames)
            if episode.last is None:
                continue
            episode.seconds = time.perf_counter() - start
            if not episode.last.terminated:  # truncated: the value beyond the cut is searched
                stack, prev = episode.network_input(config.env.stack)
                beyond = search(
                    model, stack, prev, config.search, rng=rng, greedy=True, device=device
                )
                episode.final_value = beyond.root_value
    return [PlayedGame(e.record(config, train_step), e.frames, e.seconds) for e in episodes]


@dataclass
class _Episode:
    """A game in progress: what its record and its GIF will hold."""

    env: Environment
    info: dict[str, Any]  # the reset's info (Mario: world and stage)
    observations: list[np.ndarray]
    frames: list[np.ndarray]
    x_pos_max: int
    actions: list[int] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    policies: list[np.ndarray] = field(default_factory=list)
    root_values: list[float] = field(default_factory=list)
    flag_get: bool = False
    last: Step | None = None  # the final step, once the game is over
    final_value: float = 0.0  # the value beyond a truncation (0 after a termination)
    seconds: float = 0.0

    @classmethod
    def begin(
        cls,
        env: Environment,
        rng: np.random.Generator,
        env_id: str | None,
        noop_max: int,
        record_frames: bool,
        noops: int | None = None,
    ) -> "_Episode":
        """Reset `env` and take `noops` no-op steps (None: 0..noop_max drawn from `rng`)."""
        if noops is None:
            noops = int(rng.integers(noop_max + 1)) if noop_max > 0 else 0
        obs, info = env.reset(rng, env_id, noops)
        frames = [env.render()] if record_frames else []
        return cls(env, info, [obs], frames, info.get("x_pos", 0))

    def network_input(self, stack: int) -> tuple[np.ndarray, np.ndarray]:
        return stacked_observation(self.observations, self.actions, len(self.actions), stack)

    def play(self, result: SearchResult, record_frames: bool) -> None:
        step = self.env.step(result.action)
        self.observations.append(step.observation)
        self.actions.append(result.action)
        self.rewards.append(step.reward)
        self.policies.append(result.policy)
        self.root_values.append(result.root_value)
        if record_frames:
            self.frames.append(self.env.render())
        self.x_pos_max = max(self.x_pos_max, step.info.get("x_pos", 0))
        self.flag_get = self.flag_get or bool(step.info.get("flag_get", False))
        if step.terminated or step.truncated:
            self.last = step

    def record(self, config: Config, train_step: int) -> GameRecord:
        env_id = self.env.env_id
        metadata = GameMetadata(
            env_id=env_id,
            checkpoint_step=train_step,
            search=config.search.kind,
            return_=float(np.sum(self.rewards)),
            length=len(self.actions),
            env_settings=env_settings(config.env),  # a trainer of other settings refuses it
        )
        if is_mario(env_id):
            metadata = replace(
                metadata,
                world=int(self.info.get("world", 0)),
                stage=f"{self.info.get('world', 0)}-{self.info.get('stage', 0)}",
                x_pos_max=int(self.x_pos_max),
                flag_get=self.flag_get,
            )
        return GameRecord(
            observations=np.stack(self.observations),
            actions=np.array(self.actions, dtype=np.int64),
            rewards=np.array(self.rewards, dtype=np.float32),
            policies=np.stack(self.policies).astype(np.float32),
            root_values=np.array([*self.root_values, self.final_value], dtype=np.float32),
            terminated=self.last.terminated,
            truncated=not self.last.terminated,
            metadata=metadata,
        )


class Worker:
    """One self-play process's state: its env, network, random state and checkpoint step."""

    def __init__(self, config: Config, dirs: DataDirs, *, worker_id: int, seed: int, log=print):
        torch.set_num_threads(config.selfplay.threads)
        self.config, self.dirs, self.log = config, dirs, log
        self.worker_id, self.seed = worker_id, seed
        self.env = Environment(config.env)
        self.rng = np.random.default_rng([seed, worker_id])
        with torch.random.fork_rng():  # seed the initial weights without touching global state
            torch.manual_seed(seed * 1000 + worker_id)
            self.model = build_model(config, self.env)
        self.model.to(config.selfplay.device).eval()
        for folder in (dirs.games, dirs.gifs):
            folder.mkdir(parents=True, exist_ok=True)
            remove_stale_temps(folder)
        step = load_latest(dirs.checkpoints, self.model)
        name = config.env.id if config.env.stages else self.env.env_id
        weights = (
            f"checkpoint step {step}" if step is not None else "no checkpoint yet: random network"
        )
        log(f"[worker {worker_id}] {name} ({self.env.num_actions} actions), {weights}")
        self.step = step or 0
        self.start_step = self.step
        self.games_played = 0
        self.games_written = 0
        self.env_steps = 0

    def pick_up_checkpoint(self) -> None:
        newer = load_latest(self.dirs.checkpoints, self.model, newer_than=self.step)
        if newer is not None:
            self.step = newer
            self.log(f"[worker {self.worker_id}] loaded checkpoint step {self.step}")

    def wait_for_trainer(self, poll_seconds: float = 0.5) -> None:
        """Pace: hold back while this worker is too far ahead of the trainer (SelfPlayConfig)."""
        sp = self.config.selfplay
        if sp.max_env_steps_per_train_step <= 0:
            return
        said = False
        while self.env_steps >= (
            sp.pace_free_steps + sp.max_env_steps_per_train_step * (self.step - self.start_step)
        ):
            if not said:
                self.log(f"[worker {self.worker_id}] waiting for the trainer (step {self.step})")
                said = True
            interrupts.check()
            time.sleep(poll_seconds)
            self.pick_up_checkpoint()

    def play_one(self) -> PlayedGame:
        """Pick up a newer checkpoint if there is one, play a game, write it and its GIF."""
        self.pick_up_checkpoint()
        self.wait_for_trainer()
        every = self.config.selfplay.gif_every
        record_gif = every > 0 and self.games_played % every == 0
        played = play_game(
            self.env,
            self.model,
            self.config,
            self.rng,
            train_step=self.step,
            record_frames=record_gif,
        )
        self.games_played += 1
        written = write_played(
            played, self.dirs, self.config, worker_id=self.worker_id, seed=self.seed, log=self.log
        )
        if written is not None:  # else the write failed, and said so in one line
            self.games_written += 1
            self.env_steps += played.record.length  # pace counts only what the trainer can see
            meta = played.record.metadata
            self.log(progress_line(self.worker_id, self.games_played, meta, played.seconds))
        return played

    def close(self) -> None:
        self.env.close()


def run_worker(
    config: Config, dirs: DataDirs, *, games: int | None, worker_id: int, seed: int, log=print
) -> int:
    """Play `games` games (forever when None); returns the number written."""
    worker = Worker(config, dirs, worker_id=worker_id, seed=seed, log=log)
    try:
        while games is None or worker.games_played < games:
            worker.play_one()
    finally:
        worker.close()
    return worker.games_written


def write_played(
    played: PlayedGame, dirs: DataDirs, config: Config, *, worker_id: int, seed: int, log=print
) -> str | None:
    """Name a finished game, add who played it, write its file and (if recorded) its GIF.

    Returns the game id, or None when the game file could not be written. A failed write (no
    space, say) or a game that fails validation (NaN values, say) leaves no file and is one log
    line; the worker plays on. After each write, the oldest files
    beyond the retention limits (SelfPlayConfig.keep_*, max_*_mb) are deleted.
    """
    sp, who = config.selfplay, f"[worker {worker_id}]"
    game_id = new_game_id(worker_id)
    record = played.record
    record.metadata = replace(
        record.metadata, game_id=game_id, worker_id=worker_id, seed=seed, timestamp=time.time()
    )
    try:
        save_game(record, dirs.games, game_id)
    except OSError as e:
        log(f"{who} could not write game {game_id}: {_why(e)}")
        return None
    except GameFileError as e:
        log(f"{who} dropped game {game_id}: {e}")
        return None
    _retain(dirs.games, "*.npz", sp.keep_games, sp.max_games_mb, log, who)
    if played.frames:
        gif = dirs.gifs / gif_name(game_id, record.metadata)
        try:
            write_gif(played.frames, gif, sp.gif_fps)
            update_best(dirs.gifs / "best", gif, record.metadata)
        except OSError as e:
            log(f"{who} could not write GIF {gif.name}: {_why(e)}")
        _retain(dirs.gifs, "*.gif", sp.keep_gifs, sp.max_gifs_mb, log, who)
    return game_id


def _retain(folder: Path, pattern: str, keep: int, max_mb: float, log, who: str) -> None:
    """Apply retention to one folder; a file that cannot be deleted is one log line, not a crash."""
    try:
        prune_oldest(folder, pattern, keep=keep, max_mb=max_mb)
    except OSError as e:
        log(f"{who} retention could not clean {folder.name}/: {_why(e)}")


def _why(error: OSError) -> str:
    """`No space left on device`, or the whole message when the error has no errno."""
    return error.strerror or str(error)


def progress_line(worker_id: int, games: int, meta: GameMetadata, seconds: float) -> str:
    parts = [f"[worker {worker_id}] game {games}"]
    if meta.stage is not None:
        parts.append(f"stage {meta.stage}")
    parts += [f"return {meta.return_:.1f}", f"length {meta.length}"]
    if meta.x_pos_max is not None:
        parts.append(f"x_pos {meta.x_pos_max}" + (" FLAG" if meta.flag_get else ""))
    parts += [
        f"{meta.length / max(seconds, 1e-9):.1f} steps/s",
        f"ckpt {meta.checkpoint_step}",
    ]
    return " | ".join(parts)
