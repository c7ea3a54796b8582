"""The sum tree against a hand-drawn tree: totals, descents, zero leaves, sampling, bad input."""

import numpy as np
import pytest

from muzero_lite.replay.sum_tree import SumTree


def tree_of(priorities: list[float]) -> SumTree:
    tree = SumTree(len(priorities))
    tree.set(np.arange(len(priorities)), np.array(priorities))
    return tree


def test_hand_drawn_tree_totals_and_descent():
    #            10
    #       3          7
    #     1   2      3   4     cumsum: [1, 3, 6, 10]
    tree = tree_of([1, 2, 3, 4])
    assert tree.total == 10.0
    assert tree.max == 4.0
    s = np.array([0, 0.99, 1, 2.999, 3, 5.5, 6, 9.999, 10])
    np.testing.assert_array_equal(tree.find(s), [0, 0, 1, 1, 2, 2, 3, 3, 3])
    np.testing.assert_array_equal(tree.get(np.array([3, 0])), [4.0, 1.0])


def test_update_a_leaf_changes_the_totals_and_the_descent():
    tree = tree_of([1, 2, 3, 4])
    tree.set(np.array([2]), np.array([0.5]))  # cumsum: [1, 3, 3.5, 7.5]
    assert tree.total == 7.5
    np.testing.assert_array_equal(tree.find(np.array([3.0, 3.49, 3.5, 7.5])), [2, 2, 3, 3])
    tree.set(np.array([3, 0]), np.array([0.0, 2.0]))  # cumsum: [2, 4, 4.5, 4.5]
    assert tree.total == 4.5
    assert tree.max == 2.0


def test_zero_priority_leaves_are_never_found():
    # Capacity 5 pads to 8 leaves; leaves 1, 3, 4 and the padding are 0. cumsum: [1, 1, 4, 4, 4]
    tree = tree_of([1, 0, 3, 0, 0])
    assert tree.total == 4.0
    np.testing.assert_array_equal(tree.find(np.array([0, 0.999, 1, 3.999, 4])), [0, 0, 2, 2, 2])
    leaves = tree.sample(10_000, np.random.default_rng(0))
    assert set(np.unique(leaves)) == {0, 2}


def test_a_value_at_exactly_total_maps_to_the_last_nonzero_leaf():
    assert tree_of([1, 2, 0, 0]).find(np.array([3.0]))[0] == 1
    assert tree_of([0, 0, 5, 0]).find(np.array([0.0, 5.0])).tolist() == [2, 2]
    assert tree_of([7]).find(np.array([0.0, 7.0])).tolist() == [0, 0]


def test_duplicate_indices_keep_the_last_priority():
    tree = SumTree(4)
    tree.set(np.array([1, 1, 2]), np.array([5.0, 2.0, 1.0]))
    np.testing.assert_array_equal(tree.get(np.arange(4)), [0.0, 2.0, 1.0, 0.0])
    assert tree.total == 3.0


def test_sampling_frequencies_match_priorities():
    tree = tree_of([1, 2, 3, 4, 0, 0])
    rng = np.random.default_rng(123)
    leaves = np.concatenate([tree.sample(100, rng) for _ in range(1000)])  # 100k draws
    frequencies = np.bincount(leaves, minlength=6) / len(leaves)
    np.testing.assert_allclose(frequencies, [0.1, 0.2, 0.3, 0.4, 0.0, 0.0], atol=0.01)


def test_stratified_sampling_draws_one_per_segment():
    # Segments of width 2.5 over cumsum [1, 3, 6, 10]: [0, 2.5) -> 0 or 1, [2.5, 5) -> 1 or 2, ...
    leaves = tree_of([1, 2, 3, 4]).sample(4, np.random.default_rng(0))
    assert leaves[0] in (0, 1) and leaves[1] in (1, 2) and leaves[2] in (2, 3) and leaves[3] == 3


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, -1.0])
def test_bad_priorities_are_rejected_and_nothing_is_stored(bad):
    tree = tree_of([1, 2, 3, 4])
    with pytest.raises(ValueError, match="finite and non-negative"):
        tree.set(np.array([0, 1]), np.array([9.0, bad]))
    np.testing.assert_array_equal(tree.get(np.arange(4)), [1.0, 2.0, 3.0, 4.0])
    assert tree.total == 10.0


def test_bad_indices_and_prefix_sums_are_rejected():
    tree = tree_of([1, 2, 3, 4])
    with pytest.raises(ValueError, match="leaf indices"):
        tree.set(np.array([4]), np.array([1.0]))
    with pytest.raises(ValueError, match="leaf indices"):
        tree.get(np.array([-1]))
    for s in (-0.1, 10.01, np.nan):
        with pytest.raises(ValueError, match="prefix sums"):
            tree.find(np.array([s]))


def test_an_empty_tree_cannot_be_searched_or_sampled():
    tree = SumTree(3)
    assert tree.total == 0.0 and tree.max == 0.0
    with pytest.raises(ValueError, match="total is 0"):
        tree.find(np.array([0.0]))
    with pytest.raises(ValueError, match="total is 0"):
        tree.sample(2, np.random.default_rng(0))
