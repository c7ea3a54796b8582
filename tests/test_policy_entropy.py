"""bench/policy_entropy.py: entropies of stored search policies per bucket of env steps."""

import importlib
import math
import sys

import numpy as np
import pytest
from conftest import REPO

from muzero_lite.game_metadata import GameMetadata
from muzero_lite.games import GameRecord, save_game

sys.path.insert(0, str(REPO / "bench"))  # the bench scripts import their `common` module
policy_entropy = importlib.import_module("policy_entropy")


def game(policies) -> GameRecord:
    policies = np.array(policies, dtype=np.float32)
    moves = len(policies)
    return GameRecord(
        observations=np.zeros((moves + 1, 4), np.float32),
        actions=np.zeros(moves, np.int64),
        rewards=np.zeros(moves, np.float32),
        policies=policies,
        root_values=np.zeros(moves + 1, np.float32),
        terminated=True,
        truncated=False,
        metadata=GameMetadata(env_id="CartPole-v1", return_=0.0, length=moves),
    )


def test_entropy_of_each_row_with_zero_probabilities():
    h = policy_entropy.entropy(np.array([[0.5, 0.5], [1.0, 0.0], [0.25, 0.75]]))
    expected = [math.log(2), 0.0, -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))]
    assert h.tolist() == pytest.approx(expected)


def test_games_fall_into_buckets_by_the_env_steps_before_them(tmp_path):
    uniform, sure = [0.5, 0.5], [1.0, 0.0]
    save_game(game([uniform, uniform, sure]), tmp_path, "0001-a")  # steps 0..2
    save_game(game([sure, sure]), tmp_path, "0002-b")  # steps 3..4
    save_game(game([uniform]), tmp_path, "0003-c")  # step 5
    (tmp_path / "0004-d.npz").write_bytes(b"not a game")
    games = policy_entropy.game_entropies(tmp_path)
    assert [(steps, moves) for steps, moves, _ in games] == [(0, 3), (3, 2), (5, 1)]
    rows = policy_entropy.buckets(games, [(2, 0.9), (4, 0.7), (5, 0.5)], size=4)
    assert [(r["games"], r["moves"]) for r in rows] == [(2, 5), (1, 1)]
    assert rows[0]["search_entropy"] == pytest.approx(2 * math.log(2) / 5)
    assert rows[1]["search_entropy"] == pytest.approx(math.log(2))
    assert rows[0]["policy_head_entropy"] == pytest.approx(0.9)
    assert rows[1]["policy_head_entropy"] == pytest.approx(0.6)  # reports at 4 and 5
    assert policy_entropy.buckets([], [], size=4) == []
