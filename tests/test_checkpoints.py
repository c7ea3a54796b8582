"""Checkpoints: atomic save, newest lookup, weights-only load, clear architecture errors."""

import pytest
import torch

from muzero_lite.checkpoints import (
    ArchitectureMismatch,
    SettingsMismatch,
    changed_settings,
    checkpoint_path,
    list_checkpoints,
    load_latest,
    load_weights,
    save_checkpoint,
    upgrade_checkpoint,
)
from muzero_lite.config import Config, EnvConfig
from networks import Architecture, MuZeroNet


def net(hidden_size: int = 16) -> MuZeroNet:
    arch = Architecture((4,), 2, 1, False, 8, 1, hidden_size, 16, 5)
    return MuZeroNet(arch)


def test_save_and_load_round_trip(tmp_path):
    source, target = net(), net()
    path = save_checkpoint(tmp_path, 40, source, optimizer={"lr": torch.tensor(0.1)})
    assert path.name == "step-00000040.pt"
    assert load_weights(path, target) == 40
    for a, b in zip(source.state_dict().values(), target.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    state = torch.load(path, weights_only=True)  # what a worker does: no code runs
    assert state["optimizer"]["lr"].item() == pytest.approx(0.1)


def test_latest_is_the_highest_step_and_only_newer_ones_load(tmp_path):
    model = net()
    for step in (5, 40, 12):
        save_checkpoint(tmp_path, step, model)
    (tmp_path / ".tmp-step-00000099.pt.abcd").write_bytes(b"half written")
    assert [s for s, _ in list_checkpoints(tmp_path)] == [5, 12, 40]
    assert load_latest(tmp_path, net()) == 40
    assert load_latest(tmp_path, net(), newer_than=40) is None
    assert load_latest(tmp_path / "missing", net()) is None


def test_a_worker_refuses_a_checkpoint_of_other_env_settings_that_its_games_store(tmp_path):
    run = {"env": {"id": "CartPole-v1", "observation_scale": [1.0, 0.5, 1.0, 0.5], "stack": 1}}
    save_checkpoint(tmp_path, 10, net(), config=run)
    same = EnvConfig(id="CartPole-v1", observation_scale=(1.0, 0.5, 1.0, 0.5), stack=3)
    assert load_latest(tmp_path, net(), env=same) == 10  # stack: not stored in a game
    other = EnvConfig(id="CartPole-v1", observation_scale=(1.0, 1.0, 1.0, 1.0))
    with pytest.raises(SettingsMismatch) as error:
        load_latest(tmp_path, net(), env=other)
    assert str(error.value) == (
        "step-00000010.pt is of a run with env.observation_scale = [1.0, 0.5, 1.0, 0.5] "
        "(this config: [1.0, 1.0, 1.0, 1.0]); start this process with the run's config"
    )
    assert load_latest(tmp_path, net()) == 10  # without env (evaluate.py, tools): no check


def test_an_unreadable_newest_checkpoint_falls_back_to_the_one_before(tmp_path, capsys):
    save_checkpoint(tmp_path, 10, net())
    checkpoint_path(tmp_path, 20).write_bytes(b"\x00" * 100)
    assert load_latest(tmp_path, net()) == 10
    assert "skipping checkpoint step-00000020.pt" in capsys.readouterr().out


def test_another_architecture_is_one_clear_error(tmp_path):
    path = save_checkpoint(tmp_path, 3, net(hidden_size=16))
    with pytest.raises(ArchitectureMismatch) as error:
        load_weights(path, net(hidden_size=32))
    message = str(error.value)
    assert "step-00000003.pt was made for another network" in message
    assert "hidden_size=16 (this config: 32)" in message
    assert "\n" not in message


def test_a_checkpoint_from_before_the_projector_loads_into_a_network_without_one(tmp_path):
    path = save_checkpoint(tmp_path, 3, net())
    state = torch.load(path, weights_only=True)
    del state["architecture"]["projection_size"]  # as written before the field existed
    torch.save(state, path)
    assert load_weights(path, net()) == 3
    with_projector = MuZeroNet(Architecture((4,), 2, 1, False, 8, 1, 16, 16, 5, projection_size=8))
    with pytest.raises(ArchitectureMismatch, match="projection_size=0 \\(this config: 8\\)"):
        load_weights(path, with_projector)


def test_a_checkpoint_under_the_earlier_names_is_upgraded_and_one_under_todays_is_not():
    old_names = ["representation.0.weight", "dynamics_net.2.bias", "reward_net.0.weight"]
    weights = {name: torch.tensor(float(i)) for i, name in enumerate(old_names)}
    old = {"step": 7, "model": weights, "optimizer": {"state": {}}, "trained_model": weights}
    new = upgrade_checkpoint(old)
    assert list(new) == ["step", "acting_weights", "optimizer", "trained_weights"]
    names = ["representation_net.0.weight", "transition_net.2.bias", "reward_net.0.weight"]
    for key in ("acting_weights", "trained_weights"):
        assert list(new[key]) == names
        assert all(new[key][n] is weights[o] for n, o in zip(names, old_names, strict=True))
    assert new["step"] == 7 and new["optimizer"] is old["optimizer"]
    assert list(old) == ["step", "model", "optimizer", "trained_model"]  # the loaded dict kept
    assert upgrade_checkpoint(new) is new


def test_settings_saved_under_the_old_flat_search_keys_are_compared_under_the_new_ones():
    saved = {  # a checkpoint's config from before [search] had a table per kind
        "search": {"kind": "truncated", "width": 2, "simulations": 50, "discount": 0.99},
        "train": {"weight_decay": 0.1},
    }
    now = Config()
    now.search.truncated.width, now.search.discount = 3, 0.99
    assert changed_settings(saved, now.to_dict()) == "search.truncated.width 2 -> 3"
