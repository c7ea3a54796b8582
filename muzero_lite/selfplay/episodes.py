"""The episode loop: games in progress, every move of all of them searched in one batched call.

A game in progress is an `Episode` (its env, its random generator and what its record and GIF will
hold). `advance` plays one move in each of a list of episodes: one `search_batch` over all their
roots, each root drawing from its own episode's generator, then one env step each. A self-play
worker keeps N episodes going (a new one starts in a slot as soon as its last one ends);
`play_games` plays one episode per env to the end, side by side (evaluation).
"""

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from muzero_lite import interrupts
from muzero_lite.config import Config
from muzero_lite.envs import Environment, Step, is_mario
from muzero_lite.game_limits import env_settings
from muzero_lite.game_metadata import GameMetadata
from muzero_lite.games import GameRecord
from muzero_lite.observations import stacked_observation
from muzero_lite.search import SearchModel, SearchResult, search_batch


@dataclass(frozen=True)
class PlayedGame:
    record: GameRecord
    frames: list[np.ndarray]  # RGB frames for the GIF; empty when none was recorded
    seconds: float  # wall time of the game


@dataclass
class Episode:
    """A game in progress: what its record and its GIF will hold."""

    env: Environment
    rng: np.random.Generator  # the search's and the env's random draws for this game
    info: dict[str, Any]  # the reset's info (Mario: world and stage)
    observations: list[np.ndarray]
    frames: list[np.ndarray] | None  # None: no GIF of this game
    x_pos_max: int
    first_step: int  # the checkpoint step of its first move ...
    last_step: int  # ... and of its latest
    started: float  # time.perf_counter() at the reset
    actions: list[int] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    policies: list[np.ndarray] = field(default_factory=list)
    root_values: list[float] = field(default_factory=list)
    flag_get: bool = False
    last: Step | None = None  # the final step, once the game is over
    final_value: float = 0.0  # the value beyond a truncation (0 after a termination)
    seconds: float = 0.0  # wall time from the reset to the last step

    @classmethod
    def begin(
        cls,
        env: Environment,
        rng: np.random.Generator,
        *,
        train_step: int,
        record_frames: bool,
        env_id: str | None = None,
        noop_max: int = 0,
        noops: int | None = None,
    ) -> "Episode":
        """Reset `env` and take `noops` no-op steps (None: 0..noop_max drawn from `rng`)."""
        if noops is None:
            noops = int(rng.integers(noop_max + 1)) if noop_max > 0 else 0
        started = time.perf_counter()
        obs, info = env.reset(rng, env_id, noops)
        frames = [env.render()] if record_frames else None
        x_pos = info.get("x_pos", 0)
        return cls(env, rng, info, [obs], frames, x_pos, train_step, train_step, started)

    def network_input(self, stack: int) -> tuple[np.ndarray, np.ndarray]:
        return stacked_observation(self.observations, self.actions, len(self.actions), stack)

    def play(self, result: SearchResult, train_step: int) -> None:
        step = self.env.step(result.action)
        self.observations.append(step.observation)
        self.actions.append(result.action)
        self.rewards.append(step.reward)
        self.policies.append(result.policy)
        self.root_values.append(result.root_value)
        self.last_step = train_step
        if self.frames is not None:
            self.frames.append(self.env.render())
        self.x_pos_max = max(self.x_pos_max, step.info.get("x_pos", 0))
        self.flag_get = self.flag_get or bool(step.info.get("flag_get", False))
        if step.terminated or step.truncated:
            self.last = step
            self.seconds = time.perf_counter() - self.started

    def played(self, config: Config) -> PlayedGame:
        """The finished game: its record (metadata without who played it) and its frames."""
        return PlayedGame(self._record(config), self.frames or [], self.seconds)

    def _record(self, config: Config) -> GameRecord:
        env_id = self.env.env_id
        metadata = GameMetadata(
            env_id=env_id,
            checkpoint_step=self.first_step,
            last_checkpoint_step=self.last_step,
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


def advance(
    episodes: list[Episode],
    model: SearchModel,
    config: Config,
    *,
    train_step: int,
    greedy: bool = False,
) -> list[Episode]:
    """One move in each episode, all roots in one batched search; returns those that ended.

    Each root draws from its episode's generator. A game cut by a limit (truncated) gets the
    searched value of the state beyond the cut, which its last value target bootstraps from
    (one greedy search for all the games cut on this move).
    """
    interrupts.check()
    results = _search(episodes, model, config, train_step=train_step, greedy=greedy)
    ended = []
    for episode, result in zip(episodes, results, strict=True):
        episode.play(result, train_step)
        if episode.last is not None:
            ended.append(episode)
    truncated = [e for e in ended if not e.last.terminated]
    if truncated:  # the value beyond the cut is searched, all such games in one call
        beyond = _search(truncated, model, config, train_step=train_step, greedy=True)
        for episode, result in zip(truncated, beyond, strict=True):
            episode.final_value = result.root_value
    return ended


def _search(
    episodes: list[Episode], model: SearchModel, config: Config, *, train_step: int, greedy: bool
) -> list[SearchResult]:
    """One batched search from the episodes' latest positions, each with its own generator."""
    inputs = [e.network_input(config.env.stack) for e in episodes]
    return search_batch(
        model,
        np.stack([observations for observations, _ in inputs]),
        np.stack([prev for _, prev in inputs]),
        config.search,
        rng=[e.rng for e in episodes],
        train_step=train_step,
        greedy=greedy,
        device=config.selfplay.device,
    )


def play_game(
    env: Environment,
    model: SearchModel,
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
    model: SearchModel,
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
    a random stage). All episodes draw from the one `rng`, in env order at each use, so one env
    plays exactly what `play_game` plays.
    """
    if noops is not None and noop_max > 0:
        raise ValueError("give noops (exact counts) or noop_max (random counts), not both")
    episodes = [
        Episode.begin(
            env,
            rng,
            train_step=train_step,
            record_frames=record_frames,
            env_id=env_id,
            noop_max=noop_max,
            noops=count,
        )
        for env, env_id, count in zip(
            envs,
            env_ids or [None] * len(envs),
            noops if noops is not None else [None] * len(envs),
            strict=True,
        )
    ]
    while playing := [e for e in episodes if e.last is None]:
        advance(playing, model, config, train_step=train_step, greedy=greedy)
    return [e.played(config) for e in episodes]
