"""Network shapes, input encoding and the properties the search relies on."""

import torch

from networks import Architecture, MuZeroNet
from networks.model import _one_hot


def arch(pixels: bool) -> Architecture:
    shape = (84, 84) if pixels else (4,)
    return Architecture(
        shape, 3, 2, pixels, channels=8, blocks=1, hidden_size=16, head_size=16, support_size=5
    )


def test_vector_network_shapes_and_zero_initial_value_and_reward():
    net = MuZeroNet(arch(pixels=False)).eval()
    root = net.initial_inference(torch.randn(5, 2, 4), torch.tensor([[-1, 0]] * 5))
    assert root.hidden.shape == (5, 16) and root.policy_logits.shape == (5, 3)
    assert root.value.abs().max() < 1e-3  # value and reward heads start at 0 (float rounding)
    step = net.recurrent_inference(root.hidden, torch.tensor([0, 1, 2, 0, 1]))
    assert step.hidden.shape == (5, 16) and step.reward.abs().max() < 1e-3


def test_pixel_network_shapes_and_hidden_state_scaled_to_unit_range():
    net = MuZeroNet(arch(pixels=True)).eval()
    frames = torch.randint(0, 256, (2, 2, 84, 84), dtype=torch.uint8)
    root = net.initial_inference(frames, torch.tensor([[-1, 2], [0, 1]]))
    assert root.hidden.shape == (2, 8, 6, 6)
    flat = root.hidden.flatten(1)
    assert flat.min(1).values.tolist() == [0.0, 0.0]
    assert torch.allclose(flat.max(1).values, torch.ones(2))
    step = net.recurrent_inference(root.hidden, torch.tensor([2, 0]))
    assert step.hidden.shape == (2, 8, 6, 6) and step.policy_logits.shape == (2, 3)


def test_training_calls_give_logits_of_every_head():
    net = MuZeroNet(arch(pixels=False))
    hidden = net.represent(torch.randn(4, 2, 4), torch.zeros(4, 2, dtype=torch.long))
    out = net.predict(hidden)
    assert (
        out.value_logits.shape == (4, 11)
        and out.policy_logits.shape == (4, 3)
        and out.exploration_logits.shape == (4, 3)
    )
    next_hidden, reward = net.dynamics(hidden, torch.tensor([0, 1, 2, 0]))
    assert next_hidden.shape == (4, 16) and reward.shape == (4, 11)


def test_no_action_encodes_as_zeros():
    assert _one_hot(torch.tensor([-1, 0, 2]), 3).tolist() == [[0, 0, 0], [1, 0, 0], [0, 0, 1]]
