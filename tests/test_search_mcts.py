"""MuZero's MCTS on hand-made games whose answers are known in advance."""

import math

import numpy as np
import pytest
import torch

from muzero_lite.config import ConfigError, MctsConfig, SearchConfig, load_config
from muzero_lite.search import mcts, search
from muzero_lite.search.mcts import choose_by_visits, mcts_search, visit_temperature
from networks import NetworkOutput


class PathModel:
    """A deterministic model whose hidden state is the path of actions from the root.

    The game is given by three functions of a path (a tuple of actions): the policy logits there,
    the reward of the path's last step, and the value there; the defaults are uniform and zero.
    The model records every call, so tests can count calls and see which paths were expanded.
    A batch is answered row by row, so its numbers are exactly those of one row at a time.
    """

    def __init__(self, num_actions, logits=None, reward=None, value=None):
        self.num_actions = num_actions
        self.logits = logits or (lambda path: [0.0] * num_actions)
        self.reward = reward or (lambda path: 0.0)
        self.value = value or (lambda path: 0.0)
        self.paths = []  # hidden state i is paths[i]
        self.expanded = []  # paths expanded by recurrent_inference, in call order
        self.batch_sizes = []  # one entry per network call

    @property
    def calls(self):
        return len(self.batch_sizes)

    def _out(self, paths):
        self.paths += paths
        ids = range(len(self.paths) - len(paths), len(self.paths))
        return NetworkOutput(
            hidden=torch.tensor([[float(i)] for i in ids]),
            value=torch.tensor([float(self.value(p)) for p in paths]),
            reward=torch.tensor([float(self.reward(p)) if p else 0.0 for p in paths]),
            policy_logits=torch.tensor([self.logits(p) for p in paths], dtype=torch.float32),
        )

    def initial_inference(self, observations, prev_actions):
        self.batch_sizes.append(len(observations))
        return self._out([()] * len(observations))  # one root per observation stack

    def recurrent_inference(self, hidden, action):
        self.batch_sizes.append(len(hidden))
        parents = [self.paths[int(i)] for i in hidden[:, 0].tolist()]
        paths = [(*p, int(a)) for p, a in zip(parents, action.tolist(), strict=True)]
        self.expanded += paths
        return self._out(paths)


def two_step_game(lure=0.0):
    """3 actions; only a1 then a2 wins (reward 1), and the prior prefers a0 (which pays `lure`)."""
    return PathModel(
        3,
        logits=lambda path: [1.0, 0.0, 0.0],
        reward=lambda path: {(0,): lure, (1, 2): 1.0}.get(path, 0.0),
    )


def bandit(rewards, logits=None, root_value=0.0):
    """One step: arm a pays rewards[a]; every value is 0 except the root's (`root_value`)."""
    n = len(rewards)
    return PathModel(
        n,
        logits=(lambda path: list(logits)) if logits is not None else None,
        reward=lambda path: rewards[path[0]] if len(path) == 1 else 0.0,
        value=lambda path: root_value if not path else 0.0,
    )


OBS, PREV = torch.zeros(1, 1, 4), torch.full((1, 1), -1)


def run(model, simulations, parallel=1, greedy=True, seed=0, **kwargs):
    settings = {"discount": 0.997, "rng": np.random.default_rng(seed), "greedy": greedy} | kwargs
    return mcts_search(model, OBS, PREV, simulations=simulations, parallel=parallel, **settings)[0]


@pytest.mark.parametrize("parallel", [1, 4])
def test_mcts_finds_the_only_winning_first_move(parallel):
    model = two_step_game()
    result = run(model, simulations=60, parallel=parallel)
    assert (1, 2) in model.expanded
    assert result.action == 1
    assert np.argmax(result.policy) == 1 and np.argmax(result.q_values) == 1


def test_too_few_simulations_follow_the_prior():
    # All values are 0 until (1, 2) is found, so PUCT spreads the visits by the prior alone.
    model = two_step_game()
    result = run(model, simulations=3)
    assert model.expanded == [(0,), (0, 0), (1,)]
    assert result.policy.tolist() == pytest.approx([2 / 3, 1 / 3, 0.0])
    assert result.action == 0


@pytest.mark.parametrize("parallel", [1, 4])
def test_visits_concentrate_on_the_best_arm_of_a_bandit(parallel):
    result = run(bandit([0.2, 0.5, 1.0, 0.1]), simulations=100, parallel=parallel)
    assert result.action == 2
    assert result.policy[2] > 0.5
    assert result.policy[2] > 2 * max(result.policy[[0, 1, 3]])
    assert result.q_values[2] == pytest.approx(1.0)


def test_root_value_is_the_mean_of_the_backed_up_values():
    # Prior 0.7 / 0.3. Simulation 1 takes a0 (all scores 0 at an unvisited root: ties go to the
    # prior) and backs up 1 + 0.5 * v(a0) = 2. Simulation 2 takes a0 again (normalised Q 1 plus
    # c * 0.7 / 2 beats c * 0.3) and then a0 below it (prior), a leaf of value 0: the root gets
    # 1 + 0.5 * 0 = 1. Root value = mean(2, 1) = 1.5; Q(a0) = 1 + 0.5 * mean(2, 0) = 1.5.
    model = PathModel(
        2,
        logits=lambda path: [math.log(0.7), math.log(0.3)],
        reward=lambda path: 1.0 if path == (0,) else 0.0,
        value=lambda path: 2.0 if path == (0,) else 0.0,
    )
    result = run(model, simulations=2, discount=0.5)
    assert model.expanded == [(0,), (0, 0)]
    assert result.root_value == pytest.approx(1.5)
    assert result.policy.tolist() == [1.0, 0.0]
    assert result.q_values.tolist() == pytest.approx([1.5, 1.5])  # unvisited: the root value


@pytest.mark.parametrize(("simulations", "parallel"), [(1, 1), (10, 1), (10, 4), (12, 4), (7, 8)])
def test_one_network_call_per_batch_of_leaves(simulations, parallel):
    model = two_step_game()
    result = run(model, simulations=simulations, parallel=parallel, greedy=False)
    assert model.calls == 1 + math.ceil(simulations / parallel)
    assert model.batch_sizes[0] == 1 and max(model.batch_sizes[1:]) <= parallel
    assert result.policy.sum() == pytest.approx(1.0, abs=1e-12)
    assert (result.policy * simulations).tolist() == pytest.approx(
        np.round(result.policy * simulations).tolist()
    )  # the policy is visit counts over the number of simulations


def test_virtual_loss_spreads_a_batch_over_different_leaves():
    model = bandit([0.0, 0.0, 0.0, 0.0])
    run(model, simulations=4, parallel=4)
    assert sorted(model.expanded) == [(0,), (1,), (2,), (3,)]  # one call, four distinct arms
    assert model.batch_sizes == [1, 4]


def nodes_below(root):
    stack = list(root.children)
    while stack:
        node = stack.pop()
        yield node
        stack += node.children


def capture_root(monkeypatch):
    roots, simulate = [], mcts.simulate

    def spy(model, root, **kwargs):
        roots.append(root)
        simulate(model, root, **kwargs)

    monkeypatch.setattr(mcts, "simulate", spy)
    return roots


def test_dirichlet_noise_only_at_the_root_and_only_in_self_play(monkeypatch):
    roots = capture_root(monkeypatch)
    model = PathModel(3, logits=lambda path: [1.0, 0.0, -1.0] if path else [0.5, 0.0, 2.0])
    run(model, simulations=20, greedy=False, dirichlet_alpha=0.25, noise_fraction=0.25)
    run(model, simulations=20, greedy=True)
    noisy, clean = roots
    root_prior = torch.softmax(torch.tensor([0.5, 0.0, 2.0], dtype=torch.float64), 0).tolist()
    below_prior = torch.softmax(torch.tensor([1.0, 0.0, -1.0], dtype=torch.float64), 0).tolist()
    noisy_prior = [c.prior for c in noisy.children]
    assert sum(noisy_prior) == pytest.approx(1.0)
    assert min(abs(p - q) for p, q in zip(noisy_prior, root_prior, strict=True)) > 1e-6
    assert all(p >= 0.75 * q for p, q in zip(noisy_prior, root_prior, strict=True))
    assert [c.prior for c in clean.children] == root_prior
    for root in (noisy, clean):
        expanded = [node for node in nodes_below(root) if node.children]
        assert len(expanded) > 5
        assert all([c.prior for c in node.children] == below_prior for node in expanded)


def test_greedy_search_is_deterministic_and_uses_no_randomness():
    rng = np.random.default_rng(7)
    state = rng.bit_generator.state
    results = [
        mcts_search(two_step_game(), OBS, PREV, simulations=30, discount=0.997, rng=r, greedy=True)[
            0
        ]
        for r in (rng, np.random.default_rng(1))
    ]
    assert rng.bit_generator.state == state
    assert results[0].policy.tolist() == results[1].policy.tolist()
    assert results[0].action == results[1].action == 1


def test_self_play_noise_changes_the_search_between_seeds():
    policies = {tuple(run(two_step_game(), 30, greedy=False, seed=s).policy) for s in range(5)}
    assert len(policies) > 1


def test_visit_temperature_schedule():
    temperatures, steps = [1.0, 0.5, 0.25], [100, 200]
    assert [visit_temperature(s, temperatures, steps) for s in (0, 99, 100, 199, 200, 10**6)] == [
        1.0,
        1.0,
        0.5,
        0.5,
        0.25,
        0.25,
    ]


def test_actions_are_sampled_with_visit_counts_to_the_power_one_over_temperature():
    visits, q = np.array([1.0, 2.0, 5.0]), np.zeros(3)
    rng = np.random.default_rng(0)
    counts = np.bincount([choose_by_visits(visits, q, 0.5, rng, False) for _ in range(4000)])
    assert counts / 4000 == pytest.approx(np.array([1, 4, 25]) / 30, abs=0.02)
    assert choose_by_visits(visits, q, 0.0, rng, False) == 2
    tie = np.array([3.0, 3.0, 1.0])
    assert choose_by_visits(tie, np.array([0.0, 1.0, 5.0]), 1.0, rng, True) == 1  # ties: Q


def test_search_dispatches_on_the_kind_setting():
    config = SearchConfig(kind="mcts", mcts=MctsConfig(simulations=60, parallel_simulations=2))
    result = search(
        two_step_game(), np.zeros((1, 4), np.float32), np.array([-1]), config,
        rng=np.random.default_rng(0), train_step=0, greedy=True,
    )  # fmt: skip
    assert result.action == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["search.kind=alphazero"], "search.kind must be one of: truncated, mcts, gumbel"),
        (["search.mcts.simulations=0"], "search.mcts.simulations must be >= 1"),
        (
            ["search.mcts.temperatures=[1.0, 0.5]"],
            "one more entry than search.mcts.temperature_steps",
        ),
        (
            ["search.mcts.temperature_steps=[200, 100]"],
            "search.mcts.temperature_steps must be increasing",
        ),
        (["search.mcts.noise_fraction=1.5"], "must be in [0, 1]"),
    ],
)
def test_bad_search_settings_name_the_problem(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(None, overrides)


def test_search_kind_and_tree_settings_load_from_the_command_line():
    overrides = ["search.kind=mcts", "search.mcts.temperatures=[1.0, 0.0]"]
    overrides += ["search.mcts.temperature_steps=[500]", "search.mcts.simulations=8"]
    config = load_config(None, overrides)
    assert config.search.kind == "mcts" and config.search.mcts.simulations == 8
    mcts = config.search.mcts
    assert mcts.temperatures == [1.0, 0.0] and mcts.temperature_steps == [500]
