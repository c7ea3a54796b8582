"""The trainer's optimizer: AdamW with decoupled weight decay, and its state across a resume.

Each step multiplies every decayed weight by (1 - learning_rate x weight_decay) before the Adam
update. Biases and normalisation parameters (the tensors of fewer than two dimensions) are decayed
only with train.decay_biases_and_norms; the others form a second group without decay.
"""

from typing import Any

import torch
from torch import nn

from muzero_lite.config import TrainConfig


def parameter_groups(model: nn.Module, decay_all: bool) -> list[list[nn.Parameter]]:
    """[decayed] or [decayed, not decayed], each in the order of model.parameters()."""
    decayed, kept = [], []
    for p in model.parameters():
        (decayed if decay_all or p.dim() >= 2 else kept).append(p)
    return [decayed, kept] if kept else [decayed]


def make_optimizer(model: nn.Module, tc: TrainConfig) -> torch.optim.AdamW:
    """AdamW (fused: one kernel for all parameters) over the groups of `parameter_groups`."""
    groups = parameter_groups(model, tc.decay_biases_and_norms)
    decays = [tc.weight_decay, 0.0]
    return torch.optim.AdamW(
        [{"params": g, "weight_decay": d} for g, d in zip(groups, decays, strict=False)],
        lr=tc.learning_rate,
        fused=True,
    )


def restore_optimizer(
    optimizer: torch.optim.AdamW,
    model: nn.Module,
    saved: dict[str, Any],
    saved_decay_all: bool,
) -> None:
    """Load Adam's moments and step from `saved`, an optimizer state dict made with
    decay_biases_and_norms = saved_decay_all, into `optimizer` (made by make_optimizer), whatever
    its grouping: each parameter's state follows it. The learning rate and weight decay stay the
    optimizer's own (this run's settings), not the checkpoint's."""
    old = [p for group in parameter_groups(model, saved_decay_all) for p in group]
    old_index = {id(p): i for i, p in enumerate(old)}
    new = [p for group in optimizer.param_groups for p in group["params"]]
    state = {
        i: saved["state"][old_index[id(p)]]
        for i, p in enumerate(new)
        if old_index[id(p)] in saved["state"]
    }
    groups, first = [], 0
    for group in optimizer.param_groups:  # this run's hyperparameters (tc), saved-style indices
        count = len(group["params"])
        settings = {k: v for k, v in group.items() if k != "params"}
        groups.append({**settings, "params": list(range(first, first + count))})
        first += count
    optimizer.load_state_dict({"state": state, "param_groups": groups})
    for p, values in optimizer.state.items():  # a checkpoint of another memory format (fused
        for key, value in values.items():  # kernels walk raw memory): moments laid out as p
            if torch.is_tensor(value) and value.shape == p.shape and value.stride() != p.stride():
                values[key] = torch.empty_like(p).copy_(value)
