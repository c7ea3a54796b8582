"""Prioritized replay over positions of whole stored games.

Each game's arrays are kept once: its T + 1 frames in one array per game (never one stack per
position: stacks are gathered at sample time with `stack_indices`), and its per-state rewards,
actions, policies and root values as T + 1 rows of a flat log shared by all games, so the targets
of a whole batch are computed in one vectorised call. Each position (state 0..T-1 of a game, one
per move) owns one leaf of a sum tree, with an int32 game number and an int32 move index beside it.
Leaves are handed out as a ring in the order games arrive, so the live positions are always one
contiguous run of the ring, oldest game first: evicting the oldest games frees exactly the leaves
the next game needs.

Priorities follow prioritized experience replay: p = (|error| + eps)^alpha, new positions at the
current max, P(i) = p_i / sum p, importance weights w_i = (N * P(i))^-beta / max_batch w.
"""

from dataclasses import dataclass

import numpy as np

from muzero_lite.games import GameRecord, validate
from muzero_lite.observations import NO_ACTION, stack_indices
from muzero_lite.replay.sum_tree import SumTree
from muzero_lite.replay.targets import unroll_targets_from


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
    # With sample(..., next_inputs=True), the network inputs of the states the unroll reaches,
    # t + 1 .. t + K (the final state repeated past the end), for the consistency loss:
    next_observations: np.ndarray | None = None  # [B, K, N, *obs_shape]
    next_prev_actions: np.ndarray | None = None  # [B, K, N] int64
    next_mask: np.ndarray | None = None  # [B, K] float32, 1 where state t + k is in the game


class _StateLog:
    """Per-state rewards, actions, policies and root values of the stored games, back to back.

    A game of T moves takes T + 1 rows (states 0..T); its final row has reward 0, action 0, a zero
    policy, and root value 0 if the game terminated. Global row numbers keep counting up as games
    arrive; global row r sits at index r - base. Evicting only advances `start`; an append that
    reaches the end first moves the live rows to the front. Live rows never exceed twice the
    transitions, so with 3 * capacity + 1 rows a compacted log always has room for one more game
    and rows are moved O(1) times each on average.
    """

    def __init__(self, capacity_transitions: int, num_actions: int):
        rows = 3 * capacity_transitions + 1
        self.rewards = np.zeros(rows, dtype=np.float32)  # [S]
        self.root_values = np.zeros(rows, dtype=np.float32)  # [S]
        self.actions = np.zeros(rows, dtype=np.int64)  # [S]
        self.policies = np.zeros((rows, num_actions), dtype=np.float32)  # [S, A]
        self.base = 0  # global row number of index 0
        self.start = 0  # index of the oldest live row
        self.stop = 0  # index one past the newest live row

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.rewards, self.root_values, self.actions, self.policies))

    def append(self, record: GameRecord) -> int:
        """Store the game's T + 1 states; returns the global row of its state 0."""
        length = record.length
        if self.stop + length + 1 > len(self.rewards):
            self._compact()
        first, final = self.stop, self.stop + length
        self.rewards[first:final], self.rewards[final] = record.rewards, 0
        self.actions[first:final], self.actions[final] = record.actions, 0
        self.policies[first:final], self.policies[final] = record.policies, 0
        self.root_values[first : final + 1] = record.root_values
        if record.terminated:  # no bootstrap past a termination, whatever was stored
            self.root_values[final] = 0
        self.stop = final + 1
        return self.base + first

    def drop(self, rows: int) -> None:
        """Forget the oldest `rows` rows."""
        self.start += rows

    def _compact(self) -> None:
        live = self.stop - self.start
        for array in (self.rewards, self.root_values, self.actions, self.policies):
            array[:live] = array[self.start : self.stop]  # numpy copies safely when they overlap
        self.base += self.start
        self.start, self.stop = 0, live


class ReplayBuffer:
    """Games bounded in transitions (oldest leave first), sampled by position priority."""

    def __init__(
        self,
        capacity_transitions: int,
        *,
        alpha: float,
        stack: int,
        unroll_steps: int,
        td_steps: int,
        discount: float,
        eps: float = 1e-3,
    ):
        if capacity_transitions < 1 or stack < 1 or unroll_steps < 0 or td_steps < 1:
            raise ValueError("need capacity >= 1, stack >= 1, unroll_steps >= 0, td_steps >= 1")
        if alpha < 0 or eps < 0 or not 0 <= discount <= 1:
            raise ValueError("need alpha >= 0, eps >= 0 and 0 <= discount <= 1")
        self.capacity = capacity_transitions
        self.alpha, self.eps = alpha, eps
        self.stack, self.unroll_steps = stack, unroll_steps
        self.td_steps, self.discount = td_steps, discount
        self._tree = SumTree(capacity_transitions)
        # Per leaf: which game (its number) and which move. Per game, at slot number % capacity
        # (live games are consecutive numbers, at most `capacity` of them): its first leaf, its
        # first row in the log and its length.
        self._leaf_game = np.zeros(capacity_transitions, dtype=np.int32)
        self._leaf_t = np.zeros(capacity_transitions, dtype=np.int32)
        self._game_leaf = np.zeros(capacity_transitions, dtype=np.int64)
        self._game_row = np.zeros(capacity_transitions, dtype=np.int64)
        self._game_length = np.zeros(capacity_transitions, dtype=np.int64)
        self._game_terminated = np.zeros(capacity_transitions, dtype=bool)
        self._frames: dict[int, np.ndarray] = {}  # game number -> [T+1, *obs_shape], oldest first
        self._log: _StateLog | None = None  # allocated by the first game, which fixes A
        self._num_transitions = 0
        self._next_number = 0
        self._next_leaf = 0

    @property
    def num_transitions(self) -> int:
        return self._num_transitions

    @property
    def num_games(self) -> int:
        return len(self._frames)

    @property
    def nbytes(self) -> int:
        """Bytes held: the games' frames, the state log, the sum tree and the index arrays."""
        index_arrays = (self._leaf_game, self._leaf_t, self._game_leaf, self._game_row)
        held = self._tree.nbytes + sum(a.nbytes for a in (*index_arrays, self._game_length))
        held += sum(frames.nbytes for frames in self._frames.values())
        return held + (self._log.nbytes if self._log is not None else 0)

    def add_game(self, record: GameRecord) -> None:
        """Store a finished game; its T positions enter at the current max priority (1 if empty).

        The oldest games are evicted whole until the new one fits. A game longer than the whole
        capacity is rejected with ValueError (its newest part alone would lack the frames before
        it), as is one whose observation shape, dtype or action count differs from stored games.
        """
        validate(record)
        length = record.length
        if length > self.capacity:
            raise ValueError(
                f"a game of {length} moves does not fit in a replay of "
                f"{self.capacity} transitions; raise the capacity"
            )
        self._check_compatible(record)
        while self._num_transitions + length > self.capacity:
            self._evict_oldest()
        if self._log is None:
            self._log = _StateLog(self.capacity, record.policies.shape[1])
        number, slot = self._next_number, self._next_number % self.capacity
        self._game_leaf[slot], self._game_length[slot] = self._next_leaf, length
        self._game_terminated[slot] = record.terminated
        self._game_row[slot] = self._log.append(record)
        self._frames[number] = np.array(record.observations, copy=True)  # owned, compact
        leaves = self._leaves_of(slot)
        self._leaf_game[leaves], self._leaf_t[leaves] = number, np.arange(length)
        self._tree.set(leaves, self._tree.max if self._tree.total > 0 else 1.0)
        self._num_transitions += length
        self._next_number += 1
        self._next_leaf = (self._next_leaf + length) % self.capacity

    def sample(
        self,
        batch_size: int,
        rng: np.random.Generator,
        beta: float,
        *,
        bootstrap_inputs: bool = False,
        next_inputs: bool = False,
    ) -> Batch:
        """Draw batch_size positions by priority (stratified) with their inputs and targets.

        With bootstrap_inputs, the batch also carries the value targets' parts and the network
        inputs of the states they bootstrap from; with next_inputs, the network inputs of the
        states along the unroll (see Batch).
        """
        if self._log is None or self._num_transitions == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        log = self._log
        leaves = self._tree.sample(batch_size, rng)
        numbers, t = self._leaf_game[leaves], self._leaf_t[leaves].astype(np.int64)
        slots = numbers % self.capacity
        first = self._game_row[slots] - log.base  # [B] log index of each position's state 0
        final = first + self._game_length[slots]  # [B] log index of each game's final state
        observations, prev_actions = self._inputs(numbers, first, t)
        targets = unroll_targets_from(
            log.rewards,
            log.root_values,
            log.policies,
            log.actions,
            first + t,
            final,
            self._game_terminated[slots],
            unroll_steps=self.unroll_steps,
            td_steps=self.td_steps,
            discount=self.discount,
            rng=rng,
        )
        extra = {}
        if bootstrap_inputs:
            states = targets.bootstrap_states - first[:, None]  # [B, K+1] move index in the game
            absorbing = (targets.bootstrap_states == final[:, None]) & self._game_terminated[
                slots, None
            ]
            obs, prev = self._inputs(numbers, first, states)
            extra = {
                "returns": targets.returns.astype(np.float32),
                "bootstrap_weights": np.where(absorbing, 0, targets.bootstrap_weights).astype(
                    np.float32
                ),
                "bootstrap_observations": obs,
                "bootstrap_prev_actions": prev,
            }
        if next_inputs:
            length = self._game_length[slots, None]
            after = t[:, None] + np.arange(1, self.unroll_steps + 1)  # [B, K]
            obs, prev = self._inputs(numbers, first, np.minimum(after, length))
            extra |= {
                "next_observations": obs,
                "next_prev_actions": prev,
                "next_mask": (after <= length).astype(np.float32),
            }
        return Batch(
            observations=observations,
            prev_actions=prev_actions,
            actions=targets.actions,
            target_values=targets.values,
            target_rewards=targets.rewards,
            target_policies=targets.policies,
            policy_mask=targets.policy_mask,
            value_mask=targets.value_mask,
            weights=self._importance_weights(leaves, beta),
            leaf_indices=leaves,
            **extra,
        )

    def _inputs(
        self, numbers: np.ndarray, first: np.ndarray, t: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Stacked frames [B, ..., N, *obs_shape] and previous actions [B, ..., N] of states t.

        numbers, first: [B] each game's number and log index of its state 0; t: [B, ...] states.
        """
        states, previous = stack_indices(t, self.stack)  # [B, ..., N] each
        rows = first.reshape(-1, *[1] * (previous.ndim - 1)) + np.maximum(previous, 0)
        prev_actions = np.where(previous >= 0, self._log.actions[rows], NO_ACTION)
        flat = states.reshape(len(numbers), -1)
        frames = self._stacked_frames(numbers, flat)
        return frames.reshape(*states.shape, *frames.shape[2:]), prev_actions

    def update_priorities(self, leaf_indices: np.ndarray, abs_errors: np.ndarray) -> None:
        """Set p = (|error| + eps)^alpha for sampled leaves ([B] each).

        Raises ValueError, storing nothing, on a NaN or infinite error. Leaves whose game has been
        evicted since sampling are skipped, so a late update never revives them.
        """
        leaf_indices = np.asarray(leaf_indices, dtype=np.int64)
        abs_errors = np.abs(np.asarray(abs_errors, dtype=np.float64))
        if abs_errors.shape != leaf_indices.shape:
            raise ValueError(f"{abs_errors.shape} errors for {leaf_indices.shape} leaves")
        if not np.isfinite(abs_errors).all():
            raise ValueError("priority errors must be finite (got NaN or inf)")
        live = self._is_live(leaf_indices)
        self._tree.set(leaf_indices[live], (abs_errors[live] + self.eps) ** self.alpha)

    def priorities(self, leaf_indices: np.ndarray) -> np.ndarray:
        """Current priorities p of leaves ([B] -> [B] float64); 0 for free leaves."""
        return self._tree.get(leaf_indices)

    def locate(self, leaf_indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(game number [B], move index t [B]) of leaves; games are numbered from 0 as added."""
        leaves = np.asarray(leaf_indices, dtype=np.int64)
        return self._leaf_game[leaves].astype(np.int64), self._leaf_t[leaves].astype(np.int64)

    def _stacked_frames(self, numbers: np.ndarray, states: np.ndarray) -> np.ndarray:
        """Frames of states [B, N] of games numbers [B] -> [B, N, *obs_shape]; one gather a game."""
        frames = self._frames[int(numbers[0])]
        out = np.empty((*states.shape, *frames.shape[1:]), dtype=frames.dtype)
        order = np.argsort(numbers, kind="stable")  # the batch grouped by game
        starts = np.flatnonzero(np.diff(numbers[order])) + 1
        for rows in np.split(order, starts):
            out[rows] = self._frames[int(numbers[rows[0]])][states[rows]]
        return out

    def _importance_weights(self, leaves: np.ndarray, beta: float) -> np.ndarray:
        """w = (N * P)^-beta / max over the batch, with P = p / total."""
        probabilities = self._tree.get(leaves) / self._tree.total
        weights = (self._num_transitions * probabilities) ** -beta
        return (weights / weights.max()).astype(np.float32)

    def _evict_oldest(self) -> None:
        number = self._next_number - len(self._frames)
        slot = number % self.capacity
        self._tree.set(self._leaves_of(slot), 0.0)
        self._log.drop(int(self._game_length[slot]) + 1)
        self._num_transitions -= int(self._game_length[slot])
        del self._frames[number]

    def _leaves_of(self, slot: int) -> np.ndarray:
        return (self._game_leaf[slot] + np.arange(self._game_length[slot])) % self.capacity

    def _is_live(self, leaves: np.ndarray) -> np.ndarray:
        """Whether each leaf belongs to a stored game: the live leaves are one run of the ring."""
        if not self._frames:
            return np.zeros(leaves.shape, dtype=bool)
        oldest = (self._next_number - len(self._frames)) % self.capacity
        return (leaves - self._game_leaf[oldest]) % self.capacity < self._num_transitions

    def _check_compatible(self, record: GameRecord) -> None:
        if not self._frames:
            return
        stored = next(iter(self._frames.values()))
        num_actions = self._log.policies.shape[1]
        if (
            record.observations.shape[1:] != stored.shape[1:]
            or record.observations.dtype != stored.dtype
            or record.policies.shape[1] != num_actions
        ):
            raise ValueError(
                f"game with observations {record.observations.shape[1:]} "
                f"{record.observations.dtype} and {record.policies.shape[1]} actions differs from "
                f"stored {stored.shape[1:]} {stored.dtype} and {num_actions} actions"
            )
