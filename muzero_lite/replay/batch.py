"""The training batch that replay hands the trainer: network inputs, unroll targets and weights."""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Batch:
    """A training batch of B positions, N stacked states, a K-step unroll and A actions."""

    observations: np.ndarray  # [B, N, *obs_shape] uint8 frames or float32 vectors, as stored
    prev_actions: np.ndarray  # [B, N] int64, the action into each stacked state (-1 for none)
    actions: np.ndarray  # [B, K] int64, actions to unroll with (random past the end)
    target_values: np.ndarray  # [B, K+1] float32, n-step value targets (0 past the end)
    target_rewards: np.ndarray  # [B, K+1] float32, observed rewards ([:, 0] unused, 0)
    target_policies: np.ndarray  # [B, K+1, A] float32, search policies (0 past the end)
    policy_mask: np.ndarray  # [B, K+1] float32, 1 where a search policy exists
    value_mask: np.ndarray  # [B, K+1] float32, 1 where value and reward targets are known
    # (inside the game, or absorbing after a termination; not past the cut of a truncation)
    weights: np.ndarray  # [B] float32, importance weights (N * P)^-beta / max over the batch
    leaf_indices: np.ndarray  # [B] int64, for `update_priorities`
    # With sample(..., bootstrap_inputs=True), what a fresh bootstrap needs: target_values equal
    # returns + bootstrap_weights * (stored root value of the bootstrap state), and a network's
    # value of bootstrap_observations can stand in for that stored value.
    returns: np.ndarray | None = None  # [B, K+1] float32, rewards summed before bootstrapping
    bootstrap_weights: np.ndarray | None = None  # [B, K+1] float32, discount^m; 0: no bootstrap
    bootstrap_observations: np.ndarray | None = None  # [B, K+1, N, *obs_shape]
    bootstrap_prev_actions: np.ndarray | None = None  # [B, K+1, N] int64
    # With sample(..., next_inputs=True), the network inputs of J states the unroll reaches,
    # t + k for k in next_steps (the final state repeated past the end), for the consistency loss:
    next_observations: np.ndarray | None = None  # [B, J, N, *obs_shape]
    next_prev_actions: np.ndarray | None = None  # [B, J, N] int64
    next_mask: np.ndarray | None = None  # [B, J] float32, 1 where state t + k is in the game
    next_steps: np.ndarray | None = None  # [B, J] int64, their k in 1..K (None: J = K, 1..K)
