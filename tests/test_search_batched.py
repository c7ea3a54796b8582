"""Every search kind over several roots at once: each root gets exactly what it gets alone, drawn
from its own generator, and the roots share the network calls."""

import math

import numpy as np
import pytest
import torch
from test_search_mcts import PathModel

from muzero_lite.config import GumbelConfig, MctsConfig, SearchConfig, TruncatedSearchConfig
from muzero_lite.search import per_root, search, search_batch


class ForestModel(PathModel):
    """A PathModel with one game per root: a path starts with its root's number (the stacked
    observation's last value), then the actions. Rewards and values differ from root to root and
    from action to action, so the trees, and the noise each root draws, lead different ways."""

    def __init__(self):
        super().__init__(
            4,
            logits=lambda path: [math.sin(path[0] + len(path) + 2 * a) for a in range(4)],
            reward=lambda path: (
                ((path[0] + 2 * path[-1] + len(path)) % 5) / 4 if len(path) > 1 else 0.0
            ),
            value=lambda path: ((path[0] + 3 * sum(path[1:])) % 4) / 8,
        )

    def initial_inference(self, observations, prev_actions):
        self.batch_sizes.append(len(observations))
        return self._out([(int(root),) for root in observations[:, -1, 0].tolist()])


ROOTS = 3
OBS = np.arange(ROOTS, dtype=np.float32)[:, None, None] * np.ones(4, np.float32)  # [3, 1, 4]
PREV = np.full((ROOTS, 1), -1)  # [3, 1]
CONFIGS = {
    "truncated": SearchConfig(
        kind="truncated",
        discount=0.9,
        truncated=TruncatedSearchConfig(width=3, depth=2, beta_start=2.0, beta_end=2.0),
    ),
    "mcts": SearchConfig(
        kind="mcts", discount=0.9, mcts=MctsConfig(simulations=10, parallel_simulations=4)
    ),
    "gumbel": SearchConfig(
        kind="gumbel", discount=0.9, gumbel=GumbelConfig(simulations=8, actions=4)
    ),
}


def generators():
    return [np.random.default_rng(10 + i) for i in range(ROOTS)]


def assert_same(mine, theirs):
    np.testing.assert_array_equal(mine.policy, theirs.policy)
    np.testing.assert_array_equal(mine.q_values, theirs.q_values)
    np.testing.assert_array_equal(mine.prior_logits, theirs.prior_logits)
    assert mine.root_value == theirs.root_value
    assert mine.action == theirs.action


@pytest.mark.parametrize("greedy", [False, True])
@pytest.mark.parametrize("kind", CONFIGS)
def test_each_root_of_a_batch_gets_exactly_what_it_gets_alone(kind, greedy):
    config = CONFIGS[kind]
    batch_rngs, alone_rngs = generators(), generators()
    together = search_batch(ForestModel(), OBS, PREV, config, rng=batch_rngs, greedy=greedy)
    alone = [
        search(ForestModel(), OBS[i], PREV[i], config, rng=alone_rngs[i], greedy=greedy)
        for i in range(ROOTS)
    ]
    for mine, theirs in zip(together, alone, strict=True):
        assert_same(mine, theirs)
    for batch_rng, alone_rng in zip(batch_rngs, alone_rngs, strict=True):  # the same draws
        assert batch_rng.bit_generator.state == alone_rng.bit_generator.state
    assert len({r.q_values.tobytes() for r in together}) == ROOTS  # the three roots differ


@pytest.mark.parametrize("kind", ["truncated", "gumbel"])
def test_a_single_generator_is_drawn_from_root_by_root(kind):
    # Truncated and Gumbel draw once per root (the action, the Gumbel noise): one shared generator
    # gives what one-root searches give drawing from it one after another.
    config = CONFIGS[kind]
    together = search_batch(ForestModel(), OBS, PREV, config, rng=np.random.default_rng(5))
    shared = np.random.default_rng(5)
    for i, mine in enumerate(together):
        assert_same(mine, search(ForestModel(), OBS[i], PREV[i], config, rng=shared))


@pytest.mark.parametrize(("simulations", "parallel"), [(1, 1), (7, 1), (10, 4), (12, 4), (5, 8)])
def test_mcts_costs_one_call_per_round_of_leaves_whatever_the_roots(simulations, parallel):
    config = SearchConfig(
        kind="mcts", mcts=MctsConfig(simulations=simulations, parallel_simulations=parallel)
    )
    model = ForestModel()
    search_batch(model, OBS, PREV, config, rng=generators())
    assert model.calls == 1 + math.ceil(simulations / parallel)
    assert model.batch_sizes[0] == ROOTS
    # Every round holds each root's leaves (at least one each, at most `parallel` each).
    assert all(ROOTS <= size <= ROOTS * parallel for size in model.batch_sizes[1:])
    assert sum(model.batch_sizes[1:]) <= ROOTS * simulations


@pytest.mark.parametrize("simulations", [1, 2, 8, 20])
def test_gumbel_costs_one_call_per_simulation_whatever_the_roots(simulations):
    config = SearchConfig(kind="gumbel", gumbel=GumbelConfig(simulations=simulations, actions=4))
    model = ForestModel()
    search_batch(model, OBS, PREV, config, rng=generators())
    assert model.batch_sizes == [ROOTS] * (1 + simulations)  # one leaf per root per call


@pytest.mark.parametrize("depth", [1, 3])
def test_truncated_costs_one_call_per_depth_level_whatever_the_roots(depth):
    truncated = TruncatedSearchConfig(width=2, depth=depth)
    model = ForestModel()
    search_batch(model, OBS, PREV, SearchConfig(truncated=truncated), rng=generators())
    assert model.batch_sizes == [ROOTS] + [ROOTS * 2] * depth


@pytest.mark.parametrize("kind", CONFIGS)
def test_a_wrong_number_of_generators_is_refused_before_any_network_call(kind):
    model = ForestModel()
    with pytest.raises(ValueError, match="got 2 generators for 3 roots"):
        search_batch(model, OBS, PREV, CONFIGS[kind], rng=generators()[:2])
    assert model.calls == 0


def test_per_root_shares_one_generator_or_checks_one_per_root():
    rng = np.random.default_rng(0)
    assert per_root(rng, 3) == [rng, rng, rng]
    rngs = generators()
    assert per_root(tuple(rngs), 3) == rngs
    with pytest.raises(ValueError, match="got 3 generators for 1 roots"):
        per_root(rngs, 1)


def test_the_toy_model_answers_a_batch_row_by_row():
    # The exactness above rests on this: a batch's rows are what each row gives alone.
    model = ForestModel()
    out = model.initial_inference(torch.as_tensor(OBS), torch.as_tensor(PREV))
    step = model.recurrent_inference(out.hidden, torch.tensor([2, 0, 1]))
    assert model.paths[-3:] == [(0, 2), (1, 0), (2, 1)]
    alone = ForestModel()
    first = alone.initial_inference(torch.as_tensor(OBS[1:2]), torch.as_tensor(PREV[1:2]))
    one = alone.recurrent_inference(first.hidden, torch.tensor([0]))
    assert one.policy_logits[0].tolist() == step.policy_logits[1].tolist()
    assert one.reward.tolist() == step.reward[1:2].tolist()
    assert one.value.tolist() == step.value[1:2].tolist()
