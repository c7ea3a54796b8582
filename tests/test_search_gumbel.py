"""Gumbel MuZero search on hand-made games whose answers are known in advance."""

import math

import numpy as np
import pytest
from test_search_mcts import OBS, PREV, PathModel, bandit, two_step_game

from muzero_lite.config import GumbelConfig, SearchConfig
from muzero_lite.search import gumbel_search, search
from muzero_lite.search.gumbel import considered_visits


def run(model, simulations, greedy=True, seed=0, **kwargs):
    settings = {"discount": 0.997, "rng": np.random.default_rng(seed), "greedy": greedy} | kwargs
    (result,) = gumbel_search(model, OBS, PREV, simulations=simulations, **settings)
    return result


def softmax(x):
    e = np.exp(np.asarray(x, dtype=np.float64) - np.max(x))
    return e / e.sum()


def root_visits(model, num_actions):
    """Visits per root action: every expansion is one simulation, under its path's first action."""
    return np.bincount([path[0] for path in model.expanded], minlength=num_actions).tolist()


@pytest.mark.parametrize(
    ("m", "simulations", "expected"),
    [
        (4, 8, [0, 0, 0, 0, 1, 1, 2, 2]),  # 4 actions once, then the best 2 twice more
        (2, 4, [0, 0, 1, 1]),
        (16, 2, [0, 0]),  # fewer simulations than m: only the top 2 are looked at
        (1, 3, [0, 1, 2]),
        (3, 7, [0, 0, 0, 1, 1, 2, 2]),
    ],
)
def test_sequential_halving_schedule(m, simulations, expected):
    assert considered_visits(m, simulations) == expected


def test_sequential_halving_keeps_the_better_half():
    # Uniform prior, no noise: 4 arms once each, then the 2 best arms (2 and 1) twice more each.
    model = bandit([0.2, 0.5, 1.0, 0.1])
    result = run(model, simulations=8, max_considered=4)
    assert root_visits(model, 4) == [1, 3, 3, 1]
    assert result.action == 2
    assert np.argmax(result.policy) == 2


def test_policy_target_is_softmax_of_logits_plus_sigma_of_completed_q():
    # Greedy, 2 simulations: the top 2 by prior (a0, a1) are visited once each, exactly.
    logits, q, v = [1.0, 0.5, 0.0], [0.2, 1.0, 0.5], 0.3
    model = bandit(q, logits=logits, root_value=v)
    result = run(model, simulations=2, discount=1.0)
    assert root_visits(model, 3) == [1, 1, 0]
    prior = softmax(logits)
    mixed = (v + 2 * (prior[0] * 0.2 + prior[1] * 1.0) / (prior[0] + prior[1])) / 3
    completed = np.array([0.2, 1.0, mixed])
    sigma = (50 + 1) * 0.1 * (completed - completed.min()) / (completed.max() - completed.min())
    assert result.q_values.tolist() == pytest.approx(completed.tolist())
    assert result.policy.tolist() == pytest.approx(softmax(np.array(logits) + sigma).tolist())
    assert result.policy.sum() == pytest.approx(1.0, abs=1e-12)
    assert result.root_value == pytest.approx(float(result.policy @ completed))
    assert result.action == 1  # the halving's winner: logits + sigma(q), not the prior's favourite


def test_two_simulations_never_give_a_target_worse_than_the_prior():
    # A bandit whose value network is right (v = sum_a prior(a) q(a)): over many Gumbel draws the
    # target improves on the prior, sum_a pi'(a) q(a) >= sum_a prior(a) q(a), every time.
    logits = [1.5, 1.0, 0.2, -0.3, -1.0, 0.7]
    q = [-0.5, 0.3, 1.2, 0.9, -1.0, 0.1]
    prior = softmax(logits)
    v = float(prior @ q)
    gains = []
    for seed in range(300):
        result = run(bandit(q, logits=logits, root_value=v), 2, greedy=False, seed=seed, discount=1)
        gains.append(float(result.policy @ q) - v)
    assert min(gains) >= -1e-12
    assert np.mean(gains) > 0.1


def test_gumbel_top_k_samples_the_first_action_from_the_prior():
    # Gumbel-max: the first action of Gumbel-top-k is a sample from softmax(logits).
    logits = [1.0, 0.0, -1.0, 0.5]
    firsts = []
    for seed in range(3000):
        model = bandit([0.0] * 4, logits=logits)
        run(model, simulations=1, greedy=False, seed=seed)
        firsts.append(model.expanded[0][0])
    assert np.bincount(firsts, minlength=4) / 3000 == pytest.approx(softmax(logits), abs=0.025)


def test_gumbel_finds_the_only_winning_first_move_past_a_lure():
    # a0 pays 0.2 at once and the prior prefers it; only a1 then a2 pays 1.
    for simulations in (20, 50):
        result = run(two_step_game(lure=0.2), simulations=simulations)
        assert result.action == 1
        assert np.argmax(result.policy) == 1


@pytest.mark.parametrize("simulations", [1, 2, 16, 50])
def test_one_network_call_per_simulation(simulations):
    model = two_step_game()
    result = run(model, simulations=simulations, greedy=False)
    assert model.calls == 1 + simulations
    assert model.batch_sizes == [1] * (1 + simulations)
    assert result.policy.sum() == pytest.approx(1.0, abs=1e-12)


def test_greedy_search_is_deterministic_and_uses_no_randomness():
    rng = np.random.default_rng(3)
    state = rng.bit_generator.state
    results = [
        gumbel_search(
            two_step_game(), OBS, PREV, simulations=20, discount=0.997, rng=r, greedy=True
        )[0]
        for r in (rng, np.random.default_rng(4))
    ]
    assert rng.bit_generator.state == state
    assert results[0].policy.tolist() == results[1].policy.tolist()
    assert results[0].action == results[1].action == 1


def test_interior_nodes_use_the_deterministic_improved_policy_selection():
    # Below the root: argmax pi'(a) - N(a) / (1 + sum N). With a uniform prior and equal values
    # pi' is uniform, so the visits go round the actions in order: (0, 0), (0, 1), (0, 2).
    model = PathModel(3, logits=lambda path: [5.0, 0.0, 0.0] if not path else [0.0, 0.0, 0.0])
    run(model, simulations=4, max_considered=1)
    assert model.expanded == [(0,), (0, 0), (0, 1), (0, 2)]


def test_search_dispatches_on_the_kind_setting():
    config = SearchConfig(kind="gumbel", gumbel=GumbelConfig(simulations=20, actions=4))
    model = two_step_game(lure=0.2)
    result = search(
        model, np.zeros((1, 4), np.float32), np.array([-1]), config,
        rng=np.random.default_rng(0), greedy=True,
    )  # fmt: skip
    assert result.action == 1
    assert model.calls == 21
    assert math.isfinite(result.root_value)
