"""Game storage: the state log, positions resolved to indices, stacks gathered, whole evictions."""

import numpy as np
import pytest

from muzero_lite.games import GameRecord
from muzero_lite.replay.storage import GameStorage, StateLog


def game(length: int, start: int, terminated: bool = True, num_actions: int = 2) -> GameRecord:
    """State i observed as start + i; move i has action i % A and reward start + i + 1."""
    return GameRecord(
        observations=(start + np.arange(length + 1, dtype=np.float32)).reshape(-1, 1),
        actions=np.arange(length) % num_actions,
        rewards=start + np.arange(1, length + 1, dtype=np.float32),
        policies=np.full((length, num_actions), 1 / num_actions, dtype=np.float32),
        root_values=start + 0.5 + np.arange(length + 1, dtype=np.float32),
        terminated=terminated,
        truncated=not terminated,
    )


def test_state_log_keeps_global_rows_through_a_compaction():
    log = StateLog(2, num_actions=2)  # 3 * 2 + 1 = 7 rows
    assert log.append(game(2, start=0)) == 0  # rows 0, 1, 2
    assert log.append(game(1, start=10)) == 3  # rows 3, 4
    log.drop(3)  # the first game leaves
    # 5 + 3 rows overflow 7: rows 3, 4 move to indices 0, 1 (base 3), the new game takes 2..4.
    assert log.append(game(2, start=20)) == 5
    np.testing.assert_array_equal(log.index(np.array([3, 5, 7])), [0, 2, 4])
    np.testing.assert_array_equal(log.rewards[:5], [11, 0, 21, 22, 0])  # the final rows get 0
    np.testing.assert_array_equal(log.actions[:5], [0, 0, 0, 1, 0])
    np.testing.assert_array_equal(log.policies[4], [0, 0])
    # Root values are kept as given, also the final one of a terminated game: the targets decide.
    np.testing.assert_array_equal(log.root_values[:5], [10.5, 11.5, 20.5, 21.5, 22.5])


def test_positions_resolve_to_games_moves_and_log_indices():
    storage = GameStorage(5, stack=2)
    storage.add_game(game(2, start=0), np.array([0, 1]))  # log rows 0..2
    storage.add_game(game(3, start=10, terminated=False), np.array([2, 3, 4]))  # rows 3..6
    at = storage.resolve(np.array([4, 0, 2]))
    assert at.games.tolist() == [1, 0, 1] and at.moves.tolist() == [2, 0, 0]
    assert at.lengths.tolist() == [3, 2, 3] and at.starts.tolist() == [3, 0, 3]
    assert at.terminated.tolist() == [False, True, False]
    assert at.log_indices.tolist() == [5, 0, 3] and at.final_log_indices.tolist() == [6, 2, 6]
    assert [a.tolist() for a in storage.locate(np.array([4, 0]))] == [[1, 0], [2, 0]]


def test_inputs_are_stacks_of_the_states_asked_for():
    storage = GameStorage(5, stack=2)
    storage.add_game(game(2, start=0), np.array([0, 1]))
    storage.add_game(game(3, start=10), np.array([2, 3, 4]))
    at = storage.resolve(np.array([1, 3]))  # game 0 move 1, game 1 move 1
    states = np.array([[0, 2], [3, 1]])  # [B, 2] move indices in those games
    observations, prev_actions = storage.inputs(at, states)
    assert observations.shape == (2, 2, 2, 1)  # [B, 2, N, *obs_shape]
    # Each state stacked with the one before it; state 0 repeats itself with no action (-1).
    np.testing.assert_array_equal(observations[..., 0], [[[0, 0], [1, 2]], [[12, 13], [10, 11]]])
    np.testing.assert_array_equal(prev_actions, [[[-1, -1], [0, 1]], [[1, 0], [-1, 0]]])


def test_make_room_evicts_the_oldest_games_whole_and_counts_their_positions():
    storage = GameStorage(6, stack=1)
    storage.add_game(game(2, start=0), np.array([0, 1]))
    storage.add_game(game(3, start=10), np.array([2, 3, 4]))
    assert storage.make_room(game(1, start=20)) == 0  # 2 + 3 + 1 fits
    assert storage.make_room(game(3, start=20)) == 2  # game 0 leaves; 3 + 3 fits
    assert storage.num_games == 1 and storage.num_transitions == 3
    assert storage.make_room(game(6, start=20)) == 3
    assert storage.num_games == 0 and storage.num_transitions == 0


def test_games_that_cannot_be_stored_are_rejected_before_any_eviction():
    storage = GameStorage(4, stack=1)
    storage.add_game(game(4, start=0), np.arange(4))
    with pytest.raises(ValueError, match="does not fit"):
        storage.make_room(game(5, start=10))
    with pytest.raises(ValueError, match="differs"):
        storage.make_room(game(1, start=10, num_actions=3))
    with pytest.raises(ValueError, match="needs room"):
        storage.add_game(game(1, start=10), np.array([0]))
    assert storage.num_games == 1 and storage.num_transitions == 4
