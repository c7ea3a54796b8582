"""MuZero training targets for a K-step unroll from position t of a stored game.

A game of T moves (see `muzero_lite.games.GameRecord`) has rewards [T], policies [T, A],
actions [T] and root_values [T+1]. It reaches states 0..T (state t follows move t - 1), and a move
is made from states 0..T-1 only. The unroll visits states u = t + k for k = 0..K.

The end of a game is decided here, once, and every other rule reads it from these functions:
`has_move` (u < T: a search policy, a played action and its reward exist), `in_game` (u <= T),
`clip_to_game` (the state that stands for u: past the end the final state is repeated) and
`absorbing` (a terminated game's final state and every state past it: their values and the
rewards between them are 0 and known, and nothing is bootstrapped from them, whatever
root_values[T] holds). Past the cut of a truncated game (the time limit cut a game that had not
ended) value and reward are unknown, so `value_mask` leaves them untrained, while its final state
bootstraps from root_values[T].

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
    bootstrap_weights: np.ndarray  # [..., K+1] float64, discount^m (0 past the end or when the
    # bootstrap state is absorbing)


# The end of a game: each rule about the states at and past T, written once.


def has_move(u: Index, end: Index) -> np.ndarray:
    """Whether a move was made from state u (u < T): it has a search policy, an action, a reward."""
    return np.asarray(u) < np.asarray(end)


def in_game(u: Index, end: Index) -> np.ndarray:
    """Whether the game reached state u (u <= T); past the final state T nothing was observed."""
    return np.asarray(u) <= np.asarray(end)


def clip_to_game(u: Index, end: Index) -> np.ndarray:
    """The state that stands for u: u itself inside the game, the final state T past it."""
    return np.minimum(u, end)


def absorbing(u: Index, end: Index, terminated: Index) -> np.ndarray:
    """Whether state u is absorbing (u >= T after a termination): value 0, no bootstrap from it.

    A truncated game has none: its final state has a value (bootstrapped from root_values[T]) and
    the states past its cut are unknown (see `value_mask`).
    """
    return np.asarray(terminated, dtype=bool) & (np.asarray(u) >= np.asarray(end))


def value_mask(u: Index, end: Index, terminated: Index) -> np.ndarray:
    """1 where the value of state u and the reward into it are known, else 0 ([...] float32).

    Inside the game (u <= T) both are; past a termination the states are absorbing (value 0,
    reward 0, known); past the cut of a truncated game nothing is known, so nothing is trained.
    """
    return (in_game(u, end) | absorbing(u, end, terminated)).astype(np.float32)


def next_states(
    t: Index, unroll_steps: int, end: Index, steps: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The states t + k the unroll reaches, as inputs: (states [..., J], mask [..., J]), for the
    steps k given ([..., J], each in 1..K), else for all of 1..K (J = K).

    Past the end the final state stands in (`clip_to_game`) with mask 0; the mask (float32) is 1
    where state t + k is in the game. Returns int64 states for t ([...]) and end ([...]).
    """
    if steps is None:
        steps = np.arange(1, unroll_steps + 1)
    after = np.asarray(t)[..., None] + steps  # [..., J]
    end = np.asarray(end)[..., None]
    states = clip_to_game(after, end).astype(np.int64)
    return states, in_game(after, end).astype(np.float32)


def value_target(
    rewards: np.ndarray,
    root_values: np.ndarray,
    u: Index,
    td_steps: int,
    discount: float,
    end: Index | None = None,
    terminated: Index = False,
) -> np.ndarray:
    """n-step bootstrapped value target of states u.

    With m = min(n, T - u):  z_u = sum_{i<m} g^i rewards[u+i] + g^m root_values[u+m]  for u <= T,
    and z_u = 0 for u > T. The bootstrap term is dropped where state u + m is `absorbing` (u + m = T
    in a terminated game), so the target stops at a termination whatever root_values[T] holds and
    bootstraps past a truncation from the final state's estimate.

    Args:
      rewards: [T] rewards, T >= 1 (or flat per-state rows, see the module docstring).
      root_values: [T+1] search values, [T] the final state's value.
      u: [...] states, u >= 0.
      td_steps: n >= 0, the rewards summed before bootstrapping.
      discount: g.
      end: [...] T for each state (default len(rewards)).
      terminated: [...] whether each state's game terminated (default False: root_values[T] is
        bootstrapped from, which a terminated game's record holds as 0).

    Returns:
      [...] float64 value targets.
    """
    returns, bootstrap, weight = n_step_parts(rewards, u, td_steps, discount, end, terminated)
    return returns + weight * root_values[bootstrap]


def n_step_parts(
    rewards: np.ndarray,
    u: Index,
    td_steps: int,
    discount: float,
    end: Index | None = None,
    terminated: Index = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The value target of states u split at its bootstrap: (returns, bootstrap state, weight).

    The target is returns + weight * (value of the bootstrap state): returns = sum_{i<m} g^i
    rewards[u+i] and the state u + m with weight g^m for u <= T (weight 0 if that state is
    absorbing), and 0, T, 0 for u > T. Arguments as in `value_target`; each output is [...]
    (returns and weight float64, the state int64).
    """
    u = np.asarray(u)
    if (u < 0).any():
        raise ValueError("states must be non-negative")
    end = np.asarray(len(rewards) if end is None else end)
    steps = np.arange(td_steps)  # i
    m = np.clip(np.minimum(td_steps, end - u), 0, None)  # [...]
    summed = steps < m[..., None]  # [..., n]
    step_rewards = np.where(summed, rewards[np.minimum(u[..., None] + steps, len(rewards) - 1)], 0)
    inside = in_game(u, end)
    returns = np.where(inside, step_rewards @ (discount ** steps.astype(np.float64)), 0.0)
    bootstrap = clip_to_game(u + m, end).astype(np.int64)
    bootstraps = inside & ~absorbing(bootstrap, end, terminated)
    return returns, bootstrap, np.where(bootstraps, discount ** m.astype(np.float64), 0.0)


def reward_targets(
    rewards: np.ndarray, t: Index, unroll_steps: int, end: Index | None = None
) -> np.ndarray:
    """Observed rewards along the unroll: r_k = rewards[t+k-1] if k >= 1 and t+k-1 < T, else 0.

    k = 0 has no step into it (unused by the loss). Returns [..., K+1] float32 for t of shape [...].
    """
    t = np.asarray(t)[..., None]
    end = np.asarray(len(rewards) if end is None else end)[..., None]
    before = t + np.arange(unroll_steps + 1) - 1  # t + k - 1
    observed = (before >= t) & has_move(before, end)
    return np.where(observed, rewards[np.clip(before, 0, len(rewards) - 1)], 0).astype(np.float32)


def policy_targets(
    policies: np.ndarray, u: Index, end: Index | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Search policies of states u ([...]): policies[u] if u < T else 0 ([..., A]), and mask [...].

    The mask is 1 where u < T and 0 past the end (no policy loss at absorbing states).
    """
    u = np.asarray(u)
    mask = has_move(u, len(policies) if end is None else end)
    rows = policies[np.minimum(u, len(policies) - 1)]  # [..., A]
    return np.where(mask[..., None], rows, 0).astype(np.float32), mask.astype(np.float32)


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
    return np.where(has_move(u, end), played, random).astype(np.int64)


def unroll_targets(
    record: GameRecord,
    t: Index,
    unroll_steps: int,
    td_steps: int,
    discount: float,
    rng: np.random.Generator,
) -> UnrollTargets:
    """All targets for a K-step unroll from positions t ([...], each in 0..T) of one game.

    A terminated game bootstraps from 0 whatever its stored root_values[T] says (`absorbing`).
    """
    t = np.asarray(t)
    if (t < 0).any() or (t > record.length).any():
        raise ValueError(f"positions must lie in 0..{record.length}")
    return unroll_targets_from(
        record.rewards,
        record.root_values,
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
    `terminated` flag ([...]). Nothing is checked: the caller knows t <= end.
    """
    t, end, terminated = np.asarray(t), np.asarray(end), np.asarray(terminated)
    u = t[..., None] + np.arange(unroll_steps + 1)  # [..., K+1]
    policy, mask = policy_targets(policies, u, end[..., None])
    returns, bootstrap, weight = n_step_parts(
        rewards, u, td_steps, discount, end[..., None], terminated[..., None]
    )
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
