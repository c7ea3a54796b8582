"""What one run accepts from games/: the largest game its config allows, and its env settings.

A trainer checks both before a game costs memory (`games.load_game` with `GameLimits`): sizes from
the file's zip and `.npy` headers, then the settings a worker recorded in the game's metadata
("env_settings"), so games of two kinds never mix in one replay.
"""

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from muzero_lite.config import EnvConfig
from muzero_lite.game_metadata import GameMetadata
from muzero_lite.npz import NPY_HEADER_BYTES

# The EnvConfig fields that change what a game stores, recorded in its metadata ("env_settings").
# Not env.no_progress_steps: it changes only where a game ends, which the game's flags record.
ENV_SETTINGS = (
    "actions",
    "flag_bonus",
    "frame_skip",
    "frame_size",
    "grayscale",
    "observation_scale",
)
NUMBER_BYTES = 8  # the widest number a game may store (int64, float64)


@dataclass(frozen=True)
class GameLimits:
    """What a game may hold in one run, checked from the file's headers before any array is read.

    The largest legal game has `max_moves` moves and one more state, each state exactly
    `observation_shape` x `observation_dtype`, so a file that declares more is refused without
    allocating it. `env_settings` holds the recorded settings (see `compared_settings`) a game
    must match, by name.
    """

    max_moves: int  # env.max_episode_steps
    observation_shape: tuple[int, ...]  # one state: (4,) numbers, (84, 84) frames
    observation_dtype: np.dtype  # uint8 frames, float32 vectors
    num_actions: int
    env_settings: dict[str, Any] = field(default_factory=dict)
    max_metadata_chars: int = 65_536  # a worker writes a few hundred

    def misfit(self, observations: np.ndarray, num_actions: int) -> str | None:
        """Why a valid game's observations [T+1, ...] or action count do not fit this run's
        network (a game of another environment), or None."""
        shape, dtype = observations.shape[1:], observations.dtype
        if shape != tuple(self.observation_shape) or dtype != self.observation_dtype:
            return (
                f"observations {shape} {dtype} do not fit this network's "
                f"{tuple(self.observation_shape)} {np.dtype(self.observation_dtype)}: a game of "
                "another environment"
            )
        if num_actions != self.num_actions:
            return f"{num_actions} actions, this network has {self.num_actions}"
        return None

    @property
    def member_bytes(self) -> dict[str, int]:
        """Member name -> the most bytes it may hold past its .npy header."""
        moves, states = self.max_moves, self.max_moves + 1
        state = math.prod(self.observation_shape) * np.dtype(self.observation_dtype).itemsize
        return {
            "observations": states * state,
            "actions": moves * NUMBER_BYTES,
            "rewards": moves * NUMBER_BYTES,
            "policies": moves * self.num_actions * NUMBER_BYTES,
            "root_values": states * NUMBER_BYTES,
            "terminated": NUMBER_BYTES,
            "truncated": NUMBER_BYTES,
            "metadata": self.max_metadata_chars * 4,  # numpy stores str as UTF-32
        }

    @property
    def max_file_bytes(self) -> int:
        """The largest file a legal game can be: its members uncompressed, plus zip overheads."""
        members = sum(size + NPY_HEADER_BYTES for size in self.member_bytes.values())
        return members + members // 100 + (1 << 20)


def env_settings(env: EnvConfig) -> dict[str, Any]:
    """The settings a game was played with that change what it stores, as its metadata records."""
    settings = {name: getattr(env, name) for name in ENV_SETTINGS}
    settings["flag_bonus"] = float(env.flag_bonus)  # 500 from a TOML file records as 500.0
    settings["observation_scale"] = [float(x) for x in env.observation_scale]  # a copy
    return settings


def compared_settings(*, pixels: bool, mario: bool) -> tuple[str, ...]:
    """The recorded settings that must match for a game to fit a run of this kind.

    Only those the env applies to its kind of game (envs.make_env, envs.MarioTask): frame
    settings for pixels, observation_scale for vectors, actions and flag_bonus (in its rewards)
    for Mario. Another setting changes nothing such a game holds, so comparing it would refuse
    good games: an old CartPole game, counted as the defaults, under a config that happens to
    set frame_skip = 2.
    """
    names = ("frame_skip", "frame_size", "grayscale") if pixels else ("observation_scale",)
    return ("actions", "flag_bonus", *names) if mario else names


def settings_mismatch(metadata: GameMetadata, expected: dict[str, Any]) -> str | None:
    """Why a game's recorded env settings differ from `expected`, or None.

    A game written before settings were recorded (no "env_settings") counts as EnvConfig's
    defaults, as does a setting its record lacks.
    """
    recorded = metadata.env_settings or {}
    played = env_settings(EnvConfig()) | recorded
    for name, value in expected.items():
        if played.get(name) != value:
            had = _short(played.get(name))
            how = (
                f"played with env.{name} = {had}"
                if name in recorded
                else f"env.{name} not recorded (an older game), so the default {had}"
            )
            return f"{how}, this run has {_short(value)}: a game of other env settings"
    return None


def _short(value: Any, limit: int = 80) -> str:
    """A setting's value as JSON, cut short so a hostile one keeps the reason one short line."""
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
