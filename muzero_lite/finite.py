"""Non-finite numbers never reach the weights: the checks the trainer and checkpoints share."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch
from torch import nn


class TrainingDiverged(Exception):
    """Too many training steps in a row had a non-finite loss or gradient; one line says so."""


def nonfinite_tensors(state: Mapping[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors of a state dict that hold a NaN or an infinity."""
    return [
        name
        for name, tensor in state.items()
        if torch.is_tensor(tensor)
        and tensor.is_floating_point()
        and not bool(torch.isfinite(tensor).all())
    ]


def all_finite(tensors: Iterable[torch.Tensor]) -> bool:
    """Whether every tensor holds only finite numbers (one check on the device, one sync)."""
    tensors = [t.detach() for t in tensors]
    if not tensors:
        return True
    return bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all())


def gradients_finite(model: nn.Module, max_norm: float) -> bool:
    """Whether every gradient of `model` is finite; clips them to `max_norm` (> 0) when they are.

    The global norm is finite exactly when every gradient is (barring an overflow of the sum of
    squares, no step worth taking either); a skipped step discards the clipped gradients.
    """
    if max_norm <= 0:
        return all_finite([p.grad for p in model.parameters() if p.grad is not None])
    return bool(torch.isfinite(nn.utils.clip_grad_norm_(model.parameters(), max_norm)))


@torch.no_grad()
def restore_buffers(model: nn.Module, saved: list[torch.Tensor]) -> None:
    """Put back buffers (BatchNorm statistics) cloned before a forward pass: [b.clone() ...]."""
    for buffer, before in zip(model.buffers(), saved, strict=True):
        buffer.copy_(before)


@dataclass
class SkippedSteps:
    """Training steps skipped for a non-finite loss or gradient, in all and in a row."""

    limit: int  # this many in a row stop the run
    total: int = 0
    in_a_row: int = 0

    def count(self, step: int, what: str) -> str | None:
        """Count one; the line to log (the first of a streak and every 10th), or None.

        Raises TrainingDiverged at `limit` in a row.
        """
        self.total += 1
        self.in_a_row += 1
        if self.in_a_row >= self.limit:
            raise TrainingDiverged(
                f"training stopped at step {step}: {self.limit} steps in a row had a non-finite "
                f"{what}; the checkpoints hold the last finite weights; lower "
                "train.learning_rate or look for extreme rewards, then --resume"
            )
        if self.in_a_row == 1 or self.in_a_row % 10 == 0:
            return (
                f"[train] step {step}: skipped a step with a non-finite {what} "
                f"({self.in_a_row} in a row, {self.total} in all)"
            )
        return None
