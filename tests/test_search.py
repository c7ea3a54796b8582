"""The truncated search on a hand-made model whose answers are known in advance."""

from typing import ClassVar

import numpy as np
import pytest
import torch

from muzero_lite.config import SearchConfig, TruncatedSearchConfig
from muzero_lite.search import search, search_batch, truncated_search
from muzero_lite.search.base import acting_beta
from networks import NetworkOutput


class ChainModel:
    """A deterministic 3-action model; the hidden state is just a state number.

    Root 0 prefers action 0 (logits 3, 2, 1). Action 0 pays 1 at once, action 2 pays 10 one step
    later; the policy at every other state prefers action 0.
        state: 0 --a0 r1--> 1 --> 4          values: v(1) = 2, v(6) = 4, others 0
                 --a1 r0--> 2 --> 5
                 --a2 r0--> 3 --r10--> 6
    """

    next_state: ClassVar = {(0, 0): 1, (0, 1): 2, (0, 2): 3, (1, 0): 4, (2, 0): 5, (3, 0): 6}
    reward: ClassVar = {(0, 0): 1.0, (3, 0): 10.0}
    value: ClassVar = {1: 2.0, 6: 4.0}

    def __init__(self):
        self.calls = 0
        self.batch_sizes = []

    def _out(self, states, rewards):
        logits = torch.tensor([[3.0, 2.0, 1.0] if s == 0 else [1.0, 0.0, 0.0] for s in states])
        return NetworkOutput(
            hidden=torch.tensor(states, dtype=torch.float32)[:, None],
            value=torch.tensor([self.value.get(s, 0.0) for s in states]),
            reward=torch.tensor(rewards),
            policy_logits=logits,
        )

    def initial_inference(self, observations, prev_actions):
        self.calls += 1
        self.batch_sizes.append(len(observations))
        states = [int(s) for s in observations[:, -1, 0].tolist()]  # the root's state number
        return self._out(states, [0.0] * len(observations))

    def recurrent_inference(self, hidden, action):
        self.calls += 1
        self.batch_sizes.append(len(hidden))
        pairs = [
            (int(s), int(a)) for s, a in zip(hidden[:, 0].tolist(), action.tolist(), strict=True)
        ]
        states = [self.next_state.get(p, 7) for p in pairs]
        return self._out(states, [self.reward.get(p, 0.0) for p in pairs])


def run(model, width, depth, greedy=True, beta=1.0, seed=0):
    obs = torch.zeros(1, 1, 4)
    prev = torch.full((1, 1), -1)
    rng = np.random.default_rng(seed)
    (result,) = truncated_search(
        model, obs, prev, width=width, depth=depth, discount=0.5, beta=beta, rng=rng, greedy=greedy
    )
    return result


def test_look_ahead_finds_the_delayed_reward():
    # Q(a0) = mean(1 + .5*2, 1 + .5*0 + .25*0) = 1.5;  Q(a1) = 0
    # Q(a2) = mean(0 + .5*v(3), 0 + .5*10 + .25*v(6)) = mean(0, 6) = 3
    result = run(ChainModel(), width=3, depth=2)
    assert result.q_values.tolist() == pytest.approx([1.5, 0.0, 3.0])
    assert result.action == 2
    # normalised Q = [0.5, 0, 1] -> policy [1/3, 0, 2/3]; root value = 1.5/3 + 2 = 2.5
    assert result.policy.tolist() == pytest.approx([1 / 3, 0.0, 2 / 3])
    assert result.policy.sum() == pytest.approx(1.0, abs=1e-12)
    assert result.root_value == pytest.approx(2.5)


def test_actions_outside_the_top_width_get_the_lowest_candidate_q():
    result = run(
        ChainModel(), width=2, depth=2
    )  # candidates a0, a1 by prior; a2 is never looked at
    assert result.q_values.tolist() == pytest.approx([1.5, 0.0, 0.0])
    assert result.policy.tolist() == pytest.approx([1.0, 0.0, 0.0])
    assert result.action == 0
    assert result.root_value == pytest.approx(1.5)


def test_depth_one_sees_only_the_immediate_reward():
    # Q(a0) = 1 + .5*2 = 2; Q(a1) = 0; Q(a2) = 0 + .5*v(3) = 0
    result = run(ChainModel(), width=3, depth=1)
    assert result.q_values.tolist() == pytest.approx([2.0, 0.0, 0.0])
    assert result.action == 0


@pytest.mark.parametrize(("width", "depth"), [(1, 1), (2, 3), (3, 5), (7, 4)])
def test_one_batched_network_call_per_depth_level(width, depth):
    model = ChainModel()
    run(model, width=width, depth=depth)
    assert model.calls == depth + 1
    assert model.batch_sizes == [1] + [min(width, 3)] * depth


def test_equal_values_give_a_uniform_policy_and_greedy_follows_the_prior():
    class Flat(ChainModel):
        reward, value = {}, {}

    result = run(Flat(), width=3, depth=2)
    assert result.policy.tolist() == pytest.approx([1 / 3] * 3)
    assert result.root_value == 0.0
    assert result.action == 0  # ties go to the action the prior ranks first


def test_sampling_follows_exp_beta_normalised_q():
    # normalised Q = [0.5, 0, 1]; with beta = 2: p ~ [e^1, e^0, e^2]
    counts = np.zeros(3)
    rng = np.random.default_rng(0)
    model = ChainModel()
    obs, prev = torch.zeros(1, 1, 4), torch.full((1, 1), -1)
    for _ in range(4_000):
        (result,) = truncated_search(
            model, obs, prev, width=3, depth=2, discount=0.5, beta=2.0, rng=rng, greedy=False
        )
        counts[result.action] += 1
    expected = np.exp([1.0, 0.0, 2.0]) / np.exp([1.0, 0.0, 2.0]).sum()
    assert counts / counts.sum() == pytest.approx(expected, abs=0.02)


def test_search_interface_takes_one_unbatched_stack():
    truncated = TruncatedSearchConfig(width=3, depth=2, beta_start=1.0, beta_end=1.0)
    config = SearchConfig(discount=0.5, truncated=truncated)
    obs = np.zeros((1, 4), dtype=np.float32)
    result = search(
        ChainModel(), obs, np.array([-1]), config, rng=np.random.default_rng(0), greedy=True
    )
    assert result.action == 2 and result.root_value == pytest.approx(2.5)


def test_roots_searched_together_get_what_each_gets_alone():
    # Root 0 is the chain above; root 3 is one step down a2's path:
    # Q(a0) = mean(10 + .5*v(6), 10 + .5*0 + .25*v(7)) = mean(12, 10) = 11; a1 and a2 pay nothing.
    truncated = TruncatedSearchConfig(width=3, depth=2, beta_start=1.0, beta_end=1.0)
    config = SearchConfig(discount=0.5, truncated=truncated)
    roots = np.array([0.0, 3.0], dtype=np.float32)[:, None, None] * np.ones(4, np.float32)
    prev = np.full((2, 1), -1)
    model = ChainModel()
    together = search_batch(model, roots, prev, config, rng=np.random.default_rng(0))
    assert model.batch_sizes == [2, 6, 6]  # depth + 1 calls for both roots
    assert together[1].q_values.tolist() == pytest.approx([11.0, 0.0, 0.0])
    alone = [
        search(ChainModel(), root, p, config, rng=np.random.default_rng(0))
        for root, p in zip(roots, prev, strict=True)
    ]
    for mine, theirs in zip(together, alone, strict=True):
        assert mine.q_values.tolist() == theirs.q_values.tolist()
        assert mine.policy.tolist() == theirs.policy.tolist()
        assert mine.root_value == theirs.root_value


def test_acting_beta_schedule():
    assert acting_beta(0, 3.0, 15.0, 100) == 3.0
    assert acting_beta(50, 3.0, 15.0, 100) == 9.0
    assert acting_beta(500, 3.0, 15.0, 100) == 15.0
