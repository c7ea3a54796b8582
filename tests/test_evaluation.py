"""Greedy evaluation: games played side by side are the games played one at a time; explicit
no-op starts, the no-progress setting, and counting the distinct games played."""

import importlib
import signal
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import REPO

from muzero_lite.checkpoints import build_model
from muzero_lite.config import load_config
from muzero_lite.envs import Environment
from muzero_lite.evaluation import (
    EvalEpisode,
    distinct_trajectories,
    evaluate,
    summarize,
    trajectory_hash,
)
from muzero_lite.game_metadata import GameMetadata
from muzero_lite.selfplay.episodes import play_game, play_games


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
    assert [g.metadata.return_ for g in together] == [g.metadata.return_ for g in alone]
    assert [g.metadata.length for g in together] == [g.metadata.length for g in alone]
    assert summarize(together)["CartPole-v1"]["episodes"] == 5


def test_games_played_together_keep_their_own_records():
    sampled = ["search.truncated.beta_start=1", "search.truncated.beta_end=1"]  # sampled moves
    config, env, model = setup(sampled)
    envs = [env, Environment(config.env)]
    together = play_games(envs, model, config, np.random.default_rng(0), train_step=0,
                          record_frames=False)  # fmt: skip
    assert len(together) == 2
    for game in together:
        record = game.record
        assert record.metadata.length == len(record.actions) == len(record.observations) - 1
        assert record.metadata.return_ == float(record.rewards.sum())
        assert record.terminated != record.truncated
        assert record.policies.shape == (record.length, 2)
    (one,) = play_games([env], model, config, np.random.default_rng(0), train_step=0,
                        record_frames=False)  # fmt: skip
    same = play_game(env, model, config, np.random.default_rng(0), train_step=0,
                     record_frames=False)  # fmt: skip
    assert one.record.actions.tolist() == same.record.actions.tolist()


def record_resets(monkeypatch) -> list[int]:
    """The no-op count of every Environment.reset from now on, in order."""
    counts = []
    reset = Environment.reset

    def recording(self, rng, env_id=None, noops=0):
        counts.append(noops)
        return reset(self, rng, env_id, noops)

    monkeypatch.setattr(Environment, "reset", recording)
    return counts


def test_explicit_noops_start_each_episode_after_its_own_count(monkeypatch):
    config, env, model = setup(["env.max_episode_steps=10"])
    counts = record_resets(monkeypatch)
    results = evaluate(config, env, model, 3, np.random.default_rng(7), noops=[3, 0, 2], parallel=2)
    assert counts == [3, 0, 2]
    assert len(results) == 3
    # Random counts still come first from the rng, as before: the first game's is its first draw.
    counts.clear()
    evaluate(config, env, model, 1, np.random.default_rng(7), noop_max=5)
    assert counts == [int(np.random.default_rng(7).integers(6))]


def test_explicit_noops_must_fit_the_episodes():
    config, env, model = setup()
    with pytest.raises(ValueError, match="noops"):
        evaluate(config, env, model, 2, np.random.default_rng(0), noops=[1])
    with pytest.raises(ValueError, match="noops"):
        evaluate(config, env, model, 1, np.random.default_rng(0), noops=[1], noop_max=3)


def test_evaluation_plays_with_its_own_no_progress_steps(monkeypatch):
    config, env, model = setup(["env.max_episode_steps=10"])
    env.no_progress_steps = 3  # as a training config might have set it
    seen = set()
    step = Environment.step

    def recording(self, action):
        seen.add(self.no_progress_steps)
        return step(self, action)

    monkeypatch.setattr(Environment, "step", recording)
    evaluate(config, env, model, 2, np.random.default_rng(0), parallel=2)
    assert seen == {0}  # off unless asked
    assert env.no_progress_steps == 3  # the caller's env is given back as it was
    seen.clear()
    evaluate(config, env, model, 2, np.random.default_rng(0), parallel=2, no_progress_steps=7)
    assert seen == {7}
    assert env.no_progress_steps == 3


def test_results_carry_the_hash_of_their_actions():
    config, env, model = setup()
    results = evaluate(config, env, model, 2, np.random.default_rng(7))
    assert all(len(r.trajectory) == 12 for r in results)
    assert summarize(results)["CartPole-v1"]["episodes"] == 2
    # sha1 of the int64 bytes of [0, 1, 1], its first 12 hex digits
    assert trajectory_hash(np.array([0, 1, 1])) == "b601ef52b007"


def test_distinct_trajectories_need_the_same_actions_and_outcome():
    a = EvalEpisode(GameMetadata(return_=5.0, length=3, x_pos_max=100, flag_get=False), "aaa")
    results = [
        a,
        replace(a),  # the same game again
        replace(a, metadata=replace(a.metadata, x_pos_max=120)),  # the same actions, other outcome
        replace(a, trajectory="bbb"),  # other actions
        replace(a, trajectory="bbb"),
    ]
    assert distinct_trajectories(results) == 3
    cartpole = [EvalEpisode(GameMetadata(return_=9.0, length=9), "c")] * 2  # no x_pos or flag
    assert distinct_trajectories(cartpole) == 1
    assert distinct_trajectories([]) == 0


def test_evaluate_cli_passes_no_progress_steps(monkeypatch, tmp_path):
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    cli = importlib.import_module("evaluate")  # evaluate.py; it holds signals while importing
    signal.signal(signal.SIGINT, handlers[0])
    signal.signal(signal.SIGTERM, handlers[1])
    calls = []

    def fake_evaluate(config, env, model, episodes, rng, **kwargs):
        calls.append(kwargs)
        return [EvalEpisode(GameMetadata(env_id="CartPole-v1", return_=1.0, length=1), "x")]

    monkeypatch.setattr(cli, "evaluate", fake_evaluate)
    monkeypatch.setattr(cli, "load_weights", lambda path, model: 12)
    common = ["evaluate.py", "--config", str(REPO / "configs" / "cartpole.toml"),
              "--data-dir", str(tmp_path), "--checkpoint", "unused.pt", "--episodes", "1",
              "--json", str(tmp_path / "eval.json")]  # fmt: skip
    monkeypatch.setattr(sys, "argv", [*common, "--no-progress-steps", "25"])
    assert cli.main() == 0
    monkeypatch.setattr(sys, "argv", common)
    assert cli.main() == 0
    assert [c["no_progress_steps"] for c in calls] == [25, 0]
