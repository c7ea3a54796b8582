"""Stacks built by index from single observations."""

import numpy as np

from muzero_lite.observations import stack_indices, stacked_observation


def test_stack_indices_by_hand():
    states, actions = stack_indices(1, 4)
    assert states.tolist() == [0, 0, 0, 1]  # before the start, state 0 repeats
    assert actions.tolist() == [-1, -1, -1, 0]  # state 1 follows action 0; state 0 follows none
    states, actions = stack_indices(np.array([0, 5]), 3)
    assert states.tolist() == [[0, 0, 0], [3, 4, 5]]
    assert actions.tolist() == [[-1, -1, -1], [2, 3, 4]]


def test_stacked_observation_pairs_each_state_with_the_action_before_it():
    observations = [np.full(2, i, dtype=np.float32) for i in range(4)]  # states 0..3
    actions = [7, 8, 9]  # state i + 1 follows actions[i]
    obs, prev = stacked_observation(observations, actions, t=2, n=3)
    assert obs.tolist() == [[0, 0], [1, 1], [2, 2]]
    assert prev.tolist() == [-1, 7, 8]
    assert prev.dtype == np.int64
