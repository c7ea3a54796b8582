"""Game files: round trip, atomic and collision-free writes, and rejection of bad files."""

import dataclasses
import io
import json
import os
import time

import numpy as np
import pytest
import torch
from conftest import REPO, make_record

from muzero_lite.checkpoints import architecture_for, build_model
from muzero_lite.config import load_config
from muzero_lite.envs import Environment
from muzero_lite.games import (
    GameFileError,
    file_arrays,
    load_game,
    new_game_id,
    publish,
    remove_stale_temps,
    save_game,
)
from muzero_lite.loader import run_limits
from muzero_lite.selfplay.episodes import play_game


def test_round_trip(tmp_path, record):
    path = save_game(record, tmp_path, "g1")
    assert path.name == "g1.npz"
    loaded = load_game(path)
    for name in ("observations", "actions", "rewards", "policies", "root_values"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(record, name))
        assert getattr(loaded, name).dtype == getattr(record, name).dtype
    assert (loaded.terminated, loaded.truncated) == (True, False)
    assert loaded.metadata == dataclasses.replace(record.metadata, format_version=1)
    assert os.listdir(tmp_path) == ["g1.npz"]  # no temporary file left behind


def test_pixel_frames_round_trip_as_uint8(tmp_path):
    record = make_record()
    record.observations = (
        np.arange(4 * 84 * 84, dtype=np.uint32).reshape(4, 84, 84).astype(np.uint8)
    )
    loaded = load_game(save_game(record, tmp_path, "pixels"))
    assert loaded.observations.dtype == np.uint8
    np.testing.assert_array_equal(loaded.observations, record.observations)


def test_a_writer_never_replaces_an_existing_game(tmp_path, record):
    save_game(record, tmp_path, "same")
    with pytest.raises(FileExistsError):
        save_game(make_record(length=5), tmp_path, "same")
    assert load_game(tmp_path / "same.npz").length == 3
    assert os.listdir(tmp_path) == ["same.npz"]


def test_game_ids_are_unique_even_for_one_worker_in_one_second():
    ids = {new_game_id(0) for _ in range(1000)}
    assert len(ids) == 1000
    assert all("-w00-" in i for i in ids)


def test_a_failed_write_leaves_no_file(tmp_path):
    def explode(f):
        f.write(b"partial")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        publish(tmp_path / "g.npz", explode)
    assert os.listdir(tmp_path) == []


def test_stale_temporary_files_are_removed(tmp_path):
    old, new = tmp_path / ".tmp-a.npz.1234", tmp_path / ".tmp-b.npz.5678"
    old.write_bytes(b"x")
    new.write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert remove_stale_temps(tmp_path) == 1
    assert not old.exists() and new.exists()


def _write_npz(path, **arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _arrays(record, **changes):
    metadata = np.array(json.dumps({"format_version": 1}))
    return {**file_arrays(record), "metadata": metadata, **changes}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"rewards": np.array([1.0, np.nan, 3.0], dtype=np.float32)}, "NaN"),
        ({"rewards": np.zeros(2, dtype=np.float32)}, "rewards must have shape (3,)"),
        ({"actions": np.array([0.0, 1.0, 0.0])}, "actions must be integers"),
        ({"actions": np.array([0, 5, 0])}, "actions must lie in 0..1"),
        ({"observations": np.zeros((4, 4), dtype=np.int16)}, "observations must be uint8/float32"),
        ({"root_values": np.zeros(3, dtype=np.float32)}, "root_values must have shape (4,)"),
        ({"terminated": np.array(1.0)}, "terminated must be a boolean scalar"),
        ({"truncated": np.array(True)}, "exactly one of terminated and truncated"),
        ({"policies": np.full((3, 2), 0.7, dtype=np.float32)}, "sum to 1"),
        ({"metadata": np.array(json.dumps({"format_version": 99}))}, "format_version 99"),
        ({"metadata": np.array("{not json")}, "metadata is not JSON"),
        (
            {"metadata": np.array(json.dumps({"format_version": 1, "return": "x"}))},
            'metadata return = "x" is not a number',
        ),
    ],
)
def test_bad_contents_are_rejected_with_a_reason(tmp_path, record, changes, reason):
    path = tmp_path / "bad.npz"
    _write_npz(path, **_arrays(record, **changes))
    with pytest.raises(GameFileError, match=None) as error:
        load_game(path)
    assert reason in str(error.value)


def test_missing_arrays_are_named(tmp_path, record):
    arrays = _arrays(record)
    del arrays["policies"]
    _write_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(GameFileError, match="missing arrays: policies"):
        load_game(tmp_path / "bad.npz")


@pytest.mark.parametrize(
    "content",
    [b"", b"PK\x03\x04 truncated zip", os.urandom(2048)],
    ids=["empty", "truncated", "random"],
)
def test_unreadable_files_are_rejected(tmp_path, content):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(GameFileError):
        load_game(path)


def test_a_truncated_real_game_is_rejected(tmp_path, record):
    path = save_game(record, tmp_path, "g")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(GameFileError):
        load_game(path)


def test_a_pickled_object_array_is_never_unpickled(tmp_path, record):
    class Boom:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    payload = np.array([Boom()], dtype=object)
    buffer = io.BytesIO()
    np.savez(buffer, **_arrays(record, rewards=payload))
    (tmp_path / "evil.npz").write_bytes(buffer.getvalue())
    with pytest.raises(GameFileError, match="unreadable array"):
        load_game(tmp_path / "evil.npz")
    assert not (tmp_path / "pwned").exists()


def test_games_record_the_env_settings_that_change_what_they_store(tmp_path):
    config = load_config(REPO / "configs" / "cartpole.toml", ["env.max_episode_steps=2"])
    env = Environment(config.env)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build_model(config, env).eval()
    played = play_game(env, model, config, np.random.default_rng(0), train_step=0,
                       record_frames=False)  # fmt: skip
    assert played.record.metadata.env_settings == {
        "actions": "simple",
        "flag_bonus": 0.0,
        "frame_skip": 4,
        "frame_size": 84,
        "grayscale": True,
        "observation_scale": [1.0, 1.0, 10.0, 1.0],  # configs/cartpole.toml's
    }
    path = save_game(played.record, tmp_path, "g")
    arch = architecture_for(config, env)
    loaded = load_game(path, run_limits(config.env, arch))
    assert loaded.metadata.env_settings == played.record.metadata.env_settings
    unscaled = load_config(REPO / "configs" / "cartpole.toml", ["env.observation_scale=1,1,1,1"])
    with pytest.raises(GameFileError) as error:
        load_game(path, run_limits(unscaled.env, arch))
    assert str(error.value) == (
        "played with env.observation_scale = [1.0, 1.0, 10.0, 1.0], this run has "
        "[1.0, 1.0, 1.0, 1.0]: a game of other env settings"
    )
