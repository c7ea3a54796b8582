"""bench/learn_mario.py's parts: the final evaluation's starts, the first flag, the figures and
the random baseline's settings."""

import importlib
import sys

import numpy as np
import pytest
from conftest import REPO

from muzero_lite.config import load_config
from muzero_lite.envs import Environment
from muzero_lite.game_metadata import GameMetadata

sys.path.insert(0, str(REPO / "bench"))  # the bench scripts import their `common` module
learn_mario = importlib.import_module("learn_mario")


def row(minutes: float, env_steps: int, flags: int) -> dict:
    return {"minutes": minutes, "env_steps": env_steps, "flags": flags}


def test_first_flag_is_the_first_evaluation_with_any_flag():
    curve = [row(10.0, 5000, 0), row(20.0, 9000, 2), row(30.0, 14000, 0), row(31.5, 15000, 5)]
    assert learn_mario.first_flag(curve) == (20.0, 9000)
    assert learn_mario.first_flag(curve[2:]) == (31.5, 15000)  # the final evaluation counts too
    assert learn_mario.first_flag([row(10.0, 5000, 0)]) == (None, None)
    assert learn_mario.first_flag([]) == (None, None)


def test_final_evaluation_starts_after_each_noop_count_once():
    assert learn_mario.final_noops(3, 30) == [0, 1, 2]
    assert learn_mario.final_noops(31, 30) == list(range(31))  # every count, 0..noop_max
    with pytest.raises(ValueError, match="noop_max"):
        learn_mario.final_noops(32, 30)  # a count twice would replay a game already played
    with pytest.raises(ValueError):
        learn_mario.final_noops(0, 30)


def test_figures_count_flags():
    results = [
        GameMetadata(x_pos_max=100, return_=1.0, flag_get=False),
        GameMetadata(x_pos_max=3000, return_=9.0, flag_get=True),
        GameMetadata(x_pos_max=200, return_=2.0, flag_get=False),
        GameMetadata(x_pos_max=300, return_=4.0, flag_get=False),
    ]
    assert learn_mario.figures(results) == {
        "episodes": 4,
        "flags": 1,
        "x_pos_mean": 900.0,  # (100 + 3000 + 200 + 300) / 4
        "x_pos_max": 3000.0,
        "flag_rate": 0.25,
        "return_mean": 4.0,  # (1 + 9 + 2 + 4) / 4
    }


def test_random_baseline_plays_without_the_no_progress_cut(monkeypatch):
    config = load_config(REPO / "configs" / "cartpole.toml", ["env.max_episode_steps=5"])
    env = Environment(config.env)
    env.no_progress_steps = 3
    seen = set()
    step = Environment.step

    def recording(self, action):
        seen.add(self.no_progress_steps)
        return step(self, action)

    monkeypatch.setattr(Environment, "step", recording)
    results = learn_mario.random_baseline(env, 2, 0, np.random.default_rng(0))
    assert seen == {0}
    assert env.no_progress_steps == 3
    assert [r.flag_get for r in results] == [False, False]


def test_per_stage_figures_and_table():
    results = [
        GameMetadata(x_pos_max=100, return_=1.0, flag_get=False, stage="1-1"),
        GameMetadata(x_pos_max=500, return_=5.0, flag_get=False, stage="2-1"),
        GameMetadata(x_pos_max=300, return_=3.0, flag_get=True, stage="1-1"),
    ]
    stages = learn_mario.per_stage(results)
    assert list(stages) == ["1-1", "2-1"]  # in the order first played
    assert stages["1-1"]["episodes"] == 2 and stages["1-1"]["x_pos_mean"] == 200.0
    assert stages["1-1"]["flags"] == 1 and stages["2-1"]["flags"] == 0
    random = learn_mario.per_stage([GameMetadata(x_pos_max=50, return_=0.0, stage="1-1")])
    table = learn_mario.stage_table(random, stages).splitlines()
    assert table[1].split() == ["1-1", "2", "200", "1", "1", "50", "0", "4.00"]  # 200 / 50
    assert table[2].split()[:4] == ["2-1", "1", "500", "0"]  # no random episodes on 2-1


def test_random_baseline_records_what_it_played():
    config = load_config(REPO / "configs" / "cartpole.toml", ["env.max_episode_steps=5"])
    results = learn_mario.random_baseline(Environment(config.env), 2, 0, np.random.default_rng(0))
    assert [r.env_id for r in results] == ["CartPole-v1", "CartPole-v1"]
    assert learn_mario.per_stage(results)["CartPole-v1"]["episodes"] == 2
