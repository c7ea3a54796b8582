"""Fresh bootstrap: value targets that read a target network, and when that network is refreshed."""

import numpy as np
import torch
from conftest import REPO, SMALL_TRAINER, make_record

from muzero_lite.config import load_config
from muzero_lite.paths import DataDirs
from muzero_lite.trainer import Trainer

SETTINGS = [
    "train.bootstrap=fresh", "train.target_update_every=3", "train.td_steps=2",
    *SMALL_TRAINER, "selfplay.max_env_steps_per_train_step=0",
]  # fmt: skip


def make_trainer(tmp_path, settings=SETTINGS) -> Trainer:
    config = load_config(REPO / "configs/cartpole.toml", settings)
    trainer = Trainer(config, DataDirs(tmp_path), resume=False, log=lambda line: None)
    for length, terminated in ((6, True), (5, False)):
        trainer.replay.add_game(make_record(length, terminated=terminated))
    return trainer


def test_fresh_targets_are_returns_plus_the_target_networks_values(tmp_path):
    trainer = make_trainer(tmp_path)
    with torch.no_grad():  # a target network that differs from the trained one
        for p in trainer.nets.target_model.value_net.parameters():
            p.add_(torch.randn_like(p))
    batch = trainer.replay.sample(8, np.random.default_rng(0), 1.0, bootstrap_inputs=True)
    fresh = trainer._fresh_value_targets(batch)
    for row in range(8):
        for k in range(batch.returns.shape[1]):
            value = trainer.nets.target_model.initial_inference(
                torch.as_tensor(batch.bootstrap_observations[row, k][None]),
                torch.as_tensor(batch.bootstrap_prev_actions[row, k][None]),
            ).value.item()
            expected = batch.returns[row, k] + batch.bootstrap_weights[row, k] * value
            np.testing.assert_allclose(fresh.target_values[row, k], expected, rtol=1e-6)
    assert not np.array_equal(fresh.target_values, batch.target_values)  # not the stored values


def test_the_target_network_is_refreshed_every_n_steps_only(tmp_path):
    trainer = make_trainer(tmp_path)
    start = {k: v.clone() for k, v in trainer.nets.target_model.state_dict().items()}

    def target_equals(state):
        target = trainer.nets.target_model.state_dict()
        return all(torch.equal(v, state[k]) for k, v in target.items())

    trainer.train_step()
    trainer.train_step()
    assert target_equals(start)  # 2 steps: the network moved, the target did not
    assert not target_equals(trainer.model.state_dict())
    trainer.train_step()
    assert target_equals(trainer.model.state_dict())  # step 3: copied
    assert not any(p.requires_grad for p in trainer.nets.target_model.parameters())


def test_stored_bootstrap_has_no_target_network(tmp_path):
    settings = [s for s in SETTINGS if "bootstrap" not in s] + ["train.bootstrap=stored"]
    trainer = make_trainer(tmp_path, settings)
    assert trainer.nets.target_model is None
    trainer.train_step()
