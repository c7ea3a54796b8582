"""The replay buffer: stacked inputs as self-play saw them, weights by hand, eviction, storage."""

import math

import numpy as np
import pytest

from muzero_lite.games import GameRecord
from muzero_lite.observations import stacked_observation
from muzero_lite.replay.buffer import ReplayBuffer
from muzero_lite.replay.targets import unroll_targets

FRAME = (84, 84)


def make_game(
    length: int,
    start: int = 0,
    obs_shape=(3, 3),
    num_actions: int = 3,
    terminated: bool = True,
) -> GameRecord:
    """A game whose state i has observation value start + i and reward i + 1."""
    rng = np.random.default_rng(start)
    values = (start + np.arange(length + 1)) % 256
    dtype = np.uint8 if len(obs_shape) == 2 else np.float32
    observations = np.broadcast_to(
        values.reshape(-1, *[1] * len(obs_shape)), (length + 1, *obs_shape)
    )
    policies = rng.dirichlet(np.ones(num_actions), size=length).astype(np.float32)
    return GameRecord(
        observations=np.ascontiguousarray(observations, dtype=dtype),
        actions=rng.integers(num_actions, size=length),
        rewards=np.arange(1, length + 1, dtype=np.float32),
        policies=policies / policies.sum(1, keepdims=True),
        root_values=rng.random(length + 1).astype(np.float32),  # [T] != 0: ignored if terminated
        terminated=terminated,
        truncated=not terminated,
    )


def game_by_hand(terminated: bool) -> GameRecord:
    """Rewards [1, 2, 3], root values [10, 20, 30, 40], actions [1, 0, 1], state i observed as i."""
    return GameRecord(
        observations=np.arange(4, dtype=np.float32).reshape(4, 1),
        actions=np.array([1, 0, 1]),
        rewards=np.array([1.0, 2.0, 3.0], dtype=np.float32),
        policies=np.array([[1, 0], [0, 1], [0.5, 0.5]], dtype=np.float32),
        root_values=np.array([10.0, 20.0, 30.0, 40.0], dtype=np.float32),
        terminated=terminated,
        truncated=not terminated,
    )


def make_buffer(
    capacity: int, stack: int = 3, alpha: float = 1.0, eps: float = 0.0
) -> ReplayBuffer:
    return ReplayBuffer(
        capacity, alpha=alpha, eps=eps, stack=stack, unroll_steps=2, td_steps=2, discount=0.5
    )


def test_sampled_inputs_and_targets_match_the_stored_games():
    buffer = make_buffer(20, stack=3)
    games = [make_game(6, start=0), make_game(4, start=100)]
    for record in games:
        buffer.add_game(record)
    batch = buffer.sample(64, np.random.default_rng(1), beta=1.0)
    assert batch.observations.shape == (64, 3, 3, 3) and batch.observations.dtype == np.uint8
    assert batch.prev_actions.dtype == batch.actions.dtype == batch.leaf_indices.dtype == np.int64
    assert batch.target_policies.shape == (64, 3, 3) and batch.weights.shape == (64,)
    numbers, moves = buffer.locate(batch.leaf_indices)
    assert_batch_matches_games(batch, numbers, moves, games, stack=3)
    sampled = set(zip(numbers.tolist(), moves.tolist(), strict=True))
    assert sampled == {(0, t) for t in range(6)} | {(1, t) for t in range(4)}  # every position


def assert_batch_matches_games(batch, numbers, moves, games, stack):
    for row, (number, t) in enumerate(zip(numbers, moves, strict=True)):
        record = games[number]
        obs, prev = stacked_observation(record.observations, record.actions, int(t), stack)
        np.testing.assert_array_equal(batch.observations[row], obs)
        np.testing.assert_array_equal(batch.prev_actions[row], prev)
        expected = unroll_targets(record, t, 2, 2, 0.5, np.random.default_rng(0))
        np.testing.assert_allclose(batch.target_values[row], expected.values, rtol=1e-6)
        np.testing.assert_array_equal(batch.target_rewards[row], expected.rewards)
        np.testing.assert_array_equal(batch.target_policies[row], expected.policies)
        np.testing.assert_array_equal(batch.policy_mask[row], expected.policy_mask)
        played = expected.policy_mask[:-1] == 1  # actions inside the game are the played ones
        np.testing.assert_array_equal(batch.actions[row][played], expected.actions[played])


def test_targets_stay_right_through_evictions_and_log_compaction():
    buffer = make_buffer(12, stack=2)
    rng = np.random.default_rng(5)
    games = []
    for number in range(40):  # lengths 1..12 overflow the capacity and the log many times over
        games.append(make_game(int(rng.integers(1, 13)), start=number, terminated=number % 2 == 0))
        buffer.add_game(games[-1])
        assert buffer.num_transitions <= 12
        batch = buffer.sample(16, rng, beta=1.0)
        numbers, moves = buffer.locate(batch.leaf_indices)
        assert numbers.min() >= number + 1 - buffer.num_games  # only stored games
        assert_batch_matches_games(batch, numbers, moves, games, stack=2)


def test_batch_targets_by_hand_for_a_truncated_game():
    # Rewards [1, 2, 3], root values [10, 20, 30, 40] (truncated), discount 0.5, n = 2, K = 2.
    record = game_by_hand(terminated=False)
    buffer = make_buffer(3, stack=2)
    buffer.add_game(record)
    batch = buffer.sample(3, np.random.default_rng(0), beta=1.0)  # equal priorities: t = 0, 1, 2
    assert batch.leaf_indices.tolist() == [0, 1, 2]
    z0, z1, z2 = 1 + 0.5 * 2 + 0.25 * 30, 2 + 0.5 * 3 + 0.25 * 40, 3 + 0.5 * 40
    np.testing.assert_allclose(batch.target_values, [[z0, z1, z2], [z1, z2, 40], [z2, 40, 0]])
    np.testing.assert_array_equal(batch.target_rewards, [[0, 1, 2], [0, 2, 3], [0, 3, 0]])
    np.testing.assert_array_equal(batch.policy_mask, [[1, 1, 1], [1, 1, 0], [1, 0, 0]])
    np.testing.assert_array_equal(batch.target_policies[2], [[0.5, 0.5], [0, 0], [0, 0]])
    np.testing.assert_array_equal(batch.actions[:2], [[1, 0], [0, 1]])
    np.testing.assert_array_equal(batch.observations[:, :, 0], [[0, 0], [0, 1], [1, 2]])
    np.testing.assert_array_equal(batch.prev_actions, [[-1, -1], [-1, 1], [1, 0]])
    np.testing.assert_array_equal(batch.weights, [1, 1, 1])


@pytest.mark.parametrize("terminated", [False, True])
def test_value_and_reward_past_the_end_are_trained_after_a_termination_only(terminated):
    # The game has T = 3 moves; from t = 2 the unroll reaches u = 2, 3, 4. State 4 lies past the
    # end: absorbing (value 0, reward 0, trained) after a termination, unknown after a truncation.
    buffer = make_buffer(3, stack=2)
    buffer.add_game(game_by_hand(terminated))
    batch = buffer.sample(3, np.random.default_rng(0), beta=1.0)  # t = 0, 1, 2
    past = 1 if terminated else 0
    np.testing.assert_array_equal(batch.value_mask, [[1, 1, 1], [1, 1, 1], [1, 1, past]])


@pytest.mark.parametrize("terminated", [False, True])
def test_bootstrap_inputs_by_hand(terminated):
    # The game of the test above: rewards [1, 2, 3], root values [10, 20, 30, 40], discount 0.5,
    # n = 2, K = 2. Each target is returns + weight * (value of the bootstrap state).
    record = game_by_hand(terminated)
    buffer = make_buffer(3, stack=2)
    buffer.add_game(record)
    batch = buffer.sample(3, np.random.default_rng(0), beta=1.0, bootstrap_inputs=True)
    assert batch.leaf_indices.tolist() == [0, 1, 2]
    r0, r1, r2 = 1 + 0.5 * 2, 2 + 0.5 * 3, 3
    np.testing.assert_allclose(batch.returns, [[r0, r1, r2], [r1, r2, 0], [r2, 0, 0]])
    end = 0 if terminated else 1  # the final state (3) bootstraps only after a truncation
    np.testing.assert_allclose(
        batch.bootstrap_weights,
        [[0.25, 0.25 * end, 0.5 * end], [0.25 * end, 0.5 * end, end], [0.5 * end, end, 0]],
    )
    # Bootstrap states [[2, 3, 3], [3, 3, 3], [3, 3, 3]], each stacked with the state before it.
    np.testing.assert_array_equal(
        batch.bootstrap_observations[..., 0], [[[1, 2], [2, 3], [2, 3]]] + [[[2, 3]] * 3] * 2
    )
    np.testing.assert_array_equal(
        batch.bootstrap_prev_actions, [[[1, 0], [0, 1], [0, 1]]] + [[[0, 1]] * 3] * 2
    )
    stored = np.array([10.0, 20.0, 30.0, 0.0 if terminated else 40.0])
    bootstrapped = stored[batch.bootstrap_observations[..., -1, 0].astype(int)]
    np.testing.assert_allclose(
        batch.returns + batch.bootstrap_weights * bootstrapped, batch.target_values
    )


def test_bootstrap_inputs_match_the_stored_games_through_evictions():
    buffer = make_buffer(12, stack=2)
    rng = np.random.default_rng(7)
    games = []
    for number in range(30):
        games.append(make_game(int(rng.integers(1, 13)), start=number, terminated=number % 2 == 0))
        buffer.add_game(games[-1])
        batch = buffer.sample(16, rng, beta=1.0, bootstrap_inputs=True)
        assert batch.bootstrap_observations.shape == (16, 3, 2, 3, 3)
        numbers, moves = buffer.locate(batch.leaf_indices)
        for row, (game, t) in enumerate(zip(numbers, moves, strict=True)):
            record = games[game]
            for k in range(3):
                state = min(t + k + 2, record.length)  # n = 2, clipped at the final state
                obs, prev = stacked_observation(record.observations, record.actions, state, 2)
                np.testing.assert_array_equal(batch.bootstrap_observations[row, k], obs)
                np.testing.assert_array_equal(batch.bootstrap_prev_actions[row, k], prev)
                absorbing = t + k > record.length or (state == record.length and record.terminated)
                assert (batch.bootstrap_weights[row, k] == 0) == absorbing
    plain = buffer.sample(4, rng, beta=1.0)
    assert plain.returns is None and plain.bootstrap_observations is None


def test_first_states_repeat_state_zero_with_no_action():
    buffer = make_buffer(5, stack=3)
    record = make_game(5, start=10)
    buffer.add_game(record)
    buffer.update_priorities(np.arange(5), np.array([1.0, 0.0, 0.0, 0.0, 0.0]))
    batch = buffer.sample(2, np.random.default_rng(0), beta=1.0)  # only position 0 has priority
    np.testing.assert_array_equal(batch.observations[:, :, 0, 0], [[10, 10, 10]] * 2)
    np.testing.assert_array_equal(batch.prev_actions, [[-1, -1, -1]] * 2)


def test_importance_weights_by_hand():
    # Priorities [1, 1, 2, 4]: total 8, N = 4, so N * P = [0.5, 0.5, 1, 2]. Stratified segments of
    # width 2 over cumsum [1, 2, 4, 8] always draw leaf 0 or 1, then 2, then 3 twice.
    buffer = make_buffer(4, alpha=1.0, eps=0.0)
    buffer.add_game(make_game(4))
    buffer.update_priorities(np.arange(4), np.array([1.0, -1.0, 2.0, 4.0]))
    np.testing.assert_array_equal(buffer.priorities(np.arange(4)), [1, 1, 2, 4])
    batch = buffer.sample(4, np.random.default_rng(0), beta=1.0)
    assert batch.leaf_indices[0] in (0, 1) and batch.leaf_indices[1:].tolist() == [2, 3, 3]
    # beta 1: (N P)^-1 = [2, 1, 0.5, 0.5], divided by the max 2.
    np.testing.assert_allclose(batch.weights, [1, 0.5, 0.25, 0.25])
    batch = buffer.sample(4, np.random.default_rng(0), beta=0.5)
    # beta 0.5: (N P)^-0.5 = [sqrt 2, 1, 1/sqrt 2, 1/sqrt 2], divided by sqrt 2.
    np.testing.assert_allclose(batch.weights, [1, 1 / math.sqrt(2), 0.5, 0.5], rtol=1e-6)
    assert batch.weights.dtype == np.float32


def test_priorities_are_error_plus_eps_to_the_alpha():
    buffer = make_buffer(3, alpha=0.5, eps=1e-3)
    buffer.add_game(make_game(3))
    buffer.update_priorities(np.array([0, 2]), np.array([-3.0, 0.0]))
    np.testing.assert_allclose(buffer.priorities(np.arange(3)), [3.001**0.5, 1.0, 0.001**0.5])


def test_new_positions_enter_at_the_current_max_priority():
    buffer = make_buffer(10)
    buffer.add_game(make_game(3))
    np.testing.assert_array_equal(buffer.priorities(np.arange(3)), [1, 1, 1])  # empty: 1
    buffer.update_priorities(np.arange(3), np.array([0.5, 3.0, 2.0]))
    buffer.add_game(make_game(2))
    np.testing.assert_array_equal(buffer.priorities(np.arange(5)), [0.5, 3, 2, 3, 3])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf_errors_are_rejected_and_nothing_is_stored(bad):
    buffer = make_buffer(3)
    buffer.add_game(make_game(3))
    with pytest.raises(ValueError, match="finite"):
        buffer.update_priorities(np.array([0, 1]), np.array([2.0, bad]))
    np.testing.assert_array_equal(buffer.priorities(np.arange(3)), [1, 1, 1])


def test_the_oldest_game_is_evicted_whole_when_capacity_is_exceeded():
    buffer = make_buffer(10)
    for start in (0, 100, 200):  # 4 + 4 + 4 > 10: the third evicts the first
        buffer.add_game(make_game(4, start=start))
    assert buffer.num_transitions == 8 and buffer.num_games == 2
    # Game 0 owned leaves 0..3; game 2 took the free ring 8, 9, 0, 1; leaves 2, 3 are empty.
    np.testing.assert_array_equal(buffer.priorities(np.arange(10)), [1, 1, 0, 0, 1, 1, 1, 1, 1, 1])
    numbers, moves = buffer.locate(np.array([8, 9, 0, 1]))
    assert numbers.tolist() == [2, 2, 2, 2] and moves.tolist() == [0, 1, 2, 3]
    rng = np.random.default_rng(0)
    for _ in range(50):
        batch = buffer.sample(32, rng, beta=1.0)
        numbers, _ = buffer.locate(batch.leaf_indices)
        assert set(numbers.tolist()) <= {1, 2}
        assert (batch.observations < 100).sum() == 0  # no frame of game 0 (values 0..4)
    buffer.update_priorities(np.array([2, 3]), np.array([5.0, 5.0]))  # late update: skipped
    np.testing.assert_array_equal(buffer.priorities(np.array([2, 3])), [0, 0])


def test_a_game_longer_than_the_capacity_or_of_another_shape_is_rejected():
    buffer = make_buffer(5)
    with pytest.raises(ValueError, match="does not fit"):
        buffer.add_game(make_game(6))
    buffer.add_game(make_game(2))
    with pytest.raises(ValueError, match="differs"):
        buffer.add_game(make_game(2, obs_shape=(4, 4)))
    with pytest.raises(ValueError, match="differs"):
        buffer.add_game(make_game(2, num_actions=4))
    assert buffer.num_transitions == 2 and buffer.num_games == 1


def test_vector_observations_keep_their_dtype():
    buffer = make_buffer(10, stack=2)
    buffer.add_game(make_game(3, obs_shape=(5,)))
    batch = buffer.sample(4, np.random.default_rng(0), beta=0.4)
    assert batch.observations.shape == (4, 2, 5) and batch.observations.dtype == np.float32


def test_frames_are_stored_once_not_once_per_stack():
    frame = FRAME[0] * FRAME[1]
    buffers = [make_buffer(1000, stack=1), make_buffer(1000, stack=4)]
    first_game = []
    for buffer in buffers:
        for start in range(10):
            buffer.add_game(make_game(100, start=start, obs_shape=FRAME))
            if start == 0:
                first_game.append(buffer.nbytes)
    assert buffers[0].nbytes == buffers[1].nbytes and first_game[0] == first_game[1]
    # Each later game adds its 101 frames and nothing else (its moves go to preallocated rows).
    assert buffers[0].nbytes - first_game[0] == 9 * 101 * frame
    assert buffers[0].num_transitions == 1000
    assert buffers[0].nbytes / buffers[0].num_transitions <= 1.5 * frame


def test_sampling_an_empty_buffer_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        make_buffer(4).sample(2, np.random.default_rng(0), beta=1.0)


def test_next_inputs_by_hand():
    # A truncated game of 3 moves, K = 2: from t the unroll reaches states t + 1 and t + 2, and
    # past the final state (3) the final state is repeated with mask 0.
    record = game_by_hand(terminated=True)
    buffer = make_buffer(3, stack=2)
    buffer.add_game(record)
    batch = buffer.sample(3, np.random.default_rng(0), beta=1.0, next_inputs=True)
    assert batch.leaf_indices.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(
        batch.next_observations[..., 0], [[[0, 1], [1, 2]], [[1, 2], [2, 3]], [[2, 3], [2, 3]]]
    )
    np.testing.assert_array_equal(
        batch.next_prev_actions, [[[-1, 1], [1, 0]], [[1, 0], [0, 1]], [[0, 1], [0, 1]]]
    )
    np.testing.assert_array_equal(batch.next_mask, [[1, 1], [1, 1], [1, 0]])
    assert batch.returns is None  # only what was asked for


def test_next_inputs_of_one_random_step_per_position_by_hand():
    # As above, with one of the K = 2 steps drawn per position: each row is the column of the
    # all-steps batch for its step, and all K steps draw nothing.
    buffer = make_buffer(3, stack=2)
    buffer.add_game(game_by_hand(terminated=True))
    every = buffer.sample(3, np.random.default_rng(0), beta=1.0, next_inputs=True)
    assert every.next_steps.tolist() == [[1, 2]] * 3
    same = buffer.sample(3, np.random.default_rng(0), beta=1.0, next_inputs=True, next_count=2)
    np.testing.assert_array_equal(same.next_observations, every.next_observations)
    one = buffer.sample(3, np.random.default_rng(0), beta=1.0, next_inputs=True, next_count=1)
    steps = one.next_steps[:, 0]
    assert one.next_steps.shape == (3, 1) and set(steps) <= {1, 2}
    rows = np.arange(3)
    np.testing.assert_array_equal(
        one.next_observations[:, 0], every.next_observations[rows, steps - 1]
    )
    np.testing.assert_array_equal(one.next_mask[:, 0], every.next_mask[rows, steps - 1])
    draws = buffer.sample(300, np.random.default_rng(1), 1.0, next_inputs=True, next_count=1)
    assert set(draws.next_steps[:, 0]) == {1, 2}
