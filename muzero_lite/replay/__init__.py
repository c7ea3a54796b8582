"""Prioritized replay for the trainer: a sum tree, MuZero unroll targets, and the game buffer."""

from muzero_lite.replay.buffer import Batch, ReplayBuffer
from muzero_lite.replay.sum_tree import SumTree
from muzero_lite.replay.targets import (
    UnrollTargets,
    unroll_targets,
    unroll_targets_from,
    value_target,
)

__all__ = [
    "Batch",
    "ReplayBuffer",
    "SumTree",
    "UnrollTargets",
    "unroll_targets",
    "unroll_targets_from",
    "value_target",
]
