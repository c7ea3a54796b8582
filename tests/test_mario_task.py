"""Mario's task settings: the flag bonus and the no-progress truncation (envs.MarioTask)."""

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from muzero_lite import envs
from muzero_lite.config import ConfigError, EnvConfig
from muzero_lite.envs import Environment, MarioTask, Step
from muzero_lite.game_limits import compared_settings, env_settings, settings_mismatch
from muzero_lite.game_metadata import GameMetadata


def mario_step(x_pos: int, reward: float = 1.0, terminated: bool = False, **info: Any) -> Step:
    return Step(np.zeros(1, np.uint8), reward, terminated, False, {"x_pos": x_pos, **info})


def play(task: MarioTask, xs: list[int], no_progress_steps: int) -> list[bool]:
    """Which steps of the x_pos sequence `xs` are truncated, after a reset at x_pos 40."""
    task.reset({"x_pos": 40})
    return [task.step(mario_step(x), no_progress_steps).truncated for x in xs]


def test_the_game_is_truncated_after_n_steps_without_a_new_largest_x_pos():
    # Largest x: 40 (reset), 41 (step 1, progress), then 41, 30, 41 are no progress: the third
    # of them (step 4) truncates with n = 3.
    assert play(MarioTask(0.0), [41, 41, 30, 41], 3) == [False, False, False, True]
    # Progress at step 3 (42 > 41) restarts the count: steps 4, 5, 6 idle, step 6 truncates.
    assert play(MarioTask(0.0), [41, 41, 42, 42, 10, 42], 3) == [False] * 5 + [True]
    assert play(MarioTask(0.0), [40] * 50, 0) == [False] * 50  # 0: never
    assert play(MarioTask(0.0), [40], 1) == [True]  # the reset's x_pos is the largest so far


def test_a_termination_stays_a_termination_and_the_step_limit_still_truncates():
    task = MarioTask(0.0)
    task.reset({"x_pos": 40})
    died = task.step(mario_step(40, reward=-15.0, terminated=True), 1)
    assert (died.terminated, died.truncated, died.reward) == (True, False, -15.0)
    task.reset({"x_pos": 40})
    limit = Step(np.zeros(1, np.uint8), 1.0, False, True, {"x_pos": 90})  # progress, but cut
    assert task.step(limit, 5).truncated


def test_a_new_stage_counts_as_progress_and_restarts_the_largest_x_pos():
    task = MarioTask(0.0)
    task.reset({"x_pos": 3000, "world": 1, "stage": 1})
    truncated = [
        task.step(mario_step(x, world=1, stage=stage), 2).truncated
        for x, stage in [(3100, 1), (40, 2), (41, 2), (41, 2), (41, 2)]
    ]
    assert truncated == [False, False, False, False, True]  # 1-2 starts at 40, then 41, idle x2


def test_the_flag_bonus_goes_to_the_step_that_reaches_the_flag_once():
    task = MarioTask(500.0)
    task.reset({"x_pos": 40, "flag_get": False})
    rewards = [
        task.step(mario_step(x, reward=2.0, flag_get=flag), 0).reward
        for x, flag in [(50, False), (60, True), (60, True), (70, False)]
    ]
    assert rewards == [2.0, 502.0, 2.0, 2.0]  # the game's 2.0 plus 500 where flag_get turns on
    task.reset({"x_pos": 40})
    assert task.step(mario_step(40, reward=50.0, terminated=True, flag_get=True), 0).reward == 550


class ScriptedMario(gym.Env):
    """A stand-in emulator: x_pos goes through `xs`, one entry per reset or step, any action."""

    observation_space = gym.spaces.Box(0, 255, (2, 2), np.uint8)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, xs: list[int]):
        self.xs, self.t = xs, 0

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return np.zeros((2, 2), np.uint8), {"x_pos": self.xs[0]}

    def step(self, action):
        self.t += 1
        return np.zeros((2, 2), np.uint8), 1.0, False, False, {"x_pos": self.xs[self.t]}


def test_environment_counts_after_the_noops_and_reads_its_no_progress_steps(monkeypatch):
    monkeypatch.setattr(envs, "make_env", lambda env_id, config: ScriptedMario([0, 5, 7, 7, 7, 7]))
    env = Environment(EnvConfig(id="SuperMarioBros-1-1-v0", no_progress_steps=2, flag_bonus=1.0))
    assert env.no_progress_steps == 2
    _, info = env.reset(np.random.default_rng(0), noops=2)  # the noops reach x_pos 7
    assert info["x_pos"] == 7
    assert [env.step(0).truncated for _ in range(2)] == [False, True]
    env.reset(np.random.default_rng(0), noops=2)
    env.no_progress_steps = 0  # what greedy evaluation does
    assert [env.step(0).truncated for _ in range(3)] == [False, False, False]


def test_mario_standing_still_is_truncated_after_no_progress_steps():
    env = Environment(EnvConfig(id="SuperMarioBros-1-1-v0", no_progress_steps=2, stack=4))
    env.reset(np.random.default_rng(0))
    steps = [env.step(0) for _ in range(2)]  # NOOP: Mario does not move
    assert [(s.terminated, s.truncated) for s in steps] == [(False, False), (False, True)]
    env.close()


@pytest.mark.parametrize(
    ("setting", "name"),
    [({"flag_bonus": 500.0}, "flag_bonus"), ({"no_progress_steps": 100}, "no_progress_steps")],
)
def test_the_mario_settings_are_config_errors_for_other_envs(setting, name):
    with pytest.raises(ConfigError) as error:
        Environment(EnvConfig(id="CartPole-v1", **setting))
    assert str(error.value) == f"env.{name} is for Super Mario Bros only, not 'CartPole-v1'"


def test_a_game_of_another_flag_bonus_is_refused():
    mario = EnvConfig(id="SuperMarioBros-v0", stages=["1-1"])
    run = env_settings(EnvConfig(id="SuperMarioBros-v0", stages=["1-1"], flag_bonus=500))
    expected = {name: run[name] for name in compared_settings(pixels=True, mario=True)}
    assert expected["flag_bonus"] == 500.0
    assert settings_mismatch(GameMetadata(env_settings=env_settings(mario)), expected) == (
        "played with env.flag_bonus = 0.0, this run has 500.0: a game of other env settings"
    )
    assert settings_mismatch(GameMetadata(), expected) == (
        "env.flag_bonus not recorded (an older game), so the default 0.0, this run has 500.0: a "
        "game of other env settings"
    )
    assert settings_mismatch(GameMetadata(env_settings=run), expected) is None
    assert "flag_bonus" not in compared_settings(pixels=False, mario=False)
