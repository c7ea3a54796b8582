"""Prioritized replay over positions of whole stored games: storage, sampler and targets wired.

`GameStorage` keeps the games (frames once per game, per-state rows in one log) and resolves
positions; `PrioritySampler` keeps their priorities and draws them; `replay.targets` turns drawn
positions into unroll targets and owns every rule about the end of a game. `ReplayBuffer` only
passes positions between them and assembles the `Batch`.
"""

import numpy as np

from muzero_lite.games import GameRecord
from muzero_lite.replay.batch import Batch
from muzero_lite.replay.sampler import PrioritySampler
from muzero_lite.replay.storage import GameStorage, Positions
from muzero_lite.replay.targets import UnrollTargets, next_states, unroll_targets_from

__all__ = ["Batch", "ReplayBuffer"]


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
        if unroll_steps < 0 or td_steps < 1 or not 0 <= discount <= 1:
            raise ValueError("need unroll_steps >= 0, td_steps >= 1 and 0 <= discount <= 1")
        self.unroll_steps, self.td_steps, self.discount = unroll_steps, td_steps, discount
        self._storage = GameStorage(capacity_transitions, stack)
        self._sampler = PrioritySampler(capacity_transitions, alpha=alpha, eps=eps)

    @property
    def num_transitions(self) -> int:
        return self._storage.num_transitions

    @property
    def num_games(self) -> int:
        return self._storage.num_games

    @property
    def nbytes(self) -> int:
        """Bytes held: the games' frames, the state log, the sum tree and the index arrays."""
        return self._storage.nbytes + self._sampler.nbytes

    def add_game(self, record: GameRecord) -> None:
        """Store a finished game; its T positions enter at the current max priority (1 if empty).

        The oldest games are evicted whole until the new one fits. A game longer than the whole
        capacity is rejected with ValueError (its newest part alone would lack the frames before
        it), as is one whose observation shape, dtype or action count differs from stored games.
        """
        self._sampler.remove_oldest(self._storage.make_room(record))
        self._storage.add_game(record, self._sampler.add(record.length))

    def sample(
        self,
        batch_size: int,
        rng: np.random.Generator,
        beta: float,
        *,
        bootstrap_inputs: bool = False,
        next_inputs: bool = False,
        next_count: int = 0,
    ) -> Batch:
        """Draw batch_size positions by priority (stratified) with their inputs and targets.

        With bootstrap_inputs, the batch also carries the value targets' parts and the network
        inputs of the states they bootstrap from; with next_inputs, the network inputs of the
        states along the unroll (see Batch): all K, or `next_count` of them per position drawn
        at random without replacement (0: all).
        """
        if self._storage.num_transitions == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        leaves = self._sampler.sample(batch_size, rng)
        at = self._storage.resolve(leaves)
        log = self._storage.log
        targets = unroll_targets_from(
            log.rewards,
            log.root_values,
            log.policies,
            log.actions,
            at.log_indices,
            at.final_log_indices,
            at.terminated,
            unroll_steps=self.unroll_steps,
            td_steps=self.td_steps,
            discount=self.discount,
            rng=rng,
        )
        observations, prev_actions = self._storage.inputs(at, at.moves)
        extra = self._bootstrap_inputs(at, targets) if bootstrap_inputs else {}
        if next_inputs:
            extra |= self._next_inputs(at, next_count, rng)
        return Batch(
            observations=observations,
            prev_actions=prev_actions,
            actions=targets.actions,
            target_values=targets.values,
            target_rewards=targets.rewards,
            target_policies=targets.policies,
            policy_mask=targets.policy_mask,
            value_mask=targets.value_mask,
            weights=self._sampler.importance_weights(leaves, beta),
            leaf_indices=leaves,
            **extra,
        )

    def update_priorities(self, leaf_indices: np.ndarray, abs_errors: np.ndarray) -> None:
        """Set p = (|error| + eps)^alpha for sampled leaves ([B] each).

        Raises ValueError, storing nothing, on a NaN or infinite error. Leaves whose game has been
        evicted since sampling are skipped, so a late update never revives them.
        """
        self._sampler.update(leaf_indices, abs_errors)

    def priorities(self, leaf_indices: np.ndarray) -> np.ndarray:
        """Current priorities p of leaves ([B] -> [B] float64); 0 for free leaves."""
        return self._sampler.priorities(leaf_indices)

    def locate(self, leaf_indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(game number [B], move index t [B]) of leaves; games are numbered from 0 as added."""
        return self._storage.locate(leaf_indices)

    def _bootstrap_inputs(self, at: Positions, targets: UnrollTargets) -> dict[str, np.ndarray]:
        """The value targets' parts and the inputs of the states they bootstrap from ([B, K+1])."""
        states = targets.bootstrap_states - at.starts[:, None]  # [B, K+1] log index -> move index
        observations, prev_actions = self._storage.inputs(at, states)
        return {
            "returns": targets.returns.astype(np.float32),
            "bootstrap_weights": targets.bootstrap_weights.astype(np.float32),
            "bootstrap_observations": observations,
            "bootstrap_prev_actions": prev_actions,
        }

    def _next_inputs(
        self, at: Positions, count: int, rng: np.random.Generator
    ) -> dict[str, np.ndarray]:
        """The inputs of J states t + k the unroll reaches, with their mask and steps ([B, J]):
        all K (count 0 or K, nothing drawn), else `count` steps per position drawn from rng."""
        k = self.unroll_steps
        steps = np.broadcast_to(np.arange(1, k + 1), (len(at.moves), k))
        if 0 < count < k:
            steps = np.sort(1 + np.argsort(rng.random(steps.shape), axis=1)[:, :count], axis=1)
        states, mask = next_states(at.moves, k, at.lengths, steps)
        observations, prev_actions = self._storage.inputs(at, states)
        return {
            "next_observations": observations,
            "next_prev_actions": prev_actions,
            "next_mask": mask,
            "next_steps": np.ascontiguousarray(steps, dtype=np.int64),
        }
