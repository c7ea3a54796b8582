"""Files written by earlier code still load: game files of format 1 and a checkpoint, as written
on 2026-12-07 (commit 2a21489) by selfplay.py and train.py, kept in tests/data/format-1/.

The CartPole game and checkpoint: `selfplay.py --config configs/cartpole.toml --games 3 --seed 5`,
then `train.py --steps 10` with the small network of SMALL_NETWORK below; the Mario game: a
worker of `bench/learn_mario.py --stage 1-1` (seed 0) at checkpoint step 800.
"""

import shutil

import numpy as np
import torch
from conftest import REPO

from muzero_lite.checkpoints import build_model, checkpoint_path, load_latest, upgrade_checkpoint
from muzero_lite.config import load_config
from muzero_lite.envs import Environment
from muzero_lite.games import load_game
from muzero_lite.paths import DataDirs
from muzero_lite.trainer import Trainer

DATA = REPO / "tests" / "data" / "format-1"
SMALL_NETWORK = ["network.hidden_size=8", "network.head_size=8", "network.support_size=5"]


def test_a_cartpole_game_of_format_1_loads_with_its_arrays_and_metadata():
    game = load_game(DATA / "cartpole-game.npz")
    assert game.length == 15 and game.terminated and not game.truncated
    assert game.observations.shape == (16, 4) and game.observations.dtype == np.float32
    assert game.actions.shape == (15,) and game.policies.shape == (15, 2)
    np.testing.assert_allclose(game.policies.sum(1), 1.0, rtol=1e-6)
    meta = game.metadata
    assert meta.env_id == "CartPole-v1" and meta.return_ == 15.0 and meta.length == 15
    assert meta.game_id == "20261207-024541-w00-d202acfe"
    assert (meta.worker_id, meta.seed, meta.checkpoint_step) == (0, 5, 0)
    assert meta.search == "truncated" and meta.format_version == 1


def test_a_mario_game_of_format_1_loads_with_its_stage_and_progress():
    game = load_game(DATA / "mario-game.npz")
    assert game.length == 29 and game.terminated
    assert game.observations.shape == (30, 84, 84) and game.observations.dtype == np.uint8
    meta = game.metadata
    assert meta.env_id == "SuperMarioBros-1-1-v0" and meta.stage == "1-1"
    assert (meta.world, meta.x_pos_max, meta.flag_get) == (1, 315, False)
    assert meta.return_ == 252.0 and meta.checkpoint_step == 800
    assert meta.env_settings["flag_bonus"] == 500.0


def test_a_checkpoint_written_before_loads_into_a_worker_and_resumes_a_trainer(tmp_path):
    config = load_config(REPO / "configs" / "cartpole.toml", SMALL_NETWORK)
    dirs = DataDirs(tmp_path)
    dirs.checkpoints.mkdir(parents=True)
    dirs.games.mkdir(parents=True)
    shutil.copy(DATA / "cartpole-step-00000010.pt", checkpoint_path(dirs.checkpoints, 10))
    shutil.copy(DATA / "cartpole-game.npz", dirs.games / "20261207-024541-w00-d202acfe.npz")
    saved = upgrade_checkpoint(torch.load(DATA / "cartpole-step-00000010.pt", weights_only=True))

    worker_model = build_model(config, Environment(config.env))
    assert load_latest(dirs.checkpoints, worker_model) == 10
    for name, value in worker_model.state_dict().items():  # the acting weights
        assert torch.equal(value, saved["acting_weights"][name]), name

    trainer = Trainer(config, dirs, resume=True, log=lambda line: None)
    assert trainer.step == 10
    for name, value in trainer.model.state_dict().items():  # the trained weights
        assert torch.equal(value, saved["trained_weights"][name]), name
    assert trainer.optimizer.state_dict()["state"][0]["step"].item() == 10
    assert trainer.replay.num_transitions == 15  # the game refilled replay
