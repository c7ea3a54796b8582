"""Network inputs built by index from single stored observations.

Games keep one observation per state (state 0 is the reset, state i follows action i-1). The
network sees the last `n` states up to t, each with the action that led to it; before the start of
the game the first state is repeated with action -1 ("none"). Self-play and replay both call this,
so the worker acts on exactly the inputs the trainer later learns from.
"""

from collections.abc import Sequence

import numpy as np

NO_ACTION = -1


def stack_indices(t: np.ndarray | int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """State and previous-action indices of the stack ending at state t.

    Returns:
      states: [..., n] indices into observations, clipped at 0.
      actions: [..., n] indices into actions (state i follows action i-1), -1 where none.
    """
    span = np.asarray(t)[..., None] + np.arange(1 - n, 1)
    states = np.maximum(span, 0)
    actions = np.where(span >= 1, span - 1, -1)
    return states, actions


def stacked_observation(
    observations: Sequence[np.ndarray] | np.ndarray,
    actions: Sequence[int] | np.ndarray,
    t: int,
    n: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The network input at state t: ([n, *obs_shape] observations, [n] int64 previous actions)."""
    states, previous = stack_indices(t, n)
    obs = np.stack([observations[i] for i in states])
    prev = np.array([actions[i] if i >= 0 else NO_ACTION for i in previous], dtype=np.int64)
    return obs, prev
