"""Prioritized sampling of stored positions: a sum tree over leaves handed out as a ring.

Each stored position owns one leaf (an index 0..capacity-1 of the sum tree). `add` hands out the
next leaves of the ring in the order positions arrive and `remove_oldest` frees the oldest ones, so
the live leaves are always one contiguous run of the ring, oldest first: whoever stores positions
oldest-out (`GameStorage`) frees exactly the leaves the next positions need.

Priorities follow prioritized experience replay: p = (|error| + eps)^alpha, new positions at the
current max, P(i) = p_i / sum p, importance weights w_i = (N * P(i))^-beta / max_batch w, with N
the number of live positions.
"""

import numpy as np

from muzero_lite.replay.sum_tree import SumTree


class PrioritySampler:
    """Priorities of up to `capacity` live positions, one leaf each; sampled in proportion to p."""

    def __init__(self, capacity: int, *, alpha: float, eps: float):
        if alpha < 0 or eps < 0:
            raise ValueError("need alpha >= 0 and eps >= 0")
        self.capacity = capacity
        self.alpha, self.eps = alpha, eps
        self._tree = SumTree(capacity)
        self._oldest = 0  # leaf of the oldest live position
        self._num_live = 0  # live leaves: oldest, oldest + 1, ... (mod capacity)

    @property
    def num_live(self) -> int:
        """How many leaves hold a live position (N in the importance weights)."""
        return self._num_live

    @property
    def nbytes(self) -> int:
        return self._tree.nbytes

    def add(self, count: int) -> np.ndarray:
        """Hand out the next `count` leaves of the ring ([count] int64) at the current max priority.

        The max is taken over the live leaves (1 when none is positive, as in an empty sampler).
        Raises ValueError if fewer than `count` leaves are free.
        """
        if count > self.capacity - self._num_live:
            raise ValueError(f"{count} leaves asked, {self.capacity - self._num_live} free")
        leaves = self._ring(self._oldest + self._num_live, count)
        self._tree.set(leaves, self._tree.max if self._tree.total > 0 else 1.0)
        self._num_live += count
        return leaves

    def remove_oldest(self, count: int) -> None:
        """Free the `count` oldest live leaves: priority 0, never drawn or updated again."""
        if count > self._num_live:
            raise ValueError(f"{count} leaves to free, {self._num_live} live")
        self._tree.set(self._ring(self._oldest, count), 0.0)
        self._oldest = (self._oldest + count) % self.capacity
        self._num_live -= count

    def sample(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """[batch_size] int64 leaves by priority, one drawn in each of batch_size equal parts."""
        return self._tree.sample(batch_size, rng)

    def importance_weights(self, leaves: np.ndarray, beta: float) -> np.ndarray:
        """w = (N * P)^-beta / max over the batch, with P = p / total ([B] -> [B] float32)."""
        probabilities = self._tree.get(leaves) / self._tree.total
        weights = (self._num_live * probabilities) ** -beta
        return (weights / weights.max()).astype(np.float32)

    def update(self, leaves: np.ndarray, abs_errors: np.ndarray) -> None:
        """Set p = (|error| + eps)^alpha for sampled leaves ([B] each).

        Raises ValueError, storing nothing, on a NaN or infinite error. Leaves freed since they
        were sampled are skipped, so a late update never revives them.
        """
        leaves = np.asarray(leaves, dtype=np.int64)
        abs_errors = np.abs(np.asarray(abs_errors, dtype=np.float64))
        if abs_errors.shape != leaves.shape:
            raise ValueError(f"{abs_errors.shape} errors for {leaves.shape} leaves")
        if not np.isfinite(abs_errors).all():
            raise ValueError("priority errors must be finite (got NaN or inf)")
        live = self.is_live(leaves)
        self._tree.set(leaves[live], (abs_errors[live] + self.eps) ** self.alpha)

    def priorities(self, leaves: np.ndarray) -> np.ndarray:
        """Current priorities p of leaves ([B] -> [B] float64); 0 for free leaves."""
        return self._tree.get(leaves)

    def is_live(self, leaves: np.ndarray) -> np.ndarray:
        """Whether each leaf ([B] ints) holds a position: lies in the live run ([B] bool)."""
        return (np.asarray(leaves) - self._oldest) % self.capacity < self._num_live

    def _ring(self, first: int, count: int) -> np.ndarray:
        return (first + np.arange(count)) % self.capacity
