"""Greedy evaluation: games played side by side are the games played one at a time."""

import numpy as np
import torch
from conftest import REPO

from muzero_lite.checkpoints import build_model
from muzero_lite.config import load_config
from muzero_lite.envs import Environment
from muzero_lite.evaluation import evaluate, summarize
from muzero_lite.worker import play_game, play_games


def setup(overrides=()):
    config = load_config(
        REPO / "configs" / "cartpole.toml", ["env.max_episode_steps=40", *overrides]
    )
    env = Environment(config.env)
    with torch.random.fork_rng():
        torch.manual_seed(3)
        model = build_model(config, env).eval()
    return config, env, model


def test_side_by_side_evaluation_plays_the_same_episodes_in_order():
    config, env, model = setup()
    alone = evaluate(config, env, model, 5, np.random.default_rng(7), parallel=1)
    together = evaluate(config, env, model, 5, np.random.default_rng(7), parallel=3)
    assert [g["return"] for g in together] == [g["return"] for g in alone]
    assert [g["length"] for g in together] == [g["length"] for g in alone]
    assert summarize(together)["CartPole-v1"]["episodes"] == 5


def test_games_played_together_keep_their_own_records():
    config, env, model = setup(["search.beta_start=1", "search.beta_end=1"])  # sampled moves
    envs = [env, Environment(config.env)]
    together = play_games(envs, model, config, np.random.default_rng(0), train_step=0,
                          record_frames=False)  # fmt: skip
    assert len(together) == 2
    for game in together:
        record = game.record
        assert record.metadata["length"] == len(record.actions) == len(record.observations) - 1
        assert record.metadata["return"] == float(record.rewards.sum())
        assert record.terminated != record.truncated
        assert record.policies.shape == (record.length, 2)
    (one,) = play_games([env], model, config, np.random.default_rng(0), train_step=0,
                        record_frames=False)  # fmt: skip
    same = play_game(env, model, config, np.random.default_rng(0), train_step=0,
                     record_frames=False)  # fmt: skip
    assert one.record.actions.tolist() == same.record.actions.tolist()
