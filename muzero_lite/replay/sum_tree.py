"""A vectorised sum tree: sample leaves in proportion to their priorities in O(log n) each.

One flat float64 array of 2 * L nodes, L the capacity rounded up to a power of two: node 1 is the
root, node i has children 2i and 2i + 1, and the leaves are nodes L .. 2L - 1. Leaves past the
capacity stay 0 and are never found. Parents are recomputed from their children after every
`set`, so totals never drift with repeated updates.
"""

import numpy as np


class SumTree:
    """Priorities over `capacity` leaves; leaf i is drawn with probability priority[i] / total."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self.capacity = capacity
        self._depth = (capacity - 1).bit_length()  # levels below the root
        self._first_leaf = 1 << self._depth
        self._nodes = np.zeros(2 * self._first_leaf, dtype=np.float64)

    @property
    def total(self) -> float:
        """Sum of all leaf priorities."""
        return float(self._nodes[1])

    @property
    def max(self) -> float:
        """The largest leaf priority (0 when all are 0): new positions enter at it."""
        return float(self._leaves().max())

    @property
    def nbytes(self) -> int:
        return self._nodes.nbytes

    def get(self, indices: np.ndarray) -> np.ndarray:
        """Priorities of leaves `indices` ([...] ints) -> [...] float64."""
        return self._nodes[self._first_leaf + self._check_indices(indices)]

    def set(self, indices: np.ndarray, priorities: np.ndarray | float) -> None:
        """Set leaves `indices` ([B]) to `priorities` ([B] or scalar); the last of duplicates wins.

        Raises ValueError, storing nothing, if any priority is NaN, infinite or negative.
        """
        indices = self._check_indices(indices).ravel()
        priorities = np.broadcast_to(np.asarray(priorities, dtype=np.float64), indices.shape)
        if not np.isfinite(priorities).all() or (priorities < 0).any():
            raise ValueError("priorities must be finite and non-negative")
        if indices.size == 0:
            return
        # Keep the last occurrence of each index: unique over the reversed arrays finds it first.
        leaves, last = np.unique(indices[::-1], return_index=True)
        nodes = leaves + self._first_leaf
        self._nodes[nodes] = priorities[::-1][last]
        for _ in range(self._depth):  # a parent listed twice gets the same sum twice
            nodes = nodes // 2
            self._nodes[nodes] = self._nodes[2 * nodes] + self._nodes[2 * nodes + 1]

    def find(self, prefix_sums: np.ndarray) -> np.ndarray:
        """Leaves i with cumsum(p)[i - 1] <= s < cumsum(p)[i], for each s in [...] `prefix_sums`.

        The descent goes right when s >= the left child's sum and the right child is non-zero, so
        s == total (or a rounding overshoot inside a subtree) lands on the last non-zero leaf and a
        zero-priority leaf is never returned. Every s must lie in [0, total] and total must be > 0.
        """
        s = np.array(prefix_sums, dtype=np.float64)  # a copy: the descent changes it
        if self.total <= 0:
            raise ValueError("cannot search a sum tree whose total is 0")
        if not np.isfinite(s).all() or (s < 0).any() or (s > self.total).any():
            raise ValueError(f"prefix sums must lie in [0, total={self.total}]")
        nodes = np.ones(s.shape, dtype=np.int64)
        for _ in range(self._depth):
            left = self._nodes[2 * nodes]
            go_right = (s >= left) & (self._nodes[2 * nodes + 1] > 0)
            s = np.where(go_right, s - left, s)
            nodes = 2 * nodes + go_right
        return nodes - self._first_leaf

    def sample(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """Stratified sampling: one uniform draw in each of batch_size equal parts of [0, total).

        Returns [batch_size] int64 leaf indices; each leaf's expected count is
        batch_size * p / total, with less variance than independent draws.
        """
        if self.total <= 0:
            raise ValueError("cannot sample from a sum tree whose total is 0")
        segment = self.total / batch_size
        s = (np.arange(batch_size) + rng.random(batch_size)) * segment
        return self.find(np.minimum(s, self.total))

    def _leaves(self) -> np.ndarray:
        return self._nodes[self._first_leaf : self._first_leaf + self.capacity]

    def _check_indices(self, indices: np.ndarray) -> np.ndarray:
        indices = np.asarray(indices)
        if indices.size == 0:
            return indices.astype(np.int64)
        if indices.dtype.kind not in "iu":
            raise ValueError(f"leaf indices must be integers, not {indices.dtype}")
        if indices.min() < 0 or indices.max() >= self.capacity:
            raise ValueError(f"leaf indices must lie in 0..{self.capacity - 1}")
        return indices.astype(np.int64)
