"""Environments: any discrete-action Gymnasium env, with our preprocessing, one step at a time.

Pixels (Mario, or any env with HxWxC uint8 frames) go through Gymnasium's own wrappers: frame skip
with a max over the last two frames, grayscale, resize. Vector observations are used as float32,
each feature times its `env.observation_scale` entry where one is set.
Every episode is capped by a TimeLimit, which *truncates* (the value target bootstraps there).
For Mario, a stage is sampled per episode from the config's list. Emulators are kept between
episodes in an `EmulatorPool`, which several `Environment`s (a worker's game slots) may share: an
episode takes an idle emulator of its stage or builds one, and gives it back when the next episode
starts; a worker's pool keeps at most S + N idle emulators, so N slots over S stages hold at most
2N + S of them, not N x S.

`MarioTask` applies two task settings: `env.flag_bonus` is added to the reward of the step that
reaches the flag, and after `env.no_progress_steps` agent steps without a new largest x_pos the
game is truncated too (bootstrapped, like the step limit; `Environment.no_progress_steps`, which
evaluation may set to 0 to play on).
"""

import dataclasses
import os
import re
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import (
    GrayscaleObservation,
    MaxAndSkipObservation,
    ResizeObservation,
    TimeLimit,
    TransformObservation,
)

from muzero_lite.config import ConfigError, EnvConfig

# Frames for GIFs are rendered off screen: no window and no sound device are needed.
os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

MARIO_ID = re.compile(r"^SuperMarioBros(2)?-(v\d+|\w+-\d+-v\d+)$")
MARIO_ONLY = ("stages", "flag_bonus", "no_progress_steps")  # EnvConfig fields for Mario alone
GIF_MAX_HEIGHT = 160


@dataclass(frozen=True)
class Step:
    """What one agent step returns."""

    observation: np.ndarray  # [*obs_shape] uint8 frame or float32 vector (a private copy)
    reward: float
    terminated: bool  # the task ended: no value beyond this point
    truncated: bool  # the step limit cut the episode: the value beyond is bootstrapped
    info: dict[str, Any]


def is_mario(env_id: str) -> bool:
    return MARIO_ID.match(env_id) is not None


class MarioTask:
    """Mario's task settings over one episode: the flag bonus and the no-progress truncation.

    Progress is a new largest `x_pos` since the reset; a new (world, stage), which only the
    full game reaches without a reset, counts as progress and restarts the largest x_pos from
    its own. The bonus goes to the step whose info turns `flag_get` true, once per flag.
    """

    def __init__(self, flag_bonus: float):
        self.flag_bonus = flag_bonus
        self._stage: tuple[Any, Any] = (None, None)  # (world, stage) of the largest x_pos
        self._best_x = 0
        self._idle = 0  # agent steps since the last progress
        self._flag = False  # the last step's flag_get

    def reset(self, info: dict[str, Any]) -> None:
        """Start counting from the position `info` (the reset's, after any noops) shows."""
        self._stage = (info.get("world"), info.get("stage"))
        self._best_x = info["x_pos"]
        self._idle = 0
        self._flag = bool(info.get("flag_get", False))

    def step(self, step: Step, no_progress_steps: int) -> Step:
        """`step` plus the flag bonus, and truncated if it ends `no_progress_steps` agent steps
        without progress (0: never) and did not terminate."""
        stage, x = (step.info.get("world"), step.info.get("stage")), step.info["x_pos"]
        if stage != self._stage or x > self._best_x:
            self._stage, self._best_x, self._idle = stage, x, 0
        else:
            self._idle += 1
        flag = bool(step.info.get("flag_get", False))
        bonus = self.flag_bonus if flag and not self._flag else 0.0
        self._flag = flag
        stalled = 0 < no_progress_steps <= self._idle and not step.terminated
        return dataclasses.replace(
            step, reward=step.reward + bonus, truncated=step.truncated or stalled
        )


class EmulatorPool:
    """Built Gymnasium envs by id, shared by the `Environment`s of one process.

    `take` hands out an idle env of an id (building one when there is none), `give` takes it back.
    At most S + `slots` envs are kept idle (S: the config's stages, at least 1); past that, one of
    the id with the most idle ones is closed. So N slots over S stages hold at most 2N + S
    emulators, not N x S, and seldom build one mid-run.
    """

    def __init__(self, config: EnvConfig, slots: int = 0):
        self.config = config
        self.max_idle = max(1, len(config.stages)) + slots
        self._idle: dict[str, list[gym.Env]] = {}
        self.built = 0  # envs built so far (each an emulator on Mario: start-up time)
        self.in_use = 0

    @property
    def alive(self) -> int:
        """Envs built and not closed: taken plus idle."""
        return self.in_use + sum(map(len, self._idle.values()))

    def take(self, env_id: str) -> gym.Env:
        idle = self._idle.get(env_id)
        if idle:
            env = idle.pop()
        else:
            env = make_env(env_id, self.config)
            self.built += 1
        self.in_use += 1
        return env

    def give(self, env_id: str, env: gym.Env) -> None:
        self.in_use -= 1
        self._idle.setdefault(env_id, []).append(env)
        while self.alive - self.in_use > self.max_idle:
            most = max(self._idle.values(), key=len)
            most.pop(0).close()

    def close(self) -> None:
        for idle in self._idle.values():
            for env in idle:
                env.close()
        self._idle.clear()


class Environment:
    """One task for self-play, evaluation and benchmarks, built from an `EnvConfig`.

    Its emulators come from `pool` (a private one by default); `close` gives them back and closes
    the private pool, not a shared one.
    """

    def __init__(self, config: EnvConfig, pool: EmulatorPool | None = None):
        self.config = config
        for name in MARIO_ONLY:
            if getattr(config, name) and not is_mario(config.id):
                raise ConfigError(f"env.{name} is for Super Mario Bros only, not {config.id!r}")
        for stage in config.stages:
            if not re.fullmatch(r"[1-8]-[1-4]", stage):
                raise ConfigError(f"env.stages: {stage!r} is not a stage like '1-1' (worlds 1-8)")
        self._own_pool = pool is None
        self.pool = pool if pool is not None else EmulatorPool(config)
        self.env_id = self.stages[0]
        first = self.pool.take(self.env_id)  # for its spaces; the first reset takes its own
        self.pixels = first.observation_space.dtype == np.uint8  # preprocessed frames
        self.num_actions = int(first.action_space.n)
        self.observation_shape: tuple[int, ...] = first.observation_space.shape
        self.pool.give(self.env_id, first)
        self._current: gym.Env | None = None  # the emulator of the episode, from the first reset
        self._task = MarioTask(config.flag_bonus) if is_mario(config.id) else None
        # Mario: truncate after this many agent steps without progress (0: never). Settable, read
        # by every `step`: greedy evaluation sets 0 to play on.
        self.no_progress_steps = config.no_progress_steps

    @property
    def stages(self) -> list[str]:
        """The env ids episodes are drawn from: one per Mario stage, else just `id`."""
        if self.config.stages:
            prefix = (
                "SuperMarioBros2"
                if self.config.id.startswith("SuperMarioBros2")
                else "SuperMarioBros"
            )
            return [f"{prefix}-{stage}-v0" for stage in self.config.stages]
        return [self.config.id]

    def reset(
        self, rng: np.random.Generator, env_id: str | None = None, noops: int = 0
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode of `env_id` (default: a random stage); first observation and info.

        `noops` steps of action 0 follow the reset (evaluation's random starts, which make
        deterministic games such as Mario differ between episodes). They are not agent steps:
        Mario's no-progress count starts after them, from the x_pos they reach.
        """
        ids = self.stages
        new_id = env_id if env_id is not None else ids[int(rng.integers(len(ids)))]
        if self._current is None or new_id != self.env_id:
            new = self.pool.take(new_id)  # first: if building it fails, nothing was given back
            if self._current is not None:
                self.pool.give(self.env_id, self._current)
            self.env_id, self._current = new_id, new
        obs, info = self._current.reset(seed=int(rng.integers(2**31)))
        for _ in range(noops):
            obs, _, terminated, truncated, info = self._current.step(0)
            if terminated or truncated:
                obs, info = self._current.reset(seed=int(rng.integers(2**31)))
                break
        if self._task is not None:
            self._task.reset(info)
        return _own(obs), info

    def step(self, action: int) -> Step:
        if self._current is None:
            raise RuntimeError("Environment.step before reset (or after close)")
        obs, reward, terminated, truncated, info = self._current.step(int(action))
        step = Step(_own(obs), float(reward), bool(terminated), bool(truncated), info)
        if self._task is not None:
            step = self._task.step(step, self.no_progress_steps)
        return step

    def render(self) -> np.ndarray:
        """The current screen as RGB uint8 [H, W, 3] for GIFs, halved while taller than 160."""
        frame = np.asarray(self._current.render())
        while frame.shape[0] > GIF_MAX_HEIGHT:
            frame = frame[::2, ::2]
        return np.ascontiguousarray(frame)

    def close(self) -> None:
        if self._current is not None:  # a second close does nothing
            self.pool.give(self.env_id, self._current)
            self._current = None
        if self._own_pool:
            self.pool.close()


def make_env(env_id: str, config: EnvConfig) -> gym.Env:
    """One preprocessed Gymnasium env; a clear ConfigError for ids or spaces we cannot use."""
    if is_mario(env_id):
        import gym_super_mario_bros  # noqa: F401  (registers the SuperMarioBros ids)
    try:
        env = gym.make(env_id, render_mode="rgb_array", disable_env_checker=True)
    except gym.error.Error as e:
        raise ConfigError(f"unknown environment id {env_id!r}: {e}") from None
    except ImportError as e:
        raise ConfigError(f"environment {env_id!r} needs a package that is missing: {e}") from None
    if is_mario(env_id):
        env = _mario_buttons(env, config.actions)
    if not isinstance(env.action_space, gym.spaces.Discrete):
        raise ConfigError(
            f"environment {env_id!r} has action space {env.action_space}; "
            "only Discrete is supported"
        )
    if _is_pixels(env.observation_space):
        if config.frame_skip > 1:
            env = MaxAndSkipObservation(env, skip=config.frame_skip)
        if config.grayscale and env.observation_space.shape[-1] == 3:
            env = GrayscaleObservation(env)
        env = ResizeObservation(env, (config.frame_size, config.frame_size))
    elif not _is_vector(env.observation_space):
        raise ConfigError(
            f"environment {env_id!r} has observation space {env.observation_space}; "
            "supported: HxWxC uint8 frames or 1-D vectors"
        )
    if config.observation_scale:
        env = _scale_features(env, env_id, config.observation_scale)
    return TimeLimit(env, max_episode_steps=config.max_episode_steps)


def _scale_features(env: gym.Env, env_id: str, scale: list[float]) -> gym.Env:
    """Vector observations times `scale`, one entry per feature (env.observation_scale)."""
    space = env.observation_space
    if not _is_vector(space):
        raise ConfigError(
            f"env.observation_scale is for vector observations, and {env_id!r} observes "
            "frames: leave it empty"
        )
    if space.shape != (len(scale),):
        raise ConfigError(
            f"env.observation_scale has {len(scale)} entries, but {env_id!r} observes "
            f"{space.shape[0]} numbers: give one entry per number"
        )
    factors = np.asarray(scale, dtype=np.float32)
    scaled = gym.spaces.Box(space.low * factors, space.high * factors, dtype=np.float32)
    return TransformObservation(env, lambda obs: (obs * factors).astype(np.float32), scaled)


def _mario_buttons(env: gym.Env, actions: str) -> gym.Env:
    from gym_super_mario_bros import actions as sets
    from nes_py.wrappers import JoypadSpace

    choices = {
        "right_only": sets.RIGHT_ONLY,
        "simple": sets.SIMPLE_MOVEMENT,
        "complex": sets.COMPLEX_MOVEMENT,
    }
    if actions not in choices:
        raise ConfigError(f"env.actions must be one of {', '.join(choices)}, got {actions!r}")
    return JoypadSpace(env, choices[actions])


def _is_pixels(space: gym.Space) -> bool:
    return isinstance(space, gym.spaces.Box) and space.dtype == np.uint8 and len(space.shape) == 3


def _is_vector(space: gym.Space) -> bool:
    return isinstance(space, gym.spaces.Box) and len(space.shape) == 1


def _own(obs: Any) -> np.ndarray:
    """A private copy: emulators such as nes-py return the same buffer on every step."""
    array = np.array(obs, copy=True)
    return array if array.dtype == np.uint8 else array.astype(np.float32)
