"""The trainer's step: non-finite steps change nothing, weight decay by hand, and the replay
ratio's budget after a resume."""

import math

import numpy as np
import pytest
import torch
from conftest import REPO, SMALL_TRAINER, make_record

from muzero_lite.checkpoints import list_checkpoints, read_latest, save_checkpoint
from muzero_lite.config import ConfigError, load_config
from muzero_lite.finite import SkippedSteps, TrainingDiverged
from muzero_lite.games import save_game
from muzero_lite.losses import LossOutput
from muzero_lite.paths import DataDirs
from muzero_lite.trainer import Trainer

SETTINGS = ["train.ema_decay=0.75", *SMALL_TRAINER]


def make_trainer(tmp_path, settings=(), resume=False, log=lambda line: None) -> Trainer:
    config = load_config(REPO / "configs/cartpole.toml", [*SETTINGS, *settings])
    return Trainer(config, DataDirs(tmp_path), resume=resume, log=log)


def snapshot(trainer: Trainer) -> dict:
    """Everything a training step may change, cloned."""
    optimizer = trainer.optimizer.state_dict()
    return {
        "weights": {k: v.clone() for k, v in trainer.model.state_dict().items()},
        "average": {k: v.clone() for k, v in trainer.nets.acting_model.state_dict().items()},
        "optimizer": {
            i: {k: v.clone() if torch.is_tensor(v) else v for k, v in state.items()}
            for i, state in optimizer["state"].items()
        },
        "priorities": trainer.replay.priorities(np.arange(trainer.replay.num_transitions)),
        "step": trainer.step,
    }


def assert_identical(before: dict, after: dict) -> None:
    assert after["step"] == before["step"]
    for part in ("weights", "average"):
        for k, v in before[part].items():
            assert torch.equal(after[part][k], v), (part, k)
    assert before["optimizer"].keys() == after["optimizer"].keys()
    for i, state in before["optimizer"].items():
        for k, v in state.items():
            assert torch.equal(after["optimizer"][i][k], v), (i, k)
    np.testing.assert_array_equal(after["priorities"], before["priorities"])


def poisoned_loss(monkeypatch, where: str) -> None:
    """Make muzero_loss return a NaN loss, or a finite loss whose gradient is NaN."""
    import muzero_lite.trainer as trainer_module

    real = trainer_module.muzero_loss

    def loss(model, batch, **kwargs) -> LossOutput:
        out = real(model, batch, **kwargs)
        weight = model.value_net[0].weight
        if where == "loss":
            total = out.total + float("nan")
        else:  # sqrt'(0) is infinite, times 0 is NaN: a finite loss, a NaN gradient
            total = out.total + 0 * torch.sqrt(weight.sum() * 0).sum()
        return LossOutput(**{**vars(out), "total": total})

    monkeypatch.setattr(trainer_module, "muzero_loss", loss)


@pytest.mark.parametrize("where", ["loss", "gradient"])
def test_a_non_finite_step_changes_no_weight_state_average_or_priority(
    tmp_path, monkeypatch, where
):
    trainer = make_trainer(tmp_path)
    trainer.replay.add_game(make_record(6))
    trainer.train_step()  # a real step first, so the optimizer and priorities hold some state
    before = snapshot(trainer)
    poisoned_loss(monkeypatch, where)
    assert trainer.train_step() is None
    if where == "gradient":
        assert math.isfinite(float(trainer.model.value_net[0].weight.detach().sum()))
    assert_identical(before, snapshot(trainer))
    assert (trainer.counters.skips.total, trainer.counters.skips.in_a_row) == (1, 1)


def test_a_skipped_step_undoes_what_the_forward_pass_did_to_the_buffers(tmp_path, monkeypatch):
    # BatchNorm (the pixel networks) updates its running statistics in the forward pass, before
    # the loss is known to be NaN; a probe buffer stands in for them on the vector network.
    trainer = make_trainer(tmp_path, ["train.ema_decay=0"])
    trainer.replay.add_game(make_record(6))
    trainer.model.register_buffer("probe", torch.zeros(3))
    poisoned_loss(monkeypatch, "loss")
    import muzero_lite.trainer as trainer_module

    nan_loss = trainer_module.muzero_loss

    def forward_with_statistics(model, batch, **kwargs):
        model.probe.add_(float("nan"))  # what a NaN activation does to running statistics
        return nan_loss(model, batch, **kwargs)

    monkeypatch.setattr(trainer_module, "muzero_loss", forward_with_statistics)
    assert trainer.train_step() is None
    assert torch.equal(trainer.model.probe, torch.zeros(3))


def test_skips_are_counted_and_the_run_stops_after_the_limit_in_a_row(tmp_path, monkeypatch):
    lines = []
    trainer = make_trainer(tmp_path, ["train.max_skipped_steps=3"], log=lines.append)
    lines.clear()  # the trainer's first lines, on how it runs the networks
    trainer.replay.add_game(make_record(6))
    trainer.counters.transitions_loaded = 6
    trainer.train_step()
    poisoned_loss(monkeypatch, "loss")
    with pytest.raises(TrainingDiverged, match="3 steps in a row"):
        trainer.run(steps=10)
    assert trainer.step == 1 and trainer.counters.skips.total == 3
    assert len(lines) == 2  # the first skip of the streak, then the line of the stop's finally
    # The run's finally wrote the last finite weights, as step 1.
    ((step, _),) = list_checkpoints(tmp_path / "checkpoints")
    assert step == 1
    assert read_latest(tmp_path / "checkpoints", trainer.model.arch)["step"] == 1


def test_a_finite_step_after_skips_resets_the_streak(tmp_path, monkeypatch):
    trainer = make_trainer(tmp_path)
    trainer.replay.add_game(make_record(6))
    with monkeypatch.context() as patch:
        poisoned_loss(patch, "gradient")
        trainer.train_step()
        trainer.train_step()
    assert trainer.train_step() is not None
    skips = trainer.counters.skips
    assert (skips.total, skips.in_a_row, trainer.step) == (2, 0, 1)


def test_weight_decay_shrinks_each_weight_by_one_minus_lr_times_decay_per_step(tmp_path):
    # With zero gradients Adam's update is 0/(0 + eps) = 0, so one step multiplies each decayed
    # weight by exactly 1 - lr x wd = 1 - 1e-3 x 0.1 = 0.9999 and leaves the others as they are.
    settings = ["train.weight_decay=0.1", "train.learning_rate=0.001"]
    for decay_all in (True, False):
        trainer = make_trainer(tmp_path / str(decay_all), [
            *settings, f"train.decay_biases_and_norms={str(decay_all).lower()}"
        ])  # fmt: skip
        before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
        for p in trainer.model.parameters():
            p.grad = torch.zeros_like(p)
        trainer.optimizer.step()
        for name, p in trainer.model.named_parameters():
            decayed = decay_all or p.dim() >= 2
            expected = before[name] * (1 - 1e-3 * 0.1) if decayed else before[name]
            torch.testing.assert_close(p.detach(), expected, rtol=1.2e-7, atol=0)
            if decayed and before[name].abs().max() > 0:
                assert not torch.equal(p.detach(), before[name])


def test_games_refilled_on_resume_buy_no_training_steps(tmp_path):
    trainer = make_trainer(tmp_path)
    trainer.replay.add_game(make_record(6))
    trainer.train_step()
    trainer.save()
    for i in range(3):
        save_game(make_record(20), tmp_path / "games", f"20260101-00000{i}-w00-0000000{i}")
    resumed = make_trainer(tmp_path, resume=True)
    assert resumed.replay.num_transitions == 60  # the refill is in replay ...
    assert resumed.counters.transitions_loaded == 0  # ... but buys nothing
    assert not resumed.can_train()
    save_game(make_record(4), tmp_path / "games", "20260101-000010-w00-00000010")
    resumed._add(resumed.loader.poll())  # a new game buys replay_ratio x its moves
    assert resumed.counters.transitions_loaded == 4
    assert resumed.can_train()
    resumed.counters.steps_done = int(resumed.config.train.replay_ratio * 4)
    assert not resumed.can_train()


def test_a_checkpoint_with_non_finite_weights_is_never_written(tmp_path):
    trainer = make_trainer(tmp_path)
    with torch.no_grad():
        trainer.model.policy_net[0].weight[0, 0] = float("inf")
    with pytest.raises(Exception, match="not written: its weights hold NaN or infinite"):
        save_checkpoint(tmp_path / "checkpoints", 7, trainer.model)
    assert list_checkpoints(tmp_path / "checkpoints") == []
    lines = []
    trainer.log = lines.append
    trainer.nets.acting_model = None
    trainer.counters.step = 7
    trainer.save()  # the trainer logs it and writes nothing
    assert list_checkpoints(tmp_path / "checkpoints") == []
    assert "policy_net.0.weight" in lines[0]


def test_a_resume_takes_learning_rate_and_weight_decay_from_the_settings(tmp_path):
    trainer = make_trainer(tmp_path, ["train.weight_decay=0.0001"])
    trainer.replay.add_game(make_record(6))
    trainer.train_step()
    trainer.save()
    resumed = make_trainer(
        tmp_path, ["train.weight_decay=0.05", "train.learning_rate=0.002"], resume=True
    )
    decays = [group["weight_decay"] for group in resumed.optimizer.param_groups]
    assert decays[0] == 0.05 and set(decays[1:]) <= {0.0}
    assert {group["lr"] for group in resumed.optimizer.param_groups} == {0.002}
    assert resumed.optimizer.state_dict()["state"][0]["step"].item() == 1  # Adam's state kept


def test_skipped_steps_say_the_first_of_a_streak_and_every_tenth_then_stop_at_the_limit():
    skips = SkippedSteps(limit=25)
    lines = [skips.count(7, "loss") for _ in range(24)]
    assert [i + 1 for i, line in enumerate(lines) if line] == [1, 10, 20]
    first = "[train] step 7: skipped a step with a non-finite loss (1 in a row, 1 in all)"
    assert lines[0] == first
    with pytest.raises(TrainingDiverged, match="25 steps in a row had a non-finite loss"):
        skips.count(7, "loss")


@pytest.mark.parametrize("before", [True, False])
def test_a_resume_with_the_other_grouping_keeps_each_parameters_adam_state(tmp_path, before):
    trainer = make_trainer(tmp_path, [f"train.decay_biases_and_norms={str(before).lower()}"])
    trainer.replay.add_game(make_record(6))
    trainer.train_step()
    trainer.save()
    after = str(not before).lower()
    resumed = make_trainer(tmp_path, [f"train.decay_biases_and_norms={after}"], resume=True)
    assert len(resumed.optimizer.param_groups) == (2 if before else 1)
    for (name, mine), theirs in zip(
        resumed.model.named_parameters(), trainer.model.parameters(), strict=True
    ):
        ours, saved = resumed.optimizer.state[mine], trainer.optimizer.state[theirs]
        assert torch.equal(ours["exp_avg"], saved["exp_avg"]), name
        assert torch.equal(ours["exp_avg_sq"], saved["exp_avg_sq"]), name
        assert ours["step"].item() == 1


def test_a_resume_says_which_settings_changed_since_the_checkpoint(tmp_path):
    trainer = make_trainer(tmp_path, ["train.weight_decay=0.0001"])
    trainer.save()
    lines = []
    make_trainer(tmp_path, ["train.weight_decay=0.1"], resume=True, log=lines.append)
    assert "[train] settings changed since step 0: train.weight_decay 0.0001 -> 0.1" in lines


def test_a_resume_with_only_unusable_checkpoints_stops_instead_of_starting_over(tmp_path):
    trainer = make_trainer(tmp_path)
    with torch.no_grad():
        trainer.model.value_net[0].weight[0, 0] = float("nan")
    state = {"step": 9, "architecture": trainer.model.arch.to_dict()}
    trainer.dirs.checkpoints.mkdir()
    torch.save(
        {**state, "acting_weights": trainer.model.state_dict()}, trainer.dirs.checkpoints / "x"
    )
    (trainer.dirs.checkpoints / "x").rename(trainer.dirs.checkpoints / "step-00000009.pt")
    with pytest.raises(ConfigError, match=r"no usable checkpoint in .*: all 1 are unreadable"):
        make_trainer(tmp_path, resume=True)
