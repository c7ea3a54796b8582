"""Non-finite numbers never reach the weights: the checks the trainer and checkpoints share."""

from collections.abc import Iterable, Mapping

import torch


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
