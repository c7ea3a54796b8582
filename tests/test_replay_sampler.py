"""The priority sampler: leaves handed out as a ring, priorities and weights worked out by hand."""

import numpy as np
import pytest

from muzero_lite.replay.sampler import PrioritySampler


def test_leaves_are_handed_out_and_freed_as_a_ring():
    sampler = PrioritySampler(5, alpha=1.0, eps=0.0)
    assert sampler.add(3).tolist() == [0, 1, 2]
    assert sampler.add(2).tolist() == [3, 4]
    sampler.remove_oldest(3)  # leaves 0, 1, 2 leave; 3, 4 stay
    assert sampler.add(2).tolist() == [0, 1]  # the ring wraps: live run 3, 4, 0, 1
    assert sampler.num_live == 4
    np.testing.assert_array_equal(sampler.is_live(np.arange(5)), [1, 1, 0, 1, 1])
    np.testing.assert_array_equal(sampler.priorities(np.arange(5)), [1, 1, 0, 1, 1])
    with pytest.raises(ValueError, match="free"):
        sampler.add(2)  # one leaf free
    with pytest.raises(ValueError, match="live"):
        sampler.remove_oldest(5)


def test_new_leaves_enter_at_the_max_of_the_live_priorities():
    sampler = PrioritySampler(4, alpha=0.5, eps=0.0)
    sampler.add(3)
    sampler.update(np.arange(3), np.array([9.0, -1.0, 4.0]))  # p = sqrt|e| = [3, 1, 2]
    sampler.remove_oldest(1)  # the 3 leaves with leaf 0
    np.testing.assert_array_equal(sampler.add(1), [3])
    np.testing.assert_array_equal(sampler.priorities(np.arange(4)), [0, 1, 2, 2])


def test_all_zero_priorities_enter_new_leaves_at_one_and_stay_updatable():
    sampler = PrioritySampler(3, alpha=1.0, eps=0.0)
    sampler.add(2)
    sampler.update(np.array([0, 1]), np.array([0.0, 0.0]))  # p = 0, but the leaves are live
    sampler.add(1)
    np.testing.assert_array_equal(sampler.priorities(np.arange(3)), [0, 0, 1])
    sampler.update(np.array([0]), np.array([2.0]))
    np.testing.assert_array_equal(sampler.priorities(np.arange(3)), [2, 0, 1])


def test_importance_weights_by_hand():
    # p = [1, 3]: P = [1/4, 3/4], N P = [1/2, 3/2]; beta 1: [2, 2/3] / 2 = [1, 1/3].
    sampler = PrioritySampler(2, alpha=1.0, eps=0.0)
    sampler.add(2)
    sampler.update(np.array([0, 1]), np.array([1.0, 3.0]))
    weights = sampler.importance_weights(np.array([1, 0, 1]), beta=1.0)
    np.testing.assert_allclose(weights, [1 / 3, 1, 1 / 3], rtol=1e-6)
    assert weights.dtype == np.float32
    # beta 0: every weight is 1.
    np.testing.assert_array_equal(sampler.importance_weights(np.array([0, 1]), beta=0.0), [1, 1])


def test_stratified_draws_follow_the_priorities():
    # p = [1, 0, 3]: of 4 equal parts of [0, 4), the first lands on leaf 0, the others on leaf 2.
    sampler = PrioritySampler(3, alpha=1.0, eps=0.0)
    sampler.add(3)
    sampler.update(np.arange(3), np.array([1.0, 0.0, 3.0]))
    assert sampler.sample(4, np.random.default_rng(0)).tolist() == [0, 2, 2, 2]


def test_updates_skip_freed_leaves_and_bad_errors_store_nothing():
    sampler = PrioritySampler(4, alpha=1.0, eps=0.5)
    sampler.add(2)
    sampler.remove_oldest(1)  # leaf 0 freed after it was sampled
    sampler.update(np.array([0, 1]), np.array([3.0, -2.0]))  # leaf 0 skipped; leaf 1: 2 + 0.5
    np.testing.assert_array_equal(sampler.priorities(np.arange(4)), [0, 2.5, 0, 0])
    with pytest.raises(ValueError, match="finite"):
        sampler.update(np.array([1]), np.array([np.nan]))
    with pytest.raises(ValueError, match="errors for"):
        sampler.update(np.array([1]), np.array([1.0, 2.0]))
    np.testing.assert_array_equal(sampler.priorities(np.array([1])), [2.5])
