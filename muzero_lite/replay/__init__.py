"""Prioritized replay for the trainer, in parts with one job each.

- `storage`: whole games in (frames once per game, per-state rows in one `StateLog`), positions
  resolved to (game, move, log indices), stacked inputs gathered by index, oldest games evicted
  whole; its docstring names the kinds of index.
- `sampler`: the sum tree (`sum_tree`) of position priorities over leaves handed out as a ring,
  stratified draws, importance weights, priority updates that skip freed leaves.
- `targets`: MuZero unroll targets, and every rule about the end of a game.
- `batch`: the `Batch` record; `buffer`: `ReplayBuffer`, which wires the parts together.
"""

from muzero_lite.replay.batch import Batch
from muzero_lite.replay.buffer import ReplayBuffer
from muzero_lite.replay.sampler import PrioritySampler
from muzero_lite.replay.storage import GameStorage
from muzero_lite.replay.sum_tree import SumTree
from muzero_lite.replay.targets import (
    UnrollTargets,
    unroll_targets,
    unroll_targets_from,
    value_target,
)

__all__ = [
    "Batch",
    "GameStorage",
    "PrioritySampler",
    "ReplayBuffer",
    "SumTree",
    "UnrollTargets",
    "unroll_targets",
    "unroll_targets_from",
    "value_target",
]
