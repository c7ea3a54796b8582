"""MuZero unroll targets against sums written out by hand (discount 0.5, rewards [1, 2, 3])."""

import numpy as np
import pytest

from muzero_lite.games import GameRecord
from muzero_lite.replay.targets import (
    absorbing,
    clip_to_game,
    has_move,
    in_game,
    n_step_parts,
    next_states,
    reward_targets,
    unroll_actions,
    unroll_targets,
    value_mask,
    value_target,
)

REWARDS = np.array([1.0, 2.0, 3.0], dtype=np.float32)
TERMINATED_VALUES = np.array([10.0, 20.0, 30.0, 0.0], dtype=np.float32)
TRUNCATED_VALUES = np.array([10.0, 20.0, 30.0, 40.0], dtype=np.float32)
POLICIES = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.25, 0.25, 0.5]], dtype=np.float32)
ACTIONS = np.array([0, 1, 2])


def game(terminated: bool, root_values: np.ndarray) -> GameRecord:
    return GameRecord(
        observations=np.zeros((4, 2), dtype=np.float32),
        actions=ACTIONS,
        rewards=REWARDS,
        policies=POLICIES,
        root_values=root_values,
        terminated=terminated,
        truncated=not terminated,
    )


def test_two_step_values_of_a_terminated_game():
    expected = [
        1 + 0.5 * 2 + 0.25 * 30,  # u=0: two rewards, then bootstrap from root_values[2]
        2 + 0.5 * 3 + 0.25 * 0,  # u=1: the second step ends the game: root_values[3] = 0
        3 + 0.5 * 0,  # u=2: one reward left
        0,  # u=3: the final state, root_values[3] = 0
        0,  # u=4: past the end, absorbing
        0,  # u=5
    ]
    u = np.arange(6)
    np.testing.assert_allclose(value_target(REWARDS, TERMINATED_VALUES, u, 2, 0.5), expected)


def test_two_step_values_of_a_truncated_game_bootstrap_from_the_final_state():
    expected = [
        1 + 0.5 * 2 + 0.25 * 30,  # u=0
        2 + 0.5 * 3 + 0.25 * 40,  # u=1: bootstrap from the truncated final state
        3 + 0.5 * 40,  # u=2
        40,  # u=3: the final state's own estimate
        0,  # u=4: past the end, absorbing
    ]
    u = np.arange(5)
    np.testing.assert_allclose(value_target(REWARDS, TRUNCATED_VALUES, u, 2, 0.5), expected)


def test_td_steps_longer_than_the_game_and_one_step():
    whole = 1 + 0.5 * 2 + 0.25 * 3  # 2.75
    assert value_target(REWARDS, TERMINATED_VALUES, 0, 5, 0.5) == pytest.approx(whole)
    assert value_target(REWARDS, TRUNCATED_VALUES, 0, 5, 0.5) == pytest.approx(whole + 0.125 * 40)
    assert value_target(REWARDS, TRUNCATED_VALUES, 1, 1, 0.5) == pytest.approx(2 + 0.5 * 30)
    assert value_target(REWARDS, TRUNCATED_VALUES, 0, 2, 1.0) == pytest.approx(1 + 2 + 30)


def test_reward_targets_along_the_unroll():
    # k = 0 has no step into it; k >= 1 is rewards[t + k - 1] until the game ends.
    np.testing.assert_array_equal(reward_targets(REWARDS, 0, 4), [0, 1, 2, 3, 0])
    np.testing.assert_array_equal(
        reward_targets(REWARDS, np.array([1, 2]), 2), [[0, 2, 3], [0, 3, 0]]
    )


def test_unroll_targets_near_and_past_the_end_of_a_terminated_game():
    targets = unroll_targets(game(True, TERMINATED_VALUES), 1, 3, 2, 0.5, np.random.default_rng(0))
    np.testing.assert_allclose(targets.values, [2 + 0.5 * 3, 3, 0, 0])  # u = 1, 2, 3, 4
    np.testing.assert_array_equal(targets.rewards, [0, 2, 3, 0])
    np.testing.assert_array_equal(targets.policies, [POLICIES[1], POLICIES[2], [0] * 3, [0] * 3])
    np.testing.assert_array_equal(targets.policy_mask, [1, 1, 0, 0])
    assert targets.actions[:2].tolist() == [1, 2]  # actions[1], actions[2]; then random
    assert 0 <= targets.actions[2] < 3
    assert targets.actions.dtype == np.int64
    assert targets.values.dtype == targets.rewards.dtype == targets.policies.dtype == np.float32


def test_past_the_cut_of_a_truncated_game_value_and_reward_are_unknown_not_zero():
    # From t = 1 with K = 3 the unroll reaches u = 1, 2, 3 (the final state) and 4 (past it).
    rng = np.random.default_rng(0)
    truncated = unroll_targets(game(False, TRUNCATED_VALUES), 1, 3, 2, 0.5, rng)
    np.testing.assert_array_equal(truncated.value_mask, [1, 1, 1, 0])
    terminated = unroll_targets(game(True, TERMINATED_VALUES), 1, 3, 2, 0.5, rng)
    np.testing.assert_array_equal(terminated.value_mask, [1, 1, 1, 1])  # absorbing: trained
    assert truncated.value_mask.dtype == np.float32


def test_a_terminated_game_never_bootstraps_even_from_a_nonzero_stored_final_value():
    record = game(True, np.array([10.0, 20.0, 30.0, 99.0], dtype=np.float32))
    targets = unroll_targets(record, 1, 2, 2, 0.5, np.random.default_rng(0))
    np.testing.assert_allclose(targets.values, [2 + 0.5 * 3, 3, 0])


def test_batched_positions_equal_one_at_a_time():
    record = game(False, TRUNCATED_VALUES)
    t = np.array([0, 2, 1, 3])
    batched = unroll_targets(record, t, 2, 2, 0.5, np.random.default_rng(0))
    assert batched.values.shape == (4, 3) and batched.policies.shape == (4, 3, 3)
    assert batched.actions.shape == (4, 2)
    for row, position in enumerate(t):
        single = unroll_targets(record, position, 2, 2, 0.5, np.random.default_rng(0))
        np.testing.assert_array_equal(batched.values[row], single.values)
        np.testing.assert_array_equal(batched.rewards[row], single.rewards)
        np.testing.assert_array_equal(batched.policies[row], single.policies)
        np.testing.assert_array_equal(batched.policy_mask[row], single.policy_mask)
    np.testing.assert_allclose(batched.values[1], [23, 40, 0])  # t=2: u = 2, 3, 4
    np.testing.assert_allclose(
        batched.values[3], [40, 0, 0]
    )  # t=3: the final state, then absorbing


def test_actions_past_the_end_are_uniformly_random():
    actions = unroll_actions(ACTIONS, np.full(3000, 2), 3, 3, np.random.default_rng(7))
    assert (actions[:, 0] == 2).all()  # actions[2] was played
    counts = np.bincount(actions[:, 1:].ravel(), minlength=3)
    np.testing.assert_allclose(counts / counts.sum(), [1 / 3] * 3, atol=0.02)


def test_positions_outside_the_game_are_rejected():
    with pytest.raises(ValueError, match="positions"):
        unroll_targets(game(True, TERMINATED_VALUES), 4, 1, 1, 0.5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="non-negative"):
        value_target(REWARDS, TERMINATED_VALUES, -1, 1, 0.5)


def test_the_end_of_a_game_of_three_moves():
    u = np.arange(6)  # states 0..3 are in the game; 4 and 5 lie past it
    np.testing.assert_array_equal(has_move(u, 3), [1, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(in_game(u, 3), [1, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(clip_to_game(u, 3), [0, 1, 2, 3, 3, 3])
    np.testing.assert_array_equal(absorbing(u, 3, True), [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(absorbing(u, 3, False), [0] * 6)
    np.testing.assert_array_equal(value_mask(u, 3, True), [1] * 6)
    np.testing.assert_array_equal(value_mask(u, 3, False), [1, 1, 1, 1, 0, 0])


def test_next_states_repeat_the_final_state_past_the_end():
    # T = 3, K = 2: from t = 0 states 1, 2; from t = 2 states 3, 4 -> 3; from t = 3 4, 5 -> 3, 3.
    states, mask = next_states(np.array([0, 2, 3]), 2, np.array([3, 3, 3]))
    np.testing.assert_array_equal(states, [[1, 2], [3, 3], [3, 3]])
    np.testing.assert_array_equal(mask, [[1, 1], [1, 0], [0, 0]])
    assert states.dtype == np.int64 and mask.dtype == np.float32


@pytest.mark.parametrize("terminated", [False, True])
def test_n_step_parts_never_bootstrap_from_an_absorbing_state(terminated):
    # n = 2, g = 0.5, rewards [1, 2, 3]: returns 1 + 0.5 * 2, 2 + 0.5 * 3, 3, then 0 from u = 3.
    returns, states, weights = n_step_parts(REWARDS, np.arange(5), 2, 0.5, terminated=terminated)
    np.testing.assert_allclose(returns, [2, 3.5, 3, 0, 0])
    np.testing.assert_array_equal(states, [2, 3, 3, 3, 3])
    # State 3 is absorbing after a termination: only u = 0 (bootstrapping from state 2) keeps
    # its weight 0.25; a truncated game bootstraps from state 3 with g^m, m = 2, 1, 0.
    expected = [0.25, 0, 0, 0, 0] if terminated else [0.25, 0.25, 0.5, 1, 0]
    np.testing.assert_array_equal(weights, expected)


def test_a_terminated_value_target_ignores_the_stored_final_value():
    # n = 2, g = 0.5: u = 0 gives 1 + 0.5 * 2 + 0.25 * 30 = 9.5; from u = 1 on, state 3 is
    # absorbing, so 2 + 0.5 * 3 = 3.5, then 3, then 0 at and past the final state.
    values = np.array([10.0, 20.0, 30.0, 99.0], dtype=np.float32)
    u = np.arange(5)
    np.testing.assert_allclose(
        value_target(REWARDS, values, u, 2, 0.5, terminated=True), [9.5, 3.5, 3, 0, 0]
    )
    np.testing.assert_allclose(  # the default trusts root_values[T]: 99 is bootstrapped from
        value_target(REWARDS, values, u, 2, 0.5), [9.5, 3.5 + 0.25 * 99, 3 + 0.5 * 99, 99, 0]
    )
