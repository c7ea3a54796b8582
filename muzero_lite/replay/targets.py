"""MuZero training targets for a K-step unroll from position t of a stored game.

A game of T moves (see `muzero_lite.games.GameRecord`) has rewards [T], policies [T, A],
actions [T] and root_values [T+1], where root_values[T] is 0 if the game terminated and the
network's estimate of the final state if it was truncated. The unroll visits states u = t + k for
k = 0..K. Past the end (u > T) there is no policy loss; after a termination those states are
absorbing (value 0, reward 0, both trained), while after a truncation (the time limit cut a game
that had not ended) their value and reward are unknown, so `value_mask` leaves them untrained.

Every function takes an int or an array of positions and adds its own trailing axes. By default
the arrays are one game's and T = len(rewards); replay keeps many games back to back in flat
per-state arrays (T + 1 rows a game) and passes `end`, the row of each position's final state,
which plays the part of T in every formula.
"""

from dataclasses import dataclass

import numpy as np

from muzero_lite.games import GameRecord

Index = np.ndarray | int


@dataclass(frozen=True)
class UnrollTargets:
    """Targets for positions t of shape [...] (a scalar t gives the shapes without `...`)."""

    actions: np.ndarray  # [..., K] int64, the actions the dynamics network unrolls with
    values: np.ndarray  # [..., K+1] float32, n-step value target of state t + k
    rewards: np.ndarray  # [..., K+1] float32, reward of the step into state t + k ([..., 0] is 0)
    policies: np.ndarray  # [..., K+1, A] float32, search policy at state t + k (0 past the end)
    policy_mask: np.ndarray  # [..., K+1] float32, 1 where state t + k has a search policy
    value_mask: np.ndarray  # [..., K+1] float32, 1 where the value of state t + k and the reward
    # into it are known: inside the game (u <= T), or absorbing past a termination
    # values = returns + bootstrap_weights * root_values[bootstrap_states], kept apart so that the
    # trainer can bootstrap from fresh values instead (`train.bootstrap = "fresh"`):
    returns: np.ndarray  # [..., K+1] float64, the discounted rewards summed before bootstrapping
    bootstrap_states: np.ndarray  # [..., K+1] int64, the state bootstrapped from (index as `end`)
    bootstrap_weights: np.ndarray  # [..., K+1] float64, discount^m (0 past the end)


def value_target(
    rewards: np.ndarray,
    root_values: np.ndarray,
    u: Index,
    td_steps: int,
    discount: float,
    end: Index | None = None,
) -> np.ndarray:
    """n-step bootstrapped value target of states u.

    With m = min(n, T - u):  z_u = sum_{i<m} g^i rewards[u+i] + g^m root_values[u+m]  for u <= T,
    and z_u = 0 for u > T (absorbing). Since root_values[T] is 0 after a termination and the
    network's estimate after a truncation, this one formula stops at a termination and bootstraps
    past a truncation.

    Args:
      rewards: [T] rewards, T >= 1 (or flat per-state rows, see the module docstring).
      root_values: [T+1] search values, [T] the final state's value.
      u: [...] states, u >= 0.
      td_steps: n >= 0, the rewards summed before bootstrapping.
      discount: g.
      end: [...] T for each state (default len(rewards)).

    Returns:
      [...] float64 value targets.
    """
    returns, bootstrap, weight = n_step_parts(rewards, u, td_steps, discount, end)
    return returns + weight * root_values[bootstrap]


def n_step_parts(
    rewards: np.ndarray, u: Index, td_steps: int, discount: float, end: Index | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The value target of states u split at its bootstrap: (returns, bootstrap state, weight).

    The target is returns + weight * (value of the bootstrap state): returns = sum_{i<m} g^i
    rewards[u+i] and the state u + m with weight g^m for u <= T, and 0, T, 0 for u > T. Arguments
    as in `value_target`; each output is [...] (returns and weight float64, the state int64).
    """
    u = np.asarray(u)
    if (u < 0).any():
        raise ValueError("states must be non-negative")
    end = np.asarray(len(rewards) if end is None else end)
    steps = np.arange(td_steps)  # i
    m = np.clip(np.minimum(td_steps, end - u), 0, None)  # [...]
    summed = steps < m[..., None]  # [..., n]
    step_rewards = np.where(summed, rewards[np.minimum(u[..., None] + steps, len(rewards) - 1)], 0)
    inside = u <= end
    returns = np.where(inside, step_rewards @ (discount ** steps.astype(np.float64)), 0.0)
    weight = np.where(inside, discount ** m.astype(np.float64), 0.0)
    return returns, np.minimum(u + m, end).astype(np.int64), weight


def reward_targets(
    rewards: np.ndarray, t: Index, unroll_steps: int, end: Index | None = None
) -> np.ndarray:
    """Observed rewards along the unroll: r_k = rewards[t+k-1] if k >= 1 and t+k-1 < T, else 0.

    k = 0 has no step into it (unused by the loss). Returns [..., K+1] float32 for t of shape [...].
    """
    t = np.asarray(t)[..., None]
    end = np.asarray(len(rewards) if end is None else end)[..., None]
    before = t + np.arange(unroll_steps + 1) - 1  # t + k - 1
    observed = (before >= t) & (before < end)
    return np.where(observed, rewards[np.clip(before, 0, len(rewards) - 1)], 0).astype(np.float32)


def policy_targets(
    policies: np.ndarray, u: Index, end: Index | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Search policies of states u ([...]): policies[u] if u < T else 0 ([..., A]), and mask [...].

    The mask is 1 where u < T and 0 past the end (no policy loss at absorbing states).
    """
    u = np.asarray(u)
    mask = u < (len(policies) if end is None else np.asarray(end))
    rows = policies[np.minimum(u, len(policies) - 1)]  # [..., A]
    return np.where(mask[..., None], rows, 0).astype(np.float32), mask.astype(np.float32)


def value_mask(u: Index, end: Index, terminated: Index) -> np.ndarray:
    """1 where the value of state u and the reward into it are known, else 0 ([...] float32).

    Inside the game (u <= T) both are; past a termination the states are absorbing (value 0,
    reward 0, known); past the cut of a truncated game nothing is known, so nothing is trained.
    """
    u, end, terminated = np.asarray(u), np.asarray(end), np.asarray(terminated, dtype=bool)
    return ((u <= end) | terminated).astype(np.float32)


def unroll_actions(
    actions: np.ndarray,
    t: Index,
    unroll_steps: int,
    num_actions: int,
    rng: np.random.Generator,
    end: Index | None = None,
) -> np.ndarray:
    """a_k = actions[t+k] for k < K while t+k < T, else uniform over num_actions (as in MuZero).

    Returns [..., K] int64 for t of shape [...]; draws one random action per entry either way.
    """
    u = np.asarray(t)[..., None] + np.arange(unroll_steps)  # [..., K]
    end = np.asarray(len(actions) if end is None else end)[..., None]
    played = actions[np.minimum(u, len(actions) - 1)]
    random = rng.integers(num_actions, size=u.shape)
    return np.where(u < end, played, random).astype(np.int64)


def unroll_targets(
    record: GameRecord,
    t: Index,
    unroll_steps: int,
    td_steps: int,
    discount: float,
    rng: np.random.Generator,
) -> UnrollTargets:
    """All targets for a K-step unroll from positions t ([...], each in 0..T) of one game.

    A terminated game bootstraps from 0 whatever its stored root_values[T] says.
    """
    t = np.asarray(t)
    if (t < 0).any() or (t > record.length).any():
        raise ValueError(f"positions must lie in 0..{record.length}")
    root_values = record.root_values
    if record.terminated and root_values[-1] != 0:
        root_values = np.append(root_values[:-1], 0.0)
    return unroll_targets_from(
        record.rewards,
        root_values,
        record.policies,
        record.actions,
        t,
        record.length,
        record.terminated,
        unroll_steps=unroll_steps,
        td_steps=td_steps,
        discount=discount,
        rng=rng,
    )


def unroll_targets_from(
    rewards: np.ndarray,
    root_values: np.ndarray,
    policies: np.ndarray,
    actions: np.ndarray,
    t: Index,
    end: Index,
    terminated: Index,
    *,
    unroll_steps: int,
    td_steps: int,
    discount: float,
    rng: np.random.Generator,
) -> UnrollTargets:
    """`unroll_targets` over per-state arrays ([S], [S'], [S, A], [S]), position t ending at `end`.

    For one game, pass its arrays, end = T and whether it terminated; for games back to back, the
    rows of positions t ([...]), of their games' final states `end` ([...]) and each game's
    `terminated` flag ([...]). Nothing is checked: the caller knows t <= end and that
    root_values[end] is 0 after a termination.
    """
    t, end, terminated = np.asarray(t), np.asarray(end), np.asarray(terminated)
    u = t[..., None] + np.arange(unroll_steps + 1)  # [..., K+1]
    policy, mask = policy_targets(policies, u, end[..., None])
    returns, bootstrap, weight = n_step_parts(rewards, u, td_steps, discount, end[..., None])
    values = returns + weight * root_values[bootstrap]
    return UnrollTargets(
        actions=unroll_actions(actions, t, unroll_steps, policies.shape[-1], rng, end),
        values=values.astype(np.float32),
        rewards=reward_targets(rewards, t, unroll_steps, end),
        policies=policy,
        policy_mask=mask,
        value_mask=value_mask(u, end[..., None], terminated[..., None]),
        returns=returns,
        bootstrap_states=bootstrap,
        bootstrap_weights=weight,
    )
