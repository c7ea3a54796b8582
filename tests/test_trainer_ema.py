"""Acting weights: checkpoints hand out a moving average of the trained ones (train.ema_decay)."""

import torch
from conftest import REPO, SMALL_TRAINER, make_record

from muzero_lite.checkpoints import read_latest
from muzero_lite.config import load_config
from muzero_lite.paths import DataDirs
from muzero_lite.trainer import Trainer

SETTINGS = ["train.ema_decay=0.75", *SMALL_TRAINER]


def make_trainer(tmp_path, settings=SETTINGS, resume=False) -> Trainer:
    config = load_config(REPO / "configs/cartpole.toml", settings)
    trainer = Trainer(config, DataDirs(tmp_path), resume=resume, log=lambda line: None)
    trainer.replay.add_game(make_record(6))
    return trainer


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_the_average_moves_a_quarter_of_the_way_each_step(tmp_path):
    trainer = make_trainer(tmp_path)
    average = weights(trainer.nets.acting_model)
    assert all(torch.equal(v, weights(trainer.model)[k]) for k, v in average.items())
    for _ in range(3):
        trainer.train_step()
        trained = weights(trainer.model)
        average = {k: 0.75 * v + 0.25 * trained[k] for k, v in average.items()}
        for k, v in trainer.nets.acting_model.state_dict().items():
            torch.testing.assert_close(v, average[k], rtol=1e-6, atol=1e-7)
    assert not torch.equal(
        trainer.nets.acting_model.value_net[0].weight, trainer.model.value_net[0].weight
    )
    assert not any(p.requires_grad for p in trainer.nets.acting_model.parameters())


def test_checkpoints_hand_out_the_average_and_resume_both(tmp_path):
    trainer = make_trainer(tmp_path)
    for _ in range(3):
        trainer.train_step()
    trainer.save()
    state = read_latest(tmp_path / "checkpoints", trainer.model.arch)
    for k, v in trainer.nets.acting_model.state_dict().items():  # what workers and evaluation load
        assert torch.equal(state["acting_weights"][k], v)
    for k, v in trainer.model.state_dict().items():  # what training goes on from
        assert torch.equal(state["trained_weights"][k], v)

    resumed = make_trainer(tmp_path, resume=True)
    assert resumed.step == 3
    for mine, theirs in (
        (resumed.model, trainer.model),
        (resumed.nets.acting_model, trainer.nets.acting_model),
    ):
        assert all(torch.equal(v, theirs.state_dict()[k]) for k, v in mine.state_dict().items())


def test_without_a_decay_checkpoints_hold_the_trained_weights_only(tmp_path):
    trainer = make_trainer(tmp_path, [*SETTINGS, "train.ema_decay=0"])
    assert trainer.nets.acting_model is None
    trainer.train_step()
    trainer.save()
    state = read_latest(tmp_path / "checkpoints", trainer.model.arch)
    assert "trained_weights" not in state
    assert all(
        torch.equal(state["acting_weights"][k], v) for k, v in trainer.model.state_dict().items()
    )
