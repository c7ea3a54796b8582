"""The MuZero loss: exact values at initialisation, and the exploration term's gradients."""

import math

import numpy as np
import pytest
import torch

from muzero_lite.losses import exploration_losses, muzero_loss, scale_gradient, soft_cross_entropy
from muzero_lite.replay.buffer import Batch
from networks import Architecture, MuZeroNet, scalar_to_support


def test_scale_gradient_is_identity_forward_and_scales_backward():
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    y = scale_gradient(x, 0.5)
    assert y.tolist() == [1.0, -2.0]
    y.sum().backward()
    assert x.grad.tolist() == [0.5, 0.5]


def test_the_exploration_network_learns_from_a_detached_policy():
    policy = torch.zeros(1, 2, requires_grad=True)
    exploration = torch.tensor([[math.log(0.9), math.log(0.1)]], requires_grad=True)
    predictability, _ = exploration_losses(policy, exploration)
    predictability.sum().backward()
    assert policy.grad is None  # no gradient reaches the policy from the exploration's own loss
    # d CE(target p, softmax(e)) / d e = softmax(e) - p = [0.9 - 0.5, 0.1 - 0.5]
    assert exploration.grad[0].tolist() == pytest.approx([0.4, -0.4])


def test_the_policy_is_pushed_away_from_what_the_exploration_network_predicts():
    policy = torch.zeros(1, 2, requires_grad=True)  # uniform policy
    exploration = torch.tensor([[math.log(0.9), math.log(0.1)]], requires_grad=True)
    _, novelty = exploration_losses(policy, exploration)
    fraction = 0.1
    (-fraction * novelty).sum().backward()  # the policy loss is *reduced* by this term
    assert exploration.grad is None  # the policy side sends nothing into the exploration network
    # novelty = -sum_i p_i log q_i with p = softmax(z): d/dz_j = p_j (c_j - sum_i p_i c_i),
    # c = -log q = [0.10536, 2.30259], p = [0.5, 0.5] -> d/dz = [-0.54931, 0.54931]
    c = np.array([-math.log(0.9), -math.log(0.1)])
    expected = -fraction * 0.5 * (c - c.mean())
    assert policy.grad[0].tolist() == pytest.approx(expected.tolist(), abs=1e-6)
    # A gradient step lowers the logit of the action the exploration network expects (action 0).
    assert policy.grad[0, 0] > 0 > policy.grad[0, 1]


def tiny_batch(batch_size=3, unroll=2, num_actions=2, weights=1.0) -> Batch:
    rng = np.random.default_rng(0)
    return Batch(
        observations=rng.normal(size=(batch_size, 1, 4)).astype(np.float32),
        prev_actions=np.full((batch_size, 1), -1, dtype=np.int64),
        actions=rng.integers(num_actions, size=(batch_size, unroll)),
        target_values=rng.normal(size=(batch_size, unroll + 1)).astype(np.float32) * 10,
        target_rewards=rng.normal(size=(batch_size, unroll + 1)).astype(np.float32),
        target_policies=np.full((batch_size, unroll + 1, num_actions), 0.5, dtype=np.float32),
        policy_mask=np.ones((batch_size, unroll + 1), dtype=np.float32),
        value_mask=np.ones((batch_size, unroll + 1), dtype=np.float32),
        weights=np.full(batch_size, weights, dtype=np.float32),
        leaf_indices=np.arange(batch_size),
    )


def net(support_size=5) -> MuZeroNet:
    torch.manual_seed(0)
    return MuZeroNet(Architecture((4,), 2, 1, False, 8, 1, 16, 16, support_size))


def test_new_value_and_reward_heads_give_log_of_the_support_size_per_step():
    # Zero-initialised heads predict a uniform distribution over 2S+1 = 11 bins: CE = log 11
    # at each of the K+1 = 3 value steps and the K = 2 reward steps, whatever the targets.
    loss = muzero_loss(net(), tiny_batch(), exploration_fraction=0.1)
    assert loss.value == pytest.approx(3 * math.log(11), rel=1e-5)
    assert loss.reward == pytest.approx(2 * math.log(11), rel=1e-5)
    assert loss.value_errors.shape == (3,)
    np.testing.assert_allclose(
        loss.value_errors, np.abs(tiny_batch().target_values[:, 0]), atol=1e-3
    )


def test_importance_weights_scale_the_loss():
    full = muzero_loss(net(), tiny_batch(weights=1.0), exploration_fraction=0.1)
    half = muzero_loss(net(), tiny_batch(weights=0.5), exploration_fraction=0.1)
    assert half.total.item() == pytest.approx(0.5 * full.total.item(), rel=1e-5)


def test_masked_steps_have_no_policy_or_exploration_loss():
    batch = tiny_batch()
    masked = Batch(**{**vars(batch), "policy_mask": np.zeros_like(batch.policy_mask)})
    loss = muzero_loss(net(), masked, exploration_fraction=0.1)
    assert loss.policy == 0.0 and loss.exploration == 0.0


def with_next_states(batch: Batch, mask) -> Batch:
    """tiny_batch plus observed states t + 1 .. t + K (random vectors) and their mask."""
    rng = np.random.default_rng(1)
    b, k = batch.actions.shape
    return Batch(
        **{
            **vars(batch),
            "next_observations": rng.normal(size=(b, k, 1, 4)).astype(np.float32),
            "next_prev_actions": batch.actions[:, :, None].copy(),
            "next_mask": np.array(mask, dtype=np.float32),
        }
    )


def test_consistency_is_one_minus_cosine_to_the_observed_states_by_hand():
    model = net()
    batch = with_next_states(tiny_batch(), mask=[[1, 1], [1, 0], [0, 0]])
    loss = muzero_loss(model, batch, exploration_fraction=0.1, consistency_weight=2.0)
    with torch.no_grad():  # the same quantity step by step
        hidden = model.represent(torch.as_tensor(batch.observations), torch.tensor([[-1]] * 3))
        expected = np.zeros(3)
        for k in range(2):
            hidden, _ = model.dynamics(hidden, torch.as_tensor(batch.actions[:, k]))
            observed = model.represent(
                torch.as_tensor(batch.next_observations[:, k]),
                torch.as_tensor(batch.next_prev_actions[:, k]),
            )
            cosine = torch.nn.functional.cosine_similarity(hidden, observed, dim=1).numpy()
            expected += 2.0 * batch.next_mask[:, k] * (1 - cosine)  # 1/K scales the gradient
    assert loss.consistency == pytest.approx(expected.mean(), rel=1e-5)
    assert loss.consistency > 0
    off = muzero_loss(model, batch, exploration_fraction=0.1)
    assert off.consistency == 0.0
    assert loss.total.item() == pytest.approx(off.total.item() + expected.mean(), rel=1e-5)


def test_with_a_projector_the_dynamics_side_is_predicted_and_the_observed_side_is_a_target():
    torch.manual_seed(0)
    model = MuZeroNet(Architecture((4,), 2, 1, False, 8, 1, 16, 16, 5, projection_size=8))
    batch = with_next_states(tiny_batch(), mask=[[1, 1], [1, 0], [0, 1]])
    loss = muzero_loss(model, batch, exploration_fraction=0.1, consistency_weight=2.0)
    off = muzero_loss(model, batch, exploration_fraction=0.1)
    model.zero_grad()
    (loss.total - off.total).backward()  # the gradient of the consistency term alone
    found = gradients(model)

    model.zero_grad()  # the same term by hand, the observed side's projection detached
    hidden = model.represent(torch.as_tensor(batch.observations), torch.tensor([[-1]] * 3))
    expected = torch.zeros(3)
    for k in range(2):
        hidden = model.next_hidden(
            scale_gradient(hidden, 0.5) if k else hidden, batch_actions(batch, k)
        )
        with torch.no_grad():
            observed = model.projector(
                model.represent(
                    torch.as_tensor(batch.next_observations[:, k]),
                    torch.as_tensor(batch.next_prev_actions[:, k]),
                )
            )
        predicted = model.predictor(model.projector(hidden))
        cosine = torch.nn.functional.cosine_similarity(predicted, observed, dim=1)
        mask = torch.as_tensor(batch.next_mask[:, k])
        expected = expected + 2.0 * mask * (1 - cosine) / 2  # steps k >= 1 scaled by 1/K = 1/2
    assert loss.consistency == pytest.approx(2 * expected.mean().item(), rel=1e-5)
    expected.mean().backward()
    by_hand = gradients(model)
    for name, grad in by_hand.items():
        torch.testing.assert_close(found[name], grad, rtol=1e-4, atol=1e-7, msg=name)
    assert by_hand["predictor.0.weight"].abs().sum() > 0  # the predictor learns
    assert by_hand["representation_net.0.weight"].abs().sum() > 0  # through the dynamics side


def batch_actions(batch: Batch, k: int) -> torch.Tensor:
    return torch.as_tensor(batch.actions[:, k])


def gradients(model: MuZeroNet) -> dict[str, torch.Tensor]:
    """Each parameter's gradient, zeros where none arrived."""
    return {
        name: p.grad.clone() if p.grad is not None else torch.zeros_like(p)
        for name, p in model.named_parameters()
    }


def test_consistency_at_drawn_steps_reads_those_states_and_scales_the_gradient_by_one_over_j():
    model = net()
    every = with_next_states(tiny_batch(), mask=[[0, 1], [0, 1], [0, 1]])  # only k = 2 counts
    second = Batch(  # the same positions carrying step k = 2 alone (J = 1)
        **{
            **vars(every),
            "next_observations": every.next_observations[:, 1:],
            "next_prev_actions": every.next_prev_actions[:, 1:],
            "next_mask": every.next_mask[:, 1:],
            "next_steps": np.full((3, 1), 2),
        }
    )
    grads = []
    for batch in (every, second):
        loss = muzero_loss(model, batch, exploration_fraction=0.1, consistency_weight=2.0)
        off = muzero_loss(model, batch, exploration_fraction=0.1)
        model.zero_grad()
        (loss.total - off.total).backward()
        grads.append((loss.consistency, gradients(model)))
    (all_value, all_grad), (one_value, one_grad) = grads
    assert one_value == pytest.approx(all_value, rel=1e-6) and one_value > 0
    for name, grad in all_grad.items():  # 1/K = 1/2 with all steps, 1/J = 1 with one
        torch.testing.assert_close(one_grad[name], 2 * grad, rtol=1e-4, atol=1e-7, msg=name)


def parameters_of(model: MuZeroNet, *parts: str) -> list[torch.Tensor]:
    return [p for part in parts for p in getattr(model, part).parameters()]


TRUNK_AND_HEADS = ("representation_net", "transition_net", "value_net", "reward_net", "policy_net")


def test_the_exploration_networks_own_loss_trains_nothing_but_the_exploration_network():
    model = net()
    loss = muzero_loss(model, tiny_batch(), exploration_fraction=0.1)
    others = parameters_of(model, *TRUNK_AND_HEADS)
    grads = torch.autograd.grad(loss.terms["exploration"], others, allow_unused=True)
    assert all(g is None or not g.any() for g in grads)  # exactly zero on every other weight
    own = torch.autograd.grad(loss.terms["exploration"], parameters_of(model, "exploration_net"))
    assert any(g.abs().sum() > 0 for g in own)


def test_the_novelty_term_sends_nothing_into_the_exploration_network():
    # The policy term is cross-entropy to the search policy minus fraction x novelty; only the
    # novelty part could reach the exploration network, and it reads detached logits.
    model = net()
    loss = muzero_loss(model, tiny_batch(), exploration_fraction=0.5)
    grads = torch.autograd.grad(
        loss.terms["policy"], parameters_of(model, "exploration_net"), allow_unused=True
    )
    assert all(g is None or not g.any() for g in grads)


def net_with_live_heads() -> MuZeroNet:
    """net() with random (not zero) value and reward outputs, so both send gradient back."""
    model = net()
    with torch.no_grad():
        for head in (model.value_net, model.reward_net):
            head[-1].weight.normal_(0, 0.5, generator=torch.Generator().manual_seed(1))
    return model


def one_value_step(k: int, unroll: int = 2) -> Batch:
    """tiny_batch whose only loss into the trunk is the value at unroll step k."""
    batch = tiny_batch(unroll=unroll)
    value_mask = np.zeros_like(batch.value_mask)
    value_mask[:, k] = 1
    return Batch(
        **{**vars(batch), "value_mask": value_mask, "policy_mask": np.zeros_like(value_mask)}
    )


@pytest.mark.parametrize(("k", "halvings"), [(0, 0), (1, 0), (2, 1)])
def test_heads_read_unscaled_states_and_only_the_next_dynamics_step_halves_the_gradient(
    k, halvings
):
    # The MuZero pseudocode: the heads at step k read hidden state k as it is; only the copy that
    # enters dynamics step k + 1 (for k >= 1) has its gradient halved. So the value at step k
    # sends the representation exactly 0.5^(k - 1) (k >= 1) times the gradient of the plain
    # chain, times 1/K for k >= 1. (The old placement halved at every dynamics output: 0.5^k.)
    model = net_with_live_heads()
    with torch.no_grad():  # the reward head then sends nothing back into the hidden states
        model.reward_net[0].weight.zero_()
    batch = one_value_step(k)
    representation = parameters_of(model, "representation_net")
    loss = muzero_loss(model, batch, exploration_fraction=0.0)
    got = torch.autograd.grad(loss.total, representation)

    hidden = model.represent(torch.as_tensor(batch.observations), torch.tensor([[-1]] * 3))
    for step in range(k):  # the same chain by hand, with no gradient scaling
        hidden = model.next_hidden(hidden, torch.as_tensor(batch.actions[:, step]))
    target = scalar_to_support(torch.as_tensor(batch.target_values[:, k]), 5)
    plain = soft_cross_entropy(model.predict(hidden).value_logits, target).mean()
    step_scale = 1.0 if k == 0 else 1.0 / 2  # 1/K with K = 2
    expected = torch.autograd.grad(plain * step_scale * 0.5**halvings, representation)
    assert all(e.abs().sum() > 0 for e in expected)
    # Float32 rounding only: the loss unrolls in other calls than the chain by hand, and the
    # order of a sum depends on the CPU's kernels (AVX2 against AVX-512 differ by ~3e-8 here,
    # on gradients up to ~0.1-1). A misplaced halving is off by a factor of 2 everywhere.
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-7)


def test_the_reward_head_reads_the_state_that_enters_the_dynamics_step():
    # Reward k = 1 reads hidden state 0 as it is; reward k = 2 reads hidden state 1 with its
    # gradient halved, like the dynamics step it belongs to.
    model = net_with_live_heads()
    batch = tiny_batch()
    zero = np.zeros_like(batch.value_mask)
    for k, halving in ((1, 1.0), (2, 0.5)):
        only = np.zeros_like(zero)
        only[:, k] = 1
        b = Batch(**{**vars(batch), "value_mask": only, "policy_mask": zero})
        with torch.no_grad():  # the value head then sends nothing back into the hidden states
            model.value_net[0].weight.zero_()
        loss = muzero_loss(model, b, exploration_fraction=0.0)
        representation = parameters_of(model, "representation_net")
        got = torch.autograd.grad(loss.total, representation)
        hidden = model.represent(torch.as_tensor(b.observations), torch.tensor([[-1]] * 3))
        for step in range(k - 1):
            hidden = model.next_hidden(hidden, torch.as_tensor(b.actions[:, step]))
        target = scalar_to_support(torch.as_tensor(b.target_rewards[:, k]), 5)
        logits = model.reward_logits(hidden, torch.as_tensor(b.actions[:, k - 1]))
        plain = soft_cross_entropy(logits, target).mean() * 0.5 * halving  # 1/K, halving
        expected = torch.autograd.grad(plain, representation)
        assert all(e.abs().sum() > 0 for e in expected)
        for g, e in zip(got, expected, strict=True):  # float32 rounding only (see above)
            torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-7)


def test_no_value_or_reward_loss_past_the_cut_of_a_truncated_game():
    # value_mask [1, 1, 0]: the value at steps 0 and 1 and the reward into step 1 remain. New
    # heads give log 11 per step (see above): value 2 log 11, reward log 11.
    batch = tiny_batch()
    cut = Batch(**{**vars(batch), "value_mask": np.tile([1.0, 1.0, 0.0], (3, 1)).astype("f4")})
    loss = muzero_loss(net(), cut, exploration_fraction=0.1)
    assert loss.value == pytest.approx(2 * math.log(11), rel=1e-5)
    assert loss.reward == pytest.approx(1 * math.log(11), rel=1e-5)


def test_the_logged_policy_entropy_is_that_of_the_policy_head_at_the_root_by_hand():
    model, batch = net(), tiny_batch()
    loss = muzero_loss(model, batch, exploration_fraction=0.1)
    with torch.no_grad():
        hidden = model.represent(torch.as_tensor(batch.observations), torch.tensor([[-1]] * 3))
        p = torch.softmax(model.predict(hidden).policy_logits, dim=-1)
    assert loss.policy_entropy == pytest.approx(float(-(p * p.log()).sum(-1).mean()), rel=1e-5)
    assert 0 < loss.policy_entropy <= math.log(2)
