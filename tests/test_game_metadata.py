"""A game's metadata record: the JSON it reads is the JSON it writes, key for key."""

import json

import numpy as np
import pytest
from conftest import REPO

from muzero_lite.game_metadata import GameMetadata
from muzero_lite.games import file_arrays, load_game

DATA = REPO / "tests" / "data" / "format-1"
MARIO = GameMetadata(
    env_id="SuperMarioBros-1-1-v0",
    checkpoint_step=800,
    search="truncated",
    return_=252.0,
    length=29,
    env_settings={"actions": "simple", "flag_bonus": 500.0},
    world=1,
    stage="1-1",
    x_pos_max=315,
    flag_get=False,
    game_id="20261207-021853-w00-f9a73c29",
    worker_id=0,
    seed=0,
    timestamp=1796609933.9,
    format_version=1,
)


def test_a_record_round_trips_through_its_json():
    assert GameMetadata.from_json(MARIO.to_json()) == MARIO
    assert list(MARIO.to_json())[:5] == ["env_id", "checkpoint_step", "search", "return", "length"]
    assert GameMetadata.from_json(json.loads(json.dumps(MARIO.to_json()))) == MARIO


@pytest.mark.parametrize("name", ["cartpole-game.npz", "mario-game.npz"])
def test_a_format_1_file_is_written_back_as_it_was(name):
    with np.load(DATA / name, allow_pickle=False) as data:
        text = str(data["metadata"])
    written = str(file_arrays(load_game(DATA / name))["metadata"])
    assert json.loads(written) == json.loads(text)
    assert written == text  # the same keys in the same order, the same numbers


def test_missing_keys_are_none_and_unknown_keys_are_kept():
    old = GameMetadata.from_json({"return": 3, "format_version": 1, "later": [1, 2]})
    assert (old.return_, old.env_id, old.x_pos_max) == (3, None, None)
    assert old.extra == {"later": [1, 2]}
    assert old.to_json() == {"return": 3, "format_version": 1, "later": [1, 2]}
    assert GameMetadata.from_json({"stage": None}) == GameMetadata()  # null: not recorded
    assert GameMetadata().to_json() == {}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"return": "5"}, 'metadata return = "5" is not a number'),
        ({"length": 2.5}, "metadata length = 2.5 is not an integer"),
        ({"worker_id": True}, "metadata worker_id = true is not an integer"),
        ({"flag_get": 0}, "metadata flag_get = 0 is not true or false"),
        ({"env_settings": [0] * 20}, "metadata env_settings = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0"),
        ([1, 2], "metadata is not a JSON object"),
    ],
)
def test_a_key_of_the_wrong_type_is_refused_by_name(data, reason):
    with pytest.raises(ValueError) as error:
        GameMetadata.from_json(data)
    assert str(error.value).startswith(reason)


def test_the_score_is_x_pos_then_return():
    assert MARIO.score() == (315.0, 252.0)
    assert GameMetadata(return_=9.0).score() == (0.0, 9.0)  # no x_pos: the return alone
