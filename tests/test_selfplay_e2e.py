"""End-to-end runs of selfplay.py: real processes writing real files."""

import signal
import subprocess
import time

import imageio.v3 as iio
import numpy as np
import pytest
from conftest import REPO, entry_command

from muzero_lite.checkpoints import build_model, save_checkpoint
from muzero_lite.config import load_config
from muzero_lite.envs import Environment
from muzero_lite.games import load_game

pytestmark = pytest.mark.e2e
REQUIRED = {"format_version", "env_id", "worker_id", "checkpoint_step", "seed", "return", "length"}


def selfplay(data_dir, *args, config="configs/cartpole.toml"):
    command = entry_command("selfplay.py", data_dir, *args, config=config)
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)


def games_in(data_dir):
    return sorted((data_dir / "games").glob("*.npz"))


def test_cartpole_two_games(tmp_path):
    result = selfplay(tmp_path, "--games", "2", "--worker-id", "3", "--seed", "5")
    assert result.returncode == 0, result.stderr
    paths = games_in(tmp_path)
    assert len(paths) == 2  # both games, each worker 3's (below)
    for path in paths:
        game = load_game(path)
        assert game.metadata.to_json().keys() >= REQUIRED
        assert game.metadata.worker_id == 3 and game.metadata.seed == 5
        assert game.metadata.checkpoint_step == 0
        assert game.metadata.length == game.length
        assert game.metadata.return_ == pytest.approx(float(game.rewards.sum()))
        assert game.observations.shape == (game.length + 1, 4)
        assert game.terminated != game.truncated
        assert path.stem == game.metadata.game_id
    gifs = list((tmp_path / "gifs").glob("*.gif"))
    assert len(gifs) == 1  # gif_every = 10 in cartpole.toml: the first game of each ten
    assert iio.imread(gifs[0]).ndim == 4


def test_short_mario_game(tmp_path):
    result = selfplay(
        tmp_path,
        "--games",
        "1",
        "--set",
        "env.stages=1-1",
        "--set",
        "env.max_episode_steps=40",
        config="configs/mario.toml",
    )
    assert result.returncode == 0, result.stderr
    (path,) = games_in(tmp_path)
    game = load_game(path)
    assert game.observations.dtype == np.uint8
    assert game.observations.shape == (game.length + 1, 84, 84)
    meta = game.metadata
    assert meta.env_id == "SuperMarioBros-1-1-v0"
    assert (meta.world, meta.stage, meta.flag_get) == (1, "1-1", False)
    assert meta.x_pos_max >= 40
    if game.truncated:
        assert game.length == 40
    (gif,) = (tmp_path / "gifs").glob("*.gif")
    assert "_1-1_x" in gif.name
    assert iio.imread(gif).shape == (game.length + 1, 120, 128, 3)


def test_worker_plays_with_the_newest_checkpoint(tmp_path):
    config = load_config(REPO / "configs" / "cartpole.toml")
    model = build_model(config, Environment(config.env))
    save_checkpoint(tmp_path / "checkpoints", 3, model)
    save_checkpoint(tmp_path / "checkpoints", 7, model)
    result = selfplay(tmp_path, "--games", "1")
    assert result.returncode == 0, result.stderr
    (path,) = games_in(tmp_path)
    assert load_game(path).metadata.checkpoint_step == 7


def test_two_workers_with_the_same_id_never_collide(tmp_path):
    command = entry_command(
        "selfplay.py", tmp_path, "--games", "3", "--set", "selfplay.gif_every=1"
    )
    workers = [subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL) for _ in range(2)]
    assert [w.wait(timeout=300) for w in workers] == [0, 0]
    assert len(games_in(tmp_path)) == 6
    assert len(list((tmp_path / "gifs").glob("*.gif"))) == 6


def test_ctrl_c_stops_cleanly_without_partial_files(tmp_path):
    mario = ["--set", "env.stages=1-1", "--set", "env.max_episode_steps=30"]
    command = entry_command("selfplay.py", tmp_path, *mario, config="configs/mario.toml")
    worker = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not games_in(tmp_path) and time.time() < deadline:
        time.sleep(0.1)
    worker.send_signal(signal.SIGINT)
    worker.communicate(timeout=60)
    assert worker.returncode == 0  # a clean stop: without --games a worker runs until stopped
    leftovers = [p.name for p in tmp_path.rglob(".tmp-*")]
    assert leftovers == []
    for path in games_in(tmp_path):
        assert load_game(path).metadata.env_id == "SuperMarioBros-1-1-v0"
