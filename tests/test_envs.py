"""Environments: preprocessing, Mario stage sampling, and truncation by the step limit."""

import numpy as np
import pytest

from muzero_lite.config import ConfigError, EnvConfig
from muzero_lite.envs import Environment, is_mario


def test_cartpole_vectors_and_step_limit_truncates():
    env = Environment(EnvConfig(id="CartPole-v1", max_episode_steps=3, stack=1))
    assert (env.pixels, env.num_actions, env.observation_shape) == (False, 2, (4,))
    obs, _ = env.reset(np.random.default_rng(0))
    assert obs.dtype == np.float32 and obs.shape == (4,)
    steps = [env.step(a) for a in (0, 1, 0)]
    assert [s.truncated for s in steps] == [False, False, True]
    assert not any(s.terminated for s in steps)
    assert env.render().shape[2] == 3 and env.render().shape[0] <= 160


def test_mario_frames_are_preprocessed_and_stages_sampled_per_episode():
    config = EnvConfig(id="SuperMarioBros-v0", stages=["1-1", "4-1"], max_episode_steps=5, stack=4)
    env = Environment(config)
    assert (env.pixels, env.num_actions, env.observation_shape) == (True, 7, (84, 84))
    rng = np.random.default_rng(3)
    seen = set()
    for _ in range(6):
        obs, info = env.reset(rng)
        seen.add(env.env_id)
        assert obs.dtype == np.uint8 and obs.shape == (84, 84)
        assert f"{info['world']}-{info['stage']}" == env.env_id.split("-", 1)[1][:3]
    assert seen == {"SuperMarioBros-1-1-v0", "SuperMarioBros-4-1-v0"}
    first = env.step(1)
    second = env.step(1)
    assert first.observation is not second.observation  # private copies, not the emulator buffer
    assert "x_pos" in second.info
    assert env.render().shape == (120, 128, 3)  # the NES screen halved for GIFs
    env.close()


def test_mario_ids_are_recognised():
    assert is_mario("SuperMarioBros-v0") and is_mario("SuperMarioBros-1-1-v0")
    assert is_mario("SuperMarioBros2-v0") and not is_mario("CartPole-v1")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (EnvConfig(id="NoSuchEnv-v0"), "unknown environment id 'NoSuchEnv-v0'"),
        (EnvConfig(id="Pendulum-v1"), "only Discrete is supported"),
        (EnvConfig(id="CartPole-v1", stages=["1-1"]), "env.stages is for Super Mario Bros only"),
        (EnvConfig(id="SuperMarioBros-v0", stages=["9-9"]), "'9-9' is not a stage"),
        (EnvConfig(id="SuperMarioBros-1-1-v0", actions="jump"), "env.actions must be one of"),
        (
            EnvConfig(id="CartPole-v1", observation_scale=[1.0, 2.0]),
            "env.observation_scale has 2 entries, but 'CartPole-v1' observes 4 numbers",
        ),
        (
            EnvConfig(id="SuperMarioBros-1-1-v0", observation_scale=[1.0]),
            "env.observation_scale is for vector observations",
        ),
    ],
)
def test_bad_environments_are_config_errors(config, message):
    with pytest.raises(ConfigError, match=None) as error:
        Environment(config)
    assert message in str(error.value)


def test_noop_starts_step_action_zero_after_the_reset():
    config = EnvConfig(id="CartPole-v1", max_episode_steps=50, stack=1)
    plain, delayed = Environment(config), Environment(config)
    first, _ = plain.reset(np.random.default_rng(7))
    for _ in range(3):
        expected = plain.step(0).observation
    start, _ = delayed.reset(np.random.default_rng(7), noops=3)
    assert not np.array_equal(start, first)
    np.testing.assert_array_equal(start, expected)


def test_observation_scale_multiplies_each_feature_of_every_observation():
    plain = Environment(EnvConfig(id="CartPole-v1", stack=1))
    scaled = Environment(EnvConfig(id="CartPole-v1", stack=1, observation_scale=[1, 2, 10, 0.5]))
    factors = np.array([1, 2, 10, 0.5], dtype=np.float32)
    first, _ = plain.reset(np.random.default_rng(4))
    start, _ = scaled.reset(np.random.default_rng(4))
    np.testing.assert_allclose(start, first * factors, rtol=1e-6)
    for action in (0, 1, 1):
        expected, got = plain.step(action).observation, scaled.step(action).observation
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, expected * factors, rtol=1e-6)
